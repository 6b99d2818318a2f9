/* request.c - a request's fields from its CGI/FastCGI parameters. */
#include <string.h>

#include "http/http.h"

struct str http_param(const struct request *req, const char *name)
{
    struct str none = {NULL, 0};
    size_t nlen = strlen(name);
    if (!req->params)
        return none;
    for (char **e = req->params; *e; e++) {
        if (strncmp(*e, name, nlen) == 0 && (*e)[nlen] == '=')
            return str_from_cstr(*e + nlen + 1);
    }
    return none;
}

static enum http_method parse_method(struct str m)
{
    if (str_eq(m, STRLIT("GET")))
        return M_GET;
    if (str_eq(m, STRLIT("HEAD")))
        return M_HEAD;
    if (str_eq(m, STRLIT("POST")))
        return M_POST;
    if (str_eq(m, STRLIT("OPTIONS")))
        return M_OPTIONS;
    return M_OTHER;
}

/* CONTENT_LENGTH: digits only, no sign, no junk; lighttpd always sets it for bodies. */
static long parse_content_length(struct str s, bool *bad)
{
    *bad = false;
    if (!s.p || s.n == 0)
        return 0;
    if (s.n > 18) {
        *bad = true;
        return -1;
    }
    long v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9') {
            *bad = true;
            return -1;
        }
        v = v * 10 + (s.p[i] - '0');
    }
    return v;
}

void http_parse_request(struct request *req)
{
    req->method_name = http_param(req, "REQUEST_METHOD");
    req->method = parse_method(req->method_name);
    struct str uri = http_param(req, "REQUEST_URI");
    if (!uri.p)
        uri = STRLIT("/");
    const char *q = memchr(uri.p, '?', uri.n);
    if (q) {
        req->path = (struct str){uri.p, (size_t)(q - uri.p)};
        req->query = (struct str){q + 1, uri.n - (size_t)(q - uri.p) - 1};
    } else {
        req->path = uri;
        req->query = (struct str){"", 0};
    }
    req->content_type = http_param(req, "CONTENT_TYPE");
    req->content_length = parse_content_length(http_param(req, "CONTENT_LENGTH"), &req->content_length_bad);
    req->remote_addr = http_param(req, "REMOTE_ADDR");
    if (!req->remote_addr.p)
        req->remote_addr = STRLIT("unknown");
    req->metrics_listener = str_eq(http_param(req, "BACKEND_METRICS_LISTENER"), STRLIT("1"));
    req->origin = http_param(req, "HTTP_ORIGIN");
    req->host = http_param(req, "HTTP_HOST");
    req->user_agent = http_param(req, "HTTP_USER_AGENT");
}

struct str http_media_type(struct request *req, struct str ct)
{
    struct str none = {NULL, 0};
    if (!ct.p)
        return none;
    const char *semi = memchr(ct.p, ';', ct.n);
    return arena_trim_lower(req->arena, (struct str){ct.p, semi ? (size_t)(semi - ct.p) : ct.n});
}
