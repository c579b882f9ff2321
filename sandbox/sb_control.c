/*
 * sb_control: the /_sandbox control API (JSON, no authentication).
 *
 *   GET    /_sandbox/health                 {"ok":true}
 *   POST   /_sandbox/accounts               {"platform","handle","token"[,"expires_in",
 *                                            "refresh_token","refresh_expires_in"]} -> 201
 *   POST   /_sandbox/tokens/revoke          {"token"}
 *   POST   /_sandbox/faults                 rule (sb_faults.h) -> 201 {"id":N}
 *   GET    /_sandbox/faults                 {"faults":[...]}
 *   DELETE /_sandbox/faults[/ID]            clear all / one
 *   POST   /_sandbox/mentions               {"platform","account","from","text"[,"in_reply_to_id"]}
 *   GET    /_sandbox/ledger[?platform=&account=&since=SEQ]
 *   GET    /_sandbox/media/NAME.EXT[?bytes=N&status=S]   a generated image (sb_media.h)
 *   GET    /_sandbox/sessions?platform=&account=   session calls of an account
 *   GET    /_sandbox/stats
 *   POST   /_sandbox/reset
 */
#include "sb_log.h"
#include "sb_media.h"
#include "sb_oauth.h"
#include "sb_world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *
s_body_object (const sb_req_t *req, sb_reply_t *rep)
{
    json_error_t err;
    json_t *root = json_loadb (req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        char msg[256];
        snprintf (msg, sizeof (msg), "invalid JSON body: %s", err.text);
        sb_reply_error (rep, 400, msg);
        return NULL;
    }
    if (!json_is_object (root)) {
        json_decref (root);
        sb_reply_error (rep, 400, "the body must be a JSON object");
        return NULL;
    }
    return root;
}

static const char *
s_string (const json_t *obj, const char *key)
{
    const json_t *v = json_object_get (obj, key);
    return json_is_string (v) ? json_string_value (v) : NULL;
}

static void
s_accounts (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep)
{
    json_t *body = s_body_object (req, rep);
    if (!body)
        return;
    const char *platform = s_string (body, "platform");
    const char *handle = s_string (body, "handle");
    const char *token = s_string (body, "token");
    char err[160];
    if (!platform || sb_world_platform_index (world, platform) < 0)
        sb_reply_error (rep, 422, "'platform' must name a sandbox platform");
    else if (!handle || !sb_accounts_handle_valid (handle))
        sb_reply_error (rep, 422, "'handle' must be 1-30 characters of [A-Za-z0-9_]");
    else if (!token || !*token || strlen (token) > 1024)
        sb_reply_error (rep, 422, "'token' must be a non-empty string (at most 1024 bytes)");
    else if (sb_oauth_check_spec (platform, body, err, sizeof (err)) != 0)
        sb_reply_error (rep, 422, err);
    else {
        uint64_t now = sb_now_us ();
        sb_world_lock (world);
        sb_account_t *a = sb_accounts_ensure (world->accounts, platform, handle,
                                              sb_world_next_id (world, now), now);
        int index = sb_world_platform_index (world, platform);
        const sb_platform_t *p = world->platforms[index];
        char opt_err[200] = "";
        if (a && p->account_options
            && p->account_options (world->pstates[index], a, body, opt_err, sizeof (opt_err))
                   != 0)
            sb_reply_error (rep, 422, opt_err);
        else if (a && sb_accounts_add_token (world->accounts, a, token) == 0
            && sb_oauth_apply_spec (world, a, token, body, now) == 0) {
            rep->status = 201;
            sb_buf_adds (&rep->body, "{\"id\":");
            sb_buf_add_json_id (&rep->body, a->id);
            sb_buf_adds (&rep->body, ",\"platform\":");
            sb_buf_add_json_str (&rep->body, a->platform);
            sb_buf_adds (&rep->body, ",\"handle\":");
            sb_buf_add_json_str (&rep->body, a->handle);
            sb_buf_printf (&rep->body, ",\"api_base\":\"%s/%s\"}", world->base_url, platform);
        }
        else
            sb_reply_error (rep, 500, "out of memory");
        sb_world_unlock (world);
    }
    json_decref (body);
}

static void
s_revoke (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep)
{
    json_t *body = s_body_object (req, rep);
    if (!body)
        return;
    const char *token = s_string (body, "token");
    if (!token || !*token || strlen (token) > 1024)
        sb_reply_error (rep, 422, "'token' must be a non-empty string");
    else {
        sb_world_lock (world);
        size_t n = sb_accounts_revoke (world->accounts, token);
        sb_world_unlock (world);
        rep->status = 200;
        sb_buf_printf (&rep->body, "{\"revoked\":true,\"bindings\":%zu}", n);
    }
    json_decref (body);
}

static void
s_faults (sb_world_t *world, const sb_req_t *req, const char *rest, sb_reply_t *rep)
{
    if (sb_req_is (req, "POST") && *rest == '\0') {
        json_t *body = s_body_object (req, rep);
        if (!body)
            return;
        char err[256];
        sb_world_lock (world);
        int64_t id = sb_faults_add (world->faults, body, err, sizeof (err));
        sb_world_unlock (world);
        json_decref (body);
        if (id < 0)
            sb_reply_error (rep, 422, err);
        else {
            rep->status = 201;
            sb_buf_printf (&rep->body, "{\"id\":%lld}", (long long) id);
        }
    }
    else if (sb_req_is (req, "GET") && *rest == '\0') {
        rep->status = 200;
        sb_world_lock (world);
        sb_faults_dump (world->faults, &rep->body);
        sb_world_unlock (world);
    }
    else if (sb_req_is (req, "DELETE") && *rest == '\0') {
        sb_world_lock (world);
        sb_faults_clear (world->faults);
        sb_world_unlock (world);
        sb_reply_json (rep, 200, "{\"cleared\":true}");
    }
    else if (sb_req_is (req, "DELETE") && *rest == '/') {
        int64_t id;
        bool found = false;
        if (sb_parse_i64 (rest + 1, 1, INT64_MAX, &id) == 0) {
            sb_world_lock (world);
            found = sb_faults_remove (world->faults, id);
            sb_world_unlock (world);
        }
        if (found)
            sb_reply_json (rep, 200, "{\"deleted\":true}");
        else
            sb_reply_error (rep, 404, "no such fault rule");
    }
    else
        sb_reply_error (rep, 404, "Not found");
}

static void
s_mentions (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep)
{
    json_t *body = s_body_object (req, rep);
    if (!body)
        return;
    const char *platform = s_string (body, "platform");
    int index = platform ? sb_world_platform_index (world, platform) : -1;
    if (index < 0)
        sb_reply_error (rep, 422, "'platform' must name a sandbox platform");
    else if (!world->platforms[index]->mention)
        sb_reply_error (rep, 422, "this platform has no mentions");
    else {
        sb_world_lock (world);
        rep->status = world->platforms[index]->mention (world->pstates[index], body, &rep->body);
        sb_world_unlock (world);
    }
    json_decref (body);
}

static void
s_ledger (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep)
{
    const char *platform = sb_req_arg (req, "platform");
    const char *account = sb_req_arg (req, "account");
    const char *since = sb_req_arg (req, "since");
    uint64_t since_seq = 0;
    if (since && *since && sb_parse_u64 (since, &since_seq) != 0) {
        sb_reply_error (rep, 400, "'since' must be a sequence number");
        return;
    }
    rep->status = 200;
    sb_world_lock (world);
    sb_ledger_dump (world->ledger, &rep->body, platform && *platform ? platform : NULL,
                    account && *account ? account : NULL, since_seq);
    sb_world_unlock (world);
}

/* GET /_sandbox/media/NAME.EXT[?bytes=N&status=S]: an image of the type
 * EXT (jpg, jpeg, png, gif, webp) and N bytes (default: the smallest), so
 * that tests have public image URLs; EXT "bin" serves N bytes that are no
 * image; status=S (400-599) answers that error instead, for download
 * failures. NAME is 1-64 characters of [A-Za-z0-9_-]. */
static void
s_media (const sb_req_t *req, const char *name, sb_reply_t *rep)
{
    const char *dot = strrchr (name, '.');
    size_t nlen = dot ? (size_t) (dot - name) : 0;
    bool name_ok = nlen >= 1 && nlen <= 64;
    for (size_t i = 0; name_ok && i < nlen; i++) {
        char c = name[i];
        name_ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || c == '_' || c == '-';
    }
    bool bin = dot && strcmp (dot + 1, "bin") == 0;
    const char *mime = dot ? sb_media_ext_type (dot + 1) : NULL;
    if (!name_ok || (!mime && !bin)) {
        sb_reply_error (rep, 404, "no such media: use /_sandbox/media/NAME.jpg|png|gif|webp|bin");
        return;
    }
    const char *status = sb_req_arg (req, "status");
    if (status && *status) {
        int64_t code;
        if (sb_parse_i64 (status, 400, 599, &code) != 0)
            sb_reply_error (rep, 400, "'status' must be an HTTP error status (400-599)");
        else
            sb_reply_error (rep, (int) code, "error asked for by status=");
        return;
    }
    const char *bytes = sb_req_arg (req, "bytes");
    uint64_t n = 0;
    if (bytes && *bytes && (sb_parse_u64 (bytes, &n) != 0 || n > SB_MEDIA_MAX_GENERATED)) {
        sb_reply_error (rep, 400, "'bytes' must be a size in bytes (at most 16777216)");
        return;
    }
    if (bin) {
        if (n == 0)
            n = 64;
        if (sb_buf_reserve (&rep->body, (size_t) n) != 0) {
            sb_reply_error (rep, 500, "out of memory");
            return;
        }
        for (uint64_t i = 0; i < n; i++)
            sb_buf_addc (&rep->body, "not an image "[i % 13]);
        mime = "application/octet-stream";
    }
    else if (sb_media_generate (mime, (size_t) n, &rep->body) != 0) {
        sb_buf_reset (&rep->body);
        char msg[200];
        snprintf (msg, sizeof (msg),
                  "cannot make a %s of %llu bytes: at least %zu%s, at most %u", mime,
                  (unsigned long long) n, sb_media_min_size (mime),
                  strcmp (mime, "image/webp") == 0 ? " (WebP: that, or an even size 8 above it)"
                                                   : "",
                  SB_MEDIA_MAX_GENERATED);
        sb_reply_error (rep, 422, msg);
        return;
    }
    rep->status = 200;
    sb_reply_header (rep, "Content-Type", mime);
    sb_reply_header (rep, "Cache-Control", "no-store");
}

/* GET /_sandbox/sessions?platform=bluesky&account=HANDLE: how often the
 * account asked the platform for sessions (a platform that has them). */
static void
s_sessions (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep)
{
    const char *platform = sb_req_arg (req, "platform");
    const char *account = sb_req_arg (req, "account");
    if (!platform || !*platform || !account || !*account) {
        sb_reply_error (rep, 400, "'platform' and 'account' are required");
        return;
    }
    int i = sb_world_platform_index (world, platform);
    if (i < 0 || !world->platforms[i]->sessions) {
        sb_reply_error (rep, 404, "no such platform with sessions");
        return;
    }
    rep->status = 200;
    sb_world_lock (world);
    world->platforms[i]->sessions (world->pstates[i], account, &rep->body);
    sb_world_unlock (world);
}

static void
s_stats (sb_world_t *world, sb_reply_t *rep)
{
    sb_buf_t *out = &rep->body;
    rep->status = 200;
    sb_buf_printf (out, "{\"requests\":%llu,\"by_status\":{",
                   (unsigned long long) atomic_load (&world->requests));
    size_t n = 0;
    for (int i = 0; i < 600; i++) {
        uint64_t count = atomic_load (&world->by_status[i]);
        if (count)
            sb_buf_printf (out, "%s\"%d\":%llu", n++ ? "," : "", i, (unsigned long long) count);
    }
    sb_world_lock (world);
    size_t ledger = sb_ledger_count (world->ledger);
    size_t accounts = sb_accounts_count (world->accounts);
    unsigned long long refreshed[3];
    static const char *const refreshing[3] = { "x", "threads", "linkedin" };
    for (size_t i = 0; i < 3; i++)
        refreshed[i] = (unsigned long long) sb_accounts_refreshes (world->accounts, refreshing[i]);
    sb_world_unlock (world);
    sb_buf_printf (out,
                   "},\"ledger\":%zu,\"accounts\":%zu,\"faults_applied\":%llu,"
                   "\"dropped\":%llu,\"held\":%llu,"
                   "\"refreshes\":{\"x\":%llu,\"threads\":%llu,\"linkedin\":%llu}}",
                   ledger, accounts, (unsigned long long) atomic_load (&world->faults_applied),
                   (unsigned long long) atomic_load (&world->dropped),
                   (unsigned long long) atomic_load (&world->held), refreshed[0], refreshed[1],
                   refreshed[2]);
}

void
sb_control_handle (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep)
{
    const char *p = req->path;
    bool get = sb_req_is (req, "GET"), post = sb_req_is (req, "POST");
    if (get && strcmp (p, "/health") == 0)
        sb_reply_json (rep, 200, "{\"ok\":true}");
    else if (post && strcmp (p, "/accounts") == 0)
        s_accounts (world, req, rep);
    else if (post && strcmp (p, "/tokens/revoke") == 0)
        s_revoke (world, req, rep);
    else if (strncmp (p, "/faults", 7) == 0 && (p[7] == '\0' || p[7] == '/'))
        s_faults (world, req, p + 7, rep);
    else if (post && strcmp (p, "/mentions") == 0)
        s_mentions (world, req, rep);
    else if (get && strcmp (p, "/ledger") == 0)
        s_ledger (world, req, rep);
    else if (get && strncmp (p, "/media/", 7) == 0)
        s_media (req, p + 7, rep);
    else if (get && strcmp (p, "/sessions") == 0)
        s_sessions (world, req, rep);
    else if (get && strcmp (p, "/stats") == 0)
        s_stats (world, rep);
    else if (post && strcmp (p, "/reset") == 0) {
        sb_world_reset (world);
        SB_INFO ("reset");
        sb_reply_json (rep, 200, "{\"reset\":true}");
    }
    else
        sb_reply_error (rep, 404, "Not found");
}
