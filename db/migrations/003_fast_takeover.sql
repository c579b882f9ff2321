-- 003_fast_takeover: a killed broker's jobs are taken over in about a
-- second instead of after its leases expire: brokers announce themselves in
-- pg_stat_activity, and every broker periodically releases the leases of
-- owners that have no session any more. Attempts lost on platforms without
-- idempotency are retried only after their deadline, so that reconciliation
-- sees what the lost attempt did.

DROP FUNCTION crieur.broker_cycle(text, jsonb, int, int, int, bigint[], int);

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
                                    p_backoff_ms int DEFAULT 2000, p_reap boolean DEFAULT false,
                                    p_inflight_ms int DEFAULT 60000)
RETURNS TABLE (job_id bigint, attempt int, kind text, run_at_ms bigint, post_id bigint,
               body text, idempotency_key text, link text, media text[], account_id bigint,
               client_id bigint, platform text, handle text, api_base text, token text,
               next_due_ms bigint, applied int, stale int, reconcile boolean,
               scheduled_ms bigint)
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
                   u text, e text, c text, r bigint, w text, d bigint, s bigint, f bigint, rc boolean)
        ), f0 AS (
            -- the fence: only the current attempt of a job this broker leases
            SELECT r.*, jb.kind AS jkind, jb.ref_id, jb.account_id AS acc, jb.errors, jb.max_attempts,
                   jb.needs_reconcile AS nrec,
                   CASE
                     WHEN r.o IN ('ok', 'permanent', 'cancelled', 'unconfirmed') THEN 'final'
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
        ), f AS (
            -- is the job's platform idempotent? (decides how soon a lost attempt is retried)
            SELECT f1.*, f1.action = 'dead' AND NOT f1.idem AND (f1.nrec OR f1.o = 'indeterminate') AS unknown
            FROM (SELECT f0.*, coalesce(pl.idempotent, true) AS idem, coalesce(ac.platform, f0.jkind) AS platform
                  FROM f0 LEFT JOIN crieur.account ac ON ac.id = f0.acc
                  LEFT JOIN crieur.platform pl ON pl.name = ac.platform) f1
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
        ), acc AS (
            UPDATE crieur.account ac SET status = 'auth_failed',
                   status_reason = coalesce(nullif(f.e, ''), 'the platform refused the access token')
            FROM f WHERE ac.id = f.acc AND f.action = 'auth'
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
                                    p.id, f.platform, coalesce(nullif(f.e, ''), 'no detail'))
                        ELSE format('post %s failed after %s attempts: %s', p.id, f.errors + 1, f.e) END
            FROM f JOIN crieur.post p ON p.id = f.ref_id
            WHERE f.jkind = 'publish' AND (f.o = 'unconfirmed' OR f.action = 'dead')
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
                    SELECT 1 FROM crieur.account ac WHERE ac.id = jb.account_id AND ac.status = 'active'))
            ORDER BY jb.run_at, jb.id
            LIMIT p_claim
            FOR UPDATE SKIP LOCKED
        ), u AS (
            UPDATE crieur.job jb SET state = 'leased', lease_owner = p_owner,
                   lease_expires_at = now() + v_lease, attempt = jb.attempt + 1
            FROM c WHERE jb.id = c.id
            RETURNING jb.id, jb.attempt, jb.kind, jb.run_at, jb.ref_id, jb.account_id, jb.client_id,
                      jb.needs_reconcile
        )
        SELECT u.id, u.attempt, u.kind, (extract(epoch FROM u.run_at) * 1000)::bigint, p.id, p.body, p.idempotency_key::text, p.link, p.media,
               u.account_id, u.client_id, ac.platform, ac.handle, ac.api_base,
               convert_from(ac.credentials, 'UTF8'), NULL::bigint, NULL::int, NULL::int,
               u.needs_reconcile AND NOT coalesce(pl.idempotent, true),
               (extract(epoch FROM coalesce(p.scheduled_at, u.run_at)) * 1000)::bigint
        FROM u
        LEFT JOIN crieur.post p ON p.id = u.ref_id AND u.kind = 'publish'
        LEFT JOIN crieur.account ac ON ac.id = u.account_id
        LEFT JOIN crieur.platform pl ON pl.name = ac.platform
        ORDER BY u.run_at, u.id;
    END IF;

    RETURN QUERY SELECT NULL::bigint, NULL::int, NULL::text, NULL::bigint, NULL::bigint,
        NULL::text, NULL::text, NULL::text, NULL::text[], NULL::bigint, NULL::bigint, NULL::text,
        NULL::text, NULL::text, NULL::text,
        (SELECT (extract(epoch FROM min(jb.run_at)) * 1000)::bigint FROM crieur.job jb
          WHERE jb.state = 'scheduled' AND jb.run_at > now() + make_interval(secs => p_lookahead_ms / 1000.0)),
        v_applied, v_total - v_applied, NULL::boolean, NULL::bigint;
END $$;
