/*
 * sb_text: text scanning the imitated platforms share (how they find links,
 * decode UTF-8 and decide that a text is empty). Counting rules themselves
 * (weighted lengths, graphemes) differ by platform and stay in sb_<platform>.c.
 */
#ifndef SB_TEXT_H
#define SB_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the http(s) URL starting at text[i] (0 if none): not glued to a
 * preceding word, up to the next whitespace or <>", trailing punctuation
 * excluded (twitter-text's rule, which Mastodon follows too). */
size_t sb_url_at (const char *text, size_t len, size_t i);

/* Decodes one code point of valid UTF-8 (checked by the JSON parser) at s
 * into *cp; returns its length in bytes (1 for a stray byte). len >= 1. */
size_t sb_utf8_next (const char *s, size_t len, uint32_t *cp);

/* True if text is NULL, empty or only ASCII whitespace. */
bool sb_blank (const char *text);

#endif
