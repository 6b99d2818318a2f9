/* test_lead.c - the lead rules of API.md §3 that are not plain field checks: the email pattern
 * (a table checked offline against the regex of API.md with Python's re.fullmatch), the 320 limit,
 * normalisation (trim, lower case, domain) and the 303 target of a form post. */
#include <stdlib.h>
#include <string.h>

#include "domain/lead.h"
#include "t.h"

/* ^(?!\.)(?!.*\.\.)[A-Za-z0-9_'+.-]*[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\.)+[A-Za-z]{2,}$ as
 * sent: every expected value below agrees with re.fullmatch of that pattern (JavaScript's `$`
 * does not match before a trailing newline, so fullmatch is the faithful comparison). */
struct email_case {
    const char *email;
    bool valid;
    const char *why;
};

static const struct email_case EMAILS[] = {
    {"a@b.co", true, "shortest usual shape"},
    {"o'neil+tag@sub.example.org", true, "apostrophe and plus"},
    {"x_y-z@a-b.c.io", true, "underscore, hyphens"},
    {"Person@Example.COM", true, "mixed case as sent"},
    {"a.b@c.co", true, "dot inside the local part"},
    {"a.b.c.d@e.co", true, "several single dots"},
    {"a-@b.co", true, "local part may end with -"},
    {"a_@b.co", true, "local part may end with _"},
    {"a+@b.co", true, "local part may end with +"},
    {"_@b.co", true, "local part of one _"},
    {"-@b.co", true, "local part of one -"},
    {"+@b.co", true, "local part of one +"},
    {"'a@b.co", true, "local part may start with '"},
    {"a'''b@c.co", true, "apostrophes inside"},
    {"a--b@c.co", true, "double hyphen is not a double dot"},
    {"0@0.co", true, "digits"},
    {"a@1-2.co", true, "digit label with hyphen"},
    {"a@b-.co", true, "label may end with a hyphen (the regex allows it)"},
    {"a@b--c.co", true, "label with consecutive hyphens"},
    {"a@b.c.d.e.fg", true, "many labels"},
    {"a@b.co.uk", true, "two-part suffix"},
    {"a@b.museum", true, "long TLD"},
    {"a@xn--bcher-kva.de", true, "punycode label"},
    {"A@B.CO", true, "upper case"},
    {"first.last+tag-1_x@mail.example.com", true, "everything allowed at once"},
    {".a@b.co", false, "leading dot"},
    {"a..b@c.co", false, "double dot in the local part"},
    {"a.@b.co", false, "local part ends with a dot"},
    {"a'@b.co", false, "local part ends with '"},
    {"..@b.co", false, "only dots"},
    {"@b.co", false, "empty local part"},
    {"a@b", false, "no TLD"},
    {"a@b.c", false, "one-letter TLD"},
    {"a@-b.co", false, "label starts with a hyphen"},
    {"a@b..co", false, "empty label"},
    {"a@.b.co", false, "domain starts with a dot"},
    {"a@b.c0m", false, "digit in the TLD"},
    {"a@b.co1", false, "TLD ends with a digit"},
    {"a@b.c-o", false, "hyphen in the TLD"},
    {"a@b.co.", false, "trailing dot"},
    {"a@1.2.3.4", false, "IP address"},
    {"a@[1.2.3.4]", false, "address literal"},
    {"a@b_c.co", false, "underscore in the domain"},
    {"a@b'c.co", false, "apostrophe in the domain"},
    {" a@b.co", false, "leading space (validated as sent)"},
    {"a@b.co ", false, "trailing space"},
    {"\ta@b.co", false, "leading tab"},
    {"a@b.co\n", false, "trailing newline"},
    {"a b@c.co", false, "space in the local part"},
    {"a@b c.co", false, "space in the domain"},
    {"a@b@c.co", false, "two @"},
    {"a@@b.co", false, "@@"},
    {"a", false, "no @"},
    {"@", false, "only @"},
    {"a@", false, "empty domain"},
    {"", false, "empty"},
    {"a(b)@c.co", false, "parentheses"},
    {"a,b@c.co", false, "comma"},
    {"\"a\"@b.co", false, "quoted local part"},
    {"a!b@c.co", false, "!"},
    {"a#b@c.co", false, "#"},
    {"a%b@c.co", false, "%"},
    {"a/b@c.co", false, "slash"},
    {"a=b@c.co", false, "="},
    {"a\\b@c.co", false, "backslash"},
    {"jos\303\251@b.co", false, "non-ASCII local part"},
    {"a@b\303\274cher.de", false, "non-ASCII domain"},
    {"a@b.c\303\266", false, "non-ASCII TLD"},
    {"\357\275\201@b.co", false, "fullwidth letter"},
    {"a@b.co\342\200\213", false, "zero-width space"},
};

static struct str sv(const char *s)
{
    return (struct str){s, strlen(s)};
}

static void test_email_table(void)
{
    for (size_t i = 0; i < ARRAY_LEN(EMAILS); i++) {
        bool got = lead_email_valid(sv(EMAILS[i].email));
        if (got != EMAILS[i].valid)
            fprintf(stderr, "  email %zu '%s' (%s): got %s, want %s\n", i, EMAILS[i].email, EMAILS[i].why,
                    got ? "valid" : "invalid", EMAILS[i].valid ? "valid" : "invalid");
        CHECK_INT(got, EMAILS[i].valid);
    }
}

/* A valid-shaped address of exactly n characters: a...a@example.com */
static char *long_email(size_t n)
{
    static const char domain[] = "@example.com";
    size_t dn = sizeof(domain) - 1;
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memset(s, 'a', n - dn);
    memcpy(s + n - dn, domain, dn + 1);
    return s;
}

static void test_email_length(void)
{
    CHECK_INT(LEAD_EMAIL_MAX, 320);
    char *at_max = long_email(LEAD_EMAIL_MAX);
    char *over = long_email(LEAD_EMAIL_MAX + 1);
    CHECK_INT(strlen(at_max), 320);
    CHECK_INT(lead_email_valid(sv(at_max)), true);
    CHECK_INT(lead_email_valid(sv(over)), false);
    /* the same long shapes with dots inside are still decided by the length alone */
    at_max[10] = '.';
    over[10] = '.';
    CHECK_INT(lead_email_valid(sv(at_max)), true);
    CHECK_INT(lead_email_valid(sv(over)), false);
    /* a long label and a long TLD: the domain has no length rule of its own */
    char *dom = malloc(LEAD_EMAIL_MAX + 1);
    if (!dom)
        abort();
    memset(dom, 'b', LEAD_EMAIL_MAX);
    dom[0] = 'a';
    dom[1] = '@';
    dom[200] = '.';
    dom[LEAD_EMAIL_MAX] = '\0';
    CHECK_INT(lead_email_valid(sv(dom)), true);
    free(dom);
    free(at_max);
    free(over);
}

static void test_email_bounds(void)
{
    /* only the n bytes given are the address */
    CHECK_INT(lead_email_valid((struct str){"a@b.co!", 6}), true);
    CHECK_INT(lead_email_valid((struct str){"a@b.cozz", 5}), false);
    CHECK_INT(lead_email_valid((struct str){".a@b.co", 0}), false);
    /* U+0000 is not in any class of the pattern (HTTP bodies refuse it earlier, but the rule is
     * the rule): inside the local part, as its last character, in the domain, at the end */
    CHECK_INT(lead_email_valid((struct str){"a\0b@c.co", 8}), false);
    CHECK_INT(lead_email_valid((struct str){"a\0@b.co", 7}), false);
    CHECK_INT(lead_email_valid((struct str){"a@b.co\0", 7}), false);
    CHECK_INT(lead_email_valid((struct str){"a@b\0.co", 7}), false);
    /* a long run that a backtracking matcher would choke on is refused (and quickly) */
    char run[LEAD_EMAIL_MAX + 1];
    memset(run, 'a', LEAD_EMAIL_MAX);
    run[LEAD_EMAIL_MAX - 3] = '@';
    run[LEAD_EMAIL_MAX] = '\0';
    CHECK_INT(lead_email_valid(sv(run)), false); /* "aaa...@aa": no dot in the domain */
}

static void check_normalize(const char *in, const char *want, const char *want_domain)
{
    struct arena a;
    arena_init(&a, 1 << 16);
    struct str domain = {"x", 1};
    struct str out = lead_email_normalize(&a, sv(in), &domain);
    CHECK(out.p != NULL);
    if (out.p) {
        CHECK_INT(out.n, strlen(want));
        CHECK_INT(strlen(out.p), out.n); /* NUL-terminated */
        CHECK_STR(out.p, want);
    }
    if (want_domain) {
        CHECK(domain.p != NULL);
        if (domain.p && out.p) {
            char buf[400];
            snprintf(buf, sizeof(buf), "%.*s", (int)domain.n, domain.p);
            CHECK_STR(buf, want_domain);
            /* the domain points into the normalised string, right after its '@' */
            CHECK(domain.p > out.p && domain.p <= out.p + out.n && domain.p[-1] == '@');
            CHECK(domain.p + domain.n == out.p + out.n);
        }
    } else {
        CHECK(domain.p == NULL);
    }
    arena_free(&a);
}

static void test_normalize(void)
{
    check_normalize("a@b.co", "a@b.co", "b.co");
    check_normalize("Person@Example.COM", "person@example.com", "example.com");
    check_normalize("O'Neil+Tag@Sub.Example.ORG", "o'neil+tag@sub.example.org", "sub.example.org");
    check_normalize(" person@example.com", "person@example.com", "example.com");
    check_normalize("  A@B.Co \t\r\n", "a@b.co", "b.co");
    check_normalize("X_Y-Z@A-B.C.IO", "x_y-z@a-b.c.io", "a-b.c.io");
    check_normalize("ZZ@AA.ZZ", "zz@aa.zz", "aa.zz");
    check_normalize("a@", "a@", "");
    check_normalize("no-at-sign", "no-at-sign", NULL);

    /* the input is not changed in place, and only its n bytes are read */
    char in[] = "Mixed@Case.IO";
    struct arena a;
    arena_init(&a, 1 << 16);
    struct str domain;
    struct str out = lead_email_normalize(&a, (struct str){in, 8}, &domain); /* "Mixed@Ca" */
    CHECK_STR(in, "Mixed@Case.IO");
    CHECK(out.p != NULL && out.n == 8);
    if (out.p)
        CHECK_STR(out.p, "mixed@ca");
    CHECK(domain.p != NULL && domain.n == 2);

    /* a full arena: .p NULL for both, never a crash */
    struct arena tiny;
    arena_init(&tiny, 4);
    out = lead_email_normalize(&tiny, sv("someone@example.com"), &domain);
    CHECK(out.p == NULL);
    CHECK(domain.p == NULL);
    arena_free(&tiny);
    arena_free(&a);
}

static void check_redirect(struct str path, const char *origin, const char *want)
{
    struct arena a;
    arena_init(&a, 1 << 16);
    struct str o = origin ? sv(origin) : (struct str){NULL, 0};
    const char *location = lead_redirect_location(&a, path, o);
    if (!location || strcmp(location, want) != 0)
        fprintf(stderr, "  redirect of '%.*s' (origin %s)\n", (int)path.n, path.p ? path.p : "(absent)",
                origin ? origin : "none");
    CHECK_STR(location, want);
    arena_free(&a);
}

#define NOPATH ((struct str){NULL, 0})

/* The Location header holds at most RESPONSE_HEADER_MAX_LEN bytes. A longer target falls back to
 * the path without its query and fragment, then to "/": the capture is committed before the answer
 * is written, so the answer must never fail (issue 11, item 4: a 2,001-character path was a 500). */
static void test_redirect_length(void)
{
    const char *origin = "https://a.example";
    size_t on = strlen(origin);
    /* exactly at the limit, with the origin: kept as is */
    char *fits = rep("/", "a", RESPONSE_HEADER_MAX_LEN - on - 1, "");
    char *want = rep(origin, "", 0, fits);
    check_redirect(sv(fits), origin, want);
    CHECK_INT(strlen(want), RESPONSE_HEADER_MAX_LEN);
    free(want);
    /* one byte over: the query goes */
    char *over = rep("/p?", "q", RESPONSE_HEADER_MAX_LEN - on - 2, "");
    check_redirect(sv(over), origin, "https://a.example/p");
    check_redirect(sv(over), NULL, over); /* without the origin it fits */
    free(over);
    char *frag = rep("/p#", "f", RESPONSE_HEADER_MAX_LEN, "");
    check_redirect(sv(frag), NULL, "/p");
    free(frag);
    /* the path itself too long: "/" */
    char *path2001 = rep("/", "x", 2000, "");
    check_redirect(sv(path2001), NULL, "/");
    check_redirect(sv(path2001), origin, "https://a.example/");
    free(path2001);
    char *longq = rep("/", "x", RESPONSE_HEADER_MAX_LEN, "?a=1");
    check_redirect(sv(longq), NULL, "/");
    free(longq);
    /* the path without its query at the limit */
    char *edge = rep("/", "y", RESPONSE_HEADER_MAX_LEN - 1, "?z");
    char *edge_want = rep("/", "y", RESPONSE_HEADER_MAX_LEN - 1, "");
    check_redirect(sv(edge), NULL, edge_want);
    free(edge);
    free(edge_want);
    free(fits);
}

static void test_redirect(void)
{
    check_redirect(sv("/thanks"), NULL, "/thanks");
    check_redirect(sv("/"), NULL, "/");
    check_redirect(sv("/a/b?x=1&y=2#frag"), NULL, "/a/b?x=1&y=2#frag");
    check_redirect(sv("/a//b"), NULL, "/a//b"); /* '//' only matters right after the first '/' */
    check_redirect(sv("/a\\b"), NULL, "/a\\b"); /* likewise '\' */
    check_redirect(sv("/.//evil.example"), NULL, "/.//evil.example"); /* a path, not a host */
    /* open-redirect shapes: never leave the site */
    check_redirect(sv("//evil.example"), NULL, "/");
    check_redirect(sv("//evil.example/x"), NULL, "/");
    check_redirect(sv("/\\evil"), NULL, "/");
    check_redirect(sv("/\\/evil"), NULL, "/");
    check_redirect(sv("https://evil"), NULL, "/");
    check_redirect(sv("http://evil.example/"), NULL, "/");
    check_redirect(sv("javascript:alert(1)"), NULL, "/");
    check_redirect(sv("thanks"), NULL, "/");
    check_redirect(sv("\\\\evil"), NULL, "/");
    check_redirect(sv(" /thanks"), NULL, "/"); /* the caller passes the trimmed path */
    /* empty or absent */
    check_redirect(sv(""), NULL, "/");
    check_redirect(NOPATH, NULL, "/");
    /* header injection and other control characters */
    check_redirect(sv("/a\r\nSet-Cookie: x"), NULL, "/");
    check_redirect(sv("/a\nb"), NULL, "/");
    check_redirect(sv("/a\rb"), NULL, "/");
    check_redirect(sv("/a\tb"), NULL, "/");
    check_redirect(sv("/a\x7f"), NULL, "/");
    check_redirect(sv("/a\x01"), NULL, "/");
    check_redirect((struct str){"/a\0b", 4}, NULL, "/");
    /* only the n bytes given */
    check_redirect((struct str){"/thanksXYZ", 7}, NULL, "/thanks");
    check_redirect((struct str){"/thanks\r\nX: y", 7}, NULL, "/thanks");
    check_redirect((struct str){"//evil", 1}, NULL, "/");
    /* an allowed origin (the caller decides) makes it absolute */
    check_redirect(sv("/thanks"), "https://a.example", "https://a.example/thanks");
    check_redirect(sv("/"), "https://a.example", "https://a.example/");
    check_redirect(sv("//evil.example"), "https://a.example", "https://a.example/");
    check_redirect(sv("/\\evil"), "https://a.example", "https://a.example/");
    check_redirect(sv("https://evil"), "https://a.example", "https://a.example/");
    check_redirect(NOPATH, "https://a.example", "https://a.example/");
    check_redirect(sv("/a\r\nSet-Cookie: x"), "https://a.example", "https://a.example/");
    check_redirect(sv("/p?q=1"), "http://localhost:8080", "http://localhost:8080/p?q=1");

    test_redirect_length();

    /* a full arena: NULL, never a crash */
    struct arena tiny;
    arena_init(&tiny, 4);
    CHECK(lead_redirect_location(&tiny, sv("/thanks-for-signing-up"), sv("https://a.example")) == NULL);
    arena_free(&tiny);
}

static void check_return(const char *origin, const char *page, const char *fields, const char *want)
{
    struct arena a;
    arena_init(&a, 1 << 16);
    struct str o = origin ? sv(origin) : (struct str){NULL, 0};
    const char *got = lead_return_location(&a, o, sv(page), sv(fields));
    if (want ? !got || strcmp(got, want) != 0 : got != NULL)
        fprintf(stderr, "  return to '%s' (origin %s): got %s\n", page, origin ? origin : "none",
                got ? got : "NULL");
    if (want)
        CHECK_STR(got, want);
    else
        CHECK(got == NULL);
    arena_free(&a);
}

/* A form post that failed validation goes back to its page with actx_error (issue 16 item 8): the
 * page's query kept, any old actx_error gone, the fragment dropped; never another host. */
static void test_return(void)
{
    const char *o = "https://site.example";
    check_return(o, "/contact", "email", "https://site.example/contact?actx_error=email");
    check_return(NULL, "/contact", "email", "/contact?actx_error=email");
    check_return(o, "/", "email,anonId", "https://site.example/?actx_error=email,anonId");
    check_return(o, "/c?lang=en&x", "email", "https://site.example/c?lang=en&x&actx_error=email");
    check_return(o, "/c?actx_error=old&lang=en", "email", "https://site.example/c?lang=en&actx_error=email");
    check_return(o, "/c?a=1&actx_error=old&actx_error&b=2", "email",
                 "https://site.example/c?a=1&b=2&actx_error=email");
    check_return(o, "/c?actx_errors=1", "email", "https://site.example/c?actx_errors=1&actx_error=email");
    check_return(o, "/c?&&a=1&&", "email", "https://site.example/c?a=1&actx_error=email");
    check_return(o, "/c?a=1#top", "email", "https://site.example/c?a=1&actx_error=email");
    check_return(o, "/c#top?x=1", "email", "https://site.example/c?actx_error=email");
    check_return(o, "/c?", "email", "https://site.example/c?actx_error=email");
    /* never another host, a scheme or a header break */
    check_return(o, "//evil.example/", "email", NULL);
    check_return(o, "/\\evil.example", "email", NULL);
    check_return(o, "javascript:alert(1)", "email", NULL);
    check_return(o, "https://evil.example/", "email", NULL);
    check_return(o, "evil", "email", NULL);
    check_return(o, "", "email", NULL);
    check_return(o, "/a\r\nSet-Cookie: x=1", "email", NULL);
    /* too long: the page's query goes first, then nothing (the caller answers 400) */
    char page[RESPONSE_HEADER_MAX_LEN + 64];
    memset(page, 'q', sizeof(page) - 1);
    page[sizeof(page) - 1] = '\0';
    memcpy(page, "/p?q=", 5);
    check_return(o, page, "email", "https://site.example/p?actx_error=email");
    page[2] = 'p';
    page[4] = 'p';
    check_return(o, page, "email", NULL);
    /* a full arena: NULL, never a crash */
    struct arena tiny;
    arena_init(&tiny, 4);
    CHECK(lead_return_location(&tiny, sv(o), sv("/contact"), sv("email")) == NULL);
    arena_free(&tiny);
}

static void test_limits(void)
{
    CHECK_INT(LEAD_FORM_NAME_MAX, 255);
    CHECK_INT(LEAD_SOURCE_CHANNEL_MAX, 255);
    CHECK_INT(EVENT_PATH_MAX, 2048); /* a capture's path is an event's */
    CHECK_INT(LEAD_REFERRER_MAX, 2048);
    CHECK_INT(LEAD_REASON_MAX, 512);
    CHECK_INT(LEAD_HEURISTIC_LINKS_MAX, 20);
}

int main(void)
{
    test_email_table();
    test_email_length();
    test_email_bounds();
    test_normalize();
    test_redirect();
    test_return();
    test_limits();
    return t_done("test_lead");
}
