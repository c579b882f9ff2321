/* test_worker_wait: CR_STEP_WAIT in the worker runtime, end to end. A fake
 * broker on inproc:// sends tasks to a real worker whose only adapter,
 * "waiter", follows a script in the post's body:
 *
 *   wN   wait N ms (CR_STEP_WAIT), checking on waking that prev is NULL,
 *        that call->step survived and that at least N ms went by
 *   r    GET {api_base}/ping on a loopback server (answers 200 at once)
 *   pN   poll N times: (wait 1 ms, GET) N times, as a container poll does
 *   z    wait 0 ms forever (a runaway adapter)
 *   W    wait up to 5 s for another task's wake (cr_call_wake), checking on
 *        waking that it came early
 *   k    wake every task waiting in W
 *   neg  ask for a negative wait; big: a wait above CR_MAX_STEP_WAIT_MS
 *
 * and ends OK with the script's trace as platform_post_id, or PERMANENT
 * "adapter" with what it saw wrong. What is checked: the wait lasts as
 * asked and the loop sleeps no longer than it needs to, other tasks run
 * meanwhile, a wait that would pass the deadline ends the call (TRANSIENT
 * before any request, INDETERMINATE after), bad waits end it, a long poll
 * loop fits in the runtime's step limit while a runaway one is ended, a
 * wait ends early when another task's step wakes it (without the loop
 * sleeping meanwhile), a
 * waiting task can be cancelled until it sent a request, and stopping the
 * worker finishes or abandons waiting tasks. */
#include "cr_log.h"
#include "cr_time.h"
#include "cr_wire.h"
#include "cr_worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

/* ---- the loopback server: 200 {} to every request ---------------------- */

typedef struct {
    int lfd, port;
    int stop_pipe[2];
    pthread_t thread;
    atomic_int requests;
} srv_t;

static void *s_server(void *arg)
{
    srv_t *s = arg;
    for (;;) {
        struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) continue;
        if (p[1].revents) break;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        char buf[4096];
        size_t len = 0;
        while (len < sizeof buf - 1) {
            struct pollfd q = {fd, POLLIN, 0};
            if (poll(&q, 1, 2000) <= 0) break;
            ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, 0);
            if (r <= 0) break;
            len += (size_t)r;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n")) break; /* GET: no body */
        }
        atomic_fetch_add(&s->requests, 1);
        static const char out[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
        ssize_t w = send(fd, out, sizeof out - 1, MSG_NOSIGNAL);
        (void)w;
        close(fd);
    }
    return NULL;
}

static srv_t *s_srv_start(void)
{
    srv_t *s = calloc(1, sizeof *s);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 64), 0);
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pipe(s->stop_pipe), 0);
    pthread_create(&s->thread, NULL, s_server, s);
    return s;
}

static void s_srv_stop(srv_t **sp)
{
    srv_t *s = *sp;
    assert_int_equal(write(s->stop_pipe[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    free(s);
    *sp = NULL;
}

/* ---- the waiter adapter ------------------------------------------------ */

enum { W_RUN = 0, W_WOKE, W_GOT, W_PARKED };

/* The calls waiting in W, for k to wake. */
static cr_call_t *s_parked[16];

typedef struct {
    const char *pos;  /* next op in the body */
    long asked;       /* the wait asked for */
    int64_t asked_at; /* monotonic, when it was asked */
    int polls;        /* pN: rounds left */
    int in_poll;
    char trace[512];
} w_state_t;

static void w_release(cr_call_t *call)
{
    for (size_t i = 0; i < 16; i++)
        if (s_parked[i] == call) s_parked[i] = NULL;
    free(call->state);
    call->state = NULL;
}

static int w_fail(cr_call_t *call, const char *what)
{
    return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0, what, "adapter");
}

static void w_trace(w_state_t *st, const char *s)
{
    size_t n = strlen(st->trace);
    snprintf(st->trace + n, sizeof st->trace - n, "%s%s", n ? "," : "", s);
}

static int w_wait(cr_call_t *call, w_state_t *st, long ms)
{
    st->asked = ms;
    st->asked_at = cr_mono_ms();
    call->wait_ms = ms;
    call->step = W_WOKE;
    return CR_STEP_WAIT;
}

static int w_get(cr_call_t *call)
{
    char url[256];
    snprintf(url, sizeof url, "%s/ping", call->task->account->api_base);
    if (cr_http_req_init(&call->req, "GET", url)) return -1;
    call->step = W_GOT;
    return CR_STEP_REQUEST;
}

/* The next op of the script, or the end. */
static int w_next(cr_call_t *call, w_state_t *st)
{
    if (st->polls > 0) {
        st->polls--;
        st->in_poll = 1;
        return w_wait(call, st, 1);
    }
    st->in_poll = 0;
    while (*st->pos == ' ') st->pos++;
    if (!*st->pos) {
        if (cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_OK, 200, NULL, NULL) < 0) return -1;
        return cr_result_field(&call->result.platform_post_id, st->trace, strlen(st->trace), 512)
                   ? -1
                   : CR_STEP_DONE;
    }
    const char *op = st->pos;
    size_t n = strcspn(op, " ");
    st->pos += n;
    char tok[32];
    snprintf(tok, sizeof tok, "%.*s", (int)(n < 31 ? n : 31), op);
    if (tok[0] == 'w') {
        w_trace(st, tok);
        return w_wait(call, st, strtol(tok + 1, NULL, 10));
    }
    if (strcmp(tok, "r") == 0) {
        w_trace(st, "r");
        return w_get(call);
    }
    if (tok[0] == 'p') {
        w_trace(st, tok);
        st->polls = (int)strtol(tok + 1, NULL, 10);
        return w_next(call, st);
    }
    if (strcmp(tok, "W") == 0) {
        w_trace(st, "W");
        for (size_t i = 0; i < 16; i++)
            if (!s_parked[i]) {
                s_parked[i] = call;
                st->asked = 5000;
                st->asked_at = cr_mono_ms();
                call->wait_ms = 5000;
                call->step = W_PARKED;
                return CR_STEP_WAIT;
            }
        return w_fail(call, "too many parked calls");
    }
    if (strcmp(tok, "k") == 0) {
        w_trace(st, "k");
        for (size_t i = 0; i < 16; i++)
            if (s_parked[i]) {
                cr_call_wake(s_parked[i]);
                s_parked[i] = NULL;
            }
        return w_next(call, st);
    }
    if (strcmp(tok, "z") == 0) {
        st->pos = op; /* forever */
        return w_wait(call, st, 0);
    }
    if (strcmp(tok, "neg") == 0) {
        call->wait_ms = -5;
        return CR_STEP_WAIT;
    }
    if (strcmp(tok, "big") == 0) {
        call->wait_ms = CR_MAX_STEP_WAIT_MS + 1;
        return CR_STEP_WAIT;
    }
    return w_fail(call, "unknown op in the script");
}

static int w_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    w_state_t *st = call->state;
    switch (call->step) {
    case W_RUN:
        if (prev) return w_fail(call, "first step with a response");
        st = calloc(1, sizeof *st);
        if (!st) return -1;
        call->state = st;
        st->pos = call->task->publish->body;
        return w_next(call, st);
    case W_WOKE:
        if (prev) return w_fail(call, "woke with a response (prev must be NULL after a wait)");
        if (!st) return w_fail(call, "state lost across the wait");
        if (cr_mono_ms() - st->asked_at < st->asked) return w_fail(call, "woke too early");
        if (st->in_poll) return w_get(call);
        return w_next(call, st);
    case W_PARKED:
        if (prev) return w_fail(call, "woke with a response (prev must be NULL after a wait)");
        if (!st) return w_fail(call, "state lost across the wait");
        if (cr_mono_ms() - st->asked_at >= st->asked) return w_fail(call, "never woken");
        return w_next(call, st);
    case W_GOT:
        if (!prev) return w_fail(call, "no response after a request");
        if (prev->curl_code || prev->status != 200) return w_fail(call, "the request failed");
        return w_next(call, st);
    default: return w_fail(call, "unknown step");
    }
}

static const cr_adapter_t s_waiter = {
    .platform = "waiter",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
    .step = w_step,
    .release = w_release,
};
static const cr_adapter_t *const s_adapters[] = {&s_waiter, NULL};

/* ---- fake broker and worker -------------------------------------------- */

#define CAP 16

typedef struct {
    void *ctx, *router;
    cr_worker_t *worker;
    srv_t *srv;
    char endpoint[64], wid[32], base[64];
} fx_t;

static int s_setup(void **state)
{
    static int seq;
    fx_t *f = calloc(1, sizeof *f);
    f->srv = s_srv_start();
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", f->srv->port);
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    snprintf(f->endpoint, sizeof f->endpoint, "inproc://fake-broker-wait-%d", ++seq);
    assert_int_equal(zmq_bind(f->router, f->endpoint), 0);
    snprintf(f->wid, sizeof f->wid, "w-wait-%d", seq);
    cr_worker_opts_t o = {
        .broker = f->endpoint,
        .worker_id = f->wid,
        .role = CRIEUR__ROLE__ROLE_PUBLISHER,
        .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
        .adapters = s_adapters,
        .capacity = CAP,
        .request_timeout_ms = 2000,
        .connect_timeout_ms = 1000,
        .grace_ms = 1000,
        .heartbeat_ms = 1000,
        .zmq_ctx = f->ctx,
    };
    f->worker = cr_worker_new(&o);
    assert_non_null(f->worker);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    cr_worker_destroy(&f->worker);
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    s_srv_stop(&f->srv);
    free(f);
    return 0;
}

/* Steps the worker (each step may sleep up to step_ms) until a message of
 * type want arrives; NULL after timeout_ms. */
static Crieur__Envelope *s_recv(fx_t *f, Crieur__Envelope__BodyCase want, long step_ms,
                                long timeout_ms)
{
    int64_t end = cr_mono_ms() + timeout_ms;
    while (cr_mono_ms() < end) {
        zmq_pollitem_t it = {f->router, 0, ZMQ_POLLIN, 0};
        while (zmq_poll(&it, 1, 0) > 0) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            zmq_msg_recv(&m, f->router, 0); /* identity */
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            assert_true(zmq_msg_recv(&m, f->router, 0) >= 0);
            cr_wire_err_t err;
            Crieur__Envelope *env = cr_wire_unpack(zmq_msg_data(&m), zmq_msg_size(&m), &err);
            zmq_msg_close(&m);
            if (!env) fail_msg("worker sent an invalid frame: %s", cr_wire_err_name(err));
            if (env->body_case == want) return env;
            cr_wire_free(&env);
        }
        cr_worker_step(f->worker, step_ms);
    }
    return NULL;
}

static Crieur__Envelope *s_expect(fx_t *f, Crieur__Envelope__BodyCase want, long timeout_ms)
{
    Crieur__Envelope *env = s_recv(f, want, 5, timeout_ms);
    if (!env) fail_msg("no message of type %d within %ld ms", (int)want, timeout_ms);
    return env;
}

static void s_handshake(fx_t *f)
{
    Crieur__Envelope *h = s_expect(f, CRIEUR__ENVELOPE__BODY_HELLO, 2000);
    cr_wire_free(&h);
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Welcome w = CRIEUR__WELCOME__INIT;
    w.heartbeat_ms = 1000;
    w.heartbeat_liveness = 3;
    env.body_case = CRIEUR__ENVELOPE__BODY_WELCOME;
    env.welcome = &w;
    assert_int_equal(cr_wire_send(f->router, f->wid, strlen(f->wid), &env), 0);
    Crieur__Envelope *c = s_expect(f, CRIEUR__ENVELOPE__BODY_CREDIT, 2000);
    assert_int_equal(c->credit->slots, CAP);
    cr_wire_free(&c);
}

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__PublishPayload pub;
} task_t;

static void s_task(task_t *t, int64_t job, const char *base, const char *script,
                   int64_t deadline_ms)
{
    crieur__task__init(&t->task);
    crieur__account__init(&t->acc);
    crieur__publish_payload__init(&t->pub);
    t->task.job_id = job;
    t->task.attempt = 1;
    t->task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
    t->task.deadline_ms = deadline_ms;
    t->task.account = &t->acc;
    t->task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    t->task.publish = &t->pub;
    t->acc.id = 7;
    t->acc.platform = "waiter";
    t->acc.api_base = (char *)base;
    t->acc.token = "tok";
    t->pub.post_id = job;
    t->pub.body = (char *)script;
}

static void s_send_tasks(fx_t *f, task_t *tasks, size_t n)
{
    Crieur__Task *ptrs[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) ptrs[i] = &tasks[i].task;
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__TaskBatch b = CRIEUR__TASK_BATCH__INIT;
    b.tasks = ptrs;
    b.n_tasks = n;
    env.body_case = CRIEUR__ENVELOPE__BODY_TASKS;
    env.tasks = &b;
    assert_int_equal(cr_wire_send(f->router, f->wid, strlen(f->wid), &env), 0);
}

typedef struct {
    int64_t job;
    Crieur__Outcome outcome;
    char code[64], error[256], id[512];
    int64_t at; /* monotonic, when the test received it */
} got_t;

/* Collects n results (each step may sleep up to step_ms). */
static void s_collect(fx_t *f, got_t *got, size_t n, long step_ms, long timeout_ms)
{
    size_t have = 0;
    int64_t end = cr_mono_ms() + timeout_ms;
    while (have < n) {
        long left = (long)(end - cr_mono_ms());
        if (left <= 0) fail_msg("%zu of %zu results within %ld ms", have, n, timeout_ms);
        Crieur__Envelope *env = s_recv(f, CRIEUR__ENVELOPE__BODY_RESULTS, step_ms, left);
        if (!env) fail_msg("%zu of %zu results within %ld ms", have, n, timeout_ms);
        for (size_t i = 0; i < env->results->n_results && have < n; i++, have++) {
            const Crieur__Result *r = env->results->results[i];
            got[have].job = r->job_id;
            got[have].outcome = r->outcome;
            snprintf(got[have].code, sizeof got[have].code, "%s",
                     r->error_code ? r->error_code : "");
            snprintf(got[have].error, sizeof got[have].error, "%s", r->error ? r->error : "");
            snprintf(got[have].id, sizeof got[have].id, "%s",
                     r->platform_post_id ? r->platform_post_id : "");
            got[have].at = cr_mono_ms();
        }
        cr_wire_free(&env);
    }
}

static const got_t *s_find(const got_t *got, size_t n, int64_t job)
{
    for (size_t i = 0; i < n; i++)
        if (got[i].job == job) return &got[i];
    fail_msg("no result for job %lld", (long long)job);
    return NULL;
}

static void s_assert_ok(const got_t *g, const char *trace)
{
    if (g->outcome != CRIEUR__OUTCOME__OUTCOME_OK)
        fail_msg("job %lld: outcome %d (%s: %s), expected OK", (long long)g->job, (int)g->outcome,
                 g->code, g->error);
    assert_string_equal(g->id, trace);
}

/* ---- tests ------------------------------------------------------------- */

/* A wait lasts as asked, and the next step after it may send a request. */
static void test_wait_then_request(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    task_t t;
    s_task(&t, 1, f->base, "w150 r w100 r", 0);
    int64_t t0 = cr_mono_ms();
    s_send_tasks(f, &t, 1);
    got_t g;
    s_collect(f, &g, 1, 5, 3000);
    s_assert_ok(&g, "w150,r,w100,r");
    assert_true(g.at - t0 >= 250);
    assert_int_equal(atomic_load(&f->srv->requests), 2);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.step_waits, 2);
    assert_int_equal(st.in_flight, 0);
}

/* The loop sleeps until the nearest wake-up, not its full second: a 60 ms
 * wait ends in about 60 ms even when each loop iteration may sleep 1 s. */
static void test_loop_wakes_for_the_wait(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    task_t t;
    s_task(&t, 2, f->base, "w60 w60", 0);
    int64_t t0 = cr_mono_ms();
    s_send_tasks(f, &t, 1);
    got_t g;
    s_collect(f, &g, 1, 1000, 3000);
    s_assert_ok(&g, "w60,w60");
    int64_t took = g.at - t0;
    if (took < 120 || took > 700) fail_msg("two 60 ms waits took %lld ms", (long long)took);
}

/* While one task waits, the others run to the end. */
static void test_others_proceed_meanwhile(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    enum { N = 6 };
    task_t t[N];
    s_task(&t[0], 10, f->base, "w800", 0);
    s_task(&t[1], 11, f->base, "w800 r", 0);
    for (int i = 2; i < N - 1; i++) s_task(&t[i], 10 + i, f->base, "r r", 0);
    s_task(&t[N - 1], 10 + N - 1, f->base, "w20 r w20", 0);
    int64_t t0 = cr_mono_ms();
    s_send_tasks(f, t, N);
    got_t g[N];
    s_collect(f, g, N, 5, 5000);
    for (int i = 2; i < N - 1; i++) {
        const got_t *q = s_find(g, N, 10 + i);
        s_assert_ok(q, "r,r");
        if (q->at - t0 > 500)
            fail_msg("a task without waits took %lld ms next to waiting ones",
                     (long long)(q->at - t0));
    }
    const got_t *quick = s_find(g, N, 10 + N - 1);
    s_assert_ok(quick, "w20,r,w20");
    assert_true(quick->at - t0 < 500);
    const got_t *slow = s_find(g, N, 10);
    s_assert_ok(slow, "w800");
    assert_true(slow->at - t0 >= 800);
    s_assert_ok(s_find(g, N, 11), "w800,r");
    /* the waiting ones finished last */
    for (int i = 2; i < N; i++) assert_true(s_find(g, N, 10 + i)->at <= slow->at);
    assert_int_equal(atomic_load(&f->srv->requests), 2 * (N - 3) + 1 + 1);
}

/* cr_call_wake from another task's step ends a wait early: the woken task
 * runs on at once, though every loop iteration may sleep a second. A wake
 * of a task that is not waiting (here: k with nobody parked) does nothing. */
static void test_wake_ends_wait_early(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    task_t t[4];
    s_task(&t[3], 73, f->base, "k r", 0);
    s_send_tasks(f, &t[3], 1);
    got_t g[3];
    s_collect(f, g, 1, 5, 3000);
    s_assert_ok(&g[0], "k,r");
    s_task(&t[0], 70, f->base, "W r", 0);
    s_task(&t[1], 71, f->base, "W", 0);
    s_task(&t[2], 72, f->base, "w100 k", 0);
    int64_t t0 = cr_mono_ms();
    s_send_tasks(f, t, 3);
    s_collect(f, g, 3, 1000, 5000);
    s_assert_ok(s_find(g, 3, 72), "w100,k");
    s_assert_ok(s_find(g, 3, 70), "W,r");
    s_assert_ok(s_find(g, 3, 71), "W");
    for (int64_t j = 70; j <= 71; j++) {
        int64_t took = s_find(g, 3, j)->at - t0;
        if (took < 100 || took > 600)
            fail_msg("job %lld: woken after %lld ms, expected about 100", (long long)j,
                     (long long)took);
    }
    assert_int_equal(atomic_load(&f->srv->requests), 2);
}

/* A wait that would pass the task's deadline ends the call at once:
 * TRANSIENT when nothing was sent, INDETERMINATE once a request was. */
static void test_wait_past_deadline(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    int64_t now = cr_now_ms();
    task_t t[3];
    s_task(&t[0], 20, f->base, "w5000", now + 400);
    s_task(&t[1], 21, f->base, "r w5000", now + 400);
    s_task(&t[2], 22, f->base, "w150 w150 w150 w150", now + 400); /* the third passes it */
    int64_t t0 = cr_mono_ms();
    s_send_tasks(f, t, 3);
    got_t g[3];
    s_collect(f, g, 3, 5, 3000);
    const got_t *a = s_find(g, 3, 20), *b = s_find(g, 3, 21), *c = s_find(g, 3, 22);
    assert_int_equal(a->outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(a->code, "deadline");
    assert_non_null(strstr(a->error, "deadline"));
    assert_true(a->at - t0 < 300); /* ended at once, did not sleep */
    assert_int_equal(b->outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(b->code, "deadline");
    assert_true(b->at - t0 < 300);
    assert_int_equal(c->outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(c->code, "deadline");
    if (c->at - t0 < 250 || c->at - t0 > 700)
        fail_msg("the third wait ended the call after %lld ms", (long long)(c->at - t0));
}

/* A wait out of range is an adapter bug: TRANSIENT before any request,
 * INDETERMINATE after one. */
static void test_bad_wait(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    task_t t[3];
    s_task(&t[0], 30, f->base, "neg", 0);
    s_task(&t[1], 31, f->base, "big", 0);
    s_task(&t[2], 32, f->base, "r neg", 0);
    s_send_tasks(f, t, 3);
    got_t g[3];
    s_collect(f, g, 3, 5, 3000);
    assert_int_equal(s_find(g, 3, 30)->outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(s_find(g, 3, 30)->code, "internal");
    assert_int_equal(s_find(g, 3, 31)->outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(s_find(g, 3, 31)->code, "internal");
    assert_int_equal(s_find(g, 3, 32)->outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(s_find(g, 3, 32)->code, "internal");
}

/* A status poll of 50 rounds (wait, request) is not a runaway adapter: it
 * fits in the runtime's limits. One that waits forever is ended, and does
 * not hold up a task next to it. */
static void test_poll_loop_and_runaway(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    task_t t[3];
    s_task(&t[0], 40, f->base, "r p50 r", 0);
    s_task(&t[1], 41, f->base, "z", 0);
    s_task(&t[2], 42, f->base, "w30 r", 0);
    s_send_tasks(f, t, 3);
    got_t g[3];
    s_collect(f, g, 3, 5, 10000);
    s_assert_ok(s_find(g, 3, 40), "r,p50,r");
    const got_t *z = s_find(g, 3, 41);
    assert_int_equal(z->outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(z->code, "internal");
    assert_non_null(strstr(z->error, "limit"));
    s_assert_ok(s_find(g, 3, 42), "w30,r");
    assert_int_equal(atomic_load(&f->srv->requests), 52 + 1);
}

static void s_cancel(fx_t *f, int64_t job)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Cancel c = CRIEUR__CANCEL__INIT;
    c.job_id = job;
    c.attempt = 1;
    env.body_case = CRIEUR__ENVELOPE__BODY_CANCEL;
    env.cancel = &c;
    assert_int_equal(cr_wire_send(f->router, f->wid, strlen(f->wid), &env), 0);
}

/* A task waiting before its first request can still be cancelled (nothing
 * reached the platform); one that sent a request runs to its end. Each
 * gets exactly one result. */
static void test_cancel_while_waiting(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    task_t t[2];
    s_task(&t[0], 50, f->base, "w400", 0);
    s_task(&t[1], 51, f->base, "r w400", 0);
    s_send_tasks(f, t, 2);
    int64_t end = cr_mono_ms() + 2000;
    while (atomic_load(&f->srv->requests) < 1 && cr_mono_ms() < end) cr_worker_step(f->worker, 5);
    for (int i = 0; i < 5; i++) cr_worker_step(f->worker, 5); /* the answer comes back */
    s_cancel(f, 50);
    s_cancel(f, 51);
    int64_t t0 = cr_mono_ms();
    got_t g[2];
    s_collect(f, g, 2, 5, 3000);
    const got_t *a = s_find(g, 2, 50), *b = s_find(g, 2, 51);
    assert_int_equal(a->outcome, CRIEUR__OUTCOME__OUTCOME_CANCELLED);
    assert_true(a->at - t0 < 300);
    s_assert_ok(b, "r,w400");
    /* no second result for either */
    Crieur__Envelope *more = s_recv(f, CRIEUR__ENVELOPE__BODY_RESULTS, 5, 300);
    assert_null(more);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.tasks_cancelled, 1);
    assert_int_equal(st.in_flight, 0);
}

/* Stopping: a wait that ends within the grace finishes its task and the
 * result goes out before BYE; one that does not is abandoned. */
static void test_stop_while_waiting(void **state)
{
    fx_t *f = *state;
    cr_worker_set_timeouts(f->worker, 2000, 1000, 500);
    s_handshake(f);
    task_t t[2];
    s_task(&t[0], 60, f->base, "w100", 0);
    s_task(&t[1], 61, f->base, "r w3000", 0);
    s_send_tasks(f, t, 2);
    for (int i = 0; i < 10; i++) cr_worker_step(f->worker, 5);
    int64_t t0 = cr_mono_ms();
    cr_worker_stop(f->worker);
    got_t g;
    s_collect(f, &g, 1, 5, 2000);
    s_assert_ok(&g, "w100");
    assert_int_equal(g.job, 60);
    Crieur__Envelope *bye = s_expect(f, CRIEUR__ENVELOPE__BODY_BYE, 2000);
    cr_wire_free(&bye);
    int64_t took = cr_mono_ms() - t0;
    if (took < 400 || took > 1500) fail_msg("stop took %lld ms with a 500 ms grace", (long long)took);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.tasks_aborted, 1);
    assert_int_equal(st.results_sent, 1);
    assert_int_equal(cr_worker_step(f->worker, 0), 0);
}

int main(void)
{
    cr_log_init("test", CR_LOG_ERROR, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wait_then_request, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_loop_wakes_for_the_wait, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_others_proceed_meanwhile, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wake_ends_wait_early, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wait_past_deadline, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_wait, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_poll_loop_and_runaway, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_while_waiting, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stop_while_waiting, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
