/* cr_text: the text helpers every platform adapter shares.
 *
 * Vocabulary: the *post text* is what an adapter publishes for a task: the
 * body, then the link on its own paragraph ("\n\n") unless the body already
 * contains it. A *fingerprint* is that text reduced for read-back matching:
 * whitespace runs (ASCII and Unicode spaces) folded to one space, leading and
 * trailing ones dropped, and the words a platform rewrites (links) left out.
 * Which words are links is the platform's rule, passed in as is_link. */
#ifndef CR_TEXT_H
#define CR_TEXT_H

#include "crieur.pb-c.h"

#include <stddef.h>

/* body + "\n\n" + link (the link only when with_link, it is not empty and
 * the body does not contain it; no separator for an empty body). NULL
 * strings are empty. malloc'd, NUL-terminated; *len (if len) its length.
 * NULL out of memory. */
char *cr_text_compose(const char *body, const char *link, int with_link, size_t *len);

/* The post text of a publish task (cr_text_compose with the link); NULL for
 * any other task or out of memory. */
char *cr_text_post(const Crieur__Task *task, size_t *len);

/* Length of the whitespace character at s[0] (ASCII and Unicode spaces:
 * NEL, NBSP, U+1680, U+2000..200A, 2028, 2029, 202F, 205F, 3000), or 0.
 * n >= 1 bytes are readable at s. */
size_t cr_text_space_at(const unsigned char *s, size_t n);

/* 1 if the word w[0..n) is a link the platform rewrites, else 0. */
typedef int (*cr_text_link_fn)(const char *w, size_t n);

/* The fingerprint of text[0..len) (NULL text: empty), words for which
 * is_link answers 1 left out. malloc'd; NULL out of memory. */
char *cr_text_fingerprint(const char *text, size_t len, cr_text_link_fn is_link);

/* 1 if s is 1..max bytes of printable ASCII without spaces (it goes into a
 * header line), else 0. */
int cr_text_token_ok(const char *s, size_t max);

#endif
