/**
 * Starts and stops the Auth, Firestore and Pub/Sub emulators through firebase-tools, on a port
 * profile so that `npm start` (dev) and `npm test` / benches (test) can run side by side.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { emulatorToolchainEnv, repoRoot } from './toolchain.js';

export const demoProjectId = 'demo-tally';

export interface EmulatorPorts {
  auth: number;
  firestore: number;
  firestoreWebsocket: number;
  pubsub: number;
  hub: number;
  logging: number;
}

/** Ports of `firebase.json` (the dev stack). */
export function devPorts(): EmulatorPorts {
  const config = JSON.parse(readFileSync(path.join(repoRoot, 'firebase.json'), 'utf8')) as {
    emulators: Record<string, { port?: number; websocketPort?: number }>;
  };
  const e = config.emulators;
  return {
    auth: e.auth?.port ?? 9099,
    firestore: e.firestore?.port ?? 8180,
    firestoreWebsocket: e.firestore?.websocketPort ?? 9150,
    pubsub: e.pubsub?.port ?? 8185,
    hub: e.hub?.port ?? 4400,
    logging: e.logging?.port ?? 4500,
  };
}

/**
 * Ports for tests and benches: dev ports + TALLY_EMULATOR_PORT_OFFSET (default 1000) so that a
 * test run, a bench and `npm start` can run at once.
 */
export function testPorts(offset = Number(process.env.TALLY_EMULATOR_PORT_OFFSET ?? 1000)): EmulatorPorts {
  if (!Number.isInteger(offset) || offset < 1 || offset > 20_000) {
    throw new Error(`TALLY_EMULATOR_PORT_OFFSET=${offset}: must be an integer in [1, 20000]`);
  }
  const dev = devPorts();
  return {
    auth: dev.auth + offset,
    firestore: dev.firestore + offset,
    firestoreWebsocket: dev.firestoreWebsocket + offset,
    pubsub: dev.pubsub + offset,
    hub: dev.hub + offset,
    logging: dev.logging + offset,
  };
}

export interface RunningEmulators {
  ports: EmulatorPorts;
  /** The variables the Google SDKs read to find the emulators. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

const startTimeoutMs = 90_000;
const stopTimeoutMs = 15_000;

/** Writes a firebase config for the profile (ignored by git) and returns its path. */
function writeConfig(profile: string, ports: EmulatorPorts): string {
  const base = JSON.parse(readFileSync(path.join(repoRoot, 'firebase.json'), 'utf8')) as Record<string, unknown>;
  const host = '127.0.0.1';
  const config = {
    ...base,
    emulators: {
      singleProjectMode: true,
      auth: { host, port: ports.auth },
      firestore: { host, port: ports.firestore, websocketPort: ports.firestoreWebsocket },
      pubsub: { host, port: ports.pubsub },
      hub: { host, port: ports.hub },
      logging: { host, port: ports.logging },
      ui: { enabled: false },
    },
  };
  const file = path.join(repoRoot, `firebase.${profile}-${ports.firestore}.local.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(500);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

function emulatorEnv(ports: EmulatorPorts): Record<string, string> {
  return {
    FIRESTORE_EMULATOR_HOST: `127.0.0.1:${ports.firestore}`,
    PUBSUB_EMULATOR_HOST: `127.0.0.1:${ports.pubsub}`,
    FIREBASE_AUTH_EMULATOR_HOST: `127.0.0.1:${ports.auth}`,
    GCLOUD_PROJECT: demoProjectId,
    GOOGLE_CLOUD_PROJECT: demoProjectId,
  };
}

/**
 * Starts the three emulators and resolves once all accept connections. If they are already
 * running on these ports (another `npm test` or a leftover), reuse is refused with a clear error
 * rather than silently sharing state.
 */
export async function startEmulators(options: {
  profile: 'dev' | 'test';
  log?: (line: string) => void;
}): Promise<RunningEmulators> {
  const ports = options.profile === 'dev' ? devPorts() : testPorts();
  const log = options.log ?? (() => {});
  for (const [name, port] of Object.entries(ports)) {
    if (await portOpen(port)) {
      throw new Error(
        `Port ${port} (${name} emulator, profile ${options.profile}) is already in use. ` +
          `Stop the other stack (Ctrl-C in its terminal) or free the port.`,
      );
    }
  }
  const env = emulatorToolchainEnv();
  const configFile = writeConfig(options.profile, ports);
  const firebaseBin = path.join(repoRoot, 'node_modules', '.bin', 'firebase');
  const child: ChildProcess = spawn(
    firebaseBin,
    ['emulators:start', '--only', 'auth,firestore,pubsub', '--project', demoProjectId, '--config', configFile],
    { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString();
    output = (output + text).slice(-20_000);
    for (const line of text.split('\n')) if (line.trim()) log(line);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited = false;
  child.once('exit', () => { exited = true; });

  const stop = async (): Promise<void> => {
    if (exited || child.pid === undefined) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // firebase-tools shuts its emulators down cleanly on SIGINT; the group kill is the backstop
    // for the Java children if it does not finish in time.
    try { process.kill(-child.pid, 'SIGINT'); } catch { return; }
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, stopTimeoutMs);
    await done;
    clearTimeout(timer);
  };

  const deadline = Date.now() + startTimeoutMs;
  const ready = async (): Promise<boolean> =>
    (await portOpen(ports.auth)) && (await portOpen(ports.firestore)) && (await portOpen(ports.pubsub)) &&
    /All emulators ready/.test(output);
  while (!(await ready())) {
    if (exited) throw new Error(`firebase emulators exited before becoming ready:\n${output.slice(-4000)}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`emulators not ready after ${startTimeoutMs} ms:\n${output.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { ports, env: emulatorEnv(ports), stop };
}
