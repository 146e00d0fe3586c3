-- When a position's figures were last confirmed by the system of record that owns them
-- (an ERP projection sets it on every sync). NULL: the ledger owns the figure, so it is
-- always current.
ALTER TABLE positions ADD COLUMN as_of BIGINT;
