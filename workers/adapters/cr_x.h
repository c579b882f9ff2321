/* cr_x: the X (API v2) adapter (see docs platform-apis.md, X API v2).
 *
 * Publish: POST {api_base}/2/tweets {"text": ..} with a Bearer token. X has no
 * idempotency: a request whose answer is lost may have created the tweet, so
 * such an attempt ends INDETERMINATE and the broker sets Task.reconcile on the
 * next one.
 *
 * Images (PublishPayload.media, at most CR_X_MAX_MEDIA): each is obtained
 * (a local file read at once, or a URL downloaded as a step) and uploaded
 * with POST {api_base}/2/media/upload (multipart: media, media_category=
 * tweet_image) -> {"data":{"id",..}}; the tweet then names the ids in
 * media.media_ids. An upload is not a post: its failures are TRANSIENT
 * (retried, uploading again) or PERMANENT (a bad image), never
 * INDETERMINATE; only the final POST /2/tweets is the non-idempotent call.
 * Reply: PublishPayload.in_reply_to (a tweet id) becomes
 * reply.in_reply_to_tweet_id.
 *
 * Reconciliation (Task.reconcile): before publishing, read the account's
 * recent tweets back (GET /2/users/me for the user id, then GET
 * /2/users/:id/tweets from an hour before the task was due) and look for this
 * post by a text fingerprint. Found: OK with that tweet, Result.reconciled,
 * no POST. Not found: publish. The account cannot be read back (403 and other
 * refusals): UNCONFIRMED, a human checks: never a blind second publish.
 *
 * Request builders, response classifiers, the fingerprint and the read-back
 * matcher are pure functions, unit-tested without a network
 * (tests/unit/test_x.c). */
#ifndef CR_X_H
#define CR_X_H

#include "cr_adapter.h"
#include "cr_media.h"

#include <stddef.h>
#include <stdint.h>

extern const cr_adapter_t cr_x_adapter;

#define CR_X_ID_MAX 32     /* tweet and user ids: decimal strings */
#define CR_X_TOKEN_MAX 128 /* pagination tokens */
#define CR_X_MAX_MEDIA 4   /* images per tweet */
#define CR_X_MEDIA_MAX_BYTES (5u * 1024u * 1024u) /* per image (X: 5 MB) */

/* The text a publish task posts: the body, then "\n\n" and the link unless
 * the body already contains it. NULL only out of memory (or no payload). */
char *cr_x_post_text(const Crieur__Task *task, size_t *len);

/* Fills req with the publish request; media_ids (n_ids of them, from the
 * uploads) go in media.media_ids and must be as many as the task's media.
 * Returns 0, or -1 with result filled (PERMANENT for a post that can never be
 * sent as it is, AUTH_EXPIRED for an account without a usable token). */
int cr_x_publish_request(const Crieur__Task *task, const char *const *media_ids, size_t n_ids,
                         cr_http_req_t *req, cr_result_t *result);

/* The task's media list is usable: at most CR_X_MAX_MEDIA items, each an
 * http(s) URL or an absolute file path. 0, or -1 with result PERMANENT. */
int cr_x_media_check(const Crieur__Task *task, cr_result_t *result);

/* POST {api_base}/2/media/upload, multipart: media (the image's bytes, with
 * its file name and type) and media_category=tweet_image. 0, or -1 with
 * result filled. */
int cr_x_upload_request(const Crieur__Task *task, const cr_media_t *media, cr_http_req_t *req,
                        cr_result_t *result);

/* The answer to an upload: 0 with data.id (decimal digits) copied into id
 * (CR_X_ID_MAX + 1 bytes), or -1 with result filled: network errors, 5xx and
 * 408 TRANSIENT (nothing was published: upload again), 401 AUTH_EXPIRED, 429
 * RATE_LIMITED (retry_at from x-rate-limit-reset), 400/413/415 and other
 * refusals PERMANENT with X's words, a 2xx without a usable id TRANSIENT. */
int cr_x_upload_result(const cr_http_resp_t *resp, int64_t now_ms, char *id, cr_result_t *result);

/* Classifies the answer to a publish request. handle (the task account's)
 * makes the URL; now_ms is the wall clock for retry_at_ms. */
void cr_x_publish_result(const cr_http_resp_t *resp, const char *handle, int64_t now_ms,
                         cr_result_t *result);

/* GET {api_base}/2/users/me. 0, or -1 with result filled. */
int cr_x_me_request(const Crieur__Task *task, cr_http_req_t *req, cr_result_t *result);

/* data.id (decimal digits) of a 200 answer to users/me (the user id) or of a
 * 201 to POST /2/tweets (the tweet id), copied into id (CR_X_ID_MAX + 1
 * bytes). 0, or -1 if the body has no usable data.id. */
int cr_x_me_user_id(const char *body, size_t len, char *id);

/* GET {api_base}/2/users/<user_id>/tweets?max_results=100&start_time=<due -
 * 1 h>&tweet.fields=created_at[&pagination_token=..]. token may be NULL.
 * 0, or -1 with result filled. */
int cr_x_timeline_request(const Crieur__Task *task, const char *user_id, const char *token,
                          int64_t now_ms, cr_http_req_t *req, cr_result_t *result);

/* Classifies an answer to a read-back request that is not a usable 200:
 * network errors, 5xx and 408 TRANSIENT (the broker retries, still
 * reconciling), 401 AUTH_EXPIRED, 429 RATE_LIMITED, 403 and any other refusal
 * UNCONFIRMED (the outcome of the earlier attempt stays unknown: a human must
 * check). */
void cr_x_readback_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *result);

/* The content fingerprint used to recognise a post among the account's
 * tweets: whitespace runs (Unicode spaces too) collapsed to one space and
 * trimmed; URLs (any word holding http:// or https://, and bare domains such
 * as example.com/path) left out, since X rewrites them to t.co links; case,
 * punctuation and emoji kept. NULL only out of memory. */
char *cr_x_fingerprint(const char *text, size_t len);

typedef enum {
    CR_X_MATCH_FOUND,     /* id filled: the tweet (the oldest, if several) */
    CR_X_MATCH_NONE,      /* not in the window */
    CR_X_MATCH_MORE,      /* not on this page; next_token filled */
    CR_X_MATCH_ERROR,     /* X answered errors[] without data: detail filled */
    CR_X_MATCH_MALFORMED, /* not the expected shape */
} cr_x_match_t;

typedef struct {
    char id[CR_X_ID_MAX + 1];
    char next_token[CR_X_TOKEN_MAX + 1];
    char detail[256];
} cr_x_found_t;

/* Looks for fingerprint (from cr_x_fingerprint) among the tweets of a
 * users/:id/tweets answer body. Tweet texts are compared after undoing X's
 * HTML escaping (&amp; &lt; &gt;). Entries of the wrong shape are skipped. */
cr_x_match_t cr_x_match(const char *body, size_t len, const char *fingerprint,
                        cr_x_found_t *found);

#endif
