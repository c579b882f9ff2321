/* ctl_rules: each platform's text rules, checked by `crieurctl post schedule`
 * before the database is asked (which counts only code points, with links
 * weighted: exact for Mastodon, not for X's weights or Bluesky's graphemes),
 * and its rules for media (images) and replies.
 *
 * The counting functions are pure and take UTF-8 (a malformed byte counts as
 * one character). Grapheme clusters are approximated: a base character plus
 * the combining marks U+0300-036F, variation selectors U+FE00-FE0F, emoji
 * skin-tone modifiers U+1F3FB-1F3FF, the keycap U+20E3 and emoji tags
 * U+E0020-E007F that follow it, joined by U+200D (ZWJ) to the next emoji; two
 * regional indicators make one flag; CR LF is one. */
#ifndef CTL_RULES_H
#define CTL_RULES_H

#include <stddef.h>

/* A link (http:// or https:// up to the next white space) on X. */
#define CTL_X_URL_WEIGHT 23

/* Unicode code points. */
size_t ctl_text_code_points(const char *s, size_t len);

/* Grapheme clusters (approximate, see above), as Bluesky counts. */
size_t ctl_text_graphemes(const char *s, size_t len);

/* X's weighted length: each link 23, each emoji (a whole cluster, ZWJ
 * sequences and flags included) and each CJK character 2, any other
 * character 1. */
size_t ctl_text_x_weighted(const char *s, size_t len);

/* The text as it will be published: body, then "\n\n" and the link when a
 * link is given and the body does not contain it already (as the publisher
 * and crieur.schedule_post do). Returns a heap copy (free it) with its length
 * in *len_p, or NULL when out of memory. */
char *ctl_rules_published_text(const char *body, const char *link, size_t *len_p);

/* Checks the published text against platform's rules. Returns 0 when it
 * fits (or the platform's rules are left to the database: Mastodon, whose
 * limit is the instance's, and unknown platforms), or -1 with err filled,
 * e.g. "this text is 312 weighted characters on X; X allows 280 (each link
 * counts 23, emoji and CJK characters count 2)". */
int ctl_rules_check(const char *platform, const char *text, size_t len, char *err,
                    size_t errlen);

/* --- media ---------------------------------------------------------------
 * A media item is an http(s) URL (the worker downloads it, or the platform
 * fetches it) or a local image file: an absolute path or file:///path, that
 * the workers read (a shared volume). Files are checked here: readable,
 * regular, and a JPEG, PNG, GIF or WebP image by their first bytes. */

/* X's "5 MB" for an image, and Bluesky's per-image limit. */
#define CTL_X_IMAGE_MAX_BYTES 5242880LL
#define CTL_BLUESKY_IMAGE_MAX_BYTES 2000000LL

typedef enum {
    CTL_MEDIA_URL = 1,  /* http:// or https:// */
    CTL_MEDIA_FILE = 2, /* an absolute path or file:///path */
} ctl_media_src_t;

typedef struct {
    const char *ref;     /* as given (borrowed) */
    ctl_media_src_t src;
    long long bytes;     /* FILE: its size; URL: -1 (unknown until downloaded) */
    const char *type;    /* FILE: "JPEG", "PNG", "GIF" or "WebP"; URL: NULL */
} ctl_media_t;

/* The image type of a file's first bytes ("JPEG", "PNG", "GIF", "WebP"), or
 * NULL when they are none of these. */
const char *ctl_media_sniff(const unsigned char *buf, size_t n);

/* Checks one item as given and fills m: an http(s) URL with a host and no
 * white space, or an absolute path (or file:///path) to a readable regular
 * file whose first bytes are an image. Returns 0, or -1 with err filled
 * (what is wrong with which item and how to fix it). */
int ctl_media_inspect(const char *ref, ctl_media_t *m, char *err, size_t errlen);

/* Checks a post's media against the platform's rules: how many images (4 on
 * Mastodon, Bluesky and X; 1 on Facebook, Instagram, Threads and LinkedIn),
 * the size of each file (Bluesky 2,000,000 bytes, X 5 MB), URLs only
 * (Instagram and Threads fetch the image themselves), and what a reply may
 * carry (a Facebook or Instagram reply is a comment: text only). An
 * Instagram post needs an image: a media URL, or a link (has_link). Returns
 * 0, or -1 with err filled. Pure. */
int ctl_rules_check_media(const char *platform, const ctl_media_t *m, size_t n, int is_reply,
                          int has_link, char *err, size_t errlen);

/* --- replies ---------------------------------------------------------------- */

/* The form of --reply-to, whatever the platform: the answered post's
 * platform id, not empty, at most 2048 bytes, without white space or control
 * characters. Returns 0, or -1 with err filled. Pure. */
int ctl_rules_check_reply_form(const char *id, char *err, size_t errlen);

/* The platform's own form of the id replied to: on Bluesky the post's
 * at:// URI (at://<did>/app.bsky.feed.post/<rkey>). Returns 0, or -1 with
 * err filled. Pure. */
int ctl_rules_check_reply(const char *platform, const char *id, char *err, size_t errlen);

#endif
