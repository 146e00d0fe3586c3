-- The hash-chained audit log. `seq` is assigned by the writer as the previous entry's
-- plus one, so a removed entry leaves a visible gap; each hash covers the entry's fields
-- and the previous hash (see domain/audit.rs).
CREATE TABLE audit_log (
    seq             BIGINT PRIMARY KEY,
    at              BIGINT NOT NULL,
    client_id       TEXT,
    subject         TEXT,
    method          TEXT NOT NULL,
    route           TEXT NOT NULL,
    resource_id     TEXT,
    status          BIGINT NOT NULL,
    request_id      TEXT NOT NULL,
    idempotency_key TEXT,
    body_sha256     TEXT,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
CREATE INDEX audit_log_by_client ON audit_log (client_id, seq);
CREATE INDEX audit_log_by_time ON audit_log (at);
