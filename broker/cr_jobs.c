#include "cr_jobs.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct cr_jobs {
    cr_job_t **slots; /* open addressing, linear probing; NULL empty, TOMB deleted */
    size_t cap, count, used;
    cr_job_t **heap;
    size_t heap_len, heap_cap;
    cr_job_t *ready_head, *ready_tail;
    size_t ready_len;
    uint64_t seq; /* insertions so far */
};

static cr_job_t s_tomb_rec;
#define TOMB (&s_tomb_rec)

static char *s_dup(const char *s)
{
    return strdup(s ? s : "");
}

cr_job_t *cr_job_new(int64_t id, uint32_t attempt, Crieur__JobKind kind, int64_t due_ms)
{
    cr_job_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->id = id;
    j->attempt = attempt;
    j->due_ms = due_ms;
    j->heap_pos = (size_t)-1;
    crieur__task__init(&j->task);
    crieur__account__init(&j->account);
    crieur__publish_payload__init(&j->publish);
    crieur__alert_payload__init(&j->alert);
    crieur__refresh_payload__init(&j->refresh);
    crieur__monitor_payload__init(&j->monitor);
    j->task.job_id = id;
    j->task.attempt = attempt;
    j->task.kind = kind;
    j->task.due_ms = due_ms;
    switch (kind) {
    case CRIEUR__JOB_KIND__KIND_MONITOR: j->role = CRIEUR__ROLE__ROLE_MONITOR; break;
    case CRIEUR__JOB_KIND__KIND_METRICS: j->role = CRIEUR__ROLE__ROLE_METRICS; break;
    default: j->role = CRIEUR__ROLE__ROLE_PUBLISHER; break;
    }
    return j;
}

void cr_job_set_account(cr_job_t *job, int64_t id, int64_t client_id, const char *platform,
                        const char *handle, const char *api_base, const char *token)
{
    job->account.id = id;
    job->account.client_id = client_id;
    job->account.platform = s_dup(platform);
    job->account.handle = s_dup(handle);
    job->account.api_base = s_dup(api_base);
    job->account.token = s_dup(token);
    job->task.account = &job->account;
}

static void s_wipe_free(char **p)
{
    if (*p && *p != protobuf_c_empty_string) {
        explicit_bzero(*p, strlen(*p));
        free(*p);
    }
    *p = NULL;
}

void cr_job_take_token(cr_job_t *job, char *token)
{
    s_wipe_free(&job->account.token);
    job->account.token = token;
}

void cr_job_set_reply(cr_job_t *job, const char *in_reply_to)
{
    if (job->publish.in_reply_to != protobuf_c_empty_string) free(job->publish.in_reply_to);
    job->publish.in_reply_to = in_reply_to ? strdup(in_reply_to) : NULL;
}

void cr_job_set_refresh(cr_job_t *job, char *refresh_token, int64_t expires_at_ms)
{
    s_wipe_free(&job->refresh.refresh_token);
    job->refresh.refresh_token = refresh_token;
    job->refresh.expires_at_ms = expires_at_ms;
    job->task.payload_case = CRIEUR__TASK__PAYLOAD_REFRESH;
    job->task.refresh = &job->refresh;
}

void cr_job_set_alert(cr_job_t *job, int64_t alert_id, const char *severity, const char *kind,
                      const char *subject, const char *text, const char *client, int64_t created_ms,
                      const char *mail_from, const char *smtp_user)
{
    job->alert.alert_id = alert_id;
    job->alert.severity = s_dup(severity);
    job->alert.kind = s_dup(kind);
    job->alert.subject = s_dup(subject);
    job->alert.text = s_dup(text);
    job->alert.client = s_dup(client);
    job->alert.created_ms = created_ms;
    job->alert.mail_from = s_dup(mail_from);
    job->alert.smtp_user = s_dup(smtp_user);
    job->task.payload_case = CRIEUR__TASK__PAYLOAD_ALERT;
    job->task.alert = &job->alert;
}

static void s_free_str(char **p);

static char *s_json_dup(json_t *o, const char *key)
{
    return s_dup(json_string_value(json_object_get(o, key)));
}

/* A JSON array of strings as a protobuf repeated string; NULL out of memory. */
static char **s_json_strs(json_t *a, size_t *n)
{
    size_t len = json_array_size(a);
    char **v = calloc(len ? len : 1, sizeof *v);
    *n = 0;
    if (!v) return NULL;
    for (size_t i = 0; i < len; i++) {
        const char *str = json_string_value(json_array_get(a, i));
        if (!str) continue;
        if (!(v[*n] = strdup(str))) break;
        (*n)++;
    }
    return v;
}

static void s_strs_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void s_monitor_free(Crieur__MonitorPayload *m)
{
    s_free_str(&m->source_kind);
    s_free_str(&m->name);
    s_free_str(&m->url);
    s_free_str(&m->cursor);
    s_free_str(&m->client);
    s_strs_free(m->keywords, m->n_keywords);
    for (size_t i = 0; i < m->n_rules; i++) {
        Crieur__RoutingRule *r = m->rules[i];
        s_free_str(&r->name);
        s_free_str(&r->team);
        s_strs_free(r->keywords, r->n_keywords);
        s_strs_free(r->labels, r->n_labels);
        free(r);
    }
    free(m->rules);
    crieur__monitor_payload__init(m);
}

int cr_job_set_monitor(cr_job_t *job, const char *json, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json ? json_loads(json, 0, &je) : NULL;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "the monitor task's source is unreadable (%s)",
                 json ? je.text : "no source: was it deleted?");
        json_decref(root);
        return -1;
    }
    Crieur__MonitorPayload *m = &job->monitor;
    m->source_id = json_integer_value(json_object_get(root, "source"));
    m->source_kind = s_json_dup(root, "kind");
    m->name = s_json_dup(root, "name");
    m->url = s_json_dup(root, "url");
    m->cursor = s_json_dup(root, "cursor");
    m->client = s_json_dup(root, "client");
    m->keywords = s_json_strs(json_object_get(root, "keywords"), &m->n_keywords);
    json_t *rules = json_object_get(root, "rules");
    size_t nr = json_array_size(rules);
    m->rules = calloc(nr ? nr : 1, sizeof *m->rules);
    int oom = !m->source_kind || !m->name || !m->url || !m->cursor || !m->client ||
              !m->keywords || !m->rules;
    for (size_t i = 0; !oom && i < nr; i++) {
        json_t *o = json_array_get(rules, i);
        Crieur__RoutingRule *r = calloc(1, sizeof *r);
        if (!r) {
            oom = 1;
            break;
        }
        crieur__routing_rule__init(r);
        m->rules[m->n_rules++] = r;
        r->name = s_json_dup(o, "name");
        r->team = s_json_dup(o, "team");
        r->keywords = s_json_strs(json_object_get(o, "keywords"), &r->n_keywords);
        r->labels = s_json_strs(json_object_get(o, "labels"), &r->n_labels);
        json_t *mx = json_object_get(o, "max_sentiment"), *mn = json_object_get(o, "min_sentiment");
        if (json_is_number(mx)) {
            r->has_max_sentiment = 1;
            r->max_sentiment = (float)json_number_value(mx);
        }
        if (json_is_number(mn)) {
            r->has_min_sentiment = 1;
            r->min_sentiment = (float)json_number_value(mn);
        }
        oom = !r->name || !r->team || !r->keywords || !r->labels;
    }
    json_decref(root);
    job->task.payload_case = CRIEUR__TASK__PAYLOAD_MONITOR;
    job->task.monitor = m;
    if (oom) {
        snprintf(err, errlen, "out of memory reading the monitor task's source");
        return -1;
    }
    return 0;
}

void cr_job_set_publish(cr_job_t *job, int64_t post_id, const char *body, const char *key,
                        const char *link)
{
    job->publish.post_id = post_id;
    job->publish.body = s_dup(body);
    job->publish.idempotency_key = s_dup(key);
    job->publish.link = s_dup(link);
    job->task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
    job->task.publish = &job->publish;
}

void cr_pg_array_free(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++) free(items[i]);
    free(items);
}

int cr_pg_array_parse(const char *s, size_t max, char ***items_p, size_t *n_p)
{
    char **items = NULL;
    size_t n = 0;
    char *buf = NULL;
    if (!s || *s != '{') return -1;
    size_t len = strlen(s);
    if (len < 2 || s[len - 1] != '}') return -1;
    buf = malloc(len + 1);
    items = calloc(max ? max : 1, sizeof *items);
    if (!buf || !items) goto fail;
    const char *p = s + 1;
    if (*p == '}') goto done;
    for (;;) {
        size_t b = 0;
        int quoted = 0;
        if (*p == '"') {
            quoted = 1;
            p++;
            while (*p && *p != '"') {
                if (*p == '\\') {
                    p++;
                    if (!*p) goto fail;
                }
                buf[b++] = *p++;
            }
            if (*p != '"') goto fail;
            p++;
        } else {
            while (*p && *p != ',' && *p != '}') {
                if (*p == '"' || *p == '{' || *p == '\\') goto fail;
                buf[b++] = *p++;
            }
        }
        buf[b] = '\0';
        if (n == max) goto fail;
        /* an unquoted NULL is SQL NULL */
        items[n] = strdup(!quoted && strcmp(buf, "NULL") == 0 ? "" : buf);
        if (!items[n]) goto fail;
        n++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}' && p[1] == '\0') break;
        goto fail;
    }
done:
    free(buf);
    *items_p = items;
    *n_p = n;
    return 0;
fail:
    free(buf);
    cr_pg_array_free(items, n);
    return -1;
}

int cr_job_set_media(cr_job_t *job, const char *pg_array)
{
    char **items;
    size_t n;
    if (cr_pg_array_parse(pg_array, 16, &items, &n) != 0) return -1;
    if (n == 0) {
        free(items);
        return 0;
    }
    job->publish.media = items;
    job->publish.n_media = n;
    return 0;
}

static void s_free_str(char **p)
{
    if (*p && *p != protobuf_c_empty_string) free(*p);
    *p = NULL;
}

void cr_job_destroy(cr_job_t **job_p)
{
    if (!job_p || !*job_p) return;
    cr_job_t *j = *job_p;
    s_free_str(&j->account.platform);
    s_free_str(&j->account.handle);
    s_free_str(&j->account.api_base);
    s_wipe_free(&j->account.token); /* a credential: wiped before freed */
    s_wipe_free(&j->refresh.refresh_token);
    s_free_str(&j->publish.in_reply_to);
    s_free_str(&j->alert.severity);
    s_free_str(&j->alert.kind);
    s_free_str(&j->alert.subject);
    s_free_str(&j->alert.text);
    s_free_str(&j->alert.client);
    s_free_str(&j->alert.mail_from);
    s_free_str(&j->alert.smtp_user);
    s_monitor_free(&j->monitor);
    s_free_str(&j->publish.body);
    s_free_str(&j->publish.idempotency_key);
    s_free_str(&j->publish.link);
    cr_pg_array_free(j->publish.media, j->publish.n_media);
    free(j);
    *job_p = NULL;
}

cr_jobs_t *cr_jobs_new(void)
{
    cr_jobs_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->cap = 1024;
    self->slots = calloc(self->cap, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void cr_jobs_destroy(cr_jobs_t **self_p)
{
    if (!self_p || !*self_p) return;
    cr_jobs_t *self = *self_p;
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i] && self->slots[i] != TOMB) cr_job_destroy(&self->slots[i]);
    free(self->slots);
    free(self->heap);
    free(self);
    *self_p = NULL;
}

static size_t s_hash(int64_t id, size_t cap)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)(x & (cap - 1));
}

static int s_grow(cr_jobs_t *self)
{
    size_t ncap = self->cap * 2;
    cr_job_t **n = calloc(ncap, sizeof *n);
    if (!n) return -1;
    for (size_t i = 0; i < self->cap; i++) {
        cr_job_t *j = self->slots[i];
        if (!j || j == TOMB) continue;
        size_t h = s_hash(j->id, ncap);
        while (n[h]) h = (h + 1) & (ncap - 1);
        n[h] = j;
    }
    free(self->slots);
    self->slots = n;
    self->cap = ncap;
    self->used = self->count;
    return 0;
}

int cr_jobs_insert(cr_jobs_t *self, cr_job_t *job)
{
    if (cr_jobs_find(self, job->id)) return -1;
    if ((self->used + 1) * 4 > self->cap * 3 && s_grow(self)) return -1;
    size_t h = s_hash(job->id, self->cap);
    while (self->slots[h] && self->slots[h] != TOMB) h = (h + 1) & (self->cap - 1);
    if (!self->slots[h]) self->used++;
    self->slots[h] = job;
    self->count++;
    job->seq = ++self->seq;
    return 0;
}

static size_t s_find_slot(const cr_jobs_t *self, int64_t id)
{
    size_t h = s_hash(id, self->cap);
    for (size_t n = 0; n < self->cap; n++) {
        cr_job_t *j = self->slots[h];
        if (!j) return (size_t)-1;
        if (j != TOMB && j->id == id) return h;
        h = (h + 1) & (self->cap - 1);
    }
    return (size_t)-1;
}

cr_job_t *cr_jobs_find(cr_jobs_t *self, int64_t id)
{
    size_t h = s_find_slot(self, id);
    return h == (size_t)-1 ? NULL : self->slots[h];
}

/* Heap helpers */
static void s_heap_swap(cr_jobs_t *self, size_t a, size_t b)
{
    cr_job_t *t = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = t;
    self->heap[a]->heap_pos = a;
    self->heap[b]->heap_pos = b;
}

/* Due time first; jobs due together keep the order they were claimed in,
 * which is the fair order (each client's first post before anyone's second),
 * not the order of their ids. */
static int s_before(const cr_job_t *a, const cr_job_t *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void s_heap_up(cr_jobs_t *self, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!s_before(self->heap[i], self->heap[p])) break;
        s_heap_swap(self, i, p);
        i = p;
    }
}

static void s_heap_down(cr_jobs_t *self, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < self->heap_len && s_before(self->heap[l], self->heap[m])) m = l;
        if (r < self->heap_len && s_before(self->heap[r], self->heap[m])) m = r;
        if (m == i) break;
        s_heap_swap(self, i, m);
        i = m;
    }
}

static void s_heap_remove(cr_jobs_t *self, cr_job_t *job)
{
    size_t i = job->heap_pos;
    if (i >= self->heap_len || self->heap[i] != job) return;
    self->heap_len--;
    if (i != self->heap_len) {
        self->heap[i] = self->heap[self->heap_len];
        self->heap[i]->heap_pos = i;
        s_heap_down(self, i);
        s_heap_up(self, i);
    }
    job->heap_pos = (size_t)-1;
}

static void s_ready_unlink(cr_jobs_t *self, cr_job_t *job)
{
    cr_job_t *prev = NULL;
    for (cr_job_t *j = self->ready_head; j; prev = j, j = j->next) {
        if (j != job) continue;
        if (prev) prev->next = j->next;
        else self->ready_head = j->next;
        if (self->ready_tail == j) self->ready_tail = prev;
        j->next = NULL;
        self->ready_len--;
        return;
    }
}

cr_job_t *cr_jobs_remove(cr_jobs_t *self, int64_t id)
{
    size_t h = s_find_slot(self, id);
    if (h == (size_t)-1) return NULL;
    cr_job_t *j = self->slots[h];
    self->slots[h] = TOMB;
    self->count--;
    if (j->state == CR_JOB_HELD) s_heap_remove(self, j);
    else if (j->state == CR_JOB_READY) s_ready_unlink(self, j);
    return j;
}

size_t cr_jobs_count(const cr_jobs_t *self)
{
    return self->count;
}

void cr_jobs_each(cr_jobs_t *self, void (*fn)(cr_job_t *job, void *arg), void *arg)
{
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i] && self->slots[i] != TOMB) fn(self->slots[i], arg);
}

void cr_jobs_hold(cr_jobs_t *self, cr_job_t *job)
{
    if (self->heap_len == self->heap_cap) {
        size_t ncap = self->heap_cap ? self->heap_cap * 2 : 256;
        cr_job_t **n = realloc(self->heap, ncap * sizeof *n);
        if (!n) { /* cannot hold: make it ready at once rather than lose it */
            cr_jobs_ready_push(self, job);
            return;
        }
        self->heap = n;
        self->heap_cap = ncap;
    }
    job->state = CR_JOB_HELD;
    job->heap_pos = self->heap_len;
    self->heap[self->heap_len++] = job;
    s_heap_up(self, job->heap_pos);
}

cr_job_t *cr_jobs_peek_held(cr_jobs_t *self)
{
    return self->heap_len ? self->heap[0] : NULL;
}

size_t cr_jobs_held(const cr_jobs_t *self)
{
    return self->heap_len;
}

void cr_jobs_ready_push(cr_jobs_t *self, cr_job_t *job)
{
    if (job->state == CR_JOB_HELD && job->heap_pos != (size_t)-1) s_heap_remove(self, job);
    job->state = CR_JOB_READY;
    job->next = NULL;
    if (self->ready_tail) self->ready_tail->next = job;
    else self->ready_head = job;
    self->ready_tail = job;
    self->ready_len++;
}

cr_job_t *cr_jobs_ready_pop(cr_jobs_t *self)
{
    cr_job_t *j = self->ready_head;
    if (!j) return NULL;
    self->ready_head = j->next;
    if (!self->ready_head) self->ready_tail = NULL;
    j->next = NULL;
    self->ready_len--;
    return j;
}

cr_job_t *cr_jobs_ready_head(cr_jobs_t *self)
{
    return self->ready_head;
}

size_t cr_jobs_ready(const cr_jobs_t *self)
{
    return self->ready_len;
}
