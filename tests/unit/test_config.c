/* Unit tests of cr_config: precedence of defaults, file, environment and
 * flags; validation messages; --help; reload. Run under ASan, the leak
 * checker also verifies that cr_config_free releases every string. */
#include "cr_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct {
    char *endpoint;  /* string, not reloadable */
    long heartbeat;  /* int 10..60000, not reloadable */
    char *log_level; /* string, reloadable */
    long max_batch;  /* int 1..1000, reloadable */
    int dry_run;     /* bool, default false, not reloadable */
    int verbose;     /* bool, no default, reloadable */
    char *token;     /* string, no default */
    long offset;     /* int -100..100, no default */
    int cache;       /* bool, default true, reloadable */
} tcfg_t;

static const cr_opt_t s_table[] = {
    {"broker-endpoint", CR_OPT_STRING, "tcp://127.0.0.1:5555", 0, offsetof(tcfg_t, endpoint), 0,
     0, "where the broker listens"},
    {"heartbeat-ms", CR_OPT_INT, "1000", 0, offsetof(tcfg_t, heartbeat), 10, 60000,
     "heartbeat interval"},
    {"log-level", CR_OPT_STRING, "info", 1, offsetof(tcfg_t, log_level), 0, 0, "log level"},
    {"max-batch", CR_OPT_INT, "16", 1, offsetof(tcfg_t, max_batch), 1, 1000, "tasks per batch"},
    {"dry-run", CR_OPT_BOOL, "false", 0, offsetof(tcfg_t, dry_run), 0, 0, "do nothing"},
    {"verbose", CR_OPT_BOOL, NULL, 1, offsetof(tcfg_t, verbose), 0, 0, "say more"},
    {"token", CR_OPT_STRING, NULL, 0, offsetof(tcfg_t, token), 0, 0, "a secret"},
    {"offset", CR_OPT_INT, NULL, 0, offsetof(tcfg_t, offset), -100, 100, "a signed number"},
    {"cache", CR_OPT_BOOL, "true", 1, offsetof(tcfg_t, cache), 0, 0, "use the cache"},
    CR_OPT_END,
};

static const char *s_env_vars[] = {
    "CRIEUR_CONFIG",  "CRIEUR_BROKER_ENDPOINT", "CRIEUR_HEARTBEAT_MS", "CRIEUR_LOG_LEVEL",
    "CRIEUR_MAX_BATCH", "CRIEUR_DRY_RUN",       "CRIEUR_VERBOSE",      "CRIEUR_TOKEN",
    "CRIEUR_OFFSET",  "CRIEUR_CACHE",
};

typedef struct {
    char path[64];
    tcfg_t cfg;
    char err[512];
} fixture_t;

static int s_setup(void **state)
{
    for (size_t i = 0; i < sizeof s_env_vars / sizeof s_env_vars[0]; i++) unsetenv(s_env_vars[i]);
    fixture_t *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->path, sizeof f->path, "/tmp/crieur-test-config-XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0) {
        free(f);
        return -1;
    }
    close(fd);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    cr_config_free(s_table, &f->cfg);
    unlink(f->path);
    free(f);
    for (size_t i = 0; i < sizeof s_env_vars / sizeof s_env_vars[0]; i++) unsetenv(s_env_vars[i]);
    return 0;
}

static void s_write(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* Runs cr_config_load on a NULL-terminated argument list (argv[0] is added). */
#define LOAD(f, ...) s_load((f), (const char *[]){"/usr/bin/crieur-test", __VA_ARGS__, NULL})

static cr_config_rc_t s_load(fixture_t *f, const char **args)
{
    int argc = 0;
    while (args[argc]) argc++;
    /* A fresh run: release what a previous load in the same test allocated. */
    cr_config_free(s_table, &f->cfg);
    /* Garbage the loader must overwrite (and must not free). */
    memset(&f->cfg, 0x5A, sizeof f->cfg);
    f->err[0] = 'X';
    f->err[1] = '\0';
    return cr_config_load(s_table, &f->cfg, argc, (char **)args, "a test program", f->err,
                          sizeof f->err);
}

static void s_assert_err_has(const fixture_t *f, const char *needle)
{
    if (!strstr(f->err, needle)) fail_msg("error '%s' does not mention '%s'", f->err, needle);
}

static void test_defaults(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(s_load(f, (const char *[]){"prog", NULL}), CR_CONFIG_OK);
    assert_string_equal(f->err, "");
    assert_string_equal(f->cfg.endpoint, "tcp://127.0.0.1:5555");
    assert_int_equal(f->cfg.heartbeat, 1000);
    assert_string_equal(f->cfg.log_level, "info");
    assert_int_equal(f->cfg.max_batch, 16);
    assert_int_equal(f->cfg.dry_run, 0);
    assert_int_equal(f->cfg.verbose, 0);
    assert_non_null(f->cfg.token);
    assert_string_equal(f->cfg.token, "");
    assert_int_equal(f->cfg.offset, 0);
    assert_int_equal(f->cfg.cache, 1);
    assert_null(cr_config_file());
    /* argc 0 works too (no program name). */
    assert_int_equal(s_load(f, (const char *[]){NULL}), CR_CONFIG_OK);
    assert_int_equal(f->cfg.heartbeat, 1000);
}

static void test_file_overrides_default(void **state)
{
    fixture_t *f = *state;
    s_write(f->path, "# Crieur test configuration\n"
                     "\n"
                     "   heartbeat-ms   =   2000   \n"
                     "log-level = \"debug\"\n"
                     "\t# an indented comment\n"
                     "max_batch=32\n" /* underscores name the same option */
                     "dry-run = yes\n"
                     "cache = OFF\n"
                     "token = a=b=c\n" /* only the first '=' separates */
                     "offset = -7\n");
    assert_int_equal(LOAD(f, "--config", f->path), CR_CONFIG_OK);
    assert_string_equal(f->cfg.endpoint, "tcp://127.0.0.1:5555"); /* not in the file */
    assert_int_equal(f->cfg.heartbeat, 2000);
    assert_string_equal(f->cfg.log_level, "debug");
    assert_int_equal(f->cfg.max_batch, 32);
    assert_int_equal(f->cfg.dry_run, 1);
    assert_int_equal(f->cfg.cache, 0);
    assert_string_equal(f->cfg.token, "a=b=c");
    assert_int_equal(f->cfg.offset, -7);
    assert_non_null(cr_config_file());
    assert_string_equal(cr_config_file(), f->path);

    /* --config=FILE and CRIEUR_CONFIG name the file too. */
    char arg[128];
    snprintf(arg, sizeof arg, "--config=%s", f->path);
    assert_int_equal(LOAD(f, arg), CR_CONFIG_OK);
    assert_int_equal(f->cfg.heartbeat, 2000);
    setenv("CRIEUR_CONFIG", f->path, 1);
    assert_int_equal(s_load(f, (const char *[]){"prog", NULL}), CR_CONFIG_OK);
    assert_int_equal(f->cfg.heartbeat, 2000);
    assert_string_equal(cr_config_file(), f->path);
}

static void test_env_overrides_file(void **state)
{
    fixture_t *f = *state;
    s_write(f->path, "heartbeat-ms = 2000\nlog-level = debug\nbroker-endpoint = tcp://file:1\n");
    setenv("CRIEUR_HEARTBEAT_MS", "3000", 1);
    setenv("CRIEUR_LOG_LEVEL", "warn", 1);
    setenv("CRIEUR_MAX_BATCH", "64", 1);
    setenv("CRIEUR_DRY_RUN", "on", 1);
    assert_int_equal(LOAD(f, "--config", f->path), CR_CONFIG_OK);
    assert_int_equal(f->cfg.heartbeat, 3000);
    assert_string_equal(f->cfg.log_level, "warn");
    assert_int_equal(f->cfg.max_batch, 64);
    assert_int_equal(f->cfg.dry_run, 1);
    assert_string_equal(f->cfg.endpoint, "tcp://file:1"); /* no variable: the file wins */
}

static void test_flag_overrides_env(void **state)
{
    fixture_t *f = *state;
    s_write(f->path, "heartbeat-ms = 2000\nlog-level = debug\n");
    setenv("CRIEUR_HEARTBEAT_MS", "3000", 1);
    setenv("CRIEUR_LOG_LEVEL", "warn", 1);
    setenv("CRIEUR_BROKER_ENDPOINT", "tcp://env:2", 1);
    assert_int_equal(LOAD(f, "--heartbeat-ms", "4000", "--config", f->path, "--log-level=error"),
                     CR_CONFIG_OK);
    assert_int_equal(f->cfg.heartbeat, 4000);
    assert_string_equal(f->cfg.log_level, "error");
    assert_string_equal(f->cfg.endpoint, "tcp://env:2");

    /* Both forms, a negative value, an empty string, the last flag wins. */
    assert_int_equal(LOAD(f, "--heartbeat-ms=5000", "--offset", "-100", "--token=",
                          "--max-batch", "2", "--max-batch=3"),
                     CR_CONFIG_OK);
    assert_int_equal(f->cfg.heartbeat, 5000);
    assert_int_equal(f->cfg.offset, -100);
    assert_string_equal(f->cfg.token, "");
    assert_int_equal(f->cfg.max_batch, 3);
    /* A value may itself contain '=' and spaces. */
    assert_int_equal(LOAD(f, "--token=x=y z", "--broker-endpoint", "ipc:///tmp/a b"), CR_CONFIG_OK);
    assert_string_equal(f->cfg.token, "x=y z");
    assert_string_equal(f->cfg.endpoint, "ipc:///tmp/a b");
}

static void test_bool_flags(void **state)
{
    fixture_t *f = *state;
    /* Without a value: true, whether last or followed by another flag. */
    assert_int_equal(LOAD(f, "--dry-run"), CR_CONFIG_OK);
    assert_int_equal(f->cfg.dry_run, 1);
    assert_int_equal(LOAD(f, "--verbose", "--dry-run", "--max-batch", "5"), CR_CONFIG_OK);
    assert_int_equal(f->cfg.verbose, 1);
    assert_int_equal(f->cfg.dry_run, 1);
    assert_int_equal(f->cfg.max_batch, 5);
    /* With a value, in either form. */
    setenv("CRIEUR_CACHE", "false", 1);
    assert_int_equal(LOAD(f, "--cache"), CR_CONFIG_OK);
    assert_int_equal(f->cfg.cache, 1);
    unsetenv("CRIEUR_CACHE");
    assert_int_equal(LOAD(f, "--cache=false", "--verbose", "YES", "--dry-run", "0"), CR_CONFIG_OK);
    assert_int_equal(f->cfg.cache, 0);
    assert_int_equal(f->cfg.verbose, 1);
    assert_int_equal(f->cfg.dry_run, 0);
    assert_int_equal(LOAD(f, "--cache", "no", "--verbose=On"), CR_CONFIG_OK);
    assert_int_equal(f->cfg.cache, 0);
    assert_int_equal(f->cfg.verbose, 1);
    /* Not a boolean. */
    assert_int_equal(LOAD(f, "--dry-run=maybe"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "dry-run");
    s_assert_err_has(f, "maybe");
    s_assert_err_has(f, "flag --dry-run");
}

static void test_int_errors(void **state)
{
    fixture_t *f = *state;
    /* Out of range, from a flag. */
    assert_int_equal(LOAD(f, "--heartbeat-ms", "5"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "flag --heartbeat-ms");
    s_assert_err_has(f, "'heartbeat-ms'");
    s_assert_err_has(f, "10");
    s_assert_err_has(f, "60000");
    assert_int_equal(LOAD(f, "--offset=101"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "'offset'");
    assert_int_equal(LOAD(f, "--offset=-101"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "-101");
    /* Not a number, from a flag. */
    static const char *bad[] = {"12abc", "abc", "", "1.5", "0x10", "99999999999999999999999",
                                "-99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char arg[64];
        snprintf(arg, sizeof arg, "--max-batch=%s", bad[i]);
        assert_int_equal(LOAD(f, arg), CR_CONFIG_ERROR);
        s_assert_err_has(f, "flag --max-batch");
        s_assert_err_has(f, "integer");
    }
    /* From the environment: the variable is named. */
    setenv("CRIEUR_HEARTBEAT_MS", "fast", 1);
    assert_int_equal(s_load(f, (const char *[]){"prog", NULL}), CR_CONFIG_ERROR);
    s_assert_err_has(f, "CRIEUR_HEARTBEAT_MS");
    s_assert_err_has(f, "heartbeat-ms");
    s_assert_err_has(f, "fast");
    setenv("CRIEUR_HEARTBEAT_MS", "70000", 1);
    assert_int_equal(s_load(f, (const char *[]){"prog", NULL}), CR_CONFIG_ERROR);
    s_assert_err_has(f, "CRIEUR_HEARTBEAT_MS");
    s_assert_err_has(f, "70000");
    unsetenv("CRIEUR_HEARTBEAT_MS");
    /* From the file: file:line is named. */
    s_write(f->path, "# comment\nlog-level = info\nmax-batch = 0\n");
    assert_int_equal(LOAD(f, "--config", f->path), CR_CONFIG_ERROR);
    char where[128];
    snprintf(where, sizeof where, "%s:3", f->path);
    s_assert_err_has(f, where);
    s_assert_err_has(f, "max-batch");
    s_write(f->path, "max-batch = lots\n");
    assert_int_equal(LOAD(f, "--config", f->path), CR_CONFIG_ERROR);
    snprintf(where, sizeof where, "%s:1", f->path);
    s_assert_err_has(f, where);
    s_assert_err_has(f, "lots");
}

static void test_unknown_and_malformed(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(LOAD(f, "--bogus-option", "1"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "--bogus-option");
    assert_int_equal(LOAD(f, "--bogus=1"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "'--bogus'");
    /* A prefix of a real option is not that option. */
    assert_int_equal(LOAD(f, "--heartbeat", "100"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "--heartbeat'");
    assert_int_equal(LOAD(f, "stray"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "stray");
    assert_int_equal(LOAD(f, "-v"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "-v");
    /* A value is missing at the end. */
    assert_int_equal(LOAD(f, "--max-batch"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "max-batch");
    /* --config without a file is an error, not silently ignored. */
    assert_int_equal(LOAD(f, "--config"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "config");

    /* Unknown key in the file: file:line and the key. */
    s_write(f->path, "heartbeat-ms = 2000\n\n# x\nbogus-key = 1\n");
    assert_int_equal(LOAD(f, "--config", f->path), CR_CONFIG_ERROR);
    char where[128];
    snprintf(where, sizeof where, "%s:4", f->path);
    s_assert_err_has(f, where);
    s_assert_err_has(f, "bogus-key");
    /* A line that is not name = value. */
    s_write(f->path, "heartbeat-ms 2000\n");
    assert_int_equal(LOAD(f, "--config", f->path), CR_CONFIG_ERROR);
    snprintf(where, sizeof where, "%s:1", f->path);
    s_assert_err_has(f, where);
    /* A file that does not exist. */
    assert_int_equal(LOAD(f, "--config", "/nonexistent/crieur.conf"), CR_CONFIG_ERROR);
    s_assert_err_has(f, "/nonexistent/crieur.conf");
}

static void test_help(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(LOAD(f, "--help"), CR_CONFIG_HELP);
    assert_int_equal(LOAD(f, "--max-batch", "3", "-h"), CR_CONFIG_HELP);
    /* --help wins even over a bad value given before it. */
    assert_int_equal(LOAD(f, "--max-batch=0", "--help"), CR_CONFIG_HELP);
}

static void test_reload(void **state)
{
    fixture_t *f = *state;
    s_write(f->path, "heartbeat-ms = 2000\nlog-level = info\nmax-batch = 16\n"
                     "broker-endpoint = tcp://a:1\n");
    assert_int_equal(LOAD(f, "--config", f->path, "--token", "secret"), CR_CONFIG_OK);
    assert_int_equal(f->cfg.heartbeat, 2000);

    /* Only reloadable options change. */
    s_write(f->path, "heartbeat-ms = 9999\nlog-level = debug\nmax-batch = 32\n"
                     "broker-endpoint = tcp://b:2\nverbose = true\ncache = off\n"
                     "dry-run = true\n");
    assert_int_equal(cr_config_reload(s_table, &f->cfg, f->path, f->err, sizeof f->err), 0);
    assert_int_equal(f->cfg.heartbeat, 2000);
    assert_string_equal(f->cfg.endpoint, "tcp://a:1");
    assert_int_equal(f->cfg.dry_run, 0);
    assert_string_equal(f->cfg.token, "secret");
    assert_string_equal(f->cfg.log_level, "debug");
    assert_int_equal(f->cfg.max_batch, 32);
    assert_int_equal(f->cfg.verbose, 1);
    assert_int_equal(f->cfg.cache, 0);

    /* The environment is read again for reloadable options only. */
    setenv("CRIEUR_MAX_BATCH", "48", 1);
    setenv("CRIEUR_HEARTBEAT_MS", "50", 1);
    assert_int_equal(cr_config_reload(s_table, &f->cfg, f->path, f->err, sizeof f->err), 0);
    assert_int_equal(f->cfg.max_batch, 48);
    assert_int_equal(f->cfg.heartbeat, 2000);
    unsetenv("CRIEUR_MAX_BATCH");
    unsetenv("CRIEUR_HEARTBEAT_MS");
    assert_int_equal(cr_config_reload(s_table, &f->cfg, f->path, f->err, sizeof f->err), 0);
    assert_int_equal(f->cfg.max_batch, 32);

    /* A bad file: -1, the error names it, and nothing changes (not even the
     * options on the lines before the bad one). */
    char *log_before = f->cfg.log_level, *endpoint_before = f->cfg.endpoint;
    static const char *bad[] = {
        "log-level = warn\nmax-batch = 0\n",             /* out of range */
        "log-level = warn\nmax-batch = many\n",          /* not a number */
        "log-level = warn\nverbose = perhaps\n",         /* not a boolean */
        "log-level = warn\nno-such-option = 1\n",        /* unknown key */
        "log-level = warn\njust words\n",                /* not name = value */
        "log-level = warn\nheartbeat-ms = never\n",      /* bad, even if not reloadable */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_write(f->path, bad[i]);
        f->err[0] = '\0';
        assert_int_equal(cr_config_reload(s_table, &f->cfg, f->path, f->err, sizeof f->err), -1);
        char where[128];
        snprintf(where, sizeof where, "%s:2", f->path);
        s_assert_err_has(f, where);
        assert_ptr_equal(f->cfg.log_level, log_before);
        assert_string_equal(f->cfg.log_level, "debug");
        assert_ptr_equal(f->cfg.endpoint, endpoint_before);
        assert_int_equal(f->cfg.max_batch, 32);
        assert_int_equal(f->cfg.verbose, 1);
        assert_int_equal(f->cfg.heartbeat, 2000);
    }
    /* A missing file is bad too. */
    f->err[0] = '\0';
    assert_int_equal(cr_config_reload(s_table, &f->cfg, "/nonexistent/crieur.conf", f->err,
                                      sizeof f->err),
                     -1);
    s_assert_err_has(f, "/nonexistent/crieur.conf");
    assert_string_equal(f->cfg.log_level, "debug");
    /* A bad reloadable variable is rejected the same way. */
    s_write(f->path, "log-level = warn\n");
    setenv("CRIEUR_MAX_BATCH", "100000", 1);
    assert_int_equal(cr_config_reload(s_table, &f->cfg, f->path, f->err, sizeof f->err), -1);
    s_assert_err_has(f, "CRIEUR_MAX_BATCH");
    assert_string_equal(f->cfg.log_level, "debug");
    assert_int_equal(f->cfg.max_batch, 32);
    unsetenv("CRIEUR_MAX_BATCH");
    /* Without a file, only the environment is read. */
    setenv("CRIEUR_LOG_LEVEL", "error", 1);
    assert_int_equal(cr_config_reload(s_table, &f->cfg, NULL, f->err, sizeof f->err), 0);
    assert_string_equal(f->cfg.log_level, "error");
    assert_int_equal(f->cfg.max_batch, 32);
}

/* Every string the loader allocated, through every layer and every error
 * path, is released by cr_config_free (LeakSanitizer checks at exit). */
static void test_free_releases_everything(void **state)
{
    fixture_t *f = *state;
    s_write(f->path, "log-level = debug\ntoken = from-file\nbroker-endpoint = tcp://f:1\n");
    setenv("CRIEUR_TOKEN", "from-env", 1);
    setenv("CRIEUR_LOG_LEVEL", "warn", 1);
    assert_int_equal(LOAD(f, "--config", f->path, "--token", "from-flag", "--token=again"),
                     CR_CONFIG_OK);
    assert_string_equal(f->cfg.token, "again");
    for (int i = 0; i < 3; i++)
        assert_int_equal(cr_config_reload(s_table, &f->cfg, f->path, f->err, sizeof f->err), 0);
    cr_config_free(s_table, &f->cfg);
    assert_null(f->cfg.token);
    assert_null(f->cfg.endpoint);
    assert_null(f->cfg.log_level);
    cr_config_free(s_table, &f->cfg); /* twice is harmless */
    /* After an error the strings set so far are still owned by cfg. */
    assert_int_equal(LOAD(f, "--config", f->path, "--max-batch=0"), CR_CONFIG_ERROR);
    assert_string_equal(f->cfg.token, "from-env");
    assert_int_equal(LOAD(f, "--config", f->path, "--help"), CR_CONFIG_HELP);
    assert_string_equal(f->cfg.log_level, "info");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_file_overrides_default, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_env_overrides_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_flag_overrides_env, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bool_flags, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_int_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_malformed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_help, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reload, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_free_releases_everything, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, 0, NULL);
}
