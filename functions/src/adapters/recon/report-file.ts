/**
 * Streams a settlement report file through csv-parse into the PSP format's parser, in bounded
 * batches of normalised lines: memory holds one batch and the parser's running totals, whatever
 * the file's length. The file's SHA-256 is computed on the way (a report's identity for
 * idempotent runs). CSV syntax errors become `REPORT_MALFORMED` naming the file, line and column.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { TallyError } from '../../domain/errors.js';
import { type ReportLine, type ReportPsp, createReportParser, reportMalformed } from '../../domain/recon/index.js';
import type { ReportReadResult, ReportReading } from '../../ports/report-reading.js';

/** Largest CSV record accepted (bytes): a real line is well under 2 KiB; a runaway quote is not a record. */
export const REPORT_RECORD_BYTES_MAX = 64 * 1024;
/** Most lines handed over per batch (the matcher looks references up per batch). */
export const REPORT_BATCH_LINES_MAX = 10_000;

/**
 * Yields the report's data lines in batches of at most `batchLines`. `result` is filled when the
 * generator completes. Throws `REPORT_MALFORMED` (a TallyError) for input it cannot read, naming
 * `fileName` (default: the path) with line and column.
 */
export async function* readReportBatches(
  source: string | Readable,
  psp: ReportPsp,
  result: ReportReadResult,
  options: { batchLines?: number; fileName?: string } = {},
): AsyncGenerator<ReportLine[]> {
  const fileName = options.fileName ?? (typeof source === 'string' ? source : 'report');
  const batchLines = Math.min(Math.max(options.batchLines ?? 1_000, 1), REPORT_BATCH_LINES_MAX);
  const input = typeof source === 'string' ? createReadStream(source, { highWaterMark: 256 * 1024 }) : source;
  const hash = createHash('sha256');
  input.on('data', (chunk: Buffer | string) => {
    hash.update(chunk);
    result.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
  });
  const parser = createReportParser(psp, fileName);
  // Line numbers are counted here rather than with csv-parse's `info` (an object per record, a
  // fifth of the parse's time on a million lines): every record is one line (an empty line is a
  // record of one empty field, skipped by the formats) plus the line breaks inside its quoted fields.
  const csv = input.pipe(parse({ bom: true, relax_column_count: true, skip_empty_lines: false, max_record_size: REPORT_RECORD_BYTES_MAX }));
  // A read error of the file (ENOENT, EACCES) surfaces through the parser's iteration.
  input.on('error', (error: Error) => csv.destroy(error));
  let batch: ReportLine[] = [];
  try {
    let lineNo = 0;
    for await (const record of csv as AsyncIterable<string[]>) {
      result.records++;
      lineNo++;
      for (const field of record) if (field.includes('\n')) lineNo += field.split('\n').length - 1;
      const line = parser.record(record, lineNo);
      if (line === null) continue;
      batch.push(line);
      if (batch.length >= batchLines) {
        yield batch;
        batch = [];
      }
    }
  } catch (error) {
    input.destroy();
    if (error instanceof TallyError) throw error;
    if (error instanceof CsvError) {
      const where = error as unknown as { lines?: number; column?: number | string; index?: number };
      const column = typeof where.column === 'string' ? where.column : where.index === undefined ? '?' : String(where.index + 1);
      throw reportMalformed(fileName, where.lines ?? 0, column, `${error.code}: ${error.message}`);
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw reportMalformed(fileName, 0, '-', `cannot read the file (${code})`);
    throw error;
  }
  if (batch.length > 0) yield batch;
  result.selfCheck = parser.finish();
  result.sha256 = hash.digest('hex');
}

/** A report file (or stream) as a `ReportReading`. */
export function openReport(source: string | Readable, psp: ReportPsp, options: { batchLines?: number; fileName?: string } = {}): ReportReading {
  const result: ReportReadResult = { selfCheck: null, sha256: '', bytes: 0, records: 0 };
  return { batches: readReportBatches(source, psp, result, options), result };
}
