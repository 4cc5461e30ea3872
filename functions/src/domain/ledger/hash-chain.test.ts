import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EntryRecord, JournalRecord, ResolutionRecord } from './journal-record.js';
import {
  type ChainedRecord,
  type StripeHead,
  chainStripeFor,
  createChainVerifier,
  emptyStripeHead,
  genesisHash,
  linkRecord,
  recordHash,
  verifyChain,
} from './hash-chain.js';

const tenantId = 'ten_chain';
const context = { tenantId, traceId: 'trace', spanId: 'span' };

const postingArb = fc.record({
  accountId: fc.stringMatching(/^acc_[a-z0-9]{1,6}$/),
  direction: fc.constantFrom('debit' as const, 'credit' as const),
  amountMinor: fc.bigInt({ min: 1n, max: 10n ** 15n }),
  currency: fc.constantFrom('USD', 'EUR', 'JPY'),
});
const entryArb = (id: string): fc.Arbitrary<EntryRecord> =>
  fc.record({
    kind: fc.constant('entry' as const),
    id: fc.constant(id),
    postings: fc.array(postingArb, { minLength: 2, maxLength: 4 }),
    description: fc.string({ maxLength: 20 }),
    metadata: fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
    reversesEntryId: fc.option(fc.constant('je_reversed'), { nil: null }),
    pending: fc.option(fc.record({ timeoutMs: fc.integer({ min: 1_000, max: 10_000 }), expiresAtMs: fc.integer({ min: 0, max: 2 ** 45 }) }), { nil: null }),
    createdAtMs: fc.integer({ min: 0, max: 2 ** 45 }),
    ...constants(context),
  });
const resolutionArb = (id: string): fc.Arbitrary<ResolutionRecord> =>
  fc.record({
    kind: fc.constant('resolution' as const),
    id: fc.constant(`${id}.resolution`),
    pendingEntryId: fc.constant(id),
    outcome: fc.constantFrom('posted' as const, 'voided' as const, 'expired' as const),
    postings: fc.array(
      fc.record({
        accountId: fc.constant('acc_x'),
        direction: fc.constantFrom('debit' as const, 'credit' as const),
        currency: fc.constant('USD'),
        pendingAmountMinor: fc.bigInt({ min: 1n, max: 1_000n }),
        postedAmountMinor: fc.bigInt({ min: 0n, max: 1n }),
      }),
      { minLength: 2, maxLength: 3 },
    ),
    createdAtMs: fc.integer({ min: 0, max: 2 ** 45 }),
    ...constants(context),
  });
const recordsArb = fc
  .integer({ min: 1, max: 12 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => fc.oneof(entryArb(`je_${i}`), resolutionArb(`je_${i}`)))));

function constants<T extends Record<string, string>>(values: T): { [K in keyof T]: fc.Arbitrary<T[K]> } {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, fc.constant(v)])) as { [K in keyof T]: fc.Arbitrary<T[K]> };
}

/** Links records into `stripeCount` stripes, as the adapter would, one transaction per record. */
function buildChains(records: readonly JournalRecord[], stripeCount: number): { stripes: ChainedRecord[][]; heads: StripeHead[] } {
  const heads = Array.from({ length: stripeCount }, (_, stripe) => emptyStripeHead(tenantId, stripe));
  const stripes: ChainedRecord[][] = heads.map(() => []);
  for (const record of records) {
    const stripe = chainStripeFor(record.id, stripeCount);
    const linked = linkRecord(record, heads[stripe] as StripeHead);
    stripes[stripe]?.push(linked.record);
    heads[stripe] = linked.head;
  }
  return { stripes, heads };
}

type Path = (string | number)[];

/** Every leaf (and every object key) of a stored record: what an attacker could edit. */
function editablePaths(value: unknown, path: Path = []): { path: Path; kind: 'value' | 'key' }[] {
  if (typeof value !== 'object' || value === null) return [{ path, kind: 'value' }];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  if (keys.length === 0) return [{ path, kind: 'value' }];
  return keys.flatMap((key) => [
    ...(typeof key === 'string' ? [{ path: [...path, key], kind: 'key' as const }] : []),
    ...editablePaths((value as Record<string | number, unknown>)[key], [...path, key]),
  ]);
}

function tamper(record: ChainedRecord, edit: { path: Path; kind: 'value' | 'key' }): ChainedRecord {
  const copy = structuredClone(record) as unknown as Record<string | number, unknown>;
  const parentPath = edit.path.slice(0, -1);
  const last = edit.path[edit.path.length - 1] as string | number;
  const parent = parentPath.reduce<Record<string | number, unknown>>((node, key) => node[key] as Record<string | number, unknown>, copy);
  if (edit.kind === 'key') {
    parent[`${String(last)}~`] = parent[last];
    delete parent[last];
  } else {
    parent[last] = changed(parent[last]);
  }
  return copy as unknown as ChainedRecord;
}

function changed(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
      return `${value}~`;
    case 'number':
      return value + 1;
    case 'bigint':
      return value + 1n;
    case 'boolean':
      return !value;
    default:
      return value === null ? 'je_inserted' : Array.isArray(value) ? [1] : { inserted: 'x' };
  }
}

describe('chain stripes', () => {
  it('spread ids deterministically over the stripes', () => {
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 8_000; i++) counts[chainStripeFor(`je_${i}`, 8)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(850);
    expect(chainStripeFor('je_x', 8)).toBe(chainStripeFor('je_x', 8));
  });

  it('start from a genesis distinct per tenant and stripe', () => {
    const all = new Set([genesisHash('ten_a', 0), genesisHash('ten_a', 1), genesisHash('ten_b', 0)]);
    expect(all.size).toBe(3);
  });
});

describe('verifyChain', () => {
  it('accepts untouched chains and returns their heads', () => {
    fc.assert(
      fc.property(recordsArb, fc.integer({ min: 1, max: 4 }), (records, stripeCount) => {
        const { stripes, heads } = buildChains(records, stripeCount);
        stripes.forEach((stripe, s) => {
          expect(verifyChain(stripe, genesisHash(tenantId, s), heads[s])).toEqual({ ok: true, count: stripe.length, headHash: heads[s]?.headHash });
        });
      }),
      { numRuns: 50 },
    );
  });

  it('reports exactly the tampered record, for any edit of any field of any record', () => {
    const caseArb = fc.tuple(recordsArb, fc.integer({ min: 1, max: 3 }), fc.nat(), fc.nat());
    fc.assert(
      fc.property(caseArb, ([records, stripeCount, recordPick, editPick]) => {
        const { stripes } = buildChains(records, stripeCount);
        const all = stripes.flatMap((stripe, s) => stripe.map((record, index) => ({ s, index, record })));
        const target = all[recordPick % all.length]!;
        const edits = editablePaths(target.record);
        const tampered = tamper(target.record, edits[editPick % edits.length]!);
        stripes.forEach((stripe, s) => {
          const edited = s === target.s ? stripe.map((r, i) => (i === target.index ? tampered : r)) : stripe;
          const result = verifyChain(edited, genesisHash(tenantId, s));
          if (s !== target.s) {
            expect(result.ok).toBe(true);
            return;
          }
          expect(result).toMatchObject({ ok: false, index: target.index, firstBadEntryId: String(tampered.id) });
        });
      }),
      { numRuns: 500 },
    );
  });

  it('reports the record after a deleted one, and a reordering at its first position', () => {
    const records = Array.from({ length: 5 }, (_, i) => fixedEntry(`je_${i}`));
    const [stripe] = buildChains(records, 1).stripes as [ChainedRecord[]];
    const genesis = genesisHash(tenantId, 0);
    expect(verifyChain([...stripe.slice(0, 2), ...stripe.slice(3)], genesis)).toMatchObject({ ok: false, index: 2, firstBadEntryId: 'je_3', reason: 'sequence_mismatch' });
    const swapped = [stripe[0], stripe[2], stripe[1], stripe[3], stripe[4]] as ChainedRecord[];
    expect(verifyChain(swapped, genesis)).toMatchObject({ ok: false, index: 1, firstBadEntryId: 'je_2' });
    expect(verifyChain(stripe, genesisHash('ten_other', 0))).toMatchObject({ ok: false, index: 0, reason: 'prev_hash_mismatch' });
  });

  it('catches a consistently rewritten stripe, or a truncated one, only with the signed checkpoint head', () => {
    const records = Array.from({ length: 6 }, (_, i) => fixedEntry(`je_${i}`));
    const genesis = genesisHash(tenantId, 0);
    const { stripes, heads } = buildChains(records, 1);
    const signedHead = heads[0] as StripeHead;
    // An attacker edits record 2 and recomputes every later link.
    const forged = buildChains(records.map((r, i) => (i === 2 ? { ...r, description: 'forged' } : r)), 1).stripes[0] as ChainedRecord[];
    expect(verifyChain(forged, genesis).ok).toBe(true);
    expect(verifyChain(forged, genesis, signedHead)).toMatchObject({ ok: false, reason: 'checkpoint_mismatch', index: 5, firstBadEntryId: 'je_5' });
    const truncated = (stripes[0] as ChainedRecord[]).slice(0, 4);
    expect(verifyChain(truncated, genesis, signedHead)).toMatchObject({ ok: false, reason: 'checkpoint_missing_entries', index: 4, firstBadEntryId: null });
    // Records after the checkpoint are fine: the signed head is a prefix claim.
    const later = buildChains([...records, fixedEntry('je_6')], 1).stripes[0] as ChainedRecord[];
    expect(verifyChain(later, genesis, signedHead)).toMatchObject({ ok: true, count: 7 });
    expect(verifyChain([], genesis, emptyStripeHead(tenantId, 0))).toEqual({ ok: true, count: 0, headHash: genesis });
  });

  it('reports malformed stored records instead of crashing', () => {
    const [stripe] = buildChains([fixedEntry('je_0'), fixedEntry('je_1')], 1).stripes as [ChainedRecord[]];
    const noLink = { ...stripe[1], chain: undefined } as unknown as ChainedRecord;
    expect(verifyChain([stripe[0]!, noLink], genesisHash(tenantId, 0))).toMatchObject({ ok: false, index: 1, reason: 'malformed_record' });
    const fractional = { ...stripe[1], createdAtMs: 1.5 } as ChainedRecord;
    expect(verifyChain([stripe[0]!, fractional], genesisHash(tenantId, 0))).toMatchObject({ ok: false, index: 1, reason: 'malformed_record' });
    // An int64 read back as a JS number is a mapping bug, named as such.
    const numberAmount = { ...stripe[1], postings: (stripe[1] as EntryRecord).postings.map((p) => ({ ...p, amountMinor: 5 })) } as unknown as ChainedRecord;
    expect(verifyChain([stripe[0]!, numberAmount], genesisHash(tenantId, 0))).toMatchObject({ ok: false, index: 1, reason: 'malformed_record', actual: expect.stringMatching(/bigint/) });
  });

  it('verifies incrementally, stopping at the first failure', () => {
    const [stripe] = buildChains([fixedEntry('je_0'), fixedEntry('je_1'), fixedEntry('je_2')], 1).stripes as [ChainedRecord[]];
    const verifier = createChainVerifier(genesisHash(tenantId, 0));
    expect(verifier.push(stripe[0]!)).toBeNull();
    const failure = verifier.push({ ...stripe[1]!, description: 'x' } as ChainedRecord);
    expect(failure).toMatchObject({ index: 1, reason: 'hash_mismatch' });
    expect(verifier.push(stripe[2]!)).toBe(failure);
    expect(verifier.finish()).toBe(failure);
  });

  it('hashes the position: the same record at another sequence or stripe hashes differently', () => {
    const record = fixedEntry('je_0');
    const prevHash = genesisHash(tenantId, 0);
    const hashes = new Set([
      recordHash(record, { stripe: 0, sequence: 0, prevHash }),
      recordHash(record, { stripe: 1, sequence: 0, prevHash }),
      recordHash(record, { stripe: 0, sequence: 1, prevHash }),
    ]);
    expect(hashes.size).toBe(3);
  });
});

function fixedEntry(id: string): EntryRecord {
  return {
    kind: 'entry',
    id,
    postings: [
      { accountId: 'acc_a', direction: 'debit', amountMinor: 5n, currency: 'USD' },
      { accountId: 'acc_b', direction: 'credit', amountMinor: 5n, currency: 'USD' },
    ],
    description: `entry ${id}`,
    metadata: {},
    reversesEntryId: null,
    pending: null,
    createdAtMs: 1_700_000_000_000,
    ...context,
  };
}
