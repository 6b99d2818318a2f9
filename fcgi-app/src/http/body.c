/* body.c - lighttpd has already buffered the whole body and bounded it; this is the app's own
 * check of the same limits, then the parse. */
#include "http/body.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "http/multipart.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes (p, n) ('+' is a space) into out (at least n bytes). Returns the length, or
 * -1 for a malformed escape. */
static long form_decode(const char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '+') {
            out[o++] = ' ';
        } else if (p[i] == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval(p[i + 1]), l = hexval(p[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[o++] = p[i];
        }
    }
    return (long)o;
}

json_t *body_parse_form(const char *p, size_t n, struct issues *is)
{
    json_t *obj = json_object();
    char *buf = xmalloc(n + 1);
    size_t i = 0;
    while (i <= n) {
        const char *amp = memchr(p + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - p) : n;
        if (end > i) {
            const char *pair = p + i;
            size_t plen = end - i;
            const char *eq = memchr(pair, '=', plen);
            size_t klen = eq ? (size_t)(eq - pair) : plen;
            long kd = form_decode(pair, klen, buf);
            char key[256];
            json_t *kcheck = kd < 0 ? NULL : json_stringn(buf, (size_t)kd); /* NULL unless UTF-8 */
            bool key_ok = kcheck && (size_t)kd < sizeof(key) && !memchr(buf, '\0', (size_t)kd);
            json_decref(kcheck);
            if (!key_ok) {
                issues_add(is, "", "form field name is malformed");
            } else {
                memcpy(key, buf, (size_t)kd);
                key[kd] = '\0';
                const char *val = eq ? eq + 1 : pair + plen;
                size_t vlen = eq ? plen - klen - 1 : 0;
                long vd = form_decode(val, vlen, buf);
                /* json_stringn rejects invalid UTF-8 */
                json_t *s = vd < 0 ? NULL : json_stringn(buf, (size_t)vd);
                if (!s) {
                    issues_add(is, key, vd < 0 ? "malformed percent-encoding" : "must be valid UTF-8");
                } else if (memchr(buf, '\0', (size_t)vd)) {
                    issues_add(is, key, "must not contain U+0000");
                    json_decref(s);
                } else if (json_object_get(obj, key)) {
                    issues_add(is, key, "must not be repeated");
                    json_decref(s);
                } else {
                    json_object_set_new(obj, key, s);
                }
            }
        }
        if (!amp)
            break;
        i = end + 1;
    }
    free(buf);
    return obj;
}

/* jansson refuses an object key holding U+0000 as a parse error, but API.md §1 makes U+0000
 * anywhere an invalid_request naming the field. Rewrites every \u0000 escape inside an object key
 * into \u0001 (same length) so the body can be parsed again; returns the number rewritten. */
static size_t mask_nul_keys(char *p, size_t n)
{
    char stack[BODY_SCAN_MAX_DEPTH];
    size_t depth = 0, masked = 0;
    bool expect_key = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '{' || c == '[') {
            if (depth >= sizeof(stack))
                return masked;
            stack[depth++] = c;
            expect_key = c == '{';
        } else if (c == '}' || c == ']') {
            depth = depth ? depth - 1 : 0;
            expect_key = false;
        } else if (c == ',') {
            expect_key = depth > 0 && stack[depth - 1] == '{';
        } else if (c == '"') {
            for (i++; i < n && p[i] != '"'; i++) {
                if (p[i] != '\\')
                    continue;
                if (expect_key && i + 6 <= n && memcmp(p + i, "\\u0000", 6) == 0) {
                    p[i + 5] = '1';
                    masked++;
                }
                i++;
            }
            expect_key = false;
        }
    }
    return masked;
}

/* Turns the masked keys below v back into keys holding U+0000 (jansson stores such keys; only its
 * parser refuses them), so validation sees the body as sent and names the field. */
static void restore_nul_keys(json_t *v)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            restore_nul_keys(json_array_get(v, i));
        return;
    }
    if (!json_is_object(v))
        return;
    const char *k;
    json_t *x;
    void *tmp;
    /* keys to rename, collected first: an object must not change while it is iterated */
    json_t *masked = json_array();
    json_object_foreach_safe(v, tmp, k, x)
    {
        restore_nul_keys(x);
        if (strchr(k, 0x01))
            json_array_append_new(masked, json_string(k));
    }
    for (size_t i = 0; i < json_array_size(masked); i++) {
        const char *old = json_string_value(json_array_get(masked, i));
        size_t n = strlen(old);
        char *nk = xstrndup(old, n);
        for (size_t j = 0; j < n; j++)
            nk[j] = nk[j] == 0x01 ? '\0' : nk[j];
        json_t *value = json_incref(json_object_get(v, old));
        json_object_del(v, old);
        json_object_setn_new(v, nk, n, value);
        free(nk);
    }
    json_decref(masked);
}

/* After jansson's "NUL byte in object key": the body parsed with those keys restored, for
 * validation to name; NULL (and 400 invalid_json written) when the body is broken anyway, or
 * 400 invalid_request at path "" when a top-level key holds U+0000 (no field to name). */
static json_t *parse_with_nul_keys(struct request *req, struct response *resp, const char *buf, size_t len)
{
    char *copy = arena_strndup(req->arena, buf, len);
    json_t *root = NULL;
    if (copy && mask_nul_keys(copy, len) > 0)
        root = json_loadb(copy, len,
                          JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL,
                          NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        http_error(resp, 400, "invalid_json");
        return NULL;
    }
    const char *k;
    json_t *x;
    json_object_foreach(root, k, x)
    {
        if (strchr(k, 0x01)) {
            json_decref(root);
            struct issues is;
            issues_init(&is);
            issues_add(&is, "", "must not contain U+0000");
            http_invalid(resp, &is);
            issues_free(&is);
            return NULL;
        }
    }
    restore_nul_keys(root);
    return root;
}

int body_parse_or_reply(const struct config *cfg, struct request *req, struct response *resp, bool allow_form,
                        json_t **out, bool *form)
{
    *out = NULL;
    *form = false;
    if (req->content_length_bad) {
        http_invalid_body(resp, "Content-Length is malformed");
        return -1;
    }
    if (req->content_length <= 0) {
        http_invalid_body(resp, "request body is required");
        return -1;
    }
    struct str mt = http_media_type(req, req->content_type);
    bool is_json = str_eq(mt, STRLIT("application/json")) || str_eq(mt, STRLIT("text/plain"));
    bool is_multipart = allow_form && str_eq(mt, STRLIT("multipart/form-data"));
    bool is_form = is_multipart || (allow_form && str_eq(mt, STRLIT("application/x-www-form-urlencoded")));
    if (!is_json && !is_form) {
        http_error(resp, 415, "unsupported_media_type");
        return -1;
    }
    if (req->content_length > cfg->max_body_bytes) {
        http_error(resp, 413, "payload_too_large");
        return -1;
    }
    size_t want = (size_t)req->content_length;
    char *buf = arena_alloc(req->arena, want + 1);
    if (!buf) {
        http_error(resp, 413, "payload_too_large");
        return -1;
    }
    size_t got = 0;
    while (got < want) {
        int n = req->read_body ? req->read_body(req->read_ctx, buf + got, (int)(want - got)) : 0;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < want) {
        http_invalid_body(resp, "request body is shorter than Content-Length");
        return -1;
    }
    buf[got] = '\0';

    if (is_form) {
        struct issues is;
        issues_init(&is);
        json_t *obj = is_multipart
                          ? body_parse_multipart(buf, got, multipart_boundary(req->content_type), &is)
                          : body_parse_form(buf, got, &is);
        *form = true;
        if (issues_any(&is)) {
            *out = obj; /* the caller's rejection row still reads its propertyId */
            http_invalid(resp, &is);
            issues_free(&is);
            return -1;
        }
        issues_free(&is);
        *out = obj;
        *form = true;
        return 0;
    }

    json_error_t err;
    /* NULs are allowed through the parser so validation can name the field (API.md §1) */
    /* numbers as doubles, as the JavaScript service read them: a 30-digit integer is valid JSON */
    json_t *root = json_loadb(
        buf, got, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
    if (!root && strstr(err.text, "NUL byte in object key")) {
        if (!(root = parse_with_nul_keys(req, resp, buf, got)))
            return -1;
    } else if (!root) {
        http_error(resp, 400, "invalid_json");
        return -1;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        http_invalid_body(resp, "request body must be a JSON object");
        return -1;
    }
    *out = root;
    return 0;
}
