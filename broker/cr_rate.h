/* cr_rate: the broker's token buckets, one per account and one per platform.
 *
 * A platform publishes how many posts an account may make per window
 * (crieur.platform.post_limit / post_window) and how many calls the whole
 * application may make (app_limit / app_window). The broker takes a token
 * before it dispatches a publication; without one the job waits (held in the
 * broker for a short wait, back in the queue for a long one) instead of
 * collecting a 429 from the platform.
 *
 * A bucket holds at most `limit` tokens and refills at limit / window. What
 * the platform says wins over the model: the rate-limit headers a worker
 * reports (remaining, reset) lower the tokens to what is left and, at zero,
 * empty the bucket until the reset; a 429 with a retry time blocks the
 * account until then.
 *
 * Buckets are per broker: with several brokers, each allows the full limit
 * (the headers and 429s then bring them back in line). */
#ifndef CR_RATE_H
#define CR_RATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cr_rate cr_rate_t;

cr_rate_t *cr_rate_new(void);
void cr_rate_destroy(cr_rate_t **self_p);

/* The published limits of a platform (0 or negative: none). Existing buckets
 * of that platform take the new sizes at their next use. Returns -1 out of
 * memory. */
int cr_rate_set_platform(cr_rate_t *self, const char *platform, int post_limit,
                         int64_t post_window_ms, int app_limit, int64_t app_window_ms);

/* Takes one token from the account's bucket and one from its platform's for a
 * publication at now_ms. Returns 0 when both were taken (dispatch now), else
 * the earliest unix ms at which to try again (nothing is taken). */
int64_t cr_rate_take(cr_rate_t *self, int64_t account, const char *platform, int64_t now_ms);

/* Gives back a token taken for a dispatch that did not happen. */
void cr_rate_give_back(cr_rate_t *self, int64_t account, const char *platform, int64_t now_ms);

/* What a platform's rate-limit headers said after a request of the account:
 * `remaining` calls left until reset_ms (unix ms, 0 unknown). */
void cr_rate_observe(cr_rate_t *self, int64_t account, const char *platform, uint32_t limit,
                     uint32_t remaining, int64_t reset_ms, int64_t now_ms);

/* The platform refused for its rate limit: nothing for this account until
 * until_ms (0: a minute from now). */
void cr_rate_block(cr_rate_t *self, int64_t account, const char *platform, int64_t until_ms,
                   int64_t now_ms);

/* Calls fn for every account that has no token now, with the time when it
 * will have one; returns how many. */
size_t cr_rate_each_blocked(cr_rate_t *self, int64_t now_ms,
                            void (*fn)(int64_t account, int64_t until_ms, void *arg), void *arg);

/* Forgets the buckets of accounts that are full and idle (memory bound). */
void cr_rate_prune(cr_rate_t *self, int64_t now_ms);

size_t cr_rate_accounts(const cr_rate_t *self);

#endif
