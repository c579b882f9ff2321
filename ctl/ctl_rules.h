/* ctl_rules: each platform's text rules, checked by `crieurctl post schedule`
 * before the database is asked (which counts only code points, with links
 * weighted: exact for Mastodon, not for X's weights or Bluesky's graphemes).
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

#endif
