/* validate.c - the field rules. Messages are for people; paths are for programs. */
#include "domain/validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decodes one code point of valid UTF-8 at s[i]; returns its byte length. */
static size_t utf8_next(const unsigned char *s, size_t n, size_t i, uint32_t *cp)
{
    unsigned char c = s[i];
    if (c < 0x80 || i + 1 >= n) {
        *cp = c;
        return 1;
    }
    if ((c & 0xe0) == 0xc0) {
        *cp = ((uint32_t)(c & 0x1f) << 6) | (s[i + 1] & 0x3f);
        return 2;
    }
    if ((c & 0xf0) == 0xe0 && i + 2 < n) {
        *cp = ((uint32_t)(c & 0x0f) << 12) | ((uint32_t)(s[i + 1] & 0x3f) << 6) | (s[i + 2] & 0x3f);
        return 3;
    }
    if (i + 3 < n) {
        *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[i + 1] & 0x3f) << 12) |
              ((uint32_t)(s[i + 2] & 0x3f) << 6) | (s[i + 3] & 0x3f);
        return 4;
    }
    *cp = c;
    return 1;
}

static bool is_js_space(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000 || cp == 0xfeff;
}

struct str v_trim(struct str s)
{
    const unsigned char *u = (const unsigned char *)s.p;
    size_t start = 0, end = s.n;
    while (start < end) {
        uint32_t cp;
        size_t k = utf8_next(u, end, start, &cp);
        if (!is_js_space(cp))
            break;
        start += k;
    }
    while (end > start) {
        /* step back to the start of the last code point */
        size_t b = end - 1;
        while (b > start && (u[b] & 0xc0) == 0x80)
            b--;
        uint32_t cp;
        (void)utf8_next(u, end, b, &cp);
        if (!is_js_space(cp))
            break;
        end = b;
    }
    return (struct str){s.p + start, end - start};
}

bool v_utf8_valid(struct str s)
{
    const unsigned char *u = (const unsigned char *)s.p;
    size_t i = 0;
    while (i < s.n) {
        unsigned char c = u[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, cp = c & 0x07;
        } else {
            return false;
        }
        if (s.n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (u[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += len;
    }
    return true;
}

size_t v_codepoints(struct str s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (((unsigned char)s.p[i] & 0xc0) != 0x80)
            n++;
    }
    return n;
}

static void issue(struct issues *is, const char *path, const char *fmt, ...) ATTR_PRINTF(3, 4);

static void issue(struct issues *is, const char *path, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    issues_add(is, path, msg);
}

/* Fetches obj[key]: NULL when absent. JSON null counts as present (and wrong) for every field
 * but the timestamp, as in the Node service. */
static json_t *field(json_t *obj, const char *key)
{
    return obj ? json_object_get(obj, key) : NULL;
}

static enum v_result absent(struct issues *is, const char *path, bool required)
{
    if (required)
        issue(is, path, "is required");
    return V_ABSENT;
}

static enum v_result get_string(struct issues *is, json_t *v, const char *path, struct str *out)
{
    if (!json_is_string(v)) {
        issue(is, path, "must be a string");
        return V_INVALID;
    }
    struct str s = {json_string_value(v), json_string_length(v)};
    if (memchr(s.p, '\0', s.n)) {
        issue(is, path, "must not contain U+0000");
        return V_INVALID;
    }
    *out = s;
    return V_OK;
}

enum v_result v_string(struct issues *is, json_t *obj, const char *key, const char *path, size_t min,
                       size_t max, bool required, struct str *out)
{
    json_t *v = field(obj, key);
    if (!v)
        return absent(is, path, required);
    struct str s;
    if (get_string(is, v, path, &s) != V_OK)
        return V_INVALID;
    s = v_trim(s);
    size_t cps = v_codepoints(s);
    if (cps < min) {
        if (min == 1)
            issue(is, path, "must not be empty");
        else
            issue(is, path, "must be at least %zu characters", min);
        return V_INVALID;
    }
    if (cps > max) {
        issue(is, path, "must be at most %zu characters", max);
        return V_INVALID;
    }
    *out = s;
    return V_OK;
}

enum v_result v_string_raw(struct issues *is, json_t *obj, const char *key, const char *path, size_t max,
                           bool required, struct str *out)
{
    json_t *v = field(obj, key);
    if (!v)
        return absent(is, path, required);
    struct str s;
    if (get_string(is, v, path, &s) != V_OK)
        return V_INVALID;
    if (v_codepoints(s) > max) {
        issue(is, path, "must be at most %zu characters", max);
        return V_INVALID;
    }
    *out = s;
    return V_OK;
}

enum v_result v_enum(struct issues *is, json_t *obj, const char *key, const char *path,
                     const char *const *allowed, size_t n, const char **out)
{
    json_t *v = field(obj, key);
    if (!v)
        return V_ABSENT;
    struct str s;
    if (get_string(is, v, path, &s) != V_OK)
        return V_INVALID;
    s = v_trim(s);
    for (size_t i = 0; i < n; i++) {
        if (str_eq(s, str_from_cstr(allowed[i]))) {
            *out = allowed[i];
            return V_OK;
        }
    }
    char list[160];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && o < sizeof(list); i++) {
        int k = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", allowed[i]);
        if (k < 0)
            break;
        o += (size_t)k;
    }
    issue(is, path, "must be one of %s", list);
    return V_INVALID;
}

enum v_result v_bool(struct issues *is, json_t *obj, const char *key, const char *path, bool *out)
{
    json_t *v = field(obj, key);
    if (!v)
        return V_ABSENT;
    if (!json_is_boolean(v)) {
        issue(is, path, "must be true or false");
        return V_INVALID;
    }
    *out = json_is_true(v);
    return V_OK;
}

enum v_result v_object(struct issues *is, json_t *obj, const char *key, const char *path, json_t **out)
{
    json_t *v = field(obj, key);
    if (!v)
        return V_ABSENT;
    if (!json_is_object(v)) {
        issue(is, path, "must be an object");
        return V_INVALID;
    }
    *out = v;
    return V_OK;
}

/* true when any key or string value below v holds U+0000. Depth is bounded by jansson's parser. */
static bool has_nul(json_t *v)
{
    if (json_is_string(v))
        return memchr(json_string_value(v), '\0', json_string_length(v)) != NULL;
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (has_nul(x))
                return true;
        }
    }
    if (json_is_object(v)) {
        const char *k;
        size_t klen;
        json_t *x;
        json_object_keylen_foreach(v, k, klen, x)
        {
            if (memchr(k, '\0', klen) || has_nul(x))
                return true;
        }
    }
    return false;
}

enum v_result v_free_object(struct issues *is, json_t *obj, const char *key, const char *path, json_t **out)
{
    json_t *v = NULL;
    enum v_result r = v_object(is, obj, key, path, &v);
    if (r != V_OK)
        return r;
    if (has_nul(v)) {
        issue(is, path, "must not contain U+0000");
        return V_INVALID;
    }
    *out = v;
    return V_OK;
}

int v_parse_decimal(struct str s, double *out)
{
    /* [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)? */
    size_t i = 0, digits = 0;
    char buf[64];
    if (s.n == 0 || s.n >= sizeof(buf))
        return -1;
    if (s.p[i] == '+' || s.p[i] == '-')
        i++;
    while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
        i++;
        digits++;
    }
    if (i < s.n && s.p[i] == '.') {
        i++;
        while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
            i++;
            digits++;
        }
    }
    if (digits == 0)
        return -1;
    if (i < s.n && (s.p[i] == 'e' || s.p[i] == 'E')) {
        i++;
        if (i < s.n && (s.p[i] == '+' || s.p[i] == '-'))
            i++;
        size_t ed = 0;
        while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
            i++;
            ed++;
        }
        if (ed == 0)
            return -1;
    }
    if (i != s.n)
        return -1;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    double d = strtod(buf, NULL);
    if (!isfinite(d))
        return -1;
    *out = d;
    return 0;
}

/* Reads a coerced number; V_OK with *out, else an issue. */
static enum v_result coerced(struct issues *is, json_t *v, const char *path, double *out)
{
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
        return V_OK;
    }
    if (json_is_real(v)) {
        *out = json_real_value(v);
        return V_OK;
    }
    if (json_is_string(v)) {
        struct str s = {json_string_value(v), json_string_length(v)};
        if (!memchr(s.p, '\0', s.n) && v_parse_decimal(v_trim(s), out) == 0)
            return V_OK;
    }
    issue(is, path, "must be a number");
    return V_INVALID;
}

enum v_result v_coerced_int(struct issues *is, json_t *obj, const char *key, const char *path, long long min,
                            long long max, long long *out)
{
    json_t *v = field(obj, key);
    if (!v)
        return V_ABSENT;
    double d;
    if (json_is_integer(v)) {
        /* exact, without a trip through double */
        long long x = json_integer_value(v);
        if (x < min || x > max) {
            issue(is, path, "must be between %lld and %lld", min, max);
            return V_INVALID;
        }
        *out = x;
        return V_OK;
    }
    if (coerced(is, v, path, &d) != V_OK)
        return V_INVALID;
    if (d != floor(d)) {
        issue(is, path, "must be an integer");
        return V_INVALID;
    }
    if (d < (double)min || d > (double)max) {
        issue(is, path, "must be between %lld and %lld", min, max);
        return V_INVALID;
    }
    *out = (long long)d;
    return V_OK;
}

enum v_result v_coerced_number(struct issues *is, json_t *obj, const char *key, const char *path, double min,
                               double max, double *out)
{
    json_t *v = field(obj, key);
    if (!v)
        return V_ABSENT;
    double d;
    if (coerced(is, v, path, &d) != V_OK)
        return V_INVALID;
    if (d < min || d > max) {
        issue(is, path, "must be between %g and %g", min, max);
        return V_INVALID;
    }
    *out = d;
    return V_OK;
}

int64_t v_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* Reads exactly n digits at s[*i]. */
static int digits(struct str s, size_t *i, size_t n, int *out)
{
    int v = 0;
    if (*i + n > s.n)
        return -1;
    for (size_t k = 0; k < n; k++) {
        char c = s.p[*i + k];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *i += n;
    *out = v;
    return 0;
}

static int expect(struct str s, size_t *i, char c)
{
    if (*i >= s.n || s.p[*i] != c)
        return -1;
    (*i)++;
    return 0;
}

int v_parse_date(struct str s, int64_t *days)
{
    size_t i = 0;
    int y, mo, d;
    if (digits(s, &i, 4, &y) || expect(s, &i, '-') || digits(s, &i, 2, &mo) || expect(s, &i, '-') ||
        digits(s, &i, 2, &d) || i != s.n)
        return -1;
    /* 1970 onwards: no analytics predates it, and a window's comparison days before it stay
     * within the dates Postgres can store (year 0000 is not one of them) */
    if (y < V_DATE_MIN_YEAR || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -1;
    *days = v_days_from_civil(y, (unsigned)mo, (unsigned)d);
    return 0;
}

void v_format_pg_timestamp(int64_t ms, char *out)
{
    v_format_iso(ms, out);
    out[23] = '\0'; /* no 'Z': timestamp(3) columns hold UTC wall time without a zone */
}

void v_format_date(int64_t days, char *out)
{
    char iso[V_ISO_LEN];
    v_format_iso(days * 86400000, iso);
    memcpy(out, iso, 10);
    out[10] = '\0';
}

int v_parse_iso8601(struct str s, int64_t *out_ms)
{
    size_t i = 0;
    int y, mo, d, h, mi, sec = 0, ms = 0;
    if (digits(s, &i, 4, &y) || expect(s, &i, '-') || digits(s, &i, 2, &mo) || expect(s, &i, '-') ||
        digits(s, &i, 2, &d))
        return -1;
    if (i >= s.n || (s.p[i] != 'T' && s.p[i] != 't'))
        return -1;
    i++;
    if (digits(s, &i, 2, &h) || expect(s, &i, ':') || digits(s, &i, 2, &mi))
        return -1;
    if (i < s.n && s.p[i] == ':') {
        i++;
        if (digits(s, &i, 2, &sec))
            return -1;
        if (i < s.n && s.p[i] == '.') {
            i++;
            size_t fd = 0;
            while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
                if (fd < 3)
                    ms = ms * 10 + (s.p[i] - '0');
                fd++;
                i++;
            }
            if (fd == 0 || fd > 9)
                return -1;
            for (size_t k = fd; k < 3; k++)
                ms *= 10;
        }
    }
    int off_min = 0;
    if (i < s.n && (s.p[i] == 'Z' || s.p[i] == 'z')) {
        i++;
    } else if (i < s.n && (s.p[i] == '+' || s.p[i] == '-')) {
        int sign = s.p[i] == '-' ? -1 : 1, oh, om;
        i++;
        if (digits(s, &i, 2, &oh))
            return -1;
        if (i < s.n && s.p[i] == ':')
            i++;
        if (digits(s, &i, 2, &om) || oh > 23 || om > 59)
            return -1;
        off_min = sign * (oh * 60 + om);
    } else {
        return -1; /* an offset is required: a bare local time is ambiguous */
    }
    if (i != s.n)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return -1;
    int64_t days = v_days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off_min * 60;
    *out_ms = secs * 1000 + ms;
    return 0;
}

void v_format_iso(int64_t ms, char out[V_ISO_LEN])
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int milli = (int)(ms - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    /* civil_from_days (Hinnant) */
    int64_t z = days + 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    snprintf(out, V_ISO_LEN, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", (int)y, m, d, (int)(rem / 3600),
             (int)(rem % 3600 / 60), (int)(rem % 60), milli);
}

enum v_result v_timestamp(struct issues *is, json_t *obj, const char *key, const char *path, int64_t now_ms,
                          int64_t max_future_ms, int64_t *out_ms)
{
    json_t *v = field(obj, key);
    if (!v || json_is_null(v))
        return V_ABSENT;
    int64_t ms;
    if (json_is_integer(v)) {
        ms = (int64_t)json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 1e15) {
        ms = (int64_t)json_real_value(v); /* integers arrive as doubles (JSON_DECODE_INT_AS_REAL) */
    } else if (json_is_string(v)) {
        struct str s = {json_string_value(v), json_string_length(v)};
        if (memchr(s.p, '\0', s.n) || v_parse_iso8601(v_trim(s), &ms) != 0) {
            issue(is, path, "must be an ISO-8601 date-time with an offset, or epoch milliseconds");
            return V_INVALID;
        }
    } else {
        issue(is, path, "must be an ISO-8601 date-time with an offset, or epoch milliseconds");
        return V_INVALID;
    }
    if (ms < 0) {
        issue(is, path, "must not be before 1970-01-01");
        return V_INVALID;
    }
    if (ms > now_ms + max_future_ms) {
        issue(is, path, "must not be more than %lld hours in the future",
              (long long)(max_future_ms / 3600000));
        return V_INVALID;
    }
    *out_ms = ms;
    return V_OK;
}
