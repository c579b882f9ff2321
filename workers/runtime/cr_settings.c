#include "cr_settings.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY_MAX 128
#define S_VALUE_MAX 4096
#define S_MAX_ENTRIES 512

typedef struct {
    char key[S_KEY_MAX];  /* "platform.name" */
    char *value;
} s_entry_t;

static s_entry_t s_entries[S_MAX_ENTRIES];
static size_t s_n;

void cr_settings_clear(void)
{
    for (size_t i = 0; i < s_n; i++) free(s_entries[i].value);
    s_n = 0;
}

static char *s_trim(char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

static int s_key_ok(const char *k)
{
    const char *dot = strchr(k, '.');
    if (!dot || dot == k || !dot[1] || strlen(k) >= S_KEY_MAX) return 0;
    for (const char *p = k; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') return 0;
    return 1;
}

int cr_settings_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open the adapter settings file %s: %s", path, strerror(errno));
        return -1;
    }
    cr_settings_clear();
    char line[S_KEY_MAX + S_VALUE_MAX + 8];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] != '\n' && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line longer than %d bytes", path, lineno, S_VALUE_MAX);
            rc = -1;
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *s = s_trim(line);
        if (!*s) continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected platform.name = value", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *k = s_trim(s), *v = s_trim(eq + 1);
        if (!s_key_ok(k)) {
            snprintf(err, errlen, "%s:%d: '%s' is not a setting name (platform.name)", path,
                     lineno, k);
            rc = -1;
            break;
        }
        if (s_n == S_MAX_ENTRIES) {
            snprintf(err, errlen, "%s:%d: more than %d settings", path, lineno, S_MAX_ENTRIES);
            rc = -1;
            break;
        }
        size_t i = 0; /* a later line replaces an earlier one */
        while (i < s_n && strcmp(s_entries[i].key, k) != 0) i++;
        char *copy = strdup(v);
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        if (i == s_n) {
            snprintf(s_entries[i].key, sizeof s_entries[i].key, "%s", k);
            s_n++;
        } else {
            free(s_entries[i].value);
        }
        s_entries[i].value = copy;
    }
    fclose(f);
    if (rc) cr_settings_clear();
    return rc;
}

const char *cr_setting(const char *platform, const char *name, const char *def)
{
    char env[S_KEY_MAX + 16];
    int n = snprintf(env, sizeof env, "CRIEUR_%s_%s", platform, name);
    if (n < 0 || (size_t)n >= sizeof env) return def;
    for (char *p = env; *p; p++)
        *p = (*p == '-' || *p == '.') ? '_' : (char)toupper((unsigned char)*p);
    const char *v = getenv(env);
    if (v) return v;
    char key[S_KEY_MAX];
    n = snprintf(key, sizeof key, "%s.%s", platform, name);
    if (n < 0 || (size_t)n >= sizeof key) return def;
    for (size_t i = 0; i < s_n; i++)
        if (strcmp(s_entries[i].key, key) == 0) return s_entries[i].value;
    return def;
}

long long cr_setting_int(const char *platform, const char *name, long long def)
{
    const char *v = cr_setting(platform, name, NULL);
    if (!v || !*v) return def;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    while (*end && isspace((unsigned char)*end)) end++;
    if (errno || *end) return def;
    return x;
}

int cr_setting_has(const char *platform, const char *name, const char *def_list, const char *item)
{
    const char *v = cr_setting(platform, name, def_list);
    if (!v || !item) return 0;
    size_t il = strlen(item);
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if ((size_t)(t - p) == il && memcmp(p, item, il) == 0) return 1;
        p = e;
    }
    return 0;
}
