#include "cr_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <zmq.h>

static const char *s_err_names[CR_WIRE__COUNT] = {
    "ok", "too_large", "malformed", "bad_version", "no_body", "invalid",
};

const char *cr_wire_err_name(cr_wire_err_t e)
{
    return (e >= 0 && e < CR_WIRE__COUNT) ? s_err_names[e] : "unknown";
}

int cr_wire_pack(Crieur__Envelope *env, uint8_t **buf, size_t *len)
{
    env->version = CR_PROTO_VERSION;
    size_t n = crieur__envelope__get_packed_size(env);
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return -1;
    *len = crieur__envelope__pack(env, b);
    *buf = b;
    return 0;
}

static int s_valid_task(const Crieur__Task *t)
{
    if (!t || t->job_id <= 0 || t->attempt == 0) return 0;
    if (t->kind == CRIEUR__JOB_KIND__KIND_PUBLISH &&
        (t->payload_case != CRIEUR__TASK__PAYLOAD_PUBLISH || !t->account))
        return 0;
    if (t->kind == CRIEUR__JOB_KIND__KIND_ALERT &&
        (t->payload_case != CRIEUR__TASK__PAYLOAD_ALERT || !t->account))
        return 0;
    if (t->kind == CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH &&
        (t->payload_case != CRIEUR__TASK__PAYLOAD_REFRESH || !t->account))
        return 0;
    return 1;
}

static int s_valid(const Crieur__Envelope *e)
{
    switch (e->body_case) {
    case CRIEUR__ENVELOPE__BODY_HELLO:
        return e->hello->worker_id && e->hello->worker_id[0] && e->hello->capacity > 0 &&
               e->hello->role != CRIEUR__ROLE__ROLE_UNKNOWN;
    case CRIEUR__ENVELOPE__BODY_TASKS:
        for (size_t i = 0; i < e->tasks->n_tasks; i++)
            if (!s_valid_task(e->tasks->tasks[i])) return 0;
        return 1;
    case CRIEUR__ENVELOPE__BODY_RESULTS:
        for (size_t i = 0; i < e->results->n_results; i++) {
            const Crieur__Result *r = e->results->results[i];
            if (!r || r->job_id <= 0 || r->attempt == 0 ||
                r->outcome == CRIEUR__OUTCOME__OUTCOME_UNKNOWN ||
                r->outcome > CRIEUR__OUTCOME__OUTCOME_UNCONFIRMED || r->outcome < 0)
                return 0;
        }
        return 1;
    case CRIEUR__ENVELOPE__BODY_CANCEL:
        return e->cancel->job_id > 0;
    default:
        return 1;
    }
}

Crieur__Envelope *cr_wire_unpack(const uint8_t *data, size_t len, cr_wire_err_t *err)
{
    if (len > CR_WIRE_MAX_FRAME) {
        *err = CR_WIRE_TOO_LARGE;
        return NULL;
    }
    Crieur__Envelope *e = crieur__envelope__unpack(NULL, len, data);
    if (!e) {
        *err = CR_WIRE_MALFORMED;
        return NULL;
    }
    if (e->version != CR_PROTO_VERSION) *err = CR_WIRE_BAD_VERSION;
    else if (e->body_case == CRIEUR__ENVELOPE__BODY__NOT_SET) *err = CR_WIRE_NO_BODY;
    else if (!s_valid(e)) *err = CR_WIRE_INVALID;
    else {
        *err = CR_WIRE_OK;
        return e;
    }
    crieur__envelope__free_unpacked(e, NULL);
    return NULL;
}

void cr_wire_free(Crieur__Envelope **env_p)
{
    if (env_p && *env_p) {
        crieur__envelope__free_unpacked(*env_p, NULL);
        *env_p = NULL;
    }
}

int cr_wire_send(void *sock, const void *id, size_t idlen, Crieur__Envelope *env)
{
    uint8_t *buf;
    size_t len;
    if (cr_wire_pack(env, &buf, &len)) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    if (id && zmq_send(sock, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) rc = -1;
    if (rc == 0 && zmq_send(sock, buf, len, ZMQ_DONTWAIT) < 0) rc = -1;
    int saved = errno;
    free(buf);
    errno = saved;
    return rc;
}
