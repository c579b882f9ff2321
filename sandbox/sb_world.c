/* sb_world: shared state of the sandbox. See sb_world.h. */
#include "sb_world.h"
#include "sb_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const sb_platform_t *s_platforms[] = {
    &sb_mastodon_platform,
    &sb_x_platform,
    &sb_bluesky_platform,
    &sb_linkedin_platform,
    &sb_facebook_platform,
    &sb_instagram_platform,
    &sb_threads_platform,
    &sb_webhook_platform,
};

sb_world_t *
sb_world_new (const sb_config_t *config)
{
    sb_world_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->config = config;
    if (pthread_mutex_init (&self->lock, NULL) != 0) {
        free (self);
        return NULL;
    }
    const char *host = config->host;
    if (strcmp (host, "0.0.0.0") == 0 || strcmp (host, "::") == 0 || host[0] == '\0')
        host = "127.0.0.1";
    if (strchr (host, ':'))
        snprintf (self->authority, sizeof (self->authority), "[%s]:%d", host, config->port);
    else
        snprintf (self->authority, sizeof (self->authority), "%s:%d", host, config->port);
    snprintf (self->base_url, sizeof (self->base_url), "http://%s", self->authority);
    self->ledger = sb_ledger_new (config->ledger_file);
    self->accounts = sb_accounts_new ();
    self->rates = sb_ratelimit_new ();
    self->faults = sb_faults_new ((uint64_t) config->seed);
    if (!self->ledger || !self->accounts || !self->rates || !self->faults)
        goto fail;
    for (size_t i = 0; i < sizeof (s_platforms) / sizeof (s_platforms[0]); i++) {
        self->platforms[i] = s_platforms[i];
        self->pstates[i] = s_platforms[i]->create (self);
        self->nplatforms = i + 1;
        if (!self->pstates[i])
            goto fail;
    }
    return self;
fail:
    sb_world_destroy (&self);
    return NULL;
}

void
sb_world_destroy (sb_world_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sb_world_t *self = *self_p;
    for (size_t i = 0; i < self->nplatforms; i++)
        if (self->pstates[i])
            self->platforms[i]->destroy (&self->pstates[i]);
    sb_faults_destroy (&self->faults);
    sb_ratelimit_destroy (&self->rates);
    sb_accounts_destroy (&self->accounts);
    sb_ledger_destroy (&self->ledger);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

void
sb_world_lock (sb_world_t *self)
{
    pthread_mutex_lock (&self->lock);
}

void
sb_world_unlock (sb_world_t *self)
{
    pthread_mutex_unlock (&self->lock);
}

void
sb_world_reset (sb_world_t *self)
{
    sb_world_lock (self);
    for (size_t i = 0; i < self->nplatforms; i++)
        self->platforms[i]->reset (self->pstates[i]);
    sb_ledger_clear (self->ledger);
    sb_accounts_clear (self->accounts);
    sb_ratelimit_clear (self->rates);
    sb_faults_clear (self->faults);
    sb_world_unlock (self);
    atomic_store (&self->requests, 0);
    atomic_store (&self->faults_applied, 0);
    atomic_store (&self->dropped, 0);
    atomic_store (&self->held, 0);
    for (size_t i = 0; i < 600; i++)
        atomic_store (&self->by_status[i], 0);
}

int
sb_world_route (const sb_world_t *self, const char *url)
{
    for (size_t i = 0; i < self->nplatforms; i++) {
        const char *prefix = self->platforms[i]->prefix;
        size_t n = strlen (prefix);
        if (strncmp (url, prefix, n) == 0 && (url[n] == '/' || url[n] == '\0'))
            return (int) i;
    }
    return -1;
}

int
sb_world_platform_index (const sb_world_t *self, const char *name)
{
    for (size_t i = 0; i < self->nplatforms; i++)
        if (strcmp (self->platforms[i]->name, name) == 0)
            return (int) i;
    return -1;
}

uint64_t
sb_world_next_id (sb_world_t *self, uint64_t now_us)
{
    uint64_t id = (now_us / 1000u) << 16;
    if (id <= self->last_id)
        id = self->last_id + 1;
    self->last_id = id;
    return id;
}
