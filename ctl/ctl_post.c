/* crieurctl post schedule|list|show|cancel|reschedule.
 *
 * Scheduling goes through the SQL interface (crieur.schedule_post and
 * crieur.schedule_post_local), which creates the post and its publish job in
 * one transaction and checks what only the database knows: the account, the
 * time (not in the past, not skipped by a clock change in the client's zone)
 * and the length under the platform's rules. crieurctl checks beforehand
 * what it can alone: the flags, the form of WHEN, that the text is valid
 * UTF-8, and the platform's own text rules (ctl_rules: X's weights, Bluesky's
 * graphemes and bytes, ...) on the text as it will be published, and its
 * media and reply rules. A reply goes through crieur.schedule_reply; the
 * media list is stored on the post in the same transaction. */
#include "ctl.h"
#include "ctl_args.h"
#include "ctl_db.h"
#include "ctl_rules.h"
#include "ctl_table.h"
#include "ctl_util.h"
#include "ctl_when.h"

#include <stdlib.h>
#include <string.h>

#define S_TEXT_MAX (1024 * 1024)

static const char *const s_statuses[] = {
    "draft",     "pending_approval", "changes_requested", "scheduled",   "published",
    "failed",    "cancelled",        "missed",            "unconfirmed", NULL,
};

/* Parses WHEN or prints the accepted forms; returns CTL_OK or CTL_USAGE. */
static int s_when(const ctl_command_t *cmd, const char *s, ctl_when_t *w)
{
    if (ctl_when_parse(s, w) == 0) return CTL_OK;
    fprintf(stderr, "crieurctl: cannot read the time '%s'; accepted forms:\n" CTL_WHEN_FORMS, s);
    return CTL_USAGE;
}

static int s_post_id(const ctl_command_t *cmd, const char *s, char *buf, size_t len)
{
    long long id;
    if (ctl_parse_id(s, &id) != 0)
        return ctl_usage_err(cmd, "a post id is a positive number, not '%s'", s);
    snprintf(buf, len, "%lld", id);
    return CTL_OK;
}

/* Prints where a post now stands: "post 12 <verb> 2026-...Z (local)". */
static int s_print_time(ctl_t *ctl, PGconn *conn, const char *post_id, const char *verb)
{
    PGresult *res = NULL;
    int rc = ctl_db_q(conn, &res,
                      "SELECT p.id, " CTL_SQL_UTC("p.scheduled_at") " AS scheduled_at, "
                      CTL_SQL_LOCAL("p.scheduled_at", "c.timezone") " AS scheduled_local,"
                      " c.timezone, p.status"
                      " FROM crieur.post p JOIN crieur.client c ON c.id = p.client_id"
                      " WHERE p.id = $1::bigint",
                      post_id);
    if (rc != CTL_OK) return rc;
    if (PQntuples(res) != 1) {
        ctl_err("post %s vanished (deleted by someone else?)", post_id);
        rc = CTL_REFUSED;
    } else if (ctl->json) {
        json_t *obj = ctl_db_row_json(res, 0);
        if (obj) {
            json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            fputc('\n', stdout);
            json_decref(obj);
        }
    } else {
        printf("post %s %s %s (%s %s)\n", post_id, verb, PQgetvalue(res, 0, 1),
               PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    return rc;
}

/* Checks the text as it will be published, the media and the id replied to
 * against the account's platform rules. An unknown account passes:
 * crieur.schedule_post then says so. */
static int s_check_rules(PGconn *conn, const char *account_id, const char *body,
                         const char *link, const char *reply, const ctl_media_t *media,
                         size_t nmedia)
{
    PGresult *res = NULL;
    char err[512];
    size_t len;
    int rc = ctl_db_q(conn, &res, "SELECT platform FROM crieur.account WHERE id = $1::bigint",
                      account_id);
    if (rc != CTL_OK) return rc;
    if (PQntuples(res) == 1) {
        const char *platform = PQgetvalue(res, 0, 0);
        char *text = ctl_rules_published_text(body, link, &len);
        if (!text) {
            ctl_err("out of memory");
            rc = CTL_REFUSED;
        } else if (ctl_rules_check(platform, text, len, err, sizeof err) != 0 ||
                   ctl_rules_check_media(platform, media, nmedia, reply != NULL,
                                         link && *link, err, sizeof err) != 0 ||
                   (reply && ctl_rules_check_reply(platform, reply, err, sizeof err) != 0)) {
            ctl_err("%s", err);
            rc = CTL_REFUSED;
        }
        free(text);
    }
    PQclear(res);
    return rc;
}

/* The media list as a JSON array (for jsonb_array_elements_text): heap
 * string, or NULL when out of memory. */
static char *s_media_json(const ctl_media_t *media, size_t n)
{
    json_t *arr = json_array();
    char *s = NULL;
    for (size_t k = 0; arr && k < n; k++)
        if (json_array_append_new(arr, json_string(media[k].ref)) != 0) goto out;
    if (arr) s = json_dumps(arr, JSON_COMPACT);
out:
    json_decref(arr);
    return s;
}

static int s_schedule(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    const char *account = ctl_args_get(cmd, args, "account");
    const char *text = ctl_args_get(cmd, args, "text");
    const char *text_file = ctl_args_get(cmd, args, "text-file");
    const char *at = ctl_args_get(cmd, args, "at");
    const char *kind = ctl_args_get(cmd, args, "kind");
    const char *link = ctl_args_get(cmd, args, "link");
    const char *campaign = ctl_args_get(cmd, args, "campaign");
    const char *reply = ctl_args_get(cmd, args, "reply-to");
    const char *refs[CTL_MAX_MULTI];
    ctl_media_t media[CTL_MAX_MULTI];
    int nmedia = ctl_args_get_all(cmd, args, "media", refs, CTL_MAX_MULTI);
    PGconn *conn = NULL;
    PGresult *res = NULL;
    char *body = NULL, *media_json = NULL;
    char account_id[24], delay[24], post_id[24], err[512], sql[1024], at_sql[320];
    const char *at_param = NULL;
    long long id;
    size_t len;
    ctl_when_t when;
    int rc;

    if (!account) return ctl_usage_err(cmd, "missing --account ID (see crieurctl account list)");
    if (ctl_parse_id(account, &id) != 0)
        return ctl_usage_err(cmd, "--account takes an account id (a positive number), not '%s'",
                             account);
    snprintf(account_id, sizeof account_id, "%lld", id);
    if ((text != NULL) == (text_file != NULL))
        return ctl_usage_err(cmd, "give the post's text with exactly one of --text TEXT or "
                                  "--text-file FILE");
    if (kind && strcmp(kind, "editorial") != 0 && strcmp(kind, "promotional") != 0)
        return ctl_usage_err(cmd, "--kind is editorial or promotional, not '%s'", kind);
    if (link && strncmp(link, "http://", 7) != 0 && strncmp(link, "https://", 8) != 0)
        return ctl_usage_err(cmd, "--link must be an http:// or https:// URL, not '%s'", link);
    rc = s_when(cmd, at ? at : "now", &when);
    if (rc != CTL_OK) return rc;
    if (reply && ctl_rules_check_reply_form(reply, err, sizeof err) != 0)
        return ctl_usage_err(cmd, "%s", err);
    if (nmedia > CTL_MAX_MULTI) nmedia = CTL_MAX_MULTI; /* ctl_args refuses more */
    for (int k = 0; k < nmedia; k++) {
        if (ctl_media_inspect(refs[k], &media[k], err, sizeof err) != 0) {
            ctl_err("%s", err);
            return CTL_USAGE;
        }
    }

    if (text_file) {
        if (ctl_read_all(text_file, S_TEXT_MAX, &body, &len, err, sizeof err) != 0) {
            ctl_err("%s", err);
            return CTL_USAGE;
        }
        ctl_chomp(body, &len); /* the file's final newline is not part of the post */
    } else {
        len = strlen(text);
        body = malloc(len + 1);
        if (!body) {
            ctl_err("out of memory");
            return CTL_USAGE;
        }
        memcpy(body, text, len + 1);
    }
    if (ctl_check_text("text", body, len, err, sizeof err) != 0) {
        ctl_err("%s", err);
        rc = CTL_USAGE;
        goto out;
    }

    if (nmedia > 0 && !(media_json = s_media_json(media, (size_t)nmedia))) {
        ctl_err("out of memory");
        rc = CTL_USAGE;
        goto out;
    }

    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) goto out;
    rc = s_check_rules(conn, account_id, body, link, reply, media, (size_t)nmedia);
    if (rc != CTL_OK) goto out;
    /* The time as an SQL expression of $3. A wall time is read in the
     * client's zone (an unknown account reads it as UTC, so that the
     * scheduling function reports "unknown account"). */
    switch (when.kind) {
    case CTL_WHEN_DELAY:
        snprintf(delay, sizeof delay, "%lld", (long long)when.delay_ms);
        at_param = delay;
        snprintf(at_sql, sizeof at_sql, "now() + $3::bigint * interval '1 millisecond'");
        break;
    case CTL_WHEN_LOCAL:
        at_param = when.text;
        snprintf(at_sql, sizeof at_sql,
                 "crieur.local_to_utc($3::timestamp, coalesce((SELECT c.timezone FROM"
                 " crieur.account a JOIN crieur.client c ON c.id = a.client_id"
                 " WHERE a.id = $1::bigint), 'UTC'))");
        break;
    case CTL_WHEN_ABSOLUTE:
        at_param = when.text;
        snprintf(at_sql, sizeof at_sql, "$3::timestamptz");
        break;
    }
    /* The post, its reply target and its media in one transaction: a broker
     * never claims a post whose media are not stored yet. */
    rc = ctl_db_query(conn, NULL, "BEGIN", 0, NULL);
    if (rc != CTL_OK) goto out;
    if (reply && !link) {
        snprintf(sql, sizeof sql,
                 "SELECT crieur.schedule_reply($1::bigint, $2, %s, $4, $5, coalesce($6, 'editorial'))",
                 at_sql);
        rc = ctl_db_q(conn, &res, sql, account_id, body, at_param, reply, campaign, kind);
    } else {
        snprintf(sql, sizeof sql,
                 "SELECT crieur.schedule_post($1::bigint, $2, %s, $4, coalesce($5, 'editorial'), $6)",
                 at_sql);
        rc = ctl_db_q(conn, &res, sql, account_id, body, at_param, campaign, kind, link);
    }
    if (rc != CTL_OK) goto out;
    snprintf(post_id, sizeof post_id, "%s", PQgetvalue(res, 0, 0));
    /* schedule_reply has no link: the same, then the reply target (its form
     * was checked above, as schedule_reply does) */
    if (reply && link)
        rc = ctl_db_q(conn, NULL, "UPDATE crieur.post SET in_reply_to = $2 WHERE id = $1::bigint",
                      post_id, reply);
    if (rc == CTL_OK && media_json)
        rc = ctl_db_q(conn, NULL,
                      "UPDATE crieur.post SET media = ARRAY(SELECT jsonb_array_elements_text($2::jsonb))"
                      " WHERE id = $1::bigint",
                      post_id, media_json);
    if (rc == CTL_OK) rc = ctl_db_query(conn, NULL, "COMMIT", 0, NULL);
    if (rc != CTL_OK) goto out;
    rc = s_print_time(ctl, conn, post_id, "scheduled for");
out:
    free(body);
    free(media_json);
    PQclear(res);
    ctl_db_close(&conn);
    return rc;
}

static int s_list(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    const char *client = ctl_args_get(cmd, args, "client");
    const char *account = ctl_args_get(cmd, args, "account");
    const char *status = ctl_args_get(cmd, args, "status");
    const char *campaign = ctl_args_get(cmd, args, "campaign");
    const char *limit = ctl_args_get(cmd, args, "limit");
    PGconn *conn = NULL;
    PGresult *res = NULL;
    ctl_table_t *t = NULL;
    char client_id[24], account_id[24], limit_s[24];
    long long id;
    long lim = 50;
    int rc;

    if (account) {
        if (ctl_parse_id(account, &id) != 0)
            return ctl_usage_err(cmd, "--account takes an account id, not '%s'", account);
        snprintf(account_id, sizeof account_id, "%lld", id);
    }
    if (status) {
        int ok = 0;
        for (int k = 0; s_statuses[k]; k++) ok |= strcmp(s_statuses[k], status) == 0;
        if (!ok)
            return ctl_usage_err(cmd,
                                 "unknown status '%s'; statuses are draft, pending_approval, "
                                 "changes_requested, scheduled, published, failed, cancelled, "
                                 "missed, unconfirmed",
                                 status);
    }
    if (limit && ctl_parse_long(limit, 1, 1000000, &lim) != 0)
        return ctl_usage_err(cmd, "--limit must be a number from 1 to 1000000, not '%s'", limit);
    snprintf(limit_s, sizeof limit_s, "%ld", lim);

    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    if (client) {
        rc = ctl_db_client_id(conn, client, client_id, sizeof client_id);
        if (rc != CTL_OK) goto out;
    }
    rc = ctl_db_q(conn, &res,
                  "SELECT p.id, c.name, a.id || ' ' || a.handle, a.id, a.handle,"
                  " p.campaign, " CTL_SQL_LOCAL("p.scheduled_at", "c.timezone") ", "
                  CTL_SQL_UTC("p.scheduled_at") ", p.status, p.platform_post_id,"
                  " coalesce(p.url, p.last_error), p.url, p.last_error"
                  " FROM crieur.post p JOIN crieur.client c ON c.id = p.client_id"
                  " JOIN crieur.account a ON a.id = p.account_id"
                  " WHERE ($1::bigint IS NULL OR p.client_id = $1::bigint)"
                  " AND ($2::bigint IS NULL OR p.account_id = $2::bigint)"
                  " AND ($3::text IS NULL OR p.status = $3::text)"
                  " AND ($4::text IS NULL OR p.campaign = $4::text)"
                  " ORDER BY p.scheduled_at DESC, p.id DESC LIMIT $5::int",
                  client ? client_id : NULL, account ? account_id : NULL, status, campaign,
                  limit_s);
    if (rc != CTL_OK) goto out;
    t = ctl_table_new();
    rc = CTL_REFUSED;
    if (!t || ctl_table_add_column(t, "ID", "id", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "CLIENT", "client", 0, 24) ||
        ctl_table_add_column(t, "ACCOUNT", NULL, 0, 24) ||
        ctl_table_add_column(t, "", "account_id", CTL_COL_NUM | CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "", "handle", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "CAMPAIGN", "campaign", 0, 16) ||
        ctl_table_add_column(t, "SCHEDULED (CLIENT TIME)", "scheduled_local", 0, 0) ||
        ctl_table_add_column(t, "", "scheduled_at", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "STATUS", "status", 0, 0) ||
        ctl_table_add_column(t, "PLATFORM ID", "platform_post_id", 0, 20) ||
        ctl_table_add_column(t, "URL / LAST ERROR", NULL, 0, 60) ||
        ctl_table_add_column(t, "", "url", CTL_COL_JSON_ONLY, 0) ||
        ctl_table_add_column(t, "", "last_error", CTL_COL_JSON_ONLY, 0) ||
        ctl_db_fill_table(t, res) || ctl_table_print(t, stdout, ctl->json)) {
        ctl_err("out of memory");
        goto out;
    }
    rc = CTL_OK;
out:
    ctl_table_destroy(&t);
    PQclear(res);
    ctl_db_close(&conn);
    return rc;
}

/* "name: value" lines of one row; multi-line values indented below. */
static void s_print_fields(const PGresult *res, int row, const char *indent)
{
    for (int c = 0; c < PQnfields(res); c++) {
        const char *v = ctl_db_get(res, row, c);
        char label[64];
        if (v && PQftype(res, c) == 16 /* bool */) v = v[0] == 't' ? "true" : "false";
        snprintf(label, sizeof label, "%s:", PQfname(res, c));
        if (v && strchr(v, '\n')) {
            printf("%s%s\n", indent, label);
            for (const char *p = v; *p;) {
                size_t n = strcspn(p, "\n");
                printf("%s    %.*s\n", indent, (int)n, p);
                p += n;
                if (*p == '\n') p++;
            }
        } else {
            printf("%s%-18s %s\n", indent, label, v ? v : "-");
        }
    }
}

static int s_show(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *post = NULL, *job = NULL, *att = NULL;
    ctl_table_t *t = NULL;
    json_t *doc = NULL;
    char id[24];
    int rc = s_post_id(cmd, args->pos[0], id, sizeof id);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    /* One snapshot for the post, its job and its attempts. */
    rc = ctl_db_query(conn, NULL, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_q(conn, &post,
                  "SELECT p.id, p.status, c.name AS client, c.id AS client_id, c.timezone,"
                  " a.id AS account_id, a.platform, a.handle, a.api_base AS instance,"
                  " p.kind, p.campaign, p.link, "
                  CTL_SQL_UTC("p.scheduled_at") " AS scheduled_at, "
                  CTL_SQL_LOCAL("p.scheduled_at", "c.timezone") " AS scheduled_local,"
                  " p.platform_post_id, p.url, "
                  CTL_SQL_UTC("p.published_at") " AS published_at, p.last_error,"
                  " p.idempotency_key::text AS idempotency_key, "
                  CTL_SQL_UTC("p.created_at") " AS created_at, "
                  CTL_SQL_UTC("p.updated_at") " AS updated_at,"
                  " crieur.text_length(p.body, pl.url_chars) AS length,"
                  " coalesce(a.max_chars, pl.max_chars) AS max_length, p.body AS text"
                  " FROM crieur.post p JOIN crieur.client c ON c.id = p.client_id"
                  " JOIN crieur.account a ON a.id = p.account_id"
                  " JOIN crieur.platform pl ON pl.name = a.platform"
                  " WHERE p.id = $1::bigint",
                  id);
    if (rc != CTL_OK) goto out;
    if (PQntuples(post) == 0) {
        ctl_err("unknown post %s", id);
        fprintf(stderr, "hint: list posts with: crieurctl post list\n");
        rc = CTL_REFUSED;
        goto out;
    }
    rc = ctl_db_q(conn, &job,
                  "SELECT j.id, j.state, " CTL_SQL_UTC("j.run_at") " AS run_at, j.attempt,"
                  " j.errors, j.max_attempts, j.lease_owner, "
                  CTL_SQL_UTC("j.lease_expires_at") " AS lease_expires_at,"
                  " j.cancel_requested, j.last_error"
                  " FROM crieur.job j WHERE j.kind = 'publish' AND j.ref_id = $1::bigint"
                  " ORDER BY j.id",
                  id);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_q(conn, &att,
                  "SELECT t.job_id, t.attempt, t.outcome, t.http_status, t.worker, t.broker, "
                  CTL_SQL_UTC("t.dispatched_at") " AS dispatched_at, "
                  CTL_SQL_UTC("t.started_at") " AS started_at, "
                  CTL_SQL_UTC("t.finished_at") " AS finished_at, t.error_code, t.detail"
                  " FROM crieur.attempt t WHERE t.kind = 'publish' AND t.ref_id = $1::bigint"
                  " ORDER BY t.finished_at, t.job_id, t.attempt",
                  id);
    if (rc != CTL_OK) goto out;
    rc = ctl_db_query(conn, NULL, "COMMIT", 0, NULL);
    if (rc != CTL_OK) goto out;

    t = ctl_table_new();
    if (!t || ctl_table_add_column(t, "JOB", "job_id", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "ATTEMPT", "attempt", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "OUTCOME", "outcome", 0, 0) ||
        ctl_table_add_column(t, "HTTP", "http_status", CTL_COL_NUM, 0) ||
        ctl_table_add_column(t, "WORKER", "worker", 0, 24) ||
        ctl_table_add_column(t, "BROKER", "broker", 0, 24) ||
        ctl_table_add_column(t, "DISPATCHED", "dispatched_at", 0, 0) ||
        ctl_table_add_column(t, "STARTED", "started_at", 0, 0) ||
        ctl_table_add_column(t, "FINISHED", "finished_at", 0, 0) ||
        ctl_table_add_column(t, "ERROR", "error_code", 0, 20) ||
        ctl_table_add_column(t, "DETAIL", "detail", 0, 60) || ctl_db_fill_table(t, att)) {
        ctl_err("out of memory");
        rc = CTL_REFUSED;
        goto out;
    }
    if (ctl->json) {
        doc = ctl_db_row_json(post, 0);
        json_t *attempts = ctl_table_json(t);
        json_t *j = PQntuples(job) > 0 ? ctl_db_row_json(job, 0) : json_null();
        if (!doc || !attempts || !j || json_object_set_new(doc, "job", j) != 0 ||
            json_object_set_new(doc, "attempts", attempts) != 0) {
            ctl_err("out of memory");
            rc = CTL_REFUSED;
            goto out;
        }
        json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    } else {
        printf("post %s\n", id);
        s_print_fields(post, 0, "  ");
        if (PQntuples(job) > 0) {
            printf("\njob (in the queue)\n");
            s_print_fields(job, 0, "  ");
        } else {
            printf("\njob: none in the queue (finished, cancelled, or not yet created)\n");
        }
        if (ctl_table_nrows(t) > 0) {
            printf("\nattempts\n");
            ctl_table_print_text(t, stdout);
        } else {
            printf("\nattempts: none\n");
        }
    }
    rc = CTL_OK;
out:
    json_decref(doc);
    ctl_table_destroy(&t);
    PQclear(post);
    PQclear(job);
    PQclear(att);
    ctl_db_close(&conn);
    return rc;
}

static int s_cancel(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    PGresult *res = NULL;
    char id[24];
    int rc = s_post_id(cmd, args->pos[0], id, sizeof id);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_q(conn, &res, "SELECT crieur.cancel_post($1::bigint)", id);
    if (rc != CTL_OK) goto out;
    const char *r = PQgetvalue(res, 0, 0);
    if (ctl->json) printf("{\"id\": %s, \"result\": \"%s\"}\n", id,
                          strcmp(r, "cancelled") == 0 ? "cancelled" : "cancel_requested");
    else if (strcmp(r, "cancelled") == 0) printf("cancelled\n");
    else
        printf("cancel requested: the post is being dispatched; check `crieurctl post show %s`\n",
               id);
out:
    PQclear(res);
    ctl_db_close(&conn);
    return rc;
}

static int s_reschedule(ctl_t *ctl, const ctl_command_t *cmd, const ctl_args_t *args)
{
    PGconn *conn = NULL;
    const char *at = ctl_args_get(cmd, args, "at");
    char id[24], delay[24];
    ctl_when_t when;
    int rc = s_post_id(cmd, args->pos[0], id, sizeof id);
    if (rc != CTL_OK) return rc;
    if (!at) return ctl_usage_err(cmd, "missing --at WHEN");
    rc = s_when(cmd, at, &when);
    if (rc != CTL_OK) return rc;
    rc = ctl_db_connect(ctl, &conn);
    if (rc != CTL_OK) return rc;
    switch (when.kind) {
    case CTL_WHEN_DELAY:
        snprintf(delay, sizeof delay, "%lld", (long long)when.delay_ms);
        rc = ctl_db_q(conn, NULL,
                      "SELECT crieur.reschedule_post($1::bigint,"
                      " now() + $2::bigint * interval '1 millisecond')",
                      id, delay);
        break;
    case CTL_WHEN_LOCAL:
        /* An unknown post reads its zone as UTC, so that reschedule_post
         * reports "unknown post" rather than a confusing time zone error. */
        rc = ctl_db_q(conn, NULL,
                      "SELECT crieur.reschedule_post($1::bigint, crieur.local_to_utc($2::timestamp,"
                      " coalesce((SELECT c.timezone FROM crieur.post p JOIN crieur.client c"
                      " ON c.id = p.client_id WHERE p.id = $1::bigint), 'UTC')))",
                      id, when.text);
        break;
    case CTL_WHEN_ABSOLUTE:
        rc = ctl_db_q(conn, NULL, "SELECT crieur.reschedule_post($1::bigint, $2::timestamptz)", id,
                      when.text);
        break;
    }
    if (rc == CTL_OK) rc = s_print_time(ctl, conn, id, "rescheduled for");
    ctl_db_close(&conn);
    return rc;
}

static const ctl_opt_t s_schedule_opts[] = {
    {"account", "ID", "the account to publish on (see crieurctl account list)"},
    {"text", "TEXT", "the post's text"},
    {"text-file", "FILE|-", "read the text from FILE (- = standard input)"},
    {"at", "WHEN", "when to publish (default now; see below)"},
    {"campaign", "NAME", "campaign the post belongs to"},
    {"kind", "KIND", "editorial (default) or promotional"},
    {"link", "URL", "link attached to the post"},
    {"reply-to", "ID", "a reply: the platform id of the post answered (see below)"},
    {"media", "PATH|URL", "an image: an http(s) URL or an absolute file path (repeatable)"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_list_opts[] = {
    {"client", "C", "only this client's posts (name or id)"},
    {"account", "ID", "only this account's posts"},
    {"status", "S", "only posts in this status (scheduled, published, failed, cancelled, ...)"},
    {"campaign", "X", "only this campaign's posts"},
    {"limit", "N", "at most N posts, latest scheduled first (default 50)"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_reschedule_opts[] = {
    {"at", "WHEN", "the new time (see below)"},
    {NULL, NULL, NULL},
};

static const ctl_opt_t s_no_opts[] = {{NULL, NULL, NULL}};

#define S_WHEN_HELP                                                                      \
    "WHEN is one of:\n" CTL_WHEN_FORMS                                                   \
    "A wall-clock time skipped by a daylight-saving change is refused; a repeated one\n" \
    "takes its first occurrence.\n"

const ctl_command_t ctl_cmd_post_schedule = {
    .group = "post",
    .sub = "schedule",
    .synopsis = "--account ID (--text TEXT | --text-file FILE|-) [--at WHEN]\n"
                "       [--campaign NAME] [--kind editorial|promotional] [--link URL]\n"
                "       [--reply-to PLATFORM_POST_ID] [--media PATH|URL]...",
    .summary = "Schedules a post; prints its id and time (UTC and client's).",
    .opts = s_schedule_opts,
    .details = S_WHEN_HELP
    "The text must be valid UTF-8 and within the platform's length, counted on the\n"
    "text as published (with \"\\n\\n\" and the --link appended when the text lacks it):\n"
    "  mastodon   the instance's limit (default 500), a link counting 23\n"
    "  x          280 weighted: a link 23, an emoji or CJK character 2, others 1\n"
    "  bluesky    300 graphemes (an emoji with its modifiers, a flag: 1) and 3000 bytes\n"
    "  threads 500, instagram 2200 (caption), linkedin 3000 characters\n"
    "--media (repeatable) is an http(s) URL or an absolute path to a JPEG, PNG, GIF\n"
    "or WebP file the workers can read; per post:\n"
    "  mastodon 4; bluesky 4, each file <= 2,000,000 bytes; x 4, each file <= 5 MB;\n"
    "  facebook 1; linkedin 1; instagram 1 and threads 1, by URL only\n"
    "  (an instagram post needs an image: --media URL, or a --link to one).\n"
    "--reply-to is the answered post's id as the platform gives it (crieurctl post\n"
    "show: platform_post_id); on bluesky its at:// URI. Facebook and Instagram\n"
    "replies are comments: text only.\n",
    .repeatable = "media",
    .run = s_schedule,
};

const ctl_command_t ctl_cmd_post_list = {
    .group = "post",
    .sub = "list",
    .synopsis = "[--client C] [--account ID] [--status S] [--campaign X] [--limit N]",
    .summary = "Lists posts, latest scheduled first.",
    .details = "Times are shown in each client's own time zone, with the UTC offset.\n",
    .opts = s_list_opts,
    .run = s_list,
};

const ctl_command_t ctl_cmd_post_show = {
    .group = "post",
    .sub = "show",
    .synopsis = "ID",
    .summary = "Shows a post, its job in the queue and every attempt.",
    .pos_names = "ID",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_no_opts,
    .run = s_show,
};

const ctl_command_t ctl_cmd_post_cancel = {
    .group = "post",
    .sub = "cancel",
    .synopsis = "ID",
    .summary = "Cancels a post that is not published yet.",
    .pos_names = "ID",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_no_opts,
    .details = "Prints \"cancelled\" when the post will certainly not be published. When a broker\n"
               "already holds its job, the cancellation is requested and the post's status tells\n"
               "later what happened (crieurctl post show ID).\n",
    .run = s_cancel,
};

const ctl_command_t ctl_cmd_post_reschedule = {
    .group = "post",
    .sub = "reschedule",
    .synopsis = "ID --at WHEN",
    .summary = "Moves a scheduled post to another time.",
    .pos_names = "ID",
    .min_pos = 1,
    .max_pos = 1,
    .opts = s_reschedule_opts,
    .details = S_WHEN_HELP,
    .run = s_reschedule,
};
