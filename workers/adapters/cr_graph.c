#include "cr_graph.h"

#include "cr_settings.h"
#include "cr_text.h"
#include "cr_time.h"
#include "cr_x.h" /* cr_x_fingerprint: one fingerprint for every read-back */

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Graph itself (the platforms' own constants live in their adapters). */
#define G_APP_USAGE_HEADER "X-App-Usage"
#define G_BUC_USAGE_HEADER "X-Business-Use-Case-Usage"
#define G_RETRY_DEFAULT_MS (15LL * 60000) /* throttled without an estimate */
#define G_RETRY_MIN_MS 1000LL
#define G_RETRY_MAX_MS (24LL * 3600000)
#define G_NOT_READY_RETRY_MS 10000LL /* a container that is not ready yet */
#define G_SUB_CONTAINER_EXPIRED 2207020
#define G_SUB_NOT_READY 2207027
#define G_CODE_NOT_READY 9007
#define G_USER_AGENT "crieur/0.1"
#define G_MAX_URL 4096
#define G_MAX_TOKEN 4096
#define G_MAX_HANDLE 64
#define G_POLL_INTERVAL_MIN_MS 10L
#define G_MAX_POLLS_MAX 600 /* the runtime's bound on the waits of a call */
#define G_FOUND_DETAIL "found on the platform by reading back; not published again"

/* error.code values */
static const long s_auth_codes[] = {102, 104, 190};
static const long s_throttle_codes[] = {4, 17, 32, 341, 613};
#define G_BUC_THROTTLE_MIN 80000 /* business use case rate limits: 80000..80014 */
#define G_BUC_THROTTLE_MAX 80014

static int s_in(long v, const long *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v) return 1;
    return 0;
}

static const char *s_str(const char *s)
{
    return s ? s : "";
}

/* ---- errors ------------------------------------------------------------ */

int cr_graph_error_parse(const char *body, size_t len, cr_graph_error_t *e)
{
    memset(e, 0, sizeof *e);
    if (!body || len == 0) return -1;
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *err = json_is_object(root) ? json_object_get(root, "error") : NULL;
    json_t *code = json_is_object(err) ? json_object_get(err, "code") : NULL;
    int rc = -1;
    if (!json_is_integer(code) || json_integer_value(code) <= 0) goto out;
    e->code = (long)json_integer_value(code);
    json_t *sub = json_object_get(err, "error_subcode");
    if (json_is_integer(sub) && json_integer_value(sub) > 0)
        e->subcode = (long)json_integer_value(sub);
    e->is_transient = json_is_true(json_object_get(err, "is_transient"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *user = json_string_value(json_object_get(err, "error_user_msg"));
    char buf[2 * CR_ERROR_MAX_BYTES + 8];
    if (msg && !msg[0]) msg = NULL;
    if (user && (!user[0] || (msg && strstr(msg, user)))) user = NULL;
    if (msg && user) {
        size_t ml = strlen(msg);
        int punct = ml > 0 && strchr(".!?", msg[ml - 1]);
        snprintf(buf, sizeof buf, "%.*s%s%.*s", CR_ERROR_MAX_BYTES, msg, punct ? " " : ": ",
                 CR_ERROR_MAX_BYTES, user);
    } else if (msg || user) {
        snprintf(buf, sizeof buf, "%.*s", CR_ERROR_MAX_BYTES, msg ? msg : user);
    } else {
        snprintf(buf, sizeof buf, "Graph error %ld", e->code);
    }
    char *clean = cr_text_clean(buf, strlen(buf), CR_ERROR_MAX_BYTES);
    snprintf(e->message, sizeof e->message, "%s", clean ? clean : "Graph error");
    free(clean);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* The subcode is one of the quota subcodes (unconfirmed: from settings). */
static int s_quota_subcode(long subcode, const char *platform)
{
    if (subcode <= 0) return 0;
    char item[24];
    snprintf(item, sizeof item, "%ld", subcode);
    if (!platform) return strcmp(item, CR_GRAPH_QUOTA_SUBCODES) == 0;
    return cr_setting_has(platform, "quota_subcodes", CR_GRAPH_QUOTA_SUBCODES, item);
}

cr_graph_class_t cr_graph_error_class(const cr_graph_error_t *e)
{
    return cr_graph_error_class_for(e, NULL);
}

cr_graph_class_t cr_graph_error_class_for(const cr_graph_error_t *e, const char *platform)
{
    if (e->subcode == G_SUB_CONTAINER_EXPIRED) return CR_GRAPH_E_EXPIRED;
    if (e->code == G_CODE_NOT_READY || e->subcode == G_SUB_NOT_READY) return CR_GRAPH_E_NOT_READY;
    if (s_in(e->code, s_auth_codes, sizeof s_auth_codes / sizeof *s_auth_codes))
        return CR_GRAPH_E_AUTH;
    if (s_in(e->code, s_throttle_codes, sizeof s_throttle_codes / sizeof *s_throttle_codes) ||
        (e->code >= G_BUC_THROTTLE_MIN && e->code <= G_BUC_THROTTLE_MAX) ||
        s_quota_subcode(e->subcode, platform))
        return CR_GRAPH_E_THROTTLED;
    if (e->code == 506) return CR_GRAPH_E_DUPLICATE;
    if (e->is_transient || e->code == 1 || e->code == 2) return CR_GRAPH_E_TRANSIENT;
    return CR_GRAPH_E_REFUSED;
}

/* ---- usage ------------------------------------------------------------- */

/* The parsing is the runtime's (cr_ratehdr), which also turns the usage
 * into every result's rate-limit fields. */
void cr_graph_usage(const cr_http_resp_t *resp, cr_graph_usage_t *u)
{
    cr_ratehdr_graph_usage(resp, u);
}

int cr_graph_usage_pct(const cr_graph_usage_t *u)
{
    return u->app_pct > u->buc_pct ? u->app_pct : u->buc_pct;
}

int64_t cr_graph_retry_at(const cr_graph_usage_t *u, int64_t now_ms)
{
    int64_t wait = u->regain_min > 0 ? (int64_t)u->regain_min * 60000 : G_RETRY_DEFAULT_MS;
    if (wait < G_RETRY_MIN_MS) wait = G_RETRY_MIN_MS;
    if (wait > G_RETRY_MAX_MS) wait = G_RETRY_MAX_MS;
    return now_ms + wait;
}

void cr_graph_usage_note(const cr_http_resp_t *resp, cr_result_t *r)
{
    if (!resp) return;
    cr_graph_usage_t u;
    cr_graph_usage(resp, &u);
    if (cr_graph_usage_pct(&u) < CR_GRAPH_USAGE_HIGH) return;
    char buf[200];
    snprintf(buf, sizeof buf,
             "published; the platform reports %d%% of its rate limit used (%s): calls will be "
             "throttled at 100%%",
             cr_graph_usage_pct(&u),
             u.buc_pct >= u.app_pct ? G_BUC_USAGE_HEADER : G_APP_USAGE_HEADER);
    cr_result_set(r, r->outcome, buf, "usage_high");
}

/* ---- answers ----------------------------------------------------------- */

int cr_graph_ok(const cr_http_resp_t *resp)
{
    return resp->curl_code == 0 && !resp->too_large && resp->status >= 200 && resp->status <= 299;
}

static int s_id_ok(const char *s, size_t n)
{
    if (n == 0 || n > CR_GRAPH_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) return 0;
    return 1;
}

int cr_graph_id(const char *body, size_t len, const char *name, char *id)
{
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *v = json_is_object(root) ? json_object_get(root, name) : NULL;
    int rc = -1;
    if (json_is_string(v) && s_id_ok(json_string_value(v), json_string_length(v))) {
        memcpy(id, json_string_value(v), json_string_length(v) + 1);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

static int s_url_ok(const char *s, size_t n)
{
    if (n == 0 || n > CR_GRAPH_PERMALINK_MAX) return 0;
    if (strncasecmp(s, "https://", 8) != 0 && strncasecmp(s, "http://", 7) != 0) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f) return 0;
    return 1;
}

int cr_graph_url_field(const char *body, size_t len, const char *name, char *url)
{
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *v = json_is_object(root) ? json_object_get(root, name) : NULL;
    int rc = -1;
    if (json_is_string(v) && s_url_ok(json_string_value(v), json_string_length(v))) {
        memcpy(url, json_string_value(v), json_string_length(v) + 1);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

cr_graph_container_t cr_graph_container_status(const char *body, size_t len, const char *field,
                                               const char *reason_field, char *reason,
                                               size_t reason_cap)
{
    static const struct {
        const char *name;
        cr_graph_container_t state;
    } states[] = {
        {"IN_PROGRESS", CR_GRAPH_C_IN_PROGRESS}, {"FINISHED", CR_GRAPH_C_FINISHED},
        {"ERROR", CR_GRAPH_C_ERROR},             {"EXPIRED", CR_GRAPH_C_EXPIRED},
        {"PUBLISHED", CR_GRAPH_C_PUBLISHED},
    };
    if (reason_cap) reason[0] = '\0';
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    const char *v = json_is_object(root) ? json_string_value(json_object_get(root, field)) : NULL;
    cr_graph_container_t st = CR_GRAPH_C_UNKNOWN;
    for (size_t i = 0; v && i < sizeof states / sizeof *states; i++)
        if (strcmp(v, states[i].name) == 0) st = states[i].state;
    const char *why = reason_field && json_is_object(root)
                          ? json_string_value(json_object_get(root, reason_field))
                          : NULL;
    if (why && reason_cap) {
        char *clean = cr_text_clean(why, strlen(why), reason_cap - 1);
        if (clean) snprintf(reason, reason_cap, "%s", clean);
        free(clean);
    }
    json_decref(root);
    return st;
}

/* The curl side of a failed exchange, for messages. */
static const char *s_curl_text(const cr_http_resp_t *resp)
{
    if (resp->too_large) return "response too large";
    if (resp->error && resp->error[0]) return resp->error;
    return curl_easy_strerror((CURLcode)resp->curl_code);
}

void cr_graph_failure(const cr_http_resp_t *resp, cr_graph_role_t role, const char *platform,
                      int64_t now_ms, cr_result_t *r)
{
    char buf[1400], code[48];
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;

    if (resp->curl_code != 0 || resp->too_large) {
        const char *err = s_curl_text(resp);
        if (resp->too_large) snprintf(code, sizeof code, "too_large");
        else snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        int before = !resp->too_large && (!resp->sent || cr_http_code_before_send(resp->curl_code));
        if (role == CR_GRAPH_READ) {
            snprintf(buf, sizeof buf, "reading the account back failed: %s", err);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        } else if (before) {
            snprintf(buf, sizeof buf, "platform not reached: %s", err);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        } else if (role == CR_GRAPH_PUBLISH) {
            /* Sent, answer lost: the post may exist, and Graph has no
             * idempotency. The broker reconciles before the next attempt. */
            snprintf(buf, sizeof buf, "no usable answer after the request was sent: %s", err);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, code);
        } else {
            snprintf(buf, sizeof buf, "no usable answer before publishing: %s (nothing published)",
                     err);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        }
        return;
    }

    long st = resp->status;
    cr_graph_error_t e;
    if (cr_graph_error_parse(resp->body, resp->body_len, &e) != 0) {
        /* Not Graph's error object: a proxy, a load balancer, an outage. */
        char stext[96];
        cr_status_text(resp, stext, sizeof stext);
        snprintf(code, sizeof code, "%ld", st);
        if (st >= 200 && st <= 299) {
            if (role == CR_GRAPH_PUBLISH)
                cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE,
                              "malformed success response (the post may have been created)",
                              "malformed_success");
            else
                cr_result_set(
                    r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                    role == CR_GRAPH_READ ? "reading the account back failed: malformed answer"
                                          : "malformed success response",
                    role == CR_GRAPH_READ ? "malformed_readback" : "malformed_success");
        } else if (st >= 500 || st == 408) {
            if (role == CR_GRAPH_PUBLISH) {
                snprintf(buf, sizeof buf, "%s (the post may have been created)", stext);
                cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, code);
            } else {
                cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, stext, code);
            }
        } else if (st == 429) {
            cr_graph_usage_t u;
            cr_graph_usage(resp, &u);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, stext, code);
            r->retry_at_ms = cr_graph_retry_at(&u, now_ms);
        } else if (role == CR_GRAPH_READ) {
            snprintf(buf, sizeof buf,
                     "the outcome of an earlier attempt is unknown and the account cannot be read "
                     "back (%s): a human must check; it was not published again",
                     stext);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, buf, "readback_refused");
        } else {
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, stext, code);
        }
        return;
    }

    if (e.subcode) snprintf(code, sizeof code, "%ld/%ld", e.code, e.subcode);
    else snprintf(code, sizeof code, "%ld", e.code);
    cr_graph_class_t cls = cr_graph_error_class_for(&e, platform);
    if (role == CR_GRAPH_READ &&
        (cls == CR_GRAPH_E_DUPLICATE || cls == CR_GRAPH_E_NOT_READY || cls == CR_GRAPH_E_EXPIRED))
        cls = CR_GRAPH_E_REFUSED; /* meaningless for a read: the account cannot be read */
    switch (cls) {
    case CR_GRAPH_E_AUTH:
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, e.message, code);
        break;
    case CR_GRAPH_E_THROTTLED: {
        cr_graph_usage_t u;
        cr_graph_usage(resp, &u);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, e.message, code);
        r->retry_at_ms = cr_graph_retry_at(&u, now_ms);
        break;
    }
    case CR_GRAPH_E_DUPLICATE:
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, e.message, "duplicate");
        break;
    case CR_GRAPH_E_NOT_READY:
        /* refused: nothing was published; the next attempt starts over */
        snprintf(buf, sizeof buf, "%s (nothing published)", e.message);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, "container_not_ready");
        r->retry_at_ms = now_ms + G_NOT_READY_RETRY_MS;
        break;
    case CR_GRAPH_E_EXPIRED:
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, e.message, "container_expired");
        break;
    case CR_GRAPH_E_TRANSIENT:
        if (role == CR_GRAPH_PUBLISH) {
            snprintf(buf, sizeof buf, "%s (the post may have been created)", e.message);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, code);
        } else {
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, e.message, code);
        }
        break;
    case CR_GRAPH_E_REFUSED:
        if (role == CR_GRAPH_READ) {
            snprintf(buf, sizeof buf,
                     "the outcome of an earlier attempt is unknown and the account cannot be read "
                     "back (%s): a human must check; it was not published again",
                     e.message);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, buf,
                          e.code == 10 || (e.code >= 200 && e.code <= 299) ? "readback_forbidden"
                                                                           : "readback_refused");
        } else {
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, e.message, code);
        }
        break;
    }
}

/* ---- requests ---------------------------------------------------------- */

/* A node id usable in a path: [A-Za-z0-9_.-], not "." or "..". */
static int s_handle_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > G_MAX_HANDLE || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int cr_graph_check_task(const Crieur__Task *task, cr_result_t *r)
{
    if (cr_task_check_publish(task, G_MAX_TOKEN, r) != 0) return -1;
    if (!s_handle_ok(s_str(task->account->handle)))
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "account handle is not a Graph node id (the page or user id)",
                              "bad_handle");
    const char *parent = task->publish->in_reply_to;
    if (parent && parent[0] && !s_id_ok(parent, strlen(parent)))
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "in_reply_to is not a Graph id (digits and '_'): give the id of "
                              "the post, media or comment replied to",
                              "bad_reply_to");
    return 0;
}

const char *cr_graph_reply_to(const Crieur__Task *task)
{
    const Crieur__PublishPayload *pub =
        task && task->payload_case == CRIEUR__TASK__PAYLOAD_PUBLISH ? task->publish : NULL;
    return pub && pub->in_reply_to && pub->in_reply_to[0] ? pub->in_reply_to : NULL;
}

/* ---- media ------------------------------------------------------------- */

int cr_graph_image_url(const Crieur__Task *task, const char *name, size_t max, const char **url,
                       cr_result_t *r)
{
    char buf[300];
    const Crieur__PublishPayload *pub = task->publish;
    *url = NULL;
    if (pub->n_media == 0) return 0;
    if (pub->n_media > max) {
        snprintf(buf, sizeof buf,
                 "the post has %zu images; %s takes at most %zu per post here: remove some",
                 pub->n_media, name, max);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, "too_many_media");
    }
    const char *ref = pub->media[0];
    switch (cr_media_source(ref)) {
    case CR_MEDIA_URL: *url = ref; return 0;
    case CR_MEDIA_FILE:
        snprintf(buf, sizeof buf,
                 "%s takes images by public URL only: the post's image is a local file; put it "
                 "on a public web server and give its https:// URL",
                 name);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, "media_not_url");
    case CR_MEDIA_BAD: break;
    }
    return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                          "the post's media item is neither an http(s) URL nor an absolute file "
                          "path",
                          "bad_media");
}

void cr_graph_poll_settings(const char *platform, cr_graph_poll_t *p)
{
    long long iv = cr_setting_int(platform, "poll_interval_ms", CR_GRAPH_POLL_INTERVAL_MS);
    long long n = cr_setting_int(platform, "max_polls", CR_GRAPH_MAX_POLLS);
    if (iv < G_POLL_INTERVAL_MIN_MS) iv = G_POLL_INTERVAL_MIN_MS;
    if (iv > CR_MAX_STEP_WAIT_MS) iv = CR_MAX_STEP_WAIT_MS;
    if (n < 1) n = 1;
    if (n > G_MAX_POLLS_MAX) n = G_MAX_POLLS_MAX;
    p->interval_ms = (long)iv;
    p->max_polls = (int)n;
}

int cr_graph_poll_next(cr_call_t *call, const cr_graph_poll_t *p, int *polls, int http,
                       const char *name)
{
    char buf[300];
    int64_t deadline = call->task ? call->task->deadline_ms : 0;
    ++*polls;
    int late = deadline > 0 && call->now_ms + p->interval_ms >= deadline;
    if (*polls < p->max_polls && !late) {
        call->wait_ms = p->interval_ms;
        return CR_STEP_WAIT;
    }
    if (late)
        snprintf(buf, sizeof buf,
                 "%s was still processing the media container after %d status checks and the "
                 "task's deadline is near (nothing published)",
                 name, *polls);
    else
        snprintf(buf, sizeof buf,
                 "%s was still processing the media container after %d status checks %ld ms "
                 "apart (nothing published; settings poll_interval_ms, max_polls)",
                 name, *polls, p->interval_ms);
    if (cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, http, buf, "container_not_ready") <
        0)
        return -1;
    call->result.retry_at_ms = call->now_ms + G_NOT_READY_RETRY_MS;
    return CR_STEP_DONE;
}

void cr_graph_urlenc(cr_buf_t *b, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s_str(value); *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            cr_buf_add(b, (const char *)p, 1);
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            cr_buf_add(b, enc, 3);
        }
    }
}

void cr_graph_form_add(cr_buf_t *form, const char *key, const char *value)
{
    if (form->len > 0) cr_buf_add(form, "&", 1);
    cr_graph_urlenc(form, key);
    cr_buf_add(form, "=", 1);
    cr_graph_urlenc(form, value);
}

int cr_graph_request(const Crieur__Task *task, const char *method, const char *path,
                     cr_buf_t *form, cr_http_req_t *req, cr_result_t *r)
{
    char *url = cr_api_url(task->account->api_base, path, G_MAX_URL);
    if (!url) {
        if (form) cr_buf_release(form);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "account api_base is not a usable http(s) URL", "bad_api_base");
    }
    int rc = -1;
    if (!form || !form->failed) {
        char *body = NULL;
        size_t blen = 0;
        if (form) {
            body = form->data ? form->data : strdup("");
            blen = form->data ? form->len : 0;
            cr_buf_init(form); /* the body is taken */
        }
        if (cr_http_req_init(req, method, url) == 0 &&
            cr_http_req_bearer(req, task->account->token) == 0 &&
            cr_http_req_header(req, "User-Agent", G_USER_AGENT) == 0 &&
            cr_http_req_header(req, "Accept", "application/json") == 0 &&
            (!form || (body && cr_http_req_body(req, "application/x-www-form-urlencoded", &body,
                                                blen) == 0)))
            rc = 0;
        free(body);
        /* no idempotency: a write never rides a reused connection */
        if (rc == 0 && strcmp(method, "GET") != 0) req->fresh_connection = 1;
    }
    free(url);
    if (form) cr_buf_release(form);
    if (rc) {
        cr_http_req_clear(req);
        cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "out of memory building the request",
                       "internal");
    }
    return rc;
}

int cr_graph_request_multipart(const Crieur__Task *task, const char *path, cr_multipart_t *mp,
                               cr_http_req_t *req, cr_result_t *r)
{
    char *url = cr_api_url(task->account->api_base, path, G_MAX_URL);
    if (!url) {
        cr_multipart_clear(mp);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "account api_base is not a usable http(s) URL", "bad_api_base");
    }
    int rc = -1;
    if (cr_http_req_init(req, "POST", url) == 0 &&
        cr_http_req_bearer(req, task->account->token) == 0 &&
        cr_http_req_header(req, "User-Agent", G_USER_AGENT) == 0 &&
        cr_http_req_header(req, "Accept", "application/json") == 0 &&
        cr_multipart_finish(mp, req) == 0)
        rc = 0;
    else
        cr_multipart_clear(mp);
    free(url);
    if (rc) {
        cr_http_req_clear(req);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "out of memory building the request", "internal");
    }
    req->fresh_connection = 1; /* no idempotency: never on a reused connection */
    return 0;
}

char *cr_graph_post_text(const Crieur__Task *task, int with_link)
{
    const Crieur__PublishPayload *pub =
        task && task->payload_case == CRIEUR__TASK__PAYLOAD_PUBLISH ? task->publish : NULL;
    if (!pub) return NULL;
    return cr_text_compose(pub->body, pub->link, with_link, NULL);
}

/* ---- reconciliation ---------------------------------------------------- */

static int s_cursor_ok(const char *s, size_t n)
{
    if (n == 0 || n > CR_GRAPH_CURSOR_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '=' || c == '+' || c == '/' || c == '%'))
            return 0;
    }
    return 1;
}

cr_graph_match_t cr_graph_match(const char *body, size_t len, const cr_graph_feed_t *feed,
                                const char *fingerprint, int64_t since_ms,
                                cr_graph_found_t *found)
{
    memset(found, 0, sizeof *found);
    if (!body || !feed || !fingerprint) return CR_GRAPH_MATCH_MALFORMED;
    /* a NUL in one post's text must not make the whole page unreadable */
    json_t *root = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    cr_graph_match_t rc = CR_GRAPH_MATCH_MALFORMED;
    json_t *data = json_is_object(root) ? json_object_get(root, "data") : NULL;
    if (!json_is_array(data)) goto out;
    int older = 0; /* an item before the window: the pages after are older still */
    size_t i;
    json_t *item;
    json_array_foreach(data, i, item)
    {
        json_t *jid = json_object_get(item, "id"), *jtext = json_object_get(item, feed->text_field);
        if (!json_is_string(jid) || !s_id_ok(json_string_value(jid), json_string_length(jid)))
            continue;
        const char *when = json_string_value(json_object_get(item, feed->time_field));
        int64_t at;
        if (when && cr_time_parse_iso8601(when, &at) == 0 && at < since_ms) {
            older = 1;
            continue;
        }
        if (!json_is_string(jtext)) continue; /* a post without text (a photo, a share) */
        const char *text = json_string_value(jtext);
        size_t tl = json_string_length(jtext);
        if (memchr(text, '\0', tl)) continue;
        char *fp = cr_x_fingerprint(text, tl);
        if (!fp) { /* out of memory: never conclude "not there" */
            rc = CR_GRAPH_MATCH_MALFORMED;
            goto out;
        }
        int same = strcmp(fp, fingerprint) == 0;
        free(fp);
        if (same) { /* newest first: the last match is the oldest, the first attempt's */
            memcpy(found->id, json_string_value(jid), json_string_length(jid) + 1);
            found->permalink[0] = '\0';
            static const char *const links[] = {"permalink", "permalink_url"};
            for (size_t k = 0; k < 2 && !found->permalink[0]; k++) {
                json_t *pl = json_object_get(item, links[k]);
                if (json_is_string(pl) && s_url_ok(json_string_value(pl), json_string_length(pl)))
                    memcpy(found->permalink, json_string_value(pl), json_string_length(pl) + 1);
            }
            rc = CR_GRAPH_MATCH_FOUND;
        }
    }
    if (rc == CR_GRAPH_MATCH_FOUND) goto out;
    json_t *paging = json_object_get(root, "paging");
    json_t *next = json_object_get(paging, "next");
    json_t *after = json_object_get(json_object_get(paging, "cursors"), "after");
    if (older || !json_is_string(next) || json_array_size(data) == 0) {
        rc = CR_GRAPH_MATCH_NONE;
    } else if (json_is_string(after) &&
               s_cursor_ok(json_string_value(after), json_string_length(after))) {
        memcpy(found->after, json_string_value(after), json_string_length(after) + 1);
        rc = CR_GRAPH_MATCH_MORE;
    } /* else: more pages that cannot be followed: malformed, never "not there" */
out:
    json_decref(root);
    return rc;
}

int64_t cr_graph_since(const Crieur__Task *task, const cr_graph_feed_t *feed, int64_t now_ms)
{
    int64_t due = task && task->due_ms > 0 ? task->due_ms : now_ms;
    int64_t since = due - feed->window_ms;
    return since > 0 ? since : 0;
}

int cr_graph_readback_request(const Crieur__Task *task, const cr_graph_feed_t *feed,
                              const char *node, const char *after, int64_t now_ms,
                              cr_http_req_t *req, cr_result_t *r)
{
    if (after && !s_cursor_ok(after, strlen(after)))
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "read-back with an unusable paging cursor", "internal");
    cr_buf_t path;
    cr_buf_init(&path);
    cr_buf_printf(&path, "/%s/%s?fields=", node ? node : task->account->handle, feed->edge);
    cr_graph_urlenc(&path, feed->fields);
    cr_buf_printf(&path, "&limit=%d", feed->page_size);
    if (feed->extra) cr_buf_printf(&path, "&%s", feed->extra);
    if (feed->since_param)
        cr_buf_printf(&path, "&since=%lld", (long long)(cr_graph_since(task, feed, now_ms) / 1000));
    if (after) {
        cr_buf_puts(&path, "&after=");
        cr_graph_urlenc(&path, after);
    }
    int rc = path.failed ? cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                                          "out of memory building the request", "internal")
                         : cr_graph_request(task, "GET", path.data, NULL, req, r);
    cr_buf_release(&path);
    return rc;
}

int cr_graph_reconcile_start(cr_graph_reconcile_t *rc, const Crieur__Task *task,
                             const cr_graph_feed_t *feed, const char *node, const char *text,
                             int64_t now_ms, cr_http_req_t *req, cr_result_t *r)
{
    cr_graph_reconcile_clear(rc);
    rc->fingerprint = cr_x_fingerprint(text, strlen(s_str(text)));
    if (!rc->fingerprint) return -1;
    rc->node = node;
    rc->since_ms = cr_graph_since(task, feed, now_ms);
    return cr_graph_readback_request(task, feed, node, NULL, now_ms, req, r);
}

void cr_graph_reconcile_clear(cr_graph_reconcile_t *rc)
{
    free(rc->fingerprint);
    memset(rc, 0, sizeof *rc);
}

cr_graph_rb_t cr_graph_reconcile_step(cr_graph_reconcile_t *rc, const Crieur__Task *task,
                                      const cr_graph_feed_t *feed, const cr_http_resp_t *prev,
                                      int64_t now_ms, cr_graph_found_t *found,
                                      cr_http_req_t *req, cr_result_t *r)
{
    char buf[400];
    if (!cr_graph_ok(prev)) {
        cr_graph_failure(prev, CR_GRAPH_READ, task->account->platform, now_ms, r);
        return CR_GRAPH_RB_DONE;
    }
    switch (cr_graph_match(prev->body, prev->body_len, feed, rc->fingerprint, rc->since_ms,
                           found)) {
    case CR_GRAPH_MATCH_FOUND: return CR_GRAPH_RB_FOUND;
    case CR_GRAPH_MATCH_NONE: return CR_GRAPH_RB_ABSENT;
    case CR_GRAPH_MATCH_MORE:
        if (++rc->pages >= feed->max_pages) {
            snprintf(buf, sizeof buf,
                     "the outcome of an earlier attempt is unknown and the account has more than "
                     "%d posts in the read-back window: a human must check whether the post is "
                     "on %s; it was not published again",
                     feed->max_pages * feed->page_size, feed->platform);
            cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED, buf, "readback_too_many");
            r->http_status = (int)prev->status;
            return CR_GRAPH_RB_DONE;
        }
        if (cr_graph_readback_request(task, feed, rc->node, found->after, now_ms, req, r))
            return CR_GRAPH_RB_DONE;
        return CR_GRAPH_RB_NEXT;
    case CR_GRAPH_MATCH_MALFORMED: break;
    }
    cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                   "reading the account back failed: malformed answer", "malformed_readback");
    r->http_status = (int)prev->status;
    return CR_GRAPH_RB_DONE;
}

int cr_graph_done_ok(cr_call_t *call, const cr_http_resp_t *resp, const char *id,
                     const char *url, int reconciled)
{
    cr_result_t *r = &call->result;
    cr_result_clear(r);
    r->outcome = CRIEUR__OUTCOME__OUTCOME_OK;
    r->http_status = resp && resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    r->reconciled = reconciled;
    if (cr_result_field(&r->platform_post_id, id, strlen(s_str(id)), CR_FIELD_MAX_BYTES) ||
        cr_result_field(&r->url, url, strlen(s_str(url)), CR_FIELD_MAX_BYTES))
        return -1;
    /* The note also reaches the attempt's detail (Result.reconciled is what
     * the broker keys on). */
    if (reconciled) cr_result_set(r, r->outcome, G_FOUND_DETAIL, NULL);
    else cr_graph_usage_note(resp, r);
    return CR_STEP_DONE;
}
