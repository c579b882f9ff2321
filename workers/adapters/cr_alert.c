#include "cr_alert.h"

#include "cr_buf.h"
#include "cr_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

static int s_is_cont(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

char *cr_alert_clean(const char *s, size_t max_bytes, size_t max_chars, int multiline,
                     size_t *len)
{
    cr_buf_t b;
    cr_buf_init(&b);
    size_t n = s ? strlen(s) : 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (c == '\r' || c == '\n') {
                cr_buf_add(&b, multiline ? "\n" : " ", 1);
                i += (c == '\r' && i + 1 < n && s[i + 1] == '\n') ? 2 : 1;
                continue;
            }
            if (c == '\t') cr_buf_add(&b, multiline ? "\t" : " ", 1);
            else if (c < 0x20 || c == 0x7f) cr_buf_add(&b, " ", 1);
            else cr_buf_add(&b, (const char *)&s[i], 1);
            i++;
            continue;
        }
        size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (want > 1 && want <= n - i && cr_utf8_invalid_at(s + i, want) < 0) {
            /* C1 controls (U+0080..U+009F) are invisible and dangerous in headers */
            if (c == 0xC2 && (unsigned char)s[i + 1] < 0xA0) cr_buf_add(&b, " ", 1);
            else cr_buf_add(&b, s + i, want);
            i += want;
        } else {
            cr_buf_add(&b, REPLACEMENT, 3);
            i++;
        }
    }
    if (b.failed) {
        cr_buf_release(&b);
        return NULL;
    }
    const char *t = cr_buf_str(&b);
    size_t start = 0, end = b.len;
    while (start < end && (t[start] == ' ' || t[start] == '\n' || t[start] == '\t')) start++;
    while (end > start && (t[end - 1] == ' ' || t[end - 1] == '\n' || t[end - 1] == '\t')) end--;

    /* Fits? Count code points while finding the last boundary that leaves
     * room for the cut mark. */
    const size_t mark_len = sizeof CR_ALERT_CUT_MARK - 1;
    size_t chars = 0, keep = start, fits = 1;
    for (size_t i = start; i < end; i++) {
        if (s_is_cont((unsigned char)t[i])) continue;
        /* a character starts at i: everything before it is whole */
        if (i - start + mark_len <= max_bytes && (max_chars == 0 || chars + 1 <= max_chars))
            keep = i;
        chars++;
        if (max_chars && chars > max_chars) fits = 0;
    }
    if (end - start > max_bytes) fits = 0;
    size_t out_len;
    char *out;
    if (fits) {
        out_len = end - start;
        out = malloc(out_len + 1);
        if (out) memcpy(out, t + start, out_len);
    } else {
        if (max_bytes < mark_len || (max_chars && max_chars < 1)) keep = start;
        /* drop whitespace before the mark */
        while (keep > start && (t[keep - 1] == ' ' || t[keep - 1] == '\n' || t[keep - 1] == '\t'))
            keep--;
        size_t body = keep - start;
        int with_mark = max_bytes >= mark_len && (max_chars == 0 || max_chars >= 1);
        out_len = body + (with_mark ? mark_len : 0);
        out = malloc(out_len + 1);
        if (out) {
            memcpy(out, t + start, body);
            if (with_mark) memcpy(out + body, CR_ALERT_CUT_MARK, mark_len);
        }
    }
    if (out) out[out_len] = '\0';
    cr_buf_release(&b);
    if (out && len) *len = out_len;
    return out;
}

const char *cr_alert_severity(const Crieur__AlertPayload *a)
{
    const char *s = a && a->severity ? a->severity : "";
    if (strcasecmp(s, "info") == 0) return "info";
    if (strcasecmp(s, "warning") == 0 || strcasecmp(s, "warn") == 0) return "warning";
    if (strcasecmp(s, "critical") == 0 || strcasecmp(s, "error") == 0) return "critical";
    return "warning";
}

int cr_alert_check(const Crieur__Task *task, cr_result_t *r)
{
    if (!task || !task->account || task->payload_case != CRIEUR__TASK__PAYLOAD_ALERT ||
        !task->alert)
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "alert task without channel or alert payload", "bad_task");
    return 0;
}

void cr_alert_channel_name(const Crieur__Task *task, char *buf, size_t len)
{
    const char *h = task && task->account && task->account->handle ? task->account->handle : "";
    char *c = cr_alert_clean(h, 64, 0, 0, NULL);
    snprintf(buf, len, "%s", c && c[0] ? c : "?");
    free(c);
}
