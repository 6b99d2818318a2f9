/* h_events.c - POST /v1/events and GET /v1/p.gif: validate, enrich, one round trip, 202 (the
 * pixel: a 1x1 GIF) after the commit. */
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "core/clock.h"
#include "domain/event.h"
#include "core/xalloc.h"
#include "http/body.h"
#include "api/handlers.h"

/* The smallest transparent 1x1 GIF (GIF89a, one colour, a transparent pixel): 43 bytes. */
static const unsigned char PIXEL_GIF[] = {0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80,
                                          0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04,
                                          0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01,
                                          0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

/* The pixel's query names and the event fields they fill (API.md, GET /v1/p.gif). Issues are
 * reported under the query names. */
static const struct {
    const char *query, *field;
} PIXEL_KEYS[] = {
    {"p", "path"},
    {"r", "referrer"},
    {"e", "eventType"},
    {"eid", "eventId"},
    {"pid", "traffic.propertyId"},
    {"utm_source", "utm.source"},
    {"utm_medium", "utm.medium"},
    {"utm_campaign", "utm.campaign"},
    {"utm_term", "utm.term"},
    {"utm_content", "utm.content"},
};

struct event_client event_client_of(const struct request *req)
{
    return (struct event_client){req->remote_addr, req->user_agent, req->origin, req->host};
}

/* The accepted answer: the ids as JSON (202), or the GIF (200, never cached) for the pixel. */
static void reply_accepted(struct ctx *c, bool pixel, const PGresult *res)
{
    if (pixel) {
        /* every answer carries Cache-Control: no-store already (http/response.c) */
        (void)http_reply_bytes(c->resp, 200, "image/gif", (const char *)PIXEL_GIF, sizeof(PIXEL_GIF));
        return;
    }
    if (!res) {
        /* nothing written (honeypot, bot): look accepted */
        http_reply_json(c->resp, 202, json_pack("{s:b}", "ok", 1));
        return;
    }
    http_reply_json(c->resp, 202,
                    json_pack("{s:b, s:s, s:s, s:s}", "ok", 1, "eventId", PQgetvalue(res, 0, 0), "visitorId",
                              PQgetvalue(res, 0, 1), "sessionId", PQgetvalue(res, 0, 2)));
}

/* The event path shared by the beacon and the pixel; body is the event (borrowed). */
static void ingest(struct ctx *c, json_t *body, bool pixel, struct issues *is)
{
    struct event_in ev;
    union ingest_event_args row;
    PGresult *res = NULL;
    int64_t now = clock_wall_ms();

    event_parse(body, now, is, &ev);
    http_error(c->resp, 500, "internal_error");
    if (issues_any(is)) {
        rejection_record(c, "invalid_request");
        http_invalid(c->resp, is);
        goto out;
    }
    if (pixel && c->req->method == M_HEAD) {
        /* a HEAD asks about the image (link checkers, previews): no page view */
        reply_accepted(c, pixel, NULL);
        goto out;
    }
    struct event_client cl = event_client_of(c->req);
    if (ev.honeypot.n > 0 || privacy_bot_drop(c, &cl, &ev)) {
        /* a bot filled the hidden field, or its user agent says it is one: look accepted, write
         * nothing (a bot drop is counted) */
        reply_accepted(c, pixel, NULL);
        goto out;
    }
    /* cookieless: no id of the client's (or it is ignored: GPC / DNT); the day's salted hash */
    if (!privacy_visitor_or_reply(c, now, &cl, privacy_signal(c), &ev.anon_id))
        goto out;
    if (event_params(c->req->arena, c->cfg, &cl, &ev, now, &row) != 0)
        goto out;
    enum db_rc rc = db_exec(STMT_INGEST_EVENT, row.v, &res);
    if (rc == DB_UNAVAILABLE) {
        http_db_unavailable(c->req, c->resp);
        goto out;
    }
    if (rc != DB_OK || PQntuples(res) != 1)
        goto out;
    reply_accepted(c, pixel, res);
out:
    event_free(&ev);
    PQclear(res);
}

void h_events(struct ctx *c)
{
    struct issues is;
    issues_init(&is);
    ingest(c, c->body, false, &is);
    issues_free(&is);
}

/* Sets body[field] (a dotted path of at most two parts) to v (a new reference is taken). */
static void set_path(json_t *body, const char *field, json_t *v)
{
    const char *dot = strchr(field, '.');
    if (!dot) {
        json_object_set(body, field, v);
        return;
    }
    char head[16];
    size_t n = (size_t)(dot - field);
    memcpy(head, field, n);
    head[n] = '\0';
    json_t *sub = json_object_get(body, head);
    if (!sub) {
        sub = json_object();
        json_object_set_new(body, head, sub);
    }
    json_object_set(sub, dot + 1, v);
}

/* The event body a pixel query describes (a new object the caller frees): known names only, the
 * event type page_view unless `e` says otherwise. Issues of the query itself go into is. */
static json_t *pixel_body(struct ctx *c, struct issues *is)
{
    json_t *q = body_parse_form(c->req->query.p, c->req->query.n, is);
    json_t *body = json_object();
    for (size_t i = 0; i < ARRAY_LEN(PIXEL_KEYS); i++) {
        json_t *v = json_object_get(q, PIXEL_KEYS[i].query);
        if (v)
            set_path(body, PIXEL_KEYS[i].field, v);
    }
    if (!json_object_get(body, "eventType"))
        json_object_set_new(body, "eventType", json_string("page_view"));
    json_decref(q);
    return body;
}

void h_pixel(struct ctx *c)
{
    struct issues is;
    issues_init(&is);
    if (c->req->query.n > PIXEL_QUERY_MAX) {
        issues_add(&is, "", "the query string is too long");
        rejection_record(c, "invalid_request");
        http_invalid(c->resp, &is);
        issues_free(&is);
        return;
    }
    json_t *body = pixel_body(c, &is);
    /* rejection_record reads the property from c->body */
    c->body = body;
    if (issues_any(&is)) {
        rejection_record(c, "invalid_request");
        http_invalid(c->resp, &is);
    } else {
        ingest(c, body, true, &is);
        /* name the query parameters, not the event fields they filled */
        for (size_t k = 0; k < is.n; k++) {
            for (size_t i = 0; i < ARRAY_LEN(PIXEL_KEYS); i++) {
                if (strcmp(is.items[k].path, PIXEL_KEYS[i].field) == 0) {
                    free(is.items[k].path);
                    is.items[k].path = xstrndup(PIXEL_KEYS[i].query, strlen(PIXEL_KEYS[i].query));
                    break;
                }
            }
        }
        if (issues_any(&is))
            http_invalid(c->resp, &is);
    }
    c->body = NULL;
    json_decref(body);
    issues_free(&is);
}
