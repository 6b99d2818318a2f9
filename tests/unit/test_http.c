/* test_http.c - request parsing from CGI params, header rules, error envelopes, CGI serialisation. */
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "core/bounds.h"
#include "t.h"
#include "treq.h"

/* (ptr, len) compared with a C string; absent (.p NULL) never equals. */
static bool str_is(struct str s, const char *want)
{
    return s.p && str_eq(s, str_from_cstr(want));
}

static char *serialize(struct treq *t, size_t *len)
{
    return http_serialize(&t->req, &t->resp, len);
}

static void test_param(void)
{
    struct treq t;
    TREQ(&t, "HTTP_HOSTX=wrong", "HTTP_HOST=api.example", "EMPTY=", "NOEQUALS");
    CHECK(str_is(http_param(&t.req, "HTTP_HOST"), "api.example"));
    CHECK(str_is(http_param(&t.req, "EMPTY"), ""));
    CHECK(http_param(&t.req, "NOEQUALS").p == NULL);
    CHECK(http_param(&t.req, "HTTP").p == NULL);
    CHECK(http_param(&t.req, "MISSING").p == NULL);
    treq_free(&t);

    struct request none;
    memset(&none, 0, sizeof(none));
    CHECK(http_param(&none, "HTTP_HOST").p == NULL);
}

static void test_parse_path_query(void)
{
    struct treq t;
    TREQ(&t, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/metrics/summary?from=2026-01-01&to=2026-01-31");
    CHECK_INT(t.req.method, M_GET);
    CHECK(str_is(t.req.method_name, "GET"));
    CHECK(str_is(t.req.path, "/v1/metrics/summary"));
    CHECK(str_is(t.req.query, "from=2026-01-01&to=2026-01-31"));
    treq_free(&t);

    TREQ(&t, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/readyz?");
    CHECK(str_is(t.req.path, "/v1/readyz"));
    CHECK(str_is(t.req.query, ""));
    treq_free(&t);

    TREQ(&t, "REQUEST_METHOD=GET", "REQUEST_URI=/v1/readyz");
    CHECK(str_is(t.req.path, "/v1/readyz"));
    CHECK(str_is(t.req.query, "")); /* empty, never NULL */
    treq_free(&t);

    /* only the first '?' splits */
    TREQ(&t, "REQUEST_METHOD=GET", "REQUEST_URI=/a?b?c");
    CHECK(str_is(t.req.path, "/a"));
    CHECK(str_is(t.req.query, "b?c"));
    treq_free(&t);

    /* no REQUEST_URI: "/" */
    TREQ(&t, "REQUEST_METHOD=GET");
    CHECK(str_is(t.req.path, "/"));
    CHECK(str_is(t.req.query, ""));
    treq_free(&t);
}

static void test_parse_method(void)
{
    static const struct {
        const char *param;
        enum http_method m;
    } cases[] = {
        {"REQUEST_METHOD=GET", M_GET},   {"REQUEST_METHOD=HEAD", M_HEAD},
        {"REQUEST_METHOD=POST", M_POST}, {"REQUEST_METHOD=OPTIONS", M_OPTIONS},
        {"REQUEST_METHOD=PUT", M_OTHER}, {"REQUEST_METHOD=DELETE", M_OTHER},
        {"REQUEST_METHOD=get", M_OTHER}, {"REQUEST_METHOD=GETX", M_OTHER},
        {"REQUEST_METHOD=", M_OTHER},    {"NO_METHOD=1", M_OTHER},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct treq t;
        TREQ(&t, cases[i].param);
        CHECK_INT(t.req.method, cases[i].m);
        treq_free(&t);
    }
    struct treq t;
    TREQ(&t, "REQUEST_METHOD=PATCH");
    CHECK(str_is(t.req.method_name, "PATCH"));
    treq_free(&t);
}

static void test_parse_content_length(void)
{
    static const struct {
        const char *param;
        long want;
        bool bad;
    } cases[] = {
        {"CONTENT_LENGTH=0", 0, false},
        {"CONTENT_LENGTH=42", 42, false},
        {"CONTENT_LENGTH=65536", 65536, false},
        {"CONTENT_LENGTH=007", 7, false},
        {"CONTENT_LENGTH=999999999999999999", 999999999999999999L, false}, /* 18 digits */
        {"CONTENT_LENGTH=-1", -1, true},
        {"CONTENT_LENGTH=12a", -1, true},
        {"CONTENT_LENGTH=+12", -1, true},
        {"CONTENT_LENGTH= 12", -1, true},
        {"CONTENT_LENGTH=12 ", -1, true},
        {"CONTENT_LENGTH=1.0", -1, true},
        {"CONTENT_LENGTH=0x10", -1, true},
        {"CONTENT_LENGTH=9999999999999999999", -1, true},        /* 19 digits: over LONG_MAX's reach */
        {"CONTENT_LENGTH=99999999999999999999999999", -1, true}, /* huge */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct treq t;
        TREQ(&t, "REQUEST_METHOD=POST", cases[i].param);
        if (t.req.content_length != cases[i].want || t.req.content_length_bad != cases[i].bad) {
            t_failed++;
            fprintf(stderr, "FAIL %s: got %ld bad=%d\n", cases[i].param, t.req.content_length,
                    (int)t.req.content_length_bad);
        } else {
            t_passed++;
        }
        treq_free(&t);
    }

    /* absent or empty: no body, and not malformed */
    struct treq t;
    TREQ(&t, "REQUEST_METHOD=POST");
    CHECK(t.req.content_length <= 0);
    CHECK(!t.req.content_length_bad);
    treq_free(&t);
    TREQ(&t, "REQUEST_METHOD=POST", "CONTENT_LENGTH=");
    CHECK(t.req.content_length <= 0);
    CHECK(!t.req.content_length_bad);
    treq_free(&t);
}

static void test_parse_fields(void)
{
    struct treq t;
    TREQ(&t, "REQUEST_METHOD=POST", "REQUEST_URI=/v1/events", "CONTENT_TYPE=application/json",
         "REMOTE_ADDR=203.0.113.7", "HTTP_ORIGIN=https://a.example", "HTTP_HOST=api.example",
         "HTTP_USER_AGENT=Mozilla/5.0", "HTTP_X_FORWARDED_FOR=1.2.3.4");
    CHECK(str_is(t.req.content_type, "application/json"));
    CHECK(str_is(t.req.remote_addr, "203.0.113.7")); /* never X-Forwarded-For */
    CHECK(str_is(t.req.origin, "https://a.example"));
    CHECK(str_is(t.req.host, "api.example"));
    CHECK(str_is(t.req.user_agent, "Mozilla/5.0"));
    treq_free(&t);

    TREQ(&t, "REQUEST_METHOD=GET");
    CHECK(str_is(t.req.remote_addr, "unknown"));
    CHECK(t.req.origin.p == NULL);
    CHECK(t.req.user_agent.p == NULL);
    CHECK(t.req.content_type.p == NULL);
    treq_free(&t);
}

static void test_add_header(void)
{
    struct treq t;
    TREQ(&t, "REQUEST_METHOD=GET");
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-A", STRLIT("one")), 0);
    CHECK_INT(t.resp.header_count, 1);
    CHECK_STR(t.resp.headers[0].name, "X-A");
    CHECK_STR(t.resp.headers[0].value, "one");

    /* CR, LF and NUL would split or cut the CGI response */
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-B", STRLIT("a\r\nSet-Cookie: x=1")), -1);
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-B", STRLIT("a\nb")), -1);
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-B", STRLIT("a\rb")), -1);
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-B", ((struct str){"a\0b", 3})), -1);
    CHECK_INT(t.resp.header_count, 1);

    /* the value is copied */
    char buf[8] = "abc";
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-C", str_from_cstr(buf)), 0);
    buf[0] = 'Z';
    CHECK_STR(t.resp.headers[1].value, "abc");

    /* RESPONSE_HEADER_MAX_LEN, then one more */
    char big[RESPONSE_HEADER_MAX_LEN + 2];
    memset(big, 'v', RESPONSE_HEADER_MAX_LEN + 1);
    big[RESPONSE_HEADER_MAX_LEN + 1] = '\0';
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-Big", ((struct str){big, RESPONSE_HEADER_MAX_LEN})), 0);
    CHECK_INT(strlen(t.resp.headers[2].value), RESPONSE_HEADER_MAX_LEN);
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-Big", ((struct str){big, RESPONSE_HEADER_MAX_LEN + 1})),
              -1);
    CHECK_INT(t.resp.header_count, 3);

    /* the table holds RESPONSE_MAX_HEADERS, then refuses */
    while (t.resp.header_count < RESPONSE_MAX_HEADERS)
        CHECK_INT(http_add_header(&t.req, &t.resp, "X-Fill", STRLIT("f")), 0);
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-Over", STRLIT("o")), -1);
    CHECK_INT(http_add_headerf(&t.req, &t.resp, "X-Over", "%d", 1), -1);
    CHECK_INT(t.resp.header_count, RESPONSE_MAX_HEADERS);
    treq_free(&t);

    TREQ(&t, "REQUEST_METHOD=GET");
    CHECK_INT(http_add_headerf(&t.req, &t.resp, "Retry-After", "%ld", 42L), 0);
    CHECK_STR(t.resp.headers[0].value, "42");
    CHECK_INT(http_add_headerf(&t.req, &t.resp, "X-Big", "%s", big), -1); /* RESPONSE_HEADER_MAX_LEN + 1 */
    CHECK_INT(http_add_headerf(&t.req, &t.resp, "X-Big", "%.*s", RESPONSE_HEADER_MAX_LEN, big), 0);
    CHECK_INT(strlen(t.resp.headers[1].value), RESPONSE_HEADER_MAX_LEN);
    CHECK_INT(http_add_headerf(&t.req, &t.resp, "X-Bad", "a%sb", "\r\n"), -1);
    CHECK_INT(t.resp.header_count, 2);
    treq_free(&t);
}

static void test_error_envelope(void)
{
    struct treq t;
    TREQ(&t, "REQUEST_METHOD=GET");
    http_error(&t.resp, 404, "not_found");
    CHECK_INT(t.resp.status, 404);
    CHECK_STR(body_json(&t), "{\"ok\":false,\"error\":\"not_found\"}");
    /* a second error replaces the first body (valgrind: no leak) */
    http_error(&t.resp, 400, "x");
    CHECK_INT(t.resp.status, 400);
    CHECK_STR(body_json(&t), "{\"ok\":false,\"error\":\"x\"}");
    treq_free(&t);

    TREQ(&t, "REQUEST_METHOD=POST");
    struct issues is;
    issues_init(&is);
    CHECK(!issues_any(&is));
    issues_add(&is, "traffic.webVitals.lcpMs", "must be at most 120000");
    issues_add(&is, "", "whole body");
    CHECK(issues_any(&is));
    http_invalid(&t.resp, &is);
    CHECK_INT(is.n, 2); /* the list stays the caller's */
    issues_free(&is);
    CHECK_INT(t.resp.status, 400);
    CHECK_STR(body_json(&t), "{\"ok\":false,\"error\":\"invalid_request\",\"issues\":["
                             "{\"path\":\"traffic.webVitals.lcpMs\",\"message\":\"must be at most 120000\"},"
                             "{\"path\":\"\",\"message\":\"whole body\"}]}");
    treq_free(&t);

    /* a path that is not UTF-8 (a client's form key) is reported on the whole body */
    TREQ(&t, "REQUEST_METHOD=POST");
    issues_init(&is);
    issues_add(&is, "\xff", "must be valid UTF-8");
    http_invalid(&t.resp, &is);
    issues_free(&is);
    CHECK_STR(body_json(&t), "{\"ok\":false,\"error\":\"invalid_request\",\"issues\":["
                             "{\"path\":\"\",\"message\":\"must be valid UTF-8\"}]}");
    treq_free(&t);
}

static void test_status_text(void)
{
    static const struct {
        int status;
        const char *text;
    } cases[] = {
        {200, "OK"},
        {202, "Accepted"},
        {204, "No Content"},
        {303, "See Other"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {413, "Payload Too Large"},
        {415, "Unsupported Media Type"},
        {429, "Too Many Requests"},
        {500, "Internal Server Error"},
        {503, "Service Unavailable"},
        {418, "Unknown"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        CHECK_STR(http_status_text(cases[i].status), cases[i].text);
}

static void test_serialize(void)
{
    struct treq t;
    size_t len = 0;
    char *out;

    TREQ(&t, "REQUEST_METHOD=GET");
    http_reply_json(&t.resp, 200, json_pack("{s:b}", "ok", 1));
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-RateLimit-Limit", STRLIT("120")), 0);
    out = serialize(&t, &len);
    CHECK_STR(out, "Status: 200 OK\r\n"
                   "Content-Type: application/json; charset=utf-8\r\n"
                   "Content-Length: 11\r\n"
                   "Cache-Control: no-store\r\n"
                   "X-RateLimit-Limit: 120\r\n"
                   "\r\n"
                   "{\"ok\":true}");
    CHECK_INT(len, strlen(out));
    free(out);
    treq_free(&t);

    /* HEAD: the same headers (Content-Length of the body it would get), no body */
    TREQ(&t, "REQUEST_METHOD=HEAD");
    http_reply_json(&t.resp, 200, json_pack("{s:b}", "ok", 1));
    out = serialize(&t, &len);
    CHECK_STR(out, "Status: 200 OK\r\n"
                   "Content-Type: application/json; charset=utf-8\r\n"
                   "Content-Length: 11\r\n"
                   "Cache-Control: no-store\r\n"
                   "\r\n");
    CHECK_INT(len, strlen(out));
    free(out);
    treq_free(&t);

    /* 204: no Content-Type, no body */
    TREQ(&t, "REQUEST_METHOD=OPTIONS");
    http_reply_empty(&t.resp, 204);
    out = serialize(&t, &len);
    CHECK(strncmp(out, "Status: 204 No Content\r\n", 24) == 0);
    CHECK(strstr(out, "Content-Type") == NULL);
    CHECK(len >= 4 && strcmp(out + len - 4, "\r\n\r\n") == 0);
    CHECK(strstr(out, "\r\n\r\n") == out + len - 4);
    free(out);
    treq_free(&t);

    /* Content-Length counts bytes of the UTF-8 body */
    TREQ(&t, "REQUEST_METHOD=GET");
    http_reply_json(&t.resp, 400, json_pack("{s:s}", "s", "\xc3\xa9\xe2\x82\xac")); /* é€: 5 bytes */
    out = serialize(&t, &len);
    const char *sep = strstr(out, "\r\n\r\n");
    CHECK(sep != NULL);
    if (sep) {
        size_t body_len = len - (size_t)(sep + 4 - out);
        CHECK_STR(sep + 4, "{\"s\":\"\xc3\xa9\xe2\x82\xac\"}");
        char want[64];
        snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", body_len);
        CHECK(strstr(out, want) != NULL);
        CHECK_INT(body_len, 13); /* {"s":"} 6 + 5 + 2 */
    }
    CHECK(strncmp(out, "Status: 400 Bad Request\r\n", 25) == 0);
    free(out);
    treq_free(&t);
}

/* A fake output: records the bytes, how many writes and flushes it saw, and can fail. */
struct fake_sink {
    char data[4096];
    size_t n;
    int writes, flushes;
    int fail_after; /* writes allowed before write() fails; < 0: never */
};

static int fake_write(void *ctx, const char *p, size_t n)
{
    struct fake_sink *f = ctx;
    if (f->fail_after >= 0 && f->writes >= f->fail_after)
        return -1;
    f->writes++;
    if (f->n + n >= sizeof(f->data))
        return -1;
    memcpy(f->data + f->n, p, n);
    f->n += n;
    f->data[f->n] = '\0';
    return 0;
}

static int fake_flush(void *ctx)
{
    ((struct fake_sink *)ctx)->flushes++;
    return 0;
}

/* A streamed body of three chunks; records what the sink held when each chunk was produced. */
struct chunker {
    int calls;
    size_t seen_before[3];
    bool headers_first;
    int last_rc;
};

static int three_chunks(void *ctx, struct http_sink *out)
{
    static const char *const chunks[] = {"id,day\n", "1,2026-01-01\n", "2,2026-01-02\n"};
    struct chunker *ch = ctx;
    struct fake_sink *f = out->ctx;
    ch->calls++;
    ch->headers_first = strstr(f->data, "\r\n\r\n") == f->data + f->n - 4;
    for (int i = 0; i < 3; i++) {
        ch->seen_before[i] = f->n;
        ch->last_rc = http_sink_chunk(out, chunks[i], strlen(chunks[i]));
        if (ch->last_rc != 0)
            return -1;
    }
    return 0;
}

static void test_body_kinds(void)
{
    struct treq t;
    struct fake_sink f;

    /* bytes: sent as they are (a NUL included), typed, with their length */
    TREQ(&t, "REQUEST_METHOD=GET");
    http_reply_json(&t.resp, 500, json_pack("{s:b}", "ok", 0)); /* replaced (and freed) below */
    CHECK_INT(http_reply_bytes(&t.resp, 200, "text/csv; charset=utf-8", "a,b\n\0x\n", 7), 0);
    CHECK_INT(t.resp.kind, RESP_BYTES);
    CHECK(t.resp.body == NULL);
    memset(&f, 0, sizeof(f));
    f.fail_after = -1;
    struct http_sink sink = {fake_write, fake_flush, &f};
    CHECK_INT(http_write_response(&t.req, &t.resp, &sink), 0);
    static const char want_bytes[] = "Status: 200 OK\r\n"
                                     "Content-Type: text/csv; charset=utf-8\r\n"
                                     "Content-Length: 7\r\n"
                                     "Cache-Control: no-store\r\n"
                                     "\r\n"
                                     "a,b\n\0x\n";
    CHECK_INT(f.n, sizeof(want_bytes) - 1);
    CHECK(memcmp(f.data, want_bytes, sizeof(want_bytes) - 1) == 0);
    CHECK_INT(f.writes, 1); /* a body with a length goes out in one piece, as before */
    treq_free(&t);

    /* bytes for HEAD: the length, no body */
    TREQ(&t, "REQUEST_METHOD=HEAD");
    CHECK_INT(http_reply_bytes(&t.resp, 200, "text/csv", "a,b\n", 4), 0);
    size_t len = 0;
    char *out = http_serialize(&t.req, &t.resp, &len);
    CHECK_STR(
        out,
        "Status: 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 4\r\nCache-Control: no-store\r\n\r\n");
    free(out);
    treq_free(&t);

    /* streamed: headers first (flushed, no Content-Length), then each chunk written and flushed
     * while the writer runs, not gathered until it returns */
    TREQ(&t, "REQUEST_METHOD=GET");
    struct chunker ch;
    memset(&ch, 0, sizeof(ch));
    http_reply_stream(&t.resp, 200, "text/csv", three_chunks, &ch);
    CHECK_INT(http_add_header(&t.req, &t.resp, "X-RateLimit-Limit", STRLIT("120")), 0);
    memset(&f, 0, sizeof(f));
    f.fail_after = -1;
    CHECK_INT(http_write_response(&t.req, &t.resp, &sink), 0);
    CHECK_INT(ch.calls, 1);
    CHECK(ch.headers_first);
    CHECK(ch.seen_before[0] < ch.seen_before[1] && ch.seen_before[1] < ch.seen_before[2]);
    CHECK_INT(f.writes, 4);  /* headers, then one write per chunk */
    CHECK_INT(f.flushes, 4); /* headers, then each chunk */
    CHECK_STR(f.data, "Status: 200 OK\r\n"
                      "Content-Type: text/csv\r\n"
                      "Cache-Control: no-store\r\n"
                      "X-RateLimit-Limit: 120\r\n"
                      "\r\n"
                      "id,day\n1,2026-01-01\n2,2026-01-02\n");
    treq_free(&t);

    /* streamed, client gone after the second write: the writer learns it and the write fails */
    TREQ(&t, "REQUEST_METHOD=GET");
    memset(&ch, 0, sizeof(ch));
    http_reply_stream(&t.resp, 200, "text/csv", three_chunks, &ch);
    memset(&f, 0, sizeof(f));
    f.fail_after = 2;
    CHECK_INT(http_write_response(&t.req, &t.resp, &sink), -1);
    CHECK_INT(ch.last_rc, -1);
    CHECK(strstr(f.data, "1,2026-01-01") == NULL);
    treq_free(&t);

    /* streamed for HEAD: headers only, the writer never runs */
    TREQ(&t, "REQUEST_METHOD=HEAD");
    memset(&ch, 0, sizeof(ch));
    http_reply_stream(&t.resp, 200, "text/csv", three_chunks, &ch);
    out = http_serialize(&t.req, &t.resp, &len);
    CHECK_STR(out, "Status: 200 OK\r\nContent-Type: text/csv\r\nCache-Control: no-store\r\n\r\n");
    CHECK_INT(ch.calls, 0);
    free(out);
    treq_free(&t);

    /* JSON through the same writer, one write; a JSON reply replaces bytes (freed) */
    TREQ(&t, "REQUEST_METHOD=GET");
    CHECK_INT(http_reply_bytes(&t.resp, 200, "text/plain", "x", 1), 0);
    http_reply_json(&t.resp, 202, json_pack("{s:b}", "ok", 1));
    CHECK_INT(t.resp.kind, RESP_JSON);
    CHECK(t.resp.bytes == NULL);
    memset(&f, 0, sizeof(f));
    f.fail_after = -1;
    CHECK_INT(http_write_response(&t.req, &t.resp, &sink), 0);
    CHECK_INT(f.writes, 1);
    CHECK(strstr(f.data, "Status: 202 Accepted\r\nContent-Type: application/json; charset=utf-8\r\n"
                         "Content-Length: 11\r\n") == f.data);
    CHECK(strcmp(f.data + f.n - 11, "{\"ok\":true}") == 0);
    treq_free(&t);

    /* a JSON reply whose body could not be built is an empty body, as before */
    TREQ(&t, "REQUEST_METHOD=GET");
    http_reply_json(&t.resp, 500, NULL);
    CHECK_INT(t.resp.kind, RESP_EMPTY);
    out = http_serialize(&t.req, &t.resp, &len);
    CHECK_STR(out,
              "Status: 500 Internal Server Error\r\nContent-Length: 0\r\nCache-Control: no-store\r\n\r\n");
    free(out);
    treq_free(&t);
}

static void test_media_type(void)
{
    struct treq t;
    TREQ(&t, "REQUEST_METHOD=POST");
    CHECK(str_is(http_media_type(&t.req, STRLIT("Application/JSON; charset=utf-8")), "application/json"));
    CHECK(str_is(http_media_type(&t.req, STRLIT("  text/plain  ;charset=UTF-8")), "text/plain"));
    CHECK(str_is(http_media_type(&t.req, STRLIT("application/x-www-form-urlencoded")),
                 "application/x-www-form-urlencoded"));
    CHECK(str_is(http_media_type(&t.req, STRLIT("")), ""));
    CHECK(http_media_type(&t.req, (struct str){NULL, 0}).p == NULL);
    treq_free(&t);
}

int main(void)
{
    test_param();
    test_parse_path_query();
    test_parse_method();
    test_parse_content_length();
    test_parse_fields();
    test_add_header();
    test_error_envelope();
    test_status_text();
    test_serialize();
    test_body_kinds();
    test_media_type();
    return t_done("test_http");
}
