/* test_bluesky: the Bluesky adapter's record key, facets, JWT expiry,
 * request builders, answer classifiers (with hostile JSON and headers) and
 * its step machine with the session cache: reuse, refresh after
 * ExpiredToken, one session request at a time per account (the others
 * wait for it: single flight), new sessions, read-back
 * of an existing rkey, collisions; all against canned answers (no network). */
#include "cr_adapter.h"
#include "cr_adapters.h"
#include "cr_bluesky.h"

#include <curl/curl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NOW 1700000000000LL /* 2023-11-14T22:13:20Z */
#define BASE "https://pds.example"
#define DID "did:plc:abcdefghijklmnopqrstuvwx"
#define FOUND_DETAIL "found on the platform by reading back; not published again"
#define TOO_LONG "Invalid app.bsky.feed.post record: Record/text must not be longer than 300 graphemes"
#define KEY "5f0c6b1e-2a3d-4c5e-8f90-123456789abc"

/* ---- helpers ----------------------------------------------------------- */

static cr_http_resp_t s_resp(long status, const char *headers, const char *body)
{
    cr_http_resp_t r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.headers = headers ? headers : "";
    r.headers_len = strlen(r.headers);
    r.body = body ? body : "";
    r.body_len = strlen(r.body);
    r.error = "";
    r.sent = 1;
    return r;
}

static cr_http_resp_t s_curl(int code, int sent)
{
    cr_http_resp_t r = s_resp(0, NULL, NULL);
    r.curl_code = code;
    r.sent = sent;
    r.error = curl_easy_strerror((CURLcode)code);
    return r;
}

static void s_b64url(const char *in, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(in), o = 0, i = 0;
    const unsigned char *p = (const unsigned char *)in;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
    }
    out[o] = '\0';
}

/* "hdr.<payload>.sig" with {"exp": exp_s, "n": tag} as its payload. */
static void s_jwt(char *out, size_t cap, long long exp_s, const char *tag)
{
    char payload[128], enc[256];
    snprintf(payload, sizeof payload, "{\"scope\":\"x\",\"exp\":%lld,\"n\":\"%s\"}", exp_s, tag);
    s_b64url(payload, enc);
    snprintf(out, cap, "eyJ0eXAiOiJhdCtqd3QifQ.%s.c2ln", enc);
}

/* A createSession / refreshSession answer with tokens named by tag. */
static char *s_session_body(const char *tag, long long access_exp_s)
{
    char a[300], r[300], at[64], rt[64];
    snprintf(at, sizeof at, "acc-%s", tag);
    snprintf(rt, sizeof rt, "ref-%s", tag);
    s_jwt(a, sizeof a, access_exp_s, at);
    s_jwt(r, sizeof r, NOW / 1000 + 90LL * 86400, rt);
    char *body = malloc(1200);
    snprintf(body, 1200,
             "{\"did\":\"" DID "\",\"handle\":\"alice.bsky.social\",\"accessJwt\":\"%s\","
             "\"refreshJwt\":\"%s\",\"active\":true}",
             a, r);
    return body;
}

static const char *s_req_header(const cr_http_req_t *req, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (strncmp(req->headers[i], name, nl) == 0 && req->headers[i][nl] == ':')
            return req->headers[i] + nl + 2;
    return NULL;
}

/* The token tag inside the Bearer JWT of a request ("acc-1"), or "". */
static const char *s_bearer_tag(const cr_http_req_t *req, char *out, size_t cap)
{
    const char *auth = s_req_header(req, "Authorization");
    out[0] = '\0';
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) return out;
    const char *p = strchr(auth + 7, '.');
    const char *q = p ? strchr(p + 1, '.') : NULL;
    if (!q) return out;
    /* decode the payload */
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char dec[512];
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (const char *c = p + 1; c < q && o + 1 < sizeof dec; c++) {
        const char *w = strchr(a, *c);
        if (!w) break;
        acc = (acc << 6) | (uint32_t)(w - a);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dec[o++] = (char)(acc >> bits);
        }
    }
    dec[o] = '\0';
    json_t *root = json_loads(dec, 0, NULL);
    const char *n = json_string_value(json_object_get(root, "n"));
    snprintf(out, cap, "%s", n ? n : "");
    json_decref(root);
    return out;
}

static json_t *s_req_json(const cr_http_req_t *req)
{
    return json_loadb(req->body, req->body_len, 0, NULL);
}

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__PublishPayload pub;
} fixture_t;

static void s_fixture(fixture_t *f, const char *body, const char *link)
{
    crieur__task__init(&f->task);
    crieur__account__init(&f->acc);
    crieur__publish_payload__init(&f->pub);
    f->task.job_id = 7;
    f->task.attempt = 1;
    f->task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
    f->task.due_ms = NOW;
    f->task.account = &f->acc;
    f->task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    f->task.publish = &f->pub;
    f->acc.id = 3;
    f->acc.platform = "bluesky";
    f->acc.handle = "alice.bsky.social";
    f->acc.api_base = BASE;
    f->acc.token = "abcd-efgh-ijkl-mnop";
    f->pub.post_id = 42;
    f->pub.idempotency_key = KEY;
    f->pub.body = (char *)body;
    f->pub.link = (char *)link;
}

static int s_reset(void **state)
{
    cr_bluesky_sessions_reset();
    return 0;
}

/* ---- record key -------------------------------------------------------- */

static uint64_t s_tid_value(const char *tid)
{
    static const char b32[] = "234567abcdefghijklmnopqrstuvwxyz";
    uint64_t v = 0;
    for (size_t i = 0; i < 13; i++) v = (v << 5) | (uint64_t)(strchr(b32, tid[i]) - b32);
    return v;
}

static void test_rkey(void **state)
{
    char a[14], b[14], c[14];
    assert_int_equal(cr_bluesky_rkey(KEY, a), 0);
    assert_int_equal(cr_bluesky_rkey(KEY, b), 0);
    assert_string_equal(a, b); /* deterministic */
    /* Pinned: changing the derivation would make a retry of a post published
     * before the change write a second record. */
    assert_string_equal(a, "3kl2dd6kzonf2");
    assert_int_equal(strlen(a), 13);
    assert_true(cr_bluesky_tid_valid(a));
    assert_int_equal(cr_bluesky_rkey("5f0c6b1e-2a3d-4c5e-8f90-123456789abd", c), 0);
    assert_string_not_equal(a, c);
    /* a TID in the past: 2023-01-01 + less than 2^45 us */
    uint64_t us = s_tid_value(a) >> 10;
    assert_true(us >= 1672531200000000ULL);
    assert_true(us < 1672531200000000ULL + (1ULL << 45));
    /* many keys: all valid, all distinct */
    char seen[2000][14];
    for (int i = 0; i < 2000; i++) {
        char key[64];
        snprintf(key, sizeof key, "00000000-0000-4000-8000-%012d", i);
        assert_int_equal(cr_bluesky_rkey(key, seen[i]), 0);
        assert_true(cr_bluesky_tid_valid(seen[i]));
        for (int k = 0; k < i; k++) assert_string_not_equal(seen[i], seen[k]);
    }
    assert_int_equal(cr_bluesky_rkey("", a), -1);
    assert_int_equal(cr_bluesky_rkey(NULL, a), -1);
}

static void test_tid_valid(void **state)
{
    assert_true(cr_bluesky_tid_valid("3jzfcijpj2z2a"));
    assert_true(cr_bluesky_tid_valid("2222222222222"));
    assert_false(cr_bluesky_tid_valid("kjzfcijpj2z2a"));  /* top bit set */
    assert_false(cr_bluesky_tid_valid("3jzfcijpj2z2"));   /* 12 */
    assert_false(cr_bluesky_tid_valid("3jzfcijpj2z2aa")); /* 14 */
    assert_false(cr_bluesky_tid_valid("3jzfcijpj2z1a"));  /* '1' is not base32-sortable */
    assert_false(cr_bluesky_tid_valid("3JZFCIJPJ2Z2A"));
    assert_false(cr_bluesky_tid_valid(""));
    assert_false(cr_bluesky_tid_valid(NULL));
}

/* ---- text and facets --------------------------------------------------- */

static void test_post_text(void **state)
{
    fixture_t f;
    size_t len;
    s_fixture(&f, "Spring sale", "https://shop.example/p");
    char *t = cr_bluesky_post_text(&f.task, &len);
    assert_string_equal(t, "Spring sale\n\nhttps://shop.example/p");
    assert_int_equal(len, strlen(t));
    free(t);
    s_fixture(&f, "See https://shop.example/p now", "https://shop.example/p");
    t = cr_bluesky_post_text(&f.task, &len);
    assert_string_equal(t, "See https://shop.example/p now");
    free(t);
    s_fixture(&f, NULL, "https://shop.example/p");
    t = cr_bluesky_post_text(&f.task, &len);
    assert_string_equal(t, "https://shop.example/p");
    free(t);
}

/* The facet's bytes and value as strings, for comparison. */
static void s_check_facet(const char *text, const cr_bsky_facet_t *f, cr_bsky_facet_kind_t kind,
                          size_t start, size_t end, const char *value)
{
    assert_int_equal(f->kind, kind);
    assert_int_equal(f->start, start);
    assert_int_equal(f->end, end);
    assert_int_equal(f->value_len, strlen(value));
    assert_memory_equal(text + f->value, value, f->value_len);
}

static void test_facets_utf8_offsets(void **state)
{
    /* "Café" 5 bytes, space, thumbs up + skin tone 8 bytes, space: the link
     * starts at byte 15; "é" inside it is 2 bytes; then " #été!" */
    const char *t = "Café 👍🏽 https://exemple.fr/é?q=1 #été!";
    cr_bsky_facet_t f[8];
    size_t n = cr_bluesky_facets(t, strlen(t), f, 8);
    assert_int_equal(n, 2);
    s_check_facet(t, &f[0], CR_BSKY_FACET_LINK, 15, 40, "https://exemple.fr/é?q=1");
    s_check_facet(t, &f[1], CR_BSKY_FACET_TAG, 41, 47, "été"); /* '!' is not part of it */
    assert_int_equal(strlen(t), 48);

    /* CJK, a full-width hash sign (3 bytes) and an emoji tag */
    const char *c = "春のセール ＃新作 #café🎉 end";
    n = cr_bluesky_facets(c, strlen(c), f, 8);
    assert_int_equal(n, 2);
    /* "春のセール" is 5 x 3 bytes, then a space: the mark is at 16 */
    s_check_facet(c, &f[0], CR_BSKY_FACET_TAG, 16, 25, "新作");
    s_check_facet(c, &f[1], CR_BSKY_FACET_TAG, 26, 36, "café🎉");
}

static void test_facets_links(void **state)
{
    cr_bsky_facet_t f[8];
    struct {
        const char *text;
        const char *uri; /* NULL: no link */
    } cases[] = {
        {"see https://a.example/c.", "https://a.example/c"},
        {"see https://a.example/c?!", "https://a.example/c"},
        {"(https://a.example/c)", "https://a.example/c"},
        {"(https://en.example/wiki/A_(b))", "https://en.example/wiki/A_(b)"},
        {"(see https://a.example/x).", "https://a.example/x"},
        {"HTTPS://A.EXAMPLE/X", "HTTPS://A.EXAMPLE/X"},
        {"http://a.example", "http://a.example"},
        {"xhttps://a.example", NULL},   /* not after a space */
        {"https://", NULL},             /* no host */
        {"https:// a", NULL},
        {"https:///path", NULL},
        {"example.com/p", NULL},        /* bare domains are not detected */
        {"line\nhttps://a.example/x\u00a0next", "https://a.example/x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cr_bluesky_facets(cases[i].text, strlen(cases[i].text), f, 8);
        if (!cases[i].uri) {
            assert_int_equal(n, 0);
            continue;
        }
        assert_int_equal(n, 1);
        const char *at = strstr(cases[i].text, cases[i].uri);
        s_check_facet(cases[i].text, &f[0], CR_BSKY_FACET_LINK, (size_t)(at - cases[i].text),
                      (size_t)(at - cases[i].text) + strlen(cases[i].uri), cases[i].uri);
    }
}

static void test_facets_tags_and_mentions(void **state)
{
    cr_bsky_facet_t f[CR_BSKY_MAX_FACETS + 4];
    struct {
        const char *text;
        const char *tag; /* NULL: none */
    } cases[] = {
        {"#tag", "tag"},
        {"go #Sale2024, now", "Sale2024"},
        {"#123", NULL},               /* only digits */
        {"#2024!", NULL},
        {"a#tag", NULL},              /* not after a space */
        {"# tag", NULL},
        {"#", NULL},
        {"#\xef\xb8\x8ftag", NULL},   /* starts with U+FE0F */
        {"#tag\xe2\x80\x8bmore", "tag"}, /* a zero-width space ends it */
        {"#a-b_c", "a-b_c"},          /* inner punctuation stays */
        {"#tag...", "tag"},
        {"x https://a.example/#anchor", NULL}, /* part of the link */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = cr_bluesky_facets(cases[i].text, strlen(cases[i].text), f, 8);
        size_t tags = 0;
        for (size_t k = 0; k < n; k++) tags += f[k].kind == CR_BSKY_FACET_TAG;
        if (!cases[i].tag) {
            assert_int_equal(tags, 0);
            continue;
        }
        assert_int_equal(n, 1);
        const char *at = strstr(cases[i].text, cases[i].tag);
        s_check_facet(cases[i].text, &f[0], CR_BSKY_FACET_TAG, (size_t)(at - cases[i].text) - 1,
                      (size_t)(at - cases[i].text) + strlen(cases[i].tag), cases[i].tag);
    }
    /* 64 characters is the longest tag */
    char t64[80] = "#", t65[80] = "#";
    memset(t64 + 1, 'a', 64);
    memset(t65 + 1, 'a', 65);
    assert_int_equal(cr_bluesky_facets(t64, strlen(t64), f, 8), 1);
    assert_int_equal(cr_bluesky_facets(t65, strlen(t65), f, 8), 0);
    /* mentions are not faceted (no did without resolving the handle) */
    const char *m = "thanks @bob.bsky.social and @carol";
    assert_int_equal(cr_bluesky_facets(m, strlen(m), f, 8), 0);
    /* the cap */
    char many[2000] = "";
    for (int i = 0; i < CR_BSKY_MAX_FACETS + 3; i++) strcat(many, "#t ");
    assert_int_equal(cr_bluesky_facets(many, strlen(many), f, CR_BSKY_MAX_FACETS),
                     CR_BSKY_MAX_FACETS);
    assert_int_equal(cr_bluesky_facets(NULL, 5, f, 8), 0);
}

/* ---- JWT --------------------------------------------------------------- */

static void test_jwt_exp(void **state)
{
    char jwt[300];
    s_jwt(jwt, sizeof jwt, 1700000000LL, "x");
    assert_int_equal(cr_bluesky_jwt_exp_ms(jwt), 1700000000000LL);
    char enc[200];
    s_b64url("{\"sub\":\"did:plc:x\"}", enc); /* no exp */
    snprintf(jwt, sizeof jwt, "h.%s.s", enc);
    assert_int_equal(cr_bluesky_jwt_exp_ms(jwt), 0);
    s_b64url("{\"exp\":\"soon\"}", enc);
    snprintf(jwt, sizeof jwt, "h.%s.s", enc);
    assert_int_equal(cr_bluesky_jwt_exp_ms(jwt), 0);
    s_b64url("{\"exp\":-5}", enc);
    snprintf(jwt, sizeof jwt, "h.%s.s", enc);
    assert_int_equal(cr_bluesky_jwt_exp_ms(jwt), 0);
    s_b64url("{\"exp\":1700000000}", enc);
    snprintf(jwt, sizeof jwt, "h.%s==.s", enc); /* padding tolerated */
    assert_int_equal(cr_bluesky_jwt_exp_ms(jwt), 1700000000000LL);
    assert_int_equal(cr_bluesky_jwt_exp_ms("opaque-token"), 0);
    assert_int_equal(cr_bluesky_jwt_exp_ms("a.b"), 0);
    assert_int_equal(cr_bluesky_jwt_exp_ms("a.!!!!.c"), 0);
    assert_int_equal(cr_bluesky_jwt_exp_ms("a..c"), 0);
    assert_int_equal(cr_bluesky_jwt_exp_ms(NULL), 0);
    char *huge = malloc(10000);
    memset(huge, 'A', 9999);
    huge[0] = 'h';
    huge[1] = '.';
    huge[9998] = '.';
    huge[9999] = '\0';
    assert_int_equal(cr_bluesky_jwt_exp_ms(huge), 0);
    free(huge);
}

/* ---- requests ---------------------------------------------------------- */

static void test_session_request(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    s_fixture(&f, "hi", NULL);
    f.acc.handle = "@alice.bsky.social";
    f.acc.api_base = BASE "/";
    assert_int_equal(cr_bluesky_session_request(&f.task, &req, &res), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, BASE "/xrpc/com.atproto.server.createSession");
    assert_null(s_req_header(&req, "Authorization"));
    json_t *b = s_req_json(&req);
    assert_string_equal(json_string_value(json_object_get(b, "identifier")), "alice.bsky.social");
    assert_string_equal(json_string_value(json_object_get(b, "password")), "abcd-efgh-ijkl-mnop");
    json_decref(b);
    cr_http_req_clear(&req);

    f.acc.token = "";
    assert_int_equal(cr_bluesky_session_request(&f.task, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(res.error_code, "no_token");
    cr_result_clear(&res);
    f.acc.token = "pw";
    f.acc.api_base = "ftp://pds.example";
    assert_int_equal(cr_bluesky_session_request(&f.task, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(res.error_code, "bad_api_base");
    cr_result_clear(&res);
    f.acc.api_base = BASE;
    f.acc.handle = "bad handle";
    assert_int_equal(cr_bluesky_session_request(&f.task, &req, &res), -1);
    assert_string_equal(res.error_code, "bad_handle");
    cr_result_clear(&res);
    f.acc.handle = "alice";
    f.acc.token = "\xff\xfe";
    assert_int_equal(cr_bluesky_session_request(&f.task, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    cr_result_clear(&res);
}

static void test_refresh_request(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    s_fixture(&f, "hi", NULL);
    assert_int_equal(cr_bluesky_refresh_request(&f.task, "ref.tok.en", &req, &res), 0);
    assert_string_equal(req.url, BASE "/xrpc/com.atproto.server.refreshSession");
    assert_string_equal(req.method, "POST");
    assert_string_equal(s_req_header(&req, "Authorization"), "Bearer ref.tok.en");
    assert_int_equal(req.fresh_connection, 1);
    cr_http_req_clear(&req);
    assert_int_equal(cr_bluesky_refresh_request(&f.task, "bad token", &req, &res), -1);
    cr_result_clear(&res);
}

static void test_create_request(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    char rkey[14];
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    cr_bluesky_rkey(KEY, rkey);
    s_fixture(&f, "Café ☕ #soldes", "https://shop.example/été");
    f.pub.language = "fr";
    f.task.due_ms = NOW - 60000; /* a minute late: still the due time */
    assert_int_equal(cr_bluesky_create_request(&f.task, "acc.tok.en", DID, rkey, NOW, &req, &res), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, BASE "/xrpc/com.atproto.repo.createRecord");
    assert_string_equal(s_req_header(&req, "Authorization"), "Bearer acc.tok.en");
    json_t *b = s_req_json(&req);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "repo")), DID);
    assert_string_equal(json_string_value(json_object_get(b, "collection")), "app.bsky.feed.post");
    assert_string_equal(json_string_value(json_object_get(b, "rkey")), rkey);
    json_t *r = json_object_get(b, "record");
    assert_string_equal(json_string_value(json_object_get(r, "$type")), "app.bsky.feed.post");
    const char *text = "Café ☕ #soldes\n\nhttps://shop.example/été";
    assert_string_equal(json_string_value(json_object_get(r, "text")), text);
    assert_string_equal(json_string_value(json_object_get(r, "createdAt")),
                        "2023-11-14T22:12:20.000Z");
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "langs"), 0)), "fr");
    json_t *facets = json_object_get(r, "facets");
    assert_int_equal(json_array_size(facets), 2);
    /* "Café ☕ " is 10 bytes: the tag's '#' is byte 10 */
    json_t *f0 = json_array_get(facets, 0), *f1 = json_array_get(facets, 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f0, "index"), "byteStart")), 10);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f0, "index"), "byteEnd")), 17);
    json_t *feat0 = json_array_get(json_object_get(f0, "features"), 0);
    assert_string_equal(json_string_value(json_object_get(feat0, "$type")),
                        "app.bsky.richtext.facet#tag");
    assert_string_equal(json_string_value(json_object_get(feat0, "tag")), "soldes");
    /* then "\n\n": the link is bytes 19 .. 19 + 26 */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f1, "index"), "byteStart")), 19);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f1, "index"), "byteEnd")), 45);
    json_t *feat1 = json_array_get(json_object_get(f1, "features"), 0);
    assert_string_equal(json_string_value(json_object_get(feat1, "$type")),
                        "app.bsky.richtext.facet#link");
    assert_string_equal(json_string_value(json_object_get(feat1, "uri")), "https://shop.example/été");
    assert_int_equal(strlen(text), 45);
    json_decref(b);
    cr_http_req_clear(&req);

    /* far from the due time: createdAt is now; no language, no facets */
    s_fixture(&f, "plain words", NULL);
    f.task.due_ms = NOW - 3 * 3600000LL;
    assert_int_equal(cr_bluesky_create_request(&f.task, "acc.tok.en", DID, rkey, NOW, &req, &res), 0);
    b = s_req_json(&req);
    r = json_object_get(b, "record");
    assert_string_equal(json_string_value(json_object_get(r, "createdAt")), "2023-11-14T22:13:20.000Z");
    assert_null(json_object_get(r, "langs"));
    assert_null(json_object_get(r, "facets"));
    json_decref(b);
    cr_http_req_clear(&req);
}

static void test_create_request_refusals(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    char rkey[14];
    char *media[] = {"https://cdn.example/a.jpg"};
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    cr_bluesky_rkey(KEY, rkey);

    s_fixture(&f, "x", NULL);
    f.pub.n_media = 1;
    f.pub.media = media;
    /* images and replies need what earlier steps prepare */
    assert_int_equal(cr_bluesky_create_request(&f.task, "a.b.c", DID, rkey, NOW, &req, &res), -1);
    assert_string_equal(res.error_code, "internal");
    cr_result_clear(&res);

    s_fixture(&f, "x", NULL);
    f.pub.in_reply_to = "at://did:plc:x/app.bsky.feed.post/3jzfcijpj2z2a";
    assert_int_equal(cr_bluesky_create_request(&f.task, "a.b.c", DID, rkey, NOW, &req, &res), -1);
    assert_string_equal(res.error_code, "internal");
    cr_result_clear(&res);
    assert_null(req.url);

    s_fixture(&f, "x", NULL);
    f.pub.language = "fr FR";
    assert_int_equal(cr_bluesky_create_request(&f.task, "a.b.c", DID, rkey, NOW, &req, &res), -1);
    assert_string_equal(res.error_code, "bad_language");
    cr_result_clear(&res);

    s_fixture(&f, "bad \xc3\x28 utf8", NULL);
    assert_int_equal(cr_bluesky_create_request(&f.task, "a.b.c", DID, rkey, NOW, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(res.error_code, "bad_text");
    cr_result_clear(&res);

    s_fixture(&f, "x", NULL);
    assert_int_equal(cr_bluesky_create_request(&f.task, "a.b.c", "not-a-did", rkey, NOW, &req, &res), -1);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&res);
    assert_int_equal(cr_bluesky_create_request(&f.task, "a.b.c", DID, "notatid", NOW, &req, &res), -1);
    cr_result_clear(&res);
    assert_int_equal(cr_bluesky_create_request(&f.task, "with space", DID, rkey, NOW, &req, &res), -1);
    cr_result_clear(&res);
    f.task.payload_case = CRIEUR__TASK__PAYLOAD__NOT_SET;
    assert_int_equal(cr_bluesky_create_request(&f.task, "a.b.c", DID, rkey, NOW, &req, &res), -1);
    assert_string_equal(res.error_code, "bad_task");
    cr_result_clear(&res);
}

static void test_get_record_request(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    s_fixture(&f, "x", NULL);
    assert_int_equal(
        cr_bluesky_get_record_request(&f.task, "acc.tok.en", DID, "3jzfcijpj2z2a", &req, &res), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, BASE "/xrpc/com.atproto.repo.getRecord?repo=did%3Aplc%3A"
                                      "abcdefghijklmnopqrstuvwx&collection=app.bsky.feed.post"
                                      "&rkey=3jzfcijpj2z2a");
    assert_string_equal(s_req_header(&req, "Authorization"), "Bearer acc.tok.en");
    assert_null(req.body);
    cr_http_req_clear(&req);
    assert_int_equal(cr_bluesky_get_record_request(&f.task, "acc", DID, "x/../y", &req, &res), -1);
    cr_result_clear(&res);
}

/* ---- session answers --------------------------------------------------- */

static void test_session_result(void **state)
{
    cr_bsky_session_t s;
    cr_result_t res;
    memset(&s, 0, sizeof s);
    memset(&res, 0, sizeof res);
    char *body = s_session_body("1", NOW / 1000 + 7200);
    cr_http_resp_t r = s_resp(200, NULL, body);
    assert_int_equal(cr_bluesky_session_result(&r, NOW, &s, &res), CR_BSKY_OK);
    assert_string_equal(s.did, DID);
    assert_string_equal(s.handle, "alice.bsky.social");
    assert_int_equal(s.access_exp_ms, NOW + 7200000);
    assert_int_equal(s.refresh_exp_ms, NOW + 90LL * 86400000);
    assert_non_null(s.access);
    assert_non_null(s.refresh);
    cr_bluesky_session_clear(&s);
    assert_null(s.access);
    free(body);

    struct {
        long status;
        const char *headers, *body;
        Crieur__Outcome outcome;
        const char *error, *code;
    } cases[] = {
        {401, NULL, "{\"error\":\"AuthenticationRequired\",\"message\":\"Invalid identifier or password\"}",
         CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED,
         "creating a session: Invalid identifier or password", "AuthenticationRequired"},
        {401, NULL, "{\"error\":\"AuthFactorTokenRequired\",\"message\":\"A sign in code has been sent\"}",
         CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "creating a session: A sign in code has been sent",
         "AuthFactorTokenRequired"},
        {400, NULL, "{\"error\":\"AccountTakedown\"}", CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED,
         "creating a session: AccountTakedown", "AccountTakedown"},
        {429, "RateLimit-Reset: 1700000300\r\n", "{\"error\":\"RateLimitExceeded\"}",
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "creating a session: RateLimitExceeded",
         "RateLimitExceeded"},
        {503, NULL, "<html>down</html>", CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
         "creating a session: HTTP 503", "503"},
        {404, NULL, "", CRIEUR__OUTCOME__OUTCOME_PERMANENT,
         "creating a session: HTTP 404: check the account's api_base", "404"},
        {200, NULL, "{\"did\":\"" DID "\"}", CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
         "creating a session: malformed answer", "malformed_session"},
        {200, NULL, "{\"accessJwt\":\"a.b.c\",\"did\":\"no\"}", CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
         "creating a session: malformed answer", "malformed_session"},
        {200, NULL, "{\"accessJwt\":\"a b\",\"did\":\"" DID "\"}", CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
         "creating a session: malformed answer", "malformed_session"},
        {200, NULL, "[]", CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "creating a session: malformed answer",
         "malformed_session"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = s_resp(cases[i].status, cases[i].headers, cases[i].body);
        assert_int_equal(cr_bluesky_session_result(&r, NOW, &s, &res), CR_BSKY_DONE);
        assert_int_equal(res.outcome, cases[i].outcome);
        assert_string_equal(res.error, cases[i].error);
        assert_string_equal(res.error_code, cases[i].code);
        if (cases[i].status == 429) assert_int_equal(res.retry_at_ms, 1700000300000LL);
        assert_null(s.access);
        cr_result_clear(&res);
    }
    /* a session creates nothing: a lost answer is TRANSIENT, never INDETERMINATE */
    r = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    assert_int_equal(cr_bluesky_session_result(&r, NOW, &s, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&res);
    r = s_curl(CURLE_COULDNT_CONNECT, 0);
    assert_int_equal(cr_bluesky_session_result(&r, NOW, &s, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&res);
}

static void test_refresh_result(void **state)
{
    cr_bsky_session_t s;
    cr_result_t res;
    memset(&s, 0, sizeof s);
    memset(&res, 0, sizeof res);
    char *body = s_session_body("2", NOW / 1000 + 7200);
    cr_http_resp_t r = s_resp(200, NULL, body);
    assert_int_equal(cr_bluesky_refresh_result(&r, NOW, &s, &res), CR_BSKY_OK);
    cr_bluesky_session_clear(&s);
    free(body);
    r = s_resp(400, NULL, "{\"error\":\"ExpiredToken\",\"message\":\"Token has been revoked\"}");
    assert_int_equal(cr_bluesky_refresh_result(&r, NOW, &s, &res), CR_BSKY_REAUTH);
    assert_string_equal(res.error, "refreshing the session: Token has been revoked");
    cr_result_clear(&res);
    r = s_resp(401, NULL, "{}");
    assert_int_equal(cr_bluesky_refresh_result(&r, NOW, &s, &res), CR_BSKY_REAUTH);
    cr_result_clear(&res);
    r = s_resp(502, NULL, "");
    assert_int_equal(cr_bluesky_refresh_result(&r, NOW, &s, &res), CR_BSKY_REAUTH);
    cr_result_clear(&res);
    r = s_curl(CURLE_RECV_ERROR, 1); /* the token may be spent */
    assert_int_equal(cr_bluesky_refresh_result(&r, NOW, &s, &res), CR_BSKY_REAUTH);
    cr_result_clear(&res);
    r = s_resp(429, NULL, "{\"error\":\"RateLimitExceeded\"}");
    assert_int_equal(cr_bluesky_refresh_result(&r, NOW, &s, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(res.retry_at_ms, NOW + 60000);
    cr_result_clear(&res);
}

/* ---- createRecord answers ---------------------------------------------- */

#define URI "at://" DID "/app.bsky.feed.post/3jzfcijpj2z2a"
#define CREATED "{\"uri\":\"" URI "\",\"cid\":\"bafyreiabc\",\"commit\":{\"cid\":\"bafyreidef\"," \
                "\"rev\":\"3jzfcijpj2z2b\"},\"validationStatus\":\"valid\"}"

static void test_create_ok(void **state)
{
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_http_resp_t r = s_resp(200, NULL, CREATED);
    assert_int_equal(cr_bluesky_create_result(&r, "alice.bsky.social", NOW, &res), CR_BSKY_OK);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(res.http_status, 200);
    assert_string_equal(res.platform_post_id, URI);
    assert_string_equal(res.url, "https://bsky.app/profile/alice.bsky.social/post/3jzfcijpj2z2a");
    assert_null(res.error);
    cr_result_clear(&res);
    /* no usable handle: the did makes the profile URL */
    assert_int_equal(cr_bluesky_create_result(&r, NULL, NOW, &res), CR_BSKY_OK);
    assert_string_equal(res.url, "https://bsky.app/profile/" DID "/post/3jzfcijpj2z2a");
    cr_result_clear(&res);
    assert_int_equal(cr_bluesky_create_result(&r, "evil/../x?", NOW, &res), CR_BSKY_OK);
    assert_string_equal(res.url, "https://bsky.app/profile/" DID "/post/3jzfcijpj2z2a");
    cr_result_clear(&res);
}

static void test_create_classification(void **state)
{
    struct {
        long status;
        const char *headers, *body;
        cr_bsky_verdict_t verdict;
        Crieur__Outcome outcome;
        const char *error, *code;
        int64_t retry_at;
    } cases[] = {
        {400, NULL, "{\"error\":\"ExpiredToken\",\"message\":\"Token has expired\"}", CR_BSKY_EXPIRED,
         CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "Token has expired", "ExpiredToken", 0},
        {400, NULL, "{\"error\":\"InvalidToken\",\"message\":\"Token could not be verified\"}",
         CR_BSKY_REAUTH, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "Token could not be verified",
         "InvalidToken", 0},
        {401, NULL, "{\"error\":\"AuthenticationRequired\",\"message\":\"Authentication Required\"}",
         CR_BSKY_REAUTH, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, "Authentication Required",
         "AuthenticationRequired", 0},
        {400, NULL, "{\"error\":\"InvalidRequest\",\"message\":\"Record already exists\"}",
         CR_BSKY_EXISTS, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "Record already exists",
         "InvalidRequest", 0},
        {409, NULL, "{\"error\":\"Conflict\",\"message\":\"record ALREADY EXISTS at key\"}",
         CR_BSKY_EXISTS, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "record ALREADY EXISTS at key",
         "Conflict", 0},
        {400, NULL, "{\"error\":\"InvalidRequest\",\"message\":\"" TOO_LONG "\"}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_PERMANENT, TOO_LONG, "InvalidRequest", 0},
        {400, NULL, "{\"error\":\"InvalidRequest\"}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_PERMANENT, "InvalidRequest", "InvalidRequest", 0},
        {413, NULL, "", CR_BSKY_DONE, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "HTTP 413", "413", 0},
        {429, "RateLimit-Limit: 5000\r\nRateLimit-Remaining: 0\r\nRateLimit-Reset: 1700000600\r\n"
              "RateLimit-Policy: 5000;w=3600\r\n",
         "{\"error\":\"RateLimitExceeded\",\"message\":\"Rate Limit Exceeded\"}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "Rate Limit Exceeded", "RateLimitExceeded",
         1700000600000LL},
        {429, NULL, "{\"error\":\"RateLimitExceeded\"}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "RateLimitExceeded", "RateLimitExceeded",
         NOW + 60000},
        {429, "RateLimit-Reset: 1600000000\r\n", "{}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "HTTP 429", "429", NOW + 1000},
        {429, "RateLimit-Reset: 1900000000\r\n", "{}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "HTTP 429", "429", NOW + 24LL * 3600000},
        {429, "RateLimit-Reset: soon\r\n", "{}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "HTTP 429", "429", NOW + 60000},
        {429, "RateLimit-Reset: 99999999999999999999\r\n", "{}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, "HTTP 429", "429", NOW + 60000},
        {503, NULL, "{\"error\":\"InternalServerError\",\"message\":\"Internal Server Error\"}",
         CR_BSKY_CHECK, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
         "Internal Server Error (the record may have been written)", "InternalServerError", 0},
        {500, NULL, "{\"error\":\"InternalServerError\",\"message\":\"There is already a value at key: x\"}",
         CR_BSKY_CHECK, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
         "There is already a value at key: x (the record may have been written)",
         "InternalServerError", 0},
        {408, NULL, "", CR_BSKY_DONE, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, "HTTP 408", "408", 0},
        {302, "Location: https://elsewhere.example/\r\n", "", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_PERMANENT,
         "unexpected redirect (HTTP 302): check the account's api_base", "302", 0},
        {200, NULL, "{\"cid\":\"bafy\"}", CR_BSKY_CHECK, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE,
         "malformed success response", "malformed_success", 0},
        {200, NULL, "not json", CR_BSKY_CHECK, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE,
         "malformed success response", "malformed_success", 0},
        {200, NULL, "{\"uri\":\"https://evil.example/x/y/z\"}", CR_BSKY_CHECK,
         CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "malformed success response", "malformed_success", 0},
        {200, NULL, "{\"uri\":\"at://" DID "\"}", CR_BSKY_CHECK,
         CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "malformed success response", "malformed_success", 0},
        {200, NULL, "{\"uri\":\"at://x/y/z w\"}", CR_BSKY_CHECK,
         CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "malformed success response", "malformed_success", 0},
        {200, NULL, "{\"uri\":\"at://a/b/c\\u0000d\"}", CR_BSKY_CHECK,
         CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, "malformed success response", "malformed_success", 0},
        {100, NULL, "", CR_BSKY_DONE, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE,
         "unexpected answer (HTTP 100)", "100", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_result_t res;
        memset(&res, 0, sizeof res);
        cr_http_resp_t r = s_resp(cases[i].status, cases[i].headers, cases[i].body);
        cr_bsky_verdict_t v = cr_bluesky_create_result(&r, "alice.bsky.social", NOW, &res);
        if (v != cases[i].verdict)
            fail_msg("case %zu: verdict %d, expected %d", i, (int)v, (int)cases[i].verdict);
        assert_int_equal(res.outcome, cases[i].outcome);
        assert_int_equal(res.http_status, cases[i].status);
        assert_string_equal(res.error, cases[i].error);
        assert_string_equal(res.error_code, cases[i].code);
        assert_int_equal(res.retry_at_ms, cases[i].retry_at);
        assert_null(res.platform_post_id);
        cr_result_clear(&res);
    }
}

static void test_create_network(void **state)
{
    cr_result_t res;
    memset(&res, 0, sizeof res);
    cr_http_resp_t r = s_curl(CURLE_COULDNT_CONNECT, 0);
    assert_int_equal(cr_bluesky_create_result(&r, NULL, NOW, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(res.error_code, "curl:7");
    cr_result_clear(&res);
    r = s_curl(CURLE_COULDNT_RESOLVE_HOST, 1); /* counters say sent, the code says not */
    assert_int_equal(cr_bluesky_create_result(&r, NULL, NOW, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&res);
    r = s_curl(CURLE_OPERATION_TIMEDOUT, 1); /* sent, never answered */
    assert_int_equal(cr_bluesky_create_result(&r, NULL, NOW, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(res.error_code, "curl:28");
    cr_result_clear(&res);
    r = s_resp(200, NULL, CREATED);
    r.too_large = 1;
    assert_int_equal(cr_bluesky_create_result(&r, NULL, NOW, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    assert_string_equal(res.error_code, "too_large");
    cr_result_clear(&res);
}

static void test_hostile_errors(void **state)
{
    /* error bodies the platform (or something in front of it) may send */
    char longmsg[3000] = "{\"error\":\"InvalidRequest\",\"message\":\"";
    size_t n = strlen(longmsg);
    memset(longmsg + n, 'm', 2000);
    strcpy(longmsg + n + 2000, "\"}");
    const char *bodies[] = {
        "", "null", "[]", "\"str\"", "{\"error\":5,\"message\":[1]}",
        "{\"error\":\"In\\u0000valid\",\"message\":\"nul\"}", "{\"error\":\"bad name!<>\",\"message\":\"m\"}",
        "{\"message\":\"ctl \\u0001\\u001b[31m chars \\n\"}", "{\"error\":\"x\"", longmsg,
        "{\"error\":\"" "ExpiredTokenExpiredTokenExpiredTokenExpiredTokenExpiredTokenExpiredTokenXX" "\"}",
        "\xff\xfe{}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        cr_result_t res;
        memset(&res, 0, sizeof res);
        cr_http_resp_t r = s_resp(400, NULL, bodies[i]);
        cr_bsky_verdict_t v = cr_bluesky_create_result(&r, NULL, NOW, &res);
        assert_int_equal(v, CR_BSKY_DONE);
        assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
        assert_non_null(res.error);
        assert_true(strlen(res.error) <= CR_ERROR_MAX_BYTES);
        for (const char *p = res.error; *p; p++) assert_true((unsigned char)*p >= 0x20);
        assert_non_null(res.error_code);
        for (const char *p = res.error_code; *p; p++)
            assert_non_null(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.",
                                   *p));
        cr_result_clear(&res);
        memset(&res, 0, sizeof res);
        r = s_resp(200, NULL, bodies[i]);
        assert_int_equal(cr_bluesky_record_result(&r, "t", 1, NULL, NOW, &res), CR_BSKY_DONE);
        assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
        cr_result_clear(&res);
        cr_bsky_session_t s;
        memset(&s, 0, sizeof s);
        assert_int_equal(cr_bluesky_session_result(&r, NOW, &s, &res), CR_BSKY_DONE);
        assert_null(s.access);
        cr_result_clear(&res);
    }
}

/* ---- getRecord answers ------------------------------------------------- */

static void test_record_result(void **state)
{
    cr_result_t res;
    memset(&res, 0, sizeof res);
    const char *mine = "{\"uri\":\"" URI "\",\"cid\":\"bafyrei1\",\"value\":{\"$type\":"
                       "\"app.bsky.feed.post\",\"text\":\"Café ☕\",\"createdAt\":\"2023-11-14T22:13:20Z\"}}";
    cr_http_resp_t r = s_resp(200, NULL, mine);
    assert_int_equal(cr_bluesky_record_result(&r, "Café ☕", strlen("Café ☕"), "alice.bsky.social",
                                              NOW, &res),
                     CR_BSKY_OK);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(res.reconciled, 1);
    assert_string_equal(res.platform_post_id, URI);
    assert_string_equal(res.url, "https://bsky.app/profile/alice.bsky.social/post/3jzfcijpj2z2a");
    assert_string_equal(res.error, FOUND_DETAIL);
    cr_result_clear(&res);
    /* another text under our key: a collision, never taken for this post */
    assert_int_equal(cr_bluesky_record_result(&r, "Café", strlen("Café"), NULL, NOW, &res),
                     CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(res.error_code, "rkey_collision");
    assert_null(res.platform_post_id);
    cr_result_clear(&res);
    /* a NUL inside the stored text is compared, not truncated */
    r = s_resp(200, NULL, "{\"uri\":\"" URI "\",\"value\":{\"text\":\"a\\u0000b\"}}");
    assert_int_equal(cr_bluesky_record_result(&r, "a", 1, NULL, NOW, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_result_clear(&res);

    struct {
        long status;
        const char *headers, *body;
        cr_bsky_verdict_t verdict;
        Crieur__Outcome outcome;
    } cases[] = {
        {400, NULL, "{\"error\":\"RecordNotFound\",\"message\":\"Could not locate record: " URI "\"}",
         CR_BSKY_NOT_FOUND, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {404, NULL, "", CR_BSKY_NOT_FOUND, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {400, NULL, "{\"error\":\"ExpiredToken\",\"message\":\"Token has expired\"}", CR_BSKY_EXPIRED,
         CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED},
        {401, NULL, "{}", CR_BSKY_REAUTH, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED},
        {400, NULL, "{\"error\":\"InvalidRequest\",\"message\":\"Could not find repo: x\"}",
         CR_BSKY_DONE, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {429, "RateLimit-Reset: 1700000060\r\n", "{}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED},
        {502, NULL, "", CR_BSKY_DONE, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {200, NULL, "{\"uri\":\"" URI "\",\"value\":{\"text\":5}}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {200, NULL, "{\"value\":{\"text\":\"t\"}}", CR_BSKY_DONE, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = s_resp(cases[i].status, cases[i].headers, cases[i].body);
        assert_int_equal(cr_bluesky_record_result(&r, "t", 1, NULL, NOW, &res), cases[i].verdict);
        assert_int_equal(res.outcome, cases[i].outcome);
        cr_result_clear(&res);
    }
    r = s_curl(CURLE_OPERATION_TIMEDOUT, 1); /* a read changes nothing */
    assert_int_equal(cr_bluesky_record_result(&r, "t", 1, NULL, NOW, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&res);
}

/* ---- the step machine with the session cache --------------------------- */

static int s_feed(cr_call_t *call, long status, const char *headers, const char *body)
{
    cr_http_resp_t resp = s_resp(status, headers, body);
    cr_http_req_clear(&call->req);
    call->now_ms = NOW;
    return cr_bluesky_adapter.step(call, &resp);
}

static const char *s_nsid(const cr_call_t *call)
{
    const char *x = strstr(call->req.url ? call->req.url : "", "/xrpc/");
    return x ? x + 6 : "";
}

#define EXPIRED_BODY "{\"error\":\"ExpiredToken\",\"message\":\"Token has expired\"}"
#define NOT_FOUND_BODY "{\"error\":\"RecordNotFound\",\"message\":\"Could not locate record\"}"
#define EXISTS_BODY "{\"error\":\"InvalidRequest\",\"message\":\"Record already exists\"}"

/* Starts a call; answers createSession (if asked) with session tag; returns
 * with the next request pending. */
static void s_start(cr_call_t *call, fixture_t *f, const char *tag)
{
    cr_call_init(call, &f->task);
    call->now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(call, NULL), CR_STEP_REQUEST);
    if (strcmp(s_nsid(call), "com.atproto.server.createSession") == 0) {
        char *body = s_session_body(tag, NOW / 1000 + 7200);
        assert_int_equal(s_feed(call, 200, NULL, body), CR_STEP_REQUEST);
        free(body);
    }
}

static char *s_record_body(const fixture_t *f)
{
    size_t len;
    char *text = cr_bluesky_post_text(&f->task, &len);
    char rkey[14];
    cr_bluesky_rkey(f->pub.idempotency_key, rkey);
    json_t *o = json_pack("{s:s+,s:s,s:{s:s,s:s}}", "uri", "at://" DID "/app.bsky.feed.post/",
                          rkey, "cid", "bafyrei1", "value", "$type", "app.bsky.feed.post", "text",
                          text);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    free(text);
    return s;
}

/* ---- images and replies ------------------------------------------------ */

#define PARENT "at://did:plc:bobbobbobbobbobbobbobbob/app.bsky.feed.post/3kabcdefghij2"
#define ROOT "at://did:plc:carolcarolcarolcarolcaro/app.bsky.feed.post/3kzzzzzzzzzz2"
static const unsigned char s_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13};

static void test_create_request_images_reply(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    char rkey[14];
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    cr_bluesky_rkey(KEY, rkey);
    s_fixture(&f, "a reply with a picture", NULL);
    char *media[] = {"/srv/a.png"};
    f.pub.media = media;
    f.pub.n_media = 1;
    f.pub.in_reply_to = PARENT;
    cr_bsky_extras_t x;
    memset(&x, 0, sizeof x);
    x.blobs[0] = json_pack("{s:s,s:{s:s},s:s,s:i}", "$type", "blob", "ref", "$link", "bafkrei1",
                           "mimeType", "image/png", "size", 12);
    x.n_blobs = 1;
    x.parent_uri = PARENT;
    x.parent_cid = "bafyparent";
    x.root_uri = ROOT;
    x.root_cid = "bafyroot";
    assert_int_equal(
        cr_bluesky_create_request_ext(&f.task, "a.b.c", DID, rkey, NOW, &x, &req, &res), 0);
    json_t *b = s_req_json(&req);
    json_t *rec = json_object_get(b, "record");
    json_t *embed = json_object_get(rec, "embed");
    assert_string_equal(json_string_value(json_object_get(embed, "$type")),
                        "app.bsky.embed.images");
    json_t *img = json_array_get(json_object_get(embed, "images"), 0);
    assert_string_equal(json_string_value(json_object_get(img, "alt")), "");
    assert_true(json_equal(json_object_get(img, "image"), x.blobs[0]));
    json_t *reply = json_object_get(rec, "reply");
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "parent"), "uri")),
                        PARENT);
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "parent"), "cid")),
                        "bafyparent");
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "root"), "uri")),
                        ROOT);
    assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "root"), "cid")),
                        "bafyroot");
    json_decref(b);
    cr_http_req_clear(&req);
    /* a cid that is no token is refused rather than sent */
    x.parent_cid = "bad cid";
    assert_int_equal(
        cr_bluesky_create_request_ext(&f.task, "a.b.c", DID, rkey, NOW, &x, &req, &res), -1);
    cr_result_clear(&res);
    json_decref(x.blobs[0]);
}

static void test_upload_and_parent(void **state)
{
    fixture_t f;
    cr_http_req_t req;
    cr_result_t res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    s_fixture(&f, "x", NULL);
    cr_media_t m;
    memset(&m, 0, sizeof m);
    m.data = (unsigned char *)s_png;
    m.len = sizeof s_png;
    m.mime = "image/png";
    assert_int_equal(cr_bluesky_upload_request(&f.task, "a.b.c", &m, &req, &res), 0);
    assert_string_equal(req.url, BASE "/xrpc/com.atproto.repo.uploadBlob");
    assert_string_equal(req.method, "POST");
    assert_string_equal(s_req_header(&req, "Content-Type"), "image/png");
    assert_int_equal(req.body_len, sizeof s_png);
    assert_memory_equal(req.body, s_png, sizeof s_png);
    cr_http_req_clear(&req);

    json_t *blob = NULL;
    cr_http_resp_t r = s_resp(200, NULL,
                              "{\"blob\":{\"$type\":\"blob\",\"ref\":{\"$link\":\"bafkrei9\"},"
                              "\"mimeType\":\"image/png\",\"size\":12,\"extra\":1}}");
    assert_int_equal(cr_bluesky_upload_result(&r, NOW, &blob, &res), CR_BSKY_OK);
    assert_non_null(blob);
    assert_null(json_object_get(blob, "extra"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(blob, "ref"), "$link")), "bafkrei9");
    json_decref(blob);
    static const struct {
        long status;
        const char *body;
        cr_bsky_verdict_t v;
        Crieur__Outcome o;
    } cases[] = {
        {200, "{\"blob\":{\"ref\":{}}}", CR_BSKY_DONE, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
        {400, "{\"error\":\"InvalidRequest\",\"message\":\"not an image\"}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_PERMANENT},
        {413, "", CR_BSKY_DONE, CRIEUR__OUTCOME__OUTCOME_PERMANENT},
        {400, EXPIRED_BODY, CR_BSKY_EXPIRED, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED},
        {429, "{\"error\":\"RateLimitExceeded\"}", CR_BSKY_DONE,
         CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED},
        {502, "", CR_BSKY_DONE, CRIEUR__OUTCOME__OUTCOME_TRANSIENT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r = s_resp(cases[i].status, NULL, cases[i].body);
        assert_int_equal(cr_bluesky_upload_result(&r, NOW, &blob, &res), cases[i].v);
        assert_null(blob);
        assert_int_equal(res.outcome, cases[i].o);
        cr_result_clear(&res);
    }

    /* the parent: its own root when it is a reply, else itself */
    assert_int_equal(cr_bluesky_parent_request(&f.task, "a.b.c", PARENT, &req, &res), 0);
    assert_string_equal(req.url, BASE "/xrpc/com.atproto.repo.getRecord?repo="
                                      "did%3Aplc%3Abobbobbobbobbobbobbobbob&collection="
                                      "app.bsky.feed.post&rkey=3kabcdefghij2");
    cr_http_req_clear(&req);
    assert_int_equal(cr_bluesky_parent_request(&f.task, "a.b.c",
                                               "at://did:plc:x/app.bsky.feed.like/3kabcdefghij2",
                                               &req, &res),
                     -1);
    assert_string_equal(res.error_code, "bad_reply_to");
    cr_result_clear(&res);
    assert_int_equal(cr_bluesky_parent_request(&f.task, "a.b.c", "12345", &req, &res), -1);
    cr_result_clear(&res);

    cr_bsky_reply_t rp;
    memset(&rp, 0, sizeof rp);
    r = s_resp(200, NULL,
               "{\"uri\":\"" PARENT "\",\"cid\":\"bafyp\",\"value\":{\"text\":\"t\","
               "\"reply\":{\"root\":{\"uri\":\"" ROOT "\",\"cid\":\"bafyr\"},"
               "\"parent\":{\"uri\":\"" ROOT "\",\"cid\":\"bafyr\"}}}}");
    assert_int_equal(cr_bluesky_parent_result(&r, NOW, &rp, &res), CR_BSKY_OK);
    assert_string_equal(rp.parent_uri, PARENT);
    assert_string_equal(rp.parent_cid, "bafyp");
    assert_string_equal(rp.root_uri, ROOT);
    assert_string_equal(rp.root_cid, "bafyr");
    r = s_resp(200, NULL, "{\"uri\":\"" PARENT "\",\"cid\":\"bafyp\",\"value\":{\"text\":\"t\"}}");
    assert_int_equal(cr_bluesky_parent_result(&r, NOW, &rp, &res), CR_BSKY_OK);
    assert_string_equal(rp.root_uri, PARENT);
    assert_string_equal(rp.root_cid, "bafyp");
    r = s_resp(400, NULL, NOT_FOUND_BODY);
    assert_int_equal(cr_bluesky_parent_result(&r, NOW, &rp, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(res.error_code, "reply_parent_not_found");
    assert_null(rp.parent_uri);
    cr_result_clear(&res);
    r = s_resp(200, NULL, "{\"uri\":\"" PARENT "\"}");
    assert_int_equal(cr_bluesky_parent_result(&r, NOW, &rp, &res), CR_BSKY_DONE);
    assert_int_equal(res.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    cr_result_clear(&res);
    cr_bluesky_reply_clear(&rp);
}

/* session, parent read, upload (expired, refreshed, sent again), record */
static void test_steps_reply_with_image(void **state)
{
    char path[] = "/tmp/crieur-test-bsky-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s_png, sizeof s_png), (ssize_t)sizeof s_png);
    close(fd);
    fixture_t f;
    cr_call_t call;
    s_fixture(&f, "reply with image", NULL);
    char *media[] = {path};
    f.pub.media = media;
    f.pub.n_media = 1;
    f.pub.in_reply_to = PARENT;
    s_start(&call, &f, "1");
    assert_int_equal(strncmp(s_nsid(&call), "com.atproto.repo.getRecord?", 27), 0);
    assert_non_null(strstr(call.req.url, "rkey=3kabcdefghij2"));
    assert_int_equal(s_feed(&call, 200, NULL,
                            "{\"uri\":\"" PARENT "\",\"cid\":\"bafyp\",\"value\":{\"text\":\"t\"}}"),
                     CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.repo.uploadBlob");
    assert_int_equal(s_feed(&call, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.server.refreshSession");
    char *body = s_session_body("2", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&call, 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    assert_string_equal(s_nsid(&call), "com.atproto.repo.uploadBlob");
    assert_int_equal(call.req.body_len, sizeof s_png);
    assert_int_equal(s_feed(&call, 200, NULL,
                            "{\"blob\":{\"$type\":\"blob\",\"ref\":{\"$link\":\"bafkrei7\"},"
                            "\"mimeType\":\"image/png\",\"size\":12}}"),
                     CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.repo.createRecord");
    json_t *b = s_req_json(&call.req);
    json_t *rec = json_object_get(b, "record");
    json_t *root = json_object_get(json_object_get(rec, "reply"), "root");
    assert_string_equal(json_string_value(json_object_get(root, "uri")), PARENT);
    json_t *img = json_array_get(json_object_get(json_object_get(rec, "embed"), "images"), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(img, "image"), "ref"), "$link")),
                        "bafkrei7");
    json_decref(b);
    cr_call_clear(&call, &cr_bluesky_adapter);
    unlink(path);

    /* a missing parent ends the call PERMANENT, nothing uploaded or written */
    s_fixture(&f, "reply", NULL);
    f.pub.in_reply_to = PARENT;
    s_start(&call, &f, "1");
    assert_int_equal(strncmp(s_nsid(&call), "com.atproto.repo.getRecord?", 27), 0);
    assert_int_equal(s_feed(&call, 400, NULL, NOT_FOUND_BODY), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "reply_parent_not_found");
    cr_call_clear(&call, &cr_bluesky_adapter);

    /* refused before any request: 5 images, a reply to something else */
    char *five[] = {path, path, path, path, path};
    s_fixture(&f, "x", NULL);
    f.pub.media = five;
    f.pub.n_media = 5;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "too_many_media");
    assert_null(call.req.url);
    cr_call_clear(&call, &cr_bluesky_adapter);
    s_fixture(&f, "x", NULL);
    f.pub.in_reply_to = "https://bsky.app/profile/bob/post/3kabcdefghij2";
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_string_equal(call.result.error_code, "bad_reply_to");
    cr_call_clear(&call, &cr_bluesky_adapter);
}

static void test_steps_publish_and_reuse(void **state)
{
    fixture_t f;
    cr_call_t call;
    char tag[64], rkey[14];
    s_fixture(&f, "Hello #bsky", "https://shop.example/p");
    cr_bluesky_rkey(KEY, rkey);
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.server.createSession");
    char *body = s_session_body("1", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&call, 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    assert_string_equal(s_nsid(&call), "com.atproto.repo.createRecord");
    assert_string_equal(s_bearer_tag(&call.req, tag, sizeof tag), "acc-1");
    json_t *b = s_req_json(&call.req);
    assert_string_equal(json_string_value(json_object_get(b, "rkey")), rkey);
    assert_string_equal(json_string_value(json_object_get(b, "repo")), DID);
    json_decref(b);
    char created[200];
    snprintf(created, sizeof created, "{\"uri\":\"at://" DID "/app.bsky.feed.post/%s\",\"cid\":\"b\"}", rkey);
    assert_int_equal(s_feed(&call, 200, NULL, created), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    char url[200];
    snprintf(url, sizeof url, "https://bsky.app/profile/alice.bsky.social/post/%s", rkey);
    assert_string_equal(call.result.url, url);
    cr_call_clear(&call, &cr_bluesky_adapter);
    assert_int_equal(cr_bluesky_sessions_count(), 1);

    /* the next post of the account reuses the session: no createSession */
    f.pub.idempotency_key = "another-key";
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.repo.createRecord");
    assert_string_equal(s_bearer_tag(&call.req, tag, sizeof tag), "acc-1");
    cr_call_clear(&call, &cr_bluesky_adapter);

    /* another app password for the account: the cached session is not used */
    f.acc.token = "new-app-password";
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.server.createSession");
    cr_call_clear(&call, &cr_bluesky_adapter);
    assert_int_equal(cr_bluesky_sessions_count(), 0);

    /* not a publish task */
    f.task.kind = CRIEUR__JOB_KIND__KIND_METRICS;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    cr_call_clear(&call, &cr_bluesky_adapter);
}

static void test_steps_expired_refresh(void **state)
{
    fixture_t f;
    cr_call_t call;
    char tag[64];
    s_fixture(&f, "Hello", NULL);
    s_start(&call, &f, "1");
    assert_string_equal(s_nsid(&call), "com.atproto.repo.createRecord");
    /* 400 ExpiredToken: refresh with the refresh token, within the task */
    assert_int_equal(s_feed(&call, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.server.refreshSession");
    assert_string_equal(s_bearer_tag(&call.req, tag, sizeof tag), "ref-1");
    assert_int_equal(call.req.fresh_connection, 1);
    char *body = s_session_body("2", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&call, 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    assert_string_equal(s_nsid(&call), "com.atproto.repo.createRecord");
    assert_string_equal(s_bearer_tag(&call.req, tag, sizeof tag), "acc-2");
    assert_int_equal(s_feed(&call, 200, NULL, CREATED), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    cr_call_clear(&call, &cr_bluesky_adapter);

    /* the refreshed session is the cached one */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(s_bearer_tag(&call.req, tag, sizeof tag), "acc-2");
    /* expired again; the refresh is refused (rotated elsewhere): new session */
    assert_int_equal(s_feed(&call, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_bearer_tag(&call.req, tag, sizeof tag), "ref-2");
    assert_int_equal(s_feed(&call, 400, NULL,
                            "{\"error\":\"ExpiredToken\",\"message\":\"Token has been revoked\"}"),
                     CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.server.createSession");
    body = s_session_body("3", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&call, 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    assert_string_equal(s_bearer_tag(&call.req, tag, sizeof tag), "acc-3");
    assert_int_equal(s_feed(&call, 200, NULL, CREATED), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    cr_call_clear(&call, &cr_bluesky_adapter);

    /* expired, refresh refused, createSession refused (app password revoked) */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.server.createSession");
    assert_int_equal(s_feed(&call, 401, NULL,
                            "{\"error\":\"AuthenticationRequired\",\"message\":\"Invalid identifier or password\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(call.result.error, "creating a session: Invalid identifier or password");
    cr_call_clear(&call, &cr_bluesky_adapter);
}

/* cr_call_wake's target in these tests: counts the wakes of one call. */
static void s_count_wake(void *ctx)
{
    (*(int *)ctx)++;
}

/* Starts a call of f with a wake counter; its first step's code. */
static int s_begin(cr_call_t *call, fixture_t *f, int *wakes)
{
    cr_call_init(call, &f->task);
    call->wake_fn = s_count_wake;
    call->wake_ctx = wakes;
    call->now_ms = NOW;
    return cr_bluesky_adapter.step(call, NULL);
}

/* The next step of a waiting call (woken, or its wait over). */
static int s_resume(cr_call_t *call)
{
    cr_http_req_clear(&call->req);
    call->now_ms = NOW;
    return cr_bluesky_adapter.step(call, NULL);
}

static void test_steps_one_refresh_at_a_time(void **state)
{
    fixture_t f1, f2;
    cr_call_t a, b;
    int wb = 0;
    char tag[64];
    s_fixture(&f1, "first", NULL);
    s_fixture(&f2, "second", NULL);
    f2.pub.idempotency_key = "key-2";
    s_start(&a, &f1, "1");
    assert_int_equal(s_begin(&b, &f2, &wb), CR_STEP_REQUEST); /* reuses acc-1 */
    assert_string_equal(s_bearer_tag(&b.req, tag, sizeof tag), "acc-1");
    /* both find the token expired; a refreshes */
    assert_int_equal(s_feed(&a, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&a), "com.atproto.server.refreshSession");
    assert_int_equal(cr_bluesky_flights_count(), 1);
    /* b must not spend the same refresh token, nor make a session of its
     * own: it waits for a's (no request, no polling: woken by a) */
    assert_int_equal(s_feed(&b, 400, NULL, EXPIRED_BODY), CR_STEP_WAIT);
    assert_null(b.req.url);
    assert_true(b.wait_ms > 0 && b.wait_ms <= CR_MAX_STEP_WAIT_MS);
    /* its wait runs out before a's answer: it waits again */
    assert_int_equal(s_resume(&b), CR_STEP_WAIT);
    assert_int_equal(wb, 0);
    char *body = s_session_body("2", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&a, 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    assert_string_equal(s_bearer_tag(&a.req, tag, sizeof tag), "acc-2");
    assert_int_equal(wb, 1); /* woken by a's answer */
    assert_int_equal(cr_bluesky_flights_count(), 0);
    assert_int_equal(s_resume(&b), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&b), "com.atproto.repo.createRecord");
    assert_string_equal(s_bearer_tag(&b.req, tag, sizeof tag), "acc-2");
    assert_int_equal(s_feed(&a, 200, NULL, CREATED), CR_STEP_DONE);
    assert_int_equal(s_feed(&b, 200, NULL, CREATED), CR_STEP_DONE);
    assert_int_equal(a.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(b.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    cr_call_clear(&a, &cr_bluesky_adapter);
    cr_call_clear(&b, &cr_bluesky_adapter);
    assert_int_equal(cr_bluesky_sessions_count(), 1);

    /* a refreshed while b was in flight: b retries with the new token, no refresh */
    cr_call_init(&a, &f1.task);
    a.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&a, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_begin(&b, &f2, &wb), CR_STEP_REQUEST);
    assert_string_equal(s_bearer_tag(&b.req, tag, sizeof tag), "acc-2");
    assert_int_equal(s_feed(&a, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    body = s_session_body("4", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&a, 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    assert_int_equal(s_feed(&b, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&b), "com.atproto.repo.createRecord");
    assert_string_equal(s_bearer_tag(&b.req, tag, sizeof tag), "acc-4");
    cr_call_clear(&a, &cr_bluesky_adapter);
    cr_call_clear(&b, &cr_bluesky_adapter);

    /* a's refresh is refused: a creates a session, still for b, which keeps
     * waiting and uses it; one refreshSession and one createSession */
    wb = 0;
    cr_call_init(&a, &f1.task);
    a.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&a, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_begin(&b, &f2, &wb), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&a, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&a), "com.atproto.server.refreshSession");
    assert_string_equal(s_bearer_tag(&a.req, tag, sizeof tag), "ref-4");
    assert_int_equal(s_feed(&b, 400, NULL, EXPIRED_BODY), CR_STEP_WAIT);
    assert_int_equal(s_feed(&a, 400, NULL,
                            "{\"error\":\"ExpiredToken\",\"message\":\"Token has been revoked\"}"),
                     CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&a), "com.atproto.server.createSession");
    assert_int_equal(wb, 0);
    body = s_session_body("5", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&a, 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    assert_int_equal(wb, 1);
    assert_int_equal(s_resume(&b), CR_STEP_REQUEST);
    assert_string_equal(s_bearer_tag(&b.req, tag, sizeof tag), "acc-5");
    cr_call_clear(&a, &cr_bluesky_adapter);
    cr_call_clear(&b, &cr_bluesky_adapter);

    /* a refresh cut short (task cancelled): its token is dropped, not reused */
    cr_call_init(&a, &f1.task);
    a.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&a, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&a, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&a), "com.atproto.server.refreshSession");
    cr_call_clear(&a, &cr_bluesky_adapter);
    assert_int_equal(cr_bluesky_flights_count(), 0);
    cr_call_init(&b, &f2.task);
    b.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&b, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&b, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&b), "com.atproto.server.createSession");
    cr_call_clear(&b, &cr_bluesky_adapter);
    assert_int_equal(cr_bluesky_flights_count(), 0);
}

/* Many tasks of an account without a session: one createSession; the
 * others wait for it and use it, or end with its failure. */
static void test_steps_single_flight(void **state)
{
    enum { N = 5 };
    fixture_t f[N];
    cr_call_t c[N];
    int wakes[N] = {0};
    char tag[64], key[N][16];
    for (int i = 0; i < N; i++) {
        s_fixture(&f[i], "burst", NULL);
        snprintf(key[i], sizeof key[i], "burst-%d", i);
        f[i].pub.idempotency_key = key[i];
    }
    /* the first asks for a session, the others wait for it */
    assert_int_equal(s_begin(&c[0], &f[0], &wakes[0]), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&c[0]), "com.atproto.server.createSession");
    for (int i = 1; i < N; i++) {
        assert_int_equal(s_begin(&c[i], &f[i], &wakes[i]), CR_STEP_WAIT);
        assert_null(c[i].req.url);
    }
    assert_int_equal(cr_bluesky_flights_count(), 1);
    /* another account is not held up by it */
    fixture_t other;
    cr_call_t o;
    s_fixture(&other, "elsewhere", NULL);
    other.acc.id = 4;
    cr_call_init(&o, &other.task);
    o.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&o, NULL), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&o), "com.atproto.server.createSession");
    cr_call_clear(&o, &cr_bluesky_adapter);
    /* one waiter gives up (cancelled) before the answer */
    cr_call_clear(&c[N - 1], &cr_bluesky_adapter);
    char *body = s_session_body("1", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&c[0], 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    assert_string_equal(s_bearer_tag(&c[0].req, tag, sizeof tag), "acc-1");
    assert_int_equal(cr_bluesky_flights_count(), 0);
    for (int i = 1; i < N - 1; i++) {
        assert_int_equal(wakes[i], 1);
        assert_int_equal(s_resume(&c[i]), CR_STEP_REQUEST);
        assert_string_equal(s_nsid(&c[i]), "com.atproto.repo.createRecord");
        assert_string_equal(s_bearer_tag(&c[i].req, tag, sizeof tag), "acc-1");
    }
    assert_int_equal(wakes[N - 1], 0);
    for (int i = 0; i < N - 1; i++) cr_call_clear(&c[i], &cr_bluesky_adapter);

    /* createSession rate limited: every waiter ends with the same 429 */
    cr_bluesky_sessions_reset();
    memset(wakes, 0, sizeof wakes);
    assert_int_equal(s_begin(&c[0], &f[0], &wakes[0]), CR_STEP_REQUEST);
    for (int i = 1; i < N; i++) assert_int_equal(s_begin(&c[i], &f[i], &wakes[i]), CR_STEP_WAIT);
    assert_int_equal(s_feed(&c[0], 429, "RateLimit-Reset: 1700000300\r\n",
                            "{\"error\":\"RateLimitExceeded\",\"message\":\"Rate Limit Exceeded\"}"),
                     CR_STEP_DONE);
    assert_int_equal(c[0].result.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(cr_bluesky_flights_count(), 0);
    for (int i = 1; i < N; i++) {
        assert_int_equal(wakes[i], 1);
        assert_int_equal(s_resume(&c[i]), CR_STEP_DONE);
        assert_null(c[i].req.url);
        assert_int_equal(c[i].result.outcome, c[0].result.outcome);
        assert_int_equal(c[i].result.http_status, 429);
        assert_int_equal(c[i].result.retry_at_ms, c[0].result.retry_at_ms);
        assert_string_equal(c[i].result.error, c[0].result.error);
        assert_string_equal(c[i].result.error_code, c[0].result.error_code);
    }
    for (int i = 0; i < N; i++) cr_call_clear(&c[i], &cr_bluesky_adapter);

    /* a wrong app password: AUTH_EXPIRED for all, one createSession */
    cr_bluesky_sessions_reset();
    assert_int_equal(s_begin(&c[0], &f[0], &wakes[0]), CR_STEP_REQUEST);
    assert_int_equal(s_begin(&c[1], &f[1], &wakes[1]), CR_STEP_WAIT);
    assert_int_equal(s_feed(&c[0], 401, NULL,
                            "{\"error\":\"AuthenticationRequired\",\"message\":\"Invalid identifier or password\"}"),
                     CR_STEP_DONE);
    assert_int_equal(s_resume(&c[1]), CR_STEP_DONE);
    assert_int_equal(c[1].result.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(c[1].result.error, "creating a session: Invalid identifier or password");
    cr_call_clear(&c[0], &cr_bluesky_adapter);
    cr_call_clear(&c[1], &cr_bluesky_adapter);

    /* the leader cut short before its answer: the waiters go on without it,
     * one of them asking for the session */
    cr_bluesky_sessions_reset();
    memset(wakes, 0, sizeof wakes);
    assert_int_equal(s_begin(&c[0], &f[0], &wakes[0]), CR_STEP_REQUEST);
    assert_int_equal(s_begin(&c[1], &f[1], &wakes[1]), CR_STEP_WAIT);
    assert_int_equal(s_begin(&c[2], &f[2], &wakes[2]), CR_STEP_WAIT);
    cr_call_clear(&c[0], &cr_bluesky_adapter);
    assert_int_equal(wakes[1], 1);
    assert_int_equal(wakes[2], 1);
    assert_int_equal(s_resume(&c[1]), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&c[1]), "com.atproto.server.createSession");
    assert_int_equal(s_resume(&c[2]), CR_STEP_WAIT);
    cr_call_clear(&c[1], &cr_bluesky_adapter);
    cr_call_clear(&c[2], &cr_bluesky_adapter);
    assert_int_equal(cr_bluesky_flights_count(), 0);

    /* a waiter's wait stops short of its task's deadline; past it, it ends */
    cr_bluesky_sessions_reset();
    assert_int_equal(s_begin(&c[0], &f[0], &wakes[0]), CR_STEP_REQUEST);
    f[1].task.deadline_ms = NOW + 5000;
    assert_int_equal(s_begin(&c[1], &f[1], &wakes[1]), CR_STEP_WAIT);
    assert_true(c[1].wait_ms > 0 && c[1].wait_ms < 5000);
    cr_http_req_clear(&c[1].req);
    c[1].now_ms = NOW + 4950;
    assert_int_equal(cr_bluesky_adapter.step(&c[1], NULL), CR_STEP_DONE);
    assert_int_equal(c[1].result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(c[1].result.error_code, "deadline");
    cr_call_clear(&c[1], &cr_bluesky_adapter);
    body = s_session_body("2", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&c[0], 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    cr_call_clear(&c[0], &cr_bluesky_adapter);
    assert_int_equal(cr_bluesky_flights_count(), 0);
}

static void test_steps_known_expired(void **state)
{
    fixture_t f;
    cr_call_t call;
    char tag[64];
    s_fixture(&f, "Hello", NULL);
    /* a session whose access token expired 2 minutes ago */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    char *body = s_session_body("old", NOW / 1000 - 120);
    assert_int_equal(s_feed(&call, 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    cr_call_clear(&call, &cr_bluesky_adapter);
    /* the next task refreshes first instead of wasting a write */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.server.refreshSession");
    assert_string_equal(s_bearer_tag(&call.req, tag, sizeof tag), "ref-old");
    cr_call_clear(&call, &cr_bluesky_adapter);
}

static void test_steps_reauth(void **state)
{
    fixture_t f;
    cr_call_t call;
    char tag[64];
    s_fixture(&f, "Hello", NULL);
    s_start(&call, &f, "1");
    cr_call_clear(&call, &cr_bluesky_adapter);
    /* a cached session refused (401): one new session, then the write */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 401, NULL, "{\"error\":\"AuthenticationRequired\"}"), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.server.createSession");
    char *body = s_session_body("2", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&call, 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    assert_string_equal(s_bearer_tag(&call.req, tag, sizeof tag), "acc-2");
    /* refused again with a brand-new session: AUTH_EXPIRED */
    assert_int_equal(s_feed(&call, 401, NULL,
                            "{\"error\":\"AuthenticationRequired\",\"message\":\"Authentication Required\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED);
    assert_string_equal(call.result.error, "Authentication Required");
    cr_call_clear(&call, &cr_bluesky_adapter);
}

static void test_steps_exists_read_back(void **state)
{
    fixture_t f;
    cr_call_t call;
    char rkey[14];
    s_fixture(&f, "Spring sale", NULL);
    cr_bluesky_rkey(KEY, rkey);
    char *mine = s_record_body(&f);
    /* the rkey exists: read back, same text: OK, not published again */
    s_start(&call, &f, "1");
    assert_int_equal(s_feed(&call, 400, NULL, EXISTS_BODY), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "GET");
    assert_non_null(strstr(call.req.url, "com.atproto.repo.getRecord?repo="));
    assert_non_null(strstr(call.req.url, rkey));
    assert_int_equal(s_feed(&call, 200, NULL, mine), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 1);
    assert_string_equal(call.result.error, FOUND_DETAIL);
    assert_non_null(strstr(call.result.platform_post_id, rkey));
    cr_call_clear(&call, &cr_bluesky_adapter);

    /* another post under our key: a collision, PERMANENT */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 400, NULL, EXISTS_BODY), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 200, NULL,
                            "{\"uri\":\"at://" DID "/app.bsky.feed.post/3jzfcijpj2z2a\","
                            "\"value\":{\"text\":\"someone else\"}}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "rkey_collision");
    cr_call_clear(&call, &cr_bluesky_adapter);

    /* 500 (the reference PDS on a repeated key): read back, found: OK */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 500, NULL, "{\"error\":\"InternalServerError\"}"), CR_STEP_REQUEST);
    assert_string_equal(call.req.method, "GET");
    assert_int_equal(s_feed(&call, 200, NULL, mine), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    cr_call_clear(&call, &cr_bluesky_adapter);

    /* 503, read back, not there: the 503 stands (TRANSIENT) */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 503, NULL,
                            "{\"error\":\"ServiceUnavailable\",\"message\":\"Service Unavailable\"}"),
                     CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 400, NULL, NOT_FOUND_BODY), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_int_equal(call.result.http_status, 503);
    assert_string_equal(call.result.error, "Service Unavailable (the record may have been written)");
    cr_call_clear(&call, &cr_bluesky_adapter);

    /* "exists" but the read finds nothing: TRANSIENT, try later */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 400, NULL, EXISTS_BODY), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 400, NULL, NOT_FOUND_BODY), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(call.result.error_code, "exists_unreadable");
    cr_call_clear(&call, &cr_bluesky_adapter);

    /* the read-back hits an expired token: refresh, read again */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 400, NULL, EXISTS_BODY), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 400, NULL, EXPIRED_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.server.refreshSession");
    char *body = s_session_body("9", NOW / 1000 + 7200);
    assert_int_equal(s_feed(&call, 200, NULL, body), CR_STEP_REQUEST);
    free(body);
    assert_string_equal(call.req.method, "GET");
    assert_int_equal(s_feed(&call, 200, NULL, mine), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    cr_call_clear(&call, &cr_bluesky_adapter);
    free(mine);
}

static void test_steps_later_attempt_reads_first(void **state)
{
    fixture_t f;
    cr_call_t call;
    s_fixture(&f, "Spring sale", NULL);
    f.task.attempt = 2;
    char *mine = s_record_body(&f);
    /* written by the earlier attempt: OK without a second write */
    s_start(&call, &f, "1");
    assert_string_equal(s_nsid(&call), "com.atproto.repo.getRecord?repo=did%3Aplc%3A"
                                       "abcdefghijklmnopqrstuvwx&collection=app.bsky.feed.post"
                                       "&rkey=3kl2dd6kzonf2");
    assert_int_equal(s_feed(&call, 200, NULL, mine), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 1);
    cr_call_clear(&call, &cr_bluesky_adapter);
    /* not there: publish */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 400, NULL, NOT_FOUND_BODY), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.repo.createRecord");
    assert_int_equal(s_feed(&call, 200, NULL, CREATED), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_OK);
    assert_int_equal(call.result.reconciled, 0);
    cr_call_clear(&call, &cr_bluesky_adapter);
    /* the read fails: publish anyway (the rkey still guards) */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 502, NULL, ""), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.repo.createRecord");
    cr_call_clear(&call, &cr_bluesky_adapter);
    /* a rate-limited read ends the task RATE_LIMITED */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 429, "RateLimit-Reset: 1700000100\r\n", "{}"), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(call.result.retry_at_ms, 1700000100000LL);
    cr_call_clear(&call, &cr_bluesky_adapter);
    free(mine);
}

static void test_steps_outcomes(void **state)
{
    fixture_t f;
    cr_call_t call;
    s_fixture(&f, "Hello", NULL);
    /* sent, never answered: INDETERMINATE (retried; the rkey makes it safe) */
    s_start(&call, &f, "1");
    cr_http_resp_t resp = s_curl(CURLE_OPERATION_TIMEDOUT, 1);
    cr_http_req_clear(&call.req);
    assert_int_equal(cr_bluesky_adapter.step(&call, &resp), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE);
    cr_call_clear(&call, &cr_bluesky_adapter);
    /* validation refusal: PERMANENT with the platform's words */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 400, NULL, "{\"error\":\"InvalidRequest\",\"message\":\"" TOO_LONG "\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error, TOO_LONG);
    cr_call_clear(&call, &cr_bluesky_adapter);
    /* rate limited */
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 429, "RateLimit-Reset: 1700000042\r\n",
                            "{\"error\":\"RateLimitExceeded\",\"message\":\"Rate Limit Exceeded\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    assert_int_equal(call.result.retry_at_ms, 1700000042000LL);
    cr_call_clear(&call, &cr_bluesky_adapter);
    /* createSession rate limited */
    cr_bluesky_sessions_reset();
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_int_equal(s_feed(&call, 429, "RateLimit-Reset: 1700000300\r\n", "{\"error\":\"RateLimitExceeded\"}"),
                     CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED);
    cr_call_clear(&call, &cr_bluesky_adapter);
    /* no idempotency key: the post id makes the key; none at all: PERMANENT */
    f.pub.idempotency_key = NULL;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    cr_call_clear(&call, &cr_bluesky_adapter);
    f.pub.post_id = 0;
    cr_call_init(&call, &f.task);
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_DONE);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(call.result.error_code, "bad_idempotency_key");
    cr_call_clear(&call, &cr_bluesky_adapter);
}

static void test_steps_session_loop_bounded(void **state)
{
    /* a server that keeps answering ExpiredToken to fresh tokens */
    fixture_t f;
    cr_call_t call;
    s_fixture(&f, "Hello", NULL);
    s_start(&call, &f, "1");
    int rc = CR_STEP_REQUEST, rounds = 0;
    while (rc == CR_STEP_REQUEST && rounds++ < 40) {
        if (strncmp(s_nsid(&call), "com.atproto.server.", 19) == 0) {
            char *body = s_session_body("x", NOW / 1000 + 7200);
            rc = s_feed(&call, 200, NULL, body);
            free(body);
        } else {
            rc = s_feed(&call, 400, NULL, EXPIRED_BODY);
        }
    }
    assert_int_equal(rc, CR_STEP_DONE);
    assert_true(rounds < 20);
    assert_int_equal(call.result.outcome, CRIEUR__OUTCOME__OUTCOME_TRANSIENT);
    assert_string_equal(call.result.error_code, "session_loop");
    cr_call_clear(&call, &cr_bluesky_adapter);
}

static void test_session_cache_bounded(void **state)
{
    fixture_t f;
    cr_call_t call;
    s_fixture(&f, "Hello", NULL);
    char *body = s_session_body("1", NOW / 1000 + 7200);
    for (int i = 1; i <= CR_BSKY_SESSIONS_MAX + 10; i++) {
        f.acc.id = i;
        cr_call_init(&call, &f.task);
        call.now_ms = NOW + i;
        assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
        cr_http_resp_t resp = s_resp(200, NULL, body);
        cr_http_req_clear(&call.req);
        call.now_ms = NOW + i;
        assert_int_equal(cr_bluesky_adapter.step(&call, &resp), CR_STEP_REQUEST);
        cr_call_clear(&call, &cr_bluesky_adapter);
    }
    free(body);
    assert_int_equal(cr_bluesky_sessions_count(), CR_BSKY_SESSIONS_MAX);
    /* the most recent account is still cached, the oldest was evicted */
    f.acc.id = CR_BSKY_SESSIONS_MAX + 10;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.repo.createRecord");
    cr_call_clear(&call, &cr_bluesky_adapter);
    f.acc.id = 1;
    cr_call_init(&call, &f.task);
    call.now_ms = NOW;
    assert_int_equal(cr_bluesky_adapter.step(&call, NULL), CR_STEP_REQUEST);
    assert_string_equal(s_nsid(&call), "com.atproto.server.createSession");
    cr_call_clear(&call, &cr_bluesky_adapter);
}

static void test_registered(void **state)
{
    const cr_adapter_t *a = cr_adapters_find(cr_adapters_builtin(), "bluesky");
    assert_ptr_equal(a, &cr_bluesky_adapter);
    assert_true(a->kinds & CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_PUBLISH));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rkey),
        cmocka_unit_test(test_tid_valid),
        cmocka_unit_test(test_post_text),
        cmocka_unit_test(test_facets_utf8_offsets),
        cmocka_unit_test(test_facets_links),
        cmocka_unit_test(test_facets_tags_and_mentions),
        cmocka_unit_test(test_jwt_exp),
        cmocka_unit_test(test_session_request),
        cmocka_unit_test(test_refresh_request),
        cmocka_unit_test(test_create_request),
        cmocka_unit_test(test_create_request_refusals),
        cmocka_unit_test(test_get_record_request),
        cmocka_unit_test(test_session_result),
        cmocka_unit_test(test_refresh_result),
        cmocka_unit_test(test_create_ok),
        cmocka_unit_test(test_create_classification),
        cmocka_unit_test(test_create_network),
        cmocka_unit_test(test_hostile_errors),
        cmocka_unit_test(test_record_result),
        cmocka_unit_test_setup(test_steps_publish_and_reuse, s_reset),
        cmocka_unit_test_setup(test_steps_expired_refresh, s_reset),
        cmocka_unit_test_setup(test_steps_one_refresh_at_a_time, s_reset),
        cmocka_unit_test_setup(test_steps_single_flight, s_reset),
        cmocka_unit_test_setup(test_steps_known_expired, s_reset),
        cmocka_unit_test_setup(test_steps_reauth, s_reset),
        cmocka_unit_test_setup(test_steps_exists_read_back, s_reset),
        cmocka_unit_test_setup(test_steps_later_attempt_reads_first, s_reset),
        cmocka_unit_test_setup(test_steps_outcomes, s_reset),
        cmocka_unit_test_setup(test_steps_session_loop_bounded, s_reset),
        cmocka_unit_test_setup(test_session_cache_bounded, s_reset),
        cmocka_unit_test(test_registered),
        cmocka_unit_test(test_create_request_images_reply),
        cmocka_unit_test(test_upload_and_parent),
        cmocka_unit_test_setup(test_steps_reply_with_image, s_reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cr_bluesky_sessions_reset();
    return rc;
}
