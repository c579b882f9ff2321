/* test_linkedin: the LinkedIn adapter's pure request builders, response
 * classifiers, little-text escaping, content fingerprint and read-back
 * matcher, and its step machine, against canned platform answers (no
 * network). */
#include "cr_adapter.h"
#include "cr_adapters.h"
#include "cr_linkedin.h"

#include <curl/curl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW 1700000000000LL      /* 2023-11-14T22:13:20Z */
#define MIDNIGHT 1700006400000LL /* 2023-11-15T00:00:00Z */
#define NEXT_DAY (MIDNIGHT + CR_LINKEDIN_MIDNIGHT_MARGIN_MS)
#define FOUND_DETAIL "found on the platform by reading back; not published again"
#define URN "urn:li:share:7141138937766391808"
#define DUPLICATE_BODY                                                                             \
    "{\"errorDetailType\":\"com.linkedin.common.error.BadRequest\",\"message\":"                 \
    "\"com.linkedin.content.common.exception.BadRequestResponseException: Content is a "         \
    "duplicate of urn:li:share:7141138937766391808\",\"errorDetails\":{\"inputErrors\":[{"        \
    "\"description\":\"Duplicate post is detected\",\"input\":{},\"code\":\"DUPLICATE_POST\"}]},"  \
    "\"status\":422}"
#define TOO_LONG_BODY                                                                              \
    "{\"errorDetailType\":\"com.linkedin.common.error.BadRequest\",\"message\":"                 \
    "\"com.linkedin.content.common.exception.BadRequestResponseException: Commentary is too "    \
    "long: 3001 characters, the maximum is 3000\",\"errorDetails\":{\"inputErrors\":[{"           \
    "\"description\":\"Commentary is too long\",\"input\":{\"inputPath\":{\"fieldPath\":"         \
    "\"/commentary\"}},\"code\":\"INVALID_VALUE\"}]},\"status\":422}"
#define REVOKED_BODY                                                                               \
    "{\"status\":401,\"serviceErrorCode\":65601,\"code\":\"REVOKED_ACCESS_TOKEN\","               \
    "\"message\":\"The token used in the request has been revoked by the user\"}"
#define SUNSET_BODY                                                                                \
    "{\"status\":426,\"code\":\"NONEXISTENT_VERSION\",\"message\":\"Requested version 20240401 "  \
    "is not active\"}"
#define DENIED_BODY                                                                                \
    "{\"status\":403,\"serviceErrorCode\":100,\"code\":\"ACCESS_DENIED\",\"message\":\"Not "      \
    "enough permissions to access: partnerApiPostsExternal.FINDER-author.20260801\"}"
#define THROTTLED_BODY                                                                             \
    "{\"status\":429,\"serviceErrorCode\":101,\"message\":\"Resource level throttle limit for "   \
    "calls to this resource is reached.\"}"

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
    cr_linkedin_publish_result(&r, NOW, &res);
    return res;
}

static cr_result_t s_readback(long status, const char *headers, const char *body)
{
    cr_http_resp_t r = s_resp(status, headers, body);
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_linkedin_readback_result(&r, NOW, &res);
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
    cr_result_t r = s_publish(201, "Content-Length: 0\r\nx-restli-id: " URN "\r\n", "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(r.http_status, 201);
    assert_string_equal(r.platform_post_id, URN);
    assert_string_equal(r.url, "https://www.linkedin.com/feed/update/" URN "/");
    assert_null(r.error);
    assert_int_equal(r.reconciled, 0);
    cr_result_clear(&r);

    /* the header name is case-insensitive; ugcPost URNs are posts too */
    r = s_publish(201, "X-RestLi-Id: urn:li:ugcPost:42\r\n", NULL);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(r.platform_post_id, "urn:li:ugcPost:42");
    cr_result_clear(&r);
}

static void test_201_without_id_indeterminate(void **state)
{
    static const char *const headers[] = {
        "Content-Length: 0\r\n",
        "x-restli-id: \r\n",
        "x-restli-id: 7141138937766391808\r\n",
        "x-restli-id: urn:li:share:\r\n",
        "x-restli-id: urn:li:share:12a\r\n",
        "x-restli-id: urn:li::12\r\n",
        "x-restli-id: urn:li:share:1234567890123456789012345678901234567890123456789012345\r\n",
    };
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        cr_result_t r = s_publish(201, headers[i], "{\"id\":\"" URN "\"}");
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
        assert_string_equal(r.error_code, "malformed_success");
        assert_null(r.platform_post_id);
        cr_result_clear(&r);
    }
}

static void test_401_auth_expired(void **state)
{
    cr_result_t r = s_publish(401, NULL, REVOKED_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(r.error, "The token used in the request has been revoked by the user");
    assert_string_equal(r.error_code, "REVOKED_ACCESS_TOKEN");
    cr_result_clear(&r);
    r = s_publish(401, NULL, "{\"serviceErrorCode\":65600,\"message\":\"Invalid access token\","
                             "\"status\":401}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(r.error_code, "65600");
    cr_result_clear(&r);
}

static void test_422_duplicate_permanent(void **state)
{
    cr_result_t r = s_publish(422, NULL, DUPLICATE_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_int_equal(r.http_status, 422);
    assert_string_equal(r.error_code, "duplicate");
    /* the Java class is left out, the first post's URN kept */
    assert_string_equal(r.error, "Content is a duplicate of " URN);
    assert_int_equal(r.retry_at_ms, 0);
    cr_result_clear(&r);
}

static void test_422_validation_permanent(void **state)
{
    cr_result_t r = s_publish(422, NULL, TOO_LONG_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error, "Commentary is too long: 3001 characters, the maximum is 3000");
    assert_string_equal(r.error_code, "INVALID_VALUE");
    cr_result_clear(&r);

    /* Rest.li schema errors: the message's lines, without the trailing newline */
    r = s_publish(422, NULL,
                  "{\"message\":\"ERROR :: /commentary :: field is required but not found and "
                  "has no default value\\n\",\"status\":422}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error,
                        "ERROR :: /commentary :: field is required but not found and has no "
                        "default value");
    assert_string_equal(r.error_code, "422");
    cr_result_clear(&r);

    /* no message: the input error's description; no JSON: the status line */
    r = s_publish(422, NULL,
                  "{\"errorDetails\":{\"inputErrors\":[{\"description\":\"Bad text\","
                  "\"code\":\"INVALID_VALUE\"}]},\"status\":422}");
    assert_string_equal(r.error, "Bad text");
    cr_result_clear(&r);
    r = s_publish(400, NULL, "<html>nope</html>");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error, "HTTP 400");
    assert_string_equal(r.error_code, "400");
    cr_result_clear(&r);
}

static void test_403_permanent(void **state)
{
    cr_result_t r = s_publish(403, NULL,
                              "{\"status\":403,\"serviceErrorCode\":100,\"code\":\"ACCESS_DENIED\","
                              "\"message\":\"Unpermitted fields present in REQUEST_BODY: Data "
                              "Processing Exception while processing fields [/author]\"}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "ACCESS_DENIED");
    /* not a Java class before the colon: kept whole */
    assert_string_equal(r.error, "Unpermitted fields present in REQUEST_BODY: Data Processing "
                                 "Exception while processing fields [/author]");
    cr_result_clear(&r);
}

static void test_426_version_sunset(void **state)
{
    cr_result_t r = s_publish(426, NULL, SUNSET_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "api_version_sunset");
    assert_non_null(strstr(r.error, "API version " CR_LINKEDIN_API_VERSION));
    assert_non_null(strstr(r.error, "sunset"));
    assert_non_null(strstr(r.error, "Requested version 20240401 is not active"));
    assert_non_null(strstr(r.error, "CR_LINKEDIN_API_VERSION"));
    cr_result_clear(&r);
}

static void test_429_midnight_utc(void **state)
{
    cr_result_t r = s_publish(429, "Content-Type: application/json\r\n", THROTTLED_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, MIDNIGHT + CR_LINKEDIN_MIDNIGHT_MARGIN_MS);
    assert_string_equal(r.error, "Resource level throttle limit for calls to this resource is "
                                 "reached.");
    assert_string_equal(r.error_code, "101");
    cr_result_clear(&r);

    /* exactly at midnight: the next one */
    cr_http_resp_t resp = s_resp(429, NULL, THROTTLED_BODY);
    assert_int_equal(cr_linkedin_retry_at(&resp, MIDNIGHT),
                     MIDNIGHT + 86400000LL + CR_LINKEDIN_MIDNIGHT_MARGIN_MS);
    assert_int_equal(cr_linkedin_retry_at(&resp, MIDNIGHT - 1),
                     MIDNIGHT + CR_LINKEDIN_MIDNIGHT_MARGIN_MS);
}

static void test_429_retry_after(void **state)
{
    static const struct {
        const char *headers;
        int64_t at;
    } cases[] = {
        {"Retry-After: 120\r\n", NOW + 120000},
        {"retry-after:   7 \r\n", NOW + 7000},
        {"Retry-After: 0\r\n", NOW + 1000},                           /* at least a second */
        {"Retry-After: 999999\r\n", NOW + 25LL * 3600000},            /* at most 25 h */
        {"Retry-After: 99999999999999\r\n", NOW + 25LL * 3600000},
        {"Retry-After: Tue, 14 Nov 2023 22:15:00 GMT\r\n", 1700000100000LL},
        {"Retry-After: Mon, 13 Nov 2023 22:15:00 GMT\r\n", NOW + 1000}, /* in the past */
        {"Retry-After: soon\r\n", NEXT_DAY},
        {"Retry-After: -5\r\n", NEXT_DAY},
        {"Retry-After: Tue, 14 Xyz 2023 22:15:00 GMT\r\n", NEXT_DAY},
        {"Retry-After: Tue, 14 Nov 2023 22:15:00 GMTX\r\n", NEXT_DAY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_result_t r = s_publish(429, cases[i].headers, THROTTLED_BODY);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
        if (r.retry_at_ms != cases[i].at) fail_msg("case %zu: %s", i, cases[i].headers);
        cr_result_clear(&r);
    }
}

static void test_5xx_408_and_network(void **state)
{
    static const long st[] = {500, 502, 503, 504};
    for (size_t i = 0; i < sizeof st / sizeof *st; i++) {
        cr_result_t r =
            s_publish(st[i], NULL, "{\"message\":\"Internal Server Error\",\"status\":500}");
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
        assert_non_null(strstr(r.error, "may have been created"));
        cr_result_clear(&r);
    }
    cr_result_t r = s_publish(408, NULL, "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);

    cr_http_resp_t resp = s_curl(CURLE_COULDNT_CONNECT, 0);
    cr_linkedin_publish_result(&resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(r.error_code, "curl:7");
    cr_result_clear(&r);
    resp = s_curl(CURLE_COULDNT_RESOLVE_HOST, 1); /* before sending whatever the counters say */
    cr_linkedin_publish_result(&resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);
    resp = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    cr_linkedin_publish_result(&resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(r.error_code, "curl:28");
    assert_non_null(strstr(r.error, "after the request was sent"));
    cr_result_clear(&r);
    resp = s_resp(201, NULL, NULL);
    resp.too_large = 1;
    resp.curl_code = CURLE_WRITE_ERROR;
    cr_linkedin_publish_result(&resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(r.error_code, "too_large");
    cr_result_clear(&r);
    r = s_publish(0, NULL, NULL); /* no status at all, no curl error */
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_result_clear(&r);
    r = s_publish(302, "Location: https://www.linkedin.com/\r\n", "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_result_clear(&r);
}

static void test_readback_classification(void **state)
{
    cr_result_t r = s_readback(403, NULL, DENIED_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
    assert_string_equal(r.error_code, "readback_forbidden");
    assert_non_null(strstr(r.error, "cannot be read back"));
    assert_non_null(strstr(r.error, "Not enough permissions"));
    assert_non_null(strstr(r.error, "not published again"));
    cr_result_clear(&r);

    r = s_readback(426, NULL, SUNSET_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
    assert_string_equal(r.error_code, "readback_refused");
    assert_non_null(strstr(r.error, "sunset"));
    cr_result_clear(&r);

    static const long refused[] = {400, 404, 410, 302};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        r = s_readback(refused[i], NULL, "{\"message\":\"no\"}");
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
        assert_string_equal(r.error_code, "readback_refused");
        cr_result_clear(&r);
    }
    r = s_readback(401, NULL, REVOKED_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_result_clear(&r);
    r = s_readback(429, NULL, THROTTLED_BODY);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, MIDNIGHT + CR_LINKEDIN_MIDNIGHT_MARGIN_MS);
    cr_result_clear(&r);
    r = s_readback(503, NULL, "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);
    r = s_readback(200, NULL, "{}");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);
    cr_http_resp_t resp = s_curl(CURLE_OPERATION_TIMEDOUT, 1); /* a read: safe to retry */
    cr_linkedin_readback_result(&resp, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
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
    f->task.due_ms = NOW;
    f->task.account = &f->acc;
    f->task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    f->task.publish = &f->pub;
    f->acc.id = 3;
    f->acc.platform = "linkedin";
    f->acc.handle = "2414183";
    f->acc.api_base = (char *)base;
    f->acc.token = "AQV-T0ken_s3cr3t";
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

static void test_publish_request(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://api.linkedin.com/", "Spring sale (20% off) #sale C# a_b",
              "https://shop.example/p_1?a=(b)");
    cr_http_req_t req;
    cr_result_t r;
    memset(&req, 0, sizeof req);
    memset(&r, 0, sizeof r);
    assert_int_equal(cr_linkedin_publish_request(&f.task, NULL, &req, &r), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "https://api.linkedin.com/rest/posts");
    assert_string_equal(s_req_header(&req, "Authorization"), "Bearer AQV-T0ken_s3cr3t");
    assert_string_equal(s_req_header(&req, "LinkedIn-Version"), CR_LINKEDIN_API_VERSION);
    assert_string_equal(s_req_header(&req, "X-Restli-Protocol-Version"), "2.0.0");
    assert_string_equal(s_req_header(&req, "Content-Type"), "application/json");
    assert_null(s_req_header(&req, "X-RestLi-Method"));
    assert_int_equal(req.fresh_connection, 1); /* a write never rides a reused connection */
    json_t *body = json_loadb(req.body, req.body_len, 0, NULL);
    assert_non_null(body);
    json_t *want = json_pack(
        "{s:s,s:s,s:s,s:{s:s,s:[],s:[]},s:s,s:b}", "author", "urn:li:organization:2414183",
        "commentary",
        "Spring sale \\(20% off\\) #sale C\\# a\\_b\n\nhttps://shop.example/p_1?a=(b)",
        "visibility", "PUBLIC", "distribution", "feedDistribution", "MAIN_FEED",
        "targetEntities", "thirdPartyDistributionChannels", "lifecycleState", "PUBLISHED",
        "isReshareDisabledByAuthor", 0);
    assert_true(json_equal(body, want));
    json_decref(want);
    json_decref(body);
    cr_http_req_clear(&req);

    /* a handle that is a URN posts as that URN; the link already in the text is not added */
    f.acc.handle = "urn:li:person:AbC-1_x";
    f.pub.body = "Read https://shop.example/s now";
    f.pub.link = "https://shop.example/s";
    assert_int_equal(cr_linkedin_publish_request(&f.task, NULL, &req, &r), 0);
    body = json_loadb(req.body, req.body_len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "author")),
                        "urn:li:person:AbC-1_x");
    assert_string_equal(json_string_value(json_object_get(body, "commentary")),
                        "Read https://shop.example/s now");
    json_decref(body);
    cr_http_req_clear(&req);
}

static void test_publish_request_refusals(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t r;
    memset(&req, 0, sizeof req);
    memset(&r, 0, sizeof r);
    static const char *const handles[] = {"", "acme corp", "urn:li:", "urn:li:organization:",
                                          "urn:li:organization:1/2", "a\r\nX-Evil: 1",
                                          "12345678901234567890123456789012345678901"};
    for (size_t i = 0; i < sizeof handles / sizeof *handles; i++) {
        s_fixture(&f, "https://api.linkedin.com", "hi", "");
        f.acc.handle = (char *)handles[i];
        assert_int_equal(cr_linkedin_publish_request(&f.task, NULL, &req, &r), -1);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        assert_string_equal(r.error_code, "bad_handle");
        cr_result_clear(&r);
    }
    s_fixture(&f, "ftp://api.linkedin.com", "hi", "");
    assert_int_equal(cr_linkedin_publish_request(&f.task, NULL, &req, &r), -1);
    assert_string_equal(r.error_code, "bad_api_base");
    cr_result_clear(&r);

    s_fixture(&f, "https://api.linkedin.com", "hi", "");
    f.acc.token = "bad token";
    assert_int_equal(cr_linkedin_publish_request(&f.task, NULL, &req, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_result_clear(&r);

    s_fixture(&f, "https://api.linkedin.com", "hi", "");
    char *media[] = {"m1"};
    f.pub.n_media = 1;
    f.pub.media = media;
    assert_int_equal(cr_linkedin_publish_request(&f.task, NULL, &req, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "bad_media"); /* neither a URL nor a path */
    cr_result_clear(&r);

    s_fixture(&f, "https://api.linkedin.com", "hi", "");
    f.pub.in_reply_to = URN;
    /* a reply is a comment (cr_linkedin_comment_request), never a post */
    assert_int_equal(cr_linkedin_publish_request(&f.task, NULL, &req, &r), -1);
    assert_string_equal(r.error_code, "internal");
    cr_result_clear(&r);

    s_fixture(&f, "https://api.linkedin.com", "bad \xff utf-8", "");
    assert_int_equal(cr_linkedin_publish_request(&f.task, NULL, &req, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "bad_text");
    cr_result_clear(&r);

    s_fixture(&f, "https://api.linkedin.com", "hi", "");
    f.task.account = NULL;
    assert_int_equal(cr_linkedin_publish_request(&f.task, NULL, &req, &r), -1);
    assert_string_equal(r.error_code, "bad_task");
    cr_result_clear(&r);
    assert_int_equal(req.method[0], '\0');
}

static void test_readback_requests(void **state)
{
    fixture_t f;
    s_fixture(&f, "http://127.0.0.1:8790/linkedin", "hi", "");
    cr_http_req_t req;
    cr_result_t r;
    memset(&req, 0, sizeof req);
    memset(&r, 0, sizeof r);
    assert_int_equal(cr_linkedin_readback_request(&f.task, 0, &req, &r), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "http://127.0.0.1:8790/linkedin/rest/posts?author=urn%3Ali%3A"
                                 "organization%3A2414183&q=author&count=100&sortBy=LAST_MODIFIED");
    assert_string_equal(s_req_header(&req, "LinkedIn-Version"), CR_LINKEDIN_API_VERSION);
    assert_string_equal(s_req_header(&req, "X-Restli-Protocol-Version"), "2.0.0");
    assert_string_equal(s_req_header(&req, "X-RestLi-Method"), "FINDER");
    assert_int_equal(req.fresh_connection, 0);
    assert_null(req.body);
    cr_http_req_clear(&req);
    assert_int_equal(cr_linkedin_readback_request(&f.task, 200, &req, &r), 0);
    assert_non_null(strstr(req.url, "&sortBy=LAST_MODIFIED&start=200"));
    cr_http_req_clear(&req);
    f.acc.handle = "no way";
    assert_int_equal(cr_linkedin_readback_request(&f.task, 0, &req, &r), -1);
    assert_string_equal(r.error_code, "bad_handle");
    cr_result_clear(&r);
}

/* ---- text -------------------------------------------------------------- */

static void s_esc_eq(const char *text, const char *want)
{
    size_t n = 0, m = 0;
    char *e = cr_linkedin_escape(text, strlen(text), &n);
    assert_non_null(e);
    assert_string_equal(e, want);
    assert_int_equal(n, strlen(want));
    /* and back */
    char *u = cr_linkedin_unescape(e, n, &m);
    assert_string_equal(u, text);
    free(u);
    free(e);
}

static void s_unesc_eq(const char *little, const char *want)
{
    size_t n = 0;
    char *u = cr_linkedin_unescape(little, strlen(little), &n);
    assert_non_null(u);
    assert_string_equal(u, want);
    assert_int_equal(n, strlen(want));
    free(u);
}

static void test_escape(void **state)
{
    s_esc_eq("", "");
    s_esc_eq("plain text, é 🚀 ok.", "plain text, é 🚀 ok.");
    s_esc_eq("a\\b|c{d}e@f[g]h(i)j<k>l*m_n~o",
             "a\\\\b\\|c\\{d\\}e\\@f\\[g\\]h\\(i\\)j\\<k\\>l\\*m\\_n\\~o");
    s_esc_eq("#launch #été_2024 C# # #(x)", "#launch #été_2024 C\\# \\# \\#\\(x\\)");
    s_esc_eq("see https://a.example/x_(y)?q=[1] and (http://b.example/_)",
             "see https://a.example/x_(y)?q=[1] and \\(http://b.example/\\_\\)");
    s_esc_eq("line\n\n(https://c.example)", "line\n\n\\(https://c.example\\)");
    s_esc_eq("nbsp\xc2\xa0#tag", "nbsp\xc2\xa0#tag");
}

static void test_unescape(void **state)
{
    s_unesc_eq("Hello \\(world\\)", "Hello (world)");
    s_unesc_eq("{hashtag|\\#|crieur} and {hashtag|\\#|x", "#crieur and {hashtag|#|x");
    s_unesc_eq("hi @[Acme Corp](urn:li:organization:2414183)!", "hi Acme Corp!");
    s_unesc_eq("@[broken and @[x]y", "@[broken and @[x]y");
    s_unesc_eq("trailing \\", "trailing \\");
    size_t n = 7;
    char *u = cr_linkedin_unescape(NULL, 5, &n);
    assert_string_equal(u, "");
    assert_int_equal(n, 0);
    free(u);
}

static void s_fp_eq(const char *text, const char *want)
{
    char *fp = cr_linkedin_fingerprint(text, strlen(text));
    assert_non_null(fp);
    assert_string_equal(fp, want);
    free(fp);
}

static void test_fingerprint(void **state)
{
    s_fp_eq("  Spring\tsale\n\n20%  off ", "Spring sale 20% off");
    s_fp_eq("Spring\xc2\xa0sale\xe3\x80\x80now", "Spring sale now");
    s_fp_eq("Sale https://shop.example/x now", "Sale now");
    s_fp_eq("Sale (https://shop.example/x) lnkd.in/abc now", "Sale now");
    s_fp_eq("Case Matters 🚀 #Tag", "Case Matters 🚀 #Tag");
    s_fp_eq("", "");
    char *fp = cr_linkedin_fingerprint(NULL, 12);
    assert_string_equal(fp, "");
    free(fp);
}

/* ---- matcher ----------------------------------------------------------- */

static cr_linkedin_match_t s_match(const char *body, const char *text, int64_t from, int count,
                                   cr_linkedin_found_t *found)
{
    char *fp = cr_linkedin_fingerprint(text, strlen(text));
    assert_non_null(fp);
    cr_linkedin_match_t m = cr_linkedin_match(body, strlen(body), fp, from, 0, count, found);
    free(fp);
    return m;
}

#define EL(id, text, at)                                                                           \
    "{\"id\":\"" id "\",\"author\":\"urn:li:organization:2414183\",\"commentary\":\"" text       \
    "\",\"lifecycleState\":\"PUBLISHED\",\"createdAt\":" #at ",\"lastModifiedAt\":" #at "}"

static void test_match_found(void **state)
{
    cr_linkedin_found_t found;
#define LITTLE "Spring sale \\\\(20% off\\\\) {hashtag|\\\\#|sale}\\n\\nhttps://lnkd.in/x"
    const char *body = "{\"paging\":{\"start\":0,\"count\":100},\"elements\":[" EL(
        "urn:li:share:3", "other", 1700000000000) "," EL("urn:li:share:2", LITTLE,
                                                         1699999999000) "]}";
    assert_int_equal(s_match(body, "Spring sale (20% off) #sale\n\nhttps://shop.example/s",
                             NOW - 3600000, 100, &found),
                     CR_LINKEDIN_MATCH_FOUND);
    assert_string_equal(found.urn, "urn:li:share:2");

    /* several: the oldest (the first publication) */
    body = "{\"elements\":[" EL("urn:li:share:9", "twice", 1700000000003) "," EL(
        "urn:li:share:8", "twice", 1700000000002) "," EL("urn:li:share:7", "twice",
                                                         1700000000001) "]}";
    assert_int_equal(s_match(body, "twice", NOW - 3600000, 100, &found), CR_LINKEDIN_MATCH_FOUND);
    assert_string_equal(found.urn, "urn:li:share:7");
}

static void test_match_not_found_and_pages(void **state)
{
    cr_linkedin_found_t found;
    /* a full page, nothing older than the window: look further */
    const char *full = "{\"elements\":[" EL("urn:li:share:2", "a", 1700000000002) "," EL(
        "urn:li:share:1", "b", 1700000000001) "]}";
    char *fp = cr_linkedin_fingerprint("c", 1);
    assert_int_equal(cr_linkedin_match(full, strlen(full), fp, NOW - 3600000, 4, 2, &found),
                     CR_LINKEDIN_MATCH_MORE);
    assert_int_equal(found.next_start, 6);
    free(fp);
    /* a short page: the end */
    assert_int_equal(s_match(full, "c", NOW - 3600000, 3, &found), CR_LINKEDIN_MATCH_NONE);
    /* a full page reaching before the window: the end */
    const char *old = "{\"elements\":[" EL("urn:li:share:2", "a", 1700000000002) "," EL(
        "urn:li:share:1", "c", 1600000000000) "]}";
    assert_int_equal(s_match(old, "c", NOW - 3600000, 2, &found), CR_LINKEDIN_MATCH_NONE);
    /* the same text before the window is another, older post */
    assert_int_equal(s_match(old, "c", NOW - 3600000, 100, &found), CR_LINKEDIN_MATCH_NONE);
    /* no posts */
    assert_int_equal(s_match("{\"paging\":{},\"elements\":[]}", "c", 0, 100, &found),
                     CR_LINKEDIN_MATCH_NONE);
}

static void test_match_hostile(void **state)
{
    cr_linkedin_found_t found;
    static const char *const malformed[] = {
        "", "null", "[]", "{}", "{\"elements\":{}}", "{\"elements\":\"x\"}", "not json",
        "{\"elements\":[", "{\"message\":\"x\",\"status\":500}",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
        assert_int_equal(s_match(malformed[i], "x", 0, 100, &found), CR_LINKEDIN_MATCH_MALFORMED);
    /* elements of the wrong shape are skipped, not matched */
    const char *odd =
        "{\"elements\":[1,null,\"x\",{\"id\":5,\"commentary\":\"x\"},{\"id\":\"urn:li:share:1\"},"
        "{\"id\":\"share:1\",\"commentary\":\"x\"},"
        "{\"id\":\"urn:li:share:1x\",\"commentary\":\"x\"},"
        "{\"id\":\"urn:li:share:2\",\"commentary\":\"x\\u0000\"},"
        "{\"id\":\"urn:li:share:3\",\"commentary\":5},"
        "{\"id\":\"urn:li:share:4\",\"commentary\":\"x\",\"createdAt\":\"soon\"}]}";
    assert_int_equal(s_match(odd, "x", 0, 100, &found), CR_LINKEDIN_MATCH_FOUND);
    assert_string_equal(found.urn, "urn:li:share:4"); /* no usable time: taken as recent */
    assert_int_equal(cr_linkedin_match(NULL, 0, "x", 0, 0, 100, &found),
                     CR_LINKEDIN_MATCH_MALFORMED);
    assert_int_equal(cr_linkedin_match("{}", 2, NULL, 0, 0, 100, &found),
                     CR_LINKEDIN_MATCH_MALFORMED);
}

/* ---- the adapter's steps ----------------------------------------------- */

#define READBACK_URL                                                                               \
    "https://api.linkedin.com/rest/posts?author=urn%3Ali%3Aorganization%3A2414183&q=author"       \
    "&count=100&sortBy=LAST_MODIFIED"

static int s_feed(cr_call_t *call, long status, const char *headers, const char *body)
{
    cr_http_resp_t resp = s_resp(status, headers, body);
    cr_http_req_clear(&call->req);
    call->now_ms = NOW;
    return cr_linkedin_adapter.step(call, &resp);
}

static void test_steps_publish(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://api.linkedin.com", "hi", "");
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "POST");
    assert_string_equal(call.req.url, "https://api.linkedin.com/rest/posts");
    assert_int_equal(s_feed(&call, 201, "x-restli-id: urn:li:share:77\r\n", ""), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.url, "https://www.linkedin.com/feed/update/urn:li:share:77/");
    assert_int_equal(call.result.reconciled, 0);
    cr_call_clear(&call, &cr_linkedin_adapter);

    f.task.kind = CRIEUR__JOB_KIND__KIND_METRICS;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "unsupported_kind");
    cr_call_clear(&call, &cr_linkedin_adapter);

    assert_ptr_equal(cr_adapters_find(cr_adapters_builtin(), "linkedin"), &cr_linkedin_adapter);
    assert_int_equal(cr_linkedin_adapter.kinds, CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH));
}

static void test_steps_reconcile_found(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://api.linkedin.com", "Spring sale (20% off)", "https://shop.example/s");
    f.task.reconcile = 1;
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "GET");
    assert_string_equal(call.req.url, READBACK_URL);
#define SALE "Spring sale \\\\(20% off\\\\)\\n\\nhttps://shop.example/s"
    const char *page = "{\"elements\":[" EL("urn:li:share:5", SALE, 1700000001000) "]}";
    assert_int_equal(s_feed(&call, 200, NULL, page), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 1);
    assert_string_equal(call.result.platform_post_id, "urn:li:share:5");
    assert_string_equal(call.result.url, "https://www.linkedin.com/feed/update/urn:li:share:5/");
    assert_string_equal(call.result.error, FOUND_DETAIL);
    assert_int_equal(call.req.method[0], '\0'); /* no POST */
    cr_call_clear(&call, &cr_linkedin_adapter);
}

static void test_steps_reconcile_not_found(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://api.linkedin.com", "New text", "");
    f.task.reconcile = 1;
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
    const char *page = "{\"elements\":[" EL("urn:li:share:5", "Old text", 1700000001000) "]}";
    assert_int_equal(s_feed(&call, 200, NULL, page), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "POST");
    assert_int_equal(call.req.fresh_connection, 1);
    assert_int_equal(s_feed(&call, 201, "x-restli-id: urn:li:share:6\r\n", ""), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 0);
    assert_string_equal(call.result.platform_post_id, "urn:li:share:6");
    cr_call_clear(&call, &cr_linkedin_adapter);
}

static void test_steps_reconcile_pages(void **state)
{
    fixture_t f;
    s_fixture(&f, "https://api.linkedin.com", "needle", "");
    f.task.reconcile = 1;
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    /* a page of 100 recent posts without the needle */
    char *page = malloc(100 * 200 + 64);
    assert_non_null(page);
    size_t o = (size_t)snprintf(page, 64, "{\"elements\":[");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(page + o, 200,
                              "%s{\"id\":\"urn:li:share:%d\",\"commentary\":\"hay %d\","
                              "\"createdAt\":1700000000000}",
                              i ? "," : "", 1000 - i, i);
    snprintf(page + o, 8, "]}");
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 200, NULL, page), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, READBACK_URL "&start=100");
    const char *found = "{\"elements\":[" EL("urn:li:share:9", "needle", 1700000000000) "]}";
    assert_int_equal(s_feed(&call, 200, NULL, found), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 1);
    cr_call_clear(&call, &cr_linkedin_adapter);

    /* too many recent posts to be sure: a human checks, no POST */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
    int rc = CR_STEP_REQUEST, pages = 0;
    while (rc == CR_STEP_REQUEST) {
        assert_string_equal(call.req.method, "GET");
        rc = s_feed(&call, 200, NULL, page);
        pages++;
    }
    assert_int_equal(pages, 10);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
    assert_string_equal(call.result.error_code, "readback_too_many");
    cr_call_clear(&call, &cr_linkedin_adapter);
    free(page);
}

static void test_steps_reconcile_failures(void **state)
{
    static const struct {
        long status;
        const char *body;
        Crieur__Outcome outcome;
    } cases[] = {
        {403, DENIED_BODY, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED},
        {404, "{}", CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED},
        {500, "", CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {401, REVOKED_BODY, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED},
        {429, THROTTLED_BODY, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED},
        {200, "{\"elements\":7}", CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
    };
    fixture_t f;
    s_fixture(&f, "https://api.linkedin.com", "hi", "");
    f.task.reconcile = 1;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_call_t call;
        cr_call_init(&call, &f.task);
        call.now_ms = NOW;
        assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
        assert_int_equal(s_feed(&call, cases[i].status, NULL, cases[i].body), CR_STEP_DONE);
        assert_int_equal(call.result.outcome, cases[i].outcome);
        assert_int_equal(call.req.method[0], '\0'); /* never a POST after a failed read-back */
        cr_call_clear(&call, &cr_linkedin_adapter);
    }
    /* an unusable account: nothing is sent */
    f.acc.token = "";
    cr_call_t call;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_call_clear(&call, &cr_linkedin_adapter);
    /* a step fed nothing where an answer is due */
    f.acc.token = "tok";
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), -1);
    cr_call_clear(&call, &cr_linkedin_adapter);
}

/* ---- images and comments ------------------------------------------------ */

#define IMAGE "urn:li:image:C4E10AQFoyyAjHPMQuQ"
#define IMAGE_OK "urn:li:image:7141138937766391999"
#define COMMENT "urn:li:comment:(" URN ",7141200000000000000)"

static void test_image_requests(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t r;
    memset(&req, 0, sizeof req);
    memset(&r, 0, sizeof r);
    s_fixture(&f, "https://api.linkedin.com", "With a picture", "");
    assert_int_equal(cr_linkedin_image_init_request(&f.task, &req, &r), 0);
    assert_string_equal(req.url, "https://api.linkedin.com/rest/images?action=initializeUpload");
    assert_string_equal(s_req_header(&req, "LinkedIn-Version"), CR_LINKEDIN_API_VERSION);
    assert_string_equal(s_req_header(&req, "X-Restli-Protocol-Version"), "2.0.0");
    char *body = malloc(req.body_len + 1);
    memcpy(body, req.body, req.body_len);
    body[req.body_len] = '\0';
    assert_string_equal(body,
                        "{\"initializeUploadRequest\":{\"owner\":\"urn:li:organization:2414183\"}}");
    free(body);
    cr_http_req_clear(&req);

    /* the post names the image */
    char *media[] = {"https://cdn.example/a.jpg"};
    f.pub.media = media;
    f.pub.n_media = 1;
    assert_int_equal(cr_linkedin_publish_request(&f.task, IMAGE_OK, &req, &r), 0);
    json_t *j = json_loadb(req.body, req.body_len, 0, NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(j, "content"), "media"), "id")),
        IMAGE_OK);
    json_decref(j);
    cr_http_req_clear(&req);
    /* without the image's URN, or with something else: never sent */
    assert_int_equal(cr_linkedin_publish_request(&f.task, NULL, &req, &r), -1);
    assert_string_equal(r.error_code, "internal");
    cr_result_clear(&r);
    assert_int_equal(cr_linkedin_publish_request(&f.task, URN, &req, &r), -1);
    cr_result_clear(&r);

    /* the PUT: raw bytes with the token, only to an allowed origin */
    static const unsigned char png[] = "\x89PNG\r\n\x1a\nxx";
    cr_media_t m = {.data = (unsigned char *)png, .len = sizeof png - 1, .mime = "image/png",
                    .name = "image.png"};
    static const char *const allowed[] = {
        "https://www.linkedin.com/dms-uploads/sp/D4E10AQ/uploaded-image/0?ca=vector_ads",
        "https://api.linkedin.com/mediaUpload/C4E10AQ/feedshare-uploadedImage/0",
    };
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(cr_linkedin_upload_request(&f.task, allowed[i], &m, &req, &r), 0);
        assert_string_equal(req.method, "PUT");
        assert_string_equal(req.url, allowed[i]);
        assert_string_equal(s_req_header(&req, "Authorization"), "Bearer AQV-T0ken_s3cr3t");
        assert_string_equal(s_req_header(&req, "Content-Type"), "image/png");
        assert_int_equal(req.body_len, sizeof png - 1);
        assert_memory_equal(req.body, png, sizeof png - 1);
        cr_http_req_clear(&req);
    }
    static const char *const refused[] = {
        "https://evil.example/dms-uploads/x",
        "http://www.linkedin.com/dms-uploads/x",      /* not https */
        "https://www.linkedin.com:8443/dms-uploads/x", /* a port: not the service */
        "https://user@www.linkedin.com/dms-uploads/x",
        "https://www.linkedin.com.evil.example/x",
        "ftp://www.linkedin.com/x",
        "",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        assert_int_equal(cr_linkedin_upload_request(&f.task, refused[i], &m, &req, &r), -1);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        assert_string_equal(r.error_code, "upload_host_refused");
        assert_null(req.url);
        cr_result_clear(&r);
    }
    /* the api_base's own origin (a sandbox, a proxy) */
    s_fixture(&f, "http://127.0.0.1:8790/linkedin", "x", "");
    assert_int_equal(cr_linkedin_upload_request(&f.task, "http://127.0.0.1:8790/linkedin/dms-uploads/1-a",
                                                &m, &req, &r), 0);
    cr_http_req_clear(&req);
    assert_int_equal(cr_linkedin_upload_request(&f.task, "http://127.0.0.1:8791/linkedin/dms-uploads/1-a",
                                                &m, &req, &r), -1);
    cr_result_clear(&r);
    /* an operator adds a host */
    setenv("CRIEUR_LINKEDIN_UPLOAD_HOSTS", "uploads.linkedin.example", 1);
    assert_int_equal(cr_linkedin_upload_request(&f.task, "https://uploads.linkedin.example/u/1", &m,
                                                &req, &r), 0);
    cr_http_req_clear(&req);
    assert_int_equal(cr_linkedin_upload_request(&f.task, allowed[0], &m, &req, &r), -1);
    cr_result_clear(&r);
    unsetenv("CRIEUR_LINKEDIN_UPLOAD_HOSTS");
}

static void test_image_results(void **state)
{
    char url[CR_LINKEDIN_UPLOAD_URL_MAX + 1], image[CR_LINKEDIN_URN_MAX + 1];
    cr_result_t r;
    memset(&r, 0, sizeof r);
    cr_http_resp_t ok = s_resp(200, NULL,
                               "{\"value\":{\"uploadUrlExpiresAt\":1650567510704,\"uploadUrl\":"
                               "\"https://www.linkedin.com/dms-uploads/sp/D4E10AQ/0\",\"image\":\""
                               IMAGE_OK "\"}}");
    assert_int_equal(cr_linkedin_image_init_result(&ok, NOW, url, image, &r), 0);
    assert_string_equal(url, "https://www.linkedin.com/dms-uploads/sp/D4E10AQ/0");
    assert_string_equal(image, IMAGE_OK);
    static const char *const malformed[] = {
        "", "{}", "{\"value\":{}}", "{\"value\":{\"uploadUrl\":\"https://x/\"}}",
        "{\"value\":{\"uploadUrl\":\"ftp://x/\",\"image\":\"" IMAGE_OK "\"}}",
        "{\"value\":{\"uploadUrl\":\"https://x/\",\"image\":\"" URN "\"}}",
        "{\"value\":{\"uploadUrl\":\"https://x/\\u0000\",\"image\":\"" IMAGE_OK "\"}}",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        cr_http_resp_t bad = s_resp(200, NULL, malformed[i]);
        assert_int_equal(cr_linkedin_image_init_result(&bad, NOW, url, image, &r), -1);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
        assert_string_equal(r.error_code, "malformed_upload");
        cr_result_clear(&r);
    }
    /* an image step never publishes: 5xx and lost answers are transient */
    cr_http_resp_t e503 = s_resp(503, NULL, "");
    assert_int_equal(cr_linkedin_upload_result(&e503, NOW, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);
    cr_http_resp_t lost = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    assert_int_equal(cr_linkedin_image_init_result(&lost, NOW, url, image, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);
    cr_http_resp_t bad_img = s_resp(400, NULL, "{\"status\":400,\"code\":\"INVALID_IMAGE\","
                                               "\"message\":\"Unsupported image format\"}");
    assert_int_equal(cr_linkedin_upload_result(&bad_img, NOW, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "INVALID_IMAGE");
    assert_string_equal(r.error, "uploading the image: LinkedIn refused it: Unsupported image format");
    cr_result_clear(&r);
    cr_http_resp_t e401 = s_resp(401, NULL, "{\"status\":401,\"code\":\"EXPIRED_ACCESS_TOKEN\"}");
    assert_int_equal(cr_linkedin_image_init_result(&e401, NOW, url, image, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_result_clear(&r);
    cr_http_resp_t e429 = s_resp(429, NULL, THROTTLED_BODY);
    assert_int_equal(cr_linkedin_upload_result(&e429, NOW, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, NEXT_DAY);
    cr_result_clear(&r);
    cr_http_resp_t created = s_resp(201, NULL, "");
    assert_int_equal(cr_linkedin_upload_result(&created, NOW, &r), 0);
}

static void test_comments(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t r;
    memset(&req, 0, sizeof req);
    memset(&r, 0, sizeof r);
    s_fixture(&f, "https://api.linkedin.com", "Thanks (all) #team", "");
    f.pub.in_reply_to = URN;
    assert_int_equal(cr_linkedin_comment_request(&f.task, &req, &r), 0);
    assert_string_equal(req.url, "https://api.linkedin.com/rest/socialActions/"
                                 "urn%3Ali%3Ashare%3A7141138937766391808/comments");
    assert_int_equal(req.fresh_connection, 1);
    json_t *j = json_loadb(req.body, req.body_len, 0, NULL);
    json_t *want = json_pack("{s:s,s:s,s:{s:s}}", "actor", "urn:li:organization:2414183", "object",
                             URN, "message", "text", "Thanks (all) #team"); /* plain text */
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);
    cr_http_req_clear(&req);
    assert_int_equal(cr_linkedin_comments_request(&f.task, 100, &req, &r), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "https://api.linkedin.com/rest/socialActions/"
                                 "urn%3Ali%3Ashare%3A7141138937766391808/comments?start=100&count=100");
    cr_http_req_clear(&req);
    /* refusals: not a post URN, a reply with an image */
    f.pub.in_reply_to = "7141138937766391808";
    assert_int_equal(cr_linkedin_comment_request(&f.task, &req, &r), -1);
    assert_string_equal(r.error_code, "bad_reply_to");
    cr_result_clear(&r);
    f.pub.in_reply_to = URN;
    char *media[] = {"/srv/a.jpg"};
    f.pub.media = media;
    f.pub.n_media = 1;
    assert_int_equal(cr_linkedin_comment_request(&f.task, &req, &r), -1);
    assert_string_equal(r.error_code, "unsupported_media");
    cr_result_clear(&r);

    /* answers: the URN from the body, from the header, or the header's id */
    static const struct {
        const char *headers, *body, *urn;
    } ok[] = {
        {NULL, "{\"commentUrn\":\"" COMMENT "\",\"id\":\"7141200000000000000\"}", COMMENT},
        {NULL, "{\"$URN\":\"" COMMENT "\"}", COMMENT},
        {"x-restli-id: " COMMENT "\r\n", "", COMMENT},
        {"x-restli-id: 7141200000000000000\r\n", "", COMMENT},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        cr_http_resp_t resp = s_resp(201, ok[i].headers, ok[i].body);
        cr_linkedin_comment_result(&resp, URN, NOW, &r);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
        assert_string_equal(r.platform_post_id, ok[i].urn);
        assert_string_equal(r.url, "https://www.linkedin.com/feed/update/" URN "/?commentUrn="
                                   "urn%3Ali%3Acomment%3A%28urn%3Ali%3Ashare%3A7141138937766391808"
                                   "%2C7141200000000000000%29");
        cr_result_clear(&r);
    }
    cr_http_resp_t noid = s_resp(201, "x-restli-id: x y\r\n", "{\"commentUrn\":\"urn:li:comment:(bad)\"}");
    cr_linkedin_comment_result(&noid, URN, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_result_clear(&r);
    cr_http_resp_t lost = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    cr_linkedin_comment_result(&lost, URN, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_result_clear(&r);
    cr_http_resp_t gone = s_resp(404, NULL, "{\"status\":404,\"code\":\"NOT_FOUND\",\"message\":\"Not Found: x\"}");
    cr_linkedin_comment_result(&gone, URN, NOW, &r);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_result_clear(&r);
}

static void test_match_comment(void **state)
{
    char *fp = cr_linkedin_fingerprint("Thanks  all", 11);
    cr_linkedin_comment_found_t found;
    static const char page[] =
        "{\"paging\":{\"start\":0,\"count\":100,\"total\":4},\"elements\":["
        "{\"actor\":\"urn:li:person:bob\",\"commentUrn\":\"urn:li:comment:(" URN ",1)\","
        "\"created\":{\"time\":1700000000000},\"message\":{\"text\":\"Thanks all\"}},"
        "{\"actor\":\"urn:li:organization:2414183\",\"commentUrn\":\"urn:li:comment:(" URN ",2)\","
        "\"created\":{\"time\":1700000000500},\"message\":{\"text\":\"Thanks all\"}},"
        "{\"actor\":\"urn:li:organization:2414183\",\"commentUrn\":\"urn:li:comment:(" URN ",3)\","
        "\"created\":{\"time\":1700000000100},\"message\":{\"text\":\"Thanks all \"}},"
        "{\"actor\":\"urn:li:organization:2414183\",\"commentUrn\":\"urn:li:comment:(" URN ",4)\","
        "\"created\":{\"time\":1600000000000},\"message\":{\"text\":\"Thanks all\"}}]}";
    /* by our actor, since from_ms, the oldest of several */
    assert_int_equal(cr_linkedin_match_comment(page, sizeof page - 1, "urn:li:organization:2414183",
                                               fp, NOW - 3600000, 0, 100, &found),
                     CR_LINKEDIN_MATCH_FOUND);
    assert_string_equal(found.urn, "urn:li:comment:(" URN ",3)");
    assert_int_equal(cr_linkedin_match_comment(page, sizeof page - 1, "urn:li:organization:9", fp,
                                               NOW - 3600000, 0, 100, &found),
                     CR_LINKEDIN_MATCH_NONE);
    static const char more[] = "{\"paging\":{\"start\":0,\"count\":1,\"total\":5},\"elements\":["
                               "{\"actor\":\"a\",\"commentUrn\":\"x\"}]}";
    assert_int_equal(cr_linkedin_match_comment(more, sizeof more - 1, "urn:li:organization:9", fp,
                                               0, 0, 1, &found),
                     CR_LINKEDIN_MATCH_MORE);
    assert_int_equal(found.next_start, 1);
    static const char *const malformed[] = {"", "[]", "{}", "{\"elements\":{}}", "null"};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++)
        assert_int_equal(cr_linkedin_match_comment(malformed[i], strlen(malformed[i]), "a", fp, 0, 0,
                                                   100, &found),
                         CR_LINKEDIN_MATCH_MALFORMED);
    free(fp);
}

static void test_steps_image_and_comment(void **state)
{
    fixture_t f;
    s_fixture(&f, "http://127.0.0.1:8790/linkedin", "With a picture", "");
    char *media[] = {"https://cdn.example/a.gif"};
    f.pub.media = media;
    f.pub.n_media = 1;
    cr_call_t call;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "https://cdn.example/a.gif");
    cr_http_req_clear(&call.req);
    cr_http_resp_t dl = s_resp(200, NULL, "GIF89a....");
    assert_int_equal(cr_linkedin_adapter.step(&call, &dl), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "http://127.0.0.1:8790/linkedin/rest/images?action=initializeUpload");
    cr_http_req_clear(&call.req);
    cr_http_resp_t init = s_resp(200, NULL,
                                 "{\"value\":{\"uploadUrl\":\"http://127.0.0.1:8790/linkedin/"
                                 "dms-uploads/1-ab\",\"image\":\"" IMAGE_OK "\"}}");
    assert_int_equal(cr_linkedin_adapter.step(&call, &init), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "PUT");
    assert_int_equal(call.req.body_len, 10);
    cr_http_req_clear(&call.req);
    cr_http_resp_t put = s_resp(201, NULL, "");
    assert_int_equal(cr_linkedin_adapter.step(&call, &put), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, "http://127.0.0.1:8790/linkedin/rest/posts");
    assert_non_null(strstr(call.req.body, "\"content\":{\"media\":{\"id\":\"" IMAGE_OK "\",\"altText\":\"\"}}"));
    cr_http_req_clear(&call.req);
    cr_http_resp_t created = s_resp(201, "x-restli-id: " URN "\r\n", "");
    assert_int_equal(cr_linkedin_adapter.step(&call, &created), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, URN);
    cr_call_clear(&call, &cr_linkedin_adapter);

    /* a reply, reconciling: the comments are read first; found: no POST */
    s_fixture(&f, "http://127.0.0.1:8790/linkedin", "Thanks all", "");
    f.pub.in_reply_to = URN;
    f.task.reconcile = 1;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_non_null(strstr(call.req.url, "/comments?start=0&count=100"));
    cr_http_req_clear(&call.req);
    static const char page[] =
        "{\"paging\":{\"start\":0,\"count\":100,\"total\":1},\"elements\":["
        "{\"actor\":\"urn:li:organization:2414183\",\"commentUrn\":\"" COMMENT "\","
        "\"created\":{\"time\":1700000000100},\"message\":{\"text\":\"Thanks all\"}}]}";
    cr_http_resp_t found = s_resp(200, NULL, page);
    assert_int_equal(cr_linkedin_adapter.step(&call, &found), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 1);
    assert_string_equal(call.result.platform_post_id, COMMENT);
    cr_call_clear(&call, &cr_linkedin_adapter);
    /* not found: the comment is posted */
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
    cr_http_req_clear(&call.req);
    cr_http_resp_t none = s_resp(200, NULL, "{\"paging\":{\"total\":0},\"elements\":[]}");
    assert_int_equal(cr_linkedin_adapter.step(&call, &none), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "POST");
    assert_non_null(strstr(call.req.url, "/comments"));
    cr_http_req_clear(&call.req);
    cr_http_resp_t c201 = s_resp(201, "x-restli-id: " COMMENT "\r\n", "");
    assert_int_equal(cr_linkedin_adapter.step(&call, &c201), CR_STEP_DONE);
    assert_string_equal(call.result.platform_post_id, COMMENT);
    assert_int_equal(call.result.reconciled, 0);
    cr_call_clear(&call, &cr_linkedin_adapter);
    /* the comments cannot be read back: unconfirmed, nothing posted */
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_linkedin_adapter.step(&call, NULL), CR_STEP_REQUEST);
    cr_http_req_clear(&call.req);
    cr_http_resp_t denied = s_resp(403, NULL, "{\"status\":403,\"code\":\"ACCESS_DENIED\",\"message\":\"no\"}");
    assert_int_equal(cr_linkedin_adapter.step(&call, &denied), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
    cr_call_clear(&call, &cr_linkedin_adapter);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_201_ok),
        cmocka_unit_test(test_201_without_id_indeterminate),
        cmocka_unit_test(test_401_auth_expired),
        cmocka_unit_test(test_422_duplicate_permanent),
        cmocka_unit_test(test_422_validation_permanent),
        cmocka_unit_test(test_403_permanent),
        cmocka_unit_test(test_426_version_sunset),
        cmocka_unit_test(test_429_midnight_utc),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_5xx_408_and_network),
        cmocka_unit_test(test_readback_classification),
        cmocka_unit_test(test_publish_request),
        cmocka_unit_test(test_publish_request_refusals),
        cmocka_unit_test(test_readback_requests),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_match_found),
        cmocka_unit_test(test_match_not_found_and_pages),
        cmocka_unit_test(test_match_hostile),
        cmocka_unit_test(test_steps_publish),
        cmocka_unit_test(test_steps_reconcile_found),
        cmocka_unit_test(test_steps_reconcile_not_found),
        cmocka_unit_test(test_steps_reconcile_pages),
        cmocka_unit_test(test_steps_reconcile_failures),
        cmocka_unit_test(test_image_requests),
        cmocka_unit_test(test_image_results),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_match_comment),
        cmocka_unit_test(test_steps_image_and_comment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
