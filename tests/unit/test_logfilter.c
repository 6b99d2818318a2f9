/* test_logfilter.c - backend log-filter: our lines pass, other text becomes a JSON log line. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/bounds.h"
#include "core/logfilter.h"
#include "t.h"

#define NOW_MS 1765065600123LL /* 2025-12-07T00:00:00.123Z */

static char out[LOG_FILTER_LINE_MAX + LOG_LINE_MAX];

/* The output for one input line, parsed (the caller decrefs; NULL when not JSON or empty). */
static json_t *filter(const char *in, size_t n, const char *component)
{
    size_t k = logfilter_line(in, n, component, NOW_MS, out, sizeof(out));
    if (k == 0)
        return NULL;
    CHECK(out[k - 1] == '\n' && memchr(out, '\n', k) == out + k - 1 && strlen(out) == k);
    json_error_t err;
    return json_loadb(out, k, 0, &err);
}

#define FILTER(lit, comp) filter((lit), sizeof(lit) - 1, (comp))
#define FIELD(o, k) json_string_value(json_object_get((o), (k)))

static void test_levels(void)
{
#define LEVEL(lit) logfilter_level((lit), sizeof(lit) - 1)
    CHECK_INT(LEVEL("server started (lighttpd/1.4.69)"), LOG_INFO);
    CHECK_INT(LEVEL("server stopped by UID = 0 PID = 7"), LOG_INFO);
    CHECK_INT(LEVEL("[note] graceful shutdown started"), LOG_INFO);
    CHECK_INT(LEVEL("config error: IP_HASH_PEPPER: must be at least 32 characters"), LOG_ERROR);
    CHECK_INT(LEVEL("connect() failed: Connection refused"), LOG_ERROR);
    CHECK_INT(LEVEL("child exited: 9 Killed"), LOG_ERROR);
    CHECK_INT(LEVEL("WARNING: unknown config-key: x"), LOG_WARN);
    CHECK_INT(LEVEL("request-size too long: 135168 -> 413"), LOG_INFO);
#undef LEVEL
}

static void test_ours_pass_through(void)
{
    static const char line[] =
        "{\"ts\":\"2026-01-02T03:04:05.678Z\",\"level\":\"warn\",\"component\":\"serve\",\"pid\":9,"
        "\"request_id\":\"00ff\",\"msg\":\"x\"}";
    char in[sizeof(line) + 1];
    memcpy(in, line, sizeof(line) - 1);
    in[sizeof(line) - 1] = '\n';
    json_t *o = filter(in, sizeof(in) - 1, "lighttpd");
    CHECK(o != NULL);
    CHECK(strncmp(out, line, sizeof(line) - 1) == 0 && strlen(out) == sizeof(line)); /* byte for byte */
    json_decref(o);

    /* an access log line with lighttpd's "-" for a number it does not have: null */
    o = FILTER("{\"ts\":\"2026-01-02T03:04:05.678Z\",\"level\":\"info\",\"path\":\"/a-b\",\"x\":\":-,\","
               "\"bytes\":-,\"us\":-}",
               "access");
    CHECK(o != NULL && json_is_null(json_object_get(o, "bytes")) && json_is_null(json_object_get(o, "us")));
    CHECK_STR(FIELD(o, "x"), ":-,"); /* inside a string: kept */
    CHECK_STR(FIELD(o, "path"), "/a-b");
    json_decref(o);

    /* JSON that is not a log line of ours (no ts/level) is wrapped like any text */
    o = FILTER("{\"a\":1}", "entrypoint");
    CHECK_STR(FIELD(o, "msg"), "{\"a\":1}");
    CHECK_STR(FIELD(o, "component"), "entrypoint");
    json_decref(o);
}

static void test_wrapping(void)
{
    json_t *o = FILTER("2026-12-06 22:44:09: (server.c.1513) server started (lighttpd/1.4.69)\r\n", "x");
    CHECK(o != NULL);
    CHECK_STR(FIELD(o, "ts"), "2025-12-07T00:00:00.123Z");
    CHECK_STR(FIELD(o, "level"), "info");
    CHECK_STR(FIELD(o, "component"), "lighttpd");
    CHECK_STR(FIELD(o, "src"), "server.c.1513");
    CHECK_STR(FIELD(o, "msg"), "server started (lighttpd/1.4.69)");
    CHECK(json_object_get(o, "pid") == NULL);
    json_decref(o);

    o = FILTER("config error: \"X\"\t\x01 \xff", "entrypoint");
    CHECK_STR(FIELD(o, "level"), "error");
    CHECK_STR(FIELD(o, "component"), "entrypoint");
    CHECK_STR(FIELD(o, "msg"), "config error: \"X\"\t\x01 \xef\xbf\xbd");
    CHECK(json_object_get(o, "src") == NULL);
    json_decref(o);

    /* not quite lighttpd's prefix: plain text */
    o = FILTER("2026-12-06 22:44: (x) y", "backend");
    CHECK_STR(FIELD(o, "component"), "backend");
    CHECK_STR(FIELD(o, "msg"), "2026-12-06 22:44: (x) y");
    json_decref(o);

    CHECK_INT(logfilter_line("\r\n", 2, "x", NOW_MS, out, sizeof(out)), 0); /* an empty line: nothing */
}

/* logfilter_run over a pipe: lines split across reads, a last line without newline, a line longer
 * than the buffer (cut into pieces, each a line). */
static void test_run(void)
{
    int in[2];
    if (pipe(in) != 0) {
        CHECK(0);
        return;
    }
    FILE *tmp = tmpfile();
    if (!tmp) {
        CHECK(0);
        return;
    }
    static char longline[LOG_FILTER_LINE_MAX + 100];
    memset(longline, 'a', sizeof(longline) - 1);
    longline[sizeof(longline) - 1] = '\0';
    const char *parts[] = {"{\"ts\":\"2026-01-02T03:04:05.678Z\",\"lev",
                           "el\":\"info\",\"msg\":\"m\"}\nplain one\n\n", longline, "\nlast without newline"};
    /* the writer is small enough for the pipe's buffer except the long line: write from a child */
    pid_t pid = fork();
    if (pid == 0) {
        close(in[0]);
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
            if (write(in[1], parts[i], strlen(parts[i])) < 0)
                _exit(1);
        _exit(0);
    }
    close(in[1]);
    CHECK_INT(logfilter_run(in[0], fileno(tmp), "unit"), 0);
    close(in[0]);
    int status = -1;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && status == 0);
    rewind(tmp);
    char line[LOG_FILTER_LINE_MAX + LOG_LINE_MAX];
    int n = 0, longs = 0;
    while (fgets(line, sizeof(line), tmp)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        CHECK(o != NULL && FIELD(o, "ts") && FIELD(o, "level"));
        const char *msg = FIELD(o, "msg");
        if (n == 0)
            CHECK_STR(msg, "m");
        if (n == 1)
            CHECK_STR(msg, "plain one");
        if (msg && msg[0] == 'a')
            longs++;
        if (msg && strcmp(msg, "last without newline") == 0)
            CHECK_INT(n, 4);
        json_decref(o);
        n++;
    }
    CHECK_INT(n, 5);
    CHECK_INT(longs, 2);
    fclose(tmp);
}

/* lighttpd 1.4.69 rounds %{msec_frac}t up, so a request begun at :17.9995 logs ":17/000" (the carry
 * lands on the '.'); lighttpd.conf writes nanoseconds (truncated, never carried) and the filter cuts
 * them to the milliseconds every other line has. */
static void test_access_nanoseconds(void)
{
    json_t *o =
        FILTER("{\"ts\":\"2026-12-07T08:28:17.999512345Z\",\"level\":\"info\",\"component\":\"access\","
               "\"status\":202,\"bytes\":-}",
               "access");
    CHECK(o != NULL);
    CHECK_STR(FIELD(o, "ts"), "2026-12-07T08:28:17.999Z");
    CHECK(json_is_null(json_object_get(o, "bytes"))); /* and the dash rule still applies */
    json_decref(o);
    o = FILTER("{\"ts\":\"2026-12-07T08:28:17.000000001Z\",\"level\":\"info\"}", "access");
    CHECK_STR(FIELD(o, "ts"), "2026-12-07T08:28:17.000Z");
    CHECK(strncmp(out, "{\"ts\":\"2026-12-07T08:28:17.000Z\",\"level\":\"info\"}\n", 52) == 0);
    json_decref(o);
    /* not that shape (a digit missing, a letter, no Z): passed as it is */
    o = FILTER("{\"ts\":\"2026-12-07T08:28:17.99951234Z\",\"level\":\"info\"}", "access");
    CHECK_STR(FIELD(o, "ts"), "2026-12-07T08:28:17.99951234Z");
    json_decref(o);
    o = FILTER("{\"ts\":\"2026-12-07T08:28:17.99951234xZ\",\"level\":\"info\"}", "access");
    CHECK_STR(FIELD(o, "ts"), "2026-12-07T08:28:17.99951234xZ");
    json_decref(o);
}

int main(void)
{
    test_levels();
    test_ours_pass_through();
    test_access_nanoseconds();
    test_wrapping();
    test_run();
    return t_done("test_logfilter");
}
