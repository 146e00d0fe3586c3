-- Periodic jobs one instance does for the cluster (the projection sweep, scheduled
-- reconciliation): the instance holding a job's lease until `until` (microseconds) runs
-- it; another takes the lease over once it has lapsed, so a stopped instance's job moves on.
-- `done_at`: when the last round that completed began, for every instance to report (how
-- fresh the ERP's figures are, whichever instance swept them).
CREATE TABLE leases (
    name    TEXT PRIMARY KEY,
    holder  TEXT NOT NULL,
    until   BIGINT NOT NULL,
    done_at BIGINT
);
