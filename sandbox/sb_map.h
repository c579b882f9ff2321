/*
 * sb_map: string-keyed hash table (chained, power-of-two buckets, FNV-1a).
 * The map copies keys and owns values through the destructor given to
 * sb_map_new() (may be NULL for borrowed values). Not thread-safe: callers
 * hold the world lock.
 */
#ifndef SB_MAP_H
#define SB_MAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sb_map sb_map_t;
typedef void (sb_map_free_fn) (void *value);
/* Return false to stop the iteration. */
typedef bool (sb_map_each_fn) (const char *key, void *value, void *arg);

sb_map_t *sb_map_new (sb_map_free_fn *destructor);
void sb_map_destroy (sb_map_t **self_p);
void *sb_map_get (const sb_map_t *self, const char *key);
/* Inserts or replaces (the old value is destroyed). Returns 0 or -1 (no memory;
 * the value is then NOT taken). */
int sb_map_put (sb_map_t *self, const char *key, void *value);
/* Removes and destroys; returns true if the key was there. */
bool sb_map_delete (sb_map_t *self, const char *key);
void sb_map_clear (sb_map_t *self);
size_t sb_map_size (const sb_map_t *self);
void sb_map_each (const sb_map_t *self, sb_map_each_fn *fn, void *arg);

#endif
