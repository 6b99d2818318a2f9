/* scheduler.c - a loop that wakes every SCHEDULER_TICK_S, and for each job takes its advisory
 * lock, checks in job_runs that the job has not started within its interval (on any machine),
 * stamps it, runs it and logs the duration. */
#include "jobs/scheduler.h"

#include "core/clock.h"
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/calendar.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/pgjob.h"
#include "jobs/partitions.h"
#include "jobs/rollups.h"
#include "jobs/webhook.h"
#include "store/sql.h"

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

struct job {
    const char *name;
    const char *lock_key; /* pg advisory lock key (bigint as text) */
    long interval_s;
    int (*run)(const struct config *cfg, PGconn *c);
    enum metrics_job metric;
    bool quiet; /* runs every few seconds: its "finished" line only at debug level */
};

/* Returns -1 when the connection failed (the caller reconnects), else 0. */
static int run_job(const struct config *cfg, PGconn *c, const struct job *j)
{
    char err[JOB_ERR_LEN], interval[24], retry[24];
    PGresult *r = NULL;
    bool locked = false;
    if (pgjob_try_lock(c, j->lock_key, &locked, "lock", err, sizeof(err)) != 0) {
        log_warn("%s: %s", j->name, err);
        metrics_job(j->metric, MO_ERROR);
        return -1;
    }
    if (!locked) {
        log_info("%s: skipped, another scheduler holds its lock", j->name);
        metrics_job(j->metric, MO_SKIPPED);
        return 0;
    }
    int rc = 0;
    snprintf(interval, sizeof(interval), "%ld", j->interval_s);
    snprintf(retry, sizeof(retry), "%d", SCHEDULER_RETRY_S);
    const char *due_params[] = {j->name, interval, retry};
    if (pgjob_exec(c, SQL_JOB_DUE, 3, due_params, &r, "due", err, sizeof(err)) != 0) {
        log_warn("%s: %s", j->name, err);
        metrics_job(j->metric, MO_ERROR);
        rc = -1;
        goto unlock;
    }
    bool due = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!due)
        goto unlock;
    const char *name[] = {j->name};
    if (pgjob_exec(c, SQL_JOB_START, 1, name, NULL, "stamp", err, sizeof(err)) != 0) {
        log_warn("%s: %s", j->name, err);
        metrics_job(j->metric, MO_ERROR);
        rc = -1;
        goto unlock;
    }
    struct timespec t0 = clock_mono_now();
    int jrc = j->run(cfg, c);
    double ms = clock_since_ms(&t0);
    if (jrc == 0 && j->quiet)
        log_debug("%s: finished in %.0f ms", j->name, ms);
    else if (jrc == 0)
        log_info("%s: finished in %.0f ms", j->name, ms);
    else
        log_error("%s: failed after %.0f ms", j->name, ms);
    metrics_job(j->metric, jrc == 0 ? MO_OK : MO_FAILED);
    const char *fin[] = {j->name, jrc == 0 ? "ok" : "failed"};
    if (pgjob_exec(c, SQL_JOB_FINISH, 2, fin, NULL, "finish", err, sizeof(err)) != 0)
        rc = -1;
unlock:
    if (PQstatus(c) == CONNECTION_OK)
        (void)pgjob_unlock(c, j->lock_key, "unlock", err, sizeof(err));
    return PQstatus(c) == CONNECTION_OK ? rc : -1;
}

/* The cookieless salts (migrations/0007): today's (UTC) made when missing, so the day's first
 * event finds it (responders also make it on demand), and those of days before yesterday deleted:
 * a salt lives 48 hours from the start of its day. Both are race-safe with other schedulers and
 * responders (the first salt of a day wins). Returns 0 or -1. */
static int salts_run(const struct config *cfg, PGconn *c)
{
    (void)cfg;
    char err[JOB_ERR_LEN], today[V_DATE_LEN], cand_hex[2 + 2 * SALT_BYTES + 1];
    unsigned char cand[SALT_BYTES];
    PGresult *r = NULL;
    v_format_date(clock_today(), today);
    randombytes_buf(cand, sizeof(cand));
    cand_hex[0] = '\\';
    cand_hex[1] = 'x';
    sodium_bin2hex(cand_hex + 2, sizeof(cand_hex) - 2, cand, sizeof(cand));
    sodium_memzero(cand, sizeof(cand));
    union daily_salt_args salt = {.day = today, .candidate = cand_hex};
    int rc = pgjob_exec(c, sql_call_text(SQLFN_DAILY_SALT), DAILY_SALT_NPARAMS, salt.v, NULL, "daily salt",
                        err, sizeof(err));
    sodium_memzero(cand_hex, sizeof(cand_hex));
    union purge_daily_salts_args purge = {.today = today};
    if (rc == 0 && pgjob_exec(c, sql_call_text(SQLFN_PURGE_DAILY_SALTS), PURGE_DAILY_SALTS_NPARAMS, purge.v,
                              &r, "salt purge", err, sizeof(err)) != 0)
        rc = -1;
    if (rc != 0) {
        log_warn("salts: %s", err);
        return -1;
    }
    log_info("salts: today's (%s) in place, %s older salt(s) deleted", today, PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

/* Sleeps up to s seconds, waking early on a stop signal. */
static void nap(int s)
{
    for (int i = 0; i < s * 5 && !g_stop; i++) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int scheduler_main(const struct config *cfg, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: backend scheduler\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    const struct job jobs[] = {
        /* first: the months' partitions exist before anything else runs (migrations/0017) */
        {"partitions", "7163019482257351207", PARTITION_JOB_INTERVAL_S, partitions_run, MJ_PARTITIONS, false},
        {"rollups", "7163019482257351202", (long)cfg->rollup_interval_minutes * 60, rollups_run, MJ_ROLLUPS,
         false},
        {"retention", "7163019482257351203", RETENTION_INTERVAL_S, retention_purge, MJ_RETENTION, false},
        {"salts", "7163019482257351204", SALT_JOB_INTERVAL_S, salts_run, MJ_SALTS, false},
        {"refresh", "7163019482257351205", (long)cfg->rollup_refresh_minutes * 60, rollups_refresh,
         MJ_REFRESH, false},
        /* the webhook outbox (issue 16 item 6), every WEBHOOK_POLL_SECONDS, only with a WEBHOOK_URL
         * (the last entry: left out without one); a pass is bounded (WEBHOOK_PASS_BUDGET_MS) so the
         * jobs never wait long for it */
        {"webhook", "7163019482257351206", (long)cfg->webhook_poll_s, webhook_run, MJ_WEBHOOK, true},
    };
    size_t njobs = ARRAY_LEN(jobs) - (cfg->webhook_url ? 0 : 1);
    rollups_report_to_log(true); /* the jobs' summaries are log lines like ours */
    log_info("scheduler started: rollups every %d min, retention purge daily, salts every %d min, "
             "today's rollups refreshed every %d min, partitions made %d month(s) ahead every %d min",
             cfg->rollup_interval_minutes, SALT_JOB_INTERVAL_S / 60, cfg->rollup_refresh_minutes,
             PARTITION_MONTHS_AHEAD, PARTITION_JOB_INTERVAL_S / 60);
    if (cfg->webhook_url) {
        char where[WEBHOOK_URL_MAX + 16];
        webhook_url_for_log(cfg->webhook_url, where, sizeof(where));
        log_info("webhook: new leads delivered to %s, looked for every %d s", where, cfg->webhook_poll_s);
    }
    PGconn *c = NULL;
    while (!g_stop) {
        if (!c) {
            char err[JOB_ERR_LEN];
            c = pgjob_connect(cfg, err, sizeof(err));
            if (!c) {
                log_warn("database unavailable: %s", err);
                nap(SCHEDULER_RECONNECT_S);
                continue;
            }
        }
        for (size_t i = 0; i < njobs && !g_stop; i++) {
            if (run_job(cfg, c, &jobs[i]) != 0 && PQstatus(c) != CONNECTION_OK) {
                PQfinish(c);
                c = NULL;
                break;
            }
        }
        nap(cfg->webhook_url ? cfg->webhook_poll_s : SCHEDULER_TICK_S);
    }
    if (c)
        PQfinish(c);
    log_info("scheduler stopped");
    return 0;
}
