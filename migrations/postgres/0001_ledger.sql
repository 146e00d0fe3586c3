-- The embedded ledger. Instants are microseconds since the Unix epoch (BIGINT), so the
-- same queries run on PostgreSQL (BIGINT). Booleans are 0/1 integers for the same reason.

CREATE TABLE locations (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE skus (
    sku           TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    backorderable BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

-- Positions are derived: each row equals the fold of its movements, and both are written
-- in the same transaction.
CREATE TABLE positions (
    sku          TEXT NOT NULL REFERENCES skus (sku),
    location     TEXT NOT NULL REFERENCES locations (code),
    on_hand      BIGINT NOT NULL DEFAULT 0,
    committed    BIGINT NOT NULL DEFAULT 0,
    safety_stock BIGINT NOT NULL DEFAULT 0,
    unavailable  BIGINT NOT NULL DEFAULT 0,
    incoming     BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (sku, location)
);

-- The append-only movement ledger: the truth from which every figure is explained.
CREATE TABLE movements (
    id              BIGSERIAL PRIMARY KEY,
    sku             TEXT NOT NULL,
    location        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    d_on_hand       BIGINT NOT NULL,
    d_committed     BIGINT NOT NULL,
    d_safety_stock  BIGINT NOT NULL,
    d_unavailable   BIGINT NOT NULL,
    d_incoming      BIGINT NOT NULL,
    source          TEXT NOT NULL,
    source_event_id TEXT,
    reference       TEXT,
    at              BIGINT NOT NULL
);
CREATE INDEX movements_by_position ON movements (sku, location);

CREATE FUNCTION movements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the movement ledger is append-only';
END
$$;
CREATE TRIGGER movements_are_not_changed BEFORE UPDATE OR DELETE ON movements
    FOR EACH ROW EXECUTE FUNCTION movements_append_only();

-- The newest count sequence applied per (sku, location, source).
CREATE TABLE count_sequences (
    sku      TEXT NOT NULL,
    location TEXT NOT NULL,
    source   TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    PRIMARY KEY (sku, location, source)
);

CREATE TABLE orders (
    id               TEXT PRIMARY KEY,
    client_id        TEXT NOT NULL,
    channel          TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    status           TEXT NOT NULL,
    currency         TEXT NOT NULL,
    customer         TEXT NOT NULL,
    shipping_address TEXT NOT NULL,
    erp_system       TEXT NOT NULL,
    erp_reference    TEXT,
    erp_state        TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX orders_by_erp_state ON orders (erp_state, created_at);
CREATE INDEX orders_by_external_id ON orders (external_id);

CREATE TABLE order_lines (
    order_id    TEXT NOT NULL REFERENCES orders (id),
    line_no     BIGINT NOT NULL,
    sku         TEXT NOT NULL,
    quantity    BIGINT NOT NULL,
    unit_price  TEXT NOT NULL,
    backordered BIGINT NOT NULL,
    shipped     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE allocations (
    order_id TEXT NOT NULL REFERENCES orders (id),
    line_no  BIGINT NOT NULL,
    seq      BIGINT NOT NULL,
    location TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    shipped  BIGINT NOT NULL DEFAULT 0,
    released BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no, seq)
);

CREATE TABLE shipments (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    reference       TEXT NOT NULL,
    status          TEXT NOT NULL,
    carrier         TEXT,
    tracking_number TEXT,
    tracking_url    TEXT,
    shipped_at      BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (order_id, reference)
);

CREATE TABLE shipment_lines (
    shipment_id TEXT NOT NULL REFERENCES shipments (id),
    sku         TEXT NOT NULL,
    quantity    BIGINT NOT NULL,
    PRIMARY KEY (shipment_id, sku)
);

CREATE TABLE shipment_milestones (
    id          BIGSERIAL PRIMARY KEY,
    shipment_id TEXT NOT NULL REFERENCES shipments (id),
    status      TEXT NOT NULL,
    at          BIGINT NOT NULL,
    source      TEXT NOT NULL
);
CREATE INDEX milestones_by_shipment ON shipment_milestones (shipment_id);

CREATE TABLE rmas (
    id               TEXT PRIMARY KEY,
    order_id         TEXT NOT NULL REFERENCES orders (id),
    client_id        TEXT NOT NULL,
    status           TEXT NOT NULL,
    refund_reference TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX rmas_by_order ON rmas (order_id);
CREATE INDEX rmas_by_status ON rmas (status, updated_at);

CREATE TABLE rma_lines (
    rma_id              TEXT NOT NULL REFERENCES rmas (id),
    line_no             BIGINT NOT NULL,
    sku                 TEXT NOT NULL,
    quantity            BIGINT NOT NULL,
    reason              TEXT NOT NULL,
    received_resellable BIGINT NOT NULL DEFAULT 0,
    received_damaged    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (rma_id, line_no)
);

-- Responses stored under an Idempotency-Key, per client, until expires_at.
CREATE TABLE idempotency_keys (
    client_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      BIGINT NOT NULL,
    body        TEXT NOT NULL,
    location    TEXT,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);

-- Inbound events already applied, by the source's own id.
CREATE TABLE processed_events (
    source       TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (source, event_id)
);
