/* sb_server: MHD setup, routing, fault application, delayed replies.
 * See sb_server.h. */
#include "sb_server.h"
#include "sb_log.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_HOLD_CHECK_MS 200

/* What happens to a request once its reply is ready (possibly after a delay). */
typedef enum {
    S_RESPOND,   /* send the prepared reply */
    S_DROP,      /* close the connection without answering */
    S_HOLD       /* stay silent until the client leaves or the hold times out */
} s_action_t;

/* One HTTP request (MHD's per-request closure). */
typedef struct {
    struct MHD_Connection *conn;
    sb_buf_t body;
    bool too_large;
    bool resumed;          /* set by the timer thread just before resuming */
    bool counted;          /* a platform request: counted in the statistics */
    bool held;             /* timeout_after_accept: counted as held, not dropped */
    s_action_t action;
    sb_reply_t reply;
    uint64_t due_ms;       /* monotonic */
    uint64_t hold_until_ms;
    int fd;
} s_request_t;

struct sb_server {
    sb_world_t *world;
    struct MHD_Daemon *daemon;
    int listen_fd;
    pthread_t timer;
    bool timer_started;
    pthread_mutex_t tlock;   /* guards heap and stopping */
    pthread_cond_t tcond;
    s_request_t **heap;      /* min-heap on due_ms */
    size_t heap_len;
    size_t heap_cap;
    bool stopping;
};

/* ------------------------------------------------------------------------ */
/* sb_http helpers                                                           */

const char *
sb_req_header (const sb_req_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, name);
}

const char *
sb_req_arg (const sb_req_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
sb_req_bearer (const sb_req_t *req)
{
    const char *auth = sb_req_header (req, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || !sb_prefix_ci (auth, "Bearer "))
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return *auth ? auth : NULL;
}

typedef struct {
    const char *name;
    const char **out;
    size_t max;
    size_t n;
} s_args_t;

static enum MHD_Result
s_collect_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    s_args_t *a = cls;
    if (key && value && strcmp (key, a->name) == 0 && a->n < a->max)
        a->out[a->n++] = value;
    return MHD_YES;
}

size_t
sb_req_args (const sb_req_t *req, const char *name, const char **out, size_t max)
{
    s_args_t a = { name, out, max, 0 };
    MHD_get_connection_values (req->conn, MHD_GET_ARGUMENT_KIND, s_collect_arg, &a);
    return a.n;
}

bool
sb_req_is (const sb_req_t *req, const char *method)
{
    return strcmp (req->method, method) == 0;
}

void
sb_reply_init (sb_reply_t *rep)
{
    rep->status = 500;
    sb_buf_init (&rep->body);
    sb_buf_init (&rep->headers);
}

void
sb_reply_free (sb_reply_t *rep)
{
    sb_buf_free (&rep->body);
    sb_buf_free (&rep->headers);
}

void
sb_reply_header (sb_reply_t *rep, const char *name, const char *value)
{
    sb_buf_add (&rep->headers, name, strlen (name) + 1);
    sb_buf_add (&rep->headers, value, strlen (value) + 1);
}

void
sb_reply_json (sb_reply_t *rep, int status, const char *json)
{
    rep->status = status;
    sb_buf_reset (&rep->body);
    sb_buf_adds (&rep->body, json);
}

void
sb_reply_error (sb_reply_t *rep, int status, const char *message)
{
    rep->status = status;
    sb_buf_reset (&rep->body);
    sb_buf_adds (&rep->body, "{\"error\":");
    sb_buf_add_json_str (&rep->body, message);
    sb_buf_addc (&rep->body, '}');
}

const char *
sb_http_reason (int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status >= 500 ? "Server Error" : "Error";
    }
}

/* ------------------------------------------------------------------------ */
/* Listening socket                                                          */

int
sb_server_listen (const char *host, int port, int *bound_port)
{
    struct addrinfo hints, *res = NULL;
    char service[16];
    int fd = -1;
    int one = 1;

    memset (&hints, 0, sizeof (hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf (service, sizeof (service), "%d", port);
    int rc = getaddrinfo (host[0] ? host : NULL, service, &hints, &res);
    if (rc != 0) {
        SB_ERROR ("cannot resolve listen address %s: %s", host, gai_strerror (rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                     ai->ai_protocol);
        if (fd < 0)
            continue;
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
        if (bind (fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen (fd, 4096) == 0)
            break;
        close (fd);
        fd = -1;
    }
    freeaddrinfo (res);
    if (fd < 0) {
        SB_ERROR ("cannot listen on %s:%d: %s", host, port, strerror (errno));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof (ss);
    if (getsockname (fd, (struct sockaddr *) &ss, &len) != 0) {
        close (fd);
        return -1;
    }
    if (ss.ss_family == AF_INET)
        *bound_port = ntohs (((struct sockaddr_in *) &ss)->sin_port);
    else
        *bound_port = ntohs (((struct sockaddr_in6 *) &ss)->sin6_port);
    return fd;
}

/* ------------------------------------------------------------------------ */
/* Timer heap (tlock held)                                                   */

static void
s_heap_swap (sb_server_t *self, size_t a, size_t b)
{
    s_request_t *t = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = t;
}

static int
s_heap_push (sb_server_t *self, s_request_t *r)
{
    if (self->heap_len == self->heap_cap) {
        size_t cap = self->heap_cap ? self->heap_cap * 2 : 1024;
        s_request_t **heap = realloc (self->heap, cap * sizeof (*heap));
        if (!heap)
            return -1;
        self->heap = heap;
        self->heap_cap = cap;
    }
    size_t i = self->heap_len++;
    self->heap[i] = r;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (self->heap[parent]->due_ms <= self->heap[i]->due_ms)
            break;
        s_heap_swap (self, parent, i);
        i = parent;
    }
    return 0;
}

static s_request_t *
s_heap_pop (sb_server_t *self)
{
    if (self->heap_len == 0)
        return NULL;
    s_request_t *top = self->heap[0];
    self->heap[0] = self->heap[--self->heap_len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < self->heap_len && self->heap[l]->due_ms < self->heap[m]->due_ms)
            m = l;
        if (r < self->heap_len && self->heap[r]->due_ms < self->heap[m]->due_ms)
            m = r;
        if (m == i)
            break;
        s_heap_swap (self, i, m);
        i = m;
    }
    return top;
}

/* True if the peer of a held connection has closed it (or it broke). */
static bool
s_peer_gone (int fd)
{
    char byte;
    ssize_t n = recv (fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return false;   /* the client sent more: still there */
    if (n == 0)
        return true;
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static void
s_abstime (uint64_t due_ms, struct timespec *ts)
{
    /* the condition variable runs on CLOCK_MONOTONIC */
    ts->tv_sec = (time_t) (due_ms / 1000u);
    ts->tv_nsec = (long) (due_ms % 1000u) * 1000000L;
}

/* Appends to a growable pointer array; 0 or -1. */
static int
s_list_add (s_request_t ***list, size_t *len, size_t *cap, s_request_t *r)
{
    if (*len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        s_request_t **grown = realloc (*list, ncap * sizeof (*grown));
        if (!grown)
            return -1;
        *list = grown;
        *cap = ncap;
    }
    (*list)[(*len)++] = r;
    return 0;
}

static void *
s_timer_main (void *arg)
{
    sb_server_t *self = arg;
    s_request_t **ready = NULL, **rearm = NULL;
    size_t ready_cap = 0, rearm_cap = 0;

    pthread_mutex_lock (&self->tlock);
    while (!self->stopping) {
        uint64_t now = sb_mono_ms ();
        if (self->heap_len == 0) {
            pthread_cond_wait (&self->tcond, &self->tlock);
            continue;
        }
        if (self->heap[0]->due_ms > now) {
            struct timespec ts;
            s_abstime (self->heap[0]->due_ms, &ts);
            pthread_cond_timedwait (&self->tcond, &self->tlock, &ts);
            continue;
        }
        /* Pop everything due. Held connections whose client is still there
         * are re-armed for another check; the rest are resumed. */
        size_t nready = 0, nrearm = 0;
        while (self->heap_len > 0 && self->heap[0]->due_ms <= now) {
            s_request_t *r = s_heap_pop (self);
            int rc;
            if (r->action == S_HOLD && now < r->hold_until_ms && !s_peer_gone (r->fd))
                rc = s_list_add (&rearm, &nrearm, &rearm_cap, r);
            else {
                if (r->action == S_HOLD)
                    r->action = S_DROP;
                rc = s_list_add (&ready, &nready, &ready_cap, r);
            }
            if (rc != 0) {
                r->due_ms = now + S_HOLD_CHECK_MS;   /* out of memory: retry later */
                s_heap_push (self, r);   /* cannot fail: we just popped one */
                break;
            }
        }
        for (size_t i = 0; i < nrearm; i++) {
            rearm[i]->due_ms = now + S_HOLD_CHECK_MS;
            s_heap_push (self, rearm[i]);
        }
        pthread_mutex_unlock (&self->tlock);
        for (size_t i = 0; i < nready; i++) {
            ready[i]->resumed = true;
            MHD_resume_connection (ready[i]->conn);
        }
        pthread_mutex_lock (&self->tlock);
    }
    /* Stopping: let every suspended request finish (held ones are closed). */
    s_request_t *r;
    while ((r = s_heap_pop (self)) != NULL) {
        if (r->action == S_HOLD)
            r->action = S_DROP;
        r->resumed = true;
        MHD_resume_connection (r->conn);
    }
    pthread_mutex_unlock (&self->tlock);
    free (ready);
    free (rearm);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */

static enum MHD_Result
s_queue (sb_server_t *self, s_request_t *r)
{
    size_t len = 0;
    char *body = sb_buf_steal (&r->reply.body, &len);
    int status = r->reply.status;
    if (!body) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        body = strdup (oom);
        len = body ? sizeof (oom) - 1 : 0;
        status = 500;
        if (!body)
            return MHD_NO;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer (len, body,
                                                                 MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free (body);
        return MHD_NO;
    }
    /* JSON unless the reply names its own type (X's application/problem+json) */
    bool typed = false;
    const char *h = r->reply.headers.data;
    const char *end = h ? h + r->reply.headers.len : NULL;
    while (h && h < end) {
        const char *value = h + strlen (h) + 1;
        if (value >= end)
            break;
        typed |= strcasecmp (h, MHD_HTTP_HEADER_CONTENT_TYPE) == 0;
        MHD_add_response_header (resp, h, value);
        h = value + strlen (value) + 1;
    }
    if (!typed)
        MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                 "application/json; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response (r->conn, (unsigned) status, resp);
    MHD_destroy_response (resp);
    if (r->counted && status >= 0 && status < 600)
        atomic_fetch_add (&self->world->by_status[status], 1);
    return ret;
}

/* Answers now, or suspends the connection until due. */
static enum MHD_Result
s_dispatch (sb_server_t *self, s_request_t *r, s_action_t action, int64_t delay_ms)
{
    r->action = action;
    if (delay_ms <= 0 && action != S_HOLD) {
        if (action == S_DROP) {
            atomic_fetch_add (&self->world->dropped, 1);
            return MHD_NO;
        }
        return s_queue (self, r);
    }
    if (action == S_HOLD) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info (r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        r->fd = info ? info->connect_fd : -1;
        r->held = true;
        atomic_fetch_add (&self->world->held, 1);
        if (r->fd < 0)
            return MHD_NO;
    }
    uint64_t now = sb_mono_ms ();
    r->due_ms = now + (uint64_t) (delay_ms > 0 ? delay_ms : 0);
    r->hold_until_ms = r->due_ms + (uint64_t) self->world->config->hold_timeout_s * 1000u;
    pthread_mutex_lock (&self->tlock);
    if (self->stopping) {
        pthread_mutex_unlock (&self->tlock);
        if (action == S_RESPOND)
            return s_queue (self, r);
        return MHD_NO;
    }
    /* Suspend before the timer can see it: resume must follow suspend. */
    MHD_suspend_connection (r->conn);
    if (s_heap_push (self, r) != 0) {
        pthread_mutex_unlock (&self->tlock);
        SB_WARN ("timer heap full: answering without delay");
        r->resumed = true;
        MHD_resume_connection (r->conn);
        return MHD_YES;
    }
    if (self->heap[0] == r)
        pthread_cond_signal (&self->tcond);
    pthread_mutex_unlock (&self->tlock);
    return MHD_YES;
}

/* After a resume: do what was decided. */
static enum MHD_Result
s_finish (sb_server_t *self, s_request_t *r)
{
    if (r->action == S_RESPOND)
        return s_queue (self, r);
    if (r->action == S_DROP && !r->held)
        atomic_fetch_add (&self->world->dropped, 1);
    return MHD_NO;
}

static enum MHD_Result
s_platform (sb_server_t *self, s_request_t *r, sb_req_t *req, int index)
{
    sb_world_t *world = self->world;
    const sb_platform_t *platform = world->platforms[index];
    void *state = world->pstates[index];
    int64_t delay = world->config->latency_ms;
    s_action_t action = S_RESPOND;
    sb_fault_hit_t hit;
    bool fired = false;

    req->path = req->url + strlen (platform->prefix);
    if (*req->path == '\0')
        req->path = "/";
    atomic_fetch_add (&world->requests, 1);
    r->counted = true;
    sb_world_lock (world);
    if (sb_faults_any (world->faults)) {
        char handle[SB_HANDLE_MAX] = "";
        bool known = platform->identify (state, req, handle, sizeof (handle));
        fired = sb_faults_match (world->faults, platform->name, known ? handle : NULL,
                                 req->method, req->url, &hit);
    }
    sb_world_unlock (world);
    if (fired) {
        atomic_fetch_add (&world->faults_applied, 1);
        delay += hit.latency_ms;
        SB_DEBUG ("fault rule %lld (%s) on %s %s", (long long) hit.rule_id,
                  sb_fault_mode_name (hit.mode), req->method, req->url);
        switch (hit.mode) {
        case SB_FAULT_ERROR:
            platform->fault (state, req, hit.status, &r->reply);
            break;
        case SB_FAULT_LATENCY:
            platform->handle (state, req, &r->reply);
            break;
        case SB_FAULT_TIMEOUT_AFTER_ACCEPT:
            platform->handle (state, req, &r->reply);
            action = S_HOLD;
            break;
        case SB_FAULT_DROP:
            action = S_DROP;
            break;
        }
    }
    else
        platform->handle (state, req, &r->reply);
    return s_dispatch (self, r, action, delay);
}

static enum MHD_Result
s_process (sb_server_t *self, s_request_t *r, const char *url, const char *method)
{
    sb_req_t req = { .conn = r->conn,
                     .method = method,
                     .url = url,
                     .path = url,
                     .body = r->body.data ? r->body.data : "",
                     .body_len = r->body.len,
                     .now_us = sb_now_us () };
    if (r->too_large) {
        sb_reply_error (&r->reply, 413, "Request body too large (limit 1 MiB)");
        return s_queue (self, r);
    }
    if (!sb_buf_ok (&r->body)) {
        sb_reply_error (&r->reply, 500, "out of memory");
        return s_queue (self, r);
    }
    int index = sb_world_route (self->world, url);
    if (index >= 0)
        return s_platform (self, r, &req, index);
    if (strncmp (url, "/_sandbox", 9) == 0 && (url[9] == '/' || url[9] == '\0')) {
        req.path = url + 9;
        sb_control_handle (self->world, &req, &r->reply);
    }
    else
        sb_reply_error (&r->reply, 404, "Not found");
    return s_queue (self, r);
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *connection, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    sb_server_t *self = cls;
    s_request_t *r = *con_cls;

    if (!r) {
        r = calloc (1, sizeof (*r));
        if (!r)
            return MHD_NO;
        r->conn = connection;
        r->fd = -1;
        sb_reply_init (&r->reply);
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t n;
        if (cl && sb_parse_u64 (cl, &n) == 0 && n > SB_MAX_BODY) {
            /* refuse before reading the body; MHD closes the connection after */
            r->too_large = true;
            sb_reply_error (&r->reply, 413, "Request body too large (limit 1 MiB)");
            return s_queue (self, r);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!r->too_large) {
            if (r->body.len + *upload_data_size > SB_MAX_BODY) {
                r->too_large = true;
                sb_buf_free (&r->body);
            }
            else
                sb_buf_add (&r->body, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->resumed)
        return s_finish (self, r);
    return s_process (self, r, url, method);
}

static void
s_completed (void *cls, struct MHD_Connection *connection, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    s_request_t *r = *con_cls;
    if (!r)
        return;
    sb_buf_free (&r->body);
    sb_reply_free (&r->reply);
    free (r);
    *con_cls = NULL;
}

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    if (sb_log_level >= SB_LOG_DEBUG) {
        fputs ("crieur-sandbox mhd: ", stderr);
        vfprintf (stderr, fmt, ap);
    }
}

/* ------------------------------------------------------------------------ */
/* Life cycle                                                                */

sb_server_t *
sb_server_new (sb_world_t *world, int listen_fd)
{
    pthread_condattr_t cattr;
    sb_server_t *self = calloc (1, sizeof (*self));
    if (!self) {
        close (listen_fd);
        return NULL;
    }
    self->world = world;
    self->listen_fd = listen_fd;
    pthread_mutex_init (&self->tlock, NULL);
    pthread_condattr_init (&cattr);
    pthread_condattr_setclock (&cattr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->tcond, &cattr);
    pthread_condattr_destroy (&cattr);
    if (pthread_create (&self->timer, NULL, s_timer_main, self) != 0) {
        SB_ERROR ("cannot start the timer thread");
        goto fail;
    }
    self->timer_started = true;

    unsigned threads = (unsigned) world->config->threads;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME
                     | MHD_USE_ERROR_LOG;
    self->daemon = MHD_start_daemon (
        flags, 0, NULL, NULL, s_access, self, MHD_OPTION_LISTEN_SOCKET, listen_fd,
        MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0u, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned) world->config->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log,
        self, MHD_OPTION_END);
    if (!self->daemon) {
        SB_ERROR ("cannot start the HTTP daemon");
        goto fail;
    }
    self->listen_fd = -1;   /* MHD owns it now (given back by quiesce) */
    return self;
fail:
    sb_server_destroy (&self);
    return NULL;
}

void
sb_server_destroy (sb_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sb_server_t *self = *self_p;
    if (self->daemon) {
        /* stop accepting; requests on open connections are still served */
        MHD_socket fd = MHD_quiesce_daemon (self->daemon);
        if (fd != MHD_INVALID_SOCKET)
            self->listen_fd = fd;   /* ours to close after MHD_stop_daemon */
    }
    if (self->timer_started) {
        pthread_mutex_lock (&self->tlock);
        self->stopping = true;
        pthread_cond_signal (&self->tcond);
        pthread_mutex_unlock (&self->tlock);
        pthread_join (self->timer, NULL);   /* it resumes every suspended request */
    }
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    if (self->listen_fd >= 0)
        close (self->listen_fd);
    pthread_cond_destroy (&self->tcond);
    pthread_mutex_destroy (&self->tlock);
    free (self->heap);
    free (self);
    *self_p = NULL;
}
