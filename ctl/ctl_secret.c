#include "ctl_secret.h"

#include "ctl_args.h"
#include "ctl_util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ctl_secret_key(const ctl_t *ctl, cr_secret_key_t **key_p)
{
    char err[512];
    *key_p = cr_secret_key_load(ctl->secret_key_file, err, sizeof err);
    if (!*key_p) {
        ctl_err("%s", err);
        return CTL_USAGE;
    }
    return CTL_OK;
}

char *ctl_secret_seal_bytea(const cr_secret_key_t *key, const char *plain, size_t len)
{
    size_t n = 0;
    uint8_t *sealed = cr_secret_seal(key, plain, len, &n);
    if (!sealed) return NULL;
    char *hex = cr_hex_encode(sealed, n);
    free(sealed); /* ciphertext: nothing to wipe */
    if (!hex) return NULL;
    size_t hl = strlen(hex);
    char *out = malloc(hl + 3);
    if (out) {
        out[0] = '\\';
        out[1] = 'x';
        memcpy(out + 2, hex, hl + 1);
    }
    free(hex);
    return out;
}

void ctl_secret_free(char **s_p)
{
    if (!s_p || !*s_p) return;
    explicit_bzero(*s_p, strlen(*s_p));
    free(*s_p);
    *s_p = NULL;
}

int ctl_secret_read(const ctl_command_t *cmd, const ctl_args_t *args,
                    const ctl_secret_src_t *src, int required, char **out_p)
{
    const char *file = ctl_args_get(cmd, args, src->file_opt);
    const char *env = ctl_args_get(cmd, args, src->env_opt);
    const char *arg = src->arg_opt ? ctl_args_get(cmd, args, src->arg_opt) : NULL;
    char err[512];
    char *s = NULL;
    size_t len = 0;
    int given = (file != NULL) + (env != NULL) + (arg != NULL);
    *out_p = NULL;
    if (given == 0 && !required) return CTL_OK;
    if (given != 1) {
        if (src->arg_opt)
            return ctl_usage_err(cmd, "give %s with exactly one of --%s FILE, --%s VAR or --%s VALUE",
                                 src->what, src->file_opt, src->env_opt, src->arg_opt);
        return ctl_usage_err(cmd, "give %s with exactly one of --%s FILE or --%s VAR", src->what,
                             src->file_opt, src->env_opt);
    }
    if (file) {
        if (ctl_read_all(file, CTL_SECRET_MAX, &s, &len, err, sizeof err) != 0) {
            ctl_err("%s (--%s: %s)", err, src->file_opt, src->what);
            return CTL_USAGE;
        }
    } else {
        const char *v = arg;
        if (env) {
            v = getenv(env);
            if (!v) {
                ctl_err("environment variable %s is not set (--%s names the variable holding %s)",
                        env, src->env_opt, src->what);
                return CTL_USAGE;
            }
        } else {
            fprintf(stderr, "crieurctl: warning: --%s is visible to other users of this machine "
                            "in the process list; prefer --%s or --%s\n",
                    src->arg_opt, src->file_opt, src->env_opt);
        }
        len = strlen(v);
        if (len > CTL_SECRET_MAX) {
            ctl_err("%s is longer than %d bytes", src->what, CTL_SECRET_MAX);
            return CTL_USAGE;
        }
        s = malloc(len + 1);
        if (!s) {
            ctl_err("out of memory");
            return CTL_USAGE;
        }
        memcpy(s, v, len + 1);
    }
    /* Surrounding white space (a file's final newline) is not part of a secret. */
    size_t end = len;
    while (end > 0 && strchr(" \t\r\n", s[end - 1]) && s[end - 1] != '\0') end--;
    size_t lead = 0;
    while (lead < end && strchr(" \t\r\n", s[lead]) && s[lead] != '\0') lead++;
    int bad = 0;
    if (end == lead) {
        ctl_err("%s is empty", src->what);
        bad = 1;
    } else if (ctl_check_text(src->what, s + lead, end - lead, err, sizeof err) != 0) {
        ctl_err("%s", err);
        bad = 1;
    } else {
        for (size_t k = lead; k < end; k++) {
            if ((unsigned char)s[k] < 0x20 || s[k] == 0x7F) {
                ctl_err("%s contains a control character at offset %zu", src->what, k - lead);
                bad = 1;
                break;
            }
        }
    }
    if (bad) {
        explicit_bzero(s, len);
        free(s);
        return CTL_USAGE;
    }
    memmove(s, s + lead, end - lead);
    explicit_bzero(s + (end - lead), len - (end - lead));
    s[end - lead] = '\0';
    *out_p = s;
    return CTL_OK;
}

/* --- key generate, key id ------------------------------------------------- */

static void s_print_id(const ctl_t *ctl, const char *id, const char *file)
{
    if (ctl->json) {
        if (file) printf("{\"key_id\": \"%s\", \"file\": ", id);
        else printf("{\"key_id\": \"%s\"", id);
        if (file) {
            json_t *f = json_string(file);
            char *s = f ? json_dumps(f, JSON_ENCODE_ANY) : NULL;
            printf("%s", s ? s : "null");
            free(s);
            json_decref(f);
        }
        printf("}\n");
    } else {
        printf("%s\n", id);
    }
}

static int s_generate(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    const char *out = ctl_args_get(cmd, args, "out");
    char err[512];
    if (!out) return ctl_usage_err(cmd, "missing --out FILE (where to write the new key)");
    if (strcmp(out, "-") == 0)
        return ctl_usage_err(cmd, "--out needs a file: a key is never printed");
    if (cr_secret_key_generate(out, err, sizeof err) != 0) {
        ctl_err("%s", err);
        return CTL_REFUSED;
    }
    cr_secret_key_t *key = cr_secret_key_load(out, err, sizeof err);
    if (!key) {
        ctl_err("the new key file cannot be read back: %s", err);
        return CTL_REFUSED;
    }
    s_print_id(ctl, cr_secret_key_id(key), out);
    cr_secret_key_free(&key);
    if (!ctl->json)
        fprintf(stderr,
                "crieurctl: new secret key in %s (mode 0600); its id is printed above.\n"
                "Give the same key to crieurctl and every broker (--secret-key-file or "
                "CRIEUR_SECRET_KEY_FILE)\nand keep a copy somewhere safe: without it the "
                "stored credentials cannot be read.\n",
                out);
    return CTL_OK;
}

static int s_id(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    (void)cmd;
    (void)args;
    cr_secret_key_t *key = NULL;
    int rc = ctl_secret_key(ctl, &key);
    if (rc != CTL_OK) return rc;
    s_print_id(ctl, cr_secret_key_id(key), NULL);
    cr_secret_key_free(&key);
    return CTL_OK;
}

static const ctl_opt_t s_generate_opts[] = {
    {"out", "FILE", "the key file to create (mode 0600; never overwritten)"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_no_opts[] = {{NULL, NULL, NULL}};

const ctl_command_t ctl_cmd_key_generate = {
    .group = "key",
    .sub = "generate",
    .synopsis = "--out FILE",
    .summary = "Creates a new secret key file and prints its id (never the key).",
    .opts = s_generate_opts,
    .details = "The key seals every credential crieurctl and the brokers store (access and\n"
               "refresh tokens, webhook URLs, SMTP passwords). crieurctl and every broker\n"
               "must use the same key; the database stores only its id next to each sealed\n"
               "value. Losing the key means reconnecting every account.\n",
    .run = s_generate,
};

const ctl_command_t ctl_cmd_key_id = {
    .group = "key",
    .sub = "id",
    .synopsis = "",
    .summary = "Prints the id of the secret key crieurctl would use.",
    .opts = s_no_opts,
    .details = "Compare it with crieur.account.credentials_key, or with a broker's key.\n",
    .run = s_id,
};
