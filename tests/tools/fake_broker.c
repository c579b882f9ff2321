/* fake_broker: plays a broker for one real worker without a database, to
 * drive crieur-publisher (or any worker) in integration tests.
 *
 *   fake_broker ENDPOINT TASKS.json [TIMEOUT_S]
 *
 * Binds a ROUTER on ENDPOINT, answers the first worker's HELLO with a
 * WELCOME (and every heartbeat with one), sends the tasks of TASKS.json as
 * its credit allows, and prints each result as one JSON line on stdout:
 *   {"job_id":1,"attempt":1,"outcome":"ok","http_status":200,"error":"..",
 *    "error_code":"..","retry_at_ms":0,"rate_known":true,"rate_limit":300,
 *    "rate_remaining":299,"rate_reset_ms":1767226500123}
 * Exits 0 once every task has a result, 1 on timeout (default 30 s), 2 on
 * bad usage or input.
 *
 * TASKS.json is an array of alert (or publish) tasks:
 *   [{"job_id":1, "attempt":1, "platform":"webhook", "handle":"ops",
 *     "token":"http://...", "api_base":"", "kind":"alert" (or "publish"),
 *     "alert":{"alert_id":1, "severity":"critical", "kind":"post_failed",
 *              "subject":"..", "text":"..", "client":"..", "post_id":42,
 *              "mail_from":"..", "smtp_user":".."}}]
 * a publish task has "body" and "idempotency_key" instead of "alert". */
#include "cr_wire.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define MAX_TASKS 64

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *s_dup(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return strdup(s ? s : "");
}

typedef struct {
    Crieur__Task task;
    Crieur__Account acc;
    Crieur__AlertPayload alert;
    Crieur__PublishPayload pub;
    int sent, done;
} task_t;

static int s_load(const char *path, task_t *tasks, size_t *n)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!json_is_array(root) || json_array_size(root) == 0 || json_array_size(root) > MAX_TASKS) {
        fprintf(stderr, "fake_broker: %s: an array of 1..%d tasks is expected (%s)\n", path,
                MAX_TASKS, root ? "wrong shape" : err.text);
        json_decref(root);
        return -1;
    }
    size_t i;
    json_t *t;
    json_array_foreach(root, i, t) {
        task_t *x = &tasks[i];
        crieur__task__init(&x->task);
        crieur__account__init(&x->acc);
        crieur__alert_payload__init(&x->alert);
        crieur__publish_payload__init(&x->pub);
        x->task.job_id = json_integer_value(json_object_get(t, "job_id"));
        x->task.attempt = (uint32_t)json_integer_value(json_object_get(t, "attempt"));
        if (x->task.job_id <= 0 || x->task.attempt == 0) {
            fprintf(stderr, "fake_broker: task %zu needs job_id and attempt > 0\n", i);
            json_decref(root);
            return -1;
        }
        x->task.due_ms = s_now_ms();
        x->task.deadline_ms = s_now_ms() + 60000;
        x->task.account = &x->acc;
        x->acc.id = (int64_t)i + 1;
        x->acc.platform = s_dup(t, "platform");
        x->acc.handle = s_dup(t, "handle");
        x->acc.token = s_dup(t, "token");
        x->acc.api_base = s_dup(t, "api_base");
        const char *kind = json_string_value(json_object_get(t, "kind"));
        if (kind && strcmp(kind, "publish") == 0) {
            x->task.kind = CRIEUR__JOB_KIND__KIND_PUBLISH;
            x->task.payload_case = CRIEUR__TASK__PAYLOAD_PUBLISH;
            x->task.publish = &x->pub;
            x->pub.body = s_dup(t, "body");
            x->pub.idempotency_key = s_dup(t, "idempotency_key");
        } else {
            json_t *a = json_object_get(t, "alert");
            x->task.kind = CRIEUR__JOB_KIND__KIND_ALERT;
            x->task.payload_case = CRIEUR__TASK__PAYLOAD_ALERT;
            x->task.alert = &x->alert;
            x->alert.alert_id = json_integer_value(json_object_get(a, "alert_id"));
            x->alert.severity = s_dup(a, "severity");
            x->alert.kind = s_dup(a, "kind");
            x->alert.subject = s_dup(a, "subject");
            x->alert.text = s_dup(a, "text");
            x->alert.client = s_dup(a, "client");
            x->alert.post_id = json_integer_value(json_object_get(a, "post_id"));
            x->alert.created_ms = s_now_ms();
            x->alert.mail_from = s_dup(a, "mail_from");
            x->alert.smtp_user = s_dup(a, "smtp_user");
        }
    }
    *n = json_array_size(root);
    json_decref(root);
    return 0;
}

static const char *s_outcome(Crieur__Outcome o)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&crieur__outcome__descriptor, (int)o);
    if (!v) return "unknown";
    /* "OUTCOME_RATE_LIMITED" -> "rate_limited" */
    static char buf[64];
    const char *n = strncmp(v->name, "OUTCOME_", 8) == 0 ? v->name + 8 : v->name;
    size_t i = 0;
    for (; n[i] && i + 1 < sizeof buf; i++) buf[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] + 32 : n[i]);
    buf[i] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: fake_broker ENDPOINT TASKS.json [TIMEOUT_S]\n");
        return 2;
    }
    static task_t tasks[MAX_TASKS];
    size_t ntasks = 0, ndone = 0;
    if (s_load(argv[2], tasks, &ntasks)) return 2;
    long timeout_s = argc > 3 ? strtol(argv[3], NULL, 10) : 30;
    if (timeout_s <= 0) timeout_s = 30;

    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(router, argv[1])) {
        fprintf(stderr, "fake_broker: bind %s: %s\n", argv[1], zmq_strerror(errno));
        return 2;
    }
    char wid[256] = "";
    size_t widn = 0;
    uint32_t credit = 0;
    int64_t end = s_now_ms() + timeout_s * 1000;
    int rc = 1;
    while (s_now_ms() < end) {
        zmq_pollitem_t it = {router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) > 0) {
            char id[256];
            int idn = zmq_recv(router, id, sizeof id, 0);
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (idn <= 0 || zmq_msg_recv(&m, router, 0) < 0) {
                zmq_msg_close(&m);
                continue;
            }
            cr_wire_err_t err;
            Crieur__Envelope *env = cr_wire_unpack(zmq_msg_data(&m), zmq_msg_size(&m), &err);
            zmq_msg_close(&m);
            if (!env) {
                fprintf(stderr, "fake_broker: bad frame: %s\n", cr_wire_err_name(err));
                continue;
            }
            Crieur__Envelope out = CRIEUR__ENVELOPE__INIT;
            switch (env->body_case) {
            case CRIEUR__ENVELOPE__BODY_HELLO: {
                memcpy(wid, id, (size_t)idn);
                widn = (size_t)idn;
                credit = 0;
                for (size_t i = 0; i < ntasks; i++)
                    if (!tasks[i].done) tasks[i].sent = 0; /* a new session: send again */
                Crieur__Welcome w = CRIEUR__WELCOME__INIT;
                w.broker_id = "fake-broker";
                w.heartbeat_ms = 1000;
                w.heartbeat_liveness = 10;
                w.max_tasks_per_batch = 100;
                out.body_case = CRIEUR__ENVELOPE__BODY_WELCOME;
                out.welcome = &w;
                cr_wire_send(router, wid, widn, &out);
                break;
            }
            case CRIEUR__ENVELOPE__BODY_CREDIT:
                credit += env->credit->slots;
                break;
            case CRIEUR__ENVELOPE__BODY_HEARTBEAT: {
                Crieur__Heartbeat h = CRIEUR__HEARTBEAT__INIT;
                out.body_case = CRIEUR__ENVELOPE__BODY_HEARTBEAT;
                out.heartbeat = &h;
                cr_wire_send(router, id, (size_t)idn, &out);
                break;
            }
            case CRIEUR__ENVELOPE__BODY_RESULTS:
                credit += env->results->credit;
                for (size_t i = 0; i < env->results->n_results; i++) {
                    const Crieur__Result *r = env->results->results[i];
                    for (size_t k = 0; k < ntasks; k++) {
                        if (tasks[k].task.job_id != r->job_id ||
                            tasks[k].task.attempt != r->attempt || tasks[k].done)
                            continue;
                        tasks[k].done = 1;
                        ndone++;
                        json_t *j = json_pack(
                            "{s:I, s:i, s:s, s:i, s:s, s:s, s:I, s:b, s:I, s:I, s:I}", "job_id",
                            (json_int_t)r->job_id, "attempt", (int)r->attempt, "outcome",
                            s_outcome(r->outcome), "http_status", (int)r->http_status, "error",
                            r->error ? r->error : "", "error_code",
                            r->error_code ? r->error_code : "", "retry_at_ms",
                            (json_int_t)r->retry_at_ms, "rate_known", (int)r->rate_known,
                            "rate_limit", (json_int_t)r->rate_limit, "rate_remaining",
                            (json_int_t)r->rate_remaining, "rate_reset_ms",
                            (json_int_t)r->rate_reset_ms);
                        char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
                        printf("%s\n", line ? line : "{}");
                        fflush(stdout);
                        free(line);
                        json_decref(j);
                    }
                }
                break;
            default:
                break;
            }
            cr_wire_free(&env);
        }
        if (widn && credit > 0) {
            Crieur__Task *batch[MAX_TASKS];
            size_t nb = 0;
            for (size_t i = 0; i < ntasks && nb < credit; i++)
                if (!tasks[i].sent && !tasks[i].done) {
                    batch[nb++] = &tasks[i].task;
                    tasks[i].sent = 1;
                }
            if (nb) {
                Crieur__Envelope out = CRIEUR__ENVELOPE__INIT;
                Crieur__TaskBatch tb = CRIEUR__TASK_BATCH__INIT;
                tb.tasks = batch;
                tb.n_tasks = nb;
                out.body_case = CRIEUR__ENVELOPE__BODY_TASKS;
                out.tasks = &tb;
                if (cr_wire_send(router, wid, widn, &out) == 0) credit -= (uint32_t)nb;
            }
        }
        if (ndone == ntasks) {
            rc = 0;
            break;
        }
    }
    for (size_t i = 0; i < ntasks; i++) {
        task_t *x = &tasks[i];
        char *strs[] = {x->acc.platform,  x->acc.handle,     x->acc.token,     x->acc.api_base,
                        x->pub.body,      x->pub.idempotency_key, x->alert.severity,
                        x->alert.kind,    x->alert.subject,  x->alert.text,    x->alert.client,
                        x->alert.mail_from, x->alert.smtp_user};
        for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
            if (strs[k] && strs[k] != protobuf_c_empty_string) free(strs[k]);
    }
    if (rc) fprintf(stderr, "fake_broker: timed out with %zu of %zu results\n", ndone, ntasks);
    zmq_close(router);
    zmq_ctx_term(ctx);
    return rc;
}
