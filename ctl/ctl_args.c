#include "ctl_args.h"

#include "cr_util.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <string.h>

static const ctl_opt_t s_global_opts[] = {
    {"database", "CONNINFO", "libpq conninfo or postgres:// URL (default $CRIEUR_DATABASE_URL); --database-url is the same"},
    {"json", NULL, "print lists, post show and status as JSON"},
    {"verbose", NULL, "also print the server's notices"},
    {"secret-key-file", "FILE", "the key sealing credentials (default $CRIEUR_SECRET_KEY, then $CRIEUR_SECRET_KEY_FILE)"},
    {"help", NULL, "print this help (also -h)"},
    {NULL, NULL, NULL},
};

void ctl_err(const char *fmt, ...)
{
    va_list ap;
    fputs("crieurctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void ctl_args_command_name(const ctl_command_t *cmd, char *buf, size_t len)
{
    if (cmd->sub) snprintf(buf, len, "%s %s", cmd->group, cmd->sub);
    else snprintf(buf, len, "%s", cmd->group);
}

int ctl_usage_err(const ctl_command_t *cmd, const char *fmt, ...)
{
    va_list ap;
    char name[64];
    fputs("crieurctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (cmd) {
        ctl_args_command_name(cmd, name, sizeof name);
        fprintf(stderr, "usage: crieurctl %s %s\n(see: crieurctl %s --help)\n", name,
                cmd->synopsis ? cmd->synopsis : "", name);
    }
    return CTL_USAGE;
}

/* Checks one argument; what names it in the message. */
static int s_check_utf8(const char *what, const char *s)
{
    long bad = cr_utf8_invalid_at(s, strlen(s));
    if (bad >= 0) {
        ctl_err("%s is not valid UTF-8 (bad byte at offset %ld)", what, bad);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* Splits "--name=value" or "--name": writes the name into buf and returns the
 * inline value or NULL. */
static const char *s_split(const char *arg, char *buf, size_t len)
{
    const char *eq = strchr(arg + 2, '=');
    size_t n = eq ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);
    if (n >= len) n = len - 1;
    memcpy(buf, arg + 2, n);
    buf[n] = '\0';
    return eq ? eq + 1 : NULL;
}

int ctl_args_global(ctl_t *ctl, int argc, char **argv, int *i, int *help)
{
    const char *arg = argv[*i];
    char name[64];
    if (strcmp(arg, "-h") == 0) {
        *help = 1;
        (*i)++;
        return 1;
    }
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') return 0;
    const char *inl = s_split(arg, name, sizeof name);
    if (strcmp(name, "help") == 0 || strcmp(name, "json") == 0 || strcmp(name, "verbose") == 0) {
        if (inl) {
            ctl_err("--%s takes no value", name);
            return CTL_USAGE;
        }
        if (name[0] == 'h') *help = 1;
        else if (name[0] == 'j') ctl->json = 1;
        else ctl->verbose = 1;
        (*i)++;
        return 1;
    }
    int is_db = strcmp(name, "database") == 0 || strcmp(name, "database-url") == 0;
    if (is_db || strcmp(name, "secret-key-file") == 0) {
        const char *v = inl;
        if (!v) {
            if (*i + 1 >= argc) {
                if (is_db) ctl_err("--database needs a value (a libpq conninfo or postgres:// URL)");
                else ctl_err("--secret-key-file needs a value (a key file made with: crieurctl key "
                             "generate --out FILE)");
                return CTL_USAGE;
            }
            v = argv[*i + 1];
            (*i)++;
        }
        if (s_check_utf8(is_db ? "--database" : "--secret-key-file", v) != CTL_OK) return CTL_USAGE;
        if (is_db) ctl->database = v;
        else ctl->secret_key_file = v;
        (*i)++;
        return 1;
    }
    return 0;
}

/* Is option name in cmd's space-separated list of repeatable options? */
static int s_repeatable(const ctl_command_t *cmd, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = cmd->repeatable; p && *p;) {
        size_t w = strcspn(p, " ");
        if (w == n && strncmp(p, name, n) == 0) return 1;
        p += w;
        while (*p == ' ') p++;
    }
    return 0;
}

static int s_find(const ctl_command_t *cmd, const char *name)
{
    for (int k = 0; cmd->opts && cmd->opts[k].name && k < CTL_MAX_OPTS; k++)
        if (strcmp(cmd->opts[k].name, name) == 0) return k;
    return -1;
}

/* The n-th word of pos_names, lowercased, for messages. */
static void s_pos_name(const ctl_command_t *cmd, int n, char *buf, size_t len)
{
    const char *p = cmd->pos_names ? cmd->pos_names : "";
    snprintf(buf, len, "argument %d", n + 1);
    for (int k = 0; *p; k++) {
        size_t w = strcspn(p, " ");
        if (k == n) {
            size_t m = w < len - 1 ? w : len - 1;
            for (size_t c = 0; c < m; c++) buf[c] = (char)tolower((unsigned char)p[c]);
            buf[m] = '\0';
            return;
        }
        p += w;
        while (*p == ' ') p++;
    }
}

int ctl_args_parse(ctl_t *ctl, const ctl_command_t *cmd, int argc, char **argv,
                   ctl_args_t *out)
{
    int help = 0, only_pos = 0;
    char name[64], what[80];
    memset(out, 0, sizeof *out);
    for (int k = 0; cmd->opts && cmd->opts[k].name; k++)
        assert(k < CTL_MAX_OPTS && "raise CTL_MAX_OPTS");
    for (int i = 0; i < argc;) {
        const char *arg = argv[i];
        if (!only_pos && strcmp(arg, "--") == 0) {
            only_pos = 1;
            i++;
            continue;
        }
        if (!only_pos) {
            int g = ctl_args_global(ctl, argc, argv, &i, &help);
            if (g == CTL_USAGE) return CTL_USAGE;
            if (g == 1) continue;
        }
        if (!only_pos && strncmp(arg, "--", 2) == 0) {
            const char *v = s_split(arg, name, sizeof name);
            int k = s_find(cmd, name);
            if (k < 0) {
                char cname[64];
                ctl_args_command_name(cmd, cname, sizeof cname);
                return ctl_usage_err(cmd, "unknown option --%s for '%s'", name, cname);
            }
            const ctl_opt_t *o = &cmd->opts[k];
            int multi = o->arg && s_repeatable(cmd, o->name);
            if (out->values[k] && !multi) return ctl_usage_err(cmd, "--%s is given twice", o->name);
            if (!o->arg) {
                if (v) return ctl_usage_err(cmd, "--%s takes no value", o->name);
                out->values[k] = "1";
                i++;
                continue;
            }
            if (!v) {
                if (i + 1 >= argc)
                    return ctl_usage_err(cmd, "--%s needs a value (%s)", o->name, o->arg);
                v = argv[++i];
            }
            snprintf(what, sizeof what, "%s", o->name);
            if (s_check_utf8(what, v) != CTL_OK) return CTL_USAGE;
            if (multi) {
                if (out->nmulti >= CTL_MAX_MULTI)
                    return ctl_usage_err(cmd, "too many repeated options (at most %d)",
                                         CTL_MAX_MULTI);
                out->multi[out->nmulti] = v;
                out->multi_opt[out->nmulti++] = k;
            }
            if (!out->values[k]) out->values[k] = v;
            i++;
            continue;
        }
        if (!only_pos && arg[0] == '-' && arg[1] != '\0')
            return ctl_usage_err(cmd, "unknown option %s (options are spelled --name)", arg);
        if (out->npos >= cmd->max_pos || out->npos >= CTL_MAX_POS)
            return ctl_usage_err(cmd, "unexpected argument '%s'", arg);
        s_pos_name(cmd, out->npos, what, sizeof what);
        if (s_check_utf8(what, arg) != CTL_OK) return CTL_USAGE;
        out->pos[out->npos++] = arg;
        i++;
    }
    if (help) {
        ctl_args_help(cmd, stdout);
        return CTL_ARGS_HELP;
    }
    if (out->npos < cmd->min_pos) {
        s_pos_name(cmd, out->npos, what, sizeof what);
        return ctl_usage_err(cmd, "missing %s", what);
    }
    return CTL_OK;
}

const char *ctl_args_get(const ctl_command_t *cmd, const ctl_args_t *args, const char *name)
{
    int k = s_find(cmd, name);
    assert(k >= 0 && "option not declared by the command");
    return k >= 0 ? args->values[k] : NULL;
}

int ctl_args_get_all(const ctl_command_t *cmd, const ctl_args_t *args, const char *name,
                     const char **out, int max)
{
    int k = s_find(cmd, name), n = 0;
    assert(k >= 0 && "option not declared by the command");
    for (int m = 0; m < args->nmulti; m++) {
        if (args->multi_opt[m] != k) continue;
        if (n < max) out[n] = args->multi[m];
        n++;
    }
    if (n == 0 && k >= 0 && args->values[k]) { /* a non-repeatable option */
        if (max > 0) out[0] = args->values[k];
        n = 1;
    }
    return n;
}

static void s_print_opts(const ctl_opt_t *opts, FILE *out)
{
    char left[64];
    for (int k = 0; opts && opts[k].name; k++) {
        if (opts[k].arg) snprintf(left, sizeof left, "--%s %s", opts[k].name, opts[k].arg);
        else snprintf(left, sizeof left, "--%s", opts[k].name);
        if (strlen(left) <= 24) {
            fprintf(out, "  %-24s  %s\n", left, opts[k].help);
        } else {
            fprintf(out, "  %s\n  %-24s  %s\n", left, "", opts[k].help);
        }
    }
}

void ctl_args_global_help(FILE *out)
{
    fputs("global options:\n", out);
    s_print_opts(s_global_opts, out);
}

void ctl_args_help(const ctl_command_t *cmd, FILE *out)
{
    char name[64];
    ctl_args_command_name(cmd, name, sizeof name);
    fprintf(out, "usage: crieurctl %s %s\n\n%s\n", name, cmd->synopsis ? cmd->synopsis : "",
            cmd->summary);
    if (cmd->opts && cmd->opts[0].name) {
        fputs("\noptions:\n", out);
        s_print_opts(cmd->opts, out);
    }
    if (cmd->details) fprintf(out, "\n%s", cmd->details);
    fputc('\n', out);
    ctl_args_global_help(out);
}
