/** Runs the `tally` CLI as users do: `node bin/tally.mjs` in a subprocess, with its exit code and output. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { expect } from 'vitest';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const cliPath = path.join(repoRoot, 'bin', 'tally.mjs');
// Generous: two test files start CLI processes concurrently on a 2-core machine.
const cliTimeoutMs = 30_000;

export interface CliResult { code: number; stdout: string; stderr: string }

// The CLI falls back to these variables; a developer's shell must not steer the tests.
const cliEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  for (const name of ['TALLY_API_URL', 'TALLY_API_KEY', 'TALLY_ADMIN_KEY']) delete env[name];
  return env;
};

export function runCli(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: cliEnv(), timeout: cliTimeoutMs, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`tally ${args.join(' ')} did not exit normally (${error.message}); stderr: ${stderr}`));
          return;
        }
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      });
  });
}

/** The JSON a successful (exit 0) `--json` run printed. */
export function parseJson<T>(result: CliResult): T {
  expect(result, `stderr: ${result.stderr}`).toMatchObject({ code: 0 });
  return JSON.parse(result.stdout) as T;
}
