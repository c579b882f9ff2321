-- 005_text_rules: the database counts a text the way its platform does:
-- X weighs it (a link 23, an emoji or a CJK character 2), Bluesky counts
-- graphemes (an emoji sequence, a flag, a letter with its accents: one).
-- crieurctl applies the exact rules before calling; this is the same rule
-- for applications that call the SQL interface directly, and it never
-- refuses what crieurctl accepts (where the two differ, it is more lenient).

ALTER TABLE crieur.platform ADD COLUMN count_rule text NOT NULL DEFAULT 'codepoints'
    CHECK (count_rule IN ('codepoints', 'x_weighted', 'graphemes'));
UPDATE crieur.platform SET count_rule = 'x_weighted' WHERE name = 'x';
UPDATE crieur.platform SET count_rule = 'graphemes' WHERE name = 'bluesky';

CREATE FUNCTION crieur.platform_text_length(p_body text, p_url_chars int, p_rule text)
RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    t text := p_body;
    -- one emoji with its modifiers, joined (ZWJ) to the next ones; or a flag
    emoji constant text := '[\U0001F1E6-\U0001F1FF]{2}|[\U0001F000-\U0001FAFF\u2600-\u27BF][\U0001F3FB-\U0001F3FF\uFE0F]*(\u200D[\U0001F000-\U0001FAFF\u2600-\u27BF][\U0001F3FB-\U0001F3FF\uFE0F]*)*';
    -- marks that never count on their own
    extenders constant text := '[\u0300-\u036F\uFE00-\uFE0F\u20E3\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F\u200D]';
    cjk constant text := '[\u1100-\u11FF\u2E80-\u2FDF\u2FF0-\u9FFF\uAC00-\uD7A3\uF900-\uFAFF\uFF00-\uFFEF]';
BEGIN
    IF p_url_chars IS NOT NULL THEN
        t := regexp_replace(t, 'https?://[^\s]+', repeat('x', p_url_chars), 'g');
    END IF;
    IF p_rule = 'x_weighted' THEN
        t := regexp_replace(t, emoji, 'EE', 'g');
        t := regexp_replace(t, cjk, 'CC', 'g');
        t := regexp_replace(t, extenders, '', 'g');
    ELSIF p_rule = 'graphemes' THEN
        t := regexp_replace(t, emoji, 'E', 'g');
        t := regexp_replace(t, extenders, '', 'g');
        t := replace(t, E'\r\n', E'\n');
    END IF;
    RETURN char_length(t);
END $$;

CREATE OR REPLACE FUNCTION crieur.schedule_post(p_account bigint, p_body text, p_at timestamptz,
                                     p_campaign text DEFAULT NULL, p_kind text DEFAULT 'editorial',
                                     p_link text DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    a record; v_post bigint; v_len int; v_max int;
BEGIN
    SELECT ac.*, pl.max_chars AS platform_max, pl.url_chars, pl.count_rule INTO a
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
    v_len := crieur.platform_text_length(CASE WHEN p_link IS NOT NULL AND p_link <> '' AND strpos(p_body, p_link) = 0
                                              THEN p_body || E'\n\n' || p_link ELSE p_body END,
                                         a.url_chars, a.count_rule);
    IF v_len > v_max THEN
        RAISE EXCEPTION 'post text is % characters long; % allows at most %', v_len, a.platform, v_max
            USING ERRCODE = 'string_data_right_truncation',
                  HINT = CASE a.count_rule
                             WHEN 'x_weighted' THEN 'each link counts 23, each emoji or CJK character 2'
                             WHEN 'graphemes' THEN 'an emoji sequence, a flag or a letter with its accents counts 1'
                             ELSE CASE WHEN a.url_chars IS NOT NULL
                                       THEN format('each link counts as %s characters', a.url_chars)
                                       ELSE 'shorten the text' END END;
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
