/**
 * A real ClickHouse server for `npm start`, the tests and the benches: Debian's `clickhouse-server`
 * package (installed here when missing, as root), run unprivileged in the foreground on loopback
 * with its own config and data dir under .tally/, on ports of the same profile scheme as the
 * emulators (dev ports + TALLY_EMULATOR_PORT_OFFSET for tests and benches). See ../shared/INFRA.md
 * and docs/adr/0029.
 *
 * Our own config file (not /etc/clickhouse-server/config.xml) so that the server listens on
 * 127.0.0.1 only, on exactly the ports we choose (no interserver or TLS ports), logs into its data
 * dir and keeps small caches: several stacks (npm start, a test run, a bench) run side by side on
 * one 2-core machine.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { portOpen } from './firebase-emulators.js';
import { ToolchainError, stateDir } from './toolchain.js';

/** The ports one ClickHouse server listens on: HTTP (what @clickhouse/client speaks) and native TCP. */
export interface ClickHousePorts {
  http: number;
  tcp: number;
}

/**
 * Dev ports, next to the emulators' 81xx ports. Not ClickHouse's defaults (8123/9000): the Debian
 * package's own service, if a machine runs it, keeps those, and nothing here clashes with it.
 */
export const clickhouseDevPorts: ClickHousePorts = { http: 8190, tcp: 8191 };

/** Test and bench ports: dev ports + TALLY_EMULATOR_PORT_OFFSET (default 1000), as the emulators. */
export function clickhouseTestPorts(offset = Number(process.env.TALLY_EMULATOR_PORT_OFFSET ?? 1000)): ClickHousePorts {
  if (!Number.isInteger(offset) || offset < 1 || offset > 20_000) {
    throw new Error(`TALLY_EMULATOR_PORT_OFFSET=${offset}: must be an integer in [1, 20000]`);
  }
  return { http: clickhouseDevPorts.http + offset, tcp: clickhouseDevPorts.tcp + offset };
}

export interface RunningClickHouse {
  ports: ClickHousePorts;
  /** `http://127.0.0.1:<http port>`: what TALLY_CLICKHOUSE_URL holds. */
  url: string;
  dataDir: string;
  /** Stops the server (SIGTERM, then SIGKILL after a bound); its data stays in `dataDir`. */
  stop(): Promise<void>;
}

const startTimeoutMs = 60_000;
const stopTimeoutMs = 15_000;
const installTimeoutMs = 10 * 60_000;

/** `command -v`-style lookup of an executable on PATH (plus /usr/sbin, where dpkg puts the server). */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/bin'];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The clickhouse-server binary, installed from Debian's packages when missing: `apt-get update`
 * first (package lists may be missing or stale on a fresh machine), then
 * `apt-get install -y clickhouse-server`. Only root can install; anyone else gets the command to
 * run. A warm machine pays one PATH lookup.
 */
export function ensureClickHouseServer(): string {
  const found = findExecutable('clickhouse-server');
  if (found) return found;
  const howTo = 'apt-get update && apt-get install -y clickhouse-server';
  if (process.getuid?.() !== 0) {
    throw new ToolchainError(`clickhouse-server is not installed and installing it needs root. Run as root: ${howTo}`);
  }
  const aptGet = findExecutable('apt-get');
  if (!aptGet) throw new ToolchainError(`clickhouse-server is not installed and there is no apt-get to install it; install the Debian package clickhouse-server (${howTo})`);
  // The package must not start a system service of its own (it would take 8123/9000 for nothing).
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'clickhouse-server']]) {
    // Always shown (not only with a log callback): a minute of silence would look like a hang.
    process.stderr.write(`tally: clickhouse-server is missing; installing it: apt-get ${args.join(' ')} ...\n`);
    const run = spawnSync(aptGet, args, { env, encoding: 'utf8', timeout: installTimeoutMs });
    if (run.status !== 0) {
      throw new ToolchainError(`apt-get ${args.join(' ')} failed (exit ${run.status ?? run.signal}): ${`${run.stderr}${run.stdout}`.slice(-2000)}\nInstall it by hand: ${howTo}`);
    }
  }
  const installed = findExecutable('clickhouse-server');
  if (!installed) throw new ToolchainError(`apt-get installed clickhouse-server but no clickhouse-server binary is on PATH or in /usr/sbin`);
  return installed;
}

/** The server's config: loopback only, our ports, our data dir, small caches, UTC. */
function serverConfigXml(dataDir: string, ports: ClickHousePorts): string {
  // <yandex> is the root element 18.16 requires; current ClickHouse still accepts it.
  return `<?xml version="1.0"?>
<yandex>
  <logger>
    <level>information</level>
    <log>${dataDir}/log/server.log</log>
    <errorlog>${dataDir}/log/server.err.log</errorlog>
    <size>10M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${ports.http}</http_port>
  <tcp_port>${ports.tcp}</tcp_port>
  <max_concurrent_queries>100</max_concurrent_queries>
  <keep_alive_timeout>3</keep_alive_timeout>
  <shutdown_wait_unfinished>1</shutdown_wait_unfinished>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <path>${dataDir}/data/</path>
  <tmp_path>${dataDir}/data/tmp/</tmp_path>
  <user_files_path>${dataDir}/data/user_files/</user_files_path>
  <format_schema_path>${dataDir}/data/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
`;
}

/** One passwordless `default` user reachable from loopback only (the server listens nowhere else). */
const usersXml = `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;

/** True once the server answers `SELECT 1` over HTTP (its `/ping` exists on 18.16 too, but a query proves more). */
async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/?query=SELECT%201`, { signal: AbortSignal.timeout(2_000) });
    return res.ok && (await res.text()).trim() === '1';
  } catch {
    return false;
  }
}

/**
 * Starts a ClickHouse server and resolves once it answers a query. `fresh` (the default) empties
 * the data dir first, as the emulators start empty; `fresh: false` keeps it (a restart in a test).
 * Ports already in use are refused with a clear error rather than sharing another stack's server.
 */
export async function startClickHouse(options: {
  profile: 'dev' | 'test';
  /** Defaults: the profile's ports. */
  ports?: ClickHousePorts;
  /** Defaults to .tally/clickhouse-<profile>-<http port>. */
  dataDir?: string;
  fresh?: boolean;
  log?: (line: string) => void;
}): Promise<RunningClickHouse> {
  const ports = options.ports ?? (options.profile === 'dev' ? clickhouseDevPorts : clickhouseTestPorts());
  const log = options.log ?? (() => {});
  const binary = ensureClickHouseServer();
  for (const [name, port] of Object.entries(ports)) {
    if (await portOpen(port)) {
      throw new Error(`Port ${port} (ClickHouse ${name}, profile ${options.profile}) is already in use. Stop the other stack (Ctrl-C in its terminal) or free the port.`);
    }
  }
  const dataDir = options.dataDir ?? path.join(stateDir, `clickhouse-${options.profile}-${ports.http}`);
  if (options.fresh !== false) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(path.join(dataDir, 'log'), { recursive: true });
  const configFile = path.join(dataDir, 'config.xml');
  writeFileSync(configFile, serverConfigXml(dataDir, ports));
  writeFileSync(path.join(dataDir, 'users.xml'), usersXml);

  const child: ChildProcess = spawn(binary, [`--config-file=${configFile}`], {
    cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let output = '';
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString();
    output = (output + text).slice(-20_000);
    for (const line of text.split('\n')) if (line.trim()) log(line);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));

  const stop = async (): Promise<void> => {
    if (exited || child.pid === undefined) return;
    try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, stopTimeoutMs);
    await exit;
    clearTimeout(timer);
  };

  const url = `http://127.0.0.1:${ports.http}`;
  const deadline = Date.now() + startTimeoutMs;
  while (!(await answers(url))) {
    if (exited) throw new Error(`clickhouse-server exited before answering (log: ${dataDir}/log/server.err.log):\n${output.slice(-4000)}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`clickhouse-server did not answer on ${url} within ${startTimeoutMs} ms (log: ${dataDir}/log/server.err.log):\n${output.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ports, url, dataDir, stop };
}
