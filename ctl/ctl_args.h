/* ctl_args: command-line parsing for crieurctl.
 *
 * Options are "--name VALUE", "--name=VALUE" or "--name" (a flag); "--" ends
 * options; "-" is an ordinary value (stdin). The global options (--database,
 * --json, --verbose, --secret-key-file) are accepted before or after the
 * command words. An option given twice is an error unless the command lists
 * it as repeatable (post schedule --media). Every
 * argument must be valid UTF-8. Help is generated from the command table. */
#ifndef CTL_ARGS_H
#define CTL_ARGS_H

#include "ctl.h"

#include <stdio.h>

#define CTL_ARGS_HELP (-1)

/* Tries argv[*i] as a global option (or -h/--help, which sets *help).
 * Returns 1 and advances *i past it (and its value) if it was one, 0 if it is
 * not a global option, CTL_USAGE if it is malformed (message printed). */
int ctl_args_global(ctl_t *ctl, int argc, char **argv, int *i, int *help);

/* Parses argv[0..argc) (the words after the command words) for cmd. Returns
 * CTL_OK, CTL_USAGE (message printed) or CTL_ARGS_HELP (help printed on
 * stdout; exit 0). */
int ctl_args_parse(ctl_t *ctl, const ctl_command_t *cmd, int argc, char **argv,
                   ctl_args_t *out);

/* The value of option name ("text" for --text), or NULL if absent. Asking
 * for an option the command does not declare is a programmer error. */
const char *ctl_args_get(const ctl_command_t *cmd, const ctl_args_t *args, const char *name);

/* Every value of option name, in the order given (a repeatable option may
 * have several; see ctl_command_t.repeatable): the first max in out[].
 * Returns how many were given. */
int ctl_args_get_all(const ctl_command_t *cmd, const ctl_args_t *args, const char *name,
                     const char **out, int max);

/* "post schedule" or "migrate". */
void ctl_args_command_name(const ctl_command_t *cmd, char *buf, size_t len);

/* Prints the usage of one command. */
void ctl_args_help(const ctl_command_t *cmd, FILE *out);

/* Prints the global options. */
void ctl_args_global_help(FILE *out);

#endif
