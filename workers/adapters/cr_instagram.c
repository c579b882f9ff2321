/* cr_instagram: the Instagram adapter (Graph API content publishing; see docs
 * platform-apis.md, "Instagram", and cr_graph.h for what the Graph adapters
 * share). The account's handle is the Instagram user id.
 *
 * Publish, a small state machine:
 *  1. POST /{user}/media image_url, caption -> {"id": container};
 *  2. GET /{container}?fields=status_code,status until FINISHED. IN_PROGRESS
 *     is polled again at once, at most IG_STATUS_MAX_POLLS times: the
 *     runtime has no "wait, then request" step (cr_adapter.h), so the polls
 *     are spaced by the network round trip only; with such a step they would
 *     be spaced by a second or so. Still IN_PROGRESS after that: TRANSIENT
 *     container_not_ready, retried later with a new container, nothing
 *     published. ERROR -> PERMANENT with the platform's reason;
 *     EXPIRED (2207020) -> PERMANENT;
 *  3. POST /{user}/media_publish creation_id -> {"id": media}: the only
 *     request that publishes; a lost answer is INDETERMINATE;
 *  4. GET /{media}?fields=permalink for the post's URL (a failure here does
 *     not change the outcome: the post is published; it only has no URL).
 *
 * The image is the post's first media URL; until the broker forwards
 * post.media (it does not yet), the post's link is taken as the image URL.
 * The caption is the body (and the link, when the image came from media).
 *
 * Reconciliation (Task.reconcile): GET /{user}/media (newest first) and look
 * for the caption's fingerprint among media since an hour before the post was
 * due, then as Facebook (cr_facebook.c). Over the publishing quota
 * (9/2207042) is RATE_LIMITED.
 *
 * Every Instagram constant lives here. */
#include "cr_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IG_MEDIA_PATH "/%s/media"                     /* user id: create a container */
#define IG_PUBLISH_PATH "/%s/media_publish"           /* user id */
#define IG_STATUS_PATH "/%s?fields=status_code,status" /* container id */
#define IG_PERMALINK_PATH "/%s?fields=permalink"      /* media id */
#define IG_STATUS_FIELD "status_code"
#define IG_REASON_FIELD "status"
#define IG_PERMALINK_FIELD "permalink"
#define IG_STATUS_MAX_POLLS 40 /* within the runtime's 64 steps, with 10 read-back pages */
#define IG_NOT_READY_RETRY_MS 10000LL
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

enum {
    S_START = 0,
    S_READBACK,
    S_CONTAINER_SENT,
    S_STATUS_SENT,
    S_PUBLISH_SENT,
    S_PERMALINK_SENT,
};

typedef struct {
    cr_graph_reconcile_t rc;
    char *caption;
    const char *image; /* borrowed from the task */
    char container[CR_GRAPH_ID_MAX + 1];
    char media[CR_GRAPH_ID_MAX + 1];
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

static int s_create(cr_call_t *call, s_state_t *st)
{
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
    case CR_GRAPH_C_IN_PROGRESS:
        if (++st->polls < IG_STATUS_MAX_POLLS)
            return s_poll(call, st);
        snprintf(buf, sizeof buf,
                 "the media container was still being processed after %d status checks "
                 "(nothing published)",
                 st->polls);
        if (cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, http, buf,
                         "container_not_ready") < 0)
            return -1;
        call->result.retry_at_ms = call->now_ms + IG_NOT_READY_RETRY_MS;
        return CR_STEP_DONE;
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
        if (pub->n_media > 1)
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "carousels (several media) are not supported by this worker yet",
                                "unsupported_media");
        int from_media = pub->n_media == 1 && pub->media[0] && pub->media[0][0];
        const char *image = from_media ? pub->media[0] : pub->link;
        if (!image || !image[0])
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "an Instagram post needs an image: the post has no media URL and "
                                "no link",
                                "no_image");
        st = calloc(1, sizeof *st);
        if (!st) return -1;
        call->state = st;
        st->image = image;
        st->caption = cr_graph_post_text(t, from_media);
        if (!st->caption) return -1;
        if (!t->reconcile) return s_create(call, st);
        if (cr_graph_reconcile_start(&st->rc, t, &s_feed, st->caption, call->now_ms, &call->req,
                                     &call->result))
            return call->result.outcome ? CR_STEP_DONE : -1;
        call->step = S_READBACK;
        return CR_STEP_REQUEST;
    }
    case S_READBACK: {
        if (!prev || !st) return -1;
        cr_graph_found_t found;
        switch (cr_graph_reconcile_step(&st->rc, t, &s_feed, prev, call->now_ms, &found,
                                        &call->req, &call->result)) {
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
            cr_graph_failure(prev, CR_GRAPH_PREPARE, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        return s_poll(call, st);
    case S_STATUS_SENT:
        if (!prev || !st) return -1;
        if (!cr_graph_ok(prev)) {
            cr_graph_failure(prev, CR_GRAPH_PREPARE, call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        return s_status(call, st, prev);
    case S_PUBLISH_SENT:
        if (!prev || !st) return -1;
        if (!cr_graph_ok(prev) || cr_graph_id(prev->body, prev->body_len, "id", st->media)) {
            cr_graph_failure(prev, CR_GRAPH_PUBLISH, call->now_ms, &call->result);
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
