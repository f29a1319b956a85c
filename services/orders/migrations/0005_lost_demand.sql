-- R33: lost demand. The lines an allocation refused for lack of stock (AllocationRejected with reason
-- out_of_stock names them), with the SKU, seller and units turned away, written in the rejection's
-- transaction. One row per line: a repeated outcome changes nothing.
CREATE TABLE lost_demand (
    order_id     text        NOT NULL,
    line_id      text        NOT NULL,
    sku_id       text        NOT NULL,
    seller_id    text,
    qty          integer     NOT NULL CHECK (qty > 0),
    rejected_at  timestamptz NOT NULL,
    PRIMARY KEY (order_id, line_id)
);
CREATE INDEX lost_demand_seller_sku ON lost_demand (seller_id, sku_id);
