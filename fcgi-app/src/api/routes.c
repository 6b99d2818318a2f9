/* routes.c - the one static route table: method, path, handler, rate-limit class, flags.
 * Handlers live in h_*.c, one file per route family. */
#include "http/router.h"

#include "api/handlers.h"

const struct route ROUTES[] = {
    {"/v1/readyz", M_GET, h_readyz, RL_DEFAULT, 0, NULL},
    {"/v1/events", M_POST, h_events, RL_EVENTS, ROUTE_BODY_JSON, rejection_record},
    {"/v1/p.gif", M_GET, h_pixel, RL_EVENTS, 0, NULL},
    {"/v1/leads/capture", M_POST, h_capture, RL_CAPTURE, ROUTE_BODY_JSON | ROUTE_BODY_FORM, rejection_record},
    /* GET: the signed link's confirmation page (no body); POST: the one-click form body or JSON */
    {"/v1/leads/unsubscribe", M_GET | M_POST, h_unsubscribe_route, RL_UNSUBSCRIBE,
     ROUTE_BODY_JSON | ROUTE_BODY_FORM, NULL},
    {"/v1/leads/delete", M_POST, h_delete, RL_DELETE, ROUTE_ADMIN | ROUTE_BODY_JSON, NULL},
    {"/v1/metrics/summary", M_GET, h_summary, RL_SUMMARY, ROUTE_ADMIN, NULL},
    /* the read APIs of the dashboard (issue 15): the summary's auth and rate-limit class */
    {"/v1/metrics/site", M_GET, h_site, RL_SUMMARY, ROUTE_ADMIN, NULL},
    {"/v1/metrics/timeseries", M_GET, h_timeseries, RL_SUMMARY, ROUTE_ADMIN, NULL},
    {"/v1/metrics/breakdown", M_GET, h_breakdown, RL_SUMMARY, ROUTE_ADMIN, NULL},
    {"/v1/metrics/realtime", M_GET, h_realtime, RL_SUMMARY, ROUTE_ADMIN, NULL},
    {"/v1/metrics/export.csv", M_GET, h_export, RL_SUMMARY, ROUTE_ADMIN, NULL},
    /* issue 16: an access request's document, and whether an address was erased */
    {"/v1/leads/access", M_GET, h_lead_access, RL_SUMMARY, ROUTE_ADMIN, NULL},
    {"/v1/leads/erasures", M_GET, h_lead_erasures, RL_SUMMARY, ROUTE_ADMIN, NULL},
    /* issue 16 items 3 and 1: consent wordings (one path, one metrics label: the admin writes' class,
     * the list of a few wordings shares it), the lead list and its export */
    {"/v1/consent/wordings", M_GET | M_POST, h_consent_wordings, RL_DELETE, ROUTE_ADMIN | ROUTE_BODY_JSON,
     NULL},
    {"/v1/leads", M_GET, h_lead_list, RL_SUMMARY, ROUTE_ADMIN, NULL},
    {"/v1/leads/export.csv", M_GET, h_lead_export, RL_SUMMARY, ROUTE_ADMIN, NULL},
    /* the webhook outbox's delivery state (issue 16 item 6) */
    {"/v1/webhooks/deliveries", M_GET, h_webhook_deliveries, RL_SUMMARY, ROUTE_ADMIN, NULL},
};
const size_t ROUTES_LEN = ARRAY_LEN(ROUTES);

/* The metrics listener's (lighttpd/metrics.conf): the public port never reaches these. */
const struct route INTERNAL_ROUTES[] = {
    {"/metrics", M_GET, h_prometheus, RL_DEFAULT, 0, NULL},
};
const size_t INTERNAL_ROUTES_LEN = ARRAY_LEN(INTERNAL_ROUTES);
