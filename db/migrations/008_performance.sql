-- 008_performance: a cheaper round trip, fair claims, and the platforms'
-- published rate limits for the broker's token buckets.
--
-- * The broker sends its results as one array per field instead of a JSON
--   array of objects: unnest() of typed arrays costs a fraction of
--   jsonb_to_recordset() (about 1 ms instead of 3 for 1,000 results here).
--   crieur.broker_cycle keeps its JSON form for SQL users and tests: it
--   converts and calls crieur.broker_cycle_arrays, so both share one logic.
-- * The claim writes fewer index entries: unique_key is indexed only where
--   it is set (most jobs have none, and every claim is a new row version
--   that used to add a NULL entry); the lease index keys on the owner only,
--   so that renewing a lease (lease_expires_at) can be a HOT update.
-- * Fair claims: publications due at the same time are claimed in the order
--   of `fair`, the post's rank among its client's posts due at that time
--   (crieur.fair_slot counts them), not in creation order: a client who
--   scheduled 1,000 posts for 9:00 before another did is not served first;
--   the claim takes every client's first post, then every client's second.
--   (A random key was tried first: it scattered each claim over the whole
--   table, one page per job, and halved the throughput.) Jobs with
--   different times keep their time order; other jobs have fair = 0.
-- * Cancelled jobs are found by a partial index, not by a scan of the queue
--   (a queue of ten million future jobs made every maintenance cycle slow).
-- * crieur.platform gets the published limits: posts per account per window
--   and calls per application (all accounts) per window. The broker reads
--   them into token buckets and holds or defers work instead of collecting
--   429s; p_blocked lists the accounts whose bucket is empty, so that the
--   claim leaves their jobs in the queue.

ALTER TABLE crieur.job DROP CONSTRAINT job_unique_key_key;
CREATE UNIQUE INDEX job_unique_key ON crieur.job (unique_key) WHERE unique_key IS NOT NULL;
DROP INDEX crieur.job_lease;
CREATE INDEX job_lease ON crieur.job (lease_owner) WHERE state = 'leased';
CREATE INDEX job_cancel ON crieur.job (id) WHERE cancel_requested;
ALTER TABLE crieur.job ADD COLUMN fair int NOT NULL DEFAULT 0;
-- A publication's rank among its client's publications due at the same
-- time: the claim takes the first post of every client, then the second...
CREATE TABLE crieur.fair_slot (
    client_id bigint NOT NULL,
    at        timestamptz NOT NULL,
    n         int NOT NULL,
    PRIMARY KEY (client_id, at)
);
CREATE INDEX fair_slot_at ON crieur.fair_slot (at);
CREATE FUNCTION crieur.job_fair() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crieur.fair_slot AS s (client_id, at, n) VALUES (NEW.client_id, NEW.run_at, 1)
    ON CONFLICT (client_id, at) DO UPDATE SET n = s.n + 1
    RETURNING s.n INTO NEW.fair;
    RETURN NEW;
END $$;
CREATE TRIGGER job_fair BEFORE INSERT ON crieur.job FOR EACH ROW
    WHEN (NEW.kind = 'publish' AND NEW.client_id IS NOT NULL) EXECUTE FUNCTION crieur.job_fair();
DROP INDEX crieur.job_due;
CREATE INDEX job_due ON crieur.job (run_at, fair, id) WHERE state = 'scheduled';
-- room on each page for a renewed lease's new row version (HOT updates)
ALTER TABLE crieur.job SET (fillfactor = 85);

ALTER TABLE crieur.platform
    ADD COLUMN post_limit int CHECK (post_limit > 0),
    ADD COLUMN post_window interval CHECK (post_window > interval '0'),
    ADD COLUMN app_limit int CHECK (app_limit > 0),
    ADD COLUMN app_window interval CHECK (app_window > interval '0');
COMMENT ON COLUMN crieur.platform.post_limit IS
    'publications per account per post_window, as the platform publishes it (the broker''s per-account token bucket)';
COMMENT ON COLUMN crieur.platform.app_limit IS
    'calls of the whole application (all accounts) per app_window (the broker''s per-platform token bucket)';
-- Sources: shared/docs/platform-apis.md, from the platforms' documentation.
UPDATE crieur.platform SET post_limit = 300, post_window = '3 hours' WHERE name = 'mastodon';
UPDATE crieur.platform SET post_limit = 100, post_window = '15 minutes',
                           app_limit = 10000, app_window = '24 hours' WHERE name = 'x';
-- 5,000 write points per hour, a post costs 3
UPDATE crieur.platform SET post_limit = 1666, post_window = '1 hour' WHERE name = 'bluesky';
UPDATE crieur.platform SET post_limit = 150, post_window = '24 hours',
                           app_limit = 100000, app_window = '24 hours' WHERE name = 'linkedin';
UPDATE crieur.platform SET post_limit = 50, post_window = '24 hours' WHERE name = 'instagram';
UPDATE crieur.platform SET post_limit = 250, post_window = '24 hours' WHERE name = 'threads';
-- Graph: 4,800 calls per hour per page in the sandbox's model; a post is one or two calls
UPDATE crieur.platform SET post_limit = 2400, post_window = '1 hour' WHERE name = 'facebook';

-- Unique keys are partial now: the conflict target says so.
CREATE OR REPLACE FUNCTION crieur.alert_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crieur.job (kind, ref_id, client_id, channel_id, run_at, unique_key)
    SELECT 'alert', NEW.id, NEW.client_id, ch.id, now(), format('alert:%s:%s', NEW.id, ch.id)
    FROM crieur.alert_channel ch
    WHERE ch.enabled AND (ch.client_id IS NULL OR ch.client_id = NEW.client_id)
      AND crieur.severity_rank(NEW.severity) >= crieur.severity_rank(ch.min_severity)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING;
    IF FOUND THEN
        PERFORM pg_notify('crieur_jobs', '');
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION crieur.schedule_refresh(p_account bigint, p_at timestamptz DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE a record; v_at timestamptz;
BEGIN
    SELECT ac.id, ac.client_id, ac.token_expires_at, ac.credentials, ac.refresh_credentials,
           pl.refresh_margin, pl.refresh_with
    INTO a FROM crieur.account ac JOIN crieur.platform pl ON pl.name = ac.platform
    WHERE ac.id = p_account;
    IF NOT FOUND OR a.refresh_with IS NULL OR a.credentials IS NULL
       OR (a.refresh_with = 'refresh_token' AND a.refresh_credentials IS NULL) THEN
        RETURN false;
    END IF;
    -- a margin before expiry; at half the token's remaining life when that
    -- is shorter than the margin (short-lived tokens are not refreshed in a loop)
    v_at := coalesce(p_at, greatest(a.token_expires_at - a.refresh_margin,
                                    now() + (a.token_expires_at - now()) / 2));
    IF v_at IS NULL THEN
        RETURN false;
    END IF;
    INSERT INTO crieur.job (kind, client_id, account_id, run_at, unique_key)
    VALUES ('token_refresh', a.client_id, a.id, greatest(v_at, now()), 'token_refresh:' || a.id)
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL
    DO UPDATE SET run_at = least(crieur.job.run_at, excluded.run_at)
        WHERE crieur.job.state = 'scheduled';
    PERFORM pg_notify('crieur_jobs', '');
    RETURN true;
END $$;

-- One round trip of a broker (see 006 for what each outcome does; the logic
-- is the same, the results come as arrays). Returns the claimed jobs, then
-- one summary row (job_id NULL) with the next due time after the look-ahead
-- window and the counts of applied and stale (fenced-out) results.
--   p_r*: the results' fields: j job, a attempt, o outcome, h http status,
--     p platform id, u url, e error, c error code, r retry at (unix ms),
--     w worker, d dispatched, s started, f finished (unix ms), rc found by
--     reading back, and for a token refresh ta/tr the new access/refresh
--     tokens sealed by the broker (hex), te their expiry (ms), k the key id.
--   p_seal: plaintext credentials to seal (see 006).
--   p_blocked: accounts whose jobs are not claimed now (rate limit spent).
CREATE FUNCTION crieur.broker_cycle_arrays(
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
SET enable_hashjoin = off SET enable_mergejoin = off
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
            -- were leased, the planner scanned every leased job once per result)
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
            DELETE FROM crieur.job jb USING f WHERE jb.id = f.j AND f.action IN ('final', 'dead')
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
            FROM f WHERE jb.id = f.j AND f.action IN ('retry', 'defer', 'auth', 'release')
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
        WITH live AS (
            SELECT coalesce(array_agg(substr(a.application_name, 15)), '{}') AS owners
            FROM pg_stat_activity a WHERE a.application_name LIKE 'crieur-broker:%'
        ), exp AS (
            SELECT jb.id, jb.lease_owner FROM crieur.job jb, live
            WHERE jb.state = 'leased' AND jb.lease_owner <> p_owner
              AND (jb.lease_expires_at < now() OR jb.lease_owner <> ALL (live.owners))
            FOR UPDATE OF jb SKIP LOCKED
        ), rel AS (
            UPDATE crieur.job jb SET state = 'scheduled', lease_owner = NULL, lease_expires_at = NULL,
                   errors = jb.errors + 1, needs_reconcile = true,
                   last_error = 'broker lost (lease expired or session gone)',
                   run_at = CASE WHEN coalesce((SELECT pl.idempotent FROM crieur.account ac
                                               JOIN crieur.platform pl ON pl.name = ac.platform
                                               WHERE ac.id = jb.account_id), true)
                                 THEN greatest(jb.run_at, now())
                                 ELSE now() + make_interval(secs => p_inflight_ms / 1000.0) END
            FROM exp WHERE jb.id = exp.id
            RETURNING jb.id, jb.attempt, jb.kind, jb.ref_id, jb.account_id
        )
        -- the attempt is the lost broker's: record its name, and who took over
        INSERT INTO crieur.attempt (job_id, attempt, kind, ref_id, account_id, broker, outcome, detail)
        SELECT rel.id, rel.attempt, rel.kind, rel.ref_id, rel.account_id, exp.lease_owner, 'lost',
               format('broker %s lost (lease expired or session gone); taken over by %s',
                      exp.lease_owner, p_owner)
        FROM rel JOIN exp ON exp.id = rel.id ON CONFLICT DO NOTHING;
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
                    SELECT 1 FROM crieur.account ac WHERE ac.id = jb.account_id
                    AND (ac.status = 'active' OR (jb.kind = 'token_refresh' AND ac.status = 'refreshing'))))
              AND (jb.channel_id IS NULL OR EXISTS (
                    SELECT 1 FROM crieur.alert_channel ch WHERE ch.id = jb.channel_id AND ch.enabled))
              -- accounts whose rate limit the broker knows to be spent
              AND (p_blocked IS NULL OR jb.account_id IS NULL OR jb.account_id <> ALL (p_blocked))
            ORDER BY jb.run_at, jb.fair, jb.id
            LIMIT p_claim
            FOR UPDATE SKIP LOCKED
        ), u AS (
            UPDATE crieur.job jb SET state = 'leased', lease_owner = p_owner,
                   lease_expires_at = now() + v_lease, attempt = jb.attempt + 1
            FROM c WHERE jb.id = c.id
            RETURNING jb.id, jb.attempt, jb.kind, jb.run_at, jb.ref_id, jb.account_id, jb.client_id,
                      jb.needs_reconcile, jb.channel_id, jb.fair
        )
        SELECT u.id, u.attempt, u.kind, (extract(epoch FROM u.run_at) * 1000)::bigint, p.id, p.body, p.idempotency_key::text, p.link, p.media,
               coalesce(u.account_id, ch.id), u.client_id, coalesce(ac.platform, ch.kind),
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


-- The JSON form of the round trip, for SQL users and tests: the same
-- arguments as before 008, results as a JSON array of objects with the keys
-- j a o h p u e c r w d s f rc ta tr te k.
DROP FUNCTION crieur.broker_cycle(text, jsonb, int, int, int, bigint[], int, boolean, int, jsonb);
CREATE FUNCTION crieur.broker_cycle(p_owner text, p_results jsonb, p_claim int,
                                    p_lookahead_ms int, p_lease_ms int, p_known bigint[],
                                    p_backoff_ms int DEFAULT 2000, p_reap boolean DEFAULT false,
                                    p_inflight_ms int DEFAULT 60000, p_seal jsonb DEFAULT NULL,
                                    p_blocked bigint[] DEFAULT NULL)
RETURNS TABLE (job_id bigint, attempt int, kind text, run_at_ms bigint, post_id bigint,
               body text, idempotency_key text, link text, media text[], account_id bigint,
               client_id bigint, platform text, handle text, api_base text, token text,
               next_due_ms bigint, applied int, stale int, reconcile boolean,
               scheduled_ms bigint, token_key text, refresh_token text, token_expires_ms bigint,
               in_reply_to text, alert_id bigint, alert_severity text, alert_kind text,
               alert_subject text, alert_text text, client_name text, alert_created_ms bigint,
               mail_from text, smtp_user text)
LANGUAGE sql AS $$
    SELECT c.* FROM (
        SELECT array_agg(x.j) j, array_agg(x.a) a, array_agg(x.o) o, array_agg(x.h) h,
               array_agg(x.p) p, array_agg(x.u) u, array_agg(x.e) e, array_agg(x.c) c,
               array_agg(x.r) r, array_agg(x.w) w, array_agg(x.d) d, array_agg(x.s) s,
               array_agg(x.f) f, array_agg(x.rc) rc, array_agg(x.ta) ta, array_agg(x.tr) tr,
               array_agg(x.te) te, array_agg(x.k) k
        FROM jsonb_to_recordset(coalesce(p_results, '[]')) AS x(j bigint, a int, o text, h int,
             p text, u text, e text, c text, r bigint, w text, d bigint, s bigint, f bigint,
             rc boolean, ta text, tr text, te bigint, k text)) x,
    LATERAL crieur.broker_cycle_arrays(p_owner, x.j, x.a, x.o, x.h, x.p, x.u, x.e, x.c, x.r, x.w,
                                       x.d, x.s, x.f, x.rc, x.ta, x.tr, x.te, x.k, p_claim,
                                       p_lookahead_ms, p_lease_ms, p_known, p_backoff_ms, p_reap,
                                       p_inflight_ms, p_seal, p_blocked) c
$$;
