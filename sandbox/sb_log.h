/* sb_log: leveled logging to stderr; the level is checked before formatting. */
#ifndef SB_LOG_H
#define SB_LOG_H

#include <stdio.h>

enum { SB_LOG_ERROR = 0, SB_LOG_WARN = 1, SB_LOG_INFO = 2, SB_LOG_DEBUG = 3 };
extern int sb_log_level;

#define SB_LOG(level, tag, ...)                                                                    \
    do {                                                                                           \
        if ((level) <= sb_log_level) {                                                             \
            fprintf (stderr, "crieur-sandbox %s: ", (tag));                                        \
            fprintf (stderr, __VA_ARGS__);                                                         \
            fputc ('\n', stderr);                                                                  \
        }                                                                                          \
    } while (0)
#define SB_ERROR(...) SB_LOG (SB_LOG_ERROR, "error", __VA_ARGS__)
#define SB_WARN(...) SB_LOG (SB_LOG_WARN, "warning", __VA_ARGS__)
#define SB_INFO(...) SB_LOG (SB_LOG_INFO, "info", __VA_ARGS__)
#define SB_DEBUG(...) SB_LOG (SB_LOG_DEBUG, "debug", __VA_ARGS__)

#endif
