/**
 * `tally billing ...` (issue 14 item 8): the common BillingService calls from the shell. Amounts are
 * typed in major units ("9.90") and parsed exactly with the currency's exponent; JSON output is the
 * proto3 JSON of the API (amounts as strings of minor units).
 *
 *   tally billing settings set --origin DE [--prefix INV] [--retry-days 1,3,5,7] [--final unpaid|cancel] | get
 *   tally billing product create --name N | get PROD | list
 *   tally billing price create --product P --amount 9.90 --currency EUR [--interval month --interval-count 1] [--one-off | --metered sum|max|last] | get PRICE | list [--product P]
 *   tally billing coupon create --name N (--percent-off 12.5 | --amount-off 5.00 --currency EUR) [--duration once|repeating|forever] [--months N] | get COUPON | list
 *   tally billing customer set --customer C --payment-method PM --country FR [--postcode P] [--vat-id V] [--clock CLOCK]
 *   tally billing customer balance CUS
 *   tally billing subscription create --customer C --price P [--quantity N] [--trial-days D] [--coupon C]
 *   tally billing subscription get|cancel SUB [--at-period-end] | list [--customer C]
 *   tally billing subscription update SUB [--price P] [--quantity N] [--proration-behavior create_prorations|always_invoice|none] [--proration-date ISO]
 *   tally billing subscription preview SUB [--price P] [--quantity N] [--proration-date ISO]
 *   tally billing subscription pause SUB | resume SUB [--anchor now|unchanged]
 *   tally billing usage record --subscription SUB --price P --quantity N [--time ISO]
 *   tally billing invoice-item create --subscription SUB --price P [--quantity N] [--description D] [--invoice-now]
 *   tally billing invoice list [--subscription SUB] [--customer C] | get INV | pdf INV --out FILE
 *   tally billing invoice pay INV [--payment-method PM] | void INV | credit-note INV --amount 5.00 [--reason R]
 *   tally billing clock create [--name N] [--time ISO]
 *   tally billing clock advance CLOCK --to ISO
 *
 * Lists read up to `--limit` items (default 100) page by page; when more remain they say so (on
 * stderr, and `nextPageToken` in JSON) and `--page-token` goes on from there: never a silent cut.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { toJson } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Option, type Command } from 'commander';
import { formatDecimal, money, parseDecimal } from '../domain/money/index.js';
import {
  BillingCustomerSchema, BillingSettingsSchema, CouponSchema, CreditNoteSchema, Interval, InvoiceSchema, InvoiceStatus, PriceModel, PriceSchema, ProductSchema,
  SubscriptionSchema, SubscriptionStatus, TestClockSchema, UsageAggregation, type Coupon, type Invoice, type Price, type Product, type Subscription,
} from '../gen/tally/billing/v1/billing_pb.js';
import { createTallyClient, type TallyClient } from './client.js';
import { CliError, output, table, target, type GlobalOptions } from './cli-support.js';

const iso = (t: Timestamp | undefined) => (t ? timestampDate(t).toISOString() : '');
const major = (minor: bigint, currency: string) => `${formatDecimal(money(minor, currency))} ${currency}`;
const intervals: Record<string, Interval> = { day: Interval.DAY, week: Interval.WEEK, month: Interval.MONTH, year: Interval.YEAR };
const aggregations: Record<string, UsageAggregation> = { sum: UsageAggregation.SUM, max: UsageAggregation.MAX, last: UsageAggregation.LAST };

function timeOf(text: string, flag: string): Timestamp {
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) throw new CliError(`${flag} ${text}: an ISO 8601 time such as 2026-03-01T00:00:00Z`);
  return timestampFromDate(new Date(ms));
}

function positiveInt(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new CliError(`${flag} ${text}: a whole number`);
  return Number(text);
}

/** A whole number of at least `min` (bounded, so that it fits the API's int fields). */
function wholeNumber(text: string, flag: string, min: number): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < min) throw new CliError(`${flag} ${text}: a whole number of at least ${min}`);
  return Number(text);
}

/** "12.5" percent as basis points (1250), exactly: at most two decimals, 0.01..100. */
function percentBps(text: string): number {
  const m = /^(\d{1,3})(?:\.(\d{1,2}))?$/.exec(text);
  const bps = m ? Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0')) : NaN;
  if (!(bps >= 1 && bps <= 10_000)) throw new CliError(`--percent-off ${text}: a percentage from 0.01 to 100, at most two decimals`);
  return bps;
}

/** The page size asked of the API per call: its maximum. */
const listPageSizeMax = 100;

/**
 * Up to `limit` items, page by page from `pageToken`. When more remain, says so on stderr with the
 * token to go on from (and returns it for the JSON output): a list is never cut silently.
 */
async function collectPages<T>(fetch: (pageToken: string, pageSize: number) => Promise<{ items: T[]; nextPageToken: string }>, limitText: string, pageToken: string): Promise<{ items: T[]; nextPageToken: string }> {
  const limit = wholeNumber(limitText, '--limit', 1);
  const items: T[] = [];
  let token = pageToken;
  // Bounded: every call adds at least one item or ends the loop.
  while (items.length < limit) {
    const page = await fetch(token, Math.min(listPageSizeMax, limit - items.length));
    items.push(...page.items.slice(0, limit - items.length));
    token = page.nextPageToken;
    if (token === '' || page.items.length === 0) break;
  }
  if (token !== '') process.stderr.write(`more than ${items.length}: go on with --page-token ${token} (or raise --limit)\n`);
  return { items, nextPageToken: token };
}

const listOptions = (cmd: Command): Command => cmd
  .option('--limit <n>', 'at most this many (default 100)', '100')
  .option('--page-token <token>', 'go on from where a previous list stopped', '');

/** A list in JSON: the items, and the token to go on from when it was not the whole list. */
const listJson = <T>(items: T[], nextPageToken: string) => (nextPageToken === '' ? items : { items, nextPageToken });

const productRow = (p: Product) => ({ id: p.id, name: p.name, created: iso(p.createTime) });
const priceRow = (p: Price) => {
  const interval = p.interval === Interval.UNSPECIFIED ? 'once'
    : `every ${p.intervalCount} ${(Interval[p.interval] ?? '').toLowerCase()}${p.usageAggregation === UsageAggregation.UNSPECIFIED ? '' : `, metered (${(UsageAggregation[p.usageAggregation] ?? '').toLowerCase()})`}`;
  const amount = p.scheme?.model === PriceModel.PER_UNIT ? major(p.scheme.amountMinor, p.currency) : (PriceModel[p.scheme?.model ?? 0] ?? '').toLowerCase();
  return { id: p.id, product: p.productId, amount, interval, taxInclusive: p.taxInclusive };
};
const couponRow = (c: Coupon) => ({
  id: c.id, name: c.name,
  off: c.percentOffBps > 0 ? `${Math.trunc(c.percentOffBps / 100)}.${String(c.percentOffBps % 100).padStart(2, '0')}%` : major(c.amountOffMinor, c.currency),
  duration: c.duration === 'repeating' ? `${c.durationInMonths} periods` : c.duration,
});
const subscriptionRow = (s: Subscription) => ({
  id: s.id, customer: s.customerId, status: (SubscriptionStatus[s.status] ?? '').toLowerCase(),
  periodEnd: iso(s.currentPeriodEnd), cancelsAtPeriodEnd: s.cancelAtPeriodEnd,
});

const invoiceRow = (i: Invoice) => ({
  id: i.id, number: i.number, status: (InvoiceStatus[i.status] ?? '').toLowerCase(), total: major(i.totalMinor, i.currency), tax: major(i.taxMinor, i.currency),
  paid: major(i.amountPaidMinor, i.currency), period: `${iso(i.periodStart).slice(0, 10)}..${iso(i.periodEnd).slice(0, 10)}`, attempts: i.attemptCount,
});
const subscriptionText = (s: Subscription) =>
  `subscription ${s.id}: ${(SubscriptionStatus[s.status] ?? '').toLowerCase()}, period ${iso(s.currentPeriodStart)} .. ${iso(s.currentPeriodEnd)}${s.cancelAtPeriodEnd ? ' (cancels at period end)' : ''}${s.latestInvoiceId ? `, latest invoice ${s.latestInvoiceId}` : ''}`;

export function registerBillingCommands(program: Command, globals: (cmd: Command) => GlobalOptions): void {
  const client = (cmd: Command): { g: GlobalOptions; api: TallyClient } => {
    const g = globals(cmd);
    const { url, key } = target(g);
    return { g, api: createTallyClient(url, key) };
  };
  const keyOption = () => new Option('--idempotency-key <key>', 'idempotency key (default: a new random one; reuse one to retry safely)');
  /** A list command's action: pages through `fetch` (collectPages), prints a table or the JSON. */
  const listAction = <O extends { limit: string; pageToken: string }, T>(noun: string, fetch: (api: TallyClient, o: O, pageToken: string, pageSize: number) => Promise<{ items: T[]; nextPageToken: string }>,
    json: (item: T) => unknown, row: (item: T) => Record<string, unknown>) => async (o: O, cmd: Command) => {
    const { g, api } = client(cmd);
    const { items, nextPageToken } = await collectPages((pageToken, pageSize) => fetch(api, o, pageToken, pageSize), o.limit, o.pageToken);
    const rows = items.map(row);
    output(g, listJson(items.map(json), nextPageToken), rows.length === 0 ? `no ${noun}` : table(rows, Object.keys(rows[0]!)));
  };
  const billing = program.command('billing').description('subscriptions, invoices and test clocks (BillingService)');

  const settings = billing.command('settings').description('the tenant\'s billing settings');
  settings.command('get').description('show the billing settings')
    .action(async (_o: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      const { settings: st } = await api.billing.getBillingSettings({});
      output(g, toJson(BillingSettingsSchema, st!), `billing settings: origin ${st?.originCountry || '(not set)'}, invoices ${st?.invoicePrefix}-000001.., retries after ${st?.dunningRetryDays.join(', ')} days, then ${st?.dunningFinalAction}, proration by ${st?.prorationGranularity}`);
    });
  settings.command('set')
    .description('replace the billing settings (tax origin, invoice prefix, dunning)')
    .requiredOption('--origin <cc>', 'country the tenant sells from (VAT origin), e.g. DE')
    .option('--prefix <prefix>', 'invoice number prefix (A-Z 0-9)', 'INV')
    .option('--vat-id <id>', 'the tenant\'s VAT id', '')
    .option('--retry-days <days>', 'dunning retries, days after the first failure', '1,3,5,7')
    .addOption(new Option('--final <action>', 'when retries run out').choices(['unpaid', 'cancel']).default('unpaid'))
    .addOption(new Option('--proration <granularity>', 'proration granularity').choices(['second', 'day']).default('second'))
    .addOption(keyOption())
    .action(async (o: { origin: string; prefix: string; vatId: string; retryDays: string; final: string; proration: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const days = o.retryDays.split(',').map((d) => positiveInt(d.trim(), '--retry-days'));
      const { settings } = await api.billing.updateBillingSettings({
        settings: { originCountry: o.origin, invoicePrefix: o.prefix, vatId: o.vatId, dunningRetryDays: days, dunningFinalAction: o.final, prorationGranularity: o.proration },
        idempotencyKey: o.idempotencyKey ?? randomUUID(),
      });
      output(g, toJson(BillingSettingsSchema, settings!), `billing settings: origin ${settings?.originCountry}, invoices ${settings?.invoicePrefix}-000001.., retries after ${settings?.dunningRetryDays.join(', ')} days, then ${settings?.dunningFinalAction}`);
    });

  const product = billing.command('product').description('products');
  product.command('get').description('show a product').argument('<id>', 'prod_...')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      const { product: p } = await api.billing.getProduct({ productId: id });
      output(g, toJson(ProductSchema, p!), table([productRow(p!)], Object.keys(productRow(p!))));
    });
  listOptions(product.command('list').description('list products'))
    .action(listAction('products', async (api, o: { limit: string; pageToken: string }, pageToken, pageSize) => {
      const res = await api.billing.listProducts({ pageSize, pageToken });
      return { items: res.products, nextPageToken: res.nextPageToken };
    }, (x) => toJson(ProductSchema, x), productRow));
  product.command('create')
    .description('create a product').requiredOption('--name <name>', 'display name').addOption(keyOption())
    .action(async (o: { name: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { product } = await api.billing.createProduct({ name: o.name, idempotencyKey: o.idempotencyKey ?? randomUUID() });
      output(g, toJson(ProductSchema, product!), `product ${product?.id} "${product?.name}" created`);
    });

  const price = billing.command('price').description('prices');
  price.command('get').description('show a price').argument('<id>', 'price_...')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      const { price: p } = await api.billing.getPrice({ priceId: id });
      output(g, toJson(PriceSchema, p!), table([priceRow(p!)], Object.keys(priceRow(p!))));
    });
  listOptions(price.command('list').description('list prices').option('--product <id>', 'only this product\'s', ''))
    .action(listAction('prices', async (api, o: { product: string; limit: string; pageToken: string }, pageToken, pageSize) => {
      const res = await api.billing.listPrices({ productId: o.product, pageSize, pageToken });
      return { items: res.prices, nextPageToken: res.nextPageToken };
    }, (x) => toJson(PriceSchema, x), priceRow));
  price.command('create')
    .description('create a per-unit price (recurring unless --one-off)')
    .requiredOption('--product <id>', 'product, prod_...')
    .requiredOption('--amount <decimal>', 'amount per unit in major units, e.g. 9.90')
    .requiredOption('--currency <cur>', 'ISO 4217 currency')
    .addOption(new Option('--interval <unit>', 'billing interval').choices(Object.keys(intervals)).default('month'))
    .option('--interval-count <n>', 'intervals per period', '1')
    .option('--one-off', 'a one-off charge, not recurring')
    .addOption(new Option('--metered <aggregation>', 'metered: billed in arrears on the period\'s usage (sum, max or last record)').choices(Object.keys(aggregations)))
    .option('--tax-inclusive', 'the amount includes tax')
    .addOption(keyOption())
    .action(async (o: { product: string; amount: string; currency: string; interval: string; intervalCount: string; oneOff?: boolean; metered?: string; taxInclusive?: boolean; idempotencyKey?: string }, cmd: Command) => {
      if (o.oneOff && o.metered) throw new CliError('--metered prices recur: not with --one-off');
      const amountMinor = parseDecimal(o.amount, o.currency, { field: 'amount' }).amountMinor;
      const { g, api } = client(cmd);
      const { price } = await api.billing.createPrice({
        price: {
          productId: o.product, currency: o.currency, scheme: { model: PriceModel.PER_UNIT, amountMinor }, taxInclusive: o.taxInclusive === true,
          ...(o.oneOff ? {} : { interval: intervals[o.interval], intervalCount: positiveInt(o.intervalCount, '--interval-count') }),
          ...(o.metered ? { usageAggregation: aggregations[o.metered] } : {}),
        },
        idempotencyKey: o.idempotencyKey ?? randomUUID(),
      });
      output(g, toJson(PriceSchema, price!), `price ${price?.id}: ${major(amountMinor, o.currency)}${o.oneOff ? ' once' : ` every ${o.intervalCount} ${o.interval}`}${o.metered ? ` per unit used (${o.metered} of the period's usage)` : ''}`);
    });

  const coupon = billing.command('coupon').description('coupons (discounts on subscriptions)');
  coupon.command('create')
    .description('create a coupon: a percentage or an amount off, once, for some periods, or forever')
    .requiredOption('--name <name>', 'display name')
    .option('--percent-off <percent>', 'percentage off, e.g. 12.5 (at most two decimals)')
    .option('--amount-off <decimal>', 'amount off in major units, e.g. 5.00 (with --currency)')
    .option('--currency <cur>', 'the currency of --amount-off')
    .addOption(new Option('--duration <d>', 'how long it applies').choices(['once', 'repeating', 'forever']).default('once'))
    .option('--months <n>', 'billing periods a repeating coupon applies for (1..120)')
    .addOption(keyOption())
    .action(async (o: { name: string; percentOff?: string; amountOff?: string; currency?: string; duration: string; months?: string; idempotencyKey?: string }, cmd: Command) => {
      if ((o.percentOff === undefined) === (o.amountOff === undefined)) throw new CliError('give exactly one of --percent-off and --amount-off');
      if (o.amountOff !== undefined && !o.currency) throw new CliError('--amount-off needs --currency');
      if ((o.duration === 'repeating') !== (o.months !== undefined)) throw new CliError('--months goes with --duration repeating, and only with it');
      const amountOffMinor = o.amountOff === undefined ? 0n : parseDecimal(o.amountOff, o.currency!, { field: 'amount-off' }).amountMinor;
      const { g, api } = client(cmd);
      const res = await api.billing.createCoupon({
        coupon: {
          name: o.name, percentOffBps: o.percentOff === undefined ? 0 : percentBps(o.percentOff), amountOffMinor, currency: o.currency ?? '',
          duration: o.duration, durationInMonths: o.months === undefined ? 0 : wholeNumber(o.months, '--months', 1),
        },
        idempotencyKey: o.idempotencyKey ?? randomUUID(),
      });
      const c = res.coupon!;
      output(g, toJson(CouponSchema, c), `coupon ${c.id} "${c.name}": ${couponRow(c).off} off, ${couponRow(c).duration}`);
    });
  coupon.command('get').description('show a coupon').argument('<id>', 'coupon_...')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      const { coupon: c } = await api.billing.getCoupon({ couponId: id });
      output(g, toJson(CouponSchema, c!), table([couponRow(c!)], Object.keys(couponRow(c!))));
    });
  listOptions(coupon.command('list').description('list coupons'))
    .action(listAction('coupons', async (api, o: { limit: string; pageToken: string }, pageToken, pageSize) => {
      const res = await api.billing.listCoupons({ pageSize, pageToken });
      return { items: res.coupons, nextPageToken: res.nextPageToken };
    }, (x) => toJson(CouponSchema, x), couponRow));

  const customer = billing.command('customer').description('customers\' billing profiles');
  customer.command('balance').description('a customer\'s credit balance per currency (from credit notes and prorations)').argument('<id>', 'cus_...')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      const { balances } = await api.billing.getCustomerCreditBalance({ customerId: id });
      output(g, balances.map((b) => ({ currency: b.currency, amountMinor: String(b.amountMinor) })),
        balances.length === 0 ? `customer ${id}: no credit` : `customer ${id}: ${balances.map((b) => major(b.amountMinor, b.currency)).join(', ')} of credit`);
    });
  customer.command('set')
    .description('set a customer\'s billing profile (default payment method, tax location, test clock)')
    .requiredOption('--customer <id>', 'customer, cus_...')
    .requiredOption('--payment-method <id>', 'default payment method, pm_...')
    .requiredOption('--country <cc>', 'country, e.g. FR')
    .option('--postcode <p>', 'postcode', '')
    .option('--vat-id <id>', 'VAT id of a business customer', '')
    .option('--clock <id>', 'test clock to attach the customer to (test tenants only)', '')
    .addOption(keyOption())
    .action(async (o: { customer: string; paymentMethod: string; country: string; postcode: string; vatId: string; clock: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { customer } = await api.billing.updateBillingCustomer({
        customer: { customerId: o.customer, defaultPaymentMethodId: o.paymentMethod, country: o.country, postcode: o.postcode, vatId: o.vatId, testClockId: o.clock },
        idempotencyKey: o.idempotencyKey ?? randomUUID(),
      });
      output(g, toJson(BillingCustomerSchema, customer!), `customer ${customer?.customerId}: pays with ${customer?.defaultPaymentMethodId}, taxed in ${customer?.country}${customer?.testClockId ? `, on test clock ${customer.testClockId}` : ''}`);
    });

  const subscription = billing.command('subscription').description('subscriptions');
  subscription.command('create')
    .description('subscribe a customer to a price (the first invoice is finalized and charged at once unless trialing)')
    .requiredOption('--customer <id>', 'customer, cus_...')
    .requiredOption('--price <id>', 'recurring price, price_...')
    .option('--quantity <n>', 'quantity (seats)', '1')
    .option('--trial-days <n>', 'trial length in days', '0')
    .option('--coupon <id>', 'coupon, coupon_...', '')
    .addOption(keyOption())
    .action(async (o: { customer: string; price: string; quantity: string; trialDays: string; coupon: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const res = await api.billing.createSubscription({
        customerId: o.customer, items: [{ priceId: o.price, quantity: BigInt(positiveInt(o.quantity, '--quantity')) }], trialDays: positiveInt(o.trialDays, '--trial-days'),
        couponId: o.coupon, idempotencyKey: o.idempotencyKey ?? randomUUID(),
      });
      output(g, { subscription: res.subscription && toJson(SubscriptionSchema, res.subscription), invoice: res.invoice && toJson(InvoiceSchema, res.invoice) },
        [subscriptionText(res.subscription!), ...(res.invoice ? [table([invoiceRow(res.invoice)], Object.keys(invoiceRow(res.invoice)))] : [])].join('\n'));
    });
  subscription.command('get').description('show a subscription').argument('<id>', 'sub_...')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      const { subscription: s } = await api.billing.getSubscription({ subscriptionId: id });
      output(g, toJson(SubscriptionSchema, s!), subscriptionText(s!));
    });
  subscription.command('update').description('change the price and/or quantity mid-period, prorated (UpdateSubscription)').argument('<id>', 'sub_...')
    .option('--item <id>', 'the item (si_0...); default: the only licensed item', '')
    .option('--price <id>', 'the new price, price_... (default: unchanged)', '')
    .option('--quantity <n>', 'the new quantity (default: unchanged)', '0')
    .addOption(new Option('--proration-behavior <b>', 'how the change is prorated').choices(['create_prorations', 'always_invoice', 'none']).default('create_prorations'))
    .option('--proration-date <iso>', 'when the change takes effect (default: the customer\'s now)')
    .addOption(keyOption())
    .action(async (id: string, o: { item: string; price: string; quantity: string; prorationBehavior: string; prorationDate?: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const res = await api.billing.updateSubscription({
        subscriptionId: id, idempotencyKey: o.idempotencyKey ?? randomUUID(),
        change: { itemId: o.item, priceId: o.price, quantity: BigInt(positiveInt(o.quantity, '--quantity')), prorationBehavior: o.prorationBehavior, ...(o.prorationDate ? { prorationDate: timeOf(o.prorationDate, '--proration-date') } : {}) },
      });
      output(g, { subscription: res.subscription && toJson(SubscriptionSchema, res.subscription), invoice: res.invoice && toJson(InvoiceSchema, res.invoice) },
        [subscriptionText(res.subscription!), ...(res.invoice ? [table([invoiceRow(res.invoice)], Object.keys(invoiceRow(res.invoice)))] : [])].join('\n'));
    });
  listOptions(subscription.command('list').description('list subscriptions, newest first').option('--customer <id>', 'only this customer\'s', ''))
    .action(listAction('subscriptions', async (api, o: { customer: string; limit: string; pageToken: string }, pageToken, pageSize) => {
      const res = await api.billing.listSubscriptions({ customerId: o.customer, pageSize, pageToken });
      return { items: res.subscriptions, nextPageToken: res.nextPageToken };
    }, (x) => toJson(SubscriptionSchema, x), subscriptionRow));
  subscription.command('preview').description('the next invoice as it would be now, optionally after a change (nothing is written)').argument('<id>', 'sub_...')
    .option('--item <id>', 'the item to change (si_0...); default: the only licensed item', '')
    .option('--price <id>', 'with this price instead (default: unchanged)', '')
    .option('--quantity <n>', 'with this quantity instead (default: unchanged)', '0')
    .option('--proration-date <iso>', 'when the change would take effect (default: the customer\'s now)')
    .action(async (id: string, o: { item: string; price: string; quantity: string; prorationDate?: string }, cmd: Command) => {
      const quantity = BigInt(positiveInt(o.quantity, '--quantity'));
      const changing = o.item !== '' || o.price !== '' || quantity > 0n || o.prorationDate !== undefined;
      const { g, api } = client(cmd);
      const { invoice: i } = await api.billing.previewUpcomingInvoice({
        subscriptionId: id,
        ...(changing ? { change: { itemId: o.item, priceId: o.price, quantity, prorationBehavior: 'create_prorations', ...(o.prorationDate ? { prorationDate: timeOf(o.prorationDate, '--proration-date') } : {}) } } : {}),
      });
      const lines = i!.lines.map((l) => ({ description: l.description, quantity: String(l.quantity), amount: major(l.amountMinor, i!.currency), tax: major(l.taxMinor, i!.currency) }));
      output(g, toJson(InvoiceSchema, i!), [table([invoiceRow(i!)], Object.keys(invoiceRow(i!))), ...(lines.length > 0 ? [table(lines, Object.keys(lines[0]!))] : [])].join('\n'));
    });
  subscription.command('pause').description('pause collection: no renewals or invoices until resumed').argument('<id>', 'sub_...').addOption(keyOption())
    .action(async (id: string, o: { idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { subscription: x } = await api.billing.pauseSubscription({ subscriptionId: id, idempotencyKey: o.idempotencyKey ?? randomUUID() });
      output(g, toJson(SubscriptionSchema, x!), subscriptionText(x!));
    });
  subscription.command('resume').description('resume a paused subscription').argument('<id>', 'sub_...')
    .addOption(new Option('--anchor <anchor>', 'now: a new period starts today; unchanged: the old period dates carry on').choices(['now', 'unchanged']).default('now'))
    .addOption(keyOption())
    .action(async (id: string, o: { anchor: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { subscription: x } = await api.billing.resumeSubscription({ subscriptionId: id, billingCycleAnchor: o.anchor, idempotencyKey: o.idempotencyKey ?? randomUUID() });
      output(g, toJson(SubscriptionSchema, x!), subscriptionText(x!));
    });
  subscription.command('cancel').description('cancel now, or at the end of the current period').argument('<id>', 'sub_...')
    .option('--at-period-end', 'cancel when the current period ends').addOption(keyOption())
    .action(async (id: string, o: { atPeriodEnd?: boolean; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { subscription: s } = await api.billing.cancelSubscription({ subscriptionId: id, atPeriodEnd: o.atPeriodEnd === true, idempotencyKey: o.idempotencyKey ?? randomUUID() });
      output(g, toJson(SubscriptionSchema, s!), subscriptionText(s!));
    });

  billing.command('usage').description('metered usage').command('record')
    .description('record usage of a metered price on a subscription (billed at the end of the period)')
    .requiredOption('--subscription <id>', 'subscription, sub_...')
    .requiredOption('--price <id>', 'the metered price, price_...')
    .requiredOption('--quantity <n>', 'units used')
    .option('--time <iso>', 'when it was used (default: now)')
    .addOption(keyOption())
    .action(async (o: { subscription: string; price: string; quantity: string; time?: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const res = await api.billing.recordUsage({
        subscriptionId: o.subscription, priceId: o.price, quantity: BigInt(wholeNumber(o.quantity, '--quantity', 1)),
        ...(o.time ? { time: timeOf(o.time, '--time') } : {}), idempotencyKey: o.idempotencyKey ?? randomUUID(),
      });
      output(g, { usageRecordId: res.usageRecordId }, `usage ${res.usageRecordId}: ${o.quantity} of ${o.price} on ${o.subscription}`);
    });

  billing.command('invoice-item').description('one-off charges on a subscription').command('create')
    .description('add a one-off price to a subscription\'s next invoice, or invoice it at once with --invoice-now')
    .requiredOption('--subscription <id>', 'subscription, sub_...')
    .requiredOption('--price <id>', 'a one-off price, price_...')
    .option('--quantity <n>', 'quantity', '1')
    .option('--description <text>', 'the invoice line\'s text (default: the product\'s name)', '')
    .option('--invoice-now', 'finalize and charge an invoice for it now')
    .addOption(keyOption())
    .action(async (o: { subscription: string; price: string; quantity: string; description: string; invoiceNow?: boolean; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const res = await api.billing.createInvoiceItem({
        subscriptionId: o.subscription, priceId: o.price, quantity: BigInt(wholeNumber(o.quantity, '--quantity', 1)), description: o.description,
        invoiceNow: o.invoiceNow === true, idempotencyKey: o.idempotencyKey ?? randomUUID(),
      });
      output(g, { subscription: res.subscription && toJson(SubscriptionSchema, res.subscription), invoice: res.invoice && toJson(InvoiceSchema, res.invoice) },
        [subscriptionText(res.subscription!), ...(res.invoice ? [table([invoiceRow(res.invoice)], Object.keys(invoiceRow(res.invoice)))] : ['added to the next invoice'])].join('\n'));
    });

  const invoice = billing.command('invoice').description('invoices');
  listOptions(invoice.command('list').description('list invoices, newest first')
    .option('--subscription <id>', 'only this subscription\'s', '').option('--customer <id>', 'only this customer\'s', ''))
    .action(listAction('invoices', async (api, o: { subscription: string; customer: string; limit: string; pageToken: string }, pageToken, pageSize) => {
      const res = await api.billing.listInvoices({ subscriptionId: o.subscription, customerId: o.customer, pageSize, pageToken });
      return { items: res.invoices, nextPageToken: res.nextPageToken };
    }, (x) => toJson(InvoiceSchema, x), invoiceRow));
  invoice.command('pay').description('charge an open invoice now (a dunning retry by hand)').argument('<id>', 'inv_...')
    .option('--payment-method <id>', 'pay with this payment method (default: the customer\'s default)', '')
    .addOption(keyOption())
    .action(async (id: string, o: { paymentMethod: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const res = await api.billing.payInvoice({ invoiceId: id, paymentMethodId: o.paymentMethod, idempotencyKey: o.idempotencyKey ?? randomUUID() });
      output(g, { invoice: toJson(InvoiceSchema, res.invoice!), declineReason: res.declineReason },
        [table([invoiceRow(res.invoice!)], Object.keys(invoiceRow(res.invoice!))), ...(res.declineReason ? [`declined: ${res.declineReason}`] : [])].join('\n'));
      // A decline is an answer, not a failure of the command, but scripts need to see it.
      if (res.declineReason) process.exitCode = 1;
    });
  invoice.command('void').description('void an open invoice (it will not be collected)').argument('<id>', 'inv_...').addOption(keyOption())
    .action(async (id: string, o: { idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { invoice: i } = await api.billing.voidInvoice({ invoiceId: id, idempotencyKey: o.idempotencyKey ?? randomUUID() });
      output(g, toJson(InvoiceSchema, i!), table([invoiceRow(i!)], Object.keys(invoiceRow(i!))));
    });
  invoice.command('credit-note').description('credit part or all of a finalized invoice (reduces what is due, or credits the customer)').argument('<id>', 'inv_...')
    .requiredOption('--amount <decimal>', 'amount in the invoice\'s currency, major units, tax included, e.g. 5.00')
    .option('--reason <text>', 'why', '')
    .addOption(keyOption())
    .action(async (id: string, o: { amount: string; reason: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      // The currency is the invoice's: read it first, so that the amount is parsed with its exponent.
      const { invoice: before } = await api.billing.getInvoice({ invoiceId: id });
      const amountMinor = parseDecimal(o.amount, before!.currency, { field: 'amount' }).amountMinor;
      const res = await api.billing.createCreditNote({ invoiceId: id, amountMinor, reason: o.reason, idempotencyKey: o.idempotencyKey ?? randomUUID() });
      const note = res.creditNote!;
      output(g, { creditNote: toJson(CreditNoteSchema, note), invoice: res.invoice && toJson(InvoiceSchema, res.invoice) },
        [`credit note ${note.id}: ${major(note.amountMinor, before!.currency)} (tax ${major(note.taxMinor, before!.currency)}) on ${id}`, ...(res.invoice ? [table([invoiceRow(res.invoice)], Object.keys(invoiceRow(res.invoice)))] : [])].join('\n'));
    });
  invoice.command('get').description('show an invoice').argument('<id>', 'inv_...')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { g, api } = client(cmd);
      const { invoice: i } = await api.billing.getInvoice({ invoiceId: id });
      output(g, toJson(InvoiceSchema, i!), table([invoiceRow(i!)], Object.keys(invoiceRow(i!))));
    });
  invoice.command('pdf').description('write a finalized invoice as PDF').argument('<id>', 'inv_...').requiredOption('--out <file>', 'where to write it')
    .action(async (id: string, o: { out: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { pdf } = await api.billing.getInvoicePdf({ invoiceId: id });
      writeFileSync(o.out, pdf);
      output(g, { file: o.out, bytes: pdf.byteLength }, `invoice ${id} written to ${o.out} (${pdf.byteLength} bytes)`);
    });

  const clock = billing.command('clock').description('test clocks (test tenants only)');
  clock.command('create').description('create a test clock').option('--name <name>', 'display name', '').option('--time <iso>', 'its starting time (default: now)')
    .addOption(keyOption())
    .action(async (o: { name: string; time?: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { testClock } = await api.billing.createTestClock({ name: o.name, ...(o.time ? { frozenTime: timeOf(o.time, '--time') } : {}), idempotencyKey: o.idempotencyKey ?? randomUUID() });
      output(g, toJson(TestClockSchema, testClock!), `test clock ${testClock?.id} at ${iso(testClock?.frozenTime)}`);
    });
  clock.command('advance').description('move a test clock forward, running every renewal and retry due on the way').argument('<clock>', 'clock_...')
    .requiredOption('--to <iso>', 'the new time, e.g. 2027-01-31T00:00:00Z').addOption(keyOption())
    .action(async (id: string, o: { to: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const res = await api.billing.advanceTestClock({ testClockId: id, frozenTime: timeOf(o.to, '--to'), idempotencyKey: o.idempotencyKey ?? randomUUID() });
      output(g, { testClock: toJson(TestClockSchema, res.testClock!), invoicesFinalized: res.invoicesFinalized, chargeAttempts: res.chargeAttempts },
        `test clock ${id} at ${iso(res.testClock?.frozenTime)}: ${res.invoicesFinalized} invoices finalized, ${res.chargeAttempts} charge attempts on the way`);
    });
}
