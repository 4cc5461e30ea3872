/**
 * `tally billing ...` (issue 14 item 8): the common BillingService calls from the shell. Amounts are
 * typed in major units ("9.90") and parsed exactly with the currency's exponent; JSON output is the
 * proto3 JSON of the API (amounts as strings of minor units).
 *
 *   tally billing settings set --origin DE [--prefix INV] [--retry-days 1,3,5,7] [--final unpaid|cancel]
 *   tally billing product create --name N
 *   tally billing price create --product P --amount 9.90 --currency EUR [--interval month --interval-count 1]
 *   tally billing customer set --customer C --payment-method PM --country FR [--postcode P] [--vat-id V] [--clock CLOCK]
 *   tally billing subscription create --customer C --price P [--quantity N] [--trial-days D]
 *   tally billing subscription get|cancel SUB [--at-period-end]
 *   tally billing subscription update SUB [--price P] [--quantity N] [--proration-behavior create_prorations|always_invoice|none] [--proration-date ISO]
 *   tally billing invoice list [--subscription SUB] | get INV | pdf INV --out FILE
 *   tally billing clock create [--name N] [--time ISO]
 *   tally billing clock advance CLOCK --to ISO
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { toJson } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Option, type Command } from 'commander';
import { formatDecimal, money, parseDecimal } from '../domain/money/index.js';
import {
  BillingCustomerSchema, BillingSettingsSchema, Interval, InvoiceSchema, InvoiceStatus, PriceModel, PriceSchema, ProductSchema, SubscriptionSchema, SubscriptionStatus,
  TestClockSchema, type Invoice, type Subscription,
} from '../gen/tally/billing/v1/billing_pb.js';
import { createTallyClient, type TallyClient } from './client.js';
import { CliError, output, table, target, type GlobalOptions } from './cli-support.js';

const iso = (t: Timestamp | undefined) => (t ? timestampDate(t).toISOString() : '');
const major = (minor: bigint, currency: string) => `${formatDecimal(money(minor, currency))} ${currency}`;
const intervals: Record<string, Interval> = { day: Interval.DAY, week: Interval.WEEK, month: Interval.MONTH, year: Interval.YEAR };

function timeOf(text: string, flag: string): Timestamp {
  const ms = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) throw new CliError(`${flag} ${text}: an ISO 8601 time such as 2026-03-01T00:00:00Z`);
  return timestampFromDate(new Date(ms));
}

function positiveInt(text: string, flag: string): number {
  if (!/^\d+$/.test(text)) throw new CliError(`${flag} ${text}: a whole number`);
  return Number(text);
}

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
  const billing = program.command('billing').description('subscriptions, invoices and test clocks (BillingService)');

  billing.command('settings').description('the tenant\'s billing settings').command('set')
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

  billing.command('product').description('products').command('create')
    .description('create a product').requiredOption('--name <name>', 'display name').addOption(keyOption())
    .action(async (o: { name: string; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { product } = await api.billing.createProduct({ name: o.name, idempotencyKey: o.idempotencyKey ?? randomUUID() });
      output(g, toJson(ProductSchema, product!), `product ${product?.id} "${product?.name}" created`);
    });

  billing.command('price').description('prices').command('create')
    .description('create a per-unit price (recurring unless --one-off)')
    .requiredOption('--product <id>', 'product, prod_...')
    .requiredOption('--amount <decimal>', 'amount per unit in major units, e.g. 9.90')
    .requiredOption('--currency <cur>', 'ISO 4217 currency')
    .addOption(new Option('--interval <unit>', 'billing interval').choices(Object.keys(intervals)).default('month'))
    .option('--interval-count <n>', 'intervals per period', '1')
    .option('--one-off', 'a one-off charge, not recurring')
    .option('--tax-inclusive', 'the amount includes tax')
    .addOption(keyOption())
    .action(async (o: { product: string; amount: string; currency: string; interval: string; intervalCount: string; oneOff?: boolean; taxInclusive?: boolean; idempotencyKey?: string }, cmd: Command) => {
      const amountMinor = parseDecimal(o.amount, o.currency, { field: 'amount' }).amountMinor;
      const { g, api } = client(cmd);
      const { price } = await api.billing.createPrice({
        price: {
          productId: o.product, currency: o.currency, scheme: { model: PriceModel.PER_UNIT, amountMinor }, taxInclusive: o.taxInclusive === true,
          ...(o.oneOff ? {} : { interval: intervals[o.interval], intervalCount: positiveInt(o.intervalCount, '--interval-count') }),
        },
        idempotencyKey: o.idempotencyKey ?? randomUUID(),
      });
      output(g, toJson(PriceSchema, price!), `price ${price?.id}: ${major(amountMinor, o.currency)}${o.oneOff ? ' once' : ` every ${o.intervalCount} ${o.interval}`}`);
    });

  billing.command('customer').description('customers\' billing profiles').command('set')
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
  subscription.command('cancel').description('cancel now, or at the end of the current period').argument('<id>', 'sub_...')
    .option('--at-period-end', 'cancel when the current period ends').addOption(keyOption())
    .action(async (id: string, o: { atPeriodEnd?: boolean; idempotencyKey?: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { subscription: s } = await api.billing.cancelSubscription({ subscriptionId: id, atPeriodEnd: o.atPeriodEnd === true, idempotencyKey: o.idempotencyKey ?? randomUUID() });
      output(g, toJson(SubscriptionSchema, s!), subscriptionText(s!));
    });

  const invoice = billing.command('invoice').description('invoices');
  invoice.command('list').description('list invoices, newest first (first 100)').option('--subscription <id>', 'only this subscription\'s', '')
    .action(async (o: { subscription: string }, cmd: Command) => {
      const { g, api } = client(cmd);
      const { invoices } = await api.billing.listInvoices({ subscriptionId: o.subscription, pageSize: 100 });
      const rows = invoices.map(invoiceRow);
      output(g, invoices.map((i) => toJson(InvoiceSchema, i)), rows.length === 0 ? 'no invoices' : table(rows, Object.keys(rows[0]!)));
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
