/* window.h - what every metrics read route shares (issue 15): the from/to window of site days and
 * the propertyId of the query string, with the summary's rules and issue texts, and the JSON
 * pieces built from them. One place, so the routes cannot drift apart. */
#ifndef WINDOW_H
#define WINDOW_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/calendar.h"
#include "core/config.h"
#include "core/issues.h"
#include "http/http.h"
#include "http/router.h"
#include "store/db.h"

struct metrics_window {
    int64_t from, to;                          /* days since 1970-01-01, inclusive */
    char from_s[V_DATE_LEN], to_s[V_DATE_LEN]; /* the same as YYYY-MM-DD */
    const char *property;                      /* arena-owned, or the configured default (borrowed) */
    bool all; /* the property is ROLLUP_DEFAULT_PROPERTY_ID, whose rollups hold every property */
};

/* The breakdown dimensions of daily_breakdown_rollups (migrations/0009), in the order the API lists
 * them. */
#define METRICS_DIMENSIONS_LEN 9
extern const char *const METRICS_DIMENSIONS[METRICS_DIMENSIONS_LEN];

/* The query string as an object of strings (a repeated key, bad UTF-8 recorded in is). Caller
 * json_decref()s it. */
json_t *window_query(struct request *req, struct issues *is);

/* Reads propertyId (optional, trimmed, 1..PROPERTY_ID_MAX) into w; with dates, also from and to
 * (both required, from <= to, at most SUMMARY_MAX_DAYS days). Every problem is an issue. */
void window_parse(const struct config *cfg, struct request *req, json_t *q, struct issues *is, bool dates,
                  struct metrics_window *w);

/* Answers a failed database call: 503 database_unavailable, else the 500 the handler set. */
void window_db_failed(struct ctx *c, enum db_rc rc);

/* {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}; a new reference. */
json_t *window_json(int64_t from, int64_t to);

/* The summary's freshness object from a result's latest rollup day (column day_col, NULL when the
 * property has no rollup), its generated_at (the next column) and missing, the window's days without
 * a rollup (a JSON array, stolen); a new reference. */
json_t *window_freshness(const PGresult *r, int day_col, json_t *missing);

/* Appends the days of a comma-separated list of dates (row, column col; NULL when none) to
 * missing. */
void window_add_missing_days(json_t *missing, const PGresult *r, int row, int col);

#endif
