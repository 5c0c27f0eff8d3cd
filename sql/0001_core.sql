-- The tracking core: accounts, API tokens, recipients (encrypted), campaigns and links,
-- the consent ledger with its current state, per-recipient events (consenting recipients
-- only) and the anonymous counters and sketches (everyone, no identifiers).

CREATE TABLE accounts (
    id          bigint PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a token is kept; the token itself is shown once, at creation.
CREATE TABLE api_tokens (
    token_hash  bytea PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    scope       text NOT NULL CHECK (scope IN ('mailer', 'dpo')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- An address is stored only encrypted with the recipient's data key, and found through a
-- keyed blind index. The wrapped data key lives in its own table so that erasure can
-- destroy it (crypto-shredding) while the ledger keeps its row.
CREATE TABLE recipients (
    id                bigint PRIMARY KEY,
    account_id        bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    email_index       bytea,
    email_ciphertext  bytea,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, email_index)
);

CREATE TABLE recipient_keys (
    recipient_id  bigint PRIMARY KEY REFERENCES recipients ON DELETE CASCADE,
    wrapped_key   bytea NOT NULL
);

CREATE TABLE campaigns (
    id          bigint PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_account ON campaigns (account_id);

CREATE TABLE links (
    campaign_id  bigint NOT NULL REFERENCES campaigns ON DELETE CASCADE,
    link_no      integer NOT NULL CHECK (link_no BETWEEN 1 AND 65535),
    url          text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, link_no),
    UNIQUE (campaign_id, url)
);

-- Append-only: every grant, withdrawal and other consent action, with its proof.
CREATE TABLE consent_ledger (
    id            bigserial PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    recipient_id  bigint REFERENCES recipients ON DELETE SET NULL,
    action        text NOT NULL
                  CHECK (action IN ('granted', 'withdrawn', 'expired', 'refused', 'erased')),
    text_version  integer,
    text_sha256   bytea,
    at            timestamptz NOT NULL,
    method        text NOT NULL CHECK (method IN ('page', 'operator', 'import', 'system')),
    evidence      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX consent_ledger_recipient ON consent_ledger (recipient_id);
CREATE INDEX consent_ledger_account ON consent_ledger (account_id, id);

-- The current state, derived from the ledger in the same transaction as each ledger row.
-- A grant counts until expires_at; granted_at is the start of the current grant.
CREATE TABLE consent_state (
    recipient_id  bigint PRIMARY KEY REFERENCES recipients ON DELETE CASCADE,
    account_id    bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    state         text NOT NULL CHECK (state IN ('granted', 'withdrawn')),
    text_version  integer,
    granted_at    timestamptz,
    expires_at    timestamptz,
    changed_at    timestamptz NOT NULL,
    CHECK (state <> 'granted' OR (granted_at IS NOT NULL AND expires_at IS NOT NULL))
);

-- Every process caches consent states; this tells them all when one changes.
CREATE FUNCTION notify_consent_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('consent_changed', NEW.recipient_id::text);
    RETURN NULL;
END $$;

CREATE TRIGGER consent_state_changed
    AFTER INSERT OR UPDATE ON consent_state
    FOR EACH ROW EXECUTE FUNCTION notify_consent_changed();

-- Per-recipient events: written only while the recipient's consent is granted.
CREATE TABLE events (
    id            uuid PRIMARY KEY,
    campaign_id   bigint NOT NULL REFERENCES campaigns ON DELETE CASCADE,
    recipient_id  bigint NOT NULL REFERENCES recipients ON DELETE CASCADE,
    link_no       integer NOT NULL,  -- 0: the pixel (an open); else the clicked link
    at            timestamptz NOT NULL,
    verdict       text NOT NULL CHECK (verdict IN ('human', 'proxy', 'machine')),
    reasons       text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX events_recipient ON events (recipient_id, at);
CREATE INDEX events_campaign ON events (campaign_id, link_no);

-- Anonymous counters for everyone: per campaign, link, hour and verdict; no identifiers.
CREATE TABLE counters (
    campaign_id  bigint NOT NULL REFERENCES campaigns ON DELETE CASCADE,
    link_no      integer NOT NULL,  -- 0: the pixel (opens)
    hour         timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
    verdict      text NOT NULL CHECK (verdict IN ('human', 'proxy', 'machine')),
    events       bigint NOT NULL CHECK (events >= 0),
    PRIMARY KEY (campaign_id, link_no, hour, verdict)
);

-- HyperLogLog registers for unique estimates. A register holds only the largest rank seen
-- for keyed hashes that fell into it: no identifier can be read back from it.
CREATE TABLE sketches (
    campaign_id  bigint NOT NULL REFERENCES campaigns ON DELETE CASCADE,
    sketch       text NOT NULL,  -- 'audience', 'open:human', 'click:3:machine', ...
    register     smallint NOT NULL,
    rank         smallint NOT NULL,
    PRIMARY KEY (campaign_id, sketch, register)
);

-- Each group the recorder commits leaves its id here, in the same transaction, so that a
-- group retried after a lost acknowledgement (or replayed from the spool) counts once.
-- Only the hour is kept: an exact time could date a lone anonymous open.
CREATE TABLE recorded_groups (
    id              uuid PRIMARY KEY,
    committed_hour  timestamptz NOT NULL DEFAULT date_trunc('hour', now())
);
