/* test_media_live: the Mastodon and Bluesky adapters' image and reply flows
 * against a real crieur-sandbox over HTTP, through the worker runtime's HTTP
 * layer (cr_http on curl multi). Each call is stepped exactly as the worker
 * steps it (requests, CR_STEP_WAIT delays, results); what the platform
 * stored is then read back from the sandbox. The sandbox binary comes from
 * CRIEUR_SANDBOX_BIN; Mastodon media stay "processing" 600 ms, so the
 * 202/206 polling path runs. */
#include "cr_adapter.h"
#include "cr_bluesky.h"
#include "cr_http.h"
#include "cr_mastodon.h"
#include "cr_time.h"

#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

static pid_t s_pid;
static char s_base[64];
static char s_dir[64];
static cr_http_t *s_http;

/* ---- HTTP through cr_http --------------------------------------------- */

typedef struct {
    int done;
    long status;
    int curl_code;
    char *body;
    size_t body_len;
    char *headers;
    size_t headers_len;
} s_answer_t;

static void s_done(void *owner, const cr_http_resp_t *resp)
{
    s_answer_t *a = owner;
    a->done = 1;
    a->status = resp->status;
    a->curl_code = resp->curl_code;
    a->body = malloc(resp->body_len + 1);
    memcpy(a->body, resp->body ? resp->body : "", resp->body_len);
    a->body[resp->body_len] = '\0';
    a->body_len = resp->body_len;
    a->headers = strndup(resp->headers ? resp->headers : "", resp->headers_len);
    a->headers_len = resp->headers_len;
}

static void s_answer_clear(s_answer_t *a)
{
    free(a->body);
    free(a->headers);
    memset(a, 0, sizeof *a);
}

static void s_exchange(const cr_http_req_t *req, s_answer_t *a)
{
    memset(a, 0, sizeof *a);
    assert_non_null(cr_http_start(s_http, req, 10000, s_done, a));
    int64_t end = cr_mono_ms() + 15000;
    while (!a->done && cr_mono_ms() < end) {
        zmq_pollitem_t items[64];
        size_t n = cr_http_fill_pollitems(s_http, items, 64);
        long t = cr_http_timeout(s_http);
        zmq_poll(items, (int)n, t < 0 || t > 50 ? 50 : t);
        cr_http_process(s_http, items, n);
    }
    assert_true(a->done);
}

/* A plain request of the test itself; the answer's body parsed (NULL if not JSON). */
static json_t *s_call(const char *method, const char *path, const char *bearer,
                      const char *json_body, long *status)
{
    cr_http_req_t req;
    memset(&req, 0, sizeof req);
    char url[512];
    snprintf(url, sizeof url, "%s%s", s_base, path);
    assert_int_equal(cr_http_req_init(&req, method, url), 0);
    if (bearer) assert_int_equal(cr_http_req_bearer(&req, bearer), 0);
    if (json_body) {
        char *b = strdup(json_body);
        assert_int_equal(cr_http_req_body(&req, "application/json", &b, strlen(json_body)), 0);
    }
    s_answer_t a;
    s_exchange(&req, &a);
    cr_http_req_clear(&req);
    if (status) *status = a.status;
    json_t *j = json_loadb(a.body, a.body_len, 0, NULL);
    s_answer_clear(&a);
    return j;
}

/* Steps a call as the worker does; returns the result (owned by the caller). */
static cr_result_t s_run(const cr_adapter_t *ad, const Crieur__Task *task, int *waits)
{
    cr_call_t call;
    cr_call_init(&call, task);
    s_answer_t a;
    memset(&a, 0, sizeof a);
    cr_http_resp_t resp;
    const cr_http_resp_t *prev = NULL;
    *waits = 0;
    for (int i = 0; i < 200; i++) {
        call.now_ms = cr_now_ms();
        int rc = ad->step(&call, prev);
        s_answer_clear(&a);
        prev = NULL;
        if (rc == CR_STEP_DONE) break;
        if (rc == CR_STEP_WAIT) {
            (*waits)++;
            assert_true(call.wait_ms > 0 && call.wait_ms <= CR_MAX_STEP_WAIT_MS);
            usleep((useconds_t)call.wait_ms * 1000);
            continue;
        }
        assert_int_equal(rc, CR_STEP_REQUEST);
        s_exchange(&call.req, &a);
        cr_http_req_clear(&call.req);
        memset(&resp, 0, sizeof resp);
        resp.status = a.status;
        resp.curl_code = a.curl_code;
        resp.body = a.body;
        resp.body_len = a.body_len;
        resp.headers = a.headers;
        resp.headers_len = a.headers_len;
        resp.error = "";
        resp.sent = 1;
        prev = &resp;
    }
    cr_result_t r = call.result;
    memset(&call.result, 0, sizeof call.result);
    cr_call_clear(&call, ad);
    return r;
}

/* ---- fixtures ----------------------------------------------------------- */

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__PublishPayload pub;
    char api_base[128];
    char key[64];
} s_post_t;

static void s_post(s_post_t *p, const char *platform, const char *handle, const char *token,
                   const char *text, char **media, size_t n_media, const char *reply_to)
{
    static int seq;
    crieur__task__init(&p->task);
    crieur__account__init(&p->acc);
    crieur__publish_payload__init(&p->pub);
    p->task.job_id = ++seq;
    p->task.attempt = 1;
    p->task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
    p->task.due_ms = cr_now_ms();
    p->task.account = &p->acc;
    p->task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    p->task.publish = &p->pub;
    p->acc.id = strcmp(platform, "mastodon") == 0 ? 1 : 2;
    p->acc.platform = (char *)platform;
    p->acc.handle = (char *)handle;
    snprintf(p->api_base, sizeof p->api_base, "%s/%s", s_base, platform);
    p->acc.api_base = p->api_base;
    p->acc.token = (char *)token;
    snprintf(p->key, sizeof p->key, "live-%d-%lld", seq, (long long)cr_now_ms());
    p->pub.post_id = seq;
    p->pub.idempotency_key = p->key;
    p->pub.body = (char *)text;
    p->pub.media = media;
    p->pub.n_media = n_media;
    p->pub.in_reply_to = (char *)reply_to;
}

static void s_account(const char *platform, const char *handle, const char *token)
{
    char body[256];
    snprintf(body, sizeof body, "{\"platform\":\"%s\",\"handle\":\"%s\",\"token\":\"%s\"}",
             platform, handle, token);
    long st;
    json_decref(s_call("POST", "/_sandbox/accounts", NULL, body, &st));
    assert_int_equal(st, 201);
}

static int s_setup(void **state)
{
    (void)state;
    const char *bin = getenv("CRIEUR_SANDBOX_BIN");
    if (!bin || !*bin) fail_msg("CRIEUR_SANDBOX_BIN is not set");
    snprintf(s_dir, sizeof s_dir, "/tmp/crieur-live-XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    char port_file[128];
    snprintf(port_file, sizeof port_file, "%s/port", s_dir);
    s_pid = fork();
    assert_true(s_pid >= 0);
    if (s_pid == 0) {
        execl(bin, bin, "--listen", "127.0.0.1:0", "--port-file", port_file,
              "--mastodon-media-delay-ms", "600", (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (int i = 0; i < 200 && !port; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            if (fscanf(f, "%d", &port) != 1) port = 0;
            fclose(f);
        }
        if (!port) usleep(25000);
    }
    assert_true(port > 0);
    snprintf(s_base, sizeof s_base, "http://127.0.0.1:%d", port);
    s_http = cr_http_new(2000);
    assert_non_null(s_http);
    s_account("mastodon", "alice", "tok-alice");
    s_account("mastodon", "bob", "tok-bob");
    s_account("bluesky", "carol", "app-carol");
    s_account("bluesky", "dave", "app-dave");
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    cr_http_destroy(&s_http);
    if (s_pid > 0) {
        kill(s_pid, SIGTERM);
        waitpid(s_pid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void s_expect_ok(const cr_result_t *r)
{
    if (r->outcome != CRIEUR__OUTCOME__OUTCOME_OK)
        fail_msg("expected OK, got %s: %s (%s)", cr_outcome_name(r->outcome),
                 r->error ? r->error : "", r->error_code ? r->error_code : "");
}

static void s_expect_fail(cr_result_t *r, Crieur__Outcome o, const char *code)
{
    if (r->outcome != o || !r->error_code || strcmp(r->error_code, code) != 0)
        fail_msg("expected %s %s, got %s %s: %s", cr_outcome_name(o), code,
                 cr_outcome_name(r->outcome), r->error_code ? r->error_code : "",
                 r->error ? r->error : "");
    cr_result_clear(r);
}

/* The ledger's last entry for a platform. */
static json_t *s_last_entry(const char *platform)
{
    char path[128];
    snprintf(path, sizeof path, "/_sandbox/ledger?platform=%s", platform);
    json_t *j = s_call("GET", path, NULL, NULL, NULL);
    json_t *entries = json_object_get(j, "entries");
    json_t *last = json_incref(json_array_get(entries, json_array_size(entries) - 1));
    json_decref(j);
    return last;
}

/* ---- Mastodon ----------------------------------------------------------- */

static void test_mastodon_reply_with_images(void **state)
{
    (void)state;
    char file[128], url[160];
    snprintf(file, sizeof file, "%s/photo.gif", s_dir);
    FILE *f = fopen(file, "wb");
    fwrite("GIF89a\1\0\1\0\0\0\0;", 1, 14, f);
    fclose(f);
    snprintf(url, sizeof url, "%s/_sandbox/media/shot.jpg?bytes=4000", s_base);
    int waits;

    s_post_t p;
    s_post(&p, "mastodon", "bob", "tok-bob", "the parent", NULL, 0, NULL);
    cr_result_t r = s_run(&cr_mastodon_adapter, &p.task, &waits);
    s_expect_ok(&r);
    char parent[64];
    snprintf(parent, sizeof parent, "%s", r.platform_post_id);
    cr_result_clear(&r);

    /* a reply with an image by URL and one from a file, both processed late */
    char *media[] = {url, file};
    s_post(&p, "mastodon", "alice", "tok-alice", "a reply with two images", media, 2, parent);
    r = s_run(&cr_mastodon_adapter, &p.task, &waits);
    s_expect_ok(&r);
    assert_true(waits >= 2); /* each upload answered 202 and was polled */
    char path[128];
    snprintf(path, sizeof path, "/mastodon/api/v1/statuses/%s", r.platform_post_id);
    long st;
    json_t *status = s_call("GET", path, "tok-alice", NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(json_string_value(json_object_get(status, "in_reply_to_id")), parent);
    json_t *att = json_object_get(status, "media_attachments");
    assert_int_equal(json_array_size(att), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(att, 0), "type")),
                        "image");
    assert_string_equal(json_string_value(json_object_get(json_array_get(att, 1), "type")),
                        "gifv");
    json_t *entry = s_last_entry("mastodon");
    assert_int_equal(json_array_size(json_object_get(entry, "media")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(entry, "media"), 0)),
                        json_string_value(json_object_get(json_array_get(att, 0), "id")));
    json_decref(entry);
    json_decref(status);
    cr_result_clear(&r);
}

static void test_mastodon_media_errors(void **state)
{
    (void)state;
    int waits;
    s_post_t p;
    char bin[160], gone[160], file[128];
    snprintf(bin, sizeof bin, "%s/_sandbox/media/doc.bin?bytes=300", s_base);
    snprintf(gone, sizeof gone, "%s/_sandbox/media/x.png?status=404", s_base);
    snprintf(file, sizeof file, "%s/notes.txt", s_dir);
    FILE *f = fopen(file, "wb");
    fputs("not an image", f);
    fclose(f);
    json_t *before = s_call("GET", "/_sandbox/ledger?platform=mastodon", NULL, NULL, NULL);
    json_int_t count = json_integer_value(json_object_get(before, "count"));
    json_decref(before);

    char *m1[] = {bin};
    s_post(&p, "mastodon", "alice", "tok-alice", "bad image", m1, 1, NULL);
    cr_result_t r = s_run(&cr_mastodon_adapter, &p.task, &waits);
    s_expect_fail(&r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_not_image");
    char *m2[] = {gone};
    s_post(&p, "mastodon", "alice", "tok-alice", "missing image", m2, 1, NULL);
    r = s_run(&cr_mastodon_adapter, &p.task, &waits);
    s_expect_fail(&r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_unavailable");
    char *m3[] = {file};
    s_post(&p, "mastodon", "alice", "tok-alice", "text file", m3, 1, NULL);
    r = s_run(&cr_mastodon_adapter, &p.task, &waits);
    s_expect_fail(&r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_not_image");
    char *m5[] = {file, file, file, file, file};
    s_post(&p, "mastodon", "alice", "tok-alice", "five", m5, 5, NULL);
    r = s_run(&cr_mastodon_adapter, &p.task, &waits);
    s_expect_fail(&r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "too_many_media");
    /* a reply to a status that does not exist: Mastodon's 404 */
    s_post(&p, "mastodon", "alice", "tok-alice", "reply to nothing", NULL, 0, "999999");
    r = s_run(&cr_mastodon_adapter, &p.task, &waits);
    s_expect_fail(&r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "404");

    json_t *after = s_call("GET", "/_sandbox/ledger?platform=mastodon", NULL, NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(after, "count")), count);
    json_decref(after);
}

/* ---- Bluesky ------------------------------------------------------------ */

static void test_bluesky_thread_with_images(void **state)
{
    (void)state;
    int waits;
    char url[160], file[128];
    snprintf(url, sizeof url, "%s/_sandbox/media/pic.webp?bytes=5000", s_base);
    snprintf(file, sizeof file, "%s/photo.png", s_dir);
    long st;
    cr_http_req_t req;
    memset(&req, 0, sizeof req);
    char gen[160];
    snprintf(gen, sizeof gen, "%s/_sandbox/media/p.png?bytes=2000", s_base);
    assert_int_equal(cr_http_req_init(&req, "GET", gen), 0);
    s_answer_t a;
    s_exchange(&req, &a);
    cr_http_req_clear(&req);
    FILE *f = fopen(file, "wb");
    assert_int_equal(fwrite(a.body, 1, a.body_len, f), 2000);
    fclose(f);
    s_answer_clear(&a);

    s_post_t p;
    s_post(&p, "bluesky", "dave.bsky.social", "app-dave", "thread root", NULL, 0, NULL);
    cr_result_t r = s_run(&cr_bluesky_adapter, &p.task, &waits);
    s_expect_ok(&r);
    char root[256];
    snprintf(root, sizeof root, "%s", r.platform_post_id);
    cr_result_clear(&r);

    /* a reply to the root with two images (URL and file) */
    char *media[] = {url, file};
    s_post(&p, "bluesky", "carol.bsky.social", "app-carol", "first reply, with images", media, 2,
           root);
    r = s_run(&cr_bluesky_adapter, &p.task, &waits);
    s_expect_ok(&r);
    char first[256];
    snprintf(first, sizeof first, "%s", r.platform_post_id);
    cr_result_clear(&r);
    json_t *entry = s_last_entry("bluesky");
    assert_string_equal(json_string_value(json_object_get(entry, "id")), first);
    assert_int_equal(json_array_size(json_object_get(entry, "media")), 2);
    json_decref(entry);

    /* a reply to the reply: its root is the thread's root */
    s_post(&p, "bluesky", "dave.bsky.social", "app-dave", "second reply", NULL, 0, first);
    r = s_run(&cr_bluesky_adapter, &p.task, &waits);
    s_expect_ok(&r);
    const char *rk = strrchr(r.platform_post_id, '/') + 1;
    char path[512], did[128];
    const char *d = r.platform_post_id + 5;
    snprintf(did, sizeof did, "%.*s", (int)(strchr(d, '/') - d), d);
    snprintf(path, sizeof path,
             "/bluesky/xrpc/com.atproto.repo.getRecord?repo=%s&collection=app.bsky.feed.post"
             "&rkey=%s",
             did, rk);
    json_t *rec = s_call("GET", path, NULL, NULL, &st);
    assert_int_equal(st, 200);
    json_t *reply = json_object_get(json_object_get(rec, "value"), "reply");
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "root"), "uri")),
                        root);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(reply, "parent"), "uri")), first);
    json_decref(rec);
    cr_result_clear(&r);
}

static void test_bluesky_errors(void **state)
{
    (void)state;
    int waits;
    s_post_t p;
    char bin[160], file[128];
    snprintf(bin, sizeof bin, "%s/_sandbox/media/doc.bin", s_base);
    snprintf(file, sizeof file, "%s/big.jpg", s_dir);
    FILE *f = fopen(file, "wb"); /* over Bluesky's 2,000,000 bytes */
    fwrite("\xff\xd8\xff\xe0", 1, 4, f);
    fseek(f, 2000001, SEEK_SET);
    fputc(0, f);
    fclose(f);

    char gone[200];
    char did_uri[128];
    json_t *e = s_last_entry("bluesky");
    const char *id = json_string_value(json_object_get(e, "id"));
    snprintf(did_uri, sizeof did_uri, "%.*s", (int)(strrchr(id, '/') - id), id);
    json_decref(e);
    snprintf(gone, sizeof gone, "%s/3kaaaaaaaaaa2", did_uri);
    s_post(&p, "bluesky", "carol.bsky.social", "app-carol", "reply to nothing", NULL, 0, gone);
    cr_result_t r = s_run(&cr_bluesky_adapter, &p.task, &waits);
    s_expect_fail(&r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "reply_parent_not_found");
    char *m1[] = {bin};
    s_post(&p, "bluesky", "carol.bsky.social", "app-carol", "bad image", m1, 1, NULL);
    r = s_run(&cr_bluesky_adapter, &p.task, &waits);
    s_expect_fail(&r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_not_image");
    char *m2[] = {file};
    s_post(&p, "bluesky", "carol.bsky.social", "app-carol", "too large", m2, 1, NULL);
    r = s_run(&cr_bluesky_adapter, &p.task, &waits);
    s_expect_fail(&r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_too_large");
    char *m5[] = {bin, bin, bin, bin, bin};
    s_post(&p, "bluesky", "carol.bsky.social", "app-carol", "five", m5, 5, NULL);
    r = s_run(&cr_bluesky_adapter, &p.task, &waits);
    s_expect_fail(&r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "too_many_media");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mastodon_reply_with_images),
        cmocka_unit_test(test_mastodon_media_errors),
        cmocka_unit_test(test_bluesky_thread_with_images),
        cmocka_unit_test(test_bluesky_errors),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
