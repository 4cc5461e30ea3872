import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ToolchainError,
  ensureFirestoreLauncher,
  ensurePubsubEmulator,
  findJavaHome,
  parseJavaMajor,
} from './toolchain.js';

const temurin25 = '/usr/lib/jvm/temurin-25-jdk-amd64';

/** What `<home>/bin/java -version` really reports, independently of findJavaHome. */
function majorOf(javaHome: string): number | undefined {
  const result = spawnSync(path.join(javaHome, 'bin', 'java'), ['-version'], { encoding: 'utf8', timeout: 10_000 });
  return parseJavaMajor(`${result.stderr}${result.stdout}`);
}

/** Restores an environment variable after each test of the enclosing describe. */
function restoreEnvAfterEach(name: string): void {
  const saved = process.env[name];
  afterEach(() => {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  });
}

/** A fake JDK whose `bin/java -version` reports `version`. */
function fakeJdk(dir: string, version: string): string {
  const home = path.join(scratch, dir);
  mkdirSync(path.join(home, 'bin'), { recursive: true });
  const java = path.join(home, 'bin', 'java');
  writeFileSync(java, `#!/bin/sh\necho 'openjdk version "${version}" 2025-04-15' >&2\n`);
  chmodSync(java, 0o755);
  return home;
}

let scratch: string;
beforeAll(() => { scratch = mkdtempSync(path.join(tmpdir(), 'tally-toolchain-')); });
afterAll(() => { rmSync(scratch, { recursive: true, force: true }); });

describe('parseJavaMajor', () => {
  it.each([
    ['openjdk version "17.0.15" 2025-04-15', 17],
    ['openjdk version "25" 2025-09-16', 25],
    ['openjdk version "25.0.3" 2026-04-21 LTS', 25],
    ['java version "1.8.0_292"', 8],
    ['openjdk version "21-ea" 2023-09-19', 21],
    ['Picked up JAVA_TOOL_OPTIONS: -Xmx1g\nopenjdk version "21.0.2" 2024-01-16', 21],
  ])('%j -> %i', (text, major) => {
    expect(parseJavaMajor(text)).toBe(major);
  });

  it('returns undefined for output without a version', () => {
    expect(parseJavaMajor('bash: java: command not found')).toBeUndefined();
    expect(parseJavaMajor('')).toBeUndefined();
  });
});

describe('findJavaHome', () => {
  restoreEnvAfterEach('JAVA_HOME');

  it('finds a JDK >= 21 on this machine', () => {
    delete process.env.JAVA_HOME;
    expect(majorOf(findJavaHome())).toBeGreaterThanOrEqual(21);
  });

  it('skips a JAVA_HOME without a runnable java and still finds a JDK >= 21 under /usr/lib/jvm', () => {
    const fake = path.join(scratch, 'not-a-jdk');
    mkdirSync(fake, { recursive: true });
    process.env.JAVA_HOME = fake;
    const home = findJavaHome();
    expect(home).not.toBe(fake);
    expect(home.startsWith('/usr/lib/jvm/')).toBe(true);
    expect(majorOf(home)).toBeGreaterThanOrEqual(21);
  });

  it('skips a JAVA_HOME whose java is older than 21', () => {
    const old = fakeJdk('jdk17', '17.0.15');
    process.env.JAVA_HOME = old;
    const home = findJavaHome();
    expect(home).not.toBe(old);
    expect(majorOf(home)).toBeGreaterThanOrEqual(21);
  });

  it('prefers JAVA_HOME when it holds a JDK >= 21', () => {
    const preferred = fakeJdk('jdk21', '21.0.2');
    process.env.JAVA_HOME = preferred;
    expect(findJavaHome()).toBe(preferred);
  });

  // The machine image puts Temurin 25 here (shared/INFRA.md); elsewhere the test above still
  // requires some JDK >= 21, so a machine without one fails rather than skips.
  it.runIf(existsSync(temurin25))('finds Temurin 25 when JAVA_HOME points at a fake dir', () => {
    process.env.JAVA_HOME = path.join(scratch, 'nowhere');
    expect(findJavaHome()).toBe(temurin25);
    expect(majorOf(temurin25)).toBe(25);
  });
});

describe('gcloud emulator components', () => {
  restoreEnvAfterEach('TALLY_GCLOUD_PLATFORM_DIR');

  it('names the Debian package when the Firestore emulator is missing', () => {
    process.env.TALLY_GCLOUD_PLATFORM_DIR = '/nonexistent';
    const call = (): string => ensureFirestoreLauncher(temurin25);
    expect(call).toThrow(ToolchainError);
    expect(call).toThrow(/google-cloud-cli-firestore-emulator/);
    expect(call).toThrow('/nonexistent/cloud-firestore-emulator/cloud-firestore-emulator.jar');
  });

  it('names the Debian package when the Pub/Sub emulator is missing', () => {
    process.env.TALLY_GCLOUD_PLATFORM_DIR = '/nonexistent';
    expect(ensurePubsubEmulator).toThrow(ToolchainError);
    expect(ensurePubsubEmulator).toThrow(/google-cloud-cli-pubsub-emulator/);
    expect(ensurePubsubEmulator).toThrow('/nonexistent/pubsub-emulator/bin/cloud-pubsub-emulator');
  });

  it('reads TALLY_GCLOUD_PLATFORM_DIR at call time', () => {
    const platform = path.join(scratch, 'platform');
    const script = path.join(platform, 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator');
    mkdirSync(path.dirname(script), { recursive: true });
    writeFileSync(script, '#!/bin/sh\n');
    process.env.TALLY_GCLOUD_PLATFORM_DIR = platform;
    expect(ensurePubsubEmulator()).toBe(script);
  });
});
