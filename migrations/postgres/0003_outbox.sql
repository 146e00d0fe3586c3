-- The transactional outbox: events written in the same transaction as the change that
-- caused them. `seq` orders them; `aggregate` (an order id, an RMA's order, a SKU) is the
-- unit whose events must reach a destination in order.
CREATE TABLE outbox (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    aggregate   TEXT NOT NULL,
    payload     TEXT NOT NULL,
    traceparent TEXT,
    created_at  BIGINT NOT NULL,
    fanned_out  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_to_fan_out ON outbox (fanned_out, seq);

-- One row per event and destination: its state, attempts and lease. A dead row is a
-- dead letter; its attempts are in delivery_attempts.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    seq             BIGINT NOT NULL,
    event_id        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    aggregate       TEXT NOT NULL,
    destination     TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    discard_reason  TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (event_id, destination)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_in_order ON deliveries (destination, aggregate, seq);

CREATE TABLE delivery_attempts (
    delivery_id TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    error       TEXT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- Inbound events from a stream that could not be applied after the allowed deliveries.
CREATE TABLE inbound_dead_letters (
    id             TEXT PRIMARY KEY,
    stream         TEXT NOT NULL,
    stream_seq     BIGINT NOT NULL,
    kind           TEXT NOT NULL,
    source         TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    payload        TEXT NOT NULL,
    deliveries     BIGINT NOT NULL,
    last_error     TEXT NOT NULL,
    state          TEXT NOT NULL,
    discard_reason TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
