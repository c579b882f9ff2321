/* ctl_secret: the secrets crieurctl stores, sealed (lib/cr_secret.h).
 *
 * A secret (an access or refresh token, a webhook URL, an SMTP password)
 * comes from a file or standard input, an environment variable, or (for the
 * access token only, discouraged) the command line. crieurctl seals it with
 * the agency's secret key before it reaches PostgreSQL, and wipes its
 * plaintext copy; it is never printed. The key is --secret-key-file, else
 * $CRIEUR_SECRET_KEY, else $CRIEUR_SECRET_KEY_FILE, and is loaded only by
 * the commands that store a secret. Also the key commands: key generate,
 * key id. */
#ifndef CTL_SECRET_H
#define CTL_SECRET_H

#include "ctl.h"

#include "cr_secret.h"

#include <stddef.h>

/* Longest secret read (a token, a URL, a password). */
#define CTL_SECRET_MAX (16 * 1024)

/* Loads the key. Returns CTL_OK with *key_p (free with cr_secret_key_free),
 * or CTL_USAGE with cr_secret's message (which says how to fix it). */
int ctl_secret_key(const ctl_t *ctl, cr_secret_key_t **key_p);

/* Seals plain[0..len) and returns it as bytea input text, "\x<hex>" (pass
 * it as a text parameter cast with ::bytea). Heap string, or NULL (out of
 * memory, longer than CR_SECRET_MAX_PLAIN). */
char *ctl_secret_seal_bytea(const cr_secret_key_t *key, const char *plain, size_t len);

/* Where a secret may come from: the names of the command's options. */
typedef struct {
    const char *what;     /* "the access token", for messages */
    const char *file_opt; /* "token-file": FILE or - (standard input) */
    const char *env_opt;  /* "token-env": the name of an environment variable */
    const char *arg_opt;  /* "token": the value itself (warned about), or NULL */
} ctl_secret_src_t;

/* Reads the secret from the one source given. Surrounding white space (a
 * file's final newline) is dropped; an empty secret, a NUL byte, invalid
 * UTF-8 or a control character is refused. Returns CTL_OK with a heap copy
 * in *out_p (NULL when no source is given and required is 0; free it with
 * ctl_secret_free), or CTL_USAGE with the reason printed (never the secret). */
int ctl_secret_read(const ctl_command_t *cmd, const ctl_args_t *args,
                    const ctl_secret_src_t *src, int required, char **out_p);

/* Wipes and frees *s_p; NULLs it. Safe on NULL. */
void ctl_secret_free(char **s_p);

#endif
