/*
 * sb_bluesky: Bluesky (AT Protocol, XRPC), mounted under /bluesky: an
 * account's api_base is http://HOST:PORT/bluesky and its methods are
 * /bluesky/xrpc/<NSID>, as on a PDS (https://bsky.social/xrpc/<NSID>).
 *
 * Answers like a PDS (with the AppView reads it proxies) for what Crieur uses:
 *   com.atproto.server.createSession   identifier + app password -> session
 *   com.atproto.server.refreshSession  Bearer refreshJwt -> new pair (rotation)
 *   com.atproto.server.getSession      Bearer accessJwt -> did, handle
 *   com.atproto.repo.createRecord      client rkey optional; posts validated
 *   com.atproto.repo.getRecord         read-back (auth optional)
 *   com.atproto.repo.listRecords       read-back, by rkey, cursor
 *   com.atproto.repo.uploadBlob        raw bytes -> blob ref
 *   app.bsky.feed.getPosts             uris (max 25) with like/repost/reply/quote counts
 *   app.bsky.notification.listNotifications  reasons filter, cursor (older)
 *
 * Vocabulary: a *session* is an access token (accessJwt, short-lived) and a
 * refresh token (refreshJwt, 90 days) issued by createSession for an
 * identifier (handle or did) and an app password (the account's sandbox
 * token). Refreshing *rotates*: the refresh token used stops working and a new
 * pair is issued; older access tokens stay valid until they expire, like the
 * PDS's stateless JWTs. A *record* lives in a repo (one per account, named by
 * its did) under collection/rkey; its at:// URI is at://<did>/<collection>/<rkey>.
 *
 * Errors are XRPC's {"error":"Name","message":".."}: an expired access token
 * is 400 ExpiredToken "Token has expired" (400, not 401); a token this server
 * did not issue 400 InvalidToken; the wrong kind of token 400 InvalidToken
 * "Bad token scope"; a rotated refresh token 400 ExpiredToken "Token has been
 * revoked" (the PDS's answer); no token 401 AuthenticationRequired; a wrong
 * password 401 AuthenticationRequired "Invalid identifier or password".
 * Revoking an app password through the control API revokes the sessions made
 * with it at once (ExpiredToken "Token has been revoked").
 *
 * Choices where the real service is unconfirmed or differs (see README):
 *  - A repeated rkey: 400 InvalidRequest "Record already exists" by default;
 *    --bluesky-duplicate-status 500 answers 500 InternalServerError instead,
 *    which is what the reference PDS's repository tree error most likely
 *    gives. Nothing is written either way.
 *  - The sandbox is stricter than the PDS on purpose: a post's rkey must be a
 *    TID (the lexicon's key type; the PDS checks only the generic record-key
 *    syntax and the AppView ignores posts without one), and a facet's byte
 *    range must lie inside the text on character boundaries (the PDS accepts
 *    any, the AppView drops bad ones): adapter bugs show up as 400s.
 *  - Record validation errors carry the PDS's prefix: "Invalid
 *    app.bsky.feed.post record: Record/text must not be longer than 300
 *    graphemes". Graphemes are counted with an approximation of UAX #29
 *    (combining marks, variation selectors, skin tones, ZWJ sequences, flag
 *    pairs and keycaps extend the previous character).
 *  - Write points per account: createRecord costs 3, over an hourly window
 *    (--bluesky-write-points 5000, --bluesky-write-window-s 3600, window
 *    opened by the first write) and a daily 35000. Points are spent before
 *    validation, as the PDS's rate limiter does. createSession: 30 per 5 min
 *    per identifier (--bluesky-session-window-s shortens the 5 min). The
 *    3000 / 5 min per IP limit is not imitated.
 *    RateLimit-Limit/-Remaining/-Reset (epoch s)/-Policy on those answers.
 *  - uploadBlob refuses more than 2,000,000 bytes (the post image limit); the
 *    sandbox server refuses any body over 1 MiB before that (413). A blob's
 *    mimeType is sniffed from its bytes (JPEG, PNG, GIF, WebP), else the
 *    request's Content-Type, as the PDS does. Blobs belong to the account
 *    that uploaded them. An images embed is checked as the PDS checks it:
 *    each blob exists in the author's repo ("Could not find blob"), the
 *    record's mimeType is the stored one ("Referenced Mimetype does not match
 *    stored blob"), and it is an image (the lexicon's accept image/...; wording
 *    unconfirmed); alt is required (may be "").
 *  - Replies: root and parent must be strong refs {uri, cid} of existing
 *    posts, with their current cid. The PDS accepts any well-formed strongRef
 *    but the AppView drops a reply whose parent it cannot find (the post
 *    never shows in the thread): the sandbox takes the stricter check and
 *    answers 400 InvalidRequest "Invalid app.bsky.feed.post record:
 *    Record/reply/parent not found: <uri>" (wording the sandbox's own).
 *  - Handles are "<sandbox handle>.bsky.social"; dids "did:plc:" + 24 base32
 *    characters derived from the account id; CIDs are fake but well formed.
 *  - Ledger entries (posts only): platform "bluesky", account the sandbox
 *    handle, id the at:// URI, idempotency_key the client's rkey (NULL when
 *    the server chose it), url http://HOST:PORT/bluesky/profile/<handle>/post/<rkey>
 *    (bsky.app's shape on the sandbox host).
 *
 * All state is guarded by the world lock; bodies are parsed outside it.
 */
#include "sb_log.h"
#include "sb_map.h"
#include "sb_media.h"
#include "sb_text.h"
#include "sb_vec.h"
#include "sb_world.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_VEC_FIRST 32 /* first capacity of a list */

#define S_PLATFORM "bluesky"
#define S_HANDLE_SUFFIX ".bsky.social"
#define S_AUD "did:web:sandbox.bsky.crieur"
#define S_POST "app.bsky.feed.post"
#define S_LIKE "app.bsky.feed.like"
#define S_REPOST "app.bsky.feed.repost"
#define S_FOLLOW "app.bsky.graph.follow"
#define S_MAX_GRAPHEMES 300
#define S_MAX_TEXT_BYTES 3000
#define S_MAX_LANGS 3
#define S_TAG_MAX_GRAPHEMES 64
#define S_TAG_MAX_BYTES 640
#define S_MAX_IMAGES 4
#define S_MAX_BLOB_BYTES 2000000u
#define S_REFRESH_TTL_S (90ll * 86400)
#define S_SESSION_LIMIT 30
#define S_WRITE_DAY_LIMIT 35000
#define S_WRITE_DAY_WINDOW_S 86400
#define S_CREATE_POINTS 3
#define S_PAGE_DEFAULT 50
#define S_PAGE_MAX 100
#define S_GET_POSTS_MAX 25
#define S_MAX_REASONS 16
#define S_MAX_RKEY 512
#define S_SWEEP_EVERY 256 /* token issues between sweeps of expired tokens */
#define S_CLOCK_ID 0x1b3u /* TIDs of this server */

static const char s_b32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char s_b32sort[] = "234567abcdefghijklmnopqrstuvwxyz";

typedef enum { S_ACCESS, S_REFRESH } s_kind_t;

typedef struct {
    s_kind_t kind;
    sb_account_t *account; /* owned by the accounts module; reset together */
    char *password;        /* the app password the session came from */
    uint64_t exp_us;
    bool rotated;          /* a refresh token already used */
} s_token_t;

typedef struct {
    char *uri;
    char *collection;
    char *rkey;
    char cid[64];
    json_t *value;
    sb_account_t *author;
    uint64_t created_us;
    int64_t likes, reposts, replies, quotes;
} s_record_t;

typedef struct {
    uint64_t seq;
    sb_account_t *to, *from;
    char reason[16];
    s_record_t *record; /* borrowed: the like, reply, mention... */
    char *subject;      /* reasonSubject, or NULL */
} s_notif_t;

typedef struct {
    sb_account_t *owner;
    char mime[96];
    size_t size;
} s_blob_t;

/* Session calls of one account (GET /_sandbox/sessions), whatever they were
 * answered: a client that asks for a session per request shows here. */
typedef struct {
    uint64_t create_calls, created, create_limited;
    uint64_t refresh_calls, refreshed;
} s_counts_t;

typedef struct {
    sb_world_t *world;
    sb_map_t *tokens;  /* jwt -> s_token_t (owned) */
    sb_map_t *records; /* uri -> s_record_t (owned) */
    sb_map_t *repos;   /* did -> sb_vec_t of s_record_t * (borrowed), creation order */
    sb_map_t *dids;    /* did -> sb_account_t (borrowed) */
    sb_map_t *blobs;   /* "<account id>/<cid>" -> s_blob_t (owned) */
    sb_map_t *sessions; /* handle -> s_counts_t (owned): session calls */
    sb_vec_t notifs;    /* s_notif_t * (owned), seq order */
    uint64_t token_seq, notif_seq, tid_last;
    size_t issued;     /* tokens issued since the last sweep */
} s_bsky_t;

/* ------------------------------------------------------------------------ */
/* Containers and identifiers                                                */

static void
s_token_free (void *p)
{
    s_token_t *t = p;
    if (!t)
        return;
    free (t->password);
    free (t);
}

static void
s_record_free (void *p)
{
    s_record_t *r = p;
    if (!r)
        return;
    free (r->uri);
    free (r->collection);
    free (r->rkey);
    json_decref (r->value);
    free (r);
}

static void
s_blob_free (void *p)
{
    free (p);
}

static uint64_t
s_mix (uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t
s_hash (const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull ^ s_mix (seed);
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return s_mix (h);
}

/* n base32 characters from a hash stream. */
static void
s_b32_from (uint64_t seed, size_t n, char *out)
{
    uint64_t h = s_mix (seed);
    for (size_t i = 0; i < n; i++) {
        if (i % 12 == 0)
            h = s_mix (h + i);
        out[i] = s_b32[h & 31u];
        h >>= 5;
    }
    out[n] = '\0';
}

static void
s_tid_encode (uint64_t v, char out[14])
{
    for (int i = 12; i >= 0; i--) {
        out[i] = s_b32sort[v & 31u];
        v >>= 5;
    }
    out[13] = '\0';
}

/* Lock held. A TID of this server's clock, always increasing. */
static void
s_tid_next (s_bsky_t *self, uint64_t now_us, char out[14])
{
    uint64_t us = now_us & ((1ull << 53) - 1);
    if (us <= self->tid_last)
        us = self->tid_last + 1;
    self->tid_last = us;
    s_tid_encode ((us << 10) | S_CLOCK_ID, out);
}

static bool
s_tid_valid (const char *s)
{
    if (strlen (s) != 13 || !strchr ("234567abcdefghij", s[0]))
        return false;
    for (size_t i = 0; i < 13; i++)
        if (!s[i] || !strchr (s_b32sort, s[i]))
            return false;
    return true;
}

/* The record-key syntax: 1-512 of [A-Za-z0-9._:~-], not "." or "..". */
static bool
s_rkey_valid (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > S_MAX_RKEY || !strcmp (s, ".") || !strcmp (s, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || strchr ("._:~-", c)))
            return false;
    }
    return true;
}

/* NSID: dot-separated segments of [A-Za-z0-9-], at least three. */
static bool
s_nsid_valid (const char *s)
{
    size_t n = strlen (s), dots = 0, seg = 0;
    if (n == 0 || n > 317)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (seg == 0)
                return false;
            dots++;
            seg = 0;
        }
        else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                 || c == '-')
            seg++;
        else
            return false;
    }
    return dots >= 2 && seg > 0;
}

static void
s_full_handle (const sb_account_t *a, char *out, size_t cap)
{
    snprintf (out, cap, "%s%s", a->handle, S_HANDLE_SUFFIX);
}

/* Lock held. The account's did (registered for lookups). */
static void
s_did (s_bsky_t *self, sb_account_t *a, char out[33])
{
    memcpy (out, "did:plc:", 8);
    s_b32_from (a->id ^ 0x5b5eedull, 24, out + 8);
    if (!sb_map_get (self->dids, out) && sb_map_put (self->dids, out, a) != 0)
        SB_WARN ("bluesky: out of memory registering %s", out);
}

/* Lock held. The account a handle, "@handle", full handle or did names. */
static sb_account_t *
s_resolve (s_bsky_t *self, const char *name)
{
    if (!name || !*name)
        return NULL;
    if (strncmp (name, "did:", 4) == 0)
        return sb_map_get (self->dids, name);
    char h[SB_HANDLE_MAX];
    if (*name == '@')
        name++;
    size_t n = strlen (name), sl = strlen (S_HANDLE_SUFFIX);
    if (n > sl && strcasecmp (name + n - sl, S_HANDLE_SUFFIX) == 0)
        n -= sl;
    if (n == 0 || n >= sizeof (h))
        return NULL;
    memcpy (h, name, n);
    h[n] = '\0';
    return sb_accounts_find (self->world->accounts, S_PLATFORM, h);
}

/* The sandbox handle an identifier names, without looking it up ("" if it
 * cannot be one). */
static void
s_identifier_handle (const char *ident, char *out, size_t cap)
{
    out[0] = '\0';
    if (*ident == '@')
        ident++;
    size_t n = strlen (ident), sl = strlen (S_HANDLE_SUFFIX);
    if (n > sl && strcasecmp (ident + n - sl, S_HANDLE_SUFFIX) == 0)
        n -= sl;
    if (n == 0 || n >= cap || n >= SB_HANDLE_MAX)
        return;
    memcpy (out, ident, n);
    out[n] = '\0';
    if (!sb_accounts_handle_valid (out))
        out[0] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Text                                                                      */

/* Code points that never start a grapheme (approximation of UAX #29's
 * Extend and SpacingMark for the scripts agencies use). */
static bool
s_extends (uint32_t cp)
{
    return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x0483 && cp <= 0x0489)
           || (cp >= 0x0591 && cp <= 0x05BD) || (cp >= 0x0610 && cp <= 0x061A)
           || (cp >= 0x064B && cp <= 0x065F) || cp == 0x0670 || (cp >= 0x06D6 && cp <= 0x06DC)
           || (cp >= 0x0900 && cp <= 0x0903) || (cp >= 0x093A && cp <= 0x094F && cp != 0x093D)
           || (cp >= 0x0E31 && cp <= 0x0E3A && cp != 0x0E32 && cp != 0x0E33)
           || (cp >= 0x0E47 && cp <= 0x0E4E) || (cp >= 0x1160 && cp <= 0x11FF)
           || (cp >= 0x1AB0 && cp <= 0x1AFF) || (cp >= 0x1DC0 && cp <= 0x1DFF) || cp == 0x200C
           || (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0x3099 && cp <= 0x309A)
           || (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xFE20 && cp <= 0xFE2F)
           || (cp >= 0x1F3FB && cp <= 0x1F3FF) || (cp >= 0xE0020 && cp <= 0xE007F)
           || (cp >= 0xE0100 && cp <= 0xE01EF);
}

static size_t
s_graphemes (const char *text, size_t len)
{
    size_t count = 0, i = 0;
    uint32_t prev = 0;
    bool joined = false, flag_open = false;
    while (i < len) {
        uint32_t cp;
        i += sb_utf8_next (text + i, len - i, &cp);
        if (joined) { /* the character after a ZWJ belongs to the sequence */
            joined = false;
            prev = cp;
            continue;
        }
        if (cp == 0x200D) {
            joined = count > 0;
            continue;
        }
        if (s_extends (cp) && count > 0)
            continue;
        if (cp == '\n' && prev == '\r')
            continue;
        if (cp >= 0x1F1E6 && cp <= 0x1F1FF) {
            if (flag_open) {
                flag_open = false;
                continue;
            }
            flag_open = true;
        }
        else
            flag_open = false;
        count++;
        prev = cp;
    }
    return count;
}

/* atproto datetime: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), not -00:00. */
static bool
s_datetime_valid (const char *s)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd";
    size_t n = strlen (s);
    if (n < 20)
        return false;
    for (size_t i = 0; i < 19; i++) {
        if (pattern[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pattern[i])
            return false;
    }
    int mo = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    int h = (s[11] - '0') * 10 + (s[12] - '0'), mi = (s[14] - '0') * 10 + (s[15] - '0');
    int sec = (s[17] - '0') * 10 + (s[18] - '0');
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60
        || memcmp (s, "0000", 4) == 0)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (!strcmp (p, "Z"))
        return true;
    if ((p[0] != '+' && p[0] != '-') || strlen (p) != 6 || p[3] != ':' || !strcmp (p, "-00:00"))
        return false;
    for (int i = 1; i < 6; i++)
        if (i != 3 && (p[i] < '0' || p[i] > '9'))
            return false;
    return true;
}

/* A byte offset on a character boundary of valid UTF-8. */
static bool
s_boundary (const char *text, size_t len, json_int_t at)
{
    if (at < 0 || (size_t) at > len)
        return false;
    return (size_t) at == len || ((unsigned char) text[at] & 0xC0) != 0x80;
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                   */

static void
s_error (sb_reply_t *rep, int status, const char *error, const char *message)
{
    rep->status = status;
    sb_buf_reset (&rep->body);
    sb_buf_adds (&rep->body, "{\"error\":");
    sb_buf_add_json_str (&rep->body, error);
    if (message) {
        sb_buf_adds (&rep->body, ",\"message\":");
        sb_buf_add_json_str (&rep->body, message);
    }
    sb_buf_addc (&rep->body, '}');
}

static void
s_invalid (sb_reply_t *rep, const char *message)
{
    s_error (rep, 400, "InvalidRequest", message);
}

/* A post record refused by the lexicon, with the PDS's prefix. */
static void
s_invalid_record (sb_reply_t *rep, const char *what)
{
    char msg[512];
    snprintf (msg, sizeof (msg), "Invalid " S_POST " record: %s", what);
    s_invalid (rep, msg);
}

static void
s_rate_headers (sb_reply_t *rep, const sb_rate_t *rate, int64_t window_s)
{
    char v[48];
    snprintf (v, sizeof (v), "%lld", (long long) rate->limit);
    sb_reply_header (rep, "RateLimit-Limit", v);
    snprintf (v, sizeof (v), "%lld", (long long) rate->remaining);
    sb_reply_header (rep, "RateLimit-Remaining", v);
    snprintf (v, sizeof (v), "%llu", (unsigned long long) ((rate->reset_us + 999999u) / 1000000u));
    sb_reply_header (rep, "RateLimit-Reset", v);
    snprintf (v, sizeof (v), "%lld;w=%lld", (long long) rate->limit, (long long) window_s);
    sb_reply_header (rep, "RateLimit-Policy", v);
}

static void
s_add_json (sb_buf_t *out, const json_t *value)
{
    char *s = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) {
        sb_buf_adds (out, "null");
        return;
    }
    sb_buf_adds (out, s);
    free (s);
}

static void
s_render_author (s_bsky_t *self, sb_buf_t *out, sb_account_t *a)
{
    char did[33], handle[SB_HANDLE_MAX + 16];
    s_did (self, a, did);
    s_full_handle (a, handle, sizeof (handle));
    sb_buf_adds (out, "{\"did\":");
    sb_buf_add_json_str (out, did);
    sb_buf_adds (out, ",\"handle\":");
    sb_buf_add_json_str (out, handle);
    sb_buf_adds (out, ",\"displayName\":");
    sb_buf_add_json_str (out, a->handle);
    sb_buf_adds (out, ",\"labels\":[]}");
}

/* {"uri","cid","value"} */
static void
s_render_record (sb_buf_t *out, const s_record_t *r)
{
    sb_buf_adds (out, "{\"uri\":");
    sb_buf_add_json_str (out, r->uri);
    sb_buf_adds (out, ",\"cid\":");
    sb_buf_add_json_str (out, r->cid);
    sb_buf_adds (out, ",\"value\":");
    s_add_json (out, r->value);
    sb_buf_addc (out, '}');
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */

static void
s_b64url (sb_buf_t *out, const void *data, size_t len)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
        char q[4] = { a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63], a[v & 63] };
        sb_buf_add (out, q, 4);
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t) p[i] << 16;
        char q[2] = { a[v >> 18], a[(v >> 12) & 63] };
        sb_buf_add (out, q, 2);
    }
    else if (len - i == 2) {
        uint32_t v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8;
        char q[3] = { a[v >> 18], a[(v >> 12) & 63], a[(v >> 6) & 63] };
        sb_buf_add (out, q, 3);
    }
}

/* Lock held. A JWT-shaped token (header.payload.signature) whose payload
 * carries the PDS's claims; registered in the token map. NULL out of memory. */
static char *
s_issue (s_bsky_t *self, sb_account_t *a, s_kind_t kind, const char *password, uint64_t now_us)
{
    char did[33], payload[512], jti[20];
    s_did (self, a, did);
    uint64_t seq = ++self->token_seq;
    uint64_t now_s = now_us / 1000000u;
    uint64_t ttl = kind == S_ACCESS ? (uint64_t) self->world->config->bluesky_access_ttl_s
                                    : (uint64_t) S_REFRESH_TTL_S;
    s_b32_from (seq ^ now_us, 16, jti);
    if (kind == S_ACCESS)
        snprintf (payload, sizeof (payload),
                  "{\"scope\":\"com.atproto.appPass\",\"sub\":\"%s\",\"iat\":%llu,\"exp\":%llu,"
                  "\"aud\":\"" S_AUD "\"}",
                  did, (unsigned long long) now_s, (unsigned long long) (now_s + ttl));
    else
        snprintf (payload, sizeof (payload),
                  "{\"scope\":\"com.atproto.refresh\",\"sub\":\"%s\",\"aud\":\"" S_AUD
                  "\",\"jti\":\"%s\",\"iat\":%llu,\"exp\":%llu}",
                  did, jti, (unsigned long long) now_s, (unsigned long long) (now_s + ttl));
    const char *header = kind == S_ACCESS ? "{\"typ\":\"at+jwt\",\"alg\":\"ES256K\"}"
                                          : "{\"typ\":\"refresh+jwt\",\"alg\":\"ES256K\"}";
    unsigned char sig[48];
    for (size_t i = 0; i < sizeof (sig); i += 8) {
        uint64_t h = s_mix (seq * 0x100000001b3ull + i + now_us);
        memcpy (sig + i, &h, 8);
    }
    sb_buf_t jwt;
    sb_buf_init (&jwt);
    s_b64url (&jwt, header, strlen (header));
    sb_buf_addc (&jwt, '.');
    s_b64url (&jwt, payload, strlen (payload));
    sb_buf_addc (&jwt, '.');
    s_b64url (&jwt, sig, sizeof (sig));
    s_token_t *t = calloc (1, sizeof (*t));
    char *token = sb_buf_ok (&jwt) ? sb_buf_steal (&jwt, NULL) : NULL;
    sb_buf_free (&jwt);
    if (!t || !token || !(t->password = strdup (password ? password : ""))) {
        s_token_free (t);
        free (token);
        return NULL;
    }
    t->kind = kind;
    t->account = a;
    t->exp_us = now_us + ttl * 1000000u;
    if (sb_map_put (self->tokens, token, t) != 0) {
        s_token_free (t);
        free (token);
        return NULL;
    }
    self->issued++;
    return token;
}

typedef struct {
    uint64_t now_us;
    char **keys;
    size_t n, cap;
} s_sweep_t;

static bool
s_sweep_one (const char *key, void *value, void *arg)
{
    s_sweep_t *s = arg;
    const s_token_t *t = value;
    if (t->exp_us < s->now_us && s->n < s->cap) {
        s->keys[s->n] = strdup (key);
        if (s->keys[s->n])
            s->n++;
    }
    return s->n < s->cap;
}

/* Lock held. Forgets expired tokens now and then (rotated refresh tokens are
 * kept until their expiry, to answer "Token has been revoked"). */
static void
s_sweep (s_bsky_t *self, uint64_t now_us)
{
    if (self->issued < S_SWEEP_EVERY)
        return;
    self->issued = 0;
    s_sweep_t s = { now_us, NULL, 0, 4096 };
    s.keys = calloc (s.cap, sizeof (*s.keys));
    if (!s.keys)
        return;
    sb_map_each (self->tokens, s_sweep_one, &s);
    for (size_t i = 0; i < s.n; i++) {
        sb_map_delete (self->tokens, s.keys[i]);
        free (s.keys[i]);
    }
    free (s.keys);
}

/* Lock held. Checks the request's bearer token of the given kind; on failure
 * fills rep and returns NULL. With --open, an access token this server did
 * not issue names an account that is created on first use. */
static sb_account_t *
s_auth (s_bsky_t *self, const sb_req_t *req, s_kind_t kind, s_token_t **token_out,
        sb_reply_t *rep)
{
    sb_world_t *world = self->world;
    const char *bearer = sb_req_bearer (req);
    if (token_out)
        *token_out = NULL;
    if (!bearer) {
        s_error (rep, 401, "AuthenticationRequired", "Authentication Required");
        return NULL;
    }
    s_token_t *t = strlen (bearer) <= 4096 ? sb_map_get (self->tokens, bearer) : NULL;
    if (!t) {
        if (world->config->open && kind == S_ACCESS && strlen (bearer) <= 1024
            && !sb_accounts_revoked (world->accounts, bearer)) {
            char handle[SB_HANDLE_MAX];
            sb_accounts_open_handle (bearer, handle, sizeof (handle));
            sb_account_t *a = sb_accounts_ensure (world->accounts, S_PLATFORM, handle,
                                                  sb_world_next_id (world, req->now_us),
                                                  req->now_us);
            if (a)
                return a;
        }
        s_error (rep, 400, "InvalidToken", "Token could not be verified");
        return NULL;
    }
    if (t->kind != kind) {
        s_error (rep, 400, "InvalidToken", "Bad token scope");
        return NULL;
    }
    if (t->rotated || sb_accounts_revoked (world->accounts, t->password)) {
        s_error (rep, 400, "ExpiredToken", "Token has been revoked");
        return NULL;
    }
    if (req->now_us >= t->exp_us) {
        s_error (rep, 400, "ExpiredToken", "Token has expired");
        return NULL;
    }
    if (token_out)
        *token_out = t;
    return t->account;
}

/* Lock held. 200 {"did","handle","accessJwt","refreshJwt","active"}. */
static void
s_session_reply (s_bsky_t *self, sb_account_t *a, const char *password, uint64_t now_us,
                 sb_reply_t *rep)
{
    char *access = s_issue (self, a, S_ACCESS, password, now_us);
    char *refresh = access ? s_issue (self, a, S_REFRESH, password, now_us) : NULL;
    if (!refresh) {
        if (access)
            sb_map_delete (self->tokens, access);
        free (access);
        s_error (rep, 500, "InternalServerError", "Internal Server Error");
        return;
    }
    char did[33], handle[SB_HANDLE_MAX + 16];
    s_did (self, a, did);
    s_full_handle (a, handle, sizeof (handle));
    rep->status = 200;
    sb_buf_reset (&rep->body);
    sb_buf_adds (&rep->body, "{\"did\":");
    sb_buf_add_json_str (&rep->body, did);
    sb_buf_adds (&rep->body, ",\"handle\":");
    sb_buf_add_json_str (&rep->body, handle);
    sb_buf_adds (&rep->body, ",\"accessJwt\":");
    sb_buf_add_json_str (&rep->body, access);
    sb_buf_adds (&rep->body, ",\"refreshJwt\":");
    sb_buf_add_json_str (&rep->body, refresh);
    sb_buf_adds (&rep->body, ",\"active\":true}");
    free (access);
    free (refresh);
    s_sweep (self, now_us);
}

/* Lock held. The counters of handle (created on first use; NULL out of memory). */
static s_counts_t *
s_counts (s_bsky_t *self, const char *handle)
{
    if (!handle || !*handle)
        return NULL;
    s_counts_t *c = sb_map_get (self->sessions, handle);
    if (!c && (c = calloc (1, sizeof (*c))) && sb_map_put (self->sessions, handle, c) != 0) {
        free (c);
        c = NULL;
    }
    return c;
}

/* createSession {"identifier","password"} (body parsed by the caller). */
static void
s_create_session (s_bsky_t *self, const sb_req_t *req, json_t *body, sb_reply_t *rep)
{
    sb_world_t *world = self->world;
    const char *ident = json_string_value (json_object_get (body, "identifier"));
    const char *password = json_string_value (json_object_get (body, "password"));
    if (!json_is_object (body)) {
        s_invalid (rep, "Input must be an object");
        return;
    }
    if (!ident) {
        s_invalid (rep, "Input must have the property \"identifier\"");
        return;
    }
    if (!password) {
        s_invalid (rep, "Input must have the property \"password\"");
        return;
    }
    /* limited per identifier, before anything else */
    char key[300];
    size_t n = 0;
    for (const char *p = ident; *p && n < 200; p++)
        key[n++] = (*p >= 'A' && *p <= 'Z') ? (char) (*p - 'A' + 'a') : *p;
    key[n] = '\0';
    char rkey[320];
    snprintf (rkey, sizeof (rkey), "bluesky/session/%s", key);
    sb_account_t *a = s_resolve (self, ident);
    char counted[SB_HANDLE_MAX];
    if (a)
        snprintf (counted, sizeof (counted), "%s", a->handle);
    else
        s_identifier_handle (ident, counted, sizeof (counted));
    s_counts_t *counts = s_counts (self, counted);
    if (counts)
        counts->create_calls++;
    sb_rate_t rate;
    int64_t window_s = world->config->bluesky_session_window_s;
    sb_ratelimit_hit (world->rates, rkey, S_SESSION_LIMIT, window_s, SB_WINDOW_FIRST_HIT,
                      req->now_us, 1, &rate);
    s_rate_headers (rep, &rate, window_s);
    if (!rate.allowed) {
        if (counts)
            counts->create_limited++;
        s_error (rep, 429, "RateLimitExceeded", "Rate Limit Exceeded");
        return;
    }
    bool revoked = strlen (password) > 1024 || sb_accounts_revoked (world->accounts, password);
    if (!revoked && *password && world->config->open) {
        if (!a) {
            char handle[SB_HANDLE_MAX];
            s_identifier_handle (ident, handle, sizeof (handle));
            if (!handle[0])
                sb_accounts_open_handle (ident, handle, sizeof (handle));
            a = sb_accounts_ensure (world->accounts, S_PLATFORM, handle,
                                    sb_world_next_id (world, req->now_us), req->now_us);
        }
        if (a && sb_accounts_by_token (world->accounts, S_PLATFORM, password) != a
            && sb_accounts_add_token (world->accounts, a, password) != 0)
            a = NULL;
    }
    if (!a || revoked || sb_accounts_by_token (world->accounts, S_PLATFORM, password) != a) {
        s_error (rep, 401, "AuthenticationRequired", "Invalid identifier or password");
        return;
    }
    s_session_reply (self, a, password, req->now_us, rep);
    if (counts && rep->status == 200)
        counts->created++;
}

static void
s_refresh_session (s_bsky_t *self, const sb_req_t *req, sb_reply_t *rep)
{
    const char *bearer = sb_req_bearer (req);
    s_token_t *known = bearer && strlen (bearer) <= 4096 ? sb_map_get (self->tokens, bearer) : NULL;
    s_counts_t *counts = known ? s_counts (self, known->account->handle) : NULL;
    if (counts)
        counts->refresh_calls++;
    s_token_t *t;
    sb_account_t *a = s_auth (self, req, S_REFRESH, &t, rep);
    if (!a)
        return;
    /* rotation: this refresh token is spent whatever happens next */
    t->rotated = true;
    char *password = strdup (t->password);
    if (!password) {
        s_error (rep, 500, "InternalServerError", "Internal Server Error");
        return;
    }
    s_session_reply (self, a, password, req->now_us, rep);
    free (password);
    if (counts && rep->status == 200)
        counts->refreshed++;
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */

/* Lock held. The repo an account's records are listed in (created). */
static sb_vec_t *
s_repo (s_bsky_t *self, sb_account_t *a, bool create)
{
    char did[33];
    s_did (self, a, did);
    sb_vec_t *v = sb_map_get (self->repos, did);
    if (!v && create) {
        v = calloc (1, sizeof (*v));
        if (v && sb_map_put (self->repos, did, v) != 0) {
            free (v);
            v = NULL;
        }
    }
    return v;
}

/* Lock held. Stores a record (value taken); NULL out of memory (value freed). */
static s_record_t *
s_store (s_bsky_t *self, sb_account_t *a, const char *collection, const char *rkey,
         json_t *value, uint64_t now_us)
{
    char did[33];
    s_did (self, a, did);
    sb_vec_t *repo = s_repo (self, a, true);
    s_record_t *r = calloc (1, sizeof (*r));
    size_t ul = strlen (did) + strlen (collection) + strlen (rkey) + 8;
    if (!repo || !r || !(r->uri = malloc (ul)) || !(r->collection = strdup (collection))
        || !(r->rkey = strdup (rkey))) {
        json_decref (value);
        s_record_free (r);
        return NULL;
    }
    snprintf (r->uri, ul, "at://%s/%s/%s", did, collection, rkey);
    r->value = value;
    r->author = a;
    r->created_us = now_us;
    char *dump = json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = s_hash (r->uri, strlen (r->uri), now_us);
    if (dump)
        h = s_hash (dump, strlen (dump), h);
    free (dump);
    memcpy (r->cid, "bafyrei", 7);
    s_b32_from (h, 52, r->cid + 7);
    if (sb_map_put (self->records, r->uri, r) != 0) {
        s_record_free (r);
        return NULL;
    }
    if (sb_vec_push (repo, r, S_VEC_FIRST) != 0) {
        sb_map_delete (self->records, r->uri);
        return NULL;
    }
    return r;
}

/* Lock held. Validates an app.bsky.feed.post record; false: 400 sent. */
static bool
s_post_valid (s_bsky_t *self, sb_account_t *author, json_t *record, sb_reply_t *rep)
{
    char msg[256];
    json_t *jtext = json_object_get (record, "text");
    if (!jtext) {
        s_invalid_record (rep, "Record must have the property \"text\"");
        return false;
    }
    if (!json_is_string (jtext)) {
        s_invalid_record (rep, "Record/text must be a string");
        return false;
    }
    const char *text = json_string_value (jtext);
    size_t len = json_string_length (jtext);
    if (len > S_MAX_TEXT_BYTES) {
        snprintf (msg, sizeof (msg), "Record/text must not be longer than %d characters",
                  S_MAX_TEXT_BYTES);
        s_invalid_record (rep, msg);
        return false;
    }
    if (s_graphemes (text, len) > S_MAX_GRAPHEMES) {
        snprintf (msg, sizeof (msg), "Record/text must not be longer than %d graphemes",
                  S_MAX_GRAPHEMES);
        s_invalid_record (rep, msg);
        return false;
    }
    json_t *created = json_object_get (record, "createdAt");
    if (!created) {
        s_invalid_record (rep, "Record must have the property \"createdAt\"");
        return false;
    }
    if (!json_is_string (created) || !s_datetime_valid (json_string_value (created))) {
        s_invalid_record (rep, "createdAt must be an valid atproto datetime (both RFC-3339 and "
                               "ISO-8601)");
        return false;
    }
    json_t *langs = json_object_get (record, "langs");
    if (langs) {
        if (!json_is_array (langs)) {
            s_invalid_record (rep, "Record/langs must be an array");
            return false;
        }
        if (json_array_size (langs) > S_MAX_LANGS) {
            snprintf (msg, sizeof (msg), "Record/langs must not have more than %d elements",
                      S_MAX_LANGS);
            s_invalid_record (rep, msg);
            return false;
        }
        for (size_t i = 0; i < json_array_size (langs); i++) {
            const char *l = json_string_value (json_array_get (langs, i));
            size_t ll = l ? strlen (l) : 0;
            bool ok = ll >= 2 && ll <= 35
                      && ((l[0] >= 'a' && l[0] <= 'z') || (l[0] >= 'A' && l[0] <= 'Z'));
            for (size_t k = 0; ok && k < ll; k++)
                ok = (l[k] >= 'a' && l[k] <= 'z') || (l[k] >= 'A' && l[k] <= 'Z')
                     || (l[k] >= '0' && l[k] <= '9') || l[k] == '-';
            if (!ok) {
                snprintf (msg, sizeof (msg), "Record/langs/%zu must be a well-formatted BCP-47 "
                                             "language tag",
                          i);
                s_invalid_record (rep, msg);
                return false;
            }
        }
    }
    json_t *facets = json_object_get (record, "facets");
    if (facets && !json_is_array (facets)) {
        s_invalid_record (rep, "Record/facets must be an array");
        return false;
    }
    for (size_t i = 0; facets && i < json_array_size (facets); i++) {
        json_t *f = json_array_get (facets, i);
        json_t *index = json_object_get (f, "index");
        json_t *features = json_object_get (f, "features");
        json_t *bs = json_object_get (index, "byteStart"), *be = json_object_get (index, "byteEnd");
        if (!json_is_object (f) || !json_is_object (index) || !json_is_integer (bs)
            || !json_is_integer (be)) {
            snprintf (msg, sizeof (msg),
                      "Record/facets/%zu/index must have integer byteStart and byteEnd", i);
            s_invalid_record (rep, msg);
            return false;
        }
        json_int_t start = json_integer_value (bs), end = json_integer_value (be);
        if (start >= end || !s_boundary (text, len, start) || !s_boundary (text, len, end)) {
            snprintf (msg, sizeof (msg),
                      "Record/facets/%zu/index: bytes [%lld, %lld) are not a range of whole "
                      "characters inside the text (%zu bytes)",
                      i, (long long) start, (long long) end, len);
            s_invalid_record (rep, msg);
            return false;
        }
        if (!json_is_array (features) || json_array_size (features) == 0) {
            snprintf (msg, sizeof (msg), "Record/facets/%zu/features must be a non-empty array",
                      i);
            s_invalid_record (rep, msg);
            return false;
        }
        for (size_t k = 0; k < json_array_size (features); k++) {
            json_t *feat = json_array_get (features, k);
            const char *type = json_string_value (json_object_get (feat, "$type"));
            const char *field = NULL;
            if (type && !strcmp (type, "app.bsky.richtext.facet#link"))
                field = "uri";
            else if (type && !strcmp (type, "app.bsky.richtext.facet#mention"))
                field = "did";
            else if (type && !strcmp (type, "app.bsky.richtext.facet#tag"))
                field = "tag";
            if (!field) {
                snprintf (msg, sizeof (msg),
                          "Record/facets/%zu/features/%zu must be an object which includes the "
                          "\"$type\" property",
                          i, k);
                s_invalid_record (rep, msg);
                return false;
            }
            json_t *v = json_object_get (feat, field);
            const char *vs = json_string_value (v);
            bool ok = vs && *vs;
            if (ok && !strcmp (field, "tag"))
                ok = json_string_length (v) <= S_TAG_MAX_BYTES
                     && s_graphemes (vs, json_string_length (v)) <= S_TAG_MAX_GRAPHEMES;
            else if (ok && !strcmp (field, "did"))
                ok = strncmp (vs, "did:", 4) == 0;
            else if (ok)
                ok = strchr (vs, ':') != NULL; /* a URI has a scheme */
            if (!ok) {
                snprintf (msg, sizeof (msg), "Record/facets/%zu/features/%zu/%s must be a valid %s",
                          i, k, field,
                          !strcmp (field, "tag") ? "tag (at most 64 graphemes)"
                          : !strcmp (field, "did") ? "did"
                                                   : "uri");
                s_invalid_record (rep, msg);
                return false;
            }
        }
    }
    json_t *embed = json_object_get (record, "embed");
    const char *etype = json_string_value (json_object_get (embed, "$type"));
    if (embed && etype && !strcmp (etype, "app.bsky.embed.images")) {
        json_t *images = json_object_get (embed, "images");
        if (!json_is_array (images) || json_array_size (images) == 0
            || json_array_size (images) > S_MAX_IMAGES) {
            s_invalid_record (rep, "Record/embed/images must have 1 to 4 elements");
            return false;
        }
        for (size_t i = 0; i < json_array_size (images); i++) {
            json_t *img = json_array_get (images, i);
            json_t *blob = json_object_get (img, "image");
            const char *link = json_string_value (json_object_get (json_object_get (blob, "ref"),
                                                                   "$link"));
            char key[128] = "";
            if (link && strlen (link) < 80)
                snprintf (key, sizeof (key), "%llu/%s", (unsigned long long) author->id, link);
            s_blob_t *b = key[0] ? sb_map_get (self->blobs, key) : NULL;
            const char *bmime = json_string_value (json_object_get (blob, "mimeType"));
            if (!json_is_string (json_object_get (img, "alt"))) {
                snprintf (msg, sizeof (msg),
                          "Record/embed/images/%zu must have the property \"alt\"", i);
                s_invalid_record (rep, msg);
                return false;
            }
            if (!b || b->owner != author) {
                snprintf (msg, sizeof (msg), "Could not find blob: %.100s",
                          link ? link : "(none)");
                s_invalid (rep, msg);
                return false;
            }
            if (!bmime || strcmp (bmime, b->mime) != 0) {
                snprintf (msg, sizeof (msg),
                          "Referenced Mimetype does not match stored blob. Expected: %.60s, Got: "
                          "%.60s",
                          b->mime, bmime ? bmime : "(none)");
                s_invalid (rep, msg);
                return false;
            }
            if (strncmp (b->mime, "image/", 6) != 0) {
                snprintf (msg, sizeof (msg),
                          "Record/embed/images/%zu/image has the wrong mimeType: %s is not "
                          "an image type",
                          i, b->mime);
                s_invalid_record (rep, msg);
                return false;
            }
        }
    }
    else if (embed && !json_is_object (embed)) {
        s_invalid_record (rep, "Record/embed must be an object");
        return false;
    }
    json_t *reply = json_object_get (record, "reply");
    if (reply) {
        const char *parent = json_string_value (
            json_object_get (json_object_get (reply, "parent"), "uri"));
        const char *root = json_string_value (
            json_object_get (json_object_get (reply, "root"), "uri"));
        if (!parent || !root) {
            s_invalid_record (rep, "Record/reply must have root and parent strong refs");
            return false;
        }
        /* stricter than the PDS: the AppView needs both posts (see above) */
        static const char *const which[] = { "parent", "root" };
        for (size_t i = 0; i < 2; i++) {
            json_t *ref = json_object_get (reply, which[i]);
            const char *uri = json_string_value (json_object_get (ref, "uri"));
            const char *cid = json_string_value (json_object_get (ref, "cid"));
            s_record_t *r = sb_map_get (self->records, uri);
            if (!r || strcmp (r->collection, "app.bsky.feed.post") != 0 || !cid
                || strcmp (cid, r->cid) != 0) {
                snprintf (msg, sizeof (msg), "Record/reply/%s %s: %.150s", which[i],
                          r && cid && strcmp (cid, r->cid) != 0 ? "has a stale cid"
                                                                : "not found",
                          uri);
                s_invalid_record (rep, msg);
                return false;
            }
        }
    }
    return true;
}

/* Lock held. Write points (3 per create) against the hourly and daily
 * windows; false: 429 sent. Headers of the hourly window either way. */
static bool
s_write_points (s_bsky_t *self, const sb_account_t *a, uint64_t now_us, sb_reply_t *rep)
{
    const sb_config_t *c = self->world->config;
    char key[80];
    sb_rate_t hour, day;
    snprintf (key, sizeof (key), "bluesky/write-hour/%llu", (unsigned long long) a->id);
    sb_ratelimit_hit (self->world->rates, key, c->bluesky_write_points, c->bluesky_write_window_s,
                      SB_WINDOW_FIRST_HIT, now_us, S_CREATE_POINTS, &hour);
    if (!hour.allowed) {
        s_rate_headers (rep, &hour, c->bluesky_write_window_s);
        s_error (rep, 429, "RateLimitExceeded", "Rate Limit Exceeded");
        return false;
    }
    snprintf (key, sizeof (key), "bluesky/write-day/%llu", (unsigned long long) a->id);
    sb_ratelimit_hit (self->world->rates, key, S_WRITE_DAY_LIMIT, S_WRITE_DAY_WINDOW_S,
                      SB_WINDOW_FIRST_HIT, now_us, S_CREATE_POINTS, &day);
    if (!day.allowed) {
        s_rate_headers (rep, &day, S_WRITE_DAY_WINDOW_S);
        s_error (rep, 429, "RateLimitExceeded", "Rate Limit Exceeded");
        return false;
    }
    s_rate_headers (rep, &hour, c->bluesky_write_window_s);
    return true;
}

/* Lock held. */
static void
s_create_record (s_bsky_t *self, const sb_req_t *req, json_t *body, sb_reply_t *rep)
{
    sb_world_t *world = self->world;
    sb_account_t *a = s_auth (self, req, S_ACCESS, NULL, rep);
    if (!a)
        return;
    if (!s_write_points (self, a, req->now_us, rep))
        return;
    if (!json_is_object (body)) {
        s_invalid (rep, "Input must be an object");
        return;
    }
    static const char *const required[] = { "repo", "collection", "record" };
    for (size_t i = 0; i < 3; i++)
        if (!json_object_get (body, required[i])) {
            char msg[80];
            snprintf (msg, sizeof (msg), "Input must have the property \"%s\"", required[i]);
            s_invalid (rep, msg);
            return;
        }
    const char *repo = json_string_value (json_object_get (body, "repo"));
    const char *collection = json_string_value (json_object_get (body, "collection"));
    json_t *record = json_object_get (body, "record");
    json_t *jrkey = json_object_get (body, "rkey");
    if (!repo || !collection || !s_nsid_valid (collection)) {
        s_invalid (rep, "Input/repo must be a string and Input/collection a valid NSID");
        return;
    }
    if (!json_is_object (record)) {
        s_invalid (rep, "Input/record must be an object");
        return;
    }
    if (jrkey && !json_is_string (jrkey)) {
        s_invalid (rep, "Input/rkey must be a string");
        return;
    }
    const char *rkey = jrkey ? json_string_value (jrkey) : NULL;
    sb_account_t *owner = s_resolve (self, repo);
    if (!owner) {
        char msg[400];
        snprintf (msg, sizeof (msg), "Could not find repo: %.300s", repo);
        s_invalid (rep, msg);
        return;
    }
    if (owner != a) {
        s_error (rep, 401, "AuthenticationRequired", "Authentication Required");
        return;
    }
    const char *type = json_string_value (json_object_get (record, "$type"));
    if (json_object_get (record, "$type") && (!type || strcmp (type, collection) != 0)) {
        char msg[400];
        snprintf (msg, sizeof (msg), "Invalid $type: expected %.100s, got %.100s", collection,
                  type ? type : "(not a string)");
        s_invalid (rep, msg);
        return;
    }
    bool post = strcmp (collection, S_POST) == 0;
    if (rkey && (!s_rkey_valid (rkey) || (post && !s_tid_valid (rkey)))) {
        s_invalid (rep, post ? "Invalid record key: a post's rkey must be a TID (13 characters of "
                               "base32-sortable)"
                             : "Invalid record key");
        return;
    }
    if (post && !s_post_valid (self, a, record, rep))
        return;
    char did[33], tid[14];
    s_did (self, a, did);
    if (rkey) {
        char uri[700];
        snprintf (uri, sizeof (uri), "at://%s/%s/%s", did, collection, rkey);
        if (sb_map_get (self->records, uri)) {
            if (world->config->bluesky_duplicate_status == 500)
                s_error (rep, 500, "InternalServerError", "Internal Server Error");
            else
                s_invalid (rep, "Record already exists");
            return;
        }
    }
    else {
        s_tid_next (self, req->now_us, tid);
        rkey = tid;
    }
    json_t *value = json_deep_copy (record);
    if (!value || (!type && json_object_set_new (value, "$type", json_string (collection)) != 0)) {
        json_decref (value);
        s_error (rep, 500, "InternalServerError", "Internal Server Error");
        return;
    }
    s_record_t *r = s_store (self, a, collection, rkey, value, req->now_us);
    if (!r) {
        s_error (rep, 500, "InternalServerError", "Internal Server Error");
        return;
    }
    if (post) {
        /* a reply counts on its parent */
        const char *parent = json_string_value (
            json_object_get (json_object_get (json_object_get (value, "reply"), "parent"), "uri"));
        s_record_t *p = parent ? sb_map_get (self->records, parent) : NULL;
        if (p)
            p->replies++;
        char handle[SB_HANDLE_MAX + 16], url[1024];
        s_full_handle (a, handle, sizeof (handle));
        snprintf (url, sizeof (url), "%s/" S_PLATFORM "/profile/%s/post/%s", world->base_url,
                  handle, r->rkey);
        /* the images' blob CIDs */
        const char *media[S_MAX_IMAGES];
        size_t nmedia = 0;
        json_t *images = json_object_get (json_object_get (value, "embed"), "images");
        for (size_t i = 0; i < json_array_size (images) && nmedia < S_MAX_IMAGES; i++) {
            const char *link = json_string_value (json_object_get (
                json_object_get (json_object_get (json_array_get (images, i), "image"), "ref"),
                "$link"));
            if (link)
                media[nmedia++] = link;
        }
        sb_ledger_entry_t entry = { .created_us = req->now_us,
                                    .platform = S_PLATFORM,
                                    .account = a->handle,
                                    .id = r->uri,
                                    .url = url,
                                    .text = json_string_value (json_object_get (value, "text")),
                                    .idempotency_key = jrkey ? r->rkey : NULL,
                                    .media = media,
                                    .nmedia = nmedia };
        if (sb_ledger_append (world->ledger, &entry) == 0)
            SB_WARN ("ledger append failed for %s", r->uri);
    }
    char rev[14];
    s_tid_next (self, req->now_us, rev);
    char commit[64];
    memcpy (commit, "bafyrei", 7);
    s_b32_from (s_hash (r->cid, strlen (r->cid), req->now_us), 52, commit + 7);
    rep->status = 200;
    sb_buf_reset (&rep->body);
    sb_buf_adds (&rep->body, "{\"uri\":");
    sb_buf_add_json_str (&rep->body, r->uri);
    sb_buf_adds (&rep->body, ",\"cid\":");
    sb_buf_add_json_str (&rep->body, r->cid);
    sb_buf_printf (&rep->body,
                   ",\"commit\":{\"cid\":\"%s\",\"rev\":\"%s\"},\"validationStatus\":\"%s\"}",
                   commit, rev, post ? "valid" : "unknown");
}

/* Optional authentication: a bad token is refused, no token is fine. false:
 * error sent. */
static bool
s_optional_auth (s_bsky_t *self, const sb_req_t *req, sb_reply_t *rep)
{
    return !sb_req_bearer (req) || s_auth (self, req, S_ACCESS, NULL, rep) != NULL;
}

static void
s_get_record (s_bsky_t *self, const sb_req_t *req, sb_reply_t *rep)
{
    if (!s_optional_auth (self, req, rep))
        return;
    static const char *const required[] = { "repo", "collection", "rkey" };
    const char *v[3];
    for (size_t i = 0; i < 3; i++) {
        v[i] = sb_req_arg (req, required[i]);
        if (!v[i] || !*v[i]) {
            char msg[80];
            snprintf (msg, sizeof (msg), "Params must have the property \"%s\"", required[i]);
            s_invalid (rep, msg);
            return;
        }
    }
    sb_account_t *a = s_resolve (self, v[0]);
    if (!a) {
        char msg[400];
        snprintf (msg, sizeof (msg), "Could not find repo: %.300s", v[0]);
        s_invalid (rep, msg);
        return;
    }
    char did[33], uri[1200];
    s_did (self, a, did);
    snprintf (uri, sizeof (uri), "at://%s/%.300s/%.600s", did, v[1], v[2]);
    s_record_t *r = sb_map_get (self->records, uri);
    const char *cid = sb_req_arg (req, "cid");
    if (!r || (cid && *cid && strcmp (cid, r->cid) != 0)) {
        char msg[1300];
        snprintf (msg, sizeof (msg), "Could not locate record: %s", uri);
        s_error (rep, 400, "RecordNotFound", msg);
        return;
    }
    rep->status = 200;
    s_render_record (&rep->body, r);
}

static int
s_cmp_rkey_desc (const void *x, const void *y)
{
    const s_record_t *a = *(s_record_t *const *) x, *b = *(s_record_t *const *) y;
    return strcmp (b->rkey, a->rkey);
}

/* limit parameter in [1, S_PAGE_MAX]; false: 400 sent. */
static bool
s_limit (const sb_req_t *req, size_t *limit, sb_reply_t *rep)
{
    const char *v = sb_req_arg (req, "limit");
    int64_t n = S_PAGE_DEFAULT;
    if (v && sb_parse_i64 (v, 1, S_PAGE_MAX, &n) != 0) {
        char msg[80];
        snprintf (msg, sizeof (msg), "limit must be an integer from 1 to %d", S_PAGE_MAX);
        s_invalid (rep, msg);
        return false;
    }
    *limit = (size_t) n;
    return true;
}

static void
s_list_records (s_bsky_t *self, const sb_req_t *req, sb_reply_t *rep)
{
    if (!s_optional_auth (self, req, rep))
        return;
    const char *repo = sb_req_arg (req, "repo"), *collection = sb_req_arg (req, "collection");
    const char *cursor = sb_req_arg (req, "cursor"), *reverse = sb_req_arg (req, "reverse");
    size_t limit;
    if (!repo || !*repo || !collection || !*collection) {
        s_invalid (rep, "Params must have the properties \"repo\" and \"collection\"");
        return;
    }
    if (!s_limit (req, &limit, rep))
        return;
    sb_account_t *a = s_resolve (self, repo);
    if (!a) {
        char msg[400];
        snprintf (msg, sizeof (msg), "Could not find repo: %.300s", repo);
        s_invalid (rep, msg);
        return;
    }
    bool asc = reverse && (!strcmp (reverse, "true") || !strcmp (reverse, "1"));
    sb_vec_t *list = s_repo (self, a, false);
    size_t n = 0;
    s_record_t **picked = list && list->len ? calloc (list->len, sizeof (*picked)) : NULL;
    for (size_t i = 0; picked && i < list->len; i++) {
        s_record_t *r = list->items[i];
        if (strcmp (r->collection, collection) != 0)
            continue;
        int c = cursor && *cursor ? strcmp (r->rkey, cursor) : asc ? 1 : -1;
        if (asc ? c <= 0 : c >= 0)
            continue;
        picked[n++] = r;
    }
    if (n > 1)
        qsort (picked, n, sizeof (*picked), s_cmp_rkey_desc);
    rep->status = 200;
    sb_buf_adds (&rep->body, "{\"records\":[");
    size_t shown = 0;
    for (size_t k = 0; k < n && shown < limit; k++) {
        s_record_t *r = picked[asc ? n - 1 - k : k];
        if (shown++)
            sb_buf_addc (&rep->body, ',');
        s_render_record (&rep->body, r);
    }
    sb_buf_addc (&rep->body, ']');
    if (shown > 0) {
        s_record_t *last = picked[asc ? n - shown : shown - 1];
        sb_buf_adds (&rep->body, ",\"cursor\":");
        sb_buf_add_json_str (&rep->body, last->rkey);
    }
    sb_buf_addc (&rep->body, '}');
    free (picked);
}

static void
s_render_post_view (s_bsky_t *self, sb_buf_t *out, const s_record_t *r)
{
    char when[40];
    sb_format_time (r->created_us, 3, when, sizeof (when));
    sb_buf_adds (out, "{\"uri\":");
    sb_buf_add_json_str (out, r->uri);
    sb_buf_adds (out, ",\"cid\":");
    sb_buf_add_json_str (out, r->cid);
    sb_buf_adds (out, ",\"author\":");
    s_render_author (self, out, r->author);
    sb_buf_adds (out, ",\"record\":");
    s_add_json (out, r->value);
    sb_buf_printf (out,
                   ",\"bookmarkCount\":0,\"replyCount\":%lld,\"repostCount\":%lld,"
                   "\"likeCount\":%lld,\"quoteCount\":%lld,\"indexedAt\":\"%s\",\"labels\":[]}",
                   (long long) r->replies, (long long) r->reposts, (long long) r->likes,
                   (long long) r->quotes, when);
}

static void
s_get_posts (s_bsky_t *self, const sb_req_t *req, sb_reply_t *rep)
{
    if (!s_optional_auth (self, req, rep))
        return;
    const char *uris[S_GET_POSTS_MAX + 1];
    size_t n = sb_req_args (req, "uris", uris, S_GET_POSTS_MAX + 1);
    if (n == 0) {
        s_invalid (rep, "Error: Params must have the property \"uris\"");
        return;
    }
    if (n > S_GET_POSTS_MAX) {
        char msg[80];
        snprintf (msg, sizeof (msg), "Error: uris must not have more than %d elements",
                  S_GET_POSTS_MAX);
        s_invalid (rep, msg);
        return;
    }
    rep->status = 200;
    sb_buf_adds (&rep->body, "{\"posts\":[");
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        s_record_t *r = sb_map_get (self->records, uris[i]);
        if (!r || strcmp (r->collection, S_POST) != 0)
            continue;
        if (shown++)
            sb_buf_addc (&rep->body, ',');
        s_render_post_view (self, &rep->body, r);
    }
    sb_buf_adds (&rep->body, "]}");
}

static void
s_list_notifications (s_bsky_t *self, const sb_req_t *req, sb_reply_t *rep)
{
    sb_account_t *a = s_auth (self, req, S_ACCESS, NULL, rep);
    if (!a)
        return;
    size_t limit;
    if (!s_limit (req, &limit, rep))
        return;
    const char *reasons[S_MAX_REASONS];
    size_t nreasons = sb_req_args (req, "reasons", reasons, S_MAX_REASONS);
    const char *cursor = sb_req_arg (req, "cursor");
    uint64_t before = UINT64_MAX;
    if (cursor && *cursor && sb_parse_u64 (cursor, &before) != 0) {
        s_invalid (rep, "Malformed cursor");
        return;
    }
    rep->status = 200;
    sb_buf_adds (&rep->body, "{\"notifications\":[");
    size_t shown = 0;
    uint64_t last = 0;
    bool more = false;
    for (size_t i = self->notifs.len; i > 0; i--) {
        s_notif_t *nt = self->notifs.items[i - 1];
        if (nt->to != a || nt->seq >= before)
            continue;
        bool wanted = nreasons == 0;
        for (size_t k = 0; k < nreasons && !wanted; k++)
            wanted = strcmp (reasons[k], nt->reason) == 0;
        if (!wanted)
            continue;
        if (shown == limit) {
            more = true;
            break;
        }
        char when[40];
        sb_format_time (nt->record->created_us, 3, when, sizeof (when));
        if (shown++)
            sb_buf_addc (&rep->body, ',');
        sb_buf_adds (&rep->body, "{\"uri\":");
        sb_buf_add_json_str (&rep->body, nt->record->uri);
        sb_buf_adds (&rep->body, ",\"cid\":");
        sb_buf_add_json_str (&rep->body, nt->record->cid);
        sb_buf_adds (&rep->body, ",\"author\":");
        s_render_author (self, &rep->body, nt->from);
        sb_buf_adds (&rep->body, ",\"reason\":");
        sb_buf_add_json_str (&rep->body, nt->reason);
        if (nt->subject) {
            sb_buf_adds (&rep->body, ",\"reasonSubject\":");
            sb_buf_add_json_str (&rep->body, nt->subject);
        }
        sb_buf_adds (&rep->body, ",\"record\":");
        s_add_json (&rep->body, nt->record->value);
        sb_buf_printf (&rep->body, ",\"isRead\":false,\"indexedAt\":\"%s\",\"labels\":[]}", when);
        last = nt->seq;
    }
    sb_buf_addc (&rep->body, ']');
    if (more)
        sb_buf_printf (&rep->body, ",\"cursor\":\"%llu\"", (unsigned long long) last);
    sb_buf_addc (&rep->body, '}');
}

static void
s_upload_blob (s_bsky_t *self, const sb_req_t *req, sb_reply_t *rep)
{
    sb_account_t *a = s_auth (self, req, S_ACCESS, NULL, rep);
    if (!a)
        return;
    if (req->body_len == 0) {
        s_invalid (rep, "Request body is empty");
        return;
    }
    if (req->body_len > S_MAX_BLOB_BYTES) {
        char msg[160];
        snprintf (msg, sizeof (msg), "This file is too large: %zu bytes, the limit is %u bytes",
                  req->body_len, S_MAX_BLOB_BYTES);
        s_error (rep, 400, "BlobTooLarge", msg);
        return;
    }
    const char *ct = sb_req_header (req, MHD_HTTP_HEADER_CONTENT_TYPE);
    s_blob_t *b = calloc (1, sizeof (*b));
    if (!b) {
        s_error (rep, 500, "InternalServerError", "Internal Server Error");
        return;
    }
    b->owner = a;
    b->size = req->body_len;
    const char *sniffed = sb_media_sniff (req->body, req->body_len);
    snprintf (b->mime, sizeof (b->mime), "%s",
              sniffed ? sniffed : ct && *ct ? ct : "application/octet-stream");
    for (char *p = b->mime; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
            *p = '_';
    char cid[64];
    memcpy (cid, "bafkrei", 7);
    s_b32_from (s_hash (req->body, req->body_len, 0xb10b), 52, cid + 7);
    char key[128];
    snprintf (key, sizeof (key), "%llu/%s", (unsigned long long) a->id, cid);
    if (sb_map_put (self->blobs, key, b) != 0) {
        free (b);
        s_error (rep, 500, "InternalServerError", "Internal Server Error");
        return;
    }
    rep->status = 200;
    sb_buf_printf (&rep->body,
                   "{\"blob\":{\"$type\":\"blob\",\"ref\":{\"$link\":\"%s\"},\"mimeType\":\"%s\","
                   "\"size\":%zu}}",
                   cid, b->mime, b->size);
}

static void
s_get_session (s_bsky_t *self, const sb_req_t *req, sb_reply_t *rep)
{
    sb_account_t *a = s_auth (self, req, S_ACCESS, NULL, rep);
    if (!a)
        return;
    char did[33], handle[SB_HANDLE_MAX + 16];
    s_did (self, a, did);
    s_full_handle (a, handle, sizeof (handle));
    rep->status = 200;
    sb_buf_adds (&rep->body, "{\"handle\":");
    sb_buf_add_json_str (&rep->body, handle);
    sb_buf_adds (&rep->body, ",\"did\":");
    sb_buf_add_json_str (&rep->body, did);
    sb_buf_adds (&rep->body, ",\"active\":true}");
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                   */

typedef enum {
    M_NONE,
    M_CREATE_SESSION,
    M_REFRESH_SESSION,
    M_GET_SESSION,
    M_CREATE_RECORD,
    M_GET_RECORD,
    M_LIST_RECORDS,
    M_UPLOAD_BLOB,
    M_GET_POSTS,
    M_LIST_NOTIFICATIONS,
} s_method_t;

static const struct {
    const char *nsid;
    const char *verb;
    s_method_t method;
} s_methods[] = {
    { "com.atproto.server.createSession", "POST", M_CREATE_SESSION },
    { "com.atproto.server.refreshSession", "POST", M_REFRESH_SESSION },
    { "com.atproto.server.getSession", "GET", M_GET_SESSION },
    { "com.atproto.repo.createRecord", "POST", M_CREATE_RECORD },
    { "com.atproto.repo.getRecord", "GET", M_GET_RECORD },
    { "com.atproto.repo.listRecords", "GET", M_LIST_RECORDS },
    { "com.atproto.repo.uploadBlob", "POST", M_UPLOAD_BLOB },
    { "app.bsky.feed.getPosts", "GET", M_GET_POSTS },
    { "app.bsky.notification.listNotifications", "GET", M_LIST_NOTIFICATIONS },
};

/* The method a request calls; *xrpc says whether the path is an XRPC one. */
static s_method_t
s_route (const sb_req_t *req, bool *xrpc)
{
    *xrpc = strncmp (req->path, "/xrpc/", 6) == 0;
    if (!*xrpc)
        return M_NONE;
    const char *nsid = req->path + 6;
    for (size_t i = 0; i < sizeof (s_methods) / sizeof (s_methods[0]); i++)
        if (!strcmp (nsid, s_methods[i].nsid) && sb_req_is (req, s_methods[i].verb))
            return s_methods[i].method;
    return M_NONE;
}

static void
s_handle (void *state, const sb_req_t *req, sb_reply_t *rep)
{
    s_bsky_t *self = state;
    bool xrpc;
    s_method_t m = s_route (req, &xrpc);
    if (m == M_NONE) {
        if (xrpc)
            s_error (rep, 501, "MethodNotImplemented", "Method Not Implemented");
        else
            s_error (rep, 404, "NotFound", "Not Found");
        return;
    }
    json_t *body = NULL;
    if (m == M_CREATE_SESSION || m == M_CREATE_RECORD)
        body = json_loadb (req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
    sb_world_lock (self->world);
    switch (m) {
    case M_CREATE_SESSION: s_create_session (self, req, body, rep); break;
    case M_REFRESH_SESSION: s_refresh_session (self, req, rep); break;
    case M_GET_SESSION: s_get_session (self, req, rep); break;
    case M_CREATE_RECORD: s_create_record (self, req, body, rep); break;
    case M_GET_RECORD: s_get_record (self, req, rep); break;
    case M_LIST_RECORDS: s_list_records (self, req, rep); break;
    case M_UPLOAD_BLOB: s_upload_blob (self, req, rep); break;
    case M_GET_POSTS: s_get_posts (self, req, rep); break;
    case M_LIST_NOTIFICATIONS: s_list_notifications (self, req, rep); break;
    case M_NONE: break;
    }
    sb_world_unlock (self->world);
    json_decref (body);
}

/* ------------------------------------------------------------------------ */
/* Platform interface                                                        */

static void *
s_create_state (sb_world_t *world)
{
    s_bsky_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->world = world;
    self->tokens = sb_map_new (s_token_free);
    self->records = sb_map_new (s_record_free);
    self->repos = sb_map_new (sb_vec_free);
    self->dids = sb_map_new (NULL);
    self->blobs = sb_map_new (s_blob_free);
    self->sessions = sb_map_new (free);
    if (!self->tokens || !self->records || !self->repos || !self->dids || !self->blobs
        || !self->sessions) {
        sb_map_destroy (&self->tokens);
        sb_map_destroy (&self->records);
        sb_map_destroy (&self->repos);
        sb_map_destroy (&self->dids);
        sb_map_destroy (&self->blobs);
        sb_map_destroy (&self->sessions);
        free (self);
        return NULL;
    }
    return self;
}

static void
s_reset (void *state)
{
    s_bsky_t *self = state;
    for (size_t i = 0; i < self->notifs.len; i++) {
        s_notif_t *n = self->notifs.items[i];
        free (n->subject);
        free (n);
    }
    self->notifs.len = 0;
    sb_map_clear (self->repos);
    sb_map_clear (self->records);
    sb_map_clear (self->tokens);
    sb_map_clear (self->dids);
    sb_map_clear (self->blobs);
    sb_map_clear (self->sessions);
    self->issued = 0;
}

static void
s_destroy (void **state_p)
{
    if (!state_p || !*state_p)
        return;
    s_bsky_t *self = *state_p;
    s_reset (self);
    free (self->notifs.items);
    sb_map_destroy (&self->tokens);
    sb_map_destroy (&self->records);
    sb_map_destroy (&self->repos);
    sb_map_destroy (&self->dids);
    sb_map_destroy (&self->blobs);
    sb_map_destroy (&self->sessions);
    free (self);
    *state_p = NULL;
}

/* Lock held: the account a request acts for (fault rules), without side
 * effects: the bearer token's, or createSession's identifier. */
static bool
s_identify (void *state, const sb_req_t *req, char *handle, size_t cap)
{
    s_bsky_t *self = state;
    const char *bearer = sb_req_bearer (req);
    if (bearer) {
        s_token_t *t = strlen (bearer) <= 4096 ? sb_map_get (self->tokens, bearer) : NULL;
        if (t) {
            snprintf (handle, cap, "%s", t->account->handle);
            return true;
        }
        if (self->world->config->open && strlen (bearer) <= 1024) {
            sb_accounts_open_handle (bearer, handle, cap);
            return true;
        }
        return false;
    }
    if (strcmp (req->path, "/xrpc/com.atproto.server.createSession") != 0)
        return false;
    json_t *body = json_loadb (req->body, req->body_len, 0, NULL);
    const char *ident = json_string_value (json_object_get (body, "identifier"));
    bool found = false;
    if (ident) {
        sb_account_t *a = s_resolve (self, ident);
        if (a)
            snprintf (handle, cap, "%s", a->handle);
        else
            s_identifier_handle (ident, handle, cap);
        found = handle[0] != '\0';
    }
    json_decref (body);
    return found;
}

static void
s_fault (void *state, const sb_req_t *req, int status, sb_reply_t *rep)
{
    s_bsky_t *self = state;
    switch (status) {
    case 400: s_invalid (rep, "Invalid request"); break;
    case 401: s_error (rep, 401, "AuthenticationRequired", "Authentication Required"); break;
    case 429: {
        s_error (rep, 429, "RateLimitExceeded", "Rate Limit Exceeded");
        char handle[SB_HANDLE_MAX];
        sb_world_lock (self->world);
        sb_account_t *a = NULL;
        if (s_identify (self, req, handle, sizeof (handle)))
            a = sb_accounts_find (self->world->accounts, S_PLATFORM, handle);
        if (a) {
            /* the write window, as it stands (cost 0 looks without spending) */
            sb_rate_t rate;
            char key[80];
            snprintf (key, sizeof (key), "bluesky/write-hour/%llu", (unsigned long long) a->id);
            sb_ratelimit_hit (self->world->rates, key, self->world->config->bluesky_write_points,
                              self->world->config->bluesky_write_window_s, SB_WINDOW_FIRST_HIT,
                              req->now_us, 0, &rate);
            rate.remaining = 0;
            s_rate_headers (rep, &rate, self->world->config->bluesky_write_window_s);
        }
        sb_world_unlock (self->world);
        break;
    }
    case 500: s_error (rep, 500, "InternalServerError", "Internal Server Error"); break;
    case 502: s_error (rep, 502, "UpstreamFailure", "Upstream Failure"); break;
    default: {
        /* "Service Unavailable" -> "ServiceUnavailable" */
        const char *reason = sb_http_reason (status);
        char name[64];
        size_t n = 0;
        for (const char *p = reason; *p && n + 1 < sizeof (name); p++)
            if (*p != ' ')
                name[n++] = *p;
        name[n] = '\0';
        s_error (rep, status, name, reason);
        break;
    }
    }
}

/* {"platform":"bluesky","account":"alice","from":"bob","text":"..",
 *  "reason":"mention"|"reply"|"quote"|"like"|"repost"|"follow",
 *  "subject":"at://<alice's post>" (reply, quote, like, repost; also
 *  "in_reply_to_id")}: bob acts, alice gets a notification; counts move. */
static int
s_mention (void *state, const json_t *spec, sb_buf_t *out)
{
    s_bsky_t *self = state;
    sb_world_t *world = self->world;
    uint64_t now = sb_now_us ();
    const char *to = json_string_value (json_object_get (spec, "account"));
    const char *from = json_string_value (json_object_get (spec, "from"));
    const char *text = json_string_value (json_object_get (spec, "text"));
    const char *reason = json_string_value (json_object_get (spec, "reason"));
    const char *subject = json_string_value (json_object_get (spec, "subject"));
    if (!subject)
        subject = json_string_value (json_object_get (spec, "in_reply_to_id"));
    if (!reason)
        reason = subject ? "reply" : "mention";
    static const char *const reasons[] = { "mention", "reply",  "quote",
                                           "like",    "repost", "follow" };
    bool known = false;
    for (size_t i = 0; i < 6; i++)
        known |= strcmp (reason, reasons[i]) == 0;
    if (!to || !from || !sb_accounts_handle_valid (from) || !known) {
        sb_buf_adds (out, "{\"error\":\"'account', 'from' (a valid handle) and a known 'reason' "
                          "(mention, reply, quote, like, repost, follow) are required\"}");
        return 422;
    }
    sb_account_t *target = sb_accounts_find (world->accounts, S_PLATFORM, to);
    if (!target) {
        sb_buf_adds (out, "{\"error\":\"unknown account\"}");
        return 404;
    }
    bool needs_subject = strcmp (reason, "mention") != 0 && strcmp (reason, "follow") != 0;
    s_record_t *subj = subject ? sb_map_get (self->records, subject) : NULL;
    if (needs_subject && (!subj || subj->author != target)) {
        sb_buf_adds (out,
                     "{\"error\":\"'subject' must be the at:// URI of a record of 'account'\"}");
        return 422;
    }
    sb_account_t *sender = sb_accounts_ensure (world->accounts, S_PLATFORM, from,
                                               sb_world_next_id (world, now), now);
    if (!sender)
        goto oom;
    char tdid[33], tid[14], thandle[SB_HANDLE_MAX + 16];
    s_did (self, target, tdid);
    s_full_handle (target, thandle, sizeof (thandle));
    char when[40];
    sb_format_time (now, 3, when, sizeof (when));
    const char *collection = S_POST;
    json_t *value = NULL;
    if (!strcmp (reason, "like") || !strcmp (reason, "repost")) {
        collection = !strcmp (reason, "like") ? S_LIKE : S_REPOST;
        value = json_pack ("{s:s,s:{s:s,s:s},s:s}", "$type", collection, "subject", "uri",
                           subj->uri, "cid", subj->cid, "createdAt", when);
    }
    else if (!strcmp (reason, "follow")) {
        collection = S_FOLLOW;
        value = json_pack ("{s:s,s:s,s:s}", "$type", collection, "subject", tdid, "createdAt",
                           when);
    }
    else {
        /* a post; a mention starts with "@handle " and carries its facet */
        char *body = NULL;
        const char *t = text ? text : "";
        bool mention = !strcmp (reason, "mention");
        size_t cap = strlen (thandle) + strlen (t) + 3;
        if (!(body = malloc (cap)))
            goto oom;
        if (mention && !(t[0] == '@' && strncmp (t + 1, thandle, strlen (thandle)) == 0))
            snprintf (body, cap, "@%s %s", thandle, t);
        else
            snprintf (body, cap, "%s", t);
        value = json_pack ("{s:s,s:s,s:s}", "$type", S_POST, "text", body, "createdAt", when);
        if (value && mention)
            json_object_set_new (value, "facets",
                                 json_pack ("[{s:{s:i,s:i},s:[{s:s,s:s}]}]", "index", "byteStart",
                                            0, "byteEnd", (int) strlen (thandle) + 1, "features",
                                            "$type", "app.bsky.richtext.facet#mention", "did",
                                            tdid));
        if (value && !strcmp (reason, "reply")) {
            /* the thread's root: the subject's own root, or the subject */
            json_t *root = json_object_get (json_object_get (subj->value, "reply"), "root");
            root = root ? json_incref (root)
                        : json_pack ("{s:s,s:s}", "uri", subj->uri, "cid", subj->cid);
            json_object_set_new (value, "reply",
                                 json_pack ("{s:o,s:{s:s,s:s}}", "root", root, "parent", "uri",
                                            subj->uri, "cid", subj->cid));
        }
        if (value && !strcmp (reason, "quote"))
            json_object_set_new (value, "embed",
                                 json_pack ("{s:s,s:{s:s,s:s}}", "$type", "app.bsky.embed.record",
                                            "record", "uri", subj->uri, "cid", subj->cid));
        free (body);
    }
    if (!value)
        goto oom;
    s_tid_next (self, now, tid);
    s_record_t *r = s_store (self, sender, collection, tid, value, now);
    s_notif_t *nt = r ? calloc (1, sizeof (*nt)) : NULL;
    if (!nt)
        goto oom;
    nt->seq = ++self->notif_seq;
    nt->to = target;
    nt->from = sender;
    snprintf (nt->reason, sizeof (nt->reason), "%s", reason);
    nt->record = r;
    if (subj && !(nt->subject = strdup (subj->uri))) {
        free (nt);
        goto oom;
    }
    if (sb_vec_push (&self->notifs, nt, S_VEC_FIRST) != 0) {
        free (nt->subject);
        free (nt);
        goto oom;
    }
    if (subj) {
        if (!strcmp (reason, "reply"))
            subj->replies++;
        else if (!strcmp (reason, "quote"))
            subj->quotes++;
        else if (!strcmp (reason, "like"))
            subj->likes++;
        else if (!strcmp (reason, "repost"))
            subj->reposts++;
    }
    char sdid[33];
    s_did (self, sender, sdid);
    sb_buf_adds (out, "{\"uri\":");
    sb_buf_add_json_str (out, r->uri);
    sb_buf_adds (out, ",\"cid\":");
    sb_buf_add_json_str (out, r->cid);
    sb_buf_adds (out, ",\"reason\":");
    sb_buf_add_json_str (out, reason);
    sb_buf_adds (out, ",\"author\":");
    sb_buf_add_json_str (out, sdid);
    sb_buf_addc (out, '}');
    return 201;
oom:
    sb_buf_adds (out, "{\"error\":\"out of memory\"}");
    return 500;
}

/* Lock held: GET /_sandbox/sessions?platform=bluesky&account=HANDLE. */
static void
s_sessions (void *state, const char *account, sb_buf_t *out)
{
    s_bsky_t *self = state;
    s_counts_t none = { 0 };
    const s_counts_t *c = sb_map_get (self->sessions, account);
    if (!c)
        c = &none;
    sb_buf_adds (out, "{\"platform\":\"" S_PLATFORM "\",\"account\":");
    sb_buf_add_json_str (out, account);
    sb_buf_printf (out,
                   ",\"create_calls\":%llu,\"created\":%llu,\"create_limited\":%llu,"
                   "\"refresh_calls\":%llu,\"refreshed\":%llu}",
                   (unsigned long long) c->create_calls, (unsigned long long) c->created,
                   (unsigned long long) c->create_limited, (unsigned long long) c->refresh_calls,
                   (unsigned long long) c->refreshed);
}

const sb_platform_t sb_bluesky_platform = {
    .name = S_PLATFORM,
    .prefix = "/bluesky",
    .create = s_create_state,
    .destroy = s_destroy,
    .reset = s_reset,
    .identify = s_identify,
    .handle = s_handle,
    .fault = s_fault,
    .mention = s_mention,
    .sessions = s_sessions,
};
