/**
 * The sandbox PSP (`emulators/sandbox-psp/main.ts`) in a child process on a free port, for benches:
 * a PSP is another service, so its CPU is not Tally's. Used by bench:payments and bench:billing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export async function startSandboxProcess(stripeWebhookSecret: string): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'emulators/sandbox-psp/main.ts'], {
    env: { ...process.env, TALLY_SANDBOX_PSP_PORT: '0', TALLY_SANDBOX_STRIPE_WEBHOOK_SECRET: stripeWebhookSecret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    const exited = once(child, 'exit').then(([code]) => { throw new Error(`the sandbox PSP exited (${String(code)}) before it listened`); });
    const listening = (async () => {
      for await (const line of lines) {
        const url = /sandbox PSP on (http:\/\/\S+?) /.exec(line)?.[1];
        if (url !== undefined) return url;
      }
      throw new Error('the sandbox PSP closed its output before it listened');
    })();
    const url = await Promise.race([listening, exited]);
    exited.catch(() => undefined); // the exit at stop is expected from here on
    return { url, child, stop: async () => { child.kill('SIGTERM'); await once(child, 'exit'); } };
  } finally {
    clearTimeout(timeout);
  }
}
