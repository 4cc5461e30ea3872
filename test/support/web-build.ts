/**
 * The built web apps for the browser tests: built once per run (as `npm run web:build` does), only when
 * web/dist is missing or older than what the apps are built from (web/ sources, the shared
 * generated protobuf code and domain code). Test files run in parallel workers: a lock directory
 * makes one of them build while the others wait, then re-check.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, stateDir } from '../../emulators/toolchain.js';

export const webDistDir = path.join(repoRoot, 'web', 'dist');
const sourceDirs = [path.join(repoRoot, 'web'), path.join(repoRoot, 'functions', 'src', 'gen'), path.join(repoRoot, 'functions', 'src', 'domain')];
const builtEntries = ['checkout', 'console'].map((app) => path.join(webDistDir, app, 'index.html'));
const lockDir = path.join(stateDir, 'web-build.lock');
/** A build takes well under a minute here; a lock older than this was left by a killed run. */
const lockStaleMs = 5 * 60_000;
const lockWaitMsMax = 6 * 60_000;
const lockPollMs = 250;
const buildTimeoutMs = 5 * 60_000;
/** Bound on the source walk (web/ + gen + domain hold a few hundred files). */
const sourceFilesMax = 20_000;

/** Newest modification time (ms) under `dirs`, skipping dist/ and node_modules/. */
function newestSourceMs(dirs: readonly string[]): number {
  let newest = 0;
  let seen = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'dist' || entry.name === 'node_modules') continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else {
        if (++seen > sourceFilesMax) throw new Error(`assertion failed: more than ${sourceFilesMax} web source files under ${dirs.join(', ')}`);
        newest = Math.max(newest, statSync(full).mtimeMs);
      }
    }
  };
  for (const dir of dirs) walk(dir);
  return newest;
}

/** Whether web/dist holds both apps, built after their newest source. */
export function webBuildFresh(): boolean {
  let builtMs = Infinity;
  for (const entry of builtEntries) {
    try {
      builtMs = Math.min(builtMs, statSync(entry).mtimeMs);
    } catch {
      return false;
    }
  }
  return builtMs >= newestSourceMs(sourceDirs);
}

function tryLock(): boolean {
  mkdirSync(stateDir, { recursive: true });
  try {
    mkdirSync(lockDir);
    return true;
  } catch {
    try {
      if (Date.now() - statSync(lockDir).mtimeMs > lockStaleMs) rmSync(lockDir, { recursive: true, force: true });
    } catch {
      // released meanwhile: the next attempt takes it
    }
    return false;
  }
}

/**
 * The same builds as `npm run web:build` (each app's own Vite config), written to a scratch folder
 * and then copied into web/dist with index.html last (renamed into place). Why not build in place:
 * Vite empties its outDir first, and another worker's server may be serving that app right now (a
 * page holding the old index.html would then miss its assets). Hashed asset names never collide;
 * old ones stay until the next plain `npm run web:build`.
 */
async function buildIntoPlace(): Promise<void> {
  const scratch = path.join(stateDir, `web-build-${process.pid}`);
  rmSync(scratch, { recursive: true, force: true });
  try {
    for (const app of ['checkout', 'console']) {
      try {
        await promisify(execFile)('npx', ['vite', 'build', '--config', `web/${app}/vite.config.ts`, '--outDir', path.join(scratch, app), '--emptyOutDir'],
          { cwd: repoRoot, timeout: buildTimeoutMs, maxBuffer: 16 * 1024 * 1024 });
      } catch (error) {
        const e = error as { stdout?: string; stderr?: string; message: string };
        throw new Error(`vite build of web/${app} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`.slice(0, 8000));
      }
      const target = path.join(webDistDir, app);
      cpSync(path.join(scratch, app), target, { recursive: true, filter: (source) => path.basename(source) !== 'index.html' || statSync(source).isDirectory() });
      copyFileSync(path.join(scratch, app, 'index.html'), path.join(target, `index.html.${process.pid}.tmp`));
      renameSync(path.join(target, `index.html.${process.pid}.tmp`), path.join(target, 'index.html'));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Ensures web/dist is built from the current sources (builds at most once across workers). */
export async function ensureWebBuilt(): Promise<void> {
  if (webBuildFresh()) return;
  const deadlineMs = Date.now() + lockWaitMsMax;
  while (!tryLock()) {
    if (Date.now() > deadlineMs) throw new Error(`web build: ${lockDir} held for more than ${lockWaitMsMax} ms (remove it if no test run is building)`);
    await new Promise((resolve) => setTimeout(resolve, lockPollMs));
  }
  try {
    if (webBuildFresh()) return; // another worker built it while this one waited
    await buildIntoPlace();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}
