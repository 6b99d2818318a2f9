/* calendar.h - dates and date-times in UTC: ISO-8601 and YYYY-MM-DD in, epoch ms and days out. */
#ifndef CALENDAR_H
#define CALENDAR_H

#include <stdint.h>

#include "core/common.h"

/* Parses an ISO-8601 date-time with offset into UTC epoch ms. Returns 0, or -1 when malformed
 * or not a real calendar date. Exposed for tests. */
int v_parse_iso8601(struct str s, int64_t *out_ms);
/* Formats epoch ms as 2026-02-14T05:00:00.000Z into out (24 characters + NUL for years 0-9999). */
#define V_ISO_LEN 40
void v_format_iso(int64_t ms, char out[V_ISO_LEN]);
/* Formats epoch ms as "YYYY-MM-DDTHH:MM:SS.mmm", the UTC wall time a timestamp(3) parameter takes,
 * into out (at least V_ISO_LEN bytes). */
void v_format_pg_timestamp(int64_t ms, char *out);

/* Parses a real calendar date YYYY-MM-DD, from V_DATE_MIN_YEAR on, into days since 1970-01-01.
 * Returns 0 or -1. */
#define V_DATE_MIN_YEAR 1970
int v_parse_date(struct str s, int64_t *days);
/* Formats days since 1970-01-01 as YYYY-MM-DD into out (at least V_DATE_LEN bytes). */
#define V_DATE_LEN 16
void v_format_date(int64_t days, char *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (no validation). */
int64_t v_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
