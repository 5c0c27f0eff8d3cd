-- The DPO's guarantees: a tamper-evident ledger, an audit log, monthly event partitions.

-- 1. Hash chain over the consent ledger, per account, in the order of ``seq``.
-- row_hash = sha256(prev_hash || content); the first row of an account chains to 32 zero
-- bytes. seq is assigned under a per-account lock, so the chain has no gaps or forks even
-- when transactions commit out of id order.
ALTER TABLE consent_ledger
    ADD COLUMN seq        bigint,
    ADD COLUMN prev_hash  bytea,
    ADD COLUMN row_hash   bytea;

CREATE FUNCTION consent_ledger_content(l consent_ledger) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT convert_to(concat_ws(E'\x1f',
        l.seq, l.id, l.account_id, coalesce(l.recipient_id::text, ''), l.action,
        coalesce(l.text_version::text, ''), coalesce(encode(l.text_sha256, 'hex'), ''),
        (extract(epoch FROM l.at) * 1000000)::bigint, l.method, l.evidence::text,
        coalesce(l.lang, ''), coalesce(l.purpose_version::text, '')), 'UTF8')
$$;

CREATE FUNCTION consent_ledger_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq   bigint;
    last_hash  bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(1668183406, hashtext(NEW.account_id::text));
    SELECT seq, row_hash INTO last_seq, last_hash FROM consent_ledger
     WHERE account_id = NEW.account_id ORDER BY seq DESC LIMIT 1;
    IF last_seq IS NULL THEN
        SELECT seq, row_hash INTO last_seq, last_hash FROM consent_ledger_purged
         WHERE account_id = NEW.account_id ORDER BY seq DESC LIMIT 1;
    END IF;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    NEW.row_hash := sha256(NEW.prev_hash || consent_ledger_content(NEW));
    RETURN NEW;
END $$;

-- Rows removed by retention leave their hash behind, so the chain still verifies.
CREATE TABLE consent_ledger_purged (
    account_id  bigint NOT NULL,
    seq         bigint NOT NULL,
    row_hash    bytea NOT NULL,
    purged_on   date NOT NULL DEFAULT current_date,
    PRIMARY KEY (account_id, seq)
);

-- Chain the rows written so far, in id order.
DO $$
DECLARE
    r record;
    last_seq bigint;
    last_hash bytea;
    current_account bigint := NULL;
BEGIN
    FOR r IN SELECT id, account_id FROM consent_ledger ORDER BY account_id, id LOOP
        IF current_account IS DISTINCT FROM r.account_id THEN
            current_account := r.account_id;
            last_seq := 0;
            last_hash := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
        END IF;
        last_seq := last_seq + 1;
        UPDATE consent_ledger SET seq = last_seq, prev_hash = last_hash WHERE id = r.id;
        UPDATE consent_ledger l SET row_hash = sha256(l.prev_hash || consent_ledger_content(l))
         WHERE l.id = r.id RETURNING row_hash INTO last_hash;
    END LOOP;
END $$;

ALTER TABLE consent_ledger
    ALTER COLUMN seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN row_hash SET NOT NULL,
    ADD CONSTRAINT consent_ledger_account_seq UNIQUE (account_id, seq);

CREATE TRIGGER consent_ledger_chain BEFORE INSERT ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_chain();

-- 2. Append-only: no UPDATE, and DELETE only by the retention purge, which says so with
-- SET LOCAL tracker.purging_ledger = 'on' and records each removed row's hash.
CREATE FUNCTION consent_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('tracker.purging_ledger', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the consent ledger is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER consent_ledger_append_only BEFORE UPDATE OR DELETE ON consent_ledger
    FOR EACH ROW EXECUTE FUNCTION consent_ledger_append_only();
CREATE TRIGGER consent_ledger_no_truncate BEFORE TRUNCATE ON consent_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION consent_ledger_append_only();

-- The ledger must outlive a recipient's erasure: recipients are never deleted while rows
-- point at them (erasure destroys their key and address instead).
ALTER TABLE consent_ledger DROP CONSTRAINT consent_ledger_recipient_id_fkey;
ALTER TABLE consent_ledger ADD CONSTRAINT consent_ledger_recipient_id_fkey
    FOREIGN KEY (recipient_id) REFERENCES recipients ON DELETE RESTRICT;
ALTER TABLE consent_ledger DROP CONSTRAINT consent_ledger_account_id_fkey;
ALTER TABLE consent_ledger ADD CONSTRAINT consent_ledger_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts ON DELETE RESTRICT;

-- 3. Every DPO action and every use of a dpo-scoped API token.
CREATE TABLE dpo_audit (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX dpo_audit_account ON dpo_audit (account_id, id);

-- 4. Per-recipient events partitioned by month, so that retention drops whole partitions.
ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_recipient RENAME TO events_unpartitioned_recipient;
ALTER INDEX events_campaign RENAME TO events_unpartitioned_campaign;
CREATE TABLE events (
    id            uuid NOT NULL,
    campaign_id   bigint NOT NULL REFERENCES campaigns ON DELETE CASCADE,
    recipient_id  bigint NOT NULL REFERENCES recipients ON DELETE CASCADE,
    link_no       integer NOT NULL,
    at            timestamptz NOT NULL,
    verdict       text NOT NULL CHECK (verdict IN ('human', 'proxy', 'machine')),
    reasons       text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX events_recipient ON events (recipient_id, at);
CREATE INDEX events_campaign ON events (campaign_id, link_no);
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Create the partition of the (UTC) month that holds ``day``, moving any of its rows out of the
-- default partition first. Safe to call again.
CREATE FUNCTION ensure_events_partition(day date) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    first_day date := date_trunc('month', day)::date;
    lo timestamptz := first_day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    name text := format('events_y%sm%s', to_char(first_day, 'YYYY'), to_char(first_day, 'MM'));
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('WITH moved AS (DELETE FROM events_default WHERE at >= %L AND at < %L'
                   ' RETURNING *) INSERT INTO %I SELECT * FROM moved', lo, hi, name);
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   name, lo, hi);
    RETURN name;
END $$;

SELECT ensure_events_partition(month::date)
  FROM generate_series(date_trunc('month', now()) - interval '1 month',
                       date_trunc('month', now()) + interval '2 months',
                       interval '1 month') AS month;
INSERT INTO events SELECT * FROM events_unpartitioned;
DROP TABLE events_unpartitioned;
