/* cr_ratehdr: what a platform's rate-limit headers say, as plain numbers.
 *
 * Every Result a worker sends carries the rate-limit window the platform
 * reported (Result.rate_known, rate_limit, rate_remaining, rate_reset_ms) so
 * that the broker can keep its token buckets per account and platform in
 * step with the platform. The runtime (cr_worker.c) runs this parser on
 * every HTTP response of a task, 429s included, and keeps the most recent
 * one that carried rate-limit information; adapters need not do anything.
 *
 * What each platform sends and how it is read (header names are
 * case-insensitive; see shared/docs/platform-apis.md):
 *
 *   mastodon   X-RateLimit-Limit, -Remaining, -Reset (ISO 8601, e.g.
 *              "2025-01-02T03:04:05.123456Z"). A status creation reports the
 *              account's status family, other requests the token's.
 *   x          x-rate-limit-limit, -remaining, -reset (epoch seconds) of the
 *              endpoint's 15-minute window; when the answer also carries
 *              x-user-limit-24hour-* or x-app-limit-24hour-* (same shape),
 *              the window reported is the binding one: the fewest remaining,
 *              on a tie the latest reset.
 *   bluesky    RateLimit-Limit, -Remaining, -Reset (epoch seconds); the
 *              quota of RateLimit-Policy ("Q;w=SECONDS[, ...]", first item)
 *              stands in for a missing or malformed RateLimit-Limit.
 *   facebook, instagram, threads (Graph API)
 *              X-App-Usage and X-Business-Use-Case-Usage (JSON, percentages
 *              of the app's and the business's windows): limit 100,
 *              remaining 100 - the highest of call_count, total_time and
 *              total_cputime over both headers and every entry (0 at or
 *              above 100); reset = now + the highest
 *              estimated_time_to_regain_access (minutes, a fraction counts as
 *              a minute) when it is above 0, else 0: the Graph API says when
 *              access comes back only once it is throttled, so a usage
 *              without that estimate is known (rate_known) with an unknown
 *              reset.
 *   linkedin   sends no rate-limit headers (429 without any): never known.
 *   anything else (webhook, email, ...): never known.
 *
 * A window is known when its limit and its remaining count are both usable:
 * decimal digits only, limit 1..UINT32_MAX, remaining 0..limit. A reset that
 * is missing, malformed, or further than CR_RATE_RESET_WINDOW_MS from now
 * (either way) is reported as 0 (unknown) without making the window unknown:
 * the broker then uses the platform's published window. Values may be
 * hostile: anything else is ignored, never trusted, never a crash. */
#ifndef CR_RATEHDR_H
#define CR_RATEHDR_H

#include "cr_http.h"

#include <stdint.h>

/* A reset further than this from now (in the past or the future) is not
 * believed: the longest windows (X's and Bluesky's 24 hours, LinkedIn's day)
 * fit, with an hour of clock skew. */
#define CR_RATE_RESET_WINDOW_MS (25LL * 3600000)

/* The window one response reported. */
typedef struct {
    int known;          /* 1: the response carried usable rate-limit information */
    uint32_t limit;     /* the window's size (requests, points; 100 for a Graph percentage) */
    uint32_t remaining; /* what is left of it, at most limit */
    int64_t reset_ms;   /* when the window resets (unix ms); 0 = not said */
} cr_rate_t;

/* Reads the rate-limit headers of resp as the platform (an adapter's
 * platform name, case-insensitive) sends them, now_ms being the wall clock.
 * Returns 1 with *out filled, or 0 with *out zeroed (no usable information,
 * unknown platform, resp or platform NULL). Pure. */
int cr_ratelimit_from_headers(const cr_http_resp_t *resp, const char *platform, int64_t now_ms,
                              cr_rate_t *out);

/* The Graph API's usage headers, as numbers (also used by the Graph adapters
 * to note a usage near the limit and to time a throttled retry). */
typedef struct {
    int app_pct;     /* highest of X-App-Usage call_count, total_time, total_cputime; -1 absent */
    int buc_pct;     /* the same over every X-Business-Use-Case-Usage entry; -1 absent */
    long regain_min; /* highest estimated_time_to_regain_access (minutes); -1 absent */
} cr_graph_usage_t;

/* Fills u from resp's headers; a header that is absent, not a JSON object or
 * holds no usable number leaves its member at -1. Percentages are cut at
 * 1000, minutes at 100000. */
void cr_ratehdr_graph_usage(const cr_http_resp_t *resp, cr_graph_usage_t *u);

#endif
