/* cr_config: table-driven configuration shared by every daemon.
 *
 * Each program describes its options in one table (name, type, default,
 * reloadable, help). An option named "heartbeat-ms" is set, from lowest to
 * highest precedence, by its default, by the line "heartbeat-ms = 1000" in the
 * configuration file (--config FILE or CRIEUR_CONFIG), by the environment
 * variable CRIEUR_HEARTBEAT_MS, and by the flag --heartbeat-ms 1000 (or
 * --heartbeat-ms=1000). --help prints the table. Values are validated
 * (integers in range, booleans as true/false/1/0/yes/no/on/off). */
#ifndef CR_CONFIG_H
#define CR_CONFIG_H

#include <stddef.h>

typedef enum {
    CR_OPT_STRING,
    CR_OPT_INT,  /* long */
    CR_OPT_BOOL, /* int 0/1 */
} cr_opt_type_t;

typedef struct {
    const char *name;
    cr_opt_type_t type;
    const char *def; /* default as text; NULL = empty string / 0 */
    int reloadable;  /* may change on SIGHUP */
    size_t offset;   /* offsetof(config struct, field) */
    long min, max;   /* for CR_OPT_INT */
    const char *help;
} cr_opt_t;

#define CR_OPT_END {NULL, CR_OPT_STRING, NULL, 0, 0, 0, 0, NULL}

typedef enum {
    CR_CONFIG_OK = 0,
    CR_CONFIG_HELP = 1,   /* --help printed: exit 0 */
    CR_CONFIG_ERROR = -1, /* err filled: print it, exit 2 */
} cr_config_rc_t;

/* Fills cfg from the table. err receives a message saying which option and
 * source were wrong and what is accepted. Strings in cfg are heap copies:
 * release them with cr_config_free. */
cr_config_rc_t cr_config_load(const cr_opt_t *table, void *cfg, int argc, char **argv,
                              const char *summary, char *err, size_t errlen);

/* Re-reads the file and environment for reloadable options only. Returns 0,
 * or -1 (cfg untouched) with err filled. */
int cr_config_reload(const cr_opt_t *table, void *cfg, const char *file, char *err,
                     size_t errlen);

/* The configuration file used by the last cr_config_load, or NULL. */
const char *cr_config_file(void);

void cr_config_free(const cr_opt_t *table, void *cfg);

/* Prints the generated help for the table. */
void cr_config_help(const cr_opt_t *table, const char *prog, const char *summary);

#endif
