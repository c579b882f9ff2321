/*
 * sb_accounts: the sandbox's users, shared by all platforms.
 * An account is (platform, handle) with a numeric id; a token is a bearer
 * credential bound to one account of one platform. A revoked token stays
 * refused (even with --open) until it is registered again.
 * A token may expire (sb_accounts_set_expiry): the platform then answers its
 * expired-token error. A refresh token is a second credential bound to an
 * account, traded for new access tokens at the platform's OAuth endpoint
 * (sb_oauth.c); revoking it (like any token) makes it refused.
 * Not thread-safe: callers hold the world lock.
 */
#ifndef SB_ACCOUNTS_H
#define SB_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_HANDLE_MAX 64
#define SB_PLATFORM_MAX 24

typedef struct {
    uint64_t id;
    char platform[SB_PLATFORM_MAX];
    char handle[SB_HANDLE_MAX];
    uint64_t created_us;
} sb_account_t;

typedef struct sb_accounts sb_accounts_t;

sb_accounts_t *sb_accounts_new (void);
void sb_accounts_destroy (sb_accounts_t **self_p);
void sb_accounts_clear (sb_accounts_t *self);
/* Valid handle: 1..30 of [A-Za-z0-9_] (Mastodon's rule, fine for the others). */
bool sb_accounts_handle_valid (const char *handle);
/* Returns the existing account or creates it with the given id; NULL on error. */
sb_account_t *sb_accounts_ensure (sb_accounts_t *self, const char *platform, const char *handle,
                                  uint64_t id, uint64_t now_us);
sb_account_t *sb_accounts_find (const sb_accounts_t *self, const char *platform,
                                const char *handle);
sb_account_t *sb_accounts_find_id (const sb_accounts_t *self, uint64_t id);
/* Binds token to account (un-revoking it). 0, or -1 when out of memory. */
int sb_accounts_add_token (sb_accounts_t *self, sb_account_t *account, const char *token);
/* NULL if unknown or revoked. */
sb_account_t *sb_accounts_by_token (const sb_accounts_t *self, const char *platform,
                                    const char *token);
bool sb_accounts_revoked (const sb_accounts_t *self, const char *token);
/* Revokes the token on every platform; returns how many bindings it removed. */
size_t sb_accounts_revoke (sb_accounts_t *self, const char *token);
/* --open: "user" + the token's first 32 [a-z0-9] characters (lowercased) + the
 * FNV-1a hash of the whole token in 8 hex digits, so that two tokens never
 * share an account (and its rate limits). */
void sb_accounts_open_handle (const char *token, char *out, size_t cap);
/* The handle a bearer token names on a platform, for matching fault rules:
 * a registered account's handle, or (with --open) the handle the token
 * would create. False for no token, one longer than max_len, or a revoked
 * one. */
bool sb_accounts_identify (const sb_accounts_t *self, const char *platform, const char *token,
                           size_t max_len, bool open, char *handle, size_t cap);
size_t sb_accounts_count (const sb_accounts_t *self);

/* Token lifetimes. A token bound with sb_accounts_add_token never expires
 * until this sets when it does (expires_us: unix microseconds; 0 = never).
 * 0, or -1 (unknown binding, out of memory). */
int sb_accounts_set_expiry (sb_accounts_t *self, const char *platform, const char *token,
                            uint64_t expires_us);
/* When the token bound on platform expires; 0 = never (or not bound). */
uint64_t sb_accounts_expiry (const sb_accounts_t *self, const char *platform, const char *token);
/* True if the token is bound on platform and its expiry is at or before now. */
bool sb_accounts_expired (const sb_accounts_t *self, const char *platform, const char *token,
                          uint64_t now_us);

/* Refresh tokens: bound to one account of one platform, with their own
 * expiry (0 = never). Binding again replaces. 0, or -1. */
int sb_accounts_add_refresh (sb_accounts_t *self, sb_account_t *account, const char *refresh,
                             uint64_t expires_us);
/* The refresh token's account (expiry in *expires_us if not NULL); NULL if
 * unknown, dropped or revoked. */
sb_account_t *sb_accounts_by_refresh (const sb_accounts_t *self, const char *platform,
                                      const char *refresh, uint64_t *expires_us);
/* Forgets a refresh token (used once on a platform that rotates them). */
void sb_accounts_drop_refresh (sb_accounts_t *self, const char *platform, const char *refresh);
/* Refresh statistics: one more successful refresh on platform; how many. */
void sb_accounts_count_refresh (sb_accounts_t *self, const char *platform);
uint64_t sb_accounts_refreshes (const sb_accounts_t *self, const char *platform);

#endif
