/* test_classify: the mention classifier (cr_classify).
 *
 * Rules case by case (negation, intensifiers, elisions and contractions,
 * accents, emoji and emoticons, contrast, emphasis, each label, the "why"),
 * hostile input (random bytes, invalid UTF-8, very long texts), then the
 * accuracy over tests/data/mentions_labelled.tsv: polarity overall, per
 * language, on the tuning part and on the held-out part (the rows after
 * "#@held-out", never used to tune the lexicon), per-label precision and
 * recall; polarity must be right for at least 80 % of the rows overall and
 * of the held-out rows. Last, a throughput figure (no assertion on it).
 *
 * The data file: CRIEUR_CLASSIFY_DATA, or the first argument.
 * CRIEUR_CLASSIFY_SHOW=dev|held|all prints the rows classified wrongly. */
#include "cr_classify.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static const char *s_data_path;

static cr_class_t s_cls(const char *text, const char *hint)
{
    cr_class_t c;
    memset(&c, 0xA5, sizeof c); /* garbage: cr_classify must set everything */
    assert_int_equal(cr_classify(text, hint, &c), 0);
    assert_true(c.score >= -1.0f && c.score <= 1.0f);
    assert_true(c.ncues >= 0 && c.ncues <= CR_CLASS_MAX_CUES);
    assert_true((c.labels & ~CR_LABEL_ALL) == 0);
    return c;
}

static void s_expect(const char *text, cr_polarity_t pol, uint32_t labels)
{
    cr_class_t c = s_cls(text, NULL);
    char why[512];
    cr_class_why(&c, why, sizeof why);
    if (c.polarity != pol || c.labels != labels)
        fail_msg("[%s]: %s (%.2f) labels 0x%x, expected %s labels 0x%x; why: %s", text,
                 cr_polarity_name(c.polarity), (double)c.score, c.labels, cr_polarity_name(pol),
                 labels, why);
}

static float s_score(const char *text)
{
    return s_cls(text, NULL).score;
}

static int s_has_cue(const cr_class_t *c, const char *text)
{
    for (int i = 0; i < c->ncues; i++)
        if (strcmp(c->cues[i].text, text) == 0) return 1;
    return 0;
}

#define NEG CR_POLARITY_NEGATIVE
#define NEU CR_POLARITY_NEUTRAL
#define POS CR_POLARITY_POSITIVE
#define Q CR_LABEL_QUESTION
#define CPL CR_LABEL_COMPLAINT
#define URG CR_LABEL_URGENT
#define SPM CR_LABEL_SPAM
#define BUY CR_LABEL_PURCHASE_INTENT

static void test_tables(void **state)
{
    (void)state;
    char err[256];
    if (cr_classify_check_tables(err, sizeof err) != 0) fail_msg("%s", err);
}

static void test_api(void **state)
{
    (void)state;
    cr_class_t c;
    assert_int_equal(cr_classify(NULL, NULL, &c), -1);
    assert_string_equal(c.lang, "?");
    assert_int_equal(c.polarity, NEU);
    assert_int_equal(c.labels, 0);
    assert_int_equal(cr_classify("bonjour", NULL, NULL), -1);
    assert_int_equal(cr_classify_n(NULL, 3, NULL, &c), -1);

    for (int b = 0; b < CR_LABEL_COUNT; b++) {
        const char *n = cr_label_name(1u << b);
        assert_non_null(n);
        assert_int_equal(cr_label_from_name(n), 1u << b);
    }
    assert_null(cr_label_name(0));
    assert_null(cr_label_name(CR_LABEL_QUESTION | CR_LABEL_SPAM));
    assert_int_equal(cr_label_from_name("nonsense"), 0);
    assert_int_equal(cr_label_from_name(NULL), 0);
    assert_string_equal(cr_label_name(CR_LABEL_PURCHASE_INTENT), "purchase_intent");

    const char *names[2];
    assert_int_equal(cr_label_names(Q | URG | BUY, names, 2), 3);
    assert_string_equal(names[0], "question");
    assert_string_equal(names[1], "urgent");
    assert_int_equal(cr_label_names(0, names, 2), 0);
    assert_int_equal(cr_label_names(CR_LABEL_ALL, NULL, 0), CR_LABEL_COUNT);

    assert_string_equal(cr_polarity_name(NEG), "negative");
    assert_string_equal(cr_polarity_name(NEU), "neutral");
    assert_string_equal(cr_polarity_name(POS), "positive");

    /* not NUL-terminated: only len bytes are read */
    char buf[8] = {'n', 'u', 'l', 'X', 'X', 'X', 'X', 'X'};
    assert_int_equal(cr_classify_n(buf, 3, "fr", &c), 0);
    assert_int_equal(c.polarity, NEG);
    assert_int_equal(cr_classify_n(buf, 0, NULL, &c), 0);
    assert_int_equal(c.polarity, NEU);
}

static void test_language(void **state)
{
    (void)state;
    assert_string_equal(s_cls("Je ne suis pas content de la livraison", NULL).lang, "fr");
    assert_string_equal(s_cls("I am not happy with the delivery", NULL).lang, "en");
    assert_string_equal(s_cls("Très déçue", NULL).lang, "fr");
    assert_string_equal(s_cls("l'équipe", NULL).lang, "fr");
    assert_string_equal(s_cls("don't", NULL).lang, "en");
    assert_string_equal(s_cls("👍👍", NULL).lang, "?");
    assert_string_equal(s_cls("", NULL).lang, "?");
    /* the hint decides when the text says little, not against it */
    assert_string_equal(s_cls("super", "fr").lang, "fr");
    assert_string_equal(s_cls("super", "en").lang, "en");
    assert_string_equal(s_cls("The parcel was left at the door and it is broken", "fr").lang, "en");
    assert_string_equal(s_cls("super", "de").lang, "?"); /* another hint is no hint */
    /* words of one language only mean something in it: "pain" */
    assert_int_equal(s_cls("pain au chocolat", "fr").polarity, NEU);
    assert_int_equal(s_cls("what a pain", "en").polarity, NEU); /* not in the lexicon: neutral */
}

static void test_negation(void **state)
{
    (void)state;
    s_expect("Je ne suis pas déçu", POS, 0);
    s_expect("je suis déçu", NEG, 0);
    s_expect("pas content du tout", NEG, 0);
    s_expect("Ce n'est pas terrible", NEG, 0);
    s_expect("Franchement pas mal", POS, 0);
    s_expect("Jamais eu de problème avec eux", POS, 0);
    s_expect("Je n'ai jamais été déçue", POS, 0);
    s_expect("Je ne recommande pas", NEG, 0);
    s_expect("aucun souci", POS, 0);
    s_expect("Plus jamais !", NEG, 0);
    s_expect("not bad at all", POS, 0);
    s_expect("not good", NEG, 0);
    s_expect("I was never disappointed", POS, 0);
    s_expect("I don't recommend it", NEG, 0);
    s_expect("no complaints", POS, 0);
    s_expect("Could be better", NEG, 0);
    s_expect("Couldn't be happier", POS, 0);
    /* words that only count when negated: an expectation not met */
    s_expect("Colis reçu", NEU, 0);
    s_expect("Colis toujours pas reçu", NEG, CPL);
    s_expect("Still no refund", NEG, CPL);
    s_expect("Ça ne marche plus depuis hier", NEG, CPL);
    /* "plus de" opening a sentence is "no more"; elsewhere it is "more" */
    s_expect("Plus d'internet depuis hier", NEG, CPL);
    assert_true(s_score("J'aimerais plus de choix, c'est super") > 0.15f);
    /* a negation reaches three content words, and stops at a comma */
    assert_true(s_score("pas déçu") > 0);
    assert_true(s_score("pas vraiment du tout déçu") > 0);
    assert_true(s_score("pas de souci pour la commande, décevant quand même") < 0);
    assert_true(s_score("not the delivery, the product, the colour: terrible") < 0);
    assert_true(s_score("not, terrible") < 0);
}

static void test_intensifiers(void **state)
{
    (void)state;
    assert_true(s_score("très bon") > s_score("bon"));
    assert_true(s_score("vraiment très bon") > s_score("très bon"));
    assert_true(s_score("really good") > s_score("good"));
    assert_true(s_score("extremely disappointing") < s_score("disappointing"));
    assert_true(s_score("un peu cher") > s_score("cher"));
    assert_true(s_score("un peu cher") < 0);
    assert_true(s_score("a bit slow") > s_score("slow"));
    assert_true(s_score("peu aimable") < 0); /* "peu" turns around */
    /* "super" is an intensifier before a sentiment word, a sentiment alone */
    assert_true(s_score("super sympa") > s_score("sympa"));
    assert_true(s_score("c'est super") > 0.15f);
    /* an intensifier waits at most two words */
    assert_true(fabsf(s_score("très le la les bon") - s_score("bon")) < 1e-6f);
    /* "pas très bon" is not worse than "pas bon" */
    assert_true(s_score("pas très bon") >= s_score("pas bon"));
    /* exclamation marks, capitals and stretched letters add emphasis */
    assert_true(s_score("good!!!") > s_score("good"));
    assert_true(s_score("le service est NUL") < s_score("le service est nul"));
    assert_true(s_score("c'est nuuuuul") < s_score("c'est nul"));
    assert_true(s_score("sooooo good") > s_score("good"));
    assert_true(s_score("goooood") > 0.15f);
    /* all in capitals is a way of writing, not emphasis word by word */
    assert_true(fabsf(s_score("NUL") - s_score("nul")) < 1e-6f);
}

static void test_elisions_contractions(void **state)
{
    (void)state;
    s_expect("J'adore", POS, 0);
    s_expect("C'est nul", NEG, 0);
    s_expect("l'équipe est géniale", POS, 0);
    s_expect("Qu'est-ce que c'est", NEU, Q);
    s_expect("N'importe quoi", NEG, 0);
    s_expect("J’adore", POS, 0); /* typographic apostrophe */
    s_expect("aujourd'hui", NEU, 0);
    s_expect("isn't great", NEG, 0);
    s_expect("We won't be back", NEG, 0);
    s_expect("We'll be back", POS, 0);
    s_expect("can't complain", POS, 0);
    s_expect("It's perfect", POS, 0);
    s_expect("Quillstone's staff are lovely", POS, 0);
    /* broken apostrophes do not crash or join words */
    s_expect("'''", NEU, 0);
    s_expect("l'", NEU, 0);
    s_expect("n't", NEU, 0);
    s_expect("l'l'l'l'l'", NEU, 0);
}

static void test_accents(void **state)
{
    (void)state;
    float a = s_score("déçu");
    assert_true(a < -0.15f);
    assert_true(fabsf(s_score("decu") - a) < 1e-6f);
    assert_true(fabsf(s_score("Déçu") - a) < 1e-6f);
    assert_true(fabsf(s_score("de\xcc\x81\x63\xcc\xa7u") - a) < 1e-6f); /* combining accents */
    assert_true(fabsf(s_score("très bien") - s_score("tres bien")) < 1e-6f);
    assert_true(fabsf(s_score("TRÈS DÉÇU") - s_score("très déçu")) < 1e-6f);
    assert_true(s_score("Un coup de cœur") > 0.15f);
    assert_true(s_score("Ça m'a coûté une fortune, ÇA NE MARCHE PAS") < 0);
    s_expect("Où acheter la crème ?", NEU, Q | BUY);
    s_expect("ou acheter la creme", NEU, BUY);
}

static void test_emoji(void **state)
{
    (void)state;
    s_expect("😡", NEG, 0);
    s_expect("🤬🤬", NEG, 0);
    s_expect("👎", NEG, 0);
    s_expect("😢", NEG, 0);
    s_expect("😍", POS, 0);
    s_expect("❤️", POS, 0);
    s_expect("👍", POS, 0);
    s_expect("🙏", POS, 0);
    s_expect("👍🏽", POS, 0); /* with a skin tone */
    s_expect(":(", NEG, 0);
    s_expect("merci:)", POS, 0);
    s_expect("colis arrivé :-(", NEG, CPL);
    s_expect("<3", POS, 0);
    s_expect("rendez-vous à 10:30", NEU, 0);
    s_expect("🤔", NEU, 0);
    s_expect("✈️", NEU, 0);
    /* an emoji can outweigh a word, and shows in the why */
    cr_class_t c = s_cls("Livraison ok 😡😡", NULL);
    assert_int_equal(c.polarity, NEG);
    assert_true(s_has_cue(&c, "😡"));
}

static void test_contrast(void **state)
{
    (void)state;
    s_expect("L'accueil est désagréable mais la cuisine est excellente", POS, 0);
    s_expect("La cuisine est bonne mais le service est lent", NEG, CPL);
    s_expect("Great food but the service was awful", NEG, CPL);
    s_expect("The service was slow but the food was outstanding", POS, 0);
    s_expect("Not cheap but totally worth it", POS, 0);
    /* a concession counts half: "malgré", "despite" */
    assert_true(s_score("Très pro malgré la grève") > 0.15f);
    assert_true(s_score("Lovely staff despite the awful weather") > 0.15f);
    /* a question asks more than it praises */
    assert_true(s_score("C'est bien ?") < s_score("C'est bien."));
}

static void test_question(void **state)
{
    (void)state;
    s_expect("Vous ouvrez le 1er mai ?", NEU, Q);
    s_expect("Vous ouvrez le 1er mai ？", NEU, Q); /* full-width */
    s_expect("Est-ce que vous livrez en Belgique", NEU, Q | BUY); /* delivery terms */
    s_expect("Bonjour, comment on fait pour changer d'offre", NEU, Q);
    s_expect("Pourquoi mon colis n'est toujours pas arrivé", NEG, Q | CPL);
    s_expect("How do I change my plan", NEU, Q);
    s_expect("Hi, can I change the delivery address", NEU, Q);
    s_expect("Does anyone know if they ship to Canada", NEU, Q | BUY);
    s_expect("Why is this so complicated", NEG, Q);
    /* exclamations and statements are not questions */
    s_expect("How disappointing!", NEG, 0);
    s_expect("What a joke", NEG, 0);
    s_expect("Doesn't work anymore", NEG, CPL);
    s_expect("Comment dire : génial !", POS, 0);
    s_expect("I wonder why I bother", NEU, Q); /* "I wonder": an indirect question */
}

static void test_complaint(void **state)
{
    (void)state;
    s_expect("Colis arrivé écrasé, le vase est cassé", NEG, CPL);
    s_expect("Remboursement toujours pas reçu après 3 semaines", NEG, CPL);
    s_expect("C'est une arnaque", NEG, CPL);
    s_expect("My order arrived damaged", NEG, CPL);
    s_expect("Flight cancelled, no help offered", NEG, CPL);
    s_expect("The refund never arrived", NEG, CPL);
    /* negative without anything bought: not a complaint */
    s_expect("Quelle journée horrible", NEG, 0);
    s_expect("I hate Mondays", NEG, 0);
    /* positive about a service: not a complaint */
    s_expect("Livraison rapide, colis parfait", POS, 0);
    s_expect("Fast delivery, thank you", POS, 0);
    cr_class_t c = s_cls("La livraison était catastrophique", NULL);
    assert_true(s_has_cue(&c, "livraison"));
    assert_true(s_has_cue(&c, "catastrophique"));
}

static void test_urgent(void **state)
{
    (void)state;
    s_expect("URGENT mon compte a été piraté", NEG, URG | CPL);
    s_expect("Le chargeur a pris feu !", NEG, URG | CPL);
    s_expect("Ma fille a fait une réaction allergique après le repas", NEG, URG | CPL);
    s_expect("Je vais contacter mon avocat", NEG, URG | CPL);
    s_expect("The kettle exploded and my son was injured", NEG, URG | CPL);
    s_expect("There was a data breach, my card was used", NEG, URG | CPL);
    s_expect("I will sue you", NEG, URG | CPL);
    s_expect("Please refund me immediately", NEG, URG | CPL);
    /* negated: not urgent */
    s_expect("Rien d'urgent, merci", POS, 0);
    s_expect("Pas urgent, quand vous pouvez", NEU, 0);
    s_expect("No danger at all", POS, 0);
}

static void test_spam(void **state)
{
    (void)state;
    s_expect("Gagnez 500€ par jour avec le trading crypto, infos en DM", NEU, SPM);
    s_expect("Make $300 a day from home, DM me", NEU, SPM);
    s_expect("follow back f4f #followback #follow4follow #like4like #instagood #l4l", NEU, SPM);
    s_expect("check my profile 👉 bit.ly/xyz", NEU, SPM);
    s_expect("www.deals.shop www.deals.shop www.deals.shop", NEU, SPM);
    s_expect("https://a.example/1 https://b.example/2 https://c.example/3", NEU, SPM);
    /* a customer with a link or a promo code is not spam */
    s_expect("Le code promo ne marche pas sur https://www.maisonverdier.fr/panier", NEG, CPL);
    s_expect("Merci pour le cadeau dans le colis 🎁", POS, 0);
    s_expect("Great collection 🔥🔥", POS, 0);
    /* spam is not a complaint, nor an intent to buy */
    cr_class_t c =
        s_cls("Arnaque ? Non ! Gagnez de l'argent facile, cliquez ici http://x.biz", NULL);
    assert_true(c.labels & SPM);
    assert_false(c.labels & (CPL | BUY | URG));
    assert_true(s_has_cue(&c, "link"));
}

static void test_purchase(void **state)
{
    (void)state;
    s_expect("Où acheter vos produits en Belgique ?", NEU, Q | BUY);
    s_expect("Combien coûte l'abonnement ?", NEU, Q | BUY);
    s_expect("Je veux commander le coffret", NEU, BUY);
    s_expect("Il est disponible en bleu ?", NEU, Q | BUY);
    s_expect("Where can I buy it", NEU, Q | BUY);
    s_expect("How much is shipping to Canada?", NEU, Q | BUY);
    s_expect("Is it back in stock?", NEU, Q | BUY);
    s_expect("Need this in my life 😍", POS, BUY);
    /* a price in a statement, or a complaint about it, is no intent */
    s_expect("Le prix a encore augmenté, honteux", NEG, CPL);
    s_expect("Good quality for the price", POS, 0);
    s_expect("Not available anymore, shame", NEG, 0);
}

static void test_why(void **state)
{
    (void)state;
    cr_class_t c = s_cls("Je ne suis pas déçue du tout, livraison rapide 👍", NULL);
    char why[256];
    size_t n = cr_class_why(&c, why, sizeof why);
    assert_int_equal(n, strlen(why));
    assert_non_null(strstr(why, "déçue"));
    assert_non_null(strstr(why, "(negated)"));
    assert_non_null(strstr(why, "rapide"));
    assert_non_null(strstr(why, "👍"));
    c = s_cls("Pourquoi mon colis est cassé ?", NULL);
    n = cr_class_why(&c, why, sizeof why);
    assert_non_null(strstr(why, "[complaint]"));
    assert_non_null(strstr(why, "[question]"));
    /* bounded: cut at a character boundary, always terminated */
    for (size_t cap = 0; cap < 40; cap++) {
        char small[40];
        memset(small, 'Z', sizeof small);
        n = cr_class_why(&c, small, cap);
        if (cap == 0) {
            assert_int_equal(n, 0);
            assert_int_equal(small[0], 'Z');
            continue;
        }
        assert_true(n < cap);
        assert_int_equal(small[n], '\0');
        assert_true(n == 0 || ((unsigned char)small[n - 1] & 0xC0) != 0xC0); /* no cut lead byte */
    }
    assert_int_equal(cr_class_why(NULL, why, sizeof why), 0);
    assert_string_equal(why, "");
    /* more cues than fit: the first ones, and a flag */
    c = s_cls("super génial parfait top excellent magnifique sublime adorable ravie contente "
              "heureuse impeccable nickel bravo merci",
              NULL);
    assert_int_equal(c.ncues, CR_CLASS_MAX_CUES);
    assert_int_equal(c.cues_truncated, 1);
    /* a long cue is cut at a character boundary */
    c = s_cls("ééééééééééééééééééééééééééé 😡", NULL);
    for (int i = 0; i < c.ncues; i++) assert_true(strlen(c.cues[i].text) < CR_CLASS_CUE_LEN);
}

static void test_hostile(void **state)
{
    (void)state;
    cr_class_t c;
    /* invalid UTF-8, overlongs, surrogates, truncated sequences */
    static const char *bad[] = {"\xff\xfe\xfd", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82",
                                "d\xc3", "\xf4\x90\x80\x80", "caf\xc3\xa9\xc3",
                                "\xc3\xa9\xcc\x81\xcc\x81\xcc\x81", "#", "@", "#@#@", "http://",
                                "www.", ".com", "a.com", ":", "<", "^^^^", "''''n't"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cr_classify(bad[i], NULL, &c), 0);
    /* exactly len bytes, no NUL after them (AddressSanitizer sees any read
     * past the end): texts ending in the middle of what is being read */
    static const char *ends[] = {"l\xe2\x80\x99", "don\xe2\x80\x99", "don't", "l'", "it'",
                                 "aujourd'", "\xe2\x80", "merci :", "merci :-", "<", ">:",
                                 "http", "http://x", "bit.", "bit.l", "a.com", "#", "@", "@a.",
                                 "nuuu", "\xf0\x9f\x98", "\xc3", "e\xcc", "est-ce qu'"};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        size_t n = strlen(ends[i]);
        char *exact = malloc(n);
        assert_non_null(exact);
        memcpy(exact, ends[i], n);
        for (size_t m = 0; m <= n; m++)
            assert_int_equal(cr_classify_n(exact + (n - m), m, NULL, &c), 0);
        free(exact);
    }
    /* random bytes, fixed seed */
    unsigned seed = 12345;
    char buf[300];
    for (int it = 0; it < 20000; it++) {
        size_t n = (size_t)(it % 299) + 1;
        for (size_t k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[k] = (char)(seed >> 16);
        }
        assert_int_equal(cr_classify_n(buf, n, it % 2 ? "fr" : NULL, &c), 0);
        assert_true(c.score >= -1.0f && c.score <= 1.0f);
    }
    /* random picks from a vocabulary that exercises every path */
    static const char *const parts[] = {
        "pas ", "ne ", "n'", "l'", "qu'", "don't ", "can't ", "mais ", "but ", "très ", "super ",
        "déçu ", "good ", "!!! ", "? ", ", ", ". ", "😡", "❤️", ":) ", "#promo ", "@x ",
        "http://a.b/c ", "bit.ly/x ", "plus de ", "pas mal ", "could be better ", "est-ce que ",
        "NUL ", "nuuuul ", "€", "par jour ", "crypto ", "colis ", "urgent ", "avocat ", "\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ", "\xc3", "'"};
    for (int it = 0; it < 20000; it++) {
        size_t n = 0;
        int parts_n = 1 + it % 40;
        for (int p = 0; p < parts_n; p++) {
            seed = seed * 1103515245u + 12345u;
            const char *w = parts[(seed >> 16) % (sizeof parts / sizeof parts[0])];
            size_t wl = strlen(w);
            if (n + wl >= sizeof buf) break;
            memcpy(buf + n, w, wl);
            n += wl;
        }
        buf[n] = '\0';
        assert_int_equal(cr_classify(buf, NULL, &c), 0);
        char why[64];
        cr_class_why(&c, why, sizeof why);
    }
    /* a long text: read up to the limit, flagged */
    size_t big = 200000;
    char *t = malloc(big + 1);
    assert_non_null(t);
    for (size_t k = 0; k < big; k += 10) memcpy(t + k, "très bon. ", 10 > big - k ? big - k : 10);
    t[big] = '\0';
    assert_int_equal(cr_classify(t, NULL, &c), 0);
    assert_int_equal(c.truncated, 1);
    assert_int_equal(c.polarity, POS);
    /* one huge word, then many emoji, then many apostrophes */
    memset(t, 'a', big);
    assert_int_equal(cr_classify_n(t, big, NULL, &c), 0);
    for (size_t k = 0; k + 4 <= big; k += 4) memcpy(t + k, "\xf0\x9f\x98\xa1", 4);
    assert_int_equal(cr_classify_n(t, big - big % 4, NULL, &c), 0);
    assert_int_equal(c.polarity, NEG);
    assert_int_equal(c.truncated, 1);
    for (size_t k = 0; k + 2 <= big; k += 2) memcpy(t + k, "l'", 2);
    assert_int_equal(cr_classify_n(t, big, NULL, &c), 0);
    for (size_t k = 0; k < big; k++) t[k] = (char)("ab?!,.#@:'-"[k % 11]);
    assert_int_equal(cr_classify_n(t, big, NULL, &c), 0);
    free(t);
}

/* ------------------------------------------------------------------------ */
/* The labelled data set                                                    */

typedef struct {
    char lang[3];
    cr_polarity_t pol;
    uint32_t labels;
    int held_out;
    char *text;
    int line;
} s_row_t;

static s_row_t *s_rows;
static size_t s_nrows;

static int s_parse_pol(const char *s, cr_polarity_t *p)
{
    if (strcmp(s, "neg") == 0) *p = NEG;
    else if (strcmp(s, "neu") == 0) *p = NEU;
    else if (strcmp(s, "pos") == 0) *p = POS;
    else return -1;
    return 0;
}

static void s_load(void)
{
    if (s_rows) return;
    const char *path = s_data_path ? s_data_path : getenv("CRIEUR_CLASSIFY_DATA");
    if (!path) fail_msg("no data set: set CRIEUR_CLASSIFY_DATA or pass its path");
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    size_t cap = 512;
    s_rows = calloc(cap, sizeof *s_rows);
    assert_non_null(s_rows);
    char line[4096];
    int held = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (strcmp(line, "#@held-out") == 0) {
            held = 1;
            continue;
        }
        if (n == 0 || line[0] == '#') continue;
        char *f1 = line, *f2 = strchr(f1, '\t');
        char *f3 = f2 ? strchr(f2 + 1, '\t') : NULL;
        char *f4 = f3 ? strchr(f3 + 1, '\t') : NULL;
        if (!f4) fail_msg("%s:%d: four tab-separated columns expected", path, lineno);
        *f2++ = '\0', *f3++ = '\0', *f4++ = '\0';
        if (s_nrows == cap) {
            cap *= 2;
            s_rows = realloc(s_rows, cap * sizeof *s_rows);
            assert_non_null(s_rows);
        }
        s_row_t *r = &s_rows[s_nrows];
        memset(r, 0, sizeof *r);
        if (strcmp(f1, "fr") != 0 && strcmp(f1, "en") != 0)
            fail_msg("%s:%d: language %s", path, lineno, f1);
        memcpy(r->lang, f1, 3);
        if (s_parse_pol(f2, &r->pol)) fail_msg("%s:%d: polarity %s", path, lineno, f2);
        if (strcmp(f3, "-") != 0) {
            for (char *tok = f3; tok && *tok;) {
                char *comma = strchr(tok, ',');
                if (comma) *comma = '\0';
                uint32_t b = cr_label_from_name(tok);
                if (!b) fail_msg("%s:%d: label %s", path, lineno, tok);
                r->labels |= b;
                tok = comma ? comma + 1 : NULL;
            }
        }
        r->held_out = held;
        r->line = lineno;
        r->text = strdup(f4);
        assert_non_null(r->text);
        s_nrows++;
    }
    fclose(f);
    if (s_nrows < 300) fail_msg("%s: %zu rows, at least 300 expected", path, s_nrows);
}

typedef struct {
    int n, ok;
} s_acc_t;

static double s_pct(s_acc_t a)
{
    return a.n ? 100.0 * a.ok / a.n : 0;
}

static void test_dataset(void **state)
{
    (void)state;
    s_load();
    const char *show = getenv("CRIEUR_CLASSIFY_SHOW");
    s_acc_t all = {0, 0}, part[2] = {{0, 0}, {0, 0}}, lang[2] = {{0, 0}, {0, 0}};
    s_acc_t part_lang[2][2] = {{{0, 0}, {0, 0}}, {{0, 0}, {0, 0}}}, langdet = {0, 0};
    s_acc_t exact[2] = {{0, 0}, {0, 0}};
    int conf[3][3] = {{0}};
    int tp[2][CR_LABEL_COUNT] = {{0}}, fp[2][CR_LABEL_COUNT] = {{0}}, fn[2][CR_LABEL_COUNT] = {{0}};

    for (size_t i = 0; i < s_nrows; i++) {
        const s_row_t *r = &s_rows[i];
        cr_class_t c = s_cls(r->text, NULL);
        int ok = c.polarity == r->pol;
        int h = r->held_out, l = strcmp(r->lang, "en") == 0;
        all.n++, all.ok += ok;
        part[h].n++, part[h].ok += ok;
        lang[l].n++, lang[l].ok += ok;
        part_lang[h][l].n++, part_lang[h][l].ok += ok;
        langdet.n++, langdet.ok += strcmp(c.lang, r->lang) == 0;
        exact[h].n++, exact[h].ok += ok && c.labels == r->labels;
        conf[r->pol + 1][c.polarity + 1]++;
        for (int b = 0; b < CR_LABEL_COUNT; b++) {
            int want = (r->labels >> b) & 1, got = (c.labels >> b) & 1;
            tp[h][b] += want && got, fp[h][b] += !want && got, fn[h][b] += want && !got;
        }
        if (show && (!ok || c.labels != r->labels) &&
            (strcmp(show, "all") == 0 || (strcmp(show, "held") == 0) == h)) {
            char why[512];
            cr_class_why(&c, why, sizeof why);
            const char *gn[CR_LABEL_COUNT], *wn[CR_LABEL_COUNT];
            size_t gc = cr_label_names(c.labels, gn, CR_LABEL_COUNT);
            size_t wc = cr_label_names(r->labels, wn, CR_LABEL_COUNT);
            printf("line %d %s: want %s", r->line, r->lang, cr_polarity_name(r->pol));
            for (size_t j = 0; j < wc; j++) printf("%s%s", j ? "," : " ", wn[j]);
            printf(" | got %s %.2f", cr_polarity_name(c.polarity), (double)c.score);
            for (size_t j = 0; j < gc; j++) printf("%s%s", j ? "," : " ", gn[j]);
            printf(" | %s | %s\n", r->text, why);
        }
    }

    printf("classifier accuracy on %zu labelled mentions (%d tuning, %d held out)\n", s_nrows,
           part[0].n, part[1].n);
    printf("  polarity  overall %5.1f %% (%d/%d)   fr %5.1f %% (%d/%d)   en %5.1f %% (%d/%d)\n",
           s_pct(all), all.ok, all.n, s_pct(lang[0]), lang[0].ok, lang[0].n, s_pct(lang[1]),
           lang[1].ok, lang[1].n);
    for (int h = 0; h < 2; h++)
        printf("  polarity  %-8s %5.1f %% (%d/%d)   fr %5.1f %% (%d/%d)   en %5.1f %% (%d/%d)\n",
               h ? "held-out" : "tuning", s_pct(part[h]), part[h].ok, part[h].n,
               s_pct(part_lang[h][0]), part_lang[h][0].ok, part_lang[h][0].n,
               s_pct(part_lang[h][1]), part_lang[h][1].ok, part_lang[h][1].n);
    printf("  polarity and every label right: tuning %5.1f %%, held-out %5.1f %%\n",
           s_pct(exact[0]), s_pct(exact[1]));
    printf("  language detected (no hint): %5.1f %% (%d/%d)\n", s_pct(langdet), langdet.ok,
           langdet.n);
    printf("  confusion (rows: expected neg/neu/pos; columns: classified neg/neu/pos)\n");
    for (int a = 0; a < 3; a++)
        printf("    %s %4d %4d %4d\n", a == 0 ? "neg" : a == 1 ? "neu" : "pos", conf[a][0],
               conf[a][1], conf[a][2]);
    printf("  labels           %-26s %-26s\n", "tuning: precision recall",
           "held-out: precision recall");
    for (int b = 0; b < CR_LABEL_COUNT; b++) {
        printf("    %-15s", cr_label_name(1u << b));
        for (int h = 0; h < 2; h++) {
            int p = tp[h][b] + fp[h][b], q = tp[h][b] + fn[h][b];
            printf("  %5.1f %% %5.1f %% (n=%3d)    ", p ? 100.0 * tp[h][b] / p : 0,
                   q ? 100.0 * tp[h][b] / q : 0, q);
        }
        printf("\n");
    }
    fflush(stdout);
    assert_true(s_pct(all) >= 80.0);
    assert_true(s_pct(part[1]) >= 80.0);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_benchmark(void **state)
{
    (void)state;
    s_load();
    size_t bytes = 0;
    for (size_t i = 0; i < s_nrows; i++) bytes += strlen(s_rows[i].text);
    cr_class_t c;
    volatile float sink = 0;
    long texts = 0;
    double t0 = s_now(), t1 = t0;
    while (t1 - t0 < 0.5) {
        for (size_t i = 0; i < s_nrows; i++) {
            cr_classify(s_rows[i].text, NULL, &c);
            sink += c.score;
        }
        texts += (long)s_nrows;
        t1 = s_now();
    }
    double per_s = texts / (t1 - t0);
    printf("throughput: %.0f texts/s on one thread (%.1f MB/s; mean text %zu bytes; %ld texts)\n",
           per_s, per_s * (double)bytes / (double)s_nrows / 1e6, bytes / s_nrows, texts);
    (void)sink;
}

static int s_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < s_nrows; i++) free(s_rows[i].text);
    free(s_rows);
    s_rows = NULL;
    s_nrows = 0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) s_data_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_language),
        cmocka_unit_test(test_negation),
        cmocka_unit_test(test_intensifiers),
        cmocka_unit_test(test_elisions_contractions),
        cmocka_unit_test(test_accents),
        cmocka_unit_test(test_emoji),
        cmocka_unit_test(test_contrast),
        cmocka_unit_test(test_question),
        cmocka_unit_test(test_complaint),
        cmocka_unit_test(test_urgent),
        cmocka_unit_test(test_spam),
        cmocka_unit_test(test_purchase),
        cmocka_unit_test(test_why),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_dataset),
        cmocka_unit_test(test_benchmark),
    };
    return cmocka_run_group_tests(tests, NULL, s_teardown);
}
