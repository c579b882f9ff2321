/* crieurctl: the operators' command line of Crieur.
 *
 * Vocabulary: a *command* is what the operator types ("post schedule"), made
 * of a group ("post") and a subcommand ("schedule"); commands with no
 * subcommand ("migrate", "status") have a NULL one. Each command is described
 * by one ctl_command_t (usage, options, help, run function) in its module;
 * main.c only dispatches.
 *
 * Every run function returns the process exit code (ctl_rc_t). Usage errors
 * are found before connecting, so a bad flag exits 2 even without a database. */
#ifndef CTL_H
#define CTL_H

#include <stdio.h>

typedef enum {
    CTL_OK = 0,      /* success */
    CTL_REFUSED = 1, /* the database refused the operation (its message printed) */
    CTL_USAGE = 2,   /* bad flags, unparseable time, invalid UTF-8, ... */
    CTL_NOCONN = 3,  /* cannot connect to PostgreSQL */
} ctl_rc_t;

/* Global options, valid before or after the command words. */
typedef struct {
    const char *database; /* --database or CRIEUR_DATABASE_URL; NULL = libpq defaults */
    int json;             /* --json: lists, show and status print JSON */
    int verbose;          /* --verbose: show server notices */
    const char *secret_key_file; /* --secret-key-file; NULL = $CRIEUR_SECRET_KEY(_FILE) */
} ctl_t;

#define CTL_MAX_OPTS 16
#define CTL_MAX_POS 4
#define CTL_MAX_MULTI 16 /* occurrences of repeatable options, all together */

/* One option of a command: "--name ARG" (arg = metavar) or a flag (arg NULL). */
typedef struct {
    const char *name;
    const char *arg;
    const char *help;
} ctl_opt_t;

/* Parsed arguments of one command. values[i] belongs to the command's
 * opts[i]: NULL when absent, "1" for a given flag (for a repeatable option,
 * its first value). Every value of a repeatable option is also in multi[],
 * in the order given, with its option's index in multi_opt[]. */
typedef struct {
    const char *values[CTL_MAX_OPTS];
    const char *pos[CTL_MAX_POS];
    int npos;
    const char *multi[CTL_MAX_MULTI];
    int multi_opt[CTL_MAX_MULTI];
    int nmulti;
} ctl_args_t;

typedef struct ctl_command ctl_command_t;
struct ctl_command {
    const char *group;     /* "post" */
    const char *sub;       /* "schedule", "channel add" (two words), or NULL */
    const char *synopsis;  /* arguments after the command words */
    const char *summary;   /* one line */
    const char *pos_names; /* space-separated names of positional arguments, or NULL */
    int min_pos, max_pos;
    const ctl_opt_t *opts; /* terminated by {NULL, NULL, NULL} */
    const char *details;   /* more help, or NULL */
    const char *repeatable; /* space-separated names of options that may be repeated, or NULL */
    int (*run)(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args);
};

/* The commands, in help order (each defined in its module). */
extern const ctl_command_t ctl_cmd_migrate;
extern const ctl_command_t ctl_cmd_client_add;
extern const ctl_command_t ctl_cmd_client_list;
extern const ctl_command_t ctl_cmd_account_add;
extern const ctl_command_t ctl_cmd_account_list;
extern const ctl_command_t ctl_cmd_account_token;
extern const ctl_command_t ctl_cmd_account_resume;
extern const ctl_command_t ctl_cmd_post_schedule;
extern const ctl_command_t ctl_cmd_post_list;
extern const ctl_command_t ctl_cmd_post_show;
extern const ctl_command_t ctl_cmd_post_cancel;
extern const ctl_command_t ctl_cmd_post_reschedule;
extern const ctl_command_t ctl_cmd_status;
extern const ctl_command_t ctl_cmd_alert_list;
extern const ctl_command_t ctl_cmd_alert_ack;
extern const ctl_command_t ctl_cmd_alert_test;
extern const ctl_command_t ctl_cmd_alert_channel_add;
extern const ctl_command_t ctl_cmd_alert_channel_list;
extern const ctl_command_t ctl_cmd_alert_channel_remove;
extern const ctl_command_t ctl_cmd_alert_channel_disable;
extern const ctl_command_t ctl_cmd_alert_channel_enable;
extern const ctl_command_t ctl_cmd_key_generate;
extern const ctl_command_t ctl_cmd_key_id;

/* Prints "crieurctl: <message>" on stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "crieurctl: <message>" then "see: crieurctl <cmd> --help"; returns CTL_USAGE. */
int ctl_usage_err(const ctl_command_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
