/* sb_log: the process-wide log level (see sb_log.h). */
#include "sb_log.h"

int sb_log_level = SB_LOG_INFO;
