/**
 * `tally analytics report` (issue 13 item 5): a tenant's payment and ledger volume over a period,
 * through AnalyticsService (the API, like every merchant command): every page of both reports,
 * human tables (amounts in major units of each currency) or --json (amounts as strings of minor
 * units, as the API's proto3 JSON). Eventually consistent: the footer says how fresh the data is.
 */
import { timestampDate, timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { Command } from 'commander';
import { formatDecimal, money } from '../domain/money/index.js';
import { createTallyClient } from './client.js';
import { CliError, output, table, target, type GlobalOptions } from './cli-support.js';

const dayMs = 86_400_000;
/** Pages of each report read at most (1000 rows each): beyond it the command fails, it never truncates. */
const pagesMax = 100;

function instantMs(flag: string, raw: string): number {
  const ms = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/.test(raw) || !Number.isFinite(ms)) {
    throw new CliError(`${flag} ${raw}: expected an ISO 8601 date or instant with a zone, e.g. 2026-12-01 or 2026-12-01T10:00:00Z`);
  }
  return ms;
}

const major = (amountMinor: bigint, currency: string): string => {
  try {
    return formatDecimal(money(amountMinor, currency));
  } catch {
    return `${amountMinor.toString()} (minor)`;
  }
};

async function allPages<Row>(fetch: (pageToken: string) => Promise<{ rows: Row[]; nextPageToken: string; dataAsOfTime?: { seconds: bigint; nanos: number } }>) {
  const rows: Row[] = [];
  let pageToken = '';
  let asOf: string | null = null;
  for (let page = 0; page < pagesMax; page++) {
    const res = await fetch(pageToken);
    rows.push(...res.rows);
    if (res.dataAsOfTime) asOf = timestampDate(res.dataAsOfTime as Parameters<typeof timestampDate>[0]).toISOString();
    pageToken = res.nextPageToken;
    if (pageToken === '') return { rows, asOf };
  }
  throw new CliError(`the report has more than ${pagesMax} pages of 1000 rows: ask for a shorter period (--from/--to)`);
}

export function registerAnalyticsReportCommand(analytics: Command, globals: (cmd: Command) => GlobalOptions): void {
  analytics.command('report')
    .description("a tenant's payment volume (by UTC day, status, currency, PSP: count, gross, captured, refunded, disputed, fees, authorization rate) and ledger volume (by account) over a period, from ClickHouse: eventually consistent (seconds behind the API)")
    .option('--tenant <tenantId>', "the tenant (platform admin key); default: the API key's tenant")
    .option('--from <iso>', 'start, inclusive (ISO 8601 with zone); default: 30 days before --to')
    .option('--to <iso>', 'end, exclusive; default: now')
    .action(async (opts: { tenant?: string; from?: string; to?: string }, cmd: Command) => {
      const g = globals(cmd);
      const toMs = opts.to === undefined ? Date.now() : instantMs('--to', opts.to);
      const fromMs = opts.from === undefined ? toMs - 30 * dayMs : instantMs('--from', opts.from);
      if (!(fromMs < toMs)) throw new CliError(`--from must be before --to (${new Date(fromMs).toISOString()} >= ${new Date(toMs).toISOString()})`);
      const { url, key } = target(g, opts.tenant !== undefined && g.apiKey === undefined);
      const client = createTallyClient(url, key);
      const period = { tenantId: opts.tenant ?? '', startTime: timestampFromMs(fromMs), endTime: timestampFromMs(toMs), pageSize: 1000 };
      const payments = await allPages((pageToken) => client.analytics.getPaymentVolume({ ...period, pageToken }));
      const ledger = await allPages((pageToken) => client.analytics.getLedgerVolume({ ...period, pageToken }));
      const asOf = [payments.asOf, ledger.asOf].filter((t): t is string => t !== null).sort().at(-1) ?? null;
      const paymentRows = payments.rows.map((r) => ({
        day: r.day, status: r.status, currency: r.currency, psp: r.psp, payments: r.paymentCount.toString(),
        grossMinor: r.grossAmountMinor.toString(), capturedMinor: r.capturedAmountMinor.toString(), refundedMinor: r.refundedAmountMinor.toString(),
        disputedMinor: r.disputedAmountMinor.toString(), feeMinor: r.feeAmountMinor.toString(),
        authorized: r.authorizedCount.toString(), authorizationAttempts: r.authorizationAttemptCount.toString(), authorizationRateBps: r.authorizationRateBps,
      }));
      const ledgerRows = ledger.rows.map((r) => ({
        accountId: r.accountId, currency: r.currency, debitMinor: r.debitAmountMinor.toString(), creditMinor: r.creditAmountMinor.toString(), postings: r.postingCount.toString(),
      }));
      const human = [
        `payments created ${new Date(fromMs).toISOString()} .. ${new Date(toMs).toISOString()}`,
        paymentRows.length === 0 ? '(none)' : table(payments.rows.map((r) => ({
          day: r.day, status: r.status, currency: r.currency, psp: r.psp || '-', count: r.paymentCount, gross: major(r.grossAmountMinor, r.currency),
          captured: major(r.capturedAmountMinor, r.currency), refunded: major(r.refundedAmountMinor, r.currency), disputed: major(r.disputedAmountMinor, r.currency),
          fees: major(r.feeAmountMinor, r.currency), 'auth rate': r.authorizationAttemptCount === 0n ? '-' : `${r.authorizedCount}/${r.authorizationAttemptCount} (${(r.authorizationRateBps / 100).toFixed(2)} %)`,
        })), ['day', 'status', 'currency', 'psp', 'count', 'gross', 'captured', 'refunded', 'disputed', 'fees', 'auth rate']),
        '',
        'ledger volume by account',
        ledgerRows.length === 0 ? '(none)' : table(ledger.rows.map((r) => ({
          account: r.accountId, currency: r.currency, debits: major(r.debitAmountMinor, r.currency), credits: major(r.creditAmountMinor, r.currency), postings: r.postingCount,
        })), ['account', 'currency', 'debits', 'credits', 'postings']),
        '',
        `data as of ${asOf ?? '(no events yet)'}: analytics lag the API by the sink's delay (seconds)`,
      ].join('\n');
      output(g, { tenantId: opts.tenant ?? null, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), dataAsOf: asOf, payments: paymentRows, ledger: ledgerRows }, human);
    });
}
