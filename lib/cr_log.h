/* cr_log: leveled logging for every Crieur daemon.
 *
 * The level is checked before any formatting happens. Lines go to stderr,
 * either as text ("2026-11-22T10:00:00.123Z broker INFO msg") or as one JSON
 * object per line ({"ts":..,"level":..,"daemon":..,"msg":..}). Messages carry
 * their context ids as key=value pairs (job=12 attempt=2 account=7 worker=w1);
 * credentials are never passed to the logger. */
#ifndef CR_LOG_H
#define CR_LOG_H

typedef enum {
    CR_LOG_DEBUG = 0,
    CR_LOG_INFO = 1,
    CR_LOG_WARN = 2,
    CR_LOG_ERROR = 3,
} cr_log_level_t;

extern cr_log_level_t cr_log_threshold;

/* daemon: short name printed on each line; json: 1 for JSON lines. */
void cr_log_init(const char *daemon, cr_log_level_t level, int json);
/* "debug", "info", "warn", "error" -> 0, -1 if unknown. */
int cr_log_level_parse(const char *s, cr_log_level_t *out);

void cr_log_write(cr_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define cr_log(lvl, ...)                                                      \
    do {                                                                      \
        if ((lvl) >= cr_log_threshold) cr_log_write((lvl), __VA_ARGS__);      \
    } while (0)
#define cr_debug(...) cr_log(CR_LOG_DEBUG, __VA_ARGS__)
#define cr_info(...) cr_log(CR_LOG_INFO, __VA_ARGS__)
#define cr_warn(...) cr_log(CR_LOG_WARN, __VA_ARGS__)
#define cr_error(...) cr_log(CR_LOG_ERROR, __VA_ARGS__)

#endif
