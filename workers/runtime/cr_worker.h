/* cr_worker: the runtime every Crieur worker role shares.
 *
 * One single-threaded reactor: zmq_poll watches one DEALER socket per broker
 * and curl's sockets; nothing blocks. Brokers are active-active (each claims
 * its own jobs), so a worker serves every broker in its list at once. For
 * each broker the worker
 *   - says HELLO, waits for WELCOME, then grants it CREDIT from the shared
 *     capacity (see "Credit" below);
 *   - receives TASKS, checks each one, runs it through its platform adapter
 *     (cr_adapter.h) as a sequence of HTTP requests, and queues its RESULT
 *     for the broker that sent it, and for that broker only;
 *   - at the end of every loop iteration sends each broker its queued
 *     results as one ResultBatch whose credit carries the slots given to
 *     that broker (so results batch by themselves under load);
 *   - heartbeats every heartbeat_ms (that broker's WELCOME sets it), counts
 *     any message from it as liveness, and after heartbeat_ms * liveness of
 *     silence presumes it dead: its credit is forfeited, the socket closed,
 *     and after a backoff (100 ms doubling to 2 s, with jitter) a new socket
 *     (same routing id) says HELLO again. Running tasks are kept; their
 *     results wait for the next WELCOME from their broker (the broker fences
 *     stale ones by attempt), and are dropped with a warning after
 *     result_ttl_ms (the broker releases the jobs anyway);
 *   - on its BYE ("I do not know you") says HELLO again; on CANCEL answers
 *     CANCELLED for a task whose HTTP request has not started; on DRAIN
 *     stops granting it credit until its next WELCOME.
 * Stopping (SIGTERM) applies to every broker: no new credit anywhere,
 * in-flight tasks finish within the grace, results go out, BYE to each.
 *
 * Credit. One capacity C is shared by all brokers. With held(b) the tasks
 * from broker b that are pending or running and out(b) the credit b still
 * holds (granted, not yet used by a task), the worker keeps at all times
 *
 *     sum over b of (out(b) + held(b))  <=  C                        (I)
 *
 * (I) holds because out(b) only grows by slots taken from the free ones
 * (C minus the left side), a task is only taken on when a slot is free after
 * its broker's credit is used (otherwise it is refused as over capacity),
 * and everything else only lowers the left side: a finished task frees its
 * slot, a dead, forgotten (BYE) or re-HELLOed broker forfeits out(b).
 * Which broker gets a free slot: the READY one with the smallest
 * out(b) + held(b) (its share), ties in round robin, and no broker beyond
 * ceil(C / contenders), the contenders being the READY brokers and those in
 * HELLO_SENT (first contact, or HELLO again after their BYE: their share is
 * kept for them for one liveness period; a DRAINING, BACKOFF or RETRYING
 * broker is not counted). So slots are split evenly, a finished task's slot
 * goes back to its broker when shares are even, a dead broker's share goes
 * to the live ones, and a broker that comes back gets its share again as
 * slots free up. Credit cannot be taken back: a broker that holds credit it
 * does not use keeps it until it uses it or dies.
 *
 * Vocabulary: a *task* is one dispatch of a job (job id, attempt); a *slot* is
 * room for one task; *credit* is the number of slots a broker may fill.
 *
 * States (no state hidden in flag combinations):
 *   broker link (cr_broker_state_t, one per endpoint):
 *     HELLO_SENT -> READY (WELCOME) -> DRAINING (DRAIN) -> READY (WELCOME)
 *     READY/DRAINING -> HELLO_SENT (BYE: HELLO again on the same socket)
 *     READY/DRAINING/HELLO_SENT/RETRYING -> BACKOFF (presumed dead: silent,
 *       or no WELCOME within a liveness period) -> RETRYING (new socket,
 *       HELLO) -> READY (WELCOME)
 *   life:  ACTIVE -> STOPPING (stop) -> STOPPED (all results sent or grace
 *          over or second stop; BYE sent to every broker)
 * A task: PENDING (received, no request yet) -> RUNNING (request in flight)
 *   <-> WAITING (CR_STEP_WAIT: no request, no connection held, woken after
 *   the delay, or earlier by cr_call_wake from another task's step) -> DONE
 *   (result queued for its broker) -> sent and freed.
 *   CANCEL ends a PENDING task, or a WAITING one that has sent nothing. */
#ifndef CR_WORKER_H
#define CR_WORKER_H

#include "cr_adapter.h"
#include "crieur.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define CR_WORKER_VERSION "0.1.0"
#define CR_WORKER_MAX_BROKERS 32
#define CR_WORKER_RESULT_TTL_MS 300000 /* results for an absent broker are kept 5 min */

typedef enum {
    CR_BROKER_HELLO_SENT, /* HELLO sent, broker believed alive: waiting for WELCOME */
    CR_BROKER_READY,      /* welcomed: credit, tasks, results and heartbeats flow */
    CR_BROKER_DRAINING,   /* welcomed, asked to drain: results and heartbeats, no credit */
    CR_BROKER_BACKOFF,    /* presumed dead: no socket, reconnects after a backoff */
    CR_BROKER_RETRYING,   /* new socket and HELLO after BACKOFF: waiting for WELCOME */
} cr_broker_state_t;

typedef struct {
    const char *broker;                  /* endpoint, e.g. tcp://127.0.0.1:5555, or a
                                            comma-separated list (one DEALER each) */
    const char *worker_id;               /* ZeroMQ routing id, 1..255 bytes */
    Crieur__Role role;
    uint32_t kinds;                      /* CR_KIND_BIT of the job kinds this role runs */
    const cr_adapter_t *const *adapters; /* NULL-terminated; the platforms announced */
    uint32_t capacity;                   /* concurrent tasks */
    long request_timeout_ms;             /* per HTTP request, capped by the task deadline */
    long connect_timeout_ms;
    long grace_ms;                       /* drain time on the first stop */
    long heartbeat_ms;                   /* until WELCOME says otherwise */
    uint32_t heartbeat_liveness;         /* 0 = 3 */
    const char *version;                 /* NULL = CR_WORKER_VERSION */
    void *zmq_ctx;                       /* NULL = the worker makes (and ends) its own */
    long result_ttl_ms;                  /* 0 = CR_WORKER_RESULT_TTL_MS */
} cr_worker_opts_t;

typedef struct {
    uint64_t frames_received;
    uint64_t frames_malformed;  /* undecodable, bad version, no body, broken invariants */
    uint64_t frames_unexpected; /* well-formed but not for a worker (HELLO, RESULTS...) */
    uint64_t tasks_received;
    uint64_t tasks_invalid;     /* no job id / attempt: cannot be answered, dropped */
    uint64_t tasks_noop;        /* noop tasks acknowledged (benchmarks) */
    uint64_t tasks_rejected;    /* answered at once (unknown platform, kind, capacity...) */
    uint64_t tasks_duplicate;   /* same (job, attempt) already held: ignored */
    uint64_t tasks_cancelled;
    uint64_t tasks_aborted;     /* unfinished at exit: no result sent */
    uint64_t step_waits;        /* CR_STEP_WAIT pauses (e.g. polling a media container) */
    uint64_t results_sent;
    uint64_t results_ok;
    uint64_t batches_sent;
    uint64_t credit_granted;
    uint64_t hellos_sent;
    uint64_t reconnects;        /* broker presumed dead */
    uint64_t stalls;            /* the process did not run for a while (paused) */
    uint64_t byes_received;
    uint64_t results_expired;   /* dropped after result_ttl_ms waiting for their broker */
    uint32_t in_flight;         /* tasks held (pending or running) */
    uint32_t results_queued;    /* finished, not yet sent */
    uint32_t connected;         /* brokers currently welcomed (READY or DRAINING) */
    uint32_t brokers;           /* brokers configured */
    uint32_t credit_outstanding; /* credit all brokers hold: + in_flight <= capacity */
} cr_worker_stats_t;

/* One broker's view (cr_worker_broker_stats). */
typedef struct {
    const char *endpoint; /* owned by the worker */
    cr_broker_state_t state;
    uint32_t outstanding;    /* credit it holds */
    uint32_t in_flight;      /* its tasks pending or running */
    uint32_t results_queued; /* its results not yet sent */
    uint64_t hellos_sent;
    uint64_t welcomes;
    uint64_t reconnects;
    uint64_t credit_granted;
    uint64_t tasks_received;
    uint64_t results_sent;
    uint64_t results_expired;
} cr_worker_broker_stats_t;

typedef struct cr_worker cr_worker_t;

/* Checks a broker list (one endpoint, or several separated by commas; spaces
 * around items are ignored): no empty item, no endpoint twice, at most
 * CR_WORKER_MAX_BROKERS, each one accepted by zmq_connect (tcp needs a host
 * and a port 1..65535). Returns the number of endpoints, or -1 with err
 * filled (a configuration error: exit 2). */
int cr_worker_check_brokers(const char *list, char *err, size_t errlen);

const char *cr_broker_state_name(cr_broker_state_t state);

/* Creates the worker and connects to every broker (HELLO is sent at once).
 * NULL on failure (including a broker list cr_worker_check_brokers rejects). */
cr_worker_t *cr_worker_new(const cr_worker_opts_t *opts);
/* Aborts whatever is still running (no results), closes everything. */
void cr_worker_destroy(cr_worker_t **self_p);

/* Runs one loop iteration, waiting at most wait_ms (and never more than
 * 1000 ms) for something to happen. Returns 1 while the worker runs, 0 once
 * it has stopped (BYE sent: the caller exits), -1 on a fatal error. */
int cr_worker_step(cr_worker_t *self, long wait_ms);

/* First call: stop granting credit, finish in-flight tasks for up to
 * grace_ms, send their results, abort the rest, BYE. Second call: abort
 * everything now, BYE. Safe to call from the loop only (not a signal handler). */
void cr_worker_stop(cr_worker_t *self);

/* Reloadable settings (SIGHUP); apply to requests started afterwards. */
void cr_worker_set_timeouts(cr_worker_t *self, long request_timeout_ms, long connect_timeout_ms,
                            long grace_ms);

void cr_worker_stats(const cr_worker_t *self, cr_worker_stats_t *out);
/* Brokers in the order of the list; stats of broker i: 0, or -1 if no such broker. */
size_t cr_worker_nbrokers(const cr_worker_t *self);
int cr_worker_broker_stats(const cr_worker_t *self, size_t i, cr_worker_broker_stats_t *out);

#endif
