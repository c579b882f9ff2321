/* ctl_util: input helpers for crieurctl commands. */
#ifndef CTL_UTIL_H
#define CTL_UTIL_H

#include <stddef.h>

/* Reads all of path ("-" = standard input), at most max bytes. Returns 0 with
 * a NUL-terminated heap buffer in *buf_p (free it) and its length, or -1 with
 * err filled ("cannot read FILE: reason", "FILE is larger than N bytes"). */
int ctl_read_all(const char *path, size_t max, char **buf_p, size_t *len_p, char *err,
                 size_t errlen);

/* Removes trailing "\n" / "\r\n" (all of them) from buf[0..*len). */
void ctl_chomp(char *buf, size_t *len);

/* Checks that buf[0..len) is text PostgreSQL can store: no NUL byte and
 * valid UTF-8. Returns 0, or -1 with err filled, e.g. "text is not valid
 * UTF-8 (bad byte at offset 3)"; what names it ("text"). */
int ctl_check_text(const char *what, const char *buf, size_t len, char *err, size_t errlen);

/* A positive 64-bit id ("42"). Returns 0, or -1 if s is not one. */
int ctl_parse_id(const char *s, long long *out);

/* An integer in [min, max]. Returns 0, or -1. */
int ctl_parse_long(const char *s, long min, long max, long *out);

/* An http:// or https:// URL with a host, and no white space or control
 * character anywhere. Returns 0, or -1. */
int ctl_check_http_url(const char *s);

/* An e-mail address as the database accepts it: local@domain, neither part
 * empty, no white space, control character, '@' (but the one), '<', '>',
 * '"' or ','. Returns 0, or -1. */
int ctl_check_email(const char *s);

/* smtp://HOST[:PORT] or smtps://HOST[:PORT], nothing after (no path, no
 * user). Returns 0, or -1 with err filled. */
int ctl_check_smtp_url(const char *s, char *err, size_t errlen);

#endif
