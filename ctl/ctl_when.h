/* ctl_when: the --at WHEN of post schedule and post reschedule.
 *
 *   now, +90s, +10m, +2h, +1d     a delay from the database's clock (DELAY)
 *   2026-12-01 09:30[:SS]         a wall-clock time in the CLIENT's time zone (LOCAL);
 *                                 'T' may replace the space
 *   2026-12-01T08:30:00Z          an absolute instant: ISO-8601 with Z or an
 *   2026-12-01T09:30+01:00        offset (seconds and fraction optional) (ABSOLUTE)
 *
 * Parsing only checks the form and the ranges (month 1-12, day of that
 * month, hour 0-23, ...); the database decides whether the time is in the
 * past or skipped by a clock change in the client's zone. */
#ifndef CTL_WHEN_H
#define CTL_WHEN_H

#include <stdint.h>

typedef enum {
    CTL_WHEN_DELAY,
    CTL_WHEN_LOCAL,
    CTL_WHEN_ABSOLUTE,
} ctl_when_kind_t;

typedef struct {
    ctl_when_kind_t kind;
    int64_t delay_ms; /* DELAY: from now(), >= 0 */
    char text[40];    /* LOCAL: "YYYY-MM-DD HH:MM:SS"; ABSOLUTE: "YYYY-MM-DDTHH:MM:SS.mmmZ" */
} ctl_when_t;

/* The accepted forms, for error messages and help (ends with a newline). */
#define CTL_WHEN_FORMS                                                         \
    "  now                     at once (the default)\n"                        \
    "  +90s, +10m, +2h, +1d    after a delay\n"                                \
    "  2026-12-01 09:30[:00]   wall-clock time in the client's time zone\n"    \
    "  2026-12-01T08:30:00Z    an absolute time, ISO-8601 with Z or an offset\n" \
    "  2026-12-01T09:30+01:00  (seconds optional)\n"

/* Returns 0 and fills out, or -1 if s is none of the forms. */
int ctl_when_parse(const char *s, ctl_when_t *out);

#endif
