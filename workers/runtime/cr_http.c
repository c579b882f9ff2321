#include "cr_http.h"

#include "cr_time.h"

#include <ctype.h>
#include <stdio.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cr_http_xfer {
    cr_http_t *http;
    CURL *easy;
    struct curl_slist *hdrs;
    char *hbuf; /* header block of the latest response */
    size_t hlen, hcap;
    char *bbuf; /* body */
    size_t blen, bcap;
    int too_large;
    size_t max_body;
    int got_bytes; /* anything at all came back from the peer */
    cr_http_done_fn *done;
    void *owner;
    cr_http_xfer_t *prev, *next;
    struct curl_slist *rcpts; /* SMTP */
    const char *up;           /* SMTP: the message being uploaded (the request's body) */
    size_t up_len, up_off;
    char errbuf[CURL_ERROR_SIZE];
};

struct cr_http {
    CURLM *multi;
    long connect_timeout_ms;
    short *fd_events; /* indexed by fd: ZMQ_POLLIN/OUT wanted by curl, 0 = not watched */
    size_t fd_cap;
    size_t fd_hi;     /* highest watched fd + 1 */
    size_t nfds;
    int64_t timer_at; /* monotonic ms when curl wants a timeout call, -1 none */
    cr_http_xfer_t *xfers;
    size_t running;
};

/* ---- requests ---------------------------------------------------------- */

/* Wipes and frees a string that may be a credential; NULLs *s. */
static void cr_secret_wipe_free(char **s)
{
    if (!*s) return;
    explicit_bzero(*s, strlen(*s));
    free(*s);
    *s = NULL;
}

/* Header text must not be able to start a new header line. */
static int s_header_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) return 0;
    return 1;
}

int cr_http_req_init(cr_http_req_t *req, const char *method, const char *url)
{
    cr_http_req_clear(req);
    size_t ml = method ? strlen(method) : 0;
    if (ml == 0 || ml >= sizeof req->method || !url || !*url) return -1;
    for (size_t i = 0; i < ml; i++)
        if (!isupper((unsigned char)method[i])) return -1;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) return -1;
    req->url = strdup(url);
    if (!req->url) return -1;
    memcpy(req->method, method, ml + 1);
    return 0;
}

int cr_http_req_header(cr_http_req_t *req, const char *name, const char *value)
{
    if (!name || !*name || !value || req->n_headers >= CR_HTTP_MAX_REQ_HEADERS) return -1;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == ':') return -1;
    if (!s_header_safe(value)) return -1;
    size_t nl = strlen(name), vl = strlen(value);
    char *line = malloc(nl + 2 + vl + 1);
    if (!line) return -1;
    memcpy(line, name, nl);
    memcpy(line + nl, ": ", 2);
    memcpy(line + nl + 2, value, vl + 1);
    req->headers[req->n_headers++] = line;
    return 0;
}

int cr_http_req_bearer(cr_http_req_t *req, const char *token)
{
    if (!token) return -1;
    size_t al = strlen(token) + sizeof "Bearer ";
    char *auth = malloc(al);
    if (!auth) return -1;
    snprintf(auth, al, "Bearer %s", token);
    int rc = cr_http_req_header(req, "Authorization", auth);
    explicit_bzero(auth, strlen(auth));
    free(auth);
    return rc;
}

int cr_http_req_body(cr_http_req_t *req, const char *content_type, char **body_p, size_t len)
{
    if (!body_p || !*body_p) return -1;
    if (content_type && cr_http_req_header(req, "Content-Type", content_type)) return -1;
    free(req->body);
    req->body = *body_p;
    req->body_len = len;
    *body_p = NULL;
    return 0;
}

/* An SMTP address (addr-spec as given to MAIL FROM / RCPT TO): printable
 * ASCII or UTF-8, no spaces, no <>, exactly one '@' not at either end. */
static int s_smtp_addr_ok(const char *a)
{
    if (!a) return 0;
    size_t n = strlen(a), at = 0, ats = 0;
    if (n < 3 || n > 254) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' ||
            c == '"' || c == '\\')
            return 0;
        if (c == '@') {
            ats++;
            at = i;
        }
    }
    return ats == 1 && at > 0 && at + 1 < n;
}

int cr_http_req_smtp(cr_http_req_t *req, const char *url, const char *mail_from,
                     const char *rcpt, cr_http_tls_t tls)
{
    if (!url || (strncasecmp(url, "smtp://", 7) != 0 && strncasecmp(url, "smtps://", 8) != 0))
        return -1;
    if (!s_smtp_addr_ok(mail_from) || !s_smtp_addr_ok(rcpt)) return -1;
    if (tls != CR_HTTP_TLS_TRY && tls != CR_HTTP_TLS_ALL && tls != CR_HTTP_TLS_NONE) return -1;
    if (cr_http_req_init(req, "SMTP", url)) return -1;
    req->mail_from = strdup(mail_from);
    req->tls = tls;
    req->fresh_connection = 1; /* never reuse a connection logged in as someone else */
    if (!req->mail_from || cr_http_req_rcpt(req, rcpt)) {
        cr_http_req_clear(req);
        return -1;
    }
    return 0;
}

int cr_http_req_rcpt(cr_http_req_t *req, const char *rcpt)
{
    if (!req->mail_from || req->n_rcpt >= CR_HTTP_MAX_RCPT || !s_smtp_addr_ok(rcpt)) return -1;
    char *r = strdup(rcpt);
    if (!r) return -1;
    req->rcpt[req->n_rcpt++] = r;
    return 0;
}

int cr_http_req_login(cr_http_req_t *req, const char *user, const char *password)
{
    if (!req->mail_from || !user || !*user || !password || !s_header_safe(user) ||
        !s_header_safe(password))
        return -1;
    cr_secret_wipe_free(&req->login_user);
    cr_secret_wipe_free(&req->login_password);
    req->login_user = strdup(user);
    req->login_password = strdup(password);
    if (!req->login_user || !req->login_password) {
        cr_secret_wipe_free(&req->login_user);
        cr_secret_wipe_free(&req->login_password);
        return -1;
    }
    return 0;
}

void cr_http_req_clear(cr_http_req_t *req)
{
    if (req->url) explicit_bzero(req->url, strlen(req->url)); /* may hold a token (Threads) */
    free(req->url);
    free(req->mail_from);
    for (size_t i = 0; i < req->n_rcpt; i++) free(req->rcpt[i]);
    cr_secret_wipe_free(&req->login_user);
    cr_secret_wipe_free(&req->login_password);
    for (size_t i = 0; i < req->n_headers; i++) {
        /* Header lines may hold a credential: do not leave it in freed memory. */
        explicit_bzero(req->headers[i], strlen(req->headers[i]));
        free(req->headers[i]);
    }
    /* bodies may hold one too (a session request carries the app password) */
    if (req->body) explicit_bzero(req->body, req->body_len);
    free(req->body);
    memset(req, 0, sizeof *req);
}

/* ---- pure response helpers ---------------------------------------------- */

long cr_http_header(const cr_http_resp_t *resp, const char *name, char *out, size_t outlen)
{
    if (out && outlen) out[0] = '\0';
    if (!resp || !resp->headers || !name) return -1;
    size_t nl = strlen(name);
    const char *p = resp->headers, *end = resp->headers + resp->headers_len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon && (size_t)(colon - p) == nl && strncasecmp(p, name, nl) == 0) {
            const char *v = colon + 1, *ve = line_end;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            size_t vl = (size_t)(ve - v);
            if (out && outlen) {
                size_t n = vl < outlen - 1 ? vl : outlen - 1;
                memcpy(out, v, n);
                out[n] = '\0';
            }
            return (long)vl;
        }
        p = line_end + 1;
    }
    return -1;
}

int cr_http_code_before_send(int code)
{
    switch ((CURLcode)code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_FAILED_INIT:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_PROXY:
    case CURLE_UNKNOWN_OPTION:
        return 1;
    default:
        return 0;
    }
}

/* ---- curl callbacks ---------------------------------------------------- */

static int s_grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need) n *= 2;
    char *b = realloc(*buf, n);
    if (!b) return -1;
    *buf = b;
    *cap = n;
    return 0;
}

static size_t s_on_header(char *data, size_t size, size_t nitems, void *userdata)
{
    cr_http_xfer_t *x = userdata;
    size_t n = size * nitems;
    x->got_bytes = 1;
    /* Each response (a 100 Continue, then the final one) starts again. */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) x->hlen = 0;
    if (x->hlen + n > CR_HTTP_MAX_HEADER_BYTES) {
        x->too_large = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (s_grow(&x->hbuf, &x->hcap, x->hlen + n + 1)) return 0;
    memcpy(x->hbuf + x->hlen, data, n);
    x->hlen += n;
    x->hbuf[x->hlen] = '\0';
    return n;
}

static size_t s_on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    cr_http_xfer_t *x = userdata;
    size_t n = size * nmemb;
    x->got_bytes = 1;
    if (x->blen + n > x->max_body) {
        x->too_large = 1;
        return 0;
    }
    if (s_grow(&x->bbuf, &x->bcap, x->blen + n + 1)) return 0;
    memcpy(x->bbuf + x->blen, data, n);
    x->blen += n;
    x->bbuf[x->blen] = '\0';
    return n;
}

static size_t s_on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    cr_http_xfer_t *x = userdata;
    size_t room = size * nitems, left = x->up_len - x->up_off;
    size_t n = left < room ? left : room;
    if (n) memcpy(buf, x->up + x->up_off, n);
    x->up_off += n;
    return n;
}

static int s_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    cr_http_t *self = userp;
    if (fd < 0) return 0;
    size_t i = (size_t)fd;
    if (i >= self->fd_cap) {
        if (what == CURL_POLL_REMOVE) return 0;
        size_t cap = self->fd_cap ? self->fd_cap : 64;
        while (cap <= i) cap *= 2;
        short *t = realloc(self->fd_events, cap * sizeof *t);
        if (!t) return -1; /* curl fails the transfer */
        memset(t + self->fd_cap, 0, (cap - self->fd_cap) * sizeof *t);
        self->fd_events = t;
        self->fd_cap = cap;
    }
    short ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) ev |= ZMQ_POLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) ev |= ZMQ_POLLOUT;
    if (what == CURL_POLL_REMOVE) ev = 0;
    if (self->fd_events[i] == 0 && ev) self->nfds++;
    if (self->fd_events[i] && ev == 0) self->nfds--;
    self->fd_events[i] = ev;
    if (ev && i + 1 > self->fd_hi) self->fd_hi = i + 1;
    while (self->fd_hi > 0 && self->fd_events[self->fd_hi - 1] == 0) self->fd_hi--;
    return 0;
}

static int s_on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    cr_http_t *self = userp;
    self->timer_at = timeout_ms < 0 ? -1 : cr_mono_ms() + timeout_ms;
    return 0;
}

/* ---- engine ------------------------------------------------------------ */

cr_http_t *cr_http_new(long connect_timeout_ms)
{
    static int s_global_done;
    if (!s_global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return NULL;
        s_global_done = 1;
    }
    cr_http_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->multi = curl_multi_init();
    if (!self->multi) {
        free(self);
        return NULL;
    }
    self->connect_timeout_ms = connect_timeout_ms;
    self->timer_at = -1;
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, s_on_timer);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
    return self;
}

static void s_xfer_free(cr_http_xfer_t *x)
{
    cr_http_t *self = x->http;
    if (x->prev) x->prev->next = x->next;
    else self->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    if (x->easy) {
        curl_multi_remove_handle(self->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->hdrs);
    curl_slist_free_all(x->rcpts);
    free(x->hbuf);
    free(x->bbuf);
    free(x);
    self->running--;
}

void cr_http_destroy(cr_http_t **self_p)
{
    if (!self_p || !*self_p) return;
    cr_http_t *self = *self_p;
    while (self->xfers) s_xfer_free(self->xfers);
    curl_multi_cleanup(self->multi);
    free(self->fd_events);
    free(self);
    *self_p = NULL;
}

void cr_http_set_connect_timeout(cr_http_t *self, long connect_timeout_ms)
{
    self->connect_timeout_ms = connect_timeout_ms;
}

/* The HTTP options of a transfer. 0 or -1. */
static int s_http_setup(cr_http_xfer_t *x, const cr_http_req_t *req)
{
    int rc = 0;
    CURL *e = x->easy;
    rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
    if (req->follow_redirects) {
        rc |= curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
        rc |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    rc |= curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    x->max_body = req->max_body ? req->max_body : CR_HTTP_MAX_BODY_BYTES;
    if (x->max_body > CR_HTTP_MAX_MEDIA_BYTES) x->max_body = CR_HTTP_MAX_MEDIA_BYTES;
    rc |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_body);
    for (size_t i = 0; i < req->n_headers; i++) {
        struct curl_slist *l = curl_slist_append(x->hdrs, req->headers[i]);
        if (!l) return -1;
        x->hdrs = l;
    }
    /* No "Expect: 100-continue" round trip: bodies here are small. */
    struct curl_slist *l = curl_slist_append(x->hdrs, "Expect:");
    if (!l) return -1;
    x->hdrs = l;
    rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
    if (req->body || strcmp(req->method, "POST") == 0) {
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        if (strcmp(req->method, "POST") != 0)
            rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    } else if (strcmp(req->method, "GET") == 0) {
        rc |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    }
    return rc ? -1 : 0;
}

/* The SMTP options of a transfer: envelope, login, TLS, the message as an
 * upload. 0 or -1. */
static int s_smtp_setup(cr_http_xfer_t *x, const cr_http_req_t *req)
{
    int rc = 0;
    CURL *e = x->easy;
    rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    rc |= curl_easy_setopt(e, CURLOPT_MAIL_FROM, req->mail_from);
    for (size_t i = 0; i < req->n_rcpt; i++) {
        struct curl_slist *l = curl_slist_append(x->rcpts, req->rcpt[i]);
        if (!l) return -1;
        x->rcpts = l;
    }
    if (!x->rcpts) return -1;
    rc |= curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->rcpts);
    if (req->login_user) {
        rc |= curl_easy_setopt(e, CURLOPT_USERNAME, req->login_user);
        rc |= curl_easy_setopt(e, CURLOPT_PASSWORD, req->login_password ? req->login_password : "");
    }
    long ssl = req->tls == CR_HTTP_TLS_ALL    ? (long)CURLUSESSL_ALL
               : req->tls == CR_HTTP_TLS_NONE ? (long)CURLUSESSL_NONE
                                              : (long)CURLUSESSL_TRY;
    rc |= curl_easy_setopt(e, CURLOPT_USE_SSL, ssl);
    x->up = req->body ? req->body : "";
    x->up_len = req->body ? req->body_len : 0;
    rc |= curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_READFUNCTION, s_on_read);
    rc |= curl_easy_setopt(e, CURLOPT_READDATA, (void *)x);
    rc |= curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->up_len);
    return rc ? -1 : 0;
}

cr_http_xfer_t *cr_http_start(cr_http_t *self, const cr_http_req_t *req, long timeout_ms,
                              cr_http_done_fn *done, void *owner)
{
    if (!req->url || !req->method[0] || !done) return NULL;
    cr_http_xfer_t *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->http = self;
    x->done = done;
    x->owner = owner;
    x->next = self->xfers;
    if (x->next) x->next->prev = x;
    self->xfers = x;
    self->running++;

    x->easy = curl_easy_init();
    if (!x->easy) goto fail;
    long connect_ms = self->connect_timeout_ms;
    if (timeout_ms <= 0) timeout_ms = 1;
    if (connect_ms <= 0 || connect_ms > timeout_ms) connect_ms = timeout_ms;

    int rc = 0;
    CURL *e = x->easy;
    rc |= curl_easy_setopt(e, CURLOPT_URL, req->url);
    if (req->fresh_connection) {
        rc |= curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        rc |= curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)x);
    rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_body);
    rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)x);
    rc |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s_on_header);
    rc |= curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)x);
    rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    rc |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (req->mail_from) {
        if (s_smtp_setup(x, req)) goto fail;
    } else {
        if (s_http_setup(x, req)) goto fail;
    }
    if (rc) goto fail;
    if (curl_multi_add_handle(self->multi, e) != CURLM_OK) goto fail;
    return x;
fail:
    if (x->easy) {
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }
    s_xfer_free(x);
    return NULL;
}

void cr_http_abort(cr_http_t *self, cr_http_xfer_t **xfer_p)
{
    if (!xfer_p || !*xfer_p) return;
    s_xfer_free(*xfer_p);
    *xfer_p = NULL;
}

size_t cr_http_running(const cr_http_t *self)
{
    return self->running;
}

size_t cr_http_nfds(const cr_http_t *self)
{
    return self->nfds;
}

size_t cr_http_fill_pollitems(const cr_http_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    for (size_t fd = 0; fd < self->fd_hi && n < max; fd++) {
        if (!self->fd_events[fd]) continue;
        items[n].socket = NULL;
        items[n].fd = (int)fd;
        items[n].events = self->fd_events[fd];
        items[n].revents = 0;
        n++;
    }
    return n;
}

long cr_http_timeout(const cr_http_t *self)
{
    if (self->timer_at < 0) return -1;
    int64_t left = self->timer_at - cr_mono_ms();
    return left < 0 ? 0 : (long)left;
}

static void s_finish(cr_http_t *self, cr_http_xfer_t *x, CURLcode code)
{
    long status = 0, request_size = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &request_size);
    cr_http_resp_t resp;
    memset(&resp, 0, sizeof resp);
    resp.status = status;
    resp.headers = x->hbuf ? x->hbuf : "";
    resp.headers_len = x->hlen;
    resp.body = x->bbuf ? x->bbuf : "";
    resp.body_len = x->blen;
    resp.curl_code = (int)code;
    resp.error = "";
    if (code != CURLE_OK) resp.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
    if (code == CURLE_FILESIZE_EXCEEDED) x->too_large = 1;
    resp.too_large = x->too_large;
    /* Err on the side of "sent": a request counts as never sent only when
     * nothing came back and curl never handed request bytes to the
     * connection, or failed in a phase that precedes sending. */
    resp.sent = x->got_bytes || (request_size > 0 && !cr_http_code_before_send((int)code));
    x->done(x->owner, &resp);
    s_xfer_free(x);
}

void cr_http_process(cr_http_t *self, const zmq_pollitem_t *items, size_t n)
{
    int running = 0;
    for (size_t i = 0; i < n; i++) {
        if (!items[i].revents) continue;
        int flags = 0;
        if (items[i].revents & ZMQ_POLLIN) flags |= CURL_CSELECT_IN;
        if (items[i].revents & ZMQ_POLLOUT) flags |= CURL_CSELECT_OUT;
        if (items[i].revents & ZMQ_POLLERR) flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(self->multi, items[i].fd, flags, &running);
    }
    if (self->timer_at >= 0 && cr_mono_ms() >= self->timer_at) {
        self->timer_at = -1;
        curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        cr_http_xfer_t *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode code = msg->data.result;
        if (x) s_finish(self, x, code);
    }
}
