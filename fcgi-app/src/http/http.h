/* http.h - one request and its response, independent of libfcgi so tests can drive it. */
#ifndef HTTP_H
#define HTTP_H

#include <jansson.h>

#include "core/arena.h"
#include "core/common.h"
#include "core/bounds.h"
#include "core/issues.h"

enum http_method {
    M_GET = 1 << 0,
    M_HEAD = 1 << 1,
    M_POST = 1 << 2,
    M_OPTIONS = 1 << 3,
    M_OTHER = 1 << 4,
};

/* Reads up to n body bytes into buf; returns bytes read, 0 at end, -1 on error. */
typedef int (*http_body_reader)(void *ctx, char *buf, int n);

struct request {
    struct arena *arena;
    char **params; /* CGI/FastCGI environment: NAME=value, NULL-terminated; borrowed */
    enum http_method method;
    struct str method_name;
    struct str path;  /* REQUEST_URI without the query string */
    struct str query; /* after '?', may be empty */
    struct str content_type;
    long content_length; /* -1 when absent or malformed */
    bool content_length_bad;
    struct str remote_addr;
    struct str origin; /* .p == NULL when absent */
    struct str host;
    struct str user_agent; /* .p == NULL when absent */
    /* Came through the metrics listener (lighttpd sets BACKEND_METRICS_LISTENER=1 only there; a
     * client cannot: its headers arrive as HTTP_*). Such a request sees only the internal routes. */
    bool metrics_listener;
    int route_slot; /* the metrics route slot app_handle found for the path (router_slot) */
    http_body_reader read_body;
    void *read_ctx;
};

struct http_header {
    const char *name;  /* static */
    const char *value; /* arena-owned or static */
};

/* Where a response is written: write() takes every byte in order and returns 0, or -1 when the
 * client is gone; flush() (may be NULL) hands what is buffered to the peer now. */
struct http_sink {
    int (*write)(void *ctx, const char *p, size_t n);
    int (*flush)(void *ctx);
    void *ctx;
};

/* A streamed body: called once after the headers are written; writes its chunks to out as it
 * produces them (http_sink_chunk) and returns 0, or -1 to cut the body short. */
typedef int (*http_stream_fn)(void *ctx, struct http_sink *out);

/* What a response carries; set only through http_reply_* (and http_error). */
enum response_kind {
    RESP_EMPTY = 0, /* 204/303, preflights */
    RESP_JSON,      /* body, serialised with Content-Length */
    RESP_BYTES,     /* bytes/bytes_len as they are, with Content-Length */
    RESP_STREAM,    /* written by stream() as it goes, no Content-Length */
};

struct response {
    int status;
    struct http_header headers[RESPONSE_MAX_HEADERS];
    int header_count;
    enum response_kind kind;
    json_t *body;             /* RESP_JSON: owned */
    const char *content_type; /* RESP_BYTES, RESP_STREAM: static */
    char *bytes;              /* RESP_BYTES: owned (malloc) */
    size_t bytes_len;
    http_stream_fn stream; /* RESP_STREAM */
    void *stream_ctx;      /* RESP_STREAM: borrowed; must live until the response is written */
};

/* Looks a parameter up in req->params; returns a borrowed (ptr, len), .p NULL when absent. */
struct str http_param(const struct request *req, const char *name);

/* Fills the parsed fields of req from req->params. */
void http_parse_request(struct request *req);

/* Adds a header; the value is copied into the arena. Returns -1 when the table is full. */
int http_add_header(struct request *req, struct response *resp, const char *name, struct str value);
int http_add_headerf(struct request *req, struct response *resp, const char *name, const char *fmt, ...)
    ATTR_PRINTF(4, 5);

/* 503 database_unavailable with Retry-After. */
void http_db_unavailable(struct request *req, struct response *resp);

/* Replaces the body with {"ok":false,"error":code}. */
void http_error(struct response *resp, int status, const char *code);

/* One setter per body kind; each drops what the response carried before. */
/* A JSON body; takes ownership of body (NULL, e.g. when json_pack failed, leaves no body). */
void http_reply_json(struct response *resp, int status, json_t *body);
/* No body at all. */
void http_reply_empty(struct response *resp, int status);
/* A copy of (p, n) sent as it is, typed content_type (static). Returns -1 when out of memory. */
int http_reply_bytes(struct response *resp, int status, const char *content_type, const char *p, size_t n);
/* A body fn writes while the response goes out (ctx borrowed), typed content_type (static). */
void http_reply_stream(struct response *resp, int status, const char *content_type, http_stream_fn fn,
                       void *ctx);
/* Frees what the response owns (JSON body, bytes); it is empty afterwards. */
void http_response_free(struct response *resp);

/* Writes one chunk of a streamed body and flushes it to the peer; 0, or -1 when the client is gone. */
int http_sink_chunk(struct http_sink *out, const char *p, size_t n);

/* Sets 400 invalid_request with is's entries as "issues" ([{"path","message"}]); is stays the
 * caller's to free. A path that is not UTF-8 (a client's field name) is reported as "". */
void http_invalid(struct response *resp, const struct issues *is);
/* 400 invalid_request with one issue at path "" (the body or request as a whole, no field to name). */
void http_invalid_body(struct response *resp, const char *message);

const char *http_status_text(int status);

/* Writes resp as a CGI response (Status + headers + body) to out; a streamed body is produced
 * here, chunk by chunk. HEAD requests get no body. Returns 0, or -1 when out failed. */
int http_write_response(const struct request *req, const struct response *resp, struct http_sink *out);

/* http_write_response into a newly malloc'd buffer the caller frees; *len receives its length. */
char *http_serialize(const struct request *req, const struct response *resp, size_t *len);

/* Media type of a Content-Type value: lower-cased, parameters dropped. Arena-owned. */
struct str http_media_type(struct request *req, struct str content_type);

#endif
