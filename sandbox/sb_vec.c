#include "sb_vec.h"

#include <stdlib.h>

int
sb_vec_push (sb_vec_t *v, void *item, size_t first_cap)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : first_cap;
        void **items = realloc (v->items, cap * sizeof (*items));
        if (!items)
            return -1;
        v->items = items;
        v->cap = cap;
    }
    v->items[v->len++] = item;
    return 0;
}

void
sb_vec_free (void *p)
{
    sb_vec_t *v = p;
    free (v->items);
    free (v);
}
