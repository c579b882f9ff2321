/* crieurctl alert list|ack|test and alert channel add|list|remove|disable|
 * enable: what needs a human (unconfirmed, failed and missed posts, refused
 * tokens), and where it is sent.
 *
 * A channel is a Slack-compatible webhook or an e-mail address, for every
 * client's alerts (the agency's) or one client's, from a minimum severity.
 * The database fans each new alert out to the matching enabled channels (one
 * alert job each), and records on the alert when it was delivered or why
 * not. The webhook URL (whoever has it can post) and the SMTP password are
 * sealed with the secret key like account credentials (ctl_secret) and never
 * shown. */
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_db.h"
#include "ctl_secret.h"
#include "ctl_table.h"
#include "ctl_util.h"

#include <stdlib.h>
#include <string.h>

static int s_severity_ok(const char *s)
{
    return strcmp(s, "info") == 0 || strcmp(s, "warning") == 0 || strcmp(s, "critical") == 0;
}

static int s_list(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    ctl_table_t *t = NULL;
    const char *client = ctl_args_get(cmd, args, "client");
    const char *all = ctl_args_get(cmd, args, "all");
    int rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    char cid[32] = "";
    if (client && (rc = ctl_db_client_id(conn, client, cid, sizeof cid)) != CTL_OK) goto out;
    rc = ctl_db_q(conn, &res,
                  "SELECT a.id, a.severity, a.kind, coalesce(c.name, ''), coalesce(a.post_id::text, ''), "
                  CTL_SQL_UTC("a.created_at") ", "
                  "CASE WHEN a.acknowledged_at IS NULL THEN '' ELSE 'by ' || coalesce(a.acknowledged_by, '?') END, "
                  "coalesce(nullif(concat_ws('; ', 'delivered ' || " CTL_SQL_UTC("a.delivered_at") ", "
                  "'failed: ' || a.delivery_error, CASE WHEN d.pending > 0 THEN d.pending || ' pending' END), ''), '-'), "
                  CTL_SQL_UTC("a.delivered_at") ", a.delivery_error, d.pending, a.message "
                  "FROM crieur.alert a LEFT JOIN crieur.client c ON c.id = a.client_id "
                  "CROSS JOIN LATERAL (SELECT count(*) AS pending FROM crieur.job j "
                  "WHERE j.kind = 'alert' AND j.ref_id = a.id) d "
                  "WHERE ($1::bigint IS NULL OR a.client_id = $1::bigint) "
                  "AND ($2::text IS NOT NULL OR a.acknowledged_at IS NULL) "
                  "ORDER BY a.id DESC LIMIT 500",
                  client ? cid : NULL, all);
    if (rc != CTL_OK) goto out;
    t = ctl_table_new();
    rc = CTL_REFUSED;
    if (!t || ctl_table_add_column(t, "ID", "id", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "SEVERITY", "severity", 0, 0) ||
        ctl_table_add_column(t, "KIND", "kind", 0, 0) ||
        ctl_table_add_column(t, "CLIENT", "client", 0, 24) ||
        ctl_table_add_column(t, "POST", "post_id", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "RAISED", "created_at", 0, 0) ||
        ctl_table_add_column(t, "ACKNOWLEDGED", "acknowledged", 0, 0) ||
        ctl_table_add_column(t, "DELIVERY", NULL, 0, 40) ||
        ctl_table_add_column(t, "", "delivered_at", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "", "delivery_error", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "", "pending_deliveries", CTL_COL_JSON_ONLY | CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "MESSAGE", "message", 0, 90) || ctl_db_fill_table(t, res) ||
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

static int s_ack(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    const char *by = ctl_args_get(cmd, args, "by");
    long long id;
    if (ctl_parse_id(args->pos[0], &id) != 0)
        return ctl_usage_err(cmd, "an alert id is a positive number, not '%s'", args->pos[0]);
    int rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_q(conn, &res,
                  "UPDATE crieur.alert SET acknowledged_at = now(), "
                  "acknowledged_by = coalesce($2, current_user) "
                  "WHERE id = $1::bigint AND acknowledged_at IS NULL RETURNING id",
                  args->pos[0], by);
    if (rc != CTL_OK) goto out;
    if (PQntuples(res) == 0) {
        ctl_err("alert %s does not exist or is already acknowledged (see: crieurctl alert list --all)",
                args->pos[0]);
        rc = CTL_REFUSED;
        goto out;
    }
    if (ctl->json) printf("{\"acknowledged\": %s}\n", args->pos[0]);
    else printf("alert %s acknowledged\n", args->pos[0]);
out:
    PQclear(res);
    ctl_db_close(&conn);
    return rc;
}

/* --- alert test ----------------------------------------------------------- */

static int s_test(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL, *chs = NULL;
    const char *client = ctl_args_get(cmd, args, "client");
    const char *severity = ctl_args_get(cmd, args, "severity");
    const char *message = ctl_args_get(cmd, args, "message");
    char err[512], id[24];
    if (!severity) severity = "warning";
    if (!s_severity_ok(severity))
        return ctl_usage_err(cmd, "--severity is info, warning or critical, not '%s'", severity);
    if (message) {
        if (ctl_check_text("--message", message, strlen(message), err, sizeof err) != 0) {
            ctl_err("%s", err);
            return CTL_USAGE;
        }
        if (!message[strspn(message, " \t\r\n")])
            return ctl_usage_err(cmd, "--message is empty");
        if (strlen(message) > 4000) return ctl_usage_err(cmd, "--message is longer than 4000 bytes");
    }
    int rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_query(conn, NULL, "BEGIN", 0, NULL);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_q(conn, &res,
                  "INSERT INTO crieur.alert (client_id, kind, severity, message)"
                  " VALUES (CASE WHEN $1::text IS NOT NULL THEN crieur.client_id($1) END, 'test', $2,"
                  " coalesce($3, format('Test alert from crieurctl (database user %s, %s): if you "
                  "read this, the channel works.', current_user, "
                  CTL_SQL_UTC("now()") "))) RETURNING id",
                  client, severity, message);
    if (rc != CTL_OK) goto out;
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    /* the fan-out (a trigger) made one alert job per channel that takes it */
    rc = ctl_db_q(conn, &chs,
                  "SELECT ch.name FROM crieur.job j JOIN crieur.alert_channel ch ON ch.id = j.channel_id"
                  " WHERE j.kind = 'alert' AND j.ref_id = $1::bigint ORDER BY ch.name",
                  id);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_query(conn, NULL, "COMMIT", 0, NULL);
    if (rc != CTL_OK) goto out;
    int n = PQntuples(chs);
    if (ctl->json) {
        json_t *doc = json_object(), *arr = json_array();
        for (int r = 0; doc && arr && r < n; r++)
            json_array_append_new(arr, json_string(PQgetvalue(chs, r, 0)));
        if (!doc || !arr || json_object_set_new(doc, "id", json_integer(strtoll(id, NULL, 10))) ||
            json_object_set(doc, "channels", arr)) {
            ctl_err("out of memory");
            rc = CTL_REFUSED;
        } else {
            json_dumpf(doc, stdout, JSON_PRESERVE_ORDER);
            fputc('\n', stdout);
        }
        json_decref(arr);
        json_decref(doc);
    } else {
        printf("%s\n", id);
        fprintf(stderr, "crieurctl: test alert %s (%s) raised; ", id, severity);
        if (n == 0) {
            fprintf(stderr, "no enabled channel takes %s alerts of %s%s: add one with crieurctl "
                            "alert channel add\n",
                    severity, client ? "client " : "the agency", client ? client : "");
        } else {
            fprintf(stderr, "delivering to %d channel%s:", n, n == 1 ? "" : "s");
            for (int r = 0; r < n; r++) fprintf(stderr, " %s", PQgetvalue(chs, r, 0));
            fprintf(stderr, " (see crieurctl alert list)\n");
        }
    }
out:
    PQclear(res);
    PQclear(chs);
    ctl_db_close(&conn);
    return rc;
}

/* --- alert channel ------------------------------------------------------- */

static const ctl_secret_src_t s_webhook_src = {"the webhook URL", "webhook-file", "webhook-env",
                                               NULL};
static const ctl_secret_src_t s_password_src = {"the SMTP password", "smtp-password-file",
                                                "smtp-password-env", NULL};

static int s_channel_name(const ctl_command_t *cmd, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          "0123456789_.-") != n)
        return ctl_usage_err(cmd, "a channel name is 1 to 64 letters, digits, '_', '.' or '-', "
                                  "not '%s'", name);
    return CTL_OK;
}

static int s_channel_add(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    const char *name = args->pos[0];
    const char *wfile = ctl_args_get(cmd, args, "webhook-file");
    const char *wenv = ctl_args_get(cmd, args, "webhook-env");
    const char *email = ctl_args_get(cmd, args, "email");
    const char *smtp = ctl_args_get(cmd, args, "smtp");
    const char *from = ctl_args_get(cmd, args, "from");
    const char *user = ctl_args_get(cmd, args, "smtp-user");
    const char *pfile = ctl_args_get(cmd, args, "smtp-password-file");
    const char *penv = ctl_args_get(cmd, args, "smtp-password-env");
    const char *client = ctl_args_get(cmd, args, "client");
    const char *minsev = ctl_args_get(cmd, args, "min-severity");
    PGconn *conn = NULL;
    PGresult *res = NULL;
    cr_secret_key_t *key = NULL;
    char *secret = NULL, *sealed = NULL;
    char err[512];
    int webhook = wfile || wenv;
    int rc = s_channel_name(cmd, name);
    if (rc != CTL_OK) return rc;
    if (webhook == (email != NULL))
        return ctl_usage_err(cmd, "give the channel's destination: a webhook (--webhook-file FILE "
                                  "or --webhook-env VAR) or an e-mail address (--email ADDRESS "
                                  "--smtp URL --from ADDRESS), not both");
    if (minsev && !s_severity_ok(minsev))
        return ctl_usage_err(cmd, "--min-severity is info, warning or critical, not '%s'", minsev);
    if (webhook && (smtp || from || user || pfile || penv))
        return ctl_usage_err(cmd, "--smtp, --from, --smtp-user and --smtp-password-* are for an "
                                  "e-mail channel, not a webhook");
    if (email) {
        if (ctl_check_email(email) != 0)
            return ctl_usage_err(cmd, "--email '%s' is not an e-mail address (name@domain, without "
                                      "spaces, quotes, commas or angle brackets)", email);
        if (!smtp)
            return ctl_usage_err(cmd, "missing --smtp smtp[s]://HOST:PORT (the mail server)");
        if (ctl_check_smtp_url(smtp, err, sizeof err) != 0) return ctl_usage_err(cmd, "%s", err);
        if (!from) return ctl_usage_err(cmd, "missing --from ADDRESS (the sender)");
        if (ctl_check_email(from) != 0)
            return ctl_usage_err(cmd, "--from '%s' is not an e-mail address (name@domain)", from);
        if ((user != NULL) != (pfile || penv))
            return ctl_usage_err(cmd, "give both --smtp-user USER and the password "
                                      "(--smtp-password-file FILE or --smtp-password-env VAR), "
                                      "or neither");
        if (user && ctl_check_text("--smtp-user", user, strlen(user), err, sizeof err) != 0)
            return ctl_usage_err(cmd, "%s", err);
        rc = ctl_secret_read(cmd, args, &s_password_src, 0, &secret);
    } else {
        rc = ctl_secret_read(cmd, args, &s_webhook_src, 1, &secret);
        if (rc == CTL_OK && ctl_check_http_url(secret) != 0) {
            /* the URL is a secret: not echoed */
            ctl_err("the webhook URL (from --%s) is not an http:// or https:// URL with a host, "
                    "without spaces; it is not shown here because it is a secret",
                    wfile ? "webhook-file" : "webhook-env");
            rc = CTL_USAGE;
        }
    }
    if (rc != CTL_OK) goto out;
    if (secret) {
        rc = ctl_secret_key(ctl, &key);
        if (rc != CTL_OK) goto out;
        sealed = ctl_secret_seal_bytea(key, secret, strlen(secret));
        ctl_secret_free(&secret);
        if (!sealed) {
            ctl_err("cannot seal the secret (out of memory)");
            rc = CTL_USAGE;
            goto out;
        }
    }
    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_q(conn, &res, "SELECT 1 FROM crieur.alert_channel WHERE name = $1", name);
    if (rc != CTL_OK) goto out;
    if (PQntuples(res) > 0) {
        ctl_err("an alert channel named \"%s\" already exists", name);
        fprintf(stderr, "hint: see crieurctl alert channel list; remove it first to replace it\n");
        rc = CTL_REFUSED;
        goto out;
    }
    PQclear(res);
    res = NULL;
    rc = ctl_db_q(conn, &res,
                  "INSERT INTO crieur.alert_channel (name, client_id, kind, recipient, smtp_url,"
                  " mail_from, smtp_user, secret, secret_key, min_severity)"
                  " VALUES ($1, CASE WHEN $2::text IS NOT NULL THEN crieur.client_id($2) END, $3,"
                  " $4, $5, $6, $7, $8::bytea, $9, coalesce($10, 'warning')) RETURNING id",
                  name, client, webhook ? "webhook" : "email", email, smtp, from, user, sealed,
                  sealed ? cr_secret_key_id(key) : NULL, minsev);
    if (rc != CTL_OK) goto out;
    if (ctl->json) printf("{\"id\": %s}\n", PQgetvalue(res, 0, 0));
    else printf("%s\n", PQgetvalue(res, 0, 0));
out:
    ctl_secret_free(&secret);
    free(sealed);
    cr_secret_key_free(&key);
    PQclear(res);
    ctl_db_close(&conn);
    return rc;
}

/* A channel's scope: the alerts it takes (its client's or all, from its
 * minimum severity) since it was created. */
#define S_SCOPE                                                                           \
    "(ch.client_id IS NULL OR al.client_id = ch.client_id)"                               \
    " AND crieur.severity_rank(al.severity) >= crieur.severity_rank(ch.min_severity)"     \
    " AND al.created_at >= ch.created_at AND NOT EXISTS (SELECT 1 FROM crieur.job j"      \
    " WHERE j.kind = 'alert' AND j.ref_id = al.id AND j.channel_id = ch.id)"

static int s_channel_list(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    ctl_table_t *t = NULL;
    const char *client = ctl_args_get(cmd, args, "client");
    char cid[32] = "";
    int rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    if (client && (rc = ctl_db_client_id(conn, client, cid, sizeof cid)) != CTL_OK) goto out;
    /* Never the secret. */
    rc = ctl_db_q(conn, &res,
                  "SELECT ch.id, ch.name, ch.kind, coalesce(ch.recipient, '(webhook)'),"
                  " coalesce(c.name, '(all clients)'), c.name, ch.min_severity,"
                  " CASE WHEN ch.enabled THEN 'yes' ELSE 'no' END, ch.enabled,"
                  " (SELECT count(*) FROM crieur.job j WHERE j.channel_id = ch.id),"
                  " (SELECT count(*) FROM crieur.alert al WHERE " S_SCOPE
                  "  AND al.delivered_at IS NOT NULL AND al.delivery_error IS NULL),"
                  " (SELECT count(*) FROM crieur.alert al WHERE " S_SCOPE
                  "  AND al.delivery_error IS NOT NULL),"
                  " (SELECT j.last_error FROM crieur.job j WHERE j.channel_id = ch.id"
                  "  AND j.last_error IS NOT NULL ORDER BY j.run_at DESC LIMIT 1),"
                  " ch.smtp_url, ch.mail_from, ch.smtp_user, ch.secret_key, "
                  CTL_SQL_UTC("ch.created_at")
                  " FROM crieur.alert_channel ch LEFT JOIN crieur.client c ON c.id = ch.client_id"
                  " WHERE $1::bigint IS NULL OR ch.client_id IS NULL OR ch.client_id = $1::bigint"
                  " ORDER BY ch.name",
                  client ? cid : NULL);
    if (rc != CTL_OK) goto out;
    t = ctl_table_new();
    rc = CTL_REFUSED;
    if (!t || ctl_table_add_column(t, "ID", "id", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "NAME", "name", 0, 24) ||
        ctl_table_add_column(t, "KIND", "kind", 0, 0) ||
        ctl_table_add_column(t, "RECIPIENT", NULL, 0, 32) ||
        ctl_table_add_column(t, "CLIENT", NULL, 0, 20) ||
        ctl_table_add_column(t, "", "client", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "MIN SEVERITY", "min_severity", 0, 0) ||
        ctl_table_add_column(t, "ENABLED", NULL, 0, 0) ||
        ctl_table_add_column(t, "", "enabled", CTL_COL_JSON_ONLY | CTL_COL_BOOL, 0) ||
        ctl_table_add_column(t, "PENDING", "pending", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "DELIVERED", "delivered", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "FAILED", "failed", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "LAST ERROR", "last_error", 0, 40) ||
        ctl_table_add_column(t, "", "smtp_url", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "", "mail_from", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "", "smtp_user", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "", "key_id", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "", "created_at", CTL_COL_JSON_ONLY, 0) ||
        ctl_db_fill_table(t, res) || ctl_table_print(t, stdout, ctl->json)) {
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

static int s_unknown_channel(const char *name)
{
    ctl_err("unknown alert channel \"%s\"", name);
    fprintf(stderr, "hint: list them with: crieurctl alert channel list\n");
    return CTL_REFUSED;
}

static int s_channel_remove(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    const char *name = args->pos[0];
    int rc = s_channel_name(cmd, name);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    /* Its waiting deliveries go with it (a delivery already on a worker ends
     * normally). */
    rc = ctl_db_q(conn, &res,
                  "WITH ch AS (DELETE FROM crieur.alert_channel WHERE name = $1 RETURNING id),"
                  " j AS (DELETE FROM crieur.job jb USING ch WHERE jb.channel_id = ch.id"
                  " AND jb.state = 'scheduled' RETURNING jb.id)"
                  " SELECT (SELECT count(*) FROM ch), (SELECT count(*) FROM j)",
                  name);
    if (rc != CTL_OK) goto out;
    if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
        rc = s_unknown_channel(name);
        goto out;
    }
    if (ctl->json)
        printf("{\"removed\": \"%s\", \"dropped_deliveries\": %s}\n", name, PQgetvalue(res, 0, 1));
    else
        printf("alert channel %s removed (%s pending deliveries dropped)\n", name,
               PQgetvalue(res, 0, 1));
out:
    PQclear(res);
    ctl_db_close(&conn);
    return rc;
}

static int s_channel_enable(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    const char *name = args->pos[0];
    int enable = strcmp(cmd->sub, "channel enable") == 0;
    int rc = s_channel_name(cmd, name);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_q(conn, &res,
                  "WITH ch AS (UPDATE crieur.alert_channel SET enabled = $2::boolean WHERE name = $1"
                  " RETURNING id)"
                  " SELECT ch.id, (SELECT count(*) FROM crieur.job j WHERE j.channel_id = ch.id),"
                  " CASE WHEN $2::boolean THEN pg_notify('crieur_jobs', '')::text END FROM ch",
                  name, enable ? "true" : "false");
    if (rc != CTL_OK) goto out;
    if (PQntuples(res) == 0) {
        rc = s_unknown_channel(name);
        goto out;
    }
    if (ctl->json)
        printf("{\"name\": \"%s\", \"enabled\": %s, \"pending\": %s}\n", name,
               enable ? "true" : "false", PQgetvalue(res, 0, 1));
    else if (enable)
        printf("alert channel %s enabled (%s pending deliveries go now)\n", name,
               PQgetvalue(res, 0, 1));
    else
        printf("alert channel %s disabled (%s pending deliveries wait until it is enabled; new "
               "alerts are not sent to it)\n",
               name, PQgetvalue(res, 0, 1));
out:
    PQclear(res);
    ctl_db_close(&conn);
    return rc;
}

static const ctl_opt_t s_list_opts[] = {
    {"client", "CLIENT", "only this client's alerts (name or id)"},
    {"all", NULL, "include acknowledged alerts"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_ack_opts[] = {
    {"by", "NAME", "who acknowledges (default: the database user)"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_test_opts[] = {
    {"client", "CLIENT", "a client's alert (name or id); default: the agency's"},
    {"severity", "S", "info, warning (default) or critical"},
    {"message", "TEXT", "the alert's text (default: a test message)"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_channel_add_opts[] = {
    {"webhook-file", "FILE|-", "a Slack-compatible webhook: its URL from FILE (- = standard input)"},
    {"webhook-env", "VAR", "a webhook: its URL from environment variable VAR"},
    {"email", "ADDRESS", "an e-mail channel: the recipient"},
    {"smtp", "URL", "the mail server: smtp://HOST:PORT (STARTTLS) or smtps://HOST:PORT (TLS)"},
    {"from", "ADDRESS", "the sender address"},
    {"smtp-user", "USER", "the SMTP login, if the server needs one"},
    {"smtp-password-file", "FILE|-", "its password from FILE (- = standard input)"},
    {"smtp-password-env", "VAR", "its password from environment variable VAR"},
    {"client", "CLIENT", "only this client's alerts (default: every client's)"},
    {"min-severity", "S", "the least severe alerts sent: info, warning (default) or critical"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_channel_list_opts[] = {
    {"client", "CLIENT", "only the channels that take this client's alerts"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_no_opts[] = {{NULL, NULL, NULL}};

const ctl_command_t ctl_cmd_alert_list = {
    .group = "alert",
    .sub = "list",
    .synopsis = "[--client CLIENT] [--all]",
    .summary = "Lists open alerts: unconfirmed, failed and missed posts.",
    .opts = s_list_opts,
    .details = "An unconfirmed post may or may not be on the platform: check the account,\n"
               "then acknowledge the alert.\n"
               "DELIVERY: when the alert reached its channels (crieurctl alert channel list), the\n"
               "last delivery error, or how many deliveries are pending; - when no channel took it.\n",
    .run = s_list,
};

const ctl_command_t ctl_cmd_alert_ack = {
    .group = "alert",
    .sub = "ack",
    .synopsis = "ID [--by NAME]",
    .summary = "Acknowledges an alert.",
    .pos_names = "ID",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_ack_opts,
    .run = s_ack,
};

const ctl_command_t ctl_cmd_alert_test = {
    .group = "alert",
    .sub = "test",
    .synopsis = "[--client CLIENT] [--severity info|warning|critical] [--message TEXT]",
    .summary = "Raises a test alert, sent to the channels that take it; prints its id.",
    .opts = s_test_opts,
    .details = "An agency alert (no --client) reaches the channels for every client; a client's\n"
               "alert also reaches that client's channels. A channel takes alerts from its\n"
               "--min-severity: --severity critical reaches every enabled channel.\n",
    .run = s_test,
};

const ctl_command_t ctl_cmd_alert_channel_add = {
    .group = "alert",
    .sub = "channel add",
    .synopsis = "NAME (--webhook-file FILE|- | --webhook-env VAR |\n"
                "       --email ADDRESS --smtp smtp[s]://HOST:PORT --from ADDRESS\n"
                "       [--smtp-user USER (--smtp-password-file FILE|- | --smtp-password-env VAR)])\n"
                "       [--client C] [--min-severity info|warning|critical]",
    .summary = "Adds a channel alerts are sent to (a webhook or an e-mail address).",
    .pos_names = "NAME",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_channel_add_opts,
    .details = "A webhook's URL is a secret (whoever has it can post): it is read from a file or\n"
               "the environment, never the command line, and sealed with the secret key like\n"
               "the SMTP password (--secret-key-file, $CRIEUR_SECRET_KEY or\n"
               "$CRIEUR_SECRET_KEY_FILE). Neither is ever shown again.\n",
    .run = s_channel_add,
};

const ctl_command_t ctl_cmd_alert_channel_list = {
    .group = "alert",
    .sub = "channel list",
    .synopsis = "[--client CLIENT]",
    .summary = "Lists the alert channels (never their secrets) and their deliveries.",
    .opts = s_channel_list_opts,
    .details = "PENDING: deliveries waiting or being retried (LAST ERROR: why the last one failed).\n"
               "DELIVERED / FAILED count the alerts in the channel's scope since it was created\n"
               "by the outcome recorded on each alert; with several channels an alert counts\n"
               "as failed when any of its deliveries failed.\n",
    .run = s_channel_list,
};

const ctl_command_t ctl_cmd_alert_channel_remove = {
    .group = "alert",
    .sub = "channel remove",
    .synopsis = "NAME",
    .summary = "Removes an alert channel and its pending deliveries.",
    .pos_names = "NAME",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_no_opts,
    .run = s_channel_remove,
};

const ctl_command_t ctl_cmd_alert_channel_disable = {
    .group = "alert",
    .sub = "channel disable",
    .synopsis = "NAME",
    .summary = "Stops sending alerts to a channel (pending deliveries wait).",
    .pos_names = "NAME",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_no_opts,
    .run = s_channel_enable,
};

const ctl_command_t ctl_cmd_alert_channel_enable = {
    .group = "alert",
    .sub = "channel enable",
    .synopsis = "NAME",
    .summary = "Sends alerts to a channel again.",
    .pos_names = "NAME",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_no_opts,
    .run = s_channel_enable,
};
