/* cors.c - exact-match allowlist; preflights never reach a route or the database. */
#include "cors.h"

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

void cors_decorate(const struct config *cfg, struct request *req, struct response *resp)
{
    if (!cors_origin_allowed(cfg, req->origin))
        return;
    (void)http_add_header(req, resp, "Access-Control-Allow-Origin", req->origin);
    (void)http_add_header(req, resp, "Vary", STRLIT("Origin"));
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

static void preflight_invalid(struct response *resp, const char *message)
{
    struct issues is;
    issues_init(&is);
    issues_add(&is, "", message);
    http_invalid(resp, &is);
}

void cors_preflight(const struct config *cfg, struct request *req, struct response *resp)
{
    if (!cors_origin_allowed(cfg, req->origin)) {
        http_error(resp, 403, "origin_not_allowed");
        return;
    }
    struct str method = http_param(req, "HTTP_ACCESS_CONTROL_REQUEST_METHOD");
    if (!method.p || str_trim(method).n == 0) {
        preflight_invalid(resp, "Access-Control-Request-Method header is required");
        return;
    }
    struct str headers = http_param(req, "HTTP_ACCESS_CONTROL_REQUEST_HEADERS");
    if (headers.p && !is_header_list(headers)) {
        preflight_invalid(resp, "Access-Control-Request-Headers is not a list of header names");
        return;
    }
    resp->status = 204;
    json_decref(resp->body);
    resp->body = NULL;
    cors_decorate(cfg, req, resp);
    (void)http_add_header(req, resp, "Access-Control-Allow-Methods", STRLIT("GET, HEAD, POST"));
    if (headers.p && headers.n > 0)
        (void)http_add_header(req, resp, "Access-Control-Allow-Headers", headers);
    (void)http_add_header(req, resp, "Access-Control-Max-Age", STRLIT("600"));
}
