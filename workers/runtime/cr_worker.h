/* cr_worker: the runtime every Crieur worker role shares.
 *
 * One single-threaded reactor: zmq_poll watches the DEALER socket to the
 * broker and curl's sockets; nothing blocks. The worker
 *   - says HELLO, waits for WELCOME, grants CREDIT (capacity - held slots);
 *   - receives TASKS, checks each one, runs it through its platform adapter
 *     (cr_adapter.h) as a sequence of HTTP requests, and queues its RESULT;
 *   - at the end of every loop iteration sends the queued results as one
 *     ResultBatch whose credit gives the freed slots back (so results batch
 *     by themselves under load);
 *   - heartbeats every heartbeat_ms, counts any broker message as liveness,
 *     and after heartbeat_ms * liveness of silence presumes the broker dead:
 *     new socket (same routing id), HELLO again, running tasks kept and
 *     their results sent after the next WELCOME (the broker fences stale
 *     ones by attempt);
 *   - on the broker's BYE ("I do not know you") says HELLO again; on CANCEL
 *     answers CANCELLED for a task whose HTTP request has not started; on
 *     DRAIN stops granting credit until the next WELCOME.
 *
 * Vocabulary: a *task* is one dispatch of a job (job id, attempt); a *slot* is
 * room for one task; *credit* is the number of slots the broker may fill.
 *
 * States (no state hidden in flag combinations):
 *   connection: HELLO_SENT -> READY (WELCOME) -> HELLO_SENT (BYE, presumed dead)
 *   life:       ACTIVE <-> DRAINING (DRAIN / next WELCOME) -> STOPPING (stop)
 *               -> STOPPED (all results sent or grace over or second stop; BYE sent)
 * A task: PENDING (received, no request yet) -> RUNNING (request in flight)
 *   -> DONE (result queued) -> sent and freed. */
#ifndef CR_WORKER_H
#define CR_WORKER_H

#include "cr_adapter.h"
#include "crieur.pb-c.h"

#include <stdint.h>

#define CR_WORKER_VERSION "0.1.0"

typedef struct {
    const char *broker;                  /* endpoint, e.g. tcp://127.0.0.1:5555 */
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
} cr_worker_opts_t;

typedef struct {
    uint64_t frames_received;
    uint64_t frames_malformed;  /* undecodable, bad version, no body, broken invariants */
    uint64_t frames_unexpected; /* well-formed but not for a worker (HELLO, RESULTS...) */
    uint64_t tasks_received;
    uint64_t tasks_invalid;     /* no job id / attempt: cannot be answered, dropped */
    uint64_t tasks_rejected;    /* answered at once (unknown platform, kind, capacity...) */
    uint64_t tasks_duplicate;   /* same (job, attempt) already held: ignored */
    uint64_t tasks_cancelled;
    uint64_t tasks_aborted;     /* unfinished at exit: no result sent */
    uint64_t results_sent;
    uint64_t results_ok;
    uint64_t batches_sent;
    uint64_t credit_granted;
    uint64_t hellos_sent;
    uint64_t reconnects;        /* broker presumed dead */
    uint64_t byes_received;
    uint32_t in_flight;         /* tasks held (pending or running) */
    uint32_t results_queued;    /* finished, not yet sent */
    uint32_t connected;         /* 1 once welcomed on the current socket */
} cr_worker_stats_t;

typedef struct cr_worker cr_worker_t;

/* Creates the worker and connects (HELLO is sent at once). NULL on failure. */
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

#endif
