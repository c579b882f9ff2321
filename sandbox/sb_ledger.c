/* sb_ledger: append-only record of accepted posts. See sb_ledger.h. */
#include "sb_ledger.h"
#include "sb_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sb_ledger {
    sb_ledger_entry_t **entries;   /* each entry and its strings: one allocation */
    size_t count;
    size_t cap;
    uint64_t next_seq;
    FILE *file;
};

sb_ledger_t *
sb_ledger_new (const char *file_path)
{
    sb_ledger_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->next_seq = 1;
    if (file_path) {
        self->file = fopen (file_path, "a");
        if (!self->file) {
            SB_ERROR ("cannot open ledger file %s", file_path);
            free (self);
            return NULL;
        }
    }
    return self;
}

void
sb_ledger_clear (sb_ledger_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        free (self->entries[i]);
    self->count = 0;
    self->next_seq = 1;
}

void
sb_ledger_destroy (sb_ledger_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sb_ledger_t *self = *self_p;
    sb_ledger_clear (self);
    free (self->entries);
    if (self->file)
        fclose (self->file);
    free (self);
    *self_p = NULL;
}

static char *
s_copy (char **cursor, const char *str)
{
    if (!str)
        return NULL;
    size_t len = strlen (str) + 1;
    char *dst = *cursor;
    memcpy (dst, str, len);
    *cursor += len;
    return dst;
}

static void
s_entry_json (const sb_ledger_entry_t *e, sb_buf_t *out)
{
    char when[40];
    sb_format_time (e->created_us, 3, when, sizeof (when));
    sb_buf_adds (out, "{\"seq\":");
    sb_buf_add_u64 (out, e->seq);
    sb_buf_adds (out, ",\"platform\":");
    sb_buf_add_json_str (out, e->platform);
    sb_buf_adds (out, ",\"account\":");
    sb_buf_add_json_str (out, e->account);
    sb_buf_adds (out, ",\"id\":");
    sb_buf_add_json_str (out, e->id);
    sb_buf_adds (out, ",\"url\":");
    sb_buf_add_json_str (out, e->url);
    sb_buf_adds (out, ",\"text\":");
    sb_buf_add_json_str (out, e->text);
    sb_buf_adds (out, ",\"idempotency_key\":");
    sb_buf_add_json_str (out, e->idempotency_key);
    sb_buf_adds (out, ",\"media\":[");
    for (size_t i = 0; i < e->nmedia; i++) {
        if (i)
            sb_buf_addc (out, ',');
        sb_buf_add_json_str (out, e->media[i]);
    }
    sb_buf_adds (out, "],\"created_at\":\"");
    sb_buf_adds (out, when);
    sb_buf_adds (out, "\"}");
}

uint64_t
sb_ledger_append (sb_ledger_t *self, const sb_ledger_entry_t *entry)
{
    const char *strs[] = { entry->platform, entry->account, entry->id,
                           entry->url,      entry->text,    entry->idempotency_key };
    size_t size = sizeof (sb_ledger_entry_t);
    /* NULL strings are stored as "" (one byte), except the idempotency key */
    for (size_t i = 0; i < sizeof (strs) / sizeof (strs[0]); i++)
        size += strs[i] ? strlen (strs[i]) + 1 : (i + 1 < sizeof (strs) / sizeof (strs[0]));
    size_t nmedia = entry->media ? entry->nmedia : 0;
    if (nmedia > SB_LEDGER_MAX_MEDIA)
        nmedia = SB_LEDGER_MAX_MEDIA;
    size += nmedia * sizeof (char *);
    for (size_t i = 0; i < nmedia; i++)
        size += strlen (entry->media[i] ? entry->media[i] : "") + 1;
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 1024;
        sb_ledger_entry_t **entries = realloc (self->entries, cap * sizeof (*entries));
        if (!entries)
            return 0;
        self->entries = entries;
        self->cap = cap;
    }
    sb_ledger_entry_t *e = malloc (size);
    if (!e)
        return 0;
    /* the entry, then the media pointers, then the strings */
    const char **media = (const char **) (e + 1);
    char *cursor = (char *) (media + nmedia);
    e->seq = self->next_seq++;
    e->created_us = entry->created_us;
    e->platform = s_copy (&cursor, entry->platform ? entry->platform : "");
    e->account = s_copy (&cursor, entry->account ? entry->account : "");
    e->id = s_copy (&cursor, entry->id ? entry->id : "");
    e->url = s_copy (&cursor, entry->url ? entry->url : "");
    e->text = s_copy (&cursor, entry->text ? entry->text : "");
    e->idempotency_key = s_copy (&cursor, entry->idempotency_key);
    for (size_t i = 0; i < nmedia; i++)
        media[i] = s_copy (&cursor, entry->media[i] ? entry->media[i] : "");
    e->media = nmedia ? media : NULL;
    e->nmedia = nmedia;
    self->entries[self->count++] = e;
    if (self->file) {
        sb_buf_t line;
        sb_buf_init (&line);
        s_entry_json (e, &line);
        sb_buf_addc (&line, '\n');
        if (!sb_buf_ok (&line) || fwrite (line.data, 1, line.len, self->file) != line.len
            || fflush (self->file) != 0)
            SB_WARN ("ledger file write failed for seq %llu", (unsigned long long) e->seq);
        sb_buf_free (&line);
    }
    return e->seq;
}

size_t
sb_ledger_count (const sb_ledger_t *self)
{
    return self->count;
}

void
sb_ledger_dump (const sb_ledger_t *self, sb_buf_t *out, const char *platform,
                const char *account, uint64_t since_seq)
{
    /* Entries are in seq order and seq = index + 1 since the last clear. */
    size_t start = since_seq < self->count ? (size_t) since_seq : self->count;
    sb_buf_reserve (out, (self->count - start) * 256 + 64);
    sb_buf_adds (out, "{\"entries\":[");
    size_t n = 0;
    for (size_t i = start; i < self->count; i++) {
        const sb_ledger_entry_t *e = self->entries[i];
        if (platform && strcmp (platform, e->platform) != 0)
            continue;
        if (account && strcmp (account, e->account) != 0)
            continue;
        if (n++)
            sb_buf_addc (out, ',');
        s_entry_json (e, out);
    }
    sb_buf_adds (out, "],\"count\":");
    sb_buf_add_u64 (out, n);
    sb_buf_addc (out, '}');
}
