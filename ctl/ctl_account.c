/* crieurctl account add|list: the social accounts of clients.
 *
 * The access token comes from a file (or standard input), an environment
 * variable, or the command line (visible to other users in the process list:
 * discouraged). It is never printed, logged, or listed, and its copy in
 * memory is wiped once sent. */
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_db.h"
#include "ctl_table.h"
#include "ctl_util.h"

#include <stdlib.h>
#include <string.h>

#define S_TOKEN_MAX (64 * 1024)

/* Reads the token from the one source given. Returns CTL_OK with a heap copy
 * in *token_p, or CTL_USAGE with the reason printed. */
static int s_token(const ctl_command_t *cmd, const ctl_args_t *args, char **token_p)
{
    const char *file = ctl_args_get(cmd, args, "token-file");
    const char *env = ctl_args_get(cmd, args, "token-env");
    const char *arg = ctl_args_get(cmd, args, "token");
    char err[512];
    char *tok = NULL;
    size_t len = 0;
    *token_p = NULL;
    if ((file != NULL) + (env != NULL) + (arg != NULL) != 1)
        return ctl_usage_err(cmd, "give the access token with exactly one of --token-file FILE, "
                                  "--token-env VAR or --token TOKEN");
    if (file) {
        if (ctl_read_all(file, S_TOKEN_MAX, &tok, &len, err, sizeof err) != 0) {
            ctl_err("%s", err);
            return CTL_USAGE;
        }
    } else {
        const char *v = arg;
        if (env) {
            v = getenv(env);
            if (!v) {
                ctl_err("environment variable %s is not set (--token-env names the variable "
                        "holding the token)", env);
                return CTL_USAGE;
            }
        } else {
            fprintf(stderr, "crieurctl: warning: --token is visible to other users of this "
                            "machine in the process list; prefer --token-file or --token-env\n");
        }
        len = strlen(v);
        tok = malloc(len + 1);
        if (!tok) {
            ctl_err("out of memory");
            return CTL_USAGE;
        }
        memcpy(tok, v, len + 1);
    }
    /* Surrounding whitespace (a file's final newline) is not part of a token. */
    while (len > 0 && strchr(" \t\r\n", tok[len - 1])) tok[--len] = '\0';
    size_t lead = strspn(tok, " \t\r\n");
    memmove(tok, tok + lead, len - lead + 1);
    len -= lead;
    int bad = 0;
    if (len == 0) {
        ctl_err("the access token is empty");
        bad = 1;
    } else if (ctl_check_text("the access token", tok, len, err, sizeof err) != 0) {
        ctl_err("%s", err);
        bad = 1;
    } else {
        for (size_t k = 0; k < len; k++) {
            if ((unsigned char)tok[k] < 0x20 || tok[k] == 0x7F) {
                ctl_err("the access token contains a control character at offset %zu", k);
                bad = 1;
                break;
            }
        }
    }
    if (bad) {
        explicit_bzero(tok, len);
        free(tok);
        return CTL_USAGE;
    }
    *token_p = tok;
    return CTL_OK;
}

static int s_add(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    char *token = NULL;
    char maxbuf[24];
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
    rc = s_token(cmd, args, &token);
    if (rc != CTL_OK) return rc;

    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_q(conn, &res, "SELECT crieur.add_account($1, $2, $3, $4, $5, $6::int)", client,
                  platform, handle, instance, token, max_chars ? maxbuf : NULL);
    if (rc != CTL_OK) goto out;
    if (ctl->json) printf("{\"id\": %s}\n", PQgetvalue(res, 0, 0));
    else printf("%s\n", PQgetvalue(res, 0, 0));
out:
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    PQclear(res);
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
                  "SELECT a.id, c.name, a.platform, a.handle, a.api_base, a.status,"
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
    {"max-chars", "N", "the instance's own post length limit, if not the platform's"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_list_opts[] = {
    {"client", "CLIENT", "only this client's accounts (name or id)"},
    {NULL, NULL, NULL},
};

const ctl_command_t ctl_cmd_account_add = {
    .group = "account",
    .sub = "add",
    .synopsis = "--client C --platform mastodon --handle H --instance URL\n"
                "       (--token-file FILE|- | --token-env VAR | --token TOKEN) [--max-chars N]",
    .summary = "Adds a social account to a client and prints its id.",
    .details = "The access token is stored for the publishers and never printed back.\n",
    .opts = s_add_opts,
    .run = s_add,
};

const ctl_command_t ctl_cmd_account_list = {
    .group = "account",
    .sub = "list",
    .synopsis = "[--client C]",
    .summary = "Lists the accounts (without their tokens).",
    .opts = s_list_opts,
    .run = s_list,
};
