/* sb_faults: fault injection rules. See sb_faults.h. */
#include "sb_faults.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t id;
    char *platform;   /* "*" = any */
    char *account;    /* NULL = any */
    char *path;       /* NULL = any */
    char *method;     /* NULL = any */
    sb_fault_mode_t mode;
    int status;
    int64_t count;    /* -1 = unlimited */
    double rate;      /* 1.0 = always */
    int64_t latency_ms;
    int64_t applied;
} s_rule_t;

struct sb_faults {
    s_rule_t **rules;
    size_t count;
    size_t cap;
    int64_t next_id;
    uint64_t prng;
};

static const char *s_mode_names[] = { "error", "latency", "timeout_after_accept", "drop" };

const char *
sb_fault_mode_name (sb_fault_mode_t mode)
{
    return s_mode_names[mode];
}

static void
s_rule_free (s_rule_t *rule)
{
    if (!rule)
        return;
    free (rule->platform);
    free (rule->account);
    free (rule->path);
    free (rule->method);
    free (rule);
}

sb_faults_t *
sb_faults_new (uint64_t seed)
{
    sb_faults_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->next_id = 1;
    self->prng = seed;
    return self;
}

void
sb_faults_clear (sb_faults_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        s_rule_free (self->rules[i]);
    self->count = 0;
}

void
sb_faults_destroy (sb_faults_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sb_faults_t *self = *self_p;
    sb_faults_clear (self);
    free (self->rules);
    free (self);
    *self_p = NULL;
}

/* splitmix64: tiny, deterministic, good enough for coin flips */
static double
s_random (sb_faults_t *self)
{
    uint64_t z = (self->prng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double) (z >> 11) / 9007199254740992.0;
}

static int
s_opt_string (const json_t *spec, const char *key, char **out, char *err, size_t errcap)
{
    const json_t *v = json_object_get (spec, key);
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_string (v) || json_string_length (v) == 0 || json_string_length (v) > 256) {
        snprintf (err, errcap, "'%s' must be a non-empty string", key);
        return -1;
    }
    *out = strdup (json_string_value (v));
    if (!*out) {
        snprintf (err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

static int
s_opt_int (const json_t *spec, const char *key, int64_t min, int64_t max, int64_t *out,
           char *err, size_t errcap)
{
    const json_t *v = json_object_get (spec, key);
    if (!v || json_is_null (v))
        return 0;
    if (!json_is_integer (v) || json_integer_value (v) < min || json_integer_value (v) > max) {
        snprintf (err, errcap, "'%s' must be an integer in [%lld, %lld]", key, (long long) min,
                  (long long) max);
        return -1;
    }
    *out = (int64_t) json_integer_value (v);
    return 1;
}

int64_t
sb_faults_add (sb_faults_t *self, const json_t *spec, char *err, size_t errcap)
{
    static const char *known[] = { "platform", "account", "path",       "method", "status",
                                   "count",    "rate",    "latency_ms", "mode",   NULL };
    int64_t result = -1;
    s_rule_t *rule = NULL;
    const char *key;
    const json_t *value;

    if (!json_is_object (spec)) {
        snprintf (err, errcap, "a fault rule must be a JSON object");
        goto out;
    }
    json_object_foreach ((json_t *) spec, key, value) {
        size_t i = 0;
        while (known[i] && strcmp (known[i], key) != 0)
            i++;
        if (!known[i]) {
            snprintf (err, errcap, "unknown field '%.64s'", key);
            goto out;
        }
    }
    rule = calloc (1, sizeof (*rule));
    if (!rule) {
        snprintf (err, errcap, "out of memory");
        goto out;
    }
    rule->count = -1;
    rule->rate = 1.0;
    if (s_opt_string (spec, "platform", &rule->platform, err, errcap) != 0
        || s_opt_string (spec, "account", &rule->account, err, errcap) != 0
        || s_opt_string (spec, "path", &rule->path, err, errcap) != 0
        || s_opt_string (spec, "method", &rule->method, err, errcap) != 0)
        goto out;
    if (!rule->platform && !(rule->platform = strdup ("*"))) {
        snprintf (err, errcap, "out of memory");
        goto out;
    }
    int64_t status = 0;
    int has_status = s_opt_int (spec, "status", 100, 599, &status, err, errcap);
    if (has_status < 0 || s_opt_int (spec, "count", 1, INT64_MAX, &rule->count, err, errcap) < 0
        || s_opt_int (spec, "latency_ms", 0, 600000, &rule->latency_ms, err, errcap) < 0)
        goto out;
    rule->status = (int) status;
    const json_t *rate = json_object_get (spec, "rate");
    if (rate && !json_is_null (rate)) {
        if (!json_is_number (rate) || json_number_value (rate) < 0.0
            || json_number_value (rate) > 1.0 || isnan (json_number_value (rate))) {
            snprintf (err, errcap, "'rate' must be a number in [0, 1]");
            goto out;
        }
        rule->rate = json_number_value (rate);
    }
    const json_t *mode = json_object_get (spec, "mode");
    if (mode && !json_is_null (mode)) {
        const char *name = json_is_string (mode) ? json_string_value (mode) : "";
        size_t m = 0;
        while (m < 4 && strcmp (s_mode_names[m], name) != 0)
            m++;
        if (m == 4) {
            snprintf (err, errcap,
                      "'mode' must be one of error, latency, timeout_after_accept, drop");
            goto out;
        }
        rule->mode = (sb_fault_mode_t) m;
    }
    else
        rule->mode = has_status ? SB_FAULT_ERROR : SB_FAULT_LATENCY;
    if (rule->mode == SB_FAULT_ERROR && !has_status) {
        if (rule->latency_ms == 0) {
            snprintf (err, errcap, "mode 'error' needs 'status' (or give 'latency_ms')");
            goto out;
        }
        rule->mode = SB_FAULT_LATENCY;
    }
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 8;
        s_rule_t **rules = realloc (self->rules, cap * sizeof (*rules));
        if (!rules) {
            snprintf (err, errcap, "out of memory");
            goto out;
        }
        self->rules = rules;
        self->cap = cap;
    }
    rule->id = self->next_id++;
    self->rules[self->count++] = rule;
    result = rule->id;
    rule = NULL;
out:
    s_rule_free (rule);
    return result;
}

int64_t
sb_faults_add_str (sb_faults_t *self, const char *json, char *err, size_t errcap)
{
    json_error_t jerr;
    json_t *spec = json_loads (json, JSON_REJECT_DUPLICATES, &jerr);
    if (!spec) {
        snprintf (err, errcap, "invalid JSON: %s", jerr.text);
        return -1;
    }
    int64_t id = sb_faults_add (self, spec, err, errcap);
    json_decref (spec);
    return id;
}

bool
sb_faults_remove (sb_faults_t *self, int64_t rule_id)
{
    for (size_t i = 0; i < self->count; i++) {
        if (self->rules[i]->id == rule_id) {
            s_rule_free (self->rules[i]);
            memmove (&self->rules[i], &self->rules[i + 1],
                     (self->count - i - 1) * sizeof (self->rules[0]));
            self->count--;
            return true;
        }
    }
    return false;
}

bool
sb_faults_any (const sb_faults_t *self)
{
    return self->count > 0;
}

bool
sb_faults_match (sb_faults_t *self, const char *platform, const char *account,
                 const char *method, const char *path, sb_fault_hit_t *hit)
{
    for (size_t i = 0; i < self->count; i++) {
        s_rule_t *r = self->rules[i];
        if (r->count == 0)
            continue;   /* exhausted */
        if (strcmp (r->platform, "*") != 0 && strcmp (r->platform, platform) != 0)
            continue;
        if (r->account && (!account || strcmp (r->account, account) != 0))
            continue;
        if (r->method && strcmp (r->method, method) != 0)
            continue;
        if (r->path && !strstr (path, r->path))
            continue;
        if (r->rate < 1.0 && s_random (self) >= r->rate)
            continue;
        if (r->count > 0)
            r->count--;
        r->applied++;
        hit->rule_id = r->id;
        hit->mode = r->mode;
        hit->status = r->status;
        hit->latency_ms = r->latency_ms;
        return true;
    }
    return false;
}

void
sb_faults_dump (const sb_faults_t *self, sb_buf_t *out)
{
    sb_buf_adds (out, "{\"faults\":[");
    for (size_t i = 0; i < self->count; i++) {
        const s_rule_t *r = self->rules[i];
        if (i)
            sb_buf_addc (out, ',');
        sb_buf_printf (out, "{\"id\":%lld,\"platform\":", (long long) r->id);
        sb_buf_add_json_str (out, r->platform);
        sb_buf_adds (out, ",\"account\":");
        sb_buf_add_json_str (out, r->account);
        sb_buf_adds (out, ",\"path\":");
        sb_buf_add_json_str (out, r->path);
        sb_buf_adds (out, ",\"method\":");
        sb_buf_add_json_str (out, r->method);
        sb_buf_printf (out, ",\"mode\":\"%s\",\"status\":", s_mode_names[r->mode]);
        if (r->status)
            sb_buf_printf (out, "%d", r->status);
        else
            sb_buf_adds (out, "null");
        sb_buf_adds (out, ",\"remaining\":");
        if (r->count >= 0)
            sb_buf_printf (out, "%lld", (long long) r->count);
        else
            sb_buf_adds (out, "null");
        sb_buf_printf (out, ",\"rate\":%.17g,\"latency_ms\":%lld,\"applied\":%lld}", r->rate,
                       (long long) r->latency_ms, (long long) r->applied);
    }
    sb_buf_adds (out, "]}");
}
