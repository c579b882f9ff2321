/* test_mastodon: the Mastodon adapter's pure request builder and response
 * classifier, against canned platform answers (no network). */
#include "cr_adapter.h"
#include "cr_mastodon.h"
#include "cr_util.h"

#include <curl/curl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */

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

static cr_result_t s_classify(long status, const char *headers, const char *body)
{
    cr_http_resp_t r = s_resp(status, headers, body);
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_mastodon_publish_result(&r, NOW, &res);
    return res;
}

static cr_result_t s_classify_curl(int code, int sent)
{
    cr_http_resp_t r = s_resp(0, NULL, NULL);
    r.curl_code = code;
    r.sent = sent;
    r.error = curl_easy_strerror((CURLcode)code);
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_mastodon_publish_result(&r, NOW, &res);
    return res;
}

/* ---- classification ---------------------------------------------------- */

static void test_200_ok(void **state)
{
    cr_result_t r = s_classify(
        200, "HTTP/2 200 \r\ncontent-type: application/json; charset=utf-8\r\n\r\n",
        "{\"id\":\"103704874086360371\",\"uri\":\"https://social.example/users/acme/statuses/"
        "103704874086360371\",\"url\":\"https://social.example/@acme/103704874086360371\","
        "\"created_at\":\"2023-11-14T22:13:20.000Z\",\"content\":\"<p>Hello</p>\","
        "\"replies_count\":0,\"reblogs_count\":0,\"favourites_count\":0}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(r.http_status, 200);
    assert_string_equal(r.platform_post_id, "103704874086360371");
    assert_string_equal(r.url, "https://social.example/@acme/103704874086360371");
    assert_null(r.error);
    assert_int_equal(r.retry_at_ms, 0);
    cr_result_clear(&r);
}

static void test_200_url_falls_back_to_uri(void **state)
{
    cr_result_t r = s_classify(200, NULL,
                               "{\"id\":\"42\",\"uri\":\"https://s.example/users/a/statuses/42\","
                               "\"url\":null}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(r.platform_post_id, "42");
    assert_string_equal(r.url, "https://s.example/users/a/statuses/42");
    cr_result_clear(&r);
}

static void test_200_malformed(void **state)
{
    static const char *bodies[] = {
        "{}",
        "{\"id\":\"\"}",
        "{\"id\":null,\"url\":\"https://x\"}",
        "{\"id\":103704874086360371}",  /* wrong type: ids are strings */
        "{\"id\":[\"1\"]}",
        "[{\"id\":\"1\"}]",
        "{\"id\":\"1 2\"}",
        "<html><body>OK</body></html>",
        "",
        "{\"id\":\"1\"", /* truncated */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        cr_result_t r = s_classify(200, NULL, bodies[i]);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
        assert_string_equal(r.error, "malformed success response");
        assert_null(r.platform_post_id);
        cr_result_clear(&r);
    }
}

static void test_401_auth_expired(void **state)
{
    cr_result_t r = s_classify(401, "HTTP/1.1 401 Unauthorized\r\n\r\n",
                               "{\"error\":\"The access token is invalid\"}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_int_equal(r.http_status, 401);
    assert_string_equal(r.error, "The access token is invalid");
    cr_result_clear(&r);
}

static void test_403_404_410_permanent(void **state)
{
    static const struct {
        long status;
        const char *body, *error, *code;
    } cases[] = {
        {403, "{\"error\":\"This action is not allowed\"}", "This action is not allowed", "403"},
        {404, "{\"error\":\"Record not found\"}", "Record not found", "404"},
        {410, "{\"error\":\"Gone\"}", "Gone", "410"},
        {400, "{\"error\":\"Bad request\"}", "Bad request", "400"},
        {413, "{\"error\":\"Too large\"}", "Too large", "413"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_result_t r = s_classify(cases[i].status, NULL, cases[i].body);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        assert_int_equal(r.http_status, cases[i].status);
        assert_string_equal(r.error, cases[i].error);
        assert_string_equal(r.error_code, cases[i].code);
        cr_result_clear(&r);
    }
}

static void test_422_exact_message(void **state)
{
    cr_result_t r =
        s_classify(422, "HTTP/1.1 422 Unprocessable Entity\r\n\r\n",
                   "{\"error\":\"Validation failed: Text character limit of 500 exceeded\"}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_int_equal(r.http_status, 422);
    assert_string_equal(r.error, "Validation failed: Text character limit of 500 exceeded");
    assert_string_equal(r.error_code, "422");
    cr_result_clear(&r);
}

static void test_429_with_reset(void **state)
{
    /* NOW + 300.25 s, with microseconds as Mastodon sends them. */
    cr_result_t r = s_classify(429,
                               "HTTP/1.1 429 Too Many Requests\r\n"
                               "X-RateLimit-Limit: 300\r\n"
                               "X-RateLimit-Remaining: 0\r\n"
                               "X-RateLimit-Reset: 2023-11-14T22:18:20.250381Z\r\n\r\n",
                               "{\"error\":\"Too many requests\"}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.http_status, 429);
    assert_int_equal(r.retry_at_ms, 1700000300250LL);
    assert_string_equal(r.error, "Too many requests");
    assert_string_equal(r.error_code, "429");
    cr_result_clear(&r);

    /* HTTP/2 lower-case names, offset form. */
    r = s_classify(429, "HTTP/2 429 \r\nx-ratelimit-reset: 2023-11-14T23:18:20.250000+01:00\r\n\r\n",
                   "{\"error\":\"Too many requests\"}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, 1700000300250LL);
    cr_result_clear(&r);
}

static void test_429_without_reset(void **state)
{
    cr_result_t r = s_classify(429, "HTTP/1.1 429 Too Many Requests\r\n\r\n",
                               "{\"error\":\"Too many requests\"}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, NOW + 60000);
    cr_result_clear(&r);

    r = s_classify(429, "X-RateLimit-Reset: tomorrow\r\n", "not json");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, NOW + 60000);
    assert_string_equal(r.error, "HTTP 429");
    cr_result_clear(&r);
}

static void test_429_reset_clamped(void **state)
{
    /* In the past (clock skew): wait a second rather than spin. */
    cr_result_t r = s_classify(429, "X-RateLimit-Reset: 2023-11-14T22:00:00.000000Z\r\n", NULL);
    assert_int_equal(r.retry_at_ms, NOW + 1000);
    cr_result_clear(&r);
    /* Absurdly far: one header never parks an account for more than a day. */
    r = s_classify(429, "X-RateLimit-Reset: 9999-12-31T23:59:59.000000Z\r\n", NULL);
    assert_int_equal(r.retry_at_ms, NOW + 24LL * 3600000);
    cr_result_clear(&r);
}

static void test_5xx_and_408_transient(void **state)
{
    static const long statuses[] = {500, 502, 504, 408};
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        cr_result_t r = s_classify(statuses[i], NULL, "{\"error\":\"boom\"}");
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
        assert_int_equal(r.http_status, statuses[i]);
        assert_string_equal(r.error, "boom");
        cr_result_clear(&r);
    }
}

static void test_503_html(void **state)
{
    cr_result_t r = s_classify(
        503, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\n",
        "<!DOCTYPE html>\n<html><head><title>We're sorry, but something went wrong</title>"
        "</head><body><h1>503</h1></body></html>");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_int_equal(r.http_status, 503);
    assert_string_equal(r.error, "HTTP 503 Service Unavailable");
    assert_string_equal(r.error_code, "503");
    cr_result_clear(&r);
}

static void test_curl_before_and_after_send(void **state)
{
    static const struct {
        int code, sent;
        Crieur__Outcome want;
    } cases[] = {
        {CURLE_COULDNT_RESOLVE_HOST, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {CURLE_COULDNT_CONNECT, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {CURLE_SSL_CONNECT_ERROR, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {CURLE_PEER_FAILED_VERIFICATION, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        /* a connect timeout: never sent */
        {CURLE_OPERATION_TIMEDOUT, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        /* codes that precede sending win over a contradicting flag */
        {CURLE_COULDNT_CONNECT, 1, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        /* after the request left: the outcome is unknown */
        {CURLE_OPERATION_TIMEDOUT, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
        {CURLE_RECV_ERROR, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
        {CURLE_GOT_NOTHING, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
        {CURLE_SEND_ERROR, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
        {CURLE_PARTIAL_FILE, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
        {CURLE_HTTP2_STREAM, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
        {CURLE_SEND_ERROR, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_result_t r = s_classify_curl(cases[i].code, cases[i].sent);
        if (r.outcome != cases[i].want)
            fail_msg("case %zu: curl %d sent=%d -> %d, want %d", i, cases[i].code,
                     cases[i].sent, r.outcome, cases[i].want);
        assert_non_null(r.error);
        assert_non_null(r.error_code);
        assert_int_equal(strncmp(r.error_code, "curl:", 5), 0);
        cr_result_clear(&r);
    }
}

static void test_too_large(void **state)
{
    cr_http_resp_t resp = s_resp(200, NULL, "{\"id\":\"1\"}");
    resp.too_large = 1;
    resp.curl_code = CURLE_WRITE_ERROR;
    cr_result_t r;
    memset(&r, 0, sizeof r);
    cr_mastodon_publish_result(&resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_non_null(strstr(r.error, "response too large"));
    cr_result_clear(&r);
}

static void test_not_json_and_wrong_types(void **state)
{
    cr_result_t r = s_classify(422, "HTTP/1.1 422 Unprocessable Entity\r\n\r\n", "plain text");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error, "HTTP 422 Unprocessable Entity");
    cr_result_clear(&r);

    r = s_classify(422, NULL, "{\"error\":{\"text\":\"nested\"}}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error, "HTTP 422");
    cr_result_clear(&r);

    r = s_classify(401, NULL, "{\"error\":42}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(r.error, "HTTP 401");
    cr_result_clear(&r);

    /* Binary with NUL bytes. */
    static const char bin[] = {'\x7b', '\0', '\xff', '\xfe', '"', '\x01', '}'};
    cr_http_resp_t resp = s_resp(500, NULL, NULL);
    resp.body = bin;
    resp.body_len = sizeof bin;
    memset(&r, 0, sizeof r);
    cr_mastodon_publish_result(&resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);

    /* Hostile status line: control characters and invalid UTF-8 in the reason. */
    r = s_classify(404, "HTTP/1.1 404 Not\x01\xff Found\r\n\r\n", "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_int_equal(cr_utf8_invalid_at(r.error, strlen(r.error)), -1);
    assert_null(strchr(r.error, '\x01'));
    cr_result_clear(&r);
}

static void test_oversized_error_text(void **state)
{
    /* 2000 euro signs (3 bytes each) and a tab/newline: cut at 500 bytes on a
     * character boundary, control characters turned into spaces. */
    size_t n = 2000;
    char *body = malloc(n * 3 + 64);
    size_t o = (size_t)snprintf(body, 64, "{\"error\":\"a\\tb\\n");
    for (size_t i = 0; i < n; i++) {
        memcpy(body + o, "\xe2\x82\xac", 3);
        o += 3;
    }
    memcpy(body + o, "\"}", 3);
    cr_result_t r = s_classify(422, NULL, body);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    size_t el = strlen(r.error);
    assert_true(el <= 500);
    assert_true(el >= 497);
    assert_int_equal(cr_utf8_invalid_at(r.error, el), -1);
    assert_int_equal(strncmp(r.error, "a b ", 4), 0);
    cr_result_clear(&r);
    free(body);

    /* A huge non-JSON page. */
    size_t big = 1024 * 1024;
    char *page = malloc(big + 1);
    memset(page, '<', big);
    page[big] = '\0';
    r = s_classify(500, NULL, page);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(r.error, "HTTP 500");
    cr_result_clear(&r);
    free(page);
}

static void test_unexpected_statuses(void **state)
{
    cr_result_t r = s_classify(301, "HTTP/1.1 301 Moved Permanently\r\nLocation: https://new.example/api/v1/statuses\r\n\r\n", "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_non_null(strstr(r.error, "redirect"));
    assert_non_null(strstr(r.error, "https://new.example/api/v1/statuses"));
    cr_result_clear(&r);

    r = s_classify(0, NULL, NULL); /* no status, no curl error: should not happen */
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_result_clear(&r);

    r = s_classify(999, NULL, NULL);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_result_clear(&r);
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
    f->task.account = &f->acc;
    f->task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    f->task.publish = &f->pub;
    f->acc.id = 3;
    f->acc.platform = "mastodon";
    f->acc.api_base = (char *)base;
    f->acc.token = "s3cr3t-T0ken_";
    f->pub.post_id = 42;
    f->pub.body = (char *)body;
    f->pub.link = (char *)link;
    f->pub.idempotency_key = "6f1c2f1e-8a3b-4c1d-9e2f-0a1b2c3d4e5f";
}

static const char *s_req_header(const cr_http_req_t *req, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (strncmp(req->headers[i], name, nl) == 0 && req->headers[i][nl] == ':')
            return req->headers[i] + nl + 2;
    return NULL;
}

static json_t *s_req_json(const cr_http_req_t *req)
{
    json_error_t err;
    json_t *j = json_loadb(req->body, req->body_len, 0, &err);
    if (!j) fail_msg("request body is not JSON: %s", err.text);
    return j;
}

static void test_request_url_join(void **state)
{
    static const char *bases[] = {"https://social.example", "https://social.example/",
                                  "https://social.example//"};
    for (size_t i = 0; i < 3; i++) {
        fixture_t f;
        s_fixture(&f, bases[i], "hi", "");
        cr_http_req_t req;
        cr_result_t res;
        memset(&req, 0, sizeof req);
        memset(&res, 0, sizeof res);
        assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), 0);
        assert_string_equal(req.url, "https://social.example/api/v1/statuses");
        assert_string_equal(req.method, "POST");
        cr_http_req_clear(&req);
    }
    fixture_t f;
    s_fixture(&f, "http://127.0.0.1:8080/mastodon/", "hi", "");
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), 0);
    assert_string_equal(req.url, "http://127.0.0.1:8080/mastodon/api/v1/statuses");
    cr_http_req_clear(&req);

    static const char *bad[] = {"", "social.example", "ftp://social.example", "https://",
                                "https://social example", "https://x/?a=1",
                                "https://x\r\nEvil: 1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s_fixture(&f, bad[i], "hi", "");
        memset(&res, 0, sizeof res);
        assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), -1);
        assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        assert_string_equal(res.error_code, "bad_api_base");
        assert_null(req.url);
        cr_result_clear(&res);
    }
}

static void test_request_headers(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://social.example", "hi", "");
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), 0);
    assert_string_equal(s_req_header(&req, "Authorization"), "Bearer s3cr3t-T0ken_");
    assert_string_equal(s_req_header(&req, "Idempotency-Key"),
                        "6f1c2f1e-8a3b-4c1d-9e2f-0a1b2c3d4e5f");
    assert_string_equal(s_req_header(&req, "Content-Type"), "application/json");
    assert_string_equal(s_req_header(&req, "User-Agent"), "crieur/0.1");
    json_t *j = s_req_json(&req);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "hi");
    assert_string_equal(json_string_value(json_object_get(j, "visibility")), "public");
    assert_null(json_object_get(j, "language"));
    assert_null(json_object_get(j, "in_reply_to_id"));
    json_decref(j);
    cr_http_req_clear(&req);

    /* Without a key: one derived from the post, the same on every attempt. */
    f.pub.idempotency_key = "";
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), 0);
    assert_string_equal(s_req_header(&req, "Idempotency-Key"), "crieur-post-42");
    cr_http_req_clear(&req);
}

static void test_request_link_and_fields(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);

    s_fixture(&f, "https://s.example", "Nouveau catalogue", "https://acme.example/c");
    f.pub.language = "fr";
    f.pub.in_reply_to = "109876";
    f.pub.visibility = "unlisted";
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), 0);
    json_t *j = s_req_json(&req);
    assert_string_equal(json_string_value(json_object_get(j, "status")),
                        "Nouveau catalogue\n\nhttps://acme.example/c");
    assert_string_equal(json_string_value(json_object_get(j, "language")), "fr");
    assert_string_equal(json_string_value(json_object_get(j, "in_reply_to_id")), "109876");
    assert_string_equal(json_string_value(json_object_get(j, "visibility")), "unlisted");
    json_decref(j);
    cr_http_req_clear(&req);

    /* The link is already in the text: not repeated. */
    s_fixture(&f, "https://s.example", "Voir https://acme.example/c !", "https://acme.example/c");
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), 0);
    j = s_req_json(&req);
    assert_string_equal(json_string_value(json_object_get(j, "status")),
                        "Voir https://acme.example/c !");
    json_decref(j);
    cr_http_req_clear(&req);

    /* Only a link. */
    s_fixture(&f, "https://s.example", "", "https://acme.example/c");
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), 0);
    j = s_req_json(&req);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "https://acme.example/c");
    json_decref(j);
    cr_http_req_clear(&req);
}

static void test_request_json_escaping(void **state)
{
    const char *text = "Il a dit \"bonjour\" \\ à tous\nLigne 2\t🎉 \xe4\xb8\xad\xe6\x96\x87";
    fixture_t f;
    s_fixture(&f, "https://s.example", text, "");
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), 0);
    /* Raw body: quotes, backslash and newline are escaped, the emoji is UTF-8. */
    char *raw = strndup(req.body, req.body_len);
    assert_non_null(strstr(raw, "\\\"bonjour\\\""));
    assert_non_null(strstr(raw, "\\n"));
    assert_non_null(strstr(raw, "\\\\"));
    assert_null(strchr(raw, '\n'));
    assert_non_null(strstr(raw, "🎉"));
    free(raw);
    json_t *j = s_req_json(&req);
    assert_string_equal(json_string_value(json_object_get(j, "status")), text);
    json_decref(j);
    cr_http_req_clear(&req);
}

static void test_request_refusals(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);

    s_fixture(&f, "https://s.example", "hi", "");
    f.acc.token = "";
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_result_clear(&res);

    f.acc.token = "abc\r\nX-Injected: 1"; /* header injection */
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_null(strstr(res.error, "abc")); /* the token is never echoed */
    cr_result_clear(&res);

    s_fixture(&f, "https://s.example", "hi", "");
    f.pub.idempotency_key = "key\nX: y";
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_result_clear(&res);

    s_fixture(&f, "https://s.example", "bad \xff\xfe text", "");
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(res.error_code, "bad_text");
    cr_result_clear(&res);

    s_fixture(&f, "https://s.example", "hi", "");
    f.pub.visibility = "everyone";
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_result_clear(&res);

    /* a post with media needs its uploaded ids: the text-only builder refuses */
    s_fixture(&f, "https://s.example", "hi", "");
    char *media[] = {"https://cdn.example/a.jpg"};
    f.pub.media = media;
    f.pub.n_media = 1;
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), -1);
    assert_string_equal(res.error_code, "internal");
    cr_result_clear(&res);
    assert_null(req.url);

    s_fixture(&f, "https://s.example", "hi", "");
    f.task.payload_case = CRIEUR__TASK__PAYLOAD__NOT_SET;
    assert_int_equal(cr_mastodon_publish_request(&f.task, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_result_clear(&res);
    assert_null(req.url);
}

/* The adapter's state machine, end to end with a canned answer. */
static void test_adapter_steps(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://s.example", "hi", "");
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "https://s.example/api/v1/statuses");
    cr_http_resp_t resp = s_resp(200, NULL, "{\"id\":\"9\",\"url\":\"https://s.example/@a/9\"}");
    cr_http_req_clear(&call.req);
    assert_int_equal(cr_mastodon_adapter.step(&call, &resp), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "9");
    cr_call_clear(&call, &cr_mastodon_adapter);

    f.task.kind = CRIEUR__JOB_KIND__KIND_METRICS;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_call_clear(&call, &cr_mastodon_adapter);
}

/* ---- media -------------------------------------------------------------- */

static const unsigned char s_jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0};

static void test_status_with_media_ids(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://s.example", "hi", "");
    char *media[] = {"/tmp/a.jpg", "https://cdn.example/b.png"};
    f.pub.media = media;
    f.pub.n_media = 2;
    f.pub.in_reply_to = "1099";
    const char *ids[] = {"111", "222"};
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    assert_int_equal(cr_mastodon_status_request(&f.task, ids, 2, &req, &res), 0);
    json_t *j = s_req_json(&req);
    json_t *m = json_object_get(j, "media_ids");
    assert_int_equal(json_array_size(m), 2);
    assert_string_equal(json_string_value(json_array_get(m, 0)), "111");
    assert_string_equal(json_string_value(json_array_get(m, 1)), "222");
    assert_string_equal(json_string_value(json_object_get(j, "in_reply_to_id")), "1099");
    assert_non_null(s_req_header(&req, "Idempotency-Key"));
    json_decref(j);
    cr_http_req_clear(&req);
    /* an id that could inject into the body or a header is refused */
    const char *bad[] = {"111", "2 2"};
    assert_int_equal(cr_mastodon_status_request(&f.task, bad, 2, &req, &res), -1);
    assert_null(req.url);
    cr_result_clear(&res);
}

static void test_media_upload_request(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://s.example/", "hi", "");
    cr_media_t m;
    memset(&m, 0, sizeof m);
    m.data = (unsigned char *)s_jpeg;
    m.len = sizeof s_jpeg;
    m.mime = "image/jpeg";
    snprintf(m.name, sizeof m.name, "image.jpg");
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    assert_int_equal(cr_mastodon_media_request(&f.task, &m, &req, &res), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "https://s.example/api/v2/media");
    assert_string_equal(s_req_header(&req, "Authorization"), "Bearer s3cr3t-T0ken_");
    const char *ct = s_req_header(&req, "Content-Type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "multipart/form-data; boundary="));
    assert_non_null(strstr(req.body, "name=\"file\"; filename=\"image.jpg\"\r\n"
                                     "Content-Type: image/jpeg\r\n\r\n"));
    /* the bytes are in the body as they are */
    const char *p = strstr(req.body, "\r\n\r\n");
    assert_non_null(p);
    assert_memory_equal(p + 4, s_jpeg, sizeof s_jpeg);
    cr_http_req_clear(&req);

    assert_int_equal(cr_mastodon_media_poll_request(&f.task, "77", &req, &res), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "https://s.example/api/v1/media/77");
    cr_http_req_clear(&req);
    assert_int_equal(cr_mastodon_media_poll_request(&f.task, "../statuses", &req, &res), -1);
    assert_null(req.url);
    cr_result_clear(&res);
    f.acc.token = "";
    assert_int_equal(cr_mastodon_media_request(&f.task, &m, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_result_clear(&res);
}

static int s_media_classify(long status, const char *headers, const char *body, char *id,
                            int *processing, cr_result_t *res)
{
    cr_http_resp_t r = s_resp(status, headers, body);
    memset(res, 0, sizeof *res);
    return cr_mastodon_media_result(&r, NOW, id, 64, processing, res);
}

static void test_media_result(void **state)
{
    char id[64];
    int processing = -1;
    cr_result_t res;
    assert_int_equal(s_media_classify(200, NULL,
                                      "{\"id\":\"5\",\"type\":\"image\",\"url\":\"https://s/m/5\"}",
                                      id, &processing, &res),
                     0);
    assert_string_equal(id, "5");
    assert_int_equal(processing, 0);
    assert_int_equal(s_media_classify(202, NULL, "{\"id\":\"6\",\"url\":null}", id, &processing,
                                      &res),
                     0);
    assert_string_equal(id, "6");
    assert_int_equal(processing, 1);
    assert_int_equal(s_media_classify(206, NULL, "{\"id\":\"6\",\"url\":null}", id, &processing,
                                      &res),
                     0);
    assert_int_equal(processing, 1);
    /* 200 without a url is still processing, never attached early */
    assert_int_equal(s_media_classify(200, NULL, "{\"id\":\"6\",\"url\":null}", id, &processing,
                                      &res),
                     0);
    assert_int_equal(processing, 1);

    static const struct {
        long status;
        const char *body;
        Crieur__Outcome outcome;
        const char *code;
    } cases[] = {
        {422, "{\"error\":\"Validation failed: File content type is invalid\"}",
         CRIEUR__OUTCOME__OUTCOME_PERMANENT, "422"},
        {413, "<html>too large</html>", CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_too_large"},
        {401, "{\"error\":\"The access token is invalid\"}", CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED,
         "401"},
        {404, "{\"error\":\"Record not found\"}", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "404"},
        {503, "", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "503"},
        {200, "{\"id\":5}", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "media_malformed"},
        {200, "not json", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "media_malformed"},
        {302, "", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "302"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(
            s_media_classify(cases[i].status, NULL, cases[i].body, id, &processing, &res), -1);
        assert_int_equal(res.outcome, cases[i].outcome);
        assert_string_equal(res.error_code, cases[i].code);
        cr_result_clear(&res);
    }
    assert_int_equal(s_media_classify(422, NULL,
                                      "{\"error\":\"Validation failed: File content type is "
                                      "invalid\"}",
                                      id, &processing, &res),
                     -1);
    assert_non_null(strstr(res.error, "File content type is invalid"));
    cr_result_clear(&res);
    /* the media family's 429: retry at the reset */
    assert_int_equal(s_media_classify(429, "X-RateLimit-Reset: 2023-11-14T22:43:20.000000Z\r\n",
                                      "{\"error\":\"Too many requests\"}", id, &processing, &res),
                     -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(res.retry_at_ms, NOW + 1800000);
    cr_result_clear(&res);
    /* a lost upload answer publishes nothing: TRANSIENT, not INDETERMINATE */
    cr_http_resp_t r = s_resp(0, NULL, NULL);
    r.curl_code = CURLE_OPERATION_TIMEDOUT;
    assert_int_equal(cr_mastodon_media_result(&r, NOW, id, sizeof id, &processing, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&res);
}

/* Upload (202), wait, poll (206), wait, poll (200), then the status. */
static void test_adapter_media_steps(void **state)
{
    char path[] = "/tmp/crieur-test-mastodon-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s_jpeg, sizeof s_jpeg), (ssize_t)sizeof s_jpeg);
    close(fd);
    setenv("CRIEUR_MASTODON_MEDIA_POLL_MS", "250", 1);
    fixture_t f;
    s_fixture(&f, "https://s.example", "with image", "");
    char *media[] = {path};
    f.pub.media = media;
    f.pub.n_media = 1;
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "https://s.example/api/v2/media");
    cr_http_req_clear(&call.req);
    cr_http_resp_t resp = s_resp(202, NULL, "{\"id\":\"31\",\"url\":null}");
    assert_int_equal(cr_mastodon_adapter.step(&call, &resp), CR_STEP_WAIT);
    assert_int_equal(call.wait_ms, 250);
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "https://s.example/api/v1/media/31");
    cr_http_req_clear(&call.req);
    resp = s_resp(206, NULL, "{\"id\":\"31\",\"url\":null}");
    assert_int_equal(cr_mastodon_adapter.step(&call, &resp), CR_STEP_WAIT);
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_REQUEST);
    cr_http_req_clear(&call.req);
    resp = s_resp(200, NULL, "{\"id\":\"31\",\"url\":\"https://s.example/m/31\"}");
    assert_int_equal(cr_mastodon_adapter.step(&call, &resp), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "https://s.example/api/v1/statuses");
    json_t *j = s_req_json(&call.req);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "media_ids"), 0)),
                        "31");
    json_decref(j);
    cr_http_req_clear(&call.req);
    resp = s_resp(200, NULL, "{\"id\":\"90\",\"url\":\"https://s.example/@a/90\"}");
    assert_int_equal(cr_mastodon_adapter.step(&call, &resp), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "90");
    cr_call_clear(&call, &cr_mastodon_adapter);

    /* polls are bounded */
    setenv("CRIEUR_MASTODON_MEDIA_MAX_POLLS", "1", 1);
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_REQUEST);
    cr_http_req_clear(&call.req);
    resp = s_resp(202, NULL, "{\"id\":\"32\",\"url\":null}");
    assert_int_equal(cr_mastodon_adapter.step(&call, &resp), CR_STEP_WAIT);
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_REQUEST);
    cr_http_req_clear(&call.req);
    resp = s_resp(206, NULL, "{\"id\":\"32\",\"url\":null}");
    assert_int_equal(cr_mastodon_adapter.step(&call, &resp), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(call.result.error_code, "media_processing");
    cr_call_clear(&call, &cr_mastodon_adapter);
    unsetenv("CRIEUR_MASTODON_MEDIA_MAX_POLLS");
    unsetenv("CRIEUR_MASTODON_MEDIA_POLL_MS");

    /* an image URL is downloaded first */
    char *urls[] = {"https://cdn.example/pic.jpg?sig=secret"};
    f.pub.media = urls;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "GET");
    assert_string_equal(call.req.url, urls[0]);
    assert_int_equal(call.req.follow_redirects, 1);
    cr_http_req_clear(&call.req);
    resp = s_resp(200, NULL, NULL);
    resp.body = (const char *)s_jpeg;
    resp.body_len = sizeof s_jpeg;
    assert_int_equal(cr_mastodon_adapter.step(&call, &resp), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "https://s.example/api/v2/media");
    cr_http_req_clear(&call.req);
    cr_call_clear(&call, &cr_mastodon_adapter);

    /* too many images, a bad item, a missing file: PERMANENT before any request */
    char *five[] = {path, path, path, path, path};
    f.pub.media = five;
    f.pub.n_media = 5;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "too_many_media");
    assert_null(call.req.url);
    cr_call_clear(&call, &cr_mastodon_adapter);
    char *rel[] = {"pic.jpg"};
    f.pub.media = rel;
    f.pub.n_media = 1;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "bad_media");
    cr_call_clear(&call, &cr_mastodon_adapter);
    unlink(path);
    f.pub.media = media;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "media_unreadable");
    cr_call_clear(&call, &cr_mastodon_adapter);
    /* a bad account is found before anything is uploaded */
    f.acc.api_base = "ftp://nope";
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_mastodon_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "bad_api_base");
    cr_call_clear(&call, &cr_mastodon_adapter);
}

/* ---- shared pure helpers ----------------------------------------------- */

static void test_header_lookup(void **state)
{
    cr_http_resp_t r = s_resp(200,
                              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "X-RateLimit-Reset:   2023-11-14T22:18:20.250381Z  \r\n"
                              "X-Empty:\r\n\r\n",
                              NULL);
    char buf[64];
    assert_int_equal(cr_http_header(&r, "x-ratelimit-reset", buf, sizeof buf), 27);
    assert_string_equal(buf, "2023-11-14T22:18:20.250381Z");
    assert_int_equal(cr_http_header(&r, "X-Empty", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(cr_http_header(&r, "X-Missing", buf, sizeof buf), -1);
    assert_int_equal(cr_http_header(&r, "X-RateLimit", buf, sizeof buf), -1);
    char small[5];
    assert_int_equal(cr_http_header(&r, "content-type", small, sizeof small), 16);
    assert_string_equal(small, "appl");
}

static void test_text_clean(void **state)
{
    char *s = cr_text_clean("ok\x01\x7f\xc3\xa9\xff\xe2\x82", 9, 100);
    assert_string_equal(s, "ok  \xc3\xa9???");
    free(s);
    s = cr_text_clean("\xc3\xa9\xc3\xa9", 4, 3); /* never cut inside a character */
    assert_string_equal(s, "\xc3\xa9");
    free(s);
    s = cr_text_clean(NULL, 0, 10);
    assert_string_equal(s, "");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_200_ok),
        cmocka_unit_test(test_200_url_falls_back_to_uri),
        cmocka_unit_test(test_200_malformed),
        cmocka_unit_test(test_401_auth_expired),
        cmocka_unit_test(test_403_404_410_permanent),
        cmocka_unit_test(test_422_exact_message),
        cmocka_unit_test(test_429_with_reset),
        cmocka_unit_test(test_429_without_reset),
        cmocka_unit_test(test_429_reset_clamped),
        cmocka_unit_test(test_5xx_and_408_transient),
        cmocka_unit_test(test_503_html),
        cmocka_unit_test(test_curl_before_and_after_send),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_not_json_and_wrong_types),
        cmocka_unit_test(test_oversized_error_text),
        cmocka_unit_test(test_unexpected_statuses),
        cmocka_unit_test(test_request_url_join),
        cmocka_unit_test(test_request_headers),
        cmocka_unit_test(test_request_link_and_fields),
        cmocka_unit_test(test_request_json_escaping),
        cmocka_unit_test(test_request_refusals),
        cmocka_unit_test(test_adapter_steps),
        cmocka_unit_test(test_status_with_media_ids),
        cmocka_unit_test(test_media_upload_request),
        cmocka_unit_test(test_media_result),
        cmocka_unit_test(test_adapter_media_steps),
        cmocka_unit_test(test_header_lookup),
        cmocka_unit_test(test_text_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
