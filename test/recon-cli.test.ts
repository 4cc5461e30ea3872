/**
 * `npx tally recon run --dry-run` without a tenant (issue 15 item 5): parses and self-checks a report
 * alone, as a user runs it (a subprocess), without a stack; the JSON summary's shape is the contract.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJson, repoRoot, runCli } from './support/cli-runner.js';

const fixture = (name: string) => path.join(repoRoot, 'test', 'fixtures', 'recon', name);
const scratch = mkdtempSync(path.join(tmpdir(), 'tally-recon-cli-'));

describe('tally recon run --dry-run', () => {
  it('--json prints lines, byType, per-currency gross/fees/net, payouts, breaks and errors; exit 0', async () => {
    const s = parseJson<Record<string, unknown>>(await runCli(['recon', 'run', '--psp', 'adyen', '--report', fixture('adyen-settlement-details.csv'), '--dry-run', '--json']));
    expect(s).toMatchObject({
      lines: 12,
      byType: { payment: 4, refund: 1, chargeback: 1, chargeback_reversal: 1, fee: 2, payout: 2, correction: 1, other: 0 },
      gross: { EUR: '11550', JPY: '1200', USD: '5000' },
      fees: { EUR: '2150', JPY: '36', USD: '0' },
      net: { EUR: '0', JPY: '0', USD: '0' },
      payouts: [
        { batch: '42', currency: 'EUR', expected: '14100', reported: '14100', ok: true },
        { batch: '42', currency: 'JPY', expected: '1164', reported: '1164', ok: true },
      ],
      breaks: { missing_in_ledger: 0, missing_in_report: 0, amount_mismatch: 0, fee_mismatch: 0, currency_mismatch: 0, duplicate_in_report: 0, unknown_reference: 0 },
      errors: [],
    });
  });

  it('human output: totals in major units, payouts and self-checks; a Stripe payout per id', async () => {
    const r = await runCli(['recon', 'run', '--psp', 'stripe', '--report', fixture('stripe-payout-reconciliation-itemized.csv'), '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/EUR\s+114\.50\s+2\.37\s+112\.13/);
    expect(r.stdout).toMatch(/po_1QxA\s+EUR\s+112\.13\s+112\.13\s+ok/);
    expect(r.stdout).toContain('self-checks: passed');
  });

  it('a report failing its own footers exits 1 and says so', async () => {
    const file = path.join(scratch, 'stl-bad-footer.csv');
    writeFileSync(file, readFileSync(fixture('paypal-stl.csv'), 'utf8').replace('"RF","JPY","1200"', '"RF","JPY","1201"'));
    const r = await runCli(['recon', 'run', '--psp', 'paypal', '--report', file, '--dry-run', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ selfCheckOk: false, errors: [expect.objectContaining({ check: 'report_footer', line: 16 })] });
  });

  it('malformed input exits 1 naming file, line and column, never a stack trace', async () => {
    const file = path.join(scratch, 'adyen-bad-amount.csv');
    writeFileSync(file, readFileSync(fixture('adyen-settlement-details.csv'), 'utf8').replace(',99.25,', ',99.2.5,'));
    const human = await runCli(['recon', 'run', '--psp', 'adyen', '--report', file, '--dry-run']);
    expect(human.code).toBe(1);
    expect(human.stderr).toBe(`error: cli REPORT_MALFORMED: ${file}:2: column Net Credit (NC): "99.2.5" is not a plain decimal amount\n`);
    const json = await runCli(['recon', 'run', '--psp', 'adyen', '--report', file, '--dry-run', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'cli', reason: 'REPORT_MALFORMED', message: expect.any(String), metadata: { file, line: '2', column: 'Net Credit (NC)' } } });
  });

  it('--psp outside adyen|stripe|paypal is a usage error (exit 2)', async () => {
    const r = await runCli(['recon', 'run', '--psp', 'worldpay', '--report', fixture('paypal-stl.csv'), '--dry-run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('adyen, stripe, paypal');
  });
});
