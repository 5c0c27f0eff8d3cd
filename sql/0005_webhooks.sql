-- Signed webhooks for consenting recipients' events, through a transactional outbox.

CREATE TABLE webhooks (
    id          bigint PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    url         text NOT NULL,
    secret      text NOT NULL,  -- Standard Webhooks "whsec_..." signing secret
    verdicts    text[] NOT NULL DEFAULT '{human}'
                CHECK (verdicts <@ ARRAY['human', 'proxy', 'machine'] AND verdicts <> '{}'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    removed_at  timestamptz
);
CREATE INDEX webhooks_account ON webhooks (account_id) WHERE removed_at IS NULL;

-- One row per (event, webhook), written in the same transaction as the event. The payload
-- is built at delivery time, so no address is ever stored here. id is the webhook-id
-- header, the same on every attempt.
CREATE TABLE webhook_outbox (
    id               uuid PRIMARY KEY,
    webhook_id       bigint NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    event_id         uuid NOT NULL,
    event_at         timestamptz NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed', 'dropped')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    last_status      integer,
    last_error       text
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_outbox_webhook ON webhook_outbox (webhook_id, created_at);

CREATE TABLE webhook_attempts (
    id           bigserial PRIMARY KEY,
    outbox_id    uuid NOT NULL REFERENCES webhook_outbox ON DELETE CASCADE,
    at           timestamptz NOT NULL DEFAULT now(),
    status       integer,
    error        text,
    duration_ms  integer NOT NULL
);
CREATE INDEX webhook_attempts_outbox ON webhook_attempts (outbox_id, id);
