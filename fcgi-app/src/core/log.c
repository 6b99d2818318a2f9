/* log.c - JSON lines on stderr; one write(2) per line so lines from responders never interleave. */
#include "core/log.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/bounds.h"
#include "core/clock.h"
#include "core/jsonout.h"

static enum log_level g_level = LOG_INFO;
static const char *g_component = "backend";
/* The id lighttpd gave the request being handled (REQUEST_ID); empty between requests. */
static char g_request_id[LOG_REQUEST_ID_MAX + 1];

void log_set_level(enum log_level lvl)
{
    g_level = lvl;
}

void log_set_component(const char *name)
{
    g_component = name;
}

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0 when it is not one (a stray
 * continuation byte, a truncated, overlong or surrogate sequence, or beyond U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t k;
    unsigned lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* beyond U+10FFFF */
    } else
        return 0;
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

size_t log_json_escape(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char esc[6];
        const char *src = esc;
        size_t k;
        if ((unsigned char)s[i] >= 0x80) {
            /* a log line must be valid JSON, so valid UTF-8: a bad byte becomes U+FFFD */
            k = utf8_seq_len((const unsigned char *)s + i, n - i);
            if (k > 0) {
                src = s + i;
                i += k - 1;
            } else {
                src = "\\ufffd";
                k = 6;
            }
        } else {
            k = jsonout_escape_byte((unsigned char)s[i], JSONESC_DEL, esc);
            if (k == 0)
                esc[k++] = s[i];
        }
        if (o + k >= cap)
            break;
        memcpy(out + o, src, k);
        o += k;
    }
    out[o] = '\0';
    return o;
}

void log_set_request_id(const char *id, size_t n)
{
    g_request_id[0] = '\0';
    if (!id || n == 0 || n >= sizeof(g_request_id))
        return;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        /* lighttpd makes hex digits; anything else is not ours and is left out */
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-'))
            return;
    }
    memcpy(g_request_id, id, n);
    g_request_id[n] = '\0';
}

static void write_line(enum log_level lvl, const char *msg, size_t mlen);

/* Formats and writes one line; left_out > 0 appends how many similar lines were not logged (a long
 * message gives up its tail for that count). */
ATTR_PRINTF(3, 0) static void vlog(enum log_level lvl, unsigned left_out, const char *fmt, va_list ap)
{
    char msg[LOG_MSG_MAX];
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (m < 0)
        return;
    size_t mlen = (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
    if (left_out > 0) {
        char tail[96];
        int t = snprintf(tail, sizeof(tail), " (%u similar lines not logged in the last %d s)", left_out,
                         LOG_REPEAT_INTERVAL_S);
        size_t tn = t > 0 && (size_t)t < sizeof(tail) ? (size_t)t : 0;
        if (mlen + tn >= sizeof(msg))
            mlen = sizeof(msg) - 1 - tn;
        memcpy(msg + mlen, tail, tn + 1);
        mlen += tn;
    }
    write_line(lvl, msg, mlen);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl < g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, 0, fmt, ap);
    va_end(ap);
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    if (lvl < g_level)
        return;
    vlog(lvl, 0, fmt, ap);
}

struct log_repeat *log_outage(void)
{
    static struct log_repeat outage;
    return &outage;
}

bool log_repeat_admit(struct log_repeat *r, int64_t now_ms, unsigned *suppressed)
{
    *suppressed = 0;
    if (r->last_ms != 0 && now_ms - r->last_ms < (int64_t)LOG_REPEAT_INTERVAL_S * 1000) {
        if (r->suppressed < UINT_MAX)
            r->suppressed++;
        return false;
    }
    *suppressed = r->suppressed;
    r->suppressed = 0;
    /* 0 means "none yet": a clock that reads exactly 0 still starts an interval */
    r->last_ms = now_ms != 0 ? now_ms : 1;
    return true;
}

unsigned log_repeat_take(struct log_repeat *r)
{
    unsigned n = r->suppressed;
    r->suppressed = 0;
    return n;
}

void log_repeat_msg(struct log_repeat *r, enum log_level lvl, const char *fmt, ...)
{
    if (lvl < g_level)
        return;
    unsigned left_out = 0;
    if (!log_repeat_admit(r, clock_mono_ms(), &left_out))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, left_out, fmt, ap);
    va_end(ap);
}

size_t log_format_line(char *out, size_t cap, const struct log_line *l)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (cap < LOG_LINE_MIN)
        return 0;
    char esc[LOG_LINE_MAX];
    /* room for the fields around the message, so a long message is cut, never the line's end */
    size_t room = cap - 1 < sizeof(esc) ? cap - 1 : sizeof(esc);
    room = room > LOG_LINE_MIN ? room - LOG_LINE_MIN + 1 : 1;
    log_json_escape(esc, room, l->msg, l->msg_len);
    char src[LOG_SRC_MAX + 1];
    log_json_escape(src, sizeof(src), l->src ? l->src : "", l->src ? strlen(l->src) : 0);

    time_t sec = (time_t)(l->ts_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char pid[24] = "";
    if (l->pid > 0)
        (void)snprintf(pid, sizeof(pid), "\"pid\":%d,", l->pid);
    int n = snprintf(out, cap,
                     "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\",\"component\":\"%s\","
                     "%s%s%s%s%s%s%s\"msg\":\"%s\"}\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(l->ts_ms % 1000), names[l->level], l->component, pid,
                     l->request_id ? "\"request_id\":\"" : "", l->request_id ? l->request_id : "",
                     l->request_id ? "\"," : "", l->src ? "\"src\":\"" : "", l->src ? src : "",
                     l->src ? "\"," : "", esc);
    if (n < 0)
        return 0;
    if ((size_t)n >= cap) { /* cannot happen with the room kept above; end the line anyway */
        out[cap - 2] = '\n';
        out[cap - 1] = '\0';
        return cap - 1;
    }
    return (size_t)n;
}

static void write_line(enum log_level lvl, const char *msg, size_t mlen)
{
    struct log_line l = {
        .ts_ms = clock_wall_ms(),
        .level = lvl,
        .component = g_component,
        .pid = (int)getpid(),
        .request_id = g_request_id[0] ? g_request_id : NULL,
        .msg = msg,
        .msg_len = mlen,
    };
    char line[LOG_LINE_MAX];
    size_t len = log_format_line(line, sizeof(line), &l);
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
