/* h_metrics_read.c - the metrics read routes of issue 15 beside the summary: GET /v1/metrics/site,
 * /timeseries, /breakdown (rollup tables, aggregated in SQL, the JSON built once) and /realtime (raw
 * events of the last minutes, one index range). Window and property rules: window.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/window.h"
#include "core/bounds.h"
#include "core/clock.h"
#include "domain/validate.h"

static json_int_t ival(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : (json_int_t)strtoll(PQgetvalue(r, row, col), NULL, 10);
}

void h_site(struct ctx *c)
{
    PGresult *res = NULL;
    char limit[16], today[V_DATE_LEN];
    snprintf(limit, sizeof(limit), "%d", PROPERTIES_LIST_MAX);
    const char *params[] = {limit};
    http_error(c->resp, 500, "internal_error");
    enum db_rc rc = db_exec(STMT_SITE, params, &res);
    if (rc != DB_OK) {
        window_db_failed(c, rc);
        goto out;
    }
    json_t *props = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(props,
                              json_pack("{s:s, s:s, s:s}", "propertyId", PQgetvalue(res, i, 0), "firstDay",
                                        PQgetvalue(res, i, 1), "lastDay", PQgetvalue(res, i, 2)));
    v_format_date(clock_site_today(), today);
    http_reply_json(c->resp, 200,
                    json_pack("{s:b, s:s, s:s, s:s, s:o}", "ok", 1, "timeZone", c->cfg->site_time_zone,
                              "today", today, "defaultPropertyId", c->cfg->rollup_default_property_id,
                              "properties", props));
out:
    PQclear(res);
}

static const char *const INTERVALS[] = {"day", "week", "month"};

void h_timeseries(struct ctx *c)
{
    struct issues is;
    struct metrics_window w;
    PGresult *res = NULL;
    const char *interval = "day";

    issues_init(&is);
    json_t *q = window_query(c->req, &is);
    window_parse(c->cfg, c->req, q, &is, true, &w);
    (void)v_enum(&is, q, "interval", "interval", INTERVALS, ARRAY_LEN(INTERVALS), &interval);
    json_decref(q);
    http_error(c->resp, 500, "internal_error");
    if (issues_any(&is)) {
        http_invalid(c->resp, &is);
        goto out;
    }
    const char *params[] = {w.property, w.from_s, w.to_s, interval};
    enum db_rc rc = db_exec(STMT_TIMESERIES, params, &res);
    if (rc != DB_OK) {
        window_db_failed(c, rc);
        goto out;
    }
    /* columns: 0 start, 1 end, 2 visitors, 3 page views, 4 leads, 5 conversions, 6 complete,
     * 7..8 freshness, 9 the bucket's missing days */
    json_t *buckets = json_array(), *missing = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        window_add_missing_days(missing, res, i, 9);
        json_array_append_new(buckets,
                              json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b}", "start", PQgetvalue(res, i, 0),
                                        "end", PQgetvalue(res, i, 1), "visitors", ival(res, i, 2),
                                        "pageViews", ival(res, i, 3), "leads", ival(res, i, 4), "conversions",
                                        ival(res, i, 5), "complete", PQgetvalue(res, i, 6)[0] == 't'));
    }
    http_reply_json(c->resp, 200,
                    json_pack("{s:b, s:o, s:s, s:s, s:o, s:o}", "ok", 1, "window", window_json(w.from, w.to),
                              "interval", interval, "timeZone", c->cfg->site_time_zone, "freshness",
                              window_freshness(res, 7, missing), "buckets", buckets));
out:
    issues_free(&is);
    PQclear(res);
}

void h_breakdown(struct ctx *c)
{
    struct issues is;
    struct metrics_window w;
    PGresult *res = NULL;
    const char *dim = NULL;
    long long limit = BREAKDOWN_LIMIT_DEFAULT, offset = 0;

    issues_init(&is);
    json_t *q = window_query(c->req, &is);
    window_parse(c->cfg, c->req, q, &is, true, &w);
    if (v_enum(&is, q, "dimension", "dimension", METRICS_DIMENSIONS, METRICS_DIMENSIONS_LEN, &dim) ==
        V_ABSENT)
        issues_add(&is, "dimension", "is required");
    (void)v_coerced_int(&is, q, "limit", "limit", 1, BREAKDOWN_LIMIT_MAX, &limit);
    (void)v_coerced_int(&is, q, "offset", "offset", 0, BREAKDOWN_OFFSET_MAX, &offset);
    json_decref(q);
    http_error(c->resp, 500, "internal_error");
    if (issues_any(&is)) {
        http_invalid(c->resp, &is);
        goto out;
    }
    char lim[24], off[24];
    snprintf(lim, sizeof(lim), "%lld", limit);
    snprintf(off, sizeof(off), "%lld", offset);
    const char *params[] = {w.property, dim, w.from_s, w.to_s, lim, off};
    enum db_rc rc = db_exec(STMT_BREAKDOWN, params, &res);
    if (rc != DB_OK || PQntuples(res) < 1) {
        window_db_failed(c, rc);
        goto out;
    }
    /* columns: 0..3 totals (visitors, page views, entrances, conversions), 4 values in all, then
     * the value of the row and its four sums (NULL on the one row of an empty page) */
    json_int_t total_visitors = ival(res, 0, 0);
    json_t *values = json_array();
    for (int i = 0; i < PQntuples(res) && !PQgetisnull(res, i, 5); i++) {
        json_int_t v = ival(res, i, 6);
        json_array_append_new(values,
                              json_pack("{s:s, s:I, s:I, s:I, s:I, s:f}", "value", PQgetvalue(res, i, 5),
                                        "visitors", v, "pageViews", ival(res, i, 7), "entrances",
                                        ival(res, i, 8), "conversions", ival(res, i, 9), "share",
                                        total_visitors > 0 ? (double)v / (double)total_visitors : 0.0));
    }
    json_t *totals = json_pack("{s:I, s:I, s:I, s:I}", "visitors", total_visitors, "pageViews",
                               ival(res, 0, 1), "entrances", ival(res, 0, 2), "conversions", ival(res, 0, 3));
    http_reply_json(c->resp, 200,
                    json_pack("{s:b, s:o, s:s, s:o, s:o, s:I, s:I, s:I}", "ok", 1, "window",
                              window_json(w.from, w.to), "dimension", dim, "totals", totals, "values", values,
                              "limit", (json_int_t)limit, "offset", (json_int_t)offset, "valuesTotal",
                              ival(res, 0, 4)));
out:
    issues_free(&is);
    PQclear(res);
}

/* the answer's names say the minutes */
_Static_assert(REALTIME_SHORT_MINUTES == 5 && REALTIME_LONG_MINUTES == 30, "last5Minutes, last30Minutes");

void h_realtime(struct ctx *c)
{
    struct issues is;
    struct metrics_window w;
    PGresult *res = NULL;

    issues_init(&is);
    json_t *q = window_query(c->req, &is);
    window_parse(c->cfg, c->req, q, &is, false, &w);
    json_decref(q);
    http_error(c->resp, 500, "internal_error");
    if (issues_any(&is)) {
        http_invalid(c->resp, &is);
        goto out;
    }
    const char *params[] = {w.property, w.all ? "true" : "false", STR_OF(REALTIME_SHORT_MINUTES),
                            STR_OF(REALTIME_LONG_MINUTES)};
    enum db_rc rc = db_exec(STMT_REALTIME, params, &res);
    if (rc != DB_OK || PQntuples(res) != 1) {
        window_db_failed(c, rc);
        goto out;
    }
    /* columns: 0 now, 1..2 visitors and page views of the short window, 3..4 of the long one */
    http_reply_json(c->resp, 200,
                    json_pack("{s:b, s:s, s:{s:I, s:I}, s:{s:I, s:I}}", "ok", 1, "generatedAt",
                              PQgetvalue(res, 0, 0), "last5Minutes", "visitors", ival(res, 0, 1), "pageViews",
                              ival(res, 0, 2), "last30Minutes", "visitors", ival(res, 0, 3), "pageViews",
                              ival(res, 0, 4)));
out:
    issues_free(&is);
    PQclear(res);
}
