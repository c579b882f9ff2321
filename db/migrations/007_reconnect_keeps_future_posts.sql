-- 007_reconnect_keeps_future_posts: reconnecting or resuming an account
-- lets its waiting posts go, and only those.
--
-- In 006, crieur.set_account_credentials and crieur.resume_account moved
-- every scheduled publish job of the account to now(): a post scheduled for
-- next month was published at once when its account was reconnected. The
-- posts waiting for the account are the ones whose own time has come (their
-- job may have been parked a few minutes ahead by a refused token, or be
-- waiting with a time already past); the others keep their time.

CREATE OR REPLACE FUNCTION crieur.release_waiting_posts(p_account bigint) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE n int;
BEGIN
    UPDATE crieur.job j SET run_at = now()
    FROM crieur.post p
    WHERE j.account_id = p_account AND j.kind = 'publish' AND j.state = 'scheduled'
      AND j.run_at > now() AND p.id = j.ref_id AND p.scheduled_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_notify('crieur_jobs', '');
    RETURN n;
END $$;

-- Reconnects an account: new sealed credentials, active again; its waiting
-- posts become due at once (those still within their late tolerance).
CREATE OR REPLACE FUNCTION crieur.set_account_credentials(p_account bigint, p_sealed bytea, p_key text,
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
    PERFORM crieur.release_waiting_posts(p_account);
END $$;

-- Resumes a paused account without new credentials.
CREATE OR REPLACE FUNCTION crieur.resume_account(p_account bigint) RETURNS void LANGUAGE plpgsql AS $$
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
    PERFORM crieur.release_waiting_posts(p_account);
END $$;
