#include "cr_email.h"

#include "cr_alert.h"
#include "cr_buf.h"
#include "cr_settings.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Every e-mail constant lives here and in cr_email.h. */
#define EMAIL_FROM_NAME "Crieur alerts"
#define EMAIL_MAX_ADDR 254
#define EMAIL_MAX_URL 512
#define EMAIL_QP_LINE 76         /* RFC 2045: encoded lines at most 76 characters */
#define EMAIL_WORD_RAW_BYTES 39  /* bytes of text per encoded-word: 52 base64 characters */
#define EMAIL_MAX_REPLY 300      /* bytes of the server's reply kept in an error */

static const char *s_str(const char *s)
{
    return s ? s : "";
}

/* ---- addresses and URLs -------------------------------------------------- */

static int s_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int s_domain_ok(const char *d, size_t n)
{
    if (n == 0 || n > 253) return 0;
    if (d[0] == '[') { /* address literal: [192.0.2.1] or [IPv6:...] */
        if (n < 3 || d[n - 1] != ']') return 0;
        for (size_t i = 1; i + 1 < n; i++) {
            unsigned char c = (unsigned char)d[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == '.' || c == ':' || (c >= 'G' && c <= 'Z') || (c >= 'g' && c <= 'z')))
                return 0;
        }
        return 1;
    }
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (label == 0 || d[i - 1] == '-') return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return 0;
        if (label == 0 && c == '-') return 0;
        if (++label > 63) return 0;
    }
    return label > 0 && d[n - 1] != '-';
}

int cr_email_address_ok(const char *a)
{
    if (!a) return 0;
    size_t n = strlen(a);
    if (n < 3 || n > EMAIL_MAX_ADDR) return 0;
    const char *at = strrchr(a, '@');
    if (!at || at == a) return 0;
    size_t ll = (size_t)(at - a);
    if (ll > 64 || a[0] == '.' || a[ll - 1] == '.') return 0;
    for (size_t i = 0; i < ll; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c == '.') {
            if (a[i + 1] == '.') return 0;
        } else if (!s_atext(c)) {
            return 0;
        }
    }
    return s_domain_ok(at + 1, n - ll - 1);
}

/* smtp[s]://host[:port][/[ehlo-domain]], nothing else (no user info, query
 * or fragment): the password travels apart. */
static int s_smtp_url_ok(const char *u)
{
    size_t n = strlen(u), i;
    if (n > EMAIL_MAX_URL) return 0;
    if (strncasecmp(u, "smtps://", 8) == 0) i = 8;
    else if (strncasecmp(u, "smtp://", 7) == 0) i = 7;
    else return 0;
    size_t host = i;
    if (u[i] == '[') {
        while (i < n && u[i] != ']') i++;
        if (i == n) return 0;
        if (!s_domain_ok(u + host, i + 1 - host)) return 0;
        i++;
    } else {
        while (i < n && u[i] != ':' && u[i] != '/') i++;
        if (!s_domain_ok(u + host, i - host)) return 0;
    }
    if (i < n && u[i] == ':') {
        size_t p = ++i;
        long port = 0;
        while (i < n && u[i] >= '0' && u[i] <= '9' && i - p < 6) port = port * 10 + (u[i++] - '0');
        if (i == p || port < 1 || port > 65535) return 0;
    }
    if (i < n && u[i] == '/') {
        i++;
        if (i < n && !s_domain_ok(u + i, n - i)) return 0;
        return 1;
    }
    return i == n;
}

/* ---- message ---------------------------------------------------------------- */

static void s_base64(cr_buf_t *b, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n) v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n) v |= p[i + 2];
        char out[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63],
                       i + 1 < n ? tab[(v >> 6) & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
        cr_buf_add(b, out, 4);
    }
}

char *cr_email_subject(const char *text)
{
    size_t n = strlen(text);
    int plain = strstr(text, "=?") == NULL;
    for (size_t i = 0; i < n && plain; i++)
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] >= 0x7f) plain = 0;
    if (plain) return strdup(text);
    cr_buf_t b;
    cr_buf_init(&b);
    for (size_t i = 0; i < n;) {
        size_t end = i + EMAIL_WORD_RAW_BYTES < n ? i + EMAIL_WORD_RAW_BYTES : n;
        /* never split a character: back up to its first byte */
        while (end > i && end < n && ((unsigned char)text[end] & 0xC0) == 0x80) end--;
        if (end == i) end = i + 1; /* cannot happen with valid UTF-8 */
        if (i) cr_buf_puts(&b, "\r\n ");
        cr_buf_puts(&b, "=?UTF-8?B?");
        s_base64(&b, (const unsigned char *)text + i, end - i);
        cr_buf_puts(&b, "?=");
        i = end;
    }
    char *out = b.failed ? NULL : strdup(cr_buf_str(&b));
    cr_buf_release(&b);
    return out;
}

/* Appends one line of text (no line breaks) quoted-printable, with soft
 * breaks so that no encoded line exceeds EMAIL_QP_LINE, then CRLF. */
static void s_qp_line(cr_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char enc[4];
        size_t el;
        int last = i + 1 == n;
        int literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
        /* a line starting with "." or "From " survives any relay */
        if (col == 0 && (c == '.' || (c == 'F' && n - i >= 5 && memcmp(s + i, "From ", 5) == 0)))
            literal = 0;
        if (literal) {
            enc[0] = (char)c;
            el = 1;
        } else {
            enc[0] = '=';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 15];
            el = 3;
        }
        /* room for the soft break "=" unless this is the line's end */
        if (col + el > EMAIL_QP_LINE - (last ? 0 : 1)) {
            cr_buf_puts(b, "=\r\n");
            col = 0;
            if (c == '.' && literal) { /* now at a line start */
                cr_buf_puts(b, "=2E");
                col = 3;
                continue;
            }
        }
        cr_buf_add(b, enc, el);
        col += el;
    }
    cr_buf_puts(b, "\r\n");
}

static void s_qp(cr_buf_t *b, const char *text)
{
    const char *p = text;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        s_qp_line(b, p, len);
        if (!nl) break;
        p = nl + 1;
    }
}

static void s_date(cr_buf_t *b, int64_t now_ms)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
    cr_buf_printf(b, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
                  months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* kind as a header token ([a-z0-9_-]), or "" */
static void s_token(const char *s, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-') ||
            o + 1 >= len) {
            out[0] = '\0';
            return;
        }
        out[o++] = c;
    }
    out[o] = '\0';
}

char *cr_email_message(const Crieur__Task *task, int64_t now_ms, size_t *len)
{
    const Crieur__AlertPayload *a = task->alert;
    const char *from = s_str(a->mail_from), *to = s_str(task->account->handle);
    const char *sev = cr_alert_severity(a);
    char *subject = cr_alert_clean(a->subject, CR_EMAIL_MAX_SUBJECT_BYTES, 0, 0, NULL);
    char *text = cr_alert_clean(a->text, CR_EMAIL_MAX_TEXT_BYTES, 0, 1, NULL);
    char *client = cr_alert_clean(a->client, 256, 0, 0, NULL);
    char *line = NULL, *enc = NULL, *out = NULL;
    char kind[65], upper[16];
    cr_buf_t b, body;
    cr_buf_init(&b);
    cr_buf_init(&body);
    if (!subject || !text || !client) goto out;
    s_token(s_str(a->kind), kind, sizeof kind);
    snprintf(upper, sizeof upper, "%s", sev);
    for (char *p = upper; *p; p++) *p = (char)(*p - 'a' + 'A');

    cr_buf_printf(&body, "[%s] %s", upper, subject[0] ? subject : kind[0] ? kind : "alert");
    line = b.failed || body.failed ? NULL : strdup(cr_buf_str(&body));
    cr_buf_reset(&body);
    enc = line ? cr_email_subject(line) : NULL;
    if (!enc) goto out;

    const char *at = strrchr(from, '@');
    const char *domain = at && at[1] ? at + 1 : "crieur.invalid";
    cr_buf_puts(&b, "Date: ");
    s_date(&b, now_ms);
    cr_buf_printf(&b, "\r\nFrom: " EMAIL_FROM_NAME " <%s>\r\n", from);
    cr_buf_printf(&b, "To: <%s>\r\n", to);
    cr_buf_printf(&b, "Subject: %s\r\n", enc);
    cr_buf_printf(&b, "Message-ID: <crieur-alert-%lld-%lld-%u@%s>\r\n", (long long)a->alert_id,
                  (long long)task->job_id, task->attempt, domain);
    cr_buf_puts(&b, "MIME-Version: 1.0\r\n");
    cr_buf_puts(&b, "Content-Type: text/plain; charset=utf-8\r\n");
    cr_buf_puts(&b, "Content-Transfer-Encoding: quoted-printable\r\n");
    cr_buf_puts(&b, "Auto-Submitted: auto-generated\r\n");
    cr_buf_printf(&b, "X-Crieur-Alert: %lld\r\n", (long long)a->alert_id);
    cr_buf_printf(&b, "X-Crieur-Severity: %s\r\n", sev);
    if (kind[0]) cr_buf_printf(&b, "X-Crieur-Kind: %s\r\n", kind);
    cr_buf_puts(&b, "\r\n");

    cr_buf_puts(&body, text[0] ? text : subject);
    cr_buf_puts(&body, "\n\n-- \n");
    cr_buf_printf(&body, "severity: %s\n", sev);
    if (kind[0]) cr_buf_printf(&body, "kind: %s\n", kind);
    if (client[0]) cr_buf_printf(&body, "client: %s\n", client);
    if (a->post_id > 0) cr_buf_printf(&body, "post: %lld\n", (long long)a->post_id);
    cr_buf_printf(&body, "alert: #%lld\n", (long long)a->alert_id);
    cr_buf_puts(&body, "sent by Crieur");
    if (body.failed) goto out;
    s_qp(&b, cr_buf_str(&body));
    if (b.failed) goto out;
    out = malloc(b.len + 1);
    if (out) {
        memcpy(out, b.data, b.len + 1);
        *len = b.len;
    }
out:
    cr_buf_release(&b);
    cr_buf_release(&body);
    free(subject);
    free(text);
    free(client);
    free(line);
    free(enc);
    return out;
}

/* ---- request ------------------------------------------------------------------ */

static int s_ctl_free(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

int cr_email_request(const Crieur__Task *task, int64_t now_ms, cr_http_req_t *req,
                     cr_result_t *result)
{
    char name[80], msg[CR_ERROR_MAX_BYTES + 1];
    if (cr_alert_check(task, result)) return -1;
    const Crieur__Account *acc = task->account;
    const Crieur__AlertPayload *a = task->alert;
    cr_alert_channel_name(task, name, sizeof name);
    if (!cr_email_address_ok(s_str(acc->handle))) {
        snprintf(msg, sizeof msg,
                 "alert channel '%s' is not a usable e-mail address: set it to local@domain "
                 "(ASCII, no display name)",
                 name);
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, msg, "bad_recipient");
    }
    if (!cr_email_address_ok(s_str(a->mail_from))) {
        char *from = cr_alert_clean(a->mail_from, 80, 0, 0, NULL);
        snprintf(msg, sizeof msg,
                 "alert channel '%s': the sender address '%s' is not usable: set the alerts' "
                 "sender (mail_from) to local@domain",
                 name, from ? from : "?");
        free(from);
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, msg, "bad_sender");
    }
    if (!s_smtp_url_ok(s_str(acc->api_base))) {
        snprintf(msg, sizeof msg,
                 "alert channel '%s' has no usable SMTP server: set it to smtp://host:port "
                 "(STARTTLS) or smtps://host:port (TLS), without user, password or path",
                 name);
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, msg, "bad_smtp_url");
    }
    const char *user = s_str(a->smtp_user), *password = s_str(acc->token);
    if (user[0] && (!s_ctl_free(user) || !s_ctl_free(password) || strlen(user) > 256 ||
                    strlen(password) > 1024)) {
        snprintf(msg, sizeof msg,
                 "alert channel '%s': the SMTP user or password is too long or contains control "
                 "characters: set the channel's SMTP login again",
                 name);
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, msg, "bad_smtp_login");
    }
    const char *tls_s = cr_setting("email", "tls", "try");
    cr_http_tls_t tls;
    if (strcmp(tls_s, "try") == 0) tls = CR_HTTP_TLS_TRY;
    else if (strcmp(tls_s, "all") == 0) tls = CR_HTTP_TLS_ALL;
    else if (strcmp(tls_s, "none") == 0) tls = CR_HTTP_TLS_NONE;
    else
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "setting email.tls (CRIEUR_EMAIL_TLS) must be try, all or none: "
                              "fix the worker's settings",
                              "bad_setting");
    size_t len = 0;
    char *message = cr_email_message(task, now_ms, &len);
    if (!message || cr_http_req_smtp(req, acc->api_base, a->mail_from, acc->handle, tls) ||
        cr_http_req_body(req, NULL, &message, len) ||
        (user[0] && cr_http_req_login(req, user, password))) {
        free(message);
        cr_http_req_clear(req);
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "out of memory building the message", "internal");
    }
    return 0;
}

/* ---- response ----------------------------------------------------------------- */

/* The text of the server's last reply with code `code` ("5.1.1 mailbox
 * unavailable"), cleaned, into buf; "" if none was seen. */
static void s_reply_text(const cr_http_resp_t *resp, long code, char *buf, size_t len)
{
    char want[8];
    buf[0] = '\0';
    if (!resp->headers || code < 100 || code > 999) return;
    snprintf(want, sizeof want, "%ld", code);
    const char *p = resp->headers, *end = resp->headers + resp->headers_len, *hit = NULL,
               *hit_end = NULL;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if (le - p >= 3 && memcmp(p, want, 3) == 0 && (le - p == 3 || p[3] == ' ' || p[3] == '-' ||
                                                       p[3] == '\r')) {
            hit = p + (le - p > 3 ? 4 : 3);
            hit_end = le;
        }
        p = le + 1;
    }
    if (!hit || hit >= hit_end) return;
    size_t n = (size_t)(hit_end - hit);
    if (n > EMAIL_MAX_REPLY) n = EMAIL_MAX_REPLY;
    char *c = cr_text_clean(hit, n, EMAIL_MAX_REPLY);
    if (c) {
        size_t cl = strlen(c);
        while (cl && c[cl - 1] == ' ') c[--cl] = '\0';
        snprintf(buf, len, "%s", c);
    }
    free(c);
}

void cr_email_result(const Crieur__Task *task, const cr_http_resp_t *resp, cr_result_t *r)
{
    char name[80], buf[1024], code[32], reply[EMAIL_MAX_REPLY + 1];
    cr_result_clear(r);
    cr_alert_channel_name(task, name, sizeof name);
    long st = resp->status;
    r->http_status = st > 0 && st < 1000 ? (int)st : 0;
    s_reply_text(resp, st, reply, sizeof reply);
    const char *err = resp->curl_code && resp->error && resp->error[0]
                          ? resp->error
                          : curl_easy_strerror((CURLcode)resp->curl_code);

    if (resp->curl_code == 0 && st >= 200 && st <= 299) {
        r->outcome = CRIEUR__OUTCOME__OUTCOME_OK;
        return;
    }
    if (resp->curl_code == CURLE_LOGIN_DENIED || st == 535 || st == 534 || st == 530) {
        snprintf(code, sizeof code, "smtp_%ld", st >= 500 ? st : 535L);
        if (st >= 500)
            snprintf(buf, sizeof buf,
                     "SMTP server refused the login of alert channel '%s' (%ld%s%s): the "
                     "channel's SMTP login is wrong; set its SMTP user and password again",
                     name, st, reply[0] ? " " : "", reply);
        else
            snprintf(buf, sizeof buf,
                     "SMTP login of alert channel '%s' failed (%s): the server offers no login "
                     "this worker can use (often: it only offers AUTH over TLS); check the "
                     "channel's SMTP server and login",
                     name, err);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
        return;
    }
    if (st >= 500 && st <= 599) {
        snprintf(code, sizeof code, "smtp_%ld", st);
        snprintf(buf, sizeof buf, "SMTP server refused the alert for channel '%s': %ld%s%s", name,
                 st, reply[0] ? " " : "", reply);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
        return;
    }
    if (st >= 400 && st <= 499) {
        snprintf(code, sizeof code, "smtp_%ld", st);
        snprintf(buf, sizeof buf,
                 "SMTP server deferred the alert for channel '%s': %ld%s%s (will retry)", name, st,
                 reply[0] ? " " : "", reply);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        return;
    }
    /* connection, TLS, timeout, or a transfer that ended without a 2xx */
    if (resp->curl_code == CURLE_USE_SSL_FAILED)
        snprintf(buf, sizeof buf,
                 "SMTP server of alert channel '%s' does not offer STARTTLS, which setting "
                 "email.tls = all requires (%s)",
                 name, err);
    else
        snprintf(buf, sizeof buf, "SMTP server of alert channel '%s' not reached: %s", name,
                 resp->curl_code ? err : "the transfer ended without an answer");
    snprintf(code, sizeof code, "curl:%d", resp->curl_code);
    cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
}

/* ---- adapter -------------------------------------------------------------------- */

enum { S_START = 0, S_SENT = 1 };

static int s_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    const Crieur__Task *t = call->task;
    switch (call->step) {
    case S_START:
        if (t->kind != CRIEUR__JOB_KIND__KIND_ALERT)
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "email adapter only delivers alerts", "unsupported_kind");
        if (cr_email_request(t, call->now_ms, &call->req, &call->result)) return CR_STEP_DONE;
        call->step = S_SENT;
        return CR_STEP_REQUEST;
    case S_SENT:
        if (!prev) return -1;
        cr_email_result(t, prev, &call->result);
        return CR_STEP_DONE;
    default:
        return -1;
    }
}

const cr_adapter_t cr_email_adapter = {
    .platform = "email",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_ALERT),
    .step = s_step,
    .release = NULL,
};
