/* log.h - one JSON object per line on stderr (lighttpd and Fly collect it). */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stdint.h>

#include "core/common.h"
#include "core/config.h"

void log_set_level(enum log_level lvl);
void log_set_component(const char *name); /* "serve", "migrate", ... (borrowed, static) */

/* While a request is handled: the id lighttpd made for it (REQUEST_ID, hex digits), added to every
 * line as "request_id" so a line joins its access log line. (id, n) is copied; an id that is too
 * long or not made of hex digits and '-' is left out. NULL clears it (between requests). */
void log_set_request_id(const char *id, size_t n);

/* The formatted message is JSON-escaped; never pass secrets or personal data. */
void log_msg(enum log_level lvl, const char *fmt, ...) ATTR_PRINTF(2, 3);

/* log_msg with a va_list (for a caller's own printf-like helper). */
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap) ATTR_PRINTF(2, 0);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Lines an outage would repeat on every request (a refused connect, the 503 it causes): at most
 * one per LOG_REPEAT_INTERVAL_S is written, and the next line written says how many were left out.
 * Zero-initialised; one per kind of line, process-wide (responders are single-threaded). */
struct log_repeat {
    int64_t last_ms;     /* monotonic time of the last line written; 0: none yet */
    unsigned suppressed; /* lines left out since then */
};

/* The limiter every outage line of this process shares. Borrowed (static storage). */
struct log_repeat *log_outage(void);

/* Whether a line of r's kind may be written at now_ms (monotonic). When it may, *suppressed gets
 * the count left out since the last one (and r's count restarts); when not, the line is counted. */
bool log_repeat_admit(struct log_repeat *r, int64_t now_ms, unsigned *suppressed);

/* log_msg through r: written with " (N similar lines not logged in the last S s)" appended when
 * lines were left out, or counted and dropped. */
void log_repeat_msg(struct log_repeat *r, enum log_level lvl, const char *fmt, ...) ATTR_PRINTF(3, 4);

/* The count of lines left out since the last written one, and restarts it (for a line that ends an
 * outage: "... N lines were not logged"). */
unsigned log_repeat_take(struct log_repeat *r);

/* One log line's fields. component and request_id are plain text that needs no escaping (names
 * from the code, hex ids); src and msg are escaped. pid <= 0, request_id NULL and src NULL leave
 * that field out. */
struct log_line {
    int64_t ts_ms; /* wall clock, ms since the epoch */
    enum log_level level;
    const char *component;
    int pid;
    const char *request_id;
    const char *src; /* where another program said the line comes from ("server.c.1513"), cut */
    const char *msg;
    size_t msg_len;
};

/* Writes l as one JSON object and a newline into out (cap >= LOG_LINE_MIN): ts (RFC 3339 UTC with
 * milliseconds), level, component, [pid], [request_id], [src], msg. A long message is cut so the
 * line fits. Returns the line's length (NUL-terminated), 0 when cap is too small. */
size_t log_format_line(char *out, size_t cap, const struct log_line *l);

/* Writes s as the inside of a JSON string into out (cap bytes, always NUL-terminated),
 * escaping quotes, backslashes and control bytes; a byte that is not part of well-formed UTF-8
 * becomes \ufffd. Returns the length written. */
size_t log_json_escape(char *out, size_t cap, const char *s, size_t n);

#endif
