#include "cr_mastodon.h"

#include "cr_media.h"
#include "cr_settings.h"
#include "cr_text.h"
#include "cr_time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every Mastodon-specific constant lives here. */
#define MASTODON_STATUSES_PATH "/api/v1/statuses"
#define MASTODON_USER_AGENT "crieur/0.1"
#define MASTODON_RESET_HEADER "X-RateLimit-Reset"
#define MASTODON_DEFAULT_VISIBILITY "public"
#define MASTODON_RETRY_DEFAULT_MS 60000LL      /* 429 without a usable reset */
#define MASTODON_RETRY_MIN_MS 1000LL           /* a reset in the past: wait a little anyway */
#define MASTODON_RETRY_MAX_MS (24LL * 3600000) /* never defer an account longer on one header */
#define MASTODON_MAX_URL 2048
#define MASTODON_MAX_TOKEN 4096
#define MASTODON_MAX_KEY 256
#define MASTODON_MAX_ID 128
#define MASTODON_MEDIA_PATH "/api/v2/media"      /* upload: 200 processed, 202 processing */
#define MASTODON_MEDIA_GET_PATH "/api/v1/media/" /* poll: 206 processing, 200 processed */
#define MASTODON_MEDIA_FIELD "file"
/* settings (cr_settings, platform "mastodon"), with their defaults */
#define MASTODON_MAX_MEDIA_DEFAULT 4 /* max_media: the instance's max_media_attachments */
#define MASTODON_MEDIA_POLL_MS_DEFAULT 1000     /* media_poll_ms */
#define MASTODON_MEDIA_MAX_POLLS_DEFAULT 60     /* media_max_polls */
#define MASTODON_IMAGE_MAX_BYTES_DEFAULT (16LL * 1024 * 1024) /* image_max_bytes (16 MiB) */

static const char *const s_visibilities[] = {"public", "unlisted", "private", "direct", NULL};

static const char *s_str(const char *s)
{
    return s ? s : "";
}

/* ---- request ----------------------------------------------------------- */

int cr_mastodon_publish_request(const Crieur__Task *task, cr_http_req_t *req, cr_result_t *result)
{
    return cr_mastodon_status_request(task, NULL, 0, req, result);
}

int cr_mastodon_status_request(const Crieur__Task *task, const char *const *media_ids,
                               size_t n_ids, cr_http_req_t *req, cr_result_t *result)
{
    const Crieur__Account *acc = task->account;
    const Crieur__PublishPayload *pub =
        task->payload_case == CRIEUR__TASK__PAYLOAD_PUBLISH ? task->publish : NULL;
    char *url = NULL, *text = NULL, *body = NULL;
    json_t *obj = NULL;
    int rc = -1;

    if (!acc || !pub) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                       "publish task without account or payload", "bad_task");
        goto out;
    }
    if (pub->n_media != n_ids) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                       "the post's media were not uploaded before the status (adapter bug)",
                       "internal");
        goto out;
    }
    url = cr_api_url(s_str(acc->api_base), MASTODON_STATUSES_PATH, MASTODON_MAX_URL);
    if (!url) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                       "account api_base is not a usable http(s) URL", "bad_api_base");
        goto out;
    }
    if (!cr_text_token_ok(s_str(acc->token), MASTODON_MAX_TOKEN)) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED,
                       "account has no usable access token", "no_token");
        goto out;
    }
    char key[MASTODON_MAX_KEY + 1];
    if (pub->idempotency_key && pub->idempotency_key[0]) {
        if (!cr_text_token_ok(pub->idempotency_key, MASTODON_MAX_KEY)) {
            cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                           "post idempotency key is not usable in a header", "bad_idempotency_key");
            goto out;
        }
        snprintf(key, sizeof key, "%s", pub->idempotency_key);
    } else if (pub->post_id > 0) {
        /* Deterministic across attempts, so retries stay safe. */
        snprintf(key, sizeof key, "crieur-post-%lld", (long long)pub->post_id);
    } else {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "post has no idempotency key",
                       "bad_idempotency_key");
        goto out;
    }
    const char *vis = pub->visibility && pub->visibility[0] ? pub->visibility
                                                            : MASTODON_DEFAULT_VISIBILITY;
    int vis_ok = 0;
    for (size_t i = 0; s_visibilities[i]; i++) vis_ok |= strcmp(vis, s_visibilities[i]) == 0;
    if (!vis_ok) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                       "visibility must be public, unlisted, private or direct", "bad_visibility");
        goto out;
    }

    size_t tl = 0;
    text = cr_text_compose(pub->body, pub->link, 1, &tl);
    obj = json_object();
    if (!text || !obj) goto oom;
    json_t *status = json_stringn(text, tl); /* NULL if not valid UTF-8 */
    if (!status || json_object_set_new(obj, "status", status)) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "post text is not valid UTF-8",
                       "bad_text");
        goto out;
    }
    if (json_object_set_new(obj, "visibility", json_string(vis))) goto oom;
    if (pub->language && pub->language[0] &&
        json_object_set_new(obj, "language", json_string(pub->language))) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "language is not valid UTF-8",
                       "bad_language");
        goto out;
    }
    if (pub->in_reply_to && pub->in_reply_to[0] &&
        json_object_set_new(obj, "in_reply_to_id", json_string(pub->in_reply_to))) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "in_reply_to is not valid UTF-8",
                       "bad_reply_to");
        goto out;
    }
    if (n_ids > 0) {
        json_t *ids = json_array();
        if (!ids || json_object_set_new(obj, "media_ids", ids)) goto oom;
        for (size_t i = 0; i < n_ids; i++) {
            if (!media_ids[i] || !cr_text_token_ok(media_ids[i], MASTODON_MAX_ID)) {
                cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                               "unusable media id from the upload", "internal");
                goto out;
            }
            if (json_array_append_new(ids, json_string(media_ids[i]))) goto oom;
        }
    }
    size_t bl = json_dumpb(obj, NULL, 0, JSON_COMPACT);
    if (bl == 0) goto oom;
    body = malloc(bl);
    if (!body || json_dumpb(obj, body, bl, JSON_COMPACT) != bl) goto oom;

    if (cr_http_req_init(req, "POST", url) || cr_http_req_bearer(req, acc->token) ||
        cr_http_req_header(req, "Idempotency-Key", key) ||
        cr_http_req_header(req, "User-Agent", MASTODON_USER_AGENT) ||
        cr_http_req_header(req, "Accept", "application/json") ||
        cr_http_req_body(req, "application/json", &body, bl))
        goto oom;
    rc = 0;
    goto out;
oom:
    cr_http_req_clear(req);
    cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "out of memory building the request",
                   "internal");
out:
    json_decref(obj);
    free(body);
    free(text);
    free(url);
    return rc;
}

/* ---- response ---------------------------------------------------------- */

/* The platform's {"error": "..."} text, if the body is such an object. */
static const char *s_json_error(json_t *root, size_t *len)
{
    json_t *e = json_is_object(root) ? json_object_get(root, "error") : NULL;
    if (!json_is_string(e) || json_string_length(e) == 0) return NULL;
    *len = json_string_length(e);
    return json_string_value(e);
}

/* A usable status id: short printable ASCII without spaces. */
static const char *s_json_id(json_t *root)
{
    json_t *id = json_is_object(root) ? json_object_get(root, "id") : NULL;
    if (!json_is_string(id)) return NULL;
    size_t n = json_string_length(id);
    const char *s = json_string_value(id);
    if (n == 0 || n > MASTODON_MAX_ID || strlen(s) != n) return NULL;
    return cr_text_token_ok(s, MASTODON_MAX_ID) ? s : NULL;
}

static const char *s_json_url(json_t *root, size_t *len)
{
    static const char *const keys[] = {"url", "uri"};
    for (size_t i = 0; i < 2; i++) {
        json_t *u = json_is_object(root) ? json_object_get(root, keys[i]) : NULL;
        if (json_is_string(u) && json_string_length(u) > 0) {
            *len = json_string_length(u);
            return json_string_value(u);
        }
    }
    return NULL;
}

static int64_t s_retry_at(const cr_http_resp_t *resp, int64_t now_ms)
{
    char value[128];
    int64_t at;
    long n = cr_http_header(resp, MASTODON_RESET_HEADER, value, sizeof value);
    if (n <= 0 || (size_t)n >= sizeof value || cr_time_parse_iso8601(value, &at))
        return now_ms + MASTODON_RETRY_DEFAULT_MS;
    if (at < now_ms + MASTODON_RETRY_MIN_MS) at = now_ms + MASTODON_RETRY_MIN_MS;
    if (at > now_ms + MASTODON_RETRY_MAX_MS) at = now_ms + MASTODON_RETRY_MAX_MS;
    return at;
}

static void s_set(cr_result_t *r, Crieur__Outcome outcome, const char *error, size_t elen,
                  const char *code)
{
    r->outcome = outcome;
    if (error) cr_result_field(&r->error, error, elen, CR_ERROR_MAX_BYTES);
    if (code) cr_result_field(&r->error_code, code, strlen(code), CR_FIELD_MAX_BYTES);
}

void cr_mastodon_publish_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *r)
{
    char buf[CR_ERROR_MAX_BYTES + 1], code[32];
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;

    if (resp->too_large) {
        snprintf(buf, sizeof buf, "response too large (body over %u KiB or headers over %u KiB)",
                 CR_HTTP_MAX_BODY_BYTES / 1024u, CR_HTTP_MAX_HEADER_BYTES / 1024u);
        s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, strlen(buf), "too_large");
        return;
    }
    if (resp->curl_code != 0) {
        snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        const char *err = resp->error && resp->error[0] ? resp->error
                                                        : curl_easy_strerror(resp->curl_code);
        if (!resp->sent || cr_http_code_before_send(resp->curl_code)) {
            snprintf(buf, sizeof buf, "platform not reached: %s", err);
            s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, strlen(buf), code);
        } else {
            /* Sent, answer lost: Mastodon may have published it. The broker
             * retries with the same Idempotency-Key, which is safe. */
            snprintf(buf, sizeof buf, "no answer after the request was sent: %s", err);
            s_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, strlen(buf), code);
        }
        return;
    }

    long st = resp->status;
    json_t *root = NULL;
    if (resp->body && resp->body_len > 0) root = json_loadb(resp->body, resp->body_len, 0, NULL);
    size_t elen = 0;
    const char *perr = s_json_error(root, &elen);
    char stext[96];
    cr_status_text(resp, stext, sizeof stext);
    if (!perr) {
        perr = stext;
        elen = strlen(stext);
    }
    snprintf(code, sizeof code, "%ld", st);

    if (st >= 200 && st <= 299) {
        const char *id = s_json_id(root);
        if (!id) {
            s_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "malformed success response",
                  strlen("malformed success response"), "malformed_success");
        } else {
            size_t ul = 0;
            const char *url = s_json_url(root, &ul);
            r->outcome = CRIEUR__OUTCOME__OUTCOME_OK;
            cr_result_field(&r->platform_post_id, id, strlen(id), CR_FIELD_MAX_BYTES);
            if (url) cr_result_field(&r->url, url, ul, CR_FIELD_MAX_BYTES);
        }
    } else if (st == 401) {
        s_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, perr, elen, code);
    } else if (st == 429) {
        s_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, perr, elen, code);
        r->retry_at_ms = s_retry_at(resp, now_ms);
    } else if (st == 408 || (st >= 500 && st <= 599)) {
        s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, perr, elen, code);
    } else if (st >= 400 && st <= 499) {
        s_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, perr, elen, code);
    } else if (st >= 300 && st <= 399) {
        /* Mastodon never redirects this call: a proxy in front of a wrong
         * api_base (http vs https, old domain) did, before the application. */
        char loc[256];
        long ll = cr_http_header(resp, "Location", loc, sizeof loc);
        snprintf(buf, sizeof buf, "unexpected redirect (%s)%s%s: check the account's api_base",
                 stext, ll > 0 ? " to " : "", ll > 0 ? loc : "");
        s_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, strlen(buf), code);
    } else {
        snprintf(buf, sizeof buf, "unexpected answer (%s)", stext);
        s_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, strlen(buf), code);
    }
    json_decref(root);
}

/* ---- media ------------------------------------------------------------- */

static int s_media_url(const Crieur__Task *task, const char *path, const char *id,
                       cr_http_req_t *req, const char *method, cr_result_t *r)
{
    const Crieur__Account *acc = task->account;
    char full[MASTODON_MAX_ID + 64];
    snprintf(full, sizeof full, "%s%s", path, id ? id : "");
    char *url = acc ? cr_api_url(s_str(acc->api_base), full, MASTODON_MAX_URL) : NULL;
    if (!url)
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "account api_base is not a usable http(s) URL", "bad_api_base");
    if (!cr_text_token_ok(s_str(acc->token), MASTODON_MAX_TOKEN)) {
        free(url);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED,
                              "account has no usable access token", "no_token");
    }
    int rc = cr_http_req_init(req, method, url) || cr_http_req_bearer(req, acc->token) ||
             cr_http_req_header(req, "User-Agent", MASTODON_USER_AGENT) ||
             cr_http_req_header(req, "Accept", "application/json");
    free(url);
    if (rc) {
        cr_http_req_clear(req);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "out of memory building the request", "internal");
    }
    return 0;
}

int cr_mastodon_media_request(const Crieur__Task *task, const cr_media_t *m, cr_http_req_t *req,
                              cr_result_t *r)
{
    if (!m || !m->data || !m->mime)
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "no image to upload",
                              "internal");
    if (s_media_url(task, MASTODON_MEDIA_PATH, NULL, req, "POST", r)) return -1;
    cr_multipart_t mp;
    cr_multipart_init(&mp);
    cr_multipart_file(&mp, MASTODON_MEDIA_FIELD, m->name, m->mime, m->data, m->len);
    if (cr_multipart_finish(&mp, req)) {
        cr_http_req_clear(req);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "out of memory building the media upload", "internal");
    }
    return 0;
}

int cr_mastodon_media_poll_request(const Crieur__Task *task, const char *media_id,
                                   cr_http_req_t *req, cr_result_t *r)
{
    if (!media_id || !cr_text_token_ok(media_id, MASTODON_MAX_ID) || strchr(media_id, '/') ||
        strchr(media_id, '?') || strchr(media_id, '#') || strchr(media_id, '%'))
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "unusable media id from the upload", "media_malformed");
    return s_media_url(task, MASTODON_MEDIA_GET_PATH, media_id, req, "GET", r);
}

int cr_mastodon_media_result(const cr_http_resp_t *resp, int64_t now_ms, char *id, size_t idcap,
                             int *processing, cr_result_t *r)
{
    char buf[CR_ERROR_MAX_BYTES + 1], code[32];
    cr_result_clear(r);
    *processing = 0;
    if (idcap) id[0] = '\0';
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    /* Nothing is published before the status: every failure here is at
     * worst TRANSIENT (a retry uploads again). */
    if (resp->too_large) {
        s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "media answer too large",
              strlen("media answer too large"), "too_large");
        return -1;
    }
    if (resp->curl_code != 0) {
        snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        snprintf(buf, sizeof buf, "media upload failed: %s (nothing was published)",
                 resp->error && resp->error[0] ? resp->error
                                               : curl_easy_strerror(resp->curl_code));
        s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, strlen(buf), code);
        return -1;
    }
    long st = resp->status;
    json_t *root = NULL;
    if (resp->body && resp->body_len > 0) root = json_loadb(resp->body, resp->body_len, 0, NULL);
    size_t elen = 0;
    const char *perr = s_json_error(root, &elen);
    char stext[96];
    cr_status_text(resp, stext, sizeof stext);
    snprintf(code, sizeof code, "%ld", st);
    snprintf(buf, sizeof buf, "media upload: %.*s", perr ? (int)(elen > 400 ? 400 : elen) : 96,
             perr ? perr : stext);
    int rc = -1;
    if (st == 200 || st == 202 || st == 206) {
        const char *mid = s_json_id(root);
        json_t *u = json_is_object(root) ? json_object_get(root, "url") : NULL;
        if (!mid || strlen(mid) >= idcap) {
            s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "malformed media answer (no usable id)",
                  strlen("malformed media answer (no usable id)"), "media_malformed");
        } else {
            snprintf(id, idcap, "%s", mid);
            /* processed: 200 with a url; 202 (upload) / 206 (poll) or url null: not yet */
            *processing = st != 200 || !json_is_string(u);
            rc = 0;
        }
    } else if (st == 401) {
        s_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, strlen(buf), code);
    } else if (st == 429) {
        s_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, strlen(buf), code);
        r->retry_at_ms = s_retry_at(resp, now_ms);
    } else if (st == 408 || st == 404 || (st >= 500 && st <= 599)) {
        /* 404 on a poll: the upload vanished (cleaned up): upload again */
        s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, strlen(buf), code);
    } else if (st == 413) {
        snprintf(buf, sizeof buf, "the image is larger than this instance accepts (%s)", stext);
        s_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, strlen(buf), "media_too_large");
    } else if (st >= 400 && st <= 499) {
        s_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, strlen(buf), code);
    } else {
        snprintf(buf, sizeof buf, "unexpected answer to the media upload (%s)", stext);
        s_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, strlen(buf), code);
    }
    json_decref(root);
    return rc;
}

/* ---- adapter ----------------------------------------------------------- */

enum {
    S_START = 0,
    S_PUBLISH_SENT = 1,
    S_DOWNLOAD_SENT = 2,
    S_UPLOAD_SENT = 3,
    S_POLL_WAIT = 4,
    S_POLL_SENT = 5,
};

typedef struct {
    size_t n, next;   /* media items, the one being uploaded */
    char **ids;       /* n uploaded media ids */
    long polls;
} s_state_t;

static void s_release(cr_call_t *call)
{
    s_state_t *st = call->state;
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) free(st->ids[i]);
    free(st->ids);
    free(st);
    call->state = NULL;
}

static size_t s_image_max(void)
{
    long long v = cr_setting_int("mastodon", "image_max_bytes", MASTODON_IMAGE_MAX_BYTES_DEFAULT);
    return v <= 0 || v > (long long)CR_MEDIA_MAX_BYTES ? CR_MEDIA_MAX_BYTES : (size_t)v;
}

/* The upload request of a loaded image (m is released). */
static int s_upload(cr_call_t *call, cr_media_t *m)
{
    int rc = cr_mastodon_media_request(call->task, m, &call->req, &call->result);
    cr_media_clear(m);
    if (rc) return CR_STEP_DONE;
    call->step = S_UPLOAD_SENT;
    return CR_STEP_REQUEST;
}

/* Next media item, or the status once all are uploaded. */
static int s_next(cr_call_t *call, s_state_t *st)
{
    const Crieur__PublishPayload *pub = call->task->publish;
    if (st->next >= st->n) {
        if (cr_mastodon_status_request(call->task, (const char *const *)st->ids, st->n,
                                       &call->req, &call->result))
            return CR_STEP_DONE;
        call->step = S_PUBLISH_SENT;
        return CR_STEP_REQUEST;
    }
    const char *ref = pub->media[st->next];
    cr_media_t m;
    switch (cr_media_source(ref)) {
    case CR_MEDIA_FILE:
        if (cr_media_load_file(ref, s_image_max(), &m, &call->result)) return CR_STEP_DONE;
        return s_upload(call, &m);
    case CR_MEDIA_URL:
        if (cr_media_fetch_request(&call->req, ref, s_image_max(), &call->result))
            return CR_STEP_DONE;
        call->step = S_DOWNLOAD_SENT;
        return CR_STEP_REQUEST;
    default: {
        char msg[96];
        snprintf(msg, sizeof msg,
                 "media item %zu is neither an http(s) URL nor an absolute file path",
                 st->next + 1);
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0, msg, "bad_media");
    }
    }
}

static int s_start(cr_call_t *call)
{
    const Crieur__Task *t = call->task;
    if (t->kind != CRIEUR__JOB_KIND__KIND_PUBLISH)
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                            "mastodon adapter does not handle this job kind", "unsupported_kind");
    const Crieur__PublishPayload *pub =
        t->payload_case == CRIEUR__TASK__PAYLOAD_PUBLISH ? t->publish : NULL;
    size_t n = pub ? pub->n_media : 0;
    if (n == 0) {
        if (cr_mastodon_publish_request(t, &call->req, &call->result)) return CR_STEP_DONE;
        call->step = S_PUBLISH_SENT;
        return CR_STEP_REQUEST;
    }
    long long max = cr_setting_int("mastodon", "max_media", MASTODON_MAX_MEDIA_DEFAULT);
    if ((long long)n > max) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "post has %zu images; this instance takes at most %lld per status "
                 "(setting mastodon.max_media)",
                 n, max);
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0, msg, "too_many_media");
    }
    /* check the status itself (account, token, key, text) before uploading */
    static const char *const placeholders[] = {"0", "0", "0", "0", "0", "0", "0", "0",
                                               "0", "0", "0", "0", "0", "0", "0", "0"};
    if (n <= sizeof placeholders / sizeof placeholders[0]) {
        int bad = cr_mastodon_status_request(t, placeholders, n, &call->req, &call->result);
        cr_http_req_clear(&call->req);
        if (bad) return CR_STEP_DONE;
        cr_result_clear(&call->result);
    }
    s_state_t *st = calloc(1, sizeof *st);
    if (st) st->ids = calloc(n, sizeof *st->ids);
    if (!st || !st->ids) {
        free(st);
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, 0, "out of memory",
                            "internal");
    }
    st->n = n;
    call->state = st;
    return s_next(call, st);
}

/* An upload or poll answer: next item, or wait and poll again. */
static int s_media_answer(cr_call_t *call, s_state_t *st, const cr_http_resp_t *prev)
{
    char id[MASTODON_MAX_ID + 1];
    int processing = 0;
    if (cr_mastodon_media_result(prev, call->now_ms, id, sizeof id, &processing, &call->result))
        return CR_STEP_DONE;
    if (processing) {
        long long max = cr_setting_int("mastodon", "media_max_polls",
                                       MASTODON_MEDIA_MAX_POLLS_DEFAULT);
        if (st->polls >= max) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "image %zu still processing after %ld polls (setting "
                     "mastodon.media_max_polls): nothing was published",
                     st->next + 1, st->polls);
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, (int)prev->status, msg,
                                "media_processing");
        }
        free(st->ids[st->next]);
        st->ids[st->next] = strdup(id);
        if (!st->ids[st->next]) return -1;
        long long ms = cr_setting_int("mastodon", "media_poll_ms", MASTODON_MEDIA_POLL_MS_DEFAULT);
        if (ms < 1) ms = 1;
        if (ms > CR_MAX_STEP_WAIT_MS) ms = CR_MAX_STEP_WAIT_MS;
        call->wait_ms = (long)ms;
        call->step = S_POLL_WAIT;
        return CR_STEP_WAIT;
    }
    free(st->ids[st->next]);
    st->ids[st->next] = strdup(id);
    if (!st->ids[st->next]) return -1;
    st->next++;
    st->polls = 0;
    cr_result_clear(&call->result);
    return s_next(call, st);
}

static int s_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    s_state_t *st = call->state;
    switch (call->step) {
    case S_START:
        return s_start(call);
    case S_PUBLISH_SENT:
        if (!prev) return -1;
        cr_mastodon_publish_result(prev, call->now_ms, &call->result);
        return CR_STEP_DONE;
    case S_DOWNLOAD_SENT: {
        if (!prev || !st) return -1;
        cr_media_t m;
        if (cr_media_from_response(prev, call->task->publish->media[st->next], s_image_max(), &m,
                                   &call->result))
            return CR_STEP_DONE;
        return s_upload(call, &m);
    }
    case S_UPLOAD_SENT:
    case S_POLL_SENT:
        if (!prev || !st) return -1;
        return s_media_answer(call, st, prev);
    case S_POLL_WAIT:
        if (!st) return -1;
        st->polls++;
        if (cr_mastodon_media_poll_request(call->task, st->ids[st->next], &call->req,
                                           &call->result))
            return CR_STEP_DONE;
        call->step = S_POLL_SENT;
        return CR_STEP_REQUEST;
    default:
        return -1;
    }
}

const cr_adapter_t cr_mastodon_adapter = {
    .platform = "mastodon",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
    .step = s_step,
    .release = s_release,
};
