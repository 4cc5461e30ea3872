/**
 * `tally payment ...` and `tally payment-method create` as users run them: `node bin/tally.mjs` in a
 * subprocess against the real API over HTTP, with both connectors pointed at the sandbox PSP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJson, runCli, type CliResult } from './support/cli-runner.js';
import { eventually } from './support/eventually.js';
import { startPaymentsStack, type PaymentsStack } from './support/payments-stack.js';

interface PaymentJson {
  id: string; status: string; psp?: string; amountMinor: string; currency: string; declineReason?: string;
  amountCapturableMinor?: string; amountCapturedMinor?: string; amountRefundedMinor?: string; metadata?: Record<string, string>;
}
interface CliErrorJson { error: { code: string; reason: string; message: string; metadata?: Record<string, string> } }

let payments: PaymentsStack;

/** Runs the CLI against the payments stack with the given key. */
const tally = (key: string, ...args: string[]): Promise<CliResult> => runCli(['--api-url', payments.stack.url, '--api-key', key, ...args]);

function parseError(result: CliResult): CliErrorJson['error'] {
  expect(result.code, `stdout: ${result.stdout} stderr: ${result.stderr}`).toBe(1);
  return (JSON.parse(result.stdout) as CliErrorJson).error;
}

/** A payment method with a token for one PSP only, so that routing has one choice. */
async function methodFor(key: string, psp: 'stripe' | 'adyen', token: string): Promise<string> {
  return parseJson<{ id: string }>(await tally(key, 'payment-method', 'create', `--${psp}`, token, '--brand', 'visa', '--json')).id;
}

beforeAll(async () => { payments = await startPaymentsStack(); });
afterAll(async () => { await payments.close(); });

describe.concurrent('tally payment CLI', () => {
  it('payment --help lists every payment command', async () => {
    const { stack } = payments;
    const result = await tally(stack.adminKey, 'payment', '--help');
    expect(result.code).toBe(0);
    for (const command of ['create', 'confirm', 'capture', 'cancel', 'refund', 'get', 'list']) expect(result.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
  });

  for (const [psp, token] of [['stripe', 'pm_card_visa'], ['adyen', 'adyen_success']] as const) {
    it(`takes, partly captures and partly refunds a ${psp} payment with amounts in major units`, async () => {
      const { ownerKey } = await payments.stack.newTenant(`CLI ${psp}`);
      const pm = await methodFor(ownerKey, psp, token);

      const authorized = parseJson<PaymentJson>(await tally(ownerKey, 'payment', 'create', '--amount', '25.00', '--currency', 'eur',
        '--payment-method', pm, '--capture', 'manual', '--confirm', '--json'));
      expect(authorized).toMatchObject({ status: 'PAYMENT_STATUS_REQUIRES_CAPTURE', psp, amountMinor: '2500', currency: 'EUR', amountCapturableMinor: '2500' });

      const captured = parseJson<PaymentJson>(await tally(ownerKey, 'payment', 'capture', authorized.id, '--amount', '20.00', '--json'));
      expect(captured).toMatchObject({ id: authorized.id, status: 'PAYMENT_STATUS_SUCCEEDED', amountCapturedMinor: '2000' });

      const refunded = parseJson<{ payment: PaymentJson; refund: { id: string; amountMinor: string; status: string } }>(
        await tally(ownerKey, 'payment', 'refund', authorized.id, '--amount', '5.5', '--json'));
      expect(refunded.refund).toMatchObject({ amountMinor: '550' });
      expect(refunded.refund.id).toMatch(/^re_/);
      // Adyen answers `received`: the REFUND webhook settles it a moment later.
      await eventually(async () => expect(parseJson<PaymentJson>(await tally(ownerKey, 'payment', 'get', authorized.id, '--json')).amountRefundedMinor).toBe('550'),
        { timeoutMs: 15_000, intervalMs: 300 });

      const human = await tally(ownerKey, 'payment', 'get', authorized.id);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toContain(`payment ${authorized.id} is: succeeded, 25.00 EUR via ${psp}`);
      expect(human.stdout).toMatch(/captured\s+20\.00 EUR/);
      expect(human.stdout).toMatch(/refunded\s+5\.50 EUR/);
      expect(human.stdout).toContain(`refund ${refunded.refund.id}  5.50 EUR  succeeded`);
    });
  }

  it('create --confirm with automatic capture succeeds; payment list shows it in a table and as JSON', async () => {
    const { ownerKey } = await payments.stack.newTenant('CLI list');
    const pm = await methodFor(ownerKey, 'stripe', 'pm_card_visa');
    const paid = parseJson<PaymentJson>(await tally(ownerKey, 'payment', 'create', '--amount', '1500', '--currency', 'JPY', '--payment-method', pm,
      '--metadata', 'order_id=1042', '--metadata', 'note=a=b', '--confirm', '--json'));
    expect(paid).toMatchObject({ status: 'PAYMENT_STATUS_SUCCEEDED', amountMinor: '1500', currency: 'JPY', amountCapturedMinor: '1500', metadata: { order_id: '1042', note: 'a=b' } });
    expect((await tally(ownerKey, 'payment', 'get', paid.id)).stdout).toMatch(/metadata\s+order_id=1042/);
    // Metadata changes after the payment succeeded: one key replaced, one removed.
    const updated = await tally(ownerKey, 'payment', 'update', paid.id, '--metadata', 'order_id=1043', '--metadata', 'note=');
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(new RegExp(`payment ${paid.id} updated: succeeded`));
    expect(updated.stdout).toMatch(/metadata\s+order_id=1043/);
    expect(updated.stdout).not.toMatch(/note=/);
    const open = parseJson<PaymentJson>(await tally(ownerKey, 'payment', 'create', '--amount', '3.10', '--currency', 'USD', '--json'));
    expect(open).toMatchObject({ status: 'PAYMENT_STATUS_REQUIRES_PAYMENT_METHOD', amountMinor: '310' });

    const listed = parseJson<PaymentJson[]>(await tally(ownerKey, 'payment', 'list', '--json'));
    expect(listed.map((p) => p.id)).toEqual([open.id, paid.id]);
    const table = await tally(ownerKey, 'payment', 'list');
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+STATUS\s+AMOUNT\s+PSP\s+CAPTURED\s+REFUNDED\b/);
    expect(rows.find((r) => r.startsWith(paid.id))).toMatch(/succeeded\s+1500 JPY\s+stripe\s+1500 JPY\s+0 JPY/);
    expect(rows.find((r) => r.startsWith(open.id))).toMatch(/requires_payment_method\s+3\.10 USD/);
    expect(parseJson<PaymentJson[]>(await tally(ownerKey, 'payment', 'list', '--limit', '1', '--json')).map((p) => p.id)).toEqual([open.id]);
  });

  it('cancel says what happened: canceled (Stripe), or requested and pending until the PSP answers (Adyen)', async () => {
    const { ownerKey } = await payments.stack.newTenant('CLI cancel');
    const viaStripe = await methodFor(ownerKey, 'stripe', 'pm_card_visa');
    const stripePayment = parseJson<PaymentJson>(await tally(ownerKey, 'payment', 'create', '--amount', '4.00', '--currency', 'EUR', '--payment-method', viaStripe, '--capture', 'manual', '--confirm', '--json'));
    const canceled = await tally(ownerKey, 'payment', 'cancel', stripePayment.id);
    expect(canceled.code, canceled.stderr).toBe(0);
    expect(canceled.stdout).toContain(`payment ${stripePayment.id} canceled: canceled`);
    expect(canceled.stdout).not.toContain('pending');
    const viaAdyen = await methodFor(ownerKey, 'adyen', 'adyen_success');
    const adyenPayment = parseJson<PaymentJson>(await tally(ownerKey, 'payment', 'create', '--amount', '4.00', '--currency', 'EUR', '--payment-method', viaAdyen, '--capture', 'manual', '--confirm', '--json'));
    const requested = await tally(ownerKey, 'payment', 'cancel', adyenPayment.id);
    expect(requested.code, requested.stderr).toBe(0);
    expect(requested.stdout).toContain(`payment ${adyenPayment.id} cancel requested: processing`);
    expect(requested.stdout).toContain(`pending     the PSP answers later; \`tally payment get ${adyenPayment.id}\` shows the outcome`);
  });

  it('a decline exits 1 with the normalized reason, and the payment shows it', async () => {
    const { ownerKey, owner } = await payments.stack.newTenant('CLI decline');
    const pm = await methodFor(ownerKey, 'stripe', 'pm_card_chargeDeclinedInsufficientFunds');
    const created = parseJson<PaymentJson>(await tally(ownerKey, 'payment', 'create', '--amount', '9.99', '--currency', 'EUR', '--payment-method', pm, '--json'));
    const error = parseError(await tally(ownerKey, 'payment', 'confirm', created.id, '--json'));
    expect(error).toMatchObject({ reason: 'INSUFFICIENT_FUNDS' });
    const { payment } = await owner.payments.getPayment({ paymentId: created.id });
    expect(payment?.declineReason).toBe('insufficient_funds');
    // A one-call checkout that is declined names the payment it created, for a confirm with another card.
    const checkout = await tally(ownerKey, 'payment', 'create', '--amount', '9.99', '--currency', 'EUR', '--payment-method', pm, '--confirm');
    expect(checkout.code).toBe(1);
    const named = /error: .*INSUFFICIENT_FUNDS.*\(payment (pay_\S+)\)/.exec(checkout.stderr)?.[1];
    expect(named).toBeDefined();
    expect((await owner.payments.getPayment({ paymentId: named! })).payment?.declineReason).toBe('insufficient_funds');
  });

  it('bad input is refused with a typed error and changes nothing', async () => {
    const { ownerKey, owner } = await payments.stack.newTenant('CLI refusals');
    // More decimals than the currency has: refused before any call, never rounded.
    const precision = parseError(await tally(ownerKey, 'payment', 'create', '--amount', '25.001', '--currency', 'EUR', '--json'));
    expect(precision).toMatchObject({ code: 'cli', reason: 'AMOUNT_PRECISION_EXCEEDED' });
    const yen = parseError(await tally(ownerKey, 'payment', 'create', '--amount', '10.5', '--currency', 'JPY', '--json'));
    expect(yen.reason).toBe('AMOUNT_PRECISION_EXCEEDED');
    const currency = parseError(await tally(ownerKey, 'payment', 'create', '--amount', '1.00', '--currency', 'XXY', '--json'));
    expect(currency.reason).toBe('UNKNOWN_CURRENCY');
    const zero = await tally(ownerKey, 'payment', 'create', '--amount', '0.00', '--currency', 'EUR');
    expect(zero.code).toBe(1);
    expect(zero.stderr).toMatch(/^error: cli: --amount 0\.00: must be greater than zero/);
    expect((await owner.payments.listPayments({})).payments).toEqual([]);

    // A card number instead of a PSP token: the API refuses it, nothing is stored.
    const pan = parseError(await tally(ownerKey, 'payment-method', 'create', '--stripe', '4242 4242 4242 4242', '--json'));
    expect(pan).toMatchObject({ code: 'invalid_argument', reason: 'FIELD_INVALID' });
    const noToken = await tally(ownerKey, 'payment-method', 'create');
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('at least one PSP token');

    // Refunding more than was captured: AMOUNT_OUT_OF_RANGE, the payment is as it was.
    const pm = await methodFor(ownerKey, 'stripe', 'pm_card_visa');
    const paid = parseJson<PaymentJson>(await tally(ownerKey, 'payment', 'create', '--amount', '10.00', '--currency', 'EUR', '--payment-method', pm, '--confirm', '--json'));
    expect(paid.status).toBe('PAYMENT_STATUS_SUCCEEDED');
    const tooMuch = parseError(await tally(ownerKey, 'payment', 'refund', paid.id, '--amount', '10.01', '--json'));
    expect(tooMuch).toMatchObject({ code: 'invalid_argument', reason: 'AMOUNT_OUT_OF_RANGE' });
    const after = (await owner.payments.getPayment({ paymentId: paid.id })).payment!;
    expect(after.amountRefundedMinor).toBe(0n);
    expect(after.refunds).toEqual([]);
  });

  it('rerunning create --confirm with the same idempotency key replays: one payment, authorized once', async () => {
    const { ownerKey, owner, tenantId } = await payments.stack.newTenant('CLI replay');
    const pm = await methodFor(ownerKey, 'adyen', 'adyen_success');
    const args = ['payment', 'create', '--amount', '42.00', '--currency', 'EUR', '--payment-method', pm, '--capture', 'manual', '--confirm', '--idempotency-key', 'order-42', '--json'];
    const first = parseJson<PaymentJson>(await tally(ownerKey, ...args));
    const second = parseJson<PaymentJson>(await tally(ownerKey, ...args));
    expect(second).toEqual(first);
    expect(first.status).toBe('PAYMENT_STATUS_REQUIRES_CAPTURE');
    const all = (await owner.payments.listPayments({})).payments;
    expect(all.map((p) => p.id)).toEqual([first.id]);
    // One authorize attempt at the PSP: the replayed confirm did not call again.
    const stored = await payments.stack.services.payments.store.getPayment(tenantId, first.id);
    expect(stored?.attempts.filter((a) => a.operation === 'authorize')).toHaveLength(1);
  });
});
