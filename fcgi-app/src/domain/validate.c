/* validate.c - the field rules. Messages are for people; paths are for programs. */
#include "domain/validate.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A string field of min..max code points, trimmed first when trim; see v_string. */
static enum v_result string_field(struct issues *is, json_t *obj, const char *key, const char *path,
                                  bool trim, size_t min, size_t max, bool required, struct str *out)
{
    json_t *v = field(obj, key);
    if (!v)
        return absent(is, path, required);
    struct str s;
    if (get_string(is, v, path, &s) != V_OK)
        return V_INVALID;
    if (trim)
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

enum v_result v_string(struct issues *is, json_t *obj, const char *key, const char *path, size_t min,
                       size_t max, bool required, struct str *out)
{
    return string_field(is, obj, key, path, true, min, max, required, out);
}

enum v_result v_string_raw(struct issues *is, json_t *obj, const char *key, const char *path, size_t max,
                           bool required, struct str *out)
{
    return string_field(is, obj, key, path, false, 0, max, required, out);
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

static bool is_bool(const json_t *v)
{
    return json_is_boolean(v);
}

static bool is_object(const json_t *v)
{
    return json_is_object(v);
}

/* obj[key] when of_type accepts it: V_OK with *out (borrowed), V_ABSENT, or V_INVALID with message. */
static enum v_result typed(struct issues *is, json_t *obj, const char *key, const char *path,
                           bool (*of_type)(const json_t *), const char *message, json_t **out)
{
    json_t *v = field(obj, key);
    if (!v)
        return V_ABSENT;
    if (!of_type(v)) {
        issue(is, path, "%s", message);
        return V_INVALID;
    }
    *out = v;
    return V_OK;
}

enum v_result v_bool(struct issues *is, json_t *obj, const char *key, const char *path, bool *out)
{
    json_t *v = NULL;
    enum v_result r = typed(is, obj, key, path, is_bool, "must be true or false", &v);
    if (r == V_OK)
        *out = json_is_true(v);
    return r;
}

enum v_result v_object(struct issues *is, json_t *obj, const char *key, const char *path, json_t **out)
{
    return typed(is, obj, key, path, is_object, "must be an object", out);
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

/* A coerced number d checked against [min, max] (integer: no fractional part either); the issue
 * quotes the bounds as the caller printed them (lo, hi). */
static enum v_result coerced_in_range(struct issues *is, const char *path, double d, bool integer, double min,
                                      double max, const char *lo, const char *hi)
{
    if (integer && d != floor(d)) {
        issue(is, path, "must be an integer");
        return V_INVALID;
    }
    if (d < min || d > max) {
        issue(is, path, "must be between %s and %s", lo, hi);
        return V_INVALID;
    }
    return V_OK;
}

enum v_result v_coerced_int(struct issues *is, json_t *obj, const char *key, const char *path, long long min,
                            long long max, long long *out)
{
    json_t *v = field(obj, key);
    if (!v)
        return V_ABSENT;
    char lo[24], hi[24];
    (void)snprintf(lo, sizeof(lo), "%lld", min);
    (void)snprintf(hi, sizeof(hi), "%lld", max);
    if (json_is_integer(v)) {
        /* exact, without a trip through double */
        long long x = json_integer_value(v);
        if (x < min || x > max) {
            issue(is, path, "must be between %s and %s", lo, hi);
            return V_INVALID;
        }
        *out = x;
        return V_OK;
    }
    double d;
    if (coerced(is, v, path, &d) != V_OK ||
        coerced_in_range(is, path, d, true, (double)min, (double)max, lo, hi) != V_OK)
        return V_INVALID;
    *out = (long long)d;
    return V_OK;
}

enum v_result v_coerced_number(struct issues *is, json_t *obj, const char *key, const char *path, double min,
                               double max, double *out)
{
    json_t *v = field(obj, key);
    if (!v)
        return V_ABSENT;
    char lo[32], hi[32];
    (void)snprintf(lo, sizeof(lo), "%g", min);
    (void)snprintf(hi, sizeof(hi), "%g", max);
    double d;
    if (coerced(is, v, path, &d) != V_OK || coerced_in_range(is, path, d, false, min, max, lo, hi) != V_OK)
        return V_INVALID;
    *out = d;
    return V_OK;
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
