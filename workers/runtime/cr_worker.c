#include "cr_worker.h"

#include "cr_http.h"
#include "cr_log.h"
#include "cr_time.h"
#include "cr_wire.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define CR_MAX_WAIT_MS 1000         /* never sleep longer: signals and timers are seen */
#define CR_RECV_BUDGET 1000         /* broker messages handled per iteration */
#define CR_START_BUDGET 512         /* tasks started per iteration */
#define CR_MAX_RESULTS_PER_BATCH 500 /* worst case ~3.5 MiB, under CR_WIRE_MAX_FRAME */
#define CR_SEND_RETRY_MS 20         /* after a refused send (high-water mark) */
#define CR_MAX_STEPS 64             /* adapter steps per call: a runaway adapter ends */
#define CR_LINGER_MS 2000
#define CR_HWM 10000
#define CR_RECONNECT_IVL_MS 100
#define CR_RECONNECT_IVL_MAX_MS 2000
#define CR_LOG_EVERY_MS 10000       /* rate limit for repeated warnings */
#define CR_STATS_EVERY_MS 60000     /* info summary */
#define CR_HB_MIN_MS 50
#define CR_HB_MAX_MS 60000

typedef enum {
    CR_CONN_HELLO_SENT, /* waiting for WELCOME */
    CR_CONN_READY,      /* welcomed: credit, heartbeats and results flow */
} cr_conn_t;

typedef enum {
    CR_LIFE_ACTIVE,   /* grants credit */
    CR_LIFE_DRAINING, /* broker's DRAIN: no new credit, keeps running */
    CR_LIFE_STOPPING, /* stop requested: no new credit, finishing within grace */
    CR_LIFE_STOPPED,  /* BYE sent */
} cr_life_t;

typedef enum {
    CR_TASK_PENDING,
    CR_TASK_RUNNING,
    CR_TASK_DONE,
} cr_task_state_t;

typedef struct cr_task cr_task_t;
struct cr_task {
    cr_worker_t *worker;
    int64_t job_id;
    uint32_t attempt;
    int64_t account_id;
    cr_task_state_t state;
    Crieur__Task *msg; /* owned copy; NULL for a task answered at once */
    const cr_adapter_t *adapter;
    cr_call_t call;
    cr_http_xfer_t *xfer;
    int64_t deadline_ms; /* wall clock, 0 = none */
    int64_t started_ms, finished_ms, started_mono;
    int any_sent;   /* some request of this call may have reached the platform */
    int steps;
    int holds_slot; /* its result gives a slot back (0 for tasks refused over capacity) */
    cr_task_t *hnext;
    cr_task_t *prev, *next; /* pending list or done queue */
};

struct cr_worker {
    char *broker, *worker_id, *version;
    Crieur__Role role;
    uint32_t kinds;
    const cr_adapter_t *const *adapters;
    uint32_t capacity;
    long request_timeout_ms, connect_timeout_ms, grace_ms;
    long hb_ms;
    uint32_t liveness;

    void *ctx;
    int own_ctx;
    void *sock;
    cr_http_t *http;

    cr_conn_t conn;
    cr_life_t life;
    int hard_stop;
    int64_t last_recv_mono, next_hb_mono, hello_mono, stop_deadline_mono;
    int64_t flush_retry_mono; /* results wait until then after a refused send */
    uint32_t outstanding; /* credit the broker holds for us */

    cr_task_t **buckets;
    size_t nbuckets;
    size_t count; /* tasks in the table: pending + running */
    cr_task_t *pend_head, *pend_tail;
    cr_task_t *done_head, *done_tail;
    size_t ndone, done_slots;

    zmq_pollitem_t *items;
    size_t items_cap;
    Crieur__Result *batch; /* CR_MAX_RESULTS_PER_BATCH, reused by every flush */
    Crieur__Result **batch_p;

    cr_worker_stats_t st;
    int64_t log_malformed_mono, log_unexpected_mono, log_send_mono, log_dead_mono,
        log_stats_mono, log_bye_mono;
    uint64_t stats_logged_results;
    int welcomed_once;
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

static void s_table_add(cr_worker_t *w, cr_task_t *t)
{
    size_t b = s_hash(w, t->job_id, t->attempt);
    t->hnext = w->buckets[b];
    w->buckets[b] = t;
    w->count++;
}

static void s_table_remove(cr_worker_t *w, cr_task_t *t)
{
    cr_task_t **pp = &w->buckets[s_hash(w, t->job_id, t->attempt)];
    while (*pp && *pp != t) pp = &(*pp)->hnext;
    if (*pp) {
        *pp = t->hnext;
        w->count--;
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

static cr_task_t *s_task_new(cr_worker_t *w, const Crieur__Task *m)
{
    cr_task_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->worker = w;
    t->job_id = m->job_id;
    t->attempt = m->attempt;
    t->account_id = m->account ? m->account->id : 0;
    t->deadline_ms = m->deadline_ms > 0 ? m->deadline_ms : 0;
    t->holds_slot = 1;
    return t;
}

/* Moves a task to the done queue with its result. */
static void s_task_finish(cr_worker_t *w, cr_task_t *t)
{
    if (t->state == CR_TASK_PENDING && t->msg) s_list_remove(&w->pend_head, &w->pend_tail, t);
    if (t->msg) s_table_remove(w, t);
    if (t->xfer) cr_http_abort(w->http, &t->xfer);
    t->state = CR_TASK_DONE;
    t->finished_ms = cr_now_ms();
    if (!t->started_ms) t->started_ms = t->finished_ms;
    if (t->call.result.outcome == CRIEUR__OUTCOME__OUTCOME_UNKNOWN) {
        /* An adapter that forgot to say: the honest answer depends on whether
         * anything left this machine. */
        cr_call_done(&t->call,
                     t->any_sent ? CRIEUR__OUTCOME__OUTCOME_INDETERMINATE
                                 : CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                     t->call.result.http_status, "adapter ended without an outcome", "internal");
    }
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
    s_list_append(&w->done_head, &w->done_tail, t);
    w->ndone++;
    if (t->holds_slot) w->done_slots++;
    const cr_result_t *r = &t->call.result;
    cr_debug("task done job=%lld attempt=%u account=%lld worker=%s outcome=%s http=%d ms=%lld%s%s",
             (long long)t->job_id, t->attempt, (long long)t->account_id, w->worker_id,
             cr_outcome_name(r->outcome), r->http_status,
             (long long)(t->finished_ms - t->started_ms), r->error ? " error=" : "",
             r->error ? r->error : "");
}

/* Answers a task at once, without running it. */
static void s_reject(cr_worker_t *w, const Crieur__Task *m, Crieur__Outcome outcome,
                     const char *error, const char *code, int holds_slot)
{
    cr_task_t *t = s_task_new(w, m);
    if (!t) {
        cr_error("out of memory answering job=%lld attempt=%u worker=%s", (long long)m->job_id,
                 m->attempt, w->worker_id);
        return;
    }
    t->holds_slot = holds_slot;
    cr_call_done(&t->call, outcome, 0, error, code);
    w->st.tasks_rejected++;
    s_task_finish(w, t);
}

/* ---- running calls ----------------------------------------------------- */

static void s_on_http_done(void *owner, const cr_http_resp_t *resp);

/* Runs adapter steps until the call needs the network or is done. */
static void s_task_advance(cr_worker_t *w, cr_task_t *t, const cr_http_resp_t *prev)
{
    cr_http_resp_t synthetic;
    for (;;) {
        cr_http_req_clear(&t->call.req);
        t->call.now_ms = cr_now_ms();
        if (t->steps++ >= CR_MAX_STEPS) {
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

static void s_on_http_done(void *owner, const cr_http_resp_t *resp)
{
    cr_task_t *t = owner;
    t->xfer = NULL; /* released by cr_http after this callback */
    if (resp->sent) t->any_sent = 1;
    s_task_advance(t->worker, t, resp);
}

static void s_task_start(cr_worker_t *w, cr_task_t *t)
{
    s_list_remove(&w->pend_head, &w->pend_tail, t);
    t->started_ms = cr_now_ms();
    t->started_mono = cr_mono_ms();
    cr_debug("task start job=%lld attempt=%u account=%lld worker=%s platform=%s",
             (long long)t->job_id, t->attempt, (long long)t->account_id, w->worker_id,
             t->adapter->platform);
    t->state = CR_TASK_RUNNING; /* not cancellable any more */
    s_task_advance(w, t, NULL);
}

static void s_start_pending(cr_worker_t *w)
{
    int budget = CR_START_BUDGET;
    while (w->pend_head && budget-- > 0 && !w->hard_stop) s_task_start(w, w->pend_head);
}

/* ---- sending ----------------------------------------------------------- */

static int s_send(cr_worker_t *w, Crieur__Envelope *env)
{
    if (!w->sock) return -1;
    if (cr_wire_send(w->sock, NULL, 0, env) == 0) return 0;
    if (s_every(&w->log_send_mono, cr_mono_ms(), CR_LOG_EVERY_MS))
        cr_warn("cannot send to broker %s worker=%s: %s", w->broker, w->worker_id,
                zmq_strerror(errno));
    return -1;
}

static uint32_t s_grantable(const cr_worker_t *w)
{
    if (w->conn != CR_CONN_READY || w->life != CR_LIFE_ACTIVE) return 0;
    size_t used = w->count + w->done_slots + w->outstanding;
    return used >= w->capacity ? 0 : (uint32_t)(w->capacity - used);
}

static void s_send_credit(cr_worker_t *w, uint32_t slots)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Credit c = CRIEUR__CREDIT__INIT;
    c.slots = slots;
    env.body_case = CRIEUR__ENVELOPE__BODY_CREDIT;
    env.credit = &c;
    if (s_send(w, &env) == 0) {
        w->outstanding += slots;
        w->st.credit_granted += slots;
    }
}

static void s_send_hello(cr_worker_t *w)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Hello h = CRIEUR__HELLO__INIT;
    char *platforms[64];
    size_t np = 0;
    for (size_t i = 0; w->adapters && w->adapters[i] && np < 64; i++)
        if (w->adapters[i]->kinds & w->kinds) platforms[np++] = (char *)w->adapters[i]->platform;
    h.worker_id = w->worker_id;
    h.role = w->role;
    h.platforms = platforms;
    h.n_platforms = np;
    h.capacity = w->capacity;
    h.version = w->version;
    h.pid = (uint32_t)getpid();
    env.body_case = CRIEUR__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    w->conn = CR_CONN_HELLO_SENT;
    w->outstanding = 0;
    w->hello_mono = cr_mono_ms();
    if (s_send(w, &env) == 0) w->st.hellos_sent++;
}

static void s_send_bye(cr_worker_t *w)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Bye b = CRIEUR__BYE__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_BYE;
    env.bye = &b;
    s_send(w, &env);
}

static void s_send_heartbeat(cr_worker_t *w)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Heartbeat h = CRIEUR__HEARTBEAT__INIT;
    h.in_flight = (uint32_t)w->count;
    env.body_case = CRIEUR__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &h;
    s_send(w, &env);
}

/* Sends queued results (in batches carrying the freed slots as credit), then
 * tops credit up if slots are free for another reason. Only when welcomed:
 * results wait for the next WELCOME otherwise. */
static void s_flush(cr_worker_t *w)
{
    if (w->conn != CR_CONN_READY || !w->sock) return;
    while (w->done_head) {
        Crieur__Result *rs = w->batch, **rp = w->batch_p;
        size_t n = 0, slots = 0;
        for (cr_task_t *t = w->done_head; t && n < CR_MAX_RESULTS_PER_BATCH; t = t->next, n++) {
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
            rp[n] = &rs[n];
            slots += (size_t)t->holds_slot;
        }
        w->done_slots -= slots;
        uint32_t credit = s_grantable(w);
        Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
        Crieur__ResultBatch b = CRIEUR__RESULT_BATCH__INIT;
        b.results = rp;
        b.n_results = n;
        b.credit = credit;
        env.body_case = CRIEUR__ENVELOPE__BODY_RESULTS;
        env.results = &b;
        if (s_send(w, &env) != 0) {
            w->done_slots += slots; /* try again soon, without spinning */
            w->flush_retry_mono = cr_mono_ms() + CR_SEND_RETRY_MS;
            return;
        }
        w->outstanding += credit;
        w->st.credit_granted += credit;
        w->st.batches_sent++;
        for (size_t i = 0; i < n; i++) {
            cr_task_t *t = w->done_head;
            s_list_remove(&w->done_head, &w->done_tail, t);
            w->ndone--;
            w->st.results_sent++;
            if (t->call.result.outcome == CRIEUR__OUTCOME__OUTCOME_OK) w->st.results_ok++;
            s_task_free(w, t);
        }
    }
    uint32_t credit = s_grantable(w);
    if (credit > 0) s_send_credit(w, credit);
}

/* ---- connection -------------------------------------------------------- */

static int s_connect(cr_worker_t *w)
{
    if (w->sock) {
        int zero = 0;
        zmq_setsockopt(w->sock, ZMQ_LINGER, &zero, sizeof zero); /* drop stale heartbeats */
        zmq_close(w->sock);
        w->sock = NULL;
    }
    void *s = zmq_socket(w->ctx, ZMQ_DEALER);
    if (!s) return -1;
    int linger = CR_LINGER_MS, hwm = CR_HWM, ivl = CR_RECONNECT_IVL_MS,
        ivl_max = CR_RECONNECT_IVL_MAX_MS;
    if (zmq_setsockopt(s, ZMQ_ROUTING_ID, w->worker_id, strlen(w->worker_id)) ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) ||
        zmq_connect(s, w->broker)) {
        cr_error("cannot connect to broker %s worker=%s: %s", w->broker, w->worker_id,
                 zmq_strerror(errno));
        zmq_close(s);
        return -1;
    }
    w->sock = s;
    w->last_recv_mono = cr_mono_ms();
    s_send_hello(w);
    return 0;
}

/* ---- broker messages --------------------------------------------------- */

static void s_on_tasks(cr_worker_t *w, const Crieur__TaskBatch *batch)
{
    char msg[200];
    for (size_t i = 0; i < batch->n_tasks; i++) {
        const Crieur__Task *m = batch->tasks[i];
        w->st.tasks_received++;
        if (w->outstanding > 0) w->outstanding--;
        if (!m || m->job_id <= 0 || m->attempt == 0) {
            w->st.tasks_invalid++;
            if (s_every(&w->log_malformed_mono, cr_mono_ms(), CR_LOG_EVERY_MS))
                cr_warn("task without job id or attempt dropped worker=%s (invalid so far: %llu)",
                        w->worker_id, (unsigned long long)w->st.tasks_invalid);
            continue;
        }
        if (s_find(w, m->job_id, m->attempt)) {
            w->st.tasks_duplicate++;
            cr_debug("duplicate task ignored job=%lld attempt=%u worker=%s", (long long)m->job_id,
                     m->attempt, w->worker_id);
            continue;
        }
        const Crieur__Account *acc = m->account;
        const char *platform = acc && acc->platform ? acc->platform : "";
        const cr_adapter_t *ad = NULL;
        /* kind comes off the wire: any int. Range first, then the bit. */
        if (m->kind <= 0 || m->kind >= 32 || !(w->kinds & CR_KIND_BIT(m->kind))) {
            snprintf(msg, sizeof msg, "job kind %s is not handled by a %s worker",
                     s_kind_name(m->kind), s_role_name(w->role));
            s_reject(w, m, CRIEUR__OUTCOME__OUTCOME_PERMANENT, msg, "unsupported_kind", 1);
            continue;
        }
        if (!acc || !platform[0]) {
            s_reject(w, m, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "task without account", "bad_task",
                     1);
            continue;
        }
        for (size_t k = 0; w->adapters && w->adapters[k]; k++)
            if (strcmp(w->adapters[k]->platform, platform) == 0) ad = w->adapters[k];
        if (!ad || !(ad->kinds & CR_KIND_BIT(m->kind))) {
            char *p = cr_text_clean(platform, strlen(platform), 64);
            snprintf(msg, sizeof msg, "no adapter for platform %s%s%s", p ? p : "?",
                     ad ? " and kind " : "", ad ? s_kind_name(m->kind) : "");
            free(p);
            s_reject(w, m, CRIEUR__OUTCOME__OUTCOME_PERMANENT, msg, "no_adapter", 1);
            continue;
        }
        if (m->kind == CRIEUR__JOB_KIND__KIND_PUBLISH &&
            m->payload_case != CRIEUR__TASK__PAYLOAD_PUBLISH) {
            s_reject(w, m, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "publish task without payload",
                     "bad_task", 1);
            continue;
        }
        if (w->count >= w->capacity) {
            /* The broker sent more than our credit: refuse it without giving
             * a slot back, so the accounting heals instead of drifting. */
            if (s_every(&w->log_unexpected_mono, cr_mono_ms(), CR_LOG_EVERY_MS))
                cr_warn("task over capacity refused job=%lld attempt=%u worker=%s capacity=%u",
                        (long long)m->job_id, m->attempt, w->worker_id, w->capacity);
            s_reject(w, m, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "worker at capacity",
                     "over_capacity", 0);
            continue;
        }
        cr_task_t *t = s_task_new(w, m);
        Crieur__Task *copy = t ? s_task_copy(m) : NULL;
        if (!copy) {
            free(t);
            s_reject(w, m, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "worker out of memory", "internal",
                     1);
            continue;
        }
        t->msg = copy;
        t->adapter = ad;
        cr_call_init(&t->call, copy);
        t->state = CR_TASK_PENDING;
        s_table_add(w, t);
        s_list_append(&w->pend_head, &w->pend_tail, t);
        cr_debug("task received job=%lld attempt=%u account=%lld worker=%s kind=%s",
                 (long long)t->job_id, t->attempt, (long long)t->account_id, w->worker_id,
                 s_kind_name(m->kind));
    }
}

static void s_on_cancel(cr_worker_t *w, const Crieur__Cancel *c)
{
    cr_task_t *t = s_find(w, c->job_id, c->attempt);
    if (!t) {
        cr_debug("cancel for unknown task job=%lld attempt=%u worker=%s", (long long)c->job_id,
                 c->attempt, w->worker_id);
        return;
    }
    if (t->state != CR_TASK_PENDING) {
        cr_debug("cancel ignored, request already started job=%lld attempt=%u worker=%s",
                 (long long)c->job_id, c->attempt, w->worker_id);
        return;
    }
    w->st.tasks_cancelled++;
    cr_call_done(&t->call, CRIEUR__OUTCOME__OUTCOME_CANCELLED, 0, "cancelled before it started",
                 NULL);
    s_task_finish(w, t);
}

static void s_on_welcome(cr_worker_t *w, const Crieur__Welcome *wel)
{
    if (wel->heartbeat_ms) {
        long hb = (long)wel->heartbeat_ms;
        w->hb_ms = hb < CR_HB_MIN_MS ? CR_HB_MIN_MS : hb > CR_HB_MAX_MS ? CR_HB_MAX_MS : hb;
    }
    if (wel->heartbeat_liveness) w->liveness = wel->heartbeat_liveness > 100 ? 100 : wel->heartbeat_liveness;
    char *bid = cr_text_clean(wel->broker_id, wel->broker_id ? strlen(wel->broker_id) : 0, 64);
    if (w->welcomed_once)
        cr_info("welcomed again by broker %s (%s) worker=%s in_flight=%zu results_queued=%zu",
                bid && bid[0] ? bid : "?", w->broker, w->worker_id, w->count, w->ndone);
    else
        cr_info("connected to broker %s (%s) worker=%s heartbeat_ms=%ld liveness=%u capacity=%u",
                bid && bid[0] ? bid : "?", w->broker, w->worker_id, w->hb_ms, w->liveness,
                w->capacity);
    free(bid);
    w->welcomed_once = 1;
    /* Each WELCOME starts a session: the broker holds no credit of ours. */
    w->conn = CR_CONN_READY;
    w->outstanding = 0;
    if (w->life == CR_LIFE_DRAINING) w->life = CR_LIFE_ACTIVE;
    w->next_hb_mono = cr_mono_ms() + w->hb_ms;
    uint32_t credit = s_grantable(w);
    if (credit > 0) s_send_credit(w, credit);
}

static void s_on_bye(cr_worker_t *w)
{
    int64_t now = cr_mono_ms();
    w->st.byes_received++;
    if (s_every(&w->log_bye_mono, now, CR_LOG_EVERY_MS))
        cr_info("broker %s does not know worker=%s: saying HELLO again", w->broker, w->worker_id);
    /* A HELLO of ours may already be on its way: do not repeat it (two HELLOs
     * would mean two WELCOMEs and twice the credit). */
    if (w->conn == CR_CONN_HELLO_SENT && now - w->hello_mono < w->hb_ms) return;
    s_send_hello(w);
}

static void s_count_malformed(cr_worker_t *w, const char *why)
{
    w->st.frames_malformed++;
    cr_debug("malformed frame from broker dropped worker=%s reason=%s", w->worker_id, why);
    if (s_every(&w->log_malformed_mono, cr_mono_ms(), CR_LOG_EVERY_MS))
        cr_warn("malformed frame from broker %s dropped worker=%s reason=%s (total %llu)",
                w->broker, w->worker_id, why, (unsigned long long)w->st.frames_malformed);
}

static void s_on_frame(cr_worker_t *w, const uint8_t *data, size_t len)
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
            s_on_tasks(w, raw->tasks);
            s_wipe_envelope(raw);
            crieur__envelope__free_unpacked(raw, NULL);
            return;
        }
        if (raw) crieur__envelope__free_unpacked(raw, NULL);
    }
    if (!env) {
        s_count_malformed(w, cr_wire_err_name(err));
        return;
    }
    switch (env->body_case) {
    case CRIEUR__ENVELOPE__BODY_WELCOME:
        s_on_welcome(w, env->welcome);
        break;
    case CRIEUR__ENVELOPE__BODY_TASKS:
        s_on_tasks(w, env->tasks);
        break;
    case CRIEUR__ENVELOPE__BODY_CANCEL:
        s_on_cancel(w, env->cancel);
        break;
    case CRIEUR__ENVELOPE__BODY_DRAIN:
        if (w->life == CR_LIFE_ACTIVE) {
            w->life = CR_LIFE_DRAINING;
            cr_info("broker %s asks to drain worker=%s in_flight=%zu", w->broker, w->worker_id,
                    w->count);
        }
        break;
    case CRIEUR__ENVELOPE__BODY_HEARTBEAT:
        break;
    case CRIEUR__ENVELOPE__BODY_BYE:
        s_on_bye(w);
        break;
    default:
        w->st.frames_unexpected++;
        if (s_every(&w->log_unexpected_mono, cr_mono_ms(), CR_LOG_EVERY_MS))
            cr_warn("unexpected message (body %d) from broker %s ignored worker=%s",
                    (int)env->body_case, w->broker, w->worker_id);
        break;
    }
    s_wipe_envelope(env);
    cr_wire_free(&env);
}

static void s_receive(cr_worker_t *w)
{
    for (int i = 0; i < CR_RECV_BUDGET && w->sock; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, w->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        w->st.frames_received++;
        w->last_recv_mono = cr_mono_ms(); /* anything counts as liveness */
        if (zmq_msg_more(&msg)) {
            /* Envelopes are single frames: drop the whole multipart message. */
            int more = 1;
            while (more) {
                zmq_msg_close(&msg);
                zmq_msg_init(&msg);
                if (zmq_msg_recv(&msg, w->sock, ZMQ_DONTWAIT) < 0) break;
                more = zmq_msg_more(&msg);
            }
            zmq_msg_close(&msg);
            s_count_malformed(w, "multipart");
            continue;
        }
        s_on_frame(w, zmq_msg_data(&msg), zmq_msg_size(&msg));
        /* The frame may hold a token: leave nothing behind. */
        explicit_bzero(zmq_msg_data(&msg), zmq_msg_size(&msg));
        zmq_msg_close(&msg);
    }
}

/* ---- timers and stop --------------------------------------------------- */

static void s_timers(cr_worker_t *w)
{
    int64_t now = cr_mono_ms();
    int64_t dead_after = (int64_t)w->hb_ms * w->liveness;
    if (w->conn == CR_CONN_READY && now >= w->next_hb_mono) {
        s_send_heartbeat(w);
        w->next_hb_mono = now + w->hb_ms;
    }
    int64_t since = w->conn == CR_CONN_READY ? w->last_recv_mono : w->hello_mono;
    if (now - since >= dead_after) {
        w->st.reconnects++;
        if (s_every(&w->log_dead_mono, now, CR_LOG_EVERY_MS)) {
            if (w->conn == CR_CONN_READY)
                cr_warn("broker %s silent for %lld ms, presumed dead: reconnecting worker=%s "
                        "in_flight=%zu",
                        w->broker, (long long)(now - since), w->worker_id, w->count);
            else
                cr_warn("no WELCOME from broker %s after %lld ms: new socket, HELLO again "
                        "worker=%s in_flight=%zu",
                        w->broker, (long long)(now - since), w->worker_id, w->count);
        }
        if (s_connect(w)) w->hello_mono = now; /* retry after another liveness period */
    }
}

static void s_abort_all(cr_worker_t *w)
{
    for (size_t b = 0; b < w->nbuckets; b++) {
        while (w->buckets[b]) {
            cr_task_t *t = w->buckets[b];
            w->buckets[b] = t->hnext;
            w->count--;
            if (t->state == CR_TASK_PENDING) s_list_remove(&w->pend_head, &w->pend_tail, t);
            w->st.tasks_aborted++;
            cr_debug("task abandoned job=%lld attempt=%u account=%lld worker=%s",
                     (long long)t->job_id, t->attempt, (long long)t->account_id, w->worker_id);
            s_task_free(w, t);
        }
    }
}

static void s_check_stop(cr_worker_t *w)
{
    if (w->life != CR_LIFE_STOPPING) return;
    int64_t now = cr_mono_ms();
    int idle = w->count == 0 && w->ndone == 0;
    if (!idle && !w->hard_stop && now < w->stop_deadline_mono) return;
    if (w->count) {
        cr_warn("stopping with %zu unfinished tasks: abandoned, the broker re-queues them "
                "worker=%s",
                w->count, w->worker_id);
        s_abort_all(w);
    }
    s_flush(w);
    if (w->ndone)
        cr_warn("stopping with %zu results not delivered worker=%s", w->ndone, w->worker_id);
    s_send_bye(w);
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
    cr_info("stats worker=%s in_flight=%zu results_sent=%llu ok=%llu rejected=%llu "
            "malformed=%llu reconnects=%llu",
            w->worker_id, w->count, (unsigned long long)w->st.results_sent,
            (unsigned long long)w->st.results_ok, (unsigned long long)w->st.tasks_rejected,
            (unsigned long long)w->st.frames_malformed, (unsigned long long)w->st.reconnects);
    w->stats_logged_results = w->st.results_sent;
}

/* ---- public ------------------------------------------------------------ */

cr_worker_t *cr_worker_new(const cr_worker_opts_t *o)
{
    if (!o || !o->broker || !o->worker_id || !o->worker_id[0] || strlen(o->worker_id) > 255 ||
        o->capacity == 0 || o->role == CRIEUR__ROLE__ROLE_UNKNOWN)
        return NULL;
    cr_worker_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->broker = strdup(o->broker);
    w->worker_id = strdup(o->worker_id);
    w->version = strdup(o->version ? o->version : CR_WORKER_VERSION);
    if (!w->broker || !w->worker_id || !w->version) goto fail;
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
    w->nbuckets = 16;
    while (w->nbuckets < (size_t)w->capacity * 2) w->nbuckets *= 2;
    w->buckets = calloc(w->nbuckets, sizeof *w->buckets);
    w->batch = calloc(CR_MAX_RESULTS_PER_BATCH, sizeof *w->batch);
    w->batch_p = calloc(CR_MAX_RESULTS_PER_BATCH, sizeof *w->batch_p);
    if (!w->buckets || !w->batch || !w->batch_p) goto fail;
    w->http = cr_http_new(w->connect_timeout_ms);
    if (!w->http) goto fail;
    if (o->zmq_ctx) {
        w->ctx = o->zmq_ctx;
    } else {
        w->ctx = zmq_ctx_new();
        if (!w->ctx) goto fail;
        w->own_ctx = 1;
    }
    w->conn = CR_CONN_HELLO_SENT;
    w->life = CR_LIFE_ACTIVE;
    if (s_connect(w)) goto fail;
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
    while (w->done_head) {
        cr_task_t *t = w->done_head;
        s_list_remove(&w->done_head, &w->done_tail, t);
        s_task_free(w, t);
    }
    cr_http_destroy(&w->http);
    if (w->sock) zmq_close(w->sock);
    if (w->own_ctx) zmq_ctx_term(w->ctx);
    free(w->items);
    free(w->batch);
    free(w->batch_p);
    free(w->buckets);
    free(w->broker);
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
        cr_info("stopping worker=%s: no new credit, finishing %zu tasks within %ld ms",
                w->worker_id, w->count, w->grace_ms);
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
    out->results_queued = (uint32_t)w->ndone;
    out->connected = w->conn == CR_CONN_READY;
}

static long s_min_wait(long a, int64_t b)
{
    if (b < 0) b = 0;
    return b < a ? (long)b : a;
}

int cr_worker_step(cr_worker_t *w, long wait_ms)
{
    if (w->life == CR_LIFE_STOPPED) return 0;
    int64_t now = cr_mono_ms();
    long timeout = wait_ms < 0 || wait_ms > CR_MAX_WAIT_MS ? CR_MAX_WAIT_MS : wait_ms;
    if (w->pend_head) timeout = 0;
    if (w->done_head && w->conn == CR_CONN_READY)
        timeout = s_min_wait(timeout, w->flush_retry_mono - now);
    long ct = cr_http_timeout(w->http);
    if (ct >= 0) timeout = s_min_wait(timeout, ct);
    if (w->conn == CR_CONN_READY) timeout = s_min_wait(timeout, w->next_hb_mono - now);
    int64_t since = w->conn == CR_CONN_READY ? w->last_recv_mono : w->hello_mono;
    timeout = s_min_wait(timeout, since + (int64_t)w->hb_ms * w->liveness - now);
    if (w->life == CR_LIFE_STOPPING) {
        int idle = w->count == 0 && w->ndone == 0;
        timeout = w->hard_stop || idle ? 0 : s_min_wait(timeout, w->stop_deadline_mono - now);
    }

    size_t need = 1 + cr_http_nfds(w->http);
    if (need > w->items_cap) {
        size_t cap = w->items_cap ? w->items_cap : 64;
        while (cap < need) cap *= 2;
        zmq_pollitem_t *items = realloc(w->items, cap * sizeof *items);
        if (!items) return -1;
        w->items = items;
        w->items_cap = cap;
    }
    w->items[0].socket = w->sock; /* NULL only after a failed reconnect */
    w->items[0].fd = -1;           /* ignored by poll when there is no socket */
    w->items[0].events = w->sock ? ZMQ_POLLIN : 0;
    w->items[0].revents = 0;
    size_t n = 1 + cr_http_fill_pollitems(w->http, w->items + 1, w->items_cap - 1);
    int rc = zmq_poll(w->items, (int)n, timeout);
    if (rc < 0) {
        if (errno == ETERM) return -1;
        if (errno != EINTR) cr_debug("zmq_poll: %s", zmq_strerror(errno));
        for (size_t i = 0; i < n; i++) w->items[i].revents = 0;
    }
    cr_http_process(w->http, w->items + 1, n - 1);
    if (w->items[0].revents & ZMQ_POLLIN) s_receive(w);
    if (!w->hard_stop) s_start_pending(w);
    if (w->life != CR_LIFE_STOPPING || !w->hard_stop) s_timers(w);
    s_flush(w);
    s_check_stop(w);
    s_log_stats(w);
    return w->life == CR_LIFE_STOPPED ? 0 : 1;
}
