/* enrich.c - host, traffic-source and device rules. Lists match a host or any subdomain of it,
 * never a substring (microsoft.com is not social). */
#include "domain/enrich.h"

#include <string.h>

static bool has_prefix_nocase(struct str s, struct str prefix)
{
    return s.n >= prefix.n && str_eq_nocase((struct str){s.p, prefix.n}, prefix);
}

struct str enrich_normalize_host(struct arena *a, struct str raw)
{
    struct str none = {NULL, 0};
    struct str s = str_trim(raw);
    if (has_prefix_nocase(s, STRLIT("https://"))) {
        s.p += 8;
        s.n -= 8;
    } else if (has_prefix_nocase(s, STRLIT("http://"))) {
        s.p += 7;
        s.n -= 7;
    }
    size_t end = 0;
    while (end < s.n && s.p[end] != '/' && s.p[end] != ':')
        end++;
    s.n = end;
    if (has_prefix_nocase(s, STRLIT("www."))) {
        s.p += 4;
        s.n -= 4;
    }
    if (s.n == 0)
        return none;
    char *out = arena_strndup(a, s.p, s.n);
    if (!out)
        return none;
    ascii_lower_inplace(out, s.n);
    return (struct str){out, s.n};
}

struct str enrich_referrer_host(struct arena *a, struct str raw)
{
    struct str none = {NULL, 0};
    struct str s = str_trim(raw);
    size_t scheme;
    if (has_prefix_nocase(s, STRLIT("https://")))
        scheme = 8;
    else if (has_prefix_nocase(s, STRLIT("http://")))
        scheme = 7;
    else
        return none;
    /* userinfo is not part of the host: https://user@host/ */
    struct str rest = {s.p + scheme, s.n - scheme};
    size_t auth_end = 0;
    while (auth_end < rest.n && rest.p[auth_end] != '/' && rest.p[auth_end] != '?' && rest.p[auth_end] != '#')
        auth_end++;
    const char *at = NULL;
    for (size_t i = 0; i < auth_end; i++) {
        if (rest.p[i] == '@')
            at = rest.p + i;
    }
    struct str authority =
        at ? (struct str){at + 1, (size_t)(rest.p + auth_end - at - 1)} : (struct str){rest.p, auth_end};
    return enrich_normalize_host(a, authority);
}

/* host == domain, or host ends with "." + domain */
static bool host_is_or_under(struct str host, const char *domain)
{
    size_t dn = strlen(domain);
    if (host.n == dn)
        return memcmp(host.p, domain, dn) == 0;
    return host.n > dn && host.p[host.n - dn - 1] == '.' && memcmp(host.p + host.n - dn, domain, dn) == 0;
}

static bool all_alpha(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 'a' || p[i] > 'z')
            return false;
    }
    return n > 0;
}

/* "<brand>" followed by a country or generic ending: brand.com, brand.de, brand.co.uk,
 * brand.com.au; the brand label may follow subdomains (news.google.co.uk). */
static bool brand_with_ending(struct str host, const char *brand)
{
    size_t bn = strlen(brand);
    for (size_t i = 0; i + bn < host.n; i++) {
        if ((i > 0 && host.p[i - 1] != '.') || memcmp(host.p + i, brand, bn) != 0 || host.p[i + bn] != '.')
            continue;
        const char *end = host.p + i + bn + 1;
        size_t rest = host.n - i - bn - 1;
        const char *dot = memchr(end, '.', rest);
        if (!dot) /* brand.tld: a generic (com, org) or country (de, ru) ending */
            return rest >= 2 && rest <= 6 && all_alpha(end, rest);
        size_t first = (size_t)(dot - end), second = rest - first - 1;
        /* brand.co.uk, brand.com.au: a second-level label and a two-letter country */
        if (first >= 2 && first <= 3 && all_alpha(end, first) && second == 2 && all_alpha(dot + 1, 2))
            return true;
    }
    return false;
}

/* Bare names a UTM source may use instead of a host ("google", "facebook"). */
static bool bare_name_in(struct str s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (str_eq(s, str_from_cstr(names[i])))
            return true;
    }
    return false;
}

bool enrich_is_search_engine(struct str host)
{
    static const char *const domains[] = {"bing.com",  "duckduckgo.com", "search.yahoo.com",
                                          "baidu.com", "ecosia.org",     "startpage.com"};
    static const char *const names[] = {"google", "bing",   "duckduckgo", "yahoo",
                                        "baidu",  "ecosia", "startpage",  "yandex"};
    for (size_t i = 0; i < ARRAY_LEN(domains); i++) {
        if (host_is_or_under(host, domains[i]))
            return true;
    }
    return brand_with_ending(host, "google") || brand_with_ending(host, "yandex") ||
           bare_name_in(host, names, ARRAY_LEN(names));
}

bool enrich_is_social(struct str host)
{
    static const char *const domains[] = {"facebook.com", "instagram.com", "linkedin.com", "twitter.com",
                                          "x.com",        "t.co",          "reddit.com",   "youtube.com",
                                          "tiktok.com",   "pinterest.com"};
    static const char *const names[] = {"facebook", "instagram", "linkedin", "twitter",
                                        "reddit",   "youtube",   "tiktok",   "pinterest"};
    for (size_t i = 0; i < ARRAY_LEN(domains); i++) {
        if (host_is_or_under(host, domains[i]))
            return true;
    }
    return bare_name_in(host, names, ARRAY_LEN(names));
}

static bool contains(struct str hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay.n; i++) {
        if (memcmp(hay.p + i, needle, n) == 0)
            return true;
    }
    return false;
}

/* Lower-cased, trimmed copy in the arena; .p NULL when empty or absent. */
static struct str lowered(struct arena *a, struct str s)
{
    struct str none = {NULL, 0};
    if (!s.p)
        return none;
    s = str_trim(s);
    if (s.n == 0)
        return none;
    return arena_trim_lower(a, s);
}

const char *enrich_traffic_source(struct arena *a, const struct traffic_input *in)
{
    struct str medium = lowered(a, in->utm_medium);
    struct str source = lowered(a, in->utm_source);
    if (medium.p) {
        static const char *const paid[] = {"cpc", "ppc", "paid", "display", "retarget"};
        for (size_t i = 0; i < ARRAY_LEN(paid); i++) {
            if (contains(medium, paid[i]))
                return "paid_search";
        }
        if (contains(medium, "email"))
            return "email";
        if (contains(medium, "social"))
            return "social";
        if (contains(medium, "organic"))
            return "organic_search";
    }
    if (source.p) {
        struct str host = enrich_normalize_host(a, source);
        if (host.p && enrich_is_search_engine(host))
            return "organic_search";
        if (host.p && enrich_is_social(host))
            return "social";
        return "campaign";
    }
    struct str ref = in->referrer.p ? enrich_referrer_host(a, in->referrer) : (struct str){NULL, 0};
    if (!ref.p)
        return "direct";
    if (in->site_host.p && str_eq(ref, in->site_host))
        return "internal";
    if (enrich_is_search_engine(ref))
        return "organic_search";
    if (enrich_is_social(ref))
        return "social";
    return "referral";
}

/* Offset of the first '?' or '#' in s, s.n when none. */
static size_t query_start(struct str s)
{
    size_t i = 0;
    while (i < s.n && s.p[i] != '?' && s.p[i] != '#')
        i++;
    return i;
}

static bool key_allowed(struct str key, char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (str_eq(key, str_from_cstr(keys[i])))
            return true;
    }
    return false;
}

struct str enrich_strip_path(struct arena *a, struct str path, char *const *keys, size_t n, bool *changed)
{
    size_t q = query_start(path);
    *changed = q < path.n;
    if (!*changed)
        return path;
    /* the query runs from after '?' to the fragment; a leading '#' means there is no query */
    struct str query = {NULL, 0};
    if (path.p[q] == '?') {
        const char *hash = memchr(path.p + q + 1, '#', path.n - q - 1);
        query = (struct str){path.p + q + 1, (size_t)((hash ? hash : path.p + path.n) - (path.p + q + 1))};
    }
    char *out = arena_alloc(a, path.n + 2);
    if (!out)
        return (struct str){NULL, 0};
    memcpy(out, path.p, q);
    size_t o = q, kept = 0;
    for (size_t i = 0; query.p && i <= query.n;) {
        const char *amp = memchr(query.p + i, '&', query.n - i);
        size_t end = amp ? (size_t)(amp - query.p) : query.n;
        struct str pair = {query.p + i, end - i};
        const char *eq = memchr(pair.p, '=', pair.n);
        struct str key = {pair.p, eq ? (size_t)(eq - pair.p) : pair.n};
        if (key.n > 0 && key_allowed(key, keys, n)) {
            out[o++] = kept++ ? '&' : '?';
            memcpy(out + o, pair.p, pair.n);
            o += pair.n;
        }
        i = end + 1;
    }
    if (o == 0) /* only a query or fragment was sent: a reference to a page whose path is unknown */
        out[o++] = '/';
    out[o] = '\0';
    return (struct str){out, o};
}

int enrich_strip_referrer(struct arena *a, struct str ref, struct str *out_ref, bool *changed)
{
    struct str s = {ref.p, query_start(ref)};
    *changed = s.n < ref.n;
    /* scheme "://" authority: the userinfo (user:password@) goes */
    size_t i = 0;
    while (i < s.n &&
           ((s.p[i] >= 'a' && s.p[i] <= 'z') || (s.p[i] >= 'A' && s.p[i] <= 'Z') ||
            (i > 0 && ((s.p[i] >= '0' && s.p[i] <= '9') || s.p[i] == '+' || s.p[i] == '-' || s.p[i] == '.'))))
        i++;
    if (i > 0 && s.n - i >= 3 && memcmp(s.p + i, "://", 3) == 0) {
        size_t auth = i + 3, end = auth;
        while (end < s.n && s.p[end] != '/')
            end++;
        const char *at = NULL;
        for (size_t k = auth; k < end; k++) {
            if (s.p[k] == '@')
                at = s.p + k;
        }
        if (at) {
            size_t skip = (size_t)(at + 1 - (s.p + auth));
            char *out = arena_alloc(a, s.n - skip + 1);
            if (!out)
                return -1;
            memcpy(out, s.p, auth);
            memcpy(out + auth, at + 1, s.n - auth - skip);
            out[s.n - skip] = '\0';
            *changed = true;
            s = (struct str){out, s.n - skip};
        }
    }
    *out_ref = s.n ? s : (struct str){NULL, 0};
    return 0;
}

const char *enrich_device_type(struct str ua)
{
    struct str u = ua.p ? ua : STRLIT("unknown");
    /* case-insensitive substring search without copying */
    static const struct {
        const char *word;
        const char *type;
    } rules[] = {{"bot", "bot"},       {"crawler", "bot"},   {"spider", "bot"},
                 {"headless", "bot"},  {"ipad", "tablet"},   {"tablet", "tablet"},
                 {"mobile", "mobile"}, {"iphone", "mobile"}, {"android", "mobile"}};
    for (size_t r = 0; r < ARRAY_LEN(rules); r++) {
        size_t n = strlen(rules[r].word);
        for (size_t i = 0; i + n <= u.n; i++) {
            if (str_eq_nocase((struct str){u.p + i, n}, (struct str){rules[r].word, n}))
                return rules[r].type;
        }
    }
    return "desktop";
}

/* Case-insensitive: does u contain word (ASCII)? */
static bool contains_nocase(struct str u, const char *word)
{
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= u.n; i++) {
        if (str_eq_nocase((struct str){u.p + i, n}, (struct str){word, n}))
            return true;
    }
    return false;
}

const char *const BOT_REASONS[N_BOT_REASONS] = {"empty_ua", "bot_ua", "headless"};

const char *enrich_bot_reason(struct str ua)
{
    /* headless first: "HeadlessChrome" must not count as a plain bot */
    static const char *const headless[] = {"headless",   "phantomjs", "slimerjs", "puppeteer",
                                           "playwright", "selenium",  "webdriver"};
    /* "bot" alone also catches Googlebot, bingbot, ...; the rest name crawlers without it */
    static const char *const bots[] = {
        "bot",           "crawler",    "crawl",   "spider",  "slurp",   "facebookexternalhit",
        "mediapartners", "lighthouse", "pingdom", "preview", "archiver"};
    struct str u = ua.p ? ua : (struct str){"", 0};
    size_t lo = 0, hi = u.n;
    while (lo < hi && (u.p[lo] == ' ' || u.p[lo] == '\t'))
        lo++;
    while (hi > lo && (u.p[hi - 1] == ' ' || u.p[hi - 1] == '\t'))
        hi--;
    if (hi == lo)
        return BOT_REASONS[0];
    u = (struct str){u.p + lo, hi - lo};
    for (size_t i = 0; i < ARRAY_LEN(headless); i++) {
        if (contains_nocase(u, headless[i]))
            return BOT_REASONS[2];
    }
    for (size_t i = 0; i < ARRAY_LEN(bots); i++) {
        if (contains_nocase(u, bots[i]))
            return BOT_REASONS[1];
    }
    return NULL;
}
