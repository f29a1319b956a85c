-- R30: a seller's auto-cancel policy (from catalog's AutoCancelPolicySet; off by default) and
-- the inbound slips of each line, with the ship-by first promised, that the policy is judged by.
ALTER TABLE sellers ADD COLUMN auto_cancel_days integer,
                    ADD COLUMN auto_cancel_second_slip boolean NOT NULL DEFAULT false;

CREATE TABLE line_slips (
    order_id          text    NOT NULL,
    line_id           text    NOT NULL,
    slips             integer NOT NULL,
    promised_ship_by  date    NOT NULL,
    PRIMARY KEY (order_id, line_id)
);
