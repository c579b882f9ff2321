#include "cr_media.h"

#include "cr_settings.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_REF_MAX 4096

cr_media_src_t cr_media_source(const char *ref)
{
    if (!ref || !*ref || strlen(ref) > S_REF_MAX) return CR_MEDIA_BAD;
    for (const unsigned char *p = (const unsigned char *)ref; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return CR_MEDIA_BAD;
    if (strncmp(ref, "https://", 8) == 0 && ref[8]) return CR_MEDIA_URL;
    if (strncmp(ref, "http://", 7) == 0 && ref[7]) return CR_MEDIA_URL;
    if (strncmp(ref, "file:///", 8) == 0) return CR_MEDIA_FILE;
    if (ref[0] == '/') return CR_MEDIA_FILE;
    return CR_MEDIA_BAD;
}

const char *cr_media_sniff(const void *data, size_t len)
{
    const unsigned char *b = data;
    if (!b) return NULL;
    if (len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "image/jpeg";
    if (len >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "image/png";
    if (len >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return "image/gif";
    if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return "image/webp";
    return NULL;
}

const char *cr_media_ext(const char *mime)
{
    if (!mime) return "bin";
    if (strcmp(mime, "image/jpeg") == 0) return "jpg";
    if (strcmp(mime, "image/png") == 0) return "png";
    if (strcmp(mime, "image/gif") == 0) return "gif";
    if (strcmp(mime, "image/webp") == 0) return "webp";
    return "bin";
}

void cr_media_clear(cr_media_t *m)
{
    if (!m) return;
    free(m->data);
    memset(m, 0, sizeof *m);
}

static int s_fail(cr_result_t *r, Crieur__Outcome o, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_fail(cr_result_t *r, Crieur__Outcome o, const char *code, const char *fmt, ...)
{
    char buf[CR_ERROR_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return cr_result_fail(r, o, buf, code);
}

/* path has no "." or ".." component and no doubled slash */
static int s_path_clean(const char *p)
{
    if (p[0] != '/') return 0;
    for (const char *s = p; *s;) {
        while (*s == '/') s++;
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
        s += n;
    }
    return 1;
}

/* path lies strictly under dir (a trailing slash on dir ignored) */
static int s_under(const char *path, const char *dir)
{
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    if (dl == 1 && dir[0] == '/') return path[0] == '/' && path[1] != '\0';
    return strncmp(path, dir, dl) == 0 && path[dl] == '/' && path[dl + 1] != '\0';
}

static int s_set(cr_media_t *m, unsigned char *data, size_t len, const char *mime)
{
    m->data = data;
    m->len = len;
    m->mime = mime;
    snprintf(m->name, sizeof m->name, "image.%s", cr_media_ext(mime));
    return 0;
}

int cr_media_load_file(const char *ref, size_t max, cr_media_t *m, cr_result_t *r)
{
    memset(m, 0, sizeof *m);
    if (max == 0 || max > CR_MEDIA_MAX_BYTES) max = CR_MEDIA_MAX_BYTES;
    if (cr_media_source(ref) != CR_MEDIA_FILE)
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "bad_media",
                      "media item is neither an http(s) URL nor an absolute file path");
    const char *path = strncmp(ref, "file://", 7) == 0 ? ref + 7 : ref;
    if (!s_path_clean(path))
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "bad_media",
                      "media path %.200s has a '.' or '..' component: give a plain absolute path",
                      path);
    const char *root = cr_setting("media", "root", NULL);
    char *resolved = NULL;
    if (root && *root) {
        /* by name first (the clear case), then by where the path really
         * leads: a symbolic link under the root may point out of it */
        char *real_root = realpath(root, NULL);
        resolved = realpath(path, NULL);
        int inside = s_under(path, root) && real_root && (!resolved || s_under(resolved, real_root));
        free(real_root);
        if (!inside) {
            free(resolved);
            return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_outside_root",
                          "media file %.200s is outside this worker's media root %.200s "
                          "(setting media.root): put the file there or use a URL",
                          path, root);
        }
    }
    int fd = open(resolved ? resolved : path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    free(resolved);
    if (fd < 0)
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_unreadable",
                      "cannot read media file %.200s on worker: %s (the file must be visible "
                      "to the worker, e.g. on a shared volume)",
                      path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_unreadable",
                      "media %.200s is not a regular file", path);
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_too_large",
                      "media file %.200s is %lld bytes; this platform takes at most %zu", path,
                      (long long)st.st_size, max);
    }
    size_t n = (size_t)st.st_size, got = 0;
    unsigned char *data = malloc(n ? n : 1);
    if (!data) {
        close(fd);
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "oom", "out of memory reading media");
    }
    while (got < n) {
        ssize_t k = read(fd, data + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd);
    const char *mime = cr_media_sniff(data, got);
    if (got != n || !mime) {
        free(data);
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_not_image",
                      got != n ? "media file %.200s changed while being read"
                               : "media file %.200s is not a JPEG, PNG, GIF or WebP image",
                      path);
    }
    return s_set(m, data, got, mime);
}

/* "host" of an http(s) URL for messages (never the path or query, which may
 * hold a signature). */
static void s_host(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n); /* user:password@ is never shown */
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

int cr_media_fetch_request(cr_http_req_t *req, const char *url, size_t max, cr_result_t *r)
{
    if (cr_media_source(url) != CR_MEDIA_URL)
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "bad_media",
                      "media item is not an http(s) URL");
    if (max == 0 || max > CR_MEDIA_MAX_BYTES) max = CR_MEDIA_MAX_BYTES;
    if (cr_http_req_init(req, "GET", url) != 0)
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "bad_media",
                      "media URL cannot be requested (bad characters?)");
    req->max_body = max;
    req->follow_redirects = 1;
    return 0;
}

int cr_media_from_response(const cr_http_resp_t *resp, const char *url, size_t max, cr_media_t *m,
                           cr_result_t *r)
{
    memset(m, 0, sizeof *m);
    char host[256];
    s_host(url ? url : "", host, sizeof host);
    if (max == 0 || max > CR_MEDIA_MAX_BYTES) max = CR_MEDIA_MAX_BYTES;
    if (resp->too_large || resp->curl_code == CURLE_FILESIZE_EXCEEDED ||
        (resp->status >= 200 && resp->status < 300 && resp->body_len > max))
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_too_large",
                      "image at %s is larger than the %zu bytes this platform takes", host, max);
    if (resp->curl_code != 0 || resp->status == 0)
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "media_download",
                      "downloading the image from %s failed: %.200s (nothing was published)", host,
                      resp->error && *resp->error ? resp->error : "no answer");
    if (resp->status == 429 || resp->status >= 500)
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "media_download",
                      "downloading the image from %s: HTTP %ld (nothing was published)", host,
                      resp->status);
    if (resp->status < 200 || resp->status >= 300)
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_unavailable",
                      "the image URL on %s answered HTTP %ld: check the post's media URL", host,
                      resp->status);
    const char *mime = cr_media_sniff(resp->body, resp->body_len);
    if (!mime)
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_not_image",
                      "the media URL on %s is not a JPEG, PNG, GIF or WebP image", host);
    unsigned char *data = malloc(resp->body_len ? resp->body_len : 1);
    if (!data)
        return s_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "oom", "out of memory reading media");
    memcpy(data, resp->body, resp->body_len);
    return s_set(m, data, resp->body_len, mime);
}

/* ---- multipart --------------------------------------------------------- */

static void s_put(cr_multipart_t *mp, const void *data, size_t n)
{
    if (mp->failed || n == 0) return;
    if (mp->len + n + 1 > mp->cap) {
        size_t cap = mp->cap ? mp->cap : 1024;
        while (cap < mp->len + n + 1) cap *= 2;
        char *b = realloc(mp->buf, cap);
        if (!b) {
            mp->failed = 1;
            return;
        }
        mp->buf = b;
        mp->cap = cap;
    }
    memcpy(mp->buf + mp->len, data, n);
    mp->len += n;
    mp->buf[mp->len] = '\0';
}

static void s_puts(cr_multipart_t *mp, const char *s)
{
    s_put(mp, s, strlen(s));
}

static int s_name_ok(const char *s)
{
    if (!s || !*s) return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) return 0;
    return 1;
}

void cr_multipart_init(cr_multipart_t *mp)
{
    memset(mp, 0, sizeof *mp);
    unsigned char rnd[12];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t k = fd >= 0 ? read(fd, rnd, sizeof rnd) : -1;
    if (fd >= 0) close(fd);
    if (k != (ssize_t)sizeof rnd) /* any unique-enough value will do */
        for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (unsigned char)(rand() & 0xff);
    int n = snprintf(mp->boundary, sizeof mp->boundary, "crieur-");
    for (size_t i = 0; i < sizeof rnd; i++)
        n += snprintf(mp->boundary + n, sizeof mp->boundary - (size_t)n, "%02x", rnd[i]);
}

static int s_contains(const void *data, size_t len, const char *needle)
{
    size_t nl = strlen(needle);
    const unsigned char *b = data;
    for (size_t i = 0; nl && i + nl <= len; i++) {
        const unsigned char *p = memchr(b + i, needle[0], len - i - nl + 1);
        if (!p) return 0;
        i = (size_t)(p - b);
        if (memcmp(p, needle, nl) == 0) return 1;
    }
    return 0;
}

void cr_multipart_field(cr_multipart_t *mp, const char *name, const char *value)
{
    /* a value holding the boundary would end the body early */
    if (!s_name_ok(name) || !value || s_contains(value, strlen(value), mp->boundary)) {
        mp->failed = 1;
        return;
    }
    s_puts(mp, "--");
    s_puts(mp, mp->boundary);
    s_puts(mp, "\r\nContent-Disposition: form-data; name=\"");
    s_puts(mp, name);
    s_puts(mp, "\"\r\n\r\n");
    s_puts(mp, value);
    s_puts(mp, "\r\n");
}

void cr_multipart_file(cr_multipart_t *mp, const char *name, const char *filename,
                       const char *mime, const void *data, size_t len)
{
    if (!s_name_ok(name) || !s_name_ok(filename) || !s_name_ok(mime) || (!data && len)) {
        mp->failed = 1;
        return;
    }
    /* a boundary inside the data would cut the part: draw a new one (never
     * happens in practice with 96 random bits; checked anyway) */
    if (len && s_contains(data, len, mp->boundary)) {
        mp->failed = 1;
        return;
    }
    s_puts(mp, "--");
    s_puts(mp, mp->boundary);
    s_puts(mp, "\r\nContent-Disposition: form-data; name=\"");
    s_puts(mp, name);
    s_puts(mp, "\"; filename=\"");
    s_puts(mp, filename);
    s_puts(mp, "\"\r\nContent-Type: ");
    s_puts(mp, mime);
    s_puts(mp, "\r\n\r\n");
    s_put(mp, data, len);
    s_puts(mp, "\r\n");
}

void cr_multipart_clear(cr_multipart_t *mp)
{
    free(mp->buf);
    memset(mp, 0, sizeof *mp);
}

int cr_multipart_finish(cr_multipart_t *mp, cr_http_req_t *req)
{
    s_puts(mp, "--");
    s_puts(mp, mp->boundary);
    s_puts(mp, "--\r\n");
    if (mp->failed) {
        cr_multipart_clear(mp);
        return -1;
    }
    char ct[96];
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", mp->boundary);
    size_t len = mp->len;
    char *body = mp->buf;
    mp->buf = NULL;
    cr_multipart_clear(mp);
    if (cr_http_req_body(req, ct, &body, len) != 0) {
        free(body);
        return -1;
    }
    return 0;
}
