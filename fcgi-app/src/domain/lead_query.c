/* lead_query.c - see lead_query.h. */
#include "domain/lead_query.h"

#include <sodium.h>
#include <string.h>

#include "core/bounds.h"

const char *const CONSENT_METHODS[CONSENT_METHODS_LEN] = {"checkbox", "double_opt_in", "inquiry",
                                                          "existing_customer", "other"};

bool consent_version_valid(struct str v)
{
    if (!v.p || v.n == 0 || v.n > CONSENT_VERSION_MAX)
        return false;
    for (size_t i = 0; i < v.n; i++) {
        char c = v.p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

const char *lead_like_contains(struct arena *a, struct str needle)
{
    /* every byte may double, plus the two '%' and the NUL */
    char *out = arena_alloc(a, 2 * needle.n + 3);
    size_t n = 0;
    if (!out)
        return NULL;
    out[n++] = '%';
    for (size_t i = 0; i < needle.n; i++) {
        char c = needle.p[i];
        if (c == '\\' || c == '%' || c == '_')
            out[n++] = '\\';
        out[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n++] = '%';
    out[n] = '\0';
    return out;
}

static bool all_digits(struct str s)
{
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
    }
    return s.n > 0;
}

const char *lead_cursor_make(struct arena *a, struct str ms, struct str id)
{
    if (ms.n > LEAD_CURSOR_MS_DIGITS_MAX || !all_digits(ms) || id.n == 0 || id.n > LEAD_CURSOR_ID_MAX)
        return NULL;
    char raw[LEAD_CURSOR_RAW_MAX];
    memcpy(raw, ms.p, ms.n);
    raw[ms.n] = ':';
    memcpy(raw + ms.n + 1, id.p, id.n);
    size_t cap = sodium_base64_ENCODED_LEN(ms.n + 1 + id.n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = arena_alloc(a, cap);
    if (!out)
        return NULL;
    return sodium_bin2base64(out, cap, (const unsigned char *)raw, ms.n + 1 + id.n,
                             sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int lead_cursor_parse(struct arena *a, struct str cursor, const char **ms, const char **id)
{
    unsigned char raw[LEAD_CURSOR_RAW_MAX];
    size_t n = 0;
    const char *end = NULL;
    if (cursor.n == 0 || cursor.n > LEAD_CURSOR_TEXT_MAX ||
        sodium_base642bin(raw, sizeof(raw), cursor.p, cursor.n, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != cursor.p + cursor.n)
        return -1;
    const unsigned char *colon = memchr(raw, ':', n);
    if (!colon)
        return -1;
    struct str m = {(const char *)raw, (size_t)(colon - raw)};
    struct str i = {(const char *)colon + 1, n - m.n - 1};
    if (m.n > LEAD_CURSOR_MS_DIGITS_MAX || !all_digits(m) || i.n == 0 || i.n > LEAD_CURSOR_ID_MAX ||
        memchr(i.p, '\0', i.n))
        return -1;
    *ms = arena_strndup(a, m.p, m.n);
    *id = arena_strndup(a, i.p, i.n);
    return *ms && *id ? 0 : -1;
}
