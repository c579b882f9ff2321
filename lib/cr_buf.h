/* cr_buf: a growable byte buffer, with JSON string escaping. */
#ifndef CR_BUF_H
#define CR_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;
    size_t len, cap;
    int failed; /* an allocation failed: contents are incomplete */
} cr_buf_t;

void cr_buf_init(cr_buf_t *b);
void cr_buf_reset(cr_buf_t *b); /* empties, keeps memory */
void cr_buf_release(cr_buf_t *b);
/* Zeroes the contents (secrets), then resets / releases. Earlier copies
 * left behind by growth are not reached: reserve first for secrets. */
void cr_buf_wipe(cr_buf_t *b);
void cr_buf_wipe_release(cr_buf_t *b);
void cr_buf_add(cr_buf_t *b, const char *s, size_t n);
void cr_buf_puts(cr_buf_t *b, const char *s);
void cr_buf_printf(cr_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a quoted JSON string; invalid UTF-8 bytes become U+FFFD. */
void cr_buf_json_str(cr_buf_t *b, const char *s);
/* One element of a PostgreSQL array literal ({a,b}): NULL for a NULL s, else
 * the string double-quoted with " and \ escaped; invalid UTF-8 becomes U+FFFD. */
void cr_buf_pg_array_str(cr_buf_t *b, const char *s);
/* NUL-terminated contents ("" when empty). */
const char *cr_buf_str(cr_buf_t *b);

#endif
