/**
 * `tally payment ...` and `tally payment-method create`: the payments API from the shell, so a
 * developer can take, capture and refund a payment against `npm start` without crafting RPC bodies.
 * Amounts are typed in major units ("25.00") and parsed exactly with the currency's ISO 4217
 * exponent (`parseDecimal`: too many fraction digits is an error, never a rounding); JSON output is
 * the proto3 JSON of the API (amounts as strings of minor units).
 */
import { randomUUID } from 'node:crypto';
import { toJson } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Option, type Command } from 'commander';
import { formatDecimal, money, parseDecimal } from '../domain/money/index.js';
import {
  CaptureMethod, PaymentSchema, PaymentStatus, type Payment,
} from '../gen/tally/payments/v1/payments_pb.js';
import { pspNames } from '../ports/psp-gateway.js';
import { createTallyClient, type TallyClient } from './client.js';
import { CliError, output, table, target, type GlobalOptions } from './cli-support.js';

/** Pages `payment list` reads at most (of 100 payments each). */
const LIST_PAGES_MAX = 100;

/** "requires_capture": the API's status in the lower case the README and the domain use. */
const statusName = (s: PaymentStatus): string => (PaymentStatus[s] ?? String(s)).toLowerCase();

/** "25.00 EUR" from minor units, with the currency's exponent. */
const major = (amountMinor: bigint, currency: string): string => `${formatDecimal(money(amountMinor, currency))} ${currency}`;

/** Minor units of `--amount` (major units, exact) in `currency`. */
function amountMinorOf(amount: string, currency: string): bigint {
  const parsed = parseDecimal(amount, currency, { field: 'amount' });
  if (parsed.amountMinor <= 0n) throw new CliError(`--amount ${amount}: must be greater than zero`);
  return parsed.amountMinor;
}

function paymentRow(p: Payment): Record<string, string> {
  return {
    id: p.id, status: statusName(p.status), amount: major(p.amountMinor, p.currency), psp: p.psp,
    captured: major(p.amountCapturedMinor, p.currency), refunded: major(p.amountRefundedMinor, p.currency),
    declineReason: p.declineReason, created: p.createTime ? timestampDate(p.createTime).toISOString() : '',
  };
}

/** A payment for humans: the summary line, then what is worth a look (action URL, decline, refunds). */
function paymentText(p: Payment, verb: string): string {
  const lines = [`payment ${p.id} ${verb}: ${statusName(p.status)}, ${major(p.amountMinor, p.currency)}${p.psp ? ` via ${p.psp}` : ''}`];
  if (p.amountCapturableMinor > 0n) lines.push(`  capturable  ${major(p.amountCapturableMinor, p.currency)}`);
  if (p.amountCapturedMinor > 0n) lines.push(`  captured    ${major(p.amountCapturedMinor, p.currency)}`);
  if (p.amountRefundedMinor > 0n) lines.push(`  refunded    ${major(p.amountRefundedMinor, p.currency)}`);
  for (const r of p.refunds) lines.push(`  refund ${r.id}  ${major(r.amountMinor, p.currency)}  ${r.status}`);
  if (p.declineReason) lines.push(`  declined    ${p.declineReason}`);
  for (const [k, v] of Object.entries(p.metadata)) lines.push(`  metadata    ${k}=${v}`);
  if (p.nextActionUrl) lines.push(`  next action ${p.nextActionUrl} (the customer completes the challenge)`);
  // Asked, not answered (an Adyen cancel, a timeout): the webhook or the janitor settles it.
  if (p.status === PaymentStatus.PROCESSING) lines.push(`  pending     the PSP answers later; \`tally payment get ${p.id}\` shows the outcome`);
  return lines.join('\n');
}

const paymentJson = (p: Payment) => toJson(PaymentSchema, p);

export function registerPaymentCommands(program: Command, globals: (cmd: Command) => GlobalOptions): void {
  const client = (cmd: Command): { g: GlobalOptions; api: TallyClient } => {
    const g = globals(cmd);
    const { url, key } = target(g);
    return { g, api: createTallyClient(url, key) };
  };
  const keyOption = () => new Option('--idempotency-key <key>', 'idempotency key (default: a new random one; reuse one to retry safely)');
  const show = (g: GlobalOptions, p: Payment | undefined, verb: string) => {
    if (!p) throw new CliError('the API answered without a payment');
    output(g, paymentJson(p), paymentText(p, verb));
  };

  const method = program.command('payment-method').description('payment methods (PSP tokens only, never card numbers)');
  method.command('create')
    .description('store a payment method: one token per PSP (e.g. --stripe pm_card_visa --adyen adyen_success)')
    .option('--stripe <token>', 'Stripe PaymentMethod token')
    .option('--adyen <token>', 'Adyen token')
    .option('--brand <brand>', 'card brand, for routing (visa, mastercard, amex, ...)', '')
    .option('--country <cc>', 'issuing country, ISO 3166 alpha-2, for routing', '')
    .option('--last4 <digits>', 'last four digits, for display', '')
    .option('--customer <customerId>', 'owning customer, cus_...', '')
    .addOption(keyOption())
    .action(async (opts: { stripe?: string; adyen?: string; brand: string; country: string; last4: string; customer: string; idempotencyKey?: string }, cmd: Command) => {
      const pspTokens = Object.fromEntries(pspNames.flatMap((psp) => (opts[psp] === undefined ? [] : [[psp, opts[psp]]]))) as Record<string, string>;
      if (Object.keys(pspTokens).length === 0) throw new CliError(`at least one PSP token: ${pspNames.map((p) => `--${p}`).join(' or ')}`);
      const { g, api } = client(cmd);
      const { paymentMethod: pm } = await api.payments.createPaymentMethod({
        pspTokens, brand: opts.brand, country: opts.country, last4: opts.last4, customerId: opts.customer, idempotencyKey: opts.idempotencyKey ?? randomUUID(),
      });
      output(g, { id: pm?.id, pspTokens: pm?.pspTokens, brand: pm?.brand, country: pm?.country, last4: pm?.last4, customerId: pm?.customerId },
        `payment method ${pm?.id} created (${Object.keys(pspTokens).join(', ')})`);
    });

  const payment = program.command('payment').description('payment intents: create, confirm, capture, cancel, refund, get, list');
  payment.command('create')
    .description('create a payment; with --confirm, also confirm it (route, authorize, and capture when automatic)')
    .requiredOption('--amount <major>', 'amount in major units, exact for the currency ("25.00" EUR, "2500" JPY)')
    .requiredOption('--currency <code>', 'ISO 4217 currency')
    .option('--payment-method <pm>', 'payment method, pm_...', '')
    .option('--customer <customerId>', 'customer, cus_...', '')
    .addOption(new Option('--capture <method>', 'capture method').choices(['automatic', 'manual']).default('automatic'))
    .option('--metadata <key=value>', 'your own reference, e.g. order_id=1042 (repeatable; returned as given)', collectMetadata, {} as Record<string, string>)
    .option('--confirm', 'confirm in the same call (one-call checkout; with automatic capture it ends captured)')
    .option('--return-url <url>', 'with --confirm: where the customer returns after a challenge (https)', '')
    .addOption(keyOption())
    .action(async (opts: { amount: string; currency: string; paymentMethod: string; customer: string; capture: string; metadata: Record<string, string>; confirm?: boolean; returnUrl: string; idempotencyKey?: string }, cmd: Command) => {
      const currency = opts.currency.toUpperCase();
      const amountMinor = amountMinorOf(opts.amount, currency);
      if (opts.confirm && opts.paymentMethod === '') throw new CliError('--confirm needs --payment-method');
      if (!opts.confirm && opts.returnUrl !== '') throw new CliError('--return-url needs --confirm (or give it to `payment confirm`)');
      const { g, api } = client(cmd);
      const { payment } = await api.payments.createPayment({
        amountMinor, currency, paymentMethodId: opts.paymentMethod, customerId: opts.customer, metadata: opts.metadata,
        captureMethod: opts.capture === 'manual' ? CaptureMethod.MANUAL : CaptureMethod.AUTOMATIC,
        confirm: opts.confirm === true, returnUrl: opts.returnUrl, idempotencyKey: opts.idempotencyKey ?? randomUUID(),
      });
      show(g, payment, opts.confirm ? 'confirmed' : 'created');
    });
  payment.command('confirm')
    .description('confirm a payment: route it to a PSP, authorize, and capture when automatic')
    .argument('<paymentId>', 'pay_...')
    .option('--payment-method <pm>', 'payment method to use, pm_... (default: the one given at creation)', '')
    .option('--return-url <url>', 'where the customer returns after a challenge (https; http only for localhost)', '')
    .addOption(keyOption())
    .action(async (paymentId: string, opts: { paymentMethod: string; returnUrl: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      show(g, (await api.payments.confirmPayment({ paymentId, paymentMethodId: opts.paymentMethod, returnUrl: opts.returnUrl, idempotencyKey: opts.idempotencyKey ?? randomUUID() })).payment, 'confirmed');
    });
  payment.command('capture')
    .description('capture an authorized payment, in full or in part (the rest is released)')
    .argument('<paymentId>', 'pay_...')
    .option('--amount <major>', 'amount in major units (default: all that is capturable)')
    .addOption(keyOption())
    .action(async (paymentId: string, opts: { amount?: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const amountMinor = await optionalAmountOf(api, paymentId, opts.amount);
      show(g, (await api.payments.capturePayment({ paymentId, amountMinor, idempotencyKey: opts.idempotencyKey ?? randomUUID() })).payment, 'captured');
    });
  payment.command('cancel')
    .description('cancel a payment that is not captured (voids at the PSP when something is held)')
    .argument('<paymentId>', 'pay_...')
    .addOption(keyOption())
    .action(async (paymentId: string, opts: { idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const p = (await api.payments.cancelPayment({ paymentId, idempotencyKey: opts.idempotencyKey ?? randomUUID() })).payment;
      // A PSP that cancels asynchronously (Adyen) has only accepted the request.
      show(g, p, p?.status === PaymentStatus.CANCELED ? 'canceled' : 'cancel requested');
    });
  payment.command('update')
    .description('change a payment\'s metadata, in any status: set keys, or remove one with an empty value (key=)')
    .argument('<paymentId>', 'pay_...')
    .requiredOption('--metadata <key=value>', 'key to set, e.g. order_id=1043; "key=" removes it (repeatable)', collectMetadata, {} as Record<string, string>)
    .addOption(keyOption())
    .action(async (paymentId: string, opts: { metadata: Record<string, string>; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      show(g, (await api.payments.updatePayment({ paymentId, metadata: opts.metadata, idempotencyKey: opts.idempotencyKey ?? randomUUID() })).payment, 'updated');
    });
  payment.command('refund')
    .description('refund a captured payment, in part or in full (never more than captured minus refunded)')
    .argument('<paymentId>', 'pay_...')
    .option('--amount <major>', 'amount in major units (default: all that is left to refund)')
    .addOption(keyOption())
    .action(async (paymentId: string, opts: { amount?: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const amountMinor = await optionalAmountOf(api, paymentId, opts.amount);
      const res = await api.payments.refundPayment({ paymentId, amountMinor, idempotencyKey: opts.idempotencyKey ?? randomUUID() });
      if (!res.payment) throw new CliError('the API answered without a payment');
      const refund = res.refund ? { id: res.refund.id, amountMinor: res.refund.amountMinor.toString(), status: res.refund.status } : null;
      output(g, { payment: paymentJson(res.payment), refund },
        `${refund ? `refund ${refund.id} ${major(res.refund!.amountMinor, res.payment.currency)}: ${refund.status}\n` : ''}${paymentText(res.payment, 'refunded')}`);
    });
  payment.command('get')
    .description('show one payment')
    .argument('<paymentId>', 'pay_...')
    .action(async (paymentId: string, _opts: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      show(g, (await api.payments.getPayment({ paymentId })).payment, 'is');
    });
  payment.command('list')
    .description('list payments, newest first')
    .option('--limit <n>', `most payments to show, 1..${LIST_PAGES_MAX * 100}`, '20')
    .action(async (opts: { limit: string }, cmd: Command) => {
      const limit = Number(opts.limit);
      if (!/^\d+$/.test(opts.limit) || limit < 1 || limit > LIST_PAGES_MAX * 100) throw new CliError(`--limit ${opts.limit}: expected an integer in [1, ${LIST_PAGES_MAX * 100}]`);
      const { g, api } = client(cmd);
      const payments: Payment[] = [];
      let pageToken = '';
      for (let page = 0; page < LIST_PAGES_MAX && payments.length < limit; page++) {
        const res = await api.payments.listPayments({ pageSize: Math.min(100, limit - payments.length), pageToken });
        payments.push(...res.payments);
        pageToken = res.nextPageToken;
        if (pageToken === '') break;
      }
      output(g, payments.map(paymentJson), payments.length === 0 ? 'no payments'
        : table(payments.map(paymentRow), ['id', 'status', 'amount', 'psp', 'captured', 'refunded', 'declineReason', 'created']));
    });
}

/** Commander's accumulator for a repeated `--metadata key=value`. */
function collectMetadata(pair: string, metadata: Record<string, string>): Record<string, string> {
  const at = pair.indexOf('=');
  if (at <= 0) throw new CliError(`--metadata ${pair}: expected key=value`);
  return { ...metadata, [pair.slice(0, at)]: pair.slice(at + 1) };
}

/**
 * `--amount` of a capture or refund in minor units of the payment's own currency (read from the
 * payment, so that "10.00" means 10.00 of it); 0 (the API's "all of it") when absent.
 */
async function optionalAmountOf(api: TallyClient, paymentId: string, amount: string | undefined): Promise<bigint> {
  if (amount === undefined) return 0n;
  const { payment } = await api.payments.getPayment({ paymentId });
  if (!payment) throw new CliError(`payment ${paymentId}: the API answered without it`);
  return amountMinorOf(amount, payment.currency);
}
