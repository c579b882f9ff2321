/* test_worker_http: the worker runtime's HTTP path (curl multi driven from
 * zmq_poll) end to end: a fake broker on inproc:// sends Mastodon publish
 * tasks whose api_base is a tiny HTTP server on loopback, run in a thread,
 * that answers as told (success, error, hang, close, huge body, slow, with
 * rate-limit headers). Also: the rate-limit window a result carries is the
 * one of the task's most recent response that had the platform's headers,
 * never a media download's. */
#include "cr_adapters.h"
#include "cr_log.h"
#include "cr_time.h"
#include "cr_wire.h"
#include "cr_worker.h"

#include <arpa/inet.h>
#include <errno.h>
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

/* ---- fake platform ----------------------------------------------------- */

typedef enum {
    MODE_OK,    /* 200 Status JSON */
    MODE_422,   /* validation error */
    MODE_HANG,  /* read the request, never answer */
    MODE_CLOSE, /* read the request, close without answering */
    MODE_HUGE,  /* 200 with a 2 MiB body, no Content-Length */
    MODE_SLOW,  /* 200 after 150 ms */
    MODE_RATE_OK,  /* 200 with X-RateLimit-* (300, 299 left, reset in 5 min) */
    MODE_RATE_429, /* 429 with X-RateLimit-* (300, 0 left, reset in 2 min) */
    MODE_MEDIA,    /* by path: an image download, a media upload and a status */
    MODE_MEDIA_QUIET, /* the same, only the image download has rate-limit headers */
} mode_t_;

typedef struct {
    int lfd;
    int port;
    int stop_pipe[2];
    pthread_t thread;
    atomic_int mode;
    atomic_int requests;
    pthread_mutex_t lock;
    char last_request[8192];
    int hung[64];
    int nhung;
} srv_t;

static void s_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* Reads one request (headers + Content-Length body). */
static int s_read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0) return -1;
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r <= 0) return -1;
        len += (size_t)r;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        size_t want = 0;
        for (char *q = buf; q < end; q++)
            if (strncasecmp(q, "content-length:", 15) == 0) want = strtoul(q + 15, NULL, 10);
        if (len >= (size_t)(end + 4 - buf) + want) return (int)len;
        if (len + 1 >= cap) return -1;
    }
}

/* "X-RateLimit-*" lines as Mastodon sends them, reset in_ms from now. */
static void s_rate_lines(char *out, size_t cap, int limit, int remaining, int64_t in_ms)
{
    char reset[40];
    cr_time_format_iso8601(cr_now_ms() + in_ms, reset, sizeof reset);
    snprintf(out, cap,
             "X-RateLimit-Limit: %d\r\nX-RateLimit-Remaining: %d\r\nX-RateLimit-Reset: %s\r\n",
             limit, remaining, reset);
}

static void s_respond(srv_t *s, int fd, int mode, const char *req)
{
    char out[1024], rate[256];
    const char *body;
    switch (mode) {
    case MODE_RATE_OK:
        s_rate_lines(rate, sizeof rate, 300, 299, 300000);
        body = "{\"id\":\"123\",\"uri\":\"http://x/users/a/statuses/123\",\"url\":\"http://x/@a/123\"}";
        snprintf(out, sizeof out,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n%s",
                 rate, strlen(body), body);
        s_write_all(fd, out, strlen(out));
        break;
    case MODE_RATE_429:
        s_rate_lines(rate, sizeof rate, 300, 0, 120000);
        body = "{\"error\":\"Too many requests\"}";
        snprintf(out, sizeof out,
                 "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n%s"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 rate, strlen(body), body);
        s_write_all(fd, out, strlen(out));
        break;
    case MODE_MEDIA:
    case MODE_MEDIA_QUIET:
        if (strncmp(req, "GET /img.png ", 13) == 0) {
            /* an image host that happens to send rate-limit headers: not the platform's */
            s_rate_lines(rate, sizeof rate, 7, 1, 60000);
            body = "\x89PNG\r\n\x1a\nnot-really-a-png-but-sniffed-as-one";
            snprintf(out, sizeof out,
                     "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n%sContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     rate, strlen(body), body);
        } else if (strncmp(req, "POST /api/v2/media ", 19) == 0) {
            s_rate_lines(rate, sizeof rate, 30, 29, 1800000); /* the media family */
            if (mode == MODE_MEDIA_QUIET) rate[0] = '\0';
            body = "{\"id\":\"m1\",\"type\":\"image\",\"url\":\"http://x/m1.png\"}";
            snprintf(out, sizeof out,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     rate, strlen(body), body);
        } else { /* the status, without rate-limit headers */
            body = "{\"id\":\"124\",\"uri\":\"http://x/users/a/statuses/124\",\"url\":\"http://x/@a/124\"}";
            snprintf(out, sizeof out,
                     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     strlen(body), body);
        }
        s_write_all(fd, out, strlen(out));
        break;
    case MODE_OK:
    case MODE_SLOW:
        if (mode == MODE_SLOW) usleep(150 * 1000);
        body = "{\"id\":\"123\",\"uri\":\"http://x/users/a/statuses/123\",\"url\":\"http://x/@a/123\"}";
        snprintf(out, sizeof out,
                 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n%s",
                 strlen(body), body);
        s_write_all(fd, out, strlen(out));
        break;
    case MODE_422:
        body = "{\"error\":\"Validation failed: Text character limit of 500 exceeded\"}";
        snprintf(out, sizeof out,
                 "HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                 strlen(body), body);
        s_write_all(fd, out, strlen(out));
        break;
    case MODE_HUGE: {
        const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Connection: close\r\n\r\n";
        s_write_all(fd, head, strlen(head));
        char chunk[65536];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < 32; i++) s_write_all(fd, chunk, sizeof chunk);
        break;
    }
    case MODE_HANG:
        pthread_mutex_lock(&s->lock);
        if (s->nhung < 64) {
            s->hung[s->nhung++] = fd;
            fd = -1;
        }
        pthread_mutex_unlock(&s->lock);
        break;
    case MODE_CLOSE:
    default:
        break;
    }
    if (fd >= 0) close(fd);
}

static void *s_server(void *arg)
{
    srv_t *s = arg;
    for (;;) {
        struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) continue;
        if (p[1].revents) break;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        char buf[8192];
        if (s_read_request(fd, buf, sizeof buf) < 0) {
            close(fd);
            continue;
        }
        pthread_mutex_lock(&s->lock);
        snprintf(s->last_request, sizeof s->last_request, "%s", buf);
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_add(&s->requests, 1);
        s_respond(s, fd, atomic_load(&s->mode), buf);
    }
    return NULL;
}

static srv_t *s_srv_start(void)
{
    srv_t *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
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
    for (int i = 0; i < s->nhung; i++) close(s->hung[i]);
    close(s->lfd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->lock);
    free(s);
    *sp = NULL;
}

/* A port with nothing listening. */
static int s_dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- fake broker and worker -------------------------------------------- */

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
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d/", f->srv->port);
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    snprintf(f->endpoint, sizeof f->endpoint, "inproc://fake-broker-http-%d", ++seq);
    assert_int_equal(zmq_bind(f->router, f->endpoint), 0);
    snprintf(f->wid, sizeof f->wid, "w-http-%d", seq);
    cr_worker_opts_t o = {
        .broker = f->endpoint,
        .worker_id = f->wid,
        .role = CRIEUR__ROLE__ROLE_PUBLISHER,
        .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
        .adapters = cr_adapters_builtin(),
        .capacity = 32,
        .request_timeout_ms = 400,
        .connect_timeout_ms = 400,
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

static Crieur__Envelope *s_expect(fx_t *f, Crieur__Envelope__BodyCase want, long timeout_ms)
{
    int64_t end = cr_mono_ms() + timeout_ms;
    while (cr_mono_ms() < end) {
        cr_worker_step(f->worker, 5);
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
    }
    fail_msg("no message of type %d within %ld ms", (int)want, timeout_ms);
    return NULL;
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
    assert_int_equal(c->credit->slots, 32);
    cr_wire_free(&c);
}

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__PublishPayload pub;
    char key[32];
} task_t;

static void s_task(task_t *t, int64_t job, const char *base)
{
    crieur__task__init(&t->task);
    crieur__account__init(&t->acc);
    crieur__publish_payload__init(&t->pub);
    t->task.job_id = job;
    t->task.attempt = 1;
    t->task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
    t->task.account = &t->acc;
    t->task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    t->task.publish = &t->pub;
    t->acc.id = 7;
    t->acc.platform = "mastodon";
    t->acc.api_base = (char *)base;
    t->acc.token = "tok-123";
    t->pub.post_id = job;
    t->pub.body = "Bonjour \"monde\" 🎉";
    snprintf(t->key, sizeof t->key, "key-%lld", (long long)job);
    t->pub.idempotency_key = t->key;
}

static void s_send_tasks(fx_t *f, task_t *tasks, size_t n)
{
    Crieur__Task *ptrs[64];
    for (size_t i = 0; i < n; i++) ptrs[i] = &tasks[i].task;
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__TaskBatch b = CRIEUR__TASK_BATCH__INIT;
    b.tasks = ptrs;
    b.n_tasks = n;
    env.body_case = CRIEUR__ENVELOPE__BODY_TASKS;
    env.tasks = &b;
    assert_int_equal(cr_wire_send(f->router, f->wid, strlen(f->wid), &env), 0);
}

/* Runs one task in the given server mode and returns its result batch. */
static Crieur__Envelope *s_run_one(fx_t *f, int mode, const char *base, long timeout_ms)
{
    s_handshake(f);
    atomic_store(&f->srv->mode, mode);
    task_t t;
    s_task(&t, 1, base);
    s_send_tasks(f, &t, 1);
    Crieur__Envelope *env = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, timeout_ms);
    assert_int_equal(env->results->n_results, 1);
    assert_int_equal(env->results->credit, 1);
    return env;
}

/* ---- tests ------------------------------------------------------------- */

static void test_publish_ok(void **state)
{
    fx_t *f = *state;
    Crieur__Envelope *env = s_run_one(f, MODE_OK, f->base, 3000);
    const Crieur__Result *r = env->results->results[0];
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(r->http_status, 200);
    assert_string_equal(r->platform_post_id, "123");
    assert_string_equal(r->url, "http://x/@a/123");
    assert_true(r->started_ms > 0 && r->finished_ms >= r->started_ms);
    /* no rate-limit headers: nothing said */
    assert_int_equal(r->rate_known, 0);
    assert_int_equal(r->rate_limit, 0);
    assert_int_equal(r->rate_remaining, 0);
    assert_true(r->rate_reset_ms == 0);
    cr_wire_free(&env);
    pthread_mutex_lock(&f->srv->lock);
    const char *req = f->srv->last_request;
    assert_non_null(strstr(req, "POST /api/v1/statuses HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "Authorization: Bearer tok-123\r\n"));
    assert_non_null(strstr(req, "Idempotency-Key: key-1\r\n"));
    assert_non_null(strstr(req, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(req, "User-Agent: crieur/0.1\r\n"));
    assert_null(strstr(req, "Expect:"));
    assert_non_null(strstr(req, "{\"status\":\"Bonjour \\\"monde\\\" 🎉\",\"visibility\":\"public\"}"));
    pthread_mutex_unlock(&f->srv->lock);
}

static void test_publish_422(void **state)
{
    fx_t *f = *state;
    Crieur__Envelope *env = s_run_one(f, MODE_422, f->base, 3000);
    const Crieur__Result *r = env->results->results[0];
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_int_equal(r->http_status, 422);
    assert_string_equal(r->error, "Validation failed: Text character limit of 500 exceeded");
    cr_wire_free(&env);
}

static void test_rate_headers_ok(void **state)
{
    fx_t *f = *state;
    int64_t t0 = cr_now_ms();
    Crieur__Envelope *env = s_run_one(f, MODE_RATE_OK, f->base, 3000);
    const Crieur__Result *r = env->results->results[0];
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(r->rate_known, 1);
    assert_int_equal(r->rate_limit, 300);
    assert_int_equal(r->rate_remaining, 299);
    assert_true(r->rate_reset_ms >= t0 + 300000 - 1000 && r->rate_reset_ms <= cr_now_ms() + 300000);
    cr_wire_free(&env);
}

static void test_rate_headers_429(void **state)
{
    fx_t *f = *state;
    int64_t t0 = cr_now_ms();
    Crieur__Envelope *env = s_run_one(f, MODE_RATE_429, f->base, 3000);
    const Crieur__Result *r = env->results->results[0];
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r->http_status, 429);
    assert_int_equal(r->rate_known, 1);
    assert_int_equal(r->rate_limit, 300);
    assert_int_equal(r->rate_remaining, 0);
    assert_true(r->rate_reset_ms >= t0 + 120000 - 1000 && r->rate_reset_ms <= cr_now_ms() + 120000);
    /* the adapter's retry time and the window's reset agree */
    assert_true(r->retry_at_ms == r->rate_reset_ms);
    cr_wire_free(&env);
}

/* Three requests: an image download (rate-limit headers of an image host:
 * ignored), the upload (the media family's window), the status (no
 * headers): the result carries the upload's window. */
static const Crieur__Result *s_media_publish(fx_t *f, int mode, Crieur__Envelope **env)
{
    s_handshake(f);
    atomic_store(&f->srv->mode, mode);
    task_t t;
    s_task(&t, 11, f->base);
    char img[96];
    snprintf(img, sizeof img, "http://127.0.0.1:%d/img.png", f->srv->port);
    char *media[1] = {img};
    t.pub.media = media;
    t.pub.n_media = 1;
    s_send_tasks(f, &t, 1);
    *env = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 5000);
    const Crieur__Result *r = (*env)->results->results[0];
    if (r->outcome != CRIEUR__OUTCOME__OUTCOME_OK) fail_msg("media publish: %s", r->error);
    assert_string_equal(r->platform_post_id, "124");
    assert_int_equal(atomic_load(&f->srv->requests), 3);
    return r;
}

static void test_rate_headers_last_that_had_them(void **state)
{
    fx_t *f = *state;
    Crieur__Envelope *env;
    const Crieur__Result *r = s_media_publish(f, MODE_MEDIA, &env);
    assert_int_equal(r->rate_known, 1);
    assert_int_equal(r->rate_limit, 30);
    assert_int_equal(r->rate_remaining, 29);
    assert_true(r->rate_reset_ms > cr_now_ms() + 1700000);
    cr_wire_free(&env);
}

/* Only the image download had rate-limit headers: nothing is known. */
static void test_rate_headers_not_from_downloads(void **state)
{
    fx_t *f = *state;
    Crieur__Envelope *env;
    const Crieur__Result *r = s_media_publish(f, MODE_MEDIA_QUIET, &env);
    assert_int_equal(r->rate_known, 0);
    assert_int_equal(r->rate_limit, 0);
    cr_wire_free(&env);
}

static void test_timeout_after_send(void **state)
{
    fx_t *f = *state;
    Crieur__Envelope *env = s_run_one(f, MODE_HANG, f->base, 3000);
    const Crieur__Result *r = env->results->results[0];
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(r->error_code, "curl:28");
    cr_wire_free(&env);
}

static void test_closed_after_send(void **state)
{
    fx_t *f = *state;
    Crieur__Envelope *env = s_run_one(f, MODE_CLOSE, f->base, 3000);
    const Crieur__Result *r = env->results->results[0];
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_wire_free(&env);
}

static void test_connection_refused(void **state)
{
    fx_t *f = *state;
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", s_dead_port());
    Crieur__Envelope *env = s_run_one(f, MODE_OK, base, 3000);
    const Crieur__Result *r = env->results->results[0];
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(r->error_code, "curl:7");
    cr_wire_free(&env);
}

static void test_huge_body(void **state)
{
    fx_t *f = *state;
    Crieur__Envelope *env = s_run_one(f, MODE_HUGE, f->base, 3000);
    const Crieur__Result *r = env->results->results[0];
    assert_int_equal(r->outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_non_null(strstr(r->error, "response too large"));
    cr_wire_free(&env);
}

static void test_many_concurrent(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    atomic_store(&f->srv->mode, MODE_OK);
    enum { N = 24 };
    task_t t[N];
    for (int i = 0; i < N; i++) s_task(&t[i], 100 + i, f->base);
    s_send_tasks(f, t, N);
    int got = 0;
    uint32_t credit = 0;
    while (got < N) {
        Crieur__Envelope *env = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 5000);
        for (size_t i = 0; i < env->results->n_results; i++)
            assert_int_equal(env->results->results[i]->outcome, CRIEUR__OUTCOME__OUTCOME_OK);
        got += (int)env->results->n_results;
        credit += env->results->credit;
        cr_wire_free(&env);
    }
    assert_int_equal(got, N);
    assert_int_equal(credit, N);
    assert_int_equal(atomic_load(&f->srv->requests), N);
}

static void test_stop_finishes_within_grace(void **state)
{
    fx_t *f = *state;
    s_handshake(f);
    atomic_store(&f->srv->mode, MODE_SLOW);
    task_t t;
    s_task(&t, 9, f->base);
    s_send_tasks(f, &t, 1);
    /* Let the request start, then stop: the result comes, then BYE. */
    for (int i = 0; i < 10; i++) cr_worker_step(f->worker, 5);
    cr_worker_stop(f->worker);
    Crieur__Envelope *env = s_expect(f, CRIEUR__ENVELOPE__BODY_RESULTS, 3000);
    assert_int_equal(env->results->results[0]->outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(env->results->credit, 0); /* stopping: no new credit */
    cr_wire_free(&env);
    env = s_expect(f, CRIEUR__ENVELOPE__BODY_BYE, 2000);
    cr_wire_free(&env);
    assert_int_equal(cr_worker_step(f->worker, 0), 0);
}

static void test_stop_abandons_after_grace(void **state)
{
    fx_t *f = *state; /* grace 1000 ms, request timeout 400 ms: lower the timeout's effect */
    cr_worker_set_timeouts(f->worker, 5000, 0, 200);
    s_handshake(f);
    atomic_store(&f->srv->mode, MODE_HANG);
    task_t t;
    s_task(&t, 10, f->base);
    s_send_tasks(f, &t, 1);
    for (int i = 0; i < 20 && atomic_load(&f->srv->requests) == 0; i++)
        cr_worker_step(f->worker, 10);
    cr_worker_stop(f->worker);
    int64_t t0 = cr_mono_ms();
    /* No result for the abandoned task: the BYE comes alone after the grace. */
    Crieur__Envelope *env = s_expect(f, CRIEUR__ENVELOPE__BODY_BYE, 2000);
    cr_wire_free(&env);
    assert_true(cr_mono_ms() - t0 >= 150);
    cr_worker_stats_t st;
    cr_worker_stats(f->worker, &st);
    assert_int_equal(st.results_sent, 0);
    assert_int_equal(st.tasks_aborted, 1);
}

int main(void)
{
    cr_log_init("test", CR_LOG_ERROR, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_ok, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_publish_422, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rate_headers_ok, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rate_headers_429, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rate_headers_last_that_had_them, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rate_headers_not_from_downloads, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_timeout_after_send, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_closed_after_send, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_huge_body, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stop_finishes_within_grace, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_stop_abandons_after_grace, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
