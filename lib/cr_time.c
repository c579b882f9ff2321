#include "cr_time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t cr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cr_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Howard Hinnant's days_from_civil algorithm (public domain description). */
int64_t cr_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

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

int cr_time_parse_iso8601(const char *s, int64_t *out_ms)
{
    int y, mo, d, h, mi, se, ms = 0;
    const char *p = s;
    if (!s) return -1;
    if (s_digits(&p, 4, &y) || *p++ != '-' || s_digits(&p, 2, &mo) || *p++ != '-' ||
        s_digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ') return -1;
    p++;
    if (s_digits(&p, 2, &h) || *p++ != ':' || s_digits(&p, 2, &mi) || *p++ != ':' ||
        s_digits(&p, 2, &se))
        return -1;
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
    if (mo < 1 || mo > 12 || d < 1 || d > s_days_in_month(y, mo) || h > 23 || mi > 59 ||
        se > 60)
        return -1;
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (s_digits(&p, 2, &oh)) return -1;
        if (*p == ':') p++;
        if (s_digits(&p, 2, &om) || oh > 23 || om > 59) return -1;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (*p != '\0') return -1;
    int64_t days = cr_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - (int64_t)offset_min * 60;
    *out_ms = secs * 1000 + ms;
    return 0;
}

int cr_time_format_iso8601(int64_t ms, char *buf, size_t len)
{
    struct tm tm;
    /* Floor division without computing ms - 999, which overflows near INT64_MIN. */
    int64_t q = ms / 1000;
    int rem = (int)(ms % 1000);
    if (rem < 0) {
        q--;
        rem += 1000;
    }
    time_t secs = (time_t)q;
    if (!gmtime_r(&secs, &tm)) return -1;
    int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rem);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int cr_time_parse_delay(const char *s, int64_t *out_ms)
{
    if (!s) return -1;
    if (strcmp(s, "now") == 0) {
        *out_ms = 0;
        return 0;
    }
    if (*s != '+') return -1;
    s++;
    if (!isdigit((unsigned char)*s)) return -1;
    /* At most ten years (of 365 days), whatever the unit: the limit applies
     * to the product, so that v * unit can neither overflow nor exceed it. */
    const int64_t max_ms = 10LL * 365 * 86400 * 1000;
    int64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        v = v * 10 + (*s - '0');
        if (v > max_ms) return -1;
        s++;
    }
    int64_t unit;
    if (strcmp(s, "ms") == 0) unit = 1;
    else if (strcmp(s, "s") == 0) unit = 1000;
    else if (strcmp(s, "m") == 0) unit = 60000;
    else if (strcmp(s, "h") == 0) unit = 3600000;
    else if (strcmp(s, "d") == 0) unit = 86400000;
    else return -1;
    if (v > max_ms / unit) return -1;
    *out_ms = v * unit;
    return 0;
}
