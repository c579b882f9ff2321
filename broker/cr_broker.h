/* cr_broker: the broker's reactor.
 *
 * One thread. zmq_poll watches the ROUTER socket that workers connect to and
 * the PostgreSQL socket; timers come from the next due job, heartbeats and
 * maintenance. The database is used through cr_db (asynchronous libpq) with
 * one statement in flight at a time: crieur.broker_cycle applies a batch of
 * results and claims the next batch of due jobs in the same round trip, so
 * the ZeroMQ side never waits for PostgreSQL and nothing is done per job.
 *
 * Job life inside the broker: claimed (leased in PostgreSQL) -> HELD until
 * its due time -> READY until a worker of its role has credit -> INFLIGHT
 * on that worker -> its result is buffered and written, fenced on (job,
 * attempt, this broker), by the next cycle. */
#ifndef CR_BROKER_H
#define CR_BROKER_H

#include <stdint.h>

typedef struct {
    char *database;
    char *bind;
    char *broker_id;
    long heartbeat_ms;
    long heartbeat_liveness;
    long lease_ms;
    long lookahead_ms;
    long tick_ms;
    long claim_batch;
    long task_batch;
    long task_timeout_ms;
    long backoff_ms;
    long grace_ms;
    long stats_interval_s;
    long reap_ms;
    char *log_level;
    char *log_format;
    char *secret_key_file;
    struct cr_secret_key *secret_key; /* loaded by main from secret_key_file or the environment */
} cr_broker_config_t;

typedef struct cr_broker cr_broker_t;

cr_broker_t *cr_broker_new(const cr_broker_config_t *cfg);
void cr_broker_destroy(cr_broker_t **self_p);

/* Runs until *stop becomes non-zero (graceful: stop claiming, wait for
 * in-flight results up to grace_ms, release the rest) or reaches 2 (now).
 * Returns 0 on a clean stop, -1 on a fatal error (cannot bind). */
int cr_broker_run(cr_broker_t *self, volatile int *stop, volatile int *reload);

#endif
