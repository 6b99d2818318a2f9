/* test_enrich.c - host normalisation, search/social lists, traffic source and device type
 * (API.md §3, POST /v1/events, step 4). */
#include <stdlib.h>
#include <string.h>

#include "domain/enrich.h"
#include "core/bounds.h"
#include "t.h"

static struct arena arena;

/* A NUL-terminated copy of s for CHECK_STR; "(none)" for .p NULL. */
static const char *txt(struct str s)
{
    if (!s.p)
        return "(none)";
    char *p = arena_strndup(&arena, s.p, s.n);
    return p ? p : "(arena full)";
}

static const char *norm(const char *raw)
{
    return txt(enrich_normalize_host(&arena, str_from_cstr(raw)));
}

static const char *ref_host(const char *raw)
{
    return txt(enrich_referrer_host(&arena, str_from_cstr(raw)));
}

static void test_normalize_host(void)
{
    CHECK_STR(norm("  HTTPS://WWW.Example.com:8080/path"), "example.com");
    CHECK_STR(norm("example.com"), "example.com");
    CHECK_STR(norm("Example.COM"), "example.com");
    CHECK_STR(norm("http://example.com"), "example.com");
    CHECK_STR(norm("https://example.com/"), "example.com");
    CHECK_STR(norm("HtTp://Shop.Example.com/a/b?c=d"), "shop.example.com");
    CHECK_STR(norm("example.com:443"), "example.com");
    CHECK_STR(norm("\t example.com \r\n"), "example.com");
    CHECK_STR(norm("www.example.com"), "example.com");
    CHECK_STR(norm("WWW.example.com"), "example.com");
    /* only one leading www. */
    CHECK_STR(norm("www.www.a.com"), "www.a.com");
    CHECK_STR(norm("https://www.www.a.com/"), "www.a.com");
    /* www only as a whole leading label */
    CHECK_STR(norm("wwwexample.com"), "wwwexample.com");
    CHECK_STR(norm("a.www.example.com"), "a.www.example.com");
    CHECK_STR(norm("www2.example.com"), "www2.example.com");
    /* nothing left */
    CHECK_STR(norm("http://"), "(none)");
    CHECK_STR(norm("https://"), "(none)");
    CHECK_STR(norm(""), "(none)");
    CHECK_STR(norm("   "), "(none)");
    CHECK_STR(norm("www."), "(none)");
    CHECK_STR(norm("http://www."), "(none)");
    CHECK_STR(norm("/path"), "(none)");
    CHECK_STR(norm(":8080"), "(none)");
    CHECK_STR(norm("https://:8080/x"), "(none)");
    struct str none = enrich_normalize_host(&arena, (struct str){NULL, 0});
    CHECK(none.p == NULL && none.n == 0);
    /* only http(s):// is dropped */
    CHECK_STR(norm("ftp://example.com"), "ftp");
    /* the result is a copy, NUL-terminated */
    char buf[] = "WWW.A.COM";
    struct str h = enrich_normalize_host(&arena, str_from_cstr(buf));
    CHECK(h.p != buf + 4);
    CHECK_STR(h.p, "a.com");
    CHECK_STR(buf, "WWW.A.COM");
}

static void test_referrer_host(void)
{
    CHECK_STR(ref_host("https://www.Google.com/search?q=x"), "google.com");
    CHECK_STR(ref_host("http://example.com"), "example.com");
    CHECK_STR(ref_host("HTTPS://Example.com:8443/a"), "example.com");
    CHECK_STR(ref_host("  https://example.com/  "), "example.com");
    CHECK_STR(ref_host("https://example.com?q=1"), "example.com");
    CHECK_STR(ref_host("https://example.com#frag"), "example.com");
    /* userinfo is dropped */
    CHECK_STR(ref_host("https://user@example.com/"), "example.com");
    CHECK_STR(ref_host("https://user:pass@www.example.com:99/x"), "example.com");
    CHECK_STR(ref_host("https://a@b@example.com/"), "example.com");
    CHECK_STR(ref_host("https://google.com@evil.com/"), "evil.com");
    /* an @ after the authority is not userinfo */
    CHECK_STR(ref_host("https://example.com/path@other.com"), "example.com");
    CHECK_STR(ref_host("https://example.com?x=a@other.com"), "example.com");
    CHECK_STR(ref_host("https://example.com#a@other.com"), "example.com");
    /* not an absolute http(s) URL */
    CHECK_STR(ref_host("example.com"), "(none)");
    CHECK_STR(ref_host("/path/page"), "(none)");
    CHECK_STR(ref_host("//example.com/x"), "(none)");
    CHECK_STR(ref_host("ftp://example.com/"), "(none)");
    CHECK_STR(ref_host("android-app://com.google.android.gm/"), "(none)");
    CHECK_STR(ref_host("not a url"), "(none)");
    CHECK_STR(ref_host("https:/example.com"), "(none)");
    CHECK_STR(ref_host("https://"), "(none)");
    CHECK_STR(ref_host("https:///path"), "(none)");
    CHECK_STR(ref_host("https://user@/x"), "(none)");
    CHECK_STR(ref_host(""), "(none)");
}

static bool search(const char *host)
{
    return enrich_is_search_engine(str_from_cstr(host));
}

static bool social(const char *host)
{
    return enrich_is_social(str_from_cstr(host));
}

static void test_search_engines(void)
{
    static const char *const yes[] = {
        "bing.com",
        "m.bing.com",
        "www2.bing.com",
        "duckduckgo.com",
        "html.duckduckgo.com",
        "search.yahoo.com",
        "uk.search.yahoo.com",
        "baidu.com",
        "m.baidu.com",
        "ecosia.org",
        "startpage.com",
        "google.com",
        "google.co.uk",
        "news.google.co.uk",
        "google.de",
        "google.com.au",
        "www.google.com",
        "yandex.ru",
        "yandex.com.tr",
        "yandex.com",
        "mail.yandex.ru",
    };
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (!search(yes[i]))
            fprintf(stderr, "not a search engine: %s\n", yes[i]);
        CHECK(search(yes[i]));
    }
    static const char *const no[] = {
        "yahoo.com",
        "mail.yahoo.com",
        "notgoogle.com",
        "google.evil.com",
        "googleusercontent.com",
        "bing.com.evil.net",
        "notbing.com",
        "abing.com",
        "bing.co",
        "bing.community",
        "duckduckgo.co",
        "searchyahoo.com",
        "baidu.com.cn.evil.org",
        "xecosia.org",
        "startpage.co",
        "google.co.uk.evil.com",
        "mygoogle.co.uk",
        "yandexx.ru",
        "google-analytics.com",
        "example.com",
        "",
        "com",
        "google.",
        "google.co.",
        "google.c0m",
        "google.co.u",
        "google.evil.co.uk.attacker.net",
    };
    for (size_t i = 0; i < ARRAY_LEN(no); i++) {
        if (search(no[i]))
            fprintf(stderr, "a search engine: %s\n", no[i]);
        CHECK(!search(no[i]));
    }
    /* bare names a UTM source may use */
    CHECK(search("google"));
    CHECK(search("bing"));
    CHECK(search("yandex"));
    CHECK(search("duckduckgo"));
    CHECK(!search("goog"));
    CHECK(!search("Google")); /* callers lower-case first */
}

static void test_social(void)
{
    static const char *const yes[] = {
        "facebook.com", "m.facebook.com",   "l.facebook.com", "instagram.com",      "l.instagram.com",
        "linkedin.com", "www.linkedin.com", "twitter.com",    "mobile.twitter.com", "x.com",
        "t.co",         "reddit.com",       "old.reddit.com", "youtube.com",        "m.youtube.com",
        "tiktok.com",   "pinterest.com",    "facebook",       "linkedin",
    };
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (!social(yes[i]))
            fprintf(stderr, "not social: %s\n", yes[i]);
        CHECK(social(yes[i]));
    }
    static const char *const no[] = {
        "microsoft.com",
        "box.com",
        "netflix.com",
        "xbox.com",
        "notfacebook.com",
        "dropbox.com",
        "fox.com",
        "spacex.com",
        "ax.com",
        "x.co",
        "t.com",
        "at.co",
        "microsoft.co",
        "facebook.com.evil.net",
        "facebook.co",
        "youtube.com.br.evil",
        "xcom",
        "",
        "reddit.co",
        "pinterest.org",
        "google.com",
        "bing.com",
    };
    for (size_t i = 0; i < ARRAY_LEN(no); i++) {
        if (social(no[i]))
            fprintf(stderr, "social: %s\n", no[i]);
        CHECK(!social(no[i]));
    }
}

/* Traffic source of (utm source, utm medium, referrer, site host); NULL = absent. */
static const char *source_of(const char *utm_source, const char *utm_medium, const char *referrer,
                             const char *site_host)
{
    struct traffic_input in = {
        utm_source ? str_from_cstr(utm_source) : (struct str){NULL, 0},
        utm_medium ? str_from_cstr(utm_medium) : (struct str){NULL, 0},
        referrer ? str_from_cstr(referrer) : (struct str){NULL, 0},
        site_host ? str_from_cstr(site_host) : (struct str){NULL, 0},
    };
    return enrich_traffic_source(&arena, &in);
}

static void test_traffic_source(void)
{
    /* rule 1: medium, substring, case-insensitive, in order */
    static const char *const paid[] = {"cpc",        "CPC",       "ppc",         "paid",
                                       "display",    "retarget",  "Retargeting", "paid_social",
                                       "social-cpc", "email_ppc", " cpc ",       "organic-paid"};
    for (size_t i = 0; i < ARRAY_LEN(paid); i++)
        CHECK_STR(source_of("facebook", paid[i], "https://www.google.com/", "example.com"), "paid_search");
    CHECK_STR(source_of(NULL, "email", NULL, NULL), "email");
    CHECK_STR(source_of(NULL, "newsletter-email", NULL, NULL), "email");
    CHECK_STR(source_of("google", "EMAIL", "https://bing.com/", "example.com"), "email");
    CHECK_STR(source_of(NULL, "social", NULL, NULL), "social");
    CHECK_STR(source_of("google", "Social-Media", NULL, NULL), "social");
    CHECK_STR(source_of(NULL, "email-social", NULL, NULL), "email"); /* email before social */
    CHECK_STR(source_of(NULL, "organic", NULL, NULL), "organic_search");
    CHECK_STR(source_of("facebook", "ORGANIC", NULL, NULL), "organic_search");
    CHECK_STR(source_of(NULL, "social-organic", NULL, NULL), "social"); /* social before organic */

    /* a medium that matches nothing falls through to the source */
    CHECK_STR(source_of("google", "banner", NULL, NULL), "organic_search");
    CHECK_STR(source_of(NULL, "banner", NULL, NULL), "direct");
    CHECK_STR(source_of(NULL, "  ", NULL, NULL), "direct");

    /* rule 2: a UTM source */
    CHECK_STR(source_of("google", NULL, NULL, NULL), "organic_search");
    CHECK_STR(source_of("Google", NULL, NULL, NULL), "organic_search");
    CHECK_STR(source_of(" bing ", NULL, NULL, NULL), "organic_search");
    CHECK_STR(source_of("duckduckgo", NULL, NULL, NULL), "organic_search");
    CHECK_STR(source_of("www.google.co.uk", NULL, NULL, NULL), "organic_search");
    CHECK_STR(source_of("https://www.bing.com/search", NULL, NULL, NULL), "organic_search");
    CHECK_STR(source_of("facebook", NULL, NULL, NULL), "social");
    CHECK_STR(source_of("Facebook", NULL, NULL, NULL), "social");
    CHECK_STR(source_of("m.facebook.com", NULL, NULL, NULL), "social");
    CHECK_STR(source_of("linkedin", NULL, NULL, NULL), "social");
    CHECK_STR(source_of("newsletter", NULL, NULL, NULL), "campaign");
    CHECK_STR(source_of("microsoft.com", NULL, NULL, NULL), "campaign");
    CHECK_STR(source_of("notgoogle", NULL, NULL, NULL), "campaign");
    /* a source wins over the referrer */
    CHECK_STR(source_of("newsletter", NULL, "https://www.google.com/", "example.com"), "campaign");
    CHECK_STR(source_of("newsletter", NULL, "https://example.com/", "example.com"), "campaign");
    /* an empty (all-space) source is no source */
    CHECK_STR(source_of("   ", NULL, NULL, NULL), "direct");

    /* rule 3: no referrer host */
    CHECK_STR(source_of(NULL, NULL, NULL, NULL), "direct");
    CHECK_STR(source_of(NULL, NULL, NULL, "example.com"), "direct");
    CHECK_STR(source_of(NULL, NULL, "not a url", "example.com"), "direct");
    CHECK_STR(source_of(NULL, NULL, "www.google.com", "example.com"), "direct");
    CHECK_STR(source_of(NULL, NULL, "//www.google.com/", "example.com"), "direct");
    CHECK_STR(source_of(NULL, NULL, "ftp://www.google.com/", "example.com"), "direct");
    CHECK_STR(source_of(NULL, NULL, "https://", "example.com"), "direct");
    CHECK_STR(source_of(NULL, NULL, "", "example.com"), "direct");
    /* internal: the referrer host is the site host (www. and port ignored) */
    CHECK_STR(source_of(NULL, NULL, "https://example.com/a", "example.com"), "internal");
    CHECK_STR(source_of(NULL, NULL, "https://www.example.com/a", "example.com"), "internal");
    CHECK_STR(source_of(NULL, NULL, "HTTP://WWW.EXAMPLE.COM:8080/a", "example.com"), "internal");
    CHECK_STR(source_of(NULL, NULL, "https://user@example.com/", "example.com"), "internal");
    CHECK_STR(source_of(NULL, NULL, "https://shop.example.com/", "example.com"), "referral");
    CHECK_STR(source_of(NULL, NULL, "https://example.com.evil.net/", "example.com"), "referral");
    /* no site host: never internal */
    CHECK_STR(source_of(NULL, NULL, "https://example.com/", NULL), "referral");
    /* a search-engine site: internal comes first */
    CHECK_STR(source_of(NULL, NULL, "https://www.google.com/", "google.com"), "internal");

    /* rule 4 */
    CHECK_STR(source_of(NULL, NULL, "https://www.google.com/search?q=x", "example.com"), "organic_search");
    CHECK_STR(source_of(NULL, NULL, "https://news.google.co.uk/", "example.com"), "organic_search");
    CHECK_STR(source_of(NULL, NULL, "https://yandex.com.tr/", "example.com"), "organic_search");
    CHECK_STR(source_of(NULL, NULL, "https://search.yahoo.com/", "example.com"), "organic_search");
    CHECK_STR(source_of(NULL, NULL, "https://yahoo.com/", "example.com"), "referral");
    CHECK_STR(source_of(NULL, NULL, "https://l.instagram.com/?u=x", "example.com"), "social");
    CHECK_STR(source_of(NULL, NULL, "https://t.co/abc", "example.com"), "social");
    CHECK_STR(source_of(NULL, NULL, "https://M.Facebook.com/", "example.com"), "social");
    CHECK_STR(source_of(NULL, NULL, "https://www.microsoft.com/", "example.com"), "referral");
    CHECK_STR(source_of(NULL, NULL, "https://googleusercontent.com/", "example.com"), "referral");
    CHECK_STR(source_of(NULL, NULL, "https://google.evil.com/", "example.com"), "referral");
    CHECK_STR(source_of(NULL, NULL, "https://notfacebook.com/", "example.com"), "referral");
    CHECK_STR(source_of(NULL, NULL, "https://google.com@evil.com/", "example.com"), "referral");
}

static const char *device(const char *ua)
{
    return enrich_device_type(ua ? str_from_cstr(ua) : (struct str){NULL, 0});
}

static void test_device_type(void)
{
    /* bots */
    CHECK_STR(device("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"), "bot");
    CHECK_STR(device("Mozilla/5.0 (compatible; bingbot/2.0)"), "bot");
    CHECK_STR(device("Sogou web spider/4.0"), "bot");
    CHECK_STR(device("SomeCrawler/1.0"), "bot");
    CHECK_STR(device("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36"),
              "bot");
    CHECK_STR(device("BOT"), "bot");
    /* a bot word wins over a phone word */
    CHECK_STR(
        device("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X) Mobile Safari (compatible; Googlebot/2.1)"),
        "bot");
    /* tablets */
    CHECK_STR(device("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"),
              "tablet");
    CHECK_STR(device("Mozilla/5.0 (Linux; Android 13; SM-X700) Tablet Safari"), "tablet");
    /* phones */
    CHECK_STR(
        device("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36"),
        "mobile");
    CHECK_STR(device("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15"),
              "mobile");
    CHECK_STR(device("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Chrome/120 Safari/537.36"),
              "mobile"); /* android alone: mobile by the rule */
    CHECK_STR(device("Opera Mini MOBILE"), "mobile");
    /* desktops */
    CHECK_STR(device("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/120.0 Safari/537.36"),
              "desktop");
    CHECK_STR(device("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari"),
              "desktop");
    CHECK_STR(device("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"), "desktop");
    CHECK_STR(device(""), "desktop");
    CHECK_STR(device(NULL), "desktop"); /* absent: matched as the text "unknown" */
    CHECK_STR(device("curl/8.5.0"), "desktop");
}

/* stripped path of raw with the allow-list keys; "(changed)" appended when something went */
static const char *strip_path(const char *raw, char *const *keys, size_t n)
{
    static char buf[4096];
    bool changed = false;
    struct str s = enrich_strip_path(&arena, str_from_cstr(raw), keys, n, &changed);
    snprintf(buf, sizeof(buf), "%s%s", s.p ? txt(s) : "(null)", changed ? " (changed)" : "");
    return buf;
}

static const char *strip_ref(const char *raw)
{
    static char buf[4096];
    bool changed = false;
    struct str s = {NULL, 0};
    if (enrich_strip_referrer(&arena, str_from_cstr(raw), &s, &changed) != 0)
        return "(arena full)";
    snprintf(buf, sizeof(buf), "%s%s", s.p ? txt(s) : "(null)", changed ? " (changed)" : "");
    return buf;
}

/* Stored paths and referrers carry no query string (issue 11, item 7: an email in ?email= was
 * stored as sent). */
static void test_strip(void)
{
    char *none[1] = {NULL};
    char k_page[] = "page", k_lang[] = "lang";
    char *keys[] = {k_page, k_lang};
    /* nothing to strip: as sent, unchanged */
    CHECK_STR(strip_path("/pricing", none, 0), "/pricing");
    CHECK_STR(strip_path("/", none, 0), "/");
    CHECK_STR(strip_path("https://site.example/a/b", none, 0), "https://site.example/a/b");
    /* query and fragment go */
    CHECK_STR(strip_path("/x?email=zed@example.com", none, 0), "/x (changed)");
    CHECK_STR(strip_path("/x?email=zed%40example.com#top", none, 0), "/x (changed)");
    CHECK_STR(strip_path("/x#frag?email=zed@example.com", none, 0), "/x (changed)");
    CHECK_STR(strip_path("/x?", none, 0), "/x (changed)");
    CHECK_STR(strip_path("/x#", none, 0), "/x (changed)");
    CHECK_STR(strip_path("https://site.example/a?utm_source=g&gclid=abc", none, 0),
              "https://site.example/a (changed)");
    /* only a query or fragment: "/" */
    CHECK_STR(strip_path("?email=zed@example.com", none, 0), "/ (changed)");
    CHECK_STR(strip_path("#x", none, 0), "/ (changed)");
    /* the allow-list keeps its keys, in the order sent, values as sent */
    CHECK_STR(strip_path("/x?page=2&email=zed@example.com&lang=de", keys, 2), "/x?page=2&lang=de (changed)");
    CHECK_STR(strip_path("/x?email=zed@example.com&page=2#f", keys, 2), "/x?page=2 (changed)");
    CHECK_STR(strip_path("/x?lang=de&page=2", keys, 2), "/x?lang=de&page=2 (changed)"); /* fragment-less */
    CHECK_STR(strip_path("/x?page&pages=1&Page=3&=page&page=", keys, 2), "/x?page&page= (changed)");
    CHECK_STR(strip_path("/x?&&page=1&&", keys, 2), "/x?page=1 (changed)");
    CHECK_STR(strip_path("/x?email=a@b.example", keys, 2), "/x (changed)");
    CHECK_STR(strip_path("/x#page=1", keys, 2), "/x (changed)"); /* a fragment is not a query */
    CHECK_STR(strip_path("/x?page%3D1=zed@example.com", keys, 2), "/x (changed)"); /* keys are not decoded */
    /* referrers: scheme, host, port and path */
    CHECK_STR(strip_ref("https://www.google.com/search?q=zed@example.com"),
              "https://www.google.com/search (changed)");
    CHECK_STR(strip_ref("https://news.example/"), "https://news.example/");
    CHECK_STR(strip_ref("https://news.example"), "https://news.example");
    CHECK_STR(strip_ref("http://news.example:8080/a/b#c"), "http://news.example:8080/a/b (changed)");
    CHECK_STR(strip_ref("https://zed:pw@news.example/a?x=1"), "https://news.example/a (changed)");
    CHECK_STR(strip_ref("https://zed@example.com@news.example/"), "https://news.example/ (changed)");
    CHECK_STR(strip_ref("android-app://com.google.android.gm/?email=zed@example.com"),
              "android-app://com.google.android.gm/ (changed)");
    CHECK_STR(strip_ref("https://news.example/a@b"), "https://news.example/a@b"); /* '@' in the path stays */
    /* not a URL: query and fragment go all the same */
    CHECK_STR(strip_ref("news.example/a?email=zed@example.com"), "news.example/a (changed)");
    CHECK_STR(strip_ref("?email=zed@example.com"), "(null) (changed)");
    CHECK_STR(strip_ref("zed@example.com"), "zed@example.com"); /* nothing URL-like to cut */
}

/* Bots, crawlers, headless browsers and empty user agents are dropped at ingest (issue 14); browsers
 * and HTTP libraries are not. */
static void test_bot_reason(void)
{
    static const struct {
        const char *ua; /* NULL: absent */
        const char *want;
    } cases[] = {
        {NULL, "empty_ua"},
        {"", "empty_ua"},
        {" \t ", "empty_ua"},
        {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot_ua"},
        {"Mozilla/5.0 (compatible; bingbot/2.0)", "bot_ua"},
        {"Mozilla/5.0 (compatible; YandexSpider)", "bot_ua"},
        {"Mozilla/5.0 (compatible; Yahoo! Slurp)", "bot_ua"},
        {"facebookexternalhit/1.1", "bot_ua"},
        {"Mozilla/5.0 (compatible; SemrushCRAWLER)", "bot_ua"},
        {"Chrome-Lighthouse", "bot_ua"},
        {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 "
         "Safari/537.36",
         "headless"},
        {"Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 PhantomJS/2.1.1 Safari/538.1", "headless"},
        {"Mozilla/5.0 SlimerJS/1.0", "headless"},
        {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
         "Safari/537.36",
         NULL},
        {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", NULL},
        {"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", NULL},
        {"curl/8.5.0", NULL},
        {"python-requests/2.31.0", NULL},
        {"Go-http-client/1.1", NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *got = enrich_bot_reason(cases[i].ua ? str_from_cstr(cases[i].ua) : (struct str){NULL, 0});
        CHECK_STR(got ? got : "(none)", cases[i].want ? cases[i].want : "(none)");
    }
    /* every reason is one of the fixed list the table allows */
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const char *got = enrich_bot_reason(cases[i].ua ? str_from_cstr(cases[i].ua) : (struct str){NULL, 0});
        bool listed = !got;
        for (int k = 0; k < N_BOT_REASONS && !listed; k++)
            listed = got == BOT_REASONS[k];
        CHECK(listed);
    }
}

int main(void)
{
    arena_init(&arena, ARENA_MAX_BYTES);
    test_normalize_host();
    test_referrer_host();
    test_search_engines();
    test_social();
    test_traffic_source();
    test_device_type();
    test_bot_reason();
    test_strip();
    arena_free(&arena);
    return t_done("test_enrich");
}
