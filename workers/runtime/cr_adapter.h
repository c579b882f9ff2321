/* cr_adapter: the interface between the worker runtime and one platform.
 *
 * Vocabulary: a *task* is one dispatch of a job to this worker (job id +
 * attempt); a *call* is the adapter's work on one task: a small state machine
 * that issues zero or more HTTP requests in sequence (a media upload then a
 * post, a container then its publication) and ends with a *result*.
 *
 * The runtime calls adapter->step(call, prev) with prev == NULL first, then
 * with the response to each request the step asked for. A step either fills
 * call->req and returns CR_STEP_REQUEST, or fills call->result and returns
 * CR_STEP_DONE. A step never blocks and never touches the network itself, so
 * adapters are tested with canned responses. call->step is the adapter's own
 * state number (0 at the start); call->state may hold adapter data, released
 * by adapter->release.
 *
 * A step may also set call->wait_ms and return CR_STEP_WAIT: the runtime
 * calls step(call, NULL) again after that many milliseconds (at most
 * CR_MAX_STEP_WAIT_MS), without holding a connection or blocking other
 * tasks; used to poll a platform that is still processing (a media
 * container). After a wait, prev is NULL and call->step tells the adapter
 * where it was. A wait that would pass the task's deadline ends the call
 * (TRANSIENT, or INDETERMINATE once a request was sent). The runtime's step
 * limit (a runaway adapter) counts the steps between two waits; the waits
 * of one call are bounded separately (600), so a poll loop is bounded by
 * its own maximum and the deadline. A wait out of range ends the call as
 * an adapter error.
 *
 * A wait may end early: cr_call_wake(call), from another call's step (the
 * runtime is one thread), makes the runtime run the waiting call's next step
 * (prev NULL) at once, in the same loop iteration or the next, instead of
 * when its delay is over. So a call can wait for another one without
 * polling (Bluesky: the tasks of an account wait for the one task getting
 * its session); the delay is then only the longest it waits, and it should
 * stay short of the task's deadline (task->deadline_ms).
 *
 * A step returning anything else (-1: out of memory, adapter bug) ends the
 * call as TRANSIENT if no request was sent yet, else INDETERMINATE. */
#ifndef CR_ADAPTER_H
#define CR_ADAPTER_H

#include "cr_http.h"
#include "cr_ratehdr.h"
#include "crieur.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define CR_ERROR_MAX_BYTES 500 /* Result.error is cut to this, valid UTF-8 */
#define CR_FIELD_MAX_BYTES 2048 /* platform ids and urls */
#define CR_KIND_BIT(kind) (1u << (unsigned)(kind))

typedef enum {
    CR_STEP_DONE = 0,
    CR_STEP_REQUEST = 1,
    CR_STEP_WAIT = 2,
} cr_step_t;

#define CR_MAX_STEP_WAIT_MS 60000

/* What a call ended with; strings are owned (NULL = empty). */
typedef struct {
    Crieur__Outcome outcome;
    int http_status;
    char *platform_post_id;
    char *url;
    char *error;
    char *error_code;
    int64_t retry_at_ms;
    int reconciled; /* OK found by reading the platform back, not by publishing */
    /* a token refresh that succeeded: the new credentials (wiped on clear) */
    char *access_token;
    char *refresh_token;    /* NULL = keep the current one */
    int64_t token_expires_ms; /* 0 = no expiry / unknown */
    /* What the platform's rate-limit headers said (Result.rate_*). The
     * runtime fills it from the task's most recent response that carried
     * them (cr_ratehdr); an adapter that sets rate.known itself wins. */
    cr_rate_t rate;
    /* A monitor task: what it collected (owned, freed on clear), and where
     * the next run starts (cursor_set 0: unchanged). */
    Crieur__Mention **mentions;
    size_t n_mentions, cap_mentions;
    char *cursor;
    int cursor_set;
} cr_result_t;

/* Monitor tasks: at most this many mentions per task (the rest waits for
 * the next run, the cursor stopping before them), and this much text each. */
#define CR_MONITOR_MAX_MENTIONS 200
#define CR_MONITOR_TEXT_MAX_BYTES 5000

/* Frees one mention built by a monitor adapter (all strings owned). */
void cr_mention_free(Crieur__Mention *m);

typedef struct {
    const Crieur__Task *task; /* borrowed: valid for the whole call */
    int64_t now_ms;           /* wall clock when this step runs (set by the runtime) */
    int step;                 /* adapter-defined state, 0 at the start */
    void *state;              /* adapter-defined data */
    cr_http_req_t req;        /* the next request, cleared before each step */
    long wait_ms;             /* CR_STEP_WAIT: how long to wait before the next step */
    cr_result_t result;       /* the outcome, once the call is done */
    /* Set by the runtime (cr_call_init leaves them NULL): what cr_call_wake
     * calls. Adapters never touch them. */
    void (*wake_fn)(void *wake_ctx);
    void *wake_ctx;
} cr_call_t;

typedef struct cr_adapter {
    const char *platform; /* "mastodon": matches Account.platform */
    uint32_t kinds;       /* CR_KIND_BIT(JobKind) of the kinds it handles */
    int (*step)(cr_call_t *call, const cr_http_resp_t *prev);
    void (*release)(cr_call_t *call); /* frees call->state; may be NULL */
} cr_adapter_t;

void cr_call_init(cr_call_t *call, const Crieur__Task *task);
/* Ends the CR_STEP_WAIT of call early (see above); does nothing for a call
 * that is not waiting, or outside a runtime (wake_fn NULL: unit tests step
 * the call themselves). Never runs a step itself. */
void cr_call_wake(cr_call_t *call);
/* Releases the adapter's state, the request and the result. */
void cr_call_clear(cr_call_t *call, const cr_adapter_t *adapter);

/* Ends the call: sets outcome, status, error text (cleaned, may be NULL) and
 * error code (may be NULL). Returns CR_STEP_DONE, or -1 out of memory. */
int cr_call_done(cr_call_t *call, Crieur__Outcome outcome, int http_status, const char *error,
                 const char *error_code);

void cr_result_clear(cr_result_t *r);
/* Wipes and frees a secret string; NULLs *s. */
void cr_secret_free(char **s);
/* Replaces *field with a cleaned copy of text[0..len) (see cr_text_clean);
 * text NULL or empty sets NULL. 0 or -1. */
int cr_result_field(char **field, const char *text, size_t len, size_t max);
/* Sets the outcome and, those not NULL, the error text and error code (cut
 * to CR_ERROR_MAX_BYTES and CR_FIELD_MAX_BYTES). */
void cr_result_set(cr_result_t *r, Crieur__Outcome outcome, const char *error, const char *code);
/* cr_result_clear, then cr_result_set; returns -1 (for "return cr_result_fail(...)"). */
int cr_result_fail(cr_result_t *r, Crieur__Outcome outcome, const char *error, const char *code);
/* What every publish request needs: an account and a publish payload
 * (else PERMANENT bad_task) and a usable bearer token of at most max_token
 * bytes (else AUTH_EXPIRED no_token). Returns 0, or -1 with r filled. */
int cr_task_check_publish(const Crieur__Task *task, size_t max_token, cr_result_t *r);

/* A copy of s[0..len) that is safe to store, send and log: at most max bytes,
 * valid UTF-8 (bad bytes become '?'), control characters become spaces,
 * never cut inside a character. NULL only out of memory. */
char *cr_text_clean(const char *s, size_t len, size_t max);

const char *cr_outcome_name(Crieur__Outcome o);

/* "{base}{path}" from an http(s) base URL with or without trailing slashes
 * (path starts with '/'); NULL if the base is not a plain http(s) URL with a
 * host of at most max bytes, or out of memory. */
char *cr_api_url(const char *base, const char *path, size_t max);

/* "HTTP 503 Service Unavailable" from the response's status line, or
 * "HTTP 503" without a reason phrase; always NUL-terminated. */
void cr_status_text(const cr_http_resp_t *resp, char *buf, size_t len);

#endif
