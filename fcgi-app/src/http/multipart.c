/* multipart.c - a multipart/form-data body of text fields into the same object of strings a
 * form-urlencoded body gives (RFC 7578, delimiters per RFC 2046 §5.1.1). No file parts: nothing
 * the service takes is a file, so a part with a filename is an issue, not something to store. */
#include "http/multipart.h"

#include <string.h>

#include "core/bounds.h"

/* First occurrence of (needle, nn) in (hay, hn) at or after from; -1 when none. */
static long find(const char *hay, size_t hn, size_t from, const char *needle, size_t nn)
{
    for (size_t i = from; nn <= hn && i + nn <= hn; i++) {
        const char *c = memchr(hay + i, needle[0], hn - nn + 1 - i);
        if (!c)
            return -1;
        i = (size_t)(c - hay);
        if (memcmp(c, needle, nn) == 0)
            return (long)i;
    }
    return -1;
}

/* A parameter value holds no control character, quote or backslash: a quoted-pair (which no
 * browser sends) is refused rather than unescaped, and a bare CR or a stray quote is a broken
 * header, not part of a name. */
static bool value_chars_ok(struct str v)
{
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* The value of parameter `name` in a header value "type; a=b; c="d"" (the text after the first
 * ';'), as a slice of v. A quoted value ends at the next '"'. found=false when absent or
 * malformed (value_chars_ok). */
static struct str param_value(struct str v, struct str name, bool *found)
{
    struct str none = {NULL, 0};
    *found = false;
    const char *semi = memchr(v.p, ';', v.n);
    size_t i = semi ? (size_t)(semi - v.p) + 1 : v.n;
    while (i < v.n) {
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ';'))
            i++;
        size_t k = i;
        while (i < v.n && v.p[i] != '=' && v.p[i] != ';' && v.p[i] != ' ' && v.p[i] != '\t')
            i++;
        struct str key = {v.p + k, i - k};
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
            i++;
        if (i >= v.n || v.p[i] != '=')
            continue; /* a bare token such as "form-data"; the loop skips on at ';' */
        i++;
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
            i++;
        struct str val;
        if (i < v.n && v.p[i] == '"') {
            const char *close = memchr(v.p + i + 1, '"', v.n - i - 1);
            if (!close)
                return none;
            val = (struct str){v.p + i + 1, (size_t)(close - v.p) - i - 1};
            i = (size_t)(close - v.p) + 1;
        } else {
            size_t s = i;
            while (i < v.n && v.p[i] != ';' && v.p[i] != ' ' && v.p[i] != '\t')
                i++;
            val = (struct str){v.p + s, i - s};
        }
        if (!value_chars_ok(val))
            return none;
        if (str_eq_nocase(key, name)) {
            *found = true;
            return val;
        }
    }
    return none;
}

struct str multipart_boundary(struct str ct)
{
    struct str none = {NULL, 0};
    bool found;
    if (!ct.p)
        return none;
    struct str b = param_value(ct, STRLIT("boundary"), &found);
    if (!found || b.n == 0 || b.n > MULTIPART_BOUNDARY_MAX)
        return none;
    return b;
}

/* The part's name from its header block (hdr, CRLF-separated lines): Content-Disposition must
 * be form-data with a name and no filename. Writes an issue and returns false otherwise. */
static bool part_name(struct str hdr, struct str *name, struct issues *is)
{
    size_t i = 0;
    bool seen = false;
    while (i < hdr.n) {
        long eol = find(hdr.p, hdr.n, i, "\r\n", 2);
        size_t end = eol < 0 ? hdr.n : (size_t)eol;
        struct str line = {hdr.p + i, end - i};
        const char *colon = memchr(line.p, ':', line.n);
        if (colon && str_eq_nocase(str_trim((struct str){line.p, (size_t)(colon - line.p)}),
                                   STRLIT("Content-Disposition"))) {
            struct str v = str_trim((struct str){colon + 1, line.n - (size_t)(colon - line.p) - 1});
            const char *semi = memchr(v.p, ';', v.n);
            struct str type = str_trim((struct str){v.p, semi ? (size_t)(semi - v.p) : v.n});
            bool has_file;
            (void)param_value(v, STRLIT("filename"), &has_file);
            *name = param_value(v, STRLIT("name"), &seen);
            if (!str_eq_nocase(type, STRLIT("form-data")) || !seen) {
                issues_add(is, "", "multipart part has no form-data name");
                return false;
            }
            if (has_file) {
                issues_add(is, "", "file uploads are not accepted");
                return false;
            }
        }
        i = end + 2;
    }
    if (!seen)
        issues_add(is, "", "multipart part has no Content-Disposition");
    return seen;
}

static void add_field(json_t *obj, struct str name, struct str value, struct issues *is)
{
    char key[MULTIPART_NAME_MAX + 1];
    json_t *kcheck = json_stringn(name.p, name.n); /* NULL unless UTF-8 */
    bool key_ok = kcheck && name.n > 0 && name.n <= MULTIPART_NAME_MAX && !memchr(name.p, '\0', name.n);
    json_decref(kcheck);
    if (!key_ok) {
        issues_add(is, "", "form field name is malformed");
        return;
    }
    memcpy(key, name.p, name.n);
    key[name.n] = '\0';
    json_t *s = json_stringn(value.p, value.n);
    if (!s)
        issues_add(is, key, "must be valid UTF-8");
    else if (memchr(value.p, '\0', value.n))
        issues_add(is, key, "must not contain U+0000");
    else if (json_object_get(obj, key))
        issues_add(is, key, "must not be repeated");
    else {
        json_object_set_new(obj, key, s);
        return;
    }
    json_decref(s);
}

json_t *body_parse_multipart(const char *p, size_t n, struct str boundary, struct issues *is)
{
    json_t *obj = json_object();
    /* "\r\n--" boundary: the body is read as if it began with CRLF, so the first delimiter (with
     * no preamble) matches like every later one */
    char delim[4 + MULTIPART_BOUNDARY_MAX];
    if (!boundary.p || boundary.n > MULTIPART_BOUNDARY_MAX) {
        issues_add(is, "", "multipart boundary is missing or too long");
        return obj;
    }
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary.p, boundary.n);
    size_t dn = 4 + boundary.n;
    long at = n >= dn - 2 && memcmp(p, delim + 2, dn - 2) == 0 ? -2 : find(p, n, 0, delim, dn);
    for (;;) {
        if (at == -1) {
            issues_add(is, "", "multipart body has no closing delimiter");
            return obj;
        }
        size_t i = (size_t)(at + (long)dn);
        if (i + 2 <= n && memcmp(p + i, "--", 2) == 0)
            return obj; /* the close delimiter; an epilogue is ignored (RFC 2046) */
        while (i < n && (p[i] == ' ' || p[i] == '\t')) /* transport padding */
            i++;
        if (i + 2 > n || memcmp(p + i, "\r\n", 2) != 0) {
            issues_add(is, "", "multipart delimiter is malformed");
            return obj;
        }
        i += 2;
        long hend = find(p, n, i, "\r\n\r\n", 4);
        /* a part with no header at all is the blank line right away */
        bool no_headers = i + 2 <= n && memcmp(p + i, "\r\n", 2) == 0;
        size_t hlen = no_headers ? 0 : hend < 0 ? n - i : (size_t)hend - i;
        if ((!no_headers && hend < 0) || hlen > MULTIPART_PART_HEADERS_MAX) {
            issues_add(is, "", "multipart part headers are malformed or too long");
            return obj;
        }
        size_t body = i + hlen + (no_headers ? 2 : 4);
        long next = find(p, n, body, delim, dn);
        if (next == -1) {
            at = -1;
            continue;
        }
        struct str name;
        if (part_name((struct str){p + i, hlen}, &name, is))
            add_field(obj, name, (struct str){p + body, (size_t)next - body}, is);
        at = next;
    }
}
