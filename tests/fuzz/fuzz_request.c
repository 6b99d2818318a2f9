/* fuzz_request.c - one whole request through the pipeline: FastCGI parameters to
 * http_parse_request, app_handle (preflight, route, rate limit, admin auth, body, handler) and
 * http_serialize, as serve.c runs them. The database is a closed port (127.0.0.1:1): a refused
 * connection fails in microseconds and never opens the breaker, so a route that reaches the
 * database answers 503 at once, after its validation has run.
 *
 * Input: lines NAME=value (each one FastCGI parameter, as lighttpd passes them: REQUEST_METHOD,
 * REQUEST_URI with its query, CONTENT_TYPE, CONTENT_LENGTH, HTTP_ORIGIN,
 * HTTP_ACCESS_CONTROL_REQUEST_METHOD, HTTP_ACCESS_CONTROL_REQUEST_HEADERS, HTTP_X_ADMIN_KEY,
 * HTTP_AUTHORIZATION, ...), then an empty line, then the body. Without a CONTENT_LENGTH line a
 * non-empty body gets its own length. At most FUZZ_MAX_PARAMS lines are kept.
 *
 * A request that reaches the database costs about 0.15-0.2 ms (socket, refused connect, close), so
 * nothing is skipped.
 *
 * Properties: a known status and never 500; a well-formed CGI response (every header line
 * "Name: value" without CR/LF, Content-Length the body's length, no body for HEAD); the JSON body
 * parses back with "ok"; Access-Control-Allow-Origin only for an allowed Origin, equal to it; 204
 * only for a preflight. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/app.h"
#include "core/bounds.h"
#include "http/cors.h"
#include "store/db.h"
#include "core/hash.h"
#include "core/jsonout.h"
#include "core/log.h"

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_PARAMS 32
/* a fixed wall clock for the rate-limit window, so that a crash reproduces */
#define FUZZ_NOW ((time_t)1771045200)

static const char ADMIN_KEY[] = "fuzz-admin-key-0123456789abcdef";
static char ORIGIN_A[] = "https://www.example.com";
static char ORIGIN_B[] = "https://a.example";

static struct config cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (hash_init() != 0)
        abort();
    log_set_level(LOG_ERROR); /* the refused connects are expected */
    fuzz_config(&cfg, ORIGIN_A, ORIGIN_B);
    cfg.admin_api_key = ADMIN_KEY;
    cfg.admin_api_key_len = sizeof(ADMIN_KEY) - 1;
    /* rate_limits all 0: unlimited, and no shared table is needed */
    db_init(&cfg);
    return 0;
}

static bool known_status(int s)
{
    static const int ok[] = {200, 202, 204, 303, 400, 401, 403, 404, 405, 413, 415, 429, 503};
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        if (ok[i] == s)
            return true;
    }
    return false;
}

static bool is_preflight(const struct request *req)
{
    return req->method == M_OPTIONS && req->path.n >= 4 && memcmp(req->path.p, "/v1/", 4) == 0;
}

static const char *header(const struct response *resp, const char *name)
{
    for (int i = 0; i < resp->header_count; i++) {
        if (strcmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    }
    return NULL;
}

static void check_response(const struct request *req, const struct response *resp)
{
    if (!known_status(resp->status))
        fprintf(stderr, "status %d\n", resp->status);
    FZ_CHECK(known_status(resp->status));
    FZ_CHECK(resp->header_count >= 0 && resp->header_count <= RESPONSE_MAX_HEADERS);
    FZ_CHECK((resp->status == 204) == (req->method == M_OPTIONS && resp->body == NULL));
    FZ_CHECK(resp->status == 204 || resp->status == 303 || json_is_object(resp->body));
    if (resp->body)
        FZ_CHECK(json_is_boolean(json_object_get(resp->body, "ok")));

    const char *acao = header(resp, "Access-Control-Allow-Origin");
    if (acao) {
        FZ_CHECK(cors_origin_allowed(&cfg, req->origin));
        FZ_CHECK(strlen(acao) == req->origin.n && memcmp(acao, req->origin.p, req->origin.n) == 0);
    } else if (!is_preflight(req)) {
        /* every routed answer to an allowed Origin carries it (unless the header table is full) */
        FZ_CHECK(!cors_origin_allowed(&cfg, req->origin) || resp->header_count == RESPONSE_MAX_HEADERS);
    }

    size_t len = 0;
    char *out = http_serialize(req, resp, &len);
    FZ_CHECK(out != NULL && strlen(out) == len);
    char status_line[32];
    snprintf(status_line, sizeof(status_line), "Status: %d ", resp->status);
    FZ_CHECK(strncmp(out, status_line, strlen(status_line)) == 0);
    /* header lines: "Name: value" up to the empty line, no CR or LF inside */
    const char *p = out;
    long content_length = -1;
    for (;;) {
        const char *eol = strstr(p, "\r\n");
        FZ_CHECK(eol != NULL);
        if (eol == p) {
            p += 2;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        FZ_CHECK(colon != NULL && colon > p && colon[1] == ' ');
        FZ_CHECK(!memchr(p, '\n', (size_t)(eol - p)) && !memchr(p, '\r', (size_t)(eol - p)));
        if (strncmp(p, "Content-Length: ", 16) == 0)
            content_length = strtol(p + 16, NULL, 10);
        p = eol + 2;
    }
    size_t body_len = len - (size_t)(p - out);
    FZ_CHECK(content_length >= 0);
    if (req->method == M_HEAD || !resp->body) {
        FZ_CHECK(body_len == 0);
    } else {
        FZ_CHECK((size_t)content_length == body_len);
        json_t *back = json_loadb(p, body_len, 0, NULL);
        FZ_CHECK(json_equal(back, resp->body));
        json_decref(back);
    }
    if (resp->body) {
        char *dumped = jsonout_dumps(resp->body, false);
        FZ_CHECK(dumped && (size_t)content_length == strlen(dumped));
        free(dumped);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > BODY_BYTES_DEFAULT + 8192)
        return 0;
    struct arena arena;
    arena_init(&arena, ARENA_MAX_BYTES);
    char *params[FUZZ_MAX_PARAMS + 2];
    size_t np = 0, pos = 0;
    bool have_cl = false;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t end = nl ? (size_t)(nl - data) : size;
        if (end == pos) { /* the empty line: the body follows */
            pos++;
            break;
        }
        if (np < FUZZ_MAX_PARAMS) {
            /* a parameter is a C string, as libfcgi hands it over: a NUL ends it */
            char *line = arena_strndup(&arena, (const char *)data + pos, end - pos);
            if (!line)
                abort();
            have_cl = have_cl || strncmp(line, "CONTENT_LENGTH=", 15) == 0;
            params[np++] = line;
        }
        pos = nl ? end + 1 : size;
    }
    const uint8_t *body = data + pos;
    size_t body_n = size - pos;
    char cl[48];
    if (!have_cl && body_n > 0) {
        snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", body_n);
        params[np++] = cl;
    }
    params[np] = NULL;

    struct fz_reader rd = {body, body_n, 0, 0};
    struct request req;
    memset(&req, 0, sizeof(req));
    req.arena = &arena;
    req.params = params;
    req.read_body = fz_read;
    req.read_ctx = &rd;
    http_parse_request(&req);
    db_begin_request(1800);

    struct response resp;
    memset(&resp, 0, sizeof(resp));
    app_handle(&cfg, &req, &resp, FUZZ_NOW);
    check_response(&req, &resp);
    http_response_free(&resp);
    arena_free(&arena);
    return 0;
}
