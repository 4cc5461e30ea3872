/**
 * Merchant reports (issue 13 item 5): validate the request, page through the analytics store's
 * rows in their fixed order. Reads are eventually consistent (the sink's lag); Firestore stays the
 * source of truth. The tenant comes from the caller (the handler resolves it), never from SQL text
 * the caller wrote.
 */
import { invalidField } from '../../domain/errors.js';
import { validateReportPageSize, validateReportRange } from '../../domain/analytics/reports.js';
import type { AnalyticsReader, ReportRows } from '../../ports/analytics-reader.js';
import { decodePageToken, encodePageToken } from '../../platform/pagination/page-token.js';

export interface AnalyticsDeps {
  reader: AnalyticsReader;
}

export interface ReportRequest {
  startMs: number | undefined;
  endMs: number | undefined;
  pageSize: number;
  pageToken: string;
}

/** Deepest page reachable: offset paging re-reads what it skips, so it is bounded like everything else. */
const offsetMax = 1_000_000;

/**
 * A page token is [offset, startMs, endMs, report]: a token is only valid for the request that
 * made it (another period or report would skip the wrong rows), refused as FIELD_INVALID otherwise.
 */
async function page<Row>(
  report: 'payments' | 'ledger', tenantId: string, request: ReportRequest,
  read: (query: { tenantId: string; startMs: number; endMs: number; offset: number; limit: number }) => Promise<ReportRows<Row>>,
): Promise<{ rows: Row[]; nextPageToken: string; dataAsOfMs: number | null }> {
  const range = validateReportRange(request.startMs, request.endMs);
  const pageSize = validateReportPageSize(request.pageSize);
  let offset = 0;
  if (request.pageToken !== '') {
    const [tokenOffset, startMs, endMs, kind] = decodePageToken(request.pageToken, ['int', 'int', 'int', 'string']) as [number, number, number, string];
    if (startMs !== range.startMs || endMs !== range.endMs || kind !== report || tokenOffset < 0) {
      throw invalidField('page_token', 'not a token of this report and period');
    }
    if (tokenOffset > offsetMax) throw invalidField('page_token', `a report is paged to ${offsetMax} rows at most: ask for a shorter period`);
    offset = tokenOffset;
  }
  // One row more than the page: whether a next page exists, without a count query.
  const { rows, dataAsOfMs } = await read({ tenantId, ...range, offset, limit: pageSize + 1 });
  const more = rows.length > pageSize;
  return { rows: rows.slice(0, pageSize), nextPageToken: more ? encodePageToken([offset + pageSize, range.startMs, range.endMs, report]) : '', dataAsOfMs };
}

export function paymentVolume(deps: AnalyticsDeps, tenantId: string, request: ReportRequest) {
  return page('payments', tenantId, request, (q) => deps.reader.paymentVolume(q));
}

export function ledgerVolume(deps: AnalyticsDeps, tenantId: string, request: ReportRequest) {
  return page('ledger', tenantId, request, (q) => deps.reader.ledgerVolume(q));
}
