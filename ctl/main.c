/* crieurctl: dispatch of the command words to the command modules. */
#include "ctl.h"
#include "ctl_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const ctl_command_t *const s_commands[] = {
    &ctl_cmd_migrate,
    &ctl_cmd_key_generate,
    &ctl_cmd_key_id,
    &ctl_cmd_client_add,
    &ctl_cmd_client_list,
    &ctl_cmd_account_add,
    &ctl_cmd_account_list,
    &ctl_cmd_account_token,
    &ctl_cmd_account_resume,
    &ctl_cmd_post_schedule,
    &ctl_cmd_post_list,
    &ctl_cmd_post_show,
    &ctl_cmd_post_cancel,
    &ctl_cmd_post_reschedule,
    &ctl_cmd_status,
    &ctl_cmd_alert_list,
    &ctl_cmd_alert_ack,
    &ctl_cmd_alert_test,
    &ctl_cmd_alert_channel_add,
    &ctl_cmd_alert_channel_list,
    &ctl_cmd_alert_channel_remove,
    &ctl_cmd_alert_channel_disable,
    &ctl_cmd_alert_channel_enable,
};
#define S_NCOMMANDS (sizeof s_commands / sizeof s_commands[0])

/* Does sub ("channel add") start with the word w ("channel")? */
static int s_sub_in(const char *sub, const char *w)
{
    size_t n = strlen(w);
    return sub && strncmp(sub, w, n) == 0 && sub[n] == ' ';
}

/* The commands of group (all if NULL), and of its subgroup (two-word
 * subcommands starting with subgroup) if not NULL, one per line with the
 * first line of their summary. */
static void s_list_commands(FILE *out, const char *group, const char *subgroup)
{
    char name[64];
    for (size_t k = 0; k < S_NCOMMANDS; k++) {
        const ctl_command_t *c = s_commands[k];
        if (group && strcmp(c->group, group) != 0) continue;
        if (subgroup && !s_sub_in(c->sub, subgroup)) continue;
        ctl_args_command_name(c, name, sizeof name);
        size_t n = strcspn(c->summary, "\n");
        fprintf(out, "  %-26s %.*s\n", name, (int)n, c->summary);
    }
}

static void s_help(FILE *out)
{
    fputs("usage: crieurctl [--database CONNINFO] [--json] [--secret-key-file FILE] COMMAND [ARGS...]\n\n"
          "The operators' command line of Crieur: schema migrations, the secret key,\n"
          "clients, accounts and their credentials, posts, alerts and their channels,\n"
          "and the state of the queue.\n\ncommands:\n",
          out);
    s_list_commands(out, NULL, NULL);
    fputs("\n", out);
    ctl_args_global_help(out);
    fputs("\nThe database is --database, else $CRIEUR_DATABASE_URL, else libpq's defaults\n"
          "(PGHOST, PGDATABASE, ...).\n"
          "Credentials are sealed with the secret key: --secret-key-file, else\n"
          "$CRIEUR_SECRET_KEY (64 hex characters), else $CRIEUR_SECRET_KEY_FILE; the same\n"
          "key as the brokers'. Only the commands that store a secret need it.\n"
          "Exit codes: 0 success, 1 the database refused the operation, 2 usage error\n"
          "(or no usable secret key), 3 cannot connect to PostgreSQL.\n"
          "Help on a command: crieurctl COMMAND --help (e.g. crieurctl post schedule --help).\n",
          out);
}

static int s_has_group(const char *group, int *has_subs)
{
    int found = 0;
    *has_subs = 0;
    for (size_t k = 0; k < S_NCOMMANDS; k++) {
        if (strcmp(s_commands[k]->group, group) != 0) continue;
        found = 1;
        if (s_commands[k]->sub) *has_subs = 1;
    }
    return found;
}

/* Is word the first of some two-word subcommand of group ("channel")? */
static int s_is_subgroup(const char *group, const char *word)
{
    for (size_t k = 0; k < S_NCOMMANDS; k++)
        if (strcmp(s_commands[k]->group, group) == 0 && s_sub_in(s_commands[k]->sub, word))
            return 1;
    return 0;
}

static const ctl_command_t *s_find(const char *group, const char *sub)
{
    for (size_t k = 0; k < S_NCOMMANDS; k++) {
        const ctl_command_t *c = s_commands[k];
        if (strcmp(c->group, group) != 0) continue;
        if ((!c->sub && !sub) || (c->sub && sub && strcmp(c->sub, sub) == 0)) return c;
    }
    return NULL;
}

/* Skips global options starting at *i; returns CTL_OK or CTL_USAGE. */
static int s_globals(ctl_t *ctl, int argc, char **argv, int *i, int *help)
{
    while (*i < argc) {
        int g = ctl_args_global(ctl, argc, argv, i, help);
        if (g == CTL_USAGE) return CTL_USAGE;
        if (g == 0) break;
    }
    return CTL_OK;
}

static int s_main(int argc, char **argv)
{
    ctl_t ctl = {0};
    int i = 1, help = 0, has_subs = 0;
    const char *env = getenv("CRIEUR_DATABASE_URL");
    if (env && env[0]) ctl.database = env;

    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("crieurctl %s\n", CRIEUR_VERSION);
        return CTL_OK;
    }
    if (s_globals(&ctl, argc, argv, &i, &help) != CTL_OK) return CTL_USAGE;
    if (i < argc && strcmp(argv[i], "help") == 0) { /* crieurctl help [COMMAND...] */
        help = 1;
        i++;
    }
    if (i >= argc) {
        if (help) {
            s_help(stdout);
            return CTL_OK;
        }
        fputs("crieurctl: missing command\n", stderr);
        s_help(stderr);
        return CTL_USAGE;
    }
    const char *group = argv[i++];
    if (!s_has_group(group, &has_subs)) {
        fprintf(stderr, "crieurctl: unknown command '%s'; the commands are:\n", group);
        s_list_commands(stderr, NULL, NULL);
        fputs("(see: crieurctl --help)\n", stderr);
        return CTL_USAGE;
    }
    const char *sub = NULL;
    if (has_subs) {
        if (s_globals(&ctl, argc, argv, &i, &help) != CTL_OK) return CTL_USAGE;
        if (i >= argc || argv[i][0] == '-') {
            if (help) {
                printf("usage: crieurctl %s SUBCOMMAND [ARGS...]\n\nsubcommands:\n", group);
                s_list_commands(stdout, group, NULL);
                printf("\nHelp on one: crieurctl %s SUBCOMMAND --help\n", group);
                return CTL_OK;
            }
            fprintf(stderr, "crieurctl: '%s' needs a subcommand:\n", group);
            s_list_commands(stderr, group, NULL);
            return CTL_USAGE;
        }
        sub = argv[i++];
    }
    char sub2[128];
    if (sub && !s_find(group, sub) && s_is_subgroup(group, sub)) { /* "alert channel add" */
        if (s_globals(&ctl, argc, argv, &i, &help) != CTL_OK) return CTL_USAGE;
        if (i >= argc || argv[i][0] == '-') {
            if (help) {
                printf("usage: crieurctl %s %s SUBCOMMAND [ARGS...]\n\nsubcommands:\n", group, sub);
                s_list_commands(stdout, group, sub);
                return CTL_OK;
            }
            fprintf(stderr, "crieurctl: '%s %s' needs a subcommand:\n", group, sub);
            s_list_commands(stderr, group, sub);
            return CTL_USAGE;
        }
        snprintf(sub2, sizeof sub2, "%s %s", sub, argv[i]);
        if (!s_find(group, sub2)) {
            fprintf(stderr, "crieurctl: unknown command '%s %s %s'; the %s %s commands are:\n",
                    group, sub, argv[i], group, sub);
            s_list_commands(stderr, group, sub);
            return CTL_USAGE;
        }
        i++;
        sub = sub2;
    }
    const ctl_command_t *cmd = s_find(group, sub);
    if (!cmd) {
        fprintf(stderr, "crieurctl: unknown command '%s %s'; the %s commands are:\n", group, sub,
                group);
        s_list_commands(stderr, group, NULL);
        return CTL_USAGE;
    }
    if (help) {
        ctl_args_help(cmd, stdout);
        return CTL_OK;
    }
    ctl_args_t args;
    int rc = ctl_args_parse(&ctl, cmd, argc - i, argv + i, &args);
    if (rc == CTL_ARGS_HELP) return CTL_OK;
    if (rc != CTL_OK) return rc;
    return cmd->run(&ctl, cmd, &args);
}

int main(int argc, char **argv)
{
    int rc = s_main(argc, argv);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "crieurctl: cannot write the output: %s\n", strerror(errno));
        if (rc == CTL_OK) rc = CTL_REFUSED;
    }
    return rc;
}
