/* cr_classify: what a mention says, from its text alone.
 *
 * The monitor workers collect mentions (comments, replies, direct messages,
 * feed entries) and classify each one before routing it: its language
 * (French or English), its sentiment (a score and a polarity) and labels
 * for the people who answer (question, complaint, urgent, spam, purchase
 * intent). Pure functions, no allocation (about 30 KB of stack per call),
 * no global state: safe from any number of threads.
 *
 * How it scores (see docs/architecture.md, "Classification (monitor)"):
 *   - the text is cut into words: UTF-8 decoded, lowercased, accents folded
 *     ("déçu", "DÉÇU", "decu" are one word), French elisions split and
 *     expanded (l' j' n' qu' d' c' s' m' t'), English contractions split
 *     ("don't" is "do not"), letters repeated three times or more shortened
 *     ("nuuuul"), links, @mentions and #hashtags recognised;
 *   - each word or phrase ("pas mal", "could be better") is looked up in a
 *     sorted lexicon of the text's language (binary search): a valence
 *     (-3..+3), or a role: negator, intensifier or diminisher, contrast
 *     ("mais", "but"), concession ("malgré", "despite"), question opener,
 *     cue of a label;
 *   - a negator ("pas", "ne", "jamais", "aucun", "not", "n't", "never",
 *     "no", ...) turns the next three content words around, dampened
 *     ("pas déçu" is mildly positive); some words only count when negated
 *     ("pas reçu", "no refund");
 *   - before a contrast the sentiment counts half, after it one and a half;
 *     a word in capitals counts more, so do exclamation marks; emoji and
 *     emoticons carry their own valence;
 *   - the sum S becomes score = S / sqrt(S * S + 8), in [-1, 1].
 *
 * Limits: a lexicon does not understand sarcasm, irony or context ("super,
 * encore un retard" is positive to it); only the first
 * CR_CLASSIFY_MAX_TOKENS words are read. */
#ifndef CR_CLASSIFY_H
#define CR_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

/* Labels, as bits of cr_class_t.labels. Their names (cr_label_name) are
 * what the monitor stores in PostgreSQL (text[]). */
#define CR_LABEL_QUESTION (1u << 0)        /* "question": asks something */
#define CR_LABEL_COMPLAINT (1u << 1)       /* "complaint": negative about an order or a product */
#define CR_LABEL_URGENT (1u << 2)          /* "urgent": safety, health, legal, fraud, data, "now" */
#define CR_LABEL_SPAM (1u << 3)            /* "spam": promotion, money or follower schemes, links */
#define CR_LABEL_PURCHASE_INTENT (1u << 4) /* "purchase_intent": price, stock, where to buy */
#define CR_LABEL_COUNT 5
#define CR_LABEL_ALL ((1u << CR_LABEL_COUNT) - 1)

typedef enum {
    CR_POLARITY_NEGATIVE = -1,
    CR_POLARITY_NEUTRAL = 0,
    CR_POLARITY_POSITIVE = 1,
} cr_polarity_t;

/* score <= CR_CLASSIFY_NEG_MAX is negative, score >= CR_CLASSIFY_POS_MIN
 * positive, neutral between. */
#define CR_CLASSIFY_NEG_MAX (-0.15f)
#define CR_CLASSIFY_POS_MIN 0.15f

/* Words (and punctuation marks, emoji) read at most; the rest of a longer
 * text is ignored and cr_class_t.truncated set. About 3,000 characters of
 * ordinary text. */
#define CR_CLASSIFY_MAX_TOKENS 640

/* What explains a classification (the "why" of a mention). */
#define CR_CLASS_MAX_CUES 12
#define CR_CLASS_CUE_LEN 28

typedef struct {
    char text[CR_CLASS_CUE_LEN]; /* the word(s) as written, cut at a character boundary */
    float weight;                /* what it added to the sentiment sum; 0 for a label cue */
    uint8_t negated;             /* it was under a negation */
    uint32_t labels;             /* the labels it pointed to (only labels that were set) */
} cr_cue_t;

typedef struct {
    char lang[3];           /* "fr", "en", or "?" (no evidence either way) */
    float score;            /* sentiment, -1 (negative) .. +1 (positive) */
    cr_polarity_t polarity; /* score cut by the thresholds above */
    uint32_t labels;        /* CR_LABEL_* bits */
    int ncues;              /* cues[0..ncues): sentiment words, then label cues */
    cr_cue_t cues[CR_CLASS_MAX_CUES];
    uint8_t cues_truncated; /* more cues than CR_CLASS_MAX_CUES were found */
    uint8_t truncated;      /* the text had more than CR_CLASSIFY_MAX_TOKENS tokens */
} cr_class_t;

/* Classifies text (UTF-8, NUL-terminated; invalid bytes are skipped).
 * lang_hint: "fr", "en" (a platform's language tag, the account's
 * language), or NULL. The text decides its language unless its evidence is
 * weak, in which case the hint does; another hint is treated as NULL.
 * Returns 0 with *out filled, -1 if text or out is NULL (out, if given, is
 * then zeroed to a neutral "?"). */
int cr_classify(const char *text, const char *lang_hint, cr_class_t *out);

/* The same for len bytes at text, which need not be NUL-terminated. */
int cr_classify_n(const char *text, size_t len, const char *lang_hint, cr_class_t *out);

/* "question", "complaint", "urgent", "spam", "purchase_intent" for one
 * CR_LABEL_* bit; NULL for anything else. */
const char *cr_label_name(uint32_t label);

/* The CR_LABEL_* bit named name (as cr_label_name writes it); 0 if none. */
uint32_t cr_label_from_name(const char *name);

/* Fills names[0..cap) with the names of the labels set in labels, in bit
 * order; returns how many labels are set (may exceed cap). */
size_t cr_label_names(uint32_t labels, const char **names, size_t cap);

/* "negative", "neutral", "positive". */
const char *cr_polarity_name(cr_polarity_t polarity);

/* Writes the cues of c as one line; for "Pourquoi mon colis n'est toujours
 * pas arrivé ? Très déçue 😡":
 *   "Pourquoi [question]; colis [complaint]; arrivé -1.5 (negated)
 *    [complaint]; déçue -2.6; 😡 -2.5; ? [question]"
 * into buf (always NUL-terminated when cap > 0, cut at a character
 * boundary). Returns the length written. */
size_t cr_class_why(const cr_class_t *c, char *buf, size_t cap);

/* Checks the built-in tables (each lexicon sorted without duplicates, keys
 * already in the form the tokeniser produces, emoji sorted). Returns 0, or
 * -1 with the first problem written to err. For the unit test. */
int cr_classify_check_tables(char *err, size_t cap);

#endif
