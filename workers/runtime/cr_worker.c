#include "cr_worker.h"

#include "cr_http.h"
#include "cr_log.h"
#include "cr_ratehdr.h"
#include "cr_time.h"
#include "cr_util.h"
#include "cr_wire.h"

#include <assert.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define CR_MAX_WAIT_MS 1000         /* never sleep longer: signals and timers are seen */
#define CR_RECV_BUDGET 1000         /* messages handled per broker and iteration */
#define CR_START_BUDGET 512         /* tasks started per iteration */
#define CR_MAX_RESULTS_PER_BATCH 500 /* worst case ~3.5 MiB, under CR_WIRE_MAX_FRAME */
#define CR_SEND_RETRY_MS 20         /* after a refused send (high-water mark) */
#define CR_MAX_STEPS 64             /* adapter steps between two waits: a runaway ends */
#define CR_MAX_WAITS 600            /* CR_STEP_WAITs per call (10 min of 1 s polls) */
#define CR_LINGER_MS 2000
#define CR_HWM 10000
#define CR_RECONNECT_IVL_MS 100     /* libzmq's own TCP reconnection, per socket */
#define CR_RECONNECT_IVL_MAX_MS 2000
#define CR_STALL_MS 1000 /* slept this much longer than asked: the process was stalled */
#define CR_BACKOFF_MIN_MS 100       /* new socket after a broker is presumed dead: */
#define CR_BACKOFF_MAX_MS 2000      /* doubling, each delay jittered in [d/2, d] */
#define CR_LOG_EVERY_MS 10000       /* rate limit for repeated warnings */
#define CR_STATS_EVERY_MS 60000     /* info summary */
#define CR_HB_MIN_MS 50
#define CR_HB_MAX_MS 60000

typedef enum {
    CR_LIFE_ACTIVE,   /* grants credit */
    CR_LIFE_STOPPING, /* stop requested: no new credit, finishing within grace */
    CR_LIFE_STOPPED,  /* BYE sent */
} cr_life_t;

typedef enum {
    CR_TASK_PENDING,
    CR_TASK_RUNNING,
    CR_TASK_WAITING, /* CR_STEP_WAIT: in the wait list until wake_mono */
    CR_TASK_DONE,
} cr_task_state_t;

typedef struct cr_link cr_link_t;
typedef struct cr_task cr_task_t;
struct cr_task {
    cr_worker_t *worker;
    cr_link_t *link; /* the broker that sent it: its result goes there only */
    int64_t job_id;
    uint32_t attempt;
    int64_t account_id;
    cr_task_state_t state;
    Crieur__Task *msg; /* owned copy; NULL for a task answered at once */
    const cr_adapter_t *adapter;
    cr_call_t call;
    cr_http_xfer_t *xfer;
    int64_t deadline_ms; /* wall clock, 0 = none */
    int64_t started_ms, finished_ms, started_mono, finished_mono;
    int any_sent; /* some request of this call may have reached the platform */
    int steps; /* since the call started or last waited */
    int waits;
    int64_t wake_mono; /* CR_TASK_WAITING: when to run the next step */
    cr_rate_t rate; /* the most recent response of the task with rate-limit headers */
    cr_task_t *hnext;
    cr_task_t *prev, *next; /* pending list, wait list or its broker's done queue */
};

/* One broker: its socket, session state, timers, credit and results. */
struct cr_link {
    char *endpoint;
    void *sock; /* NULL in BACKOFF */
    cr_broker_state_t state;
    long hb_ms;  /* until its WELCOME says otherwise: the worker's option */
    uint32_t liveness;
    long backoff_ms; /* next BACKOFF delay (before jitter) */
    int64_t last_recv_mono, next_hb_mono, hello_mono, retry_mono;
    int64_t flush_retry_mono; /* results wait until then after a refused send */
    uint32_t outstanding;     /* out(b): credit it holds for us */
    uint32_t held;            /* held(b): its tasks pending or running */
    cr_task_t *done_head, *done_tail; /* its results, oldest first */
    size_t ndone;
    int welcomed_once;
    cr_worker_broker_stats_t st;
    int64_t log_malformed_mono, log_unexpected_mono, log_send_mono, log_dead_mono,
        log_bye_mono, log_expired_mono;
};

struct cr_worker {
    char *worker_id, *version;
    Crieur__Role role;
    uint32_t kinds;
    const cr_adapter_t *const *adapters;
    uint32_t capacity;
    long request_timeout_ms, connect_timeout_ms, grace_ms;
    long hb_ms; /* the option: each broker starts with it */
    uint32_t liveness;
    long result_ttl_ms;

    void *ctx;
    int own_ctx;
    cr_http_t *http;

    cr_link_t *links; /* one per endpoint, in the order of the list */
    size_t nlinks;
    size_t rr; /* round-robin cursor of the credit split */

    cr_life_t life;
    int hard_stop;
    int64_t stop_deadline_mono;

    cr_task_t **buckets;
    size_t nbuckets;
    size_t count; /* tasks in the table: pending + running (= sum of held) */
    cr_task_t *pend_head, *pend_tail;
    cr_task_t *wait_head, *wait_tail; /* CR_TASK_WAITING, unordered */

    zmq_pollitem_t *items;
    size_t items_cap;
    size_t item_link[CR_WORKER_MAX_BROKERS]; /* poll item i -> link index */
    Crieur__Result *batch; /* CR_MAX_RESULTS_PER_BATCH, reused by every flush */
    Crieur__Result **batch_p;
    Crieur__Credentials *batch_cred; /* one per result slot (token refresh results) */

    cr_worker_stats_t st;
    int64_t log_stats_mono;
    uint64_t stats_logged_results;
};

/* ---- small helpers ----------------------------------------------------- */

static int s_every(int64_t *last, int64_t now, int64_t interval)
{
    if (*last && now - *last < interval) return 0;
    *last = now;
    return 1;
}

static const char *s_kind_name(int kind)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&crieur__job_kind__descriptor, kind);
    return v ? v->name : "KIND_?";
}

static const char *s_role_name(int role)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&crieur__role__descriptor, role);
    return v ? v->name : "ROLE_?";
}

static void s_wipe(char *s)
{
    if (s) explicit_bzero(s, strlen(s));
}

static void s_wipe_task(Crieur__Task *t)
{
    if (t && t->account) s_wipe(t->account->token);
    if (t && t->payload_case == CRIEUR__TASK__PAYLOAD_REFRESH && t->refresh)
        s_wipe(t->refresh->refresh_token);
}

static void s_wipe_envelope(Crieur__Envelope *env)
{
    if (env && env->body_case == CRIEUR__ENVELOPE__BODY_TASKS && env->tasks)
        for (size_t i = 0; i < env->tasks->n_tasks; i++) s_wipe_task(env->tasks->tasks[i]);
}

/* A deep copy that the task owns (the batch it came in is freed at once). */
static Crieur__Task *s_task_copy(const Crieur__Task *t)
{
    size_t n = crieur__task__get_packed_size(t);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return NULL;
    crieur__task__pack(t, buf);
    Crieur__Task *c = crieur__task__unpack(NULL, n, buf);
    explicit_bzero(buf, n);
    free(buf);
    return c;
}

/* ---- broker list ------------------------------------------------------- */

const char *cr_broker_state_name(cr_broker_state_t state)
{
    switch (state) {
    case CR_BROKER_HELLO_SENT: return "hello_sent";
    case CR_BROKER_READY: return "ready";
    case CR_BROKER_DRAINING: return "draining";
    case CR_BROKER_BACKOFF: return "backoff";
    case CR_BROKER_RETRYING: return "retrying";
    }
    return "?";
}

/* What zmq_connect lets through but cannot work: a tcp endpoint without a
 * host, or with a port that is not 1..65535. */
static int s_check_tcp(const char *ep, char *err, size_t errlen)
{
    if (strncmp(ep, "tcp://", 6) != 0) return 0;
    const char *addr = ep + 6;
    const char *semi = strrchr(addr, ';'); /* "tcp://source;host:port" */
    if (semi) addr = semi + 1;
    const char *colon = strrchr(addr, ':');
    long port = 0;
    const char *p = colon ? colon + 1 : "";
    for (; *p >= '0' && *p <= '9' && port <= 65535; p++) port = port * 10 + (*p - '0');
    if (!colon || colon == addr || colon[1] == '\0' || *p != '\0' || port < 1 || port > 65535) {
        snprintf(err, errlen, "option 'broker': invalid endpoint '%s': a tcp endpoint needs a "
                 "host and a port 1..65535 (tcp://host:port)", ep);
        return -1;
    }
    return 0;
}

static void s_free_list(char **eps, size_t n)
{
    for (size_t i = 0; eps && i < n; i++) free(eps[i]);
    free(eps);
}

/* Splits the comma-separated list into trimmed endpoints (heap copies).
 * 0, or -1 with err filled. */
static int s_parse_brokers(const char *list, char ***eps_p, size_t *n_p, char *err, size_t errlen)
{
    *eps_p = NULL;
    *n_p = 0;
    const char *q = list;
    while (q && isspace((unsigned char)*q)) q++;
    if (!q || !*q) {
        snprintf(err, errlen, "option 'broker': no endpoint given");
        return -1;
    }
    char **eps = calloc(CR_WORKER_MAX_BROKERS, sizeof *eps);
    size_t n = 0;
    if (!eps) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        const char *a = p, *b = comma ? comma : p + strlen(p);
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (a == b) {
            snprintf(err, errlen, "option 'broker': item %zu of '%s' is empty (expected "
                     "endpoints separated by commas, e.g. tcp://b1:5555,tcp://b2:5555)",
                     n + 1, list);
            goto fail;
        }
        if (n == CR_WORKER_MAX_BROKERS) {
            snprintf(err, errlen, "option 'broker': at most %d brokers", CR_WORKER_MAX_BROKERS);
            goto fail;
        }
        eps[n] = strndup(a, (size_t)(b - a));
        if (!eps[n]) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        n++;
        if (s_check_tcp(eps[n - 1], err, errlen)) goto fail;
        for (size_t k = 0; k + 1 < n; k++)
            if (strcmp(eps[k], eps[n - 1]) == 0) {
                snprintf(err, errlen, "option 'broker': endpoint '%s' is listed twice", eps[k]);
                goto fail;
            }
        if (!comma) break;
        p = comma + 1;
    }
    *eps_p = eps;
    *n_p = n;
    return 0;
fail:
    s_free_list(eps, n);
    return -1;
}

int cr_worker_check_brokers(const char *list, char *err, size_t errlen)
{
    char **eps;
    size_t n;
    if (s_parse_brokers(list, &eps, &n, err, errlen)) return -1;
    int rc = (int)n;
    void *ctx = zmq_ctx_new();
    if (!ctx) {
        snprintf(err, errlen, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        rc = -1;
    }
    /* The syntax zmq_connect accepts, on a throwaway socket (it does not
     * block: host names are resolved later, by the I/O thread). */
    for (size_t i = 0; ctx && rc > 0 && i < n; i++) {
        void *s = zmq_socket(ctx, ZMQ_DEALER);
        if (!s) {
            snprintf(err, errlen, "cannot create a ZeroMQ socket: %s", zmq_strerror(errno));
            rc = -1;
            break;
        }
        int zero = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_connect(s, eps[i])) {
            snprintf(err, errlen, "option 'broker': invalid endpoint '%s': %s", eps[i],
                     zmq_strerror(errno));
            rc = -1;
        }
        zmq_close(s);
    }
    if (ctx) zmq_ctx_term(ctx);
    s_free_list(eps, n);
    return rc;
}

/* ---- task table -------------------------------------------------------- */

static size_t s_hash(const cr_worker_t *w, int64_t job_id, uint32_t attempt)
{
    uint64_t h = (uint64_t)job_id * 0x9E3779B97F4A7C15ULL ^ (uint64_t)attempt * 0xC2B2AE3D27D4EB4FULL;
    h ^= h >> 29;
    return (size_t)(h & (w->nbuckets - 1));
}

static cr_task_t *s_find(const cr_worker_t *w, int64_t job_id, uint32_t attempt)
{
    for (cr_task_t *t = w->buckets[s_hash(w, job_id, attempt)]; t; t = t->hnext)
        if (t->job_id == job_id && t->attempt == attempt) return t;
    return NULL;
}

/* A task in the table holds a slot of its broker's share (held). */
static void s_table_add(cr_worker_t *w, cr_task_t *t)
{
    size_t b = s_hash(w, t->job_id, t->attempt);
    t->hnext = w->buckets[b];
    w->buckets[b] = t;
    w->count++;
    t->link->held++;
}

static void s_table_remove(cr_worker_t *w, cr_task_t *t)
{
    cr_task_t **pp = &w->buckets[s_hash(w, t->job_id, t->attempt)];
    while (*pp && *pp != t) pp = &(*pp)->hnext;
    if (*pp) {
        *pp = t->hnext;
        w->count--;
        t->link->held--;
    }
    t->hnext = NULL;
}

static void s_list_remove(cr_task_t **head, cr_task_t **tail, cr_task_t *t)
{
    if (t->prev) t->prev->next = t->next;
    else *head = t->next;
    if (t->next) t->next->prev = t->prev;
    else *tail = t->prev;
    t->prev = t->next = NULL;
}

static void s_list_append(cr_task_t **head, cr_task_t **tail, cr_task_t *t)
{
    t->next = NULL;
    t->prev = *tail;
    if (*tail) (*tail)->next = t;
    else *head = t;
    *tail = t;
}

static void s_task_free(cr_worker_t *w, cr_task_t *t)
{
    if (t->xfer) cr_http_abort(w->http, &t->xfer);
    cr_call_clear(&t->call, t->adapter);
    if (t->msg) {
        s_wipe_task(t->msg);
        crieur__task__free_unpacked(t->msg, NULL);
    }
    free(t);
}

static cr_task_t *s_task_new(cr_worker_t *w, cr_link_t *link, const Crieur__Task *m)
{
    cr_task_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->worker = w;
    t->link = link;
    t->job_id = m->job_id;
    t->attempt = m->attempt;
    t->account_id = m->account ? m->account->id : 0;
    t->deadline_ms = m->deadline_ms > 0 ? m->deadline_ms : 0;
    return t;
}

/* Moves a task to its broker's done queue with its result; its slot is free
 * from now on (the result is data waiting for its broker, not work). */
static void s_task_finish(cr_worker_t *w, cr_task_t *t)
{
    if (t->state == CR_TASK_PENDING && t->msg) s_list_remove(&w->pend_head, &w->pend_tail, t);
    if (t->state == CR_TASK_WAITING) s_list_remove(&w->wait_head, &w->wait_tail, t);
    if (t->msg) s_table_remove(w, t);
    if (t->xfer) cr_http_abort(w->http, &t->xfer);
    t->state = CR_TASK_DONE;
    t->finished_ms = cr_now_ms();
    t->finished_mono = cr_mono_ms();
    if (!t->started_ms) t->started_ms = t->finished_ms;
    if (t->call.result.outcome == CRIEUR__OUTCOME__OUTCOME_UNKNOWN) {
        /* An adapter that forgot to say: the honest answer depends on whether
         * anything left this machine. */
        cr_call_done(&t->call,
                     t->any_sent ? CRIEUR__OUTCOME__OUTCOME_INDETERMINATE
                                 : CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                     t->call.result.http_status, "adapter ended without an outcome", "internal");
    }
    /* The platform's rate-limit window as last reported during the call,
     * unless the adapter said it itself. */
    if (!t->call.result.rate.known) t->call.result.rate = t->rate;
    /* Keep only the result: adapter state, request and credentials go now. */
    if (t->adapter && t->adapter->release && t->call.state) t->adapter->release(&t->call);
    t->call.state = NULL;
    cr_http_req_clear(&t->call.req);
    if (t->msg) {
        s_wipe_task(t->msg);
        crieur__task__free_unpacked(t->msg, NULL);
        t->msg = NULL;
        t->call.task = NULL;
    }
    cr_link_t *l = t->link;
    s_list_append(&l->done_head, &l->done_tail, t);
    l->ndone++;
    const cr_result_t *r = &t->call.result;
    cr_debug("task done job=%lld attempt=%u account=%lld worker=%s broker=%s outcome=%s http=%d "
             "ms=%lld%s%s",
             (long long)t->job_id, t->attempt, (long long)t->account_id, w->worker_id,
             l->endpoint, cr_outcome_name(r->outcome), r->http_status,
             (long long)(t->finished_ms - t->started_ms), r->error ? " error=" : "",
             r->error ? r->error : "");
}

/* Answers a task at once, without running it (it never holds a slot). */
static void s_reject(cr_worker_t *w, cr_link_t *link, const Crieur__Task *m,
                     Crieur__Outcome outcome, const char *error, const char *code)
{
    cr_task_t *t = s_task_new(w, link, m);
    if (!t) {
        cr_error("out of memory answering job=%lld attempt=%u worker=%s broker=%s",
                 (long long)m->job_id, m->attempt, w->worker_id, link->endpoint);
        return;
    }
    cr_call_done(&t->call, outcome, 0, error, code);
    w->st.tasks_rejected++;
    s_task_finish(w, t);
}

/* A noop task: answered OK at once, no adapter, no network. */
static void s_ack_noop(cr_worker_t *w, cr_link_t *link, const Crieur__Task *m)
{
    cr_task_t *t = s_task_new(w, link, m);
    if (!t) {
        cr_error("out of memory answering job=%lld attempt=%u worker=%s broker=%s",
                 (long long)m->job_id, m->attempt, w->worker_id, link->endpoint);
        return;
    }
    cr_call_done(&t->call, CRIEUR__OUTCOME__OUTCOME_OK, 0, NULL, NULL);
    w->st.tasks_noop++;
    s_task_finish(w, t);
}

/* ---- running calls ----------------------------------------------------- */

static void s_on_http_done(void *owner, const cr_http_resp_t *resp);

/* cr_call_wake: a waiting task's next step runs at the next pass over the
 * wait list (this iteration's, or the next one's: zmq_poll does not sleep
 * while a task is due). Called from another task's step: never steps. */
static void s_task_wake(void *ctx)
{
    cr_task_t *t = ctx;
    if (t->state == CR_TASK_WAITING) t->wake_mono = cr_mono_ms();
}

/* Runs adapter steps until the call needs the network or is done. */
static void s_task_advance(cr_worker_t *w, cr_task_t *t, const cr_http_resp_t *prev)
{
    cr_http_resp_t synthetic;
    for (;;) {
        cr_http_req_clear(&t->call.req);
        t->call.now_ms = cr_now_ms();
        if (t->steps++ >= CR_MAX_STEPS || t->waits > CR_MAX_WAITS) {
            cr_call_done(&t->call,
                         t->any_sent ? CRIEUR__OUTCOME__OUTCOME_INDETERMINATE
                                     : CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                         0, "adapter exceeded its step limit", "internal");
            s_task_finish(w, t);
            return;
        }
        int rc = t->adapter->step(&t->call, prev);
        if (rc == CR_STEP_DONE) {
            s_task_finish(w, t);
            return;
        }
        if (rc == CR_STEP_WAIT && t->call.wait_ms >= 0 && t->call.wait_ms <= CR_MAX_STEP_WAIT_MS) {
            int64_t now = cr_now_ms();
            if (t->deadline_ms && now + t->call.wait_ms >= t->deadline_ms) {
                cr_call_done(&t->call,
                             t->any_sent ? CRIEUR__OUTCOME__OUTCOME_INDETERMINATE
                                         : CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                             0, "the task's deadline would pass while waiting for the platform",
                             "deadline");
                s_task_finish(w, t);
                return;
            }
            /* A poll loop is not a runaway: each wait gives the adapter a
             * new step budget; the waits themselves are bounded. */
            t->steps = 0;
            t->waits++;
            t->wake_mono = cr_mono_ms() + t->call.wait_ms;
            t->state = CR_TASK_WAITING;
            s_list_append(&w->wait_head, &w->wait_tail, t);
            w->st.step_waits++;
            return;
        }
        if (rc != CR_STEP_REQUEST || !t->call.req.url) {
            cr_result_clear(&t->call.result);
            cr_call_done(&t->call,
                         t->any_sent ? CRIEUR__OUTCOME__OUTCOME_INDETERMINATE
                                     : CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                         0, "internal error in the platform adapter", "internal");
            s_task_finish(w, t);
            return;
        }
        int64_t now = cr_now_ms();
        long timeout = w->request_timeout_ms;
        if (t->call.req.timeout_ms > 0 && t->call.req.timeout_ms < timeout)
            timeout = t->call.req.timeout_ms;
        memset(&synthetic, 0, sizeof synthetic);
        synthetic.headers = synthetic.body = "";
        if (t->deadline_ms && now >= t->deadline_ms) {
            /* Nothing was sent for this request: the adapter classifies it
             * as any failure before sending. */
            synthetic.curl_code = CURLE_OPERATION_TIMEDOUT;
            synthetic.error = "task deadline passed before the request was sent";
            prev = &synthetic;
            continue;
        }
        if (t->deadline_ms && t->deadline_ms - now < timeout) timeout = (long)(t->deadline_ms - now);
        t->xfer = cr_http_start(w->http, &t->call.req, timeout, s_on_http_done, t);
        if (!t->xfer) {
            synthetic.curl_code = CURLE_FAILED_INIT;
            synthetic.error = "could not start the HTTP request";
            prev = &synthetic;
            continue;
        }
        t->state = CR_TASK_RUNNING;
        return;
    }
}

/* Runs the next step of the tasks whose CR_STEP_WAIT is over. Only the
 * tasks that were waiting when the pass began: one that waits again (even
 * 0 ms) goes to the end of the list and runs in a later iteration, so an
 * adapter polling without pause cannot hold the loop. */
static void s_wake_waiting(cr_worker_t *w)
{
    int64_t now = cr_mono_ms();
    cr_task_t *t = w->wait_head, *last = w->wait_tail;
    while (t) {
        cr_task_t *next = t->next;
        int was_last = t == last;
        if (t->wake_mono <= now) {
            s_list_remove(&w->wait_head, &w->wait_tail, t);
            t->state = CR_TASK_RUNNING;
            s_task_advance(w, t, NULL); /* may finish it, or put it back in the list */
        }
        if (was_last) break;
        t = next;
    }
}

static void s_on_http_done(void *owner, const cr_http_resp_t *resp)
{
    cr_task_t *t = owner;
    t->xfer = NULL; /* released by cr_http after this callback */
    if (resp->sent) t->any_sent = 1;
    /* The request is still in call.req (cleared by the next step). A media
     * download (the only requests that follow redirects) and an SMTP
     * transfer are not the platform's API: their headers say nothing. */
    if (!t->call.req.follow_redirects && !t->call.req.mail_from) {
        cr_rate_t rate;
        if (cr_ratelimit_from_headers(resp, t->adapter->platform, cr_now_ms(), &rate))
            t->rate = rate;
    }
    s_task_advance(t->worker, t, resp);
}

static void s_task_start(cr_worker_t *w, cr_task_t *t)
{
    s_list_remove(&w->pend_head, &w->pend_tail, t);
    t->started_ms = cr_now_ms();
    t->started_mono = cr_mono_ms();
    cr_debug("task start job=%lld attempt=%u account=%lld worker=%s broker=%s platform=%s",
             (long long)t->job_id, t->attempt, (long long)t->account_id, w->worker_id,
             t->link->endpoint, t->adapter->platform);
    t->state = CR_TASK_RUNNING; /* not cancellable any more */
    s_task_advance(w, t, NULL);
}

static void s_start_pending(cr_worker_t *w)
{
    int budget = CR_START_BUDGET;
    while (w->pend_head && budget-- > 0 && !w->hard_stop) s_task_start(w, w->pend_head);
}

/* ---- sending ----------------------------------------------------------- */

static int s_welcomed(const cr_link_t *l)
{
    return l->state == CR_BROKER_READY || l->state == CR_BROKER_DRAINING;
}

static int s_send(cr_worker_t *w, cr_link_t *l, Crieur__Envelope *env)
{
    if (!l->sock) return -1;
    if (cr_wire_send(l->sock, NULL, 0, env) == 0) return 0;
    if (s_every(&l->log_send_mono, cr_mono_ms(), CR_LOG_EVERY_MS))
        cr_warn("cannot send to broker %s worker=%s: %s", l->endpoint, w->worker_id,
                zmq_strerror(errno));
    return -1;
}

static size_t s_outstanding(const cr_worker_t *w)
{
    size_t out = 0;
    for (size_t i = 0; i < w->nlinks; i++) out += w->links[i].outstanding;
    return out;
}

/* Slots neither running a task nor promised to a broker: capacity minus the
 * left side of invariant (I) (cr_worker.h). */
static size_t s_free_slots(const cr_worker_t *w)
{
    size_t used = w->count + s_outstanding(w);
    assert(used <= w->capacity); /* (I) */
    return used >= w->capacity ? 0 : w->capacity - used;
}

/* The credit split: gives each free slot to the READY broker with the
 * smallest share out(b) + held(b), ties in round robin, none beyond
 * ceil(capacity / contenders). Fills alloc[] (nothing is granted yet: a
 * slot counts as credit only once the message carrying it is sent) and
 * returns the total, at most s_free_slots(). */
static size_t s_split_credit(cr_worker_t *w, uint32_t *alloc)
{
    memset(alloc, 0, w->nlinks * sizeof *alloc);
    if (w->life != CR_LIFE_ACTIVE) return 0;
    size_t free_slots = s_free_slots(w), contenders = 0, ready = 0, total = 0;
    for (size_t i = 0; i < w->nlinks; i++) {
        cr_broker_state_t st = w->links[i].state;
        if (st == CR_BROKER_READY) ready++;
        if (st == CR_BROKER_READY || st == CR_BROKER_HELLO_SENT) contenders++;
    }
    if (!free_slots || !ready) return 0;
    size_t cap = (w->capacity + contenders - 1) / contenders;
    while (total < free_slots) {
        size_t best = w->nlinks, best_share = 0;
        for (size_t k = 0; k < w->nlinks; k++) {
            size_t i = (w->rr + k) % w->nlinks;
            const cr_link_t *l = &w->links[i];
            if (l->state != CR_BROKER_READY) continue;
            size_t share = (size_t)l->outstanding + l->held + alloc[i];
            if (share >= cap) continue;
            if (best == w->nlinks || share < best_share) {
                best = i;
                best_share = share;
            }
        }
        if (best == w->nlinks) break; /* the rest is kept for a broker saying HELLO */
        alloc[best]++;
        total++;
        w->rr = (best + 1) % w->nlinks;
    }
    return total;
}

static void s_granted(cr_worker_t *w, cr_link_t *l, uint32_t slots)
{
    l->outstanding += slots;
    l->st.credit_granted += slots;
    w->st.credit_granted += slots;
    assert(w->count + s_outstanding(w) <= w->capacity); /* (I) */
}

static void s_send_credit(cr_worker_t *w, cr_link_t *l, uint32_t slots)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Credit c = CRIEUR__CREDIT__INIT;
    c.slots = slots;
    env.body_case = CRIEUR__ENVELOPE__BODY_CREDIT;
    env.credit = &c;
    if (s_send(w, l, &env) == 0) s_granted(w, l, slots);
}

static void s_send_hello(cr_worker_t *w, cr_link_t *l)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Hello h = CRIEUR__HELLO__INIT;
    char *platforms[64];
    size_t np = 0;
    for (size_t i = 0; w->adapters && w->adapters[i] && np < 64; i++) {
        if (!(w->adapters[i]->kinds & w->kinds)) continue;
        size_t k = 0; /* a platform may have one adapter per kind: name it once */
        while (k < np && strcmp(platforms[k], w->adapters[i]->platform) != 0) k++;
        if (k == np) platforms[np++] = (char *)w->adapters[i]->platform;
    }
    h.worker_id = w->worker_id;
    h.role = w->role;
    h.platforms = platforms;
    h.n_platforms = np;
    h.capacity = w->capacity;
    h.version = w->version;
    h.pid = (uint32_t)getpid();
    env.body_case = CRIEUR__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    if (s_send(w, l, &env) == 0) {
        w->st.hellos_sent++;
        l->st.hellos_sent++;
    }
}

static void s_send_bye(cr_worker_t *w, cr_link_t *l)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Bye b = CRIEUR__BYE__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_BYE;
    env.bye = &b;
    s_send(w, l, &env);
}

static void s_send_heartbeat(cr_worker_t *w, cr_link_t *l)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Heartbeat h = CRIEUR__HEARTBEAT__INIT;
    h.in_flight = l->held; /* its own tasks */
    env.body_case = CRIEUR__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &h;
    s_send(w, l, &env);
}

/* Sends one broker its queued results, in batches; the first carries
 * `credit`. Returns 0, or -1 if a send was refused (the rest waits). */
static int s_flush_results(cr_worker_t *w, cr_link_t *l, uint32_t credit)
{
    while (l->done_head) {
        Crieur__Result *rs = w->batch, **rp = w->batch_p;
        size_t n = 0;
        size_t bytes = 0;
        for (cr_task_t *t = l->done_head; t && n < CR_MAX_RESULTS_PER_BATCH &&
                                         bytes < CR_WIRE_MAX_FRAME / 2;
             t = t->next, n++) {
            const cr_result_t *r = &t->call.result;
            crieur__result__init(&rs[n]);
            rs[n].job_id = t->job_id;
            rs[n].attempt = t->attempt;
            rs[n].outcome = r->outcome;
            rs[n].http_status = r->http_status;
            rs[n].platform_post_id = r->platform_post_id;
            rs[n].url = r->url;
            rs[n].error = r->error;
            rs[n].error_code = r->error_code;
            rs[n].retry_at_ms = r->retry_at_ms;
            rs[n].started_ms = t->started_ms;
            rs[n].finished_ms = t->finished_ms;
            rs[n].reconciled = r->reconciled ? 1 : 0;
            if (r->rate.known) {
                rs[n].rate_known = 1;
                rs[n].rate_limit = r->rate.limit;
                rs[n].rate_remaining = r->rate.remaining;
                rs[n].rate_reset_ms = r->rate.reset_ms;
            }
            if (r->n_mentions) {
                rs[n].n_mentions = r->n_mentions;
                rs[n].mentions = r->mentions;
            }
            if (r->cursor_set) {
                rs[n].cursor_set = 1;
                rs[n].cursor = r->cursor ? r->cursor : (char *)"";
            }
            if (r->access_token) {
                Crieur__Credentials *c = &w->batch_cred[n];
                crieur__credentials__init(c);
                c->access_token = r->access_token;
                c->refresh_token = r->refresh_token ? r->refresh_token : (char *)"";
                c->expires_at_ms = r->token_expires_ms;
                rs[n].credentials = c;
            }
            rp[n] = &rs[n];
            /* monitor results can be large: a batch stays well under a frame */
            if (r->n_mentions) bytes += crieur__result__get_packed_size(&rs[n]);
        }
        Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
        Crieur__ResultBatch b = CRIEUR__RESULT_BATCH__INIT;
        b.results = rp;
        b.n_results = n;
        b.credit = credit;
        env.body_case = CRIEUR__ENVELOPE__BODY_RESULTS;
        env.results = &b;
        if (s_send(w, l, &env) != 0) {
            l->flush_retry_mono = cr_mono_ms() + CR_SEND_RETRY_MS; /* soon, without spinning */
            return -1;
        }
        if (credit) s_granted(w, l, credit);
        credit = 0;
        w->st.batches_sent++;
        for (size_t i = 0; i < n; i++) {
            cr_task_t *t = l->done_head;
            s_list_remove(&l->done_head, &l->done_tail, t);
            l->ndone--;
            l->st.results_sent++;
            w->st.results_sent++;
            if (t->call.result.outcome == CRIEUR__OUTCOME__OUTCOME_OK) w->st.results_ok++;
            s_task_free(w, t);
        }
    }
    return 0;
}

/* Sends each welcomed broker its results with the credit the split gives it
 * (a CREDIT message when it has no results). Results for a broker that is
 * not welcomed wait for its next WELCOME. */
static void s_flush(cr_worker_t *w)
{
    uint32_t alloc[CR_WORKER_MAX_BROKERS];
    s_split_credit(w, alloc);
    for (size_t i = 0; i < w->nlinks; i++) {
        cr_link_t *l = &w->links[i];
        if (!s_welcomed(l) || !l->sock) continue;
        if (l->done_head) {
            if (s_flush_results(w, l, alloc[i]) != 0) continue;
        } else if (alloc[i] > 0) {
            s_send_credit(w, l, alloc[i]);
        }
    }
}

/* ---- connection -------------------------------------------------------- */

static int s_link_open(cr_worker_t *w, cr_link_t *l)
{
    void *s = zmq_socket(w->ctx, ZMQ_DEALER);
    if (!s) {
        cr_error("cannot create a socket for broker %s worker=%s: %s", l->endpoint, w->worker_id,
                 zmq_strerror(errno));
        return -1;
    }
    int linger = CR_LINGER_MS, hwm = CR_HWM, ivl = CR_RECONNECT_IVL_MS,
        ivl_max = CR_RECONNECT_IVL_MAX_MS;
    if (zmq_setsockopt(s, ZMQ_ROUTING_ID, w->worker_id, strlen(w->worker_id)) ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) ||
        zmq_connect(s, l->endpoint)) {
        cr_error("cannot connect to broker %s worker=%s: %s", l->endpoint, w->worker_id,
                 zmq_strerror(errno));
        zmq_close(s);
        return -1;
    }
    l->sock = s;
    l->last_recv_mono = cr_mono_ms();
    return 0;
}

static void s_link_close(cr_link_t *l)
{
    if (!l->sock) return;
    int zero = 0;
    zmq_setsockopt(l->sock, ZMQ_LINGER, &zero, sizeof zero); /* drop stale heartbeats */
    zmq_close(l->sock);
    l->sock = NULL;
}

/* The one transition function of a broker link: enters `next` and does what
 * entering it means. Every way into a state that is not READY or DRAINING
 * forfeits the credit the broker held (out(b) = 0): a new session starts
 * from nothing, on both sides. */
static void s_link_to(cr_worker_t *w, cr_link_t *l, cr_broker_state_t next, int64_t now)
{
    switch (next) {
    case CR_BROKER_HELLO_SENT: /* first contact, or its BYE: same socket */
    case CR_BROKER_RETRYING:   /* after BACKOFF: a new socket */
        if (!l->sock && s_link_open(w, l) != 0) {
            s_link_to(w, l, CR_BROKER_BACKOFF, now);
            return;
        }
        l->outstanding = 0;
        l->state = next;
        l->hello_mono = now;
        s_send_hello(w, l);
        break;
    case CR_BROKER_READY: /* WELCOME: a session starts, the broker holds no credit */
        l->outstanding = 0;
        l->backoff_ms = CR_BACKOFF_MIN_MS;
        l->next_hb_mono = now + l->hb_ms;
        l->state = next;
        break;
    case CR_BROKER_DRAINING:
        l->state = next;
        break;
    case CR_BROKER_BACKOFF: {
        s_link_close(l);
        l->outstanding = 0;
        long d = l->backoff_ms;
        l->retry_mono = now + d / 2 + (int64_t)cr_random_below((uint64_t)(d / 2) + 1);
        l->backoff_ms = d * 2 > CR_BACKOFF_MAX_MS ? CR_BACKOFF_MAX_MS : d * 2;
        l->state = next;
        break;
    }
    }
}

/* ---- broker messages --------------------------------------------------- */

static void s_on_tasks(cr_worker_t *w, cr_link_t *l, const Crieur__TaskBatch *batch)
{
    char msg[200];
    for (size_t i = 0; i < batch->n_tasks; i++) {
        const Crieur__Task *m = batch->tasks[i];
        w->st.tasks_received++;
        l->st.tasks_received++;
        /* Its credit is used whatever the task turns out to be; a slot not
         * taken by the task below is free again. */
        if (l->outstanding > 0) l->outstanding--;
        if (!m || m->job_id <= 0 || m->attempt == 0) {
            w->st.tasks_invalid++;
            if (s_every(&l->log_malformed_mono, cr_mono_ms(), CR_LOG_EVERY_MS))
                cr_warn("task without job id or attempt from broker %s dropped worker=%s "
                        "(invalid so far: %llu)",
                        l->endpoint, w->worker_id, (unsigned long long)w->st.tasks_invalid);
            continue;
        }
        if (s_find(w, m->job_id, m->attempt)) {
            w->st.tasks_duplicate++;
            cr_debug("duplicate task ignored job=%lld attempt=%u worker=%s broker=%s",
                     (long long)m->job_id, m->attempt, w->worker_id, l->endpoint);
            continue;
        }
        const Crieur__Account *acc = m->account;
        const char *platform = acc && acc->platform ? acc->platform : "";
        const cr_adapter_t *ad = NULL;
        /* kind comes off the wire: any int. Range first, then the bit. */
        if (m->kind <= 0 || m->kind >= 32 || !(w->kinds & CR_KIND_BIT(m->kind))) {
            snprintf(msg, sizeof msg, "job kind %s is not handled by a %s worker",
                     s_kind_name(m->kind), s_role_name(w->role));
            s_reject(w, l, m, CRIEUR__OUTCOME__OUTCOME_PERMANENT, msg, "unsupported_kind");
            continue;
        }
        if (m->kind == CRIEUR__JOB_KIND__KIND_NOOP) {
            /* the queue's own benchmark kind: acknowledged without work */
            s_ack_noop(w, l, m);
            continue;
        }
        if (!acc || !platform[0]) {
            s_reject(w, l, m, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "task without account",
                     "bad_task");
            continue;
        }
        /* one adapter per (platform, kind): the one that handles this kind,
         * else any of the platform's (named in the refusal) */
        for (size_t k = 0; w->adapters && w->adapters[k]; k++) {
            if (strcmp(w->adapters[k]->platform, platform) != 0) continue;
            if (!ad || (w->adapters[k]->kinds & CR_KIND_BIT(m->kind))) ad = w->adapters[k];
            if (ad->kinds & CR_KIND_BIT(m->kind)) break;
        }
        if (!ad || !(ad->kinds & CR_KIND_BIT(m->kind))) {
            char *p = cr_text_clean(platform, strlen(platform), 64);
            snprintf(msg, sizeof msg, "no adapter for platform %s%s%s", p ? p : "?",
                     ad ? " and kind " : "", ad ? s_kind_name(m->kind) : "");
            free(p);
            s_reject(w, l, m, CRIEUR__OUTCOME__OUTCOME_PERMANENT, msg, "no_adapter");
            continue;
        }
        if (m->kind == CRIEUR__JOB_KIND__KIND_PUBLISH &&
            m->payload_case != CRIEUR__TASK__PAYLOAD_PUBLISH) {
            s_reject(w, l, m, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "publish task without payload",
                     "bad_task");
            continue;
        }
        if ((m->kind == CRIEUR__JOB_KIND__KIND_ALERT &&
             m->payload_case != CRIEUR__TASK__PAYLOAD_ALERT) ||
            (m->kind == CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH &&
             m->payload_case != CRIEUR__TASK__PAYLOAD_REFRESH)) {
            s_reject(w, l, m, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "task without its payload",
                     "bad_task");
            continue;
        }
        if (s_free_slots(w) == 0) {
            /* Beyond the broker's credit and no slot free: taking it would
             * break (I). Refuse it; credit heals instead of drifting. */
            if (s_every(&l->log_unexpected_mono, cr_mono_ms(), CR_LOG_EVERY_MS))
                cr_warn("task over capacity refused job=%lld attempt=%u worker=%s broker=%s "
                        "capacity=%u",
                        (long long)m->job_id, m->attempt, w->worker_id, l->endpoint, w->capacity);
            s_reject(w, l, m, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "worker at capacity",
                     "over_capacity");
            continue;
        }
        cr_task_t *t = s_task_new(w, l, m);
        Crieur__Task *copy = t ? s_task_copy(m) : NULL;
        if (!copy) {
            free(t);
            s_reject(w, l, m, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "worker out of memory",
                     "internal");
            continue;
        }
        t->msg = copy;
        t->adapter = ad;
        cr_call_init(&t->call, copy);
        t->call.wake_fn = s_task_wake;
        t->call.wake_ctx = t;
        t->state = CR_TASK_PENDING;
        s_table_add(w, t);
        s_list_append(&w->pend_head, &w->pend_tail, t);
        cr_debug("task received job=%lld attempt=%u account=%lld worker=%s broker=%s kind=%s",
                 (long long)t->job_id, t->attempt, (long long)t->account_id, w->worker_id,
                 l->endpoint, s_kind_name(m->kind));
    }
}

static void s_on_cancel(cr_worker_t *w, cr_link_t *l, const Crieur__Cancel *c)
{
    cr_task_t *t = s_find(w, c->job_id, c->attempt);
    if (!t) {
        cr_debug("cancel for unknown task job=%lld attempt=%u worker=%s broker=%s",
                 (long long)c->job_id, c->attempt, w->worker_id, l->endpoint);
        return;
    }
    /* Cancellable until a request may have reached the platform: pending,
     * or waiting (CR_STEP_WAIT) before any request was sent. */
    if (t->state != CR_TASK_PENDING && (t->state != CR_TASK_WAITING || t->any_sent)) {
        cr_debug("cancel ignored, request already started job=%lld attempt=%u worker=%s "
                 "broker=%s",
                 (long long)c->job_id, c->attempt, w->worker_id, l->endpoint);
        return;
    }
    w->st.tasks_cancelled++;
    cr_call_done(&t->call, CRIEUR__OUTCOME__OUTCOME_CANCELLED, 0, "cancelled before it started",
                 NULL);
    s_task_finish(w, t);
}

static void s_on_welcome(cr_worker_t *w, cr_link_t *l, const Crieur__Welcome *wel)
{
    if (wel->heartbeat_ms) {
        long hb = (long)wel->heartbeat_ms;
        l->hb_ms = hb < CR_HB_MIN_MS ? CR_HB_MIN_MS : hb > CR_HB_MAX_MS ? CR_HB_MAX_MS : hb;
    }
    if (wel->heartbeat_liveness)
        l->liveness = wel->heartbeat_liveness > 100 ? 100 : wel->heartbeat_liveness;
    char *bid = cr_text_clean(wel->broker_id, wel->broker_id ? strlen(wel->broker_id) : 0, 64);
    if (l->welcomed_once)
        cr_info("welcomed again by broker %s (%s) worker=%s in_flight=%u results_queued=%zu",
                bid && bid[0] ? bid : "?", l->endpoint, w->worker_id, l->held, l->ndone);
    else
        cr_info("connected to broker %s (%s) worker=%s heartbeat_ms=%ld liveness=%u capacity=%u",
                bid && bid[0] ? bid : "?", l->endpoint, w->worker_id, l->hb_ms, l->liveness,
                w->capacity);
    free(bid);
    l->welcomed_once = 1;
    l->st.welcomes++;
    /* Credit and the results kept for it go out at the end of this iteration
     * (s_flush). */
    s_link_to(w, l, CR_BROKER_READY, cr_mono_ms());
}

static void s_on_bye(cr_worker_t *w, cr_link_t *l)
{
    int64_t now = cr_mono_ms();
    w->st.byes_received++;
    if (s_every(&l->log_bye_mono, now, CR_LOG_EVERY_MS))
        cr_info("broker %s does not know worker=%s: saying HELLO again", l->endpoint,
                w->worker_id);
    /* A HELLO of ours may already be on its way: do not repeat it (two HELLOs
     * would mean two WELCOMEs and twice the credit). */
    if ((l->state == CR_BROKER_HELLO_SENT || l->state == CR_BROKER_RETRYING) &&
        now - l->hello_mono < l->hb_ms)
        return;
    s_link_to(w, l, CR_BROKER_HELLO_SENT, now);
}

static void s_count_malformed(cr_worker_t *w, cr_link_t *l, const char *why)
{
    w->st.frames_malformed++;
    cr_debug("malformed frame from broker %s dropped worker=%s reason=%s", l->endpoint,
             w->worker_id, why);
    if (s_every(&l->log_malformed_mono, cr_mono_ms(), CR_LOG_EVERY_MS))
        cr_warn("malformed frame from broker %s dropped worker=%s reason=%s (total %llu)",
                l->endpoint, w->worker_id, why, (unsigned long long)w->st.frames_malformed);
}

static void s_on_frame(cr_worker_t *w, cr_link_t *l, const uint8_t *data, size_t len)
{
    cr_wire_err_t err;
    Crieur__Envelope *env = cr_wire_unpack(data, len, &err);
    if (!env && err == CR_WIRE_INVALID) {
        /* A batch with one bad task still carries good ones, which the broker
         * counts as ours: take it apart task by task instead of losing them
         * all (s_on_tasks answers or drops each one). */
        Crieur__Envelope *raw = crieur__envelope__unpack(NULL, len, data);
        if (raw && raw->body_case == CRIEUR__ENVELOPE__BODY_TASKS && raw->tasks) {
            w->st.frames_malformed++;
            s_on_tasks(w, l, raw->tasks);
            s_wipe_envelope(raw);
            crieur__envelope__free_unpacked(raw, NULL);
            return;
        }
        if (raw) crieur__envelope__free_unpacked(raw, NULL);
    }
    if (!env) {
        s_count_malformed(w, l, cr_wire_err_name(err));
        return;
    }
    switch (env->body_case) {
    case CRIEUR__ENVELOPE__BODY_WELCOME:
        s_on_welcome(w, l, env->welcome);
        break;
    case CRIEUR__ENVELOPE__BODY_TASKS:
        s_on_tasks(w, l, env->tasks);
        break;
    case CRIEUR__ENVELOPE__BODY_CANCEL:
        s_on_cancel(w, l, env->cancel);
        break;
    case CRIEUR__ENVELOPE__BODY_DRAIN:
        if (l->state == CR_BROKER_READY) {
            s_link_to(w, l, CR_BROKER_DRAINING, cr_mono_ms());
            cr_info("broker %s asks to drain worker=%s in_flight=%u", l->endpoint, w->worker_id,
                    l->held);
        }
        break;
    case CRIEUR__ENVELOPE__BODY_HEARTBEAT:
        break;
    case CRIEUR__ENVELOPE__BODY_BYE:
        s_on_bye(w, l);
        break;
    default:
        w->st.frames_unexpected++;
        if (s_every(&l->log_unexpected_mono, cr_mono_ms(), CR_LOG_EVERY_MS))
            cr_warn("unexpected message (body %d) from broker %s ignored worker=%s",
                    (int)env->body_case, l->endpoint, w->worker_id);
        break;
    }
    s_wipe_envelope(env);
    cr_wire_free(&env);
}

static void s_receive(cr_worker_t *w, cr_link_t *l)
{
    for (int i = 0; i < CR_RECV_BUDGET && l->sock; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, l->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        w->st.frames_received++;
        l->last_recv_mono = cr_mono_ms(); /* anything counts as liveness */
        if (zmq_msg_more(&msg)) {
            /* Envelopes are single frames: drop the whole multipart message. */
            int more = 1;
            while (more) {
                zmq_msg_close(&msg);
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, l->sock, ZMQ_DONTWAIT) < 0) break;
                more = zmq_msg_more(&msg);
            }
            zmq_msg_close(&msg);
            s_count_malformed(w, l, "multipart");
            continue;
        }
        s_on_frame(w, l, zmq_msg_data(&msg), zmq_msg_size(&msg));
        /* The frame may hold a token: leave nothing behind. */
        explicit_bzero(zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
    }
}

/* ---- timers and stop --------------------------------------------------- */

/* Results kept for a broker that is not welcomed: after result_ttl_ms it is
 * not coming back for them (its leases expired, it released the jobs). */
static void s_expire_results(cr_worker_t *w, cr_link_t *l, int64_t now)
{
    size_t n = 0;
    while (l->done_head && now - l->done_head->finished_mono >= w->result_ttl_ms) {
        cr_task_t *t = l->done_head;
        s_list_remove(&l->done_head, &l->done_tail, t);
        l->ndone--;
        l->st.results_expired++;
        w->st.results_expired++;
        cr_debug("result dropped job=%lld attempt=%u worker=%s broker=%s: kept %ld ms",
                 (long long)t->job_id, t->attempt, w->worker_id, l->endpoint, w->result_ttl_ms);
        s_task_free(w, t);
        n++;
    }
    if (n && s_every(&l->log_expired_mono, now, CR_LOG_EVERY_MS))
        cr_warn("dropped %zu results kept %ld ms for broker %s (%s), which did not come back; "
                "it releases their jobs itself worker=%s (dropped so far: %llu)",
                n, w->result_ttl_ms, l->endpoint, cr_broker_state_name(l->state), w->worker_id,
                (unsigned long long)l->st.results_expired);
}

static void s_link_timers(cr_worker_t *w, cr_link_t *l, int64_t now)
{
    int64_t dead_after = (int64_t)l->hb_ms * l->liveness;
    switch (l->state) {
    case CR_BROKER_READY:
    case CR_BROKER_DRAINING:
        if (now >= l->next_hb_mono) {
            s_send_heartbeat(w, l);
            l->next_hb_mono = now + l->hb_ms;
        }
        if (now - l->last_recv_mono >= dead_after) {
            w->st.reconnects++;
            l->st.reconnects++;
            if (s_every(&l->log_dead_mono, now, CR_LOG_EVERY_MS))
                cr_warn("broker %s silent for %lld ms, presumed dead: its %u credit goes to "
                        "the others, reconnecting worker=%s in_flight=%u",
                        l->endpoint, (long long)(now - l->last_recv_mono), l->outstanding,
                        w->worker_id, l->held);
            s_link_to(w, l, CR_BROKER_BACKOFF, now);
        }
        break;
    case CR_BROKER_HELLO_SENT:
    case CR_BROKER_RETRYING:
        if (now - l->hello_mono >= dead_after) {
            w->st.reconnects++;
            l->st.reconnects++;
            if (s_every(&l->log_dead_mono, now, CR_LOG_EVERY_MS))
                cr_warn("no WELCOME from broker %s after %lld ms: new socket, HELLO again "
                        "worker=%s in_flight=%u",
                        l->endpoint, (long long)(now - l->hello_mono), w->worker_id, l->held);
            s_link_to(w, l, CR_BROKER_BACKOFF, now);
        }
        break;
    case CR_BROKER_BACKOFF:
        if (now >= l->retry_mono) s_link_to(w, l, CR_BROKER_RETRYING, now);
        break;
    }
    if (!s_welcomed(l)) s_expire_results(w, l, now);
}

static void s_timers(cr_worker_t *w)
{
    int64_t now = cr_mono_ms();
    for (size_t i = 0; i < w->nlinks; i++) s_link_timers(w, &w->links[i], now);
}

static void s_abort_all(cr_worker_t *w)
{
    for (size_t b = 0; b < w->nbuckets; b++) {
        while (w->buckets[b]) {
            cr_task_t *t = w->buckets[b];
            w->buckets[b] = t->hnext;
            w->count--;
            t->link->held--;
            if (t->state == CR_TASK_PENDING) s_list_remove(&w->pend_head, &w->pend_tail, t);
            if (t->state == CR_TASK_WAITING) s_list_remove(&w->wait_head, &w->wait_tail, t);
            w->st.tasks_aborted++;
            cr_debug("task abandoned job=%lld attempt=%u account=%lld worker=%s broker=%s",
                     (long long)t->job_id, t->attempt, (long long)t->account_id, w->worker_id,
                     t->link->endpoint);
            s_task_free(w, t);
        }
    }
}

static size_t s_results_queued(const cr_worker_t *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nlinks; i++) n += w->links[i].ndone;
    return n;
}

static void s_check_stop(cr_worker_t *w)
{
    if (w->life != CR_LIFE_STOPPING) return;
    int64_t now = cr_mono_ms();
    int idle = w->count == 0 && s_results_queued(w) == 0;
    if (!idle && !w->hard_stop && now < w->stop_deadline_mono) return;
    if (w->count) {
        cr_warn("stopping with %zu unfinished tasks: abandoned, the brokers re-queue them "
                "worker=%s",
                w->count, w->worker_id);
        s_abort_all(w);
    }
    s_flush(w);
    for (size_t i = 0; i < w->nlinks; i++) {
        cr_link_t *l = &w->links[i];
        if (l->ndone)
            cr_warn("stopping with %zu results not delivered to broker %s (%s) worker=%s",
                    l->ndone, l->endpoint, cr_broker_state_name(l->state), w->worker_id);
        s_send_bye(w, l); /* every broker with a socket */
    }
    w->life = CR_LIFE_STOPPED;
    cr_info("stopped worker=%s results_sent=%llu aborted=%llu", w->worker_id,
            (unsigned long long)w->st.results_sent, (unsigned long long)w->st.tasks_aborted);
}

static void s_log_stats(cr_worker_t *w)
{
    int64_t now = cr_mono_ms();
    if (!w->log_stats_mono) w->log_stats_mono = now;
    if (now - w->log_stats_mono < CR_STATS_EVERY_MS) return;
    w->log_stats_mono = now;
    if (w->st.results_sent == w->stats_logged_results && w->count == 0) return;
    size_t welcomed = 0;
    for (size_t i = 0; i < w->nlinks; i++) welcomed += (size_t)s_welcomed(&w->links[i]);
    cr_info("stats worker=%s brokers=%zu/%zu in_flight=%zu results_sent=%llu ok=%llu "
            "rejected=%llu malformed=%llu reconnects=%llu expired=%llu",
            w->worker_id, welcomed, w->nlinks, w->count, (unsigned long long)w->st.results_sent,
            (unsigned long long)w->st.results_ok, (unsigned long long)w->st.tasks_rejected,
            (unsigned long long)w->st.frames_malformed, (unsigned long long)w->st.reconnects,
            (unsigned long long)w->st.results_expired);
    w->stats_logged_results = w->st.results_sent;
}

/* ---- public ------------------------------------------------------------ */

cr_worker_t *cr_worker_new(const cr_worker_opts_t *o)
{
    if (!o || !o->broker || !o->worker_id || !o->worker_id[0] || strlen(o->worker_id) > 255 ||
        o->capacity == 0 || o->role == CRIEUR__ROLE__ROLE_UNKNOWN)
        return NULL;
    char err[512], **eps = NULL;
    size_t neps = 0;
    if (s_parse_brokers(o->broker, &eps, &neps, err, sizeof err)) {
        cr_error("cannot start worker=%s: %s", o->worker_id, err);
        return NULL;
    }
    cr_worker_t *w = calloc(1, sizeof *w);
    if (!w) {
        s_free_list(eps, neps);
        return NULL;
    }
    w->links = calloc(neps, sizeof *w->links);
    if (!w->links) {
        s_free_list(eps, neps);
        goto fail;
    }
    w->nlinks = neps;
    for (size_t i = 0; i < neps; i++) w->links[i].endpoint = eps[i]; /* the links own them */
    free(eps);
    w->worker_id = strdup(o->worker_id);
    w->version = strdup(o->version ? o->version : CR_WORKER_VERSION);
    if (!w->worker_id || !w->version) goto fail;
    w->role = o->role;
    w->kinds = o->kinds;
    w->adapters = o->adapters;
    w->capacity = o->capacity;
    w->request_timeout_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : 30000;
    w->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
    w->grace_ms = o->grace_ms >= 0 ? o->grace_ms : 10000;
    w->hb_ms = o->heartbeat_ms >= CR_HB_MIN_MS ? o->heartbeat_ms : 1000;
    if (w->hb_ms > CR_HB_MAX_MS) w->hb_ms = CR_HB_MAX_MS;
    w->liveness = o->heartbeat_liveness ? o->heartbeat_liveness : 3;
    w->result_ttl_ms = o->result_ttl_ms > 0 ? o->result_ttl_ms : CR_WORKER_RESULT_TTL_MS;
    w->nbuckets = 16;
    while (w->nbuckets < (size_t)w->capacity * 2) w->nbuckets *= 2;
    w->buckets = calloc(w->nbuckets, sizeof *w->buckets);
    w->batch = calloc(CR_MAX_RESULTS_PER_BATCH, sizeof *w->batch);
    w->batch_p = calloc(CR_MAX_RESULTS_PER_BATCH, sizeof *w->batch_p);
    w->batch_cred = calloc(CR_MAX_RESULTS_PER_BATCH, sizeof *w->batch_cred);
    if (!w->buckets || !w->batch || !w->batch_p || !w->batch_cred) goto fail;
    w->http = cr_http_new(w->connect_timeout_ms);
    if (!w->http) goto fail;
    if (o->zmq_ctx) {
        w->ctx = o->zmq_ctx;
    } else {
        w->ctx = zmq_ctx_new();
        if (!w->ctx) goto fail;
        w->own_ctx = 1;
    }
    w->life = CR_LIFE_ACTIVE;
    int64_t now = cr_mono_ms();
    for (size_t i = 0; i < w->nlinks; i++) {
        cr_link_t *l = &w->links[i];
        l->hb_ms = w->hb_ms;
        l->liveness = w->liveness;
        l->backoff_ms = CR_BACKOFF_MIN_MS;
        l->st.endpoint = l->endpoint;
        /* An endpoint zmq_connect refuses is a configuration error. */
        if (s_link_open(w, l)) goto fail;
        s_link_to(w, l, CR_BROKER_HELLO_SENT, now);
    }
    return w;
fail:
    cr_worker_destroy(&w);
    return NULL;
}

void cr_worker_destroy(cr_worker_t **self_p)
{
    if (!self_p || !*self_p) return;
    cr_worker_t *w = *self_p;
    if (w->buckets) s_abort_all(w);
    for (size_t i = 0; i < w->nlinks; i++) {
        cr_link_t *l = &w->links[i];
        while (l->done_head) {
            cr_task_t *t = l->done_head;
            s_list_remove(&l->done_head, &l->done_tail, t);
            s_task_free(w, t);
        }
    }
    cr_http_destroy(&w->http);
    for (size_t i = 0; i < w->nlinks; i++) {
        /* Linger (for the last results and BYE) only towards a broker that
         * is there: a queued HELLO or BYE to an absent one would hold the
         * exit for the whole linger period. */
        if (!s_welcomed(&w->links[i])) s_link_close(&w->links[i]);
        if (w->links[i].sock) zmq_close(w->links[i].sock);
        free(w->links[i].endpoint);
    }
    if (w->own_ctx) zmq_ctx_term(w->ctx);
    free(w->links);
    free(w->items);
    free(w->batch);
    free(w->batch_p);
    free(w->batch_cred);
    free(w->buckets);
    free(w->worker_id);
    free(w->version);
    free(w);
    *self_p = NULL;
}

void cr_worker_stop(cr_worker_t *w)
{
    if (w->life == CR_LIFE_STOPPED) return;
    if (w->life != CR_LIFE_STOPPING) {
        w->life = CR_LIFE_STOPPING;
        w->stop_deadline_mono = cr_mono_ms() + w->grace_ms;
        cr_info("stopping worker=%s: no new credit to any of %zu brokers, finishing %zu tasks "
                "within %ld ms",
                w->worker_id, w->nlinks, w->count, w->grace_ms);
    } else if (!w->hard_stop) {
        w->hard_stop = 1;
        cr_info("second stop worker=%s: abandoning %zu tasks now", w->worker_id, w->count);
    }
}

void cr_worker_set_timeouts(cr_worker_t *w, long request_timeout_ms, long connect_timeout_ms,
                            long grace_ms)
{
    if (request_timeout_ms > 0) w->request_timeout_ms = request_timeout_ms;
    if (connect_timeout_ms > 0) {
        w->connect_timeout_ms = connect_timeout_ms;
        cr_http_set_connect_timeout(w->http, connect_timeout_ms);
    }
    if (grace_ms >= 0) w->grace_ms = grace_ms;
}

void cr_worker_stats(const cr_worker_t *w, cr_worker_stats_t *out)
{
    *out = w->st;
    out->in_flight = (uint32_t)w->count;
    out->results_queued = (uint32_t)s_results_queued(w);
    out->connected = 0;
    for (size_t i = 0; i < w->nlinks; i++) out->connected += (uint32_t)s_welcomed(&w->links[i]);
    out->brokers = (uint32_t)w->nlinks;
    out->credit_outstanding = (uint32_t)s_outstanding(w);
}

size_t cr_worker_nbrokers(const cr_worker_t *w)
{
    return w->nlinks;
}

int cr_worker_broker_stats(const cr_worker_t *w, size_t i, cr_worker_broker_stats_t *out)
{
    if (i >= w->nlinks) return -1;
    const cr_link_t *l = &w->links[i];
    *out = l->st;
    out->state = l->state;
    out->outstanding = l->outstanding;
    out->in_flight = l->held;
    out->results_queued = (uint32_t)l->ndone;
    return 0;
}

static long s_min_wait(long a, int64_t b)
{
    if (b < 0) b = 0;
    return b < a ? (long)b : a;
}

/* The longest zmq_poll may wait: the nearest timer of any broker, curl's. */
static long s_wait(const cr_worker_t *w, long wait_ms, int64_t now)
{
    long timeout = wait_ms < 0 || wait_ms > CR_MAX_WAIT_MS ? CR_MAX_WAIT_MS : wait_ms;
    if (w->pend_head) timeout = 0;
    for (const cr_task_t *t = w->wait_head; t; t = t->next)
        timeout = s_min_wait(timeout, t->wake_mono - now);
    long ct = cr_http_timeout(w->http);
    if (ct >= 0) timeout = s_min_wait(timeout, ct);
    for (size_t i = 0; i < w->nlinks; i++) {
        const cr_link_t *l = &w->links[i];
        int64_t dead_after = (int64_t)l->hb_ms * l->liveness;
        switch (l->state) {
        case CR_BROKER_READY:
        case CR_BROKER_DRAINING:
            if (l->done_head) timeout = s_min_wait(timeout, l->flush_retry_mono - now);
            timeout = s_min_wait(timeout, l->next_hb_mono - now);
            timeout = s_min_wait(timeout, l->last_recv_mono + dead_after - now);
            break;
        case CR_BROKER_HELLO_SENT:
        case CR_BROKER_RETRYING:
            timeout = s_min_wait(timeout, l->hello_mono + dead_after - now);
            break;
        case CR_BROKER_BACKOFF:
            timeout = s_min_wait(timeout, l->retry_mono - now);
            break;
        }
    }
    if (w->life == CR_LIFE_STOPPING) {
        int idle = w->count == 0 && s_results_queued(w) == 0;
        timeout = w->hard_stop || idle ? 0 : s_min_wait(timeout, w->stop_deadline_mono - now);
    }
    return timeout;
}

/* The process itself did not run (SIGSTOP, a swapped-out host, a debugger)
 * for much longer than it meant to sleep. The brokers' messages of that time
 * may still be on their way through ZeroMQ's I/O thread, so silence measured
 * across the stall proves nothing: give every broker a fresh liveness window
 * instead of presuming it dead (which would close its socket and lose the
 * results just written to it). A broker that really died is found one
 * window later. */
static void s_detect_stall(cr_worker_t *w, int64_t poll_start, long timeout)
{
    int64_t now = cr_mono_ms();
    int64_t slept = now - poll_start;
    if (timeout < 0 || slept <= timeout + CR_STALL_MS) return;
    w->st.stalls++;
    cr_warn("this process did not run for %lld ms (paused?); brokers get a fresh liveness "
            "window worker=%s",
            (long long)(slept - timeout), w->worker_id);
    for (size_t i = 0; i < w->nlinks; i++) {
        cr_link_t *l = &w->links[i];
        if (l->last_recv_mono < now) l->last_recv_mono = now;
        if (l->hello_mono < now) l->hello_mono = now;
    }
}

int cr_worker_step(cr_worker_t *w, long wait_ms)
{
    if (w->life == CR_LIFE_STOPPED) return 0;
    long timeout = s_wait(w, wait_ms, cr_mono_ms());

    size_t need = w->nlinks + cr_http_nfds(w->http);
    if (need > w->items_cap) {
        size_t cap = w->items_cap ? w->items_cap : 64;
        while (cap < need) cap *= 2;
        zmq_pollitem_t *items = realloc(w->items, cap * sizeof *items);
        if (!items) return -1;
        w->items = items;
        w->items_cap = cap;
    }
    size_t nsock = 0; /* brokers with a socket (not in BACKOFF) */
    for (size_t i = 0; i < w->nlinks; i++) {
        if (!w->links[i].sock) continue;
        w->items[nsock] = (zmq_pollitem_t){w->links[i].sock, -1, ZMQ_POLLIN, 0};
        w->item_link[nsock++] = i;
    }
    size_t n = nsock + cr_http_fill_pollitems(w->http, w->items + nsock, w->items_cap - nsock);
    int64_t poll_start = cr_mono_ms();
    int rc = zmq_poll(w->items, (int)n, timeout);
    s_detect_stall(w, poll_start, timeout);
    if (rc < 0) {
        if (errno == ETERM) return -1;
        if (errno != EINTR) cr_debug("zmq_poll: %s", zmq_strerror(errno));
        for (size_t i = 0; i < n; i++) w->items[i].revents = 0;
    }
    cr_http_process(w->http, w->items + nsock, n - nsock);
    for (size_t k = 0; k < nsock; k++)
        if (w->items[k].revents & ZMQ_POLLIN) s_receive(w, &w->links[w->item_link[k]]);
    if (!w->hard_stop) s_start_pending(w);
    if (!w->hard_stop) s_wake_waiting(w);
    if (w->life != CR_LIFE_STOPPING || !w->hard_stop) s_timers(w);
    s_flush(w);
    s_check_stop(w);
    s_log_stats(w);
    return w->life == CR_LIFE_STOPPED ? 0 : 1;
}
