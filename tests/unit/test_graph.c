/* test_graph: the Graph adapters (Facebook Pages, Instagram, Threads) and
 * their shared module cr_graph, against canned platform answers (no
 * network): every error code's classification for each request role, the
 * usage headers, container states, the read-back matcher, request building,
 * and the three step machines end to end (publish, containers and polling
 * with CR_STEP_WAIT, images by URL and by upload, replies, reconciliation
 * found / not found / refused, lost answers), with their settings. */
#include "cr_adapter.h"
#include "cr_adapters.h"
#include "cr_graph.h"

#include <curl/curl.h>
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
#define SINCE_S "1699996400" /* NOW - 1 h, in seconds */
#define FOUND_DETAIL "found on the platform by reading back; not published again"
#define RUNTIME_MAX_STEPS 64 /* CR_MAX_STEPS in cr_worker.c: steps between two waits */

/* A Graph error body. */
static char *s_err(long code, long subcode, int transient, const char *message)
{
    static char buf[8][600];
    static int k;
    char *b = buf[k++ % 8];
    char sub[40] = "";
    if (subcode) snprintf(sub, sizeof sub, ",\"error_subcode\":%ld", subcode);
    snprintf(b, 600,
             "{\"error\":{\"message\":\"%s\",\"type\":\"OAuthException\",\"code\":%ld%s,"
             "\"is_transient\":%s,\"fbtrace_id\":\"AbCdEfGhIjK\"}}",
             message, code, sub, transient ? "true" : "false");
    return b;
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

static cr_http_resp_t s_curl(int code, int sent)
{
    cr_http_resp_t r = s_resp(0, NULL, NULL);
    r.curl_code = code;
    r.sent = sent;
    r.error = curl_easy_strerror((CURLcode)code);
    return r;
}

static cr_result_t s_fail(cr_graph_role_t role, long status, const char *headers,
                          const char *body)
{
    cr_http_resp_t r = s_resp(status, headers, body);
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_graph_failure(&r, role, NULL, NOW, &res);
    return res;
}

/* ---- error objects ----------------------------------------------------- */

static void test_error_parse(void **state)
{
    cr_graph_error_t e;
    assert_int_equal(cr_graph_error_parse(s_err(190, 463, 0, "Error validating access token"),
                                          strlen(s_err(190, 463, 0, "Error validating access token")),
                                          &e),
                     0);
    assert_int_equal(e.code, 190);
    assert_int_equal(e.subcode, 463);
    assert_int_equal(e.is_transient, 0);
    assert_string_equal(e.message, "Error validating access token");

    /* error_user_msg adds what message does not say */
    static const char dup[] =
        "{\"error\":{\"message\":\"Duplicate status message\",\"type\":\"OAuthException\","
        "\"code\":506,\"error_subcode\":1455006,\"is_transient\":false,"
        "\"error_user_title\":\"Duplicate Status Update\",\"error_user_msg\":\"This status "
        "update is identical to the last one you posted.\",\"fbtrace_id\":\"A\"}}";
    assert_int_equal(cr_graph_error_parse(dup, strlen(dup), &e), 0);
    assert_string_equal(e.message, "Duplicate status message: This status update is identical to "
                                   "the last one you posted.");
    static const char transient[] =
        "{\"error\":{\"message\":\"(#4) Application request limit reached\",\"code\":4,"
        "\"is_transient\":true}}";
    assert_int_equal(cr_graph_error_parse(transient, strlen(transient), &e), 0);
    assert_int_equal(e.is_transient, 1);
    assert_int_equal(e.subcode, 0);

    /* not Graph errors */
    static const char *const bad[] = {
        "",
        "{}",
        "[]",
        "<html>502 Bad Gateway</html>",
        "{\"error\":\"Too many requests\"}",
        "{\"error\":{\"message\":\"no code\"}}",
        "{\"error\":{\"message\":\"string code\",\"code\":\"190\"}}",
        "{\"error\":{\"message\":\"zero\",\"code\":0}}",
        "{\"error\":{\"message\":\"negative\",\"code\":-4}}",
        "{\"data\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cr_graph_error_parse(bad[i], strlen(bad[i]), &e), -1);
    assert_int_equal(cr_graph_error_parse(NULL, 0, &e), -1);
    /* a message with control characters and over 500 bytes is cleaned and cut */
    char long_body[2000], msg[1200];
    memset(msg, 'm', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    msg[3] = '\\', msg[4] = 'n';
    snprintf(long_body, sizeof long_body, "{\"error\":{\"message\":\"%s\",\"code\":100}}", msg);
    assert_int_equal(cr_graph_error_parse(long_body, strlen(long_body), &e), 0);
    assert_true(strlen(e.message) <= CR_ERROR_MAX_BYTES);
    assert_null(strchr(e.message, '\n'));
}

static void test_error_classes(void **state)
{
    static const struct {
        long code, subcode;
        int transient;
        cr_graph_class_t cls;
    } cases[] = {
        {190, 463, 0, CR_GRAPH_E_AUTH},         /* expired */
        {190, 467, 0, CR_GRAPH_E_AUTH},         /* invalid */
        {190, 460, 0, CR_GRAPH_E_AUTH},         /* password changed */
        {190, 0, 0, CR_GRAPH_E_AUTH},
        {102, 0, 0, CR_GRAPH_E_AUTH},
        {104, 0, 0, CR_GRAPH_E_AUTH},           /* no token */
        {4, 0, 1, CR_GRAPH_E_THROTTLED},        /* is_transient, but a throttle first */
        {17, 0, 0, CR_GRAPH_E_THROTTLED},
        {32, 0, 0, CR_GRAPH_E_THROTTLED},
        {613, 0, 0, CR_GRAPH_E_THROTTLED},
        {341, 0, 0, CR_GRAPH_E_THROTTLED},
        {80001, 0, 0, CR_GRAPH_E_THROTTLED},
        {80002, 0, 0, CR_GRAPH_E_THROTTLED},
        {80014, 0, 0, CR_GRAPH_E_THROTTLED},
        {9, 2207042, 0, CR_GRAPH_E_THROTTLED},  /* Instagram publishing quota */
        {506, 1455006, 0, CR_GRAPH_E_DUPLICATE},
        {506, 0, 0, CR_GRAPH_E_DUPLICATE},
        {9007, 2207027, 0, CR_GRAPH_E_NOT_READY},
        {9007, 0, 0, CR_GRAPH_E_NOT_READY},
        {100, 2207020, 0, CR_GRAPH_E_EXPIRED},
        {9004, 2207020, 0, CR_GRAPH_E_EXPIRED},
        {1, 0, 0, CR_GRAPH_E_TRANSIENT},
        {2, 0, 1, CR_GRAPH_E_TRANSIENT},
        {100, 0, 1, CR_GRAPH_E_TRANSIENT},      /* is_transient on another code */
        {100, 0, 0, CR_GRAPH_E_REFUSED},
        {100, 33, 0, CR_GRAPH_E_REFUSED},
        {368, 1390008, 0, CR_GRAPH_E_REFUSED},  /* policy block */
        {10, 0, 0, CR_GRAPH_E_REFUSED},
        {200, 0, 0, CR_GRAPH_E_REFUSED},
        {250, 0, 0, CR_GRAPH_E_REFUSED},
        {299, 0, 0, CR_GRAPH_E_REFUSED},
        {9, 0, 0, CR_GRAPH_E_REFUSED},          /* code 9 alone is not the quota */
        {9004, 2207052, 0, CR_GRAPH_E_REFUSED}, /* media download failed */
        {80015, 0, 0, CR_GRAPH_E_REFUSED},
        {3, 0, 0, CR_GRAPH_E_REFUSED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_graph_error_t e;
        memset(&e, 0, sizeof e);
        e.code = cases[i].code;
        e.subcode = cases[i].subcode;
        e.is_transient = cases[i].transient;
        if (cr_graph_error_class(&e) != cases[i].cls)
            fail_msg("code %ld/%ld: class %d, expected %d", cases[i].code, cases[i].subcode,
                     cr_graph_error_class(&e), cases[i].cls);
    }
}

/* ---- classification by role -------------------------------------------- */

#define BUC(regain)                                                                                \
    "HTTP/1.1 400 Bad Request\r\nX-App-Usage: {\"call_count\":100,\"total_cputime\":20,"          \
    "\"total_time\":30}\r\nX-Business-Use-Case-Usage: {\"1001\":[{\"type\":\"pages\","            \
    "\"call_count\":100,\"total_cputime\":5,\"total_time\":5,\"estimated_time_to_regain_access\":" \
    regain "}]}\r\n\r\n"

static void test_failure_publish(void **state)
{
    static const struct {
        long status;
        long code, subcode;
        int transient;
        Crieur__Outcome outcome;
        const char *error_code;
    } cases[] = {
        {400, 190, 463, 0, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "190/463"},
        {401, 190, 0, 0, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "190"},
        {500, 190, 460, 0, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "190/460"}, /* code, not status */
        {400, 104, 0, 0, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "104"},
        {400, 506, 1455006, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "duplicate"},
        {400, 100, 0, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "100"},
        {400, 368, 1390008, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "368/1390008"},
        {403, 10, 0, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "10"},
        {403, 200, 0, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "200"},
        {400, 220, 0, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "220"},
        {400, 299, 0, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "299"},
        {200, 100, 0, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "100"}, /* an error object says no */
        {500, 1, 0, 0, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "1"},
        {503, 2, 0, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "2"},
        {400, 100, 0, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "100"}, /* is_transient */
        {400, 9007, 2207027, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "container_not_ready"},
        {400, 100, 2207020, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "container_expired"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_result_t r = s_fail(CR_GRAPH_PUBLISH, cases[i].status, NULL,
                               s_err(cases[i].code, cases[i].subcode, cases[i].transient,
                                     "The platform's words"));
        if (r.outcome != cases[i].outcome)
            fail_msg("case %zu (code %ld): outcome %s", i, cases[i].code,
                     cr_outcome_name(r.outcome));
        assert_string_equal(r.error_code, cases[i].error_code);
        assert_non_null(strstr(r.error, "The platform's words"));
        assert_int_equal(r.http_status, (int)cases[i].status);
        if (cases[i].outcome == CRIEUR__OUTCOME__OUTCOME_TRANSIENT)
            assert_int_equal(r.retry_at_ms, NOW + 10000);
        else
            assert_int_equal(r.retry_at_ms, 0);
        cr_result_clear(&r);
    }
    /* the platform's message, as it is, for a refusal */
    cr_result_t r = s_fail(CR_GRAPH_PUBLISH, 400, NULL,
                           s_err(100, 0, 0, "(#100) link URL is not properly formatted"));
    assert_string_equal(r.error, "(#100) link URL is not properly formatted");
    cr_result_clear(&r);
}

static void test_failure_throttled(void **state)
{
    static const long codes[] = {4, 17, 32, 613, 80001};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
        /* estimated_time_to_regain_access is in minutes */
        cr_result_t r = s_fail(CR_GRAPH_PUBLISH, 400, BUC("3"), s_err(codes[i], 0, 1, "Limit"));
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
        assert_int_equal(r.retry_at_ms, NOW + 3 * 60000);
        cr_result_clear(&r);
        /* without an estimate: 15 minutes */
        r = s_fail(CR_GRAPH_PUBLISH, 400, NULL, s_err(codes[i], 0, 0, "Limit"));
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
        assert_int_equal(r.retry_at_ms, NOW + 15 * 60000);
        cr_result_clear(&r);
        /* an estimate of 0 while throttled is no estimate */
        r = s_fail(CR_GRAPH_READ, 400, BUC("0"), s_err(codes[i], 0, 0, "Limit"));
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
        assert_int_equal(r.retry_at_ms, NOW + 15 * 60000);
        cr_result_clear(&r);
    }
    /* Instagram's quota; at most a day */
    cr_result_t r = s_fail(CR_GRAPH_PUBLISH, 400, BUC("900000"),
                           s_err(9, 2207042, 0, "(#9) Publishing limit reached"));
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_string_equal(r.error_code, "9/2207042");
    assert_int_equal(r.retry_at_ms, NOW + 24LL * 3600000);
    cr_result_clear(&r);
    /* a throttled answer never counts as refused or transient, whatever the status */
    r = s_fail(CR_GRAPH_PREPARE, 403, BUC("1"), s_err(4, 0, 1, "(#4) Application request limit"));
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(r.retry_at_ms, NOW + 60000);
    cr_result_clear(&r);
}

static void test_failure_not_graph(void **state)
{
    static const struct {
        cr_graph_role_t role;
        long status;
        const char *body;
        Crieur__Outcome outcome;
        const char *code;
    } cases[] = {
        {CR_GRAPH_PUBLISH, 502, "<html>Bad Gateway</html>", CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "502"},
        {CR_GRAPH_PUBLISH, 503, "", CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "503"},
        {CR_GRAPH_PUBLISH, 408, "", CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "408"},
        {CR_GRAPH_PUBLISH, 200, "{\"nope\":1}", CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "malformed_success"},
        {CR_GRAPH_PUBLISH, 200, "{\"id\":\"12a\"}", CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "malformed_success"},
        {CR_GRAPH_PUBLISH, 429, "{\"error\":\"slow down\"}", CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "429"},
        {CR_GRAPH_PUBLISH, 404, "<html>Not Found</html>", CRIEUR__OUTCOME__OUTCOME_PERMANENT, "404"},
        {CR_GRAPH_PUBLISH, 301, "", CRIEUR__OUTCOME__OUTCOME_PERMANENT, "301"},
        {CR_GRAPH_PREPARE, 502, "", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "502"},
        {CR_GRAPH_PREPARE, 200, "[]", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "malformed_success"},
        {CR_GRAPH_PREPARE, 404, "", CRIEUR__OUTCOME__OUTCOME_PERMANENT, "404"},
        {CR_GRAPH_READ, 503, "", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "503"},
        {CR_GRAPH_READ, 200, "{", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "malformed_readback"},
        {CR_GRAPH_READ, 403, "<html>Forbidden</html>", CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, "readback_refused"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_result_t r = s_fail(cases[i].role, cases[i].status,
                               "HTTP/1.1 999 Some Reason\r\n\r\n", cases[i].body);
        if (r.outcome != cases[i].outcome)
            fail_msg("case %zu: outcome %s", i, cr_outcome_name(r.outcome));
        assert_string_equal(r.error_code, cases[i].code);
        assert_non_null(r.error);
        if (cases[i].outcome == CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED)
            assert_int_equal(r.retry_at_ms, NOW + 15 * 60000);
        cr_result_clear(&r);
    }
}

static void test_failure_network(void **state)
{
    static const struct {
        cr_graph_role_t role;
        int code, sent, too_large;
        Crieur__Outcome outcome;
    } cases[] = {
        {CR_GRAPH_PUBLISH, CURLE_COULDNT_CONNECT, 1, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {CR_GRAPH_PUBLISH, CURLE_OPERATION_TIMEDOUT, 0, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {CR_GRAPH_PUBLISH, CURLE_OPERATION_TIMEDOUT, 1, 0, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
        {CR_GRAPH_PUBLISH, CURLE_RECV_ERROR, 1, 0, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
        {CR_GRAPH_PUBLISH, 0, 1, 1, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE},
        {CR_GRAPH_PREPARE, CURLE_OPERATION_TIMEDOUT, 1, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {CR_GRAPH_PREPARE, 0, 1, 1, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {CR_GRAPH_READ, CURLE_OPERATION_TIMEDOUT, 1, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {CR_GRAPH_READ, CURLE_COULDNT_RESOLVE_HOST, 0, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_http_resp_t resp = s_curl(cases[i].code, cases[i].sent);
        resp.too_large = cases[i].too_large;
        cr_result_t r;
        memset(&r, 0, sizeof r);
        cr_graph_failure(&resp, cases[i].role, NULL, NOW, &r);
        if (r.outcome != cases[i].outcome)
            fail_msg("case %zu: outcome %s", i, cr_outcome_name(r.outcome));
        char want[16];
        if (cases[i].too_large) snprintf(want, sizeof want, "too_large");
        else snprintf(want, sizeof want, "curl:%d", cases[i].code);
        assert_string_equal(r.error_code, want);
        cr_result_clear(&r);
    }
}

static void test_failure_read(void **state)
{
    static const struct {
        long status, code, subcode;
        int transient;
        Crieur__Outcome outcome;
        const char *error_code;
    } cases[] = {
        {403, 10, 0, 0, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, "readback_forbidden"},
        {400, 200, 0, 0, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, "readback_forbidden"},
        {400, 283, 0, 0, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, "readback_forbidden"},
        {400, 100, 33, 0, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, "readback_refused"},
        {400, 506, 0, 0, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, "readback_refused"},
        {400, 9007, 0, 0, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, "readback_refused"},
        {400, 190, 463, 0, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "190/463"},
        {400, 32, 0, 1, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "32"},
        {500, 2, 0, 1, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "2"},
        {500, 1, 0, 0, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_result_t r = s_fail(CR_GRAPH_READ, cases[i].status, NULL,
                               s_err(cases[i].code, cases[i].subcode, cases[i].transient, "Nope"));
        if (r.outcome != cases[i].outcome)
            fail_msg("case %zu: outcome %s", i, cr_outcome_name(r.outcome));
        assert_string_equal(r.error_code, cases[i].error_code);
        if (r.outcome == CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED) {
            assert_non_null(strstr(r.error, "cannot be read back (Nope)"));
            assert_non_null(strstr(r.error, "it was not published again"));
        }
        cr_result_clear(&r);
    }
}

/* ---- usage headers ----------------------------------------------------- */

static void test_usage(void **state)
{
    cr_graph_usage_t u;
    cr_http_resp_t r = s_resp(200,
                              "HTTP/1.1 200 OK\r\nx-app-usage: {\"call_count\":28,\"total_time\":25,"
                              "\"total_cputime\":91}\r\n\r\n",
                              "{}");
    cr_graph_usage(&r, &u);
    assert_int_equal(u.app_pct, 91);
    assert_int_equal(u.buc_pct, -1);
    assert_int_equal(u.regain_min, -1);
    assert_int_equal(cr_graph_usage_pct(&u), 91);

    r = s_resp(400,
               "HTTP/1.1 400 Bad Request\r\nX-Business-Use-Case-Usage: {\"1\":[{\"type\":\"pages\","
               "\"call_count\":12,\"estimated_time_to_regain_access\":0},{\"type\":\"instagram\","
               "\"total_time\":97,\"estimated_time_to_regain_access\":7}],\"2\":[{\"call_count\":"
               "3,\"estimated_time_to_regain_access\":0.5}]}\r\n\r\n",
               "{}");
    cr_graph_usage(&r, &u);
    assert_int_equal(u.app_pct, -1);
    assert_int_equal(u.buc_pct, 97);
    assert_int_equal(u.regain_min, 7);
    assert_int_equal(cr_graph_retry_at(&u, NOW), NOW + 7 * 60000);
    /* half a minute is a minute */
    r = s_resp(400,
               "HTTP/1.1 400 x\r\nX-Business-Use-Case-Usage: {\"2\":[{\"estimated_time_to_regain_"
               "access\":0.5}]}\r\n\r\n",
               "{}");
    cr_graph_usage(&r, &u);
    assert_int_equal(u.regain_min, 1);

    static const char *const junk[] = {
        "HTTP/1.1 200 OK\r\nX-App-Usage: nope\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-App-Usage: [1,2]\r\nX-Business-Use-Case-Usage: {\"1\":3}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-App-Usage: {\"call_count\":\"99\"}\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Business-Use-Case-Usage: {\"1\":[1,\"x\",{\"call_count\":-5}]}\r\n\r\n",
        "",
    };
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
        r = s_resp(200, junk[i], "{}");
        cr_graph_usage(&r, &u);
        assert_int_equal(cr_graph_usage_pct(&u), -1);
        assert_int_equal(u.regain_min, -1);
        assert_int_equal(cr_graph_retry_at(&u, NOW), NOW + 15 * 60000);
    }

    /* a success near the limit is noted, the outcome unchanged */
    cr_result_t res;
    memset(&res, 0, sizeof res);
    res.outcome = CRIEUR__OUTCOME__OUTCOME_OK;
    r = s_resp(200, "HTTP/1.1 200 OK\r\nX-App-Usage: {\"call_count\":93}\r\n\r\n", "{}");
    cr_graph_usage_note(&r, &res);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(res.error_code, "usage_high");
    assert_non_null(strstr(res.error, "93% of its rate limit used (X-App-Usage)"));
    cr_result_clear(&res);
    res.outcome = CRIEUR__OUTCOME__OUTCOME_OK;
    r = s_resp(200, "HTTP/1.1 200 OK\r\nX-App-Usage: {\"call_count\":89}\r\n\r\n", "{}");
    cr_graph_usage_note(&r, &res);
    assert_null(res.error);
    assert_null(res.error_code);
    r = s_resp(200,
               "HTTP/1.1 200 OK\r\nX-App-Usage: {\"call_count\":10}\r\nX-Business-Use-Case-Usage: "
               "{\"9\":[{\"call_count\":90}]}\r\n\r\n",
               "{}");
    cr_graph_usage_note(&r, &res);
    assert_non_null(strstr(res.error, "90% of its rate limit used (X-Business-Use-Case-Usage)"));
    cr_result_clear(&res);
}

/* ---- containers, ids --------------------------------------------------- */

static void test_container_status(void **state)
{
    static const struct {
        const char *body, *field, *reason_field;
        cr_graph_container_t st;
        const char *reason;
    } cases[] = {
        {"{\"id\":\"1\",\"status_code\":\"IN_PROGRESS\",\"status\":\"In Progress\"}", "status_code",
         "status", CR_GRAPH_C_IN_PROGRESS, "In Progress"},
        {"{\"status_code\":\"FINISHED\"}", "status_code", "status", CR_GRAPH_C_FINISHED, ""},
        {"{\"status_code\":\"ERROR\",\"status\":\"Error: Only JPEG images are supported\"}",
         "status_code", "status", CR_GRAPH_C_ERROR, "Error: Only JPEG images are supported"},
        {"{\"status_code\":\"EXPIRED\"}", "status_code", "status", CR_GRAPH_C_EXPIRED, ""},
        {"{\"status_code\":\"PUBLISHED\"}", "status_code", "status", CR_GRAPH_C_PUBLISHED, ""},
        {"{\"status\":\"ERROR\",\"error_message\":\"FAILED_DOWNLOADING_VIDEO\"}", "status",
         "error_message", CR_GRAPH_C_ERROR, "FAILED_DOWNLOADING_VIDEO"},
        {"{\"status\":\"FINISHED\"}", "status", "error_message", CR_GRAPH_C_FINISHED, ""},
        {"{\"status_code\":\"finished\"}", "status_code", "status", CR_GRAPH_C_UNKNOWN, ""},
        {"{\"status_code\":1}", "status_code", "status", CR_GRAPH_C_UNKNOWN, ""},
        {"{\"id\":\"1\"}", "status_code", "status", CR_GRAPH_C_UNKNOWN, ""},
        {"not json", "status_code", "status", CR_GRAPH_C_UNKNOWN, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char reason[64];
        assert_int_equal(cr_graph_container_status(cases[i].body, strlen(cases[i].body),
                                                   cases[i].field, cases[i].reason_field, reason,
                                                   sizeof reason),
                         cases[i].st);
        assert_string_equal(reason, cases[i].reason);
    }
    /* a long reason is cut, valid UTF-8 */
    char body[400], reason[16];
    snprintf(body, sizeof body, "{\"status_code\":\"ERROR\",\"status\":\"%s\"}",
             "éééééééééééééééééééé");
    assert_int_equal(cr_graph_container_status(body, strlen(body), "status_code", "status", reason,
                                                sizeof reason),
                     CR_GRAPH_C_ERROR);
    assert_true(strlen(reason) <= 15 && strlen(reason) % 2 == 0);
}

static void test_ids(void **state)
{
    char id[CR_GRAPH_ID_MAX + 1], url[CR_GRAPH_PERMALINK_MAX + 1];
    static const char fb[] = "{\"id\":\"1001_117659446942957568\"}";
    assert_int_equal(cr_graph_id(fb, strlen(fb), "id", id), 0);
    assert_string_equal(id, "1001_117659446942957568");
    static const char photo[] = "{\"id\":\"55\",\"post_id\":\"1001_56\"}";
    assert_int_equal(cr_graph_id(photo, strlen(photo), "post_id", id), 0);
    assert_string_equal(id, "1001_56");
    static const char *const bad[] = {
        "{}", "{\"id\":17}", "{\"id\":\"\"}", "{\"id\":\"12 3\"}", "{\"id\":\"../x\"}",
        "{\"id\":\"11111111111111111111111111111111111111111111111111111111111111111\"}", "[]",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cr_graph_id(bad[i], strlen(bad[i]), "id", id), -1);
    static const char pl[] = "{\"permalink\":\"https://www.instagram.com/p/AbC/\"}";
    assert_int_equal(cr_graph_url_field(pl, strlen(pl), "permalink", url), 0);
    assert_string_equal(url, "https://www.instagram.com/p/AbC/");
    static const char *const badurl[] = {
        "{\"permalink\":\"javascript:alert(1)\"}",
        "{\"permalink\":\"https://x y\"}",
        "{\"permalink\":null}",
    };
    for (size_t i = 0; i < sizeof badurl / sizeof *badurl; i++)
        assert_int_equal(cr_graph_url_field(badurl[i], strlen(badurl[i]), "permalink", url), -1);
}

/* ---- matcher ------------------------------------------------------------ */

static const cr_graph_feed_t s_fb_feed = {
    .platform = "Facebook", .edge = "posts", .fields = "id,message,created_time",
    .text_field = "message", .time_field = "created_time", .since_param = 1,
    .page_size = 100, .max_pages = 10, .window_ms = 3600000,
};

static cr_graph_match_t s_match(const char *body, const char *fp, cr_graph_found_t *found)
{
    return cr_graph_match(body, strlen(body), &s_fb_feed, fp, NOW - 3600000, found);
}

static void test_match(void **state)
{
    cr_graph_found_t found;
    /* whitespace and links do not matter; the oldest match wins */
    static const char page[] =
        "{\"data\":[{\"id\":\"1_3\",\"message\":\"Spring  sale\\n\\nhttps://shop.example/s\","
        "\"created_time\":\"2023-11-14T22:13:30+0000\",\"permalink_url\":\"https://www.facebook.com/1_3\"},"
        "{\"id\":\"1_2\",\"message\":\"Other\",\"created_time\":\"2023-11-14T22:13:25+0000\"},"
        "{\"id\":\"1_1\",\"message\":\" Spring sale \",\"created_time\":\"2023-11-14T22:13:21+0000\"}],"
        "\"paging\":{\"cursors\":{\"before\":\"QVFI\",\"after\":\"QVFJ\"}}}";
    assert_int_equal(s_match(page, "Spring sale", &found), CR_GRAPH_MATCH_FOUND);
    assert_string_equal(found.id, "1_1");
    assert_string_equal(found.permalink, "");
    assert_int_equal(s_match(page, "Other", &found), CR_GRAPH_MATCH_FOUND);
    assert_string_equal(found.id, "1_2");
    /* case and punctuation do matter */
    assert_int_equal(s_match(page, "spring sale", &found), CR_GRAPH_MATCH_NONE);
    assert_int_equal(s_match(page, "Spring sale!", &found), CR_GRAPH_MATCH_NONE);
    /* permalink of the match, when it has one */
    static const char one[] =
        "{\"data\":[{\"id\":\"1_3\",\"message\":\"Mine\",\"permalink_url\":\"https://www.facebook.com/1_3\"}]}";
    assert_int_equal(s_match(one, "Mine", &found), CR_GRAPH_MATCH_FOUND);
    assert_string_equal(found.permalink, "https://www.facebook.com/1_3");

    /* more pages: follow the after cursor */
    static const char more[] =
        "{\"data\":[{\"id\":\"1_9\",\"message\":\"x\"}],\"paging\":{\"cursors\":{\"before\":\"a\","
        "\"after\":\"QVFIUmR0_-=\"},\"next\":\"https://graph.facebook.com/v21.0/1/posts?after=QVFIUmR0_-=\"}}";
    assert_int_equal(s_match(more, "Mine", &found), CR_GRAPH_MATCH_MORE);
    assert_string_equal(found.after, "QVFIUmR0_-=");
    /* a next page without a usable cursor: never "not there" */
    static const char nocursor[] =
        "{\"data\":[{\"id\":\"1_9\",\"message\":\"x\"}],\"paging\":{\"next\":\"https://x/y\"}}";
    assert_int_equal(s_match(nocursor, "Mine", &found), CR_GRAPH_MATCH_MALFORMED);
    static const char badcursor[] =
        "{\"data\":[{\"id\":\"1_9\",\"message\":\"x\"}],\"paging\":{\"cursors\":{\"after\":\"a&b\"},"
        "\"next\":\"https://x/y\"}}";
    assert_int_equal(s_match(badcursor, "Mine", &found), CR_GRAPH_MATCH_MALFORMED);
    /* an item older than the window ends the search, even with a next page */
    static const char old[] =
        "{\"data\":[{\"id\":\"1_9\",\"message\":\"x\",\"created_time\":\"2023-11-14T21:13:21+0000\"},"
        "{\"id\":\"1_8\",\"message\":\"Mine\",\"created_time\":\"2023-11-14T21:13:19+0000\"}],"
        "\"paging\":{\"cursors\":{\"after\":\"Zz\"},\"next\":\"https://x/y\"}}";
    assert_int_equal(s_match(old, "Mine", &found), CR_GRAPH_MATCH_NONE);
    /* empty page, no next */
    assert_int_equal(s_match("{\"data\":[]}", "Mine", &found), CR_GRAPH_MATCH_NONE);
    assert_int_equal(s_match("{\"data\":[],\"paging\":{\"cursors\":{\"after\":\"a\"},\"next\":\"h\"}}",
                             "Mine", &found),
                     CR_GRAPH_MATCH_NONE);
    /* items of the wrong shape are skipped */
    static const char odd[] =
        "{\"data\":[1,\"x\",{\"id\":5,\"message\":\"Mine\"},{\"id\":\"a b\",\"message\":\"Mine\"},"
        "{\"id\":\"1_4\"},{\"id\":\"1_5\",\"message\":7},{\"id\":\"1_6\",\"message\":\"Mi\\u0000ne\"},"
        "{\"id\":\"1_7\",\"message\":\"Mine\",\"created_time\":\"garbage\"}]}";
    assert_int_equal(s_match(odd, "Mine", &found), CR_GRAPH_MATCH_FOUND);
    assert_string_equal(found.id, "1_7");
    /* not Graph's shape */
    static const char *const bad[] = {"", "{", "[]", "{\"data\":{}}", "{\"error\":{\"code\":1}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(s_match(bad[i], "Mine", &found), CR_GRAPH_MATCH_MALFORMED);
    assert_int_equal(cr_graph_match(NULL, 0, &s_fb_feed, "x", 0, &found), CR_GRAPH_MATCH_MALFORMED);
    assert_int_equal(cr_graph_match("{}", 2, &s_fb_feed, NULL, 0, &found),
                     CR_GRAPH_MATCH_MALFORMED);
    /* Instagram and Threads name things differently */
    cr_graph_feed_t ig = s_fb_feed;
    ig.text_field = "caption";
    ig.time_field = "timestamp";
    static const char igpage[] =
        "{\"data\":[{\"id\":\"178\",\"caption\":\"New in store #spring\",\"timestamp\":"
        "\"2023-11-14T22:14:00+0000\",\"permalink\":\"https://www.instagram.com/p/Cx/\"}]}";
    assert_int_equal(cr_graph_match(igpage, strlen(igpage), &ig, "New in store #spring",
                                    NOW - 3600000, &found),
                     CR_GRAPH_MATCH_FOUND);
    assert_string_equal(found.permalink, "https://www.instagram.com/p/Cx/");
}

/* ---- requests and steps ------------------------------------------------- */

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__PublishPayload pub;
    char *media[2];
} fixture_t;

static void s_fixture(fixture_t *f, const char *platform, const char *handle, const char *body,
                      const char *link)
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
    f->acc.platform = (char *)platform;
    f->acc.handle = (char *)handle;
    f->acc.api_base = "https://graph.facebook.com/v21.0/";
    f->acc.token = "EAAB-T0ken_s3cr3t";
    f->pub.post_id = 42;
    f->pub.body = (char *)body;
    f->pub.link = (char *)link;
}

static const char *s_req_header(const cr_http_req_t *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (strncmp(req->headers[i], name, n) == 0 && req->headers[i][n] == ':')
            return req->headers[i] + n + 2;
    return NULL;
}

static char *s_req_body(const cr_http_req_t *req)
{
    char *b = malloc(req->body_len + 1);
    assert_non_null(b);
    memcpy(b, req->body ? req->body : "", req->body_len);
    b[req->body_len] = '\0';
    return b;
}

static void s_expect_req(const cr_call_t *call, const char *method, const char *url,
                         const char *body)
{
    assert_string_equal(call->req.method, method);
    assert_string_equal(call->req.url, url);
    assert_string_equal(s_req_header(&call->req, "Authorization"), "Bearer EAAB-T0ken_s3cr3t");
    if (body) {
        char *b = s_req_body(&call->req);
        assert_string_equal(b, body);
        free(b);
        assert_string_equal(s_req_header(&call->req, "Content-Type"),
                            "application/x-www-form-urlencoded");
        /* no idempotency: a write never rides a reused connection */
        assert_int_equal(call->req.fresh_connection, 1);
    } else {
        assert_null(call->req.body);
        assert_int_equal(call->req.fresh_connection, 0);
    }
}

static int s_feed_resp(const cr_adapter_t *a, cr_call_t *call, const cr_http_resp_t *resp)
{
    cr_http_req_clear(&call->req);
    call->now_ms = NOW;
    return a->step(call, resp);
}

static int s_feed(const cr_adapter_t *a, cr_call_t *call, long status, const char *headers,
                  const char *body)
{
    cr_http_resp_t resp = s_resp(status, headers, body);
    return s_feed_resp(a, call, &resp);
}

static int s_start(const cr_adapter_t *a, cr_call_t *call, const Crieur__Task *task)
{
    cr_call_init(call, task);
    call->now_ms = NOW;
    return a->step(call, NULL);
}

/* The step after a CR_STEP_WAIT, as the runtime runs it: prev NULL. */
static int s_wake(const cr_adapter_t *a, cr_call_t *call)
{
    cr_http_req_clear(&call->req);
    call->now_ms = NOW;
    return a->step(call, NULL);
}

#define G "https://graph.facebook.com/v21.0"

static void test_task_checks(void **state)
{
    const cr_adapter_t *adapters[] = {&cr_facebook_adapter, &cr_instagram_adapter,
                                      &cr_threads_adapter};
    const char *names[] = {"facebook", "instagram", "threads"};
    for (size_t i = 0; i < 3; i++) {
        assert_ptr_equal(cr_adapters_find(cr_adapters_builtin(), names[i]), adapters[i]);
        assert_string_equal(adapters[i]->platform, names[i]);
        static const struct {
            const char *handle, *token, *base, *reply;
            int kind;
            Crieur__Outcome outcome;
            const char *code;
        } cases[] = {
            {"1001", "", G, "", 0, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "no_token"},
            {"1001", "tok en", G, "", 0, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "no_token"},
            {"", "t", G, "", 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "bad_handle"},
            {"10/01", "t", G, "", 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "bad_handle"},
            {"..", "t", G, "", 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "bad_handle"},
            {"1001", "t", "ftp://x", "", 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "bad_api_base"},
            {"1001", "t", G, "1001/5", 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "bad_reply_to"},
            {"1001", "t", G, "abc", 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "bad_reply_to"},
            {"1001", "t", G, "", 1, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "unsupported_kind"},
        };
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            fixture_t f;
            s_fixture(&f, names[i], cases[k].handle, "Hello", "https://shop.example/a.jpg");
            f.acc.token = (char *)cases[k].token;
            f.acc.api_base = (char *)cases[k].base;
            f.pub.in_reply_to = (char *)cases[k].reply;
            if (cases[k].kind) f.task.kind = CRIEUR__JOB_KIND__KIND_METRICS;
            cr_call_t call;
            assert_int_equal(s_start(adapters[i], &call, &f.task), CR_STEP_DONE);
            if (call.result.outcome != cases[k].outcome)
                fail_msg("%s case %zu: %s", names[i], k, cr_outcome_name(call.result.outcome));
            assert_string_equal(call.result.error_code, cases[k].code);
            assert_null(call.req.url);
            cr_call_clear(&call, adapters[i]);
        }
        /* a payload-less task */
        fixture_t f;
        s_fixture(&f, names[i], "1001", "Hello", "");
        f.task.payload_case = CRIEUR__TASK__PAYLOAD__NOT_SET;
        f.task.publish = NULL;
        cr_call_t call;
        assert_int_equal(s_start(adapters[i], &call, &f.task), CR_STEP_DONE);
        assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        cr_call_clear(&call, adapters[i]);
    }
}

static void test_facebook_publish(void **state)
{
    const cr_adapter_t *a = &cr_facebook_adapter;
    fixture_t f;
    s_fixture(&f, "facebook", "1001", "Spring sale: 20% off & more", "https://shop.example/s?a=1&b=2");
    cr_call_t call;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/1001/feed",
                 "message=Spring%20sale%3A%2020%25%20off%20%26%20more"
                 "&link=https%3A%2F%2Fshop.example%2Fs%3Fa%3D1%26b%3D2");
    assert_int_equal(s_feed(a, &call, 200,
                            "HTTP/1.1 200 OK\r\nX-App-Usage: {\"call_count\":12}\r\n\r\n",
                            "{\"id\":\"1001_5577\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.http_status, 200);
    assert_string_equal(call.result.platform_post_id, "1001_5577");
    assert_string_equal(call.result.url, "https://www.facebook.com/1001_5577");
    assert_null(call.result.error);
    assert_int_equal(call.result.reconciled, 0);
    cr_call_clear(&call, a);

    /* near the limit: still OK, and said */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, BUC("0"), "{\"id\":\"1001_5578\"}"), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.error_code, "usage_high");
    cr_call_clear(&call, a);

    /* without a link: the message only */
    s_fixture(&f, "facebook", "1001", "Hi", "");
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/1001/feed", "message=Hi");
    cr_call_clear(&call, a);

    /* outcomes of the publish request */
    s_fixture(&f, "facebook", "1001", "Hi", "");
    static const struct {
        long status;
        const char *body;
        Crieur__Outcome outcome;
        const char *code;
    } cases[] = {
        {400, NULL, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "duplicate"},
        {400, "{\"error\":{\"message\":\"Error validating access token: Session has expired\","
              "\"code\":190,\"error_subcode\":463}}",
         CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "190/463"},
        {400, "{\"error\":{\"message\":\"(#32) Page request limit reached\",\"code\":32}}",
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "32"},
        {500, "{\"error\":{\"message\":\"An unexpected error\",\"code\":2,\"is_transient\":true}}",
         CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "2"},
        {200, "{\"id\":\"\"}", CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "malformed_success"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
        const char *body = cases[i].body ? cases[i].body : s_err(506, 1455006, 0, "Duplicate status message");
        assert_int_equal(s_feed(a, &call, cases[i].status, NULL, body), CR_STEP_DONE);
        assert_int_equal(call.result.outcome, cases[i].outcome);
        assert_string_equal(call.result.error_code, cases[i].code);
        cr_call_clear(&call, a);
    }
    /* the answer is lost after sending: INDETERMINATE; before: TRANSIENT */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    cr_http_resp_t lost = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    assert_int_equal(s_feed_resp(a, &call, &lost), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(call.result.error_code, "curl:28");
    cr_call_clear(&call, a);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    cr_http_resp_t refused = s_curl(CURLE_COULDNT_CONNECT, 0);
    assert_int_equal(s_feed_resp(a, &call, &refused), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_call_clear(&call, a);
}

#define FB_READBACK G "/1001/posts?fields=id%2Cmessage%2Ccreated_time%2Cpermalink_url&limit=100&since=" SINCE_S

static void test_facebook_reconcile(void **state)
{
    const cr_adapter_t *a = &cr_facebook_adapter;
    fixture_t f;
    s_fixture(&f, "facebook", "1001", "Spring sale", "https://shop.example/s");
    f.task.reconcile = 1;
    cr_call_t call;
    /* found: no POST */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "GET", FB_READBACK, NULL);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"data\":[{\"id\":\"1001_9\",\"message\":\"Spring sale\","
                            "\"created_time\":\"2023-11-14T22:13:21+0000\"}]}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 1);
    assert_string_equal(call.result.platform_post_id, "1001_9");
    assert_string_equal(call.result.url, "https://www.facebook.com/1001_9");
    assert_string_equal(call.result.error, FOUND_DETAIL);
    assert_null(call.req.url);
    cr_call_clear(&call, a);

    /* not found on two pages: publish */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"data\":[{\"id\":\"1001_8\",\"message\":\"Other\"}],\"paging\":"
                            "{\"cursors\":{\"after\":\"QVFI\"},\"next\":\"https://g/next\"}}"),
                     CR_STEP_REQUEST);
    s_expect_req(&call, "GET", FB_READBACK "&after=QVFI", NULL);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"data\":[]}"), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/1001/feed",
                 "message=Spring%20sale&link=https%3A%2F%2Fshop.example%2Fs");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"1001_10\"}"), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 0);
    cr_call_clear(&call, a);

    /* a page that posts too much to check: a human decides */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    int rc = CR_STEP_REQUEST, pages = 0;
    while (rc == CR_STEP_REQUEST && pages < 50) {
        rc = s_feed(a, &call, 200, NULL,
                    "{\"data\":[{\"id\":\"1001_8\",\"message\":\"Other\"}],\"paging\":"
                    "{\"cursors\":{\"after\":\"QVFI\"},\"next\":\"https://g/next\"}}");
        pages++;
    }
    assert_int_equal(rc, CR_STEP_DONE);
    assert_int_equal(pages, 10);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
    assert_string_equal(call.result.error_code, "readback_too_many");
    cr_call_clear(&call, a);

    /* cannot be read back: UNCONFIRMED, never a blind second publish */
    static const struct {
        long status;
        const char *body;
        Crieur__Outcome outcome;
    } cases[] = {
        {403, "{\"error\":{\"message\":\"(#10) Application does not have permission\",\"code\":10}}",
         CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED},
        {400, "{\"error\":{\"message\":\"(#100) Invalid parameter\",\"code\":100}}",
         CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED},
        {400, "{\"error\":{\"message\":\"expired\",\"code\":190,\"error_subcode\":463}}",
         CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED},
        {400, "{\"error\":{\"message\":\"limit\",\"code\":4,\"is_transient\":true}}",
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED},
        {503, "", CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {200, "{\"nodata\":1}", CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
        assert_int_equal(s_feed(a, &call, cases[i].status, NULL, cases[i].body), CR_STEP_DONE);
        assert_int_equal(call.result.outcome, cases[i].outcome);
        assert_null(call.req.url);
        cr_call_clear(&call, a);
    }
    /* the read-back itself times out: retried, still reconciling */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    cr_http_resp_t lost = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    assert_int_equal(s_feed_resp(a, &call, &lost), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_call_clear(&call, a);
}

#define IG_STATUS(id) G "/" id "?fields=status_code,status"

static void test_instagram_publish(void **state)
{
    const cr_adapter_t *a = &cr_instagram_adapter;
    fixture_t f;
    /* a post without media: its link is the image */
    s_fixture(&f, "instagram", "2001", "New in store", "https://img.example/a.jpg");
    cr_call_t call;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/2001/media",
                 "image_url=https%3A%2F%2Fimg.example%2Fa.jpg&caption=New%20in%20store");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"555\"}"), CR_STEP_REQUEST);
    s_expect_req(&call, "GET", IG_STATUS("555"), NULL);
    /* still processing: wait (no request), then read again */
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status_code\":\"IN_PROGRESS\",\"id\":\"555\"}"),
                     CR_STEP_WAIT);
    assert_null(call.req.url);
    assert_int_equal(call.wait_ms, 1000);
    assert_int_equal(s_wake(a, &call), CR_STEP_REQUEST);
    s_expect_req(&call, "GET", IG_STATUS("555"), NULL);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status_code\":\"FINISHED\",\"id\":\"555\"}"),
                     CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/2001/media_publish", "creation_id=555");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"17890\"}"), CR_STEP_REQUEST);
    s_expect_req(&call, "GET", G "/17890?fields=permalink", NULL);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"permalink\":\"https://www.instagram.com/p/Cx1/\",\"id\":\"17890\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.http_status, 200);
    assert_string_equal(call.result.platform_post_id, "17890");
    assert_string_equal(call.result.url, "https://www.instagram.com/p/Cx1/");
    cr_call_clear(&call, a);

    /* a media URL is the image; the link then goes into the caption */
    f.media[0] = "https://img.example/b.jpg";
    f.pub.media = f.media;
    f.pub.n_media = 1;
    f.pub.link = "https://shop.example/s";
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/2001/media",
                 "image_url=https%3A%2F%2Fimg.example%2Fb.jpg"
                 "&caption=New%20in%20store%0A%0Ahttps%3A%2F%2Fshop.example%2Fs");
    cr_call_clear(&call, a);
    /* several media: no carousels here; a local file: URLs only; nothing at
     * all: an image is required */
    f.media[1] = "https://img.example/c.jpg";
    f.pub.n_media = 2;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "too_many_media");
    assert_non_null(strstr(call.result.error, "at most 1"));
    assert_null(call.req.url);
    cr_call_clear(&call, a);
    f.pub.n_media = 1;
    f.media[0] = "/srv/media/a.jpg";
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "media_not_url");
    assert_non_null(strstr(call.result.error, "public URL only"));
    cr_call_clear(&call, a);
    f.media[0] = "ftp://img.example/a.jpg";
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "bad_media");
    cr_call_clear(&call, a);
    f.pub.n_media = 0;
    f.pub.link = "";
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "no_image");
    cr_call_clear(&call, a);

    /* the permalink cannot be read: published all the same, without a URL */
    s_fixture(&f, "instagram", "2001", "New in store", "https://img.example/a.jpg");
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"555\"}"), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status_code\":\"FINISHED\"}"), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"17891\"}"), CR_STEP_REQUEST);
    cr_http_resp_t lost = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    assert_int_equal(s_feed_resp(a, &call, &lost), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "17891");
    assert_null(call.result.url);
    assert_int_equal(call.result.http_status, 200);
    cr_call_clear(&call, a);
}

static void test_instagram_containers(void **state)
{
    const cr_adapter_t *a = &cr_instagram_adapter;
    fixture_t f;
    s_fixture(&f, "instagram", "2001", "New in store", "https://img.example/a.png");
    cr_call_t call;
    static const struct {
        const char *status_body;
        Crieur__Outcome outcome;
        const char *code, *words;
    } cases[] = {
        {"{\"status_code\":\"ERROR\",\"status\":\"Error: Only JPEG images are supported\"}",
         CRIEUR__OUTCOME__OUTCOME_PERMANENT, "container_error", "Only JPEG images are supported"},
        {"{\"status_code\":\"EXPIRED\",\"status\":\"Expired\"}", CRIEUR__OUTCOME__OUTCOME_PERMANENT,
         "container_expired", "expired"},
        {"{\"status_code\":\"PUBLISHED\"}", CRIEUR__OUTCOME__OUTCOME_INDETERMINATE,
         "container_published", "already published"},
        {"{\"status_code\":\"WHAT\"}", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "malformed_status",
         "malformed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
        assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"555\"}"), CR_STEP_REQUEST);
        assert_int_equal(s_feed(a, &call, 200, NULL, cases[i].status_body), CR_STEP_DONE);
        assert_int_equal(call.result.outcome, cases[i].outcome);
        assert_string_equal(call.result.error_code, cases[i].code);
        assert_non_null(strstr(call.result.error, cases[i].words));
        assert_null(call.req.url); /* never media_publish */
        cr_call_clear(&call, a);
    }
    /* still processing after every read (30 by default, 1 s apart): TRANSIENT,
     * nothing published */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"555\"}"), CR_STEP_REQUEST);
    int polls = 0, rc = CR_STEP_REQUEST;
    while (rc == CR_STEP_REQUEST && polls < 100) {
        assert_string_equal(call.req.url, IG_STATUS("555"));
        rc = s_feed(a, &call, 200, NULL, "{\"status_code\":\"IN_PROGRESS\"}");
        polls++;
        if (rc == CR_STEP_WAIT) {
            assert_int_equal(call.wait_ms, 1000);
            rc = s_wake(a, &call);
        }
    }
    assert_int_equal(rc, CR_STEP_DONE);
    assert_int_equal(polls, 30);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(call.result.error_code, "container_not_ready");
    assert_int_equal(call.result.retry_at_ms, NOW + 10000);
    cr_call_clear(&call, a);

    /* failures before media_publish publish nothing: TRANSIENT, whatever was sent */
    for (int k = 0; k < 2; k++) {
        assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
        if (k == 1) assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"555\"}"), CR_STEP_REQUEST);
        cr_http_resp_t lost = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
        assert_int_equal(s_feed_resp(a, &call, &lost), CR_STEP_DONE);
        assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
        cr_call_clear(&call, a);
        assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
        if (k == 1) assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"555\"}"), CR_STEP_REQUEST);
        assert_int_equal(s_feed(a, &call, 500, NULL, s_err(2, 0, 1, "Please retry")), CR_STEP_DONE);
        assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
        cr_call_clear(&call, a);
    }
    /* container refused synchronously: the platform's message */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 400, NULL,
                            s_err(9004, 2207052, 0, "Media download has failed.")),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error, "Media download has failed.");
    assert_string_equal(call.result.error_code, "9004/2207052");
    cr_call_clear(&call, a);

    /* media_publish: lost answer INDETERMINATE, quota RATE_LIMITED, not ready TRANSIENT,
     * expired PERMANENT */
    static const struct {
        long status;
        const char *body;
        Crieur__Outcome outcome;
        const char *code;
    } pub[] = {
        {0, NULL, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "curl:28"},
        {400, "{\"error\":{\"message\":\"(#9) limit\",\"code\":9,\"error_subcode\":2207042}}",
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "9/2207042"},
        {400, "{\"error\":{\"message\":\"Media ID is not available\",\"code\":9007,"
              "\"error_subcode\":2207027}}",
         CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "container_not_ready"},
        {400, "{\"error\":{\"message\":\"The media you are trying to access has expired.\","
              "\"code\":100,\"error_subcode\":2207020}}",
         CRIEUR__OUTCOME__OUTCOME_PERMANENT, "container_expired"},
        {502, "<html/>", CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "502"},
    };
    for (size_t i = 0; i < sizeof pub / sizeof *pub; i++) {
        assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
        assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"555\"}"), CR_STEP_REQUEST);
        assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status_code\":\"FINISHED\"}"),
                         CR_STEP_REQUEST);
        assert_string_equal(call.req.url, G "/2001/media_publish");
        if (pub[i].body) {
            assert_int_equal(s_feed(a, &call, pub[i].status, NULL, pub[i].body), CR_STEP_DONE);
        } else {
            cr_http_resp_t lost = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
            assert_int_equal(s_feed_resp(a, &call, &lost), CR_STEP_DONE);
        }
        if (call.result.outcome != pub[i].outcome)
            fail_msg("publish case %zu: %s", i, cr_outcome_name(call.result.outcome));
        assert_string_equal(call.result.error_code, pub[i].code);
        cr_call_clear(&call, a);
    }
}

#define IG_READBACK G "/2001/media?fields=id%2Ccaption%2Ctimestamp%2Cpermalink&limit=100"

static void test_instagram_reconcile(void **state)
{
    const cr_adapter_t *a = &cr_instagram_adapter;
    fixture_t f;
    s_fixture(&f, "instagram", "2001", "New in store", "https://img.example/a.jpg");
    f.task.reconcile = 1;
    cr_call_t call;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "GET", IG_READBACK, NULL);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"data\":[{\"id\":\"17890\",\"caption\":\"New  in store\","
                            "\"timestamp\":\"2023-11-14T22:13:25+0000\",\"permalink\":"
                            "\"https://www.instagram.com/p/Cx1/\"}]}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 1);
    assert_string_equal(call.result.platform_post_id, "17890");
    assert_string_equal(call.result.url, "https://www.instagram.com/p/Cx1/");
    cr_call_clear(&call, a);

    /* an older post with the same caption is outside the window: publish again */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"data\":[{\"id\":\"17000\",\"caption\":\"New in store\","
                            "\"timestamp\":\"2023-11-14T20:00:00+0000\"}],\"paging\":{\"cursors\":"
                            "{\"after\":\"x\"},\"next\":\"https://g/n\"}}"),
                     CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/2001/media",
                 "image_url=https%3A%2F%2Fimg.example%2Fa.jpg&caption=New%20in%20store");
    cr_call_clear(&call, a);

    /* the worst case fits in the runtime's step limit (steps between waits) */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    int steps = 1, most = 0;
    for (int p = 0; p < 9; p++, steps++)
        assert_int_equal(s_feed(a, &call, 200, NULL,
                                "{\"data\":[{\"id\":\"1\",\"caption\":\"x\"}],\"paging\":"
                                "{\"cursors\":{\"after\":\"c\"},\"next\":\"https://g/n\"}}"),
                         CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"data\":[]}"), CR_STEP_REQUEST);
    steps++;
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"555\"}"), CR_STEP_REQUEST);
    steps++;
    for (int p = 0; p < 29; p++) {
        assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status_code\":\"IN_PROGRESS\"}"),
                         CR_STEP_WAIT);
        steps++;
        if (steps > most) most = steps;
        steps = 0; /* a wait renews the budget */
        assert_int_equal(s_wake(a, &call), CR_STEP_REQUEST);
        steps++;
    }
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status_code\":\"FINISHED\"}"), CR_STEP_REQUEST);
    steps++;
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"17890\"}"), CR_STEP_REQUEST);
    steps++;
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"permalink\":\"https://i/p/1/\"}"),
                     CR_STEP_DONE);
    steps++;
    if (steps > most) most = steps;
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_true(most <= RUNTIME_MAX_STEPS);
    cr_call_clear(&call, a);
}

#define TH "https://graph.threads.net/v1.0"

static void test_threads(void **state)
{
    const cr_adapter_t *a = &cr_threads_adapter;
    fixture_t f;
    s_fixture(&f, "threads", "3001", "Hello Threads", "https://shop.example/t");
    f.acc.api_base = TH;
    cr_call_t call;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", TH "/3001/threads",
                 "media_type=TEXT&text=Hello%20Threads%0A%0Ahttps%3A%2F%2Fshop.example%2Ft");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"900\"}"), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", TH "/3001/threads_publish", "creation_id=900");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"18001\"}"), CR_STEP_REQUEST);
    s_expect_req(&call, "GET", TH "/18001?fields=permalink", NULL);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"permalink\":\"https://www.threads.net/@acme/post/Cx\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "18001");
    assert_string_equal(call.result.url, "https://www.threads.net/@acme/post/Cx");
    cr_call_clear(&call, a);

    /* the link already in the text is not repeated; an image goes as IMAGE */
    s_fixture(&f, "threads", "3001", "See https://shop.example/t", "https://shop.example/t");
    f.acc.api_base = TH;
    f.media[0] = "https://img.example/a.jpg";
    f.pub.media = f.media;
    f.pub.n_media = 1;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", TH "/3001/threads",
                 "media_type=IMAGE&image_url=https%3A%2F%2Fimg.example%2Fa.jpg"
                 "&text=See%20https%3A%2F%2Fshop.example%2Ft");
    cr_call_clear(&call, a);

    /* outcomes: a refused container or a not-ready one publish nothing */
    s_fixture(&f, "threads", "3001", "Hello Threads", "");
    f.acc.api_base = TH;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 400, NULL,
                            s_err(100, 0, 0, "(#100) Param text must be at most 500 characters long.")),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error, "(#100) Param text must be at most 500 characters long.");
    cr_call_clear(&call, a);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"900\"}"), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 400, NULL, s_err(9007, 2207027, 0, "Media ID is not available")),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_call_clear(&call, a);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    cr_http_resp_t lost = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    assert_int_equal(s_feed_resp(a, &call, &lost), CR_STEP_DONE); /* the container's answer */
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_call_clear(&call, a);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"900\"}"), CR_STEP_REQUEST);
    assert_int_equal(s_feed_resp(a, &call, &lost), CR_STEP_DONE); /* threads_publish's */
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_call_clear(&call, a);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"900\"}"), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 400, NULL, s_err(190, 463, 0, "Session has expired")),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_call_clear(&call, a);

    /* reconcile: found, or not (then publish) */
    f.task.reconcile = 1;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "GET",
                 TH "/3001/threads?fields=id%2Ctext%2Ctimestamp%2Cpermalink&limit=100&since=" SINCE_S,
                 NULL);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"data\":[{\"id\":\"18001\",\"text\":\"Hello Threads\","
                            "\"timestamp\":\"2023-11-14T22:13:22+0000\",\"permalink\":"
                            "\"https://www.threads.net/@acme/post/Cx\"}]}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 1);
    assert_string_equal(call.result.url, "https://www.threads.net/@acme/post/Cx");
    cr_call_clear(&call, a);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"data\":[]}"), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", TH "/3001/threads", "media_type=TEXT&text=Hello%20Threads");
    cr_call_clear(&call, a);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 403, NULL, s_err(10, 0, 0, "(#10) No permission")),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED);
    assert_string_equal(call.result.error_code, "readback_forbidden");
    cr_call_clear(&call, a);
}


/* ---- settings ----------------------------------------------------------- */

/* The quota subcodes are unconfirmed: read from {platform}.quota_subcodes. */
static void test_quota_settings(void **state)
{
    (void)state;
    cr_graph_error_t e = {.code = 9, .subcode = 2207099};
    unsetenv("CRIEUR_INSTAGRAM_QUOTA_SUBCODES");
    assert_int_equal(cr_graph_error_class_for(&e, "instagram"), CR_GRAPH_E_REFUSED);
    e.subcode = 2207042; /* the default */
    assert_int_equal(cr_graph_error_class_for(&e, "instagram"), CR_GRAPH_E_THROTTLED);
    assert_int_equal(cr_graph_error_class(&e), CR_GRAPH_E_THROTTLED);
    setenv("CRIEUR_INSTAGRAM_QUOTA_SUBCODES", "2207099, 2207100", 1);
    assert_int_equal(cr_graph_error_class_for(&e, "instagram"), CR_GRAPH_E_REFUSED);
    e.subcode = 2207100;
    assert_int_equal(cr_graph_error_class_for(&e, "instagram"), CR_GRAPH_E_THROTTLED);
    assert_int_equal(cr_graph_error_class_for(&e, "threads"), CR_GRAPH_E_REFUSED);
    /* through a whole answer: RATE_LIMITED with a retry time */
    cr_http_resp_t r = s_resp(400, NULL, s_err(9, 2207100, 0, "(#9) limit"));
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_graph_failure(&r, CR_GRAPH_PUBLISH, "instagram", NOW, &res);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_true(res.retry_at_ms > NOW);
    cr_graph_failure(&r, CR_GRAPH_PUBLISH, "facebook", NOW, &res);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_result_clear(&res);
    unsetenv("CRIEUR_INSTAGRAM_QUOTA_SUBCODES");
}

/* Poll interval and count from settings, clamped; the deadline bounds them. */
static void test_poll_settings(void **state)
{
    (void)state;
    cr_graph_poll_t p;
    cr_graph_poll_settings("instagram", &p);
    assert_int_equal(p.interval_ms, CR_GRAPH_POLL_INTERVAL_MS);
    assert_int_equal(p.max_polls, CR_GRAPH_MAX_POLLS);
    setenv("CRIEUR_INSTAGRAM_POLL_INTERVAL_MS", "1", 1);
    setenv("CRIEUR_INSTAGRAM_MAX_POLLS", "100000", 1);
    cr_graph_poll_settings("instagram", &p);
    assert_int_equal(p.interval_ms, 10);
    assert_int_equal(p.max_polls, 600);
    setenv("CRIEUR_INSTAGRAM_POLL_INTERVAL_MS", "250", 1);
    setenv("CRIEUR_INSTAGRAM_MAX_POLLS", "3", 1);

    const cr_adapter_t *a = &cr_instagram_adapter;
    fixture_t f;
    s_fixture(&f, "instagram", "2001", "New in store", "https://img.example/a.jpg");
    cr_call_t call;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"555\"}"), CR_STEP_REQUEST);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status_code\":\"IN_PROGRESS\"}"),
                         CR_STEP_WAIT);
        assert_int_equal(call.wait_ms, 250);
        assert_int_equal(s_wake(a, &call), CR_STEP_REQUEST);
    }
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status_code\":\"IN_PROGRESS\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(call.result.error_code, "container_not_ready");
    assert_non_null(strstr(call.result.error, "after 3 status checks 250 ms apart"));
    cr_call_clear(&call, a);

    /* the next read would come after the deadline: end now, nothing published */
    f.task.deadline_ms = NOW + 200;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"555\"}"), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status_code\":\"IN_PROGRESS\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(call.result.error_code, "container_not_ready");
    assert_non_null(strstr(call.result.error, "deadline"));
    cr_call_clear(&call, a);
    unsetenv("CRIEUR_INSTAGRAM_POLL_INTERVAL_MS");
    unsetenv("CRIEUR_INSTAGRAM_MAX_POLLS");
}

/* ---- images and replies -------------------------------------------------- */

/* A file with these bytes; its path in path (64 bytes). */
static void s_write_file(char *path, const void *data, size_t len)
{
    snprintf(path, 64, "/tmp/test_graph_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void test_facebook_media(void **state)
{
    (void)state;
    const cr_adapter_t *a = &cr_facebook_adapter;
    fixture_t f;
    cr_call_t call;
    /* a URL: POST /photos url=, the text (with the link) as caption */
    s_fixture(&f, "facebook", "1001", "Spring", "https://shop.example/s");
    f.media[0] = "https://img.example/a.jpg?v=2";
    f.pub.media = f.media;
    f.pub.n_media = 1;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/1001/photos",
                 "url=https%3A%2F%2Fimg.example%2Fa.jpg%3Fv%3D2"
                 "&caption=Spring%0A%0Ahttps%3A%2F%2Fshop.example%2Fs");
    /* the post's id is post_id (id is the photo's) */
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"7788\",\"post_id\":\"1001_7789\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "1001_7789");
    assert_string_equal(call.result.url, "https://www.facebook.com/1001_7789");
    cr_call_clear(&call, a);
    /* no post_id: it may exist, INDETERMINATE */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"7788\"}"), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_call_clear(&call, a);
    /* refused image: the platform's message, PERMANENT */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 400, NULL, s_err(324, 0, 0, "(#324) Requires upload file")),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "324");
    cr_call_clear(&call, a);

    /* a local file: multipart, the bytes as "source" */
    static const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0,
                                         1,    2,    3,    4,    5, 0xFF, 0xD9};
    char path[64];
    s_write_file(path, jpeg, sizeof jpeg);
    f.media[0] = path;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, G "/1001/photos");
    assert_int_equal(call.req.fresh_connection, 1);
    assert_string_equal(s_req_header(&call.req, "Authorization"), "Bearer EAAB-T0ken_s3cr3t");
    const char *ct = s_req_header(&call.req, "Content-Type");
    assert_non_null(ct);
    assert_true(strncmp(ct, "multipart/form-data; boundary=", 30) == 0);
    const char *body = call.req.body;
    size_t blen = call.req.body_len;
    assert_true(blen > sizeof jpeg);
    char *b = s_req_body(&call.req);
    assert_non_null(strstr(b, "name=\"caption\"\r\n\r\nSpring\n\nhttps://shop.example/s\r\n"));
    assert_non_null(strstr(b, "name=\"source\"; filename=\"image.jpg\"\r\nContent-Type: image/jpeg"));
    free(b);
    int found = 0;
    for (size_t i = 0; i + sizeof jpeg <= blen && !found; i++)
        found = memcmp(body + i, jpeg, sizeof jpeg) == 0;
    assert_true(found);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"7790\",\"post_id\":\"1001_7791\"}"),
                     CR_STEP_DONE);
    assert_string_equal(call.result.platform_post_id, "1001_7791");
    cr_call_clear(&call, a);
    /* larger than facebook.photo_max_bytes: PERMANENT, nothing sent */
    setenv("CRIEUR_FACEBOOK_PHOTO_MAX_BYTES", "10", 1);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "media_too_large");
    assert_null(call.req.url);
    cr_call_clear(&call, a);
    unsetenv("CRIEUR_FACEBOOK_PHOTO_MAX_BYTES");
    /* not an image */
    char txt[64];
    s_write_file(txt, "hello, world", 12);
    f.media[0] = txt;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "media_not_image");
    cr_call_clear(&call, a);
    unlink(txt);
    unlink(path);
    /* no such file */
    f.media[0] = "/nonexistent/crieur/a.jpg";
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "media_unreadable");
    cr_call_clear(&call, a);
    /* two images: one photo per post here */
    f.media[0] = "https://img.example/a.jpg";
    f.media[1] = "https://img.example/b.jpg";
    f.pub.n_media = 2;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "too_many_media");
    cr_call_clear(&call, a);
    /* neither a URL nor a path */
    f.pub.n_media = 1;
    f.media[0] = "img.jpg";
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "bad_media");
    cr_call_clear(&call, a);
}

static void test_facebook_reply(void **state)
{
    (void)state;
    const cr_adapter_t *a = &cr_facebook_adapter;
    fixture_t f;
    cr_call_t call;
    s_fixture(&f, "facebook", "1001", "Thanks!", "https://shop.example/s");
    f.pub.in_reply_to = "1001_5577";
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/1001_5577/comments",
                 "message=Thanks%21%0A%0Ahttps%3A%2F%2Fshop.example%2Fs");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"5577_9001\"}"), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "5577_9001");
    assert_null(call.result.url);
    cr_call_clear(&call, a);
    /* the object is gone: Graph's 100, PERMANENT */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 400, NULL, s_err(100, 33, 0, "Unsupported post request.")),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "100/33");
    cr_call_clear(&call, a);
    /* lost answer: INDETERMINATE (a comment is not idempotent either) */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    cr_http_resp_t lost = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    assert_int_equal(s_feed_resp(a, &call, &lost), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_call_clear(&call, a);
    /* reconcile: among the object's comments, newest first */
    f.task.reconcile = 1;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "GET",
                 G "/1001_5577/comments?fields=id%2Cmessage%2Ccreated_time%2Cpermalink_url"
                   "&limit=100&order=reverse_chronological&filter=stream",
                 NULL);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"data\":[{\"id\":\"5577_9001\",\"message\":\"Thanks!\","
                            "\"created_time\":\"2023-11-14T22:13:30+0000\"}]}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 1);
    assert_string_equal(call.result.platform_post_id, "5577_9001");
    cr_call_clear(&call, a);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"data\":[]}"), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, G "/1001_5577/comments");
    cr_call_clear(&call, a);
    /* a reply with an image: text only here */
    f.task.reconcile = 0;
    f.media[0] = "https://img.example/a.jpg";
    f.pub.media = f.media;
    f.pub.n_media = 1;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "unsupported_media");
    cr_call_clear(&call, a);
}

static void test_instagram_reply(void **state)
{
    (void)state;
    const cr_adapter_t *a = &cr_instagram_adapter;
    fixture_t f;
    cr_call_t call;
    /* a comment needs no image */
    s_fixture(&f, "instagram", "2001", "Thanks!", "");
    f.pub.in_reply_to = "17890";
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/17890/comments", "message=Thanks%21");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"17999\"}"), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "17999");
    assert_null(call.result.url);
    cr_call_clear(&call, a);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 400, NULL, s_err(100, 33, 0, "Unsupported post request.")),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_call_clear(&call, a);
    f.task.reconcile = 1;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "GET", G "/17890/comments?fields=id%2Ctext%2Ctimestamp&limit=100", NULL);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"data\":[{\"id\":\"17999\",\"text\":\"Thanks!\","
                            "\"timestamp\":\"2023-11-14T22:13:30+0000\"}]}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.reconciled, 1);
    assert_string_equal(call.result.platform_post_id, "17999");
    cr_call_clear(&call, a);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"data\":[]}"), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", G "/17890/comments", "message=Thanks%21");
    cr_call_clear(&call, a);
    f.task.reconcile = 0;
    f.media[0] = "https://img.example/a.jpg";
    f.pub.media = f.media;
    f.pub.n_media = 1;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "unsupported_media");
    cr_call_clear(&call, a);
}


static void test_threads_image_and_reply(void **state)
{
    (void)state;
    const cr_adapter_t *a = &cr_threads_adapter;
    fixture_t f;
    cr_call_t call;
    s_fixture(&f, "threads", "3001", "Look", "");
    f.acc.api_base = TH;
    f.media[0] = "https://img.example/a.jpg";
    f.pub.media = f.media;
    f.pub.n_media = 1;
    /* an image container is processed first: read, wait, read, publish */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", TH "/3001/threads",
                 "media_type=IMAGE&image_url=https%3A%2F%2Fimg.example%2Fa.jpg&text=Look");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"900\"}"), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, TH "/900?fields=status,error_message");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status\":\"IN_PROGRESS\",\"id\":\"900\"}"),
                     CR_STEP_WAIT);
    assert_int_equal(call.wait_ms, 1000);
    assert_null(call.req.url);
    assert_int_equal(s_wake(a, &call), CR_STEP_REQUEST);
    assert_string_equal(call.req.url, TH "/900?fields=status,error_message");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status\":\"FINISHED\",\"id\":\"900\"}"),
                     CR_STEP_REQUEST);
    s_expect_req(&call, "POST", TH "/3001/threads_publish", "creation_id=900");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"18002\"}"), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"permalink\":\"https://www.threads.net/p/1\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "18002");
    cr_call_clear(&call, a);
    /* processing failed: PERMANENT with the platform's reason, never published */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"900\"}"), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"status\":\"ERROR\",\"error_message\":\"FAILED_DOWNLOADING_VIDEO\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "container_error");
    assert_non_null(strstr(call.result.error, "FAILED_DOWNLOADING_VIDEO"));
    assert_null(call.req.url);
    cr_call_clear(&call, a);
    /* threads.max_polls */
    setenv("CRIEUR_THREADS_MAX_POLLS", "2", 1);
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"900\"}"), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status\":\"IN_PROGRESS\"}"), CR_STEP_WAIT);
    assert_int_equal(s_wake(a, &call), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"status\":\"IN_PROGRESS\"}"), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(call.result.error_code, "container_not_ready");
    cr_call_clear(&call, a);
    unsetenv("CRIEUR_THREADS_MAX_POLLS");
    /* URLs only; one image */
    f.media[0] = "file:///srv/a.jpg";
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "media_not_url");
    cr_call_clear(&call, a);
    f.media[0] = "https://img.example/a.jpg";
    f.media[1] = "https://img.example/b.jpg";
    f.pub.n_media = 2;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "too_many_media");
    cr_call_clear(&call, a);

    /* a reply: reply_to_id on the container */
    s_fixture(&f, "threads", "3001", "Agreed", "");
    f.acc.api_base = TH;
    f.pub.in_reply_to = "18001";
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", TH "/3001/threads",
                 "media_type=TEXT&text=Agreed&reply_to_id=18001");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"901\"}"), CR_STEP_REQUEST);
    s_expect_req(&call, "POST", TH "/3001/threads_publish", "creation_id=901");
    assert_int_equal(s_feed(a, &call, 200, NULL, "{\"id\":\"18003\"}"), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 200, NULL, "{}"), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_string_equal(call.result.platform_post_id, "18003");
    cr_call_clear(&call, a);
    /* unknown thread: refused at the container, nothing published */
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    assert_int_equal(s_feed(a, &call, 400, NULL, s_err(100, 0, 0, "(#100) Invalid parameter")),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_call_clear(&call, a);
    /* reconcile a reply among the thread's replies */
    f.task.reconcile = 1;
    assert_int_equal(s_start(a, &call, &f.task), CR_STEP_REQUEST);
    s_expect_req(&call, "GET", TH "/18001/replies?fields=id%2Ctext%2Ctimestamp%2Cpermalink&limit=100",
                 NULL);
    assert_int_equal(s_feed(a, &call, 200, NULL,
                            "{\"data\":[{\"id\":\"18003\",\"text\":\"Agreed\","
                            "\"timestamp\":\"2023-11-14T22:13:30+0000\"}]}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.reconciled, 1);
    assert_string_equal(call.result.platform_post_id, "18003");
    cr_call_clear(&call, a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_parse),
        cmocka_unit_test(test_error_classes),
        cmocka_unit_test(test_failure_publish),
        cmocka_unit_test(test_failure_throttled),
        cmocka_unit_test(test_failure_not_graph),
        cmocka_unit_test(test_failure_network),
        cmocka_unit_test(test_failure_read),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_container_status),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_task_checks),
        cmocka_unit_test(test_facebook_publish),
        cmocka_unit_test(test_facebook_reconcile),
        cmocka_unit_test(test_instagram_publish),
        cmocka_unit_test(test_instagram_containers),
        cmocka_unit_test(test_instagram_reconcile),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_quota_settings),
        cmocka_unit_test(test_poll_settings),
        cmocka_unit_test(test_facebook_media),
        cmocka_unit_test(test_facebook_reply),
        cmocka_unit_test(test_instagram_reply),
        cmocka_unit_test(test_threads_image_and_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
