/* config.c - environment → const struct config, validated once; a bad value names itself. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "xalloc.h"

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

/* Splits CORS_ALLOWED_ORIGINS: comma-separated, entries trimmed, empties dropped. */
static void load_origins(struct loader *l, struct config *c)
{
    const char *v = env_str(l, "CORS_ALLOWED_ORIGINS");
    if (!v)
        return;
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        struct str s = str_trim((struct str){p, n});
        if (s.n > 0) {
            if (c->cors_origin_count >= CORS_MAX_ORIGINS) {
                fail(l, "CORS_ALLOWED_ORIGINS", "more than %d origins", CORS_MAX_ORIGINS);
                return;
            }
            if (s.n > CORS_MAX_ORIGIN_LEN) {
                fail(l, "CORS_ALLOWED_ORIGINS", "an origin is longer than %d characters",
                     CORS_MAX_ORIGIN_LEN);
                return;
            }
            c->cors_origins[c->cors_origin_count++] = xstrndup(s.p, s.n);
        }
        if (!comma)
            break;
        p = comma + 1;
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

    load_origins(&l, c);

    c->port = (int)env_long(&l, "PORT", 3000, 1, 65535);
    c->fcgi_workers = (int)env_long(&l, "FCGI_WORKERS", 2, 1, CONFIG_FCGI_WORKERS_MAX);
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

    c->session_inactivity_minutes = (int)env_long(&l, "SESSION_INACTIVITY_MINUTES", 30, 1, 1440);
    c->heuristic_link_window_minutes = (int)env_long(&l, "HEURISTIC_LINK_WINDOW_MINUTES", 15, 1, 1440);
    c->enable_heuristic_linking = env_bool(&l, "ENABLE_HEURISTIC_LINKING", true);
    c->rollup_batch_days = (int)env_long(&l, "ROLLUP_BATCH_DAYS", 7, 1, 365);

    c->rollup_default_property_id = env_str(&l, "ROLLUP_DEFAULT_PROPERTY_ID");
    if (!c->rollup_default_property_id)
        c->rollup_default_property_id = "default";
    else if (strlen(c->rollup_default_property_id) > PROPERTY_ID_MAX)
        fail(&l, "ROLLUP_DEFAULT_PROPERTY_ID", "must be at most %d characters", PROPERTY_ID_MAX);

    c->rollup_interval_minutes = (int)env_long(&l, "ROLLUP_INTERVAL_MINUTES", 60, 1, 10080);
    c->retention_days = (int)env_long(&l, "RETENTION_DAYS", 90, 1, 36500);
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
    else if (strlen(c->database_schema) > 63 || has_nul_or_ctl(c->database_schema))
        fail(&l, "DATABASE_SCHEMA", "must be a schema name of at most 63 characters");

    c->run_dir = env_str(&l, "RUN_DIR");
    if (!c->run_dir)
        c->run_dir = "/tmp/backend-run";
    else if (c->run_dir[0] != '/' || strlen(c->run_dir) > 80)
        fail(&l, "RUN_DIR", "must be an absolute path of at most 80 characters");

    c->trusted_proxies = env_str(&l, "TRUSTED_PROXIES");
    if (c->trusted_proxies) {
        for (const char *p = c->trusted_proxies; *p; p++) {
            char ch = *p;
            bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
                      ch == '.' || ch == ':' || ch == '/' || ch == ',' || ch == ' ';
            if (!ok) {
                fail(&l, "TRUSTED_PROXIES", "must be comma-separated IP addresses or CIDR ranges");
                break;
            }
        }
    }
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
    for (size_t i = 0; i < c->cors_origin_count; i++)
        free(c->cors_origins[i]);
    c->cors_origin_count = 0;
}

void config_print(const struct config *c, int fd)
{
    static const char *const lvl[] = {"debug", "info", "warn", "error"};
    dprintf(fd, "DATABASE_URL=<set, redacted>\n");
    dprintf(fd, "IP_HASH_PEPPER=<set, %zu characters, redacted>\n", c->ip_hash_pepper_len);
    dprintf(fd, "ADMIN_API_KEY=%s\n",
            c->admin_api_key ? "<set, redacted>" : "<unset: admin routes answer 503>");
    dprintf(fd, "CORS_ALLOWED_ORIGINS=");
    for (size_t i = 0; i < c->cors_origin_count; i++)
        dprintf(fd, "%s%s", i ? "," : "", c->cors_origins[i]);
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
    dprintf(fd, "ROLLUP_BATCH_DAYS=%d\nROLLUP_DEFAULT_PROPERTY_ID=%s\nROLLUP_INTERVAL_MINUTES=%d\n",
            c->rollup_batch_days, c->rollup_default_property_id, c->rollup_interval_minutes);
    dprintf(fd, "RETENTION_DAYS=%d\nPRIVACY_CONTACT_EMAIL=%s\nLOG_LEVEL=%s\nDATABASE_SCHEMA=%s\n",
            c->retention_days, c->privacy_contact_email ? c->privacy_contact_email : "", lvl[c->log_level],
            c->database_schema);
    dprintf(fd, "RUN_DIR=%s\nTRUSTED_PROXIES=%s\nAPP_HOME=%s\n", c->run_dir,
            c->trusted_proxies ? c->trusted_proxies : "", c->app_home);
}
