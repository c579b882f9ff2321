/* sb_ratelimit: fixed-window counters. See sb_ratelimit.h. */
#include "sb_ratelimit.h"
#include "sb_map.h"

#include <stdlib.h>

typedef struct {
    uint64_t start_us;   /* window start */
    uint64_t end_us;     /* window end (exclusive) */
    int64_t count;
} s_window_t;

struct sb_ratelimit {
    sb_map_t *windows;
};

static void
s_free (void *p)
{
    free (p);
}

sb_ratelimit_t *
sb_ratelimit_new (void)
{
    sb_ratelimit_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->windows = sb_map_new (s_free);
    if (!self->windows)
        sb_ratelimit_destroy (&self);
    return self;
}

void
sb_ratelimit_destroy (sb_ratelimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sb_map_destroy (&(*self_p)->windows);
    free (*self_p);
    *self_p = NULL;
}

void
sb_ratelimit_clear (sb_ratelimit_t *self)
{
    sb_map_clear (self->windows);
}

void
sb_ratelimit_hit (sb_ratelimit_t *self, const char *key, int64_t limit, int64_t period_s,
                  sb_window_kind_t kind, uint64_t now_us, int64_t cost, sb_rate_t *out)
{
    uint64_t period_us = (uint64_t) (period_s > 0 ? period_s : 1) * 1000000u;
    s_window_t *w = sb_map_get (self->windows, key);
    if (w && now_us >= w->end_us) {
        w->count = 0;   /* expired: a fresh window opens below */
        w->end_us = 0;
    }
    if (!w) {
        w = calloc (1, sizeof (*w));
        if (w && sb_map_put (self->windows, key, w) != 0) {
            free (w);
            w = NULL;
        }
    }
    out->limit = limit;
    if (!w) {   /* out of memory: fail open */
        out->allowed = true;
        out->remaining = limit;
        out->reset_us = now_us + period_us;
        return;
    }
    if (w->end_us == 0 && kind == SB_WINDOW_ALIGNED) {
        uint64_t secs = now_us / 1000000u;
        uint64_t p = period_us / 1000000u;
        w->start_us = (secs - secs % p) * 1000000u;
        w->end_us = w->start_us + period_us;
    }
    if (kind == SB_WINDOW_ALIGNED) {
        w->count += cost;
        out->allowed = w->count <= limit;
        uint64_t secs = now_us / 1000000u;
        uint64_t p = period_us / 1000000u;
        out->reset_us = now_us + (p - secs % p) * 1000000u;
    }
    else {
        int64_t need = cost > 0 ? cost : 1;
        out->allowed = w->count + need <= limit;
        if (out->allowed && cost > 0) {
            if (w->end_us == 0) {
                w->start_us = now_us;
                w->end_us = now_us + period_us;
            }
            w->count += cost;
        }
        out->reset_us = w->end_us ? w->end_us : now_us + period_us;
    }
    int64_t rem = limit - w->count;
    out->remaining = rem > 0 ? rem : 0;
}
