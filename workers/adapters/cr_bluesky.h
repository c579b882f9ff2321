/* cr_bluesky: the Bluesky (AT Protocol, XRPC) adapter (see docs
 * platform-apis.md, Bluesky).
 *
 * Vocabulary: the account's token is its *app password* (for now: stored
 * sessions come with the credentials work). A *session* is what
 * com.atproto.server.createSession returns for the account's handle and app
 * password: an access token (accessJwt, about 2 hours), a refresh token
 * (refreshJwt, 90 days), the account's did and handle. A *record* is written
 * with com.atproto.repo.createRecord under a record key (*rkey*).
 *
 * Sessions are cached per account in the worker process (a small table keyed
 * by account id, tied to a hash of api_base, handle and app password) and
 * reused by every task of the account: createSession is limited to 30 per 5
 * minutes per identifier. An access token refused as expired (HTTP 400
 * ExpiredToken) is refreshed with refreshSession and the same request is sent
 * again within the same task (no failed attempt). A refresh that fails falls
 * back to createSession; createSession refused (401) ends the task
 * AUTH_EXPIRED. An access token the cache knows to be expired (by the JWT's
 * exp claim, a minute of skew allowed) is refreshed before use.
 *
 * Single flight: getting a session (refreshSession, then createSession if
 * the refresh is refused) is done by one task at a time per account, the
 * *leader*; every other task of the account that needs a session meanwhile
 * (none cached, its token refused, or one is being got) waits for the
 * leader's result with CR_STEP_WAIT and is woken by cr_call_wake when it
 * comes: no polling, the worker's other tasks run on. A new session wakes
 * them to use it; a failure (429, 401, 5xx...) ends each of them with the
 * leader's outcome, HTTP status, error and retry time, so a burst of posts
 * of an account with no session costs one createSession, not one each, and
 * refresh tokens (they rotate: taken out of the cache as they are sent) are
 * never raced. A waiter gives up shortly before its task's deadline
 * (TRANSIENT "deadline"); a leader that ends without an answer (cancelled,
 * stopped) lets its waiters get a session themselves. Waiting counts as an
 * auth round of the task (BSKY_AUTH_ROUNDS bounds them).
 *
 * Publishing exactly once: the rkey is derived from the post's idempotency key
 * (cr_bluesky_rkey), so every attempt writes the same record key and a second
 * write of it fails instead of duplicating. Because the exact error for an
 * existing rkey is unconfirmed (the sandbox answers 400 InvalidRequest "Record
 * already exists"; the reference PDS probably fails inside its repository
 * tree with a 500), the adapter does not depend on it:
 *  - every attempt after the first reads the record back first
 *    (com.atproto.repo.getRecord): found -> OK with its uri, "found on the
 *    platform by reading back; not published again", no write;
 *  - a createRecord answered "already exists" (400/409) or with a 5xx reads
 *    the record back in the same task: found -> OK; not found -> the 5xx is
 *    TRANSIENT (the rkey keeps the retry safe);
 *  - a record found under our rkey with another text is a key collision
 *    (two posts whose keys hash alike, about one chance in 2^55 per pair on
 *    one account): PERMANENT, never taken for this post.
 * After-send unknowns (timeout, connection lost) end INDETERMINATE: the
 * broker retries and the rkey makes it safe.
 *
 * Record: {$type, text (the body, then "\n\n" and the link unless the body
 * already has it), createdAt (the due time; the current time when the task
 * runs more than 5 minutes away from it, because Bluesky sorts by the earlier
 * of createdAt and indexing time and a back-dated post would be buried),
 * langs (the post's language, if any), facets}. Facets (UTF-8 byte offsets):
 * links (http:// and https://, after a space, '(' or the start; trailing
 * .,;:!? and unopened ')' dropped, as Bluesky's detector does) and
 * hashtags (#tag after a space or at the start, trailing punctuation
 * dropped, at most 64 characters, not only digits). Mentions are NOT faceted:
 * a #mention facet needs the mentioned account's did, and resolving handles
 * is a network step not taken yet; "@handle" stays plain text.
 *
 * Images (PublishPayload.media, at most bluesky.max_images = 4, each at most
 * bluesky.image_max_bytes = 2,000,000 bytes): each is read (a local file) or
 * downloaded (a URL), then sent raw with com.atproto.repo.uploadBlob and its
 * Content-Type; the record embeds the blobs as app.bsky.embed.images with
 * alt "" (the lexicon requires alt; the post carries no alt text). A reply
 * (PublishPayload.in_reply_to: the parent's at:// URI) reads the parent with
 * getRecord first: the record's reply is {root, parent} as strongRefs
 * {uri, cid}, root being the parent's own reply.root when it has one. A
 * parent that does not exist is PERMANENT. Uploads and the parent read
 * publish nothing: their failures are at worst TRANSIENT; they come after
 * the read-back of a later attempt (a record already written needs none).
 *
 * Result: platform_post_id = the at:// URI; url =
 * https://bsky.app/profile/<handle>/post/<rkey> (the did when the handle is
 * not usable in a URL). The record's cid is not kept (Result has no field for
 * it; a reply would fetch it with getRecord).
 *
 * Builders and classifiers are pure functions, unit-tested without a network
 * (tests/unit/test_bluesky.c); the session cache and the flights are process
 * state without a lock (the worker's reactor is one thread); the cache is
 * reset by cr_bluesky_sessions_reset for tests. */
#ifndef CR_BLUESKY_H
#define CR_BLUESKY_H

#include "cr_adapter.h"
#include "cr_media.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

extern const cr_adapter_t cr_bluesky_adapter;

#define CR_BSKY_RKEY_LEN 13      /* a TID: 13 characters of base32-sortable */
#define CR_BSKY_DID_MAX 2048
#define CR_BSKY_HANDLE_MAX 253   /* a domain name */
#define CR_BSKY_SESSIONS_MAX 4096 /* accounts whose session a worker keeps */
#define CR_BSKY_MAX_FACETS 64
#define CR_BSKY_MAX_IMAGES 16     /* hard cap; the setting bluesky.max_images (4) is below */

/* What a record needs besides the post: uploaded blobs and a reply's refs. */
typedef struct {
    json_t *blobs[CR_BSKY_MAX_IMAGES]; /* borrowed blob objects, as uploadBlob returned them */
    size_t n_blobs;
    const char *parent_uri, *parent_cid, *root_uri, *root_cid;
} cr_bsky_extras_t;

/* A reply's references (owned strings). */
typedef struct {
    char *parent_uri, *parent_cid, *root_uri, *root_cid;
} cr_bsky_reply_t;
void cr_bluesky_reply_clear(cr_bsky_reply_t *rp);
/* 1 if uri is at://<authority>/app.bsky.feed.post/<rkey>. */
int cr_bluesky_reply_uri_ok(const char *uri);

/* ---- record key -------------------------------------------------------- */

/* The rkey of a post: a valid TID (top bit 0, then 53 bits read as
 * microseconds and a 10-bit clock id, base32-sortable) computed from the
 * post's idempotency key alone, so that every attempt of a post, rescheduled
 * or not, uses the same key. The timestamp part is kept in the past (in
 * 2023, a window of about 13 months) so that no key ever looks like one from
 * the future. 0, or -1 if key is NULL or empty. */
int cr_bluesky_rkey(const char *key, char out[CR_BSKY_RKEY_LEN + 1]);

/* 1 if s is a syntactically valid TID. */
int cr_bluesky_tid_valid(const char *s);

/* ---- text and facets --------------------------------------------------- */

/* The text a publish task posts: the body, then "\n\n" and the link unless
 * the body already contains it. NULL only out of memory (or no payload). */
char *cr_bluesky_post_text(const Crieur__Task *task, size_t *len);

typedef enum {
    CR_BSKY_FACET_LINK = 1, /* app.bsky.richtext.facet#link {uri} */
    CR_BSKY_FACET_TAG = 2,  /* app.bsky.richtext.facet#tag {tag} */
} cr_bsky_facet_kind_t;

typedef struct {
    cr_bsky_facet_kind_t kind;
    size_t start, end;       /* UTF-8 byte range [start, end) of the text the facet covers */
    size_t value, value_len; /* byte range of its value in the text: the URI, or the tag
                              * without its '#' */
} cr_bsky_facet_t;

/* Finds the link and hashtag facets of text (valid UTF-8), in text order;
 * writes at most max and returns how many were found (never more than max). */
size_t cr_bluesky_facets(const char *text, size_t len, cr_bsky_facet_t *out, size_t max);

/* ---- sessions ---------------------------------------------------------- */

typedef struct {
    char *access;  /* accessJwt (owned) */
    char *refresh; /* refreshJwt (owned), NULL once spent */
    char did[CR_BSKY_DID_MAX + 1];
    char handle[CR_BSKY_HANDLE_MAX + 1]; /* "" if the answer had none usable */
    int64_t access_exp_ms;  /* the JWTs' exp claims, 0 if unknown */
    int64_t refresh_exp_ms;
} cr_bsky_session_t;

/* Wipes and frees the tokens; leaves a zeroed session. */
void cr_bluesky_session_clear(cr_bsky_session_t *s);

/* The exp claim (seconds) of a JWT's payload, as unix ms; 0 if absent or
 * unreadable. The signature is not checked: this only schedules refreshes. */
int64_t cr_bluesky_jwt_exp_ms(const char *jwt);

/* Forgets every cached session (wiping the tokens) and, for tests, every
 * flight (detached from calls left unreleased); how many sessions there are. */
void cr_bluesky_sessions_reset(void);
size_t cr_bluesky_sessions_count(void);
/* Sessions being got (one per account at most), for tests: 0 once every
 * call is done or released. */
size_t cr_bluesky_flights_count(void);

/* ---- requests (0, or -1 with result filled) ---------------------------- */

/* POST {api_base}/xrpc/com.atproto.server.createSession
 * {"identifier": <account handle>, "password": <account token>}. */
int cr_bluesky_session_request(const Crieur__Task *task, cr_http_req_t *req, cr_result_t *result);

/* POST {api_base}/xrpc/com.atproto.server.refreshSession, Bearer refresh_jwt,
 * on a connection of its own (a refresh is not repeatable). */
int cr_bluesky_refresh_request(const Crieur__Task *task, const char *refresh_jwt,
                               cr_http_req_t *req, cr_result_t *result);

/* POST {api_base}/xrpc/com.atproto.repo.createRecord, Bearer access_jwt:
 * the post's record under rkey in the repo did. now_ms picks createdAt.
 * PERMANENT for a post that can never be sent as it is (media, replies,
 * invalid text or language). */
int cr_bluesky_create_request(const Crieur__Task *task, const char *access_jwt, const char *did,
                              const char *rkey, int64_t now_ms, cr_http_req_t *req,
                              cr_result_t *result);

/* The same with images and a reply (extras may be NULL for a text post):
 * the post's media count must equal extras->n_blobs and a reply needs its
 * refs, else TRANSIENT "internal" (an adapter bug). */
int cr_bluesky_create_request_ext(const Crieur__Task *task, const char *access_jwt,
                                  const char *did, const char *rkey, int64_t now_ms,
                                  const cr_bsky_extras_t *extras, cr_http_req_t *req,
                                  cr_result_t *result);

/* POST {api_base}/xrpc/com.atproto.repo.uploadBlob: m's bytes, Content-Type m->mime. */
int cr_bluesky_upload_request(const Crieur__Task *task, const char *access_jwt,
                              const cr_media_t *m, cr_http_req_t *req, cr_result_t *result);

/* getRecord of the post replied to (parent_uri: at://authority/app.bsky.feed.post/rkey;
 * anything else is PERMANENT bad_reply_to). */
int cr_bluesky_parent_request(const Crieur__Task *task, const char *access_jwt,
                              const char *parent_uri, cr_http_req_t *req, cr_result_t *result);

/* GET {api_base}/xrpc/com.atproto.repo.getRecord?repo=did&collection=
 * app.bsky.feed.post&rkey=rkey, Bearer access_jwt. */
int cr_bluesky_get_record_request(const Crieur__Task *task, const char *access_jwt,
                                  const char *did, const char *rkey, cr_http_req_t *req,
                                  cr_result_t *result);

/* ---- answers ----------------------------------------------------------- */

typedef enum {
    CR_BSKY_DONE,      /* result filled: the call ends with it */
    CR_BSKY_OK,        /* success: the session is filled, or result is OK */
    CR_BSKY_EXPIRED,   /* 400 ExpiredToken: refresh, then send the request again */
    CR_BSKY_REAUTH,    /* 401, 400 InvalidToken: this session is unusable (result filled:
                        * AUTH_EXPIRED, for when a new session cannot help) */
    CR_BSKY_EXISTS,    /* createRecord: the rkey is taken: read the record back */
    CR_BSKY_CHECK,     /* createRecord: the write may have happened (5xx, 2xx without a
                        * usable uri): read back; result holds the outcome if not found */
    CR_BSKY_NOT_FOUND, /* getRecord: no record under that key */
} cr_bsky_verdict_t;

/* createSession: OK (session filled), or DONE: 400/401/403 AUTH_EXPIRED (the
 * app password, the account or its second factor need a human), 429
 * RATE_LIMITED, 5xx/408/network TRANSIENT, redirects and 404 PERMANENT (a
 * wrong api_base). */
cr_bsky_verdict_t cr_bluesky_session_result(const cr_http_resp_t *resp, int64_t now_ms,
                                            cr_bsky_session_t *session, cr_result_t *result);

/* refreshSession: OK (session filled), DONE for 429 (RATE_LIMITED), REAUTH
 * for anything else (create a new session instead). */
cr_bsky_verdict_t cr_bluesky_refresh_result(const cr_http_resp_t *resp, int64_t now_ms,
                                            cr_bsky_session_t *session, cr_result_t *result);

/* createRecord: OK with platform_post_id and url (handle: the session's);
 * EXPIRED; REAUTH; EXISTS; CHECK; or DONE: 400 InvalidRequest and other
 * refusals PERMANENT with the platform's message, 429 RATE_LIMITED with
 * retry_at_ms from RateLimit-Reset, not sent TRANSIENT, sent and lost
 * INDETERMINATE. */
cr_bsky_verdict_t cr_bluesky_create_result(const cr_http_resp_t *resp, const char *handle,
                                           int64_t now_ms, cr_result_t *result);

/* uploadBlob: OK with *blob (new reference: {$type, ref{$link}, mimeType,
 * size}, rebuilt from the checked answer), EXPIRED, REAUTH, or DONE: 413 and
 * 400 refusals PERMANENT, 429 RATE_LIMITED, the rest TRANSIENT. */
cr_bsky_verdict_t cr_bluesky_upload_result(const cr_http_resp_t *resp, int64_t now_ms,
                                           json_t **blob, cr_result_t *result);

/* getRecord of the parent: OK with out filled (root = the parent's
 * reply.root if it has a usable one, else the parent), EXPIRED, REAUTH, or
 * DONE: not found PERMANENT reply_parent_not_found, 429 RATE_LIMITED,
 * malformed and 5xx TRANSIENT. */
cr_bsky_verdict_t cr_bluesky_parent_result(const cr_http_resp_t *resp, int64_t now_ms,
                                           cr_bsky_reply_t *out, cr_result_t *result);

/* getRecord of our rkey: OK (result OK, reconciled, with the record's uri and
 * url) when the record's text is text[0..len); NOT_FOUND; EXPIRED; REAUTH;
 * DONE: PERMANENT "rkey_collision" when another text is there, RATE_LIMITED,
 * TRANSIENT for the rest (a read changes nothing). */
cr_bsky_verdict_t cr_bluesky_record_result(const cr_http_resp_t *resp, const char *text,
                                           size_t len, const char *handle, int64_t now_ms,
                                           cr_result_t *result);

#endif
