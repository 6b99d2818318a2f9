/* cors.c - exact-match allowlist; preflights never reach a route or the database. CORS only
 * guards reading: beacons, text/plain fetches and form posts need no preflight, so writes from
 * foreign pages are refused here by their Origin (ENFORCE_ORIGIN). */
#include "http/cors.h"

#include <string.h>

bool cors_origin_allowed(const struct config *cfg, struct str origin)
{
    if (!origin.p)
        return false;
    for (size_t i = 0; i < cfg->cors_origin_count; i++) {
        if (str_eq(origin, str_from_cstr(cfg->cors_origins[i])))
            return true;
    }
    return false;
}

/* The scheme is https only when lighttpd says so (HTTPS=on: a TLS connection, or X-Forwarded-Proto
 * from a TRUSTED_PROXIES peer, which mod_extforward applies); the app reads no forwarding header
 * itself, so a client cannot talk its way into being "self". Host is compared as sent, case-blind:
 * browsers send no default port in either header. */
bool cors_origin_is_self(const struct request *req)
{
    struct str o = req->origin;
    struct str host = req->host;
    if (!o.p || !host.p || host.n == 0)
        return false;
    struct str https = http_param(req, "HTTPS");
    struct str scheme =
        (https.p && str_eq_nocase(https, STRLIT("on"))) ? STRLIT("https://") : STRLIT("http://");
    return o.n == scheme.n + host.n && memcmp(o.p, scheme.p, scheme.n) == 0 &&
           str_eq_nocase((struct str){o.p + scheme.n, host.n}, host);
}

/* GET/HEAD stay readable-only: without Access-Control-Allow-Origin a foreign page cannot read the
 * answer, and the admin GET needs a key header that only a refused preflight could carry. No Origin
 * (or an empty one, which no browser sends) is a server-side caller. "null" (sandboxed frames,
 * file://) is foreign: any site can produce it. */
bool cors_write_allowed_or_reply(const struct config *cfg, struct request *req, struct response *resp)
{
    if (!cfg->enforce_origin || req->method == M_GET || req->method == M_HEAD)
        return true;
    if (!req->origin.p || req->origin.n == 0)
        return true;
    if (cors_origin_allowed(cfg, req->origin) || cors_origin_is_self(req))
        return true;
    http_error(resp, 403, "origin_not_allowed");
    return false;
}

/* Credentials are allowed because sendBeacon sends them: without Allow-Credentials a beacon with
 * an application/json Blob fails its preflight and is lost. The service reads no cookies. */
static void allow_origin(struct request *req, struct response *resp)
{
    (void)http_add_header(req, resp, "Access-Control-Allow-Origin", req->origin);
    (void)http_add_header(req, resp, "Access-Control-Allow-Credentials", STRLIT("true"));
    (void)http_add_header(req, resp, "Vary", STRLIT("Origin"));
}

void cors_decorate(const struct config *cfg, struct request *req, struct response *resp)
{
    if (!cors_origin_allowed(cfg, req->origin))
        return;
    allow_origin(req, resp);
    /* so that a page can back off: Retry-After and X-RateLimit-* are not CORS-safelisted */
    (void)http_add_header(req, resp, "Access-Control-Expose-Headers", STRLIT(CORS_EXPOSE_HEADERS));
}

/* Header names are tokens; the list is names, commas and spaces only. */
static bool is_header_list(struct str s)
{
    if (s.n > CORS_MAX_REQUEST_HEADERS_LEN)
        return false;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("!#$%&'*+-.^_`|~, \t", c) != NULL;
        if (!ok || c == '\0')
            return false;
    }
    return true;
}

void cors_preflight(const struct config *cfg, struct request *req, struct response *resp)
{
    if (!cors_origin_allowed(cfg, req->origin)) {
        http_error(resp, 403, "origin_not_allowed");
        return;
    }
    struct str method = http_param(req, "HTTP_ACCESS_CONTROL_REQUEST_METHOD");
    if (!method.p || str_trim(method).n == 0) {
        http_invalid_body(resp, "Access-Control-Request-Method header is required");
        return;
    }
    struct str headers = http_param(req, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS");
    if (headers.p && !is_header_list(headers)) {
        http_invalid_body(resp, "Access-Control-Request-Headers is not a list of header names");
        return;
    }
    http_reply_empty(resp, 204);
    allow_origin(req, resp);
    (void)http_add_header(req, resp, "Access-Control-Allow-Methods", STRLIT("GET, HEAD, POST"));
    if (headers.p && headers.n > 0)
        (void)http_add_header(req, resp, "Access-Control-Allow-Headers", headers);
    (void)http_add_header(req, resp, "Access-Control-Max-Age", STRLIT("600"));
}
