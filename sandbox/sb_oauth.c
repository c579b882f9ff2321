/* sb_oauth: expiring access tokens and the refresh endpoints. See sb_oauth.h. */
#include "sb_oauth.h"
#include "sb_log.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define S_US 1000000ull
#define S_TOKEN_BYTES 24
#define S_X_SCOPE "tweet.read tweet.write users.read offline.access"
#define S_LI_SCOPE "r_organization_social,w_organization_social"
#define S_FORM_TYPE "application/x-www-form-urlencoded"

/* X's words (api.x.com/2/oauth2/token) */
#define S_X_BAD_TOKEN "Value passed for the token was invalid."
#define S_X_BAD_GRANT "Value passed for the grant type was invalid."
#define S_X_BAD_CLIENT "Value passed for the client id was invalid."
#define S_X_NO_AUTH "Missing valid authorization header"

/* ------------------------------------------------------------------------ */
/* Registration                                                              */

static bool
s_expiring (const char *platform)
{
    return strcmp (platform, "x") == 0 || strcmp (platform, "threads") == 0
           || strcmp (platform, "linkedin") == 0 || strcmp (platform, "facebook") == 0
           || strcmp (platform, "instagram") == 0;
}

static bool
s_has_refresh_token (const char *platform)
{
    return strcmp (platform, "x") == 0 || strcmp (platform, "linkedin") == 0;
}

static int
s_seconds (const json_t *spec, const char *key, bool *present, int64_t *out, char *err,
           size_t cap)
{
    const json_t *v = json_object_get (spec, key);
    *present = v != NULL;
    if (!v)
        return 0;
    if (!json_is_integer (v) || json_integer_value (v) < 0
        || json_integer_value (v) > SB_OAUTH_MAX_EXPIRES_S) {
        snprintf (err, cap, "'%s' must be whole seconds from 0 to %lld", key,
                  (long long) SB_OAUTH_MAX_EXPIRES_S);
        return -1;
    }
    *out = (int64_t) json_integer_value (v);
    return 0;
}

int
sb_oauth_check_spec (const char *platform, const json_t *spec, char *err, size_t cap)
{
    bool present;
    int64_t s;
    if (s_seconds (spec, "expires_in", &present, &s, err, cap) != 0)
        return -1;
    if (present && !s_expiring (platform)) {
        snprintf (err, cap, "'expires_in': %s tokens do not expire in the sandbox", platform);
        return -1;
    }
    const json_t *r = json_object_get (spec, "refresh_token");
    if (r) {
        if (!s_has_refresh_token (platform)) {
            snprintf (err, cap,
                      "'refresh_token': %s has no refresh tokens (threads refreshes with the "
                      "access token itself)",
                      platform);
            return -1;
        }
        if (!json_is_string (r) || json_string_length (r) == 0 || json_string_length (r) > 1024) {
            snprintf (err, cap, "'refresh_token' must be a non-empty string (at most 1024 bytes)");
            return -1;
        }
    }
    if (s_seconds (spec, "refresh_expires_in", &present, &s, err, cap) != 0)
        return -1;
    if (present && !r) {
        snprintf (err, cap, "'refresh_expires_in' needs a 'refresh_token'");
        return -1;
    }
    return 0;
}

int
sb_oauth_apply_spec (sb_world_t *world, sb_account_t *account, const char *token,
                     const json_t *spec, uint64_t now_us)
{
    const json_t *e = json_object_get (spec, "expires_in");
    if (json_is_integer (e)
        && sb_accounts_set_expiry (world->accounts, account->platform, token,
                                   now_us + (uint64_t) json_integer_value (e) * S_US)
               != 0)
        return -1;
    const json_t *r = json_object_get (spec, "refresh_token");
    if (!json_is_string (r))
        return 0;
    const json_t *re = json_object_get (spec, "refresh_expires_in");
    uint64_t rexp = 0;
    if (json_is_integer (re))
        rexp = now_us + (uint64_t) json_integer_value (re) * S_US;
    else if (strcmp (account->platform, "linkedin") == 0)
        rexp = now_us + (uint64_t) SB_OAUTH_LINKEDIN_REFRESH_TTL_S * S_US;
    return sb_accounts_add_refresh (world->accounts, account, json_string_value (r), rexp);
}

/* ------------------------------------------------------------------------ */
/* New tokens                                                                */

/* prefix + 48 hex characters from the kernel's random source. */
static void
s_new_token (const char *prefix, char *out, size_t cap)
{
    unsigned char raw[S_TOKEN_BYTES];
    size_t got = 0;
    while (got < sizeof (raw)) {
        ssize_t n = getrandom (raw + got, sizeof (raw) - got, 0);
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    if (got < sizeof (raw)) {   /* no random source: unique is enough for a sandbox */
        static unsigned long long counter;
        unsigned long long v = (unsigned long long) time (NULL) ^ (++counter << 32);
        memset (raw, 0, sizeof (raw));
        memcpy (raw, &v, sizeof (v));
    }
    size_t o = (size_t) snprintf (out, cap, "%s", prefix);
    for (size_t i = 0; i < sizeof (raw) && o + 2 < cap; i++, o += 2)
        snprintf (out + o, cap - o, "%02x", raw[i]);
}

static int64_t
s_ttl (const sb_world_t *world, int64_t platform_ttl_s)
{
    return world->config->token_ttl_s > 0 ? world->config->token_ttl_s : platform_ttl_s;
}

/* Binds a new access token to account, expiring after ttl_s; "" on failure. */
static void
s_issue (sb_world_t *world, sb_account_t *account, const char *prefix, int64_t ttl_s,
         uint64_t now_us, char *out, size_t cap)
{
    s_new_token (prefix, out, cap);
    if (sb_accounts_add_token (world->accounts, account, out) != 0
        || sb_accounts_set_expiry (world->accounts, account->platform, out,
                                   now_us + (uint64_t) ttl_s * S_US)
               != 0)
        out[0] = '\0';
}

/* RFC 6749 5.2 error body. */
static void
s_oauth_error (sb_reply_t *rep, int status, const char *error, const char *description)
{
    rep->status = status;
    sb_buf_reset (&rep->body);
    sb_buf_adds (&rep->body, "{\"error\":");
    sb_buf_add_json_str (&rep->body, error);
    sb_buf_adds (&rep->body, ",\"error_description\":");
    sb_buf_add_json_str (&rep->body, description);
    sb_buf_addc (&rep->body, '}');
}

static void
s_no_store (sb_reply_t *rep)
{
    sb_reply_header (rep, "Cache-Control", "no-store");
    sb_reply_header (rep, "Pragma", "no-cache");
}

/* ------------------------------------------------------------------------ */
/* HTTP Basic client authentication (RFC 6749 2.3.1)                         */

static int
s_b64_value (char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes base64 into out (NUL-terminated); -1 if malformed or too long. */
static int
s_b64_decode (const char *in, char *out, size_t cap)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = in; *p && *p != '='; p++) {
        int v = s_b64_value (*p);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return -1;
            out[o++] = (char) ((acc >> bits) & 0xffu);
        }
    }
    out[o] = '\0';
    return strlen (out) == o ? 0 : -1;   /* no NUL inside */
}

static int
s_hex (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s in place (form encoding of the client id and secret);
 * an escape that would give NUL is kept as it is. */
static void
s_pct_decode (char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        int hi = p[0] == '%' ? s_hex (p[1]) : -1;
        int lo = hi >= 0 ? s_hex (p[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *o++ = (char) (hi * 16 + lo);
            p += 2;
        }
        else
            *o++ = *p == '+' ? ' ' : *p;
    }
    *o = '\0';
}

/* "Authorization: Basic base64(id:secret)": true with id and secret filled. */
static bool
s_basic (const sb_req_t *req, char *id, size_t idcap, char *secret, size_t secap)
{
    const char *auth = sb_req_header (req, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || !sb_prefix_ci (auth, "Basic "))
        return false;
    auth += 6;
    while (*auth == ' ')
        auth++;
    char plain[1100];
    if (strlen (auth) > 1400 || s_b64_decode (auth, plain, sizeof (plain)) != 0)
        return false;
    char *colon = strchr (plain, ':');
    if (!colon)
        return false;
    *colon = '\0';
    s_pct_decode (plain);
    s_pct_decode (colon + 1);
    if (strlen (plain) >= idcap || strlen (colon + 1) >= secap)
        return false;
    snprintf (id, idcap, "%s", plain);
    snprintf (secret, secap, "%s", colon + 1);
    return true;
}

static bool
s_matches (const char *configured, const char *given)
{
    return given && *given && (!configured || !*configured || strcmp (configured, given) == 0);
}

/* ------------------------------------------------------------------------ */
/* X                                                                         */

static void
s_x_token (sb_world_t *world, const sb_req_t *req, const sb_params_t *params, sb_reply_t *rep)
{
    const sb_config_t *c = world->config;
    char id[256] = "", secret[256] = "";
    bool basic = s_basic (req, id, sizeof (id), secret, sizeof (secret));
    const char *client = basic ? id : sb_params_get (params, "client_id", NULL);
    const char *grant = sb_params_get (params, "grant_type", NULL);
    const char *refresh = sb_params_get (params, "refresh_token", NULL);
    if (!grant || !*grant) {
        s_oauth_error (rep, 400, "invalid_request", "Missing required parameter [grant_type].");
        return;
    }
    if (strcmp (grant, "refresh_token") != 0) {
        s_oauth_error (rep, 400, "invalid_request", S_X_BAD_GRANT);
        return;
    }
    if (!client || !*client) {
        s_oauth_error (rep, 400, "invalid_request", "Missing required parameter [client_id].");
        return;
    }
    if (!s_matches (c->x_client_id, client)) {
        s_oauth_error (rep, 400, "invalid_request", S_X_BAD_CLIENT);
        return;
    }
    /* a confidential client authenticates with its secret */
    if (c->x_client_secret && *c->x_client_secret
        && (!basic || strcmp (secret, c->x_client_secret) != 0)) {
        s_oauth_error (rep, 401, "unauthorized_client", S_X_NO_AUTH);
        return;
    }
    if (!refresh || !*refresh) {
        s_oauth_error (rep, 400, "invalid_request", "Missing required parameter [refresh_token].");
        return;
    }
    uint64_t now = req->now_us, rexp = 0;
    sb_world_lock (world);
    sb_account_t *a = sb_accounts_by_refresh (world->accounts, "x", refresh, &rexp);
    if (!a || (rexp && rexp <= now)) {
        sb_world_unlock (world);
        s_oauth_error (rep, 400, "invalid_request", S_X_BAD_TOKEN);
        return;
    }
    char access[80], next[80];
    int64_t ttl = s_ttl (world, SB_OAUTH_X_TTL_S);
    s_issue (world, a, "xat-", ttl, now, access, sizeof (access));
    s_new_token ("xrt-", next, sizeof (next));
    /* rotation: the used refresh token is gone, the new one replaces it */
    if (!access[0] || sb_accounts_add_refresh (world->accounts, a, next, rexp) != 0) {
        sb_world_unlock (world);
        sb_reply_error (rep, 500, "out of memory");
        return;
    }
    sb_accounts_drop_refresh (world->accounts, "x", refresh);
    sb_accounts_count_refresh (world->accounts, "x");
    SB_DEBUG ("x: token refreshed for @%s", a->handle);
    sb_world_unlock (world);
    rep->status = 200;
    sb_buf_printf (&rep->body, "{\"token_type\":\"bearer\",\"expires_in\":%lld,\"access_token\":",
                   (long long) ttl);
    sb_buf_add_json_str (&rep->body, access);
    sb_buf_adds (&rep->body, ",\"scope\":\"" S_X_SCOPE "\",\"refresh_token\":");
    sb_buf_add_json_str (&rep->body, next);
    sb_buf_addc (&rep->body, '}');
    s_no_store (rep);
}

bool
sb_oauth_x_handle (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep)
{
    if (strcmp (req->path, "/2/oauth2/token") != 0 || !sb_req_is (req, "POST"))
        return false;
    sb_params_t params;
    memset (&params, 0, sizeof (params));
    sb_params_status_t ps = sb_params_parse (&params, req);
    if (ps == SB_PARAMS_OOM)
        sb_reply_error (rep, 500, "out of memory");
    else if (ps == SB_PARAMS_BAD)
        s_oauth_error (rep, 400, "invalid_request", "Malformed request body.");
    else
        s_x_token (world, req, &params, rep);
    sb_params_free (&params);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */

bool
sb_oauth_threads_refresh (sb_world_t *world, sb_account_t *me, const char *grant_type,
                          uint64_t now_us, sb_reply_t *rep)
{
    if (!grant_type || strcmp (grant_type, "th_refresh_token") != 0)
        return false;
    char access[80];
    int64_t ttl = s_ttl (world, SB_OAUTH_THREADS_TTL_S);
    s_issue (world, me, "THAA", ttl, now_us, access, sizeof (access));
    if (!access[0]) {
        sb_reply_error (rep, 500, "out of memory");
        return true;
    }
    sb_accounts_count_refresh (world->accounts, "threads");
    SB_DEBUG ("threads: token refreshed for %s", me->handle);
    rep->status = 200;
    sb_buf_reset (&rep->body);
    sb_buf_adds (&rep->body, "{\"access_token\":");
    sb_buf_add_json_str (&rep->body, access);
    sb_buf_printf (&rep->body, ",\"token_type\":\"bearer\",\"expires_in\":%lld}", (long long) ttl);
    return true;
}

/* ------------------------------------------------------------------------ */
/* LinkedIn                                                                  */

static void
s_li_missing (sb_reply_t *rep, const char *name)
{
    char msg[96];
    snprintf (msg, sizeof (msg), "A required parameter \"%s\" is missing", name);
    s_oauth_error (rep, 400, "invalid_request", msg);
}

static void
s_li_token (sb_world_t *world, const sb_req_t *req, const sb_params_t *params, sb_reply_t *rep)
{
    const sb_config_t *c = world->config;
    static const char *const required[]
        = { "grant_type", "refresh_token", "client_id", "client_secret" };
    for (size_t i = 0; i < sizeof (required) / sizeof (required[0]); i++) {
        const char *v = sb_params_get (params, required[i], NULL);
        if (!v || !*v) {
            s_li_missing (rep, required[i]);
            return;
        }
    }
    const char *grant = sb_params_get (params, "grant_type", NULL);
    const char *refresh = sb_params_get (params, "refresh_token", NULL);
    if (strcmp (grant, "refresh_token") != 0 && strcmp (grant, "authorization_code") != 0
        && strcmp (grant, "client_credentials") != 0) {
        s_oauth_error (rep, 400, "unsupported_grant_type",
                       "The provided grant_type is not supported");
        return;
    }
    if (strcmp (grant, "refresh_token") != 0) {
        s_oauth_error (rep, 400, "invalid_request",
                       "The sandbox serves only grant_type=refresh_token here");
        return;
    }
    if (!s_matches (c->linkedin_client_id, sb_params_get (params, "client_id", NULL))
        || !s_matches (c->linkedin_client_secret, sb_params_get (params, "client_secret", NULL))) {
        s_oauth_error (rep, 401, "invalid_client", "Client authentication failed");
        return;
    }
    uint64_t now = req->now_us, rexp = 0;
    sb_world_lock (world);
    sb_account_t *a = sb_accounts_by_refresh (world->accounts, "linkedin", refresh, &rexp);
    if (!a) {
        sb_world_unlock (world);
        s_oauth_error (rep, 400, "invalid_request", "The provided refresh token is invalid");
        return;
    }
    if (rexp && rexp <= now) {
        sb_world_unlock (world);
        s_oauth_error (rep, 400, "invalid_grant",
                       "The provided refresh token has expired; the member must authorize "
                       "the application again");
        return;
    }
    char access[80];
    int64_t ttl = s_ttl (world, SB_OAUTH_LINKEDIN_TTL_S);
    s_issue (world, a, "AQV", ttl, now, access, sizeof (access));
    if (!access[0]) {
        sb_world_unlock (world);
        sb_reply_error (rep, 500, "out of memory");
        return;
    }
    sb_accounts_count_refresh (world->accounts, "linkedin");
    SB_DEBUG ("linkedin: token refreshed for %s", a->handle);
    sb_world_unlock (world);
    rep->status = 200;
    sb_buf_adds (&rep->body, "{\"access_token\":");
    sb_buf_add_json_str (&rep->body, access);
    sb_buf_printf (&rep->body, ",\"expires_in\":%lld,\"refresh_token\":", (long long) ttl);
    sb_buf_add_json_str (&rep->body, refresh);   /* not rotated */
    long long left = rexp ? (long long) ((rexp - now) / S_US) : SB_OAUTH_LINKEDIN_REFRESH_TTL_S;
    sb_buf_printf (&rep->body, ",\"refresh_token_expires_in\":%lld,\"scope\":\"" S_LI_SCOPE "\"}",
                   left);
    s_no_store (rep);
}

bool
sb_oauth_linkedin_handle (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep)
{
    if (strcmp (req->path, "/oauth/v2/accessToken") != 0)
        return false;
    if (!sb_req_is (req, "POST")) {
        s_oauth_error (rep, 405, "invalid_request", "The token endpoint accepts POST only");
        return true;
    }
    const char *type = sb_req_header (req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!type || !sb_prefix_ci (type, S_FORM_TYPE)) {
        s_oauth_error (rep, 400, "invalid_request",
                       "The request must be application/x-www-form-urlencoded");
        return true;
    }
    sb_params_t params;
    memset (&params, 0, sizeof (params));
    sb_params_status_t ps = sb_params_parse (&params, req);
    if (ps == SB_PARAMS_OOM)
        sb_reply_error (rep, 500, "out of memory");
    else if (ps == SB_PARAMS_BAD)
        s_oauth_error (rep, 400, "invalid_request", "Malformed request body");
    else
        s_li_token (world, req, &params, rep);
    sb_params_free (&params);
    return true;
}
