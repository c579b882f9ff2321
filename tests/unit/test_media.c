/* test_media: cr_media (image sources, sniffing, local files, download
 * answers, multipart bodies), without a network. */
#include "cr_adapter.h"
#include "cr_media.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static const unsigned char s_jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F'};
static const unsigned char s_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0};
static const unsigned char s_webp[] = {'R', 'I', 'F', 'F', 4, 0, 0, 0, 'W', 'E', 'B', 'P'};

static char s_dir[64];

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/crieur-media-XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    unsetenv("CRIEUR_MEDIA_ROOT");
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    assert_int_equal(system(cmd), 0);
    unsetenv("CRIEUR_MEDIA_ROOT");
    return 0;
}

/* Writes data to s_dir/name; the path in out. */
static void s_write(const char *name, const void *data, size_t len, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", s_dir, name);
    FILE *f = fopen(out, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void test_source(void **state)
{
    (void)state;
    assert_int_equal(cr_media_source("https://cdn.example/a.jpg"), CR_MEDIA_URL);
    assert_int_equal(cr_media_source("http://cdn.example/a.jpg"), CR_MEDIA_URL);
    assert_int_equal(cr_media_source("/srv/media/a.jpg"), CR_MEDIA_FILE);
    assert_int_equal(cr_media_source("file:///srv/media/a.jpg"), CR_MEDIA_FILE);
    assert_int_equal(cr_media_source("https://"), CR_MEDIA_BAD);
    assert_int_equal(cr_media_source("file://host/a.jpg"), CR_MEDIA_BAD);
    assert_int_equal(cr_media_source("ftp://cdn.example/a.jpg"), CR_MEDIA_BAD);
    assert_int_equal(cr_media_source("a.jpg"), CR_MEDIA_BAD);
    assert_int_equal(cr_media_source("HTTPS://cdn.example/a.jpg"), CR_MEDIA_BAD);
    assert_int_equal(cr_media_source(""), CR_MEDIA_BAD);
    assert_int_equal(cr_media_source(NULL), CR_MEDIA_BAD);
    assert_int_equal(cr_media_source("/a\nb.jpg"), CR_MEDIA_BAD);
    assert_int_equal(cr_media_source("https://a.example/\x7f"), CR_MEDIA_BAD);
    char *longref = malloc(5000);
    memset(longref, 'a', 4999);
    longref[0] = '/';
    longref[4999] = '\0';
    assert_int_equal(cr_media_source(longref), CR_MEDIA_BAD);
    free(longref);
}

static void test_sniff(void **state)
{
    (void)state;
    assert_string_equal(cr_media_sniff(s_jpeg, sizeof s_jpeg), "image/jpeg");
    assert_string_equal(cr_media_sniff(s_png, sizeof s_png), "image/png");
    assert_string_equal(cr_media_sniff("GIF87a....", 10), "image/gif");
    assert_string_equal(cr_media_sniff("GIF89a", 6), "image/gif");
    assert_string_equal(cr_media_sniff(s_webp, sizeof s_webp), "image/webp");
    assert_null(cr_media_sniff("RIFF\4\0\0\0WAVE", 12)); /* RIFF but not WebP */
    assert_null(cr_media_sniff(s_png, 7));                 /* cut signature */
    assert_null(cr_media_sniff(s_jpeg, 2));
    assert_null(cr_media_sniff("GIF88a", 6));
    assert_null(cr_media_sniff("<html>", 6));
    assert_null(cr_media_sniff("", 0));
    assert_null(cr_media_sniff(NULL, 10));
    assert_string_equal(cr_media_ext("image/jpeg"), "jpg");
    assert_string_equal(cr_media_ext("image/png"), "png");
    assert_string_equal(cr_media_ext("image/gif"), "gif");
    assert_string_equal(cr_media_ext("image/webp"), "webp");
    assert_string_equal(cr_media_ext("video/mp4"), "bin");
    assert_string_equal(cr_media_ext(NULL), "bin");
}

static void test_load_file(void **state)
{
    (void)state;
    char path[256], ref[300];
    cr_media_t m;
    cr_result_t r;
    memset(&r, 0, sizeof r);
    s_write("a.png", s_png, sizeof s_png, path, sizeof path);
    assert_int_equal(cr_media_load_file(path, 0, &m, &r), 0);
    assert_int_equal(m.len, sizeof s_png);
    assert_memory_equal(m.data, s_png, sizeof s_png);
    assert_string_equal(m.mime, "image/png");
    assert_string_equal(m.name, "image.png");
    cr_media_clear(&m);
    assert_null(m.data);
    cr_media_clear(&m); /* safe twice */

    snprintf(ref, sizeof ref, "file://%s", path);
    assert_int_equal(cr_media_load_file(ref, 0, &m, &r), 0);
    assert_string_equal(m.mime, "image/png");
    cr_media_clear(&m);

    /* the name never decides the type */
    s_write("photo.png", s_jpeg, sizeof s_jpeg, path, sizeof path);
    assert_int_equal(cr_media_load_file(path, 0, &m, &r), 0);
    assert_string_equal(m.mime, "image/jpeg");
    assert_string_equal(m.name, "image.jpg");
    cr_media_clear(&m);
}

static void s_expect_fail(const char *ref, size_t max, Crieur__Outcome o, const char *code,
                          const char *in_message)
{
    cr_media_t m;
    cr_result_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cr_media_load_file(ref, max, &m, &r), -1);
    assert_null(m.data);
    assert_int_equal(r.outcome, o);
    assert_string_equal(r.error_code, code);
    if (in_message && !strstr(r.error, in_message))
        fail_msg("'%s' not in error '%s'", in_message, r.error);
    cr_result_clear(&r);
}

static void test_load_file_refusals(void **state)
{
    (void)state;
    char path[256], ref[400];
    s_write("a.jpg", s_jpeg, sizeof s_jpeg, path, sizeof path);
    const Crieur__Outcome P = CRIEUR__OUTCOME__OUTCOME_PERMANENT;

    /* '..' and '.' components are refused even when they resolve to the file */
    snprintf(ref, sizeof ref, "%s/../%s/a.jpg", s_dir, strrchr(s_dir, '/') + 1);
    s_expect_fail(ref, 0, P, "bad_media", "'..'");
    snprintf(ref, sizeof ref, "%s/./a.jpg", s_dir);
    s_expect_fail(ref, 0, P, "bad_media", NULL);
    snprintf(ref, sizeof ref, "%s/..", s_dir);
    s_expect_fail(ref, 0, P, "bad_media", NULL);
    /* a name that merely contains dots is fine */
    char p2[256];
    s_write("..a..jpg", s_jpeg, sizeof s_jpeg, p2, sizeof p2);
    cr_media_t m;
    cr_result_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(cr_media_load_file(p2, 0, &m, &r), 0);
    cr_media_clear(&m);

    s_expect_fail("https://cdn.example/a.jpg", 0, P, "bad_media", NULL);
    s_expect_fail("relative/a.jpg", 0, P, "bad_media", NULL);
    snprintf(ref, sizeof ref, "%s/missing.jpg", s_dir);
    s_expect_fail(ref, 0, P, "media_unreadable", "No such file");
    s_expect_fail(s_dir, 0, P, "media_unreadable", "not a regular file");
    /* too large for the platform's limit: named with the sizes */
    s_expect_fail(path, 4, P, "media_too_large", "10 bytes");
    /* not an image, and an empty file */
    s_write("a.txt", "hello, world", 12, ref, sizeof ref);
    s_expect_fail(ref, 0, P, "media_not_image", "not a JPEG, PNG, GIF or WebP");
    s_write("empty.jpg", "", 0, ref, sizeof ref);
    s_expect_fail(ref, 0, P, "media_not_image", NULL);
}

static void test_media_root(void **state)
{
    (void)state;
    char path[256], root[300], other[300];
    cr_media_t m;
    cr_result_t r;
    memset(&r, 0, sizeof r);
    snprintf(root, sizeof root, "%s/root", s_dir);
    assert_int_equal(mkdir(root, 0700), 0);
    snprintf(other, sizeof other, "%s/rootx", s_dir);
    assert_int_equal(mkdir(other, 0700), 0);
    s_write("root/in.gif", "GIF89a\1\0\1\0", 10, path, sizeof path);
    setenv("CRIEUR_MEDIA_ROOT", root, 1);
    assert_int_equal(cr_media_load_file(path, 0, &m, &r), 0);
    assert_string_equal(m.mime, "image/gif");
    cr_media_clear(&m);
    /* a trailing slash on the root changes nothing */
    char slashed[320];
    snprintf(slashed, sizeof slashed, "%s//", root);
    setenv("CRIEUR_MEDIA_ROOT", slashed, 1);
    assert_int_equal(cr_media_load_file(path, 0, &m, &r), 0);
    cr_media_clear(&m);
    setenv("CRIEUR_MEDIA_ROOT", root, 1);
    /* a sibling whose name starts like the root is outside it */
    s_write("rootx/out.gif", "GIF89a\1\0\1\0", 10, path, sizeof path);
    s_expect_fail(path, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_outside_root",
                  "media.root");
    /* so is a symbolic link inside the root pointing out of it */
    char link[320];
    snprintf(link, sizeof link, "%s/link.gif", root);
    assert_int_equal(symlink(path, link), 0);
    s_expect_fail(link, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_outside_root", NULL);
    /* the root itself is no file */
    s_expect_fail(root, 0, CRIEUR__OUTCOME__OUTCOME_PERMANENT, "media_outside_root", NULL);
    unsetenv("CRIEUR_MEDIA_ROOT");
    assert_int_equal(cr_media_load_file(path, 0, &m, &r), 0);
    cr_media_clear(&m);
}

static cr_http_resp_t s_resp(long status, const void *body, size_t len)
{
    cr_http_resp_t resp;
    memset(&resp, 0, sizeof resp);
    resp.status = status;
    resp.headers = "";
    resp.body = body;
    resp.body_len = len;
    resp.error = "";
    resp.sent = 1;
    return resp;
}

static void test_fetch_request(void **state)
{
    (void)state;
    cr_http_req_t req;
    cr_result_t r;
    memset(&req, 0, sizeof req);
    memset(&r, 0, sizeof r);
    assert_int_equal(cr_media_fetch_request(&req, "https://cdn.example/a.jpg?sig=1", 1000, &r), 0);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.url, "https://cdn.example/a.jpg?sig=1");
    assert_int_equal(req.max_body, 1000);
    assert_int_equal(req.follow_redirects, 1);
    assert_null(req.body);
    cr_http_req_clear(&req);
    /* the cap never exceeds the runtime's media cap */
    assert_int_equal(cr_media_fetch_request(&req, "http://cdn.example/a", 0, &r), 0);
    assert_int_equal(req.max_body, CR_MEDIA_MAX_BYTES);
    cr_http_req_clear(&req);
    assert_int_equal(cr_media_fetch_request(&req, "/srv/a.jpg", 0, &r), -1);
    assert_int_equal(r.outcome, CRIEUR__OUTCOME__OUTCOME_PERMANENT);
    assert_string_equal(r.error_code, "bad_media");
    cr_result_clear(&r);
    assert_null(req.url);
}

typedef struct {
    long status;
    int curl_code;
    int too_large;
    const void *body;
    size_t len;
    Crieur__Outcome outcome; /* 0: OK */
    const char *code;
} s_dl_case_t;

static void test_from_response(void **state)
{
    (void)state;
    const char *url = "https://user:pw@cdn.example:8443/img/a.jpg?signature=SECRET";
    const Crieur__Outcome P = CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                          T = CRIEUR__OUTCOME__OUTCOME_TRANSIENT;
    const s_dl_case_t cases[] = {
        {200, 0, 0, s_jpeg, sizeof s_jpeg, 0, NULL},
        {203, 0, 0, s_webp, sizeof s_webp, 0, NULL},
        {200, 0, 0, "<html>login</html>", 18, P, "media_not_image"},
        {200, 0, 0, "", 0, P, "media_not_image"},
        {200, 0, 0, s_jpeg, sizeof s_jpeg, P, "media_too_large"}, /* max 5 below */
        {200, CURLE_FILESIZE_EXCEEDED, 0, NULL, 0, P, "media_too_large"},
        {200, CURLE_WRITE_ERROR, 1, NULL, 0, P, "media_too_large"},
        {404, 0, 0, "{}", 2, P, "media_unavailable"},
        {403, 0, 0, "", 0, P, "media_unavailable"},
        {410, 0, 0, "", 0, P, "media_unavailable"},
        {301, 0, 0, "", 0, P, "media_unavailable"}, /* a redirect curl did not follow */
        {429, 0, 0, "", 0, T, "media_download"},
        {500, 0, 0, "", 0, T, "media_download"},
        {503, 0, 0, "", 0, T, "media_download"},
        {0, CURLE_COULDNT_CONNECT, 0, NULL, 0, T, "media_download"},
        {0, CURLE_OPERATION_TIMEDOUT, 0, NULL, 0, T, "media_download"},
        {200, CURLE_RECV_ERROR, 0, NULL, 0, T, "media_download"},
        {0, 0, 0, NULL, 0, T, "media_download"}, /* no answer at all */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_http_resp_t resp = s_resp(cases[i].status, cases[i].body, cases[i].len);
        resp.curl_code = cases[i].curl_code;
        resp.too_large = cases[i].too_large;
        if (cases[i].curl_code) resp.error = curl_easy_strerror((CURLcode)cases[i].curl_code);
        size_t max = i == 4 ? 5 : 1000;
        cr_media_t m;
        cr_result_t r;
        memset(&r, 0, sizeof r);
        int rc = cr_media_from_response(&resp, url, max, &m, &r);
        if (cases[i].outcome == 0) {
            if (rc != 0) fail_msg("case %zu: expected OK, got %s", i, r.error);
            assert_int_equal(m.len, cases[i].len);
            assert_memory_equal(m.data, cases[i].body, m.len);
            cr_media_clear(&m);
            continue;
        }
        if (rc != -1) fail_msg("case %zu: expected a failure", i);
        assert_null(m.data);
        if (r.outcome != cases[i].outcome || strcmp(r.error_code, cases[i].code) != 0)
            fail_msg("case %zu: got %d %s (%s)", i, r.outcome, r.error_code, r.error);
        /* the host is named; the query, path and credentials never */
        if (!strstr(r.error, "cdn.example")) fail_msg("case %zu: no host in '%s'", i, r.error);
        assert_null(strstr(r.error, "SECRET"));
        assert_null(strstr(r.error, "pw"));
        assert_null(strstr(r.error, "/img/"));
        cr_result_clear(&r);
    }
}

/* The part of a multipart body between "name=\"<name>\"" and the next boundary. */
static void test_multipart(void **state)
{
    (void)state;
    cr_multipart_t mp;
    cr_http_req_t req;
    memset(&req, 0, sizeof req);
    assert_int_equal(cr_http_req_init(&req, "POST", "https://x.example/upload"), 0);
    cr_multipart_init(&mp);
    assert_int_equal(strncmp(mp.boundary, "crieur-", 7), 0);
    assert_int_equal(strlen(mp.boundary), 7 + 24);
    char boundary[64];
    snprintf(boundary, sizeof boundary, "%s", mp.boundary);
    cr_multipart_field(&mp, "description", "a caption, été");
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (unsigned char)i; /* NULs, CR, LF */
    cr_multipart_file(&mp, "file", "image.jpg", "image/jpeg", bin, sizeof bin);
    assert_int_equal(cr_multipart_finish(&mp, &req), 0);
    assert_null(mp.buf);

    char expect_head[512];
    int n = snprintf(expect_head, sizeof expect_head,
                     "--%s\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n"
                     "a caption, \xc3\xa9t\xc3\xa9\r\n"
                     "--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                     "filename=\"image.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n",
                     boundary, boundary);
    char tail[128];
    int tn = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", boundary);
    assert_int_equal(req.body_len, (size_t)n + sizeof bin + (size_t)tn);
    assert_memory_equal(req.body, expect_head, (size_t)n);
    assert_memory_equal(req.body + n, bin, sizeof bin);
    assert_memory_equal(req.body + n + sizeof bin, tail, (size_t)tn);
    char ct[128];
    snprintf(ct, sizeof ct, "Content-Type: multipart/form-data; boundary=%s", boundary);
    int found = 0;
    for (size_t i = 0; i < req.n_headers; i++) found |= strcmp(req.headers[i], ct) == 0;
    assert_true(found);
    cr_http_req_clear(&req);

    /* two builders never share a boundary */
    cr_multipart_t a, b;
    cr_multipart_init(&a);
    cr_multipart_init(&b);
    assert_string_not_equal(a.boundary, b.boundary);
    cr_multipart_clear(&a);
    cr_multipart_clear(&b);
}

static void s_expect_mp_fail(int which)
{
    cr_multipart_t mp;
    cr_http_req_t req;
    memset(&req, 0, sizeof req);
    assert_int_equal(cr_http_req_init(&req, "POST", "https://x.example/upload"), 0);
    cr_multipart_init(&mp);
    switch (which) {
    case 0: cr_multipart_field(&mp, "na\"me", "v"); break;
    case 1: cr_multipart_field(&mp, "name\r\nX-Injected: 1", "v"); break;
    case 2: cr_multipart_field(&mp, "", "v"); break;
    case 3: cr_multipart_field(&mp, "name", NULL); break;
    case 4: cr_multipart_file(&mp, "file", "a\".jpg", "image/jpeg", "x", 1); break;
    case 5: cr_multipart_file(&mp, "file", "a\\.jpg", "image/jpeg", "x", 1); break;
    case 6: cr_multipart_file(&mp, "file", "a.jpg", "image/jpeg\r\nX: y", "x", 1); break;
    case 7: cr_multipart_file(&mp, "file", "a.jpg", "image/jpeg", NULL, 5); break;
    case 8: { /* the data holds the boundary: it would end the part early */
        char data[128];
        snprintf(data, sizeof data, "xx\r\n--%s\r\nmore", mp.boundary);
        cr_multipart_file(&mp, "file", "a.jpg", "image/jpeg", data, strlen(data));
        break;
    }
    case 9: { /* so does a field value */
        char value[128];
        snprintf(value, sizeof value, "a\r\n--%s--\r\n", mp.boundary);
        cr_multipart_field(&mp, "description", value);
        break;
    }
    }
    cr_multipart_field(&mp, "after", "ok"); /* errors are sticky */
    if (cr_multipart_finish(&mp, &req) != -1) fail_msg("case %d: accepted", which);
    assert_null(mp.buf);
    assert_null(req.body);
    cr_http_req_clear(&req);
}

static void test_multipart_bad_names(void **state)
{
    (void)state;
    for (int i = 0; i <= 9; i++) s_expect_mp_fail(i);
    /* an empty file is a legal part */
    cr_multipart_t mp;
    cr_http_req_t req;
    memset(&req, 0, sizeof req);
    assert_int_equal(cr_http_req_init(&req, "POST", "https://x.example/upload"), 0);
    cr_multipart_init(&mp);
    cr_multipart_file(&mp, "file", "empty.bin", "application/octet-stream", NULL, 0);
    assert_int_equal(cr_multipart_finish(&mp, &req), 0);
    assert_non_null(strstr(req.body, "filename=\"empty.bin\""));
    cr_http_req_clear(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source),
        cmocka_unit_test(test_sniff),
        cmocka_unit_test_setup_teardown(test_load_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_load_file_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_media_root, s_setup, s_teardown),
        cmocka_unit_test(test_fetch_request),
        cmocka_unit_test(test_from_response),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_multipart_bad_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
