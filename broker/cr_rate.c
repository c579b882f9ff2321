/* cr_rate: sliding windows per account and per platform (see cr_rate.h). */
#include "cr_rate.h"

#include <stdlib.h>
#include <string.h>

#define CR_RATE_MAX_PLATFORMS 32
#define CR_RATE_NAME 32
/* headers announcing a reset further away than this are not believed */
#define CR_RATE_RESET_MAX_MS 86400000LL

/* One window: the done times of the publications still in it (oldest first,
 * a ring), those in flight, and what the platform said. */
typedef struct {
    int64_t *t;
    uint32_t head, n, cap;
    uint32_t in_flight;
    int64_t blocked_until; /* unix ms: nothing before (a 429, or headers at zero) */
    int64_t cap_until;     /* unix ms: the headers' reset ... */
    int64_t cap_left;      /* ... and how many may still go before it */
} s_win_t;

typedef struct {
    char name[CR_RATE_NAME];
    int post_limit;
    int64_t post_window_ms;
    int app_limit;
    int64_t app_window_ms;
    s_win_t app;
} s_platform_t;

typedef struct {
    int64_t account; /* 0: empty slot */
    int platform;    /* index in platforms, -1 unknown */
    s_win_t w;
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
    cr_rate_t *self = *self_p;
    for (size_t i = 0; i < self->cap; i++) free(self->slots[i].w.t);
    for (int i = 0; i < self->n_platforms; i++) free(self->platforms[i].app.t);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------- windows */

static int64_t s_at(const s_win_t *w, uint32_t k)
{
    return w->t[(w->head + k) % w->cap];
}

/* Drops the publications that left the window (all of them without a limit). */
static void s_expire(s_win_t *w, int limit, int64_t window_ms, int64_t now_ms)
{
    if (limit <= 0 || window_ms <= 0) {
        w->n = 0;
        w->head = 0;
        return;
    }
    while (w->n && s_at(w, 0) <= now_ms - window_ms) {
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
    if (w->n == 0) w->head = 0;
}

/* When the window has a place: 0 now, else unix ms. */
static int64_t s_ready_at(s_win_t *w, int limit, int64_t window_ms, int64_t now_ms)
{
    int64_t at = w->blocked_until > now_ms ? w->blocked_until : 0;
    if (w->cap_until > now_ms && w->cap_left <= 0 && w->cap_until > at) at = w->cap_until;
    if (limit > 0 && window_ms > 0) {
        s_expire(w, limit, window_ms, now_ms);
        uint64_t used = (uint64_t)w->in_flight + w->n;
        if (used >= (uint64_t)limit) {
            uint64_t k = used - (uint64_t)limit + 1; /* places that must free up */
            /* a publication in flight frees its place one window after it
             * is done, so no sooner than a window from now */
            int64_t t = k <= w->n ? s_at(w, (uint32_t)(k - 1)) + window_ms : now_ms + window_ms;
            if (t > at) at = t;
        }
    }
    return at > now_ms ? at : 0;
}

static void s_take(s_win_t *w, int64_t now_ms)
{
    w->in_flight++;
    if (w->cap_until > now_ms) w->cap_left--;
}

static void s_give_back(s_win_t *w, int64_t now_ms)
{
    if (w->in_flight) w->in_flight--;
    if (w->cap_until > now_ms) w->cap_left++;
}

static void s_done(s_win_t *w, int limit, int64_t window_ms, int64_t now_ms)
{
    if (w->in_flight) w->in_flight--;
    s_expire(w, limit, window_ms, now_ms);
    if (limit <= 0 || window_ms <= 0) return;
    if (w->n == w->cap) {
        uint32_t ncap = w->cap ? w->cap * 2 : 4;
        int64_t *nt = malloc((size_t)ncap * sizeof *nt);
        if (!nt) {
            /* out of memory: the oldest place is forgotten first */
            if (!w->n) return;
            w->head = (w->head + 1) % w->cap;
            w->n--;
        } else {
            for (uint32_t i = 0; i < w->n; i++) nt[i] = s_at(w, i);
            free(w->t);
            w->t = nt;
            w->cap = ncap;
            w->head = 0;
        }
    }
    /* done times only grow, but a clock step back must not break the order */
    int64_t t = now_ms;
    if (w->n && s_at(w, w->n - 1) > t) t = s_at(w, w->n - 1);
    w->t[(w->head + w->n) % w->cap] = t;
    w->n++;
}

static int s_idle(s_win_t *w, int limit, int64_t window_ms, int64_t now_ms)
{
    s_expire(w, limit, window_ms, now_ms);
    return w->in_flight == 0 && w->n == 0 && w->blocked_until <= now_ms &&
           w->cap_until <= now_ms;
}

/* -------------------------------------------------------------- platforms */

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
    }
    s_platform_t *p = &self->platforms[i];
    p->post_limit = post_limit > 0 && post_window_ms > 0 ? post_limit : 0;
    p->post_window_ms = p->post_limit ? post_window_ms : 0;
    p->app_limit = app_limit > 0 && app_window_ms > 0 ? app_limit : 0;
    p->app_window_ms = p->app_limit ? app_window_ms : 0;
    return 0;
}

/* --------------------------------------------------------------- accounts */

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
    if (account <= 0) return NULL;
    size_t mask = self->cap - 1;
    for (size_t i = s_hash(account) & mask;; i = (i + 1) & mask) {
        if (self->slots[i].account == account) return &self->slots[i];
        if (self->slots[i].account == 0) return NULL;
    }
}

static int s_rehash(cr_rate_t *self, size_t cap)
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

/* The account's window, created empty; NULL out of memory or account <= 0. */
static s_slot_t *s_get(cr_rate_t *self, int64_t account, int platform)
{
    if (account <= 0) return NULL;
    s_slot_t *s = s_lookup(self, account);
    if (s) {
        if (platform >= 0) s->platform = platform;
        return s;
    }
    if ((self->count + 1) * 4 > self->cap * 3 && s_rehash(self, self->cap * 2) != 0) return NULL;
    size_t mask = self->cap - 1, i = s_hash(account) & mask;
    while (self->slots[i].account) i = (i + 1) & mask;
    s = &self->slots[i];
    memset(s, 0, sizeof *s);
    s->account = account;
    s->platform = platform;
    self->count++;
    return s;
}

static int s_limit(const cr_rate_t *self, const s_slot_t *s, int64_t *window_ms)
{
    if (s->platform < 0) {
        *window_ms = 0;
        return 0;
    }
    *window_ms = self->platforms[s->platform].post_window_ms;
    return self->platforms[s->platform].post_limit;
}

int64_t cr_rate_take(cr_rate_t *self, int64_t account, const char *platform, int64_t now_ms)
{
    int pi = s_platform_find(self, platform);
    if (pi < 0) return 0; /* a platform without limits of ours */
    s_platform_t *p = &self->platforms[pi];
    s_slot_t *s = s_get(self, account, pi);
    int64_t at = 0;
    if (s) at = s_ready_at(&s->w, p->post_limit, p->post_window_ms, now_ms);
    int64_t t = s_ready_at(&p->app, p->app_limit, p->app_window_ms, now_ms);
    if (t > at) at = t;
    if (at) return at;
    if (s) s_take(&s->w, now_ms);
    s_take(&p->app, now_ms);
    return 0;
}

void cr_rate_give_back(cr_rate_t *self, int64_t account, const char *platform, int64_t now_ms)
{
    int pi = s_platform_find(self, platform);
    if (pi < 0) return;
    s_slot_t *s = s_lookup(self, account);
    if (s) s_give_back(&s->w, now_ms);
    s_give_back(&self->platforms[pi].app, now_ms);
}

void cr_rate_done(cr_rate_t *self, int64_t account, const char *platform, int64_t now_ms)
{
    int pi = s_platform_find(self, platform);
    if (pi < 0) return;
    s_platform_t *p = &self->platforms[pi];
    s_slot_t *s = s_lookup(self, account);
    if (s) s_done(&s->w, p->post_limit, p->post_window_ms, now_ms);
    s_done(&p->app, p->app_limit, p->app_window_ms, now_ms);
}

void cr_rate_observe(cr_rate_t *self, int64_t account, const char *platform, uint32_t limit,
                     uint32_t remaining, int64_t reset_ms, int64_t now_ms)
{
    (void)limit;
    s_slot_t *s = s_get(self, account, s_platform_find(self, platform));
    if (!s) return;
    /* a reset unknown, past or more than a day away (a hostile header) says
     * nothing we can hold the account to: our own window decides */
    if (reset_ms <= now_ms || reset_ms - now_ms > CR_RATE_RESET_MAX_MS) return;
    /* The platform counted this request; the others in flight it may not
     * have seen yet, so they are counted against what it says is left. */
    int64_t left = (int64_t)remaining - (s->w.in_flight ? s->w.in_flight - 1 : 0);
    if (left < 0) left = 0;
    if (s->w.cap_until > now_ms && reset_ms <= s->w.cap_until + 1000) {
        /* the same window: the lower count is the truer one */
        if (left < s->w.cap_left) s->w.cap_left = left;
        if (reset_ms > s->w.cap_until) s->w.cap_until = reset_ms;
    } else {
        s->w.cap_until = reset_ms;
        s->w.cap_left = left;
    }
}

void cr_rate_block(cr_rate_t *self, int64_t account, const char *platform, int64_t until_ms,
                   int64_t now_ms)
{
    s_slot_t *s = s_get(self, account, s_platform_find(self, platform));
    if (!s) return;
    if (until_ms <= now_ms || until_ms - now_ms > CR_RATE_RESET_MAX_MS) until_ms = now_ms + 60000;
    /* The refusal may come from another of the platform's limits (Mastodon's
     * requests per token): the account just waits until the time the
     * platform gave, its window unchanged. */
    if (until_ms > s->w.blocked_until) s->w.blocked_until = until_ms;
}

size_t cr_rate_each_blocked(cr_rate_t *self, int64_t now_ms,
                            void (*fn)(int64_t account, int64_t until_ms, void *arg), void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *s = &self->slots[i];
        if (!s->account) continue;
        int64_t window;
        int limit = s_limit(self, s, &window);
        int64_t at = s_ready_at(&s->w, limit, window, now_ms);
        if (at) {
            if (fn) fn(s->account, at, arg);
            n++;
        }
    }
    return n;
}

void cr_rate_prune(cr_rate_t *self, int64_t now_ms)
{
    size_t keep = 0;
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *s = &self->slots[i];
        if (!s->account) continue;
        int64_t window;
        int limit = s_limit(self, s, &window);
        if (!s_idle(&s->w, limit, window, now_ms)) keep++;
    }
    size_t cap = 256;
    while (keep * 4 > cap * 3) cap *= 2;
    s_slot_t *n = calloc(cap, sizeof *n);
    if (!n) return; /* keep them all: pruning is only about memory */
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *s = &self->slots[i];
        if (!s->account) continue;
        int64_t window;
        int limit = s_limit(self, s, &window);
        if (s_idle(&s->w, limit, window, now_ms)) {
            free(s->w.t);
            continue;
        }
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

size_t cr_rate_in_flight(const cr_rate_t *self)
{
    size_t n = 0;
    for (int i = 0; i < self->n_platforms; i++) n += self->platforms[i].app.in_flight;
    return n;
}
