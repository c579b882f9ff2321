/*
 * sb_params: request parameters of a platform call, from any of the encodings
 * clients use (application/x-www-form-urlencoded, multipart/form-data, JSON
 * object, query string), flattened to key/value pairs the way Rails sees them:
 * a JSON array "media_ids":["1","2"] becomes media_ids[]=1, media_ids[]=2;
 * JSON numbers and booleans become their text. Values are NUL-terminated but
 * may contain NULs (multipart files): use the length.
 */
#ifndef SB_PARAMS_H
#define SB_PARAMS_H

#include "sb_http.h"

#define SB_MAX_PARAMS 64

typedef enum {
    SB_PARAMS_OK,
    SB_PARAMS_BAD,   /* malformed JSON, or text that is not UTF-8 */
    SB_PARAMS_OOM
} sb_params_status_t;

typedef struct {
    sb_buf_t data;   /* "key\0value\0" ... */
    struct {
        size_t key;
        size_t value;
        size_t vlen;
        bool binary;   /* multipart file part: not checked for UTF-8 */
    } p[SB_MAX_PARAMS];
    size_t n;
} sb_params_t;

/* Parses the body (by Content-Type) then appends the query arguments. */
sb_params_status_t sb_params_parse (sb_params_t *self, const sb_req_t *req);
void sb_params_free (sb_params_t *self);
/* First value for key (body before query), or NULL. */
const char *sb_params_get (const sb_params_t *self, const char *key, size_t *vlen);
size_t sb_params_all (const sb_params_t *self, const char *key, const char **out, size_t max);
/* Appends one pair (used by the parsers; exposed for tests). */
int sb_params_add (sb_params_t *self, const char *key, size_t klen, const char *value,
                   size_t vlen, bool binary);
/* Parses a form-urlencoded string. */
int sb_params_parse_form (sb_params_t *self, const char *body, size_t len);

#endif
