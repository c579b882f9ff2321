/* Unit tests of crieurctl's modules that need no database: WHEN parsing,
 * UTF-8 display widths and cutting, aligned tables and their JSON, text
 * checks, and command-line parsing. */
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_table.h"
#include "ctl_util.h"
#include "ctl_when.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_when_delay(void **state)
{
    ctl_when_t w;
    assert_int_equal(ctl_when_parse("now", &w), 0);
    assert_int_equal(w.kind, CTL_WHEN_DELAY);
    assert_int_equal(w.delay_ms, 0);
    assert_int_equal(ctl_when_parse("+90s", &w), 0);
    assert_int_equal(w.delay_ms, 90000);
    assert_int_equal(ctl_when_parse("+10m", &w), 0);
    assert_int_equal(w.delay_ms, 600000);
    assert_int_equal(ctl_when_parse("+2h", &w), 0);
    assert_int_equal(w.delay_ms, 7200000);
    assert_int_equal(ctl_when_parse("+1d", &w), 0);
    assert_int_equal(w.delay_ms, 86400000);
    /* Malformed, and too large to be meant (also: no int64 overflow). */
    const char *bad[] = {"+", "+m", "+10", "+10x", "-10m", "+ 10m", "+999999999999d",
                         "+4000d", "NOW", "now ", ""};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
        assert_int_equal(ctl_when_parse(bad[k], &w), -1);
}

static void test_when_local(void **state)
{
    ctl_when_t w;
    assert_int_equal(ctl_when_parse("2027-01-15 10:00", &w), 0);
    assert_int_equal(w.kind, CTL_WHEN_LOCAL);
    assert_string_equal(w.text, "2027-01-15 10:00:00");
    assert_int_equal(ctl_when_parse("2027-01-15T10:00:30", &w), 0);
    assert_int_equal(w.kind, CTL_WHEN_LOCAL);
    assert_string_equal(w.text, "2027-01-15 10:00:30");
    assert_int_equal(ctl_when_parse("2028-02-29 23:59:59", &w), 0); /* leap day */
    const char *bad[] = {"2027-02-29 10:00", "2027-13-01 10:00", "2027-00-10 10:00",
                         "2027-01-32 10:00", "2027-01-15 24:00", "2027-01-15 10:60",
                         "2027-01-15 10:00:60", "2027-01-15", "2027-1-15 10:00",
                         "15/01/2027 10:00", "2027-01-15 10:00:00.5", "2027-01-15 10:00 ",
                         "1969-12-31 23:00", "2027-01-15 10"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        if (ctl_when_parse(bad[k], &w) != -1) fail_msg("accepted '%s'", bad[k]);
    }
}

static void test_when_absolute(void **state)
{
    ctl_when_t w;
    assert_int_equal(ctl_when_parse("2027-01-15T10:00:00Z", &w), 0);
    assert_int_equal(w.kind, CTL_WHEN_ABSOLUTE);
    assert_string_equal(w.text, "2027-01-15T10:00:00.000Z");
    assert_int_equal(ctl_when_parse("2027-01-15T10:00+05:00", &w), 0);
    assert_string_equal(w.text, "2027-01-15T05:00:00.000Z");
    assert_int_equal(ctl_when_parse("2027-01-15 01:30:15.250-0230", &w), 0);
    assert_string_equal(w.text, "2027-01-15T04:00:15.250Z");
    assert_int_equal(ctl_when_parse("2027-01-01T00:30:00+01", &w), 0); /* crosses the year */
    assert_string_equal(w.text, "2026-12-31T23:30:00.000Z");
    const char *bad[] = {"2027-01-15T10:00:00+24:00", "2027-01-15T10:00:00+05:60",
                         "2027-01-15T10:00:00Zx", "2027-01-15T10:00:00+5", "2027-01-15T10:00:00 Z"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        if (ctl_when_parse(bad[k], &w) != -1) fail_msg("accepted '%s'", bad[k]);
    }
}

static void test_utf8_width(void **state)
{
    assert_int_equal(ctl_utf8_width(""), 0);
    assert_int_equal(ctl_utf8_width("abc"), 3);
    assert_int_equal(ctl_utf8_width("caf\xc3\xa9"), 4);         /* é precomposed */
    assert_int_equal(ctl_utf8_width("cafe\xcc\x81"), 4);        /* e + combining acute */
    assert_int_equal(ctl_utf8_width("\xe6\x97\xa5\xe6\x9c\xac"), 4); /* 日本 */
    assert_int_equal(ctl_utf8_width("\xe2\x98\x95"), 2);        /* ☕ */
    assert_int_equal(ctl_utf8_width("\xf0\x9f\x98\x80"), 2);    /* 😀 */
    assert_int_equal(ctl_utf8_width("a\xe2\x80\x8b" "b"), 2);   /* zero width space */
    assert_int_equal(ctl_utf8_width("\xff" "a"), 2);            /* invalid byte counts 1 */
    assert_int_equal(ctl_utf8_width("\xe6\x97"), 2);            /* truncated sequence */
}

static void test_utf8_fit(void **state)
{
    char buf[64];
    assert_int_equal(ctl_utf8_fit("hello", 0, buf, sizeof buf), 5);
    assert_string_equal(buf, "hello");
    assert_int_equal(ctl_utf8_fit("hello", 5, buf, sizeof buf), 5);
    assert_string_equal(buf, "hello");
    assert_int_equal(ctl_utf8_fit("hello world", 5, buf, sizeof buf), 5);
    assert_string_equal(buf, "hell\xe2\x80\xa6");
    /* Never cuts inside a character, and a wide one that does not fit goes. */
    assert_int_equal(ctl_utf8_fit("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 4, buf, sizeof buf), 3);
    assert_string_equal(buf, "\xe6\x97\xa5\xe2\x80\xa6");
    /* Control characters are shown as spaces. */
    ctl_utf8_fit("a\nb\tc", 0, buf, sizeof buf);
    assert_string_equal(buf, "a b c");
    /* A tiny buffer is respected. */
    assert_true(ctl_utf8_fit("abcdefgh", 0, buf, 6) <= 3);
    assert_true(strlen(buf) < 6);
    ctl_utf8_fit("abc", 0, buf, 2);
    assert_string_equal(buf, "");
}

static char *s_print(const ctl_table_t *t, int json)
{
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    assert_non_null(f);
    assert_int_equal(ctl_table_print(t, f, json), 0);
    fclose(f);
    return mem;
}

static void test_table(void **state)
{
    ctl_table_t *t = ctl_table_new();
    assert_non_null(t);
    assert_int_equal(ctl_table_add_column(t, "ID", "id", CTL_COL_NUM, 0), 0);
    assert_int_equal(ctl_table_add_column(t, "NAME", "name", 0, 6), 0);
    assert_int_equal(ctl_table_add_column(t, "OK", "ok", CTL_COL_BOOL, 0), 0);
    assert_int_equal(ctl_table_add_column(t, "SECRET", "secret", CTL_COL_JSON_ONLY, 0), 0);
    assert_int_equal(ctl_table_add_column(t, "NOTE", NULL, 0, 0), 0);
    const char *r1[] = {"7", "\xe6\x97\xa5\xe6\x9c\xac", "t", "s1", "x"};
    const char *r2[] = {"12", "a very long name", "f", NULL, NULL};
    assert_int_equal(ctl_table_add_row(t, r1), 0);
    assert_int_equal(ctl_table_add_row(t, r2), 0);
    assert_int_equal(ctl_table_nrows(t), 2);

    char *text = s_print(t, 0);
    assert_string_equal(text, "ID  NAME    OK  NOTE\n"
                              " 7  \xe6\x97\xa5\xe6\x9c\xac    t   x\n"
                              "12  a ver\xe2\x80\xa6  f\n");
    free(text);

    char *js = s_print(t, 1);
    json_t *doc = json_loads(js, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(json_array_size(doc), 2);
    json_t *o = json_array_get(doc, 0);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 7);
    assert_true(json_is_true(json_object_get(o, "ok")));
    assert_string_equal(json_string_value(json_object_get(o, "secret")), "s1");
    assert_null(json_object_get(o, "NOTE"));
    assert_int_equal(json_object_size(o), 4);
    o = json_array_get(doc, 1);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "a very long name");
    assert_true(json_is_null(json_object_get(o, "secret")));
    assert_true(json_is_false(json_object_get(o, "ok")));
    json_decref(doc);
    free(js);

    ctl_table_destroy(&t);
    assert_null(t);
    ctl_table_destroy(&t); /* safe twice */
}

static void test_check_text(void **state)
{
    char err[128];
    assert_int_equal(ctl_check_text("text", "ok \xc3\xa9", 5, err, sizeof err), 0);
    assert_int_equal(ctl_check_text("text", "ok \xff", 4, err, sizeof err), -1);
    assert_string_equal(err, "text is not valid UTF-8 (bad byte at offset 3)");
    assert_int_equal(ctl_check_text("text", "a\0b", 3, err, sizeof err), -1);
    assert_string_equal(err, "text contains a NUL byte at offset 1");
    size_t len = 4;
    char buf[] = "ab\r\n";
    ctl_chomp(buf, &len);
    assert_int_equal(len, 2);
    assert_string_equal(buf, "ab");

    long long id;
    long v;
    assert_int_equal(ctl_parse_id("42", &id), 0);
    assert_int_equal(id, 42);
    assert_int_equal(ctl_parse_id("0", &id), -1);
    assert_int_equal(ctl_parse_id("-3", &id), -1);
    assert_int_equal(ctl_parse_id(" 3", &id), -1);
    assert_int_equal(ctl_parse_id("3x", &id), -1);
    assert_int_equal(ctl_parse_id("99999999999999999999", &id), -1);
    assert_int_equal(ctl_parse_long("50", 1, 100, &v), 0);
    assert_int_equal(v, 50);
    assert_int_equal(ctl_parse_long("0", 1, 100, &v), -1);
    assert_int_equal(ctl_parse_long("", 1, 100, &v), -1);
}

static int s_run_dummy(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    return 0;
}

static const ctl_opt_t s_opts[] = {
    {"text", "TEXT", "text"},
    {"flag", NULL, "a flag"},
    {NULL, NULL, NULL},
};

static const ctl_command_t s_cmd = {
    .group = "post",
    .sub = "test",
    .synopsis = "ID [--text TEXT] [--flag]",
    .summary = "test",
    .pos_names = "ID",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_opts,
    .run = s_run_dummy,
};

static int s_parse(ctl_t *ctl, ctl_args_t *a, int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    for (int k = 0; k < argc; k++) argv[k] = va_arg(ap, char *);
    va_end(ap);
    return ctl_args_parse(ctl, &s_cmd, argc, argv, a);
}

static void test_args(void **state)
{
    ctl_t ctl = {0};
    ctl_args_t a;
    assert_int_equal(s_parse(&ctl, &a, 5, "12", "--text", "--not-an-option", "--json", "--flag"),
                     CTL_OK);
    assert_string_equal(a.pos[0], "12");
    assert_string_equal(ctl_args_get(&s_cmd, &a, "text"), "--not-an-option");
    assert_string_equal(ctl_args_get(&s_cmd, &a, "flag"), "1");
    assert_int_equal(ctl.json, 1);

    assert_int_equal(s_parse(&ctl, &a, 3, "--text=a=b", "--database=host=x", "-"), CTL_OK);
    assert_string_equal(ctl_args_get(&s_cmd, &a, "text"), "a=b");
    assert_string_equal(ctl.database, "host=x");
    assert_string_equal(a.pos[0], "-");
    assert_null(ctl_args_get(&s_cmd, &a, "flag"));

    assert_int_equal(s_parse(&ctl, &a, 3, "--", "--flag", "x"), CTL_USAGE); /* 2 positionals */
    assert_int_equal(s_parse(&ctl, &a, 2, "--", "--flag"), CTL_OK);
    assert_string_equal(a.pos[0], "--flag");

    assert_int_equal(s_parse(&ctl, &a, 0), CTL_USAGE);                        /* missing ID */
    assert_int_equal(s_parse(&ctl, &a, 2, "1", "--bogus"), CTL_USAGE);         /* unknown */
    assert_int_equal(s_parse(&ctl, &a, 2, "1", "--text"), CTL_USAGE);          /* no value */
    assert_int_equal(s_parse(&ctl, &a, 3, "1", "--flag=1", "x"), CTL_USAGE);   /* flag value */
    assert_int_equal(s_parse(&ctl, &a, 5, "1", "--text", "a", "--text", "b"), CTL_USAGE);
    assert_int_equal(s_parse(&ctl, &a, 3, "1", "--text", "bad \xff"), CTL_USAGE);
    assert_int_equal(s_parse(&ctl, &a, 1, "\xc3"), CTL_USAGE);
    assert_int_equal(s_parse(&ctl, &a, 2, "1", "-x"), CTL_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_when_delay),  cmocka_unit_test(test_when_local),
        cmocka_unit_test(test_when_absolute), cmocka_unit_test(test_utf8_width),
        cmocka_unit_test(test_utf8_fit),    cmocka_unit_test(test_table),
        cmocka_unit_test(test_check_text),  cmocka_unit_test(test_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
