/*
 * sb_vec: growable array of pointers, the platforms' lists of posts. A vector
 * does not own its items; it starts zeroed (no allocation until the first
 * push). Not thread-safe: callers hold the world lock.
 */
#ifndef SB_VEC_H
#define SB_VEC_H

#include <stddef.h>

typedef struct {
    void **items;
    size_t len;
    size_t cap;
} sb_vec_t;

/* Appends item, growing the array (first_cap slots at first, then doubling).
 * 0, or -1 out of memory (v unchanged). */
int sb_vec_push (sb_vec_t *v, void *item, size_t first_cap);

/* Destructor for a malloc'd sb_vec_t (sb_map values): frees the array and
 * the vector, not the items. */
void sb_vec_free (void *p);

#endif
