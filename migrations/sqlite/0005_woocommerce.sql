-- WooCommerce stores: what Stockade has heard from each store and what it has told it.
-- Instants are microseconds since the Unix epoch, like everywhere else.

-- Every signed webhook delivery, recorded before it is processed: a delivery is answered
-- 2xx once it is here, and one left unprocessed by a stopped process is processed later.
-- The payload is emptied once processed (it carries the customer's details).
CREATE TABLE woo_deliveries (
    store        TEXT NOT NULL,
    delivery_id  TEXT NOT NULL,
    topic        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    PRIMARY KEY (store, delivery_id)
);
CREATE INDEX woo_deliveries_unprocessed ON woo_deliveries (store, processed_at, received_at);

-- Each WooCommerce order Stockade has seen: the newest version (date_modified_gmt) taken
-- in, whether its effect is done (settled), and the Stockade order it became.
CREATE TABLE woo_orders (
    store        TEXT NOT NULL,
    woo_order_id INTEGER NOT NULL,
    number       TEXT NOT NULL,
    order_id     TEXT,
    modified     INTEGER NOT NULL,
    settled      INTEGER NOT NULL DEFAULT 0,
    lines_hash   TEXT,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (store, woo_order_id)
);
CREATE INDEX woo_orders_by_order ON woo_orders (order_id);

-- Which Stockade SKU each product (variation_id 0) and variation stands for, and whether
-- that SKU's available-to-sell is written to it (a variation without stock of its own
-- follows its parent, which is written instead).
CREATE TABLE woo_skus (
    store        TEXT NOT NULL,
    product_id   INTEGER NOT NULL,
    variation_id INTEGER NOT NULL,
    sku          TEXT NOT NULL,
    writes_stock INTEGER NOT NULL,
    PRIMARY KEY (store, product_id, variation_id)
);
CREATE INDEX woo_skus_by_sku ON woo_skus (store, sku);

-- The stock last written to each product or variation, so only changes are written.
CREATE TABLE woo_pushed (
    store        TEXT NOT NULL,
    product_id   INTEGER NOT NULL,
    variation_id INTEGER NOT NULL,
    stock        INTEGER NOT NULL,
    pushed_at    INTEGER NOT NULL,
    PRIMARY KEY (store, product_id, variation_id)
);

-- Where the next order poll starts (date_modified_gmt).
CREATE TABLE woo_cursors (
    store          TEXT PRIMARY KEY,
    modified_after INTEGER NOT NULL
);

-- Orders Stockade could not take as they are: one row per order and problem, shown by
-- the admin API, and noted on the order in the store once.
CREATE TABLE woo_exceptions (
    id           TEXT PRIMARY KEY,
    store        TEXT NOT NULL,
    woo_order_id INTEGER NOT NULL,
    number       TEXT NOT NULL,
    code         TEXT NOT NULL,
    detail       TEXT NOT NULL,
    order_id     TEXT,
    noted        INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (store, woo_order_id, code)
);
CREATE INDEX woo_exceptions_unnoted ON woo_exceptions (store, noted);

-- Units of each returned SKU already refunded in the store, per RMA.
CREATE TABLE woo_refunds (
    store  TEXT NOT NULL,
    rma_id TEXT NOT NULL,
    sku    TEXT NOT NULL,
    units  INTEGER NOT NULL,
    PRIMARY KEY (store, rma_id, sku)
);
