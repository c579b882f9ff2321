#include "cr_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_VERSION 0x01

struct cr_secret_key {
    unsigned char key[CR_SECRET_KEY_BYTES]; /* in sodium_malloc'd (guarded, locked) memory */
    char id[CR_SECRET_ID_CHARS + 1];
};

static int s_init(char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium could not initialise (no entropy source?)");
        return -1;
    }
    return 0;
}

static cr_secret_key_t *s_key_from(const unsigned char *raw)
{
    cr_secret_key_t *k = sodium_malloc(sizeof *k);
    if (!k) return NULL;
    memcpy(k->key, raw, CR_SECRET_KEY_BYTES);
    unsigned char h[CR_SECRET_ID_CHARS / 2];
    static const char ctx[] = "crieur-key-id-v1";
    crypto_generichash(h, sizeof h, (const unsigned char *)ctx, sizeof ctx - 1, k->key,
                       CR_SECRET_KEY_BYTES);
    sodium_bin2hex(k->id, sizeof k->id, h, sizeof h);
    return k;
}

/* 32 raw bytes, or 64 hex characters with optional surrounding whitespace. */
static int s_parse_key(const unsigned char *buf, size_t n, unsigned char *out)
{
    if (n == CR_SECRET_KEY_BYTES) {
        memcpy(out, buf, n);
        return 0;
    }
    size_t a = 0, b = n;
    while (a < b && (buf[a] == ' ' || buf[a] == '\n' || buf[a] == '\r' || buf[a] == '\t')) a++;
    while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\n' || buf[b - 1] == '\r' ||
                     buf[b - 1] == '\t'))
        b--;
    if (b - a != CR_SECRET_KEY_BYTES * 2) return -1;
    size_t bin_len = 0;
    if (sodium_hex2bin(out, CR_SECRET_KEY_BYTES, (const char *)buf + a, b - a, NULL, &bin_len,
                       NULL) != 0 ||
        bin_len != CR_SECRET_KEY_BYTES)
        return -1;
    return 0;
}

cr_secret_key_t *cr_secret_key_load(const char *path, char *err, size_t errlen)
{
    if (s_init(err, errlen)) return NULL;
    unsigned char raw[CR_SECRET_KEY_BYTES];
    unsigned char buf[256];
    cr_secret_key_t *k = NULL;
    if (!path) {
        const char *env = getenv("CRIEUR_SECRET_KEY");
        if (env && *env) {
            if (s_parse_key((const unsigned char *)env, strlen(env), raw) != 0) {
                snprintf(err, errlen,
                         "CRIEUR_SECRET_KEY must be 64 hexadecimal characters (32 bytes); "
                         "make one with: crieurctl key generate --out FILE");
                return NULL;
            }
            k = s_key_from(raw);
            sodium_memzero(raw, sizeof raw);
            if (!k) snprintf(err, errlen, "out of memory");
            return k;
        }
        path = getenv("CRIEUR_SECRET_KEY_FILE");
        if (!path || !*path) {
            snprintf(err, errlen,
                     "no secret key: credentials are encrypted at rest; set secret-key-file "
                     "(CRIEUR_SECRET_KEY_FILE) to a key made with 'crieurctl key generate --out "
                     "FILE', the same for crieurctl and every broker");
            return NULL;
        }
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open secret key file %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "secret key file %s is not a regular file", path);
        return NULL;
    }
    if (st.st_mode & 077) {
        close(fd);
        snprintf(err, errlen,
                 "secret key file %s is readable by other users (mode %03o): chmod 600 %s", path,
                 (unsigned)(st.st_mode & 0777), path);
        return NULL;
    }
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0 || s_parse_key(buf, (size_t)n, raw) != 0) {
        sodium_memzero(buf, sizeof buf);
        snprintf(err, errlen,
                 "secret key file %s must hold 32 bytes, or 64 hexadecimal characters; make "
                 "one with: crieurctl key generate --out FILE",
                 path);
        return NULL;
    }
    sodium_memzero(buf, sizeof buf);
    k = s_key_from(raw);
    sodium_memzero(raw, sizeof raw);
    if (!k) snprintf(err, errlen, "out of memory");
    return k;
}

int cr_secret_key_generate(const char *path, char *err, size_t errlen)
{
    if (s_init(err, errlen)) return -1;
    unsigned char raw[CR_SECRET_KEY_BYTES];
    char hex[CR_SECRET_KEY_BYTES * 2 + 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    size_t hl = strlen(hex);
    hex[hl++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        sodium_memzero(hex, sizeof hex);
        snprintf(err, errlen, "cannot create key file %s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (refusing to overwrite a key: the data sealed with it "
                                   "would be lost)"
                                 : "");
        return -1;
    }
    ssize_t w = write(fd, hex, hl);
    sodium_memzero(hex, sizeof hex);
    if (w != (ssize_t)hl || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write key file %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    return 0;
}

void cr_secret_key_free(cr_secret_key_t **key_p)
{
    if (!key_p || !*key_p) return;
    sodium_free(*key_p); /* zeroes it */
    *key_p = NULL;
}

const char *cr_secret_key_id(const cr_secret_key_t *key)
{
    return key ? key->id : "";
}

uint8_t *cr_secret_seal(const cr_secret_key_t *key, const void *plain, size_t len, size_t *out_len)
{
    if (!key || (!plain && len) || len > CR_SECRET_MAX_PLAIN) return NULL;
    size_t n = len + CR_SECRET_OVERHEAD;
    uint8_t *out = malloc(n);
    if (!out) return NULL;
    out[0] = S_VERSION;
    uint8_t *nonce = out + 1;
    randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(out + 1 + crypto_secretbox_NONCEBYTES, plain ? plain : (const void *)"",
                          len, nonce, key->key);
    *out_len = n;
    return out;
}

char *cr_secret_open(const cr_secret_key_t *key, const uint8_t *sealed, size_t len,
                     size_t *out_len)
{
    if (!key || !sealed || len < CR_SECRET_OVERHEAD || sealed[0] != S_VERSION ||
        len - CR_SECRET_OVERHEAD > CR_SECRET_MAX_PLAIN)
        return NULL;
    size_t n = len - CR_SECRET_OVERHEAD;
    char *plain = malloc(n + 1);
    if (!plain) return NULL;
    const uint8_t *nonce = sealed + 1;
    if (crypto_secretbox_open_easy((unsigned char *)plain, nonce + crypto_secretbox_NONCEBYTES,
                                   len - 1 - crypto_secretbox_NONCEBYTES, nonce, key->key) != 0) {
        sodium_memzero(plain, n + 1);
        free(plain);
        return NULL;
    }
    plain[n] = '\0';
    if (out_len) *out_len = n;
    return plain;
}

void cr_secret_plain_free(char *plain)
{
    if (!plain) return;
    sodium_memzero(plain, strlen(plain));
    free(plain);
}

char *cr_hex_encode(const uint8_t *data, size_t len)
{
    char *s = malloc(len * 2 + 1);
    if (!s) return NULL;
    sodium_bin2hex(s, len * 2 + 1, data, len);
    return s;
}

uint8_t *cr_hex_decode(const char *hex, size_t *out_len)
{
    if (!hex) return NULL;
    if (hex[0] == '\\' && hex[1] == 'x') hex += 2;
    size_t hl = strlen(hex);
    if (hl % 2) return NULL;
    uint8_t *b = malloc(hl / 2 + 1);
    if (!b) return NULL;
    size_t n = 0;
    if (sodium_hex2bin(b, hl / 2 + 1, hex, hl, NULL, &n, NULL) != 0 || n != hl / 2) {
        free(b);
        return NULL;
    }
    *out_len = n;
    return b;
}
