#include "cr_adapters.h"

#include "cr_mastodon.h"
#include "cr_x.h"
#include "cr_bluesky.h"
#include "cr_linkedin.h"
#include "cr_graph.h" /* facebook, instagram, threads */
#include "cr_refresh.h" /* token refresh: x, threads, linkedin */
#include "cr_webhook.h"
#include "cr_email.h"

#include <string.h>

static const cr_adapter_t *const s_builtin[] = {
    &cr_mastodon_adapter,
    &cr_x_adapter,
    &cr_bluesky_adapter,
    &cr_linkedin_adapter,
    &cr_facebook_adapter,
    &cr_instagram_adapter,
    &cr_threads_adapter,
    &cr_x_refresh_adapter,
    &cr_threads_refresh_adapter,
    &cr_linkedin_refresh_adapter,
    &cr_webhook_adapter,
    &cr_email_adapter,
    NULL,
};

const cr_adapter_t *const *cr_adapters_builtin(void)
{
    return s_builtin;
}

const cr_adapter_t *cr_adapters_find(const cr_adapter_t *const *list, const char *platform)
{
    if (!list || !platform) return NULL;
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i]->platform, platform) == 0) return list[i];
    return NULL;
}
