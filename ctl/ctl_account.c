/* crieurctl account add|list|token|resume: the social accounts of clients
 * and their credentials.
 *
 * The access token (and the refresh token, where the platform renews tokens)
 * comes from a file (or standard input), an environment variable, or, for
 * the access token, the command line (visible to other users in the process
 * list: discouraged). crieurctl seals it with the secret key before it
 * reaches the database (ctl_secret); it is never printed, logged, or listed,
 * and its copy in memory is wiped once sealed. */
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_db.h"
#include "ctl_secret.h"
#include "ctl_table.h"
#include "ctl_util.h"
#include "ctl_when.h"

#include <stdlib.h>
#include <string.h>

/* Ten years: longer is a typo. */
#define S_EXPIRES_MAX_S (10L * 366 * 86400)

static const ctl_secret_src_t s_access_src = {"the access token", "token-file", "token-env", "token"};
static const ctl_secret_src_t s_refresh_src = {"the refresh token", "refresh-token-file",
                                               "refresh-token-env", NULL};

/* The credentials of account add and account token, read and sealed. */
typedef struct {
    cr_secret_key_t *key;
    char *access;          /* bytea text "\x..." */
    char *refresh;         /* or NULL */
    char ms[24];           /* --expires-in, or --expires-at as a delay: ms from now */
    char local[40];        /* --expires-at as a wall time of the client's zone */
    char abs[40];          /* --expires-at as an instant */
    char expires[40];      /* resolved by s_expires_resolve: UTC, or "" (none) */
} s_creds_t;

static void s_creds_free(s_creds_t *c)
{
    free(c->access);
    free(c->refresh);
    cr_secret_key_free(&c->key);
    memset(c, 0, sizeof *c);
}

/* Reads the expiry options, the tokens, then loads the key and seals them.
 * Returns CTL_OK or CTL_USAGE (message printed). */
static int s_creds(const ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args,
                   s_creds_t *c)
{
    const char *in = ctl_args_get(cmd, args, "expires-in");
    const char *at = ctl_args_get(cmd, args, "expires-at");
    char *access = NULL, *refresh = NULL;
    int rc;
    memset(c, 0, sizeof *c);
    if (in && at) return ctl_usage_err(cmd, "give at most one of --expires-in and --expires-at");
    if (in) {
        long v;
        if (ctl_parse_long(in, 1, S_EXPIRES_MAX_S, &v) != 0)
            return ctl_usage_err(cmd, "--expires-in takes the token's lifetime in seconds (1 to "
                                      "%ld), e.g. 7200, not '%s'",
                                 S_EXPIRES_MAX_S, in);
        snprintf(c->ms, sizeof c->ms, "%lld", (long long)v * 1000);
    } else if (at) {
        ctl_when_t w;
        if (ctl_when_parse(at, &w) != 0) {
            fprintf(stderr, "crieurctl: cannot read the time '%s' (--expires-at); accepted "
                            "forms:\n" CTL_WHEN_FORMS, at);
            return CTL_USAGE;
        }
        if (w.kind == CTL_WHEN_DELAY) snprintf(c->ms, sizeof c->ms, "%lld", (long long)w.delay_ms);
        else if (w.kind == CTL_WHEN_LOCAL) snprintf(c->local, sizeof c->local, "%s", w.text);
        else snprintf(c->abs, sizeof c->abs, "%s", w.text);
    }
    const char *tf = ctl_args_get(cmd, args, "token-file");
    const char *rf = ctl_args_get(cmd, args, "refresh-token-file");
    if (tf && rf && strcmp(tf, "-") == 0 && strcmp(rf, "-") == 0)
        return ctl_usage_err(cmd, "only one of --token-file and --refresh-token-file can read "
                                  "standard input");
    rc = ctl_secret_read(cmd, args, &s_access_src, 1, &access);
    if (rc != CTL_OK) goto out;
    rc = ctl_secret_read(cmd, args, &s_refresh_src, 0, &refresh);
    if (rc != CTL_OK) goto out;
    rc = ctl_secret_key(ctl, &c->key);
    if (rc != CTL_OK) goto out;
    c->access = ctl_secret_seal_bytea(c->key, access, strlen(access));
    if (refresh) c->refresh = ctl_secret_seal_bytea(c->key, refresh, strlen(refresh));
    if (!c->access || (refresh && !c->refresh)) {
        ctl_err("cannot seal the credentials (out of memory)");
        rc = CTL_USAGE;
    }
out:
    ctl_secret_free(&access);
    ctl_secret_free(&refresh);
    if (rc != CTL_OK) s_creds_free(c);
    return rc;
}

/* Resolves the expiry into c->expires (UTC text, or "" if none), with local
 * times read in the zone given by tz_sql, an SQL expression of $4 (the
 * account or client). A time already past is refused: CTL_REFUSED. */
static int s_expires_resolve(PGconn *conn, s_creds_t *c, const char *tz_sql, const char *who)
{
    PGresult *res = NULL;
    char sql[1024];
    c->expires[0] = '\0';
    if (!c->ms[0] && !c->local[0] && !c->abs[0]) return CTL_OK;
    snprintf(sql, sizeof sql,
             "SELECT " CTL_SQL_UTC("v") ", v <= now() FROM (SELECT CASE"
             " WHEN $1::bigint IS NOT NULL THEN now() + $1::bigint * interval '1 millisecond'"
             " WHEN $2::timestamp IS NOT NULL THEN crieur.local_to_utc($2::timestamp, %s)"
             " ELSE $3::timestamptz END AS v) AS e",
             tz_sql);
    int rc = ctl_db_q(conn, &res, sql, c->ms[0] ? c->ms : NULL, c->local[0] ? c->local : NULL,
                      c->abs[0] ? c->abs : NULL, who);
    if (rc != CTL_OK) return rc;
    if (PQgetvalue(res, 0, 1)[0] == 't') {
        ctl_err("the token's expiry %s is in the past: give the time it expires (--expires-at) "
                "or its lifetime in seconds (--expires-in)",
                PQgetvalue(res, 0, 0));
        rc = CTL_REFUSED;
    } else {
        snprintf(c->expires, sizeof c->expires, "%s", PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return rc;
}

/* Warns when what was given does not fit how the platform renews tokens. */
static int s_refresh_advice(PGconn *conn, const char *account_id, const s_creds_t *c)
{
    PGresult *res = NULL;
    int rc = ctl_db_q(conn, &res,
                      "SELECT a.platform, coalesce(pl.refresh_with, '') FROM crieur.account a"
                      " JOIN crieur.platform pl ON pl.name = a.platform WHERE a.id = $1::bigint",
                      account_id);
    if (rc != CTL_OK) return rc;
    if (PQntuples(res) == 1) {
        const char *pl = PQgetvalue(res, 0, 0), *with = PQgetvalue(res, 0, 1);
        if (strcmp(with, "refresh_token") == 0 && !c->refresh)
            fprintf(stderr, "crieurctl: warning: no refresh token given: this %s account's access "
                            "token cannot be renewed automatically; when it expires its posts "
                            "wait until it is reconnected (crieurctl account token %s ...)\n",
                    pl, account_id);
        else if (!with[0] && c->refresh)
            fprintf(stderr, "crieurctl: warning: %s tokens are not refreshed by Crieur; the "
                            "refresh token is stored but not used\n",
                    pl);
    }
    PQclear(res);
    return CTL_OK;
}

static int s_add(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    s_creds_t cr;
    char maxbuf[24], id[24];
    const char *client = ctl_args_get(cmd, args, "client");
    const char *platform = ctl_args_get(cmd, args, "platform");
    const char *handle = ctl_args_get(cmd, args, "handle");
    const char *instance = ctl_args_get(cmd, args, "instance");
    const char *max_chars = ctl_args_get(cmd, args, "max-chars");
    long maxv = 0;
    int rc;

    if (!client) return ctl_usage_err(cmd, "missing --client (a client name or id)");
    if (!handle) return ctl_usage_err(cmd, "missing --handle (the account's user name)");
    if (!instance)
        return ctl_usage_err(cmd, "missing --instance (the server's base URL, e.g. "
                                  "https://mastodon.social)");
    if (!platform) platform = "mastodon";
    if (max_chars && ctl_parse_long(max_chars, 1, 1000000, &maxv) != 0)
        return ctl_usage_err(cmd, "--max-chars must be a whole number from 1 to 1000000, not '%s'",
                             max_chars);
    if (max_chars) snprintf(maxbuf, sizeof maxbuf, "%ld", maxv);
    rc = s_creds(ctl, cmd, args, &cr);
    if (rc != CTL_OK) return rc;

    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_query(conn, NULL, "BEGIN", 0, NULL);
    if (rc != CTL_OK) goto out;
    rc = s_expires_resolve(conn, &cr,
                           "(SELECT c.timezone FROM crieur.client c"
                           " WHERE c.id = crieur.client_id($4))",
                           client);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_q(conn, &res,
                  "SELECT crieur.add_account_sealed($1, $2, $3, $4, $5::bytea, $6, $7::int,"
                  " $8::bytea, $9::timestamptz)",
                  client, platform, handle, instance, cr.access, cr_secret_key_id(cr.key),
                  max_chars ? maxbuf : NULL, cr.refresh, cr.expires[0] ? cr.expires : NULL);
    if (rc != CTL_OK) goto out;
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    rc = s_refresh_advice(conn, id, &cr);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_query(conn, NULL, "COMMIT", 0, NULL);
    if (rc != CTL_OK) goto out;
    if (ctl->json) printf("{\"id\": %s}\n", id);
    else printf("%s\n", id);
out:
    s_creds_free(&cr);
    PQclear(res);
    ctl_db_close(&conn);
    return rc;
}

/* How an account stands after token or resume, within the transaction:
 * its status, the waiting posts now due, its token expiry and next refresh. */
static int s_report(ctl_t *ctl, PGconn *conn, const char *id, const char *prev,
                    const char *verb)
{
    PGresult *res = NULL;
    int rc = ctl_db_q(conn, &res,
                      "SELECT a.id, a.handle, a.platform, a.status, $2::text AS previous_status,"
                      " (SELECT count(*) FROM crieur.job j WHERE j.account_id = a.id"
                      "  AND j.kind = 'publish' AND j.state = 'scheduled' AND j.run_at <= now())"
                      "  AS posts_due, "
                      CTL_SQL_UTC("a.token_expires_at") " AS token_expires_at, "
                      CTL_SQL_UTC("(SELECT j.run_at FROM crieur.job j WHERE j.unique_key ="
                                  " 'token_refresh:' || a.id AND j.state = 'scheduled')")
                      " AS next_refresh_at"
                      " FROM crieur.account a WHERE a.id = $1::bigint",
                      id, prev);
    if (rc != CTL_OK) return rc;
    if (PQntuples(res) != 1) {
        ctl_err("account %s vanished (deleted by someone else?)", id);
        PQclear(res);
        return CTL_REFUSED;
    }
    rc = ctl_db_query(conn, NULL, "COMMIT", 0, NULL);
    if (rc == CTL_OK && ctl->json) {
        json_t *obj = ctl_db_row_json(res, 0);
        if (obj) {
            json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            fputc('\n', stdout);
            json_decref(obj);
        }
    } else if (rc == CTL_OK) {
        const char *st = PQgetvalue(res, 0, 3), *due = PQgetvalue(res, 0, 5);
        printf("account %s (%s on %s) %s: ", id, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
               verb);
        const char *plural = strcmp(due, "1") == 0 ? "" : "s";
        if (strcmp(st, "active") == 0 && strcmp(prev, "active") != 0)
            printf("active again (was %s)\n", prev);
        else if (strcmp(st, "disabled") == 0)
            printf("it stays disabled\n");
        else printf("%s\n", st);
        if (strcmp(st, "active") == 0) printf("%s waiting post%s due now\n", due, plural);
        else printf("%s post%s due but waiting while the account is %s\n", due, plural, st);
        if (!PQgetisnull(res, 0, 6)) printf("token expires at %s\n", PQgetvalue(res, 0, 6));
        if (!PQgetisnull(res, 0, 7)) printf("next token refresh at %s\n", PQgetvalue(res, 0, 7));
    }
    PQclear(res);
    return rc;
}

static int s_account_id(const ctl_command_t *cmd, const char *s, char *buf, size_t len)
{
    long long id;
    if (ctl_parse_id(s, &id) != 0)
        return ctl_usage_err(cmd, "an account id is a positive number, not '%s' (see crieurctl "
                                  "account list)", s);
    snprintf(buf, len, "%lld", id);
    return CTL_OK;
}

/* The account's status before the change (locked), or "" if there is none. */
static int s_lock_status(PGconn *conn, const char *id, char *buf, size_t len)
{
    PGresult *res = NULL;
    int rc = ctl_db_q(conn, &res,
                      "SELECT status FROM crieur.account WHERE id = $1::bigint FOR UPDATE", id);
    if (rc != CTL_OK) return rc;
    snprintf(buf, len, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return CTL_OK;
}

static int s_token(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    s_creds_t cr;
    char id[24], prev[32];
    int rc = s_account_id(cmd, args->pos[0], id, sizeof id);
    if (rc != CTL_OK) return rc;
    rc = s_creds(ctl, cmd, args, &cr);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_query(conn, NULL, "BEGIN", 0, NULL);
    if (rc == CTL_OK) rc = s_lock_status(conn, id, prev, sizeof prev);
    /* An unknown account reads local times as UTC, so that
     * set_account_credentials reports "unknown account". */
    if (rc == CTL_OK)
        rc = s_expires_resolve(conn, &cr,
                               "coalesce((SELECT c.timezone FROM crieur.account a JOIN crieur.client c"
                               " ON c.id = a.client_id WHERE a.id = $4::bigint), 'UTC')",
                               id);
    if (rc == CTL_OK)
        rc = ctl_db_q(conn, NULL,
                      "SELECT crieur.set_account_credentials($1::bigint, $2::bytea, $3, $4::bytea,"
                      " $5::timestamptz)",
                      id, cr.access, cr_secret_key_id(cr.key), cr.refresh,
                      cr.expires[0] ? cr.expires : NULL);
    if (rc == CTL_OK) rc = s_refresh_advice(conn, id, &cr);
    if (rc == CTL_OK) rc = s_report(ctl, conn, id, prev, "reconnected");
out:
    s_creds_free(&cr);
    ctl_db_close(&conn);
    return rc;
}

static int s_resume(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    char id[24], prev[32];
    int rc = s_account_id(cmd, args->pos[0], id, sizeof id);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_query(conn, NULL, "BEGIN", 0, NULL);
    if (rc == CTL_OK) rc = s_lock_status(conn, id, prev, sizeof prev);
    if (rc == CTL_OK && strcmp(prev, "disabled") == 0) {
        ctl_err("account %s is disabled: resume only restarts a paused account", id);
        rc = CTL_REFUSED;
    }
    if (rc == CTL_OK && strcmp(prev, "active") == 0) {
        if (ctl->json) printf("{\"id\": %s, \"status\": \"active\", \"previous_status\": \"active\"}\n", id);
        else printf("account %s is already active\n", id);
        goto out;
    }
    /* An unknown account: the database says so. */
    if (rc == CTL_OK) rc = ctl_db_q(conn, NULL, "SELECT crieur.resume_account($1::bigint)", id);
    if (rc == CTL_OK) rc = s_report(ctl, conn, id, prev, "resumed");
out:
    ctl_db_close(&conn);
    return rc;
}

static int s_list(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    ctl_table_t *t = NULL;
    const char *client = ctl_args_get(cmd, args, "client");
    char client_id[32];
    int rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    if (client) {
        rc = ctl_db_client_id(conn, client, client_id, sizeof client_id);
        if (rc != CTL_OK) goto out;
    }
    /* No credentials column here, ever. */
    rc = ctl_db_q(conn, &res,
                  "SELECT a.id, c.name, a.platform, a.handle, a.api_base, a.status, "
                  "coalesce(" CTL_SQL_UTC("a.token_expires_at") ", '-'), "
                  CTL_SQL_UTC("a.token_expires_at") ", a.credentials_key,"
                  " a.refresh_credentials IS NOT NULL,"
                  " coalesce(a.max_chars, pl.max_chars),"
                  " (SELECT count(*) FROM crieur.post p WHERE p.account_id = a.id"
                  "  AND p.status = 'scheduled'), a.status_reason, "
                  CTL_SQL_UTC("a.created_at")
                  " FROM crieur.account a JOIN crieur.client c ON c.id = a.client_id"
                  " JOIN crieur.platform pl ON pl.name = a.platform"
                  " WHERE $1::bigint IS NULL OR a.client_id = $1::bigint ORDER BY a.id",
                  client ? client_id : NULL);
    if (rc != CTL_OK) goto out;
    t = ctl_table_new();
    rc = CTL_REFUSED;
    if (!t || ctl_table_add_column(t, "ID", "id", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "CLIENT", "client", 0, 30) ||
        ctl_table_add_column(t, "PLATFORM", "platform", 0, 0) ||
        ctl_table_add_column(t, "HANDLE", "handle", 0, 30) ||
        ctl_table_add_column(t, "INSTANCE", "instance", 0, 40) ||
        ctl_table_add_column(t, "STATUS", "status", 0, 0) ||
        ctl_table_add_column(t, "TOKEN EXPIRES", NULL, 0, 0) ||
        ctl_table_add_column(t, "", "token_expires_at", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "", "key_id", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "", "has_refresh_token", CTL_COL_JSON_ONLY | CTL_COL_BOOL, 0) ||
        ctl_table_add_column(t, "MAX CHARS", "max_chars", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "SCHEDULED", "scheduled_posts", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "REASON", "status_reason", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "CREATED", "created_at", 0, 0) || ctl_db_fill_table(t, res) ||
        ctl_table_print(t, stdout, ctl->json)) {
        ctl_err("out of memory");
        goto out;
    }
    rc = CTL_OK;
out:
    ctl_table_destroy(&t);
    PQclear(res);
    ctl_db_close(&conn);
    return rc;
}

static const ctl_opt_t s_add_opts[] = {
    {"client", "CLIENT", "client name or id"},
    {"platform", "PLATFORM", "social network (default mastodon)"},
    {"handle", "HANDLE", "the account's user name on the platform"},
    {"instance", "URL", "the platform server's base URL, e.g. https://mastodon.social"},
    {"token-file", "FILE|-", "read the access token from FILE (- = standard input)"},
    {"token-env", "VAR", "read the access token from environment variable VAR"},
    {"token", "TOKEN", "the access token itself (visible in the process list: avoid)"},
    {"refresh-token-file", "FILE|-", "read the refresh token from FILE (- = standard input)"},
    {"refresh-token-env", "VAR", "read the refresh token from environment variable VAR"},
    {"expires-in", "SECONDS", "the access token expires in SECONDS"},
    {"expires-at", "TIME", "the access token expires at TIME (see below)"},
    {"max-chars", "N", "the instance's own post length limit, if not the platform's"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_token_opts[] = {
    {"token-file", "FILE|-", "read the new access token from FILE (- = standard input)"},
    {"token-env", "VAR", "read the new access token from environment variable VAR"},
    {"token", "TOKEN", "the new access token itself (visible in the process list: avoid)"},
    {"refresh-token-file", "FILE|-", "read the new refresh token from FILE (- = standard input)"},
    {"refresh-token-env", "VAR", "read the new refresh token from environment variable VAR"},
    {"expires-in", "SECONDS", "the access token expires in SECONDS"},
    {"expires-at", "TIME", "the access token expires at TIME (see below)"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_no_opts[] = {{NULL, NULL, NULL}};

#define S_CREDS_HELP                                                                        \
    "The tokens are sealed with the secret key (--secret-key-file, $CRIEUR_SECRET_KEY or\n" \
    "$CRIEUR_SECRET_KEY_FILE) before they are stored, and never printed back.\n"           \
    "Where the platform renews tokens (x and linkedin with the refresh token, threads\n"   \
    "with the access token), a refresh runs before the token expires; without an expiry\n" \
    "it runs when the platform refuses the token.\n"                                       \
    "TIME is +2h, +60d (from now), 2026-12-01 09:30[:00] (the client's time zone), or\n"  \
    "an absolute time: 2026-12-01T08:30:00Z, 2026-12-01T09:30+01:00.\n"

static const ctl_opt_t s_list_opts[] = {
    {"client", "CLIENT", "only this client's accounts (name or id)"},
    {NULL, NULL, NULL},
};

const ctl_command_t ctl_cmd_account_add = {
    .group = "account",
    .sub = "add",
    .synopsis = "--client C --platform mastodon --handle H --instance URL\n"
                "       (--token-file FILE|- | --token-env VAR | --token TOKEN)\n"
                "       [--refresh-token-file FILE|- | --refresh-token-env VAR]\n"
                "       [--expires-in SECONDS | --expires-at TIME] [--max-chars N]",
    .summary = "Adds a social account to a client and prints its id.",
    .details = S_CREDS_HELP,
    .opts = s_add_opts,
    .run = s_add,
};

const ctl_command_t ctl_cmd_account_list = {
    .group = "account",
    .sub = "list",
    .synopsis = "[--client C]",
    .summary = "Lists the accounts (without their tokens).",
    .opts = s_list_opts,
    .details = "STATUS is active, refreshing (a token refresh is running; posts wait), paused,\n"
               "auth_failed (reconnect it: crieurctl account token) or disabled.\n"
               "TOKEN EXPIRES is when the access token expires, - when unknown or never.\n",
    .run = s_list,
};

const ctl_command_t ctl_cmd_account_token = {
    .group = "account",
    .sub = "token",
    .synopsis = "ID (--token-file FILE|- | --token-env VAR | --token TOKEN)\n"
                "       [--refresh-token-file FILE|- | --refresh-token-env VAR]\n"
                "       [--expires-in SECONDS | --expires-at TIME]",
    .summary = "Reconnects an account with new credentials; its waiting posts go.",
    .pos_names = "ID",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_token_opts,
    .details = "The account becomes active again (unless disabled) and its waiting posts are due\n"
               "at once (those within their client's late tolerance are published).\n" S_CREDS_HELP,
    .run = s_token,
};

const ctl_command_t ctl_cmd_account_resume = {
    .group = "account",
    .sub = "resume",
    .synopsis = "ID",
    .summary = "Resumes a paused account without new credentials.",
    .pos_names = "ID",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_no_opts,
    .details = "For an account paused by a human or by a refused token that is valid again.\n"
               "Its waiting posts are due at once.\n",
    .run = s_resume,
};
