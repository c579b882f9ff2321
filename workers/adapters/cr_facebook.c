/* cr_facebook: the Facebook Page adapter (Graph API; see docs platform-apis.md,
 * "Facebook Page (Graph API)", and cr_graph.h for what the Graph adapters
 * share).
 *
 * Publish: POST {api_base}/{page id}/feed with message (the post's body) and
 * link, form-encoded, the Page token as a Bearer header, on a fresh
 * connection -> {"id":"{page}_{post}"}: OK with that id and the URL
 * https://www.facebook.com/{id}. The page id is the account's handle; the
 * Graph version is part of api_base (https://graph.facebook.com/v21.0).
 *
 * No idempotency: an answer lost after sending, a 5xx or a transient Graph
 * error is INDETERMINATE, and the next attempt (Task.reconcile) first reads
 * the page's posts back (GET /{page}/posts since an hour before the post was
 * due) and looks for this message by its fingerprint: found -> OK, reconciled,
 * no second POST; not found -> publish; the page cannot be read back ->
 * UNCONFIRMED. 506 (the same message on the page recently) is PERMANENT
 * "duplicate".
 *
 * A post with an image (one per post here; more is PERMANENT
 * too_many_media) is a photo: POST /{page}/photos with url= (an http(s)
 * media item, as it is) or, for a local file, the bytes as the multipart
 * part "source" (read on the worker, at most facebook.photo_max_bytes),
 * and caption (the body and the link) -> {"id": photo, "post_id":
 * "{page}_{post}"}: the post id is post_id. Photo posts are in the page's
 * posts with the caption as their message, so reconciliation is the same.
 *
 * A reply (in_reply_to: a post or comment id) is a comment: POST
 * /{object}/comments message (the body and the link) -> {"id"}: OK with the
 * comment's id (no URL). Comments carry text only here (an image: PERMANENT
 * unsupported_media). Reconciliation reads the object's comments back
 * (GET /{object}/comments, newest first).
 *
 * Every Facebook constant lives here. */
#include "cr_graph.h"

#include "cr_settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FB_FEED_PATH "/%s/feed"         /* the page id */
#define FB_PHOTOS_PATH "/%s/photos"     /* the page id */
#define FB_COMMENTS_PATH "/%s/comments" /* the post or comment id */
#define FB_WEB_BASE "https://www.facebook.com/"
#define FB_MAX_PATH 128
#define FB_MAX_PHOTOS 1 /* one photo per post here (no multi-photo posts) */
#define FB_PHOTO_MAX_BYTES 4194304LL /* default of facebook.photo_max_bytes (4 MB) */

static const cr_graph_feed_t s_feed = {
    .platform = "Facebook",
    .edge = "posts",
    .fields = "id,message,created_time,permalink_url",
    .text_field = "message",
    .time_field = "created_time",
    .since_param = 1,
    .page_size = 100,
    .max_pages = 10,
    .window_ms = 3600000, /* from an hour before the post was due */
};

/* Replies are read back among the object's comments, newest first. */
static const cr_graph_feed_t s_comments_feed = {
    .platform = "Facebook",
    .edge = "comments",
    .extra = "order=reverse_chronological&filter=stream",
    .fields = "id,message,created_time,permalink_url",
    .text_field = "message",
    .time_field = "created_time",
    .since_param = 0, /* filtered by created_time while reading */
    .page_size = 100,
    .max_pages = 10,
    .window_ms = 3600000,
};

enum { S_START = 0, S_READBACK, S_PUBLISH_SENT };

typedef enum { K_FEED, K_PHOTO, K_COMMENT } s_kind_t;

typedef struct {
    cr_graph_reconcile_t rc;
} s_state_t;

static void s_release(cr_call_t *call)
{
    s_state_t *st = call->state;
    if (st) cr_graph_reconcile_clear(&st->rc);
    free(st);
    call->state = NULL;
}

/* What this post is; -1 with the result set if it cannot be published. */
static int s_kind(cr_call_t *call, s_kind_t *kind)
{
    const Crieur__PublishPayload *pub = call->task->publish;
    char buf[200];
    if (cr_graph_reply_to(call->task)) {
        if (pub->n_media > 0)
            return cr_result_fail(&call->result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                                  "a Facebook reply (a comment) carries text only here: remove "
                                  "the image or publish it as a post",
                                  "unsupported_media");
        *kind = K_COMMENT;
        return 0;
    }
    if (pub->n_media > FB_MAX_PHOTOS) {
        snprintf(buf, sizeof buf,
                 "the post has %zu images; Facebook takes %d photo per post here: remove some",
                 pub->n_media, FB_MAX_PHOTOS);
        return cr_result_fail(&call->result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf,
                              "too_many_media");
    }
    if (pub->n_media == 1 && cr_media_source(pub->media[0]) == CR_MEDIA_BAD)
        return cr_result_fail(&call->result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "the post's media item is neither an http(s) URL nor an absolute "
                              "file path",
                              "bad_media");
    *kind = pub->n_media == 1 ? K_PHOTO : K_FEED;
    return 0;
}

/* POST /{page}/photos: url= for a URL, the bytes as "source" for a file. */
static int s_photo(cr_call_t *call, const char *caption)
{
    const Crieur__Task *t = call->task;
    const char *ref = t->publish->media[0];
    char path[FB_MAX_PATH];
    snprintf(path, sizeof path, FB_PHOTOS_PATH, t->account->handle);
    if (cr_media_source(ref) == CR_MEDIA_URL) {
        cr_buf_t form;
        cr_buf_init(&form);
        cr_graph_form_add(&form, "url", ref);
        if (caption[0]) cr_graph_form_add(&form, "caption", caption);
        return cr_graph_request(t, "POST", path, &form, &call->req, &call->result);
    }
    long long max = cr_setting_int("facebook", "photo_max_bytes", FB_PHOTO_MAX_BYTES);
    if (max <= 0 || max > (long long)CR_MEDIA_MAX_BYTES) max = FB_PHOTO_MAX_BYTES;
    cr_media_t m;
    if (cr_media_load_file(ref, (size_t)max, &m, &call->result)) return -1;
    cr_multipart_t mp;
    cr_multipart_init(&mp);
    if (caption[0]) cr_multipart_field(&mp, "caption", caption);
    cr_multipart_file(&mp, "source", m.name, m.mime, m.data, m.len);
    cr_media_clear(&m);
    return cr_graph_request_multipart(t, path, &mp, &call->req, &call->result);
}

static int s_publish(cr_call_t *call)
{
    const Crieur__Task *t = call->task;
    const Crieur__PublishPayload *pub = t->publish;
    s_kind_t kind = K_FEED;
    if (s_kind(call, &kind)) return CR_STEP_DONE;
    char path[FB_MAX_PATH];
    int rc;
    if (kind == K_FEED) {
        snprintf(path, sizeof path, FB_FEED_PATH, t->account->handle);
        cr_buf_t form;
        cr_buf_init(&form);
        cr_graph_form_add(&form, "message", pub->body ? pub->body : "");
        if (pub->link && pub->link[0]) cr_graph_form_add(&form, "link", pub->link);
        rc = cr_graph_request(t, "POST", path, &form, &call->req, &call->result);
    } else {
        /* photos and comments have no link field: the link goes in the text */
        char *text = cr_graph_post_text(t, 1);
        if (!text) return -1;
        if (kind == K_PHOTO) {
            rc = s_photo(call, text);
        } else {
            snprintf(path, sizeof path, FB_COMMENTS_PATH, cr_graph_reply_to(t));
            cr_buf_t form;
            cr_buf_init(&form);
            cr_graph_form_add(&form, "message", text);
            rc = cr_graph_request(t, "POST", path, &form, &call->req, &call->result);
        }
        free(text);
    }
    if (rc) return CR_STEP_DONE;
    call->step = S_PUBLISH_SENT;
    return CR_STEP_REQUEST;
}

static int s_ok(cr_call_t *call, const cr_http_resp_t *resp, const char *id, int reconciled)
{
    /* a comment has no page of its own: no URL */
    if (cr_graph_reply_to(call->task)) return cr_graph_done_ok(call, resp, id, NULL, reconciled);
    char url[sizeof FB_WEB_BASE + CR_GRAPH_ID_MAX];
    snprintf(url, sizeof url, FB_WEB_BASE "%s", id);
    return cr_graph_done_ok(call, resp, id, url, reconciled);
}

static int s_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    const Crieur__Task *t = call->task;
    s_state_t *st = call->state;
    switch (call->step) {
    case S_START:
        if (t->kind != CRIEUR__JOB_KIND__KIND_PUBLISH)
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "facebook adapter does not handle this job kind",
                                "unsupported_kind");
        if (cr_graph_check_task(t, &call->result)) return CR_STEP_DONE;
        if (!t->reconcile) return s_publish(call);
        /* An earlier attempt may have published it: look before publishing
         * (a reply among the comments of what it answers). */
        st = calloc(1, sizeof *st);
        if (!st) return -1;
        call->state = st;
        if (cr_graph_reconcile_start(&st->rc, t, cr_graph_reply_to(t) ? &s_comments_feed : &s_feed,
                                     cr_graph_reply_to(t), t->publish->body, call->now_ms,
                                     &call->req, &call->result))
            return call->result.outcome ? CR_STEP_DONE : -1;
        call->step = S_READBACK;
        return CR_STEP_REQUEST;
    case S_READBACK: {
        if (!prev || !st) return -1;
        cr_graph_found_t found;
        switch (cr_graph_reconcile_step(&st->rc, t,
                                        cr_graph_reply_to(t) ? &s_comments_feed : &s_feed, prev,
                                        call->now_ms, &found, &call->req, &call->result)) {
        case CR_GRAPH_RB_FOUND: return s_ok(call, prev, found.id, 1);
        case CR_GRAPH_RB_ABSENT: return s_publish(call);
        case CR_GRAPH_RB_NEXT: return CR_STEP_REQUEST;
        case CR_GRAPH_RB_DONE: return CR_STEP_DONE;
        }
        return -1;
    }
    case S_PUBLISH_SENT: {
        if (!prev) return -1;
        char id[CR_GRAPH_ID_MAX + 1];
        /* a photo's post is post_id (its id is the photo's) */
        const char *field =
            !cr_graph_reply_to(t) && t->publish->n_media == 1 ? "post_id" : "id";
        /* an error, or a 2xx without a usable id (INDETERMINATE: it may exist) */
        if (!cr_graph_ok(prev) || cr_graph_id(prev->body, prev->body_len, field, id)) {
            cr_graph_failure(prev, CR_GRAPH_PUBLISH, "facebook", call->now_ms, &call->result);
            return CR_STEP_DONE;
        }
        return s_ok(call, prev, id, 0);
    }
    default: return -1;
    }
}

const cr_adapter_t cr_facebook_adapter = {
    .platform = "facebook",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
    .step = s_step,
    .release = s_release,
};
