/* cr_secret: credentials encrypted at rest.
 *
 * Every secret Crieur stores (access and refresh tokens, a webhook URL, an
 * SMTP password) is sealed with libsodium's secretbox (XSalsa20-Poly1305)
 * under one 32-byte key that only crieurctl and the brokers hold; workers
 * receive secrets in tasks, never the key, and PostgreSQL holds only
 * ciphertext. A sealed value is
 *     0x01 | nonce (24 random bytes) | secretbox(plaintext)
 * stored as bytea next to the key's id, so a wrong key is named, not
 * guessed at.
 *
 * The key comes from, in this order: the environment variable
 * CRIEUR_SECRET_KEY (64 hex characters), or the file named by
 * CRIEUR_SECRET_KEY_FILE (or a --secret-key-file option) holding 32 raw
 * bytes or 64 hex characters (a trailing newline is fine). A key file must
 * not be readable by group or others. The key is kept in locked memory and
 * never printed; its id (16 hex characters, a keyed hash) is safe to show. */
#ifndef CR_SECRET_H
#define CR_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define CR_SECRET_KEY_BYTES 32
#define CR_SECRET_ID_CHARS 16
#define CR_SECRET_OVERHEAD (1 + 24 + 16) /* version, nonce, MAC */
#define CR_SECRET_MAX_PLAIN (64u * 1024u)

typedef struct cr_secret_key cr_secret_key_t;

/* Loads the key from path (NULL: from CRIEUR_SECRET_KEY, then
 * CRIEUR_SECRET_KEY_FILE). Returns NULL with a message in err that says
 * what is wrong and how to fix it. */
cr_secret_key_t *cr_secret_key_load(const char *path, char *err, size_t errlen);
/* Writes a new random key to path (mode 0600, refusing to overwrite).
 * 0, or -1 with err. */
int cr_secret_key_generate(const char *path, char *err, size_t errlen);
void cr_secret_key_free(cr_secret_key_t **key_p);
/* "3f2a9c..." (CR_SECRET_ID_CHARS + NUL). */
const char *cr_secret_key_id(const cr_secret_key_t *key);

/* Seals plain[0..len). Returns a malloc'd buffer of len + CR_SECRET_OVERHEAD
 * bytes (its length in *out_len), or NULL (out of memory, too long). */
uint8_t *cr_secret_seal(const cr_secret_key_t *key, const void *plain, size_t len, size_t *out_len);
/* Opens a sealed value. Returns a malloc'd NUL-terminated plaintext (its
 * length in *out_len, may be NULL), or NULL if the value was not sealed
 * with this key, was altered, or is malformed. Free with cr_secret_plain_free. */
char *cr_secret_open(const cr_secret_key_t *key, const uint8_t *sealed, size_t len,
                     size_t *out_len);
/* Wipes and frees a plaintext. */
void cr_secret_plain_free(char *plain);

/* Hex helpers for moving sealed values through SQL text ("\\x..." bytea
 * input or plain hex). to_hex returns a malloc'd string; from_hex accepts
 * an optional "\\x" prefix and returns a malloc'd buffer, or NULL. */
char *cr_hex_encode(const uint8_t *data, size_t len);
uint8_t *cr_hex_decode(const char *hex, size_t *out_len);

#endif
