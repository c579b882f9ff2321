/* sb_accounts: users and tokens. See sb_accounts.h. */
#include "sb_accounts.h"
#include "sb_map.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sb_accounts {
    sb_map_t *by_handle;   /* "platform\x1fhandle" -> sb_account_t (owned) */
    sb_map_t *by_id;       /* "id" -> sb_account_t (borrowed) */
    sb_map_t *by_token;    /* "platform\x1ftoken" -> sb_account_t (borrowed) */
    sb_map_t *revoked;     /* "token" -> (void *) 1 */
    sb_map_t *expiry;      /* "platform\x1ftoken" -> uint64_t expires_us (owned) */
    sb_map_t *refresh;     /* "platform\x1frefresh" -> s_refresh_t (owned) */
    sb_map_t *refreshes;   /* "platform" -> uint64_t count (owned) */
};

typedef struct {
    sb_account_t *account;   /* borrowed from by_handle */
    uint64_t expires_us;     /* 0 = never */
} s_refresh_t;

static void
s_free (void *p)
{
    free (p);
}

sb_accounts_t *
sb_accounts_new (void)
{
    sb_accounts_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->by_handle = sb_map_new (s_free);
    self->by_id = sb_map_new (NULL);
    self->by_token = sb_map_new (NULL);
    self->revoked = sb_map_new (NULL);
    self->expiry = sb_map_new (s_free);
    self->refresh = sb_map_new (s_free);
    self->refreshes = sb_map_new (s_free);
    if (!self->by_handle || !self->by_id || !self->by_token || !self->revoked || !self->expiry
        || !self->refresh || !self->refreshes)
        sb_accounts_destroy (&self);
    return self;
}

void
sb_accounts_destroy (sb_accounts_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sb_accounts_t *self = *self_p;
    sb_map_destroy (&self->by_token);
    sb_map_destroy (&self->by_id);
    sb_map_destroy (&self->revoked);
    sb_map_destroy (&self->expiry);
    sb_map_destroy (&self->refresh);
    sb_map_destroy (&self->refreshes);
    sb_map_destroy (&self->by_handle);
    free (self);
    *self_p = NULL;
}

void
sb_accounts_clear (sb_accounts_t *self)
{
    sb_map_clear (self->by_token);
    sb_map_clear (self->by_id);
    sb_map_clear (self->revoked);
    sb_map_clear (self->expiry);
    sb_map_clear (self->refresh);
    sb_map_clear (self->refreshes);
    sb_map_clear (self->by_handle);
}

static int
s_key (char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf (out, cap, "%s\x1f%s", a, b);
    return (n < 0 || (size_t) n >= cap) ? -1 : 0;
}

bool
sb_accounts_handle_valid (const char *handle)
{
    size_t n = 0;
    for (const char *p = handle; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_'))
            return false;
    }
    return n >= 1 && n <= 30;
}

sb_account_t *
sb_accounts_find (const sb_accounts_t *self, const char *platform, const char *handle)
{
    char key[SB_PLATFORM_MAX + SB_HANDLE_MAX + 2];
    if (s_key (key, sizeof (key), platform, handle) != 0)
        return NULL;
    return sb_map_get (self->by_handle, key);
}

sb_account_t *
sb_accounts_find_id (const sb_accounts_t *self, uint64_t id)
{
    char key[24];
    snprintf (key, sizeof (key), "%llu", (unsigned long long) id);
    return sb_map_get (self->by_id, key);
}

sb_account_t *
sb_accounts_ensure (sb_accounts_t *self, const char *platform, const char *handle, uint64_t id,
                    uint64_t now_us)
{
    char key[SB_PLATFORM_MAX + SB_HANDLE_MAX + 2];
    char idkey[24];
    if (strlen (platform) >= SB_PLATFORM_MAX || strlen (handle) >= SB_HANDLE_MAX
        || s_key (key, sizeof (key), platform, handle) != 0)
        return NULL;
    sb_account_t *account = sb_map_get (self->by_handle, key);
    if (account)
        return account;
    account = calloc (1, sizeof (*account));
    if (!account)
        return NULL;
    account->id = id;
    snprintf (account->platform, sizeof (account->platform), "%s", platform);
    snprintf (account->handle, sizeof (account->handle), "%s", handle);
    account->created_us = now_us;
    snprintf (idkey, sizeof (idkey), "%llu", (unsigned long long) id);
    if (sb_map_put (self->by_handle, key, account) != 0) {
        free (account);
        return NULL;
    }
    if (sb_map_put (self->by_id, idkey, account) != 0) {
        sb_map_delete (self->by_handle, key);
        return NULL;
    }
    return account;
}

int
sb_accounts_add_token (sb_accounts_t *self, sb_account_t *account, const char *token)
{
    char key[1100];
    if (strlen (token) > 1024 || s_key (key, sizeof (key), account->platform, token) != 0)
        return -1;
    if (sb_map_put (self->by_token, key, account) != 0)
        return -1;
    sb_map_delete (self->revoked, token);
    sb_map_delete (self->expiry, key);   /* bound again: no expiry until one is set */
    return 0;
}

sb_account_t *
sb_accounts_by_token (const sb_accounts_t *self, const char *platform, const char *token)
{
    char key[1100];
    if (strlen (token) > 1024 || s_key (key, sizeof (key), platform, token) != 0)
        return NULL;
    return sb_map_get (self->by_token, key);
}

bool
sb_accounts_revoked (const sb_accounts_t *self, const char *token)
{
    return sb_map_size (self->revoked) > 0 && sb_map_get (self->revoked, token) != NULL;
}

typedef struct {
    const char *token;
    char keys[8][1100];
    size_t n;
} s_revoke_t;

static bool
s_collect (const char *key, void *value, void *arg)
{
    s_revoke_t *r = arg;
    const char *sep = strchr (key, '\x1f');
    if (sep && strcmp (sep + 1, r->token) == 0 && r->n < 8)
        snprintf (r->keys[r->n++], sizeof (r->keys[0]), "%s", key);
    return true;
}

size_t
sb_accounts_revoke (sb_accounts_t *self, const char *token)
{
    if (strlen (token) > 1024)
        return 0;
    s_revoke_t *r = calloc (1, sizeof (*r));
    if (!r)
        return 0;
    r->token = token;
    sb_map_each (self->by_token, s_collect, r);
    for (size_t i = 0; i < r->n; i++)
        sb_map_delete (self->by_token, r->keys[i]);
    size_t n = r->n;
    r->n = 0;   /* a refresh token is revoked the same way */
    sb_map_each (self->refresh, s_collect, r);
    for (size_t i = 0; i < r->n; i++)
        sb_map_delete (self->refresh, r->keys[i]);
    n += r->n;
    free (r);
    sb_map_put (self->revoked, token, (void *) 1);
    return n;
}

void
sb_accounts_open_handle (const char *token, char *out, size_t cap)
{
    /* The whole token names the account (sanitised, and hashed when long),
     * so that two tokens never share an account and its rate limits. */
    char suffix[41];
    size_t n = 0;
    uint32_t h = 2166136261u; /* FNV-1a of the whole token */
    for (const char *p = token; *p; p++) {
        h = (h ^ (unsigned char) *p) * 16777619u;
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char) (c - 'A' + 'a');
        if (n < 32 && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            suffix[n++] = c;
    }
    suffix[n] = '\0';
    snprintf (out, cap, "user%s%08x", suffix, (unsigned) h);
}

bool
sb_accounts_identify (const sb_accounts_t *self, const char *platform, const char *token,
                      size_t max_len, bool open, char *handle, size_t cap)
{
    if (!token || strlen (token) > max_len || sb_accounts_revoked (self, token))
        return false;
    sb_account_t *a = sb_accounts_by_token (self, platform, token);
    if (a) {
        snprintf (handle, cap, "%s", a->handle);
        return true;
    }
    if (open) {
        sb_accounts_open_handle (token, handle, cap);
        return true;
    }
    return false;
}

size_t
sb_accounts_count (const sb_accounts_t *self)
{
    return sb_map_size (self->by_handle);
}

int
sb_accounts_set_expiry (sb_accounts_t *self, const char *platform, const char *token,
                        uint64_t expires_us)
{
    char key[1100];
    if (strlen (token) > 1024 || s_key (key, sizeof (key), platform, token) != 0
        || !sb_map_get (self->by_token, key))
        return -1;
    if (expires_us == 0) {
        sb_map_delete (self->expiry, key);
        return 0;
    }
    uint64_t *at = malloc (sizeof (*at));
    if (!at)
        return -1;
    *at = expires_us;
    if (sb_map_put (self->expiry, key, at) != 0) {
        free (at);
        return -1;
    }
    return 0;
}

uint64_t
sb_accounts_expiry (const sb_accounts_t *self, const char *platform, const char *token)
{
    char key[1100];
    if (!token || strlen (token) > 1024 || s_key (key, sizeof (key), platform, token) != 0)
        return 0;
    const uint64_t *at = sb_map_size (self->expiry) ? sb_map_get (self->expiry, key) : NULL;
    return at ? *at : 0;
}

bool
sb_accounts_expired (const sb_accounts_t *self, const char *platform, const char *token,
                     uint64_t now_us)
{
    uint64_t at = sb_accounts_expiry (self, platform, token);
    return at != 0 && at <= now_us;
}

int
sb_accounts_add_refresh (sb_accounts_t *self, sb_account_t *account, const char *refresh,
                         uint64_t expires_us)
{
    char key[1100];
    if (strlen (refresh) > 1024 || s_key (key, sizeof (key), account->platform, refresh) != 0)
        return -1;
    s_refresh_t *r = malloc (sizeof (*r));
    if (!r)
        return -1;
    r->account = account;
    r->expires_us = expires_us;
    if (sb_map_put (self->refresh, key, r) != 0) {
        free (r);
        return -1;
    }
    sb_map_delete (self->revoked, refresh);
    return 0;
}

sb_account_t *
sb_accounts_by_refresh (const sb_accounts_t *self, const char *platform, const char *refresh,
                        uint64_t *expires_us)
{
    char key[1100];
    if (!refresh || strlen (refresh) > 1024 || s_key (key, sizeof (key), platform, refresh) != 0
        || sb_accounts_revoked (self, refresh))
        return NULL;
    const s_refresh_t *r = sb_map_get (self->refresh, key);
    if (!r)
        return NULL;
    if (expires_us)
        *expires_us = r->expires_us;
    return r->account;
}

void
sb_accounts_drop_refresh (sb_accounts_t *self, const char *platform, const char *refresh)
{
    char key[1100];
    if (strlen (refresh) <= 1024 && s_key (key, sizeof (key), platform, refresh) == 0)
        sb_map_delete (self->refresh, key);
}

void
sb_accounts_count_refresh (sb_accounts_t *self, const char *platform)
{
    uint64_t *n = sb_map_get (self->refreshes, platform);
    if (n) {
        (*n)++;
        return;
    }
    n = malloc (sizeof (*n));
    if (!n)
        return;
    *n = 1;
    if (sb_map_put (self->refreshes, platform, n) != 0)
        free (n);
}

uint64_t
sb_accounts_refreshes (const sb_accounts_t *self, const char *platform)
{
    const uint64_t *n = sb_map_get (self->refreshes, platform);
    return n ? *n : 0;
}
