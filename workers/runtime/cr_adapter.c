#include "cr_adapter.h"

#include "cr_text.h"
#include "cr_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void cr_call_init(cr_call_t *call, const Crieur__Task *task)
{
    memset(call, 0, sizeof *call);
    call->task = task;
}

void cr_call_wake(cr_call_t *call)
{
    if (call && call->wake_fn) call->wake_fn(call->wake_ctx);
}

void cr_result_clear(cr_result_t *r)
{
    free(r->platform_post_id);
    free(r->url);
    free(r->error);
    free(r->error_code);
    cr_secret_free(&r->access_token);
    cr_secret_free(&r->refresh_token);
    for (size_t i = 0; i < r->n_mentions; i++) cr_mention_free(r->mentions[i]);
    free(r->mentions);
    free(r->cursor);
    memset(r, 0, sizeof *r);
}

static void s_pb_str_free(char **s)
{
    if (*s && *s != protobuf_c_empty_string) free(*s);
    *s = NULL;
}

void cr_mention_free(Crieur__Mention *m)
{
    if (!m) return;
    char **strs[] = {&m->id,   &m->kind, &m->parent,   &m->author, &m->author_name,
                     &m->text, &m->url,  &m->lang,     &m->polarity, &m->team,
                     &m->rule};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) s_pb_str_free(strs[i]);
    for (size_t i = 0; i < m->n_labels; i++) s_pb_str_free(&m->labels[i]);
    free(m->labels);
    free(m);
}

void cr_secret_free(char **s)
{
    if (!s || !*s) return;
    explicit_bzero(*s, strlen(*s));
    free(*s);
    *s = NULL;
}

void cr_result_set(cr_result_t *r, Crieur__Outcome outcome, const char *error, const char *code)
{
    r->outcome = outcome;
    if (error) cr_result_field(&r->error, error, strlen(error), CR_ERROR_MAX_BYTES);
    if (code) cr_result_field(&r->error_code, code, strlen(code), CR_FIELD_MAX_BYTES);
}

int cr_result_fail(cr_result_t *r, Crieur__Outcome outcome, const char *error, const char *code)
{
    cr_result_clear(r);
    cr_result_set(r, outcome, error, code);
    return -1;
}

void cr_call_clear(cr_call_t *call, const cr_adapter_t *adapter)
{
    if (adapter && adapter->release && call->state) adapter->release(call);
    call->state = NULL;
    cr_http_req_clear(&call->req);
    cr_result_clear(&call->result);
}

char *cr_text_clean(const char *s, size_t len, size_t max)
{
    if (!s) len = 0;
    size_t cap = len < max ? len : max;
    char *out = malloc(cap + 1);
    if (!out) return NULL;
    size_t o = 0, i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (o + 1 > max) break;
            out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
            i++;
            continue;
        }
        /* Length of the sequence if valid, from the shared validator. */
        size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (want > len - i) want = len - i;
        if (want > 1 && cr_utf8_invalid_at(s + i, want) < 0) {
            if (o + want > max) break;
            memcpy(out + o, s + i, want);
            o += want;
            i += want;
        } else {
            if (o + 1 > max) break;
            out[o++] = '?';
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

int cr_result_field(char **field, const char *text, size_t len, size_t max)
{
    free(*field);
    *field = NULL;
    if (!text || len == 0) return 0;
    *field = cr_text_clean(text, len, max);
    return *field ? 0 : -1;
}

int cr_call_done(cr_call_t *call, Crieur__Outcome outcome, int http_status, const char *error,
                 const char *error_code)
{
    cr_result_t *r = &call->result;
    r->outcome = outcome;
    r->http_status = http_status;
    if (error && cr_result_field(&r->error, error, strlen(error), CR_ERROR_MAX_BYTES)) return -1;
    if (error_code &&
        cr_result_field(&r->error_code, error_code, strlen(error_code), CR_FIELD_MAX_BYTES))
        return -1;
    return CR_STEP_DONE;
}

const char *cr_outcome_name(Crieur__Outcome o)
{
    switch (o) {
    case CRIEUR__OUTCOME__OUTCOME_OK: return "ok";
    case CRIEUR__OUTCOME__OUTCOME_TRANSIENT: return "transient";
    case CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED: return "rate_limited";
    case CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED: return "auth_expired";
    case CRIEUR__OUTCOME__OUTCOME_PERMANENT: return "permanent";
    case CRIEUR__OUTCOME__OUTCOME_CANCELLED: return "cancelled";
    case CRIEUR__OUTCOME__OUTCOME_INDETERMINATE: return "indeterminate";
    case CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED: return "unconfirmed";
    default: return "unknown";
    }
}

char *cr_api_url(const char *base, const char *path, size_t max)
{
    if (!base || !path) return NULL;
    size_t n = strlen(base);
    if (strncasecmp(base, "https://", 8) != 0 && strncasecmp(base, "http://", 7) != 0) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)base[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#') return NULL;
    }
    while (n > 0 && base[n - 1] == '/') n--;
    size_t scheme = base[4] == 's' || base[4] == 'S' ? 8 : 7;
    if (n <= scheme || n > max) return NULL; /* no host */
    size_t pl = strlen(path);
    char *url = malloc(n + pl + 1);
    if (!url) return NULL;
    memcpy(url, base, n);
    memcpy(url + n, path, pl + 1);
    return url;
}

void cr_status_text(const cr_http_resp_t *resp, char *buf, size_t len)
{
    const char *reason = NULL;
    size_t rl = 0;
    if (resp->headers && resp->headers_len > 5 && memcmp(resp->headers, "HTTP/", 5) == 0) {
        const char *end = resp->headers + resp->headers_len;
        const char *eol = memchr(resp->headers, '\n', resp->headers_len);
        if (!eol) eol = end;
        const char *sp = memchr(resp->headers, ' ', (size_t)(eol - resp->headers));
        if (sp) sp = memchr(sp + 1, ' ', (size_t)(eol - sp - 1));
        if (sp) {
            reason = sp + 1;
            rl = (size_t)(eol - reason);
            while (rl > 0 && (reason[rl - 1] == '\r' || reason[rl - 1] == ' ')) rl--;
        }
    }
    if (rl > 64) rl = 64;
    char *clean = rl ? cr_text_clean(reason, rl, 64) : NULL;
    if (clean && clean[0]) snprintf(buf, len, "HTTP %ld %s", resp->status, clean);
    else snprintf(buf, len, "HTTP %ld", resp->status);
    free(clean);
}

int cr_task_check_publish(const Crieur__Task *task, size_t max_token, cr_result_t *r)
{
    const Crieur__Account *acc = task ? task->account : NULL;
    if (!acc || task->payload_case != CRIEUR__TASK__PAYLOAD_PUBLISH || !task->publish)
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "publish task without account or payload", "bad_task");
    if (!cr_text_token_ok(acc->token ? acc->token : "", max_token))
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED,
                              "account has no usable access token", "no_token");
    return 0;
}
