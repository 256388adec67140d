-- Payment links (switch/links/): a consumer gets an SMS with a short signed link to
-- their bill, opens it on a phone and pays through a payment gateway (UPI collect).
-- The gateway is an `agents` row of kind 'gateway' whose wallet is the gateway
-- settlement account: the money a collect brings in is credited to it from the
-- gateway's receivable, and the bill is paid from it by the same pay flow as every
-- other channel ('link'). Money a bill could not take goes back the same way.

ALTER TABLE agents DROP CONSTRAINT agents_kind_check;
ALTER TABLE agents ADD CONSTRAINT agents_kind_check CHECK (kind IN ('agent', 'partner', 'gateway'));
ALTER TABLE agents DROP CONSTRAINT agents_fps_id_of_agents;
ALTER TABLE agents ADD CONSTRAINT agents_fps_id_of_agents
    CHECK (kind <> 'agent' OR fps_id IS NOT NULL);

ALTER TABLE pays DROP CONSTRAINT pays_channel_check;
ALTER TABLE pays ADD CONSTRAINT pays_channel_check
    CHECK (channel IN ('terminal', 'partner', 'link'));

-- A link: one bill of one consumer, fetched live when the link was made. It is paid
-- at most once (paid_order), expires, and is named in its SMS by id + signed tag.
CREATE TABLE pay_links (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    biller_id     text NOT NULL,
    consumer_account text NOT NULL,
    consumer_params jsonb NOT NULL DEFAULT '{}',
    consumer_name text NOT NULL,
    mobile        text NOT NULL CHECK (mobile ~ '^[6-9][0-9]{9}$'),
    language      text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'hi')),
    amount_paise  bigint NOT NULL CHECK (amount_paise > 0),
    arrears_paise bigint NOT NULL DEFAULT 0 CHECK (arrears_paise >= 0),
    due_date      date NOT NULL,
    bill_number   text NOT NULL,
    bill_ref      text,                 -- the fetch's bill reference, carried into the pay
    state         text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'paid', 'expired')),
    paid_order    text,                 -- the order whose money pays it (set once)
    expires_at    timestamptz NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'paid') <= (paid_order IS NOT NULL))
);
CREATE INDEX pay_links_consumer ON pay_links (biller_id, consumer_account);
CREATE INDEX pay_links_open ON pay_links (expires_at) WHERE state = 'open';

-- An order: one attempt to collect a link's amount through the gateway. Its states
-- and the rules between them are in switch/links/orders.py.
CREATE TABLE link_orders (
    id           text PRIMARY KEY CHECK (id ~ '^L[0-9]+-[0-9]+$'),  -- 'L<link>-<n>'
    link_id      bigint NOT NULL REFERENCES pay_links (id),
    amount_paise bigint NOT NULL CHECK (amount_paise > 0),
    payer_vpa    text NOT NULL,
    state        text NOT NULL DEFAULT 'created' CHECK (state IN (
        'created', 'pending', 'failed', 'collected', 'paying', 'paid', 'refunding', 'refunded')),
    gateway_ref  text,
    pay_id       bigint,                -- the pay (channel 'link', ref = this id)
    failure      text,
    attempts     integer NOT NULL DEFAULT 0,
    next_check_at timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- At most one order of a link in flight: a second tap on "Pay" finds the first.
CREATE UNIQUE INDEX link_orders_one_in_flight ON link_orders (link_id)
    WHERE state IN ('created', 'pending');
CREATE INDEX link_orders_due ON link_orders (next_check_at)
    WHERE state IN ('created', 'pending', 'collected', 'paying', 'refunding')
       OR (state = 'failed' AND attempts = 0);

CREATE TRIGGER link_orders_amount_immutable BEFORE UPDATE ON link_orders FOR EACH ROW
    WHEN (NEW.amount_paise <> OLD.amount_paise OR NEW.link_id <> OLD.link_id)
    EXECUTE FUNCTION ledger_refuse('an order''s amount and link never change');

-- Every callback the gateway sent, as it came (duplicates and late ones included).
CREATE TABLE gateway_callbacks (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   text NOT NULL,
    status     text NOT NULL,
    amount_paise bigint,
    outcome    text NOT NULL,   -- what the switch did with it
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_callbacks_order ON gateway_callbacks (order_id);
