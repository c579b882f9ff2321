/* cr_util: small helpers with no better home. */
#ifndef CR_UTIL_H
#define CR_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Fills buf with len-1 random lowercase hex characters and a NUL. */
void cr_random_hex(char *buf, size_t len);

/* Uniform random integer in [0, n) from a non-cryptographic generator
 * seeded from the OS; for jitter only. */
uint64_t cr_random_below(uint64_t n);

/* Checks that s[0..len) is well-formed UTF-8 (no overlongs, no surrogates).
 * Returns -1 if it is, or the byte offset of the first bad sequence. */
long cr_utf8_invalid_at(const char *s, size_t len);

/* Installs handlers that only set flags: SIGTERM/SIGINT -> *stop += 1,
 * SIGHUP -> *reload = 1; ignores SIGPIPE. */
void cr_signals_install(volatile int *stop, volatile int *reload);

#endif
