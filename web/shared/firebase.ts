/**
 * Firebase for the browser apps. The configuration is read at start from the server that served the
 * app, never baked into the build: `/__/firebase/init.json` is what Firebase Hosting serves for a
 * deployed site (the local API server serves the same shape), and `/__/tally/env.json` says where the
 * Auth emulator is when running locally (`{}` deployed). One build therefore runs anywhere.
 */
import { initializeApp, type FirebaseApp, type FirebaseOptions } from 'firebase/app';
import { getFunctions, type Functions } from 'firebase/functions';

// Firebase Auth is not imported here: only the console signs in (web/console/src/auth.ts); the
// checkout's buyers authenticate with the session's client secret, and its bundle stays small.
export interface TallyWebEnv {
  /** e.g. `http://127.0.0.1:9099` locally; absent deployed. */
  authEmulatorUrl?: string;
}

export interface FirebaseHandles {
  app: FirebaseApp;
  functions: Functions;
  env: TallyWebEnv;
  /** Where callables live: `<origin>/callables/<service>/<Method>` (Hosting rewrites it deployed). */
  callablesBaseUrl: string;
}

/** Bound on a config fetch at start: a hung server must show an error, not a blank page forever. */
const CONFIG_FETCH_TIMEOUT_MS = 10_000;

/** `absentAs`: the value when the server has no such file (HTTP 404). */
async function fetchJson<T>(path: string, absentAs?: T): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), CONFIG_FETCH_TIMEOUT_MS);
  try {
    const response = await fetch(new URL(path, window.location.origin), { signal: controller.signal, cache: 'no-store' });
    if (response.status === 404 && absentAs !== undefined) return absentAs;
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
  } finally {
    clearTimeout(timer);
  }
}

let handles: Promise<FirebaseHandles> | undefined;

/** Initialises Firebase once per page from the serving host's configuration. */
export function firebaseHandles(): Promise<FirebaseHandles> {
  handles ??= (async () => {
    const [options, env] = await Promise.all([
      fetchJson<FirebaseOptions>('/__/firebase/init.json'),
      // Deployed there is none: Hosting reserves /__/ for its own URLs, so the local-only env is absent.
      fetchJson<TallyWebEnv>('/__/tally/env.json', {}),
    ]);
    const app = initializeApp(options);
    const functions = getFunctions(app);
    return {
      app,
      functions,
      env,
      callablesBaseUrl: `${window.location.origin}/callables`,
    };
  })();
  return handles;
}
