#include "ctl_db.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Type OIDs of pg_type (stable across PostgreSQL versions). */
#define S_BOOLOID 16
#define S_INT8OID 20
#define S_INT2OID 21
#define S_INT4OID 23
#define S_OIDOID 26
#define S_JSONOID 114
#define S_FLOAT4OID 700
#define S_FLOAT8OID 701
#define S_NUMERICOID 1700
#define S_JSONBOID 3802

/* libpq messages end with a newline and may span lines ("\n\tIs the server
 * running..."): one line, single spaces, for "(...)" in our messages. */
static void s_one_line(const char *in, char *out, size_t len)
{
    size_t o = 0;
    int space = 0, line = 0;
    if (len == 0) return;
    for (const char *p = in ? in : ""; *p && o + 1 < len; p++) {
        if (*p == '\n' || *p == '\r') {
            line = o > 0;
            continue;
        }
        if (*p == '\t' || *p == ' ') {
            space = o > 0;
            continue;
        }
        if (line && o + 3 < len) { /* a new line of the message: "; " */
            out[o++] = ';';
            out[o++] = ' ';
        } else if (space && o + 2 < len) {
            out[o++] = ' ';
        }
        space = line = 0;
        out[o++] = *p;
    }
    out[o] = '\0';
}

/* Server notices: warnings are shown, NOTICE/INFO/LOG/DEBUG only with --verbose
 * ("schema crieur already exists, skipping" is noise for an operator). */
static void s_notice(void *arg, const PGresult *res)
{
    int verbose = (int)(intptr_t)arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    int quiet = sev && (strcmp(sev, "NOTICE") == 0 || strcmp(sev, "INFO") == 0 ||
                        strcmp(sev, "LOG") == 0 || strcmp(sev, "DEBUG") == 0);
    if (quiet && !verbose) return;
    fprintf(stderr, "crieurctl: %s: %s\n", quiet ? "notice" : "warning", msg ? msg : "");
}

int ctl_db_connect(const ctl_t *ctl, PGconn **conn_p)
{
    const char *kw[6], *val[6];
    char msg[1024];
    int n = 0;
    PGconn *conn;
    *conn_p = NULL;
    /* Defaults first: whatever the conninfo (expanded from dbname) says wins,
     * except the client encoding, which crieurctl needs to be UTF-8. */
    if (!getenv("PGCONNECT_TIMEOUT")) {
        kw[n] = "connect_timeout";
        val[n++] = "10";
    }
    kw[n] = "fallback_application_name";
    val[n++] = "crieurctl";
    if (ctl->database && ctl->database[0]) {
        kw[n] = "dbname";
        val[n++] = ctl->database;
    }
    kw[n] = "client_encoding";
    val[n++] = "UTF8";
    kw[n] = NULL;
    val[n] = NULL;
    conn = PQconnectdbParams(kw, val, 1);
    if (!conn) {
        ctl_err("cannot connect to PostgreSQL (out of memory); set CRIEUR_DATABASE_URL or --database");
        return CTL_NOCONN;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        s_one_line(PQerrorMessage(conn), msg, sizeof msg);
        ctl_err("cannot connect to PostgreSQL (%s); set CRIEUR_DATABASE_URL or --database", msg);
        PQfinish(conn);
        return CTL_NOCONN;
    }
    PQsetNoticeReceiver(conn, s_notice, (void *)(intptr_t)ctl->verbose);
    *conn_p = conn;
    return CTL_OK;
}

void ctl_db_close(PGconn **conn_p)
{
    if (!conn_p || !*conn_p) return;
    PQfinish(*conn_p);
    *conn_p = NULL;
}

void ctl_db_print_error(PGconn *conn, const PGresult *res, const char *context)
{
    char msg[2048];
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    if (!primary) {
        s_one_line(PQerrorMessage(conn), msg, sizeof msg);
        primary = msg[0] ? msg : "the database returned an error without a message";
    }
    if (context) fprintf(stderr, "crieurctl: %s: %s\n", context, primary);
    else fprintf(stderr, "crieurctl: %s\n", primary);
    if (detail) fprintf(stderr, "detail: %s\n", detail);
    if (hint) fprintf(stderr, "hint: %s\n", hint);
}

/* Shared by query and script: classifies a result, prints errors. */
static int s_check(PGconn *conn, PGresult *res, const char *context)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    char msg[1024];
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return CTL_OK;
    if (PQstatus(conn) == CONNECTION_BAD) {
        s_one_line(PQerrorMessage(conn), msg, sizeof msg);
        ctl_err("lost the connection to PostgreSQL (%s)", msg);
        return CTL_NOCONN;
    }
    ctl_db_print_error(conn, res, context);
    return CTL_REFUSED;
}

int ctl_db_query(PGconn *conn, PGresult **res_p, const char *sql, int nparams,
                 const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    int rc = s_check(conn, res, NULL);
    if (res_p) *res_p = NULL;
    if (rc != CTL_OK || !res_p) {
        PQclear(res);
        return rc;
    }
    *res_p = res;
    return CTL_OK;
}

/* Line (1-based) of the pos-th character (1-based, as PostgreSQL counts:
 * characters, not bytes) of a UTF-8 script. */
static long s_line_of(const char *sql, long pos)
{
    long line = 1, ch = 0;
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++) {
        if ((*p & 0xC0) == 0x80) continue; /* continuation byte: same character */
        if (++ch >= pos) break;
        if (*p == '\n') line++;
    }
    return line;
}

int ctl_db_script(PGconn *conn, const char *sql, const char *what, const char *file)
{
    char context[160];
    snprintf(context, sizeof context, "%s failed", what);
    PGresult *res = PQexec(conn, sql);
    int rc = s_check(conn, res, context);
    if (rc == CTL_REFUSED && res) {
        const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
        const char *where = PQresultErrorField(res, PG_DIAG_CONTEXT);
        if (pos) {
            char *end;
            errno = 0;
            long p = strtol(pos, &end, 10);
            if (errno == 0 && end != pos && p > 0)
                fprintf(stderr, "at: line %ld of %s\n", s_line_of(sql, p), file);
        }
        if (where) fprintf(stderr, "context: %s\n", where);
    }
    PQclear(res);
    return rc;
}

const char *ctl_db_get(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) return NULL;
    return PQgetvalue(res, row, col);
}

json_t *ctl_db_json_value(const PGresult *res, int row, int col)
{
    const char *s = ctl_db_get(res, row, col);
    char *end;
    if (!s) return json_null();
    switch (PQftype(res, col)) {
    case S_BOOLOID:
        return json_boolean(s[0] == 't');
    case S_INT2OID:
    case S_INT4OID:
    case S_INT8OID:
    case S_OIDOID: {
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == 0 && *end == '\0') return json_integer(v);
        break;
    }
    case S_FLOAT4OID:
    case S_FLOAT8OID:
    case S_NUMERICOID: {
        errno = 0;
        double d = strtod(s, &end);
        if (errno == 0 && *end == '\0') return json_real(d);
        break;
    }
    case S_JSONOID:
    case S_JSONBOID: {
        json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
        if (v) return v;
        break;
    }
    default:
        break;
    }
    return json_string(s);
}

json_t *ctl_db_row_json(const PGresult *res, int row)
{
    json_t *obj = json_object();
    if (!obj) return NULL;
    for (int c = 0; c < PQnfields(res); c++) {
        json_t *v = ctl_db_json_value(res, row, c);
        if (!v || json_object_set_new(obj, PQfname(res, c), v) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

int ctl_db_fill_table(ctl_table_t *t, const PGresult *res)
{
    int n = PQnfields(res);
    const char *cells[32];
    if (n > ctl_table_ncols(t) || n > 32) return -1;
    for (int r = 0; r < PQntuples(res); r++) {
        for (int c = 0; c < ctl_table_ncols(t); c++) cells[c] = c < n ? ctl_db_get(res, r, c) : NULL;
        if (ctl_table_add_row(t, cells) != 0) return -1;
    }
    return 0;
}

int ctl_db_client_id(PGconn *conn, const char *client, char *buf, size_t len)
{
    PGresult *res = NULL;
    int rc = ctl_db_q(conn, &res, "SELECT crieur.client_id($1)::text", client);
    if (rc != CTL_OK) return rc;
    snprintf(buf, len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return CTL_OK;
}
