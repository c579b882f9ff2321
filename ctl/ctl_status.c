/* crieurctl status: the queue, the brokers and the workers at a glance. */
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_db.h"
#include "ctl_table.h"

#include <stdlib.h>

/* A worker is listed when connected and reported by a broker this recently. */
#define S_WORKER_FRESH "30 seconds"

static const char s_sql_jobs[] =
    "SELECT kind, state, jobs, due,"
    " CASE WHEN oldest_due IS NULL THEN NULL"
    "  ELSE floor(extract(epoch FROM now() - oldest_due))::bigint END"
    " FROM crieur.queue_status()";

static const char s_sql_brokers[] =
    "SELECT id, host, pid, endpoint, " CTL_SQL_UTC("started_at") ","
    " floor(extract(epoch FROM now() - last_seen))::bigint,"
    " CASE WHEN last_seen > now() - interval '" S_WORKER_FRESH "' THEN 'alive' ELSE 'silent' END"
    " FROM crieur.broker WHERE last_seen > now() - interval '1 day'"
    " ORDER BY last_seen DESC, id";

static const char s_sql_workers[] =
    "SELECT id, role, broker, array_to_string(platforms, ','), capacity, in_flight,"
    " floor(extract(epoch FROM now() - last_seen))::bigint"
    " FROM crieur.worker"
    " WHERE state = 'connected' AND last_seen > now() - interval '" S_WORKER_FRESH "'"
    " ORDER BY role, id";

typedef struct {
    const char *header;
    const char *key;
    int flags;
    int max_width;
} s_col_t;

static const s_col_t s_jobs_cols[] = {
    {"KIND", "kind", 0, 0},
    {"STATE", "state", 0, 0},
    {"JOBS", "jobs", CTL_COL_NUM, 0},
    {"DUE", "due", CTL_COL_NUM, 0},
    {"OLDEST DUE LATE (S)", "oldest_due_late_s", CTL_COL_NUM, 0},
    {NULL, NULL, 0, 0},
};

static const s_col_t s_broker_cols[] = {
    {"ID", "id", 0, 32},
    {"HOST", "host", 0, 24},
    {"PID", "pid", CTL_COL_NUM, 0},
    {"ENDPOINT", "endpoint", 0, 32},
    {"STARTED", "started_at", 0, 0},
    {"LAST SEEN (S AGO)", "last_seen_s_ago", CTL_COL_NUM, 0},
    {"STATE", "state", 0, 0},
    {NULL, NULL, 0, 0},
};

static const s_col_t s_worker_cols[] = {
    {"ID", "id", 0, 32},
    {"ROLE", "role", 0, 0},
    {"BROKER", "broker", 0, 32},
    {"PLATFORMS", "platforms", 0, 24},
    {"CAPACITY", "capacity", CTL_COL_NUM, 0},
    {"IN FLIGHT", "in_flight", CTL_COL_NUM, 0},
    {"LAST SEEN (S AGO)", "last_seen_s_ago", CTL_COL_NUM, 0},
    {NULL, NULL, 0, 0},
};

/* Runs sql and returns its rows as a table (NULL with rc set on failure). */
static ctl_table_t *s_section(PGconn *conn, const char *sql, const s_col_t *cols, int *rc)
{
    PGresult *res = NULL;
    ctl_table_t *t = NULL;
    *rc = ctl_db_query(conn, &res, sql, 0, NULL);
    if (*rc != CTL_OK) return NULL;
    t = ctl_table_new();
    if (!t) goto oom;
    for (int k = 0; cols[k].header; k++)
        if (ctl_table_add_column(t, cols[k].header, cols[k].key, cols[k].flags,
                                 cols[k].max_width) != 0)
            goto oom;
    if (ctl_db_fill_table(t, res) != 0) goto oom;
    PQclear(res);
    return t;
oom:
    ctl_err("out of memory");
    ctl_table_destroy(&t);
    PQclear(res);
    *rc = CTL_REFUSED;
    return NULL;
}

static void s_print_section(const char *title, const ctl_table_t *t, const char *empty)
{
    printf("%s\n", title);
    if (ctl_table_nrows(t) == 0) printf("  %s\n", empty);
    else ctl_table_print_text(t, stdout);
}

static int s_run(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    ctl_table_t *jobs = NULL, *brokers = NULL, *workers = NULL;
    int rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_query(conn, NULL, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
    if (rc != CTL_OK) goto out;
    jobs = s_section(conn, s_sql_jobs, s_jobs_cols, &rc);
    if (!jobs) goto out;
    brokers = s_section(conn, s_sql_brokers, s_broker_cols, &rc);
    if (!brokers) goto out;
    workers = s_section(conn, s_sql_workers, s_worker_cols, &rc);
    if (!workers) goto out;
    rc = ctl_db_query(conn, NULL, "COMMIT", 0, NULL);
    if (rc != CTL_OK) goto out;

    if (ctl->json) {
        json_t *doc = json_pack("{s:o?, s:o?, s:o?}", "jobs", ctl_table_json(jobs), "brokers",
                                ctl_table_json(brokers), "workers", ctl_table_json(workers));
        if (!doc) {
            ctl_err("out of memory");
            rc = CTL_REFUSED;
            goto out;
        }
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        s_print_section("jobs", jobs, "none: the queue is empty");
        printf("\n");
        s_print_section("brokers (seen in the last day)", brokers, "none");
        printf("\n");
        s_print_section("workers (connected, seen in the last " S_WORKER_FRESH ")", workers,
                        "none");
    }
out:
    ctl_table_destroy(&jobs);
    ctl_table_destroy(&brokers);
    ctl_table_destroy(&workers);
    ctl_db_close(&conn);
    return rc;
}

static const ctl_opt_t s_no_opts[] = {{NULL, NULL, NULL}};

const ctl_command_t ctl_cmd_status = {
    .group = "status",
    .synopsis = "",
    .summary = "Shows the queue, the brokers and the connected workers.",
    .details = "Jobs are counted by kind and state, with how many are due and how late the\n"
               "oldest due one is; workers are those connected and reported by a broker in\n"
               "the last 30 seconds.\n",
    .opts = s_no_opts,
    .run = s_run,
};
