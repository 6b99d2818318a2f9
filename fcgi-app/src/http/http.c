/* http.c - request parameters in, CGI response out. */
#include "http/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/jsonout.h"
#include "core/xalloc.h"

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
    req->origin = http_param(req, "HTTP_ORIGIN");
    req->host = http_param(req, "HTTP_HOST");
    req->user_agent = http_param(req, "HTTP_USER_AGENT");
}

int http_add_header(struct request *req, struct response *resp, const char *name, struct str value)
{
    if (resp->header_count >= RESPONSE_MAX_HEADERS || value.n > RESPONSE_HEADER_MAX_LEN)
        return -1;
    /* header values never carry CR/LF: they would split the CGI response */
    for (size_t i = 0; i < value.n; i++) {
        if (value.p[i] == '\r' || value.p[i] == '\n' || value.p[i] == '\0')
            return -1;
    }
    char *v = arena_strndup(req->arena, value.p, value.n);
    if (!v)
        return -1;
    resp->headers[resp->header_count].name = name;
    resp->headers[resp->header_count].value = v;
    resp->header_count++;
    return 0;
}

int http_add_headerf(struct request *req, struct response *resp, const char *name, const char *fmt, ...)
{
    char buf[RESPONSE_HEADER_MAX_LEN + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -1;
    return http_add_header(req, resp, name, (struct str){buf, (size_t)n});
}

void http_error(struct response *resp, int status, const char *code)
{
    json_decref(resp->body);
    resp->status = status;
    resp->body = json_pack("{s:b, s:s}", "ok", 0, "error", code);
}

void http_db_unavailable(struct request *req, struct response *resp)
{
    http_error(resp, 503, "database_unavailable");
    (void)http_add_headerf(req, resp, "Retry-After", "%d", DB_RETRY_AFTER_S);
}

void http_invalid(struct response *resp, const struct issues *is)
{
    http_error(resp, 400, "invalid_request");
    json_t *list = json_array();
    for (size_t i = 0; i < is->n; i++) {
        const struct issue *it = &is->items[i];
        json_t *issue = json_pack("{s:s, s:s}", "path", it->path, "message", it->message);
        if (!issue) /* a path that is not UTF-8 (a client's field name) becomes the whole body's */
            issue = json_pack("{s:s, s:s}", "path", "", "message", it->message);
        json_array_append_new(list, issue);
    }
    json_object_set_new(resp->body, "issues", list);
}

const char *http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 303:
        return "See Other";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

char *http_serialize(const struct request *req, const struct response *resp, size_t *len)
{
    struct buf o = BUF_INIT;
    char line[64];
    int n = snprintf(line, sizeof(line), "Status: %d %s\r\n", resp->status, http_status_text(resp->status));
    buf_put(&o, line, (size_t)n);
    char *body = NULL;
    size_t body_len = 0;
    if (resp->body) {
        body = jsonout_dumps(resp->body, false);
        if (body)
            body_len = strlen(body);
        buf_puts(&o, "Content-Type: application/json; charset=utf-8\r\n");
    }
    n = snprintf(line, sizeof(line), "Content-Length: %zu\r\n", body_len);
    buf_put(&o, line, (size_t)n);
    buf_puts(&o, "Cache-Control: no-store\r\n");
    for (int i = 0; i < resp->header_count; i++) {
        buf_puts(&o, resp->headers[i].name);
        buf_puts(&o, ": ");
        buf_puts(&o, resp->headers[i].value);
        buf_puts(&o, "\r\n");
    }
    buf_puts(&o, "\r\n");
    if (body && req->method != M_HEAD)
        buf_put(&o, body, body_len);
    free(body);
    *len = o.n;
    return o.p;
}

struct str http_media_type(struct request *req, struct str ct)
{
    struct str none = {NULL, 0};
    if (!ct.p)
        return none;
    const char *semi = memchr(ct.p, ';', ct.n);
    struct str t = str_trim((struct str){ct.p, semi ? (size_t)(semi - ct.p) : ct.n});
    char *low = arena_strndup(req->arena, t.p, t.n);
    if (!low)
        return none;
    ascii_lower_inplace(low, t.n);
    return (struct str){low, t.n};
}
