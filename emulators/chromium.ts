/**
 * Debian's Chromium for the browser tests (playwright-core drives it; `npx playwright install`
 * cannot download anything here). Installed from Debian's packages when missing, as the ClickHouse
 * setup installs clickhouse-server: `apt-get update` then `apt-get install -y chromium`, as root.
 * A warm machine pays one existsSync. See ../shared/INFRA.md.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { findExecutable } from './clickhouse.js';
import { ToolchainError } from './toolchain.js';

/** Where Debian's package puts the browser; TALLY_CHROMIUM_PATH points elsewhere. */
export const chromiumPath = (): string => process.env.TALLY_CHROMIUM_PATH ?? '/usr/bin/chromium';
const installTimeoutMs = 10 * 60_000;

/** The Chromium binary, installed when missing (root only; anyone else gets the command to run). */
export function ensureChromium(): string {
  const wanted = chromiumPath();
  if (existsSync(wanted)) return wanted;
  const howTo = 'apt-get update && apt-get install -y chromium';
  if (process.getuid?.() !== 0) throw new ToolchainError(`Chromium is not installed at ${wanted} and installing it needs root. Run as root: ${howTo}`);
  const aptGet = findExecutable('apt-get');
  if (!aptGet) throw new ToolchainError(`Chromium is not installed at ${wanted} and there is no apt-get to install it (${howTo})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'chromium']]) {
    // Always shown: a minute of silence would look like a hang.
    process.stderr.write(`tally: chromium is missing; installing it: apt-get ${args.join(' ')} ...\n`);
    const run = spawnSync(aptGet, args, { env, encoding: 'utf8', timeout: installTimeoutMs });
    if (run.status !== 0) {
      throw new ToolchainError(`apt-get ${args.join(' ')} failed (exit ${run.status ?? run.signal}): ${`${run.stderr}${run.stdout}`.slice(-2000)}\nInstall it by hand: ${howTo}`);
    }
  }
  if (!existsSync(wanted)) throw new ToolchainError(`apt-get installed chromium but ${wanted} does not exist`);
  return wanted;
}
