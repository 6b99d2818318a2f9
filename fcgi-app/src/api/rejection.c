/* rejection.c - the ingest_rejections audit row of API.md §2. A failure to record it is logged
 * and never changes the client's 400. */
#include <string.h>

#include "store/db.h"
#include "domain/event.h"
#include "api/handlers.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/metrics.h"

void rejection_record(struct ctx *c, const char *reason)
{
    metrics_rejection(c->req->route_slot, metrics_reject_of(reason)); /* refused, stored or not */
    char id[UUID_STR_LEN + 1];
    uuid_v7(id);
    const char *property = c->body ? event_body_property(c->req->arena, c->body) : NULL;
    const char *endpoint = arena_strndup(c->req->arena, c->req->path.p, c->req->path.n);
    const char *params[] = {id, property ? property : c->cfg->rollup_default_property_id, endpoint,
                            reason ? reason : "invalid_request"};
    PGresult *res = NULL;
    if (!endpoint || db_exec(STMT_REJECTION, params, &res) != DB_OK)
        log_warn("could not record an ingest rejection for %s", reason ? reason : "invalid_request");
    PQclear(res);
}
