/* cr_mastodon: the Mastodon adapter (see docs platform-apis.md, Mastodon).
 *
 * Publish: POST {api_base}/api/v1/statuses, JSON body, Bearer token and an
 * Idempotency-Key (the post's key), so a retry within an hour returns the
 * original status instead of a second one: every "outcome unknown" can be
 * retried safely with the same key.
 *
 * The request builder and the response classifier are pure functions
 * (task in -> request out; status, headers, body, curl code in -> result
 * out) so that they are unit-tested without a network. */
#ifndef CR_MASTODON_H
#define CR_MASTODON_H

#include "cr_adapter.h"

extern const cr_adapter_t cr_mastodon_adapter;

/* Fills req with the publish request of a publish task. Returns 0, or -1 with
 * result filled (PERMANENT for a post that can never be sent as it is,
 * AUTH_EXPIRED for an account without a usable token). */
int cr_mastodon_publish_request(const Crieur__Task *task, cr_http_req_t *req, cr_result_t *result);

/* Classifies the answer to a publish request. now_ms is the wall clock, used
 * for retry_at_ms when the platform gives no usable reset time. */
void cr_mastodon_publish_result(const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *result);

#endif
