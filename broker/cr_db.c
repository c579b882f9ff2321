#include "cr_db.h"

#include "cr_log.h"
#include "cr_time.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct cr_db {
    char *conninfo;
    char *app_name;
    cr_db_ready_fn *on_lost;
    PGconn *conn;
    cr_db_state_t state;
    PostgresPollingStatusType poll; /* while connecting */
    int flushing;                   /* query data still to flush */
    int64_t retry_at_ms;            /* monotonic: next connection attempt */
    int64_t backoff_ms;
    cr_db_result_fn *cb;
    void *cb_arg;
    PGresult *last; /* the last result of the query in flight */
    cr_db_notify_fn *on_notify;
    cr_db_ready_fn *on_ready;
    void *arg;
    uint64_t round_trips;
    int64_t sent_ms;
    int64_t last_rtt_ms;
    int logged_down;     /* failures since the last success */
    int64_t last_down_log; /* monotonic ms */
};

cr_db_t *cr_db_new(const char *conninfo, const char *app_name, cr_db_notify_fn *on_notify,
                   cr_db_ready_fn *on_ready, cr_db_ready_fn *on_lost, void *arg)
{
    cr_db_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->conninfo = strdup(conninfo ? conninfo : "");
    self->app_name = strdup(app_name ? app_name : "crieur");
    if (!self->conninfo || !self->app_name) {
        free(self->conninfo);
        free(self->app_name);
        free(self);
        return NULL;
    }
    self->on_lost = on_lost;
    self->state = CR_DB_DOWN;
    self->backoff_ms = 100;
    self->on_notify = on_notify;
    self->on_ready = on_ready;
    self->arg = arg;
    return self;
}

static void s_fail_query(cr_db_t *self, const char *why)
{
    cr_db_result_fn *cb = self->cb;
    void *arg = self->cb_arg;
    self->cb = NULL;
    if (self->last) {
        PQclear(self->last);
        self->last = NULL;
    }
    if (cb) cb(arg, NULL, why);
}

static void s_drop(cr_db_t *self, const char *why)
{
    int was_up = self->state == CR_DB_IDLE || self->state == CR_DB_BUSY;
    int64_t now = cr_mono_ms();
    if (!self->logged_down)
        cr_warn("database connection lost: %s; reconnecting with backoff", why ? why : "unknown");
    else if (now - self->last_down_log >= 30000)
        cr_warn("still no database after %d attempts: %s; check --database-url / CRIEUR_DATABASE_URL",
                self->logged_down, why ? why : "unknown");
    if (!self->logged_down || now - self->last_down_log >= 30000) self->last_down_log = now;
    self->logged_down++;
    if (self->conn) PQfinish(self->conn);
    self->conn = NULL;
    self->state = CR_DB_DOWN;
    self->flushing = 0;
    self->retry_at_ms = cr_mono_ms() + self->backoff_ms;
    self->backoff_ms = self->backoff_ms * 2 > 5000 ? 5000 : self->backoff_ms * 2;
    s_fail_query(self, why ? why : "connection lost");
    if (was_up && self->on_lost) self->on_lost(self->arg);
}

void cr_db_destroy(cr_db_t **self_p)
{
    if (!self_p || !*self_p) return;
    cr_db_t *self = *self_p;
    self->cb = NULL;
    if (self->last) PQclear(self->last);
    if (self->conn) PQfinish(self->conn);
    free(self->conninfo);
    free(self->app_name);
    free(self);
    *self_p = NULL;
}

cr_db_state_t cr_db_state(const cr_db_t *self)
{
    return self->state;
}

int cr_db_fd(const cr_db_t *self)
{
    return self->conn ? PQsocket(self->conn) : -1;
}

short cr_db_events(const cr_db_t *self)
{
    if (!self->conn) return 0;
    if (self->state == CR_DB_CONNECTING)
        return self->poll == PGRES_POLLING_WRITING ? ZMQ_POLLOUT : ZMQ_POLLIN;
    return (short)(ZMQ_POLLIN | (self->flushing ? ZMQ_POLLOUT : 0));
}

int64_t cr_db_timeout_ms(const cr_db_t *self)
{
    if (self->state != CR_DB_DOWN) return -1;
    int64_t d = self->retry_at_ms - cr_mono_ms();
    return d < 0 ? 0 : d;
}

static void s_start_connect(cr_db_t *self)
{
    /* the conninfo (key=value or URL) is expanded; application_name is added */
    const char *keys[] = {"dbname", "application_name", NULL};
    const char *vals[] = {self->conninfo, self->app_name, NULL};
    self->conn = PQconnectStartParams(keys, vals, 1);
    if (!self->conn || PQstatus(self->conn) == CONNECTION_BAD) {
        char why[512];
        snprintf(why, sizeof why, "%s",
                 self->conn ? PQerrorMessage(self->conn) : "out of memory");
        why[strcspn(why, "\n")] = '\0';
        s_drop(self, why);
        return;
    }
    self->state = CR_DB_CONNECTING;
    self->poll = PGRES_POLLING_WRITING;
}

static void s_notifies(cr_db_t *self)
{
    PGnotify *n;
    while (self->conn && (n = PQnotifies(self->conn)) != NULL) {
        if (self->on_notify) self->on_notify(self->arg, n->relname, n->extra);
        PQfreemem(n);
    }
}

static void s_connecting(cr_db_t *self)
{
    self->poll = PQconnectPoll(self->conn);
    if (self->poll == PGRES_POLLING_FAILED) {
        char why[512];
        snprintf(why, sizeof why, "%s", PQerrorMessage(self->conn));
        why[strcspn(why, "\n")] = '\0';
        s_drop(self, why);
    } else if (self->poll == PGRES_POLLING_OK) {
        if (PQsetnonblocking(self->conn, 1) != 0) {
            s_drop(self, "cannot make the connection non-blocking");
            return;
        }
        cr_info("database connected (server %d)", PQserverVersion(self->conn));
        self->state = CR_DB_IDLE;
        self->backoff_ms = 100;
        self->logged_down = 0;
        if (self->on_ready) self->on_ready(self->arg);
    }
}

/* Reads whatever is available; delivers the query's result when complete. */
static void s_read(cr_db_t *self)
{
    if (!PQconsumeInput(self->conn)) {
        char why[512];
        snprintf(why, sizeof why, "%s", PQerrorMessage(self->conn));
        why[strcspn(why, "\n")] = '\0';
        s_drop(self, why);
        return;
    }
    while (self->state == CR_DB_BUSY && !self->flushing && !PQisBusy(self->conn)) {
        PGresult *r = PQgetResult(self->conn);
        if (r) {
            /* keep the last (for multi-statement strings), free the others */
            if (self->last) PQclear(self->last);
            self->last = r;
            continue;
        }
        /* NULL: the query is complete */
        self->state = CR_DB_IDLE;
        self->round_trips++;
        self->last_rtt_ms = cr_mono_ms() - self->sent_ms;
        cr_db_result_fn *cb = self->cb;
        void *arg = self->cb_arg;
        PGresult *res = self->last;
        self->cb = NULL;
        self->last = NULL;
        if (cb) {
            const char *err = NULL;
            ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
            if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
                err = res ? PQresultErrorMessage(res) : "no result";
            cb(arg, res, err);
        }
        if (res) PQclear(res);
        if (!self->conn) return; /* the callback may not drop, but be safe */
    }
    s_notifies(self);
    if (self->state == CR_DB_IDLE && PQstatus(self->conn) == CONNECTION_BAD)
        s_drop(self, "connection closed by the server");
}

void cr_db_step(cr_db_t *self, short revents)
{
    switch (self->state) {
    case CR_DB_DOWN:
        if (cr_mono_ms() >= self->retry_at_ms) s_start_connect(self);
        return;
    case CR_DB_CONNECTING:
        if (revents || self->poll == PGRES_POLLING_WRITING) s_connecting(self);
        return;
    case CR_DB_IDLE:
    case CR_DB_BUSY:
        if (self->flushing) {
            int f = PQflush(self->conn);
            if (f < 0) {
                s_drop(self, "failed to send the query");
                return;
            }
            self->flushing = f == 1;
        }
        if (revents & ZMQ_POLLIN) s_read(self);
        return;
    }
}

static int s_after_send(cr_db_t *self, int ok, cr_db_result_fn *cb, void *cb_arg)
{
    if (!ok) {
        char why[512];
        snprintf(why, sizeof why, "%s", PQerrorMessage(self->conn));
        why[strcspn(why, "\n")] = '\0';
        cr_warn("database send failed: %s", why);
        s_drop(self, why);
        return -1;
    }
    self->cb = cb;
    self->cb_arg = cb_arg;
    self->state = CR_DB_BUSY;
    self->sent_ms = cr_mono_ms();
    int f = PQflush(self->conn);
    if (f < 0) {
        self->cb = NULL;
        s_drop(self, "failed to send the query");
        return -1;
    }
    self->flushing = f == 1;
    return 0;
}

int cr_db_send(cr_db_t *self, const char *sql, int nparams, const char *const *params,
               cr_db_result_fn *cb, void *cb_arg)
{
    if (self->state != CR_DB_IDLE) return -1;
    int ok = PQsendQueryParams(self->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    return s_after_send(self, ok, cb, cb_arg);
}

int cr_db_send_simple(cr_db_t *self, const char *sql, cr_db_result_fn *cb, void *cb_arg)
{
    if (self->state != CR_DB_IDLE) return -1;
    int ok = PQsendQuery(self->conn, sql);
    return s_after_send(self, ok, cb, cb_arg);
}

uint64_t cr_db_round_trips(const cr_db_t *self)
{
    return self->round_trips;
}

int64_t cr_db_last_rtt_ms(const cr_db_t *self)
{
    return self->last_rtt_ms;
}
