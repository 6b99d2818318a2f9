/* h_events.c - POST /v1/events: validate, enrich, one round trip, 202 after the commit. */
#include <string.h>

#include "store/db.h"
#include "core/clock.h"
#include "domain/event.h"
#include "api/handlers.h"

void h_events(struct ctx *c)
{
    struct issues is;
    struct event_in ev;
    const char *params[EVENT_NPARAMS];
    PGresult *res = NULL;
    int64_t now = clock_wall_ms();

    issues_init(&is);
    event_parse(c->body, now, &is, &ev);
    http_error(c->resp, 500, "internal_error");
    if (issues_any(&is)) {
        rejection_record(c, "invalid_request");
        http_invalid(c->resp, &is);
        goto out;
    }
    if (ev.honeypot.n > 0) {
        /* a bot filled the hidden field: look accepted, write nothing */
        http_reply_json(c->resp, 202, json_pack("{s:b}", "ok", 1));
        goto out;
    }
    if (event_params(c, &ev, now, params) != 0)
        goto out;
    enum db_rc rc = db_exec(STMT_INGEST_EVENT, params, &res);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
        goto out;
    }
    if (rc != DB_OK || PQntuples(res) != 1)
        goto out;
    http_reply_json(c->resp, 202,
                    json_pack("{s:b, s:s, s:s, s:s}", "ok", 1, "eventId", PQgetvalue(res, 0, 0), "visitorId",
                              PQgetvalue(res, 0, 1), "sessionId", PQgetvalue(res, 0, 2)));
out:
    issues_free(&is);
    event_free(&ev);
    PQclear(res);
}
