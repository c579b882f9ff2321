/*
 * sb_server: the HTTP side of the sandbox (libmicrohttpd).
 *
 * Routes /_sandbox/... to the control API and /<platform>/... to the platform
 * module mounted there, applies fault rules and latency, and answers.
 * Requests are served by a pool of MHD threads (epoll). A delayed answer never
 * blocks a pool thread: the connection is suspended and put in a min-heap by
 * due time; a timer thread resumes it when due, and MHD calls the handler
 * again, which then queues the prepared reply. "timeout_after_accept"
 * connections stay suspended until the client goes away (checked every
 * 200 ms) or the hold timeout passes, then they are closed without an answer.
 */
#ifndef SB_SERVER_H
#define SB_SERVER_H

#include "sb_world.h"

#define SB_MAX_BODY (1024u * 1024u)   /* larger request bodies get 413 */

typedef struct sb_server sb_server_t;

/* Binds and listens on host:port (port 0: any free port). Returns the socket
 * (non-blocking, close-on-exec) and the bound port, or -1. */
int sb_server_listen (const char *host, int port, int *bound_port);
/* Takes the listening socket (closed by destroy). NULL on failure. */
sb_server_t *sb_server_new (sb_world_t *world, int listen_fd);
/* Answers or closes every delayed or held request, then stops MHD. */
void sb_server_destroy (sb_server_t **self_p);

#endif
