/**
 * Contract gate, part of `npm test`: Buf lint (STANDARD), breaking check (FILE) against the
 * committed baseline image, and generated code freshness (regenerates into a temp dir and compares
 * with functions/src/gen). Fails with the fix to run.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
// Tests point this at a scratch copy holding proto/ and functions/src/gen to prove the gate fails.
const checkedRoot = process.env.TALLY_PROTO_CHECK_ROOT ?? root;
const protoDir = path.join(checkedRoot, 'proto');
const genDir = path.join(checkedRoot, 'functions', 'src', 'gen');
const buf = path.join(root, 'node_modules', '.bin', 'buf');
const env = { ...process.env, PATH: `${path.join(root, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH ?? ''}` };

function run(args: string[], cwd: string, fix: string): void {
  try {
    execFileSync(buf, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    process.stderr.write(`proto:check: buf ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}\n${fix}\n`);
    process.exit(1);
  }
}

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? listFiles(full, base) : [path.relative(base, full)];
  });
}

run(['lint'], protoDir, 'Fix the proto files to satisfy Buf STANDARD lint.');
run(['breaking', '--against', 'baseline.binpb'], protoDir,
  'A breaking change against proto/baseline.binpb. If it is intended (e.g. a new v2 package), update the baseline on purpose: npm run proto:baseline');

// Generate into a scratch copy so that the check never touches the work tree.
const scratch = mkdtempSync(path.join(tmpdir(), 'tally-proto-'));
try {
  cpSync(protoDir, path.join(scratch, 'proto'), { recursive: true });
  const genYaml = path.join(scratch, 'proto', 'buf.gen.yaml');
  writeFileSync(genYaml, readFileSync(genYaml, 'utf8').replace('out: ../functions/src/gen', 'out: ../gen'));
  run(['generate'], path.join(scratch, 'proto'), 'buf generate failed');
  const fresh = path.join(scratch, 'gen');
  const want = listFiles(fresh).sort();
  const have = listFiles(genDir).sort();
  const stale = [...new Set([...want, ...have])].filter(
    (file) => !want.includes(file) || !have.includes(file) || readFileSync(path.join(fresh, file), 'utf8') !== readFileSync(path.join(genDir, file), 'utf8'),
  );
  if (stale.length > 0) {
    process.stderr.write(`proto:check: generated code is stale: ${stale.join(', ')}\nRun: npm run proto:generate\n`);
    process.exit(1);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.stdout.write('proto:check: lint ok, no breaking change against baseline, generated code fresh\n');
