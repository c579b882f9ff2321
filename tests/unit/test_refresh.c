/* test_refresh: token refresh adapters (X, Threads, LinkedIn) against canned
 * answers: request shape, success with and without rotation, missing fields,
 * OAuth and Graph errors, 401, 429, 5xx, lost answers, non-JSON and huge
 * bodies, missing settings; and that no token ever shows in an error. */
#include "cr_adapter.h"
#include "cr_adapters.h"
#include "cr_refresh.h"
#include "cr_settings.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */
#define ACCESS "old-access-token-1234"
#define REFRESH "old-refresh-token-5678"
#define X_BAD_TOKEN                                                                                \
    "{\"error\":\"invalid_request\",\"error_description\":\"Value passed for the token was "     \
    "invalid.\"}"
#define TH_EXPIRED                                                                                 \
    "{\"error\":{\"message\":\"Error validating access token: Session has expired.\","           \
    "\"type\":\"OAuthException\",\"code\":190,\"error_subcode\":463,\"is_transient\":false,"      \
    "\"fbtrace_id\":\"Abc\"}}"

static const char *const s_env[] = {
    "CRIEUR_X_CLIENT_ID",          "CRIEUR_X_CLIENT_SECRET",      "CRIEUR_X_TOKEN_ACCESS_FIELD",
    "CRIEUR_X_TOKEN_REFRESH_FIELD", "CRIEUR_X_TOKEN_EXPIRES_FIELD", "CRIEUR_LINKEDIN_CLIENT_ID",
    "CRIEUR_LINKEDIN_CLIENT_SECRET", "CRIEUR_LINKEDIN_OAUTH_BASE",
};

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__RefreshPayload refresh;
} fx_t;

static void s_fx(fx_t *f, const char *platform, const char *api_base, const char *refresh)
{
    crieur__task__init(&f->task);
    crieur__account__init(&f->acc);
    crieur__refresh_payload__init(&f->refresh);
    f->acc.id = 7;
    f->acc.platform = (char *)platform;
    f->acc.handle = (char *)"acme";
    f->acc.api_base = (char *)api_base;
    f->acc.token = (char *)ACCESS;
    f->refresh.refresh_token = (char *)refresh;
    f->refresh.expires_at_ms = NOW + 60000;
    f->task.job_id = 1;
    f->task.attempt = 1;
    f->task.kind = CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH;
    f->task.account = &f->acc;
    f->task.payload_case = CRIEUR__TASK__PAYLOAD_REFRESH;
    f->task.refresh = &f->refresh;
}

static int s_setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_env / sizeof s_env[0]; i++) unsetenv(s_env[i]);
    setenv("CRIEUR_X_CLIENT_ID", "x-client", 1);
    setenv("CRIEUR_LINKEDIN_CLIENT_ID", "li-client", 1);
    setenv("CRIEUR_LINKEDIN_CLIENT_SECRET", "li-secret-value", 1);
    setenv("CRIEUR_LINKEDIN_OAUTH_BASE", "http://127.0.0.1:9/linkedin", 1);
    return 0;
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

/* No token or secret of the fixture in the error text or code. */
static void s_no_secret(const cr_result_t *r)
{
    const char *secrets[] = {ACCESS, REFRESH, "li-secret-value", "x-secret-value"};
    for (size_t i = 0; i < 4; i++) {
        if (r->error && strstr(r->error, secrets[i])) fail_msg("token in error: %s", r->error);
        if (r->error_code && strstr(r->error_code, secrets[i])) fail_msg("token in code");
    }
}

static cr_result_t s_classify(cr_refresh_platform_t p, const fx_t *f, const cr_http_resp_t *resp)
{
    cr_result_t r;
    memset(&r, 0, sizeof r);
    cr_refresh_result(p, &f->task, resp, NOW, &r);
    s_no_secret(&r);
    return r;
}

static const char *s_header(const cr_http_req_t *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (strncasecmp(req->headers[i], name, n) == 0 && req->headers[i][n] == ':')
            return req->headers[i] + n + 2;
    return NULL;
}

/* ---- requests ---------------------------------------------------------- */

static void test_x_request(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "x", "https://api.x.com/", REFRESH);
    cr_http_req_t req;
    memset(&req, 0, sizeof req);
    cr_result_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cr_refresh_request(CR_REFRESH_X, &f.task, &req, &r), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "https://api.x.com/2/oauth2/token");
    assert_non_null(req.body);
    assert_string_equal(req.body,
                        "grant_type=refresh_token&refresh_token=old-refresh-token-5678"
                        "&client_id=x-client");
    assert_int_equal(req.fresh_connection, 1);
    assert_string_equal(s_header(&req, "Content-Type"), "application/x-www-form-urlencoded");
    assert_null(s_header(&req, "Authorization")); /* a public client */
    cr_http_req_clear(&req);

    /* a confidential client adds HTTP Basic base64("x-client:x-secret-value") */
    setenv("CRIEUR_X_CLIENT_SECRET", "x-secret-value", 1);
    assert_int_equal(cr_refresh_request(CR_REFRESH_X, &f.task, &req, &r), 0);
    assert_string_equal(s_header(&req, "Authorization"), "Basic eC1jbGllbnQ6eC1zZWNyZXQtdmFsdWU=");
    cr_http_req_clear(&req);

    /* characters outside the unreserved set are percent-encoded */
    s_fx(&f, "x", "https://api.x.com", "a+b/c=");
    assert_int_equal(cr_refresh_request(CR_REFRESH_X, &f.task, &req, &r), 0);
    assert_non_null(strstr(req.body, "refresh_token=a%2Bb%2Fc%3D&"));
    cr_http_req_clear(&req);
    cr_result_clear(&r);
}

static void test_threads_request(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "threads", "https://graph.threads.net/v1.0", "");
    cr_http_req_t req;
    memset(&req, 0, sizeof req);
    cr_result_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cr_refresh_request(CR_REFRESH_THREADS, &f.task, &req, &r), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "https://graph.threads.net/v1.0/refresh_access_token"
                                 "?grant_type=th_refresh_token&access_token=" ACCESS);
    assert_null(req.body);
    assert_null(s_header(&req, "Authorization"));
    assert_int_equal(req.fresh_connection, 1);
    cr_http_req_clear(&req);
}

static void test_linkedin_request(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "linkedin", "https://api.linkedin.com", REFRESH);
    cr_http_req_t req;
    memset(&req, 0, sizeof req);
    cr_result_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cr_refresh_request(CR_REFRESH_LINKEDIN, &f.task, &req, &r), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "http://127.0.0.1:9/linkedin/oauth/v2/accessToken");
    assert_string_equal(req.body, "grant_type=refresh_token&refresh_token=" REFRESH
                                  "&client_id=li-client&client_secret=li-secret-value");
    assert_int_equal(req.fresh_connection, 1);
    cr_http_req_clear(&req);
    /* the default OAuth host is LinkedIn's */
    unsetenv("CRIEUR_LINKEDIN_OAUTH_BASE");
    assert_int_equal(cr_refresh_request(CR_REFRESH_LINKEDIN, &f.task, &req, &r), 0);
    assert_string_equal(req.url, "https://www.linkedin.com/oauth/v2/accessToken");
    cr_http_req_clear(&req);
    setenv("CRIEUR_LINKEDIN_OAUTH_BASE", "ftp://nope", 1);
    assert_int_equal(cr_refresh_request(CR_REFRESH_LINKEDIN, &f.task, &req, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_non_null(strstr(r.error, "linkedin.oauth_base"));
    cr_result_clear(&r);
}

static void test_no_client_id(void **state)
{
    (void)state;
    fx_t f;
    cr_http_req_t req;
    memset(&req, 0, sizeof req);
    cr_result_t r;
    memset(&r, 0, sizeof r);
    unsetenv("CRIEUR_X_CLIENT_ID");
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    assert_int_equal(cr_refresh_request(CR_REFRESH_X, &f.task, &req, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "no_client_id");
    assert_non_null(strstr(r.error, "x.client_id"));
    assert_non_null(strstr(r.error, "CRIEUR_X_CLIENT_ID"));
    assert_null(req.url);
    cr_result_clear(&r);

    unsetenv("CRIEUR_LINKEDIN_CLIENT_SECRET");
    s_fx(&f, "linkedin", "https://api.linkedin.com", REFRESH);
    assert_int_equal(cr_refresh_request(CR_REFRESH_LINKEDIN, &f.task, &req, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "no_client_secret");
    assert_non_null(strstr(r.error, "linkedin.client_secret"));
    assert_non_null(strstr(r.error, "CRIEUR_LINKEDIN_CLIENT_SECRET"));
    cr_result_clear(&r);

    /* a client id with a space cannot go in a form: refused, named */
    setenv("CRIEUR_X_CLIENT_ID", "two words", 1);
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    assert_int_equal(cr_refresh_request(CR_REFRESH_X, &f.task, &req, &r), -1);
    assert_string_equal(r.error_code, "no_client_id");
    cr_result_clear(&r);
}

static void test_bad_tasks(void **state)
{
    (void)state;
    fx_t f;
    cr_http_req_t req;
    memset(&req, 0, sizeof req);
    cr_result_t r;
    memset(&r, 0, sizeof r);
    /* nothing to refresh with */
    s_fx(&f, "x", "https://api.x.com", "");
    assert_int_equal(cr_refresh_request(CR_REFRESH_X, &f.task, &req, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(r.error_code, "no_refresh_token");
    cr_result_clear(&r);
    s_fx(&f, "threads", "https://graph.threads.net/v1.0", "");
    f.acc.token = (char *)"";
    assert_int_equal(cr_refresh_request(CR_REFRESH_THREADS, &f.task, &req, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(r.error_code, "no_token");
    cr_result_clear(&r);
    /* no refresh payload */
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    f.task.payload_case = CRIEUR__TASK__PAYLOAD__NOT_SET;
    f.task.refresh = NULL;
    assert_int_equal(cr_refresh_request(CR_REFRESH_X, &f.task, &req, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "bad_task");
    cr_result_clear(&r);
    /* unusable api_base */
    s_fx(&f, "x", "api.x.com", REFRESH);
    assert_int_equal(cr_refresh_request(CR_REFRESH_X, &f.task, &req, &r), -1);
    assert_string_equal(r.error_code, "bad_api_base");
    cr_result_clear(&r);
}

/* ---- successes --------------------------------------------------------- */

static void test_x_success_rotates(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    cr_http_resp_t resp = s_resp(200, NULL,
                                 "{\"token_type\":\"bearer\",\"expires_in\":7200,"
                                 "\"access_token\":\"new-access\",\"scope\":\"tweet.write\","
                                 "\"refresh_token\":\"new-refresh\"}");
    cr_result_t r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(r.access_token, "new-access");
    assert_string_equal(r.refresh_token, "new-refresh");
    assert_true(r.token_expires_ms == NOW + 7200 * 1000LL);
    assert_null(r.error);
    assert_int_equal(r.http_status, 200);
    cr_result_clear(&r);
    assert_null(r.access_token);
}

static void test_x_success_without_refresh_token(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    cr_http_resp_t resp = s_resp(200, NULL, "{\"expires_in\":7200,\"access_token\":\"new\"}");
    cr_result_t r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(r.access_token, "new");
    assert_null(r.refresh_token); /* keep the stored one */
    assert_string_equal(r.error_code, "no_refresh_token");
    assert_non_null(strstr(r.error, "reconnected"));
    cr_result_clear(&r);
}

static void test_x_field_names_from_settings(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    setenv("CRIEUR_X_TOKEN_ACCESS_FIELD", "token", 1);
    setenv("CRIEUR_X_TOKEN_REFRESH_FIELD", "renew", 1);
    setenv("CRIEUR_X_TOKEN_EXPIRES_FIELD", "ttl", 1);
    cr_http_resp_t resp =
        s_resp(200, NULL, "{\"ttl\":\"60\",\"token\":\"new-access\",\"renew\":\"new-refresh\"}");
    cr_result_t r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(r.access_token, "new-access");
    assert_string_equal(r.refresh_token, "new-refresh");
    assert_true(r.token_expires_ms == NOW + 60000);
    cr_result_clear(&r);
    /* the default names are then missing */
    resp = s_resp(200, NULL,
                  "{\"expires_in\":7200,\"access_token\":\"a\",\"refresh_token\":\"b\"}");
    r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_non_null(strstr(r.error, "\"token\""));
    cr_result_clear(&r);
}

static void test_threads_success(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "threads", "https://graph.threads.net/v1.0", "");
    cr_http_resp_t resp = s_resp(
        200, NULL, "{\"access_token\":\"THnew\",\"token_type\":\"bearer\",\"expires_in\":5183944}");
    cr_result_t r = s_classify(CR_REFRESH_THREADS, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(r.access_token, "THnew");
    assert_null(r.refresh_token);
    assert_true(r.token_expires_ms == NOW + 5183944000LL);
    cr_result_clear(&r);
}

static void test_linkedin_success(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "linkedin", "https://api.linkedin.com", REFRESH);
    cr_http_resp_t resp = s_resp(200, NULL,
                                 "{\"access_token\":\"AQVnew\",\"expires_in\":5184000,"
                                 "\"refresh_token\":\"" REFRESH "\","
                                 "\"refresh_token_expires_in\":31000000}");
    cr_result_t r = s_classify(CR_REFRESH_LINKEDIN, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(r.access_token, "AQVnew");
    assert_null(r.refresh_token); /* the same: unchanged */
    assert_null(r.error);
    cr_result_clear(&r);
    /* a refresh token close to its end is said */
    resp = s_resp(200, NULL,
                  "{\"access_token\":\"AQVnew\",\"expires_in\":5184000,"
                  "\"refresh_token\":\"other\",\"refresh_token_expires_in\":864000}");
    r = s_classify(CR_REFRESH_LINKEDIN, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(r.refresh_token, "other");
    assert_string_equal(r.error_code, "refresh_token_expiring");
    assert_non_null(strstr(r.error, "10 days"));
    cr_result_clear(&r);
}

/* ---- malformed answers ------------------------------------------------- */

static void test_missing_fields(void **state)
{
    (void)state;
    fx_t f;
    static const char *const bodies[] = {
        "{\"expires_in\":7200}",                                  /* no access_token */
        "{\"access_token\":\"a\"}",                               /* no expires_in */
        "{\"access_token\":\"a\",\"expires_in\":0}",              /* not in range */
        "{\"access_token\":\"a\",\"expires_in\":-5}",
        "{\"access_token\":\"a\",\"expires_in\":99999999999}",
        "{\"access_token\":\"a b\",\"expires_in\":60}",           /* not a header-safe token */
        "{\"access_token\":\"\",\"expires_in\":60}",
        "{\"access_token\":7,\"expires_in\":60}",
        "{\"access_token\":\"a\\u0000b\",\"expires_in\":60}",     /* NUL inside */
        "{\"access_token\":\"a\",\"expires_in\":60,\"refresh_token\":5}",
        "{\"access_token\":\"a\",\"access_token\":\"b\",\"expires_in\":60}", /* duplicate key */
        "[\"access_token\"]",
        "<html>OK</html>",
        "",
    };
    for (int p = 0; p < 3; p++) {
        s_fx(&f, p == CR_REFRESH_THREADS ? "threads" : "x", "https://h.example", REFRESH);
        for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
            cr_http_resp_t resp = s_resp(200, NULL, bodies[i]);
            cr_result_t r = s_classify((cr_refresh_platform_t)p, &f, &resp);
            if (r.outcome != CRIEUR__OUTCOME__OUTCOME_TRANSIENT)
                fail_msg("platform %d body %s: outcome %s", p, bodies[i],
                         cr_outcome_name(r.outcome));
            assert_string_equal(r.error_code, "malformed_success");
            assert_null(r.access_token);
            assert_non_null(strstr(r.error, "not trusted"));
            if (p == CR_REFRESH_X) assert_non_null(strstr(r.error, "rotated"));
            cr_result_clear(&r);
        }
    }
}

static void test_huge_body(void **state)
{
    (void)state;
    fx_t f;
    /* the runtime stopped reading: 200 too large is an answer lost */
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    cr_http_resp_t resp = s_resp(200, NULL, "{\"access_tok");
    resp.too_large = 1;
    resp.curl_code = CURLE_WRITE_ERROR;
    cr_result_t r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(r.error_code, "too_large");
    assert_non_null(strstr(r.error, "rotated"));
    cr_result_clear(&r);
    s_fx(&f, "linkedin", "https://api.linkedin.com", REFRESH);
    r = s_classify(CR_REFRESH_LINKEDIN, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);
    /* a complete but huge token is refused, never stored */
    size_t n = 300000;
    char *body = malloc(n + 100);
    assert_non_null(body);
    int k = snprintf(body, n + 100, "{\"expires_in\":60,\"access_token\":\"");
    memset(body + k, 'a', n);
    snprintf(body + k + n, 100, "\"}");
    resp = s_resp(200, NULL, body);
    r = s_classify(CR_REFRESH_LINKEDIN, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(r.error_code, "malformed_success");
    assert_null(r.access_token);
    assert_true(strlen(r.error) <= CR_ERROR_MAX_BYTES);
    cr_result_clear(&r);
    /* an error page too large to read: classified by its status */
    resp = s_resp(503, NULL, "");
    resp.too_large = 1;
    r = s_classify(CR_REFRESH_LINKEDIN, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_int_equal(r.http_status, 503);
    cr_result_clear(&r);
    free(body);
}

/* ---- errors ------------------------------------------------------------ */

static void test_invalid_grant(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    cr_http_resp_t resp = s_resp(400, NULL, X_BAD_TOKEN);
    cr_result_t r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(r.error_code, "invalid_request");
    assert_non_null(strstr(r.error, "Value passed for the token was invalid."));
    assert_non_null(strstr(r.error, "reconnected"));
    assert_int_equal(r.http_status, 400);
    cr_result_clear(&r);

    s_fx(&f, "linkedin", "https://api.linkedin.com", REFRESH);
    /* the platform quoting the token: it never reaches the result */
    resp = s_resp(400, NULL,
                  "{\"error\":\"invalid_grant\",\"error_description\":\"refresh token " REFRESH
                  " expired\"}");
    r = s_classify(CR_REFRESH_LINKEDIN, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(r.error_code, "invalid_grant");
    assert_non_null(strstr(r.error, "refresh token [token] expired"));
    cr_result_clear(&r);

    /* invalid_request about something else: a misconfiguration */
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    resp = s_resp(400, NULL,
                  "{\"error\":\"invalid_request\",\"error_description\":\"Value passed for the "
                  "client id was invalid.\"}");
    r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_non_null(strstr(r.error, "x.client_id"));
    cr_result_clear(&r);
}

static void test_401(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    cr_http_resp_t resp = s_resp(401, "HTTP/1.1 401 Unauthorized\r\n",
                                 "{\"title\":\"Unauthorized\",\"type\":\"about:blank\","
                                 "\"status\":401,\"detail\":\"Unauthorized\"}");
    cr_result_t r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_int_equal(r.http_status, 401);
    cr_result_clear(&r);
    /* the client refused: misconfiguration, the settings named */
    s_fx(&f, "linkedin", "https://api.linkedin.com", REFRESH);
    resp = s_resp(401, NULL,
                  "{\"error\":\"invalid_client\",\"error_description\":\"Client authentication "
                  "failed\"}");
    r = s_classify(CR_REFRESH_LINKEDIN, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "invalid_client");
    assert_non_null(strstr(r.error, "linkedin.client_secret"));
    cr_result_clear(&r);
    /* Threads: Graph 190/463 */
    s_fx(&f, "threads", "https://graph.threads.net/v1.0", "");
    resp = s_resp(400, NULL, TH_EXPIRED);
    r = s_classify(CR_REFRESH_THREADS, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(r.error_code, "190/463");
    assert_non_null(strstr(r.error, "Session has expired"));
    cr_result_clear(&r);
}

static void test_429(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    cr_http_resp_t resp =
        s_resp(429, "HTTP/1.1 429 Too Many Requests\r\nx-rate-limit-reset: 1700000900\r\n",
               "{\"title\":\"Too Many Requests\",\"detail\":\"Too Many Requests\","
               "\"type\":\"about:blank\",\"status\":429}");
    cr_result_t r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_true(r.retry_at_ms == 1700000900000LL);
    cr_result_clear(&r);
    /* LinkedIn: no header, the next midnight UTC (plus a margin) */
    s_fx(&f, "linkedin", "https://api.linkedin.com", REFRESH);
    resp = s_resp(429, NULL, "");
    r = s_classify(CR_REFRESH_LINKEDIN, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_true(r.retry_at_ms > NOW && r.retry_at_ms <= NOW + 25 * 3600000LL);
    cr_result_clear(&r);
    /* Threads: Graph throttling code 4, with the usage header's regain time */
    s_fx(&f, "threads", "https://graph.threads.net/v1.0", "");
    resp = s_resp(400,
                  "X-Business-Use-Case-Usage: {\"1\":[{\"type\":\"threads\",\"call_count\":100,"
                  "\"estimated_time_to_regain_access\":7}]}\r\n",
                  "{\"error\":{\"message\":\"(#4) Application request limit reached\","
                  "\"type\":\"OAuthException\",\"code\":4,\"is_transient\":true}}");
    r = s_classify(CR_REFRESH_THREADS, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_true(r.retry_at_ms == NOW + 7 * 60000LL);
    cr_result_clear(&r);
}

static void test_5xx(void **state)
{
    (void)state;
    fx_t f;
    for (int p = 0; p < 3; p++) {
        s_fx(&f, p == CR_REFRESH_THREADS ? "threads" : "x", "https://h.example", REFRESH);
        cr_http_resp_t resp = s_resp(503, "HTTP/1.1 503 Service Unavailable\r\n", "<html>down");
        cr_result_t r = s_classify((cr_refresh_platform_t)p, &f, &resp);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
        assert_int_equal(r.http_status, 503);
        cr_result_clear(&r);
    }
}

static void test_lost_answer(void **state)
{
    (void)state;
    fx_t f;
    /* sent, then the connection died: X may have rotated */
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    cr_http_resp_t resp = s_resp(0, NULL, NULL);
    resp.curl_code = CURLE_GOT_NOTHING;
    resp.error = "Empty reply from server";
    cr_result_t r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(r.error_code, "curl:52");
    assert_non_null(strstr(r.error, "rotated the refresh token"));
    cr_result_clear(&r);
    /* Threads and LinkedIn keep what was sent valid: asking again is safe */
    s_fx(&f, "threads", "https://graph.threads.net/v1.0", "");
    r = s_classify(CR_REFRESH_THREADS, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);
    /* never sent: TRANSIENT everywhere */
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    resp.curl_code = CURLE_COULDNT_CONNECT;
    resp.error = "Failed to connect";
    resp.sent = 0;
    r = s_classify(CR_REFRESH_X, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_non_null(strstr(r.error, "nothing was sent"));
    cr_result_clear(&r);
}

static void test_non_json_errors(void **state)
{
    (void)state;
    fx_t f;
    s_fx(&f, "linkedin", "https://api.linkedin.com", REFRESH);
    cr_http_resp_t resp = s_resp(400, "HTTP/1.1 400 Bad Request\r\n", "<html>bad</html>");
    cr_result_t r = s_classify(CR_REFRESH_LINKEDIN, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "400");
    assert_non_null(strstr(r.error, "HTTP 400 Bad Request"));
    cr_result_clear(&r);
    s_fx(&f, "threads", "https://graph.threads.net/v1.0", "");
    resp = s_resp(401, NULL, "nope");
    r = s_classify(CR_REFRESH_THREADS, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_result_clear(&r);
    /* a Graph error in a 200 is an error, not a success */
    resp = s_resp(200, NULL, TH_EXPIRED);
    r = s_classify(CR_REFRESH_THREADS, &f, &resp);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_result_clear(&r);
}

/* ---- the adapters in the runtime's list -------------------------------- */

static void test_adapters(void **state)
{
    (void)state;
    const cr_adapter_t *const *list = cr_adapters_builtin();
    const char *platforms[] = {"x", "threads", "linkedin"};
    const uint32_t refresh = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH);
    const uint32_t publish = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH);
    for (size_t k = 0; k < 3; k++) {
        int n_refresh = 0, n_publish = 0;
        for (size_t i = 0; list[i]; i++) {
            if (strcmp(list[i]->platform, platforms[k]) != 0) continue;
            n_refresh += (list[i]->kinds & refresh) != 0;
            n_publish += (list[i]->kinds & publish) != 0;
            assert_false((list[i]->kinds & refresh) && (list[i]->kinds & publish));
        }
        assert_int_equal(n_refresh, 1);
        assert_int_equal(n_publish, 1);
    }
    /* the step machine: one request, then the result */
    fx_t f;
    s_fx(&f, "x", "https://api.x.com", REFRESH);
    cr_call_t call;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_x_refresh_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_non_null(call.req.url);
    cr_http_req_clear(&call.req);
    cr_http_resp_t resp =
        s_resp(200, NULL, "{\"expires_in\":60,\"access_token\":\"n\",\"refresh_token\":\"m\"}");
    assert_int_equal(cr_x_refresh_adapter.step(&call, &resp), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.refresh_token, "m");
    cr_call_clear(&call, &cr_x_refresh_adapter);
    /* a configuration error ends at once, without a request */
    unsetenv("CRIEUR_X_CLIENT_ID");
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_x_refresh_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_null(call.req.url);
    cr_call_clear(&call, &cr_x_refresh_adapter);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_x_request, s_setup),
        cmocka_unit_test_setup(test_threads_request, s_setup),
        cmocka_unit_test_setup(test_linkedin_request, s_setup),
        cmocka_unit_test_setup(test_no_client_id, s_setup),
        cmocka_unit_test_setup(test_bad_tasks, s_setup),
        cmocka_unit_test_setup(test_x_success_rotates, s_setup),
        cmocka_unit_test_setup(test_x_success_without_refresh_token, s_setup),
        cmocka_unit_test_setup(test_x_field_names_from_settings, s_setup),
        cmocka_unit_test_setup(test_threads_success, s_setup),
        cmocka_unit_test_setup(test_linkedin_success, s_setup),
        cmocka_unit_test_setup(test_missing_fields, s_setup),
        cmocka_unit_test_setup(test_huge_body, s_setup),
        cmocka_unit_test_setup(test_invalid_grant, s_setup),
        cmocka_unit_test_setup(test_401, s_setup),
        cmocka_unit_test_setup(test_429, s_setup),
        cmocka_unit_test_setup(test_5xx, s_setup),
        cmocka_unit_test_setup(test_lost_answer, s_setup),
        cmocka_unit_test_setup(test_non_json_errors, s_setup),
        cmocka_unit_test_setup(test_adapters, s_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
