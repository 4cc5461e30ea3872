/**
 * Reconciliation against a tenant (issue 15 items 3-4): payments taken through the real API and
 * the sandbox PSP (Adyen wire protocol), an Adyen settlement details report written for them, run
 * against Firestore (emulator) and the ledger. Every break kind is produced here; fees, the payout
 * and the healed difference are posted as ledger entries; a second run of the same report changes
 * nothing; another tenant's payment is never matched.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openReport } from '../functions/src/adapters/recon/report-file.js';
import { getBalance } from '../functions/src/app/ledger/ledger-use-cases.js';
import { type ReconDeps, reconAccountIdOf, runRecon } from '../functions/src/app/recon/run-recon.js';
import type { TallyClient } from '../functions/src/cli/client.js';
import { composeRecon } from '../functions/src/compose-recon.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { eventually } from './support/eventually.js';

let env: PaymentsStack;
let recon: ReconDeps;
beforeAll(async () => {
  env = await startPaymentsStack();
  // Settlement window 0: every captured payment is due in a report at once (the "missing in report" break).
  recon = composeRecon(env.stack.services, { settlementWindowMs: 0 });
}, 120_000);
afterAll(async () => { await env?.close(); });

const key = () => randomUUID();
const trace = { traceId: '', spanId: '' };

const adyenHeader = ['Company Account', 'Merchant Account', 'Psp Reference', 'Merchant Reference', 'Payment Method', 'Creation Date', 'TimeZone', 'Type',
  'Modification Reference', 'Gross Currency', 'Gross Debit (GC)', 'Gross Credit (GC)', 'Exchange Rate', 'Net Currency', 'Net Debit (NC)', 'Net Credit (NC)',
  'Commission (NC)', 'Markup (NC)', 'Scheme Fees (NC)', 'Interchange (NC)', 'Payment Method Variant', 'Modification Merchant Reference', 'Batch Number'];
type Row = Partial<Record<(typeof adyenHeader)[number], string>>;
const csvOf = (rows: Row[]) => [adyenHeader.join(','), ...rows.map((r) => adyenHeader.map((h) => r[h] ?? '').join(','))].join('\n') + '\n';

async function capturedPayment(owner: TallyClient, amountMinor: bigint): Promise<{ id: string; pspReference: string }> {
  const pm = (await owner.payments.createPaymentMethod({ pspTokens: { adyen: 'adyen_success' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
  const created = (await owner.payments.createPayment({ amountMinor, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
  return eventually(async () => {
    const p = (await owner.payments.getPayment({ paymentId: created.id })).payment!;
    expect(p.amountCapturedMinor).toBe(amountMinor);
    return { id: p.id, pspReference: p.pspReference };
  }, { timeoutMs: 15_000, intervalMs: 100 });
}

async function run(tenantId: string, csv: string, dryRun = false) {
  const sha256 = createHash('sha256').update(csv).digest('hex');
  return runRecon(recon, { tenantId, psp: 'adyen', sha256, fileName: 'settlement_detail_report_batch_7.csv', dryRun, trace,
    open: () => openReport(Readable.from([csv]), 'adyen', { fileName: 'settlement_detail_report_batch_7.csv' }) });
}

const balance = async (tenantId: string, accountId: string) => {
  const b = (await getBalance(env.stack.services.ledger, tenantId, accountId, null)).balance;
  return b.postedDebitsMinor - b.postedCreditsMinor;
};

describe('recon run against a tenant (Adyen settlement details)', () => {
  it('matches to the cent, posts fees and the payout, records every break kind with evidence, and a rerun changes nothing', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    const [a, b, c, d, e] = [await capturedPayment(owner, 2500n), await capturedPayment(owner, 1000n), await capturedPayment(owner, 4000n),
      await capturedPayment(owner, 1500n), await capturedPayment(owner, 700n)];
    const other = await env.stack.newTenant();
    const foreign = await capturedPayment(other.owner, 900n);
    const settled = (p: { id: string; pspReference: string }, gross: string, net: string, commission: string, extra: Row = {}): Row => ({
      'Psp Reference': p.pspReference, 'Merchant Reference': p.id, Type: 'Settled', 'Modification Reference': p.pspReference, 'Gross Currency': 'EUR',
      'Gross Credit (GC)': gross, 'Net Currency': 'EUR', 'Net Credit (NC)': net, 'Commission (NC)': commission, 'Batch Number': '7', ...extra,
    });
    const rows: Row[] = [
      settled(a, '25.00', '24.70', '0.30'), // line 2: matched; fee 0.30
      settled(b, '10.01', '9.91', '0.10'), // line 3: amount_mismatch (Tally captured 10.00): healed, 0.01 to recon_adjustments
      settled({ id: 'pay_notours', pspReference: '9915000000000000' }, '5.00', '4.90', '0.10'), // line 4: unknown_reference
      { 'Psp Reference': a.pspReference, 'Merchant Reference': a.id, Type: 'Refunded', 'Modification Reference': 'R-1', 'Gross Currency': 'EUR', 'Gross Debit (GC)': '5.00', 'Net Currency': 'EUR', 'Net Debit (NC)': '5.00', 'Batch Number': '7' }, // line 5: missing_in_ledger
      settled(c, '40.00', '39.60', '0.40', { 'Gross Currency': 'USD', 'Net Currency': 'USD' }), // line 6: currency_mismatch
      settled(a, '25.00', '24.70', '0.30'), // line 7: duplicate_in_report
      settled(d, '15.00', '14.80', '0.15'), // line 8: fee_mismatch (fees 0.15, kept 0.20): healed, 0.20 posted
      settled(foreign, '9.00', '8.90', '0.10'), // line 9: another tenant's payment: unknown_reference
      { Type: 'MerchantPayout', 'Modification Reference': 'PO-7', 'Net Currency': 'EUR', 'Net Debit (NC)': '48.31', 'Batch Number': '7' }, // line 10
    ];
    const csv = csvOf(rows);
    const first = await run(tenantId, csv);
    expect(first.replayed).toBe(false);
    expect(first.summary).toMatchObject({
      lines: 9,
      breaks: { unknown_reference: 2, amount_mismatch: 1, missing_in_ledger: 1, currency_mismatch: 1, duplicate_in_report: 1, fee_mismatch: 1, missing_in_report: 1 },
      healed: 2, awaitingReview: 6,
    });
    const details = first.summary.breakDetails as { kind: string; line: number; tallyId: string; reportedMinor: string; expectedMinor: string }[];
    expect(details).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: 'amount_mismatch', line: 3, tallyId: b.id, reportedMinor: '1001', expectedMinor: '1000' }),
      expect.objectContaining({ kind: 'missing_in_ledger', line: 5, tallyId: a.id }),
      expect.objectContaining({ kind: 'currency_mismatch', line: 6, tallyId: c.id }),
      expect.objectContaining({ kind: 'duplicate_in_report', line: 7 }),
      expect.objectContaining({ kind: 'fee_mismatch', line: 8, reportedMinor: '15', expectedMinor: '20' }),
      expect.objectContaining({ kind: 'unknown_reference', line: 9, tallyId: '' }),
      expect.objectContaining({ kind: 'missing_in_report', line: 0, tallyId: e.id, expectedMinor: '700' }),
    ]));
    // The payout check of the batch: 24.70 + 9.91 + 4.90 - 5.00 + 24.70 + 14.80 + 8.90 (USD aside) = 82.91 != 48.31.
    expect(first.summary.selfCheckOk).toBe(false);

    // Ledger: PSP fees 0.30 (a) + 0.10 (b) + 0.20 (d, what the PSP kept) = 0.60; 0.01 healed; payout 48.31 to the bank.
    expect(await balance(tenantId, reconAccountIdOf('psp_fees', 'adyen', 'EUR'))).toBe(60n);
    expect(await balance(tenantId, reconAccountIdOf('recon_adjustments', 'adyen', 'EUR'))).toBe(-1n);
    expect(await balance(tenantId, reconAccountIdOf('bank', 'adyen', 'EUR'))).toBe(4831n);
    const receivableAfterFirst = await balance(tenantId, reconAccountIdOf('psp_receivable', 'adyen', 'EUR'));

    const stored = await recon.store.listBreaks(tenantId, {}, 100, undefined);
    expect(stored.items.map((x) => [x.kind, x.status]).sort()).toEqual([
      ['amount_mismatch', 'healed'], ['currency_mismatch', 'open'], ['duplicate_in_report', 'open'], ['fee_mismatch', 'healed'],
      ['missing_in_ledger', 'open'], ['missing_in_report', 'open'], ['unknown_reference', 'open'], ['unknown_reference', 'open'],
    ]);
    const journal = async () => (await env.stack.services.db.collection(`tenants/${tenantId}/journal`).get()).size;
    const journalAfterFirst = await journal();

    // The same report again: the stored run answers; nothing is read or written.
    const second = await run(tenantId, csv);
    expect(second.replayed).toBe(true);
    expect(second.summary).toEqual(first.summary);
    expect(await journal()).toBe(journalAfterFirst);
    expect((await recon.store.listBreaks(tenantId, {}, 100, undefined)).items).toHaveLength(8);
    expect(await balance(tenantId, reconAccountIdOf('psp_receivable', 'adyen', 'EUR'))).toBe(receivableAfterFirst);

    // Review: an open break is resolved once; a healed one stays healed; another tenant cannot see it.
    const open = stored.items.find((x) => x.kind === 'missing_in_ledger')!;
    const resolved = await recon.store.resolveBreak(tenantId, open.id, 'written_off', 'refund made outside Tally', 1_000);
    expect(resolved).toMatchObject({ status: 'resolved', resolution: 'written_off', resolvedAtMs: 1_000 });
    expect(await recon.store.resolveBreak(tenantId, open.id, 'accepted', '', 2_000)).toMatchObject({ status: 'resolved', resolution: 'written_off' });
    const healedOne = stored.items.find((x) => x.kind === 'fee_mismatch')!;
    expect(await recon.store.resolveBreak(tenantId, healedOne.id, 'accepted', '', 2_000)).toMatchObject({ status: 'healed', resolution: '' });
    expect(await recon.store.resolveBreak(other.tenantId, open.id, 'accepted', '', 2_000)).toBeUndefined();
    expect((await recon.store.listBreaks(tenantId, { status: 'open' }, 100, undefined)).items).toHaveLength(5);

    // The other tenant's reconciliation of its own payment matches it.
    const own = await run(other.tenantId, csvOf([settled(foreign, '9.00', '8.90', '0.10')]));
    expect(own.summary).toMatchObject({ breaks: { unknown_reference: 0, missing_in_ledger: 0, missing_in_report: 0 } });
  });

  it('a run interrupted halfway (re-run before it completed) posts each entry once', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    const p = await capturedPayment(owner, 3000n);
    const csv = csvOf([{ 'Psp Reference': p.pspReference, 'Merchant Reference': p.id, Type: 'Settled', 'Modification Reference': p.pspReference,
      'Gross Currency': 'EUR', 'Gross Credit (GC)': '30.00', 'Net Currency': 'EUR', 'Net Credit (NC)': '29.55', 'Commission (NC)': '0.45', 'Batch Number': '8' }]);
    const first = await run(tenantId, csv);
    // As if the first run had crashed before completing: the run is running again, the entries exist.
    await recon.store.updateRun(tenantId, first.run!.id, { status: 'running' });
    const again = await run(tenantId, csv);
    expect(again.replayed).toBe(false);
    expect(await balance(tenantId, reconAccountIdOf('psp_fees', 'adyen', 'EUR'))).toBe(45n);
  });

  it('a dry run against a tenant matches and reports, and writes nothing', async () => {
    const { tenantId, owner } = await env.stack.newTenant();
    const p = await capturedPayment(owner, 1200n);
    const csv = csvOf([{ 'Psp Reference': p.pspReference, 'Merchant Reference': p.id, Type: 'Settled', 'Modification Reference': p.pspReference,
      'Gross Currency': 'EUR', 'Gross Credit (GC)': '12.50', 'Net Currency': 'EUR', 'Net Credit (NC)': '12.50', 'Batch Number': '9' }]);
    const dry = await run(tenantId, csv, true);
    expect(dry.summary).toMatchObject({ breaks: { amount_mismatch: 1 }, dryRun: true });
    expect((await recon.store.listBreaks(tenantId, {}, 10, undefined)).items).toEqual([]);
    expect(await recon.store.listRuns(tenantId, 10, undefined)).toMatchObject({ items: [] });
  });
});
