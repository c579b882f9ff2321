/* cr_instagram: the Instagram adapter (Graph API content publishing; see docs
 * platform-apis.md, "Instagram", and cr_graph.h for what the Graph adapters
 * share). The account's handle is the Instagram user id.
 *
 * Publish, a small state machine:
 *  1. POST /{user}/media image_url, caption -> {"id": container};
 *  2. GET /{container}?fields=status_code,status until FINISHED: read at
 *     once, then, while IN_PROGRESS, again after instagram.poll_interval_ms
 *     (CR_STEP_WAIT: no connection held, other tasks run), at most
 *     instagram.max_polls reads (defaults: 1 s, 30 reads) and never past the
 *     task's deadline. Still IN_PROGRESS after that: TRANSIENT
 *     container_not_ready, retried later with a new container, nothing
 *     published. ERROR -> PERMANENT with the platform's reason;
 *     EXPIRED (2207020) -> PERMANENT;
 *  3. POST /{user}/media_publish creation_id -> {"id": media}: the only
 *     request that publishes; a lost answer is INDETERMINATE;
 *  4. GET /{media}?fields=permalink for the post's URL (a failure here does
 *     not change the outcome: the post is published; it only has no URL).
 *
 * The image is the post's media item, an http(s) URL given to Instagram as
 * it is (Instagram fetches it: a local file is PERMANENT media_not_url; one
 * image per post, no carousels here: more is PERMANENT too_many_media). A
 * post without media takes its link as the image URL, as before media
 * existed. The caption is the body (and the link, when the image came from
 * media).
 *
 * A reply (in_reply_to: a media id) is a comment on that media: POST
 * /{media}/comments message (the body and the link) -> {"id"}: OK with the
 * comment's id, no URL. Comments carry text only (an image: PERMANENT
 * unsupported_media).
 *
 * Reconciliation (Task.reconcile): GET /{user}/media (newest first) and look
 * for the caption's fingerprint among media since an hour before the post was
 * due (a reply: GET /{media}/comments), then as Facebook (cr_facebook.c).
 * Over the publishing quota is RATE_LIMITED: its subcodes are unconfirmed
 * (setting instagram.quota_subcodes, default 2207042).
 *
 * Every Instagram constant lives here. */
#include "cr_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IG_MEDIA_PATH "/%s/media"                     /* user id: create a container */
#define IG_COMMENTS_PATH "/%s/comments"               /* media id: comment on it */
#define IG_PUBLISH_PATH "/%s/media_publish"           /* user id */
#define IG_STATUS_PATH "/%s?fields=status_code,status" /* container id */
#define IG_PERMALINK_PATH "/%s?fields=permalink"      /* media id */
#define IG_STATUS_FIELD "status_code"
#define IG_REASON_FIELD "status"
#define IG_PERMALINK_FIELD "permalink"
#define IG_PLATFORM "instagram" /* settings */
#define IG_NAME "Instagram"      /* messages */
#define IG_MAX_IMAGES 1          /* no carousels here */
#define IG_MAX_PATH 160

static const cr_graph_feed_t s_feed = {
    .platform = "Instagram",
    .edge = "media",
    .fields = "id,caption,timestamp,permalink",
    .text_field = "caption",
    .time_field = "timestamp",
    .since_param = 0, /* filtered by timestamp while reading */
    .page_size = 100,
    .max_pages = 10,
    .window_ms = 3600000,
};

/* A reply is looked for among the comments of the media it answers. */
static const cr_graph_feed_t s_comments_feed = {
    .platform = "Instagram",
    .edge = "comments",
    .fields = "id,text,timestamp",
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
    S_PERMALINK_SENT,
    S_COMMENT_SENT,
};

typedef struct {
    cr_graph_reconcile_t rc;
    char *caption;     /* or the comment's text */
    const char *image; /* borrowed from the task */
    const char *reply; /* borrowed from the task: the media commented on, or NULL */
    char container[CR_GRAPH_ID_MAX + 1];
    char media[CR_GRAPH_ID_MAX + 1];
    cr_graph_poll_t poll;
    int polls;
    int publish_status; /* HTTP status of media_publish */
} s_state_t;

static void s_release(cr_call_t *call)
{
    s_state_t *st = call->state;
    if (st) {
        cr_graph_reconcile_clear(&st->rc);
        free(st->caption);
    }
    free(st);
    call->state = NULL;
}

static int s_get(cr_call_t *call, const char *path, int next)
{
    if (cr_graph_request(call->task, "GET", path, NULL, &call->req, &call->result))
        return CR_STEP_DONE;
    call->step = next;
    return CR_STEP_REQUEST;
}

static int s_poll(cr_call_t *call, const s_state_t *st)
{
    char path[IG_MAX_PATH];
    snprintf(path, sizeof path, IG_STATUS_PATH, st->container);
    return s_get(call, path, S_STATUS_SENT);
}

static int s_comment(cr_call_t *call, s_state_t *st)
{
    char path[IG_MAX_PATH];
    snprintf(path, sizeof path, IG_COMMENTS_PATH, st->reply);
    cr_buf_t form;
    cr_buf_init(&form);
    cr_graph_form_add(&form, "message", st->caption);
    if (cr_graph_request(call->task, "POST", path, &form, &call->req, &call->result))
        return CR_STEP_DONE;
    call->step = S_COMMENT_SENT;
    return CR_STEP_REQUEST;
}

/* The first write: the comment of a reply, else the container. */
static int s_create(cr_call_t *call, s_state_t *st)
{
    if (st->reply) return s_comment(call, st);
    char path[IG_MAX_PATH];
    snprintf(path, sizeof path, IG_MEDIA_PATH, call->task->account->handle);
    cr_buf_t form;
    cr_buf_init(&form);
    cr_graph_form_add(&form, "image_url", st->image);
    cr_graph_form_add(&form, "caption", st->caption);
    if (cr_graph_request(call->task, "POST", path, &form, &call->req, &call->result))
        return CR_STEP_DONE;
    call->step = S_CONTAINER_SENT;
    return CR_STEP_REQUEST;
}

static int s_publish(cr_call_t *call, s_state_t *st)
{
    char path[IG_MAX_PATH];
    snprintf(path, sizeof path, IG_PUBLISH_PATH, call->task->account->handle);
    cr_buf_t form;
    cr_buf_init(&form);
    cr_graph_form_add(&form, "creation_id", st->container);
    if (cr_graph_request(call->task, "POST", path, &form, &call->req, &call->result))
        return CR_STEP_DONE;
    call->step = S_PUBLISH_SENT;
    return CR_STEP_REQUEST;
}

/* The container's answer to a status poll. */
static int s_status(cr_call_t *call, s_state_t *st, const cr_http_resp_t *prev)
{
    char reason[300], buf[500];
    int http = (int)prev->status;
    switch (cr_graph_container_status(prev->body, prev->body_len, IG_STATUS_FIELD,
                                      IG_REASON_FIELD, reason, sizeof reason)) {
    case CR_GRAPH_C_FINISHED: return s_publish(call, st);
    case CR_GRAPH_C_IN_PROGRESS: {
        int rc = cr_graph_poll_next(call, &st->poll, &st->polls, http, IG_NAME);
        if (rc == CR_STEP_WAIT) call->step = S_POLL_WAIT;
        return rc;
    }
    case CR_GRAPH_C_ERROR:
        snprintf(buf, sizeof buf, "Instagram could not process the media: %s",
                 reason[0] ? reason : "ERROR");
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, http, buf, "container_error");
    case CR_GRAPH_C_EXPIRED:
        snprintf(buf, sizeof buf, "the media container expired before it was published%s%s",
                 reason[0] ? ": " : "", reason);
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, http, buf,
                            "container_expired");
    case CR_GRAPH_C_PUBLISHED:
        /* never asked for: someone or something published it; check first */
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
    case S_START: {
        if (t->kind != CRIEUR__JOB_KIND__KIND_PUBLISH)
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "instagram adapter does not handle this job kind",
                                "unsupported_kind");
        if (cr_graph_check_task(t, &call->result)) return CR_STEP_DONE;
        const Crieur__PublishPayload *pub = t->publish;
        const char *reply = cr_graph_reply_to(t), *image = NULL;
        int from_media = 0;
        if (reply) {
            if (pub->n_media > 0)
                return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                    "an Instagram reply is a comment, which carries text only: "
                                    "remove the image or publish it as a post",
                                    "unsupported_media");
        } else {
            if (cr_graph_image_url(t, IG_NAME, IG_MAX_IMAGES, &image, &call->result))
                return CR_STEP_DONE;
            from_media = image != NULL;
            if (!image) image = pub->link;
            if (!image || !image[0])
                return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                    "an Instagram post needs an image: the post has no media URL "
                                    "and no link",
                                    "no_image");
        }
        st = calloc(1, sizeof *st);
        if (!st) return -1;
        call->state = st;
        st->image = image;
        st->reply = reply;
        cr_graph_poll_settings(IG_PLATFORM, &st->poll);
        st->caption = cr_graph_post_text(t, reply || from_media);
        if (!st->caption) return -1;
        if (!t->reconcile) return s_create(call, st);
        if (cr_graph_reconcile_start(&st->rc, t, reply ? &s_comments_feed : &s_feed, reply,
                                     st->caption, call->now_ms, &call->req, &call->result))
            return call->result.outcome ? CR_STEP_DONE : -1;
        call->step = S_READBACK;
        return CR_STEP_REQUEST;
    }
    case S_READBACK: {
        if (!prev || !st) return -1;
        cr_graph_found_t found;
        switch (cr_graph_reconcile_step(&st->rc, t, st->reply ? &s_comments_feed : &s_feed, prev,
                                        call->now_ms, &found, &call->req, &call->result)) {
        case CR_GRAPH_RB_FOUND: return cr_graph_done_ok(call, prev, found.id, found.permalink, 1);
        case CR_GRAPH_RB_ABSENT: return s_create(call, st);
        case CR_GRAPH_RB_NEXT: return CR_STEP_REQUEST;
        case CR_GRAPH_RB_DONE: return CR_STEP_DONE;
        }
        return -1;
    }
    case S_CONTAINER_SENT:
        if (!prev || !st) return -1;
        if (!cr_graph_ok(prev) || cr_graph_id(prev->body, prev->body_len, "id", st->container)) {
            cr_graph_failure(prev, CR_GRAPH_PREPARE, IG_PLATFORM, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        return s_poll(call, st);
    case S_STATUS_SENT:
        if (!prev || !st) return -1;
        if (!cr_graph_ok(prev)) {
            cr_graph_failure(prev, CR_GRAPH_PREPARE, IG_PLATFORM, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        return s_status(call, st, prev);
    case S_POLL_WAIT:
        if (prev || !st) return -1;
        return s_poll(call, st);
    case S_COMMENT_SENT:
        if (!prev || !st) return -1;
        if (!cr_graph_ok(prev) || cr_graph_id(prev->body, prev->body_len, "id", st->media)) {
            cr_graph_failure(prev, CR_GRAPH_PUBLISH, IG_PLATFORM, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        return cr_graph_done_ok(call, prev, st->media, NULL, 0);
    case S_PUBLISH_SENT:
        if (!prev || !st) return -1;
        if (!cr_graph_ok(prev) || cr_graph_id(prev->body, prev->body_len, "id", st->media)) {
            cr_graph_failure(prev, CR_GRAPH_PUBLISH, IG_PLATFORM, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        st->publish_status = (int)prev->status;
        char path[IG_MAX_PATH];
        snprintf(path, sizeof path, IG_PERMALINK_PATH, st->media);
        if (s_get(call, path, S_PERMALINK_SENT) == CR_STEP_REQUEST) return CR_STEP_REQUEST;
        /* published: end OK without a URL rather than lose the id */
        return cr_graph_done_ok(call, prev, st->media, NULL, 0);
    case S_PERMALINK_SENT: {
        if (!prev || !st) return -1;
        char url[CR_GRAPH_PERMALINK_MAX + 1] = "";
        if (!cr_graph_ok(prev) ||
            cr_graph_url_field(prev->body, prev->body_len, IG_PERMALINK_FIELD, url))
            url[0] = '\0'; /* published all the same: only the URL is missing */
        int rc = cr_graph_done_ok(call, prev, st->media, url, 0);
        call->result.http_status = st->publish_status;
        return rc;
    }
    default: return -1;
    }
}

const cr_adapter_t cr_instagram_adapter = {
    .platform = "instagram",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
    .step = s_step,
    .release = s_release,
};
