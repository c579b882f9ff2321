/* Unit tests of crieurctl's platform text rules (ctl_rules): code points,
 * approximate grapheme clusters (Bluesky), X's weighted length, the text as
 * published, and each platform's limit and reason. */
#include "ctl_rules.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define GR(s) ctl_text_graphemes((s), strlen(s))
#define XW(s) ctl_text_x_weighted((s), strlen(s))
#define CP(s) ctl_text_code_points((s), strlen(s))

/* n copies of unit, in a heap buffer. */
static char *s_rep(const char *unit, size_t n)
{
    size_t u = strlen(unit);
    char *b = malloc(u * n + 1);
    assert_non_null(b);
    for (size_t k = 0; k < n; k++) memcpy(b + k * u, unit, u);
    b[u * n] = '\0';
    return b;
}

#define THUMB_TONE "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD" /* U+1F44D U+1F3FD */
#define FAMILY                                                                          \
    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D" \
    "\xF0\x9F\x91\xA6" /* man ZWJ woman ZWJ girl ZWJ boy */
#define FLAG_FR "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7"  /* regional indicators F R */
#define E_COMB "e\xCC\x81"                          /* e U+0301 */
#define HEART_VS "\xE2\x9D\xA4\xEF\xB8\x8F"         /* U+2764 U+FE0F */
#define KEYCAP_1 "1\xEF\xB8\x8F\xE2\x83\xA3"        /* 1 U+FE0F U+20E3 */
#define CJK_NIHON "\xE6\x97\xA5\xE6\x9C\xAC"        /* U+65E5 U+672C */
#define GRIN "\xF0\x9F\x98\x80"                     /* U+1F600 */

static void test_code_points(void **state)
{
    (void)state;
    assert_int_equal(CP(""), 0);
    assert_int_equal(CP("abc"), 3);
    assert_int_equal(CP("\xC3\xA9t\xC3\xA9"), 3);
    assert_int_equal(CP(THUMB_TONE), 2);
    assert_int_equal(CP(FAMILY), 7);
    assert_int_equal(CP("a\xFF" "b"), 3); /* a malformed byte counts one */
    assert_int_equal(CP("\xF0\x9F"), 2);   /* truncated sequence */
}

static void test_graphemes(void **state)
{
    (void)state;
    assert_int_equal(GR(""), 0);
    assert_int_equal(GR("hello"), 5);
    assert_int_equal(GR(THUMB_TONE), 1);
    assert_int_equal(GR(FAMILY), 1);
    assert_int_equal(GR(FLAG_FR), 1);
    assert_int_equal(GR(FLAG_FR FLAG_FR), 2);
    assert_int_equal(GR("\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\xF0\x9F\x87\xAB"), 2); /* F R F */
    assert_int_equal(GR(E_COMB), 1);
    assert_int_equal(GR("caf" E_COMB "!"), 5);
    assert_int_equal(GR("e\xCC\x81\xCC\xA7"), 1); /* two combining marks */
    assert_int_equal(GR(HEART_VS), 1);
    assert_int_equal(GR(KEYCAP_1), 1);
    assert_int_equal(GR(CJK_NIHON), 2);
    assert_int_equal(GR("a" THUMB_TONE "b" FAMILY "c"), 5);
    assert_int_equal(GR("a\r\nb"), 3);
    /* A ZWJ not followed by an emoji joins nothing more. */
    assert_int_equal(GR(GRIN "\xE2\x80\x8D" "a"), 2);
}

static void test_x_weighted(void **state)
{
    (void)state;
    assert_int_equal(XW(""), 0);
    assert_int_equal(XW("hello"), 5);
    assert_int_equal(XW("\xC3\xA9t\xC3\xA9"), 3);
    assert_int_equal(XW(E_COMB), 1);
    assert_int_equal(XW(GRIN), 2);
    assert_int_equal(XW(THUMB_TONE), 2);
    assert_int_equal(XW(FAMILY), 2);
    assert_int_equal(XW(FLAG_FR), 2);
    assert_int_equal(XW(HEART_VS), 2);
    assert_int_equal(XW(KEYCAP_1), 2);
    assert_int_equal(XW("1"), 1);
    assert_int_equal(XW(CJK_NIHON), 4);
    assert_int_equal(XW("\xE3\x81\x82"), 2);      /* hiragana a */
    assert_int_equal(XW("\xED\x95\x9C"), 2);      /* hangul han */
    assert_int_equal(XW("\xEF\xBC\x81"), 2);      /* full-width ! */
    /* Links count 23 whatever their length, case-insensitive scheme. */
    assert_int_equal(XW("https://example.com/a/very/long/path/indeed/more/than/23"), 23);
    assert_int_equal(XW("http://x.y"), 23);
    assert_int_equal(XW("see https://example.com/" CJK_NIHON " now"), 4 + 23 + 4);
    assert_int_equal(XW("a\nHTTPS://E.COM\nb"), 1 + 1 + 23 + 1 + 1);
    assert_int_equal(XW("https:// x"), 10); /* no link: 8 + space + x */
    assert_int_equal(XW("https://"), 8);
    assert_int_equal(XW("ftp://example.com"), 17);
}

static void test_published_text(void **state)
{
    (void)state;
    size_t len;
    char *t = ctl_rules_published_text("hello", NULL, &len);
    assert_string_equal(t, "hello");
    assert_int_equal(len, 5);
    free(t);
    t = ctl_rules_published_text("hello", "https://e.com/x", &len);
    assert_string_equal(t, "hello\n\nhttps://e.com/x");
    assert_int_equal(len, strlen(t));
    free(t);
    t = ctl_rules_published_text("read https://e.com/x now", "https://e.com/x", &len);
    assert_string_equal(t, "read https://e.com/x now");
    free(t);
    t = ctl_rules_published_text("hello", "", &len);
    assert_string_equal(t, "hello");
    free(t);
}

static void test_check_x(void **state)
{
    (void)state;
    char err[512];
    char *t = s_rep("a", 280);
    assert_int_equal(ctl_rules_check("x", t, strlen(t), err, sizeof err), 0);
    free(t);
    t = s_rep("a", 281);
    assert_int_equal(ctl_rules_check("x", t, strlen(t), err, sizeof err), -1);
    assert_string_equal(err, "this text is 281 weighted characters on X; X allows 280 (each "
                             "link counts 23, emoji and CJK characters count 2)");
    free(t);
    t = s_rep(THUMB_TONE, 140);
    assert_int_equal(ctl_rules_check("x", t, strlen(t), err, sizeof err), 0);
    free(t);
    t = s_rep("\xE6\x97\xA5", 141); /* 141 code points: the database would accept it */
    assert_int_equal(ctl_rules_check("x", t, strlen(t), err, sizeof err), -1);
    assert_non_null(strstr(err, "this text is 282 weighted characters on X"));
    free(t);
}

static void test_check_bluesky(void **state)
{
    (void)state;
    char err[512];
    char *t = s_rep(FAMILY, 300); /* 300 graphemes, 7500 bytes */
    assert_int_equal(ctl_rules_check("bluesky", t, strlen(t), err, sizeof err), -1);
    assert_string_equal(err, "this text is 7500 bytes of UTF-8 on Bluesky; Bluesky allows 3000 "
                             "bytes (emoji and non-Latin characters take 2 to 4 bytes each)");
    free(t);
    t = s_rep(THUMB_TONE, 300); /* 2400 bytes */
    assert_int_equal(ctl_rules_check("bluesky", t, strlen(t), err, sizeof err), 0);
    free(t);
    t = s_rep(THUMB_TONE, 301);
    assert_int_equal(ctl_rules_check("bluesky", t, strlen(t), err, sizeof err), -1);
    assert_non_null(strstr(err, "this text is 301 characters (graphemes) on Bluesky; "
                                "Bluesky allows 300"));
    free(t);
    t = s_rep(E_COMB, 300);
    assert_int_equal(ctl_rules_check("bluesky", t, strlen(t), err, sizeof err), 0);
    free(t);
}

static void test_check_others(void **state)
{
    (void)state;
    char err[512];
    static const struct {
        const char *platform;
        size_t max;
        const char *reason;
    } cases[] = {
        {"threads", 500, "this text is 501 characters on Threads; Threads allows 500 characters"},
        {"instagram", 2200, "this text is 2201 characters on Instagram; Instagram allows 2200 "
                            "characters in a caption"},
        {"linkedin", 3000,
         "this text is 3001 characters on LinkedIn; LinkedIn allows 3000 characters"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char *t = s_rep("\xC3\xA9", cases[k].max);
        assert_int_equal(ctl_rules_check(cases[k].platform, t, strlen(t), err, sizeof err), 0);
        free(t);
        t = s_rep("\xC3\xA9", cases[k].max + 1);
        assert_int_equal(ctl_rules_check(cases[k].platform, t, strlen(t), err, sizeof err), -1);
        assert_string_equal(err, cases[k].reason);
        free(t);
    }
    /* Mastodon's limit is the instance's: left to the database. */
    char *t = s_rep("a", 5000);
    assert_int_equal(ctl_rules_check("mastodon", t, strlen(t), err, sizeof err), 0);
    assert_int_equal(ctl_rules_check("facebook", t, strlen(t), err, sizeof err), 0);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_points),    cmocka_unit_test(test_graphemes),
        cmocka_unit_test(test_x_weighted),     cmocka_unit_test(test_published_text),
        cmocka_unit_test(test_check_x),        cmocka_unit_test(test_check_bluesky),
        cmocka_unit_test(test_check_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
