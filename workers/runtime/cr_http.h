/* cr_http: HTTP requests for workers, on libcurl's multi socket API, driven
 * from the worker's zmq_poll loop.
 *
 * The reactor owns the loop: cr_http_fill_pollitems() appends curl's sockets
 * to the poll set as raw-fd items, cr_http_timeout() says how long curl may
 * wait, and cr_http_process() hands ready sockets and expired timers back to
 * curl, then calls each finished transfer's done callback. Nothing here
 * blocks.
 *
 * A request (cr_http_req_t) is plain data an adapter fills; a response
 * (cr_http_resp_t) is plain data an adapter classifies. Both can be built by
 * hand in unit tests, and the helpers that read a response (cr_http_header)
 * are pure.
 *
 * The same engine sends e-mail: a request made with cr_http_req_smtp is an
 * SMTP transfer (smtp:// or smtps://), its body the message; its response's
 * status is the last SMTP reply code and its headers the server's replies. */
#ifndef CR_HTTP_H
#define CR_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define CR_HTTP_MAX_HEADER_BYTES (64u * 1024u) /* response headers kept, total */
#define CR_HTTP_MAX_BODY_BYTES (1024u * 1024u) /* response body kept */
#define CR_HTTP_MAX_REQ_HEADERS 16
#define CR_HTTP_MAX_RCPT 8 /* SMTP recipients of one message */

/* SMTP only: how STARTTLS is used on smtp:// (smtps:// is always TLS). */
typedef enum {
    CR_HTTP_TLS_TRY = 0, /* STARTTLS when the server offers it (CURLUSESSL_TRY) */
    CR_HTTP_TLS_ALL = 1, /* STARTTLS required, else the transfer fails */
    CR_HTTP_TLS_NONE = 2 /* never */
} cr_http_tls_t;
#define CR_HTTP_MAX_MEDIA_BYTES (16u * 1024u * 1024u) /* largest max_body a request may ask */

/* A request. Strings are owned by the struct (cr_http_req_clear frees them).
 * Fill it with cr_http_req_init / _header / _body, which refuse header text
 * that could inject lines (CR, LF, other control characters). */
typedef struct {
    char method[8]; /* "GET", "POST", "PUT", "DELETE", ...; empty = no request */
    char *url;
    char *headers[CR_HTTP_MAX_REQ_HEADERS]; /* "Name: value" */
    size_t n_headers;
    char *body;         /* NULL = no body */
    size_t body_len;
    long timeout_ms;    /* 0 = the worker's request timeout; capped by it and the deadline */
    int fresh_connection; /* a non-idempotent request: on a new connection, closed after, so
                           * that libcurl never re-sends it on a reused connection that died */
    size_t max_body;      /* response body cap; 0 = CR_HTTP_MAX_BODY_BYTES (a media download
                           * sets it higher, up to CR_HTTP_MAX_MEDIA_BYTES) */
    int follow_redirects; /* follow up to 5 http(s) redirects (media downloads only) */
    /* SMTP (set by cr_http_req_smtp; mail_from != NULL makes it an SMTP
     * transfer): the body is the message, uploaded as is (CRLF lines); the
     * response's status is the last SMTP reply code and its headers hold the
     * server's reply lines. */
    char *mail_from;              /* envelope sender, without <> */
    char *rcpt[CR_HTTP_MAX_RCPT]; /* envelope recipients, without <> */
    size_t n_rcpt;
    char *login_user;             /* NULL = no AUTH; wiped on clear */
    char *login_password;         /* wiped on clear */
    cr_http_tls_t tls;
} cr_http_req_t;

int cr_http_req_init(cr_http_req_t *req, const char *method, const char *url);
int cr_http_req_header(cr_http_req_t *req, const char *name, const char *value);
/* Adds "Authorization: Bearer <token>"; the temporary copy is wiped. */
int cr_http_req_bearer(cr_http_req_t *req, const char *token);
/* Takes ownership of *body_p (malloc'd; set to NULL) and adds Content-Type. */
int cr_http_req_body(cr_http_req_t *req, const char *content_type, char **body_p, size_t len);
void cr_http_req_clear(cr_http_req_t *req);
/* An SMTP message to one recipient: url is smtp://host[:port] or
 * smtps://host[:port]; addresses are plain addr-specs (no <>, no control
 * characters or spaces). The message goes in with cr_http_req_body (content
 * type NULL). method becomes "SMTP". 0 or -1. */
int cr_http_req_smtp(cr_http_req_t *req, const char *url, const char *mail_from,
                     const char *rcpt, cr_http_tls_t tls);
/* Adds a recipient (at most CR_HTTP_MAX_RCPT). 0 or -1. */
int cr_http_req_rcpt(cr_http_req_t *req, const char *rcpt);
/* SMTP AUTH with user and password (copies; the password is wiped on clear). */
int cr_http_req_login(cr_http_req_t *req, const char *user, const char *password);

/* A finished request, as the adapter sees it. Pointers are valid only for the
 * duration of the callback (or as long as the test that built it wants). */
typedef struct {
    long status;          /* final HTTP status, 0 if none was received */
    const char *headers;  /* raw header block of the final response ("Name: value\r\n"...) */
    size_t headers_len;
    const char *body;     /* NUL-terminated copy of the body (at most CR_HTTP_MAX_BODY_BYTES) */
    size_t body_len;
    int curl_code;        /* CURLcode; 0 = the exchange completed */
    const char *error;    /* curl's message when curl_code != 0, else "" */
    int sent;             /* 0 only if the request certainly never reached the peer */
    int too_large;        /* body or headers exceeded the caps (transfer aborted) */
} cr_http_resp_t;

/* Pure: finds header `name` (case-insensitive) in resp->headers, copies its
 * trimmed value into out (truncated, NUL-terminated) and returns the value's
 * full length, or -1 if absent. */
long cr_http_header(const cr_http_resp_t *resp, const char *name, char *out, size_t outlen);

/* Pure: 1 if the curl code means the request could not have reached the peer
 * (name resolution, connection, TLS handshake, local setup), whatever the
 * transfer counters say. */
int cr_http_code_before_send(int curl_code);

typedef struct cr_http cr_http_t;
typedef struct cr_http_xfer cr_http_xfer_t;

/* Called once per finished transfer, from cr_http_process. The transfer is
 * released right after the callback returns; the callback may start new
 * transfers and abort other ones, not its own. */
typedef void(cr_http_done_fn)(void *owner, const cr_http_resp_t *resp);

cr_http_t *cr_http_new(long connect_timeout_ms);
/* Aborts every transfer still running (no callbacks). */
void cr_http_destroy(cr_http_t **self_p);
void cr_http_set_connect_timeout(cr_http_t *self, long connect_timeout_ms);

/* Starts req (which must stay untouched until done or abort). Returns NULL on
 * failure (nothing started). timeout_ms bounds the whole exchange. */
cr_http_xfer_t *cr_http_start(cr_http_t *self, const cr_http_req_t *req, long timeout_ms,
                              cr_http_done_fn *done, void *owner);
/* Stops a running transfer without calling its callback; NULLs *xfer_p. */
void cr_http_abort(cr_http_t *self, cr_http_xfer_t **xfer_p);
size_t cr_http_running(const cr_http_t *self);

/* Number of sockets curl currently watches (an upper bound for fill). */
size_t cr_http_nfds(const cr_http_t *self);
/* Writes up to max raw-fd poll items; returns how many. */
size_t cr_http_fill_pollitems(const cr_http_t *self, zmq_pollitem_t *items, size_t max);
/* Milliseconds until curl needs cr_http_process for a timeout, -1 if none. */
long cr_http_timeout(const cr_http_t *self);
/* After zmq_poll: acts on the items filled above and on curl's timer, then
 * reports finished transfers through their callbacks. */
void cr_http_process(cr_http_t *self, const zmq_pollitem_t *items, size_t n);

#endif
