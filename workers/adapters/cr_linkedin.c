#include "cr_linkedin.h"

#include "cr_settings.h"
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
#define LI_IMAGES_INIT_PATH "/rest/images?action=initializeUpload"
#define LI_ACTIONS_PATH "/rest/socialActions/"
#define LI_COMMENTS_PATH "/comments"
#define LI_COMMENTS_QUERY "?start=%d&count=%d"
#define LI_IMAGE_PREFIX "urn:li:image:"
#define LI_COMMENT_PREFIX "urn:li:comment:("
#define LI_COMMENT_URL_PARAM "?commentUrn="
#define LI_UPLOAD_HOSTS_DEFAULT "www.linkedin.com,api.linkedin.com" /* (unconfirmed) */
#define LI_CODE_UPLOAD_HOST "upload_host_refused"
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

/* method url with the token and LinkedIn's headers (and X-RestLi-Method
 * when restli is not NULL); takes *body_p. */
static int s_request(const Crieur__Task *task, const char *method, const char *url,
                     char **body_p, size_t body_len, const char *restli, cr_http_req_t *req,
                     cr_result_t *r)
{
    int rc = -1;
    if (cr_http_req_init(req, method, url) == 0 &&
        cr_http_req_bearer(req, task->account->token) == 0 &&
        cr_http_req_header(req, "LinkedIn-Version", CR_LINKEDIN_API_VERSION) == 0 &&
        cr_http_req_header(req, "X-Restli-Protocol-Version", LI_PROTOCOL_VERSION) == 0 &&
        cr_http_req_header(req, "User-Agent", LI_USER_AGENT) == 0 &&
        cr_http_req_header(req, "Accept", "application/json") == 0 &&
        (!restli || cr_http_req_header(req, "X-RestLi-Method", restli) == 0) &&
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

/* A URN percent-encoded for a path segment or a query value (Rest.li 2.0). */
static void s_pct(const char *urn, char *out, size_t cap)
{
    size_t e = 0;
    for (const char *p = urn; *p && e + 4 < cap; p++) {
        if (s_alnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            out[e++] = *p;
        } else {
            snprintf(out + e, 4, "%%%02X", (unsigned char)*p);
            e += 3;
        }
    }
    out[e] = '\0';
}

/* obj as compact JSON, then the request; takes nothing, frees nothing. */
static int s_json_request(const Crieur__Task *task, const char *url, json_t *obj,
                          cr_http_req_t *req, cr_result_t *r)
{
    size_t bl = obj ? json_dumpb(obj, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
    char *body = bl ? malloc(bl) : NULL;
    if (!body || json_dumpb(obj, body, bl, JSON_COMPACT | JSON_PRESERVE_ORDER) != bl) {
        free(body);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "out of memory building the request", "internal");
    }
    int rc = s_request(task, "POST", url, &body, bl, NULL, req, r);
    free(body);
    return rc;
}

int cr_linkedin_media_check(const Crieur__Task *task, cr_result_t *result)
{
    char buf[200];
    if (cr_task_check_publish(task, LI_MAX_TOKEN, result)) return -1;
    const Crieur__PublishPayload *pub = task->publish;
    const char *reply = s_str(pub->in_reply_to);
    if (pub->n_media > CR_LINKEDIN_MAX_MEDIA) {
        snprintf(buf, sizeof buf,
                 "the post has %zu images; LinkedIn posts take at most %d here: keep one image",
                 pub->n_media, CR_LINKEDIN_MAX_MEDIA);
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, "too_many_media");
    }
    if (pub->n_media > 0 && cr_media_source(pub->media[0]) == CR_MEDIA_BAD)
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "media item 1 is neither an http(s) URL nor an absolute file path",
                              "bad_media");
    if (reply[0] && !s_urn_ok(reply, strlen(reply)))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "in_reply_to is not a LinkedIn post URN (urn:li:share:<id> or "
                              "urn:li:ugcPost:<id>)",
                              "bad_reply_to");
    if (reply[0] && pub->n_media > 0)
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "a LinkedIn reply is a comment, and comments with images are not "
                              "supported: remove the image or post it as a new post",
                              "unsupported_media");
    return 0;
}

static int s_image_urn_ok(const char *s)
{
    return s && strncmp(s, LI_IMAGE_PREFIX, strlen(LI_IMAGE_PREFIX)) == 0 &&
           s_urn_ok(s, strlen(s));
}

int cr_linkedin_publish_request(const Crieur__Task *task, const char *image_urn,
                                cr_http_req_t *req, cr_result_t *result)
{
    char *url = NULL, *text = NULL, *little = NULL, *body = NULL;
    json_t *obj = NULL;
    int rc = -1;
    char author[CR_LINKEDIN_URN_MAX + 1];
    if (cr_linkedin_media_check(task, result)) return -1;
    const Crieur__PublishPayload *pub = task->publish;
    if (pub->in_reply_to && pub->in_reply_to[0])
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "a reply is a comment, not a post", "internal");
    if ((pub->n_media > 0) != (image_urn != NULL) || (image_urn && !s_image_urn_ok(image_urn)))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "publishing without the uploaded image's URN", "internal");
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
    if (image_urn) {
        json_t *content = json_pack("{s:{s:s,s:s}}", "media", "id", image_urn, "altText", "");
        if (!content || json_object_set_new(obj, "content", content)) goto oom;
    }
    size_t bl = json_dumpb(obj, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (bl == 0) goto oom;
    body = malloc(bl);
    if (!body || json_dumpb(obj, body, bl, JSON_COMPACT | JSON_PRESERVE_ORDER) != bl) goto oom;
    rc = s_request(task, "POST", url, &body, bl, NULL, req, result);
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
    int rc = s_request(task, "GET", url, NULL, 0, "FINDER", req, result);
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

/* ---- images and comments ------------------------------------------------- */

int cr_linkedin_image_init_request(const Crieur__Task *task, cr_http_req_t *req,
                                   cr_result_t *result)
{
    char author[CR_LINKEDIN_URN_MAX + 1];
    if (cr_task_check_publish(task, LI_MAX_TOKEN, result)) return -1;
    if (cr_linkedin_author_urn(task->account->handle, author, sizeof author))
        return s_bad_handle(result);
    char *url = cr_api_url(task->account->api_base, LI_IMAGES_INIT_PATH, LI_MAX_URL);
    if (!url) return s_bad_base(result);
    json_t *obj = json_pack("{s:{s:s}}", "initializeUploadRequest", "owner", author);
    int rc = s_json_request(task, url, obj, req, result);
    json_decref(obj);
    free(url);
    return rc;
}

/* The classification every image step shares for an answer that is not a
 * usable 2xx: nothing was published, whatever happened. what: "preparing the
 * image upload" or "uploading the image". */
static int s_media_fail(const cr_http_resp_t *resp, int64_t now_ms, const char *what,
                        cr_result_t *r)
{
    char buf[1024], code[48], why[1500];
    int duplicate = 0;
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    if (resp->curl_code != 0 || resp->too_large) {
        snprintf(why, sizeof why, "%s failed: %s (nothing was published)", what,
                 s_curl_text(resp));
        if (resp->too_large) snprintf(code, sizeof code, "too_large");
        else snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, why, code);
        return -1;
    }
    long st = resp->status;
    s_error_of(resp, buf, sizeof buf, code, sizeof code, &duplicate);
    if (st == 401) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
    } else if (st == 426 || strcmp(code, LI_SUNSET_CODE) == 0) {
        s_sunset_text(buf, why, sizeof why);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, why, LI_CODE_SUNSET);
    } else if (st == 429) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = cr_linkedin_retry_at(resp, now_ms);
    } else if (st == 408 || (st >= 500 && st <= 599)) {
        snprintf(why, sizeof why, "%s failed: %s (nothing was published)", what, buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, why, code);
    } else {
        snprintf(why, sizeof why, "%s: LinkedIn refused it: %s", what, buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, why, code);
    }
    return -1;
}

int cr_linkedin_image_init_result(const cr_http_resp_t *resp, int64_t now_ms, char *upload_url,
                                  char *image_urn, cr_result_t *r)
{
    static const char what[] = "preparing the image upload";
    upload_url[0] = image_urn[0] = '\0';
    if (resp->curl_code != 0 || resp->too_large || resp->status < 200 || resp->status > 299)
        return s_media_fail(resp, now_ms, what, r);
    json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    json_t *value = json_object_get(root, "value");
    json_t *ju = json_object_get(value, "uploadUrl"), *ji = json_object_get(value, "image");
    const char *u = json_string_value(ju), *i = json_string_value(ji);
    int ok = u && i && json_string_length(ju) <= CR_LINKEDIN_UPLOAD_URL_MAX &&
             strlen(u) == json_string_length(ju) && cr_media_source(u) == CR_MEDIA_URL &&
             s_image_urn_ok(i);
    if (ok) {
        memcpy(upload_url, u, json_string_length(ju) + 1);
        memcpy(image_urn, i, json_string_length(ji) + 1);
    }
    json_decref(root);
    if (ok) return 0;
    cr_result_clear(r);
    r->http_status = (int)resp->status;
    cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                  "LinkedIn answered initializeUpload without a usable value.uploadUrl and "
                  "value.image (nothing was published)",
                  "malformed_upload");
    return -1;
}

/* scheme://authority of an http(s) URL, lower-cased, into out; 0 or -1 (no
 * user-info accepted). host: the authority without its port. */
static int s_origin(const char *url, char *out, size_t cap, char *host, size_t hcap)
{
    size_t sl = strncasecmp(url, "https://", 8) == 0  ? 8
                : strncasecmp(url, "http://", 7) == 0 ? 7
                                                      : 0;
    if (!sl) return -1;
    size_t al = strcspn(url + sl, "/?#");
    if (al == 0 || sl + al >= cap || memchr(url + sl, '@', al)) return -1;
    for (size_t k = 0; k < sl + al; k++) {
        char c = url[k];
        out[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[sl + al] = '\0';
    size_t hl = strcspn(out + sl, ":");
    if (hl == 0 || hl >= hcap) return -1;
    memcpy(host, out + sl, hl);
    host[hl] = '\0';
    return 0;
}

int cr_linkedin_upload_request(const Crieur__Task *task, const char *upload_url,
                               const cr_media_t *media, cr_http_req_t *req, cr_result_t *result)
{
    char origin[300], host[256], base_origin[300], base_host[256], buf[600];
    if (cr_task_check_publish(task, LI_MAX_TOKEN, result)) return -1;
    if (!media || !media->data || !media->mime || !upload_url)
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "upload without an image", "internal");
    /* The Bearer token goes with the bytes: only to LinkedIn's upload hosts
     * (https) or to the api_base's own origin (a sandbox, a proxy). */
    int same = s_origin(upload_url, origin, sizeof origin, host, sizeof host) == 0 &&
               s_origin(s_str(task->account->api_base), base_origin, sizeof base_origin,
                        base_host, sizeof base_host) == 0 &&
               strcmp(origin, base_origin) == 0;
    int listed = !same && strncmp(origin, "https://", 8) == 0 &&
                 strcspn(origin + 8, ":") == strlen(origin + 8) && /* no explicit port */
                 cr_setting_has("linkedin", "upload_hosts", LI_UPLOAD_HOSTS_DEFAULT, host);
    if (!same && !listed) {
        snprintf(buf, sizeof buf,
                 "LinkedIn gave an upload URL on %.200s, which is neither the account's API "
                 "host nor one of the upload hosts allowed by the setting linkedin.upload_hosts "
                 "(https only): the token was not sent there; add the host to that setting if "
                 "LinkedIn moved its uploads",
                 origin[0] ? origin : "an unusable URL");
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf,
                              LI_CODE_UPLOAD_HOST);
    }
    char *body = malloc(media->len ? media->len : 1);
    if (!body ||
        (memcpy(body, media->data, media->len), cr_http_req_init(req, "PUT", upload_url)) != 0 ||
        cr_http_req_bearer(req, task->account->token) != 0 ||
        cr_http_req_header(req, "User-Agent", LI_USER_AGENT) != 0 ||
        cr_http_req_body(req, media->mime, &body, media->len) != 0) {
        free(body);
        cr_http_req_clear(req);
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "out of memory building the request", "internal");
    }
    return 0;
}

int cr_linkedin_upload_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *r)
{
    if (resp->curl_code == 0 && !resp->too_large && resp->status >= 200 && resp->status <= 299)
        return 0;
    return s_media_fail(resp, now_ms, "uploading the image", r);
}

/* {api_base}/rest/socialActions/<in_reply_to, encoded>/comments<query> */
static char *s_comments_url(const Crieur__Task *task, const char *query)
{
    char enc[3 * CR_LINKEDIN_URN_MAX + 1], path[512];
    s_pct(s_str(task->publish->in_reply_to), enc, sizeof enc);
    int n = snprintf(path, sizeof path, LI_ACTIONS_PATH "%s" LI_COMMENTS_PATH "%s", enc,
                     s_str(query));
    if (n < 0 || (size_t)n >= sizeof path) return NULL;
    return cr_api_url(task->account->api_base, path, LI_MAX_URL);
}

int cr_linkedin_comment_request(const Crieur__Task *task, cr_http_req_t *req,
                                cr_result_t *result)
{
    char author[CR_LINKEDIN_URN_MAX + 1];
    if (cr_linkedin_media_check(task, result)) return -1;
    const char *reply = s_str(task->publish->in_reply_to);
    if (!reply[0])
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "a comment without the post it replies to", "internal");
    if (cr_linkedin_author_urn(task->account->handle, author, sizeof author))
        return s_bad_handle(result);
    char *url = s_comments_url(task, NULL);
    if (!url) return s_bad_base(result);
    size_t tl = 0;
    char *text = cr_linkedin_post_text(task, &tl);
    json_t *jtext = text ? json_stringn(text, tl) : NULL;
    free(text);
    int rc;
    if (!jtext) {
        rc = cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                            "reply text is not valid UTF-8", "bad_text");
    } else {
        json_t *obj = json_pack("{s:s,s:s,s:{s:o}}", "actor", author, "object", reply, "message",
                                "text", jtext);
        rc = s_json_request(task, url, obj, req, result);
        json_decref(obj);
    }
    free(url);
    return rc;
}

/* urn:li:comment:(<post urn>,<digits>) */
static int s_comment_urn_ok(const char *s, size_t n)
{
    size_t pl = strlen(LI_COMMENT_PREFIX);
    if (n <= pl + 3 || n > CR_LINKEDIN_COMMENT_URN_MAX || memcmp(s, LI_COMMENT_PREFIX, pl) != 0 ||
        s[n - 1] != ')')
        return 0;
    const char *comma = memchr(s + pl, ',', n - pl);
    if (!comma || !s_urn_ok(s + pl, (size_t)(comma - s) - pl)) return 0;
    size_t d = (size_t)(comma - s) + 1;
    if (d >= n - 1) return 0;
    for (size_t i = d; i < n - 1; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* OK with the comment's URN and https://www.linkedin.com/feed/update/<post>/?commentUrn=<enc> */
static void s_comment_ok(cr_result_t *r, const char *post_urn, const char *comment_urn)
{
    char enc[3 * CR_LINKEDIN_COMMENT_URN_MAX + 1];
    char url[sizeof LI_WEB_BASE + CR_LINKEDIN_URN_MAX + sizeof enc + 32];
    s_pct(comment_urn, enc, sizeof enc);
    snprintf(url, sizeof url, LI_WEB_BASE "%s/" LI_COMMENT_URL_PARAM "%s", post_urn, enc);
    r->outcome = CRIEUR__OUTCOME__OUTCOME_OK;
    cr_result_field(&r->platform_post_id, comment_urn, strlen(comment_urn), CR_FIELD_MAX_BYTES);
    cr_result_field(&r->url, url, strlen(url), CR_FIELD_MAX_BYTES);
}

void cr_linkedin_comment_result(const cr_http_resp_t *resp, const char *post_urn, int64_t now_ms,
                                cr_result_t *r)
{
    const char *post = s_str(post_urn);
    if (resp->curl_code != 0 || resp->too_large || resp->status < 200 || resp->status > 299 ||
        !s_urn_ok(post, strlen(post))) {
        cr_linkedin_publish_result(resp, now_ms, r);
        return;
    }
    cr_result_clear(r);
    r->http_status = (int)resp->status;
    char urn[CR_LINKEDIN_COMMENT_URN_MAX + 1] = "";
    json_t *root = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    static const char *const keys[] = {"commentUrn", "$URN"};
    for (size_t k = 0; k < 2 && !urn[0]; k++) {
        json_t *j = json_object_get(root, keys[k]);
        const char *v = json_string_value(j);
        if (v && s_comment_urn_ok(v, json_string_length(j))) memcpy(urn, v, json_string_length(j) + 1);
    }
    json_decref(root);
    char h[CR_LINKEDIN_COMMENT_URN_MAX + 1];
    long n = urn[0] ? -1 : cr_http_header(resp, LI_ID_HEADER, h, sizeof h);
    if (n > 0 && (size_t)n < sizeof h) {
        int digits = 1;
        for (long i = 0; i < n; i++)
            if (h[i] < '0' || h[i] > '9') digits = 0;
        if (s_comment_urn_ok(h, (size_t)n)) memcpy(urn, h, (size_t)n + 1);
        else if (digits && n <= 20)
            snprintf(urn, sizeof urn, LI_COMMENT_PREFIX "%.64s,%.20s)", post, h);
    }
    if (urn[0]) {
        s_comment_ok(r, post, urn);
        return;
    }
    char buf[200];
    snprintf(buf, sizeof buf,
             "LinkedIn answered HTTP %ld to the comment without a usable comment id: the comment "
             "was probably created",
             resp->status);
    cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, "malformed_success");
}

int cr_linkedin_comments_request(const Crieur__Task *task, int start, cr_http_req_t *req,
                                 cr_result_t *result)
{
    char query[64];
    if (cr_linkedin_media_check(task, result)) return -1;
    if (!task->publish->in_reply_to || !task->publish->in_reply_to[0])
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "reading comments without a post", "internal");
    snprintf(query, sizeof query, LI_COMMENTS_QUERY, start < 0 ? 0 : start, LI_PAGE_COUNT);
    char *url = s_comments_url(task, query);
    if (!url) return s_bad_base(result);
    int rc = s_request(task, "GET", url, NULL, 0, NULL, req, result);
    free(url);
    return rc;
}

cr_linkedin_match_t cr_linkedin_match_comment(const char *body, size_t len, const char *actor,
                                              const char *fingerprint, int64_t from_ms, int start,
                                              int count, cr_linkedin_comment_found_t *found)
{
    memset(found, 0, sizeof *found);
    if (!body || !fingerprint || !actor) return CR_LINKEDIN_MATCH_MALFORMED;
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    cr_linkedin_match_t rc = CR_LINKEDIN_MATCH_MALFORMED;
    json_t *elements = json_is_object(root) ? json_object_get(root, "elements") : NULL;
    if (!json_is_array(elements)) goto out;
    int64_t best_at = 0;
    size_t i;
    json_t *el;
    json_array_foreach(elements, i, el)
    {
        json_t *ja = json_object_get(el, "actor");
        json_t *jt = json_object_get(json_object_get(el, "message"), "text");
        json_t *jtime = json_object_get(json_object_get(el, "created"), "time");
        json_t *ju = json_object_get(el, "commentUrn");
        if (!json_is_string(ju)) ju = json_object_get(el, "$URN");
        if (!json_is_string(ja) || !json_is_string(jt) || !json_is_string(ju) ||
            strcmp(json_string_value(ja), actor) != 0 ||
            !s_comment_urn_ok(json_string_value(ju), json_string_length(ju)))
            continue;
        int64_t at = json_is_integer(jtime) ? (int64_t)json_integer_value(jtime) : -1;
        if (at < from_ms) continue; /* also: no time, not ours to judge */
        if (memchr(json_string_value(jt), '\0', json_string_length(jt))) continue;
        char *fp = cr_linkedin_fingerprint(json_string_value(jt), json_string_length(jt));
        if (!fp) goto out; /* out of memory: no verdict */
        int same = strcmp(fp, fingerprint) == 0;
        free(fp);
        /* keep the oldest match (the first attempt's) */
        if (same && (rc != CR_LINKEDIN_MATCH_FOUND || at < best_at)) {
            memcpy(found->urn, json_string_value(ju), json_string_length(ju) + 1);
            best_at = at;
            rc = CR_LINKEDIN_MATCH_FOUND;
        }
    }
    if (rc == CR_LINKEDIN_MATCH_FOUND) goto out;
    json_t *total = json_object_get(json_object_get(root, "paging"), "total");
    size_t n = json_array_size(elements);
    int more = count > 0 && (json_is_integer(total)
                                 ? (json_int_t)start + (json_int_t)n < json_integer_value(total) &&
                                       n > 0
                                 : n >= (size_t)count);
    if (more) {
        found->next_start = start + (int)n;
        rc = CR_LINKEDIN_MATCH_MORE;
    } else {
        rc = CR_LINKEDIN_MATCH_NONE;
    }
out:
    json_decref(root);
    return rc;
}

/* ---- adapter ------------------------------------------------------------- */

enum {
    S_START = 0,
    S_READBACK_SENT,
    S_PUBLISH_SENT,
    S_COMMENTS_SENT, /* reading a post's comments back (a reply's reconciliation) */
    S_FETCH_SENT,    /* downloading the image */
    S_INIT_SENT,     /* images?action=initializeUpload */
    S_PUT_SENT,      /* the bytes to the upload URL */
    S_COMMENT_SENT,  /* the reply */
};

typedef struct {
    char *fingerprint; /* of the text this task publishes */
    int start;         /* of the read-back page asked */
    int pages;         /* read-back pages read */
    cr_media_t media;  /* the image, between its loading and its upload */
    char upload_url[CR_LINKEDIN_UPLOAD_URL_MAX + 1];
    char pending[CR_LINKEDIN_URN_MAX + 1]; /* initialized, not uploaded yet */
    char image[CR_LINKEDIN_URN_MAX + 1];   /* uploaded: the post names it */
} s_state_t;

static void s_release(cr_call_t *call)
{
    s_state_t *st = call->state;
    if (st) {
        free(st->fingerprint);
        cr_media_clear(&st->media);
    }
    free(st);
    call->state = NULL;
}

static s_state_t *s_state(cr_call_t *call)
{
    if (!call->state) call->state = calloc(1, sizeof(s_state_t));
    return call->state;
}

static int s_image_init(cr_call_t *call)
{
    if (cr_linkedin_image_init_request(call->task, &call->req, &call->result))
        return CR_STEP_DONE;
    call->step = S_INIT_SENT;
    return CR_STEP_REQUEST;
}

/* What comes next once nothing needs reading back: the comment (a reply),
 * the image's steps, or the post. */
static int s_publish(cr_call_t *call)
{
    const Crieur__Task *t = call->task;
    const Crieur__PublishPayload *pub = t->publish;
    if (pub && pub->in_reply_to && pub->in_reply_to[0]) {
        if (cr_linkedin_comment_request(t, &call->req, &call->result)) return CR_STEP_DONE;
        call->step = S_COMMENT_SENT;
        return CR_STEP_REQUEST;
    }
    s_state_t *st = call->state;
    if (pub && pub->n_media > 0) {
        if (!(st = s_state(call))) return -1;
        if (!st->image[0]) {
            if (st->media.data) return s_image_init(call);
            const char *ref = pub->media[0];
            if (cr_media_source(ref) == CR_MEDIA_URL) {
                if (cr_media_fetch_request(&call->req, ref, CR_LINKEDIN_MEDIA_MAX_BYTES,
                                           &call->result))
                    return CR_STEP_DONE;
                call->step = S_FETCH_SENT;
                return CR_STEP_REQUEST;
            }
            if (cr_media_load_file(ref, CR_LINKEDIN_MEDIA_MAX_BYTES, &st->media, &call->result))
                return CR_STEP_DONE;
            return s_image_init(call);
        }
    }
    if (cr_linkedin_publish_request(t, st && st->image[0] ? st->image : NULL, &call->req,
                                    &call->result))
        return CR_STEP_DONE;
    call->step = S_PUBLISH_SENT;
    return CR_STEP_REQUEST;
}

static int s_readback(cr_call_t *call, s_state_t *st)
{
    const Crieur__PublishPayload *pub = call->task->publish;
    if (pub && pub->in_reply_to && pub->in_reply_to[0]) {
        if (cr_linkedin_comments_request(call->task, st->start, &call->req, &call->result))
            return CR_STEP_DONE;
        call->step = S_COMMENTS_SENT;
        return CR_STEP_REQUEST;
    }
    if (cr_linkedin_readback_request(call->task, st->start, &call->req, &call->result))
        return CR_STEP_DONE;
    call->step = S_READBACK_SENT;
    return CR_STEP_REQUEST;
}

static int s_too_many(cr_call_t *call, long status, const char *what)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "the outcome of an earlier attempt is unknown and there are more than %d %s in the "
             "read-back window: a human must check whether the post is on LinkedIn; it was not "
             "published again",
             LI_RECONCILE_MAX_PAGES * LI_PAGE_COUNT, what);
    return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, (int)status, buf,
                        LI_CODE_READBACK_TOO_MANY);
}

static int s_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    const Crieur__Task *t = call->task;
    s_state_t *st = call->state;
    switch (call->step) {
    case S_START: {
        if (t->kind != CRIEUR__JOB_KIND__KIND_PUBLISH)
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "linkedin adapter does not handle this job kind",
                                "unsupported_kind");
        /* also the account and payload: a post that can never be sent stops here */
        if (cr_linkedin_media_check(t, &call->result)) return CR_STEP_DONE;
        if (!t->reconcile) return s_publish(call);
        /* An earlier attempt may have published it: look before publishing. */
        st = s_state(call);
        if (!st) return -1;
        size_t tl = 0;
        char *text = cr_linkedin_post_text(t, &tl);
        st->fingerprint = text ? cr_linkedin_fingerprint(text, tl) : NULL;
        free(text);
        if (!st->fingerprint) return -1;
        if (!st->fingerprint[0])
            /* an image without text: any such post of the account would match */
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, 0,
                                "the outcome of an earlier attempt is unknown and a post without "
                                "text cannot be recognised by reading back: a human must check "
                                "whether the post is on LinkedIn; it was not published again",
                                LI_CODE_READBACK_REFUSED);
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
            if (++st->pages >= LI_RECONCILE_MAX_PAGES)
                return s_too_many(call, prev->status, "posts of the account");
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
    case S_COMMENTS_SENT: {
        if (!prev || !st) return -1;
        if (prev->curl_code != 0 || prev->too_large || prev->status < 200 || prev->status > 299) {
            cr_linkedin_readback_result(prev, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        char actor[CR_LINKEDIN_URN_MAX + 1];
        if (cr_linkedin_author_urn(t->account->handle, actor, sizeof actor)) return -1;
        int64_t due = t->due_ms > 0 ? t->due_ms : call->now_ms;
        cr_linkedin_comment_found_t found;
        switch (cr_linkedin_match_comment(prev->body, prev->body_len, actor, st->fingerprint,
                                          due - LI_RECONCILE_WINDOW_MS, st->start, LI_PAGE_COUNT,
                                          &found)) {
        case CR_LINKEDIN_MATCH_FOUND:
            /* Commented by the earlier attempt: that comment, no second POST. */
            cr_result_clear(&call->result);
            s_comment_ok(&call->result, t->publish->in_reply_to, found.urn);
            call->result.reconciled = 1;
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_OK, (int)prev->status,
                                LI_FOUND_DETAIL, NULL);
        case CR_LINKEDIN_MATCH_NONE:
            return s_publish(call);
        case CR_LINKEDIN_MATCH_MORE:
            if (++st->pages >= LI_RECONCILE_MAX_PAGES)
                return s_too_many(call, prev->status, "comments on the post");
            st->start = found.next_start;
            return s_readback(call, st);
        case CR_LINKEDIN_MATCH_MALFORMED:
            break;
        }
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, (int)prev->status,
                            "reading the post's comments back failed: malformed answer",
                            "malformed_readback");
    }
    case S_FETCH_SENT:
        if (!prev || !st || !t->publish || t->publish->n_media < 1) return -1;
        cr_media_clear(&st->media);
        if (cr_media_from_response(prev, t->publish->media[0], CR_LINKEDIN_MEDIA_MAX_BYTES,
                                   &st->media, &call->result))
            return CR_STEP_DONE;
        return s_image_init(call);
    case S_INIT_SENT:
        if (!prev || !st) return -1;
        if (cr_linkedin_image_init_result(prev, call->now_ms, st->upload_url, st->pending,
                                          &call->result))
            return CR_STEP_DONE;
        if (cr_linkedin_upload_request(t, st->upload_url, &st->media, &call->req, &call->result))
            return CR_STEP_DONE;
        cr_media_clear(&st->media); /* the request holds its own copy */
        call->step = S_PUT_SENT;
        return CR_STEP_REQUEST;
    case S_PUT_SENT:
        if (!prev || !st) return -1;
        if (cr_linkedin_upload_result(prev, call->now_ms, &call->result)) return CR_STEP_DONE;
        memcpy(st->image, st->pending, sizeof st->image);
        return s_publish(call);
    case S_COMMENT_SENT:
        if (!prev) return -1;
        cr_linkedin_comment_result(prev, t->publish ? t->publish->in_reply_to : NULL,
                                   call->now_ms, &call->result);
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
