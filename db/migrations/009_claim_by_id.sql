-- 009_claim_by_id: the broker's cycle reaches the queue's rows by primary
-- key, whatever the planner believes about the queue's size.
--
-- crieur.broker_cycle_arrays is PL/pgSQL: each statement's plan is cached
-- in the broker's session and, after a few runs, a generic plan is kept
-- until the table's statistics change. When the queue is empty (a burst has
-- drained, and autovacuum analysed the empty table), a sequential scan of
-- crieur.job costs nothing, and the plans made then scan it: the claim's
-- UPDATE ... FROM c WHERE jb.id = c.id became a nested loop reading the
-- whole queue once per claimed job, the fence read it once per result, the
-- results' DELETE and UPDATE, the lease renewal and the reaper likewise.
-- Those plans stay while the next burst fills the queue: with 20,000 jobs
-- queued, claiming 1,000 took 1.9 s instead of 15 ms, applying their 1,000
-- results 8 s, taking over 1,000 expired leases 2 s (a 10,000-post burst
-- of bench/burst.sh was reported at 31 s instead of about 1).
--
-- Now:
-- * The claim selects and locks the due jobs into an array of ids, then
--   updates WHERE id = ANY (ids). The expired leases the reaper takes over
--   go through an array the same way (their owners too, by position), the
--   lease renewal uses p_known directly, and the results' DELETE takes the
--   ids of f as an array. None of them joins the queue with a list.
-- * The results' UPDATE needs f's values for each job, so it stays a join,
--   written jb.id = ANY (ARRAY[f.j]): not a merge-joinable equality, so the
--   planner cannot put an ordered scan of the whole job_pkey outside f.
-- * enable_seqscan is off for the function (as hash and merge joins have
--   been since 008): an array of ids alone still made a generic plan built
--   on the empty queue scan the whole queue once per claim (73 ms for 1,000
--   ids among 20,000 jobs, instead of 1 ms by job_pkey), and the fence's
--   lookup per result was a sequential scan too. The claim's selection now
--   walks job_due in order and stops at the limit instead of sorting every
--   due job.
-- Signatures and results are unchanged (the broker and crieur.broker_cycle,
-- which calls this function, need no change).

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
