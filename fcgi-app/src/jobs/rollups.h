/* rollups.h - the `rollups` and `retention` commands (API.md §4, rollups-reference.md). */
#ifndef ROLLUPS_H
#define ROLLUPS_H

#include <libpq-fe.h>

#include "core/config.h"

/* `rollups run|backfill|status|discrepancy ...`; argv[0] is "rollups". Returns the exit code:
 * 0, 1 for an argument or database error (one line on stderr), 2 for discrepancy mismatches. */
int rollups_main(const struct config *cfg, int argc, char **argv);

/* `retention purge`; argv[0] is "retention". */
int retention_main(const struct config *cfg, int argc, char **argv);

/* The work of `rollups run` and of `retention purge` on an open job connection (the scheduler
 * calls these). Return 0, or -1 after printing the reason. */
/* rollups_run and retention_purge report as log lines (JSON on stderr, the scheduler) instead of
 * text on stdout/stderr (the command line, the default). */
void rollups_report_to_log(bool on);

int rollups_run(const struct config *cfg, PGconn *c);
/* The refresh job: today's rollup, and yesterday's while it is not final (missing, or computed
 * before the day ended), so the summary's today is at most ROLLUP_REFRESH_MINUTES old. */
int rollups_refresh(const struct config *cfg, PGconn *c);
int retention_purge(const struct config *cfg, PGconn *c);

/* Today's date in SITE_TIME_ZONE as days since 1970-01-01. */
int64_t rollups_today(void);

#endif
