/* log.h - one JSON object per line on stderr (lighttpd and Fly collect it). */
#ifndef LOG_H
#define LOG_H

#include "common.h"
#include "config.h"

void log_set_level(enum log_level lvl);
void log_set_component(const char *name); /* "serve", "migrate", ... (borrowed, static) */

/* The formatted message is JSON-escaped; never pass secrets or personal data. */
void log_msg(enum log_level lvl, const char *fmt, ...) ATTR_PRINTF(2, 3);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Writes s as the inside of a JSON string into out (cap bytes, always NUL-terminated),
 * escaping quotes, backslashes and control bytes. Returns the length written. */
size_t log_json_escape(char *out, size_t cap, const char *s, size_t n);

#endif
