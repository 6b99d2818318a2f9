/* test_config.c - config_load over a fake environment: required values, every default of API.md §5,
 * both sides of every range, booleans, the CORS list, and secrets kept out of error messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "core/config.h"
#include "core/bounds.h"
#include "t.h"

#define PEPPER "0123456789abcdef0123456789abcdef" /* CONFIG_PEPPER_MIN_LEN characters */
#define ADMIN_KEY "adminkey-0123456789abcdef"     /* more than CONFIG_ADMIN_KEY_MIN_LEN */

struct kv {
    const char *name;
    const char *value; /* NULL: unset */
};

/* The environment: overrides first, then a minimal valid base. */
struct fake_env {
    const struct kv *over;
};

static const struct kv BASE[] = {
    {"DATABASE_URL", "postgresql://app:s3cret@127.0.0.1:5432/app"},
    {"IP_HASH_PEPPER", PEPPER},
    {NULL, NULL},
};

static const char *fake_getenv(const char *name, void *ctx)
{
    const struct fake_env *env = ctx;
    for (const struct kv *e = env->over; e && e->name; e++) {
        if (strcmp(e->name, name) == 0)
            return e->value;
    }
    for (const struct kv *e = BASE; e->name; e++) {
        if (strcmp(e->name, name) == 0)
            return e->value;
    }
    return NULL;
}

static char err[512];

/* Loads the base environment plus overrides; the config is freed unless keep is given. */
static int load_env(const struct kv *over, struct config *keep)
{
    struct config c;
    struct fake_env env = {over};
    int rc = config_load(&c, fake_getenv, &env, err, sizeof(err));
    if (keep)
        *keep = c;
    else if (rc == 0)
        config_free(&c);
    return rc;
}

#define LOAD(keep, ...) load_env((const struct kv[]){__VA_ARGS__, {NULL, NULL}}, keep)

/* Loads with one variable set; returns the rc. */
static int load_one(const char *name, const char *value)
{
    return LOAD(NULL, {name, value});
}

static bool err_starts_with(const char *name)
{
    size_t n = strlen(name);
    return strncmp(err, name, n) == 0 && err[n] == ':';
}

/* A string of n copies of c (static buffer reused by each call). */
static const char *repeat(char c, size_t n)
{
    static char buf[CONFIG_MAX_VALUE_LEN + 16];
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static const char *num(long v)
{
    static char bufs[4][32];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%ld", v);
    return b;
}

static void test_defaults(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"UNRELATED", "x"}), 0);
    CHECK_STR(err, "");
    CHECK_STR(c.database_url, "postgresql://app:s3cret@127.0.0.1:5432/app");
    CHECK_STR(c.ip_hash_pepper, PEPPER);
    CHECK_INT(c.ip_hash_pepper_len, strlen(PEPPER));
    CHECK(c.admin_api_key == NULL);
    CHECK_INT(c.admin_api_key_len, 0);
    CHECK_INT(c.cors_origin_count, 0);
    CHECK(c.enforce_origin);
    CHECK_INT(c.port, 3000);
    CHECK_INT(c.fcgi_workers, 8);
    CHECK_INT(c.max_body_bytes, BODY_BYTES_DEFAULT);
    CHECK_INT(c.max_body_bytes, 65536);
    CHECK_INT(c.rate_limits[RL_EVENTS], 180);
    CHECK_INT(c.rate_limits[RL_CAPTURE], 24);
    CHECK_INT(c.rate_limits[RL_UNSUBSCRIBE], 12);
    CHECK_INT(c.rate_limits[RL_DELETE], 10);
    CHECK_INT(c.rate_limits[RL_SUMMARY], 60);
    CHECK_INT(c.rate_limits[RL_DEFAULT], 120);
    CHECK_INT(c.rate_limit_ipv6_prefix, RATELIMIT_IPV6_PREFIX_DEFAULT);
    CHECK_INT(RATELIMIT_IPV6_PREFIX_DEFAULT, 64);
    CHECK_INT(c.session_inactivity_minutes, 30);
    CHECK_INT(c.heuristic_link_window_minutes, 15);
    CHECK(c.enable_heuristic_linking);
    CHECK_INT(c.rollup_batch_days, 7);
    CHECK_STR(c.rollup_default_property_id, "default");
    CHECK_INT(c.rollup_interval_minutes, 60);
    CHECK_INT(c.rollup_refresh_minutes, 5);
    CHECK_INT(c.retention_days, 90);
    CHECK(c.privacy_contact_email == NULL);
    CHECK_INT(c.log_level, LOG_INFO);
    CHECK_STR(c.database_schema, "public");
    CHECK(c.run_dir != NULL && c.run_dir[0] == '/');
    CHECK(c.trusted_proxies == NULL);
    CHECK_STR(c.app_home, ".");
    config_free(&c);

    /* an empty value is the same as unset */
    CHECK_INT(LOAD(&c, {"PORT", ""}, {"LOG_LEVEL", ""}, {"ADMIN_API_KEY", ""}), 0);
    CHECK_INT(c.port, 3000);
    CHECK_INT(c.log_level, LOG_INFO);
    CHECK(c.admin_api_key == NULL);
    config_free(&c);

    /* values given are taken */
    CHECK_INT(LOAD(&c, {"PRIVACY_CONTACT_EMAIL", "privacy@example.com"}, {"DATABASE_SCHEMA", "marketing"},
                   {"ROLLUP_DEFAULT_PROPERTY_ID", "site-a"}, {"APP_HOME", "/app"}, {"RUN_DIR", "/run/app"}),
              0);
    CHECK_STR(c.privacy_contact_email, "privacy@example.com");
    CHECK_STR(c.database_schema, "marketing");
    CHECK_STR(c.rollup_default_property_id, "site-a");
    CHECK_STR(c.app_home, "/app");
    CHECK_STR(c.run_dir, "/run/app");
    config_free(&c);
}

static void test_required(void)
{
    CHECK_INT(load_one("DATABASE_URL", NULL), -1);
    CHECK(err_starts_with("DATABASE_URL"));
    CHECK_INT(load_one("DATABASE_URL", ""), -1);
    CHECK(err_starts_with("DATABASE_URL"));

    CHECK_INT(load_one("IP_HASH_PEPPER", NULL), -1);
    CHECK(err_starts_with("IP_HASH_PEPPER"));
    CHECK_INT(load_one("IP_HASH_PEPPER", ""), -1);
    CHECK(err_starts_with("IP_HASH_PEPPER"));

    /* both missing: the first one is named */
    CHECK_INT(LOAD(NULL, {"DATABASE_URL", NULL}, {"IP_HASH_PEPPER", NULL}), -1);
    CHECK(err_starts_with("DATABASE_URL"));
}

static void test_pepper_length(void)
{
    char short_pepper[CONFIG_PEPPER_MIN_LEN];
    memset(short_pepper, 'p', sizeof(short_pepper) - 1);
    short_pepper[sizeof(short_pepper) - 1] = '\0';
    CHECK_INT(strlen(short_pepper), CONFIG_PEPPER_MIN_LEN - 1);
    CHECK_INT(load_one("IP_HASH_PEPPER", short_pepper), -1);
    CHECK(err_starts_with("IP_HASH_PEPPER"));
    CHECK(strstr(err, short_pepper) == NULL);

    struct config c;
    CHECK_INT(LOAD(&c, {"IP_HASH_PEPPER", repeat('p', CONFIG_PEPPER_MIN_LEN)}), 0);
    CHECK_INT(c.ip_hash_pepper_len, CONFIG_PEPPER_MIN_LEN);
    config_free(&c);
}

static void test_admin_key(void)
{
    char short_key[CONFIG_ADMIN_KEY_MIN_LEN];
    memset(short_key, 'k', sizeof(short_key) - 1);
    short_key[sizeof(short_key) - 1] = '\0';
    CHECK_INT(load_one("ADMIN_API_KEY", short_key), -1);
    CHECK(err_starts_with("ADMIN_API_KEY"));
    CHECK(strstr(err, short_key) == NULL);

    struct config c;
    CHECK_INT(LOAD(&c, {"ADMIN_API_KEY", repeat('k', CONFIG_ADMIN_KEY_MIN_LEN)}), 0);
    CHECK_INT(c.admin_api_key_len, CONFIG_ADMIN_KEY_MIN_LEN);
    CHECK_STR(c.admin_api_key, repeat('k', CONFIG_ADMIN_KEY_MIN_LEN));
    config_free(&c);
}

/* Secrets never appear in an error message, whatever fails. */
static void test_secrets_not_in_errors(void)
{
    const char *url = "postgresql://app:hunter2-very-secret@db.internal:5432/app";
    CHECK_INT(LOAD(NULL, {"DATABASE_URL", url}, {"IP_HASH_PEPPER", "pepper-too-short"},
                   {"ADMIN_API_KEY", "key-short"}),
              -1);
    CHECK(err_starts_with("IP_HASH_PEPPER"));
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK(strstr(err, "pepper-too-short") == NULL);

    CHECK_INT(LOAD(NULL, {"DATABASE_URL", url}, {"ADMIN_API_KEY", "key-short"}), -1);
    CHECK(err_starts_with("ADMIN_API_KEY"));
    CHECK(strstr(err, "key-short") == NULL);
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK(strstr(err, PEPPER) == NULL);

    /* a DATABASE_URL libpq cannot parse stops the process naming it, without repeating it (libpq's
     * own message would quote the password) */
    CHECK_INT(load_one("DATABASE_URL", "postgresql://app:hunter2%zz@db/app"), -1);
    CHECK(err_starts_with("DATABASE_URL"));
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK_INT(load_one("DATABASE_URL", "not a conninfo"), -1);
    CHECK(err_starts_with("DATABASE_URL"));

    /* a bad value elsewhere never echoes the secrets either */
    CHECK_INT(LOAD(NULL, {"DATABASE_URL", url}, {"ADMIN_API_KEY", ADMIN_KEY}, {"PORT", "http"}), -1);
    CHECK(err_starts_with("PORT"));
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK(strstr(err, ADMIN_KEY) == NULL);
    CHECK(strstr(err, PEPPER) == NULL);
}

/* CONFIG_MAX_VALUE_LEN: the value itself is never echoed. */
static void test_value_cap(void)
{
    struct config c;
    /* a valid URI of exactly the cap: postgresql://h/uuu... */
    static char url[CONFIG_MAX_VALUE_LEN + 1];
    memcpy(url, "postgresql://h/", 15);
    memset(url + 15, 'u', CONFIG_MAX_VALUE_LEN - 15);
    url[CONFIG_MAX_VALUE_LEN] = '\0';
    CHECK_INT(LOAD(&c, {"DATABASE_URL", url}), 0);
    CHECK_INT(strlen(c.database_url), CONFIG_MAX_VALUE_LEN);
    config_free(&c);

    CHECK_INT(load_one("DATABASE_URL", repeat('u', CONFIG_MAX_VALUE_LEN + 1)), -1);
    CHECK(err_starts_with("DATABASE_URL"));
    CHECK(strstr(err, "uuuuuuuu") == NULL);

    CHECK_INT(load_one("IP_HASH_PEPPER", repeat('p', CONFIG_MAX_VALUE_LEN + 1)), -1);
    CHECK(err_starts_with("IP_HASH_PEPPER"));
    CHECK(strstr(err, "pppppppp") == NULL);
}

/* The message is cut to errlen and always terminated. */
static void test_err_truncation(void)
{
    struct config c;
    char small[9];
    memset(small, 'Z', sizeof(small));
    struct fake_env env = {(const struct kv[]){{"DATABASE_URL", NULL}, {NULL, NULL}}};
    CHECK_INT(config_load(&c, fake_getenv, &env, small, 8), -1);
    CHECK_STR(small, "DATABAS");
    CHECK(small[8] == 'Z');
}

struct int_range {
    const char *name;
    long min, max;
};

static void test_int_ranges(void)
{
    static const struct int_range ranges[] = {
        {"PORT", 1, 65535},
        {"FCGI_WORKERS", 1, CONFIG_FCGI_WORKERS_MAX},
        {"MAX_BODY_BYTES", BODY_BYTES_MIN, BODY_BYTES_MAX},
        {"RATE_LIMIT_EVENTS", 0, RATELIMIT_PER_MINUTE_MAX},
        {"RATE_LIMIT_CAPTURE", 0, RATELIMIT_PER_MINUTE_MAX},
        {"RATE_LIMIT_UNSUBSCRIBE", 0, RATELIMIT_PER_MINUTE_MAX},
        {"RATE_LIMIT_DELETE", 0, RATELIMIT_PER_MINUTE_MAX},
        {"RATE_LIMIT_SUMMARY", 0, RATELIMIT_PER_MINUTE_MAX},
        {"RATE_LIMIT_MAX", 0, RATELIMIT_PER_MINUTE_MAX},
        {"RATE_LIMIT_IPV6_PREFIX", RATELIMIT_IPV6_PREFIX_MIN, RATELIMIT_IPV6_PREFIX_MAX},
        {"SESSION_INACTIVITY_MINUTES", 1, 1440},
        {"HEURISTIC_LINK_WINDOW_MINUTES", 1, 1440},
        {"ROLLUP_BATCH_DAYS", 1, 365},
        {"ROLLUP_INTERVAL_MINUTES", 1, 10080},
        {"ROLLUP_REFRESH_MINUTES", 1, 1440},
        {"RETENTION_DAYS", 1, 36500},
    };
    for (size_t i = 0; i < ARRAY_LEN(ranges); i++) {
        const struct int_range *r = &ranges[i];
        CHECK_INT(load_one(r->name, num(r->min)), 0);
        CHECK_INT(load_one(r->name, num(r->max)), 0);
        CHECK_INT(load_one(r->name, num(r->min - 1)), -1);
        CHECK(err_starts_with(r->name));
        CHECK_INT(load_one(r->name, num(r->max + 1)), -1);
        CHECK(err_starts_with(r->name));
        static const char *const junk[] = {"abc", "12a", "1.5", "0x10", "99999999999999999999999", "5 ", "-"};
        for (size_t j = 0; j < ARRAY_LEN(junk); j++) {
            if (load_one(r->name, junk[j]) != -1 || !err_starts_with(r->name)) {
                t_failed++;
                fprintf(stderr, "FAIL %s=%s accepted (err '%s')\n", r->name, junk[j], err);
            } else {
                t_passed++;
            }
        }
    }

    /* the value lands in the right field */
    struct config c;
    CHECK_INT(LOAD(&c, {"PORT", "8080"}, {"FCGI_WORKERS", num(CONFIG_FCGI_WORKERS_MAX)},
                   {"MAX_BODY_BYTES", num(BODY_BYTES_MIN)}, {"SESSION_INACTIVITY_MINUTES", "45"},
                   {"HEURISTIC_LINK_WINDOW_MINUTES", "5"}, {"ROLLUP_BATCH_DAYS", "365"},
                   {"ROLLUP_INTERVAL_MINUTES", "15"}, {"RETENTION_DAYS", "30"},
                   {"ROLLUP_REFRESH_MINUTES", "2"}),
              0);
    CHECK_INT(c.port, 8080);
    CHECK_INT(c.fcgi_workers, CONFIG_FCGI_WORKERS_MAX);
    CHECK_INT(c.max_body_bytes, BODY_BYTES_MIN);
    CHECK_INT(c.session_inactivity_minutes, 45);
    CHECK_INT(c.heuristic_link_window_minutes, 5);
    CHECK_INT(c.rollup_batch_days, 365);
    CHECK_INT(c.rollup_interval_minutes, 15);
    CHECK_INT(c.rollup_refresh_minutes, 2);
    CHECK_INT(c.retention_days, 30);
    config_free(&c);

    CHECK_INT(LOAD(&c, {"MAX_BODY_BYTES", num(BODY_BYTES_MAX)}), 0);
    CHECK_INT(c.max_body_bytes, BODY_BYTES_MAX);
    config_free(&c);
}

static void test_rate_limits(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"RATE_LIMIT_EVENTS", "0"}, {"RATE_LIMIT_CAPTURE", "1"},
                   {"RATE_LIMIT_UNSUBSCRIBE", "2"}, {"RATE_LIMIT_DELETE", "3"}, {"RATE_LIMIT_SUMMARY", "4"},
                   {"RATE_LIMIT_MAX", num(RATELIMIT_PER_MINUTE_MAX)}),
              0);
    CHECK_INT(c.rate_limits[RL_EVENTS], 0);
    CHECK_INT(c.rate_limits[RL_CAPTURE], 1);
    CHECK_INT(c.rate_limits[RL_UNSUBSCRIBE], 2);
    CHECK_INT(c.rate_limits[RL_DELETE], 3);
    CHECK_INT(c.rate_limits[RL_SUMMARY], 4);
    CHECK_INT(c.rate_limits[RL_DEFAULT], RATELIMIT_PER_MINUTE_MAX);
    config_free(&c);

    CHECK_INT(load_one("RATE_LIMIT_MAX", "-1"), -1);
    CHECK(err_starts_with("RATE_LIMIT_MAX"));

    /* the IPv6 prefix: /32 (a whole provider allocation) to /128 (single addresses) */
    CHECK_INT(RATELIMIT_IPV6_PREFIX_MIN, 32);
    CHECK_INT(RATELIMIT_IPV6_PREFIX_MAX, 128);
    CHECK_INT(LOAD(&c, {"RATE_LIMIT_IPV6_PREFIX", "56"}), 0);
    CHECK_INT(c.rate_limit_ipv6_prefix, 56);
    config_free(&c);
    CHECK_INT(load_one("RATE_LIMIT_IPV6_PREFIX", "129"), -1);
    CHECK(err_starts_with("RATE_LIMIT_IPV6_PREFIX"));
    CHECK_INT(load_one("RATE_LIMIT_IPV6_PREFIX", "/64"), -1);
    CHECK(err_starts_with("RATE_LIMIT_IPV6_PREFIX"));
}

/* Issue 14: GPC/DNT honoured and bots dropped by default; each setting restores the old behaviour. */
static void test_privacy_settings(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"IP_HASH_PEPPER", PEPPER}), 0);
    CHECK(c.honor_gpc);
    CHECK(c.drop_bots);
    config_free(&c);
    CHECK_INT(LOAD(&c, {"HONOR_GLOBAL_PRIVACY_CONTROL", "off"}, {"BOT_POLICY", "LABEL"}), 0);
    CHECK(!c.honor_gpc);
    CHECK(!c.drop_bots);
    config_free(&c);
    CHECK_INT(LOAD(&c, {"BOT_POLICY", "drop"}), 0);
    CHECK(c.drop_bots);
    config_free(&c);
    /* (an empty value counts as unset, as for every variable) */
    static const char *const bad[] = {"ignore", "labels", " drop", "1"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT(load_one("BOT_POLICY", bad[i]), -1);
        CHECK(err_starts_with("BOT_POLICY"));
    }
    CHECK_INT(load_one("HONOR_GLOBAL_PRIVACY_CONTROL", "maybe"), -1);
    CHECK(err_starts_with("HONOR_GLOBAL_PRIVACY_CONTROL"));
}

static void test_site_time_zone(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"UNRELATED", "x"}), 0);
    CHECK_STR(c.site_time_zone, "UTC");
    config_free(&c);
    CHECK_INT(LOAD(&c, {"SITE_TIME_ZONE", "America/Toronto"}), 0);
    CHECK_STR(c.site_time_zone, "America/Toronto");
    config_free(&c);
    /* not names, a directory of tzdata, names no tzdata has, paths out of it */
    static const char *const bad[] = {
        "Mars/Olympus_Mons", "America",       "America/", "/etc/passwd",   "../../etc/passwd",
        "America//Toronto",  "Europe/Paris ", "UTC;x",    "posixrules/..", "EST5EDT,M3.2.0,M11.1.0"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT(load_one("SITE_TIME_ZONE", bad[i]), -1);
        CHECK(err_starts_with("SITE_TIME_ZONE"));
    }
    CHECK_INT(load_one("SITE_TIME_ZONE", repeat('A', CONFIG_TIME_ZONE_MAX + 1)), -1);
    CHECK(err_starts_with("SITE_TIME_ZONE"));
    /* TZDIR says where tzdata is, as it does for glibc: a zone is looked up there */
    CHECK_INT(LOAD(NULL, {"SITE_TIME_ZONE", "America/Toronto"}, {"TZDIR", "/nonexistent"}), -1);
    CHECK(err_starts_with("SITE_TIME_ZONE"));
    const char *why = NULL;
    CHECK_INT(config_check_time_zone("Europe/Paris", CONFIG_TZDIR_DEFAULT, &why), 0);
    CHECK_INT(config_check_time_zone("Etc/GMT+5", CONFIG_TZDIR_DEFAULT, &why), 0);
    CHECK_INT(config_check_time_zone("zone.tab", CONFIG_TZDIR_DEFAULT, &why), -1);
    CHECK(why != NULL);
}

static void test_booleans(void)
{
    static const char *const yes[] = {"1", "true", "TRUE", "True", "yes", "YES", "Yes", "on", "ON", "oN"};
    static const char *const no[] = {"0", "false", "FALSE", "False", "no", "NO", "No", "off", "OFF", "oFf"};
    static const char *const bad[] = {"2", "tru", "truee", "y", "n", "enabled", "-1", " true", "on "};
    struct config c;
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        bool b = false;
        CHECK_INT(config_parse_bool(yes[i], &b), 0);
        CHECK(b);
        CHECK_INT(LOAD(&c, {"ENABLE_HEURISTIC_LINKING", yes[i]}), 0);
        CHECK(c.enable_heuristic_linking);
        config_free(&c);
    }
    for (size_t i = 0; i < ARRAY_LEN(no); i++) {
        bool b = true;
        CHECK_INT(config_parse_bool(no[i], &b), 0);
        CHECK(!b);
        CHECK_INT(LOAD(&c, {"ENABLE_HEURISTIC_LINKING", no[i]}), 0);
        CHECK(!c.enable_heuristic_linking);
        config_free(&c);
    }
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        bool b = true;
        CHECK_INT(config_parse_bool(bad[i], &b), -1);
        CHECK(b); /* untouched */
        CHECK_INT(load_one("ENABLE_HEURISTIC_LINKING", bad[i]), -1);
        CHECK(err_starts_with("ENABLE_HEURISTIC_LINKING"));
    }
    bool b = true;
    CHECK_INT(config_parse_bool("", &b), -1);
}

/* ENFORCE_ORIGIN: on unless turned off; a bad value names the variable. */
static void test_enforce_origin(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"ENFORCE_ORIGIN", "false"}), 0);
    CHECK(!c.enforce_origin);
    config_free(&c);
    CHECK_INT(LOAD(&c, {"ENFORCE_ORIGIN", "On"}), 0);
    CHECK(c.enforce_origin);
    config_free(&c);
    CHECK_INT(LOAD(&c, {"ENFORCE_ORIGIN", ""}), 0); /* empty is unset: the default */
    CHECK(c.enforce_origin);
    config_free(&c);
    CHECK_INT(load_one("ENFORCE_ORIGIN", "sometimes"), -1);
    CHECK(err_starts_with("ENFORCE_ORIGIN"));
}

static void test_cors_list(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"CORS_ALLOWED_ORIGINS", " https://a.example ,, ,\thttps://b.example:8443\t,"}), 0);
    CHECK_INT(c.cors_origin_count, 2);
    CHECK_STR(c.cors_origins[0], "https://a.example");
    CHECK_STR(c.cors_origins[1], "https://b.example:8443");
    config_free(&c);
    CHECK_INT(c.cors_origin_count, 0);

    CHECK_INT(LOAD(&c, {"CORS_ALLOWED_ORIGINS", " , ,,"}), 0);
    CHECK_INT(c.cors_origin_count, 0);
    config_free(&c);

    CHECK_INT(LOAD(&c, {"CORS_ALLOWED_ORIGINS", "https://only.example"}), 0);
    CHECK_INT(c.cors_origin_count, 1);
    CHECK_STR(c.cors_origins[0], "https://only.example");
    config_free(&c);

    /* exactly CORS_MAX_ORIGINS, then one more (empties between do not count) */
    char list[CORS_MAX_ORIGINS * 40];
    size_t o = 0;
    for (int i = 0; i < CORS_MAX_ORIGINS; i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "https://o%d.example, ,", i);
    CHECK_INT(LOAD(&c, {"CORS_ALLOWED_ORIGINS", list}), 0);
    CHECK_INT(c.cors_origin_count, CORS_MAX_ORIGINS);
    char last[40];
    snprintf(last, sizeof(last), "https://o%d.example", CORS_MAX_ORIGINS - 1);
    CHECK_STR(c.cors_origins[CORS_MAX_ORIGINS - 1], last);
    config_free(&c);
    snprintf(list + o, sizeof(list) - o, "https://one-too-many.example");
    CHECK_INT(load_one("CORS_ALLOWED_ORIGINS", list), -1);
    CHECK(err_starts_with("CORS_ALLOWED_ORIGINS"));

    /* origin length CORS_MAX_ORIGIN_LEN, then one more */
    char origin[CORS_MAX_ORIGIN_LEN + 2];
    memcpy(origin, "https://", 8);
    memset(origin + 8, 'a', CORS_MAX_ORIGIN_LEN - 8);
    origin[CORS_MAX_ORIGIN_LEN] = '\0';
    CHECK_INT(LOAD(&c, {"CORS_ALLOWED_ORIGINS", origin}), 0);
    CHECK_INT(c.cors_origin_count, 1);
    CHECK_INT(strlen(c.cors_origins[0]), CORS_MAX_ORIGIN_LEN);
    config_free(&c);
    origin[CORS_MAX_ORIGIN_LEN] = 'a';
    origin[CORS_MAX_ORIGIN_LEN + 1] = '\0';
    CHECK_INT(load_one("CORS_ALLOWED_ORIGINS", origin), -1);
    CHECK(err_starts_with("CORS_ALLOWED_ORIGINS"));

    /* a failure after the list was split frees it (valgrind checks) */
    CHECK_INT(LOAD(NULL, {"CORS_ALLOWED_ORIGINS", "https://a.example,https://b.example"}, {"PORT", "0"}), -1);
    CHECK(err_starts_with("PORT"));
}

/* An origin that can never equal a browser's Origin header is refused, naming itself. */
static void test_cors_origin_shape(void)
{
    static const char *const good[] = {
        "http://localhost",   "https://a.example:8443", "http://127.0.0.1:3000",
        "https://[::1]:8443", "https://[fd00::1]",      "https://xn--bcher-kva.example",
    };
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        struct config c;
        CHECK_INT(LOAD(&c, {"CORS_ALLOWED_ORIGINS", good[i]}), 0);
        if (c.cors_origin_count == 1)
            CHECK_STR(c.cors_origins[0], good[i]);
        config_free(&c);
    }
    static const struct {
        const char *value, *why; /* why: a word of the reason */
    } bad[] = {
        {"*", "'*'"},
        {"www.example.com", "scheme"},
        {"example.com:443", "scheme"},
        {"ftp://example.com", "scheme"},
        {"https://", "scheme"},
        {"https://example.com/", "trailing slash"},
        {"https://example.com/app", "path"},
        {"https://example.com:8443/", "trailing slash"},
        {"https://example.com?x=1", "query"},
        {"https://user@example.com", "user"},
        {"https://:443", "no host"},
        {"https://example.com:", "port"},
        {"https://example.com:https", "port"},
        {"https://example.com:123456", "port"},
        {"https://[::1]:x", "port"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT(load_one("CORS_ALLOWED_ORIGINS", bad[i].value), -1);
        CHECK(err_starts_with("CORS_ALLOWED_ORIGINS"));
        CHECK(strstr(err, bad[i].why) != NULL);
    }
    /* one bad entry among good ones is named, the list refused */
    CHECK_INT(load_one("CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example/"), -1);
    CHECK(strstr(err, "'https://b.example/'") != NULL);
}

/* BIND_ADDRESS: lighttpd's server.bind, an IPv4 or IPv6 address; default 0.0.0.0. */
static void test_bind_address(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"PORT", "3000"}), 0);
    CHECK_STR(c.bind_address, "0.0.0.0");
    config_free(&c);
    static const char *const good[] = {"127.0.0.1", "0.0.0.0", "::", "::1", "fd00::10:1"};
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        CHECK_INT(LOAD(&c, {"BIND_ADDRESS", good[i]}), 0);
        CHECK_STR(c.bind_address, good[i]);
        config_free(&c);
    }
    static const char *const bad[] = {"localhost", "127.0.0.1:8080", "10.1",     "[::1]",
                                      "::1/128",   "256.0.0.1",      "1.2.3.4 ", "0.0.0.0\"\""};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT(load_one("BIND_ADDRESS", bad[i]), -1);
        CHECK(err_starts_with("BIND_ADDRESS"));
    }
}

/* METRICS_PORT (default 9091, 0: no listener, never PORT) and METRICS_BIND_ADDRESS (an address,
 * loopback by default). */
static void test_metrics_listener(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"PORT", "3000"}), 0);
    CHECK_INT(c.metrics_port, METRICS_PORT_DEFAULT);
    CHECK_STR(c.metrics_bind_address, "127.0.0.1");
    config_free(&c);
    CHECK_INT(LOAD(&c, {"METRICS_PORT", "0"}, {"METRICS_BIND_ADDRESS", "::"}), 0);
    CHECK_INT(c.metrics_port, 0);
    CHECK_STR(c.metrics_bind_address, "::");
    config_free(&c);
    CHECK_INT(LOAD(NULL, {"PORT", "9100"}, {"METRICS_PORT", "9100"}), -1);
    CHECK(err_starts_with("METRICS_PORT"));
    CHECK_INT(LOAD(NULL, {"PORT", "9091"}), -1); /* the default metrics port is taken by PORT */
    CHECK(err_starts_with("METRICS_PORT"));
    static const char *const bad_port[] = {"-1", "65536", "x", "91 "};
    for (size_t i = 0; i < ARRAY_LEN(bad_port); i++) {
        CHECK_INT(load_one("METRICS_PORT", bad_port[i]), -1);
        CHECK(err_starts_with("METRICS_PORT"));
    }
    static const char *const bad[] = {"localhost", "[::]", "0.0.0.0:9091", "fly-local-6pn"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT(load_one("METRICS_BIND_ADDRESS", bad[i]), -1);
        CHECK(err_starts_with("METRICS_BIND_ADDRESS"));
    }
}

/* PATH_QUERY_ALLOWLIST: comma-separated query keys a stored path keeps; default none. */
static void test_path_query_allowlist(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"IP_HASH_PEPPER", PEPPER}), 0);
    CHECK_INT(c.path_query_key_count, 0);
    config_free(&c);
    CHECK_INT(LOAD(&c, {"PATH_QUERY_ALLOWLIST", " page ,, ,\tlang\t,"}), 0);
    CHECK_INT(c.path_query_key_count, 2);
    CHECK_STR(c.path_query_keys[0], "page");
    CHECK_STR(c.path_query_keys[1], "lang");
    config_free(&c);
    CHECK_INT(c.path_query_key_count, 0);

    /* exactly PATH_QUERY_ALLOWLIST_MAX keys, then one more */
    char list[PATH_QUERY_ALLOWLIST_MAX * 8 + 16];
    size_t o = 0;
    for (int i = 0; i < PATH_QUERY_ALLOWLIST_MAX; i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "k%d,", i);
    CHECK_INT(LOAD(&c, {"PATH_QUERY_ALLOWLIST", list}), 0);
    CHECK_INT(c.path_query_key_count, PATH_QUERY_ALLOWLIST_MAX);
    config_free(&c);
    snprintf(list + o, sizeof(list) - o, "one-too-many");
    CHECK_INT(load_one("PATH_QUERY_ALLOWLIST", list), -1);
    CHECK(err_starts_with("PATH_QUERY_ALLOWLIST"));

    /* key length PATH_QUERY_KEY_MAX_LEN, then one more */
    char key[PATH_QUERY_KEY_MAX_LEN + 2];
    memset(key, 'k', PATH_QUERY_KEY_MAX_LEN);
    key[PATH_QUERY_KEY_MAX_LEN] = '\0';
    CHECK_INT(LOAD(&c, {"PATH_QUERY_ALLOWLIST", key}), 0);
    CHECK_INT(strlen(c.path_query_keys[0]), PATH_QUERY_KEY_MAX_LEN);
    config_free(&c);
    key[PATH_QUERY_KEY_MAX_LEN] = 'k';
    key[PATH_QUERY_KEY_MAX_LEN + 1] = '\0';
    CHECK_INT(load_one("PATH_QUERY_ALLOWLIST", key), -1);
    CHECK(err_starts_with("PATH_QUERY_ALLOWLIST"));

    /* characters that would end or split a key */
    static const char *const bad[] = {"a=b", "a&b", "a#", "?a", "a b", "a\x01"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT(load_one("PATH_QUERY_ALLOWLIST", bad[i]), -1);
        CHECK(err_starts_with("PATH_QUERY_ALLOWLIST"));
    }
    /* a failure after the list was split frees it (valgrind checks) */
    CHECK_INT(LOAD(NULL, {"PATH_QUERY_ALLOWLIST", "page,lang"}, {"PORT", "0"}), -1);
    CHECK(err_starts_with("PORT"));
}

static void test_log_level(void)
{
    static const struct {
        const char *text;
        enum log_level lvl;
    } ok[] = {{"debug", LOG_DEBUG}, {"DEBUG", LOG_DEBUG}, {"info", LOG_INFO},
              {"Warn", LOG_WARN},   {"error", LOG_ERROR}, {"ERROR", LOG_ERROR}};
    struct config c;
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        CHECK_INT(LOAD(&c, {"LOG_LEVEL", ok[i].text}), 0);
        CHECK_INT(c.log_level, ok[i].lvl);
        config_free(&c);
    }
    static const char *const bad[] = {"verbose", "warning", "inf", "trace", "0"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT(load_one("LOG_LEVEL", bad[i]), -1);
        CHECK(err_starts_with("LOG_LEVEL"));
    }
}

static void test_strings(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"ROLLUP_DEFAULT_PROPERTY_ID", repeat('x', PROPERTY_ID_MAX)}), 0);
    CHECK_INT(strlen(c.rollup_default_property_id), PROPERTY_ID_MAX);
    config_free(&c);
    CHECK_INT(load_one("ROLLUP_DEFAULT_PROPERTY_ID", repeat('x', PROPERTY_ID_MAX + 1)), -1);
    CHECK(err_starts_with("ROLLUP_DEFAULT_PROPERTY_ID"));

    /* Postgres identifiers: at most 63 bytes */
    CHECK_INT(load_one("DATABASE_SCHEMA", repeat('s', 63)), 0);
    CHECK_INT(load_one("DATABASE_SCHEMA", repeat('s', 64)), -1);
    CHECK(err_starts_with("DATABASE_SCHEMA"));
    CHECK_INT(load_one("DATABASE_SCHEMA", "pub\tlic"), -1);
    CHECK(err_starts_with("DATABASE_SCHEMA"));

    CHECK_INT(load_one("RUN_DIR", "relative/dir"), -1);
    CHECK(err_starts_with("RUN_DIR"));

    CHECK_INT(LOAD(&c, {"TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8,172.16.0.1"}), 0);
    CHECK_STR(c.trusted_proxies, "10.0.0.0/8, fd00::/8,172.16.0.1");
    config_free(&c);
    CHECK_INT(load_one("TRUSTED_PROXIES", "10.0.0.1\"; evil"), -1);
    CHECK(err_starts_with("TRUSTED_PROXIES"));
}

/* one entry through config_parse_trusted_net; returns its rc */
static int net(const char *text, struct trusted_net *out)
{
    const char *why = NULL;
    int rc = config_parse_trusted_net(str_from_cstr(text), out, &why);
    if (rc != 0 && !why)
        return 99; /* a refusal must say why */
    return rc;
}

/* text parses and formats back as want */
static bool net_round_trip(const char *text, const char *want)
{
    struct trusted_net n;
    char buf[64];
    if (net(text, &n) != 0 || config_format_trusted_net(&n, buf, sizeof(buf)) != 0)
        return false;
    if (strcmp(buf, want) != 0)
        fprintf(stderr, "  %s formats as %s, want %s\n", text, buf, want);
    return strcmp(buf, want) == 0;
}

static void test_trusted_proxies(void)
{
    struct trusted_net n;
    char text[64];
    /* every IPv4 prefix length 0-32 (on 0.0.0.0, which has no host bits), and 33 is refused */
    for (int p = 0; p <= 32; p++) {
        snprintf(text, sizeof(text), "0.0.0.0/%d", p);
        CHECK_INT(net(text, &n), 0);
        CHECK_INT(n.prefix, p);
        CHECK_INT(n.family, AF_INET);
    }
    CHECK_INT(net("0.0.0.0/33", &n), -1);
    CHECK_INT(net("10.0.0.0/99", &n), -1);
    CHECK_INT(net("10.0.0.0/128", &n), -1);
    /* every IPv6 prefix length 0-128, and 129 is refused */
    for (int p = 0; p <= 128; p++) {
        snprintf(text, sizeof(text), "::/%d", p);
        CHECK_INT(net(text, &n), 0);
        CHECK_INT(n.prefix, p);
        CHECK_INT(n.family, AF_INET6);
    }
    CHECK_INT(net("::/129", &n), -1);
    CHECK_INT(net("fd00::/999", &n), -1);

    /* good addresses and ranges, and how lighttpd gets them (normalised: lighttpd compares a
     * bare address as text with the peer's inet_ntop form) */
    CHECK(net_round_trip("10.0.0.0/8", "10.0.0.0/8"));
    CHECK(net_round_trip("172.16.0.0/12", "172.16.0.0/12"));
    CHECK(net_round_trip("192.0.2.1", "192.0.2.1"));
    CHECK(net_round_trip("192.0.2.1/32", "192.0.2.1"));
    CHECK(net_round_trip("255.255.255.255", "255.255.255.255"));
    CHECK(net_round_trip("fdaa::/16", "fdaa::/16"));
    CHECK(net_round_trip("FDAA:0:0::/16", "fdaa::/16"));
    CHECK(net_round_trip("2001:db8:0:0:0:0:0:1", "2001:db8::1"));
    CHECK(net_round_trip("2001:db8::1/128", "2001:db8::1"));
    CHECK(net_round_trip("::1", "::1"));
    CHECK(net_round_trip("::ffff:192.0.2.1", "::ffff:192.0.2.1"));
    CHECK(net_round_trip("0.0.0.0/0", "0.0.0.0/0"));

    /* bad IPv4: shorthands inet_aton would take, out-of-range parts, leading zeros, junk */
    static const char *const bad[] = {
        "1.2.3",
        "10.1",
        "10",
        "1.2.3.4.5",
        "256.0.0.1",
        "1.2.3.-4",
        "01.2.3.4",
        "1.2.3.4 ",
        " 1.2.3.4",
        "0x0a.0.0.1",
        "1.2.3.4/",
        "1.2.3.4/-1",
        "1.2.3.4/+8",
        "1.2.3.4/08",
        "1.2.3.4/8/8",
        "1.2.3.4/8x",
        "1.2.3.4/ 8",
        "/8",
        "10.0.0.0/0032",
        /* bad IPv6 */
        "::::",
        ":::1",
        "1::2::3",
        "12345::",
        "fd00::g",
        "fe80::1%eth0",
        "[::1]",
        "[fd00::]/8",
        "::/",
        "2001:db8:0:0:0:0:0:0:1",
        /* junk */
        "",
        "/",
        "localhost",
        "fly-proxy.internal",
        "all",
        "*",
        "10.0.0.0/8\"",
        "1.2.3.4\\n",
        /* host bits beyond the prefix */
        "10.0.0.1/8",
        "172.16.0.0/11",
        "192.168.1.0/23",
        "fd00::1/8",
        "fdab::/15",
        "128.0.0.0/0",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int rc = net(bad[i], &n);
        if (rc != -1)
            fprintf(stderr, "  accepted bad TRUSTED_PROXIES entry '%s'\n", bad[i]);
        CHECK_INT(rc, -1);
    }

    /* through config_load: entries trimmed, empties dropped; a bad one stops start-up naming the
     * variable and showing the entry */
    struct config c;
    CHECK_INT(LOAD(&c, {"TRUSTED_PROXIES", " 10.0.0.0/8, ,fd00::/8,172.16.0.1 ,"}), 0);
    CHECK_INT(c.trusted_count, 3);
    CHECK_INT(c.trusted[1].family, AF_INET6);
    CHECK_INT(c.trusted[1].prefix, 8);
    CHECK_INT(c.trusted[2].prefix, 32);
    config_free(&c);
    CHECK_INT(LOAD(&c, {"TRUSTED_PROXIES", " , "}), 0);
    CHECK_INT(c.trusted_count, 0);
    config_free(&c);
    static const char *const bad_lists[] = {
        "10.0.0.0/99", "1.2.3", "::::", "10.0.0.0/8, 1.2.3", "10.0.0.0/8;fd00::/8", "10.0.0.0/8 fd00::/8"};
    for (size_t i = 0; i < ARRAY_LEN(bad_lists); i++) {
        CHECK_INT(load_one("TRUSTED_PROXIES", bad_lists[i]), -1);
        CHECK(err_starts_with("TRUSTED_PROXIES"));
    }
    CHECK_INT(load_one("TRUSTED_PROXIES", "10.0.0.0/99"), -1);
    CHECK(strstr(err, "10.0.0.0/99") != NULL && strstr(err, "0-32") != NULL);

    /* at most CONFIG_TRUSTED_PROXIES_MAX entries */
    char *list = rep("", "10.0.0.1,", CONFIG_TRUSTED_PROXIES_MAX, "");
    CHECK_INT(LOAD(&c, {"TRUSTED_PROXIES", list}), 0);
    CHECK_INT(c.trusted_count, CONFIG_TRUSTED_PROXIES_MAX);
    config_free(&c);
    free(list);
    list = rep("", "10.0.0.1,", CONFIG_TRUSTED_PROXIES_MAX + 1, "");
    CHECK_INT(load_one("TRUSTED_PROXIES", list), -1);
    CHECK(err_starts_with("TRUSTED_PROXIES"));
    free(list);
}

static void test_client_ip_header(void)
{
    struct config c;
    /* unset: X-Forwarded-For, the header every proxy appends to */
    CHECK_INT(LOAD(&c, {"TRUSTED_PROXIES", "10.0.0.0/8"}), 0);
    CHECK_STR(c.client_ip_header, "X-Forwarded-For");
    config_free(&c);
    CHECK_INT(LOAD(&c, {"CLIENT_IP_HEADER", "Fly-Client-IP"}), 0);
    CHECK_STR(c.client_ip_header, "Fly-Client-IP");
    config_free(&c);
    /* empty: always the peer address */
    CHECK_INT(LOAD(&c, {"CLIENT_IP_HEADER", ""}), 0);
    CHECK(c.client_ip_header == NULL);
    config_free(&c);
    /* one header name, nothing else */
    static const char *const bad[] = {"Fly-Client-IP, X-Forwarded-For",
                                      "X Forwarded For",
                                      "Fly-Client-IP\"",
                                      "X-Real-IP:",
                                      "(\"a\")",
                                      "\t"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT(load_one("CLIENT_IP_HEADER", bad[i]), -1);
        CHECK(err_starts_with("CLIENT_IP_HEADER"));
    }
    CHECK_INT(load_one("CLIENT_IP_HEADER", repeat('X', CONFIG_CLIENT_IP_HEADER_MAX_LEN)), 0);
    CHECK_INT(load_one("CLIENT_IP_HEADER", repeat('X', CONFIG_CLIENT_IP_HEADER_MAX_LEN + 1)), -1);
    CHECK(err_starts_with("CLIENT_IP_HEADER"));
}

/* The pooler settings: DIRECT_DATABASE_URL falls back to DATABASE_URL, the statement strategy
 * and the connection lifetimes default to what is safe behind Fly's PgBouncer and proxy. */
static void test_database_pooling(void)
{
    struct config c;
    const char *url = "postgresql://app:hunter2@pooler.internal:5432/app";
    const char *direct = "postgresql://app:hunter2@direct.internal:5432/app";
    CHECK_INT(LOAD(&c, {"DATABASE_URL", url}), 0);
    CHECK_STR(c.direct_database_url, url);
    CHECK_INT(c.db_statements, DB_STATEMENTS_UNNAMED);
    CHECK_INT(c.db_max_lifetime_s, 600);
    CHECK_INT(c.db_max_idle_s, 300);
    config_free(&c);

    CHECK_INT(LOAD(&c, {"DATABASE_URL", url}, {"DIRECT_DATABASE_URL", direct},
                   {"DATABASE_STATEMENTS", "Prepared"}, {"DATABASE_MAX_LIFETIME_SECONDS", "2"},
                   {"DATABASE_MAX_IDLE_SECONDS", "1"}),
              0);
    CHECK_STR(c.direct_database_url, direct);
    CHECK_STR(c.database_url, url);
    CHECK_INT(c.db_statements, DB_STATEMENTS_PREPARED);
    CHECK_INT(c.db_max_lifetime_s, 2);
    CHECK_INT(c.db_max_idle_s, 1);
    config_free(&c);
    CHECK_INT(load_one("DATABASE_STATEMENTS", "unnamed"), 0);
    CHECK_INT(load_one("DATABASE_STATEMENTS", ""), 0);

    CHECK_INT(load_one("DATABASE_STATEMENTS", "named"), -1);
    CHECK(err_starts_with("DATABASE_STATEMENTS"));
    CHECK_INT(load_one("DIRECT_DATABASE_URL", "postgresql://app:hunter2%zz@db/app"), -1);
    CHECK(err_starts_with("DIRECT_DATABASE_URL"));
    CHECK(strstr(err, "hunter2") == NULL);
    CHECK_INT(load_one("DATABASE_MAX_LIFETIME_SECONDS", "0"), -1);
    CHECK(err_starts_with("DATABASE_MAX_LIFETIME_SECONDS"));
    CHECK_INT(load_one("DATABASE_MAX_LIFETIME_SECONDS", "86401"), -1);
    CHECK(err_starts_with("DATABASE_MAX_LIFETIME_SECONDS"));
    CHECK_INT(load_one("DATABASE_MAX_IDLE_SECONDS", "0"), -1);
    CHECK(err_starts_with("DATABASE_MAX_IDLE_SECONDS"));
    CHECK_INT(load_one("DATABASE_MAX_IDLE_SECONDS", "5m"), -1);
    CHECK(err_starts_with("DATABASE_MAX_IDLE_SECONDS"));
}

/* config_print: every value but the secrets. */
static void test_print_redacts(void)
{
    struct config c;
    const char *url = "postgresql://app:hunter2-very-secret@db.internal:5432/app";
    CHECK_INT(LOAD(&c, {"DATABASE_URL", url}, {"ADMIN_API_KEY", ADMIN_KEY},
                   {"CORS_ALLOWED_ORIGINS", "https://a.example,https://b.example"},
                   {"PATH_QUERY_ALLOWLIST", "page, lang"}),
              0);
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) {
        config_free(&c);
        return;
    }
    config_print(&c, fileno(f));
    char out[8192];
    rewind(f);
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
    CHECK(strstr(out, "hunter2") == NULL);
    CHECK(strstr(out, "db.internal") == NULL);
    CHECK(strstr(out, PEPPER) == NULL);
    CHECK(strstr(out, ADMIN_KEY) == NULL);
    CHECK(strstr(out, "CORS_ALLOWED_ORIGINS=https://a.example,https://b.example\n") != NULL);
    CHECK(strstr(out, "ENFORCE_ORIGIN=true\n") != NULL);
    CHECK(strstr(out, "RATE_LIMIT_EVENTS=180\n") != NULL);
    CHECK(strstr(out, "RATE_LIMIT_IPV6_PREFIX=64\n") != NULL);
    CHECK(strstr(out, "LOG_LEVEL=info\n") != NULL);
    CHECK(strstr(out, "CLIENT_IP_HEADER=X-Forwarded-For\n") != NULL);
    CHECK(strstr(out, "PATH_QUERY_ALLOWLIST=page,lang\n") != NULL);
    CHECK(strstr(out, "DIRECT_DATABASE_URL=<unset: DATABASE_URL>\n") != NULL);
    CHECK(strstr(out, "DATABASE_STATEMENTS=unnamed\nDATABASE_MAX_LIFETIME_SECONDS=600\n"
                      "DATABASE_MAX_IDLE_SECONDS=300\n") != NULL);
    config_free(&c);
    CHECK_INT(LOAD(&c, {"DATABASE_URL", url}, {"DIRECT_DATABASE_URL", "postgresql://u:direct-secret@d/app"}),
              0);
    f = tmpfile();
    CHECK(f != NULL);
    if (!f) {
        config_free(&c);
        return;
    }
    config_print(&c, fileno(f));
    rewind(f);
    n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    fclose(f);
    CHECK(strstr(out, "direct-secret") == NULL);
    CHECK(strstr(out, "DIRECT_DATABASE_URL=<set, redacted>\n") != NULL);
    config_free(&c);
}

/* The signed unsubscribe settings (issue 16): secret shape, the previous one only beside a
 * current one, the age floor, require-token only with a secret, the base URL; never echoed. */
static void test_unsubscribe(void)
{
    struct config c;
    const char *sec = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const char *sec2 = "ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=";
    CHECK_INT(LOAD(&c, {"PORT", "3000"}), 0);
    CHECK(!c.unsub_keys.has_current && !c.unsub_keys.has_previous);
    CHECK_INT(c.unsub_max_age_days, 400);
    CHECK(!c.unsub_require_token);
    CHECK(c.public_base_url == NULL);
    config_free(&c);
    CHECK_INT(LOAD(&c, {"UNSUBSCRIBE_SECRET", sec}, {"UNSUBSCRIBE_SECRET_PREVIOUS", sec2},
                   {"UNSUBSCRIBE_TOKEN_MAX_AGE_DAYS", "365"}, {"UNSUBSCRIBE_REQUIRE_TOKEN", "true"},
                   {"PUBLIC_BASE_URL", "https://api.example.com//"}),
              0);
    CHECK(c.unsub_keys.has_current && c.unsub_keys.has_previous);
    CHECK(memcmp(c.unsub_keys.current, c.unsub_keys.previous, UNSUB_KEY_BYTES) != 0);
    CHECK_INT(c.unsub_max_age_days, 365);
    CHECK(c.unsub_require_token);
    CHECK_INT(c.public_base_url_len, strlen("https://api.example.com"));
    FILE *f = tmpfile();
    if (f) {
        char out[8192];
        config_print(&c, fileno(f));
        rewind(f);
        size_t n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = '\0';
        fclose(f);
        CHECK(strstr(out, sec) == NULL && strstr(out, sec2) == NULL && strstr(out, "0001020304") == NULL);
        CHECK(strstr(out,
                     "UNSUBSCRIBE_SECRET=<set, redacted>\nUNSUBSCRIBE_SECRET_PREVIOUS=<set, redacted>\n") !=
              NULL);
        CHECK(strstr(out, "PUBLIC_BASE_URL=https://api.example.com\n") != NULL);
    }
    config_free(&c);
    /* 31 bytes; not hex or base64; the error names the variable and never quotes the value */
    CHECK_INT(
        load_one("UNSUBSCRIBE_SECRET", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e"), -1);
    CHECK(err_starts_with("UNSUBSCRIBE_SECRET"));
    CHECK(strstr(err, "0001020304") == NULL);
    CHECK_INT(load_one("UNSUBSCRIBE_SECRET", "correct horse battery staple correct horse battery"), -1);
    CHECK(err_starts_with("UNSUBSCRIBE_SECRET"));
    CHECK(strstr(err, "horse") == NULL);
    CHECK_INT(load_one("UNSUBSCRIBE_SECRET_PREVIOUS", sec), -1);
    CHECK(err_starts_with("UNSUBSCRIBE_SECRET_PREVIOUS"));
    CHECK_INT(LOAD(NULL, {"UNSUBSCRIBE_SECRET", sec}, {"UNSUBSCRIBE_SECRET_PREVIOUS", "abc"}), -1);
    CHECK(err_starts_with("UNSUBSCRIBE_SECRET_PREVIOUS"));
    CHECK_INT(LOAD(NULL, {"UNSUBSCRIBE_SECRET", sec}, {"UNSUBSCRIBE_TOKEN_MAX_AGE_DAYS", "364"}), -1);
    CHECK(err_starts_with("UNSUBSCRIBE_TOKEN_MAX_AGE_DAYS"));
    CHECK_INT(load_one("UNSUBSCRIBE_REQUIRE_TOKEN", "true"), -1);
    CHECK(err_starts_with("UNSUBSCRIBE_REQUIRE_TOKEN"));
    CHECK_INT(LOAD(NULL, {"UNSUBSCRIBE_SECRET", sec}, {"UNSUBSCRIBE_REQUIRE_TOKEN", "maybe"}), -1);
    CHECK(err_starts_with("UNSUBSCRIBE_REQUIRE_TOKEN"));
    static const char *const bad_urls[] = {
        "api.example.com",     "ftp://x", "https://", "https:///", "https://a.example/?x=1", "https://a b",
        "https://a.example/#f"};
    for (size_t i = 0; i < ARRAY_LEN(bad_urls); i++) {
        CHECK_INT(load_one("PUBLIC_BASE_URL", bad_urls[i]), -1);
        CHECK(err_starts_with("PUBLIC_BASE_URL"));
    }
    CHECK_INT(load_one("PUBLIC_BASE_URL", "http://localhost:3000/base"), 0);
}

/* ERASURE_LOG_SECRET (issue 16 item 5): optional; unset, the key is derived from the pepper (and
 * the dump says so); set, decoded like UNSUBSCRIBE_SECRET; a bad value stops the load naming it,
 * never quoting it. */
static void test_erasure_secret(void)
{
    struct config c;
    const char *sec = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    CHECK_INT(LOAD(&c, {"PORT", "3000"}), 0);
    CHECK(!c.erasure_keys.from_secret);
    CHECK_INT((long)c.erasure_keys.key_len, ERASURE_DERIVED_KEY_BYTES);
    char out[8192];
    FILE *f = tmpfile();
    if (f) {
        config_print(&c, fileno(f));
        rewind(f);
        size_t n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = '\0';
        fclose(f);
        CHECK(strstr(out, "ERASURE_LOG_SECRET=<unset: erasure proofs keyed with a key derived from "
                          "IP_HASH_PEPPER>\n") != NULL);
    }
    config_free(&c);
    CHECK_INT(LOAD(&c, {"ERASURE_LOG_SECRET", sec}), 0);
    CHECK(c.erasure_keys.from_secret);
    CHECK_INT((long)c.erasure_keys.key_len, 32);
    f = tmpfile();
    if (f) {
        config_print(&c, fileno(f));
        rewind(f);
        size_t n = fread(out, 1, sizeof(out) - 1, f);
        out[n] = '\0';
        fclose(f);
        CHECK(strstr(out, "ERASURE_LOG_SECRET=<set, redacted>\n") != NULL);
        CHECK(strstr(out, "0001020304") == NULL);
    }
    config_free(&c);
    CHECK_INT(
        load_one("ERASURE_LOG_SECRET", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e"), -1);
    CHECK(err_starts_with("ERASURE_LOG_SECRET"));
    CHECK(strstr(err, "0001020304") == NULL);
    CHECK_INT(load_one("ERASURE_LOG_SECRET", "correct horse battery staple correct horse battery"), -1);
    CHECK(err_starts_with("ERASURE_LOG_SECRET"));
    CHECK(strstr(err, "horse") == NULL);
}

/* Implied consent's days (issue 16 item 3): CASL's defaults, the bounds, a bad value named. */
static void test_consent_days(void)
{
    struct config c;
    CHECK_INT(LOAD(&c, {"PORT", "3000"}), 0);
    CHECK_INT(c.consent_implied_inquiry_days, 183);
    CHECK_INT(c.consent_implied_customer_days, 730);
    config_free(&c);
    CHECK_INT(LOAD(&c, {"CONSENT_IMPLIED_INQUIRY_DAYS", "1"}, {"CONSENT_IMPLIED_CUSTOMER_DAYS", "3650"}), 0);
    CHECK_INT(c.consent_implied_inquiry_days, CONSENT_IMPLIED_DAYS_MIN);
    CHECK_INT(c.consent_implied_customer_days, CONSENT_IMPLIED_DAYS_MAX);
    config_free(&c);
    static const char *const bad[] = {"0", "3651", "-1", "6m"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK_INT(load_one("CONSENT_IMPLIED_INQUIRY_DAYS", bad[i]), -1);
        CHECK(err_starts_with("CONSENT_IMPLIED_INQUIRY_DAYS"));
        CHECK_INT(load_one("CONSENT_IMPLIED_CUSTOMER_DAYS", bad[i]), -1);
        CHECK(err_starts_with("CONSENT_IMPLIED_CUSTOMER_DAYS"));
    }
}

int main(void)
{
    test_defaults();
    test_enforce_origin();
    test_required();
    test_pepper_length();
    test_admin_key();
    test_secrets_not_in_errors();
    test_value_cap();
    test_err_truncation();
    test_int_ranges();
    test_rate_limits();
    test_booleans();
    test_privacy_settings();
    test_site_time_zone();
    test_cors_list();
    test_cors_origin_shape();
    test_bind_address();
    test_metrics_listener();
    test_path_query_allowlist();
    test_log_level();
    test_strings();
    test_trusted_proxies();
    test_client_ip_header();
    test_database_pooling();
    test_print_redacts();
    test_unsubscribe();
    test_erasure_secret();
    test_consent_days();
    return t_done("test_config");
}
