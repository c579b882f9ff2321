/* Unit tests of cr_util: UTF-8 validation, random helpers, signal flags. */
#include "cr_util.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Checks s (as a heap copy of exactly len bytes, so that ASan sees any read
 * past the end) and returns cr_utf8_invalid_at. */
static long s_check(const char *s, size_t len)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    long r = cr_utf8_invalid_at(copy, len);
    free(copy);
    return r;
}

#define CHECK(lit, expected) assert_int_equal(s_check((lit), sizeof(lit) - 1), (expected))

/* An independent validator written from the Unicode table of well-formed
 * byte sequences (Unicode 15, table 3-7). Returns the offset of the first
 * sequence that is not well-formed, or -1. */
static long s_reference(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        unsigned char lo = 0x80, hi = 0xBF;
        size_t n;
        if (c <= 0x7F) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) n = 2;
        else if (c == 0xE0) n = 3, lo = 0xA0;
        else if (c >= 0xE1 && c <= 0xEC) n = 3;
        else if (c == 0xED) n = 3, hi = 0x9F;
        else if (c >= 0xEE && c <= 0xEF) n = 3;
        else if (c == 0xF0) n = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) n = 4;
        else if (c == 0xF4) n = 4, hi = 0x8F;
        else return (long)i;
        if (i + n > len) return (long)i;
        if (s[i + 1] < lo || s[i + 1] > hi) return (long)i;
        for (size_t k = 2; k < n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return (long)i;
        i += n;
    }
    return -1;
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_int_equal(cr_utf8_invalid_at("", 0), -1);
    assert_int_equal(cr_utf8_invalid_at(NULL, 0), -1);
    CHECK("plain ASCII, with punctuation: ~!@#$%^&*()\t\r\n", -1);
    CHECK("caf\xC3\xA9 na\xC3\xAFve \xC3\x9F", -1);             /* 2-byte */
    CHECK("\xE2\x82\xAC 100 \xE6\x97\xA5\xE6\x9C\xAC", -1);     /* 3-byte: euro, CJK */
    CHECK("party \xF0\x9F\x8E\x89 \xF0\x9F\x98\x80", -1);       /* 4-byte emoji */
    /* The boundaries of every length. */
    CHECK("\x7F", -1);
    CHECK("\xC2\x80", -1);             /* U+0080 */
    CHECK("\xDF\xBF", -1);             /* U+07FF */
    CHECK("\xE0\xA0\x80", -1);         /* U+0800 */
    CHECK("\xED\x9F\xBF", -1);         /* U+D7FF, just below the surrogates */
    CHECK("\xEE\x80\x80", -1);         /* U+E000, just above them */
    CHECK("\xEF\xBF\xBF", -1);         /* U+FFFF */
    CHECK("\xF0\x90\x80\x80", -1);     /* U+10000 */
    CHECK("\xF4\x8F\xBF\xBF", -1);     /* U+10FFFF, the last code point */
    /* A NUL byte inside the length is a valid code point. */
    CHECK("a\0b", -1);
    /* Only len bytes are looked at: the invalid byte after them is ignored. */
    assert_int_equal(cr_utf8_invalid_at("ok\xFF", 2), -1);
}

static void test_utf8_invalid_offsets(void **state)
{
    (void)state;
    /* Lone continuation bytes. */
    CHECK("\x80", 0);
    CHECK("ab\x80", 2);
    CHECK("ab\xBF z", 2);
    CHECK("\xC3\xA9\xA9", 2); /* one continuation too many after a valid "e acute" */
    /* Truncated sequences at the end of the buffer. */
    CHECK("ab\xC3", 2);
    CHECK("ab\xE2\x82", 2);
    CHECK("ab\xE2", 2);
    CHECK("ab\xF0\x9F\x98", 2);
    CHECK("ab\xF0", 2);
    assert_int_equal(s_check("\xC3\xA9", 1), 0); /* cut by len */
    /* Truncated sequences followed by something that is not a continuation. */
    CHECK("ab\xE2\x82x", 2);
    CHECK("\xE2\x28\xA1", 0);
    CHECK("\xF0\x9F\x98 ", 0);
    CHECK("\xC3\xC3\xA9", 0);
    /* Overlong encodings. */
    CHECK("ab\xC0\x80", 2);         /* NUL in two bytes */
    CHECK("\xC1\xBF", 0);           /* U+007F in two bytes */
    CHECK("ab\xE0\x80\xAF", 2);     /* '/' in three bytes */
    CHECK("\xE0\x9F\xBF", 0);       /* U+07FF in three bytes */
    CHECK("\xF0\x8F\xBF\xBF", 0);   /* U+FFFF in four bytes */
    CHECK("\xF0\x80\x80\x80", 0);
    /* UTF-16 surrogates. */
    CHECK("ab\xED\xA0\x80", 2);     /* U+D800 */
    CHECK("\xED\xBF\xBF", 0);       /* U+DFFF */
    CHECK("\xED\xA0\xBD\xED\xB8\x80", 0); /* CESU-8 surrogate pair */
    /* Beyond U+10FFFF. */
    CHECK("ab\xF4\x90\x80\x80", 2); /* U+110000 */
    CHECK("\xF4\xBF\xBF\xBF", 0);
    CHECK("\xF5\x80\x80\x80", 0);
    CHECK("\xF7\xBF\xBF\xBF", 0);
    CHECK("\xF8\x88\x80\x80\x80", 0); /* old 5-byte form */
    CHECK("\xFC\x84\x80\x80\x80\x80", 0);
    /* Bytes that never appear in UTF-8. */
    CHECK("ab\xFF", 2);
    CHECK("\xFE", 0);
    /* The offset counts bytes, after multi-byte characters. */
    CHECK("\xC3\xA9\xE2\x82\xACx\xFF", 6);
    CHECK("\xF0\x9F\x8E\x89\xF0\x9F\x8E\x89\xC0\xAF", 8);
    CHECK("\xF0\x9F\x8E\x89\xE2\x82", 4);
}

/* Every sequence of up to 3 bytes (after a valid 2-byte prefix, so offsets
 * are not all 0), compared with the reference validator. */
static void test_utf8_exhaustive_short(void **state)
{
    (void)state;
    unsigned char buf[5] = {0xC3, 0xA9};
    for (unsigned a = 0; a < 256; a++) {
        buf[2] = (unsigned char)a;
        assert_int_equal(cr_utf8_invalid_at((const char *)buf, 3), s_reference(buf, 3));
        for (unsigned b = 0; b < 256; b++) {
            buf[3] = (unsigned char)b;
            assert_int_equal(cr_utf8_invalid_at((const char *)buf, 4), s_reference(buf, 4));
            for (unsigned c = 0; c < 256; c++) {
                buf[4] = (unsigned char)c;
                long got = cr_utf8_invalid_at((const char *)buf, 5);
                long want = s_reference(buf, 5);
                if (got != want)
                    fail_msg("%02x %02x %02x: got %ld, want %ld", a, b, c, got, want);
            }
        }
    }
}

/* Every 4-byte sequence starting with a 4-byte lead byte (and a few
 * neighbours), and random strings biased towards high bytes. */
static void test_utf8_exhaustive_four_and_random(void **state)
{
    (void)state;
    unsigned char buf[4];
    for (unsigned a = 0xEF; a <= 0xF5; a++)
        for (unsigned b = 0x70; b <= 0xC0; b++)
            for (unsigned c = 0x70; c <= 0xC0; c++)
                for (unsigned d = 0x70; d <= 0xC0; d++) {
                    buf[0] = (unsigned char)a;
                    buf[1] = (unsigned char)b;
                    buf[2] = (unsigned char)c;
                    buf[3] = (unsigned char)d;
                    long got = cr_utf8_invalid_at((const char *)buf, 4);
                    long want = s_reference(buf, 4);
                    if (got != want)
                        fail_msg("%02x %02x %02x %02x: got %ld, want %ld", a, b, c, d, got,
                                 want);
                }
    uint64_t x = 0x243F6A8885A308D3ULL;
    unsigned char s[64];
    for (int n = 0; n < 200000; n++) {
        size_t len = (size_t)(n % 64);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            unsigned v = (unsigned)(x >> 24) & 0xFF;
            /* Mostly continuation bytes and lead bytes, some ASCII. */
            s[i] = (unsigned char)((x & 3) == 0 ? (v & 0x7F) : (x & 3) == 1 ? 0x80 | (v & 0x3F)
                                                                           : 0xC0 | (v & 0x3F));
        }
        long got = cr_utf8_invalid_at((const char *)s, len);
        long want = s_reference(s, len);
        if (got != want) fail_msg("random string %d (len %zu): got %ld, want %ld", n, len, got, want);
    }
}

static int s_is_lower_hex(const char *s)
{
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))) return 0;
    return 1;
}

static void test_random_hex_length_and_charset(void **state)
{
    (void)state;
    static const size_t lens[] = {1, 2, 3, 8, 17, 33, 64, 128, 129, 130, 200, 257, 1000};
    char buf[1100];
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t len = lens[k];
        memset(buf, 'X', sizeof buf);
        cr_random_hex(buf, len);
        assert_int_equal(strlen(buf), len - 1);
        assert_true(s_is_lower_hex(buf));
        /* Nothing written past the buffer. */
        for (size_t i = len; i < sizeof buf; i++) assert_int_equal(buf[i], 'X');
    }
    /* len 0 writes nothing at all. */
    buf[0] = 'X';
    cr_random_hex(buf, 0);
    assert_int_equal(buf[0], 'X');

    /* Every hex digit shows up, in every position of a long string. */
    int seen[16] = {0};
    for (int n = 0; n < 64; n++) {
        cr_random_hex(buf, 257);
        for (size_t i = 0; i < 256; i++) {
            int v = buf[i] <= '9' ? buf[i] - '0' : buf[i] - 'a' + 10;
            seen[v]++;
        }
        /* The tail of a long string is as random as its head. */
        int same = 1;
        for (size_t i = 129; i < 256; i++) same &= buf[i] == buf[128];
        assert_false(same);
    }
    for (int v = 0; v < 16; v++) assert_true(seen[v] > 64 * 256 / 16 / 2);
}

static void test_random_hex_differs(void **state)
{
    (void)state;
    char a[33], b[33];
    cr_random_hex(a, sizeof a);
    cr_random_hex(b, sizeof b);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
}

static void test_random_below_bounds(void **state)
{
    (void)state;
    assert_int_equal(cr_random_below(0), 0);
    for (int i = 0; i < 1000; i++) assert_int_equal(cr_random_below(1), 0);

    int counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint64_t v = cr_random_below(10);
        assert_true(v < 10);
        counts[v]++;
    }
    for (int v = 0; v < 10; v++) {
        assert_true(counts[v] > 9000);
        assert_true(counts[v] < 11000);
    }
    static const uint64_t big[] = {2, 3, 1000, 1ULL << 32, (1ULL << 63) + 1, UINT64_MAX};
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++)
        for (int i = 0; i < 10000; i++) assert_true(cr_random_below(big[k]) < big[k]);
}

/* "Uniform in [0, n)" must hold for large n too: with n = 2/3 of 2^64 a plain
 * modulo returns values below n/2 two times out of three. */
static void test_random_below_uniform_large_n(void **state)
{
    (void)state;
    const uint64_t n = 0xAAAAAAAAAAAAAAAAULL;
    int below = 0, draws = 20000;
    for (int i = 0; i < draws; i++) {
        uint64_t v = cr_random_below(n);
        assert_true(v < n);
        below += v < n / 2;
    }
    /* Expected 10000, standard deviation ~71; modulo bias gives ~13333. */
    assert_true(below > 9500);
    assert_true(below < 10500);
}

static void test_signals_set_flags(void **state)
{
    (void)state;
    static volatile int stop, reload;
    stop = reload = 0;
    cr_signals_install(&stop, &reload);
    assert_int_equal(raise(SIGHUP), 0);
    assert_int_equal(reload, 1);
    assert_int_equal(stop, 0);
    assert_int_equal(raise(SIGTERM), 0);
    assert_int_equal(stop, 1);
    assert_int_equal(raise(SIGTERM), 0); /* a second SIGTERM: exit fast */
    assert_int_equal(stop, 2);
    assert_int_equal(raise(SIGINT), 0);
    assert_int_equal(stop, 3);
    /* SIGPIPE is ignored: the process survives it. */
    assert_int_equal(raise(SIGPIPE), 0);
    assert_int_equal(reload, 1);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid_offsets),
        cmocka_unit_test(test_utf8_exhaustive_short),
        cmocka_unit_test(test_utf8_exhaustive_four_and_random),
        cmocka_unit_test(test_random_hex_length_and_charset),
        cmocka_unit_test(test_random_hex_differs),
        cmocka_unit_test(test_random_below_bounds),
        cmocka_unit_test(test_random_below_uniform_large_n),
        cmocka_unit_test(test_signals_set_flags),
    };
    return cmocka_run_group_tests(tests, 0, NULL);
}
