#include "cr_buf.h"

#include "cr_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cr_buf_init(cr_buf_t *b)
{
    memset(b, 0, sizeof *b);
}

void cr_buf_reset(cr_buf_t *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data) b->data[0] = '\0';
}

void cr_buf_wipe(cr_buf_t *b)
{
    if (b->data) explicit_bzero(b->data, b->cap);
    cr_buf_reset(b);
}

void cr_buf_wipe_release(cr_buf_t *b)
{
    cr_buf_wipe(b);
    cr_buf_release(b);
}

void cr_buf_release(cr_buf_t *b)
{
    free(b->data);
    cr_buf_init(b);
}

static int s_reserve(cr_buf_t *b, size_t extra)
{
    if (b->failed) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + extra + 1) ncap *= 2;
    char *n = realloc(b->data, ncap);
    if (!n) {
        b->failed = 1;
        return -1;
    }
    b->data = n;
    b->cap = ncap;
    return 0;
}

void cr_buf_add(cr_buf_t *b, const char *s, size_t n)
{
    if (s_reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cr_buf_puts(cr_buf_t *b, const char *s)
{
    cr_buf_add(b, s, strlen(s));
}

void cr_buf_printf(cr_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        cr_buf_add(b, small, (size_t)n);
        return;
    }
    if (s_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void cr_buf_json_str(cr_buf_t *b, const char *s)
{
    cr_buf_add(b, "\"", 1);
    size_t len = s ? strlen(s) : 0, i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            cr_buf_add(b, e, 2);
            i++;
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            cr_buf_add(b, e, 6);
            i++;
        } else if (c < 0x80) {
            cr_buf_add(b, (const char *)&s[i], 1);
            i++;
        } else {
            /* copy one valid UTF-8 sequence, or U+FFFD for a bad byte */
            size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (i + n <= len && cr_utf8_invalid_at(s + i, n) < 0) {
                cr_buf_add(b, s + i, n);
                i += n;
            } else {
                cr_buf_add(b, "\xEF\xBF\xBD", 3);
                i++;
            }
        }
    }
    cr_buf_add(b, "\"", 1);
}

const char *cr_buf_str(cr_buf_t *b)
{
    return b->data ? b->data : "";
}

void cr_buf_pg_array_str(cr_buf_t *b, const char *s)
{
    if (!s) {
        cr_buf_add(b, "NULL", 4);
        return;
    }
    cr_buf_add(b, "\"", 1);
    size_t len = strlen(s), i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            cr_buf_add(b, e, 2);
            i++;
        } else if (c < 0x80) {
            cr_buf_add(b, (const char *)&s[i], 1);
            i++;
        } else {
            /* copy one valid UTF-8 sequence, or U+FFFD for a bad byte: the
             * server refuses the whole statement for one invalid byte */
            size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (i + n <= len && cr_utf8_invalid_at(s + i, n) < 0) {
                cr_buf_add(b, s + i, n);
                i += n;
            } else {
                cr_buf_add(b, "\xEF\xBF\xBD", 3);
                i++;
            }
        }
    }
    cr_buf_add(b, "\"", 1);
}
