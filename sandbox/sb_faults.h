/*
 * sb_faults: fault injection rules.
 *
 * A rule matches a platform request by platform ("*" = any), and optionally by
 * account handle, HTTP method and a substring of the path. A matching rule
 * fires with probability `rate` (deterministic PRNG seeded by --seed) at most
 * `count` times (unlimited when absent), first rule in creation order wins.
 * When it fires it says what to do (sb_fault_mode_t) and how much latency to
 * add. Rule JSON (control API and --fault):
 *   {"platform":"mastodon","account":"alice","path":"/statuses","method":"POST",
 *    "status":503,"count":1,"rate":0.5,"latency_ms":200,"mode":"error"}
 * Not thread-safe: callers hold the world lock.
 */
#ifndef SB_FAULTS_H
#define SB_FAULTS_H

#include "sb_buf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    SB_FAULT_ERROR,                 /* answer `status` without doing anything */
    SB_FAULT_LATENCY,               /* do the request normally, only delayed */
    SB_FAULT_TIMEOUT_AFTER_ACCEPT,  /* do it for real, then never answer */
    SB_FAULT_DROP                   /* close the connection, do nothing */
} sb_fault_mode_t;

typedef struct {
    int64_t rule_id;
    sb_fault_mode_t mode;
    int status;          /* SB_FAULT_ERROR only */
    int64_t latency_ms;
} sb_fault_hit_t;

typedef struct sb_faults sb_faults_t;

sb_faults_t *sb_faults_new (uint64_t seed);
void sb_faults_destroy (sb_faults_t **self_p);
void sb_faults_clear (sb_faults_t *self);
/* Returns the new rule id (>= 1), or -1 with a message in err. */
int64_t sb_faults_add (sb_faults_t *self, const json_t *spec, char *err, size_t errcap);
int64_t sb_faults_add_str (sb_faults_t *self, const char *json, char *err, size_t errcap);
bool sb_faults_remove (sb_faults_t *self, int64_t rule_id);
/* Cheap test before taking the lock path for matching. */
bool sb_faults_any (const sb_faults_t *self);
/* account may be NULL (unauthenticated / unknown). */
bool sb_faults_match (sb_faults_t *self, const char *platform, const char *account,
                      const char *method, const char *path, sb_fault_hit_t *hit);
/* Appends {"faults":[...]} */
void sb_faults_dump (const sb_faults_t *self, sb_buf_t *out);
const char *sb_fault_mode_name (sb_fault_mode_t mode);

#endif
