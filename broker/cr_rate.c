/* cr_rate: token buckets per account and per platform (see cr_rate.h). */
#include "cr_rate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CR_RATE_MAX_PLATFORMS 32
#define CR_RATE_NAME 32

typedef struct {
    double tokens;
    int64_t last_ms;       /* last refill */
    int64_t blocked_until; /* unix ms: nothing before (a 429, or headers at zero) */
    double reset_tokens;   /* what the platform gives back at blocked_until */
} s_bucket_t;

typedef struct {
    char name[CR_RATE_NAME];
    int post_limit;
    int64_t post_window_ms;
    int app_limit;
    int64_t app_window_ms;
    s_bucket_t app;
} s_platform_t;

typedef struct {
    int64_t account; /* 0: empty slot */
    int platform;    /* index in platforms */
    s_bucket_t b;
} s_slot_t;

struct cr_rate {
    s_platform_t platforms[CR_RATE_MAX_PLATFORMS];
    int n_platforms;
    s_slot_t *slots;
    size_t cap, count; /* cap: a power of two */
};

cr_rate_t *cr_rate_new(void)
{
    cr_rate_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->cap = 256;
    self->slots = calloc(self->cap, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void cr_rate_destroy(cr_rate_t **self_p)
{
    if (!self_p || !*self_p) return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

static int s_platform_find(const cr_rate_t *self, const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < self->n_platforms; i++)
        if (strcmp(self->platforms[i].name, name) == 0) return i;
    return -1;
}

int cr_rate_set_platform(cr_rate_t *self, const char *platform, int post_limit,
                         int64_t post_window_ms, int app_limit, int64_t app_window_ms)
{
    if (!platform || strlen(platform) >= CR_RATE_NAME) return 0; /* not a platform of ours */
    int i = s_platform_find(self, platform);
    if (i < 0) {
        if (self->n_platforms == CR_RATE_MAX_PLATFORMS) return -1;
        i = self->n_platforms++;
        memset(&self->platforms[i], 0, sizeof self->platforms[i]);
        strcpy(self->platforms[i].name, platform);
        self->platforms[i].app.tokens = -1; /* filled at first use */
    }
    s_platform_t *p = &self->platforms[i];
    p->post_limit = post_limit > 0 && post_window_ms > 0 ? post_limit : 0;
    p->post_window_ms = post_window_ms > 0 ? post_window_ms : 0;
    p->app_limit = app_limit > 0 && app_window_ms > 0 ? app_limit : 0;
    p->app_window_ms = app_window_ms > 0 ? app_window_ms : 0;
    return 0;
}

static uint64_t s_hash(int64_t k)
{
    uint64_t x = (uint64_t)k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static s_slot_t *s_lookup(cr_rate_t *self, int64_t account)
{
    size_t mask = self->cap - 1;
    for (size_t i = s_hash(account) & mask;; i = (i + 1) & mask) {
        if (self->slots[i].account == account) return &self->slots[i];
        if (self->slots[i].account == 0) return NULL;
    }
}

static int s_grow(cr_rate_t *self, size_t cap)
{
    s_slot_t *n = calloc(cap, sizeof *n);
    if (!n) return -1;
    for (size_t i = 0; i < self->cap; i++) {
        if (!self->slots[i].account) continue;
        size_t j = s_hash(self->slots[i].account) & (cap - 1);
        while (n[j].account) j = (j + 1) & (cap - 1);
        n[j] = self->slots[i];
    }
    free(self->slots);
    self->slots = n;
    self->cap = cap;
    return 0;
}

/* The account's bucket, created full; NULL out of memory or account <= 0. */
static s_slot_t *s_get(cr_rate_t *self, int64_t account, int platform, int64_t now_ms)
{
    if (account <= 0) return NULL;
    s_slot_t *s = s_lookup(self, account);
    if (s) {
        s->platform = platform;
        return s;
    }
    if ((self->count + 1) * 4 > self->cap * 3 && s_grow(self, self->cap * 2) != 0) return NULL;
    size_t mask = self->cap - 1, i = s_hash(account) & mask;
    while (self->slots[i].account) i = (i + 1) & mask;
    s = &self->slots[i];
    s->account = account;
    s->platform = platform;
    s->b.tokens = platform >= 0 ? self->platforms[platform].post_limit : 0;
    s->b.last_ms = now_ms;
    s->b.blocked_until = 0;
    self->count++;
    return s;
}

static void s_refill(s_bucket_t *b, int limit, int64_t window_ms, int64_t now_ms)
{
    if (b->blocked_until && now_ms >= b->blocked_until) {
        /* the platform's window was reset: what it said it gives back */
        if (b->tokens < b->reset_tokens) b->tokens = b->reset_tokens;
        b->blocked_until = 0;
        b->reset_tokens = 0;
    }
    if (limit <= 0 || window_ms <= 0) return;
    if (b->tokens < 0) b->tokens = limit;
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * limit / (double)window_ms;
        b->last_ms = now_ms;
    }
    if (b->tokens > limit) b->tokens = limit;
}

/* When the bucket has a token: 0 now, else unix ms. */
static int64_t s_ready_at(const s_bucket_t *b, int limit, int64_t window_ms, int64_t now_ms)
{
    int64_t at = b->blocked_until > now_ms ? b->blocked_until : 0;
    /* blocked until a reset that gives tokens back: that is the answer */
    if (at && b->reset_tokens >= 1.0) return at;
    if (limit > 0 && window_ms > 0 && b->tokens < 1.0) {
        double wait = (1.0 - b->tokens) * (double)window_ms / limit;
        int64_t t = now_ms + (int64_t)ceil(wait);
        if (t > at) at = t;
    }
    return at;
}

int64_t cr_rate_take(cr_rate_t *self, int64_t account, const char *platform, int64_t now_ms)
{
    int pi = s_platform_find(self, platform);
    s_platform_t *p = pi >= 0 ? &self->platforms[pi] : NULL;
    s_slot_t *s = s_get(self, account, pi, now_ms);
    int64_t at = 0;
    if (s) {
        if (p) s_refill(&s->b, p->post_limit, p->post_window_ms, now_ms);
        at = s_ready_at(&s->b, p ? p->post_limit : 0, p ? p->post_window_ms : 0, now_ms);
    }
    if (p) {
        s_refill(&p->app, p->app_limit, p->app_window_ms, now_ms);
        int64_t t = s_ready_at(&p->app, p->app_limit, p->app_window_ms, now_ms);
        if (t > at) at = t;
    }
    if (at > now_ms) return at;
    if (s && p && p->post_limit > 0) s->b.tokens -= 1.0;
    if (p && p->app_limit > 0) p->app.tokens -= 1.0;
    return 0;
}

void cr_rate_give_back(cr_rate_t *self, int64_t account, const char *platform, int64_t now_ms)
{
    int pi = s_platform_find(self, platform);
    s_platform_t *p = pi >= 0 ? &self->platforms[pi] : NULL;
    if (!p) return;
    s_slot_t *s = account > 0 ? s_lookup(self, account) : NULL;
    if (s && p->post_limit > 0) {
        s_refill(&s->b, p->post_limit, p->post_window_ms, now_ms);
        s->b.tokens += 1.0;
        if (s->b.tokens > p->post_limit) s->b.tokens = p->post_limit;
    }
    if (p->app_limit > 0) {
        s_refill(&p->app, p->app_limit, p->app_window_ms, now_ms);
        p->app.tokens += 1.0;
        if (p->app.tokens > p->app_limit) p->app.tokens = p->app_limit;
    }
}

void cr_rate_observe(cr_rate_t *self, int64_t account, const char *platform, uint32_t limit,
                     uint32_t remaining, int64_t reset_ms, int64_t now_ms)
{
    int pi = s_platform_find(self, platform);
    s_slot_t *s = s_get(self, account, pi, now_ms);
    if (!s) return;
    if (pi >= 0) {
        const s_platform_t *p = &self->platforms[pi];
        s_refill(&s->b, p->post_limit, p->post_window_ms, now_ms);
        /* the platform counts what it saw; what is still in flight is ours
         * to subtract, so only ever lower the tokens */
        if (p->post_limit > 0 && (double)remaining < s->b.tokens) s->b.tokens = remaining;
    }
    /* a reset more than a day away is not believed (a hostile header) */
    if (remaining == 0 && reset_ms > now_ms && reset_ms - now_ms <= 86400000 &&
        reset_ms > s->b.blocked_until) {
        s->b.blocked_until = reset_ms;
        /* at the reset, a new window of `limit` (no more than we allow) */
        double back = limit ? limit : 1;
        if (pi >= 0 && self->platforms[pi].post_limit > 0 && back > self->platforms[pi].post_limit)
            back = self->platforms[pi].post_limit;
        s->b.reset_tokens = back;
    }
}

void cr_rate_block(cr_rate_t *self, int64_t account, const char *platform, int64_t until_ms,
                   int64_t now_ms)
{
    int pi = s_platform_find(self, platform);
    s_slot_t *s = s_get(self, account, pi, now_ms);
    if (!s) return;
    if (until_ms <= now_ms || until_ms - now_ms > 86400000) until_ms = now_ms + 60000;
    /* The refusal may come from another of the platform's limits (Mastodon's
     * requests per token): the posts' bucket keeps its tokens, the account
     * just waits until the time the platform gave. */
    if (until_ms > s->b.blocked_until) s->b.blocked_until = until_ms;
    if (s->b.reset_tokens < 1) s->b.reset_tokens = 1;
}

size_t cr_rate_each_blocked(cr_rate_t *self, int64_t now_ms,
                            void (*fn)(int64_t account, int64_t until_ms, void *arg), void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *s = &self->slots[i];
        if (!s->account) continue;
        const s_platform_t *p = s->platform >= 0 ? &self->platforms[s->platform] : NULL;
        if (p) s_refill(&s->b, p->post_limit, p->post_window_ms, now_ms);
        int64_t at = s_ready_at(&s->b, p ? p->post_limit : 0, p ? p->post_window_ms : 0, now_ms);
        if (at > now_ms) {
            if (fn) fn(s->account, at, arg);
            n++;
        }
    }
    return n;
}

/* A bucket that is full and not blocked says nothing a new one would not. */
static int s_forgettable(cr_rate_t *self, s_slot_t *s, int64_t now_ms)
{
    const s_platform_t *p = s->platform >= 0 ? &self->platforms[s->platform] : NULL;
    if (p) s_refill(&s->b, p->post_limit, p->post_window_ms, now_ms);
    int full = !p || p->post_limit <= 0 || s->b.tokens >= p->post_limit;
    return full && s->b.blocked_until <= now_ms;
}

void cr_rate_prune(cr_rate_t *self, int64_t now_ms)
{
    size_t keep = 0;
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i].account && !s_forgettable(self, &self->slots[i], now_ms)) keep++;
    size_t cap = 256;
    while (keep * 4 > cap * 3) cap *= 2;
    s_slot_t *n = calloc(cap, sizeof *n);
    if (!n) return; /* keep them all: pruning is only about memory */
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *s = &self->slots[i];
        if (!s->account || s_forgettable(self, s, now_ms)) continue;
        size_t j = s_hash(s->account) & (cap - 1);
        while (n[j].account) j = (j + 1) & (cap - 1);
        n[j] = *s;
    }
    free(self->slots);
    self->slots = n;
    self->cap = cap;
    self->count = keep;
}

size_t cr_rate_accounts(const cr_rate_t *self)
{
    return self->count;
}
