/* cr_refresh: token refresh for X, Threads and LinkedIn. See cr_refresh.h. */
#include "cr_refresh.h"

#include "cr_graph.h"
#include "cr_linkedin.h"
#include "cr_settings.h"
#include "cr_text.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define R_FORM_TYPE "application/x-www-form-urlencoded"
#define R_USER_AGENT "crieur-publisher"
#define R_MAX_URL 2048
#define R_MAX_CLIENT 512 /* client id or secret, bytes */
#define R_RETRY_MIN_MS 1000LL
#define R_X_RESET_HEADER "x-rate-limit-reset" /* epoch seconds */
#define R_X_TOKEN_PATH "/2/oauth2/token"
#define R_THREADS_PATH "/refresh_access_token"
#define R_THREADS_GRANT "th_refresh_token"
#define R_LI_OAUTH_BASE "https://www.linkedin.com"
#define R_LI_TOKEN_PATH "/oauth/v2/accessToken"
#define R_REDACTED "[token]"

/* What differs between the platforms, in one place. */
typedef struct {
    const char *name;     /* for people: "X" */
    const char *settings; /* cr_settings platform: "x" */
    int rotates;          /* a refresh kills the refresh token sent */
    int uses_refresh;     /* refreshes with RefreshPayload.refresh_token (else the access token) */
    int graph_errors;     /* errors are Graph error objects (else OAuth 2.0, RFC 6749 5.2) */
} r_spec_t;

static const r_spec_t s_specs[] = {
    [CR_REFRESH_X] = {"X", "x", 1, 1, 0},
    [CR_REFRESH_THREADS] = {"Threads", "threads", 0, 0, 1},
    [CR_REFRESH_LINKEDIN] = {"LinkedIn", "linkedin", 0, 1, 0},
};

static const char *s_str(const char *s)
{
    return s ? s : "";
}

/* ---- request ----------------------------------------------------------- */

static int s_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static size_t s_enc_len(const char *v)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) n += s_unreserved(*p) ? 1 : 3;
    return n;
}

static size_t s_enc(char *out, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (s_unreserved(*p)) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    return o;
}

/* "k1=v1&k2=v2..." percent-encoded, in one allocation (it holds secrets:
 * no copies left behind by a growing buffer). kv ends with NULL. NULL out of
 * memory; *len its length. */
static char *s_form(const char *const *kv, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; kv[i]; i += 2) n += s_enc_len(kv[i]) + 1 + s_enc_len(kv[i + 1]) + 1;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; kv[i]; i += 2) {
        if (o) out[o++] = '&';
        o += s_enc(out + o, kv[i]);
        out[o++] = '=';
        o += s_enc(out + o, kv[i + 1]);
    }
    out[o] = '\0';
    *len = o;
    return out;
}

/* "Authorization: Basic base64(enc(id):enc(secret))" (RFC 6749 2.3.1); the
 * temporary copies are wiped. 0 or -1. */
static int s_basic(cr_http_req_t *req, const char *id, const char *secret)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t il = s_enc_len(id), sl = s_enc_len(secret), pl = il + 1 + sl;
    char *plain = malloc(pl + 1);
    size_t cap = 6 + (pl + 2) / 3 * 4 + 1;
    char *value = malloc(cap);
    int rc = -1;
    if (plain && value) {
        size_t o = s_enc(plain, id);
        plain[o++] = ':';
        o += s_enc(plain + o, secret);
        plain[o] = '\0'; /* wiped by length below */
        memcpy(value, "Basic ", 6);
        size_t v = 6;
        for (size_t i = 0; i < o; i += 3) {
            unsigned n = (unsigned)(unsigned char)plain[i] << 16;
            if (i + 1 < o) n |= (unsigned)(unsigned char)plain[i + 1] << 8;
            if (i + 2 < o) n |= (unsigned char)plain[i + 2];
            value[v++] = b64[(n >> 18) & 63];
            value[v++] = b64[(n >> 12) & 63];
            value[v++] = i + 1 < o ? b64[(n >> 6) & 63] : '=';
            value[v++] = i + 2 < o ? b64[n & 63] : '=';
        }
        value[v] = '\0';
        rc = cr_http_req_header(req, "Authorization", value);
    }
    if (plain) cr_secret_free(&plain);
    if (value) cr_secret_free(&value);
    return rc;
}

/* A client credential from the settings: set, printable, not too long. */
static const char *s_client(const char *platform, const char *name)
{
    const char *v = cr_setting(platform, name, NULL);
    return v && cr_text_token_ok(v, R_MAX_CLIENT) ? v : NULL;
}

static int s_no_setting(cr_result_t *r, const char *pname, const char *platform, const char *what,
                        const char *name, const char *code)
{
    char buf[400], env[96];
    snprintf(env, sizeof env, "CRIEUR_%s_%s", platform, name);
    for (char *p = env; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    snprintf(buf, sizeof buf,
             "%s token refresh needs the app's %s: set %s.%s (environment %s or the worker's "
             "settings file; printable, no spaces, at most %d bytes)",
             pname, what, platform, name, env, R_MAX_CLIENT);
    return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
}

static int s_oom(cr_http_req_t *req, cr_result_t *r)
{
    cr_http_req_clear(req);
    return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_TRANSIENT,
                          "out of memory building the refresh request", "internal");
}

static int s_post_form(cr_http_req_t *req, const char *url, const char *const *kv)
{
    size_t len = 0;
    char *body = s_form(kv, &len);
    if (!body) return -1;
    int rc = -1;
    if (cr_http_req_init(req, "POST", url) == 0 &&
        cr_http_req_header(req, "User-Agent", R_USER_AGENT) == 0 &&
        cr_http_req_header(req, "Accept", "application/json") == 0 &&
        cr_http_req_body(req, R_FORM_TYPE, &body, len) == 0)
        rc = 0;
    if (body) {
        explicit_bzero(body, len);
        free(body);
    }
    return rc;
}

int cr_refresh_request(cr_refresh_platform_t p, const Crieur__Task *task, cr_http_req_t *req,
                       cr_result_t *r)
{
    const r_spec_t *sp = &s_specs[p];
    const Crieur__Account *acc = task ? task->account : NULL;
    cr_http_req_clear(req);
    if (!acc || task->payload_case != CRIEUR__TASK__PAYLOAD_REFRESH || !task->refresh)
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                              "token refresh task without account or refresh payload", "bad_task");
    const char *refresh = s_str(task->refresh->refresh_token);
    char buf[300];
    if (sp->uses_refresh && !cr_text_token_ok(refresh, CR_REFRESH_TOKEN_MAX)) {
        snprintf(buf, sizeof buf,
                 "no usable %s refresh token is stored for this account: it must be reconnected",
                 sp->name);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, "no_refresh_token");
    }
    if (!sp->uses_refresh && !cr_text_token_ok(s_str(acc->token), CR_REFRESH_TOKEN_MAX)) {
        snprintf(buf, sizeof buf,
                 "no usable %s access token to refresh: the account must be reconnected",
                 sp->name);
        return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, "no_token");
    }

    /* X and Threads: the token endpoint is on the account's API host */
    if (p != CR_REFRESH_LINKEDIN) {
        char *probe = cr_api_url(acc->api_base, "/", R_MAX_URL);
        if (!probe)
            return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                                  "account api_base is not a usable http(s) URL", "bad_api_base");
        free(probe);
    }

    int rc = -1;
    char *url = NULL;
    switch (p) {
    case CR_REFRESH_X: {
        const char *id = s_client("x", "client_id");
        if (!id)
            return s_no_setting(r, "X", "x", "OAuth 2.0 client id", "client_id", "no_client_id");
        const char *secret = cr_setting("x", "client_secret", NULL);
        if (secret && !*secret) secret = NULL; /* empty: a public client */
        if (secret && !cr_text_token_ok(secret, R_MAX_CLIENT))
            return s_no_setting(r, "X", "x",
                                "OAuth 2.0 client secret (or none, for a public client)",
                                "client_secret", "bad_client_secret");
        url = cr_api_url(acc->api_base, R_X_TOKEN_PATH, R_MAX_URL);
        if (!url) break;
        const char *kv[] = {"grant_type", "refresh_token", "refresh_token", refresh,
                            "client_id", id, NULL};
        rc = s_post_form(req, url, kv);
        if (rc == 0 && secret) rc = s_basic(req, id, secret);
        break;
    }
    case CR_REFRESH_LINKEDIN: {
        const char *id = s_client("linkedin", "client_id");
        if (!id)
            return s_no_setting(r, "LinkedIn", "linkedin", "client id", "client_id",
                                "no_client_id");
        const char *secret = s_client("linkedin", "client_secret");
        if (!secret)
            return s_no_setting(r, "LinkedIn", "linkedin", "client secret", "client_secret",
                                "no_client_secret");
        const char *base = cr_setting("linkedin", "oauth_base", R_LI_OAUTH_BASE);
        char *probe = cr_api_url(base, "/", R_MAX_URL);
        if (!probe)
            return cr_result_fail(r, CRIEUR__OUTCOME__OUTCOME_PERMANENT,
                                  "setting linkedin.oauth_base (CRIEUR_LINKEDIN_OAUTH_BASE) is not "
                                  "a plain http(s) URL such as https://www.linkedin.com",
                                  "bad_oauth_base");
        free(probe);
        url = cr_api_url(base, R_LI_TOKEN_PATH, R_MAX_URL);
        if (!url) break;
        const char *kv[] = {"grant_type", "refresh_token", "refresh_token", refresh,
                            "client_id", id, "client_secret", secret, NULL};
        rc = s_post_form(req, url, kv);
        break;
    }
    case CR_REFRESH_THREADS: {
        /* the access token goes in the query string: the URL is a secret
         * (nothing logs request URLs; this copy is wiped) */
        const char *tok = acc->token;
        size_t n = strlen(R_THREADS_PATH) + strlen(R_THREADS_GRANT) + 32 + s_enc_len(tok);
        char *path = malloc(n + 1);
        if (!path) break;
        int head = snprintf(path, n + 1, "%s?grant_type=%s&access_token=", R_THREADS_PATH,
                            R_THREADS_GRANT);
        size_t o = (size_t)head;
        o += s_enc(path + o, tok);
        path[o] = '\0';
        url = cr_api_url(acc->api_base, path, R_MAX_URL);
        cr_secret_free(&path);
        if (!url) break;
        if (cr_http_req_init(req, "GET", url) == 0 &&
            cr_http_req_header(req, "User-Agent", R_USER_AGENT) == 0 &&
            cr_http_req_header(req, "Accept", "application/json") == 0)
            rc = 0;
        break;
    }
    }
    cr_secret_free(&url);
    if (rc) return s_oom(req, r);
    req->fresh_connection = 1; /* never re-sent by libcurl: a refresh may rotate */
    return 0;
}

/* ---- answers ----------------------------------------------------------- */

/* Copies text into out (cap bytes) with every token of the task (access,
 * refresh) and the configured client secrets replaced by [token]. */
static void s_redact(const char *text, const Crieur__Task *task, char *out, size_t cap)
{
    const char *secrets[4] = {
        task && task->account ? task->account->token : NULL,
        task && task->refresh ? task->refresh->refresh_token : NULL,
        cr_setting("x", "client_secret", NULL),
        cr_setting("linkedin", "client_secret", NULL),
    };
    size_t o = 0;
    const char *p = s_str(text);
    while (*p && o + 1 < cap) {
        size_t hit = 0;
        for (size_t i = 0; i < 4 && !hit; i++) {
            size_t n = secrets[i] ? strlen(secrets[i]) : 0;
            if (n >= 4 && strncmp(p, secrets[i], n) == 0) hit = n;
        }
        if (hit) {
            size_t rl = strlen(R_REDACTED);
            if (o + rl + 1 > cap) break;
            memcpy(out + o, R_REDACTED, rl);
            o += rl;
            p += hit;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

/* Sets outcome, error (redacted) and code. */
static void s_set(cr_result_t *r, const Crieur__Task *task, Crieur__Outcome outcome,
                  const char *error, const char *code)
{
    char clean[CR_ERROR_MAX_BYTES * 2 + 1];
    s_redact(error, task, clean, sizeof clean);
    cr_result_set(r, outcome, clean, code);
}

static const char *s_curl_text(const cr_http_resp_t *resp)
{
    if (resp->too_large) return "response too large";
    if (resp->error && resp->error[0]) return resp->error;
    return curl_easy_strerror((CURLcode)resp->curl_code);
}

static int64_t s_clamp_retry(int64_t at, int64_t now_ms)
{
    if (at < 0) return now_ms + CR_REFRESH_RETRY_DEFAULT_MS;
    if (at < now_ms + R_RETRY_MIN_MS) at = now_ms + R_RETRY_MIN_MS;
    if (at > now_ms + CR_REFRESH_RETRY_MAX_MS) at = now_ms + CR_REFRESH_RETRY_MAX_MS;
    return at;
}

/* x-rate-limit-reset (epoch seconds), else Retry-After (seconds), else -1. */
static int64_t s_x_retry(const cr_http_resp_t *resp, int64_t now_ms)
{
    char v[32];
    const char *names[2] = {R_X_RESET_HEADER, "retry-after"};
    for (int k = 0; k < 2; k++) {
        long n = cr_http_header(resp, names[k], v, sizeof v);
        if (n <= 0 || n > 12) continue;
        int64_t s = 0;
        long i = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9') s = s * 10 + (v[i++] - '0');
        if (i != n) continue;
        return k == 0 ? s * 1000 : now_ms + s * 1000;
    }
    return -1;
}

/* What a failure to learn the answer means (the request may have been
 * processed). */
static void s_lost(const r_spec_t *sp, const Crieur__Task *task, const char *what,
                   const char *code, cr_result_t *r)
{
    char buf[CR_ERROR_MAX_BYTES + 200];
    if (sp->rotates) {
        snprintf(buf, sizeof buf,
                 "%.300s after the refresh request was sent: %.40s may have rotated the refresh token, "
                 "and the new one is lost with the answer; if the next refresh is refused, the "
                 "account must be reconnected",
                 what, sp->name);
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, buf, code);
    } else {
        snprintf(buf, sizeof buf,
                 "%.300s after the refresh request was sent; %.40s keeps what was sent valid, asking "
                 "again is safe",
                 what, sp->name);
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
    }
}

/* A JSON integer of seconds, or a string of digits; -1 if neither. */
static long long s_seconds(const json_t *v)
{
    if (json_is_integer(v)) return (long long)json_integer_value(v);
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        long long n = 0;
        size_t i = 0, len = json_string_length(v);
        if (len == 0 || len > 12) return -1;
        for (; i < len; i++) {
            if (s[i] < '0' || s[i] > '9') return -1;
            n = n * 10 + (s[i] - '0');
        }
        return n;
    }
    return -1;
}

/* Reads a success body; 0 with r OK, or -1 with why filled. */
static int s_success(cr_refresh_platform_t p, const Crieur__Task *task, const cr_http_resp_t *resp,
                     int64_t now_ms, cr_result_t *r, char *why, size_t whylen)
{
    const r_spec_t *sp = &s_specs[p];
    const char *f_access = "access_token", *f_refresh = "refresh_token", *f_exp = "expires_in";
    if (p == CR_REFRESH_X) { /* the shape is unconfirmed: names from the settings */
        f_access = cr_setting("x", "token_access_field", f_access);
        f_refresh = cr_setting("x", "token_refresh_field", f_refresh);
        f_exp = cr_setting("x", "token_expires_field", f_exp);
    }
    json_t *root = resp->body_len ? json_loadb(resp->body, resp->body_len,
                                               JSON_REJECT_DUPLICATES, NULL)
                                  : NULL;
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(why, whylen, "not a JSON object");
        goto out;
    }
    const json_t *ja = json_object_get(root, f_access);
    const char *access = json_string_value(ja);
    if (!access || json_string_length(ja) != strlen(access) ||
        !cr_text_token_ok(access, CR_REFRESH_TOKEN_MAX)) {
        snprintf(why, whylen, "no usable \"%s\"", f_access);
        goto out;
    }
    long long exp = s_seconds(json_object_get(root, f_exp));
    if (exp <= 0 || exp > CR_REFRESH_EXPIRES_MAX_S) {
        snprintf(why, whylen, "no usable \"%s\" (whole seconds, 1 to %lld)", f_exp,
                 (long long)CR_REFRESH_EXPIRES_MAX_S);
        goto out;
    }
    const json_t *jr = json_object_get(root, f_refresh);
    const char *refresh = NULL;
    if (jr && !json_is_null(jr)) {
        refresh = json_string_value(jr);
        if (!refresh || json_string_length(jr) != strlen(refresh) ||
            !cr_text_token_ok(refresh, CR_REFRESH_TOKEN_MAX)) {
            snprintf(why, whylen, "\"%s\" is not a usable token", f_refresh);
            goto out;
        }
    }
    cr_result_clear(r);
    r->outcome = CRIEUR__OUTCOME__OUTCOME_OK;
    r->http_status = (int)resp->status;
    r->access_token = strdup(access);
    const char *current = task->refresh ? s_str(task->refresh->refresh_token) : "";
    if (refresh && strcmp(refresh, current) != 0) r->refresh_token = strdup(refresh);
    r->token_expires_ms = now_ms + (int64_t)exp * 1000;
    if (!r->access_token || (refresh && strcmp(refresh, current) != 0 && !r->refresh_token)) {
        cr_result_clear(r);
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    if (sp->rotates && !refresh) {
        char note[300];
        snprintf(note, sizeof note,
                 "%s returned no new refresh token (field \"%s\"): the stored one is kept; if "
                 "%s rotated it anyway, the next refresh will be refused and the account must be "
                 "reconnected",
                 sp->name, f_refresh, sp->name);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_OK, note, "no_refresh_token");
    }
    long long rleft = s_seconds(json_object_get(root, "refresh_token_expires_in"));
    if (p == CR_REFRESH_LINKEDIN && rleft >= 0 && rleft < 30LL * 86400) {
        char note[300];
        snprintf(note, sizeof note,
                 "the LinkedIn refresh token expires in %lld days: the member must authorize the "
                 "application again before then",
                 rleft / 86400);
        cr_result_set(r, CRIEUR__OUTCOME__OUTCOME_OK, note, "refresh_token_expiring");
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* 1 if s contains word (ASCII, any case). */
static int s_has_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (; *s; s++)
        if (strncasecmp(s, word, n) == 0) return 1;
    return 0;
}

/* OAuth 2.0 token endpoint errors (X, LinkedIn). */
static void s_oauth_failure(cr_refresh_platform_t p, const Crieur__Task *task,
                            const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *r)
{
    const r_spec_t *sp = &s_specs[p];
    long st = resp->status;
    char stext[96], buf[CR_ERROR_MAX_BYTES + 400], code[64], words[CR_ERROR_MAX_BYTES + 1];
    cr_status_text(resp, stext, sizeof stext);
    json_t *root = resp->body_len ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    const char *error = json_string_value(json_object_get(root, "error"));
    const char *desc = json_string_value(json_object_get(root, "error_description"));
    if (!desc) desc = json_string_value(json_object_get(root, "detail"));
    if (!desc) desc = json_string_value(json_object_get(root, "message"));
    if (!desc) desc = json_string_value(json_object_get(root, "title"));
    char *e = error ? cr_text_clean(error, strlen(error), 40) : NULL;
    char *d = desc ? cr_text_clean(desc, strlen(desc), 300) : NULL;
    if (e && e[0] && d && d[0]) snprintf(words, sizeof words, "%s: %s", e, d);
    else if (e && e[0]) snprintf(words, sizeof words, "%s", e);
    else if (d && d[0]) snprintf(words, sizeof words, "%s (%s)", d, stext);
    else snprintf(words, sizeof words, "%s", stext);
    if (e && e[0]) snprintf(code, sizeof code, "%s", e);
    else snprintf(code, sizeof code, "%ld", st);
    int about_token = d && s_has_word(d, "token");
#define R_IS(name) (e && strcmp(e, name) == 0)
    if (st == 429) {
        snprintf(buf, sizeof buf, "%s token endpoint: rate limited (%s)", sp->name, words);
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = s_clamp_retry(
            p == CR_REFRESH_LINKEDIN ? cr_linkedin_retry_at(resp, now_ms) : s_x_retry(resp, now_ms),
            now_ms);
    } else if (st >= 500 || st == 408) {
        snprintf(buf, sizeof buf, "%s token endpoint unavailable (%s)", sp->name, words);
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
    } else if (R_IS("invalid_client") || R_IS("unauthorized_client")) {
        snprintf(buf, sizeof buf,
                 "%s refused the application's client credentials (%s): check the settings "
                 "%s.client_id and %s.client_secret (CRIEUR_%s_CLIENT_ID, CRIEUR_%s_CLIENT_SECRET)",
                 sp->name, words, sp->settings, sp->settings,
                 p == CR_REFRESH_X ? "X" : "LINKEDIN", p == CR_REFRESH_X ? "X" : "LINKEDIN");
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
    } else if (R_IS("invalid_grant") || (R_IS("invalid_request") && about_token) ||
               (st == 401 && !e)) {
        snprintf(buf, sizeof buf,
                 "%s refused the refresh token (%s): it is expired or revoked; the account must "
                 "be reconnected",
                 sp->name, words);
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
    } else if (st == 401) {
        snprintf(buf, sizeof buf,
                 "%s refused the refresh (%s): the account must be reconnected, or check the "
                 "settings %s.client_id and %s.client_secret",
                 sp->name, words, sp->settings, sp->settings);
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
    } else {
        snprintf(buf, sizeof buf,
                 "%s refused the refresh request (%s): check the settings %s.client_id%s",
                 sp->name, words, sp->settings,
                 p == CR_REFRESH_LINKEDIN ? ", linkedin.client_secret and linkedin.oauth_base "
                                            "(LinkedIn refresh tokens need a partner application)"
                                          : " and x.client_secret");
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
    }
#undef R_IS
    free(e);
    free(d);
    json_decref(root);
}

/* Graph errors (Threads). */
static void s_graph_failure(const Crieur__Task *task, const cr_http_resp_t *resp, int64_t now_ms,
                            cr_result_t *r)
{
    long st = resp->status;
    char stext[96], buf[CR_ERROR_MAX_BYTES + 300], code[48];
    cr_status_text(resp, stext, sizeof stext);
    cr_graph_error_t e;
    cr_graph_usage_t u;
    cr_graph_usage(resp, &u);
    if (cr_graph_error_parse(resp->body, resp->body_len, &e) != 0) {
        snprintf(code, sizeof code, "%ld", st);
        if (st == 429) {
            snprintf(buf, sizeof buf, "Threads: rate limited (%s)", stext);
            s_set(r, task, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
            r->retry_at_ms = cr_graph_retry_at(&u, now_ms);
        } else if (st >= 500 || st == 408) {
            snprintf(buf, sizeof buf, "Threads unavailable (%s)", stext);
            s_set(r, task, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        } else if (st == 401) {
            snprintf(buf, sizeof buf,
                     "Threads refused the access token (%s): the account must be reconnected",
                     stext);
            s_set(r, task, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
        } else {
            snprintf(buf, sizeof buf, "Threads refused the refresh request (%s)", stext);
            s_set(r, task, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
        }
        return;
    }
    if (e.subcode) snprintf(code, sizeof code, "%ld/%ld", e.code, e.subcode);
    else snprintf(code, sizeof code, "%ld", e.code);
    switch (cr_graph_error_class(&e)) {
    case CR_GRAPH_E_AUTH:
        snprintf(buf, sizeof buf,
                 "Threads refused the access token (%s: %s): an expired or invalid Threads token "
                 "cannot be refreshed; the account must be reconnected",
                 code, e.message);
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_AUTH_EXPIRED, buf, code);
        break;
    case CR_GRAPH_E_THROTTLED:
        snprintf(buf, sizeof buf, "Threads: rate limited (%s: %s)", code, e.message);
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_RATE_LIMITED, buf, code);
        r->retry_at_ms = cr_graph_retry_at(&u, now_ms);
        break;
    case CR_GRAPH_E_TRANSIENT:
        snprintf(buf, sizeof buf, "Threads: temporary error (%s: %s)", code, e.message);
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        break;
    default:
        snprintf(buf, sizeof buf, "Threads refused the refresh request (%s: %s)", code, e.message);
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_PERMANENT, buf, code);
        break;
    }
}

void cr_refresh_result(cr_refresh_platform_t p, const Crieur__Task *task,
                       const cr_http_resp_t *resp, int64_t now_ms, cr_result_t *r)
{
    const r_spec_t *sp = &s_specs[p];
    char buf[CR_ERROR_MAX_BYTES + 100], code[48];
    cr_result_clear(r);
    long st = resp->status;
    int ok_status = st >= 200 && st <= 299;
    if (resp->curl_code != 0 || (resp->too_large && (st == 0 || ok_status))) {
        if (resp->too_large) snprintf(code, sizeof code, "too_large");
        else snprintf(code, sizeof code, "curl:%d", resp->curl_code);
        int before = !resp->too_large && (!resp->sent || cr_http_code_before_send(resp->curl_code));
        if (before) {
            snprintf(buf, sizeof buf, "%s token endpoint not reached: %s (nothing was sent)",
                     sp->name, s_curl_text(resp));
            s_set(r, task, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, code);
        } else {
            snprintf(buf, sizeof buf, "no usable answer (%s)", s_curl_text(resp));
            s_lost(sp, task, buf, code, r);
        }
        r->http_status = st > 0 && st < 1000 ? (int)st : 0;
        return;
    }
    cr_http_resp_t view = *resp;
    if (resp->too_large) { /* an error answer too large to read: its status says enough */
        view.body = "";
        view.body_len = 0;
    }
    cr_graph_error_t ge;
    int graph_error = sp->graph_errors && cr_graph_error_parse(view.body, view.body_len, &ge) == 0;
    if (ok_status && !graph_error) {
        char why[160];
        if (s_success(p, task, &view, now_ms, r, why, sizeof why) == 0) return;
        snprintf(buf, sizeof buf,
                 "malformed success answer from the %s token endpoint (%s), not trusted%s",
                 sp->name, why,
                 sp->rotates ? "; the refresh token sent may have been rotated: if the next "
                               "refresh is refused, the account must be reconnected"
                             : "");
        s_set(r, task, CRIEUR__OUTCOME__OUTCOME_TRANSIENT, buf, "malformed_success");
        r->http_status = (int)st;
        return;
    }
    if (sp->graph_errors) s_graph_failure(task, &view, now_ms, r);
    else s_oauth_failure(p, task, &view, now_ms, r);
    r->http_status = st > 0 && st < 1000 ? (int)st : 0;
}

/* ---- adapters ---------------------------------------------------------- */

static int s_step(cr_refresh_platform_t p, cr_call_t *call, const cr_http_resp_t *prev)
{
    if (call->step == 0) {
        if (cr_refresh_request(p, call->task, &call->req, &call->result)) return CR_STEP_DONE;
        call->step = 1;
        return CR_STEP_REQUEST;
    }
    if (!prev) /* no wait is ever asked for: an adapter bug */
        return cr_call_done(call, CRIEUR__OUTCOME__OUTCOME_INDETERMINATE, 0,
                            "refresh step without an answer", "internal");
    cr_refresh_result(p, call->task, prev, call->now_ms, &call->result);
    return CR_STEP_DONE;
}

static int s_x_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    return s_step(CR_REFRESH_X, call, prev);
}

static int s_threads_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    return s_step(CR_REFRESH_THREADS, call, prev);
}

static int s_linkedin_step(cr_call_t *call, const cr_http_resp_t *prev)
{
    return s_step(CR_REFRESH_LINKEDIN, call, prev);
}

const cr_adapter_t cr_x_refresh_adapter = {
    .platform = "x",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH),
    .step = s_x_step,
    .release = NULL,
};

const cr_adapter_t cr_threads_refresh_adapter = {
    .platform = "threads",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH),
    .step = s_threads_step,
    .release = NULL,
};

const cr_adapter_t cr_linkedin_refresh_adapter = {
    .platform = "linkedin",
    .kinds = CR_KIND_BIT(CRIEUR__JOB_KIND__KIND_TOKEN_REFRESH),
    .step = s_linkedin_step,
    .release = NULL,
};
