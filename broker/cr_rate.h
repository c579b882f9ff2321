/* cr_rate: the broker's rate limits, one sliding window per account and one
 * per platform.
 *
 * A platform publishes how many posts an account may make per window
 * (crieur.platform.post_limit / post_window) and how many calls the whole
 * application may make (app_limit / app_window). The broker takes a place in
 * the window before it dispatches a publication; without one the job waits
 * (held in the broker for a short wait, back in the queue for a long one)
 * instead of collecting a 429 from the platform.
 *
 * Why a sliding log and not a token bucket: platforms count requests in
 * windows (fixed, aligned, or opened by the first request). A bucket that
 * refills continuously lets through up to twice the limit in one such window
 * (a full bucket at the start, the refill during it). The log keeps the time
 * of each recent publication, so at most `limit` fall in any span of one
 * window, which is within the limit of every kind of window.
 *
 * Times are the platform's, as near as the broker can know them: a
 * publication occupies a place from its dispatch (it may reach the platform
 * at once) until one window after its result (it reached the platform before
 * that). A publication whose result never comes (worker lost) is finished
 * when the broker lets the job go. So the jitter between the broker and the
 * platform cannot push two publications into one window.
 *
 * What the platform says wins over the model: rate-limit headers (remaining,
 * reset) cap what may go until the reset; remaining 0 or a 429 with a retry
 * time blocks the account until then.
 *
 * Windows are per broker: with several brokers, each allows the full limit
 * (the headers and 429s then bring them back in line). */
#ifndef CR_RATE_H
#define CR_RATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cr_rate cr_rate_t;

cr_rate_t *cr_rate_new(void);
void cr_rate_destroy(cr_rate_t **self_p);

/* The published limits of a platform (0 or negative: none). Existing windows
 * of that platform take the new sizes at their next use. Returns -1 out of
 * memory. */
int cr_rate_set_platform(cr_rate_t *self, const char *platform, int post_limit,
                         int64_t post_window_ms, int app_limit, int64_t app_window_ms);

/* Takes a place in the account's window and in its platform's for a
 * publication dispatched at now_ms. Returns 0 when both were taken (dispatch
 * now; cr_rate_done or cr_rate_give_back must follow), else the earliest unix
 * ms at which to try again (nothing is taken). */
int64_t cr_rate_take(cr_rate_t *self, int64_t account, const char *platform, int64_t now_ms);

/* Gives back a place taken for a dispatch that did not happen. */
void cr_rate_give_back(cr_rate_t *self, int64_t account, const char *platform, int64_t now_ms);

/* The publication that took a place is over (its result came, or the broker
 * let it go): it keeps its place until one window after now_ms. */
void cr_rate_done(cr_rate_t *self, int64_t account, const char *platform, int64_t now_ms);

/* What a platform's rate-limit headers said after a request of the account
 * (its place not yet done): `remaining` calls left until reset_ms (unix ms,
 * 0 unknown). */
void cr_rate_observe(cr_rate_t *self, int64_t account, const char *platform, uint32_t limit,
                     uint32_t remaining, int64_t reset_ms, int64_t now_ms);

/* The platform refused for its rate limit: nothing for this account until
 * until_ms (0: a minute from now). */
void cr_rate_block(cr_rate_t *self, int64_t account, const char *platform, int64_t until_ms,
                   int64_t now_ms);

/* Calls fn for every account that may not publish now, with the time when it
 * may; returns how many. */
size_t cr_rate_each_blocked(cr_rate_t *self, int64_t now_ms,
                            void (*fn)(int64_t account, int64_t until_ms, void *arg), void *arg);

/* Forgets the accounts with nothing recent, in flight or blocked (memory
 * bound). */
void cr_rate_prune(cr_rate_t *self, int64_t now_ms);

/* Accounts known; publications in flight (taken, not done) over all. */
size_t cr_rate_accounts(const cr_rate_t *self);
size_t cr_rate_in_flight(const cr_rate_t *self);

#endif
