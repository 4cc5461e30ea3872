/**
 * The scheme-rejection test cards (test-cards.ts): which signed Adyen notifications they send, in
 * what order and with what times, how the existing webhook faults treat them, and what the
 * sandbox's oracles say afterwards. The Adyen wire runs in process with a frozen clock (events are
 * captured from its context), and once through the HTTP server to a local receiver for the faults.
 * Items are checked with the core's own verifier and normalizer, so the core accepts what is sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type AdyenNotificationItem, normalizeAdyenItem } from '../../functions/src/adapters/psp/adyen/transformers.js';
import { verifyAdyenItem } from '../../functions/src/adapters/psp/adyen/webhook-signature.js';
import { createAdyenWire } from './adyen-wire.js';
import { CardTokenVault } from './card-fields.js';
import { startSandboxPsp, type SandboxPsp } from './server.js';
import { adyenTestCard, stripeTestCard, testCards } from './test-cards.js';
import type { OutgoingWebhook } from './webhooks.js';
import type { ApiRequest, WireContext, WireProtocol } from './wire.js';

const hmacKeyHex = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const merchantAccount = 'TallyTestMerchant';
/** A frozen clock in the middle of a second: every spacing below comes from the cards, not from time passing. */
const frozenMs = Date.parse('2026-11-25T10:00:00.500Z');
const DEFERRED_STEPS_MAX = 100;

interface Item extends AdyenNotificationItem {
  eventCode: string;
  eventDate: string;
  pspReference: string;
  merchantReference: string;
  success: string;
  reason?: string;
  amount: { value: number; currency: string };
  additionalData: Record<string, string>;
}

function itemOf(body: string): Item {
  const parsed = JSON.parse(body) as { notificationItems: Array<{ NotificationRequestItem: Item }> };
  expect(parsed.notificationItems).toHaveLength(1);
  return parsed.notificationItems[0]!.NotificationRequestItem;
}

/** The Adyen wire with a captured context: `run()` runs the deferred modifications (bounded). */
function inProcessAdyen(nowMs: () => number = () => frozenMs) {
  const events: OutgoingWebhook[] = [];
  const deferred: Array<() => void> = [];
  const context: WireContext = { nowMs, baseUrl: () => 'http://sandbox.invalid', emit: (e) => events.push(e), defer: (fn) => deferred.push(fn) };
  const wire: WireProtocol = createAdyenWire({ context, clock: { nowMs }, hmacKeyHex, apiKey: undefined, merchantAccount, paymentsMax: 100, cardTokens: new CardTokenVault(10) });
  const call = (method: string, path: string, body: unknown = undefined): { status: number; json: Record<string, unknown> } => {
    const request: ApiRequest = { method, path, query: new URLSearchParams(), headers: { 'x-api-key': 'k' }, body: body === undefined ? '' : JSON.stringify(body) };
    const response = wire.handle(request).response;
    for (let i = 0; deferred.length > 0; i++) {
      if (i >= DEFERRED_STEPS_MAX) throw new Error('deferred work does not end');
      deferred.shift()!();
    }
    return { status: response.status, json: JSON.parse(response.body) as Record<string, unknown> };
  };
  const items = (): Item[] => events.map((e) => itemOf(e.render(nowMs()).body));
  return {
    wire, events, items,
    authorise(token: string, reference: string, value = 1_999, manual = true): string {
      const answer = call('POST', '/v71/payments', {
        merchantAccount, amount: { value, currency: 'EUR' }, reference, returnUrl: 'https://shop.example/return',
        paymentMethod: { type: 'scheme', storedPaymentMethodId: token }, ...(manual ? { additionalData: { manualCapture: 'true' } } : {}),
      });
      expect(answer.json.resultCode).toBe('Authorised');
      return answer.json.pspReference as string;
    },
    modify(pspReference: string, kind: 'captures' | 'refunds' | 'cancels', value: number, reference?: string) {
      return call('POST', `/v71/payments/${pspReference}/${kind}`, { merchantAccount, ...(kind === 'cancels' ? {} : { amount: { value, currency: 'EUR' } }), ...(reference === undefined ? {} : { reference }) });
    },
    lookup: (pspReference: string) => call('GET', `/_sandbox/adyen/payments/${pspReference}`).json,
  };
}

/** What the core makes of an item: its signature must verify and its event code must be one it acts on. */
function normalized(item: Item) {
  verifyAdyenItem(item, [hmacKeyHex]);
  const event = normalizeAdyenItem(item);
  expect(event).not.toBeNull();
  return event!;
}

function expectStrictlyLater(items: readonly Item[]): void {
  const seconds = items.map((i) => Date.parse(i.eventDate) / 1000);
  for (const s of seconds) expect(Number.isInteger(s)).toBe(true);
  for (let i = 1; i < seconds.length; i++) expect(seconds[i]).toBeGreaterThan(seconds[i - 1]!);
}

describe('scheme-rejection cards: the table', () => {
  it('has each card once, with a Stripe token that behaves as an approval', () => {
    for (const token of ['adyen_scheme_rejects_capture', 'adyen_scheme_recaptures', 'adyen_scheme_rejects_refund']) {
      const card = adyenTestCard(token);
      expect(card?.behaviour.kind).toBe('scheme_rejection');
      expect(stripeTestCard(card!.stripeTokens[0]!)).toBe(card);
      expect(testCards.filter((c) => c.adyenToken === token)).toHaveLength(1);
    }
    expect(adyenTestCard('adyen_scheme_recaptures')?.behaviour).toMatchObject({ rejection: { modification: 'captures', retryReason: 'Transaction Recaptured' } });
  });
});

describe('scheme-rejection cards: Adyen notifications and oracles', () => {
  it('adyen_scheme_rejects_capture: CAPTURE true, then CAPTURE_FAILED true, each a second later; the payment is left uncaptured and cancelable', () => {
    const adyen = inProcessAdyen();
    const psp = adyen.authorise('adyen_scheme_rejects_capture', 'pay_rej1');
    const capture = adyen.modify(psp, 'captures', 1_999, 'pay_rej1');
    expect(capture).toMatchObject({ status: 201, json: { status: 'received', paymentPspReference: psp } });
    const items = adyen.items();
    expect(items.map((i) => `${i.eventCode}:${i.success}`)).toEqual(['AUTHORISATION:true', 'CAPTURE:true', 'CAPTURE_FAILED:true']);
    expectStrictlyLater(items);
    // Nothing is dated before the clock: the first event carries the clock's second.
    expect(items[0]!.eventDate).toBe('2026-11-25T10:00:00Z');
    const [, confirmed, rejected] = items;
    expect(confirmed).toMatchObject({ pspReference: capture.json.pspReference, originalReference: psp, merchantReference: 'pay_rej1', amount: { value: 1_999, currency: 'EUR' } });
    expect(rejected).toMatchObject({ pspReference: capture.json.pspReference, originalReference: psp, merchantReference: 'pay_rej1', amount: { value: 1_999, currency: 'EUR' }, reason: 'Capture rejected by card scheme because of a technical issue' });
    expect(items.slice(1).map((i) => normalized(i))).toMatchObject([
      { action: 'captured', paymentId: 'pay_rej1', pspReference: psp, amountMinor: 1_999n },
      { action: 'capture_failed', paymentId: 'pay_rej1', pspReference: psp, amountMinor: 1_999n },
    ]);
    // The sandbox's record is the final truth: authorised, nothing captured.
    expect(adyen.lookup(psp)).toMatchObject({ status: 'Authorised', capturedValue: 0, refundedValue: 0 });
    expect(adyen.wire.refundedMinor(psp)).toBe(0);
    // Not captured, so a refund fails and a cancel succeeds, each dated after the rejection.
    adyen.modify(psp, 'refunds', 100, 'pay_rej1/re_1');
    adyen.modify(psp, 'cancels', 0);
    const later = adyen.items().slice(3);
    expect(later.map((i) => `${i.eventCode}:${i.success}`)).toEqual(['REFUND:false', 'CANCELLATION:true']);
    expectStrictlyLater(adyen.items());
    expect(adyen.lookup(psp)).toMatchObject({ status: 'Cancelled', capturedValue: 0 });
  });

  it('adyen_scheme_recaptures: then a further CAPTURE true, Transaction Recaptured, under its own pspReference; the payment is captured and refundable', () => {
    const adyen = inProcessAdyen();
    const psp = adyen.authorise('adyen_scheme_recaptures', 'pay_rec1');
    const capture = adyen.modify(psp, 'captures', 1_999);
    const items = adyen.items();
    expect(items.map((i) => `${i.eventCode}:${i.success}:${i.reason ?? ''}`)).toEqual([
      'AUTHORISATION:true:',
      'CAPTURE:true:',
      'CAPTURE_FAILED:true:Capture rejected by card scheme because of a technical issue',
      'CAPTURE:true:Transaction Recaptured',
    ]);
    expectStrictlyLater(items);
    const recapture = items[3]!;
    expect(recapture.pspReference).toMatch(/^[0-9A-F]{16}$/);
    expect(recapture.pspReference).not.toBe(capture.json.pspReference);
    expect(recapture).toMatchObject({ originalReference: psp, merchantReference: 'pay_rec1', amount: { value: 1_999, currency: 'EUR' } });
    const events = items.slice(1).map((i) => normalized(i));
    expect(events.map((e) => e.action)).toEqual(['captured', 'capture_failed', 'captured']);
    // Three distinct notifications for a receiver that deduplicates by identity.
    expect(new Set(events.map((e) => e.pspEventId)).size).toBe(3);
    expect(new Set(adyen.events.map((e) => e.eventId)).size).toBe(4);
    expect(adyen.lookup(psp)).toMatchObject({ status: 'Authorised', capturedValue: 1_999 });
    // Refunds of this card are ordinary.
    adyen.modify(psp, 'refunds', 500, 'pay_rec1/re_1');
    expect(adyen.items().slice(4).map((i) => `${i.eventCode}:${i.success}`)).toEqual(['REFUND:true']);
    expect(adyen.wire.refundedMinor(psp)).toBe(500);
  });

  it('adyen_scheme_rejects_refund: captures normally; each refund sends REFUND true then REFUND_FAILED true and does not count as refunded', () => {
    const adyen = inProcessAdyen();
    const psp = adyen.authorise('adyen_scheme_rejects_refund', 'pay_rrf1');
    adyen.modify(psp, 'captures', 1_999);
    expect(adyen.items().map((i) => `${i.eventCode}:${i.success}`)).toEqual(['AUTHORISATION:true', 'CAPTURE:true']);
    expect(adyen.lookup(psp)).toMatchObject({ capturedValue: 1_999 });

    const refund = adyen.modify(psp, 'refunds', 700, 'pay_rrf1/re_1');
    expect(refund).toMatchObject({ status: 201, json: { status: 'received', reference: 'pay_rrf1/re_1' } });
    const [confirmed, rejected] = adyen.items().slice(2);
    expect([confirmed, rejected].map((i) => `${i?.eventCode}:${i?.success}`)).toEqual(['REFUND:true', 'REFUND_FAILED:true']);
    expect(rejected).toMatchObject({
      pspReference: refund.json.pspReference, originalReference: psp, merchantReference: 'pay_rrf1/re_1',
      amount: { value: 700, currency: 'EUR' }, reason: 'Refund rejected by card scheme because of a technical issue',
    });
    expect([normalized(confirmed!), normalized(rejected!)]).toMatchObject([
      { action: 'refunded', refundId: 're_1', paymentId: 'pay_rrf1', pspReference: psp, amountMinor: 700n },
      { action: 'refund_failed', refundId: 're_1', paymentId: 'pay_rrf1', pspReference: psp, amountMinor: 700n },
    ]);
    expect(adyen.wire.refundedMinor(psp)).toBe(0);
    expect(adyen.lookup(psp)).toMatchObject({ capturedValue: 1_999, refundedValue: 0 });

    // The amount is refundable again (the whole capture, even): and rejected again.
    adyen.modify(psp, 'refunds', 1_999, 'pay_rrf1/re_2');
    expect(adyen.items().slice(4).map((i) => `${i.eventCode}:${i.success}:${i.merchantReference}`)).toEqual(['REFUND:true:pay_rrf1/re_2', 'REFUND_FAILED:true:pay_rrf1/re_2']);
    expectStrictlyLater(adyen.items());
    expect(adyen.wire.refundedMinor(psp)).toBe(0);
  });

  it('an automatic capture of a capture card is rejected the same way, after its AUTHORISATION', () => {
    const adyen = inProcessAdyen();
    const psp = adyen.authorise('adyen_scheme_rejects_capture', 'pay_auto1', 1_000, false);
    expect(adyen.items().map((i) => i.eventCode)).toEqual(['AUTHORISATION', 'CAPTURE', 'CAPTURE_FAILED']);
    expectStrictlyLater(adyen.items());
    expect(adyen.lookup(psp)).toMatchObject({ status: 'Authorised', capturedValue: 0 });
  });

  it('dates follow the clock once it has passed the last event, and never go back', () => {
    let nowMs = frozenMs;
    const adyen = inProcessAdyen(() => nowMs);
    const psp = adyen.authorise('adyen_scheme_recaptures', 'pay_clk1');
    adyen.modify(psp, 'captures', 1_999);
    expect(adyen.items().map((i) => i.eventDate)).toEqual(['2026-11-25T10:00:00Z', '2026-11-25T10:00:01Z', '2026-11-25T10:00:02Z', '2026-11-25T10:00:03Z']);
    nowMs = frozenMs + 1_000; // behind the last event (10:00:03): the next one is still later
    adyen.modify(psp, 'refunds', 100, 'pay_clk1/re_1');
    nowMs = frozenMs + 60_000;
    adyen.modify(psp, 'refunds', 100, 'pay_clk1/re_2');
    expect(adyen.items().slice(4).map((i) => i.eventDate)).toEqual(['2026-11-25T10:00:04Z', '2026-11-25T10:01:00Z']);
  });

  it('other cards keep the clock time: their events may share a second, as before', () => {
    const adyen = inProcessAdyen();
    const psp = adyen.authorise('adyen_success', 'pay_ok1');
    adyen.modify(psp, 'captures', 1_999);
    expect(adyen.items().map((i) => i.eventDate)).toEqual(['2026-11-25T10:00:00Z', '2026-11-25T10:00:00Z']);
  });
});

describe('scheme-rejection cards: webhook faults apply to every notification of the sequence', () => {
  const received: Item[] = [];
  let receiver: http.Server;
  let sandbox: SandboxPsp;

  async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
    const response = await fetch(`${sandbox.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'k' }, body: JSON.stringify(body) });
    return (await response.json()) as Record<string, unknown>;
  }

  /** An authorised manual-capture payment, its AUTHORISATION delivered; returns its pspReference. */
  async function authorised(token: string, reference: string): Promise<string> {
    const answer = await post('/v71/payments', {
      merchantAccount, amount: { value: 1_999, currency: 'EUR' }, reference, returnUrl: 'https://shop.example/return',
      paymentMethod: { type: 'scheme', storedPaymentMethodId: token }, additionalData: { manualCapture: 'true' },
    });
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    received.length = 0;
    return answer.pspReference as string;
  }

  const capture = (psp: string) => post(`/v71/payments/${psp}/captures`, { merchantAccount, amount: { value: 1_999, currency: 'EUR' } });
  const codes = () => received.map((i) => `${i.eventCode}:${i.reason ?? ''}`);

  async function lookup(psp: string): Promise<Record<string, unknown>> {
    return (await (await fetch(`${sandbox.url}/_sandbox/adyen/payments/${psp}`, { headers: { 'x-api-key': 'k' } })).json()) as Record<string, unknown>;
  }

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(itemOf(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(200).end('[accepted]');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as AddressInfo;
    sandbox = await startSandboxPsp({
      webhookTargets: { adyen: `http://127.0.0.1:${port}/adyen` }, stripeWebhookSecret: 'whsec_test', adyenHmacKeyHex: hmacKeyHex, adyenMerchantAccount: merchantAccount,
      // One delivery at a time: arrival order is send order, which the order checks rely on.
      limits: { webhooks: { concurrencyMax: 1, retryDelayMsBase: 10, retryDelayMsMax: 50 } },
    });
  });

  afterAll(async () => {
    await sandbox?.stop();
    await new Promise<void>((resolve) => { receiver?.close(() => resolve()); receiver?.closeAllConnections(); });
  });

  beforeEach(() => {
    sandbox.control.reset();
    received.length = 0;
  });

  it('Stripe captures and refunds these cards normally', async () => {
    const stripe = async (path: string, form: Record<string, string>): Promise<Record<string, unknown>> => {
      const response = await fetch(`${sandbox.url}/v1/${path}`, { method: 'POST', headers: { authorization: 'Bearer sk_test_x', 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
      return (await response.json()) as Record<string, unknown>;
    };
    for (const token of ['pm_card_sandboxSchemeRejectsCapture', 'pm_card_sandboxSchemeRecaptures', 'pm_card_sandboxSchemeRejectsRefund']) {
      const pi = await stripe('payment_intents', { amount: '1000', currency: 'eur', payment_method: token, confirm: 'true', capture_method: 'manual' });
      expect(pi.status).toBe('requires_capture');
      expect((await stripe(`payment_intents/${String(pi.id)}/capture`, {})).status).toBe('succeeded');
      expect((await stripe('refunds', { payment_intent: String(pi.id), amount: '400' })).status).toBe('succeeded');
      expect(sandbox.control.refundedMinor('stripe', String(pi.id))).toBe(400);
    }
  });

  it('in order without faults, each signed', async () => {
    const psp = await authorised('adyen_scheme_recaptures', 'pay_f0');
    await capture(psp);
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    expect(codes()).toEqual(['CAPTURE:', 'CAPTURE_FAILED:Capture rejected by card scheme because of a technical issue', 'CAPTURE:Transaction Recaptured']);
    for (const item of received) verifyAdyenItem(item, [hmacKeyHex]);
    expectStrictlyLater(received);
  });

  it('duplicated: every notification twice, the same body each time', async () => {
    const psp = await authorised('adyen_scheme_rejects_capture', 'pay_f1');
    sandbox.control.setFaults({ adyen: { webhookDuplicateRate: 1 } });
    await capture(psp);
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    expect(codes().sort()).toEqual(['CAPTURE:', 'CAPTURE:', 'CAPTURE_FAILED:Capture rejected by card scheme because of a technical issue', 'CAPTURE_FAILED:Capture rejected by card scheme because of a technical issue']);
    for (const code of ['CAPTURE', 'CAPTURE_FAILED']) {
      const copies = received.filter((i) => i.eventCode === code).map((i) => JSON.stringify(i));
      expect(copies).toHaveLength(2);
      expect(copies[0]).toBe(copies[1]);
    }
    expect(sandbox.control.webhooks('adyen').filter((w) => w.duplicate && w.outcome === 'delivered')).toHaveLength(2);
  });

  it('reorder window: the sequence arrives newest first, its dates still telling the true order', async () => {
    const psp = await authorised('adyen_scheme_recaptures', 'pay_f2');
    sandbox.control.setFaults({ adyen: { webhookReorderWindow: 3 } });
    await capture(psp);
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    expect(codes()).toEqual(['CAPTURE:Transaction Recaptured', 'CAPTURE_FAILED:Capture rejected by card scheme because of a technical issue', 'CAPTURE:']);
    expectStrictlyLater([...received].reverse());
  });

  it('held events go out a few at a time with max: oldest first (fifo) or newest first; a duplicate is held right after its original', async () => {
    const psp = await authorised('adyen_scheme_recaptures', 'pay_f4');
    sandbox.control.setFaults({ adyen: { webhookHold: true } });
    await capture(psp);
    expect(sandbox.control.heldWebhooks('adyen')).toBe(3);
    expect(sandbox.control.releaseWebhooks('adyen', 'fifo', 1)).toBe(1);
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    expect(codes()).toEqual(['CAPTURE:']);
    expect((await post('/_control/webhooks/release', { psp: 'adyen', max: 1 })).released).toBe(1);
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    expect(codes()).toEqual(['CAPTURE:', 'CAPTURE:Transaction Recaptured']);
    expect(sandbox.control.heldWebhooks('adyen')).toBe(1);
    expect(() => sandbox.control.releaseWebhooks('adyen', 'fifo', 0)).toThrow(/max/);
    expect((await fetch(`${sandbox.url}/_control/webhooks/release`, { method: 'POST', body: JSON.stringify({ max: 'one' }) })).status).toBe(400);
    expect(sandbox.control.releaseWebhooks('adyen', 'fifo', 5)).toBe(1);
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    expect(codes()).toEqual(['CAPTURE:', 'CAPTURE:Transaction Recaptured', 'CAPTURE_FAILED:Capture rejected by card scheme because of a technical issue']);

    sandbox.control.setFaults({ adyen: { webhookHold: false } });
    const other = await authorised('adyen_scheme_rejects_capture', 'pay_f5');
    sandbox.control.setFaults({ adyen: { webhookHold: true, webhookDuplicateRate: 1 } });
    await capture(other);
    expect(sandbox.control.heldWebhooks('adyen')).toBe(4);
    expect(sandbox.control.releaseWebhooks('adyen', 'fifo', 2)).toBe(2);
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    expect(codes()).toEqual(['CAPTURE:', 'CAPTURE:']);
  });

  it('held, then released; dropped: nothing arrives, and the oracles tell the truth all along', async () => {
    const psp = await authorised('adyen_scheme_rejects_refund', 'pay_f3');
    await capture(psp);
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    received.length = 0;
    sandbox.control.setFaults({ adyen: { webhookHold: true } });
    await post(`/v71/payments/${psp}/refunds`, { merchantAccount, amount: { value: 500, currency: 'EUR' }, reference: 'pay_f3/re_1' });
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    expect(received).toHaveLength(0);
    expect(sandbox.control.heldWebhooks('adyen')).toBe(2);
    // The verdict is known before any webhook is out.
    expect(sandbox.control.refundedMinor('adyen', psp)).toBe(0);
    expect(await lookup(psp)).toMatchObject({ capturedValue: 1_999, refundedValue: 0 });
    expect(sandbox.control.releaseWebhooks('adyen', 'fifo')).toBe(2);
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    expect(codes()).toEqual(['REFUND:', 'REFUND_FAILED:Refund rejected by card scheme because of a technical issue']);

    received.length = 0;
    sandbox.control.setFaults({ adyen: { webhookHold: false, webhookDropRate: 1 } });
    await post(`/v71/payments/${psp}/refunds`, { merchantAccount, amount: { value: 500, currency: 'EUR' }, reference: 'pay_f3/re_2' });
    expect(await sandbox.control.webhooksIdle(5_000)).toBe(true);
    expect(received).toHaveLength(0);
    expect(sandbox.control.webhooks('adyen').filter((w) => w.outcome === 'dropped').map((w) => w.type)).toEqual(['REFUND', 'REFUND_FAILED']);
    expect(sandbox.control.refundedMinor('adyen', psp)).toBe(0);
    const refunded = await fetch(`${sandbox.url}/_control/refunded?psp=adyen&id=${psp}`);
    expect(await refunded.json()).toMatchObject({ refundedMinor: 0 });
  });
});
