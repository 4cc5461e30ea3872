-- Typed projections of the events, one row per event (per posting for the ledger), keyed like
-- `events` (ReplacingMergeTree on a sorting key that ends in the event id): a re-inserted event
-- replaces itself. Read with FINAL or argMax(..., inserted_at_ms) GROUP BY the key. Amounts are
-- Int64 minor units, exact; currency is the ISO 4217 code, '' when the event does not carry it
-- (refund and chargeback events: join payment_events on payment_id for the payment's currency).

-- payment.created, payment.status_changed, payment.metadata_updated, payment.anomaly.
-- `status` is the status after the event ('' when the event does not change it); `amount_minor`
-- and `currency` are the payment's terms (payment.created only; 0 and '' otherwise).
-- (payment_version, event_index) order the events of one payment: several events of one
-- transition share occurred_at.
CREATE TABLE IF NOT EXISTS payment_events
(
    event_id        String,
    tenant_id       String,
    payment_id      String,
    type            String,
    occurred_at     DateTime('UTC'),
    occurred_at_ms  UInt64,
    payment_version UInt64,
    event_index     UInt32,
    status          String,
    status_from     String,
    amount_minor    Int64,
    currency        String,
    capture_method  String,
    customer_id     String,
    psp             String,
    trace_id        String,
    span_id         String,
    inserted_at_ms  UInt64
)
ENGINE = ReplacingMergeTree(inserted_at_ms)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, event_id);

-- payment.refund_succeeded (status 'succeeded', amount_minor the refund) and
-- payment.refund_failed (status 'failed', amount_minor 0).
CREATE TABLE IF NOT EXISTS refunds
(
    event_id       String,
    tenant_id      String,
    payment_id     String,
    refund_id      String,
    type           String,
    status         String,
    occurred_at    DateTime('UTC'),
    occurred_at_ms UInt64,
    amount_minor   Int64,
    currency       String,
    trace_id       String,
    span_id        String,
    inserted_at_ms UInt64
)
ENGINE = ReplacingMergeTree(inserted_at_ms)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, event_id);

-- payment.chargeback (amount_minor disputed, > 0) and payment.chargeback_reversed (amount_minor
-- given back, > 0; `type` says which).
CREATE TABLE IF NOT EXISTS disputes
(
    event_id       String,
    tenant_id      String,
    payment_id     String,
    type           String,
    occurred_at    DateTime('UTC'),
    occurred_at_ms UInt64,
    amount_minor   Int64,
    currency       String,
    trace_id       String,
    span_id        String,
    inserted_at_ms UInt64
)
ENGINE = ReplacingMergeTree(inserted_at_ms)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, event_id);

-- One row per posting of ledger.entry.posted (state 'posted') and ledger.entry.pending
-- (state 'pending'), and per posting of a pending entry's resolution ledger.pending.posted /
-- .voided / .expired (state 'posted' / 'voided' / 'expired', amount_minor the amount posted,
-- account_id, direction and currency '': the resolution event carries amounts only; join the
-- pending rows on (entry_id, posting_index)). direction is 'debit' or 'credit'.
CREATE TABLE IF NOT EXISTS ledger_postings
(
    event_id       String,
    posting_index  UInt32,
    tenant_id      String,
    entry_id       String,
    record_id      String,
    type           String,
    state          String,
    occurred_at    DateTime('UTC'),
    occurred_at_ms UInt64,
    account_id     String,
    direction      String,
    amount_minor   Int64,
    currency       String,
    trace_id       String,
    span_id        String,
    inserted_at_ms UInt64
)
ENGINE = ReplacingMergeTree(inserted_at_ms)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, event_id, posting_index);
