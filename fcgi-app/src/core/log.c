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

void log_set_level(enum log_level lvl)
{
    g_level = lvl;
}

void log_set_component(const char *name)
{
    g_component = name;
}

size_t log_json_escape(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char esc[6];
        size_t k = jsonout_escape_byte((unsigned char)s[i], JSONESC_DEL, esc);
        if (k == 0)
            esc[k++] = s[i];
        if (o + k >= cap)
            break;
        memcpy(out + o, esc, k);
        o += k;
    }
    out[o] = '\0';
    return o;
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

static void write_line(enum log_level lvl, const char *msg, size_t mlen)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};

    char esc[LOG_LINE_MAX];
    log_json_escape(esc, sizeof(esc) - 128, msg, mlen);

    int64_t now = clock_wall_ms();
    time_t sec = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char line[LOG_LINE_MAX + 256];
    int n = snprintf(line, sizeof(line),
                     "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\",\"component\":\"%s\","
                     "\"pid\":%d,\"msg\":\"%s\"}\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(now % 1000), names[lvl], g_component, (int)getpid(), esc);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
