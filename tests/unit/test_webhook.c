/* test_webhook: the Slack-compatible webhook alert adapter: the request it
 * builds (JSON text and blocks, mrkdwn escaping, cleaning and cutting of the
 * alert text) and the classification of canned answers (no network). */
#include "cr_adapter.h"
#include "cr_alert.h"
#include "cr_util.h"
#include "cr_webhook.h"

#include <curl/curl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */
#define URL "https://hooks.example.test/services/T000/B000/s3cr3tXYZsecretpart"

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__AlertPayload alert;
} alert_t;

static void s_alert(alert_t *t, const char *url, const char *subject, const char *text)
{
    crieur__task__init(&t->task);
    crieur__account__init(&t->acc);
    crieur__alert_payload__init(&t->alert);
    t->task.job_id = 77;
    t->task.attempt = 1;
    t->task.kind = CRIEUR__JOB_KIND__KIND_ALERT;
    t->task.account = &t->acc;
    t->task.payload_case = CRIEUR__TASK__PAYLOAD_ALERT;
    t->task.alert = &t->alert;
    t->acc.platform = "webhook";
    t->acc.handle = "ops";
    t->acc.token = (char *)url;
    t->alert.alert_id = 12;
    t->alert.severity = "critical";
    t->alert.kind = "post_failed";
    t->alert.subject = (char *)subject;
    t->alert.text = (char *)text;
    t->alert.client = "acme";
    t->alert.post_id = 4242;
}

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
    alert_t t;
    s_alert(&t, URL, "s", "t");
    cr_http_resp_t r = s_resp(status, headers, body);
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_webhook_result(&t.task, &r, NOW, &res);
    return res;
}

/* The request's JSON body, parsed. */
static json_t *s_request_json(const alert_t *t)
{
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    assert_int_equal(cr_webhook_request(&t->task, &req, &res), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, URL);
    json_error_t err;
    json_t *root = json_loadb(req.body, req.body_len, 0, &err);
    if (!root) fail_msg("request body is not JSON: %s", err.text);
    assert_int_equal(cr_utf8_invalid_at(req.body, req.body_len), -1);
    int typed = 0;
    for (size_t i = 0; i < req.n_headers; i++)
        typed |= strcmp(req.headers[i], "Content-Type: application/json; charset=utf-8") == 0;
    assert_true(typed);
    cr_http_req_clear(&req);
    return root;
}

static const char *s_block_text(json_t *root, size_t i)
{
    json_t *b = json_array_get(json_object_get(root, "blocks"), i);
    json_t *t = json_object_get(b, "text");
    if (!t) t = json_array_get(json_object_get(b, "elements"), 0);
    return json_string_value(json_object_get(t, "text"));
}

static size_t s_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int s_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* ---- request --------------------------------------------------------------- */

static void test_request_text_and_blocks(void **state)
{
    alert_t t;
    s_alert(&t, URL, "Post 4242 failed on X", "X said: <b>403</b> & \"duplicate\"\nline two");
    json_t *root = s_request_json(&t);
    const char *text = json_string_value(json_object_get(root, "text"));
    assert_non_null(text);
    assert_non_null(strstr(text, "[CRITICAL] Post 4242 failed on X"));
    /* mrkdwn escaping: & < > as entities, nothing else touched */
    assert_non_null(strstr(text, "&lt;b&gt;403&lt;/b&gt; &amp; \"duplicate\"\nline two"));
    json_t *blocks = json_object_get(root, "blocks");
    assert_int_equal(json_array_size(blocks), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 0), "type")),
                        "header");
    assert_string_equal(s_block_text(root, 0), ":rotating_light: CRITICAL: Post 4242 failed on X");
    assert_string_equal(s_block_text(root, 1),
                        "X said: &lt;b&gt;403&lt;/b&gt; &amp; \"duplicate\"\nline two");
    const char *ctx = s_block_text(root, 2);
    assert_non_null(strstr(ctx, "kind: post_failed"));
    assert_non_null(strstr(ctx, "client: acme"));
    assert_non_null(strstr(ctx, "post: 4242"));
    assert_non_null(strstr(ctx, "alert: #12"));
    json_decref(root);
}

static void test_request_non_utf8_and_controls(void **state)
{
    alert_t t;
    s_alert(&t, URL, "bad \xff\xfe subject\r\nInjected: yes", "a\x01z \xc3\x28 end\r\nnext\x7f");
    json_t *root = s_request_json(&t);
    const char *head = s_block_text(root, 0);
    assert_null(strchr(head, '\n'));
    assert_null(strchr(head, '\r'));
    assert_non_null(strstr(head, "bad \xEF\xBF\xBD\xEF\xBF\xBD subject Injected: yes"));
    assert_string_equal(s_block_text(root, 1), "a z \xEF\xBF\xBD( end\nnext");
    json_decref(root);
}

static void test_request_huge_text_cut_cleanly(void **state)
{
    /* 20 000 x "é&" : multibyte characters and entities at every cut point */
    size_t n = 20000;
    char *big = malloc(n * 3 + 1);
    for (size_t i = 0; i < n; i++) memcpy(big + i * 3, "\xC3\xA9&", 3);
    big[n * 3] = '\0';
    char *subject = malloc(1001);
    memset(subject, 'S', 1000);
    subject[1000] = '\0';
    alert_t t;
    s_alert(&t, URL, subject, big);
    json_t *root = s_request_json(&t);
    const char *section = s_block_text(root, 1);
    assert_true(s_chars(section) <= CR_WEBHOOK_SECTION_CHARS);
    assert_true(s_chars(section) > CR_WEBHOOK_SECTION_CHARS - 8);
    assert_true(s_ends_with(section, "&amp;" CR_ALERT_CUT_MARK) ||
                s_ends_with(section, "\xC3\xA9" CR_ALERT_CUT_MARK));
    const char *text = json_string_value(json_object_get(root, "text"));
    assert_true(s_chars(text) <= CR_WEBHOOK_SECTION_CHARS);
    const char *head = s_block_text(root, 0);
    assert_true(s_chars(head) <= CR_WEBHOOK_HEADER_CHARS);
    assert_true(s_ends_with(head, CR_ALERT_CUT_MARK));
    json_decref(root);
    free(big);
    free(subject);
}

static void test_request_empty_alert_still_valid(void **state)
{
    alert_t t;
    s_alert(&t, URL, "", "");
    t.alert.severity = "bogus";
    t.alert.client = NULL;
    json_t *root = s_request_json(&t);
    assert_string_equal(s_block_text(root, 0), ":warning: WARNING: post_failed");
    assert_string_equal(s_block_text(root, 1), "(no text)");
    json_decref(root);
}

static void test_escape_never_cuts_an_entity(void **state)
{
    char *e = cr_webhook_escape("a&&&&", 8);
    /* a(1) &amp;(5) = 6, the next entity would pass 7 (+1 for the mark) */
    assert_string_equal(e, "a&amp;" CR_ALERT_CUT_MARK);
    free(e);
    e = cr_webhook_escape("a<b>", 10);
    assert_string_equal(e, "a&lt;b&gt;");
    free(e);
}

static void test_bad_urls_permanent_without_echo(void **state)
{
    const char *bad[] = {"", "ftp://hooks.example.test/services/x/y/secretsecret",
                         "https://", "https:///services/secretsecret",
                         "https://hooks.example.test/services/a b/secretsecret",
                         "javascript:alert(secretsecret)", "hooks.example.test/secretsecret"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        alert_t t;
        s_alert(&t, bad[i], "s", "t");
        cr_http_req_t req;
        cr_result_t res;
        memset(&req, 0, sizeof req);
        memset(&res, 0, sizeof res);
        assert_int_equal(cr_webhook_request(&t.task, &req, &res), -1);
        assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        assert_string_equal(res.error_code, "bad_webhook_url");
        assert_non_null(strstr(res.error, "'ops'"));
        assert_non_null(strstr(res.error, "set the channel's URL"));
        assert_null(strstr(res.error, "secretsecret"));
        assert_null(req.url);
        cr_result_clear(&res);
    }
    /* too long */
    char *longurl = malloc(CR_WEBHOOK_MAX_URL + 20);
    strcpy(longurl, "https://h/");
    memset(longurl + 10, 'a', CR_WEBHOOK_MAX_URL);
    longurl[CR_WEBHOOK_MAX_URL + 10] = '\0';
    alert_t t;
    s_alert(&t, longurl, "s", "t");
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    assert_int_equal(cr_webhook_request(&t.task, &req, &res), -1);
    assert_non_null(strstr(res.error, "too long"));
    cr_result_clear(&res);
    free(longurl);
}

static void test_task_without_payload(void **state)
{
    alert_t t;
    s_alert(&t, URL, "s", "t");
    t.task.payload_case = CRIEUR__TASK__PAYLOAD__NOT_SET;
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    assert_int_equal(cr_webhook_request(&t.task, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(res.error_code, "bad_task");
    cr_result_clear(&res);
}

/* ---- classification ---------------------------------------------------------- */

static void test_200_ok(void **state)
{
    cr_result_t r = s_classify(200, "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\r\n", "ok");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(r.http_status, 200);
    assert_null(r.error);
    cr_result_clear(&r);
}

static void test_200_not_ok_is_permanent(void **state)
{
    cr_result_t r = s_classify(200, "HTTP/1.1 200 OK\r\n\r\n", "<html>login</html>");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "unexpected_answer");
    assert_non_null(strstr(r.error, "Slack-compatible incoming webhook"));
    cr_result_clear(&r);
}

static void test_429_retry_after(void **state)
{
    cr_result_t r = s_classify(429, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n\r\n",
                               "rate_limited");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, NOW + 7000);
    assert_string_equal(r.error_code, "rate_limited");
    cr_result_clear(&r);
    r = s_classify(429, "HTTP/1.1 429 Too Many Requests\r\n"
                        "Retry-After: Tue, 14 Nov 2023 22:14:20 GMT\r\n\r\n", "rate_limited");
    assert_int_equal(r.retry_at_ms, NOW + 60000);
    cr_result_clear(&r);
    r = s_classify(429, "HTTP/1.1 429 Too Many Requests\r\n\r\n", "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, NOW + CR_WEBHOOK_RETRY_DEFAULT_MS);
    assert_string_equal(r.error_code, "429");
    cr_result_clear(&r);
    r = s_classify(429, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 99999999999\r\n\r\n", "");
    assert_int_equal(r.retry_at_ms, NOW + CR_WEBHOOK_RETRY_MAX_MS);
    cr_result_clear(&r);
}

static void test_platform_errors_permanent(void **state)
{
    struct {
        long status;
        const char *body;
    } cases[] = {{400, "invalid_payload"}, {400, "no_text"}, {403, "action_prohibited"},
                 {404, "channel_not_found"}, {404, "no_service"}, {410, "channel_is_archived"},
                 {401, "invalid_token"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_result_t r = s_classify(cases[i].status, "HTTP/1.1 400 Bad Request\r\n\r\n",
                                   cases[i].body);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        assert_string_equal(r.error_code, cases[i].body);
        assert_non_null(strstr(r.error, cases[i].body));
        assert_non_null(strstr(r.error, "'ops'"));
        assert_int_equal(r.http_status, cases[i].status);
        cr_result_clear(&r);
    }
    /* a body that is not a code: the status is the code, the text is kept cleaned */
    cr_result_t r = s_classify(403, "HTTP/1.1 403 Forbidden\r\n\r\n", "<h1>Forbidden</h1>\r\n\x01");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "403");
    assert_null(strchr(r.error, '\n'));
    cr_result_clear(&r);
}

static void test_5xx_and_408_transient(void **state)
{
    long statuses[] = {500, 502, 503, 504, 408};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        cr_result_t r = s_classify(statuses[i], "HTTP/1.1 500 Internal Server Error\r\n\r\n",
                                   statuses[i] == 500 ? "rollup_error" : "");
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
        cr_result_clear(&r);
    }
    cr_result_t r = s_classify(500, "HTTP/1.1 500 Internal Server Error\r\n\r\n", "rollup_error");
    assert_string_equal(r.error_code, "rollup_error");
    cr_result_clear(&r);
}

static void test_redirect_permanent(void **state)
{
    cr_result_t r = s_classify(302, "HTTP/1.1 302 Found\r\nLocation: /login\r\n\r\n", "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_result_clear(&r);
}

static void test_network_errors_transient_never_indeterminate(void **state)
{
    int codes[] = {CURLE_OPERATION_TIMEDOUT, CURLE_COULDNT_CONNECT, CURLE_RECV_ERROR,
                   CURLE_GOT_NOTHING, CURLE_SSL_CONNECT_ERROR, CURLE_COULDNT_RESOLVE_HOST};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        for (int sent = 0; sent <= 1; sent++) {
            alert_t t;
            s_alert(&t, URL, "s", "t");
            cr_http_resp_t resp = s_resp(0, NULL, NULL);
            resp.curl_code = codes[i];
            resp.sent = sent;
            resp.error = curl_easy_strerror((CURLcode)codes[i]);
            cr_result_t r;
            memset(&r, 0, sizeof r);
            cr_webhook_result(&t.task, &resp, NOW, &r);
            assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
            cr_result_clear(&r);
        }
    }
    cr_result_t r = s_classify(200, "", "ok");
    cr_result_clear(&r);
    /* too large */
    alert_t t;
    s_alert(&t, URL, "s", "t");
    cr_http_resp_t resp = s_resp(200, NULL, NULL);
    resp.too_large = 1;
    memset(&r, 0, sizeof r);
    cr_webhook_result(&t.task, &resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);
}

static void test_secret_redacted_from_errors(void **state)
{
    alert_t t;
    s_alert(&t, URL, "s", "t");
    cr_http_resp_t resp = s_resp(0, NULL, NULL);
    resp.curl_code = CURLE_URL_MALFORMAT;
    resp.error = "bad URL " URL " and path /services/T000/B000/s3cr3tXYZsecretpart";
    cr_result_t r;
    memset(&r, 0, sizeof r);
    cr_webhook_result(&t.task, &resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_null(strstr(r.error, "s3cr3t"));
    assert_non_null(strstr(r.error, "<webhook>"));
    cr_result_clear(&r);
    /* the platform echoing the URL in its body */
    resp = s_resp(404, "HTTP/1.1 404 Not Found\r\n\r\n", "no hook " URL);
    memset(&r, 0, sizeof r);
    cr_webhook_result(&t.task, &resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_null(strstr(r.error, "s3cr3t"));
    cr_result_clear(&r);
}

/* ---- the adapter as the runtime drives it -------------------------------------- */

static void test_adapter_steps(void **state)
{
    alert_t t;
    s_alert(&t, URL, "s", "t");
    cr_call_t call;
    cr_call_init(&call, &t.task);
    call.now_ms = NOW;
    assert_int_equal(cr_webhook_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, URL);
    cr_http_resp_t resp = s_resp(200, "HTTP/1.1 200 OK\r\n\r\n", "ok");
    cr_http_req_clear(&call.req);
    assert_int_equal(cr_webhook_adapter.step(&call, &resp), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    cr_call_clear(&call, &cr_webhook_adapter);

    t.task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
    cr_call_init(&call, &t.task);
    assert_int_equal(cr_webhook_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "unsupported_kind");
    cr_call_clear(&call, &cr_webhook_adapter);
    assert_int_equal(cr_webhook_adapter.kinds, CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_ALERT));
}

/* ---- cr_alert_clean ----------------------------------------------------------- */

static void test_alert_clean(void **state)
{
    size_t len;
    char *c = cr_alert_clean("  \r\n hello\r\nworld\rend\t \n", 100, 0, 1, &len);
    assert_string_equal(c, "hello\nworld\nend");
    assert_int_equal(len, strlen(c));
    free(c);
    c = cr_alert_clean("a\r\nb\tc\x1b[31m\xc2\x85x", 100, 0, 0, NULL);
    assert_string_equal(c, "a b c [31m x");
    free(c);
    c = cr_alert_clean(NULL, 10, 0, 0, NULL);
    assert_string_equal(c, "");
    free(c);
    /* cut at a character boundary with the mark, within both limits */
    c = cr_alert_clean("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 7, 0, 0, NULL);
    assert_string_equal(c, "\xC3\xA9\xC3\xA9" CR_ALERT_CUT_MARK);
    free(c);
    c = cr_alert_clean("abcdef", 100, 4, 0, NULL);
    assert_string_equal(c, "abc" CR_ALERT_CUT_MARK);
    free(c);
    c = cr_alert_clean("abcd", 100, 4, 0, NULL);
    assert_string_equal(c, "abcd");
    free(c);
    /* overlong encodings and surrogates are invalid */
    c = cr_alert_clean("\xC0\xAF\xED\xA0\x80", 100, 0, 0, NULL);
    assert_int_equal(cr_utf8_invalid_at(c, strlen(c)), -1);
    assert_null(strchr(c, '/'));
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_text_and_blocks),
        cmocka_unit_test(test_request_non_utf8_and_controls),
        cmocka_unit_test(test_request_huge_text_cut_cleanly),
        cmocka_unit_test(test_request_empty_alert_still_valid),
        cmocka_unit_test(test_escape_never_cuts_an_entity),
        cmocka_unit_test(test_bad_urls_permanent_without_echo),
        cmocka_unit_test(test_task_without_payload),
        cmocka_unit_test(test_200_ok),
        cmocka_unit_test(test_200_not_ok_is_permanent),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_platform_errors_permanent),
        cmocka_unit_test(test_5xx_and_408_transient),
        cmocka_unit_test(test_redirect_permanent),
        cmocka_unit_test(test_network_errors_transient_never_indeterminate),
        cmocka_unit_test(test_secret_redacted_from_errors),
        cmocka_unit_test(test_adapter_steps),
        cmocka_unit_test(test_alert_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
