/* h_prometheus.c - GET /metrics on the metrics listener: the shared counters (core/metrics.c) and
 * the rollup lag, read now with one indexed statement, as Prometheus text format 0.0.4. */
#include <stdlib.h>

#include "api/handlers.h"
#include "core/metrics.h"
#include "store/db.h"

void h_prometheus(struct ctx *c)
{
    struct metrics_gauges g = {0};
    PGresult *res = NULL;
    const char *params[] = {c->cfg->rollup_default_property_id, c->cfg->site_time_zone};
    /* a database that is down only leaves the lag out: the counters are what an outage needs */
    enum db_rc lag_rc = db_exec(STMT_ROLLUP_LAG, params, &res);
    if (lag_rc == DB_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        g.rollup_lag_known = true;
        g.rollup_lag_days = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    res = NULL;
    /* the outbox's states, with a webhook configured; not tried again when the database has just
     * not answered (one scrape, one unavailable statement) */
    if (c->cfg->webhook_url && lag_rc != DB_UNAVAILABLE &&
        db_exec(STMT_WEBHOOK_STATES, NULL, &res) == DB_OK && PQntuples(res) == 1) {
        g.webhook_known = true;
        g.webhook_pending = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        g.webhook_delivered = strtol(PQgetvalue(res, 0, 1), NULL, 10);
        g.webhook_failed = strtol(PQgetvalue(res, 0, 2), NULL, 10);
        g.webhook_oldest_pending_s = strtol(PQgetvalue(res, 0, 3), NULL, 10);
    }
    PQclear(res);

    const char *labels[METRICS_ROUTE_SLOTS];
    int n = router_slot_labels(labels, ARRAY_LEN(labels));
    struct buf out = BUF_INIT;
    metrics_render(&out, labels, n < 0 ? 0 : (size_t)n, &g);
    if (http_reply_bytes(c->resp, 200, "text/plain; version=0.0.4; charset=utf-8", out.p ? out.p : "",
                         out.n) != 0)
        http_error(c->resp, 500, "internal_error");
    free(out.p);
}
