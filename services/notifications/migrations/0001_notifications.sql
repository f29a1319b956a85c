-- What the service knows of each order: who to tell and how they read dates (from OrderPlaced).
-- The only place a buyer's email address is kept; notifications refer to it by order.
CREATE TABLE buyer_orders (
    order_id     text PRIMARY KEY,
    buyer_id     text NOT NULL,
    buyer_email  text NOT NULL,
    region       text NOT NULL,
    locale       text NOT NULL,
    timezone     text,
    placed_at    timestamptz NOT NULL
);

-- Each accepted line: how much is on back order and the latest dates the buyer was promised.
-- dates_as_of orders the updates, so a replayed old delay never moves the dates back.
CREATE TABLE order_lines (
    order_id            text    NOT NULL,
    line_id             text    NOT NULL,
    sku_id              text    NOT NULL,
    qty                 integer NOT NULL,
    backorder_qty       integer NOT NULL,
    ship_by             date,
    estimated_delivery  date,
    dates_as_of         timestamptz NOT NULL,
    PRIMARY KEY (order_id, line_id)
);

-- Every notification on every channel. The id is deterministic (order, lines, kind, revision,
-- channel): inserting it twice does nothing, which is what makes each message go out once.
--   app:   the buyer's inbox; 'sent' when stored (read_at marks it read).
--   email: a durable send queue: pending -> sending (claimed, with a lease) -> sent | failed.
--          A 'sending' row whose lease ran out (its sender died) is due again.
CREATE TABLE notifications (
    notification_id     uuid        PRIMARY KEY,
    order_id            text        NOT NULL,
    buyer_id            text        NOT NULL,
    channel             text        NOT NULL CHECK (channel IN ('app', 'email')),
    kind                text        NOT NULL,
    line_ids            text[]      NOT NULL,
    revision            text        NOT NULL,
    ship_by             date,
    estimated_delivery  date,
    locale              text        NOT NULL,
    subject             text        NOT NULL,
    body_text           text        NOT NULL,
    body_html           text,
    data                jsonb       NOT NULL,
    status              text        NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts            integer     NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz,
    claim_token         uuid,
    last_error          text,
    read_at             timestamptz,
    caused_by           uuid,
    correlation_id      uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    failed_at           timestamptz,
    CHECK (channel = 'email' OR status IN ('sent', 'failed')),
    CHECK (status NOT IN ('pending', 'sending') OR next_attempt_at IS NOT NULL)
);
CREATE INDEX notifications_by_buyer ON notifications (buyer_id, created_at DESC);
CREATE INDEX notifications_by_order ON notifications (order_id, created_at);
CREATE INDEX notifications_email_due ON notifications (next_attempt_at)
    WHERE channel = 'email' AND status IN ('pending', 'sending');
