/* test_event.c - POST /v1/events: body validation (every field, both sides of every limit, exact
 * issue paths), the rejected body's property, and the ingest_event() parameters: hashes, property,
 * defaults, props merge and the canonical dedupe rendering (API.md §3). */
#include <stdlib.h>
#include <string.h>

#include "domain/event.h"
#include "core/hash.h"
#include "domain/validate.h"
#include "t.h"

/* 2026-02-14T05:00:00.000Z, the start of a 30-second bucket */
#define NOW_MS 1771045200000LL

#define PEPPER "test-pepper-0123456789abcdef-0123456789"
#define IP "203.0.113.7"
#define UA "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
/* HMAC-SHA256(PEPPER, ·), computed independently (Python hmac) */
#define IP_HASH "f029abaab40441fed3c7c7c3b37d8175d33b02aeb4f5dd34b00ef28391ea1b5d"
#define UA_HASH "7ff0d941fe84996af00a1771e64a468064b36e3dafc732a8acd7baea8f843de6"
#define UNKNOWN_HASH "223b7b357cc2395b232f76f8edf66877d2c8915cadbf2825bb908fec421c3e3f"
/* HMAC-SHA256(PEPPER, "/pricing?x=1") and (PEPPER, "https://www.google.com/search?q=a") (Python hmac):
 * what the dedupe rendering holds for what was stripped from FULL_BODY's path and referrer */
#define PATH_MAC "433cc715f722958c3449aa38546f247570ef211f885ab3ded84c0e8e4fdd737d"
#define REF_MAC "21f39b5c86f2be6158a154dc60fa186f60b97f76eae735cab1c998053285f692"
#define IP2_HASH "c94f6f5a7b988356aafbfcfa23efed2a05e31d62123709aafa83b562dafe2c1f" /* 198.51.100.1 */

/* ingest_event() parameter positions, by the names of core/sqlfn.h */
enum {
    P_ANON = INGEST_EVENT_anon_id,
    P_OCCURRED = INGEST_EVENT_occurred_at,
    P_IP_HASH = INGEST_EVENT_ip_hash,
    P_UA_HASH = INGEST_EVENT_ua_hash,
    P_TYPE = INGEST_EVENT_event_type,
    P_PATH = INGEST_EVENT_path,
    P_REFERRER = INGEST_EVENT_referrer,
    P_UTM_SOURCE = INGEST_EVENT_utm_source,
    P_UTM_MEDIUM = INGEST_EVENT_utm_medium,
    P_UTM_CAMPAIGN = INGEST_EVENT_utm_campaign,
    P_UTM_TERM = INGEST_EVENT_utm_term,
    P_UTM_CONTENT = INGEST_EVENT_utm_content,
    P_INACTIVITY = INGEST_EVENT_inactivity_minutes,
    P_VISITOR_ID = INGEST_EVENT_visitor_id,
    P_SESSION_ID = INGEST_EVENT_session_id,
    P_EVENT_ID = INGEST_EVENT_event_id,
    P_PREFIX = INGEST_EVENT_canon_prefix,
    P_SUFFIX = INGEST_EVENT_canon_suffix,
    P_PROPS = INGEST_EVENT_props,
    P_PROPERTY = INGEST_EVENT_property_id,
    P_SOURCE = INGEST_EVENT_traffic_source,
    P_DEVICE = INGEST_EVENT_device_type,
    P_COUNTRY = INGEST_EVENT_country_code,
    P_ENTRANCE = INGEST_EVENT_is_entrance,
    P_EXIT = INGEST_EVENT_is_exit,
    P_CONVERSION = INGEST_EVENT_is_conversion,
};

static struct config cfg;

/* ---- helpers ---- */

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!j)
        fprintf(stderr, "bad test JSON: %s: %s\n", err.text, text);
    return j;
}

/* A minimal valid body. */
static json_t *base(void)
{
    return load("{\"anonId\":\"anon-0001\",\"eventType\":\"page_view\",\"path\":\"/\"}");
}

/* Sets body[a][b][c] = v (v stolen), creating objects on the way; an existing non-object is replaced. */
static json_t *set_dotted(json_t *body, const char *dotted, json_t *v)
{
    char key[64];
    json_t *o = body;
    const char *p = dotted;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        memcpy(key, p, n);
        key[n] = '\0';
        if (!dot) {
            json_object_set_new(o, key, v);
            return body;
        }
        json_t *next = json_object_get(o, key);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(o, key, next);
        }
        o = next;
        p = dot + 1;
    }
}

static json_t *with(const char *dotted, json_t *v)
{
    return set_dotted(base(), dotted, v);
}

/* Removes body[dotted] when present. */
static json_t *without(json_t *body, const char *dotted)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", dotted);
    json_t *o = body;
    char *p = buf;
    char *dot;
    while ((dot = strchr(p, '.')) != NULL) {
        *dot = '\0';
        o = json_object_get(o, p);
        p = dot + 1;
    }
    json_object_del(o, p);
    return body;
}

static const char *join_paths(const struct issues *is)
{
    static char buf[2048];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < is->n && o < sizeof(buf); i++) {
        const char *p = is->items[i].path;
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? "," : "", p ? p : "(null)");
    }
    return buf;
}

/* Parses body (stolen) and returns its issue paths joined with commas ("" when valid). */
static const char *paths_of(json_t *body)
{
    struct issues is;
    struct event_in ev;
    issues_init(&is);
    event_parse(body, NOW_MS, &is, &ev);
    const char *r = join_paths(&is);
    event_free(&ev);
    issues_free(&is);
    json_decref(body);
    return r;
}

/* One body, parsed, and one request around it. */
struct fx {
    json_t *body;
    struct issues is;
    struct event_in ev;
    struct arena pool; /* the request's parameter strings */
    char *params[16];
    struct arena arena;
    struct event_client cl;
    union ingest_event_args row;
    const char *const *p; /* row.v */
};

/* The value of NAME=value in params, .p NULL when absent. */
static struct str fx_param(char **params, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; params[i]; i++) {
        if (strncmp(params[i], name, n) == 0 && params[i][n] == '=')
            return str_from_cstr(params[i] + n + 1);
    }
    return (struct str){NULL, 0};
}

static void fx_request(struct fx *f, const char *const *params)
{
    arena_init(&f->pool, ARENA_MAX_BYTES);
    arena_init(&f->arena, ARENA_MAX_BYTES);
    size_t i = 0;
    for (; params && params[i] && i + 1 < ARRAY_LEN(f->params); i++)
        f->params[i] = arena_strndup(&f->pool, params[i], strlen(params[i]));
    f->params[i] = NULL;
    /* what the handler takes from the request (event_client_of); http_parse_request makes an
     * absent REMOTE_ADDR "unknown" */
    f->cl.remote_addr = fx_param(f->params, "REMOTE_ADDR");
    if (!f->cl.remote_addr.p)
        f->cl.remote_addr = STRLIT("unknown");
    f->cl.user_agent = fx_param(f->params, "HTTP_USER_AGENT");
    f->cl.origin = fx_param(f->params, "HTTP_ORIGIN");
    f->cl.host = fx_param(f->params, "HTTP_HOST");
    f->p = f->row.v;
}

static int fx_params(struct fx *f, int64_t now_ms)
{
    return event_params(&f->arena, &cfg, &f->cl, &f->ev, now_ms, &f->row);
}

/* Parses body (stolen) at now_ms; when it is valid, fills f->p for a request with params. Returns
 * event_params()'s result, or -2 when the body had issues. */
static int fx_run(struct fx *f, json_t *body, const char *const *params, int64_t now_ms)
{
    memset(f, 0, sizeof(*f));
    f->body = body;
    issues_init(&f->is);
    event_parse(body, now_ms, &f->is, &f->ev);
    fx_request(f, params);
    if (issues_any(&f->is)) {
        fprintf(stderr, "unexpected issues: %s\n", join_paths(&f->is));
        return -2;
    }
    return fx_params(f, now_ms);
}

static void fx_free(struct fx *f)
{
    event_free(&f->ev);
    issues_free(&f->is);
    json_decref(f->body);
    arena_free(&f->arena);
    arena_free(&f->pool);
}

#define PARAMS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define STD_PARAMS                                                                                           \
    PARAMS("REQUEST_METHOD=POST", "REQUEST_URI=/v1/events", "REMOTE_ADDR=" IP, "HTTP_USER_AGENT=" UA,        \
           "HTTP_ORIGIN=https://www.Shop.Example:443", "HTTP_HOST=api.example.net")

static bool is_hex64(const char *s)
{
    if (!s || strlen(s) != HASH_HEX_LEN)
        return false;
    for (size_t i = 0; i < HASH_HEX_LEN; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static bool is_uuid(const char *s)
{
    if (!s || strlen(s) != UUID_STR_LEN)
        return false;
    for (size_t i = 0; i < UUID_STR_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static const char *cstr(struct str s)
{
    static char buf[512];
    if (!s.p)
        return "(null)";
    size_t n = s.n < sizeof(buf) - 1 ? s.n : sizeof(buf) - 1;
    memcpy(buf, s.p, n);
    buf[n] = '\0';
    return buf;
}

/* A compact, key-sorted dump for comparisons; malloc'd. */
static char *dump(const json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : strdup("(null)");
}

/* ---- event_parse ---- */

static const char *FULL_BODY =
    "{\"anonId\":\"  anon-12345678 \",\"eventType\":\" page_view\\u00a0\",\"path\":\" /pricing?x=1 \","
    "\"timestamp\":\"2026-02-14T07:00:00+02:00\",\"referrer\":\"  https://www.google.com/search?q=a  \","
    "\"utm\":{\"source\":\" Google \",\"medium\":\" cpc \",\"campaign\":\" spring \",\"term\":\" shoes \","
    "\"content\":\" ad1 \"},"
    "\"traffic\":{\"propertyId\":\" site-a \",\"deviceType\":\" tablet \",\"countryCode\":\"ca\","
    "\"isEntrance\":false,\"isExit\":true,\"isConversion\":true,\"engagedTimeMs\":\"1500\","
    "\"scrollDepthPercent\":75,\"webVitals\":{\"fcpMs\":100,\"lcpMs\":\" 2500 \",\"inpMs\":\"1e2\","
    "\"ttfbMs\":0,\"clsScore\":\"0.25\"}},"
    "\"props\":{\"plan\":\"pro\",\"n\":[1,2]},\"honeypot\":\"  \"}";

static void test_parse_full(void)
{
    json_t *body = load(FULL_BODY);
    struct issues is;
    struct event_in ev;
    issues_init(&is);
    event_parse(body, NOW_MS, &is, &ev);
    CHECK_STR(join_paths(&is), "");
    CHECK_STR(cstr(ev.anon_id), "anon-12345678");
    CHECK_STR(cstr(ev.event_type), "page_view");
    CHECK_STR(cstr(ev.path), "/pricing?x=1");
    CHECK(ev.has_timestamp);
    CHECK_INT(ev.timestamp_ms, NOW_MS);
    CHECK_STR(cstr(ev.referrer), "https://www.google.com/search?q=a");
    CHECK(ev.has_utm_object);
    CHECK_STR(cstr(ev.utm[0]), "Google");
    CHECK_STR(cstr(ev.utm[1]), "cpc");
    CHECK_STR(cstr(ev.utm[2]), "spring");
    CHECK_STR(cstr(ev.utm[3]), "shoes");
    CHECK_STR(cstr(ev.utm[4]), "ad1");
    CHECK_STR(cstr(ev.property_id), "site-a");
    CHECK_STR(ev.device_type, "tablet");
    CHECK_STR(ev.country_code, "CA");
    CHECK_INT(ev.is_entrance, TRI_FALSE);
    CHECK_INT(ev.is_exit, TRI_TRUE);
    CHECK_INT(ev.is_conversion, TRI_TRUE);
    CHECK(ev.props == json_object_get(body, "props"));
    CHECK(ev.honeypot.p != NULL && ev.honeypot.n == 0);

    char *s = dump(ev.traffic_canon);
    CHECK_STR(
        s, "{\"countryCode\":\"CA\",\"deviceType\":\"tablet\",\"engagedTimeMs\":1500,\"isConversion\":true,"
           "\"isEntrance\":false,\"isExit\":true,\"propertyId\":\"site-a\",\"scrollDepthPercent\":75,"
           "\"webVitals\":{\"clsScore\":0.25,\"fcpMs\":100,\"inpMs\":100,\"lcpMs\":2500,\"ttfbMs\":0}}");
    free(s);
    s = dump(ev.metrics);
    CHECK_STR(s, "{\"clsScore\":0.25,\"engagedTimeMs\":1500,\"fcpMs\":100,\"inpMs\":100,\"lcpMs\":2500,"
                 "\"scrollDepthPercent\":75,\"ttfbMs\":0}");
    free(s);
    event_free(&ev);
    CHECK(ev.traffic_canon == NULL && ev.metrics == NULL);
    event_free(&ev); /* twice is harmless */
    issues_free(&is);
    json_decref(body);

    /* the minimal body: everything optional absent */
    body = base();
    issues_init(&is);
    event_parse(body, NOW_MS, &is, &ev);
    CHECK_STR(join_paths(&is), "");
    CHECK(!ev.has_timestamp);
    CHECK(ev.referrer.p == NULL);
    CHECK(!ev.has_utm_object);
    for (int i = 0; i < UTM_FIELDS; i++)
        CHECK(ev.utm[i].p == NULL);
    CHECK(ev.property_id.p == NULL);
    CHECK(ev.device_type == NULL);
    CHECK_STR(ev.country_code, "");
    CHECK_INT(ev.is_entrance, TRI_ABSENT);
    CHECK_INT(ev.is_exit, TRI_ABSENT);
    CHECK_INT(ev.is_conversion, TRI_ABSENT);
    CHECK(ev.traffic_canon == NULL && ev.metrics == NULL && ev.props == NULL);
    CHECK(ev.honeypot.p == NULL);
    event_free(&ev);
    issues_free(&is);
    json_decref(body);

    /* a traffic object without metrics has no metrics copy */
    body = with("traffic.propertyId", json_string("p"));
    issues_init(&is);
    event_parse(body, NOW_MS, &is, &ev);
    CHECK(ev.traffic_canon != NULL && ev.metrics == NULL);
    event_free(&ev);
    issues_free(&is);
    json_decref(body);
}

struct string_rule {
    const char *field;
    size_t min, max;
    bool required;
};

static void test_string_limits(void)
{
    static const struct string_rule rules[] = {
        /* optional since issue 14: absent means a cookieless visitor */
        {"anonId", EVENT_ANON_ID_MIN, EVENT_ANON_ID_MAX, false},
        {"eventType", 1, EVENT_TYPE_MAX, true},
        {"path", 1, EVENT_PATH_MAX, true},
        {"referrer", 1, EVENT_REFERRER_MAX, false},
        {"utm.source", 1, EVENT_UTM_MAX, false},
        {"utm.medium", 1, EVENT_UTM_MAX, false},
        {"utm.campaign", 1, EVENT_UTM_MAX, false},
        {"utm.term", 1, EVENT_UTM_MAX, false},
        {"utm.content", 1, EVENT_UTM_MAX, false},
        {"traffic.propertyId", 1, EVENT_PROPERTY_ID_MAX, false},
    };
    for (size_t r = 0; r < ARRAY_LEN(rules); r++) {
        const struct string_rule *u = &rules[r];
        const char *f = u->field;
        char *s;
        /* min: at, below; trimming counts */
        s = rep("", "a", u->min, "");
        CHECK_STR(paths_of(with(f, json_string(s))), "");
        free(s);
        s = rep("", "a", u->min - 1, "");
        CHECK_STR(paths_of(with(f, json_string(s))), f);
        free(s);
        s = rep("  ", "a", u->min - 1, "\xc2\xa0 ");
        CHECK_STR(paths_of(with(f, json_string(s))), f);
        free(s);
        CHECK_STR(paths_of(with(f, json_string("   "))), f);
        /* max: at, above; in code points; surrounding spaces do not count */
        s = rep("", "a", u->max, "");
        CHECK_STR(paths_of(with(f, json_string(s))), "");
        free(s);
        s = rep(" \t", "a", u->max, "\xe3\x80\x80 ");
        CHECK_STR(paths_of(with(f, json_string(s))), "");
        free(s);
        s = rep("", "a", u->max + 1, "");
        CHECK_STR(paths_of(with(f, json_string(s))), f);
        free(s);
        /* path is also bounded in bytes (EVENT_PATH_MAX_BYTES): 2048 multi-byte code points exceed it */
        const char *multibyte_at_max = strcmp(f, "path") == 0 ? f : "";
        s = rep("", "\xf0\x9f\x98\x80", u->max, "");
        CHECK_STR(paths_of(with(f, json_string(s))), multibyte_at_max);
        free(s);
        s = rep("", "\xf0\x9f\x98\x80", u->max + 1, "");
        CHECK_STR(paths_of(with(f, json_string(s))), f);
        free(s);
        s = rep("", "\xc3\xa9", u->max, "");
        CHECK_STR(paths_of(with(f, json_string(s))), multibyte_at_max);
        free(s);
        /* wrong types, U+0000 */
        CHECK_STR(paths_of(with(f, json_integer(12345678))), f);
        /* null is absent for anonId alone (a wrong value for every other field) */
        CHECK_STR(paths_of(with(f, json_null())), strcmp(f, "anonId") == 0 ? "" : f);
        CHECK_STR(paths_of(with(f, json_true())), f);
        CHECK_STR(paths_of(with(f, json_array())), f);
        CHECK_STR(paths_of(with(f, json_pack("{s:s}", "a", "abcdefghij"))), f);
        CHECK_STR(paths_of(with(f, json_stringn("abcdefgh\0ij", 11))), f);
        CHECK_STR(paths_of(with(f, json_stringn("\0", 1))), f);
        /* absent */
        CHECK_STR(paths_of(without(base(), f)), u->required ? f : "");
    }
    /* 128 emoji anonId is 512 bytes and valid; "  abcdefg  " is 7 code points */
    CHECK_STR(paths_of(with("anonId", json_string("  abcdefg  "))), "anonId");
    CHECK_STR(paths_of(with("anonId", json_string("  abcdefgh  "))), "");
}

struct int_rule {
    const char *field;
    long long max;
};

/* EVENT_PATH_MAX_BYTES: events.path is indexed, and an index entry is bounded in bytes. */
static void test_path_bytes(void)
{
    /* 650 four-byte code points = 2600 bytes; one ASCII byte more is over */
    char *s = rep("", "\xf0\x9f\x98\x80", EVENT_PATH_MAX_BYTES / 4, "");
    CHECK_INT(strlen(s), EVENT_PATH_MAX_BYTES);
    CHECK_STR(paths_of(with("path", json_string(s))), "");
    free(s);
    s = rep("", "\xf0\x9f\x98\x80", EVENT_PATH_MAX_BYTES / 4, "a");
    CHECK_STR(paths_of(with("path", json_string(s))), "path");
    free(s);
}

static void test_number_limits(void)
{
    static const struct int_rule rules[] = {
        {"traffic.engagedTimeMs", EVENT_ENGAGED_MS_MAX}, {"traffic.scrollDepthPercent", EVENT_SCROLL_PCT_MAX},
        {"traffic.webVitals.fcpMs", EVENT_VITAL_MS_MAX}, {"traffic.webVitals.lcpMs", EVENT_VITAL_MS_MAX},
        {"traffic.webVitals.inpMs", EVENT_VITAL_MS_MAX}, {"traffic.webVitals.ttfbMs", EVENT_VITAL_MS_MAX},
    };
    for (size_t r = 0; r < ARRAY_LEN(rules); r++) {
        const char *f = rules[r].field;
        long long max = rules[r].max;
        char buf[64];
        CHECK_STR(paths_of(with(f, json_integer(0))), "");
        CHECK_STR(paths_of(with(f, json_integer(max))), "");
        CHECK_STR(paths_of(with(f, json_integer(max + 1))), f);
        CHECK_STR(paths_of(with(f, json_integer(-1))), f);
        snprintf(buf, sizeof(buf), " %lld ", max);
        CHECK_STR(paths_of(with(f, json_string(buf))), "");
        snprintf(buf, sizeof(buf), "%lld", max + 1);
        CHECK_STR(paths_of(with(f, json_string(buf))), f);
        CHECK_STR(paths_of(with(f, json_string("-1"))), f);
        CHECK_STR(paths_of(with(f, json_string("1e1"))), "");
        CHECK_STR(paths_of(with(f, json_real(2.0))), "");
        CHECK_STR(paths_of(with(f, json_real(1.5))), f);
        CHECK_STR(paths_of(with(f, json_string("1.5"))), f);
        CHECK_STR(paths_of(with(f, json_string(""))), f);
        CHECK_STR(paths_of(with(f, json_string("abc"))), f);
        CHECK_STR(paths_of(with(f, json_string("0x10"))), f);
        CHECK_STR(paths_of(with(f, json_string("NaN"))), f);
        CHECK_STR(paths_of(with(f, json_true())), f);
        CHECK_STR(paths_of(with(f, json_null())), f);
        CHECK_STR(paths_of(with(f, json_array())), f);
    }
    const char *cls = "traffic.webVitals.clsScore";
    CHECK_STR(paths_of(with(cls, json_integer(0))), "");
    CHECK_STR(paths_of(with(cls, json_real(EVENT_CLS_MAX))), "");
    CHECK_STR(paths_of(with(cls, json_string("10"))), "");
    CHECK_STR(paths_of(with(cls, json_string("-1.5"))), cls);
    CHECK_STR(paths_of(with(cls, json_real(EVENT_CLS_MAX + 0.001))), cls);
    CHECK_STR(paths_of(with(cls, json_string("10.001"))), cls);
    CHECK_STR(paths_of(with(cls, json_real(-0.001))), cls);
    CHECK_STR(paths_of(with(cls, json_string(" 0.1 "))), "");
    CHECK_STR(paths_of(with(cls, json_string("1e-3"))), "");
    CHECK_STR(paths_of(with(cls, json_string(""))), cls);
    CHECK_STR(paths_of(with(cls, json_true())), cls);
    CHECK_STR(paths_of(with(cls, json_null())), cls);
    CHECK_STR(paths_of(with(cls, json_string("Infinity"))), cls);
}

/* A metric key in props is stored as that metric unless traffic carries it (traffic wins), and the
 * rollups read it (p95 TTFB): it is held to the metric's bounds. ttfbMs 1e308 was stored (issue 11,
 * item 9). */
static void test_props_metrics(void)
{
    static const struct {
        const char *key;
        double max;
    } m[] = {{"engagedTimeMs", EVENT_ENGAGED_MS_MAX},
             {"scrollDepthPercent", EVENT_SCROLL_PCT_MAX},
             {"fcpMs", EVENT_VITAL_MS_MAX},
             {"lcpMs", EVENT_VITAL_MS_MAX},
             {"inpMs", EVENT_VITAL_MS_MAX},
             {"ttfbMs", EVENT_VITAL_MS_MAX},
             {"clsScore", EVENT_CLS_MAX}};
    for (size_t i = 0; i < ARRAY_LEN(m); i++) {
        char dotted[64];
        snprintf(dotted, sizeof(dotted), "props.%s", m[i].key);
        CHECK_STR(paths_of(with(dotted, json_real(1e308))), dotted);
        CHECK_STR(paths_of(with(dotted, json_real(m[i].max * 2 + 1))), dotted);
        CHECK_STR(paths_of(with(dotted, json_real(-1))), dotted);
        CHECK_STR(paths_of(with(dotted, json_string("Infinity"))), dotted);
        CHECK_STR(paths_of(with(dotted, json_string("1e999"))), dotted);
        CHECK_STR(paths_of(with(dotted, json_string("slow"))), dotted);
        CHECK_STR(paths_of(with(dotted, json_null())), dotted);
        CHECK_STR(paths_of(with(dotted, json_real(0))), "");
        CHECK_STR(paths_of(with(dotted, json_real(m[i].max))), "");
    }
    CHECK_STR(paths_of(with("props.ttfbMs", json_string(" 120000 "))), "");
    CHECK_STR(paths_of(with("props.ttfbMs", json_real(1.5))), "props.ttfbMs");
    CHECK_STR(paths_of(with("props.clsScore", json_real(0.25))), "");
    /* other keys stay free, and so does a metric key below the top level */
    CHECK_STR(paths_of(with("props.ttfb", json_real(1e308))), "");
    CHECK_STR(paths_of(with("props.x", load("{\"ttfbMs\":1e308}"))), "");
    /* traffic carries the metric: the props value is replaced, never stored, and not checked */
    json_t *b = with("props.lcpMs", json_string("slow"));
    set_dotted(b, "traffic.webVitals.lcpMs", json_integer(2500));
    CHECK_STR(paths_of(b), "");
    /* ...but an invalid traffic value does not let an invalid props value through */
    b = with("props.lcpMs", json_real(1e308));
    set_dotted(b, "traffic.webVitals.lcpMs", json_integer(-1));
    CHECK_STR(paths_of(b), "traffic.webVitals.lcpMs,props.lcpMs");
    /* the bounds as documented (API.md §3) */
    CHECK_INT(EVENT_VITAL_MS_MAX, 120000);
    CHECK_INT(EVENT_ENGAGED_MS_MAX, 86400000);
    CHECK_INT(EVENT_SCROLL_PCT_MAX, 100);
    CHECK(EVENT_CLS_MAX == 10.0);
}

static void test_other_fields(void)
{
    /* traffic.deviceType */
    static const char *const devices[] = {"desktop", "mobile", "tablet", "bot", "unknown"};
    for (size_t i = 0; i < ARRAY_LEN(devices); i++)
        CHECK_STR(paths_of(with("traffic.deviceType", json_string(devices[i]))), "");
    CHECK_STR(paths_of(with("traffic.deviceType", json_string(" bot "))), "");
    CHECK_STR(paths_of(with("traffic.deviceType", json_string("phone"))), "traffic.deviceType");
    CHECK_STR(paths_of(with("traffic.deviceType", json_string("Mobile"))), "traffic.deviceType");
    CHECK_STR(paths_of(with("traffic.deviceType", json_string(""))), "traffic.deviceType");
    CHECK_STR(paths_of(with("traffic.deviceType", json_integer(1))), "traffic.deviceType");
    CHECK_STR(paths_of(with("traffic.deviceType", json_null())), "traffic.deviceType");

    /* traffic.countryCode: exactly 2 letters, upper-cased */
    static const char *const good_cc[][2] = {{"ca", "CA"},   {"CA", "CA"}, {"cA", "CA"},
                                             {" de ", "DE"}, {"zz", "ZZ"}, {"Az", "AZ"}};
    for (size_t i = 0; i < ARRAY_LEN(good_cc); i++) {
        json_t *body = with("traffic.countryCode", json_string(good_cc[i][0]));
        struct issues is;
        struct event_in ev;
        issues_init(&is);
        event_parse(body, NOW_MS, &is, &ev);
        CHECK_STR(join_paths(&is), "");
        CHECK_STR(ev.country_code, good_cc[i][1]);
        CHECK_STR(json_string_value(json_object_get(ev.traffic_canon, "countryCode")), good_cc[i][1]);
        event_free(&ev);
        issues_free(&is);
        json_decref(body);
    }
    static const char *const bad_cc[] = {"c1",
                                         "CAN",
                                         "C",
                                         "",
                                         "  ",
                                         "1a",
                                         "c-",
                                         "@A",
                                         "[a",
                                         "`a",
                                         "{a",
                                         "\xc3\xa9"
                                         "a",
                                         "\xc3\xa9\xc3\xa9",
                                         "c a"};
    for (size_t i = 0; i < ARRAY_LEN(bad_cc); i++) {
        const char *got = paths_of(with("traffic.countryCode", json_string(bad_cc[i])));
        if (strcmp(got, "traffic.countryCode") != 0)
            fprintf(stderr, "countryCode '%s'\n", bad_cc[i]);
        CHECK_STR(got, "traffic.countryCode");
    }
    CHECK_STR(paths_of(with("traffic.countryCode", json_integer(12))), "traffic.countryCode");
    CHECK_STR(paths_of(with("traffic.countryCode", json_null())), "traffic.countryCode");
    CHECK_STR(paths_of(with("traffic.countryCode", json_stringn("c\0", 2))), "traffic.countryCode");

    /* booleans */
    static const char *const flags[] = {"traffic.isEntrance", "traffic.isExit", "traffic.isConversion"};
    for (size_t i = 0; i < ARRAY_LEN(flags); i++) {
        CHECK_STR(paths_of(with(flags[i], json_true())), "");
        CHECK_STR(paths_of(with(flags[i], json_false())), "");
        CHECK_STR(paths_of(with(flags[i], json_string("true"))), flags[i]);
        CHECK_STR(paths_of(with(flags[i], json_integer(1))), flags[i]);
        CHECK_STR(paths_of(with(flags[i], json_integer(0))), flags[i]);
        CHECK_STR(paths_of(with(flags[i], json_null())), flags[i]);
    }

    /* objects */
    static const char *const objects[] = {"utm", "traffic", "traffic.webVitals", "props"};
    for (size_t i = 0; i < ARRAY_LEN(objects); i++) {
        CHECK_STR(paths_of(with(objects[i], json_object())), "");
        CHECK_STR(paths_of(with(objects[i], json_array())), objects[i]);
        CHECK_STR(paths_of(with(objects[i], json_string("{}"))), objects[i]);
        CHECK_STR(paths_of(with(objects[i], json_null())), objects[i]);
        CHECK_STR(paths_of(with(objects[i], json_integer(1))), objects[i]);
    }

    /* props: anything but U+0000, reported at "props" */
    CHECK_STR(paths_of(with("props", load("{\"a\":{\"b\":[1,\"x\",null,{\"c\":true}]},\"\":\"\"}"))), "");
    CHECK_STR(paths_of(with("props", load("{\"a\":\"x\\u0000\"}"))), "props");
    CHECK_STR(paths_of(with("props", load("{\"a\":{\"b\":[\"ok\",\"\\u0000\"]}}"))), "props");
    CHECK_STR(paths_of(with("props", load("{\"a\":[[[\"\\u0000\"]]]}"))), "props");

    /* timestamp */
    CHECK_STR(paths_of(with("timestamp", json_null())), "");
    CHECK_STR(paths_of(with("timestamp", json_integer(NOW_MS + EVENT_MAX_FUTURE_MS))), "");
    CHECK_STR(paths_of(with("timestamp", json_integer(NOW_MS + EVENT_MAX_FUTURE_MS + 1))), "timestamp");
    CHECK_STR(paths_of(with("timestamp", json_string("2026-02-15T05:00:00.000Z"))), "");
    CHECK_STR(paths_of(with("timestamp", json_string("2026-02-15T05:00:00.001Z"))), "timestamp");
    CHECK_STR(paths_of(with("timestamp", json_integer(-1))), "timestamp");
    CHECK_STR(paths_of(with("timestamp", json_string("1771045200000"))), "timestamp");
    CHECK_STR(paths_of(with("timestamp", json_string("2026-02-14T05:00:00"))), "timestamp");
    CHECK_STR(paths_of(with("timestamp", json_string("2026-02-30T05:00:00Z"))), "timestamp");
    CHECK_STR(paths_of(with("timestamp", json_true())), "timestamp");

    /* honeypot: an optional string of any length */
    CHECK_STR(paths_of(with("honeypot", json_string(""))), "");
    CHECK_STR(paths_of(with("honeypot", json_string("filled"))), "");
    char *s = rep("", "x", 5000, "");
    CHECK_STR(paths_of(with("honeypot", json_string(s))), "");
    free(s);
    CHECK_STR(paths_of(with("honeypot", json_integer(5))), "honeypot");
    CHECK_STR(paths_of(with("honeypot", json_false())), "honeypot");
    CHECK_STR(paths_of(with("honeypot", json_stringn("x\0", 2))), "honeypot");
    json_t *body = with("honeypot", json_string(" \xc2\xa0 I am a bot \n"));
    struct issues is;
    struct event_in ev;
    issues_init(&is);
    event_parse(body, NOW_MS, &is, &ev);
    CHECK_STR(cstr(ev.honeypot), "I am a bot");
    event_free(&ev);
    issues_free(&is);
    json_decref(body);
}

static void test_unknown_keys_and_all_issues(void)
{
    /* unknown keys are ignored at every level */
    CHECK_STR(paths_of(load("{\"anonId\":\"anon-0001\",\"eventType\":\"x\",\"path\":\"/\",\"extra\":[1],"
                            "\"utm\":{\"source\":\"a\",\"gclid\":5},\"traffic\":{\"foo\":null,"
                            "\"webVitals\":{\"fidMs\":\"x\",\"lcpMs\":1}},\"props\":{},\"propertyId\":7}")),
              "");

    /* an empty body: the two required fields (anonId is optional since issue 14) */
    CHECK_STR(paths_of(json_object()), "eventType,path");

    /* every problem, each at its path */
    json_t *body = load("{\"anonId\":\"short\",\"eventType\":\"\",\"path\":5,\"timestamp\":\"yesterday\","
                        "\"referrer\":\"\",\"utm\":{\"source\":1,\"medium\":\"\",\"campaign\":null,"
                        "\"term\":[],\"content\":{}},"
                        "\"traffic\":{\"propertyId\":\"\",\"deviceType\":\"phone\",\"countryCode\":\"CAN\","
                        "\"isEntrance\":\"true\",\"isExit\":1,\"isConversion\":null,\"engagedTimeMs\":-1,"
                        "\"scrollDepthPercent\":101,\"webVitals\":{\"fcpMs\":\"\",\"lcpMs\":120001,"
                        "\"inpMs\":1.5,\"ttfbMs\":true,\"clsScore\":11}},"
                        "\"props\":[],\"honeypot\":1}");
    CHECK_STR(paths_of(body),
              "anonId,eventType,path,timestamp,referrer,utm.source,utm.medium,utm.campaign,"
              "utm.term,utm.content,traffic.propertyId,traffic.deviceType,traffic.countryCode,"
              "traffic.isEntrance,traffic.isExit,traffic.isConversion,traffic.engagedTimeMs,"
              "traffic.scrollDepthPercent,traffic.webVitals.fcpMs,traffic.webVitals.lcpMs,"
              "traffic.webVitals.inpMs,traffic.webVitals.ttfbMs,traffic.webVitals.clsScore,"
              "props,honeypot");
    /* the countryCode cases named in the brief */
    CHECK_STR(paths_of(with("traffic.countryCode", json_string("c1"))), "traffic.countryCode");
    CHECK_STR(paths_of(with("traffic.countryCode", json_string("CAN"))), "traffic.countryCode");
    CHECK_STR(paths_of(with("traffic.webVitals.lcpMs", json_string("x"))), "traffic.webVitals.lcpMs");
    CHECK_STR(paths_of(with("utm.source", json_string(""))), "utm.source");
}

/* ---- event_body_property ---- */

static struct arena prop_arena;

/* The property of a body, valid until the next call. */
static const char *body_property(const char *text)
{
    arena_reset(&prop_arena);
    json_t *b = load(text);
    const char *p = event_body_property(&prop_arena, b);
    json_decref(b);
    return p;
}

static void test_body_property(void)
{
    CHECK_STR(body_property("{\"propertyId\":\"  site-a  \"}"), "site-a");
    CHECK_STR(body_property("{\"traffic\":{\"propertyId\":\"\\u3000site-b \"}}"), "site-b");
    CHECK_STR(body_property("{\"propertyId\":\"a\",\"traffic\":{\"propertyId\":\"b\"}}"), "a");
    /* an invalid propertyId falls through to traffic.propertyId */
    CHECK_STR(body_property("{\"propertyId\":\"   \",\"traffic\":{\"propertyId\":\"b\"}}"), "b");
    CHECK_STR(body_property("{\"propertyId\":5,\"traffic\":{\"propertyId\":\"b\"}}"), "b");
    CHECK_STR(body_property("{\"propertyId\":\"x\\u0000\",\"traffic\":{\"propertyId\":\"b\"}}"), "b");
    CHECK(body_property("{}") == NULL);
    CHECK(body_property("{\"propertyId\":\"\"}") == NULL);
    CHECK(body_property("{\"propertyId\":null}") == NULL);
    CHECK(body_property("{\"traffic\":\"site\"}") == NULL);
    CHECK(body_property("{\"traffic\":{\"propertyId\":[\"a\"]}}") == NULL);
    CHECK(body_property("{\"traffic\":{\"propertyId\":\"\\u0000\"}}") == NULL);
    CHECK(event_body_property(&prop_arena, NULL) == NULL);
    /* both sides of the limit, in code points */
    char *s = rep("{\"propertyId\":\"  ", "\xf0\x9f\x98\x80", EVENT_PROPERTY_ID_MAX, "  \"}");
    const char *p = body_property(s);
    CHECK(p != NULL && strlen(p) == 4 * EVENT_PROPERTY_ID_MAX);
    free(s);
    s = rep("{\"propertyId\":\"", "\xf0\x9f\x98\x80", EVENT_PROPERTY_ID_MAX + 1, "\"}");
    CHECK(body_property(s) == NULL);
    free(s);
    s = rep("{\"propertyId\":\"", "p", EVENT_PROPERTY_ID_MAX + 1, "\",\"traffic\":{\"propertyId\":\"ok\"}}");
    CHECK_STR(body_property(s), "ok");
    free(s);
    s = rep("{\"traffic\":{\"propertyId\":\"", "p", EVENT_PROPERTY_ID_MAX, "\"}}");
    p = body_property(s);
    CHECK(p != NULL && strlen(p) == EVENT_PROPERTY_ID_MAX);
    free(s);
}

/* ---- event_params ---- */

static void test_params_full(void)
{
    struct fx f;
    CHECK_INT(fx_run(&f, load(FULL_BODY), STD_PARAMS, NOW_MS + 5000), 0);
    CHECK_STR(f.p[P_ANON], "anon-12345678");
    CHECK_STR(f.p[P_OCCURRED], "2026-02-14T05:00:00.000"); /* the timestamp, UTC, no zone */
    CHECK_STR(f.p[P_IP_HASH], IP_HASH);
    CHECK_STR(f.p[P_UA_HASH], UA_HASH);
    CHECK_STR(f.p[P_TYPE], "page_view");
    /* stored without query strings (issue 11, item 7) */
    CHECK_STR(f.p[P_PATH], "/pricing");
    CHECK_STR(f.p[P_REFERRER], "https://www.google.com/search");
    CHECK_STR(f.p[P_UTM_SOURCE], "Google");
    CHECK_STR(f.p[P_UTM_MEDIUM], "cpc");
    CHECK_STR(f.p[P_UTM_CAMPAIGN], "spring");
    CHECK_STR(f.p[P_UTM_TERM], "shoes");
    CHECK_STR(f.p[P_UTM_CONTENT], "ad1");
    CHECK_STR(f.p[P_INACTIVITY], "30");
    CHECK(is_uuid(f.p[P_VISITOR_ID]));
    CHECK(is_uuid(f.p[P_SESSION_ID]));
    CHECK(is_uuid(f.p[P_EVENT_ID]));
    CHECK(f.p[P_EVENT_ID] && f.p[P_EVENT_ID][14] == '7'); /* UUIDv7 */
    CHECK(f.p[P_VISITOR_ID] && f.p[P_VISITOR_ID][14] == '4');
    CHECK(f.p[P_VISITOR_ID] && f.p[P_SESSION_ID] && strcmp(f.p[P_VISITOR_ID], f.p[P_SESSION_ID]) != 0);
    CHECK_STR(f.p[P_PROPERTY], "site-a");
    CHECK_STR(f.p[P_SOURCE], "paid_search"); /* medium cpc */
    CHECK_STR(f.p[P_DEVICE], "tablet");      /* given, over the desktop UA */
    CHECK_STR(f.p[P_COUNTRY], "CA");
    CHECK_STR(f.p[P_ENTRANCE], "false"); /* given, over the page_view default */
    CHECK_STR(f.p[P_EXIT], "true");
    CHECK_STR(f.p[P_CONVERSION], "true");
    json_t *props = f.p[P_PROPS] ? load(f.p[P_PROPS]) : NULL;
    char *s = dump(props);
    CHECK_STR(s, "{\"clsScore\":0.25,\"engagedTimeMs\":1500,\"fcpMs\":100,\"inpMs\":100,\"lcpMs\":2500,"
                 "\"n\":[1,2],\"plan\":\"pro\",\"scrollDepthPercent\":75,\"ttfbMs\":0}");
    free(s);
    json_decref(props);

    /* raw IP and raw user agent appear nowhere */
    for (int i = 0; i < INGEST_EVENT_NPARAMS; i++) {
        if (!f.p[i])
            continue;
        CHECK(strstr(f.p[i], IP) == NULL);
        CHECK(strstr(f.p[i], "Firefox") == NULL);
    }

    /* the canonical rendering: prefix + session id + suffix is one JSON array, keys sorted */
    CHECK_STR(f.p[P_PREFIX], "[\"v1\",\"anon-12345678\",");
    CHECK_STR(
        f.p[P_SUFFIX],
        ",\"page_view\",\"/pricing#" PATH_MAC "\",\"2026-02-14T05:00:00.000Z\","
        "\"https://www.google.com/search#" REF_MAC "\","
        "\"" IP_HASH "\",\"" UA_HASH "\","
        "{\"campaign\":\"spring\",\"content\":\"ad1\",\"medium\":\"cpc\",\"source\":\"Google\",\"term\":"
        "\"shoes\"},"
        "{\"countryCode\":\"CA\",\"deviceType\":\"tablet\",\"engagedTimeMs\":1500,\"isConversion\":true,"
        "\"isEntrance\":false,\"isExit\":true,\"propertyId\":\"site-a\",\"scrollDepthPercent\":75,"
        "\"webVitals\":{\"clsScore\":0.25,\"fcpMs\":100,\"inpMs\":100,\"lcpMs\":2500,\"ttfbMs\":0}},"
        "{\"n\":[1,2],\"plan\":\"pro\"}]");
    if (f.p[P_PREFIX] && f.p[P_SUFFIX]) {
        char *whole = rep(f.p[P_PREFIX], "\"00000000-0000-4000-8000-000000000000\"", 1, f.p[P_SUFFIX]);
        json_t *arr = load(whole);
        CHECK(json_is_array(arr));
        CHECK_INT(json_array_size(arr), 12);
        CHECK_STR(json_string_value(json_array_get(arr, 0)), "v1");
        CHECK_STR(json_string_value(json_array_get(arr, 2)), "00000000-0000-4000-8000-000000000000");
        json_decref(arr);
        free(whole);
    }
    fx_free(&f);
}

static void test_params_minimal(void)
{
    struct fx f;
    /* no timestamp: occurred_at is now; no UA: "unknown" is hashed; defaults */
    CHECK_INT(fx_run(&f, base(), PARAMS("REMOTE_ADDR=198.51.100.1", "HTTP_HOST=Api.Example.NET:8443"),
                     NOW_MS + 1234),
              0);
    CHECK_STR(f.p[P_OCCURRED], "2026-02-14T05:00:01.234");
    CHECK_STR(f.p[P_IP_HASH], IP2_HASH);
    CHECK_STR(f.p[P_UA_HASH], UNKNOWN_HASH);
    CHECK(is_hex64(f.p[P_IP_HASH]) && is_hex64(f.p[P_UA_HASH]));
    CHECK(f.p[P_REFERRER] == NULL);
    for (int i = P_UTM_SOURCE; i <= P_UTM_CONTENT; i++)
        CHECK(f.p[i] == NULL);
    CHECK(f.p[P_PROPS] == NULL);
    CHECK(f.p[P_COUNTRY] == NULL);
    CHECK_STR(f.p[P_PROPERTY], "api.example.net"); /* no Origin: the Host header, normalised */
    CHECK_STR(f.p[P_SOURCE], "direct");
    CHECK_STR(f.p[P_DEVICE], "desktop");
    CHECK_STR(f.p[P_ENTRANCE], "true"); /* page_view */
    CHECK_STR(f.p[P_EXIT], "false");
    CHECK_STR(f.p[P_CONVERSION], "false");
    CHECK_STR(f.p[P_PREFIX], "[\"v1\",\"anon-0001\",");
    CHECK_STR(f.p[P_SUFFIX], ",\"page_view\",\"/\",\"bucket:59034840\",null,\"" IP2_HASH "\",\"" UNKNOWN_HASH
                             "\",null,null,null]");
    /* every non-nullable parameter is set */
    for (int i = 0; i < INGEST_EVENT_NPARAMS; i++) {
        bool nullable = (i >= P_REFERRER && i <= P_UTM_CONTENT) || i == P_PROPS || i == P_COUNTRY;
        if (!nullable)
            CHECK(f.p[i] != NULL);
    }
    fx_free(&f);

    /* no REMOTE_ADDR: the address is "unknown", still hashed */
    CHECK_INT(fx_run(&f, base(), PARAMS("HTTP_USER_AGENT=" UA), NOW_MS), 0);
    CHECK_STR(f.p[P_IP_HASH], UNKNOWN_HASH);
    CHECK_STR(f.p[P_UA_HASH], UA_HASH);
    CHECK_STR(f.p[P_PROPERTY], "unknown"); /* no Origin, no Host */
    fx_free(&f);
}

static void test_params_defaults(void)
{
    static const struct {
        const char *body, *entrance, *exit, *conversion;
    } cases[] = {
        {"{\"anonId\":\"anon-0001\",\"eventType\":\"page_view\",\"path\":\"/\"}", "true", "false", "false"},
        {"{\"anonId\":\"anon-0001\",\"eventType\":\" page_view \",\"path\":\"/\"}", "true", "false", "false"},
        {"{\"anonId\":\"anon-0001\",\"eventType\":\"Page_View\",\"path\":\"/\"}", "false", "false", "false"},
        {"{\"anonId\":\"anon-0001\",\"eventType\":\"form_submit\",\"path\":\"/\"}", "false", "false", "true"},
        {"{\"anonId\":\"anon-0001\",\"eventType\":\"form_start\",\"path\":\"/\"}", "false", "false", "false"},
        {"{\"anonId\":\"anon-0001\",\"eventType\":\"click\",\"path\":\"/\"}", "false", "false", "false"},
        {"{\"anonId\":\"anon-0001\",\"eventType\":\"page_view\",\"path\":\"/"
         "\",\"traffic\":{\"isEntrance\":false,"
         "\"isExit\":true}}",
         "false", "true", "false"},
        {"{\"anonId\":\"anon-0001\",\"eventType\":\"form_submit\",\"path\":\"/"
         "\",\"traffic\":{\"isConversion\":false,"
         "\"isEntrance\":true}}",
         "true", "false", "false"},
        {"{\"anonId\":\"anon-0001\",\"eventType\":\"click\",\"path\":\"/"
         "\",\"traffic\":{\"isConversion\":true,"
         "\"isExit\":false}}",
         "false", "false", "true"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct fx f;
        CHECK_INT(fx_run(&f, load(cases[i].body), STD_PARAMS, NOW_MS), 0);
        CHECK_STR(f.p[P_ENTRANCE], cases[i].entrance);
        CHECK_STR(f.p[P_EXIT], cases[i].exit);
        CHECK_STR(f.p[P_CONVERSION], cases[i].conversion);
        fx_free(&f);
    }
}

static const char *property_for(json_t *body, const char *const *params)
{
    static char out[1024];
    struct fx f;
    snprintf(out, sizeof(out), "(failed)");
    if (fx_run(&f, body, params, NOW_MS) == 0 && f.p[P_PROPERTY])
        snprintf(out, sizeof(out), "%s", f.p[P_PROPERTY]);
    fx_free(&f);
    return out;
}

static void test_params_property_and_source(void)
{
    /* traffic.propertyId, else the Origin host, else the Host, else "unknown" */
    CHECK_STR(property_for(with("traffic.propertyId", json_string(" my-site ")), STD_PARAMS), "my-site");
    CHECK_STR(property_for(base(), STD_PARAMS), "shop.example");
    CHECK_STR(property_for(base(), PARAMS("HTTP_ORIGIN=http://localhost:3000", "HTTP_HOST=api.example.net")),
              "localhost");
    CHECK_STR(property_for(base(), PARAMS("HTTP_HOST=www.api.example.net")), "api.example.net");
    CHECK_STR(property_for(base(), PARAMS("HTTP_ORIGIN=", "HTTP_HOST=api.example.net")), "api.example.net");
    CHECK_STR(property_for(base(), PARAMS("HTTP_ORIGIN=https://", "HTTP_HOST=api.example.net")),
              "api.example.net");
    CHECK_STR(property_for(base(), PARAMS("REMOTE_ADDR=" IP)), "unknown");
    /* the opaque origin of sandboxed frames has no host; a header that is not UTF-8 counts as absent */
    CHECK_STR(property_for(base(), PARAMS("HTTP_ORIGIN=null", "HTTP_HOST=api.example.net")),
              "api.example.net");
    CHECK_STR(
        property_for(base(), PARAMS("HTTP_ORIGIN=https://ev\xffil.example", "HTTP_HOST=api.example.net")),
        "api.example.net");
    CHECK_STR(property_for(base(), PARAMS("HTTP_HOST=")), "unknown");
    /* a host longer than a property id may be is not used */
    char *h = rep("HTTP_HOST=", "h", EVENT_PROPERTY_ID_MAX, "");
    char *h2 = rep("HTTP_HOST=", "h", EVENT_PROPERTY_ID_MAX + 1, "");
    const char *got = property_for(base(), PARAMS(h));
    CHECK_INT(strlen(got), EVENT_PROPERTY_ID_MAX);
    CHECK_STR(property_for(base(), PARAMS(h2)), "unknown");
    free(h);
    free(h2);

    /* traffic source: the site host is the Origin's (never traffic.propertyId) */
    struct fx f;
    CHECK_INT(fx_run(&f, with("referrer", json_string("https://shop.example/cart")), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_SOURCE], "internal");
    fx_free(&f);
    json_t *b = with("referrer", json_string("https://site-a/x"));
    set_dotted(b, "traffic.propertyId", json_string("site-a"));
    CHECK_INT(fx_run(&f, b, STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_SOURCE], "referral");
    fx_free(&f);
    CHECK_INT(fx_run(&f, with("referrer", json_string("https://api.example.net/")),
                     PARAMS("HTTP_HOST=api.example.net"), NOW_MS),
              0);
    CHECK_STR(f.p[P_SOURCE], "internal");
    fx_free(&f);
    CHECK_INT(fx_run(&f, with("referrer", json_string("https://m.facebook.com/")), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_SOURCE], "social");
    fx_free(&f);
    CHECK_INT(fx_run(&f, with("referrer", json_string("not a url")), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_SOURCE], "direct");
    CHECK_STR(f.p[P_REFERRER], "not a url"); /* stored as sent */
    fx_free(&f);
    b = with("utm.source", json_string("newsletter"));
    set_dotted(b, "referrer", json_string("https://www.google.com/"));
    CHECK_INT(fx_run(&f, b, STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_SOURCE], "campaign");
    fx_free(&f);
    CHECK_INT(fx_run(&f, with("utm.medium", json_string("Newsletter-Email")), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_SOURCE], "email");
    CHECK_STR(f.p[P_UTM_MEDIUM], "Newsletter-Email"); /* stored as sent (trimmed) */
    fx_free(&f);

    /* device type from the user agent when not given */
    CHECK_INT(
        fx_run(&f, base(),
               PARAMS("HTTP_USER_AGENT=Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"),
               NOW_MS),
        0);
    CHECK_STR(f.p[P_DEVICE], "mobile");
    fx_free(&f);
    CHECK_INT(fx_run(&f, with("traffic.deviceType", json_string("bot")), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_DEVICE], "bot");
    fx_free(&f);
    CHECK_INT(fx_run(&f, with("traffic.deviceType", json_string("unknown")), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_DEVICE], "unknown");
    fx_free(&f);
}

static const char *props_for(json_t *body)
{
    static char out[1024];
    struct fx f;
    snprintf(out, sizeof(out), "(failed)");
    if (fx_run(&f, body, STD_PARAMS, NOW_MS) == 0) {
        if (f.p[P_PROPS]) {
            json_t *j = load(f.p[P_PROPS]);
            char *s = dump(j);
            snprintf(out, sizeof(out), "%s", s);
            free(s);
            json_decref(j);
        } else {
            snprintf(out, sizeof(out), "NULL");
        }
    }
    fx_free(&f);
    return out;
}

static void test_params_props(void)
{
    /* neither: NULL; empty props and no metrics: NULL */
    CHECK_STR(props_for(base()), "NULL");
    CHECK_STR(props_for(with("props", json_object())), "NULL");
    CHECK_STR(props_for(with("traffic.propertyId", json_string("x"))), "NULL");
    CHECK_STR(props_for(with("traffic.webVitals", json_object())), "NULL");
    json_t *b = with("props", json_object());
    set_dotted(b, "traffic.countryCode", json_string("ca"));
    CHECK_STR(props_for(b), "NULL");
    /* props only */
    CHECK_STR(props_for(with("props", load("{\"a\":1,\"b\":{\"c\":[true]}}"))),
              "{\"a\":1,\"b\":{\"c\":[true]}}");
    /* metrics only: each is copied, coerced */
    CHECK_STR(props_for(with("traffic.scrollDepthPercent", json_string("50"))),
              "{\"scrollDepthPercent\":50}");
    CHECK_STR(props_for(with("traffic.engagedTimeMs", json_integer(0))), "{\"engagedTimeMs\":0}");
    CHECK_STR(props_for(with("traffic.webVitals.ttfbMs", json_string("1e2"))), "{\"ttfbMs\":100}");
    CHECK_STR(props_for(with("traffic.webVitals.clsScore", json_string("0.5"))), "{\"clsScore\":0.5}");
    /* merged, traffic winning on a clash */
    b = with("props", load("{\"engagedTimeMs\":1,\"lcpMs\":\"slow\",\"a\":\"b\",\"clsScore\":null}"));
    set_dotted(b, "traffic.engagedTimeMs", json_string("65"));
    set_dotted(b, "traffic.webVitals.lcpMs", json_integer(2500));
    set_dotted(b, "traffic.webVitals.clsScore", json_real(0.125));
    CHECK_STR(props_for(b), "{\"a\":\"b\",\"clsScore\":0.125,\"engagedTimeMs\":65,\"lcpMs\":2500}");
    /* the body's props object itself is left as sent (the merge works on a copy) */
    b = with("props", load("{\"scrollDepthPercent\":1}"));
    set_dotted(b, "traffic.scrollDepthPercent", json_integer(90));
    struct fx f;
    CHECK_INT(fx_run(&f, b, STD_PARAMS, NOW_MS), 0);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(f.body, "props"), "scrollDepthPercent")), 1);
    /* and the canonical rendering holds the body's props, not the merged ones */
    CHECK(f.p[P_SUFFIX] && strstr(f.p[P_SUFFIX], "{\"scrollDepthPercent\":1}]") != NULL);
    fx_free(&f);
}

/* prefix "|" suffix of body (stolen) for params at now_ms; malloc'd. */
static char *canon(json_t *body, const char *const *params, int64_t now_ms)
{
    struct fx f;
    char *out;
    if (fx_run(&f, body, params, now_ms) == 0)
        out = rep(f.p[P_PREFIX], "|", 1, f.p[P_SUFFIX]);
    else
        out = strdup("(failed)");
    fx_free(&f);
    return out;
}

static void test_canonical(void)
{
    /* key order does not matter, at any level */
    static const char *const a = "{\"anonId\":\"anon-0001\",\"eventType\":\"page_view\",\"path\":\"/a\","
                                 "\"utm\":{\"source\":\"s\",\"medium\":\"m\"},"
                                 "\"traffic\":{\"propertyId\":\"p\",\"webVitals\":{\"lcpMs\":1,\"fcpMs\":2},"
                                 "\"isExit\":true},"
                                 "\"props\":{\"b\":1,\"a\":{\"y\":2,\"x\":[{\"q\":1,\"p\":2}]}}}";
    static const char *const b = "{\"props\":{\"a\":{\"x\":[{\"p\":2,\"q\":1}],\"y\":2},\"b\":1},"
                                 "\"traffic\":{\"isExit\":true,\"webVitals\":{\"fcpMs\":2,\"lcpMs\":1},"
                                 "\"propertyId\":\"p\"},"
                                 "\"utm\":{\"medium\":\"m\",\"source\":\"s\"},"
                                 "\"path\":\"/a\",\"eventType\":\"page_view\",\"anonId\":\"anon-0001\"}";
    char *ca = canon(load(a), STD_PARAMS, NOW_MS);
    char *cb = canon(load(b), STD_PARAMS, NOW_MS);
    CHECK_STR(ca, cb);
    CHECK(strcmp(ca, "(failed)") != 0);
    /* nor do unknown keys, surrounding spaces, or the spelling of a coerced number */
    char *cc =
        canon(load("{\"x\":1,\"anonId\":\" anon-0001 \",\"eventType\":\"page_view \",\"path\":\"\\u00a0/a\","
                   "\"utm\":{\"gclid\":\"z\",\"source\":\" s\",\"medium\":\"m \"},"
                   "\"traffic\":{\"propertyId\":\" p\",\"webVitals\":{\"lcpMs\":\"1\",\"fcpMs\":\" 2.0 \","
                   "\"fidMs\":9},\"isExit\":true,\"other\":1},"
                   "\"props\":{\"b\":1,\"a\":{\"y\":2,\"x\":[{\"q\":1,\"p\":2}]}}}"),
              STD_PARAMS, NOW_MS);
    CHECK_STR(cc, ca);
    free(cb);
    free(cc);
    /* the same body at another moment of the same bucket, from another Origin */
    cb = canon(load(a), STD_PARAMS, NOW_MS + EVENT_DEDUPE_BUCKET_MS - 1);
    CHECK_STR(cb, ca);
    free(cb);
    cb = canon(
        load(a),
        PARAMS("REMOTE_ADDR=" IP, "HTTP_USER_AGENT=" UA, "HTTP_ORIGIN=https://other.example", "HTTP_HOST=x"),
        NOW_MS);
    CHECK_STR(cb, ca);
    free(cb);

    /* any difference in a rendered field changes it */
    static const struct {
        const char *field;
        const char *json; /* a JSON value */
    } changes[] = {
        {"anonId", "\"anon-0002\""},
        {"eventType", "\"page_viewx\""},
        {"path", "\"/b\""},
        {"path", "\"/A\""},
        {"timestamp", "\"2026-02-14T04:00:00Z\""},
        {"referrer", "\"https://example.com/\""},
        {"utm.source", "\"s2\""},
        {"utm.medium", "\"M\""},
        {"utm.campaign", "\"c\""},
        {"utm.term", "\"t\""},
        {"utm.content", "\"c\""},
        {"traffic.propertyId", "\"p2\""},
        {"traffic.deviceType", "\"mobile\""},
        {"traffic.countryCode", "\"CA\""},
        {"traffic.isEntrance", "true"},
        {"traffic.isExit", "false"},
        {"traffic.isConversion", "false"},
        {"traffic.engagedTimeMs", "1"},
        {"traffic.scrollDepthPercent", "1"},
        {"traffic.webVitals.fcpMs", "3"},
        {"traffic.webVitals.lcpMs", "2"},
        {"traffic.webVitals.inpMs", "0"},
        {"traffic.webVitals.ttfbMs", "0"},
        {"traffic.webVitals.clsScore", "0"},
        {"props.b", "2"},
        {"props.b", "\"1\""},
        {"props.c", "1"},
        {"props.a.y", "null"},
    };
    for (size_t i = 0; i < ARRAY_LEN(changes); i++) {
        json_t *v = json_loads(changes[i].json, JSON_DECODE_ANY, NULL);
        char *cx = canon(set_dotted(load(a), changes[i].field, v), STD_PARAMS, NOW_MS);
        if (strcmp(cx, ca) == 0 || strcmp(cx, "(failed)") == 0)
            fprintf(stderr, "canonical unchanged by %s=%s\n", changes[i].field, changes[i].json);
        CHECK(strcmp(cx, ca) != 0);
        CHECK(strcmp(cx, "(failed)") != 0);
        free(cx);
    }
    /* an empty utm object differs from none; an empty props object from none */
    char *c1 = canon(base(), STD_PARAMS, NOW_MS);
    char *c2 = canon(with("utm", json_object()), STD_PARAMS, NOW_MS);
    CHECK(strcmp(c1, c2) != 0);
    free(c2);
    c2 = canon(with("props", json_object()), STD_PARAMS, NOW_MS);
    CHECK(strcmp(c1, c2) != 0);
    free(c2);
    c2 = canon(without(load(a), "utm.medium"), STD_PARAMS, NOW_MS);
    CHECK(strcmp(ca, c2) != 0);
    free(c2);
    /* the client: IP and user agent (hashed) */
    c2 = canon(base(), PARAMS("REMOTE_ADDR=198.51.100.1", "HTTP_USER_AGENT=" UA), NOW_MS);
    char *c3 = canon(base(), PARAMS("REMOTE_ADDR=" IP, "HTTP_USER_AGENT=" UA), NOW_MS);
    char *c4 = canon(base(), PARAMS("REMOTE_ADDR=" IP, "HTTP_USER_AGENT=curl/8"), NOW_MS);
    CHECK(strcmp(c2, c3) != 0);
    CHECK(strcmp(c3, c4) != 0);
    CHECK(strcmp(c1, c3) == 0); /* STD_PARAMS has the same IP and UA; Origin does not count */
    free(c1);
    free(c2);
    free(c3);
    free(c4);
    free(ca);
}

/* Reals in props keep their value: stored props are "the body's props" (API.md §3, step 4), and two
 * events whose props differ are two events, not one deduplicated. A double needs up to 17
 * significant digits to round-trip; 15 are not enough (1771045200.123456 has 16). */
/* Stored paths and referrers lose their query strings (PATH_QUERY_ALLOWLIST keeps named keys);
 * the dedupe rendering tells different queries apart without holding them (issue 11, item 7). */
static void test_params_strip(void)
{
    struct fx f, g;
    json_t *b = with("path", json_string("/x?email=zed@example.com#top"));
    set_dotted(b, "referrer", json_string("https://zed:pw@mail.example/inbox?to=zed@example.com"));
    CHECK_INT(fx_run(&f, b, STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_PATH], "/x");
    CHECK_STR(f.p[P_REFERRER], "https://mail.example/inbox");
    CHECK_STR(f.p[P_SOURCE], "referral"); /* from the referrer as sent */
    for (int i = 0; i < INGEST_EVENT_NPARAMS; i++)
        CHECK(!f.p[i] || (!strstr(f.p[i], "zed") && !strstr(f.p[i], "example.com")));
    /* another query: another rendering; the same query: the same one */
    CHECK_INT(fx_run(&g, with("path", json_string("/x?email=amy@example.com#top")), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(g.p[P_PATH], "/x");
    CHECK(f.p[P_SUFFIX] && g.p[P_SUFFIX] && strstr(f.p[P_SUFFIX], "\"/x#") && strstr(g.p[P_SUFFIX], "\"/x#"));
    char *fs = strdup(f.p[P_SUFFIX] ? f.p[P_SUFFIX] : "");
    fx_free(&f);
    CHECK(strcmp(fs, g.p[P_SUFFIX] ? g.p[P_SUFFIX] : "") != 0);
    fx_free(&g);
    b = with("path", json_string("/x?email=zed@example.com#top"));
    set_dotted(b, "referrer", json_string("https://zed:pw@mail.example/inbox?to=zed@example.com"));
    CHECK_INT(fx_run(&f, b, STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_SUFFIX], fs);
    fx_free(&f);
    free(fs);
    /* without a query the rendering holds the path as before */
    CHECK_INT(fx_run(&f, with("path", json_string("/plain")), STD_PARAMS, NOW_MS), 0);
    CHECK(f.p[P_SUFFIX] && strstr(f.p[P_SUFFIX], ",\"/plain\",") != NULL);
    fx_free(&f);
    /* the allow-list keeps its keys */
    char k_page[] = "page";
    cfg.path_query_keys[0] = k_page;
    cfg.path_query_key_count = 1;
    CHECK_INT(fx_run(&f, with("path", json_string("/list?email=zed@example.com&page=2")), STD_PARAMS, NOW_MS),
              0);
    CHECK_STR(f.p[P_PATH], "/list?page=2");
    fx_free(&f);
    cfg.path_query_key_count = 0;
    cfg.path_query_keys[0] = NULL;
}

/* The cookieless visitor id (issue 14): "ck:" + BLAKE2b-128 keyed with the day's salt over the
 * length-prefixed site host, client address and user agent. The expected values were computed
 * independently with Python's hashlib.blake2b(key=salt, digest_size=16). */
static void test_cookieless_id(void)
{
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    unsigned char salt[SALT_BYTES], other[SALT_BYTES];
    for (int i = 0; i < SALT_BYTES; i++) {
        salt[i] = (unsigned char)i;
        other[i] = (unsigned char)(i + 1);
    }
    struct event_client cl = {STRLIT("203.0.113.7"), STRLIT("UA/1"), STRLIT("https://www.Example.com"),
                              STRLIT("api.example.net")};
    struct str id = {NULL, 0}, id2 = {NULL, 0};
    CHECK_INT(event_cookieless_id(&a, salt, &cl, &id), 0);
    CHECK_INT(id.n, COOKIELESS_ID_LEN);
    CHECK_STR(id.p, "ck:edaa405725272a5120e92a7424add0e6");
    /* the site host is the normalised Origin, else Host: the same site by Host gives the same id */
    struct event_client by_host = {
        STRLIT("203.0.113.7"), STRLIT("UA/1"), {NULL, 0}, STRLIT("example.com:443")};
    CHECK_INT(event_cookieless_id(&a, salt, &by_host, &id2), 0);
    CHECK_STR(id2.p, id.p);
    /* no user agent hashes as an empty one */
    struct event_client no_ua = {STRLIT("203.0.113.7"), {NULL, 0}, STRLIT("https://example.com"), {NULL, 0}};
    CHECK_INT(event_cookieless_id(&a, salt, &no_ua, &id2), 0);
    CHECK_STR(id2.p, "ck:3538f0b91764db4c106a210213510872");
    /* another day's salt, address, agent or site: another id */
    CHECK_INT(event_cookieless_id(&a, other, &cl, &id2), 0);
    CHECK(strcmp(id2.p, id.p) != 0);
    struct event_client v[] = {
        {STRLIT("203.0.113.8"), STRLIT("UA/1"), STRLIT("https://example.com"), {NULL, 0}},
        {STRLIT("203.0.113.7"), STRLIT("UA/2"), STRLIT("https://example.com"), {NULL, 0}},
        {STRLIT("203.0.113.7"), STRLIT("UA/1"), STRLIT("https://example.org"), {NULL, 0}},
        /* the fields are length-prefixed: moving bytes between them changes the id */
        {STRLIT("203.0.113.7U"), STRLIT("A/1"), STRLIT("https://example.com"), {NULL, 0}},
    };
    for (size_t i = 0; i < ARRAY_LEN(v); i++) {
        CHECK_INT(event_cookieless_id(&a, salt, &v[i], &id2), 0);
        CHECK(strcmp(id2.p, id.p) != 0);
    }
    /* it fits anonId's limits */
    CHECK(id.n >= EVENT_ANON_ID_MIN && id.n <= EVENT_ANON_ID_MAX);
    arena_free(&a);

    /* a full arena: -1, *out untouched */
    struct arena tiny;
    arena_init(&tiny, 0);
    struct str untouched = STRLIT("x");
    CHECK_INT(event_cookieless_id(&tiny, salt, &cl, &untouched), -1);
    CHECK_STR(untouched.p, "x");
    arena_free(&tiny);
}

/* anonId since issue 14: absent or null is no issue (cookieless); "" and short ids stay 400s. */
static void test_anon_id_optional(void)
{
    static const struct {
        const char *json;
        int issues;
        const char *want; /* NULL: absent */
    } cases[] = {
        {"{}", 0, NULL},
        {"{\"anonId\": null}", 0, NULL},
        {"{\"anonId\": \"\"}", 1, NULL},
        {"{\"anonId\": \"short\"}", 1, NULL},
        {"{\"anonId\": 12345678}", 1, NULL},
        {"{\"anonId\": \"  visitor-1  \"}", 0, "visitor-1"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_t *b = json_loads(cases[i].json, 0, NULL);
        struct issues is;
        issues_init(&is);
        struct str out;
        (void)event_parse_anon_id(b, &is, &out);
        CHECK_INT(is.n, cases[i].issues);
        if (cases[i].want) {
            CHECK(out.p && out.n == strlen(cases[i].want) && memcmp(out.p, cases[i].want, out.n) == 0);
        } else {
            CHECK(out.p == NULL);
        }
        issues_free(&is);
        json_decref(b);
    }
}

/* The client's eventId: a UUID or a 400 on eventId; it alone (with the anonId) is the dedupe key, so
 * a retry in another bucket, session or with another body finds the first event (issue 11, item 10). */
static void test_client_event_id(void)
{
    const char *id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    CHECK_STR(paths_of(with("eventId", json_string(id))), "");
    CHECK_STR(paths_of(with("eventId", json_string(" 0F8FAD5B-D9CB-469F-A165-70867728950E "))), "");
    CHECK_STR(paths_of(with("eventId", json_string("00000000-0000-0000-0000-000000000000"))), "");
    static const char *const bad[] = {"",
                                      "x",
                                      "0f8fad5b-d9cb-469f-a165-70867728950",
                                      "0f8fad5b-d9cb-469f-a165-70867728950e0",
                                      "0f8fad5bd9cb469fa16570867728950e",
                                      "0f8fad5b-d9cb-469f-a165_70867728950e",
                                      "0f8fad5b-d9cb-469f-a165-70867728950g",
                                      "{0f8fad5b-d9cb-469f-a165-70867728950e}"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_STR(paths_of(with("eventId", json_string(bad[i]))), "eventId");
    CHECK_STR(paths_of(with("eventId", json_integer(5))), "eventId");
    CHECK_STR(paths_of(with("eventId", json_null())), "eventId");

    struct fx f, g;
    CHECK_INT(fx_run(&f, with("eventId", json_string(id)), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_PREFIX], "[\"v1-eventId\",\"anon-0001\",\"0f8fad5b-d9cb-469f-a165-70867728950e\"]");
    CHECK(f.p[P_SUFFIX] == NULL);
    CHECK(is_uuid(f.p[P_EVENT_ID]) && strcmp(f.p[P_EVENT_ID], id) != 0); /* the row's id is the server's */
    /* another time, path and case: the same key */
    json_t *b = with("eventId", json_string("0F8FAD5B-D9CB-469F-A165-70867728950E"));
    set_dotted(b, "path", json_string("/elsewhere"));
    CHECK_INT(fx_run(&g, b, STD_PARAMS, NOW_MS + 10 * EVENT_DEDUPE_BUCKET_MS), 0);
    CHECK_STR(g.p[P_PREFIX], f.p[P_PREFIX]);
    CHECK(g.p[P_SUFFIX] == NULL);
    fx_free(&g);
    fx_free(&f);
    /* another anonId: another key */
    b = with("eventId", json_string(id));
    set_dotted(b, "anonId", json_string("anon-0002"));
    CHECK_INT(fx_run(&g, b, STD_PARAMS, NOW_MS), 0);
    CHECK_STR(g.p[P_PREFIX], "[\"v1-eventId\",\"anon-0002\",\"0f8fad5b-d9cb-469f-a165-70867728950e\"]");
    fx_free(&g);
    /* a capture's own fields go last into the rendering; events without them keep their keys */
    CHECK_INT(fx_run(&f, base(), STD_PARAMS, NOW_MS), 0);
    char *plain = strdup(f.p[P_SUFFIX] ? f.p[P_SUFFIX] : "");
    f.ev.dedupe_extra = STRLIT("c0ffee");
    CHECK_INT(fx_params(&f, NOW_MS), 0);
    size_t pn = strlen(plain);
    CHECK(f.p[P_SUFFIX] && strncmp(f.p[P_SUFFIX], plain, pn - 1) == 0 &&
          strcmp(f.p[P_SUFFIX] + pn - 1, ",\"c0ffee\"]") == 0);
    free(plain);
    fx_free(&f);
    /* no eventId: the rendering of API.md §3 */
    CHECK_INT(fx_run(&f, base(), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_PREFIX], "[\"v1\",\"anon-0001\",");
    CHECK(f.p[P_SUFFIX] != NULL);
    fx_free(&f);
}

static void test_props_precision(void)
{
    static const double reals[] = {1771045200.123456, 0.30000000000000004, 123456.78901234567, 0.1, 2.5};
    for (size_t i = 0; i < ARRAY_LEN(reals); i++) {
        struct fx f;
        CHECK_INT(fx_run(&f, with("props", json_pack("{s:f}", "t", reals[i])), STD_PARAMS, NOW_MS), 0);
        json_t *stored = f.p[P_PROPS] ? load(f.p[P_PROPS]) : NULL;
        double got = json_number_value(json_object_get(stored, "t"));
        if (got != reals[i])
            fprintf(stderr, "props real %.17g stored as %s\n", reals[i],
                    f.p[P_PROPS] ? f.p[P_PROPS] : "NULL");
        CHECK(got == reals[i]);
        json_decref(stored);
        fx_free(&f);
    }
    char *a = canon(with("props", load("{\"t\":1771045200.123456}")), STD_PARAMS, NOW_MS);
    char *b = canon(with("props", load("{\"t\":1771045200.123459}")), STD_PARAMS, NOW_MS);
    if (strcmp(a, b) == 0)
        fprintf(stderr, "distinct props reals render alike: %s\n", a);
    CHECK(strcmp(a, b) != 0);
    free(a);
    free(b);
}

static void test_time_token(void)
{
    /* no timestamp: the 30-second bucket of now */
    int64_t start = NOW_MS; /* a bucket boundary */
    CHECK_INT(start % EVENT_DEDUPE_BUCKET_MS, 0);
    char *a = canon(base(), STD_PARAMS, start);
    char *b = canon(base(), STD_PARAMS, start + EVENT_DEDUPE_BUCKET_MS - 1);
    char *c = canon(base(), STD_PARAMS, start + EVENT_DEDUPE_BUCKET_MS);
    char *d = canon(base(), STD_PARAMS, start - 1);
    CHECK_STR(a, b);
    CHECK(strcmp(a, c) != 0);
    CHECK(strcmp(a, d) != 0);
    CHECK(strstr(a, "\"bucket:59034840\"") != NULL);
    CHECK(strstr(c, "\"bucket:59034841\"") != NULL);
    CHECK(strstr(d, "\"bucket:59034839\"") != NULL);
    free(a);
    free(b);
    free(c);
    free(d);

    /* a timestamp: the token is the timestamp, whatever now is */
    a = canon(with("timestamp", json_string("2026-02-14T04:00:00+00:00")), STD_PARAMS, NOW_MS);
    b = canon(with("timestamp", json_integer(NOW_MS - 3600000)), STD_PARAMS,
              NOW_MS + 10 * EVENT_DEDUPE_BUCKET_MS);
    c = canon(with("timestamp", json_string("2026-02-14T04:00:00.001Z")), STD_PARAMS, NOW_MS);
    d = canon(base(), STD_PARAMS, NOW_MS - 3600000);
    CHECK_STR(a, b);
    CHECK(strstr(a, "\"2026-02-14T04:00:00.000Z\"") != NULL);
    CHECK(strcmp(a, c) != 0);
    CHECK(strcmp(a, d) != 0); /* a timestamp is not a bucket, even of the same moment */
    free(a);
    free(b);
    free(c);
    free(d);

    /* occurred_at follows the timestamp, else now */
    struct fx f;
    CHECK_INT(fx_run(&f, with("timestamp", json_integer(1709210096789LL)), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_OCCURRED], "2024-02-29T12:34:56.789");
    fx_free(&f);
    CHECK_INT(fx_run(&f, with("timestamp", json_null()), STD_PARAMS, NOW_MS + 29999), 0);
    CHECK_STR(f.p[P_OCCURRED], "2026-02-14T05:00:29.999");
    fx_free(&f);
}

static void test_params_ids_and_arena(void)
{
    /* fresh ids on every call */
    struct fx f, g;
    CHECK_INT(fx_run(&f, base(), STD_PARAMS, NOW_MS), 0);
    CHECK_INT(fx_run(&g, base(), STD_PARAMS, NOW_MS), 0);
    for (int i = P_VISITOR_ID; i <= P_EVENT_ID; i++)
        CHECK(f.p[i] && g.p[i] && strcmp(f.p[i], g.p[i]) != 0);
    CHECK_STR(f.p[P_PREFIX], g.p[P_PREFIX]);
    CHECK_STR(f.p[P_SUFFIX], g.p[P_SUFFIX]);
    fx_free(&f);
    fx_free(&g);

    /* the inactivity setting is passed through */
    cfg.session_inactivity_minutes = 45;
    CHECK_INT(fx_run(&f, base(), STD_PARAMS, NOW_MS), 0);
    CHECK_STR(f.p[P_INACTIVITY], "45");
    fx_free(&f);
    cfg.session_inactivity_minutes = 30;

    /* a full arena: -1, nothing leaks (valgrind), at every point of the way */
    char *path = rep("/", "p", EVENT_PATH_MAX - 1, "");
    for (size_t room = 0; room < 40000; room += 97) {
        memset(&f, 0, sizeof(f));
        f.body = load(FULL_BODY);
        set_dotted(f.body, "path", json_string(path));
        issues_init(&f.is);
        event_parse(f.body, NOW_MS, &f.is, &f.ev);
        CHECK(!issues_any(&f.is));
        fx_request(&f, STD_PARAMS);
        /* one block of the cap, almost filled */
        arena_init(&f.arena, ARENA_BLOCK_BYTES);
        void *fill = arena_alloc(&f.arena, ARENA_BLOCK_BYTES - room - 16);
        CHECK(fill != NULL);
        int rc = fx_params(&f, NOW_MS);
        if (room < 2048)
            CHECK_INT(rc, -1);
        else if (room >= 36000)
            CHECK_INT(rc, 0);
        CHECK(rc == 0 || rc == -1);
        fx_free(&f);
    }
    free(path);
}

int main(void)
{
    if (hash_init() != 0) {
        fprintf(stderr, "hash_init failed\n");
        return 1;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.ip_hash_pepper = PEPPER;
    cfg.ip_hash_pepper_len = strlen(PEPPER);
    cfg.session_inactivity_minutes = 30;

    test_parse_full();
    test_string_limits();
    test_path_bytes();
    test_number_limits();
    test_other_fields();
    test_props_metrics();
    test_unknown_keys_and_all_issues();
    arena_init(&prop_arena, ARENA_MAX_BYTES);
    test_body_property();
    arena_free(&prop_arena);
    test_params_full();
    test_params_minimal();
    test_params_defaults();
    test_params_property_and_source();
    test_params_props();
    test_canonical();
    test_props_precision();
    test_params_strip();
    test_client_event_id();
    test_time_token();
    test_params_ids_and_arena();
    test_cookieless_id();
    test_anon_id_optional();
    return t_done("test_event");
}
