/* test_body.c - content type, size, reading and parsing of request bodies (API.md §1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body.h"
#include "core/bounds.h"
#include "t.h"
#include "treq.h"

/* The body the fake FastCGI stream delivers, `chunk` bytes at most per read; fail: -1 at the end. */
struct reader {
    const char *p;
    size_t n, pos;
    int chunk;
    bool fail;
    int calls;
};

static int read_fake(void *ctx, char *buf, int n)
{
    struct reader *r = ctx;
    r->calls++;
    if (r->pos == r->n)
        return r->fail ? -1 : 0;
    size_t k = r->n - r->pos;
    if (k > (size_t)n)
        k = (size_t)n;
    if (r->chunk > 0 && k > (size_t)r->chunk)
        k = (size_t)r->chunk;
    memcpy(buf, r->p + r->pos, k);
    r->pos += k;
    return (int)k;
}

static struct config cfg;

/* One POST through body_parse_or_reply. ctype/clen NULL: header absent; clen "": the body's length. */
struct post {
    struct treq t;
    struct reader rd;
    json_t *out;
    bool form;
    int rc;
};

/* Builds the request and its reader; post_exec() parses. Tests may adjust p->rd in between. */
static void post_prepare(struct post *p, const char *ctype, const char *clen, const char *body,
                         size_t body_len)
{
    char ct_param[256], cl_param[64];
    const char *params[4] = {"REQUEST_METHOD=POST", NULL, NULL, NULL};
    int np = 1;
    if (ctype) {
        snprintf(ct_param, sizeof(ct_param), "CONTENT_TYPE=%s", ctype);
        params[np++] = ct_param;
    }
    if (clen) {
        if (*clen)
            snprintf(cl_param, sizeof(cl_param), "CONTENT_LENGTH=%s", clen);
        else
            snprintf(cl_param, sizeof(cl_param), "CONTENT_LENGTH=%zu", body_len);
        params[np++] = cl_param;
    }
    treq_init(&p->t, params);
    memset(&p->rd, 0, sizeof(p->rd));
    p->rd.p = body;
    p->rd.n = body_len;
    p->t.req.read_body = read_fake;
    p->t.req.read_ctx = &p->rd;
    p->out = NULL;
    p->form = true;
}

static void post_exec(struct post *p, bool allow_form)
{
    p->rc = body_parse_or_reply(&cfg, &p->t.req, &p->t.resp, allow_form, &p->out, &p->form);
}

static void post_run(struct post *p, const char *ctype, const char *clen, const char *body, size_t body_len,
                     bool allow_form)
{
    post_prepare(p, ctype, clen, body, body_len);
    post_exec(p, allow_form);
}

static void post_free(struct post *p)
{
    json_decref(p->out);
    treq_free(&p->t);
}

/* A JSON POST of a C string with its own Content-Length. */
static void post_json(struct post *p, const char *ctype, const char *body)
{
    post_run(p, ctype, "", body, strlen(body), false);
}

static const char *error_of(const struct post *p)
{
    return json_string_value(json_object_get(p->t.resp.body, "error"));
}

/* The path of the only issue of a 400 invalid_request, NULL when there is not exactly one. */
static const char *only_issue_path(const struct post *p)
{
    json_t *issues = json_object_get(p->t.resp.body, "issues");
    if (json_array_size(issues) != 1)
        return NULL;
    return json_string_value(json_object_get(json_array_get(issues, 0), "path"));
}

/* Expects a refusal with (status, error) and, for invalid_request, one issue with path "". */
static void expect_refused(struct post *p, int status, const char *error, int line)
{
    bool ok = p->rc == -1 && p->out == NULL && p->t.resp.status == status && error_of(p) &&
              strcmp(error_of(p), error) == 0;
    if (ok && strcmp(error, "invalid_request") == 0)
        ok = only_issue_path(p) && strcmp(only_issue_path(p), "") == 0;
    if (ok) {
        t_passed++;
    } else {
        t_failed++;
        fprintf(stderr, "FAIL %s:%d: want %d %s, got rc %d, %s\n", __FILE__, line, status, error, p->rc,
                body_json(&p->t));
    }
}

#define EXPECT_REFUSED(p, status, error) expect_refused((p), (status), (error), __LINE__)

static void test_missing_body(void)
{
    struct post p;
    post_run(&p, "application/json", NULL, NULL, 0, false); /* no Content-Length */
    EXPECT_REFUSED(&p, 400, "invalid_request");
    post_free(&p);

    post_run(&p, "application/json", "0", NULL, 0, false);
    EXPECT_REFUSED(&p, 400, "invalid_request");
    post_free(&p);

    post_run(&p, "application/json", "", "", 0, false);
    EXPECT_REFUSED(&p, 400, "invalid_request");
    post_free(&p);
}

static void test_content_length_malformed(void)
{
    static const char *const bad[] = {"12a", "-1", "+5", " 5", "1e3", "99999999999999999999"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct post p;
        post_run(&p, "application/json", bad[i], "{}", 2, false);
        EXPECT_REFUSED(&p, 400, "invalid_request");
        CHECK_INT(p.rd.calls, 0);
        post_free(&p);
    }
}

static void test_content_types(void)
{
    static const char *const accepted[] = {
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/json;charset=UTF-8",
        " application/json ",
        "text/plain",
        "text/plain;charset=UTF-8",
        "TEXT/PLAIN",
    };
    for (size_t i = 0; i < ARRAY_LEN(accepted); i++) {
        struct post p;
        post_json(&p, accepted[i], "{\"a\":1}");
        if (p.rc != 0 || !json_is_object(p.out) || p.form) {
            t_failed++;
            fprintf(stderr, "FAIL content type '%s' refused: %s\n", accepted[i], body_json(&p.t));
        } else {
            t_passed++;
        }
        CHECK(json_number_value(json_object_get(p.out, "a")) == 1.0); /* numbers arrive as doubles */
        post_free(&p);
    }

    static const char *const refused[] = {
        "text/html",
        "application/jsonx",
        "application/json-patch+json",
        "application/xml",
        "",
        "multipart/form-data; boundary=x",
        "json",
        "application/x-www-form-urlencoded",
    };
    for (size_t i = 0; i < ARRAY_LEN(refused); i++) {
        struct post p;
        post_json(&p, refused[i], "{\"a\":1}");
        EXPECT_REFUSED(&p, 415, "unsupported_media_type");
        CHECK_STR(body_json(&p.t), "{\"ok\":false,\"error\":\"unsupported_media_type\"}");
        CHECK_INT(p.rd.calls, 0);
        post_free(&p);
    }

    struct post p;
    post_json(&p, NULL, "{\"a\":1}"); /* no Content-Type */
    EXPECT_REFUSED(&p, 415, "unsupported_media_type");
    post_free(&p);

    /* forms only where the route allows them */
    post_run(&p, "application/x-www-form-urlencoded", "", "a=1", 3, true);
    CHECK_INT(p.rc, 0);
    CHECK(p.form);
    CHECK_STR(json_string_value(json_object_get(p.out, "a")), "1");
    post_free(&p);

    post_run(&p, "Application/X-WWW-Form-Urlencoded; charset=utf-8", "", "a=1", 3, true);
    CHECK_INT(p.rc, 0);
    CHECK(p.form);
    post_free(&p);

    /* a JSON body on a form route is JSON */
    post_run(&p, "application/json", "", "{\"a\":\"1\"}", 9, true);
    CHECK_INT(p.rc, 0);
    CHECK(!p.form);
    post_free(&p);
}

/* A JSON object of exactly n bytes: {"a":"xxx..."}. Caller frees. */
static char *json_of_size(size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, "{\"a\":\"", 6);
    memset(s + 6, 'x', n - 8);
    memcpy(s + n - 2, "\"}", 2);
    s[n] = '\0';
    return s;
}

static void test_size_limit(void)
{
    char *at_max = json_of_size((size_t)cfg.max_body_bytes);
    struct post p;
    post_run(&p, "application/json", "", at_max, strlen(at_max), false);
    CHECK_INT(p.rc, 0);
    CHECK_INT(strlen(json_string_value(json_object_get(p.out, "a"))), cfg.max_body_bytes - 8);
    post_free(&p);
    free(at_max);

    char *over = json_of_size((size_t)cfg.max_body_bytes + 1);
    post_run(&p, "application/json", "", over, strlen(over), false);
    EXPECT_REFUSED(&p, 413, "payload_too_large");
    CHECK_STR(body_json(&p.t), "{\"ok\":false,\"error\":\"payload_too_large\"}");
    CHECK_INT(p.rd.calls, 0); /* refused before reading */
    post_free(&p);
    free(over);

    /* a huge declared length is refused without reading or allocating */
    post_run(&p, "application/json", "999999999999999999", "{}", 2, false);
    EXPECT_REFUSED(&p, 413, "payload_too_large");
    CHECK_INT(p.rd.calls, 0);
    post_free(&p);

    /* the limit is the configured one, at its smallest */
    long saved = cfg.max_body_bytes;
    cfg.max_body_bytes = BODY_BYTES_MIN;
    char *small_over = json_of_size(BODY_BYTES_MIN + 1);
    post_run(&p, "text/plain", "", small_over, strlen(small_over), false);
    EXPECT_REFUSED(&p, 413, "payload_too_large");
    post_free(&p);
    free(small_over);
    char *small_max = json_of_size(BODY_BYTES_MIN);
    post_run(&p, "text/plain", "", small_max, strlen(small_max), false);
    CHECK_INT(p.rc, 0);
    post_free(&p);
    free(small_max);
    cfg.max_body_bytes = saved;

    /* forms have the same limit */
    char *form = malloc((size_t)cfg.max_body_bytes + 2);
    if (!form)
        abort();
    memcpy(form, "a=", 2);
    memset(form + 2, 'v', (size_t)cfg.max_body_bytes - 1);
    form[cfg.max_body_bytes + 1] = '\0';
    post_run(&p, "application/x-www-form-urlencoded", "", form, (size_t)cfg.max_body_bytes + 1, true);
    EXPECT_REFUSED(&p, 413, "payload_too_large");
    post_free(&p);
    post_run(&p, "application/x-www-form-urlencoded", "", form, (size_t)cfg.max_body_bytes, true);
    CHECK_INT(p.rc, 0);
    post_free(&p);
    free(form);
}

static void test_reading(void)
{
    /* the body arrives in small pieces */
    const char *body = "{\"anonId\":\"abcdefgh\",\"eventType\":\"page_view\",\"path\":\"/\"}";
    struct post p;
    for (int chunk = 1; chunk <= 7; chunk += 3) {
        post_prepare(&p, "application/json", "", body, strlen(body));
        p.rd.chunk = chunk;
        post_exec(&p, false);
        CHECK_INT(p.rc, 0);
        CHECK_STR(json_string_value(json_object_get(p.out, "eventType")), "page_view");
        post_free(&p);
    }

    /* shorter than Content-Length: end of stream, or a read error */
    post_run(&p, "application/json", "10", "{\"a\":", 5, false);
    EXPECT_REFUSED(&p, 400, "invalid_request");
    post_free(&p);

    post_prepare(&p, "application/json", "10", "{\"a\":", 5);
    p.rd.fail = true;
    post_exec(&p, false);
    EXPECT_REFUSED(&p, 400, "invalid_request");
    post_free(&p);

    /* no reader at all */
    post_prepare(&p, "application/json", "2", NULL, 0);
    p.t.req.read_body = NULL;
    post_exec(&p, false);
    EXPECT_REFUSED(&p, 400, "invalid_request");
    post_free(&p);

    /* bytes after Content-Length are not read */
    post_run(&p, "application/json", "2", "{}{\"trailing\":1}", 16, false);
    CHECK_INT(p.rc, 0);
    CHECK_INT(json_object_size(p.out), 0);
    post_free(&p);
}

static void test_invalid_json(void)
{
    static const char *const bad[] = {
        "{\"a\":",
        "{a:1}",
        "{\"a\":1,}",
        "{\"a\":1,\"a\":2}",         /* duplicate keys */
        "{\"o\":{\"k\":1,\"k\":1}}", /* nested duplicate */
        "{\"a\":\"\xff\"}",          /* invalid UTF-8 */
        "{\"a\":\"\xc3\"}",          /* truncated sequence */
        "{\"a\":\"\xed\xa0\x80\"}",  /* UTF-8-encoded surrogate */
        "{\"\xc0\xaf\":1}",          /* overlong, in a key */
        "{\"a\":\"\\ud800\"}",       /* lone surrogate escape */
        "{} x",
        "{}{}",
        "\xef\xbb\xbf{}", /* BOM */
        "{\"a\":NaN}",
        "{\"a\":'x'}",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct post p;
        post_json(&p, "application/json", bad[i]);
        EXPECT_REFUSED(&p, 400, "invalid_json");
        CHECK_STR(body_json(&p.t), "{\"ok\":false,\"error\":\"invalid_json\"}");
        post_free(&p);
    }
}

static void test_not_an_object(void)
{
    static const char *const bodies[] = {"[1]", "[]", "42", "-1.5", "\"str\"", "null", "true", " [ {} ] "};
    for (size_t i = 0; i < ARRAY_LEN(bodies); i++) {
        struct post p;
        post_json(&p, "application/json", bodies[i]);
        EXPECT_REFUSED(&p, 400, "invalid_request");
        post_free(&p);
    }
}

static void test_valid_json(void)
{
    struct post p;
    /* whitespace around, nested values, unicode escapes */
    post_json(&p, "text/plain", " \n{\"a\":{\"b\":[1,2,{\"c\":null}]},\"s\":\"\\u00e9\\ud83d\\ude00\"}\t");
    CHECK_INT(p.rc, 0);
    CHECK(!p.form);
    CHECK_STR(json_string_value(json_object_get(p.out, "s")), "\xc3\xa9\xf0\x9f\x98\x80");
    post_free(&p);

    /* U+0000 passes the parser so validation can name the field */
    post_json(&p, "application/json", "{\"name\":\"x\\u0000y\"}");
    CHECK_INT(p.rc, 0);
    json_t *name = json_object_get(p.out, "name");
    CHECK_INT(json_string_length(name), 3);
    CHECK(memcmp(json_string_value(name), "x\0y", 3) == 0);
    post_free(&p);

    post_json(&p, "application/json", "{}");
    CHECK_INT(p.rc, 0);
    CHECK_INT(json_object_size(p.out), 0);
    CHECK_INT(p.t.resp.status, 0); /* nothing written on success */
    CHECK(p.t.resp.body == NULL);
    post_free(&p);
}

/* true when a key holding U+0000 is at or below v */
static bool has_nul_key(json_t *v)
{
    const char *k;
    size_t klen, i;
    json_t *x;
    if (json_is_object(v)) {
        json_object_keylen_foreach(v, k, klen, x)
        {
            if (memchr(k, '\0', klen) || has_nul_key(x))
                return true;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (has_nul_key(x))
                return true;
        }
    }
    return false;
}

/* A U+0000 in an object key (jansson's parser refuses it): the body is parsed with the key kept,
 * under the top-level field want_path, so that validation names that field with every other
 * issue; a top-level key holding U+0000 has no field to name: 400 invalid_request at path "". */
static void expect_nul_key(const char *body, const char *want_path, int line)
{
    struct post p;
    post_json(&p, "application/json", body);
    bool ok;
    if (want_path[0] == '\0') {
        const char *path = only_issue_path(&p);
        ok = p.rc == -1 && p.t.resp.status == 400 && error_of(&p) &&
             strcmp(error_of(&p), "invalid_request") == 0 && path && strcmp(path, "") == 0;
    } else {
        ok = p.rc == 0 && json_is_object(p.out) && has_nul_key(json_object_get(p.out, want_path));
    }
    if (ok) {
        t_passed++;
    } else {
        t_failed++;
        fprintf(stderr, "FAIL %s:%d: want the U+0000 key kept under '%s', got rc %d, %d %s\n", __FILE__, line,
                want_path, p.rc, p.t.resp.status, body_json(&p.t));
    }
    post_free(&p);
}

#define EXPECT_NUL_KEY(body, path) expect_nul_key((body), (path), __LINE__)

/* Nested objects {"a":{"a":...{"\u0000":1}...}} with the NUL key at the given depth. Caller frees. */
static char *nested_nul_key(size_t depth)
{
    char *s = malloc(depth * 6 + 32);
    if (!s)
        abort();
    size_t o = 0;
    for (size_t i = 1; i < depth; i++) {
        memcpy(s + o, "{\"a\":", 5);
        o += 5;
    }
    o += (size_t)sprintf(s + o, "{\"\\u0000\":1}");
    for (size_t i = 1; i < depth; i++)
        s[o++] = '}';
    s[o] = '\0';
    return s;
}

static void test_nul_keys(void)
{
    EXPECT_NUL_KEY("{\"props\":{\"k\\u0000\":1}}", "props");
    EXPECT_NUL_KEY("{\"anonId\":\"abcdefgh\",\"payload\":{\"ok\":1,\"x\":{\"\\u0000\":[1]}}}", "payload");
    EXPECT_NUL_KEY("{\"a\":[1,{\"b\":\"}\"}],\"props\":[{\"\\u0000\":1}]}", "props"); /* braces in strings */
    EXPECT_NUL_KEY("{\"\\u0000\":1}", "");                                            /* a top-level key */
    EXPECT_NUL_KEY("{\"props\":{\"a\\\\u0000\":1,\"\\u0000\":2}}", "props"); /* "\\u0000" is no NUL */

    /* BODY_SCAN_MAX_DEPTH: jansson parses at most that many nested values, and the key's own value
     * is one of them; so a NUL key one level shallower is still named, and at the limit the body is
     * too deep to parse at all: invalid_json */
    char *at = nested_nul_key(BODY_SCAN_MAX_DEPTH - 1);
    struct post p;
    post_json(&p, "application/json", at);
    CHECK_INT(p.rc, 0);
    CHECK(has_nul_key(json_object_get(p.out, "a")));
    post_free(&p);
    free(at);
    char *over = nested_nul_key(BODY_SCAN_MAX_DEPTH);
    post_json(&p, "application/json", over);
    EXPECT_REFUSED(&p, 400, "invalid_json");
    post_free(&p);
    free(over);

    /* the field is named as the client spelled it, escapes decoded */
    EXPECT_NUL_KEY("{\"pr\\u006fps\":{\"\\u0000\":1}}", "props");

    /* a long non-ASCII field name: the one issue is still there (not dropped for a cut UTF-8 sequence) */
    char body[256];
    char name[128];
    memset(name, 'n', 62);
    memcpy(name + 62, "\xc3\xa9\xc3\xa9", 5); /* 62 ASCII + é é: the 64th byte is inside a sequence */
    snprintf(body, sizeof(body), "{\"%s\":{\"\\u0000\":1}}", name);
    post_json(&p, "application/json", body);
    CHECK_INT(p.rc, 0);
    CHECK(has_nul_key(json_object_get(p.out, name)));
    post_free(&p);

    /* a body that is not well-formed JSON is invalid_json even when it also has a NUL key: parse
     * errors come before validation (DESIGN.md, "An event's way through") */
    static const char *const malformed[] = {
        "{\"props\":{\"\\u0000\":1}",                 /* unterminated */
        "{\"props\":{\"\\u0000\":1}} trailing",       /* junk after the object */
        "{\"props\":{\"\\u0000\":1},\"a\":\"\xff\"}", /* invalid UTF-8 later on */
        "{\"props\":{\"\\u0000\":1},\"props\":2}",    /* duplicate key later on */
    };
    for (size_t i = 0; i < ARRAY_LEN(malformed); i++) {
        post_json(&p, "application/json", malformed[i]);
        if (strcmp(body_json(&p.t), "{\"ok\":false,\"error\":\"invalid_json\"}") != 0)
            fprintf(stderr, "  (malformed body #%zu with a NUL key)\n", i);
        EXPECT_REFUSED(&p, 400, "invalid_json");
        post_free(&p);
    }
}

/* body_parse_form, directly. */
struct form {
    struct issues is;
    json_t *obj;
};

static void form_parse(struct form *f, const char *body)
{
    issues_init(&f->is);
    f->obj = body_parse_form(body, strlen(body), &f->is);
}

static void form_free(struct form *f)
{
    json_decref(f->obj);
    issues_free(&f->is);
}

static const char *form_value(const struct form *f, const char *key)
{
    return json_string_value(json_object_get(f->obj, key));
}

static size_t issue_count(const struct form *f)
{
    return f->is.n;
}

static const char *issue_path(const struct form *f, size_t i)
{
    return i < f->is.n ? f->is.items[i].path : NULL;
}

static void test_form_decoding(void)
{
    struct form f;
    form_parse(&f, "name=J%C3%B6rg+M%c3%bcller&email=a%40b.example&formName=&flag&=v&%2Bkey%2b=1+%2B+1");
    CHECK_INT(issue_count(&f), 0);
    CHECK_STR(form_value(&f, "name"), "J\xc3\xb6rg M\xc3\xbcller");
    CHECK_STR(form_value(&f, "email"), "a@b.example");
    CHECK_STR(form_value(&f, "formName"), "");
    CHECK_STR(form_value(&f, "flag"), "");
    CHECK_STR(form_value(&f, ""), "v");
    CHECK_STR(form_value(&f, "+key+"), "1 + 1");
    CHECK_INT(json_object_size(f.obj), 6);
    form_free(&f);

    /* empty pairs are skipped; '=' inside a value is kept */
    form_parse(&f, "&&a=1&&b=x=y&");
    CHECK_INT(issue_count(&f), 0);
    CHECK_STR(form_value(&f, "a"), "1");
    CHECK_STR(form_value(&f, "b"), "x=y");
    CHECK_INT(json_object_size(f.obj), 2);
    form_free(&f);

    form_parse(&f, "");
    CHECK_INT(issue_count(&f), 0);
    CHECK_INT(json_object_size(f.obj), 0);
    form_free(&f);

    /* a percent escape at the very end */
    form_parse(&f, "a=%41");
    CHECK_STR(form_value(&f, "a"), "A");
    form_free(&f);
}

static void test_form_issues(void)
{
    struct form f;
    form_parse(&f, "email=a%40b.example&email=c%40d.example");
    CHECK_INT(issue_count(&f), 1);
    CHECK_STR(issue_path(&f, 0), "email");
    form_free(&f);

    /* the key is decoded before the comparison */
    form_parse(&f, "email=a&e%6Dail=b");
    CHECK_INT(issue_count(&f), 1);
    CHECK_STR(issue_path(&f, 0), "email");
    form_free(&f);

    static const char *const malformed[] = {"a=%", "a=%4", "a=%zz", "a=%G1", "a=x%", "a=%%41"};
    for (size_t i = 0; i < ARRAY_LEN(malformed); i++) {
        form_parse(&f, malformed[i]);
        CHECK_INT(issue_count(&f), 1);
        CHECK_STR(issue_path(&f, 0), "a");
        form_free(&f);
    }

    form_parse(&f, "name=x%00y");
    CHECK_INT(issue_count(&f), 1);
    CHECK_STR(issue_path(&f, 0), "name");
    CHECK(json_object_get(f.obj, "name") == NULL);
    form_free(&f);

    form_parse(&f, "name=%FF&other=%C3");
    CHECK_INT(issue_count(&f), 2);
    CHECK_STR(issue_path(&f, 0), "name");
    CHECK_STR(issue_path(&f, 1), "other");
    form_free(&f);

    /* problems in the key: the whole body */
    static const char *const bad_keys[] = {"%zz=1", "a%00b=1", "%FF=1", "%=1"};
    for (size_t i = 0; i < ARRAY_LEN(bad_keys); i++) {
        form_parse(&f, bad_keys[i]);
        CHECK_INT(issue_count(&f), 1);
        CHECK_STR(issue_path(&f, 0), "");
        form_free(&f);
    }

    /* a key that is not UTF-8 with a bad value is still reported */
    static const char *const bad_both[] = {"%FF=x%00y", "%FF=%zz", "%FF=%FF"};
    for (size_t i = 0; i < ARRAY_LEN(bad_both); i++) {
        form_parse(&f, bad_both[i]);
        if (issue_count(&f) == 0) {
            t_failed++;
            fprintf(stderr, "FAIL form '%s': no issue recorded (parsed as %zu fields)\n", bad_both[i],
                    json_object_size(f.obj));
        } else {
            t_passed++;
        }
        form_free(&f);
    }

    /* every issue of a body is reported */
    form_parse(&f, "a=1&a=2&b=%00&c=%zz&d=ok");
    CHECK_INT(issue_count(&f), 3);
    CHECK_STR(form_value(&f, "d"), "ok");
    form_free(&f);

    /* key length: 255 decoded bytes fit, 256 do not */
    char body[600];
    memset(body, 'k', 255);
    memcpy(body + 255, "=v", 3);
    form_parse(&f, body);
    CHECK_INT(issue_count(&f), 0);
    CHECK_INT(json_object_size(f.obj), 1);
    form_free(&f);
    memset(body, 'k', 256);
    memcpy(body + 256, "=v", 3);
    form_parse(&f, body);
    CHECK_INT(issue_count(&f), 1);
    CHECK_STR(issue_path(&f, 0), "");
    form_free(&f);
}

/* Through body_parse_or_reply: form issues become one 400 invalid_request. */
static void test_form_reply(void)
{
    struct post p;
    post_run(&p, "application/x-www-form-urlencoded", "", "email=a&email=b", 15, true);
    CHECK_INT(p.rc, -1);
    CHECK_INT(p.t.resp.status, 400);
    CHECK_STR(error_of(&p), "invalid_request");
    CHECK_STR(only_issue_path(&p), "email");
    CHECK(json_is_object(p.out)); /* still returned: the rejection row reads its propertyId */
    CHECK(p.form);
    post_free(&p);

    /* a field name that is not UTF-8, with a value holding U+0000: refused, not silently dropped */
    post_run(&p, "application/x-www-form-urlencoded", "", "email=a&%FF=x%00", 16, true);
    CHECK_INT(p.rc, -1);
    CHECK_INT(p.t.resp.status, 400);
    post_free(&p);
}

int main(void)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_body_bytes = BODY_BYTES_DEFAULT;

    test_missing_body();
    test_content_length_malformed();
    test_content_types();
    test_size_limit();
    test_reading();
    test_invalid_json();
    test_not_an_object();
    test_valid_json();
    test_nul_keys();
    test_form_decoding();
    test_form_issues();
    test_form_reply();
    return t_done("test_body");
}
