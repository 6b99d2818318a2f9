/* jsonout.c - a small JSON writer over jansson values. Depth is bounded by jansson's parser. */
#include "core/jsonout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xalloc.h"

void jsonout_real(double d, char out[32])
{
    /* integers (every JSON integer arrives as a double) print as integers: 1200, not 1.2e+03 */
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(out, 32, "%lld", (long long)d);
        return;
    }
    /* %.15g prints any double of 15 or fewer significant digits exactly as short as it can be;
     * the rare longer ones need 16 or 17 to read back the same */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
}

size_t jsonout_escape_byte(unsigned char c, unsigned flags, char out[6])
{
    static const char hex[] = "0123456789abcdef";
    if (c == '"' || c == '\\') {
        out[0] = '\\', out[1] = (char)c;
        return 2;
    }
    if ((flags & JSONESC_SHORT) && (c == '\n' || c == '\r' || c == '\t')) {
        out[0] = '\\', out[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        return 2;
    }
    if (c < 0x20 || (c == 0x7f && (flags & JSONESC_DEL))) {
        out[0] = '\\', out[1] = 'u', out[2] = '0', out[3] = '0', out[4] = hex[c >> 4], out[5] = hex[c & 15];
        return 6;
    }
    return 0;
}

static void put_string(struct buf *o, const char *s, size_t n)
{
    buf_put(o, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char esc[6];
        size_t k = jsonout_escape_byte((unsigned char)s[i], JSONESC_SHORT, esc);
        if (k == 0)
            continue;
        buf_put(o, s + run, i - run);
        buf_put(o, esc, k);
        run = i + 1;
    }
    buf_put(o, s + run, n - run);
    buf_put(o, "\"", 1);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_value(struct buf *o, const json_t *v, bool sort_keys)
{
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = xcalloc(n ? n : 1, sizeof(*keys));
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)(uintptr_t)v, k, x) keys[i++] = k;
        if (sort_keys)
            qsort(keys, n, sizeof(*keys), cmp_keys);
        buf_put(o, "{", 1);
        for (i = 0; i < n; i++) {
            if (i)
                buf_put(o, ",", 1);
            put_string(o, keys[i], strlen(keys[i]));
            buf_put(o, ":", 1);
            put_value(o, json_object_get(v, keys[i]), sort_keys);
        }
        buf_put(o, "}", 1);
        free(keys);
        break;
    }
    case JSON_ARRAY:
        buf_put(o, "[", 1);
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                buf_put(o, ",", 1);
            put_value(o, json_array_get(v, i), sort_keys);
        }
        buf_put(o, "]", 1);
        break;
    case JSON_STRING:
        put_string(o, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        buf_put(o, num, strlen(num));
        break;
    case JSON_REAL:
        jsonout_real(json_real_value(v), num);
        buf_put(o, num, strlen(num));
        break;
    case JSON_TRUE:
        buf_put(o, "true", 4);
        break;
    case JSON_FALSE:
        buf_put(o, "false", 5);
        break;
    default:
        buf_put(o, "null", 4);
        break;
    }
}

char *jsonout_dumps(const json_t *v, bool sort_keys)
{
    if (!v)
        return NULL;
    struct buf o = BUF_INIT;
    put_value(&o, v, sort_keys);
    return o.p;
}

const char *jsonout_dump(struct arena *a, const json_t *v, bool sort_keys)
{
    char *s = jsonout_dumps(v, sort_keys);
    const char *r = s ? arena_strndup(a, s, strlen(s)) : NULL;
    free(s);
    return r;
}
