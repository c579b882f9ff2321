#include "cr_linkedin.h"

#include "cr_text.h"
#include "cr_time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every LinkedIn-specific constant lives here (the API version in the header). */
#define LI_POSTS_PATH "/rest/posts"
#define LI_FINDER_QUERY "?author=%s&q=author&count=%d&sortBy=LAST_MODIFIED"
#define LI_START_PARAM "&start="
#define LI_PROTOCOL_VERSION "2.0.0"
#define LI_WEB_BASE "https://www.linkedin.com/feed/update/"
#define LI_ID_HEADER "x-restli-id"
#define LI_RETRY_AFTER_HEADER "Retry-After"
#define LI_ORG_PREFIX "urn:li:organization:"
#define LI_USER_AGENT "crieur/0.1"
#define LI_RESERVED "\\|{}@[]()<>#*_~" /* little text format */
#define LI_DUPLICATE_CODE "DUPLICATE_POST"
#define LI_SUNSET_CODE "NONEXISTENT_VERSION"
#define LI_CODE_DUPLICATE "duplicate"
#define LI_CODE_SUNSET "api_version_sunset"
#define LI_CODE_READBACK_FORBIDDEN "readback_forbidden"
#define LI_CODE_READBACK_REFUSED "readback_refused"
#define LI_CODE_READBACK_TOO_MANY "readback_too_many"
#define LI_FOUND_DETAIL "found on the platform by reading back; not published again"
#define LI_DAY_MS 86400000LL
#define LI_RETRY_MIN_MS 1000LL
#define LI_RETRY_MAX_MS (25LL * 3600000) /* a Retry-After beyond a day is not believed */
#define LI_RECONCILE_WINDOW_MS 3600000LL /* read back to an hour before the task was due */
#define LI_PAGE_COUNT 100                /* posts per read-back page (LinkedIn's maximum) */
#define LI_RECONCILE_MAX_PAGES 10        /* beyond that a human checks */
#define LI_MAX_URL 2048
#define LI_MAX_TOKEN 4096
#define LI_MAX_HANDLE 40

static const char *s_str(const char *s)
{
    return s ? s : "";
}

static int s_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* urn:li:<letters>:<digits>, at most CR_LINKEDIN_URN_MAX bytes. */
static int s_urn_ok(const char *s, size_t n)
{
    if (n == 0 || n > CR_LINKEDIN_URN_MAX || n < 9 || memcmp(s, "urn:li:", 7) != 0) return 0;
    size_t i = 7, t = i;
    while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) i++;
    if (i == t || i >= n || s[i] != ':') return 0;
    size_t d = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    return i == n && i > d;
}

/* ---- text ---------------------------------------------------------------- */

char *cr_linkedin_post_text(const Crieur__Task *task, size_t *len)
{
    return cr_text_post(task, len);
}

/* A URL starts at text[i]: http:// or https://, at the start of a word. */
static size_t s_url_len(const char *t, size_t n, size_t i)
{
    size_t scheme = n - i >= 8 && strncasecmp(t + i, "https://", 8) == 0   ? 8
                    : n - i >= 7 && strncasecmp(t + i, "http://", 7) == 0 ? 7
                                                                           : 0;
    if (!scheme) return 0;
    size_t j = i + scheme;
    while (j < n && !cr_text_space_at((const unsigned char *)t + j, n - j)) j++;
    return j - i;
}

char *cr_linkedin_escape(const char *text, size_t len, size_t *out_len)
{
    if (!text) len = 0;
    char *out = malloc(2 * len + 1);
    if (!out) return NULL;
    size_t o = 0;
    int word_start = 1;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        size_t ws = cr_text_space_at((const unsigned char *)text + i, len - i);
        if (ws) {
            memcpy(out + o, text + i, ws);
            o += ws;
            i += ws;
            word_start = 1;
            continue;
        }
        size_t url = word_start ? s_url_len(text, len, i) : 0;
        if (url) { /* as it is: an escaped URL would not link */
            memcpy(out + o, text + i, url);
            o += url;
            i += url;
            continue;
        }
        if (c == '#' && word_start && i + 1 < len &&
            (s_alnum(text[i + 1]) || (unsigned char)text[i + 1] >= 0x80)) {
            /* a hashtag: its # and its word stay as they are */
            out[o++] = text[i++];
            while (i < len && (s_alnum(text[i]) || text[i] == '_' ||
                               ((unsigned char)text[i] >= 0x80 &&
                                !cr_text_space_at((const unsigned char *)text + i, len - i))))
                out[o++] = text[i++];
            word_start = 0;
            continue;
        }
        if (c != '\0' && strchr(LI_RESERVED, c)) out[o++] = '\\';
        out[o++] = text[i++];
        word_start = 0;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

char *cr_linkedin_unescape(const char *s, size_t n, size_t *out_len)
{
    static const char tag[] = "{hashtag|\\#|";
    const size_t tl = sizeof tag - 1;
    if (!s) n = 0;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '\\' && i + 1 < n) {
            out[o++] = s[i + 1];
            i += 2;
            continue;
        }
        if (s[i] == '{' && n - i > tl && memcmp(s + i, tag, tl) == 0) {
            const char *end = memchr(s + i + tl, '}', n - i - tl);
            if (end) {
                out[o++] = '#';
                size_t w = (size_t)(end - (s + i + tl));
                memcpy(out + o, s + i + tl, w);
                o += w;
                i = (size_t)(end - s) + 1;
                continue;
            }
        }
        if (s[i] == '@' && i + 2 < n && s[i + 1] == '[') {
            const char *close = memchr(s + i + 2, ']', n - i - 2);
            size_t c = close ? (size_t)(close - s) : n;
            const char *paren =
                c + 2 < n && s[c + 1] == '(' ? memchr(s + c + 2, ')', n - c - 2) : NULL;
            if (paren) {
                memcpy(out + o, s + i + 2, c - i - 2);
                o += c - i - 2;
                i = (size_t)(paren - s) + 1;
                continue;
            }
        }
        out[o++] = s[i++];
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return out;
}

static int s_link_word(const char *w, size_t n)
{
    for (size_t i = 0; i + 7 <= n; i++) {
        if (strncasecmp(w + i, "http://", 7) == 0) return 1;
        if (i + 8 <= n && strncasecmp(w + i, "https://", 8) == 0) return 1;
    }
    return n >= 8 && strncasecmp(w, "lnkd.in/", 8) == 0;
}

char *cr_linkedin_fingerprint(const char *text, size_t len)
{
    return cr_text_fingerprint(text, len, s_link_word);
}

int cr_linkedin_author_urn(const char *handle, char *out, size_t cap)
{
    const char *h = s_str(handle);
    size_t n = strlen(h);
    if (n >= 7 && memcmp(h, "urn:li:", 7) == 0) {
        /* urn:li:organization:123, urn:li:person:AbC-1_x */
        size_t i = 7;
        while (i < n && ((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z'))) i++;
        if (i == 7 || i >= n || h[i] != ':' || i + 1 >= n || n > CR_LINKEDIN_URN_MAX) return -1;
        for (size_t k = i + 1; k < n; k++)
            if (!s_alnum(h[k]) && h[k] != '_' && h[k] != '-') return -1;
        if (n + 1 > cap) return -1;
        memcpy(out, h, n + 1);
        return 0;
    }
    if (n == 0 || n > LI_MAX_HANDLE) return -1;
    for (size_t k = 0; k < n; k++)
        if (!s_alnum(h[k]) && h[k] != '_' && h[k] != '-') return -1;
    int w = snprintf(out, cap, LI_ORG_PREFIX "%s", h);
    return w > 0 && (size_t)w < cap ? 0 : -1;
}

/* ---- matcher ------------------------------------------------------------- */

cr_linkedin_match_t cr_linkedin_match(const char *body, size_t len, const char *fingerprint,
                                      int64_t from_ms, int start, int count,
                                      cr_linkedin_found_t *found)
{
    memset(found, 0, sizeof *found);
    if (!body || !fingerprint) return CR_LINKEDIN_MATCH_MALFORMED;
    /* A NUL in one post's text must not make the whole page unreadable. */
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    cr_linkedin_match_t rc = CR_LINKEDIN_MATCH_MALFORMED;
    json_t *elements = json_is_object(root) ? json_object_get(root, "elements") : NULL;
    if (!json_is_array(elements)) goto out;
    int older = 0; /* a post modified before from_ms: the rest are older still */
    int64_t best_at = 0;
    size_t i;
    json_t *el;
    json_array_foreach(elements, i, el)
    {
        json_t *jid = json_object_get(el, "id"), *jc = json_object_get(el, "commentary");
        json_t *jcreated = json_object_get(el, "createdAt");
        json_t *jmod = json_object_get(el, "lastModifiedAt");
        int64_t created = json_is_integer(jcreated) ? (int64_t)json_integer_value(jcreated) : -1;
        int64_t modified = json_is_integer(jmod) ? (int64_t)json_integer_value(jmod) : created;
        if (modified >= 0 && modified < from_ms) older = 1;
        if (!json_is_string(jid) || !json_is_string(jc)) continue; /* also: not an object */
        const char *id = json_string_value(jid);
        size_t idl = json_string_length(jid);
        if (!s_urn_ok(id, idl)) continue;
        if (created >= 0 && created < from_ms) continue;
        const char *c = json_string_value(jc);
        size_t cl = json_string_length(jc);
        if (memchr(c, '\0', cl)) continue;
        size_t pl = 0;
        char *plain = cr_linkedin_unescape(c, cl, &pl);
        char *fp = plain ? cr_linkedin_fingerprint(plain, pl) : NULL;
        int same = fp && strcmp(fp, fingerprint) == 0;
        int oom = fp == NULL;
        free(fp);
        free(plain);
        if (oom) goto out; /* out of memory: no verdict */
        /* Newest first: keep the oldest match (the first publication). */
        if (same && (rc != CR_LINKEDIN_MATCH_FOUND || (created >= 0 && created <= best_at))) {
            memcpy(found->urn, id, idl + 1);
            best_at = created;
            rc = CR_LINKEDIN_MATCH_FOUND;
        }
    }
    if (rc == CR_LINKEDIN_MATCH_FOUND) goto out;
    if (older || count <= 0 || json_array_size(elements) < (size_t)count) {
        rc = CR_LINKEDIN_MATCH_NONE;
    } else {
        found->next_start = start + count;
        rc = CR_LINKEDIN_MATCH_MORE;
    }
out:
    json_decref(root);
    return rc;
}

/* ---- requests ------------------------------------------------------------ */

static int s_bad_handle(cr_result_t *r)
{
    return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                          "account handle is neither a LinkedIn organization id nor a urn:li: URN",
                          "bad_handle");
}

static int s_bad_base(cr_result_t *r)
{
    return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                          "account api_base is not a usable http(s) URL", "bad_api_base");
}

/* method url with the token and LinkedIn's headers; takes *body_p. */
static int s_request(const Crieur__Task *task, const char *method, const char *url,
                     char **body_p, size_t body_len, cr_http_req_t *req, cr_result_t *r)
{
    int rc = -1;
    if (cr_http_req_init(req, method, url) == 0 &&
        cr_http_req_bearer(req, task->account->token) == 0 &&
        cr_http_req_header(req, "LinkedIn-Version", CR_LINKEDIN_API_VERSION) == 0 &&
        cr_http_req_header(req, "X-Restli-Protocol-Version", LI_PROTOCOL_VERSION) == 0 &&
        cr_http_req_header(req, "User-Agent", LI_USER_AGENT) == 0 &&
        cr_http_req_header(req, "Accept", "application/json") == 0 &&
        (body_p || cr_http_req_header(req, "X-RestLi-Method", "FINDER") == 0) &&
        (!body_p || cr_http_req_body(req, "application/json", body_p, body_len) == 0))
        rc = 0;
    /* no idempotency: a write never rides a reused connection */
    if (rc == 0 && strcmp(method, "GET") != 0) req->fresh_connection = 1;
    if (rc) {
        cr_http_req_clear(req);
        cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "out of memory building the request",
                       "internal");
    }
    return rc;
}

int cr_linkedin_publish_request(const Crieur__Task *task, cr_http_req_t *req,
                                cr_result_t *result)
{
    char *url = NULL, *text = NULL, *little = NULL, *body = NULL;
    json_t *obj = NULL;
    int rc = -1;
    char author[CR_LINKEDIN_URN_MAX + 1];
    if (cr_task_check_publish(task, LI_MAX_TOKEN, result)) return -1;
    const Crieur__PublishPayload *pub = task->publish;
    if (pub->n_media > 0)
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "media attachments are not supported by this worker yet",
                              "unsupported_media");
    if (pub->in_reply_to && pub->in_reply_to[0])
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "replies (LinkedIn comments) are not supported by this worker yet",
                              "unsupported_reply");
    if (cr_linkedin_author_urn(task->account->handle, author, sizeof author))
        return s_bad_handle(result);
    url = cr_api_url(task->account->api_base, LI_POSTS_PATH, LI_MAX_URL);
    if (!url) return s_bad_base(result);
    size_t tl = 0, ll = 0;
    text = cr_linkedin_post_text(task, &tl);
    little = text ? cr_linkedin_escape(text, tl, &ll) : NULL;
    obj = json_object();
    if (!little || !obj) goto oom;
    if (json_object_set_new(obj, "author", json_string(author))) goto oom;
    json_t *jtext = json_stringn(little, ll); /* NULL if not valid UTF-8 */
    if (!jtext) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "post text is not valid UTF-8",
                       "bad_text");
        goto out;
    }
    if (json_object_set_new(obj, "commentary", jtext)) goto oom;
    json_t *dist = json_pack("{s:s,s:[],s:[]}", "feedDistribution", "MAIN_FEED",
                             "targetEntities", "thirdPartyDistributionChannels");
    if (!dist ||
        json_object_set_new(obj, "visibility", json_string("PUBLIC")) ||
        json_object_set_new(obj, "distribution", dist) ||
        json_object_set_new(obj, "lifecycleState", json_string("PUBLISHED")) ||
        json_object_set_new(obj, "isReshareDisabledByAuthor", json_false()))
        goto oom;
    size_t bl = json_dumpb(obj, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (bl == 0) goto oom;
    body = malloc(bl);
    if (!body || json_dumpb(obj, body, bl, JSON_COMPACT | JSON_PRESERVE_ORDER) != bl) goto oom;
    rc = s_request(task, "POST", url, &body, bl, req, result);
    goto out;
oom:
    cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "out of memory building the request",
                   "internal");
out:
    json_decref(obj);
    free(body);
    free(little);
    free(text);
    free(url);
    return rc;
}

int cr_linkedin_readback_request(const Crieur__Task *task, int start, cr_http_req_t *req,
                                 cr_result_t *result)
{
    char author[CR_LINKEDIN_URN_MAX + 1], enc[3 * CR_LINKEDIN_URN_MAX + 1], path[512];
    if (cr_task_check_publish(task, LI_MAX_TOKEN, result)) return -1;
    if (cr_linkedin_author_urn(task->account->handle, author, sizeof author))
        return s_bad_handle(result);
    /* Rest.li 2.0: the URN is percent-encoded in the query string */
    size_t e = 0;
    for (const char *p = author; *p; p++) {
        if (s_alnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            enc[e++] = *p;
        } else {
            snprintf(enc + e, 4, "%%%02X", (unsigned char)*p);
            e += 3;
        }
    }
    enc[e] = '\0';
    int n = snprintf(path, sizeof path, LI_POSTS_PATH LI_FINDER_QUERY, enc, LI_PAGE_COUNT);
    if (n > 0 && (size_t)n < sizeof path && start > 0)
        n += snprintf(path + n, sizeof path - (size_t)n, LI_START_PARAM "%d", start);
    if (n < 0 || (size_t)n >= sizeof path)
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "read-back URL too long",
                              "internal");
    char *url = cr_api_url(task->account->api_base, path, LI_MAX_URL);
    if (!url) return s_bad_base(result);
    int rc = s_request(task, "GET", url, NULL, 0, req, result);
    free(url);
    return rc;
}

/* ---- responses ----------------------------------------------------------- */

/* Retry-After: delay-seconds or an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
 * GMT"), as unix ms; -1 if absent or unreadable. */
static int64_t s_retry_after(const cr_http_resp_t *resp, int64_t now_ms)
{
    char v[64];
    long n = cr_http_header(resp, LI_RETRY_AFTER_HEADER, v, sizeof v);
    if (n <= 0 || (size_t)n >= sizeof v) return -1;
    int digits = 1;
    for (long i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9') digits = 0;
    if (digits) {
        if (n > 9) return now_ms + LI_RETRY_MAX_MS + 1; /* absurd: clamped by the caller */
        int64_t s = 0;
        for (long i = 0; i < n; i++) s = s * 10 + (v[i] - '0');
        return now_ms + s * 1000;
    }
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char wday[4], mon[4];
    int d, y, h, mi, s, used = 0;
    if (sscanf(v, "%3s, %2d %3s %4d %2d:%2d:%2d GMT%n", wday, &d, mon, &y, &h, &mi, &s, &used) !=
            7 ||
        used != n)
        return -1;
    unsigned m = 0;
    for (unsigned k = 0; k < 12; k++)
        if (strcmp(mon, months[k]) == 0) m = k + 1;
    if (!m || d < 1 || d > 31 || y < 1970 || h > 23 || mi > 59 || s > 60) return -1;
    int64_t days = cr_days_from_civil(y, m, (unsigned)d);
    return ((days * 24 + h) * 60 + mi) * 60000LL + s * 1000LL;
}

int64_t cr_linkedin_retry_at(const cr_http_resp_t *resp, int64_t now_ms)
{
    int64_t at = s_retry_after(resp, now_ms);
    if (at >= 0) {
        if (at < now_ms + LI_RETRY_MIN_MS) at = now_ms + LI_RETRY_MIN_MS;
        if (at > now_ms + LI_RETRY_MAX_MS) at = now_ms + LI_RETRY_MAX_MS;
        return at;
    }
    /* LinkedIn's daily limits reset at midnight UTC and it says nothing more */
    return (now_ms / LI_DAY_MS + 1) * LI_DAY_MS + CR_LINKEDIN_MIDNIGHT_MARGIN_MS;
}

/* "com.linkedin.x.YException: text" -> "text" (the Java class says nothing to
 * an operator). */
static const char *s_strip_exception(const char *m)
{
    const char *colon = strstr(m, ": ");
    if (!colon) return m;
    size_t n = (size_t)(colon - m);
    int dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i] == '.') dots++;
        else if (!s_alnum(m[i]) && m[i] != '_' && m[i] != '$') return m;
    }
    int named = (n >= 9 && strncmp(colon - 9, "Exception", 9) == 0) ||
                (n >= 5 && strncmp(colon - 5, "Error", 5) == 0);
    return dots > 0 && named ? colon + 2 : m;
}

/* A platform code that can be stored as it is: [A-Za-z0-9_.]. */
static int s_code_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max) return 0;
    for (size_t i = 0; i < n; i++)
        if (!s_alnum(s[i]) && s[i] != '_' && s[i] != '.') return 0;
    return 1;
}

/* The platform's words for an error (message, without the Java class and
 * trailing whitespace; else the first input error's description; else the
 * status line), and its code (code, else the first input error's code, else
 * serviceErrorCode, else the HTTP status). duplicate: an input error says
 * DUPLICATE_POST. */
static void s_error_of(const cr_http_resp_t *resp, char *buf, size_t len, char *code,
                       size_t codelen, int *duplicate)
{
    json_t *root = NULL;
    *duplicate = 0;
    if (resp->body && resp->body_len > 0) root = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *inputs = json_object_get(json_object_get(root, "errorDetails"), "inputErrors");
    json_t *in0 = json_array_get(inputs, 0);
    const char *msg = json_string_value(json_object_get(root, "message"));
    const char *desc = json_string_value(json_object_get(in0, "description"));
    const char *pcode = json_string_value(json_object_get(root, "code"));
    const char *icode = json_string_value(json_object_get(in0, "code"));
    json_t *service = json_object_get(root, "serviceErrorCode");
    size_t i;
    json_t *ie;
    json_array_foreach(inputs, i, ie)
    {
        const char *c = json_string_value(json_object_get(ie, "code"));
        if (c && strcmp(c, LI_DUPLICATE_CODE) == 0) *duplicate = 1;
    }
    if (msg) msg = s_strip_exception(msg);
    if (msg && msg[0]) snprintf(buf, len, "%s", msg);
    else if (desc && desc[0]) snprintf(buf, len, "%s", desc);
    else cr_status_text(resp, buf, len);
    size_t bl = strlen(buf);
    while (bl > 0 && (buf[bl - 1] == '\n' || buf[bl - 1] == ' ' || buf[bl - 1] == '\r'))
        buf[--bl] = '\0';
    if (pcode && s_code_ok(pcode, codelen)) snprintf(code, codelen, "%s", pcode);
    else if (icode && s_code_ok(icode, codelen)) snprintf(code, codelen, "%s", icode);
    else if (json_is_integer(service))
        snprintf(code, codelen, "%lld", (long long)json_integer_value(service));
    else snprintf(code, codelen, "%ld", resp->status);
    json_decref(root);
}

static void s_sunset_text(const char *said, char *out, size_t len)
{
    snprintf(out, len,
             "LinkedIn no longer serves API version " CR_LINKEDIN_API_VERSION
             " (it answered: %s): the LinkedIn-Version sent by Crieur has been sunset; move "
             "CR_LINKEDIN_API_VERSION (workers/adapters/cr_linkedin.h) to a version LinkedIn "
             "currently serves and redeploy the workers",
             said);
}

static void s_ok(cr_result_t *r, const char *urn)
{
    char url[sizeof LI_WEB_BASE + CR_LINKEDIN_URN_MAX + 2];
    snprintf(url, sizeof url, LI_WEB_BASE "%s/", urn);
    r->outcome = CRIEUR__OUTCOME__OUTCOME_OK;
    cr_result_field(&r->platform_post_id, urn, strlen(urn), CR_FIELD_MAX_BYTES);
    cr_result_field(&r->url, url, strlen(url), CR_FIELD_MAX_BYTES);
}

static const char *s_curl_text(const cr_http_resp_t *resp)
{
    return resp->too_large                 ? "response too large"
           : resp->error && resp->error[0] ? resp->error
                                           : curl_easy_strerror((CURLcode)resp->curl_code);
}

void cr_linkedin_publish_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *r)
{
    char buf[1024], code[48], more[1400];
    int duplicate = 0;
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;

    if (resp->curl_code != 0 || resp->too_large) {
        const char *err = s_curl_text(resp);
        if (resp->too_large) snprintf(code, sizeof code, "too_large");
        else snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        if (!resp->too_large && (!resp->sent || cr_http_code_before_send(resp->curl_code))) {
            snprintf(buf, sizeof buf, "platform not reached: %s", err);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        } else {
            /* Sent, answer lost: LinkedIn may have published it and has no
             * idempotency. The broker reconciles before the next attempt. */
            snprintf(buf, sizeof buf, "no usable answer after the request was sent: %s", err);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, code);
        }
        return;
    }

    long st = resp->status;
    if (st >= 200 && st <= 299) {
        char urn[CR_LINKEDIN_URN_MAX + 1];
        long n = cr_http_header(resp, LI_ID_HEADER, urn, sizeof urn);
        if (n > 0 && s_urn_ok(urn, (size_t)n)) {
            s_ok(r, urn);
        } else {
            /* Created, but which post? Reading back will tell. */
            snprintf(buf, sizeof buf,
                     "LinkedIn answered HTTP %ld without a usable " LI_ID_HEADER
                     " header: the post was probably created",
                     st);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, "malformed_success");
        }
        return;
    }
    s_error_of(resp, buf, sizeof buf, code, sizeof code, &duplicate);
    if (st == 401) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
    } else if (st == 422 && duplicate) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, LI_CODE_DUPLICATE);
    } else if (st == 426 || strcmp(code, LI_SUNSET_CODE) == 0) {
        s_sunset_text(buf, more, sizeof more);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, more, LI_CODE_SUNSET);
    } else if (st == 429) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = cr_linkedin_retry_at(resp, now_ms);
    } else if (st == 408) {
        /* request not read in time */
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
    } else if (st >= 500 && st <= 599) {
        /* Sent and failed after: without idempotency the post may exist. */
        snprintf(more, sizeof more, "%s (the post may have been created)", buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, more, code);
    } else if (st >= 300 && st <= 499) {
        /* 400, 403 (not an administrator of the organization), 422 validation,
         * other refusals; a redirect means a wrong api_base. */
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
    } else {
        snprintf(more, sizeof more, "unexpected answer (%s)", buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, more, code);
    }
}

void cr_linkedin_readback_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *r)
{
    char buf[1024], code[48], stext[96], why[2400], sunset[1400];
    int duplicate = 0;
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    if (resp->curl_code != 0 || resp->too_large) {
        /* A read changes nothing: retry, still reconciling. */
        snprintf(buf, sizeof buf, "reading the account back failed: %s", s_curl_text(resp));
        if (resp->too_large) snprintf(code, sizeof code, "too_large");
        else snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        return;
    }
    long st = resp->status;
    s_error_of(resp, buf, sizeof buf, code, sizeof code, &duplicate);
    if (st == 401) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
    } else if (st == 429) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = cr_linkedin_retry_at(resp, now_ms);
    } else if (st == 408 || (st >= 500 && st <= 599)) {
        snprintf(why, sizeof why, "reading the account back failed: %s", buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, why, code);
    } else if (st >= 200 && st <= 299) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                      "reading the account back failed: malformed answer", "malformed_readback");
    } else {
        /* 403 (no permission to read the organization's posts), 426, 400, 404,
         * redirects: the earlier attempt's outcome stays unknown and publishing
         * again could duplicate the post. */
        const char *detail = buf;
        cr_status_text(resp, stext, sizeof stext);
        if (st == 426 || strcmp(code, LI_SUNSET_CODE) == 0) {
            s_sunset_text(buf, sunset, sizeof sunset);
            detail = sunset;
        }
        snprintf(why, sizeof why,
                 "the outcome of an earlier attempt is unknown and the account cannot be read "
                 "back (%s: %s): a human must check whether the post is on LinkedIn; it was "
                 "not published again",
                 stext, detail);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, why,
                      st == 403 ? LI_CODE_READBACK_FORBIDDEN : LI_CODE_READBACK_REFUSED);
    }
}

/* ---- adapter ------------------------------------------------------------- */

enum { S_START = 0, S_READBACK_SENT, S_PUBLISH_SENT };

typedef struct {
    char *fingerprint; /* of the text this task publishes */
    int start;         /* of the read-back page asked */
    int pages;         /* read-back pages read */
} s_state_t;

static void s_release(cr_call_t *call)
{
    s_state_t *st = call->state;
    if (st) free(st->fingerprint);
    free(st);
    call->state = NULL;
}

static int s_publish(cr_call_t *call)
{
    if (cr_linkedin_publish_request(call->task, &call->req, &call->result)) return CR_STEP_DONE;
    call->step = S_PUBLISH_SENT;
    return CR_STEP_REQUEST;
}

static int s_readback(cr_call_t *call, s_state_t *st)
{
    if (cr_linkedin_readback_request(call->task, st->start, &call->req, &call->result))
        return CR_STEP_DONE;
    call->step = S_READBACK_SENT;
    return CR_STEP_REQUEST;
}

static int s_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    const Crieur__Task *t = call->task;
    s_state_t *st = call->state;
    char buf[512];
    switch (call->step) {
    case S_START: {
        if (t->kind != CRIEUR__JOB_KIND__KIND_PUBLISH)
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "linkedin adapter does not handle this job kind",
                                "unsupported_kind");
        if (!t->reconcile) return s_publish(call);
        /* An earlier attempt may have published it: look before publishing. */
        if (cr_task_check_publish(t, LI_MAX_TOKEN, &call->result)) return CR_STEP_DONE;
        st = calloc(1, sizeof *st);
        if (!st) return -1;
        call->state = st;
        size_t tl = 0;
        char *text = cr_linkedin_post_text(t, &tl);
        st->fingerprint = text ? cr_linkedin_fingerprint(text, tl) : NULL;
        free(text);
        if (!st->fingerprint) return -1;
        return s_readback(call, st);
    }
    case S_READBACK_SENT: {
        if (!prev || !st) return -1;
        if (prev->curl_code != 0 || prev->too_large || prev->status < 200 || prev->status > 299) {
            cr_linkedin_readback_result(prev, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        int64_t due = t->due_ms > 0 ? t->due_ms : call->now_ms;
        cr_linkedin_found_t found;
        switch (cr_linkedin_match(prev->body, prev->body_len, st->fingerprint,
                                  due - LI_RECONCILE_WINDOW_MS, st->start, LI_PAGE_COUNT,
                                  &found)) {
        case CR_LINKEDIN_MATCH_FOUND:
            /* Published by the earlier attempt: that post, no second POST. */
            cr_result_clear(&call->result);
            s_ok(&call->result, found.urn);
            call->result.reconciled = 1;
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_OK, (int)prev->status,
                                LI_FOUND_DETAIL, NULL);
        case CR_LINKEDIN_MATCH_NONE:
            return s_publish(call);
        case CR_LINKEDIN_MATCH_MORE:
            if (++st->pages >= LI_RECONCILE_MAX_PAGES) {
                snprintf(buf, sizeof buf,
                         "the outcome of an earlier attempt is unknown and the account has "
                         "more than %d posts in the read-back window: a human must check "
                         "whether the post is on LinkedIn; it was not published again",
                         LI_RECONCILE_MAX_PAGES * LI_PAGE_COUNT);
                return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, (int)prev->status,
                                    buf, LI_CODE_READBACK_TOO_MANY);
            }
            st->start = found.next_start;
            return s_readback(call, st);
        case CR_LINKEDIN_MATCH_MALFORMED:
            break;
        }
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, (int)prev->status,
                            "reading the account back failed: malformed posts answer",
                            "malformed_readback");
    }
    case S_PUBLISH_SENT:
        if (!prev) return -1;
        cr_linkedin_publish_result(prev, call->now_ms, &call->result);
        return CR_STEP_DONE;
    default:
        return -1;
    }
}

const cr_adapter_t cr_linkedin_adapter = {
    .platform = "linkedin",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
    .step = s_step,
    .release = s_release,
};
