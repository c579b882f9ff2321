/*
 * sb_oauth: access tokens that expire, and the endpoints that refresh them,
 * for the platforms whose tokens Crieur refreshes (X, Threads, LinkedIn).
 *
 * Vocabulary: an access token is the bearer credential of an account (bound
 * in sb_accounts); it may carry an expiry, after which the platform answers
 * its expired-token error. A refresh token is traded at the platform's OAuth
 * endpoint for a new access token (Threads trades the access token itself).
 * Every new access token is bound to the same account and lasts
 * --token-ttl-s seconds (0: the platform's real lifetime).
 *
 *   X         POST /x/2/oauth2/token grant_type=refresh_token&refresh_token=..
 *             &client_id=.. (or HTTP Basic id:secret) -> {"token_type":"bearer",
 *             "expires_in":7200,"access_token","scope","refresh_token"}; refresh
 *             tokens rotate: a used one is refused with 400 invalid_request
 *             "Value passed for the token was invalid."
 *   Threads   GET /threads/refresh_access_token?grant_type=th_refresh_token
 *             &access_token=.. -> {"access_token","token_type","expires_in"}
 *             (60 days); an expired token gets Graph's 190/463 instead.
 *   LinkedIn  POST /linkedin/oauth/v2/accessToken grant_type=refresh_token
 *             &refresh_token=..&client_id=..&client_secret=.. ->
 *             {"access_token","expires_in","refresh_token",
 *             "refresh_token_expires_in","scope"}; the refresh token is kept
 *             (its lifetime counts from its registration, 365 days).
 *
 * Client ids: --x-client-id / --linkedin-client-id (and the secrets) when
 * set must match; unset, any non-empty one is accepted. Successful refreshes
 * are counted per platform (GET /_sandbox/stats "refreshes").
 *
 * All functions run with the world lock held unless they say otherwise.
 */
#ifndef SB_OAUTH_H
#define SB_OAUTH_H

#include "sb_params.h"
#include "sb_world.h"

#include <jansson.h>

#define SB_OAUTH_X_TTL_S 7200                      /* X user access token: 2 h */
#define SB_OAUTH_THREADS_TTL_S (60LL * 86400)      /* Threads long-lived token: 60 days */
#define SB_OAUTH_LINKEDIN_TTL_S (60LL * 86400)     /* LinkedIn access token: 60 days */
#define SB_OAUTH_LINKEDIN_REFRESH_TTL_S (365LL * 86400) /* LinkedIn refresh token: 1 year */
#define SB_OAUTH_MAX_EXPIRES_S (10LL * 365 * 86400)

/* No lock. Checks the optional "expires_in" (whole seconds, 0 = already
 * expired), "refresh_token" and "refresh_expires_in" of a /_sandbox/accounts
 * registration for platform. 0, or -1 with the reason in err. */
int sb_oauth_check_spec (const char *platform, const json_t *spec, char *err, size_t cap);
/* Applies a checked spec to the token just bound to account. 0 or -1. */
int sb_oauth_apply_spec (sb_world_t *world, sb_account_t *account, const char *token,
                         const json_t *spec, uint64_t now_us);

/* Hooks for the platform modules. */
/* Takes the lock itself. Serves POST /x/2/oauth2/token: true if req was
 * that endpoint (rep filled), false otherwise (X routes it). */
bool sb_oauth_x_handle (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep);
/* Takes the lock itself. Serves POST /linkedin/oauth/v2/accessToken. */
bool sb_oauth_linkedin_handle (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep);
/* GET /threads/refresh_access_token, once Graph has authenticated the
 * access token (valid, unexpired) as account me. False if grant_type is not
 * th_refresh_token (the caller answers Graph's parameter error). */
bool sb_oauth_threads_refresh (sb_world_t *world, sb_account_t *me, const char *grant_type,
                               uint64_t now_us, sb_reply_t *rep);

#endif
