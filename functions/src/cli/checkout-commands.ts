/**
 * `tally checkout ...`: hosted checkout sessions from the shell (issue 17, ADR 0036), so a developer
 * can make a session against `npm start` and open its URL in a browser. Ad-hoc amounts are typed in
 * major units and parsed exactly with the currency's exponent; JSON output is the API's proto3 JSON.
 */
import { randomUUID } from 'node:crypto';
import { toJson } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Option, type Command } from 'commander';
import { formatDecimal, money, parseDecimal } from '../domain/money/index.js';
import { CheckoutMode, CheckoutSessionSchema, CheckoutSessionStatus, type CheckoutSession } from '../gen/tally/checkout/v1/checkout_pb.js';
import { createTallyClient, type TallyClient } from './client.js';
import { CliError, output, table, target, type GlobalOptions } from './cli-support.js';

/** Sessions `checkout list` shows at most (one page). */
const LIST_PAGE_SIZE = 100;

const statusName = (s: CheckoutSessionStatus): string => (CheckoutSessionStatus[s] ?? String(s)).toLowerCase();
const major = (amountMinor: bigint, currency: string): string => `${formatDecimal(money(amountMinor, currency))} ${currency}`;

interface ItemSpec { name: string; amount: string; quantity: bigint }

/** `--item "T-shirt:15.00:2"` (name:amount[:quantity]), repeatable. */
function collectItem(value: string, previous: ItemSpec[]): ItemSpec[] {
  const match = /^(.+?):(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(value);
  if (!match) throw new CliError(`--item ${value}: expected name:amount[:quantity], e.g. "T-shirt:15.00:2"`);
  return [...previous, { name: match[1]!, amount: match[2]!, quantity: BigInt(match[3] ?? '1') }];
}

/** `--price price_...[:quantity]`, repeatable. */
function collectPrice(value: string, previous: { priceId: string; quantity: bigint }[]): { priceId: string; quantity: bigint }[] {
  const match = /^(price_[A-Za-z0-9_-]+)(?::(\d+))?$/.exec(value);
  if (!match) throw new CliError(`--price ${value}: expected price_...[:quantity]`);
  return [...previous, { priceId: match[1]!, quantity: BigInt(match[2] ?? '1') }];
}

function sessionText(s: CheckoutSession, verb: string): string {
  const lines = [`checkout session ${s.id} ${verb}: ${statusName(s.status)}, ${major(s.amountTotalMinor, s.currency)} (${s.mode === CheckoutMode.SUBSCRIPTION ? 'subscription' : 'payment'})`];
  for (const l of s.lineItems) lines.push(`  ${l.quantity} x ${l.name}  ${major(l.amountTotalMinor, s.currency)}${l.amountTaxMinor > 0n ? ` (tax ${major(l.amountTaxMinor, s.currency)})` : ''}`);
  if (s.amountTaxMinor > 0n) lines.push(`  tax         ${major(s.amountTaxMinor, s.currency)}`);
  if (s.expireTime) lines.push(`  expires     ${timestampDate(s.expireTime).toISOString()}`);
  if (s.paymentId) lines.push(`  payment     ${s.paymentId}`);
  if (s.subscriptionId) lines.push(`  subscription ${s.subscriptionId}`);
  if (s.url) lines.push(`  url         ${s.url}   (shown once: the buyer pays there)`);
  return lines.join('\n');
}

export function registerCheckoutCommands(program: Command, globals: (cmd: Command) => GlobalOptions): void {
  const client = (cmd: Command): { g: GlobalOptions; api: TallyClient } => {
    const g = globals(cmd);
    const { url, key } = target(g);
    return { g, api: createTallyClient(url, key) };
  };
  const show = (g: GlobalOptions, s: CheckoutSession | undefined, verb: string) => {
    if (!s) throw new CliError('the API answered without a session');
    output(g, toJson(CheckoutSessionSchema, s), sessionText(s, verb));
  };
  const keyOption = () => new Option('--idempotency-key <key>', 'idempotency key (default: a new random one; reuse one to retry safely)');

  const checkout = program.command('checkout').description('hosted checkout sessions: create (prints the buyer URL), get, list, expire');
  checkout.command('create')
    .description('create a session; prints the URL the buyer pays at (its secret is shown only now)')
    .requiredOption('--currency <code>', 'ISO 4217 currency')
    .option('--item <name:amount[:qty]>', 'an ad-hoc item, amount in major units ("T-shirt:15.00:2"; repeatable)', collectItem, [] as ItemSpec[])
    .option('--price <price_id[:qty]>', 'a billing price (repeatable)', collectPrice, [] as { priceId: string; quantity: bigint }[])
    .addOption(new Option('--mode <mode>', 'what paying creates').choices(['payment', 'subscription']).default('payment'))
    .requiredOption('--success-url <url>', 'where the buyer goes after paying (https; http only for localhost)')
    .requiredOption('--cancel-url <url>', 'where the buyer goes when giving up')
    .option('--email <email>', "the buyer's email", '')
    .option('--country <cc>', "the buyer's country (tax location; needed with --automatic-tax)", '')
    .option('--automatic-tax', "compute tax with the tenant's tax engine")
    .option('--expires-in <seconds>', 'lifetime, 1800..86400 seconds (default 86400)', '0')
    .addOption(keyOption())
    .action(async (opts: {
      currency: string; item: ItemSpec[]; price: { priceId: string; quantity: bigint }[]; mode: string; successUrl: string; cancelUrl: string;
      email: string; country: string; automaticTax?: boolean; expiresIn: string; idempotencyKey?: string;
    }, cmd: Command) => {
      const currency = opts.currency.toUpperCase();
      if (opts.item.length + opts.price.length === 0) throw new CliError('at least one --item or --price');
      if (!/^\d+$/.test(opts.expiresIn)) throw new CliError(`--expires-in ${opts.expiresIn}: seconds`);
      const lineItems = [
        ...opts.item.map((i) => ({ name: i.name, unitAmountMinor: parseDecimal(i.amount, currency, { field: 'item' }).amountMinor, quantity: i.quantity })),
        ...opts.price.map((p) => ({ priceId: p.priceId, quantity: p.quantity })),
      ];
      const { g, api } = client(cmd);
      const { session } = await api.checkout.createCheckoutSession({
        mode: opts.mode === 'subscription' ? CheckoutMode.SUBSCRIPTION : CheckoutMode.PAYMENT, currency, lineItems,
        successUrl: opts.successUrl, cancelUrl: opts.cancelUrl, customerEmail: opts.email, customerCountry: opts.country.toUpperCase(),
        automaticTax: opts.automaticTax === true, expiresInSeconds: Number(opts.expiresIn), idempotencyKey: opts.idempotencyKey ?? randomUUID(),
      });
      show(g, session, 'created');
    });
  checkout.command('get')
    .description('show a session')
    .argument('<sessionId>', 'cs_...')
    .action(async (sessionId: string, _opts: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      show(g, (await api.checkout.getCheckoutSession({ sessionId })).session, 'is');
    });
  checkout.command('list')
    .description(`the newest sessions (up to ${LIST_PAGE_SIZE})`)
    .action(async (_opts: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      const { sessions } = await api.checkout.listCheckoutSessions({ pageSize: LIST_PAGE_SIZE });
      output(g, sessions.map((s) => toJson(CheckoutSessionSchema, s)), table(sessions.map((s) => ({
        id: s.id, status: statusName(s.status), total: major(s.amountTotalMinor, s.currency), payment: s.paymentId || s.subscriptionId,
        created: s.createTime ? timestampDate(s.createTime).toISOString() : '',
      })), ['id', 'status', 'total', 'payment', 'created']));
    });
  checkout.command('expire')
    .description('expire an open session now: the buyer can no longer pay it')
    .argument('<sessionId>', 'cs_...')
    .addOption(keyOption())
    .action(async (sessionId: string, opts: { idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      show(g, (await api.checkout.expireCheckoutSession({ sessionId, idempotencyKey: opts.idempotencyKey ?? randomUUID() })).session, 'expired');
    });
}
