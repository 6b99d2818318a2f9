/* validate.h - field rules of API.md §1: each helper reads one field, records every problem as an
 * issue at the field's dotted path, and reports whether a usable value came out. Handlers call
 * them in a row and look at the issues once at the end. */
#ifndef VALIDATE_H
#define VALIDATE_H

#include <jansson.h>

#include "core/calendar.h"
#include "core/common.h"
#include "core/issues.h"
#include "core/utf8.h"

/* Result of a field helper. */
enum v_result {
    V_INVALID = -1, /* present but wrong: an issue was recorded */
    V_ABSENT = 0,   /* missing (an issue was recorded when the field is required) */
    V_OK = 1,       /* present and valid: *out is set */
};

#define V_REQUIRED true
#define V_OPTIONAL false

/* A string, trimmed, of min..max code points, without U+0000. *out borrows from obj. */
enum v_result v_string(struct issues *is, json_t *obj, const char *key, const char *path, size_t min,
                       size_t max, bool required, struct str *out);
/* A string as sent (no trimming), at most max code points, without U+0000. */
enum v_result v_string_raw(struct issues *is, json_t *obj, const char *key, const char *path, size_t max,
                           bool required, struct str *out);
/* A trimmed string equal to one of allowed[0..n). *out is the matching allowed entry. */
enum v_result v_enum(struct issues *is, json_t *obj, const char *key, const char *path,
                     const char *const *allowed, size_t n, const char **out);
/* A JSON boolean (strings and numbers are refused). */
enum v_result v_bool(struct issues *is, json_t *obj, const char *key, const char *path, bool *out);
/* A JSON object. *out borrows from obj. */
enum v_result v_object(struct issues *is, json_t *obj, const char *key, const char *path, json_t **out);
/* A JSON object of any content, refused when any key or string inside holds U+0000 (Postgres
 * cannot store it); the issue's path is `path` itself. */
enum v_result v_free_object(struct issues *is, json_t *obj, const char *key, const char *path, json_t **out);
/* Coerced numbers: a JSON number, or a string that trimmed is a decimal number ("65", "-1.5",
 * "1e3"); "", true and null are refused. The integer form refuses a fractional part. */
enum v_result v_coerced_int(struct issues *is, json_t *obj, const char *key, const char *path, long long min,
                            long long max, long long *out);
enum v_result v_coerced_number(struct issues *is, json_t *obj, const char *key, const char *path, double min,
                               double max, double *out);
/* ISO-8601 with a `Z` or ±hh:mm offset, or integer epoch milliseconds; null counts as absent.
 * Refused when more than max_future_ms after now_ms or before 1970. *out_ms is UTC epoch ms. */
enum v_result v_timestamp(struct issues *is, json_t *obj, const char *key, const char *path, int64_t now_ms,
                          int64_t max_future_ms, int64_t *out_ms);

/* Parses a decimal number as coerced numbers allow. Returns 0 or -1. */
int v_parse_decimal(struct str s, double *out);

#endif
