#include "ctl_util.h"

#include "cr_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_read_all(const char *path, size_t max, char **buf_p, size_t *len_p, char *err,
                 size_t errlen)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    *buf_p = NULL;
    *len_p = 0;
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", name, strerror(errno));
        return -1;
    }
    for (;;) {
        if (len + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            if (ncap > max + 2) ncap = max + 2; /* one byte more than max tells "too large" */
            if (ncap <= len + 1) {
                snprintf(err, errlen, "%s is larger than %zu bytes", name, max);
                goto out;
            }
            char *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                snprintf(err, errlen, "cannot read %s: out of memory", name);
                goto out;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - 1 - len, f);
        len += n;
        if (len > max) {
            snprintf(err, errlen, "%s is larger than %zu bytes", name, max);
            goto out;
        }
        if (n == 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "cannot read %s: %s", name, strerror(errno));
                goto out;
            }
            break;
        }
    }
    if (!buf) {
        buf = malloc(1);
        if (!buf) {
            snprintf(err, errlen, "cannot read %s: out of memory", name);
            goto out;
        }
    }
    buf[len] = '\0';
    *buf_p = buf;
    *len_p = len;
    buf = NULL;
    rc = 0;
out:
    if (buf) {
        explicit_bzero(buf, cap); /* it may be a token */
        free(buf);
    }
    if (!is_stdin) fclose(f);
    return rc;
}

void ctl_chomp(char *buf, size_t *len)
{
    while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r')) buf[--*len] = '\0';
}

int ctl_check_text(const char *what, const char *buf, size_t len, char *err, size_t errlen)
{
    const char *nul = memchr(buf, '\0', len);
    long bad = cr_utf8_invalid_at(buf, len);
    if (nul && (bad < 0 || nul - buf < bad)) {
        snprintf(err, errlen, "%s contains a NUL byte at offset %ld", what, (long)(nul - buf));
        return -1;
    }
    if (bad >= 0) {
        snprintf(err, errlen, "%s is not valid UTF-8 (bad byte at offset %ld)", what, bad);
        return -1;
    }
    return 0;
}

int ctl_parse_id(const char *s, long long *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0) return -1;
    *out = v;
    return 0;
}

int ctl_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    if (!s || !*s) return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || end == s || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int s_ctl_or_space(unsigned char c)
{
    return c <= 0x20 || c == 0x7F;
}

int ctl_check_http_url(const char *s)
{
    size_t k;
    if (!s) return -1;
    if (strncmp(s, "https://", 8) == 0) k = 8;
    else if (strncmp(s, "http://", 7) == 0) k = 7;
    else return -1;
    /* a host: something before the first '/', '?' or '#' */
    size_t host = strcspn(s + k, "/?#");
    if (host == 0 || s[k] == '@' || s[k] == ':') return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (s_ctl_or_space(*p)) return -1;
    return 0;
}

int ctl_check_email(const char *s)
{
    int at = -1;
    size_t n;
    if (!s) return -1;
    n = strlen(s);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (s_ctl_or_space(c) || c == '<' || c == '>' || c == '"' || c == ',') return -1;
        if (c == '@') {
            if (at >= 0) return -1;
            at = (int)k;
        }
    }
    if (at <= 0 || (size_t)at + 1 >= n) return -1;
    return 0;
}

int ctl_check_smtp_url(const char *s, char *err, size_t errlen)
{
    size_t k;
    if (s && strncmp(s, "smtps://", 8) == 0) k = 8;
    else if (s && strncmp(s, "smtp://", 7) == 0) k = 7;
    else {
        snprintf(err, errlen, "--smtp must be smtp://HOST:PORT or smtps://HOST:PORT (smtps: TLS "
                              "from the start, usually port 465; smtp: STARTTLS when offered, "
                              "usually 587)");
        return -1;
    }
    const char *host = s + k;
    size_t hl = strcspn(host, ":");
    if (hl == 0) {
        snprintf(err, errlen, "--smtp has no host: give smtp[s]://HOST:PORT");
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)host; *p; p++) {
        if (s_ctl_or_space(*p) || *p == '/' || *p == '@' || *p == '?' || *p == '#') {
            snprintf(err, errlen, "--smtp takes only smtp[s]://HOST:PORT (no user, path, "
                                  "space or control character)");
            return -1;
        }
    }
    if (host[hl] == ':') {
        long port;
        if (ctl_parse_long(host + hl + 1, 1, 65535, &port) != 0) {
            snprintf(err, errlen, "the port of --smtp must be a number from 1 to 65535");
            return -1;
        }
    }
    return 0;
}
