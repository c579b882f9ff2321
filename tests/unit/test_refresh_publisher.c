/* test_refresh_publisher: the real crieur-publisher refreshes tokens against
 * the real crieur-sandbox over HTTP, driven by this test playing the broker
 * (a ROUTER socket on loopback, as in test_worker_multi.c). For X, Threads
 * and LinkedIn: an expired token is refused on publish (AUTH_EXPIRED), a
 * TOKEN_REFRESH task comes back OK with Result.credentials, and a publish
 * with the new access token is accepted by the sandbox (its ledger says so).
 * X's rotation is seen end to end (the used refresh token is then refused),
 * and so is a Threads token that expired (AUTH_EXPIRED: reconnect).
 *
 * Needs CRIEUR_PUBLISHER_BIN and CRIEUR_SANDBOX_BIN (set by ctest). */
#include "cr_log.h"
#include "cr_time.h"
#include "cr_wire.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#define WID "w-refresh"
#define MAX_RESULTS 32

typedef struct {
    int64_t job_id;
    Crieur__Outcome outcome;
    char error[600];
    char post_id[128];
    char access[256];
    char refresh[256];
    int has_credentials;
    int64_t expires_at_ms;
} res_t;

typedef struct {
    char dir[64];
    char sandbox[64]; /* http://127.0.0.1:PORT */
    pid_t sandbox_pid, publisher_pid;
    void *ctx, *router;
    char ep[64];
    int64_t credit;
    int hellos;
    char hello_platforms[256]; /* "x,threads,..." as the HELLO listed them */
    res_t results[MAX_RESULTS];
    size_t nresults;
    int64_t next_job;
} fx_t;

/* ---- HTTP to the sandbox's control API -------------------------------- */

typedef struct {
    char *data;
    size_t len;
} body_t;

static size_t s_write(char *p, size_t size, size_t n, void *arg)
{
    body_t *b = arg;
    size_t add = size * n;
    char *grown = realloc(b->data, b->len + add + 1);
    if (!grown) return 0;
    memcpy(grown + b->len, p, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* METHOD sandbox+path [json]: the status; *out (if given) the body (free it). */
static long s_http(fx_t *f, const char *method, const char *path, const char *json, char **out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", f->sandbox, path);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    body_t b = {NULL, 0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    if (json) curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
    if (out) *out = b.data ? b.data : strdup("");
    else free(b.data);
    return status;
}

static void s_register(fx_t *f, const char *json)
{
    char *body = NULL;
    long st = s_http(f, "POST", "/_sandbox/accounts", json, &body);
    if (st != 201) fail_msg("registering %s: %ld %s", json, st, body);
    free(body);
}

/* A number from a flat search in the sandbox's JSON ("\"count\":"). */
static long long s_json_number(fx_t *f, const char *path, const char *key)
{
    char *body = NULL;
    assert_int_equal(s_http(f, "GET", path, NULL, &body), 200);
    const char *p = strstr(body, key);
    if (!p) fail_msg("%s: no %s in %s", path, key, body);
    long long v = strtoll(p + strlen(key), NULL, 10);
    free(body);
    return v;
}

/* ---- processes --------------------------------------------------------- */

static void s_start_sandbox(fx_t *f)
{
    const char *bin = getenv("CRIEUR_SANDBOX_BIN");
    char port_file[96];
    snprintf(port_file, sizeof port_file, "%s/port", f->dir);
    f->sandbox_pid = fork();
    assert_true(f->sandbox_pid >= 0);
    if (f->sandbox_pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 1);
        execl(bin, bin, "--listen", "127.0.0.1:0", "--port-file", port_file, "--x-client-id",
              "crieur-test-app", (char *)NULL);
        _exit(127);
    }
    int64_t end = cr_mono_ms() + 5000;
    for (;;) {
        FILE *fp = fopen(port_file, "r");
        int port = 0;
        if (fp) {
            if (fscanf(fp, "%d", &port) != 1) port = 0;
            fclose(fp);
        }
        if (port > 0) {
            snprintf(f->sandbox, sizeof f->sandbox, "http://127.0.0.1:%d", port);
            return;
        }
        if (cr_mono_ms() > end) fail_msg("the sandbox did not start");
        usleep(20000);
    }
}

static void s_start_publisher(fx_t *f)
{
    const char *bin = getenv("CRIEUR_PUBLISHER_BIN");
    char li_base[128];
    snprintf(li_base, sizeof li_base, "%s/linkedin", f->sandbox);
    f->publisher_pid = fork();
    assert_true(f->publisher_pid >= 0);
    if (f->publisher_pid == 0) {
        unsetenv("CRIEUR_CONFIG");
        unsetenv("CRIEUR_SETTINGS");
        unsetenv("CRIEUR_X_CLIENT_SECRET");
        setenv("CRIEUR_X_CLIENT_ID", "crieur-test-app", 1);
        setenv("CRIEUR_LINKEDIN_CLIENT_ID", "li-app", 1);
        setenv("CRIEUR_LINKEDIN_CLIENT_SECRET", "li-secret", 1);
        setenv("CRIEUR_LINKEDIN_OAUTH_BASE", li_base, 1);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 1);
        execl(bin, bin, "--broker", f->ep, "--worker-id", WID, "--capacity", "4", "--log-level",
              "warn", (char *)NULL);
        _exit(127);
    }
}

/* SIGTERM, then waits (SIGKILL after 5 s); the wait status, or -1. */
static int s_stop(pid_t *pid)
{
    if (*pid <= 0) return -1;
    kill(*pid, SIGTERM);
    int status = -1;
    int64_t end = cr_mono_ms() + 5000;
    while (waitpid(*pid, &status, WNOHANG) == 0) {
        if (cr_mono_ms() > end) {
            kill(*pid, SIGKILL);
            waitpid(*pid, &status, 0);
            break;
        }
        usleep(10000);
    }
    *pid = 0;
    return status;
}

/* ---- the broker's side ------------------------------------------------- */

static void s_send(fx_t *f, Crieur__Envelope *env)
{
    assert_int_equal(cr_wire_send(f->router, WID, strlen(WID), env), 0);
}

static void s_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void s_handle(fx_t *f, const Crieur__Envelope *env)
{
    switch (env->body_case) {
    case CRIEUR__ENVELOPE__BODY_HELLO: {
        f->hellos++;
        f->credit = 0;
        f->hello_platforms[0] = '\0';
        for (size_t i = 0; i < env->hello->n_platforms; i++) {
            size_t n = strlen(f->hello_platforms);
            snprintf(f->hello_platforms + n, sizeof f->hello_platforms - n, "%s,",
                     env->hello->platforms[i]);
        }
        Crieur__Envelope out = CRIEUR__ENVELOPE__INIT;
        Crieur__Welcome w = CRIEUR__WELCOME__INIT;
        w.broker_id = "test";
        w.heartbeat_ms = 1000;
        w.heartbeat_liveness = 10;
        w.max_tasks_per_batch = 10;
        out.body_case = CRIEUR__ENVELOPE__BODY_WELCOME;
        out.welcome = &w;
        s_send(f, &out);
        break;
    }
    case CRIEUR__ENVELOPE__BODY_CREDIT: f->credit += env->credit->slots; break;
    case CRIEUR__ENVELOPE__BODY_HEARTBEAT: {
        Crieur__Envelope out = CRIEUR__ENVELOPE__INIT;
        Crieur__Heartbeat h = CRIEUR__HEARTBEAT__INIT;
        out.body_case = CRIEUR__ENVELOPE__BODY_HEARTBEAT;
        out.heartbeat = &h;
        s_send(f, &out);
        break;
    }
    case CRIEUR__ENVELOPE__BODY_RESULTS:
        f->credit += env->results->credit;
        for (size_t i = 0; i < env->results->n_results; i++) {
            const Crieur__Result *r = env->results->results[i];
            assert_true(f->nresults < MAX_RESULTS);
            res_t *o = &f->results[f->nresults++];
            memset(o, 0, sizeof *o);
            o->job_id = r->job_id;
            o->outcome = r->outcome;
            s_copy(o->error, sizeof o->error, r->error);
            s_copy(o->post_id, sizeof o->post_id, r->platform_post_id);
            if (r->credentials) {
                o->has_credentials = 1;
                s_copy(o->access, sizeof o->access, r->credentials->access_token);
                s_copy(o->refresh, sizeof o->refresh, r->credentials->refresh_token);
                o->expires_at_ms = r->credentials->expires_at_ms;
            }
        }
        break;
    case CRIEUR__ENVELOPE__BODY_BYE: break;
    default: fail_msg("unexpected message %d from the publisher", (int)env->body_case);
    }
}

static void s_pump(fx_t *f, long ms)
{
    zmq_pollitem_t it = {f->router, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, ms) <= 0) return;
    char id[256];
    int idn = zmq_recv(f->router, id, sizeof id, ZMQ_DONTWAIT);
    if (idn < 0) return;
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, f->router, 0) >= 0);
    cr_wire_err_t err;
    Crieur__Envelope *env = cr_wire_unpack(zmq_msg_data(&m), zmq_msg_size(&m), &err);
    zmq_msg_close(&m);
    if (!env) fail_msg("the publisher sent an invalid frame: %s", cr_wire_err_name(err));
    s_handle(f, env);
    cr_wire_free(&env);
}

static const res_t *s_find(const fx_t *f, int64_t job)
{
    for (size_t i = 0; i < f->nresults; i++)
        if (f->results[i].job_id == job) return &f->results[i];
    return NULL;
}

/* Sends one task (within credit) and waits for its result. */
static const res_t *s_run(fx_t *f, Crieur__Task *t)
{
    int64_t end = cr_mono_ms() + 20000;
    while (f->credit <= 0) {
        if (cr_mono_ms() > end) fail_msg("no credit from the publisher");
        s_pump(f, 50);
    }
    t->job_id = ++f->next_job;
    t->attempt = 1;
    t->deadline_ms = cr_now_ms() + 20000;
    Crieur__Task *ptrs[1] = {t};
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    Crieur__TaskBatch batch = CRIEUR__TASK_BATCH__INIT;
    batch.tasks = ptrs;
    batch.n_tasks = 1;
    env.body_case = CRIEUR__ENVELOPE__BODY_TASKS;
    env.tasks = &batch;
    s_send(f, &env);
    f->credit--;
    const res_t *r;
    while (!(r = s_find(f, t->job_id))) {
        if (cr_mono_ms() > end) fail_msg("no result for job %lld", (long long)t->job_id);
        s_pump(f, 50);
    }
    return r;
}

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__PublishPayload pub;
    Crieur__RefreshPayload refresh;
    char api_base[128];
} task_t;

static void s_task(fx_t *f, task_t *t, const char *platform, const char *handle,
                   const char *token)
{
    memset(t, 0, sizeof *t);
    crieur__task__init(&t->task);
    crieur__account__init(&t->acc);
    snprintf(t->api_base, sizeof t->api_base, "%s/%s", f->sandbox, platform);
    t->acc.id = 1;
    t->acc.platform = (char *)platform;
    t->acc.handle = (char *)handle;
    t->acc.api_base = t->api_base;
    t->acc.token = (char *)token;
    t->task.account = &t->acc;
}

static const res_t *s_publish(fx_t *f, const char *platform, const char *handle,
                              const char *token, const char *text)
{
    task_t t;
    s_task(f, &t, platform, handle, token);
    crieur__publish_payload__init(&t.pub);
    t.pub.post_id = f->next_job + 1;
    t.pub.body = (char *)text;
    t.pub.idempotency_key = (char *)text;
    t.task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
    t.task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    t.task.publish = &t.pub;
    return s_run(f, &t.task);
}

static const res_t *s_refresh(fx_t *f, const char *platform, const char *handle,
                              const char *token, const char *refresh)
{
    task_t t;
    s_task(f, &t, platform, handle, token);
    crieur__refresh_payload__init(&t.refresh);
    t.refresh.refresh_token = (char *)refresh;
    t.task.kind = CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH;
    t.task.payload_case = CRIEUR__TASK__PAYLOAD_REFRESH;
    t.task.refresh = &t.refresh;
    return s_run(f, &t.task);
}

static void s_expect(const res_t *r, Crieur__Outcome want, const char *what)
{
    if (r->outcome != want)
        fail_msg("%s: outcome %d, expected %d (error: %s)", what, (int)r->outcome, (int)want,
                 r->error);
}

/* ---- fixture ----------------------------------------------------------- */

static int s_setup(void **state)
{
    if (!getenv("CRIEUR_PUBLISHER_BIN") || !getenv("CRIEUR_SANDBOX_BIN")) {
        *state = NULL;
        return 0;
    }
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/crieur-refresh-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    s_start_sandbox(f);
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_bind(f->router, "tcp://127.0.0.1:*"), 0);
    size_t n = sizeof f->ep;
    assert_int_equal(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->ep, &n), 0);
    s_start_publisher(f);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    if (!f) return 0;
    s_stop(&f->publisher_pid);
    s_stop(&f->sandbox_pid);
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    char path[128];
    snprintf(path, sizeof path, "%s/port", f->dir);
    unlink(path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- the test ---------------------------------------------------------- */

static void test_refresh_then_publish(void **state)
{
    fx_t *f = *state;
    if (!f) skip();
    /* expired access tokens, with what refreshes them */
    s_register(f, "{\"platform\":\"x\",\"handle\":\"acme\",\"token\":\"xOld\",\"expires_in\":0,"
                  "\"refresh_token\":\"xR1\"}");
    s_register(f, "{\"platform\":\"linkedin\",\"handle\":\"2414183\",\"token\":\"liOld\","
                  "\"expires_in\":0,\"refresh_token\":\"lrA\"}");
    s_register(f, "{\"platform\":\"threads\",\"handle\":\"1789\",\"token\":\"thA\","
                  "\"expires_in\":3600}");
    s_register(f, "{\"platform\":\"threads\",\"handle\":\"1790\",\"token\":\"thDead\","
                  "\"expires_in\":0}");

    int64_t end = cr_mono_ms() + 10000;
    while (f->hellos == 0 || f->credit == 0) {
        if (cr_mono_ms() > end) fail_msg("the publisher never said hello");
        s_pump(f, 50);
    }
    /* one adapter per (platform, kind), one name per platform in HELLO */
    const char *names[] = {",x,", ",threads,", ",linkedin,"};
    char listed[300];
    snprintf(listed, sizeof listed, ",%s", f->hello_platforms);
    for (size_t i = 0; i < 3; i++) {
        const char *p = strstr(listed, names[i]);
        if (!p || strstr(p + 1, names[i])) fail_msg("HELLO lists %s: %s", names[i], listed);
    }

    int64_t t0 = cr_now_ms();
    /* X: refused while expired; refreshed (rotated); then accepted */
    s_expect(s_publish(f, "x", "acme", "xOld", "before the refresh"),
             CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "X publish with the expired token");
    const res_t *r = s_refresh(f, "x", "acme", "xOld", "xR1");
    s_expect(r, CRIEUR__OUTCOME__OUTCOME_OK, "X refresh");
    assert_true(r->has_credentials);
    char x_access[256], x_refresh[256];
    s_copy(x_access, sizeof x_access, r->access);
    s_copy(x_refresh, sizeof x_refresh, r->refresh);
    assert_true(strlen(x_access) > 8 && strcmp(x_access, "xOld") != 0);
    assert_true(strlen(x_refresh) > 8 && strcmp(x_refresh, "xR1") != 0); /* rotated */
    assert_true(r->expires_at_ms >= t0 + 7200000LL - 5000 &&
                r->expires_at_ms <= cr_now_ms() + 7200000LL + 5000);
    r = s_publish(f, "x", "acme", x_access, "after the refresh on X");
    s_expect(r, CRIEUR__OUTCOME__OUTCOME_OK, "X publish with the new token");
    assert_true(r->post_id[0] != '\0');
    r = s_refresh(f, "x", "acme", x_access, "xR1");
    s_expect(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "X refresh with the used refresh token");
    assert_false(r->has_credentials);
    assert_non_null(strstr(r->error, "reconnected"));
    assert_null(strstr(r->error, "xR1"));
    s_expect(s_refresh(f, "x", "acme", x_access, x_refresh), CRIEUR__OUTCOME__OUTCOME_OK,
             "X refresh with the rotated refresh token");

    /* LinkedIn: the refresh token is kept (credentials say "unchanged") */
    s_expect(s_publish(f, "linkedin", "2414183", "liOld", "before the refresh"),
             CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "LinkedIn publish with the expired token");
    r = s_refresh(f, "linkedin", "2414183", "liOld", "lrA");
    s_expect(r, CRIEUR__OUTCOME__OUTCOME_OK, "LinkedIn refresh");
    assert_true(r->has_credentials);
    assert_string_equal(r->refresh, "");
    assert_true(r->expires_at_ms >= t0 + 60LL * 86400000 - 5000);
    char li_access[256];
    s_copy(li_access, sizeof li_access, r->access);
    s_expect(s_publish(f, "linkedin", "2414183", li_access, "after the refresh on LinkedIn"),
             CRIEUR__OUTCOME__OUTCOME_OK, "LinkedIn publish with the new token");

    /* Threads: refreshed with the access token itself; an expired one cannot be */
    r = s_refresh(f, "threads", "1789", "thA", "");
    s_expect(r, CRIEUR__OUTCOME__OUTCOME_OK, "Threads refresh");
    assert_true(r->has_credentials && strcmp(r->access, "thA") != 0);
    assert_string_equal(r->refresh, "");
    char th_access[256];
    s_copy(th_access, sizeof th_access, r->access);
    s_expect(s_publish(f, "threads", "1789", th_access, "after the refresh on Threads"),
             CRIEUR__OUTCOME__OUTCOME_OK, "Threads publish with the new token");
    r = s_refresh(f, "threads", "1790", "thDead", "");
    s_expect(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "Threads refresh of an expired token");
    assert_non_null(strstr(r->error, "190/463"));
    assert_null(strstr(r->error, "thDead"));

    /* the sandbox's own account of it */
    assert_int_equal(s_json_number(f, "/_sandbox/ledger?platform=x", "\"count\":"), 1);
    assert_int_equal(s_json_number(f, "/_sandbox/ledger?platform=linkedin", "\"count\":"), 1);
    assert_int_equal(s_json_number(f, "/_sandbox/ledger?platform=threads", "\"count\":"), 1);
    assert_int_equal(s_json_number(f, "/_sandbox/stats", "\"x\":"), 2);
    assert_int_equal(s_json_number(f, "/_sandbox/stats", "\"linkedin\":"), 1);
    assert_int_equal(s_json_number(f, "/_sandbox/stats", "\"threads\":"), 1);

    /* both stop cleanly (under sanitizers: no error, no leak) */
    int st = s_stop(&f->publisher_pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("publisher exit status %d", st);
    st = s_stop(&f->sandbox_pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("sandbox exit status %d", st);
}

int main(void)
{
    cr_log_init("test", CR_LOG_ERROR, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refresh_then_publish, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
