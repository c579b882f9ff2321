/* ctl_db: crieurctl's PostgreSQL access (blocking libpq; crieurctl is a
 * one-shot tool, not a reactor).
 *
 * Every statement carrying a value goes through PQexecParams with text
 * parameters: values are never pasted into SQL text. The one exception is
 * ctl_db_script, which runs a migration file embedded in the binary.
 * Errors are printed as PostgreSQL gives them:
 *     crieurctl: <primary message>
 *     detail: <detail>          (when there is one)
 *     hint: <hint>              (when there is one) */
#ifndef CTL_DB_H
#define CTL_DB_H

#include "ctl.h"
#include "ctl_table.h"

#include <jansson.h>
#include <libpq-fe.h>

/* Connects with ctl->database (libpq conninfo or URL; NULL = libpq
 * defaults), client_encoding UTF8. Returns CTL_OK and *conn_p, or CTL_NOCONN
 * with "cannot connect to PostgreSQL (...)" printed. */
int ctl_db_connect(const ctl_t *ctl, PGconn **conn_p);

/* Closes and NULLs *conn_p; safe twice. */
void ctl_db_close(PGconn **conn_p);

/* Runs one statement with text parameters (NULL = SQL NULL). On success
 * returns CTL_OK and, if res_p is not NULL, the result (PQclear it). On
 * failure prints the error and returns CTL_REFUSED, or CTL_NOCONN if the
 * connection is gone; *res_p is then NULL. */
int ctl_db_query(PGconn *conn, PGresult **res_p, const char *sql, int nparams,
                 const char *const *params);

#define CTL_DB_NARGS(...) ((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *)))
/* ctl_db_q(conn, &res, "select $1", a): ctl_db_query with the parameters inline. */
#define ctl_db_q(conn, res_p, sql, ...)                                                  \
    ctl_db_query((conn), (res_p), (sql), CTL_DB_NARGS(__VA_ARGS__),                      \
                 (const char *const[]){__VA_ARGS__})

/* Runs a multi-statement SQL script (simple query protocol): for the
 * migrations embedded in the binary only. Errors read "crieurctl: <what>
 * failed: <message>", then the line of the error in file. */
int ctl_db_script(PGconn *conn, const char *sql, const char *what, const char *file);

/* Prints the error of a failed result (or of the connection if res is NULL). */
void ctl_db_print_error(PGconn *conn, const PGresult *res, const char *context);

/* The value at (row, col), or NULL for SQL NULL. */
const char *ctl_db_get(const PGresult *res, int row, int col);

/* A JSON value for (row, col) typed by the column's type: integers, numeric,
 * booleans, json/jsonb parsed, NULL as null, everything else a string. New
 * reference. */
json_t *ctl_db_json_value(const PGresult *res, int row, int col);

/* One row as a JSON object keyed by the column names. New reference. */
json_t *ctl_db_row_json(const PGresult *res, int row);

/* Appends every row of res to t, column i of res to column i of t. */
int ctl_db_fill_table(ctl_table_t *t, const PGresult *res);

/* Resolves a client given by name or id to its id (text, in buf): prints
 * the database's "unknown client" error and returns CTL_REFUSED if none. */
int ctl_db_client_id(PGconn *conn, const char *client, char *buf, size_t len);

/* SQL fragments for timestamps: UTC as "YYYY-MM-DDTHH:MM:SSZ", and the wall
 * time of a time zone with its offset, "YYYY-MM-DD HH:MM:SS+01:00". ts and
 * tz are SQL expressions (column names), never values. */
#define CTL_SQL_UTC(ts) "to_char((" ts ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define CTL_SQL_LOCAL(ts, tz)                                                            \
    "(to_char((" ts ") AT TIME ZONE (" tz "), 'YYYY-MM-DD HH24:MI:SS') || "              \
    "(SELECT CASE WHEN o < 0 THEN '-' ELSE '+' END || lpad((abs(o) / 3600)::text, 2, '0')" \
    " || ':' || lpad((abs(o) % 3600 / 60)::text, 2, '0') FROM (SELECT extract(epoch FROM "\
    "((" ts ") AT TIME ZONE (" tz ")) - ((" ts ") AT TIME ZONE 'UTC'))::int AS o) AS off_))"

#endif
