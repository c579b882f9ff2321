/* crieurctl client add|list: the agencies' clients (brands). */
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_db.h"
#include "ctl_table.h"

static int s_add(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    const char *name = args->pos[0];
    int rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_q(conn, &res,
                  "SELECT crieur.add_client($1, coalesce($2, 'UTC'), coalesce($3, 'standard'))",
                  name, ctl_args_get(cmd, args, "timezone"), ctl_args_get(cmd, args, "plan"));
    if (rc != CTL_OK) goto out;
    if (ctl->json) printf("{\"id\": %s}\n", PQgetvalue(res, 0, 0));
    else printf("%s\n", PQgetvalue(res, 0, 0));
out:
    PQclear(res);
    ctl_db_close(&conn);
    return rc;
}

static int s_list(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    ctl_table_t *t = NULL;
    int rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_query(conn, &res,
                      "SELECT c.id, c.name, c.timezone, c.plan,"
                      " (SELECT count(*) FROM crieur.account a WHERE a.client_id = c.id),"
                      " (SELECT count(*) FROM crieur.post p WHERE p.client_id = c.id"
                      "  AND p.status = 'scheduled'), " CTL_SQL_UTC("c.created_at")
                      " FROM crieur.client c ORDER BY c.id",
                      0, NULL);
    if (rc != CTL_OK) goto out;
    t = ctl_table_new();
    rc = CTL_REFUSED;
    if (!t || ctl_table_add_column(t, "ID", "id", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "NAME", "name", 0, 40) ||
        ctl_table_add_column(t, "TIME ZONE", "timezone", 0, 0) ||
        ctl_table_add_column(t, "PLAN", "plan", 0, 20) ||
        ctl_table_add_column(t, "ACCOUNTS", "accounts", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "SCHEDULED", "scheduled_posts", CTL_COL_NUM, 0) ||
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
    {"timezone", "TZ", "IANA time zone of the client's wall-clock times (default UTC)"},
    {"plan", "PLAN", "plan name (default standard)"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_no_opts[] = {{NULL, NULL, NULL}};

const ctl_command_t ctl_cmd_client_add = {
    .group = "client",
    .sub = "add",
    .synopsis = "NAME [--timezone TZ] [--plan PLAN]",
    .summary = "Adds a client and prints its id.",
    .pos_names = "NAME",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_add_opts,
    .details = "Example: crieurctl client add \"Boulangerie Martin\" --timezone Europe/Paris\n",
    .run = s_add,
};

const ctl_command_t ctl_cmd_client_list = {
    .group = "client",
    .sub = "list",
    .synopsis = "",
    .summary = "Lists the clients.",
    .opts = s_no_opts,
    .run = s_list,
};
