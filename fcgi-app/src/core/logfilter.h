/* logfilter.h - `backend log-filter`: turns every line another program writes (lighttpd's error
 * log, a shell script's echo, a library's notice) into one JSON log line, and passes the lines
 * that already are ours (a JSON object with "ts" and "level") through unchanged. */
#ifndef LOGFILTER_H
#define LOGFILTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* The level a line of plain text gets from its words (case-insensitive): lighttpd's start, stop and
 * "[note]" lines are info; "error", "fail", "cannot", "died", ... are error; "warn" is warn; the
 * rest is info. */
enum log_level logfilter_level(const char *msg, size_t n);

/* The output for one input line (in, n; without its newline) into out (cap >= LOG_FILTER_LINE_MAX
 * + LOG_LINE_MAX): the line itself when it is a JSON object with string "ts" and "level"; that
 * line with lighttpd's empty-field "-" values (an access log's "bytes":- when nothing was sent)
 * made null; otherwise a new log line at now_ms whose msg is the text (lighttpd's "YYYY-MM-DD
 * HH:MM:SS: (file.c.N) " prefix becomes component "lighttpd" and "src"). Every output ends in a
 * newline. Returns its length; 0 for an empty line (nothing to write). */
size_t logfilter_line(const char *in, size_t n, const char *component, int64_t now_ms, char *out, size_t cap);

/* Reads lines from in_fd until end of file and writes each one's output to out_fd with one
 * write(2) (so lines of several writers to one file or pipe never mix). A line longer than
 * LOG_FILTER_LINE_MAX is cut into pieces. Returns 0 at end of input, 1 on a read or write error. */
int logfilter_run(int in_fd, int out_fd, const char *component);

#endif
