/* hostile_peer: connects to a broker as a misbehaving worker and sends every
 * kind of bad input: random bytes, truncated and oversized frames, extra
 * frames, wrong versions, messages before HELLO, results for unknown jobs,
 * forged attempts. Then checks that the broker still answers a well-formed
 * HELLO with a WELCOME. Exit 0 when it does, 1 otherwise.
 *
 *   hostile_peer ENDPOINT [ROUNDS] */
#include "cr_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static unsigned s_seed = 12345;
static unsigned s_rand(void)
{
    s_seed = s_seed * 1103515245u + 12345u;
    return s_seed >> 8;
}

static void s_send_raw(void *sock, const void *data, size_t len, int more)
{
    zmq_send(sock, data, len, more ? ZMQ_SNDMORE : 0);
}

static void s_send_env(void *sock, Crieur__Envelope *env, unsigned version)
{
    uint8_t *buf;
    size_t len;
    cr_wire_pack(env, &buf, &len);
    if (version != 1) {
        /* repack with a wrong version */
        env->version = version;
        free(buf);
        len = crieur__envelope__get_packed_size(env);
        buf = malloc(len);
        crieur__envelope__pack(env, buf);
    }
    s_send_raw(sock, buf, len, 0);
    free(buf);
}

static int s_hello_welcomed(void *sock, const char *id)
{
    Crieur__Hello h = CRIEUR__HELLO__INIT;
    h.worker_id = (char *)id;
    h.role = CRIEUR__ROLE__ROLE_PUBLISHER;
    h.capacity = 1;
    h.version = "hostile";
    Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
    env.body_case = CRIEUR__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    s_send_env(sock, &env, 1);
    for (int i = 0; i < 50; i++) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 200) <= 0) continue;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, 0) < 0) {
            zmq_msg_close(&m);
            continue;
        }
        cr_wire_err_t err;
        Crieur__Envelope *e = cr_wire_unpack(zmq_msg_data(&m), zmq_msg_size(&m), &err);
        zmq_msg_close(&m);
        int ok = e && e->body_case == CRIEUR__ENVELOPE__BODY_WELCOME;
        cr_wire_free(&e);
        if (ok) return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: hostile_peer ENDPOINT [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2000;
    void *ctx = zmq_ctx_new();
    void *sock = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_ROUTING_ID, "hostile", 7);
    if (zmq_connect(sock, argv[1]) != 0) {
        fprintf(stderr, "cannot connect to %s\n", argv[1]);
        return 2;
    }
    static uint8_t big[9u * 1024u * 1024u];
    for (int r = 0; r < rounds; r++) {
        uint8_t junk[512];
        size_t n = s_rand() % sizeof junk;
        for (size_t i = 0; i < n; i++) junk[i] = (uint8_t)s_rand();
        switch (r % 9) {
        case 0: s_send_raw(sock, junk, n, 0); break;                 /* random bytes */
        case 1: s_send_raw(sock, junk, n, 1); s_send_raw(sock, junk, n, 0); break; /* two frames */
        case 2: s_send_raw(sock, "", 0, 0); break;                   /* empty frame */
        case 3: {                                                    /* results, unknown jobs */
            Crieur__Result res = CRIEUR__RESULT__INIT, *rp = &res;
            res.job_id = (int64_t)(s_rand() % 100000) + 1;
            res.attempt = 1 + s_rand() % 5;
            res.outcome = CRIEUR__OUTCOME__OUTCOME_OK;
            res.platform_post_id = "forged";
            Crieur__ResultBatch rb = CRIEUR__RESULT_BATCH__INIT;
            rb.n_results = 1;
            rb.results = &rp;
            rb.credit = 1000000;
            Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
            env.body_case = CRIEUR__ENVELOPE__BODY_RESULTS;
            env.results = &rb;
            s_send_env(sock, &env, 1);
            break;
        }
        case 4: {                                                    /* wrong version */
            Crieur__Heartbeat hb = CRIEUR__HEARTBEAT__INIT;
            Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
            env.body_case = CRIEUR__ENVELOPE__BODY_HEARTBEAT;
            env.heartbeat = &hb;
            s_send_env(sock, &env, 7);
            break;
        }
        case 5: {                                                    /* a worker may not send tasks */
            Crieur__TaskBatch tb = CRIEUR__TASK_BATCH__INIT;
            Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
            env.body_case = CRIEUR__ENVELOPE__BODY_TASKS;
            env.tasks = &tb;
            s_send_env(sock, &env, 1);
            break;
        }
        case 6: {                                                    /* huge credit, no hello */
            Crieur__Credit c = CRIEUR__CREDIT__INIT;
            c.slots = 0xffffffffu;
            Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
            env.body_case = CRIEUR__ENVELOPE__BODY_CREDIT;
            env.credit = &c;
            s_send_env(sock, &env, 1);
            break;
        }
        case 7:                                                      /* oversized frame */
            if (r % 90 == 7) s_send_raw(sock, big, sizeof big, 0);
            break;
        case 8: {                                                    /* hello with bad fields */
            Crieur__Hello h = CRIEUR__HELLO__INIT;
            h.worker_id = "";
            h.capacity = 0;
            Crieur__Envelope env = CRIEUR__ENVELOPE__INIT;
            env.body_case = CRIEUR__ENVELOPE__BODY_HELLO;
            env.hello = &h;
            s_send_env(sock, &env, 1);
            break;
        }
        }
    }
    /* the broker must still be alive and speak the protocol */
    zmq_close(sock);
    sock = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_ROUTING_ID, "after", 5);
    zmq_connect(sock, argv[1]);
    int ok = s_hello_welcomed(sock, "after-the-storm");
    printf("%s: broker %s after %d hostile messages\n", ok ? "ok" : "FAIL",
           ok ? "answered HELLO with WELCOME" : "did not answer HELLO", rounds);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return ok ? 0 : 1;
}
