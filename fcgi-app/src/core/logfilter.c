/* logfilter.c - wraps other programs' text lines as JSON log lines; ours pass through. */
#include "core/logfilter.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/bounds.h"
#include "core/clock.h"
#include "core/log.h"

/* Whether (s, n) contains word, ignoring case. */
static bool has_word(const char *s, size_t n, const char *word)
{
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (strncasecmp(s + i, word, w) == 0)
            return true;
    return false;
}

enum log_level logfilter_level(const char *msg, size_t n)
{
    /* lighttpd's lifecycle lines read like errors to the word list below ("stopped") or carry
     * its own "[note]" marker: they are information */
    static const char *const info[] = {"server started", "server stopped", "[note]", "graceful shutdown"};
    static const char *const error[] = {"error",  "fail",  "cannot",  "can't", "unable",     "died",
                                        "denied", "fatal", "refused", "abort", "unexpected", "exited"};
    for (size_t i = 0; i < ARRAY_LEN(info); i++)
        if (has_word(msg, n, info[i]))
            return LOG_INFO;
    for (size_t i = 0; i < ARRAY_LEN(error); i++)
        if (has_word(msg, n, error[i]))
            return LOG_ERROR;
    return has_word(msg, n, "warn") ? LOG_WARN : LOG_INFO;
}

/* Whether (p, n) is a JSON object with string "ts" and "level" (a log line of ours or lighttpd's
 * access log). */
static bool is_log_object(const char *p, size_t n)
{
    if (n == 0 || p[0] != '{')
        return false;
    json_error_t err;
    json_t *o = json_loadb(p, n, JSON_REJECT_DUPLICATES, &err);
    bool ok = json_is_object(o) && json_is_string(json_object_get(o, "ts")) &&
              json_is_string(json_object_get(o, "level"));
    json_decref(o);
    return ok;
}

/* Copies (p, n) to out with every value that is a bare '-' (lighttpd's access log writes "-" for a
 * number it does not have, e.g. %b when no byte was sent) made null. Returns the length, or 0 when
 * there was none or it does not fit. */
static size_t null_dashes(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    bool in_str = false, changed = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\' && i + 1 < n) {
                if (o + 2 > cap)
                    return 0;
                out[o++] = c;
                out[o++] = p[++i];
                continue;
            }
            if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '-' && o > 0 && out[o - 1] == ':' && i + 1 < n &&
                   (p[i + 1] == ',' || p[i + 1] == '}')) {
            if (o + 4 > cap)
                return 0;
            memcpy(out + o, "null", 4);
            o += 4;
            changed = true;
            continue;
        }
        if (o + 1 > cap)
            return 0;
        out[o++] = c;
    }
    return changed ? o : 0;
}

/* lighttpd's error log prefix "YYYY-MM-DD HH:MM:SS: (file.c.123) ": sets *src to "file.c.123"
 * (NUL-terminated, cut to cap) and returns the prefix's length; 0 when the line has none. */
static size_t lighttpd_prefix(const char *p, size_t n, char *src, size_t cap)
{
    static const char shape[] = "dddd-dd-dd dd:dd:dd: (";
    size_t k = sizeof(shape) - 1;
    if (n <= k)
        return 0;
    for (size_t i = 0; i < k; i++) {
        bool digit = p[i] >= '0' && p[i] <= '9';
        if (shape[i] == 'd' ? !digit : p[i] != shape[i])
            return 0;
    }
    const char *close = memchr(p + k, ')', n - k);
    if (!close || close == p + k)
        return 0;
    size_t len = (size_t)(close - (p + k));
    if (len >= cap)
        len = cap - 1;
    memcpy(src, p + k, len);
    src[len] = '\0';
    size_t end = (size_t)(close - p) + 1;
    return end < n && p[end] == ' ' ? end + 1 : end;
}

/* lighttpd's access log starts {"ts":"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ": nanoseconds, because its
 * msec_frac rounds up and carries into the '.' at .9995 s (1.4.69). Cuts (p, n), in place, to the
 * milliseconds every other line has (truncated, as the nanoseconds were). Returns the new length. */
static size_t ts_nanos_to_millis(char *p, size_t n)
{
    static const char shape[] = "{\"ts\":\"dddd-dd-ddTdd:dd:dd.dddddddddZ\"";
    size_t k = sizeof(shape) - 1;
    if (n < k)
        return n;
    for (size_t i = 0; i < k; i++) {
        bool digit = p[i] >= '0' && p[i] <= '9';
        if (shape[i] == 'd' ? !digit : p[i] != shape[i])
            return n;
    }
    size_t ms_end = sizeof("{\"ts\":\"dddd-dd-ddTdd:dd:dd.ddd") - 1;
    size_t drop = 6; /* the micro- and nanosecond digits */
    memmove(p + ms_end, p + ms_end + drop, n - ms_end - drop);
    return n - drop;
}

size_t logfilter_line(const char *in, size_t n, const char *component, int64_t now_ms, char *out, size_t cap)
{
    while (n > 0 && (in[n - 1] == '\n' || in[n - 1] == '\r'))
        n--;
    if (n == 0 || cap < n + 2 || cap < LOG_LINE_MAX)
        return 0;
    if (is_log_object(in, n)) {
        memcpy(out, in, n);
        n = ts_nanos_to_millis(out, n);
        out[n] = '\n';
        out[n + 1] = '\0';
        return n + 1;
    }
    if (in[0] == '{') {
        size_t k = null_dashes(in, n, out, cap - 2);
        if (k > 0 && is_log_object(out, k)) {
            k = ts_nanos_to_millis(out, k);
            out[k] = '\n';
            out[k + 1] = '\0';
            return k + 1;
        }
    }
    char src[LOG_SRC_MAX + 1];
    size_t skip = lighttpd_prefix(in, n, src, sizeof(src));
    struct log_line l = {
        .ts_ms = now_ms,
        .level = logfilter_level(in + skip, n - skip),
        .component = skip > 0 ? "lighttpd" : component,
        .src = skip > 0 ? src : NULL,
        .msg = in + skip,
        .msg_len = n - skip,
    };
    return log_format_line(out, cap < LOG_LINE_MAX ? cap : LOG_LINE_MAX, &l);
}

/* Writes all of (p, n); 0, or -1 when out_fd is gone. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int logfilter_run(int in_fd, int out_fd, const char *component)
{
    static char buf[LOG_FILTER_LINE_MAX];
    static char out[LOG_FILTER_LINE_MAX + LOG_LINE_MAX];
    size_t have = 0;
    for (;;) {
        ssize_t r = read(in_fd, buf + have, sizeof(buf) - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return 1;
        have += (size_t)r;
        size_t start = 0;
        for (;;) {
            const char *nl = memchr(buf + start, '\n', have - start);
            size_t len;
            if (nl)
                len = (size_t)(nl - (buf + start)) + 1;
            else if (r == 0 || (start == 0 && have == sizeof(buf)))
                len = have - start; /* the last line without a newline, or a piece of a long one */
            else
                break;
            if (len == 0)
                break;
            size_t k = logfilter_line(buf + start, len, component, clock_wall_ms(), out, sizeof(out));
            if (k > 0 && write_all(out_fd, out, k) != 0)
                return 1;
            start += len;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (r == 0)
            return 0;
    }
}
