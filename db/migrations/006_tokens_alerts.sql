-- 006_tokens_alerts: credentials sealed at rest, token refresh jobs, replies,
-- and alerts delivered to channels (Slack-compatible webhooks, e-mail).
--
-- Credentials. account.credentials (the access token) and
-- account.refresh_credentials are sealed by crieurctl and the brokers with
-- libsodium's secretbox under the agency's secret key (lib/cr_secret.h);
-- credentials_key names the key (its id, not the key). PostgreSQL never sees
-- a key. A row with credentials_key NULL holds a plaintext token written
-- through the SQL interface (crieur.add_account): the first broker that
-- claims a job of that account seals it (broker_cycle's p_seal).
--
-- Token refresh. A platform whose tokens expire and can be renewed has a
-- refresh_margin: a token_refresh job runs that long before the token
-- expires, and at once when a publication meets an expired token. While it
-- runs after an auth error the account is 'refreshing' and its posts wait
-- (they are not claimed); a refresh that fails for good pauses the account
-- ('auth_failed') and raises a critical alert; its posts keep waiting until a
-- human reconnects it (crieurctl account token).

ALTER TABLE crieur.account ADD COLUMN credentials_key text;
ALTER TABLE crieur.account ADD COLUMN refresh_credentials bytea;
ALTER TABLE crieur.account DROP CONSTRAINT account_status_check;
ALTER TABLE crieur.account ADD CONSTRAINT account_status_check
    CHECK (status IN ('active', 'refreshing', 'paused', 'auth_failed', 'disabled'));

-- refresh_with: what a refresh spends: the refresh token (X, LinkedIn) or
-- the access token itself (Threads); NULL: the platform cannot refresh.
ALTER TABLE crieur.platform ADD COLUMN refresh_margin interval;
ALTER TABLE crieur.platform ADD COLUMN refresh_with text
    CHECK (refresh_with IN ('refresh_token', 'access_token'));
UPDATE crieur.platform SET refresh_margin = '15 minutes', refresh_with = 'refresh_token' WHERE name = 'x';
UPDATE crieur.platform SET refresh_margin = '7 days', refresh_with = 'access_token' WHERE name = 'threads';
UPDATE crieur.platform SET refresh_margin = '7 days', refresh_with = 'refresh_token' WHERE name = 'linkedin';

-- A reply: the platform id of the post it answers.
ALTER TABLE crieur.post ADD COLUMN in_reply_to text CHECK (length(in_reply_to) <= 2048);

-- Alert channels: where alerts go. client_id NULL: the agency's own channel
-- (every client's alerts). secret is sealed like credentials: the webhook
-- URL (a secret: whoever has it can post) or the SMTP password.
CREATE TABLE crieur.alert_channel (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    client_id    bigint REFERENCES crieur.client (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('webhook', 'email')),
    recipient    text CHECK (recipient ~ '^[^@\s<>",]+@[^@\s<>",]+$'),
    smtp_url     text CHECK (smtp_url ~ '^smtps?://[^/\s]+$'),
    mail_from    text CHECK (mail_from ~ '^[^@\s<>",]+@[^@\s<>",]+$'),
    smtp_user    text,
    secret       bytea,
    secret_key   text,
    min_severity text NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('info', 'warning', 'critical')),
    enabled      boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'webhook' OR secret IS NOT NULL),
    CHECK (kind <> 'email' OR (recipient IS NOT NULL AND smtp_url IS NOT NULL AND mail_from IS NOT NULL))
);

ALTER TABLE crieur.job ADD COLUMN channel_id bigint;
ALTER TABLE crieur.alert ADD COLUMN delivered_at timestamptz;
ALTER TABLE crieur.alert ADD COLUMN delivery_error text;

CREATE FUNCTION crieur.severity_rank(p text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p WHEN 'info' THEN 0 WHEN 'warning' THEN 1 WHEN 'critical' THEN 2 END
$$;

-- Every new alert is delivered to the enabled channels of its client and
-- of the agency whose threshold it reaches: one alert job per channel.
CREATE FUNCTION crieur.alert_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crieur.job (kind, ref_id, client_id, channel_id, run_at, unique_key)
    SELECT 'alert', NEW.id, NEW.client_id, ch.id, now(), format('alert:%s:%s', NEW.id, ch.id)
    FROM crieur.alert_channel ch
    WHERE ch.enabled AND (ch.client_id IS NULL OR ch.client_id = NEW.client_id)
      AND crieur.severity_rank(NEW.severity) >= crieur.severity_rank(ch.min_severity)
    ON CONFLICT (unique_key) DO NOTHING;
    IF FOUND THEN
        PERFORM pg_notify('crieur_jobs', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER alert_fanout AFTER INSERT ON crieur.alert
    FOR EACH ROW EXECUTE FUNCTION crieur.alert_fanout();

-- Creates (or brings forward) the account's token_refresh job: at p_at, or
-- refresh_margin before the token expires. Nothing for a platform that
-- cannot refresh, or without what its refresh spends.
CREATE FUNCTION crieur.schedule_refresh(p_account bigint, p_at timestamptz DEFAULT NULL)
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
    ON CONFLICT (unique_key) DO UPDATE SET run_at = least(crieur.job.run_at, excluded.run_at)
        WHERE crieur.job.state = 'scheduled';
    PERFORM pg_notify('crieur_jobs', '');
    RETURN true;
END $$;

-- Adds an account whose credentials crieurctl sealed. p_refresh may be NULL;
-- p_expires is when the access token expires (NULL: it does not, or unknown).
CREATE FUNCTION crieur.add_account_sealed(p_client text, p_platform text, p_handle text,
                                          p_api_base text, p_sealed bytea, p_key text,
                                          p_max_chars int DEFAULT NULL, p_refresh bytea DEFAULT NULL,
                                          p_expires timestamptz DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
    IF p_sealed IS NULL OR p_key IS NULL OR p_key !~ '^[0-9a-f]{16}$' THEN
        RAISE EXCEPTION 'sealed credentials and their key id are required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the checks and the insert of add_account, with a placeholder token
    v := crieur.add_account(p_client, p_platform, p_handle, p_api_base, 'sealed', p_max_chars);
    UPDATE crieur.account SET credentials = p_sealed, credentials_key = p_key,
           refresh_credentials = p_refresh, token_expires_at = p_expires
    WHERE id = v;
    PERFORM crieur.schedule_refresh(v);
    RETURN v;
END $$;

-- Reconnects an account: new sealed credentials, active again; its waiting
-- posts become due at once (those still within their late tolerance).
CREATE FUNCTION crieur.set_account_credentials(p_account bigint, p_sealed bytea, p_key text,
                                               p_refresh bytea DEFAULT NULL,
                                               p_expires timestamptz DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_sealed IS NULL OR p_key IS NULL OR p_key !~ '^[0-9a-f]{16}$' THEN
        RAISE EXCEPTION 'sealed credentials and their key id are required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE crieur.account SET credentials = p_sealed, credentials_key = p_key,
           refresh_credentials = p_refresh, token_expires_at = p_expires,
           status = CASE WHEN status = 'disabled' THEN status ELSE 'active' END, status_reason = NULL
    WHERE id = p_account;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown account %', p_account
            USING ERRCODE = 'no_data_found', HINT = 'list accounts with: crieurctl account list';
    END IF;
    DELETE FROM crieur.job WHERE unique_key = 'token_refresh:' || p_account AND state = 'scheduled';
    PERFORM crieur.schedule_refresh(p_account);
    UPDATE crieur.job SET run_at = least(run_at, now())
    WHERE account_id = p_account AND kind = 'publish' AND state = 'scheduled';
    PERFORM pg_notify('crieur_jobs', '');
END $$;

-- Resumes a paused account without new credentials.
CREATE FUNCTION crieur.resume_account(p_account bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE crieur.account SET status = 'active', status_reason = NULL
    WHERE id = p_account AND status IN ('paused', 'auth_failed', 'refreshing');
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT 1 FROM crieur.account WHERE id = p_account) THEN
            RAISE EXCEPTION 'unknown account %', p_account
                USING ERRCODE = 'no_data_found', HINT = 'list accounts with: crieurctl account list';
        END IF;
        RETURN;
    END IF;
    UPDATE crieur.job SET run_at = least(run_at, now())
    WHERE account_id = p_account AND kind = 'publish' AND state = 'scheduled';
    PERFORM pg_notify('crieur_jobs', '');
END $$;

-- Replies: schedule_post with the platform id of the post answered.
CREATE FUNCTION crieur.schedule_reply(p_account bigint, p_body text, p_at timestamptz,
                                      p_in_reply_to text, p_campaign text DEFAULT NULL,
                                      p_kind text DEFAULT 'editorial')
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
    IF p_in_reply_to IS NULL OR btrim(p_in_reply_to) = '' OR p_in_reply_to ~ '\s' THEN
        RAISE EXCEPTION 'the post replied to must be its platform id, without spaces'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v := crieur.schedule_post(p_account, p_body, p_at, p_campaign, p_kind);
    UPDATE crieur.post SET in_reply_to = p_in_reply_to WHERE id = v;
    RETURN v;
END $$;

DROP FUNCTION crieur.broker_cycle(text, jsonb, int, int, int, bigint[], int, boolean, int);

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
--    "c":error code,"r":retry at ms,"w":worker,"d":dispatched ms,"s":started ms,"f":finished ms,
--    "rc":reconciled, and for a token refresh: "ta"/"tr": the new access/refresh token sealed
--    by the broker (hex), "te": expiry ms, "k": the sealing key's id}
-- p_seal seals plaintext credentials written through the SQL interface:
--   [{"a":account,"k":key id,"p":plaintext as read (hex),"c":sealed (hex),"r":sealed refresh (hex)}]
--
-- Since 006: a token_refresh that succeeds stores the new credentials,
-- reactivates the account, lets its waiting posts go, and renews the same job
-- for the next refresh; one that fails for good pauses the account and
-- raises a critical alert. A publication refused for its token starts a
-- refresh (the account is 'refreshing', its posts wait) where the platform
-- can refresh, else pauses the account with an alert. Alert jobs record
-- their delivery on the alert.
CREATE FUNCTION crieur.broker_cycle(p_owner text, p_results jsonb, p_claim int,
                                    p_lookahead_ms int, p_lease_ms int, p_known bigint[],
                                    p_backoff_ms int DEFAULT 2000, p_reap boolean DEFAULT false,
                                    p_inflight_ms int DEFAULT 60000, p_seal jsonb DEFAULT NULL)
RETURNS TABLE (job_id bigint, attempt int, kind text, run_at_ms bigint, post_id bigint,
               body text, idempotency_key text, link text, media text[], account_id bigint,
               client_id bigint, platform text, handle text, api_base text, token text,
               next_due_ms bigint, applied int, stale int, reconcile boolean,
               scheduled_ms bigint, token_key text, refresh_token text, token_expires_ms bigint,
               in_reply_to text, alert_id bigint, alert_severity text, alert_kind text,
               alert_subject text, alert_text text, client_name text, alert_created_ms bigint,
               mail_from text, smtp_user text)
LANGUAGE plpgsql AS $$
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

    IF p_results IS NOT NULL AND jsonb_array_length(p_results) > 0 THEN
        v_total := jsonb_array_length(p_results);
        WITH r AS (
            SELECT * FROM jsonb_to_recordset(p_results) AS x(j bigint, a int, o text, h int, p text,
                   u text, e text, c text, r bigint, w text, d bigint, s bigint, f bigint, rc boolean,
                   ta text, tr text, te bigint, k text)
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
            ORDER BY jb.run_at, jb.id
            LIMIT p_claim
            FOR UPDATE SKIP LOCKED
        ), u AS (
            UPDATE crieur.job jb SET state = 'leased', lease_owner = p_owner,
                   lease_expires_at = now() + v_lease, attempt = jb.attempt + 1
            FROM c WHERE jb.id = c.id
            RETURNING jb.id, jb.attempt, jb.kind, jb.run_at, jb.ref_id, jb.account_id, jb.client_id,
                      jb.needs_reconcile, jb.channel_id
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
               format('[Crieur %s] %s%s', al.severity, replace(al.kind, '_', ' '), ' - ' || cl.name),
               al.message, cl.name, (extract(epoch FROM al.created_at) * 1000)::bigint,
               ch.mail_from, ch.smtp_user
        FROM u
        LEFT JOIN crieur.post p ON p.id = u.ref_id AND u.kind = 'publish'
        LEFT JOIN crieur.account ac ON ac.id = u.account_id
        LEFT JOIN crieur.platform pl ON pl.name = ac.platform
        LEFT JOIN crieur.alert_channel ch ON ch.id = u.channel_id AND u.kind = 'alert'
        LEFT JOIN crieur.alert al ON al.id = u.ref_id AND u.kind = 'alert'
        LEFT JOIN crieur.client cl ON cl.id = al.client_id
        ORDER BY u.run_at, u.id;
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
