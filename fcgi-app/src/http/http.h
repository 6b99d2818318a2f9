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
    http_body_reader read_body;
    void *read_ctx;
};

struct http_header {
    const char *name;  /* static */
    const char *value; /* arena-owned or static */
};

struct response {
    int status;
    struct http_header headers[RESPONSE_MAX_HEADERS];
    int header_count;
    json_t *body; /* owned; NULL for 204/303 */
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

/* Sets 400 invalid_request with is's entries as "issues" ([{"path","message"}]); is stays the
 * caller's to free. A path that is not UTF-8 (a client's field name) is reported as "". */
void http_invalid(struct response *resp, const struct issues *is);

const char *http_status_text(int status);

/* Serialises resp as a CGI response (Status + headers + body) into a newly malloc'd
 * buffer the caller frees; *len receives its length. HEAD requests get no body. */
char *http_serialize(const struct request *req, const struct response *resp, size_t *len);

/* Media type of a Content-Type value: lower-cased, parameters dropped. Arena-owned. */
struct str http_media_type(struct request *req, struct str content_type);

#endif
