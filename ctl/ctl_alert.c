/* crieurctl alert list|ack: what needs a human (unconfirmed, failed and
 * missed posts). */
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_db.h"
#include "ctl_table.h"
#include "ctl_util.h"

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
                  "a.message "
                  "FROM crieur.alert a LEFT JOIN crieur.client c ON c.id = a.client_id "
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

static const ctl_opt_t s_list_opts[] = {
    {"client", "CLIENT", "only this client's alerts (name or id)"},
    {"all", NULL, "include acknowledged alerts"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_ack_opts[] = {
    {"by", "NAME", "who acknowledges (default: the database user)"},
    {NULL, NULL, NULL},
};

const ctl_command_t ctl_cmd_alert_list = {
    .group = "alert",
    .sub = "list",
    .synopsis = "[--client CLIENT] [--all]",
    .summary = "Lists open alerts: unconfirmed, failed and missed posts.",
    .opts = s_list_opts,
    .details = "An unconfirmed post may or may not be on the platform: check the account,\n"
               "then acknowledge the alert.\n",
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
