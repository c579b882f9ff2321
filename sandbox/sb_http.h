/*
 * sb_http: what a platform or the control API sees of an HTTP exchange.
 * A request is read-only and valid for the duration of the handler call; a
 * reply is filled by the handler and sent (possibly later) by sb_server.
 */
#ifndef SB_HTTP_H
#define SB_HTTP_H

#include "sb_buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

typedef struct {
    struct MHD_Connection *conn;
    const char *method;   /* "GET", "POST", ... */
    const char *url;      /* full path, without the query string */
    const char *path;     /* the part after the platform prefix ("/api/v1/statuses") */
    const char *body;     /* NUL-terminated copy of the request body (may contain NULs) */
    size_t body_len;
    uint64_t now_us;      /* wall clock when the request completed */
} sb_req_t;

typedef struct {
    int status;
    sb_buf_t body;      /* JSON */
    sb_buf_t headers;   /* "name\0value\0" pairs */
} sb_reply_t;

const char *sb_req_header (const sb_req_t *req, const char *name);
const char *sb_req_arg (const sb_req_t *req, const char *name);
/* The token of an "Authorization: Bearer <token>" header (scheme matched
 * without case, spaces after it skipped); NULL without one or if empty. */
const char *sb_req_bearer (const sb_req_t *req);
/* Collects every query argument called name (repeated keys such as id[]). */
size_t sb_req_args (const sb_req_t *req, const char *name, const char **out, size_t max);
bool sb_req_is (const sb_req_t *req, const char *method);

void sb_reply_init (sb_reply_t *rep);
void sb_reply_free (sb_reply_t *rep);
void sb_reply_header (sb_reply_t *rep, const char *name, const char *value);
/* Body {"error":"message"} with the given status. */
void sb_reply_error (sb_reply_t *rep, int status, const char *message);
/* Body from a literal JSON string. */
void sb_reply_json (sb_reply_t *rep, int status, const char *json);
const char *sb_http_reason (int status);

#endif
