/* cr_settings: the adapters' configuration channel.
 *
 * platform-apis.md marks some platform facts "unconfirmed" (an error code, a
 * response shape, an endpoint): adapters never hard-code those; they read
 * them here, with the documented value as the default, so an operator can
 * correct one without a rebuild. Other per-platform knobs (OAuth endpoints,
 * client ids of the agency's apps) come through the same channel.
 *
 * A setting is named (platform, name), e.g. ("instagram", "quota_subcodes").
 * Lookup order: the environment variable CRIEUR_<PLATFORM>_<NAME> (upper
 * case; '-' and '.' become '_'), then the settings file loaded with
 * cr_settings_load (lines "platform.name = value", '#' starts a comment),
 * then the caller's default. Values are read at each call (cheap), so a test
 * can change the environment between calls.
 *
 * Not thread-safe; workers are single-threaded. */
#ifndef CR_SETTINGS_H
#define CR_SETTINGS_H

#include <stddef.h>

/* Loads (replaces) the settings file. 0, or -1 with a message in err
 * ("settings.conf:3: expected platform.name = value"). */
int cr_settings_load(const char *path, char *err, size_t errlen);
/* Forgets the loaded file. */
void cr_settings_clear(void);

/* The value, or def (which may be NULL). The pointer stays valid until the
 * next cr_settings_load/clear or change of the environment variable. */
const char *cr_setting(const char *platform, const char *name, const char *def);
/* An integer setting; def when unset or not a whole number in range. */
long long cr_setting_int(const char *platform, const char *name, long long def);
/* 1 if the comma-separated list setting (def_list when unset) contains item
 * (compared after trimming spaces, case-sensitive). */
int cr_setting_has(const char *platform, const char *name, const char *def_list, const char *item);

#endif
