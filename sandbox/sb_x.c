/*
 * sb_x: the X API v2, mounted under /x (an account's api_base is
 * http://HOST:PORT/x).
 *
 * Answers like api.x.com for what Crieur uses: publishing (POST /2/tweets,
 * no idempotency: every accepted request is a new tweet), the authenticated
 * user (GET /2/users/me), reading a user's tweets back (GET
 * /2/users/:id/tweets with start_time, since_id, pagination), mentions
 * (GET /2/users/:id/mentions, injected through the control API), lookups
 * (GET /2/tweets?ids=, GET /2/tweets/:id) with public metrics. Errors are
 * problem JSON (application/problem+json); every authenticated answer carries
 * x-rate-limit-limit / -remaining / -reset (epoch seconds) of its endpoint's
 * 15-minute window per user.
 *
 * What X does to text is imitated on the way out: URLs become t.co links and
 * &, <, > are sent as HTML entities (the ledger keeps the source text). The
 * 280-character rule is twitter-text's weighted length: code points in the
 * Latin and general punctuation ranges weigh 1, the rest (CJK, emoji) 2, a URL
 * 23, an emoji sequence (modifiers, ZWJ, variation selectors, flag pairs) as
 * one emoji. Bare domains without http(s):// are not taken for URLs, and the
 * text is not NFC-normalised: simplifications.
 *
 * Tweets are kept in id order (ids are world snowflakes, always increasing),
 * per author and per mentioned user. Every X constant lives here. All state is
 * guarded by the world lock.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_VEC_FIRST 64 /* first capacity of a list */

#define S_PLATFORM "x"
#define S_MAX_WEIGHTED 280
#define S_URL_WEIGHT 23
#define S_TCO_PREFIX "https://t.co/"
#define S_TCO_CHARS 10
#define S_DUPLICATE_WINDOW_US (24ull * 3600ull * 1000000ull)
#define S_MAX_MEDIA 4
#define S_PAGE_MIN 5
#define S_PAGE_MAX 100
#define S_PAGE_DEFAULT 10
#define S_LOOKUP_MAX 100
#define S_READ_WINDOW_S 900
#define S_ME_LIMIT 75
#define S_TIMELINE_LIMIT 900
#define S_MENTIONS_LIMIT 300
#define S_LOOKUP_LIMIT 900
#define S_PROBLEM_CONTENT_TYPE "application/problem+json"
#define S_TYPE_INVALID "https://api.x.com/2/problems/invalid-request"
#define S_TYPE_NOT_FOUND "https://api.x.com/2/problems/resource-not-found"
#define S_TYPE_CLIENT_FORBIDDEN "https://api.x.com/2/problems/client-forbidden"
#define S_INVALID_DETAIL "One or more parameters to your request was invalid."
#define S_MEDIA_IDS_INVALID "Your media IDs are invalid."
#define S_MEDIA_TYPE_MESSAGE                                                                       \
    "The media type is not supported: upload a JPEG, PNG, GIF or WebP image"

#define S_JSON_UNAUTHORIZED                                                                        \
    "{\"title\":\"Unauthorized\",\"type\":\"about:blank\",\"status\":401,\"detail\":\"Unauthorized\"}"
#define S_JSON_DUPLICATE                                                                           \
    "{\"detail\":\"You are not allowed to create a Tweet with duplicate content.\","              \
    "\"type\":\"about:blank\",\"title\":\"Forbidden\",\"status\":403}"
#define S_JSON_REPLY_HIDDEN                                                                        \
    "{\"detail\":\"You attempted to reply to a Tweet that is deleted or not visible to you.\","   \
    "\"type\":\"about:blank\",\"title\":\"Forbidden\",\"status\":403}"
#define S_JSON_TOO_MANY                                                                            \
    "{\"title\":\"Too Many Requests\",\"detail\":\"Too Many Requests\",\"type\":\"about:blank\"," \
    "\"status\":429}"
#define S_JSON_CLIENT_FORBIDDEN                                                                    \
    "{\"client_id\":\"crieur-sandbox\",\"detail\":\"When authenticating requests to the Twitter " \
    "API v2 endpoints, you must use keys and tokens from a Twitter developer App that is "         \
    "attached to a Project. You can create a project via the developer portal.\","               \
    "\"registration_url\":\"https://developer.x.com/en/docs/projects/overview\","                 \
    "\"title\":\"Client Forbidden\",\"required_enrollment\":\"Appropriate Level of API Access\","  \
    "\"reason\":\"client-not-enrolled\",\"type\":\"" S_TYPE_CLIENT_FORBIDDEN "\"}"

/* tweet.fields this sandbox knows; the ones it renders have a bit. */
enum {
    F_CREATED_AT = 1u << 0,
    F_AUTHOR_ID = 1u << 1,
    F_PUBLIC_METRICS = 1u << 2,
    F_CONVERSATION_ID = 1u << 3,
    F_IN_REPLY_TO_USER_ID = 1u << 4,
    F_REFERENCED_TWEETS = 1u << 5,
};
static const struct {
    const char *name;
    unsigned bit; /* 0: accepted, not rendered */
} s_tweet_fields[] = {
    { "created_at", F_CREATED_AT },
    { "author_id", F_AUTHOR_ID },
    { "public_metrics", F_PUBLIC_METRICS },
    { "conversation_id", F_CONVERSATION_ID },
    { "in_reply_to_user_id", F_IN_REPLY_TO_USER_ID },
    { "referenced_tweets", F_REFERENCED_TWEETS },
    { "id", 0 },
    { "text", 0 },
    { "edit_history_tweet_ids", 0 },
    { "attachments", 0 },
    { "context_annotations", 0 },
    { "edit_controls", 0 },
    { "entities", 0 },
    { "geo", 0 },
    { "lang", 0 },
    { "non_public_metrics", 0 },
    { "note_tweet", 0 },
    { "organic_metrics", 0 },
    { "possibly_sensitive", 0 },
    { "promoted_metrics", 0 },
    { "reply_settings", 0 },
    { "source", 0 },
    { "withheld", 0 },
};

static const char *const s_media_categories[] = { "tweet_image", "tweet_gif", "dm_image",
                                                  "dm_gif", NULL };

static bool
s_one_of (const char *v, const char *const *set)
{
    for (size_t i = 0; v && set[i]; i++)
        if (strcmp (v, set[i]) == 0)
            return true;
    return false;
}

/* Rate-limit classes: one 15-minute window per user and endpoint. */
typedef enum {
    S_EP_NONE,
    S_EP_CREATE,   /* POST /2/tweets */
    S_EP_ME,       /* GET /2/users/me */
    S_EP_TIMELINE, /* GET /2/users/:id/tweets */
    S_EP_MENTIONS, /* GET /2/users/:id/mentions */
    S_EP_LOOKUP,   /* GET /2/tweets?ids=, GET /2/tweets/:id */
    S_EP_MEDIA,    /* POST /2/media/upload */
} s_endpoint_t;

/* An uploaded image: usable in a tweet by its owner until it expires. */
typedef struct {
    uint64_t id;
    uint64_t owner;      /* account id */
    uint64_t expires_us;
    size_t size;
} s_media_t;

typedef struct {
    uint64_t id;
    sb_account_t *author;  /* owned by the accounts module; reset together */
    sb_account_t *mention; /* user mentioned (injected mentions), or NULL */
    uint64_t created_us;
    uint64_t in_reply_to_id; /* 0 = none */
    uint64_t in_reply_to_user_id;
    uint64_t conversation_id;
    char *text; /* source text */
    int64_t reply_count;
    uint64_t media[S_MAX_MEDIA];
    size_t nmedia;
} s_tweet_t;

typedef struct {
    sb_world_t *world;
    sb_vec_t tweets;       /* s_tweet_t * (owned), id order */
    sb_map_t *timelines;  /* author id -> sb_vec_t of s_tweet_t * (borrowed), id order */
    sb_map_t *mentioned;  /* user id -> sb_vec_t of s_tweet_t * (borrowed), id order */
    sb_map_t *media;      /* media id -> s_media_t (owned) */
} s_x_t;

/* ------------------------------------------------------------------------ */
/* Containers                                                                */

static void
s_tweet_free (s_tweet_t *t)
{
    if (!t)
        return;
    free (t->text);
    free (t);
}

static sb_vec_t *
s_index (sb_map_t *map, uint64_t user_id, bool create)
{
    char key[24];
    snprintf (key, sizeof (key), "%llu", (unsigned long long) user_id);
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

static s_tweet_t *
s_find_tweet (const s_x_t *self, uint64_t id)
{
    size_t lo = 0, hi = self->tweets.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        s_tweet_t *t = self->tweets.items[mid];
        if (t->id == id)
            return t;
        if (t->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static sb_account_t *
s_user (const s_x_t *self, uint64_t id)
{
    sb_account_t *a = sb_accounts_find_id (self->world->accounts, id);
    return a && strcmp (a->platform, S_PLATFORM) == 0 ? a : NULL;
}

/* ------------------------------------------------------------------------ */
/* Text: weighted length and how X shows text                                */

/* twitter-text v3: these ranges weigh 1, everything else 2. */
static size_t
s_weight (uint32_t cp)
{
    if (cp <= 0x10FF || (cp >= 0x2000 && cp <= 0x200D) || (cp >= 0x2010 && cp <= 0x201F)
        || (cp >= 0x2032 && cp <= 0x2037))
        return 1;
    return 2;
}

static size_t
s_weighted_length (const char *text, size_t len)
{
    size_t total = 0, i = 0;
    bool in_emoji = false; /* modifiers and joiners extend the previous character */
    bool joined = false;   /* the previous code point was a ZWJ inside an emoji */
    bool flag_open = false; /* one regional indicator waiting for its pair */
    uint32_t base = 0;
    while (i < len) {
        size_t url = text[i] == 'h' ? sb_url_at (text, len, i) : 0;
        if (url) {
            total += S_URL_WEIGHT;
            i += url;
            in_emoji = joined = flag_open = false;
            base = 0;
            continue;
        }
        uint32_t cp;
        i += sb_utf8_next (text + i, len - i, &cp);
        if (joined) { /* the character after a ZWJ belongs to the emoji */
            joined = false;
            continue;
        }
        if (cp == 0xFE0E || cp == 0xFE0F)
            continue; /* variation selectors never count on their own */
        if (in_emoji
            && (cp == 0x200D || (cp >= 0x1F3FB && cp <= 0x1F3FF) || (cp >= 0xE0020 && cp <= 0xE007F))) {
            joined = cp == 0x200D;
            continue;
        }
        if (cp == 0x20E3 && ((base >= '0' && base <= '9') || base == '#' || base == '*')) {
            total += 1; /* keycap: the digit (1) and the cap make one emoji (2) */
            in_emoji = true;
            continue;
        }
        if (cp >= 0x1F1E6 && cp <= 0x1F1FF) {
            if (flag_open) { /* second half of a flag */
                flag_open = false;
                continue;
            }
            flag_open = true;
            in_emoji = true;
            total += 2;
            base = cp;
            continue;
        }
        flag_open = false;
        size_t w = s_weight (cp);
        total += w;
        in_emoji = w == 2;
        base = cp;
    }
    return total;
}

/* A stable t.co-style link for a URL (FNV-1a of the URL, base 62). */
static void
s_tco (const char *url, size_t len, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char) url[i]) * 1099511628211ull;
    char code[S_TCO_CHARS + 1];
    for (size_t i = 0; i < S_TCO_CHARS; i++) {
        code[i] = digits[h % 62u];
        h /= 62u;
        if (h == 0)
            h = 0x9E3779B97F4A7C15ull + i;
    }
    code[S_TCO_CHARS] = '\0';
    snprintf (out, cap, "%s%s", S_TCO_PREFIX, code);
}

/* The text as X shows it, as a JSON string: URLs as t.co links, &, <, > as
 * HTML entities; a tweet with media (media_id not 0) ends with the t.co link
 * of its media, as X shows it. */
static void
s_add_text (sb_buf_t *out, const char *text, uint64_t media_id)
{
    sb_buf_t shown;
    sb_buf_init (&shown);
    size_t len = strlen (text), i = 0, run = 0;
    while (i < len) {
        char c = text[i];
        size_t url = c == 'h' ? sb_url_at (text, len, i) : 0;
        if (!url && c != '&' && c != '<' && c != '>') {
            i++;
            continue;
        }
        sb_buf_add (&shown, text + run, i - run);
        if (url) {
            char link[64];
            s_tco (text + i, url, link, sizeof (link));
            sb_buf_adds (&shown, link);
            i += url;
        }
        else {
            sb_buf_adds (&shown, c == '&' ? "&amp;" : c == '<' ? "&lt;" : "&gt;");
            i++;
        }
        run = i;
    }
    sb_buf_add (&shown, text + run, len - run);
    if (media_id) {
        char page[64], link[64];
        snprintf (page, sizeof (page), "https://x.com/i/media/%llu", (unsigned long long) media_id);
        s_tco (page, strlen (page), link, sizeof (link));
        if (len > 0)
            sb_buf_addc (&shown, ' ');
        sb_buf_adds (&shown, link);
    }
    sb_buf_add_json_strn (out, shown.data ? shown.data : "", shown.len);
    sb_buf_free (&shown);
}

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff]Z" -> microseconds; 0 or -1. */
static int
s_parse_time (const char *s, uint64_t *out_us)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf (s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6
        || n != 19)
        return -1;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (strcmp (p, "Z") != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23
        || mi > 59 || sec > 60)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi, .tm_sec = sec };
    time_t t = timegm (&tm);
    if (t < 0)
        return -1;
    *out_us = (uint64_t) t * 1000000u;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                   */

static void
s_problem_json (sb_reply_t *rep, int status, const char *json)
{
    sb_reply_json (rep, status, json);
    sb_reply_header (rep, MHD_HTTP_HEADER_CONTENT_TYPE, S_PROBLEM_CONTENT_TYPE);
}

/* {"title","type","status","detail"} */
static void
s_problem (sb_reply_t *rep, int status, const char *title, const char *type, const char *detail)
{
    rep->status = status;
    sb_buf_reset (&rep->body);
    sb_buf_adds (&rep->body, "{\"title\":");
    sb_buf_add_json_str (&rep->body, title);
    sb_buf_adds (&rep->body, ",\"type\":");
    sb_buf_add_json_str (&rep->body, type);
    sb_buf_printf (&rep->body, ",\"status\":%d,\"detail\":", status);
    sb_buf_add_json_str (&rep->body, detail);
    sb_buf_addc (&rep->body, '}');
    sb_reply_header (rep, MHD_HTTP_HEADER_CONTENT_TYPE, S_PROBLEM_CONTENT_TYPE);
}

/* 400 invalid-request: X's generic detail, the specific message in errors[]. */
static void
s_invalid (sb_reply_t *rep, const char *parameter, const char *value, const char *message)
{
    sb_buf_t *b = &rep->body;
    rep->status = 400;
    sb_buf_reset (b);
    sb_buf_adds (b, "{\"errors\":[{\"parameters\":{");
    sb_buf_add_json_str (b, parameter);
    sb_buf_adds (b, ":[");
    sb_buf_add_json_str (b, value);
    sb_buf_adds (b, "]},\"message\":");
    sb_buf_add_json_str (b, message);
    sb_buf_adds (b, "}],\"title\":\"Invalid Request\",\"detail\":\"" S_INVALID_DETAIL
                    "\",\"type\":\"" S_TYPE_INVALID "\"}");
    sb_reply_header (rep, MHD_HTTP_HEADER_CONTENT_TYPE, S_PROBLEM_CONTENT_TYPE);
}

/* One entry of a partial answer's errors[] (a tweet or user not found). */
static void
s_not_found_error (sb_buf_t *b, const char *resource, const char *parameter, const char *value)
{
    char detail[160];
    snprintf (detail, sizeof (detail), "Could not find %s with %s: [%.64s].", resource, parameter,
              value);
    sb_buf_adds (b, "{\"value\":");
    sb_buf_add_json_str (b, value);
    sb_buf_adds (b, ",\"detail\":");
    sb_buf_add_json_str (b, detail);
    sb_buf_printf (b, ",\"title\":\"Not Found Error\",\"resource_type\":\"%s\","
                      "\"parameter\":\"%s\",\"resource_id\":",
                   resource, parameter);
    sb_buf_add_json_str (b, value);
    sb_buf_adds (b, ",\"type\":\"" S_TYPE_NOT_FOUND "\"}");
}

static void
s_rate_headers (sb_reply_t *rep, const sb_rate_t *rate)
{
    char value[32];
    snprintf (value, sizeof (value), "%lld", (long long) rate->limit);
    sb_reply_header (rep, "x-rate-limit-limit", value);
    snprintf (value, sizeof (value), "%lld", (long long) rate->remaining);
    sb_reply_header (rep, "x-rate-limit-remaining", value);
    snprintf (value, sizeof (value), "%llu",
              (unsigned long long) ((rate->reset_us + 999999u) / 1000000u));
    sb_reply_header (rep, "x-rate-limit-reset", value);
}

/* ------------------------------------------------------------------------ */
/* Rendering                                                                 */

static void
s_render_user (sb_buf_t *out, const sb_account_t *a)
{
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_id (out, a->id);
    sb_buf_adds (out, ",\"name\":");
    sb_buf_add_json_str (out, a->handle);
    sb_buf_adds (out, ",\"username\":");
    sb_buf_add_json_str (out, a->handle);
    sb_buf_addc (out, '}');
}

static void
s_render_tweet (sb_buf_t *out, const s_tweet_t *t, unsigned fields)
{
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_id (out, t->id);
    sb_buf_adds (out, ",\"text\":");
    s_add_text (out, t->text, t->nmedia ? t->media[0] : 0);
    sb_buf_adds (out, ",\"edit_history_tweet_ids\":[");
    sb_buf_add_json_id (out, t->id);
    sb_buf_addc (out, ']');
    if (fields & F_CREATED_AT) {
        char when[40];
        sb_format_time (t->created_us, 3, when, sizeof (when));
        sb_buf_printf (out, ",\"created_at\":\"%s\"", when);
    }
    if (fields & F_AUTHOR_ID) {
        sb_buf_adds (out, ",\"author_id\":");
        sb_buf_add_json_id (out, t->author->id);
    }
    if (fields & F_CONVERSATION_ID) {
        sb_buf_adds (out, ",\"conversation_id\":");
        sb_buf_add_json_id (out, t->conversation_id);
    }
    if ((fields & F_IN_REPLY_TO_USER_ID) && t->in_reply_to_user_id) {
        sb_buf_adds (out, ",\"in_reply_to_user_id\":");
        sb_buf_add_json_id (out, t->in_reply_to_user_id);
    }
    if ((fields & F_REFERENCED_TWEETS) && t->in_reply_to_id) {
        sb_buf_adds (out, ",\"referenced_tweets\":[{\"type\":\"replied_to\",\"id\":");
        sb_buf_add_json_id (out, t->in_reply_to_id);
        sb_buf_adds (out, "}]");
    }
    if (fields & F_PUBLIC_METRICS)
        sb_buf_printf (out,
                       ",\"public_metrics\":{\"retweet_count\":0,\"reply_count\":%lld,"
                       "\"like_count\":0,\"quote_count\":0,\"bookmark_count\":0,"
                       "\"impression_count\":0}",
                       (long long) t->reply_count);
    sb_buf_addc (out, '}');
}

/* Parses tweet.fields; false (400 sent) on an unknown field. */
static bool
s_fields (const sb_req_t *req, unsigned *fields, sb_reply_t *rep)
{
    *fields = 0;
    const char *v = sb_req_arg (req, "tweet.fields");
    if (!v || !*v)
        return true;
    const char *p = v;
    while (*p) {
        size_t n = strcspn (p, ",");
        bool known = false;
        for (size_t i = 0; i < sizeof (s_tweet_fields) / sizeof (s_tweet_fields[0]); i++)
            if (strlen (s_tweet_fields[i].name) == n && strncmp (s_tweet_fields[i].name, p, n) == 0) {
                *fields |= s_tweet_fields[i].bit;
                known = true;
            }
        if (!known) {
            char value[128], msg[256];
            snprintf (value, sizeof (value), "%.*s", (int) (n < 100 ? n : 100), p);
            snprintf (msg, sizeof (msg),
                      "The `tweet.fields` query parameter value [%s] is not one of the known "
                      "fields",
                      value);
            s_invalid (rep, "tweet.fields", v, msg);
            return false;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return true;
}

/* expansions=author_id ("includes":{"users":[...]} of the tweets' authors):
 * 1 asked, 0 not, -1 unknown expansion (400 sent). */
static int
s_expand_authors (const sb_req_t *req, sb_reply_t *rep)
{
    const char *v = sb_req_arg (req, "expansions");
    if (!v || !*v)
        return 0;
    if (strcmp (v, "author_id") != 0) {
        s_invalid (rep, "expansions", v,
                   "The `expansions` query parameter value is not one of [author_id]");
        return -1;
    }
    return 1;
}

static void
s_render_includes (sb_buf_t *out, s_tweet_t **tweets, size_t n)
{
    sb_buf_adds (out, ",\"includes\":{\"users\":[");
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = tweets[k]->author == tweets[i]->author;
        if (seen)
            continue;
        if (shown++)
            sb_buf_addc (out, ',');
        s_render_user (out, tweets[i]->author);
    }
    sb_buf_adds (out, "]}");
}

/* ------------------------------------------------------------------------ */
/* Authentication and rate limits                                            */

/* Lock held. Resolves the token; with --open, creates the account. */
static sb_account_t *
s_authenticate (s_x_t *self, const char *token, uint64_t now_us)
{
    sb_world_t *world = self->world;
    if (strlen (token) > 1024 || sb_accounts_revoked (world->accounts, token))
        return NULL;
    sb_account_t *a = sb_accounts_by_token (world->accounts, S_PLATFORM, token);
    if (a && sb_accounts_expired (world->accounts, S_PLATFORM, token, now_us))
        return NULL;   /* expired: 401 as for any bad token (sb_oauth.h) */
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

/* Lock held. cost 1: this request counts (refused ones do not); 0: just look. */
static void
s_rate (s_x_t *self, s_endpoint_t ep, const sb_account_t *a, uint64_t now_us, int64_t cost,
        sb_rate_t *rate)
{
    const sb_config_t *c = self->world->config;
    int64_t limit = S_LOOKUP_LIMIT, window = S_READ_WINDOW_S;
    const char *name = "lookup";
    switch (ep) {
    case S_EP_CREATE:
        limit = c->x_tweet_limit;
        window = c->x_tweet_window_s;
        name = "tweets";
        break;
    case S_EP_MEDIA:
        limit = c->x_media_limit;
        window = c->x_media_window_s;
        name = "media";
        break;
    case S_EP_ME: limit = S_ME_LIMIT; name = "me"; break;
    case S_EP_TIMELINE: limit = S_TIMELINE_LIMIT; name = "timeline"; break;
    case S_EP_MENTIONS: limit = S_MENTIONS_LIMIT; name = "mentions"; break;
    case S_EP_LOOKUP:
    case S_EP_NONE: break;
    }
    char key[80];
    snprintf (key, sizeof (key), "x/%s/%llu", name, (unsigned long long) a->id);
    sb_ratelimit_hit (self->world->rates, key, limit, window, SB_WINDOW_FIRST_HIT, now_us, cost,
                      rate);
}

/* ------------------------------------------------------------------------ */
/* Paging                                                                    */

typedef struct {
    size_t max_results;
    uint64_t since_id, until_id, before_id; /* before_id: from pagination_token */
    uint64_t start_us, end_us;              /* 0 = unbounded */
} s_page_t;

/* false: 400 sent */
static bool
s_page_parse (const sb_req_t *req, s_page_t *page, sb_reply_t *rep)
{
    memset (page, 0, sizeof (*page));
    page->max_results = S_PAGE_DEFAULT;
    const char *v = sb_req_arg (req, "max_results");
    int64_t n;
    if (v) {
        if (sb_parse_i64 (v, S_PAGE_MIN, S_PAGE_MAX, &n) != 0) {
            char msg[160];
            snprintf (msg, sizeof (msg),
                      "The `max_results` query parameter value [%.40s] is not between %d and %d", v,
                      S_PAGE_MIN, S_PAGE_MAX);
            s_invalid (rep, "max_results", v, msg);
            return false;
        }
        page->max_results = (size_t) n;
    }
    static const char *const ids[] = { "since_id", "until_id", "pagination_token" };
    uint64_t *dst[] = { &page->since_id, &page->until_id, &page->before_id };
    for (size_t i = 0; i < 3; i++) {
        v = sb_req_arg (req, ids[i]);
        if (v && sb_parse_u64 (v, dst[i]) != 0) {
            char msg[160];
            snprintf (msg, sizeof (msg), "The `%s` query parameter value [%.40s] is not valid",
                      ids[i], v);
            s_invalid (rep, ids[i], v, msg);
            return false;
        }
    }
    static const char *const times[] = { "start_time", "end_time" };
    uint64_t *tdst[] = { &page->start_us, &page->end_us };
    for (size_t i = 0; i < 2; i++) {
        v = sb_req_arg (req, times[i]);
        if (v && s_parse_time (v, tdst[i]) != 0) {
            char msg[200];
            snprintf (msg, sizeof (msg),
                      "Invalid '%s':'%.40s'. '%s' must be a timestamp in the format "
                      "YYYY-MM-DDTHH:mm:ssZ",
                      times[i], v, times[i]);
            s_invalid (rep, times[i], v, msg);
            return false;
        }
    }
    return true;
}

static bool
s_page_in (const s_page_t *page, const s_tweet_t *t)
{
    return t->id > page->since_id && (!page->until_id || t->id < page->until_id)
           && (!page->before_id || t->id < page->before_id)
           && (!page->start_us || t->created_us >= page->start_us)
           && (!page->end_us || t->created_us <= page->end_us);
}

/* Renders a newest-first page of list (id order) as {"data","includes","meta"}. */
static void
s_render_page (const sb_req_t *req, const sb_vec_t *list, bool exclude_replies,
               sb_reply_t *rep)
{
    s_page_t page;
    unsigned fields;
    if (!s_page_parse (req, &page, rep) || !s_fields (req, &fields, rep))
        return;
    int authors = s_expand_authors (req, rep);
    if (authors < 0)
        return;
    s_tweet_t *picked[S_PAGE_MAX];
    size_t n = 0;
    bool more = false;
    for (size_t i = list ? list->len : 0; i > 0; i--) {
        s_tweet_t *t = list->items[i - 1];
        if (!s_page_in (&page, t) || (exclude_replies && t->in_reply_to_id))
            continue;
        if (n == page.max_results) {
            more = true;
            break;
        }
        picked[n++] = t;
    }
    sb_buf_t *out = &rep->body;
    rep->status = 200;
    if (n == 0) {
        sb_buf_adds (out, "{\"meta\":{\"result_count\":0}}");
        return;
    }
    sb_buf_adds (out, "{\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_buf_addc (out, ',');
        s_render_tweet (out, picked[i], fields);
    }
    sb_buf_addc (out, ']');
    if (authors)
        s_render_includes (out, picked, n);
    sb_buf_adds (out, ",\"meta\":{\"result_count\":");
    sb_buf_add_u64 (out, n);
    sb_buf_adds (out, ",\"newest_id\":");
    sb_buf_add_json_id (out, picked[0]->id);
    sb_buf_adds (out, ",\"oldest_id\":");
    sb_buf_add_json_id (out, picked[n - 1]->id);
    if (more) {
        /* opaque to clients; here: "older than this id" */
        sb_buf_adds (out, ",\"next_token\":");
        sb_buf_add_json_id (out, picked[n - 1]->id);
    }
    sb_buf_adds (out, "}}");
}

/* ------------------------------------------------------------------------ */
/* Endpoints (lock held)                                                     */

/* Body already parsed (outside the lock); NULL if it was not a JSON object. */
static void
s_create (s_x_t *self, const sb_req_t *req, json_t *body, sb_account_t *account,
          sb_reply_t *rep)
{
    sb_world_t *world = self->world;
    if (!json_is_object (body)) {
        s_invalid (rep, "body", "", "The request body is not a JSON object");
        return;
    }
    json_t *jtext = json_object_get (body, "text");
    json_t *reply = json_object_get (body, "reply");
    json_t *media = json_object_get (body, "media");
    if (jtext && !json_is_string (jtext)) {
        s_invalid (rep, "text", "", "$.text: expected a string");
        return;
    }
    const char *text = jtext ? json_string_value (jtext) : "";
    size_t text_len = jtext ? json_string_length (jtext) : 0;
    if (strlen (text) != text_len) {
        s_invalid (rep, "text", "", "$.text: must not contain NUL characters");
        return;
    }
    uint64_t media_ids[S_MAX_MEDIA];
    size_t nmedia = 0;
    if (media) {
        json_t *ids = json_is_object (media) ? json_object_get (media, "media_ids") : NULL;
        if (!json_is_array (ids) || json_array_size (ids) == 0
            || json_array_size (ids) > S_MAX_MEDIA) {
            s_invalid (rep, "media.media_ids", "",
                       "$.media.media_ids: expected an array of 1 to 4 media ids");
            return;
        }
        for (size_t i = 0; i < json_array_size (ids); i++) {
            const char *v = json_string_value (json_array_get (ids, i));
            if (!v || sb_parse_u64 (v, &media_ids[nmedia]) != 0) {
                s_invalid (rep, "media.media_ids", v ? v : "",
                           "$.media.media_ids: each id must be a numeric string");
                return;
            }
            /* X: unknown, expired and other users' ids are all "invalid" */
            const s_media_t *m = sb_map_get (self->media, v);
            if (!m || m->owner != account->id || req->now_us >= m->expires_us) {
                s_invalid (rep, "media.media_ids", v, S_MEDIA_IDS_INVALID);
                return;
            }
            nmedia++;
        }
    }
    s_tweet_t *parent = NULL;
    if (reply) {
        json_t *to = json_is_object (reply) ? json_object_get (reply, "in_reply_to_tweet_id")
                                            : NULL;
        uint64_t pid;
        if (!json_is_string (to) || sb_parse_u64 (json_string_value (to), &pid) != 0) {
            s_invalid (rep, "reply.in_reply_to_tweet_id", "",
                       "$.reply.in_reply_to_tweet_id: expected a numeric string");
            return;
        }
        parent = s_find_tweet (self, pid);
        if (!parent) {
            s_problem_json (rep, 403, S_JSON_REPLY_HIDDEN);
            return;
        }
    }
    if (sb_blank (text) && nmedia == 0) {
        s_invalid (rep, "text", text, "Tweet text is empty: text or media is required");
        return;
    }
    size_t weighted = s_weighted_length (text, text_len);
    if (weighted > S_MAX_WEIGHTED) {
        char msg[160];
        snprintf (msg, sizeof (msg),
                  "Tweet text is too long: %zu weighted characters, the limit is %d", weighted,
                  S_MAX_WEIGHTED);
        s_invalid (rep, "text", "", msg);
        return;
    }
    /* X refuses the same text from the same user within a day. */
    sb_vec_t *timeline = s_index (self->timelines, account->id, true);
    for (size_t i = timeline ? timeline->len : 0; i > 0; i--) {
        s_tweet_t *t = timeline->items[i - 1];
        if (req->now_us > t->created_us && req->now_us - t->created_us > S_DUPLICATE_WINDOW_US)
            break;
        if (text_len > 0 && strcmp (t->text, text) == 0) {
            s_problem_json (rep, 403, S_JSON_DUPLICATE);
            return;
        }
    }
    s_tweet_t *tweet = calloc (1, sizeof (*tweet));
    if (!timeline || !tweet)
        goto oom;
    tweet->id = sb_world_next_id (world, req->now_us);
    tweet->author = account;
    tweet->created_us = req->now_us;
    tweet->text = strdup (text);
    tweet->conversation_id = parent ? parent->conversation_id : tweet->id;
    if (parent) {
        tweet->in_reply_to_id = parent->id;
        tweet->in_reply_to_user_id = parent->author->id;
    }
    memcpy (tweet->media, media_ids, nmedia * sizeof (media_ids[0]));
    tweet->nmedia = nmedia;
    if (!tweet->text || sb_vec_push (&self->tweets, tweet, S_VEC_FIRST) != 0)
        goto oom;
    if (sb_vec_push (timeline, tweet, S_VEC_FIRST) != 0) {
        self->tweets.len--;
        goto oom;
    }
    if (parent)
        parent->reply_count++;

    char id[24], url[512];
    snprintf (id, sizeof (id), "%llu", (unsigned long long) tweet->id);
    snprintf (url, sizeof (url), "%s/x/%s/status/%s", world->base_url, account->handle, id);
    sb_ledger_entry_t entry = { .created_us = req->now_us,
                                .platform = S_PLATFORM,
                                .account = account->handle,
                                .id = id,
                                .url = url,
                                .text = text,
                                .idempotency_key = NULL };
    char media_keys[S_MAX_MEDIA][24];
    const char *media_list[S_MAX_MEDIA];
    for (size_t i = 0; i < nmedia; i++) {
        snprintf (media_keys[i], sizeof (media_keys[i]), "%llu", (unsigned long long) media_ids[i]);
        media_list[i] = media_keys[i];
    }
    entry.media = nmedia ? media_list : NULL;
    entry.nmedia = nmedia;
    if (sb_ledger_append (world->ledger, &entry) == 0)
        SB_WARN ("ledger append failed for tweet %s", id);
    rep->status = 201;
    sb_buf_adds (&rep->body, "{\"data\":");
    s_render_tweet (&rep->body, tweet, 0);
    sb_buf_addc (&rep->body, '}');
    return;
oom:
    s_tweet_free (tweet);
    s_problem (rep, 500, "Internal Server Error", "about:blank", "out of memory");
}

/* POST /2/media/upload, multipart: media (the bytes), media_category. Images
 * only, recognised by their bytes (never decoded). */
static void
s_upload (s_x_t *self, const sb_req_t *req, const sb_params_t *params, sb_account_t *account,
          sb_reply_t *rep)
{
    const sb_config_t *c = self->world->config;
    if (!params) {
        s_invalid (rep, "media", "", "The request body could not be parsed as multipart/form-data");
        return;
    }
    size_t size = 0;
    const char *data = sb_params_get (params, "media", &size);
    const char *category = sb_params_get (params, "media_category", NULL);
    if (!data || size == 0) {
        s_invalid (rep, "media", "", "The `media` field is required: the image's bytes");
        return;
    }
    if (category && !s_one_of (category, s_media_categories)) {
        char msg[200];
        snprintf (msg, sizeof (msg),
                  "The `media_category` value [%.40s] is not one of [tweet_image, tweet_gif, "
                  "dm_image, dm_gif]",
                  category);
        s_invalid (rep, "media_category", category, msg);
        return;
    }
    const char *mime = sb_media_sniff (data, size);
    if (!mime) {
        s_invalid (rep, "media", "", S_MEDIA_TYPE_MESSAGE);
        return;
    }
    if ((int64_t) size > c->x_media_max_bytes) {
        char msg[160];
        snprintf (msg, sizeof (msg), "The media is too large: %zu bytes, the limit is %lld bytes",
                  size, (long long) c->x_media_max_bytes);
        s_invalid (rep, "media", "", msg);
        return;
    }
    s_media_t *m = calloc (1, sizeof (*m));
    if (!m) {
        s_problem (rep, 500, "Internal Server Error", "about:blank", "out of memory");
        return;
    }
    m->id = sb_world_next_id (self->world, req->now_us);
    m->owner = account->id;
    m->size = size;
    m->expires_us = req->now_us + (uint64_t) c->x_media_ttl_s * 1000000u;
    char key[24];
    snprintf (key, sizeof (key), "%llu", (unsigned long long) m->id);
    if (sb_map_put (self->media, key, m) != 0) {
        free (m);
        s_problem (rep, 500, "Internal Server Error", "about:blank", "out of memory");
        return;
    }
    rep->status = 200;
    sb_buf_printf (&rep->body,
                   "{\"data\":{\"id\":\"%s\",\"media_key\":\"3_%s\",\"size\":%zu,"
                   "\"expires_after_secs\":%lld,\"image\":{\"image_type\":\"%s\"}}}",
                   key, key, size, (long long) c->x_media_ttl_s, mime);
}

static void
s_lookup (s_x_t *self, const sb_req_t *req, const char *single, sb_reply_t *rep)
{
    unsigned fields;
    if (!s_fields (req, &fields, rep))
        return;
    int authors = s_expand_authors (req, rep);
    if (authors < 0)
        return;
    const char *ids = single ? single : sb_req_arg (req, "ids");
    if (single && strchr (single, ',')) {
        s_invalid (rep, "id", single, "The `id` path parameter value is not a numeric id");
        return;
    }
    if (!ids || !*ids) {
        s_invalid (rep, "ids", "", "The `ids` query parameter can not be empty");
        return;
    }
    char list[S_LOOKUP_MAX][24];
    size_t n = 0;
    for (const char *p = ids; *p;) {
        size_t len = strcspn (p, ",");
        uint64_t id;
        if (len == 0 || len >= sizeof (list[0]) || n == S_LOOKUP_MAX) {
            s_invalid (rep, "ids", ids, "The `ids` query parameter value must be 1 to 100 "
                                        "comma-separated numeric ids");
            return;
        }
        memcpy (list[n], p, len);
        list[n][len] = '\0';
        if (sb_parse_u64 (list[n], &id) != 0) {
            s_invalid (rep, "ids", list[n], "The `ids` query parameter value is not a numeric id");
            return;
        }
        n++;
        p += len;
        if (*p == ',')
            p++;
    }
    s_tweet_t *found[S_LOOKUP_MAX];
    size_t nfound = 0, nmissing = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t id = 0;
        sb_parse_u64 (list[i], &id);
        s_tweet_t *t = s_find_tweet (self, id);
        if (t)
            found[nfound++] = t;
        else
            nmissing++;
    }
    sb_buf_t *out = &rep->body;
    rep->status = 200;
    sb_buf_addc (out, '{');
    if (nfound) {
        sb_buf_adds (out, single ? "\"data\":" : "\"data\":[");
        for (size_t i = 0; i < nfound; i++) {
            if (i)
                sb_buf_addc (out, ',');
            s_render_tweet (out, found[i], fields);
        }
        if (!single)
            sb_buf_addc (out, ']');
        if (authors)
            s_render_includes (out, found, nfound);
    }
    if (nmissing) {
        sb_buf_adds (out, nfound ? ",\"errors\":[" : "\"errors\":[");
        size_t shown = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t id = 0;
            sb_parse_u64 (list[i], &id);
            if (s_find_tweet (self, id))
                continue;
            if (shown++)
                sb_buf_addc (out, ',');
            s_not_found_error (out, "tweet", single ? "id" : "ids", list[i]);
        }
        sb_buf_addc (out, ']');
    }
    sb_buf_addc (out, '}');
}

static void
s_user_list (s_x_t *self, const sb_req_t *req, const char *user_id, bool mentions,
             sb_reply_t *rep)
{
    uint64_t id;
    if (sb_parse_u64 (user_id, &id) != 0) {
        s_invalid (rep, "id", user_id, "The `id` path parameter value is not a numeric user id");
        return;
    }
    if (!s_user (self, id)) {
        rep->status = 200;
        sb_buf_adds (&rep->body, "{\"errors\":[");
        s_not_found_error (&rep->body, "user", "id", user_id);
        sb_buf_adds (&rep->body, "]}");
        return;
    }
    bool exclude_replies = false;
    const char *ex = sb_req_arg (req, "exclude");
    if (ex && !mentions)
        exclude_replies = strstr (ex, "replies") != NULL;
    s_render_page (req, s_index (mentions ? self->mentioned : self->timelines, id, false),
                   exclude_replies, rep);
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                   */

/* Splits "/2/users/123/tweets" into segments; returns the count (max + 1 if
 * there are too many or one is too long). */
static size_t
s_split (const char *path, char segs[][64], size_t max)
{
    size_t n = 0;
    const char *p = path;
    while (*p == '/')
        p++;
    while (*p && n < max) {
        size_t len = strcspn (p, "/");
        if (len >= 64)
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

typedef struct {
    s_endpoint_t ep;
    const char *arg; /* :id, if any (points into segs) */
} s_route_t;

static s_route_t
s_route (const sb_req_t *req, char segs[][64], size_t n)
{
    s_route_t r = { S_EP_NONE, NULL };
    bool get = sb_req_is (req, "GET"), post = sb_req_is (req, "POST");
    if (n < 2 || strcmp (segs[0], "2") != 0)
        return r;
    if (strcmp (segs[1], "tweets") == 0) {
        if (n == 2 && post)
            r.ep = S_EP_CREATE;
        else if (n == 2 && get)
            r.ep = S_EP_LOOKUP;
        else if (n == 3 && get) {
            r.ep = S_EP_LOOKUP;
            r.arg = segs[2];
        }
    }
    else if (n == 3 && post && strcmp (segs[1], "media") == 0 && strcmp (segs[2], "upload") == 0)
        r.ep = S_EP_MEDIA;
    else if (strcmp (segs[1], "users") == 0 && get) {
        if (n == 3 && strcmp (segs[2], "me") == 0)
            r.ep = S_EP_ME;
        else if (n == 4 && strcmp (segs[3], "tweets") == 0) {
            r.ep = S_EP_TIMELINE;
            r.arg = segs[2];
        }
        else if (n == 4 && strcmp (segs[3], "mentions") == 0) {
            r.ep = S_EP_MENTIONS;
            r.arg = segs[2];
        }
    }
    return r;
}

static void
s_handle (void *state, const sb_req_t *req, sb_reply_t *rep)
{
    s_x_t *self = state;
    sb_world_t *world = self->world;
    if (sb_oauth_x_handle (world, req, rep))   /* POST /2/oauth2/token */
        return;
    char segs[5][64];
    size_t n = s_split (req->path, segs, 5);
    s_route_t route = s_route (req, segs, n);
    if (route.ep == S_EP_NONE) {
        s_problem (rep, 404, "Not Found Error", S_TYPE_NOT_FOUND,
                   "The requested resource could not be found.");
        return;
    }
    /* Parse the body outside the lock. */
    json_t *body = NULL;
    if (route.ep == S_EP_CREATE)
        body = json_loadb (req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
    sb_params_t params;
    sb_params_status_t ps = SB_PARAMS_OK;
    if (route.ep == S_EP_MEDIA)
        ps = sb_params_parse (&params, req);
    const char *token = sb_req_bearer (req);
    sb_rate_t rate;
    bool rate_set = false;

    sb_world_lock (world);
    sb_account_t *account = token ? s_authenticate (self, token, req->now_us) : NULL;
    if (!account) {
        s_problem_json (rep, 401, S_JSON_UNAUTHORIZED);
        goto out;
    }
    s_rate (self, route.ep, account, req->now_us, 1, &rate);
    rate_set = true;
    if (!rate.allowed) {
        s_problem_json (rep, 429, S_JSON_TOO_MANY);
        goto out;
    }
    switch (route.ep) {
    case S_EP_CREATE: s_create (self, req, body, account, rep); break;
    case S_EP_LOOKUP: s_lookup (self, req, route.arg, rep); break;
    case S_EP_MEDIA: s_upload (self, req, ps == SB_PARAMS_OK ? &params : NULL, account, rep); break;
    case S_EP_ME:
        rep->status = 200;
        sb_buf_adds (&rep->body, "{\"data\":");
        s_render_user (&rep->body, account);
        sb_buf_addc (&rep->body, '}');
        break;
    case S_EP_TIMELINE: s_user_list (self, req, route.arg, false, rep); break;
    case S_EP_MENTIONS: s_user_list (self, req, route.arg, true, rep); break;
    case S_EP_NONE: break;
    }
out:
    if (rate_set)
        s_rate_headers (rep, &rate);
    sb_world_unlock (world);
    json_decref (body);
    if (route.ep == S_EP_MEDIA)
        sb_params_free (&params);
}

/* ------------------------------------------------------------------------ */
/* Platform interface                                                        */

static void *
s_create_state (sb_world_t *world)
{
    s_x_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->world = world;
    self->timelines = sb_map_new (sb_vec_free);
    self->mentioned = sb_map_new (sb_vec_free);
    self->media = sb_map_new (free);
    if (!self->timelines || !self->mentioned || !self->media) {
        sb_map_destroy (&self->timelines);
        sb_map_destroy (&self->mentioned);
        sb_map_destroy (&self->media);
        free (self);
        return NULL;
    }
    return self;
}

static void
s_reset (void *state)
{
    s_x_t *self = state;
    for (size_t i = 0; i < self->tweets.len; i++)
        s_tweet_free (self->tweets.items[i]);
    self->tweets.len = 0;
    sb_map_clear (self->timelines);
    sb_map_clear (self->mentioned);
    sb_map_clear (self->media);
}

static void
s_destroy (void **state_p)
{
    if (!state_p || !*state_p)
        return;
    s_x_t *self = *state_p;
    s_reset (self);
    free (self->tweets.items);
    sb_map_destroy (&self->timelines);
    sb_map_destroy (&self->mentioned);
    sb_map_destroy (&self->media);
    free (self);
    *state_p = NULL;
}

static bool
s_identify (void *state, const sb_req_t *req, char *handle, size_t cap)
{
    s_x_t *self = state;
    return sb_accounts_identify (self->world->accounts, S_PLATFORM, sb_req_bearer (req), 1024,
                                 self->world->config->open, handle, cap);
}

static void
s_fault (void *state, const sb_req_t *req, int status, sb_reply_t *rep)
{
    s_x_t *self = state;
    switch (status) {
    case 401: s_problem_json (rep, status, S_JSON_UNAUTHORIZED); break;
    /* the answer an app without read access gets: the realistic 403 of a read */
    case 403: s_problem_json (rep, status, S_JSON_CLIENT_FORBIDDEN); break;
    case 429: {
        s_problem_json (rep, status, S_JSON_TOO_MANY);
        char segs[5][64];
        size_t n = s_split (req->path, segs, 5);
        s_route_t route = s_route (req, segs, n);
        const char *token = sb_req_bearer (req);
        char handle[SB_HANDLE_MAX];
        if (token && route.ep != S_EP_NONE) {
            sb_world_lock (self->world);
            /* the account, without creating it (--open creates on real use) */
            sb_account_t *a = NULL;
            if (s_identify (self, req, handle, sizeof (handle)))
                a = sb_accounts_find (self->world->accounts, S_PLATFORM, handle);
            sb_rate_t rate;
            if (a) {
                s_rate (self, route.ep, a, req->now_us, 0, &rate);
                rate.remaining = 0;
                s_rate_headers (rep, &rate);
            }
            sb_world_unlock (self->world);
        }
        break;
    }
    default: {
        const char *reason = sb_http_reason (status);
        s_problem (rep, status, reason, "about:blank", reason);
        break;
    }
    }
}

/* {"platform":"x","account":"alice","from":"bob","text":"..",
 *  "in_reply_to_id":"<a tweet>"}: bob tweets "@alice ..." */
static int
s_mention (void *state, const json_t *spec, sb_buf_t *out)
{
    s_x_t *self = state;
    sb_world_t *world = self->world;
    uint64_t now = sb_now_us ();
    const char *to = json_string_value (json_object_get (spec, "account"));
    const char *from = json_string_value (json_object_get (spec, "from"));
    const char *text = json_string_value (json_object_get (spec, "text"));
    const json_t *reply = json_object_get (spec, "in_reply_to_id");
    if (!to || !from || !sb_accounts_handle_valid (from)) {
        sb_buf_adds (out, "{\"error\":\"'account' and 'from' (a valid handle) are required\"}");
        return 422;
    }
    sb_account_t *target = sb_accounts_find (world->accounts, S_PLATFORM, to);
    if (!target) {
        sb_buf_adds (out, "{\"error\":\"unknown account\"}");
        return 404;
    }
    s_tweet_t *parent = NULL;
    if (reply && !json_is_null (reply)) {
        uint64_t pid = 0;
        const char *rs = json_string_value (reply);
        if (!rs || sb_parse_u64 (rs, &pid) != 0 || !(parent = s_find_tweet (self, pid))) {
            sb_buf_adds (out, "{\"error\":\"in_reply_to_id: no such tweet\"}");
            return 422;
        }
    }
    if (!text)
        text = "";
    sb_account_t *sender = sb_accounts_ensure (world->accounts, S_PLATFORM, from,
                                               sb_world_next_id (world, now), now);
    sb_vec_t *timeline = sender ? s_index (self->timelines, sender->id, true) : NULL;
    sb_vec_t *mentions = s_index (self->mentioned, target->id, true);
    s_tweet_t *tweet = calloc (1, sizeof (*tweet));
    if (!sender || !timeline || !mentions || !tweet)
        goto oom;
    /* the text starts with the mention, as X shows replies */
    size_t tlen = strlen (to);
    bool has = text[0] == '@' && strncmp (text + 1, to, tlen) == 0
               && (text[tlen + 1] == ' ' || text[tlen + 1] == '\0');
    size_t cap = tlen + strlen (text) + 3;
    tweet->text = malloc (cap);
    if (!tweet->text)
        goto oom;
    if (has)
        snprintf (tweet->text, cap, "%s", text);
    else
        snprintf (tweet->text, cap, "@%s %s", to, text);
    tweet->id = sb_world_next_id (world, now);
    tweet->author = sender;
    tweet->mention = target;
    tweet->created_us = now;
    tweet->conversation_id = parent ? parent->conversation_id : tweet->id;
    if (parent) {
        tweet->in_reply_to_id = parent->id;
        tweet->in_reply_to_user_id = parent->author->id;
    }
    if (sb_vec_push (&self->tweets, tweet, S_VEC_FIRST) != 0)
        goto oom;
    if (sb_vec_push (timeline, tweet, S_VEC_FIRST) != 0) {
        self->tweets.len--;
        goto oom;
    }
    if (sb_vec_push (mentions, tweet, S_VEC_FIRST) != 0) {
        self->tweets.len--;
        timeline->len--;
        goto oom;
    }
    if (parent)
        parent->reply_count++;
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_id (out, tweet->id);
    sb_buf_adds (out, ",\"author_id\":");
    sb_buf_add_json_id (out, sender->id);
    sb_buf_addc (out, '}');
    return 201;
oom:
    s_tweet_free (tweet);
    sb_buf_adds (out, "{\"error\":\"out of memory\"}");
    return 500;
}

const sb_platform_t sb_x_platform = {
    .name = S_PLATFORM,
    .prefix = "/x",
    .create = s_create_state,
    .destroy = s_destroy,
    .reset = s_reset,
    .identify = s_identify,
    .handle = s_handle,
    .fault = s_fault,
    .mention = s_mention,
};
