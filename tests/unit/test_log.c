/* test_log.c - JSON escaping of log text and the shape of a log line. */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bounds.h"
#include "core/log.h"
#include "t.h"

/* Escapes a C string with room to spare. */
static const char *esc(const char *s, size_t n)
{
    static char out[512];
    log_json_escape(out, sizeof(out), s, n);
    return out;
}

#define ESC(lit) esc((lit), sizeof(lit) - 1)

static void test_escapes(void)
{
    CHECK_STR(ESC("plain text 123"), "plain text 123");
    CHECK_STR(ESC("say \"hi\""), "say \\\"hi\\\"");
    CHECK_STR(ESC("C:\\path\\"), "C:\\\\path\\\\");
    CHECK_STR(ESC("a\nb\tc\rd"), "a\\u000ab\\u0009c\\u000dd");
    CHECK_STR(ESC("\x01\x1f\x7f"), "\\u0001\\u001f\\u007f");
    CHECK_STR(ESC("nul\0byte"), "nul\\u0000byte");
    CHECK_STR(ESC("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac"); /* UTF-8 passes through */
    CHECK_STR(ESC(" ~"), " ~");
    CHECK_STR(ESC(""), "");

    char out[64];
    CHECK_INT(log_json_escape(out, sizeof(out), "a\"b", 3), 4);
    CHECK_INT(log_json_escape(out, sizeof(out), "\x02", 1), 6);

    /* the escaped text parses back as the original inside a JSON string */
    const char raw[] = "q\"b\\c\n\x01\x7f end";
    char doc[520];
    snprintf(doc, sizeof(doc), "\"%s\"", ESC(raw));
    json_error_t err;
    json_t *s = json_loads(doc, JSON_DECODE_ANY, &err);
    CHECK(s != NULL);
    CHECK_STR(json_string_value(s), raw);
    json_decref(s);
}

/* For every cap: output < cap, NUL-terminated, and exactly the escape of some prefix of the input
 * (never half an escape). */
static void test_truncation(void)
{
    const char input[] = "ab\"c\\d\x01"
                         "e\n\"\x7f"
                         "fg";
    const size_t n = sizeof(input) - 1;
    char full[256];
    size_t full_len = log_json_escape(full, sizeof(full), input, n);

    /* the escape of each prefix */
    char prefixes[sizeof(input)][256];
    for (size_t k = 0; k <= n; k++)
        log_json_escape(prefixes[k], sizeof(prefixes[k]), input, k);

    bool ok = true;
    for (size_t cap = 1; cap <= full_len + 2; cap++) {
        char out[256];
        memset(out, 'Z', sizeof(out));
        size_t len = log_json_escape(out, cap, input, n);
        bool this_ok = len < cap && out[len] == '\0' && strlen(out) == len && out[cap] == 'Z';
        /* the longest prefix whose escape fits */
        size_t best = 0;
        for (size_t k = 0; k <= n; k++) {
            if (strlen(prefixes[k]) < cap)
                best = k;
        }
        this_ok &= strcmp(out, prefixes[best]) == 0;
        if (!this_ok) {
            ok = false;
            fprintf(stderr, "FAIL cap %zu: got '%s' (%zu), want '%s'\n", cap, out, len, prefixes[best]);
        }
    }
    CHECK(ok);

    /* cap 0 writes nothing */
    char none[2] = {'Z', 'Z'};
    CHECK_INT(log_json_escape(none, 0, "abc", 3), 0);
    CHECK(none[0] == 'Z');

    /* a cut right before an escape: the escape is dropped whole, nothing after it sneaks in */
    char out[8];
    CHECK_INT(log_json_escape(out, 4, "ab\"c", 4), 2);
    CHECK_STR(out, "ab");
    CHECK_INT(log_json_escape(out, 7, "a\x01z", 3), 1);
    CHECK_STR(out, "a");
    CHECK_INT(log_json_escape(out, 8, "a\x01z", 3), 7);
    CHECK_STR(out, "a\\u0001");
}

/* Captures what log_msg writes to stderr. */
static size_t capture(char *buf, size_t cap, void (*emit)(void))
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *f = tmpfile();
    if (saved < 0 || !f)
        return 0;
    dup2(fileno(f), STDERR_FILENO);
    emit();
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

static void emit_levels(void)
{
    log_set_level(LOG_INFO);
    log_debug("hidden %d", 1);
    log_info("shown \"%s\"", "quoted\nline");
    log_warn("warned");
    log_set_level(LOG_ERROR);
    log_warn("hidden too");
    log_error("error %d", 42);
    log_set_level(LOG_INFO);
}

static char long_msg[LOG_LINE_MAX * 3];

static void emit_long(void)
{
    log_error("%s", long_msg);
}

static void test_lines(void)
{
    char buf[LOG_LINE_MAX * 4];
    log_set_component("unit");
    capture(buf, sizeof(buf), emit_levels);

    /* one JSON object per line, debug and filtered lines absent */
    int lines = 0;
    const char *want_msg[] = {"shown \"quoted\nline\"", "warned", "error 42"};
    const char *want_level[] = {"info", "warn", "error"};
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        CHECK(o != NULL);
        if (o && lines < 3) {
            CHECK_STR(json_string_value(json_object_get(o, "msg")), want_msg[lines]);
            CHECK_STR(json_string_value(json_object_get(o, "level")), want_level[lines]);
            CHECK_STR(json_string_value(json_object_get(o, "component")), "unit");
            CHECK(json_is_integer(json_object_get(o, "pid")));
            const char *ts = json_string_value(json_object_get(o, "ts"));
            CHECK(ts && strlen(ts) == 24 && ts[10] == 'T' && ts[23] == 'Z');
        }
        json_decref(o);
        lines++;
    }
    CHECK_INT(lines, 3);

    /* a message longer than a line: cut, still one valid JSON line within LOG_LINE_MAX */
    for (size_t i = 0; i < sizeof(long_msg) - 1; i++)
        long_msg[i] = (i % 3 == 0) ? '"' : 'x';
    long_msg[sizeof(long_msg) - 1] = '\0';
    size_t n = capture(buf, sizeof(buf), emit_long);
    CHECK(n > 0 && n <= LOG_LINE_MAX); /* "log lines are cut at this size" */
    CHECK(n > 0 && buf[n - 1] == '\n');
    CHECK(memchr(buf, '\n', n) == buf + n - 1);
    json_error_t err;
    json_t *o = json_loads(buf, 0, &err);
    CHECK(o != NULL);
    const char *msg = json_string_value(json_object_get(o, "msg"));
    CHECK(msg && strlen(msg) > 100 && strncmp(msg, long_msg, strlen(msg)) == 0);
    json_decref(o);
}

/* LOG_REPEAT_INTERVAL_S: one line per interval, the count of the others on the next one. */
static void test_repeat_admit(void)
{
    const int64_t iv = (int64_t)LOG_REPEAT_INTERVAL_S * 1000;
    struct log_repeat r = {0, 0};
    unsigned n = 99;
    CHECK(log_repeat_admit(&r, 5000, &n)); /* the first line is written */
    CHECK_INT(n, 0);
    for (int i = 1; i <= 7; i++) /* the rest of the interval is counted, not written */
        CHECK(!log_repeat_admit(&r, 5000 + i * (iv / 8), &n));
    CHECK(!log_repeat_admit(&r, 5000 + iv - 1, &n));
    CHECK_INT(r.suppressed, 8);
    CHECK(log_repeat_admit(&r, 5000 + iv, &n)); /* a new interval: written, with the count */
    CHECK_INT(n, 8);
    CHECK_INT(r.suppressed, 0);
    CHECK(!log_repeat_admit(&r, 5000 + iv + 1, &n));
    CHECK_INT(log_repeat_take(&r), 1); /* taken by a recovery line, and restarted */
    CHECK_INT(log_repeat_take(&r), 0);
    CHECK(log_repeat_admit(&r, 5000 + 3 * iv, &n));
    CHECK_INT(n, 0);
    /* a clock reading 0 still starts an interval */
    struct log_repeat z = {0, 0};
    CHECK(log_repeat_admit(&z, 0, &n));
    CHECK(!log_repeat_admit(&z, 1, &n));
    /* the count saturates instead of wrapping */
    struct log_repeat full = {1000, UINT_MAX};
    CHECK(!log_repeat_admit(&full, 1001, &n));
    CHECK(full.suppressed == UINT_MAX);
}

static struct log_repeat g_rep;

static void emit_repeats(void)
{
    for (int i = 0; i < 5; i++)
        log_repeat_msg(&g_rep, LOG_WARN, "database connect failed: attempt %d", i);
    g_rep.last_ms -= (int64_t)LOG_REPEAT_INTERVAL_S * 1000; /* as if the interval had passed */
    log_repeat_msg(&g_rep, LOG_WARN, "database connect failed: attempt %d", 5);
}

static void test_repeat_lines(void)
{
    char buf[LOG_LINE_MAX * 4];
    capture(buf, sizeof(buf), emit_repeats);
    char *second = strchr(buf, '\n');
    CHECK(second != NULL);
    if (!second)
        return;
    *second++ = '\0';
    json_error_t err;
    json_t *a = json_loads(buf, 0, &err), *b = json_loads(second, 0, &err);
    CHECK_STR(json_string_value(json_object_get(a, "msg")), "database connect failed: attempt 0");
    char want[128];
    snprintf(want, sizeof(want),
             "database connect failed: attempt 5 (4 similar lines not logged in the last %d s)",
             LOG_REPEAT_INTERVAL_S);
    CHECK_STR(json_string_value(json_object_get(b, "msg")), want);
    CHECK_STR(json_string_value(json_object_get(b, "level")), "warn");
    CHECK(strchr(second, '\n') == second + strlen(second) - 1); /* exactly two lines */
    json_decref(a);
    json_decref(b);
    /* the process-wide limiter is one object */
    CHECK(log_outage() == log_outage());
}

/* Bytes that are not well-formed UTF-8 become U+FFFD, so every line stays valid JSON; valid
 * sequences of every length pass through. */
static void test_invalid_utf8(void)
{
    CHECK_STR(ESC("a\xff"
                  "b"),
              "a\\ufffdb");
    CHECK_STR(ESC("\xc3"), "\\ufffd");                                  /* truncated */
    CHECK_STR(ESC("\xc0\xaf"), "\\ufffd\\ufffd");                       /* overlong */
    CHECK_STR(ESC("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");            /* a surrogate */
    CHECK_STR(ESC("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd"); /* beyond U+10FFFF */
    CHECK_STR(ESC("\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9"), "\xf0\x9f\x98\x80 \xe2\x82\xac \xc3\xa9");
    /* a cut never splits a sequence */
    char out[8];
    CHECK_INT(log_json_escape(out, 4, "a\xe2\x82\xac", 4), 1);
    CHECK_STR(out, "a");
}

static void emit_with_request_id(void)
{
    log_set_request_id("0a1b2c3d4e5f6789", 16);
    log_warn("POST /v1/events -> 503");
    log_set_request_id("<script>", 8); /* not an id of ours: left out */
    log_info("second");
    log_set_request_id(NULL, 0);
    log_info("between requests");
}

/* The request id lighttpd made is on every line written while the request is handled. */
static void test_request_id(void)
{
    char buf[LOG_LINE_MAX * 4];
    capture(buf, sizeof(buf), emit_with_request_id);
    const char *want[] = {"0a1b2c3d4e5f6789", NULL, NULL};
    int lines = 0;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        CHECK(o != NULL);
        if (o && lines < 3) {
            json_t *id = json_object_get(o, "request_id");
            if (want[lines])
                CHECK_STR(json_string_value(id), want[lines]);
            else
                CHECK(id == NULL);
        }
        json_decref(o);
        lines++;
    }
    CHECK_INT(lines, 3);
}

/* log_format_line: the fields, the optional ones left out, and a line that always fits. */
static void test_format_line(void)
{
    char out[LOG_LINE_MAX];
    struct log_line l = {.ts_ms = 1765065600123LL,
                         .level = LOG_ERROR,
                         .component = "lighttpd",
                         .src = "server.c.12",
                         .msg = "boom \"x\"",
                         .msg_len = 8};
    size_t n = log_format_line(out, sizeof(out), &l);
    CHECK_STR(out, "{\"ts\":\"2025-12-07T00:00:00.123Z\",\"level\":\"error\",\"component\":\"lighttpd\","
                   "\"src\":\"server.c.12\",\"msg\":\"boom \\\"x\\\"\"}\n");
    CHECK_INT(n, strlen(out));
    static char big[LOG_LINE_MAX * 2];
    memset(big, '"', sizeof(big));
    l.msg = big;
    l.msg_len = sizeof(big);
    l.pid = 42;
    l.request_id = "00ff";
    n = log_format_line(out, sizeof(out), &l);
    CHECK(n > LOG_LINE_MAX / 2 && n < sizeof(out) && out[n - 1] == '\n');
    json_error_t err;
    json_t *o = json_loadb(out, n, 0, &err);
    CHECK(o != NULL && json_integer_value(json_object_get(o, "pid")) == 42);
    json_decref(o);
    CHECK_INT(log_format_line(out, LOG_LINE_MIN - 1, &l), 0);
}

int main(void)
{
    test_escapes();
    test_invalid_utf8();
    test_request_id();
    test_format_line();
    test_truncation();
    test_lines();
    test_repeat_admit();
    test_repeat_lines();
    return t_done("test_log");
}
