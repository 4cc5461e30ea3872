/**
 * The layering rule (eslint.config.js, ADR 0021) fires on a wrong-way import and stays quiet on the
 * right way, per layer: ESLint's Node API lints in-memory snippets as if they were files of each
 * layer, with the project's own config (the one `npm run lint` runs in `npm test`).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let eslint: ESLint;
beforeAll(() => { eslint = new ESLint({ cwd: repoRoot }); });

/** The no-restricted-imports messages for `source` linted as `file` (relative to the repo). */
async function layeringErrors(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${source}\nexport const used = x;\n`, { filePath: path.join(repoRoot, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layering: no-restricted-imports per layer', () => {
  it.each([
    ['functions/src/domain/payments/wrong.ts', "import { x } from '../../ports/psp-gateway.js';"],
    ['functions/src/domain/payments/wrong.ts', "import { x } from '../../platform/cache/ttl-cache.js';"],
    ['functions/src/domain/payments/wrong.ts', "import { x } from '../../app/payments/index.js';"],
    ['functions/src/domain/payments/wrong.ts', "import { x } from '../../adapters/psp/stripe/index.js';"],
    ['functions/src/domain/wrong.ts', "import { x } from '../compose.js';"],
    ['functions/src/domain/ledger/wrong.ts', "import { x } from 'node:fs';"],
    ['functions/src/domain/ledger/wrong.ts', "import { x } from 'http';"],
    ['functions/src/domain/ledger/wrong.ts', "import { x } from '@google-cloud/firestore';"],
    ['functions/src/domain/ledger/wrong.test.ts', "import { x } from '../../ports/ledger-store.js';"],
    ['functions/src/ports/wrong.ts', "import { x } from '../app/payments/index.js';"],
    ['functions/src/ports/wrong.ts', "import { x } from '../adapters/firestore/payments-store.js';"],
    ['functions/src/app/payments/wrong.ts', "import { x } from '../../adapters/psp/stripe/index.js';"],
    ['functions/src/app/payments/wrong.ts', "import { x } from '../../handlers/rpc/payments-service.js';"],
    ['functions/src/adapters/psp/wrong.ts', "import { x } from '../../handlers/webhooks/psp-webhook.js';"],
  ])('%s: %s is refused', async (file, source) => {
    expect(await layeringErrors(file, source)).toEqual([expect.stringContaining('ADR 0021')]);
  });

  it.each([
    ['functions/src/domain/payments/right.ts', "import { x } from './psp-vocabulary.js';"],
    ['functions/src/domain/payments/right.ts', "import { x } from '../money/index.js';"],
    ['functions/src/domain/ledger/right.ts', "import { x } from 'node:crypto';"],
    ['functions/src/domain/money/right.test.ts', "import { x } from 'node:fs';"],
    ['functions/src/ports/right.ts', "import { x } from '../domain/payments/psp-vocabulary.js';"],
    ['functions/src/app/payments/right.ts', "import { x } from '../../ports/psp-gateway.js';"],
    ['functions/src/app/payments/right.ts', "import { x } from '../../platform/resilience/index.js';"],
    ['functions/src/adapters/psp/right.ts', "import { x } from '../../ports/psp-gateway.js';"],
    ['functions/src/handlers/rpc/right.ts', "import { x } from '../../adapters/proto/ledger-mapping.js';"],
  ])('%s: %s is allowed', async (file, source) => {
    expect(await layeringErrors(file, source)).toEqual([]);
  });
});
