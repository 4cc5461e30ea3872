/** What every `tally` command shares: where it points, and how it prints for humans and machines. */
import { readStackState, stateFile } from '../../../emulators/state-file.js';

export interface GlobalOptions { apiUrl?: string; apiKey?: string; json?: boolean }

/** A usage or local error (no API call was made): printed as `error: cli: ...`, exit 1. */
export class CliError extends Error {}

export function target(opts: GlobalOptions, admin = false): { url: string; key: string } {
  const state = readStackState();
  const url = opts.apiUrl ?? process.env.TALLY_API_URL ?? state?.apiUrl;
  const key = opts.apiKey ?? (admin ? process.env.TALLY_ADMIN_KEY ?? state?.adminKey : process.env.TALLY_API_KEY ?? state?.demoApiKey);
  if (!url) throw new CliError(`no running stack found (${stateFile} is missing): start one with "npm start" or pass --api-url`);
  if (!key) throw new CliError(admin ? 'no admin key: pass --api-key or set TALLY_ADMIN_KEY' : 'no API key: pass --api-key or set TALLY_API_KEY');
  return { url, key };
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

export function output(opts: GlobalOptions, json: unknown, human: string): void {
  process.stdout.write(`${opts.json ? JSON.stringify(json, null, 2) : human}\n`);
}
