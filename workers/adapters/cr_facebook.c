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
 * Every Facebook constant lives here. */
#include "cr_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FB_FEED_PATH "/%s/feed" /* the page id */
#define FB_WEB_BASE "https://www.facebook.com/"
#define FB_MAX_PATH 128

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

enum { S_START = 0, S_READBACK, S_PUBLISH_SENT };

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

static int s_publish(cr_call_t *call)
{
    const Crieur__Task *t = call->task;
    const Crieur__PublishPayload *pub = t->publish;
    if (pub->n_media > 0)
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                            "media attachments are not supported by this worker yet",
                            "unsupported_media");
    char path[FB_MAX_PATH];
    snprintf(path, sizeof path, FB_FEED_PATH, t->account->handle);
    cr_buf_t form;
    cr_buf_init(&form);
    cr_graph_form_add(&form, "message", pub->body ? pub->body : "");
    if (pub->link && pub->link[0]) cr_graph_form_add(&form, "link", pub->link);
    if (cr_graph_request(t, "POST", path, &form, &call->req, &call->result)) return CR_STEP_DONE;
    call->step = S_PUBLISH_SENT;
    return CR_STEP_REQUEST;
}

static int s_ok(cr_call_t *call, const cr_http_resp_t *resp, const char *id, int reconciled)
{
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
        /* An earlier attempt may have published it: look before publishing. */
        st = calloc(1, sizeof *st);
        if (!st) return -1;
        call->state = st;
        if (cr_graph_reconcile_start(&st->rc, t, &s_feed, t->publish->body, call->now_ms,
                                     &call->req, &call->result))
            return call->result.outcome ? CR_STEP_DONE : -1;
        call->step = S_READBACK;
        return CR_STEP_REQUEST;
    case S_READBACK: {
        if (!prev || !st) return -1;
        cr_graph_found_t found;
        switch (cr_graph_reconcile_step(&st->rc, t, &s_feed, prev, call->now_ms, &found,
                                        &call->req, &call->result)) {
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
        /* an error, or a 2xx without a usable id (INDETERMINATE: it may exist) */
        if (!cr_graph_ok(prev) || cr_graph_id(prev->body, prev->body_len, "id", id)) {
            cr_graph_failure(prev, CR_GRAPH_PUBLISH, call->now_ms, &call->result);
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
