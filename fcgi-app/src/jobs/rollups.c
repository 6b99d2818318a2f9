/* rollups.c - rollups run/backfill/status/discrepancy and retention purge. The arithmetic is in
 * SQL (migrations/0004_rollups.sql); this is argument handling, the loop over days and output. */
#include "jobs/rollups.h"

#include "core/clock.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "store/pgjob.h"
#include "store/sql.h"
#include "domain/enrich.h"
#include "domain/validate.h"

struct window {
    int64_t from, to; /* days since 1970-01-01, inclusive */
    const char *property;
};

/* Where rollups_run and retention_purge report: text for a person at the command line (summary
 * on stdout, errors on stderr), or log lines when the scheduler runs them. */
static bool g_report_log;

void rollups_report_to_log(bool on)
{
    g_report_log = on;
}

/* One summary (info) or error line of a job, where rollups_report_to_log says. */
ATTR_PRINTF(2, 3) static void report(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (g_report_log) {
        log_vmsg(lvl, fmt, ap);
    } else {
        FILE *f = lvl >= LOG_WARN ? stderr : stdout;
        vfprintf(f, fmt, ap);
        fputc('\n', f);
    }
    va_end(ap);
}

int64_t rollups_today(void)
{
    return clock_site_today();
}

/* Parses --from=D --to=D --property-id=P (also "--flag value"); with dates false only
 * --property-id is accepted. Defaults: to = today, from = to - (ROLLUP_BATCH_DAYS - 1), property =
 * the default. Prints one line and returns -1 on a bad argument. */
static int parse_window(const struct config *cfg, const char *cmd, int argc, char **argv, bool dates,
                        struct window *w)
{
    const char *from = NULL, *to = NULL;
    w->property = cfg->rollup_default_property_id;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        static const char *const flags[] = {"--from", "--to", "--property-id"};
        const char **slot[] = {&from, &to, &w->property};
        size_t k = 0;
        const char *val = NULL;
        for (; k < ARRAY_LEN(flags); k++) {
            size_t n = strlen(flags[k]);
            if (strncmp(a, flags[k], n) == 0 && (a[n] == '=' || a[n] == '\0')) {
                val = a[n] == '=' ? a + n + 1 : (i + 1 < argc ? argv[++i] : NULL);
                break;
            }
        }
        if (k == ARRAY_LEN(flags) || (k < 2 && !dates)) {
            fprintf(stderr, "rollups %s: unknown argument %s\n", cmd, a);
            return -1;
        }
        if (!val || !*val) {
            fprintf(stderr, "rollups %s: %s needs a value\n", cmd, flags[k]);
            return -1;
        }
        *slot[k] = val;
    }
    if (strlen(w->property) > PROPERTY_ID_MAX) {
        fprintf(stderr, "rollups %s: --property-id must be at most %d characters\n", cmd, PROPERTY_ID_MAX);
        return -1;
    }
    w->to = rollups_today();
    if (to && v_parse_date(str_from_cstr(to), &w->to) != 0) {
        fprintf(stderr, "rollups %s: --to is not a valid date (YYYY-MM-DD): %s\n", cmd, to);
        return -1;
    }
    w->from = w->to - (cfg->rollup_batch_days - 1);
    if (from && v_parse_date(str_from_cstr(from), &w->from) != 0) {
        fprintf(stderr, "rollups %s: --from is not a valid date (YYYY-MM-DD): %s\n", cmd, from);
        return -1;
    }
    if (w->from > w->to) {
        fprintf(stderr, "rollups %s: --from must not be after --to\n", cmd);
        return -1;
    }
    if (w->to - w->from + 1 > ROLLUPS_MAX_DAYS) {
        fprintf(stderr, "rollups %s: at most %d days at a time\n", cmd, ROLLUPS_MAX_DAYS);
        return -1;
    }
    return 0;
}

static bool is_default(const struct config *cfg, const char *property)
{
    return strcmp(property, cfg->rollup_default_property_id) == 0;
}

/* Recomputes every day of w, one transaction per day, without the summary line. */
static int rollup_days(const struct config *cfg, PGconn *c, const struct window *w)
{
    for (int64_t d = w->from; d <= w->to; d++) {
        char day[V_DATE_LEN], err[JOB_ERR_LEN];
        v_format_date(d, day);
        union rollup_day_args args = {.property = w->property,
                                      .day = day,
                                      .all = is_default(cfg, w->property) ? "true" : "false",
                                      .tz = cfg->site_time_zone};
        if (pgjob_exec(c, sql_call_text(SQLFN_ROLLUP_DAY), ROLLUP_DAY_NPARAMS, args.v, NULL, "rollup failed",
                       err, sizeof(err)) != 0) {
            report(LOG_ERROR, "rollups: %s: %s", day, err);
            return -1;
        }
    }
    return 0;
}

/* Recomputes every day of w, one transaction per day. */
static int rollup_window(const struct config *cfg, PGconn *c, const struct window *w)
{
    if (rollup_days(cfg, c, w) != 0)
        return -1;
    char from[V_DATE_LEN], to[V_DATE_LEN];
    v_format_date(w->from, from);
    v_format_date(w->to, to);
    report(LOG_INFO, "Rollup run complete for %s: %s -> %s (%lld day(s)).", w->property, from, to,
           (long long)(w->to - w->from + 1));
    return 0;
}

int rollups_run(const struct config *cfg, PGconn *c)
{
    struct window w = {rollups_today() - (cfg->rollup_batch_days - 1), rollups_today(),
                       cfg->rollup_default_property_id};
    return rollup_window(cfg, c, &w);
}

/* $1 property, $2 site day, $3 site zone: true while the day's rollup is not final, i.e. missing or
 * computed before the day had ended in the site's zone (events of the day may have come after it);
 * once recomputed after its end it is left to the batch job (ROLLUP_INTERVAL_MINUTES) like every
 * older day. generated_at is UTC wall time, as the day's end is turned into. */
static const char SQL_DAY_OPEN[] =
    "SELECT NOT EXISTS (SELECT 1 FROM daily_metric_rollups WHERE property_id = $1 "
    "AND day = $2::date AND generated_at >= "
    "((($2::date + 1)::timestamp AT TIME ZONE $3::text) AT TIME ZONE 'UTC'))";

int rollups_refresh(const struct config *cfg, PGconn *c)
{
    char err[JOB_ERR_LEN], day[V_DATE_LEN];
    PGresult *r = NULL;
    int64_t today = rollups_today();
    struct window w = {today, today, cfg->rollup_default_property_id};
    v_format_date(today - 1, day);
    const char *params[] = {w.property, day, cfg->site_time_zone};
    if (pgjob_exec(c, SQL_DAY_OPEN, 3, params, &r, "refresh", err, sizeof(err)) != 0) {
        report(LOG_ERROR, "rollups: %s", err);
        return -1;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
        w.from = today - 1;
    PQclear(r);
    for (int64_t d = w.from; d <= w.to; d++) {
        struct window one = {d, d, w.property};
        if (rollup_days(cfg, c, &one) != 0)
            return -1;
    }
    v_format_date(w.from, day);
    report(LOG_INFO, "Rollup refresh complete for %s: %s (%lld day(s)).", w.property, day,
           (long long)(w.to - w.from + 1));
    return 0;
}

static int cmd_status(const struct config *cfg, PGconn *c, int argc, char **argv)
{
    struct window w;
    char err[JOB_ERR_LEN];
    PGresult *r = NULL;
    if (parse_window(cfg, "status", argc, argv, false, &w) != 0)
        return 1;
    const char *params[] = {w.property, cfg->site_time_zone};
    if (pgjob_exec(c, SQL_ROLLUP_STATUS, 2, params, &r, "rollups status failed", err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    bool none = PQgetisnull(r, 0, 2);
    printf("property: %s\n", w.property);
    printf("daily_metric_rollups rows: %s\n", PQgetvalue(r, 0, 0));
    printf("daily_ingest_rollups rows: %s\n", PQgetvalue(r, 0, 1));
    printf("rolledUpThrough: %s\n", none ? "none" : PQgetvalue(r, 0, 2));
    printf("lagDays: %s\n", none ? "none" : PQgetvalue(r, 0, 4));
    printf("generatedAt: %s\n", none ? "none" : PQgetvalue(r, 0, 3));
    PQclear(r);
    return 0;
}

static int cmd_discrepancy(const struct config *cfg, PGconn *c, int argc, char **argv)
{
    struct window w;
    char err[JOB_ERR_LEN], from[V_DATE_LEN], to[V_DATE_LEN];
    PGresult *r = NULL;
    if (parse_window(cfg, "discrepancy", argc, argv, true, &w) != 0)
        return 1;
    v_format_date(w.from, from);
    v_format_date(w.to, to);
    const char *params[] = {w.property, is_default(cfg, w.property) ? "true" : "false", from, to,
                            cfg->site_time_zone};
    if (pgjob_exec(c, SQL_DISCREPANCY, 5, params, &r, "rollups discrepancy failed", err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static const char *const metrics[] = {"eventsAccepted", "eventsRejected", "pageViews"};
    int mismatches = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        for (int m = 0; m < 3; m++) {
            const char *raw = PQgetvalue(r, i, 1 + 2 * m), *rolled = PQgetvalue(r, i, 2 + 2 * m);
            if (strcmp(raw, rolled) != 0) {
                printf("- %s %s raw=%s rollup=%s\n", PQgetvalue(r, i, 0), metrics[m], raw, rolled);
                mismatches++;
            }
        }
    }
    /* bots dropped at ingest (BOT_POLICY=drop) explain traffic that is in neither count */
    for (int i = 0; i < PQntuples(r); i++) {
        long long total = 0;
        for (int k = 0; k < N_BOT_REASONS; k++)
            total += strtoll(PQgetvalue(r, i, 7 + k), NULL, 10);
        if (total == 0)
            continue;
        printf("  %s botsDropped", PQgetvalue(r, i, 0));
        for (int k = 0; k < N_BOT_REASONS; k++)
            printf(" %s=%s", BOT_REASONS[k], PQgetvalue(r, i, 7 + k));
        printf(" (answered 202, not stored; not a mismatch)\n");
    }
    printf("Discrepancy check for %s: %s -> %s: %d mismatch(es).\n", w.property, from, to, mismatches);
    PQclear(r);
    return mismatches ? 2 : 0;
}

int rollups_main(const struct config *cfg, int argc, char **argv)
{
    static const char *const cmds[] = {"run", "backfill", "status", "discrepancy"};
    const char *cmd = argc > 1 ? argv[1] : "";
    size_t k = 0;
    while (k < ARRAY_LEN(cmds) && strcmp(cmd, cmds[k]) != 0)
        k++;
    if (k == ARRAY_LEN(cmds)) {
        fprintf(stderr,
                "usage: backend rollups run | backfill [--from=YYYY-MM-DD] [--to=YYYY-MM-DD] "
                "[--property-id=ID] | status [--property-id=ID] | discrepancy [--from --to --property-id]\n");
        return 1;
    }
    struct window w;
    if (k == 0 && argc > 2) {
        fprintf(stderr, "rollups run: unknown argument %s\n", argv[2]);
        return 1;
    }
    if (k == 1 && parse_window(cfg, "backfill", argc - 2, argv + 2, true, &w) != 0)
        return 1;

    char err[JOB_ERR_LEN];
    PGconn *c = pgjob_connect(cfg, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "rollups: %s\n", err);
        return 1;
    }
    int rc;
    if (k == 0) {
        rc = rollups_run(cfg, c) == 0 ? 0 : 1;
    } else if (k == 1) {
        if (w.from < rollups_today() - cfg->retention_days)
            fprintf(stderr,
                    "rollups backfill: warning: days before RETENTION_DAYS (%d) have no raw events "
                    "left and roll up as zeros\n",
                    cfg->retention_days);
        rc = rollup_window(cfg, c, &w) == 0 ? 0 : 1;
    } else if (k == 2) {
        rc = cmd_status(cfg, c, argc - 2, argv + 2);
    } else {
        rc = cmd_discrepancy(cfg, c, argc - 2, argv + 2);
    }
    PQfinish(c);
    return rc;
}

int retention_purge(const struct config *cfg, PGconn *c)
{
    char cutoff[V_ISO_LEN], cutoff_iso[V_ISO_LEN], err[JOB_ERR_LEN];
    PGresult *r = NULL;
    int64_t cutoff_ms = clock_wall_ms() - (int64_t)cfg->retention_days * 86400000;
    v_format_pg_timestamp(cutoff_ms, cutoff);
    v_format_iso(cutoff_ms, cutoff_iso);
    union retention_purge_args args = {.cutoff = cutoff};
    if (pgjob_exec(c, sql_call_text(SQLFN_RETENTION_PURGE), RETENTION_PURGE_NPARAMS, args.v, &r,
                   "retention purge failed", err, sizeof(err)) != 0) {
        report(LOG_ERROR, "%s", err);
        return -1;
    }
    report(LOG_INFO,
           "Retention purge (events before %s, RETENTION_DAYS=%d): removed %s event(s), %s session(s), "
           "%s visitor(s).",
           cutoff_iso, cfg->retention_days, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
    PQclear(r);
    return 0;
}

int retention_main(const struct config *cfg, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "purge") != 0) {
        fprintf(stderr, "usage: backend retention purge\n");
        return 1;
    }
    char err[JOB_ERR_LEN];
    PGconn *c = pgjob_connect(cfg, err, sizeof(err));
    if (!c) {
        fprintf(stderr, "retention: %s\n", err);
        return 1;
    }
    int rc = retention_purge(cfg, c) == 0 ? 0 : 1;
    PQfinish(c);
    return rc;
}
