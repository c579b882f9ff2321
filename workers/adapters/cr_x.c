#include "cr_x.h"

#include "cr_text.h"
#include "cr_time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every X-specific constant lives here. */
#define X_TWEETS_PATH "/2/tweets"
#define X_UPLOAD_PATH "/2/media/upload"
#define X_MEDIA_CATEGORY "tweet_image"
#define X_ME_PATH "/2/users/me"
#define X_USERS_PATH "/2/users/"
#define X_TIMELINE_PATH "/tweets"
#define X_TIMELINE_QUERY "?max_results=100&start_time=%s&tweet.fields=created_at"
#define X_PAGINATION_PARAM "&pagination_token="
#define X_WEB_BASE "https://x.com/"
#define X_WEB_STATUS "/status/"
#define X_WEB_ANY_USER "i/web" /* https://x.com/i/web/status/<id> works for any user */
#define X_USER_AGENT "crieur/0.1"
/* No keep-alive with X: libcurl re-sends a request, POST included, on a fresh
 * connection when a reused one dies before any answer; without idempotency
 * that could publish a tweet twice behind the adapter's back. A connection
 * that is closed after each answer is never reused. */
#define X_CONNECTION "close"
#define X_RESET_HEADER "x-rate-limit-reset"                 /* epoch seconds */
#define X_DAY_REMAINING_HEADER "x-user-limit-24hour-remaining" /* the daily user cap */
#define X_DAY_RESET_HEADER "x-user-limit-24hour-reset"
#define X_DUPLICATE_DETAIL "duplicate content" /* in the 403 detail of a duplicate */
#define X_PROBLEMS_MARK "/problems/"           /* type https://api.x.com/2/problems/<code> */
#define X_CODE_DUPLICATE "duplicate"
#define X_CODE_READBACK_FORBIDDEN "readback_forbidden"
#define X_CODE_READBACK_REFUSED "readback_refused"
#define X_CODE_READBACK_TOO_MANY "readback_too_many"
#define X_FOUND_DETAIL "found on the platform by reading back; not published again"
#define X_RETRY_DEFAULT_MS 60000LL      /* 429 without a usable reset */
#define X_RETRY_MIN_MS 1000LL           /* a reset in the past: wait a little anyway */
#define X_RETRY_MAX_MS (24LL * 3600000) /* never defer an account longer on one header */
#define X_RECONCILE_WINDOW_MS 3600000LL /* read back from an hour before the task was due */
#define X_RECONCILE_MAX_PAGES 10        /* of 100 tweets; beyond that a human checks */
#define X_MAX_URL 2048
#define X_MAX_TOKEN 4096
#define X_MAX_HANDLE 50

/* Top-level domains taken for links when written without http(s):// (X
 * links "example.com" and shows it as a t.co URL). */
static const char *const s_tlds[] = {
    "com", "net", "org", "io",   "co",   "me",   "ly",   "fr",   "de",    "uk",   "eu",
    "us",  "ca",  "be",  "ch",   "es",   "it",   "nl",   "app",  "dev",   "info", "biz",
    "tv",  "ai",  "gg",  "xyz",  "news", "shop", "blog", "link", "page",  "site", "online",
    "store", "tech", NULL,
};

static const char *s_str(const char *s)
{
    return s ? s : "";
}

/* 1..CR_X_ID_MAX decimal digits. */
static int s_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > CR_X_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* ---- text and fingerprint ---------------------------------------------- */

char *cr_x_post_text(const Crieur__Task *task, size_t *len)
{
    return cr_text_post(task, len);
}

static int s_has_ci(const char *w, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(w + i, needle, k) == 0) return 1;
    return 0;
}

/* A bare domain, possibly with a path: "example.com", "www.shop.fr/sale",
 * "(example.com)." -- labels of [A-Za-z0-9-], a known top-level domain. */
static int s_bare_domain(const char *w, size_t n)
{
    while (n > 0 && strchr("([{<\"'", w[0])) w++, n--;
    while (n > 0 && strchr(".,;:!?)]}>\"'", w[n - 1])) n--;
    size_t host = 0;
    while (host < n && w[host] != '/') host++;
    if (host == 0) return 0;
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= host; i++) {
        if (i < host && w[i] != '.') {
            char c = w[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-'))
                return 0;
            continue;
        }
        if (i == start) return 0; /* empty label */
        labels++;
        if (i == host) {
            for (size_t t = 0; s_tlds[t]; t++)
                if (strlen(s_tlds[t]) == i - start && strncasecmp(w + start, s_tlds[t], i - start) == 0)
                    return labels >= 2;
            return 0;
        }
        start = i + 1;
    }
    return 0;
}

static int s_url_word(const char *w, size_t n)
{
    return s_has_ci(w, n, "http://") || s_has_ci(w, n, "https://") || s_bare_domain(w, n);
}

char *cr_x_fingerprint(const char *text, size_t len)
{
    return cr_text_fingerprint(text, len, s_url_word);
}

/* X sends &, <, > as HTML entities in tweet text: undo exactly that. */
static char *s_unescape(const char *s, size_t n, size_t *out_len)
{
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '&') {
            if (n - i >= 5 && memcmp(s + i, "&amp;", 5) == 0) {
                out[o++] = '&';
                i += 5;
                continue;
            }
            if (n - i >= 4 && (memcmp(s + i, "&lt;", 4) == 0 || memcmp(s + i, "&gt;", 4) == 0)) {
                out[o++] = s[i + 1] == 'l' ? '<' : '>';
                i += 4;
                continue;
            }
        }
        out[o++] = s[i++];
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* ---- matcher ----------------------------------------------------------- */

/* A pagination token that can go into a query string as it is. */
static int s_page_token_ok(const char *s, size_t n)
{
    if (n == 0 || n > CR_X_TOKEN_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

cr_x_match_t cr_x_match(const char *body, size_t len, const char *fingerprint,
                        cr_x_found_t *found)
{
    memset(found, 0, sizeof *found);
    if (!body || !fingerprint) return CR_X_MATCH_MALFORMED;
    /* A NUL in one tweet's text must not make the whole page unreadable. */
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    cr_x_match_t rc = CR_X_MATCH_MALFORMED;
    if (!json_is_object(root)) goto out;
    json_t *data = json_object_get(root, "data");
    json_t *meta = json_object_get(root, "meta");
    json_t *errors = json_object_get(root, "errors");
    if (data && !json_is_array(data)) goto out;
    if (meta && !json_is_object(meta)) goto out;
    if (!data && !meta) {
        json_t *e0 = json_is_array(errors) ? json_array_get(errors, 0) : NULL;
        if (!json_is_object(e0)) goto out;
        const char *d = json_string_value(json_object_get(e0, "detail"));
        if (!d) d = json_string_value(json_object_get(e0, "message"));
        snprintf(found->detail, sizeof found->detail, "%s", d ? d : "errors without data");
        rc = CR_X_MATCH_ERROR;
        goto out;
    }
    size_t i;
    json_t *tw;
    json_array_foreach(data, i, tw)
    {
        json_t *jid = json_object_get(tw, "id"), *jtext = json_object_get(tw, "text");
        if (!json_is_string(jid) || !json_is_string(jtext)) continue; /* also: not an object */
        const char *id = json_string_value(jid);
        size_t idl = json_string_length(jid);
        if (!s_id_ok(id, idl)) continue;
        if (memchr(json_string_value(jtext), '\0', json_string_length(jtext))) continue;
        size_t tl = 0;
        char *plain = s_unescape(json_string_value(jtext), json_string_length(jtext), &tl);
        char *fp = plain ? cr_x_fingerprint(plain, tl) : NULL;
        int same = fp && strcmp(fp, fingerprint) == 0;
        free(plain);
        if (!fp) { /* out of memory: never conclude "not there" */
            rc = CR_X_MATCH_MALFORMED;
            goto out;
        }
        free(fp);
        if (same) { /* newest first: the last match is the oldest, the first attempt's */
            memcpy(found->id, id, idl);
            found->id[idl] = '\0';
            rc = CR_X_MATCH_FOUND;
        }
    }
    if (rc == CR_X_MATCH_FOUND) goto out;
    json_t *next = meta ? json_object_get(meta, "next_token") : NULL;
    if (json_is_string(next)) {
        size_t nl = json_string_length(next);
        if (!s_page_token_ok(json_string_value(next), nl)) goto out; /* cannot follow it */
        memcpy(found->next_token, json_string_value(next), nl);
        found->next_token[nl] = '\0';
        rc = CR_X_MATCH_MORE;
    } else {
        rc = CR_X_MATCH_NONE;
    }
out:
    json_decref(root);
    return rc;
}

/* ---- requests ---------------------------------------------------------- */

/* method url with the Bearer token and the usual headers, no body yet. */
static int s_headers(const Crieur__Task *task, const char *method, const char *url,
                     cr_http_req_t *req)
{
    return cr_http_req_init(req, method, url) == 0 &&
                   cr_http_req_bearer(req, task->account->token) == 0 &&
                   cr_http_req_header(req, "User-Agent", X_USER_AGENT) == 0 &&
                   cr_http_req_header(req, "Connection", X_CONNECTION) == 0 &&
                   cr_http_req_header(req, "Accept", "application/json") == 0
               ? 0
               : -1;
}

static int s_oom(cr_http_req_t *req, cr_result_t *r)
{
    cr_http_req_clear(req);
    return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                          "out of memory building the request", "internal");
}

/* method url with the Bearer token and the usual headers; takes *body_p. */
static int s_request(const Crieur__Task *task, const char *method, const char *url,
                     char **body_p, size_t body_len, cr_http_req_t *req, cr_result_t *r)
{
    if (s_headers(task, method, url, req) != 0 ||
        (body_p && cr_http_req_body(req, "application/json", body_p, body_len) != 0))
        return s_oom(req, r);
    /* X has no idempotency: a write never rides a reused connection */
    if (strcmp(method, "GET") != 0) req->fresh_connection = 1;
    return 0;
}

static int s_bad_base(cr_result_t *r)
{
    return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                          "account api_base is not a usable http(s) URL", "bad_api_base");
}

int cr_x_media_check(const Crieur__Task *task, cr_result_t *result)
{
    char buf[200];
    if (cr_task_check_publish(task, X_MAX_TOKEN, result)) return -1;
    const Crieur__PublishPayload *pub = task->publish;
    if (pub->n_media > CR_X_MAX_MEDIA) {
        snprintf(buf, sizeof buf,
                 "the post has %zu images; X takes at most %d per tweet: remove some or split "
                 "the post",
                 pub->n_media, CR_X_MAX_MEDIA);
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, "too_many_media");
    }
    for (size_t i = 0; i < pub->n_media; i++)
        if (cr_media_source(pub->media[i]) == CR_MEDIA_BAD) {
            snprintf(buf, sizeof buf,
                     "media item %zu is neither an http(s) URL nor an absolute file path", i + 1);
            return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, "bad_media");
        }
    return 0;
}

int cr_x_upload_request(const Crieur__Task *task, const cr_media_t *media, cr_http_req_t *req,
                        cr_result_t *result)
{
    if (cr_task_check_publish(task, X_MAX_TOKEN, result)) return -1;
    if (!media || !media->data || !media->mime)
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "upload without an image", "internal");
    char *url = cr_api_url(task->account->api_base, X_UPLOAD_PATH, X_MAX_URL);
    if (!url) return s_bad_base(result);
    int rc = s_headers(task, "POST", url, req);
    free(url);
    if (rc != 0) return s_oom(req, result);
    cr_multipart_t mp;
    cr_multipart_init(&mp);
    cr_multipart_file(&mp, "media", media->name, media->mime, media->data, media->len);
    cr_multipart_field(&mp, "media_category", X_MEDIA_CATEGORY);
    if (cr_multipart_finish(&mp, req) != 0) return s_oom(req, result);
    req->fresh_connection = 1; /* a write: like every write to X */
    return 0;
}

int cr_x_publish_request(const Crieur__Task *task, const char *const *media_ids, size_t n_ids,
                         cr_http_req_t *req, cr_result_t *result)
{
    char *url = NULL, *text = NULL, *body = NULL;
    json_t *obj = NULL;
    int rc = -1;
    if (cr_x_media_check(task, result)) return -1;
    const Crieur__PublishPayload *pub = task->publish;
    if (n_ids != pub->n_media || (n_ids && !media_ids)) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                       "publishing before every image was uploaded", "internal");
        goto out;
    }
    for (size_t i = 0; i < n_ids; i++)
        if (!media_ids[i] || !s_id_ok(media_ids[i], strlen(media_ids[i]))) {
            cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                           "an uploaded image has no usable media id", "internal");
            goto out;
        }
    url = cr_api_url(task->account->api_base, X_TWEETS_PATH, X_MAX_URL);
    if (!url) {
        s_bad_base(result);
        goto out;
    }
    const char *reply = s_str(pub->in_reply_to);
    if (reply[0] && !s_id_ok(reply, strlen(reply))) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                       "in_reply_to is not an X tweet id (decimal digits)", "bad_reply_to");
        goto out;
    }
    size_t tl = 0;
    text = cr_x_post_text(task, &tl);
    obj = json_object();
    if (!text || !obj) goto oom;
    json_t *jtext = json_stringn(text, tl); /* NULL if not valid UTF-8 */
    if (!jtext || json_object_set_new(obj, "text", jtext)) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "post text is not valid UTF-8",
                       "bad_text");
        goto out;
    }
    if (reply[0]) {
        json_t *r = json_pack("{s:s}", "in_reply_to_tweet_id", reply);
        if (!r || json_object_set_new(obj, "reply", r)) goto oom;
    }
    if (n_ids > 0) {
        json_t *ids = json_array();
        json_t *m = ids ? json_pack("{s:o}", "media_ids", ids) : NULL;
        if (!m || json_object_set_new(obj, "media", m)) goto oom;
        for (size_t i = 0; i < n_ids; i++)
            if (json_array_append_new(ids, json_string(media_ids[i]))) goto oom;
    }
    size_t bl = json_dumpb(obj, NULL, 0, JSON_COMPACT);
    if (bl == 0) goto oom;
    body = malloc(bl);
    if (!body || json_dumpb(obj, body, bl, JSON_COMPACT) != bl) goto oom;
    rc = s_request(task, "POST", url, &body, bl, req, result);
    goto out;
oom:
    cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "out of memory building the request",
                   "internal");
out:
    json_decref(obj);
    free(body);
    free(text);
    free(url);
    return rc;
}

int cr_x_me_request(const Crieur__Task *task, cr_http_req_t *req, cr_result_t *result)
{
    if (cr_task_check_publish(task, X_MAX_TOKEN, result)) return -1;
    char *url = cr_api_url(task->account->api_base, X_ME_PATH, X_MAX_URL);
    if (!url) return s_bad_base(result);
    int rc = s_request(task, "GET", url, NULL, 0, req, result);
    free(url);
    return rc;
}

/* data.id of a users/me or a tweet creation answer. */
int cr_x_me_user_id(const char *body, size_t len, char *id)
{
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *data = json_is_object(root) ? json_object_get(root, "data") : NULL;
    json_t *jid = json_is_object(data) ? json_object_get(data, "id") : NULL;
    int rc = -1;
    if (json_is_string(jid) && s_id_ok(json_string_value(jid), json_string_length(jid))) {
        memcpy(id, json_string_value(jid), json_string_length(jid) + 1);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

int cr_x_timeline_request(const Crieur__Task *task, const char *user_id, const char *token,
                          int64_t now_ms, cr_http_req_t *req, cr_result_t *result)
{
    if (cr_task_check_publish(task, X_MAX_TOKEN, result)) return -1;
    if (!user_id || !s_id_ok(user_id, strlen(user_id)))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "read-back without a user id", "internal");
    if (token && !s_page_token_ok(token, strlen(token)))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "read-back with an unusable pagination token", "internal");
    /* From an hour before the task was due, to the second (X's format). */
    int64_t due = task->due_ms > 0 ? task->due_ms : now_ms;
    int64_t from = due - X_RECONCILE_WINDOW_MS;
    if (from < 0) from = 0;
    char when[40];
    if (cr_time_format_iso8601(from - from % 1000, when, sizeof when))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "bad read-back time",
                              "internal");
    char *dot = strchr(when, '.');
    if (dot) memcpy(dot, "Z", 2); /* "YYYY-MM-DDTHH:MM:SSZ" */
    char path[512];
    int n = snprintf(path, sizeof path, X_USERS_PATH "%s" X_TIMELINE_PATH X_TIMELINE_QUERY "%s%s",
                     user_id, when, token ? X_PAGINATION_PARAM : "", token ? token : "");
    if (n < 0 || (size_t)n >= sizeof path)
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "read-back URL too long",
                              "internal");
    char *url = cr_api_url(task->account->api_base, path, X_MAX_URL);
    if (!url) return s_bad_base(result);
    int rc = s_request(task, "GET", url, NULL, 0, req, result);
    free(url);
    return rc;
}

/* ---- responses --------------------------------------------------------- */

/* Epoch seconds in a header, as unix ms; -1 if absent or not a number. */
static int64_t s_epoch_header(const cr_http_resp_t *resp, const char *name)
{
    char v[32];
    long n = cr_http_header(resp, name, v, sizeof v);
    if (n <= 0 || n > 12) return -1;
    int64_t s = 0;
    for (long i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        s = s * 10 + (v[i] - '0');
    }
    return s * 1000;
}

/* When to try again after a 429: the window's reset, or the daily cap's when
 * that one is spent; clamped to [now + 1 s, now + 24 h]. */
static int64_t s_retry_at(const cr_http_resp_t *resp, int64_t now_ms)
{
    int64_t at = s_epoch_header(resp, X_RESET_HEADER);
    char rem[16];
    long rl = cr_http_header(resp, X_DAY_REMAINING_HEADER, rem, sizeof rem);
    if (rl == 1 && rem[0] == '0') {
        int64_t day = s_epoch_header(resp, X_DAY_RESET_HEADER);
        if (day > at) at = day;
    }
    if (at < 0) return now_ms + X_RETRY_DEFAULT_MS;
    if (at < now_ms + X_RETRY_MIN_MS) at = now_ms + X_RETRY_MIN_MS;
    if (at > now_ms + X_RETRY_MAX_MS) at = now_ms + X_RETRY_MAX_MS;
    return at;
}

/* The platform's words for an error: the problem's detail (with errors[0]'s
 * message when it says more), else its title or message, else the status
 * line. code: the problem type's name, else the HTTP status. */
static void s_error_of(const cr_http_resp_t *resp, char *buf, size_t len, char *code,
                       size_t codelen)
{
    json_t *root = NULL;
    if (resp->body && resp->body_len > 0) root = json_loadb(resp->body, resp->body_len, 0, NULL);
    json_t *e0 = json_is_object(root) ? json_array_get(json_object_get(root, "errors"), 0) : NULL;
    const char *detail = json_string_value(json_object_get(root, "detail"));
    const char *title = json_string_value(json_object_get(root, "title"));
    const char *type = json_string_value(json_object_get(root, "type"));
    const char *msg = json_string_value(json_object_get(e0, "message"));
    if (detail && !detail[0]) detail = NULL;
    if (msg && !msg[0]) msg = NULL;
    if (detail && msg && strcmp(detail, msg) != 0) {
        size_t dl = strlen(detail);
        int punct = dl > 0 && strchr(".!?", detail[dl - 1]);
        snprintf(buf, len, "%s%s%s", detail, punct ? " " : ": ", msg);
    } else if (detail || msg || (title && title[0])) {
        snprintf(buf, len, "%s", detail ? detail : msg ? msg : title);
    } else {
        cr_status_text(resp, buf, len);
    }
    const char *name = type ? strstr(type, X_PROBLEMS_MARK) : NULL;
    if (name) name += strlen(X_PROBLEMS_MARK);
    size_t nl = name ? strlen(name) : 0;
    int name_ok = nl > 0 && nl < codelen;
    for (size_t i = 0; name_ok && i < nl; i++)
        name_ok = (name[i] >= 'a' && name[i] <= 'z') || name[i] == '-';
    if (name_ok) snprintf(code, codelen, "%s", name);
    else snprintf(code, codelen, "%ld", resp->status);
    json_decref(root);
}

/* OK with the tweet's id and its URL https://x.com/<handle>/status/<id>. */
static void s_ok(cr_result_t *r, const char *handle, const char *id)
{
    char url[160];
    const char *h = s_str(handle);
    while (*h == '@') h++;
    size_t hl = strlen(h);
    int h_ok = hl > 0 && hl <= X_MAX_HANDLE;
    for (size_t i = 0; h_ok && i < hl; i++)
        h_ok = (h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
               (h[i] >= '0' && h[i] <= '9') || h[i] == '_';
    snprintf(url, sizeof url, X_WEB_BASE "%s" X_WEB_STATUS "%s", h_ok ? h : X_WEB_ANY_USER, id);
    r->outcome = CRIEUR__OUTCOME__OUTCOME_OK;
    cr_result_field(&r->platform_post_id, id, strlen(id), CR_FIELD_MAX_BYTES);
    cr_result_field(&r->url, url, strlen(url), CR_FIELD_MAX_BYTES);
}

void cr_x_publish_result(const cr_http_resp_t *resp, const char *handle, int64_t now_ms,
                         cr_result_t *r)
{
    char buf[1024], code[48];
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;

    if (resp->curl_code != 0 || resp->too_large) {
        const char *err = resp->too_large ? "response too large"
                          : resp->error && resp->error[0]
                              ? resp->error
                              : curl_easy_strerror((CURLcode)resp->curl_code);
        if (resp->too_large) snprintf(code, sizeof code, "too_large");
        else snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        if (!resp->too_large && (!resp->sent || cr_http_code_before_send(resp->curl_code))) {
            snprintf(buf, sizeof buf, "platform not reached: %s", err);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        } else {
            /* Sent, answer lost: X may have published it, and has no
             * idempotency. The broker reconciles before the next attempt. */
            snprintf(buf, sizeof buf, "no usable answer after the request was sent: %s", err);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, code);
        }
        return;
    }

    long st = resp->status;
    if (st >= 200 && st <= 299) {
        char id[CR_X_ID_MAX + 1];
        if (cr_x_me_user_id(resp->body, resp->body_len, id)) /* the same shape: data.id */
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "malformed success response",
                          "malformed_success");
        else
            s_ok(r, handle, id);
        return;
    }
    s_error_of(resp, buf, sizeof buf, code, sizeof code);
    if (st == 401) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
    } else if (st == 403 && strstr(buf, X_DUPLICATE_DETAIL)) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, X_CODE_DUPLICATE);
    } else if (st == 429) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = s_retry_at(resp, now_ms);
    } else if (st == 408) {
        /* request not read in time */
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
    } else if (st >= 500 && st <= 599) {
        /* The request reached X and X failed after it: X is known to create
         * the tweet and still answer 5xx. Without idempotency that is an
         * unknown outcome, retried the same way as TRANSIENT but after
         * reading back, never blindly. */
        char more[1100];
        snprintf(more, sizeof more, "%s (the tweet may have been created)", buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, more, code);
    } else if (st >= 300 && st <= 499) {
        /* 400 validation, 403 forbidden, other refusals; a redirect means a
         * wrong api_base, before the application. */
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
    } else {
        char more[1100];
        snprintf(more, sizeof more, "unexpected answer (%s)", buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, more, code);
    }
}

void cr_x_readback_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *r)
{
    char buf[1024], code[48], stext[96], why[1400];
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    if (resp->curl_code != 0 || resp->too_large) {
        /* A read changes nothing: retry, still reconciling. */
        snprintf(buf, sizeof buf, "reading the account back failed: %s",
                 resp->too_large ? "response too large"
                 : resp->error && resp->error[0]
                     ? resp->error
                     : curl_easy_strerror((CURLcode)resp->curl_code));
        if (resp->too_large) snprintf(code, sizeof code, "too_large");
        else snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        return;
    }
    long st = resp->status;
    s_error_of(resp, buf, sizeof buf, code, sizeof code);
    if (st == 401) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
    } else if (st == 429) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = s_retry_at(resp, now_ms);
    } else if (st == 408 || (st >= 500 && st <= 599)) {
        snprintf(why, sizeof why, "reading the account back failed: %s", buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, why, code);
    } else if (st >= 200 && st <= 299) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                      "reading the account back failed: malformed answer", "malformed_readback");
    } else {
        /* 403 (an app without read access), 400, 404, redirects: the outcome
         * of the earlier attempt stays unknown and publishing again could
         * duplicate the post. */
        cr_status_text(resp, stext, sizeof stext);
        snprintf(why, sizeof why,
                 "the outcome of an earlier attempt is unknown and the account cannot be read "
                 "back (%s: %s): a human must check whether the post is on X; it was not "
                 "published again",
                 stext, buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, why,
                      st == 403 ? X_CODE_READBACK_FORBIDDEN : X_CODE_READBACK_REFUSED);
    }
}

int cr_x_upload_result(const cr_http_resp_t *resp, int64_t now_ms, char *id, cr_result_t *r)
{
    char buf[1024], code[48], why[1200];
    cr_result_clear(r);
    id[0] = '\0';
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    if (resp->curl_code != 0 || resp->too_large) {
        /* An upload is not a post: whatever happened, nothing was published. */
        snprintf(buf, sizeof buf, "uploading an image failed: %s (nothing was published)",
                 resp->too_large ? "response too large"
                 : resp->error && resp->error[0]
                     ? resp->error
                     : curl_easy_strerror((CURLcode)resp->curl_code));
        if (resp->too_large) snprintf(code, sizeof code, "too_large");
        else snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
    }
    long st = resp->status;
    if (st >= 200 && st <= 299) {
        if (cr_x_me_user_id(resp->body, resp->body_len, id) == 0) return 0; /* data.id */
        id[0] = '\0';
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                      "X answered the image upload without a usable data.id (nothing was "
                      "published)",
                      "malformed_upload");
        return -1;
    }
    s_error_of(resp, buf, sizeof buf, code, sizeof code);
    if (st == 401) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
    } else if (st == 429) {
        snprintf(why, sizeof why, "image uploads are rate limited: %s", buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, why, code);
        r->retry_at_ms = s_retry_at(resp, now_ms);
    } else if (st == 408 || (st >= 500 && st <= 599)) {
        snprintf(why, sizeof why, "uploading an image failed: %s (nothing was published)", buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, why, code);
    } else {
        /* 400 (not an image X takes, too large), 403, 413, 415, redirects */
        snprintf(why, sizeof why, "X refused the image: %s", buf);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, why, code);
    }
    return -1;
}

/* ---- adapter ----------------------------------------------------------- */

enum { S_START = 0, S_ME_SENT, S_TIMELINE_SENT, S_FETCH_SENT, S_UPLOAD_SENT, S_PUBLISH_SENT };

typedef struct {
    char user_id[CR_X_ID_MAX + 1];
    char *fingerprint; /* of the text this task publishes */
    int pages;         /* timeline pages read */
    size_t n_ids;      /* images uploaded so far */
    char ids[CR_X_MAX_MEDIA][CR_X_ID_MAX + 1];
} s_state_t;

static void s_release(cr_call_t *call)
{
    s_state_t *st = call->state;
    if (st) free(st->fingerprint);
    free(st);
    call->state = NULL;
}

static s_state_t *s_state(cr_call_t *call)
{
    if (!call->state) call->state = calloc(1, sizeof(s_state_t));
    return call->state;
}

/* Uploads m (and releases it): the next request. */
static int s_upload(cr_call_t *call, cr_media_t *m)
{
    int rc = cr_x_upload_request(call->task, m, &call->req, &call->result);
    cr_media_clear(m);
    if (rc) return CR_STEP_DONE;
    call->step = S_UPLOAD_SENT;
    return CR_STEP_REQUEST;
}

/* The next image to upload, or the tweet once every image has its id. */
static int s_publish(cr_call_t *call)
{
    const Crieur__Task *t = call->task;
    size_t n_media = t->publish ? t->publish->n_media : 0;
    s_state_t *st = n_media ? s_state(call) : call->state;
    if (n_media && !st) return -1;
    if (n_media && st->n_ids == 0 && cr_x_media_check(t, &call->result)) return CR_STEP_DONE;
    if (st && st->n_ids < n_media) {
        const char *ref = t->publish->media[st->n_ids];
        if (cr_media_source(ref) == CR_MEDIA_URL) {
            if (cr_media_fetch_request(&call->req, ref, CR_X_MEDIA_MAX_BYTES, &call->result))
                return CR_STEP_DONE;
            call->step = S_FETCH_SENT;
            return CR_STEP_REQUEST;
        }
        cr_media_t m;
        if (cr_media_load_file(ref, CR_X_MEDIA_MAX_BYTES, &m, &call->result)) return CR_STEP_DONE;
        return s_upload(call, &m);
    }
    const char *ids[CR_X_MAX_MEDIA];
    for (size_t i = 0; st && i < st->n_ids && i < CR_X_MAX_MEDIA; i++) ids[i] = st->ids[i];
    if (cr_x_publish_request(t, ids, st ? st->n_ids : 0, &call->req, &call->result))
        return CR_STEP_DONE;
    call->step = S_PUBLISH_SENT;
    return CR_STEP_REQUEST;
}

static int s_readback_ok(const cr_http_resp_t *prev)
{
    return prev->curl_code == 0 && !prev->too_large && prev->status >= 200 && prev->status <= 299;
}

static int s_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    const Crieur__Task *t = call->task;
    s_state_t *st = call->state;
    char buf[512];
    switch (call->step) {
    case S_START:
        if (t->kind != CRIEUR__JOB_KIND__KIND_PUBLISH)
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "x adapter does not handle this job kind", "unsupported_kind");
        /* also the account and payload: a post that can never be sent stops here */
        if (cr_x_media_check(t, &call->result)) return CR_STEP_DONE;
        if (!t->reconcile) return s_publish(call);
        /* An earlier attempt may have published it: look before publishing. */
        st = s_state(call);
        if (!st) return -1;
        size_t tl = 0;
        char *text = cr_x_post_text(t, &tl);
        st->fingerprint = text ? cr_x_fingerprint(text, tl) : NULL;
        free(text);
        if (!st->fingerprint) return -1;
        if (!st->fingerprint[0])
            /* images only: X shows such a tweet as its media links, which
             * the fingerprint leaves out: any image-only tweet would match */
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, 0,
                                "the outcome of an earlier attempt is unknown and a post without "
                                "text cannot be recognised by reading the account back: a human "
                                "must check whether the post is on X; it was not published again",
                                X_CODE_READBACK_REFUSED);
        if (cr_x_me_request(t, &call->req, &call->result)) return CR_STEP_DONE;
        call->step = S_ME_SENT;
        return CR_STEP_REQUEST;
    case S_ME_SENT:
        if (!prev || !st) return -1;
        if (!s_readback_ok(prev)) {
            cr_x_readback_result(prev, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        if (cr_x_me_user_id(prev->body, prev->body_len, st->user_id))
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, (int)prev->status,
                                "reading the account back failed: users/me answered without "
                                "a user id",
                                "malformed_readback");
        if (cr_x_timeline_request(t, st->user_id, NULL, call->now_ms, &call->req, &call->result))
            return CR_STEP_DONE;
        call->step = S_TIMELINE_SENT;
        return CR_STEP_REQUEST;
    case S_TIMELINE_SENT: {
        if (!prev || !st) return -1;
        if (!s_readback_ok(prev)) {
            cr_x_readback_result(prev, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        cr_x_found_t found;
        switch (cr_x_match(prev->body, prev->body_len, st->fingerprint, &found)) {
        case CR_X_MATCH_FOUND:
            /* Published by the earlier attempt: its tweet, no second POST. The
             * note also reaches the attempt's detail while Result.reconciled
             * is not forwarded by the runtime. */
            cr_result_clear(&call->result);
            s_ok(&call->result, t->account->handle, found.id);
            call->result.reconciled = 1;
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_OK, (int)prev->status,
                                X_FOUND_DETAIL, NULL);
        case CR_X_MATCH_NONE:
            return s_publish(call);
        case CR_X_MATCH_MORE:
            if (++st->pages >= X_RECONCILE_MAX_PAGES) {
                snprintf(buf, sizeof buf,
                         "the outcome of an earlier attempt is unknown and the account has "
                         "more than %d tweets in the read-back window: a human must check "
                         "whether the post is on X; it was not published again",
                         X_RECONCILE_MAX_PAGES * 100);
                return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, (int)prev->status,
                                    buf, X_CODE_READBACK_TOO_MANY);
            }
            if (cr_x_timeline_request(t, st->user_id, found.next_token, call->now_ms, &call->req,
                                      &call->result))
                return CR_STEP_DONE;
            return CR_STEP_REQUEST;
        case CR_X_MATCH_ERROR:
            snprintf(buf, sizeof buf,
                     "the outcome of an earlier attempt is unknown and the account cannot be "
                     "read back (%s): a human must check whether the post is on X; it was not "
                     "published again",
                     found.detail);
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, (int)prev->status, buf,
                                X_CODE_READBACK_REFUSED);
        case CR_X_MATCH_MALFORMED:
            break;
        }
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, (int)prev->status,
                            "reading the account back failed: malformed timeline answer",
                            "malformed_readback");
    }
    case S_FETCH_SENT: {
        if (!prev || !st || st->n_ids >= t->publish->n_media) return -1;
        cr_media_t m;
        if (cr_media_from_response(prev, t->publish->media[st->n_ids], CR_X_MEDIA_MAX_BYTES, &m,
                                   &call->result))
            return CR_STEP_DONE;
        return s_upload(call, &m);
    }
    case S_UPLOAD_SENT:
        if (!prev || !st || st->n_ids >= CR_X_MAX_MEDIA) return -1;
        if (cr_x_upload_result(prev, call->now_ms, st->ids[st->n_ids], &call->result))
            return CR_STEP_DONE;
        st->n_ids++;
        return s_publish(call);
    case S_PUBLISH_SENT:
        if (!prev) return -1;
        cr_x_publish_result(prev, t->account ? t->account->handle : NULL, call->now_ms,
                            &call->result);
        return CR_STEP_DONE;
    default:
        return -1;
    }
}

const cr_adapter_t cr_x_adapter = {
    .platform = "x",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
    .step = s_step,
    .release = s_release,
};
