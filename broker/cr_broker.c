#include "cr_broker.h"

#include "cr_buf.h"
#include "cr_db.h"
#include "cr_jobs.h"
#include "cr_rate.h"
#include "cr_log.h"
#include "cr_secret.h"
#include "cr_time.h"
#include "cr_util.h"
#include "cr_wire.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define CR_MAX_IDENT 255
/* A job is dispatched only if its lease holds for at least this long. */
#define CR_LEASE_MARGIN_MS 1000

struct cr_worker {
    uint8_t ident[CR_MAX_IDENT];
    size_t ident_len;
    char *id;
    int role;
    uint32_t capacity;
    long credit;
    uint32_t in_flight;
    char *platforms_json; /* ["mastodon",...] for the worker table */
    uint32_t pid;
    char *version;
    int64_t last_seen; /* monotonic ms */
    struct cr_worker *next;
};

typedef struct {
    uint64_t claimed, dispatched, results, stale, malformed, released, cancelled, workers_lost;
    uint64_t db_errors, cycles, lease_lost, bad_credentials;
    uint64_t rate_held, rate_deferred; /* publications that waited for a rate limit */
    uint64_t mentions;                 /* collected by monitor tasks, sent to be stored */
} cr_counters_t;

/* A result waiting to be written: the broker_cycle_arrays fields. */
typedef struct {
    int64_t j;      /* job */
    uint32_t a;     /* attempt */
    const char *o;  /* outcome name (static) */
    int h;          /* HTTP status */
    char *p, *u, *e, *c; /* platform id, URL, error, error code */
    int64_t r;      /* retry at (unix ms) */
    char *w;        /* worker */
    int64_t d, s, f; /* dispatched, started, finished (unix ms) */
    int rc;         /* found by reading back */
    char *ta, *tr;  /* refreshed tokens, sealed (hex) */
    int64_t te;     /* their expiry (unix ms) */
    char *k;        /* the sealing key's id */
} s_result_t;
#define S_RESULT_FIELDS 18

/* Database setup steps after each (re)connection. */
enum { SETUP_LISTEN, SETUP_LIMITS, SETUP_RECOVER, SETUP_DONE };

struct cr_broker {
    const cr_broker_config_t *cfg;
    void *zctx;
    void *router;
    cr_db_t *db;
    cr_jobs_t *jobs;
    cr_rate_t *rate;       /* rate windows per account and platform */
    int64_t next_limits;   /* mono: reread crieur.platform's limits */
    int64_t next_prune;    /* mono: forget idle rate windows */
    cr_worker_t *workers;
    cr_worker_t *rr;
    size_t n_workers;

    s_result_t *results; /* pending results, written by the next cycle */
    size_t n_results, cap_results;
    s_result_t *sending; /* the results of the cycle in flight */
    size_t n_sending, cap_sending;
    cr_buf_t arrays[S_RESULT_FIELDS]; /* scratch: the results as array literals */
    cr_buf_t known; /* scratch: {id,id,...} of held jobs */
    cr_buf_t blocked; /* scratch: {account,...} whose rate limit is spent */
    /* What monitor tasks collected, for crieur.monitor_store, and their
     * results, held back until it is stored (the store goes first: the
     * result's cycle ends the job's lease, which fences the store). */
    cr_buf_t mon;
    s_result_t *mon_held;
    size_t n_mon, cap_mon;
    cr_buf_t mon_sending;
    s_result_t *mon_held_sending;
    size_t n_mon_sending, cap_mon_sending;
    cr_buf_t seal;  /* plaintext credentials to seal, comma separated (p_seal) */
    size_t n_seal;
    cr_buf_t seal_sending;

    int setup;
    int recovered;
    int claim_wanted;
    long claim_asked;   /* size of the claim in flight */
    int cycle_in_flight;
    int64_t cycle_sent_mono; /* when the cycle in flight was sent */
    int cycle_maintain;      /* it renews every lease we hold */
    int heartbeat_due;
    int64_t next_due_wall;  /* wall ms when the next scheduled job enters the window, 0 = none */
    int64_t next_tick;      /* mono */
    int64_t next_maintain;  /* mono */
    int64_t next_reap;      /* mono */
    int64_t next_heartbeat; /* mono */
    int64_t next_stats;     /* mono */
    int64_t db_retry_at;    /* mono: after a statement error */
    int draining;
    int64_t drain_deadline;
    char host[256];
    cr_counters_t c;
    cr_counters_t c_last;
};

/* ------------------------------------------------------------------ workers */

static void s_worker_free(cr_worker_t *w)
{
    free(w->id);
    free(w->platforms_json);
    free(w->version);
    free(w);
}

static cr_worker_t *s_worker_find(cr_broker_t *self, const void *ident, size_t len)
{
    for (cr_worker_t *w = self->workers; w; w = w->next)
        if (w->ident_len == len && memcmp(w->ident, ident, len) == 0) return w;
    return NULL;
}

static void s_result_clear(s_result_t *r)
{
    free(r->p);
    free(r->u);
    free(r->e);
    free(r->c);
    free(r->w);
    free(r->ta);
    free(r->tr);
    free(r->k);
    memset(r, 0, sizeof *r);
}

/* A copy of an optional string: NULL for NULL or empty. Sets *oom on failure. */
static char *s_opt_dup(const char *v, int *oom)
{
    if (!v || !*v) return NULL;
    char *d = strdup(v);
    if (!d) *oom = 1;
    return d;
}

/* Keeps one result for the next cycle. Out of memory, the result is lost
 * here, never half-written: the job's lease expires and it is retried. */
static void s_result_add(cr_broker_t *self, int64_t job, uint32_t attempt, const char *outcome,
                         int http, const char *pid, const char *url, const char *err,
                         const char *code, int64_t retry_at, const char *worker,
                         int64_t dispatched, int64_t started, int64_t finished, int reconciled)
{
    if (self->n_results == self->cap_results) {
        size_t cap = self->cap_results ? self->cap_results * 2 : 256;
        s_result_t *n = realloc(self->results, cap * sizeof *n);
        if (!n) {
            cr_error("out of memory keeping the result of job=%" PRId64 "; its lease will expire",
                     job);
            return;
        }
        self->results = n;
        self->cap_results = cap;
    }
    s_result_t *r = &self->results[self->n_results];
    memset(r, 0, sizeof *r);
    int oom = 0;
    r->j = job;
    r->a = attempt;
    r->o = outcome;
    r->h = http;
    r->p = s_opt_dup(pid, &oom);
    r->u = s_opt_dup(url, &oom);
    r->e = s_opt_dup(err, &oom);
    r->c = s_opt_dup(code, &oom);
    r->r = retry_at;
    r->w = s_opt_dup(worker, &oom);
    r->d = dispatched;
    r->s = started;
    r->f = finished;
    r->rc = reconciled;
    if (oom) {
        cr_error("out of memory keeping the result of job=%" PRId64 "; its lease will expire", job);
        s_result_clear(r);
        return;
    }
    self->n_results++;
}

/* plain sealed with key, as hex for SQL (decode(.., 'hex')); NULL out of memory. */
static char *s_seal_hex(const cr_secret_key_t *key, const char *plain)
{
    size_t n = 0;
    uint8_t *sealed = cr_secret_seal(key, plain, strlen(plain), &n);
    char *hex = sealed ? cr_hex_encode(sealed, n) : NULL;
    free(sealed);
    return hex;
}

/* Appends the new tokens of a token refresh, sealed, to the result just
 * added (its closing brace is reopened). Without credentials the database
 * sees an OK without them and retries the refresh. */
static void s_result_seal_credentials(cr_broker_t *self, int64_t job,
                                      const Crieur__Credentials *c)
{
    if (!c || !c->access_token || !*c->access_token) return;
    if (!self->n_results || self->results[self->n_results - 1].j != job) return;
    s_result_t *r = &self->results[self->n_results - 1];
    const cr_secret_key_t *key = self->cfg->secret_key;
    int has_refresh = c->refresh_token && *c->refresh_token;
    char *ah = s_seal_hex(key, c->access_token);
    char *rh = has_refresh ? s_seal_hex(key, c->refresh_token) : NULL;
    char *kid = strdup(cr_secret_key_id(key));
    if (ah && kid && (rh || !has_refresh)) {
        r->ta = ah;
        r->tr = rh;
        r->k = kid;
        r->te = c->expires_at_ms > 0 ? c->expires_at_ms : 0;
        return;
    }
    cr_error("out of memory sealing refreshed credentials; the refresh will be retried");
    free(ah);
    free(rh);
    free(kid);
}

/* The job leaves the broker (its result is on the way to PostgreSQL, or it
 * is left to the queue): the rate limiter's place it took is done. */
static void s_job_forget(cr_broker_t *self, cr_job_t *job)
{
    if (job->rate_taken) {
        cr_rate_done(self->rate, job->account.id, job->account.platform, cr_now_ms());
        job->rate_taken = 0;
    }
    cr_job_t *j = cr_jobs_remove(self->jobs, job->id);
    cr_job_destroy(&j);
}

/* A job the broker will not finish itself: back to PostgreSQL with a reason. */
static void s_job_release_at(cr_broker_t *self, cr_job_t *job, const char *outcome,
                             const char *code, const char *why, int64_t retry_at)
{
    const char *wid = job->worker ? job->worker->id : NULL;
    s_result_add(self, job->id, job->attempt, outcome, 0, NULL, NULL, why, code, retry_at, wid,
                 job->dispatched_ms, 0, cr_now_ms(), 0);
    s_job_forget(self, job);
}

static void s_job_release(cr_broker_t *self, cr_job_t *job, const char *outcome, const char *code,
                          const char *why)
{
    /* an in-flight task may still reach the platform until its deadline */
    s_job_release_at(self, job, outcome, code, why,
                     job->state == CR_JOB_INFLIGHT ? job->deadline_ms : 0);
}


typedef struct {
    cr_worker_t *w;
    int64_t *ids;
    size_t n, cap;
} s_collect_t;

static void s_collect_worker_jobs(cr_job_t *job, void *arg)
{
    s_collect_t *c = arg;
    if (job->state != CR_JOB_INFLIGHT || job->worker != c->w) return;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        int64_t *n = realloc(c->ids, ncap * sizeof *n);
        if (!n) return;
        c->ids = n;
        c->cap = ncap;
    }
    c->ids[c->n++] = job->id;
}

/* Removes a worker; its in-flight tasks go back to the queue at once. */
static void s_worker_lost(cr_broker_t *self, cr_worker_t *w, const char *why)
{
    s_collect_t c = {.w = w};
    cr_jobs_each(self->jobs, s_collect_worker_jobs, &c);
    char msg[300];
    snprintf(msg, sizeof msg, "worker %s %s with the task in flight", w->id, why);
    for (size_t i = 0; i < c.n; i++) {
        cr_job_t *job = cr_jobs_find(self->jobs, c.ids[i]);
        if (job) s_job_release(self, job, "indeterminate", "worker_lost", msg);
    }
    free(c.ids);
    cr_info("worker=%s role=%d %s; %zu in-flight task(s) released", w->id, w->role, why, c.n);
    self->c.workers_lost++;
    cr_worker_t **pp = &self->workers;
    while (*pp && *pp != w) pp = &(*pp)->next;
    if (*pp) *pp = w->next;
    if (self->rr == w) self->rr = NULL;
    self->n_workers--;
    s_worker_free(w);
}

/* ------------------------------------------------------------------ sending */

static int s_send(cr_broker_t *self, cr_worker_t *w, Crieur__Envelope *env)
{
    if (cr_wire_send(self->router, w->ident, w->ident_len, env) < 0) {
        cr_debug("worker=%s send failed: %s", w->id, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

static void s_send_simple_to(cr_broker_t *self, const void *ident, size_t len,
                             Crieur__Envelope *env)
{
    if (cr_wire_send(self->router, ident, len, env) < 0)
        cr_debug("send to unknown peer failed: %s", zmq_strerror(errno));
}

/* Longest wait for a rate limit spent in the broker; a longer one sends the
 * job back to the queue until then. */
#define CR_RATE_HOLD_MAX_MS 5000

/* Takes the rate-limit tokens of a publication about to be dispatched.
 * Returns 1 when the job must wait instead: held until its account has a
 * token (short waits) or back in the queue until then (long ones). */
static int s_rate_wait(cr_broker_t *self, cr_job_t *job, int64_t now)
{
    job->rate_taken = 0;
    if (job->task.kind != CRIEUR__JOB_KIND__KIND_PUBLISH || job->account.id <= 0) return 0;
    int64_t at = cr_rate_take(self->rate, job->account.id, job->account.platform, now);
    if (at == 0) {
        job->rate_taken = 1;
        return 0;
    }
    if (at - now <= CR_RATE_HOLD_MAX_MS) {
        self->c.rate_held++;
        job->due_ms = at;
        cr_jobs_hold(self->jobs, job);
        return 1;
    }
    self->c.rate_deferred++;
    char why[160];
    snprintf(why, sizeof why,
             "deferred by the broker: the account's rate limit on %s is spent until %" PRId64,
             job->account.platform ? job->account.platform : "?", at);
    s_job_release_at(self, job, "rate_limited", "broker_rate_limit", why, at);
    return 1;
}

/* Sends READY jobs to workers with credit, in batches, round robin. */
static void s_dispatch(cr_broker_t *self)
{
    size_t batch_max = (size_t)self->cfg->task_batch;
    Crieur__Task **tasks = NULL;
    cr_job_t **batch_jobs = NULL;
    if (!cr_jobs_ready(self->jobs) || !self->workers) return;
    tasks = malloc(batch_max * sizeof *tasks);
    batch_jobs = malloc(batch_max * sizeof *batch_jobs);
    if (!tasks || !batch_jobs) goto out;
    int progress = 1;
    while (cr_jobs_ready(self->jobs) && progress) {
        progress = 0;
        cr_job_t *head = cr_jobs_ready_head(self->jobs);
        /* next worker in round-robin order that can take the head's role */
        cr_worker_t *start = self->rr && self->rr->next ? self->rr->next : self->workers;
        cr_worker_t *w = start, *pick = NULL;
        do {
            if (w->role == head->role && w->credit > 0) {
                pick = w;
                break;
            }
            w = w->next ? w->next : self->workers;
        } while (w != start);
        if (!pick) break;
        self->rr = pick;
        size_t n = 0;
        int64_t now = cr_now_ms();
        int64_t mono = cr_mono_ms();
        size_t looked = 0, ready_at_start = cr_jobs_ready(self->jobs);
        while (n < batch_max && (long)n < pick->credit && cr_jobs_ready(self->jobs) &&
               cr_jobs_ready_head(self->jobs)->role == pick->role && looked++ < ready_at_start) {
            cr_job_t *job = cr_jobs_ready_pop(self->jobs);
            if (job->lease_until - mono < CR_LEASE_MARGIN_MS) {
                /* Our lease may have run out (the database was unreachable):
                 * another broker may own the job now. Never dispatch it. */
                self->c.lease_lost++;
                cr_warn("job=%" PRId64 " attempt=%u dropped: its lease may have expired", job->id,
                        job->attempt);
                s_job_forget(self, job);
                continue;
            }
            if (s_rate_wait(self, job, now)) continue;
            job->state = CR_JOB_INFLIGHT;
            job->worker = pick;
            job->dispatched_ms = now;
            job->deadline_ms = now + self->cfg->task_timeout_ms;
            job->task.deadline_ms = job->deadline_ms;
            tasks[n] = &job->task;
            batch_jobs[n] = job;
            n++;
        }
        if (n == 0) break;
        Crieur__TaskBatch tb = CRIEUR__TASK_BATCH__INIT;
        tb.n_tasks = n;
        tb.tasks = tasks;
        Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
        env.body_case = CRIEUR__ENVELOPE__BODY_TASKS;
        env.tasks = &tb;
        if (s_send(self, pick, &env) < 0) {
            /* not delivered: the jobs stay ours and go back to the queue */
            for (size_t i = 0; i < n; i++) {
                batch_jobs[i]->worker = NULL;
                batch_jobs[i]->dispatched_ms = 0;
                if (batch_jobs[i]->rate_taken) {
                    cr_rate_give_back(self->rate, batch_jobs[i]->account.id,
                                      batch_jobs[i]->account.platform, now);
                    batch_jobs[i]->rate_taken = 0;
                }
                cr_jobs_ready_push(self->jobs, batch_jobs[i]);
            }
            pick->credit = 0;
            continue;
        }
        pick->credit -= (long)n;
        pick->in_flight += (uint32_t)n;
        self->c.dispatched += n;
        progress = 1;
    }
out:
    free(tasks);
    free(batch_jobs);
}

/* ----------------------------------------------------------- from workers */

static void s_on_hello(cr_broker_t *self, const uint8_t *ident, size_t ilen, cr_worker_t *w,
                       const Crieur__Hello *h)
{
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return;
        memcpy(w->ident, ident, ilen);
        w->ident_len = ilen;
        w->next = self->workers;
        self->workers = w;
        self->n_workers++;
    } else {
        free(w->id);
        free(w->platforms_json);
        free(w->version);
        w->id = w->platforms_json = w->version = NULL;
    }
    w->id = strdup(h->worker_id);
    w->role = h->role;
    w->capacity = h->capacity;
    w->credit = 0;
    w->pid = h->pid;
    w->version = strdup(h->version ? h->version : "");
    cr_buf_t pb;
    cr_buf_init(&pb);
    cr_buf_add(&pb, "[", 1);
    for (size_t i = 0; i < h->n_platforms; i++) {
        if (i) cr_buf_add(&pb, ",", 1);
        cr_buf_json_str(&pb, h->platforms[i]);
    }
    cr_buf_add(&pb, "]", 1);
    w->platforms_json = strdup(cr_buf_str(&pb));
    cr_buf_release(&pb);
    w->last_seen = cr_mono_ms();
    if (!w->id || !w->version || !w->platforms_json) {
        s_worker_lost(self, w, "could not be registered (out of memory)");
        return;
    }
    cr_info("worker=%s joined: role=%d capacity=%u pid=%u version=%s", w->id, w->role,
            w->capacity, w->pid, w->version);
    Crieur__Welcome wel = CRIEUR__WELCOME__INIT;
    wel.broker_id = self->cfg->broker_id;
    wel.heartbeat_ms = (uint32_t)self->cfg->heartbeat_ms;
    wel.heartbeat_liveness = (uint32_t)self->cfg->heartbeat_liveness;
    wel.max_tasks_per_batch = (uint32_t)self->cfg->task_batch;
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_WELCOME;
    env.welcome = &wel;
    s_send(self, w, &env);
    self->heartbeat_due = 1;
}

static const char *s_outcome_name(Crieur__Outcome o)
{
    switch (o) {
    case CRIEUR__OUTCOME__OUTCOME_OK: return "ok";
    case CRIEUR__OUTCOME__OUTCOME_TRANSIENT: return "transient";
    case CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED: return "rate_limited";
    case CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED: return "auth_expired";
    case CRIEUR__OUTCOME__OUTCOME_PERMANENT: return "permanent";
    case CRIEUR__OUTCOME__OUTCOME_CANCELLED: return "cancelled";
    case CRIEUR__OUTCOME__OUTCOME_INDETERMINATE: return "indeterminate";
    case CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED: return "unconfirmed";
    default: return NULL;
    }
}

static void s_monitor_hold(cr_broker_t *self, const cr_job_t *job, const Crieur__Result *r);

/* What the platform said of the account's rate limit, into its window. */
static void s_rate_feedback(cr_broker_t *self, const cr_job_t *job, const Crieur__Result *r)
{
    int64_t now = cr_now_ms();
    if (r->outcome == CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED)
        cr_rate_block(self->rate, job->account.id, job->account.platform, r->retry_at_ms, now);
    else if (r->rate_known)
        cr_rate_observe(self->rate, job->account.id, job->account.platform, r->rate_limit,
                        r->rate_remaining, r->rate_reset_ms, now);
}

static void s_on_results(cr_broker_t *self, cr_worker_t *w, const uint8_t *ident, size_t ilen,
                         const Crieur__ResultBatch *rb)
{
    for (size_t i = 0; i < rb->n_results; i++) {
        const Crieur__Result *r = rb->results[i];
        cr_job_t *job = cr_jobs_find(self->jobs, r->job_id);
        const char *outcome = s_outcome_name(r->outcome);
        /* The fence is (job, attempt): the sender's identity may differ from
         * the one we sent to when the worker reconnected (router handover). */
        if (!job || !outcome || job->state != CR_JOB_INFLIGHT || job->attempt != r->attempt ||
            !job->worker) {
            /* late, duplicate or foreign: the fence says it changes nothing */
            self->c.stale++;
            cr_debug("stale result dropped: job=%" PRId64 " attempt=%u", r->job_id, r->attempt);
            continue;
        }
        s_result_add(self, job->id, job->attempt, outcome, r->http_status, r->platform_post_id,
                     r->url, r->error, r->error_code, r->retry_at_ms, job->worker->id,
                     job->dispatched_ms, r->started_ms, r->finished_ms, r->reconciled);
        if (job->account.id > 0 && job->task.kind == CRIEUR__JOB_KIND__KIND_PUBLISH)
            s_rate_feedback(self, job, r);
        if (job->task.kind == CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH &&
            r->outcome == CRIEUR__OUTCOME__OUTCOME_OK)
            s_result_seal_credentials(self, job->id, r->credentials);
        if (job->task.kind == CRIEUR__JOB_KIND__KIND_MONITOR &&
            r->outcome == CRIEUR__OUTCOME__OUTCOME_OK)
            s_monitor_hold(self, job, r);
        cr_debug("job=%" PRId64 " attempt=%u account=%" PRId64 " worker=%s outcome=%s http=%d",
                 job->id, job->attempt, job->account.id, job->worker->id, outcome, r->http_status);
        if (job->worker->in_flight) job->worker->in_flight--;
        s_job_forget(self, job);
        self->c.results++;
    }
    if (w) {
        w->credit += rb->credit;
        if (w->credit > (long)w->capacity) w->credit = w->capacity;
    }
}

static void s_on_message(cr_broker_t *self, const uint8_t *ident, size_t ilen,
                         const uint8_t *data, size_t len)
{
    cr_wire_err_t err;
    Crieur__Envelope *env = cr_wire_unpack(data, len, &err);
    cr_worker_t *w = s_worker_find(self, ident, ilen);
    if (!env) {
        self->c.malformed++;
        if (self->c.malformed < 10 || self->c.malformed % 1000 == 0)
            cr_warn("dropped a frame from %s: %s (%zu bytes; %" PRIu64 " dropped so far)",
                    w ? w->id : "an unknown peer", cr_wire_err_name(err), len, self->c.malformed);
        return;
    }
    if (w) w->last_seen = cr_mono_ms();
    switch (env->body_case) {
    case CRIEUR__ENVELOPE__BODY_HELLO:
        s_on_hello(self, ident, ilen, w, env->hello);
        break;
    case CRIEUR__ENVELOPE__BODY_CREDIT:
        if (w) {
            w->credit += env->credit->slots;
            if (w->credit > (long)w->capacity) w->credit = w->capacity;
        }
        break;
    case CRIEUR__ENVELOPE__BODY_RESULTS:
        s_on_results(self, w, ident, ilen, env->results);
        break;
    case CRIEUR__ENVELOPE__BODY_HEARTBEAT:
        break;
    case CRIEUR__ENVELOPE__BODY_BYE:
        if (w) {
            s_worker_lost(self, w, "left");
            w = NULL;
        }
        break;
    default:
        self->c.malformed++;
        cr_debug("unexpected message type %d from a worker", env->body_case);
        break;
    }
    if (!w && env->body_case != CRIEUR__ENVELOPE__BODY_HELLO &&
        env->body_case != CRIEUR__ENVELOPE__BODY_BYE) {
        /* "I do not know you": the worker says HELLO again */
        Crieur__Bye bye = CRIEUR__BYE__INIT;
        Crieur__Envelope out = CRIEUR__ENVELOPE__INIT;
        out.body_case = CRIEUR__ENVELOPE__BODY_BYE;
        out.bye = &bye;
        s_send_simple_to(self, ident, ilen, &out);
    }
    cr_wire_free(&env);
}

static void s_read_router(cr_broker_t *self)
{
    for (int n = 0; n < 10000; n++) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, self->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return;
        }
        zmq_msg_init(&body);
        int more = zmq_msg_more(&id);
        if (!more || zmq_msg_recv(&body, self->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            self->c.malformed++;
            continue;
        }
        /* Exactly one body frame; anything more is malformed: drain it. */
        int extra = 0;
        while (zmq_msg_more(&body)) {
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&body, self->router, ZMQ_DONTWAIT) < 0) break;
            extra = 1;
        }
        if (extra || zmq_msg_size(&id) > CR_MAX_IDENT) self->c.malformed++;
        else
            s_on_message(self, zmq_msg_data(&id), zmq_msg_size(&id), zmq_msg_data(&body),
                         zmq_msg_size(&body));
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
}

/* ----------------------------------------------------------------- database */

static void s_on_notify(void *arg, const char *channel, const char *payload)
{
    cr_broker_t *self = arg;
    if (strcmp(channel, "crieur_jobs") == 0) {
        self->claim_wanted = 1;
    } else if (strcmp(channel, "crieur_cancel") == 0) {
        char *end;
        long long id = strtoll(payload ? payload : "", &end, 10);
        if (!payload || *end || id <= 0) return;
        cr_job_t *job = cr_jobs_find(self->jobs, id);
        if (!job) return;
        if (job->state == CR_JOB_INFLIGHT) {
            job->cancel = 1;
            Crieur__Cancel c = CRIEUR__CANCEL__INIT;
            c.job_id = job->id;
            c.attempt = job->attempt;
            Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
            env.body_case = CRIEUR__ENVELOPE__BODY_CANCEL;
            env.cancel = &c;
            s_send(self, job->worker, &env);
            cr_info("job=%" PRId64 " cancel requested while in flight on worker=%s", job->id,
                    job->worker->id);
        } else {
            cr_info("job=%" PRId64 " cancelled before dispatch", job->id);
            self->c.cancelled++;
            s_job_release(self, job, "cancelled", NULL, "cancelled before publication");
        }
    }
}

static void s_on_db_ready(void *arg)
{
    cr_broker_t *self = arg;
    self->setup = SETUP_LISTEN;
    self->claim_wanted = 1;
    self->next_maintain = 0; /* renew at once: the connection may have been down a while */
}

static void s_collect_undispatched(cr_job_t *job, void *arg)
{
    s_collect_t *c = arg;
    if (job->state == CR_JOB_INFLIGHT) return;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        int64_t *n = realloc(c->ids, ncap * sizeof *n);
        if (!n) return;
        c->ids = n;
        c->cap = ncap;
    }
    c->ids[c->n++] = job->id;
}

/* The database connection dropped. Other brokers see our session gone and
 * take our leases over within a second, so nothing not yet on a worker may
 * be dispatched any more: forget it (the jobs are back in the queue, or
 * will be released as orphans when we reconnect). In-flight tasks finish;
 * their results are fenced. */
static void s_on_db_lost(void *arg)
{
    cr_broker_t *self = arg;
    s_collect_t c = {0};
    cr_jobs_each(self->jobs, s_collect_undispatched, &c);
    for (size_t i = 0; i < c.n; i++) {
        cr_job_t *j = cr_jobs_remove(self->jobs, c.ids[i]);
        cr_job_destroy(&j);
    }
    if (c.n)
        cr_warn("database connection lost: %zu job(s) not yet dispatched are left to whichever "
                "broker takes them",
                c.n);
    self->c.lease_lost += c.n;
    free(c.ids);
}

#define S_LIMITS_SQL                                                                              \
    "SELECT name, coalesce(post_limit, 0), "                                                      \
    "coalesce(extract(epoch FROM post_window) * 1000, 0)::bigint, coalesce(app_limit, 0), "       \
    "coalesce(extract(epoch FROM app_window) * 1000, 0)::bigint FROM crieur.platform"

/* The platforms' published rate limits, into the rate windows. */
static void s_on_limits(void *arg, PGresult *res, const char *error)
{
    cr_broker_t *self = arg;
    if (!res || error) {
        if (error) cr_warn("could not read the platforms' rate limits: %s", error);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        if (cr_rate_set_platform(self->rate, name, atoi(PQgetvalue(res, i, 1)),
                                 strtoll(PQgetvalue(res, i, 2), NULL, 10),
                                 atoi(PQgetvalue(res, i, 3)),
                                 strtoll(PQgetvalue(res, i, 4), NULL, 10)) != 0)
            cr_warn("too many platforms for the rate limiter; %s is not limited", name);
    }
}

static void s_on_setup(void *arg, PGresult *res, const char *error)
{
    cr_broker_t *self = arg;
    if (!res) return; /* connection lost: setup restarts on reconnection */
    if (error) {
        cr_error("database setup failed: %s (is the schema migrated? run: crieurctl migrate)",
                 error);
        self->db_retry_at = cr_mono_ms() + 2000;
        return;
    }
    if (self->setup == SETUP_LIMITS) {
        s_on_limits(self, res, NULL);
    } else if (self->setup == SETUP_RECOVER && !self->recovered) {
        const char *n = PQntuples(res) ? PQgetvalue(res, 0, 0) : "0";
        self->recovered = 1;
        if (strcmp(n, "0") != 0)
            cr_info("start-up recovery: %s job(s) held by this broker id before a restart were "
                    "put back in the queue",
                    n);
    }
    self->setup++;
    if (self->setup == SETUP_RECOVER && self->recovered) self->setup = SETUP_DONE;
}

static void s_move_back_results(cr_broker_t *self)
{
    if (!self->n_sending) return;
    /* keep them: they are written by the next cycle, nothing is lost */
    size_t need = self->n_results + self->n_sending;
    if (need > self->cap_results) {
        s_result_t *n = realloc(self->results, need * sizeof *n);
        if (!n) {
            /* keep the in-flight list as the pending one instead */
            cr_error("out of memory keeping %zu results; %zu newer ones are dropped (their "
                     "leases will expire)",
                     self->n_sending, self->n_results);
            for (size_t i = 0; i < self->n_results; i++) s_result_clear(&self->results[i]);
            s_result_t *t = self->results;
            size_t tc = self->cap_results;
            self->results = self->sending;
            self->cap_results = self->cap_sending;
            self->n_results = self->n_sending;
            self->sending = t;
            self->cap_sending = tc;
            self->n_sending = 0;
            return;
        }
        self->results = n;
        self->cap_results = need;
    }
    memcpy(self->results + self->n_results, self->sending, self->n_sending * sizeof *self->sending);
    self->n_results = need;
    self->n_sending = 0; /* the strings moved with the records */
}

/* ---------------------------------------------------------------- monitor */

static void s_json_field(cr_buf_t *b, const char *name, const char *v)
{
    cr_buf_printf(b, ",\"%s\":", name);
    cr_buf_json_str(b, v);
}

/* The result just added for a monitor job is held back, with what its task
 * collected as one element of crieur.monitor_store's p_data. Out of memory
 * it goes on alone: the cursor then stays, and the next run collects again. */
static void s_monitor_hold(cr_broker_t *self, const cr_job_t *job, const Crieur__Result *r)
{
    if (!self->n_results || self->results[self->n_results - 1].j != job->id) return;
    if (self->n_mon == self->cap_mon) {
        size_t cap = self->cap_mon ? self->cap_mon * 2 : 64;
        s_result_t *n = realloc(self->mon_held, cap * sizeof *n);
        if (!n) {
            cr_error("out of memory keeping what job=%" PRId64 " collected; it runs again",
                     job->id);
            return;
        }
        self->mon_held = n;
        self->cap_mon = cap;
    }
    cr_buf_t *b = &self->mon;
    size_t mark = b->len;
    cr_buf_printf(b, "%s{\"j\":%" PRId64 ",\"a\":%u,\"cursor\":", self->n_mon ? "," : "",
                  job->id, job->attempt);
    if (r->cursor_set) cr_buf_json_str(b, r->cursor);
    else cr_buf_puts(b, "null");
    cr_buf_puts(b, ",\"mentions\":[");
    for (size_t i = 0; i < r->n_mentions; i++) {
        const Crieur__Mention *m = r->mentions[i];
        cr_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        cr_buf_json_str(b, m->id);
        s_json_field(b, "kind", m->kind);
        s_json_field(b, "parent", m->parent);
        s_json_field(b, "author", m->author);
        s_json_field(b, "author_name", m->author_name);
        s_json_field(b, "text", m->text);
        s_json_field(b, "url", m->url);
        s_json_field(b, "lang", m->lang);
        s_json_field(b, "polarity", m->polarity);
        s_json_field(b, "team", m->team);
        s_json_field(b, "rule", m->rule);
        double sent = isfinite(m->sentiment) ? m->sentiment : 0.0;
        cr_buf_printf(b, ",\"posted_ms\":%" PRId64 ",\"sentiment\":%.4f,\"labels\":[",
                      m->posted_ms, sent);
        for (size_t k = 0; k < m->n_labels; k++) {
            if (k) cr_buf_add(b, ",", 1);
            cr_buf_json_str(b, m->labels[k]);
        }
        cr_buf_puts(b, "]}");
    }
    cr_buf_puts(b, "]}");
    if (b->failed) {
        cr_error("out of memory keeping what job=%" PRId64 " collected; it runs again", job->id);
        b->failed = 0;
        b->len = mark;
        return;
    }
    self->mon_held[self->n_mon++] = self->results[--self->n_results];
    self->c.mentions += r->n_mentions;
}

/* monitor_store answered: the held results go to the next cycle; those
 * whose data could not be stored (or all, when the statement failed) end
 * with an error instead of OK, so their cursor stays and nothing is lost. */
static void s_on_monitor_stored(void *arg, PGresult *res, const char *error)
{
    cr_broker_t *self = arg;
    const char *failed = NULL;
    if (res && !error && PQntuples(res) == 1) {
        cr_info("monitor: %s mention(s) stored from %zu task(s)", PQgetvalue(res, 0, 0),
                self->n_mon_sending);
        failed = PQgetvalue(res, 0, 1);
    } else {
        self->c.db_errors++;
        cr_error("storing what %zu monitor task(s) collected failed: %s; they run again",
                 self->n_mon_sending, error ? error : "connection lost");
        self->db_retry_at = cr_mono_ms() + 1000;
    }
    for (size_t i = 0; i < self->n_mon_sending; i++) {
        s_result_t *r = &self->mon_held_sending[i];
        int bad = !failed;
        if (failed) {
            /* {1,2,3}: the jobs whose data was refused */
            char id[24];
            int n = snprintf(id, sizeof id, "%" PRId64, r->j);
            for (const char *q = failed; (q = strstr(q, id)) != NULL; q += n)
                if (q > failed && (q[-1] == '{' || q[-1] == ',') && (q[n] == ',' || q[n] == '}'))
                    bad = 1;
        }
        if (bad) {
            r->o = failed ? "permanent" : "transient";
            free(r->e);
            free(r->c);
            r->e = strdup(failed ? "what the task collected could not be stored (see the "
                                   "broker's log and PostgreSQL's)"
                                 : "the broker could not store what the task collected");
            r->c = strdup("monitor_store");
        }
        /* into the pending results, in order */
        if (self->n_results == self->cap_results) {
            size_t cap = self->cap_results ? self->cap_results * 2 : 256;
            s_result_t *n = realloc(self->results, cap * sizeof *n);
            if (!n) {
                cr_error("out of memory keeping the result of job=%" PRId64
                         "; its lease will expire",
                         r->j);
                s_result_clear(r);
                continue;
            }
            self->results = n;
            self->cap_results = cap;
        }
        self->results[self->n_results++] = *r;
    }
    self->n_mon_sending = 0;
    cr_buf_wipe(&self->mon_sending);
}

/* Sends the held monitor data; the cycle with their results comes after. */
static int s_monitor_send(cr_broker_t *self)
{
    cr_buf_reset(&self->mon_sending);
    cr_buf_add(&self->mon_sending, "[", 1);
    cr_buf_add(&self->mon_sending, self->mon.data, self->mon.len);
    cr_buf_add(&self->mon_sending, "]", 1);
    if (self->mon_sending.failed) return -1;
    const char *p[2] = {self->cfg->broker_id, cr_buf_str(&self->mon_sending)};
    if (cr_db_send(self->db, "SELECT stored, failed FROM crieur.monitor_store($1, $2::jsonb)", 2,
                   p, s_on_monitor_stored, self) != 0)
        return -1;
    s_result_t *t = self->mon_held_sending;
    size_t tc = self->cap_mon_sending;
    self->mon_held_sending = self->mon_held;
    self->cap_mon_sending = self->cap_mon;
    self->n_mon_sending = self->n_mon;
    self->mon_held = t;
    self->cap_mon = tc;
    self->n_mon = 0;
    cr_buf_reset(&self->mon);
    return 0;
}

static void s_sending_done(cr_broker_t *self)
{
    for (size_t i = 0; i < self->n_sending; i++) s_result_clear(&self->sending[i]);
    self->n_sending = 0;
}

/* The pending results as PostgreSQL array literals, one per field. */
static int s_results_to_arrays(cr_broker_t *self)
{
    cr_buf_t *a = self->arrays;
    for (int k = 0; k < S_RESULT_FIELDS; k++) {
        cr_buf_reset(&a[k]);
        cr_buf_add(&a[k], "{", 1);
    }
    for (size_t i = 0; i < self->n_results; i++) {
        const s_result_t *r = &self->results[i];
        const char *sep = i ? "," : "";
        cr_buf_printf(&a[0], "%s%" PRId64, sep, r->j);
        cr_buf_printf(&a[1], "%s%u", sep, r->a);
        cr_buf_printf(&a[2], "%s%s", sep, r->o);
        if (r->h) cr_buf_printf(&a[3], "%s%d", sep, r->h);
        else cr_buf_printf(&a[3], "%sNULL", sep);
        char *strs[4] = {r->p, r->u, r->e, r->c};
        for (int k = 0; k < 4; k++) {
            cr_buf_puts(&a[4 + k], sep);
            cr_buf_pg_array_str(&a[4 + k], strs[k]);
        }
        if (r->r > 0) cr_buf_printf(&a[8], "%s%" PRId64, sep, r->r);
        else cr_buf_printf(&a[8], "%sNULL", sep);
        cr_buf_puts(&a[9], sep);
        cr_buf_pg_array_str(&a[9], r->w);
        int64_t times[3] = {r->d, r->s, r->f};
        for (int k = 0; k < 3; k++) {
            if (times[k] > 0) cr_buf_printf(&a[10 + k], "%s%" PRId64, sep, times[k]);
            else cr_buf_printf(&a[10 + k], "%sNULL", sep);
        }
        cr_buf_printf(&a[13], "%s%s", sep, r->rc ? "t" : "f");
        cr_buf_puts(&a[14], sep);
        cr_buf_pg_array_str(&a[14], r->ta);
        cr_buf_puts(&a[15], sep);
        cr_buf_pg_array_str(&a[15], r->tr);
        if (r->te > 0) cr_buf_printf(&a[16], "%s%" PRId64, sep, r->te);
        else cr_buf_printf(&a[16], "%sNULL", sep);
        cr_buf_puts(&a[17], sep);
        cr_buf_pg_array_str(&a[17], r->k);
    }
    int failed = 0;
    for (int k = 0; k < S_RESULT_FIELDS; k++) {
        cr_buf_add(&a[k], "}", 1);
        failed |= a[k].failed;
    }
    return failed ? -1 : 0;
}

static int64_t s_int64(PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static Crieur__JobKind s_kind(const char *k)
{
    if (strcmp(k, "publish") == 0) return CRIEUR__JOB_KIND__KIND_PUBLISH;
    if (strcmp(k, "monitor") == 0) return CRIEUR__JOB_KIND__KIND_MONITOR;
    if (strcmp(k, "metrics") == 0) return CRIEUR__JOB_KIND__KIND_METRICS;
    if (strcmp(k, "alert") == 0) return CRIEUR__JOB_KIND__KIND_ALERT;
    if (strcmp(k, "token_refresh") == 0) return CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH;
    if (strcmp(k, "noop") == 0) return CRIEUR__JOB_KIND__KIND_NOOP;
    return CRIEUR__JOB_KIND__KIND_UNKNOWN;
}

static const char *s_val(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Seals an account's plaintext credentials (written through the SQL
 * interface) in the next cycle: hex is the stored access token as read (the
 * update applies only if it is still that), refresh its plaintext refresh
 * token or NULL. */
static void s_queue_seal(cr_broker_t *self, int64_t account, const char *hex, const char *access,
                         const char *refresh)
{
    if (self->n_seal >= 1000 || !access) return;
    const cr_secret_key_t *key = self->cfg->secret_key;
    char *ah = s_seal_hex(key, access);
    char *rh = refresh ? s_seal_hex(key, refresh) : NULL;
    if (ah && (rh || !refresh)) {
        if (self->n_seal) cr_buf_add(&self->seal, ",", 1);
        cr_buf_printf(&self->seal, "{\"a\":%" PRId64 ",\"k\":\"%s\",\"p\":\"%s\",\"c\":\"%s\"",
                      account, cr_secret_key_id(key), hex, ah);
        if (rh) cr_buf_printf(&self->seal, ",\"r\":\"%s\"", rh);
        cr_buf_add(&self->seal, "}", 1);
        self->n_seal++;
    }
    free(ah);
    free(rh);
}

/* Opens a credential from the claim: hex of the sealed bytes and the id of
 * the key that sealed them (NULL: plaintext written through the SQL
 * interface). Returns 0 with *plain (malloc'd, NUL-terminated; NULL for an
 * empty column), or -1 with why filled. */
static int s_open_credential(cr_broker_t *self, const char *hex, const char *key_id, char **plain,
                             char *why, size_t whylen)
{
    *plain = NULL;
    if (!hex || !*hex) return 0;
    size_t n = 0;
    uint8_t *raw = cr_hex_decode(hex, &n);
    if (!raw) {
        snprintf(why, whylen, "stored credentials are not readable (bad hex)");
        return -1;
    }
    const cr_secret_key_t *key = self->cfg->secret_key;
    if (!key_id) {
        /* plaintext: use it, and seal it in the next cycle */
        char *p = malloc(n + 1);
        if (!p) {
            free(raw);
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        memcpy(p, raw, n);
        p[n] = '\0';
        explicit_bzero(raw, n);
        free(raw);
        if (strlen(p) != n) { /* a NUL inside: not a usable token */
            cr_secret_plain_free(p);
            snprintf(why, whylen, "stored credentials contain a NUL byte");
            return -1;
        }
        *plain = p;
        return 0;
    }
    if (strcmp(key_id, cr_secret_key_id(key)) != 0) {
        free(raw);
        snprintf(why, whylen,
                 "credentials were sealed with secret key %.16s but this broker has key %s: give "
                 "crieurctl and every broker the same secret key (secret-key-file)",
                 key_id, cr_secret_key_id(key));
        return -1;
    }
    size_t pl = 0;
    char *p = cr_secret_open(key, raw, n, &pl);
    free(raw);
    if (!p || strlen(p) != pl) {
        cr_secret_plain_free(p);
        snprintf(why, whylen,
                 "credentials do not open with secret key %s (altered, or sealed with another "
                 "key of the same id): reconnect the account with crieurctl account token",
                 cr_secret_key_id(key));
        return -1;
    }
    *plain = p;
    return 0;
}

static void s_renewed(cr_job_t *job, void *arg)
{
    int64_t until = *(int64_t *)arg;
    if (until > job->lease_until) job->lease_until = until;
}

static void s_on_cycle(void *arg, PGresult *res, const char *error)
{
    cr_broker_t *self = arg;
    self->cycle_in_flight = 0;
    if (!res || error) {
        s_move_back_results(self);
        if (error) {
            self->c.db_errors++;
            cr_error("broker cycle failed: %s", error);
            self->db_retry_at = cr_mono_ms() + 1000;
        }
        self->claim_wanted = 1;
        return;
    }
    self->c.cycles++;
    int64_t lease_until = self->cycle_sent_mono + self->cfg->lease_ms;
    if (self->cycle_maintain) cr_jobs_each(self->jobs, s_renewed, &lease_until);
    s_sending_done(self);
    int rows = PQntuples(res);
    long claimed = 0;
    int64_t now = cr_now_ms();
    for (int i = 0; i < rows; i++) {
        if (PQgetisnull(res, i, 0)) {
            /* summary row */
            self->next_due_wall = s_int64(res, i, 15);
            uint64_t stale = (uint64_t)s_int64(res, i, 17);
            if (stale) {
                self->c.stale += stale;
                cr_debug("%" PRIu64 " result(s) fenced out by the database", stale);
            }
            continue;
        }
        int64_t id = s_int64(res, i, 0);
        uint32_t attempt = (uint32_t)s_int64(res, i, 1);
        Crieur__JobKind kind = s_kind(PQgetvalue(res, i, 2));
        int64_t due = s_int64(res, i, 3);
        cr_job_t *job = cr_job_new(id, attempt, kind, due);
        if (!job) continue; /* lease will be released by the next maintenance */
        char why[400] = "";
        int cred_bad = 0, bad_payload = 0;
        if (!PQgetisnull(res, i, 9)) {
            int64_t acc = s_int64(res, i, 9);
            cr_job_set_account(job, acc, s_int64(res, i, 10), s_val(res, i, 11),
                               s_val(res, i, 12), s_val(res, i, 13), NULL);
            char *tok = NULL, *rt = NULL;
            const char *key_id = s_val(res, i, 20);
            if (s_open_credential(self, s_val(res, i, 14), key_id, &tok, why, sizeof why) != 0 ||
                s_open_credential(self, s_val(res, i, 21), key_id, &rt, why, sizeof why) != 0)
                cred_bad = 1;
            /* plaintext written through SQL: sealed by the next cycle (alert
             * channels are always written sealed by crieurctl) */
            if (!cred_bad && !key_id && tok && kind != CRIEUR__JOB_KIND__KIND_ALERT)
                s_queue_seal(self, acc, s_val(res, i, 14), tok, rt);
            cr_job_take_token(job, tok);
            if (kind == CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH) {
                cr_job_set_refresh(job, rt, s_int64(res, i, 22));
                rt = NULL;
            }
            cr_secret_plain_free(rt);
        }
        if (kind == CRIEUR__JOB_KIND__KIND_PUBLISH) {
            cr_job_set_publish(job, s_int64(res, i, 4), s_val(res, i, 5), s_val(res, i, 6),
                               s_val(res, i, 7));
            if (!PQgetisnull(res, i, 8) && cr_job_set_media(job, PQgetvalue(res, i, 8)) != 0)
                cr_warn("job=%" PRId64 " post media list unreadable; sent without media", id);
            cr_job_set_reply(job, s_val(res, i, 23));
        } else if (kind == CRIEUR__JOB_KIND__KIND_ALERT) {
            cr_job_set_alert(job, s_int64(res, i, 24), s_val(res, i, 25), s_val(res, i, 26),
                             s_val(res, i, 27), s_val(res, i, 28), s_val(res, i, 29),
                             s_int64(res, i, 30), s_val(res, i, 31), s_val(res, i, 32));
        } else if (kind == CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH && !job->task.refresh) {
            cr_job_set_refresh(job, NULL, s_int64(res, i, 22));
        } else if (kind == CRIEUR__JOB_KIND__KIND_MONITOR &&
                   cr_job_set_monitor(job, s_val(res, i, 5), why, sizeof why) != 0) {
            bad_payload = 1;
        }
        job->task.reconcile = !PQgetisnull(res, i, 18) && PQgetvalue(res, i, 18)[0] == 't';
        job->lease_until = lease_until;
        /* the worker sees when the post was due (the reconciliation window
         * starts there), not the time of this retry */
        if (!PQgetisnull(res, i, 19)) job->task.due_ms = s_int64(res, i, 19);
        if (cr_jobs_insert(self->jobs, job) != 0) {
            cr_warn("job=%" PRId64 " claimed twice; ignoring the second copy", id);
            cr_job_destroy(&job);
            continue;
        }
        claimed++;
        if (bad_payload) {
            cr_error("job=%" PRId64 ": %s", id, why);
            s_job_release(self, job, "permanent", "bad_payload", why);
            continue;
        }
        if (cred_bad) {
            /* never dispatched: the account (or alert) is stopped with the reason */
            self->c.bad_credentials++;
            cr_error("job=%" PRId64 " account=%" PRId64 ": %s", id, job->account.id, why);
            s_job_release(self, job,
                          kind == CRIEUR__JOB_KIND__KIND_ALERT ? "permanent" : "auth_expired",
                          "bad_credentials", why);
            continue;
        }
        if (due <= now) cr_jobs_ready_push(self->jobs, job);
        else cr_jobs_hold(self->jobs, job);
    }
    self->c.claimed += (uint64_t)claimed;
    if (self->claim_asked > 0 && claimed >= self->claim_asked) self->claim_wanted = 1;
    self->claim_asked = 0;
}

static void s_on_heartbeat_written(void *arg, PGresult *res, const char *error)
{
    cr_broker_t *self = arg;
    if (error && res) {
        self->c.db_errors++;
        cr_warn("could not record workers: %s", error);
    }
}

/* The known-jobs array literal for lease renewal. */
static void s_known_add(cr_job_t *job, void *arg)
{
    cr_buf_t *b = arg;
    cr_buf_printf(b, b->len > 1 ? ",%" PRId64 : "%" PRId64, job->id);
}

static long s_free_credit(cr_broker_t *self)
{
    long credit = 0;
    for (cr_worker_t *w = self->workers; w; w = w->next) credit += w->credit;
    return credit;
}

/* The accounts whose jobs the claim should leave alone, as {id,...}. */
static void s_blocked_add(int64_t account, int64_t until_ms, void *arg)
{
    (void)until_ms;
    cr_buf_t *b = arg;
    cr_buf_printf(b, b->len > 1 ? ",%" PRId64 : "%" PRId64, account);
}

static void s_blocked_accounts(cr_broker_t *self, cr_buf_t *b)
{
    cr_buf_reset(b);
    cr_buf_add(b, "{", 1);
    cr_rate_each_blocked(self->rate, cr_now_ms(), s_blocked_add, b);
    cr_buf_add(b, "}", 1);
}

/* Sends the next statement if the connection is idle and there is a reason. */
static void s_db_kick(cr_broker_t *self)
{
    if (cr_db_state(self->db) != CR_DB_IDLE) return;
    int64_t mono = cr_mono_ms();
    if (mono < self->db_retry_at) return;
    if (self->setup == SETUP_LISTEN) {
        cr_db_send_simple(self->db, "LISTEN crieur_jobs; LISTEN crieur_cancel", s_on_setup, self);
        return;
    }
    if (self->setup == SETUP_LIMITS) {
        cr_db_send(self->db, S_LIMITS_SQL, 0, NULL, s_on_setup, self);
        self->next_limits = mono + 60000;
        return;
    }
    if (self->setup == SETUP_RECOVER) {
        if (self->recovered) {
            self->setup = SETUP_DONE;
        } else {
            const char *p[1] = {self->cfg->broker_id};
            cr_db_send(self->db, "SELECT crieur.broker_recover($1)", 1, p, s_on_setup, self);
            return;
        }
    }
    /* what monitor tasks collected goes before the cycle with their results */
    if (self->n_mon) {
        if (s_monitor_send(self) != 0) self->db_retry_at = mono + 100;
        return;
    }
    /* time to claim? */
    if (self->next_due_wall && cr_now_ms() >= self->next_due_wall - self->cfg->lookahead_ms) {
        self->claim_wanted = 1;
        self->next_due_wall = 0;
    }
    long claim = 0;
    if (!self->draining && self->claim_wanted) {
        /* enough to fill every free slot twice over, counting what we hold */
        long want = 2 * s_free_credit(self) - (long)cr_jobs_ready(self->jobs) -
                    (long)cr_jobs_held(self->jobs);
        claim = want < self->cfg->claim_batch ? want : self->cfg->claim_batch;
        if (claim < 0) claim = 0;
    }
    int maintain = mono >= self->next_maintain;
    int reap = mono >= self->next_reap && !self->draining;
    if (self->n_results == 0 && claim == 0 && !maintain && !reap) {
        if (mono >= self->next_limits) {
            /* limits changed by an operator are picked up within a minute */
            if (cr_db_send(self->db, S_LIMITS_SQL, 0, NULL, s_on_limits, self) == 0)
                self->next_limits = mono + 60000;
            return;
        }
        if (self->heartbeat_due) {
            cr_buf_t b;
            cr_buf_init(&b);
            cr_buf_add(&b, "[", 1);
            int first = 1;
            for (cr_worker_t *w = self->workers; w; w = w->next) {
                cr_buf_printf(&b, "%s{\"id\":", first ? "" : ",");
                cr_buf_json_str(&b, w->id);
                cr_buf_printf(&b, ",\"role\":\"%s\",\"platforms\":%s,\"capacity\":%u,"
                                  "\"in_flight\":%u,\"pid\":%u,\"version\":",
                              w->role == 1 ? "publisher" : w->role == 2 ? "monitor" : "metrics",
                              w->platforms_json, w->capacity, w->in_flight, w->pid);
                cr_buf_json_str(&b, w->version);
                cr_buf_add(&b, "}", 1);
                first = 0;
            }
            cr_buf_add(&b, "]", 1);
            char pid[16];
            snprintf(pid, sizeof pid, "%d", (int)getpid());
            const char *p[5] = {self->cfg->broker_id, self->host, pid, self->cfg->bind,
                                cr_buf_str(&b)};
            if (!b.failed &&
                cr_db_send(self->db, "SELECT crieur.broker_heartbeat($1, $2, $3::int, $4, $5::jsonb)",
                           5, p, s_on_heartbeat_written, self) == 0)
                self->heartbeat_due = 0;
            cr_buf_release(&b);
        }
        return;
    }

    char claim_s[24], look_s[24], lease_s[24], backoff_s[24], inflight_s[24];
    snprintf(inflight_s, sizeof inflight_s, "%ld", self->cfg->task_timeout_ms);
    snprintf(claim_s, sizeof claim_s, "%ld", claim);
    snprintf(look_s, sizeof look_s, "%ld", self->cfg->lookahead_ms);
    snprintf(lease_s, sizeof lease_s, "%ld", self->cfg->lease_ms);
    snprintf(backoff_s, sizeof backoff_s, "%ld", self->cfg->backoff_ms);
    cr_buf_reset(&self->known);
    if (maintain) {
        cr_buf_add(&self->known, "{", 1);
        cr_jobs_each(self->jobs, s_known_add, &self->known);
        cr_buf_add(&self->known, "}", 1);
    }
    /* the results go out with this statement, one array per field */
    if (s_results_to_arrays(self) != 0 || self->known.failed) {
        cr_error("out of memory building the cycle; retrying");
        self->db_retry_at = mono + 100;
        return;
    }
    /* plaintext credentials seen in the last claims: sealed now (best effort:
     * a lost cycle leaves them plaintext until the next claim sees them) */
    cr_buf_wipe(&self->seal_sending);
    if (self->n_seal) {
        cr_buf_add(&self->seal_sending, "[", 1);
        cr_buf_add(&self->seal_sending, self->seal.data, self->seal.len);
        cr_buf_add(&self->seal_sending, "]", 1);
    }
    cr_buf_wipe(&self->seal);
    self->n_seal = 0;
    /* accounts whose rate limit is spent: their jobs stay in the queue */
    s_blocked_accounts(self, &self->blocked);
    const char *p[28];
    p[0] = self->cfg->broker_id;
    for (int k = 0; k < S_RESULT_FIELDS; k++)
        p[1 + k] = self->n_results ? cr_buf_str(&self->arrays[k]) : NULL;
    p[19] = claim_s;
    p[20] = look_s;
    p[21] = lease_s;
    p[22] = maintain ? cr_buf_str(&self->known) : NULL;
    p[23] = backoff_s;
    p[24] = reap ? "true" : "false";
    p[25] = inflight_s;
    p[26] = self->seal_sending.len && !self->seal_sending.failed ? cr_buf_str(&self->seal_sending)
                                                                 : NULL;
    p[27] = self->blocked.len > 2 && !self->blocked.failed ? cr_buf_str(&self->blocked) : NULL;
    if (cr_db_send(self->db,
                   "SELECT * FROM crieur.broker_cycle_arrays($1, $2::bigint[], $3::int[], "
                   "$4::text[], $5::int[], $6::text[], $7::text[], $8::text[], $9::text[], "
                   "$10::bigint[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[], "
                   "$15::boolean[], $16::text[], $17::text[], $18::bigint[], $19::text[], "
                   "$20::int, $21::int, $22::int, $23::bigint[], $24::int, $25::boolean, "
                   "$26::int, $27::jsonb, $28::bigint[])",
                   28, p, s_on_cycle, self) != 0)
        return;
    /* the pending results are the ones in flight now */
    s_result_t *t = self->sending;
    size_t tc = self->cap_sending;
    self->sending = self->results;
    self->cap_sending = self->cap_results;
    self->n_sending = self->n_results;
    self->results = t;
    self->cap_results = tc;
    self->n_results = 0;
    self->cycle_in_flight = 1;
    self->cycle_sent_mono = mono;
    self->cycle_maintain = maintain;
    self->claim_asked = claim;
    if (claim > 0) self->claim_wanted = 0;
    if (reap) self->next_reap = mono + self->cfg->reap_ms;
    if (maintain) {
        self->next_maintain = mono + self->cfg->lease_ms / 3;
        self->heartbeat_due = 1;
    }
}

/* --------------------------------------------------------------- lifecycle */

cr_broker_t *cr_broker_new(const cr_broker_config_t *cfg)
{
    cr_broker_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->cfg = cfg;
    for (int k = 0; k < S_RESULT_FIELDS; k++) cr_buf_init(&self->arrays[k]);
    cr_buf_init(&self->blocked);
    self->rate = cr_rate_new();
    cr_buf_init(&self->seal);
    cr_buf_init(&self->mon);
    cr_buf_init(&self->mon_sending);
    cr_buf_init(&self->seal_sending);
    cr_buf_init(&self->known);
    if (gethostname(self->host, sizeof self->host) != 0) snprintf(self->host, sizeof self->host, "?");
    self->host[sizeof self->host - 1] = '\0';
    self->jobs = cr_jobs_new();
    char app[300];
    snprintf(app, sizeof app, "crieur-broker:%s", cfg->broker_id);
    self->db = cr_db_new(cfg->database, app, s_on_notify, s_on_db_ready, s_on_db_lost, self);
    self->zctx = zmq_ctx_new();
    if (!self->jobs || !self->db || !self->zctx || !self->rate) goto fail;
    self->router = zmq_socket(self->zctx, ZMQ_ROUTER);
    if (!self->router) goto fail;
    int one = 1, hwm = 100000, linger = 1000, maxmsg = (int)CR_WIRE_MAX_FRAME;
    int64_t maxsize = CR_WIRE_MAX_FRAME;
    (void)maxmsg;
    zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    /* a reconnecting worker (same routing id) takes over its old connection */
    zmq_setsockopt(self->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(self->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->router, ZMQ_MAXMSGSIZE, &maxsize, sizeof maxsize);
    if (zmq_bind(self->router, cfg->bind) != 0) {
        cr_error("cannot bind %s: %s (is another broker using it? set --bind)", cfg->bind,
                 zmq_strerror(errno));
        goto fail;
    }
    return self;
fail:
    cr_broker_destroy(&self);
    return NULL;
}

void cr_broker_destroy(cr_broker_t **self_p)
{
    if (!self_p || !*self_p) return;
    cr_broker_t *self = *self_p;
    while (self->workers) {
        cr_worker_t *w = self->workers;
        self->workers = w->next;
        s_worker_free(w);
    }
    if (self->router) zmq_close(self->router);
    if (self->zctx) zmq_ctx_term(self->zctx);
    cr_jobs_destroy(&self->jobs);
    cr_db_destroy(&self->db);
    for (size_t i = 0; i < self->n_results; i++) s_result_clear(&self->results[i]);
    s_sending_done(self);
    free(self->results);
    free(self->sending);
    for (int k = 0; k < S_RESULT_FIELDS; k++) cr_buf_release(&self->arrays[k]);
    cr_buf_release(&self->blocked);
    cr_rate_destroy(&self->rate);
    cr_buf_wipe_release(&self->seal);
    cr_buf_release(&self->mon);
    cr_buf_release(&self->mon_sending);
    for (size_t i = 0; i < self->n_mon; i++) s_result_clear(&self->mon_held[i]);
    for (size_t i = 0; i < self->n_mon_sending; i++) s_result_clear(&self->mon_held_sending[i]);
    free(self->mon_held);
    free(self->mon_held_sending);
    cr_buf_wipe_release(&self->seal_sending);
    cr_buf_release(&self->known);
    free(self);
    *self_p = NULL;
}

static void s_heartbeats(cr_broker_t *self, int64_t mono)
{
    Crieur__Heartbeat hb = CRIEUR__HEARTBEAT__INIT;
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    int64_t dead_after = self->cfg->heartbeat_ms * self->cfg->heartbeat_liveness;
    cr_worker_t *w = self->workers;
    while (w) {
        cr_worker_t *next = w->next;
        if (mono - w->last_seen > dead_after) {
            s_worker_lost(self, w, "stopped answering heartbeats");
        } else {
            hb.in_flight = w->in_flight;
            s_send(self, w, &env);
        }
        w = next;
    }
}

typedef struct {
    cr_broker_t *self;
    int64_t now;
    int64_t *ids;
    size_t n, cap;
} s_overdue_t;

static void s_find_overdue(cr_job_t *job, void *arg)
{
    s_overdue_t *o = arg;
    /* a worker that keeps a task 30 s past its deadline has lost it */
    if (job->state != CR_JOB_INFLIGHT || o->now < job->deadline_ms + 30000) return;
    if (o->n == o->cap) {
        size_t ncap = o->cap ? o->cap * 2 : 64;
        int64_t *n = realloc(o->ids, ncap * sizeof *n);
        if (!n) return;
        o->ids = n;
        o->cap = ncap;
    }
    o->ids[o->n++] = job->id;
}

static void s_release_overdue(cr_broker_t *self)
{
    s_overdue_t o = {.self = self, .now = cr_now_ms()};
    cr_jobs_each(self->jobs, s_find_overdue, &o);
    for (size_t i = 0; i < o.n; i++) {
        cr_job_t *job = cr_jobs_find(self->jobs, o.ids[i]);
        if (!job) continue;
        if (job->worker && job->worker->in_flight) job->worker->in_flight--;
        cr_warn("job=%" PRId64 " attempt=%u overdue on worker=%s; released", job->id, job->attempt,
                job->worker ? job->worker->id : "?");
        s_job_release(self, job, "indeterminate", "task_overdue",
                      "the worker did not answer within the task deadline");
    }
    free(o.ids);
}

static void s_stats(cr_broker_t *self)
{
    cr_counters_t *c = &self->c, *l = &self->c_last;
    if (memcmp(c, l, sizeof *c) == 0) return;
    cr_info("stats: workers=%zu held=%zu ready=%zu in_flight=%zu claimed=%" PRIu64
            " dispatched=%" PRIu64 " results=%" PRIu64 " stale=%" PRIu64 " malformed=%" PRIu64
            " cancelled=%" PRIu64 " workers_lost=%" PRIu64 " lease_lost=%" PRIu64 " cycles=%" PRIu64
            " db_errors=%" PRIu64 " db_rtt_ms=%" PRId64 " rate_held=%" PRIu64
            " rate_deferred=%" PRIu64 " rate_accounts=%zu mentions=%" PRIu64,
            self->n_workers, cr_jobs_held(self->jobs), cr_jobs_ready(self->jobs),
            cr_jobs_count(self->jobs) - cr_jobs_held(self->jobs) - cr_jobs_ready(self->jobs),
            c->claimed, c->dispatched, c->results, c->stale, c->malformed, c->cancelled,
            c->workers_lost, c->lease_lost, c->cycles, c->db_errors, cr_db_last_rtt_ms(self->db),
            c->rate_held, c->rate_deferred, cr_rate_accounts(self->rate), c->mentions);
    *l = *c;
}

static void s_release_all(cr_job_t *job, void *arg)
{
    int64_t **cursor = arg;
    *(*cursor)++ = job->id;
}

/* Gives back every job the broker holds: never dispatched ones unchanged,
 * in-flight ones as indeterminate (the worker may still finish them). */
static void s_release_everything(cr_broker_t *self, const char *why)
{
    size_t n = cr_jobs_count(self->jobs);
    if (!n) return;
    int64_t *ids = malloc(n * sizeof *ids), *cursor = ids;
    if (!ids) return;
    cr_jobs_each(self->jobs, s_release_all, &cursor);
    for (size_t i = 0; i < n; i++) {
        cr_job_t *job = cr_jobs_find(self->jobs, ids[i]);
        if (!job) continue;
        self->c.released++;
        if (job->state == CR_JOB_INFLIGHT) s_job_release(self, job, "indeterminate", "broker_stopped", why);
        else s_job_release(self, job, "released", NULL, why);
    }
    free(ids);
}

int cr_broker_run(cr_broker_t *self, volatile int *stop, volatile int *reload)
{
    const cr_broker_config_t *cfg = self->cfg;
    cr_info("broker %s listening on %s (lease %ld ms, look-ahead %ld ms, heartbeat %ld ms x %ld)",
            cfg->broker_id, cfg->bind, cfg->lease_ms, cfg->lookahead_ms, cfg->heartbeat_ms,
            cfg->heartbeat_liveness);
    int64_t mono = cr_mono_ms();
    self->next_heartbeat = mono + cfg->heartbeat_ms;
    self->next_tick = mono + cfg->tick_ms;
    self->next_stats = mono + cfg->stats_interval_s * 1000;
    int released_on_drain = 0;
    for (;;) {
        if (*stop >= 2) {
            cr_warn("second stop signal: exiting now; leases expire and other brokers take over");
            break;
        }
        if (*stop && !self->draining) {
            self->draining = 1;
            self->drain_deadline = cr_mono_ms() + cfg->grace_ms;
            cr_info("stopping: no more claims; waiting up to %ld ms for in-flight results",
                    cfg->grace_ms);
            /* what is not yet on a worker goes back now */
            size_t n = cr_jobs_count(self->jobs);
            int64_t *ids = n ? malloc(n * sizeof *ids) : NULL, *cursor = ids;
            if (ids) {
                cr_jobs_each(self->jobs, s_release_all, &cursor);
                for (size_t i = 0; i < n; i++) {
                    cr_job_t *job = cr_jobs_find(self->jobs, ids[i]);
                    if (job && job->state != CR_JOB_INFLIGHT) {
                        self->c.released++;
                        s_job_release(self, job, "released", NULL, "broker stopping");
                    }
                }
                free(ids);
            }
        }
        if (*reload) {
            *reload = 0;
            cr_info("SIGHUP: nothing to reload in this version");
        }
        mono = cr_mono_ms();
        if (self->draining) {
            int settled = cr_jobs_count(self->jobs) == 0 && self->n_results == 0 &&
                          !self->cycle_in_flight;
            if (settled) break;
            if (mono >= self->drain_deadline && !released_on_drain) {
                released_on_drain = 1;
                s_release_everything(self, "broker stopped before the worker answered");
                self->drain_deadline = mono + 5000; /* time to write them */
            } else if (mono >= self->drain_deadline && released_on_drain) {
                cr_warn("could not write %zu result(s) before exiting; their leases expire",
                        self->n_results + self->n_sending);
                break;
            }
        }

        /* due jobs leave the heap */
        int64_t now = cr_now_ms();
        cr_job_t *h;
        while ((h = cr_jobs_peek_held(self->jobs)) && h->due_ms <= now)
            cr_jobs_ready_push(self->jobs, h);
        s_dispatch(self);
        if (mono >= self->next_heartbeat) {
            s_heartbeats(self, mono);
            self->next_heartbeat = mono + cfg->heartbeat_ms;
        }
        if (mono >= self->next_tick) {
            self->claim_wanted = 1; /* safety net: never rely on NOTIFY alone */
            self->next_tick = mono + cfg->tick_ms;
            if (mono >= self->next_prune) {
                cr_rate_prune(self->rate, cr_now_ms());
                self->next_prune = mono + 60000;
            }
            s_release_overdue(self);
        }
        if (mono >= self->next_stats) {
            s_stats(self);
            self->next_stats = mono + cfg->stats_interval_s * 1000;
        }
        cr_db_step(self->db, 0);
        s_db_kick(self);

        /* how long may we sleep? */
        int64_t wait = 1000;
        int64_t t;
        t = self->next_heartbeat - mono;
        if (t < wait) wait = t;
        t = self->next_tick - mono;
        if (t < wait) wait = t;
        if ((h = cr_jobs_peek_held(self->jobs))) {
            t = h->due_ms - now;
            if (t < wait) wait = t;
        }
        if (self->next_due_wall) {
            t = self->next_due_wall - cfg->lookahead_ms - now;
            if (t < wait) wait = t;
        }
        t = cr_db_timeout_ms(self->db);
        if (t >= 0 && t < wait) wait = t;
        if (self->db_retry_at > mono && self->db_retry_at - mono < wait)
            wait = self->db_retry_at - mono;
        if (self->draining && wait > 100) wait = 100;
        if (wait < 0) wait = 0;

        zmq_pollitem_t items[2] = {{self->router, 0, ZMQ_POLLIN, 0}, {NULL, -1, 0, 0}};
        int n = 1;
        int fd = cr_db_fd(self->db);
        if (fd >= 0) {
            items[1].fd = fd;
            items[1].events = cr_db_events(self->db);
            n = 2;
        }
        int rc = zmq_poll(items, n, (long)wait);
        if (rc < 0) {
            if (errno == EINTR) continue;
            if (errno == ETERM) break;
            cr_error("zmq_poll failed: %s", zmq_strerror(errno));
            continue;
        }
        if (items[0].revents & ZMQ_POLLIN) s_read_router(self);
        if (n == 2 && items[1].revents) cr_db_step(self->db, items[1].revents);
        s_db_kick(self);
    }
    s_stats(self);
    cr_info("broker stopped");
    return 0;
}
