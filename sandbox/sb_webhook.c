/*
 * sb_webhook: Slack-compatible incoming webhooks (alert channels), mounted
 * under /webhook. A hook's URL is http://HOST:PORT/webhook/services/T.../B.../SECRET
 * (Slack's path shape: T and B segments of letters and digits, then the
 * secret). A hook is an account of platform "webhook" whose token is the
 * secret: POST /_sandbox/accounts {"platform":"webhook","handle":"ops",
 * "token":"SECRET"[,"archived":true]} makes /webhook/services/T0/B0/SECRET
 * (any T and B segments) deliver to channel "ops"; registering it again sets
 * "archived" anew (absent = false). With --open any secret is a hook. A
 * revoked token (/_sandbox/tokens/revoke) is an unknown hook again.
 *
 * Answers as hooks.slack.com does, plain-text strings (text/html):
 *   POST, JSON object with a non-empty "text" string and/or a non-empty
 *   "blocks" array of objects with a "type"     200 ok
 *   body not JSON, not an object, wrong types   400 invalid_payload
 *   neither text nor blocks                     400 no_text
 *   a block without a "type"                    400 invalid_blocks
 *   unknown or revoked hook, malformed path     404 no_service
 *   archived channel                            410 channel_is_archived
 *   more than one message per --webhook-interval-ms per hook, after a
 *   burst of --webhook-burst                    429 rate_limited, Retry-After (s)
 *   other methods                               405 invalid_method
 * Injected faults (sb_faults) answer in the same shape: 403
 * action_prohibited, 404 channel_not_found, 410 channel_is_archived, 429
 * rate_limited with Retry-After, 500 rollup_error, others the reason phrase.
 *
 * Every accepted message is one ledger entry: platform "webhook", account =
 * the channel's handle, id "msg-N", text = the "text" field, or the texts of
 * the blocks joined by newlines when there is none.
 *
 * Every webhook constant lives here. All state is guarded by the world lock.
 */
#include "sb_log.h"
#include "sb_map.h"
#include "sb_world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PLATFORM "webhook"
#define S_PREFIX "/services/"
#define S_SECRET_MAX 1024
#define S_TEXT_TYPE "text/html"

typedef struct {
    double tokens;        /* messages that may go now (token bucket) */
    uint64_t updated_us;  /* when tokens was last refilled */
    bool archived;
} s_hook_t;

typedef struct {
    sb_world_t *world;
    sb_map_t *hooks;      /* channel handle -> s_hook_t */
} s_webhook_t;

static void
s_free (void *p)
{
    free (p);
}

/* "/services/T…/B…/<secret>" -> the secret, or NULL. */
static const char *
s_secret (const char *path)
{
    size_t n = strlen (S_PREFIX);
    if (strncmp (path, S_PREFIX, n) != 0)
        return NULL;
    const char *p = path + n;
    for (int seg = 0; seg < 2; seg++) {
        if (*p != (seg == 0 ? 'T' : 'B'))
            return NULL;
        p++;
        while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            p++;
        if (*p != '/')
            return NULL;
        p++;
    }
    size_t len = 0;
    for (const char *q = p; *q; q++, len++) {
        char c = *q;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-'))
            return NULL;
    }
    return len >= 1 && len <= S_SECRET_MAX ? p : NULL;
}

static void
s_reply (sb_reply_t *rep, int status, const char *text)
{
    rep->status = status;
    sb_buf_reset (&rep->body);
    sb_buf_adds (&rep->body, text);
    sb_reply_header (rep, "Content-Type", S_TEXT_TYPE);
}

static s_hook_t *
s_hook (s_webhook_t *self, const char *handle)
{
    s_hook_t *h = sb_map_get (self->hooks, handle);
    if (h)
        return h;
    h = calloc (1, sizeof (*h));
    if (!h)
        return NULL;
    h->tokens = (double) self->world->config->webhook_burst;
    if (sb_map_put (self->hooks, handle, h) != 0) {
        free (h);
        return NULL;
    }
    return h;
}

/* Lock held. The hook's channel; with --open, created on first use. */
static sb_account_t *
s_authenticate (s_webhook_t *self, const char *secret, uint64_t now_us)
{
    sb_world_t *world = self->world;
    if (sb_accounts_revoked (world->accounts, secret))
        return NULL;
    sb_account_t *a = sb_accounts_by_token (world->accounts, S_PLATFORM, secret);
    if (a || !world->config->open)
        return a;
    char handle[SB_HANDLE_MAX];
    sb_accounts_open_handle (secret, handle, sizeof (handle));
    a = sb_accounts_ensure (world->accounts, S_PLATFORM, handle, sb_world_next_id (world, now_us),
                            now_us);
    if (a && sb_accounts_add_token (world->accounts, a, secret) != 0)
        return NULL;
    return a;
}

/* Lock held. Takes one message from the hook's bucket; false with the
 * seconds to wait when it is empty. */
static bool
s_rate (const s_webhook_t *self, s_hook_t *h, uint64_t now_us, int64_t *retry_s)
{
    const sb_config_t *c = self->world->config;
    double interval_us = (double) c->webhook_interval_ms * 1000.0;
    double burst = (double) c->webhook_burst;
    if (h->updated_us && now_us > h->updated_us && interval_us > 0)
        h->tokens += (double) (now_us - h->updated_us) / interval_us;
    if (h->tokens > burst)
        h->tokens = burst;
    h->updated_us = now_us;
    if (h->tokens >= 1.0) {
        h->tokens -= 1.0;
        return true;
    }
    double wait_us = (1.0 - h->tokens) * interval_us;
    *retry_s = (int64_t) ((wait_us + 999999.0) / 1000000.0);
    if (*retry_s < 1)
        *retry_s = 1;
    return false;
}

/* The message's text for the ledger; appends to out. False if the payload
 * is not one Slack accepts (rep filled). */
static bool
s_validate (const json_t *body, sb_buf_t *out, sb_reply_t *rep)
{
    if (!json_is_object (body)) {
        s_reply (rep, 400, "invalid_payload");
        return false;
    }
    json_t *text = json_object_get (body, "text");
    json_t *blocks = json_object_get (body, "blocks");
    if ((text && !json_is_string (text)) || (blocks && !json_is_array (blocks))) {
        s_reply (rep, 400, "invalid_payload");
        return false;
    }
    bool has_text = text && json_string_length (text) > 0;
    bool has_blocks = blocks && json_array_size (blocks) > 0;
    if (!has_text && !has_blocks) {
        s_reply (rep, 400, "no_text");
        return false;
    }
    size_t i;
    json_t *b;
    json_array_foreach (blocks, i, b)
    {
        if (!json_is_object (b) || !json_is_string (json_object_get (b, "type"))) {
            s_reply (rep, 400, "invalid_blocks");
            return false;
        }
    }
    if (has_text) {
        sb_buf_add (out, json_string_value (text), json_string_length (text));
        return true;
    }
    json_array_foreach (blocks, i, b)
    {
        json_t *t = json_object_get (b, "text");
        const char *s = json_string_value (json_object_get (t, "text"));
        json_t *elements = json_object_get (b, "elements");
        size_t k;
        json_t *e;
        if (s) {
            if (out->len)
                sb_buf_addc (out, '\n');
            sb_buf_adds (out, s);
        }
        json_array_foreach (elements, k, e)
        {
            const char *es = json_string_value (json_object_get (e, "text"));
            if (es) {
                if (out->len)
                    sb_buf_addc (out, '\n');
                sb_buf_adds (out, es);
            }
        }
    }
    return true;
}

static void
s_handle (void *state, const sb_req_t *req, sb_reply_t *rep)
{
    s_webhook_t *self = state;
    sb_world_t *world = self->world;
    const char *secret = s_secret (req->path);
    if (!secret) {
        s_reply (rep, 404, "no_service");
        return;
    }
    if (!sb_req_is (req, "POST")) {
        s_reply (rep, 405, "invalid_method");
        return;
    }
    /* parse outside the lock */
    json_t *body = json_loadb (req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
    sb_buf_t text;
    sb_buf_init (&text);

    sb_world_lock (world);
    sb_account_t *a = s_authenticate (self, secret, req->now_us);
    s_hook_t *h = a ? s_hook (self, a->handle) : NULL;
    int64_t retry_s = 0;
    if (!a)
        s_reply (rep, 404, "no_service");
    else if (!h)
        s_reply (rep, 500, "rollup_error");
    else if (h->archived)
        s_reply (rep, 410, "channel_is_archived");
    else if (!s_rate (self, h, req->now_us, &retry_s)) {
        char v[24];
        snprintf (v, sizeof (v), "%lld", (long long) retry_s);
        s_reply (rep, 429, "rate_limited");
        sb_reply_header (rep, "Retry-After", v);
    }
    else if (!body)
        s_reply (rep, 400, "invalid_payload");
    else if (s_validate (body, &text, rep)) {
        if (!sb_buf_ok (&text))
            s_reply (rep, 500, "rollup_error");
        else {
            char id[32];
            snprintf (id, sizeof (id), "msg-%llu",
                      (unsigned long long) sb_world_next_id (world, req->now_us));
            sb_ledger_entry_t entry = { .created_us = req->now_us,
                                        .platform = S_PLATFORM,
                                        .account = a->handle,
                                        .id = id,
                                        .url = NULL,
                                        .text = text.data ? text.data : "",
                                        .idempotency_key = NULL };
            if (sb_ledger_append (world->ledger, &entry) == 0)
                SB_WARN ("ledger append failed for webhook message %s", id);
            s_reply (rep, 200, "ok");
        }
    }
    sb_world_unlock (world);
    sb_buf_free (&text);
    json_decref (body);
}

/* ------------------------------------------------------------------------ */
/* Platform interface                                                        */

static void *
s_create (sb_world_t *world)
{
    s_webhook_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->world = world;
    self->hooks = sb_map_new (s_free);
    if (!self->hooks) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_reset (void *state)
{
    s_webhook_t *self = state;
    sb_map_clear (self->hooks);
}

static void
s_destroy (void **state_p)
{
    if (!state_p || !*state_p)
        return;
    s_webhook_t *self = *state_p;
    sb_map_destroy (&self->hooks);
    free (self);
    *state_p = NULL;
}

static bool
s_identify (void *state, const sb_req_t *req, char *handle, size_t cap)
{
    s_webhook_t *self = state;
    const char *secret = s_secret (req->path);
    return secret
           && sb_accounts_identify (self->world->accounts, S_PLATFORM, secret, S_SECRET_MAX,
                                    self->world->config->open, handle, cap);
}

static void
s_fault (void *state, const sb_req_t *req, int status, sb_reply_t *rep)
{
    (void) state;
    (void) req;
    switch (status) {
    case 400: s_reply (rep, 400, "invalid_payload"); break;
    case 403: s_reply (rep, 403, "action_prohibited"); break;
    case 404: s_reply (rep, 404, "channel_not_found"); break;
    case 410: s_reply (rep, 410, "channel_is_archived"); break;
    case 429:
        s_reply (rep, 429, "rate_limited");
        sb_reply_header (rep, "Retry-After", "1");
        break;
    case 500: s_reply (rep, 500, "rollup_error"); break;
    default: s_reply (rep, status, sb_http_reason (status)); break;
    }
}

/* World lock held. POST /_sandbox/accounts for a hook: "archived". */
static int
s_account_options (void *state, const sb_account_t *account, const json_t *spec, char *err,
                   size_t errlen)
{
    s_webhook_t *self = state;
    json_t *archived = json_object_get (spec, "archived");
    if (archived && !json_is_boolean (archived)) {
        snprintf (err, errlen, "'archived' must be true or false");
        return -1;
    }
    s_hook_t *h = s_hook (self, account->handle);
    if (!h) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    h->archived = json_is_true (archived);
    return 0;
}

const sb_platform_t sb_webhook_platform = {
    .name = S_PLATFORM,
    .prefix = "/webhook",
    .create = s_create,
    .destroy = s_destroy,
    .reset = s_reset,
    .identify = s_identify,
    .handle = s_handle,
    .fault = s_fault,
    .mention = NULL,
    .account_options = s_account_options,
};
