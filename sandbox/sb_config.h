/*
 * sb_config: the sandbox's settings. main.c fills this from its option table
 * (command line over environment over defaults); everything else only reads it.
 */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SB_MAX_START_FAULTS 32

typedef struct {
    const char *listen;               /* HOST:PORT */
    const char *port_file;            /* NULL: none */
    int64_t threads;
    bool open;                        /* any bearer token creates an account */
    int64_t latency_ms;               /* added to every platform request */
    const char *ledger_file;          /* NULL: memory only */
    int64_t seed;                     /* fault PRNG */
    int64_t max_characters;           /* Mastodon instance limit */
    int64_t mastodon_status_limit;    /* statuses per account per window */
    int64_t mastodon_status_window_s;
    int64_t mastodon_request_limit;   /* requests per token per window */
    int64_t mastodon_request_window_s;
    int64_t x_tweet_limit;            /* X: POST /2/tweets per user per window */
    int64_t x_tweet_window_s;
    int64_t max_connections;
    int64_t hold_timeout_s;           /* timeout_after_accept: close after this */
    bool verbose;
    const char *faults[SB_MAX_START_FAULTS];   /* JSON rules from --fault */
    size_t nfaults;
    /* Derived from listen once bound. */
    char host[256];
    int port;
} sb_config_t;

#endif
