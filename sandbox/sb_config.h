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
    int64_t mastodon_media_delay_ms;  /* a v2 upload stays processing this long (0: at once) */
    int64_t mastodon_media_limit;     /* media uploads per account per window */
    int64_t mastodon_media_window_s;
    int64_t x_tweet_limit;            /* X: POST /2/tweets per user per window */
    int64_t x_tweet_window_s;
    int64_t x_media_limit;            /* X: POST /2/media/upload per user per window */
    int64_t x_media_window_s;
    int64_t x_media_ttl_s;            /* X: expires_after_secs of an uploaded media id */
    int64_t x_media_max_bytes;        /* X: largest image accepted */
    int64_t bluesky_access_ttl_s;     /* Bluesky: accessJwt lifetime */
    int64_t bluesky_write_points;     /* Bluesky: write points per account per window */
    int64_t bluesky_write_window_s;
    int64_t bluesky_session_window_s; /* Bluesky: createSession window (30 per identifier) */
    int64_t bluesky_duplicate_status; /* Bluesky: answer to a repeated rkey (400 or 500) */
    int64_t linkedin_post_limit;      /* LinkedIn: POST /rest/posts per member per window */
    int64_t linkedin_app_limit;       /* LinkedIn: calls of all members per window */
    int64_t linkedin_window_s;        /* LinkedIn: aligned window (86400: ends at midnight UTC) */
    int64_t linkedin_min_version;     /* LinkedIn: oldest LinkedIn-Version served (YYYYMM) */
    bool linkedin_retry_after;        /* LinkedIn: Retry-After on 429 (LinkedIn sends none) */
    int64_t graph_call_limit;         /* Graph (Facebook, Instagram, Threads): calls per account */
    int64_t graph_call_window_s;      /*   per aligned window (usage headers, throttling) */
    int64_t graph_regain_minutes;     /* Graph: estimated_time_to_regain_access of an injected 429 */
    int64_t instagram_container_delay_ms; /* Instagram: a container is IN_PROGRESS this long */
    int64_t instagram_publish_limit;  /* Instagram: publications per account per rolling window */
    int64_t instagram_publish_window_s; /*   the rolling window (86400: Instagram's 24 h) */
    int64_t threads_publish_limit;    /* Threads: publications per account per rolling window */
    int64_t threads_publish_window_s; /*   the rolling window (86400: Threads' 24 h) */
    int64_t threads_container_delay_ms; /* Threads: an IMAGE container is IN_PROGRESS this long */
    int64_t token_ttl_s;              /* X, Threads, LinkedIn: refreshed tokens (0: real) */
    const char *x_client_id;          /* X token endpoint: required client id (NULL: any) */
    const char *x_client_secret;      /*   and secret by HTTP Basic (NULL: public client) */
    const char *linkedin_client_id;   /* LinkedIn token endpoint (NULL: any non-empty) */
    const char *linkedin_client_secret;
    int64_t webhook_burst;            /* webhook: messages a hook may take at once */
    int64_t webhook_interval_ms;      /* webhook: then one message per interval */
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
