/* config.c - environment → const struct config, validated once; a bad value names itself. */
#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <sodium.h>

#include "core/xalloc.h"

/* a equals b (lower case) ignoring ASCII case */
static int lower_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        if (ascii_lower(*a) != *b)
            return 0;
    }
    return *a == *b;
}

int config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (lower_eq(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (lower_eq(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

struct loader {
    config_getenv_fn get;
    void *ctx;
    char *err;
    size_t errlen;
    int failed;
};

ATTR_PRINTF(3, 4) static void fail(struct loader *l, const char *name, const char *fmt, ...);

static void fail(struct loader *l, const char *name, const char *fmt, ...)
{
    if (l->failed)
        return;
    l->failed = 1;
    int n = snprintf(l->err, l->errlen, "%s: ", name);
    if (n < 0 || (size_t)n >= l->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Returns the value, NULL when unset or empty. Values longer than the cap are an error. */
static const char *env_str(struct loader *l, const char *name)
{
    const char *v = l->get(name, l->ctx);
    if (!v || !*v)
        return NULL;
    if (strlen(v) > CONFIG_MAX_VALUE_LEN) {
        fail(l, name, "longer than %d characters", CONFIG_MAX_VALUE_LEN);
        return NULL;
    }
    return v;
}

static long env_long(struct loader *l, const char *name, long def, long min, long max)
{
    const char *v = env_str(l, name);
    if (!v)
        return def;
    char *end = NULL;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0') {
        fail(l, name, "must be an integer, got a non-numeric value");
        return def;
    }
    if (x < min || x > max) {
        fail(l, name, "must be between %ld and %ld, got %ld", min, max, x);
        return def;
    }
    return x;
}

static bool env_bool(struct loader *l, const char *name, bool def)
{
    const char *v = env_str(l, name);
    bool b = def;
    if (v && config_parse_bool(v, &b) != 0)
        fail(l, name, "must be one of 1 true yes on / 0 false no off");
    return b;
}

int config_check_time_zone(const char *name, const char *tzdir, const char **why)
{
    size_t n = strlen(name);
    *why = "must be an IANA time zone name such as UTC or America/Toronto";
    if (n == 0 || n > CONFIG_TIME_ZONE_MAX || name[0] == '/' || name[n - 1] == '/' || strstr(name, "//") ||
        strstr(name, ".."))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                  ch == '_' || ch == '+' || ch == '-' || ch == '/';
        if (!ok)
            return -1;
    }
    /* glibc (TZ=...) and Postgres (built --with-system-tzdata on Debian) both read these files, and
     * glibc silently falls back to UTC for a name it cannot find: so a name is good only when its
     * file is there and is a compiled zone (TZif), not a directory such as "America" */
    char path[CONFIG_TZ_PATH_MAX];
    int w = snprintf(path, sizeof(path), "%s/%s", tzdir, name);
    *why = "is not a time zone of the system's tzdata (TZDIR, default " CONFIG_TZDIR_DEFAULT ")";
    if (w < 0 || (size_t)w >= sizeof(path))
        return -1;
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    size_t got = f ? fread(magic, 1, sizeof(magic), f) : 0;
    if (f)
        fclose(f);
    return got == sizeof(magic) && memcmp(magic, "TZif", 4) == 0 ? 0 : -1;
}

/* The lists below are comma-separated with entries trimmed and empties dropped: the next entry
 * at *p into *out, *p moved past it. Returns false at the end of the list. */
static bool next_entry(const char **p, struct str *out)
{
    while (*p && **p) {
        size_t n = strcspn(*p, ",");
        struct str s = str_trim((struct str){*p, n});
        *p += n + ((*p)[n] == ',');
        if (s.n > 0) {
            *out = s;
            return true;
        }
    }
    return false;
}

/* An origin as a browser sends it: http or https, a host, an optional port, nothing after.
 * Anything else never equals an Origin header, so the typo would silently refuse every request
 * from that site. Returns NULL, or why not (a static string). */
static const char *origin_problem(struct str s)
{
    if (s.n == 1 && s.p[0] == '*')
        return "'*' is not allowed: list the origins";
    size_t skip = 0;
    if (s.n > 7 && memcmp(s.p, "http://", 7) == 0)
        skip = 7;
    else if (s.n > 8 && memcmp(s.p, "https://", 8) == 0)
        skip = 8;
    else
        return "needs a scheme (https://host or http://host)";
    struct str host = {s.p + skip, s.n - skip};
    const char *slash = memchr(host.p, '/', host.n);
    if (slash)
        return slash == host.p + host.n - 1 ? "has a trailing slash (an origin ends at the host or port)"
                                            : "has a path (an origin is scheme://host[:port])";
    const char *colon = NULL;
    for (size_t i = 0; i < host.n; i++) {
        unsigned char ch = (unsigned char)host.p[i];
        if (ch <= 0x20 || ch == 0x7f || strchr("?#@\\", ch))
            return "has a query, fragment, user or white space (an origin is scheme://host[:port])";
        if (ch == ':')
            colon = host.p + i;
        else if (ch == ']')
            colon = NULL; /* the colons of an [IPv6] literal are not a port */
    }
    if (host.n == 0 || host.p[0] == ':')
        return "has no host";
    if (colon) {
        struct str port = {colon + 1, (size_t)(host.p + host.n - colon - 1)};
        bool digits = port.n > 0 && port.n <= 5;
        for (size_t i = 0; digits && i < port.n; i++)
            digits = port.p[i] >= '0' && port.p[i] <= '9';
        if (!digits)
            return "has a port that is not a number";
    }
    return NULL;
}

/* CORS_ALLOWED_ORIGINS: comma-separated. */
static void load_origins(struct loader *l, struct config *c)
{
    const char *v = env_str(l, "CORS_ALLOWED_ORIGINS");
    if (!v)
        return;
    struct str s;
    for (const char *p = v; next_entry(&p, &s);) {
        if (c->cors_origin_count >= CORS_MAX_ORIGINS) {
            fail(l, "CORS_ALLOWED_ORIGINS", "more than %d origins", CORS_MAX_ORIGINS);
            return;
        }
        if (s.n > CORS_MAX_ORIGIN_LEN) {
            fail(l, "CORS_ALLOWED_ORIGINS", "an origin is longer than %d characters", CORS_MAX_ORIGIN_LEN);
            return;
        }
        const char *why = origin_problem(s);
        if (why) {
            /* not a secret: the entry is shown (cut) so the typo can be found */
            fail(l, "CORS_ALLOWED_ORIGINS", "'%.*s' %s",
                 s.n > CONFIG_ECHO_MAX_LEN ? CONFIG_ECHO_MAX_LEN : (int)s.n, s.p, why);
            return;
        }
        c->cors_origins[c->cors_origin_count++] = xstrndup(s.p, s.n);
    }
}

/* Splits PATH_QUERY_ALLOWLIST: comma-separated query keys, trimmed, empties dropped. A key is
 * compared with the key of a query parameter exactly as sent (no percent-decoding), so it may hold
 * none of the characters that end or split a key. */
static void load_query_keys(struct loader *l, struct config *c)
{
    static const char *const name = "PATH_QUERY_ALLOWLIST";
    const char *v = env_str(l, name);
    if (!v)
        return;
    struct str s;
    for (const char *p = v; next_entry(&p, &s);) {
        if (c->path_query_key_count >= PATH_QUERY_ALLOWLIST_MAX) {
            fail(l, name, "more than %d keys", PATH_QUERY_ALLOWLIST_MAX);
            return;
        }
        if (s.n > PATH_QUERY_KEY_MAX_LEN) {
            fail(l, name, "a key is longer than %d characters", PATH_QUERY_KEY_MAX_LEN);
            return;
        }
        for (size_t i = 0; i < s.n; i++) {
            unsigned char ch = (unsigned char)s.p[i];
            if (ch <= 0x20 || ch == 0x7f || strchr("&=#?", ch)) {
                fail(l, name, "a key may not contain white space, control characters or & = # ?");
                return;
            }
        }
        c->path_query_keys[c->path_query_key_count++] = xstrndup(s.p, s.n);
    }
}

static bool has_nul_or_ctl(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    }
    return false;
}

int config_parse_trusted_net(struct str s, struct trusted_net *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    const char *slash = memchr(s.p, '/', s.n);
    size_t alen = slash ? (size_t)(slash - s.p) : s.n;
    char addr[INET6_ADDRSTRLEN + 1];
    if (alen == 0 || alen >= sizeof(addr)) {
        *why = "is not an IPv4 or IPv6 address";
        return -1;
    }
    memcpy(addr, s.p, alen);
    addr[alen] = '\0';
    /* inet_pton takes only the full forms: 1.2.3 or 10.1 (inet_aton's shorthands) are refused */
    out->family = memchr(addr, ':', alen) ? AF_INET6 : AF_INET;
    if (inet_pton(out->family, addr, out->addr) != 1) {
        *why = out->family == AF_INET6 ? "is not an IPv6 address" : "is not an IPv4 address";
        return -1;
    }
    int max = out->family == AF_INET6 ? 128 : 32;
    out->prefix = max;
    if (slash) {
        struct str p = {slash + 1, s.n - alen - 1};
        int v = 0;
        bool digits = p.n > 0 && p.n <= 3 && !(p.n > 1 && p.p[0] == '0');
        for (size_t i = 0; digits && i < p.n; i++) {
            if (p.p[i] < '0' || p.p[i] > '9')
                digits = false;
            else
                v = v * 10 + (p.p[i] - '0');
        }
        if (!digits || v > max) {
            *why = max == 32 ? "prefix length must be 0-32 for IPv4" : "prefix length must be 0-128 for IPv6";
            return -1;
        }
        out->prefix = v;
    }
    /* 10.0.0.1/8 is most likely a typo: say so rather than guess which range was meant */
    int bytes = max / 8;
    for (int bit = out->prefix; bit < bytes * 8; bit++) {
        if (out->addr[bit / 8] & (0x80u >> (bit % 8))) {
            *why = "has bits set beyond its prefix length (write the network address)";
            return -1;
        }
    }
    return 0;
}

int config_format_trusted_net(const struct trusted_net *n, char *buf, size_t cap)
{
    char a[INET6_ADDRSTRLEN];
    if (!inet_ntop(n->family, n->addr, a, sizeof(a)))
        return -1;
    int full = n->family == AF_INET6 ? 128 : 32;
    int w = n->prefix == full ? snprintf(buf, cap, "%s", a) : snprintf(buf, cap, "%s/%d", a, n->prefix);
    return w < 0 || (size_t)w >= cap ? -1 : 0;
}

/* TRUSTED_PROXIES: comma-separated addresses or CIDR ranges, entries trimmed, empties dropped.
 * Each is checked here, so that a typo stops start-up instead of silently trusting nobody. */
static void load_trusted_proxies(struct loader *l, struct config *c)
{
    c->trusted_proxies = env_str(l, "TRUSTED_PROXIES");
    struct str s;
    for (const char *p = c->trusted_proxies; next_entry(&p, &s);) {
        const char *why = NULL;
        if (c->trusted_count >= CONFIG_TRUSTED_PROXIES_MAX) {
            fail(l, "TRUSTED_PROXIES", "more than %d entries", CONFIG_TRUSTED_PROXIES_MAX);
            return;
        }
        if (config_parse_trusted_net(s, &c->trusted[c->trusted_count], &why) != 0) {
            /* not a secret: the entry is shown (cut) so the typo can be found */
            fail(l, "TRUSTED_PROXIES", "'%.*s' %s",
                 s.n > CONFIG_ECHO_MAX_LEN ? CONFIG_ECHO_MAX_LEN : (int)s.n, s.p, why);
            return;
        }
        c->trusted_count++;
    }
}

/* an HTTP field-name character (RFC 9110 tchar) */
static bool is_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* CLIENT_IP_HEADER: unset means X-Forwarded-For, the header every proxy appends the peer it saw
 * to (mod_extforward reads it from the right, skipping trusted hops, so a client's own entries
 * are never reached); set but empty means the peer address, always. */
static void load_client_ip_header(struct loader *l, struct config *c)
{
    const char *v = l->get("CLIENT_IP_HEADER", l->ctx);
    if (!v) {
        c->client_ip_header = "X-Forwarded-For";
        return;
    }
    if (!*v) {
        c->client_ip_header = NULL;
        return;
    }
    size_t n = strlen(v);
    bool ok = n <= CONFIG_CLIENT_IP_HEADER_MAX_LEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = is_tchar(v[i]);
    if (!ok) {
        fail(l, "CLIENT_IP_HEADER",
             "must be a header name of at most %d characters (Fly-Client-IP, X-Forwarded-For)"
             " or empty",
             CONFIG_CLIENT_IP_HEADER_MAX_LEN);
        return;
    }
    c->client_ip_header = v;
}

/* An IPv4 or IPv6 address, as lighttpd's bind takes it: a host name or a typo stops start-up here
 * with the variable's name rather than in lighttpd's. */
static bool is_address(const char *v)
{
    unsigned char a[16];
    return inet_pton(strchr(v, ':') ? AF_INET6 : AF_INET, v, a) == 1;
}

/* METRICS_PORT and METRICS_BIND_ADDRESS: the second listener, which serves only /metrics. Loopback
 * by default (an operator's scraper on the machine); never the public port. */
static void load_metrics_listener(struct loader *l, struct config *c)
{
    c->metrics_port = (int)env_long(l, "METRICS_PORT", METRICS_PORT_DEFAULT, 0, CONFIG_PORT_MAX);
    if (c->metrics_port != 0 && c->metrics_port == c->port)
        fail(l, "METRICS_PORT",
             "is %d like PORT: metrics are never served on the public port (set METRICS_PORT to another "
             "port, or 0 for no metrics listener)",
             c->metrics_port);
    c->metrics_bind_address = env_str(l, "METRICS_BIND_ADDRESS");
    if (!c->metrics_bind_address)
        c->metrics_bind_address = "127.0.0.1";
    else if (!is_address(c->metrics_bind_address))
        fail(l, "METRICS_BIND_ADDRESS", "must be an IPv4 or IPv6 address (127.0.0.1, ::)");
}

/* The signed unsubscribe links (issue 16). The secrets are never echoed, not even cut. */
static void load_unsubscribe(struct loader *l, struct config *c)
{
    static const char *const names[] = {"UNSUBSCRIBE_SECRET", "UNSUBSCRIBE_SECRET_PREVIOUS"};
    unsigned char *keys[] = {c->unsub_keys.current, c->unsub_keys.previous};
    bool *has[] = {&c->unsub_keys.has_current, &c->unsub_keys.has_previous};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        const char *v = env_str(l, names[i]), *why = NULL;
        if (!v)
            continue;
        if (unsub_key_from_secret(v, keys[i], &why) != 0)
            fail(l, names[i], "%s", why);
        else
            *has[i] = true;
    }
    if (c->unsub_keys.has_previous && !c->unsub_keys.has_current)
        fail(l, "UNSUBSCRIBE_SECRET_PREVIOUS",
             "is set without UNSUBSCRIBE_SECRET (the previous secret only "
             "verifies during a rotation)");
    c->unsub_max_age_days = (int)env_long(l, "UNSUBSCRIBE_TOKEN_MAX_AGE_DAYS", UNSUB_MAX_AGE_DAYS_DEFAULT,
                                          UNSUB_MAX_AGE_DAYS_MIN, UNSUB_MAX_AGE_DAYS_MAX);
    c->unsub_require_token = env_bool(l, "UNSUBSCRIBE_REQUIRE_TOKEN", false);
    if (c->unsub_require_token && !c->unsub_keys.has_current)
        fail(l, "UNSUBSCRIBE_REQUIRE_TOKEN",
             "is true but UNSUBSCRIBE_SECRET is not set (no link could be made)");

    /* where the minted links point: scheme and host (and port, and a path prefix), no query */
    const char *b = env_str(l, "PUBLIC_BASE_URL");
    if (!b)
        return;
    size_t n = strlen(b);
    bool ok = n <= PUBLIC_BASE_URL_MAX && (strncmp(b, "https://", 8) == 0 || strncmp(b, "http://", 7) == 0);
    for (size_t i = 0; ok && i < n; i++)
        ok = b[i] > 0x20 && b[i] < 0x7f && b[i] != '?' && b[i] != '#' && b[i] != '"' && b[i] != '<' &&
             b[i] != '>' && b[i] != '\\';
    size_t scheme = ok && b[4] == 's' ? strlen("https://") : strlen("http://");
    while (ok && n > scheme && b[n - 1] == '/')
        n--;
    if (!ok || n <= scheme) {
        fail(l, "PUBLIC_BASE_URL",
             "must be an http:// or https:// URL of at most %d characters without a query "
             "(https://api.example.com)",
             PUBLIC_BASE_URL_MAX);
        return;
    }
    c->public_base_url = b;
    c->public_base_url_len = n;
}

int config_webhook_url_check(const char *url, char *host, size_t hostcap, const char **why)
{
    *why = "must be an http:// or https:// URL of at most " STR_OF(WEBHOOK_URL_MAX) " characters with a host";
    size_t n = strlen(url);
    if (n > WEBHOOK_URL_MAX || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
            return -1;
    }
    /* libcurl's own parser: the host the job connects to is the one checked here and there */
    CURLU *u = curl_url();
    char *h = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK && h && *h && strlen(h) < hostcap) {
        memcpy(host, h, strlen(h) + 1);
        rc = 0;
    }
    curl_free(h);
    curl_url_cleanup(u);
    return rc;
}

int config_webhook_secret(const char *v, unsigned char *key, size_t *keylen, const char **why)
{
    static const char prefix[] = "whsec_";
    *why = "must be whsec_ followed by the base64 of at least " STR_OF(
        WEBHOOK_SECRET_MIN_BYTES) " and at most " STR_OF(WEBHOOK_SECRET_MAX_BYTES) " random bytes (Standard "
                                                                                   "Webhooks)";
    *keylen = 0;
    if (strncmp(v, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    const char *b64 = v + sizeof(prefix) - 1;
    size_t n = strlen(b64), got = 0;
    const char *end = NULL;
    /* padded as the convention writes it, or without the padding */
    int variant = n > 0 && b64[n - 1] == '=' ? sodium_base64_VARIANT_ORIGINAL
                                             : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    if (sodium_base642bin(key, WEBHOOK_SECRET_MAX_BYTES, b64, n, NULL, &got, &end, variant) != 0 ||
        end != b64 + n || got < WEBHOOK_SECRET_MIN_BYTES) {
        sodium_memzero(key, WEBHOOK_SECRET_MAX_BYTES);
        return -1;
    }
    *keylen = got;
    return 0;
}

/* The webhook on a new lead (issue 16 item 6). The secret is never echoed, not even cut. */
static void load_webhook(struct loader *l, struct config *c)
{
    const char *why = NULL;
    char host[WEBHOOK_URL_MAX + 1];
    c->webhook_url = env_str(l, "WEBHOOK_URL");
    if (c->webhook_url && config_webhook_url_check(c->webhook_url, host, sizeof(host), &why) != 0) {
        fail(l, "WEBHOOK_URL", "%s", why);
        c->webhook_url = NULL;
    }
    const char *secret = env_str(l, "WEBHOOK_SECRET");
    if (secret && config_webhook_secret(secret, c->webhook_key, &c->webhook_key_len, &why) != 0)
        fail(l, "WEBHOOK_SECRET", "%s", why);
    else if (c->webhook_url && !secret)
        fail(l, "WEBHOOK_SECRET", "is required when WEBHOOK_URL is set (whsec_ + base64 of %d+ random bytes)",
             WEBHOOK_SECRET_MIN_BYTES);
    c->webhook_include_email = env_bool(l, "WEBHOOK_INCLUDE_EMAIL", true);
    c->webhook_include_payload = env_bool(l, "WEBHOOK_INCLUDE_PAYLOAD", false);
    c->webhook_allow_private = env_bool(l, "WEBHOOK_ALLOW_PRIVATE_TARGETS", false);
    c->webhook_timeout_ms = (int)env_long(l, "WEBHOOK_TIMEOUT_MS", WEBHOOK_TIMEOUT_MS_DEFAULT,
                                          WEBHOOK_TIMEOUT_MS_MIN, WEBHOOK_TIMEOUT_MS_MAX);
    c->webhook_retry_hours =
        (int)env_long(l, "WEBHOOK_RETRY_HOURS", WEBHOOK_RETRY_HOURS_DEFAULT, 1, WEBHOOK_RETRY_HOURS_MAX);
    c->webhook_retry_base_s = (int)env_long(l, "WEBHOOK_RETRY_BASE_SECONDS", WEBHOOK_RETRY_BASE_S_DEFAULT, 1,
                                            WEBHOOK_RETRY_BASE_S_MAX);
    c->webhook_poll_s =
        (int)env_long(l, "WEBHOOK_POLL_SECONDS", WEBHOOK_POLL_S_DEFAULT, 1, WEBHOOK_POLL_S_MAX);
    c->webhook_purge_days =
        (int)env_long(l, "WEBHOOK_PURGE_DAYS", WEBHOOK_PURGE_DAYS_DEFAULT, 1, WEBHOOK_PURGE_DAYS_MAX);
    /* what each capture transaction tells migrations/0014's trigger */
    static const char *const opts[2][2] = {{"on", "on,payload"}, {"on,email", "on,email,payload"}};
    c->webhook_tx_setting = c->webhook_url && c->webhook_key_len
                                ? opts[c->webhook_include_email ? 1 : 0][c->webhook_include_payload ? 1 : 0]
                                : "";
}

int config_load(struct config *c, config_getenv_fn get, void *ctx, char *err, size_t errlen)
{
    struct loader l = {get, ctx, err, errlen, 0};
    memset(c, 0, sizeof(*c));
    if (errlen)
        err[0] = '\0';

    c->database_url = env_str(&l, "DATABASE_URL");
    if (!c->database_url) {
        fail(&l, "DATABASE_URL", "is required");
    } else {
        /* libpq's own parse errors quote the string, password and all: check it here, once, and
         * say what is wrong without repeating it */
        PQconninfoOption *opts = PQconninfoParse(c->database_url, NULL);
        if (!opts)
            fail(&l, "DATABASE_URL", "is not a valid connection string or URI");
        else
            PQconninfoFree(opts);
    }

    /* Fly's name for the direct (not pooled) URL: migrations, rollups, retention and the
     * scheduler's session advisory locks need a session of their own, which a transaction
     * pooler does not give */
    c->direct_database_url = env_str(&l, "DIRECT_DATABASE_URL");
    if (!c->direct_database_url) {
        c->direct_database_url = c->database_url;
    } else {
        PQconninfoOption *opts = PQconninfoParse(c->direct_database_url, NULL);
        if (!opts)
            fail(&l, "DIRECT_DATABASE_URL", "is not a valid connection string or URI");
        else
            PQconninfoFree(opts);
    }

    c->ip_hash_pepper = env_str(&l, "IP_HASH_PEPPER");
    if (!c->ip_hash_pepper)
        fail(&l, "IP_HASH_PEPPER", "is required (at least %d characters)", CONFIG_PEPPER_MIN_LEN);
    else if (strlen(c->ip_hash_pepper) < CONFIG_PEPPER_MIN_LEN)
        fail(&l, "IP_HASH_PEPPER", "must be at least %d characters", CONFIG_PEPPER_MIN_LEN);
    else
        c->ip_hash_pepper_len = strlen(c->ip_hash_pepper);

    c->admin_api_key = env_str(&l, "ADMIN_API_KEY");
    if (c->admin_api_key) {
        c->admin_api_key_len = strlen(c->admin_api_key);
        if (c->admin_api_key_len < CONFIG_ADMIN_KEY_MIN_LEN)
            fail(&l, "ADMIN_API_KEY", "must be at least %d characters when set", CONFIG_ADMIN_KEY_MIN_LEN);
    }

    load_unsubscribe(&l, c);
    c->consent_implied_inquiry_days =
        (int)env_long(&l, "CONSENT_IMPLIED_INQUIRY_DAYS", CONSENT_IMPLIED_INQUIRY_DAYS_DEFAULT,
                      CONSENT_IMPLIED_DAYS_MIN, CONSENT_IMPLIED_DAYS_MAX);
    c->consent_implied_customer_days =
        (int)env_long(&l, "CONSENT_IMPLIED_CUSTOMER_DAYS", CONSENT_IMPLIED_CUSTOMER_DAYS_DEFAULT,
                      CONSENT_IMPLIED_DAYS_MIN, CONSENT_IMPLIED_DAYS_MAX);

    /* the erasure log's key: the secret when set, else derived from the pepper (core/erasure.h) */
    if (c->ip_hash_pepper_len) {
        const char *why = NULL;
        if (erasure_keys_init(&c->erasure_keys, (struct str){c->ip_hash_pepper, c->ip_hash_pepper_len},
                              env_str(&l, "ERASURE_LOG_SECRET"), &why) != 0)
            fail(&l, "ERASURE_LOG_SECRET", "%s", why);
    }

    load_origins(&l, c);
    c->enforce_origin = env_bool(&l, "ENFORCE_ORIGIN", true);
    load_query_keys(&l, c);

    c->port = (int)env_long(&l, "PORT", 3000, 1, CONFIG_PORT_MAX);
    c->fcgi_workers =
        (int)env_long(&l, "FCGI_WORKERS", CONFIG_FCGI_WORKERS_DEFAULT, 1, CONFIG_FCGI_WORKERS_MAX);
    c->max_body_bytes = env_long(&l, "MAX_BODY_BYTES", BODY_BYTES_DEFAULT, BODY_BYTES_MIN, BODY_BYTES_MAX);

    static const struct {
        const char *name;
        long def;
    } limits[RL_CLASS_COUNT] = {
        [RL_EVENTS] = {"RATE_LIMIT_EVENTS", 180},          [RL_CAPTURE] = {"RATE_LIMIT_CAPTURE", 24},
        [RL_UNSUBSCRIBE] = {"RATE_LIMIT_UNSUBSCRIBE", 12}, [RL_DELETE] = {"RATE_LIMIT_DELETE", 10},
        [RL_SUMMARY] = {"RATE_LIMIT_SUMMARY", 60},         [RL_DEFAULT] = {"RATE_LIMIT_MAX", 120},
    };
    for (int i = 0; i < RL_CLASS_COUNT; i++)
        c->rate_limits[i] = env_long(&l, limits[i].name, limits[i].def, 0, RATELIMIT_PER_MINUTE_MAX);
    c->rate_limit_ipv6_prefix = (int)env_long(&l, "RATE_LIMIT_IPV6_PREFIX", RATELIMIT_IPV6_PREFIX_DEFAULT,
                                              RATELIMIT_IPV6_PREFIX_MIN, RATELIMIT_IPV6_PREFIX_MAX);

    c->session_inactivity_minutes =
        (int)env_long(&l, "SESSION_INACTIVITY_MINUTES", 30, 1, CONFIG_WINDOW_MINUTES_MAX);
    c->heuristic_link_window_minutes =
        (int)env_long(&l, "HEURISTIC_LINK_WINDOW_MINUTES", 15, 1, CONFIG_WINDOW_MINUTES_MAX);
    c->enable_heuristic_linking = env_bool(&l, "ENABLE_HEURISTIC_LINKING", true);
    c->honor_gpc = env_bool(&l, "HONOR_GLOBAL_PRIVACY_CONTROL", true);
    const char *bots = env_str(&l, "BOT_POLICY");
    c->drop_bots = true;
    if (bots && lower_eq(bots, "label"))
        c->drop_bots = false;
    else if (bots && !lower_eq(bots, "drop"))
        fail(&l, "BOT_POLICY", "must be drop or label");
    c->rollup_batch_days = (int)env_long(&l, "ROLLUP_BATCH_DAYS", 7, 1, CONFIG_ROLLUP_BATCH_DAYS_MAX);

    c->rollup_default_property_id = env_str(&l, "ROLLUP_DEFAULT_PROPERTY_ID");
    if (!c->rollup_default_property_id)
        c->rollup_default_property_id = "default";
    else if (strlen(c->rollup_default_property_id) > PROPERTY_ID_MAX)
        fail(&l, "ROLLUP_DEFAULT_PROPERTY_ID", "must be at most %d characters", PROPERTY_ID_MAX);

    c->rollup_interval_minutes =
        (int)env_long(&l, "ROLLUP_INTERVAL_MINUTES", 60, 1, CONFIG_ROLLUP_INTERVAL_MINUTES_MAX);
    c->rollup_refresh_minutes =
        (int)env_long(&l, "ROLLUP_REFRESH_MINUTES", CONFIG_ROLLUP_REFRESH_MINUTES_DEFAULT, 1,
                      CONFIG_ROLLUP_REFRESH_MINUTES_MAX);
    c->site_time_zone = env_str(&l, "SITE_TIME_ZONE");
    if (!c->site_time_zone)
        c->site_time_zone = "UTC";
    const char *tzdir = env_str(&l, "TZDIR"), *why = NULL;
    if (config_check_time_zone(c->site_time_zone, tzdir ? tzdir : CONFIG_TZDIR_DEFAULT, &why) != 0)
        fail(&l, "SITE_TIME_ZONE", "%s, got %.*s", why, CONFIG_TIME_ZONE_MAX, c->site_time_zone);
    c->retention_days = (int)env_long(&l, "RETENTION_DAYS", 90, 1, CONFIG_RETENTION_DAYS_MAX);
    c->privacy_contact_email = env_str(&l, "PRIVACY_CONTACT_EMAIL");

    const char *lvl = env_str(&l, "LOG_LEVEL");
    c->log_level = LOG_INFO;
    if (lvl) {
        static const char *const names[] = {"debug", "info", "warn", "error"};
        size_t i = 0;
        for (; i < ARRAY_LEN(names); i++) {
            if (lower_eq(lvl, names[i]))
                break;
        }
        if (i == ARRAY_LEN(names))
            fail(&l, "LOG_LEVEL", "must be one of debug info warn error");
        else
            c->log_level = (enum log_level)i;
    }

    c->database_schema = env_str(&l, "DATABASE_SCHEMA");
    if (!c->database_schema)
        c->database_schema = "public";
    else if (strlen(c->database_schema) > CONFIG_DB_SCHEMA_MAX_LEN || has_nul_or_ctl(c->database_schema))
        fail(&l, "DATABASE_SCHEMA", "must be a schema name of at most %d characters",
             CONFIG_DB_SCHEMA_MAX_LEN);

    const char *st = env_str(&l, "DATABASE_STATEMENTS");
    c->db_statements = DB_STATEMENTS_UNNAMED;
    if (st && lower_eq(st, "prepared"))
        c->db_statements = DB_STATEMENTS_PREPARED;
    else if (st && !lower_eq(st, "unnamed"))
        fail(&l, "DATABASE_STATEMENTS", "must be unnamed or prepared");
    c->db_max_lifetime_s = (int)env_long(&l, "DATABASE_MAX_LIFETIME_SECONDS", DB_MAX_LIFETIME_S_DEFAULT, 1,
                                         DB_MAX_LIFETIME_S_MAX);
    c->db_max_idle_s =
        (int)env_long(&l, "DATABASE_MAX_IDLE_SECONDS", DB_MAX_IDLE_S_DEFAULT, 1, DB_MAX_LIFETIME_S_MAX);

    c->run_dir = env_str(&l, "RUN_DIR");
    if (!c->run_dir)
        c->run_dir = "/tmp/backend-run";
    else if (c->run_dir[0] != '/' || strlen(c->run_dir) > CONFIG_RUN_DIR_MAX_LEN)
        fail(&l, "RUN_DIR", "must be an absolute path of at most %d characters", CONFIG_RUN_DIR_MAX_LEN);

    load_trusted_proxies(&l, c);
    load_client_ip_header(&l, c);
    /* lighttpd's server.bind: an address, so a host name or a typo stops here with its name
     * rather than in lighttpd's start-up */
    c->bind_address = env_str(&l, "BIND_ADDRESS");
    if (!c->bind_address) {
        c->bind_address = "0.0.0.0";
    } else {
        unsigned char a[16];
        int family = strchr(c->bind_address, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(family, c->bind_address, a) != 1)
            fail(&l, "BIND_ADDRESS", "must be an IPv4 or IPv6 address (0.0.0.0, 127.0.0.1, ::)");
    }
    load_metrics_listener(&l, c);
    load_webhook(&l, c);
    c->app_home = env_str(&l, "APP_HOME");
    if (!c->app_home)
        c->app_home = ".";

    if (l.failed) {
        config_free(c);
        return -1;
    }
    return 0;
}

void config_free(struct config *c)
{
    sodium_memzero(c->webhook_key, sizeof(c->webhook_key));
    for (size_t i = 0; i < c->cors_origin_count; i++)
        free(c->cors_origins[i]);
    c->cors_origin_count = 0;
    for (size_t i = 0; i < c->path_query_key_count; i++)
        free(c->path_query_keys[i]);
    c->path_query_key_count = 0;
}

void config_print(const struct config *c, int fd)
{
    static const char *const lvl[] = {"debug", "info", "warn", "error"};
    dprintf(fd, "DATABASE_URL=<set, redacted>\n");
    dprintf(fd, "DIRECT_DATABASE_URL=%s\n",
            c->direct_database_url != c->database_url ? "<set, redacted>" : "<unset: DATABASE_URL>");
    dprintf(fd, "DATABASE_STATEMENTS=%s\nDATABASE_MAX_LIFETIME_SECONDS=%d\nDATABASE_MAX_IDLE_SECONDS=%d\n",
            c->db_statements == DB_STATEMENTS_PREPARED ? "prepared" : "unnamed", c->db_max_lifetime_s,
            c->db_max_idle_s);
    dprintf(fd, "IP_HASH_PEPPER=<set, %zu characters, redacted>\n", c->ip_hash_pepper_len);
    dprintf(fd, "ADMIN_API_KEY=%s\n",
            c->admin_api_key ? "<set, redacted>" : "<unset: admin routes answer 503>");
    dprintf(fd, "UNSUBSCRIBE_SECRET=%s\nUNSUBSCRIBE_SECRET_PREVIOUS=%s\n",
            c->unsub_keys.has_current ? "<set, redacted>" : "<unset: signed unsubscribe links answer 503>",
            c->unsub_keys.has_previous ? "<set, redacted>" : "");
    dprintf(fd, "UNSUBSCRIBE_TOKEN_MAX_AGE_DAYS=%d\nUNSUBSCRIBE_REQUIRE_TOKEN=%s\nPUBLIC_BASE_URL=%.*s\n",
            c->unsub_max_age_days, c->unsub_require_token ? "true" : "false",
            c->public_base_url ? (int)c->public_base_url_len : 0,
            c->public_base_url ? c->public_base_url : "");
    dprintf(fd, "ERASURE_LOG_SECRET=%s\n",
            c->erasure_keys.from_secret
                ? "<set, redacted>"
                : "<unset: erasure proofs keyed with a key derived from IP_HASH_PEPPER>");
    dprintf(fd, "CORS_ALLOWED_ORIGINS=");
    for (size_t i = 0; i < c->cors_origin_count; i++)
        dprintf(fd, "%s%s", i ? "," : "", c->cors_origins[i]);
    dprintf(fd, "\nENFORCE_ORIGIN=%s", c->enforce_origin ? "true" : "false");
    dprintf(fd, "\nPORT=%d\nFCGI_WORKERS=%d\nMAX_BODY_BYTES=%ld\n", c->port, c->fcgi_workers,
            c->max_body_bytes);
    dprintf(fd,
            "RATE_LIMIT_EVENTS=%ld\nRATE_LIMIT_CAPTURE=%ld\nRATE_LIMIT_UNSUBSCRIBE=%ld\n"
            "RATE_LIMIT_DELETE=%ld\nRATE_LIMIT_SUMMARY=%ld\nRATE_LIMIT_MAX=%ld\n",
            c->rate_limits[RL_EVENTS], c->rate_limits[RL_CAPTURE], c->rate_limits[RL_UNSUBSCRIBE],
            c->rate_limits[RL_DELETE], c->rate_limits[RL_SUMMARY], c->rate_limits[RL_DEFAULT]);
    dprintf(fd, "RATE_LIMIT_IPV6_PREFIX=%d\n", c->rate_limit_ipv6_prefix);
    dprintf(fd,
            "SESSION_INACTIVITY_MINUTES=%d\nHEURISTIC_LINK_WINDOW_MINUTES=%d\nENABLE_HEURISTIC_LINKING=%s\n",
            c->session_inactivity_minutes, c->heuristic_link_window_minutes,
            c->enable_heuristic_linking ? "true" : "false");
    dprintf(fd, "HONOR_GLOBAL_PRIVACY_CONTROL=%s\nBOT_POLICY=%s\n", c->honor_gpc ? "true" : "false",
            c->drop_bots ? "drop" : "label");
    dprintf(fd, "ROLLUP_BATCH_DAYS=%d\nROLLUP_DEFAULT_PROPERTY_ID=%s\nROLLUP_INTERVAL_MINUTES=%d\n",
            c->rollup_batch_days, c->rollup_default_property_id, c->rollup_interval_minutes);
    dprintf(fd, "ROLLUP_REFRESH_MINUTES=%d\n", c->rollup_refresh_minutes);
    dprintf(fd, "SITE_TIME_ZONE=%s\n", c->site_time_zone);
    dprintf(fd, "RETENTION_DAYS=%d\nPRIVACY_CONTACT_EMAIL=%s\nLOG_LEVEL=%s\nDATABASE_SCHEMA=%s\n",
            c->retention_days, c->privacy_contact_email ? c->privacy_contact_email : "", lvl[c->log_level],
            c->database_schema);
    dprintf(fd, "BIND_ADDRESS=%s\n", c->bind_address);
    dprintf(fd, "METRICS_PORT=%d\nMETRICS_BIND_ADDRESS=%s\n", c->metrics_port, c->metrics_bind_address);
    dprintf(fd, "RUN_DIR=%s\nTRUSTED_PROXIES=%s\nCLIENT_IP_HEADER=%s\nAPP_HOME=%s\n", c->run_dir,
            c->trusted_proxies ? c->trusted_proxies : "", c->client_ip_header ? c->client_ip_header : "",
            c->app_home);
    dprintf(fd, "CONSENT_IMPLIED_INQUIRY_DAYS=%d\nCONSENT_IMPLIED_CUSTOMER_DAYS=%d\n",
            c->consent_implied_inquiry_days, c->consent_implied_customer_days);
    char host[WEBHOOK_URL_MAX + 1];
    const char *why = NULL;
    /* the host only: a path or query may hold the receiver's own token */
    if (!c->webhook_url || config_webhook_url_check(c->webhook_url, host, sizeof(host), &why) != 0)
        host[0] = '\0';
    dprintf(fd, "WEBHOOK_URL=%s%s%s\nWEBHOOK_SECRET=%s\n",
            c->webhook_url ? "<set, host " : "<unset: no webhook>", host,
            c->webhook_url ? ", the rest redacted>" : "", c->webhook_key_len ? "<set, redacted>" : "");
    dprintf(fd,
            "WEBHOOK_INCLUDE_EMAIL=%s\nWEBHOOK_INCLUDE_PAYLOAD=%s\nWEBHOOK_ALLOW_PRIVATE_TARGETS=%s\n"
            "WEBHOOK_TIMEOUT_MS=%d\nWEBHOOK_RETRY_HOURS=%d\nWEBHOOK_RETRY_BASE_SECONDS=%d\n"
            "WEBHOOK_POLL_SECONDS=%d\nWEBHOOK_PURGE_DAYS=%d\n",
            c->webhook_include_email ? "true" : "false", c->webhook_include_payload ? "true" : "false",
            c->webhook_allow_private ? "true" : "false", c->webhook_timeout_ms, c->webhook_retry_hours,
            c->webhook_retry_base_s, c->webhook_poll_s, c->webhook_purge_days);
    dprintf(fd, "PATH_QUERY_ALLOWLIST=");
    for (size_t i = 0; i < c->path_query_key_count; i++)
        dprintf(fd, "%s%s", i ? "," : "", c->path_query_keys[i]);
    dprintf(fd, "\n");
}
