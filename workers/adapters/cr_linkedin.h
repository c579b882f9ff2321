/* cr_linkedin: the LinkedIn adapter (Posts API; see docs platform-apis.md,
 * "LinkedIn (Posts API)").
 *
 * Publish: POST {api_base}/rest/posts with the Bearer token, LinkedIn-Version
 * (CR_LINKEDIN_API_VERSION) and X-Restli-Protocol-Version 2.0.0; the body
 * posts as the account's organization (author urn:li:organization:<handle>,
 * or the handle itself when it is already a urn:li: URN), PUBLIC, MAIN_FEED,
 * PUBLISHED. LinkedIn answers 201 with an EMPTY body and the post's URN in
 * the x-restli-id header; the web URL is
 * https://www.linkedin.com/feed/update/<urn>/.
 *
 * Commentary is LinkedIn's "little" text format, where \ | { } @ [ ] ( ) < >
 * # * _ ~ are reserved: unescaped, LinkedIn is reported to cut the post at
 * the first one while still answering 201. The text is sent escaped, except
 * inside URLs (so they still link) and the # of hashtags (so they stay
 * hashtags); read-back text is unescaped before it is compared.
 *
 * Image (PublishPayload.media, at most one): the bytes (a local file, or a
 * URL downloaded as a step) go through the Images API: POST {api_base}/rest/
 * images?action=initializeUpload {"initializeUploadRequest":{"owner":
 * <author>}} -> {"value":{"uploadUrl","image":"urn:li:image:..",..}}, then
 * PUT <uploadUrl> with the raw bytes and the Bearer token -> 201, then the
 * post names it in content.media.id. The token goes only to an upload URL on
 * the api_base's host or on a host of the setting linkedin.upload_hosts
 * (https only). An upload is not a post: its failures are TRANSIENT or
 * PERMANENT, never INDETERMINATE.
 *
 * Reply (PublishPayload.in_reply_to, a post URN): a comment, POST
 * {api_base}/rest/socialActions/{urn}/comments {"actor":<author>,"object":
 * <urn>,"message":{"text":..}} -> 201; the result's id is the comment's URN
 * (urn:li:comment:(<post urn>,<id>)), from the body's commentUrn/$URN or the
 * x-restli-id header. Comments are plain text (not little text). A comment
 * whose answer is lost is reconciled like a post: the post's comments are
 * read back (GET .../comments, 100 a page) and a comment by the same actor
 * with the same text fingerprint, created since an hour before the task was
 * due, is taken as the earlier attempt's.
 *
 * LinkedIn has no idempotency: a request whose answer is lost may have
 * created the post, so such an attempt ends INDETERMINATE and the broker sets
 * Task.reconcile on the next one. Writes go on a fresh connection that is
 * closed afterwards (req.fresh_connection), so libcurl never re-sends one.
 *
 * Reconciliation (Task.reconcile): before publishing, read the author's
 * recent posts back (GET /rest/posts?q=author&author=<urn>&sortBy=
 * LAST_MODIFIED, 100 a page, pages until the posts are older than an hour
 * before the task was due) and look for this post by a text fingerprint.
 * Found: OK with that post, Result.reconciled, no POST. Not found: publish.
 * Cannot be read back (403 and other refusals): UNCONFIRMED, a human checks:
 * never a blind second publish.
 *
 * Rate limits: LinkedIn's limits are per member and per application per day,
 * reset at midnight UTC, and its 429 carries no rate-limit header. A 429 is
 * RATE_LIMITED with retry_at = a Retry-After header if one is present (the
 * sandbox sends one with --linkedin-retry-after), else the next midnight UTC
 * plus CR_LINKEDIN_MIDNIGHT_MARGIN_MS (so that a clock a little ahead of
 * LinkedIn's does not retry before its reset and lose a whole day).
 *
 * Request builders, response classifiers, the text functions and the
 * read-back matcher are pure, unit-tested without a network
 * (tests/unit/test_linkedin.c). */
#ifndef CR_LINKEDIN_H
#define CR_LINKEDIN_H

#include "cr_adapter.h"
#include "cr_media.h"

#include <stddef.h>
#include <stdint.h>

extern const cr_adapter_t cr_linkedin_adapter;

/* The one place the API version lives. LinkedIn serves a version for about a
 * year, then answers 426 NONEXISTENT_VERSION: move it forward (checked to
 * exist in 2026-09; the exact sunset dates are LinkedIn's, unconfirmed). */
#define CR_LINKEDIN_API_VERSION "202608"
#define CR_LINKEDIN_URN_MAX 64 /* urn:li:share:<19 digits> and the like */
#define CR_LINKEDIN_MIDNIGHT_MARGIN_MS (5LL * 60000)
#define CR_LINKEDIN_COMMENT_URN_MAX 160 /* urn:li:comment:(urn:li:ugcPost:<n>,<n>) */
#define CR_LINKEDIN_MAX_MEDIA 1         /* one image per post here */
#define CR_LINKEDIN_MEDIA_MAX_BYTES (CR_HTTP_MAX_MEDIA_BYTES) /* LinkedIn's own cap is larger */
#define CR_LINKEDIN_UPLOAD_URL_MAX 2048

/* The text a publish task posts, plain (not escaped): the body, then "\n\n"
 * and the link unless the body already contains it. NULL only out of memory
 * (or no payload). */
char *cr_linkedin_post_text(const Crieur__Task *task, size_t *len);

/* Plain text -> little text: reserved characters backslash-escaped, except
 * in words starting with http:// or https:// and the # that opens a hashtag.
 * NULL only out of memory. */
char *cr_linkedin_escape(const char *text, size_t len, size_t *out_len);

/* Little text -> plain text: "\x" -> x, {hashtag|\#|tag} -> #tag,
 * @[Name](urn) -> Name. NULL only out of memory. */
char *cr_linkedin_unescape(const char *text, size_t len, size_t *out_len);

/* The author URN of an account handle: a handle that is already a
 * urn:li:<type>:<id> is taken as it is, else 1..40 of [A-Za-z0-9_-] give
 * urn:li:organization:<handle>. 0, or -1 (unusable handle, or cap too small). */
int cr_linkedin_author_urn(const char *handle, char *out, size_t cap);

/* Fills req with the publish request; image_urn (NULL: none) goes in
 * content.media.id and is required when the task has an image. 0, or -1 with
 * result filled (PERMANENT for a post that can never be sent as it is,
 * AUTH_EXPIRED for an account without a usable token). */
int cr_linkedin_publish_request(const Crieur__Task *task, const char *image_urn,
                                cr_http_req_t *req, cr_result_t *result);

/* The task's media and reply are usable: at most one image, an http(s) URL
 * or an absolute file path; a reply (a comment) without images; in_reply_to
 * a post URN. 0, or -1 with result PERMANENT. */
int cr_linkedin_media_check(const Crieur__Task *task, cr_result_t *result);

/* POST {api_base}/rest/images?action=initializeUpload with the author as
 * owner. 0, or -1 with result filled. */
int cr_linkedin_image_init_request(const Crieur__Task *task, cr_http_req_t *req,
                                   cr_result_t *result);

/* The answer to initializeUpload: 0 with value.uploadUrl copied into
 * upload_url (CR_LINKEDIN_UPLOAD_URL_MAX + 1 bytes) and value.image into
 * image_urn (CR_LINKEDIN_URN_MAX + 1), or -1 with result filled: network
 * errors, 5xx, 408 and a malformed 2xx TRANSIENT (nothing was published),
 * 401 AUTH_EXPIRED, 429 RATE_LIMITED, 426 the sunset version, other refusals
 * PERMANENT. */
int cr_linkedin_image_init_result(const cr_http_resp_t *resp, int64_t now_ms, char *upload_url,
                                  char *image_urn, cr_result_t *result);

/* PUT upload_url with the image's bytes and the Bearer token. The URL must
 * be https on a host of linkedin.upload_hosts, or on the api_base's own
 * scheme, host and port; else -1 PERMANENT (the token is never sent
 * elsewhere). 0, or -1 with result filled. */
int cr_linkedin_upload_request(const Crieur__Task *task, const char *upload_url,
                               const cr_media_t *media, cr_http_req_t *req, cr_result_t *result);

/* The answer to the PUT: 0 on 2xx, else -1 classified as for
 * cr_linkedin_image_init_result. */
int cr_linkedin_upload_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *result);

/* POST {api_base}/rest/socialActions/<in_reply_to, encoded>/comments as the
 * author. 0, or -1 with result filled. */
int cr_linkedin_comment_request(const Crieur__Task *task, cr_http_req_t *req,
                                cr_result_t *result);

/* Classifies the answer to a comment: 2xx OK with the comment URN (body
 * commentUrn or $URN, else x-restli-id: a full URN or the comment's numeric
 * id) and a URL to it; 2xx without an id INDETERMINATE; errors as for a
 * publish. post_urn is the post commented on. */
void cr_linkedin_comment_result(const cr_http_resp_t *resp, const char *post_urn, int64_t now_ms,
                                cr_result_t *result);


/* Classifies the answer to a publish request; now_ms is the wall clock for
 * retry_at_ms. */
void cr_linkedin_publish_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *result);

/* When to try again after a 429: Retry-After (seconds or an HTTP date) when
 * present, clamped to [now + 1 s, now + 25 h]; else the next midnight UTC
 * plus CR_LINKEDIN_MIDNIGHT_MARGIN_MS. */
int64_t cr_linkedin_retry_at(const cr_http_resp_t *resp, int64_t now_ms);

/* GET {api_base}/rest/posts?author=<urn, encoded>&q=author&count=100
 * &sortBy=LAST_MODIFIED[&start=N]. 0, or -1 with result filled. */
int cr_linkedin_readback_request(const Crieur__Task *task, int start, cr_http_req_t *req,
                                 cr_result_t *result);

/* Classifies an answer to a read-back request that is not a usable 200:
 * network errors, 5xx and 408 TRANSIENT (the broker retries, still
 * reconciling), 401 AUTH_EXPIRED, 429 RATE_LIMITED, 403 and any other refusal
 * UNCONFIRMED (the earlier attempt's outcome stays unknown). */
void cr_linkedin_readback_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *result);

/* The content fingerprint used to recognise a post among the author's: plain
 * text (give it unescaped), whitespace runs (Unicode spaces too) collapsed to
 * one space and trimmed, words holding http:// or https:// and lnkd.in links
 * left out (LinkedIn may shorten links); case, punctuation and emoji kept.
 * NULL only out of memory. */
char *cr_linkedin_fingerprint(const char *text, size_t len);

typedef enum {
    CR_LINKEDIN_MATCH_FOUND,     /* urn filled: the post (the oldest, if several) */
    CR_LINKEDIN_MATCH_NONE,      /* not among the posts since from_ms */
    CR_LINKEDIN_MATCH_MORE,      /* not on this page; next_start filled */
    CR_LINKEDIN_MATCH_MALFORMED, /* not the expected shape */
} cr_linkedin_match_t;

typedef struct {
    char urn[CR_LINKEDIN_URN_MAX + 1];
    int next_start;
} cr_linkedin_found_t;

/* Looks for fingerprint (from cr_linkedin_fingerprint) among the posts of a
 * q=author answer body (one page of `count` asked from `start`), created at
 * or after from_ms (unix ms). Commentary is unescaped before it is compared;
 * elements of the wrong shape are skipped. */
cr_linkedin_match_t cr_linkedin_match(const char *body, size_t len, const char *fingerprint,
                                      int64_t from_ms, int start, int count,
                                      cr_linkedin_found_t *found);

/* GET {api_base}/rest/socialActions/<in_reply_to, encoded>/comments
 * ?start=N&count=100. 0, or -1 with result filled. */
int cr_linkedin_comments_request(const Crieur__Task *task, int start, cr_http_req_t *req,
                                 cr_result_t *result);

typedef struct {
    char urn[CR_LINKEDIN_COMMENT_URN_MAX + 1];
    int next_start;
} cr_linkedin_comment_found_t;

/* Looks for a comment by actor whose message.text has this fingerprint
 * (cr_linkedin_fingerprint of plain text), created at or after from_ms,
 * among one page (start, count) of a comments answer. MORE when the page is
 * full or paging.total says there are more. */
cr_linkedin_match_t cr_linkedin_match_comment(const char *body, size_t len, const char *actor,
                                              const char *fingerprint, int64_t from_ms, int start,
                                              int count, cr_linkedin_comment_found_t *found);

#endif
