/**
 * The contract gate that `npm test` runs (scripts/proto-check.ts) must fail on lint errors, on
 * breaking changes against the committed baseline, and on stale generated code.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const scratches: string[] = [];

function scratchCopy(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tally-gate-'));
  scratches.push(dir);
  cpSync(path.join(root, 'proto'), path.join(dir, 'proto'), { recursive: true });
  cpSync(path.join(root, 'functions/src/gen'), path.join(dir, 'functions/src/gen'), { recursive: true });
  return dir;
}

async function gate(dir: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(path.join(root, 'node_modules/.bin/tsx'), ['scripts/proto-check.ts'], {
      cwd: root, env: { ...process.env, TALLY_PROTO_CHECK_ROOT: dir }, timeout: 60_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

const tenancyProto = (dir: string) => path.join(dir, 'proto/tally/tenancy/v1/tenancy.proto');

afterEach(() => { for (const dir of scratches.splice(0)) rmSync(dir, { recursive: true, force: true }); });

describe('proto gate', () => {
  it('passes on the committed contracts', async () => {
    const result = await gate(scratchCopy());
    expect(result.output).toContain('generated code fresh');
    expect(result.code).toBe(0);
  });

  it('fails on a breaking change (deleted field) against the baseline', async () => {
    const dir = scratchCopy();
    const file = tenancyProto(dir);
    writeFileSync(file, readFileSync(file, 'utf8').replace('  // Display name, 1..200 characters.\n  string name = 2;\n', ''));
    const result = await gate(dir);
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/breaking[\s\S]*"name"/);
  });

  it('fails on a lint error', async () => {
    const dir = scratchCopy();
    appendFileSync(tenancyProto(dir), '\nmessage bad_name {}\n');
    const result = await gate(dir);
    expect(result.code).toBe(1);
    expect(result.output).toContain('buf lint');
  });

  it('fails when generated code is stale', async () => {
    const dir = scratchCopy();
    appendFileSync(path.join(dir, 'functions/src/gen/tally/tenancy/v1/tenancy_pb.ts'), '\n// edited by hand\n');
    const result = await gate(dir);
    expect(result.code).toBe(1);
    expect(result.output).toContain('generated code is stale');
  });
});
