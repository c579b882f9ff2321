/* cr_time: clocks and timestamp text.
 * All wall-clock times inside Crieur are unix milliseconds (int64_t, UTC). */
#ifndef CR_TIME_H
#define CR_TIME_H

#include <stddef.h>
#include <stdint.h>

int64_t cr_now_ms(void);  /* wall clock, unix ms */
int64_t cr_mono_ms(void); /* monotonic clock, ms: for timeouts and intervals */

/* Parses ISO-8601 / RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)"
 * (a space is accepted for T; fraction of any length, e.g. microseconds).
 * Returns 0 and sets *out_ms, or -1 on anything malformed or out of range. */
int cr_time_parse_iso8601(const char *s, int64_t *out_ms);

/* Formats ms as "YYYY-MM-DDTHH:MM:SS.mmmZ". Returns 0, or -1 if buf is too small. */
int cr_time_format_iso8601(int64_t ms, char *buf, size_t len);

/* Parses a relative delay "+90s", "+5m", "+2h", "+1d", "+250ms", or "now"
 * (= 0). Returns 0 and sets *out_ms, -1 if it is not one. */
int cr_time_parse_delay(const char *s, int64_t *out_ms);

/* Days since 1970-01-01 of a proleptic Gregorian date (no time zone). */
int64_t cr_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
