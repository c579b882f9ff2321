#include "cr_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char s_file[1024];

const char *cr_config_file(void)
{
    return s_file[0] ? s_file : NULL;
}

static void *s_field(void *cfg, const cr_opt_t *o)
{
    return (char *)cfg + o->offset;
}

static const cr_opt_t *s_find(const cr_opt_t *table, const char *name, size_t len)
{
    for (const cr_opt_t *o = table; o->name; o++) {
        if (strlen(o->name) != len) continue;
        int same = 1;
        for (size_t i = 0; i < len && same; i++) {
            char a = o->name[i], b = name[i];
            if (b == '_') b = '-';
            same = a == b;
        }
        if (same) return o;
    }
    return NULL;
}

/* Sets one option from text; source names where the text came from. */
static int s_set(void *cfg, const cr_opt_t *o, const char *val, const char *source, char *err,
                 size_t errlen)
{
    switch (o->type) {
    case CR_OPT_STRING: {
        char **p = s_field(cfg, o);
        char *copy = strdup(val ? val : "");
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        free(*p);
        *p = copy;
        return 0;
    }
    case CR_OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(val ? val : "", &end, 10);
        if (!val || !*val || *end || errno) {
            snprintf(err, errlen, "%s: option '%s' expects an integer, got '%s'", source,
                     o->name, val ? val : "");
            return -1;
        }
        if (v < o->min || v > o->max) {
            snprintf(err, errlen, "%s: option '%s' must be between %ld and %ld, got %ld",
                     source, o->name, o->min, o->max, v);
            return -1;
        }
        *(long *)s_field(cfg, o) = v;
        return 0;
    }
    case CR_OPT_BOOL: {
        static const char *yes[] = {"1", "true", "yes", "on"};
        static const char *no[] = {"0", "false", "no", "off"};
        for (int i = 0; i < 4; i++) {
            if (val && strcasecmp(val, yes[i]) == 0) {
                *(int *)s_field(cfg, o) = 1;
                return 0;
            }
            if (val && strcasecmp(val, no[i]) == 0) {
                *(int *)s_field(cfg, o) = 0;
                return 0;
            }
        }
        snprintf(err, errlen, "%s: option '%s' expects true or false, got '%s'", source,
                 o->name, val ? val : "");
        return -1;
    }
    }
    return -1;
}

static void s_env_name(const char *name, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "CRIEUR_");
    for (const char *p = name; *p && n + 1 < len; p++)
        buf[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[n] = '\0';
}

static char *s_trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

static int s_load_file(const cr_opt_t *table, void *cfg, const char *path, int reload_only,
                       char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open configuration file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *s = s_trim(line);
        if (*s == '\0' || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'name = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = s_trim(s), *val = s_trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        const cr_opt_t *o = s_find(table, key, strlen(key));
        if (!o) {
            snprintf(err, errlen, "%s:%d: unknown option '%s' (see --help)", path, lineno, key);
            rc = -1;
            break;
        }
        char source[1100];
        snprintf(source, sizeof source, "%s:%d", path, lineno);
        if (reload_only && !o->reloadable) {
            /* Not applied, but still checked: a reload reports a file that
             * the next start would refuse. */
            union {
                char *s;
                long l;
                int b;
            } scratch = {0};
            cr_opt_t probe = *o;
            probe.offset = 0;
            int bad = s_set(&scratch, &probe, val, source, err, errlen);
            if (o->type == CR_OPT_STRING) free(scratch.s);
            if (bad) {
                rc = -1;
                break;
            }
            continue;
        }
        if (s_set(cfg, o, val, source, err, errlen)) {
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

static int s_load_env(const cr_opt_t *table, void *cfg, int reload_only, char *err, size_t errlen)
{
    for (const cr_opt_t *o = table; o->name; o++) {
        char env[128];
        if (reload_only && !o->reloadable) continue;
        s_env_name(o->name, env, sizeof env);
        const char *v = getenv(env);
        if (v && s_set(cfg, o, v, env, err, errlen)) return -1;
    }
    return 0;
}

void cr_config_help(const cr_opt_t *table, const char *prog, const char *summary)
{
    printf("Usage: %s [options]\n%s\n\nOptions (flag, environment variable, default):\n", prog,
           summary ? summary : "");
    printf("  --config FILE  (CRIEUR_CONFIG)\n      configuration file of 'name = value' lines\n");
    for (const cr_opt_t *o = table; o->name; o++) {
        char env[128];
        s_env_name(o->name, env, sizeof env);
        const char *ty = o->type == CR_OPT_INT ? " N" : o->type == CR_OPT_BOOL ? " BOOL" : " TEXT";
        printf("  --%s%s  (%s)  default: %s%s\n      %s\n", o->name, ty, env,
               o->def && *o->def ? o->def : "(none)", o->reloadable ? "  [reloadable]" : "",
               o->help ? o->help : "");
    }
    printf("  --help\n      print this help\n");
}

cr_config_rc_t cr_config_load(const cr_opt_t *table, void *cfg, int argc, char **argv,
                              const char *summary, char *err, size_t errlen)
{
    const char *prog = argc > 0 ? argv[0] : "crieur";
    const char *slash = strrchr(prog, '/');
    if (slash) prog = slash + 1;
    err[0] = '\0';
    s_file[0] = '\0';
    for (const cr_opt_t *o = table; o->name; o++) {
        if (o->type == CR_OPT_STRING) *(char **)s_field(cfg, o) = NULL;
        if (s_set(cfg, o, o->def ? o->def : (o->type == CR_OPT_STRING ? "" : "0"), "default",
                  err, errlen))
            return CR_CONFIG_ERROR;
    }
    /* First pass: --help and --config. */
    const char *file = getenv("CRIEUR_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            cr_config_help(table, prog, summary);
            return CR_CONFIG_HELP;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0) file = argv[i] + 9;
    }
    if (file && *file) {
        snprintf(s_file, sizeof s_file, "%s", file);
        if (s_load_file(table, cfg, file, 0, err, errlen)) return CR_CONFIG_ERROR;
    }
    if (s_load_env(table, cfg, 0, err, errlen)) return CR_CONFIG_ERROR;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%s' (see %s --help)", a, prog);
            return CR_CONFIG_ERROR;
        }
        a += 2;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const char *val = eq ? eq + 1 : NULL;
        if (nl == 6 && strncmp(a, "config", 6) == 0) {
            if (!eq && i + 1 >= argc) {
                snprintf(err, errlen, "option '--config' needs a file (see %s --help)", prog);
                return CR_CONFIG_ERROR;
            }
            if (!eq) i++;
            continue;
        }
        const cr_opt_t *o = s_find(table, a, nl);
        if (!o) {
            snprintf(err, errlen, "unknown option '--%.*s' (see %s --help)", (int)nl, a, prog);
            return CR_CONFIG_ERROR;
        }
        if (!val) {
            if (o->type == CR_OPT_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
                val = "true";
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                snprintf(err, errlen, "option '--%s' needs a value (see %s --help)", o->name, prog);
                return CR_CONFIG_ERROR;
            }
        }
        char source[160];
        snprintf(source, sizeof source, "flag --%s", o->name);
        if (s_set(cfg, o, val, source, err, errlen)) return CR_CONFIG_ERROR;
    }
    return CR_CONFIG_OK;
}

int cr_config_reload(const cr_opt_t *table, void *cfg, const char *file, char *err, size_t errlen)
{
    /* Work on a copy so that a bad file leaves the running configuration intact. */
    size_t size = 0;
    for (const cr_opt_t *o = table; o->name; o++) {
        size_t end = o->offset + (o->type == CR_OPT_STRING ? sizeof(char *)
                                  : o->type == CR_OPT_INT  ? sizeof(long)
                                                           : sizeof(int));
        if (end > size) size = end;
    }
    char *copy = calloc(1, size ? size : 1);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(copy, cfg, size);
    int rc = 0;
    for (const cr_opt_t *o = table; o->name; o++)
        if (o->type == CR_OPT_STRING) {
            char **p = s_field(copy, o);
            if (*p && !(*p = strdup(*p))) rc = -1;
        }
    if (rc) snprintf(err, errlen, "out of memory");
    if (rc == 0 && file && *file) rc = s_load_file(table, copy, file, 1, err, errlen);
    if (rc == 0) rc = s_load_env(table, copy, 1, err, errlen);
    if (rc == 0) {
        cr_config_free(table, cfg);
        memcpy(cfg, copy, size);
    } else {
        cr_config_free(table, copy);
    }
    free(copy);
    return rc;
}

void cr_config_free(const cr_opt_t *table, void *cfg)
{
    for (const cr_opt_t *o = table; o->name; o++) {
        if (o->type == CR_OPT_STRING) {
            char **p = s_field(cfg, o);
            free(*p);
            *p = NULL;
        }
    }
}
