-- Consent texts and the account settings the consent page and the DPO tools show.

-- What the recipient is told, and how long things are kept. purpose_version goes up when
-- the purpose of the tracking changes; grants for an older purpose no longer count.
ALTER TABLE accounts
    ADD COLUMN controller_name        text,
    ADD COLUMN controller_address     text,
    ADD COLUMN contact_email          text,
    ADD COLUMN dpo_contact            text,
    ADD COLUMN privacy_url            text,
    ADD COLUMN consent_validity_days  integer NOT NULL DEFAULT 730
                                      CHECK (consent_validity_days BETWEEN 1 AND 3650),
    ADD COLUMN retention_days         integer NOT NULL DEFAULT 180
                                      CHECK (retention_days BETWEEN 1 AND 3650),
    ADD COLUMN proof_days             integer NOT NULL DEFAULT 1095
                                      CHECK (proof_days BETWEEN 1 AND 7300),
    ADD COLUMN purpose_version        integer NOT NULL DEFAULT 1;

-- Versioned per account and language. The body may name the account's settings in
-- {placeholders}; what a person saw is the rendered text, kept in consent_texts_shown.
CREATE TABLE consent_texts (
    account_id       bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    lang             text NOT NULL CHECK (lang IN ('de', 'en')),
    version          integer NOT NULL CHECK (version > 0),
    purpose_version  integer NOT NULL,
    body             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, lang, version)
);

-- The exact text shown, found by the SHA-256 that every ledger row carries.
CREATE TABLE consent_texts_shown (
    sha256  bytea PRIMARY KEY,
    body    text NOT NULL
);

ALTER TABLE consent_ledger ADD COLUMN lang text;
ALTER TABLE consent_ledger ADD COLUMN purpose_version integer;

ALTER TABLE consent_state ADD COLUMN purpose_version integer;
ALTER TABLE consent_state DROP CONSTRAINT consent_state_state_check;
ALTER TABLE consent_state ADD CONSTRAINT consent_state_state_check
    CHECK (state IN ('granted', 'withdrawn', 'expired'));
