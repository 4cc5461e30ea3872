/**
 * Finds what the local emulators need on this machine and says precisely what is missing.
 *
 * firebase-tools >= 14 refuses Java < 21 and would download emulator jars (impossible offline), so
 * we point it at the gcloud SDK's emulator components through its documented override variables
 * and run it with a JDK >= 21 first on PATH. See ../shared/INFRA.md and docs/adr/0002.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '..');
export const stateDir = path.join(repoRoot, '.tally');

// Read at call time (not module load) so that tests can point them elsewhere.
const gcloudPlatform = (): string => process.env.TALLY_GCLOUD_PLATFORM_DIR ?? '/usr/lib/google-cloud-sdk/platform';
const firestoreJarPath = (): string => path.join(gcloudPlatform(), 'cloud-firestore-emulator/cloud-firestore-emulator.jar');
const pubsubScriptPath = (): string => path.join(gcloudPlatform(), 'pubsub-emulator/bin/cloud-pubsub-emulator');
const javaMajorMin = 21;

export class ToolchainError extends Error {
  override readonly name = 'ToolchainError';
}

/** Major version of `<home>/bin/java`, or undefined if it does not run. */
function javaMajor(javaHome: string): number | undefined {
  const javaBin = path.join(javaHome, 'bin', 'java');
  if (!existsSync(javaBin)) return undefined;
  // `java -version` prints to stderr.
  const result = spawnSync(javaBin, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  return result.status === 0 ? parseJavaMajor(`${result.stderr}${result.stdout}`) : undefined;
}

/** Major Java version from `java -version` output ("17.0.15" -> 17, "1.8.0_292" -> 8). */
export function parseJavaMajor(text: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) return undefined;
  const first = Number(match[1]);
  // Java 8 and older report "1.8.0"; everything we accept reports its major first.
  return first === 1 ? Number(match[2]) : first;
}

/** Finds a JDK >= 21: $JAVA_HOME first, then /usr/lib/jvm/*, newest first. */
export function findJavaHome(): string {
  const candidates: string[] = [];
  if (process.env.JAVA_HOME) candidates.push(process.env.JAVA_HOME);
  const jvmDir = '/usr/lib/jvm';
  if (existsSync(jvmDir)) {
    for (const name of readdirSync(jvmDir).sort().reverse()) candidates.push(path.join(jvmDir, name));
  }
  const seen: string[] = [];
  for (const home of candidates) {
    const major = javaMajor(home);
    seen.push(`${home} (${major === undefined ? 'no runnable bin/java' : `Java ${major}`})`);
    if (major !== undefined && major >= javaMajorMin) return home;
  }
  throw new ToolchainError(
    `No JDK >= ${javaMajorMin} found (firebase-tools refuses older Java). Looked at: ` +
      `${seen.length ? seen.join(', ') : '$JAVA_HOME unset and /usr/lib/jvm empty'}. ` +
      `Install one (e.g. apt-get install -y openjdk-21-jdk-headless or Temurin 25) or set JAVA_HOME.`,
  );
}

/**
 * Builds the manifest-only launcher jar that lets `java -jar` start the gcloud Firestore emulator
 * (its own jar has no Main-Class). Generated into .tally/ (ignored): we never commit Google's jars.
 */
export function ensureFirestoreLauncher(javaHome: string): string {
  const firestoreJar = firestoreJarPath();
  if (!existsSync(firestoreJar)) {
    throw new ToolchainError(
      `Firestore emulator not found at ${firestoreJar}. Install the Debian package ` +
        `google-cloud-cli-firestore-emulator (or set TALLY_GCLOUD_PLATFORM_DIR to the SDK's platform dir).`,
    );
  }
  const dir = path.join(stateDir, 'emulators');
  const launcher = path.join(dir, 'firestore-launcher.jar');
  if (existsSync(launcher)) return launcher;
  mkdirSync(dir, { recursive: true });
  const manifest = path.join(dir, 'manifest.txt');
  writeFileSync(
    manifest,
    'Main-Class: com.google.cloud.datastore.emulator.firestore.CloudFirestore\n' +
      `Class-Path: file:${firestoreJar}\n`,
  );
  const tmp = `${launcher}.${process.pid}.tmp`;
  execFileSync(path.join(javaHome, 'bin', 'jar'), ['cfm', tmp, manifest], { stdio: 'inherit' });
  // Rename so that a concurrent run never sees a half-written jar.
  execFileSync('mv', ['-f', tmp, launcher]);
  return launcher;
}

export function ensurePubsubEmulator(): string {
  const pubsubScript = pubsubScriptPath();
  if (!existsSync(pubsubScript)) {
    throw new ToolchainError(
      `Pub/Sub emulator not found at ${pubsubScript}. Install the Debian package ` +
        `google-cloud-cli-pubsub-emulator (or set TALLY_GCLOUD_PLATFORM_DIR).`,
    );
  }
  return pubsubScript;
}

/** Environment for firebase-tools: JDK first on PATH and the emulator overrides. */
export function emulatorToolchainEnv(): NodeJS.ProcessEnv {
  const javaHome = findJavaHome();
  return {
    ...process.env,
    JAVA_HOME: javaHome,
    PATH: `${path.join(javaHome, 'bin')}${path.delimiter}${process.env.PATH ?? ''}`,
    FIRESTORE_EMULATOR_BINARY_PATH: ensureFirestoreLauncher(javaHome),
    PUBSUB_EMULATOR_BINARY_PATH: ensurePubsubEmulator(),
  };
}
