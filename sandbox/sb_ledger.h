/*
 * sb_ledger: the append-only record of every post a platform accepted (one
 * entry per created post; idempotent repeats and injected errors add nothing).
 * Tests and benchmarks read it back through GET /_sandbox/ledger to check that
 * what the publisher believes it published is what the "platform" received.
 * Optionally mirrored to a file, one JSON line per entry. An entry lists the
 * post's images ("media"), so tests check that an image reached the post.
 * Not thread-safe: callers hold the world lock.
 */
#ifndef SB_LEDGER_H
#define SB_LEDGER_H

#include "sb_buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct sb_ledger sb_ledger_t;

typedef struct {
    uint64_t seq;          /* 1, 2, ... in acceptance order */
    uint64_t created_us;
    const char *platform;
    const char *account;   /* handle */
    const char *id;        /* platform post id */
    const char *url;
    const char *text;
    const char *idempotency_key;   /* NULL if none */
    /* the images the post carries, as the platform names them (media ids,
     * blob CIDs or image URLs); rendered as "media":[...] (empty when none) */
    const char *const *media;      /* NULL if nmedia == 0 */
    size_t nmedia;                 /* at most SB_LEDGER_MAX_MEDIA are kept */
} sb_ledger_entry_t;

#define SB_LEDGER_MAX_MEDIA 10

/* file_path NULL: in memory only. Returns NULL if the file cannot be opened. */
sb_ledger_t *sb_ledger_new (const char *file_path);
void sb_ledger_destroy (sb_ledger_t **self_p);
/* Copies the strings; returns the new seq, or 0 when out of memory. */
uint64_t sb_ledger_append (sb_ledger_t *self, const sb_ledger_entry_t *entry);
size_t sb_ledger_count (const sb_ledger_t *self);
void sb_ledger_clear (sb_ledger_t *self);
/* Appends {"entries":[...],"count":N}; filters may be NULL / 0. */
void sb_ledger_dump (const sb_ledger_t *self, sb_buf_t *out, const char *platform,
                     const char *account, uint64_t since_seq);

#endif
