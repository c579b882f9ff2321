/* cr_classify: language, sentiment and labels of a mention (see cr_classify.h).
 *
 * One call reads the text twice:
 *   1. s_tokenise: UTF-8 decoded once; words folded into a buffer (ASCII
 *      lowercase, accents removed, elisions expanded, contractions split),
 *      punctuation marks, emoji and emoticons, @mentions kept as tokens;
 *      links and hashtags counted. Each word is looked up in both lexicons
 *      at once (binary search), which gives the language evidence;
 *   2. s_score: in the language chosen, each word or longest phrase found in
 *      the lexicon adds its valence, under the negation, intensifier,
 *      contrast and emphasis rules, and raises the cues of labels; the labels
 *      are decided from those cues, the question marks, links and hashtags.
 *
 * Lexicon keys are written as the tokeniser produces words: lowercase ASCII
 * without accents ("decu" for "déçu", "oe" for "œ"), elisions expanded
 * ("je aimerais" for "j'aimerais", "a le heure" for "à l'heure", "ne" for
 * "n'"), "n't" as " not" ("does not"), words of a phrase separated by one
 * space. Each table is sorted by strcmp on the key, without duplicates, so
 * that a word and the phrases it opens are neighbours: one binary search
 * finds both. cr_classify_check_tables (run by the unit test) checks all of
 * this; keep the order when adding entries. */
#include "cr_classify.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* What a lexicon entry does (cr_lex_t.flags). */
enum {
    FU = 1 << 0, /* function word: strong language evidence; does not use up a negation's reach */
    NG = 1 << 1, /* negator: turns the next S_NEG_REACH content words around */
    NN = 1 << 2, /* negator only after "ne" in its clause, or as "plus de" opening a sentence */
    FX = 1 << 3, /* fixed: no negation turns it around ("pas mal", "plus jamais") */
    BU = 1 << 4, /* contrast: what came before counts half, the rest of its sentence 1.5 times */
    CO = 1 << 5, /* concession: the rest of its clause counts half ("malgré la grève") */
    QO = 1 << 6, /* makes a question of a sentence it opens ("pourquoi", "can I") */
    QA = 1 << 7, /* makes a question wherever it is ("est-ce que", "does anyone know") */
    GR = 1 << 8, /* greeting: the sentence still "opens" after it ("Bonjour, est-ce...") */
};

/* Which label an entry is a cue of (cr_lex_t.cues). */
enum {
    SV = 1 << 0, /* a service or product word (colis, order, flight): complaint if negative */
    CP = 1 << 1, /* a complaint by itself unless the text is positive (arnaque, broken) */
    UR = 1 << 2, /* urgent unless negated or the text is positive */
    S1 = 1 << 3, /* spam, 1 point (gratuit, promo, link) */
    S2 = 1 << 4, /* spam, 2 points (crypto, DM me, follow back) */
    B1 = 1 << 5, /* purchase intent when the text asks something (prix, size) */
    B2 = 1 << 6, /* purchase intent (où acheter, in stock) */
    RT = 1 << 7, /* a rate (par jour, a day): 2 spam points with an amount of money */
    MO = 1 << 8, /* money (euros, dollars), like a currency sign */
};

typedef struct {
    const char *key; /* folded words separated by one space */
    float v;         /* valence, about -3 .. +3 */
    float nv;        /* valence under a negation */
    float mult;      /* next sentiment word x mult (intensifier > 1, diminisher < 1); 0 none */
    uint16_t flags;
    uint16_t cues;
} cr_lex_t;

/* A negated word counts for this much of the opposite: "pas déçu" is
 * milder than "content", "not good" milder than "bad". */
#define NEGF (-0.7f)

/* Entry constructors, so that the tables stay one short line per idea. */
#define S(k, v) {k, (float)(v), (float)(v) * NEGF, 0, 0, 0}           /* sentiment */
#define SF(k, v) {k, (float)(v), (float)(v), 0, FX, 0}                /* fixed sentiment */
#define SC(k, v, c) {k, (float)(v), (float)(v) * NEGF, 0, 0, c}       /* sentiment and cues */
#define SFC(k, v, c) {k, (float)(v), (float)(v), 0, FX, c}            /* fixed, cues */
#define X(k, v, nv, c) {k, (float)(v), (float)(nv), 0, 0, c}          /* its own negated value */
#define C(k, c) {k, 0, 0, 0, 0, c}                                    /* cues only */
#define F(k) {k, 0, 0, 0, FU, 0}                                      /* function word */
#define FQ(k, fl) {k, 0, 0, 0, FU | (fl), 0}                          /* function word, role */
#define P(k, fl, c) {k, 0, 0, 0, fl, c}                               /* role and cues */
#define N(k) {k, 0, 0, 0, FU | NG, 0}                                 /* negator */
#define NC(k, c) {k, 0, 0, 0, FU | NG, c}                             /* negator, cues */
#define M(k, m) {k, 0, 0, (float)(m), FU, 0}                          /* intensifier */
#define MS(k, m, v) {k, (float)(v), (float)(v) * NEGF, (float)(m), 0, 0} /* both */
#define E(k, v, nv, m, fl, c) {k, (float)(v), (float)(nv), (float)(m), fl, c}

/* The lexicons (French, then English), sorted by key. */
static const cr_lex_t s_lex_fr[] = {
    F("a"), SF("a eviter", -2.2), SF("a fuir", -2.5), SC("a le heure", 1.2, SV),
    SF("a tomber", 2.0), SC("abime", -1.8, CP), SC("abimee", -1.8, CP), SC("abimees", -1.8, CP),
    SC("abimes", -1.8, CP), C("abonnement", SV), C("abonnes gratuits", S2), C("abonnez", S1),
    M("absolument", 1.3), S("abuse", -1.8), S("abusee", -1.8), S("abusif", -2.0),
    S("abusive", -2.0), C("accueil", SV), C("achat", SV), C("acheter", B1), C("addition", SV),
    S("adorable", 2.2), S("adorables", 2.2), S("adore", 2.5), S("adorent", 2.5),
    S("affreuse", -2.5), S("affreux", -2.5), S("agacant", -1.8), S("agacante", -1.8),
    S("agacantes", -1.8), S("agacants", -1.8), C("agence", SV), S("agreable", 1.8),
    S("agreables", 1.8), SC("agresse", -2.5, UR), SC("agression", -2.5, UR), F("ai"),
    X("aide", 0.5, -1.2, SV), S("aimable", 1.8), S("aimables", 1.8), S("aime", 1.8),
    S("aimons", 1.8), SC("allergie", -1.0, UR), SC("allergique", -1.0, UR),
    SC("allergiques", -1.0, UR), FQ("allo", GR), S("amour", 1.8), SC("annulation", -1.0, SV),
    SC("annule", -1.2, SV), SC("annulee", -1.2, SV), SC("annules", -1.2, SV), C("appareil", SV),
    C("appli", SV), C("application", SV), S("apprecie", 1.8), S("appreciee", 1.8), F("apres"),
    M("archi", 1.3), C("argent", S1), C("argent facile", S2), SC("arnaque", -2.8, CP),
    SC("arnaques", -2.8, CP), SC("arnaqueurs", -2.8, CP), X("arrive", 0.0, -1.5, SV),
    X("arrivee", 0.0, -1.5, SV), X("arrivees", 0.0, -1.5, SV), X("arrives", 0.0, -1.5, SV),
    S("arrogant", -2.0), S("arrogante", -2.0), C("article", SV), C("articles", SV), F("as"),
    M("assez", 0.9), SF("attendais a pire", 1.0), S("attends", -0.6),
    SFC("attends toujours", -1.8, CP), SC("attente", -1.0, SV), F("au"), SF("au top", 2.2),
    N("aucun"), SF("aucun probleme", 1.0), SF("aucun souci", 1.0), N("aucune"),
    SC("augmentation", -0.6, SV), SC("augmente", -0.6, SV), SC("augmentent", -0.6, SV),
    SF("aurais aime", -0.6), FQ("auriez vous", QO), F("aussi"), F("aux"),
    SF("aux petits soins", 2.2), F("avais"), F("avait"), F("avant"), F("avec"), F("avez"),
    FQ("avez vous", QO), SC("avocat", -0.8, UR), SC("avocats", -0.8, UR), F("avoir"), F("avons"),
    C("bagage", SV), C("bagages", SV), C("banque", SV), S("beau", 1.8), M("beaucoup", 1.2),
    S("beaux", 1.8), S("belle", 1.8), S("belles", 1.8), SC("beugue", -1.5, CP),
    MS("bien", 1.2, 1.0), S("bien joue", 2.0), FQ("bien que", CO), S("bienveillant", 1.5),
    C("billet", SV), C("billets", SV), C("bitcoin", S2), SC("blesse", -2.0, UR),
    SC("blessee", -2.0, UR), SC("blesser", -1.5, UR), SC("blesses", -2.0, UR),
    SC("blessure", -2.0, UR), SC("blessures", -2.0, UR), S("bluffant", 2.2), S("bluffe", 2.0),
    S("bluffee", 2.0), S("bof", -1.2), S("bon", 1.5), S("bon conseil", 1.8), C("bon plan", S1),
    S("bonheur", 2.2), FQ("bonjour", GR), S("bonne", 1.5), S("bonnes", 1.5), C("bonplan", S1),
    S("bons", 1.5), FQ("bonsoir", GR), X("bouge", 0.0, -1.2, SV), SC("bouloche", -1.5, CP),
    SC("boulocher", -1.5, CP), SC("bout de verre", -2.0, UR), C("boutique", SV), C("box", SV),
    S("bravo", 2.0), SC("brulure", -2.0, UR), SC("brulures", -2.0, UR), C("btc", S2),
    SC("bug", -1.5, CP), SC("bugs", -1.5, CP), SC("bugue", -1.5, CP), C("bus", SV), F("ca"),
    SC("cadeau", 0.3, S1), SC("cadeaux", 0.3, S1), C("caisse", SV), F("car"), M("carrement", 1.3),
    C("carte", SV), C("carton", SV), C("casino", S2), SC("casse", -1.5, CP), SC("cassee", -1.5, CP),
    SC("cassees", -1.5, CP), SC("casses", -1.5, CP), S("catastrophe", -2.5),
    S("catastrophique", -2.8), S("cauchemar", -2.5), F("ce"), FQ("ce est quoi", QO), F("ceci"),
    F("cela"), F("celle"), F("celui"), FQ("cependant", BU), F("ces"), F("cet"), F("cette"),
    S("chaleureuse", 1.8), S("chaleureux", 1.8), C("chambre", SV), S("chapeau", 1.5),
    S("cher", -1.2), S("chere", -1.2), S("cheres", -1.2), S("chers", -1.2), F("chez"),
    S("chic", 1.5), S("choquant", -2.2), S("choque", -2.0), S("choquee", -2.0), S("chouette", 1.8),
    S("clair", 0.8), S("claire", 0.8), S("classe", 1.2), C("client", SV), C("clients", SV),
    C("clim", SV), C("climatisation", SV), C("cliquant", S1), C("clique", S1), C("cliquez", S1),
    C("code promo", S1), S("colere", -2.2), C("colis", SV), P("combien", QO, B1),
    P("combien ca coute", QO, B2), P("combien coute", QO, B2), P("combien de temps", QO, 0),
    X("commande", 0.0, -1.0, SV), X("commandee", 0.0, -1.0, SV), C("commander", B1),
    C("commandes", SV), F("comme"), FQ("comment", QO), M("completement", 1.3), S("complique", -1.2),
    S("compliquee", -1.2), S("compliquees", -1.2), C("compte", SV), C("concours", S1),
    X("conforme", 1.0, -1.5, 0), S("confortable", 1.6), S("confortables", 1.6),
    X("connexion", 0.0, -1.5, SV), S("conquis", 2.0), S("conquise", 2.0), S("conseille", 1.5),
    C("conseiller", SV), C("conseillere", SV), S("content", 1.8), S("contente", 1.8),
    S("contentes", 1.8), S("contents", 1.8), S("convaincu", 1.2), S("convaincue", 1.2),
    S("convaincus", 1.2), S("cool", 1.4), S("copieuse", 1.5), S("copieux", 1.5),
    X("correspond", 0.0, -1.5, 0), FQ("coucou", GR), SC("coule", -1.0, CP), C("couleur", SV),
    C("couleurs", SV), S("coup de coeur", 2.2), S("courtois", 1.5), C("coute", B1),
    C("coutent", B1), C("creme", SV), C("crypto", S2), C("cryptos", S2), C("cuisine", SV),
    SC("danger", -1.5, UR), SC("dangereuse", -2.0, UR), SC("dangereuses", -2.0, UR),
    SC("dangereux", -2.0, UR), F("dans"), SF("dans les temps", 1.2), F("de"), M("de loin", 1.2),
    C("de stock", B1), C("debit", SV), S("deception", -2.0), S("decevant", -2.0),
    S("decevante", -2.0), S("decevantes", -2.0), S("decevants", -2.0), SC("dechire", -1.5, CP),
    SC("dechiree", -1.5, CP), SC("decousu", -1.5, CP), SC("decousue", -1.5, CP), S("decu", -2.0),
    S("decue", -2.0), S("decues", -2.0), S("decus", -2.0), SC("defaut", -1.5, CP),
    SC("defectueuse", -2.0, CP), SC("defectueux", -2.0, CP), S("degoute", -2.5),
    S("degoutee", -2.5), S("degueu", -2.5), S("degueulasse", -2.8), F("deja"), S("delicieuse", 2.5),
    S("delicieux", 2.5), SC("deposer plainte", -1.5, UR), F("depuis"), F("des"),
    C("des places", B1), S("desagreable", -2.0), S("desagreables", -2.0), S("desastre", -2.5),
    S("desastreux", -2.5), S("desole", -0.3), S("desolee", -0.3), S("desseche", -1.5),
    S("deteste", -2.5), SC("dgccrf", -1.0, UR), S("difficile", -1.2),
    SF("difficile de faire mieux", 2.0), C("dispo", B2), C("disponibilite", B2),
    C("disponible", B2), C("disponibles", B2), C("dispos", B2), C("dm moi", S2), S("dommage", -1.2),
    F("donc"), SC("donnees personnelles", -0.5, UR), S("douce", 1.0), S("douteux", -1.5),
    S("doux", 1.0), F("du"), M("du tout", 1.2), X("eau", 0.0, -0.8, 0), C("echange", SV),
    SC("eclats de verre", -2.0, UR), S("ecoeurant", -2.5), SC("ecrase", -1.5, CP),
    SC("ecrasee", -1.5, CP), S("efficace", 1.8), S("efficaces", 1.8), S("efficacite", 1.8),
    S("elegant", 1.5), S("elegante", 1.5), F("elle"), F("elles"), C("emballage", SV),
    C("embarquement", SV), SC("empoisonne", -2.5, UR), SC("empoisonnement", -2.5, UR), F("en"),
    S("en attente", -0.8), SF("en avance", 1.0), SF("en compote", -1.5), C("en dm", S2),
    C("en mp", S2), FQ("en revanche", BU), C("en stock", B2), C("en taille", B1),
    SC("en urgence", -0.5, UR), S("enchante", 2.0), S("enchantee", 2.0), F("encore"),
    SC("endommage", -1.8, CP), SC("endommagee", -1.8, CP), S("enervant", -2.0), S("enerve", -2.0),
    S("enervee", -2.0), S("ennuyeux", -1.5), M("enormement", 1.4), SC("envie", 0.8, B1),
    C("equipage", SV), SC("erreur", -1.2, SV), F("es"), SC("escroc", -2.8, CP),
    SC("escroquerie", -2.8, CP), F("est"), FQ("est ce", QO), FQ("est ce que", QA),
    FQ("est elle", QO), FQ("est il", QO), F("et"), F("etais"), F("etait"), F("ete"), F("etre"),
    F("eux"), S("excellent", 2.6), S("excellente", 2.6), S("excellents", 2.6),
    S("exceptionnel", 2.6), S("exceptionnelle", 2.6), X("excuse", 0.5, -1.2, 0),
    X("excuses", 0.5, -1.2, 0), C("existe en", B1), SC("explose", -2.0, UR),
    SC("explosion", -2.5, UR), S("extra", 1.8), M("extremement", 1.5), S("facile", 1.2),
    C("facturation", SV), C("facture", SV), C("facturee", SV), C("factures", SV), S("fade", -1.2),
    S("fades", -1.2), F("fait"), S("fantastique", 2.6), S("fantome", -1.5), S("fausse", -1.0),
    F("faut"), S("faux", -1.0), S("felicitations", 2.2), S("fiable", 1.8), S("fiables", 1.8),
    C("fibre", SV), S("fier", 1.5), S("fiere", 1.5), C("flacon", SV), S("fluide", 1.5),
    C("followers gratuits", S2), X("fonctionne", 0.0, -1.5, SV), X("fonctionnent", 0.0, -1.5, SV),
    C("fond de teint", SV), S("fondant", 1.5), C("forex", S2), C("forfait", SV), S("frais", 0.8),
    SC("frais bancaires", -0.5, SV), C("frais de", SV), C("frais de port", SV | B1),
    M("franchement", 1.2), SC("fraude", -2.0, UR), SC("frauduleuse", -2.0, UR),
    SC("frauduleux", -2.0, UR), S("froid", -0.8), S("froide", -0.8), S("froides", -0.8),
    S("froids", -0.8), S("fuite", -1.2), SC("fuite de donnees", -2.0, UR), SC("fumee", -1.0, UR),
    S("furieuse", -2.5), S("furieux", -2.5), S("gache", -1.8), S("gachis", -1.8), C("gagnant", S1),
    C("gagnants", S1), C("gagner", S1), C("gagner de le argent", S2), C("gagnez", S1),
    C("gagnez de le argent", S2), S("galere", -1.8), C("garantie", SV), S("genant", -1.5),
    S("genante", -1.5), SC("gendarmerie", -0.8, UR), S("genial", 2.5), S("geniale", 2.5),
    S("geniaux", 2.5), S("gentil", 1.8), S("gentille", 1.8), S("gentillesse", 1.8),
    S("gentils", 1.8), S("gercures", -1.0), X("geste commercial", 0.8, -1.2, SV), C("gratuit", S1),
    C("gratuite", S1), C("gratuites", S1), C("gratuits", S1), M("grave", 1.3), M("gravement", 1.3),
    S("greve", -0.8), N("guere"), SC("hacke", -1.8, UR), SC("harcelement", -2.2, UR),
    S("hate", 1.5), S("helas", -1.2), FQ("hello", GR), C("hesite entre", B2), S("heureuse", 2.0),
    S("heureux", 2.0), S("honte", -2.2), S("honteuse", -2.5), S("honteux", -2.5),
    SC("hopital", -1.0, UR), S("horrible", -2.5), S("horribles", -2.5), S("hors de prix", -2.0),
    C("hotel", SV), C("hotline", SV), M("hyper", 1.3), F("ici"), S("ideal", 1.8), S("ideale", 1.8),
    F("il"), C("il en reste", B2), C("il me la faut", B2), C("il me le faut", B2),
    C("il me les faut", B2), C("il reste", B1), F("ils"), S("imbattable", 2.2),
    S("immangeable", -2.5), C("immediatement", UR), S("immonde", -2.5), S("impeccable", 2.2),
    S("impeccables", 2.2), S("impoli", -2.0), S("impolie", -2.0), S("impossible", -1.5),
    SF("impossible de faire mieux", 2.0), SC("inacceptable", -2.5, CP),
    SC("inadmissible", -2.5, CP), SC("incendie", -2.0, UR), S("incompetence", -2.2),
    S("incompetent", -2.2), S("incompetents", -2.2), S("incroyable", 2.0), S("industriel", -0.8),
    S("industriels", -0.8), S("inexistant", -1.8), S("inexistante", -1.8), S("infect", -2.5),
    S("infecte", -2.5), X("information", 0.0, -1.0, 0), X("informations", 0.0, -1.0, 0),
    SC("injoignable", -2.0, CP), SC("injoignables", -2.0, CP), S("inquiet", -1.2),
    S("inquiete", -1.2), S("insatisfait", -2.0), S("insatisfaite", -2.0), C("installation", SV),
    S("insupportable", -2.2), X("internet", 0.0, -1.5, SV), SC("intoxication", -2.5, UR),
    SC("intoxique", -2.5, UR), SC("intoxiquee", -2.5, UR), S("inutile", -1.8),
    SC("inutilisable", -2.2, CP), C("investir", S1), C("investissement", S1), C("investissez", S1),
    S("irreprochable", 2.2), S("irrespectueux", -2.0), N("jamais"), SF("jamais plus", -2.0),
    F("je"), C("je achete", B2), C("je aimerais acheter", B2), C("je aimerais commander", B2),
    C("je commande", B2), C("je en prends", B2), C("je la prends", B2), C("je le prends", B2),
    FQ("je me demande", QA), C("je prends", B1), C("je vais acheter", B2),
    C("je vais commander", B2), C("je veux acheter", B2), C("je veux commander", B2),
    C("je voudrais acheter", B2), C("je voudrais commander", B2), S("joli", 1.8), S("jolie", 1.8),
    S("jolies", 1.8), S("jolis", 1.8), SC("justice", -0.8, UR), F("la"), S("laid", -2.0),
    S("laide", -2.0), S("lamentable", -2.5), FQ("laquelle", QO), F("le"), M("legerement", 0.6),
    S("lent", -1.5), S("lente", -1.5), S("lentes", -1.5), S("lenteur", -1.5), S("lents", -1.5),
    FQ("lequel", QO), F("les"), F("leur"), F("leurs"), C("lien", S1), C("ligne", SV),
    S("limite", -0.8), SC("litige", -1.2, CP), C("livraison", SV), C("livraisons", SV),
    X("livre", 0.0, -1.5, SV), X("livree", 0.0, -1.5, SV), X("livrees", 0.0, -1.5, SV),
    X("livres", 0.0, -1.5, SV), C("livreur", SV), C("livreurs", SV), C("livrez", B1),
    C("livrez vous", B1), S("long", -0.8), S("longue", -0.8), S("lourd", -0.5), S("love", 2.0),
    F("lui"), F("ma"), C("magasin", SV), S("magique", 2.0), S("magnifique", 2.5),
    S("magnifiques", 2.5), C("mail", SV), C("mails", SV), FQ("mais", BU), S("mal", -1.5),
    SC("malade", -1.5, UR), SC("malades", -1.5, UR), FQ("malgre", CO), S("malheureusement", -1.2),
    S("malhonnete", -2.5), SC("manquant", -1.5, CP), SC("manquante", -1.5, CP),
    SC("manquants", -1.5, CP), S("manque", -1.2), C("maquillage", SV), X("marche", 0.0, -1.5, SV),
    S("marre", -2.0), C("mascara", SV), S("mauvais", -2.0), S("mauvaise", -2.0),
    S("mauvaises", -2.0), F("me"), S("mecontent", -2.0), S("mecontente", -2.0),
    SC("medecin", -0.5, UR), S("mediocre", -2.0), S("mediocres", -2.0), S("meilleur", 2.2),
    S("meilleure", 2.2), S("meilleurs", 2.2), FQ("meme si", CO), SC("menace", -2.0, UR),
    SC("menacer", -2.0, UR), SC("menaces", -2.0, UR), S("mensonge", -2.0), S("mensonger", -2.0),
    S("mensongere", -2.0), C("menu", SV), S("merci", 1.2), S("merci beaucoup", 1.8),
    S("merci de", 0.6), SF("merci pour rien", -2.2), S("merveille", 2.5), S("merveilleux", 2.5),
    F("mes"), SC("mes donnees", -0.5, UR), SC("mettre le feu", -2.0, UR), S("mieux", 1.2),
    S("mille mercis", 2.0), S("minuscule", -0.8), S("minuscules", -0.8), C("mise a jour", SV),
    SC("mise en demeure", -1.5, UR), S("moche", -2.0), S("moches", -2.0), C("modele", SV), F("moi"),
    F("mon"), C("mon profil", S1), S("moque", -1.5), S("moquer", -1.5), S("moquez", -1.8),
    SC("morceau de verre", -2.0, UR), M("moyennement", 0.5), C("mp moi", S2), S("naze", -2.0),
    N("ne"), SF("ne importe quoi", -2.0), FQ("neanmoins", BU), M("nettement", 1.2), N("ni"),
    S("nickel", 2.0), S("noirci", -1.0), N("non"), F("nos"), F("notre"), F("nous"),
    X("nouvelle", 0.0, -1.2, 0), X("nouvelles", 0.0, -1.2, 0), S("nul", -2.2), S("nulle", -2.2),
    N("nullement"), S("nulles", -2.2), S("nuls", -2.2), SC("offrir", 0.5, B1), F("on"),
    C("onlyfans", S2), F("ont"), C("operateur", SV), F("ou"), C("ou acheter", B2), FQ("ou est", QO),
    FQ("ou peut on", QO), P("ou peut on acheter", QO, B2), P("ou peut on trouver", QO, B2),
    FQ("ou puis je", QO), C("ou se procurer", B2), FQ("ou se trouve", QO), FQ("ou sont", QO),
    C("ou trouver", B2), C("paiement", SV), SC("panne", -1.8, CP | SV), C("paquet", SV), F("par"),
    FQ("par contre", BU), C("par jour", RT), C("par mois", RT), C("par semaine", RT),
    S("parfait", 2.5), S("parfaite", 2.5), S("parfaitement", 1.6), S("parfaits", 2.5),
    C("parfum", SV), M("particulierement", 1.2), N("pas"), S("pas assez", -0.8),
    SF("pas de probleme", 0.8), SF("pas de souci", 0.8), SF("pas de soucis", 0.8),
    SF("pas donne", -0.5), E("pas encore", 0, 0, 0, FU | NG, 0), SF("pas faire mieux", 2.2),
    SF("pas mal", 1.5), SF("pas mal de", 0.0), SF("pas serieux", -1.5), SF("pas terrible", -1.5),
    SF("pas top", -1.5), X("passe", 0.0, -1.0, 0), C("peau", SV), F("pendant"), S("penible", -1.8),
    SF("perdre patience", -1.5), S("perdu", -1.5), S("perdue", -1.5), S("perdus", -1.5),
    SC("perime", -1.5, CP), SC("perimee", -1.5, CP), SC("perimees", -1.5, CP),
    SC("perimes", -1.5, CP), E("personne pour", 0, 0, 0, FU | NG, 0), C("personnel", SV),
    M("peu", -0.5), F("peut"), SF("peut mieux faire", -1.2), FQ("peut on", QO), F("peux"),
    SC("piratage", -2.0, UR), SC("pirate", -1.5, UR), S("pire", -2.0), S("pitoyable", -2.5),
    SC("plainte", -1.0, UR), S("plaisir", 1.8), SC("plante", -1.5, CP), C("plat", SV),
    C("plats", SV), E("plus", 0, 0, 0, FU | NN, 0), SF("plus jamais", -2.0), M("plutot", 0.8),
    SC("poison", -2.0, UR), SC("police", -0.8, UR), S("ponctuel", 1.5),
    SC("porter plainte", -1.5, UR), C("portion", SV), C("portions", SV), F("pour"),
    C("pour ce que ce est", SV), FQ("pourquoi", QO), S("pourri", -2.5), S("pourrie", -2.5),
    FQ("pourriez vous", QO), FQ("pourtant", BU), FQ("pouvez vous", QO), S("pratique", 1.5),
    S("pratiques", 1.5), S("prefere", 2.0), S("preferee", 2.0), S("preferees", 2.0),
    S("preferes", 2.0), SC("preleve", -0.6, SV), SC("prelevement", -0.3, SV),
    SC("prelever", -0.5, SV), S("premiere classe", 0.0), SC("prend feu", -2.5, UR),
    X("prevenir", 0.0, -1.2, 0), X("prevenu", 0.0, -1.2, 0), X("previent", 0.0, -1.2, 0),
    SC("pris feu", -2.5, UR), C("prix", B1 | SV), S("pro", 1.2), S("probleme", -1.5),
    SF("probleme regle", 1.5), SF("probleme resolu", 1.5), S("problemes", -1.5),
    SC("proces", -1.0, UR), C("produit", SV), C("produits", SV), S("professionnalisme", 1.6),
    S("professionnel", 1.6), S("professionnelle", 1.6), S("professionnels", 1.6), C("profil", S1),
    C("promo", S1), C("promos", S1), S("propre", 1.2), S("propres", 1.2), FQ("puis je", QO),
    S("qualite", 0.5), F("quand"), FQ("quand est ce", QO), M("quand meme", 1.1), F("que"),
    FQ("quel est", QO), P("quel est le prix", QO, B2), FQ("quelle est", QO), FQ("quelles sont", QO),
    FQ("quelquun a deja", QA), FQ("quelquun aurait", QA), FQ("quelquun connait", QA),
    FQ("quelquun peut", QA), FQ("quelquun sait", QA), FQ("quels sont", QO), F("qui"),
    FQ("qui peut", QO), FQ("qui sait", QO), F("quoi"), FQ("quoique", CO), S("raccroche", -1.5),
    S("rapide", 1.5), S("rapidement", 1.2), S("rapides", 1.5), S("rapidite", 1.6),
    X("rappel", 0.0, -1.2, SV), X("rappele", 0.5, -1.5, SV), S("rapport qualite prix", 0.5),
    S("ras", 0.8), S("ras le bol", -2.2), S("rassurant", 1.5), S("rate", -1.5), S("ratee", -1.5),
    S("ravi", 2.2), S("ravie", 2.2), S("ravis", 2.2), S("reactif", 1.8), S("reactifs", 1.8),
    S("reactive", 1.8), S("reactivite", 1.8), SC("reclamation", -0.8, CP), S("recommande", 2.0),
    S("recommander", 1.5), S("recommandons", 2.0), X("recu", 0.0, -1.5, SV),
    X("recue", 0.0, -1.5, SV), X("recues", 0.0, -1.5, SV), X("recus", 0.0, -1.5, SV),
    C("reduction", B1), X("regle", 1.0, -1.2, SV), X("reglee", 1.0, -1.2, SV), S("regrette", -1.5),
    C("relais", SV), X("rembourse", 0.0, -1.5, SV), X("remboursee", 0.0, -1.5, SV),
    X("remboursement", 0.0, -1.5, SV), X("rembourses", 0.0, -1.5, SV), SC("remboursez", -0.8, CP),
    S("remercie", 1.6), S("remercions", 1.6), C("remplacement", SV), C("rendement garanti", S2),
    C("repas", SV), X("repond", 0.0, -1.5, SV), X("repondent", 0.0, -1.5, SV),
    X("repondre", 0.0, -1.5, SV), X("repondu", 0.0, -1.5, SV), X("reponse", 0.0, -1.5, SV),
    X("reponses", 0.0, -1.5, SV), X("reseau", 0.0, -1.5, SV), C("reservation", SV),
    C("reservations", B1 | SV), C("reserver", B1), C("resiliation", SV), X("resolu", 1.0, -1.2, SV),
    X("resolue", 1.0, -1.2, SV), X("respect", 1.0, -1.5, 0), X("ressemble", 0.0, -1.5, 0),
    SC("retard", -1.5, SV), SC("retarde", -1.2, SV), SC("retardee", -1.2, SV),
    SC("retards", -1.5, SV), X("retour", 0.0, -1.0, SV), C("retours", SV), C("revenu passif", S2),
    S("reviendra", 1.5), S("reviendrai", 1.5), S("reviendrons", 1.5), SC("riche", 0.8, S1),
    S("ridicule", -2.0), N("rien"), SF("rien a dire", 1.5), SF("rien a redire", 2.0),
    SF("rien a signaler", 0.8), SF("rien a voir", 0.0), SF("rien de special", -0.3),
    C("rouge a levres", SV), F("sa"), S("sale", -1.5), S("sales", -1.5), FQ("salut", GR), N("sans"),
    SF("sans probleme", 1.2), SF("sans souci", 1.2), SF("sans soucis", 1.2), S("satisfait", 1.8),
    S("satisfaite", 1.8), S("satisfaits", 1.8), FQ("sauf que", BU), C("sav", SV),
    FQ("savez vous", QO), S("scandale", -2.5), S("scandaleux", -2.5), F("se"), C("securite", UR),
    C("sejour", SV), F("sera"), F("serait"), M("serieusement", 1.2), C("serum", SV),
    C("serveur", SV), C("serveuse", SV), X("service", 0.0, -0.8, SV), C("service client", SV),
    F("ses"), C("shampoing", SV), M("si", 1.2), C("siege", SV), X("signal", 0.0, -1.5, SV),
    S("simple", 0.8), C("site", SV), S("soigne", 1.5), S("soignee", 1.5), C("soin", SV),
    C("soins", SV), C("soldes", S1), S("solide", 1.5), X("solution", 0.3, -1.5, SV),
    X("solutions", 0.3, -1.5, SV), F("son"), X("sonne", 0.0, -1.0, 0), F("sont"),
    FQ("sont elles", QO), FQ("sont ils", QO), S("souci", -1.2), S("soucis", -1.2),
    S("spacieuse", 1.5), S("spacieux", 1.5), C("stock", B1), S("sublime", 2.5), S("sublimes", 2.5),
    F("suis"), C("suivez moi", S2), X("suivi", 0.0, -1.0, SV), MS("super", 1.3, 2.0),
    S("superbe", 2.5), S("superbes", 2.5), F("sur"), S("surclasse", 1.5), S("surclassee", 1.5),
    S("sympa", 1.8), S("sympas", 1.8), S("sympathique", 1.8), F("ta"), C("table", SV),
    C("taille", B1 | SV), C("tarif", B1 | SV), C("tarifs", B1 | SV), F("te"), C("technicien", SV),
    C("teinte", SV), C("telegram", S2), C("telephone", SV), M("tellement", 1.3),
    X("tenu", 0.0, -1.2, 0), S("terne", -1.2), S("ternes", -1.2), S("terrible", -1.5), F("tes"),
    X("tient", 0.5, -1.5, 0), C("tissu", SV), F("toi"), F("ton"), S("top", 2.0),
    M("totalement", 1.3), F("toujours"), NC("toujours pas", CP), SFC("toujours rien", -1.5, CP),
    SF("tourne en rond", -1.5), F("tous"), F("tout"), F("toute"), FQ("toutefois", BU), F("toutes"),
    C("trading", S1), C("train", SV), C("trajet", SV), M("tres", 1.3), SC("tribunal", -1.0, UR),
    S("triste", -1.8), S("tristes", -1.8), S("trompeur", -2.0), S("trompeuse", -2.0),
    M("trop", 1.3), S("trop bien", 2.2), F("tu"), M("ultra", 1.3), F("un"), M("un petit peu", 0.5),
    M("un peu", 0.6), F("une"), FQ("une idee", QA), SC("urgence", -0.5, UR),
    SC("urgences", -1.0, UR), SC("urgent", -0.3, UR), SC("urgente", -0.3, UR), F("va"),
    M("vachement", 1.3), F("vais"), S("valide", 1.5), C("valise", SV), C("valises", SV),
    S("vaut", 1.5), S("vaut la peine", 2.0), S("vaut le coup", 2.0), C("vendeur", SV),
    C("vendeuse", SV), X("venu", 0.0, -1.2, 0), C("vetement", SV), S("vieux", -0.3),
    C("virement", SV), C("visitez mon profil", S2), F("voila"), C("voir mon profil", S2),
    C("vol", SV), S("voleurs", -2.5), F("vont"), F("vos"), F("votre"), F("vous"),
    M("vraiment", 1.3), C("whatsapp", S2), F("y"), FQ("y a t il", QO), N("zero"),
};

static const cr_lex_t s_lex_en[] = {
    F("a"), M("a bit", 0.6), C("a day", RT), M("a little", 0.6), M("a little bit", 0.5),
    C("a month", RT), C("a week", RT), F("about"), M("absolutely", 1.3), S("abysmal", -2.8),
    C("account", SV), S("adorable", 2.0), F("after"), E("again", 0, -1.2, 0, FU, 0), C("agent", SV),
    F("all"), SC("allergic", -1.0, UR), SC("allergic reaction", -2.0, UR), SC("allergy", -1.0, UR),
    F("also"), FQ("although", CO), F("am"), S("amazed", 2.2), S("amazing", 2.7), F("an"), F("and"),
    S("angry", -2.2), S("annoyed", -1.8), S("annoying", -1.8), X("answer", 0.0, -1.5, SV),
    X("answered", 0.0, -1.5, SV), X("answering", 0.0, -1.5, SV), FQ("any", QO), FQ("any idea", QA),
    FQ("any ideas", QA), C("any left", B2), FQ("any news", QA), FQ("any update", QA),
    FQ("anyone know", QA), X("apologies", 0.5, -1.2, 0), X("apology", 0.5, -1.2, 0), C("app", SV),
    S("appalling", -2.6), S("appreciate", 1.8), S("appreciated", 1.8), F("are"), N("are not"),
    FQ("are the", QO), FQ("are there", QO), FQ("are they", QO), FQ("are you", QO),
    FQ("are your", QO), X("arrive", 0.0, -1.2, SV), X("arrived", 0.0, -1.5, SV), F("as"),
    X("as advertised", 0.8, -1.5, 0), X("as described", 0.8, -1.5, 0), C("asap", UR),
    SC("assault", -2.5, UR), SC("assaulted", -2.5, UR), F("at"), M("at all", 1.2),
    S("atrocious", -2.7), SC("attorney", -1.0, UR), C("availability", B2), C("available", B2),
    S("awesome", 2.6), S("awful", -2.5), C("back in stock", B2), S("bad", -2.0), S("badly", -1.5),
    C("bag", SV), C("baggage", SV), C("bank", SV), N("barely"), F("be"), S("be back", 1.5),
    C("be back in stock", B2), S("beautiful", 2.4), F("because"), F("been"), F("before"),
    F("being"), S("best", 2.5), S("better", 1.5), C("bill", SV), C("billed", SV), C("billing", SV),
    M("bit", 0.7), C("bitcoin", S2), S("bland", -1.2), C("book", B1), C("booking", SV),
    C("bookings", SV | B1), C("box", SV), S("bravo", 2.0), SC("breach", -1.8, UR),
    S("brilliant", 2.5), C("broadband", SV), SC("broke", -1.5, CP), SC("broken", -1.8, CP),
    SC("broken glass", -2.0, UR), C("btc", S2), SC("bug", -1.3, CP), SC("buggy", -1.5, CP),
    SC("burn", -1.8, UR), SC("burned", -1.8, UR), SC("burns", -2.0, UR), C("bus", SV),
    FQ("but", BU), C("buy", B1), C("buy one", B2), F("by"), M("by far", 1.2),
    X("call back", 0.0, -1.2, SV), X("called back", 0.5, -1.2, SV), S("calm", 1.0),
    SC("came apart", -1.5, CP), F("can"), FQ("can anyone", QO), FQ("can i", QO), N("can not"),
    SF("can not go wrong", 2.0), SF("can not wait", 1.8), FQ("can someone", QO), FQ("can they", QO),
    FQ("can we", QO), FQ("can you", QO), SC("canceled", -1.5, SV), SC("cancelled", -1.5, SV),
    N("cannot"), C("card", SV), S("careless", -1.8), C("cash", S1), C("casino", S2),
    SC("caught fire", -2.5, UR), S("chaos", -1.8), SC("charge", -0.3, SV), SC("charged", -0.6, SV),
    SC("charged twice", -1.5, CP | SV), SC("charges", -0.3, SV), S("cheap", -0.8),
    S("cheaper", 1.0), C("check my profile", S2), C("check out my", S2), SC("choking", -2.0, UR),
    S("classy", 1.8), S("clean", 1.3), S("clear", 0.8), C("click", S1), C("click here", S2),
    C("click this link", S2), S("cold", -0.8), C("color", SV), C("colors", SV), C("colour", SV),
    C("colours", SV), C("come in", B1), S("comfortable", 1.6), S("comfy", 1.6),
    X("compensation", 0.3, -1.2, SV), S("complain", -1.2), S("complaint", -1.2),
    S("complaints", -1.2), M("completely", 1.3), S("complicated", -1.2), C("conditioner", SV),
    S("confusing", -1.3), C("connection", SV), C("contest", S1), C("contract", SV),
    S("convenient", 1.6), S("convinced", 1.2), S("cool", 1.4), C("cost", B1), C("costs", B1),
    S("cosy", 1.5), F("could"), SF("could be better", -1.4), SF("could have been better", -1.4),
    FQ("could i", QO), N("could not"), SF("could not ask for", 2.2), SF("could not be better", 2.5),
    SF("could not be happier", 3.0), SF("could not have asked for", 2.5), FQ("could someone", QO),
    FQ("could you", QO), C("courier", SV), S("cozy", 1.5), S("cramped", -1.2), S("crap", -2.5),
    S("crappy", -2.5), SC("crash", -1.5, CP), SC("crashed", -1.5, CP), SC("crashes", -1.5, CP),
    C("cream", SV), C("crew", SV), S("cringe", -1.8), SC("crushed", -1.5, CP), C("crypto", S2),
    C("customer service", SV), C("customer support", SV), S("cute", 1.5), SC("damaged", -1.8, CP),
    SC("danger", -1.5, UR), SC("dangerous", -2.0, UR), SC("data breach", -2.0, UR),
    SC("data leak", -2.0, UR), S("dead", -1.0), C("deal", S1), C("deals", S1), FQ("dear", GR),
    SC("defective", -2.0, CP), M("definitely", 1.2), SC("delay", -1.2, SV), SC("delayed", -1.5, SV),
    SC("delays", -1.2, SV), S("delicious", 2.6), S("delighted", 2.5),
    X("deliver", 0.0, -1.0, SV | B1), X("delivered", 0.0, -1.5, SV), C("delivery", SV),
    FQ("despite", CO), FQ("did", QO), N("did not"), S("dirty", -1.8), S("disappointed", -2.0),
    S("disappointing", -2.0), S("disappointment", -2.0), S("disaster", -2.5), C("discount", B1),
    S("disgrace", -2.5), S("disgraceful", -2.5), S("disgusting", -2.7), C("dish", SV),
    S("dishonest", -2.2), C("dm me", S2), F("do"), FQ("do i", QO), N("do not"), FQ("do they", QO),
    FQ("do you", QO), C("do you ship", B2), SC("doctor", -0.5, UR), FQ("does", QO),
    FQ("does anyone know", QA), N("does not"), S("dreadful", -2.5), S("dried", -0.8),
    C("driver", SV), S("dull", -1.2), S("duller", -1.2), F("each"), C("earn", S1),
    C("earn money", S2), S("easy", 1.2), C("easy cash", S2), C("easy money", S2),
    S("efficient", 1.6), S("elegant", 1.6), C("email", SV), C("emails", SV),
    SC("emergency", -1.0, UR), C("engineer", SV), S("enjoy", 1.8), S("enjoyed", 1.8),
    SC("error", -1.2, SV), M("especially", 1.1), FQ("even if", CO), FQ("even though", CO),
    F("every"), S("excellent", 2.7), FQ("except", BU), S("exceptional", 2.6), C("exchange", SV),
    S("excited", 2.0), S("expensive", -1.2), X("explanation", 0.0, -1.2, 0),
    SC("exploded", -2.5, UR), SC("explosion", -2.5, UR), M("extremely", 1.5), C("f4f", S2),
    S("fab", 2.2), C("fabric", SV), S("fabulous", 2.5), S("fail", -1.8), S("failed", -1.8),
    S("failure", -2.0), M("fairly", 0.8), S("fake", -1.8), SC("falling apart", -1.8, CP),
    S("fan", 1.4), S("fantastic", 2.7), S("fast", 1.4), S("faultless", 2.2), SC("faulty", -2.0, CP),
    S("favorite", 2.0), S("favourite", 2.0), S("fed up", -2.0), SC("fell apart", -1.8, CP),
    S("filthy", -2.5), S("fine", 0.8), SC("fire hazard", -2.0, UR), X("fit", 0.5, -1.2, 0),
    X("fits", 0.8, -1.2, 0), X("fixed", 1.2, -1.5, SV), S("flawless", 2.4), C("flight", SV),
    C("follow", S1), C("follow back", S2), C("follow me", S2), C("follow4follow", S2),
    C("followback", S2), C("food", SV), F("for"), C("for sale", B1), C("for what it is", SV),
    C("forex", S2), C("foundation", SV), C("fragrance", SV), SC("fraud", -2.5, UR),
    SC("fraudulent", -2.5, UR), C("free", S1), C("free followers", S2), S("fresh", 1.2),
    S("friendly", 1.8), F("from"), C("from home", S1), S("frozen", -0.8), S("frustrated", -2.0),
    S("frustrating", -2.0), S("furious", -2.5), C("gate", SV), S("gem", 2.0), S("generous", 1.8),
    S("genius", 2.0), F("get"), S("ghost", -1.2), SC("gift", 0.3, S1), SC("gifts", 0.3, S1),
    C("giveaway", S1), S("glad", 1.8), F("going"), S("going strong", 1.5), C("going to buy", B2),
    F("gonna"), S("good", 1.9), S("good job", 2.0), FQ("good morning", GR), S("gorgeous", 2.5),
    F("got"), S("grateful", 2.0), S("greasy", -1.2), S("great", 2.3), S("great job", 2.3),
    C("guaranteed returns", S2), SC("hacked", -1.8, UR), F("had"), N("had not"), S("happier", 2.2),
    S("happy", 2.2), SC("harassed", -2.2, UR), SC("harassment", -2.2, UR), N("hardly"), F("has"),
    FQ("has anyone", QO), FQ("has it", QO), N("has not"), S("hate", -2.5), S("hated", -2.5),
    SF("hats off", 2.0), F("have"), N("have not"), FQ("have you", QO), SC("hazard", -1.5, UR),
    F("he"), FQ("hello", GR), X("help", 0.3, -1.2, SV), S("helped", 1.2), S("helpful", 1.9),
    C("helpline", SV), F("her"), F("here"), S("hero", 1.8), FQ("hey", GR), FQ("hi", GR),
    S("hideous", -2.5), M("highly", 1.3), F("him"), F("his"), FQ("hiya", GR), M("honestly", 1.1),
    S("horrendous", -2.7), S("horrible", -2.5), SC("hospital", -1.0, UR), C("hotel", SV),
    FQ("how", QO), P("how long", QO, 0), P("how much", QO, B2), FQ("however", BU),
    S("hung up", -1.5), SC("hurt", -1.8, UR), F("i"), C("i want this", B2), FQ("i wonder", QA),
    SC("identity theft", -2.5, UR), F("if"), S("ignored", -2.0), SC("ill", -1.2, UR),
    C("immediately", UR), S("impossible", -1.5), S("impressed", 2.2), S("impressive", 2.2), F("in"),
    C("in a size", B1), FQ("in spite of", CO), C("in stock", B2), S("incompetent", -2.2),
    S("incredible", 2.3), M("incredibly", 1.4), SC("injured", -2.2, UR), SC("injuries", -2.0, UR),
    SC("injury", -2.0, UR), M("insanely", 1.4), C("installation", SV), X("internet", 0.0, -1.5, SV),
    F("into"), C("invest", S1), C("investment", S1), C("invoice", SV), F("is"), FQ("is anyone", QO),
    FQ("is it", QO), FQ("is my", QO), N("is not"), FQ("is the", QO), FQ("is there", QO),
    FQ("is this", QO), FQ("is your", QO), S("issue", -1.2), S("issues", -1.2), F("it"), F("it is"),
    C("item", SV), C("items", SV), F("its"), S("joke", -1.8), S("junk", -2.2), F("just"),
    SF("kidding me", -1.5), S("kind", 1.5), M("kind of", 0.7), SC("knife", -1.5, UR),
    S("kudos", 2.0), C("l4l", S2), N("lack of"), S("lame", -1.5), X("last", 0.0, -1.2, 0),
    X("lasts", 0.5, -1.2, 0), SC("late", -1.5, SV), SC("lawsuit", -1.5, UR), SC("lawyer", -1.0, UR),
    SC("lawyers", -1.0, UR), SC("leak", -1.2, CP), SC("leaked", -1.2, CP), SC("leaking", -1.5, CP),
    SC("leaks", -1.2, CP), SC("legal action", -1.5, UR), S("legend", 2.0), S("let down", -1.8),
    S("letdown", -2.0), S("lied", -2.0), S("lies", -2.0), C("like to buy", B2),
    C("like to order", B2), S("liked", 1.5), C("likeforlike", S2), C("link", S1),
    C("link in bio", S2), C("lipstick", SV), M("literally", 1.2), C("looking to buy", B2),
    S("lost", -1.5), S("lousy", -2.2), S("love", 2.5), S("loved", 2.5), S("lovely", 2.3),
    S("loves", 2.5), S("loving", 2.2), S("lucky", 1.5), C("luggage", SV),
    X("made it", 0.0, -1.5, 0), S("magic", 1.8), C("make money", S2), C("makeup", SV),
    C("mascara", SV), F("me"), C("meal", SV), S("mediocre", -1.8), S("mediocrity", -1.8),
    S("meh", -1.2), S("melt in your mouth", 2.0), C("menu", SV), S("mess", -1.8),
    C("message me", S2), F("might"), S("misleading", -2.0), SC("missing", -1.5, CP),
    C("moisturiser", SV), C("moisturizer", SV), C("money", S1), SC("money back", -0.8, CP),
    X("moved", 0.0, -1.2, 0), M("much", 1.2), F("must"), F("my"), SC("my data", -0.5, UR),
    C("my profile", S1), S("nasty", -2.2), C("need it", B1), SC("need this", 0.8, B2), N("neither"),
    C("network", SV), N("never"), SF("never again", -2.0), FQ("nevertheless", BU),
    X("news", 0.0, -1.0, 0), C("nft", S1), S("nice", 1.8), S("nightmare", -2.5), N("no"),
    N("no one"), SF("no problem", 0.8), SF("no thanks", -0.5), SF("no worries", 0.8), N("nobody"),
    S("noisy", -1.2), N("none"), FQ("nonetheless", BU), N("nor"), N("not"), N("nothing"),
    X("notice", 0.0, -1.0, 0), S("nowhere", -1.2), S("obsessed", 2.0), F("of"), F("off"), F("on"),
    SC("on hold", -1.0, SV), C("on sale", B1), FQ("on the other hand", BU), SC("on time", 1.2, SV),
    C("onlyfans", S2), F("or"), X("order", 0.0, -0.8, SV), C("order one", B2),
    X("ordered", 0.0, -1.0, SV), C("ordering", B2), C("orders", SV), F("our"), F("out"),
    SC("outage", -1.8, CP | SV), S("outrageous", -2.2), S("outstanding", 2.7), F("over"),
    S("overcharged", -2.0), S("overcooked", -1.5), S("overpriced", -2.0), C("package", SV),
    C("parcel", SV), C("passive income", S2), S("pathetic", -2.5), S("patience", 0.5),
    C("payment", SV), C("per day", RT), C("per month", RT), C("per week", RT), S("perfect", 2.6),
    S("perfection", 2.6), S("perfectly", 1.5), C("perfume", SV), SC("personal data", -0.5, UR),
    C("phone", SV), X("picked up", 0.0, -1.2, 0), X("picks up", 0.0, -1.2, 0),
    SC("piece of glass", -2.0, UR), SC("pilling", -1.5, CP), C("plan", SV),
    C("planning to buy", B2), S("pleasant", 1.8), S("pleased", 1.8), S("pointless", -1.8),
    SC("poison", -2.0, UR), SC("poisoned", -2.5, UR), SC("poisoning", -2.5, UR),
    SC("police", -1.0, UR), S("polite", 1.5), S("poor", -1.8), S("poorly", -1.5), C("portions", SV),
    MS("pretty", 1.1, 1.2), C("price", SV | B1), C("prices", SV | B1), S("pricey", -1.0),
    C("prize", S1), S("problem", -1.5), S("problems", -1.5), C("product", SV), C("products", SV),
    S("professional", 1.6), C("profile", S1), C("promo", S1), C("promo code", S1), S("prompt", 1.5),
    C("provider", SV), C("purchase", SV | B1), S("quality", 0.5), S("quick", 1.4),
    S("quickly", 1.0), S("quiet", 0.8), M("quite", 1.1), M("rather", 0.8), S("raw", -0.8),
    M("really", 1.3), X("receive", 0.0, -1.2, SV), X("received", 0.0, -1.5, SV),
    S("recommend", 2.0), S("recommended", 2.0), X("refund", 0.0, -1.5, SV),
    SC("refund me", -0.8, CP), X("refunded", 0.0, -1.5, SV), S("regret", -1.5), S("reliable", 1.8),
    C("replacement", SV), X("replied", 0.0, -1.5, SV), X("replies", 0.0, -1.5, SV),
    X("reply", 0.0, -1.5, SV), C("reservation", SV | B1), X("resolved", 1.2, -1.5, SV),
    X("respect", 1.0, -1.5, 0), X("respond", 0.0, -1.5, SV), X("responded", 0.0, -1.5, SV),
    X("response", 0.0, -1.5, SV), C("restock", B2), C("return", SV), C("returns", SV),
    SC("rich", 0.8, S1), S("ridiculous", -2.0), SC("rip off", -2.5, CP), SC("ripoff", -2.5, CP),
    C("room", SV), SF("round in circles", -1.5), C("router", SV), S("rude", -2.2),
    S("running out", -1.0), S("sad", -1.8), S("safe", 0.8), SF("safe and sound", 1.5),
    C("safety", UR), S("satisfied", 1.8), SC("scam", -2.8, CP), SC("scammed", -2.8, CP),
    S("scared", -1.5), C("seat", SV), C("seats", SV), C("seats left", B2), C("send help", UR),
    M("seriously", 1.2), C("serum", SV), X("service", 0.0, -0.8, SV), F("shall"), S("shame", -1.5),
    S("shameful", -2.3), C("shampoo", SV), SC("shard of glass", -2.0, UR), F("she"),
    C("ship to", B2), C("shipping", SV | B1), C("shipping to", B2), S("shocking", -2.2),
    C("shop", SV), F("should"), FQ("should i", QO), N("should not"), SF("shout out", 1.5),
    X("show up", 0.0, -1.2, 0), X("showed up", 0.0, -1.5, 0), SC("sick", -1.5, UR),
    SF("sick of", -2.0), X("sign", 0.0, -1.0, 0), X("signal", 0.0, -1.5, SV), S("simple", 0.8),
    F("since"), C("site", SV), C("size", SV | B1), C("sizing", SV), C("skin", SV),
    C("skincare", SV), M("slightly", 0.6), S("slow", -1.5), SC("small claims", -1.2, UR),
    S("smelly", -1.8), SC("smoke", -1.0, UR), SC("smoking", -1.0, UR), S("smooth", 1.5),
    SC("smudge", -1.2, CP), SC("smudges", -1.2, CP), M("so", 1.3), M("so much", 1.3),
    S("soft", 1.0), S("soggy", -1.5), C("sold out", B1), SC("solicitor", -1.0, UR), S("solid", 1.4),
    X("solution", 0.3, -1.5, SV), X("solved", 1.2, -1.5, SV), F("some"), M("somewhat", 0.7),
    S("sorry", -0.4), M("sort of", 0.7), X("sorted", 1.2, -1.2, SV), S("speedy", 1.5),
    S("spot on", 2.0), S("spotless", 2.0), C("staff", SV), S("stain", -1.0), S("stained", -1.0),
    S("stale", -1.5), C("stay", SV), F("still"), NC("still no", CP), NC("still not", CP),
    SFC("still nothing", -1.5, CP), SFC("still waiting", -1.8, CP), C("store", SV),
    S("strike", -0.8), S("struggle", -1.2), S("stuck", -1.2), S("stunning", 2.6), S("sturdy", 1.4),
    C("subscription", SV), M("such", 1.2), S("suck", -2.0), S("sucks", -2.2), SC("sue", -1.5, UR),
    C("sugar daddy", S2), SC("suing", -1.5, UR), C("suitcase", SV), MS("super", 1.3, 1.8),
    M("super duper", 1.4), S("superb", 2.6), C("support", SV), S("sweet", 1.5), C("table", SV),
    SFC("take my money", 1.5, B2), S("tasty", 2.0), C("tech support", SV), C("technician", SV),
    C("telegram", S2), S("terrible", -2.5), F("than"), S("thank", 1.2), S("thank you", 1.5),
    S("thanks", 1.2), SF("thanks for nothing", -2.2), SF("thanks in advance", 0.3), F("that"),
    FQ("that said", BU), F("the"), SC("the er", -1.5, UR), F("their"), F("them"), F("then"),
    F("there"), F("these"), F("they"), F("this"), F("those"), SC("threat", -2.0, UR),
    SC("threatened", -2.2, UR), SC("threatening", -2.2, UR), SC("threats", -2.0, UR),
    C("ticket", SV | B1), C("tickets", SV | B1), C("tickets left", B2), S("tiny", -0.8), F("to"),
    SC("to court", -1.5, UR), M("too", 1.3), S("top notch", 2.2), S("torn", -1.2),
    C("torn between", B2), M("totally", 1.3), C("tracking", SV), C("trading", S1), C("train", SV),
    S("trouble", -1.3), M("truly", 1.3), X("turned up", 0.0, -1.5, 0), S("ugly", -2.2),
    SC("unacceptable", -2.5, CP), S("unbeatable", 2.2), S("undercooked", -1.5),
    S("unfriendly", -2.0), S("unhappy", -2.0), S("unhelpful", -2.0), S("unprofessional", -2.2),
    SC("unreachable", -2.0, CP), SC("unsafe", -2.0, UR), F("until"), SC("unusable", -2.2, CP),
    F("up"), X("update", 0.0, -1.0, SV), S("upgrade", 0.8), S("upgraded", 1.5), S("upset", -1.8),
    SC("urgent", -0.3, UR), SC("urgently", -0.3, UR), F("us"), S("useful", 1.6), S("useless", -2.2),
    M("utterly", 1.4), S("value for money", 1.0), M("very", 1.3), F("via"),
    C("visit my profile", S2), S("wait", -0.4), C("waiter", SV), S("waiting", -0.8),
    C("waitress", SV), SFC("want my money back", -1.0, CP), C("want to buy", B2),
    C("want to order", B2), X("warning", 0.0, -1.0, 0), C("warranty", SV), F("was"), N("was not"),
    S("waste", -2.0), SF("waste of", -2.2), X("water", 0.0, -0.8, 0), M("way", 1.2), F("we"),
    SC("weapon", -2.0, UR), C("website", SV), SF("well done", 2.0), F("were"), N("were not"),
    FQ("what", QO), FQ("what a", 0), P("what is the price", QO, B2), C("whatsapp", S2), F("when"),
    FQ("when are", QO), FQ("when can", QO), FQ("when do", QO), FQ("when does", QO),
    FQ("when exactly", QO), FQ("when is", QO), FQ("when will", QO), F("where"), FQ("where are", QO),
    FQ("where can", QO), P("where can i buy", QO, B2), P("where can i find", QO, B2),
    P("where can i get", QO, B2), FQ("where do", QO), FQ("where does", QO), FQ("where is", QO),
    FQ("where to", QO), P("where to buy", QO, B2), FQ("which", QO), F("while"), FQ("who", QO),
    FQ("why", QO), X("wifi", 0.0, -1.2, SV), F("will"), C("will buy", B2), FQ("will it", QO),
    N("will not"), FQ("will the", QO), FQ("will there", QO), FQ("will you", QO), C("win", S1),
    C("winner", S1), F("with"), N("without"), S("wonderful", 2.6), FQ("wondering if", QA),
    X("work", 0.0, -1.2, SV), X("worked", 0.0, -1.2, SV), X("working", 0.0, -1.5, SV),
    X("works", 0.0, -1.5, SV), S("worried", -1.2), S("worse", -2.0), S("worst", -2.8),
    S("worth", 1.5), S("worth it", 1.8), F("would"), SF("would have liked", -0.6),
    FQ("would it", QO), C("would like to order", B2), N("would not"), FQ("would you", QO),
    S("wow", 1.8), S("wrecked", -1.8), S("wrong", -1.5), S("yay", 2.0), F("you"), F("your"),
    F("yours"), S("yummy", 2.0), N("zero"),
};

#define NLEX(t) ((int)(sizeof(t) / sizeof((t)[0])))

static const struct {
    const cr_lex_t *t;
    int n;
    const char *name;
} s_lex[2] = {{s_lex_fr, NLEX(s_lex_fr), "fr"}, {s_lex_en, NLEX(s_lex_en), "en"}};

/* Emoji by code point (sorted); a variation selector or skin tone after one
 * is ignored. Emoji not listed are neutral. */
typedef struct {
    uint32_t cp;
    float v;
    uint16_t cues;
} cr_emoji_t;

static const cr_emoji_t s_emoji[] = {
    {0x2639, -1.5f, 0},  /* ☹ */  {0x263A, 1.8f, 0},   /* ☺ */  {0x2665, 2.0f, 0},   /* ♥ */
    {0x26A0, -0.5f, 0},  /* ⚠ */  {0x2705, 1.0f, 0},   /* ✅ */ {0x2714, 1.0f, 0},   /* ✔ */
    {0x2728, 1.2f, 0},   /* ✨ */ {0x274C, -1.2f, 0},  /* ❌ */ {0x2764, 2.2f, 0},   /* ❤ */
    {0x2B50, 1.5f, 0},   /* ⭐ */ {0x1F31F, 1.5f, 0},  /* 🌟 */ {0x1F381, 1.0f, 0},  /* 🎁 */
    {0x1F389, 2.0f, 0},  /* 🎉 */ {0x1F449, 0.0f, S1}, /* 👉 */ {0x1F44B, 0.5f, 0},  /* 👋 */
    {0x1F44C, 1.8f, 0},  /* 👌 */ {0x1F44D, 1.8f, 0},  /* 👍 */ {0x1F44E, -2.0f, 0}, /* 👎 */
    {0x1F44F, 1.8f, 0},  /* 👏 */ {0x1F494, -2.0f, 0}, /* 💔 */ {0x1F495, 2.0f, 0},  /* 💕 */
    {0x1F496, 2.0f, 0},  /* 💖 */ {0x1F497, 2.0f, 0},  /* 💗 */ {0x1F499, 2.0f, 0},  /* 💙 */
    {0x1F49A, 2.0f, 0},  /* 💚 */ {0x1F49B, 2.0f, 0},  /* 💛 */ {0x1F49C, 2.0f, 0},  /* 💜 */
    {0x1F4A9, -2.0f, 0}, /* 💩 */ {0x1F4AA, 1.5f, 0},  /* 💪 */ {0x1F4AF, 1.8f, 0},  /* 💯 */
    {0x1F4B0, 0.0f, S1}, /* 💰 */ {0x1F4B5, 0.0f, S1}, /* 💵 */ {0x1F4B8, 0.0f, S1}, /* 💸 */
    {0x1F525, 1.5f, 0},  /* 🔥 */ {0x1F595, -2.5f, 0}, /* 🖕 */ {0x1F5A4, 1.5f, 0},  /* 🖤 */
    {0x1F600, 2.0f, 0},  /* 😀 */ {0x1F601, 2.0f, 0},  /* 😁 */ {0x1F602, 1.0f, 0},  /* 😂 */
    {0x1F603, 2.0f, 0},  /* 😃 */ {0x1F604, 2.0f, 0},  /* 😄 */ {0x1F605, 0.8f, 0},  /* 😅 */
    {0x1F606, 1.8f, 0},  /* 😆 */ {0x1F607, 1.5f, 0},  /* 😇 */ {0x1F609, 1.2f, 0},  /* 😉 */
    {0x1F60A, 2.0f, 0},  /* 😊 */ {0x1F60B, 2.0f, 0},  /* 😋 */ {0x1F60C, 1.2f, 0},  /* 😌 */
    {0x1F60D, 2.5f, 0},  /* 😍 */ {0x1F60E, 1.5f, 0},  /* 😎 */ {0x1F60F, -0.3f, 0}, /* 😏 */
    {0x1F610, -0.5f, 0}, /* 😐 */ {0x1F611, -0.8f, 0}, /* 😑 */ {0x1F612, -1.5f, 0}, /* 😒 */
    {0x1F613, -1.0f, 0}, /* 😓 */ {0x1F614, -1.5f, 0}, /* 😔 */ {0x1F615, -1.2f, 0}, /* 😕 */
    {0x1F616, -1.5f, 0}, /* 😖 */ {0x1F618, 2.0f, 0},  /* 😘 */ {0x1F61B, 1.2f, 0},  /* 😛 */
    {0x1F61C, 1.2f, 0},  /* 😜 */ {0x1F61D, 1.2f, 0},  /* 😝 */ {0x1F61E, -1.8f, 0}, /* 😞 */
    {0x1F620, -2.2f, 0}, /* 😠 */ {0x1F621, -2.5f, 0}, /* 😡 */ {0x1F622, -1.8f, 0}, /* 😢 */
    {0x1F623, -1.5f, 0}, /* 😣 */ {0x1F624, -1.8f, 0}, /* 😤 */ {0x1F625, -1.5f, 0}, /* 😥 */
    {0x1F628, -1.2f, 0}, /* 😨 */ {0x1F629, -1.6f, 0}, /* 😩 */ {0x1F62B, -1.6f, 0}, /* 😫 */
    {0x1F62C, -0.8f, 0}, /* 😬 */ {0x1F62D, -1.2f, 0}, /* 😭 */ {0x1F630, -1.2f, 0}, /* 😰 */
    {0x1F631, -1.0f, 0}, /* 😱 */ {0x1F633, -0.5f, 0}, /* 😳 */ {0x1F635, -1.0f, 0}, /* 😵 */
    {0x1F637, -0.5f, 0}, /* 😷 */ {0x1F641, -1.5f, 0}, /* 🙁 */ {0x1F642, 1.2f, 0},  /* 🙂 */
    {0x1F644, -1.5f, 0}, /* 🙄 */ {0x1F64C, 2.0f, 0},  /* 🙌 */ {0x1F64F, 1.2f, 0},  /* 🙏 */
    {0x1F680, 0.8f, S1}, /* 🚀 */ {0x1F90D, 1.5f, 0},  /* 🤍 */ {0x1F911, 0.0f, S1}, /* 🤑 */
    {0x1F912, -1.0f, 0}, /* 🤒 */ {0x1F914, 0.0f, 0},  /* 🤔 */ {0x1F915, -1.5f, 0}, /* 🤕 */
    {0x1F917, 1.8f, 0},  /* 🤗 */ {0x1F91D, 1.0f, 0},  /* 🤝 */ {0x1F922, -2.0f, 0}, /* 🤢 */
    {0x1F923, 1.2f, 0},  /* 🤣 */ {0x1F929, 2.5f, 0},  /* 🤩 */ {0x1F92C, -3.0f, 0}, /* 🤬 */
    {0x1F92E, -2.5f, 0}, /* 🤮 */ {0x1F970, 2.5f, 0},  /* 🥰 */ {0x1F973, 2.2f, 0},  /* 🥳 */
    {0x1F974, -0.8f, 0}, /* 🥴 */ {0x1F97A, 0.5f, 0},  /* 🥺 */ {0x1F9E1, 2.0f, 0},  /* 🧡 */
};

/* ASCII emoticons: matched where a word could not go on (":)" after
 * "merci" too), longest first, never inside a link. */
static const struct {
    const char *s;
    float v;
} s_emoticons[] = {
    {">:(", -2.2f}, {":'(", -1.8f}, {":-)", 1.8f}, {":-(", -1.8f}, {":-D", 2.0f}, {":-P", 1.2f},
    {":-p", 1.2f},  {":-/", -1.0f}, {";-)", 1.2f}, {"</3", -2.0f}, {":))", 2.0f}, {":((", -2.0f},
    {":)", 1.8f},   {":(", -1.8f},  {":D", 2.0f},  {":P", 1.2f},  {":p", 1.2f},   {":/", -1.0f},
    {";)", 1.2f},   {"=)", 1.5f},   {"<3", 2.0f},  {"^^", 1.2f},  {":|", -0.5f},
};

/* Folding of U+0100..U+017F (Latin Extended-A) to a base letter; '*' is
 * "oe" (U+0152, U+0153). Latin-1 has its own table below. */
static const char s_latin_ext_a[] =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkkllllllllllnnnnnnnnnoooooo**rrrrrrss"
    "ssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/* U+00C0..U+00FF: folded letters (NULL: × and ÷, not letters). */
static const char *const s_latin1[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e",  "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o",  NULL, "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e",  "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o",  NULL, "o", "u", "u", "u", "u", "y", "th", "y",
};

/* Top-level domains that make "name.tld" a link without "http" or a slash
 * (ambiguous ones such as .fr or .me need the slash: "fini.De plus"). */
static const char *const s_tlds[] = {"app", "biz",  "club", "com",   "info", "io",  "link",
                                     "ly",  "net",  "online", "org", "shop", "site", "store",
                                     "top", "xyz"};

/* ------------------------------------------------------------------------ */
/* Tokens                                                                    */

#define S_NEG_REACH 3      /* content words a negator turns around */
#define S_BUF_LEN 8192     /* folded words */
#define S_WORD_MAX 48      /* longer words are cut (they match nothing anyway) */
#define S_MAX_LINKS 16     /* links remembered to find repeated ones */

enum { T_WORD, T_NUM, T_PUNCT, T_EMOJI, T_MENTION };

enum {
    TF_CAPS = 1 << 0,    /* written in capitals (two letters or more) */
    TF_ELONG = 1 << 1,   /* had a letter repeated three times or more */
    TF_HASH = 1 << 2,    /* a hashtag's word */
    TF_ELIDED = 1 << 3,  /* a French elision (l', qu'...): French evidence */
    TF_CONTR = 1 << 4,   /* an English contraction ('s, n't...): English evidence */
};

typedef struct {
    uint16_t off, len; /* T_WORD, T_NUM: the folded word in the buffer */
    uint32_t src;      /* the token as written: text[src .. src + slen) */
    uint16_t slen;
    uint8_t kind;
    uint8_t flags;
    uint32_t mark;     /* T_PUNCT: '.', '!', '?', ',', ';' ('\n' ends a sentence too) */
    float val;         /* T_EMOJI: valence */
    uint16_t ecues;    /* T_EMOJI: cues */
    int16_t hit[2];    /* T_WORD: the entry equal to the word in each lexicon, or -1 */
    int16_t lb[2];     /* T_WORD: the first entry not below the word (its phrases follow) */
} tok_t;

typedef struct {
    const char *text;
    size_t len;
    int ntok;
    size_t blen; /* bytes used in buf */
    int truncated;
    /* counted while tokenising */
    int qmarks, excls;
    int links, dup_links;
    uint32_t link_hash[S_MAX_LINKS];
    int hashtags, mentions, money, accents;
    int caps_words, lower_words;
    int emoji_run, emoji_runs; /* identical emoji in a row; runs of 4 or more */
    uint32_t last_emoji;
    /* not zeroed: written before being read */
    char buf[S_BUF_LEN];
    tok_t tok[CR_CLASSIFY_MAX_TOKENS];
} s_ctx_t;

static int s_keycmp(const char *key, const char *w, size_t len)
{
    int c = strncmp(key, w, len);
    if (c) return c;
    return key[len] ? 1 : 0;
}

static void s_lookup_word(s_ctx_t *x, tok_t *t)
{
    const char *w = x->buf + t->off;
    for (int l = 0; l < 2; l++) {
        const cr_lex_t *tab = s_lex[l].t;
        int lo = 0, hi = s_lex[l].n;
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (s_keycmp(tab[mid].key, w, t->len) < 0) lo = mid + 1;
            else hi = mid;
        }
        t->lb[l] = (int16_t)lo;
        t->hit[l] = (int16_t)((lo < s_lex[l].n && s_keycmp(tab[lo].key, w, t->len) == 0) ? lo : -1);
    }
}

/* Decodes one UTF-8 sequence at s[i..len); returns its length (1 for an
 * invalid byte, *cp then 0xFFFD). */
static size_t s_utf8(const unsigned char *s, size_t len, size_t i, uint32_t *cp)
{
    unsigned c = s[i];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    if (i + n > len) {
        *cp = 0xFFFD;
        return 1;
    }
    for (size_t k = 1; k < n; k++) {
        if ((s[i + k] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i + k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = v;
    return n;
}

/* Character classes. */
enum {
    K_SEP,     /* ends a word, nothing else */
    K_SPACE,   /* white space: also ends a "chunk" (link detection) */
    K_LETTER,  /* fold[] holds its folded form (ASCII), or raw bytes for other scripts */
    K_DIGIT,
    K_APOS,
    K_HYPHEN,
    K_PUNCT,   /* mark holds '.', '!', '?', ',', ';', ':' or '\n' */
    K_EMOJI,
    K_MONEY,
    K_IGNORE,  /* joiners, variation selectors, combining accents, skin tones */
};

typedef struct {
    int kind;
    char fold[4];
    int nfold;  /* bytes in fold */
    int upper;  /* an uppercase letter */
    int accent; /* a letter that lost an accent */
    uint32_t mark;
} s_char_t;

static void s_classify_char(uint32_t cp, const unsigned char *raw, size_t rawlen, s_char_t *c)
{
    memset(c, 0, sizeof *c);
    c->kind = K_SEP;
    if (cp < 0x80) {
        if (cp >= 'a' && cp <= 'z') {
            c->kind = K_LETTER, c->fold[0] = (char)cp, c->nfold = 1;
        } else if (cp >= 'A' && cp <= 'Z') {
            c->kind = K_LETTER, c->fold[0] = (char)(cp + 32), c->nfold = 1, c->upper = 1;
        } else if (cp >= '0' && cp <= '9') {
            c->kind = K_DIGIT, c->fold[0] = (char)cp, c->nfold = 1;
        } else if (cp == ' ' || cp == '\t') {
            c->kind = K_SPACE;
        } else if (cp == '\n' || cp == '\r') {
            c->kind = K_PUNCT, c->mark = '\n';
        } else if (cp == '\'' || cp == '`') {
            c->kind = K_APOS;
        } else if (cp == '-') {
            c->kind = K_HYPHEN;
        } else if (cp == '.' || cp == '!' || cp == '?' || cp == ',' || cp == ';' || cp == ':') {
            c->kind = K_PUNCT, c->mark = cp;
        } else if (cp == '$') {
            c->kind = K_MONEY;
        }
        return;
    }
    if (cp >= 0xC0 && cp <= 0xFF) {
        const char *f = s_latin1[cp - 0xC0];
        if (!f) return;
        c->kind = K_LETTER;
        c->nfold = (int)strlen(f);
        memcpy(c->fold, f, (size_t)c->nfold);
        c->upper = cp <= 0xDE;
        c->accent = cp != 0xDF && cp != 0xC6 && cp != 0xE6;
        return;
    }
    if (cp >= 0x100 && cp <= 0x17F) {
        char f = s_latin_ext_a[cp - 0x100];
        c->kind = K_LETTER;
        c->accent = 1;
        if (f == '*') {
            memcpy(c->fold, "oe", 2), c->nfold = 2, c->accent = 0;
            c->upper = cp == 0x152;
        } else {
            c->fold[0] = f, c->nfold = 1;
        }
        return;
    }
    switch (cp) {
    case 0xA0: case 0x2000: case 0x2001: case 0x2002: case 0x2003: case 0x2004: case 0x2005:
    case 0x2006: case 0x2007: case 0x2008: case 0x2009: case 0x200A: case 0x202F: case 0x205F:
    case 0x3000:
        c->kind = K_SPACE;
        return;
    case 0xAD: case 0x200C: case 0x200D: case 0x2060: case 0xFEFF:
        c->kind = K_IGNORE;
        return;
    case 0x2018: case 0x2019: case 0x201B: case 0x2032: case 0x02BC:
        c->kind = K_APOS;
        return;
    case 0x2010: case 0x2011:
        c->kind = K_HYPHEN;
        return;
    case 0x2026: case 0x3002: case 0xFF0E:
        c->kind = K_PUNCT, c->mark = '.';
        return;
    case 0xA1: case 0x203C: case 0x2755: case 0x2757: case 0xFF01:
        c->kind = K_PUNCT, c->mark = '!';
        return;
    case 0xBF: case 0x2047: case 0x2048: case 0x2049: case 0x2753: case 0x2754: case 0xFF1F:
        c->kind = K_PUNCT, c->mark = '?';
        return;
    case 0xFF0C: case 0x3001:
        c->kind = K_PUNCT, c->mark = ',';
        return;
    case 0x2028: case 0x2029: case 0x85:
        c->kind = K_PUNCT, c->mark = '\n';
        return;
    case 0xA3: case 0xA5: case 0xA2:
        c->kind = K_MONEY;
        return;
    default:
        break;
    }
    if ((cp >= 0x300 && cp <= 0x36F) || (cp >= 0xFE00 && cp <= 0xFE0F) ||
        (cp >= 0x1F3FB && cp <= 0x1F3FF) || (cp >= 0xE0000 && cp <= 0xE007F) ||
        (cp >= 0x1F1E6 && cp <= 0x1F1FF)) {
        c->kind = K_IGNORE;
        return;
    }
    if (cp >= 0x20A0 && cp <= 0x20CF) {
        c->kind = K_MONEY;
        return;
    }
    if ((cp >= 0x2100 && cp <= 0x2BFF) || (cp >= 0x1F000 && cp <= 0x1FAFF)) {
        c->kind = K_EMOJI;
        return;
    }
    if ((cp >= 0x180 && cp <= 0x2FF) || (cp >= 0x370 && cp <= 0x1FFF) ||
        (cp >= 0x3040 && cp <= 0xD7FF) || (cp >= 0xF900 && cp <= 0xFDFF) ||
        (cp >= 0xFF21 && cp <= 0xFFDC) || (cp >= 0x20000 && cp <= 0x3FFFF)) {
        /* other scripts: kept as written, lowercased only for ASCII */
        c->kind = K_LETTER;
        c->nfold = (int)rawlen;
        memcpy(c->fold, raw, rawlen);
        return;
    }
    /* the rest (other punctuation, symbols, private use, U+FFFD) separates */
}

static const cr_emoji_t *s_emoji_find(uint32_t cp)
{
    int lo = 0, hi = (int)(sizeof s_emoji / sizeof s_emoji[0]);
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (s_emoji[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < (int)(sizeof s_emoji / sizeof s_emoji[0]) && s_emoji[lo].cp == cp) return &s_emoji[lo];
    return NULL;
}

static int s_ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int s_starts_ci(const char *s, size_t len, size_t i, const char *p)
{
    size_t n = strlen(p);
    if (i + n > len) return 0;
    for (size_t k = 0; k < n; k++)
        if (s_ascii_lower((unsigned char)s[i + k]) != p[k]) return 0;
    return 1;
}

static int s_is_ascii_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Room for one more token and a word. */
static int s_room(s_ctx_t *x)
{
    if (x->ntok >= CR_CLASSIFY_MAX_TOKENS - 2 || x->blen + S_WORD_MAX + 8 > S_BUF_LEN) {
        x->truncated = 1;
        return 0;
    }
    return 1;
}

static tok_t *s_push(s_ctx_t *x, int kind, size_t src, size_t slen)
{
    tok_t *t = &x->tok[x->ntok++];
    memset(t, 0, sizeof *t);
    t->kind = (uint8_t)kind;
    t->src = (uint32_t)src;
    t->slen = (uint16_t)(slen > 65535 ? 65535 : slen);
    t->hit[0] = t->hit[1] = -1;
    t->off = (uint16_t)x->blen;
    return t;
}

/* Adds a word (already folded) as a token, e.g. the "not" of "n't". */
static void s_push_word(s_ctx_t *x, const char *w, size_t src, size_t slen, int flags)
{
    if (!s_room(x)) return;
    tok_t *t = s_push(x, T_WORD, src, slen);
    size_t n = strlen(w);
    memcpy(x->buf + x->blen, w, n);
    x->blen += n;
    t->len = (uint16_t)n;
    t->flags = (uint8_t)flags;
    s_lookup_word(x, t);
}

/* Ends the word being built (tokens[ntok - 1]); a word made of digits only
 * is a number. Looks it up, and retries an elongated word with its doubled
 * letters single ("nuul" from "nuuuul" is "nul"). */
static void s_end_word(s_ctx_t *x, tok_t *t, size_t src_end, int upper, int lower)
{
    t->len = (uint16_t)(x->blen - t->off);
    t->slen = (uint16_t)(src_end - t->src > 65535 ? 65535 : src_end - t->src);
    if (t->len == 0) {
        x->ntok--;
        return;
    }
    int digits = 1;
    for (size_t k = 0; k < t->len; k++)
        if (x->buf[t->off + k] < '0' || x->buf[t->off + k] > '9') digits = 0;
    if (digits) {
        t->kind = T_NUM;
        return;
    }
    if (upper >= 2 && lower == 0) t->flags |= TF_CAPS;
    if (upper + lower >= 2) {
        if (lower) x->lower_words++;
        else x->caps_words++;
    }
    s_lookup_word(x, t);
    if ((t->flags & TF_ELONG) && t->hit[0] < 0 && t->hit[1] < 0) {
        char *w = x->buf + t->off;
        char orig[S_WORD_MAX + 1];
        size_t olen = t->len, n = 0;
        memcpy(orig, w, olen);
        for (size_t k = 0; k < olen; k++)
            if (k == 0 || orig[k] != orig[k - 1] || orig[k] < 'a' || orig[k] > 'z')
                w[n++] = orig[k];
        t->len = (uint16_t)n;
        s_lookup_word(x, t);
        if (t->hit[0] < 0 && t->hit[1] < 0) { /* keep what was written */
            memcpy(w, orig, olen);
            t->len = (uint16_t)olen;
            s_lookup_word(x, t);
        }
        x->blen = t->off + t->len;
    }
}

static uint32_t s_hash_link(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t k = 0; k < n; k++) {
        h ^= (uint32_t)s_ascii_lower((unsigned char)s[k]);
        h *= 16777619u;
    }
    return h;
}

/* Consumes a link from i to the next white space; counts it (and whether it
 * was seen before). Returns the index after it. */
static size_t s_link(s_ctx_t *x, size_t i)
{
    const char *s = x->text;
    size_t j = i;
    while (j < x->len && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r') j++;
    if (j == i) j++; /* always move on */
    size_t end = j;
    while (end > i && (s[end - 1] == '.' || s[end - 1] == ',' || s[end - 1] == ')' ||
                       s[end - 1] == '!' || s[end - 1] == '?'))
        end--;
    /* "http://", "https://", "www." do not make two links different */
    size_t k = i;
    if (s_starts_ci(s, x->len, k, "https://")) k += 8;
    else if (s_starts_ci(s, x->len, k, "http://")) k += 7;
    if (s_starts_ci(s, x->len, k, "www.")) k += 4;
    uint32_t h = s_hash_link(s + k, end > k ? end - k : 0);
    int n = x->links < S_MAX_LINKS ? x->links : S_MAX_LINKS;
    for (int m = 0; m < n; m++)
        if (x->link_hash[m] == h) x->dup_links++;
    if (x->links < S_MAX_LINKS) x->link_hash[x->links] = h;
    x->links++;
    return j;
}

/* At s[i] == '.' inside a chunk: is "name.tld" a link? */
static int s_is_domain(const char *s, size_t len, size_t i)
{
    size_t j = i + 1, n = 0;
    while (j < len && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'))) j++, n++;
    if (n < 2 || n > 10) return 0;
    if (j < len && s[j] == '/') return 1;
    if (j < len && (s_is_ascii_alnum((unsigned char)s[j]) || s[j] == '-' || s[j] == '_' ||
                    (unsigned char)s[j] >= 0x80))
        return 0;
    for (size_t t = 0; t < sizeof s_tlds / sizeof s_tlds[0]; t++) {
        size_t tl = strlen(s_tlds[t]);
        if (tl == n && s_starts_ci(s, len, i + 1, s_tlds[t])) return 1;
    }
    return 0;
}

/* French elisions: the word before the apostrophe, and what it stands for. */
static const char *s_elision(const char *w, size_t n)
{
    static const char *const from[] = {"l", "j", "n", "d", "c", "s", "m", "t", "qu",
                                       "jusqu", "lorsqu", "puisqu", "quoiqu"};
    static const char *const to[] = {"le", "je", "ne", "de", "ce", "se", "me", "te", "que",
                                     "jusque", "lorsque", "puisque", "quoique"};
    for (size_t k = 0; k < sizeof from / sizeof from[0]; k++)
        if (strlen(from[k]) == n && memcmp(from[k], w, n) == 0) return to[k];
    return NULL;
}

static void s_tokenise(s_ctx_t *x)
{
    const unsigned char *s = (const unsigned char *)x->text;
    size_t len = x->len;
    size_t i = 0;
    tok_t *word = NULL;       /* the word being built */
    int upper = 0, lower = 0; /* its letters */
    int chunk_tok = 0;        /* first token of the current chunk (since white space) */
    size_t chunk_blen = 0, chunk_start = 0;
    int at_chunk_start = 1;
    int hash_next = 0;        /* the next word is a hashtag's */

#define END_WORD(at)                                                                            \
    do {                                                                                        \
        if (word) s_end_word(x, word, (at), upper, lower);                                      \
        word = NULL;                                                                            \
    } while (0)

    while (i < len) {
        if (!word && !s_room(x)) break;
        if (at_chunk_start) {
            chunk_tok = x->ntok, chunk_blen = x->blen, chunk_start = i;
            at_chunk_start = 0;
        }
        /* links */
        if (!word && (s_starts_ci((const char *)s, len, i, "http://") ||
                      s_starts_ci((const char *)s, len, i, "https://") ||
                      s_starts_ci((const char *)s, len, i, "www."))) {
            i = s_link(x, i);
            continue;
        }
        uint32_t cp;
        size_t n = s_utf8(s, len, i, &cp);
        s_char_t c;
        s_classify_char(cp, s + i, n, &c);

        if (c.kind == K_LETTER || c.kind == K_DIGIT) {
            if (!word) {
                word = s_push(x, T_WORD, i, 0);
                upper = lower = 0;
                if (hash_next) word->flags |= TF_HASH;
                hash_next = 0;
            }
            if (x->blen - word->off + (size_t)c.nfold <= S_WORD_MAX) {
                if (c.kind == K_LETTER && c.nfold == 1 && x->blen - word->off >= 2 &&
                    x->buf[x->blen - 1] == c.fold[0] && x->buf[x->blen - 2] == c.fold[0]) {
                    word->flags |= TF_ELONG; /* a third one in a row: dropped */
                } else {
                    memcpy(x->buf + x->blen, c.fold, (size_t)c.nfold);
                    x->blen += (size_t)c.nfold;
                }
            }
            if (c.kind == K_LETTER) {
                if (c.upper) upper++;
                else if (c.nfold && c.fold[0] >= 'a' && c.fold[0] <= 'z') lower++;
                if (c.accent) x->accents++;
            }
            i += n;
            continue;
        }
        if (c.kind == K_IGNORE) {
            i += n;
            continue;
        }
        if (c.kind == K_APOS && word && i + n < len) {
            /* between letters: elision, contraction, or part of the word */
            uint32_t cp2;
            size_t n2 = s_utf8(s, len, i + n, &cp2);
            s_char_t c2;
            s_classify_char(cp2, s + i + n, n2, &c2);
            const char *w = x->buf + word->off;
            size_t wl = x->blen - word->off;
            if (c2.kind == K_LETTER) {
                const char *el = s_elision(w, wl);
                size_t a = i + n; /* after the apostrophe */
                size_t k = a;
                char suf[4] = {0};
                size_t sl = 0;
                while (k < len && sl < 3 &&
                       ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z')))
                    suf[sl++] = (char)s_ascii_lower(s[k++]);
                int suf_ends = sl > 0 && (k >= len || !(s_is_ascii_alnum(s[k]) || s[k] >= 0x80));
                if (el) {
                    x->blen = word->off;
                    size_t el_len = strlen(el);
                    memcpy(x->buf + x->blen, el, el_len);
                    x->blen += el_len;
                    word->flags |= TF_ELIDED;
                    END_WORD(i);
                    i = a;
                    continue;
                }
                if (suf_ends && sl == 1 && suf[0] == 't' && wl >= 2 && w[wl - 1] == 'n') {
                    /* n't: "don't" is "do not", "can't" "can not", "won't" "will not" */
                    x->blen--;
                    wl--;
                    if (wl == 2 && memcmp(w, "ca", 2) == 0) x->buf[x->blen++] = 'n';
                    else if (wl == 2 && memcmp(w, "wo", 2) == 0) {
                        x->blen = word->off;
                        memcpy(x->buf + x->blen, "will", 4);
                        x->blen += 4;
                    } else if (wl == 2 && memcmp(w, "ai", 2) == 0) {
                        x->blen = word->off;
                        memcpy(x->buf + x->blen, "is", 2);
                        x->blen += 2;
                    }
                    word->flags |= TF_CONTR;
                    /* the "not" starts at the "n" as written */
                    size_t at = (s[i - 1] == 'n' || s[i - 1] == 'N') ? i - 1 : i;
                    END_WORD(at);
                    s_push_word(x, "not", at, k - at, TF_CONTR);
                    i = k;
                    continue;
                }
                if (suf_ends) {
                    const char *exp = NULL;
                    int known = 1;
                    if (sl == 1 && suf[0] == 's') exp = "";
                    else if (sl == 1 && suf[0] == 'm') exp = "am";
                    else if (sl == 1 && suf[0] == 'd') exp = "would";
                    else if (sl == 2 && memcmp(suf, "re", 2) == 0) exp = "are";
                    else if (sl == 2 && memcmp(suf, "ve", 2) == 0) exp = "have";
                    else if (sl == 2 && memcmp(suf, "ll", 2) == 0) exp = "will";
                    else known = 0;
                    if (known) {
                        word->flags |= TF_CONTR;
                        END_WORD(i);
                        if (*exp) s_push_word(x, exp, i, k - i, TF_CONTR);
                        i = k;
                        continue;
                    }
                }
                /* aujourd'hui, quelqu'un, O'Neil: one word */
                i += n;
                continue;
            }
        }
        /* anything else ends a word */
        END_WORD(i);
        if (c.kind == K_SPACE) {
            at_chunk_start = 1;
            i += n;
            continue;
        }
        if (c.kind == K_PUNCT && cp == '.' && x->ntok > chunk_tok &&
            s_is_domain((const char *)s, len, i)) {
            /* "bit.ly/x", "deals-fous.shop": the chunk was a link */
            x->ntok = chunk_tok;
            x->blen = chunk_blen;
            i = s_link(x, chunk_start);
            continue;
        }
        /* emoticons (not inside a word: "10:30" is a time) */
        if (cp == ':' || cp == ';' || cp == '=' || cp == '<' || cp == '>' || cp == '^') {
            int found = 0;
            if (!(i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')) {
                for (size_t e = 0; e < sizeof s_emoticons / sizeof s_emoticons[0]; e++) {
                    size_t el = strlen(s_emoticons[e].s);
                    if (i + el <= len && memcmp(s + i, s_emoticons[e].s, el) == 0 &&
                        (i + el == len || !s_is_ascii_alnum(s[i + el]))) {
                        tok_t *t = s_push(x, T_EMOJI, i, el);
                        t->val = s_emoticons[e].v;
                        i += el;
                        found = 1;
                        break;
                    }
                }
            }
            if (found) continue;
        }
        if (c.kind == K_PUNCT) {
            if (c.mark == '\n') at_chunk_start = 1;
            tok_t *t = s_push(x, T_PUNCT, i, n);
            t->mark = c.mark;
            if (c.mark == '?') x->qmarks++;
            if (c.mark == '!') x->excls++;
            i += n;
            continue;
        }
        if (c.kind == K_EMOJI) {
            tok_t *t = s_push(x, T_EMOJI, i, n);
            const cr_emoji_t *e = s_emoji_find(cp);
            if (e) t->val = e->v, t->ecues = e->cues;
            if (cp == x->last_emoji) {
                if (++x->emoji_run == 4) x->emoji_runs++;
            } else {
                x->emoji_run = 1;
            }
            x->last_emoji = cp;
            i += n;
            continue;
        }
        if (c.kind == K_MONEY) {
            x->money++;
            i += n;
            continue;
        }
        if (cp == '#' && i + 1 < len && (s_is_ascii_alnum(s[i + 1]) || s[i + 1] >= 0xC0)) {
            x->hashtags++;
            hash_next = 1;
            i += n;
            continue;
        }
        if (cp == '@' && i + 1 < len && (s_is_ascii_alnum(s[i + 1]) || s[i + 1] == '_')) {
            size_t j = i + 1;
            while (j < len && (s_is_ascii_alnum(s[j]) || s[j] == '_' ||
                               (s[j] == '.' && j + 1 < len && s_is_ascii_alnum(s[j + 1]))))
                j++;
            s_push(x, T_MENTION, i, j - i);
            x->mentions++;
            i = j;
            continue;
        }
        i += n; /* separators, hyphens, lone apostrophes */
    }
    END_WORD(i);
#undef END_WORD
    if (i < len) x->truncated = 1;
}

/* ------------------------------------------------------------------------ */
/* Scoring                                                                   */

typedef struct {
    s_ctx_t *x;
    int lang; /* 0 fr, 1 en, 2 both (French first) */
    cr_class_t *out;
    uint32_t cue_labels[CR_CLASS_MAX_CUES]; /* labels each cue may point to */
} s_scorer_t;

/* Does token j's word match w (len bytes)? */
static int s_tok_is(const s_ctx_t *x, int j, const char *w, size_t n)
{
    const tok_t *t = &x->tok[j];
    return t->kind == T_WORD && t->len == n && memcmp(x->buf + t->off, w, n) == 0;
}

/* The longest entry of lexicon l starting at token i: a word, or a phrase
 * over the next tokens. *span = how many tokens it covers. */
static const cr_lex_t *s_match_in(const s_ctx_t *x, int l, int i, int *span)
{
    const tok_t *t = &x->tok[i];
    const cr_lex_t *tab = s_lex[l].t;
    int n = s_lex[l].n;
    const cr_lex_t *best = t->hit[l] >= 0 ? &tab[t->hit[l]] : NULL;
    *span = 1;
    const char *w = x->buf + t->off;
    for (int j = t->hit[l] >= 0 ? t->hit[l] + 1 : t->lb[l]; j < n; j++) {
        const char *k = tab[j].key;
        if (strncmp(k, w, t->len) != 0 || k[t->len] != ' ') break;
        /* the phrase's other words against the next tokens */
        const char *p = k + t->len + 1;
        int m = 1, ok = 1;
        while (*p) {
            const char *sp = strchr(p, ' ');
            size_t wl = sp ? (size_t)(sp - p) : strlen(p);
            if (i + m >= x->ntok || !s_tok_is(x, i + m, p, wl)) {
                ok = 0;
                break;
            }
            m++;
            p += wl + (sp ? 1 : 0);
        }
        if (ok && m > *span) best = &tab[j], *span = m;
    }
    return best;
}

static const cr_lex_t *s_match(const s_scorer_t *sc, int i, int *span)
{
    if (sc->lang < 2) return s_match_in(sc->x, sc->lang, i, span);
    const cr_lex_t *e = s_match_in(sc->x, 0, i, span);
    return e ? e : s_match_in(sc->x, 1, i, span);
}

/* Does token j carry a valence of its own (so that a word before it that is
 * both, such as "super", acts as an intensifier)? */
static int s_has_valence(const s_scorer_t *sc, int j)
{
    if (j >= sc->x->ntok || sc->x->tok[j].kind != T_WORD) return 0;
    int span;
    const cr_lex_t *e = s_match(sc, j, &span);
    return e && e->v != 0;
}

/* Copies text[a .. b) into dst (cap bytes with the NUL), cut at a UTF-8
 * character boundary. */
static void s_copy_text(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void s_cue(s_scorer_t *sc, int i, int span, float weight, int negated, uint32_t labels)
{
    cr_class_t *o = sc->out;
    if (o->ncues >= CR_CLASS_MAX_CUES) {
        o->cues_truncated = 1;
        return;
    }
    const tok_t *a = &sc->x->tok[i], *b = &sc->x->tok[i + span - 1];
    size_t from = a->src, to = b->src + b->slen;
    cr_cue_t *c = &o->cues[o->ncues];
    s_copy_text(c->text, sizeof c->text, sc->x->text + from, to - from);
    c->weight = weight;
    c->negated = (uint8_t)negated;
    c->labels = 0;
    sc->cue_labels[o->ncues] = labels;
    o->ncues++;
}

/* A cue that is not in the text's words ("?", "link", "#x6"). */
static void s_cue_text(s_scorer_t *sc, const char *text, uint32_t labels)
{
    cr_class_t *o = sc->out;
    if (o->ncues >= CR_CLASS_MAX_CUES) {
        o->cues_truncated = 1;
        return;
    }
    cr_cue_t *c = &o->cues[o->ncues];
    s_copy_text(c->text, sizeof c->text, text, strlen(text));
    c->weight = 0;
    c->negated = 0;
    c->labels = 0;
    sc->cue_labels[o->ncues] = labels;
    o->ncues++;
}

static uint32_t s_cue_labels(uint16_t cues)
{
    uint32_t l = 0;
    if (cues & (SV | CP)) l |= CR_LABEL_COMPLAINT;
    if (cues & UR) l |= CR_LABEL_URGENT;
    if (cues & (S1 | S2 | RT | MO)) l |= CR_LABEL_SPAM;
    if (cues & (B1 | B2)) l |= CR_LABEL_PURCHASE_INTENT;
    return l;
}

/* Counts of cues in the text. */
typedef struct {
    int sv, cp, ur, s1, s2, rt, b1, b2, mo;
} s_counts_t;

static void s_count(s_counts_t *k, uint16_t cues, int negated)
{
    if (cues & SV) k->sv++;
    if ((cues & CP) && !negated) k->cp++;
    if ((cues & UR) && !negated) k->ur++;
    if (cues & S1) k->s1++;
    if (cues & S2) k->s2++;
    if (cues & RT) k->rt++;
    if (cues & MO) k->mo++;
    if ((cues & B1) && !negated) k->b1++;
    if ((cues & B2) && !negated) k->b2++;
}

static void s_score(s_scorer_t *sc)
{
    s_ctx_t *x = sc->x;
    cr_class_t *o = sc->out;
    s_counts_t k;
    memset(&k, 0, sizeof k);
    float total_pos = 0, total_neg = 0; /* finished sentences */
    float cur_pos = 0, cur_neg = 0;     /* the current sentence */
    float after = 1;                    /* 1.5 after a contrast, in its sentence */
    float pend = 1;                     /* intensifiers waiting for a sentiment word */
    int pend_age = 0;
    int neg_left = 0;                   /* content words still under a negation */
    int ne_clause = 0;                  /* a "ne" earlier in the clause */
    int conc = 0;                       /* in a concessive clause */
    int at_start = 1;                   /* no content word yet in the sentence */
    int sent_qopen = 0, question = 0;
    int all_caps = x->lower_words == 0;

    for (int i = 0; i < x->ntok;) {
        tok_t *t = &x->tok[i];
        if (t->kind == T_PUNCT) {
            if (t->mark == ',' || t->mark == ';' || t->mark == ':') {
                neg_left = 0, pend = 1, conc = 0, ne_clause = 0;
            } else {
                if (t->mark == '?') cur_pos *= 0.5f; /* "c'est bien ?" asks, does not praise */
                if (sent_qopen && t->mark != '!') question = 1;
                total_pos += cur_pos, total_neg += cur_neg;
                cur_pos = cur_neg = 0;
                after = 1, pend = 1, neg_left = 0, conc = 0, ne_clause = 0;
                at_start = 1, sent_qopen = 0;
            }
            i++;
            continue;
        }
        if (t->kind == T_EMOJI) {
            float v = t->val * after * (conc ? 0.5f : 1);
            if (v > 0) cur_pos += v;
            else cur_neg += v;
            s_count(&k, t->ecues, 0);
            if (v != 0 || t->ecues) s_cue(sc, i, 1, v, 0, s_cue_labels(t->ecues));
            i++;
            continue;
        }
        if (t->kind == T_MENTION) {
            i++;
            continue;
        }
        int span = 1;
        const cr_lex_t *e = t->kind == T_WORD ? s_match(sc, i, &span) : NULL;
        int was_start = at_start;
        if (!e) { /* an unknown word, a number: content */
            if (neg_left > 0) neg_left--;
            if (pend != 1 && ++pend_age > 2) pend = 1;
            at_start = 0;
            i++;
            continue;
        }
        uint16_t fl = e->flags;
        int negated = neg_left > 0 && !(fl & FX);
        /* a negated cue of urgency, complaint or purchase does not count */
        uint16_t cues = negated ? (uint16_t)(e->cues & (SV | S1 | S2 | RT | MO)) : e->cues;
        uint32_t cl = s_cue_labels(cues);
        s_count(&k, e->cues, negated);
        if (was_start && (fl & QO)) sent_qopen = 1, cl |= CR_LABEL_QUESTION;
        if (fl & QA) question = 1, cl |= CR_LABEL_QUESTION;
        if (!(fl & GR)) at_start = 0;
        if (fl & BU) {
            total_pos *= 0.5f, total_neg *= 0.5f, cur_pos *= 0.5f, cur_neg *= 0.5f;
            after = 1.5f, neg_left = 0, pend = 1, conc = 0, ne_clause = 0;
            i += span;
            continue;
        }
        if (fl & CO) conc = 1;
        int is_neg = (fl & NG) != 0;
        if ((fl & NN) && !is_neg) {
            /* "plus": "ne ... plus", or "Plus de réseau" opening a sentence */
            if (ne_clause || (was_start && i + span < x->ntok && s_tok_is(x, i + span, "de", 2)))
                is_neg = 1;
        }
        int is_mult = !is_neg && e->mult != 0 && (e->v == 0 || s_has_valence(sc, i + span));
        float v = (is_neg || is_mult) ? 0 : negated ? e->nv : e->v;
        if (v != 0) {
            v *= pend;
            pend = 1;
            if ((t->flags & TF_CAPS) && !all_caps) v *= 1.4f;
            if (t->flags & TF_ELONG) v *= 1.2f;
            if (conc) v *= 0.5f;
            v *= after;
            if (v > 0) cur_pos += v;
            else cur_neg += v;
            s_cue(sc, i, span, v, negated, cl);
        } else if (cl) {
            s_cue(sc, i, span, 0, 0, cl);
        }
        if (is_neg) {
            if (span == 1 && s_tok_is(x, i, "ne", 2)) ne_clause = 1;
            neg_left = S_NEG_REACH;
            pend = 1;
        } else if (is_mult) {
            if (!(neg_left > 0 && e->mult > 1)) pend *= e->mult; /* "pas très bon": not "très" */
            pend_age = 0;
        } else {
            if (v == 0 && pend != 1 && ++pend_age > 2) pend = 1;
            if (!(fl & FU) && neg_left > 0) neg_left--;
        }
        i += span;
    }
    if (sent_qopen) question = 1;
    total_pos += cur_pos, total_neg += cur_neg;

    float sum = total_pos + total_neg;
    if (sum != 0 && x->excls) {
        int e = x->excls > 3 ? 3 : x->excls;
        sum += (sum > 0 ? 0.25f : -0.25f) * (float)e;
    }
    o->score = sum / sqrtf(sum * sum + 8.0f);
    o->polarity = o->score >= CR_CLASSIFY_POS_MIN   ? CR_POLARITY_POSITIVE
                  : o->score <= CR_CLASSIFY_NEG_MAX ? CR_POLARITY_NEGATIVE
                                                    : CR_POLARITY_NEUTRAL;

    /* labels */
    uint32_t labels = 0;
    if (x->qmarks) {
        question = 1;
        s_cue_text(sc, "?", CR_LABEL_QUESTION);
    }
    if (question) labels |= CR_LABEL_QUESTION;

    int spam = (x->links > 3 ? 3 : x->links) + (x->dup_links ? 2 : 0) + k.s1 + 2 * k.s2 +
               (x->hashtags >= 8 ? 3 : x->hashtags >= 5 ? 2 : 0) + (x->mentions >= 5 ? 2 : 0) +
               ((x->money || k.mo) && k.rt ? 2 : 0) + (x->emoji_runs ? 1 : 0);
    if (spam >= 3) {
        labels |= CR_LABEL_SPAM;
        if (x->links) s_cue_text(sc, "link", CR_LABEL_SPAM);
        if (x->hashtags >= 5) {
            char h[16];
            snprintf(h, sizeof h, "#x%d", x->hashtags);
            s_cue_text(sc, h, CR_LABEL_SPAM);
        }
    } else {
        if (k.cp && o->polarity != CR_POLARITY_POSITIVE) labels |= CR_LABEL_COMPLAINT;
        if (k.sv && o->polarity == CR_POLARITY_NEGATIVE) labels |= CR_LABEL_COMPLAINT;
        if (k.ur && o->polarity != CR_POLARITY_POSITIVE) labels |= CR_LABEL_URGENT;
        /* harm, danger or a legal threat from a customer is also a complaint */
        if ((labels & CR_LABEL_URGENT) && o->polarity == CR_POLARITY_NEGATIVE)
            labels |= CR_LABEL_COMPLAINT;
        if ((k.b2 || (k.b1 && (labels & CR_LABEL_QUESTION))) && !(labels & CR_LABEL_COMPLAINT) &&
            o->polarity != CR_POLARITY_NEGATIVE)
            labels |= CR_LABEL_PURCHASE_INTENT;
    }
    o->labels = labels;

    /* keep the cues that explain something: a sentiment, or a label set */
    int n = 0;
    for (int c = 0; c < o->ncues; c++) {
        uint32_t l = sc->cue_labels[c] & labels;
        if (o->cues[c].weight == 0 && !l) continue;
        o->cues[n] = o->cues[c];
        o->cues[n].labels = l;
        n++;
    }
    o->ncues = n;
}

/* ------------------------------------------------------------------------ */
/* API                                                                       */

static void s_empty(cr_class_t *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->lang, "?", 2);
    out->polarity = CR_POLARITY_NEUTRAL;
}

int cr_classify_n(const char *text, size_t len, const char *lang_hint, cr_class_t *out)
{
    if (out) s_empty(out);
    if (!text || !out) return -1;
    s_ctx_t x;
    memset(&x, 0, offsetof(s_ctx_t, buf));
    x.text = text;
    x.len = len;
    s_tokenise(&x);

    /* language: function words count 1, other lexicon words 0.5, an elision
     * or accented letters for French, a contraction for English */
    float ev[2] = {0, 0};
    for (int i = 0; i < x.ntok; i++) {
        const tok_t *t = &x.tok[i];
        if (t->kind != T_WORD) continue;
        for (int l = 0; l < 2; l++)
            if (t->hit[l] >= 0) ev[l] += (s_lex[l].t[t->hit[l]].flags & FU) ? 1.0f : 0.5f;
        if (t->flags & TF_ELIDED) ev[0] += 1;
        if (t->flags & TF_CONTR) ev[1] += 0.5f;
    }
    ev[0] += 0.5f * (float)(x.accents > 4 ? 4 : x.accents);
    int hint = -1;
    if (lang_hint && strcmp(lang_hint, "fr") == 0) hint = 0;
    else if (lang_hint && strcmp(lang_hint, "en") == 0) hint = 1;
    float d = ev[0] - ev[1];
    int lang;
    if (hint >= 0 && fabsf(d) < 2.0f) lang = hint;
    else if (d >= 0.5f) lang = 0;
    else if (d <= -0.5f) lang = 1;
    else lang = 2;
    memcpy(out->lang, lang == 2 ? "?" : s_lex[lang].name, lang == 2 ? 2 : 3);

    s_scorer_t sc;
    memset(&sc, 0, sizeof sc);
    sc.x = &x;
    sc.lang = lang;
    sc.out = out;
    s_score(&sc);
    out->truncated = (uint8_t)x.truncated;
    return 0;
}

int cr_classify(const char *text, const char *lang_hint, cr_class_t *out)
{
    if (!text) {
        if (out) s_empty(out);
        return -1;
    }
    return cr_classify_n(text, strlen(text), lang_hint, out);
}

static const char *const s_label_names[CR_LABEL_COUNT] = {"question", "complaint", "urgent", "spam",
                                                          "purchase_intent"};

const char *cr_label_name(uint32_t label)
{
    for (int b = 0; b < CR_LABEL_COUNT; b++)
        if (label == (1u << b)) return s_label_names[b];
    return NULL;
}

uint32_t cr_label_from_name(const char *name)
{
    if (!name) return 0;
    for (int b = 0; b < CR_LABEL_COUNT; b++)
        if (strcmp(name, s_label_names[b]) == 0) return 1u << b;
    return 0;
}

size_t cr_label_names(uint32_t labels, const char **names, size_t cap)
{
    size_t n = 0;
    for (int b = 0; b < CR_LABEL_COUNT; b++) {
        if (!(labels & (1u << b))) continue;
        if (names && n < cap) names[n] = s_label_names[b];
        n++;
    }
    return n;
}

const char *cr_polarity_name(cr_polarity_t polarity)
{
    switch (polarity) {
    case CR_POLARITY_NEGATIVE:
        return "negative";
    case CR_POLARITY_POSITIVE:
        return "positive";
    default:
        return "neutral";
    }
}

/* Appends s to buf (length *len, capacity cap), cut at a character boundary. */
static void s_append(char *buf, size_t cap, size_t *len, const char *s)
{
    if (*len + 1 >= cap) return;
    size_t n = strlen(s);
    if (*len + n + 1 > cap) {
        n = cap - 1 - *len;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

size_t cr_class_why(const cr_class_t *c, char *buf, size_t cap)
{
    size_t len = 0;
    if (!buf || cap == 0) return 0;
    buf[0] = '\0';
    if (!c) return 0;
    for (int i = 0; i < c->ncues && i < CR_CLASS_MAX_CUES; i++) {
        const cr_cue_t *q = &c->cues[i];
        char part[96];
        int n = snprintf(part, sizeof part, "%s%s", i ? "; " : "", q->text);
        if (q->weight != 0 && n > 0 && (size_t)n < sizeof part)
            n += snprintf(part + n, sizeof part - (size_t)n, " %+.1f%s", (double)q->weight,
                          q->negated ? " (negated)" : "");
        if (q->labels && n > 0 && (size_t)n < sizeof part) {
            const char *names[CR_LABEL_COUNT];
            size_t m = cr_label_names(q->labels, names, CR_LABEL_COUNT);
            for (size_t j = 0; j < m && (size_t)n < sizeof part; j++)
                n += snprintf(part + n, sizeof part - (size_t)n, "%s%s", j ? "," : " [", names[j]);
            if ((size_t)n < sizeof part) snprintf(part + n, sizeof part - (size_t)n, "]");
        }
        s_append(buf, cap, &len, part);
    }
    return len;
}

int cr_classify_check_tables(char *err, size_t cap)
{
    char dummy[1];
    if (!err || cap == 0) err = dummy, cap = sizeof dummy;
    for (int l = 0; l < 2; l++) {
        const cr_lex_t *t = s_lex[l].t;
        for (int i = 0; i < s_lex[l].n; i++) {
            const char *k = t[i].key;
            size_t n = strlen(k);
            if (n == 0 || k[0] == ' ' || k[n - 1] == ' ' || strstr(k, "  ")) {
                snprintf(err, cap, "%s: key \"%s\": bad spacing", s_lex[l].name, k);
                return -1;
            }
            for (size_t j = 0; j < n; j++) {
                char ch = k[j];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == ' ')) {
                    snprintf(err, cap, "%s: key \"%s\": not folded", s_lex[l].name, k);
                    return -1;
                }
            }
            if (i > 0 && strcmp(t[i - 1].key, k) >= 0) {
                snprintf(err, cap, "%s: \"%s\" after \"%s\": not sorted or duplicate",
                         s_lex[l].name, k, t[i - 1].key);
                return -1;
            }
            if ((t[i].flags & NN) && !(t[i].flags & FU)) {
                snprintf(err, cap, "%s: \"%s\": NN without FU", s_lex[l].name, k);
                return -1;
            }
        }
    }
    for (size_t i = 1; i < sizeof s_emoji / sizeof s_emoji[0]; i++) {
        if (s_emoji[i - 1].cp >= s_emoji[i].cp) {
            snprintf(err, cap, "emoji U+%04X after U+%04X: not sorted", (unsigned)s_emoji[i].cp,
                     (unsigned)s_emoji[i - 1].cp);
            return -1;
        }
    }
    err[0] = '\0';
    return 0;
}
