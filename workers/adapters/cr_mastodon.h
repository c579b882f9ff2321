/* cr_mastodon: the Mastodon adapter (see docs platform-apis.md, Mastodon).
 *
 * Publish: POST {api_base}/api/v1/statuses, JSON body, Bearer token and an
 * Idempotency-Key (the post's key), so a retry within an hour returns the
 * original status instead of a second one: every "outcome unknown" can be
 * retried safely with the same key.
 *
 * Images (PublishPayload.media, at most setting mastodon.max_media = 4):
 * each is read (a local file) or downloaded (a URL), then uploaded with
 * POST {api_base}/api/v2/media (multipart "file"): 200 means processed, 202
 * processing (url null); a processing upload is polled with GET
 * /api/v1/media/:id (206 still processing, 200 done) through CR_STEP_WAIT
 * every mastodon.media_poll_ms (1000), at most mastodon.media_max_polls (60)
 * times; then the status carries media_ids[]. Uploads publish nothing, so
 * their failures are at worst TRANSIENT (a retry uploads again); the status
 * keeps its Idempotency-Key.
 *
 * The request builders and the response classifiers are pure functions
 * (task in -> request out; status, headers, body, curl code in -> result
 * out) so that they are unit-tested without a network. */
#ifndef CR_MASTODON_H
#define CR_MASTODON_H

#include "cr_adapter.h"
#include "cr_media.h"

extern const cr_adapter_t cr_mastodon_adapter;

/* Fills req with the publish request of a publish task. Returns 0, or -1 with
 * result filled (PERMANENT for a post that can never be sent as it is,
 * AUTH_EXPIRED for an account without a usable token). */
int cr_mastodon_publish_request(const Crieur__Task *task, cr_http_req_t *req, cr_result_t *result);

/* The status request with these uploaded media ids (n_ids must be the
 * post's media count; cr_mastodon_publish_request is this with none). */
int cr_mastodon_status_request(const Crieur__Task *task, const char *const *media_ids,
                               size_t n_ids, cr_http_req_t *req, cr_result_t *result);

/* POST {api_base}/api/v2/media, multipart "file" holding m. 0 or -1 with r set. */
int cr_mastodon_media_request(const Crieur__Task *task, const cr_media_t *m, cr_http_req_t *req,
                              cr_result_t *r);
/* GET {api_base}/api/v1/media/{media_id}. 0 or -1 with r set. */
int cr_mastodon_media_poll_request(const Crieur__Task *task, const char *media_id,
                                   cr_http_req_t *req, cr_result_t *r);
/* The answer to an upload or a poll: 0 with the media id in id and
 * *processing set (202, 206, or url null), or -1 with r set (never OK:
 * AUTH_EXPIRED, RATE_LIMITED with retry_at_ms, TRANSIENT, PERMANENT for a
 * refused image). */
int cr_mastodon_media_result(const cr_http_resp_t *resp, int64_t now_ms, char *id, size_t idcap,
                             int *processing, cr_result_t *r);

/* Classifies the answer to a publish request. now_ms is the wall clock, used
 * for retry_at_ms when the platform gives no usable reset time. */
void cr_mastodon_publish_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *result);

#endif
