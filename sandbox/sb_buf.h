/*
 * sb_buf: growable byte buffer used to build HTTP bodies, plus the text helpers
 * every platform needs (JSON and HTML escaping, UTF-8 checks, timestamps).
 *
 * A buffer that failed to grow is "poisoned": every later append is a no-op and
 * sb_buf_ok() returns false, so builders can append freely and check once.
 */
#ifndef SB_BUF_H
#define SB_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;   /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    bool failed;
} sb_buf_t;

void sb_buf_init (sb_buf_t *self);
void sb_buf_free (sb_buf_t *self);
/* Take ownership of the data (malloc'd, NUL-terminated; never NULL unless failed). */
char *sb_buf_steal (sb_buf_t *self, size_t *len_p);
bool sb_buf_ok (const sb_buf_t *self);
int sb_buf_reserve (sb_buf_t *self, size_t extra);
void sb_buf_reset (sb_buf_t *self);
void sb_buf_add (sb_buf_t *self, const void *data, size_t len);
void sb_buf_adds (sb_buf_t *self, const char *str);
void sb_buf_addc (sb_buf_t *self, char c);
void sb_buf_printf (sb_buf_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
void sb_buf_add_u64 (sb_buf_t *self, uint64_t value);
/* Appends "..." with JSON escaping; NULL appends null. Input must be UTF-8. */
void sb_buf_add_json_str (sb_buf_t *self, const char *str);
void sb_buf_add_json_strn (sb_buf_t *self, const char *str, size_t len);
/* Appends "<u64>" (a JSON string holding a number: how Mastodon sends ids). */
void sb_buf_add_json_id (sb_buf_t *self, uint64_t id);
/* HTML escaping as Rails does it (& < > " '). */
void sb_buf_add_html (sb_buf_t *self, const char *str, size_t len);
/* Percent-encoding for query strings (unreserved characters kept). */
void sb_buf_add_urlenc (sb_buf_t *self, const char *str);

/* Text helpers. */
bool sb_utf8_valid (const char *str, size_t len);
/* Number of code points in valid UTF-8. */
size_t sb_utf8_count (const char *str, size_t len);
/* Decodes %XX and '+' (form encoding) in place; returns the new length. */
size_t sb_url_decode (char *str, size_t len);
/* Parses a whole decimal string into [min, max]; returns 0 or -1. */
int sb_parse_i64 (const char *str, int64_t min, int64_t max, int64_t *out);
int sb_parse_u64 (const char *str, uint64_t *out);
/* Case-insensitive ASCII prefix test. */
bool sb_prefix_ci (const char *str, const char *prefix);

/* Clocks. */
uint64_t sb_now_us (void);        /* CLOCK_REALTIME, microseconds since epoch */
uint64_t sb_mono_ms (void);       /* CLOCK_MONOTONIC, milliseconds */
/* ISO-8601 UTC: digits = 3 -> ".123Z", 6 -> ".123456Z", 0 -> "Z". */
void sb_format_time (uint64_t us, int digits, char *out, size_t cap);

#endif
