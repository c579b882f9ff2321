/* test_x: the X adapter's pure request builders, response classifiers,
 * content fingerprint and read-back matcher, and its step machine, against
 * canned platform answers (no network). */
#define _GNU_SOURCE /* memmem */
#include "cr_adapter.h"
#include "cr_adapters.h"
#include "cr_x.h"

#include <curl/curl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */
#define FOUND_DETAIL "found on the platform by reading back; not published again"
#define DUPLICATE_BODY                                                                             \
    "{\"detail\":\"You are not allowed to create a Tweet with duplicate content.\","              \
    "\"type\":\"about:blank\",\"title\":\"Forbidden\",\"status\":403}"
#define FORBIDDEN_BODY                                                                             \
    "{\"client_id\":\"1\",\"detail\":\"When authenticating requests to the Twitter API v2 "       \
    "endpoints, you must use keys and tokens from a Twitter developer App that is attached to a " \
    "Project.\",\"title\":\"Client Forbidden\",\"reason\":\"client-not-enrolled\","               \
    "\"type\":\"https://api.x.com/2/problems/client-forbidden\"}"
#define UNAUTHORIZED_BODY                                                                          \
    "{\"title\":\"Unauthorized\",\"type\":\"about:blank\",\"status\":401,\"detail\":\"Unauthorized\"}"
#define TOO_MANY_BODY                                                                              \
    "{\"title\":\"Too Many Requests\",\"detail\":\"Too Many Requests\",\"type\":\"about:blank\"," \
    "\"status\":429}"

static cr_http_resp_t s_resp(long status, const char *headers, const char *body)
{
    cr_http_resp_t r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.headers = headers ? headers : "";
    r.headers_len = strlen(r.headers);
    r.body = body ? body : "";
    r.body_len = strlen(r.body);
    r.error = "";
    r.sent = 1;
    return r;
}

static cr_result_t s_publish(long status, const char *headers, const char *body)
{
    cr_http_resp_t r = s_resp(status, headers, body);
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_x_publish_result(&r, "acme", NOW, &res);
    return res;
}

static cr_result_t s_readback(long status, const char *headers, const char *body)
{
    cr_http_resp_t r = s_resp(status, headers, body);
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_x_readback_result(&r, NOW, &res);
    return res;
}

static cr_http_resp_t s_curl(int code, int sent)
{
    cr_http_resp_t r = s_resp(0, NULL, NULL);
    r.curl_code = code;
    r.sent = sent;
    r.error = curl_easy_strerror((CURLcode)code);
    return r;
}

/* ---- publish classification -------------------------------------------- */

static void test_201_ok(void **state)
{
    cr_result_t r = s_publish(201, "HTTP/2 201 \r\ncontent-type: application/json\r\n\r\n",
                              "{\"data\":{\"id\":\"1445880548472328192\",\"text\":\"Hello\","
                              "\"edit_history_tweet_ids\":[\"1445880548472328192\"]}}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(r.http_status, 201);
    assert_string_equal(r.platform_post_id, "1445880548472328192");
    assert_string_equal(r.url, "https://x.com/acme/status/1445880548472328192");
    assert_null(r.error);
    assert_int_equal(r.reconciled, 0);
    cr_result_clear(&r);

    /* the handle comes from the task's account: "@" dropped, unusable -> i/web */
    static const struct {
        const char *handle, *url;
    } cases[] = {
        {"@acme_co", "https://x.com/acme_co/status/9"},
        {"", "https://x.com/i/web/status/9"},
        {NULL, "https://x.com/i/web/status/9"},
        {"bad/handle", "https://x.com/i/web/status/9"},
        {"a b", "https://x.com/i/web/status/9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_http_resp_t resp = s_resp(201, NULL, "{\"data\":{\"id\":\"9\",\"text\":\"x\"}}");
        cr_result_t res;
        memset(&res, 0, sizeof res);
        cr_x_publish_result(&resp, cases[i].handle, NOW, &res);
        assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
        assert_string_equal(res.url, cases[i].url);
        cr_result_clear(&res);
    }
}

static void test_201_malformed(void **state)
{
    static const char *bodies[] = {
        "{}",
        "{\"data\":{}}",
        "{\"data\":{\"id\":\"\"}}",
        "{\"data\":{\"id\":1445880548472328192}}", /* ids are strings */
        "{\"data\":{\"id\":\"12ab\"}}",
        "{\"data\":{\"id\":\"123456789012345678901234567890123\"}}", /* 33 digits */
        "{\"data\":[{\"id\":\"1\"}]}",
        "{\"id\":\"1\"}",
        "[]",
        "<html>OK</html>",
        "",
        "{\"data\":{\"id\":\"1\"", /* truncated */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        cr_result_t r = s_publish(201, NULL, bodies[i]);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
        assert_string_equal(r.error, "malformed success response");
        assert_null(r.platform_post_id);
        cr_result_clear(&r);
    }
}

static void test_401_auth_expired(void **state)
{
    cr_result_t r = s_publish(401, "HTTP/1.1 401 Unauthorized\r\n\r\n", UNAUTHORIZED_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_int_equal(r.http_status, 401);
    assert_string_equal(r.error, "Unauthorized");
    assert_string_equal(r.error_code, "401");
    cr_result_clear(&r);
}

static void test_403_duplicate(void **state)
{
    cr_result_t r = s_publish(403, NULL, DUPLICATE_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_int_equal(r.http_status, 403);
    assert_string_equal(r.error, "You are not allowed to create a Tweet with duplicate content.");
    assert_string_equal(r.error_code, "duplicate");
    cr_result_clear(&r);
}

static void test_403_other_permanent(void **state)
{
    cr_result_t r = s_publish(403, NULL, FORBIDDEN_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "client-forbidden");
    assert_non_null(strstr(r.error, "When authenticating requests"));
    cr_result_clear(&r);

    r = s_publish(403, NULL,
                  "{\"detail\":\"You are not permitted to perform this action.\","
                  "\"type\":\"about:blank\",\"title\":\"Forbidden\",\"status\":403}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error, "You are not permitted to perform this action.");
    assert_string_equal(r.error_code, "403");
    cr_result_clear(&r);

    r = s_publish(403, "HTTP/1.1 403 Forbidden\r\n\r\n", "<html>no</html>");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error, "HTTP 403 Forbidden");
    cr_result_clear(&r);
}

static void test_400_permanent_with_detail(void **state)
{
    cr_result_t r = s_publish(
        400, NULL,
        "{\"errors\":[{\"parameters\":{\"text\":[\"\"]},\"message\":\"Tweet text is too long: "
        "300 weighted characters, the limit is 280\"}],\"title\":\"Invalid Request\","
        "\"detail\":\"One or more parameters to your request was invalid.\","
        "\"type\":\"https://api.x.com/2/problems/invalid-request\"}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_int_equal(r.http_status, 400);
    assert_string_equal(r.error, "One or more parameters to your request was invalid. Tweet text "
                                 "is too long: 300 weighted characters, the limit is 280");
    assert_string_equal(r.error_code, "invalid-request");
    cr_result_clear(&r);

    /* detail alone; the older api.twitter.com problem URL */
    r = s_publish(400, NULL,
                  "{\"title\":\"Invalid Request\",\"detail\":\"Text is empty\","
                  "\"type\":\"https://api.twitter.com/2/problems/invalid-request\"}");
    assert_string_equal(r.error, "Text is empty");
    assert_string_equal(r.error_code, "invalid-request");
    cr_result_clear(&r);

    /* v1-style errors only */
    r = s_publish(400, NULL, "{\"errors\":[{\"message\":\"Bad text\",\"code\":44}]}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error, "Bad text");
    assert_string_equal(r.error_code, "400");
    cr_result_clear(&r);
}

static void test_429_epoch_reset(void **state)
{
    cr_result_t r = s_publish(429,
                              "HTTP/1.1 429 Too Many Requests\r\nx-rate-limit-limit: 100\r\n"
                              "x-rate-limit-remaining: 0\r\nx-rate-limit-reset: 1700000900\r\n\r\n",
                              TOO_MANY_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.http_status, 429);
    assert_int_equal(r.retry_at_ms, 1700000900000LL); /* exactly the header, in ms */
    assert_string_equal(r.error, "Too Many Requests");
    cr_result_clear(&r);

    /* the daily user cap is spent: its reset wins when later */
    r = s_publish(429,
                  "x-rate-limit-reset: 1700000900\r\nx-user-limit-24hour-limit: 17\r\n"
                  "x-user-limit-24hour-remaining: 0\r\nx-user-limit-24hour-reset: 1700050000\r\n",
                  TOO_MANY_BODY);
    assert_int_equal(r.retry_at_ms, 1700050000000LL);
    cr_result_clear(&r);
    r = s_publish(429,
                  "x-rate-limit-reset: 1700000900\r\nx-user-limit-24hour-remaining: 3\r\n"
                  "x-user-limit-24hour-reset: 1700050000\r\n",
                  TOO_MANY_BODY);
    assert_int_equal(r.retry_at_ms, 1700000900000LL);
    cr_result_clear(&r);
}

static void test_429_without_or_bad_reset(void **state)
{
    static const char *headers[] = {
        "",
        "x-rate-limit-reset: soon\r\n",
        "x-rate-limit-reset: 2023-11-14T22:18:20Z\r\n", /* Mastodon style: not X's */
        "x-rate-limit-reset: -5\r\n",
        "x-rate-limit-reset: 17000009000000000000\r\n",
        "x-rate-limit-reset:\r\n",
    };
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        cr_result_t r = s_publish(429, headers[i], TOO_MANY_BODY);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
        assert_int_equal(r.retry_at_ms, NOW + 60000);
        cr_result_clear(&r);
    }
    /* in the past: a little later anyway; absurdly far: at most a day */
    cr_result_t r = s_publish(429, "x-rate-limit-reset: 1600000000\r\n", TOO_MANY_BODY);
    assert_int_equal(r.retry_at_ms, NOW + 1000);
    cr_result_clear(&r);
    r = s_publish(429, "x-rate-limit-reset: 1900000000\r\n", TOO_MANY_BODY);
    assert_int_equal(r.retry_at_ms, NOW + 24LL * 3600000);
    cr_result_clear(&r);
}

static void test_5xx_indeterminate_408_transient(void **state)
{
    static const long codes[] = {500, 502, 503, 504};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        cr_result_t r = s_publish(codes[i], NULL,
                                  "{\"title\":\"Service Unavailable\",\"detail\":\"Service "
                                  "Unavailable\",\"type\":\"about:blank\",\"status\":503}");
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
        assert_int_equal(r.http_status, codes[i]);
        assert_string_equal(r.error, "Service Unavailable (the tweet may have been created)");
        cr_result_clear(&r);
    }
    cr_result_t r = s_publish(503, "HTTP/1.1 503 Service Unavailable\r\n\r\n", "<html>busy</html>");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(r.error, "HTTP 503 Service Unavailable (the tweet may have been created)");
    assert_string_equal(r.error_code, "503");
    cr_result_clear(&r);
    r = s_publish(408, "HTTP/1.1 408 Request Timeout\r\n\r\n", "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(r.error, "HTTP 408 Request Timeout");
    cr_result_clear(&r);
}

static void test_curl_before_and_after_send(void **state)
{
    static const struct {
        int code, sent;
        Crieur__Outcome outcome;
    } cases[] = {
        {CURLE_COULDNT_RESOLVE_HOST, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {CURLE_COULDNT_CONNECT, 1, CRIEUR__OUTCOME__OUTCOME_TRANSIENT}, /* cannot have reached */
        {CURLE_OPERATION_TIMEDOUT, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT}, /* deadline, unsent */
        {CURLE_OPERATION_TIMEDOUT, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
        {CURLE_GOT_NOTHING, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},  /* empty reply */
        {CURLE_RECV_ERROR, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},   /* reset */
        {CURLE_PARTIAL_FILE, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_http_resp_t resp = s_curl(cases[i].code, cases[i].sent);
        cr_result_t r;
        memset(&r, 0, sizeof r);
        cr_x_publish_result(&resp, "acme", NOW, &r);
        assert_int_equal(r.outcome, cases[i].outcome);
        char code[32];
        snprintf(code, sizeof code, "curl:%d", cases[i].code);
        assert_string_equal(r.error_code, code);
        assert_int_equal(r.http_status, 0);
        cr_result_clear(&r);
    }
    /* cut off by the size cap after sending: the tweet may exist */
    cr_http_resp_t resp = s_resp(201, NULL, "{\"data\":");
    resp.too_large = 1;
    cr_result_t r;
    memset(&r, 0, sizeof r);
    cr_x_publish_result(&resp, "acme", NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(r.error_code, "too_large");
    cr_result_clear(&r);
}

static void test_unexpected_statuses(void **state)
{
    cr_result_t r = s_publish(301, "HTTP/1.1 301 Moved Permanently\r\nLocation: https://x\r\n", "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_result_clear(&r);
    r = s_publish(404, NULL, "{\"title\":\"Not Found Error\",\"detail\":\"nope\"}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error, "nope");
    cr_result_clear(&r);
    r = s_publish(102, NULL, "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_result_clear(&r);
    /* a long detail is cut to the result's cap, as valid UTF-8 */
    char body[4096];
    char detail[3000];
    memset(detail, 'e', sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    snprintf(body, sizeof body, "{\"detail\":\"%s\"}", detail);
    r = s_publish(400, NULL, body);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_true(strlen(r.error) <= CR_ERROR_MAX_BYTES);
    cr_result_clear(&r);
}

/* ---- read-back classification ------------------------------------------ */

static void test_readback_classification(void **state)
{
    cr_result_t r = s_readback(401, NULL, UNAUTHORIZED_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_result_clear(&r);

    r = s_readback(429, "x-rate-limit-reset: 1700000300\r\n", TOO_MANY_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, 1700000300000LL);
    cr_result_clear(&r);

    static const long transient[] = {500, 502, 503, 504, 408};
    for (size_t i = 0; i < sizeof transient / sizeof *transient; i++) {
        r = s_readback(transient[i], NULL, "");
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
        cr_result_clear(&r);
    }
    cr_http_resp_t resp = s_curl(CURLE_OPERATION_TIMEDOUT, 1); /* a read: safe to retry */
    memset(&r, 0, sizeof r);
    cr_x_readback_result(&resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);

    /* the app may not read the timeline: a human checks, never a blind publish */
    r = s_readback(403, "HTTP/1.1 403 Forbidden\r\n\r\n", FORBIDDEN_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
    assert_int_equal(r.http_status, 403);
    assert_string_equal(r.error_code, "readback_forbidden");
    assert_non_null(strstr(r.error, "the outcome of an earlier attempt is unknown"));
    assert_non_null(strstr(r.error, "cannot be read back"));
    assert_non_null(strstr(r.error, "a human must check"));
    assert_non_null(strstr(r.error, "HTTP 403 Forbidden"));
    cr_result_clear(&r);

    static const long refused[] = {400, 404, 410, 302};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        r = s_readback(refused[i], NULL, "{\"detail\":\"no\"}");
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
        assert_string_equal(r.error_code, "readback_refused");
        cr_result_clear(&r);
    }
}

/* ---- request building -------------------------------------------------- */

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__PublishPayload pub;
} fixture_t;

static void s_fixture(fixture_t *f, const char *base, const char *body, const char *link)
{
    crieur__task__init(&f->task);
    crieur__account__init(&f->acc);
    crieur__publish_payload__init(&f->pub);
    f->task.job_id = 7;
    f->task.attempt = 1;
    f->task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
    f->task.due_ms = NOW;
    f->task.account = &f->acc;
    f->task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    f->task.publish = &f->pub;
    f->acc.id = 3;
    f->acc.platform = "x";
    f->acc.handle = "acme";
    f->acc.api_base = (char *)base;
    f->acc.token = "x-T0ken_s3cr3t";
    f->pub.post_id = 42;
    f->pub.body = (char *)body;
    f->pub.link = (char *)link;
}

static const char *s_req_header(const cr_http_req_t *req, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (strncmp(req->headers[i], name, nl) == 0 && req->headers[i][nl] == ':')
            return req->headers[i] + nl + 2;
    return NULL;
}

static char *s_req_body(const cr_http_req_t *req)
{
    char *s = malloc(req->body_len + 1);
    assert_non_null(s);
    memcpy(s, req->body, req->body_len);
    s[req->body_len] = '\0';
    return s;
}

static void test_publish_request(void **state)
{
    static const char *bases[] = {"https://api.x.com", "https://api.x.com/",
                                  "https://api.x.com//"};
    for (size_t i = 0; i < 3; i++) {
        fixture_t f;
        s_fixture(&f, bases[i], "Hello", "");
        cr_http_req_t req;
        cr_result_t res;
        memset(&req, 0, sizeof req);
        memset(&res, 0, sizeof res);
        assert_int_equal(cr_x_publish_request(&f.task, NULL, 0, &req, &res), 0);
        assert_string_equal(req.method, "POST");
        assert_string_equal(req.url, "https://api.x.com/2/tweets");
        assert_string_equal(s_req_header(&req, "Authorization"), "Bearer x-T0ken_s3cr3t");
        assert_string_equal(s_req_header(&req, "Content-Type"), "application/json");
        assert_null(s_req_header(&req, "Idempotency-Key")); /* X has none */
        /* never a reused connection, which libcurl could re-send the POST on */
        assert_string_equal(s_req_header(&req, "Connection"), "close");
        char *body = s_req_body(&req);
        assert_string_equal(body, "{\"text\":\"Hello\"}");
        free(body);
        cr_http_req_clear(&req);
    }
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    /* the sandbox's api_base; link appended; a reply */
    s_fixture(&f, "http://127.0.0.1:8790/x", "Spring \"sale\"\n\u00e9t\u00e9 \U0001F680",
              "https://shop.example/s");
    f.pub.in_reply_to = "1445880548472328192";
    assert_int_equal(cr_x_publish_request(&f.task, NULL, 0, &req, &res), 0);
    assert_string_equal(req.url, "http://127.0.0.1:8790/x/2/tweets");
    json_t *j = json_loadb(req.body, req.body_len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "text")),
                        "Spring \"sale\"\n\u00e9t\u00e9 \U0001F680\n\nhttps://shop.example/s");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "reply"), "in_reply_to_tweet_id")),
        "1445880548472328192");
    assert_null(json_object_get(j, "media"));
    json_decref(j);
    cr_http_req_clear(&req);

    /* a link already in the body is not repeated; a link alone */
    s_fixture(&f, "https://api.x.com", "See https://shop.example/s now", "https://shop.example/s");
    assert_int_equal(cr_x_publish_request(&f.task, NULL, 0, &req, &res), 0);
    char *body = s_req_body(&req);
    assert_string_equal(body, "{\"text\":\"See https://shop.example/s now\"}");
    free(body);
    cr_http_req_clear(&req);
    s_fixture(&f, "https://api.x.com", "", "https://shop.example/s");
    size_t tl = 0;
    char *text = cr_x_post_text(&f.task, &tl);
    assert_string_equal(text, "https://shop.example/s");
    assert_int_equal(tl, strlen(text));
    free(text);
}

static void test_publish_request_refusals(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    static const char *bad_bases[] = {"", "api.x.com", "ftp://api.x.com", "https://",
                                      "https://api x.com", "https://x/?a=1", "https://x\r\nA: b"};
    for (size_t i = 0; i < sizeof bad_bases / sizeof *bad_bases; i++) {
        s_fixture(&f, bad_bases[i], "hi", "");
        assert_int_equal(cr_x_publish_request(&f.task, NULL, 0, &req, &res), -1);
        assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        assert_string_equal(res.error_code, "bad_api_base");
        assert_null(req.url);
        cr_result_clear(&res);
    }
    s_fixture(&f, "https://api.x.com", "hi", "");
    static const char *bad_tokens[] = {"", "two words", "new\nline"};
    for (size_t i = 0; i < 3; i++) {
        f.acc.token = (char *)bad_tokens[i];
        assert_int_equal(cr_x_publish_request(&f.task, NULL, 0, &req, &res), -1);
        assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
        assert_string_equal(res.error_code, "no_token");
        cr_result_clear(&res);
    }
    s_fixture(&f, "https://api.x.com", "hi", "");
    char *media[] = {"https://cdn.example/a.png"};
    f.pub.media = media;
    f.pub.n_media = 1;
    /* images are uploaded first: publishing without their ids is a bug, not a post */
    assert_int_equal(cr_x_publish_request(&f.task, NULL, 0, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(res.error_code, "internal");
    cr_result_clear(&res);
    s_fixture(&f, "https://api.x.com", "hi", "");
    f.pub.in_reply_to = "12a";
    assert_int_equal(cr_x_publish_request(&f.task, NULL, 0, &req, &res), -1);
    assert_string_equal(res.error_code, "bad_reply_to");
    cr_result_clear(&res);
    s_fixture(&f, "https://api.x.com", "bad \xff utf-8", "");
    assert_int_equal(cr_x_publish_request(&f.task, NULL, 0, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(res.error_code, "bad_text");
    cr_result_clear(&res);
    s_fixture(&f, "https://api.x.com", "hi", "");
    f.task.account = NULL;
    assert_int_equal(cr_x_publish_request(&f.task, NULL, 0, &req, &res), -1);
    assert_string_equal(res.error_code, "bad_task");
    cr_result_clear(&res);
}

static void test_readback_requests(void **state)
{
    fixture_t f;
    s_fixture(&f, "http://127.0.0.1:8790/x/", "hi", "");
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    assert_int_equal(cr_x_me_request(&f.task, &req, &res), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "http://127.0.0.1:8790/x/2/users/me");
    assert_string_equal(s_req_header(&req, "Authorization"), "Bearer x-T0ken_s3cr3t");
    assert_string_equal(s_req_header(&req, "Connection"), "close");
    assert_null(req.body);
    cr_http_req_clear(&req);

    /* from an hour before the due time (NOW + 0.75 s), to the second */
    f.task.due_ms = NOW + 750;
    assert_int_equal(cr_x_timeline_request(&f.task, "2244994945", NULL, NOW + 5000, &req, &res),
                     0);
    assert_string_equal(req.url, "http://127.0.0.1:8790/x/2/users/2244994945/tweets"
                                 "?max_results=100&start_time=2023-11-14T21:13:20Z"
                                 "&tweet.fields=created_at");
    cr_http_req_clear(&req);
    assert_int_equal(
        cr_x_timeline_request(&f.task, "2244994945", "7140dibdnow9c7btw3w29", NOW, &req, &res), 0);
    assert_string_equal(req.url, "http://127.0.0.1:8790/x/2/users/2244994945/tweets"
                                 "?max_results=100&start_time=2023-11-14T21:13:20Z"
                                 "&tweet.fields=created_at&pagination_token=7140dibdnow9c7btw3w29");
    cr_http_req_clear(&req);
    /* no due time: from an hour before now */
    f.task.due_ms = 0;
    assert_int_equal(cr_x_timeline_request(&f.task, "1", NULL, NOW + 3600000, &req, &res), 0);
    assert_non_null(strstr(req.url, "start_time=2023-11-14T22:13:20Z"));
    cr_http_req_clear(&req);
    /* what could inject into the URL is refused */
    assert_int_equal(cr_x_timeline_request(&f.task, "1/../2", NULL, NOW, &req, &res), -1);
    cr_result_clear(&res);
    assert_int_equal(cr_x_timeline_request(&f.task, "1", "a&b=c", NOW, &req, &res), -1);
    cr_result_clear(&res);
    assert_null(req.url);

    char id[CR_X_ID_MAX + 1];
    static const char me[] = "{\"data\":{\"id\":\"2244994945\",\"name\":\"Acme\",\"username\":\"acme\"}}";
    assert_int_equal(cr_x_me_user_id(me, strlen(me), id), 0);
    assert_string_equal(id, "2244994945");
    static const char *bad[] = {"{\"data\":{\"id\":2244994945}}", "{\"data\":null}", "[]", "",
                                "{\"data\":{\"id\":\"1/2\"}}", "{\"errors\":[]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cr_x_me_user_id(bad[i], strlen(bad[i]), id), -1);
    assert_int_equal(cr_x_me_user_id(NULL, 0, id), -1);
}

/* ---- fingerprint ------------------------------------------------------- */

static void s_fp_eq(const char *text, const char *want)
{
    char *fp = cr_x_fingerprint(text, strlen(text));
    assert_non_null(fp);
    assert_string_equal(fp, want);
    free(fp);
}

static int s_same(const char *a, const char *b)
{
    char *fa = cr_x_fingerprint(a, strlen(a)), *fb = cr_x_fingerprint(b, strlen(b));
    int same = strcmp(fa, fb) == 0;
    free(fa);
    free(fb);
    return same;
}

static void test_fingerprint_whitespace(void **state)
{
    s_fp_eq("  Hello \n\n  world\t! \r\n", "Hello world !");
    s_fp_eq("a\u00a0b\u3000c\u2003d\u202fe", "a b c d e"); /* Unicode spaces */
    s_fp_eq("", "");
    s_fp_eq(" \n\t ", "");
    char *fp = cr_x_fingerprint(NULL, 5);
    assert_string_equal(fp, "");
    free(fp);
    assert_true(s_same("Big news\n\nhttps://shop.example", "Big news https://t.co/AbC123xyZ9"));
    assert_false(s_same("Big news", "Bignews"));
}

static void test_fingerprint_urls(void **state)
{
    s_fp_eq("Read https://example.com/a?b=1&c=2 now", "Read now");
    s_fp_eq("Read HTTP://EXAMPLE.COM now", "Read now");
    s_fp_eq("(https://example.com/x).", "");
    s_fp_eq("Sale at shop.example.com/spring! and www.acme.fr", "Sale at and");
    s_fp_eq("link: example.com.", "link:");
    /* not links: abbreviations, numbers, unknown endings */
    s_fp_eq("e.g. 3.14 U.S. v1.2 file.txt", "e.g. 3.14 U.S. v1.2 file.txt");
    /* what X does: t.co links and a trailing URL */
    assert_true(s_same("Spring sale https://shop.example/spring?utm=x",
                       "Spring sale https://t.co/Xy12AbCdEf"));
    assert_true(s_same("Visit shop.example.com today", "Visit https://t.co/Xy12AbCdEf today"));
    assert_false(s_same("Spring sale https://a.example", "Summer sale https://t.co/Xy12AbCdEf"));
}

static void test_fingerprint_emoji_and_case(void **state)
{
    s_fp_eq("Launch \U0001F680 day \U0001F468\u200d\U0001F469\u200d\U0001F467",
            "Launch \U0001F680 day \U0001F468\u200d\U0001F469\u200d\U0001F467");
    s_fp_eq("\u65e5\u672c\u8a9e  \u30c6\u30b9\u30c8", "\u65e5\u672c\u8a9e \u30c6\u30b9\u30c8");
    assert_false(s_same("Launch \U0001F680", "Launch \U0001F389"));
    assert_false(s_same("Hello World", "hello world")); /* case kept */
    assert_false(s_same("Hello, world", "Hello world")); /* punctuation kept */
    /* invalid UTF-8 never crashes and stays as it was */
    s_fp_eq("a\xff\xfe b", "a\xff\xfe b");
    s_fp_eq("\xe2\x80", "\xe2\x80");
}

/* ---- matcher ----------------------------------------------------------- */

static cr_x_match_t s_match(const char *body, const char *text, cr_x_found_t *found)
{
    char *fp = cr_x_fingerprint(text, strlen(text));
    cr_x_match_t m = cr_x_match(body, strlen(body), fp, found);
    free(fp);
    return m;
}

static void test_match_found(void **state)
{
    cr_x_found_t found;
    /* newest first; X's entities and t.co link; the match is the 2nd */
    static const char page[] =
        "{\"data\":[{\"id\":\"300\",\"text\":\"Something else\",\"created_at\":"
        "\"2023-11-14T22:10:00.000Z\",\"edit_history_tweet_ids\":[\"300\"]},"
        "{\"id\":\"200\",\"text\":\"Q&amp;A &lt;live&gt; today \\ud83d\\ude80\\n\\n"
        "https://t.co/AbCdEf1234\",\"created_at\":\"2023-11-14T22:00:00.000Z\","
        "\"edit_history_tweet_ids\":[\"200\"]}],"
        "\"meta\":{\"result_count\":2,\"newest_id\":\"300\",\"oldest_id\":\"200\"}}";
    assert_int_equal(s_match(page, "Q&A <live> today \U0001F680\n\nhttps://shop.example/q?a=1&b=2",
                             &found),
                     CR_X_MATCH_FOUND);
    assert_string_equal(found.id, "200");
    /* several matches: the oldest (the first attempt's) */
    static const char twice[] = "{\"data\":[{\"id\":\"9\",\"text\":\"dup\"},{\"id\":\"5\","
                                "\"text\":\"  dup \"},{\"id\":\"3\",\"text\":\"other\"}]}";
    assert_int_equal(s_match(twice, "dup", &found), CR_X_MATCH_FOUND);
    assert_string_equal(found.id, "5");
    /* found on a page that also has a next_token: found wins */
    static const char more[] =
        "{\"data\":[{\"id\":\"8\",\"text\":\"mine\"}],\"meta\":{\"next_token\":\"abc\"}}";
    assert_int_equal(s_match(more, "mine", &found), CR_X_MATCH_FOUND);
    assert_string_equal(found.id, "8");
    /* the escaping is undone once only: a literal "&amp;" in the post */
    static const char lit[] = "{\"data\":[{\"id\":\"4\",\"text\":\"a &amp;amp; b\"}]}";
    assert_int_equal(s_match(lit, "a &amp; b", &found), CR_X_MATCH_FOUND);
    assert_int_equal(s_match(lit, "a & b", &found), CR_X_MATCH_NONE);
}

static void test_match_not_found_and_pages(void **state)
{
    cr_x_found_t found;
    static const char page[] =
        "{\"data\":[{\"id\":\"300\",\"text\":\"Something else\"}],"
        "\"meta\":{\"result_count\":1,\"newest_id\":\"300\",\"oldest_id\":\"300\"}}";
    assert_int_equal(s_match(page, "Mine", &found), CR_X_MATCH_NONE);
    assert_string_equal(found.id, "");
    assert_int_equal(s_match("{\"meta\":{\"result_count\":0}}", "Mine", &found), CR_X_MATCH_NONE);
    assert_int_equal(s_match("{\"data\":[],\"meta\":{\"result_count\":0}}", "Mine", &found),
                     CR_X_MATCH_NONE);
    assert_int_equal(s_match("{\"data\":[]}", "Mine", &found), CR_X_MATCH_NONE);
    static const char next[] = "{\"data\":[{\"id\":\"300\",\"text\":\"x\"}],"
                               "\"meta\":{\"result_count\":1,\"next_token\":\"7140dibdnow9c7btw3\"}}";
    assert_int_equal(s_match(next, "Mine", &found), CR_X_MATCH_MORE);
    assert_string_equal(found.next_token, "7140dibdnow9c7btw3");
    /* a token that cannot go into a URL as it is cannot be followed */
    static const char badnext[] = "{\"data\":[],\"meta\":{\"next_token\":\"a&b=c\"}}";
    assert_int_equal(s_match(badnext, "Mine", &found), CR_X_MATCH_MALFORMED);
    /* case and emoji matter */
    static const char near[] = "{\"data\":[{\"id\":\"1\",\"text\":\"mine \\ud83d\\ude80\"}]}";
    assert_int_equal(s_match(near, "Mine \U0001F680", &found), CR_X_MATCH_NONE);
    assert_int_equal(s_match(near, "mine \U0001F389", &found), CR_X_MATCH_NONE);
    assert_int_equal(s_match(near, "mine \U0001F680", &found), CR_X_MATCH_FOUND);
}

static void test_match_hostile(void **state)
{
    cr_x_found_t found;
    static const char *malformed[] = {
        "",
        "not json",
        "{\"data\":[{\"id\":\"1\",\"text\":\"mine\"}", /* truncated */
        "[{\"id\":\"1\",\"text\":\"mine\"}]",          /* not an object */
        "{\"data\":{\"id\":\"1\",\"text\":\"mine\"}}", /* data not an array */
        "{\"data\":\"mine\"}",
        "{\"meta\":[]}",
        "{}",
        "null",
        "{\"errors\":\"boom\"}",
        "{\"errors\":[]}",
        "{\"errors\":[\"x\"]}",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
        assert_int_equal(s_match(malformed[i], "mine", &found), CR_X_MATCH_MALFORMED);
    /* entries of the wrong shape are skipped, never matched */
    static const char *skipped[] = {
        "{\"data\":[null,1,\"mine\",[],{\"id\":1,\"text\":\"mine\"}]}",
        "{\"data\":[{\"id\":\"1\",\"text\":7}]}",
        "{\"data\":[{\"id\":\"1\"}]}",
        "{\"data\":[{\"text\":\"mine\"}]}",
        "{\"data\":[{\"id\":\"\",\"text\":\"mine\"}]}",
        "{\"data\":[{\"id\":\"1 OR 1\",\"text\":\"mine\"}]}",
        "{\"data\":[{\"id\":\"-1\",\"text\":\"mine\"}]}",
        "{\"data\":[{\"id\":\"1234567890123456789012345678901234567890\",\"text\":\"mine\"}]}",
        "{\"data\":[{\"id\":\"1\",\"text\":\"mi\\u0000ne\"}]}",
        "{\"data\":[{\"id\":\"1\",\"text\":\"mine\\u0000\"}]}",
        "{\"data\":[{\"id\":\"1\\u00002\",\"text\":\"mine\"}]}",
        "{\"data\":[{\"id\":\"1\",\"text\":null}]}",
    };
    for (size_t i = 0; i < sizeof skipped / sizeof *skipped; i++)
        assert_int_equal(s_match(skipped[i], "mine", &found), CR_X_MATCH_NONE);
    /* a good entry after bad ones is still found */
    static const char mixed[] = "{\"data\":[null,{\"id\":7},{\"id\":\"12\",\"text\":\"mine\"}]}";
    assert_int_equal(s_match(mixed, "mine", &found), CR_X_MATCH_FOUND);
    assert_string_equal(found.id, "12");
    /* deep nesting and a huge text do not break anything */
    size_t depth = 5000;
    char *deep = malloc(depth * 2 + 64);
    assert_non_null(deep);
    size_t o = (size_t)sprintf(deep, "{\"data\":");
    for (size_t i = 0; i < depth; i++) deep[o++] = '[';
    for (size_t i = 0; i < depth; i++) deep[o++] = ']';
    deep[o++] = '}';
    deep[o] = '\0';
    assert_int_equal(s_match(deep, "mine", &found), CR_X_MATCH_MALFORMED);
    free(deep);
    size_t big = 600000;
    char *huge = malloc(big + 64);
    assert_non_null(huge);
    o = (size_t)sprintf(huge, "{\"data\":[{\"id\":\"1\",\"text\":\"");
    memset(huge + o, 'a', big);
    o += big;
    strcpy(huge + o, "\"}]}");
    assert_int_equal(s_match(huge, "mine", &found), CR_X_MATCH_NONE);
    free(huge);
    /* X's errors without data: reported, not guessed */
    static const char errors[] =
        "{\"errors\":[{\"value\":\"1\",\"detail\":\"Could not find user with id: [1].\","
        "\"title\":\"Not Found Error\",\"type\":\"https://api.x.com/2/problems/resource-not-found\"}]}";
    assert_int_equal(s_match(errors, "mine", &found), CR_X_MATCH_ERROR);
    assert_string_equal(found.detail, "Could not find user with id: [1].");
    assert_int_equal(cr_x_match(NULL, 0, "mine", &found), CR_X_MATCH_MALFORMED);
    assert_int_equal(cr_x_match("{}", 2, NULL, &found), CR_X_MATCH_MALFORMED);
}

/* ---- the adapter's steps ----------------------------------------------- */

#define ME_BODY "{\"data\":{\"id\":\"2244994945\",\"name\":\"Acme\",\"username\":\"acme\"}}"
#define TIMELINE_URL                                                                               \
    "https://api.x.com/2/users/2244994945/tweets?max_results=100"                                 \
    "&start_time=2023-11-14T21:13:20Z&tweet.fields=created_at"

static int s_feed(cr_call_t *call, long status, const char *headers, const char *body)
{
    cr_http_resp_t resp = s_resp(status, headers, body);
    cr_http_req_clear(&call->req);
    call->now_ms = NOW;
    return cr_x_adapter.step(call, &resp);
}

static void test_steps_publish(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://api.x.com", "hi", "");
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "POST");
    assert_string_equal(call.req.url, "https://api.x.com/2/tweets");
    assert_int_equal(s_feed(&call, 201, NULL, "{\"data\":{\"id\":\"77\",\"text\":\"hi\"}}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.url, "https://x.com/acme/status/77");
    assert_int_equal(call.result.reconciled, 0);
    cr_call_clear(&call, &cr_x_adapter);

    f.task.kind = CRIEUR__JOB_KIND__KIND_METRICS;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_call_clear(&call, &cr_x_adapter);

    assert_ptr_equal(cr_adapters_find(cr_adapters_builtin(), "x"), &cr_x_adapter);
    assert_string_equal(cr_outcome_name(CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED), "unconfirmed");
}

static void test_steps_reconcile_found(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://api.x.com", "Spring sale", "https://shop.example/s");
    f.task.reconcile = 1;
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "GET");
    assert_string_equal(call.req.url, "https://api.x.com/2/users/me");
    assert_int_equal(s_feed(&call, 200, NULL, ME_BODY), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "GET");
    assert_string_equal(call.req.url, TIMELINE_URL);
    assert_int_equal(s_feed(&call, 200, NULL,
                            "{\"data\":[{\"id\":\"555\",\"text\":\"Spring sale\\n\\n"
                            "https://t.co/AbCdEf1234\",\"created_at\":\"2023-11-14T22:13:21.000Z\"}],"
                            "\"meta\":{\"result_count\":1}}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 1);
    assert_int_equal(call.result.http_status, 200);
    assert_string_equal(call.result.platform_post_id, "555");
    assert_string_equal(call.result.url, "https://x.com/acme/status/555");
    assert_string_equal(call.result.error, FOUND_DETAIL);
    assert_null(call.req.url); /* no POST */
    cr_call_clear(&call, &cr_x_adapter);
}

static void test_steps_reconcile_not_found(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://api.x.com", "Spring sale", "");
    f.task.reconcile = 1;
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 200, NULL, ME_BODY), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 200, NULL, "{\"meta\":{\"result_count\":0}}"), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "POST");
    assert_string_equal(call.req.url, "https://api.x.com/2/tweets");
    assert_int_equal(s_feed(&call, 201, NULL, "{\"data\":{\"id\":\"556\",\"text\":\"x\"}}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 0);
    assert_string_equal(call.result.platform_post_id, "556");
    cr_call_clear(&call, &cr_x_adapter);
}

static void test_steps_reconcile_pages(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://api.x.com", "Mine", "");
    f.task.reconcile = 1;
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 200, NULL, ME_BODY), CR_STEP_REQUEST);
    static const char more[] = "{\"data\":[{\"id\":\"9\",\"text\":\"other\"}],"
                               "\"meta\":{\"result_count\":1,\"next_token\":\"tok2\"}}";
    assert_int_equal(s_feed(&call, 200, NULL, more), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, TIMELINE_URL "&pagination_token=tok2");
    static const char last[] = "{\"data\":[{\"id\":\"8\",\"text\":\"Mine\"}],"
                               "\"meta\":{\"result_count\":1}}";
    assert_int_equal(s_feed(&call, 200, NULL, last), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "8");
    cr_call_clear(&call, &cr_x_adapter);

    /* an account that tweets too much to check: a human decides */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 200, NULL, ME_BODY), CR_STEP_REQUEST);
    int rc = CR_STEP_REQUEST, pages = 0;
    while (rc == CR_STEP_REQUEST && pages < 50) {
        rc = s_feed(&call, 200, NULL, more);
        pages++;
    }
    assert_int_equal(rc, CR_STEP_DONE);
    assert_int_equal(pages, 10);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
    assert_string_equal(call.result.error_code, "readback_too_many");
    cr_call_clear(&call, &cr_x_adapter);
}

static void test_steps_reconcile_failures(void **state)
{
    static const struct {
        int at_timeline; /* 0: users/me answers it, 1: the timeline */
        long status;
        const char *headers, *body;
        Crieur__Outcome outcome;
        const char *code;
    } cases[] = {
        {0, 403, "HTTP/1.1 403 Forbidden\r\n", FORBIDDEN_BODY,
         CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, "readback_forbidden"},
        {1, 403, "HTTP/1.1 403 Forbidden\r\n", FORBIDDEN_BODY,
         CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, "readback_forbidden"},
        {0, 401, NULL, UNAUTHORIZED_BODY, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "401"},
        {1, 401, NULL, UNAUTHORIZED_BODY, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "401"},
        {1, 429, "x-rate-limit-reset: 1700000300\r\n", TOO_MANY_BODY,
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "429"},
        {0, 503, NULL, "", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "503"},
        {1, 500, NULL, "", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "500"},
        {0, 200, NULL, "{\"data\":{}}", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "malformed_readback"},
        {1, 200, NULL, "{\"data\":7}", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "malformed_readback"},
        {1, 200, NULL,
         "{\"errors\":[{\"detail\":\"Could not find user with id: [2244994945].\"}]}",
         CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, "readback_refused"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fixture_t f;
        s_fixture(&f, "https://api.x.com", "Mine", "");
        f.task.reconcile = 1;
        cr_call_t call;
        cr_call_init(&call, &f.task);
        call.now_ms = NOW;
        assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_REQUEST);
        if (cases[i].at_timeline) assert_int_equal(s_feed(&call, 200, NULL, ME_BODY), CR_STEP_REQUEST);
        assert_int_equal(s_feed(&call, cases[i].status, cases[i].headers, cases[i].body),
                         CR_STEP_DONE);
        assert_int_equal(call.result.outcome, cases[i].outcome);
        assert_string_equal(call.result.error_code, cases[i].code);
        assert_int_equal(call.result.reconciled, 0);
        assert_null(call.req.url); /* never a blind publish */
        if (cases[i].outcome == CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED)
            assert_int_equal(call.result.retry_at_ms, 1700000300000LL);
        cr_call_clear(&call, &cr_x_adapter);
    }
    /* the network fails during the read-back: retried, still reconciling */
    fixture_t f;
    s_fixture(&f, "https://api.x.com", "Mine", "");
    f.task.reconcile = 1;
    cr_call_t call;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_REQUEST);
    cr_http_resp_t resp = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    cr_http_req_clear(&call.req);
    assert_int_equal(cr_x_adapter.step(&call, &resp), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_call_clear(&call, &cr_x_adapter);
    /* an account without a token does not reach the network */
    f.acc.token = "";
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_call_clear(&call, &cr_x_adapter);
}

/* ---- images ------------------------------------------------------------- */

static const unsigned char s_jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1};

static void test_media_requests(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    s_fixture(&f, "http://127.0.0.1:8790/x/", "", "");
    cr_media_t m = {.data = (unsigned char *)s_jpeg, .len = sizeof s_jpeg, .mime = "image/jpeg",
                    .name = "image.jpg"};
    assert_int_equal(cr_x_upload_request(&f.task, &m, &req, &res), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "http://127.0.0.1:8790/x/2/media/upload");
    assert_string_equal(s_req_header(&req, "Authorization"), "Bearer x-T0ken_s3cr3t");
    const char *ct = s_req_header(&req, "Content-Type");
    assert_non_null(ct);
    assert_true(strncmp(ct, "multipart/form-data; boundary=", 30) == 0);
    /* the bytes as they are, and the category */
    assert_non_null(memmem(req.body, req.body_len, s_jpeg, sizeof s_jpeg));
    assert_non_null(memmem(req.body, req.body_len,
                           "name=\"media\"; filename=\"image.jpg\"\r\nContent-Type: image/jpeg", 58));
    assert_non_null(memmem(req.body, req.body_len,
                           "name=\"media_category\"\r\n\r\ntweet_image\r\n", 37));
    cr_http_req_clear(&req);

    /* the tweet names the uploaded ids, in order, and a reply keeps its parent */
    char *media[] = {"https://cdn.example/a.png", "/srv/media/b.jpg"};
    f.pub.media = media;
    f.pub.n_media = 2;
    f.pub.in_reply_to = "1445880548472328192";
    const char *ids[] = {"1880028106020515840", "1880028106020515841"};
    assert_int_equal(cr_x_publish_request(&f.task, ids, 2, &req, &res), 0);
    char *body = s_req_body(&req);
    assert_string_equal(body, "{\"text\":\"\",\"reply\":{\"in_reply_to_tweet_id\":"
                              "\"1445880548472328192\"},\"media\":{\"media_ids\":"
                              "[\"1880028106020515840\",\"1880028106020515841\"]}}");
    free(body);
    cr_http_req_clear(&req);
    /* ids that do not match the task: a bug, never sent */
    assert_int_equal(cr_x_publish_request(&f.task, ids, 1, &req, &res), -1);
    assert_string_equal(res.error_code, "internal");
    cr_result_clear(&res);
    const char *bad[] = {"18800281060205158x", "1"};
    assert_int_equal(cr_x_publish_request(&f.task, bad, 2, &req, &res), -1);
    assert_string_equal(res.error_code, "internal");
    cr_result_clear(&res);
    assert_null(req.url);
}

static void test_media_check(void **state)
{
    fixture_t f;
    cr_result_t res;
    memset(&res, 0, sizeof res);
    s_fixture(&f, "https://api.x.com", "hi", "");
    char *four[] = {"https://a.example/1.jpg", "/m/2.png", "file:///m/3.gif", "http://a/4.webp"};
    f.pub.media = four;
    f.pub.n_media = 4;
    assert_int_equal(cr_x_media_check(&f.task, &res), 0);
    char *five[] = {"/m/1.jpg", "/m/2.jpg", "/m/3.jpg", "/m/4.jpg", "/m/5.jpg"};
    f.pub.media = five;
    f.pub.n_media = 5;
    assert_int_equal(cr_x_media_check(&f.task, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(res.error_code, "too_many_media");
    assert_non_null(strstr(res.error, "X takes at most 4 per tweet"));
    cr_result_clear(&res);
    char *rel[] = {"/m/1.jpg", "pictures/2.jpg"};
    f.pub.media = rel;
    f.pub.n_media = 2;
    assert_int_equal(cr_x_media_check(&f.task, &res), -1);
    assert_string_equal(res.error_code, "bad_media");
    assert_non_null(strstr(res.error, "media item 2"));
    cr_result_clear(&res);
}

static cr_result_t s_upload(long status, const char *headers, const char *body, char *id)
{
    cr_http_resp_t r = s_resp(status, headers, body);
    cr_result_t res;
    memset(&res, 0, sizeof res);
    int rc = cr_x_upload_result(&r, NOW, id, &res);
    assert_int_equal(rc, status >= 200 && status < 300 && id[0] ? 0 : -1);
    return res;
}

static void test_upload_result(void **state)
{
    char id[CR_X_ID_MAX + 1];
    cr_result_t r = s_upload(200, NULL,
                             "{\"data\":{\"id\":\"1880028106020515840\",\"media_key\":"
                             "\"3_1880028106020515840\",\"size\":1234,\"expires_after_secs\":86400}}",
                             id);
    assert_string_equal(id, "1880028106020515840");
    assert_int_equal(r.outcome, 0);
    cr_result_clear(&r);
    /* a 2xx without a usable id: nothing was published, upload again */
    static const char *malformed[] = {"", "{}", "{\"data\":{\"id\":123}}", "{\"data\":{\"id\":\"1 2\"}}",
                                      "[1]", "{\"data\":null}"};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        r = s_upload(200, NULL, malformed[i], id);
        assert_string_equal(id, "");
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
        assert_string_equal(r.error_code, "malformed_upload");
        cr_result_clear(&r);
    }
    /* X refuses the image: permanent, with X's words */
    r = s_upload(400, NULL,
                 "{\"errors\":[{\"parameters\":{\"media\":[\"\"]},\"message\":\"The media type is "
                 "not supported\"}],\"title\":\"Invalid Request\",\"detail\":\"One or more "
                 "parameters to your request was invalid.\",\"type\":"
                 "\"https://api.x.com/2/problems/invalid-request\"}",
                 id);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "invalid-request");
    assert_string_equal(r.error, "X refused the image: One or more parameters to your request was "
                                 "invalid. The media type is not supported");
    assert_int_equal(r.http_status, 400);
    cr_result_clear(&r);
    r = s_upload(413, NULL, "", id);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_result_clear(&r);
    r = s_upload(401, NULL, UNAUTHORIZED_BODY, id);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_result_clear(&r);
    r = s_upload(429, "x-rate-limit-reset: 1700000900\r\n", TOO_MANY_BODY, id);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, 1700000900000LL);
    assert_non_null(strstr(r.error, "image uploads are rate limited"));
    cr_result_clear(&r);
    /* an upload is not a post: 5xx and a lost answer are transient, never indeterminate */
    r = s_upload(503, NULL, "", id);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_non_null(strstr(r.error, "nothing was published"));
    cr_result_clear(&r);
    cr_http_resp_t lost = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    assert_int_equal(cr_x_upload_result(&lost, NOW, id, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(r.error_code, "curl:28");
    cr_result_clear(&r);
}

static void test_steps_media(void **state)
{
    /* a local file, then a URL: upload, download + upload, tweet with both ids */
    char path[] = "/tmp/test_x_media_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s_jpeg, sizeof s_jpeg), (ssize_t)sizeof s_jpeg);
    close(fd);
    fixture_t f;
    s_fixture(&f, "https://api.x.com", "Two pictures", "");
    char *media[] = {path, "https://cdn.example/b.png"};
    f.pub.media = media;
    f.pub.n_media = 2;
    cr_call_t call;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "https://api.x.com/2/media/upload");
    cr_http_req_clear(&call.req);
    cr_http_resp_t up1 = s_resp(200, NULL, "{\"data\":{\"id\":\"111\"}}");
    assert_int_equal(cr_x_adapter.step(&call, &up1), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "GET");
    assert_string_equal(call.req.url, "https://cdn.example/b.png");
    assert_null(s_req_header(&call.req, "Authorization")); /* the token stays with X */
    cr_http_req_clear(&call.req);
    static const char png[] = "\x89PNG\r\n\x1a\nrest";
    cr_http_resp_t dl = s_resp(200, NULL, NULL);
    dl.body = png;
    dl.body_len = sizeof png - 1;
    assert_int_equal(cr_x_adapter.step(&call, &dl), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "https://api.x.com/2/media/upload");
    assert_non_null(memmem(call.req.body, call.req.body_len, "Content-Type: image/png", 23));
    cr_http_req_clear(&call.req);
    cr_http_resp_t up2 = s_resp(200, NULL, "{\"data\":{\"id\":\"222\"}}");
    assert_int_equal(cr_x_adapter.step(&call, &up2), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "https://api.x.com/2/tweets");
    assert_int_equal(call.req.fresh_connection, 1);
    char *body = s_req_body(&call.req);
    assert_string_equal(body, "{\"text\":\"Two pictures\",\"media\":{\"media_ids\":[\"111\",\"222\"]}}");
    free(body);
    cr_http_req_clear(&call.req);
    cr_http_resp_t ok = s_resp(201, NULL, "{\"data\":{\"id\":\"9\",\"text\":\"x\"}}");
    assert_int_equal(cr_x_adapter.step(&call, &ok), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "9");
    cr_call_clear(&call, &cr_x_adapter);

    /* a refused upload ends the call: nothing is tweeted */
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_REQUEST);
    cr_http_req_clear(&call.req);
    cr_http_resp_t refused = s_resp(400, NULL, "{\"detail\":\"bad image\"}");
    assert_int_equal(cr_x_adapter.step(&call, &refused), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_call_clear(&call, &cr_x_adapter);

    /* a download that is no image: permanent before any upload */
    cr_call_init(&call, &f.task);
    media[0] = "https://cdn.example/page.html";
    f.pub.n_media = 1;
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_REQUEST);
    cr_http_req_clear(&call.req);
    cr_http_resp_t html = s_resp(200, NULL, "<html>");
    assert_int_equal(cr_x_adapter.step(&call, &html), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "media_not_image");
    cr_call_clear(&call, &cr_x_adapter);

    /* reconciling an image-only post cannot recognise it: unconfirmed, no request */
    s_fixture(&f, "https://api.x.com", "", "");
    f.pub.media = media;
    f.pub.n_media = 1;
    f.task.reconcile = 1;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_x_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
    assert_null(call.req.url);
    cr_call_clear(&call, &cr_x_adapter);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_201_ok),
        cmocka_unit_test(test_201_malformed),
        cmocka_unit_test(test_401_auth_expired),
        cmocka_unit_test(test_403_duplicate),
        cmocka_unit_test(test_403_other_permanent),
        cmocka_unit_test(test_400_permanent_with_detail),
        cmocka_unit_test(test_429_epoch_reset),
        cmocka_unit_test(test_429_without_or_bad_reset),
        cmocka_unit_test(test_5xx_indeterminate_408_transient),
        cmocka_unit_test(test_curl_before_and_after_send),
        cmocka_unit_test(test_unexpected_statuses),
        cmocka_unit_test(test_readback_classification),
        cmocka_unit_test(test_publish_request),
        cmocka_unit_test(test_publish_request_refusals),
        cmocka_unit_test(test_readback_requests),
        cmocka_unit_test(test_fingerprint_whitespace),
        cmocka_unit_test(test_fingerprint_urls),
        cmocka_unit_test(test_fingerprint_emoji_and_case),
        cmocka_unit_test(test_match_found),
        cmocka_unit_test(test_match_not_found_and_pages),
        cmocka_unit_test(test_match_hostile),
        cmocka_unit_test(test_steps_publish),
        cmocka_unit_test(test_steps_reconcile_found),
        cmocka_unit_test(test_steps_reconcile_not_found),
        cmocka_unit_test(test_steps_reconcile_pages),
        cmocka_unit_test(test_steps_reconcile_failures),
        cmocka_unit_test(test_media_requests),
        cmocka_unit_test(test_media_check),
        cmocka_unit_test(test_upload_result),
        cmocka_unit_test(test_steps_media),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
