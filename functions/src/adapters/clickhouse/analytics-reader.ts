/**
 * Merchant reports from ClickHouse (issue 13 item 5, ADR 0030). Every query names one tenant and
 * is correct before ReplacingMergeTree merges: per payment the snapshot of the highest version
 * (duplicates of a row carry the same snapshot, so argMax is insensitive to them); ledger postings
 * read with FINAL. Each query is one constant template with `{name:Type}` placeholders and its
 * values (tenant, period, page), run through `queryRows` (sql-query.ts, ADR 0029 decision 8): bound
 * parameters on current ClickHouse, literals rendered from the declared Types on 18.16; no value is
 * ever concatenated into the SQL here. Each query has a server-side time limit
 * (max_execution_time) and a client-side deadline; an unanswered or failed query is
 * ANALYTICS_UNAVAILABLE, never INTERNAL.
 */
import { TallyError } from '../../domain/errors.js';
import type { AnalyticsReader, LedgerVolumeRow, PaymentVolumeRow, ReportQuery } from '../../ports/analytics-reader.js';
import { queryRows, SqlParamsError, type SqlClient, type SqlQuery } from './sql-query.js';

const dayMs = 86_400_000;

export interface ClickHouseAnalyticsOptions {
  /** Longest a report query may run (server and client side). */
  queryTimeoutMs: number;
}

/** `YYYY-MM-DD` of a UTC day number (days since 1970-01-01). */
const dayOf = (dayNumber: number): string => new Date(dayNumber * dayMs).toISOString().slice(0, 10);

/**
 * The values every report query takes. `startSeconds` (the period's start, whole seconds, rounded
 * down) only narrows the partitions read through `occurred_at`; the exact bounds are in ms.
 */
const reportParams = (q: ReportQuery) => ({
  tenantId: q.tenantId, startSeconds: Math.floor(q.startMs / 1000), startMs: q.startMs, endMs: q.endMs, offset: q.offset, limit: q.limit,
});

/** The tenant's payments created in the period, each as of its newest snapshot, grouped. */
function paymentVolumeQuery(q: ReportQuery): SqlQuery {
  // Aliases differ from column names: ClickHouse aliases are query-wide, so `argMax(status, ...) AS
  // status` would refer to itself.
  return {
    sql: `
SELECT day_number, p_currency, p_psp, p_status,
  count() AS payment_count,
  sum(p_amount) AS gross_minor, sum(p_captured) AS captured_minor, sum(p_refunded) AS refunded_minor,
  sum(p_charged_back) AS disputed_minor, sum(p_fee) AS fee_minor,
  sum(p_authorized OR p_declined) AS attempts, sum(p_authorized) AS authorized
FROM (
  SELECT payment_id,
    argMax(payment_created_at_ms, payment_version) AS p_created_ms,
    intDiv(p_created_ms, 86400000) AS day_number, -- ms per day
    argMax(status, payment_version) AS p_status,
    argMax(currency, payment_version) AS p_currency,
    argMax(psp, payment_version) AS p_psp,
    argMax(amount_minor, payment_version) AS p_amount,
    argMax(amount_captured_minor, payment_version) AS p_captured,
    argMax(amount_refunded_minor, payment_version) AS p_refunded,
    argMax(amount_charged_back_minor, payment_version) AS p_charged_back,
    argMax(fee_minor, payment_version) AS p_fee,
    argMax(amount_authorized_minor, payment_version) > 0 AS p_authorized,
    argMax(decline_reason, payment_version) != '' AS p_declined
  FROM payment_snapshots
  WHERE tenant_id = {tenantId:String} AND occurred_at >= {startSeconds:DateTime}
  GROUP BY payment_id
  HAVING p_created_ms >= {startMs:Int64} AND p_created_ms < {endMs:Int64}
)
GROUP BY day_number, p_currency, p_psp, p_status
ORDER BY day_number, p_currency, p_psp, p_status
LIMIT {offset:UInt64}, {limit:UInt64}`,
    params: reportParams(q),
  };
}

/**
 * Postings of the period by account: posted entries' postings, plus the posted part of pending
 * entries resolved in the period (their resolution rows carry amounts only: joined to the pending
 * rows for account, direction and currency). The joined subqueries are aliased: current ClickHouse
 * refuses a JOIN of unaliased subqueries ("no alias for subquery"), 18.16 accepts both forms.
 */
function ledgerVolumeQuery(q: ReportQuery): SqlQuery {
  const inPeriod = `tenant_id = {tenantId:String} AND occurred_at >= {startSeconds:DateTime}
      AND occurred_at_ms >= {startMs:Int64} AND occurred_at_ms < {endMs:Int64}`;
  return {
    sql: `
SELECT account_id, currency,
  sumIf(amount_minor, direction = 'debit') AS debit_minor, sumIf(amount_minor, direction = 'credit') AS credit_minor, count() AS posting_count
FROM (
  SELECT account_id, direction, currency, amount_minor FROM ledger_postings FINAL
  WHERE ${inPeriod} AND state = 'posted' AND account_id != ''
  UNION ALL
  SELECT account_id, direction, currency, amount_minor FROM (
    SELECT entry_id, posting_index, amount_minor FROM ledger_postings FINAL
    WHERE ${inPeriod} AND state = 'posted' AND account_id = ''
  ) AS resolved ANY INNER JOIN (
    SELECT entry_id, posting_index, account_id, direction, currency FROM ledger_postings FINAL
    WHERE tenant_id = {tenantId:String} AND state = 'pending'
  ) AS pending USING (entry_id, posting_index)
)
GROUP BY account_id, currency
ORDER BY account_id, currency
LIMIT {offset:UInt64}, {limit:UInt64}`,
    params: reportParams(q),
  };
}

/** The tenant's sink watermark: how many events it has and the newest one's time. */
const dataAsOfQuery = (tenantId: string): SqlQuery => ({
  sql: 'SELECT count() AS n, max(occurred_at_ms) AS newest FROM events WHERE tenant_id = {tenantId:String}',
  params: { tenantId },
});

/** The report queries as the reader runs them, for tests that run them on both paths. */
export const reportQueries = { paymentVolume: paymentVolumeQuery, ledgerVolume: ledgerVolumeQuery, dataAsOf: dataAsOfQuery };

export function createClickHouseAnalyticsReader(client: SqlClient, options: ClickHouseAnalyticsOptions): AnalyticsReader {
  const seconds = Math.max(1, Math.ceil(options.queryTimeoutMs / 1000));
  async function rows<T>(query: SqlQuery): Promise<T[]> {
    try {
      return await queryRows<T>(client, query, {
        clickhouse_settings: { max_execution_time: seconds, readonly: '1' },
        abort_signal: AbortSignal.timeout(options.queryTimeoutMs + 1_000),
      });
    } catch (error) {
      // A template and its values disagreeing is this code's bug, not the store's unavailability.
      if (error instanceof SqlParamsError) throw error;
      throw new TallyError('ANALYTICS_UNAVAILABLE', `analytics store did not answer: ${(error as Error).message.slice(0, 200)}`, {});
    }
  }
  async function dataAsOfMs(tenantId: string): Promise<number | null> {
    const [row] = await rows<{ n: string; newest: string }>(dataAsOfQuery(tenantId));
    return row && row.n !== '0' ? Number(row.newest) : null;
  }
  return {
    async paymentVolume(q) {
      const [found, asOf] = await Promise.all([
        rows<Record<string, string>>(paymentVolumeQuery(q)),
        dataAsOfMs(q.tenantId),
      ]);
      return {
        dataAsOfMs: asOf,
        rows: found.map((r): PaymentVolumeRow => ({
          day: dayOf(Number(r.day_number)), status: r.p_status!, currency: r.p_currency!, psp: r.p_psp!, paymentCount: BigInt(r.payment_count!),
          grossMinor: BigInt(r.gross_minor!), capturedMinor: BigInt(r.captured_minor!), refundedMinor: BigInt(r.refunded_minor!),
          disputedMinor: BigInt(r.disputed_minor!), feeMinor: BigInt(r.fee_minor!), authorizationAttempts: BigInt(r.attempts!), authorized: BigInt(r.authorized!),
        })),
      };
    },
    async ledgerVolume(q) {
      const [found, asOf] = await Promise.all([rows<Record<string, string>>(ledgerVolumeQuery(q)), dataAsOfMs(q.tenantId)]);
      return {
        dataAsOfMs: asOf,
        rows: found.map((r): LedgerVolumeRow => ({
          accountId: r.account_id!, currency: r.currency!, debitMinor: BigInt(r.debit_minor!), creditMinor: BigInt(r.credit_minor!), postingCount: BigInt(r.posting_count!),
        })),
      };
    },
  };
}
