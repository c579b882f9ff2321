/*
 * sb_world: the shared state of one sandbox process.
 *
 * Vocabulary: a platform is one imitated service (Mastodon, later Bluesky,
 * X, ...) mounted under a path prefix ("/mastodon"); an account is a user of
 * one platform, reached with a bearer token; the ledger records every post a
 * platform accepted; a fault rule makes the sandbox misbehave on purpose.
 *
 * One mutex (lock) guards everything reached through the world: the ledger,
 * accounts, rate windows, fault rules and each platform's own state. Critical
 * sections are short (parse outside, lock, update, render, unlock). Statistics
 * are atomics and need no lock.
 */
#ifndef SB_WORLD_H
#define SB_WORLD_H

#include "sb_accounts.h"
#include "sb_config.h"
#include "sb_faults.h"
#include "sb_http.h"
#include "sb_ledger.h"
#include "sb_ratelimit.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#define SB_MAX_PLATFORMS 16

typedef struct sb_world sb_world_t;

/* What a platform module (sb_<platform>.c) provides. */
typedef struct {
    const char *name;     /* "mastodon" */
    const char *prefix;   /* "/mastodon" */
    void *(*create) (sb_world_t *world);
    void (*destroy) (void **state_p);
    /* World lock held. Forget all posts, notifications, ... */
    void (*reset) (void *state);
    /* World lock held. Handle of the account the request authenticates as,
     * without side effects (used to match per-account fault rules). */
    bool (*identify) (void *state, const sb_req_t *req, char *handle, size_t cap);
    /* Takes the world lock itself. Serve the request. */
    void (*handle) (void *state, const sb_req_t *req, sb_reply_t *rep);
    /* Takes the world lock itself. An injected error `status`, in the
     * platform's error shape (and headers, e.g. rate-limit ones for 429). */
    void (*fault) (void *state, const sb_req_t *req, int status, sb_reply_t *rep);
    /* World lock held. Inject an incoming mention (control API). Returns the
     * HTTP status; the reply body is JSON. */
    int (*mention) (void *state, const json_t *spec, sb_buf_t *out);
    /* World lock held. Optional: the platform's own options of an account,
     * from its registration (POST /_sandbox/accounts), e.g. a webhook's
     * "archived". 0, or -1 with a message in err (answered 422). */
    int (*account_options) (void *state, const sb_account_t *account, const json_t *spec,
                            char *err, size_t errlen);
    /* World lock held. Optional: how often an account (its sandbox handle)
     * asked for sessions (GET /_sandbox/sessions), a JSON object into out. */
    void (*sessions) (void *state, const char *account, sb_buf_t *out);
} sb_platform_t;

struct sb_world {
    const sb_config_t *config;
    pthread_mutex_t lock;
    char base_url[300];    /* "http://127.0.0.1:8790" */
    char authority[280];   /* "127.0.0.1:8790" */
    sb_ledger_t *ledger;
    sb_accounts_t *accounts;
    sb_ratelimit_t *rates;
    sb_faults_t *faults;
    uint64_t last_id;      /* snowflake generator, lock held */
    const sb_platform_t *platforms[SB_MAX_PLATFORMS];
    void *pstates[SB_MAX_PLATFORMS];
    size_t nplatforms;
    /* statistics */
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t faults_applied;
    atomic_uint_fast64_t dropped;
    atomic_uint_fast64_t held;
    atomic_uint_fast64_t by_status[600];
};

/* Registered platforms (sb_mastodon.c, sb_x.c). */
extern const sb_platform_t sb_mastodon_platform;
extern const sb_platform_t sb_x_platform;
extern const sb_platform_t sb_bluesky_platform;
extern const sb_platform_t sb_linkedin_platform;
extern const sb_platform_t sb_facebook_platform;  /* sb_graph.c */
extern const sb_platform_t sb_instagram_platform; /* sb_graph.c */
extern const sb_platform_t sb_threads_platform;   /* sb_graph.c */
extern const sb_platform_t sb_webhook_platform;   /* alert channels */

/* config must outlive the world; host/port must already be set. */
sb_world_t *sb_world_new (const sb_config_t *config);
void sb_world_destroy (sb_world_t **self_p);
/* Clears ledger, accounts, faults, statistics and platform state (takes the lock). */
void sb_world_reset (sb_world_t *self);
/* Index of the platform whose prefix starts url, or -1. */
int sb_world_route (const sb_world_t *self, const char *url);
int sb_world_platform_index (const sb_world_t *self, const char *name);
/* Lock held. Mastodon-style snowflake: (ms << 16) | sequence, always increasing. */
uint64_t sb_world_next_id (sb_world_t *self, uint64_t now_us);
void sb_world_lock (sb_world_t *self);
void sb_world_unlock (sb_world_t *self);

/* Control API (sb_control.c): serves /_sandbox/... */
void sb_control_handle (sb_world_t *world, const sb_req_t *req, sb_reply_t *rep);

#endif
