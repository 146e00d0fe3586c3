-- When the ERP acknowledged an order. A projection snapshot of the ERP's stock taken after
-- this instant already counts the order in the ERP's committed figure, so from then on the
-- local reservation is handed over instead of being subtracted a second time. NULL: not
-- acknowledged (or acknowledged before this column existed, and long since counted).
ALTER TABLE orders ADD COLUMN erp_acknowledged_at INTEGER;
