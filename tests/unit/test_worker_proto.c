/* test_worker_proto: the worker runtime against an in-process fake broker
 * (a ROUTER on inproc://, same ZeroMQ context). The test steps the real
 * worker loop and the fake broker alternately in one thread, so every
 * exchange is deterministic. No network: tasks that reach an adapter have a
 * deadline already passed, so they end before any request. */
#include "cr_adapters.h"
#include "cr_log.h"
#include "cr_time.h"
#include "cr_wire.h"
#include "cr_worker.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#define CAPACITY 8

typedef struct {
    void *ctx;
    void *router;
    cr_worker_t *worker;
    char endpoint[64];
    char wid[32];
} fx_t;

static int s_setup_with(void **state, uint32_t capacity)
{
    static int seq;
    fx_t *f = calloc(1, sizeof *f);
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(f->router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    snprintf(f->endpoint, sizeof f->endpoint, "inproc://fake-broker-%d", ++seq);
    if (zmq_bind(f->router, f->endpoint)) fail_msg("bind: %s", zmq_strerror(errno));
    snprintf(f->wid, sizeof f->wid, "w-test-%d", seq);
    cr_worker_opts_t o = {
        .broker = f->endpoint,
        .worker_id = f->wid,
        .role = CRIEUR__ROLE__ROLE_PUBLISHER,
        .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
        .adapters = cr_adapters_builtin(),
        .capacity = capacity,
        .request_timeout_ms = 1000,
        .connect_timeout_ms = 500,
        .grace_ms = 500,
        .heartbeat_ms = 1000,
        .zmq_ctx = f->ctx,
    };
    f->worker = cr_worker_new(&o);
    assert_non_null(f->worker);
    *state = f;
    return 0;
}

static int s_setup(void **state)
{
    return s_setup_with(state, CAPACITY);
}

static int s_setup_small(void **state)
{
    return s_setup_with(state, 2);
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    cr_worker_destroy(&f->worker);
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    free(f);
    return 0;
}

/* ---- fake broker ------------------------------------------------------- */

static void s_send_raw(fx_t *f, const void *data, size_t len)
{
    assert_true(zmq_send(f->router, f->wid, strlen(f->wid), ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(f->router, data, len, 0) >= 0);
}

static void s_send(fx_t *f, Crieur__Envelope *env)
{
    assert_int_equal(cr_wire_send(f->router, f->wid, strlen(f->wid), env), 0);
}

/* Steps the worker until the broker receives a message of type `want`
 * (others, such as heartbeats, are skipped), or fails after timeout_ms. */
static Crieur__Envelope *s_expect(fx_t *f, Crieur__Envelope__BodyCase want, long timeout_ms)
{
    int64_t end = cr_mono_ms() + timeout_ms;
    while (cr_mono_ms() < end) {
        cr_worker_step(f->worker, 5);
        zmq_pollitem_t it = {f->router, 0, ZMQ_POLLIN, 0};
        while (zmq_poll(&it, 1, 0) > 0) {
            char id[256];
            int idn = zmq_recv(f->router, id, sizeof id, 0);
            assert_true(idn > 0);
            zmq_msg_t m;
            zmq_msg_init(&m);
            assert_true(zmq_msg_recv(&m, f->router, 0) >= 0);
            assert_false(zmq_msg_more(&m));
            if ((size_t)idn != strlen(f->wid) || memcmp(id, f->wid, (size_t)idn) != 0) {
                /* After a reconnection (ROUTER_HANDOVER), what was still
                 * queued on the old socket's pipe arrives under a temporary
                 * identity: a stale leftover, not from the live worker. */
                zmq_msg_close(&m);
                continue;
            }
            cr_wire_err_t err;
            Crieur__Envelope *env = cr_wire_unpack(zmq_msg_data(&m), zmq_msg_size(&m), &err);
            zmq_msg_close(&m);
            if (!env) fail_msg("worker sent an invalid frame: %s", cr_wire_err_name(err));
            if (env->body_case == want) return env;
            cr_wire_free(&env);
        }
    }
    fail_msg("no message of type %d within %ld ms", (int)want, timeout_ms);
    return NULL;
}

/* Nothing of type `want` arrives within ms (other messages are fine). */
static void s_expect_none(fx_t *f, Crieur__Envelope__BodyCase want, long ms)
{
    int64_t end = cr_mono_ms() + ms;
    while (cr_mono_ms() < end) {
        cr_worker_step(f->worker, 5);
        zmq_pollitem_t it = {f->router, 0, ZMQ_POLLIN, 0};
        while (zmq_poll(&it, 1, 0) > 0) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            zmq_msg_recv(&m, f->router, 0); /* identity */
            zmq_msg_close(&m);
            zmq_msg_init(&m);
            zmq_msg_recv(&m, f->router, 0);
            cr_wire_err_t err;
            Crieur__Envelope *env = cr_wire_unpack(zmq_msg_data(&m), zmq_msg_size(&m), &err);
            zmq_msg_close(&m);
            assert_non_null(env);
            if (env->body_case == want) fail_msg("unexpected message of type %d", (int)want);
            cr_wire_free(&env);
        }
    }
}

static void s_welcome(fx_t *f, uint32_t hb_ms, uint32_t liveness)
{
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Welcome w = CRIEUR__WELCOME__INIT;
    w.broker_id = "fake-broker";
    w.heartbeat_ms = hb_ms;
    w.heartbeat_liveness = liveness;
    w.max_tasks_per_batch = 100;
    env.body_case = CRIEUR__ENVELOPE__BODY_WELCOME;
    env.welcome = &w;
    s_send(f, &env);
}

/* HELLO, WELCOME, CREDIT: returns the credit granted. */
static uint32_t s_handshake(fx_t *f)
{
    Crieur__Envelope *h = s_expect(f, CRIEUR__ENVELOPE__BODY_HELLO, 2000);
    cr_wire_free(&h);
    s_welcome(f, 1000, 3);
    Crieur__Envelope *c = s_expect(f, CRIEUR__ENVELOPE__BODY_CREDIT, 2000);
    uint32_t slots = c->credit->slots;
    cr_wire_free(&c);
    return slots;
}

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__PublishPayload pub;
} task_t;

/* A publish task; with a deadline in the past it ends before any request. */
static void s_task(task_t *t, int64_t job, uint32_t attempt, const char *platform)
{
    crieur__task__init(&t->task);
    crieur__account__init(&t->acc);
    crieur__publish_payload__init(&t->pub);
    t->task.job_id = job;
    t->task.attempt = attempt;
    t->task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
    t->task.deadline_ms = cr_now_ms() - 1000;
    t->task.account = &t->acc;
    t->task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    t->task.publish = &t->pub;
    t->acc.id = 100 + job;
    t->acc.platform = (char *)platform;
    t->acc.api_base = "http://127.0.0.1:9";
    t->acc.token = "tok";
    t->pub.post_id = job;
    t->pub.body = "hello";
    t->pub.idempotency_key = "k";
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
    s_send(f, &env);
}

static const Crieur__Result *s_result_for(const Crieur__ResultBatch *b, int64_t job)
{
    for (size_t i = 0; i < b->n_results; i++)
        if (b->results[i]->job_id == job) return b->results[i];
    fail_msg("no result for job %lld", (long long)job);
    return NULL;
}

/* ---- tests ------------------------------------------------------------- */

static void test_hello_fields(void **state)
{
    fx_t *f = *state;
    Crieur__Envelope *env = s_expect(f, CRIEUR__ENVELOPE__BODY_HELLO, 2000);
    Crieur__Hello *h = env->hello;
    assert_int_equal(env->version, CR_PROTO_VERSION);
    assert_string_equal(h->worker_id, f->wid);
    assert_int_equal(h->role, CRIEUR__ROLE__ROLE_PUBLISHER);
    /* The built-in adapters that publish, in registry order (mastodon first). */
    const cr_adapter_t *const *ads = cr_adapters_builtin();
    size_t np = 0;
    for (size_t i = 0; ads[i]; i++) {
        if (!(ads[i]->kinds & CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH))) continue;
        assert_true(np < h->n_platforms);
        assert_string_equal(h->platforms[np], ads[i]->platform);
        np++;
    }
    assert_int_equal(h->n_platforms, np);
    assert_string_equal(h->platforms[0], "mastodon");
    assert_int_equal(h->capacity, CAPACITY);
    assert_string_equal(h->version, "0.1.0");
    assert_int_equal(h->pid, (uint32_t)getpid());
    cr_wire_free(&env);
    /* No credit and no heartbeat before WELCOME. */
    s_expect_none(f, CRIEUR__ENVELOPE__BODY_CREDIT, 100);
}

static void test_welcome_then_credit(void **state)
{
    fx_t *f = *state;
    assert_int_equal(s_handshake(f), CAPACITY);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.connected, 1);
    /* The credit is not granted twice. */
    s_expect_none(f, CRIEUR__ENVELOPE__BODY_CREDIT, 100);
}

static void test_unknown_platform(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    task_t t[2];
    s_task(&t[0], 11, 1, "myspace");
    s_task(&t[1], 12, 2, "mastodon");
    t[1].task.kind = CRIEUR__JOB_KIND__KIND_METRICS; /* not a publisher's kind */
    s_send_tasks(f, t, 2);
    Crieur__Envelope *env = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 2000);
    const Crieur__ResultBatch *b = env->results;
    assert_int_equal(b->n_results, 2); /* answered together, in one batch */
    assert_int_equal(b->credit, 2);    /* both slots given back */
    const Crieur__Result *r = s_result_for(b, 11);
    assert_int_equal(r->attempt, 1);
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r->error, "no adapter for platform myspace");
    assert_true(r->finished_ms > 0);
    r = s_result_for(b, 12);
    assert_int_equal(r->attempt, 2);
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_non_null(strstr(r->error, "KIND_METRICS"));
    cr_wire_free(&env);
}

static void test_deadline_passed(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    task_t t;
    s_task(&t, 21, 1, "mastodon");
    s_send_tasks(f, &t, 1);
    Crieur__Envelope *env = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 2000);
    assert_int_equal(env->results->n_results, 1);
    assert_int_equal(env->results->credit, 1);
    const Crieur__Result *r = env->results->results[0];
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_non_null(strstr(r->error, "deadline"));
    cr_wire_free(&env);
}

static void test_malformed_frames(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    /* Garbage, a bad version, an envelope without a body, a multipart message. */
    s_send_raw(f, "\xff\xff\xff garbage", 12);
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Heartbeat hb = CRIEUR__HEARTBEAT__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    uint8_t buf[64];
    env.version = 99;
    size_t n = crieur__envelope__pack(&env, buf);
    s_send_raw(f, buf, n);
    Crieur__Envelope empty = CRIEUR__ENVELOPE__INIT;
    empty.version = CR_PROTO_VERSION;
    n = crieur__envelope__pack(&empty, buf);
    s_send_raw(f, buf, n);
    zmq_send(f->router, f->wid, strlen(f->wid), ZMQ_SNDMORE);
    zmq_send(f->router, "a", 1, ZMQ_SNDMORE);
    zmq_send(f->router, "b", 1, 0);
    /* The worker still answers afterwards. */
    task_t t;
    s_task(&t, 31, 1, "myspace");
    s_send_tasks(f, &t, 1);
    Crieur__Envelope *res = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 2000);
    assert_int_equal(res->results->n_results, 1);
    assert_int_equal(res->results->results[0]->job_id, 31);
    cr_wire_free(&res);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.frames_malformed, 4);
}

static void test_batch_with_one_bad_task(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    /* A publish task without payload makes cr_wire reject the whole batch;
     * the worker still answers the good task and the bad one it can name. */
    task_t t[3];
    s_task(&t[0], 41, 1, "myspace");
    s_task(&t[1], 42, 1, "mastodon");
    t[1].task.payload_case = CRIEUR__TASK__PAYLOAD__NOT_SET;
    s_task(&t[2], 43, 1, "mastodon");
    t[2].task.attempt = 0; /* cannot be answered: dropped */
    s_send_tasks(f, t, 3);
    Crieur__Envelope *env = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 2000);
    assert_int_equal(env->results->n_results, 2);
    assert_int_equal(s_result_for(env->results, 41)->outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_int_equal(s_result_for(env->results, 42)->outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    /* All three used credit: all three slots come back. */
    assert_int_equal(env->results->credit, 3);
    cr_wire_free(&env);
}

static void test_duplicate_task(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    task_t t[2];
    s_task(&t[0], 51, 3, "mastodon");
    s_task(&t[1], 51, 3, "mastodon");
    s_send_tasks(f, t, 2);
    Crieur__Envelope *env = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 2000);
    assert_int_equal(env->results->n_results, 1);
    assert_int_equal(env->results->credit, 2);
    cr_wire_free(&env);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.tasks_duplicate, 1);
}

static void test_over_capacity(void **state)
{
    fx_t *f = *state; /* capacity 2 */
    assert_int_equal(s_handshake(f), 2);
    task_t t[3];
    for (int i = 0; i < 3; i++) s_task(&t[i], 61 + i, 1, "mastodon");
    s_send_tasks(f, t, 3);
    Crieur__Envelope *env = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 2000);
    assert_int_equal(env->results->n_results, 3);
    const Crieur__Result *r = s_result_for(env->results, 63);
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(r->error, "worker at capacity");
    /* Credit heals to the capacity, not beyond. */
    assert_int_equal(env->results->credit, 2);
    cr_wire_free(&env);
}

static void test_cancel_before_start(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    task_t t;
    s_task(&t, 71, 1, "mastodon");
    s_send_tasks(f, &t, 1);
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Cancel c = CRIEUR__CANCEL__INIT;
    c.job_id = 71;
    c.attempt = 1;
    env.body_case = CRIEUR__ENVELOPE__BODY_CANCEL;
    env.cancel = &c;
    s_send(f, &env); /* queued behind the batch: seen before the task starts */
    Crieur__Envelope *res = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 2000);
    assert_int_equal(res->results->n_results, 1);
    assert_int_equal(res->results->results[0]->outcome, CRIEUR__OUTCOME__OUTCOME_CANCELLED);
    assert_int_equal(res->results->credit, 1);
    cr_wire_free(&res);
}

static void test_bye_triggers_hello(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Bye b = CRIEUR__BYE__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_BYE;
    env.bye = &b;
    s_send(f, &env);
    Crieur__Envelope *h = s_expect(f, CRIEUR__ENVELOPE__BODY_HELLO, 2000);
    assert_string_equal(h->hello->worker_id, f->wid);
    cr_wire_free(&h);
    /* A new session: full credit again. */
    s_welcome(f, 1000, 3);
    Crieur__Envelope *c = s_expect(f, CRIEUR__ENVELOPE__BODY_CREDIT, 2000);
    assert_int_equal(c->credit->slots, CAPACITY);
    cr_wire_free(&c);
}

static void test_heartbeat_and_liveness(void **state)
{
    fx_t *f = *state;
    Crieur__Envelope *h = s_expect(f, CRIEUR__ENVELOPE__BODY_HELLO, 2000);
    cr_wire_free(&h);
    s_welcome(f, 100, 3);
    Crieur__Envelope *c = s_expect(f, CRIEUR__ENVELOPE__BODY_CREDIT, 2000);
    cr_wire_free(&c);
    Crieur__Envelope *hb = s_expect(f, CRIEUR__ENVELOPE__BODY_HEARTBEAT, 500);
    assert_int_equal(hb->heartbeat->in_flight, 0);
    cr_wire_free(&hb);
    /* The fake broker stays silent: after 3 x 100 ms the worker presumes it
     * dead and says HELLO again on a new socket. */
    h = s_expect(f, CRIEUR__ENVELOPE__BODY_HELLO, 1500);
    cr_wire_free(&h);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_true(st.reconnects >= 1);
    assert_int_equal(st.connected, 0);
}

static void test_drain(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__Drain d = CRIEUR__DRAIN__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_DRAIN;
    env.drain = &d;
    s_send(f, &env);
    task_t t;
    s_task(&t, 81, 1, "myspace");
    s_send_tasks(f, &t, 1);
    Crieur__Envelope *res = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 2000);
    assert_int_equal(res->results->n_results, 1);
    assert_int_equal(res->results->credit, 0); /* draining: no slot given back */
    cr_wire_free(&res);
    s_expect_none(f, CRIEUR__ENVELOPE__BODY_CREDIT, 100);
}

static void test_stop_sends_bye(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    cr_worker_stop(f->worker);
    Crieur__Envelope *b = s_expect(f, CRIEUR__ENVELOPE__BODY_BYE, 2000);
    cr_wire_free(&b);
    assert_int_equal(cr_worker_step(f->worker, 0), 0);
}

int main(void)
{
    cr_log_init("test", CR_LOG_ERROR, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hello_fields, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_welcome_then_credit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_platform, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_deadline_passed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_frames, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_with_one_bad_task, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_task, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_over_capacity, s_setup_small, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_start, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bye_triggers_hello, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_and_liveness, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_drain, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stop_sends_bye, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
