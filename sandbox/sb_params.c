/* sb_params: request parameter decoding. See sb_params.h. */
#include "sb_params.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
sb_params_add (sb_params_t *self, const char *key, size_t klen, const char *value, size_t vlen,
               bool binary)
{
    if (self->n >= SB_MAX_PARAMS)
        return 0;   /* ignore the excess, as a server with a param limit would */
    size_t k = self->data.len;
    sb_buf_add (&self->data, key, klen);
    sb_buf_addc (&self->data, '\0');
    size_t v = self->data.len;
    sb_buf_add (&self->data, value, vlen);
    sb_buf_addc (&self->data, '\0');
    if (!sb_buf_ok (&self->data))
        return -1;
    self->p[self->n].key = k;
    self->p[self->n].value = v;
    self->p[self->n].vlen = vlen;
    self->p[self->n].binary = binary;
    self->n++;
    return 0;
}

void
sb_params_free (sb_params_t *self)
{
    sb_buf_free (&self->data);
    self->n = 0;
}

const char *
sb_params_get (const sb_params_t *self, const char *key, size_t *vlen)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp (self->data.data + self->p[i].key, key) == 0) {
            if (vlen)
                *vlen = self->p[i].vlen;
            return self->data.data + self->p[i].value;
        }
    return NULL;
}

size_t
sb_params_all (const sb_params_t *self, const char *key, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n && n < max; i++)
        if (strcmp (self->data.data + self->p[i].key, key) == 0)
            out[n++] = self->data.data + self->p[i].value;
    return n;
}

int
sb_params_parse_form (sb_params_t *self, const char *body, size_t len)
{
    char *copy = malloc (len + 1);
    if (!copy)
        return -1;
    memcpy (copy, body, len);
    copy[len] = '\0';
    int rc = 0;
    size_t start = 0;
    while (start <= len && rc == 0) {
        size_t end = start;
        while (end < len && copy[end] != '&')
            end++;
        if (end > start) {
            char *pair = copy + start;
            size_t plen = end - start;
            char *eq = memchr (pair, '=', plen);
            size_t klen = eq ? (size_t) (eq - pair) : plen;
            char *val = eq ? eq + 1 : pair + plen;
            size_t vlen = eq ? plen - klen - 1 : 0;
            klen = sb_url_decode (pair, klen);
            vlen = sb_url_decode (val, vlen);
            if (klen > 0)
                rc = sb_params_add (self, pair, klen, val, vlen, false);
        }
        start = end + 1;
    }
    free (copy);
    return rc;
}

static int
s_add_json_value (sb_params_t *self, const char *key, const json_t *v)
{
    char num[64];
    switch (json_typeof (v)) {
    case JSON_STRING:
        return sb_params_add (self, key, strlen (key), json_string_value (v),
                              json_string_length (v), false);
    case JSON_INTEGER:
        snprintf (num, sizeof (num), "%lld", (long long) json_integer_value (v));
        return sb_params_add (self, key, strlen (key), num, strlen (num), false);
    case JSON_REAL:
        snprintf (num, sizeof (num), "%.17g", json_real_value (v));
        return sb_params_add (self, key, strlen (key), num, strlen (num), false);
    case JSON_TRUE:
        return sb_params_add (self, key, strlen (key), "true", 4, false);
    case JSON_FALSE:
        return sb_params_add (self, key, strlen (key), "false", 5, false);
    default:
        return 0;   /* null, nested objects: not used by the imitated endpoints */
    }
}

static sb_params_status_t
s_parse_json (sb_params_t *self, const char *body, size_t len)
{
    json_error_t err;
    json_t *root = json_loadb (body, len, 0, &err);
    if (!root)
        return SB_PARAMS_BAD;
    sb_params_status_t status = SB_PARAMS_OK;
    if (json_is_object (root)) {
        const char *key;
        json_t *value;
        json_object_foreach (root, key, value) {
            if (strlen (key) > 200)
                continue;
            if (json_is_array (value)) {
                char akey[210];
                snprintf (akey, sizeof (akey), "%s[]", key);
                size_t i;
                json_t *item;
                json_array_foreach (value, i, item) {
                    if (s_add_json_value (self, akey, item) != 0)
                        status = SB_PARAMS_OOM;
                }
            }
            else if (s_add_json_value (self, key, value) != 0)
                status = SB_PARAMS_OOM;
        }
    }
    json_decref (root);
    return status;
}

typedef struct {
    sb_params_t *params;
    int rc;
} s_mp_t;

static enum MHD_Result
s_multipart_part (void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                  const char *content_type, const char *transfer_encoding, const char *data,
                  uint64_t off, size_t size)
{
    s_mp_t *mp = cls;
    sb_params_t *self = mp->params;
    if (!key)
        return MHD_YES;
    if (off > 0 && self->n > 0 && strcmp (self->data.data + self->p[self->n - 1].key, key) == 0
        && self->p[self->n - 1].value + self->p[self->n - 1].vlen + 1 == self->data.len) {
        /* continuation of the last value: it sits at the end of the buffer */
        self->data.len--;   /* drop its NUL */
        sb_buf_add (&self->data, data, size);
        sb_buf_addc (&self->data, '\0');
        self->p[self->n - 1].vlen += size;
        if (!sb_buf_ok (&self->data))
            mp->rc = -1;
        return MHD_YES;
    }
    if (sb_params_add (self, key, strlen (key), data ? data : "", size, filename != NULL) != 0)
        mp->rc = -1;
    return MHD_YES;
}

static enum MHD_Result
s_query_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    s_mp_t *mp = cls;
    if (key && sb_params_add (mp->params, key, strlen (key), value ? value : "",
                              value ? strlen (value) : 0, false)
                   != 0)
        mp->rc = -1;
    return MHD_YES;
}

sb_params_status_t
sb_params_parse (sb_params_t *self, const sb_req_t *req)
{
    memset (self, 0, sizeof (*self));
    sb_buf_init (&self->data);
    const char *ct = sb_req_header (req, MHD_HTTP_HEADER_CONTENT_TYPE);
    sb_params_status_t status = SB_PARAMS_OK;
    if (req->body_len > 0) {
        if (ct && sb_prefix_ci (ct, "application/json"))
            status = s_parse_json (self, req->body, req->body_len);
        else if (ct && sb_prefix_ci (ct, "multipart/form-data")) {
            s_mp_t mp = { self, 0 };
            struct MHD_PostProcessor *pp =
                MHD_create_post_processor (req->conn, 16 * 1024, s_multipart_part, &mp);
            if (!pp)
                status = SB_PARAMS_BAD;   /* no boundary */
            else {
                if (MHD_post_process (pp, req->body, req->body_len) != MHD_YES)
                    status = SB_PARAMS_BAD;
                MHD_destroy_post_processor (pp);
                if (mp.rc != 0)
                    status = SB_PARAMS_OOM;
            }
        }
        else if (sb_params_parse_form (self, req->body, req->body_len) != 0)
            status = SB_PARAMS_OOM;
    }
    if (status != SB_PARAMS_OK)
        return status;
    s_mp_t q = { self, 0 };
    MHD_get_connection_values (req->conn, MHD_GET_ARGUMENT_KIND, s_query_arg, &q);
    if (q.rc != 0)
        return SB_PARAMS_OOM;
    /* Text must be UTF-8 without NULs (Rails refuses the request otherwise). */
    for (size_t i = 0; i < self->n; i++) {
        const char *v = self->data.data + self->p[i].value;
        const char *k = self->data.data + self->p[i].key;
        if (!sb_utf8_valid (k, strlen (k)))
            return SB_PARAMS_BAD;
        if (!self->p[i].binary
            && (memchr (v, '\0', self->p[i].vlen) || !sb_utf8_valid (v, self->p[i].vlen)))
            return SB_PARAMS_BAD;
    }
    return status;
}
