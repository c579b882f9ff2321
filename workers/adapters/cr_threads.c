/* cr_threads: the Threads adapter (Graph-style API; see docs platform-apis.md,
 * "Threads", and cr_graph.h for what the Graph adapters share). The
 * account's handle is the Threads user id; api_base carries the version
 * (https://graph.threads.net/v1.0).
 *
 * Publish:
 *  1. POST /{user}/threads media_type=TEXT, text (or IMAGE with image_url
 *     when the post has an image; reply_to_id=<thread> for a reply) ->
 *     {"id": container};
 *  2. an IMAGE container is processed first: GET /{container}?fields=status,
 *     error_message at once, then, while IN_PROGRESS, again after
 *     threads.poll_interval_ms (CR_STEP_WAIT), at most threads.max_polls
 *     reads (defaults 1 s, 30 reads), never past the task's deadline; still
 *     IN_PROGRESS: TRANSIENT container_not_ready (nothing published); ERROR:
 *     PERMANENT with error_message. A TEXT container is published at once;
 *  3. POST /{user}/threads_publish creation_id -> {"id"}: the only request
 *     that publishes; a lost answer is INDETERMINATE. A container that is not
 *     ready yet is refused (nothing published): TRANSIENT, retried;
 *  4. GET /{thread}?fields=permalink for the URL (its failure leaves the
 *     post published, without a URL).
 * The text is the body, then the link after a blank line unless the body
 * has it (Threads has no separate link for text posts); 500 characters.
 * The image is the post's media item, an http(s) URL given as it is
 * (Threads fetches it: a local file is PERMANENT media_not_url; one image
 * per post here: more is PERMANENT too_many_media).
 *
 * A reply (in_reply_to: a thread id) is a post whose container names it in
 * reply_to_id; the result is the reply's own id and permalink.
 *
 * Reconciliation (Task.reconcile): GET /{user}/threads since an hour before
 * the post was due (a reply: GET /{thread}/replies, newest first), matched
 * on the text's fingerprint, then as Facebook (cr_facebook.c).
 *
 * Every Threads constant lives here. */
#include "cr_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TH_THREADS_PATH "/%s/threads"           /* user id: create a container */
#define TH_PUBLISH_PATH "/%s/threads_publish"   /* user id */
#define TH_PERMALINK_PATH "/%s?fields=permalink" /* thread id */
#define TH_STATUS_PATH "/%s?fields=status,error_message" /* container id */
#define TH_STATUS_FIELD "status"
#define TH_REASON_FIELD "error_message"
#define TH_PLATFORM "threads" /* settings */
#define TH_NAME "Threads"     /* messages */
#define TH_MAX_IMAGES 1
#define TH_PERMALINK_FIELD "permalink"
#define TH_TYPE_TEXT "TEXT"
#define TH_TYPE_IMAGE "IMAGE"
#define TH_MAX_PATH 160

static const cr_graph_feed_t s_feed = {
    .platform = "Threads",
    .edge = "threads",
    .fields = "id,text,timestamp,permalink",
    .text_field = "text",
    .time_field = "timestamp",
    .since_param = 1,
    .page_size = 100,
    .max_pages = 10,
    .window_ms = 3600000,
};

/* A reply is looked for among the replies of the thread it answers. */
static const cr_graph_feed_t s_replies_feed = {
    .platform = "Threads",
    .edge = "replies",
    .fields = "id,text,timestamp,permalink",
    .text_field = "text",
    .time_field = "timestamp",
    .since_param = 0,
    .page_size = 100,
    .max_pages = 10,
    .window_ms = 3600000,
};

enum {
    S_START = 0,
    S_READBACK,
    S_CONTAINER_SENT,
    S_STATUS_SENT,
    S_POLL_WAIT,
    S_PUBLISH_SENT,
    S_PERMALINK_SENT
};

typedef struct {
    cr_graph_reconcile_t rc;
    char *text;
    const char *image; /* borrowed from the task, or NULL */
    const char *reply; /* borrowed from the task, or NULL */
    char container[CR_GRAPH_ID_MAX + 1];
    char thread[CR_GRAPH_ID_MAX + 1];
    cr_graph_poll_t poll;
    int polls;
    int publish_status;
} s_state_t;

static void s_release(cr_call_t *call)
{
    s_state_t *st = call->state;
    if (st) {
        cr_graph_reconcile_clear(&st->rc);
        free(st->text);
    }
    free(st);
    call->state = NULL;
}

/* POST path (built from a literal format and the user id). */
static int s_post(cr_call_t *call, const char *path, cr_buf_t *form, int next)
{
    if (cr_graph_request(call->task, "POST", path, form, &call->req, &call->result))
        return CR_STEP_DONE;
    call->step = next;
    return CR_STEP_REQUEST;
}

static int s_create(cr_call_t *call, s_state_t *st)
{
    cr_buf_t form;
    cr_buf_init(&form);
    if (st->image) {
        cr_graph_form_add(&form, "media_type", TH_TYPE_IMAGE);
        cr_graph_form_add(&form, "image_url", st->image);
    } else {
        cr_graph_form_add(&form, "media_type", TH_TYPE_TEXT);
    }
    cr_graph_form_add(&form, "text", st->text);
    if (st->reply) cr_graph_form_add(&form, "reply_to_id", st->reply);
    char path[TH_MAX_PATH];
    snprintf(path, sizeof path, TH_THREADS_PATH, call->task->account->handle);
    return s_post(call, path, &form, S_CONTAINER_SENT);
}

static int s_publish(cr_call_t *call, s_state_t *st)
{
    cr_buf_t form;
    cr_buf_init(&form);
    cr_graph_form_add(&form, "creation_id", st->container);
    char path[TH_MAX_PATH];
    snprintf(path, sizeof path, TH_PUBLISH_PATH, call->task->account->handle);
    return s_post(call, path, &form, S_PUBLISH_SENT);
}

static int s_poll(cr_call_t *call, const s_state_t *st)
{
    char path[TH_MAX_PATH];
    snprintf(path, sizeof path, TH_STATUS_PATH, st->container);
    if (cr_graph_request(call->task, "GET", path, NULL, &call->req, &call->result))
        return CR_STEP_DONE;
    call->step = S_STATUS_SENT;
    return CR_STEP_REQUEST;
}

/* The container's answer to a status read. */
static int s_status(cr_call_t *call, s_state_t *st, const cr_http_resp_t *prev)
{
    char reason[300], buf[500];
    int http = (int)prev->status;
    switch (cr_graph_container_status(prev->body, prev->body_len, TH_STATUS_FIELD,
                                      TH_REASON_FIELD, reason, sizeof reason)) {
    case CR_GRAPH_C_FINISHED: return s_publish(call, st);
    case CR_GRAPH_C_IN_PROGRESS: {
        int rc = cr_graph_poll_next(call, &st->poll, &st->polls, http, TH_NAME);
        if (rc == CR_STEP_WAIT) call->step = S_POLL_WAIT;
        return rc;
    }
    case CR_GRAPH_C_ERROR:
        snprintf(buf, sizeof buf, "Threads could not process the media: %s",
                 reason[0] ? reason : "ERROR");
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, http, buf, "container_error");
    case CR_GRAPH_C_EXPIRED:
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, http,
                            "the media container expired before it was published",
                            "container_expired");
    case CR_GRAPH_C_PUBLISHED:
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, http,
                            "the new media container is already published",
                            "container_published");
    case CR_GRAPH_C_UNKNOWN: break;
    }
    return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, http,
                        "malformed container status (nothing published)", "malformed_status");
}

static int s_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    const Crieur__Task *t = call->task;
    s_state_t *st = call->state;
    switch (call->step) {
    case S_START:
        if (t->kind != CRIEUR__JOB_KIND__KIND_PUBLISH)
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "threads adapter does not handle this job kind",
                                "unsupported_kind");
        if (cr_graph_check_task(t, &call->result)) return CR_STEP_DONE;
        const char *image;
        if (cr_graph_image_url(t, TH_NAME, TH_MAX_IMAGES, &image, &call->result))
            return CR_STEP_DONE;
        st = calloc(1, sizeof *st);
        if (!st) return -1;
        call->state = st;
        st->image = image;
        st->reply = cr_graph_reply_to(t);
        cr_graph_poll_settings(TH_PLATFORM, &st->poll);
        st->text = cr_graph_post_text(t, 1);
        if (!st->text) return -1;
        if (!t->reconcile) return s_create(call, st);
        if (cr_graph_reconcile_start(&st->rc, t, st->reply ? &s_replies_feed : &s_feed, st->reply,
                                     st->text, call->now_ms, &call->req, &call->result))
            return call->result.outcome ? CR_STEP_DONE : -1;
        call->step = S_READBACK;
        return CR_STEP_REQUEST;
    case S_READBACK: {
        if (!prev || !st) return -1;
        cr_graph_found_t found;
        switch (cr_graph_reconcile_step(&st->rc, t, st->reply ? &s_replies_feed : &s_feed, prev,
                                        call->now_ms, &found, &call->req, &call->result)) {
        case CR_GRAPH_RB_FOUND: return cr_graph_done_ok(call, prev, found.id, found.permalink, 1);
        case CR_GRAPH_RB_ABSENT: return s_create(call, st);
        case CR_GRAPH_RB_NEXT: return CR_STEP_REQUEST;
        case CR_GRAPH_RB_DONE: return CR_STEP_DONE;
        }
        return -1;
    }
    case S_CONTAINER_SENT: {
        if (!prev || !st) return -1;
        if (!cr_graph_ok(prev) || cr_graph_id(prev->body, prev->body_len, "id", st->container)) {
            cr_graph_failure(prev, CR_GRAPH_PREPARE, TH_PLATFORM, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        /* an image is processed first; a text container is ready */
        return st->image ? s_poll(call, st) : s_publish(call, st);
    }
    case S_STATUS_SENT:
        if (!prev || !st) return -1;
        if (!cr_graph_ok(prev)) {
            cr_graph_failure(prev, CR_GRAPH_PREPARE, TH_PLATFORM, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        return s_status(call, st, prev);
    case S_POLL_WAIT:
        if (prev || !st) return -1;
        return s_poll(call, st);
    case S_PUBLISH_SENT: {
        if (!prev || !st) return -1;
        if (!cr_graph_ok(prev) || cr_graph_id(prev->body, prev->body_len, "id", st->thread)) {
            cr_graph_failure(prev, CR_GRAPH_PUBLISH, TH_PLATFORM, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        st->publish_status = (int)prev->status;
        char path[TH_MAX_PATH];
        snprintf(path, sizeof path, TH_PERMALINK_PATH, st->thread);
        if (cr_graph_request(t, "GET", path, NULL, &call->req, &call->result)) {
            /* published: end OK without a URL rather than lose the id */
            return cr_graph_done_ok(call, prev, st->thread, NULL, 0);
        }
        call->step = S_PERMALINK_SENT;
        return CR_STEP_REQUEST;
    }
    case S_PERMALINK_SENT: {
        if (!prev || !st) return -1;
        char url[CR_GRAPH_PERMALINK_MAX + 1] = "";
        if (!cr_graph_ok(prev) ||
            cr_graph_url_field(prev->body, prev->body_len, TH_PERMALINK_FIELD, url))
            url[0] = '\0'; /* published all the same: only the URL is missing */
        int rc = cr_graph_done_ok(call, prev, st->thread, url, 0);
        call->result.http_status = st->publish_status;
        return rc;
    }
    default: return -1;
    }
}

const cr_adapter_t cr_threads_adapter = {
    .platform = "threads",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
    .step = s_step,
    .release = s_release,
};
