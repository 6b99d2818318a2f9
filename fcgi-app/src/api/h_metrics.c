/* h_metrics.c - GET /v1/metrics/summary: one statement sums the rollup tables over the window
 * and the comparison window before it (and renders the trend), then the ratios and deltas of
 * rollups-reference.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/jsonout.h"
#include "store/db.h"
#include "api/handlers.h"
#include "api/window.h"
#include "domain/enrich.h"
#include "domain/validate.h"

static const char *const SOURCES[] = {"direct",   "organic_search", "paid_search", "social", "email",
                                      "referral", "campaign",       "internal",    "unknown"};
#define N_SOURCES 9

/* Sums of one window, as STMT_SUMMARY returns them. */
struct sums {
    double unique, returning, page_views, entrances, conversions, form_starts, form_submits, new_leads;
    double ttfc_sum, ttfc_count, accepted, rejected;
    double sources[N_SOURCES], sources_total;
    double p95_weighted, p95_weight;
    double bots[N_BOT_REASONS];
};

struct summary_query {
    int64_t from, to;
    const char *property;
    bool compare;
};

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* {"value": v, "delta": d|null}; integers stay integers. */
static json_t *metric(double v, double base, bool compare, bool integer)
{
    json_t *value = integer ? json_integer((json_int_t)llround(v)) : json_real(v);
    json_t *delta = compare && base != 0 ? json_real((v - base) / base) : json_null();
    return json_pack("{s:o, s:o}", "value", value, "delta", delta);
}

static double num(const PGresult *r, int row, int col)
{
    return strtod(PQgetvalue(r, row, col), NULL);
}

/* Columns of STMT_SUMMARY, one row per window (the window's first): 0 cur, 1 unique, 2 returning,
 * 3 page views, 4 sessions that entered, 5 of those the converted, 6 sessions with a form start, 7
 * of those the submitted (so 5 <= 4 and 7 <= 6 on every day, and the rates are shares), 8 new
 * leads, 9 ttfc sum, 10 ttfc count, 11 accepted, 12 rejected, 13 p95 weighted by accepted, 14 its
 * weight, 15..17 bots dropped (BOT_REASONS order), 18..26 sources (SOURCES order); the same on both
 * rows: 27 freshness day, 28 freshness generated_at, 29 missing days, 30 the trend's JSON text. */
#define COL_BOTS 15
#define COL_SOURCES 18
#define COL_FRESHNESS 27
#define COL_MISSING 29
#define COL_TREND 30
#define SUMMARY_COLS 31
static void read_sums(struct sums *s, const PGresult *r, int i)
{
    s->unique = num(r, i, 1);
    s->returning = num(r, i, 2);
    s->page_views = num(r, i, 3);
    s->entrances = num(r, i, 4);
    s->conversions = num(r, i, 5);
    s->form_starts = num(r, i, 6);
    s->form_submits = num(r, i, 7);
    s->new_leads = num(r, i, 8);
    s->ttfc_sum = num(r, i, 9);
    s->ttfc_count = num(r, i, 10);
    s->accepted = num(r, i, 11);
    s->rejected = num(r, i, 12);
    s->p95_weighted = num(r, i, 13);
    s->p95_weight = num(r, i, 14);
    for (int k = 0; k < N_BOT_REASONS; k++)
        s->bots[k] = num(r, i, COL_BOTS + k);
    for (int k = 0; k < N_SOURCES; k++) {
        s->sources[k] = num(r, i, COL_SOURCES + k);
        s->sources_total += s->sources[k];
    }
}

/* The summary's window and property (window.c), plus compareTo. */
static void parse_query(const struct config *cfg, struct request *req, struct issues *is,
                        struct summary_query *sq)
{
    json_t *q = window_query(req, is);
    struct metrics_window w;
    window_parse(cfg, req, q, is, true, &w);
    sq->from = w.from;
    sq->to = w.to;
    sq->property = w.property;
    struct str cmp;
    sq->compare = false;
    if (v_string(is, q, "compareTo", "compareTo", 1, 8, V_OPTIONAL, &cmp) == V_OK) {
        /* eight code points may be 32 bytes: anything longer than "false" is no boolean anyway */
        char buf[8];
        bool ok = cmp.n < sizeof(buf);
        if (ok) {
            memcpy(buf, cmp.p, cmp.n);
            buf[cmp.n] = '\0';
            ok = config_parse_bool(buf, &sq->compare) == 0;
        }
        if (!ok)
            issues_add(is, "compareTo", "must be one of 1 true yes on / 0 false no off");
    }
    json_decref(q);
}

/* Everything but the trend; a new reference. */
static json_t *build(const struct summary_query *sq, const PGresult *r)
{
    int64_t n = sq->to - sq->from + 1;
    struct sums cur, base;
    memset(&cur, 0, sizeof(cur));
    memset(&base, 0, sizeof(base));
    read_sums(&cur, r, 0);
    read_sums(&base, r, 1);
    json_t *missing = json_array(); /* days of the window without a rollup: shown as zeros in trend */
    window_add_missing_days(missing, r, 0, COL_MISSING);
    bool c = sq->compare;
    json_t *mix = json_object();
    for (int k = 0; k < N_SOURCES; k++)
        json_object_set_new(mix, SOURCES[k], json_real(ratio(cur.sources[k], cur.sources_total)));
    json_t *metrics = json_pack(
        "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "uniqueVisitors",
        metric(cur.unique, base.unique, c, true), "returningVisitorsPct",
        metric(ratio(cur.returning, cur.unique), ratio(base.returning, base.unique), c, false),
        "totalPageViews", metric(cur.page_views, base.page_views, c, true), "newLeads",
        metric(cur.new_leads, base.new_leads, c, true), "leadCaptureRate",
        metric(ratio(cur.new_leads, cur.unique), ratio(base.new_leads, base.unique), c, false),
        "formCompletionRate",
        metric(ratio(cur.form_submits, cur.form_starts), ratio(base.form_submits, base.form_starts), c,
               false),
        "landingPageConversionRate",
        metric(ratio(cur.conversions, cur.entrances), ratio(base.conversions, base.entrances), c, false),
        "avgTimeToFirstCaptureHrs",
        metric(ratio(cur.ttfc_sum, cur.ttfc_count) / 3600000.0,
               ratio(base.ttfc_sum, base.ttfc_count) / 3600000.0, c, false),
        "trafficSourceMix", mix);

    json_t *p95 = cur.p95_weight > 0 ? json_integer((json_int_t)llround(cur.p95_weighted / cur.p95_weight))
                                     : json_null();
    json_t *bots = json_object();
    for (int k = 0; k < N_BOT_REASONS; k++)
        json_object_set_new(bots, BOT_REASONS[k], json_integer((json_int_t)cur.bots[k]));
    json_t *ingest = json_pack("{s:o, s:o, s:I, s:I, s:o}", "successPct",
                               json_real(ratio(cur.accepted, cur.accepted + cur.rejected)), "p95TtfbMs", p95,
                               "totalEventsAccepted", (json_int_t)cur.accepted, "totalEventsRejected",
                               (json_int_t)cur.rejected, "botsDropped", bots);

    json_t *freshness = window_freshness(r, COL_FRESHNESS, missing);
    return json_pack("{s:b, s:o, s:o, s:o, s:o, s:o}", "ok", 1, "window", window_json(sq->from, sq->to),
                     "compareTo", c ? window_json(sq->from - n, sq->from - 1) : json_null(), "freshness",
                     freshness, "metrics", metrics, "ingest", ingest);
}

/* The answer: build()'s object with the trend, which the statement rendered as JSON text, as its
 * last member (one copy of the text instead of a JSON object per day). 0, or -1 when out of
 * memory or when the result is not the statement's shape. */
static int reply(struct ctx *c, const struct summary_query *sq, const PGresult *r)
{
    if (PQntuples(r) != 2 || PQnfields(r) != SUMMARY_COLS || PQgetisnull(r, 0, COL_TREND))
        return -1;
    json_t *head = build(sq, r);
    char *text = jsonout_dumps(head, false);
    json_decref(head);
    size_t n = text ? strlen(text) : 0;
    if (n < 2 || text[n - 1] != '}') {
        free(text);
        return -1;
    }
    static const char key[] = ",\"trend\":[";
    const char *trend = PQgetvalue(r, 0, COL_TREND);
    size_t trend_n = (size_t)PQgetlength(r, 0, COL_TREND);
    struct buf o = BUF_INIT;
    buf_put(&o, text, n - 1);
    buf_put(&o, key, sizeof(key) - 1);
    buf_put(&o, trend, trend_n);
    buf_puts(&o, "]}");
    free(text);
    int rc = http_reply_bytes(c->resp, 200, "application/json; charset=utf-8", o.p, o.n);
    free(o.p);
    return rc;
}

void h_summary(struct ctx *c)
{
    struct issues is;
    struct summary_query sq;
    PGresult *res = NULL;
    char start[V_DATE_LEN], end[V_DATE_LEN];

    issues_init(&is);
    parse_query(c->cfg, c->req, &is, &sq);
    http_error(c->resp, 500, "internal_error");
    if (issues_any(&is)) {
        http_invalid(c->resp, &is);
        goto out;
    }
    if (!sq.property)
        goto out;
    int64_t n = sq.to - sq.from + 1;
    char first[V_DATE_LEN];
    v_format_date(sq.compare ? sq.from - n : sq.from, start);
    v_format_date(sq.from, first);
    v_format_date(sq.to, end);
    /* the default property aggregates every property's bot drops, as its rollups do */
    const char *all = strcmp(sq.property, c->cfg->rollup_default_property_id) == 0 ? "true" : "false";
    const char *params[] = {sq.property, start, first, end, all};
    enum db_rc rc = db_exec(STMT_SUMMARY, params, &res);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
        goto out;
    }
    if (rc != DB_OK)
        goto out;
    if (reply(c, &sq, res) != 0)
        http_error(c->resp, 500, "internal_error");
out:
    issues_free(&is);
    PQclear(res);
}
