/* cr_db: one asynchronous PostgreSQL connection driven by the broker's reactor.
 *
 * Never blocks: connection with PQconnectStart/PQconnectPoll, queries with
 * PQsendQueryParams, PQflush until done, PQconsumeInput and PQisBusy before
 * PQgetResult. One query is in flight at a time; the owner asks whether the
 * connection is idle and sends the next one. LISTEN notifications are handed
 * to a callback. A lost connection is reported to the query's callback (with
 * a NULL result) and re-established with exponential backoff. */
#ifndef CR_DB_H
#define CR_DB_H

#include <libpq-fe.h>
#include <stdint.h>

typedef struct cr_db cr_db_t;

/* Called once per query: res is the final result (NULL if the connection
 * dropped or the query failed to send). Called with every row result. */
typedef void(cr_db_result_fn)(void *arg, PGresult *res, const char *error);
/* Called for each NOTIFY received. */
typedef void(cr_db_notify_fn)(void *arg, const char *channel, const char *payload);
/* Called when a (re)connection is ready, before anything else is sent. */
typedef void(cr_db_ready_fn)(void *arg);

typedef enum {
    CR_DB_DOWN,       /* waiting to reconnect */
    CR_DB_CONNECTING, /* PQconnectPoll in progress */
    CR_DB_IDLE,       /* connected, no query in flight */
    CR_DB_BUSY,       /* a query in flight */
} cr_db_state_t;

/* app_name is announced to the server (application_name), so that other
 * brokers can see this one's session in pg_stat_activity. on_lost is called
 * when an established connection drops (may be NULL). */
cr_db_t *cr_db_new(const char *conninfo, const char *app_name, cr_db_notify_fn *on_notify,
                   cr_db_ready_fn *on_ready, cr_db_ready_fn *on_lost, void *arg);
void cr_db_destroy(cr_db_t **self_p);

cr_db_state_t cr_db_state(const cr_db_t *self);

/* The socket to poll (-1 when none) and the events wanted (ZMQ_POLLIN/OUT). */
int cr_db_fd(const cr_db_t *self);
short cr_db_events(const cr_db_t *self);

/* Drives the connection: call every loop iteration (cheap when nothing is
 * ready). revents are the poll results for cr_db_fd. */
void cr_db_step(cr_db_t *self, short revents);

/* Milliseconds until the db needs a step without socket activity (reconnect
 * backoff), or -1. */
int64_t cr_db_timeout_ms(const cr_db_t *self);

/* Sends a parametrised query (text parameters; NULL = SQL NULL). Only when
 * idle: returns 0, or -1 if busy/down or the send failed. */
int cr_db_send(cr_db_t *self, const char *sql, int nparams, const char *const *params,
               cr_db_result_fn *cb, void *cb_arg);

/* Sends a fixed statement without parameters (several statements allowed). */
int cr_db_send_simple(cr_db_t *self, const char *sql, cr_db_result_fn *cb, void *cb_arg);

/* Round trips that have completed and the last one's duration (ms). */
uint64_t cr_db_round_trips(const cr_db_t *self);
int64_t cr_db_last_rtt_ms(const cr_db_t *self);

#endif
