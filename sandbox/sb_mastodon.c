/*
 * sb_mastodon: the Mastodon API, mounted under /mastodon.
 *
 * Answers like a Mastodon 4.x instance for what Crieur uses: publishing
 * (POST /api/v1/statuses with Idempotency-Key), reading statuses back,
 * deleting, media upload (images checked by signature; v2 uploads answer 202
 * and stay processing for --mastodon-media-delay-ms when it is set; 30
 * uploads per 30 minutes per account), mentions through
 * notifications, instance configuration; with Mastodon's two rate limits
 * (per token on every request, per account on status creation) and headers.
 * Every Mastodon constant lives here.
 *
 * Statuses are kept in id order (ids are snowflakes, always increasing), so
 * lookups are binary searches. All state is guarded by the world lock.
 */
#include "sb_log.h"
#include "sb_map.h"
#include "sb_media.h"
#include "sb_params.h"
#include "sb_text.h"
#include "sb_vec.h"
#include "sb_world.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_VEC_FIRST 256 /* first capacity of a list */

#define S_IDEMPOTENCY_TTL_US (3600ull * 1000000ull)   /* Mastodon: 1 hour */
#define S_MAX_MEDIA 4
#define S_URL_LENGTH 23                               /* characters_reserved_per_url */
#define S_ACCOUNT_STATUSES_DEFAULT 20
#define S_ACCOUNT_STATUSES_MAX 40
#define S_NOTIFICATIONS_DEFAULT 40
#define S_NOTIFICATIONS_MAX 80
#define S_BATCH_MAX 80

#define S_ERR_TOKEN "The access token is invalid"
#define S_ERR_NOT_FOUND "Record not found"
#define S_ERR_RATE "Too many requests"
#define S_ERR_BLANK "Validation failed: Text can't be blank"
#define S_ERR_PARSE "Error occurred while parsing request parameters"
#define S_ERR_REPLY "The post you are trying to reply to does not appear to exist."
#define S_ERR_TOO_MANY_MEDIA "Cannot attach more than 4 files"
#define S_ERR_VISIBILITY "Validation failed: Visibility is not included in the list"
#define S_ERR_NOT_READY "Cannot attach files that have not finished processing. Try again in a moment!"
#define S_ERR_MEDIA_TYPE "Validation failed: File content type is invalid, File file type is not supported"

typedef struct {
    uint64_t id;
    uint64_t account_id;
    uint64_t created_us;
    char *description;
    char mime[64];
    size_t size;
    uint64_t status_id;   /* 0 while unattached */
    uint64_t ready_us;    /* processing until then (0: processed) */
} s_media_t;

typedef struct {
    uint64_t id;
    sb_account_t *account;    /* owned by the accounts module; reset together */
    sb_account_t *mention;    /* account mentioned (injected mentions), or NULL */
    uint64_t created_us;
    uint64_t in_reply_to_id;  /* 0 = none */
    uint64_t in_reply_to_account_id;
    char *text;               /* source text */
    char *content;            /* rendered HTML */
    char *spoiler_text;
    char language[16];        /* "" = null */
    char visibility[12];
    bool sensitive;
    bool deleted;
    int64_t replies_count;
    int64_t reblogs_count;
    int64_t favourites_count;
    uint64_t media[S_MAX_MEDIA];
    size_t nmedia;
} s_status_t;

typedef struct {
    uint64_t id;
    sb_account_t *account;   /* who is notified */
    sb_account_t *from;
    s_status_t *status;
    uint64_t created_us;
} s_notification_t;

typedef struct {
    sb_vec_t statuses;   /* s_status_t *, id order */
    size_t live;        /* not deleted */
    uint64_t last_status_us;
} s_timeline_t;

typedef struct {
    uint64_t status_id;
    uint64_t created_us;
} s_idempotency_t;

typedef struct {
    sb_world_t *world;
    sb_vec_t statuses;         /* s_status_t * (owned), id order */
    sb_vec_t notifications;    /* s_notification_t * (owned), id order */
    sb_map_t *timelines;      /* account id -> s_timeline_t */
    sb_map_t *idempotency;    /* "account id\x1fkey" -> s_idempotency_t */
    sb_map_t *media;          /* media id -> s_media_t */
    uint64_t next_notification_id;
} s_mastodon_t;

/* ------------------------------------------------------------------------ */
/* Small containers                                                          */

static void
s_status_free (s_status_t *s)
{
    if (!s)
        return;
    free (s->text);
    free (s->content);
    free (s->spoiler_text);
    free (s);
}

static void
s_timeline_free (void *p)
{
    s_timeline_t *t = p;
    free (t->statuses.items);
    free (t);
}

static void
s_media_free (void *p)
{
    s_media_t *m = p;
    free (m->description);
    free (m);
}

static void
s_plain_free (void *p)
{
    free (p);
}

static s_status_t *
s_find_status (const s_mastodon_t *self, uint64_t id)
{
    size_t lo = 0, hi = self->statuses.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        s_status_t *s = self->statuses.items[mid];
        if (s->id == id)
            return s->deleted ? NULL : s;
        if (s->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static s_timeline_t *
s_timeline (s_mastodon_t *self, uint64_t account_id, bool create)
{
    char key[24];
    snprintf (key, sizeof (key), "%llu", (unsigned long long) account_id);
    s_timeline_t *t = sb_map_get (self->timelines, key);
    if (!t && create) {
        t = calloc (1, sizeof (*t));
        if (t && sb_map_put (self->timelines, key, t) != 0) {
            free (t);
            t = NULL;
        }
    }
    return t;
}

static bool
s_visible_to (const s_status_t *s, const sb_account_t *viewer)
{
    if (strcmp (s->visibility, "public") == 0 || strcmp (s->visibility, "unlisted") == 0)
        return true;
    if (!viewer)
        return false;
    return viewer == s->account || viewer == s->mention;
}

/* ------------------------------------------------------------------------ */
/* Text: length and HTML, as Mastodon's validator and formatter do            */

static size_t
s_text_length (const char *text, size_t len)
{
    size_t count = 0;
    size_t i = 0;
    while (i < len) {
        size_t url = (text[i] == 'h') ? sb_url_at (text, len, i) : 0;
        if (url) {
            count += S_URL_LENGTH;
            i += url;
            continue;
        }
        if (((unsigned char) text[i] & 0xC0) != 0x80)
            count++;
        i++;
    }
    return count;
}

static void
s_render_link (sb_buf_t *out, const char *url, size_t len)
{
    size_t scheme = (len > 8 && strncmp (url, "https://", 8) == 0) ? 8 : 7;
    const char *rest = url + scheme;
    size_t rlen = len - scheme;
    size_t shown = rlen > 30 ? 30 : rlen;
    sb_buf_adds (out, "<a href=\"");
    sb_buf_add_html (out, url, len);
    sb_buf_adds (out, "\" target=\"_blank\" rel=\"nofollow noopener\" translate=\"no\">"
                      "<span class=\"invisible\">");
    sb_buf_add_html (out, url, scheme);
    sb_buf_adds (out, rlen > 30 ? "</span><span class=\"ellipsis\">" : "</span><span class=\"\">");
    sb_buf_add_html (out, rest, shown);
    sb_buf_adds (out, "</span><span class=\"invisible\">");
    sb_buf_add_html (out, rest + shown, rlen - shown);
    sb_buf_adds (out, "</span></a>");
}

/* <p>..</p> paragraphs on blank lines, <br /> on single newlines, links. */
static void
s_render_content (sb_buf_t *out, const char *prefix_html, const char *text, size_t len)
{
    sb_buf_adds (out, "<p>");
    if (prefix_html)
        sb_buf_adds (out, prefix_html);
    size_t i = 0, run = 0;
    while (i < len) {
        char c = text[i];
        size_t url = (c == 'h') ? sb_url_at (text, len, i) : 0;
        if (url || c == '\n' || c == '\r') {
            sb_buf_add_html (out, text + run, i - run);
            if (url) {
                s_render_link (out, text + i, url);
                i += url;
            }
            else if (c == '\r')
                i++;
            else {
                size_t j = i + 1;
                while (j < len && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r'))
                    j++;
                if (j < len && text[j] == '\n') {
                    while (j < len && (text[j] == '\n' || text[j] == '\r'))
                        j++;
                    sb_buf_adds (out, "</p><p>");
                    i = j;
                }
                else {
                    sb_buf_adds (out, "<br />");
                    i++;
                }
            }
            run = i;
            continue;
        }
        i++;
    }
    sb_buf_add_html (out, text + run, len - run);
    sb_buf_adds (out, "</p>");
}

/* ------------------------------------------------------------------------ */
/* JSON rendering                                                            */

static void
s_time_field (sb_buf_t *out, const char *name, uint64_t us)
{
    char when[40];
    sb_format_time (us, 3, when, sizeof (when));
    sb_buf_printf (out, ",\"%s\":\"%s\"", name, when);
}

static void
s_render_account (s_mastodon_t *self, sb_buf_t *out, const sb_account_t *a, bool credential)
{
    const char *base = self->world->base_url;
    s_timeline_t *t = s_timeline (self, a->id, false);
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_id (out, a->id);
    sb_buf_adds (out, ",\"username\":");
    sb_buf_add_json_str (out, a->handle);
    sb_buf_adds (out, ",\"acct\":");
    sb_buf_add_json_str (out, a->handle);
    sb_buf_adds (out, ",\"display_name\":");
    sb_buf_add_json_str (out, a->handle);
    sb_buf_adds (out, ",\"locked\":false,\"bot\":false,\"discoverable\":true,\"group\":false");
    /* Mastodon rounds account creation to the day */
    s_time_field (out, "created_at", a->created_us - a->created_us % (86400ull * 1000000ull));
    sb_buf_printf (out,
                   ",\"note\":\"\",\"url\":\"%s/mastodon/@%s\",\"uri\":\"%s/mastodon/users/%s\""
                   ",\"avatar\":\"%s/mastodon/avatars/original/missing.png\""
                   ",\"avatar_static\":\"%s/mastodon/avatars/original/missing.png\""
                   ",\"header\":\"%s/mastodon/headers/original/missing.png\""
                   ",\"header_static\":\"%s/mastodon/headers/original/missing.png\""
                   ",\"followers_count\":0,\"following_count\":0,\"statuses_count\":%zu",
                   base, a->handle, base, a->handle, base, base, base, base, t ? t->live : 0);
    if (t && t->last_status_us) {
        char day[40];
        sb_format_time (t->last_status_us, 0, day, sizeof (day));
        day[10] = '\0';
        sb_buf_printf (out, ",\"last_status_at\":\"%s\"", day);
    }
    else
        sb_buf_adds (out, ",\"last_status_at\":null");
    sb_buf_adds (out, ",\"emojis\":[],\"fields\":[]");
    if (credential)
        sb_buf_adds (out, ",\"source\":{\"privacy\":\"public\",\"sensitive\":false,"
                          "\"language\":null,\"note\":\"\",\"fields\":[],"
                          "\"follow_requests_count\":0}");
    sb_buf_addc (out, '}');
}

static bool
s_media_processing (const s_media_t *m, uint64_t now_us)
{
    return m->ready_us && now_us < m->ready_us;
}

static void
s_render_media (s_mastodon_t *self, sb_buf_t *out, const s_media_t *m, bool processing)
{
    const char *base = self->world->base_url;
    const char *type = strncmp (m->mime, "video/", 6) == 0   ? "video"
                       : strncmp (m->mime, "audio/", 6) == 0 ? "audio"
                       : strcmp (m->mime, "image/gif") == 0  ? "gifv"
                                                             : "image";
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_id (out, m->id);
    sb_buf_printf (out, ",\"type\":\"%s\"", type);
    if (processing)   /* Mastodon: url null until processed, preview already there */
        sb_buf_adds (out, ",\"url\":null");
    else
        sb_buf_printf (out, ",\"url\":\"%s/mastodon/system/media_attachments/%llu\"", base,
                       (unsigned long long) m->id);
    sb_buf_printf (out,
                   ",\"preview_url\":\"%s/mastodon/system/media_attachments/%llu/small\""
                   ",\"remote_url\":null,\"text_url\":null,\"meta\":{},\"description\":",
                   base, (unsigned long long) m->id);
    sb_buf_add_json_str (out, m->description);
    sb_buf_adds (out, ",\"blurhash\":null}");
}

static void
s_render_status (s_mastodon_t *self, sb_buf_t *out, const s_status_t *s, bool with_source)
{
    const char *base = self->world->base_url;
    const char *handle = s->account->handle;
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_id (out, s->id);
    s_time_field (out, "created_at", s->created_us);
    sb_buf_adds (out, ",\"in_reply_to_id\":");
    if (s->in_reply_to_id) {
        sb_buf_add_json_id (out, s->in_reply_to_id);
        sb_buf_adds (out, ",\"in_reply_to_account_id\":");
        sb_buf_add_json_id (out, s->in_reply_to_account_id);
    }
    else
        sb_buf_adds (out, "null,\"in_reply_to_account_id\":null");
    sb_buf_printf (out, ",\"sensitive\":%s,\"spoiler_text\":", s->sensitive ? "true" : "false");
    sb_buf_add_json_str (out, s->spoiler_text ? s->spoiler_text : "");
    sb_buf_printf (out, ",\"visibility\":\"%s\",\"language\":", s->visibility);
    sb_buf_add_json_str (out, s->language[0] ? s->language : NULL);
    sb_buf_printf (out, ",\"uri\":\"%s/mastodon/users/%s/statuses/%llu\"", base, handle,
                   (unsigned long long) s->id);
    sb_buf_printf (out, ",\"url\":\"%s/mastodon/@%s/%llu\"", base, handle,
                   (unsigned long long) s->id);
    sb_buf_printf (out,
                   ",\"replies_count\":%lld,\"reblogs_count\":%lld,\"favourites_count\":%lld"
                   ",\"quotes_count\":0,\"edited_at\":null,\"favourited\":false,"
                   "\"reblogged\":false,\"muted\":false,\"bookmarked\":false,\"pinned\":false",
                   (long long) s->replies_count, (long long) s->reblogs_count,
                   (long long) s->favourites_count);
    sb_buf_adds (out, ",\"content\":");
    sb_buf_add_json_str (out, s->content);
    if (with_source) {
        sb_buf_adds (out, ",\"text\":");
        sb_buf_add_json_str (out, s->text);
    }
    sb_buf_adds (out, ",\"filtered\":[],\"reblog\":null,"
                      "\"application\":{\"name\":\"crieur-sandbox\",\"website\":null},"
                      "\"account\":");
    s_render_account (self, out, s->account, false);
    sb_buf_adds (out, ",\"media_attachments\":[");
    for (size_t i = 0; i < s->nmedia; i++) {
        char key[24];
        snprintf (key, sizeof (key), "%llu", (unsigned long long) s->media[i]);
        s_media_t *m = sb_map_get (self->media, key);
        if (!m)
            continue;
        if (i)
            sb_buf_addc (out, ',');
        s_render_media (self, out, m, false);
    }
    sb_buf_adds (out, "],\"mentions\":[");
    if (s->mention) {
        sb_buf_adds (out, "{\"id\":");
        sb_buf_add_json_id (out, s->mention->id);
        sb_buf_adds (out, ",\"username\":");
        sb_buf_add_json_str (out, s->mention->handle);
        sb_buf_printf (out, ",\"url\":\"%s/mastodon/@%s\",\"acct\":", base, s->mention->handle);
        sb_buf_add_json_str (out, s->mention->handle);
        sb_buf_addc (out, '}');
    }
    sb_buf_adds (out, "],\"tags\":[],\"emojis\":[],\"card\":null,\"poll\":null}");
}

static void
s_render_notification (s_mastodon_t *self, sb_buf_t *out, const s_notification_t *n)
{
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_id (out, n->id);
    sb_buf_adds (out, ",\"type\":\"mention\"");
    s_time_field (out, "created_at", n->created_us);
    sb_buf_printf (out, ",\"group_key\":\"ungrouped-%llu\",\"account\":",
                   (unsigned long long) n->id);
    s_render_account (self, out, n->from, false);
    sb_buf_adds (out, ",\"status\":");
    s_render_status (self, out, n->status, false);
    sb_buf_addc (out, '}');
}

/* ------------------------------------------------------------------------ */
/* Authentication and rate limits                                            */

static const char *
s_bearer (const sb_req_t *req)
{
    const char *auth = sb_req_header (req, MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && sb_prefix_ci (auth, "Bearer ")) {
        auth += 7;
        while (*auth == ' ')
            auth++;
        return *auth ? auth : NULL;
    }
    const char *param = sb_req_arg (req, "access_token");
    return (param && *param) ? param : NULL;
}

/* Lock held. Resolves the token; with --open, creates the account. */
static sb_account_t *
s_authenticate (s_mastodon_t *self, const char *token, uint64_t now_us)
{
    sb_world_t *world = self->world;
    if (strlen (token) > 1024 || sb_accounts_revoked (world->accounts, token))
        return NULL;
    sb_account_t *a = sb_accounts_by_token (world->accounts, "mastodon", token);
    if (a || !world->config->open)
        return a;
    char handle[SB_HANDLE_MAX];
    sb_accounts_open_handle (token, handle, sizeof (handle));
    a = sb_accounts_ensure (world->accounts, "mastodon", handle,
                            sb_world_next_id (world, now_us), now_us);
    if (a && sb_accounts_add_token (world->accounts, a, token) != 0)
        return NULL;
    return a;
}

static void
s_rate_headers (sb_reply_t *rep, const sb_rate_t *rate)
{
    char value[64];
    snprintf (value, sizeof (value), "%lld", (long long) rate->limit);
    sb_reply_header (rep, "X-RateLimit-Limit", value);
    snprintf (value, sizeof (value), "%lld", (long long) rate->remaining);
    sb_reply_header (rep, "X-RateLimit-Remaining", value);
    sb_format_time (rate->reset_us, 6, value, sizeof (value));
    sb_reply_header (rep, "X-RateLimit-Reset", value);
}

static void
s_request_rate (s_mastodon_t *self, const char *token, uint64_t now_us, int64_t cost,
                sb_rate_t *rate)
{
    const sb_config_t *c = self->world->config;
    char key[1100];
    snprintf (key, sizeof (key), "mastodon/req/%.1024s", token);
    sb_ratelimit_hit (self->world->rates, key, c->mastodon_request_limit,
                      c->mastodon_request_window_s, SB_WINDOW_ALIGNED, now_us, cost, rate);
}

static void
s_status_rate (s_mastodon_t *self, const sb_account_t *a, uint64_t now_us, int64_t cost,
               sb_rate_t *rate)
{
    const sb_config_t *c = self->world->config;
    char key[64];
    snprintf (key, sizeof (key), "mastodon/statuses/%llu", (unsigned long long) a->id);
    sb_ratelimit_hit (self->world->rates, key, c->mastodon_status_limit,
                      c->mastodon_status_window_s, SB_WINDOW_FIRST_HIT, now_us, cost, rate);
}

/* Mastodon's media upload limit: 30 per 30 minutes per account. */
static void
s_media_rate (s_mastodon_t *self, const sb_account_t *a, uint64_t now_us, int64_t cost,
              sb_rate_t *rate)
{
    const sb_config_t *c = self->world->config;
    char key[64];
    snprintf (key, sizeof (key), "mastodon/media/%llu", (unsigned long long) a->id);
    sb_ratelimit_hit (self->world->rates, key, c->mastodon_media_limit,
                      c->mastodon_media_window_s, SB_WINDOW_FIRST_HIT, now_us, cost, rate);
}

/* ------------------------------------------------------------------------ */
/* Paging (max_id / since_id / min_id / limit) and Link headers              */

typedef struct {
    uint64_t max_id, since_id, min_id;
    size_t limit;
} s_page_t;

static void
s_page_parse (const sb_req_t *req, size_t def, size_t max, s_page_t *page)
{
    memset (page, 0, sizeof (*page));
    page->limit = def;
    int64_t limit;
    const char *v = sb_req_arg (req, "limit");
    if (v && sb_parse_i64 (v, 1, INT64_MAX, &limit) == 0)
        page->limit = (size_t) (limit < (int64_t) max ? limit : (int64_t) max);
    if ((v = sb_req_arg (req, "max_id")))
        sb_parse_u64 (v, &page->max_id);
    if ((v = sb_req_arg (req, "since_id")))
        sb_parse_u64 (v, &page->since_id);
    if ((v = sb_req_arg (req, "min_id")))
        sb_parse_u64 (v, &page->min_id);
}

static bool
s_page_in (const s_page_t *page, uint64_t id)
{
    return (!page->max_id || id < page->max_id) && id > page->since_id && id > page->min_id;
}

static void
s_link_header (s_mastodon_t *self, sb_reply_t *rep, const char *path, const char *extra,
               uint64_t newest, uint64_t oldest)
{
    char value[1024];
    snprintf (value, sizeof (value),
              "<%s/mastodon%s?%smax_id=%llu>; rel=\"next\", <%s/mastodon%s?%smin_id=%llu>; "
              "rel=\"prev\"",
              self->world->base_url, path, extra, (unsigned long long) oldest,
              self->world->base_url, path, extra, (unsigned long long) newest);
    sb_reply_header (rep, "Link", value);
}

/* ------------------------------------------------------------------------ */
/* Endpoints (lock held)                                                     */

static void
s_instance (s_mastodon_t *self, const sb_req_t *req, sb_reply_t *rep, bool v2)
{
    sb_world_t *world = self->world;
    sb_buf_t *out = &rep->body;
    rep->status = 200;
    sb_buf_adds (out, v2 ? "{\"domain\":" : "{\"uri\":");
    sb_buf_add_json_str (out, world->authority);
    sb_buf_adds (out, ",\"title\":\"Crieur sandbox\",\"version\":\"4.3.0 (compatible; "
                      "crieur-sandbox)\",\"description\":\"Local Mastodon imitation for "
                      "tests\",\"languages\":[\"en\",\"fr\"],");
    if (!v2)
        sb_buf_printf (out, "\"max_toot_chars\":%lld,", (long long) world->config->max_characters);
    sb_buf_printf (
        out,
        "\"configuration\":{\"accounts\":{\"max_featured_tags\":10,\"max_pinned_statuses\":5},"
        "\"statuses\":{\"max_characters\":%lld,\"max_media_attachments\":%d,"
        "\"characters_reserved_per_url\":%d},"
        "\"media_attachments\":{\"supported_mime_types\":[\"image/jpeg\",\"image/png\","
        "\"image/gif\",\"image/webp\",\"video/mp4\"],\"image_size_limit\":%u,"
        "\"image_matrix_limit\":33177600,\"video_size_limit\":%u,"
        "\"video_frame_rate_limit\":120,\"video_matrix_limit\":8294400},"
        "\"polls\":{\"max_options\":4,\"max_characters_per_option\":50,"
        "\"min_expiration\":300,\"max_expiration\":2629746},\"translation\":{\"enabled\":false}},"
        "\"registrations\":{\"enabled\":false,\"approval_required\":false,\"message\":null},"
        "\"contact\":{\"email\":\"\",\"account\":null},\"rules\":[]}",
        (long long) world->config->max_characters, S_MAX_MEDIA, S_URL_LENGTH, 1024u * 1024u,
        1024u * 1024u);
}

/* now - then, 0 when then is later (a clock read before the lock). */
static uint64_t
s_age_us (uint64_t now_us, uint64_t then_us)
{
    return now_us > then_us ? now_us - then_us : 0;
}

static void
s_create_status (s_mastodon_t *self, const sb_req_t *req, const sb_params_t *params,
                 sb_account_t *account, const char *token, sb_reply_t *rep)
{
    sb_world_t *world = self->world;
    sb_rate_t rate;
    s_status_t *status = NULL;
    char idem_key[1200] = "";
    const char *idem = sb_req_header (req, "Idempotency-Key");

    if (idem && *idem && strlen (idem) <= 1024) {
        snprintf (idem_key, sizeof (idem_key), "%llu\x1f%s", (unsigned long long) account->id,
                  idem);
        s_idempotency_t *prior = sb_map_get (self->idempotency, idem_key);
        /* Each request reads its clock before it takes the world lock, so a
         * request that lost the race for the lock may be "older" than the
         * record the winner just made: the age saturates at 0 instead of
         * wrapping around (which made the record look expired and created a
         * second status for one key under --threads >= 2). Check and create
         * both happen under the world lock. */
        if (prior && s_age_us (req->now_us, prior->created_us) < S_IDEMPOTENCY_TTL_US) {
            s_status_t *original = s_find_status (self, prior->status_id);
            if (original) {
                s_status_rate (self, account, req->now_us, 0, &rate);
                s_rate_headers (rep, &rate);
                rep->status = 200;
                s_render_status (self, &rep->body, original, false);
                return;
            }
        }
    }
    else
        idem = NULL;

    size_t text_len = 0, spoiler_len = 0;
    const char *text = sb_params_get (params, "status", &text_len);
    const char *spoiler = sb_params_get (params, "spoiler_text", &spoiler_len);
    const char *visibility = sb_params_get (params, "visibility", NULL);
    const char *language = sb_params_get (params, "language", NULL);
    const char *sensitive = sb_params_get (params, "sensitive", NULL);
    const char *reply_to = sb_params_get (params, "in_reply_to_id", NULL);
    const char *media_ids[SB_MAX_PARAMS];
    size_t nmedia_ids = sb_params_all (params, "media_ids[]", media_ids, SB_MAX_PARAMS);
    if (!text) {
        text = "";
        text_len = 0;
    }
    if (!spoiler) {
        spoiler = "";
        spoiler_len = 0;
    }
    if (visibility && *visibility && strcmp (visibility, "public") != 0
        && strcmp (visibility, "unlisted") != 0 && strcmp (visibility, "private") != 0
        && strcmp (visibility, "direct") != 0) {
        sb_reply_error (rep, 422, S_ERR_VISIBILITY);
        return;
    }
    if (nmedia_ids > S_MAX_MEDIA) {
        sb_reply_error (rep, 422, S_ERR_TOO_MANY_MEDIA);
        return;
    }
    /* Like Mastodon >= 4.3: an id that is unknown, another account's or
     * already attached is refused (4.2 and older dropped it silently), and
     * so is media still processing. */
    s_media_t *media[S_MAX_MEDIA];
    size_t nmedia = 0;
    sb_buf_t missing;
    sb_buf_init (&missing);
    bool not_ready = false;
    for (size_t i = 0; i < nmedia_ids; i++) {
        s_media_t *m = sb_map_get (self->media, media_ids[i]);
        if (m && m->account_id == account->id && m->status_id == 0) {
            bool dup = false;
            for (size_t j = 0; j < nmedia; j++)
                dup |= media[j] == m;
            if (!dup)
                media[nmedia++] = m;
            not_ready |= s_media_processing (m, req->now_us);
        }
        else {
            if (missing.len)
                sb_buf_adds (&missing, ", ");
            sb_buf_add (&missing, media_ids[i], strnlen (media_ids[i], 64));
        }
    }
    if (missing.len) {
        char msg[400];
        snprintf (msg, sizeof (msg), "Media %s not found or already attached to another post",
                  missing.data);
        sb_buf_free (&missing);
        sb_reply_error (rep, 422, msg);
        return;
    }
    sb_buf_free (&missing);
    if (not_ready) {
        sb_reply_error (rep, 422, S_ERR_NOT_READY);
        return;
    }
    if (sb_blank (text) && nmedia == 0) {
        sb_reply_error (rep, 422, S_ERR_BLANK);
        return;
    }
    /* Mastodon counts the content warning with the text. */
    if (s_text_length (text, text_len) + s_text_length (spoiler, spoiler_len)
        > (size_t) world->config->max_characters) {
        char msg[128];
        snprintf (msg, sizeof (msg), "Validation failed: Text character limit of %lld exceeded",
                  (long long) world->config->max_characters);
        sb_reply_error (rep, 422, msg);
        return;
    }
    s_status_t *parent = NULL;
    if (reply_to && *reply_to) {
        uint64_t pid = 0;
        parent = sb_parse_u64 (reply_to, &pid) == 0 ? s_find_status (self, pid) : NULL;
        if (!parent || !s_visible_to (parent, account)) {
            sb_reply_error (rep, 404, S_ERR_REPLY);
            return;
        }
    }
    s_status_rate (self, account, req->now_us, 0, &rate);
    if (!rate.allowed) {
        s_rate_headers (rep, &rate);
        sb_reply_error (rep, 429, S_ERR_RATE);
        return;
    }

    status = calloc (1, sizeof (*status));
    sb_buf_t content;
    sb_buf_init (&content);
    if (!status)
        goto oom;
    status->id = sb_world_next_id (world, req->now_us);
    status->account = account;
    status->created_us = req->now_us;
    status->text = strdup (text);
    status->spoiler_text = strdup (spoiler);
    s_render_content (&content, NULL, text, text_len);
    status->content = sb_buf_steal (&content, NULL);
    if (!status->text || !status->spoiler_text || !status->content)
        goto oom;
    snprintf (status->visibility, sizeof (status->visibility), "%s",
              visibility && *visibility ? visibility : "public");
    if (language && *language && strlen (language) < sizeof (status->language))
        snprintf (status->language, sizeof (status->language), "%s", language);
    status->sensitive = (sensitive && (strcmp (sensitive, "true") == 0
                                       || strcmp (sensitive, "1") == 0))
                        || spoiler_len > 0;
    if (parent) {
        status->in_reply_to_id = parent->id;
        status->in_reply_to_account_id = parent->account->id;
    }
    s_timeline_t *timeline = s_timeline (self, account->id, true);
    if (!timeline || sb_vec_push (&self->statuses, status, S_VEC_FIRST) != 0)
        goto oom;
    if (sb_vec_push (&timeline->statuses, status, S_VEC_FIRST) != 0) {
        self->statuses.len--;
        goto oom;
    }
    timeline->live++;
    timeline->last_status_us = req->now_us;
    for (size_t i = 0; i < nmedia; i++) {
        media[i]->status_id = status->id;
        status->media[status->nmedia++] = media[i]->id;
    }
    if (parent)
        parent->replies_count++;

    char id[24], url[512];
    snprintf (id, sizeof (id), "%llu", (unsigned long long) status->id);
    snprintf (url, sizeof (url), "%s/mastodon/@%s/%s", world->base_url, account->handle, id);
    char media_id[S_MAX_MEDIA][24];
    const char *media_list[S_MAX_MEDIA];
    for (size_t i = 0; i < status->nmedia; i++) {
        snprintf (media_id[i], sizeof (media_id[i]), "%llu", (unsigned long long) status->media[i]);
        media_list[i] = media_id[i];
    }
    sb_ledger_entry_t entry = { .created_us = req->now_us,
                                .platform = "mastodon",
                                .account = account->handle,
                                .id = id,
                                .url = url,
                                .text = text,
                                .idempotency_key = idem,
                                .media = media_list,
                                .nmedia = status->nmedia };
    if (sb_ledger_append (world->ledger, &entry) == 0)
        SB_WARN ("ledger append failed for status %s", id);
    if (idem) {
        s_idempotency_t *record = malloc (sizeof (*record));
        if (record) {
            record->status_id = status->id;
            record->created_us = req->now_us;
            if (sb_map_put (self->idempotency, idem_key, record) != 0)
                free (record);
        }
    }
    s_status_rate (self, account, req->now_us, 1, &rate);
    s_rate_headers (rep, &rate);
    rep->status = 200;
    s_render_status (self, &rep->body, status, false);
    (void) token;
    return;
oom:
    sb_buf_free (&content);
    s_status_free (status);
    sb_reply_error (rep, 500, "out of memory");
}

static void
s_get_status (s_mastodon_t *self, uint64_t id, const sb_account_t *viewer, sb_reply_t *rep)
{
    s_status_t *s = s_find_status (self, id);
    if (!s || !s_visible_to (s, viewer)) {
        sb_reply_error (rep, 404, S_ERR_NOT_FOUND);
        return;
    }
    rep->status = 200;
    s_render_status (self, &rep->body, s, false);
}

static void
s_delete_status (s_mastodon_t *self, uint64_t id, sb_account_t *account, sb_reply_t *rep)
{
    s_status_t *s = s_find_status (self, id);
    if (!s || s->account != account) {
        sb_reply_error (rep, 404, S_ERR_NOT_FOUND);
        return;
    }
    rep->status = 200;
    s_render_status (self, &rep->body, s, true);
    s->deleted = true;
    s_timeline_t *t = s_timeline (self, account->id, false);
    if (t && t->live > 0)
        t->live--;
    if (s->in_reply_to_id) {
        s_status_t *parent = s_find_status (self, s->in_reply_to_id);
        if (parent && parent->replies_count > 0)
            parent->replies_count--;
    }
}

static void
s_batch_statuses (s_mastodon_t *self, const sb_req_t *req, const sb_account_t *viewer,
                  sb_reply_t *rep)
{
    const char *ids[S_BATCH_MAX];
    size_t n = sb_req_args (req, "id[]", ids, S_BATCH_MAX);
    if (n == 0) {
        sb_reply_error (rep, 400, "param is missing or the value is empty: id");
        return;
    }
    rep->status = 200;
    sb_buf_addc (&rep->body, '[');
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t id;
        if (sb_parse_u64 (ids[i], &id) != 0)
            continue;
        s_status_t *s = s_find_status (self, id);
        if (!s || !s_visible_to (s, viewer))
            continue;
        if (shown++)
            sb_buf_addc (&rep->body, ',');
        s_render_status (self, &rep->body, s, false);
    }
    sb_buf_addc (&rep->body, ']');
}

static void
s_context (s_mastodon_t *self, uint64_t id, const sb_account_t *viewer, sb_reply_t *rep)
{
    s_status_t *s = s_find_status (self, id);
    if (!s || !s_visible_to (s, viewer)) {
        sb_reply_error (rep, 404, S_ERR_NOT_FOUND);
        return;
    }
    sb_buf_t *out = &rep->body;
    rep->status = 200;
    /* ancestors: walk up, then print oldest first */
    s_status_t *chain[64];
    size_t depth = 0;
    for (s_status_t *p = s; p->in_reply_to_id && depth < 64;) {
        p = s_find_status (self, p->in_reply_to_id);
        if (!p)
            break;
        chain[depth++] = p;
    }
    sb_buf_adds (out, "{\"ancestors\":[");
    for (size_t i = depth; i > 0; i--) {
        s_render_status (self, out, chain[i - 1], false);
        if (i > 1)
            sb_buf_addc (out, ',');
    }
    sb_buf_adds (out, "],\"descendants\":[");
    /* descendants are newer: scan forward, keeping a set of ids in the thread */
    uint64_t *thread = malloc (sizeof (uint64_t) * 1024);
    size_t nthread = 0, shown = 0;
    if (thread) {
        thread[nthread++] = s->id;
        size_t lo = 0, hi = self->statuses.len;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (((s_status_t *) self->statuses.items[mid])->id <= s->id)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; i < self->statuses.len && nthread < 1024; i++) {
            s_status_t *d = self->statuses.items[i];
            if (d->deleted || !d->in_reply_to_id)
                continue;
            bool in = false;
            for (size_t k = 0; k < nthread && !in; k++)
                in = thread[k] == d->in_reply_to_id;
            if (!in)
                continue;
            thread[nthread++] = d->id;
            if (!s_visible_to (d, viewer))
                continue;
            if (shown++)
                sb_buf_addc (out, ',');
            s_render_status (self, out, d, false);
        }
        free (thread);
    }
    sb_buf_adds (out, "]}");
}

static void
s_account_statuses (s_mastodon_t *self, const sb_req_t *req, uint64_t account_id,
                    const sb_account_t *viewer, sb_reply_t *rep)
{
    sb_account_t *a = sb_accounts_find_id (self->world->accounts, account_id);
    if (!a || strcmp (a->platform, "mastodon") != 0) {
        sb_reply_error (rep, 404, S_ERR_NOT_FOUND);
        return;
    }
    s_page_t page;
    s_page_parse (req, S_ACCOUNT_STATUSES_DEFAULT, S_ACCOUNT_STATUSES_MAX, &page);
    bool exclude_replies = false;
    const char *v = sb_req_arg (req, "exclude_replies");
    if (v && (strcmp (v, "true") == 0 || strcmp (v, "1") == 0))
        exclude_replies = true;
    s_timeline_t *t = s_timeline (self, account_id, false);
    s_status_t *picked[S_ACCOUNT_STATUSES_MAX];
    size_t n = 0;
    if (t && page.min_id) {
        /* the page just after min_id: oldest first, then reversed */
        for (size_t i = 0; i < t->statuses.len && n < page.limit; i++) {
            s_status_t *s = t->statuses.items[i];
            if (!s->deleted && s_page_in (&page, s->id) && s_visible_to (s, viewer)
                && !(exclude_replies && s->in_reply_to_id))
                picked[n++] = s;
        }
        for (size_t i = 0; i < n / 2; i++) {
            s_status_t *tmp = picked[i];
            picked[i] = picked[n - 1 - i];
            picked[n - 1 - i] = tmp;
        }
    }
    else if (t) {
        for (size_t i = t->statuses.len; i > 0 && n < page.limit; i--) {
            s_status_t *s = t->statuses.items[i - 1];
            if (!s->deleted && s_page_in (&page, s->id) && s_visible_to (s, viewer)
                && !(exclude_replies && s->in_reply_to_id))
                picked[n++] = s;
        }
    }
    rep->status = 200;
    sb_buf_addc (&rep->body, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_buf_addc (&rep->body, ',');
        s_render_status (self, &rep->body, picked[i], false);
    }
    sb_buf_addc (&rep->body, ']');
    if (n > 0) {
        char path[64];
        snprintf (path, sizeof (path), "/api/v1/accounts/%llu/statuses",
                  (unsigned long long) account_id);
        s_link_header (self, rep, path, "", picked[0]->id, picked[n - 1]->id);
    }
}

static bool
s_type_wanted (const sb_req_t *req, const char *type)
{
    const char *types[16];
    size_t n = sb_req_args (req, "types[]", types, 16);
    bool wanted = n == 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp (types[i], type) == 0)
            wanted = true;
    n = sb_req_args (req, "exclude_types[]", types, 16);
    for (size_t i = 0; i < n; i++)
        if (strcmp (types[i], type) == 0)
            wanted = false;
    return wanted;
}

static void
s_notifications (s_mastodon_t *self, const sb_req_t *req, sb_account_t *account,
                 sb_reply_t *rep)
{
    s_page_t page;
    s_page_parse (req, S_NOTIFICATIONS_DEFAULT, S_NOTIFICATIONS_MAX, &page);
    s_notification_t *picked[S_NOTIFICATIONS_MAX];
    size_t n = 0;
    if (s_type_wanted (req, "mention")) {
        const sb_vec_t *all = &self->notifications;
        if (page.min_id) {
            for (size_t i = 0; i < all->len && n < page.limit; i++) {
                s_notification_t *x = all->items[i];
                if (x->account == account && !x->status->deleted && s_page_in (&page, x->id))
                    picked[n++] = x;
            }
            for (size_t i = 0; i < n / 2; i++) {
                s_notification_t *tmp = picked[i];
                picked[i] = picked[n - 1 - i];
                picked[n - 1 - i] = tmp;
            }
        }
        else {
            for (size_t i = all->len; i > 0 && n < page.limit; i--) {
                s_notification_t *x = all->items[i - 1];
                if (x->account == account && !x->status->deleted && s_page_in (&page, x->id))
                    picked[n++] = x;
            }
        }
    }
    rep->status = 200;
    sb_buf_addc (&rep->body, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_buf_addc (&rep->body, ',');
        s_render_notification (self, &rep->body, picked[i]);
    }
    sb_buf_addc (&rep->body, ']');
    if (n > 0) {
        sb_buf_t extra;
        sb_buf_init (&extra);
        const char *types[16];
        size_t nt = sb_req_args (req, "types[]", types, 16);
        for (size_t i = 0; i < nt; i++) {
            sb_buf_adds (&extra, "types%5B%5D=");
            sb_buf_add_urlenc (&extra, types[i]);
            sb_buf_addc (&extra, '&');
        }
        if (sb_req_arg (req, "limit"))
            sb_buf_printf (&extra, "limit=%zu&", page.limit);
        s_link_header (self, rep, "/api/v1/notifications", extra.data ? extra.data : "",
                       picked[0]->id, picked[n - 1]->id);
        sb_buf_free (&extra);
    }
}

/* POST /api/v1/media (processed before answering) or /api/v2/media (202 and
 * url null while processing, with --mastodon-media-delay-ms). */
static void
s_upload_media (s_mastodon_t *self, const sb_req_t *req, const sb_params_t *params,
                sb_account_t *account, bool v2, sb_reply_t *rep)
{
    size_t size = 0;
    const char *file = sb_params_get (params, "file", &size);
    if (!file) {
        sb_reply_error (rep, 422, "Validation failed: File can't be blank");
        return;
    }
    /* images by signature (never decoded); MP4 video by its ftyp box */
    const char *mime = sb_media_sniff (file, size);
    if (!mime && size >= 12 && memcmp (file + 4, "ftyp", 4) == 0)
        mime = "video/mp4";
    if (!mime) {
        sb_reply_error (rep, 422, S_ERR_MEDIA_TYPE);
        return;
    }
    sb_rate_t rate;
    s_media_rate (self, account, req->now_us, 1, &rate);
    if (!rate.allowed) {
        s_rate_headers (rep, &rate);
        sb_reply_error (rep, 429, S_ERR_RATE);
        return;
    }
    s_media_t *m = calloc (1, sizeof (*m));
    if (!m) {
        sb_reply_error (rep, 500, "out of memory");
        return;
    }
    m->id = sb_world_next_id (self->world, req->now_us);
    m->account_id = account->id;
    m->created_us = req->now_us;
    m->size = size;
    int64_t delay_ms = self->world->config->mastodon_media_delay_ms;
    if (v2 && delay_ms > 0)
        m->ready_us = req->now_us + (uint64_t) delay_ms * 1000u;
    const char *description = sb_params_get (params, "description", NULL);
    if (description && *description)
        m->description = strdup (description);
    snprintf (m->mime, sizeof (m->mime), "%s", mime);
    char key[24];
    snprintf (key, sizeof (key), "%llu", (unsigned long long) m->id);
    if (sb_map_put (self->media, key, m) != 0) {
        s_media_free (m);
        sb_reply_error (rep, 500, "out of memory");
        return;
    }
    bool processing = s_media_processing (m, req->now_us);
    rep->status = processing ? 202 : 200;
    s_render_media (self, &rep->body, m, processing);
}

/* GET /api/v1/media/:id: 206 while processing, 200 once processed. */
static void
s_get_media (s_mastodon_t *self, const sb_req_t *req, const char *id, sb_account_t *account,
             sb_reply_t *rep)
{
    s_media_t *m = sb_map_get (self->media, id);
    if (!m || m->account_id != account->id) {
        sb_reply_error (rep, 404, S_ERR_NOT_FOUND);
        return;
    }
    bool processing = s_media_processing (m, req->now_us);
    rep->status = processing ? 206 : 200;
    s_render_media (self, &rep->body, m, processing);
}

/* ------------------------------------------------------------------------ */
/* Routing                                                                   */

/* Splits "/api/v1/statuses/123" into segments; returns the count. */
static size_t
s_split (const char *path, char segs[][64], size_t max)
{
    size_t n = 0;
    const char *p = path;
    while (*p == '/')
        p++;
    while (*p && n < max) {
        size_t len = strcspn (p, "/");
        if (len >= 64)
            return max + 1;   /* too long: no route matches */
        memcpy (segs[n], p, len);
        segs[n][len] = '\0';
        n++;
        p += len;
        while (*p == '/')
            p++;
    }
    return *p ? max + 1 : n;
}

static bool
s_id (const char *seg, uint64_t *id)
{
    return sb_parse_u64 (seg, id) == 0;
}

static void
s_handle (void *state, const sb_req_t *req, sb_reply_t *rep)
{
    s_mastodon_t *self = state;
    sb_world_t *world = self->world;
    char segs[6][64];
    size_t n = s_split (req->path, segs, 6);
    bool get = sb_req_is (req, "GET"), post = sb_req_is (req, "POST");
    bool api = n >= 3 && strcmp (segs[0], "api") == 0;
    bool v1 = api && strcmp (segs[1], "v1") == 0, v2 = api && strcmp (segs[1], "v2") == 0;
    sb_params_t params;
    bool have_params = false;
    memset (&params, 0, sizeof (params));
    sb_rate_t rate;
    bool rate_set = false;
    uint64_t id = 0;

    /* Parse the body outside the lock. */
    if (post) {
        sb_params_status_t ps = sb_params_parse (&params, req);
        have_params = true;
        if (ps != SB_PARAMS_OK) {
            sb_params_free (&params);
            sb_reply_error (rep, ps == SB_PARAMS_BAD ? 400 : 500,
                            ps == SB_PARAMS_BAD ? S_ERR_PARSE : "out of memory");
            return;
        }
    }
    const char *token = s_bearer (req);
    if (!token && have_params)
        token = sb_params_get (&params, "access_token", NULL);

    sb_world_lock (world);
    sb_account_t *account = NULL;
    if (token) {
        account = s_authenticate (self, token, req->now_us);
        if (!account) {
            sb_reply_error (rep, 401, S_ERR_TOKEN);
            goto out;
        }
        s_request_rate (self, token, req->now_us, 1, &rate);
        rate_set = true;
        if (!rate.allowed) {
            sb_reply_error (rep, 429, S_ERR_RATE);
            goto out;
        }
    }

    if (get && n == 3 && (v1 || v2) && strcmp (segs[2], "instance") == 0)
        s_instance (self, req, rep, v2);
    else if (v1 && strcmp (segs[2], "statuses") == 0) {
        if (n == 3 && post) {
            if (!account)
                sb_reply_error (rep, 401, S_ERR_TOKEN);
            else {
                s_create_status (self, req, &params, account, token, rep);
                /* Mastodon overrides the per-token headers with the status
                 * creation family's, except when validation failed (422) */
                rate_set = rep->headers.len == 0;
            }
        }
        else if (n == 3 && get)
            s_batch_statuses (self, req, account, rep);
        else if (n == 4 && s_id (segs[3], &id) && get)
            s_get_status (self, id, account, rep);
        else if (n == 4 && s_id (segs[3], &id) && sb_req_is (req, "DELETE")) {
            if (!account)
                sb_reply_error (rep, 401, S_ERR_TOKEN);
            else
                s_delete_status (self, id, account, rep);
        }
        else if (n == 5 && s_id (segs[3], &id) && get && strcmp (segs[4], "context") == 0)
            s_context (self, id, account, rep);
        else
            sb_reply_error (rep, 404, S_ERR_NOT_FOUND);
    }
    else if (v1 && strcmp (segs[2], "accounts") == 0 && get) {
        if (n == 4 && strcmp (segs[3], "verify_credentials") == 0) {
            if (!account)
                sb_reply_error (rep, 401, S_ERR_TOKEN);
            else {
                rep->status = 200;
                s_render_account (self, &rep->body, account, true);
            }
        }
        else if (n == 4 && s_id (segs[3], &id)) {
            sb_account_t *a = sb_accounts_find_id (world->accounts, id);
            if (!a || strcmp (a->platform, "mastodon") != 0)
                sb_reply_error (rep, 404, S_ERR_NOT_FOUND);
            else {
                rep->status = 200;
                s_render_account (self, &rep->body, a, false);
            }
        }
        else if (n == 5 && s_id (segs[3], &id) && strcmp (segs[4], "statuses") == 0)
            s_account_statuses (self, req, id, account, rep);
        else
            sb_reply_error (rep, 404, S_ERR_NOT_FOUND);
    }
    else if (v1 && n == 3 && get && strcmp (segs[2], "notifications") == 0) {
        if (!account)
            sb_reply_error (rep, 401, S_ERR_TOKEN);
        else
            s_notifications (self, req, account, rep);
    }
    else if ((v1 || v2) && n == 3 && post && strcmp (segs[2], "media") == 0) {
        if (!account)
            sb_reply_error (rep, 401, S_ERR_TOKEN);
        else {
            s_upload_media (self, req, &params, account, v2, rep);
            rate_set = rate_set && rep->headers.len == 0; /* the media family's own on 429 */
        }
    }
    else if (v1 && n == 4 && get && strcmp (segs[2], "media") == 0) {
        if (!account)
            sb_reply_error (rep, 401, S_ERR_TOKEN);
        else
            s_get_media (self, req, segs[3], account, rep);
    }
    else
        sb_reply_error (rep, 404, S_ERR_NOT_FOUND);
out:
    if (rate_set)
        s_rate_headers (rep, &rate);
    sb_world_unlock (world);
    if (have_params)
        sb_params_free (&params);
}

/* ------------------------------------------------------------------------ */
/* Platform interface                                                        */

static void *
s_create (sb_world_t *world)
{
    s_mastodon_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->world = world;
    self->next_notification_id = 1;
    self->timelines = sb_map_new (s_timeline_free);
    self->idempotency = sb_map_new (s_plain_free);
    self->media = sb_map_new (s_media_free);
    if (!self->timelines || !self->idempotency || !self->media) {
        sb_map_destroy (&self->timelines);
        sb_map_destroy (&self->idempotency);
        sb_map_destroy (&self->media);
        free (self);
        return NULL;
    }
    return self;
}

static void
s_reset (void *state)
{
    s_mastodon_t *self = state;
    for (size_t i = 0; i < self->statuses.len; i++)
        s_status_free (self->statuses.items[i]);
    self->statuses.len = 0;
    for (size_t i = 0; i < self->notifications.len; i++)
        free (self->notifications.items[i]);
    self->notifications.len = 0;
    sb_map_clear (self->timelines);
    sb_map_clear (self->idempotency);
    sb_map_clear (self->media);
}

static void
s_destroy (void **state_p)
{
    if (!state_p || !*state_p)
        return;
    s_mastodon_t *self = *state_p;
    s_reset (self);
    free (self->statuses.items);
    free (self->notifications.items);
    sb_map_destroy (&self->timelines);
    sb_map_destroy (&self->idempotency);
    sb_map_destroy (&self->media);
    free (self);
    *state_p = NULL;
}

static bool
s_identify (void *state, const sb_req_t *req, char *handle, size_t cap)
{
    s_mastodon_t *self = state;
    return sb_accounts_identify (self->world->accounts, "mastodon", s_bearer (req), 1024,
                                 self->world->config->open, handle, cap);
}

static void
s_fault (void *state, const sb_req_t *req, int status, sb_reply_t *rep)
{
    s_mastodon_t *self = state;
    switch (status) {
    case 401: sb_reply_error (rep, status, S_ERR_TOKEN); break;
    case 403: sb_reply_error (rep, status, "This action is not allowed"); break;
    case 404: sb_reply_error (rep, status, S_ERR_NOT_FOUND); break;
    case 422: sb_reply_error (rep, status, "Validation failed"); break;
    case 429: {
        sb_reply_error (rep, status, S_ERR_RATE);
        const char *token = s_bearer (req);
        if (token) {
            sb_rate_t rate;
            sb_world_lock (self->world);
            s_request_rate (self, token, req->now_us, 0, &rate);
            sb_world_unlock (self->world);
            rate.remaining = 0;
            s_rate_headers (rep, &rate);
        }
        break;
    }
    case 503: sb_reply_error (rep, status, "Service Unavailable"); break;
    default: sb_reply_error (rep, status, sb_http_reason (status)); break;
    }
}

/* {"platform":"mastodon","account":"alice","from":"bob","text":"..",
 *  "in_reply_to_id":"<alice's status>"} */
static int
s_mention (void *state, const json_t *spec, sb_buf_t *out)
{
    s_mastodon_t *self = state;
    sb_world_t *world = self->world;
    uint64_t now = sb_now_us ();
    const char *to = json_string_value (json_object_get (spec, "account"));
    const char *from = json_string_value (json_object_get (spec, "from"));
    const char *text = json_string_value (json_object_get (spec, "text"));
    const json_t *reply = json_object_get (spec, "in_reply_to_id");
    if (!to || !from || !sb_accounts_handle_valid (from)) {
        sb_buf_adds (out, "{\"error\":\"'account' and 'from' (a valid handle) are required\"}");
        return 422;
    }
    sb_account_t *target = sb_accounts_find (world->accounts, "mastodon", to);
    if (!target) {
        sb_buf_adds (out, "{\"error\":\"unknown account\"}");
        return 404;
    }
    s_status_t *parent = NULL;
    if (reply && !json_is_null (reply)) {
        uint64_t pid = 0;
        const char *rs = json_string_value (reply);
        if (!rs || sb_parse_u64 (rs, &pid) != 0 || !(parent = s_find_status (self, pid))) {
            sb_buf_adds (out, "{\"error\":\"in_reply_to_id: no such status\"}");
            return 422;
        }
    }
    sb_account_t *sender = sb_accounts_ensure (world->accounts, "mastodon", from,
                                               sb_world_next_id (world, now), now);
    s_timeline_t *timeline = sender ? s_timeline (self, sender->id, true) : NULL;
    s_status_t *status = calloc (1, sizeof (*status));
    s_notification_t *notification = calloc (1, sizeof (*notification));
    sb_buf_t content, mention;
    sb_buf_init (&content);
    sb_buf_init (&mention);
    if (!text)
        text = "";
    if (!sender || !timeline || !status || !notification)
        goto oom;
    /* "@alice hello" is stored as the source; content carries the h-card */
    const char *rest = text;
    size_t tlen = strlen (to);
    if (rest[0] == '@' && strncmp (rest + 1, to, tlen) == 0
        && (rest[tlen + 1] == ' ' || rest[tlen + 1] == '\0'))
        rest += tlen + 1 + (rest[tlen + 1] == ' ');
    sb_buf_printf (&mention,
                   "<span class=\"h-card\" translate=\"no\"><a href=\"%s/mastodon/@%s\" "
                   "class=\"u-url mention\">@<span>%s</span></a></span> ",
                   world->base_url, to, to);
    s_render_content (&content, mention.data, rest, strlen (rest));
    sb_buf_free (&mention);
    status->id = sb_world_next_id (world, now);
    status->account = sender;
    status->mention = target;
    status->created_us = now;
    status->text = malloc (tlen + strlen (rest) + 3);
    if (status->text)
        snprintf (status->text, tlen + strlen (rest) + 3, "@%s %s", to, rest);
    status->spoiler_text = strdup ("");
    status->content = sb_buf_steal (&content, NULL);
    snprintf (status->visibility, sizeof (status->visibility), "public");
    if (!status->text || !status->spoiler_text || !status->content)
        goto oom;
    if (parent) {
        status->in_reply_to_id = parent->id;
        status->in_reply_to_account_id = parent->account->id;
    }
    if (sb_vec_push (&self->statuses, status, S_VEC_FIRST) != 0)
        goto oom;
    if (sb_vec_push (&timeline->statuses, status, S_VEC_FIRST) != 0) {
        self->statuses.len--;
        goto oom;
    }
    timeline->live++;
    timeline->last_status_us = now;
    if (parent)
        parent->replies_count++;
    notification->id = self->next_notification_id++;
    notification->account = target;
    notification->from = sender;
    notification->status = status;
    notification->created_us = now;
    if (sb_vec_push (&self->notifications, notification, S_VEC_FIRST) != 0) {
        notification = NULL;   /* the status stays, without a notification */
        goto oom_after_status;
    }
    sb_buf_adds (out, "{\"id\":");
    sb_buf_add_json_id (out, notification->id);
    sb_buf_adds (out, ",\"status_id\":");
    sb_buf_add_json_id (out, status->id);
    sb_buf_addc (out, '}');
    return 201;
oom:
    s_status_free (status);
oom_after_status:
    free (notification);
    sb_buf_free (&content);
    sb_buf_adds (out, "{\"error\":\"out of memory\"}");
    return 500;
}

const sb_platform_t sb_mastodon_platform = {
    .name = "mastodon",
    .prefix = "/mastodon",
    .create = s_create,
    .destroy = s_destroy,
    .reset = s_reset,
    .identify = s_identify,
    .handle = s_handle,
    .fault = s_fault,
    .mention = s_mention,
};
