/* Unit tests of crieurctl's secrets (ctl_secret): sealing as bytea text and
 * opening it back, reading a secret from a file, standard input, the
 * environment or the command line with its refusals; the input checks of
 * alert channels (http(s) URL, e-mail address, SMTP URL); and the parsing
 * of repeatable options and of --secret-key-file. */
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_secret.h"
#include "ctl_util.h"

#include "cr_secret.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char s_dir[] = "/tmp/test_ctl_secret.XXXXXX";

static int s_setup(void **state)
{
    (void)state;
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void s_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", s_dir, name);
}

static void s_write(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void test_seal_bytea(void **state)
{
    (void)state;
    char path[256], err[256];
    s_path(path, sizeof path, "key");
    assert_int_equal(cr_secret_key_generate(path, err, sizeof err), 0);
    ctl_t ctl = {.secret_key_file = path};
    cr_secret_key_t *key = NULL;
    assert_int_equal(ctl_secret_key(&ctl, &key), CTL_OK);
    assert_non_null(key);

    const char *plain = "tok-Zq8s3cr3t";
    char *a = ctl_secret_seal_bytea(key, plain, strlen(plain));
    char *b = ctl_secret_seal_bytea(key, plain, strlen(plain));
    assert_non_null(a);
    assert_non_null(b);
    assert_memory_equal(a, "\\x01", 4); /* bytea hex input, version 1 */
    assert_int_equal(strlen(a), 2 + 2 * (strlen(plain) + CR_SECRET_OVERHEAD));
    assert_string_not_equal(a, b); /* a fresh nonce each time */
    assert_null(strstr(a, "s3cr3t"));

    size_t n = 0, pn = 0;
    uint8_t *raw = cr_hex_decode(a, &n);
    assert_non_null(raw);
    char *back = cr_secret_open(key, raw, n, &pn);
    assert_non_null(back);
    assert_string_equal(back, plain);
    assert_int_equal(pn, strlen(plain));
    cr_secret_plain_free(back);
    /* another key cannot open it */
    char path2[256];
    s_path(path2, sizeof path2, "key2");
    assert_int_equal(cr_secret_key_generate(path2, err, sizeof err), 0);
    cr_secret_key_t *other = cr_secret_key_load(path2, err, sizeof err);
    assert_non_null(other);
    assert_string_not_equal(cr_secret_key_id(other), cr_secret_key_id(key));
    assert_null(cr_secret_open(other, raw, n, NULL));
    free(raw);
    free(a);
    free(b);
    cr_secret_key_free(&other);
    cr_secret_key_free(&key);

    /* a missing or bad key is a usage error */
    s_path(path, sizeof path, "nokey");
    ctl.secret_key_file = path;
    assert_int_equal(ctl_secret_key(&ctl, &key), CTL_USAGE);
    assert_null(key);
}

static const ctl_opt_t s_opts[] = {
    {"token-file", "FILE", ""}, {"token-env", "VAR", ""}, {"token", "TOKEN", ""},
    {"media", "M", ""},         {"one", "X", ""},         {NULL, NULL, NULL},
};
static int s_run(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    (void)ctl;
    (void)cmd;
    (void)args;
    return 0;
}
static const ctl_command_t s_cmd = {
    .group = "t", .sub = "secret", .synopsis = "", .summary = "test", .opts = s_opts,
    .max_pos = 1, .repeatable = "media", .run = s_run,
};
static const ctl_secret_src_t s_src = {"the access token", "token-file", "token-env", "token"};
static const ctl_secret_src_t s_src_noarg = {"the refresh token", "token-file", "token-env", NULL};

/* Parses argv (NULL-terminated) into a. */
static int s_parse(ctl_t *ctl, ctl_args_t *a, const char *const *argv)
{
    int argc = 0;
    while (argv[argc]) argc++;
    return ctl_args_parse(ctl, &s_cmd, argc, (char **)argv, a);
}

static int s_read(const char *const *argv, int required, char **out)
{
    ctl_t ctl = {0};
    ctl_args_t a;
    assert_int_equal(s_parse(&ctl, &a, argv), CTL_OK);
    return ctl_secret_read(&s_cmd, &a, argv[0] && strcmp(argv[0], "--token") == 0 ? &s_src : &s_src_noarg,
                           required, out);
}

static void test_secret_read(void **state)
{
    (void)state;
    char path[256];
    char *s = NULL;
    s_path(path, sizeof path, "tok");
    s_write(path, "  abc-123\r\n\n", 12);
    assert_int_equal(s_read((const char *[]){"--token-file", path, NULL}, 1, &s), CTL_OK);
    assert_string_equal(s, "abc-123");
    ctl_secret_free(&s);
    assert_null(s);
    ctl_secret_free(&s); /* safe twice */

    setenv("CTL_TEST_SECRET", "from-env", 1);
    assert_int_equal(s_read((const char *[]){"--token-env", "CTL_TEST_SECRET", NULL}, 1, &s), CTL_OK);
    assert_string_equal(s, "from-env");
    ctl_secret_free(&s);
    assert_int_equal(s_read((const char *[]){"--token", "on-the-line", NULL}, 1, &s), CTL_OK);
    assert_string_equal(s, "on-the-line");
    ctl_secret_free(&s);

    /* none given: fine when optional, an error when required */
    assert_int_equal(s_read((const char *[]){NULL}, 0, &s), CTL_OK);
    assert_null(s);
    assert_int_equal(s_read((const char *[]){NULL}, 1, &s), CTL_USAGE);
    /* two sources */
    assert_int_equal(s_read((const char *[]){"--token-file", path, "--token-env", "CTL_TEST_SECRET",
                                             NULL},
                            1, &s),
                     CTL_USAGE);
    assert_null(s);
    /* refusals: unset variable, missing file, empty, control character, NUL, bad UTF-8 */
    unsetenv("CTL_TEST_NO_SUCH");
    assert_int_equal(s_read((const char *[]){"--token-env", "CTL_TEST_NO_SUCH", NULL}, 1, &s),
                     CTL_USAGE);
    s_path(path, sizeof path, "missing");
    assert_int_equal(s_read((const char *[]){"--token-file", path, NULL}, 1, &s), CTL_USAGE);
    static const struct {
        const char *data;
        size_t n;
    } bad[] = {{"", 0}, {" \n\n", 3}, {"ab\tcd", 5}, {"ab\x1b" "cd", 5}, {"ab\0cd", 5},
               {"ab\xff", 3}, {"a\x7f", 2}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        s_path(path, sizeof path, "bad");
        s_write(path, bad[k].data, bad[k].n);
        assert_int_equal(s_read((const char *[]){"--token-file", path, NULL}, 1, &s), CTL_USAGE);
        assert_null(s);
    }
    /* too large */
    char *big = malloc(CTL_SECRET_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', CTL_SECRET_MAX + 1);
    s_write(path, big, CTL_SECRET_MAX + 1);
    assert_int_equal(s_read((const char *[]){"--token-file", path, NULL}, 1, &s), CTL_USAGE);
    s_write(path, big, CTL_SECRET_MAX);
    assert_int_equal(s_read((const char *[]){"--token-file", path, NULL}, 1, &s), CTL_OK);
    assert_int_equal(strlen(s), CTL_SECRET_MAX);
    ctl_secret_free(&s);
    free(big);
}

static void test_checks(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(ctl_check_http_url("https://hooks.example.com/services/T0/B0/x"), 0);
    assert_int_equal(ctl_check_http_url("http://127.0.0.1:8080/hook?x=1"), 0);
    assert_int_equal(ctl_check_http_url("https://h"), 0);
    assert_int_equal(ctl_check_http_url("ftp://example.com/"), -1);
    assert_int_equal(ctl_check_http_url("https://"), -1);
    assert_int_equal(ctl_check_http_url("https:///path"), -1);
    assert_int_equal(ctl_check_http_url("https://a b/"), -1);
    assert_int_equal(ctl_check_http_url("https://example.com/a\tb"), -1);
    assert_int_equal(ctl_check_http_url("hooks.example.com/x"), -1);
    assert_int_equal(ctl_check_http_url(NULL), -1);

    assert_int_equal(ctl_check_email("ops@example.com"), 0);
    assert_int_equal(ctl_check_email("a.b+c@d"), 0);
    assert_int_equal(ctl_check_email("ops"), -1);
    assert_int_equal(ctl_check_email("@example.com"), -1);
    assert_int_equal(ctl_check_email("ops@"), -1);
    assert_int_equal(ctl_check_email("a@b@c"), -1);
    assert_int_equal(ctl_check_email("o ps@example.com"), -1);
    assert_int_equal(ctl_check_email("Ops <ops@example.com>"), -1);
    assert_int_equal(ctl_check_email("a@b,c@d"), -1);
    assert_int_equal(ctl_check_email("\"a\"@b"), -1);
    assert_int_equal(ctl_check_email(""), -1);

    assert_int_equal(ctl_check_smtp_url("smtp://mail.example.com:587", err, sizeof err), 0);
    assert_int_equal(ctl_check_smtp_url("smtps://127.0.0.1:465", err, sizeof err), 0);
    assert_int_equal(ctl_check_smtp_url("smtp://mail.example.com", err, sizeof err), 0);
    assert_int_equal(ctl_check_smtp_url("http://mail:25", err, sizeof err), -1);
    assert_non_null(strstr(err, "--smtp must be smtp://HOST:PORT or smtps://HOST:PORT"));
    assert_int_equal(ctl_check_smtp_url("smtp://:25", err, sizeof err), -1);
    assert_int_equal(ctl_check_smtp_url("smtp://m:0", err, sizeof err), -1);
    assert_int_equal(ctl_check_smtp_url("smtp://m:65536", err, sizeof err), -1);
    assert_non_null(strstr(err, "port"));
    assert_int_equal(ctl_check_smtp_url("smtp://m:25x", err, sizeof err), -1);
    assert_int_equal(ctl_check_smtp_url("smtp://m:25/path", err, sizeof err), -1);
    assert_int_equal(ctl_check_smtp_url("smtp://user@m:25", err, sizeof err), -1);
    assert_int_equal(ctl_check_smtp_url("smtp://m :25", err, sizeof err), -1);
}

static void test_args_repeat_and_key(void **state)
{
    (void)state;
    ctl_t ctl = {0};
    ctl_args_t a;
    const char *all[CTL_MAX_MULTI];
    assert_int_equal(s_parse(&ctl, &a, (const char *[]){"--media", "/a.png", "--one", "x",
                                                        "--media=https://h/b.png", "--media", "/c",
                                                        "--secret-key-file", "/k", NULL}),
                     CTL_OK);
    assert_int_equal(ctl_args_get_all(&s_cmd, &a, "media", all, CTL_MAX_MULTI), 3);
    assert_string_equal(all[0], "/a.png");
    assert_string_equal(all[1], "https://h/b.png");
    assert_string_equal(all[2], "/c");
    assert_string_equal(ctl_args_get(&s_cmd, &a, "media"), "/a.png");
    assert_int_equal(ctl_args_get_all(&s_cmd, &a, "media", all, 1), 3); /* counts beyond max */
    assert_int_equal(ctl_args_get_all(&s_cmd, &a, "one", all, CTL_MAX_MULTI), 1);
    assert_string_equal(all[0], "x");
    assert_int_equal(ctl_args_get_all(&s_cmd, &a, "token", all, CTL_MAX_MULTI), 0);
    assert_string_equal(ctl.secret_key_file, "/k");
    /* a non-repeatable option twice is still an error */
    assert_int_equal(s_parse(&ctl, &a, (const char *[]){"--one", "x", "--one", "y", NULL}),
                     CTL_USAGE);
    /* at most CTL_MAX_MULTI repeated values */
    const char *many[2 * CTL_MAX_MULTI + 3];
    int n = 0;
    for (int k = 0; k <= CTL_MAX_MULTI; k++) {
        many[n++] = "--media";
        many[n++] = "/x";
    }
    many[n] = NULL;
    assert_int_equal(s_parse(&ctl, &a, many), CTL_USAGE);
    many[n - 2] = NULL;
    assert_int_equal(s_parse(&ctl, &a, many), CTL_OK);
    assert_int_equal(ctl_args_get_all(&s_cmd, &a, "media", all, CTL_MAX_MULTI), CTL_MAX_MULTI);
    /* --secret-key-file needs a value */
    assert_int_equal(s_parse(&ctl, &a, (const char *[]){"--secret-key-file", NULL}), CTL_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_bytea),
        cmocka_unit_test(test_secret_read),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_args_repeat_and_key),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
