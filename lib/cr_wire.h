/* cr_wire: the protobuf envelope on ZeroMQ frames (see proto/crieur.proto).
 *
 * Decoding never trusts the peer: size, protobuf structure, protocol
 * version, presence of a body and the basic invariants of each message are
 * checked, and the reason for a rejection is returned so that the caller can
 * log and count it. */
#ifndef CR_WIRE_H
#define CR_WIRE_H

#include "crieur.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define CR_PROTO_VERSION 1
#define CR_WIRE_MAX_FRAME (8u * 1024u * 1024u)

typedef enum {
    CR_WIRE_OK = 0,
    CR_WIRE_TOO_LARGE,
    CR_WIRE_MALFORMED,
    CR_WIRE_BAD_VERSION,
    CR_WIRE_NO_BODY,
    CR_WIRE_INVALID, /* decodes, but breaks an invariant (job id 0, ...) */
    CR_WIRE__COUNT,
} cr_wire_err_t;

const char *cr_wire_err_name(cr_wire_err_t e);

/* Packs env (its version is set here) into a new heap buffer. 0 or -1. */
int cr_wire_pack(Crieur__Envelope *env, uint8_t **buf, size_t *len);

/* Decodes and validates a frame. Returns the envelope (free with
 * cr_wire_free) or NULL with *err set. */
Crieur__Envelope *cr_wire_unpack(const uint8_t *data, size_t len, cr_wire_err_t *err);
void cr_wire_free(Crieur__Envelope **env_p);

/* Sends env as one frame on a DEALER-like socket; with a ROUTER, id/idlen
 * name the peer first. Non-blocking; returns 0, or -1 with errno (EAGAIN at
 * the high-water mark, EHOSTUNREACH for an unknown peer on a mandatory
 * router). */
int cr_wire_send(void *sock, const void *id, size_t idlen, Crieur__Envelope *env);

#endif
