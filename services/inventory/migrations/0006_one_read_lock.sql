-- A SKU's lock and its levels are read in one statement (``lock_stock``). That statement's snapshot is taken
-- before it waits for a SKU's lock, so a level row another transaction added under that lock would not be
-- seen: each SKU row counts its level rows (kept by the database, whichever build inserts them), and being
-- locked it is read as the other transaction left it. A count that differs from the rows read makes the
-- levels be read again, after the lock.
ALTER TABLE sku_policies ADD COLUMN level_count integer NOT NULL DEFAULT 0,
-- Whether re-projecting the SKU's queue (R28) can find anything: set by any change to its inbounds, cleared by
-- a re-projection that found no open inbound and no part carrying a projected day.
                         ADD COLUMN may_project boolean NOT NULL DEFAULT true;

UPDATE sku_policies p SET level_count = (SELECT count(*) FROM stock_levels l WHERE l.sku_id = p.sku_id);

CREATE FUNCTION count_stock_levels() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE sku_policies SET level_count = level_count + 1 WHERE sku_id = NEW.sku_id;
    ELSE
        UPDATE sku_policies SET level_count = level_count - 1 WHERE sku_id = OLD.sku_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER stock_levels_counted AFTER INSERT OR DELETE ON stock_levels
    FOR EACH ROW EXECUTE FUNCTION count_stock_levels();

CREATE FUNCTION inbound_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sku_policies SET may_project = true WHERE sku_id = NEW.sku_id AND NOT may_project;
    RETURN NULL;
END $$;

CREATE TRIGGER inbounds_may_project AFTER INSERT OR UPDATE ON inbounds
    FOR EACH ROW EXECUTE FUNCTION inbound_changed();
