/* adapter_call: runs one publish call of a built-in adapter over real HTTP
 * (cr_http, curl multi driven by zmq_poll as in the worker), without a broker
 * or a database, and prints the result as one JSON line. For tests that need
 * a task the database cannot make yet (a reply, a reconciling attempt)
 * against the sandbox.
 *
 *   adapter_call --platform x --api-base URL --token T --handle H
 *                [--body TEXT] [--link URL] [--media REF]... [--reply-to ID]
 *                [--reconcile] [--due-ms MS] [--timeout-ms MS]
 *
 * Output: {"outcome":"ok","http_status":201,"platform_post_id":..,"url":..,
 * "error":..,"error_code":..,"reconciled":0,"requests":N}. Exit 0 when the
 * call ended (whatever its outcome), 2 on bad usage or a local failure. */
#include "cr_adapter.h"
#include "cr_adapters.h"
#include "cr_http.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define S_MAX_MEDIA 16

typedef struct {
    int done;
    cr_http_resp_t resp;
    char *headers, *body, *error;
} s_wait_t;

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *s_dup(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) return NULL;
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Keeps a copy of the response: it is only valid during the callback. */
static void s_done(void *owner, const cr_http_resp_t *resp)
{
    s_wait_t *w = owner;
    w->resp = *resp;
    w->headers = s_dup(resp->headers ? resp->headers : "", resp->headers_len);
    w->body = s_dup(resp->body ? resp->body : "", resp->body_len);
    w->error = s_dup(resp->error ? resp->error : "", resp->error ? strlen(resp->error) : 0);
    w->resp.headers = w->headers;
    w->resp.body = w->body;
    w->resp.error = w->error;
    w->done = 1;
}

static void s_wait_clear(s_wait_t *w)
{
    free(w->headers);
    free(w->body);
    free(w->error);
    memset(w, 0, sizeof *w);
}

/* Runs req to its end. 0, or -1 if it could not start. */
static int s_run(cr_http_t *http, const cr_http_req_t *req, long timeout_ms, s_wait_t *w)
{
    memset(w, 0, sizeof *w);
    if (!cr_http_start(http, req, timeout_ms, s_done, w)) return -1;
    zmq_pollitem_t items[64];
    while (!w->done) {
        size_t n = cr_http_fill_pollitems(http, items, 64);
        long t = cr_http_timeout(http);
        if (t < 0 || t > 100) t = 100;
        zmq_poll(items, (int)n, t);
        cr_http_process(http, items, n);
    }
    return 0;
}

static void s_usage(void)
{
    fprintf(stderr, "usage: adapter_call --platform P --api-base URL --token T --handle H "
                    "[--body TEXT] [--link URL] [--media REF]... [--reply-to ID] [--reconcile] "
                    "[--due-ms MS] [--timeout-ms MS]\n");
}

int main(int argc, char **argv)
{
    const char *platform = NULL, *base = NULL, *token = NULL, *handle = NULL, *body = "",
               *link = "", *reply = "";
    char *media[S_MAX_MEDIA];
    size_t n_media = 0;
    int reconcile = 0;
    long timeout_ms = 10000;
    int64_t due_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--reconcile") == 0) {
            reconcile = 1;
            continue;
        }
        if (!v) {
            s_usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--platform") == 0) platform = v;
        else if (strcmp(a, "--api-base") == 0) base = v;
        else if (strcmp(a, "--token") == 0) token = v;
        else if (strcmp(a, "--handle") == 0) handle = v;
        else if (strcmp(a, "--body") == 0) body = v;
        else if (strcmp(a, "--link") == 0) link = v;
        else if (strcmp(a, "--reply-to") == 0) reply = v;
        else if (strcmp(a, "--due-ms") == 0) due_ms = strtoll(v, NULL, 10);
        else if (strcmp(a, "--timeout-ms") == 0) timeout_ms = strtol(v, NULL, 10);
        else if (strcmp(a, "--media") == 0 && n_media < S_MAX_MEDIA) media[n_media++] = (char *)v;
        else {
            s_usage();
            return 2;
        }
    }
    if (!platform || !base || !token || !handle || timeout_ms <= 0) {
        s_usage();
        return 2;
    }
    const cr_adapter_t *ad = cr_adapters_find(cr_adapters_builtin(), platform);
    if (!ad) {
        fprintf(stderr, "adapter_call: no adapter for platform %s\n", platform);
        return 2;
    }
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__PublishPayload pub;
    crieur__task__init(&task);
    crieur__account__init(&acc);
    crieur__publish_payload__init(&pub);
    task.job_id = 1;
    task.attempt = reconcile ? 2 : 1;
    task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
    task.due_ms = due_ms > 0 ? due_ms : s_now_ms();
    task.reconcile = reconcile;
    task.account = &acc;
    task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    task.publish = &pub;
    acc.id = 1;
    acc.platform = (char *)platform;
    acc.handle = (char *)handle;
    acc.api_base = (char *)base;
    acc.token = (char *)token;
    pub.post_id = 1;
    pub.body = (char *)body;
    pub.link = (char *)link;
    pub.in_reply_to = (char *)reply;
    pub.media = media;
    pub.n_media = n_media;

    cr_http_t *http = cr_http_new(5000);
    if (!http) return 2;
    cr_call_t call;
    cr_call_init(&call, &task);
    const cr_http_resp_t *prev = NULL;
    s_wait_t w;
    memset(&w, 0, sizeof w);
    int requests = 0, rc = 0, sent = 0;
    for (int steps = 0;; steps++) {
        cr_http_req_clear(&call.req);
        call.now_ms = s_now_ms();
        int st = steps > 1000 ? -1 : ad->step(&call, prev);
        if (st == CR_STEP_DONE) break;
        if (st == CR_STEP_WAIT && call.wait_ms >= 0 && call.wait_ms <= CR_MAX_STEP_WAIT_MS) {
            struct timespec ts = {call.wait_ms / 1000, (call.wait_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            s_wait_clear(&w);
            prev = NULL;
            continue;
        }
        if (st != CR_STEP_REQUEST) { /* as the runtime does */
            cr_result_fail(&call.result,
                           sent ? CRIEUR__OUTCOME__OUTCOME_INDETERMINATE
                                : CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                           "adapter step failed", "internal");
            break;
        }
        s_wait_clear(&w);
        if (s_run(http, &call.req, call.req.timeout_ms > 0 ? call.req.timeout_ms : timeout_ms,
                  &w) != 0) {
            fprintf(stderr, "adapter_call: cannot start the request\n");
            rc = 2;
            break;
        }
        requests++;
        sent = 1;
        prev = &w.resp;
    }
    if (rc == 0) {
        cr_result_t *r = &call.result;
        json_t *out = json_pack(
            "{s:s,s:i,s:s?,s:s?,s:s?,s:s?,s:i,s:i,s:I}", "outcome", cr_outcome_name(r->outcome),
            "http_status", r->http_status, "platform_post_id", r->platform_post_id, "url", r->url,
            "error", r->error, "error_code", r->error_code, "reconciled", r->reconciled,
            "requests", requests, "retry_at_ms", (json_int_t)r->retry_at_ms);
        char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
        if (s) printf("%s\n", s);
        else rc = 2;
        free(s);
        json_decref(out);
    }
    s_wait_clear(&w);
    cr_call_clear(&call, ad);
    cr_http_destroy(&http);
    return rc;
}
