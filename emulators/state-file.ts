/** The ignored file through which `npm start` tells `npx tally` where the running stack is. */
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { stateDir } from './toolchain.js';

export interface StackState {
  apiUrl: string;
  pid: number;
  adminKey: string;
  demoTenantId: string;
  demoApiKey: string;
  emulators: Record<string, string>;
  startedAt: string;
}

export const stateFile = path.join(stateDir, 'stack.json');

export function writeStackState(state: StackState): void {
  mkdirSync(stateDir, { recursive: true });
  // 0600: it holds the local admin key.
  writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

export function readStackState(file = stateFile): StackState | undefined {
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as StackState;
}

export function removeStackState(): void {
  rmSync(stateFile, { force: true });
}
