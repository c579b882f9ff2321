-- 010_monitor: listening. Sources a client follows (its accounts' mentions
-- and comments, RSS/Atom feeds, keyword searches over feeds), recurring
-- monitor jobs with a cursor, the mentions they collect (the inbox), routing
-- rules and saved replies, and the alerts mentions raise (urgent, strongly
-- negative, spikes of negative mentions), one per incident.

-- How often a client's sources are read, by plan (a source may say otherwise).
CREATE TABLE crieur.plan (
    name             text PRIMARY KEY CHECK (name ~ '^[a-z0-9_-]{1,32}$'),
    monitor_interval interval NOT NULL CHECK (monitor_interval >= interval '10 seconds')
);
INSERT INTO crieur.plan (name, monitor_interval) VALUES
    ('essential', '15 minutes'), ('standard', '5 minutes'), ('premium', '1 minute');

-- Alerts of a client outside its quiet hours (in its timezone); critical
-- ones (urgent mentions, spikes) ignore them. Spike detection settings.
ALTER TABLE crieur.client
    ADD COLUMN quiet_start time,
    ADD COLUMN quiet_end time,
    ADD COLUMN spike_window interval NOT NULL DEFAULT '15 minutes'
        CHECK (spike_window BETWEEN interval '1 minute' AND interval '1 day'),
    ADD COLUMN spike_factor real NOT NULL DEFAULT 4 CHECK (spike_factor >= 1),
    ADD COLUMN spike_min int NOT NULL DEFAULT 5 CHECK (spike_min >= 1),
    ADD COLUMN negative_alert real NOT NULL DEFAULT -0.6 CHECK (negative_alert BETWEEN -1 AND 0),
    ADD CONSTRAINT client_quiet CHECK ((quiet_start IS NULL) = (quiet_end IS NULL));

CREATE TABLE crieur.monitor_source (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id   bigint NOT NULL REFERENCES crieur.client (id) ON DELETE CASCADE,
    account_id  bigint REFERENCES crieur.account (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('account', 'feed', 'search')),
    name        text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    url         text CHECK (url ~ '^https?://[^\s]+$' AND length(url) <= 2048),
    keywords    text[] NOT NULL DEFAULT '{}' CHECK (cardinality(keywords) <= 64),
    every       interval CHECK (every >= interval '10 seconds'), -- NULL: the client's plan
    cursor      text CHECK (length(cursor) <= 4096),
    due_at      timestamptz,     -- the slot of the current job (slots: due_at + k * every)
    enabled     boolean NOT NULL DEFAULT true,
    last_ok_at  timestamptz,
    last_error  text,
    collected   bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'account') = (account_id IS NOT NULL)),
    CHECK (kind = 'account' OR url IS NOT NULL),
    CHECK (kind <> 'search' OR cardinality(keywords) > 0)
);
CREATE UNIQUE INDEX monitor_source_account ON crieur.monitor_source (account_id) WHERE kind = 'account';
CREATE UNIQUE INDEX monitor_source_name ON crieur.monitor_source (client_id, name);

CREATE TABLE crieur.routing_rule (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id     bigint NOT NULL REFERENCES crieur.client (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    position      int NOT NULL DEFAULT 100,
    keywords      text[] NOT NULL DEFAULT '{}',   -- any of them (case and accents ignored)
    labels        text[] NOT NULL DEFAULT '{}',   -- any of them
    max_sentiment real CHECK (max_sentiment BETWEEN -1 AND 1),
    min_sentiment real CHECK (min_sentiment BETWEEN -1 AND 1),
    team          text NOT NULL CHECK (team IN ('customer_service', 'sales', 'marketing', 'community_manager')),
    assignee      text CHECK (length(assignee) <= 200),
    enabled       boolean NOT NULL DEFAULT true,
    UNIQUE (client_id, name),
    CHECK (labels <@ ARRAY['question', 'complaint', 'urgent', 'spam', 'purchase_intent']::text[])
);

-- Prepared answers; placeholders {author}, {client}, {handle}. client_id
-- NULL: the agency's, for every client.
CREATE TABLE crieur.saved_reply (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id  bigint REFERENCES crieur.client (id) ON DELETE CASCADE,
    name       text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    body       text NOT NULL CHECK (body <> '' AND length(body) <= 5000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX saved_reply_name ON crieur.saved_reply (coalesce(client_id, 0), name);

CREATE TABLE crieur.mention (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id    bigint NOT NULL REFERENCES crieur.client (id) ON DELETE CASCADE,
    source_id    bigint NOT NULL REFERENCES crieur.monitor_source (id) ON DELETE CASCADE,
    account_id   bigint REFERENCES crieur.account (id) ON DELETE SET NULL,
    platform     text NOT NULL,
    external_id  text NOT NULL CHECK (external_id <> '' AND length(external_id) <= 512),
    kind         text NOT NULL CHECK (kind IN ('mention', 'comment', 'reply', 'entry')),
    parent_id    text,            -- the post it comments on or answers
    author       text,
    author_name  text,
    body         text NOT NULL,
    url          text,
    lang         text,
    posted_at    timestamptz,     -- on the platform
    collected_at timestamptz NOT NULL DEFAULT now(),
    sentiment    real NOT NULL DEFAULT 0 CHECK (sentiment BETWEEN -1 AND 1),
    polarity     text NOT NULL CHECK (polarity IN ('negative', 'neutral', 'positive')),
    labels       text[] NOT NULL DEFAULT '{}',
    team         text NOT NULL DEFAULT 'community_manager'
                 CHECK (team IN ('customer_service', 'sales', 'marketing', 'community_manager')),
    rule         text,            -- the routing rule that chose the team
    status       text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'assigned', 'replied', 'closed')),
    assignee     text,
    reply_post_id bigint REFERENCES crieur.post (id) ON DELETE SET NULL,
    incident_id  bigint,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_id, external_id)
);
CREATE INDEX mention_inbox ON crieur.mention (client_id, status, collected_at DESC);
CREATE INDEX mention_negative ON crieur.mention (account_id, collected_at) WHERE polarity = 'negative';

-- One incident per burst of alerting mentions: the alert is raised when it
-- opens; later mentions of the same kind and account join it while it is
-- open (its last mention less than `cooldown` ago).
CREATE TABLE crieur.incident (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id  bigint NOT NULL REFERENCES crieur.client (id) ON DELETE CASCADE,
    account_id bigint REFERENCES crieur.account (id) ON DELETE CASCADE,
    source_id  bigint REFERENCES crieur.monitor_source (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('mention_urgent', 'mention_negative', 'negative_spike')),
    opened_at  timestamptz NOT NULL DEFAULT now(),
    last_at    timestamptz NOT NULL DEFAULT now(),
    mentions   int NOT NULL DEFAULT 0,
    alert_id   bigint REFERENCES crieur.alert (id) ON DELETE SET NULL
);
CREATE INDEX incident_open ON crieur.incident (client_id, kind, last_at);

-- ------------------------------------------------------------ recurrence

CREATE FUNCTION crieur.monitor_every(p_source bigint) RETURNS interval LANGUAGE sql STABLE AS $$
    SELECT coalesce(s.every, pl.monitor_interval, interval '5 minutes')
    FROM crieur.monitor_source s JOIN crieur.client c ON c.id = s.client_id
    LEFT JOIN crieur.plan pl ON pl.name = c.plan
    WHERE s.id = p_source
$$;

-- The source's next monitor job, at the first slot of its grid after now
-- (slots: due_at + k * every). Anchored on the slots, not on when the last
-- run finished, so runs do not drift; slots missed while nothing ran are
-- skipped, not run one after another. A job already scheduled stays.
CREATE FUNCTION crieur.monitor_schedule(p_source bigint, p_now boolean DEFAULT false)
RETURNS timestamptz LANGUAGE plpgsql AS $$
DECLARE s record; v_every interval; v_at timestamptz; k double precision;
BEGIN
    SELECT ms.id, ms.client_id, ms.account_id, ms.due_at, ms.enabled INTO s
    FROM crieur.monitor_source ms WHERE ms.id = p_source FOR UPDATE;
    IF NOT FOUND OR NOT s.enabled THEN
        RETURN NULL;
    END IF;
    v_every := crieur.monitor_every(p_source);
    IF p_now OR s.due_at IS NULL THEN
        v_at := now();
    ELSE
        k := floor(extract(epoch FROM now() - s.due_at) / extract(epoch FROM v_every)) + 1;
        v_at := s.due_at + v_every * greatest(k, 1);
    END IF;
    INSERT INTO crieur.job (kind, ref_id, client_id, account_id, run_at, max_attempts, unique_key)
    VALUES ('monitor', s.id, s.client_id, s.account_id, v_at, 3, 'monitor:' || s.id)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    IF FOUND THEN
        UPDATE crieur.monitor_source SET due_at = v_at WHERE id = s.id;
        IF p_now THEN
            PERFORM pg_notify('crieur_jobs', '');
        END IF;
        RETURN v_at;
    END IF;
    RETURN NULL;
END $$;

-- A monitor job leaves the queue (done, failed for good, cancelled): the
-- next one of its source is scheduled.
CREATE FUNCTION crieur.monitor_next() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the run's error, unless it ended well (monitor_store ran during it)
    UPDATE crieur.monitor_source
    SET last_error = CASE WHEN last_ok_at >= OLD.created_at THEN NULL ELSE OLD.last_error END
    WHERE id = OLD.ref_id;
    PERFORM crieur.monitor_schedule(OLD.ref_id);
    RETURN NULL;
END $$;
CREATE TRIGGER monitor_next AFTER DELETE ON crieur.job
    FOR EACH ROW WHEN (OLD.kind = 'monitor') EXECUTE FUNCTION crieur.monitor_next();

-- Adds a source and runs it at once. p_kind 'account': p_account (its
-- mentions, notifications or comments); 'feed': p_url (RSS or Atom);
-- 'search': p_url with p_keywords (entries that name one of them).
CREATE FUNCTION crieur.add_monitor_source(p_client text, p_kind text, p_name text,
                                          p_account bigint DEFAULT NULL, p_url text DEFAULT NULL,
                                          p_keywords text[] DEFAULT '{}', p_every interval DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_client bigint; v bigint;
BEGIN
    SELECT id INTO v_client FROM crieur.client WHERE name = p_client;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no client named %', p_client USING ERRCODE = 'no_data_found';
    END IF;
    IF p_kind = 'account' AND NOT EXISTS (SELECT 1 FROM crieur.account
                                          WHERE id = p_account AND client_id = v_client) THEN
        RAISE EXCEPTION 'account % is not an account of client %', p_account, p_client
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO crieur.monitor_source (client_id, account_id, kind, name, url, keywords, every)
    VALUES (v_client, CASE WHEN p_kind = 'account' THEN p_account END, p_kind, p_name,
            CASE WHEN p_kind <> 'account' THEN p_url END,
            coalesce(p_keywords, '{}'), p_every)
    RETURNING id INTO v;
    PERFORM crieur.monitor_schedule(v, true);
    RETURN v;
END $$;

CREATE FUNCTION crieur.set_monitor_source_enabled(p_source bigint, p_enabled boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE crieur.monitor_source SET enabled = p_enabled WHERE id = p_source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no monitor source %', p_source USING ERRCODE = 'no_data_found';
    END IF;
    IF p_enabled THEN
        PERFORM crieur.monitor_schedule(p_source, true);
    ELSE
        UPDATE crieur.job SET cancel_requested = true
        WHERE unique_key = 'monitor:' || p_source;
    END IF;
END $$;

-- What a monitor task carries (the claim's body column for monitor jobs):
-- the source, its cursor, and the client's routing rules in order.
CREATE FUNCTION crieur.monitor_task(p_source bigint) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'source', s.id, 'kind', s.kind, 'name', s.name, 'url', s.url,
        'keywords', to_jsonb(s.keywords), 'cursor', s.cursor, 'client', c.name,
        'rules', coalesce((SELECT jsonb_agg(jsonb_build_object(
                    'name', r.name, 'keywords', to_jsonb(r.keywords), 'labels', to_jsonb(r.labels),
                    'max_sentiment', r.max_sentiment, 'min_sentiment', r.min_sentiment,
                    'team', r.team) ORDER BY r.position, r.id)
                  FROM crieur.routing_rule r WHERE r.client_id = s.client_id AND r.enabled), '[]'))::text
    FROM crieur.monitor_source s JOIN crieur.client c ON c.id = s.client_id
    WHERE s.id = p_source
$$;

-- ------------------------------------------------------------ alerts

-- An alerting mention joins the open incident of its kind and account, or
-- opens one and raises its alert. Returns the incident.
-- p_n: the new mentions it adds; p_open_n: how many it opens with (a spike
-- opens with the window's count), default p_n.
CREATE FUNCTION crieur.incident_join(p_client bigint, p_account bigint, p_source bigint,
                                     p_kind text, p_severity text, p_message text, p_n int,
                                     p_open_n int DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint; v_alert bigint;
    v_cooldown interval := CASE WHEN p_kind = 'negative_spike' THEN interval '1 hour'
                                ELSE interval '30 minutes' END;
BEGIN
    -- one at a time per client and kind: two brokers storing mentions of
    -- the same account together must not open two incidents
    PERFORM pg_advisory_xact_lock(hashtext('crieur.incident'), hashtext(p_client || ':' || p_kind));
    SELECT id INTO v FROM crieur.incident
    WHERE client_id = p_client AND kind = p_kind
      AND account_id IS NOT DISTINCT FROM p_account
      AND (p_account IS NOT NULL OR source_id IS NOT DISTINCT FROM p_source)
      AND last_at > now() - v_cooldown
    ORDER BY last_at DESC LIMIT 1 FOR UPDATE;
    IF FOUND THEN
        UPDATE crieur.incident SET last_at = now(), mentions = mentions + p_n WHERE id = v;
        RETURN v;
    END IF;
    INSERT INTO crieur.alert (client_id, account_id, kind, severity, message)
    VALUES (p_client, p_account, p_kind, p_severity, p_message) RETURNING id INTO v_alert;
    INSERT INTO crieur.incident (client_id, account_id, source_id, kind, mentions, alert_id)
    VALUES (p_client, p_account, p_source, p_kind, coalesce(p_open_n, p_n), v_alert) RETURNING id INTO v;
    RETURN v;
END $$;

-- Alert deliveries wait for the end of the client's quiet hours, unless
-- the alert is critical.
CREATE OR REPLACE FUNCTION crieur.alert_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE c record; v_run timestamptz := now(); v_local timestamp; v_t time; v_end timestamp;
BEGIN
    IF NEW.severity <> 'critical' AND NEW.client_id IS NOT NULL THEN
        SELECT quiet_start, quiet_end, timezone INTO c FROM crieur.client WHERE id = NEW.client_id;
        IF FOUND AND c.quiet_start IS NOT NULL AND c.quiet_start <> c.quiet_end THEN
            v_local := now() AT TIME ZONE c.timezone;
            v_t := v_local::time;
            IF (c.quiet_start < c.quiet_end AND v_t >= c.quiet_start AND v_t < c.quiet_end)
               OR (c.quiet_start > c.quiet_end AND (v_t >= c.quiet_start OR v_t < c.quiet_end)) THEN
                v_end := date_trunc('day', v_local) + c.quiet_end;
                IF v_end <= v_local THEN
                    v_end := v_end + interval '1 day';
                END IF;
                v_run := v_end AT TIME ZONE c.timezone;
            END IF;
        END IF;
    END IF;
    INSERT INTO crieur.job (kind, ref_id, client_id, channel_id, run_at, unique_key)
    SELECT 'alert', NEW.id, NEW.client_id, ch.id, v_run, format('alert:%s:%s', NEW.id, ch.id)
    FROM crieur.alert_channel ch
    WHERE ch.enabled AND (ch.client_id IS NULL OR ch.client_id = NEW.client_id)
      AND crieur.severity_rank(NEW.severity) >= crieur.severity_rank(ch.min_severity)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    IF FOUND THEN
        PERFORM pg_notify('crieur_jobs', '');
    END IF;
    RETURN NULL;
END $$;

-- ------------------------------------------------------------ results

-- What monitor tasks collected, stored by the broker before it applies
-- their results (the same fence: the job leased by p_owner at that
-- attempt). p_data: [{"j": job, "a": attempt, "cursor": text|null,
-- "mentions": [{"id","kind","parent","author","author_name","text","url",
-- "lang","posted_ms","sentiment","polarity","labels":[..],"team","rule"}]}].
-- A mention already stored (same source, same id) is skipped: a task run
-- again after a lost result collects nothing twice. The cursor only moves
-- when the broker's lease still holds. Returns the mentions stored, and the
-- jobs whose data was refused (each task's data is stored or refused as a
-- whole, without the others': a bad one cannot hold the rest back).
CREATE FUNCTION crieur.monitor_store(p_owner text, p_data jsonb, OUT stored int, OUT failed bigint[])
LANGUAGE plpgsql AS $$
DECLARE r record; s record; c record; n int;
    v_neg int; v_new_neg int; v_base double precision; v_urgent int; v_strong int; v_inc bigint;
BEGIN
    stored := 0;
    failed := '{}';
    FOR r IN SELECT (e->>'j')::bigint AS j, (e->>'a')::int AS a, e->>'cursor' AS cur,
                    coalesce(e->'mentions', '[]') AS mentions
             FROM jsonb_array_elements(p_data) e
    LOOP
    BEGIN
        SELECT ms.id, ms.client_id, ms.account_id, ms.name, coalesce(ac.platform, 'feed') AS platform,
               ac.handle
        INTO s FROM crieur.job jb
        JOIN crieur.monitor_source ms ON ms.id = jb.ref_id
        LEFT JOIN crieur.account ac ON ac.id = ms.account_id
        WHERE jb.id = r.j AND jb.attempt = r.a AND jb.kind = 'monitor'
          AND jb.state = 'leased' AND jb.lease_owner = p_owner
        FOR UPDATE OF ms;
        IF NOT FOUND THEN
            CONTINUE; -- fenced out: another attempt or broker owns the job
        END IF;
        SELECT cl.name, cl.negative_alert, cl.spike_window, cl.spike_factor, cl.spike_min INTO c
        FROM crieur.client cl WHERE cl.id = s.client_id;

        WITH x AS (
            SELECT * FROM jsonb_to_recordset(r.mentions) AS m(
                id text, kind text, parent text, author text, author_name text, text text,
                url text, lang text, posted_ms bigint, sentiment real, polarity text,
                labels text[], team text, rule text)
            WHERE m.id IS NOT NULL AND m.id <> '' AND length(m.id) <= 512 AND m.text IS NOT NULL
        ), ins AS (
            INSERT INTO crieur.mention (client_id, source_id, account_id, platform, external_id, kind,
                                        parent_id, author, author_name, body, url, lang, posted_at,
                                        sentiment, polarity, labels, team, rule, status, assignee)
            SELECT s.client_id, s.id, s.account_id, s.platform, x.id,
                   CASE WHEN x.kind IN ('mention', 'comment', 'reply', 'entry') THEN x.kind ELSE 'mention' END,
                   left(x.parent, 512), left(x.author, 200), left(x.author_name, 200), left(x.text, 20000),
                   left(x.url, 2048), left(x.lang, 8),
                   CASE WHEN x.posted_ms BETWEEN 1 AND 32503680000000 THEN to_timestamp(x.posted_ms / 1000.0) END,
                   greatest(-1, least(1, coalesce(x.sentiment, 0))),
                   CASE WHEN x.polarity IN ('negative', 'neutral', 'positive') THEN x.polarity ELSE 'neutral' END,
                   ARRAY(SELECT l FROM unnest(coalesce(x.labels, '{}')) l
                         WHERE l IN ('question', 'complaint', 'urgent', 'spam', 'purchase_intent')),
                   CASE WHEN x.team IN ('customer_service', 'sales', 'marketing', 'community_manager')
                        THEN x.team ELSE 'community_manager' END,
                   left(x.rule, 64),
                   CASE WHEN r2.assignee IS NOT NULL THEN 'assigned' ELSE 'new' END, r2.assignee
            FROM x LEFT JOIN crieur.routing_rule r2 ON r2.client_id = s.client_id AND r2.name = x.rule
            ON CONFLICT (source_id, external_id) DO NOTHING
            RETURNING id, polarity, sentiment, labels
        )
        SELECT count(*), count(*) FILTER (WHERE polarity = 'negative'),
               count(*) FILTER (WHERE 'urgent' = ANY (labels)),
               count(*) FILTER (WHERE sentiment <= c.negative_alert AND NOT 'urgent' = ANY (labels))
        INTO n, v_neg, v_urgent, v_strong FROM ins;

        UPDATE crieur.monitor_source SET cursor = coalesce(r.cur, cursor), last_ok_at = now(),
               last_error = NULL, collected = collected + n
        WHERE id = s.id;
        stored := stored + n;

        IF v_urgent > 0 THEN
            v_inc := crieur.incident_join(s.client_id, s.account_id, s.id, 'mention_urgent', 'critical',
                format('%s urgent mention(s) on %s (%s): %s', v_urgent, coalesce(s.handle, s.name), s.platform,
                       (SELECT left(m.body, 280) FROM crieur.mention m WHERE m.source_id = s.id
                          AND 'urgent' = ANY (m.labels) ORDER BY m.id DESC LIMIT 1)), v_urgent);
            UPDATE crieur.mention SET incident_id = v_inc
            WHERE source_id = s.id AND incident_id IS NULL AND 'urgent' = ANY (labels)
              AND collected_at >= now() - interval '1 minute';
        END IF;
        IF v_strong > 0 THEN
            v_inc := crieur.incident_join(s.client_id, s.account_id, s.id, 'mention_negative', 'warning',
                format('%s strongly negative mention(s) on %s (%s): %s', v_strong, coalesce(s.handle, s.name),
                       s.platform,
                       (SELECT left(m.body, 280) FROM crieur.mention m WHERE m.source_id = s.id
                          AND m.sentiment <= c.negative_alert ORDER BY m.id DESC LIMIT 1)), v_strong);
        END IF;
        -- A spike: the account's negative mentions over the window, against
        -- its baseline (the same window's average over the week before).
        IF v_neg > 0 THEN
            v_new_neg := v_neg;
            SELECT count(*) INTO v_neg FROM crieur.mention m
            WHERE m.source_id = s.id AND m.polarity = 'negative'
              AND m.collected_at > now() - c.spike_window;
            SELECT count(*) * extract(epoch FROM c.spike_window) / extract(epoch FROM interval '7 days')
            INTO v_base FROM crieur.mention m
            WHERE m.source_id = s.id AND m.polarity = 'negative'
              AND m.collected_at > now() - interval '7 days' - c.spike_window
              AND m.collected_at <= now() - c.spike_window;
            IF v_neg >= greatest(c.spike_min, c.spike_factor * v_base) THEN
                PERFORM crieur.incident_join(s.client_id, s.account_id, s.id, 'negative_spike', 'critical',
                    format('negative spike on %s (%s): %s negative mentions in %s (usually %s)',
                           coalesce(s.handle, s.name), s.platform, v_neg, c.spike_window,
                           round(v_base::numeric, 1)), v_new_neg, v_neg);
            END IF;
        END IF;
    EXCEPTION WHEN others THEN
        RAISE WARNING 'monitor_store: the data of job % refused: % (%)', r.j, SQLERRM, SQLSTATE;
        failed := failed || r.j;
    END;
    END LOOP;
END $$;

-- ------------------------------------------------------------ inbox

CREATE FUNCTION crieur.mention_assign(p_mention bigint, p_assignee text, p_team text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE crieur.mention SET assignee = p_assignee, team = coalesce(p_team, team),
           status = CASE WHEN status IN ('new', 'assigned') THEN 'assigned' ELSE status END,
           updated_at = now()
    WHERE id = p_mention;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no mention %', p_mention USING ERRCODE = 'no_data_found';
    END IF;
END $$;

CREATE FUNCTION crieur.mention_close(p_mention bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE crieur.mention SET status = 'closed', updated_at = now() WHERE id = p_mention;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no mention %', p_mention USING ERRCODE = 'no_data_found';
    END IF;
END $$;

-- Answers a mention from its account, now: with a saved reply (its
-- placeholders filled) or a text. Returns the reply's post.
CREATE FUNCTION crieur.mention_reply(p_mention bigint, p_saved text DEFAULT NULL,
                                     p_text text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE m record; v_body text; v_post bigint;
BEGIN
    SELECT mn.id, mn.client_id, mn.account_id, mn.external_id, mn.kind, mn.author, mn.status,
           cl.name AS client, ac.handle
    INTO m FROM crieur.mention mn JOIN crieur.client cl ON cl.id = mn.client_id
    LEFT JOIN crieur.account ac ON ac.id = mn.account_id
    WHERE mn.id = p_mention FOR UPDATE OF mn;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no mention %', p_mention USING ERRCODE = 'no_data_found';
    END IF;
    IF m.account_id IS NULL OR m.kind = 'entry' THEN
        RAISE EXCEPTION 'mention % comes from a feed: it cannot be answered from Crieur', p_mention
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF (p_saved IS NULL) = (p_text IS NULL) THEN
        RAISE EXCEPTION 'give either a saved reply or a text' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_saved IS NOT NULL THEN
        SELECT body INTO v_body FROM crieur.saved_reply
        WHERE name = p_saved AND (client_id = m.client_id OR client_id IS NULL)
        ORDER BY client_id NULLS LAST LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no saved reply named % for client %', p_saved, m.client
                USING ERRCODE = 'no_data_found';
        END IF;
    ELSE
        v_body := p_text;
    END IF;
    v_body := replace(replace(replace(v_body, '{author}', coalesce(m.author, '')),
                              '{client}', m.client), '{handle}', coalesce(m.handle, ''));
    v_post := crieur.schedule_reply(m.account_id, v_body, now(), m.external_id);
    UPDATE crieur.mention SET status = 'replied', reply_post_id = v_post, updated_at = now()
    WHERE id = p_mention;
    RETURN v_post;
END $$;

-- ------------------------------------------------------------ the claim

-- The broker's cycle of 009, with what a monitor task needs: its source,
-- cursor and the client's routing rules (crieur.monitor_task, as JSON in the
-- body column), and the platform 'feed' for sources without an account.
-- Nothing else changes.
CREATE OR REPLACE FUNCTION crieur.broker_cycle_arrays(
    p_owner text,
    -- the results, one array per field, element i of each describing result i
    p_rj bigint[], p_ra int[], p_ro text[], p_rh int[], p_rp text[], p_ru text[], p_re text[],
    p_rc text[], p_rr bigint[], p_rw text[], p_rd bigint[], p_rs bigint[], p_rf bigint[],
    p_rrc boolean[], p_rta text[], p_rtr text[], p_rte bigint[], p_rk text[],
    p_claim int, p_lookahead_ms int, p_lease_ms int, p_known bigint[],
    p_backoff_ms int DEFAULT 2000, p_reap boolean DEFAULT false,
    p_inflight_ms int DEFAULT 60000, p_seal jsonb DEFAULT NULL, p_blocked bigint[] DEFAULT NULL)
RETURNS TABLE (job_id bigint, attempt int, kind text, run_at_ms bigint, post_id bigint,
               body text, idempotency_key text, link text, media text[], account_id bigint,
               client_id bigint, platform text, handle text, api_base text, token text,
               next_due_ms bigint, applied int, stale int, reconcile boolean,
               scheduled_ms bigint, token_key text, refresh_token text, token_expires_ms bigint,
               in_reply_to text, alert_id bigint, alert_severity text, alert_kind text,
               alert_subject text, alert_text text, client_name text, alert_created_ms bigint,
               mail_from text, smtp_user text)
LANGUAGE plpgsql
-- Every statement here touches a few rows of large tables through their keys
-- (a batch of results, a batch of claimed jobs): nested loops over indexes.
-- The planner, with statistics of a quieter moment, sometimes hashed the
-- whole queue to update 1,000 rows of it; these settings keep it honest.
-- Since 009 no sequential scans either: a plan made while the queue was
-- empty (where a scan costs nothing) is kept while the queue fills up.
SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off
AS $$
DECLARE
    v_applied int := 0;
    v_total int := 0;
    v_lease interval := make_interval(secs => p_lease_ms / 1000.0);
    v_auth jsonb := '[]';
    v_refresh jsonb := '[]';
    v_alerts jsonb := '[]';
    v_row record;
    v_acc record;
    v_ids bigint[];
    v_owners text[];
BEGIN
    IF p_seal IS NOT NULL AND jsonb_array_length(p_seal) > 0 THEN
        -- only if still the plaintext the broker read (crieurctl may have replaced it)
        UPDATE crieur.account ac SET credentials = decode(s.c, 'hex'), credentials_key = s.k,
               refresh_credentials = CASE WHEN s.r IS NOT NULL THEN decode(s.r, 'hex')
                                          ELSE ac.refresh_credentials END
        FROM jsonb_to_recordset(p_seal) AS s(a bigint, k text, p text, c text, r text)
        WHERE ac.id = s.a AND ac.credentials_key IS NULL AND encode(ac.credentials, 'hex') = s.p
          AND (s.r IS NOT NULL OR ac.refresh_credentials IS NULL);
    END IF;

    IF coalesce(cardinality(p_rj), 0) > 0 THEN
        v_total := cardinality(p_rj);
        WITH r AS (
            SELECT * FROM unnest(p_rj, p_ra, p_ro, p_rh, p_rp, p_ru, p_re, p_rc, p_rr, p_rw, p_rd,
                                 p_rs, p_rf, p_rrc, p_rta, p_rtr, p_rte, p_rk)
                     AS x(j, a, o, h, p, u, e, c, r, w, d, s, f, rc, ta, tr, te, k)
        ), f0 AS (
            -- the fence: only the current attempt of a job this broker leases
            SELECT r.*, jb.kind AS jkind, jb.ref_id, jb.account_id AS acc, jb.errors, jb.max_attempts,
                   jb.needs_reconcile AS nrec,
                   CASE
                     -- a refresh that worked renews its job for the next one (after the WITH)
                     WHEN jb.kind = 'token_refresh' AND r.o = 'ok' THEN 'renew'
                     WHEN jb.kind = 'token_refresh' AND r.o = 'auth_expired' THEN 'final'
                     WHEN r.o IN ('ok', 'permanent', 'cancelled', 'unconfirmed') THEN 'final'
                     WHEN r.o IN ('transient', 'indeterminate') AND jb.errors + 1 >= jb.max_attempts THEN 'dead'
                     WHEN r.o IN ('transient', 'indeterminate') THEN 'retry'
                     WHEN r.o = 'rate_limited' THEN 'defer'
                     WHEN r.o = 'auth_expired' THEN 'auth'
                     WHEN r.o = 'released' THEN 'release'
                     ELSE 'final'
                   END AS action
            -- each result's job by its primary key, then the fence on the row
            -- as locked (OFFSET 0 keeps the fence's conditions out of the
            -- subquery: with them, and statistics from a time when few jobs
            -- were leased, the planner scanned every leased job once per result;
            -- the key lookup can only be an index scan: enable_seqscan is off)
            FROM r CROSS JOIN LATERAL (SELECT j2.* FROM crieur.job j2 WHERE j2.id = r.j OFFSET 0 FOR UPDATE) jb
            WHERE jb.attempt = r.a AND jb.lease_owner = p_owner AND jb.state = 'leased'
        ), f AS (
            -- is the job's platform idempotent? (decides how soon a lost attempt
            -- is retried; looked up only for the results that retry or die)
            SELECT f1.*, f1.action = 'dead' AND NOT f1.idem AND (f1.nrec OR f1.o = 'indeterminate') AS unknown
            FROM (SELECT f0.*,
                         CASE WHEN f0.action IN ('retry', 'dead') AND f0.acc IS NOT NULL THEN
                              coalesce((SELECT pl.idempotent FROM crieur.account ac
                                        JOIN crieur.platform pl ON pl.name = ac.platform
                                        WHERE ac.id = f0.acc), true)
                              ELSE true END AS idem
                  FROM f0) f1
        ), att AS (
            INSERT INTO crieur.attempt (job_id, attempt, kind, ref_id, account_id, broker, worker,
                                        dispatched_at, started_at, finished_at, outcome, http_status,
                                        error_code, detail)
            SELECT f.j, f.a, f.jkind, f.ref_id, f.acc, p_owner, f.w,
                   to_timestamp(nullif(f.d, 0) / 1000.0), to_timestamp(nullif(f.s, 0) / 1000.0),
                   coalesce(to_timestamp(nullif(f.f, 0) / 1000.0), now()), f.o, nullif(f.h, 0),
                   nullif(f.c, ''),
                   CASE WHEN f.rc THEN 'found on the platform by reading back; not published again'
                        ELSE nullif(f.e, '') END
            FROM f ON CONFLICT DO NOTHING
        ), del AS (
            -- by primary key, the ids as an array (no join of the queue with f)
            DELETE FROM crieur.job jb
            WHERE jb.id = ANY (ARRAY(SELECT f.j FROM f WHERE f.action IN ('final', 'dead')))
        ), upd AS (
            UPDATE crieur.job jb SET
                state = 'scheduled', lease_owner = NULL, lease_expires_at = NULL,
                errors = jb.errors + CASE WHEN f.action = 'retry' THEN 1 ELSE 0 END,
                -- the platform may have the post: the next attempt reads back first
                needs_reconcile = jb.needs_reconcile OR f.o = 'indeterminate',
                last_error = nullif(f.e, ''),
                run_at = CASE f.action
                    WHEN 'release' THEN jb.run_at
                    -- a worker lost with the task: at once where a retry is safe; on a
                    -- platform without idempotency only after the lost attempt's deadline,
                    -- so that the read-back sees whatever that attempt did
                    WHEN 'retry' THEN CASE WHEN f.c IN ('worker_lost', 'broker_stopped') THEN
                        CASE WHEN f.idem THEN now()
                             ELSE greatest(now(), to_timestamp(nullif(f.r, 0) / 1000.0)) END
                    ELSE greatest(
                        now() + make_interval(secs => least(3600.0, (p_backoff_ms / 1000.0) * power(2, jb.errors))
                                                       * (0.5 + random() / 2)),
                        to_timestamp(nullif(f.r, 0) / 1000.0)) END
                    WHEN 'defer' THEN coalesce(to_timestamp(nullif(f.r, 0) / 1000.0), now() + interval '1 minute')
                    ELSE now() + interval '5 minutes' END
            -- each job by primary key, for each row of f: "= ANY (ARRAY[f.j])"
            -- is no merge-joinable equality, so the planner has no ordered
            -- scan of the whole job_pkey to put outside f (it did, with the
            -- statistics of an empty queue: every job read once per result)
            FROM f WHERE jb.id = ANY (ARRAY[f.j]) AND f.action IN ('retry', 'defer', 'auth', 'release')
        ), pst AS (
            UPDATE crieur.post p SET
                -- given up while the platform may have the post: unconfirmed, not failed
                status = CASE WHEN f.o = 'ok' THEN 'published'
                              WHEN f.o = 'cancelled' THEN 'cancelled'
                              WHEN f.o = 'unconfirmed' OR f.unknown THEN 'unconfirmed'
                              ELSE 'failed' END,
                platform_post_id = CASE WHEN f.o = 'ok' THEN nullif(f.p, '') ELSE p.platform_post_id END,
                url = CASE WHEN f.o = 'ok' THEN nullif(f.u, '') ELSE p.url END,
                published_at = CASE WHEN f.o = 'ok' THEN coalesce(to_timestamp(nullif(f.f, 0) / 1000.0), now())
                                    ELSE p.published_at END,
                last_error = CASE WHEN f.o = 'ok' THEN NULL
                                  WHEN f.action = 'dead' THEN format('gave up after %s attempts: %s', f.errors + 1, f.e)
                                  ELSE nullif(f.e, '') END,
                updated_at = now()
            FROM f WHERE p.id = f.ref_id AND f.jkind = 'publish' AND f.action IN ('final', 'dead')
        ), alr AS (
            INSERT INTO crieur.alert (client_id, account_id, post_id, kind, severity, message)
            SELECT p.client_id, p.account_id, p.id,
                   CASE WHEN f.o = 'unconfirmed' OR f.unknown THEN 'post_unconfirmed' ELSE 'post_failed' END,
                   CASE WHEN f.o = 'unconfirmed' OR f.unknown THEN 'critical' ELSE 'warning' END,
                   CASE WHEN f.o = 'unconfirmed' OR f.unknown
                        THEN format('post %s may or may not be on %s: the outcome of an attempt is unknown and could not be checked (%s); look at the account, then acknowledge this alert',
                                    p.id, (SELECT ac.platform FROM crieur.account ac WHERE ac.id = p.account_id),
                                    coalesce(nullif(f.e, ''), 'no detail'))
                        ELSE format('post %s failed after %s attempts: %s', p.id, f.errors + 1, f.e) END
            FROM f JOIN crieur.post p ON p.id = f.ref_id
            WHERE f.jkind = 'publish' AND (f.o = 'unconfirmed' OR f.action = 'dead')
        ), pst2 AS (
            UPDATE crieur.post p SET last_error = nullif(f.e, ''), updated_at = now()
            FROM f WHERE p.id = f.ref_id AND f.jkind = 'publish' AND f.action IN ('retry', 'defer', 'auth')
        )
        SELECT count(*),
               coalesce(jsonb_agg(jsonb_build_object('acc', f.acc, 'e', f.e))
                        FILTER (WHERE f.action = 'auth' AND f.acc IS NOT NULL), '[]'),
               coalesce(jsonb_agg(jsonb_build_object('j', f.j, 'acc', f.acc, 'o', f.o, 'action', f.action,
                                                     'e', f.e, 'ta', f.ta, 'tr', f.tr, 'te', f.te, 'k', f.k,
                                                     'n', f.errors + 1))
                        FILTER (WHERE f.jkind = 'token_refresh'), '[]'),
               coalesce(jsonb_agg(jsonb_build_object('al', f.ref_id, 'o', f.o, 'e', f.e, 'n', f.errors + 1))
                        FILTER (WHERE f.jkind = 'alert' AND f.action IN ('final', 'dead')), '[]')
        INTO v_applied, v_auth, v_refresh, v_alerts FROM f;

        -- Publications refused for their token: refresh it where the platform
        -- can (the account waits, 'refreshing'), else pause the account and
        -- tell a human.
        FOR v_row IN SELECT DISTINCT ON ((e ->> 'acc')::bigint) (e ->> 'acc')::bigint AS acc, e ->> 'e' AS err
                 FROM jsonb_array_elements(v_auth) e LOOP
            SELECT ac.id, ac.client_id, ac.handle, ac.platform, ac.status INTO v_acc
            FROM crieur.account ac WHERE ac.id = v_row.acc FOR UPDATE;
            CONTINUE WHEN NOT FOUND OR v_acc.status <> 'active';
            IF crieur.schedule_refresh(v_acc.id, now()) THEN
                UPDATE crieur.account ac SET status = 'refreshing',
                       status_reason = format('refreshing the token: %s', coalesce(nullif(v_row.err, ''), 'the platform refused it'))
                WHERE ac.id = v_acc.id;
            ELSE
                UPDATE crieur.account ac SET status = 'auth_failed',
                       status_reason = coalesce(nullif(v_row.err, ''), 'the platform refused the access token')
                WHERE ac.id = v_acc.id;
                INSERT INTO crieur.alert (client_id, account_id, kind, severity, message)
                VALUES (v_acc.client_id, v_acc.id, 'account_auth_failed', 'critical',
                        format('account %s (%s on %s): the platform refused its token (%s); its posts wait. Reconnect it: crieurctl account token %s --token-file FILE',
                               v_acc.id, v_acc.handle, v_acc.platform, coalesce(nullif(v_row.err, ''), 'no detail'), v_acc.id));
            END IF;
        END LOOP;

        -- Token refreshes.
        FOR v_row IN SELECT * FROM jsonb_to_recordset(v_refresh)
                 AS r(j bigint, acc bigint, o text, action text, e text, ta text, tr text, te bigint,
                      k text, n int) LOOP
            SELECT ac.id, ac.client_id, ac.handle, ac.platform, ac.status, pl.refresh_margin INTO v_acc
            FROM crieur.account ac JOIN crieur.platform pl ON pl.name = ac.platform
            WHERE ac.id = v_row.acc FOR UPDATE OF ac;
            IF NOT FOUND THEN
                DELETE FROM crieur.job jb WHERE jb.id = v_row.j;
                CONTINUE;
            END IF;
            IF v_row.action = 'renew' AND (v_row.ta IS NULL OR v_row.ta !~ '^[0-9a-f]+$' OR v_row.k IS NULL
                                       OR (v_row.tr IS NOT NULL AND v_row.tr !~ '^[0-9a-f]+$')) THEN
                -- an OK without usable credentials: try again shortly
                UPDATE crieur.job jb SET state = 'scheduled', lease_owner = NULL, lease_expires_at = NULL,
                       errors = jb.errors + 1, last_error = 'refresh answered without credentials',
                       run_at = now() + interval '1 minute'
                WHERE jb.id = v_row.j;
                CONTINUE;
            END IF;
            IF v_row.action = 'renew' THEN
                UPDATE crieur.account ac SET credentials = decode(v_row.ta, 'hex'), credentials_key = v_row.k,
                       refresh_credentials = CASE WHEN v_row.tr IS NOT NULL THEN decode(v_row.tr, 'hex')
                                                  ELSE ac.refresh_credentials END,
                       token_expires_at = CASE WHEN coalesce(v_row.te, 0) > 0 THEN to_timestamp(v_row.te / 1000.0) END,
                       status = CASE WHEN ac.status IN ('refreshing', 'auth_failed') THEN 'active' ELSE ac.status END,
                       status_reason = CASE WHEN ac.status IN ('refreshing', 'auth_failed') THEN NULL ELSE ac.status_reason END
                WHERE ac.id = v_acc.id;
                IF coalesce(v_row.te, 0) > 0 THEN
                    -- the next refresh: a margin before expiry, or at half the
                    -- token's life when it is shorter than the margin
                    UPDATE crieur.job jb SET state = 'scheduled', lease_owner = NULL, lease_expires_at = NULL,
                           errors = 0, last_error = NULL, needs_reconcile = false,
                           run_at = greatest(to_timestamp(v_row.te / 1000.0) - coalesce(v_acc.refresh_margin, interval '0'),
                                             now() + (to_timestamp(v_row.te / 1000.0) - now()) / 2, now())
                    WHERE jb.id = v_row.j;
                ELSE
                    DELETE FROM crieur.job jb WHERE jb.id = v_row.j;
                END IF;
                -- the posts that waited for the token (their time has come), not later ones
                UPDATE crieur.job jb SET run_at = now()
                FROM crieur.post p
                WHERE jb.account_id = v_acc.id AND jb.kind = 'publish' AND jb.state = 'scheduled'
                  AND jb.run_at > now() AND p.id = jb.ref_id AND p.scheduled_at <= now();
                PERFORM pg_notify('crieur_jobs', '');
            ELSIF v_row.action IN ('final', 'dead') AND v_row.o <> 'cancelled' THEN
                UPDATE crieur.account ac SET status = 'auth_failed',
                       status_reason = format('token refresh failed: %s', coalesce(nullif(v_row.e, ''), v_row.o))
                WHERE ac.id = v_acc.id AND ac.status <> 'disabled';
                INSERT INTO crieur.alert (client_id, account_id, kind, severity, message)
                VALUES (v_acc.client_id, v_acc.id, 'token_refresh_failed', 'critical',
                        format('account %s (%s on %s): its token could not be refreshed (%s%s); the account is paused and its posts wait. Reconnect it: crieurctl account token %s --token-file FILE [--refresh-token-file FILE]',
                               v_acc.id, v_acc.handle, v_acc.platform, coalesce(nullif(v_row.e, ''), v_row.o),
                               CASE WHEN v_row.action = 'dead' THEN format(', %s attempts', v_row.n) ELSE '' END, v_acc.id));
            END IF;
        END LOOP;

        -- Alert deliveries that ended.
        UPDATE crieur.alert al SET
            delivered_at = CASE WHEN d.o = 'ok' THEN coalesce(al.delivered_at, now()) ELSE al.delivered_at END,
            delivery_error = CASE WHEN d.o = 'ok' THEN al.delivery_error
                                  ELSE format('%s (after %s attempts)', coalesce(nullif(d.e, ''), d.o), d.n) END
        FROM jsonb_to_recordset(v_alerts) AS d(al bigint, o text, e text, n int)
        WHERE al.id = d.al;
    END IF;

    IF p_known IS NOT NULL THEN
        -- Renew the leases of the jobs this broker holds (by primary key) ...
        UPDATE crieur.job jb SET lease_expires_at = now() + v_lease
        WHERE jb.id = ANY (p_known) AND jb.state = 'leased' AND jb.lease_owner = p_owner;
        -- ... and release the ones leased in its name that it does not know
        -- (a claim whose answer was lost with the connection).
        WITH orphan AS (
            UPDATE crieur.job jb SET state = 'scheduled', lease_owner = NULL, lease_expires_at = NULL
            WHERE jb.state = 'leased' AND jb.lease_owner = p_owner
              AND jb.id NOT IN (SELECT unnest(p_known))
            RETURNING jb.id, jb.attempt, jb.kind, jb.ref_id, jb.account_id)
        INSERT INTO crieur.attempt (job_id, attempt, kind, ref_id, account_id, broker, outcome, detail)
        SELECT o.id, o.attempt, o.kind, o.ref_id, o.account_id, p_owner, 'released',
               'claimed, but the answer was lost with the database connection; never dispatched'
        FROM orphan o ON CONFLICT DO NOTHING;
        -- Missed posts: later than the client's tolerance, they are not
        -- published late silently, unless the client allows it.
        WITH m AS (
            DELETE FROM crieur.job jb USING crieur.client c
            WHERE jb.state = 'scheduled' AND jb.kind = 'publish' AND c.id = jb.client_id
              -- due now, and its post's own time is past the tolerance (a job may have
              -- been moved later by retries or rate limits: the post's time counts)
              AND jb.run_at <= now()
              AND NOT coalesce((c.policy ->> 'allow_late')::boolean, false)
              AND (SELECT p.scheduled_at FROM crieur.post p WHERE p.id = jb.ref_id) < now() - c.late_tolerance
            RETURNING jb.id, jb.attempt, jb.ref_id, jb.account_id, jb.client_id
        ), mp AS (
            UPDATE crieur.post p SET status = 'missed', updated_at = now(),
                   last_error = format('not published: more than %s late', c.late_tolerance)
            FROM m JOIN crieur.client c ON c.id = m.client_id WHERE p.id = m.ref_id
            RETURNING p.id, p.client_id, p.account_id, p.scheduled_at, c.late_tolerance
        )
        INSERT INTO crieur.alert (client_id, account_id, post_id, kind, severity, message)
        SELECT mp.client_id, mp.account_id, mp.id, 'post_missed', 'warning',
               format('post %s was due at %s and is more than %s late: not published; reschedule it or allow late publication',
                      mp.id, mp.scheduled_at, mp.late_tolerance)
        FROM mp;
        WITH c AS (
            DELETE FROM crieur.job jb WHERE jb.state = 'scheduled' AND jb.cancel_requested
            RETURNING jb.ref_id, jb.kind
        )
        UPDATE crieur.post p SET status = 'cancelled', updated_at = now()
        FROM c WHERE c.kind = 'publish' AND p.id = c.ref_id;
    END IF;

    IF p_known IS NOT NULL THEN
        -- the ranks of times gone by are not needed any more
        DELETE FROM crieur.fair_slot s WHERE s.at < now() - interval '1 hour';
    END IF;

    IF p_reap THEN
        -- Leases of brokers that are gone: expired, or whose owner has no
        -- session any more (a killed broker's connection closes at once; each
        -- broker connects with application_name 'crieur-broker:<id>'). Their
        -- jobs go back to the queue, to be reconciled where the platform has
        -- no idempotency, after the lost attempt's deadline.
        -- The expired leases' ids (and owners) first, then the update by
        -- primary key (see 009).
        WITH live AS (
            SELECT coalesce(array_agg(substr(a.application_name, 15)), '{}') AS owners
            FROM pg_stat_activity a WHERE a.application_name LIKE 'crieur-broker:%'
        )
        SELECT array_agg(e.id), array_agg(e.lease_owner) INTO v_ids, v_owners FROM (
            SELECT jb.id, jb.lease_owner FROM crieur.job jb, live
            WHERE jb.state = 'leased' AND jb.lease_owner <> p_owner
              AND (jb.lease_expires_at < now() OR jb.lease_owner <> ALL (live.owners))
            FOR UPDATE OF jb SKIP LOCKED) e;
        WITH rel AS (
            UPDATE crieur.job jb SET state = 'scheduled', lease_owner = NULL, lease_expires_at = NULL,
                   errors = jb.errors + 1, needs_reconcile = true,
                   last_error = 'broker lost (lease expired or session gone)',
                   run_at = CASE WHEN coalesce((SELECT pl.idempotent FROM crieur.account ac
                                               JOIN crieur.platform pl ON pl.name = ac.platform
                                               WHERE ac.id = jb.account_id), true)
                                 THEN greatest(jb.run_at, now())
                                 ELSE now() + make_interval(secs => p_inflight_ms / 1000.0) END
            WHERE jb.id = ANY (v_ids)
            RETURNING jb.id, jb.attempt, jb.kind, jb.ref_id, jb.account_id
        )
        -- the attempt is the lost broker's: record its name, and who took over
        -- (its name from the array, by position: no join of two lists)
        INSERT INTO crieur.attempt (job_id, attempt, kind, ref_id, account_id, broker, outcome, detail)
        SELECT l.id, l.attempt, l.kind, l.ref_id, l.account_id, l.owner, 'lost',
               format('broker %s lost (lease expired or session gone); taken over by %s', l.owner, p_owner)
        FROM (SELECT rel.*, v_owners[array_position(v_ids, rel.id)] AS owner FROM rel) l
        ON CONFLICT DO NOTHING;
        WITH c AS (
            DELETE FROM crieur.job jb WHERE jb.state = 'scheduled' AND jb.cancel_requested
            RETURNING jb.ref_id, jb.kind
        )
        UPDATE crieur.post p SET status = 'cancelled', updated_at = now()
        FROM c WHERE c.kind = 'publish' AND p.id = c.ref_id;
    END IF;

    IF p_claim > 0 THEN
        -- The claimed ids first (locked), then the update by primary key:
        -- joined with the selection, the update read the whole queue once
        -- per claimed job when the statistics said the queue was empty.
        SELECT array_agg(c.id) INTO v_ids FROM (
            SELECT jb.id FROM crieur.job jb
            WHERE jb.state = 'scheduled'
              AND jb.run_at <= now() + make_interval(secs => p_lookahead_ms / 1000.0)
              AND NOT jb.cancel_requested
              AND (jb.account_id IS NULL OR EXISTS (
                    SELECT 1 FROM crieur.account ac WHERE ac.id = jb.account_id
                    AND (ac.status = 'active' OR (jb.kind = 'token_refresh' AND ac.status = 'refreshing'))))
              AND (jb.channel_id IS NULL OR EXISTS (
                    SELECT 1 FROM crieur.alert_channel ch WHERE ch.id = jb.channel_id AND ch.enabled))
              -- accounts whose rate limit the broker knows to be spent
              AND (p_blocked IS NULL OR jb.account_id IS NULL OR jb.account_id <> ALL (p_blocked))
            ORDER BY jb.run_at, jb.fair, jb.id
            LIMIT p_claim
            FOR UPDATE SKIP LOCKED) c;
        RETURN QUERY
        WITH u AS (
            UPDATE crieur.job jb SET state = 'leased', lease_owner = p_owner,
                   lease_expires_at = now() + v_lease, attempt = jb.attempt + 1
            WHERE jb.id = ANY (v_ids)
            RETURNING jb.id, jb.attempt, jb.kind, jb.run_at, jb.ref_id, jb.account_id, jb.client_id,
                      jb.needs_reconcile, jb.channel_id, jb.fair
        )
        SELECT u.id, u.attempt, u.kind, (extract(epoch FROM u.run_at) * 1000)::bigint, p.id,
               CASE WHEN u.kind = 'monitor' THEN crieur.monitor_task(u.ref_id) ELSE p.body END,
               p.idempotency_key::text, p.link, p.media,
               coalesce(u.account_id, ch.id), u.client_id, coalesce(ac.platform, ch.kind, CASE WHEN u.kind = 'monitor' THEN 'feed' END),
               coalesce(ac.handle, ch.recipient, ch.name), coalesce(ac.api_base, ch.smtp_url),
               encode(coalesce(ac.credentials, ch.secret), 'hex'), NULL::bigint, NULL::int, NULL::int,
               u.needs_reconcile AND NOT coalesce(pl.idempotent, true),
               (extract(epoch FROM coalesce(p.scheduled_at, u.run_at)) * 1000)::bigint,
               CASE WHEN ac.id IS NOT NULL THEN ac.credentials_key ELSE ch.secret_key END,
               -- a refresh needs it; a plaintext one is returned to be sealed
               CASE WHEN u.kind = 'token_refresh' OR ac.credentials_key IS NULL
                    THEN encode(ac.refresh_credentials, 'hex') END,
               (extract(epoch FROM ac.token_expires_at) * 1000)::bigint,
               p.in_reply_to,
               al.id, al.severity, al.kind,
               CASE WHEN al.id IS NOT NULL THEN
                   format('[Crieur %s] %s%s', al.severity, replace(al.kind, '_', ' '), ' - ' || cl.name) END,
               al.message, cl.name, (extract(epoch FROM al.created_at) * 1000)::bigint,
               ch.mail_from, ch.smtp_user
        FROM u
        LEFT JOIN crieur.post p ON p.id = u.ref_id AND u.kind = 'publish'
        LEFT JOIN crieur.account ac ON ac.id = u.account_id
        LEFT JOIN crieur.platform pl ON pl.name = ac.platform
        LEFT JOIN crieur.alert_channel ch ON ch.id = u.channel_id AND u.kind = 'alert'
        LEFT JOIN crieur.alert al ON al.id = u.ref_id AND u.kind = 'alert'
        LEFT JOIN crieur.client cl ON cl.id = al.client_id
        ORDER BY u.run_at, u.fair, u.id;
    END IF;

    RETURN QUERY SELECT NULL::bigint, NULL::int, NULL::text, NULL::bigint, NULL::bigint,
        NULL::text, NULL::text, NULL::text, NULL::text[], NULL::bigint, NULL::bigint, NULL::text,
        NULL::text, NULL::text, NULL::text,
        (SELECT (extract(epoch FROM min(jb.run_at)) * 1000)::bigint FROM crieur.job jb
          WHERE jb.state = 'scheduled' AND jb.run_at > now() + make_interval(secs => p_lookahead_ms / 1000.0)),
        v_applied, v_total - v_applied, NULL::boolean, NULL::bigint, NULL::text, NULL::text,
        NULL::bigint, NULL::text, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::text,
        NULL::text, NULL::bigint, NULL::text, NULL::text;
END $$;
