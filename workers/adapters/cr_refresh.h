/* cr_refresh: token refresh (KIND_TOKEN_REFRESH) for X, Threads and
 * LinkedIn; one adapter per platform, next to the platform's publish adapter
 * (the worker picks the one matching platform and kind).
 *
 * A refresh task carries the account (Account.token: the current access
 * token; api_base) and RefreshPayload (refresh_token, the current token's
 * expiry). The call is one request; on success the result carries the new
 * credentials (cr_result_t access_token, refresh_token: NULL = keep the
 * stored one, token_expires_ms), which the runtime sends back in
 * Result.credentials and wipes.
 *
 *   X         POST {api_base}/2/oauth2/token, form grant_type=refresh_token
 *             &refresh_token=..&client_id=.. (+ HTTP Basic id:secret for a
 *             confidential client) -> {"token_type":"bearer","expires_in",
 *             "access_token","refresh_token","scope"}. X rotates refresh
 *             tokens: the one sent is dead once X has answered.
 *   Threads   GET {api_base}/refresh_access_token?grant_type=th_refresh_token
 *             &access_token=<current> -> {"access_token","token_type",
 *             "expires_in"}; no refresh token; Graph errors.
 *   LinkedIn  POST {oauth_base}/oauth/v2/accessToken, form grant_type=
 *             refresh_token&refresh_token=..&client_id=..&client_secret=.. ->
 *             {"access_token","expires_in","refresh_token",
 *             "refresh_token_expires_in"}; the refresh token is kept.
 *
 * Outcomes: OK with credentials; AUTH_EXPIRED when the platform refuses the
 * refresh token (or Threads the access token): OAuth invalid_grant, or
 * invalid_request about the token (RFC 6749 5.2), 401, Graph code 190: the
 * account must be reconnected by a human; RATE_LIMITED with retry_at_ms;
 * TRANSIENT for 5xx, network failures before sending, malformed success
 * bodies (never trusted); PERMANENT for a misconfiguration (no client id,
 * client refused: the error names the setting). An answer lost after the
 * request was sent is INDETERMINATE on X (the rotated refresh token may be
 * lost with it) and TRANSIENT on Threads and LinkedIn (what was sent stays
 * valid, asking again is safe).
 *
 * Requests go on a fresh connection (never re-sent by libcurl). Tokens and
 * secrets never appear in errors or logs: the platform's words are cut and
 * any token they quote is replaced by "[token]".
 *
 * Settings (cr_settings.h):
 *   x.client_id, x.client_secret (none: public client)
 *   x.token_access_field, x.token_refresh_field, x.token_expires_field
 *     (access_token, refresh_token, expires_in: the response shape is
 *     unconfirmed in platform-apis.md)
 *   linkedin.oauth_base (https://www.linkedin.com), linkedin.client_id,
 *   linkedin.client_secret
 *
 * The request builders and the classifier are pure (tests/unit/test_refresh.c). */
#ifndef CR_REFRESH_H
#define CR_REFRESH_H

#include "cr_adapter.h"

#include <stddef.h>
#include <stdint.h>

extern const cr_adapter_t cr_x_refresh_adapter;
extern const cr_adapter_t cr_threads_refresh_adapter;
extern const cr_adapter_t cr_linkedin_refresh_adapter;

#define CR_REFRESH_TOKEN_MAX 4096                       /* bytes of a token we accept */
#define CR_REFRESH_EXPIRES_MAX_S (10LL * 365 * 86400)   /* expires_in beyond: malformed */
#define CR_REFRESH_RETRY_DEFAULT_MS (15LL * 60000)      /* 429 without a usable reset */
#define CR_REFRESH_RETRY_MAX_MS (24LL * 3600000)

typedef enum {
    CR_REFRESH_X,
    CR_REFRESH_THREADS,
    CR_REFRESH_LINKEDIN,
} cr_refresh_platform_t;

/* Fills req with the refresh request of a task. 0, or -1 with r filled
 * (PERMANENT bad_task / no_client_id / bad_api_base, AUTH_EXPIRED
 * no_refresh_token / no_token, TRANSIENT out of memory). */
int cr_refresh_request(cr_refresh_platform_t p, const Crieur__Task *task, cr_http_req_t *req,
                       cr_result_t *r);

/* Classifies the answer to a refresh request; fills r (cleared first).
 * now_ms: the wall clock (expiry and retry_at_ms). */
void cr_refresh_result(cr_refresh_platform_t p, const Crieur__Task *task,
                       const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *r);

#endif
