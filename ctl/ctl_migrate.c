/* crieurctl migrate: applies the migrations embedded in the binary.
 *
 * Under a session advisory lock (one fixed key, so concurrent `migrate` runs
 * queue up behind each other), it creates crieur.schema_version if missing,
 * then applies every embedded migration whose version has no row there, each
 * in its own transaction together with its row. A database with a version
 * newer than any this binary knows is refused: an old crieurctl must not
 * touch a newer schema. */
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_db.h"
#include "ctl_migrations.h"
#include "ctl_table.h"

#include <stdlib.h>
#include <string.h>

/* "crieur01" read as a big-endian integer: the key of the migration lock. */
#define S_LOCK_KEY "7165905841582911537"

#define S_MAX_APPLIED 1024

typedef struct {
    int version;
    char name[128];
    char checksum[80];
    char applied_at[40];
} s_applied_t;

typedef struct {
    s_applied_t rows[S_MAX_APPLIED];
    int n;
} s_state_t;

static const s_applied_t *s_find_applied(const s_state_t *st, int version)
{
    for (int k = 0; k < st->n; k++)
        if (st->rows[k].version == version) return &st->rows[k];
    return NULL;
}

static const ctl_migration_t *s_find_embedded(int version)
{
    for (size_t k = 0; k < ctl_migrations_count; k++)
        if (ctl_migrations[k].version == version) return &ctl_migrations[k];
    return NULL;
}

static int s_max_embedded(void)
{
    int v = 0;
    for (size_t k = 0; k < ctl_migrations_count; k++)
        if (ctl_migrations[k].version > v) v = ctl_migrations[k].version;
    return v;
}

/* Reads crieur.schema_version into st (empty if the table does not exist). */
static int s_load(PGconn *conn, s_state_t *st)
{
    PGresult *res = NULL;
    int rc;
    st->n = 0;
    rc = ctl_db_query(conn, &res, "SELECT to_regclass('crieur.schema_version') IS NOT NULL", 0,
                      NULL);
    if (rc != CTL_OK) return rc;
    int exists = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!exists) return CTL_OK;
    rc = ctl_db_query(conn, &res,
                      "SELECT version, coalesce(name, ''), coalesce(checksum, ''), "
                      "coalesce(" CTL_SQL_UTC("applied_at") ", '') "
                      "FROM crieur.schema_version ORDER BY version",
                      0, NULL);
    if (rc != CTL_OK) return rc;
    for (int r = 0; r < PQntuples(res) && st->n < S_MAX_APPLIED; r++) {
        s_applied_t *a = &st->rows[st->n++];
        a->version = (int)strtol(PQgetvalue(res, r, 0), NULL, 10);
        snprintf(a->name, sizeof a->name, "%s", PQgetvalue(res, r, 1));
        snprintf(a->checksum, sizeof a->checksum, "%s", PQgetvalue(res, r, 2));
        snprintf(a->applied_at, sizeof a->applied_at, "%s", PQgetvalue(res, r, 3));
    }
    PQclear(res);
    return CTL_OK;
}

/* Warnings and refusals that compare the database with the binary. */
static int s_compare(const s_state_t *st)
{
    int max = s_max_embedded();
    const s_applied_t *newest = NULL;
    for (int k = 0; k < st->n; k++)
        if (st->rows[k].version > max && (!newest || st->rows[k].version > newest->version))
            newest = &st->rows[k];
    if (newest) {
        ctl_err("the database schema has version %d (%s), newer than this crieurctl knows "
                "(up to %d); use the crieurctl of that release",
                newest->version, newest->name, max);
        return CTL_REFUSED;
    }
    for (int k = 0; k < st->n; k++) {
        const s_applied_t *a = &st->rows[k];
        const ctl_migration_t *m = s_find_embedded(a->version);
        if (!m) {
            fprintf(stderr, "crieurctl: warning: the database has migration %03d_%s, which this "
                            "crieurctl does not know\n",
                    a->version, a->name);
        } else if (strcmp(a->checksum, m->checksum) != 0) {
            fprintf(stderr,
                    "crieurctl: warning: migration %s was applied with checksum %.12s, the "
                    "embedded one is %.12s: the file changed after it was applied\n",
                    m->id, a->checksum[0] ? a->checksum : "(none)", m->checksum);
        }
    }
    return CTL_OK;
}

static int s_status(ctl_t *ctl, PGconn *conn)
{
    s_state_t *st = calloc(1, sizeof *st);
    ctl_table_t *t = ctl_table_new();
    int rc = CTL_REFUSED, pending = 0, current = 0;
    char ver[16];
    if (!st || !t) {
        ctl_err("out of memory");
        goto out;
    }
    rc = s_load(conn, st);
    if (rc != CTL_OK) goto out;
    if (ctl_table_add_column(t, "VERSION", "version", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "NAME", "name", 0, 0) ||
        ctl_table_add_column(t, "STATE", "state", 0, 0) ||
        ctl_table_add_column(t, "APPLIED AT", "applied_at", 0, 0)) {
        rc = CTL_REFUSED;
        goto out;
    }
    /* Every version known to either side, in order. */
    for (int v = 0;;) {
        int next = -1;
        for (size_t e = 0; e < ctl_migrations_count; e++)
            if (ctl_migrations[e].version >= v && (next < 0 || ctl_migrations[e].version < next))
                next = ctl_migrations[e].version;
        for (int a = 0; a < st->n; a++)
            if (st->rows[a].version >= v && (next < 0 || st->rows[a].version < next))
                next = st->rows[a].version;
        if (next < 0) break;
        const ctl_migration_t *m = s_find_embedded(next);
        const s_applied_t *a = s_find_applied(st, next);
        const char *state = a ? (m ? (strcmp(a->checksum, m->checksum) ? "applied (changed)"
                                                                      : "applied")
                                   : "applied (unknown)")
                              : "pending";
        snprintf(ver, sizeof ver, "%03d", next);
        const char *cells[] = {ver, m ? m->name : a->name, state, a ? a->applied_at : NULL};
        if (ctl_table_add_row(t, cells) != 0) {
            rc = CTL_REFUSED;
            goto out;
        }
        if (!a) pending++;
        else if (next > current) current = next;
        v = next + 1;
    }
    if (ctl->json) {
        json_t *doc = json_pack("{s:i, s:i, s:o}", "version", current, "pending", pending,
                                "migrations", ctl_table_json(t));
        if (!doc) {
            ctl_err("out of memory");
            rc = CTL_REFUSED;
            goto out;
        }
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        ctl_table_print_text(t, stdout);
        printf("database version %d, %d pending\n", current, pending);
    }
    rc = s_compare(st);
out:
    ctl_table_destroy(&t);
    free(st);
    return rc;
}

static int s_apply(PGconn *conn, const ctl_migration_t *m)
{
    char ver[16];
    int rc = ctl_db_query(conn, NULL, "BEGIN", 0, NULL);
    if (rc != CTL_OK) return rc;
    char what[160], file[160];
    snprintf(what, sizeof what, "migration %s", m->id);
    snprintf(file, sizeof file, "db/migrations/%s.sql", m->id);
    rc = ctl_db_script(conn, m->sql, what, file);
    if (rc == CTL_OK) {
        snprintf(ver, sizeof ver, "%d", m->version);
        rc = ctl_db_q(conn, NULL,
                      "INSERT INTO crieur.schema_version (version, name, checksum, applied_at) "
                      "VALUES ($1::int, $2, $3, now())",
                      ver, m->name, m->checksum);
    }
    if (rc == CTL_OK) rc = ctl_db_query(conn, NULL, "COMMIT", 0, NULL);
    if (rc != CTL_OK) {
        if (rc != CTL_NOCONN) PQclear(PQexec(conn, "ROLLBACK"));
        return rc;
    }
    return CTL_OK;
}

static int s_migrate(ctl_t *ctl, PGconn *conn)
{
    s_state_t *st = calloc(1, sizeof *st);
    PGresult *res = NULL;
    int rc = CTL_REFUSED, applied = 0;
    if (!st) {
        ctl_err("out of memory");
        return CTL_REFUSED;
    }
    rc = ctl_db_q(conn, &res, "SELECT pg_try_advisory_lock($1::bigint)", S_LOCK_KEY);
    if (rc != CTL_OK) goto out;
    int got = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!got) {
        fprintf(stderr, "crieurctl: another migration is running; waiting for it\n");
        rc = ctl_db_q(conn, NULL, "SELECT pg_advisory_lock($1::bigint)", S_LOCK_KEY);
        if (rc != CTL_OK) goto out;
    }
    rc = ctl_db_query(conn, NULL, "CREATE SCHEMA IF NOT EXISTS crieur", 0, NULL);
    if (rc == CTL_OK)
        rc = ctl_db_query(conn, NULL,
                          "CREATE TABLE IF NOT EXISTS crieur.schema_version ("
                          " version int PRIMARY KEY, name text NOT NULL, checksum text,"
                          " applied_at timestamptz NOT NULL DEFAULT now())",
                          0, NULL);
    if (rc == CTL_OK) rc = s_load(conn, st);
    if (rc == CTL_OK) rc = s_compare(st);
    if (rc != CTL_OK) goto out;
    for (size_t k = 0; k < ctl_migrations_count; k++) {
        const ctl_migration_t *m = &ctl_migrations[k];
        if (s_find_applied(st, m->version)) continue;
        rc = s_apply(conn, m);
        if (rc != CTL_OK) goto out;
        printf("applied %s\n", m->id);
        fflush(stdout);
        applied++;
    }
    if (applied == 0) {
        int current = 0;
        for (int a = 0; a < st->n; a++)
            if (st->rows[a].version > current) current = st->rows[a].version;
        printf("database is up to date (version %d)\n", current);
    }
    rc = CTL_OK;
out:
    /* The lock is the session's: closing the connection releases it too. */
    if (rc != CTL_NOCONN) PQclear(PQexecParams(conn, "SELECT pg_advisory_unlock_all()", 0, NULL,
                                               NULL, NULL, NULL, 0));
    free(st);
    return rc;
}

static int s_run(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    int rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    if (ctl_args_get(cmd, args, "status")) rc = s_status(ctl, conn);
    else rc = s_migrate(ctl, conn);
    ctl_db_close(&conn);
    return rc;
}

static const ctl_opt_t s_opts[] = {
    {"status", NULL, "list the migrations applied and pending; change nothing"},
    {NULL, NULL, NULL},
};

const ctl_command_t ctl_cmd_migrate = {
    .group = "migrate",
    .synopsis = "[--status]",
    .summary = "Creates or upgrades the database schema.",
    .opts = s_opts,
    .details = "The migrations (db/migrations/NNN_name.sql) are built into crieurctl.\n"
               "Safe to run again and from several places at once: the runs take turns under an\n"
               "advisory lock and each migration is applied once, in its own transaction.\n",
    .run = s_run,
};
