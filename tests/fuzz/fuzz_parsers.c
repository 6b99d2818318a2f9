/* fuzz_parsers.c - the pure parsers and rules one at a time, each against a property or an
 * independent oracle.
 *
 * Input: byte 0 picks the target (the letter, or any other byte modulo the number of targets),
 * the rest is its input:
 *   i  v_parse_iso8601     accepted: a real instant that formats and parses back to itself
 *   n  v_parse_decimal     accepted: the grammar's characters only, finite, strtod's value
 *   d  v_parse_date        accepted: v_format_date gives back exactly the input
 *   t  v_trim/v_codepoints on valid UTF-8 only: a valid, idempotent, inner slice whose ends are
 *                          no white space; v_codepoints agrees with a decoding count
 *   h  enrich_normalize_host, enrich_referrer_host, enrich_device_type, enrich_bot_reason, the host lists
 *   s  enrich_traffic_source  input "source\nmedium\nreferrer\nsite host", one of the labels
 *   e  lead_email_valid    against the same rule as a POSIX regular expression
 *   r  lead_redirect_location  input "path\norigin": a same-site target
 *   f  body_parse_form     the object re-encoded parses back to itself
 *   j  jsonout_dump        dump -> parse is json_equal to json_loadb(input) (numbers as doubles),
 *                          and the sorted rendering is a fixed point
 *   J  jsonout_dump        the same with integers kept as integers (numbers compared by value)
 *   m  body_parse_multipart  input "boundary\nbody": fields are strings as for f; an accepted
 *                          body re-encoded (quoted names) parses back to the same object
 *   u  unsub_token_verify  under a fixed key: an accepted token is exactly what unsub_token_make
 *                          gives for its id and time (one encoding per token); the input as a lead
 *                          id round-trips, and the token with any one byte changed is refused */
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body.h"
#include "http/multipart.h"
#include "core/bounds.h"
#include "domain/enrich.h"
#include "core/jsonout.h"
#include "core/unsub_token.h"
#include "domain/lead.h"
#include "domain/validate.h"

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 8192

static regex_t email_re;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* lead.h's rule without its two look-aheads (checked by hand below), in the C locale */
    const char *re = "^[A-Za-z0-9_'+.-]*[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9-]*\\.)+[A-Za-z]{2,}$";
    if (regcomp(&email_re, re, REG_EXTENDED | REG_NOSUB) != 0)
        abort();
    return 0;
}

static struct str as_str(const uint8_t *p, size_t n)
{
    return (struct str){(const char *)p, n};
}

/* ---- i: ISO-8601 date-times */

static void t_iso8601(const uint8_t *p, size_t n)
{
    int64_t ms = 0;
    if (v_parse_iso8601(as_str(p, n), &ms) != 0)
        return;
    FZ_CHECK(n >= 17 && n <= 40); /* "YYYY-MM-DDTHH:MMZ" .. 9 fraction digits and an offset */
    /* the offset moves the instant at most a day away from years 0000..9999 */
    int64_t lo = v_days_from_civil(0, 1, 1) * 86400000LL - 86400000LL;
    int64_t hi = v_days_from_civil(10000, 1, 1) * 86400000LL + 86400000LL;
    FZ_CHECK(ms >= lo && ms < hi);
    if (ms < v_days_from_civil(0, 1, 1) * 86400000LL || ms >= v_days_from_civil(10000, 1, 1) * 86400000LL)
        return; /* a year the formatter cannot write in four digits */
    char iso[V_ISO_LEN];
    v_format_iso(ms, iso);
    FZ_CHECK(strlen(iso) == 24);
    int64_t back = -1;
    FZ_CHECK(v_parse_iso8601(str_from_cstr(iso), &back) == 0);
    FZ_CHECK(back == ms);
}

/* ---- n: decimal numbers */

static void t_decimal(const uint8_t *p, size_t n)
{
    double d = 0;
    if (v_parse_decimal(as_str(p, n), &d) != 0)
        return;
    FZ_CHECK(isfinite(d));
    FZ_CHECK(n > 0 && n < 64);
    bool digit = false;
    for (size_t i = 0; i < n; i++) {
        FZ_CHECK(strchr("0123456789+-.eE", p[i]) && p[i] != '\0');
        digit = digit || (p[i] >= '0' && p[i] <= '9');
    }
    FZ_CHECK(digit);
    char buf[64];
    memcpy(buf, p, n);
    buf[n] = '\0';
    char *end = NULL;
    double ref = strtod(buf, &end);
    FZ_CHECK(end == buf + n && ref == d);
}

/* ---- d: calendar dates */

static void t_date(const uint8_t *p, size_t n)
{
    int64_t days = 0;
    if (v_parse_date(as_str(p, n), &days) != 0)
        return;
    FZ_CHECK(n == 10);
    char out[V_DATE_LEN];
    v_format_date(days, out);
    FZ_CHECK(memcmp(out, p, 10) == 0 && out[10] == '\0');
}

/* ---- t: trimming and code points */

static bool is_js_space(uint32_t cp)
{
    static const uint32_t spaces[] = {0x09,   0x0a,   0x0b,   0x0c,   0x0d,   0x20,   0xa0,   0x1680, 0x2000,
                                      0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009,
                                      0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff};
    for (size_t i = 0; i < ARRAY_LEN(spaces); i++) {
        if (spaces[i] == cp)
            return true;
    }
    return false;
}

static void t_trim(const uint8_t *p, size_t n)
{
    /* v_trim and v_codepoints are specified on valid UTF-8, which jansson checks for them */
    json_t *valid = json_stringn((const char *)p, n);
    if (!valid)
        return;
    json_decref(valid);
    FZ_CHECK(fz_utf8_ok((const char *)p, n));
    struct str s = as_str(p, n);
    FZ_CHECK(v_codepoints(s) == fz_utf8_count(s.p, s.n));
    struct str t = v_trim(s);
    FZ_CHECK(t.p >= s.p && t.p + t.n <= s.p + s.n);
    FZ_CHECK(fz_utf8_ok(t.p, t.n));
    struct str t2 = v_trim(t);
    FZ_CHECK(t2.p == t.p && t2.n == t.n);
    FZ_CHECK(v_codepoints(t) <= v_codepoints(s));
    if (t.n > 0) {
        /* first and last code points are not white space */
        uint32_t cp;
        size_t k = fz_utf8_next((const unsigned char *)t.p, t.n, 0, &cp);
        FZ_CHECK(k > 0 && !is_js_space(cp));
        size_t b = t.n - 1;
        while (b > 0 && ((unsigned char)t.p[b] & 0xc0) == 0x80)
            b--;
        k = fz_utf8_next((const unsigned char *)t.p, t.n, b, &cp);
        FZ_CHECK(k == t.n - b && !is_js_space(cp));
    }
    /* what was cut is white space only */
    for (size_t i = 0; i < (size_t)(t.p - s.p);) {
        uint32_t cp;
        size_t k = fz_utf8_next((const unsigned char *)s.p, s.n, i, &cp);
        FZ_CHECK(k > 0 && is_js_space(cp));
        i += k;
    }
    for (size_t i = (size_t)(t.p - s.p) + t.n; i < s.n;) {
        uint32_t cp;
        size_t k = fz_utf8_next((const unsigned char *)s.p, s.n, i, &cp);
        FZ_CHECK(k > 0 && is_js_space(cp));
        i += k;
    }
}

/* ---- h: hosts and user agents */

static void check_host(struct str h, size_t max)
{
    if (!h.p)
        return;
    FZ_CHECK(h.n > 0 && h.n <= max && h.p[h.n] == '\0');
    for (size_t i = 0; i < h.n; i++) {
        FZ_CHECK(!(h.p[i] >= 'A' && h.p[i] <= 'Z'));
        FZ_CHECK(h.p[i] != '/' && h.p[i] != ':');
    }
}

static void t_host(const uint8_t *p, size_t n)
{
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    struct str raw = as_str(p, n);
    struct str h = enrich_normalize_host(&a, raw);
    check_host(h, n);
    if (h.p) {
        (void)enrich_is_search_engine(h);
        (void)enrich_is_social(h);
    }
    struct str r = enrich_referrer_host(&a, raw);
    check_host(r, n);
    if (r.p) {
        FZ_CHECK(!memchr(r.p, '@', r.n) && !memchr(r.p, '?', r.n) && !memchr(r.p, '#', r.n));
        (void)enrich_is_search_engine(r);
        (void)enrich_is_social(r);
    }
    const char *dev = enrich_device_type(raw);
    FZ_CHECK(strcmp(dev, "desktop") == 0 || strcmp(dev, "mobile") == 0 || strcmp(dev, "tablet") == 0 ||
             strcmp(dev, "bot") == 0);
    /* a bot reason is one of the fixed list ingest_bot_drops allows; a blank agent always has one */
    const char *why = enrich_bot_reason(raw);
    bool listed = !why;
    for (int k = 0; k < N_BOT_REASONS && !listed; k++)
        listed = why == BOT_REASONS[k];
    FZ_CHECK(listed);
    FZ_CHECK(raw.n > 0 || why != NULL);
    arena_free(&a);
}

/* ---- s: traffic source */

/* The next '\n'-separated field of (p, n) from *pos; .p NULL when the input has run out. */
static struct str next_field(const uint8_t *p, size_t n, size_t *pos)
{
    if (*pos > n)
        return (struct str){NULL, 0};
    const uint8_t *nl = memchr(p + *pos, '\n', n - *pos);
    size_t end = nl ? (size_t)(nl - p) : n;
    struct str f = {(const char *)p + *pos, end - *pos};
    *pos = end + 1;
    return f;
}

static void t_traffic(const uint8_t *p, size_t n)
{
    static const char *const labels[] = {"direct", "organic_search", "paid_search", "social",
                                         "email",  "referral",       "campaign",    "internal"};
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    size_t pos = 0;
    struct traffic_input in;
    in.utm_source = next_field(p, n, &pos);
    in.utm_medium = next_field(p, n, &pos);
    in.referrer = next_field(p, n, &pos);
    struct str site = next_field(p, n, &pos);
    in.site_host = site.p ? enrich_normalize_host(&a, site) : site;
    const char *src = enrich_traffic_source(&a, &in);
    bool known = false;
    for (size_t i = 0; i < ARRAY_LEN(labels); i++)
        known = known || strcmp(src, labels[i]) == 0;
    FZ_CHECK(known);
    arena_free(&a);
}

/* ---- e: the email rule, against a regular expression */

static void t_email(const uint8_t *p, size_t n)
{
    if (n > 400)
        return;
    struct str e = as_str(p, n);
    bool got = lead_email_valid(e);
    bool want = false;
    if (n > 0 && n <= LEAD_EMAIL_MAX && p[0] != '.' && !memchr(p, '\0', n)) {
        char buf[401];
        memcpy(buf, p, n);
        buf[n] = '\0';
        want = !strstr(buf, "..") && regexec(&email_re, buf, 0, NULL, 0) == 0;
    }
    if (got != want)
        fprintf(stderr, "lead_email_valid says %d, the regular expression %d\n", got, want);
    FZ_CHECK(got == want);
    if (got) {
        struct arena a;
        arena_init(&a, ARENA_MAX_BYTES);
        struct str domain;
        struct str norm = lead_email_normalize(&a, e, &domain);
        FZ_CHECK(norm.p && norm.n == n && domain.p && domain.p[-1] == '@');
        FZ_CHECK((size_t)(domain.p - norm.p) + domain.n == norm.n);
        arena_free(&a);
    }
}

/* ---- r: redirect target of a form post */

static void t_redirect(const uint8_t *p, size_t n)
{
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    size_t pos = 0;
    struct str path = next_field(p, n, &pos);
    struct str origin = next_field(p, n, &pos);
    if (path.n == 0 && n == 0)
        path.p = NULL; /* an absent path */
    const char *loc = lead_redirect_location(&a, path, origin);
    FZ_CHECK(loc != NULL);
    size_t on = origin.p ? origin.n : 0;
    FZ_CHECK(on == 0 || memcmp(loc, origin.p, on) == 0);
    const char *target = loc + on;
    size_t tn = strlen(target);
    /* the target is a path on the same site: "/", or the sent path when it is one; a path too long
     * for the Location header loses its query and fragment first */
    FZ_CHECK(tn >= 1 && target[0] == '/' && target[1] != '/' && target[1] != '\\');
    FZ_CHECK(!fz_has_ctl(target, tn));
    size_t cut = 0;
    while (cut < path.n && path.p[cut] != '?' && path.p[cut] != '#')
        cut++;
    bool whole = path.n == tn && memcmp(path.p, target, tn) == 0;
    bool shortened = on + path.n > RESPONSE_HEADER_MAX_LEN && cut == tn && memcmp(path.p, target, tn) == 0;
    FZ_CHECK(strcmp(target, "/") == 0 || whole || shortened);
    arena_free(&a);
}

/* ---- f: form-urlencoded bodies */

static void form_encode(char *out, size_t *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_' || c == '.' || c == '~') {
            out[(*o)++] = (char)c;
        } else if (c == ' ') {
            out[(*o)++] = '+';
        } else {
            out[(*o)++] = '%';
            out[(*o)++] = hex[c >> 4];
            out[(*o)++] = hex[c & 15];
        }
    }
}

static void t_form(const uint8_t *p, size_t n)
{
    struct issues is;
    issues_init(&is);
    json_t *obj = body_parse_form((const char *)p, n, &is);
    FZ_CHECK(json_is_object(obj));
    const char *k;
    json_t *v;
    size_t cap = 1;
    json_object_foreach(obj, k, v)
    {
        FZ_CHECK(json_is_string(v) && !memchr(json_string_value(v), '\0', json_string_length(v)));
        FZ_CHECK(strlen(k) < 256 && fz_utf8_ok(k, strlen(k)));
        cap += 3 * (strlen(k) + json_string_length(v)) + 2;
    }
    for (size_t i = 0; i < is.n; i++)
        FZ_CHECK(is.items[i].path && is.items[i].message);
    if (!issues_any(&is)) {
        /* every field read back: re-encoding the object gives a body that parses to it */
        char *enc = malloc(cap);
        FZ_CHECK(enc != NULL);
        size_t o = 0;
        json_object_foreach(obj, k, v)
        {
            if (o)
                enc[o++] = '&';
            form_encode(enc, &o, k, strlen(k));
            enc[o++] = '=';
            form_encode(enc, &o, json_string_value(v), json_string_length(v));
        }
        struct issues is2;
        issues_init(&is2);
        json_t *back = body_parse_form(enc, o, &is2);
        FZ_CHECK(!issues_any(&is2) && json_equal(back, obj));
        json_decref(back);
        issues_free(&is2);
        free(enc);
    }
    issues_free(&is);
    json_decref(obj);
}

/* ---- m: multipart/form-data */

static void t_multipart(const uint8_t *p, size_t n)
{
    const uint8_t *nl = memchr(p, '\n', n);
    if (!nl)
        return;
    struct str boundary = {(const char *)p, (size_t)(nl - p)};
    const char *body = (const char *)nl + 1;
    size_t bn = n - boundary.n - 1;
    struct issues is;
    issues_init(&is);
    json_t *obj = body_parse_multipart(body, bn, boundary, &is);
    FZ_CHECK(json_is_object(obj));
    const char *k;
    json_t *v;
    size_t cap = 8 + boundary.n;
    /* a name holds no quote or control character (multipart.c), so it can always be quoted */
    bool quotable = boundary.n > 0 && boundary.n <= MULTIPART_BOUNDARY_MAX;
    json_object_foreach(obj, k, v)
    {
        FZ_CHECK(json_is_string(v) && !memchr(json_string_value(v), '\0', json_string_length(v)));
        FZ_CHECK(strlen(k) > 0 && strlen(k) <= MULTIPART_NAME_MAX && fz_utf8_ok(k, strlen(k)));
        for (const char *c = k; *c; c++)
            FZ_CHECK(*c != '"' && *c != '\\' && ((unsigned char)*c >= 0x20 || *c == '\t') && *c != 0x7f);
        cap += 64 + boundary.n + strlen(k) + json_string_length(v);
    }
    for (size_t i = 0; i < is.n; i++)
        FZ_CHECK(is.items[i].path && is.items[i].message);
    if (!issues_any(&is) && quotable) {
        char *enc = malloc(cap);
        FZ_CHECK(enc != NULL);
        size_t o = 0;
#define PUT(s, len) (memcpy(enc + o, (s), (len)), o += (len))
        json_object_foreach(obj, k, v)
        {
            PUT("--", 2);
            PUT(boundary.p, boundary.n);
            PUT("\r\nContent-Disposition: form-data; name=\"", 40);
            PUT(k, strlen(k));
            PUT("\"\r\n\r\n", 5);
            PUT(json_string_value(v), json_string_length(v));
            PUT("\r\n", 2);
        }
        PUT("--", 2);
        PUT(boundary.p, boundary.n);
        PUT("--", 2);
#undef PUT
        struct issues is2;
        issues_init(&is2);
        json_t *back = body_parse_multipart(enc, o, boundary, &is2);
        FZ_CHECK(!issues_any(&is2) && json_equal(back, obj));
        json_decref(back);
        issues_free(&is2);
        free(enc);
    }
    issues_free(&is);
    json_decref(obj);
}

/* ---- j, J: the JSON writer */

/* json_equal, except that numbers compare by value whatever their type: jsonout writes an
 * integral real below 1e15 as an integer ("1200", not "1200.0"), which a parse without
 * JSON_DECODE_INT_AS_REAL reads back as an integer. */
static bool same_json(json_t *a, json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++) {
            if (!same_json(json_array_get(a, i), json_array_get(b, i)))
                return false;
        }
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        json_t *x;
        json_object_foreach(a, k, x)
        {
            json_t *y = json_object_get(b, k);
            if (!y || !same_json(x, y))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

static void t_json(const uint8_t *p, size_t n, size_t flags)
{
    json_t *v = json_loadb((const char *)p, n, flags, NULL);
    if (!v)
        return;
    struct arena a;
    arena_init(&a, ARENA_MAX_BYTES);
    for (int sort = 0; sort <= 1; sort++) {
        const char *text = jsonout_dump(&a, v, sort != 0);
        FZ_CHECK(text != NULL);
        json_error_t err;
        json_t *back = json_loads(text, flags, &err);
        if (!back)
            fprintf(stderr, "jsonout_dump output does not parse (%s): %s\n", err.text, text);
        FZ_CHECK(back != NULL);
        FZ_CHECK((flags & JSON_DECODE_INT_AS_REAL) ? json_equal(back, v) : same_json(back, v));
        if (sort) {
            /* the canonical (dedupe) rendering is a fixed point */
            const char *again = jsonout_dump(&a, back, true);
            FZ_CHECK(again && strcmp(again, text) == 0);
        }
        json_decref(back);
    }
    arena_free(&a);
    json_decref(v);
}

static void t_json_real(const uint8_t *p, size_t n)
{
    t_json(p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL);
}

static void t_json_int(const uint8_t *p, size_t n)
{
    t_json(p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL);
}

/* ---- u: signed unsubscribe tokens */

#define FUZZ_UNSUB_NOW 1800000000LL

static void t_unsub(const uint8_t *p, size_t n)
{
    static struct unsub_keys keys;
    static bool ready;
    if (!ready) {
        const char *why = NULL;
        FZ_CHECK(sodium_init() >= 0);
        FZ_CHECK(unsub_key_from_secret("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                                       keys.current, &why) == 0);
        keys.has_current = true;
        ready = true;
    }
    char id[UNSUB_LEAD_ID_MAX + 1], tok[UNSUB_TOKEN_TEXT_MAX + 1], id2[UNSUB_LEAD_ID_MAX + 1];
    int64_t iat = 0, max_age = 400 * 86400LL;
    enum unsub_verdict v = unsub_token_verify(&keys, as_str(p, n), FUZZ_UNSUB_NOW, max_age, id, &iat);
    if (v == UNSUB_OK) {
        long tn = unsub_token_make(keys.current, str_from_cstr(id), iat, tok, sizeof(tok));
        FZ_CHECK(tn > 0 && (size_t)tn == n && memcmp(tok, p, n) == 0);
    }
    /* the input as a lead id: signed now, verified back; then one byte of the token changed */
    if (n == 0 || n > UNSUB_LEAD_ID_MAX || memchr(p, 0, n))
        return;
    long tn = unsub_token_make(keys.current, as_str(p, n), FUZZ_UNSUB_NOW, tok, sizeof(tok));
    FZ_CHECK(tn > 0);
    FZ_CHECK(unsub_token_verify(&keys, (struct str){tok, (size_t)tn}, FUZZ_UNSUB_NOW, max_age, id2, &iat) ==
             UNSUB_OK);
    FZ_CHECK(strlen(id2) == n && memcmp(id2, p, n) == 0 && iat == FUZZ_UNSUB_NOW);
    size_t at = (size_t)p[0] % (size_t)tn;
    tok[at] = tok[at] == 'A' ? 'B' : 'A';
    FZ_CHECK(unsub_token_verify(&keys, (struct str){tok, (size_t)tn}, FUZZ_UNSUB_NOW, max_age, id2, &iat) ==
             UNSUB_INVALID);
}

static const struct {
    char letter;
    void (*fn)(const uint8_t *, size_t);
} TARGETS[] = {
    {'i', t_iso8601},  {'n', t_decimal}, {'d', t_date},      {'t', t_trim}, {'h', t_host},
    {'s', t_traffic},  {'e', t_email},   {'r', t_redirect},  {'f', t_form}, {'j', t_json_real},
    {'J', t_json_int}, {'u', t_unsub},   {'m', t_multipart},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    size_t t = data[0] % ARRAY_LEN(TARGETS);
    for (size_t i = 0; i < ARRAY_LEN(TARGETS); i++) {
        if (TARGETS[i].letter == (char)data[0])
            t = i;
    }
    TARGETS[t].fn(data + 1, size - 1);
    return 0;
}
