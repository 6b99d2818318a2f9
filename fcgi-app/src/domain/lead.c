/* lead.c - email rule, normalisation and the redirect target, written out by hand: the rule is a
 * fixed regular expression, and a hand-written matcher cannot backtrack badly. */
#include "domain/lead.h"

#include <string.h>

#include "core/bounds.h"

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* c is one of set (strchr would also match the terminating NUL) */
static bool in_set(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool lead_email_valid(struct str e)
{
    if (e.n == 0 || e.n > LEAD_EMAIL_MAX || e.p[0] == '.')
        return false;
    for (size_t i = 0; i + 1 < e.n; i++) {
        if (e.p[i] == '.' && e.p[i + 1] == '.')
            return false;
    }
    const char *at = memchr(e.p, '@', e.n);
    if (!at || at == e.p)
        return false;
    size_t local_n = (size_t)(at - e.p);
    for (size_t i = 0; i < local_n; i++) {
        char c = e.p[i];
        if (!is_alnum(c) && !in_set(c, "_'+.-"))
            return false;
    }
    char last = e.p[local_n - 1];
    if (!is_alnum(last) && !in_set(last, "_+-"))
        return false;

    /* domain: one or more "label." then a TLD of two or more letters */
    const char *d = at + 1;
    size_t dn = e.n - local_n - 1;
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= dn; i++) {
        if (i < dn && d[i] != '.')
            continue;
        size_t len = i - start;
        if (i == dn) { /* the TLD */
            if (labels == 0 || len < 2)
                return false;
            for (size_t k = start; k < i; k++) {
                if (!is_alpha(d[k]))
                    return false;
            }
            return true;
        }
        if (len == 0 || !is_alnum(d[start]))
            return false;
        for (size_t k = start + 1; k < i; k++) {
            if (!is_alnum(d[k]) && d[k] != '-')
                return false;
        }
        labels++;
        start = i + 1;
    }
    return false;
}

struct str lead_email_normalize(struct arena *a, struct str email, struct str *domain)
{
    struct str t = arena_trim_lower(a, email);
    const char *at = t.p ? memchr(t.p, '@', t.n) : NULL;
    *domain = at ? (struct str){at + 1, t.n - (size_t)(at + 1 - t.p)} : (struct str){NULL, 0};
    return t;
}

bool lead_path_safe(struct str path)
{
    bool ok =
        path.p && path.n >= 1 && path.p[0] == '/' && (path.n == 1 || (path.p[1] != '/' && path.p[1] != '\\'));
    for (size_t i = 0; ok && i < path.n; i++) {
        unsigned char c = (unsigned char)path.p[i];
        if (c < 0x20 || c == 0x7f)
            ok = false;
    }
    return ok;
}

const char *lead_redirect_location(struct arena *a, struct str path, struct str origin)
{
    struct str target = lead_path_safe(path) ? path : STRLIT("/");
    size_t on = origin.p ? origin.n : 0;
    /* the header must fit (http_add_header refuses longer values): a long target loses its query
     * and fragment first, then falls back to the site's root */
    if (on + target.n > RESPONSE_HEADER_MAX_LEN) {
        size_t cut = 0;
        while (cut < target.n && target.p[cut] != '?' && target.p[cut] != '#')
            cut++;
        target.n = cut;
    }
    if (on + target.n > RESPONSE_HEADER_MAX_LEN)
        target = STRLIT("/");
    char *out = arena_alloc(a, on + target.n + 1);
    if (!out)
        return NULL;
    if (on)
        memcpy(out, origin.p, on);
    memcpy(out + on, target.p, target.n);
    out[on + target.n] = '\0';
    return out;
}

/* One query parameter "name[=value]" is the page's old actx_error (any value, or none). */
static bool is_error_param(struct str kv)
{
    static const char name[] = LEAD_ERROR_PARAM;
    size_t n = sizeof(name) - 1;
    return kv.n >= n && memcmp(kv.p, name, n) == 0 && (kv.n == n || kv.p[n] == '=');
}

const char *lead_return_location(struct arena *a, struct str origin, struct str page, struct str fields)
{
    if (!lead_path_safe(page))
        return NULL;
    size_t on = origin.p ? origin.n : 0;
    /* the fragment is the browser's own: it never reaches a server, and a Location without one
     * keeps nothing stale */
    size_t end = 0, qpos = page.n;
    while (end < page.n && page.p[end] != '#') {
        if (page.p[end] == '?' && qpos == page.n)
            qpos = end;
        end++;
    }
    if (qpos > end)
        qpos = end;
    struct str path = {page.p, qpos};
    struct str query = qpos < end ? (struct str){page.p + qpos + 1, end - qpos - 1} : (struct str){"", 0};
    size_t cap = on + path.n + 1 + query.n + 1 + sizeof(LEAD_ERROR_PARAM) + fields.n + 1;
    char *out = arena_alloc(a, cap);
    if (!out)
        return NULL;
    size_t o = 0;
    if (on)
        memcpy(out, origin.p, on);
    o = on;
    memcpy(out + o, path.p, path.n);
    o += path.n;
    char sep = '?';
    size_t kept_from = o;
    for (size_t i = 0; i <= query.n;) {
        size_t j = i;
        while (j < query.n && query.p[j] != '&')
            j++;
        struct str kv = {query.p + i, j - i};
        if (kv.n > 0 && !is_error_param(kv)) {
            out[o++] = sep;
            memcpy(out + o, kv.p, kv.n);
            o += kv.n;
            sep = '&';
        }
        i = j + 1;
    }
    /* too long for the header: the page's own query goes first */
    if (o + 1 + sizeof(LEAD_ERROR_PARAM) + fields.n > RESPONSE_HEADER_MAX_LEN) {
        o = kept_from;
        sep = '?';
    }
    if (o + 1 + sizeof(LEAD_ERROR_PARAM) + fields.n > RESPONSE_HEADER_MAX_LEN)
        return NULL;
    out[o++] = sep;
    memcpy(out + o, LEAD_ERROR_PARAM "=", sizeof(LEAD_ERROR_PARAM));
    o += sizeof(LEAD_ERROR_PARAM);
    memcpy(out + o, fields.p, fields.n);
    o += fields.n;
    out[o] = '\0';
    return out;
}
