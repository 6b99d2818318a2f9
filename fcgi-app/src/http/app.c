/* app.c - the request pipeline of DESIGN.md ("An event's way through"): everything a route
 * promises is checked here once, so handlers read as a straight line. */
#include "http/app.h"

#include <stdio.h>

#include "core/metrics.h"
#include "http/auth.h"
#include "http/body.h"
#include "http/cors.h"
#include "http/ratelimit.h"
#include "http/router.h"

static bool is_api_path(struct str path)
{
    return path.n >= 4 && str_eq((struct str){path.p, 4}, STRLIT("/v1/"));
}

static void add_rate_headers(struct request *req, struct response *resp, const struct rl_decision *d)
{
    (void)http_add_headerf(req, resp, "X-RateLimit-Limit", "%ld", d->limit);
    (void)http_add_headerf(req, resp, "X-RateLimit-Remaining", "%ld", d->remaining);
    (void)http_add_headerf(req, resp, "X-RateLimit-Reset", "%ld", d->reset_s);
}

void app_handle(const struct config *cfg, struct request *req, struct response *resp, time_t now)
{
    *resp = (struct response){.status = 500}; /* the caller's is fresh: nothing to free */
    json_t *body = NULL;
    struct rl_decision rl = {true, 0, 0, 0};

    req->route_slot = router_slot(req->path, req->metrics_listener);
    if (req->method == M_OPTIONS && is_api_path(req->path) && !req->metrics_listener) {
        cors_preflight(cfg, req, resp);
        return; /* preflight headers are complete; not rate limited */
    }

    /* the metrics listener's requests see only its own table, the public port's never see it */
    unsigned allowed = 0;
    const struct route *route = req->metrics_listener ? router_find_internal(req->path, req->method, &allowed)
                                                      : router_find(req->path, req->method, &allowed);
    if (!route) {
        if (allowed) {
            char allow[64];
            router_allow_header(allowed, allow, sizeof(allow));
            http_error(resp, 405, "method_not_allowed");
            (void)http_add_header(req, resp, "Allow", str_from_cstr(allow));
        } else {
            http_error(resp, 404, "not_found");
        }
        goto out;
    }

    /* Before the rate limiter and any database work: a refused write stores nothing (not even a
     * rejection row), and a foreign page cannot spend its visitors' allowance on this site. */
    if (!cors_write_allowed_or_reply(cfg, req, resp))
        goto out;

    /* a scraper on the operator's network is not a client to throttle */
    if (!req->metrics_listener)
        ratelimit_hit(route->rl, req->remote_addr, cfg->rate_limits[route->rl], now, &rl);
    if (!rl.allowed) {
        metrics_rate_limited(route->rl);
        http_error(resp, 429, "rate_limited");
        (void)http_add_headerf(req, resp, "Retry-After", "%ld", rl.reset_s);
        goto out;
    }

    if ((route->flags & ROUTE_ADMIN) && !auth_admin_or_reply(cfg, req, resp))
        goto out;

    struct ctx c = {cfg, req, resp, NULL, false};
    /* a body route that also answers GET (the unsubscribe page) reads a body only for POST */
    if ((route->flags & (ROUTE_BODY_JSON | ROUTE_BODY_FORM)) && req->method == M_POST) {
        bool allow_form = (route->flags & ROUTE_BODY_FORM) != 0;
        if (body_parse_or_reply(cfg, req, resp, allow_form, &body, &c.form_post) != 0) {
            c.body = body; /* a form with issues, for the rejection row's propertyId */
            if (resp->status == 400 && route->on_reject)
                route->on_reject(&c, json_string_value(json_object_get(resp->body, "error")));
            goto out;
        }
        c.body = body;
    }
    route->handler(&c);

out:
    if (rl.limit > 0)
        add_rate_headers(req, resp, &rl);
    cors_decorate(cfg, req, resp);
    json_decref(body);
}
