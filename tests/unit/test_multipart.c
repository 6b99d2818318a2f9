/* test_multipart.c - multipart/form-data bodies of text fields (http/multipart.c), and the body
 * reader taking them where a route allows forms. */
#include <string.h>

#include "core/bounds.h"
#include "http/multipart.h"
#include "t.h"

struct mp {
    struct issues is;
    json_t *obj;
};

static void mp_parse(struct mp *m, const char *body, const char *boundary)
{
    issues_init(&m->is);
    m->obj = body_parse_multipart(body, strlen(body), str_from_cstr(boundary), &m->is);
}

static void mp_free(struct mp *m)
{
    json_decref(m->obj);
    issues_free(&m->is);
}

static const char *val(const struct mp *m, const char *key)
{
    return json_string_value(json_object_get(m->obj, key));
}

static void test_boundary(void)
{
    CHECK(str_eq(multipart_boundary(STRLIT("multipart/form-data; boundary=abc")), STRLIT("abc")));
    CHECK(str_eq(multipart_boundary(STRLIT("multipart/form-data;boundary=\"a b;c\"")), STRLIT("a b;c")));
    CHECK(str_eq(multipart_boundary(STRLIT("multipart/form-data; charset=utf-8; BOUNDARY=xyz ")),
                 STRLIT("xyz")));
    /* a parameter whose name ends in "boundary" is not the boundary */
    CHECK(
        str_eq(multipart_boundary(STRLIT("multipart/form-data; xboundary=no; boundary=yes")), STRLIT("yes")));
    static const char *const none[] = {
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"open",
        "multipart/form-data; boundary=\"a\\\"b\"",
    };
    for (size_t i = 0; i < ARRAY_LEN(none); i++)
        CHECK(multipart_boundary(str_from_cstr(none[i])).p == NULL);
    /* RFC 2046: at most 70 characters */
    char ct[64 + MULTIPART_BOUNDARY_MAX + 2];
    size_t pre = strlen("multipart/form-data; boundary=");
    memcpy(ct, "multipart/form-data; boundary=", pre);
    memset(ct + pre, 'b', MULTIPART_BOUNDARY_MAX + 1);
    CHECK(multipart_boundary((struct str){ct, pre + MULTIPART_BOUNDARY_MAX + 1}).p == NULL);
    CHECK_INT(multipart_boundary((struct str){ct, pre + MULTIPART_BOUNDARY_MAX}).n, MULTIPART_BOUNDARY_MAX);
}

static void test_fields(void)
{
    struct mp m;
    mp_parse(&m,
             "--XX\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n"
             "--XX\r\ncontent-disposition: form-data; name=token\r\nContent-Type: text/plain; "
             "charset=utf-8\r\n\r\n"
             "a\r\nb--XX\r\n"
             "--XX\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n"
             "--XX\r\nContent-Disposition: form-data; name=\"j\xc3\xb6rg\"\r\n\r\nJ\xc3\xb6rg\r\n"
             "--XX--\r\nepilogue is ignored",
             "XX");
    CHECK_INT(m.is.n, 0);
    CHECK_STR(val(&m, "List-Unsubscribe"), "One-Click");
    CHECK_STR(val(&m, "token"), "a\r\nb--XX"); /* not a delimiter: no CRLF before it */
    CHECK_STR(val(&m, "empty"), "");
    CHECK_STR(val(&m, "j\xc3\xb6rg"), "J\xc3\xb6rg");
    CHECK_INT(json_object_size(m.obj), 4);
    mp_free(&m);

    /* a preamble, transport padding after a delimiter, no part at all */
    mp_parse(&m, "ignored\r\n--b  \r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b--", "b");
    CHECK_INT(m.is.n, 0);
    CHECK_STR(val(&m, "a"), "1");
    mp_free(&m);
    mp_parse(&m, "--b--\r\n", "b");
    CHECK_INT(m.is.n, 0);
    CHECK_INT(json_object_size(m.obj), 0);
    mp_free(&m);
}

static void test_issues(void)
{
    static const char *const bad[] = {
        "",                                                                 /* no delimiter */
        "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1",           /* no close */
        "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--c--",  /* another boundary */
        "--bX\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--b--", /* not a delimiter line */
        "--b\r\nContent-Disposition: form-data; name=a\r\n1\r\n--b--",      /* no blank line */
        "--b\r\nContent-Disposition: form-data\r\n\r\n1\r\n--b--",          /* no name */
        "--b\r\nContent-Disposition: attachment; name=a\r\n\r\n1\r\n--b--", /* not form-data */
        "--b\r\nContent-Type: text/plain\r\n\r\n1\r\n--b--",                /* no disposition */
        "--b\r\n\r\n1\r\n--b--",                                            /* no headers */
        "--b\r\nContent-Disposition: form-data; name=f; filename=x\r\n\r\n1\r\n--b--", /* a file */
        "--b\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n1\r\n--b--",          /* empty name */
        "--b\r\nContent-Disposition: form-data; name=\"a\\\"b\"\r\n\r\n1\r\n--b--",    /* quoted-pair */
        "--b\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\n1\r\n--b--",      /* name not UTF-8 */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        struct mp m;
        mp_parse(&m, bad[i], "b");
        if (m.is.n == 0)
            fprintf(stderr, "  (multipart body #%zu)\n", i);
        CHECK(m.is.n > 0);
        CHECK_STR(m.is.n ? m.is.items[0].path : "", "");
        mp_free(&m);
    }

    /* a value's problems name the field; a repeated field too */
    struct mp m;
    mp_parse(&m,
             "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\xff\r\n"
             "--b\r\nContent-Disposition: form-data; name=z\r\n\r\nx\r\n"
             "--b\r\nContent-Disposition: form-data; name=z\r\n\r\ny\r\n--b--",
             "b");
    CHECK_INT(m.is.n, 2);
    CHECK_STR(m.is.items[0].path, "a");
    CHECK_STR(m.is.items[1].path, "z");
    CHECK_STR(val(&m, "z"), "x");
    mp_free(&m);
    /* U+0000 in a value (a C string cannot carry it: built by length) */
    static const char nul[] = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nx\0y\r\n--b--";
    issues_init(&m.is);
    m.obj = body_parse_multipart(nul, sizeof(nul) - 1, STRLIT("b"), &m.is);
    CHECK_INT(m.is.n, 1);
    CHECK_STR(m.is.items[0].path, "a");
    mp_free(&m);

    /* bounds: a header block of MULTIPART_PART_HEADERS_MAX is read, one byte more is refused; a
     * name of MULTIPART_NAME_MAX bytes is kept, one more is refused */
    char big[4 * MULTIPART_PART_HEADERS_MAX];
    for (int over = 0; over <= 1; over++) {
        const char *head = "--b\r\nContent-Disposition: form-data; name=a\r\nX-Pad: ";
        size_t hn = strlen(head), pad = MULTIPART_PART_HEADERS_MAX - (hn - 5) + (size_t)over;
        size_t o = 0;
        memcpy(big + o, head, hn), o += hn;
        memset(big + o, 'p', pad), o += pad;
        memcpy(big + o, "\r\n\r\n1\r\n--b--", 12), o += 12;
        issues_init(&m.is);
        m.obj = body_parse_multipart(big, o, STRLIT("b"), &m.is);
        CHECK_INT(m.is.n, (size_t)over);
        mp_free(&m);
    }
    for (int over = 0; over <= 1; over++) {
        size_t o = 0;
        const char *head = "--b\r\nContent-Disposition: form-data; name=\"";
        memcpy(big + o, head, strlen(head)), o += strlen(head);
        memset(big + o, 'k', MULTIPART_NAME_MAX + (size_t)over), o += MULTIPART_NAME_MAX + (size_t)over;
        memcpy(big + o, "\"\r\n\r\n1\r\n--b--", 13), o += 13;
        issues_init(&m.is);
        m.obj = body_parse_multipart(big, o, STRLIT("b"), &m.is);
        CHECK_INT(m.is.n, (size_t)over);
        CHECK_INT(json_object_size(m.obj), over ? 0 : 1);
        mp_free(&m);
    }
}

int main(void)
{
    test_boundary();
    test_fields();
    test_issues();
    return t_done("test_multipart");
}
