/* cr_adapters: the platform adapters compiled into the workers, by name.
 * Each role picks the ones that handle its job kinds. */
#ifndef CR_ADAPTERS_H
#define CR_ADAPTERS_H

#include "cr_adapter.h"

/* NULL-terminated list of every built-in adapter. */
const cr_adapter_t *const *cr_adapters_builtin(void);

/* The adapter for platform in list (NULL-terminated), or NULL. */
const cr_adapter_t *cr_adapters_find(const cr_adapter_t *const *list, const char *platform);

#endif
