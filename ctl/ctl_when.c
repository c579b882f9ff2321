#include "ctl_when.h"

#include "cr_time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* cr_time_parse_delay bounds the number, not number * unit: with at most 9
 * digits, 999999999d still fits in int64 ms; the result is then capped. */
#define S_MAX_DELAY_DIGITS 9

static int s_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i])) return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int s_days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

static int s_delay(const char *s, ctl_when_t *out)
{
    int64_t ms;
    /* cr_time_parse_delay bounds the number before applying the unit: keep
     * the digits few enough that number * unit cannot overflow. */
    if (s[0] == '+') {
        size_t nd = strspn(s + 1, "0123456789");
        if (nd == 0 || nd > S_MAX_DELAY_DIGITS) return -1;
    }
    if (cr_time_parse_delay(s, &ms) != 0) return -1;
    if (ms < 0 || ms > 10LL * 366 * 86400 * 1000) return -1;
    out->kind = CTL_WHEN_DELAY;
    out->delay_ms = ms;
    out->text[0] = '\0';
    return 0;
}

int ctl_when_parse(const char *s, ctl_when_t *out)
{
    int y, mo, d, h, mi, se = 0, ms = 0;
    const char *p = s;
    if (!s || !out) return -1;
    memset(out, 0, sizeof *out);
    if (strcmp(s, "now") == 0 || s[0] == '+') return s_delay(s, out);

    if (s_digits(&p, 4, &y) || *p++ != '-' || s_digits(&p, 2, &mo) || *p++ != '-' ||
        s_digits(&p, 2, &d))
        return -1;
    if (*p != ' ' && *p != 'T' && *p != 't') return -1;
    p++;
    if (s_digits(&p, 2, &h) || *p++ != ':' || s_digits(&p, 2, &mi)) return -1;
    if (*p == ':') {
        p++;
        if (s_digits(&p, 2, &se)) return -1;
        if (*p == '.' || *p == ',') {
            int scale = 100, n = 0;
            p++;
            while (isdigit((unsigned char)*p)) {
                ms += (*p - '0') * scale;
                scale /= 10;
                p++;
                n++;
            }
            if (n == 0) return -1;
        }
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > s_days_in_month(y, mo) || h > 23 ||
        mi > 59 || se > 59)
        return -1;

    if (*p == '\0') {
        if (ms != 0) return -1; /* wall times are to the second */
        out->kind = CTL_WHEN_LOCAL;
        /* The ranges are checked above; the modulos tell the compiler too. */
        snprintf(out->text, sizeof out->text, "%04u-%02u-%02u %02u:%02u:%02u", (unsigned)y % 10000u,
                 (unsigned)mo % 100u, (unsigned)d % 100u, (unsigned)h % 100u, (unsigned)mi % 100u,
                 (unsigned)se % 100u);
        return 0;
    }

    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;
        p++;
        if (s_digits(&p, 2, &oh)) return -1;
        if (*p == ':') {
            p++;
            if (s_digits(&p, 2, &om)) return -1;
        } else if (isdigit((unsigned char)*p)) {
            if (s_digits(&p, 2, &om)) return -1;
        }
        if (oh > 23 || om > 59) return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0') return -1;
    int64_t days = cr_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - (int64_t)offset_min * 60;
    out->kind = CTL_WHEN_ABSOLUTE;
    if (cr_time_format_iso8601(secs * 1000 + ms, out->text, sizeof out->text) != 0) return -1;
    return 0;
}
