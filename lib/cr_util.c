#include "cr_util.h"

#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void cr_random_hex(char *buf, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    size_t n = len ? len - 1 : 0;
    /* In chunks of sizeof raw bytes (2 hex characters each), so that any
     * length is filled, not only the first 128 characters. */
    for (size_t done = 0; done < n;) {
        size_t chars = n - done < sizeof raw * 2 ? n - done : sizeof raw * 2;
        size_t bytes = (chars + 1) / 2;
        if (getrandom(raw, bytes, 0) != (ssize_t)bytes) {
            for (size_t i = 0; i < bytes; i++) raw[i] = (unsigned char)cr_random_below(256);
        }
        for (size_t i = 0; i < chars; i++) buf[done + i] = hex[(raw[i / 2] >> ((i & 1) * 4)) & 15];
        done += chars;
    }
    if (len) buf[n] = '\0';
}

uint64_t cr_random_below(uint64_t n)
{
    static uint64_t state;
    if (state == 0) {
        if (getrandom(&state, sizeof state, 0) < 0 || state == 0)
            state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    }
    if (n == 0) return 0;
    /* Rejects the lowest 2^64 mod n outputs so that r % n is uniform (a
     * plain modulo favours small values when n is large). */
    const uint64_t threshold = -n % n;
    uint64_t r;
    do {
        /* xorshift64* */
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        r = state * 0x2545F4914F6CDD1DULL;
    } while (r < threshold);
    return r % n;
}

long cr_utf8_invalid_at(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return (long)i;
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80) return (long)i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return (long)i;
        i += need + 1;
    }
    return -1;
}

static volatile int *s_stop;
static volatile int *s_reload;

static void s_on_signal(int sig)
{
    if (sig == SIGHUP) {
        if (s_reload) *s_reload = 1;
    } else if (s_stop) {
        *s_stop += 1;
    }
}

void cr_signals_install(volatile int *stop, volatile int *reload)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    s_stop = stop;
    s_reload = reload;
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
