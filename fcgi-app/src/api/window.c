/* window.c - the from/to/propertyId rules shared by the metrics read routes (window.h). */
#include "api/window.h"

#include <string.h>

#include "core/arena.h"
#include "core/bounds.h"
#include "core/clock.h"
#include "domain/validate.h"
#include "http/body.h"

const char *const METRICS_DIMENSIONS[METRICS_DIMENSIONS_LEN] = {"page",          "landing_page", "source",
                                                                "referrer_host", "utm_source",   "utm_medium",
                                                                "utm_campaign",  "device",       "country"};

void window_db_failed(struct ctx *c, enum db_rc rc)
{
    if (rc == DB_UNAVAILABLE)
        http_db_unavailable(c->req, c->resp);
}

json_t *window_query(struct request *req, struct issues *is)
{
    return body_parse_form(req->query.p, req->query.n, is);
}

/* A required date parameter: V_OK with *days set, else an issue was recorded. */
static enum v_result date_param(struct issues *is, json_t *q, const char *key, int64_t *days)
{
    struct str s;
    enum v_result r = v_string(is, q, key, key, 1, 10, V_REQUIRED, &s);
    if (r != V_OK)
        return r;
    if (v_parse_date(s, days) != 0) {
        issues_add(is, key, "must be a real calendar date YYYY-MM-DD, 1970-01-01 or later");
        return V_INVALID;
    }
    return V_OK;
}

void window_parse(const struct config *cfg, struct request *req, json_t *q, struct issues *is, bool dates,
                  struct metrics_window *w)
{
    memset(w, 0, sizeof(*w));
    if (dates) {
        bool have_from = date_param(is, q, "from", &w->from) == V_OK;
        bool have_to = date_param(is, q, "to", &w->to) == V_OK;
        if (have_from && have_to && w->from > w->to)
            issues_add(is, "from", "must not be after to");
        else if (have_from && have_to && w->to - w->from + 1 > SUMMARY_MAX_DAYS)
            issues_add(is, "to", "the window must be at most " STR_OF(SUMMARY_MAX_DAYS) " days");
        v_format_date(w->from, w->from_s);
        v_format_date(w->to, w->to_s);
    }
    struct str prop;
    w->property = cfg->rollup_default_property_id;
    if (v_string(is, q, "propertyId", "propertyId", 1, PROPERTY_ID_MAX, V_OPTIONAL, &prop) == V_OK)
        w->property = arena_strndup(req->arena, prop.p, prop.n);
    w->all = w->property && strcmp(w->property, cfg->rollup_default_property_id) == 0;
}

json_t *window_json(int64_t from, int64_t to)
{
    char f[V_DATE_LEN], t[V_DATE_LEN];
    v_format_date(from, f);
    v_format_date(to, t);
    return json_pack("{s:s, s:s}", "from", f, "to", t);
}

json_t *window_freshness(const PGresult *r, int day_col, json_t *missing)
{
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, day_col)) {
        int64_t latest = 0;
        (void)v_parse_date(str_from_cstr(PQgetvalue(r, 0, day_col)), &latest);
        return json_pack("{s:s, s:s, s:I, s:o}", "rolledUpThrough", PQgetvalue(r, 0, day_col), "generatedAt",
                         PQgetvalue(r, 0, day_col + 1), "lagDays", (json_int_t)(clock_site_today() - latest),
                         "missingDays", missing);
    }
    return json_pack("{s:n, s:n, s:n, s:o}", "rolledUpThrough", "generatedAt", "lagDays", "missingDays",
                     missing);
}

void window_add_missing_days(json_t *missing, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return;
    const char *p = PQgetvalue(r, row, col);
    while (*p) {
        size_t n = strcspn(p, ",");
        json_array_append_new(missing, json_stringn(p, n));
        p += n + (p[n] == ',');
    }
}
