-- One group commit in one round trip: the recorder used to send a statement per table
-- (eight round trips with BEGIN and COMMIT), which cost more time and CPU than the rows.
-- The statements are the same; a function runs them in order, in the caller's single-
-- statement transaction. Returns false (and writes nothing) for a group id seen before.
CREATE FUNCTION record_group(
    group_id uuid,
    ev_id uuid[], ev_campaign bigint[], ev_recipient bigint[], ev_link int[],
    ev_at timestamptz[], ev_verdict text[], ev_reasons text[],
    hold_seconds float8,
    up_campaign bigint[], up_link int[], up_hour timestamptz[], up_verdict text[],
    up_events bigint[],
    down_campaign bigint[], down_link int[], down_hour timestamptz[], down_verdict text[],
    down_events bigint[],
    rg_campaign bigint[], rg_sketch text[], rg_register smallint[], rg_rank smallint[],
    mk_id uuid[], mk_at timestamptz[], mk_reason text[]
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO recorded_groups (id) VALUES (group_id) ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;  -- committed before; the acknowledgement was lost
    END IF;

    IF cardinality(ev_id) > 0 THEN
        -- The authoritative consent check: an event is kept only if its recipient's
        -- consent, for the account's current purpose, was granted at the event's time.
        -- A withdrawal committed by any process wins at once. Replayed events are skipped.
        INSERT INTO events (id, campaign_id, recipient_id, link_no, at, verdict, reasons)
        SELECT e.id, e.campaign_id, e.recipient_id, e.link_no, e.at, e.verdict,
               string_to_array(e.reasons, ',')
        FROM unnest(ev_id, ev_campaign, ev_recipient, ev_link, ev_at, ev_verdict, ev_reasons)
             AS e(id, campaign_id, recipient_id, link_no, at, verdict, reasons)
        JOIN campaigns c ON c.id = e.campaign_id
        JOIN accounts a ON a.id = c.account_id
        JOIN consent_state s ON s.recipient_id = e.recipient_id
             AND s.account_id = c.account_id
        WHERE s.state = 'granted' AND s.granted_at <= e.at AND s.expires_at > e.at
          AND s.purpose_version = a.purpose_version
        ON CONFLICT (id, at) DO NOTHING;

        -- The transactional outbox: what was kept, for every webhook that wants it.
        INSERT INTO webhook_outbox (id, webhook_id, event_id, event_at, next_attempt_at)
        SELECT gen_random_uuid(), w.id, e.id, e.at, now() + make_interval(secs => hold_seconds)
        FROM unnest(ev_id, ev_at) AS q(id, at)
        JOIN events e ON e.id = q.id AND e.at = q.at
        JOIN campaigns c ON c.id = e.campaign_id
        JOIN webhooks w ON w.account_id = c.account_id AND w.removed_at IS NULL
             AND NOT w.hourly_summary AND e.verdict = ANY(w.verdicts);
    END IF;

    -- Hourly counters (counts for campaigns that no longer exist are dropped). Keys come
    -- sorted and are written in that order, so that two groups committing at once lock
    -- rows in the same order and cannot deadlock.
    IF cardinality(up_campaign) > 0 THEN
        INSERT INTO counters (campaign_id, link_no, hour, verdict, events)
        SELECT i.campaign_id, i.link_no, i.hour, i.verdict, i.events
        FROM unnest(up_campaign, up_link, up_hour, up_verdict, up_events) WITH ORDINALITY
             AS i(campaign_id, link_no, hour, verdict, events, n)
        WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = i.campaign_id)
        ORDER BY i.n
        ON CONFLICT (campaign_id, link_no, hour, verdict)
        DO UPDATE SET events = counters.events + EXCLUDED.events;
    END IF;
    -- Corrections take counts away: never below zero, never creating a row.
    IF cardinality(down_campaign) > 0 THEN
        UPDATE counters c SET events = greatest(c.events - d.n, 0)
        FROM unnest(down_campaign, down_link, down_hour, down_verdict, down_events)
             AS d(campaign_id, link_no, hour, verdict, n)
        WHERE c.campaign_id = d.campaign_id AND c.link_no = d.link_no
          AND c.hour = d.hour AND c.verdict = d.verdict;
    END IF;

    IF cardinality(rg_campaign) > 0 THEN
        INSERT INTO sketches (campaign_id, sketch, register, rank)
        SELECT r.campaign_id, r.sketch, r.register, r.rank
        FROM unnest(rg_campaign, rg_sketch, rg_register, rg_rank) WITH ORDINALITY
             AS r(campaign_id, sketch, register, rank, n)
        WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = r.campaign_id)
        ORDER BY r.n
        ON CONFLICT (campaign_id, sketch, register)
        DO UPDATE SET rank = EXCLUDED.rank WHERE sketches.rank < EXCLUDED.rank;
    END IF;

    -- Recorded events that a later request showed to be a machine's.
    IF cardinality(mk_id) > 0 THEN
        UPDATE events e SET verdict = 'machine',
            reasons = CASE WHEN m.reason = ANY(e.reasons) THEN e.reasons
                           ELSE array_append(e.reasons, m.reason) END
        FROM unnest(mk_id, mk_at, mk_reason) AS m(id, at, reason)
        WHERE e.id = m.id AND e.at = m.at;
    END IF;
    RETURN true;
END;
$$;
