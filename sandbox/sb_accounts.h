/*
 * sb_accounts: the sandbox's users, shared by all platforms.
 * An account is (platform, handle) with a numeric id; a token is a bearer
 * credential bound to one account of one platform. A revoked token stays
 * refused (even with --open) until it is registered again.
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

#endif
