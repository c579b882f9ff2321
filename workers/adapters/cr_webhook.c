#include "cr_webhook.h"

#include "cr_alert.h"
#include "cr_buf.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every webhook-specific constant lives here and in cr_webhook.h. */
#define WEBHOOK_USER_AGENT "crieur/0.1"
#define WEBHOOK_RETRY_MIN_MS 1000LL
#define WEBHOOK_MAX_TEXT_BYTES (64u * 1024u) /* alert text read from the task */
#define WEBHOOK_MAX_PLATFORM_ERROR 200       /* bytes of the platform's error string kept */

static const char *s_str(const char *s)
{
    return s ? s : "";
}

/* ---- text ---------------------------------------------------------------- */

static size_t s_char_len(unsigned char c)
{
    return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

char *cr_webhook_escape(const char *s, size_t max_chars)
{
    size_t n = strlen(s), total = 0;
    for (size_t i = 0; i < n; i += s_char_len((unsigned char)s[i]))
        total += s[i] == '&' ? 5 : (s[i] == '<' || s[i] == '>') ? 4 : 1;
    size_t budget = total <= max_chars ? total : (max_chars ? max_chars - 1 : 0);
    cr_buf_t b;
    cr_buf_init(&b);
    size_t used = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = s_char_len((unsigned char)s[i]);
        if (cl > n - i) cl = n - i;
        const char *piece = s + i;
        size_t pl = cl, pc = 1;
        if (s[i] == '&') piece = "&amp;", pl = 5, pc = 5;
        else if (s[i] == '<') piece = "&lt;", pl = 4, pc = 4;
        else if (s[i] == '>') piece = "&gt;", pl = 4, pc = 4;
        if (used + pc > budget) break;
        cr_buf_add(&b, piece, pl);
        used += pc;
        i += cl;
    }
    if (total > max_chars && max_chars) cr_buf_puts(&b, CR_ALERT_CUT_MARK);
    if (b.failed) {
        cr_buf_release(&b);
        return NULL;
    }
    char *out = strdup(cr_buf_str(&b));
    cr_buf_release(&b);
    return out;
}

/* ---- request ------------------------------------------------------------- */

/* A plain http(s) URL with a host, printable ASCII, not too long. */
static int s_url_ok(const char *u)
{
    size_t n = strlen(u), scheme;
    if (n > CR_WEBHOOK_MAX_URL) return 0;
    if (strncasecmp(u, "https://", 8) == 0) scheme = 8;
    else if (strncasecmp(u, "http://", 7) == 0) scheme = 7;
    else return 0;
    if (n <= scheme || u[scheme] == '/' || u[scheme] == '?' || u[scheme] == '#') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= 0x20 || c >= 0x7f) return 0;
    }
    return 1;
}

static const char *s_emoji(const char *severity)
{
    if (strcmp(severity, "critical") == 0) return ":rotating_light:";
    if (strcmp(severity, "warning") == 0) return ":warning:";
    return ":information_source:";
}

/* The JSON body; NULL out of memory. */
static char *s_body(const Crieur__AlertPayload *a, size_t *len)
{
    const char *sev = cr_alert_severity(a);
    char *subject = cr_alert_clean(a->subject, 1024, 0, 0, NULL);
    char *text = cr_alert_clean(a->text, WEBHOOK_MAX_TEXT_BYTES, 0, 1, NULL);
    char *client = cr_alert_clean(a->client, 256, 0, 0, NULL);
    char *kind = cr_alert_clean(a->kind, 64, 0, 0, NULL);
    char *head_text = NULL, *section = NULL, *fallback = NULL, *context = NULL, *out = NULL;
    json_t *root = NULL;
    cr_buf_t b;
    cr_buf_init(&b);
    if (!subject || !text || !client || !kind) goto out;

    char upper[16];
    snprintf(upper, sizeof upper, "%s", sev);
    for (char *p = upper; *p; p++) *p = (char)(*p - 'a' + 'A');

    /* header: plain text, not parsed by Slack, so not escaped */
    cr_buf_printf(&b, "%s %s: %s", s_emoji(sev), upper, subject[0] ? subject : kind);
    head_text = cr_alert_clean(cr_buf_str(&b), CR_WEBHOOK_HEADER_CHARS * 4,
                               CR_WEBHOOK_HEADER_CHARS, 0, NULL);
    section = cr_webhook_escape(text[0] ? text : subject[0] ? subject : "(no text)",
                                CR_WEBHOOK_SECTION_CHARS);
    cr_buf_reset(&b);
    cr_buf_printf(&b, "[%s] %s", upper, subject[0] ? subject : kind);
    if (text[0]) {
        cr_buf_puts(&b, "\n");
        cr_buf_puts(&b, text);
    }
    fallback = b.failed ? NULL : cr_webhook_escape(cr_buf_str(&b), CR_WEBHOOK_SECTION_CHARS);
    cr_buf_reset(&b);
    cr_buf_printf(&b, "severity: %s", sev);
    if (kind[0]) cr_buf_printf(&b, " | kind: %s", kind);
    if (client[0]) cr_buf_printf(&b, " | client: %s", client);
    if (a->post_id > 0) cr_buf_printf(&b, " | post: %lld", (long long)a->post_id);
    if (a->alert_id > 0) cr_buf_printf(&b, " | alert: #%lld", (long long)a->alert_id);
    context = b.failed ? NULL : cr_webhook_escape(cr_buf_str(&b), CR_WEBHOOK_SECTION_CHARS);
    if (!head_text || !section || !fallback || !context) goto out;

    root = json_pack("{s:s, s:[{s:s, s:{s:s, s:s, s:b}}, {s:s, s:{s:s, s:s}},"
                     " {s:s, s:[{s:s, s:s}]}]}",
                     "text", fallback, "blocks",
                     "type", "header", "text", "type", "plain_text", "text", head_text, "emoji", 1,
                     "type", "section", "text", "type", "mrkdwn", "text", section,
                     "type", "context", "elements", "type", "mrkdwn", "text", context);
    if (!root) goto out;
    size_t bl = json_dumpb(root, NULL, 0, JSON_COMPACT);
    if (bl == 0) goto out;
    out = malloc(bl);
    if (out && json_dumpb(root, out, bl, JSON_COMPACT) != bl) {
        free(out);
        out = NULL;
    }
    if (out) *len = bl;
out:
    json_decref(root);
    cr_buf_release(&b);
    free(subject);
    free(text);
    free(client);
    free(kind);
    free(head_text);
    free(section);
    free(fallback);
    free(context);
    return out;
}

int cr_webhook_request(const Crieur__Task *task, cr_http_req_t *req, cr_result_t *result)
{
    if (cr_alert_check(task, result)) return -1;
    const char *url = s_str(task->account->token);
    if (!s_url_ok(url)) {
        char name[80], msg[400];
        cr_alert_channel_name(task, name, sizeof name);
        snprintf(msg, sizeof msg,
                 "alert channel '%s' has no usable webhook URL (%s): set the channel's URL to "
                 "its Slack-compatible incoming webhook address, https://...",
                 name,
                 !url[0] ? "it is empty"
                 : strlen(url) > CR_WEBHOOK_MAX_URL
                     ? "it is too long"
                     : (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
                         ? "only http(s) URLs are accepted"
                         : "it has no host or contains spaces or control characters");
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, msg, "bad_webhook_url");
    }
    size_t bl = 0;
    char *body = s_body(task->alert, &bl);
    if (!body || cr_http_req_init(req, "POST", url) ||
        cr_http_req_header(req, "User-Agent", WEBHOOK_USER_AGENT) ||
        cr_http_req_body(req, "application/json; charset=utf-8", &body, bl)) {
        free(body);
        cr_http_req_clear(req);
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "out of memory building the request", "internal");
    }
    return 0;
}

/* ---- response ------------------------------------------------------------ */

/* msg with every occurrence of the webhook URL, and of its path (the
 * secret part), replaced by "<webhook>"; malloc'd, NULL out of memory. */
static char *s_redact(const char *msg, const char *url)
{
    const char *secrets[2] = {url, NULL};
    const char *host = strstr(url, "://");
    if (host) secrets[1] = strchr(host + 3, '/');
    cr_buf_t b;
    cr_buf_init(&b);
    cr_buf_puts(&b, msg);
    for (int k = 0; k < 2; k++) {
        const char *sec = secrets[k];
        size_t sl = sec ? strlen(sec) : 0;
        if (sl < 2) continue; /* "/" alone is no secret */
        char *cur = strdup(cr_buf_str(&b));
        if (!cur) {
            cr_buf_release(&b);
            return NULL;
        }
        cr_buf_reset(&b);
        const char *p = cur, *hit;
        while ((hit = strstr(p, sec))) {
            cr_buf_add(&b, p, (size_t)(hit - p));
            cr_buf_puts(&b, "<webhook>");
            p = hit + sl;
        }
        cr_buf_puts(&b, p);
        free(cur);
    }
    char *out = b.failed ? NULL : strdup(cr_buf_str(&b));
    cr_buf_release(&b);
    return out;
}

static void s_set(cr_result_t *r, Crieur__Outcome o, const char *url, const char *error,
                  const char *code)
{
    char *clean = s_redact(error, url);
    cr_result_set(r, o, clean ? clean : "(error text withheld)", code);
    free(clean);
}

/* Retry-After as unix ms: delay-seconds or an HTTP date; clamped. */
static int64_t s_retry_at(const cr_http_resp_t *resp, int64_t now_ms)
{
    char v[64];
    long n = cr_http_header(resp, "Retry-After", v, sizeof v);
    int64_t at = -1;
    if (n > 0 && (size_t)n < sizeof v) {
        int digits = 1;
        for (long i = 0; i < n; i++)
            if (v[i] < '0' || v[i] > '9') digits = 0;
        if (digits) at = n > 7 ? now_ms + CR_WEBHOOK_RETRY_MAX_MS : now_ms + atoll(v) * 1000;
        else {
            time_t t = curl_getdate(v, NULL);
            if (t > 0) at = (int64_t)t * 1000;
        }
    }
    if (at < 0) return now_ms + CR_WEBHOOK_RETRY_DEFAULT_MS;
    if (at < now_ms + WEBHOOK_RETRY_MIN_MS) at = now_ms + WEBHOOK_RETRY_MIN_MS;
    if (at > now_ms + CR_WEBHOOK_RETRY_MAX_MS) at = now_ms + CR_WEBHOOK_RETRY_MAX_MS;
    return at;
}

/* The platform's error string: the body, trimmed, if it is one short line of
 * printable text; else NULL. */
static char *s_platform_error(const cr_http_resp_t *resp)
{
    if (!resp->body || resp->body_len == 0 || resp->body_len > 4096) return NULL;
    char *c = cr_alert_clean(resp->body, WEBHOOK_MAX_PLATFORM_ERROR, 0, 0, NULL);
    if (c && !c[0]) {
        free(c);
        return NULL;
    }
    return c;
}

/* 1 if s is a machine code such as channel_not_found. */
static int s_code_like(const char *s)
{
    if (!s || !*s || strlen(s) > 64) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
    return 1;
}

void cr_webhook_result(const Crieur__Task *task, const cr_http_resp_t *resp, int64_t now_ms,
                       cr_result_t *r)
{
    const char *url = task && task->account ? s_str(task->account->token) : "";
    char buf[1024], code[32], name[80], stext[96];
    cr_result_clear(r);
    cr_alert_channel_name(task, name, sizeof name);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;

    if (resp->too_large) {
        snprintf(buf, sizeof buf, "webhook of channel '%s' answered too much", name);
        s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, url, buf, "too_large");
        return;
    }
    if (resp->curl_code != 0) {
        /* sent or not, retry: a second copy of an alert is acceptable */
        snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        const char *err = resp->error && resp->error[0] ? resp->error
                                                        : curl_easy_strerror(resp->curl_code);
        snprintf(buf, sizeof buf, "webhook of channel '%s' not reached: %s", name, err);
        s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, url, buf, code);
        return;
    }
    long st = resp->status;
    char *perr = s_platform_error(resp);
    cr_status_text(resp, stext, sizeof stext);
    snprintf(code, sizeof code, "%ld", st);
    const char *pcode = s_code_like(perr) ? perr : code;

    if (st >= 200 && st <= 299) {
        if (perr && strcmp(perr, "ok") == 0) {
            r->outcome = CRIEUR__OUTCOME__OUTCOME_OK;
        } else {
            snprintf(buf, sizeof buf,
                     "webhook of channel '%s' answered %s but not \"ok\" (%s): check that the "
                     "channel's URL is a Slack-compatible incoming webhook",
                     name, stext, perr ? perr : "empty body");
            s_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, url, buf, "unexpected_answer");
        }
    } else if (st == 429) {
        snprintf(buf, sizeof buf, "webhook of channel '%s' is rate limited (%s)", name,
                 perr ? perr : stext);
        s_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, url, buf, pcode);
        r->retry_at_ms = s_retry_at(resp, now_ms);
    } else if (st == 408 || (st >= 500 && st <= 599)) {
        snprintf(buf, sizeof buf, "webhook of channel '%s' failed (%s%s%s)", name, stext,
                 perr ? ": " : "", perr ? perr : "");
        s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, url, buf, pcode);
    } else if (st >= 400 && st <= 499) {
        const char *hint = "";
        if (st == 404 || st == 410 || st == 403)
            hint = ": the channel or its webhook is gone or disabled; give the alert channel a "
                   "new webhook URL";
        else if (st == 400)
            hint = ": the message was refused as malformed";
        snprintf(buf, sizeof buf, "webhook of channel '%s' refused the alert (%s%s%s)%s", name,
                 stext, perr ? ": " : "", perr ? perr : "", hint);
        s_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, url, buf, pcode);
    } else if (st >= 300 && st <= 399) {
        snprintf(buf, sizeof buf,
                 "webhook of channel '%s' answered with a redirect (%s): incoming webhooks do "
                 "not redirect; set the channel's URL to the webhook's own address",
                 name, stext);
        s_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, url, buf, code);
    } else {
        snprintf(buf, sizeof buf, "webhook of channel '%s' gave an unexpected answer (%s)", name,
                 stext);
        s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, url, buf, code);
    }
    free(perr);
}

/* ---- adapter --------------------------------------------------------------- */

enum { S_START = 0, S_SENT = 1 };

static int s_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    const Crieur__Task *t = call->task;
    switch (call->step) {
    case S_START:
        if (t->kind != CRIEUR__JOB_KIND__KIND_ALERT)
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "webhook adapter only delivers alerts", "unsupported_kind");
        if (cr_webhook_request(t, &call->req, &call->result)) return CR_STEP_DONE;
        call->step = S_SENT;
        return CR_STEP_REQUEST;
    case S_SENT:
        if (!prev) return -1;
        cr_webhook_result(t, prev, call->now_ms, &call->result);
        return CR_STEP_DONE;
    default:
        return -1;
    }
}

const cr_adapter_t cr_webhook_adapter = {
    .platform = "webhook",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_ALERT),
    .step = s_step,
    .release = NULL,
};
