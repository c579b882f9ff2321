/* ctl_table: aligned text tables (and the same rows as JSON) for crieurctl.
 *
 * Columns are declared once with a header (text output), a key (JSON
 * output) and flags; rows are added as strings (NULL = no value). Text
 * output aligns columns by their display width in a terminal: UTF-8 is
 * decoded, East Asian wide characters and most emoji count 2, combining marks
 * and zero-width characters 0; control characters are shown as spaces; cells
 * longer than a column's max width are cut with "…". JSON output keeps full
 * values and types numeric and boolean columns. */
#ifndef CTL_TABLE_H
#define CTL_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    CTL_COL_NUM = 1 << 0,       /* right-aligned; a JSON number */
    CTL_COL_BOOL = 1 << 1,      /* "t"/"f" (PostgreSQL) or "true"/"false"; a JSON boolean */
    CTL_COL_TEXT_ONLY = 1 << 2, /* not in JSON */
    CTL_COL_JSON_ONLY = 1 << 3, /* not in text */
} ctl_col_flags_t;

typedef struct ctl_table ctl_table_t;

ctl_table_t *ctl_table_new(void);
/* Safe twice; NULLs *self_p. */
void ctl_table_destroy(ctl_table_t **self_p);

/* max_width 0 = unlimited. key NULL = CTL_COL_TEXT_ONLY. Returns 0 or -1. */
int ctl_table_add_column(ctl_table_t *t, const char *header, const char *key, int flags,
                         int max_width);
int ctl_table_ncols(const ctl_table_t *t);
size_t ctl_table_nrows(const ctl_table_t *t);

/* cells[i] for column i (copied; NULL allowed). Returns 0 or -1 (no memory). */
int ctl_table_add_row(ctl_table_t *t, const char *const *cells);

void ctl_table_print_text(const ctl_table_t *t, FILE *out);
/* A JSON array of objects. New reference, NULL if out of memory. */
json_t *ctl_table_json(const ctl_table_t *t);
/* Text or JSON (one document followed by a newline). Returns 0 or -1. */
int ctl_table_print(const ctl_table_t *t, FILE *out, int json);

/* Display width of a UTF-8 string (invalid bytes count 1). */
size_t ctl_utf8_width(const char *s);
/* Copies s into buf (size len) for display: control characters become
 * spaces, and if wider than max_width (0 = no limit) it is cut at a character
 * boundary and ends with "…". Returns the display width of the result. */
size_t ctl_utf8_fit(const char *s, size_t max_width, char *buf, size_t len);
/* Width of one code point: 0, 1 or 2. */
int ctl_codepoint_width(unsigned long cp);

/* Prints "value" padded to width columns (left or right aligned). */
void ctl_print_padded(FILE *out, const char *s, size_t width, int right);

#endif
