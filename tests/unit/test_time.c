/* Unit tests of cr_time: ISO-8601 parsing and formatting, delays, civil
 * dates, clocks. */
#include "cr_time.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* 2026-11-22T10:15:00Z in unix milliseconds (checked with Python's datetime). */
#define T_2026_11_22_101500 INT64_C(1795342500000)

/* Parses a heap copy of exactly the string, so that ASan sees a read past its end. */
static int s_parse(const char *s, int64_t *out)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, s, n);
    int rc = cr_time_parse_iso8601(copy, out);
    free(copy);
    return rc;
}

static void s_expect(const char *s, int64_t want)
{
    int64_t got = INT64_C(-42);
    if (s_parse(s, &got) != 0) fail_msg("'%s' rejected", s);
    if (got != want) fail_msg("'%s': got %lld, want %lld", s, (long long)got, (long long)want);
}

static void s_reject(const char *s)
{
    int64_t got = INT64_C(-42);
    if (s_parse(s, &got) != -1) fail_msg("'%s' accepted as %lld", s, (long long)got);
}

static void test_parse_utc(void **state)
{
    (void)state;
    s_expect("2026-11-22T10:15:00Z", T_2026_11_22_101500);
    s_expect("2026-11-22t10:15:00z", T_2026_11_22_101500);
    s_expect("1970-01-01T00:00:00Z", 0);
    s_expect("1970-01-01T00:00:01Z", 1000);
    s_expect("1969-12-31T23:59:59Z", -1000);
    s_expect("1969-07-20T20:17:40Z", INT64_C(-14182940000));
    s_expect("0001-01-01T00:00:00Z", INT64_C(-62135596800000));
    s_expect("9999-12-31T23:59:59Z", INT64_C(253402300799000));
    s_expect("2038-01-19T03:14:08Z", INT64_C(2147483648000)); /* past 32-bit time_t */
}

static void test_parse_offsets(void **state)
{
    (void)state;
    /* The same instant written in three zones. */
    s_expect("2026-11-22T12:15:00+02:00", T_2026_11_22_101500);
    s_expect("2026-11-22T04:45:00-05:30", T_2026_11_22_101500);
    s_expect("2026-11-22T10:15:00+00:00", T_2026_11_22_101500);
    s_expect("2026-11-22T10:15:00-00:00", T_2026_11_22_101500);
    /* Offsets that move the date. */
    s_expect("2026-11-23T00:15:00+14:00", T_2026_11_22_101500);
    s_expect("2026-11-21T22:15:00-12:00", T_2026_11_22_101500);
    s_expect("1970-01-01T01:00:00+01:00", 0);
    s_reject("2026-11-22T10:15:00+24:00");
    s_reject("2026-11-22T10:15:00+02:60");
    s_reject("2026-11-22T10:15:00+2:00");
    s_reject("2026-11-22T10:15:00+02:0");
    s_reject("2026-11-22T10:15:00+02:");
    s_reject("2026-11-22T10:15:00+");
    s_reject("2026-11-22T10:15:00-");
}

static void test_parse_fraction(void **state)
{
    (void)state;
    /* Mastodon's created_at carries microseconds. */
    s_expect("2026-11-22T10:15:00.123456Z", T_2026_11_22_101500 + 123);
    s_expect("2026-11-22T10:15:00.123Z", T_2026_11_22_101500 + 123);
    s_expect("2026-11-22T10:15:00.12Z", T_2026_11_22_101500 + 120);
    s_expect("2026-11-22T10:15:00.1Z", T_2026_11_22_101500 + 100);
    s_expect("2026-11-22T10:15:00.000Z", T_2026_11_22_101500);
    s_expect("2026-11-22T10:15:00.999999999Z", T_2026_11_22_101500 + 999);
    s_expect("2026-11-22T10:15:00.0019999999999999999999Z", T_2026_11_22_101500 + 1);
    s_expect("2026-11-22T12:15:00.5+02:00", T_2026_11_22_101500 + 500);
    s_expect("1969-12-31T23:59:59.999Z", -1);
    s_expect("1969-12-31T23:59:59.001Z", -999);
    s_reject("2026-11-22T10:15:00.Z");
    s_reject("2026-11-22T10:15:00.");
    s_reject("2026-11-22T10:15:00.12a3Z");
}

static void test_parse_space_separator(void **state)
{
    (void)state;
    s_expect("2026-11-22 10:15:00Z", T_2026_11_22_101500);
    s_expect("2026-11-22 10:15:00.123456+00:00", T_2026_11_22_101500 + 123);
    s_reject("2026-11-22_10:15:00Z");
    s_reject("2026-11-2210:15:00Z");
    s_reject("2026-11-22  10:15:00Z");
}

static void test_parse_calendar(void **state)
{
    (void)state;
    s_expect("2024-02-29T12:00:00Z", INT64_C(1709208000000));
    s_expect("2000-02-29T00:00:00Z", INT64_C(951782400000)); /* divisible by 400 */
    s_reject("2026-02-29T00:00:00Z");
    s_reject("2023-02-29T00:00:00Z");
    s_reject("1900-02-29T00:00:00Z"); /* divisible by 100, not by 400 */
    s_reject("2024-02-30T00:00:00Z");
    s_reject("2026-13-01T00:00:00Z");
    s_reject("2026-00-10T00:00:00Z");
    s_reject("2026-01-00T00:00:00Z");
    s_reject("2026-01-32T00:00:00Z");
    s_reject("2026-04-31T00:00:00Z");
    s_reject("2026-11-22T24:00:00Z");
    s_reject("2026-11-22T10:60:00Z");
    s_reject("2026-11-22T10:15:61Z");
    s_expect("2026-12-31T23:59:59Z", INT64_C(1798761599000));
    s_expect("2027-01-01T00:00:00Z", INT64_C(1798761600000));
}

static void test_parse_malformed(void **state)
{
    (void)state;
    int64_t out = 7;
    assert_int_equal(cr_time_parse_iso8601(NULL, &out), -1);
    s_reject("");
    s_reject("now");
    s_reject("2026-11-22");
    s_reject("2026-11-22T10:15:00"); /* no zone */
    s_reject("2026-11-22T10:15Z");   /* no seconds */
    s_reject("2026-11-22T10:15:00Z ");
    s_reject("2026-11-22T10:15:00Zjunk");
    s_reject("2026-11-22T10:15:00+02:00x");
    s_reject("2026-11-22T10:15:00ZZ");
    s_reject(" 2026-11-22T10:15:00Z");
    s_reject("26-11-22T10:15:00Z");
    s_reject("+2026-11-22T10:15:00Z");
    s_reject("2026/11/22T10:15:00Z");
    s_reject("2026-1-22T10:15:00Z");
    s_reject("2026-11-22T1:15:00Z");
    s_reject("2026-11-22T10-15-00Z");
    s_reject("2026-11-22T10:15:00UTC");
    s_reject("2026-11-22T10:15:0xZ");
    s_reject("2026-\xC3\xA9-22T10:15:00Z");
    /* Every prefix of a valid timestamp is invalid (and parsing one never
     * reads past its end, which ASan checks on the exact-size copy). */
    const char *full[] = {"2026-11-22T10:15:00.123456+05:30", "2026-11-22 10:15:00Z"};
    for (size_t k = 0; k < 2; k++) {
        char buf[64];
        size_t n = strlen(full[k]);
        for (size_t i = 0; i < n; i++) {
            memcpy(buf, full[k], i);
            buf[i] = '\0';
            s_reject(buf);
        }
    }
}

static void s_format_is(int64_t ms, const char *want)
{
    char buf[64];
    assert_int_equal(cr_time_format_iso8601(ms, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

static void test_format_known(void **state)
{
    (void)state;
    s_format_is(0, "1970-01-01T00:00:00.000Z");
    s_format_is(T_2026_11_22_101500 + 123, "2026-11-22T10:15:00.123Z");
    s_format_is(1, "1970-01-01T00:00:00.001Z");
    s_format_is(-1, "1969-12-31T23:59:59.999Z");
    s_format_is(-999, "1969-12-31T23:59:59.001Z");
    s_format_is(-1000, "1969-12-31T23:59:59.000Z");
    s_format_is(-1001, "1969-12-31T23:59:58.999Z");
    s_format_is(INT64_C(-14182940000), "1969-07-20T20:17:40.000Z");
    s_format_is(INT64_C(-62135596800000), "0001-01-01T00:00:00.000Z");
    s_format_is(INT64_C(253402300799999), "9999-12-31T23:59:59.999Z");
    s_format_is(INT64_C(1709208000000), "2024-02-29T12:00:00.000Z");
}

static void test_format_buffer_size(void **state)
{
    (void)state;
    char buf[32];
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ" is 24 characters and a NUL. */
    assert_int_equal(cr_time_format_iso8601(T_2026_11_22_101500, buf, 25), 0);
    assert_int_equal(strlen(buf), 24);
    assert_int_equal(cr_time_format_iso8601(T_2026_11_22_101500, buf, 24), -1);
    assert_int_equal(cr_time_format_iso8601(T_2026_11_22_101500, buf, 1), -1);
}

/* Any int64 (a due_ms from the wire, say) can be formatted without undefined
 * behaviour; UBSan aborts the test otherwise. */
static void test_format_extremes(void **state)
{
    (void)state;
    char buf[64];
    static const int64_t v[] = {INT64_MIN, INT64_MIN + 1, INT64_MIN + 998, INT64_MIN + 999,
                                INT64_MIN + 1000, INT64_MAX, INT64_MAX - 1};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        buf[0] = '\0';
        int rc = cr_time_format_iso8601(v[i], buf, sizeof buf);
        assert_true(rc == 0 || rc == -1);
        if (rc == 0) {
            /* The milliseconds are the floor remainder of the value. */
            int64_t rem = v[i] % 1000;
            if (rem < 0) rem += 1000;
            char tail[8];
            snprintf(tail, sizeof tail, ".%03dZ", (int)rem);
            size_t n = strlen(buf);
            assert_true(n > 5);
            assert_string_equal(buf + n - 5, tail);
        }
    }
}

static void test_format_parse_round_trip(void **state)
{
    (void)state;
    static const int64_t fixed[] = {0,
                                    1,
                                    -1,
                                    999,
                                    -999,
                                    1000,
                                    -1000,
                                    -1001,
                                    INT64_C(951782400000),
                                    INT64_C(951868799999),
                                    INT64_C(-2208988800000), /* 1900-01-01 */
                                    INT64_C(-2203891200001),
                                    INT64_C(-62135596800000),
                                    INT64_C(253402300799999),
                                    T_2026_11_22_101500 + 123};
    char buf[64];
    int64_t back;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        assert_int_equal(cr_time_format_iso8601(fixed[i], buf, sizeof buf), 0);
        assert_int_equal(cr_time_parse_iso8601(buf, &back), 0);
        if (back != fixed[i]) fail_msg("%lld -> %s -> %lld", (long long)fixed[i], buf, (long long)back);
    }
    /* Random values over years 0001..9999, and a dense walk around 1970. */
    const int64_t lo = INT64_C(-62135596800000), hi = INT64_C(253402300799999);
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t ms = lo + (int64_t)(x % (uint64_t)(hi - lo + 1));
        assert_int_equal(cr_time_format_iso8601(ms, buf, sizeof buf), 0);
        assert_int_equal(strlen(buf), 24);
        assert_int_equal(cr_time_parse_iso8601(buf, &back), 0);
        if (back != ms) fail_msg("%lld -> %s -> %lld", (long long)ms, buf, (long long)back);
    }
    for (int64_t ms = -100000; ms <= 100000; ms += 7) {
        assert_int_equal(cr_time_format_iso8601(ms, buf, sizeof buf), 0);
        assert_int_equal(cr_time_parse_iso8601(buf, &back), 0);
        assert_int_equal(back, ms);
    }
}

/* The parser agrees with the C library's timegm on random calendar fields. */
static void test_parse_matches_timegm(void **state)
{
    (void)state;
    uint64_t x = 12345;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        struct tm tm = {0};
        tm.tm_year = (int)(x % 400) + 1800 - 1900;
        tm.tm_mon = (int)((x >> 10) % 12);
        tm.tm_mday = (int)((x >> 20) % 28) + 1;
        tm.tm_hour = (int)((x >> 30) % 24);
        tm.tm_min = (int)((x >> 40) % 60);
        tm.tm_sec = (int)((x >> 50) % 60);
        char s[64];
        snprintf(s, sizeof s, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        time_t t = timegm(&tm);
        int64_t got;
        assert_int_equal(cr_time_parse_iso8601(s, &got), 0);
        assert_int_equal(got, (int64_t)t * 1000);
    }
}

static void s_delay_is(const char *s, int64_t want)
{
    int64_t got = -42;
    if (cr_time_parse_delay(s, &got) != 0) fail_msg("delay '%s' rejected", s);
    if (got != want) fail_msg("delay '%s': got %lld, want %lld", s, (long long)got, (long long)want);
}

static void s_delay_rejected(const char *s)
{
    int64_t got = -42;
    if (cr_time_parse_delay(s, &got) != -1)
        fail_msg("delay '%s' accepted as %lld", s ? s : "(null)", (long long)got);
    assert_int_equal(got, -42);
}

static void test_delay(void **state)
{
    (void)state;
    s_delay_is("now", 0);
    s_delay_is("+250ms", 250);
    s_delay_is("+90s", 90000);
    s_delay_is("+10m", 600000);
    s_delay_is("+2h", 7200000);
    s_delay_is("+1d", 86400000);
    s_delay_is("+0s", 0);
    s_delay_is("+007m", 420000);
    /* The limit is ten years of 365 days, whatever the unit. */
    s_delay_is("+3650d", INT64_C(315360000000));
    s_delay_is("+315360000000ms", INT64_C(315360000000));
    s_delay_is("+87600h", INT64_C(315360000000));

    s_delay_rejected(NULL);
    s_delay_rejected("");
    s_delay_rejected("10m");
    s_delay_rejected("+");
    s_delay_rejected("+5x");
    s_delay_rejected("+-3s");
    s_delay_rejected("-3s");
    s_delay_rejected("+5");
    s_delay_rejected("+ms");
    s_delay_rejected("+5 s");
    s_delay_rejected(" +5s");
    s_delay_rejected("+5s ");
    s_delay_rejected("+5sec");
    s_delay_rejected("+5mss");
    s_delay_rejected("+1.5h");
    s_delay_rejected("Now");
    s_delay_rejected("now+5s");
    s_delay_rejected("+3651d");
    s_delay_rejected("+315360000001ms");
    s_delay_rejected("+87601h");
    s_delay_rejected("+99999999999999999999999s");
    /* Within the digit limit but overflowing int64 once multiplied. */
    s_delay_rejected("+300000000000d");
    s_delay_rejected("+9000000000000h");
}

static void test_days_from_civil(void **state)
{
    (void)state;
    assert_int_equal(cr_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(cr_days_from_civil(1970, 1, 2), 1);
    assert_int_equal(cr_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(cr_days_from_civil(2000, 1, 1), 10957);
    assert_int_equal(cr_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(cr_days_from_civil(1600, 3, 1), -135080);
    assert_int_equal(cr_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(cr_days_from_civil(0, 3, 1), -719468);

    /* Walk day by day from 1600-01-01 to 2400-12-31 and compare. */
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t n = cr_days_from_civil(1600, 1, 1);
    for (int64_t y = 1600; y <= 2400; y++) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (unsigned m = 1; m <= 12; m++) {
            unsigned days = (unsigned)dm[m - 1] + (m == 2 && leap);
            for (unsigned d = 1; d <= days; d++) {
                int64_t got = cr_days_from_civil(y, m, d);
                if (got != n)
                    fail_msg("%lld-%02u-%02u: got %lld, want %lld", (long long)y, m, d,
                             (long long)got, (long long)n);
                n++;
            }
        }
    }
    assert_int_equal(n - 1, 157419); /* 2400-12-31 */
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t prev = cr_mono_ms();
    for (int i = 0; i < 100000; i++) {
        int64_t now = cr_mono_ms();
        assert_true(now >= prev);
        prev = now;
    }
    int64_t t0 = cr_mono_ms();
    struct timespec ts = {0, 30 * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    int64_t dt = cr_mono_ms() - t0;
    assert_true(dt >= 29);
    assert_true(dt < 10000);

    /* The wall clock is unix milliseconds. */
    int64_t wall = cr_now_ms();
    int64_t secs = (int64_t)time(NULL);
    assert_true(wall / 1000 >= secs - 2 && wall / 1000 <= secs + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_utc),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_fraction),
        cmocka_unit_test(test_parse_space_separator),
        cmocka_unit_test(test_parse_calendar),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_format_known),
        cmocka_unit_test(test_format_buffer_size),
        cmocka_unit_test(test_format_extremes),
        cmocka_unit_test(test_format_parse_round_trip),
        cmocka_unit_test(test_parse_matches_timegm),
        cmocka_unit_test(test_delay),
        cmocka_unit_test(test_days_from_civil),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, 0, NULL);
}
