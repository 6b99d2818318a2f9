/* handlers.h - every route handler (one file per route family). */
#ifndef HANDLERS_H
#define HANDLERS_H

#include "domain/event.h"
#include "http/router.h"
#include "store/db.h"

/* h_ready.c */
void h_readyz(struct ctx *c);
/* Reads the migration versions on disk once at start; -1 when the folder cannot be read. */
int ready_init(const struct config *cfg);
void ready_free(void);

/* h_events.c */
void h_events(struct ctx *c);
/* GET /v1/p.gif: the no-JavaScript pixel, an event from the query string, a 1x1 GIF answer. */
void h_pixel(struct ctx *c);
/* Where HTTP meets the event path: the sender as the request describes it (borrowed from req). */
struct event_client event_client_of(const struct request *req);

/* h_leads.c */
void h_capture(struct ctx *c);
void h_unsubscribe(struct ctx *c);
void h_delete(struct ctx *c);

/* h_unsubscribe.c: GET and POST /v1/leads/unsubscribe (issue 16): signed one-click links, and the
 * bare-email POST of h_leads.c when no token is given (refused when tokens are required). */
void h_unsubscribe_route(struct ctx *c);

/* h_metrics.c */
void h_summary(struct ctx *c);

/* h_metrics_read.c: GET /v1/metrics/site, /timeseries, /breakdown, /realtime (issue 15). */
void h_site(struct ctx *c);
void h_timeseries(struct ctx *c);
void h_breakdown(struct ctx *c);
void h_realtime(struct ctx *c);

/* h_export.c: GET /v1/metrics/export.csv, streamed. */
void h_export(struct ctx *c);

/* h_consent.c: GET and POST /v1/consent/wordings (issue 16 item 3). */
void h_consent_wordings(struct ctx *c);

/* h_lead_list.c: GET /v1/leads and GET /v1/leads/export.csv, streamed (issue 16 item 1). */
void h_lead_list(struct ctx *c);
void h_lead_export(struct ctx *c);

/* h_prometheus.c: GET /metrics on the metrics listener (the Prometheus text exposition). */
void h_prometheus(struct ctx *c);

/* h_webhooks.c: GET /v1/webhooks/deliveries (issue 16 item 6), the outbox's delivery state. */
void h_webhook_deliveries(struct ctx *c);

/* rejection.c: one ingest_rejections row for a refused /v1/events or /v1/leads/capture body. */
void rejection_record(struct ctx *c, const char *reason);

/* privacy.c: cookieless ids, Sec-GPC / DNT, bots (issue 14). */
/* True when the request carries Sec-GPC: 1 or DNT: 1 and HONOR_GLOBAL_PRIVACY_CONTROL is on. */
bool privacy_signal(const struct ctx *c);
/* The visitor id to store: *anon_id as sent, unless it is absent or cookieless is true; then the
 * sender's cookieless id under the salt of now_ms's UTC day (cached per responder for the day, else
 * read or made in Postgres), arena-owned. false: the reply (503 or 500) is written. */
bool privacy_visitor_or_reply(struct ctx *c, int64_t now_ms, const struct event_client *cl, bool cookieless,
                              struct str *anon_id);
/* With BOT_POLICY=drop: the reason the sender is a bot (and the drop counted), else NULL. */
const char *privacy_bot_drop(struct ctx *c, const struct event_client *cl, const struct event_in *ev);

/* h_lead_access.c: GET /v1/leads/access and /v1/leads/erasures (issue 16 items 4 and 5). */
void h_lead_access(struct ctx *c);
void h_lead_erasures(struct ctx *c);

#endif
