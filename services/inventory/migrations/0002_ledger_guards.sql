-- The ledger is append-only (R12): an UPDATE, DELETE or TRUNCATE is an error, not a silent no-op.
DROP RULE stock_ledger_no_update ON stock_ledger;
DROP RULE stock_ledger_no_delete ON stock_ledger;

CREATE FUNCTION stock_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_ledger is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER stock_ledger_no_change BEFORE UPDATE OR DELETE ON stock_ledger
    FOR EACH ROW EXECUTE FUNCTION stock_ledger_append_only();
CREATE TRIGGER stock_ledger_no_truncate BEFORE TRUNCATE ON stock_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION stock_ledger_append_only();

-- Why a row exists: the type of the command or event (its id is cause_id).
ALTER TABLE stock_ledger ADD COLUMN cause_type text NOT NULL DEFAULT '';
ALTER TABLE stock_ledger ADD CONSTRAINT stock_ledger_kind CHECK (kind IN (
    'receipt', 'count', 'allocation', 'backorder_allocation', 'backorder_fill', 'backorder_limit',
    'release', 'backorder_release', 'shipment', 'backorder_shipment'));

-- A warehouse's priority in the allocation strategy is configuration (WAREHOUSE_PRIORITY),
-- read when deciding; a copy per row went stale whenever the configuration changed.
ALTER TABLE stock_levels DROP COLUMN priority;

