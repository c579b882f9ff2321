/* Unit tests of crieurctl's platform text rules (ctl_rules): code points,
 * approximate grapheme clusters (Bluesky), X's weighted length, the text as
 * published, and each platform's limit and reason; media (image sniffing,
 * inspecting files and URLs, per-platform counts, sizes, URL-only and reply
 * rules) and the form of --reply-to. */
#include "ctl_rules.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* --- media --------------------------------------------------------------- */

static void test_media_sniff(void **state)
{
    (void)state;
    static const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10};
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0};
    static const unsigned char webp[] = "RIFF\x10\0\0\0WEBPVP8 ";
    assert_string_equal(ctl_media_sniff(jpeg, sizeof jpeg), "JPEG");
    assert_string_equal(ctl_media_sniff(png, sizeof png), "PNG");
    assert_string_equal(ctl_media_sniff((const unsigned char *)"GIF87a..", 8), "GIF");
    assert_string_equal(ctl_media_sniff((const unsigned char *)"GIF89a", 6), "GIF");
    assert_string_equal(ctl_media_sniff(webp, 16), "WebP");
    assert_null(ctl_media_sniff(jpeg, 2));                                   /* truncated */
    assert_null(ctl_media_sniff(png, 7));
    assert_null(ctl_media_sniff((const unsigned char *)"RIFF\0\0\0\0WAVE", 12)); /* audio */
    assert_null(ctl_media_sniff((const unsigned char *)"GIF90a", 6));
    assert_null(ctl_media_sniff((const unsigned char *)"<html>", 6));
    assert_null(ctl_media_sniff(NULL, 0));
}

/* Writes n bytes (head, then 'a's) to a new file in dir; returns its path. */
static char *s_file(const char *dir, const char *name, const void *head, size_t hl, size_t n)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    assert_non_null(path);
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(head, 1, hl, f), hl);
    for (size_t k = hl; k < n; k++) fputc('a', f);
    fclose(f);
    return path;
}

static void test_media_inspect(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_ctl_rules.XXXXXX", err[512];
    assert_non_null(mkdtemp(dir));
    ctl_media_t m;
    char *jpg = s_file(dir, "a.jpg", "\xFF\xD8\xFF", 3, 1000);
    char *txt = s_file(dir, "b.jpg", "hello", 5, 5);
    char *empty = s_file(dir, "c.png", "", 0, 0);

    assert_int_equal(ctl_media_inspect(jpg, &m, err, sizeof err), 0);
    assert_int_equal(m.src, CTL_MEDIA_FILE);
    assert_int_equal(m.bytes, 1000);
    assert_string_equal(m.type, "JPEG");
    assert_ptr_equal(m.ref, jpg);
    char url[600];
    snprintf(url, sizeof url, "file://%s", jpg);
    assert_int_equal(ctl_media_inspect(url, &m, err, sizeof err), 0);
    assert_int_equal(m.src, CTL_MEDIA_FILE);

    assert_int_equal(ctl_media_inspect("https://cdn.example.com/a.jpg?x=1", &m, err, sizeof err), 0);
    assert_int_equal(m.src, CTL_MEDIA_URL);
    assert_int_equal(m.bytes, -1);
    assert_null(m.type);
    assert_int_equal(ctl_media_inspect("HTTP://cdn.example.com/a", &m, err, sizeof err), 0);

    assert_int_equal(ctl_media_inspect(txt, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a JPEG, PNG, GIF or WebP image"));
    assert_int_equal(ctl_media_inspect(empty, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a JPEG, PNG, GIF or WebP image"));
    assert_int_equal(ctl_media_inspect(dir, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a regular file"));
    assert_int_equal(ctl_media_inspect("a.jpg", &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "neither an http(s) URL nor an absolute file path"));
    assert_int_equal(ctl_media_inspect("", &m, err, sizeof err), -1);
    assert_int_equal(ctl_media_inspect("ftp://example.com/a.jpg", &m, err, sizeof err), -1);
    assert_int_equal(ctl_media_inspect("https://", &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "is not a usable URL"));
    assert_int_equal(ctl_media_inspect("https:///a.jpg", &m, err, sizeof err), -1);
    assert_int_equal(ctl_media_inspect("https://exa mple.com/a.jpg", &m, err, sizeof err), -1);
    assert_int_equal(ctl_media_inspect("/nonexistent/crieur/a.jpg", &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot be read: No such file or directory"));
    if (geteuid() != 0) { /* root reads anything */
        assert_int_equal(chmod(jpg, 0), 0);
        assert_int_equal(ctl_media_inspect(jpg, &m, err, sizeof err), -1);
        assert_non_null(strstr(err, "cannot be read: Permission denied"));
    }

    unlink(jpg);
    unlink(txt);
    unlink(empty);
    rmdir(dir);
    free(jpg);
    free(txt);
    free(empty);
}

static ctl_media_t s_url(const char *u)
{
    ctl_media_t m = {u, CTL_MEDIA_URL, -1, NULL};
    return m;
}

static ctl_media_t s_img(const char *path, long long bytes)
{
    ctl_media_t m = {path, CTL_MEDIA_FILE, bytes, "PNG"};
    return m;
}

static void test_media_rules(void **state)
{
    (void)state;
    char err[512];
    ctl_media_t m[5];
    for (int k = 0; k < 5; k++) m[k] = s_img("/m/a.png", 1000);

    /* counts */
    static const struct {
        const char *platform;
        size_t max;
        const char *name;
    } counts[] = {
        {"mastodon", 4, "Mastodon"}, {"bluesky", 4, "Bluesky"},   {"x", 4, "X"},
        {"facebook", 1, "Facebook"}, {"linkedin", 1, "LinkedIn"},
    };
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        assert_int_equal(ctl_rules_check_media(counts[k].platform, m, counts[k].max, 0, 0, err,
                                               sizeof err), 0);
        assert_int_equal(ctl_rules_check_media(counts[k].platform, m, counts[k].max + 1, 0, 0,
                                               err, sizeof err), -1);
        char want[128];
        snprintf(want, sizeof want, "%zu images: %s takes at most %zu per post",
                 counts[k].max + 1, counts[k].name, counts[k].max);
        assert_string_equal(err, want);
        assert_int_equal(ctl_rules_check_media(counts[k].platform, m, 0, 0, 0, err, sizeof err), 0);
    }

    /* sizes: Bluesky 2,000,000 bytes, X 5 MB (5,242,880); Mastodon not checked here */
    m[0] = s_img("/m/big.png", 2000000);
    assert_int_equal(ctl_rules_check_media("bluesky", m, 1, 0, 0, err, sizeof err), 0);
    m[0] = s_img("/m/big.png", 2000001);
    assert_int_equal(ctl_rules_check_media("bluesky", m, 1, 0, 0, err, sizeof err), -1);
    assert_string_equal(err, "media '/m/big.png' is 2000001 bytes; Bluesky takes images of at "
                             "most 2000000 bytes: make it smaller");
    assert_int_equal(ctl_rules_check_media("x", m, 1, 0, 0, err, sizeof err), 0);
    m[1] = s_img("/m/huge.png", 5242881);
    assert_int_equal(ctl_rules_check_media("x", m, 2, 0, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "media '/m/huge.png' is 5242881 bytes; X takes images of at most "
                                "5242880 bytes"));
    m[1] = s_img("/m/huge.png", 5242880);
    assert_int_equal(ctl_rules_check_media("x", m, 2, 0, 0, err, sizeof err), 0);
    m[0] = s_img("/m/huge.png", 50000000);
    assert_int_equal(ctl_rules_check_media("mastodon", m, 1, 0, 0, err, sizeof err), 0);
    /* a URL's size is unknown until downloaded: not refused here */
    m[0] = s_url("https://cdn.example.com/a.png");
    assert_int_equal(ctl_rules_check_media("bluesky", m, 1, 0, 0, err, sizeof err), 0);

    /* Instagram and Threads: one image, by URL */
    for (int k = 0; k < 2; k++) {
        const char *pl = k ? "threads" : "instagram", *name = k ? "Threads" : "Instagram";
        m[0] = s_url("https://cdn.example.com/a.png");
        assert_int_equal(ctl_rules_check_media(pl, m, 1, 0, 0, err, sizeof err), 0);
        m[1] = s_url("https://cdn.example.com/b.png");
        assert_int_equal(ctl_rules_check_media(pl, m, 2, 0, 0, err, sizeof err), -1);
        m[0] = s_img("/m/a.png", 10);
        assert_int_equal(ctl_rules_check_media(pl, m, 1, 0, 0, err, sizeof err), -1);
        char want[256];
        snprintf(want, sizeof want, "%s fetches images by URL: media '/m/a.png' is a local file; "
                                    "put it on a public web server and give its https:// URL",
                 name);
        assert_string_equal(err, want);
    }
    /* an Instagram post needs an image (a media URL or a link); a reply does not */
    assert_int_equal(ctl_rules_check_media("instagram", m, 0, 0, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "an Instagram post needs an image"));
    assert_int_equal(ctl_rules_check_media("instagram", m, 0, 0, 1, err, sizeof err), 0);
    assert_int_equal(ctl_rules_check_media("instagram", m, 0, 1, 0, err, sizeof err), 0);

    /* Facebook and Instagram replies are comments: text only */
    m[0] = s_url("https://cdn.example.com/a.png");
    assert_int_equal(ctl_rules_check_media("facebook", m, 1, 1, 0, err, sizeof err), -1);
    assert_string_equal(err, "Facebook replies are comments, which carry text only: remove "
                             "--media or publish a post instead of a reply");
    assert_int_equal(ctl_rules_check_media("instagram", m, 1, 1, 0, err, sizeof err), -1);
    assert_int_equal(ctl_rules_check_media("threads", m, 1, 1, 0, err, sizeof err), 0);
    assert_int_equal(ctl_rules_check_media("mastodon", m, 1, 1, 0, err, sizeof err), 0);

    /* a platform whose rules crieurctl does not know: no media */
    assert_int_equal(ctl_rules_check_media("myspace", m, 0, 0, 0, err, sizeof err), 0);
    assert_int_equal(ctl_rules_check_media("myspace", m, 1, 0, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not know the media rules of platform 'myspace'"));
}

static void test_reply(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(ctl_rules_check_reply_form("1445880548472328192", err, sizeof err), 0);
    assert_int_equal(ctl_rules_check_reply_form("123_456", err, sizeof err), 0);
    assert_int_equal(ctl_rules_check_reply_form("12 34", err, sizeof err), -1);
    assert_string_equal(err, "--reply-to must be the platform id of the post answered, without "
                             "spaces or control characters (offset 2)");
    assert_int_equal(ctl_rules_check_reply_form(" 1234", err, sizeof err), -1);
    assert_int_equal(ctl_rules_check_reply_form("1234\n", err, sizeof err), -1);
    assert_int_equal(ctl_rules_check_reply_form("12\t34", err, sizeof err), -1);
    assert_int_equal(ctl_rules_check_reply_form("", err, sizeof err), -1);
    assert_non_null(strstr(err, "--reply-to is empty"));
    char *long_id = s_rep("9", 2049);
    assert_int_equal(ctl_rules_check_reply_form(long_id, err, sizeof err), -1);
    assert_non_null(strstr(err, "2049 bytes"));
    long_id[2048] = '\0';
    assert_int_equal(ctl_rules_check_reply_form(long_id, err, sizeof err), 0);
    free(long_id);

    const char *uri = "at://did:plc:abc123/app.bsky.feed.post/3k2yihcrp6f2c";
    assert_int_equal(ctl_rules_check_reply("bluesky", uri, err, sizeof err), 0);
    assert_int_equal(ctl_rules_check_reply("bluesky", "3k2yihcrp6f2c", err, sizeof err), -1);
    assert_non_null(strstr(err, "on Bluesky --reply-to is the at:// URI of the post answered"));
    assert_int_equal(ctl_rules_check_reply("bluesky", "at:///app.bsky.feed.post/x", err, sizeof err), -1);
    assert_int_equal(ctl_rules_check_reply("bluesky", "at://did:plc:a/app.bsky.feed.post/", err, sizeof err), -1);
    assert_int_equal(ctl_rules_check_reply("bluesky", "at://did:plc:a/app.bsky.feed.like/x", err, sizeof err), -1);
    assert_int_equal(ctl_rules_check_reply("bluesky", "at://did:plc:a/app.bsky.feed.post/x/y", err, sizeof err), -1);
    assert_int_equal(ctl_rules_check_reply("x", "1445880548472328192", err, sizeof err), 0);
    assert_int_equal(ctl_rules_check_reply("mastodon", "109372843234", err, sizeof err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_points),    cmocka_unit_test(test_graphemes),
        cmocka_unit_test(test_x_weighted),     cmocka_unit_test(test_published_text),
        cmocka_unit_test(test_check_x),        cmocka_unit_test(test_check_bluesky),
        cmocka_unit_test(test_check_others),   cmocka_unit_test(test_media_sniff),
        cmocka_unit_test(test_media_inspect),  cmocka_unit_test(test_media_rules),
        cmocka_unit_test(test_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
