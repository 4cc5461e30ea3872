/**
 * `tally recon demo`: a day of payments reconciled locally, end to end. Takes payments through the
 * API (Adyen route: a payment method with only an Adyen sandbox token), refunds part of one, has the
 * sandbox PSP charge another back, waits until Tally recorded all of it (webhooks), asks the sandbox
 * for its settlement details report of the day, saves it, and reconciles it (`recon run`).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stateDir } from '../../../emulators/toolchain.js';
import type { ReconRunResult } from '../app/recon/run-recon.js';
import { DisputeStatus } from '../gen/tally/payments/v1/payments_pb.js';
import { createTallyClient } from './client.js';
import { CliError } from './cli-support.js';
import { reconRunCommand } from './recon-local.js';

/** How long the demo waits for webhooks to be applied, and how often it looks. */
const SETTLE_TIMEOUT_MS = 30_000;
const SETTLE_POLL_MS = 250;

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  // Bounded by the deadline.
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
  }
  throw new CliError(`recon demo: ${what} did not happen within ${SETTLE_TIMEOUT_MS / 1000} s (is the stack's webhook delivery running?)`);
}

export async function reconDemoCommand(options: {
  apiUrl: string; apiKey: string; sandboxUrl: string; log: (text: string) => void;
}): Promise<{ reportFile: string; result: ReconRunResult }> {
  const client = createTallyClient(options.apiUrl, options.apiKey);
  // The key's tenant takes the payments and is reconciled.
  const tenantId = (await client.tenancy.getTenant({})).tenant!.id;
  const startedMs = Date.now();
  const key = () => randomUUID();
  const pm = (await client.payments.createPaymentMethod({ pspTokens: { adyen: 'adyen_success' }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
  const amounts = [2_500n, 4_000n, 1_200n];
  const payments = [];
  for (const amountMinor of amounts) {
    const p = (await client.payments.createPayment({ amountMinor, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: key() })).payment!;
    payments.push(await until(`the capture of ${p.id}`, async () => {
      const cur = (await client.payments.getPayment({ paymentId: p.id })).payment!;
      return cur.amountCapturedMinor === amountMinor ? cur : undefined;
    }));
    options.log(`recon demo: payment ${p.id} captured (${amountMinor} minor units EUR, Adyen ${payments.at(-1)!.pspReference})`);
  }
  const [, refunded, disputed] = payments as [typeof payments[0], typeof payments[0], typeof payments[0]];
  await client.payments.refundPayment({ paymentId: refunded.id, amountMinor: 1_500n, idempotencyKey: key() });
  const dispute = await fetch(`${options.sandboxUrl}/_control/disputes`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ psp: 'adyen', id: disputed.pspReference }),
  });
  if (!dispute.ok) throw new CliError(`recon demo: the sandbox PSP at ${options.sandboxUrl} refused the chargeback (${dispute.status})`);
  await until('the refund and the chargeback', async () => {
    const [r, d] = await Promise.all([refunded, disputed].map(async (p) => (await client.payments.getPayment({ paymentId: p.id })).payment!));
    return r!.amountRefundedMinor === 1_500n && d!.disputeStatus !== DisputeStatus.UNSPECIFIED ? true : undefined;
  });
  options.log(`recon demo: ${refunded.id} refunded 1500, ${disputed.id} charged back`);

  const batch = Math.floor(startedMs / 1000) % 1_000_000_000;
  const res = await fetch(`${options.sandboxUrl}/_control/settlement-report?psp=adyen&batch=${batch}&since=${startedMs}`);
  if (!res.ok) throw new CliError(`recon demo: the sandbox PSP at ${options.sandboxUrl} answered ${res.status} for its settlement report`);
  mkdirSync(stateDir, { recursive: true });
  const reportFile = path.join(stateDir, `recon-demo-adyen-batch-${batch}.csv`);
  writeFileSync(reportFile, await res.text());
  options.log(`recon demo: the sandbox's settlement details report saved to ${reportFile}`);
  const result = await reconRunCommand({ psp: 'adyen', report: reportFile, tenant: tenantId, dryRun: false, onProgress: undefined });
  return { reportFile, result };
}
