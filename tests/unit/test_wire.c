/* Unit tests of cr_wire: every message type survives pack/unpack with every
 * field intact; hostile or broken frames are rejected with the right reason
 * and never crash; cr_wire_send delivers decodable frames over real ZeroMQ
 * sockets on inproc://. */
#include "cr_wire.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <cmocka.h>

/* Text with 2-, 3- and 4-byte UTF-8, quotes, a backslash and a tab. */
#define UTF8_TEXT "Bonjour \xC3\xA0 tous \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x8E\x89 \"q\" \\ \t end"

/* ---------------------------------------------------------------------------
 * Sample messages, one of each type, with extreme values in every field. */

typedef struct {
    Crieur__Hello hello;
    char *platforms[3];
    Crieur__Welcome welcome;
    Crieur__Credit credit;
    Crieur__Account account;
    Crieur__PublishPayload publish;
    char *media[2];
    Crieur__Task task_publish;
    Crieur__Task task_monitor;
    Crieur__Task *tasks[2];
    Crieur__TaskBatch task_batch;
    Crieur__Result results[7];
    Crieur__Result *result_ptrs[7];
    Crieur__ResultBatch result_batch;
    Crieur__Heartbeat heartbeat;
    Crieur__Bye bye;
    Crieur__Cancel cancel;
    Crieur__Drain drain;
    char long_body[4000];
} samples_t;

static const Crieur__Envelope__BodyCase s_all_cases[] = {
    CRIEUR__ENVELOPE__BODY_HELLO,     CRIEUR__ENVELOPE__BODY_WELCOME, CRIEUR__ENVELOPE__BODY_CREDIT,
    CRIEUR__ENVELOPE__BODY_TASKS,     CRIEUR__ENVELOPE__BODY_RESULTS,
    CRIEUR__ENVELOPE__BODY_HEARTBEAT, CRIEUR__ENVELOPE__BODY_BYE,     CRIEUR__ENVELOPE__BODY_CANCEL,
    CRIEUR__ENVELOPE__BODY_DRAIN,
};
#define N_CASES (sizeof s_all_cases / sizeof s_all_cases[0])

static void s_samples_init(samples_t *s)
{
    memset(s, 0, sizeof *s);

    crieur__hello__init(&s->hello);
    s->hello.worker_id = "publisher-1 \xC3\xA9\xF0\x9F\x9A\x80";
    s->hello.role = CRIEUR__ROLE__ROLE_PUBLISHER;
    s->platforms[0] = "mastodon";
    s->platforms[1] = "bluesky";
    s->platforms[2] = "";
    s->hello.n_platforms = 3;
    s->hello.platforms = s->platforms;
    s->hello.capacity = UINT32_MAX;
    s->hello.version = "0.1.0-\xCE\xB2";
    s->hello.pid = 4242;

    crieur__welcome__init(&s->welcome);
    s->welcome.broker_id = "broker-\xE6\x9D\xB1\xE4\xBA\xAC";
    s->welcome.heartbeat_ms = 1000;
    s->welcome.heartbeat_liveness = 3;
    s->welcome.max_tasks_per_batch = UINT32_MAX;

    crieur__credit__init(&s->credit);
    s->credit.slots = UINT32_MAX;

    crieur__account__init(&s->account);
    s->account.id = INT64_MAX;
    s->account.platform = "mastodon";
    s->account.handle = "@cr\xC3\xA9" "ateur@example.social";
    s->account.api_base = "https://example.social/api/v1";
    s->account.token = "tok_\x01\x7F secret";
    s->account.client_id = INT64_MIN;

    /* A body long enough for a multi-byte length prefix. */
    size_t off = 0;
    while (off + sizeof UTF8_TEXT < sizeof s->long_body) {
        memcpy(s->long_body + off, UTF8_TEXT, sizeof UTF8_TEXT - 1);
        off += sizeof UTF8_TEXT - 1;
    }
    s->long_body[off] = '\0';

    crieur__publish_payload__init(&s->publish);
    s->publish.post_id = INT64_MAX;
    s->publish.body = s->long_body;
    s->publish.idempotency_key = "3f2a9c0e5b7d41a8";
    s->publish.link = "https://example.org/a?b=c&d=\xC3\xA9";
    s->media[0] = "https://cdn.example.org/1.png";
    s->media[1] = "https://cdn.example.org/\xE5\x9B\xBE.jpg";
    s->publish.n_media = 2;
    s->publish.media = s->media;
    s->publish.in_reply_to = "109876543210";
    s->publish.language = "fr";
    s->publish.visibility = "unlisted";

    crieur__task__init(&s->task_publish);
    s->task_publish.job_id = INT64_MAX;
    s->task_publish.attempt = UINT32_MAX;
    s->task_publish.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
    s->task_publish.due_ms = INT64_MIN;
    s->task_publish.deadline_ms = INT64_MAX;
    s->task_publish.account = &s->account;
    s->task_publish.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    s->task_publish.publish = &s->publish;

    crieur__task__init(&s->task_monitor);
    s->task_monitor.job_id = 1;
    s->task_monitor.attempt = 1;
    s->task_monitor.kind = CRIEUR__JOB_KIND__KIND_MONITOR;
    s->task_monitor.due_ms = -1;
    s->task_monitor.deadline_ms = 1795342500123;

    s->tasks[0] = &s->task_publish;
    s->tasks[1] = &s->task_monitor;
    crieur__task_batch__init(&s->task_batch);
    s->task_batch.n_tasks = 2;
    s->task_batch.tasks = s->tasks;

    for (int i = 0; i < 7; i++) {
        Crieur__Result *r = &s->results[i];
        crieur__result__init(r);
        r->job_id = i == 0 ? INT64_MAX : i + 1;
        r->attempt = i == 0 ? UINT32_MAX : (uint32_t)i;
        r->outcome = (Crieur__Outcome)(CRIEUR__OUTCOME__OUTCOME_OK + i); /* OK .. INDETERMINATE */
        r->http_status = i == 0 ? 200 : i == 1 ? INT32_MIN : i == 2 ? 429 : INT32_MAX;
        r->platform_post_id = i == 0 ? "110234567890123456" : "";
        r->url = i == 0 ? "https://example.social/@c/110234567890123456" : "";
        r->error = i == 0 ? "" : "Erreur : d\xC3\xA9j\xC3\xA0 publi\xC3\xA9 \xF0\x9F\x98\xA2";
        r->error_code = i == 0 ? "" : "ERR_DUPLICATE";
        r->retry_at_ms = i == 2 ? INT64_MAX : 0;
        r->started_ms = INT64_MIN;
        r->finished_ms = i == 0 ? INT64_MAX : -1;
        /* The rate-limit window: the extremes, a real 429, and values the
         * wire carries without judging (remaining above limit, a negative
         * reset, numbers without rate_known). */
        r->rate_known = i == 0 || i == 2 || i == 4;
        r->rate_limit = i == 0 ? UINT32_MAX : i == 2 ? 300 : i == 4 ? 10 : i == 5 ? 7 : 0;
        r->rate_remaining = i == 0 ? UINT32_MAX : i == 4 ? 11 : 0;
        r->rate_reset_ms = i == 0 ? INT64_MAX : i == 2 ? 1767225900123 : i == 4 ? INT64_MIN : 0;
        s->result_ptrs[i] = r;
    }
    crieur__result_batch__init(&s->result_batch);
    s->result_batch.n_results = 7;
    s->result_batch.results = s->result_ptrs;
    s->result_batch.credit = 5;

    crieur__heartbeat__init(&s->heartbeat);
    s->heartbeat.in_flight = 7;
    crieur__bye__init(&s->bye);
    crieur__drain__init(&s->drain);
    crieur__cancel__init(&s->cancel);
    s->cancel.job_id = INT64_MAX;
    s->cancel.attempt = 3;
}

static Crieur__Envelope s_envelope(samples_t *s, Crieur__Envelope__BodyCase c)
{
    Crieur__Envelope e = CRIEUR__ENVELOPE__INIT;
    e.body_case = c;
    switch (c) {
    case CRIEUR__ENVELOPE__BODY_HELLO: e.hello = &s->hello; break;
    case CRIEUR__ENVELOPE__BODY_WELCOME: e.welcome = &s->welcome; break;
    case CRIEUR__ENVELOPE__BODY_CREDIT: e.credit = &s->credit; break;
    case CRIEUR__ENVELOPE__BODY_TASKS: e.tasks = &s->task_batch; break;
    case CRIEUR__ENVELOPE__BODY_RESULTS: e.results = &s->result_batch; break;
    case CRIEUR__ENVELOPE__BODY_HEARTBEAT: e.heartbeat = &s->heartbeat; break;
    case CRIEUR__ENVELOPE__BODY_BYE: e.bye = &s->bye; break;
    case CRIEUR__ENVELOPE__BODY_CANCEL: e.cancel = &s->cancel; break;
    case CRIEUR__ENVELOPE__BODY_DRAIN: e.drain = &s->drain; break;
    default: fail_msg("bad case %d", (int)c);
    }
    return e;
}

/* ---------------------------------------------------------------------------
 * Field-by-field comparison. */

static void s_str_eq(const char *a, const char *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
}

static void s_strv_eq(size_t na, char **a, size_t nb, char **b)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) s_str_eq(a[i], b[i]);
}

static void s_account_eq(const Crieur__Account *a, const Crieur__Account *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a->id == b->id);
    s_str_eq(a->platform, b->platform);
    s_str_eq(a->handle, b->handle);
    s_str_eq(a->api_base, b->api_base);
    s_str_eq(a->token, b->token);
    assert_true(a->client_id == b->client_id);
}

static void s_task_eq(const Crieur__Task *a, const Crieur__Task *b)
{
    assert_true(a->job_id == b->job_id);
    assert_int_equal(a->attempt, b->attempt);
    assert_int_equal(a->kind, b->kind);
    assert_true(a->due_ms == b->due_ms);
    assert_true(a->deadline_ms == b->deadline_ms);
    if (a->account || b->account) s_account_eq(a->account, b->account);
    assert_int_equal(a->payload_case, b->payload_case);
    if (a->payload_case == CRIEUR__TASK__PAYLOAD_PUBLISH) {
        const Crieur__PublishPayload *p = a->publish, *q = b->publish;
        assert_non_null(p);
        assert_non_null(q);
        assert_true(p->post_id == q->post_id);
        s_str_eq(p->body, q->body);
        s_str_eq(p->idempotency_key, q->idempotency_key);
        s_str_eq(p->link, q->link);
        s_strv_eq(p->n_media, p->media, q->n_media, q->media);
        s_str_eq(p->in_reply_to, q->in_reply_to);
        s_str_eq(p->language, q->language);
        s_str_eq(p->visibility, q->visibility);
    }
}

static void s_result_eq(const Crieur__Result *a, const Crieur__Result *b)
{
    assert_true(a->job_id == b->job_id);
    assert_int_equal(a->attempt, b->attempt);
    assert_int_equal(a->outcome, b->outcome);
    assert_int_equal(a->http_status, b->http_status);
    s_str_eq(a->platform_post_id, b->platform_post_id);
    s_str_eq(a->url, b->url);
    s_str_eq(a->error, b->error);
    s_str_eq(a->error_code, b->error_code);
    assert_true(a->retry_at_ms == b->retry_at_ms);
    assert_true(a->started_ms == b->started_ms);
    assert_true(a->finished_ms == b->finished_ms);
    assert_int_equal(a->reconciled, b->reconciled);
    assert_int_equal(a->rate_known, b->rate_known);
    assert_int_equal(a->rate_limit, b->rate_limit);
    assert_int_equal(a->rate_remaining, b->rate_remaining);
    assert_true(a->rate_reset_ms == b->rate_reset_ms);
}

static void s_envelope_eq(const Crieur__Envelope *a, const Crieur__Envelope *b)
{
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->body_case, b->body_case);
    switch (a->body_case) {
    case CRIEUR__ENVELOPE__BODY_HELLO:
        s_str_eq(a->hello->worker_id, b->hello->worker_id);
        assert_int_equal(a->hello->role, b->hello->role);
        s_strv_eq(a->hello->n_platforms, a->hello->platforms, b->hello->n_platforms,
                  b->hello->platforms);
        assert_int_equal(a->hello->capacity, b->hello->capacity);
        s_str_eq(a->hello->version, b->hello->version);
        assert_int_equal(a->hello->pid, b->hello->pid);
        break;
    case CRIEUR__ENVELOPE__BODY_WELCOME:
        s_str_eq(a->welcome->broker_id, b->welcome->broker_id);
        assert_int_equal(a->welcome->heartbeat_ms, b->welcome->heartbeat_ms);
        assert_int_equal(a->welcome->heartbeat_liveness, b->welcome->heartbeat_liveness);
        assert_int_equal(a->welcome->max_tasks_per_batch, b->welcome->max_tasks_per_batch);
        break;
    case CRIEUR__ENVELOPE__BODY_CREDIT:
        assert_int_equal(a->credit->slots, b->credit->slots);
        break;
    case CRIEUR__ENVELOPE__BODY_TASKS:
        assert_int_equal(a->tasks->n_tasks, b->tasks->n_tasks);
        for (size_t i = 0; i < a->tasks->n_tasks; i++) s_task_eq(a->tasks->tasks[i], b->tasks->tasks[i]);
        break;
    case CRIEUR__ENVELOPE__BODY_RESULTS:
        assert_int_equal(a->results->n_results, b->results->n_results);
        assert_int_equal(a->results->credit, b->results->credit);
        for (size_t i = 0; i < a->results->n_results; i++)
            s_result_eq(a->results->results[i], b->results->results[i]);
        break;
    case CRIEUR__ENVELOPE__BODY_HEARTBEAT:
        assert_int_equal(a->heartbeat->in_flight, b->heartbeat->in_flight);
        break;
    case CRIEUR__ENVELOPE__BODY_CANCEL:
        assert_true(a->cancel->job_id == b->cancel->job_id);
        assert_int_equal(a->cancel->attempt, b->cancel->attempt);
        break;
    case CRIEUR__ENVELOPE__BODY_BYE:
        assert_non_null(a->bye);
        assert_non_null(b->bye);
        break;
    case CRIEUR__ENVELOPE__BODY_DRAIN:
        assert_non_null(a->drain);
        assert_non_null(b->drain);
        break;
    default:
        fail_msg("unexpected body case %d", (int)a->body_case);
    }
}

/* ---------------------------------------------------------------------------
 * Helpers. */

/* Unpacks an exact-size heap copy of the frame, so that ASan catches any
 * read past its end. */
static Crieur__Envelope *s_unpack(const uint8_t *data, size_t len, cr_wire_err_t *err)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) memcpy(copy, data, len);
    *err = (cr_wire_err_t)-1;
    Crieur__Envelope *e = cr_wire_unpack(copy, len, err);
    free(copy);
    /* The envelope owns everything: nothing points into the frame. */
    return e;
}

/* Packs env with protobuf-c directly, keeping the version given. */
static uint8_t *s_raw_pack(const Crieur__Envelope *env, size_t *len)
{
    size_t n = crieur__envelope__get_packed_size(env);
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    *len = crieur__envelope__pack(env, b);
    assert_int_equal(*len, n);
    return b;
}

/* Asserts that the frame is rejected with want. */
static void s_expect_err(const uint8_t *data, size_t len, cr_wire_err_t want)
{
    cr_wire_err_t err;
    Crieur__Envelope *e = s_unpack(data, len, &err);
    if (e || err != want) {
        cr_wire_free(&e);
        fail_msg("expected %s, got %s", cr_wire_err_name(want), cr_wire_err_name(err));
    }
}

/* Packs env as cr_wire_pack does and asserts that it is rejected with want. */
static void s_expect_env_err(Crieur__Envelope *env, cr_wire_err_t want)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cr_wire_pack(env, &buf, &len), 0);
    s_expect_err(buf, len, want);
    free(buf);
}

static void s_expect_env_ok(Crieur__Envelope *env)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_wire_err_t err;
    assert_int_equal(cr_wire_pack(env, &buf, &len), 0);
    Crieur__Envelope *e = s_unpack(buf, len, &err);
    free(buf);
    if (!e) fail_msg("rejected as %s", cr_wire_err_name(err));
    assert_int_equal(err, CR_WIRE_OK);
    s_envelope_eq(env, e);
    cr_wire_free(&e);
}

/* What an accepted envelope must satisfy: checked on everything the decoder
 * lets through during fuzzing. */
static void s_assert_invariants(const Crieur__Envelope *e)
{
    assert_int_equal(e->version, CR_PROTO_VERSION);
    assert_int_not_equal(e->body_case, CRIEUR__ENVELOPE__BODY__NOT_SET);
    switch (e->body_case) {
    case CRIEUR__ENVELOPE__BODY_HELLO:
        assert_true(e->hello->worker_id[0] != '\0');
        assert_true(e->hello->capacity > 0);
        break;
    case CRIEUR__ENVELOPE__BODY_TASKS:
        for (size_t i = 0; i < e->tasks->n_tasks; i++) {
            const Crieur__Task *t = e->tasks->tasks[i];
            assert_true(t->job_id > 0);
            assert_true(t->attempt > 0);
            if (t->kind == CRIEUR__JOB_KIND__KIND_PUBLISH) {
                assert_int_equal(t->payload_case, CRIEUR__TASK__PAYLOAD_PUBLISH);
                assert_non_null(t->publish);
                assert_non_null(t->account);
            }
        }
        break;
    case CRIEUR__ENVELOPE__BODY_RESULTS:
        for (size_t i = 0; i < e->results->n_results; i++) {
            const Crieur__Result *r = e->results->results[i];
            assert_true(r->job_id > 0);
            assert_true(r->attempt > 0);
            assert_true((int)r->outcome >= CRIEUR__OUTCOME__OUTCOME_OK &&
                        (int)r->outcome <= CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
        }
        break;
    case CRIEUR__ENVELOPE__BODY_CANCEL:
        assert_true(e->cancel->job_id > 0);
        break;
    default:
        break;
    }
}

/* 1 if m or a message inside it kept an unknown field numbered 0. protobuf-c
 * refuses tag 0 in its one-byte form but accepts it spelt in two bytes
 * (0x80 0x00, a corrupted two-byte tag such as Result's fields 16 and 17),
 * keeps it as an unknown field, and re-encodes it in the one-byte form that
 * it then refuses. Unknown fields are ignored, so such a frame is harmless;
 * only its re-encoding does not decode. */
static int s_has_field0(const ProtobufCMessage *m)
{
    if (!m) return 0;
    for (unsigned i = 0; i < m->n_unknown_fields; i++)
        if (m->unknown_fields[i].tag == 0) return 1;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned f = 0; f < d->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f];
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE) continue;
        const char *base = (const char *)m + fd->offset;
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + fd->quantifier_offset);
            const ProtobufCMessage *const *v = *(const ProtobufCMessage *const *const *)base;
            for (size_t k = 0; k < n; k++)
                if (s_has_field0(v[k])) return 1;
        } else {
            if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                uint32_t which = *(const uint32_t *)((const char *)m + fd->quantifier_offset);
                if (which != fd->id) continue;
            }
            if (s_has_field0(*(const ProtobufCMessage *const *)base)) return 1;
        }
    }
    return 0;
}

/* Decodes an arbitrary buffer: whatever happens, the result and the error
 * agree, and anything accepted satisfies the invariants and re-encodes
 * (except for protobuf-c's tag 0 quirk, see s_has_field0). */
static cr_wire_err_t s_decode_any(const uint8_t *data, size_t len)
{
    cr_wire_err_t err;
    Crieur__Envelope *e = s_unpack(data, len, &err);
    assert_true(err >= CR_WIRE_OK && err < CR_WIRE__COUNT);
    if (e) {
        assert_int_equal(err, CR_WIRE_OK);
        s_assert_invariants(e);
        uint8_t *buf;
        size_t n;
        assert_int_equal(cr_wire_pack(e, &buf, &n), 0);
        cr_wire_err_t err2;
        Crieur__Envelope *again = s_unpack(buf, n, &err2);
        free(buf);
        if (!again && s_has_field0(&e->base)) {
            assert_int_equal(err2, CR_WIRE_MALFORMED);
            cr_wire_free(&e);
            return err;
        }
        assert_non_null(again);
        s_envelope_eq(e, again);
        cr_wire_free(&again);
        cr_wire_free(&e);
        assert_null(e);
    } else {
        assert_int_not_equal(err, CR_WIRE_OK);
    }
    return err;
}

static uint64_t s_rng = 0x5DEECE66DULL;
static uint64_t s_next(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

/* ---------------------------------------------------------------------------
 * Round trips. */

static void test_round_trip_every_type(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    s_samples_init(s);
    for (size_t k = 0; k < N_CASES; k++) {
        Crieur__Envelope env = s_envelope(s, s_all_cases[k]);
        env.version = 77; /* cr_wire_pack sets the version itself */
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal(cr_wire_pack(&env, &buf, &len), 0);
        assert_non_null(buf);
        assert_int_equal(env.version, CR_PROTO_VERSION);
        assert_int_equal(len, crieur__envelope__get_packed_size(&env));
        cr_wire_err_t err;
        Crieur__Envelope *e = s_unpack(buf, len, &err);
        free(buf);
        if (!e) fail_msg("%d rejected as %s", (int)s_all_cases[k], cr_wire_err_name(err));
        assert_int_equal(err, CR_WIRE_OK);
        s_envelope_eq(&env, e);
        cr_wire_free(&e);
        assert_null(e);
        cr_wire_free(&e); /* twice is harmless */
    }
    cr_wire_free(NULL);
    free(s);
}

/* Values at the edges of each field and of each kind/outcome. */
static void test_round_trip_edges(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    s_samples_init(s);
    Crieur__Envelope env;

    /* Empty repeated fields and empty strings where allowed. */
    s->hello.n_platforms = 0;
    s->hello.platforms = NULL;
    s->hello.version = "";
    s->hello.capacity = 1;
    s->hello.pid = UINT32_MAX;
    s->hello.role = CRIEUR__ROLE__ROLE_METRICS;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_HELLO);
    s_expect_env_ok(&env);

    s->task_batch.n_tasks = 0;
    s->task_batch.tasks = NULL;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
    s_expect_env_ok(&env);

    s->result_batch.n_results = 0;
    s->result_batch.results = NULL;
    s->result_batch.credit = UINT32_MAX;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_RESULTS);
    s_expect_env_ok(&env); /* credit alone */

    /* Every kind of task that needs no payload, with an account or without. */
    s_samples_init(s);
    for (int kind = CRIEUR__JOB_KIND__KIND_MONITOR; kind <= CRIEUR__JOB_KIND__KIND_NOOP; kind++) {
        if (kind == CRIEUR__JOB_KIND__KIND_ALERT || kind == CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH)
            continue; /* these need their payload: below */
        s->task_monitor.kind = (Crieur__JobKind)kind;
        s->task_monitor.account = kind % 2 ? &s->account : NULL;
        env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
        s_expect_env_ok(&env);
    }
    /* Alert and token refresh tasks: refused without their payload or an
     * account (the channel, the account refreshed), accepted with both. */
    Crieur__AlertPayload alert = CRIEUR__ALERT_PAYLOAD__INIT;
    Crieur__RefreshPayload refresh = CRIEUR__REFRESH_PAYLOAD__INIT;
    alert.alert_id = 7;
    alert.text = "post 3 failed";
    refresh.refresh_token = "r";
    for (int k = 0; k < 2; k++) {
        s->task_monitor.kind = k ? CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH : CRIEUR__JOB_KIND__KIND_ALERT;
        s->task_monitor.account = &s->account;
        s->task_monitor.payload_case = CRIEUR__TASK__PAYLOAD__NOT_SET;
        env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
        s_expect_env_err(&env, CR_WIRE_INVALID);
        if (k) {
            s->task_monitor.payload_case = CRIEUR__TASK__PAYLOAD_REFRESH;
            s->task_monitor.refresh = &refresh;
        } else {
            s->task_monitor.payload_case = CRIEUR__TASK__PAYLOAD_ALERT;
            s->task_monitor.alert = &alert;
        }
        env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
        s_expect_env_ok(&env);
        s->task_monitor.account = NULL;
        env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
        s_expect_env_err(&env, CR_WIRE_INVALID);
    }
    s_samples_init(s);
    /* A publish payload with empty optional fields, zero and negative times. */
    s->publish.n_media = 0;
    s->publish.media = NULL;
    s->publish.link = "";
    s->publish.in_reply_to = "";
    s->publish.post_id = 0;
    s->task_publish.due_ms = 0;
    s->task_publish.deadline_ms = INT64_MIN + 1;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
    s_expect_env_ok(&env);

    /* A batch of many tasks. */
    enum { MANY = 500 };
    Crieur__Task *many = calloc(MANY, sizeof *many);
    Crieur__Task **ptrs = calloc(MANY, sizeof *ptrs);
    assert_non_null(many);
    assert_non_null(ptrs);
    for (int i = 0; i < MANY; i++) {
        many[i] = s->task_publish;
        many[i].job_id = (int64_t)i + 1;
        many[i].attempt = (uint32_t)(i % 9) + 1;
        many[i].due_ms = -(int64_t)i * 1000;
        ptrs[i] = &many[i];
    }
    s->task_batch.n_tasks = MANY;
    s->task_batch.tasks = ptrs;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
    s_expect_env_ok(&env);
    free(ptrs);
    free(many);

    s->cancel.job_id = 1;
    s->cancel.attempt = 0; /* cancel of "whatever attempt": allowed */
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_CANCEL);
    s_expect_env_ok(&env);

    s->heartbeat.in_flight = 0;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_HEARTBEAT);
    s_expect_env_ok(&env);
    s->credit.slots = 0;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_CREDIT);
    s_expect_env_ok(&env);
    free(s);
}

/* ---------------------------------------------------------------------------
 * Rejections. */

/* Result's rate-limit fields (14..17): they round-trip, change nothing in
 * what is accepted or refused, and a result without them (an older worker)
 * packs to the same bytes and decodes with rate_known false. */
static void test_result_rate_fields(void **state)
{
    (void)state;
    Crieur__Result r = CRIEUR__RESULT__INIT, *rp = &r;
    Crieur__ResultBatch b = CRIEUR__RESULT_BATCH__INIT;
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    b.results = &rp;
    b.n_results = 1;
    env.body_case = CRIEUR__ENVELOPE__BODY_RESULTS;
    env.results = &b;
    r.job_id = 42;
    r.attempt = 1;
    r.outcome = CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED;
    r.http_status = 429;
    r.retry_at_ms = 1767226500000;

    /* Without the fields: the bytes an older worker sends. */
    uint8_t *old_buf = NULL, *buf = NULL;
    size_t old_len = 0, len = 0;
    assert_int_equal(cr_wire_pack(&env, &old_buf, &old_len), 0);
    cr_wire_err_t err;
    Crieur__Envelope *e = s_unpack(old_buf, old_len, &err);
    assert_non_null(e);
    assert_int_equal(e->results->results[0]->rate_known, 0);
    assert_int_equal(e->results->results[0]->rate_limit, 0);
    assert_int_equal(e->results->results[0]->rate_remaining, 0);
    assert_true(e->results->results[0]->rate_reset_ms == 0);
    cr_wire_free(&e);

    /* Set to their defaults explicitly: nothing more on the wire. */
    r.rate_known = 0;
    r.rate_limit = r.rate_remaining = 0;
    r.rate_reset_ms = 0;
    assert_int_equal(cr_wire_pack(&env, &buf, &len), 0);
    assert_int_equal(len, old_len);
    assert_memory_equal(buf, old_buf, len);
    free(buf);

    /* A Mastodon 429: the window as the headers said it. */
    r.rate_known = 1;
    r.rate_limit = 300;
    r.rate_remaining = 0;
    r.rate_reset_ms = 1767226500123;
    assert_int_equal(cr_wire_pack(&env, &buf, &len), 0);
    assert_true(len > old_len);
    e = s_unpack(buf, len, &err);
    free(buf);
    assert_non_null(e);
    assert_int_equal(err, CR_WIRE_OK);
    s_envelope_eq(&env, e);
    const Crieur__Result *got = e->results->results[0];
    assert_int_equal(got->rate_known, 1);
    assert_int_equal(got->rate_limit, 300);
    assert_int_equal(got->rate_remaining, 0);
    assert_true(got->rate_reset_ms == 1767226500123);
    cr_wire_free(&e);

    /* Every combination of extremes is accepted with every outcome: the wire
     * does not judge the platform's numbers (the broker does). */
    static const uint32_t u32s[] = {0, 1, 100, UINT32_MAX};
    static const int64_t i64s[] = {0, -1, INT64_MIN, 1767226500123, INT64_MAX};
    for (int o = CRIEUR__OUTCOME__OUTCOME_OK; o <= CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED; o++)
        for (size_t l = 0; l < 4; l++)
            for (size_t m = 0; m < 4; m++)
                for (size_t k = 0; k < 5; k++) {
                    r.outcome = (Crieur__Outcome)o;
                    r.rate_known = (l + m + k) % 2 == 0;
                    r.rate_limit = u32s[l];
                    r.rate_remaining = u32s[m];
                    r.rate_reset_ms = i64s[k];
                    s_expect_env_ok(&env);
                }
    /* ... and what was refused still is, with the fields set. */
    r.rate_known = 1;
    r.rate_limit = 300;
    r.outcome = CRIEUR__OUTCOME__OUTCOME_UNKNOWN;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    r.outcome = CRIEUR__OUTCOME__OUTCOME_OK;
    r.job_id = 0;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    r.job_id = 42;
    r.attempt = 0;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    free(old_buf);
}

static void test_reject_empty(void **state)
{
    (void)state;
    static const uint8_t nothing[1] = {0};
    cr_wire_err_t err;
    /* An empty buffer is a valid protobuf encoding of version 0. */
    assert_null(cr_wire_unpack(nothing, 0, &err));
    assert_int_equal(err, CR_WIRE_BAD_VERSION);
    assert_null(cr_wire_unpack(NULL, 0, &err));
    assert_int_equal(err, CR_WIRE_BAD_VERSION);
}

static void test_reject_version(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    s_samples_init(s);
    static const uint32_t versions[] = {0, 2, 3, 255, UINT32_MAX};
    for (size_t k = 0; k < N_CASES; k++) {
        for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++) {
            Crieur__Envelope env = s_envelope(s, s_all_cases[k]);
            env.version = versions[v];
            size_t len;
            uint8_t *buf = s_raw_pack(&env, &len);
            s_expect_err(buf, len, CR_WIRE_BAD_VERSION);
            free(buf);
        }
        /* The same envelope with version 1 is fine: only the version differs. */
        Crieur__Envelope env = s_envelope(s, s_all_cases[k]);
        env.version = 1;
        size_t len;
        uint8_t *buf = s_raw_pack(&env, &len);
        cr_wire_err_t err;
        Crieur__Envelope *e = s_unpack(buf, len, &err);
        free(buf);
        assert_non_null(e);
        cr_wire_free(&e);
    }
    /* Version 2 without a body: the version is checked first. */
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    env.version = 2;
    size_t len;
    uint8_t *buf = s_raw_pack(&env, &len);
    s_expect_err(buf, len, CR_WIRE_BAD_VERSION);
    free(buf);
    free(s);
}

static void test_reject_no_body(void **state)
{
    (void)state;
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    s_expect_env_err(&env, CR_WIRE_NO_BODY);
    /* The hand-written frame: version 1 and nothing else. */
    static const uint8_t frame[] = {0x08, 0x01};
    s_expect_err(frame, sizeof frame, CR_WIRE_NO_BODY);
    /* Unknown fields are skipped, so a frame from a newer peer with only a
     * field we do not know has no body either. */
    static const uint8_t unknown[] = {0x08, 0x01, 0xA2, 0x06, 0x02, 'h', 'i'}; /* field 100 */
    s_expect_err(unknown, sizeof unknown, CR_WIRE_NO_BODY);
}

static void test_reject_too_large(void **state)
{
    (void)state;
    /* A Hello whose worker id makes the frame exactly CR_WIRE_MAX_FRAME bytes
     * is accepted; one more byte is rejected before decoding. */
    const size_t max = CR_WIRE_MAX_FRAME;
    char *id = malloc(max + 1);
    assert_non_null(id);
    memset(id, 'w', max);
    Crieur__Hello hello = CRIEUR__HELLO__INIT;
    hello.role = CRIEUR__ROLE__ROLE_PUBLISHER;
    hello.capacity = 1;
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = CRIEUR__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    /* The length prefixes grow with the id: converge on the exact size. */
    size_t idlen = max - 64;
    hello.worker_id = id;
    for (int iter = 0; iter < 8; iter++) {
        id[idlen] = '\0';
        size_t size = crieur__envelope__get_packed_size(&env);
        id[idlen] = 'w';
        if (size == max) break;
        idlen = idlen + max - size;
    }
    id[idlen] = '\0';
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(cr_wire_pack(&env, &buf, &len), 0);
    assert_int_equal(len, max);
    cr_wire_err_t err;
    Crieur__Envelope *e = cr_wire_unpack(buf, len, &err);
    assert_non_null(e);
    assert_int_equal(err, CR_WIRE_OK);
    assert_int_equal(strlen(e->hello->worker_id), idlen);
    cr_wire_free(&e);
    free(buf);

    id[idlen] = 'w';
    id[idlen + 1] = '\0';
    assert_int_equal(cr_wire_pack(&env, &buf, &len), 0);
    assert_int_equal(len, max + 1);
    e = cr_wire_unpack(buf, len, &err);
    assert_null(e);
    assert_int_equal(err, CR_WIRE_TOO_LARGE);
    free(buf);

    /* Garbage of the limit is judged on its content, garbage over it on its size. */
    uint8_t *zeros = calloc(1, max + 1);
    assert_non_null(zeros);
    assert_null(cr_wire_unpack(zeros, max, &err));
    assert_int_equal(err, CR_WIRE_MALFORMED);
    assert_null(cr_wire_unpack(zeros, max + 1, &err));
    assert_int_equal(err, CR_WIRE_TOO_LARGE);
    assert_null(cr_wire_unpack(zeros, SIZE_MAX, &err)); /* never read */
    assert_int_equal(err, CR_WIRE_TOO_LARGE);
    free(zeros);
    free(id);
}

static void test_reject_invalid_hello(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    s_samples_init(s);
    Crieur__Envelope env = s_envelope(s, CRIEUR__ENVELOPE__BODY_HELLO);
    s_expect_env_ok(&env);

    s->hello.capacity = 0;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    s->hello.capacity = 1;
    s_expect_env_ok(&env);

    s->hello.worker_id = "";
    s_expect_env_err(&env, CR_WIRE_INVALID);
    s->hello.worker_id = "w";
    s_expect_env_ok(&env);

    s->hello.role = CRIEUR__ROLE__ROLE_UNKNOWN;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    s->hello.role = CRIEUR__ROLE__ROLE_MONITOR;
    s_expect_env_ok(&env);

    /* An empty Hello message: every field missing. */
    Crieur__Hello empty = CRIEUR__HELLO__INIT;
    env.hello = &empty;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    free(s);
}

static void test_reject_invalid_task(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    Crieur__Envelope env;

    /* job_id 0 and negative, in either task of the batch. */
    static const int64_t bad_ids[] = {0, -1, INT64_MIN};
    for (size_t i = 0; i < 3; i++) {
        for (int which = 0; which < 2; which++) {
            s_samples_init(s);
            s->tasks[which]->job_id = bad_ids[i];
            env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
            s_expect_env_err(&env, CR_WIRE_INVALID);
        }
    }
    /* attempt 0 */
    for (int which = 0; which < 2; which++) {
        s_samples_init(s);
        s->tasks[which]->attempt = 0;
        env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
        s_expect_env_err(&env, CR_WIRE_INVALID);
    }
    /* A publish task without its payload. */
    s_samples_init(s);
    s->task_publish.payload_case = CRIEUR__TASK__PAYLOAD__NOT_SET;
    s->task_publish.publish = NULL;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
    s_expect_env_err(&env, CR_WIRE_INVALID);
    /* A publish task without its account. */
    s_samples_init(s);
    s->task_publish.account = NULL;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
    s_expect_env_err(&env, CR_WIRE_INVALID);
    /* Neither. */
    s->task_publish.payload_case = CRIEUR__TASK__PAYLOAD__NOT_SET;
    s->task_publish.publish = NULL;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    /* The same task as a monitor task needs neither. */
    s->task_publish.kind = CRIEUR__JOB_KIND__KIND_MONITOR;
    s_expect_env_ok(&env);
    /* An empty Task message in a batch. */
    s_samples_init(s);
    Crieur__Task empty = CRIEUR__TASK__INIT;
    s->tasks[1] = &empty;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
    s_expect_env_err(&env, CR_WIRE_INVALID);
    free(s);
}

static void test_reject_invalid_result(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    Crieur__Envelope env;
    /* Outcome not set, just past the last, far out, negative on the wire. */
    static const int bad_outcomes[] = {CRIEUR__OUTCOME__OUTCOME_UNKNOWN,
                                       CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED + 1, 99, INT32_MAX,
                                       -1, INT32_MIN};
    for (size_t i = 0; i < sizeof bad_outcomes / sizeof bad_outcomes[0]; i++) {
        for (int which = 0; which < 7; which += 6) {
            s_samples_init(s);
            s->results[which].outcome = (Crieur__Outcome)bad_outcomes[i];
            env = s_envelope(s, CRIEUR__ENVELOPE__BODY_RESULTS);
            s_expect_env_err(&env, CR_WIRE_INVALID);
        }
    }
    s_samples_init(s);
    s->results[3].job_id = 0;
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_RESULTS);
    s_expect_env_err(&env, CR_WIRE_INVALID);
    s_samples_init(s);
    s->results[3].job_id = -5;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    s_samples_init(s);
    s->results[6].attempt = 0;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    /* An empty Result message. */
    s_samples_init(s);
    Crieur__Result empty = CRIEUR__RESULT__INIT;
    s->result_ptrs[2] = &empty;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    /* Cancel of job 0 or a negative job. */
    s_samples_init(s);
    env = s_envelope(s, CRIEUR__ENVELOPE__BODY_CANCEL);
    s->cancel.job_id = 0;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    s->cancel.job_id = INT64_MIN;
    s_expect_env_err(&env, CR_WIRE_INVALID);
    free(s);
}

static void test_reject_malformed(void **state)
{
    (void)state;
    /* Hand-written broken frames. */
    static const struct {
        uint8_t b[16];
        size_t n;
    } frames[] = {
        {{0x08}, 1},                                     /* tag without value */
        {{0x08, 0x80}, 2},                               /* unterminated varint */
        {{0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, 12}, /* 11-byte varint */
        {{0x00, 0x00}, 2},                               /* field number 0 */
        {{0x08, 0x01, 0x52, 0x05, 0x0A}, 5},             /* hello longer than the frame */
        {{0x08, 0x01, 0x52, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, 8}, /* absurd length */
        {{0x08, 0x01, 0x52, 0x02, 0x0A, 0x05}, 6},       /* worker_id longer than hello */
        {{0x08, 0x01, 0x0F}, 3},                         /* wire type 7 */
        {{0x08, 0x01, 0x53}, 3},                         /* field 10 as a start group */
        {{0x0A, 0x01, 0x01}, 3},                         /* version with wire type 2 */
    };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        cr_wire_err_t err;
        Crieur__Envelope *e = s_unpack(frames[i].b, frames[i].n, &err);
        if (e || err != CR_WIRE_MALFORMED)
            fail_msg("frame %zu: expected malformed, got %s", i, cr_wire_err_name(err));
    }
}

/* Two frames glued together are one valid protobuf message in which the
 * later body wins: the earlier one must be released (ASan checks the leak). */
static void test_two_bodies_last_wins(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    s_samples_init(s);
    for (size_t i = 0; i < N_CASES; i++) {
        for (size_t j = 0; j < N_CASES; j++) {
            Crieur__Envelope a = s_envelope(s, s_all_cases[i]);
            Crieur__Envelope b = s_envelope(s, s_all_cases[j]);
            uint8_t *fa, *fb;
            size_t la, lb;
            assert_int_equal(cr_wire_pack(&a, &fa, &la), 0);
            assert_int_equal(cr_wire_pack(&b, &fb, &lb), 0);
            uint8_t *both = malloc(la + lb);
            assert_non_null(both);
            memcpy(both, fa, la);
            memcpy(both + la, fb, lb);
            cr_wire_err_t err;
            Crieur__Envelope *e = s_unpack(both, la + lb, &err);
            if (!e) fail_msg("%d then %d: %s", (int)s_all_cases[i], (int)s_all_cases[j],
                             cr_wire_err_name(err));
            assert_int_equal(e->body_case, s_all_cases[j]);
            if (i != j) s_envelope_eq(&b, e); /* the same field twice merges instead */
            s_assert_invariants(e);
            cr_wire_free(&e);
            free(both);
            free(fa);
            free(fb);
        }
    }
    free(s);
}

/* Every proper prefix of every valid frame is rejected: the body is the last
 * field, so a cut frame is either missing its body or cut inside it. */
static void test_reject_truncations(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    s_samples_init(s);
    for (size_t k = 0; k < N_CASES; k++) {
        Crieur__Envelope env = s_envelope(s, s_all_cases[k]);
        uint8_t *buf;
        size_t len;
        assert_int_equal(cr_wire_pack(&env, &buf, &len), 0);
        assert_true(len >= 3);
        assert_int_equal(buf[0], 0x08); /* version, field 1 */
        assert_int_equal(buf[1], 0x01);
        for (size_t cut = 0; cut < len; cut++) {
            cr_wire_err_t want = cut == 0 ? CR_WIRE_BAD_VERSION
                                 : cut == 2 ? CR_WIRE_NO_BODY
                                            : CR_WIRE_MALFORMED;
            cr_wire_err_t err;
            Crieur__Envelope *e = s_unpack(buf, cut, &err);
            if (e || err != want)
                fail_msg("case %d cut at %zu of %zu: expected %s, got %s", (int)s_all_cases[k],
                         cut, len, cr_wire_err_name(want), cr_wire_err_name(err));
        }
        assert_int_equal(s_decode_any(buf, len), CR_WIRE_OK);
        free(buf);
    }
    free(s);
}

/* 10,000 random buffers of random lengths: no crash, no leak, no read past
 * the end, and a consistent verdict. Almost all of them are malformed or
 * have a bad version; the few that happen to decode as version 1 must still
 * be judged as the invariants say. */
static void test_fuzz_random(void **state)
{
    (void)state;
    int counts[CR_WIRE__COUNT] = {0};
    uint8_t buf[1024];
    s_rng = 0x5DEECE66DULL;
    for (int n = 0; n < 10000; n++) {
        size_t len = (size_t)(s_next() % (n < 5000 ? 16 : sizeof buf));
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(s_next() >> 32);
        counts[s_decode_any(buf, len)]++;
    }
    /* Every single byte, and every pair of bytes. */
    for (unsigned a = 0; a < 256; a++) {
        buf[0] = (uint8_t)a;
        counts[s_decode_any(buf, 1)]++;
        for (unsigned b = 0; b < 256; b++) {
            buf[1] = (uint8_t)b;
            counts[s_decode_any(buf, 2)]++;
        }
    }
    int total = 10000 + 256 + 65536;
    print_message("random frames: %d malformed, %d bad version, %d no body, %d invalid, %d ok\n",
                  counts[CR_WIRE_MALFORMED], counts[CR_WIRE_BAD_VERSION], counts[CR_WIRE_NO_BODY],
                  counts[CR_WIRE_INVALID], counts[CR_WIRE_OK]);
    assert_int_equal(counts[CR_WIRE_TOO_LARGE], 0);
    assert_true(counts[CR_WIRE_MALFORMED] + counts[CR_WIRE_BAD_VERSION] > total * 99 / 100);
    /* Exactly one two-byte frame is "version 1, no body": 08 01. */
    assert_true(counts[CR_WIRE_NO_BODY] >= 1);
}

/* Every valid frame with each byte changed in several ways. */
static void test_fuzz_mutations(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    s_samples_init(s);
    s->publish.body = "short body \xC3\xA9"; /* keep the TaskBatch frame small */
    static const uint8_t xors[] = {0x01, 0x02, 0x08, 0x40, 0x7F, 0x80, 0xFF};
    s_rng = 0xC0FFEEULL;
    for (size_t k = 0; k < N_CASES; k++) {
        Crieur__Envelope env = s_envelope(s, s_all_cases[k]);
        uint8_t *buf;
        size_t len;
        assert_int_equal(cr_wire_pack(&env, &buf, &len), 0);
        for (size_t i = 0; i < len; i++) {
            uint8_t saved = buf[i];
            for (size_t x = 0; x < sizeof xors; x++) {
                buf[i] = saved ^ xors[x];
                s_decode_any(buf, len);
            }
            buf[i] = (uint8_t)s_next();
            s_decode_any(buf, len);
            buf[i] = saved;
        }
        /* A valid frame followed by garbage. */
        uint8_t *longer = malloc(len + 8);
        assert_non_null(longer);
        memcpy(longer, buf, len);
        for (size_t extra = 1; extra <= 8; extra++) {
            longer[len + extra - 1] = (uint8_t)s_next();
            s_decode_any(longer, len + extra);
        }
        free(longer);
        free(buf);
    }
    free(s);
}

static void test_err_names(void **state)
{
    (void)state;
    assert_string_equal(cr_wire_err_name(CR_WIRE_OK), "ok");
    assert_string_equal(cr_wire_err_name(CR_WIRE_TOO_LARGE), "too_large");
    assert_string_equal(cr_wire_err_name(CR_WIRE_MALFORMED), "malformed");
    assert_string_equal(cr_wire_err_name(CR_WIRE_BAD_VERSION), "bad_version");
    assert_string_equal(cr_wire_err_name(CR_WIRE_NO_BODY), "no_body");
    assert_string_equal(cr_wire_err_name(CR_WIRE_INVALID), "invalid");
    assert_string_equal(cr_wire_err_name(CR_WIRE__COUNT), "unknown");
    assert_string_equal(cr_wire_err_name((cr_wire_err_t)-1), "unknown");
    assert_string_equal(cr_wire_err_name((cr_wire_err_t)1000), "unknown");
}

/* ---------------------------------------------------------------------------
 * ZeroMQ. */

static void *s_socket(void *ctx, int type)
{
    void *sock = zmq_socket(ctx, type);
    assert_non_null(sock);
    int linger = 0, timeout = 5000;
    assert_int_equal(zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger), 0);
    assert_int_equal(zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout), 0);
    return sock;
}

/* Receives one frame; *more tells whether another part follows. */
static void s_recv(void *sock, zmq_msg_t *msg, int *more)
{
    assert_int_equal(zmq_msg_init(msg), 0);
    int rc = zmq_msg_recv(msg, sock, 0);
    if (rc < 0) fail_msg("zmq_msg_recv: %s", zmq_strerror(zmq_errno()));
    *more = zmq_msg_more(msg);
}

static Crieur__Envelope *s_recv_envelope(void *sock, cr_wire_err_t *err)
{
    zmq_msg_t msg;
    int more;
    s_recv(sock, &msg, &more);
    assert_false(more); /* exactly one frame */
    Crieur__Envelope *e = s_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), err);
    zmq_msg_close(&msg);
    return e;
}

static void test_send_pair(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    s_samples_init(s);
    void *ctx = zmq_ctx_new();
    assert_non_null(ctx);
    void *a = s_socket(ctx, ZMQ_PAIR), *b = s_socket(ctx, ZMQ_PAIR);
    assert_int_equal(zmq_bind(a, "inproc://crieur-test-pair"), 0);
    assert_int_equal(zmq_connect(b, "inproc://crieur-test-pair"), 0);

    /* Every type, both directions. */
    for (size_t k = 0; k < N_CASES; k++) {
        Crieur__Envelope env = s_envelope(s, s_all_cases[k]);
        env.version = 0;
        void *from = k % 2 ? a : b, *to = k % 2 ? b : a;
        assert_int_equal(cr_wire_send(from, NULL, 0, &env), 0);
        assert_int_equal(env.version, CR_PROTO_VERSION);
        cr_wire_err_t err;
        Crieur__Envelope *e = s_recv_envelope(to, &err);
        if (!e) fail_msg("received frame rejected as %s", cr_wire_err_name(err));
        s_envelope_eq(&env, e);
        cr_wire_free(&e);
    }
    /* An invalid message is sent as is; the receiver is the one who judges. */
    s->hello.capacity = 0;
    Crieur__Envelope env = s_envelope(s, CRIEUR__ENVELOPE__BODY_HELLO);
    assert_int_equal(cr_wire_send(b, NULL, 0, &env), 0);
    cr_wire_err_t err;
    assert_null(s_recv_envelope(a, &err));
    assert_int_equal(err, CR_WIRE_INVALID);

    zmq_close(a);
    zmq_close(b);
    assert_int_equal(zmq_ctx_term(ctx), 0);
    free(s);
}

static void test_send_dealer_router(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    s_samples_init(s);
    void *ctx = zmq_ctx_new();
    assert_non_null(ctx);
    void *router = s_socket(ctx, ZMQ_ROUTER);
    int one = 1;
    assert_int_equal(zmq_setsockopt(router, ZMQ_ROUTER_MANDATORY, &one, sizeof one), 0);
    assert_int_equal(zmq_bind(router, "inproc://crieur-test-router"), 0);
    void *dealer = s_socket(ctx, ZMQ_DEALER);
    assert_int_equal(zmq_setsockopt(dealer, ZMQ_ROUTING_ID, "worker-7", 8), 0);
    assert_int_equal(zmq_connect(dealer, "inproc://crieur-test-router"), 0);

    /* DEALER -> ROUTER: the router sees the identity frame, then the envelope. */
    Crieur__Envelope hello = s_envelope(s, CRIEUR__ENVELOPE__BODY_HELLO);
    assert_int_equal(cr_wire_send(dealer, NULL, 0, &hello), 0);
    zmq_msg_t id, body;
    int more;
    s_recv(router, &id, &more);
    assert_true(more);
    assert_int_equal(zmq_msg_size(&id), 8);
    assert_memory_equal(zmq_msg_data(&id), "worker-7", 8);
    s_recv(router, &body, &more);
    assert_false(more);
    cr_wire_err_t err;
    Crieur__Envelope *e = s_unpack(zmq_msg_data(&body), zmq_msg_size(&body), &err);
    assert_non_null(e);
    assert_int_equal(err, CR_WIRE_OK);
    s_envelope_eq(&hello, e);
    cr_wire_free(&e);
    zmq_msg_close(&body);

    /* ROUTER -> DEALER, addressed by the identity just received: the dealer
     * gets one frame. */
    Crieur__Envelope tasks = s_envelope(s, CRIEUR__ENVELOPE__BODY_TASKS);
    assert_int_equal(cr_wire_send(router, zmq_msg_data(&id), zmq_msg_size(&id), &tasks), 0);
    zmq_msg_close(&id);
    e = s_recv_envelope(dealer, &err);
    assert_non_null(e);
    s_envelope_eq(&tasks, e);
    cr_wire_free(&e);

    /* An unknown peer on a mandatory router: EHOSTUNREACH, nothing sent. */
    Crieur__Envelope cancel = s_envelope(s, CRIEUR__ENVELOPE__BODY_CANCEL);
    errno = 0;
    assert_int_equal(cr_wire_send(router, "nobody", 6, &cancel), -1);
    assert_int_equal(errno, EHOSTUNREACH);
    /* The router still works after the failure. */
    assert_int_equal(cr_wire_send(router, "worker-7", 8, &cancel), 0);
    e = s_recv_envelope(dealer, &err);
    assert_non_null(e);
    s_envelope_eq(&cancel, e);
    cr_wire_free(&e);

    zmq_close(dealer);
    zmq_close(router);
    assert_int_equal(zmq_ctx_term(ctx), 0);
    free(s);
}

/* cr_wire_send never blocks: EAGAIN with no peer or at the high-water mark. */
static void test_send_nonblocking(void **state)
{
    (void)state;
    samples_t *s = malloc(sizeof *s);
    assert_non_null(s);
    s_samples_init(s);
    void *ctx = zmq_ctx_new();
    assert_non_null(ctx);
    Crieur__Envelope hb = s_envelope(s, CRIEUR__ENVELOPE__BODY_HEARTBEAT);

    void *lonely = s_socket(ctx, ZMQ_DEALER);
    errno = 0;
    assert_int_equal(cr_wire_send(lonely, NULL, 0, &hb), -1);
    assert_int_equal(errno, EAGAIN);

    void *router = s_socket(ctx, ZMQ_ROUTER);
    int hwm = 1;
    assert_int_equal(zmq_setsockopt(router, ZMQ_RCVHWM, &hwm, sizeof hwm), 0);
    assert_int_equal(zmq_bind(router, "inproc://crieur-test-hwm"), 0);
    void *dealer = s_socket(ctx, ZMQ_DEALER);
    assert_int_equal(zmq_setsockopt(dealer, ZMQ_SNDHWM, &hwm, sizeof hwm), 0);
    assert_int_equal(zmq_connect(dealer, "inproc://crieur-test-hwm"), 0);
    int sent = 0, rc;
    while ((rc = cr_wire_send(dealer, NULL, 0, &hb)) == 0 && sent < 10000) sent++;
    assert_int_equal(rc, -1);
    assert_int_equal(errno, EAGAIN);
    assert_true(sent >= 1);
    /* What was queued is intact. */
    zmq_msg_t id;
    int more;
    s_recv(router, &id, &more);
    assert_true(more);
    zmq_msg_close(&id);
    cr_wire_err_t err;
    Crieur__Envelope *e = s_recv_envelope(router, &err);
    assert_non_null(e);
    s_envelope_eq(&hb, e);
    cr_wire_free(&e);

    zmq_close(lonely);
    zmq_close(dealer);
    zmq_close(router);
    assert_int_equal(zmq_ctx_term(ctx), 0);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_round_trip_edges),
        cmocka_unit_test(test_result_rate_fields),
        cmocka_unit_test(test_reject_empty),
        cmocka_unit_test(test_reject_version),
        cmocka_unit_test(test_reject_no_body),
        cmocka_unit_test(test_reject_too_large),
        cmocka_unit_test(test_reject_invalid_hello),
        cmocka_unit_test(test_reject_invalid_task),
        cmocka_unit_test(test_reject_invalid_result),
        cmocka_unit_test(test_reject_malformed),
        cmocka_unit_test(test_two_bodies_last_wins),
        cmocka_unit_test(test_reject_truncations),
        cmocka_unit_test(test_fuzz_random),
        cmocka_unit_test(test_fuzz_mutations),
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_send_pair),
        cmocka_unit_test(test_send_dealer_router),
        cmocka_unit_test(test_send_nonblocking),
    };
    return cmocka_run_group_tests(tests, 0, NULL);
}
