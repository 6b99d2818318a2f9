/* h_lead_list.c - GET /v1/leads and GET /v1/leads/export.csv (issue 16 item 1): the leads with
 * their consent (status, when and how it was given, implied consent's expiry), first and last
 * capture, source channel and first-touch UTM. One SQL function serves both (lead_rows(),
 * migrations/0012): the list pages over (first_captured_at, id) with an opaque cursor; the export
 * reads the same order in pages of LEAD_EXPORT_PAGE_ROWS, each streamed row by row (db_stream_*, as
 * h_export.c), so a responder holds one chunk whatever the size and no statement nears the
 * statement timeout. By default it holds only the leads that may be mailed now, each with its
 * signed one-click unsubscribe link. Emails are personal data: they never reach a log line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/csv_stream.h"
#include "api/handlers.h"
#include "api/window.h"
#include "core/bounds.h"
#include "core/clock.h"
#include "core/csv.h"
#include "core/log.h"
#include "core/unsub_token.h"
#include "domain/lead.h"
#include "domain/lead_query.h"
#include "domain/validate.h"

/* lead_rows()'s columns (migrations/0012_consent_evidence.sql). */
enum {
    LEAD_COL_ID,
    LEAD_COL_EMAIL,
    LEAD_COL_STATUS,
    LEAD_COL_EXPIRED,
    LEAD_COL_EXPIRES_AT,
    LEAD_COL_CONSENT_AT,
    LEAD_COL_METHOD,
    LEAD_COL_SOURCE,
    LEAD_COL_WORDING,
    LEAD_COL_FIRST_CAPTURED,
    LEAD_COL_LAST_CAPTURED,
    LEAD_COL_SOURCE_CHANNEL,
    LEAD_COL_TOUCH_AT,
    LEAD_COL_LANDING_PATH,
    LEAD_COL_REFERRER,
    LEAD_COL_UTM_SOURCE, /* then medium, campaign, term, content */
    LEAD_COL_CURSOR_MS = LEAD_COL_UTM_SOURCE + 5,
    LEAD_COL_COUNT
};

/* The consent views: every lead, the ones that may be mailed now (express, or implied and not
 * expired), implied and expired, or one status. */
static const char *const CONSENT_VIEWS[] = {"all",     "mailable", "expired",  "pending",
                                            "express", "implied",  "withdrawn"};

/* Query parameters, as the statement's text values (NULL: not given). */
struct lead_query {
    const char *view, *since, *until, *form_name, *email_like, *cursor_ms, *cursor_id, *limit;
};

/* A timestamp parameter (ISO 8601 with Z or an offset) as epoch ms text; an issue when bad. */
static const char *time_param(struct ctx *c, struct issues *is, json_t *q, const char *key, int64_t *ms)
{
    /* any past or future instant a filter may name; the rule only refuses garbage */
    const int64_t far = (int64_t)LEAD_LIST_TIME_FUTURE_DAYS * 86400000;
    if (v_timestamp(is, q, key, key, clock_wall_ms(), far, ms) != V_OK)
        return NULL;
    char *out = arena_alloc(c->req->arena, 24);
    if (out)
        snprintf(out, 24, "%lld", (long long)*ms);
    return out;
}

/* Reads the filters (and for the list the cursor and limit). false: a 400 was answered (or a 500
 * when the arena ran out). */
static bool parse_query(struct ctx *c, bool list, struct lead_query *lq)
{
    struct issues is;
    struct str form_name = {NULL, 0}, email = {NULL, 0}, cursor = {NULL, 0};
    long long limit = LEAD_LIST_LIMIT_DEFAULT;
    int64_t since_ms = 0, until_ms = 0;
    bool ok = false;
    memset(lq, 0, sizeof(*lq));
    issues_init(&is);
    json_t *q = window_query(c->req, &is);
    if (v_enum(&is, q, "consent", "consent", CONSENT_VIEWS, ARRAY_LEN(CONSENT_VIEWS), &lq->view) == V_ABSENT)
        lq->view = list ? "all" : "mailable";
    lq->since = time_param(c, &is, q, "since", &since_ms);
    lq->until = time_param(c, &is, q, "until", &until_ms);
    if (lq->since && lq->until && since_ms >= until_ms)
        issues_add(&is, "until", "must be after since");
    if (v_string(&is, q, "formName", "formName", 1, LEAD_FORM_NAME_MAX, V_OPTIONAL, &form_name) == V_OK)
        lq->form_name = arena_strndup(c->req->arena, form_name.p, form_name.n);
    if (v_string(&is, q, "email", "email", 1, LEAD_LIST_EMAIL_QUERY_MAX, V_OPTIONAL, &email) == V_OK)
        lq->email_like = lead_like_contains(c->req->arena, email);
    if (list) {
        if (v_string(&is, q, "cursor", "cursor", 1, LEAD_CURSOR_TEXT_MAX, V_OPTIONAL, &cursor) == V_OK &&
            lead_cursor_parse(c->req->arena, cursor, &lq->cursor_ms, &lq->cursor_id) != 0)
            issues_add(&is, "cursor", "is not a cursor this list answered (pass nextCursor as it is)");
        (void)v_coerced_int(&is, q, "limit", "limit", 1, LEAD_LIST_LIMIT_MAX, &limit);
        /* one more than asked: tells whether there is a next page */
        char *lim = arena_alloc(c->req->arena, 24);
        if (lim)
            snprintf(lim, 24, "%lld", limit + 1);
        lq->limit = lim;
    }
    json_decref(q);
    http_error(c->resp, 500, "internal_error");
    if (issues_any(&is)) {
        http_invalid(c->resp, &is);
        goto out;
    }
    if ((form_name.p && !lq->form_name) || (email.p && !lq->email_like) || (list && !lq->limit))
        goto out; /* the arena is full: the 500 */
    ok = true;
out:
    issues_free(&is);
    return ok;
}

/* lead_rows()'s parameters from the query and the settings; the days are arena-owned text. */
static bool stmt_params(struct ctx *c, const struct lead_query *lq, union lead_rows_args *args)
{
    char *days = arena_alloc(c->req->arena, 32);
    if (!days)
        return false;
    snprintf(days, 16, "%d", c->cfg->consent_implied_inquiry_days);
    snprintf(days + 16, 16, "%d", c->cfg->consent_implied_customer_days);
    *args = (union lead_rows_args){.inquiry_days = days,
                                   .customer_days = days + 16,
                                   .view = lq->view,
                                   .since_ms = lq->since,
                                   .until_ms = lq->until,
                                   .form_name = lq->form_name,
                                   .email_like = lq->email_like,
                                   .cursor_ms = lq->cursor_ms,
                                   .cursor_id = lq->cursor_id,
                                   .limit = lq->limit};
    return true;
}

static json_t *col(const PGresult *r, int row, int k)
{
    return PQgetisnull(r, row, k) ? json_null() : json_string(PQgetvalue(r, row, k));
}

/* One lead as the list answers it (a new reference). */
static json_t *lead_json(const PGresult *r, int i)
{
    bool implied = strcmp(PQgetvalue(r, i, LEAD_COL_STATUS), "implied") == 0;
    json_t *consent = json_null();
    if (!PQgetisnull(r, i, LEAD_COL_CONSENT_AT))
        consent = json_pack("{s:o, s:o, s:o, s:o}", "at", col(r, i, LEAD_COL_CONSENT_AT), "method",
                            col(r, i, LEAD_COL_METHOD), "source", col(r, i, LEAD_COL_SOURCE),
                            "wordingVersion", col(r, i, LEAD_COL_WORDING));
    json_t *touch = json_null();
    if (!PQgetisnull(r, i, LEAD_COL_TOUCH_AT)) {
        static const char *const utm_keys[] = {"source", "medium", "campaign", "term", "content"};
        json_t *utm = json_object();
        for (int k = 0; k < 5; k++)
            json_object_set_new(utm, utm_keys[k], col(r, i, LEAD_COL_UTM_SOURCE + k));
        touch =
            json_pack("{s:o, s:o, s:o, s:o}", "sessionStartedAt", col(r, i, LEAD_COL_TOUCH_AT), "landingPath",
                      col(r, i, LEAD_COL_LANDING_PATH), "referrer", col(r, i, LEAD_COL_REFERRER), "utm", utm);
    }
    return json_pack("{s:o, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o}", "id", col(r, i, LEAD_COL_ID),
                     "email", col(r, i, LEAD_COL_EMAIL), "consentStatus", col(r, i, LEAD_COL_STATUS),
                     "consentExpired", PQgetvalue(r, i, LEAD_COL_EXPIRED)[0] == 't', "impliedExpiresAt",
                     implied ? col(r, i, LEAD_COL_EXPIRES_AT) : json_null(), "consent", consent,
                     "firstCapturedAt", col(r, i, LEAD_COL_FIRST_CAPTURED), "lastCapturedAt",
                     col(r, i, LEAD_COL_LAST_CAPTURED), "sourceChannel", col(r, i, LEAD_COL_SOURCE_CHANNEL),
                     "firstTouch", touch);
}

void h_lead_list(struct ctx *c)
{
    struct lead_query lq;
    union lead_rows_args args;
    PGresult *res = NULL;
    if (!parse_query(c, true, &lq))
        return;
    if (!stmt_params(c, &lq, &args))
        return;
    enum db_rc rc = db_exec(STMT_LEAD_LIST, args.v, &res);
    if (rc != DB_OK || PQnfields(res) != LEAD_COL_COUNT) {
        window_db_failed(c, rc);
        goto out;
    }
    int n = PQntuples(res), limit = atoi(lq.limit) - 1;
    json_t *leads = json_array();
    for (int i = 0; i < n && i < limit; i++)
        json_array_append_new(leads, lead_json(res, i));
    json_t *next = json_null();
    if (n > limit) {
        /* the last lead answered is where the next page starts after */
        int last = limit - 1;
        const char *cur =
            lead_cursor_make(c->req->arena, str_from_cstr(PQgetvalue(res, last, LEAD_COL_CURSOR_MS)),
                             str_from_cstr(PQgetvalue(res, last, LEAD_COL_ID)));
        if (!cur) {
            /* an id longer than a cursor holds (an adopted database's): refuse rather than loop */
            json_decref(leads);
            log_warn("leads: a lead id does not fit a cursor (longer than %d bytes)", LEAD_CURSOR_ID_MAX);
            goto out;
        }
        next = json_string(cur);
    }
    http_reply_json(c->resp, 200, json_pack("{s:b, s:o, s:o}", "ok", 1, "leads", leads, "nextCursor", next));
out:
    PQclear(res);
}

/* ---- the export ---- */

static const char EXPORT_HEADER[] =
    "email,consent_status,consent_date,consent_method,consent_wording_version,"
    "consent_source,implied_expires_at,consent_expired,source,first_captured_at,"
    "last_captured_at,utm_source,utm_medium,utm_campaign,lead_id,unsubscribe_url\r\n";

/* What the stream needs after the handler returned (arena-owned). */
struct lead_export_state {
    const struct config *cfg;
    int64_t now_s;             /* every link of one export is issued at the same time */
    union lead_rows_args args; /* the next page's: the handler's filters, the cursor below */
    char limit[16];
    char cursor_ms[24];
    char cursor_id[LEAD_CURSOR_ID_MAX + 1];
    int in_page; /* rows of the open page read so far */
    struct csv_stream cs;
};

static void cell(struct buf *b, const PGresult *row, int k, bool first)
{
    const char *v = PQgetisnull(row, 0, k) ? "" : PQgetvalue(row, 0, k);
    csv_cell(b, v, strlen(v), first);
}

/* One lead as a CSV row. -1 when its link cannot be made (an id too long to sign). */
static int put_lead_cells(struct buf *b, const PGresult *row, const struct lead_export_state *st)
{
    char url[UNSUB_URL_MAX + 1];
    const char *id = PQgetvalue(row, 0, LEAD_COL_ID);
    if (unsub_link_make(st->cfg, str_from_cstr(id), st->now_s, url, sizeof(url)) < 0)
        return -1;
    static const int cols[] = {LEAD_COL_EMAIL,   LEAD_COL_STATUS, LEAD_COL_CONSENT_AT, LEAD_COL_METHOD,
                               LEAD_COL_WORDING, LEAD_COL_SOURCE, LEAD_COL_EXPIRES_AT};
    for (size_t k = 0; k < ARRAY_LEN(cols); k++)
        cell(b, row, cols[k], k == 0);
    const char *expired = PQgetvalue(row, 0, LEAD_COL_EXPIRED)[0] == 't' ? "true" : "false";
    csv_cell(b, expired, strlen(expired), false);
    static const int more[] = {LEAD_COL_SOURCE_CHANNEL,
                               LEAD_COL_FIRST_CAPTURED,
                               LEAD_COL_LAST_CAPTURED,
                               LEAD_COL_UTM_SOURCE,
                               LEAD_COL_UTM_SOURCE + 1,
                               LEAD_COL_UTM_SOURCE + 2,
                               LEAD_COL_ID};
    for (size_t k = 0; k < ARRAY_LEN(more); k++)
        cell(b, row, more[k], false);
    csv_cell(b, url, strlen(url), false);
    csv_end_row(b);
    return 0;
}

/* Where the next page starts: after this row's (first_captured_at, id). -1 for an id longer than a
 * cursor holds (an adopted database's): the page after it could not be found. */
static int remember_cursor(struct lead_export_state *st, const PGresult *row)
{
    const char *ms = PQgetvalue(row, 0, LEAD_COL_CURSOR_MS), *id = PQgetvalue(row, 0, LEAD_COL_ID);
    size_t mn = strlen(ms), idn = strlen(id);
    if (mn >= sizeof(st->cursor_ms) || idn >= sizeof(st->cursor_id))
        return -1;
    memcpy(st->cursor_ms, ms, mn + 1);
    memcpy(st->cursor_id, id, idn + 1);
    return 0;
}

/* csv_stream's put: the row, then where the next page starts after it. A row without a working
 * link must not reach a mail tool, and a page must lead to the next: either cuts the body short. */
static int put_lead(struct buf *b, const PGresult *row, void *ctx)
{
    struct lead_export_state *st = ctx;
    st->in_page++;
    if (put_lead_cells(b, row, st) != 0) {
        log_warn("leads/export.csv: a lead id cannot be signed (longer than %d bytes); the body is cut short",
                 UNSUB_LEAD_ID_MAX);
        return -1;
    }
    if (remember_cursor(st, row) != 0) {
        log_warn(
            "leads/export.csv: a lead id does not fit a cursor (longer than %d bytes); the body is cut short",
            LEAD_CURSOR_ID_MAX);
        return -1;
    }
    return 0;
}

/* csv_stream's more: after a full page, the next one from the cursor (1); after a shorter one the
 * export is complete (0); -1 (logged) when the next page's statement failed. */
static int next_page(void *ctx)
{
    struct lead_export_state *st = ctx;
    if (st->in_page < LEAD_EXPORT_PAGE_ROWS)
        return 0;
    PGresult *failed = NULL;
    st->args.cursor_ms = st->cursor_ms;
    st->args.cursor_id = st->cursor_id;
    enum db_rc dr = db_stream_open(STMT_LEAD_LIST, st->args.v, &failed);
    PQclear(failed);
    if (dr != DB_OK) {
        log_warn("leads/export.csv: the next page's statement failed; the body is cut short");
        return -1;
    }
    st->in_page = 0;
    return 1;
}

void h_lead_export(struct ctx *c)
{
    struct lead_query lq;
    union lead_rows_args args;
    PGresult *failed = NULL;
    if (!parse_query(c, false, &lq))
        return;
    /* every row carries a working one-click link, or there is no export: a mail without one is
     * unlawful (CASL, CAN-SPAM) and a relative link works in no mail client */
    if (!c->cfg->unsub_keys.has_current || !c->cfg->public_base_url) {
        http_error(c->resp, 503, "unsubscribe_not_configured");
        return;
    }
    struct lead_export_state *st = arena_alloc(c->req->arena, sizeof(*st));
    if (!st || !stmt_params(c, &lq, &args))
        return;
    st->cfg = c->cfg;
    st->now_s = clock_wall_ms() / 1000;
    snprintf(st->limit, sizeof(st->limit), "%d", LEAD_EXPORT_PAGE_ROWS);
    st->cursor_ms[0] = st->cursor_id[0] = '\0';
    args.limit = st->limit;
    st->args = args;
    st->in_page = 0;
    st->cs = (struct csv_stream){
        .route = "leads/export.csv", .header = EXPORT_HEADER, .put = put_lead, .more = next_page, .ctx = st};
    enum db_rc rc = db_stream_open(STMT_LEAD_LIST, args.v, &failed);
    if (rc != DB_OK) {
        window_db_failed(c, rc);
        goto out;
    }
    if (c->req->method == M_HEAD)
        db_stream_close(); /* the same answer as GET, without a body to read rows for */
    if (http_add_headerf(c->req, c->resp, "Content-Disposition", "attachment; filename=\"leads-%s.csv\"",
                         lq.view) != 0) {
        db_stream_close();
        goto out;
    }
    (void)http_add_header(c->req, c->resp, "Cache-Control", STRLIT("no-store"));
    http_reply_stream(c->resp, 200, "text/csv; charset=utf-8", csv_stream_write, &st->cs);
out:
    PQclear(failed);
}
