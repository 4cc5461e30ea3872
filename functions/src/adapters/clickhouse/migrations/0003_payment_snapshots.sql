-- The payment as it stands after each payment.* event (the event's `payload.payment`, written by
-- app/payments/transitions.ts paymentSnapshot): what merchant reports read (AnalyticsService,
-- ADR 0030). One row per event, keyed like the other typed tables: a re-inserted event replaces
-- itself. A payment's current state is the row of its highest payment_version: read it with
-- argMax(column, payment_version) GROUP BY payment_id, which duplicates cannot change (the copies
-- of a row are equal, and the events of one transition carry the same snapshot). Amounts are
-- Int64 minor units of `currency`.
CREATE TABLE IF NOT EXISTS payment_snapshots
(
    event_id                  String,
    tenant_id                 String,
    payment_id                String,
    type                      String,
    occurred_at               DateTime('UTC'),
    occurred_at_ms            UInt64,
    payment_version           UInt64,
    status                    String,
    psp                       String,
    amount_minor              Int64,
    currency                  String,
    amount_authorized_minor   Int64,
    amount_captured_minor     Int64,
    amount_refunded_minor     Int64,
    amount_charged_back_minor Int64,
    fee_minor                 Int64,
    decline_reason            String,
    payment_created_at_ms     UInt64,
    trace_id                  String,
    span_id                   String,
    inserted_at_ms            UInt64
)
ENGINE = ReplacingMergeTree(inserted_at_ms)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, event_id);
