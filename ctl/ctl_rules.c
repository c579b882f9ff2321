#include "ctl_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Decodes the code point at s[*i] (i < len) and advances *i; a malformed or
 * truncated sequence yields its first byte as one character. */
static uint32_t s_next(const char *s, size_t len, size_t *i)
{
    const unsigned char *p = (const unsigned char *)s + *i;
    size_t left = len - *i;
    uint32_t c = p[0];
    size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
             : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || n > left) {
        *i += 1;
        return c;
    }
    if (n > 1) {
        c &= 0xFF >> (n + 1);
        for (size_t k = 1; k < n; k++) {
            if ((p[k] & 0xC0) != 0x80) {
                *i += 1;
                return p[0];
            }
            c = (c << 6) | (p[k] & 0x3F);
        }
    }
    *i += n;
    return c;
}

static int s_is_ri(uint32_t c) { return c >= 0x1F1E6 && c <= 0x1F1FF; }

/* Extends the cluster before it: marks, selectors, modifiers, keycap, tags. */
static int s_is_extend(uint32_t c)
{
    return (c >= 0x0300 && c <= 0x036F) || (c >= 0xFE00 && c <= 0xFE0F) ||
           (c >= 0x1F3FB && c <= 0x1F3FF) || c == 0x20E3 || (c >= 0xE0020 && c <= 0xE007F);
}

/* Pictographic characters shown as emoji (the usual blocks, approximate). */
static int s_is_emoji(uint32_t c)
{
    return (c >= 0x1F000 && c <= 0x1FAFF) || (c >= 0x2600 && c <= 0x27BF) ||
           c == 0x231A || c == 0x231B || c == 0x2328 || c == 0x23CF ||
           (c >= 0x23E9 && c <= 0x23F3) || (c >= 0x23F8 && c <= 0x23FA) ||
           (c >= 0x2B05 && c <= 0x2B07) || c == 0x2B1B || c == 0x2B1C || c == 0x2B50 ||
           c == 0x2B55 || c == 0x2934 || c == 0x2935 || c == 0x203C || c == 0x2049;
}

/* Han, kana, Hangul, CJK symbols and full-width forms. */
static int s_is_cjk(uint32_t c)
{
    return (c >= 0x1100 && c <= 0x11FF) || (c >= 0x2E80 && c <= 0x2FDF) ||
           (c >= 0x2FF0 && c <= 0x9FFF) || (c >= 0xA960 && c <= 0xA97F) ||
           (c >= 0xAC00 && c <= 0xD7FF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFFEF) ||
           (c >= 0x20000 && c <= 0x3FFFF);
}

/* One grapheme cluster starting at s[*i]; advances *i past it. Tells whether
 * it shows as an emoji and returns its base character. */
static uint32_t s_cluster(const char *s, size_t len, size_t *i, int *emoji)
{
    uint32_t base = s_next(s, len, i);
    *emoji = s_is_emoji(base);
    if (base == '\r' && *i < len && s[*i] == '\n') {
        *i += 1;
        return base;
    }
    if (s_is_ri(base)) {
        size_t j = *i;
        if (j < len && s_is_ri(s_next(s, len, &j))) *i = j; /* a flag: a pair */
    }
    while (*i < len) {
        size_t j = *i;
        uint32_t c = s_next(s, len, &j);
        if (s_is_extend(c)) {
            if (c == 0xFE0F || c == 0x20E3) *emoji = 1; /* emoji presentation, keycap */
            *i = j;
        } else if (c == 0x200D) {
            *i = j;
            if (j < len) {
                uint32_t d = s_next(s, len, &j);
                if (s_is_emoji(d)) *i = j; /* ZWJ sequence: one emoji */
            }
        } else {
            break;
        }
    }
    return base;
}

size_t ctl_text_code_points(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; n++) s_next(s, len, &i);
    return n;
}

size_t ctl_text_graphemes(const char *s, size_t len)
{
    size_t n = 0;
    int emoji;
    for (size_t i = 0; i < len; n++) s_cluster(s, len, &i, &emoji);
    return n;
}

static int s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Length of the link starting at s[i] ("https?://" and at least one
 * non-space), or 0. */
static size_t s_url_at(const char *s, size_t len, size_t i)
{
    size_t k;
    if (len - i > 8 && strncasecmp(s + i, "https://", 8) == 0) k = 8;
    else if (len - i > 7 && strncasecmp(s + i, "http://", 7) == 0) k = 7;
    else return 0;
    if (s_is_space(s[i + k])) return 0;
    while (i + k < len && !s_is_space(s[i + k])) k++;
    return k;
}

size_t ctl_text_x_weighted(const char *s, size_t len)
{
    size_t n = 0, i = 0;
    int emoji;
    while (i < len) {
        size_t u = s_url_at(s, len, i);
        if (u > 0) {
            n += CTL_X_URL_WEIGHT;
            i += u;
            continue;
        }
        uint32_t base = s_cluster(s, len, &i, &emoji);
        n += emoji || s_is_cjk(base) ? 2 : 1;
    }
    return n;
}

char *ctl_rules_published_text(const char *body, const char *link, size_t *len_p)
{
    size_t blen = strlen(body);
    int add = link && *link && !strstr(body, link);
    size_t llen = add ? strlen(link) : 0;
    size_t len = blen + (add ? 2 + llen : 0);
    char *out = malloc(len + 1);
    if (!out) return NULL;
    memcpy(out, body, blen);
    if (add) {
        memcpy(out + blen, "\n\n", 2);
        memcpy(out + blen + 2, link, llen);
    }
    out[len] = '\0';
    *len_p = len;
    return out;
}

int ctl_rules_check(const char *platform, const char *text, size_t len, char *err,
                    size_t errlen)
{
    if (strcmp(platform, "x") == 0) {
        size_t n = ctl_text_x_weighted(text, len);
        if (n <= 280) return 0;
        snprintf(err, errlen,
                 "this text is %zu weighted characters on X; X allows 280 (each link counts %d, "
                 "emoji and CJK characters count 2)",
                 n, CTL_X_URL_WEIGHT);
        return -1;
    }
    if (strcmp(platform, "bluesky") == 0) {
        size_t n = ctl_text_graphemes(text, len);
        if (n > 300) {
            snprintf(err, errlen,
                     "this text is %zu characters (graphemes) on Bluesky; Bluesky allows 300 "
                     "(an emoji, even with a skin tone or joined family, or a flag counts 1)",
                     n);
            return -1;
        }
        if (len > 3000) {
            snprintf(err, errlen,
                     "this text is %zu bytes of UTF-8 on Bluesky; Bluesky allows 3000 bytes "
                     "(emoji and non-Latin characters take 2 to 4 bytes each)",
                     len);
            return -1;
        }
        return 0;
    }
    static const struct {
        const char *platform, *name, *what;
        size_t max;
    } limits[] = {
        {"threads", "Threads", "characters", 500},
        {"instagram", "Instagram", "characters in a caption", 2200},
        {"linkedin", "LinkedIn", "characters", 3000},
    };
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        if (strcmp(platform, limits[k].platform) != 0) continue;
        size_t n = ctl_text_code_points(text, len);
        if (n <= limits[k].max) return 0;
        snprintf(err, errlen, "this text is %zu characters on %s; %s allows %zu %s", n,
                 limits[k].name, limits[k].name, limits[k].max, limits[k].what);
        return -1;
    }
    return 0; /* mastodon (the instance's limit, checked by the database), others */
}

/* --- media ------------------------------------------------------------------ */

const char *ctl_media_sniff(const unsigned char *b, size_t n)
{
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "JPEG";
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "PNG";
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0)) return "GIF";
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return "WebP";
    return NULL;
}

static int s_has_space_or_ctl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7F) return 1;
    return 0;
}

int ctl_media_inspect(const char *ref, ctl_media_t *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->ref = ref;
    m->bytes = -1;
    if (strncasecmp(ref, "http://", 7) == 0 || strncasecmp(ref, "https://", 8) == 0) {
        const char *host = ref + (ref[4] == ':' ? 7 : 8);
        if (strcspn(host, "/?#") == 0 || s_has_space_or_ctl(ref)) {
            snprintf(err, errlen, "media '%s' is not a usable URL: it needs a host and no spaces "
                                  "(encode them as %%20)", ref);
            return -1;
        }
        m->src = CTL_MEDIA_URL;
        return 0;
    }
    const char *path = ref;
    if (strncmp(ref, "file://", 7) == 0) path = ref + 7;
    if (path[0] != '/') {
        snprintf(err, errlen, "media '%s' is neither an http(s) URL nor an absolute file path: "
                              "the workers read local files, so give the full path (e.g. "
                              "\"$PWD/%s\")", ref, path);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "media '%s' cannot be read: %s", ref, strerror(errno));
        return -1;
    }
    struct stat st;
    unsigned char head[16];
    ssize_t got = -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "media '%s' is not a regular file", ref);
        return -1;
    }
    got = read(fd, head, sizeof head);
    close(fd);
    if (got < 0) {
        snprintf(err, errlen, "media '%s' cannot be read: %s", ref, strerror(errno));
        return -1;
    }
    m->type = ctl_media_sniff(head, (size_t)got);
    if (!m->type) {
        snprintf(err, errlen, "media '%s' is not a JPEG, PNG, GIF or WebP image (by its first "
                              "bytes, whatever its name)", ref);
        return -1;
    }
    m->src = CTL_MEDIA_FILE;
    m->bytes = (long long)st.st_size;
    return 0;
}

static const struct {
    const char *platform, *name;
    size_t max;           /* images per post */
    long long max_bytes;  /* per file; 0 = not checked here */
    int url_only;         /* the platform fetches the image by URL */
    int reply_text_only;  /* a reply is a comment: no image */
} s_media_rules[] = {
    {"mastodon", "Mastodon", 4, 0, 0, 0},
    {"bluesky", "Bluesky", 4, CTL_BLUESKY_IMAGE_MAX_BYTES, 0, 0},
    {"x", "X", 4, CTL_X_IMAGE_MAX_BYTES, 0, 0},
    {"facebook", "Facebook", 1, 0, 0, 1},
    {"instagram", "Instagram", 1, 0, 1, 1},
    {"threads", "Threads", 1, 0, 1, 0},
    {"linkedin", "LinkedIn", 1, 0, 0, 0},
};

int ctl_rules_check_media(const char *platform, const ctl_media_t *m, size_t n, int is_reply,
                          int has_link, char *err, size_t errlen)
{
    size_t k;
    for (k = 0; k < sizeof s_media_rules / sizeof s_media_rules[0]; k++)
        if (strcmp(platform, s_media_rules[k].platform) == 0) break;
    if (k == sizeof s_media_rules / sizeof s_media_rules[0]) {
        if (n == 0) return 0;
        snprintf(err, errlen, "crieurctl does not know the media rules of platform '%s': "
                              "schedule the post without --media", platform);
        return -1;
    }
    const char *name = s_media_rules[k].name;
    if (strcmp(platform, "instagram") == 0 && n == 0 && !is_reply && !has_link) {
        snprintf(err, errlen, "an Instagram post needs an image: give --media URL (or a --link "
                              "to an image)");
        return -1;
    }
    if (n == 0) return 0;
    if (is_reply && s_media_rules[k].reply_text_only) {
        snprintf(err, errlen, "%s replies are comments, which carry text only: remove --media "
                              "or publish a post instead of a reply", name);
        return -1;
    }
    if (n > s_media_rules[k].max) {
        snprintf(err, errlen, "%zu images: %s takes at most %zu per post", n, name,
                 s_media_rules[k].max);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (s_media_rules[k].url_only && m[i].src != CTL_MEDIA_URL) {
            snprintf(err, errlen, "%s fetches images by URL: media '%s' is a local file; put it "
                                  "on a public web server and give its https:// URL",
                     name, m[i].ref);
            return -1;
        }
        if (s_media_rules[k].max_bytes && m[i].src == CTL_MEDIA_FILE &&
            m[i].bytes > s_media_rules[k].max_bytes) {
            snprintf(err, errlen, "media '%s' is %lld bytes; %s takes images of at most %lld "
                                  "bytes: make it smaller",
                     m[i].ref, m[i].bytes, name, s_media_rules[k].max_bytes);
            return -1;
        }
    }
    return 0;
}

/* --- replies -------------------------------------------------------------------- */

int ctl_rules_check_reply_form(const char *id, char *err, size_t errlen)
{
    size_t n = strlen(id);
    if (n == 0) {
        snprintf(err, errlen, "--reply-to is empty: give the platform id of the post answered");
        return -1;
    }
    if (n > 2048) {
        snprintf(err, errlen, "--reply-to is %zu bytes; a post's platform id is at most 2048", n);
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)id[k];
        if (c <= 0x20 || c == 0x7F) {
            snprintf(err, errlen, "--reply-to must be the platform id of the post answered, "
                                  "without spaces or control characters (offset %zu)", k);
            return -1;
        }
    }
    return 0;
}

int ctl_rules_check_reply(const char *platform, const char *id, char *err, size_t errlen)
{
    if (strcmp(platform, "bluesky") == 0) {
        static const char coll[] = "/app.bsky.feed.post/";
        const char *c = strncmp(id, "at://", 5) == 0 ? strstr(id + 5, coll) : NULL;
        if (!c || c == id + 5 || !c[sizeof coll - 1] || strchr(c + sizeof coll - 1, '/')) {
            snprintf(err, errlen, "on Bluesky --reply-to is the at:// URI of the post answered "
                                  "(at://<did>/app.bsky.feed.post/<rkey>), not '%s'", id);
            return -1;
        }
    }
    return 0;
}
