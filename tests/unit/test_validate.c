/* test_validate.c - the field rules of API.md §1: trimming, code points, U+0000, coerced numbers,
 * timestamps, and that every issue of a body is reported at its dotted path. */
#include <stdlib.h>
#include <string.h>

#include "domain/validate.h"
#include "domain/event.h"
#include "t.h"

/* 2026-02-14T05:00:00.000Z */
#define NOW_MS 1771045200000LL

/* ---- helpers ---- */

/* One field under test: {"k": v} (v is stolen; NULL leaves "k" absent) and its issues. */
struct run {
    struct issues is;
    json_t *obj;
};

static void run_begin(struct run *r, json_t *v)
{
    issues_init(&r->is);
    r->obj = json_object();
    if (v)
        json_object_set_new(r->obj, "k", v);
}

static void run_end(struct run *r)
{
    issues_free(&r->is);
    json_decref(r->obj);
}

/* The issue paths joined with commas ("" when none). Static buffer. */
static const char *paths(const struct issues *is)
{
    static char buf[1024];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < is->n; i++) {
        const char *p = is->items[i].path;
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? "," : "", p ? p : "(null)");
        if (o >= sizeof(buf))
            break;
    }
    return buf;
}

/* The message of issue i, "" when there is none. */
static const char *message(const struct issues *is, size_t i)
{
    const char *m = i < is->n ? is->items[i].message : NULL;
    return m ? m : "";
}

/* A copy of s in a static buffer (results borrow from the object, which the test frees). */
static const char *cstr(struct str s)
{
    static char buf[4096];
    if (!s.p)
        return "(null)";
    size_t n = s.n < sizeof(buf) - 1 ? s.n : sizeof(buf) - 1;
    memcpy(buf, s.p, n);
    buf[n] = '\0';
    return buf;
}

/* v_string on {"k": v}: returns the result; *paths_out holds the issue paths. */
static enum v_result str_field(json_t *v, size_t min, size_t max, bool required, const char **value,
                               const char **issue_paths)
{
    struct run r;
    run_begin(&r, v);
    struct str out = {NULL, 0};
    enum v_result res = v_string(&r.is, r.obj, "k", "a.k", min, max, required, &out);
    *value = res == V_OK ? cstr(out) : NULL;
    *issue_paths = paths(&r.is);
    if ((res == V_INVALID || (res == V_ABSENT && required)) != (r.is.n == 1))
        fprintf(stderr, "v_string: result %d with %zu issues\n", res, r.is.n);
    CHECK((res == V_INVALID || (res == V_ABSENT && required)) == (r.is.n == 1));
    run_end(&r);
    return res;
}

/* ---- v_trim / v_codepoints ---- */

static void test_trim(void)
{
    struct str t;
    t = v_trim(STRLIT("  \t\r\n abc \f\v "));
    CHECK_STR(cstr(t), "abc");
    /* U+00A0, U+3000, U+FEFF, U+2028 at both ends */
    t = v_trim(STRLIT(
        "\xc2\xa0\xe3\x80\x80\xef\xbb\xbf\xe2\x80\xa8x y\xe2\x80\xa8\xef\xbb\xbf\xe3\x80\x80\xc2\xa0"));
    CHECK_STR(cstr(t), "x y");
    /* each alone, each side */
    static const char *const spaces[] = {" ",
                                         "\xc2\xa0",
                                         "\xe1\x9a\x80",
                                         "\xe2\x80\x80",
                                         "\xe2\x80\x8a",
                                         "\xe2\x80\xa8",
                                         "\xe2\x80\xa9",
                                         "\xe2\x80\xaf",
                                         "\xe2\x81\x9f",
                                         "\xe3\x80\x80",
                                         "\xef\xbb\xbf"};
    for (size_t i = 0; i < ARRAY_LEN(spaces); i++) {
        char *s = rep(spaces[i], "", 0, "ab");
        CHECK_STR(cstr(v_trim(str_from_cstr(s))), "ab");
        free(s);
        s = rep("ab", spaces[i], 2, "");
        CHECK_STR(cstr(v_trim(str_from_cstr(s))), "ab");
        free(s);
        /* interior kept */
        s = rep("a", spaces[i], 1, "b");
        CHECK_STR(cstr(v_trim(str_from_cstr(s))), s);
        free(s);
    }
    /* all white space → empty */
    t = v_trim(STRLIT(" \xc2\xa0\xe3\x80\x80\xef\xbb\xbf\xe2\x80\xa8 "));
    CHECK_INT(t.n, 0);
    t = v_trim(STRLIT(""));
    CHECK_INT(t.n, 0);
    /* not white space for String.prototype.trim: U+0085 (NEL), U+180E (no longer Zs), U+001F, U+200B */
    t = v_trim(STRLIT("\xc2\x85x\xc2\x85"));
    CHECK_INT(t.n, 5);
    t = v_trim(STRLIT("\xe1\xa0\x8ex\xe1\xa0\x8e"));
    CHECK_INT(t.n, 7);
    t = v_trim(STRLIT("\x1fx\x1f"));
    CHECK_INT(t.n, 3);
    /* U+200B (zero width space), and letters that share lead bytes with spaces */
    t = v_trim(STRLIT("\xe2\x80\x8b"
                      "a"
                      "\xe2\x80\x8b"));
    CHECK_INT(t.n, 7);
    t = v_trim(STRLIT("\xc3\xa9 \xc3\xa9"));
    CHECK_STR(cstr(t), "\xc3\xa9 \xc3\xa9");
    t = v_trim(STRLIT("\xf0\x9f\x98\x80 "));
    CHECK_STR(cstr(t), "\xf0\x9f\x98\x80");
    /* the result borrows from the input */
    const char *in = "  q  ";
    t = v_trim(str_from_cstr(in));
    CHECK(t.p == in + 2 && t.n == 1);
}

static void test_codepoints(void)
{
    CHECK_INT(v_codepoints(STRLIT("")), 0);
    CHECK_INT(v_codepoints(STRLIT("abc")), 3);
    CHECK_INT(v_codepoints(STRLIT("\xc3\xa9")), 1);         /* é */
    CHECK_INT(v_codepoints(STRLIT("\xe2\x82\xac")), 1);     /* € */
    CHECK_INT(v_codepoints(STRLIT("\xf0\x9f\x98\x80")), 1); /* 😀: 2 UTF-16 units, 1 code point */
    CHECK_INT(v_codepoints(STRLIT("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")), 4);
    char *s = rep("", "\xf0\x9f\x98\x80", 128, "");
    CHECK_INT(strlen(s), 512);
    CHECK_INT(v_codepoints(str_from_cstr(s)), 128);
    free(s);
}

/* ---- v_string / v_string_raw ---- */

static void test_string(void)
{
    const char *val, *ip;

    /* required and absent */
    CHECK_INT(str_field(NULL, 1, 10, V_REQUIRED, &val, &ip), V_ABSENT);
    CHECK_STR(ip, "a.k");
    CHECK_INT(str_field(NULL, 1, 10, V_OPTIONAL, &val, &ip), V_ABSENT);
    CHECK_STR(ip, "");

    /* not a string: number, bool, null, array, object */
    json_t *bad[] = {json_integer(5), json_true(), json_null(), json_array(), json_object(), json_real(1.5)};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT(str_field(bad[i], 1, 10, V_OPTIONAL, &val, &ip), V_INVALID);
        CHECK_STR(ip, "a.k");
    }

    /* U+0000 anywhere */
    CHECK_INT(str_field(json_stringn("ab\0cdefgh", 9), 1, 100, V_REQUIRED, &val, &ip), V_INVALID);
    CHECK_STR(ip, "a.k");
    CHECK_INT(str_field(json_stringn("\0", 1), 0, 100, V_OPTIONAL, &val, &ip), V_INVALID);
    CHECK_STR(ip, "a.k");
    CHECK_INT(str_field(json_stringn("abcdefgh\0", 9), 1, 100, V_OPTIONAL, &val, &ip), V_INVALID);

    /* trimmed before the length check; the value is the trimmed one */
    CHECK_INT(str_field(json_string("  abcdefg  "), 8, 128, V_REQUIRED, &val, &ip), V_INVALID);
    CHECK_STR(ip, "a.k");
    CHECK_INT(str_field(json_string("  abcdefgh  "), 8, 128, V_REQUIRED, &val, &ip), V_OK);
    CHECK_STR(val, "abcdefgh");
    CHECK_STR(ip, "");
    CHECK_INT(str_field(json_string("\xe3\x80\x80 abcdefgh\xc2\xa0"), 8, 8, V_REQUIRED, &val, &ip), V_OK);
    CHECK_STR(val, "abcdefgh");
    /* empty and all-space fail min 1 */
    CHECK_INT(str_field(json_string(""), 1, 10, V_OPTIONAL, &val, &ip), V_INVALID);
    CHECK_STR(ip, "a.k");
    CHECK_INT(str_field(json_string(" \xef\xbb\xbf "), 1, 10, V_OPTIONAL, &val, &ip), V_INVALID);
    CHECK_INT(str_field(json_string("   "), 0, 10, V_OPTIONAL, &val, &ip), V_OK);
    CHECK_STR(val, "");

    /* both sides of max, in code points, counted after trimming */
    char *s = rep("", "a", 10, "");
    CHECK_INT(str_field(json_string(s), 1, 10, V_OPTIONAL, &val, &ip), V_OK);
    free(s);
    s = rep("", "a", 11, "");
    CHECK_INT(str_field(json_string(s), 1, 10, V_OPTIONAL, &val, &ip), V_INVALID);
    CHECK_STR(ip, "a.k");
    free(s);
    s = rep("   ", "a", 10, "   ");
    CHECK_INT(str_field(json_string(s), 1, 10, V_OPTIONAL, &val, &ip), V_OK);
    free(s);
    /* 128 emoji (512 bytes) fit a 128 limit; 129 do not */
    s = rep("", "\xf0\x9f\x98\x80", 128, "");
    CHECK_INT(str_field(json_string(s), 1, 128, V_OPTIONAL, &val, &ip), V_OK);
    CHECK_INT(strlen(val), 512);
    free(s);
    s = rep("", "\xf0\x9f\x98\x80", 129, "");
    CHECK_INT(str_field(json_string(s), 1, 128, V_OPTIONAL, &val, &ip), V_INVALID);
    free(s);
    s = rep("", "\xc3\xa9", 8, "");
    CHECK_INT(str_field(json_string(s), 8, 8, V_OPTIONAL, &val, &ip), V_OK);
    free(s);
    s = rep("", "\xc3\xa9", 7, "");
    CHECK_INT(str_field(json_string(s), 8, 8, V_OPTIONAL, &val, &ip), V_INVALID);
    free(s);

    /* messages */
    struct run r;
    struct str out;
    run_begin(&r, NULL);
    CHECK_INT(v_string(&r.is, r.obj, "k", "k", 1, 5, V_REQUIRED, &out), V_ABSENT);
    CHECK_STR(message(&r.is, 0), "is required");
    run_end(&r);
    run_begin(&r, json_stringn("a\0", 2));
    CHECK_INT(v_string(&r.is, r.obj, "k", "k", 1, 5, V_REQUIRED, &out), V_INVALID);
    CHECK_STR(message(&r.is, 0), "must not contain U+0000");
    run_end(&r);
    run_begin(&r, json_string("  abcdefg "));
    CHECK_INT(v_string(&r.is, r.obj, "k", "k", 8, 128, V_REQUIRED, &out), V_INVALID);
    CHECK_STR(message(&r.is, 0), "must be at least 8 characters");
    run_end(&r);
    run_begin(&r, json_string("abcdef"));
    CHECK_INT(v_string(&r.is, r.obj, "k", "k", 1, 5, V_REQUIRED, &out), V_INVALID);
    CHECK_STR(message(&r.is, 0), "must be at most 5 characters");
    run_end(&r);

    /* a NULL object is "absent" */
    issues_init(&r.is);
    CHECK_INT(v_string(&r.is, NULL, "k", "x.k", 1, 5, V_REQUIRED, &out), V_ABSENT);
    CHECK_STR(paths(&r.is), "x.k");
    issues_free(&r.is);
}

static void test_string_raw(void)
{
    struct run r;
    struct str out;

    /* not trimmed: the spaces count and are kept */
    run_begin(&r, json_string(" ab "));
    CHECK_INT(v_string_raw(&r.is, r.obj, "k", "k", 4, V_REQUIRED, &out), V_OK);
    CHECK_STR(cstr(out), " ab ");
    run_end(&r);
    run_begin(&r, json_string(" ab "));
    CHECK_INT(v_string_raw(&r.is, r.obj, "k", "k", 3, V_REQUIRED, &out), V_INVALID);
    CHECK_STR(paths(&r.is), "k");
    run_end(&r);
    /* code points, not bytes */
    char *s = rep("", "\xf0\x9f\x98\x80", 3, "");
    run_begin(&r, json_string(s));
    CHECK_INT(v_string_raw(&r.is, r.obj, "k", "k", 3, V_REQUIRED, &out), V_OK);
    run_end(&r);
    free(s);
    /* empty is fine (no minimum) */
    run_begin(&r, json_string(""));
    CHECK_INT(v_string_raw(&r.is, r.obj, "k", "k", 3, V_REQUIRED, &out), V_OK);
    CHECK_INT(out.n, 0);
    run_end(&r);
    /* required / optional absent */
    run_begin(&r, NULL);
    CHECK_INT(v_string_raw(&r.is, r.obj, "k", "p.k", 3, V_REQUIRED, &out), V_ABSENT);
    CHECK_INT(v_string_raw(&r.is, r.obj, "k", "q.k", 3, V_OPTIONAL, &out), V_ABSENT);
    CHECK_STR(paths(&r.is), "p.k");
    run_end(&r);
    /* U+0000 and non-strings */
    run_begin(&r, json_stringn("a\0b", 3));
    CHECK_INT(v_string_raw(&r.is, r.obj, "k", "k", 10, V_REQUIRED, &out), V_INVALID);
    CHECK_STR(paths(&r.is), "k");
    run_end(&r);
    run_begin(&r, json_integer(1));
    CHECK_INT(v_string_raw(&r.is, r.obj, "k", "k", 10, V_REQUIRED, &out), V_INVALID);
    CHECK_STR(paths(&r.is), "k");
    run_end(&r);
}

/* ---- v_enum / v_bool / v_object ---- */

static void test_enum(void)
{
    static const char *const allowed[] = {"desktop", "mobile", "tablet"};
    struct run r;
    const char *out = NULL;

    run_begin(&r, json_string(" mobile\xc2\xa0"));
    CHECK_INT(v_enum(&r.is, r.obj, "k", "t.k", allowed, ARRAY_LEN(allowed), &out), V_OK);
    CHECK(out == allowed[1]); /* the allowed entry itself, not a borrowed copy */
    CHECK_STR(paths(&r.is), "");
    run_end(&r);

    static const char *const wrong[] = {"Mobile", "mob", "mobiles", "", " ", "desktop,mobile"};
    for (size_t i = 0; i < ARRAY_LEN(wrong); i++) {
        run_begin(&r, json_string(wrong[i]));
        CHECK_INT(v_enum(&r.is, r.obj, "k", "t.k", allowed, ARRAY_LEN(allowed), &out), V_INVALID);
        CHECK_STR(paths(&r.is), "t.k");
        run_end(&r);
    }
    run_begin(&r, json_string("x"));
    (void)v_enum(&r.is, r.obj, "k", "t.k", allowed, ARRAY_LEN(allowed), &out);
    CHECK_STR(message(&r.is, 0), "must be one of desktop, mobile, tablet");
    run_end(&r);

    json_t *bad[] = {json_integer(1), json_null(), json_true(), json_stringn("mobile\0", 7)};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        run_begin(&r, bad[i]);
        CHECK_INT(v_enum(&r.is, r.obj, "k", "t.k", allowed, ARRAY_LEN(allowed), &out), V_INVALID);
        CHECK_STR(paths(&r.is), "t.k");
        run_end(&r);
    }
    /* absent: no issue */
    run_begin(&r, NULL);
    CHECK_INT(v_enum(&r.is, r.obj, "k", "t.k", allowed, ARRAY_LEN(allowed), &out), V_ABSENT);
    CHECK_STR(paths(&r.is), "");
    run_end(&r);
}

static void test_bool(void)
{
    struct run r;
    bool b = false;

    run_begin(&r, json_true());
    CHECK_INT(v_bool(&r.is, r.obj, "k", "t.k", &b), V_OK);
    CHECK(b);
    run_end(&r);
    run_begin(&r, json_false());
    b = true;
    CHECK_INT(v_bool(&r.is, r.obj, "k", "t.k", &b), V_OK);
    CHECK(!b);
    CHECK_STR(paths(&r.is), "");
    run_end(&r);

    json_t *bad[] = {json_string("true"), json_string("false"), json_integer(1), json_integer(0),
                     json_null(),         json_real(1.0),       json_array()};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        run_begin(&r, bad[i]);
        CHECK_INT(v_bool(&r.is, r.obj, "k", "t.k", &b), V_INVALID);
        CHECK_STR(paths(&r.is), "t.k");
        run_end(&r);
    }
    run_begin(&r, NULL);
    CHECK_INT(v_bool(&r.is, r.obj, "k", "t.k", &b), V_ABSENT);
    CHECK_STR(paths(&r.is), "");
    run_end(&r);
}

static void test_object(void)
{
    struct run r;
    json_t *out = NULL;

    json_t *inner = json_object();
    run_begin(&r, inner);
    CHECK_INT(v_object(&r.is, r.obj, "k", "k", &out), V_OK);
    CHECK(out == inner);
    run_end(&r);

    json_t *bad[] = {json_array(), json_string("{}"), json_null(), json_integer(0)};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        run_begin(&r, bad[i]);
        CHECK_INT(v_object(&r.is, r.obj, "k", "x.k", &out), V_INVALID);
        CHECK_STR(paths(&r.is), "x.k");
        run_end(&r);
    }
    run_begin(&r, NULL);
    CHECK_INT(v_object(&r.is, r.obj, "k", "x.k", &out), V_ABSENT);
    CHECK_STR(paths(&r.is), "");
    run_end(&r);
}

static void test_free_object(void)
{
    struct run r;
    json_t *out = NULL;

    /* any content without U+0000 */
    json_t *ok = json_pack("{s:i, s:[s, {s:s}], s:{s:{s:n}}, s:f, s:b}", "a", 1, "b", "x", "c", "d", "e", "f",
                           "g", "h", 1.5, "i", 1);
    run_begin(&r, ok);
    CHECK_INT(v_free_object(&r.is, r.obj, "k", "props", &out), V_OK);
    CHECK(out == ok);
    CHECK_STR(paths(&r.is), "");
    run_end(&r);

    /* NUL in a top-level value, a nested value, an array, an array in an array */
    json_t *nul[4];
    nul[0] = json_pack("{s:o}", "a", json_stringn("x\0", 2));
    nul[1] = json_pack("{s:{s:{s:o}}}", "a", "b", "c", json_stringn("\0", 1));
    nul[2] = json_pack("{s:[i, s, o]}", "a", 1, "ok", json_stringn("y\0z", 3));
    nul[3] = json_pack("{s:[[{s:o}]]}", "a", "b", json_stringn("\0q", 2));
    for (size_t i = 0; i < ARRAY_LEN(nul); i++) {
        CHECK(nul[i] != NULL);
        run_begin(&r, nul[i]);
        out = NULL;
        CHECK_INT(v_free_object(&r.is, r.obj, "k", "props", &out), V_INVALID);
        CHECK_STR(paths(&r.is), "props"); /* the object's path, once */
        CHECK_STR(message(&r.is, 0), "must not contain U+0000");
        CHECK(out == NULL);
        run_end(&r);
    }

    /* NUL in a key (validate.h: "any key or string inside"; API.md §1: "a key or value inside props").
     * The parser never produces such a key, but the helper promises to refuse it. */
    json_t *k = json_object();
    json_object_setn_new(k, "a\0b", 3, json_integer(1));
    json_t *nested = json_object();
    json_t *deep = json_object();
    json_object_setn_new(deep, "\0", 1, json_true());
    json_object_set_new(nested, "x", deep);
    json_t *keyed[] = {k, nested};
    for (size_t i = 0; i < ARRAY_LEN(keyed); i++) {
        run_begin(&r, keyed[i]);
        CHECK_INT(v_free_object(&r.is, r.obj, "k", "props", &out), V_INVALID);
        CHECK_STR(paths(&r.is), "props");
        run_end(&r);
    }

    /* not an object / absent */
    run_begin(&r, json_array());
    CHECK_INT(v_free_object(&r.is, r.obj, "k", "props", &out), V_INVALID);
    CHECK_STR(paths(&r.is), "props");
    run_end(&r);
    run_begin(&r, NULL);
    CHECK_INT(v_free_object(&r.is, r.obj, "k", "props", &out), V_ABSENT);
    CHECK_STR(paths(&r.is), "");
    run_end(&r);
}

/* ---- coerced numbers ---- */

static enum v_result cint(json_t *v, long long min, long long max, long long *out, const char **ip)
{
    struct run r;
    run_begin(&r, v);
    enum v_result res = v_coerced_int(&r.is, r.obj, "k", "w.k", min, max, out);
    *ip = paths(&r.is);
    CHECK((res == V_INVALID) == (r.is.n == 1));
    run_end(&r);
    return res;
}

static enum v_result cnum(json_t *v, double min, double max, double *out, const char **ip)
{
    struct run r;
    run_begin(&r, v);
    enum v_result res = v_coerced_number(&r.is, r.obj, "k", "w.k", min, max, out);
    *ip = paths(&r.is);
    CHECK((res == V_INVALID) == (r.is.n == 1));
    run_end(&r);
    return res;
}

static void test_coerced_int(void)
{
    long long v = -7;
    const char *ip;

    CHECK_INT(cint(json_integer(65), 0, 100, &v, &ip), V_OK);
    CHECK_INT(v, 65);
    CHECK_INT(cint(json_string("65"), 0, 100, &v, &ip), V_OK);
    CHECK_INT(v, 65);
    CHECK_INT(cint(json_string(" 65 "), 0, 100, &v, &ip), V_OK);
    CHECK_INT(v, 65);
    CHECK_INT(cint(json_string("\xc2\xa0"
                               "65\xe3\x80\x80"),
                   0, 100, &v, &ip),
              V_OK);
    CHECK_INT(v, 65);
    CHECK_INT(cint(json_string("+65"), 0, 100, &v, &ip), V_OK);
    CHECK_INT(v, 65);
    CHECK_INT(cint(json_string("1e3"), 0, 100000, &v, &ip), V_OK);
    CHECK_INT(v, 1000);
    CHECK_INT(cint(json_string("1E3"), 0, 100000, &v, &ip), V_OK);
    CHECK_INT(v, 1000);
    CHECK_INT(cint(json_string("2.5e1"), 0, 100, &v, &ip), V_OK);
    CHECK_INT(v, 25);
    CHECK_INT(cint(json_real(1.0), 0, 100, &v, &ip), V_OK);
    CHECK_INT(v, 1);
    CHECK_INT(cint(json_string("1.0"), 0, 100, &v, &ip), V_OK);
    CHECK_INT(v, 1);
    CHECK_INT(cint(json_string("-3"), -5, 5, &v, &ip), V_OK);
    CHECK_INT(v, -3);
    CHECK_INT(cint(json_integer(0), 0, 100, &v, &ip), V_OK);
    CHECK_INT(v, 0);

    /* a fractional part is refused */
    CHECK_INT(cint(json_real(1.5), 0, 100, &v, &ip), V_INVALID);
    CHECK_STR(ip, "w.k");
    CHECK_INT(cint(json_string("1.5"), 0, 100, &v, &ip), V_INVALID);
    CHECK_STR(ip, "w.k");
    CHECK_INT(cint(json_string("1e-1"), 0, 100, &v, &ip), V_INVALID);

    /* not numbers */
    json_t *bad[] = {json_string(""),
                     json_string("   "),
                     json_true(),
                     json_false(),
                     json_null(),
                     json_string("abc"),
                     json_string("0x10"),
                     json_string("Infinity"),
                     json_string("-Infinity"),
                     json_string("NaN"),
                     json_string("1e"),
                     json_string("."),
                     json_string("6 5"),
                     json_string("65px"),
                     json_string("--1"),
                     json_string("1e400"),
                     json_array(),
                     json_object(),
                     json_stringn("6\0", 2)};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        v = -7;
        CHECK_INT(cint(bad[i], -1000, 1000, &v, &ip), V_INVALID);
        CHECK_STR(ip, "w.k");
        CHECK_INT(v, -7);
    }

    /* bounds inclusive, both sides, for every form */
    CHECK_INT(cint(json_integer(EVENT_SCROLL_PCT_MAX), 0, EVENT_SCROLL_PCT_MAX, &v, &ip), V_OK);
    CHECK_INT(cint(json_integer(EVENT_SCROLL_PCT_MAX + 1), 0, EVENT_SCROLL_PCT_MAX, &v, &ip), V_INVALID);
    CHECK_STR(ip, "w.k");
    CHECK_INT(cint(json_integer(0), 0, EVENT_SCROLL_PCT_MAX, &v, &ip), V_OK);
    CHECK_INT(cint(json_integer(-1), 0, EVENT_SCROLL_PCT_MAX, &v, &ip), V_INVALID);
    CHECK_INT(cint(json_string("100"), 0, EVENT_SCROLL_PCT_MAX, &v, &ip), V_OK);
    CHECK_INT(cint(json_string("101"), 0, EVENT_SCROLL_PCT_MAX, &v, &ip), V_INVALID);
    CHECK_INT(cint(json_string("-1"), 0, EVENT_SCROLL_PCT_MAX, &v, &ip), V_INVALID);
    CHECK_INT(cint(json_string("-0"), 0, EVENT_SCROLL_PCT_MAX, &v, &ip), V_OK);
    CHECK_INT(v, 0);
    CHECK_INT(cint(json_real(100.0), 0, EVENT_SCROLL_PCT_MAX, &v, &ip), V_OK);
    CHECK_INT(cint(json_real(101.0), 0, EVENT_SCROLL_PCT_MAX, &v, &ip), V_INVALID);
    CHECK_INT(cint(json_integer(EVENT_ENGAGED_MS_MAX), 0, EVENT_ENGAGED_MS_MAX, &v, &ip), V_OK);
    CHECK_INT(v, EVENT_ENGAGED_MS_MAX);
    CHECK_INT(cint(json_integer(EVENT_ENGAGED_MS_MAX + 1), 0, EVENT_ENGAGED_MS_MAX, &v, &ip), V_INVALID);
    CHECK_INT(cint(json_string("8.64e7"), 0, EVENT_ENGAGED_MS_MAX, &v, &ip), V_OK);
    CHECK_INT(v, EVENT_ENGAGED_MS_MAX);
    CHECK_INT(cint(json_string("86400001"), 0, EVENT_ENGAGED_MS_MAX, &v, &ip), V_INVALID);
    CHECK_INT(cint(json_integer(EVENT_VITAL_MS_MAX), 0, EVENT_VITAL_MS_MAX, &v, &ip), V_OK);
    CHECK_INT(cint(json_integer(EVENT_VITAL_MS_MAX + 1), 0, EVENT_VITAL_MS_MAX, &v, &ip), V_INVALID);
    CHECK_INT(cint(json_integer(1000000000000000000LL), 0, EVENT_VITAL_MS_MAX, &v, &ip), V_INVALID);
    CHECK_INT(cint(json_real(1e300), 0, EVENT_VITAL_MS_MAX, &v, &ip), V_INVALID);

    /* absent: no issue */
    CHECK_INT(cint(NULL, 0, 10, &v, &ip), V_ABSENT);
    CHECK_STR(ip, "");

    struct run r;
    run_begin(&r, json_integer(11));
    (void)v_coerced_int(&r.is, r.obj, "k", "k", 0, 10, &v);
    CHECK_STR(message(&r.is, 0), "must be between 0 and 10");
    run_end(&r);
    run_begin(&r, json_string("1.5"));
    (void)v_coerced_int(&r.is, r.obj, "k", "k", 0, 10, &v);
    CHECK_STR(message(&r.is, 0), "must be an integer");
    run_end(&r);
    run_begin(&r, json_true());
    (void)v_coerced_int(&r.is, r.obj, "k", "k", 0, 10, &v);
    CHECK_STR(message(&r.is, 0), "must be a number");
    run_end(&r);
}

static void test_coerced_number(void)
{
    double d = -7;
    const char *ip;

    CHECK_INT(cnum(json_integer(65), -100, 100, &d, &ip), V_OK);
    CHECK(d == 65.0);
    CHECK_INT(cnum(json_string("65"), -100, 100, &d, &ip), V_OK);
    CHECK(d == 65.0);
    CHECK_INT(cnum(json_string(" 65 "), -100, 100, &d, &ip), V_OK);
    CHECK(d == 65.0);
    CHECK_INT(cnum(json_string("-1.5"), -100, 100, &d, &ip), V_OK);
    CHECK(d == -1.5);
    CHECK_INT(cnum(json_string("1e3"), 0, 10000, &d, &ip), V_OK);
    CHECK(d == 1000.0);
    CHECK_INT(cnum(json_string(".25"), 0, 10, &d, &ip), V_OK);
    CHECK(d == 0.25);
    CHECK_INT(cnum(json_string("1."), 0, 10, &d, &ip), V_OK);
    CHECK(d == 1.0);
    CHECK_INT(cnum(json_real(0.125), 0, 10, &d, &ip), V_OK);
    CHECK(d == 0.125);

    json_t *bad[] = {json_string(""),    json_true(),          json_null(),
                     json_string("abc"), json_string("0x10"),  json_string("Infinity"),
                     json_string("NaN"), json_string("1e999"), json_string("1,5"),
                     json_string("- 1"), json_object()};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        d = -7;
        CHECK_INT(cnum(bad[i], -1e9, 1e9, &d, &ip), V_INVALID);
        CHECK_STR(ip, "w.k");
        CHECK(d == -7);
    }

    /* bounds inclusive */
    CHECK_INT(cnum(json_real(EVENT_CLS_MAX), 0, EVENT_CLS_MAX, &d, &ip), V_OK);
    CHECK(d == EVENT_CLS_MAX);
    CHECK_INT(cnum(json_integer(10), 0, EVENT_CLS_MAX, &d, &ip), V_OK);
    CHECK_INT(cnum(json_string("10"), 0, EVENT_CLS_MAX, &d, &ip), V_OK);
    CHECK_INT(cnum(json_real(10.000001), 0, EVENT_CLS_MAX, &d, &ip), V_INVALID);
    CHECK_STR(ip, "w.k");
    CHECK_INT(cnum(json_string("10.0001"), 0, EVENT_CLS_MAX, &d, &ip), V_INVALID);
    CHECK_INT(cnum(json_real(0.0), 0, EVENT_CLS_MAX, &d, &ip), V_OK);
    CHECK_INT(cnum(json_real(-0.0001), 0, EVENT_CLS_MAX, &d, &ip), V_INVALID);
    CHECK_INT(cnum(json_string("-0.0001"), 0, EVENT_CLS_MAX, &d, &ip), V_INVALID);
    CHECK_INT(cnum(NULL, 0, EVENT_CLS_MAX, &d, &ip), V_ABSENT);
    CHECK_STR(ip, "");
}

static void test_parse_decimal(void)
{
    double d;
    CHECK(v_parse_decimal(STRLIT("0"), &d) == 0 && d == 0);
    CHECK(v_parse_decimal(STRLIT("-1.5"), &d) == 0 && d == -1.5);
    CHECK(v_parse_decimal(STRLIT("1e+2"), &d) == 0 && d == 100);
    CHECK(v_parse_decimal(STRLIT("5E-1"), &d) == 0 && d == 0.5);
    CHECK(v_parse_decimal(STRLIT(""), &d) == -1);
    CHECK(v_parse_decimal(STRLIT(" 1"), &d) == -1); /* the caller trims */
    CHECK(v_parse_decimal(STRLIT("1 "), &d) == -1);
    CHECK(v_parse_decimal(STRLIT("+"), &d) == -1);
    CHECK(v_parse_decimal(STRLIT("e5"), &d) == -1);
    CHECK(v_parse_decimal(STRLIT("inf"), &d) == -1);
    CHECK(v_parse_decimal(STRLIT("0x1p3"), &d) == -1);
    CHECK(v_parse_decimal(STRLIT("1e5.5"), &d) == -1);
    /* a length that strtod would read past: not NUL-terminated input */
    CHECK(v_parse_decimal((struct str){"123456", 2}, &d) == 0 && d == 12);
}

/* ---- timestamps ---- */

static enum v_result ts(json_t *v, int64_t now, int64_t *out, const char **ip)
{
    struct run r;
    run_begin(&r, v);
    enum v_result res = v_timestamp(&r.is, r.obj, "k", "ts", now, EVENT_MAX_FUTURE_MS, out);
    *ip = paths(&r.is);
    CHECK((res == V_INVALID) == (r.is.n == 1));
    run_end(&r);
    return res;
}

static void test_timestamp(void)
{
    int64_t ms = -1;
    const char *ip;

    CHECK_INT(ts(json_string("2026-02-14T05:00:00Z"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);
    CHECK_INT(ts(json_string("2026-02-14T05:00:00.000Z"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);
    CHECK_INT(ts(json_string("2026-02-14t05:00:00z"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);
    CHECK_INT(ts(json_string("  2026-02-14T05:00:00Z \xc2\xa0"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);
    CHECK_INT(ts(json_string("2026-02-14T07:00:00+02:00"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);
    CHECK_INT(ts(json_string("2026-02-13T23:30:00-0530"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);
    CHECK_INT(ts(json_string("2026-02-14T05:00:00+00:00"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);
    CHECK_INT(ts(json_string("2026-02-14T05:00:00-00:00"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);
    /* no seconds */
    CHECK_INT(ts(json_string("2026-02-14T05:00Z"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);
    CHECK_INT(ts(json_string("2026-02-14T06:00+01:00"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);

    /* fractional seconds: 1 to 9 digits, milliseconds kept */
    static const struct {
        const char *s;
        int64_t ms;
    } frac[] = {
        {"2026-02-14T04:59:59.1Z", NOW_MS - 900},         {"2026-02-14T04:59:59.12Z", NOW_MS - 880},
        {"2026-02-14T04:59:59.123Z", NOW_MS - 877},       {"2026-02-14T04:59:59.1234Z", NOW_MS - 877},
        {"2026-02-14T04:59:59.12345Z", NOW_MS - 877},     {"2026-02-14T04:59:59.123456Z", NOW_MS - 877},
        {"2026-02-14T04:59:59.1234567Z", NOW_MS - 877},   {"2026-02-14T04:59:59.12345678Z", NOW_MS - 877},
        {"2026-02-14T04:59:59.123456789Z", NOW_MS - 877}, {"2026-02-14T04:59:59.999999999Z", NOW_MS - 1},
        {"2026-02-14T06:59:59.5+02:00", NOW_MS - 500},
    };
    for (size_t i = 0; i < ARRAY_LEN(frac); i++) {
        ms = -1;
        if (ts(json_string(frac[i].s), NOW_MS, &ms, &ip) != V_OK || ms != frac[i].ms)
            fprintf(stderr, "timestamp %s → %lld\n", frac[i].s, (long long)ms);
        CHECK_INT(ms, frac[i].ms);
    }

    /* refused forms */
    static const char *const bad[] = {
        "2026-02-14T05:00:00",             /* no offset: ambiguous */
        "2026-02-14T05:00",                /* no offset, no seconds */
        "2026-02-14",                      /* a date */
        "2026-02-14 05:00:00Z",            /* space instead of T */
        "2026-02-14T05:00:00.Z",           /* empty fraction */
        "2026-02-14T04:59:59.1234567890Z", /* 10 fraction digits */
        "2026-02-30T00:00:00Z",            /* not a date */
        "2026-02-29T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z", /* a century is not a leap year */
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:60Z",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00+01:60",
        "2026-01-01T00:00:00+01",
        "2026-01-01T00:00:00+1:00",
        "2026-01-01T00:00:00+01:00:00",
        "2026-01-01T00:00:00ZZ",
        "2026-01-01T00:00:00Z junk",
        "26-01-01T00:00:00Z",
        "2026-1-01T00:00:00Z",
        "2026-01-01T0:00:00Z",
        "2026-01-01T00:00:0Z",
        "1771045200000", /* epoch as a string */
        "",
        "   ",
        "now",
        "1969-12-31T23:59:59.999Z",  /* before 1970 */
        "1970-01-01T00:30:00+01:00", /* 1969 in UTC */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        ms = -1;
        enum v_result res = ts(json_string(bad[i]), NOW_MS, &ms, &ip);
        if (res != V_INVALID)
            fprintf(stderr, "timestamp '%s' accepted as %lld\n", bad[i], (long long)ms);
        CHECK_INT(res, V_INVALID);
        CHECK_STR(ip, "ts");
    }
    CHECK_INT(ts(json_stringn("2026-02-14T05:00:00Z\0", 21), NOW_MS, &ms, &ip), V_INVALID);

    /* leap days */
    CHECK_INT(ts(json_string("2024-02-29T12:34:56.789Z"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, 1709210096789LL);
    CHECK_INT(ts(json_string("2000-02-29T00:00:00Z"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ts(json_string("1970-01-01T00:00:00Z"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, 0);
    CHECK_INT(ts(json_string("1970-01-01T01:00:00+01:00"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, 0);

    /* epoch milliseconds */
    CHECK_INT(ts(json_integer(NOW_MS), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS);
    CHECK_INT(ts(json_integer(0), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, 0);
    CHECK_INT(ts(json_integer(-1), NOW_MS, &ms, &ip), V_INVALID);
    CHECK_STR(ip, "ts");
    CHECK_INT(ts(json_real(1771045200000.5), NOW_MS, &ms, &ip), V_INVALID);
    CHECK_INT(ts(json_true(), NOW_MS, &ms, &ip), V_INVALID);
    CHECK_INT(ts(json_object(), NOW_MS, &ms, &ip), V_INVALID);
    CHECK_STR(ip, "ts");

    /* null and absent: no value, no issue */
    ms = -1;
    CHECK_INT(ts(json_null(), NOW_MS, &ms, &ip), V_ABSENT);
    CHECK_STR(ip, "");
    CHECK_INT(ms, -1);
    CHECK_INT(ts(NULL, NOW_MS, &ms, &ip), V_ABSENT);
    CHECK_STR(ip, "");

    /* the future bound, both sides, both forms */
    CHECK_INT(ts(json_integer(NOW_MS + EVENT_MAX_FUTURE_MS), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS + EVENT_MAX_FUTURE_MS);
    CHECK_INT(ts(json_integer(NOW_MS + EVENT_MAX_FUTURE_MS + 1), NOW_MS, &ms, &ip), V_INVALID);
    CHECK_STR(ip, "ts");
    CHECK_INT(ts(json_string("2026-02-15T05:00:00.000Z"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, NOW_MS + EVENT_MAX_FUTURE_MS);
    CHECK_INT(ts(json_string("2026-02-15T05:00:00.001Z"), NOW_MS, &ms, &ip), V_INVALID);
    CHECK_INT(ts(json_string("2026-02-15T07:00:00+02:00"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ts(json_string("2026-02-15T07:00:00.001+02:00"), NOW_MS, &ms, &ip), V_INVALID);
    CHECK_INT(ts(json_string("9999-12-31T23:59:59Z"), NOW_MS, &ms, &ip), V_INVALID);
    CHECK_INT(ts(json_integer(INT64_MAX), NOW_MS, &ms, &ip), V_INVALID);
    /* the past is fine */
    CHECK_INT(ts(json_string("2001-09-09T01:46:40Z"), NOW_MS, &ms, &ip), V_OK);
    CHECK_INT(ms, 1000000000000LL);

    struct run r;
    run_begin(&r, json_integer(NOW_MS + EVENT_MAX_FUTURE_MS + 1));
    (void)v_timestamp(&r.is, r.obj, "k", "k", NOW_MS, EVENT_MAX_FUTURE_MS, &ms);
    CHECK_STR(message(&r.is, 0), "must not be more than 24 hours in the future");
    run_end(&r);
}

static void test_parse_iso8601(void)
{
    int64_t ms = 0;
    /* offsets convert to UTC: local time minus the offset */
    CHECK(v_parse_iso8601(STRLIT("2026-02-14T05:00:00Z"), &ms) == 0);
    CHECK_INT(ms, NOW_MS);
    CHECK(v_parse_iso8601(STRLIT("2026-02-14T05:00:00+01:00"), &ms) == 0);
    CHECK_INT(ms, NOW_MS - 3600000);
    CHECK(v_parse_iso8601(STRLIT("2026-02-14T05:00:00-01:00"), &ms) == 0);
    CHECK_INT(ms, NOW_MS + 3600000);
    CHECK(v_parse_iso8601(STRLIT("2026-02-14T05:00:00+0530"), &ms) == 0);
    CHECK_INT(ms, NOW_MS - 330 * 60000LL);
    CHECK(v_parse_iso8601(STRLIT("2026-02-14T05:00:00-05:30"), &ms) == 0);
    CHECK_INT(ms, NOW_MS + 330 * 60000LL);
    CHECK(v_parse_iso8601(STRLIT("2026-02-14T05:00:00+23:59"), &ms) == 0);
    CHECK_INT(ms, NOW_MS - (23 * 60 + 59) * 60000LL);
    /* crossing a day, a month and a year */
    CHECK(v_parse_iso8601(STRLIT("2026-01-01T01:00:00+02:00"), &ms) == 0);
    char iso[V_ISO_LEN];
    v_format_iso(ms, iso);
    CHECK_STR(iso, "2025-12-31T23:00:00.000Z");
    CHECK(v_parse_iso8601(STRLIT("2024-02-28T22:00:00-02:00"), &ms) == 0);
    v_format_iso(ms, iso);
    CHECK_STR(iso, "2024-02-29T00:00:00.000Z");
    CHECK(v_parse_iso8601(STRLIT("2000-01-01T00:00:00Z"), &ms) == 0);
    CHECK_INT(ms, 946684800000LL);
    /* the caller trims: spaces are not part of the grammar */
    CHECK(v_parse_iso8601(STRLIT(" 2026-02-14T05:00:00Z"), &ms) == -1);
    /* not NUL-terminated input is read only up to its length */
    CHECK(v_parse_iso8601((struct str){"2026-02-14T05:00:00Zjunk", 20}, &ms) == 0);
    CHECK_INT(ms, NOW_MS);
    CHECK(v_parse_iso8601((struct str){"2026-02-14T05:00:00Z", 19}, &ms) == -1);
}

static void test_format_iso(void)
{
    char iso[V_ISO_LEN];
    v_format_iso(0, iso);
    CHECK_STR(iso, "1970-01-01T00:00:00.000Z");
    v_format_iso(NOW_MS, iso);
    CHECK_STR(iso, "2026-02-14T05:00:00.000Z");
    v_format_iso(1709210096789LL, iso);
    CHECK_STR(iso, "2024-02-29T12:34:56.789Z");
    v_format_iso(951782400000LL, iso); /* 2000-02-29, a leap day of a leap century */
    CHECK_STR(iso, "2000-02-29T00:00:00.000Z");
    v_format_iso(253402300799999LL, iso);
    CHECK_STR(iso, "9999-12-31T23:59:59.999Z");
    v_format_iso(1, iso);
    CHECK_STR(iso, "1970-01-01T00:00:00.001Z");
    v_format_iso(86399999, iso);
    CHECK_STR(iso, "1970-01-01T23:59:59.999Z");

    /* round trips */
    static const int64_t samples[] = {0,
                                      1,
                                      999,
                                      1000,
                                      86400000,
                                      951782400000LL,
                                      951868799999LL,
                                      1709210096789LL,
                                      NOW_MS,
                                      NOW_MS + EVENT_MAX_FUTURE_MS,
                                      4102444800000LL,
                                      253402300799999LL};
    for (size_t i = 0; i < ARRAY_LEN(samples); i++) {
        int64_t back = -1;
        v_format_iso(samples[i], iso);
        CHECK_INT(strlen(iso), 24);
        CHECK(v_parse_iso8601(str_from_cstr(iso), &back) == 0);
        CHECK_INT(back, samples[i]);
    }
    /* and the other way */
    static const char *const texts[] = {"1970-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z",
                                        "2100-03-01T00:00:00.000Z", "2026-12-31T12:00:00.500Z"};
    for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
        int64_t ms = -1;
        CHECK(v_parse_iso8601(str_from_cstr(texts[i]), &ms) == 0);
        v_format_iso(ms, iso);
        CHECK_STR(iso, texts[i]);
    }
}

static void test_days_from_civil(void)
{
    CHECK_INT(v_days_from_civil(1970, 1, 1), 0);
    CHECK_INT(v_days_from_civil(1970, 1, 2), 1);
    CHECK_INT(v_days_from_civil(1969, 12, 31), -1);
    CHECK_INT(v_days_from_civil(2000, 3, 1), 11017);
    CHECK_INT(v_days_from_civil(2026, 2, 14), NOW_MS / 86400000);
}

/* Several helpers on one body: every problem is reported, each at its path, in order. */
static void test_all_issues(void)
{
    json_error_t err;
    json_t *body = json_loads("{\"anonId\":\"short\",\"eventType\":5,\"count\":\"abc\",\"flag\":\"true\","
                              "\"t\":{\"kind\":\"nope\",\"when\":\"2026-02-30T00:00:00Z\"},\"ok\":\"fine\"}",
                              0, &err);
    CHECK(body != NULL);
    struct issues is;
    issues_init(&is);
    struct str s;
    long long n;
    bool b;
    const char *e;
    int64_t ms;
    json_t *t = NULL;
    static const char *const kinds[] = {"a", "b"};
    CHECK_INT(v_string(&is, body, "anonId", "anonId", 8, 128, V_REQUIRED, &s), V_INVALID);
    CHECK_INT(v_string(&is, body, "eventType", "eventType", 1, 64, V_REQUIRED, &s), V_INVALID);
    CHECK_INT(v_string(&is, body, "path", "path", 1, 64, V_REQUIRED, &s), V_ABSENT);
    CHECK_INT(v_string(&is, body, "ok", "ok", 1, 64, V_REQUIRED, &s), V_OK);
    CHECK_INT(v_coerced_int(&is, body, "count", "count", 0, 10, &n), V_INVALID);
    CHECK_INT(v_bool(&is, body, "flag", "flag", &b), V_INVALID);
    CHECK_INT(v_object(&is, body, "t", "t", &t), V_OK);
    CHECK_INT(v_enum(&is, t, "kind", "t.kind", kinds, 2, &e), V_INVALID);
    CHECK_INT(v_timestamp(&is, t, "when", "t.when", NOW_MS, EVENT_MAX_FUTURE_MS, &ms), V_INVALID);
    CHECK_INT(v_string(&is, t, "missing", "t.missing", 1, 5, V_REQUIRED, &s), V_ABSENT);
    CHECK_STR(paths(&is), "anonId,eventType,path,count,flag,t.kind,t.when,t.missing");
    CHECK(issues_any(&is));
    /* every issue has a non-empty message */
    for (size_t i = 0; i < is.n; i++)
        CHECK(message(&is, i)[0] != '\0');
    issues_free(&is);
    json_decref(body);
}

int main(void)
{
    test_trim();
    test_codepoints();
    test_string();
    test_string_raw();
    test_enum();
    test_bool();
    test_object();
    test_free_object();
    test_coerced_int();
    test_coerced_number();
    test_parse_decimal();
    test_timestamp();
    test_parse_iso8601();
    test_format_iso();
    test_days_from_civil();
    test_all_issues();
    return t_done("test_validate");
}
