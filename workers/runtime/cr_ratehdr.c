/* cr_ratehdr: the platforms' rate-limit headers. See cr_ratehdr.h. */
#include "cr_ratehdr.h"

#include "cr_time.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Header names, per platform. */
#define MASTODON_LIMIT "X-RateLimit-Limit"
#define MASTODON_REMAINING "X-RateLimit-Remaining"
#define MASTODON_RESET "X-RateLimit-Reset" /* ISO 8601 */
#define BSKY_LIMIT "RateLimit-Limit"
#define BSKY_REMAINING "RateLimit-Remaining"
#define BSKY_RESET "RateLimit-Reset" /* epoch seconds */
#define BSKY_POLICY "RateLimit-Policy" /* "Q;w=SECONDS[, Q;w=SECONDS...]" */
#define GRAPH_APP_USAGE "X-App-Usage"
#define GRAPH_BUC_USAGE "X-Business-Use-Case-Usage"
#define GRAPH_REGAIN "estimated_time_to_regain_access" /* minutes */
#define GRAPH_PCT_MAX 1000
#define GRAPH_REGAIN_MAX_MIN 100000L

/* X: the endpoint's window, then the 24-hour ones it sometimes adds. */
static const char *const s_x_windows[][3] = {
    {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"},
    {"x-user-limit-24hour-limit", "x-user-limit-24hour-remaining", "x-user-limit-24hour-reset"},
    {"x-app-limit-24hour-limit", "x-app-limit-24hour-remaining", "x-app-limit-24hour-reset"},
};

typedef enum { RESET_EPOCH_S, RESET_ISO8601 } reset_form_t;

/* ---- values ------------------------------------------------------------ */

/* The header's value in buf (NUL-terminated); 0 if absent, empty or longer
 * than the buffer (a number that long is not one). */
static int s_value(const cr_http_resp_t *resp, const char *name, char *buf, size_t cap)
{
    long n = cr_http_header(resp, name, buf, cap);
    return n > 0 && (size_t)n < cap && strlen(buf) == (size_t)n;
}

/* Decimal digits only (no sign, no space, no exponent), at most max. */
static int s_digits(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int s_u32(const cr_http_resp_t *resp, const char *name, uint32_t *out)
{
    char buf[32];
    uint64_t v;
    if (!s_value(resp, name, buf, sizeof buf) || !s_digits(buf, strlen(buf), UINT32_MAX, &v))
        return 0;
    *out = (uint32_t)v;
    return 1;
}

/* A reset within CR_RATE_RESET_WINDOW_MS of now, as unix ms; 0 otherwise. */
static int64_t s_reset(const cr_http_resp_t *resp, const char *name, reset_form_t form,
                       int64_t now_ms)
{
    char buf[64];
    int64_t at;
    if (!s_value(resp, name, buf, sizeof buf)) return 0;
    if (form == RESET_EPOCH_S) {
        uint64_t s;
        if (!s_digits(buf, strlen(buf), (uint64_t)INT64_MAX / 1000, &s)) return 0;
        at = (int64_t)s * 1000;
    } else if (cr_time_parse_iso8601(buf, &at) != 0) {
        return 0;
    }
    if (at <= 0 || at < now_ms - CR_RATE_RESET_WINDOW_MS || at > now_ms + CR_RATE_RESET_WINDOW_MS)
        return 0;
    return at;
}

/* One window from three headers; limit_fallback (0 = none) stands in for a
 * missing or malformed limit. 1 if known. */
static int s_window(const cr_http_resp_t *resp, const char *const names[3], reset_form_t form,
                    uint32_t limit_fallback, int64_t now_ms, cr_rate_t *w)
{
    memset(w, 0, sizeof *w);
    uint32_t limit = 0, remaining;
    if (!s_u32(resp, names[0], &limit)) limit = limit_fallback;
    if (limit == 0 || !s_u32(resp, names[1], &remaining) || remaining > limit) return 0;
    w->known = 1;
    w->limit = limit;
    w->remaining = remaining;
    w->reset_ms = s_reset(resp, names[2], form, now_ms);
    return 1;
}

/* ---- platforms --------------------------------------------------------- */

static int s_mastodon(const cr_http_resp_t *resp, int64_t now_ms, cr_rate_t *out)
{
    static const char *const names[3] = {MASTODON_LIMIT, MASTODON_REMAINING, MASTODON_RESET};
    return s_window(resp, names, RESET_ISO8601, 0, now_ms, out);
}

/* The binding window: fewest remaining, then the latest reset. */
static int s_x(const cr_http_resp_t *resp, int64_t now_ms, cr_rate_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof s_x_windows / sizeof *s_x_windows; i++) {
        cr_rate_t w;
        if (!s_window(resp, s_x_windows[i], RESET_EPOCH_S, 0, now_ms, &w)) continue;
        if (!out->known || w.remaining < out->remaining ||
            (w.remaining == out->remaining && w.reset_ms > out->reset_ms))
            *out = w;
    }
    return out->known;
}

/* The first policy's quota: "300;w=300", "5000;w=3600, 35000;w=86400". 0 if none. */
static uint32_t s_policy_quota(const cr_http_resp_t *resp)
{
    char buf[256];
    uint64_t q;
    if (!s_value(resp, BSKY_POLICY, buf, sizeof buf)) return 0;
    size_t n = strcspn(buf, ";,");
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t')) n--;
    if (!s_digits(buf, n, UINT32_MAX, &q)) return 0;
    return (uint32_t)q;
}

static int s_bluesky(const cr_http_resp_t *resp, int64_t now_ms, cr_rate_t *out)
{
    static const char *const names[3] = {BSKY_LIMIT, BSKY_REMAINING, BSKY_RESET};
    return s_window(resp, names, RESET_EPOCH_S, s_policy_quota(resp), now_ms, out);
}

static int s_graph(const cr_http_resp_t *resp, int64_t now_ms, cr_rate_t *out)
{
    memset(out, 0, sizeof *out);
    cr_graph_usage_t u;
    cr_ratehdr_graph_usage(resp, &u);
    int pct = u.app_pct > u.buc_pct ? u.app_pct : u.buc_pct;
    if (pct < 0) return 0;
    out->known = 1;
    out->limit = 100;
    out->remaining = pct >= 100 ? 0 : (uint32_t)(100 - pct);
    if (u.regain_min > 0 && (int64_t)u.regain_min * 60000 <= CR_RATE_RESET_WINDOW_MS)
        out->reset_ms = now_ms + (int64_t)u.regain_min * 60000;
    return 1;
}

int cr_ratelimit_from_headers(const cr_http_resp_t *resp, const char *platform, int64_t now_ms,
                              cr_rate_t *out)
{
    memset(out, 0, sizeof *out);
    if (!resp || !resp->headers || !platform) return 0;
    if (strcasecmp(platform, "mastodon") == 0) return s_mastodon(resp, now_ms, out);
    if (strcasecmp(platform, "x") == 0) return s_x(resp, now_ms, out);
    if (strcasecmp(platform, "bluesky") == 0) return s_bluesky(resp, now_ms, out);
    if (strcasecmp(platform, "facebook") == 0 || strcasecmp(platform, "instagram") == 0 ||
        strcasecmp(platform, "threads") == 0)
        return s_graph(resp, now_ms, out);
    return 0; /* linkedin: no rate-limit headers; webhook, email, others: none we read */
}

/* ---- Graph usage ------------------------------------------------------- */

/* Highest of the percentages of one usage object; -1 if none. */
static int s_pct_of(json_t *obj)
{
    static const char *const keys[] = {"call_count", "total_time", "total_cputime"};
    int best = -1;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(obj, keys[i]);
        if (!json_is_number(v)) continue;
        double d = json_number_value(v);
        if (!(d >= 0)) continue; /* negative, or NaN */
        int p = d > GRAPH_PCT_MAX ? GRAPH_PCT_MAX : (int)d;
        if (p > best) best = p;
    }
    return best;
}

/* The header as a JSON object, or NULL (absent, not JSON, not an object). */
static json_t *s_header_json(const cr_http_resp_t *resp, const char *name)
{
    long n = cr_http_header(resp, name, NULL, 0);
    if (n <= 0 || (size_t)n > CR_HTTP_MAX_HEADER_BYTES) return NULL;
    char *v = malloc((size_t)n + 1);
    if (!v) return NULL;
    cr_http_header(resp, name, v, (size_t)n + 1);
    json_t *root = json_loadb(v, (size_t)n, 0, NULL); /* a NUL inside is refused */
    free(v);
    if (!json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

void cr_ratehdr_graph_usage(const cr_http_resp_t *resp, cr_graph_usage_t *u)
{
    u->app_pct = u->buc_pct = -1;
    u->regain_min = -1;
    if (!resp) return;
    json_t *app = s_header_json(resp, GRAPH_APP_USAGE);
    if (app) u->app_pct = s_pct_of(app);
    json_decref(app);
    json_t *buc = s_header_json(resp, GRAPH_BUC_USAGE);
    const char *key;
    json_t *list;
    json_object_foreach(buc, key, list)
    {
        size_t i;
        json_t *item;
        if (!json_is_array(list)) continue;
        json_array_foreach(list, i, item)
        {
            if (!json_is_object(item)) continue;
            int p = s_pct_of(item);
            if (p > u->buc_pct) u->buc_pct = p;
            json_t *regain = json_object_get(item, GRAPH_REGAIN);
            if (!json_is_number(regain)) continue;
            double d = json_number_value(regain);
            if (!(d >= 0)) continue;
            long m = d > GRAPH_REGAIN_MAX_MIN ? GRAPH_REGAIN_MAX_MIN : (long)d;
            if (d > (double)m && m < GRAPH_REGAIN_MAX_MIN) m++; /* a fraction of a minute is a minute */
            if (m > u->regain_min) u->regain_min = m;
        }
    }
    json_decref(buc);
}
