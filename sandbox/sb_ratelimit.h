/*
 * sb_ratelimit: fixed-window request counters keyed by a string the platform
 * chooses ("mastodon/req/<token>", "mastodon/statuses/<account id>").
 *
 * Two window kinds, because real platforms use both:
 *  - SB_WINDOW_ALIGNED: windows aligned on multiples of the period since the
 *    epoch; every hit counts, refused ones too (Rack::Attack, Mastodon's
 *    per-token API throttle). Reset = now + (period - now % period).
 *  - SB_WINDOW_FIRST_HIT: the window opens at the first counted hit and lasts
 *    one period; only accepted actions count (Mastodon's RateLimiter on
 *    status creation: a Redis key expiring one period after its first INCR).
 * Not thread-safe: callers hold the world lock.
 */
#ifndef SB_RATELIMIT_H
#define SB_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { SB_WINDOW_ALIGNED, SB_WINDOW_FIRST_HIT } sb_window_kind_t;

typedef struct {
    int64_t limit;
    int64_t remaining;   /* never negative */
    uint64_t reset_us;   /* wall clock, microseconds */
    bool allowed;
} sb_rate_t;

typedef struct sb_ratelimit sb_ratelimit_t;

sb_ratelimit_t *sb_ratelimit_new (void);
void sb_ratelimit_destroy (sb_ratelimit_t **self_p);
void sb_ratelimit_clear (sb_ratelimit_t *self);
/*
 * ALIGNED: adds cost, then allowed = count <= limit.
 * FIRST_HIT: allowed = count + max(cost, 1) <= limit; adds cost only if allowed
 * (cost 0 = "would one more be allowed?", without counting).
 */
void sb_ratelimit_hit (sb_ratelimit_t *self, const char *key, int64_t limit, int64_t period_s,
                       sb_window_kind_t kind, uint64_t now_us, int64_t cost, sb_rate_t *out);

#endif
