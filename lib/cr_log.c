#include "cr_log.h"
#include "cr_time.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

cr_log_level_t cr_log_threshold = CR_LOG_INFO;
static char s_daemon[32] = "crieur";
static int s_json;

static const char *s_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void cr_log_init(const char *daemon, cr_log_level_t level, int json)
{
    if (daemon) snprintf(s_daemon, sizeof s_daemon, "%s", daemon);
    cr_log_threshold = level;
    s_json = json;
}

int cr_log_level_parse(const char *s, cr_log_level_t *out)
{
    static const char *lower[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (s && strcasecmp(s, lower[i]) == 0) {
            *out = (cr_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

/* Writes s as the inside of a JSON string. */
static void s_json_escape(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', f);
            fputc(*p, f);
        } else if (*p == '\n') {
            fputs("\\n", f);
        } else if (*p < 0x20) {
            fprintf(f, "\\u%04x", *p);
        } else {
            fputc(*p, f);
        }
    }
}

void cr_log_write(cr_log_level_t level, const char *fmt, ...)
{
    char msg[2048];
    char ts[40];
    va_list ap;
    if (level < CR_LOG_DEBUG || level > CR_LOG_ERROR) level = CR_LOG_ERROR;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cr_time_format_iso8601(cr_now_ms(), ts, sizeof ts);
    flockfile(stderr);
    if (s_json) {
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"daemon\":\"", ts, s_names[level]);
        s_json_escape(stderr, s_daemon);
        fputs("\",\"msg\":\"", stderr);
        s_json_escape(stderr, msg);
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s %s %s %s\n", ts, s_daemon, s_names[level], msg);
    }
    funlockfile(stderr);
    fflush(stderr);
}
