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

void http_response_free(struct response *resp)
{
    json_decref(resp->body);
    free(resp->bytes);
    resp->kind = RESP_EMPTY;
    resp->body = NULL;
    resp->bytes = NULL;
    resp->bytes_len = 0;
    resp->content_type = NULL;
    resp->stream = NULL;
    resp->stream_ctx = NULL;
}

void http_reply_empty(struct response *resp, int status)
{
    http_response_free(resp);
    resp->status = status;
}

void http_reply_json(struct response *resp, int status, json_t *body)
{
    http_reply_empty(resp, status);
    resp->kind = body ? RESP_JSON : RESP_EMPTY;
    resp->body = body;
}

int http_reply_bytes(struct response *resp, int status, const char *content_type, const char *p, size_t n)
{
    http_reply_empty(resp, status);
    resp->bytes = malloc(n ? n : 1);
    if (!resp->bytes)
        return -1;
    if (n)
        memcpy(resp->bytes, p, n);
    resp->bytes_len = n;
    resp->content_type = content_type;
    resp->kind = RESP_BYTES;
    return 0;
}

void http_reply_stream(struct response *resp, int status, const char *content_type, http_stream_fn fn,
                       void *ctx)
{
    http_reply_empty(resp, status);
    resp->content_type = content_type;
    resp->stream = fn;
    resp->stream_ctx = ctx;
    resp->kind = RESP_STREAM;
}

void http_error(struct response *resp, int status, const char *code)
{
    http_reply_json(resp, status, json_pack("{s:b, s:s}", "ok", 0, "error", code));
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

static int sink_put(struct http_sink *out, const char *p, size_t n)
{
    return n == 0 ? 0 : out->write(out->ctx, p, n);
}

int http_sink_chunk(struct http_sink *out, const char *p, size_t n)
{
    if (sink_put(out, p, n) != 0)
        return -1;
    return out->flush ? out->flush(out->ctx) : 0;
}

int http_write_response(const struct request *req, const struct response *resp, struct http_sink *out)
{
    struct buf o = BUF_INIT;
    char line[64];
    int n = snprintf(line, sizeof(line), "Status: %d %s\r\n", resp->status, http_status_text(resp->status));
    buf_put(&o, line, (size_t)n);
    char *json = NULL;
    const char *body = NULL;
    size_t body_len = 0;
    switch (resp->kind) {
    case RESP_JSON:
        json = resp->body ? jsonout_dumps(resp->body, false) : NULL;
        if (json)
            body_len = strlen(json);
        body = json;
        buf_puts(&o, "Content-Type: application/json; charset=utf-8\r\n");
        break;
    case RESP_BYTES:
    case RESP_STREAM:
        body = resp->bytes;
        body_len = resp->kind == RESP_BYTES ? resp->bytes_len : 0;
        buf_puts(&o, "Content-Type: ");
        buf_puts(&o, resp->content_type);
        buf_puts(&o, "\r\n");
        break;
    case RESP_EMPTY:
        break;
    }
    /* a streamed body's length is not known in advance: lighttpd frames it (chunked, or close) */
    if (resp->kind != RESP_STREAM) {
        n = snprintf(line, sizeof(line), "Content-Length: %zu\r\n", body_len);
        buf_put(&o, line, (size_t)n);
    }
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
    int rc = sink_put(out, o.p, o.n);
    free(o.p);
    free(json);
    if (rc == 0 && resp->kind == RESP_STREAM && req->method != M_HEAD) {
        /* the headers reach the client before the first chunk is produced */
        rc = out->flush ? out->flush(out->ctx) : 0;
        if (rc == 0)
            rc = resp->stream(resp->stream_ctx, out);
    }
    return rc;
}

static int buf_sink_write(void *ctx, const char *p, size_t n)
{
    buf_put(ctx, p, n);
    return 0;
}

char *http_serialize(const struct request *req, const struct response *resp, size_t *len)
{
    struct buf o = BUF_INIT;
    struct http_sink sink = {buf_sink_write, NULL, &o};
    (void)http_write_response(req, resp, &sink);
    *len = o.n;
    return o.p;
}
