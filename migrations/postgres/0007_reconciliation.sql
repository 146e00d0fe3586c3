-- Reconciliation runs, and every figure a run found different from Stockade's. A figure
-- that agrees is not recorded: a run over a clean catalog writes one row.
CREATE TABLE reconciliation_runs (
    id          TEXT PRIMARY KEY,
    started_by  TEXT NOT NULL,
    state       TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    skus        BIGINT NOT NULL DEFAULT 0,
    compared    BIGINT NOT NULL DEFAULT 0,
    drifted     BIGINT NOT NULL DEFAULT 0,
    corrected   BIGINT NOT NULL DEFAULT 0,
    error       TEXT
);
CREATE INDEX reconciliation_runs_by_start ON reconciliation_runs (started_at);

-- location '*': a channel's figure, which spans the channel's locations.
CREATE TABLE reconciliation_variances (
    run_id         TEXT NOT NULL REFERENCES reconciliation_runs (id),
    source         TEXT NOT NULL,
    sku            TEXT NOT NULL,
    location       TEXT NOT NULL,
    stockade       BIGINT NOT NULL,
    other          BIGINT NOT NULL,
    variance       BIGINT NOT NULL,
    over_threshold BIGINT NOT NULL,
    PRIMARY KEY (run_id, source, sku, location)
);


-- Each source's last count as counted, and the position's last movement when it was
-- applied: reconciliation carries the count forward by the physical flows after it. A
-- count that confirms the figure moves nothing, so the ledger alone cannot tell it.
ALTER TABLE count_sequences ADD COLUMN on_hand BIGINT;
ALTER TABLE count_sequences ADD COLUMN counted_at BIGINT;
ALTER TABLE count_sequences ADD COLUMN after_movement BIGINT;
