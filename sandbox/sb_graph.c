/*
 * sb_graph: the Graph APIs, as three platforms sharing one implementation:
 * Facebook Pages under /facebook, Instagram content publishing under
 * /instagram, Threads under /threads (an account's api_base is
 * http://HOST:PORT/facebook ...). A Graph version segment (/v21.0) after the
 * prefix is accepted and ignored. The account's handle is the node id of the
 * page, the Instagram user or the Threads user; "me" names it too.
 *
 *   Facebook   POST /{page}/feed (message, link) -> {"id":"{page}_{post}"}
 *              POST /{page}/photos (url, or the bytes as a multipart file
 *                   "source": JPEG/PNG/GIF/WebP by signature, else 324;
 *                   caption|message) -> {"id":photo,"post_id"}
 *              POST /{object}/comments (message) -> {"id"}
 *              GET  /{page}/feed, /{page}/posts      newest first, paging
 *              GET  /{post}?fields=shares,reactions.summary(..),comments.summary(..)
 *              GET  /{object}/comments (filter, order, summary)
 *   Instagram  POST /{user}/media (image_url, caption) -> {"id":container}
 *              GET  /{container}?fields=status_code,status
 *                   IN_PROGRESS for --instagram-container-delay-ms, then
 *                   FINISHED (ERROR if the image is not a JPEG), EXPIRED
 *                   after 24 h, PUBLISHED once published
 *              POST /{user}/media_publish (creation_id) -> {"id":media}
 *              POST /{media}/comments (message) -> {"id"}
 *              GET  /{user}/media, /{media}, /{user}/content_publishing_limit,
 *                   /{media}/comments (newest first)
 *   Threads    POST /{user}/threads (media_type=TEXT|IMAGE, text, image_url,
 *                   reply_to_id: a Threads post, else code 100); an IMAGE
 *                   container is IN_PROGRESS for --threads-container-delay-ms
 *                   (then ERROR if the image is not a JPEG), TEXT is ready
 *              POST /{user}/threads_publish (creation_id) -> {"id"}; a reply
 *                   is not in the user's threads and not in the posts quota
 *              GET  /{user}/threads, /{thread}, /{container}?fields=status,
 *                   /{user}/threads_publishing_limit, /{thread}/replies
 *                   (newest first; reverse=false: oldest first)
 *
 * Parameters come from the query string, a form, a multipart form or a JSON
 * body; the access token from "Authorization: Bearer|OAuth" or an
 * access_token parameter. There is no idempotency: every accepted publish is
 * a new post and a ledger entry (platform facebook / instagram / threads),
 * comments and replies too; an entry's media is the image URL, or the photo
 * id of an uploaded Facebook photo.
 *
 * Errors are Graph's error object, usually with HTTP 400:
 *   {"error":{"message","type","code","error_subcode","is_transient","fbtrace_id"}}
 * missing token 104; unknown token 190; a revoked token (POST
 * /_sandbox/tokens/revoke) is an expired one: 190 subcode 463. Per account,
 * every call counts in an aligned window (--graph-call-limit per
 * --graph-call-window-s); beyond it: Facebook 32, Instagram 80002, Threads 17.
 * Every answer carries X-App-Usage and, once the account is known,
 * X-Business-Use-Case-Usage (percentages of that window; the sandbox is one
 * app per account; estimated_time_to_regain_access in minutes while
 * throttled). Facebook refuses the same message on the same page within 24 h
 * (506); Instagram and Threads count publications per rolling 24 h
 * (--instagram-publish-limit, --threads-publish-limit; the window is
 * --instagram-publish-window-s, --threads-publish-window-s): code 9 subcode
 * 2207042 beyond.
 *
 * Injected faults (sandbox README) answer the Graph error for the condition,
 * with the HTTP status Graph uses for it: 401 -> 400 code 190/463, 429 -> 400
 * code 4 with the usage headers at 100 % and --graph-regain-minutes, 403 ->
 * 403 code 10, 400/404 -> 400 code 100, 500 -> 500 code 1, other 5xx -> code
 * 2 (is_transient).
 *
 * Wordings marked (unconfirmed) in platform-apis.md are the sandbox's
 * choice. Every Graph constant lives here. All state is guarded by the world
 * lock.
 */
#include "sb_log.h"
#include "sb_map.h"
#include "sb_media.h"
#include "sb_oauth.h"
#include "sb_params.h"
#include "sb_text.h"
#include "sb_vec.h"
#include "sb_world.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_VEC_FIRST 16 /* first capacity of a list */

#define S_PAGE_DEFAULT 25
#define S_PAGE_MAX 100
#define S_DAY_US (86400ull * 1000000ull)
#define S_CONTAINER_TTL_US S_DAY_US       /* an unpublished container expires */
#define S_FB_DUPLICATE_WINDOW_US S_DAY_US /* 506 window (unconfirmed) */
#define S_FB_MAX_MESSAGE 63206
#define S_IG_MAX_CAPTION 2200
#define S_TH_MAX_TEXT 500
#define S_CODE_CHARS 11
#define S_MAX_SEGS 4
#define S_SEG_MAX 96
#define S_TOKEN_MAX 4096

#define S_TYPE_OAUTH "OAuthException"
#define S_TYPE_METHOD "GraphMethodException"

/* error codes and subcodes */
#define E_UNKNOWN 1
#define E_SERVICE 2
#define E_APP_LIMIT 4
#define E_QUOTA 9
#define E_PERMISSION 10
#define E_PARAM 100
#define E_NO_TOKEN 104
#define E_TOKEN 190
#define E_PERMISSIONS 200
#define E_UPLOAD 324
#define E_DUPLICATE 506
#define E_MEDIA_FETCH 9004
#define E_NOT_READY 9007
#define SUB_NO_OBJECT 33
#define SUB_TOKEN_EXPIRED 463
#define SUB_DUPLICATE 1455006
#define SUB_QUOTA 2207042
#define SUB_CONTAINER_EXPIRED 2207020
#define SUB_CONTAINER_ERROR 2207032
#define SUB_NOT_READY 2207027
#define SUB_MEDIA_FETCH 2207052
#define SUB_ALREADY_PUBLISHED 2207006 /* (unconfirmed) */

#define M_NO_TOKEN "An access token is required to request this resource."
#define M_BAD_TOKEN "Invalid OAuth access token - Cannot parse access token"
#define M_APP_LIMIT "(#4) Application request limit reached"
#define M_PERMISSION "(#10) Application does not have permission for this action"
#define M_PERMISSIONS "(#200) Permissions error"
#define M_INVALID "(#100) Invalid parameter"
#define M_UNKNOWN "An unknown error occurred"
#define M_SERVICE "An unexpected error has occurred. Please retry your request later."
#define M_DUPLICATE "Duplicate status message"
#define M_DUPLICATE_TITLE "Duplicate Status Update"
#define M_DUPLICATE_USER                                                                           \
    "This status update is identical to the last one you posted. Try posting something "          \
    "different, or delete your previous update."
#define M_QUOTA "(#9) The account has reached its content publishing limit"
#define M_QUOTA_TITLE "Max. number of posts published"
#define M_QUOTA_USER                                                                               \
    "You reached maximum number of posts that is allowed to be published by Content Publishing "  \
    "API."
#define M_NOT_READY "Media ID is not available"
#define M_NOT_READY_TITLE "Media Not Ready For Publishing"
#define M_NOT_READY_USER "The media is not ready for publishing, please wait for a moment"
#define M_EXPIRED                                                                                  \
    "The media you are trying to access has expired. Please try to generate a new container ID."
#define M_CONTAINER_ERROR "Create media fail, please try to re-create media"
#define M_ALREADY_PUBLISHED "The media container has already been published"
#define M_MEDIA_FETCH                                                                              \
    "Media download has failed. The media URI doesn't meet our requirements."
#define M_NOT_JPEG "Only JPEG images are supported: the image at image_url is not a JPEG"
#define M_LINK_FORMAT "(#100) link URL is not properly formatted"
#define M_BAD_IMAGE "(#324) Missing or invalid image file"
#define M_BAD_REPLY_TO "(#100) Param reply_to_id must be the id of a Threads post"

typedef enum { G_FACEBOOK, G_INSTAGRAM, G_THREADS } g_kind_t;

/* What differs between the three. */
typedef struct {
    g_kind_t kind;
    const char *name;   /* platform and ledger name */
    const char *prefix;
    const char *buc_type; /* X-Business-Use-Case-Usage "type" */
    int throttle_code;    /* this account's calls exhausted */
    const char *throttle_message;
} g_spec_t;

static const g_spec_t s_facebook = {
    G_FACEBOOK, "facebook", "/facebook", "pages", 32, "(#32) Page request limit reached",
};
static const g_spec_t s_instagram = {
    G_INSTAGRAM, "instagram", "/instagram", "instagram", 80002,
    "(#80002) There have been too many calls to this Instagram account. Wait a bit and try "
    "again.",
};
static const g_spec_t s_threads = {
    G_THREADS, "threads", "/threads", "threads", 17, "(#17) User request limit reached",
};

/* fields= names this sandbox knows; each renders where it applies. */
enum {
    F_ID = 1u << 0,
    F_MESSAGE = 1u << 1,
    F_CREATED_TIME = 1u << 2,
    F_PERMALINK_URL = 1u << 3,
    F_LINK = 1u << 4,
    F_FROM = 1u << 5,
    F_SHARES = 1u << 6,
    F_REACTIONS = 1u << 7,
    F_COMMENTS = 1u << 8,
    F_PARENT = 1u << 9,
    F_CAPTION = 1u << 10,
    F_TIMESTAMP = 1u << 11,
    F_PERMALINK = 1u << 12,
    F_MEDIA_TYPE = 1u << 13,
    F_MEDIA_URL = 1u << 14,
    F_SHORTCODE = 1u << 15,
    F_USERNAME = 1u << 16,
    F_TEXT = 1u << 17,
    F_STATUS_CODE = 1u << 18,
    F_STATUS = 1u << 19,
    F_ERROR_MESSAGE = 1u << 20,
    F_LIKE_COUNT = 1u << 21,
    F_COMMENTS_COUNT = 1u << 22,
    F_NAME = 1u << 23,
    F_QUOTA_USAGE = 1u << 24,
    F_CONFIG = 1u << 25,
};
#define K_FB (1u << G_FACEBOOK)
#define K_IG (1u << G_INSTAGRAM)
#define K_TH (1u << G_THREADS)
static const struct {
    const char *name;
    unsigned bit;
    unsigned kinds;
} s_field_names[] = {
    { "id", F_ID, K_FB | K_IG | K_TH },
    { "message", F_MESSAGE, K_FB },
    { "created_time", F_CREATED_TIME, K_FB },
    { "permalink_url", F_PERMALINK_URL, K_FB },
    { "link", F_LINK, K_FB },
    { "from", F_FROM, K_FB },
    { "shares", F_SHARES, K_FB },
    { "reactions", F_REACTIONS, K_FB },
    { "comments", F_COMMENTS, K_FB },
    { "parent", F_PARENT, K_FB },
    { "name", F_NAME, K_FB | K_IG | K_TH },
    { "caption", F_CAPTION, K_IG },
    { "timestamp", F_TIMESTAMP, K_IG | K_TH },
    { "permalink", F_PERMALINK, K_IG | K_TH },
    { "media_type", F_MEDIA_TYPE, K_IG | K_TH },
    { "media_url", F_MEDIA_URL, K_IG | K_TH },
    { "shortcode", F_SHORTCODE, K_IG | K_TH },
    { "username", F_USERNAME, K_IG | K_TH },
    { "like_count", F_LIKE_COUNT, K_IG },
    { "comments_count", F_COMMENTS_COUNT, K_IG },
    { "status_code", F_STATUS_CODE, K_IG },
    { "status", F_STATUS, K_IG | K_TH },
    { "error_message", F_ERROR_MESSAGE, K_TH },
    { "text", F_TEXT, K_IG | K_TH },
    { "quota_usage", F_QUOTA_USAGE, K_IG | K_TH },
    { "config", F_CONFIG, K_IG | K_TH },
};

typedef enum { O_POST, O_COMMENT, O_CONTAINER } g_otype_t;

typedef struct g_obj g_obj_t;
struct g_obj {
    g_otype_t type;
    uint64_t num;
    char id[64];          /* as clients see it: "{page}_{post}" for Facebook posts */
    sb_account_t *owner;  /* owned by the accounts module; reset together */
    uint64_t created_us;
    char *text;           /* message / caption / text; never NULL */
    char *url;            /* Facebook link or photo, Instagram / Threads image_url; may be NULL */
    char *media;          /* its image on the ledger (URL or photo id); NULL if none */
    const char *media_type; /* "IMAGE", "TEXT" (static) */
    char code[S_CODE_CHARS + 1]; /* shortcode in permalinks */
    g_obj_t *parent;      /* a comment's object; a Threads reply's (and its container's) post */
    int64_t comments;     /* direct comments */
    /* containers */
    uint64_t ready_us;    /* processed from then on */
    const char *error;    /* processing failed: why (static), NULL if fine */
    g_obj_t *published;   /* the post it became */
};

typedef struct {
    sb_world_t *world;
    const g_spec_t *spec;
    sb_map_t *objects;   /* id -> g_obj_t (owned) */
    sb_map_t *timelines; /* account id -> sb_vec_t of posts (borrowed), creation order */
    sb_map_t *replies;   /* object id -> sb_vec_t of its direct comments (borrowed) */
} g_state_t;

/* The throttling state of an answer, for the usage headers. */
typedef struct {
    int64_t pct;         /* of the account's window */
    int64_t regain_min;  /* estimated_time_to_regain_access */
} g_usage_t;

static atomic_uint_fast64_t s_trace_seq;

/* ------------------------------------------------------------------------ */
/* Containers and objects                                                    */

static void
s_obj_free (void *p)
{
    g_obj_t *o = p;
    if (!o)
        return;
    free (o->text);
    free (o->url);
    free (o->media);
    free (o);
}

static sb_vec_t *
s_index (sb_map_t *map, const char *key, bool create)
{
    sb_vec_t *v = sb_map_get (map, key);
    if (!v && create) {
        v = calloc (1, sizeof (*v));
        if (v && sb_map_put (map, key, v) != 0) {
            free (v);
            v = NULL;
        }
    }
    return v;
}

static sb_vec_t *
s_timeline (g_state_t *self, const sb_account_t *a, bool create)
{
    char key[24];
    snprintf (key, sizeof (key), "%llu", (unsigned long long) a->id);
    return s_index (self->timelines, key, create);
}

/* A stable short code (base 62 of a hash of the number), as in permalinks. */
static void
s_shortcode (uint64_t num, char *out)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uint64_t h = num * 0x9E3779B97F4A7C15ull ^ 0xC2B2AE3D27D4EB4Full;
    for (size_t i = 0; i < S_CODE_CHARS; i++) {
        out[i] = digits[h % 62u];
        h /= 62u;
        if (h == 0)
            h = num + 0x632BE59BD9B4E019ull * (i + 1);
    }
    out[S_CODE_CHARS] = '\0';
}

/* Lock held. A new object with its id and owner; NULL when out of memory
 * (nothing stored). Takes text (malloc'd, may be NULL) and url. */
static g_obj_t *
s_obj_new (g_state_t *self, g_otype_t type, sb_account_t *owner, uint64_t now_us,
           const char *id_prefix, char *text, char *url)
{
    g_obj_t *o = calloc (1, sizeof (*o));
    if (!o || (!text && !(text = strdup ("")))) {
        free (o);
        free (text);
        free (url);
        return NULL;
    }
    o->type = type;
    o->owner = owner;
    o->created_us = now_us;
    o->ready_us = now_us;
    o->text = text;
    o->url = url;
    o->num = sb_world_next_id (self->world, now_us);
    snprintf (o->id, sizeof (o->id), "%s%s%llu", id_prefix ? id_prefix : "",
              id_prefix ? "_" : "", (unsigned long long) o->num);
    s_shortcode (o->num, o->code);
    if (sb_map_put (self->objects, o->id, o) != 0) {
        s_obj_free (o);
        return NULL;
    }
    return o;
}

static g_obj_t *
s_obj (const g_state_t *self, const char *id)
{
    return sb_map_get (self->objects, id);
}

static const char *
s_container_state (const g_obj_t *c, uint64_t now_us)
{
    if (c->published)
        return "PUBLISHED";
    if (now_us >= c->created_us + S_CONTAINER_TTL_US)
        return "EXPIRED";
    if (now_us < c->ready_us)
        return "IN_PROGRESS";
    if (c->error)
        return "ERROR";
    return "FINISHED";
}

/* ------------------------------------------------------------------------ */
/* Text and time                                                             */

/* "2024-05-01T10:00:00+0000", as Graph writes times. */
static void
s_graph_time (uint64_t us, char *out, size_t cap)
{
    time_t secs = (time_t) (us / 1000000u);
    struct tm tm;
    gmtime_r (&secs, &tm);
    strftime (out, cap, "%Y-%m-%dT%H:%M:%S+0000", &tm);
}

/* since / until: unix seconds, or "YYYY-MM-DDTHH:MM:SS" with an optional
 * "Z", "+0000" or "+00:00". 0 or -1. */
static int
s_parse_when (const char *v, uint64_t *out_us)
{
    int64_t secs;
    if (sb_parse_i64 (v, 0, 253402300799LL, &secs) == 0) {
        *out_us = (uint64_t) secs * 1000000u;
        return 0;
    }
    int y, mo, d, h, mi, s, n = 0;
    if (sscanf (v, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6 || n != 19)
        return -1;
    const char *rest = v + n;
    if (*rest && strcmp (rest, "Z") != 0 && strcmp (rest, "+0000") != 0
        && strcmp (rest, "+00:00") != 0)
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = s };
    time_t t = timegm (&tm);
    if (t < 0)
        return -1;
    *out_us = (uint64_t) t * 1000000u;
    return 0;
}

/* http(s)://host[/...] without spaces or control characters. */
static bool
s_url_ok (const char *url)
{
    size_t scheme;
    if (!url)
        return false;
    if (strncasecmp (url, "https://", 8) == 0)
        scheme = 8;
    else if (strncasecmp (url, "http://", 7) == 0)
        scheme = 7;
    else
        return false;
    if (!url[scheme] || url[scheme] == '/' || strlen (url) > 2048)
        return false;
    for (const unsigned char *p = (const unsigned char *) url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* The URL's path ends in .jpg or .jpeg (query and fragment ignored). */
static bool
s_is_jpeg (const char *url)
{
    size_t n = strcspn (url, "?#");
    return (n >= 4 && strncasecmp (url + n - 4, ".jpg", 4) == 0)
           || (n >= 5 && strncasecmp (url + n - 5, ".jpeg", 5) == 0);
}

/* ------------------------------------------------------------------------ */
/* Replies: errors and usage                                                 */

static void
s_fbtrace (char *out)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uint64_t z = atomic_fetch_add (&s_trace_seq, 1) + 0x9E3779B97F4A7C15ull * (sb_now_us () | 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    out[0] = 'A';
    for (int i = 1; i < 11; i++) {
        out[i] = digits[z % 62u];
        z /= 62u;
    }
    out[11] = '\0';
}

typedef struct {
    int http;
    int code;
    int subcode;        /* 0: none */
    bool transient;
    const char *type;   /* NULL: OAuthException */
    const char *title;  /* error_user_title, or NULL */
    const char *user;   /* error_user_msg, or NULL */
} g_err_t;

static void
s_error (sb_reply_t *rep, g_err_t e, const char *message)
{
    char trace[12];
    s_fbtrace (trace);
    sb_buf_t *b = &rep->body;
    rep->status = e.http;
    sb_buf_reset (b);
    sb_buf_adds (b, "{\"error\":{\"message\":");
    sb_buf_add_json_str (b, message);
    sb_buf_adds (b, ",\"type\":");
    sb_buf_add_json_str (b, e.type ? e.type : S_TYPE_OAUTH);
    sb_buf_printf (b, ",\"code\":%d", e.code);
    if (e.subcode)
        sb_buf_printf (b, ",\"error_subcode\":%d", e.subcode);
    sb_buf_printf (b, ",\"is_transient\":%s", e.transient ? "true" : "false");
    if (e.title) {
        sb_buf_adds (b, ",\"error_user_title\":");
        sb_buf_add_json_str (b, e.title);
    }
    if (e.user) {
        sb_buf_adds (b, ",\"error_user_msg\":");
        sb_buf_add_json_str (b, e.user);
    }
    sb_buf_printf (b, ",\"fbtrace_id\":\"%s\"}}", trace);
}

static void
s_param_error (sb_reply_t *rep, const char *message)
{
    s_error (rep, (g_err_t){ .http = 400, .code = E_PARAM }, message);
}

static void
s_no_object (sb_reply_t *rep, const char *method, const char *id)
{
    char msg[400];
    snprintf (msg, sizeof (msg),
              "Unsupported %s request. Object with ID '%.80s' does not exist, cannot be loaded "
              "due to missing permissions, or does not support this operation. Please read the "
              "Graph API documentation at https://developers.facebook.com/docs/graph-api",
              strcmp (method, "POST") == 0 ? "post" : strcmp (method, "DELETE") == 0 ? "delete"
                                                                                        : "get",
              id);
    s_error (rep, (g_err_t){ .http = 400, .code = E_PARAM, .subcode = SUB_NO_OBJECT,
                             .type = S_TYPE_METHOD },
             msg);
}

static void
s_token_expired (sb_reply_t *rep, uint64_t now_us)
{
    char when[48], msg[160];
    time_t secs = (time_t) (now_us / 1000000u);
    struct tm tm;
    gmtime_r (&secs, &tm);
    strftime (when, sizeof (when), "%A, %d-%b-%Y %H:%M:%S UTC", &tm);
    snprintf (msg, sizeof (msg),
              "Error validating access token: Session has expired. The current time is %s.",
              when);
    s_error (rep, (g_err_t){ .http = 400, .code = E_TOKEN, .subcode = SUB_TOKEN_EXPIRED }, msg);
}

/* Lock held. Counts one call of a (cost 1) or only looks (cost 0). */
static bool
s_usage (g_state_t *self, const sb_account_t *a, uint64_t now_us, int64_t cost, g_usage_t *u)
{
    const sb_config_t *c = self->world->config;
    char key[96];
    snprintf (key, sizeof (key), "graph/%s/%llu", self->spec->name, (unsigned long long) a->id);
    sb_rate_t rate;
    sb_ratelimit_hit (self->world->rates, key, c->graph_call_limit, c->graph_call_window_s,
                      SB_WINDOW_ALIGNED, now_us, cost, &rate);
    int64_t used = rate.limit - rate.remaining;
    u->pct = rate.limit > 0 ? used * 100 / rate.limit : 100;
    if (u->pct > 100)
        u->pct = 100;
    u->regain_min = 0;
    if (!rate.allowed) {
        u->pct = 100;
        uint64_t left = rate.reset_us > now_us ? rate.reset_us - now_us : 0;
        u->regain_min = (int64_t) ((left + 59999999u) / 60000000u);
        if (u->regain_min < 1)
            u->regain_min = 1;
    }
    return rate.allowed;
}

/* X-App-Usage always; X-Business-Use-Case-Usage for a known account. */
static void
s_usage_headers (const g_state_t *self, sb_reply_t *rep, const sb_account_t *a,
                 const g_usage_t *u)
{
    char v[512];
    /* total_time and total_cputime are not modelled: half the call count */
    long long pct = u ? (long long) u->pct : 0, share = pct / 2;
    snprintf (v, sizeof (v), "{\"call_count\":%lld,\"total_cputime\":%lld,\"total_time\":%lld}",
              pct, share, share);
    sb_reply_header (rep, "X-App-Usage", v);
    if (a) {
        snprintf (v, sizeof (v),
                  "{\"%s\":[{\"type\":\"%s\",\"call_count\":%lld,\"total_cputime\":%lld,"
                  "\"total_time\":%lld,\"estimated_time_to_regain_access\":%lld}]}",
                  a->handle, self->spec->buc_type, pct, share, share,
                  u ? (long long) u->regain_min : 0LL);
        sb_reply_header (rep, "X-Business-Use-Case-Usage", v);
    }
}

/* ------------------------------------------------------------------------ */
/* Authentication                                                            */

typedef enum { A_OK, A_MISSING, A_EXPIRED, A_INVALID } s_auth_t;

/* The token: Authorization "Bearer x" or "OAuth x", else access_token. */
static const char *
s_token (const sb_req_t *req, const sb_params_t *params)
{
    const char *auth = sb_req_header (req, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth) {
        if (sb_prefix_ci (auth, "Bearer "))
            auth += 7;
        else if (sb_prefix_ci (auth, "OAuth "))
            auth += 6;
        else
            auth = NULL;
        while (auth && *auth == ' ')
            auth++;
        if (auth && *auth)
            return auth;
    }
    const char *t = params ? sb_params_get (params, "access_token", NULL)
                           : sb_req_arg (req, "access_token");
    return t && *t ? t : NULL;
}

/* Lock held. The token's account; with --open, created on first use. */
static sb_account_t *
s_authenticate (g_state_t *self, const char *token, uint64_t now_us, s_auth_t *why)
{
    sb_world_t *world = self->world;
    *why = A_OK;
    if (!token) {
        *why = A_MISSING;
        return NULL;
    }
    if (strlen (token) > S_TOKEN_MAX) {
        *why = A_INVALID;
        return NULL;
    }
    if (sb_accounts_revoked (world->accounts, token)) {
        *why = A_EXPIRED;
        return NULL;
    }
    sb_account_t *a = sb_accounts_by_token (world->accounts, self->spec->name, token);
    if (a && sb_accounts_expired (world->accounts, self->spec->name, token, now_us)) {
        *why = A_EXPIRED;   /* 190/463 (sb_oauth.h) */
        return NULL;
    }
    if (a)
        return a;
    if (!world->config->open) {
        *why = A_INVALID;
        return NULL;
    }
    char handle[SB_HANDLE_MAX];
    sb_accounts_open_handle (token, handle, sizeof (handle));
    a = sb_accounts_ensure (world->accounts, self->spec->name, handle,
                            sb_world_next_id (world, now_us), now_us);
    if (a && sb_accounts_add_token (world->accounts, a, token) != 0)
        a = NULL;
    if (!a)
        *why = A_INVALID;
    return a;
}

/* ------------------------------------------------------------------------ */
/* fields=                                                                   */

/* Parses fields= (top-level names; "reactions.summary(total_count).limit(0)"
 * is "reactions"). false: 400 sent. def: when absent. */
static bool
s_fields (const g_state_t *self, const sb_params_t *params, unsigned def, unsigned *out,
          sb_reply_t *rep)
{
    const char *v = sb_params_get (params, "fields", NULL);
    *out = 0;
    if (!v || !*v) {
        *out = def;
        return true;
    }
    const char *p = v;
    while (*p) {
        size_t n = 0;
        int depth = 0;
        while (p[n] && (depth > 0 || p[n] != ',')) {
            if (p[n] == '(' || p[n] == '{')
                depth++;
            else if ((p[n] == ')' || p[n] == '}') && depth > 0)
                depth--;
            n++;
        }
        size_t name = strcspn (p, ".{(,");
        if (name > n)
            name = n;
        bool known = name == 0;
        for (size_t i = 0; !known && i < sizeof (s_field_names) / sizeof (s_field_names[0]); i++)
            if ((s_field_names[i].kinds & (1u << self->spec->kind))
                && strlen (s_field_names[i].name) == name
                && strncmp (s_field_names[i].name, p, name) == 0) {
                *out |= s_field_names[i].bit;
                known = true;
            }
        if (!known) {
            char msg[200];
            snprintf (msg, sizeof (msg),
                      "(#100) Tried accessing nonexisting field (%.*s) on node type (%s)",
                      (int) (name < 60 ? name : 60), p,
                      self->spec->kind == G_FACEBOOK ? "Post"
                      : self->spec->kind == G_INSTAGRAM ? "IGMedia"
                                                        : "ThreadsMedia");
            s_param_error (rep, msg);
            return false;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!*out)
        *out = F_ID;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                 */

static void
s_permalink (const g_state_t *self, const g_obj_t *o, sb_buf_t *out)
{
    const char *base = self->world->base_url;
    switch (self->spec->kind) {
    case G_FACEBOOK: sb_buf_printf (out, "%s/facebook/%s", base, o->id); break;
    case G_INSTAGRAM: sb_buf_printf (out, "%s/instagram/p/%s/", base, o->code); break;
    case G_THREADS:
        sb_buf_printf (out, "%s/threads/@%s/post/%s", base, o->owner->handle, o->code);
        break;
    }
}

static void
s_render_from (sb_buf_t *out, const sb_account_t *a)
{
    sb_buf_adds (out, "{\"name\":");
    sb_buf_add_json_str (out, a->handle);
    sb_buf_adds (out, ",\"id\":");
    sb_buf_add_json_str (out, a->handle);
    sb_buf_addc (out, '}');
}

static void
s_render_container (const g_state_t *self, sb_buf_t *out, const g_obj_t *c, unsigned f,
                    uint64_t now_us)
{
    const char *st = s_container_state (c, now_us);
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_str (out, c->id);
    if (f & F_STATUS_CODE)
        sb_buf_printf (out, ",\"status_code\":\"%s\"", st);
    if (self->spec->kind == G_THREADS && (f & F_STATUS))
        sb_buf_printf (out, ",\"status\":\"%s\"", st);
    else if (f & F_STATUS) {
        const char *text = NULL;
        if (strcmp (st, "IN_PROGRESS") == 0)
            text = "In Progress: Media is still being processed.";
        else if (strcmp (st, "FINISHED") == 0)
            text = "Finished: Media has been uploaded and it is ready to be published.";
        else if (strcmp (st, "PUBLISHED") == 0)
            text = "Published: Media has been published.";
        else if (strcmp (st, "EXPIRED") == 0)
            text = "Expired: The container was not published within 24 hours.";
        sb_buf_adds (out, ",\"status\":");
        if (text)
            sb_buf_add_json_str (out, text);
        else {
            char msg[200];
            snprintf (msg, sizeof (msg), "Error: %s", c->error ? c->error : M_UNKNOWN);
            sb_buf_add_json_str (out, msg);
        }
    }
    if ((f & F_ERROR_MESSAGE) && strcmp (st, "ERROR") == 0) {
        sb_buf_adds (out, ",\"error_message\":");
        sb_buf_add_json_str (out, c->error);
    }
    sb_buf_addc (out, '}');
}

static void
s_render_obj (const g_state_t *self, sb_buf_t *out, const g_obj_t *o, unsigned f,
              uint64_t now_us)
{
    if (o->type == O_CONTAINER) {
        s_render_container (self, out, o, f, now_us);
        return;
    }
    char when[40];
    s_graph_time (o->created_us, when, sizeof (when));
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_str (out, o->id);
    if (self->spec->kind == G_FACEBOOK) {
        if ((f & F_MESSAGE) && o->text[0]) {
            sb_buf_adds (out, ",\"message\":");
            sb_buf_add_json_str (out, o->text);
        }
        if (f & F_CREATED_TIME)
            sb_buf_printf (out, ",\"created_time\":\"%s\"", when);
        if (f & F_FROM) {
            sb_buf_adds (out, ",\"from\":");
            s_render_from (out, o->owner);
        }
        if ((f & F_LINK) && o->url) {
            sb_buf_adds (out, ",\"link\":");
            sb_buf_add_json_str (out, o->url);
        }
        if (f & F_PERMALINK_URL) {
            sb_buf_adds (out, ",\"permalink_url\":\"");
            s_permalink (self, o, out);
            sb_buf_addc (out, '"');
        }
        if ((f & F_PARENT) && o->parent && o->parent->type == O_COMMENT) {
            sb_buf_adds (out, ",\"parent\":{\"id\":");
            sb_buf_add_json_str (out, o->parent->id);
            sb_buf_addc (out, '}');
        }
        if (o->type == O_POST) {
            if (f & F_SHARES)
                sb_buf_adds (out, ",\"shares\":{\"count\":0}");
            if (f & F_REACTIONS)
                sb_buf_adds (out, ",\"reactions\":{\"data\":[],\"summary\":{\"total_count\":0,"
                                  "\"viewer_reaction\":\"NONE\"}}");
            if (f & F_COMMENTS)
                sb_buf_printf (out,
                               ",\"comments\":{\"data\":[],\"summary\":{\"order\":\"ranked\","
                               "\"total_count\":%lld,\"can_comment\":true}}",
                               (long long) o->comments);
        }
        sb_buf_addc (out, '}');
        return;
    }
    bool ig = self->spec->kind == G_INSTAGRAM;
    bool caption = ig && o->type != O_COMMENT; /* an Instagram comment has text */
    if (f & (caption ? F_CAPTION : F_TEXT)) {
        sb_buf_printf (out, ",\"%s\":", caption ? "caption" : "text");
        sb_buf_add_json_str (out, o->text);
    }
    if (f & F_TIMESTAMP)
        sb_buf_printf (out, ",\"timestamp\":\"%s\"", when);
    if ((f & F_MEDIA_TYPE) && o->type != O_COMMENT)
        sb_buf_printf (out, ",\"media_type\":\"%s\"",
                       ig ? "IMAGE" : (o->media_type ? o->media_type : "TEXT_POST"));
    if ((f & F_MEDIA_URL) && o->url) {
        sb_buf_adds (out, ",\"media_url\":");
        sb_buf_add_json_str (out, o->url);
    }
    if (f & F_PERMALINK) {
        sb_buf_adds (out, ",\"permalink\":\"");
        s_permalink (self, o, out);
        sb_buf_addc (out, '"');
    }
    if (f & F_SHORTCODE)
        sb_buf_printf (out, ",\"shortcode\":\"%s\"", o->code);
    if (f & F_USERNAME) {
        sb_buf_adds (out, ",\"username\":");
        sb_buf_add_json_str (out, o->owner->handle);
    }
    if (f & F_LIKE_COUNT)
        sb_buf_adds (out, ",\"like_count\":0");
    if (f & F_COMMENTS_COUNT)
        sb_buf_printf (out, ",\"comments_count\":%lld", (long long) o->comments);
    sb_buf_addc (out, '}');
}

/* Cursors are opaque to clients: the hex of an object number. */
static void
s_cursor (uint64_t num, char *out, size_t cap)
{
    snprintf (out, cap, "%llx", (unsigned long long) num);
}

static int
s_parse_cursor (const char *v, uint64_t *num)
{
    if (!v || !*v || strlen (v) > 16)
        return -1;
    uint64_t n = 0;
    for (const char *p = v; *p; p++) {
        int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        n = n * 16 + (uint64_t) d;
    }
    *num = n;
    return 0;
}

/* Renders a newest-first page of items (oldest first in memory) with Graph's
 * paging: {"data":[..],"paging":{"cursors":{"before","after"},"next"?}}.
 * Query: limit, after, since, until. */
static void
s_render_page (const g_state_t *self, const sb_req_t *req, const sb_params_t *params,
               sb_vec_t *items, bool newest_first, unsigned fields, const char *summary,
               sb_reply_t *rep)
{
    int64_t limit = S_PAGE_DEFAULT;
    uint64_t after = 0, since = 0, until = 0;
    const char *v = sb_params_get (params, "limit", NULL);
    if (v && sb_parse_i64 (v, 1, INT64_MAX / 2, &limit) != 0) {
        s_param_error (rep, "(#100) The parameter limit must be a positive integer");
        return;
    }
    if (limit > S_PAGE_MAX)
        limit = S_PAGE_MAX;
    const char *after_v = sb_params_get (params, "after", NULL);
    if (after_v && s_parse_cursor (after_v, &after) != 0) {
        s_param_error (rep, "(#100) The after cursor is not valid");
        return;
    }
    static const char *const names[] = { "since", "until" };
    uint64_t *dst[] = { &since, &until };
    for (size_t i = 0; i < 2; i++) {
        v = sb_params_get (params, names[i], NULL);
        if (v && *v && s_parse_when (v, dst[i]) != 0) {
            char msg[120];
            snprintf (msg, sizeof (msg), "(#100) The parameter %s is not a valid time", names[i]);
            s_param_error (rep, msg);
            return;
        }
    }
    g_obj_t **picked = calloc ((size_t) limit, sizeof (*picked));
    if (!picked) {
        s_error (rep, (g_err_t){ .http = 500, .code = E_UNKNOWN }, M_UNKNOWN);
        return;
    }
    size_t n = 0, count = items ? items->len : 0;
    bool more = false, past = !after_v;
    for (size_t k = 0; k < count; k++) {
        g_obj_t *o = items->items[newest_first ? count - 1 - k : k];
        if (!past) { /* the cursor names the last item of the previous page */
            past = o->num == after;
            continue;
        }
        if (newest_first && since && o->created_us < since)
            break; /* in creation order: the rest is older still */
        if ((since && o->created_us < since) || (until && o->created_us > until))
            continue;
        if (n == (size_t) limit) {
            more = true;
            break;
        }
        picked[n++] = o;
    }
    sb_buf_t *out = &rep->body;
    rep->status = 200;
    sb_buf_adds (out, "{\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_buf_addc (out, ',');
        s_render_obj (self, out, picked[i], fields, req->now_us);
    }
    sb_buf_addc (out, ']');
    if (n > 0) {
        char before_c[24], after_c[24];
        s_cursor (picked[0]->num, before_c, sizeof (before_c));
        s_cursor (picked[n - 1]->num, after_c, sizeof (after_c));
        sb_buf_printf (out, ",\"paging\":{\"cursors\":{\"before\":\"%s\",\"after\":\"%s\"}",
                       before_c, after_c);
        if (more) {
            /* the same query from the next item on (no access token) */
            sb_buf_t next;
            sb_buf_init (&next);
            sb_buf_printf (&next, "%s%s?limit=%lld", self->world->base_url, req->url,
                           (long long) limit);
            static const char *const keep[] = { "fields", "since", "until", "filter", "order",
                                                "summary" };
            for (size_t i = 0; i < sizeof (keep) / sizeof (keep[0]); i++) {
                const char *kv = sb_params_get (params, keep[i], NULL);
                if (!kv)
                    continue;
                sb_buf_printf (&next, "&%s=", keep[i]);
                sb_buf_add_urlenc (&next, kv);
            }
            sb_buf_printf (&next, "&after=%s", after_c);
            sb_buf_adds (out, ",\"next\":");
            sb_buf_add_json_strn (out, next.data ? next.data : "", next.len);
            sb_buf_free (&next);
        }
        sb_buf_addc (out, '}');
    }
    if (summary)
        sb_buf_adds (out, summary);
    sb_buf_addc (out, '}');
    free (picked);
}

/* ------------------------------------------------------------------------ */
/* Endpoints (lock held)                                                     */

/* Lock held. Facebook: a new page post, in the ledger. */
static g_obj_t *
s_fb_new_post (g_state_t *self, sb_account_t *page, uint64_t now_us, const char *message,
               const char *url)
{
    char *text = strdup (message ? message : "");
    char *u = url ? strdup (url) : NULL;
    if (!text || (url && !u)) {
        free (text);
        free (u);
        return NULL;
    }
    sb_vec_t *timeline = s_timeline (self, page, true);
    if (!timeline) {
        free (text);
        free (u);
        return NULL;
    }
    g_obj_t *o = s_obj_new (self, O_POST, page, now_us, page->handle, text, u);
    if (!o)
        return NULL;
    if (sb_vec_push (timeline, o, S_VEC_FIRST) != 0) {
        sb_map_delete (self->objects, o->id);
        return NULL;
    }
    return o;
}

static void
s_ledger (g_state_t *self, const g_obj_t *o, uint64_t now_us)
{
    sb_buf_t url;
    sb_buf_init (&url);
    s_permalink (self, o, &url);
    sb_ledger_entry_t entry = { .created_us = now_us,
                                .platform = self->spec->name,
                                .account = o->owner->handle,
                                .id = o->id,
                                .url = url.data ? url.data : "",
                                .text = o->text,
                                .idempotency_key = NULL };
    const char *media[1] = { o->media };
    if (o->media) {
        entry.media = media;
        entry.nmedia = 1;
    }
    if (sb_ledger_append (self->world->ledger, &entry) == 0)
        SB_WARN ("ledger append failed for %s post %s", self->spec->name, o->id);
    sb_buf_free (&url);
}

static void
s_oom (sb_reply_t *rep)
{
    s_error (rep, (g_err_t){ .http = 500, .code = E_UNKNOWN }, M_UNKNOWN);
}

/* POST /{page}/feed message, link */
static void
s_fb_feed (g_state_t *self, const sb_req_t *req, const sb_params_t *params, sb_account_t *page,
           sb_reply_t *rep)
{
    size_t mlen = 0;
    const char *message = sb_params_get (params, "message", &mlen);
    const char *link = sb_params_get (params, "link", NULL);
    if (message && strlen (message) != mlen) {
        s_param_error (rep, "(#100) Param message must not contain NUL characters");
        return;
    }
    if ((!message || sb_blank (message)) && (!link || !*link)) {
        s_param_error (rep, "(#100) At least one of the parameters message or link is required");
        return;
    }
    if (link && *link && !s_url_ok (link)) {
        s_param_error (rep, M_LINK_FORMAT);
        return;
    }
    if (message && sb_utf8_count (message, mlen) > S_FB_MAX_MESSAGE) {
        char msg[120];
        snprintf (msg, sizeof (msg), "(#100) Param message must be at most %d characters long.",
                  S_FB_MAX_MESSAGE);
        s_param_error (rep, msg);
        return;
    }
    /* the same message on the same page within the window: 506 */
    sb_vec_t *timeline = s_timeline (self, page, false);
    for (size_t i = timeline ? timeline->len : 0; message && mlen > 0 && i > 0; i--) {
        g_obj_t *o = timeline->items[i - 1];
        if (req->now_us > o->created_us && req->now_us - o->created_us > S_FB_DUPLICATE_WINDOW_US)
            break;
        if (strcmp (o->text, message) == 0) {
            s_error (rep,
                     (g_err_t){ .http = 400, .code = E_DUPLICATE, .subcode = SUB_DUPLICATE,
                                .title = M_DUPLICATE_TITLE, .user = M_DUPLICATE_USER },
                     M_DUPLICATE);
            return;
        }
    }
    g_obj_t *o = s_fb_new_post (self, page, req->now_us, message, link && *link ? link : NULL);
    if (!o) {
        s_oom (rep);
        return;
    }
    s_ledger (self, o, req->now_us);
    rep->status = 200;
    sb_buf_adds (&rep->body, "{\"id\":");
    sb_buf_add_json_str (&rep->body, o->id);
    sb_buf_addc (&rep->body, '}');
}

/* POST /{page}/photos url, caption|message */
static void
s_fb_photo (g_state_t *self, const sb_req_t *req, const sb_params_t *params, sb_account_t *page,
            sb_reply_t *rep)
{
    const char *url = sb_params_get (params, "url", NULL);
    size_t slen = 0;
    const char *source = sb_params_get (params, "source", &slen);
    const char *caption = sb_params_get (params, "caption", NULL);
    if (!caption)
        caption = sb_params_get (params, "message", NULL);
    if ((!url || !*url) && (!source || slen == 0)) {
        s_error (rep, (g_err_t){ .http = 400, .code = E_UPLOAD },
                 "(#324) Requires upload file");
        return;
    }
    if (url && *url && !s_url_ok (url)) {
        s_param_error (rep, "(#100) url should represent a valid URL");
        return;
    }
    bool by_url = url && *url;
    if (!by_url && !sb_media_sniff (source, slen)) {
        s_error (rep, (g_err_t){ .http = 400, .code = E_UPLOAD }, M_BAD_IMAGE);
        return;
    }
    if (caption && sb_utf8_count (caption, strlen (caption)) > S_FB_MAX_MESSAGE) {
        s_param_error (rep, "(#100) Param caption is too long");
        return;
    }
    g_obj_t *o = s_fb_new_post (self, page, req->now_us, caption, by_url ? url : NULL);
    if (!o) {
        s_oom (rep);
        return;
    }
    char photo[24];
    snprintf (photo, sizeof (photo), "%llu", (unsigned long long) o->num);
    o->media = strdup (by_url ? url : photo); /* on the ledger: NULL when out of memory */
    s_ledger (self, o, req->now_us);
    rep->status = 200;
    sb_buf_printf (&rep->body, "{\"id\":\"%llu\",\"post_id\":", (unsigned long long) o->num);
    sb_buf_add_json_str (&rep->body, o->id);
    sb_buf_addc (&rep->body, '}');
}

/* POST /{object}/comments message: Facebook (a post or a comment; ids
 * "{object}_{n}") and Instagram (a media; plain ids). */
static void
s_comment (g_state_t *self, const sb_req_t *req, const sb_params_t *params, sb_account_t *me,
           g_obj_t *target, sb_reply_t *rep)
{
    bool fb = self->spec->kind == G_FACEBOOK;
    size_t mlen = 0, max = fb ? S_FB_MAX_MESSAGE : S_IG_MAX_CAPTION;
    const char *message = sb_params_get (params, "message", &mlen);
    if (!message || sb_blank (message) || strlen (message) != mlen) {
        s_param_error (rep, "(#100) The parameter message is required");
        return;
    }
    if (sb_utf8_count (message, mlen) > max) {
        s_param_error (rep, "(#100) Param message is too long");
        return;
    }
    sb_vec_t *list = s_index (self->replies, target->id, true);
    char *text = strdup (message);
    char prefix[24];
    snprintf (prefix, sizeof (prefix), "%llu", (unsigned long long) target->num);
    g_obj_t *o = NULL;
    if (list && text) /* takes text */
        o = s_obj_new (self, O_COMMENT, me, req->now_us, fb ? prefix : NULL, text, NULL);
    else
        free (text);
    if (!o || sb_vec_push (list, o, S_VEC_FIRST) != 0) {
        if (o)
            sb_map_delete (self->objects, o->id);
        s_oom (rep);
        return;
    }
    o->parent = target;
    target->comments++;
    s_ledger (self, o, req->now_us);
    rep->status = 200;
    sb_buf_adds (&rep->body, "{\"id\":");
    sb_buf_add_json_str (&rep->body, o->id);
    sb_buf_addc (&rep->body, '}');
}

static int
s_collect_stream (const g_state_t *self, const g_obj_t *o, sb_vec_t *out)
{
    sb_vec_t *list = sb_map_get (self->replies, o->id);
    for (size_t i = 0; list && i < list->len; i++) {
        if (sb_vec_push (out, list->items[i], S_VEC_FIRST) != 0
            || s_collect_stream (self, list->items[i], out) != 0)
            return -1;
    }
    return 0;
}

static int
s_cmp_num (const void *a, const void *b)
{
    const g_obj_t *x = *(g_obj_t *const *) a, *y = *(g_obj_t *const *) b;
    return x->num < y->num ? -1 : x->num > y->num;
}

/* GET /{media}/comments (Instagram) or /{thread}/replies (Threads): the
 * direct replies, newest first (Threads: reverse=false, oldest first). */
static void
s_replies_page (g_state_t *self, const sb_req_t *req, const sb_params_t *params,
                g_obj_t *target, sb_reply_t *rep)
{
    unsigned fields;
    if (!s_fields (self, params, F_ID | F_TEXT | F_TIMESTAMP, &fields, rep))
        return;
    const char *reverse = sb_params_get (params, "reverse", NULL);
    bool newest_first = self->spec->kind != G_THREADS || !reverse || strcmp (reverse, "false") != 0;
    s_render_page (self, req, params, sb_map_get (self->replies, target->id), newest_first, fields,
                   NULL, rep);
}

/* GET /{object}/comments filter=toplevel|stream
 * order=chronological|reverse_chronological summary=true */
static void
s_fb_comments (g_state_t *self, const sb_req_t *req, const sb_params_t *params, g_obj_t *target,
               sb_reply_t *rep)
{
    unsigned fields;
    if (!s_fields (self, params, F_ID | F_MESSAGE | F_CREATED_TIME | F_FROM, &fields, rep))
        return;
    const char *filter = sb_params_get (params, "filter", NULL);
    const char *order = sb_params_get (params, "order", NULL);
    const char *summary = sb_params_get (params, "summary", NULL);
    bool stream = filter && strcmp (filter, "stream") == 0;
    bool reverse = order && strcmp (order, "reverse_chronological") == 0;
    sb_vec_t all = { 0 }, *items = sb_map_get (self->replies, target->id);
    if (stream) {
        if (s_collect_stream (self, target, &all) != 0) {
            free (all.items);
            s_oom (rep);
            return;
        }
        if (all.len > 1)
            qsort (all.items, all.len, sizeof (all.items[0]), s_cmp_num);
        items = &all;
    }
    char sum[200] = "";
    if (summary && (strcmp (summary, "true") == 0 || strcmp (summary, "1") == 0))
        snprintf (sum, sizeof (sum),
                  ",\"summary\":{\"order\":\"%s\",\"total_count\":%zu,\"can_comment\":true}",
                  reverse ? "reverse_chronological" : "chronological", items ? items->len : 0);
    s_render_page (self, req, params, items, reverse, fields, sum[0] ? sum : NULL, rep);
    free (all.items);
}

/* POST /{user}/media (Instagram) or /{user}/threads (Threads): a container. */
static void
s_container (g_state_t *self, const sb_req_t *req, const sb_params_t *params, sb_account_t *me,
             sb_reply_t *rep)
{
    const sb_config_t *c = self->world->config;
    bool ig = self->spec->kind == G_INSTAGRAM;
    size_t tlen = 0;
    const char *text = sb_params_get (params, ig ? "caption" : "text", &tlen);
    const char *image = sb_params_get (params, "image_url", NULL);
    const char *mtype = sb_params_get (params, "media_type", NULL);
    const char *reply_to = ig ? NULL : sb_params_get (params, "reply_to_id", NULL);
    const char *media_type = "IMAGE";
    size_t max = ig ? S_IG_MAX_CAPTION : S_TH_MAX_TEXT;
    if (text && strlen (text) != tlen) {
        s_param_error (rep, M_INVALID);
        return;
    }
    if (ig) {
        if (mtype && *mtype && strcmp (mtype, "IMAGE") != 0) {
            s_param_error (rep, "(#100) Only IMAGE containers are supported by this sandbox");
            return;
        }
        if (!image || !*image) {
            s_param_error (rep, "(#100) The parameter image_url is required");
            return;
        }
    }
    else {
        if (!mtype || !*mtype) {
            s_param_error (rep, "(#100) The parameter media_type is required");
            return;
        }
        if (strcmp (mtype, "TEXT") == 0) {
            media_type = "TEXT_POST";
            if (!text || sb_blank (text)) {
                s_param_error (rep, "(#100) The parameter text is required for TEXT posts");
                return;
            }
        }
        else if (strcmp (mtype, "IMAGE") == 0) {
            if (!image || !*image) {
                s_param_error (rep, "(#100) The parameter image_url is required for IMAGE posts");
                return;
            }
        }
        else {
            s_param_error (rep, "(#100) Param media_type must be TEXT or IMAGE in this sandbox");
            return;
        }
    }
    if (image && *image && !s_url_ok (image)) {
        s_error (rep, (g_err_t){ .http = 400, .code = E_MEDIA_FETCH, .subcode = SUB_MEDIA_FETCH },
                 M_MEDIA_FETCH);
        return;
    }
    if (text && sb_utf8_count (text, tlen) > max) {
        char msg[120];
        snprintf (msg, sizeof (msg), "(#100) Param %s must be at most %zu characters long.",
                  ig ? "caption" : "text", max);
        s_param_error (rep, msg);
        return;
    }
    g_obj_t *parent = NULL;
    if (reply_to && *reply_to) {
        parent = s_obj (self, reply_to);
        if (!parent || parent->type != O_POST) {
            s_param_error (rep, M_BAD_REPLY_TO);
            return;
        }
    }
    char *t = strdup (text ? text : "");
    char *u = image && *image ? strdup (image) : NULL;
    if (!t || (image && *image && !u)) {
        free (t);
        free (u);
        s_oom (rep);
        return;
    }
    g_obj_t *o = s_obj_new (self, O_CONTAINER, me, req->now_us, NULL, t, u);
    if (!o) {
        s_oom (rep);
        return;
    }
    o->media_type = media_type;
    o->parent = parent;
    if (ig) {
        o->ready_us = req->now_us + (uint64_t) c->instagram_container_delay_ms * 1000u;
        if (!s_is_jpeg (image))
            o->error = M_NOT_JPEG;
    }
    else if (o->url) {
        o->ready_us = req->now_us + (uint64_t) c->threads_container_delay_ms * 1000u;
        if (!s_is_jpeg (o->url))
            o->error = M_NOT_JPEG;
    }
    rep->status = 200;
    sb_buf_adds (&rep->body, "{\"id\":");
    sb_buf_add_json_str (&rep->body, o->id);
    sb_buf_addc (&rep->body, '}');
}

/* The content publishing quota's rolling window (Instagram and Threads: 24 h). */
static int64_t
s_quota_window_s (const g_state_t *self)
{
    const sb_config_t *c = self->world->config;
    return self->spec->kind == G_INSTAGRAM ? c->instagram_publish_window_s
                                           : c->threads_publish_window_s;
}

static uint64_t
s_quota_window_us (const g_state_t *self)
{
    return (uint64_t) s_quota_window_s (self) * 1000000u;
}

/* Lock held. Publications of a within the rolling quota window; *oldest_us
 * the first of them (0 if none). */
static int64_t
s_quota_used (g_state_t *self, const sb_account_t *a, uint64_t now_us, uint64_t *oldest_us)
{
    sb_vec_t *timeline = s_timeline (self, a, false);
    int64_t used = 0;
    *oldest_us = 0;
    for (size_t i = timeline ? timeline->len : 0; i > 0; i--) {
        g_obj_t *o = timeline->items[i - 1];
        if (now_us > o->created_us && now_us - o->created_us >= s_quota_window_us (self))
            break;
        used++;
        *oldest_us = o->created_us;
    }
    return used;
}

static int64_t
s_quota_limit (const g_state_t *self)
{
    const sb_config_t *c = self->world->config;
    return self->spec->kind == G_INSTAGRAM ? c->instagram_publish_limit : c->threads_publish_limit;
}

/* POST /{user}/media_publish or /{user}/threads_publish creation_id */
static void
s_publish (g_state_t *self, const sb_req_t *req, const sb_params_t *params, sb_account_t *me,
           g_usage_t *usage, sb_reply_t *rep)
{
    const char *cid = sb_params_get (params, "creation_id", NULL);
    if (!cid || !*cid) {
        s_param_error (rep, "(#100) The parameter creation_id is required");
        return;
    }
    g_obj_t *c = s_obj (self, cid);
    if (!c || c->type != O_CONTAINER || c->owner != me) {
        s_param_error (rep, "(#100) Param creation_id must be a media container of this user");
        return;
    }
    const char *st = s_container_state (c, req->now_us);
    if (strcmp (st, "IN_PROGRESS") == 0) {
        s_error (rep,
                 (g_err_t){ .http = 400, .code = E_NOT_READY, .subcode = SUB_NOT_READY,
                            .title = M_NOT_READY_TITLE, .user = M_NOT_READY_USER },
                 M_NOT_READY);
        return;
    }
    if (strcmp (st, "EXPIRED") == 0) {
        s_error (rep, (g_err_t){ .http = 400, .code = E_PARAM, .subcode = SUB_CONTAINER_EXPIRED },
                 M_EXPIRED);
        return;
    }
    if (strcmp (st, "ERROR") == 0) {
        s_error (rep, (g_err_t){ .http = 400, .code = E_PARAM, .subcode = SUB_CONTAINER_ERROR },
                 M_CONTAINER_ERROR);
        return;
    }
    if (strcmp (st, "PUBLISHED") == 0) {
        s_error (rep,
                 (g_err_t){ .http = 400, .code = E_PARAM, .subcode = SUB_ALREADY_PUBLISHED },
                 M_ALREADY_PUBLISHED);
        return;
    }
    /* a Threads reply: in its post's replies, not in the posts quota */
    g_obj_t *parent = c->parent;
    if (parent && !s_obj (self, parent->id))
        parent = NULL; /* never: objects live until a reset, which takes both */
    uint64_t oldest;
    int64_t limit = s_quota_limit (self);
    if (!parent && s_quota_used (self, me, req->now_us, &oldest) >= limit) {
        uint64_t window = s_quota_window_us (self);
        uint64_t free_at = oldest ? oldest + window : req->now_us + window;
        uint64_t left = free_at > req->now_us ? free_at - req->now_us : 0;
        usage->regain_min = (int64_t) ((left + 59999999u) / 60000000u);
        if (usage->regain_min < 1)
            usage->regain_min = 1;
        s_error (rep,
                 (g_err_t){ .http = 400, .code = E_QUOTA, .subcode = SUB_QUOTA,
                            .title = M_QUOTA_TITLE, .user = M_QUOTA_USER },
                 M_QUOTA);
        return;
    }
    sb_vec_t *timeline = parent ? s_index (self->replies, parent->id, true)
                                : s_timeline (self, me, true);
    char *t = strdup (c->text);
    char *u = c->url ? strdup (c->url) : NULL;
    g_obj_t *o = NULL;
    if (timeline && t && (!c->url || u))
        o = s_obj_new (self, O_POST, me, req->now_us, NULL, t, u);
    else {
        free (t);
        free (u);
    }
    if (!o || sb_vec_push (timeline, o, S_VEC_FIRST) != 0) {
        if (o)
            sb_map_delete (self->objects, o->id);
        s_oom (rep);
        return;
    }
    o->media_type = c->media_type;
    o->parent = parent;
    if (parent)
        parent->comments++;
    if (c->url)
        o->media = strdup (c->url); /* on the ledger: NULL when out of memory */
    c->published = o;
    s_ledger (self, o, req->now_us);
    rep->status = 200;
    sb_buf_adds (&rep->body, "{\"id\":");
    sb_buf_add_json_str (&rep->body, o->id);
    sb_buf_addc (&rep->body, '}');
}

/* GET /{user}/content_publishing_limit or /{user}/threads_publishing_limit */
static void
s_publishing_limit (g_state_t *self, const sb_req_t *req, const sb_params_t *params,
                    sb_account_t *me, sb_reply_t *rep)
{
    unsigned fields;
    if (!s_fields (self, params, F_QUOTA_USAGE, &fields, rep))
        return;
    uint64_t oldest;
    int64_t used = s_quota_used (self, me, req->now_us, &oldest);
    sb_buf_t *out = &rep->body;
    rep->status = 200;
    sb_buf_adds (out, "{\"data\":[{");
    const char *sep = "";
    if (fields & F_QUOTA_USAGE) {
        sb_buf_printf (out, "\"quota_usage\":%lld", (long long) used);
        sep = ",";
    }
    if (fields & F_CONFIG)
        sb_buf_printf (out, "%s\"config\":{\"quota_total\":%lld,\"quota_duration\":%d}", sep,
                       (long long) s_quota_limit (self), (int) s_quota_window_s (self));
    sb_buf_adds (out, "}]}");
}

/* GET /me or /{own node}: the page or user. */
static void
s_node (g_state_t *self, const sb_account_t *a, sb_reply_t *rep)
{
    rep->status = 200;
    sb_buf_adds (&rep->body, "{\"id\":");
    sb_buf_add_json_str (&rep->body, a->handle);
    sb_buf_adds (&rep->body, ",\"name\":");
    sb_buf_add_json_str (&rep->body, a->handle);
    if (self->spec->kind != G_FACEBOOK) {
        sb_buf_adds (&rep->body, ",\"username\":");
        sb_buf_add_json_str (&rep->body, a->handle);
    }
    sb_buf_addc (&rep->body, '}');
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                   */

/* "/v21.0/123/feed" -> {"123","feed"}: a leading version segment is dropped.
 * Returns the count (max + 1 if there are too many or one is too long). */
static size_t
s_split (const char *path, char segs[][S_SEG_MAX], size_t max)
{
    size_t n = 0;
    const char *p = path;
    while (*p == '/')
        p++;
    if (*p == 'v' && p[1] >= '0' && p[1] <= '9') {
        size_t len = strcspn (p, "/");
        size_t k = 1;
        while (k < len && ((p[k] >= '0' && p[k] <= '9') || p[k] == '.'))
            k++;
        if (k == len) {
            p += len;
            while (*p == '/')
                p++;
        }
    }
    while (*p && n < max) {
        size_t len = strcspn (p, "/");
        if (len >= S_SEG_MAX)
            return max + 1;
        memcpy (segs[n], p, len);
        segs[n][len] = '\0';
        n++;
        p += len;
        while (*p == '/')
            p++;
    }
    return *p ? max + 1 : n;
}

/* The account a node id names: "me", the token's own, another account of
 * this platform, or (with --open) any id not known as an object. */
static sb_account_t *
s_node_account (g_state_t *self, const char *id, sb_account_t *me)
{
    if (strcmp (id, "me") == 0 || strcmp (id, me->handle) == 0)
        return me;
    sb_account_t *a = sb_accounts_find (self->world->accounts, self->spec->name, id);
    if (a)
        return a;
    if (self->world->config->open && !s_obj (self, id))
        return me;
    return NULL;
}

static void
s_unknown_edge (g_state_t *self, sb_reply_t *rep, const char *edge)
{
    char msg[200];
    snprintf (msg, sizeof (msg),
              "(#100) Tried accessing nonexisting field (%.60s) on node type (%s)", edge,
              self->spec->kind == G_FACEBOOK ? "Page" : "User");
    s_param_error (rep, msg);
}

/* Edges of the token's own page or user. */
static void
s_account_edge (g_state_t *self, const sb_req_t *req, const sb_params_t *params,
                sb_account_t *me, const char *edge, g_usage_t *usage, sb_reply_t *rep)
{
    bool get = sb_req_is (req, "GET"), post = sb_req_is (req, "POST");
    g_kind_t k = self->spec->kind;
    unsigned fields;
    const char *list_edge = k == G_FACEBOOK ? "posts" : k == G_INSTAGRAM ? "media" : "threads";
    const char *container_edge = k == G_INSTAGRAM ? "media" : "threads";
    const char *publish_edge = k == G_INSTAGRAM ? "media_publish" : "threads_publish";
    const char *limit_edge = k == G_INSTAGRAM ? "content_publishing_limit"
                                              : "threads_publishing_limit";
    unsigned def = k == G_FACEBOOK ? F_ID | F_MESSAGE | F_CREATED_TIME : F_ID;

    if (k == G_FACEBOOK && strcmp (edge, "feed") == 0 && post)
        s_fb_feed (self, req, params, me, rep);
    else if (k == G_FACEBOOK && strcmp (edge, "photos") == 0 && post)
        s_fb_photo (self, req, params, me, rep);
    else if (k != G_FACEBOOK && strcmp (edge, container_edge) == 0 && post)
        s_container (self, req, params, me, rep);
    else if (k != G_FACEBOOK && strcmp (edge, publish_edge) == 0 && post)
        s_publish (self, req, params, me, usage, rep);
    else if (k != G_FACEBOOK && strcmp (edge, limit_edge) == 0 && get)
        s_publishing_limit (self, req, params, me, rep);
    else if (get
             && (strcmp (edge, list_edge) == 0 || (k == G_FACEBOOK && strcmp (edge, "feed") == 0))) {
        if (s_fields (self, params, def, &fields, rep))
            s_render_page (self, req, params, s_timeline (self, me, false), true, fields, NULL,
                           rep);
    }
    else if ((k == G_FACEBOOK && (strcmp (edge, "feed") == 0 || strcmp (edge, "photos") == 0
                                  || strcmp (edge, "posts") == 0))
             || (k != G_FACEBOOK && (strcmp (edge, container_edge) == 0
                                     || strcmp (edge, publish_edge) == 0
                                     || strcmp (edge, limit_edge) == 0)))
        s_no_object (rep, req->method, req->path);
    else
        s_unknown_edge (self, rep, edge);
}

static void
s_route (g_state_t *self, const sb_req_t *req, const sb_params_t *params, char segs[][S_SEG_MAX],
         size_t n, sb_account_t *me, g_usage_t *usage, sb_reply_t *rep)
{
    bool get = sb_req_is (req, "GET"), post = sb_req_is (req, "POST");
    unsigned fields;
    if (n == 0 || n > 2) {
        s_no_object (rep, req->method, n == 0 ? "" : segs[0]);
        return;
    }
    sb_account_t *node = s_node_account (self, segs[0], me);
    if (node && node != me) {
        s_error (rep, (g_err_t){ .http = 403, .code = E_PERMISSIONS }, M_PERMISSIONS);
        return;
    }
    if (node && n == 1) {
        if (get)
            s_node (self, me, rep);
        else
            s_no_object (rep, req->method, segs[0]);
        return;
    }
    if (node) {
        s_account_edge (self, req, params, me, segs[1], usage, rep);
        return;
    }
    g_obj_t *o = s_obj (self, segs[0]);
    /* containers are private to their owner */
    if (!o || (o->type == O_CONTAINER && o->owner != me)) {
        s_no_object (rep, req->method, segs[0]);
        return;
    }
    unsigned def = o->type == O_CONTAINER ? F_ID
                   : self->spec->kind == G_FACEBOOK ? F_ID | F_MESSAGE | F_CREATED_TIME
                                                    : F_ID;
    if (n == 1 && get) {
        if (s_fields (self, params, def, &fields, rep)) {
            rep->status = 200;
            s_render_obj (self, &rep->body, o, fields, req->now_us);
        }
    }
    else if (n == 2 && strcmp (segs[1], "comments") == 0 && self->spec->kind == G_FACEBOOK
             && o->type != O_CONTAINER) {
        if (post)
            s_comment (self, req, params, me, o, rep);
        else if (get)
            s_fb_comments (self, req, params, o, rep);
        else
            s_no_object (rep, req->method, segs[0]);
    }
    else if (n == 2 && strcmp (segs[1], "comments") == 0 && self->spec->kind == G_INSTAGRAM
             && o->type == O_POST) {
        if (post)
            s_comment (self, req, params, me, o, rep);
        else if (get)
            s_replies_page (self, req, params, o, rep);
        else
            s_no_object (rep, req->method, segs[0]);
    }
    else if (n == 2 && strcmp (segs[1], "replies") == 0 && self->spec->kind == G_THREADS
             && o->type == O_POST && get)
        s_replies_page (self, req, params, o, rep);
    else if (n == 2)
        s_unknown_edge (self, rep, segs[1]);
    else
        s_no_object (rep, req->method, segs[0]);
}

static void
s_handle (void *state, const sb_req_t *req, sb_reply_t *rep)
{
    g_state_t *self = state;
    sb_world_t *world = self->world;
    char segs[S_MAX_SEGS][S_SEG_MAX];
    size_t n = s_split (req->path, segs, S_MAX_SEGS);
    sb_params_t params;
    memset (&params, 0, sizeof (params));
    sb_params_status_t ps = sb_params_parse (&params, req); /* outside the lock */
    g_usage_t usage = { 0, 0 };
    sb_account_t *me = NULL;
    s_auth_t why = A_MISSING;

    sb_world_lock (world);
    if (ps == SB_PARAMS_OOM) {
        s_oom (rep);
        goto out;
    }
    me = s_authenticate (self, s_token (req, ps == SB_PARAMS_OK ? &params : NULL), req->now_us,
                         &why);
    switch (why) {
    case A_MISSING:
        s_error (rep, (g_err_t){ .http = 400, .code = E_NO_TOKEN }, M_NO_TOKEN);
        goto out;
    case A_EXPIRED: s_token_expired (rep, req->now_us); goto out;
    case A_INVALID:
        s_error (rep, (g_err_t){ .http = 400, .code = E_TOKEN }, M_BAD_TOKEN);
        goto out;
    case A_OK: break;
    }
    if (!s_usage (self, me, req->now_us, 1, &usage)) {
        s_error (rep, (g_err_t){ .http = 400, .code = self->spec->throttle_code,
                                 .transient = true },
                 self->spec->throttle_message);
        goto out;
    }
    if (ps == SB_PARAMS_BAD) {
        s_param_error (rep, M_INVALID);
        goto out;
    }
    if (n == 1 && strcmp (segs[0], "refresh_access_token") == 0
        && strcmp (self->spec->name, "threads") == 0 && sb_req_is (req, "GET")) {
        if (!sb_oauth_threads_refresh (world, me, sb_params_get (&params, "grant_type", NULL),
                                       req->now_us, rep))
            s_param_error (rep, "(#100) grant_type must be th_refresh_token");
        goto out;
    }
    s_route (self, req, &params, segs, n, me, &usage, rep);
out:
    s_usage_headers (self, rep, me, &usage);
    sb_world_unlock (world);
    sb_params_free (&params);
}

/* ------------------------------------------------------------------------ */
/* Platform interface                                                        */

static void *
s_create_for (sb_world_t *world, const g_spec_t *spec)
{
    g_state_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->world = world;
    self->spec = spec;
    self->objects = sb_map_new (s_obj_free);
    self->timelines = sb_map_new (sb_vec_free);
    self->replies = sb_map_new (sb_vec_free);
    if (!self->objects || !self->timelines || !self->replies) {
        sb_map_destroy (&self->objects);
        sb_map_destroy (&self->timelines);
        sb_map_destroy (&self->replies);
        free (self);
        return NULL;
    }
    return self;
}

static void *
s_create_facebook (sb_world_t *world)
{
    return s_create_for (world, &s_facebook);
}

static void *
s_create_instagram (sb_world_t *world)
{
    return s_create_for (world, &s_instagram);
}

static void *
s_create_threads (sb_world_t *world)
{
    return s_create_for (world, &s_threads);
}

static void
s_reset (void *state)
{
    g_state_t *self = state;
    sb_map_clear (self->timelines);
    sb_map_clear (self->replies);
    sb_map_clear (self->objects);
}

static void
s_destroy (void **state_p)
{
    if (!state_p || !*state_p)
        return;
    g_state_t *self = *state_p;
    sb_map_destroy (&self->timelines);
    sb_map_destroy (&self->replies);
    sb_map_destroy (&self->objects);
    free (self);
    *state_p = NULL;
}

/* World lock held. */
static bool
s_identify (void *state, const sb_req_t *req, char *handle, size_t cap)
{
    g_state_t *self = state;
    sb_params_t params;
    memset (&params, 0, sizeof (params));
    const char *token = s_token (req, NULL);
    bool parsed = false;
    if (!token && sb_req_is (req, "POST")) {
        parsed = sb_params_parse (&params, req) == SB_PARAMS_OK;
        token = parsed ? s_token (req, &params) : NULL;
    }
    bool known = sb_accounts_identify (self->world->accounts, self->spec->name, token,
                                       S_TOKEN_MAX, self->world->config->open, handle, cap);
    sb_params_free (&params);
    return known;
}

static void
s_fault (void *state, const sb_req_t *req, int status, sb_reply_t *rep)
{
    g_state_t *self = state;
    g_usage_t usage = { 0, 0 };
    sb_account_t *a = NULL;
    char handle[SB_HANDLE_MAX];
    sb_world_lock (self->world);
    if (s_identify (self, req, handle, sizeof (handle))) {
        a = sb_accounts_find (self->world->accounts, self->spec->name, handle);
        if (a)
            s_usage (self, a, req->now_us, 0, &usage);
    }
    switch (status) {
    case 401: s_token_expired (rep, req->now_us); break;
    case 403:
        s_error (rep, (g_err_t){ .http = 403, .code = E_PERMISSION }, M_PERMISSION);
        break;
    case 400:
    case 404: s_param_error (rep, M_INVALID); break;
    case 429:
        usage.pct = 100;
        usage.regain_min = self->world->config->graph_regain_minutes;
        s_error (rep, (g_err_t){ .http = 400, .code = E_APP_LIMIT, .transient = true },
                 M_APP_LIMIT);
        break;
    case 500:
        s_error (rep, (g_err_t){ .http = 500, .code = E_UNKNOWN, .transient = false }, M_UNKNOWN);
        break;
    default:
        if (status >= 500)
            s_error (rep, (g_err_t){ .http = status, .code = E_SERVICE, .transient = true },
                     M_SERVICE);
        else
            s_error (rep, (g_err_t){ .http = status, .code = E_PARAM }, sb_http_reason (status));
        break;
    }
    s_usage_headers (self, rep, a, &usage);
    sb_world_unlock (self->world);
}

const sb_platform_t sb_facebook_platform = {
    .name = "facebook",
    .prefix = "/facebook",
    .create = s_create_facebook,
    .destroy = s_destroy,
    .reset = s_reset,
    .identify = s_identify,
    .handle = s_handle,
    .fault = s_fault,
    .mention = NULL,
};

const sb_platform_t sb_instagram_platform = {
    .name = "instagram",
    .prefix = "/instagram",
    .create = s_create_instagram,
    .destroy = s_destroy,
    .reset = s_reset,
    .identify = s_identify,
    .handle = s_handle,
    .fault = s_fault,
    .mention = NULL,
};

const sb_platform_t sb_threads_platform = {
    .name = "threads",
    .prefix = "/threads",
    .create = s_create_threads,
    .destroy = s_destroy,
    .reset = s_reset,
    .identify = s_identify,
    .handle = s_handle,
    .fault = s_fault,
    .mention = NULL,
};
