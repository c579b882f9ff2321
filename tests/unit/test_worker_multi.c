/* test_worker_multi: one worker, several brokers (active-active). Two fake
 * brokers (ROUTER sockets on loopback tcp, in this process) and the real
 * worker loop, stepped alternately in one thread. Each fake broker counts
 * credit as a broker does (granted minus tasks sent; reset by HELLO), only
 * sends tasks within it, and checks that every result it gets is one of its
 * own tasks. After every message and every worker step the test checks the
 * credit invariant: the credit the brokers hold plus the tasks in flight
 * never exceed the capacity.
 *
 * Tasks for platform "myspace" (no adapter) end at once (PERMANENT); tasks
 * for "mastodon" against a blackhole (a listening socket that never accepts)
 * stay in flight until the request timeout. */
#include "cr_adapters.h"
#include "cr_log.h"
#include "cr_time.h"
#include "cr_wire.h"
#include "cr_worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#define CAP 8
#define NB 2
#define HB_MS 100      /* the fake brokers' WELCOME */
#define LIVENESS 5     /* presumed dead after 500 ms of silence */
#define MAX_RESULTS 256

typedef struct {
    void *router;
    char ep[64];
    int64_t job_base; /* its tasks are job_base + n: results say whose they are */
    int up;           /* socket open */
    int answering;    /* answers HELLO and heartbeats; 0 = stalled (or dead) */
    int hold_welcome; /* a HELLO is answered only when the test calls fb_welcome */
    int64_t credit;   /* broker's view: granted since the last HELLO minus tasks sent */
    uint64_t hellos, welcomes, byes, credit_msgs;
    int64_t results[MAX_RESULTS];
    size_t nresults;
} fb_t;

typedef struct {
    void *ctx;
    fb_t b[NB];
    cr_worker_t *worker;
    char wid[32];
    char list[160];
    int hole_fd, hole_port;
} fx_t;

/* ---- fake brokers ------------------------------------------------------ */

static void fb_bind(fx_t *f, fb_t *b, const char *ep)
{
    b->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    assert_non_null(b->router);
    int one = 1, linger = 0;
    zmq_setsockopt(b->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(b->router, ZMQ_LINGER, &linger, sizeof linger);
    if (!ep) {
        if (zmq_bind(b->router, "tcp://127.0.0.1:*")) fail_msg("bind: %s", zmq_strerror(errno));
        size_t n = sizeof b->ep;
        assert_int_equal(zmq_getsockopt(b->router, ZMQ_LAST_ENDPOINT, b->ep, &n), 0);
    } else {
        /* The same endpoint again: the old listener closes asynchronously. */
        int64_t end = cr_mono_ms() + 3000;
        while (zmq_bind(b->router, ep) != 0) {
            if (errno != EADDRINUSE || cr_mono_ms() > end)
                fail_msg("bind %s again: %s", ep, zmq_strerror(errno));
            usleep(10000);
        }
    }
    /* A new broker process: it knows nothing yet. */
    b->up = 1;
    b->answering = 1;
    b->credit = 0;
    b->hellos = b->welcomes = b->byes = b->credit_msgs = 0;
    b->nresults = 0;
}

/* The broker process dies: socket closed, everything it knew is gone. */
static void fb_kill(fb_t *b)
{
    zmq_close(b->router);
    b->router = NULL;
    b->up = 0;
    b->answering = 0;
    b->credit = 0;
}

/* The broker stalls: it reads but never answers nor sends tasks again. Its
 * credit is void (a broker that comes back starts with HELLO). */
static void fb_stall(fb_t *b)
{
    b->answering = 0;
    b->credit = 0;
}

static void fb_send(fx_t *f, fb_t *b, Crieur__Envelope *env)
{
    assert_int_equal(cr_wire_send(b->router, f->wid, strlen(f->wid), env), 0);
}

static void fb_welcome(fx_t *f, fb_t *b)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Welcome w = CRIEUR__WELCOME__INIT;
    w.broker_id = "fake";
    w.heartbeat_ms = HB_MS;
    w.heartbeat_liveness = LIVENESS;
    w.max_tasks_per_batch = 100;
    env.body_case = CRIEUR__ENVELOPE__BODY_WELCOME;
    env.welcome = &w;
    fb_send(f, b, &env);
    b->welcomes++;
}

static void fb_heartbeat(fx_t *f, fb_t *b)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Heartbeat h = CRIEUR__HEARTBEAT__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &h;
    fb_send(f, b, &env);
}

static void fb_drain(fx_t *f, fb_t *b)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Drain d = CRIEUR__DRAIN__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_DRAIN;
    env.drain = &d;
    fb_send(f, b, &env);
}

static void fb_bye(fx_t *f, fb_t *b)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Bye d = CRIEUR__BYE__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_BYE;
    env.bye = &d;
    fb_send(f, b, &env);
}

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__PublishPayload pub;
    char api[64];
} task_t;

/* Sends n tasks from broker b, numbered from job_base + first; within its
 * credit only, as a broker does. hang: mastodon against the blackhole (in
 * flight until the request timeout); else myspace (answered at once). */
static void fb_tasks_any(fx_t *f, fb_t *b, int first, size_t n, int hang, int beyond_credit)
{
    task_t t[CAP * 2];
    Crieur__Task *ptrs[CAP * 2];
    assert_true(n <= CAP * 2);
    if ((int64_t)n > b->credit && !beyond_credit)
        fail_msg("test bug: broker %s sends %zu tasks with %lld credit", b->ep, n,
                 (long long)b->credit);
    for (size_t i = 0; i < n; i++) {
        crieur__task__init(&t[i].task);
        crieur__account__init(&t[i].acc);
        crieur__publish_payload__init(&t[i].pub);
        t[i].task.job_id = b->job_base + first + (int64_t)i;
        t[i].task.attempt = 1;
        t[i].task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
        t[i].task.deadline_ms = cr_now_ms() + 30000;
        t[i].task.account = &t[i].acc;
        t[i].task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
        t[i].task.publish = &t[i].pub;
        snprintf(t[i].api, sizeof t[i].api, "http://127.0.0.1:%d", f->hole_port);
        t[i].acc.id = t[i].task.job_id;
        t[i].acc.platform = hang ? "mastodon" : "myspace";
        t[i].acc.api_base = t[i].api;
        t[i].acc.token = "tok";
        t[i].pub.post_id = t[i].task.job_id;
        t[i].pub.body = "hello";
        t[i].pub.idempotency_key = "k";
        ptrs[i] = &t[i].task;
    }
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__TaskBatch batch = CRIEUR__TASK_BATCH__INIT;
    batch.tasks = ptrs;
    batch.n_tasks = n;
    env.body_case = CRIEUR__ENVELOPE__BODY_TASKS;
    env.tasks = &batch;
    fb_send(f, b, &env);
    b->credit = (int64_t)n > b->credit ? 0 : b->credit - (int64_t)n;
}

static void fb_tasks(fx_t *f, fb_t *b, int first, size_t n, int hang)
{
    fb_tasks_any(f, b, first, n, hang, 0);
}

static int fb_has_result(const fb_t *b, int64_t job)
{
    for (size_t i = 0; i < b->nresults; i++)
        if (b->results[i] == job) return 1;
    return 0;
}

/* ---- the invariant ----------------------------------------------------- */

static void s_check_credit(fx_t *f)
{
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    /* Worker side: (I) in cr_worker.h, and the per-broker figures add up. */
    if (st.credit_outstanding + st.in_flight > CAP)
        fail_msg("worker promised %u credit with %u tasks in flight, capacity %d",
                 st.credit_outstanding, st.in_flight, CAP);
    uint32_t out = 0, held = 0;
    for (size_t i = 0; i < cr_worker_nbrokers(f->worker); i++) {
        cr_worker_broker_stats_t bs;
        assert_int_equal(cr_worker_broker_stats(f->worker, i, &bs), 0);
        out += bs.outstanding;
        held += bs.in_flight;
    }
    assert_int_equal(out, st.credit_outstanding);
    assert_int_equal(held, st.in_flight);
    /* Broker side: what the brokers may still send, plus what runs. */
    int64_t credit = 0;
    for (int i = 0; i < NB; i++) {
        assert_true(f->b[i].credit >= 0);
        credit += f->b[i].credit;
    }
    if (credit > CAP || credit + st.in_flight > CAP)
        fail_msg("brokers hold %lld + %lld credit with %u tasks in flight, capacity %d",
                 (long long)f->b[0].credit, (long long)f->b[1].credit, st.in_flight, CAP);
}

/* ---- the loop ---------------------------------------------------------- */

static void s_handle(fx_t *f, fb_t *b, const Crieur__Envelope *env)
{
    switch (env->body_case) {
    case CRIEUR__ENVELOPE__BODY_HELLO:
        b->hellos++;
        assert_int_equal(env->hello->capacity, CAP);
        if (!b->answering) break;
        b->credit = 0; /* a new session: as the broker does */
        if (!b->hold_welcome) fb_welcome(f, b);
        break;
    case CRIEUR__ENVELOPE__BODY_CREDIT:
        b->credit_msgs++;
        if (b->answering) b->credit += env->credit->slots;
        break;
    case CRIEUR__ENVELOPE__BODY_RESULTS:
        if (b->answering) b->credit += env->results->credit;
        for (size_t i = 0; i < env->results->n_results; i++) {
            int64_t job = env->results->results[i]->job_id;
            if (job < b->job_base || job >= b->job_base + 1000)
                fail_msg("broker %s got the result of job %lld, not one of its tasks", b->ep,
                         (long long)job);
            if (fb_has_result(b, job)) fail_msg("result of job %lld twice", (long long)job);
            assert_true(b->nresults < MAX_RESULTS);
            b->results[b->nresults++] = job;
        }
        break;
    case CRIEUR__ENVELOPE__BODY_HEARTBEAT:
        if (b->answering) fb_heartbeat(f, b);
        break;
    case CRIEUR__ENVELOPE__BODY_BYE:
        b->byes++;
        break;
    default:
        fail_msg("unexpected message %d from the worker", (int)env->body_case);
    }
}

static void s_pump_once(fx_t *f)
{
    cr_worker_step(f->worker, 5);
    s_check_credit(f);
    for (int i = 0; i < NB; i++) {
        fb_t *b = &f->b[i];
        zmq_pollitem_t it = {b->router, 0, ZMQ_POLLIN, 0};
        while (b->up && zmq_poll(&it, 1, 0) > 0) {
            char id[256];
            int idn = zmq_recv(b->router, id, sizeof id, 0);
            assert_true(idn > 0);
            zmq_msg_t m;
            zmq_msg_init(&m);
            assert_true(zmq_msg_recv(&m, b->router, 0) >= 0);
            assert_false(zmq_msg_more(&m));
            if ((size_t)idn != strlen(f->wid) || memcmp(id, f->wid, (size_t)idn) != 0) {
                zmq_msg_close(&m); /* a stale pipe after a handover */
                continue;
            }
            cr_wire_err_t err;
            Crieur__Envelope *env = cr_wire_unpack(zmq_msg_data(&m), zmq_msg_size(&m), &err);
            zmq_msg_close(&m);
            if (!env) fail_msg("worker sent an invalid frame: %s", cr_wire_err_name(err));
            s_handle(f, b, env);
            cr_wire_free(&env);
            s_check_credit(f);
        }
    }
}

/* Steps everything until cond holds, or fails after ms. */
#define PUMP_UNTIL(f, ms, cond)                                                     \
    do {                                                                            \
        int64_t end_ = cr_mono_ms() + (ms);                                         \
        while (!(cond)) {                                                           \
            if (cr_mono_ms() > end_)                                                \
                fail_msg("timed out after %d ms waiting for: %s", (int)(ms), #cond); \
            s_pump_once(f);                                                         \
        }                                                                           \
    } while (0)

static void s_pump(fx_t *f, long ms)
{
    int64_t end = cr_mono_ms() + ms;
    while (cr_mono_ms() < end) s_pump_once(f);
}

static cr_broker_state_t s_state(fx_t *f, size_t i)
{
    cr_worker_broker_stats_t bs;
    assert_int_equal(cr_worker_broker_stats(f->worker, i, &bs), 0);
    return bs.state;
}

/* ---- fixture ----------------------------------------------------------- */

static int s_setup_ttl(void **state, long result_ttl_ms)
{
    static int seq;
    fx_t *f = calloc(1, sizeof *f);
    f->ctx = zmq_ctx_new();
    for (int i = 0; i < NB; i++) {
        f->b[i].job_base = 1000 * (i + 1);
        fb_bind(f, &f->b[i], NULL);
    }
    /* A blackhole: connections complete in the backlog, nothing answers. */
    f->hole_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    assert_int_equal(bind(f->hole_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->hole_fd, 64), 0);
    assert_int_equal(getsockname(f->hole_fd, (struct sockaddr *)&a, &alen), 0);
    f->hole_port = ntohs(a.sin_port);
    snprintf(f->wid, sizeof f->wid, "w-multi-%d-%d", (int)getpid(), ++seq);
    snprintf(f->list, sizeof f->list, "%s,%s", f->b[0].ep, f->b[1].ep);
    cr_worker_opts_t o = {
        .broker = f->list,
        .worker_id = f->wid,
        .role = CRIEUR__ROLE__ROLE_PUBLISHER,
        .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
        .adapters = cr_adapters_builtin(),
        .capacity = CAP,
        .request_timeout_ms = 1200,
        .connect_timeout_ms = 500,
        .grace_ms = 500,
        .heartbeat_ms = 250, /* first HELLO answered within 750 ms, or presumed dead */
        .zmq_ctx = f->ctx,
        .result_ttl_ms = result_ttl_ms,
    };
    f->worker = cr_worker_new(&o);
    assert_non_null(f->worker);
    assert_int_equal(cr_worker_nbrokers(f->worker), NB);
    *state = f;
    return 0;
}

static int s_setup(void **state)
{
    return s_setup_ttl(state, 0);
}

static int s_setup_short_ttl(void **state)
{
    return s_setup_ttl(state, 300);
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    cr_worker_destroy(&f->worker);
    for (int i = 0; i < NB; i++)
        if (f->b[i].up) fb_kill(&f->b[i]);
    close(f->hole_fd);
    zmq_ctx_term(f->ctx);
    free(f);
    return 0;
}

/* Both brokers welcomed the worker and hold all the capacity between them. */
static void s_start_both(fx_t *f)
{
    PUMP_UNTIL(f, 3000, f->b[0].credit + f->b[1].credit == CAP);
    assert_int_equal(f->b[0].hellos, 1);
    assert_int_equal(f->b[1].hellos, 1);
    /* Even split: the share of the broker welcomed second was kept for it. */
    assert_int_equal(f->b[0].credit, CAP / 2);
    assert_int_equal(f->b[1].credit, CAP / 2);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.connected, 2);
    assert_int_equal(st.brokers, 2);
}

/* ---- tests ------------------------------------------------------------- */

static void test_both_brokers_share_capacity(void **state)
{
    fx_t *f = *state;
    s_start_both(f);
    s_pump(f, 100);
    assert_int_equal(f->b[0].credit + f->b[1].credit, CAP); /* not granted twice */
    /* Tasks from both run; each result goes back to its own broker (checked
     * on receipt) and its slot back to its broker: the shares were even. */
    fb_tasks(f, &f->b[0], 1, CAP / 2, 0);
    fb_tasks(f, &f->b[1], 1, CAP / 2, 0);
    PUMP_UNTIL(f, 2000, f->b[0].nresults == CAP / 2 && f->b[1].nresults == CAP / 2);
    PUMP_UNTIL(f, 2000, f->b[0].credit + f->b[1].credit == CAP);
    assert_int_equal(f->b[0].credit, CAP / 2);
    assert_int_equal(f->b[1].credit, CAP / 2);
    for (int i = 1; i <= CAP / 2; i++) {
        assert_true(fb_has_result(&f->b[0], 1000 + i));
        assert_true(fb_has_result(&f->b[1], 2000 + i));
    }
}

static void test_share_kept_for_a_broker_saying_hello(void **state)
{
    fx_t *f = *state;
    /* Broker 2 is slow to answer its first HELLO: broker 1 gets its own
     * share only, the other half waits for broker 2 ... */
    f->b[1].hold_welcome = 1;
    PUMP_UNTIL(f, 2000, f->b[0].credit == CAP / 2 && f->b[1].hellos == 1);
    s_pump(f, 200);
    assert_int_equal(f->b[0].credit, CAP / 2);
    assert_int_equal(f->b[1].credit, 0);
    fb_welcome(f, &f->b[1]);
    PUMP_UNTIL(f, 2000, f->b[1].credit == CAP / 2);
    assert_int_equal(f->b[0].credit, CAP / 2);
}

static void test_share_not_kept_for_a_broker_that_never_answers(void **state)
{
    fx_t *f = *state;
    /* ... for one liveness period of its HELLO (3 x 250 ms here), then
     * broker 1 gets everything. */
    f->b[1].hold_welcome = 1;
    PUMP_UNTIL(f, 2000, f->b[0].credit == CAP / 2);
    int64_t t0 = cr_mono_ms();
    PUMP_UNTIL(f, 3000, f->b[0].credit == CAP);
    assert_true(cr_mono_ms() - t0 >= 400);
    assert_int_not_equal(s_state(f, 1), CR_BROKER_HELLO_SENT);
}

static void test_tasks_in_flight_bound_credit(void **state)
{
    fx_t *f = *state;
    s_start_both(f);
    /* Broker 1 fills its share with tasks that hang; broker 2 cycles quick
     * ones. While they run, the credit of both plus the running tasks stays
     * within the capacity (checked after every message), and nothing frees
     * a running task's slot for broker 2. */
    fb_tasks(f, &f->b[0], 1, CAP / 2, 1);
    for (int round = 0; round < 5; round++) {
        PUMP_UNTIL(f, 2000, f->b[1].credit == CAP / 2);
        fb_tasks(f, &f->b[1], 1 + round * CAP, CAP / 2, 0);
        PUMP_UNTIL(f, 2000, f->b[1].nresults == (size_t)(round + 1) * (CAP / 2));
    }
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.in_flight, CAP / 2);
    assert_int_equal(f->b[0].credit, 0);
    assert_true(f->b[1].credit <= CAP / 2);
    /* The hung ones end at the request timeout: their results go to broker 1
     * only, and their slots back to it. */
    PUMP_UNTIL(f, 4000, f->b[0].nresults == CAP / 2);
    PUMP_UNTIL(f, 1000, f->b[0].credit == CAP / 2);
    assert_int_equal(f->b[1].credit, CAP / 2);
}

static void test_task_beyond_credit_refused(void **state)
{
    fx_t *f = *state;
    s_start_both(f);
    /* A broker that sends more than its credit while the other holds the
     * rest: the extra task would break the bound, so it is refused at once
     * (TRANSIENT, the broker retries it) and costs nobody a slot. */
    fb_tasks_any(f, &f->b[0], 1, CAP / 2 + 1, 1, 1);
    PUMP_UNTIL(f, 2000, fb_has_result(&f->b[0], 1000 + CAP / 2 + 1));
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.in_flight, CAP / 2);
    assert_int_equal(st.tasks_rejected, 1);
    assert_int_equal(f->b[0].nresults, 1);
    assert_int_equal(f->b[0].credit, 0);
    assert_int_equal(f->b[1].credit, CAP / 2);
}

static void test_dead_broker_share_moves_and_comes_back(void **state)
{
    fx_t *f = *state;
    s_start_both(f);
    /* Broker 2 dies: its credit is forfeited and broker 1 gets the whole
     * capacity. */
    fb_kill(&f->b[1]);
    PUMP_UNTIL(f, 3000, f->b[0].credit == CAP);
    assert_int_not_equal(s_state(f, 1), CR_BROKER_READY);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.connected, 1);
    assert_true(st.reconnects >= 1);
    /* ... and keeps it while it works alone. */
    fb_tasks(f, &f->b[0], 1, CAP, 0);
    PUMP_UNTIL(f, 2000, f->b[0].nresults == CAP && f->b[0].credit == CAP);
    /* Broker 2 comes back on the same endpoint: the worker says HELLO again
     * (new socket, after its backoff). Broker 1 still holds the credit; as
     * its tasks free slots, they go to broker 2 until the shares are even. */
    fb_bind(f, &f->b[1], f->b[1].ep);
    PUMP_UNTIL(f, 5000, f->b[1].welcomes == 1 && s_state(f, 1) == CR_BROKER_READY);
    assert_int_equal(f->b[1].hellos, 1);
    s_pump(f, 50);
    assert_int_equal(f->b[1].credit, 0); /* nothing free yet: credit is never taken back */
    fb_tasks(f, &f->b[0], 101, CAP, 0);
    PUMP_UNTIL(f, 2000, f->b[0].nresults == 2 * CAP && f->b[0].credit + f->b[1].credit == CAP);
    assert_int_equal(f->b[0].credit, CAP / 2);
    assert_int_equal(f->b[1].credit, CAP / 2);
    /* The new broker's share is real: its tasks run and come back to it. */
    fb_tasks(f, &f->b[1], 1, CAP / 2, 0);
    PUMP_UNTIL(f, 2000, f->b[1].nresults == CAP / 2 && f->b[1].credit == CAP / 2);
}

static void test_silent_broker_share_moves_and_comes_back(void **state)
{
    fx_t *f = *state;
    s_start_both(f);
    /* Broker 1 stops answering (heartbeats, HELLOs) without closing. */
    fb_stall(&f->b[0]);
    PUMP_UNTIL(f, 3000, f->b[1].credit == CAP);
    assert_int_not_equal(s_state(f, 0), CR_BROKER_READY);
    uint64_t hellos = f->b[0].hellos;
    PUMP_UNTIL(f, 4000, f->b[0].hellos > hellos); /* it keeps trying, with backoff */
    fb_tasks(f, &f->b[1], 1, CAP, 0);
    PUMP_UNTIL(f, 2000, f->b[1].nresults == CAP && f->b[1].credit == CAP);
    /* It answers again: welcomed at the worker's next HELLO, then a share. */
    f->b[0].answering = 1;
    PUMP_UNTIL(f, 5000, s_state(f, 0) == CR_BROKER_READY);
    fb_tasks(f, &f->b[1], 101, CAP, 0);
    PUMP_UNTIL(f, 2000, f->b[1].nresults == 2 * CAP && f->b[0].credit + f->b[1].credit == CAP);
    assert_int_equal(f->b[0].credit, CAP / 2);
    assert_int_equal(f->b[1].credit, CAP / 2);
}

static void test_results_wait_for_their_broker(void **state)
{
    fx_t *f = *state;
    s_start_both(f);
    /* Broker 2's tasks hang; it stalls before they end. */
    fb_tasks(f, &f->b[1], 1, 2, 1);
    s_pump(f, 50);
    fb_stall(&f->b[1]);
    PUMP_UNTIL(f, 3000, s_state(f, 1) != CR_BROKER_READY);
    /* They end (request timeout) while it is away: results kept for it, not
     * sent to broker 1, and their slots go to broker 1. */
    cr_worker_broker_stats_t bs;
    PUMP_UNTIL(f, 4000, (cr_worker_broker_stats(f->worker, 1, &bs), bs.results_queued == 2));
    PUMP_UNTIL(f, 2000, f->b[0].credit == CAP);
    assert_int_equal(f->b[1].nresults, 0);
    assert_int_equal(f->b[0].nresults, 0);
    /* It comes back: the results follow its WELCOME, to it only. */
    f->b[1].answering = 1;
    PUMP_UNTIL(f, 5000, f->b[1].nresults == 2);
    assert_true(fb_has_result(&f->b[1], 2001));
    assert_true(fb_has_result(&f->b[1], 2002));
    assert_int_equal(f->b[0].nresults, 0);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.results_queued, 0);
    assert_int_equal(st.results_expired, 0);
}

static void test_results_expire(void **state)
{
    fx_t *f = *state; /* results kept 300 ms */
    s_start_both(f);
    fb_tasks(f, &f->b[1], 1, 1, 1);
    s_pump(f, 50);
    fb_kill(&f->b[1]); /* never comes back */
    cr_worker_stats_t st;
    PUMP_UNTIL(f, 5000, (cr_worker_stats(f->worker, &st), st.results_expired == 1));
    assert_int_equal(st.results_queued, 0);
    assert_int_equal(st.in_flight, 0);
    assert_int_equal(f->b[0].nresults, 0);
    PUMP_UNTIL(f, 2000, f->b[0].credit == CAP);
}

static void test_drain_moves_share(void **state)
{
    fx_t *f = *state;
    s_start_both(f);
    /* Broker 1 asks to drain, then still uses the credit it held: the slots
     * its tasks free go to broker 2, none to it. */
    fb_drain(f, &f->b[0]);
    fb_tasks(f, &f->b[0], 1, CAP / 2, 0);
    PUMP_UNTIL(f, 2000, f->b[0].nresults == CAP / 2 && f->b[1].credit == CAP);
    assert_int_equal(f->b[0].credit, 0);
    assert_int_equal(s_state(f, 0), CR_BROKER_DRAINING);
    s_pump(f, 100);
    assert_int_equal(f->b[0].credit, 0);
}

static void test_stop_says_bye_to_every_broker(void **state)
{
    fx_t *f = *state;
    s_start_both(f);
    fb_tasks(f, &f->b[0], 1, 2, 0);
    fb_tasks(f, &f->b[1], 1, 2, 0);
    s_pump(f, 20);
    cr_worker_stop(f->worker);
    PUMP_UNTIL(f, 3000, f->b[0].byes == 1 && f->b[1].byes == 1);
    assert_int_equal(f->b[0].nresults, 2);
    assert_int_equal(f->b[1].nresults, 2);
    assert_int_equal(cr_worker_step(f->worker, 0), 0);
}

static void test_bye_from_one_broker(void **state)
{
    fx_t *f = *state;
    s_start_both(f);
    /* Broker 2 forgot the worker: HELLO again to it only, a new session. */
    fb_bye(f, &f->b[1]);
    PUMP_UNTIL(f, 2000, f->b[1].hellos == 2 && f->b[1].credit == CAP / 2);
    assert_int_equal(f->b[0].hellos, 1);
    assert_int_equal(f->b[0].credit, CAP / 2);
}

/* ---- configuration ----------------------------------------------------- */

static void test_broker_list_checked(void **state)
{
    (void)state;
    char err[512];
    assert_int_equal(cr_worker_check_brokers("tcp://127.0.0.1:5555", err, sizeof err), 1);
    assert_int_equal(cr_worker_check_brokers("tcp://b1:5555,tcp://b2:5555", err, sizeof err), 2);
    assert_int_equal(cr_worker_check_brokers(" tcp://b1:5555 , ipc:///tmp/b2 ", err, sizeof err),
                     2);
    static const struct {
        const char *list, *says;
    } bad[] = {
        {"tcp://a:1,,tcp://b:2", "item 2"},
        {"tcp://a:1,", "item 2"},
        {",tcp://a:1", "item 1"},
        {"", "no endpoint"},
        {"  ", "no endpoint"},
        {"tcp://a", "invalid endpoint 'tcp://a'"},
        {"tcp://a:0", "invalid endpoint"},
        {"tcp://:5555", "invalid endpoint"},
        {"tcp://127.0.0.1:5555,foo://x", "invalid endpoint 'foo://x'"},
        {"nonsense", "invalid endpoint 'nonsense'"},
        {"tcp://a:1,tcp://a:1", "listed twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (cr_worker_check_brokers(bad[i].list, err, sizeof err) != -1)
            fail_msg("'%s' accepted", bad[i].list);
        if (!strstr(err, bad[i].says) || !strstr(err, "option 'broker'"))
            fail_msg("'%s': unclear error: %s", bad[i].list, err);
    }
    /* The runtime refuses them too. */
    cr_worker_opts_t o = {
        .broker = "tcp://a:1,,tcp://b:2",
        .worker_id = "w",
        .role = CRIEUR__ROLE__ROLE_PUBLISHER,
        .capacity = 1,
    };
    assert_null(cr_worker_new(&o));
}

/* The publisher binary exits 2 with the message on stderr. */
static void test_publisher_exits_2(void **state)
{
    (void)state;
    const char *bin = getenv("CRIEUR_PUBLISHER_BIN");
    if (!bin || !*bin) skip();
    const char *lists[] = {"tcp://127.0.0.1:1,,tcp://127.0.0.1:2", "tcp://127.0.0.1:1,bogus://x"};
    for (size_t i = 0; i < 2; i++) {
        int pipefd[2];
        assert_int_equal(pipe(pipefd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            dup2(pipefd[1], 2);
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) dup2(devnull, 1);
            close(pipefd[0]);
            execl(bin, bin, "--broker", lists[i], "--worker-id", "w-bad", (char *)NULL);
            _exit(127);
        }
        close(pipefd[1]);
        char out[1024];
        size_t n = 0;
        ssize_t r;
        while (n < sizeof out - 1 && (r = read(pipefd[0], out + n, sizeof out - 1 - n)) > 0)
            n += (size_t)r;
        out[n] = '\0';
        close(pipefd[0]);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 2)
            fail_msg("'%s': exit %d, stderr: %s", lists[i], WEXITSTATUS(status), out);
        assert_non_null(strstr(out, "option 'broker'"));
    }
}

int main(void)
{
    cr_log_init("test", CR_LOG_ERROR, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_both_brokers_share_capacity, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_share_kept_for_a_broker_saying_hello, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_share_not_kept_for_a_broker_that_never_answers,
                                        s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tasks_in_flight_bound_credit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_task_beyond_credit_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dead_broker_share_moves_and_comes_back, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_silent_broker_share_moves_and_comes_back, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_results_wait_for_their_broker, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_results_expire, s_setup_short_ttl, s_teardown),
        cmocka_unit_test_setup_teardown(test_drain_moves_share, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stop_says_bye_to_every_broker, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bye_from_one_broker, s_setup, s_teardown),
        cmocka_unit_test(test_broker_list_checked),
        cmocka_unit_test(test_publisher_exits_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
