#include "cr_bluesky.h"

#include "cr_media.h"
#include "cr_settings.h"
#include "cr_text.h"
#include "cr_time.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every Bluesky-specific constant lives here. */
#define BSKY_XRPC "/xrpc/"
#define BSKY_CREATE_SESSION "com.atproto.server.createSession"
#define BSKY_REFRESH_SESSION "com.atproto.server.refreshSession"
#define BSKY_CREATE_RECORD "com.atproto.repo.createRecord"
#define BSKY_GET_RECORD "com.atproto.repo.getRecord"
#define BSKY_UPLOAD_BLOB "com.atproto.repo.uploadBlob"
#define BSKY_EMBED_IMAGES "app.bsky.embed.images"
#define BSKY_MAX_IMAGES_DEFAULT 4             /* setting bluesky.max_images */
#define BSKY_IMAGE_MAX_BYTES_DEFAULT 2000000  /* setting bluesky.image_max_bytes */
#define BSKY_MAX_CID 256
#define BSKY_POST "app.bsky.feed.post"
#define BSKY_FACET_LINK "app.bsky.richtext.facet#link"
#define BSKY_FACET_TAG "app.bsky.richtext.facet#tag"
#define BSKY_WEB_PROFILE "https://bsky.app/profile/"
#define BSKY_WEB_POST "/post/"
#define BSKY_USER_AGENT "crieur/0.1"
#define BSKY_RESET_HEADER "RateLimit-Reset" /* epoch seconds */
#define BSKY_ERR_EXPIRED "ExpiredToken"
#define BSKY_ERR_INVALID_TOKEN "InvalidToken"
#define BSKY_ERR_NOT_FOUND "RecordNotFound"
/* The answer to a repeated rkey is unconfirmed: these texts, in the
 * message of a 400 or 409, mean "the record exists" (the sandbox's, and the
 * reference PDS's repository-tree error should it ever be passed on). */
static const char *const s_exists_marks[] = {"already exists", "already a value at key", NULL};
#define BSKY_FOUND_DETAIL "found on the platform by reading back; not published again"
#define BSKY_CODE_COLLISION "rkey_collision"
#define BSKY_RETRY_DEFAULT_MS 60000LL      /* 429 without a usable reset */
#define BSKY_RETRY_MIN_MS 1000LL           /* a reset in the past: wait a little anyway */
#define BSKY_RETRY_MAX_MS (24LL * 3600000) /* never defer an account longer on one header */
#define BSKY_SKEW_MS 60000LL               /* an access token this far past exp is expired */
#define BSKY_CREATED_AT_SLACK_MS 300000LL  /* createdAt = due time within this of now */
#define BSKY_AUTH_ROUNDS 4                 /* sessions created, refreshed or waited for per task */
#define BSKY_WAIT_MARGIN_MS 100LL          /* a wait for a session ends this long before the deadline */
#define BSKY_MAX_URL 2048
#define BSKY_MAX_TOKEN 8192
#define BSKY_MAX_PASSWORD 1024
#define BSKY_MAX_LANG 35
#define BSKY_TAG_MAX_CHARS 64
#define BSKY_TAG_MAX_BYTES 640
/* rkeys: microseconds from 2023-01-01T00:00:00Z plus 45 bits of hash */
#define BSKY_RKEY_EPOCH_US 1672531200000000ULL
#define BSKY_RKEY_SPAN_BITS 45

static const char s_b32sort[] = "234567abcdefghijklmnopqrstuvwxyz";

static const char *s_str(const char *s)
{
    return s ? s : "";
}

static uint64_t s_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* FNV-1a 64 with a seed, finished with a strong mixer. */
static uint64_t s_hash(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL ^ s_mix(seed);
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return s_mix(h);
}

/* ---- record key -------------------------------------------------------- */

int cr_bluesky_rkey(const char *key, char out[CR_BSKY_RKEY_LEN + 1])
{
    if (!key || !key[0]) return -1;
    size_t n = strlen(key);
    uint64_t h1 = s_hash(key, n, 0x626c7565736b7931ULL); /* "bluesky1" */
    uint64_t h2 = s_hash(key, n, 0x626c7565736b7932ULL);
    uint64_t us = BSKY_RKEY_EPOCH_US + (h1 & ((1ULL << BSKY_RKEY_SPAN_BITS) - 1));
    uint64_t v = (us << 10) | (h2 & 0x3ffULL); /* top bit 0: us < 2^53 */
    for (int i = CR_BSKY_RKEY_LEN - 1; i >= 0; i--) {
        out[i] = s_b32sort[v & 31u];
        v >>= 5;
    }
    out[CR_BSKY_RKEY_LEN] = '\0';
    return 0;
}

int cr_bluesky_tid_valid(const char *s)
{
    if (!s || strlen(s) != CR_BSKY_RKEY_LEN || !strchr("234567abcdefghij", s[0])) return 0;
    for (size_t i = 0; i < CR_BSKY_RKEY_LEN; i++)
        if (!strchr(s_b32sort, s[i])) return 0;
    return 1;
}

/* ---- text and facets --------------------------------------------------- */

char *cr_bluesky_post_text(const Crieur__Task *task, size_t *len)
{
    return cr_text_post(task, len);
}

/* Decodes the code point at s[0] (valid UTF-8 assumed; a stray byte is
 * taken alone); returns its length. */
static size_t s_cp(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t k = s[0] < 0x80 ? 1 : s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 1;
    if (k > n) k = 1;
    if (k == 1) {
        *cp = s[0];
        return 1;
    }
    uint32_t v = s[0] & (0x7Fu >> k);
    for (size_t i = 1; i < k; i++) v = (v << 6) | (s[i] & 0x3Fu);
    *cp = v;
    return k;
}

/* White space as JavaScript's \s sees it (what Bluesky's detectors use). */
static int s_space(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000 || c == 0xfeff;
}

/* Unicode punctuation (\p{P}), for the scripts agencies write in: ASCII's,
 * Latin-1's, general punctuation, CJK and full-width punctuation. */
static int s_punct(uint32_t c)
{
    if (c < 0x80) return c != '$' && c != '+' && c != '<' && c != '=' && c != '>' && c != '^' &&
                         c != '`' && c != '|' && c != '~' &&
                         ((c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) ||
                          (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e));
    return c == 0xa1 || c == 0xa7 || c == 0xab || c == 0xb6 || c == 0xb7 || c == 0xbb ||
           c == 0xbf || c == 0x37e || c == 0x387 || (c >= 0x55a && c <= 0x55f) || c == 0x589 ||
           c == 0x5be || c == 0x60c || c == 0x61b || c == 0x61f || c == 0x6d4 ||
           (c >= 0x2010 && c <= 0x2027) || (c >= 0x2030 && c <= 0x2043) ||
           (c >= 0x2045 && c <= 0x2051) || (c >= 0x2053 && c <= 0x205e) ||
           (c >= 0x3001 && c <= 0x3003) || (c >= 0x3008 && c <= 0x3011) ||
           (c >= 0x3014 && c <= 0x301f) || c == 0x30fb || (c >= 0xfe10 && c <= 0xfe19) ||
           (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff01 && c <= 0xff03) ||
           (c >= 0xff05 && c <= 0xff0a) || (c >= 0xff0c && c <= 0xff0f) || c == 0xff1a ||
           c == 0xff1b || c == 0xff1f || c == 0xff20 || (c >= 0xff3b && c <= 0xff3d) ||
           c == 0xff3f || c == 0xff5b || c == 0xff5d || (c >= 0xff5f && c <= 0xff65);
}

/* Characters that end a hashtag besides white space (Bluesky's TAG_REGEX). */
static int s_tag_stop(uint32_t c)
{
    return c == 0xad || c == 0x2060 || c == 0x200a || c == 0x200b || c == 0x200c ||
           c == 0x200d || c == 0x20e2;
}

/* Code point just before byte i (0 at the start). */
static uint32_t s_prev_cp(const unsigned char *t, size_t i)
{
    if (i == 0) return 0;
    size_t j = i - 1;
    while (j > 0 && (t[j] & 0xC0) == 0x80 && i - j < 4) j--;
    uint32_t c;
    s_cp(t + j, i - j, &c);
    return c;
}

/* A link at byte i: "http(s)://" + at least one non-space character, up to
 * the next white space; trailing .,;:!? dropped, and trailing ')' the URI
 * does not open. Returns its length (0: none). */
static size_t s_link_at(const unsigned char *t, size_t len, size_t i)
{
    size_t scheme;
    if (len - i > 8 && strncasecmp((const char *)t + i, "https://", 8) == 0) scheme = 8;
    else if (len - i > 7 && strncasecmp((const char *)t + i, "http://", 7) == 0) scheme = 7;
    else return 0;
    uint32_t prev = s_prev_cp(t, i);
    if (i > 0 && !s_space(prev) && prev != '(') return 0;
    size_t end = i + scheme;
    while (end < len) {
        uint32_t c;
        size_t k = s_cp(t + end, len - end, &c);
        if (s_space(c)) break;
        end += k;
    }
    /* trailing punctuation, and closing parentheses the URI does not open
     * (Bluesky drops one ')' when there is no '(': balancing is the same
     * there, and right for "(see https://x.y/a_(b))") */
    for (;;) {
        while (end > i + scheme && t[end - 1] && strchr(".,;:!?", t[end - 1])) end--;
        if (end <= i + scheme || t[end - 1] != ')') break;
        size_t open = 0, close = 0;
        for (size_t p = i; p < end; p++) {
            open += t[p] == '(';
            close += t[p] == ')';
        }
        if (close <= open) break;
        end--;
    }
    /* a host must follow the scheme */
    if (end == i + scheme || strchr("/.:?#@", t[i + scheme])) return 0;
    return end - i;
}

/* A hashtag at byte i ('#' or U+FF03 after white space or at the start):
 * fills the facet's ranges and returns 1. */
static int s_tag_at(const unsigned char *t, size_t len, size_t i, cr_bsky_facet_t *f)
{
    size_t mark;
    if (t[i] == '#') mark = 1;
    else if (len - i >= 3 && t[i] == 0xEF && t[i + 1] == 0xBC && t[i + 2] == 0x83) mark = 3;
    else return 0;
    if (i > 0 && !s_space(s_prev_cp(t, i))) return 0;
    size_t start = i + mark, end = start;
    uint32_t c = 0;
    if (start < len) {
        s_cp(t + start, len - start, &c);
        if (c == 0xfe0f) return 0;
    }
    while (end < len) {
        size_t k = s_cp(t + end, len - end, &c);
        if (s_space(c) || s_tag_stop(c)) break;
        end += k;
    }
    /* drop trailing punctuation */
    while (end > start) {
        size_t j = end - 1;
        while (j > start && (t[j] & 0xC0) == 0x80) j--;
        s_cp(t + j, end - j, &c);
        if (!s_punct(c)) break;
        end = j;
    }
    if (end == start || end - start > BSKY_TAG_MAX_BYTES) return 0;
    size_t chars = 0;
    int letter = 0; /* something that is not a digit, a space or punctuation */
    for (size_t p = start; p < end;) {
        p += s_cp(t + p, end - p, &c);
        chars++;
        if (!(c >= '0' && c <= '9') && !s_punct(c)) letter = 1;
    }
    if (!letter || chars > BSKY_TAG_MAX_CHARS) return 0;
    f->kind = CR_BSKY_FACET_TAG;
    f->start = i;
    f->end = end;
    f->value = start;
    f->value_len = end - start;
    return 1;
}

size_t cr_bluesky_facets(const char *text, size_t len, cr_bsky_facet_t *out, size_t max)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t n = 0, i = 0;
    if (!text) return 0;
    while (i < len && n < max) {
        size_t link = (t[i] == 'h' || t[i] == 'H') ? s_link_at(t, len, i) : 0;
        if (link) {
            out[n++] = (cr_bsky_facet_t){CR_BSKY_FACET_LINK, i, i + link, i, link};
            i += link;
            continue;
        }
        cr_bsky_facet_t f;
        if ((t[i] == '#' || t[i] == 0xEF) && s_tag_at(t, len, i, &f)) {
            out[n++] = f;
            i = f.end;
            continue;
        }
        uint32_t c;
        i += s_cp(t + i, len - i, &c);
    }
    return n;
}

/* ---- sessions ---------------------------------------------------------- */

static void s_wipe_free(char **p)
{
    if (*p) {
        explicit_bzero(*p, strlen(*p));
        free(*p);
        *p = NULL;
    }
}

void cr_bluesky_session_clear(cr_bsky_session_t *s)
{
    if (!s) return;
    s_wipe_free(&s->access);
    s_wipe_free(&s->refresh);
    memset(s, 0, sizeof *s);
}

static int s_b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
}

int64_t cr_bluesky_jwt_exp_ms(const char *jwt)
{
    if (!jwt) return 0;
    const char *p = strchr(jwt, '.');
    const char *q = p ? strchr(p + 1, '.') : NULL;
    if (!p || !q || q - p - 1 > 4096 || q - p - 1 < 2) return 0;
    size_t n = (size_t)(q - p - 1);
    unsigned char buf[3072];
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[1 + i];
        if (c == '=') break;
        int v = s_b64url_val(c);
        if (v < 0) return 0;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= sizeof buf) return 0;
            buf[o++] = (unsigned char)(acc >> bits);
        }
    }
    json_t *root = json_loadb((const char *)buf, o, 0, NULL);
    json_t *exp = json_object_get(root, "exp");
    int64_t ms = 0;
    if (json_is_integer(exp) && json_integer_value(exp) > 0 &&
        json_integer_value(exp) < 100000000000LL)
        ms = (int64_t)json_integer_value(exp) * 1000;
    json_decref(root);
    return ms;
}

/* The cache: a fixed table, searched linearly (a worker serves a few
 * thousand accounts at most; a scan of it costs less than one request). */
typedef struct {
    int64_t account_id; /* 0: free */
    uint64_t cred;      /* hash of api_base, identifier, app password */
    cr_bsky_session_t s;
    uint64_t gen;        /* changes with every new access token */
    int64_t used_ms;
} s_slot_t;

static s_slot_t *s_slots;
static uint64_t s_gen_seq;

/* A *flight*: one call (its leader) getting a new session for an account
 * (refreshSession, then createSession if the refresh is refused), and the
 * calls of the same account waiting for it (CR_STEP_WAIT, woken with
 * cr_call_wake when it ends). At most one per account and credentials, so
 * createSession and refreshSession are never sent twice at once for an
 * account. A flight belongs to live calls: it ends with its leader's answer
 * or release; a waiter released first leaves it. */
typedef struct s_state s_state_t;
typedef struct s_flight {
    int64_t account_id;
    uint64_t cred;
    s_state_t *leader;
    s_state_t *waiters; /* through s_state_t.wnext */
    struct s_flight *next;
} s_flight_t;

static s_flight_t *s_flights;

static void s_flights_drop(void);

void cr_bluesky_sessions_reset(void)
{
    s_flights_drop();
    if (!s_slots) return;
    for (size_t i = 0; i < CR_BSKY_SESSIONS_MAX; i++) cr_bluesky_session_clear(&s_slots[i].s);
    memset(s_slots, 0, CR_BSKY_SESSIONS_MAX * sizeof *s_slots);
}

size_t cr_bluesky_flights_count(void)
{
    size_t n = 0;
    for (const s_flight_t *f = s_flights; f; f = f->next) n++;
    return n;
}

size_t cr_bluesky_sessions_count(void)
{
    size_t n = 0;
    for (size_t i = 0; s_slots && i < CR_BSKY_SESSIONS_MAX; i++) n += s_slots[i].account_id != 0;
    return n;
}

static uint64_t s_cred(const Crieur__Task *task)
{
    const Crieur__Account *a = task->account;
    uint64_t h = s_hash(s_str(a->api_base), strlen(s_str(a->api_base)), 1);
    h = s_hash(s_str(a->handle), strlen(s_str(a->handle)), h);
    return s_hash(s_str(a->token), strlen(s_str(a->token)), h);
}

/* The account's slot, if it holds a session made with these credentials
 * (a slot left by other credentials is emptied). */
static s_slot_t *s_slot_find(int64_t account_id, uint64_t cred)
{
    for (size_t i = 0; s_slots && i < CR_BSKY_SESSIONS_MAX; i++) {
        s_slot_t *sl = &s_slots[i];
        if (sl->account_id != account_id) continue;
        if (sl->cred == cred) return sl;
        cr_bluesky_session_clear(&sl->s);
        memset(sl, 0, sizeof *sl);
        return NULL;
    }
    return NULL;
}

/* Takes the session's tokens (s is left cleared). NULL out of memory. */
static s_slot_t *s_slot_store(int64_t account_id, uint64_t cred, cr_bsky_session_t *s,
                              int64_t now_ms)
{
    if (!s_slots && !(s_slots = calloc(CR_BSKY_SESSIONS_MAX, sizeof *s_slots))) return NULL;
    s_slot_t *sl = s_slot_find(account_id, cred), *lru = NULL;
    for (size_t i = 0; !sl && i < CR_BSKY_SESSIONS_MAX; i++) {
        s_slot_t *c = &s_slots[i];
        if (c->account_id == 0) {
            sl = c;
            break;
        }
        if (!lru || c->used_ms < lru->used_ms) lru = c;
    }
    if (!sl) sl = lru ? lru : &s_slots[0]; /* evict the least recently used */
    if (sl->account_id != account_id) {
        cr_bluesky_session_clear(&sl->s);
        memset(sl, 0, sizeof *sl);
    }
    cr_bluesky_session_clear(&sl->s);
    sl->s = *s;
    memset(s, 0, sizeof *s);
    sl->account_id = account_id;
    sl->cred = cred;
    sl->gen = ++s_gen_seq;
    sl->used_ms = now_ms;
    return sl;
}

/* ---- requests ---------------------------------------------------------- */

static int s_account_ok(const Crieur__Task *task, cr_result_t *r)
{
    const Crieur__Account *acc = task->account;
    if (!acc || task->payload_case != CRIEUR__TASK__PAYLOAD_PUBLISH || !task->publish)
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "publish task without account or payload", "bad_task");
    const char *pw = s_str(acc->token);
    if (!pw[0] || strlen(pw) > BSKY_MAX_PASSWORD)
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED,
                              "account has no usable app password", "no_token");
    const char *h = s_str(acc->handle);
    while (*h == '@') h++;
    if (!cr_text_token_ok(h, CR_BSKY_HANDLE_MAX))
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "account handle is not a usable Bluesky identifier", "bad_handle");
    return 0;
}

static int s_bad_base(cr_result_t *r)
{
    return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                          "account api_base is not a usable http(s) URL", "bad_api_base");
}

/* {api_base}/xrpc/<nsid><query>; NULL if the base is unusable. */
static char *s_url(const Crieur__Task *task, const char *nsid, const char *query)
{
    char path[1024];
    int n = snprintf(path, sizeof path, BSKY_XRPC "%s%s", nsid, query ? query : "");
    if (n < 0 || (size_t)n >= sizeof path) return NULL;
    return cr_api_url(s_str(task->account->api_base), path, BSKY_MAX_URL);
}

/* method url, Bearer token (may be NULL), JSON body (taken, may be NULL). */
static int s_request(const char *method, const char *url, const char *bearer, char **body_p,
                     size_t body_len, cr_http_req_t *req, cr_result_t *r)
{
    int rc = -1;
    if (cr_http_req_init(req, method, url) == 0 &&
        (!bearer || cr_http_req_bearer(req, bearer) == 0) &&
        cr_http_req_header(req, "User-Agent", BSKY_USER_AGENT) == 0 &&
        cr_http_req_header(req, "Accept", "application/json") == 0 &&
        (!body_p || cr_http_req_body(req, "application/json", body_p, body_len) == 0))
        rc = 0;
    if (rc) {
        cr_http_req_clear(req);
        cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "out of memory building the request",
                       "internal");
    }
    return rc;
}

/* Compact JSON of obj, malloc'd; NULL out of memory. */
static char *s_dump(json_t *obj, size_t *len)
{
    size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
    char *body = n ? malloc(n) : NULL;
    if (body && json_dumpb(obj, body, n, JSON_COMPACT) != n) {
        free(body);
        body = NULL;
    }
    *len = n;
    return body;
}

int cr_bluesky_session_request(const Crieur__Task *task, cr_http_req_t *req, cr_result_t *result)
{
    if (s_account_ok(task, result)) return -1;
    char *url = s_url(task, BSKY_CREATE_SESSION, NULL);
    if (!url) return s_bad_base(result);
    const char *ident = task->account->handle;
    while (*ident == '@') ident++;
    json_t *obj = json_object();
    json_t *jp = json_string(task->account->token); /* NULL if not UTF-8 */
    int rc = -1;
    if (!obj) goto oom;
    if (!jp) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED,
                       "account app password is not valid UTF-8", "no_token");
        goto out;
    }
    int set = json_object_set_new(obj, "password", jp); /* always takes jp */
    jp = NULL;
    if (set || json_object_set_new(obj, "identifier", json_string(ident))) goto oom;
    size_t bl = 0;
    char *body = s_dump(obj, &bl);
    if (!body) goto oom;
    rc = s_request("POST", url, NULL, &body, bl, req, result);
    if (body) {
        explicit_bzero(body, bl);
        free(body);
    }
    goto out;
oom:
    cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "out of memory building the request",
                   "internal");
out:
    json_decref(jp);
    if (obj) {
        /* the password lives in the object too */
        json_t *pw = json_object_get(obj, "password");
        if (json_is_string(pw)) {
            char *s = (char *)json_string_value(pw);
            explicit_bzero(s, json_string_length(pw));
        }
        json_decref(obj);
    }
    free(url);
    return rc;
}

int cr_bluesky_refresh_request(const Crieur__Task *task, const char *refresh_jwt,
                               cr_http_req_t *req, cr_result_t *result)
{
    if (s_account_ok(task, result)) return -1;
    if (!refresh_jwt || !cr_text_token_ok(refresh_jwt, BSKY_MAX_TOKEN))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "no usable refresh token",
                              "internal");
    char *url = s_url(task, BSKY_REFRESH_SESSION, NULL);
    if (!url) return s_bad_base(result);
    int rc = s_request("POST", url, refresh_jwt, NULL, 0, req, result);
    /* a refresh spends its token: never let libcurl send it twice */
    if (rc == 0) req->fresh_connection = 1;
    free(url);
    return rc;
}

/* A did usable in a query string and a JSON value. */
static int s_did_ok(const char *did)
{
    size_t n = did ? strlen(did) : 0;
    if (n < 8 || n > CR_BSKY_DID_MAX || strncmp(did, "did:", 4) != 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = did[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '%' || c == '-'))
            return 0;
    }
    return 1;
}

/* A BCP-47-looking language tag: letters first, then letters, digits, '-'. */
static int s_lang_ok(const char *l)
{
    size_t n = strlen(l);
    if (n < 2 || n > BSKY_MAX_LANG ||
        !((l[0] >= 'a' && l[0] <= 'z') || (l[0] >= 'A' && l[0] <= 'Z')))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((l[i] >= 'a' && l[i] <= 'z') || (l[i] >= 'A' && l[i] <= 'Z') ||
              (l[i] >= '0' && l[i] <= '9') || l[i] == '-'))
            return 0;
    return 1;
}

/* The facets array of text (NULL: none, or out of memory with *oom set). */
static json_t *s_facets_json(const char *text, size_t len, int *oom)
{
    cr_bsky_facet_t f[CR_BSKY_MAX_FACETS];
    size_t n = cr_bluesky_facets(text, len, f, CR_BSKY_MAX_FACETS);
    *oom = 0;
    if (n == 0) return NULL;
    json_t *arr = json_array();
    if (!arr) goto oom;
    for (size_t i = 0; i < n; i++) {
        json_t *feat = f[i].kind == CR_BSKY_FACET_LINK
                           ? json_pack("{s:s,s:s%}", "$type", BSKY_FACET_LINK, "uri",
                                       text + f[i].value, f[i].value_len)
                           : json_pack("{s:s,s:s%}", "$type", BSKY_FACET_TAG, "tag",
                                       text + f[i].value, f[i].value_len);
        json_t *facet = feat ? json_pack("{s:{s:I,s:I},s:[o]}", "index", "byteStart",
                                         (json_int_t)f[i].start, "byteEnd", (json_int_t)f[i].end,
                                         "features", feat)
                             : NULL;
        if (!facet || json_array_append_new(arr, facet)) goto oom;
    }
    return arr;
oom:
    json_decref(arr);
    *oom = 1;
    return NULL;
}

int cr_bluesky_create_request(const Crieur__Task *task, const char *access_jwt, const char *did,
                              const char *rkey, int64_t now_ms, cr_http_req_t *req,
                              cr_result_t *result)
{
    return cr_bluesky_create_request_ext(task, access_jwt, did, rkey, now_ms, NULL, req, result);
}

static int s_cid_ok(const char *c)
{
    return c && c[0] && strlen(c) <= BSKY_MAX_CID && cr_text_token_ok(c, BSKY_MAX_CID);
}

int cr_bluesky_create_request_ext(const Crieur__Task *task, const char *access_jwt,
                                  const char *did, const char *rkey, int64_t now_ms,
                                  const cr_bsky_extras_t *extras, cr_http_req_t *req,
                                  cr_result_t *result)
{
    char *url = NULL, *text = NULL, *body = NULL;
    json_t *obj = NULL;
    int rc = -1, oom = 0;
    if (s_account_ok(task, result)) return -1;
    const Crieur__PublishPayload *pub = task->publish;
    int is_reply = pub->in_reply_to && pub->in_reply_to[0];
    size_t n_blobs = extras ? extras->n_blobs : 0;
    /* the images and the reply's references come from earlier steps */
    if (pub->n_media != n_blobs || n_blobs > CR_BSKY_MAX_IMAGES ||
        (is_reply && (!extras || !s_cid_ok(extras->parent_cid) || !s_cid_ok(extras->root_cid) ||
                      !extras->parent_uri || !extras->root_uri)))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "the post's images or reply parent were not prepared (adapter bug)",
                              "internal");
    const char *lang = s_str(pub->language);
    if (lang[0] && !s_lang_ok(lang))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "language is not a BCP-47 language tag", "bad_language");
    if (!access_jwt || !cr_text_token_ok(access_jwt, BSKY_MAX_TOKEN) || !s_did_ok(did) ||
        !cr_bluesky_tid_valid(rkey))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "publish request without a usable session or record key", "internal");
    url = s_url(task, BSKY_CREATE_RECORD, NULL);
    if (!url) return s_bad_base(result);

    /* createdAt: the due time, unless the task runs far from it */
    int64_t at = task->due_ms > 0 ? task->due_ms : now_ms;
    if (at < now_ms - BSKY_CREATED_AT_SLACK_MS || at > now_ms + BSKY_CREATED_AT_SLACK_MS)
        at = now_ms;
    char created[40];
    if (cr_time_format_iso8601(at, created, sizeof created)) goto oom;

    size_t tl = 0;
    text = cr_bluesky_post_text(task, &tl);
    if (!text) goto oom;
    json_t *jtext = json_stringn(text, tl); /* NULL if not valid UTF-8 */
    if (!jtext) {
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "post text is not valid UTF-8",
                       "bad_text");
        goto out;
    }
    json_t *record = json_pack("{s:s,s:o,s:s}", "$type", BSKY_POST, "text", jtext, "createdAt",
                               created);
    if (!record) goto oom;
    obj = json_pack("{s:s,s:s,s:s,s:o}", "repo", did, "collection", BSKY_POST, "rkey", rkey,
                    "record", record);
    if (!obj) goto oom;
    if (lang[0] && json_object_set_new(record, "langs", json_pack("[s]", lang))) goto oom;
    json_t *facets = s_facets_json(text, tl, &oom);
    if (oom || (facets && json_object_set_new(record, "facets", facets))) goto oom;
    if (is_reply &&
        json_object_set_new(record, "reply",
                            json_pack("{s:{s:s,s:s},s:{s:s,s:s}}", "root", "uri", extras->root_uri,
                                      "cid", extras->root_cid, "parent", "uri",
                                      extras->parent_uri, "cid", extras->parent_cid)))
        goto oom;
    if (n_blobs) {
        json_t *images = json_array();
        if (!images || json_object_set_new(record, "embed",
                                           json_pack("{s:s,s:o}", "$type", BSKY_EMBED_IMAGES,
                                                     "images", images)))
            goto oom;
        for (size_t i = 0; i < n_blobs; i++)
            /* alt is required by the lexicon; the post carries none: "" */
            if (!extras->blobs[i] ||
                json_array_append_new(images, json_pack("{s:s,s:O}", "alt", "", "image",
                                                        extras->blobs[i])))
                goto oom;
    }
    size_t bl = 0;
    body = s_dump(obj, &bl);
    if (!body) goto oom;
    rc = s_request("POST", url, access_jwt, &body, bl, req, result);
    goto out;
oom:
    cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "out of memory building the request",
                   "internal");
out:
    json_decref(obj);
    free(body);
    free(text);
    free(url);
    return rc;
}

/* Percent-encodes s into out (unreserved characters kept); 0 or -1 if it
 * does not fit. */
static int s_urlenc(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (o + (keep ? 1 : 3) >= cap) return -1;
        if (keep) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

int cr_bluesky_get_record_request(const Crieur__Task *task, const char *access_jwt,
                                  const char *did, const char *rkey, cr_http_req_t *req,
                                  cr_result_t *result)
{
    if (s_account_ok(task, result)) return -1;
    char edid[3 * 256 + 1];
    if (!access_jwt || !cr_text_token_ok(access_jwt, BSKY_MAX_TOKEN) || !s_did_ok(did) ||
        strlen(did) > 256 || !cr_bluesky_tid_valid(rkey) || s_urlenc(did, edid, sizeof edid))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "read-back request without a usable session or record key",
                              "internal");
    char query[1024];
    snprintf(query, sizeof query, "?repo=%s&collection=" BSKY_POST "&rkey=%s", edid, rkey);
    char *url = s_url(task, BSKY_GET_RECORD, query);
    if (!url) return s_bad_base(result);
    int rc = s_request("GET", url, access_jwt, NULL, 0, req, result);
    free(url);
    return rc;
}

int cr_bluesky_upload_request(const Crieur__Task *task, const char *access_jwt,
                              const cr_media_t *m, cr_http_req_t *req, cr_result_t *result)
{
    if (s_account_ok(task, result)) return -1;
    if (!access_jwt || !cr_text_token_ok(access_jwt, BSKY_MAX_TOKEN) || !m || !m->data ||
        !m->mime)
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "upload request without a session or an image", "internal");
    char *url = s_url(task, BSKY_UPLOAD_BLOB, NULL);
    if (!url) return s_bad_base(result);
    char *body = malloc(m->len ? m->len : 1);
    int rc = -1;
    if (body) {
        memcpy(body, m->data, m->len);
        /* the raw bytes, typed: the PDS keeps the Content-Type as the blob's mimeType */
        if (cr_http_req_init(req, "POST", url) == 0 && cr_http_req_bearer(req, access_jwt) == 0 &&
            cr_http_req_header(req, "User-Agent", BSKY_USER_AGENT) == 0 &&
            cr_http_req_header(req, "Accept", "application/json") == 0 &&
            cr_http_req_body(req, m->mime, &body, m->len) == 0)
            rc = 0;
    }
    free(body);
    free(url);
    if (rc) {
        cr_http_req_clear(req);
        cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                       "out of memory building the upload", "internal");
    }
    return rc;
}

static int s_uri_ok(const char *uri, size_t len);

/* at://<authority>/app.bsky.feed.post/<rkey>: 0 with the parts copied, or -1. */
static int s_post_uri(const char *uri, char *authority, size_t acap, char *rkey, size_t kcap)
{
    if (!uri || strncmp(uri, "at://", 5) != 0 || !s_uri_ok(uri, strlen(uri))) return -1;
    const char *a = uri + 5, *c = strchr(a, '/');
    const char *k = strchr(c + 1, '/');
    if ((size_t)(k - c - 1) != strlen(BSKY_POST) || strncmp(c + 1, BSKY_POST, strlen(BSKY_POST)))
        return -1;
    size_t an = (size_t)(c - a), kn = strlen(k + 1);
    if (an >= acap || kn >= kcap) return -1;
    memcpy(authority, a, an);
    authority[an] = '\0';
    memcpy(rkey, k + 1, kn + 1);
    return 0;
}

int cr_bluesky_reply_uri_ok(const char *uri)
{
    char a[CR_BSKY_DID_MAX + 1], k[520];
    return s_post_uri(uri, a, sizeof a, k, sizeof k) == 0;
}

int cr_bluesky_parent_request(const Crieur__Task *task, const char *access_jwt,
                              const char *parent_uri, cr_http_req_t *req, cr_result_t *result)
{
    if (s_account_ok(task, result)) return -1;
    char authority[CR_BSKY_DID_MAX + 1], rkey[520], ea[3 * 256 + 1], ek[3 * 520 + 1];
    if (s_post_uri(parent_uri, authority, sizeof authority, rkey, sizeof rkey) ||
        strlen(authority) > 256 || s_urlenc(authority, ea, sizeof ea) ||
        s_urlenc(rkey, ek, sizeof ek))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "in_reply_to is not the at:// URI of a Bluesky post "
                              "(at://<did>/app.bsky.feed.post/<rkey>)",
                              "bad_reply_to");
    if (!access_jwt || !cr_text_token_ok(access_jwt, BSKY_MAX_TOKEN))
        return cr_result_fail(result, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                              "parent request without a usable session", "internal");
    char query[4096];
    snprintf(query, sizeof query, "?repo=%s&collection=" BSKY_POST "&rkey=%s", ea, ek);
    char *url = s_url(task, BSKY_GET_RECORD, query);
    if (!url) return s_bad_base(result);
    int rc = s_request("GET", url, access_jwt, NULL, 0, req, result);
    free(url);
    return rc;
}

/* ---- answers ----------------------------------------------------------- */

/* Epoch seconds in a header, as unix ms; -1 if absent or not a number. */
static int64_t s_epoch_header(const cr_http_resp_t *resp, const char *name)
{
    char v[32];
    long n = cr_http_header(resp, name, v, sizeof v);
    if (n <= 0 || n > 12) return -1;
    int64_t s = 0;
    for (long i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        s = s * 10 + (v[i] - '0');
    }
    return s * 1000;
}

static int64_t s_retry_at(const cr_http_resp_t *resp, int64_t now_ms)
{
    int64_t at = s_epoch_header(resp, BSKY_RESET_HEADER);
    if (at < 0) return now_ms + BSKY_RETRY_DEFAULT_MS;
    if (at < now_ms + BSKY_RETRY_MIN_MS) at = now_ms + BSKY_RETRY_MIN_MS;
    if (at > now_ms + BSKY_RETRY_MAX_MS) at = now_ms + BSKY_RETRY_MAX_MS;
    return at;
}

/* An XRPC error body {"error":"Name","message":".."}: name and message
 * copied (empty when absent); message falls back to the name, then to the
 * status line. */
typedef struct {
    char name[64];
    char message[CR_ERROR_MAX_BYTES + 1];
} s_xerr_t;

static void s_xerr(const cr_http_resp_t *resp, s_xerr_t *e)
{
    e->name[0] = e->message[0] = '\0';
    json_t *root = NULL;
    if (resp->body && resp->body_len > 0) root = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *name = json_string_value(json_object_get(root, "error"));
    const char *msg = json_string_value(json_object_get(root, "message"));
    if (name) {
        size_t n = 0;
        for (const char *p = name; *p && n + 1 < sizeof e->name; p++)
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '_' || *p == '-' || *p == '.')
                e->name[n++] = *p;
        e->name[n] = '\0';
    }
    if (msg && msg[0]) {
        char *clean = cr_text_clean(msg, strlen(msg), CR_ERROR_MAX_BYTES);
        if (clean) snprintf(e->message, sizeof e->message, "%s", clean);
        free(clean);
    }
    if (!e->message[0] && e->name[0]) snprintf(e->message, sizeof e->message, "%s", e->name);
    if (!e->message[0]) cr_status_text(resp, e->message, sizeof e->message);
    json_decref(root);
}

/* The error code of a result: the XRPC error name, else the HTTP status. */
static void s_code(const cr_http_resp_t *resp, const s_xerr_t *e, char *code, size_t len)
{
    if (e->name[0]) snprintf(code, len, "%s", e->name);
    else snprintf(code, len, "%ld", resp->status);
}

/* Network failures: TRANSIENT when nothing reached the platform, else
 * sent_outcome. Returns 1 if resp was one. */
static int s_network(const cr_http_resp_t *resp, Crieur__Outcome sent_outcome, const char *what,
                     cr_result_t *r)
{
    if (resp->curl_code == 0 && !resp->too_large) return 0;
    char buf[CR_ERROR_MAX_BYTES + 1], code[32];
    const char *err = resp->too_large ? "response too large"
                      : resp->error && resp->error[0]
                          ? resp->error
                          : curl_easy_strerror((CURLcode)resp->curl_code);
    if (resp->too_large) snprintf(code, sizeof code, "too_large");
    else snprintf(code, sizeof code, "curl:%d", resp->curl_code);
    if (!resp->too_large && (!resp->sent || cr_http_code_before_send(resp->curl_code))) {
        snprintf(buf, sizeof buf, "%splatform not reached: %s", what, err);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
    } else {
        snprintf(buf, sizeof buf, "%sno usable answer after the request was sent: %s", what, err);
        cr_result_set(r, sent_outcome, buf, code);
    }
    return 1;
}

/* Token trouble shared by every authenticated call: EXPIRED, REAUTH, or
 * DONE (not one). */
static cr_bsky_verdict_t s_token_verdict(const cr_http_resp_t *resp, const s_xerr_t *e,
                                         cr_result_t *r)
{
    char code[80];
    s_code(resp, e, code, sizeof code);
    if (resp->status == 400 && strcmp(e->name, BSKY_ERR_EXPIRED) == 0) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, e->message, code);
        return CR_BSKY_EXPIRED;
    }
    if (resp->status == 401 ||
        (resp->status == 400 && strcmp(e->name, BSKY_ERR_INVALID_TOKEN) == 0)) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, e->message, code);
        return CR_BSKY_REAUTH;
    }
    return CR_BSKY_DONE;
}

/* A session answer: accessJwt, refreshJwt, did, handle. 0 or -1. */
static int s_parse_session(const cr_http_resp_t *resp, cr_bsky_session_t *s)
{
    cr_bluesky_session_clear(s);
    json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    const char *access = json_string_value(json_object_get(root, "accessJwt"));
    const char *refresh = json_string_value(json_object_get(root, "refreshJwt"));
    const char *did = json_string_value(json_object_get(root, "did"));
    const char *handle = json_string_value(json_object_get(root, "handle"));
    int rc = -1;
    if (!access || !cr_text_token_ok(access, BSKY_MAX_TOKEN) || !s_did_ok(did) ||
        (refresh && !cr_text_token_ok(refresh, BSKY_MAX_TOKEN)))
        goto out;
    s->access = strdup(access);
    s->refresh = refresh ? strdup(refresh) : NULL;
    if (!s->access || (refresh && !s->refresh)) goto out;
    snprintf(s->did, sizeof s->did, "%s", did);
    if (handle && cr_text_token_ok(handle, CR_BSKY_HANDLE_MAX))
        snprintf(s->handle, sizeof s->handle, "%s", handle);
    s->access_exp_ms = cr_bluesky_jwt_exp_ms(s->access);
    s->refresh_exp_ms = s->refresh ? cr_bluesky_jwt_exp_ms(s->refresh) : 0;
    rc = 0;
out:
    if (rc) cr_bluesky_session_clear(s);
    json_decref(root);
    return rc;
}

cr_bsky_verdict_t cr_bluesky_session_result(const cr_http_resp_t *resp, int64_t now_ms,
                                            cr_bsky_session_t *session, cr_result_t *r)
{
    char buf[CR_ERROR_MAX_BYTES + 64], code[80];
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    /* a session changes nothing on the platform: never INDETERMINATE */
    if (s_network(resp, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "creating a session: ", r))
        return CR_BSKY_DONE;
    long st = resp->status;
    if (st >= 200 && st <= 299) {
        if (s_parse_session(resp, session) == 0) return CR_BSKY_OK;
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "creating a session: malformed answer",
                      "malformed_session");
        return CR_BSKY_DONE;
    }
    s_xerr_t e;
    s_xerr(resp, &e);
    s_code(resp, &e, code, sizeof code);
    snprintf(buf, sizeof buf, "creating a session: %s", e.message);
    if (st == 400 || st == 401 || st == 403) {
        /* wrong or revoked app password, taken-down account, second factor */
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
    } else if (st == 429) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = s_retry_at(resp, now_ms);
    } else if (st == 408 || (st >= 500 && st <= 599)) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
    } else if ((st >= 300 && st <= 399) || st == 404 || st == 405 || st == 501) {
        snprintf(buf, sizeof buf, "creating a session: %s: check the account's api_base",
                 e.message);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
    } else {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
    }
    return CR_BSKY_DONE;
}

cr_bsky_verdict_t cr_bluesky_refresh_result(const cr_http_resp_t *resp, int64_t now_ms,
                                            cr_bsky_session_t *session, cr_result_t *r)
{
    char buf[CR_ERROR_MAX_BYTES + 64], code[80];
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    if (s_network(resp, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "refreshing the session: ", r))
        return CR_BSKY_REAUTH; /* the token may be spent: start a new session */
    if (resp->status >= 200 && resp->status <= 299 && s_parse_session(resp, session) == 0)
        return CR_BSKY_OK;
    s_xerr_t e;
    s_xerr(resp, &e);
    s_code(resp, &e, code, sizeof code);
    snprintf(buf, sizeof buf, "refreshing the session: %s", e.message);
    if (resp->status == 429) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = s_retry_at(resp, now_ms);
        return CR_BSKY_DONE;
    }
    cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
    return CR_BSKY_REAUTH;
}

/* The rkey of an at:// URI (its last segment), if it has record-key syntax. */
static const char *s_uri_rkey(const char *uri)
{
    const char *slash = strrchr(uri, '/');
    const char *k = slash ? slash + 1 : NULL;
    if (!k || !k[0] || strlen(k) > 512) return NULL;
    for (const char *p = k; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._:~-", *p)))
            return NULL;
    return k;
}

/* A usable at:// URI: printable ASCII, "at://<authority>/<collection>/<rkey>". */
static int s_uri_ok(const char *uri, size_t len)
{
    if (!uri || len < 10 || len > CR_FIELD_MAX_BYTES || strlen(uri) != len ||
        strncmp(uri, "at://", 5) != 0 || !cr_text_token_ok(uri, CR_FIELD_MAX_BYTES))
        return 0;
    const char *a = uri + 5, *c = strchr(a, '/');        /* authority */
    const char *k = c ? strchr(c + 1, '/') : NULL;       /* collection */
    if (!c || c == a || !k || k == c + 1 || strchr(k + 1, '/')) return 0;
    return s_uri_rkey(uri) != NULL;
}

/* OK with the record's URI and https://bsky.app/profile/<handle|did>/post/<rkey>. */
static void s_ok(cr_result_t *r, const char *handle, const char *uri)
{
    char url[CR_FIELD_MAX_BYTES + 1];
    const char *h = s_str(handle);
    int h_ok = h[0] && strlen(h) <= CR_BSKY_HANDLE_MAX;
    for (const char *p = h; h_ok && *p; p++)
        h_ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               *p == '.' || *p == '-' || *p == '_';
    char authority[CR_BSKY_DID_MAX + 1];
    if (!h_ok) { /* at://<did>/...: the profile URL takes a did too */
        const char *a = uri + 5, *end = strchr(a, '/');
        size_t n = end ? (size_t)(end - a) : 0;
        if (n > CR_BSKY_DID_MAX) n = 0;
        memcpy(authority, a, n);
        authority[n] = '\0';
        h = authority;
    }
    int n = snprintf(url, sizeof url, BSKY_WEB_PROFILE "%s" BSKY_WEB_POST "%s", h,
                     s_uri_rkey(uri));
    r->outcome = CRIEUR__OUTCOME__OUTCOME_OK;
    cr_result_field(&r->platform_post_id, uri, strlen(uri), CR_FIELD_MAX_BYTES);
    if (n > 0 && (size_t)n < sizeof url) /* a cut URL would be a wrong one */
        cr_result_field(&r->url, url, (size_t)n, CR_FIELD_MAX_BYTES);
}

static int s_exists_message(const char *msg)
{
    size_t n = strlen(msg);
    for (size_t i = 0; s_exists_marks[i]; i++) {
        size_t k = strlen(s_exists_marks[i]);
        for (size_t j = 0; j + k <= n; j++)
            if (strncasecmp(msg + j, s_exists_marks[i], k) == 0) return 1;
    }
    return 0;
}

cr_bsky_verdict_t cr_bluesky_create_result(const cr_http_resp_t *resp, const char *handle,
                                           int64_t now_ms, cr_result_t *r)
{
    char buf[CR_ERROR_MAX_BYTES + 64], code[80];
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    /* Sent, answer lost: the record may exist. The broker retries; the rkey
     * makes that safe (and the retry reads back first). */
    if (s_network(resp, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "", r)) return CR_BSKY_DONE;
    long st = resp->status;
    if (st >= 200 && st <= 299) {
        json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
        json_t *juri = json_object_get(root, "uri");
        const char *uri = json_string_value(juri);
        cr_bsky_verdict_t v = CR_BSKY_CHECK;
        if (uri && s_uri_ok(uri, json_string_length(juri))) {
            s_ok(r, handle, uri);
            v = CR_BSKY_OK;
        } else {
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "malformed success response",
                          "malformed_success");
        }
        json_decref(root);
        return v;
    }
    s_xerr_t e;
    s_xerr(resp, &e);
    s_code(resp, &e, code, sizeof code);
    cr_bsky_verdict_t tv = s_token_verdict(resp, &e, r);
    if (tv != CR_BSKY_DONE) return tv;
    if ((st == 400 || st == 409) && s_exists_message(e.message)) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, e.message, code);
        return CR_BSKY_EXISTS;
    }
    if (st == 429) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, e.message, code);
        r->retry_at_ms = s_retry_at(resp, now_ms);
    } else if (st == 408) {
        /* not read in time */
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, e.message, code);
    } else if (st >= 500 && st <= 599) {
        snprintf(buf, sizeof buf, "%s (the record may have been written)", e.message);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        return CR_BSKY_CHECK;
    } else if (st >= 300 && st <= 399) {
        snprintf(buf, sizeof buf, "unexpected redirect (%s): check the account's api_base",
                 e.message);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
    } else if (st >= 400 && st <= 499) {
        /* 400 InvalidRequest (validation, too long), 403, 404, 413... */
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, e.message, code);
    } else {
        snprintf(buf, sizeof buf, "unexpected answer (%s)", e.message);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, code);
    }
    return CR_BSKY_DONE;
}

cr_bsky_verdict_t cr_bluesky_record_result(const cr_http_resp_t *resp, const char *text,
                                           size_t len, const char *handle, int64_t now_ms,
                                           cr_result_t *r)
{
    char buf[CR_ERROR_MAX_BYTES + 64], code[80];
    cr_result_clear(r);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    if (s_network(resp, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "reading the record back: ", r)) {
        r->outcome = CRIEUR__OUTCOME__OUTCOME_TRANSIENT; /* a read changes nothing */
        return CR_BSKY_DONE;
    }
    long st = resp->status;
    if (st >= 200 && st <= 299) {
        /* A NUL in the text must not make the record unreadable. */
        json_t *root =
            resp->body ? json_loadb(resp->body, resp->body_len, JSON_ALLOW_NUL, NULL) : NULL;
        json_t *juri = json_object_get(root, "uri");
        json_t *jtext = json_object_get(json_object_get(root, "value"), "text");
        const char *uri = json_string_value(juri);
        cr_bsky_verdict_t v = CR_BSKY_DONE;
        if (!uri || !s_uri_ok(uri, json_string_length(juri)) || !json_is_string(jtext)) {
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                          "reading the record back: malformed answer", "malformed_readback");
        } else if (json_string_length(jtext) == len &&
                   memcmp(json_string_value(jtext), text, len) == 0) {
            s_ok(r, handle, uri);
            r->reconciled = 1;
            cr_result_field(&r->error, BSKY_FOUND_DETAIL, strlen(BSKY_FOUND_DETAIL),
                            CR_ERROR_MAX_BYTES);
            v = CR_BSKY_OK;
        } else {
            snprintf(buf, sizeof buf,
                     "record key collision: %s already holds another post (the key is derived "
                     "from this post's idempotency key); not published",
                     uri);
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, BSKY_CODE_COLLISION);
        }
        json_decref(root);
        return v;
    }
    s_xerr_t e;
    s_xerr(resp, &e);
    s_code(resp, &e, code, sizeof code);
    if ((st == 400 && strcmp(e.name, BSKY_ERR_NOT_FOUND) == 0) || st == 404) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, e.message, code);
        return CR_BSKY_NOT_FOUND;
    }
    cr_bsky_verdict_t tv = s_token_verdict(resp, &e, r);
    if (tv != CR_BSKY_DONE) return tv;
    snprintf(buf, sizeof buf, "reading the record back: %s", e.message);
    if (st == 429) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = s_retry_at(resp, now_ms);
    } else {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
    }
    return CR_BSKY_DONE;
}

void cr_bluesky_reply_clear(cr_bsky_reply_t *rp)
{
    free(rp->parent_uri);
    free(rp->parent_cid);
    free(rp->root_uri);
    free(rp->root_cid);
    memset(rp, 0, sizeof *rp);
}

/* {uri, cid} of a strongRef, both usable; NULL members otherwise. */
static int s_strong_ref(json_t *ref, const char **uri, const char **cid)
{
    json_t *ju = json_object_get(ref, "uri");
    *uri = json_string_value(ju);
    *cid = json_string_value(json_object_get(ref, "cid"));
    return *uri && s_uri_ok(*uri, json_string_length(ju)) && s_cid_ok(*cid);
}

/* Non-2xx answers shared by the upload and the parent read (neither
 * changes anything on the platform: never INDETERMINATE). */
static cr_bsky_verdict_t s_side_error(const cr_http_resp_t *resp, int64_t now_ms,
                                      const char *what, cr_result_t *r)
{
    char buf[CR_ERROR_MAX_BYTES + 64], code[80];
    s_xerr_t e;
    s_xerr(resp, &e);
    s_code(resp, &e, code, sizeof code);
    cr_bsky_verdict_t tv = s_token_verdict(resp, &e, r);
    if (tv != CR_BSKY_DONE) return tv;
    long st = resp->status;
    snprintf(buf, sizeof buf, "%s: %s", what, e.message);
    if (st == 429) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = s_retry_at(resp, now_ms);
    } else if (st == 408 || st >= 500 || st < 400) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
    } else {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
    }
    return CR_BSKY_DONE;
}

cr_bsky_verdict_t cr_bluesky_upload_result(const cr_http_resp_t *resp, int64_t now_ms,
                                           json_t **blob, cr_result_t *r)
{
    cr_result_clear(r);
    *blob = NULL;
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    if (s_network(resp, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "uploading an image: ", r)) {
        r->outcome = CRIEUR__OUTCOME__OUTCOME_TRANSIENT; /* an upload publishes nothing */
        return CR_BSKY_DONE;
    }
    if (resp->status >= 200 && resp->status <= 299) {
        json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
        json_t *b = json_object_get(root, "blob");
        const char *link = json_string_value(json_object_get(json_object_get(b, "ref"), "$link"));
        const char *mime = json_string_value(json_object_get(b, "mimeType"));
        json_t *size = json_object_get(b, "size");
        if (s_cid_ok(link) && mime && cr_text_token_ok(mime, 128) && json_is_integer(size) &&
            json_integer_value(size) >= 0)
            /* rebuilt from the checked fields: nothing else goes into the record */
            *blob = json_pack("{s:s,s:{s:s},s:s,s:I}", "$type", "blob", "ref", "$link", link,
                              "mimeType", mime, "size", (json_int_t)json_integer_value(size));
        json_decref(root);
        if (*blob) return CR_BSKY_OK;
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                      "uploading an image: malformed answer (no usable blob)", "malformed_blob");
        return CR_BSKY_DONE;
    }
    if (resp->status == 413) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                      "uploading an image: too large for the platform", "media_too_large");
        return CR_BSKY_DONE;
    }
    return s_side_error(resp, now_ms, "uploading an image", r);
}

cr_bsky_verdict_t cr_bluesky_parent_result(const cr_http_resp_t *resp, int64_t now_ms,
                                           cr_bsky_reply_t *out, cr_result_t *r)
{
    cr_result_clear(r);
    cr_bluesky_reply_clear(out);
    r->http_status = resp->status > 0 && resp->status < 1000 ? (int)resp->status : 0;
    if (s_network(resp, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "reading the post replied to: ", r)) {
        r->outcome = CRIEUR__OUTCOME__OUTCOME_TRANSIENT;
        return CR_BSKY_DONE;
    }
    long st = resp->status;
    if (st >= 200 && st <= 299) {
        json_t *root = resp->body
                           ? json_loadb(resp->body, resp->body_len, JSON_ALLOW_NUL, NULL)
                           : NULL;
        const char *puri, *pcid, *ruri = NULL, *rcid = NULL;
        cr_bsky_verdict_t v = CR_BSKY_DONE;
        if (!s_strong_ref(root, &puri, &pcid)) {
            cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                          "reading the post replied to: malformed answer (no uri and cid)",
                          "malformed_parent");
        } else {
            /* the thread's root: the parent's own reply.root, else the parent */
            json_t *reply = json_object_get(json_object_get(root, "value"), "reply");
            if (!reply || !s_strong_ref(json_object_get(reply, "root"), &ruri, &rcid)) {
                ruri = puri;
                rcid = pcid;
            }
            out->parent_uri = strdup(puri);
            out->parent_cid = strdup(pcid);
            out->root_uri = strdup(ruri);
            out->root_cid = strdup(rcid);
            if (out->parent_uri && out->parent_cid && out->root_uri && out->root_cid) {
                v = CR_BSKY_OK;
            } else {
                cr_bluesky_reply_clear(out);
                cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "out of memory", "internal");
            }
        }
        json_decref(root);
        return v;
    }
    s_xerr_t e;
    s_xerr(resp, &e);
    if ((st == 400 && strcmp(e.name, BSKY_ERR_NOT_FOUND) == 0) || st == 404) {
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                      "the post replied to does not exist (deleted, or a wrong in_reply_to URI)",
                      "reply_parent_not_found");
        return CR_BSKY_DONE;
    }
    return s_side_error(resp, now_ms, "reading the post replied to", r);
}

/* ---- adapter ----------------------------------------------------------- */

enum {
    S_START = 0,
    S_SESSION_SENT,
    S_REFRESH_SENT,
    S_SESSION_WAIT, /* waiting for another call's flight (CR_STEP_WAIT) */
    S_READ_SENT,
    S_CREATE_SENT,
    S_PARENT_SENT,
    S_DOWNLOAD_SENT,
    S_UPLOAD_SENT
};
enum { A_READ, A_CREATE, A_PARENT, A_UPLOAD }; /* what to send once a session is there */
enum { R_PRECHECK, R_EXISTS, R_CHECK }; /* why the record is read back */

struct s_state {
    cr_call_t *call; /* the call this state belongs to (woken through it) */
    uint64_t cred;
    char rkey[CR_BSKY_RKEY_LEN + 1];
    char *text;
    size_t text_len;
    uint64_t gen;    /* generation of the access token the last request carried */
    int fresh;       /* the session in use was created by this call */
    int auth_rounds; /* sessions created, refreshed and waited for by this call */
    s_flight_t *leads;  /* the flight this call leads, or NULL */
    s_flight_t *awaits; /* the flight this call waits for, or NULL */
    s_state_t *wnext;   /* the next waiter of that flight */
    int failed;         /* the flight waited for failed: its result is in shared */
    cr_result_t shared;
    int next;        /* A_READ or A_CREATE */
    int reason;      /* why a read is under way */
    cr_result_t saved; /* R_CHECK: the outcome if the record is not there */
    int parent_done;   /* a reply: the parent was read (reply filled) */
    cr_bsky_reply_t reply;
    size_t mi;         /* the image being uploaded */
    cr_media_t cur;    /* its bytes, kept until uploaded (resent after a refresh) */
    json_t *blobs[CR_BSKY_MAX_IMAGES];
};

static s_flight_t *s_flight_find(int64_t account_id, uint64_t cred)
{
    for (s_flight_t *f = s_flights; f; f = f->next)
        if (f->account_id == account_id && f->cred == cred) return f;
    return NULL;
}

/* Ends a flight and wakes its waiters. fail: the leader's result when no
 * session came of it; every waiter ends with the same outcome, status, error
 * and retry time. Without it a waiter looks at the cache again: the new
 * session, or none if the leader gave up (then it gets one itself). */
static void s_flight_end(s_flight_t *f, const cr_result_t *fail)
{
    for (s_flight_t **pp = &s_flights; *pp; pp = &(*pp)->next)
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    if (f->leader) f->leader->leads = NULL;
    s_state_t *w = f->waiters;
    while (w) {
        s_state_t *next = w->wnext;
        w->wnext = NULL;
        w->awaits = NULL;
        if (fail) {
            cr_result_clear(&w->shared);
            cr_result_set(&w->shared, fail->outcome, fail->error, fail->error_code);
            w->shared.http_status = fail->http_status;
            w->shared.retry_at_ms = fail->retry_at_ms;
            w->failed = 1;
        }
        cr_call_wake(w->call);
        w = next;
    }
    free(f);
}

/* For tests (cr_bluesky_sessions_reset): forgets every flight, detached from
 * its calls (a failed test leaves calls that are never released). */
static void s_flights_drop(void)
{
    while (s_flights) {
        s_flight_t *f = s_flights;
        s_flights = f->next;
        if (f->leader) f->leader->leads = NULL;
        for (s_state_t *w = f->waiters, *next; w; w = next) {
            next = w->wnext;
            w->wnext = NULL;
            w->awaits = NULL;
        }
        free(f);
    }
}

/* A waiter leaves its flight (its call ends first: deadline, cancel). */
static void s_flight_leave(s_state_t *st)
{
    s_flight_t *f = st->awaits;
    if (!f) return;
    for (s_state_t **pp = &f->waiters; *pp; pp = &(*pp)->wnext)
        if (*pp == st) {
            *pp = st->wnext;
            break;
        }
    st->wnext = NULL;
    st->awaits = NULL;
}

static void s_release(cr_call_t *call)
{
    s_state_t *st = call->state;
    if (!st) return;
    /* A flight cut short (cancel, deadline, stop): its waiters get a session
     * themselves; a refresh token it sent was taken out of the cache. */
    if (st->leads) s_flight_end(st->leads, NULL);
    s_flight_leave(st);
    cr_result_clear(&st->shared);
    cr_result_clear(&st->saved);
    cr_bluesky_reply_clear(&st->reply);
    cr_media_clear(&st->cur);
    for (size_t i = 0; i < CR_BSKY_MAX_IMAGES; i++) json_decref(st->blobs[i]);
    free(st->text);
    free(st);
    call->state = NULL;
}

static int s_session_loop(cr_call_t *call)
{
    return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, 0,
                        "could not get a usable Bluesky session", "session_loop");
}

/* Waits for st->awaits, at most until shortly before the task's deadline. */
static int s_park(cr_call_t *call, s_state_t *st)
{
    long ms = CR_MAX_STEP_WAIT_MS;
    int64_t deadline = call->task->deadline_ms;
    if (deadline > 0) {
        int64_t left = deadline - call->now_ms - BSKY_WAIT_MARGIN_MS;
        if (left <= 0) {
            s_flight_leave(st);
            /* what this call sent before was refused: nothing was written */
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, 0,
                                "the task's deadline passed while waiting for the account's "
                                "Bluesky session",
                                "deadline");
        }
        if (left < ms) ms = (long)left;
    }
    call->wait_ms = ms;
    call->step = S_SESSION_WAIT;
    return CR_STEP_WAIT;
}

/* Another call is getting the account's session: wait for its result. */
static int s_join(cr_call_t *call, s_state_t *st, s_flight_t *f)
{
    if (++st->auth_rounds > BSKY_AUTH_ROUNDS) return s_session_loop(call);
    st->fresh = 0; /* the session will be the leader's */
    st->awaits = f;
    st->wnext = f->waiters;
    f->waiters = st;
    return s_park(call, st);
}

/* This call gets the account's new session, for itself and every call that
 * joins it meanwhile: refreshSession with sl's refresh token (sl NULL:
 * createSession). Refresh tokens rotate: the token is taken out of the cache
 * as it is sent, so it is never sent twice. */
static int s_lead(cr_call_t *call, s_state_t *st, s_slot_t *sl)
{
    if (++st->auth_rounds > BSKY_AUTH_ROUNDS) {
        if (st->leads) s_flight_end(st->leads, NULL); /* the waiters try themselves */
        return s_session_loop(call);
    }
    if (!st->leads) {
        s_flight_t *f = calloc(1, sizeof *f);
        if (!f) return -1;
        f->account_id = call->task->account->id;
        f->cred = st->cred;
        f->leader = st;
        f->next = s_flights;
        s_flights = f;
        st->leads = f;
    }
    int rc;
    if (sl && sl->s.refresh) {
        rc = cr_bluesky_refresh_request(call->task, sl->s.refresh, &call->req, &call->result);
        s_wipe_free(&sl->s.refresh); /* spent once sent, whatever the answer */
        call->step = S_REFRESH_SENT;
    } else {
        rc = cr_bluesky_session_request(call->task, &call->req, &call->result);
        call->step = S_SESSION_SENT;
    }
    if (rc) {
        /* the same account data for every waiter: the same refusal */
        s_flight_end(st->leads, &call->result);
        return CR_STEP_DONE;
    }
    return CR_STEP_REQUEST;
}

static int s_send_read(cr_call_t *call, s_state_t *st, s_slot_t *sl)
{
    if (cr_bluesky_get_record_request(call->task, sl->s.access, sl->s.did, st->rkey, &call->req,
                                      &call->result))
        return CR_STEP_DONE;
    st->gen = sl->gen;
    call->step = S_READ_SENT;
    return CR_STEP_REQUEST;
}

static int s_send_create(cr_call_t *call, s_state_t *st, s_slot_t *sl)
{
    cr_bsky_extras_t x;
    memset(&x, 0, sizeof x);
    x.parent_uri = st->reply.parent_uri;
    x.parent_cid = st->reply.parent_cid;
    x.root_uri = st->reply.root_uri;
    x.root_cid = st->reply.root_cid;
    x.n_blobs = st->mi;
    for (size_t i = 0; i < st->mi && i < CR_BSKY_MAX_IMAGES; i++) x.blobs[i] = st->blobs[i];
    if (cr_bluesky_create_request_ext(call->task, sl->s.access, sl->s.did, st->rkey, call->now_ms,
                                      &x, &call->req, &call->result))
        return CR_STEP_DONE;
    st->gen = sl->gen;
    call->step = S_CREATE_SENT;
    return CR_STEP_REQUEST;
}

static int s_send_parent(cr_call_t *call, s_state_t *st, s_slot_t *sl)
{
    if (cr_bluesky_parent_request(call->task, sl->s.access, call->task->publish->in_reply_to,
                                  &call->req, &call->result))
        return CR_STEP_DONE;
    st->gen = sl->gen;
    call->step = S_PARENT_SENT;
    return CR_STEP_REQUEST;
}

static int s_send_upload(cr_call_t *call, s_state_t *st, s_slot_t *sl)
{
    if (cr_bluesky_upload_request(call->task, sl->s.access, &st->cur, &call->req, &call->result))
        return CR_STEP_DONE;
    st->gen = sl->gen;
    call->step = S_UPLOAD_SENT;
    return CR_STEP_REQUEST;
}

static int s_send_next(cr_call_t *call, s_state_t *st, s_slot_t *sl)
{
    switch (st->next) {
    case A_READ: return s_send_read(call, st, sl);
    case A_PARENT: return s_send_parent(call, st, sl);
    case A_UPLOAD: return s_send_upload(call, st, sl);
    default: return s_send_create(call, st, sl);
    }
}

static int s_expired(cr_call_t *call, s_state_t *st);

/* Sends st->next with the cached session, after getting one if needed.
 * While another call gets the account's session, this one waits for it
 * rather than use the session known to be refused. */
static int s_act(cr_call_t *call, s_state_t *st)
{
    s_flight_t *f = s_flight_find(call->task->account->id, st->cred);
    if (f && f->leader != st) return s_join(call, st, f);
    s_slot_t *sl = s_slot_find(call->task->account->id, st->cred);
    if (!sl || !sl->s.access) return s_expired(call, st);
    sl->used_ms = call->now_ms;
    if (sl->s.refresh_exp_ms && call->now_ms > sl->s.refresh_exp_ms)
        s_wipe_free(&sl->s.refresh);
    if (sl->s.access_exp_ms && call->now_ms > sl->s.access_exp_ms + BSKY_SKEW_MS &&
        sl->gen != st->gen) {
        /* known to be expired: refresh before, not after, a wasted request */
        st->gen = sl->gen;
        return s_expired(call, st);
    }
    return s_send_next(call, st, sl);
}

/* The access token st->gen was refused as expired, or there is none: a
 * newer one if the cache has it, else wait for the call getting one, else
 * get one (refresh if possible) for every call of the account. */
static int s_expired(cr_call_t *call, s_state_t *st)
{
    s_slot_t *sl = s_slot_find(call->task->account->id, st->cred);
    if (sl && sl->s.access && sl->gen != st->gen) return s_act(call, st); /* already renewed */
    s_flight_t *f = s_flight_find(call->task->account->id, st->cred);
    if (f && f->leader != st) return s_join(call, st, f);
    return s_lead(call, st, sl && sl->s.access && sl->s.refresh ? sl : NULL);
}

/* The session st->gen was refused (401, InvalidToken). */
static int s_reauth(cr_call_t *call, s_state_t *st)
{
    s_slot_t *sl = s_slot_find(call->task->account->id, st->cred);
    if (sl && sl->s.access && sl->gen != st->gen) return s_act(call, st);
    if (st->fresh) return CR_STEP_DONE; /* a brand-new session refused: result says why */
    s_flight_t *f = s_flight_find(call->task->account->id, st->cred);
    if (f && f->leader != st) return s_join(call, st, f);
    if (sl) {
        cr_bluesky_session_clear(&sl->s);
        memset(sl, 0, sizeof *sl);
    }
    return s_lead(call, st, NULL);
}

static int s_read(cr_call_t *call, s_state_t *st, int reason)
{
    st->next = A_READ;
    st->reason = reason;
    return s_act(call, st);
}

static int s_create(cr_call_t *call, s_state_t *st)
{
    st->next = A_CREATE;
    return s_act(call, st);
}

/* A session answer (created or refreshed) arrived: cache it, let the calls
 * waiting for it go on, and go on. */
static int s_got_session(cr_call_t *call, s_state_t *st, cr_bsky_session_t *s, int fresh)
{
    s_slot_t *sl = s_slot_store(call->task->account->id, st->cred, s, call->now_ms);
    cr_bluesky_session_clear(s);
    if (st->leads) s_flight_end(st->leads, NULL);
    if (!sl) return -1;
    st->fresh = fresh;
    st->gen = 0;
    return s_send_next(call, st, sl);
}

static size_t s_image_max(void)
{
    long long v = cr_setting_int("bluesky", "image_max_bytes", BSKY_IMAGE_MAX_BYTES_DEFAULT);
    return v <= 0 || v > (long long)CR_MEDIA_MAX_BYTES ? CR_MEDIA_MAX_BYTES : (size_t)v;
}

/* What the record needs before it is written: the parent of a reply, then
 * each image (read or downloaded, then uploaded); then the record. */
static int s_proceed(cr_call_t *call, s_state_t *st)
{
    const Crieur__PublishPayload *pub = call->task->publish;
    cr_result_clear(&call->result);
    if (pub->in_reply_to && pub->in_reply_to[0] && !st->parent_done) {
        st->next = A_PARENT;
        return s_act(call, st);
    }
    if (st->mi < pub->n_media) {
        if (!st->cur.data) {
            const char *ref = pub->media[st->mi];
            switch (cr_media_source(ref)) {
            case CR_MEDIA_FILE:
                if (cr_media_load_file(ref, s_image_max(), &st->cur, &call->result))
                    return CR_STEP_DONE;
                break;
            case CR_MEDIA_URL:
                if (cr_media_fetch_request(&call->req, ref, s_image_max(), &call->result))
                    return CR_STEP_DONE;
                call->step = S_DOWNLOAD_SENT;
                return CR_STEP_REQUEST;
            default: {
                char msg[96];
                snprintf(msg, sizeof msg,
                         "media item %zu is neither an http(s) URL nor an absolute file path",
                         st->mi + 1);
                return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0, msg,
                                    "bad_media");
            }
            }
        }
        st->next = A_UPLOAD;
        return s_act(call, st);
    }
    return s_create(call, st);
}

static int s_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    const Crieur__Task *t = call->task;
    s_state_t *st = call->state;
    cr_bsky_session_t session;
    memset(&session, 0, sizeof session);
    switch (call->step) {
    case S_START: {
        if (t->kind != CRIEUR__JOB_KIND__KIND_PUBLISH)
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "bluesky adapter does not handle this job kind",
                                "unsupported_kind");
        if (s_account_ok(t, &call->result)) return CR_STEP_DONE;
        /* The record key comes from the post's idempotency key (or, without
         * one, its id): the same for every attempt. */
        char fallback[48];
        const char *key = s_str(t->publish->idempotency_key);
        if (!key[0] && t->publish->post_id > 0) {
            snprintf(fallback, sizeof fallback, "crieur-post-%lld", (long long)t->publish->post_id);
            key = fallback;
        }
        if (!key[0])
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "post has no idempotency key (the record key comes from it)",
                                "bad_idempotency_key");
        long long max = cr_setting_int("bluesky", "max_images", BSKY_MAX_IMAGES_DEFAULT);
        if (max > CR_BSKY_MAX_IMAGES) max = CR_BSKY_MAX_IMAGES;
        if ((long long)t->publish->n_media > max) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "post has %zu images; Bluesky takes at most %lld per post "
                     "(setting bluesky.max_images)",
                     t->publish->n_media, max);
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0, msg,
                                "too_many_media");
        }
        const char *parent = s_str(t->publish->in_reply_to);
        if (parent[0] && !cr_bluesky_reply_uri_ok(parent))
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_PERMANENT, 0,
                                "in_reply_to is not the at:// URI of a Bluesky post "
                                "(at://<did>/app.bsky.feed.post/<rkey>)",
                                "bad_reply_to");
        st = calloc(1, sizeof *st);
        if (!st) return -1;
        call->state = st;
        st->call = call;
        st->cred = s_cred(t);
        cr_bluesky_rkey(key, st->rkey);
        st->text = cr_bluesky_post_text(t, &st->text_len);
        if (!st->text) return -1;
        /* A later attempt looks for the record first: an earlier one may have
         * written it, and the error for an existing rkey is unconfirmed. */
        return t->attempt > 1 ? s_read(call, st, R_PRECHECK) : s_proceed(call, st);
    }
    case S_SESSION_SENT:
        if (!prev || !st) return -1;
        if (cr_bluesky_session_result(prev, call->now_ms, &session, &call->result) == CR_BSKY_OK)
            return s_got_session(call, st, &session, 1);
        /* every call waiting for this session ends as this one does */
        if (st->leads) s_flight_end(st->leads, &call->result);
        return CR_STEP_DONE;
    case S_REFRESH_SENT:
        if (!prev || !st) return -1;
        switch (cr_bluesky_refresh_result(prev, call->now_ms, &session, &call->result)) {
        case CR_BSKY_OK:
            cr_result_clear(&call->result);
            return s_got_session(call, st, &session, 0);
        case CR_BSKY_DONE:
            if (st->leads) s_flight_end(st->leads, &call->result);
            return CR_STEP_DONE;
        default:
            /* refused or lost (the spent refresh token is gone): a new
             * session, still for the calls waiting */
            cr_result_clear(&call->result);
            return st->leads ? s_lead(call, st, NULL) : s_expired(call, st);
        }
    case S_SESSION_WAIT:
        if (prev || !st) return -1;
        if (st->awaits) return s_park(call, st); /* the wait ran out, not the flight */
        if (st->failed) { /* the session this call waited for did not come */
            cr_result_clear(&call->result);
            call->result = st->shared;
            memset(&st->shared, 0, sizeof st->shared);
            st->failed = 0;
            return CR_STEP_DONE;
        }
        return s_act(call, st);
    case S_READ_SENT: {
        if (!prev || !st) return -1;
        s_slot_t *sl = s_slot_find(t->account->id, st->cred);
        cr_bsky_verdict_t v = cr_bluesky_record_result(
            prev, st->text, st->text_len, sl && sl->s.handle[0] ? sl->s.handle : NULL,
            call->now_ms, &call->result);
        switch (v) {
        case CR_BSKY_OK: return CR_STEP_DONE; /* written by an earlier attempt */
        case CR_BSKY_EXPIRED: return s_expired(call, st);
        case CR_BSKY_REAUTH: return s_reauth(call, st);
        case CR_BSKY_NOT_FOUND:
            if (st->reason == R_PRECHECK) {
                cr_result_clear(&call->result);
                return s_proceed(call, st);
            }
            if (st->reason == R_CHECK) { /* the write did not happen: its error stands */
                cr_result_clear(&call->result);
                call->result = st->saved;
                memset(&st->saved, 0, sizeof st->saved);
                return CR_STEP_DONE;
            }
            /* "already exists" but not readable: retry later, the rkey guards */
            cr_result_clear(&call->result);
            return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, (int)prev->status,
                                "the record key is taken but the record cannot be read yet",
                                "exists_unreadable");
        default:
            /* A failed precheck is no reason not to publish: the rkey still
             * refuses a second record. */
            if (st->reason == R_PRECHECK &&
                call->result.outcome == CRIEUR__OUTCOME__OUTCOME_TRANSIENT) {
                cr_result_clear(&call->result);
                return s_proceed(call, st);
            }
            return CR_STEP_DONE;
        }
    }
    case S_CREATE_SENT: {
        if (!prev || !st) return -1;
        s_slot_t *sl = s_slot_find(t->account->id, st->cred);
        const char *handle = sl && sl->s.handle[0] ? sl->s.handle : NULL;
        switch (cr_bluesky_create_result(prev, handle, call->now_ms, &call->result)) {
        case CR_BSKY_OK: return CR_STEP_DONE;
        case CR_BSKY_EXPIRED: return s_expired(call, st);
        case CR_BSKY_REAUTH: return s_reauth(call, st);
        case CR_BSKY_EXISTS: cr_result_clear(&call->result); return s_read(call, st, R_EXISTS);
        case CR_BSKY_CHECK:
            cr_result_clear(&st->saved);
            st->saved = call->result;
            memset(&call->result, 0, sizeof call->result);
            return s_read(call, st, R_CHECK);
        default: return CR_STEP_DONE;
        }
    }
    case S_PARENT_SENT:
        if (!prev || !st) return -1;
        switch (cr_bluesky_parent_result(prev, call->now_ms, &st->reply, &call->result)) {
        case CR_BSKY_OK: st->parent_done = 1; return s_proceed(call, st);
        case CR_BSKY_EXPIRED: return s_expired(call, st);
        case CR_BSKY_REAUTH: return s_reauth(call, st);
        default: return CR_STEP_DONE;
        }
    case S_DOWNLOAD_SENT:
        if (!prev || !st || st->mi >= t->publish->n_media) return -1;
        if (cr_media_from_response(prev, t->publish->media[st->mi], s_image_max(), &st->cur,
                                   &call->result))
            return CR_STEP_DONE;
        return s_proceed(call, st);
    case S_UPLOAD_SENT: {
        if (!prev || !st || st->mi >= CR_BSKY_MAX_IMAGES) return -1;
        json_t *blob = NULL;
        switch (cr_bluesky_upload_result(prev, call->now_ms, &blob, &call->result)) {
        case CR_BSKY_OK:
            st->blobs[st->mi++] = blob;
            cr_media_clear(&st->cur);
            return s_proceed(call, st);
        case CR_BSKY_EXPIRED: return s_expired(call, st);
        case CR_BSKY_REAUTH: return s_reauth(call, st);
        default: return CR_STEP_DONE;
        }
    }
    default:
        return -1;
    }
}

const cr_adapter_t cr_bluesky_adapter = {
    .platform = "bluesky",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH),
    .step = s_step,
    .release = s_release,
};
