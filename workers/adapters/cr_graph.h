/* cr_graph: what the three Graph adapters share (Facebook Pages, Instagram
 * content publishing, Threads; see docs platform-apis.md). Each adapter keeps
 * its own constants in its file (cr_facebook.c, cr_instagram.c,
 * cr_threads.c); this module knows Graph itself:
 *
 * - errors: {"error":{"message","type","code","error_subcode","is_transient",
 *   "error_user_msg","fbtrace_id"}}, classified by error.code (and a few
 *   subcodes), never by the HTTP status, which Graph sets to 400 for almost
 *   everything;
 * - usage: X-App-Usage and X-Business-Use-Case-Usage (percentages of the
 *   limit; estimated_time_to_regain_access in minutes);
 * - requests: node paths under the account's api_base (which carries the
 *   Graph version, e.g. https://graph.facebook.com/v21.0: configuration, not
 *   code), the token as a Bearer header, form-encoded writes (multipart for
 *   an uploaded Facebook photo), each on a fresh connection (no idempotency
 *   anywhere: a write is never re-sent by libcurl);
 * - media and replies: images by URL (or an upload for Facebook photos), one
 *   per post; containers polled with CR_STEP_WAIT ({platform}.poll_interval_ms,
 *   {platform}.max_polls); a reply's read-back looks among the replies of the
 *   object it answers;
 * - reconciliation: reading an account's recent posts back (newest first,
 *   Graph paging with cursors) and finding this post by a text fingerprint
 *   (cr_x_fingerprint: whitespace-insensitive, links left out).
 *
 * A request has a role that decides what a failure means:
 *   PUBLISH  creates the post (Facebook feed, media_publish, threads_publish):
 *            an answer lost after sending, a 5xx or a transient error is
 *            INDETERMINATE: the broker reconciles before any new attempt;
 *   PREPARE  comes before it (containers, their status): nothing is
 *            published yet, so the same failures are TRANSIENT;
 *   READ     reads the account back: a refusal is UNCONFIRMED (the outcome
 *            of an earlier attempt cannot be checked: a human looks).
 *
 * Everything here is pure and unit-tested (tests/unit/test_graph.c). */
#ifndef CR_GRAPH_H
#define CR_GRAPH_H

#include "cr_adapter.h"
#include "cr_buf.h"
#include "cr_media.h"

#include <stddef.h>
#include <stdint.h>

extern const cr_adapter_t cr_facebook_adapter;
extern const cr_adapter_t cr_instagram_adapter;
extern const cr_adapter_t cr_threads_adapter;

#define CR_GRAPH_ID_MAX 64         /* node ids: digits, and "_" in Facebook post ids */
#define CR_GRAPH_CURSOR_MAX 512    /* paging cursors */
#define CR_GRAPH_PERMALINK_MAX 512
#define CR_GRAPH_USAGE_HIGH 90     /* percent: at or above, calls are about to be throttled */

/* ---- errors ------------------------------------------------------------ */

typedef struct {
    long code;        /* error.code, 0 if absent */
    long subcode;     /* error.error_subcode, 0 if absent */
    int is_transient; /* error.is_transient is true */
    char message[CR_ERROR_MAX_BYTES + 1]; /* error.message, then error_user_msg if it says more */
} cr_graph_error_t;

/* 0 with e filled if body holds a Graph error object with a code; -1 if not. */
int cr_graph_error_parse(const char *body, size_t len, cr_graph_error_t *e);

typedef enum {
    CR_GRAPH_E_AUTH,      /* 102, 104, 190 (463 expired, 467 invalid, 460 password changed) */
    CR_GRAPH_E_THROTTLED, /* 4, 17, 32, 613, 80000-80014 (business use case), a quota
                           * subcode (setting {platform}.quota_subcodes, default 2207042) */
    CR_GRAPH_E_DUPLICATE, /* 506 */
    CR_GRAPH_E_NOT_READY, /* 9007 or subcode 2207027: the container is not ready, nothing done */
    CR_GRAPH_E_EXPIRED,   /* subcode 2207020: the container expired */
    CR_GRAPH_E_TRANSIENT, /* is_transient, 1 (unknown error), 2 (service unavailable) */
    CR_GRAPH_E_REFUSED,   /* the rest: 100 invalid parameter, 368 policy, 10 and 200-299
                           * permissions, ...: the platform said no */
} cr_graph_class_t;

/* platform names the settings of the unconfirmed quota subcodes
 * ({platform}.quota_subcodes: a comma-separated list, default
 * CR_GRAPH_QUOTA_SUBCODES); NULL takes the default list. */
cr_graph_class_t cr_graph_error_class_for(const cr_graph_error_t *e, const char *platform);
/* cr_graph_error_class_for(e, NULL) */
cr_graph_class_t cr_graph_error_class(const cr_graph_error_t *e);
#define CR_GRAPH_QUOTA_SUBCODES "2207042" /* content publishing limit (unconfirmed) */

/* ---- usage headers ----------------------------------------------------- */

/* cr_graph_usage_t and the parsing: cr_ratehdr.h (the runtime). */
void cr_graph_usage(const cr_http_resp_t *resp, cr_graph_usage_t *u);
/* Highest of app_pct and buc_pct (-1 if neither). */
int cr_graph_usage_pct(const cr_graph_usage_t *u);
/* When a throttled call may be tried again: now + estimated_time_to_regain_access
 * when it is given and above 0, else now + 15 minutes; at most now + 24 h. */
int64_t cr_graph_retry_at(const cr_graph_usage_t *u, int64_t now_ms);
/* On a success: if the usage is at CR_GRAPH_USAGE_HIGH or above, records
 * it in r->error (and error_code "usage_high"); the outcome is unchanged. */
void cr_graph_usage_note(const cr_http_resp_t *resp, cr_result_t *r);

/* ---- answers ----------------------------------------------------------- */

typedef enum {
    CR_GRAPH_PUBLISH,
    CR_GRAPH_PREPARE,
    CR_GRAPH_READ,
} cr_graph_role_t;

/* 1 if the exchange completed with a 2xx status. */
int cr_graph_ok(const cr_http_resp_t *resp);

/* Classifies an answer that is not a usable success, for a request of this
 * role (see above), on platform ("instagram": its settings, may be NULL).
 * Fills r (cleared first). */
void cr_graph_failure(const cr_http_resp_t *resp, cr_graph_role_t role, const char *platform,
                      int64_t now_ms, cr_result_t *r);

/* The string field `name` ("id", "post_id") of a JSON object body, if it is
 * a Graph id (1..CR_GRAPH_ID_MAX of [0-9_]), copied into id
 * (CR_GRAPH_ID_MAX + 1 bytes). 0 or -1. */
int cr_graph_id(const char *body, size_t len, const char *name, char *id);

/* The string field `name` of a JSON object body, if it is an http(s) URL
 * of at most CR_GRAPH_PERMALINK_MAX bytes without spaces. 0 or -1. */
int cr_graph_url_field(const char *body, size_t len, const char *name, char *url);

typedef enum {
    CR_GRAPH_C_IN_PROGRESS,
    CR_GRAPH_C_FINISHED,
    CR_GRAPH_C_ERROR,
    CR_GRAPH_C_EXPIRED,
    CR_GRAPH_C_PUBLISHED,
    CR_GRAPH_C_UNKNOWN, /* no such field, or another value */
} cr_graph_container_t;

/* A container's state from the answer to GET /{container}?fields=..:
 * field is "status_code" (Instagram) or "status" (Threads); reason gets the
 * platform's explanation for ERROR / EXPIRED (reason_field: "status" on
 * Instagram, "error_message" on Threads), or "" (reason_cap bytes). */
cr_graph_container_t cr_graph_container_status(const char *body, size_t len, const char *field,
                                               const char *reason_field, char *reason,
                                               size_t reason_cap);

/* ---- requests ---------------------------------------------------------- */

/* Checks a publish task: account, payload, a token usable in a header
 * (else AUTH_EXPIRED), a handle usable as a node id in a path, and for a
 * reply an in_reply_to that is a Graph id (else PERMANENT bad_reply_to).
 * 0, or -1 with r filled. */
int cr_graph_check_task(const Crieur__Task *task, cr_result_t *r);

/* The id a reply answers (PublishPayload.in_reply_to), or NULL for a post. */
const char *cr_graph_reply_to(const Crieur__Task *task);

/* ---- media ------------------------------------------------------------- */

/* The image of a platform that takes images by URL (Instagram, Threads):
 * *url is the post's media item as it is, or NULL when it has none. More
 * than max items: PERMANENT too_many_media; an item that is not an http(s)
 * URL (a local file): PERMANENT media_not_url. name ("Instagram") is for
 * messages. 0, or -1 with r filled. */
int cr_graph_image_url(const Crieur__Task *task, const char *name, size_t max, const char **url,
                       cr_result_t *r);

/* Polling a container that is still processing (CR_STEP_WAIT between two
 * status reads): the interval and the number of reads come from the
 * settings {platform}.poll_interval_ms (default 1000, 10..60000) and
 * {platform}.max_polls (default 30, 1..600). */
typedef struct {
    long interval_ms;
    int max_polls;
} cr_graph_poll_t;

#define CR_GRAPH_POLL_INTERVAL_MS 1000
#define CR_GRAPH_MAX_POLLS 30

void cr_graph_poll_settings(const char *platform, cr_graph_poll_t *p);

/* After a read that said IN_PROGRESS (polls: the reads so far, counted
 * here): CR_STEP_WAIT with call->wait_ms set, or, after max_polls reads or
 * when the next read would come after the task's deadline, the call ends
 * TRANSIENT container_not_ready (nothing was published; retried later with
 * a new container): CR_STEP_DONE (or -1 out of memory). */
int cr_graph_poll_next(cr_call_t *call, const cr_graph_poll_t *p, int *polls, int http,
                       const char *name);

/* Appends "key=value" to a form (with "&" when not the first pair), both
 * percent-encoded (RFC 3986 unreserved characters kept). */
void cr_graph_form_add(cr_buf_t *form, const char *key, const char *value);
/* Appends value percent-encoded (for query strings). */
void cr_graph_urlenc(cr_buf_t *b, const char *value);

/* method {api_base}/{path} with the token, the form as the body (POST; taken
 * and cleared), writes on a fresh connection. 0, or -1 with r filled
 * (PERMANENT bad_api_base, TRANSIENT out of memory). */
int cr_graph_request(const Crieur__Task *task, const char *method, const char *path,
                     cr_buf_t *form, cr_http_req_t *req, cr_result_t *r);
/* POST {api_base}/{path} with a multipart/form-data body (mp is taken and
 * released), as cr_graph_request. */
int cr_graph_request_multipart(const Crieur__Task *task, const char *path, cr_multipart_t *mp,
                               cr_http_req_t *req, cr_result_t *r);

/* The post text: the body, then "\n\n" and the link unless the link is
 * empty, not wanted, or already in the body. NULL only out of memory. */
char *cr_graph_post_text(const Crieur__Task *task, int with_link);

/* ---- reconciliation ---------------------------------------------------- */

/* Where and how an account's recent posts are read back (per adapter). A
 * reply is looked for among the replies of the object it answers: the node
 * is then in_reply_to instead of the handle. */
typedef struct {
    const char *platform;   /* "facebook": words in messages for humans */
    const char *edge;       /* "posts": GET {api_base}/{node}/{edge} */
    const char *extra;      /* more query parameters ("order=reverse_chronological") or NULL */
    const char *fields;     /* "id,message,created_time" */
    const char *text_field; /* "message" */
    const char *time_field; /* "created_time" */
    int since_param;        /* the edge filters by since= (unix seconds) */
    int page_size;          /* limit= */
    int max_pages;          /* beyond: UNCONFIRMED, a human checks */
    int64_t window_ms;      /* read back from this long before the task was due */
} cr_graph_feed_t;

typedef struct {
    char id[CR_GRAPH_ID_MAX + 1];
    char permalink[CR_GRAPH_PERMALINK_MAX + 1]; /* "" if the item had none */
    char after[CR_GRAPH_CURSOR_MAX + 1];        /* MORE: the next page's cursor */
} cr_graph_found_t;

typedef enum {
    CR_GRAPH_MATCH_FOUND,     /* found: the oldest matching item of the page */
    CR_GRAPH_MATCH_NONE,      /* not in the window */
    CR_GRAPH_MATCH_MORE,      /* not on this page; found->after set */
    CR_GRAPH_MATCH_MALFORMED, /* not Graph's {"data":[..]} */
} cr_graph_match_t;

/* Looks for fingerprint (cr_x_fingerprint of the post text) among the items
 * of a read-back page (newest first). Items older than since_ms end the
 * search; items without text, or of the wrong shape, are skipped. */
cr_graph_match_t cr_graph_match(const char *body, size_t len, const cr_graph_feed_t *feed,
                                const char *fingerprint, int64_t since_ms,
                                cr_graph_found_t *found);

/* The start of the read-back window: due (or now) - feed->window_ms. */
int64_t cr_graph_since(const Crieur__Task *task, const cr_graph_feed_t *feed, int64_t now_ms);

/* GET {api_base}/{node}/{edge}?fields=..&limit=..[&extra][&since=..][&after=..]
 * (node NULL: the account's handle). 0, or -1 with r filled. */
int cr_graph_readback_request(const Crieur__Task *task, const cr_graph_feed_t *feed,
                              const char *node, const char *after, int64_t now_ms,
                              cr_http_req_t *req, cr_result_t *r);

/* A reconciliation in progress (owned by the adapter's call state). */
typedef struct {
    char *fingerprint;
    const char *node; /* borrowed from the task; NULL: the account */
    int64_t since_ms;
    int pages;
} cr_graph_reconcile_t;

/* Starts one: fingerprint of text, window, first request (node as in
 * cr_graph_readback_request, borrowed for the whole call). 0; -1 with r
 * filled, or -1 with r untouched out of memory (the step fails). */
int cr_graph_reconcile_start(cr_graph_reconcile_t *rc, const Crieur__Task *task,
                             const cr_graph_feed_t *feed, const char *node, const char *text,
                             int64_t now_ms, cr_http_req_t *req, cr_result_t *r);
void cr_graph_reconcile_clear(cr_graph_reconcile_t *rc);

typedef enum {
    CR_GRAPH_RB_FOUND,  /* found filled: published by an earlier attempt */
    CR_GRAPH_RB_ABSENT, /* not there: publish */
    CR_GRAPH_RB_NEXT,   /* req filled: the next page */
    CR_GRAPH_RB_DONE,   /* r filled: the call ends (failure, unconfirmed) */
} cr_graph_rb_t;

/* Handles the answer to a read-back request. */
cr_graph_rb_t cr_graph_reconcile_step(cr_graph_reconcile_t *rc, const Crieur__Task *task,
                                      const cr_graph_feed_t *feed, const cr_http_resp_t *prev,
                                      int64_t now_ms, cr_graph_found_t *found,
                                      cr_http_req_t *req, cr_result_t *r);

/* Ends a call as OK: id, url (may be NULL or ""), the usage note of resp
 * (may be NULL); reconciled calls say so in Result.error. CR_STEP_DONE or -1. */
int cr_graph_done_ok(cr_call_t *call, const cr_http_resp_t *resp, const char *id,
                     const char *url, int reconciled);

#endif
