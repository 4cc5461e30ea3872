-- The immutable archive: every domain event verbatim, one row per event id (ADR 0029).
--
-- ReplacingMergeTree keyed by the sorting key (tenant_id, occurred_at, event_id): the same event is
-- always the same key (occurred_at is the outbox document's createdAt, fixed at the write), so a
-- redelivered, replayed or duplicated event collapses into one row at merge time. Merges happen
-- whenever ClickHouse likes, so every read must be correct before them: `FINAL`, or
-- `argMax(column, inserted_at_ms) ... GROUP BY event_id`. The version (inserted_at_ms) only picks
-- which of identical copies survives.
--
-- Partitioned by month of occurred_at: retention (README "Analytics") drops whole months with
-- `ALTER TABLE events DROP PARTITION YYYYMM`; there is no TTL clause because ClickHouse 18.16
-- (Debian 12's package, used locally) cannot parse one (TTL came in 19.6).
--
-- Only types and clauses that ClickHouse 18.16 and current ClickHouse both accept (INFRA.md).
CREATE TABLE IF NOT EXISTS events
(
    event_id       String,
    tenant_id      String,
    type           String,
    aggregate_id   String,
    occurred_at    DateTime('UTC'),
    occurred_at_ms UInt64,
    trace_id       String,
    span_id        String,
    payload_json   String,
    message_id     String,
    inserted_at_ms UInt64
)
ENGINE = ReplacingMergeTree(inserted_at_ms)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, occurred_at, event_id);
