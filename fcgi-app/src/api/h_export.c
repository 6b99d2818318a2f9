/* h_export.c - GET /v1/metrics/export.csv: the daily rollups, or every value of one breakdown
 * dimension, over a window as CSV (core/csv.c), streamed. The statement's rows are read one at a
 * time (db_stream_*) and written in chunks of EXPORT_CHUNK_BYTES, so a responder holds one chunk
 * and one row whatever the export's size. Errors before the first byte are the usual JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/csv_stream.h"
#include "api/handlers.h"
#include "api/window.h"
#include "core/bounds.h"
#include "core/csv.h"
#include "domain/validate.h"

static const char DAILY_HEADER[] =
    "day,visitors,page_views,entrances,conversions,leads,events_accepted,events_rejected,rolled_up\r\n";
static const char DIMENSION_HEADER[] = "value,visitors,page_views,entrances,conversions,share\r\n";

/* One row of the result as CSV cells; the daily rows' last column is a boolean. ctx: a bool,
 * whether the export is the daily one. */
static int put_row(struct buf *b, const PGresult *row, void *ctx)
{
    bool daily = *(const bool *)ctx;
    int n = PQnfields(row);
    for (int k = 0; k < n; k++) {
        const char *v = PQgetvalue(row, 0, k);
        if (daily && k == n - 1)
            v = v[0] == 't' ? "true" : "false";
        csv_cell(b, v, strlen(v), k == 0);
    }
    csv_end_row(b);
    return 0;
}

/* What the stream needs after the handler returned (arena-owned: lives until the response is
 * written). */
struct export_state {
    bool daily;
    struct csv_stream cs;
};

void h_export(struct ctx *c)
{
    struct issues is;
    struct metrics_window w;
    PGresult *failed = NULL;
    const char *kind = NULL;
    /* the dimensions, then "daily" */
    const char *kinds[METRICS_DIMENSIONS_LEN + 1];
    for (size_t i = 0; i < METRICS_DIMENSIONS_LEN; i++)
        kinds[i] = METRICS_DIMENSIONS[i];
    kinds[METRICS_DIMENSIONS_LEN] = "daily";

    issues_init(&is);
    json_t *q = window_query(c->req, &is);
    window_parse(c->cfg, c->req, q, &is, true, &w);
    if (v_enum(&is, q, "dimension", "dimension", kinds, ARRAY_LEN(kinds), &kind) == V_ABSENT)
        issues_add(&is, "dimension", "is required");
    json_decref(q);
    http_error(c->resp, 500, "internal_error");
    if (issues_any(&is)) {
        http_invalid(c->resp, &is);
        goto out;
    }
    struct export_state *st = arena_alloc(c->req->arena, sizeof(*st));
    if (!st)
        goto out;
    st->daily = strcmp(kind, "daily") == 0;
    st->cs = (struct csv_stream){.route = "export.csv",
                                 .header = st->daily ? DAILY_HEADER : DIMENSION_HEADER,
                                 .put = put_row,
                                 .ctx = &st->daily};
    enum db_rc rc;
    if (st->daily) {
        const char *params[] = {w.property, w.from_s, w.to_s};
        rc = db_stream_open(STMT_EXPORT_DAILY, params, &failed);
    } else {
        const char *params[] = {w.property, kind, w.from_s, w.to_s};
        rc = db_stream_open(STMT_EXPORT_DIMENSION, params, &failed);
    }
    if (rc != DB_OK) {
        window_db_failed(c, rc);
        goto out;
    }
    if (c->req->method == M_HEAD)
        db_stream_close(); /* the same answer as GET, without a body to read rows for */
    if (http_add_headerf(c->req, c->resp, "Content-Disposition",
                         "attachment; filename=\"metrics-%s-%s-%s.csv\"", kind, w.from_s, w.to_s) != 0) {
        db_stream_close();
        goto out;
    }
    http_reply_stream(c->resp, 200, "text/csv; charset=utf-8", csv_stream_write, &st->cs);
out:
    issues_free(&is);
    PQclear(failed);
}
