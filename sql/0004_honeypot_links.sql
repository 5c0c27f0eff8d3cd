-- The invisible honeypot link that `rewrite` adds to every mail: only machines follow it.
ALTER TABLE links ADD COLUMN honeypot boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX links_one_honeypot ON links (campaign_id) WHERE honeypot;
