/* utf8.c - UTF-8 well-formedness, code point counts, ECMAScript trimming. */
#include "core/utf8.h"

#include <stdint.h>

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
