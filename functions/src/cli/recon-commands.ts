/**
 * `tally recon ...`: reconciliation of PSP settlement reports. `recon run --dry-run` without a
 * tenant reads and self-checks a file alone (no stack needed); otherwise the report is matched
 * against a tenant's records and ledger (see README "Reconciliation").
 */
import { Command, Option } from 'commander';
import { openReport } from '../adapters/recon/report-file.js';
import { parseReport } from '../app/recon/parse-report.js';
import { formatDecimal, money } from '../domain/money/index.js';
import { type ReconSummary, type ReportPsp, reportPsps, summaryJson } from '../domain/recon/index.js';
import { CliError, type GlobalOptions, output, table, target } from './cli-support.js';

/** Lines between progress lines on stderr. */
const PROGRESS_EVERY_LINES = 100_000;

const decimal = (amountMinor: string | bigint, currency: string): string => formatDecimal(money(BigInt(amountMinor), currency));

/** The human rendering of a summary: counts, totals per currency, payouts, breaks, self-check errors. */
export function renderSummary(json: Record<string, unknown>): string {
  const byType = json.byType as Record<string, number>;
  const gross = json.gross as Record<string, string>;
  const fees = json.fees as Record<string, string>;
  const net = json.net as Record<string, string>;
  const payouts = json.payouts as { batch?: string; id?: string; currency: string; expected: string; reported: string; ok: boolean }[];
  const breaks = json.breaks as Record<string, number>;
  const errors = json.errors as { check: string; line: number; message: string }[];
  const out: string[] = [];
  out.push(`${String(json.psp)} report ${String(json.report)}: ${String(json.lines)} lines (${Object.entries(byType).filter(([, n]) => n > 0).map(([t, n]) => `${t} ${n}`).join(', ') || 'none'})`);
  out.push('', table(Object.keys(gross).map((c) => ({ currency: c, gross: decimal(gross[c]!, c), fees: decimal(fees[c]!, c), net: decimal(net[c]!, c) })), ['currency', 'gross', 'fees', 'net']));
  if (payouts.length > 0) {
    out.push('', table(payouts.map((p) => ({ payout: p.batch !== undefined ? `batch ${p.batch}` : p.id, currency: p.currency,
      expected: decimal(p.expected, p.currency), reported: decimal(p.reported, p.currency), ok: p.ok ? 'ok' : 'MISMATCH' })), ['payout', 'currency', 'expected', 'reported', 'ok']));
  }
  const breakList = Object.entries(breaks).filter(([, n]) => n > 0);
  out.push('', breakList.length === 0 ? 'breaks: none' : `breaks: ${breakList.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  if (json.healed !== undefined) out.push(`healed with compensating entries: ${String(json.healed)}; awaiting review: ${String(json.awaitingReview)}`);
  out.push(errors.length === 0 ? 'self-checks: passed' : `self-checks: FAILED\n${errors.map((e) => `  ${e.check}${e.line > 0 ? ` (line ${e.line})` : ''}: ${e.message}`).join('\n')}`);
  return out.join('\n');
}

export function registerReconCommands(program: Command, globals: (cmd: Command) => GlobalOptions): void {
  const recon = program.command('recon').description('reconciliation of PSP settlement reports against the ledger');
  recon.command('run')
    .description('read a settlement report (streamed), check its own control totals and, unless --dry-run without --tenant, match it against the tenant\'s payments and ledger. Exit 0 reconciled, 1 self-check failure or breaks awaiting review')
    .addOption(new Option('--psp <psp>', 'the report\'s format').choices([...reportPsps]).makeOptionMandatory())
    .requiredOption('--report <file>', 'the report file (CSV)')
    .option('--tenant <tenantId>', 'the tenant to reconcile (default: the API key\'s tenant)')
    .option('--dry-run', 'change nothing; without --tenant: parse and self-check the file alone, no stack needed')
    .action(async (opts: { psp: ReportPsp; report: string; tenant?: string; dryRun?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      let nextProgress = PROGRESS_EVERY_LINES;
      const onProgress = g.json ? undefined : ({ lines, bytes }: { lines: number; bytes: number }) => {
        if (lines < nextProgress) return;
        nextProgress = lines + PROGRESS_EVERY_LINES;
        process.stderr.write(`recon: ${lines.toLocaleString('en-US')} lines read (${(bytes / 1_048_576).toFixed(1)} MiB)\n`);
      };
      if (!(opts.dryRun && opts.tenant === undefined)) {
        const { reconRunCommand } = await import('./recon-local.js');
        const result = await reconRunCommand({ psp: opts.psp, report: opts.report, ...(opts.tenant === undefined ? {} : { tenant: opts.tenant }), dryRun: opts.dryRun === true, onProgress });
        const json: Record<string, unknown> = { ...result.summary, replayed: result.replayed };
        output(g, json, `${result.replayed ? `this report was reconciled before (run ${String(json.runId)}): nothing changed\n` : ''}${renderSummary(json)}`);
        const breaks = json.breaks as Record<string, number>;
        if (json.selfCheckOk !== true || Number(json.awaitingReview ?? 0) > 0 || (json.dryRun === true && Object.values(breaks).some((n) => n > 0))) process.exitCode = 1;
        return;
      }
      const reading = openReport(opts.report, opts.psp);
      const summary: ReconSummary = await parseReport(reading, onProgress);
      const json = summaryJson(summary, { psp: opts.psp, report: opts.report, sha256: reading.result.sha256, dryRun: true });
      output(g, json, renderSummary(json));
      if (!summary.selfCheckOk || Object.values(summary.breaksByKind).some((n) => n > 0)) process.exitCode = 1;
    });

  recon.command('demo')
    .description('a day reconciled locally: takes three payments through the Adyen sandbox (one partly refunded, one charged back), asks the sandbox PSP for its settlement details report of the day, saves it under .tally/ and reconciles it for the API key\'s tenant')
    .option('--sandbox-url <url>', 'the sandbox PSP (default: TALLY_SANDBOX_PSP_URL, else http://127.0.0.1:$TALLY_SANDBOX_PSP_PORT or 12111)')
    .action(async (opts: { sandboxUrl?: string }, cmd: Command) => {
      const g = globals(cmd);
      const { url, key } = target(g);
      const sandboxUrl = opts.sandboxUrl ?? process.env.TALLY_SANDBOX_PSP_URL ?? `http://127.0.0.1:${process.env.TALLY_SANDBOX_PSP_PORT ?? '12111'}`;
      const { reconDemoCommand } = await import('./recon-demo.js');
      const { reportFile, result } = await reconDemoCommand({ apiUrl: url, apiKey: key, sandboxUrl, log: (text) => { if (!g.json) process.stderr.write(`${text}\n`); } });
      const json: Record<string, unknown> = { ...result.summary, reportFile };
      output(g, json, renderSummary(json));
      if (json.selfCheckOk !== true || Number(json.awaitingReview ?? 0) > 0) process.exitCode = 1;
    });

  const breaks = recon.command('breaks').description('reconciliation breaks: disagreements between reports, Tally\'s records and the ledger');
  breaks.command('list')
    .description('list breaks with their evidence (open ones wait for review; healed ones were compensated by ledger entries)')
    .option('--tenant <tenantId>', 'the tenant (default: the demo tenant of the running stack)')
    .addOption(new Option('--status <status>', 'only this status').choices(['open', 'healed', 'resolved']))
    .option('--run <runId>', 'only breaks of this run, rcn_...')
    .option('--limit <n>', 'most breaks listed, 1..10000', '100')
    .action(async (opts: { tenant?: string; status?: 'open' | 'healed' | 'resolved'; run?: string; limit: string }, cmd: Command) => {
      const g = globals(cmd);
      const limit = Number(opts.limit);
      if (!/^\d+$/.test(opts.limit) || limit < 1 || limit > 10_000) throw new CliError(`--limit ${opts.limit}: expected an integer in [1, 10000]`);
      const { listBreaksCommand } = await import('./recon-local.js');
      const list = await listBreaksCommand({ ...(opts.tenant ? { tenant: opts.tenant } : {}), ...(opts.status ? { status: opts.status } : {}), ...(opts.run ? { runId: opts.run } : {}), limit });
      const rows = list.map((b) => ({ ...b, reportedMinor: b.reportedMinor.toString(), expectedMinor: b.expectedMinor.toString() }));
      output(g, rows, rows.length === 0 ? 'no breaks' : table(rows.map((b) => ({ ...b, reference: b.pspReference || b.merchantReference, line: b.line || '' })),
        ['id', 'kind', 'status', 'line', 'reference', 'currency', 'reportedMinor', 'expectedMinor', 'tallyId', 'detail']));
    });
  breaks.command('resolve')
    .description('mark an open break resolved after review (a healed or resolved break is left as it is)')
    .argument('<breakId>', 'the break, brk_...')
    .option('--tenant <tenantId>', 'the tenant (default: the demo tenant of the running stack)')
    .addOption(new Option('--resolution <resolution>', 'what was decided').choices(['accepted', 'written_off', 'corrected', 'disputed_with_psp']).makeOptionMandatory())
    .option('--note <text>', 'free text for the audit trail (at most 500 characters)', '')
    .action(async (breakId: string, opts: { tenant?: string; resolution: string; note: string }, cmd: Command) => {
      const g = globals(cmd);
      if (!/^brk_[A-Za-z0-9_-]{1,120}$/.test(breakId)) throw new CliError(`${breakId}: expected a break id, brk_...`);
      if (opts.note.length > 500) throw new CliError('--note: at most 500 characters');
      const { resolveBreakCommand } = await import('./recon-local.js');
      const b = await resolveBreakCommand({ ...(opts.tenant ? { tenant: opts.tenant } : {}), breakId, resolution: opts.resolution, note: opts.note });
      output(g, { ...b, reportedMinor: b.reportedMinor.toString(), expectedMinor: b.expectedMinor.toString() }, `break ${b.id} (${b.kind}): ${b.status}${b.resolution ? ` (${b.resolution})` : ''}`);
    });
}
