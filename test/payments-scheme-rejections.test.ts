/**
 * Card scheme rejections end to end (ADR 0013): the real API and Adyen connector, the sandbox PSP's
 * scheme-rejection cards over HTTP, signed webhooks through /webhooks/adyen into the inbox, Pub/Sub
 * (emulator) into processPspEvent, the ledger. A capture or refund Adyen confirmed (CAPTURE /
 * REFUND success=true) is rejected later by the card scheme (CAPTURE_FAILED / REFUND_FAILED), and
 * a capture may be re-captured by Adyen itself.
 *
 * At Adyen a rejection comes hours or days after the confirmation; the sandbox sends the whole
 * sequence at once. So every scenario holds the PSP's webhooks while the command runs (its answer
 * is recorded first, as it would be), checks that state, then lets the held notifications through
 * in one of several ways (`deliveries`): in PSP order or newest first, one event at a time (each
 * processed before the next is released), duplicated, or all at once. The end state must be the
 * same in every way.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { paymentAccountId, paymentAnomalyMessage } from '../functions/src/app/payments/index.js';
import { adyenHmacSignature } from '../emulators/sandbox-psp/signing.js';
import { CaptureMethod, type Payment, PaymentStatus } from '../functions/src/gen/tally/payments/v1/payments_pb.js';
import type { TallyClient } from '../functions/src/cli/client.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';
import { eventually } from './support/eventually.js';

let env: PaymentsStack;
beforeAll(async () => { env = await startPaymentsStack(); }, 120_000);
afterAll(async () => { await env?.close(); });
// Faults off and held webhooks forgotten, whatever a failed test left behind.
afterEach(() => { env?.sandbox.control.reset(); });

const key = () => randomUUID();
const AMOUNT_MINOR = 3_000n;
/** The figures one capture of 3 000 EUR posts (fee 2.9 %): receivable debit, payable and fee revenue credits. */
const CAPTURED = { receivable: 3_000n, payable: 2_913n, fee: 87n };
const NOTHING = { receivable: 0n, payable: 0n, fee: 0n };
const POLL_MS = 100;
// A duplicated event makes two processings of it contend, and the loser retries after a backoff
// (about 2 s here): waits are bounded generously, and so is each test (several waits in a row).
const WAIT_MS_MAX = 20_000;
const IDLE_MS_MAX = 5_000;
const TEST_MS_MAX = 120_000;

/** How the held notifications of a command reach the core. */
interface Delivery {
  name: string;
  /** Every notification sent twice (`webhookDuplicateRate: 1`). */
  duplicate: boolean;
  /** `fifo`: the order the PSP sent them; `reverse`: newest first (the sandbox's reordering). */
  order: 'fifo' | 'reverse';
  /** All released together (processed in any order) instead of one event at a time. */
  burst: boolean;
}

const deliveries: readonly Delivery[] = [
  { name: 'in PSP order, one event at a time', duplicate: false, order: 'fifo', burst: false },
  { name: 'duplicated (webhookDuplicateRate 1), in PSP order', duplicate: true, order: 'fifo', burst: false },
  { name: 'reordered newest first, one event at a time', duplicate: false, order: 'reverse', burst: false },
  { name: 'all at once, newest first and duplicated', duplicate: true, order: 'reverse', burst: true },
];

/** Reads until `done` holds (and returns that value); fails at `timeoutMs` showing the last value read. */
function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = WAIT_MS_MAX): Promise<T> {
  return eventually(async () => {
    const value = await read();
    if (!done(value)) throw new Error(`not there yet: ${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
    return value;
  }, { timeoutMs, intervalMs: POLL_MS });
}

async function getPayment(owner: TallyClient, paymentId: string): Promise<Payment> {
  return (await owner.payments.getPayment({ paymentId })).payment!;
}

function waitForPayment(owner: TallyClient, paymentId: string, done: (p: Payment) => boolean): Promise<Payment> {
  return waitFor(() => getPayment(owner, paymentId), done);
}

async function figures(tenantId: string): Promise<{ receivable: bigint; payable: bigint; fee: bigint }> {
  const { getBalance } = await import('../functions/src/app/ledger/ledger-use-cases.js');
  const balance = async (code: Parameters<typeof paymentAccountId>[0]) => (await getBalance(env.stack.services.ledger, tenantId, paymentAccountId(code, 'EUR'), null)).balance;
  const [receivable, payable, fee] = await Promise.all([balance('psp_receivable:adyen'), balance('merchant_payable'), balance('platform_fee_revenue')]);
  return {
    receivable: receivable.postedDebitsMinor - receivable.postedCreditsMinor,
    payable: payable.postedCreditsMinor - payable.postedDebitsMinor,
    fee: fee.postedCreditsMinor - fee.postedDebitsMinor,
  };
}

/** The tenant's journal entry ids, sorted. */
async function journal(tenantId: string): Promise<string[]> {
  return (await env.stack.services.db.collection(`tenants/${tenantId}/journal`).get()).docs.map((d) => d.id).sort();
}

/** How many of the tenant's inbox events exist, and how many of them are processed. */
async function inbox(tenantId: string): Promise<{ stored: number; processed: number }> {
  const docs = (await env.stack.services.db.collection(`tenants/${tenantId}/inbox`).get()).docs;
  return { stored: docs.length, processed: docs.filter((d) => d.get('processedAt') !== null).length };
}

/** Waits until exactly `count` inbox events are stored and all of them processed. */
async function waitForInbox(tenantId: string, count: number): Promise<void> {
  const state = await waitFor(() => inbox(tenantId), (s) => s.stored === count && s.processed === count);
  expect(state).toEqual({ stored: count, processed: count });
}

/** What the sandbox PSP itself recorded for the payment (its sandbox-only lookup). */
async function pspRecord(pspReference: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${env.sandbox.url}/_sandbox/adyen/payments/${pspReference}`, { headers: { 'x-api-key': 'adyen-test-key' } });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

/**
 * A new tenant routed to Adyen, and a manual-capture payment of 3 000 EUR with `token`, authorized,
 * its AUTHORISATION webhook processed.
 */
async function authorized(token: string): Promise<{ tenantId: string; owner: TallyClient; paymentId: string; pspReference: string }> {
  const { tenantId, owner } = await env.stack.newTenant();
  await owner.payments.setRoutingRules({ rules: [{ choices: [{ psp: 'adyen', weight: 1 }] }], idempotencyKey: key() });
  const pm = (await owner.payments.createPaymentMethod({ pspTokens: { adyen: token }, brand: 'visa', country: 'NL', last4: '4242', idempotencyKey: key() })).paymentMethod!.id;
  const created = (await owner.payments.createPayment({ amountMinor: AMOUNT_MINOR, currency: 'EUR', paymentMethodId: pm, captureMethod: CaptureMethod.MANUAL, idempotencyKey: key() })).payment!;
  const confirmed = (await owner.payments.confirmPayment({ paymentId: created.id, idempotencyKey: key() })).payment!;
  expect(confirmed).toMatchObject({ status: PaymentStatus.REQUIRES_CAPTURE, amountCapturableMinor: AMOUNT_MINOR });
  expect(await env.sandbox.control.webhooksIdle(IDLE_MS_MAX)).toBe(true);
  await waitForInbox(tenantId, 1);
  return { tenantId, owner, paymentId: created.id, pspReference: confirmed.pspReference };
}

/** Holds every Adyen webhook from now on (duplicated too for such a delivery), until `deliverHeld`. */
function holdWebhooks(delivery: Delivery): void {
  env.sandbox.control.setFaults({ adyen: { webhookHold: true, webhookDuplicateRate: delivery.duplicate ? 1 : 0 } });
}

/**
 * Lets the `events` held notifications through as `delivery` says and waits until the core has
 * processed them all. One event at a time: each is processed before the next is released, and
 * `afterStep(n)` runs after the n-th (1-based, in release order). Later webhooks are no longer
 * held; duplication stays on until the test ends.
 */
async function deliverHeld(tenantId: string, delivery: Delivery, events: number, afterStep: (step: number) => Promise<void> = async () => {}): Promise<void> {
  const copies = delivery.duplicate ? 2 : 1;
  expect(env.sandbox.control.heldWebhooks('adyen')).toBe(events * copies);
  const before = (await inbox(tenantId)).stored;
  env.sandbox.control.setFaults({ adyen: { webhookHold: false } });
  if (delivery.burst) {
    expect(env.sandbox.control.releaseWebhooks('adyen', delivery.order)).toBe(events * copies);
    expect(await env.sandbox.control.webhooksIdle(IDLE_MS_MAX)).toBe(true);
    await waitForInbox(tenantId, before + events);
    return;
  }
  for (let step = 1; step <= events; step++) {
    // A duplicated event is held as two, right after each other: both copies go together.
    expect(env.sandbox.control.releaseWebhooks('adyen', delivery.order, copies)).toBe(copies);
    expect(await env.sandbox.control.webhooksIdle(IDLE_MS_MAX)).toBe(true);
    await waitForInbox(tenantId, before + step);
    await afterStep(step);
  }
  const duplicates = env.sandbox.control.webhooks('adyen').filter((w) => w.duplicate && w.outcome === 'delivered');
  expect(duplicates.length > 0).toBe(delivery.duplicate);
}

/** True for the delivery that lets the events through one by one in the order the PSP sent them. */
const stepwiseInOrder = (delivery: Delivery): boolean => delivery.order === 'fifo' && !delivery.burst;

describe.each(deliveries)('Adyen scheme rejections, webhooks $name', (delivery) => {
  it('a confirmed capture rejected by the scheme is unwound: REQUIRES_CAPTURE again, ledger back to zero, then cancelable', async () => {
    const { tenantId, owner, paymentId, pspReference } = await authorized('adyen_scheme_rejects_capture');
    holdWebhooks(delivery);
    const answered = (await owner.payments.capturePayment({ paymentId, idempotencyKey: key() })).payment!;
    expect(answered).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: AMOUNT_MINOR });
    expect(await figures(tenantId)).toEqual(CAPTURED);
    expect(await journal(tenantId)).toEqual([`je_cap_${paymentId}`]);

    // CAPTURE success=true, then CAPTURE_FAILED.
    await deliverHeld(tenantId, delivery, 2, async (step) => {
      if (!stepwiseInOrder(delivery)) return;
      const expected = step === 1 ? PaymentStatus.SUCCEEDED : PaymentStatus.REQUIRES_CAPTURE;
      expect((await getPayment(owner, paymentId)).status).toBe(expected);
      if (step === 1) {
        const stored = await env.stack.services.payments.store.getPayment(tenantId, paymentId);
        expect(stored?.attempts.find((a) => a.operation === 'capture')).toMatchObject({ outcome: 'captured', provisional: false });
      }
    });

    const back = await waitForPayment(owner, paymentId, (p) => p.status === PaymentStatus.REQUIRES_CAPTURE);
    expect(back).toMatchObject({ status: PaymentStatus.REQUIRES_CAPTURE, amountCapturableMinor: AMOUNT_MINOR, amountCapturedMinor: 0n });
    expect(await figures(tenantId)).toEqual(NOTHING);
    expect(await journal(tenantId)).toEqual([`je_cap_${paymentId}`, `je_capr_${paymentId}`]);
    // The core agrees with the PSP: authorised, nothing captured.
    expect(await pspRecord(pspReference)).toMatchObject({ status: 'Authorised', capturedValue: 0 });

    await owner.payments.cancelPayment({ paymentId, idempotencyKey: key() });
    const canceled = await waitForPayment(owner, paymentId, (p) => p.status === PaymentStatus.CANCELED);
    expect(canceled).toMatchObject({ status: PaymentStatus.CANCELED, amountCapturedMinor: 0n });
    expect(await figures(tenantId)).toEqual(NOTHING);
    expect(await pspRecord(pspReference)).toMatchObject({ status: 'Cancelled', capturedValue: 0 });
  }, TEST_MS_MAX);

  it('a capture rejected by the scheme and re-captured by Adyen ends SUCCEEDED with exactly one capture in the ledger', async () => {
    const { tenantId, owner, paymentId, pspReference } = await authorized('adyen_scheme_recaptures');
    holdWebhooks(delivery);
    const answered = (await owner.payments.capturePayment({ paymentId, idempotencyKey: key() })).payment!;
    expect(answered).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: AMOUNT_MINOR });
    expect(await figures(tenantId)).toEqual(CAPTURED);

    // CAPTURE success=true, CAPTURE_FAILED, CAPTURE success=true (Transaction Recaptured).
    await deliverHeld(tenantId, delivery, 3, async (step) => {
      if (!stepwiseInOrder(delivery)) return;
      const expected = [PaymentStatus.SUCCEEDED, PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.SUCCEEDED][step - 1];
      expect((await getPayment(owner, paymentId)).status).toBe(expected);
    });

    const done = await waitForPayment(owner, paymentId, (p) => p.status === PaymentStatus.SUCCEEDED && p.amountCapturedMinor === AMOUNT_MINOR);
    expect(done).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: AMOUNT_MINOR, amountCapturableMinor: 0n });
    expect(await figures(tenantId)).toEqual(CAPTURED);
    const entries = await journal(tenantId);
    const detour = [`je_cap2_${paymentId}`, `je_cap_${paymentId}`, `je_capr_${paymentId}`];
    if (stepwiseInOrder(delivery)) {
      expect(entries).toEqual(detour);
    } else if (!delivery.burst) {
      // Newest first: the re-capture confirms the capture before the rejection it follows arrives,
      // which is then older than what the payment knows: same money, no detour (ADR 0013).
      expect(entries).toEqual([`je_cap_${paymentId}`]);
    } else {
      // Processed in any order: one shape or the other, never anything else.
      expect([[`je_cap_${paymentId}`], detour]).toContainEqual(entries);
    }
    expect(await pspRecord(pspReference)).toMatchObject({ status: 'Authorised', capturedValue: 3_000 });
  }, TEST_MS_MAX);

  it('a confirmed refund rejected by the scheme is reversed: the refund FAILED, the amount refundable again, the ledger back to the capture alone', async () => {
    const { tenantId, owner, paymentId, pspReference } = await authorized('adyen_scheme_rejects_refund');
    await owner.payments.capturePayment({ paymentId, idempotencyKey: key() });
    expect(await env.sandbox.control.webhooksIdle(IDLE_MS_MAX)).toBe(true);
    await waitForInbox(tenantId, 2); // AUTHORISATION, CAPTURE
    expect(await waitForPayment(owner, paymentId, (p) => p.status === PaymentStatus.SUCCEEDED)).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: AMOUNT_MINOR });
    expect(await figures(tenantId)).toEqual(CAPTURED);

    // 2 000 of 3 000: a second refund of 2 000 fits only if the first one's amount is refundable again.
    const refundOnce = async (): Promise<string> => {
      holdWebhooks(delivery);
      const answered = await owner.payments.refundPayment({ paymentId, amountMinor: 2_000n, idempotencyKey: key() });
      expect(answered.refund).toMatchObject({ amountMinor: 2_000n, status: 'succeeded' });
      expect(answered.payment?.amountRefundedMinor).toBe(2_000n);
      const refundId = answered.refund!.id;
      expect((await figures(tenantId)).receivable).toBe(1_000n);
      expect(await journal(tenantId)).toContain(`je_ref_${refundId}`);
      // REFUND success=true, then REFUND_FAILED.
      await deliverHeld(tenantId, delivery, 2, async (step) => {
        if (!stepwiseInOrder(delivery)) return;
        const refund = (await getPayment(owner, paymentId)).refunds.find((r) => r.id === refundId);
        expect(refund?.status).toBe(step === 1 ? 'succeeded' : 'failed');
      });
      const after = await waitForPayment(owner, paymentId, (p) => p.refunds.find((r) => r.id === refundId)?.status === 'failed');
      expect(after.refunds.find((r) => r.id === refundId)).toMatchObject({ amountMinor: 2_000n, status: 'failed' });
      expect(after).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: AMOUNT_MINOR, amountRefundedMinor: 0n });
      expect(await figures(tenantId)).toEqual(CAPTURED);
      expect(env.sandbox.control.refundedMinor('adyen', pspReference)).toBe(0);
      return refundId;
    };

    const first = await refundOnce();
    expect(await journal(tenantId)).toEqual([`je_cap_${paymentId}`, `je_ref_${first}`, `je_refr_${first}`]);
    // Issued again: accepted (this card has the scheme reject it again, and the ledger follows).
    const second = await refundOnce();
    expect(second).not.toBe(first);
    expect(await journal(tenantId)).toEqual([`je_cap_${paymentId}`, `je_ref_${first}`, `je_ref_${second}`, `je_refr_${first}`, `je_refr_${second}`].sort());
  }, TEST_MS_MAX);
});

describe('Adyen scheme rejections that can no longer be applied', () => {
  it('a capture rejected after it was refunded stays recorded and is logged once as a payment anomaly', async () => {
    const { tenantId, owner, paymentId, pspReference } = await authorized('adyen_success');
    await owner.payments.capturePayment({ paymentId, idempotencyKey: key() });
    await owner.payments.refundPayment({ paymentId, amountMinor: 1_000n, idempotencyKey: key() });
    expect(await env.sandbox.control.webhooksIdle(IDLE_MS_MAX)).toBe(true);
    await waitForInbox(tenantId, 3); // AUTHORISATION, CAPTURE, REFUND
    // The scheme's rejection of the capture, days later (the sandbox cannot reject a capture it
    // let be refunded): a CAPTURE_FAILED signed as Adyen signs it, over real HTTP.
    const fields = {
      pspReference: `R${randomUUID().replaceAll('-', '').slice(0, 15).toUpperCase()}`, originalReference: pspReference, merchantAccountCode: 'TallyTest',
      merchantReference: paymentId, amount: { value: Number(AMOUNT_MINOR), currency: 'EUR' }, eventCode: 'CAPTURE_FAILED', success: 'true',
    };
    const item = {
      ...fields, eventDate: new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      reason: 'Capture rejected by card scheme because of a technical issue',
      additionalData: { hmacSignature: adyenHmacSignature(fields, env.stack.services.config.adyen.hmacKeyHex) },
    };
    const logged: { message: string; fields: Record<string, unknown> }[] = [];
    const payments = env.stack.services.payments;
    const original = payments.logger;
    payments.logger = { ...original, error: (message, extra = {}) => { logged.push({ message, fields: extra }); original.error(message, extra); } };
    try {
      const response = await fetch(`${env.stack.url}/webhooks/adyen`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] }),
      });
      expect(response.status).toBe(200);
      await waitForInbox(tenantId, 4);
    } finally {
      payments.logger = original;
    }
    // The refund is built on the capture: unwinding it would mean unwinding the refund too.
    expect(await getPayment(owner, paymentId)).toMatchObject({ status: PaymentStatus.SUCCEEDED, amountCapturedMinor: AMOUNT_MINOR, amountRefundedMinor: 1_000n });
    expect((await figures(tenantId)).receivable).toBe(2_000n);
    const anomalies = logged.filter((l) => l.message === paymentAnomalyMessage);
    expect(anomalies).toHaveLength(1);
    expect(anomalies[0]!.fields).toMatchObject({ reason: 'contradicting_event', psp: 'adyen', paymentId, tenantId });
    expect(String(anomalies[0]!.fields.detail)).toContain('capture_failed');
  }, TEST_MS_MAX);
});
