/** CreatePayment: a new payment, or a one-call checkout (created and confirmed in its first transaction). */
import { derivedId, newId } from '../../domain/ids.js';
import { invalidField } from '../../domain/errors.js';
import { createPaymentIntent, feeScheduleOf } from '../../domain/payments/index.js';
import { waitWhileInProgress } from '../../platform/idempotency/idempotency.js';
import type { TraceIds } from '../../platform/telemetry/tracing.js';
import { settleIn, type CommandKey, type KeyedResult } from './command-key.js';
import { confirmKeyed } from './commands.js';
import { requireCustomer } from './customers.js';
import { answerWithoutExecuting } from './keyed-command.js';
import { ensurePaymentAccounts } from './payment-accounts.js';
import { requirePaymentMethod, requireSameCustomer } from './payment-methods.js';
import type { PaymentsDeps } from './payments-deps.js';
import { outboxEventsOf, saveTransition } from './transitions.js';

export async function createPayment(
  deps: PaymentsDeps, tenantId: string,
  input: {
    amountMinor: bigint; currency: string; captureMethod: string; customerId: string; paymentMethodId: string; metadata?: Readonly<Record<string, string>>;
    /** Confirm in the same call and the same first transaction (a one-call checkout). */
    confirm?: boolean; returnUrl?: string;
  },
  trace: TraceIds, key: CommandKey,
): Promise<KeyedResult> {
  if (input.confirm === true && !input.paymentMethodId) throw invalidField('payment_method_id', 'required to confirm', 'FIELD_REQUIRED');
  // A payment that is confirmed (charged) by the call creating it takes its id from the key and
  // the request: a rerun after a crash finds it (startKeyed) instead of charging a second one.
  const id = input.confirm === true ? derivedId('pay', [key.ref.scope, key.ref.method, key.ref.key, key.requestHash]) : newId('pay');
  // The tenant's pricing, from the instance's tenant cache (a read only when it is cold).
  const fees = deps.tenantPricing ? feeScheduleOf(await deps.tenantPricing(tenantId), input.currency, deps.fees) : deps.fees;
  const t = createPaymentIntent({
    amountMinor: input.amountMinor, currency: input.currency, captureMethod: input.captureMethod,
    customerId: input.customerId || null, paymentMethodId: input.paymentMethodId || null, metadata: input.metadata, fees,
  }, { id, tenantId, nowMs: deps.clock.nowMs(), traceId: trace.traceId });
  // Independent reads, made together.
  const [method] = await Promise.all([
    input.paymentMethodId ? requirePaymentMethod(deps, tenantId, input.paymentMethodId) : undefined,
    input.customerId ? requireCustomer(deps, tenantId, input.customerId) : undefined,
  ]);
  if (method) requireSameCustomer(method, input.customerId || null);
  await ensurePaymentAccounts(deps, tenantId, input.currency);
  if (input.confirm === true) {
    // Created and confirmed in one transaction (one commit fewer than two calls), then as confirm.
    return confirmKeyed(deps, tenantId, { created: t }, '', input.returnUrl ?? '', trace, key);
  }
  // A new payment is all new (and posts nothing): one blind write of creates (payment, index,
  // outbox, the key's completed record), committed with others arriving meanwhile (ADR 0016).
  // Anything already there (a replay or another request under the key) makes it fail as a whole,
  // and the transaction below decides: it reads the key, and saves the payment with its response.
  const completed = { requestHash: key.requestHash, response: key.encode(t.intent), nowMs: deps.clock.nowMs(), retentionMs: key.options.retentionMs };
  if (await deps.store.createPaymentAtOnce({ intent: t.intent, outbox: outboxEventsOf(t, trace), trace, key: { ref: key.ref, completed } })) {
    return { kind: 'fresh', intent: t.intent };
  }
  return waitWhileInProgress(key.options, () => deps.ledger.lanes.withLane((lane) => deps.store.transaction(tenantId, async (tx): Promise<KeyedResult | 'in_progress'> => {
    const answered = answerWithoutExecuting(key, await tx.idempotency.read(key.ref), deps.clock.nowMs());
    if (answered !== null) return answered;
    await saveTransition(deps, tx, lane, t, trace);
    settleIn(tx, key, t, deps.clock.nowMs());
    return { kind: 'fresh', intent: t.intent };
  })));
}
