-- Hourly anonymous campaign summaries (SPEC 11): an account may subscribe a webhook to
-- them instead of per-person events. A summary webhook never receives events; its outbox
-- rows carry a payload of k-suppressed counts, built when the hour is over, once per hour.

ALTER TABLE webhooks ADD COLUMN hourly_summary boolean NOT NULL DEFAULT false;

ALTER TABLE webhook_outbox
    ALTER COLUMN event_id DROP NOT NULL,
    ALTER COLUMN event_at DROP NOT NULL,
    ADD COLUMN summary_hour timestamptz,
    ADD COLUMN payload jsonb,
    ADD CONSTRAINT webhook_outbox_event_or_summary CHECK (
        (event_id IS NOT NULL AND event_at IS NOT NULL
         AND summary_hour IS NULL AND payload IS NULL)
        OR (event_id IS NULL AND event_at IS NULL
            AND summary_hour IS NOT NULL AND payload IS NOT NULL)
    );

CREATE UNIQUE INDEX webhook_outbox_summary_once ON webhook_outbox (webhook_id, summary_hour)
    WHERE summary_hour IS NOT NULL;
