-- 001_init: clients, accounts, posts, jobs, attempts, workers, brokers, and
-- the `crieur` SQL interface (schedule, cancel, reschedule) plus the broker's
-- one-round-trip cycle function.
--
-- Vocabulary: a *job* is durable scheduled work (this table is the queue);
-- a *task* is one dispatch of a job to a worker; `attempt` counts dispatches
-- and fences results; a *lease* (lease_owner, lease_expires_at) is a broker's
-- claim on a job. Finished jobs leave crieur.job at once: their history is
-- the attempt table and the post row, so the hot table stays small.

CREATE SCHEMA IF NOT EXISTS crieur;

-- Platforms and their text rules (length limits are checked at scheduling
-- time; accounts may override max_chars, e.g. a Mastodon instance's own).
CREATE TABLE crieur.platform (
    name        text PRIMARY KEY,
    max_chars   int NOT NULL CHECK (max_chars > 0),
    url_chars   int,               -- a URL counts as this many characters; NULL = its length
    idempotent  boolean NOT NULL   -- retries are safe (idempotency key or derived record key)
);
INSERT INTO crieur.platform (name, max_chars, url_chars, idempotent) VALUES
    ('mastodon', 500, 23, true);

CREATE TABLE crieur.client (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 200),
    timezone        text NOT NULL DEFAULT 'UTC',
    plan            text NOT NULL DEFAULT 'standard',
    policy          jsonb NOT NULL DEFAULT '{}',
    late_tolerance  interval NOT NULL DEFAULT '2 hours',
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crieur.account (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id        bigint NOT NULL REFERENCES crieur.client (id) ON DELETE CASCADE,
    platform         text NOT NULL REFERENCES crieur.platform (name),
    handle           text NOT NULL CHECK (handle <> ''),
    api_base         text NOT NULL CHECK (api_base ~ '^https?://'),
    credentials      bytea,        -- access token (encrypted at rest: see the security issue)
    token_expires_at timestamptz,
    max_chars        int CHECK (max_chars > 0),
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'paused', 'auth_failed', 'disabled')),
    status_reason    text,
    paused_until     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (platform, api_base, handle)
);
CREATE INDEX account_client ON crieur.account (client_id);

CREATE TABLE crieur.post (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id        bigint NOT NULL REFERENCES crieur.client (id) ON DELETE CASCADE,
    account_id       bigint NOT NULL REFERENCES crieur.account (id) ON DELETE CASCADE,
    campaign         text,
    body             text NOT NULL,
    link             text,
    media            text[] NOT NULL DEFAULT '{}',
    kind             text NOT NULL DEFAULT 'editorial' CHECK (kind IN ('editorial', 'promotional')),
    scheduled_at     timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'scheduled'
                     CHECK (status IN ('draft', 'pending_approval', 'changes_requested', 'scheduled',
                                       'published', 'failed', 'cancelled', 'missed', 'unconfirmed')),
    idempotency_key  uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    platform_post_id text,
    url              text,
    published_at     timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX post_client_time ON crieur.post (client_id, scheduled_at);
CREATE INDEX post_account_time ON crieur.post (account_id, scheduled_at);

-- The queue. Only live jobs are here: 'scheduled' (waiting for run_at) or
-- 'leased' (claimed by a broker, held until due or in flight on a worker).
CREATE TABLE crieur.job (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL
                     CHECK (kind IN ('publish', 'monitor', 'metrics', 'alert', 'token_refresh', 'noop')),
    ref_id           bigint,        -- the post of a publish job
    client_id        bigint,
    account_id       bigint,
    run_at           timestamptz NOT NULL,
    priority         smallint NOT NULL DEFAULT 0,
    state            text NOT NULL DEFAULT 'scheduled' CHECK (state IN ('scheduled', 'leased')),
    attempt          int NOT NULL DEFAULT 0,  -- dispatches so far; fences results
    errors           int NOT NULL DEFAULT 0,  -- failed attempts, counted against max_attempts
    max_attempts     int NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    lease_owner      text,
    lease_expires_at timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false,
    last_error       text,
    unique_key       text UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'leased') = (lease_owner IS NOT NULL))
);
-- Exactly what the claim reads: due scheduled jobs in time order.
CREATE INDEX job_due ON crieur.job (run_at, id) WHERE state = 'scheduled';
CREATE INDEX job_lease ON crieur.job (lease_owner, lease_expires_at) WHERE state = 'leased';
CREATE INDEX job_ref ON crieur.job (ref_id) WHERE kind = 'publish';

-- Append-only record of every dispatch and how it ended.
CREATE TABLE crieur.attempt (
    job_id        bigint NOT NULL,
    attempt       int NOT NULL,
    kind          text NOT NULL,
    ref_id        bigint,
    account_id    bigint,
    broker        text,
    worker        text,
    dispatched_at timestamptz,
    started_at    timestamptz,
    finished_at   timestamptz NOT NULL DEFAULT now(),
    outcome       text NOT NULL
                  CHECK (outcome IN ('ok', 'transient', 'rate_limited', 'auth_expired', 'permanent',
                                     'cancelled', 'indeterminate', 'lost', 'released')),
    http_status   int,
    error_code    text,
    detail        text,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX attempt_ref ON crieur.attempt (ref_id) WHERE ref_id IS NOT NULL;

CREATE TABLE crieur.broker (
    id          text PRIMARY KEY,
    host        text,
    pid         int,
    endpoint    text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crieur.worker (
    id          text PRIMARY KEY,
    role        text NOT NULL,
    broker      text,
    platforms   text[] NOT NULL DEFAULT '{}',
    capacity    int NOT NULL DEFAULT 0,
    in_flight   int NOT NULL DEFAULT 0,
    pid         int,
    version     text,
    state       text NOT NULL DEFAULT 'connected' CHECK (state IN ('connected', 'gone')),
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------

-- Length of a text as the platform counts it (URLs weighted for Mastodon).
CREATE FUNCTION crieur.text_length(p_body text, p_url_chars int)
RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_url_chars IS NULL THEN char_length(p_body)
                ELSE char_length(regexp_replace(p_body, 'https?://[^\s]+',
                                                repeat('x', p_url_chars), 'g')) END
$$;

CREATE FUNCTION crieur.client_id(p_client text)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE v bigint;
BEGIN
    SELECT id INTO v FROM crieur.client WHERE name = p_client;
    IF v IS NULL AND p_client ~ '^[0-9]+$' THEN
        SELECT id INTO v FROM crieur.client WHERE id = p_client::bigint;
    END IF;
    IF v IS NULL THEN
        RAISE EXCEPTION 'unknown client "%"', p_client
            USING ERRCODE = 'no_data_found', HINT = 'list clients with: crieurctl client list';
    END IF;
    RETURN v;
END $$;

------------------------------------------------------------------------------
-- The SQL interface: call these from any language, inside your transaction.
------------------------------------------------------------------------------

-- Adds a client; timezone is an IANA name such as Europe/Paris.
CREATE FUNCTION crieur.add_client(p_name text, p_timezone text DEFAULT 'UTC',
                                  p_plan text DEFAULT 'standard')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
    IF p_name IS NULL OR btrim(p_name) = '' THEN
        RAISE EXCEPTION 'client name must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = p_timezone) THEN
        RAISE EXCEPTION 'unknown time zone "%"', p_timezone
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'use an IANA name such as Europe/Paris or America/New_York';
    END IF;
    IF EXISTS (SELECT 1 FROM crieur.client WHERE name = p_name) THEN
        RAISE EXCEPTION 'a client named "%" already exists', p_name USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO crieur.client (name, timezone, plan) VALUES (p_name, p_timezone, p_plan)
    RETURNING id INTO v;
    RETURN v;
END $$;

-- Adds a social account of a client.
CREATE FUNCTION crieur.add_account(p_client text, p_platform text, p_handle text,
                                   p_api_base text, p_token text, p_max_chars int DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint; v_client bigint := crieur.client_id(p_client);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM crieur.platform WHERE name = p_platform) THEN
        RAISE EXCEPTION 'unknown platform "%"', p_platform
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'known platforms: ' || (SELECT string_agg(name, ', ' ORDER BY name) FROM crieur.platform);
    END IF;
    IF p_handle IS NULL OR btrim(p_handle) = '' THEN
        RAISE EXCEPTION 'account handle must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_api_base IS NULL OR p_api_base !~ '^https?://[^/\s]+' THEN
        RAISE EXCEPTION 'instance URL "%" is not an http(s) URL', p_api_base
            USING ERRCODE = 'invalid_parameter_value', HINT = 'for example https://mastodon.social';
    END IF;
    IF p_token IS NULL OR p_token = '' THEN
        RAISE EXCEPTION 'access token must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM crieur.account WHERE platform = p_platform
               AND api_base = rtrim(p_api_base, '/') AND handle = p_handle) THEN
        RAISE EXCEPTION 'account % on % (%) already exists', p_handle, p_platform, p_api_base
            USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO crieur.account (client_id, platform, handle, api_base, credentials, max_chars)
    VALUES (v_client, p_platform, p_handle, rtrim(p_api_base, '/'), convert_to(p_token, 'UTF8'), p_max_chars)
    RETURNING id INTO v;
    RETURN v;
END $$;

-- Schedules a post on an account at an absolute time (timestamptz). A time up
-- to one minute in the past is accepted as "now"; earlier is refused. The
-- publish job is created in the same transaction, and the brokers are woken
-- when the transaction commits.
CREATE FUNCTION crieur.schedule_post(p_account bigint, p_body text, p_at timestamptz,
                                     p_campaign text DEFAULT NULL, p_kind text DEFAULT 'editorial',
                                     p_link text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    a record; v_post bigint; v_len int; v_max int;
BEGIN
    SELECT ac.*, pl.max_chars AS platform_max, pl.url_chars INTO a
    FROM crieur.account ac JOIN crieur.platform pl ON pl.name = ac.platform
    WHERE ac.id = p_account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown account %', p_account
            USING ERRCODE = 'no_data_found', HINT = 'list accounts with: crieurctl account list';
    END IF;
    IF a.status = 'disabled' THEN
        RAISE EXCEPTION 'account % (%) is disabled', p_account, a.handle USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_body IS NULL OR btrim(p_body) = '' THEN
        RAISE EXCEPTION 'post text must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_max := coalesce(a.max_chars, a.platform_max);
    -- the publisher appends the link after a blank line when the text lacks it
    v_len := crieur.text_length(CASE WHEN p_link IS NOT NULL AND p_link <> '' AND strpos(p_body, p_link) = 0
                                     THEN p_body || E'\n\n' || p_link ELSE p_body END, a.url_chars);
    IF v_len > v_max THEN
        RAISE EXCEPTION 'post text is % characters long; % allows at most %', v_len, a.platform, v_max
            USING ERRCODE = 'string_data_right_truncation',
                  HINT = CASE WHEN a.url_chars IS NOT NULL
                              THEN format('each link counts as %s characters', a.url_chars) END;
    END IF;
    IF p_at IS NULL THEN
        RAISE EXCEPTION 'publication time must be given' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_at < now() - interval '1 minute' THEN
        RAISE EXCEPTION 'publication time % is in the past', p_at
            USING ERRCODE = 'invalid_parameter_value', HINT = 'to publish at once, schedule it for now';
    END IF;
    IF p_kind NOT IN ('editorial', 'promotional') THEN
        RAISE EXCEPTION 'post kind must be editorial or promotional, not "%"', p_kind
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO crieur.post (client_id, account_id, campaign, body, link, kind, scheduled_at)
    VALUES (a.client_id, p_account, p_campaign, p_body, p_link, p_kind, greatest(p_at, now()))
    RETURNING id INTO v_post;
    INSERT INTO crieur.job (kind, ref_id, client_id, account_id, run_at)
    VALUES ('publish', v_post, a.client_id, p_account, greatest(p_at, now()));
    PERFORM pg_notify('crieur_jobs', '');
    RETURN v_post;
END $$;

-- Same, with a wall-clock time in the client's own time zone. A local time
-- that does not exist (skipped by a daylight-saving change) is refused; an
-- ambiguous one (repeated hour) takes its first occurrence.
CREATE FUNCTION crieur.schedule_post_local(p_account bigint, p_body text, p_local timestamp,
                                           p_campaign text DEFAULT NULL,
                                           p_kind text DEFAULT 'editorial', p_link text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_tz text; v_at timestamptz;
BEGIN
    SELECT c.timezone INTO v_tz FROM crieur.account a JOIN crieur.client c ON c.id = a.client_id
    WHERE a.id = p_account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown account %', p_account USING ERRCODE = 'no_data_found';
    END IF;
    v_at := crieur.local_to_utc(p_local, v_tz);
    RETURN crieur.schedule_post(p_account, p_body, v_at, p_campaign, p_kind, p_link);
END $$;

-- Converts a wall-clock time of a time zone to an instant; raises for a time
-- that the zone skips, takes the earlier instant for a repeated one.
CREATE FUNCTION crieur.local_to_utc(p_local timestamp, p_tz text)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE v timestamptz;
BEGIN
    -- Candidates: the wall time read with the zone's offset 12 hours before
    -- and 12 hours after; keep those that read back as the same wall time.
    SELECT min(cand) INTO v FROM (
        SELECT (p_local - ((x AT TIME ZONE p_tz) - (x AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC' AS cand
        FROM (VALUES ((p_local AT TIME ZONE 'UTC') - interval '12 hours'),
                     ((p_local AT TIME ZONE 'UTC') + interval '12 hours')) AS t(x)) s
    WHERE (cand AT TIME ZONE p_tz) = p_local;
    IF v IS NULL THEN
        RAISE EXCEPTION 'local time % does not exist in time zone % (skipped by a clock change)', p_local, p_tz
            USING ERRCODE = 'invalid_datetime_format', HINT = 'pick a time outside the skipped hour';
    END IF;
    RETURN v;
END $$;

-- Cancels a post. Returns 'cancelled' when it is certain the post will not be
-- published, or 'cancel_requested' when its job is already held by a broker:
-- the broker drops it if it has not been sent to a worker; the post's status
-- then tells what happened.
CREATE FUNCTION crieur.cancel_post(p_post bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE p record; j record;
BEGIN
    SELECT * INTO p FROM crieur.post WHERE id = p_post FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown post %', p_post USING ERRCODE = 'no_data_found';
    END IF;
    IF p.status IN ('published', 'failed', 'cancelled', 'missed', 'unconfirmed') THEN
        RAISE EXCEPTION 'post % is already %; it cannot be cancelled', p_post, p.status
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO j FROM crieur.job WHERE kind = 'publish' AND ref_id = p_post FOR UPDATE;
    IF FOUND AND j.state = 'leased' THEN
        UPDATE crieur.job SET cancel_requested = true WHERE id = j.id;
        PERFORM pg_notify('crieur_cancel', j.id::text);
        RETURN 'cancel_requested';
    END IF;
    DELETE FROM crieur.job WHERE kind = 'publish' AND ref_id = p_post;
    UPDATE crieur.post SET status = 'cancelled', updated_at = now() WHERE id = p_post;
    RETURN 'cancelled';
END $$;

-- Moves a scheduled post to another time.
CREATE FUNCTION crieur.reschedule_post(p_post bigint, p_at timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE p record; j record;
BEGIN
    SELECT * INTO p FROM crieur.post WHERE id = p_post FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown post %', p_post USING ERRCODE = 'no_data_found';
    END IF;
    IF p.status <> 'scheduled' THEN
        RAISE EXCEPTION 'post % is %; only scheduled posts can be rescheduled', p_post, p.status
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_at IS NULL OR p_at < now() - interval '1 minute' THEN
        RAISE EXCEPTION 'publication time % is in the past', p_at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT * INTO j FROM crieur.job WHERE kind = 'publish' AND ref_id = p_post FOR UPDATE;
    IF FOUND AND j.state = 'leased' THEN
        RAISE EXCEPTION 'post % is being published now; it can no longer be moved', p_post
            USING ERRCODE = 'lock_not_available';
    END IF;
    UPDATE crieur.post SET scheduled_at = greatest(p_at, now()), updated_at = now() WHERE id = p_post;
    UPDATE crieur.job SET run_at = greatest(p_at, now()) WHERE kind = 'publish' AND ref_id = p_post;
    PERFORM pg_notify('crieur_jobs', '');
END $$;

-- Queue overview for operators.
CREATE FUNCTION crieur.queue_status()
RETURNS TABLE (kind text, state text, jobs bigint, due bigint, oldest_due timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT kind, state, count(*), count(*) FILTER (WHERE run_at <= now()),
           min(run_at) FILTER (WHERE run_at <= now())
    FROM crieur.job GROUP BY kind, state ORDER BY kind, state
$$;

------------------------------------------------------------------------------
-- Broker side
------------------------------------------------------------------------------

-- Start-up recovery: whatever this broker id held before it died goes back
-- to the queue at once (its attempts recorded as lost), instead of waiting
-- for the leases to expire.
CREATE FUNCTION crieur.broker_recover(p_owner text)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
    WITH rel AS (
        UPDATE crieur.job SET state = 'scheduled', lease_owner = NULL, lease_expires_at = NULL,
                              errors = errors + 1, last_error = 'broker restarted while holding the job'
        WHERE state = 'leased' AND lease_owner = p_owner
        RETURNING id, attempt, kind, ref_id, account_id)
    INSERT INTO crieur.attempt (job_id, attempt, kind, ref_id, account_id, broker, outcome, detail)
    SELECT id, attempt, kind, ref_id, account_id, p_owner, 'lost', 'broker restarted while holding the job'
    FROM rel ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- One round trip of a broker: apply a batch of results (fenced), optionally
-- renew this broker's leases and release expired ones, then claim up to
-- p_claim due jobs. Returns the claimed jobs, then one summary row (job_id
-- NULL) with the next due time after the look-ahead window and the counts of
-- applied and stale (fenced-out) results.
--
-- Outcomes: ok, permanent, cancelled end the job; transient and indeterminate
-- retry with exponential backoff and jitter (at once when the error code is
-- worker_lost) until max_attempts, then the job is dead and its post failed;
-- rate_limited waits for the platform's reset without consuming an attempt;
-- auth_expired parks the job and flags the account; released (a job the
-- broker claimed but never dispatched) goes back unchanged.
--
-- p_results is a JSON array of
--   {"j":job,"a":attempt,"o":outcome,"h":http,"p":platform id,"u":url,"e":error,
--    "c":error code,"r":retry at ms,"w":worker,"d":dispatched ms,"s":started ms,"f":finished ms}
CREATE FUNCTION crieur.broker_cycle(p_owner text, p_results jsonb, p_claim int,
                                    p_lookahead_ms int, p_lease_ms int, p_known bigint[],
                                    p_backoff_ms int DEFAULT 2000)
RETURNS TABLE (job_id bigint, attempt int, kind text, run_at_ms bigint, post_id bigint,
               body text, idempotency_key text, link text, media text[], account_id bigint,
               client_id bigint, platform text, handle text, api_base text, token text,
               next_due_ms bigint, applied int, stale int)
LANGUAGE plpgsql AS $$
DECLARE
    v_applied int := 0;
    v_total int := 0;
    v_lease interval := make_interval(secs => p_lease_ms / 1000.0);
BEGIN
    IF p_results IS NOT NULL AND jsonb_array_length(p_results) > 0 THEN
        v_total := jsonb_array_length(p_results);
        WITH r AS (
            SELECT * FROM jsonb_to_recordset(p_results) AS x(j bigint, a int, o text, h int, p text,
                   u text, e text, c text, r bigint, w text, d bigint, s bigint, f bigint)
        ), f AS (
            -- the fence: only the current attempt of a job this broker leases
            SELECT r.*, jb.kind AS jkind, jb.ref_id, jb.account_id AS acc, jb.errors, jb.max_attempts,
                   CASE
                     WHEN r.o IN ('ok', 'permanent', 'cancelled') THEN 'final'
                     WHEN r.o IN ('transient', 'indeterminate') AND jb.errors + 1 >= jb.max_attempts THEN 'dead'
                     WHEN r.o IN ('transient', 'indeterminate') THEN 'retry'
                     WHEN r.o = 'rate_limited' THEN 'defer'
                     WHEN r.o = 'auth_expired' THEN 'auth'
                     WHEN r.o = 'released' THEN 'release'
                     ELSE 'final'
                   END AS action
            FROM r JOIN crieur.job jb
              ON jb.id = r.j AND jb.attempt = r.a AND jb.lease_owner = p_owner AND jb.state = 'leased'
            FOR UPDATE OF jb
        ), att AS (
            INSERT INTO crieur.attempt (job_id, attempt, kind, ref_id, account_id, broker, worker,
                                        dispatched_at, started_at, finished_at, outcome, http_status,
                                        error_code, detail)
            SELECT f.j, f.a, f.jkind, f.ref_id, f.acc, p_owner, f.w,
                   to_timestamp(nullif(f.d, 0) / 1000.0), to_timestamp(nullif(f.s, 0) / 1000.0),
                   coalesce(to_timestamp(nullif(f.f, 0) / 1000.0), now()), f.o, nullif(f.h, 0),
                   nullif(f.c, ''), nullif(f.e, '')
            FROM f ON CONFLICT DO NOTHING
        ), del AS (
            DELETE FROM crieur.job jb USING f WHERE jb.id = f.j AND f.action IN ('final', 'dead')
        ), upd AS (
            UPDATE crieur.job jb SET
                state = 'scheduled', lease_owner = NULL, lease_expires_at = NULL,
                errors = jb.errors + CASE WHEN f.action = 'retry' THEN 1 ELSE 0 END,
                last_error = nullif(f.e, ''),
                run_at = CASE f.action
                    WHEN 'release' THEN jb.run_at
                    WHEN 'retry' THEN CASE WHEN f.c = 'worker_lost' THEN now() ELSE greatest(
                        now() + make_interval(secs => least(3600.0, (p_backoff_ms / 1000.0) * power(2, jb.errors))
                                                       * (0.5 + random() / 2)),
                        to_timestamp(nullif(f.r, 0) / 1000.0)) END
                    WHEN 'defer' THEN coalesce(to_timestamp(nullif(f.r, 0) / 1000.0), now() + interval '1 minute')
                    ELSE now() + interval '5 minutes' END
            FROM f WHERE jb.id = f.j AND f.action IN ('retry', 'defer', 'auth', 'release')
        ), acc AS (
            UPDATE crieur.account ac SET status = 'auth_failed',
                   status_reason = coalesce(nullif(f.e, ''), 'the platform refused the access token')
            FROM f WHERE ac.id = f.acc AND f.action = 'auth'
        ), pst AS (
            UPDATE crieur.post p SET
                status = CASE WHEN f.o = 'ok' THEN 'published'
                              WHEN f.o = 'cancelled' THEN 'cancelled'
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
        ), pst2 AS (
            UPDATE crieur.post p SET last_error = nullif(f.e, ''), updated_at = now()
            FROM f WHERE p.id = f.ref_id AND f.jkind = 'publish' AND f.action IN ('retry', 'defer', 'auth')
        )
        SELECT count(*) INTO v_applied FROM f;
    END IF;

    IF p_known IS NOT NULL THEN
        -- Renew the leases of the jobs this broker holds ...
        UPDATE crieur.job jb SET lease_expires_at = now() + v_lease
        FROM unnest(p_known) AS k(id)
        WHERE jb.id = k.id AND jb.state = 'leased' AND jb.lease_owner = p_owner;
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
        -- Expired leases of any broker: cancelled ones end, others go back to the queue.
        WITH exp AS (
            SELECT jb.id FROM crieur.job jb
            WHERE jb.state = 'leased' AND jb.lease_expires_at < now()
            FOR UPDATE SKIP LOCKED
        ), rel AS (
            UPDATE crieur.job jb SET state = 'scheduled', lease_owner = NULL, lease_expires_at = NULL,
                   errors = jb.errors + 1, last_error = 'lease expired (broker lost)'
            FROM exp WHERE jb.id = exp.id
            RETURNING jb.id, jb.attempt, jb.kind, jb.ref_id, jb.account_id
        )
        INSERT INTO crieur.attempt (job_id, attempt, kind, ref_id, account_id, broker, outcome, detail)
        SELECT rel.id, rel.attempt, rel.kind, rel.ref_id, rel.account_id, p_owner, 'lost',
               'lease expired (broker lost)'
        FROM rel ON CONFLICT DO NOTHING;
        WITH c AS (
            DELETE FROM crieur.job jb WHERE jb.state = 'scheduled' AND jb.cancel_requested
            RETURNING jb.ref_id, jb.kind
        )
        UPDATE crieur.post p SET status = 'cancelled', updated_at = now()
        FROM c WHERE c.kind = 'publish' AND p.id = c.ref_id;
    END IF;

    IF p_claim > 0 THEN
        RETURN QUERY
        WITH c AS (
            SELECT jb.id FROM crieur.job jb
            WHERE jb.state = 'scheduled'
              AND jb.run_at <= now() + make_interval(secs => p_lookahead_ms / 1000.0)
              AND NOT jb.cancel_requested
              AND (jb.account_id IS NULL OR EXISTS (
                    SELECT 1 FROM crieur.account ac WHERE ac.id = jb.account_id AND ac.status = 'active'))
            ORDER BY jb.run_at, jb.id
            LIMIT p_claim
            FOR UPDATE SKIP LOCKED
        ), u AS (
            UPDATE crieur.job jb SET state = 'leased', lease_owner = p_owner,
                   lease_expires_at = now() + v_lease, attempt = jb.attempt + 1
            FROM c WHERE jb.id = c.id
            RETURNING jb.id, jb.attempt, jb.kind, jb.run_at, jb.ref_id, jb.account_id, jb.client_id
        )
        SELECT u.id, u.attempt, u.kind, (extract(epoch FROM u.run_at) * 1000)::bigint, p.id, p.body, p.idempotency_key::text, p.link, p.media,
               u.account_id, u.client_id, ac.platform, ac.handle, ac.api_base,
               convert_from(ac.credentials, 'UTF8'), NULL::bigint, NULL::int, NULL::int
        FROM u
        LEFT JOIN crieur.post p ON p.id = u.ref_id AND u.kind = 'publish'
        LEFT JOIN crieur.account ac ON ac.id = u.account_id
        ORDER BY u.run_at, u.id;
    END IF;

    RETURN QUERY SELECT NULL::bigint, NULL::int, NULL::text, NULL::bigint, NULL::bigint,
        NULL::text, NULL::text, NULL::text, NULL::text[], NULL::bigint, NULL::bigint, NULL::text,
        NULL::text, NULL::text, NULL::text,
        (SELECT (extract(epoch FROM min(jb.run_at)) * 1000)::bigint FROM crieur.job jb
          WHERE jb.state = 'scheduled' AND jb.run_at > now() + make_interval(secs => p_lookahead_ms / 1000.0)),
        v_applied, v_total - v_applied;
END $$;

-- Records the workers a broker sees (called periodically with a JSON array of
-- {"id","role","platforms":[..],"capacity","in_flight","pid","version"}).
CREATE FUNCTION crieur.broker_heartbeat(p_owner text, p_host text, p_pid int, p_endpoint text,
                                        p_workers jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crieur.broker (id, host, pid, endpoint) VALUES (p_owner, p_host, p_pid, p_endpoint)
    ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
        endpoint = excluded.endpoint, last_seen = now(),
        started_at = CASE WHEN crieur.broker.pid IS DISTINCT FROM excluded.pid
                            OR crieur.broker.host IS DISTINCT FROM excluded.host
                          THEN now() ELSE crieur.broker.started_at END;
    INSERT INTO crieur.worker AS w (id, role, broker, platforms, capacity, in_flight, pid, version, state)
    SELECT x.id, x.role, p_owner, coalesce(ARRAY(SELECT jsonb_array_elements_text(x.platforms)), '{}'),
           x.capacity, x.in_flight, x.pid, x.version, 'connected'
    FROM jsonb_to_recordset(coalesce(p_workers, '[]')) AS x(id text, role text, platforms jsonb,
         capacity int, in_flight int, pid int, version text)
    ON CONFLICT (id) DO UPDATE SET role = excluded.role, broker = excluded.broker,
        platforms = excluded.platforms, capacity = excluded.capacity, in_flight = excluded.in_flight,
        pid = excluded.pid, version = excluded.version, state = 'connected', last_seen = now();
    UPDATE crieur.worker SET state = 'gone', in_flight = 0
    WHERE broker = p_owner AND state = 'connected'
      AND id NOT IN (SELECT x.id FROM jsonb_to_recordset(coalesce(p_workers, '[]')) AS x(id text));
END $$;
