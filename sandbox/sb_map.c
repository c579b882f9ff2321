/* sb_map: string-keyed hash table. See sb_map.h. */
#include "sb_map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_entry {
    struct s_entry *next;
    void *value;
    uint32_t hash;
    char key[];
} s_entry_t;

struct sb_map {
    s_entry_t **buckets;
    size_t nbuckets;   /* power of two */
    size_t size;
    sb_map_free_fn *destructor;
};

static uint32_t
s_hash (const char *key)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

sb_map_t *
sb_map_new (sb_map_free_fn *destructor)
{
    sb_map_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->nbuckets = 64;
    self->buckets = calloc (self->nbuckets, sizeof (s_entry_t *));
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    self->destructor = destructor;
    return self;
}

void
sb_map_clear (sb_map_t *self)
{
    for (size_t i = 0; i < self->nbuckets; i++) {
        s_entry_t *e = self->buckets[i];
        while (e) {
            s_entry_t *next = e->next;
            if (self->destructor)
                self->destructor (e->value);
            free (e);
            e = next;
        }
        self->buckets[i] = NULL;
    }
    self->size = 0;
}

void
sb_map_destroy (sb_map_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sb_map_t *self = *self_p;
    sb_map_clear (self);
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

static s_entry_t **
s_find (const sb_map_t *self, const char *key, uint32_t hash)
{
    s_entry_t **slot = &self->buckets[hash & (self->nbuckets - 1)];
    while (*slot && ((*slot)->hash != hash || strcmp ((*slot)->key, key) != 0))
        slot = &(*slot)->next;
    return slot;
}

void *
sb_map_get (const sb_map_t *self, const char *key)
{
    s_entry_t **slot = s_find (self, key, s_hash (key));
    return *slot ? (*slot)->value : NULL;
}

static void
s_grow (sb_map_t *self)
{
    size_t n = self->nbuckets * 2;
    s_entry_t **buckets = calloc (n, sizeof (s_entry_t *));
    if (!buckets)
        return;   /* keep working with longer chains */
    for (size_t i = 0; i < self->nbuckets; i++) {
        s_entry_t *e = self->buckets[i];
        while (e) {
            s_entry_t *next = e->next;
            e->next = buckets[e->hash & (n - 1)];
            buckets[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free (self->buckets);
    self->buckets = buckets;
    self->nbuckets = n;
}

int
sb_map_put (sb_map_t *self, const char *key, void *value)
{
    uint32_t hash = s_hash (key);
    s_entry_t **slot = s_find (self, key, hash);
    if (*slot) {
        if (self->destructor && (*slot)->value != value)
            self->destructor ((*slot)->value);
        (*slot)->value = value;
        return 0;
    }
    size_t klen = strlen (key);
    s_entry_t *e = malloc (sizeof (*e) + klen + 1);
    if (!e)
        return -1;
    memcpy (e->key, key, klen + 1);
    e->hash = hash;
    e->value = value;
    e->next = NULL;
    *slot = e;
    self->size++;
    if (self->size > self->nbuckets)
        s_grow (self);
    return 0;
}

bool
sb_map_delete (sb_map_t *self, const char *key)
{
    s_entry_t **slot = s_find (self, key, s_hash (key));
    if (!*slot)
        return false;
    s_entry_t *e = *slot;
    *slot = e->next;
    if (self->destructor)
        self->destructor (e->value);
    free (e);
    self->size--;
    return true;
}

size_t
sb_map_size (const sb_map_t *self)
{
    return self->size;
}

void
sb_map_each (const sb_map_t *self, sb_map_each_fn *fn, void *arg)
{
    for (size_t i = 0; i < self->nbuckets; i++)
        for (s_entry_t *e = self->buckets[i]; e; e = e->next)
            if (!fn (e->key, e->value, arg))
                return;
}
