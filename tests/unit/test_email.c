/* test_email: the e-mail alert adapter: the RFC 5322 message it builds
 * (headers, encoded-word subjects, quoted-printable body, CRLF, no header
 * injection), the checks of addresses, SMTP URL, login and the email.tls
 * setting, and the classification of canned SMTP outcomes (no network). */
#include "cr_adapter.h"
#include "cr_alert.h"
#include "cr_email.h"
#include "cr_util.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW 1700000000000LL /* Tue, 14 Nov 2023 22:13:20 +0000 */

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__AlertPayload alert;
} alert_t;

static void s_alert(alert_t *t, const char *subject, const char *text)
{
    crieur__task__init(&t->task);
    crieur__account__init(&t->acc);
    crieur__alert_payload__init(&t->alert);
    t->task.job_id = 77;
    t->task.attempt = 2;
    t->task.kind = CRIEUR__JOB_KIND__KIND_ALERT;
    t->task.account = &t->acc;
    t->task.payload_case = CRIEUR__TASK__PAYLOAD_ALERT;
    t->task.alert = &t->alert;
    t->acc.platform = "email";
    t->acc.handle = "ops@example.org";
    t->acc.api_base = "smtp://mail.example.org:587";
    t->acc.token = "";
    t->alert.alert_id = 12;
    t->alert.severity = "warning";
    t->alert.kind = "post_unconfirmed";
    t->alert.subject = (char *)subject;
    t->alert.text = (char *)text;
    t->alert.client = "acme";
    t->alert.post_id = 4242;
    t->alert.mail_from = "crieur@agency.example";
}

static int s_request(alert_t *t, cr_http_req_t *req, cr_result_t *res)
{
    memset(req, 0, sizeof *req);
    memset(res, 0, sizeof *res);
    return cr_email_request(&t->task, NOW, req, res);
}

/* Splits the message at the blank line; checks CRLF everywhere. */
static void s_split(const char *msg, size_t len, char **headers, char **body)
{
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\n') assert_true(i > 0 && msg[i - 1] == '\r');
        if (msg[i] == '\r') assert_true(i + 1 < len && msg[i + 1] == '\n');
        assert_true(msg[i] != '\0');
    }
    const char *sep = strstr(msg, "\r\n\r\n");
    assert_non_null(sep);
    *headers = strndup(msg, (size_t)(sep - msg) + 2);
    *body = strdup(sep + 4);
}

/* 1 if a header line starts with name (at a line start). */
static int s_has_header_line(const char *headers, const char *line_start)
{
    size_t n = strlen(line_start);
    if (strncmp(headers, line_start, n) == 0) return 1;
    for (const char *p = headers; (p = strstr(p, "\r\n")); p += 2)
        if (strncmp(p + 2, line_start, n) == 0) return 1;
    return 0;
}

static int s_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes quoted-printable (CRLF lines, soft breaks) into text with "\n". */
static char *s_qp_decode(const char *qp)
{
    size_t n = strlen(qp), o = 0;
    char *out = malloc(n + 1);
    for (size_t i = 0; i < n;) {
        if (qp[i] == '=' && i + 2 < n && qp[i + 1] == '\r' && qp[i + 2] == '\n') {
            i += 3;
        } else if (qp[i] == '=' && i + 2 < n && s_hex(qp[i + 1]) >= 0 && s_hex(qp[i + 2]) >= 0) {
            out[o++] = (char)(s_hex(qp[i + 1]) * 16 + s_hex(qp[i + 2]));
            i += 3;
        } else if (qp[i] == '\r' && i + 1 < n && qp[i + 1] == '\n') {
            out[o++] = '\n';
            i += 2;
        } else {
            assert_true(qp[i] != '=');
            out[o++] = qp[i++];
        }
    }
    out[o] = '\0';
    return out;
}

static void s_lines_at_most(const char *text, size_t max)
{
    const char *p = text;
    for (;;) {
        const char *e = strstr(p, "\r\n");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > max) fail_msg("line of %zu characters: %.40s...", len, p);
        if (!e) break;
        p = e + 2;
    }
}

/* ---- the message -------------------------------------------------------------- */

static void test_message_headers(void **state)
{
    alert_t t;
    s_alert(&t, "Post 4242: outcome unknown", "X did not answer.\nCheck the account.");
    cr_http_req_t req;
    cr_result_t res;
    assert_int_equal(s_request(&t, &req, &res), 0);
    assert_string_equal(req.method, "SMTP");
    assert_string_equal(req.url, "smtp://mail.example.org:587");
    assert_string_equal(req.mail_from, "crieur@agency.example");
    assert_int_equal(req.n_rcpt, 1);
    assert_string_equal(req.rcpt[0], "ops@example.org");
    assert_null(req.login_user);
    assert_int_equal(req.tls, CR_HTTP_TLS_TRY);
    char *h, *b;
    s_split(req.body, req.body_len, &h, &b);
    assert_true(s_has_header_line(h, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
    assert_true(s_has_header_line(h, "From: Crieur alerts <crieur@agency.example>\r\n"));
    assert_true(s_has_header_line(h, "To: <ops@example.org>\r\n"));
    assert_true(s_has_header_line(h, "Subject: [WARNING] Post 4242: outcome unknown\r\n"));
    assert_true(
        s_has_header_line(h, "Message-ID: <crieur-alert-12-77-2@agency.example>\r\n"));
    assert_true(s_has_header_line(h, "MIME-Version: 1.0\r\n"));
    assert_true(s_has_header_line(h, "Content-Type: text/plain; charset=utf-8\r\n"));
    assert_true(s_has_header_line(h, "Content-Transfer-Encoding: quoted-printable\r\n"));
    assert_true(s_has_header_line(h, "Auto-Submitted: auto-generated\r\n"));
    assert_true(s_has_header_line(h, "X-Crieur-Kind: post_unconfirmed\r\n"));
    char *text = s_qp_decode(b);
    assert_non_null(strstr(text, "X did not answer.\nCheck the account.\n\n-- \n"));
    assert_non_null(strstr(text, "client: acme\n"));
    assert_non_null(strstr(text, "post: 4242\n"));
    assert_non_null(strstr(text, "alert: #12\n"));
    free(text);
    free(h);
    free(b);
    cr_http_req_clear(&req);
}

static void test_header_injection_impossible(void **state)
{
    alert_t t;
    s_alert(&t, "hello\r\nBcc: victim@example.net\r\n\r\nfake body",
            "line\r\n.\r\nMAIL FROM:<x@y>\r\n.\nFrom someone\n");
    t.alert.kind = "x\r\nBcc: a@b.c";
    t.alert.client = "acme\r\nReply-To: evil@example.net";
    cr_http_req_t req;
    cr_result_t res;
    assert_int_equal(s_request(&t, &req, &res), 0);
    char *h, *b;
    s_split(req.body, req.body_len, &h, &b);
    assert_false(s_has_header_line(h, "Bcc:"));
    assert_false(s_has_header_line(h, "Reply-To:"));
    assert_false(s_has_header_line(h, "X-Crieur-Kind:")); /* not a token: left out */
    assert_true(s_has_header_line(h, "Subject: [WARNING] hello Bcc: victim@example.net  fake "
                                     "body\r\n"));
    /* no body line starts with "." or "From " (dot-stuffing, mbox) */
    assert_false(s_has_header_line(b, "."));
    assert_false(s_has_header_line(b, "From "));
    assert_true(b[0] != '.');
    char *text = s_qp_decode(b);
    assert_non_null(strstr(text, "line\n.\nMAIL FROM:<x@y>\n.\nFrom someone\n\n-- \n"));
    free(text);
    free(h);
    free(b);
    cr_http_req_clear(&req);

    /* CR/LF or specials in the addresses: refused, never sent */
    const char *bad_rcpt[] = {"ops@example.org\r\nBcc: x@y.z", "Ops <ops@example.org>",
                              "ops@example.org>", "ops", "@example.org", "ops@", "a..b@example.org",
                              "ops@-example.org", "ops@exa mple.org", "\xc3\xa9@example.org", ""};
    for (size_t i = 0; i < sizeof bad_rcpt / sizeof bad_rcpt[0]; i++) {
        s_alert(&t, "s", "t");
        t.acc.handle = (char *)bad_rcpt[i];
        assert_int_equal(s_request(&t, &req, &res), -1);
        assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        assert_string_equal(res.error_code, "bad_recipient");
        assert_null(strchr(res.error, '\n'));
        assert_null(req.url);
        cr_result_clear(&res);
    }
    s_alert(&t, "s", "t");
    t.alert.mail_from = "crieur@agency.example>\r\nRCPT TO:<x@y.z";
    assert_int_equal(s_request(&t, &req, &res), -1);
    assert_string_equal(res.error_code, "bad_sender");
    assert_null(strchr(res.error, '\n'));
    assert_null(strchr(res.error, '\r'));
    cr_result_clear(&res);
    s_alert(&t, "s", "t");
    t.alert.smtp_user = "user\r\nAUTH";
    assert_int_equal(s_request(&t, &req, &res), -1);
    assert_string_equal(res.error_code, "bad_smtp_login");
    cr_result_clear(&res);
}

static void test_subject_encoded_words(void **state)
{
    alert_t t;
    /* non-ASCII and long: encoded-words, folded, never splitting a character */
    s_alert(&t,
            "Publication échouée pour « Été 2026 » : 🚀 la plateforme a refusé le texte, "
            "réessayez plus tard s'il vous plaît",
            "corps");
    cr_http_req_t req;
    cr_result_t res;
    assert_int_equal(s_request(&t, &req, &res), 0);
    char *h, *b;
    s_split(req.body, req.body_len, &h, &b);
    assert_true(s_has_header_line(h, "Subject: =?UTF-8?B?"));
    s_lines_at_most(h, 78);
    free(h);
    free(b);
    cr_http_req_clear(&req);

    char *s = cr_email_subject("caf\xC3\xA9");
    assert_string_equal(s, "=?UTF-8?B?Y2Fmw6k=?=");
    free(s);
    s = cr_email_subject("plain ascii");
    assert_string_equal(s, "plain ascii");
    free(s);
    s = cr_email_subject("looks =?like?= a word");
    assert_true(strncmp(s, "=?UTF-8?B?", 10) == 0);
    free(s);
    /* 39-byte chunks: a 2-byte character straddling byte 39 goes whole to the next word */
    char buf[64];
    memset(buf, 'a', 38);
    memcpy(buf + 38, "\xC3\xA9z", 4);
    s = cr_email_subject(buf);
    const char *second = strstr(s, "\r\n =?UTF-8?B?");
    assert_non_null(second);
    assert_string_equal(second, "\r\n =?UTF-8?B?w6l6?="); /* "éz" */
    free(s);
}

static void test_non_utf8_text(void **state)
{
    alert_t t;
    s_alert(&t, "bad \xff subject", "bad \xc3\x28 text \xed\xa0\x80 end\x01");
    cr_http_req_t req;
    cr_result_t res;
    assert_int_equal(s_request(&t, &req, &res), 0);
    char *h, *b;
    s_split(req.body, req.body_len, &h, &b);
    for (size_t i = 0; i < strlen(h); i++) assert_true((unsigned char)h[i] < 0x80);
    for (size_t i = 0; i < strlen(b); i++) assert_true((unsigned char)b[i] < 0x80);
    char *text = s_qp_decode(b);
    assert_int_equal(cr_utf8_invalid_at(text, strlen(text)), -1);
    assert_non_null(strstr(text, "bad \xEF\xBF\xBD( text \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD end"));
    free(text);
    free(h);
    free(b);
    cr_http_req_clear(&req);
}

static void test_huge_text_cut_cleanly(void **state)
{
    size_t n = 100000; /* 300 KB of "é " and a trailing marker */
    char *big = malloc(n * 3 + 16);
    for (size_t i = 0; i < n; i++) memcpy(big + i * 3, "\xC3\xA9 ", 3);
    strcpy(big + n * 3, "THE END");
    alert_t t;
    s_alert(&t, "s", big);
    cr_http_req_t req;
    cr_result_t res;
    assert_int_equal(s_request(&t, &req, &res), 0);
    char *h, *b;
    s_split(req.body, req.body_len, &h, &b);
    s_lines_at_most(b, 76);
    char *text = s_qp_decode(b);
    assert_int_equal(cr_utf8_invalid_at(text, strlen(text)), -1);
    assert_null(strstr(text, "THE END"));
    assert_non_null(strstr(text, CR_ALERT_CUT_MARK "\n\n-- \n"));
    const char *sig = strstr(text, "\n\n-- \n");
    assert_true((size_t)(sig - text) <= CR_EMAIL_MAX_TEXT_BYTES);
    free(text);
    free(h);
    free(b);
    cr_http_req_clear(&req);
    free(big);
}

/* ---- checks ------------------------------------------------------------------- */

static void test_smtp_urls(void **state)
{
    const char *good[] = {"smtp://mail.example.org", "smtp://mail.example.org:25",
                          "smtps://mail.example.org:465", "SMTP://127.0.0.1:2525/",
                          "smtp://[::1]:2525", "smtp://mail.example.org:587/crieur.example"};
    const char *bad[] = {"http://mail.example.org", "smtp://", "smtp://user:pw@mail.example.org",
                         "smtp://mail.example.org:0", "smtp://mail.example.org:99999",
                         "smtp://mail.example.org:25?x=1", "smtp://mail example.org",
                         "smtp://mail.example.org:25/a/b", "", "mail.example.org:25"};
    alert_t t;
    cr_http_req_t req;
    cr_result_t res;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        s_alert(&t, "s", "t");
        t.acc.api_base = (char *)good[i];
        if (s_request(&t, &req, &res) != 0) fail_msg("refused %s: %s", good[i], res.error);
        cr_http_req_clear(&req);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_alert(&t, "s", "t");
        t.acc.api_base = (char *)bad[i];
        if (s_request(&t, &req, &res) != -1) fail_msg("accepted %s", bad[i]);
        assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        assert_string_equal(res.error_code, "bad_smtp_url");
        assert_non_null(strstr(res.error, "smtp://host:port"));
        assert_null(strstr(res.error, "pw@")); /* never echoed */
        cr_result_clear(&res);
    }
}

static void test_login_and_tls_setting(void **state)
{
    alert_t t;
    s_alert(&t, "s", "t");
    t.alert.smtp_user = "crieur";
    t.acc.token = "p4ss word";
    cr_http_req_t req;
    cr_result_t res;
    assert_int_equal(s_request(&t, &req, &res), 0);
    assert_string_equal(req.login_user, "crieur");
    assert_string_equal(req.login_password, "p4ss word");
    assert_null(strstr(req.body, "p4ss")); /* never in the message */
    cr_http_req_clear(&req);
    assert_null(req.login_password);

    setenv("CRIEUR_EMAIL_TLS", "all", 1);
    assert_int_equal(s_request(&t, &req, &res), 0);
    assert_int_equal(req.tls, CR_HTTP_TLS_ALL);
    cr_http_req_clear(&req);
    setenv("CRIEUR_EMAIL_TLS", "none", 1);
    assert_int_equal(s_request(&t, &req, &res), 0);
    assert_int_equal(req.tls, CR_HTTP_TLS_NONE);
    cr_http_req_clear(&req);
    setenv("CRIEUR_EMAIL_TLS", "maybe", 1);
    assert_int_equal(s_request(&t, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(res.error_code, "bad_setting");
    assert_non_null(strstr(res.error, "CRIEUR_EMAIL_TLS"));
    cr_result_clear(&res);
    unsetenv("CRIEUR_EMAIL_TLS");
}

/* ---- classification -------------------------------------------------------------- */

static cr_result_t s_classify(int curl_code, long status, const char *replies)
{
    alert_t t;
    s_alert(&t, "s", "t");
    cr_http_resp_t r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.headers = replies ? replies : "";
    r.headers_len = strlen(r.headers);
    r.body = "";
    r.curl_code = curl_code;
    r.error = curl_code ? curl_easy_strerror((CURLcode)curl_code) : "";
    r.sent = 1;
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_email_result(&t.task, &r, &res);
    return res;
}

#define GREETING "220 mail.example.org ESMTP\r\n250-mail.example.org\r\n250 8BITMIME\r\n"

static void test_2xx_ok(void **state)
{
    cr_result_t r = s_classify(0, 250, GREETING "250 OK\r\n354 go\r\n250 OK queued as 1\r\n");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(r.http_status, 250);
    cr_result_clear(&r);
}

static void test_5xx_permanent_with_reply(void **state)
{
    cr_result_t r = s_classify(CURLE_SEND_ERROR, 550,
                               GREETING "250 OK\r\n550 5.1.1 <ops@example.org>: mailbox "
                                        "unavailable\r\n");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "smtp_550");
    assert_non_null(strstr(r.error, "550 5.1.1 <ops@example.org>: mailbox unavailable"));
    assert_non_null(strstr(r.error, "'ops@example.org'"));
    assert_int_equal(r.http_status, 550);
    cr_result_clear(&r);
    /* multi-line reply: the last line is kept */
    r = s_classify(CURLE_WEIRD_SERVER_REPLY, 554,
                   GREETING "554-5.7.1 first line\r\n554 5.7.1 message rejected as spam\r\n");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_non_null(strstr(r.error, "554 5.7.1 message rejected as spam"));
    cr_result_clear(&r);
    /* no reply text seen at all: still permanent, with the code */
    r = s_classify(CURLE_SEND_ERROR, 552, "");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_non_null(strstr(r.error, "552"));
    cr_result_clear(&r);
}

static void test_login_refused_permanent(void **state)
{
    cr_result_t r = s_classify(CURLE_LOGIN_DENIED, 535,
                               GREETING "535 5.7.8 Authentication credentials invalid\r\n");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "smtp_535");
    assert_non_null(strstr(r.error, "SMTP login is wrong"));
    assert_non_null(strstr(r.error, "Authentication credentials invalid"));
    cr_result_clear(&r);
    /* the server offers no usable AUTH: login denied without a 5xx */
    r = s_classify(CURLE_LOGIN_DENIED, 250, GREETING);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_non_null(strstr(r.error, "login"));
    cr_result_clear(&r);
}

static void test_4xx_and_network_transient(void **state)
{
    cr_result_t r = s_classify(CURLE_SEND_ERROR, 451, GREETING "451 4.3.0 try again later\r\n");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(r.error_code, "smtp_451");
    assert_non_null(strstr(r.error, "try again later"));
    cr_result_clear(&r);
    r = s_classify(CURLE_WEIRD_SERVER_REPLY, 421, "421 too busy\r\n");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);
    int codes[] = {CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_COULDNT_RESOLVE_HOST,
                   CURLE_RECV_ERROR, CURLE_SSL_CONNECT_ERROR, CURLE_GOT_NOTHING};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        r = s_classify(codes[i], 0, NULL);
        assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
        assert_non_null(strstr(r.error, "not reached"));
        cr_result_clear(&r);
    }
    /* timeout after DATA: the message may have gone; retried (twice beats never) */
    r = s_classify(CURLE_OPERATION_TIMEDOUT, 354, GREETING "354 go ahead\r\n");
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&r);
    r = s_classify(CURLE_USE_SSL_FAILED, 250, GREETING);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_non_null(strstr(r.error, "STARTTLS"));
    cr_result_clear(&r);
}

static void test_adapter_steps(void **state)
{
    alert_t t;
    s_alert(&t, "s", "t");
    cr_call_t call;
    cr_call_init(&call, &t.task);
    call.now_ms = NOW;
    assert_int_equal(cr_email_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_non_null(call.req.mail_from);
    cr_http_resp_t resp;
    memset(&resp, 0, sizeof resp);
    resp.status = 250;
    resp.headers = resp.body = resp.error = "";
    cr_http_req_clear(&call.req);
    assert_int_equal(cr_email_adapter.step(&call, &resp), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    cr_call_clear(&call, &cr_email_adapter);
    assert_string_equal(cr_email_adapter.platform, "email");
    assert_int_equal(cr_email_adapter.kinds, CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_ALERT));
}

int main(void)
{
    unsetenv("CRIEUR_EMAIL_TLS");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_headers),
        cmocka_unit_test(test_header_injection_impossible),
        cmocka_unit_test(test_subject_encoded_words),
        cmocka_unit_test(test_non_utf8_text),
        cmocka_unit_test(test_huge_text_cut_cleanly),
        cmocka_unit_test(test_smtp_urls),
        cmocka_unit_test(test_login_and_tls_setting),
        cmocka_unit_test(test_2xx_ok),
        cmocka_unit_test(test_5xx_permanent_with_reply),
        cmocka_unit_test(test_login_refused_permanent),
        cmocka_unit_test(test_4xx_and_network_transient),
        cmocka_unit_test(test_adapter_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
