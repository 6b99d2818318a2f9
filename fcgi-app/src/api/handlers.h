/* handlers.h - every route handler (one file per route family). */
#ifndef HANDLERS_H
#define HANDLERS_H

#include "domain/event.h"
#include "http/router.h"

/* h_ready.c */
void h_readyz(struct ctx *c);
/* Reads the migration versions on disk once at start; -1 when the folder cannot be read. */
int ready_init(const struct config *cfg);
void ready_free(void);

/* h_events.c */
void h_events(struct ctx *c);
/* Where HTTP meets the event path: the sender as the request describes it (borrowed from req). */
struct event_client event_client_of(const struct request *req);

/* h_leads.c */
void h_capture(struct ctx *c);
void h_unsubscribe(struct ctx *c);
void h_delete(struct ctx *c);

/* h_metrics.c */
void h_summary(struct ctx *c);

/* h_prometheus.c: GET /metrics on the metrics listener (the Prometheus text exposition). */
void h_prometheus(struct ctx *c);

/* rejection.c: one ingest_rejections row for a refused /v1/events or /v1/leads/capture body. */
void rejection_record(struct ctx *c, const char *reason);

#endif
