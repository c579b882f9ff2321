-- 004_platforms: the networks agencies use besides Mastodon and X.
-- max_chars is the platform's published text limit (platform-apis.md);
-- Bluesky counts graphemes and X weights characters: the exact counts are
-- checked by crieurctl's text rules; this table keeps the plain limits.
-- idempotent: Bluesky records take a record key derived from the post, so a
-- retry cannot create a second record; the Graph APIs and LinkedIn have no
-- idempotency and are reconciled by reading back.
INSERT INTO crieur.platform (name, max_chars, url_chars, idempotent) VALUES
    ('bluesky', 300, NULL, true),
    ('facebook', 63206, NULL, false),
    ('instagram', 2200, NULL, false),
    ('linkedin', 3000, NULL, false),
    ('threads', 500, NULL, false);
