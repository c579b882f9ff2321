/*
 * crieur-sandbox: a local HTTP server that answers like the social platforms
 * Crieur publishes to (Mastodon and X, one sb_<platform>.c each), with a
 * ledger of accepted posts, accounts, rate limits and fault injection, driven
 * by the /_sandbox control API. Used by integration tests and benchmarks.
 *
 * Configuration is table-driven (s_options): each option has a type, a
 * default, an environment variable and a help line; --help is generated from
 * the table. Command line beats environment beats default.
 */
#include "sb_log.h"
#include "sb_server.h"
#include "sb_world.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>


typedef enum { S_STR, S_INT, S_BOOL, S_FAULT, S_HELP } s_type_t;

typedef struct {
    const char *name;   /* --name */
    s_type_t type;
    const char *def;    /* default, as text; NULL = unset */
    const char *env;    /* environment variable */
    size_t offset;      /* in sb_config_t */
    int64_t min, max;   /* S_INT bounds */
    const char *help;
} s_option_t;

#define S_OFF(field) offsetof (sb_config_t, field)

static const s_option_t s_options[] = {
    { "listen", S_STR, "127.0.0.1:8790", "CRIEUR_SANDBOX_LISTEN", S_OFF (listen), 0, 0,
      "HOST:PORT to listen on (port 0: any free port)" },
    { "port-file", S_STR, NULL, "CRIEUR_SANDBOX_PORT_FILE", S_OFF (port_file), 0, 0,
      "write the bound port to this file once listening" },
    { "threads", S_INT, "2", "CRIEUR_SANDBOX_THREADS", S_OFF (threads), 1, 256,
      "HTTP worker threads" },
    { "open", S_BOOL, "0", "CRIEUR_SANDBOX_OPEN", S_OFF (open), 0, 0,
      "accept any bearer token, creating its account on first use" },
    { "latency-ms", S_INT, "0", "CRIEUR_SANDBOX_LATENCY_MS", S_OFF (latency_ms), 0, 600000,
      "latency added to every platform request" },
    { "ledger-file", S_STR, NULL, "CRIEUR_SANDBOX_LEDGER_FILE", S_OFF (ledger_file), 0, 0,
      "append one JSON line per accepted post to this file" },
    { "seed", S_INT, "1", "CRIEUR_SANDBOX_SEED", S_OFF (seed), INT64_MIN, INT64_MAX,
      "seed of the fault injection PRNG" },
    { "fault", S_FAULT, NULL, "CRIEUR_SANDBOX_FAULTS", 0, 0, 0,
      "fault rule as JSON (repeatable; the variable may hold a JSON array)" },
    { "max-characters", S_INT, "500", "CRIEUR_SANDBOX_MAX_CHARACTERS", S_OFF (max_characters),
      1, 1000000, "Mastodon instance status length limit" },
    { "mastodon-status-limit", S_INT, "300", "CRIEUR_SANDBOX_MASTODON_STATUS_LIMIT",
      S_OFF (mastodon_status_limit), 0, INT64_MAX / 4, "Mastodon statuses per account per window" },
    { "mastodon-status-window-s", S_INT, "10800", "CRIEUR_SANDBOX_MASTODON_STATUS_WINDOW_S",
      S_OFF (mastodon_status_window_s), 1, 365 * 86400, "Mastodon status window (s)" },
    { "mastodon-request-limit", S_INT, "300", "CRIEUR_SANDBOX_MASTODON_REQUEST_LIMIT",
      S_OFF (mastodon_request_limit), 0, INT64_MAX / 4, "Mastodon requests per token per window" },
    { "mastodon-request-window-s", S_INT, "300", "CRIEUR_SANDBOX_MASTODON_REQUEST_WINDOW_S",
      S_OFF (mastodon_request_window_s), 1, 365 * 86400, "Mastodon request window (s)" },
    { "mastodon-media-delay-ms", S_INT, "0", "CRIEUR_SANDBOX_MASTODON_MEDIA_DELAY_MS",
      S_OFF (mastodon_media_delay_ms), 0, 86400000,
      "Mastodon: a POST /api/v2/media upload answers 202 and stays processing this long "
      "(0: processed at once, 200, as Mastodon does for images)" },
    { "mastodon-media-limit", S_INT, "30", "CRIEUR_SANDBOX_MASTODON_MEDIA_LIMIT",
      S_OFF (mastodon_media_limit), 0, INT64_MAX / 4, "Mastodon media uploads per account per window" },
    { "mastodon-media-window-s", S_INT, "1800", "CRIEUR_SANDBOX_MASTODON_MEDIA_WINDOW_S",
      S_OFF (mastodon_media_window_s), 1, 365 * 86400, "Mastodon media upload window (s)" },
    { "x-tweet-limit", S_INT, "100", "CRIEUR_SANDBOX_X_TWEET_LIMIT", S_OFF (x_tweet_limit), 0,
      INT64_MAX / 4, "X: POST /2/tweets per user per window" },
    { "x-tweet-window-s", S_INT, "900", "CRIEUR_SANDBOX_X_TWEET_WINDOW_S", S_OFF (x_tweet_window_s),
      1, 365 * 86400, "X: tweet window (s)" },
    { "x-media-limit", S_INT, "500", "CRIEUR_SANDBOX_X_MEDIA_LIMIT", S_OFF (x_media_limit), 0,
      INT64_MAX / 4, "X: POST /2/media/upload per user per window" },
    { "x-media-window-s", S_INT, "900", "CRIEUR_SANDBOX_X_MEDIA_WINDOW_S", S_OFF (x_media_window_s),
      1, 365 * 86400, "X: media upload window (s)" },
    { "x-media-ttl-s", S_INT, "86400", "CRIEUR_SANDBOX_X_MEDIA_TTL_S", S_OFF (x_media_ttl_s), 1,
      365 * 86400, "X: an uploaded media id expires after this (expires_after_secs)" },
    { "x-media-max-bytes", S_INT, "5242880", "CRIEUR_SANDBOX_X_MEDIA_MAX_BYTES",
      S_OFF (x_media_max_bytes), 1, INT64_MAX / 4,
      "X: largest image accepted (X: 5 MB; bodies over 1 MiB get 413 anyway)" },
    { "bluesky-access-ttl-s", S_INT, "7200", "CRIEUR_SANDBOX_BLUESKY_ACCESS_TTL_S",
      S_OFF (bluesky_access_ttl_s), 1, 365 * 86400, "Bluesky: accessJwt lifetime (s)" },
    { "bluesky-write-points", S_INT, "5000", "CRIEUR_SANDBOX_BLUESKY_WRITE_POINTS",
      S_OFF (bluesky_write_points), 0, INT64_MAX / 4,
      "Bluesky: write points per account per window (a post costs 3)" },
    { "bluesky-write-window-s", S_INT, "3600", "CRIEUR_SANDBOX_BLUESKY_WRITE_WINDOW_S",
      S_OFF (bluesky_write_window_s), 1, 365 * 86400, "Bluesky: write points window (s)" },
    { "bluesky-session-window-s", S_INT, "300", "CRIEUR_SANDBOX_BLUESKY_SESSION_WINDOW_S",
      S_OFF (bluesky_session_window_s), 1, 365 * 86400,
      "Bluesky: createSession window (s; 30 sessions per identifier per window)" },
    { "bluesky-duplicate-status", S_INT, "400", "CRIEUR_SANDBOX_BLUESKY_DUPLICATE_STATUS",
      S_OFF (bluesky_duplicate_status), 400, 500,
      "Bluesky: answer to createRecord with an existing rkey: 400 InvalidRequest or 500" },
    { "linkedin-post-limit", S_INT, "150", "CRIEUR_SANDBOX_LINKEDIN_POST_LIMIT",
      S_OFF (linkedin_post_limit), 0, INT64_MAX / 4, "LinkedIn: posts per member per window" },
    { "linkedin-app-limit", S_INT, "100000", "CRIEUR_SANDBOX_LINKEDIN_APP_LIMIT",
      S_OFF (linkedin_app_limit), 0, INT64_MAX / 4, "LinkedIn: calls of all members per window" },
    { "linkedin-window-s", S_INT, "86400", "CRIEUR_SANDBOX_LINKEDIN_WINDOW_S",
      S_OFF (linkedin_window_s), 1, 365 * 86400,
      "LinkedIn: rate window, aligned on the epoch (86400: resets at midnight UTC)" },
    { "linkedin-min-version", S_INT, "202501", "CRIEUR_SANDBOX_LINKEDIN_MIN_VERSION",
      S_OFF (linkedin_min_version), 200001, 999912,
      "LinkedIn: oldest LinkedIn-Version served (YYYYMM); older ones get 426" },
    { "linkedin-retry-after", S_BOOL, "0", "CRIEUR_SANDBOX_LINKEDIN_RETRY_AFTER",
      S_OFF (linkedin_retry_after), 0, 0,
      "LinkedIn: add Retry-After to 429s (a test hint; LinkedIn sends none)" },
    { "graph-call-limit", S_INT, "4800", "CRIEUR_SANDBOX_GRAPH_CALL_LIMIT",
      S_OFF (graph_call_limit), 0, INT64_MAX / 4,
      "Graph (Facebook, Instagram, Threads): calls per account per window" },
    { "graph-call-window-s", S_INT, "3600", "CRIEUR_SANDBOX_GRAPH_CALL_WINDOW_S",
      S_OFF (graph_call_window_s), 1, 365 * 86400, "Graph: usage window, aligned (s)" },
    { "graph-regain-minutes", S_INT, "5", "CRIEUR_SANDBOX_GRAPH_REGAIN_MINUTES",
      S_OFF (graph_regain_minutes), 0, 1440,
      "Graph: estimated_time_to_regain_access of an injected throttle (fault status 429)" },
    { "instagram-container-delay-ms", S_INT, "1000", "CRIEUR_SANDBOX_INSTAGRAM_CONTAINER_DELAY_MS",
      S_OFF (instagram_container_delay_ms), 0, 86400000,
      "Instagram: a media container stays IN_PROGRESS this long" },
    { "instagram-publish-limit", S_INT, "50", "CRIEUR_SANDBOX_INSTAGRAM_PUBLISH_LIMIT",
      S_OFF (instagram_publish_limit), 0, INT64_MAX / 4,
      "Instagram: publications per account per rolling window" },
    { "instagram-publish-window-s", S_INT, "86400", "CRIEUR_SANDBOX_INSTAGRAM_PUBLISH_WINDOW_S",
      S_OFF (instagram_publish_window_s), 1, 365 * 86400,
      "Instagram: the publishing quota's rolling window (s; Instagram: 24 h)" },
    { "threads-publish-limit", S_INT, "250", "CRIEUR_SANDBOX_THREADS_PUBLISH_LIMIT",
      S_OFF (threads_publish_limit), 0, INT64_MAX / 4,
      "Threads: publications per account per rolling window" },
    { "threads-publish-window-s", S_INT, "86400", "CRIEUR_SANDBOX_THREADS_PUBLISH_WINDOW_S",
      S_OFF (threads_publish_window_s), 1, 365 * 86400,
      "Threads: the publishing quota's rolling window (s; Threads: 24 h)" },
    { "threads-container-delay-ms", S_INT, "1000", "CRIEUR_SANDBOX_THREADS_CONTAINER_DELAY_MS",
      S_OFF (threads_container_delay_ms), 0, 86400000,
      "Threads: an IMAGE container is IN_PROGRESS this long (ms)" },
    { "token-ttl-s", S_INT, "0", "CRIEUR_SANDBOX_TOKEN_TTL_S", S_OFF (token_ttl_s), 0,
      365 * 86400,
      "X, Threads, LinkedIn: lifetime of refreshed access tokens (0: the platform's own)" },
    { "x-client-id", S_STR, NULL, "CRIEUR_SANDBOX_X_CLIENT_ID", S_OFF (x_client_id), 0, 0,
      "X token endpoint: the only client id accepted (unset: any non-empty one)" },
    { "x-client-secret", S_STR, NULL, "CRIEUR_SANDBOX_X_CLIENT_SECRET", S_OFF (x_client_secret),
      0, 0, "X token endpoint: a confidential client's secret, required by HTTP Basic" },
    { "linkedin-client-id", S_STR, NULL, "CRIEUR_SANDBOX_LINKEDIN_CLIENT_ID",
      S_OFF (linkedin_client_id), 0, 0,
      "LinkedIn token endpoint: the only client id accepted (unset: any non-empty one)" },
    { "linkedin-client-secret", S_STR, NULL, "CRIEUR_SANDBOX_LINKEDIN_CLIENT_SECRET",
      S_OFF (linkedin_client_secret), 0, 0,
      "LinkedIn token endpoint: the only client secret accepted (unset: any non-empty one)" },
    { "webhook-burst", S_INT, "3", "CRIEUR_SANDBOX_WEBHOOK_BURST", S_OFF (webhook_burst), 1,
      1000000, "webhook: messages a hook accepts at once before 429 (the burst)" },
    { "webhook-interval-ms", S_INT, "1000", "CRIEUR_SANDBOX_WEBHOOK_INTERVAL_MS",
      S_OFF (webhook_interval_ms), 1, 3600000,
      "webhook: then one message per interval per hook (Slack: about 1/s)" },
    { "max-connections", S_INT, "16000", "CRIEUR_SANDBOX_MAX_CONNECTIONS",
      S_OFF (max_connections), 16, 1000000, "concurrent connections (raises RLIMIT_NOFILE)" },
    { "hold-timeout-s", S_INT, "120", "CRIEUR_SANDBOX_HOLD_TIMEOUT_S", S_OFF (hold_timeout_s), 1,
      86400, "timeout_after_accept: close held connections after this" },
    { "verbose", S_BOOL, "0", "CRIEUR_SANDBOX_VERBOSE", S_OFF (verbose), 0, 0,
      "debug logging to stderr" },
    { "help", S_HELP, NULL, NULL, 0, 0, 0, "show this help" },
};
#define S_NOPTIONS (sizeof (s_options) / sizeof (s_options[0]))

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: crieur-sandbox [options]\n\n");
    for (size_t i = 0; i < S_NOPTIONS; i++) {
        const s_option_t *o = &s_options[i];
        char left[64];
        snprintf (left, sizeof (left), "--%s%s", o->name,
                  o->type == S_STR || o->type == S_FAULT ? " VALUE"
                  : o->type == S_INT                     ? " N"
                                                         : "");
        fprintf (out, "  %-34s %s", left, o->help);
        if (o->def && o->type != S_BOOL)
            fprintf (out, " (default %s)", o->def);
        if (o->env)
            fprintf (out, " [%s]", o->env);
        fputc ('\n', out);
    }
}

static int
s_bool (const char *text, bool *out)
{
    if (!strcmp (text, "1") || !strcmp (text, "true") || !strcmp (text, "yes")
        || !strcmp (text, "on"))
        *out = true;
    else if (!strcmp (text, "0") || !strcmp (text, "false") || !strcmp (text, "no")
             || !strcmp (text, "off") || !*text)
        *out = false;
    else
        return -1;
    return 0;
}

static int
s_set (sb_config_t *config, const s_option_t *o, const char *value, const char *origin)
{
    char *base = (char *) config;
    switch (o->type) {
    case S_STR:
        *(const char **) (base + o->offset) = value;
        return 0;
    case S_INT: {
        int64_t v;
        if (sb_parse_i64 (value, o->min, o->max, &v) != 0) {
            fprintf (stderr, "crieur-sandbox: %s: --%s wants an integer in [%lld, %lld], got '%s'\n",
                     origin, o->name, (long long) o->min, (long long) o->max, value);
            return -1;
        }
        *(int64_t *) (base + o->offset) = v;
        return 0;
    }
    case S_BOOL:
        if (s_bool (value, (bool *) (base + o->offset)) != 0) {
            fprintf (stderr, "crieur-sandbox: %s: --%s wants a boolean, got '%s'\n", origin,
                     o->name, value);
            return -1;
        }
        return 0;
    case S_FAULT:
        if (config->nfaults >= SB_MAX_START_FAULTS) {
            fprintf (stderr, "crieur-sandbox: too many --fault rules\n");
            return -1;
        }
        config->faults[config->nfaults++] = value;
        return 0;
    case S_HELP:
        return 0;
    }
    return -1;
}

/* 0: run, 1: --help shown, -1: usage error */
static int
s_configure (sb_config_t *config, int argc, char **argv)
{
    memset (config, 0, sizeof (*config));
    for (size_t i = 0; i < S_NOPTIONS; i++)
        if (s_options[i].def && s_set (config, &s_options[i], s_options[i].def, "default") != 0)
            return -1;
    for (size_t i = 0; i < S_NOPTIONS; i++) {
        const char *env = s_options[i].env ? getenv (s_options[i].env) : NULL;
        if (env && s_set (config, &s_options[i], env, s_options[i].env) != 0)
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strncmp (arg, "--", 2) != 0) {
            fprintf (stderr, "crieur-sandbox: unexpected argument '%s'\n", arg);
            return -1;
        }
        const char *name = arg + 2;
        const char *eq = strchr (name, '=');
        size_t nlen = eq ? (size_t) (eq - name) : strlen (name);
        const s_option_t *o = NULL;
        for (size_t i = 0; i < S_NOPTIONS; i++)
            if (strlen (s_options[i].name) == nlen && !strncmp (s_options[i].name, name, nlen))
                o = &s_options[i];
        if (!o) {
            fprintf (stderr, "crieur-sandbox: unknown option '%s' (see --help)\n", arg);
            return -1;
        }
        if (o->type == S_HELP) {
            s_usage (stdout);
            return 1;
        }
        const char *value;
        if (eq)
            value = eq + 1;
        else if (o->type == S_BOOL)
            value = "1";
        else if (a + 1 < argc)
            value = argv[++a];
        else {
            fprintf (stderr, "crieur-sandbox: --%s needs a value\n", o->name);
            return -1;
        }
        if (s_set (config, o, value, "command line") != 0)
            return -1;
    }
    /* HOST:PORT, [V6]:PORT or :PORT */
    const char *listen = config->listen;
    const char *colon = strrchr (listen, ':');
    int64_t port;
    if (!colon || sb_parse_i64 (colon + 1, 0, 65535, &port) != 0) {
        fprintf (stderr, "crieur-sandbox: --listen wants HOST:PORT, got '%s'\n", listen);
        return -1;
    }
    size_t hlen = (size_t) (colon - listen);
    if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
        listen++;
        hlen -= 2;
    }
    if (hlen >= sizeof (config->host)) {
        fprintf (stderr, "crieur-sandbox: listen host too long\n");
        return -1;
    }
    memcpy (config->host, listen, hlen);
    config->host[hlen] = '\0';
    if (hlen == 0)
        snprintf (config->host, sizeof (config->host), "0.0.0.0");
    config->port = (int) port;
    return 0;
}

static int
s_write_port_file (const char *path, int port)
{
    char tmp[4096];
    int n = snprintf (tmp, sizeof (tmp), "%s.tmp.%ld", path, (long) getpid ());
    if (n < 0 || (size_t) n >= sizeof (tmp))
        return -1;
    FILE *f = fopen (tmp, "w");
    if (!f)
        return -1;
    int rc = fprintf (f, "%d\n", port) < 0 ? -1 : 0;
    if (fclose (f) != 0)
        rc = -1;
    if (rc == 0 && rename (tmp, path) != 0)
        rc = -1;
    if (rc != 0)
        unlink (tmp);
    return rc;
}

static int
s_load_faults (sb_world_t *world, const sb_config_t *config)
{
    for (size_t i = 0; i < config->nfaults; i++) {
        json_error_t jerr;
        char err[256];
        json_t *spec = json_loads (config->faults[i], JSON_REJECT_DUPLICATES, &jerr);
        if (!spec) {
            SB_ERROR ("fault rule '%s': invalid JSON: %s", config->faults[i], jerr.text);
            return -1;
        }
        size_t count = json_is_array (spec) ? json_array_size (spec) : 1;
        for (size_t k = 0; k < count; k++) {
            json_t *rule = json_is_array (spec) ? json_array_get (spec, k) : spec;
            if (sb_faults_add (world->faults, rule, err, sizeof (err)) < 0) {
                SB_ERROR ("fault rule '%s': %s", config->faults[i], err);
                json_decref (spec);
                return -1;
            }
        }
        json_decref (spec);
    }
    return 0;
}

static void
s_raise_fd_limit (int64_t wanted)
{
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t target = (rlim_t) wanted + 64;
    if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max)
        target = rl.rlim_max;
    if (rl.rlim_cur < target) {
        rl.rlim_cur = target;
        if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
            SB_WARN ("cannot raise the open file limit: %s", strerror (errno));
    }
}

int
main (int argc, char **argv)
{
    sb_config_t config;
    sb_world_t *world = NULL;
    sb_server_t *server = NULL;
    int exit_code = 1;
    sigset_t stop_signals;

    int rc = s_configure (&config, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (config.verbose)
        sb_log_level = SB_LOG_DEBUG;

    /* Signals are taken synchronously by this thread only (sigwait below):
     * block them before any thread starts so that all threads inherit it. */
    signal (SIGPIPE, SIG_IGN);
    sigemptyset (&stop_signals);
    sigaddset (&stop_signals, SIGINT);
    sigaddset (&stop_signals, SIGTERM);
    sigaddset (&stop_signals, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &stop_signals, NULL);

    s_raise_fd_limit (config.max_connections);
    int bound_port = 0;
    int fd = sb_server_listen (config.host, config.port, &bound_port);
    if (fd < 0)
        goto out;
    config.port = bound_port;
    world = sb_world_new (&config);
    if (!world) {
        SB_ERROR ("cannot initialise (ledger file, memory)");
        close (fd);
        goto out;
    }
    if (s_load_faults (world, &config) != 0) {
        close (fd);
        exit_code = 2;
        goto out;
    }
    server = sb_server_new (world, fd);
    if (!server)
        goto out;
    if (config.port_file && s_write_port_file (config.port_file, bound_port) != 0) {
        SB_ERROR ("cannot write port file %s: %s", config.port_file, strerror (errno));
        goto out;
    }
    {
        const char *host = config.host;
        bool v6 = strchr (host, ':') != NULL;
        printf ("crieur-sandbox listening on http://%s%s%s:%d\n", v6 ? "[" : "", host,
                v6 ? "]" : "", bound_port);
        fflush (stdout);
    }
    for (;;) {
        int sig = 0;
        if (sigwait (&stop_signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            SB_INFO ("SIGHUP: nothing to reload");
            continue;
        }
        SB_INFO ("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        break;
    }
    /* A second signal during the drain ends the process at once. */
    signal (SIGINT, SIG_DFL);
    signal (SIGTERM, SIG_DFL);
    pthread_sigmask (SIG_UNBLOCK, &stop_signals, NULL);
    exit_code = 0;
out:
    sb_server_destroy (&server);
    sb_world_destroy (&world);
    return exit_code;
}
