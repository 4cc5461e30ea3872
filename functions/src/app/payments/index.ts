/** The payments use cases (the app side of domain/payments): what handlers, the CLI and tests call. */
export type { PaymentsDeps } from './payments-deps.js';
export type { CommandKey, KeyedResult } from './command-key.js';
export { paymentAccountId, ensurePaymentAccounts } from './payment-accounts.js';
export { paymentAnomalyMessage } from './transitions.js';
export { createPayment } from './create-payment.js';
export { confirm, capture, cancel, refund, updateMetadata, getPayment } from './commands.js';
export { listPaymentEvents } from './payment-events.js';
export { parkedEventRetentionMs, receiveWebhook, rematchParkedEvents, processInboxEvent } from './webhooks-inbox.js';
export { runJanitor } from './janitor.js';
export { setRoutingRules } from './routing-rules.js';
export { checkNewCustomer, createCustomer, getCustomer, type NewCustomer } from './customers.js';
export { checkNewPaymentMethod, createPaymentMethod, looksLikePan, type NewPaymentMethod } from './payment-methods.js';
