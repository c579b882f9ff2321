/* Unit tests of the sandbox's building blocks (no server, no network). */
#include "sb_accounts.h"
#include "sb_buf.h"
#include "sb_faults.h"
#include "sb_ledger.h"
#include "sb_map.h"
#include "sb_params.h"
#include "sb_ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_failed;
static int s_passed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond)                                                                                  \
            s_passed++;                                                                            \
        else {                                                                                     \
            s_failed++;                                                                            \
            fprintf (stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);             \
        }                                                                                          \
    } while (0)
#define CHECK_STR(a, b) CHECK (s_streq ((a), (b)))

static int
s_streq (const char *a, const char *b)
{
    return a && b && strcmp (a, b) == 0;
}

static void
test_buf (void)
{
    sb_buf_t b;
    sb_buf_init (&b);
    sb_buf_add_json_str (&b, "a\"b\\c\n\x01é");
    CHECK_STR (b.data, "\"a\\\"b\\\\c\\n\\u0001é\"");
    sb_buf_reset (&b);
    sb_buf_add_json_str (&b, NULL);
    CHECK_STR (b.data, "null");
    sb_buf_reset (&b);
    sb_buf_add_html (&b, "<a href='x'>&\"</a>", 18);
    CHECK_STR (b.data, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
    sb_buf_reset (&b);
    sb_buf_add_u64 (&b, 0);
    sb_buf_add_u64 (&b, 18446744073709551615ull);
    CHECK_STR (b.data, "018446744073709551615");
    sb_buf_reset (&b);
    for (int i = 0; i < 10000; i++)
        sb_buf_printf (&b, "%d,", i);
    CHECK (b.len == 48890 && sb_buf_ok (&b));
    size_t len = 0;
    char *stolen = sb_buf_steal (&b, &len);
    CHECK (stolen && len == 48890 && b.data == NULL);
    free (stolen);
    sb_buf_free (&b);
    sb_buf_free (&b);   /* safe twice */

    CHECK (sb_utf8_valid ("héllo €𝄞", strlen ("héllo €𝄞")));
    CHECK (!sb_utf8_valid ("\xff", 1));
    CHECK (!sb_utf8_valid ("\xc3", 1));            /* truncated */
    CHECK (!sb_utf8_valid ("\xc0\xaf", 2));        /* overlong */
    CHECK (!sb_utf8_valid ("\xed\xa0\x80", 3));    /* surrogate */
    CHECK (!sb_utf8_valid ("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK (sb_utf8_count ("é€𝄞a", strlen ("é€𝄞a")) == 4);

    char enc[] = "a+b%20c%2Fd%zz%4";
    size_t n = sb_url_decode (enc, strlen (enc));
    CHECK (n == strlen ("a b c/d%zz%4") && memcmp (enc, "a b c/d%zz%4", n) == 0);

    int64_t v;
    CHECK (sb_parse_i64 ("42", 0, 100, &v) == 0 && v == 42);
    CHECK (sb_parse_i64 ("101", 0, 100, &v) != 0);
    CHECK (sb_parse_i64 ("4x", 0, 100, &v) != 0);
    CHECK (sb_parse_i64 ("", 0, 100, &v) != 0);
    CHECK (sb_parse_i64 ("99999999999999999999", INT64_MIN, INT64_MAX, &v) != 0);
    uint64_t u;
    CHECK (sb_parse_u64 ("-1", &u) != 0);
    CHECK (sb_parse_u64 ("117659164366143488", &u) == 0 && u == 117659164366143488ull);

    char when[40];
    sb_format_time (1795347170333975ull, 6, when, sizeof (when));
    CHECK_STR (when, "2026-11-22T11:32:50.333975Z");
    sb_format_time (1795347170333975ull, 3, when, sizeof (when));
    CHECK_STR (when, "2026-11-22T11:32:50.333Z");
}

static void
test_map (void)
{
    sb_map_t *m = sb_map_new (free);
    CHECK (m != NULL);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf (key, sizeof (key), "k%d", i);
        int *value = malloc (sizeof (int));
        *value = i;
        CHECK (sb_map_put (m, key, value) == 0);
    }
    CHECK (sb_map_size (m) == 5000);
    CHECK (*(int *) sb_map_get (m, "k4321") == 4321);
    CHECK (sb_map_get (m, "nope") == NULL);
    CHECK (sb_map_delete (m, "k1"));
    CHECK (!sb_map_delete (m, "k1"));
    CHECK (sb_map_size (m) == 4999);
    sb_map_destroy (&m);
    CHECK (m == NULL);
    sb_map_destroy (&m);
}

static void
test_ratelimit (void)
{
    sb_ratelimit_t *r = sb_ratelimit_new ();
    sb_rate_t rate;
    uint64_t t0 = 1795347170333975ull;   /* 11:32:50.333975 */
    /* first-hit window: 3 per 60 s, only accepted ones count */
    for (int i = 0; i < 3; i++) {
        sb_ratelimit_hit (r, "s", 3, 60, SB_WINDOW_FIRST_HIT, t0 + (uint64_t) i, 0, &rate);
        CHECK (rate.allowed);
        sb_ratelimit_hit (r, "s", 3, 60, SB_WINDOW_FIRST_HIT, t0 + (uint64_t) i, 1, &rate);
        CHECK (rate.remaining == 2 - i);
        CHECK (rate.reset_us == t0 + 60000000ull);
    }
    sb_ratelimit_hit (r, "s", 3, 60, SB_WINDOW_FIRST_HIT, t0 + 5, 0, &rate);
    CHECK (!rate.allowed && rate.remaining == 0);
    sb_ratelimit_hit (r, "s", 3, 60, SB_WINDOW_FIRST_HIT, t0 + 60000000ull, 0, &rate);
    CHECK (rate.allowed && rate.remaining == 3);   /* window over */
    /* aligned window: 2 per 300 s, refused hits count too */
    sb_ratelimit_hit (r, "a", 2, 300, SB_WINDOW_ALIGNED, t0, 1, &rate);
    CHECK (rate.allowed && rate.remaining == 1);
    /* 11:32:50 -> window ends 11:35:00, Mastodon keeps now's fraction */
    char when[40];
    sb_format_time (rate.reset_us, 6, when, sizeof (when));
    CHECK_STR (when, "2026-11-22T11:35:00.333975Z");
    sb_ratelimit_hit (r, "a", 2, 300, SB_WINDOW_ALIGNED, t0, 1, &rate);
    CHECK (rate.allowed && rate.remaining == 0);
    sb_ratelimit_hit (r, "a", 2, 300, SB_WINDOW_ALIGNED, t0, 1, &rate);
    CHECK (!rate.allowed && rate.remaining == 0);
    sb_ratelimit_hit (r, "a", 2, 300, SB_WINDOW_ALIGNED, t0 + 130000000ull, 1, &rate);
    CHECK (rate.allowed && rate.remaining == 1);   /* 11:35:00.33: new window */
    sb_ratelimit_destroy (&r);
    sb_ratelimit_destroy (&r);
}

static void
test_faults (void)
{
    char err[256];
    sb_fault_hit_t hit;
    sb_faults_t *f = sb_faults_new (42);
    CHECK (sb_faults_add_str (f, "{\"platform\":\"mastodon\",\"status\":500,\"count\":2,"
                                 "\"account\":\"alice\"}", err, sizeof (err)) == 1);
    CHECK (!sb_faults_match (f, "mastodon", "bob", "POST", "/x", &hit));
    CHECK (!sb_faults_match (f, "bluesky", "alice", "POST", "/x", &hit));
    CHECK (sb_faults_match (f, "mastodon", "alice", "POST", "/x", &hit));
    CHECK (hit.mode == SB_FAULT_ERROR && hit.status == 500 && hit.rule_id == 1);
    CHECK (sb_faults_match (f, "mastodon", "alice", "POST", "/x", &hit));
    CHECK (!sb_faults_match (f, "mastodon", "alice", "POST", "/x", &hit));   /* exhausted */
    CHECK (sb_faults_add_str (f, "{\"status\":500,\"cnt\":1}", err, sizeof (err)) < 0);
    CHECK (strstr (err, "cnt") != NULL);
    CHECK (sb_faults_add_str (f, "{\"mode\":\"explode\"}", err, sizeof (err)) < 0);
    CHECK (sb_faults_add_str (f, "{\"mode\":\"error\"}", err, sizeof (err)) < 0);
    CHECK (sb_faults_add_str (f, "{\"rate\":1.5,\"status\":500}", err, sizeof (err)) < 0);
    CHECK (sb_faults_add_str (f, "[1,2", err, sizeof (err)) < 0);
    CHECK (sb_faults_add_str (f, "{\"latency_ms\":50}", err, sizeof (err)) > 0);
    CHECK (sb_faults_match (f, "x", NULL, "GET", "/", &hit) && hit.mode == SB_FAULT_LATENCY
           && hit.latency_ms == 50);
    sb_faults_clear (f);
    /* rate is deterministic for a seed */
    int first = 0, second = 0;
    for (int run = 0; run < 2; run++) {
        sb_faults_t *g = sb_faults_new (7);
        sb_faults_add_str (g, "{\"mode\":\"drop\",\"rate\":0.3,\"path\":\"/statuses\"}", err,
                           sizeof (err));
        int hits = 0;
        for (int i = 0; i < 1000; i++)
            hits += sb_faults_match (g, "m", NULL, "POST", "/api/v1/statuses", &hit);
        CHECK (!sb_faults_match (g, "m", NULL, "POST", "/api/v1/media", &hit));
        *(run ? &second : &first) = hits;
        sb_faults_destroy (&g);
    }
    CHECK (first == second && first > 230 && first < 370);
    sb_faults_destroy (&f);
    sb_faults_destroy (&f);
}

static void
test_params (void)
{
    sb_params_t p;
    memset (&p, 0, sizeof (p));
    const char *body = "status=Hello+w%C3%B6rld%21&media_ids%5B%5D=1&media_ids[]=2&flag&=x&empty=";
    CHECK (sb_params_parse_form (&p, body, strlen (body)) == 0);
    size_t len = 0;
    CHECK_STR (sb_params_get (&p, "status", &len), "Hello wörld!");
    CHECK (len == strlen ("Hello wörld!"));
    const char *ids[8];
    CHECK (sb_params_all (&p, "media_ids[]", ids, 8) == 2);
    CHECK_STR (ids[1], "2");
    CHECK_STR (sb_params_get (&p, "flag", NULL), "");
    CHECK_STR (sb_params_get (&p, "empty", NULL), "");
    CHECK (sb_params_get (&p, "missing", NULL) == NULL);
    sb_params_free (&p);
    /* more pairs than the limit: extra ones are ignored, nothing breaks */
    sb_buf_t many;
    sb_buf_init (&many);
    for (int i = 0; i < 500; i++)
        sb_buf_printf (&many, "k%d=v&", i);
    memset (&p, 0, sizeof (p));
    CHECK (sb_params_parse_form (&p, many.data, many.len) == 0 && p.n == SB_MAX_PARAMS);
    sb_params_free (&p);
    sb_buf_free (&many);
}

static void
test_ledger_accounts (void)
{
    sb_ledger_t *l = sb_ledger_new (NULL);
    for (int i = 0; i < 3; i++) {
        sb_ledger_entry_t e = { .created_us = 1795347170333975ull,
                                .platform = "mastodon",
                                .account = i == 1 ? "bob" : "alice",
                                .id = "1",
                                .url = "u",
                                .text = "t\"x",
                                .idempotency_key = i == 2 ? "k" : NULL };
        CHECK (sb_ledger_append (l, &e) == (uint64_t) i + 1);
    }
    sb_buf_t out;
    sb_buf_init (&out);
    sb_ledger_dump (l, &out, NULL, "alice", 1);
    CHECK (strstr (out.data, "\"count\":1}") && strstr (out.data, "\"seq\":3")
           && strstr (out.data, "\"idempotency_key\":\"k\"") && strstr (out.data, "t\\\"x"));
    sb_buf_reset (&out);
    sb_ledger_dump (l, &out, NULL, NULL, 99);
    CHECK_STR (out.data, "{\"entries\":[],\"count\":0}");
    sb_buf_free (&out);
    sb_ledger_clear (l);
    CHECK (sb_ledger_count (l) == 0);
    sb_ledger_destroy (&l);
    sb_ledger_destroy (&l);

    sb_accounts_t *a = sb_accounts_new ();
    char handle[SB_HANDLE_MAX];
    sb_accounts_open_handle ("Abc-123_xyz!9", handle, sizeof (handle));
    CHECK_STR (handle, "userabc123xyz983349f6c");
    char other[SB_HANDLE_MAX];
    sb_accounts_open_handle ("Abc-123_xyz!8", other, sizeof (other));
    CHECK (strncmp (other, "userabc123xyz8", 14) == 0 && strcmp (handle, other) != 0);
    sb_accounts_open_handle ("!!!", handle, sizeof (handle));
    CHECK (strlen (handle) == 12 && strncmp (handle, "user", 4) == 0);
    sb_accounts_open_handle ("tok-acct-1", handle, sizeof (handle));
    sb_accounts_open_handle ("tok-acct-2", other, sizeof (other));
    CHECK (strcmp (handle, other) != 0);   /* same first 8 characters, two accounts */
    CHECK (sb_accounts_handle_valid ("alice_1"));
    CHECK (!sb_accounts_handle_valid ("al ice"));
    CHECK (!sb_accounts_handle_valid (""));
    sb_account_t *alice = sb_accounts_ensure (a, "mastodon", "alice", 10, 0);
    CHECK (alice && sb_accounts_ensure (a, "mastodon", "alice", 11, 0) == alice);
    CHECK (sb_accounts_add_token (a, alice, "t1") == 0);
    CHECK (sb_accounts_by_token (a, "mastodon", "t1") == alice);
    CHECK (sb_accounts_by_token (a, "bluesky", "t1") == NULL);
    CHECK (sb_accounts_find_id (a, 10) == alice);
    CHECK (sb_accounts_revoke (a, "t1") == 1);
    CHECK (sb_accounts_by_token (a, "mastodon", "t1") == NULL && sb_accounts_revoked (a, "t1"));
    CHECK (sb_accounts_add_token (a, alice, "t1") == 0 && !sb_accounts_revoked (a, "t1"));
    sb_accounts_destroy (&a);
    sb_accounts_destroy (&a);
}

/* Token expiry and refresh tokens (sb_oauth.c builds on these). */
static void
test_token_lifetimes (void)
{
    sb_accounts_t *a = sb_accounts_new ();
    sb_account_t *acme = sb_accounts_ensure (a, "x", "acme", 1, 0);
    sb_account_t *other = sb_accounts_ensure (a, "linkedin", "acme", 2, 0);
    CHECK (acme && other && sb_accounts_add_token (a, acme, "t1") == 0);
    CHECK (sb_accounts_expiry (a, "x", "t1") == 0 && !sb_accounts_expired (a, "x", "t1", 1u << 30));
    CHECK (sb_accounts_set_expiry (a, "x", "nosuch", 5) == -1);   /* only bound tokens */
    CHECK (sb_accounts_set_expiry (a, "x", "t1", 1000) == 0);
    CHECK (!sb_accounts_expired (a, "x", "t1", 999) && sb_accounts_expired (a, "x", "t1", 1000));
    CHECK (!sb_accounts_expired (a, "linkedin", "t1", 5000));   /* per platform */
    CHECK (sb_accounts_add_token (a, acme, "t1") == 0 && sb_accounts_expiry (a, "x", "t1") == 0);
    CHECK (sb_accounts_set_expiry (a, "x", "t1", 1000) == 0
           && sb_accounts_set_expiry (a, "x", "t1", 0) == 0
           && sb_accounts_expiry (a, "x", "t1") == 0);

    uint64_t exp = 1;
    CHECK (sb_accounts_add_refresh (a, acme, "r1", 0) == 0);
    CHECK (sb_accounts_by_refresh (a, "x", "r1", &exp) == acme && exp == 0);
    CHECK (sb_accounts_by_refresh (a, "linkedin", "r1", NULL) == NULL);
    CHECK (sb_accounts_add_refresh (a, other, "r2", 77) == 0);
    CHECK (sb_accounts_by_refresh (a, "linkedin", "r2", &exp) == other && exp == 77);
    sb_accounts_drop_refresh (a, "x", "r1");
    CHECK (sb_accounts_by_refresh (a, "x", "r1", NULL) == NULL);
    CHECK (sb_accounts_revoke (a, "r2") == 1
           && sb_accounts_by_refresh (a, "linkedin", "r2", NULL) == NULL);
    CHECK (sb_accounts_add_refresh (a, other, "r2", 0) == 0
           && sb_accounts_by_refresh (a, "linkedin", "r2", NULL) == other);   /* bound again */

    CHECK (sb_accounts_refreshes (a, "x") == 0);
    sb_accounts_count_refresh (a, "x");
    sb_accounts_count_refresh (a, "x");
    sb_accounts_count_refresh (a, "threads");
    CHECK (sb_accounts_refreshes (a, "x") == 2 && sb_accounts_refreshes (a, "threads") == 1);
    sb_accounts_clear (a);
    CHECK (sb_accounts_refreshes (a, "x") == 0
           && sb_accounts_by_refresh (a, "linkedin", "r2", NULL) == NULL);
    sb_accounts_destroy (&a);
}

int
main (void)
{
    test_buf ();
    test_map ();
    test_ratelimit ();
    test_faults ();
    test_params ();
    test_ledger_accounts ();
    test_token_lifetimes ();
    printf ("%d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}
