/* h_events.c - POST /v1/events: validate, enrich, one round trip, 202 after the commit. */
#include <string.h>

#include "store/db.h"
#include "core/clock.h"
#include "domain/event.h"
#include "api/handlers.h"

struct event_client event_client_of(const struct request *req)
{
    return (struct event_client){req->remote_addr, req->user_agent, req->origin, req->host};
}

void h_events(struct ctx *c)
{
    struct issues is;
    struct event_in ev;
    union ingest_event_args row;
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
    struct event_client cl = event_client_of(c->req);
    if (event_params(c->req->arena, c->cfg, &cl, &ev, now, &row) != 0)
        goto out;
    enum db_rc rc = db_exec(STMT_INGEST_EVENT, row.v, &res);
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
