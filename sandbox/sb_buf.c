/* sb_buf: growable buffer and text helpers. See sb_buf.h. */
#include "sb_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
sb_buf_init (sb_buf_t *self)
{
    memset (self, 0, sizeof (*self));
}

void
sb_buf_free (sb_buf_t *self)
{
    free (self->data);
    memset (self, 0, sizeof (*self));
}

char *
sb_buf_steal (sb_buf_t *self, size_t *len_p)
{
    char *data = NULL;
    if (!self->failed && sb_buf_reserve (self, 0) == 0) {
        data = self->data;
        if (len_p)
            *len_p = self->len;
        self->data = NULL;
    }
    sb_buf_free (self);
    return data;
}

bool
sb_buf_ok (const sb_buf_t *self)
{
    return !self->failed;
}

int
sb_buf_reserve (sb_buf_t *self, size_t extra)
{
    if (self->failed)
        return -1;
    if (extra > SIZE_MAX / 2 - self->len - 1) {
        self->failed = true;
        return -1;
    }
    size_t need = self->len + extra + 1;
    if (self->data && need <= self->cap)
        return 0;
    size_t cap = self->cap ? self->cap : 256;
    while (cap < need)
        cap *= 2;
    char *data = realloc (self->data, cap);
    if (!data) {
        self->failed = true;
        return -1;
    }
    if (!self->data)
        data[0] = '\0';
    self->data = data;
    self->cap = cap;
    return 0;
}

void
sb_buf_reset (sb_buf_t *self)
{
    self->len = 0;
    self->failed = false;
    if (self->data)
        self->data[0] = '\0';
}

void
sb_buf_add (sb_buf_t *self, const void *data, size_t len)
{
    if (sb_buf_reserve (self, len) != 0)
        return;
    if (len)
        memcpy (self->data + self->len, data, len);
    self->len += len;
    self->data[self->len] = '\0';
}

void
sb_buf_adds (sb_buf_t *self, const char *str)
{
    sb_buf_add (self, str, strlen (str));
}

void
sb_buf_addc (sb_buf_t *self, char c)
{
    if (sb_buf_reserve (self, 1) != 0)
        return;
    self->data[self->len++] = c;
    self->data[self->len] = '\0';
}

void
sb_buf_printf (sb_buf_t *self, const char *fmt, ...)
{
    va_list ap;
    if (sb_buf_reserve (self, 64) != 0)
        return;
    va_start (ap, fmt);
    int n = vsnprintf (self->data + self->len, self->cap - self->len, fmt, ap);
    va_end (ap);
    if (n < 0) {
        self->failed = true;
        return;
    }
    if ((size_t) n >= self->cap - self->len) {
        if (sb_buf_reserve (self, (size_t) n) != 0)
            return;
        va_start (ap, fmt);
        n = vsnprintf (self->data + self->len, self->cap - self->len, fmt, ap);
        va_end (ap);
        if (n < 0) {
            self->failed = true;
            return;
        }
    }
    self->len += (size_t) n;
}

void
sb_buf_add_u64 (sb_buf_t *self, uint64_t value)
{
    char tmp[24];
    size_t i = sizeof (tmp);
    do {
        tmp[--i] = (char) ('0' + value % 10);
        value /= 10;
    } while (value);
    sb_buf_add (self, tmp + i, sizeof (tmp) - i);
}

void
sb_buf_add_json_id (sb_buf_t *self, uint64_t id)
{
    sb_buf_addc (self, '"');
    sb_buf_add_u64 (self, id);
    sb_buf_addc (self, '"');
}

void
sb_buf_add_json_strn (sb_buf_t *self, const char *str, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (!str) {
        sb_buf_add (self, "null", 4);
        return;
    }
    if (sb_buf_reserve (self, len + 2) != 0)
        return;
    sb_buf_addc (self, '"');
    size_t run = 0;   /* start of the pending run of bytes needing no escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) str[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_buf_add (self, str + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': sb_buf_add (self, "\\\"", 2); break;
        case '\\': sb_buf_add (self, "\\\\", 2); break;
        case '\n': sb_buf_add (self, "\\n", 2); break;
        case '\r': sb_buf_add (self, "\\r", 2); break;
        case '\t': sb_buf_add (self, "\\t", 2); break;
        default: {
            char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            sb_buf_add (self, esc, sizeof (esc));
        }
        }
    }
    sb_buf_add (self, str + run, len - run);
    sb_buf_addc (self, '"');
}

void
sb_buf_add_json_str (sb_buf_t *self, const char *str)
{
    sb_buf_add_json_strn (self, str, str ? strlen (str) : 0);
}

void
sb_buf_add_html (sb_buf_t *self, const char *str, size_t len)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (str[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        sb_buf_add (self, str + run, i - run);
        sb_buf_adds (self, rep);
        run = i + 1;
    }
    sb_buf_add (self, str + run, len - run);
}

void
sb_buf_add_urlenc (sb_buf_t *self, const char *str)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *) str; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
            || *p == '-' || *p == '_' || *p == '.' || *p == '~')
            sb_buf_addc (self, (char) *p);
        else {
            char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
            sb_buf_add (self, esc, 3);
        }
    }
}

bool
sb_utf8_valid (const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *) str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        }
        else
            return false;
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        /* overlong, surrogates, out of range */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF
            || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

size_t
sb_utf8_count (const char *str, size_t len)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char) str[i] & 0xC0) != 0x80)
            count++;
    return count;
}

static int
s_hexval (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t
sb_url_decode (char *str, size_t len)
{
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        char c = str[i];
        if (c == '+')
            c = ' ';
        else if (c == '%' && i + 2 < len) {
            int hi = s_hexval (str[i + 1]);
            int lo = s_hexval (str[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (char) (hi * 16 + lo);
                i += 2;
            }
        }
        str[out++] = c;
    }
    if (out < len)
        str[out] = '\0';
    return out;
}

int
sb_parse_i64 (const char *str, int64_t min, int64_t max, int64_t *out)
{
    if (!str || !*str)
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll (str, &end, 10);
    if (errno != 0 || end == str || *end != '\0' || v < min || v > max)
        return -1;
    *out = (int64_t) v;
    return 0;
}

int
sb_parse_u64 (const char *str, uint64_t *out)
{
    if (!str || *str < '0' || *str > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull (str, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t) v;
    return 0;
}

bool
sb_prefix_ci (const char *str, const char *prefix)
{
    for (; *prefix; prefix++, str++) {
        char a = *str, b = *prefix;
        if (a >= 'A' && a <= 'Z')
            a = (char) (a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char) (b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

uint64_t
sb_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t
sb_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

void
sb_format_time (uint64_t us, int digits, char *out, size_t cap)
{
    time_t secs = (time_t) (us / 1000000u);
    unsigned frac = (unsigned) (us % 1000000u);
    struct tm tm;
    gmtime_r (&secs, &tm);
    char base[32];
    strftime (base, sizeof (base), "%Y-%m-%dT%H:%M:%S", &tm);
    if (digits == 6)
        snprintf (out, cap, "%s.%06uZ", base, frac);
    else if (digits == 3)
        snprintf (out, cap, "%s.%03uZ", base, frac / 1000u);
    else
        snprintf (out, cap, "%sZ", base);
}
