/* response.c - building a response (status, headers, body) and writing it as CGI. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "core/buf.h"
#include "core/jsonout.h"

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
