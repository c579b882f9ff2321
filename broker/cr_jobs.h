/* cr_jobs: the jobs a broker holds under lease, indexed three ways.
 *
 * A job held by the broker is in exactly one state:
 *   HELD      claimed ahead of its due time, waiting in the timer heap;
 *   READY     due, waiting for a worker of its role with credit (FIFO);
 *   INFLIGHT  sent to a worker as a task, waiting for its result.
 * The map (job id -> job) owns the records; the heap and the ready queue
 * only point to them. */
#ifndef CR_JOBS_H
#define CR_JOBS_H

#include "crieur.pb-c.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { CR_JOB_HELD, CR_JOB_READY, CR_JOB_INFLIGHT } cr_job_state_t;

typedef struct cr_worker cr_worker_t;

typedef struct cr_job {
    int64_t id;
    uint32_t attempt;
    cr_job_state_t state;
    int role; /* Crieur__Role that runs it */
    int64_t due_ms;
    int64_t dispatched_ms;
    int64_t deadline_ms;
    int64_t lease_until; /* monotonic ms: the lease surely holds until then */
    cr_worker_t *worker; /* INFLIGHT: who has it */
    size_t heap_pos;     /* HELD: index in the heap */
    struct cr_job *next; /* READY: queue link */
    int cancel;          /* a cancel was requested */
    int rate_taken;      /* a place in the rate limiter's windows was taken for its dispatch */
    uint64_t seq;        /* order of insertion (claim order): breaks ties of due_ms */
    /* The task as it goes on the wire; strings owned by this record. */
    Crieur__Task task;
    Crieur__Account account;
    Crieur__PublishPayload publish;
    Crieur__AlertPayload alert;
    Crieur__RefreshPayload refresh;
    Crieur__MonitorPayload monitor;
} cr_job_t;

/* Builds a job record; strings are copied. */
cr_job_t *cr_job_new(int64_t id, uint32_t attempt, Crieur__JobKind kind, int64_t due_ms);
void cr_job_set_account(cr_job_t *job, int64_t id, int64_t client_id, const char *platform,
                        const char *handle, const char *api_base, const char *token);
void cr_job_set_publish(cr_job_t *job, int64_t post_id, const char *body, const char *key,
                        const char *link);
/* Takes ownership of token (a plaintext credential, wiped on destroy); NULL = none. */
void cr_job_take_token(cr_job_t *job, char *token);
void cr_job_set_reply(cr_job_t *job, const char *in_reply_to);
/* A monitor task's payload from the claim's JSON (crieur.monitor_task).
 * Returns 0, or -1 with err filled when it is unreadable. */
int cr_job_set_monitor(cr_job_t *job, const char *json, char *err, size_t errlen);
/* Takes ownership of refresh_token (wiped on destroy). */
void cr_job_set_refresh(cr_job_t *job, char *refresh_token, int64_t expires_at_ms);
/* The alert's texts are copied; the SMTP password travels as the account's token. */
void cr_job_set_alert(cr_job_t *job, int64_t alert_id, const char *severity, const char *kind,
                      const char *subject, const char *text, const char *client, int64_t created_ms,
                      const char *mail_from, const char *smtp_user);
/* Sets the post's media (file paths or URLs) from a PostgreSQL text[] in
 * text form ("{a,\"b c\"}"). Returns 0, or -1 if it is malformed or too big
 * (the task then goes without media: the adapter refuses what it needs). */
int cr_job_set_media(cr_job_t *job, const char *pg_array);

/* Parses a one-dimensional PostgreSQL text[] literal into n heap strings
 * (NULL elements become ""). Returns 0 and sets the items and their count, or -1. At most
 * max items. Free with cr_pg_array_free. */
int cr_pg_array_parse(const char *s, size_t max, char ***items, size_t *n);
void cr_pg_array_free(char **items, size_t n);
void cr_job_destroy(cr_job_t **job_p);

typedef struct cr_jobs cr_jobs_t;

cr_jobs_t *cr_jobs_new(void);
void cr_jobs_destroy(cr_jobs_t **self_p);

/* Map. Insert fails (-1) if the id is present. Remove unlinks the job from
 * the heap or queue too, and returns it (caller destroys). */
int cr_jobs_insert(cr_jobs_t *self, cr_job_t *job);
cr_job_t *cr_jobs_find(cr_jobs_t *self, int64_t id);
cr_job_t *cr_jobs_remove(cr_jobs_t *self, int64_t id);
size_t cr_jobs_count(const cr_jobs_t *self);
/* Calls fn for every job (do not insert or remove during the walk). */
void cr_jobs_each(cr_jobs_t *self, void (*fn)(cr_job_t *job, void *arg), void *arg);

/* Heap of HELD jobs by due time. */
void cr_jobs_hold(cr_jobs_t *self, cr_job_t *job);
cr_job_t *cr_jobs_peek_held(cr_jobs_t *self);
size_t cr_jobs_held(const cr_jobs_t *self);

/* FIFO of READY jobs (one queue for all roles; the broker filters). */
void cr_jobs_ready_push(cr_jobs_t *self, cr_job_t *job);
cr_job_t *cr_jobs_ready_pop(cr_jobs_t *self);
cr_job_t *cr_jobs_ready_head(cr_jobs_t *self);
size_t cr_jobs_ready(const cr_jobs_t *self);

#endif
