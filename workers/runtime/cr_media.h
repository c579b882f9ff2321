/* cr_media: the images a post carries, as the adapters' upload flows need them.
 *
 * A post's media item (PublishPayload.media) is either an http(s) URL or a
 * local file: an absolute path or a file:// URL, read by the worker (so the
 * file must be visible to the worker, e.g. a shared volume). When the
 * setting media.root (env CRIEUR_MEDIA_ROOT) is set, local files must lie
 * under it. Platforms that take an image by URL (Instagram, Threads, a
 * Facebook photo) get the URL as it is; the others upload the bytes, which
 * an adapter obtains with cr_media_load_file (a local file: read at once,
 * it is small and local) or with a download step: cr_media_fetch_request,
 * then cr_media_from_response.
 *
 * Only still images are handled: JPEG, PNG, GIF and WebP, recognised by
 * their bytes (never by the name or a server's Content-Type). */
#ifndef CR_MEDIA_H
#define CR_MEDIA_H

#include "cr_adapter.h"
#include "cr_http.h"

#include <stddef.h>

#define CR_MEDIA_MAX_BYTES (CR_HTTP_MAX_MEDIA_BYTES) /* absolute cap of one image */

typedef enum {
    CR_MEDIA_BAD = 0, /* neither: refused */
    CR_MEDIA_URL = 1, /* http:// or https:// */
    CR_MEDIA_FILE = 2 /* /absolute/path or file:///absolute/path */
} cr_media_src_t;

typedef struct {
    unsigned char *data; /* owned */
    size_t len;
    const char *mime;    /* static: "image/jpeg", ... */
    char name[64];       /* a file name for multipart uploads: "image.jpg" */
} cr_media_t;

cr_media_src_t cr_media_source(const char *ref);
/* The image type of these bytes, or NULL if they are not a JPEG, PNG, GIF or WebP image. */
const char *cr_media_sniff(const void *data, size_t len);
/* "jpg", "png", "gif", "webp" for a type cr_media_sniff returns, else "bin". */
const char *cr_media_ext(const char *mime);

/* Reads a local image (ref: path or file:// URL) of at most max bytes.
 * 0 with m filled, or -1 with r set PERMANENT (what is wrong and how to fix
 * it: no such file, unreadable, outside media.root, too large, not an
 * image). */
int cr_media_load_file(const char *ref, size_t max, cr_media_t *m, cr_result_t *r);

/* Fills req with the download of url (GET, redirects followed, body cap
 * max). 0, or -1 with r set (bad URL: PERMANENT; out of memory: TRANSIENT). */
int cr_media_fetch_request(cr_http_req_t *req, const char *url, size_t max, cr_result_t *r);
/* The download's answer: 0 with m filled, or -1 with r set: network errors
 * and 5xx/429 TRANSIENT (nothing was published); 4xx, too large or not an
 * image PERMANENT. Error texts name the URL's host, never its query. */
int cr_media_from_response(const cr_http_resp_t *resp, const char *url, size_t max, cr_media_t *m,
                           cr_result_t *r);




void cr_media_clear(cr_media_t *m);

/* multipart/form-data, built in memory. Errors are sticky (checked at finish). */
typedef struct {
    char *buf;
    size_t len, cap;
    char boundary[48];
    int failed;
} cr_multipart_t;

void cr_multipart_init(cr_multipart_t *mp);
void cr_multipart_field(cr_multipart_t *mp, const char *name, const char *value);
void cr_multipart_file(cr_multipart_t *mp, const char *name, const char *filename,
                       const char *mime, const void *data, size_t len);
/* Closes the body and moves it into req (Content-Type with the boundary).
 * 0, or -1 (out of memory, or a name with a quote or line break). mp is
 * released either way. */
int cr_multipart_finish(cr_multipart_t *mp, cr_http_req_t *req);
void cr_multipart_clear(cr_multipart_t *mp);

#endif
