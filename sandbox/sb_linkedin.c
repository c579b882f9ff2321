/*
 * sb_linkedin: LinkedIn's versioned REST API (Posts API and community
 * management), mounted under /linkedin (an account's api_base is
 * http://HOST:PORT/linkedin; paths are /linkedin/rest/...).
 *
 * Answers like api.linkedin.com for what Crieur uses:
 *   POST /rest/posts                        create a post: 201, EMPTY body, the
 *                                           post's URN in the x-restli-id header
 *   GET  /rest/posts?q=author&author=URN    the author's posts, newest first
 *        &count=N&start=S&sortBy=LAST_MODIFIED|CREATED   (count 1..100, default 10)
 *   GET  /rest/posts/{urn}                  one post
 *   GET  /rest/socialActions/{urn}          likesSummary, commentsSummary
 *   GET  /rest/socialActions/{urn}/comments comments, newest first (start, count)
 *   POST /rest/socialActions/{urn}/comments comment as the organization
 *   GET  /rest/organizationalEntityShareStatistics?q=organizationalEntity
 *        &organizationalEntity=URN[&shares=List(URN,..)]   totalShareStatistics
 *
 * Every call needs `LinkedIn-Version: YYYYMM` (missing: 400 VERSION_MISSING;
 * older than --linkedin-min-version or later than the current month: 426
 * NONEXISTENT_VERSION, LinkedIn's body) and `X-Restli-Protocol-Version:
 * 2.0.0` (400 otherwise: Rest.li 1.0 syntax is not imitated). URNs in paths
 * and query strings may be percent-encoded (Rest.li 2.0) or not.
 *
 * An account (handle H, e.g. an organization id "2414183") acts as the
 * organization urn:li:organization:H: a post or comment whose author/actor is
 * another URN is refused (403 ACCESS_DENIED), and so is reading another
 * author's posts or statistics.
 *
 * No idempotency: every accepted post is a new share and a ledger entry
 * (platform linkedin, url http://HOST:PORT/linkedin/feed/update/{urn}/:
 * www.linkedin.com's shape on the sandbox host). The same text by the same
 * author within 24 hours is refused as LinkedIn does: 422 DUPLICATE_POST
 * naming the first post's URN.
 *
 * Text: commentary is LinkedIn's "little" text format. It is kept as sent
 * and read back as sent (as LinkedIn does); the ledger, the duplicate rule
 * and the length rule see it rendered: a backslash escape gives the character
 * itself, {hashtag|\#|tag} gives #tag, @[Name](urn) gives Name. Real LinkedIn
 * is reported to cut the text at an unescaped reserved character; the sandbox
 * keeps such characters (simplification, unconfirmed rule). Over 3000 code
 * points: 422.
 *
 * Authentication: unknown token 401 INVALID_ACCESS_TOKEN (serviceErrorCode
 * 65600), revoked token 401 REVOKED_ACCESS_TOKEN (65601), an injected 401
 * fault EXPIRED_ACCESS_TOKEN (65601 too: the expired token's exact code is
 * unconfirmed).
 *
 * Rate limits: LinkedIn counts per member and per application per day, the
 * day ending at midnight UTC, and answers 429 without any rate-limit header.
 * Here: POST /rest/posts per account (--linkedin-post-limit, default 150) and
 * every authenticated call of all accounts together (--linkedin-app-limit,
 * default 100000), in windows aligned on multiples of --linkedin-window-s
 * since the epoch (default 86400: they reset at midnight UTC). With
 * --linkedin-retry-after a 429 of these limits carries Retry-After (seconds
 * to the window's reset), a hint for tests that LinkedIn does not give; an
 * injected 429 fault never does (it is LinkedIn's answer exactly).
 *
 * Every LinkedIn constant lives here. All state is guarded by the world lock.
 */
#include "sb_log.h"
#include "sb_map.h"
#include "sb_media.h"
#include "sb_text.h"
#include "sb_vec.h"
#include "sb_oauth.h"
#include "sb_world.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_VEC_FIRST 16 /* first capacity of a list */

#define S_PLATFORM "linkedin"
#define S_MAX_CHARS 3000
#define S_DUPLICATE_WINDOW_US (24ull * 3600ull * 1000000ull)
#define S_PAGE_DEFAULT 10
#define S_PAGE_MAX 100
#define S_MAX_SHARES 100
#define S_URN_MAX 96
#define S_ORG_PREFIX "urn:li:organization:"
#define S_PERSON_PREFIX "urn:li:person:"
#define S_SHARE_PREFIX "urn:li:share:"
#define S_UGC_PREFIX "urn:li:ugcPost:"
#define S_IMAGE_PREFIX "urn:li:image:"
#define S_UPLOAD_PATH "/dms-uploads/"
#define S_UPLOAD_TTL_US (3600ull * 1000000ull) /* the upload URL's life (unconfirmed) */
#define S_IMAGE_TYPES "JPEG, PNG or GIF"
#define S_PROTOCOL_VERSION "2.0.0"
#define S_JSON_VERSION_MISSING                                                                     \
    "{\"status\":400,\"code\":\"VERSION_MISSING\",\"message\":\"A version must be present. "      \
    "Please specify a version by adding the LinkedIn-Version header.\"}"
#define S_JSON_PROTOCOL                                                                            \
    "{\"status\":400,\"code\":\"ILLEGAL_ARGUMENT\",\"message\":\"X-Restli-Protocol-Version: "    \
    "2.0.0 is required\"}"
#define S_JSON_DATA_MAP                                                                            \
    "{\"status\":400,\"code\":\"ILLEGAL_ARGUMENT\",\"message\":\"Request body could not be "     \
    "converted to data map\"}"
#define S_JSON_INVALID_TOKEN                                                                       \
    "{\"status\":401,\"serviceErrorCode\":65600,\"code\":\"INVALID_ACCESS_TOKEN\","               \
    "\"message\":\"Invalid access token\"}"
#define S_JSON_REVOKED_TOKEN                                                                       \
    "{\"status\":401,\"serviceErrorCode\":65601,\"code\":\"REVOKED_ACCESS_TOKEN\","               \
    "\"message\":\"The token used in the request has been revoked by the user\"}"
#define S_JSON_EXPIRED_TOKEN                                                                       \
    "{\"status\":401,\"serviceErrorCode\":65601,\"code\":\"EXPIRED_ACCESS_TOKEN\","               \
    "\"message\":\"The token used in the request has expired\"}"
#define S_JSON_THROTTLED                                                                           \
    "{\"status\":429,\"serviceErrorCode\":101,\"message\":\"Resource level throttle limit for "   \
    "calls to this resource is reached.\"}"
#define S_JSON_NO_RESOURCE                                                                         \
    "{\"status\":404,\"code\":\"RESOURCE_NOT_FOUND\",\"message\":\"No virtual resource found\"}"
#define S_AUTHOR_DENIED                                                                            \
    "Unpermitted fields present in REQUEST_BODY: Data Processing Exception while processing "     \
    "fields [/author]"
#define S_ACTOR_DENIED                                                                             \
    "Unpermitted fields present in REQUEST_BODY: Data Processing Exception while processing "     \
    "fields [/actor]"
#define S_BAD_REQUEST_TYPE "com.linkedin.common.error.BadRequest"
#define S_EXCEPTION "com.linkedin.content.common.exception.BadRequestResponseException: "

typedef enum {
    S_EP_NONE,
    S_EP_CREATE,      /* POST /rest/posts */
    S_EP_FIND,        /* GET /rest/posts?q=author */
    S_EP_GET,         /* GET /rest/posts/{urn} */
    S_EP_ACTIONS,     /* GET /rest/socialActions/{urn} */
    S_EP_COMMENTS,    /* GET /rest/socialActions/{urn}/comments */
    S_EP_COMMENT,     /* POST /rest/socialActions/{urn}/comments */
    S_EP_STATISTICS,  /* GET /rest/organizationalEntityShareStatistics */
    S_EP_IMAGE_INIT,  /* POST /rest/images?action=initializeUpload */
    S_EP_IMAGE_GET,   /* GET /rest/images/{urn} */
    S_EP_UPLOAD,      /* PUT /dms-uploads/{token}: the upload URL */
} s_endpoint_t;

/* An image of the Images API: initialized (an upload URL given), then
 * uploaded (AVAILABLE); a post may name it once it is available. */
typedef struct {
    uint64_t id;              /* urn:li:image:<id> */
    uint64_t owner;           /* account id (its organization owns the image) */
    uint64_t upload_until_us; /* the upload URL's expiry */
    char token[48];           /* the upload URL's last segment */
    bool uploaded;
    size_t size;
    char mime[16];
} s_image_t;

typedef struct {
    uint64_t id;
    char actor[S_URN_MAX];
    uint64_t created_us;
    char *text;
} s_comment_t;

typedef struct {
    uint64_t id;           /* urn:li:share:<id> */
    sb_account_t *author;  /* owned by the accounts module; reset together */
    uint64_t created_us;
    char *commentary;      /* as sent: little text */
    char *text;            /* as shown: rendered */
    char visibility[16];
    char feed[16];         /* distribution.feedDistribution */
    bool reshare_disabled;
    uint64_t image;         /* content.media: urn:li:image:<image>, 0 = none */
    sb_vec_t comments;      /* s_comment_t * (owned), creation order */
    int64_t likes;
} s_post_t;

typedef struct {
    sb_world_t *world;
    sb_vec_t posts;      /* s_post_t * (owned), id order */
    sb_map_t *authored; /* account id -> sb_vec_t of s_post_t * (borrowed), id order */
    sb_map_t *images;   /* image id -> s_image_t (owned) */
} s_li_t;

/* ------------------------------------------------------------------------ */
/* Containers                                                                */

static void
s_comment_free (s_comment_t *c)
{
    if (!c)
        return;
    free (c->text);
    free (c);
}

static void
s_post_free (s_post_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->comments.len; i++)
        s_comment_free (p->comments.items[i]);
    free (p->comments.items);
    free (p->commentary);
    free (p->text);
    free (p);
}

static sb_vec_t *
s_authored (s_li_t *self, uint64_t account_id, bool create)
{
    char key[24];
    snprintf (key, sizeof (key), "%llu", (unsigned long long) account_id);
    sb_vec_t *v = sb_map_get (self->authored, key);
    if (!v && create) {
        v = calloc (1, sizeof (*v));
        if (v && sb_map_put (self->authored, key, v) != 0) {
            free (v);
            v = NULL;
        }
    }
    return v;
}

static s_post_t *
s_find_post (const s_li_t *self, uint64_t id)
{
    size_t lo = 0, hi = self->posts.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        s_post_t *p = self->posts.items[mid];
        if (p->id == id)
            return p;
        if (p->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* URNs and text                                                             */

/* "urn:li:share:<n>" or "urn:li:ugcPost:<n>" -> n; 0 or -1. */
static int
s_post_urn (const char *urn, uint64_t *id)
{
    const char *digits = NULL;
    if (!urn)
        return -1;
    if (strncmp (urn, S_SHARE_PREFIX, strlen (S_SHARE_PREFIX)) == 0)
        digits = urn + strlen (S_SHARE_PREFIX);
    else if (strncmp (urn, S_UGC_PREFIX, strlen (S_UGC_PREFIX)) == 0)
        digits = urn + strlen (S_UGC_PREFIX);
    return digits ? sb_parse_u64 (digits, id) : -1;
}

static void
s_org_urn (const sb_account_t *a, char *out, size_t cap)
{
    snprintf (out, cap, S_ORG_PREFIX "%s", a->handle);
}

static void
s_share_urn (uint64_t id, char *out, size_t cap)
{
    snprintf (out, cap, S_SHARE_PREFIX "%llu", (unsigned long long) id);
}

/* The little text as a reader sees it: "\x" -> x, {hashtag|\#|tag} -> #tag,
 * @[Name](urn) -> Name; everything else as it is. NULL when out of memory. */
static char *
s_render (const char *s, size_t n)
{
    sb_buf_t out;
    sb_buf_init (&out);
    sb_buf_reserve (&out, n + 1);
    for (size_t i = 0; i < n;) {
        if (s[i] == '\\' && i + 1 < n) {
            sb_buf_addc (&out, s[i + 1]);
            i += 2;
            continue;
        }
        static const char tag[] = "{hashtag|\\#|";
        size_t tl = sizeof (tag) - 1;
        if (s[i] == '{' && n - i > tl && memcmp (s + i, tag, tl) == 0) {
            const char *end = memchr (s + i + tl, '}', n - i - tl);
            if (end) {
                sb_buf_addc (&out, '#');
                sb_buf_add (&out, s + i + tl, (size_t) (end - (s + i + tl)));
                i = (size_t) (end - s) + 1;
                continue;
            }
        }
        if (s[i] == '@' && i + 1 < n && s[i + 1] == '[') {
            const char *close = memchr (s + i + 2, ']', n - i - 2);
            size_t c = close ? (size_t) (close - s) : n;
            const char *paren = c + 1 < n && s[c + 1] == '(' ? memchr (s + c + 2, ')', n - c - 2)
                                                               : NULL;
            if (close && paren) {
                sb_buf_add (&out, s + i + 2, c - i - 2);
                i = (size_t) (paren - s) + 1;
                continue;
            }
        }
        sb_buf_addc (&out, s[i++]);
    }
    if (!sb_buf_ok (&out)) {
        sb_buf_free (&out);
        return NULL;
    }
    return sb_buf_steal (&out, NULL);
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                   */

/* {"status":N,["serviceErrorCode":S,]["code":C,]"message":M} */
static void
s_error (sb_reply_t *rep, int status, int service_code, const char *code, const char *message)
{
    rep->status = status;
    sb_buf_reset (&rep->body);
    sb_buf_printf (&rep->body, "{\"status\":%d", status);
    if (service_code >= 0)
        sb_buf_printf (&rep->body, ",\"serviceErrorCode\":%d", service_code);
    if (code) {
        sb_buf_adds (&rep->body, ",\"code\":");
        sb_buf_add_json_str (&rep->body, code);
    }
    sb_buf_adds (&rep->body, ",\"message\":");
    sb_buf_add_json_str (&rep->body, message);
    sb_buf_addc (&rep->body, '}');
}

static void
s_denied (sb_reply_t *rep, const char *message)
{
    s_error (rep, 403, 100, "ACCESS_DENIED", message);
}

/* 422 in the Rest.li schema-validation shape: "ERROR :: /path :: why\n" lines. */
static void
s_schema_error (sb_reply_t *rep, const char *lines)
{
    rep->status = 422;
    sb_buf_reset (&rep->body);
    sb_buf_adds (&rep->body, "{\"message\":");
    sb_buf_add_json_str (&rep->body, lines);
    sb_buf_adds (&rep->body, ",\"status\":422}");
}

/* 422 from the posts service: {"errorDetailType","message","errorDetails":{"inputErrors":
 * [{"description","input":{..},"code"}]},"status":422} */
static void
s_input_error (sb_reply_t *rep, const char *message, const char *description, const char *field,
               const char *code)
{
    sb_buf_t *b = &rep->body;
    rep->status = 422;
    sb_buf_reset (b);
    sb_buf_adds (b, "{\"errorDetailType\":\"" S_BAD_REQUEST_TYPE "\",\"message\":");
    sb_buf_add_json_str (b, message);
    sb_buf_adds (b, ",\"errorDetails\":{\"inputErrors\":[{\"description\":");
    sb_buf_add_json_str (b, description);
    sb_buf_adds (b, ",\"input\":{");
    if (field) {
        sb_buf_adds (b, "\"inputPath\":{\"fieldPath\":");
        sb_buf_add_json_str (b, field);
        sb_buf_addc (b, '}');
    }
    sb_buf_adds (b, "},\"code\":");
    sb_buf_add_json_str (b, code);
    sb_buf_adds (b, "}]},\"status\":422}");
}

static void
s_bad_param (sb_reply_t *rep, const char *name, const char *value)
{
    char msg[200];
    snprintf (msg, sizeof (msg), "Invalid value '%.60s' for parameter '%s'", value ? value : "",
              name);
    s_error (rep, 400, -1, "ILLEGAL_ARGUMENT", msg);
}

static void
s_throttled (const s_li_t *self, sb_reply_t *rep, uint64_t reset_us, uint64_t now_us)
{
    sb_reply_json (rep, 429, S_JSON_THROTTLED);
    if (self->world->config->linkedin_retry_after) {
        uint64_t left = reset_us > now_us ? (reset_us - now_us + 999999u) / 1000000u : 1;
        char value[24];
        snprintf (value, sizeof (value), "%llu", (unsigned long long) (left ? left : 1));
        sb_reply_header (rep, MHD_HTTP_HEADER_RETRY_AFTER, value);
    }
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                 */

static void
s_render_post (sb_buf_t *out, const s_post_t *p)
{
    char urn[S_URN_MAX], org[S_URN_MAX];
    s_share_urn (p->id, urn, sizeof (urn));
    s_org_urn (p->author, org, sizeof (org));
    uint64_t ms = p->created_us / 1000u;
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_str (out, urn);
    sb_buf_adds (out, ",\"author\":");
    sb_buf_add_json_str (out, org);
    sb_buf_adds (out, ",\"commentary\":");
    sb_buf_add_json_str (out, p->commentary);
    sb_buf_adds (out, ",\"visibility\":");
    sb_buf_add_json_str (out, p->visibility);
    sb_buf_adds (out, ",\"distribution\":{\"feedDistribution\":");
    sb_buf_add_json_str (out, p->feed);
    sb_buf_printf (out,
                   ",\"targetEntities\":[],\"thirdPartyDistributionChannels\":[]},"
                   "\"lifecycleState\":\"PUBLISHED\",\"lifecycleStateInfo\":{\"isEditedByAuthor\":"
                   "false},\"isReshareDisabledByAuthor\":%s,\"createdAt\":%llu,"
                   "\"lastModifiedAt\":%llu,\"publishedAt\":%llu}",
                   p->reshare_disabled ? "true" : "false", (unsigned long long) ms,
                   (unsigned long long) ms, (unsigned long long) ms);
    if (p->image) { /* reopen the object for content */
        out->len--;
        sb_buf_printf (out, ",\"content\":{\"media\":{\"id\":\"" S_IMAGE_PREFIX "%llu\","
                            "\"altText\":\"\"}}}",
                       (unsigned long long) p->image);
    }
}

static void
s_comment_urn (const s_post_t *p, const s_comment_t *c, char *out, size_t cap)
{
    snprintf (out, cap, "urn:li:comment:(" S_SHARE_PREFIX "%llu,%llu)",
              (unsigned long long) p->id, (unsigned long long) c->id);
}

static void
s_render_comment (sb_buf_t *out, const s_post_t *p, const s_comment_t *c)
{
    char urn[S_URN_MAX * 2], object[S_URN_MAX];
    s_comment_urn (p, c, urn, sizeof (urn));
    s_share_urn (p->id, object, sizeof (object));
    unsigned long long ms = (unsigned long long) (c->created_us / 1000u);
    sb_buf_adds (out, "{\"actor\":");
    sb_buf_add_json_str (out, c->actor);
    sb_buf_adds (out, ",\"commentUrn\":");
    sb_buf_add_json_str (out, urn);
    sb_buf_adds (out, ",\"$URN\":");
    sb_buf_add_json_str (out, urn);
    sb_buf_adds (out, ",\"id\":");
    sb_buf_add_json_id (out, c->id);
    sb_buf_adds (out, ",\"object\":");
    sb_buf_add_json_str (out, object);
    sb_buf_adds (out, ",\"created\":{\"actor\":");
    sb_buf_add_json_str (out, c->actor);
    sb_buf_printf (out, ",\"time\":%llu},\"lastModified\":{\"actor\":", ms);
    sb_buf_add_json_str (out, c->actor);
    sb_buf_printf (out, ",\"time\":%llu},\"message\":{\"text\":", ms);
    sb_buf_add_json_str (out, c->text);
    sb_buf_adds (out, ",\"attributes\":[]}}");
}

/* {"paging":{"start","count","total","links":[next?]}, then "elements":[ left open */
static void
s_paging (sb_buf_t *out, size_t start, size_t count, size_t total, const char *next_base)
{
    sb_buf_printf (out, "{\"paging\":{\"start\":%zu,\"count\":%zu,\"total\":%zu,\"links\":[",
                   start, count, total);
    if (next_base && start + count < total) {
        sb_buf_adds (out, "{\"type\":\"application/json\",\"rel\":\"next\",\"href\":\"");
        sb_buf_adds (out, next_base);
        sb_buf_printf (out, "&start=%zu&count=%zu\"}", start + count, count);
    }
    sb_buf_adds (out, "]},\"elements\":[");
}

/* ------------------------------------------------------------------------ */
/* Authentication, versions and rate limits                                  */

/* Lock held. The token's account; with --open, created on first use. */
static sb_account_t *
s_authenticate (s_li_t *self, const char *token, uint64_t now_us)
{
    sb_world_t *world = self->world;
    if (strlen (token) > 1024 || sb_accounts_revoked (world->accounts, token))
        return NULL;
    sb_account_t *a = sb_accounts_by_token (world->accounts, S_PLATFORM, token);
    if (a && sb_accounts_expired (world->accounts, S_PLATFORM, token, now_us))
        return NULL;   /* 401 EXPIRED_ACCESS_TOKEN (sb_oauth.h) */
    if (a || !world->config->open)
        return a;
    char handle[SB_HANDLE_MAX];
    sb_accounts_open_handle (token, handle, sizeof (handle));
    a = sb_accounts_ensure (world->accounts, S_PLATFORM, handle, sb_world_next_id (world, now_us),
                            now_us);
    if (a && sb_accounts_add_token (world->accounts, a, token) != 0)
        return NULL;
    return a;
}

/* LinkedIn-Version "YYYYMM" (or "YYYYMM.RR") -> YYYYMM; -1 if malformed. */
static int64_t
s_version (const char *v)
{
    size_t n = strlen (v);
    if (n != 6 && !(n == 9 && v[6] == '.'))
        return -1;
    int64_t ym = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 6)
            continue;
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (i < 6)
            ym = ym * 10 + (v[i] - '0');
    }
    int64_t month = ym % 100;
    return month >= 1 && month <= 12 ? ym : -1;
}

/* false: the request is refused (reply filled). */
static bool
s_check_headers (const s_li_t *self, const sb_req_t *req, sb_reply_t *rep)
{
    const char *v = sb_req_header (req, "LinkedIn-Version");
    if (!v || !*v) {
        sb_reply_json (rep, 400, S_JSON_VERSION_MISSING);
        return false;
    }
    int64_t ym = s_version (v);
    if (ym < 0) {
        char msg[160];
        snprintf (msg, sizeof (msg), "Invalid version '%.20s': the LinkedIn-Version header "
                                     "must be YYYYMM",
                  v);
        s_error (rep, 400, -1, "INVALID_VERSION", msg);
        return false;
    }
    time_t now = (time_t) (req->now_us / 1000000u);
    struct tm tm;
    gmtime_r (&now, &tm);
    int64_t current = (int64_t) (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
    if (ym < self->world->config->linkedin_min_version || ym > current) {
        char msg[80];
        snprintf (msg, sizeof (msg), "Requested version %lld01 is not active", (long long) ym);
        s_error (rep, 426, -1, "NONEXISTENT_VERSION", msg);
        return false;
    }
    const char *p = sb_req_header (req, "X-Restli-Protocol-Version");
    if (!p || strcmp (p, S_PROTOCOL_VERSION) != 0) {
        sb_reply_json (rep, 400, S_JSON_PROTOCOL);
        return false;
    }
    return true;
}

/* Lock held. The app's window (every authenticated call), then the member's
 * (post creation). false: 429 sent. */
static bool
s_rate (s_li_t *self, s_endpoint_t ep, const sb_account_t *a, uint64_t now_us, sb_reply_t *rep)
{
    const sb_config_t *c = self->world->config;
    sb_rate_t rate;
    sb_ratelimit_hit (self->world->rates, "linkedin/app", c->linkedin_app_limit,
                      c->linkedin_window_s, SB_WINDOW_ALIGNED, now_us, 1, &rate);
    if (!rate.allowed) {
        s_throttled (self, rep, rate.reset_us, now_us);
        return false;
    }
    if (ep != S_EP_CREATE)
        return true;
    char key[64];
    snprintf (key, sizeof (key), "linkedin/posts/%llu", (unsigned long long) a->id);
    sb_ratelimit_hit (self->world->rates, key, c->linkedin_post_limit, c->linkedin_window_s,
                      SB_WINDOW_ALIGNED, now_us, 1, &rate);
    if (!rate.allowed) {
        s_throttled (self, rep, rate.reset_us, now_us);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* Endpoints (lock held)                                                     */

static const char *const s_post_fields[] = {
    "author",        "commentary", "visibility", "distribution", "lifecycleState",
    "isReshareDisabledByAuthor", "content", "contentLandingPage", "contentCallToActionLabel",
    "container",     "reshareContext", "adContext", NULL,
};

static bool
s_known_field (const char *key)
{
    for (size_t i = 0; s_post_fields[i]; i++)
        if (strcmp (s_post_fields[i], key) == 0)
            return true;
    return false;
}

static bool
s_one_of (const char *v, const char *const *set)
{
    for (size_t i = 0; v && set[i]; i++)
        if (strcmp (v, set[i]) == 0)
            return true;
    return false;
}

/* Schema validation of a post body: "ERROR :: /field :: why\n" per problem
 * (empty: valid). */
static void
s_validate_post (json_t *body, sb_buf_t *errors)
{
    static const char *const visibilities[] = { "PUBLIC", "CONNECTIONS", "LOGGED_IN",
                                                "CONTAINER", NULL };
    static const char *const feeds[] = { "MAIN_FEED", "NONE", NULL };
    static const char *const states[] = { "PUBLISHED", NULL };
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value)
    {
        if (!s_known_field (key))
            sb_buf_printf (errors, "ERROR :: /%.64s :: unrecognized field found but not allowed\n",
                           key);
    }
    static const char *const required[] = { "author", "commentary", "visibility", "distribution",
                                            "lifecycleState", NULL };
    for (size_t i = 0; required[i]; i++)
        if (!json_object_get (body, required[i]))
            sb_buf_printf (errors,
                           "ERROR :: /%s :: field is required but not found and has no default "
                           "value\n",
                           required[i]);
    json_t *j;
    if ((j = json_object_get (body, "author")) && !json_is_string (j))
        sb_buf_adds (errors, "ERROR :: /author :: not a string\n");
    if ((j = json_object_get (body, "commentary")) && !json_is_string (j))
        sb_buf_adds (errors, "ERROR :: /commentary :: not a string\n");
    if ((j = json_object_get (body, "visibility"))
        && !s_one_of (json_string_value (j), visibilities))
        sb_buf_adds (errors, "ERROR :: /visibility :: not an enum symbol of "
                             "PUBLIC|CONNECTIONS|LOGGED_IN|CONTAINER\n");
    if ((j = json_object_get (body, "lifecycleState")) && !s_one_of (json_string_value (j), states))
        sb_buf_adds (errors, "ERROR :: /lifecycleState :: only PUBLISHED posts are imitated\n");
    if ((j = json_object_get (body, "isReshareDisabledByAuthor")) && !json_is_boolean (j))
        sb_buf_adds (errors, "ERROR :: /isReshareDisabledByAuthor :: not a boolean\n");
    if ((j = json_object_get (body, "distribution"))) {
        json_t *feed = json_is_object (j) ? json_object_get (j, "feedDistribution") : NULL;
        json_t *targets = json_is_object (j) ? json_object_get (j, "targetEntities") : NULL;
        json_t *third = json_is_object (j) ? json_object_get (j, "thirdPartyDistributionChannels")
                                           : NULL;
        if (!json_is_object (j))
            sb_buf_adds (errors, "ERROR :: /distribution :: not a record\n");
        else if (!feed)
            sb_buf_adds (errors, "ERROR :: /distribution/feedDistribution :: field is required "
                                 "but not found and has no default value\n");
        else if (!s_one_of (json_string_value (feed), feeds))
            sb_buf_adds (errors, "ERROR :: /distribution/feedDistribution :: not an enum symbol "
                                 "of MAIN_FEED|NONE\n");
        if ((targets && !json_is_array (targets)) || (third && !json_is_array (third)))
            sb_buf_adds (errors, "ERROR :: /distribution :: targetEntities and "
                                 "thirdPartyDistributionChannels must be arrays\n");
    }
}

static s_image_t *
s_find_image (const s_li_t *self, const char *urn)
{
    uint64_t id;
    if (!urn || strncmp (urn, S_IMAGE_PREFIX, strlen (S_IMAGE_PREFIX)) != 0
        || sb_parse_u64 (urn + strlen (S_IMAGE_PREFIX), &id) != 0)
        return NULL;
    char key[24];
    snprintf (key, sizeof (key), "%llu", (unsigned long long) id);
    return sb_map_get (self->images, key);
}

/* content of a post: only {"media":{"id":"urn:li:image:..","altText"?,"title"?}}
 * is imitated. The image must be the author's and uploaded. false: 422 sent. */
static bool
s_post_image (s_li_t *self, json_t *content, const sb_account_t *account, uint64_t *image,
              sb_reply_t *rep)
{
    json_t *media = json_is_object (content) ? json_object_get (content, "media") : NULL;
    if (!json_is_object (media) || json_object_size (content) != 1) {
        s_schema_error (rep, json_is_object (content)
                                 ? "ERROR :: /content :: only media content (an image) is "
                                   "imitated by the sandbox\n"
                                 : "ERROR :: /content :: not a record\n");
        return false;
    }
    json_t *jid = json_object_get (media, "id");
    json_t *alt = json_object_get (media, "altText");
    json_t *title = json_object_get (media, "title");
    if (!json_is_string (jid) || (alt && !json_is_string (alt)) || (title && !json_is_string (title))) {
        s_schema_error (rep, !jid ? "ERROR :: /content/media/id :: field is required but not "
                                    "found and has no default value\n"
                                  : "ERROR :: /content/media :: id, altText and title must be "
                                    "strings\n");
        return false;
    }
    const char *urn = json_string_value (jid);
    s_image_t *img = s_find_image (self, urn);
    char msg[400], desc[240];
    if (!img || img->owner != account->id) {
        /* an unknown image and another organization's look the same (unconfirmed wording) */
        snprintf (desc, sizeof (desc),
                  "Media %.80s does not exist or is not owned by the post's author", urn);
        snprintf (msg, sizeof (msg), S_EXCEPTION "%s", desc);
        s_input_error (rep, msg, desc, "/content/media/id", "INVALID_VALUE");
        return false;
    }
    if (!img->uploaded) {
        snprintf (desc, sizeof (desc),
                  "Media %.80s is not available: its upload has not completed (status "
                  "WAITING_UPLOAD)",
                  urn);
        snprintf (msg, sizeof (msg), S_EXCEPTION "%s", desc);
        s_input_error (rep, msg, desc, "/content/media/id", "INVALID_VALUE");
        return false;
    }
    *image = img->id;
    return true;
}

/* POST /rest/images?action=initializeUpload {"initializeUploadRequest":{"owner":URN}} */
static void
s_image_init (s_li_t *self, const sb_req_t *req, json_t *body, const sb_account_t *account,
              sb_reply_t *rep)
{
    const char *action = sb_req_arg (req, "action");
    if (!action || strcmp (action, "initializeUpload") != 0) {
        s_bad_param (rep, "action", action);
        return;
    }
    if (!json_is_object (body)) {
        sb_reply_json (rep, 400, S_JSON_DATA_MAP);
        return;
    }
    json_t *init = json_object_get (body, "initializeUploadRequest");
    const char *owner = json_string_value (json_object_get (init, "owner"));
    if (!owner) {
        s_schema_error (rep, json_is_object (init)
                                 ? "ERROR :: /initializeUploadRequest/owner :: field is required "
                                   "but not found and has no default value\n"
                                 : "ERROR :: /initializeUploadRequest :: field is required but "
                                   "not found and has no default value\n");
        return;
    }
    char org[S_URN_MAX];
    s_org_urn (account, org, sizeof (org));
    if (strcmp (owner, org) != 0) {
        s_denied (rep, "Unpermitted fields present in REQUEST_BODY: Data Processing Exception "
                       "while processing fields [/initializeUploadRequest/owner]");
        return;
    }
    s_image_t *img = calloc (1, sizeof (*img));
    if (!img) {
        s_error (rep, 500, -1, NULL, "Internal Server Error");
        return;
    }
    img->id = sb_world_next_id (self->world, req->now_us);
    img->owner = account->id;
    img->upload_until_us = req->now_us + S_UPLOAD_TTL_US;
    /* not a secret here: unique and unguessable enough for tests */
    uint64_t h = 1469598103934665603ull ^ img->id ^ (req->now_us << 7);
    for (int i = 0; i < 8; i++)
        h = (h ^ (h >> 29)) * 1099511628211ull;
    snprintf (img->token, sizeof (img->token), "%llu-%016llx", (unsigned long long) img->id,
              (unsigned long long) h);
    char key[24];
    snprintf (key, sizeof (key), "%llu", (unsigned long long) img->id);
    if (sb_map_put (self->images, key, img) != 0) {
        free (img);
        s_error (rep, 500, -1, NULL, "Internal Server Error");
        return;
    }
    rep->status = 200;
    sb_buf_printf (&rep->body,
                   "{\"value\":{\"uploadUrlExpiresAt\":%llu,\"uploadUrl\":\"%s/linkedin"
                   S_UPLOAD_PATH "%s\",\"image\":\"" S_IMAGE_PREFIX "%llu\"}}",
                   (unsigned long long) (img->upload_until_us / 1000u), self->world->base_url,
                   img->token, (unsigned long long) img->id);
}

static void
s_image_get (s_li_t *self, const char *urn, const sb_account_t *account, sb_reply_t *rep)
{
    s_image_t *img = s_find_image (self, urn);
    if (!img || img->owner != account->id) {
        char msg[200];
        snprintf (msg, sizeof (msg), "Not Found: %.96s", urn);
        s_error (rep, 404, -1, "NOT_FOUND", msg);
        return;
    }
    char org[S_URN_MAX];
    s_org_urn (account, org, sizeof (org));
    rep->status = 200;
    sb_buf_printf (&rep->body,
                   "{\"owner\":\"%s\",\"id\":\"" S_IMAGE_PREFIX "%llu\",\"status\":\"%s\"",
                   org, (unsigned long long) img->id, img->uploaded ? "AVAILABLE" : "WAITING_UPLOAD");
    if (img->uploaded)
        sb_buf_printf (&rep->body, ",\"mediaType\":\"%s\"", img->mime);
    sb_buf_addc (&rep->body, '}');
}

/* PUT /dms-uploads/{token}: the raw bytes, with the owner's Bearer token. */
static void
s_upload (s_li_t *self, const sb_req_t *req, const char *token, const sb_account_t *account,
          sb_reply_t *rep)
{
    uint64_t id = 0;
    char key[24];
    size_t dash = strcspn (token, "-");
    if (dash == 0 || dash >= sizeof (key)) {
        s_error (rep, 404, -1, "NOT_FOUND", "No upload found at this URL");
        return;
    }
    memcpy (key, token, dash);
    key[dash] = '\0';
    s_image_t *img = sb_parse_u64 (key, &id) == 0 ? sb_map_get (self->images, key) : NULL;
    if (!img || strcmp (img->token, token) != 0) {
        s_error (rep, 404, -1, "NOT_FOUND", "No upload found at this URL");
        return;
    }
    if (img->owner != account->id) {
        s_denied (rep, "Not enough permissions to upload this image");
        return;
    }
    if (req->now_us > img->upload_until_us) {
        s_error (rep, 400, -1, "UPLOAD_EXPIRED", "The upload URL has expired: initialize the "
                                                 "upload again");
        return;
    }
    const char *mime = sb_media_sniff (req->body, req->body_len);
    if (!mime || strcmp (mime, "image/webp") == 0) {
        s_error (rep, 400, -1, "INVALID_IMAGE",
                 "Unsupported image format: upload a " S_IMAGE_TYPES " image");
        return;
    }
    img->uploaded = true;
    img->size = req->body_len;
    snprintf (img->mime, sizeof (img->mime), "%s", mime);
    rep->status = 201;
    sb_buf_reset (&rep->body);
}

/* Body parsed outside the lock; NULL if it was not JSON. */
static void
s_create (s_li_t *self, const sb_req_t *req, json_t *body, sb_account_t *account,
          sb_reply_t *rep)
{
    sb_world_t *world = self->world;
    if (!json_is_object (body)) {
        sb_reply_json (rep, 400, S_JSON_DATA_MAP);
        return;
    }
    sb_buf_t errors;
    sb_buf_init (&errors);
    s_validate_post (body, &errors);
    if (errors.len > 0) {
        s_schema_error (rep, errors.data);
        sb_buf_free (&errors);
        return;
    }
    sb_buf_free (&errors);
    char org[S_URN_MAX];
    s_org_urn (account, org, sizeof (org));
    if (strcmp (json_string_value (json_object_get (body, "author")), org) != 0) {
        s_denied (rep, S_AUTHOR_DENIED);
        return;
    }
    json_t *jcomm = json_object_get (body, "commentary");
    const char *commentary = json_string_value (jcomm);
    size_t clen = json_string_length (jcomm);
    if (strlen (commentary) != clen) {
        s_schema_error (rep, "ERROR :: /commentary :: must not contain NUL characters\n");
        return;
    }
    uint64_t image = 0;
    json_t *content = json_object_get (body, "content");
    if (content && !s_post_image (self, content, account, &image, rep))
        return;
    char *text = s_render (commentary, clen);
    if (!text)
        goto oom;
    if (sb_blank (text) && !image) {
        s_input_error (rep, S_EXCEPTION "Commentary must not be empty for a post without content",
                       "Commentary must not be empty for a post without content", "/commentary",
                       "MISSING_FIELD");
        free (text);
        return;
    }
    size_t chars = sb_utf8_count (text, strlen (text));
    if (chars > S_MAX_CHARS) {
        char msg[256], desc[160];
        snprintf (desc, sizeof (desc),
                  "Commentary is too long: %zu characters, the maximum is %d", chars,
                  S_MAX_CHARS);
        snprintf (msg, sizeof (msg), S_EXCEPTION "%s", desc);
        s_input_error (rep, msg, desc, "/commentary", "INVALID_VALUE");
        free (text);
        return;
    }
    /* The same text by the same author within a day: a duplicate. */
    sb_vec_t *mine = s_authored (self, account->id, true);
    for (size_t i = mine ? mine->len : 0; i > 0; i--) {
        s_post_t *p = mine->items[i - 1];
        if (req->now_us > p->created_us && req->now_us - p->created_us > S_DUPLICATE_WINDOW_US)
            break;
        if (strcmp (p->text, text) == 0) {
            char urn[S_URN_MAX], msg[200];
            s_share_urn (p->id, urn, sizeof (urn));
            snprintf (msg, sizeof (msg), S_EXCEPTION "Content is a duplicate of %s", urn);
            s_input_error (rep, msg, "Duplicate post is detected", NULL, "DUPLICATE_POST");
            free (text);
            return;
        }
    }
    s_post_t *post = calloc (1, sizeof (*post));
    if (!mine || !post) {
        free (text);
        s_post_free (post);
        goto oom;
    }
    post->id = sb_world_next_id (world, req->now_us);
    post->author = account;
    post->created_us = req->now_us;
    post->text = text;
    post->commentary = strdup (commentary);
    snprintf (post->visibility, sizeof (post->visibility), "%s",
              json_string_value (json_object_get (body, "visibility")));
    snprintf (post->feed, sizeof (post->feed), "%s",
              json_string_value (
                  json_object_get (json_object_get (body, "distribution"), "feedDistribution")));
    post->reshare_disabled = json_is_true (json_object_get (body, "isReshareDisabledByAuthor"));
    post->image = image;
    if (!post->commentary || sb_vec_push (&self->posts, post, S_VEC_FIRST) != 0) {
        s_post_free (post);
        goto oom;
    }
    if (sb_vec_push (mine, post, S_VEC_FIRST) != 0) {
        self->posts.len--;
        s_post_free (post);
        goto oom;
    }
    char urn[S_URN_MAX], url[512];
    s_share_urn (post->id, urn, sizeof (urn));
    snprintf (url, sizeof (url), "%s/linkedin/feed/update/%s/", world->base_url, urn);
    sb_ledger_entry_t entry = { .created_us = req->now_us,
                                .platform = S_PLATFORM,
                                .account = account->handle,
                                .id = urn,
                                .url = url,
                                .text = post->text,
                                .idempotency_key = NULL };
    char image_urn[S_URN_MAX];
    const char *media_list[1] = { image_urn };
    if (image) {
        snprintf (image_urn, sizeof (image_urn), S_IMAGE_PREFIX "%llu", (unsigned long long) image);
        entry.media = media_list;
        entry.nmedia = 1;
    }
    if (sb_ledger_append (world->ledger, &entry) == 0)
        SB_WARN ("ledger append failed for post %s", urn);
    rep->status = 201; /* LinkedIn answers a creation with an empty body */
    sb_buf_reset (&rep->body);
    sb_reply_header (rep, "x-restli-id", urn);
    return;
oom:
    s_error (rep, 500, -1, NULL, "Internal Server Error");
}

/* count and start of a collection call; false: 400 sent. */
static bool
s_page_args (const sb_req_t *req, size_t *start, size_t *count, sb_reply_t *rep)
{
    int64_t v;
    const char *s = sb_req_arg (req, "start"), *c = sb_req_arg (req, "count");
    *start = 0;
    *count = S_PAGE_DEFAULT;
    if (s) {
        if (sb_parse_i64 (s, 0, 1000000, &v) != 0) {
            s_bad_param (rep, "start", s);
            return false;
        }
        *start = (size_t) v;
    }
    if (c) {
        if (sb_parse_i64 (c, 1, S_PAGE_MAX, &v) != 0) {
            s_bad_param (rep, "count", c);
            return false;
        }
        *count = (size_t) v;
    }
    return true;
}

static void
s_find (s_li_t *self, const sb_req_t *req, const sb_account_t *account, sb_reply_t *rep)
{
    const char *q = sb_req_arg (req, "q");
    const char *author = sb_req_arg (req, "author");
    const char *sort = sb_req_arg (req, "sortBy");
    if (!q || strcmp (q, "author") != 0) {
        s_bad_param (rep, "q", q);
        return;
    }
    if (!author || !*author) {
        s_error (rep, 400, -1, "ILLEGAL_ARGUMENT", "Missing required parameter 'author'");
        return;
    }
    if (sort && strcmp (sort, "LAST_MODIFIED") != 0 && strcmp (sort, "CREATED") != 0) {
        s_bad_param (rep, "sortBy", sort);
        return;
    }
    size_t start, count;
    if (!s_page_args (req, &start, &count, rep))
        return;
    char org[S_URN_MAX];
    s_org_urn (account, org, sizeof (org));
    if (strcmp (author, org) != 0) {
        char msg[160];
        snprintf (msg, sizeof (msg),
                  "Not enough permissions to access: partnerApiPostsExternal.FINDER-author.%s01",
                  sb_req_header (req, "LinkedIn-Version"));
        s_denied (rep, msg);
        return;
    }
    /* posts are never edited here: LAST_MODIFIED and CREATED give one order */
    const sb_vec_t *mine = s_authored (self, account->id, false);
    size_t total = mine ? mine->len : 0;
    char next[S_URN_MAX + 80];
    snprintf (next, sizeof (next), "/rest/posts?q=author&author=%s&sortBy=%s", org,
              sort ? sort : "LAST_MODIFIED");
    rep->status = 200;
    s_paging (&rep->body, start, count, total, next);
    for (size_t k = 0; k < count && start + k < total; k++) {
        if (k)
            sb_buf_addc (&rep->body, ',');
        s_render_post (&rep->body, mine->items[total - 1 - start - k]);
    }
    sb_buf_adds (&rep->body, "]}");
}

/* The post a path segment names; 404 sent if none. */
static s_post_t *
s_target (s_li_t *self, const char *urn, sb_reply_t *rep)
{
    uint64_t id;
    s_post_t *p = s_post_urn (urn, &id) == 0 ? s_find_post (self, id) : NULL;
    if (!p) {
        char msg[200];
        snprintf (msg, sizeof (msg), "Not Found: %.96s", urn ? urn : "");
        s_error (rep, 404, -1, "NOT_FOUND", msg);
    }
    return p;
}

static void
s_actions (s_li_t *self, const char *urn, sb_reply_t *rep)
{
    s_post_t *p = s_target (self, urn, rep);
    if (!p)
        return;
    char target[S_URN_MAX];
    s_share_urn (p->id, target, sizeof (target));
    rep->status = 200;
    sb_buf_t *b = &rep->body;
    sb_buf_printf (b,
                   "{\"likesSummary\":{\"selectedLikes\":[],\"aggregatedTotalLikes\":%lld,"
                   "\"likedByCurrentUser\":false,\"totalLikes\":%lld},"
                   "\"commentsSummary\":{\"selectedComments\":[],\"totalFirstLevelComments\":%zu,"
                   "\"commentsState\":\"OPEN\",\"aggregatedTotalComments\":%zu},"
                   "\"target\":\"%s\",\"$URN\":\"urn:li:socialActions:%s\"}",
                   (long long) p->likes, (long long) p->likes, p->comments.len, p->comments.len,
                   target, target);
}

static void
s_comments (s_li_t *self, const sb_req_t *req, const char *urn, sb_reply_t *rep)
{
    s_post_t *p = s_target (self, urn, rep);
    size_t start, count;
    if (!p || !s_page_args (req, &start, &count, rep))
        return;
    size_t total = p->comments.len;
    rep->status = 200;
    s_paging (&rep->body, start, count, total, NULL);
    for (size_t k = 0; k < count && start + k < total; k++) {
        if (k)
            sb_buf_addc (&rep->body, ',');
        s_render_comment (&rep->body, p, p->comments.items[total - 1 - start - k]);
    }
    sb_buf_adds (&rep->body, "]}");
}

/* Lock held. Adds a comment; NULL when out of memory. */
static s_comment_t *
s_add_comment (s_li_t *self, s_post_t *p, const char *actor, const char *text, uint64_t now_us)
{
    s_comment_t *c = calloc (1, sizeof (*c));
    if (!c)
        return NULL;
    c->id = sb_world_next_id (self->world, now_us);
    c->created_us = now_us;
    snprintf (c->actor, sizeof (c->actor), "%s", actor);
    c->text = strdup (text);
    if (!c->text || sb_vec_push (&p->comments, c, S_VEC_FIRST) != 0) {
        s_comment_free (c);
        return NULL;
    }
    return c;
}

static void
s_comment (s_li_t *self, const sb_req_t *req, json_t *body, const char *urn,
           const sb_account_t *account, sb_reply_t *rep)
{
    if (!json_is_object (body)) {
        sb_reply_json (rep, 400, S_JSON_DATA_MAP);
        return;
    }
    s_post_t *p = s_target (self, urn, rep);
    if (!p)
        return;
    const char *actor = json_string_value (json_object_get (body, "actor"));
    json_t *message = json_object_get (body, "message");
    const char *text = json_string_value (json_object_get (message, "text"));
    if (!actor || !text) {
        s_schema_error (rep, !actor ? "ERROR :: /actor :: field is required but not found and "
                                      "has no default value\n"
                                    : "ERROR :: /message/text :: field is required but not "
                                      "found and has no default value\n");
        return;
    }
    char org[S_URN_MAX];
    s_org_urn (account, org, sizeof (org));
    if (strcmp (actor, org) != 0) {
        s_denied (rep, S_ACTOR_DENIED);
        return;
    }
    if (sb_blank (text)) {
        s_input_error (rep, S_EXCEPTION "Comment text must not be empty",
                       "Comment text must not be empty", "/message/text", "MISSING_FIELD");
        return;
    }
    s_comment_t *c = s_add_comment (self, p, org, text, req->now_us);
    if (!c) {
        s_error (rep, 500, -1, NULL, "Internal Server Error");
        return;
    }
    char curn[S_URN_MAX * 2], post_urn[S_URN_MAX], url[768];
    s_comment_urn (p, c, curn, sizeof (curn));
    /* the organization's comment (a reply) is on the ledger, as a post is */
    s_share_urn (p->id, post_urn, sizeof (post_urn));
    sb_buf_t enc;
    sb_buf_init (&enc);
    sb_buf_add_urlenc (&enc, curn);
    snprintf (url, sizeof (url), "%s/linkedin/feed/update/%s/?commentUrn=%s",
              self->world->base_url, post_urn, enc.data ? enc.data : "");
    sb_buf_free (&enc);
    sb_ledger_entry_t entry = { .created_us = req->now_us,
                                .platform = S_PLATFORM,
                                .account = account->handle,
                                .id = curn,
                                .url = url,
                                .text = text,
                                .idempotency_key = NULL };
    if (sb_ledger_append (self->world->ledger, &entry) == 0)
        SB_WARN ("ledger append failed for comment %s", curn);
    rep->status = 201;
    s_render_comment (&rep->body, p, c);
    sb_reply_header (rep, "x-restli-id", curn);
}

static void
s_statistics_of (sb_buf_t *out, const char *org, const s_post_t *p, int64_t likes,
                 size_t comments)
{
    sb_buf_adds (out, "{\"organizationalEntity\":");
    sb_buf_add_json_str (out, org);
    if (p) {
        char urn[S_URN_MAX];
        s_share_urn (p->id, urn, sizeof (urn));
        sb_buf_adds (out, ",\"share\":");
        sb_buf_add_json_str (out, urn);
    }
    /* no audience here: impressions and clicks stay 0, engagement with them */
    sb_buf_printf (out,
                   ",\"totalShareStatistics\":{\"uniqueImpressionsCount\":0,\"shareCount\":0,"
                   "\"engagement\":0.0,\"clickCount\":0,\"likeCount\":%lld,"
                   "\"impressionCount\":0,\"commentCount\":%zu}}",
                   (long long) likes, comments);
}

static void
s_statistics (s_li_t *self, const sb_req_t *req, const sb_account_t *account, sb_reply_t *rep)
{
    const char *q = sb_req_arg (req, "q");
    const char *entity = sb_req_arg (req, "organizationalEntity");
    const char *shares = sb_req_arg (req, "shares");
    if (!q || strcmp (q, "organizationalEntity") != 0) {
        s_bad_param (rep, "q", q);
        return;
    }
    char org[S_URN_MAX];
    s_org_urn (account, org, sizeof (org));
    if (!entity || strcmp (entity, org) != 0) {
        char msg[160];
        snprintf (msg, sizeof (msg),
                  "Not enough permissions to access: organizationalEntityShareStatistics."
                  "FINDER-organizationalEntity.%s01",
                  sb_req_header (req, "LinkedIn-Version"));
        s_denied (rep, msg);
        return;
    }
    const sb_vec_t *mine = s_authored (self, account->id, false);
    s_post_t *picked[S_MAX_SHARES];
    size_t n = 0;
    if (shares) {
        size_t sl = strlen (shares);
        if (sl < 6 || strncmp (shares, "List(", 5) != 0 || shares[sl - 1] != ')') {
            s_bad_param (rep, "shares", shares);
            return;
        }
        char urn[S_URN_MAX];
        for (const char *p = shares + 5; p < shares + sl - 1;) {
            size_t len = strcspn (p, ",)");
            uint64_t id;
            if (len == 0 || len >= sizeof (urn) || n == S_MAX_SHARES) {
                s_bad_param (rep, "shares", shares);
                return;
            }
            memcpy (urn, p, len);
            urn[len] = '\0';
            if (s_post_urn (urn, &id) != 0) {
                s_bad_param (rep, "shares", urn);
                return;
            }
            s_post_t *post = s_find_post (self, id);
            if (post && post->author == account)
                picked[n++] = post; /* others' and unknown shares are left out */
            p += len;
            if (*p == ',')
                p++;
        }
    }
    rep->status = 200;
    sb_buf_t *b = &rep->body;
    if (!shares) { /* the organization's lifetime totals */
        int64_t likes = 0;
        size_t comments = 0;
        for (size_t i = 0; mine && i < mine->len; i++) {
            const s_post_t *p = mine->items[i];
            likes += p->likes;
            comments += p->comments.len;
        }
        s_paging (b, 0, S_PAGE_DEFAULT, 1, NULL);
        s_statistics_of (b, org, NULL, likes, comments);
    }
    else {
        s_paging (b, 0, S_PAGE_DEFAULT, n, NULL);
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_buf_addc (b, ',');
            s_statistics_of (b, org, picked[i], picked[i]->likes, picked[i]->comments.len);
        }
    }
    sb_buf_adds (b, "]}");
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                   */

typedef struct {
    s_endpoint_t ep;
    char urn[S_URN_MAX]; /* the {urn} path segment, if any */
} s_route_t;

/* "/rest/..." -> endpoint. Path segments are already percent-decoded. */
static s_route_t
s_route (const sb_req_t *req)
{
    s_route_t r = { S_EP_NONE, "" };
    bool get = sb_req_is (req, "GET"), post = sb_req_is (req, "POST");
    const char *path = req->path;
    const char *rest = "/rest/";
    size_t ul = strlen (S_UPLOAD_PATH);
    if (strncmp (path, S_UPLOAD_PATH, ul) == 0 && sb_req_is (req, "PUT")) {
        size_t tl = strlen (path + ul);
        if (tl > 0 && tl < sizeof (r.urn) && !strchr (path + ul, '/')) {
            memcpy (r.urn, path + ul, tl + 1);
            r.ep = S_EP_UPLOAD;
        }
        return r;
    }
    if (strncmp (path, rest, strlen (rest)) != 0)
        return r;
    path += strlen (rest);
    const char *slash = strchr (path, '/');
    size_t head = slash ? (size_t) (slash - path) : strlen (path);
    const char *tail = slash ? slash + 1 : NULL;
    size_t urnl = tail ? strcspn (tail, "/") : 0;
    if (tail && (urnl == 0 || urnl >= sizeof (r.urn)))
        return r;
    if (tail) {
        memcpy (r.urn, tail, urnl);
        r.urn[urnl] = '\0';
    }
    const char *after = tail ? tail + urnl : NULL; /* "" or "/comments" */
    if (head == 5 && strncmp (path, "posts", 5) == 0) {
        if (!tail && post)
            r.ep = S_EP_CREATE;
        else if (!tail && get)
            r.ep = S_EP_FIND;
        else if (tail && !*after && get)
            r.ep = S_EP_GET;
    }
    else if (head == 13 && strncmp (path, "socialActions", 13) == 0 && tail) {
        if (!*after && get)
            r.ep = S_EP_ACTIONS;
        else if (strcmp (after, "/comments") == 0)
            r.ep = get ? S_EP_COMMENTS : post ? S_EP_COMMENT : S_EP_NONE;
    }
    else if (!tail && strcmp (path, "organizationalEntityShareStatistics") == 0 && get)
        r.ep = S_EP_STATISTICS;
    else if (head == 6 && strncmp (path, "images", 6) == 0) {
        if (!tail && post)
            r.ep = S_EP_IMAGE_INIT;
        else if (tail && !*after && get)
            r.ep = S_EP_IMAGE_GET;
    }
    return r;
}

static void
s_handle (void *state, const sb_req_t *req, sb_reply_t *rep)
{
    s_li_t *self = state;
    sb_world_t *world = self->world;
    if (sb_oauth_linkedin_handle (world, req, rep))   /* POST /oauth/v2/accessToken */
        return;
    s_route_t route = s_route (req);
    if (route.ep == S_EP_NONE) {
        sb_reply_json (rep, 404, S_JSON_NO_RESOURCE);
        return;
    }
    /* the upload URL is another service: no versioned-API headers there */
    if (route.ep != S_EP_UPLOAD && !s_check_headers (self, req, rep))
        return;
    /* Parse the body outside the lock. */
    json_t *body = NULL;
    if (route.ep == S_EP_CREATE || route.ep == S_EP_COMMENT || route.ep == S_EP_IMAGE_INIT)
        body = json_loadb (req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
    const char *token = sb_req_bearer (req);

    sb_world_lock (world);
    sb_account_t *account = token ? s_authenticate (self, token, req->now_us) : NULL;
    if (!account) {
        bool revoked = token && sb_accounts_revoked (world->accounts, token);
        bool expired = token && sb_accounts_expired (world->accounts, S_PLATFORM, token,
                                                     req->now_us);
        sb_reply_json (rep, 401, revoked   ? S_JSON_REVOKED_TOKEN
                                 : expired ? S_JSON_EXPIRED_TOKEN
                                           : S_JSON_INVALID_TOKEN);
        goto out;
    }
    if (!s_rate (self, route.ep, account, req->now_us, rep))
        goto out;
    switch (route.ep) {
    case S_EP_CREATE: s_create (self, req, body, account, rep); break;
    case S_EP_FIND: s_find (self, req, account, rep); break;
    case S_EP_GET: {
        s_post_t *p = s_target (self, route.urn, rep);
        if (p) {
            rep->status = 200;
            s_render_post (&rep->body, p);
        }
        break;
    }
    case S_EP_ACTIONS: s_actions (self, route.urn, rep); break;
    case S_EP_COMMENTS: s_comments (self, req, route.urn, rep); break;
    case S_EP_COMMENT: s_comment (self, req, body, route.urn, account, rep); break;
    case S_EP_STATISTICS: s_statistics (self, req, account, rep); break;
    case S_EP_IMAGE_INIT: s_image_init (self, req, body, account, rep); break;
    case S_EP_IMAGE_GET: s_image_get (self, route.urn, account, rep); break;
    case S_EP_UPLOAD: s_upload (self, req, route.urn, account, rep); break;
    case S_EP_NONE: break;
    }
out:
    sb_world_unlock (world);
    json_decref (body);
}

/* ------------------------------------------------------------------------ */
/* Platform interface                                                        */

static void *
s_create_state (sb_world_t *world)
{
    s_li_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->world = world;
    self->authored = sb_map_new (sb_vec_free);
    self->images = sb_map_new (free);
    if (!self->authored || !self->images) {
        sb_map_destroy (&self->authored);
        sb_map_destroy (&self->images);
        free (self);
        return NULL;
    }
    return self;
}

static void
s_reset (void *state)
{
    s_li_t *self = state;
    for (size_t i = 0; i < self->posts.len; i++)
        s_post_free (self->posts.items[i]);
    self->posts.len = 0;
    sb_map_clear (self->authored);
    sb_map_clear (self->images);
}

static void
s_destroy (void **state_p)
{
    if (!state_p || !*state_p)
        return;
    s_li_t *self = *state_p;
    s_reset (self);
    free (self->posts.items);
    sb_map_destroy (&self->authored);
    sb_map_destroy (&self->images);
    free (self);
    *state_p = NULL;
}

static bool
s_identify (void *state, const sb_req_t *req, char *handle, size_t cap)
{
    s_li_t *self = state;
    return sb_accounts_identify (self->world->accounts, S_PLATFORM, sb_req_bearer (req), 1024,
                                 self->world->config->open, handle, cap);
}

/* An injected error in LinkedIn's shape. */
static void
s_fault (void *state, const sb_req_t *req, int status, sb_reply_t *rep)
{
    (void) state;
    switch (status) {
    case 401: sb_reply_json (rep, 401, S_JSON_EXPIRED_TOKEN); break;
    case 403: /* what an application without the read or write permission gets */
        s_denied (rep, sb_req_is (req, "GET")
                           ? "Not enough permissions to access: partnerApiPostsExternal.GET"
                           : "Not enough permissions to access: partnerApiPostsExternal.CREATE");
        break;
    case 426: {
        const char *v = sb_req_header (req, "LinkedIn-Version");
        int64_t ym = v ? s_version (v) : -1;
        char msg[80];
        if (ym > 0)
            snprintf (msg, sizeof (msg), "Requested version %lld01 is not active", (long long) ym);
        else
            snprintf (msg, sizeof (msg), "Requested version is not active");
        s_error (rep, 426, -1, "NONEXISTENT_VERSION", msg);
        break;
    }
    case 429: /* exactly LinkedIn's: no header, not even the sandbox's hint */
        sb_reply_json (rep, 429, S_JSON_THROTTLED);
        break;
    default: s_error (rep, status, -1, NULL, sb_http_reason (status)); break;
    }
}

/* Control API: {"platform":"linkedin","account":"<org handle>","from":"bob",
 *  "in_reply_to_id":"urn:li:share:N","text":".."} comments on the account's
 * post as urn:li:person:bob; with "like":true and no text, bob likes it. */
static int
s_mention (void *state, const json_t *spec, sb_buf_t *out)
{
    s_li_t *self = state;
    sb_world_t *world = self->world;
    const char *to = json_string_value (json_object_get (spec, "account"));
    const char *from = json_string_value (json_object_get (spec, "from"));
    const char *text = json_string_value (json_object_get (spec, "text"));
    const char *target = json_string_value (json_object_get (spec, "in_reply_to_id"));
    bool like = json_is_true (json_object_get (spec, "like"));
    if (!to || !from || !sb_accounts_handle_valid (from)) {
        sb_buf_adds (out, "{\"error\":\"'account' and 'from' (a valid handle) are required\"}");
        return 422;
    }
    sb_account_t *account = sb_accounts_find (world->accounts, S_PLATFORM, to);
    if (!account) {
        sb_buf_adds (out, "{\"error\":\"unknown account\"}");
        return 404;
    }
    uint64_t id;
    s_post_t *p = target && s_post_urn (target, &id) == 0 ? s_find_post (self, id) : NULL;
    if (!p || p->author != account) {
        sb_buf_adds (out, "{\"error\":\"in_reply_to_id: a post URN of this account is "
                          "required (LinkedIn comments live on posts)\"}");
        return 422;
    }
    if (like && !text) {
        p->likes++;
        sb_buf_printf (out, "{\"likes\":%lld}", (long long) p->likes);
        return 201;
    }
    if (!text || sb_blank (text)) {
        sb_buf_adds (out, "{\"error\":\"'text' is required (or \\\"like\\\":true)\"}");
        return 422;
    }
    char actor[S_URN_MAX];
    snprintf (actor, sizeof (actor), S_PERSON_PREFIX "%s", from);
    s_comment_t *c = s_add_comment (self, p, actor, text, sb_now_us ());
    if (!c) {
        sb_buf_adds (out, "{\"error\":\"out of memory\"}");
        return 500;
    }
    char curn[S_URN_MAX * 2];
    s_comment_urn (p, c, curn, sizeof (curn));
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_id (out, c->id);
    sb_buf_adds (out, ",\"urn\":");
    sb_buf_add_json_str (out, curn);
    sb_buf_addc (out, '}');
    return 201;
}

const sb_platform_t sb_linkedin_platform = {
    .name = S_PLATFORM,
    .prefix = "/linkedin",
    .create = s_create_state,
    .destroy = s_destroy,
    .reset = s_reset,
    .identify = s_identify,
    .handle = s_handle,
    .fault = s_fault,
    .mention = s_mention,
};
