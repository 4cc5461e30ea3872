/**
 * Chaos: 500 payments (half create + confirm, half one-call checkouts) through the API against the sandbox PSP with injected timeouts, 5xx before
 * and after processing, duplicated, delayed and reordered webhooks, and a crash between a PSP's
 * success and its recording. After the janitor runs: each payment the PSP captured is captured
 * once in Tally (and only those), the ledger balances, every payment's ledger effect is applied
 * exactly once, and nothing is left in an unknown state.
 */
import { randomUUID } from 'node:crypto';
import { ConnectError } from '@connectrpc/connect';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentAccountId, runJanitor } from '../functions/src/app/payments/index.js';
import { getBalance } from '../functions/src/app/ledger/ledger-use-cases.js';
import type { PspName } from '../functions/src/ports/psp-gateway.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { ErrorInfoSchema } from './support/test-stack.js';

const paymentsTotal = 500;
const concurrency = 16;
let env: PaymentsStack;

beforeAll(async () => {
  env = await startPaymentsStack({ TALLY_PSP_CALL_TIMEOUT_MS: '400', TALLY_JANITOR_GRACE_MS: '1500' }, { timeoutHoldMs: 1_000 });
}, 120_000);
afterAll(async () => { await env?.close(); });

describe('chaos', () => {
  it(`drives ${paymentsTotal} payments through faults and loses nothing`, async () => {
    const { stack, sandbox } = env;
    const { tenantId, owner } = await stack.newTenant('Chaos');
    await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'stripe', weight: 1 }, { psp: 'adyen', weight: 1 }] }], idempotencyKey: randomUUID() });
    const pm = (await owner.payments.createPaymentMethod({ pspTokens: { stripe: 'pm_card_visa', adyen: 'adyen_success' }, brand: 'visa', idempotencyKey: randomUUID() })).paymentMethod!.id;
    const faults = { latencyMs: 0, serverErrorBeforeRate: 0.04, serverErrorAfterRate: 0.03, timeoutRate: 0.03, webhookDuplicateRate: 0.2, webhookDelayMs: 30, webhookReorderWindow: 3 };
    const calm = { ...faults, serverErrorBeforeRate: 0, serverErrorAfterRate: 0, timeoutRate: 0 };
    sandbox.control.setFaults({ seed: 42 });
    // Crash between PSP success and recording, for every 25th recorded PSP answer. The API logs
    // each at ERROR with its stack (as it must for a real crash); here they are counted instead of
    // printed, and any other ERROR line still goes through.
    const crashMessage = 'injected crash after the PSP answered';
    let crashLogLines = 0;
    const stderrWrite = process.stderr.write.bind(process.stderr);
    const quietStderr = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      if (String(chunk).includes(crashMessage)) { crashLogLines++; return true; }
      return (stderrWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    let answers = 0;
    let crashes = 0;
    /** Faults and crashes on. */
    const chaosOn = () => {
      sandbox.control.setFaults({ stripe: faults, adyen: faults });
      process.stderr.write = quietStderr;
      stack.services.payments.testHooks.afterPspCall = () => {
        if (++answers % 25 === 0) {
          crashes++;
          throw new Error(crashMessage);
        }
      };
    };
    /** Faults and crashes off (webhooks still duplicated and delayed), held webhooks sent. */
    const chaosOff = async () => {
      stack.services.payments.testHooks.afterPspCall = undefined;
      process.stderr.write = stderrWrite;
      sandbox.control.setFaults({ stripe: calm, adyen: calm });
      sandbox.control.releaseWebhooks();
      await sandbox.control.webhooksIdle(20_000);
    };
    /** Runs `op` on every item from `concurrency` workers; counts outcomes by the start of the error. */
    const drive = async <T>(items: readonly T[], op: (item: T, index: number) => Promise<unknown>) => {
      const outcomes = new Map<string, number>();
      let next = 0;
      await Promise.all(Array.from({ length: concurrency }, async () => {
        for (let i = next++; i < items.length; i = next++) {
          let outcome = 'ok';
          try { await op(items[i]!, i); } catch (error) { outcome = String(error).slice(0, 40); }
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        }
      }));
      return outcomes;
    };
    const store = stack.services.payments.store;
    /** The janitor settles whatever webhooks did not, in bounded rounds, until `unsettled` is 0. */
    const janitorUntilSettled = async (unsettled: () => Promise<number>) => {
      for (let round = 0, left = Infinity; round < 20 && left > 0; round++) {
        // A real wait, kept on purpose: the janitor's grace (1.5 s) runs from stamps the server wrote
        // with the real clock while webhooks keep arriving. A janitor with its clock moved forward
        // (as payments-api.test.ts does for one quiet payment) would stamp its writes in the future of
        // those webhooks, whose ordering by time is part of what this test exercises.
        await new Promise((r) => setTimeout(r, 1_600));
        await runJanitor(stack.services.payments, { traceId: '', spanId: '' }, { graceMs: 1_500, paymentsMax: 1_000 });
        await sandbox.control.webhooksIdle(10_000);
        left = await unsettled();
      }
    };

    const ids: string[] = [];
    /** One-call checkouts that failed: re-sent once the faults are off, under the same key. */
    const oneCallRetries: Parameters<typeof owner.payments.createPayment>[0][] = [];
    chaosOn();
    const apiOutcomes = await drive(Array.from({ length: paymentsTotal }, (_, i) => i), async (i) => {
      const amount = BigInt(100 + (i % 97) * 13);
      if (i % 2 === 1) {
        // Half are one-call checkouts (CreatePayment with confirm).
        const request = { amountMinor: amount, currency: 'EUR', paymentMethodId: pm, confirm: true, idempotencyKey: randomUUID() };
        try {
          ids.push((await owner.payments.createPayment(request)).payment!.id);
        } catch (error) {
          oneCallRetries.push(request);
          throw error;
        }
        return;
      }
      const p = (await owner.payments.createPayment({ amountMinor: amount, currency: 'EUR', paymentMethodId: pm, idempotencyKey: randomUUID() })).payment!;
      ids.push(p.id);
      await owner.payments.confirmPayment({ paymentId: p.id, idempotencyKey: randomUUID() });
    });
    await chaosOff();
    // A failed one-call checkout re-sent under its key answers the payment it created, or the error
    // it answered naming that payment (or creates it, if the failure came first): never a second
    // payment, so never a second charge.
    let oneCallErrorsReplayed = 0;
    for (const request of oneCallRetries) {
      try {
        ids.push((await owner.payments.createPayment(request)).payment!.id);
      } catch (error) {
        const paymentId = ConnectError.from(error).findDetails(ErrorInfoSchema)[0]?.metadata.paymentId;
        if (paymentId === undefined) throw error;
        ids.push(paymentId);
        oneCallErrorsReplayed++;
      }
    }
    const storedPayments = Number((await stack.services.db.collection(`tenants/${tenantId}/payments`).count().get()).data().count);
    await janitorUntilSettled(async () => (await Promise.all(ids.map((id) => store.getPayment(tenantId, id))))
      .filter((p) => p!.status === 'processing' || p!.unknownSinceMs !== null || p!.status === 'requires_capture').length);

    // Refunds under the same faults and crashes: a third of every 4th succeeded payment.
    const toRefund = (await Promise.all(ids.map((id) => store.getPayment(tenantId, id)))).filter((p, i) => p!.status === 'succeeded' && i % 4 === 0).map((p) => p!);
    chaosOn();
    const refundOutcomes = await drive(toRefund, (p) => owner.payments.refundPayment({
      paymentId: p.id, amountMinor: p.amountCapturedMinor / 3n > 0n ? p.amountCapturedMinor / 3n : 1n, idempotencyKey: randomUUID(),
    }));
    await chaosOff();
    const refundsOpen = (p: { refunds: readonly { status: string }[]; unknownSinceMs: number | null }) => p.unknownSinceMs !== null || p.refunds.some((r) => r.status === 'pending');
    await janitorUntilSettled(async () => (await Promise.all(toRefund.map((p) => store.getPayment(tenantId, p.id)))).filter((p) => refundsOpen(p!)).length);

    const intents = (await Promise.all(ids.map((id) => store.getPayment(tenantId, id)))).map((p) => p!);
    const byStatus = new Map<string, number>();
    for (const p of intents) byStatus.set(p.status, (byStatus.get(p.status) ?? 0) + 1);

    // What each PSP actually did, asked through our connectors' lookup (by our payment id).
    let capturedAtPsp = 0;
    let capturedTwice = 0;
    let mismatched = 0;
    for (const p of intents) {
      let captures = 0;
      for (const psp of ['stripe', 'adyen'] as PspName[]) {
        const outcome = await stack.services.payments.gateways.get(psp)!.lookup({ paymentId: p.id, pspReference: null, signal: AbortSignal.timeout(5_000) });
        if (outcome.kind === 'captured') captures++;
      }
      if (captures > 0) capturedAtPsp++;
      if (captures > 1) capturedTwice++;
      if ((captures === 1) !== (p.status === 'succeeded')) mismatched++;
    }

    // Ledger: one capture entry per succeeded payment, balanced, amounts exact.
    const journal = await stack.services.db.collection(`tenants/${tenantId}/journal`).get();
    const captureEntries = journal.docs.filter((d) => d.id.startsWith('je_cap_')).map((d) => d.id);
    const succeeded = intents.filter((p) => p.status === 'succeeded');
    const balance = async (code: Parameters<typeof paymentAccountId>[0]) => (await getBalance(stack.services.ledger, tenantId, paymentAccountId(code, 'EUR'), null)).balance;
    const payable = await balance('merchant_payable');
    const fee = await balance('platform_fee_revenue');
    const receivables = [await balance('psp_receivable:stripe'), await balance('psp_receivable:adyen')];
    const debits = receivables.reduce((a, b) => a + b.postedDebitsMinor, 0n);
    const credits = payable.postedCreditsMinor + fee.postedCreditsMinor;
    const capturedMinor = succeeded.reduce((a, p) => a + p.amountCapturedMinor, 0n);
    const feesMinor = succeeded.reduce((a, p) => a + p.platformFeeMinor, 0n);
    // Refunds: what each PSP refunded (its own books) against Tally's intent and ledger.
    const refundedMinor = intents.reduce((a, p) => a + p.amountRefundedMinor, 0n);
    let refundMismatches = 0;
    for (const p of intents) {
      const atPsp = p.psp === null || p.pspReference === null ? 0 : sandbox.control.refundedMinor(p.psp, p.pspReference) ?? 0;
      if (BigInt(atPsp) !== p.amountRefundedMinor) refundMismatches++;
    }
    const succeededRefunds = intents.flatMap((p) => p.refunds.filter((r) => r.status === 'succeeded').map((r) => r.id));
    const refundEntries = journal.docs.filter((d) => d.id.startsWith('je_ref_')).map((d) => d.id);
    const receivableNet = receivables.reduce((a, b) => a + b.postedDebitsMinor - b.postedCreditsMinor, 0n);

    const report = {
      payments: intents.length, storedPayments, oneCallRetries: oneCallRetries.length, oneCallErrorsReplayed, apiOutcomes: Object.fromEntries(apiOutcomes), crashesInjected: crashes, crashesLogged: crashLogLines,
      statuses: Object.fromEntries(byStatus), capturedAtPsp, capturedTwice, pspTallyMismatches: mismatched,
      captureEntries: captureEntries.length, ledgerDebitsMinor: debits.toString(), ledgerCreditsMinor: credits.toString(),
      refundsAttempted: toRefund.length, refundApiOutcomes: Object.fromEntries(refundOutcomes), refundsSucceeded: succeededRefunds.length,
      refundEntries: refundEntries.length, refundedMinor: refundedMinor.toString(), pspTallyRefundMismatches: refundMismatches,
      webhooksSent: sandbox.control.webhooks().length,
    };
    process.stdout.write(`chaos report: ${JSON.stringify(report)}\n`);
    if (process.env.DEBUG_CHAOS) {
      for (const p of intents.filter((x) => x.status === 'failed').slice(0, 2)) {
        process.stdout.write(`FAILED ${JSON.stringify({ attempts: p.attempts, route: p.route, psp: p.psp, ref: p.pspReference, lastErrorReason: p.lastErrorReason, declineReason: p.declineReason }, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}\n`);
      }
    }

    expect(intents).toHaveLength(paymentsTotal);
    expect(new Set(ids).size).toBe(paymentsTotal);
    expect(storedPayments).toBe(paymentsTotal);
    expect(crashes).toBeGreaterThan(0);
    // Crashes in requests are logged at ERROR; a crash inside webhook processing (the Pub/Sub
    // bridge retries it) is logged by the bridge instead, so the counts need not be equal.
    expect(crashLogLines).toBeLessThanOrEqual(crashes);
    expect(intents.filter((p) => p.status === 'processing' || p.unknownSinceMs !== null)).toEqual([]);
    // Automatic capture: nothing stays authorized-but-uncaptured once the janitor has run.
    expect(intents.filter((p) => p.status === 'requires_capture')).toEqual([]);
    expect(capturedTwice).toBe(0);
    expect(mismatched).toBe(0);
    expect(capturedAtPsp).toBe(succeeded.length);
    expect(new Set(captureEntries)).toEqual(new Set(succeeded.map((p) => `je_cap_${p.id}`)));
    expect(debits).toBe(credits);
    expect(debits).toBe(capturedMinor);
    expect(fee.postedCreditsMinor).toBe(feesMinor);
    // Every refund settled; each PSP refunded exactly what Tally recorded; one entry per refund.
    expect(intents.filter(refundsOpen)).toEqual([]);
    expect(refundMismatches).toBe(0);
    // Most refunds succeed, not counting those the API shed with UNAVAILABLE (the PSP's breaker open
    // under the chaos: nothing was done, which refundMismatches above checks). On a loaded machine
    // timeouts open the breaker far more often (92 of 124 shed in one run), and that is no defect.
    const shedRefunds = [...refundOutcomes].filter(([outcome]) => outcome.startsWith('ConnectError: [unavailable]')).reduce((n, [, count]) => n + count, 0);
    expect(succeededRefunds.length).toBeGreaterThan(0);
    expect(succeededRefunds.length).toBeGreaterThan((toRefund.length - shedRefunds) * 0.8);
    expect(new Set(refundEntries)).toEqual(new Set(succeededRefunds.map((id) => `je_ref_${id}`)));
    expect(receivableNet).toBe(capturedMinor - refundedMinor);
    // Liveness, not the point of the test (the point is above: nothing lost, every outcome agreed).
    // With 10% of PSP calls faulted most payments succeed: 0.8+ on a quiet machine. The 400 ms PSP
    // timeout also fires on a busy machine (324 of 500 succeeded at a load average of 21), so the
    // floor is one half: far below, the faults would be leaking through failover and the janitor.
    expect(succeeded.length).toBeGreaterThan(paymentsTotal * 0.5);
    expect((await owner.ledger.verifyChain({})).ok).toBe(true);
  }, 300_000);
});
