/* test_ratehdr: the rate-limit headers of each platform as the runtime reads
 * them (cr_ratelimit_from_headers): Mastodon's ISO 8601 resets, X's epoch
 * seconds and binding 24-hour windows, Bluesky's RateLimit-* and its policy,
 * the Graph API's usage percentages, LinkedIn's silence; header names in any
 * case; hostile values (huge, negative, garbage, missing, truncated, NUL
 * bytes, random bytes) ignored without a crash. */
#include "cr_ratehdr.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* 2026-01-01T00:00:00Z */
#define NOW 1767225600000LL
#define NOW_S 1767225600LL

static cr_http_resp_t s_resp_n(const char *headers, size_t len)
{
    cr_http_resp_t r;
    memset(&r, 0, sizeof r);
    r.status = 200;
    r.headers = headers;
    r.headers_len = len;
    r.body = "";
    r.error = "";
    r.sent = 1;
    return r;
}

static cr_http_resp_t s_resp(const char *headers)
{
    return s_resp_n(headers, strlen(headers));
}

/* Parses headers (a header block without the status line is fine) as
 * platform and returns the window. */
static cr_rate_t s_parse(const char *platform, const char *headers)
{
    cr_http_resp_t r = s_resp(headers);
    cr_rate_t w;
    memset(&w, 0xA5, sizeof w); /* garbage: the parser must set every field */
    int rc = cr_ratelimit_from_headers(&r, platform, NOW, &w);
    assert_int_equal(rc, w.known);
    return w;
}

static void s_expect(const char *platform, const char *headers, uint32_t limit,
                     uint32_t remaining, int64_t reset_ms)
{
    cr_rate_t w = s_parse(platform, headers);
    if (!w.known) fail_msg("%s: not known from [%s]", platform, headers);
    assert_int_equal(w.limit, limit);
    assert_int_equal(w.remaining, remaining);
    if (w.reset_ms != reset_ms)
        fail_msg("%s: reset %lld, expected %lld from [%s]", platform, (long long)w.reset_ms,
                 (long long)reset_ms, headers);
}

static void s_unknown(const char *platform, const char *headers)
{
    cr_rate_t w = s_parse(platform, headers);
    if (w.known) fail_msg("%s: known (%u/%u) from [%s]", platform, w.remaining, w.limit, headers);
    assert_int_equal(w.limit, 0);
    assert_int_equal(w.remaining, 0);
    assert_true(w.reset_ms == 0);
}

/* ---- Mastodon ---------------------------------------------------------- */

static void test_mastodon(void **state)
{
    (void)state;
    /* as the sandbox and Mastodon send them: ISO 8601 with microseconds */
    s_expect("mastodon",
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-RateLimit-Limit: 300\r\n"
             "X-RateLimit-Remaining: 299\r\nX-RateLimit-Reset: 2026-01-01T00:05:00.123456Z\r\n\r\n",
             300, 299, NOW + 300123);
    /* names in any case, a 429 with nothing left, an offset */
    s_expect("mastodon",
             "HTTP/2 429\r\nx-ratelimit-limit: 300\r\nx-ratelimit-remaining: 0\r\n"
             "x-ratelimit-reset: 2026-01-01T02:00:00+01:00\r\n\r\n",
             300, 0, NOW + 3600000);
    s_expect("Mastodon", "X-RATELIMIT-LIMIT:30\r\nX-RATELIMIT-REMAINING:\t30 \r\n", 30, 30, 0);
    /* reset missing, malformed, absurd: the window is known, its reset is not */
    s_expect("mastodon", "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 12\r\n", 300, 12, 0);
    s_expect("mastodon",
             "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 12\r\nX-RateLimit-Reset: soon\r\n",
             300, 12, 0);
    s_expect("mastodon",
             "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 12\r\n"
             "X-RateLimit-Reset: 1767225900\r\n", /* epoch seconds are not Mastodon's form */
             300, 12, 0);
    s_expect("mastodon",
             "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 12\r\n"
             "X-RateLimit-Reset: 9999-12-31T23:59:59Z\r\n",
             300, 12, 0);
    s_expect("mastodon",
             "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 12\r\n"
             "X-RateLimit-Reset: 1970-01-01T00:00:00Z\r\n",
             300, 12, 0);
    s_expect("mastodon",
             "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 12\r\n"
             "X-RateLimit-Reset: 2026-13-45T99:00:00Z\r\n",
             300, 12, 0);
    /* a reset a little in the past (clock skew) is kept as said */
    s_expect("mastodon",
             "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 300\r\n"
             "X-RateLimit-Reset: 2025-12-31T23:59:58Z\r\n",
             300, 300, NOW - 2000);
    /* X's or Bluesky's names are not Mastodon's */
    s_unknown("mastodon", "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 5\r\n");
    s_unknown("mastodon", "RateLimit-Limit: 100\r\nRateLimit-Remaining: 5\r\n");
    s_unknown("mastodon", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n");
}

/* ---- X ----------------------------------------------------------------- */

static void test_x(void **state)
{
    (void)state;
    s_expect("x",
             "HTTP/1.1 201 Created\r\nx-rate-limit-limit: 100\r\nx-rate-limit-remaining: 99\r\n"
             "x-rate-limit-reset: 1767226500\r\n\r\n",
             100, 99, (NOW_S + 900) * 1000);
    s_expect("x",
             "X-Rate-Limit-Limit: 100\r\nX-Rate-Limit-Remaining: 0\r\nX-Rate-Limit-Reset: "
             "1767226500\r\n",
             100, 0, (NOW_S + 900) * 1000);
    /* the 24-hour user window binds when it has fewer left */
    s_expect("x",
             "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 95\r\n"
             "x-rate-limit-reset: 1767226500\r\nx-user-limit-24hour-limit: 17\r\n"
             "x-user-limit-24hour-remaining: 0\r\nx-user-limit-24hour-reset: 1767290000\r\n",
             17, 0, 1767290000LL * 1000);
    /* ... not when the endpoint's window has fewer */
    s_expect("x",
             "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 3\r\n"
             "x-rate-limit-reset: 1767226500\r\nx-app-limit-24hour-limit: 10000\r\n"
             "x-app-limit-24hour-remaining: 9000\r\nx-app-limit-24hour-reset: 1767290000\r\n",
             100, 3, (NOW_S + 900) * 1000);
    /* a tie: the later reset */
    s_expect("x",
             "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 0\r\n"
             "x-rate-limit-reset: 1767226500\r\nx-app-limit-24hour-limit: 10000\r\n"
             "x-app-limit-24hour-remaining: 0\r\nx-app-limit-24hour-reset: 1767290000\r\n",
             10000, 0, 1767290000LL * 1000);
    /* only a 24-hour window */
    s_expect("x",
             "x-user-limit-24hour-limit: 17\r\nx-user-limit-24hour-remaining: 16\r\n", 17, 16, 0);
    /* a malformed 24-hour window does not spoil the endpoint's */
    s_expect("x",
             "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 50\r\n"
             "x-user-limit-24hour-limit: -1\r\nx-user-limit-24hour-remaining: 0\r\n",
             100, 50, 0);
    /* resets: milliseconds (too far), ISO text, beyond a day, before the epoch check */
    s_expect("x",
             "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 50\r\n"
             "x-rate-limit-reset: 1767226500000\r\n",
             100, 50, 0);
    s_expect("x",
             "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 50\r\n"
             "x-rate-limit-reset: 2026-01-01T00:15:00Z\r\n",
             100, 50, 0);
    s_expect("x",
             "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 50\r\n"
             "x-rate-limit-reset: 1767340000\r\n", /* 31 h ahead */
             100, 50, 0);
    s_expect("x",
             "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 50\r\n"
             "x-rate-limit-reset: 99999999999999999999999\r\n",
             100, 50, 0);
    s_expect("x",
             "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 50\r\n"
             "x-rate-limit-reset: 9223372036854775807\r\n",
             100, 50, 0);
    s_unknown("x", "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 12\r\n");
}

/* ---- Bluesky ----------------------------------------------------------- */

static void test_bluesky(void **state)
{
    (void)state;
    /* as the PDS (and the sandbox) send them */
    s_expect("bluesky",
             "HTTP/1.1 200 OK\r\nRateLimit-Limit: 5000\r\nRateLimit-Remaining: 4997\r\n"
             "RateLimit-Reset: 1767229200\r\nRateLimit-Policy: 5000;w=3600\r\n\r\n",
             5000, 4997, (NOW_S + 3600) * 1000);
    s_expect("bluesky",
             "HTTP/1.1 429 Too Many Requests\r\nratelimit-limit: 30\r\nratelimit-remaining: 0\r\n"
             "ratelimit-reset: 1767225900\r\nratelimit-policy: 30;w=300\r\n\r\n",
             30, 0, (NOW_S + 300) * 1000);
    /* the policy's quota stands in for a missing or malformed limit */
    s_expect("bluesky", "RateLimit-Remaining: 2\r\nRateLimit-Policy: 6;w=3\r\n", 6, 2, 0);
    s_expect("bluesky",
             "RateLimit-Limit: lots\r\nRateLimit-Remaining: 2\r\nRateLimit-Policy: 6 ; w=3, "
             "35000;w=86400\r\n",
             6, 2, 0);
    s_expect("bluesky", "RateLimit-Remaining: 2\r\nRateLimit-Policy: 6\r\n", 6, 2, 0);
    /* ... never over the limit header */
    s_expect("bluesky",
             "RateLimit-Limit: 10\r\nRateLimit-Remaining: 2\r\nRateLimit-Policy: 6;w=3\r\n", 10, 2,
             0);
    s_unknown("bluesky", "RateLimit-Remaining: 2\r\nRateLimit-Policy: w=3;6\r\n");
    s_unknown("bluesky", "RateLimit-Remaining: 2\r\nRateLimit-Policy: ;w=3\r\n");
    s_unknown("bluesky", "RateLimit-Remaining: 7\r\nRateLimit-Policy: 6;w=3\r\n");
    s_unknown("bluesky", "RateLimit-Limit: 6\r\nRateLimit-Policy: 6;w=3\r\n");
    /* delta seconds (the IETF draft's form) are not Bluesky's: no reset */
    s_expect("bluesky",
             "RateLimit-Limit: 10\r\nRateLimit-Remaining: 2\r\nRateLimit-Reset: 60\r\n", 10, 2, 0);
    s_unknown("bluesky", "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 12\r\n");
}

/* ---- Graph ------------------------------------------------------------- */

static void test_graph(void **state)
{
    (void)state;
    static const char *const graph[] = {"facebook", "instagram", "threads", "Facebook"};
    for (size_t i = 0; i < sizeof graph / sizeof *graph; i++) {
        const char *p = graph[i];
        /* as the sandbox sends them */
        s_expect(p,
                 "HTTP/1.1 200 OK\r\nX-App-Usage: {\"call_count\":28,\"total_cputime\":14,"
                 "\"total_time\":14}\r\nX-Business-Use-Case-Usage: {\"1001\":[{\"type\":\"pages\","
                 "\"call_count\":28,\"total_cputime\":14,\"total_time\":14,"
                 "\"estimated_time_to_regain_access\":0}]}\r\n\r\n",
                 100, 72, 0);
        /* the highest of every percentage of both headers */
        s_expect(p,
                 "x-app-usage: {\"call_count\":5,\"total_time\":40,\"total_cputime\":1}\r\n"
                 "x-business-use-case-usage: {\"1\":[{\"call_count\":12},{\"total_cputime\":"
                 "64.9}],\"2\":[{\"call_count\":3}]}\r\n",
                 100, 36, 0);
        /* throttled: nothing left, access back in the estimated minutes */
        s_expect(p,
                 "X-App-Usage: {\"call_count\":100}\r\nX-Business-Use-Case-Usage: {\"1001\":[{"
                 "\"type\":\"pages\",\"call_count\":100,\"estimated_time_to_regain_access\":2}]}\r\n",
                 100, 0, NOW + 2 * 60000);
        /* over 100 %, a fraction of a minute, the highest estimate */
        s_expect(p,
                 "X-Business-Use-Case-Usage: {\"1\":[{\"call_count\":250,"
                 "\"estimated_time_to_regain_access\":0.5}],\"2\":[{"
                 "\"estimated_time_to_regain_access\":7}]}\r\n",
                 100, 0, NOW + 7 * 60000);
        /* an app usage only */
        s_expect(p, "X-App-Usage: {\"call_count\":0}\r\n", 100, 100, 0);
        /* an estimate beyond a day is not believed */
        s_expect(p,
                 "X-Business-Use-Case-Usage: {\"1\":[{\"call_count\":100,"
                 "\"estimated_time_to_regain_access\":99999999}]}\r\n",
                 100, 0, 0);
        s_unknown(p, "X-App-Usage: \r\n");
        s_unknown(p, "X-App-Usage: nope\r\n");
        s_unknown(p, "X-App-Usage: [28]\r\nX-Business-Use-Case-Usage: {\"1\":3}\r\n");
        s_unknown(p, "X-App-Usage: {\"call_count\":\"99\"}\r\n");
        s_unknown(p, "X-App-Usage: {\"call_count\":-5,\"total_time\":null}\r\n");
        s_unknown(p, "X-App-Usage: {\"call_count\":1e999}\r\n");
        s_unknown(p, "X-App-Usage: {\"call_count\":99999999999999999999999}\r\n");
        s_unknown(p, "X-App-Usage: {\"call_count\":28\r\n"); /* cut */
        s_unknown(p, "X-Business-Use-Case-Usage: {\"1\":[1,\"x\",{\"call_count\":-5},[{}]]}\r\n");
        s_unknown(p, "X-Business-Use-Case-Usage: {\"1\":[{\"estimated_time_to_regain_access\":5}]}\r\n");
        s_unknown(p, "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 12\r\n");
        /* huge numbers are cut, never overflow */
        s_expect(p, "X-App-Usage: {\"call_count\":9223372036854775807}\r\n", 100, 0, 0);
        s_expect(p, "X-App-Usage: {\"call_count\":1e300}\r\n", 100, 0, 0);
    }
    /* a big header (many businesses) is read whole */
    size_t cap = 40000;
    char *h = malloc(cap);
    assert_non_null(h);
    size_t n = (size_t)snprintf(h, cap, "X-Business-Use-Case-Usage: {");
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(h + n, cap - n, "%s\"%d\":[{\"type\":\"pages\",\"call_count\":%d}]",
                              i ? "," : "", 1000 + i, i == 321 ? 81 : i % 50);
    n += (size_t)snprintf(h + n, cap - n, "}\r\n");
    assert_true(n < cap);
    s_expect("facebook", h, 100, 19, 0);
    free(h);
    /* deep nesting: refused by the JSON parser, not a crash */
    h = malloc(cap);
    assert_non_null(h);
    n = (size_t)snprintf(h, cap, "X-App-Usage: ");
    for (int i = 0; i < 5000; i++) h[n++] = '[';
    memcpy(h + n, "\r\n", 3);
    s_unknown("threads", h);
    free(h);
}

/* ---- platforms without headers, edge cases ----------------------------- */

static void test_none(void **state)
{
    (void)state;
    static const char *all =
        "HTTP/1.1 429 Too Many Requests\r\nX-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 0\r\n"
        "x-rate-limit-limit: 100\r\nx-rate-limit-remaining: 0\r\nRateLimit-Limit: 10\r\n"
        "RateLimit-Remaining: 0\r\nX-App-Usage: {\"call_count\":100}\r\nRetry-After: 60\r\n\r\n";
    /* LinkedIn sends none: whatever a response holds, nothing is known */
    s_unknown("linkedin", all);
    s_unknown("webhook", all);
    s_unknown("email", all);
    s_unknown("", all);
    s_unknown("mastodonx", all);
    cr_rate_t w;
    cr_http_resp_t r = s_resp(all);
    assert_int_equal(cr_ratelimit_from_headers(&r, NULL, NOW, &w), 0);
    assert_int_equal(w.known, 0);
    assert_int_equal(cr_ratelimit_from_headers(NULL, "mastodon", NOW, &w), 0);
    r = s_resp_n(NULL, 0); /* a response that never came */
    assert_int_equal(cr_ratelimit_from_headers(&r, "mastodon", NOW, &w), 0);
    r = s_resp_n(all, 0);
    assert_int_equal(cr_ratelimit_from_headers(&r, "x", NOW, &w), 0);
    /* the first of two headers counts */
    s_expect("mastodon",
             "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 5\r\nX-RateLimit-Remaining: 200\r\n",
             300, 5, 0);
    /* a header block cut in the middle of a value (too_large) */
    const char *cut = "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 29";
    r = s_resp_n(cut, strlen(cut) - 1);
    assert_int_equal(cr_ratelimit_from_headers(&r, "mastodon", NOW, &w), 1);
    assert_int_equal(w.remaining, 2);
    /* a NUL inside a value */
    static const char nul[] = "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 2\0009\r\n";
    r = s_resp_n(nul, sizeof nul - 1);
    assert_int_equal(cr_ratelimit_from_headers(&r, "mastodon", NOW, &w), 0);
}

/* ---- hostile numbers --------------------------------------------------- */

static void test_hostile_numbers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "-1",          "+5",         "1e3",        "0x10",       "4294967296",
        "99999999999999999999999999999999999999", "12 34",      "5abc",       "abc",
        "\xEF\xBC\x93", /* fullwidth 3 */ "1.0",   "١٢",        "NaN",        "inf",
        "-0",         "5,6",         "\"5\"",      "' 5'",       "5;w=3",      "\x7f",
    };
    char h[512];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        /* a bad limit, then a bad remaining, for each header family */
        snprintf(h, sizeof h, "X-RateLimit-Limit: %s\r\nX-RateLimit-Remaining: 1\r\n", bad[i]);
        s_unknown("mastodon", h);
        snprintf(h, sizeof h, "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: %s\r\n", bad[i]);
        s_unknown("mastodon", h);
        snprintf(h, sizeof h, "x-rate-limit-limit: %s\r\nx-rate-limit-remaining: 1\r\n", bad[i]);
        s_unknown("x", h);
        snprintf(h, sizeof h, "x-rate-limit-limit: 300\r\nx-rate-limit-remaining: %s\r\n", bad[i]);
        s_unknown("x", h);
        snprintf(h, sizeof h, "RateLimit-Limit: %s\r\nRateLimit-Remaining: 1\r\n", bad[i]);
        s_unknown("bluesky", h);
        snprintf(h, sizeof h, "RateLimit-Limit: 300\r\nRateLimit-Remaining: %s\r\n", bad[i]);
        s_unknown("bluesky", h);
        snprintf(h, sizeof h, "RateLimit-Remaining: 1\r\nRateLimit-Policy: %s\r\n", bad[i]);
        if (strcmp(bad[i], "5;w=3") != 0 && strcmp(bad[i], "5,6") != 0) s_unknown("bluesky", h);
        /* a bad reset only loses the reset */
        snprintf(h, sizeof h,
                 "x-rate-limit-limit: 300\r\nx-rate-limit-remaining: 1\r\nx-rate-limit-reset: %s\r\n",
                 bad[i]);
        s_expect("x", h, 300, 1, 0);
        snprintf(h, sizeof h,
                 "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 1\r\nX-RateLimit-Reset: %s\r\n",
                 bad[i]);
        s_expect("mastodon", h, 300, 1, 0);
    }
    /* a limit of 0, a remaining above the limit: not a usable window */
    s_unknown("mastodon", "X-RateLimit-Limit: 0\r\nX-RateLimit-Remaining: 0\r\n");
    s_unknown("x", "x-rate-limit-limit: 10\r\nx-rate-limit-remaining: 11\r\n");
    /* the extremes that are usable */
    s_expect("mastodon", "X-RateLimit-Limit: 4294967295\r\nX-RateLimit-Remaining: 4294967295\r\n",
             UINT32_MAX, UINT32_MAX, 0);
    s_expect("mastodon", "X-RateLimit-Limit: 0000000000000300\r\nX-RateLimit-Remaining: 0\r\n",
             300, 0, 0);
    /* a value far longer than any number */
    size_t big = 20000;
    char *v = malloc(big + 100);
    assert_non_null(v);
    int n = snprintf(v, 100, "X-RateLimit-Limit: ");
    memset(v + n, '9', big);
    memcpy(v + n + big, "\r\nX-RateLimit-Remaining: 1\r\n", 29);
    s_unknown("mastodon", v);
    free(v);
}

/* ---- random input ------------------------------------------------------ */

static uint64_t s_rng = 0x9E3779B97F4A7C15ULL;
static uint32_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (uint32_t)s_rng;
}

static void s_check_invariants(const char *platform, const cr_http_resp_t *r)
{
    cr_rate_t w;
    int rc = cr_ratelimit_from_headers(r, platform, NOW, &w);
    assert_int_equal(rc, w.known);
    if (!w.known) {
        assert_int_equal(w.limit, 0);
        assert_int_equal(w.remaining, 0);
        assert_true(w.reset_ms == 0);
        return;
    }
    assert_true(w.limit >= 1);
    assert_true(w.remaining <= w.limit);
    assert_true(w.reset_ms == 0 || (w.reset_ms >= NOW - CR_RATE_RESET_WINDOW_MS &&
                                    w.reset_ms <= NOW + CR_RATE_RESET_WINDOW_MS));
}

static void test_fuzz(void **state)
{
    (void)state;
    static const char *const platforms[] = {"mastodon", "x", "bluesky", "facebook", "linkedin"};
    static const char *const names[] = {
        "X-RateLimit-Limit",        "X-RateLimit-Remaining",        "X-RateLimit-Reset",
        "x-rate-limit-limit",       "x-rate-limit-remaining",       "x-rate-limit-reset",
        "x-user-limit-24hour-limit", "x-user-limit-24hour-remaining", "x-user-limit-24hour-reset",
        "RateLimit-Limit",          "RateLimit-Remaining",          "RateLimit-Reset",
        "RateLimit-Policy",         "X-App-Usage",                  "X-Business-Use-Case-Usage",
    };
    static const char *const values[] = {
        "0", "1", "300", "4294967295", "4294967296", "-3", "1767226500", "2026-01-01T00:05:00Z",
        "{\"call_count\":50}", "{\"1\":[{\"call_count\":99,\"estimated_time_to_regain_access\":3}]}",
        "6;w=3", "", "\xff\xfe", "{\"1\":[{\"estimated_time_to_regain_access\":-1e308}]}",
    };
    char buf[2048];
    for (int round = 0; round < 20000; round++) {
        size_t n = 0;
        int lines = (int)(s_rand() % 8);
        for (int l = 0; l < lines && n < sizeof buf - 400; l++) {
            if (s_rand() % 4 == 0) { /* random bytes */
                int k = (int)(s_rand() % 80);
                for (int i = 0; i < k; i++) buf[n++] = (char)(s_rand() & 0xff);
            } else {
                const char *name = names[s_rand() % (sizeof names / sizeof *names)];
                const char *val = values[s_rand() % (sizeof values / sizeof *values)];
                n += (size_t)snprintf(buf + n, sizeof buf - n, "%s:%s%s", name,
                                      s_rand() % 2 ? " " : "", val);
                if (s_rand() % 5 == 0 && n > 0) { /* flip a byte */
                    size_t at = s_rand() % n;
                    buf[at] = (char)(s_rand() & 0xff);
                }
            }
            if (s_rand() % 8) {
                buf[n++] = '\r';
                buf[n++] = '\n';
            }
        }
        /* exact-size heap copy: ASan sees a read past the end */
        char *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, buf, n);
        cr_http_resp_t r = s_resp_n(copy, n);
        for (size_t p = 0; p < sizeof platforms / sizeof *platforms; p++)
            s_check_invariants(platforms[p], &r);
        free(copy);
    }
}

/* ---- the Graph usage numbers ------------------------------------------- */

static void test_graph_usage(void **state)
{
    (void)state;
    cr_graph_usage_t u;
    cr_http_resp_t r = s_resp("X-App-Usage: {\"call_count\":28,\"total_time\":25,"
                              "\"total_cputime\":91}\r\n");
    cr_ratehdr_graph_usage(&r, &u);
    assert_int_equal(u.app_pct, 91);
    assert_int_equal(u.buc_pct, -1);
    assert_int_equal(u.regain_min, -1);
    r = s_resp("X-Business-Use-Case-Usage: {\"1\":[{\"call_count\":5000,"
               "\"estimated_time_to_regain_access\":1e9}]}\r\n");
    cr_ratehdr_graph_usage(&r, &u);
    assert_int_equal(u.app_pct, -1);
    assert_int_equal(u.buc_pct, 1000);
    assert_int_equal(u.regain_min, 100000);
    cr_ratehdr_graph_usage(NULL, &u);
    assert_int_equal(u.app_pct, -1);
    assert_int_equal(u.buc_pct, -1);
    assert_int_equal(u.regain_min, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mastodon),   cmocka_unit_test(test_x),
        cmocka_unit_test(test_bluesky),    cmocka_unit_test(test_graph),
        cmocka_unit_test(test_none),       cmocka_unit_test(test_hostile_numbers),
        cmocka_unit_test(test_fuzz),       cmocka_unit_test(test_graph_usage),
    };
    return cmocka_run_group_tests(tests, 0, NULL);
}
