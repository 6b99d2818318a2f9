/* test_metrics.c - the shared counter table and its text exposition: counts made by another
 * process are seen, bucket bounds are inclusive, labels are escaped, a link at the table's path is
 * refused, another fingerprint starts a new table, and dead responders are not counted. */
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/metrics.h"
#include "t.h"

static char dir[] = "/tmp/test-metrics-XXXXXX";
static char path[128];
static const char *const LABELS[] = {"/v1/events", "other", "/metrics"};

static char *render(void)
{
    struct buf b = BUF_INIT;
    struct metrics_gauges g = {.rollup_lag_known = true,
                               .rollup_lag_days = 3,
                               .webhook_known = true,
                               .webhook_pending = 4,
                               .webhook_delivered = 17,
                               .webhook_failed = 1,
                               .webhook_oldest_pending_s = 62};
    metrics_render(&b, LABELS, ARRAY_LEN(LABELS), &g);
    return b.p; /* the caller frees */
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return true;
    }
    return false;
}

static void test_counts_from_another_process(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        metrics_request(0, MM_POST, 202, 1000); /* on the 1 ms bound: counted in le="0.001" */
        metrics_request(0, MM_POST, 202, 1001);
        metrics_request(0, MM_POST, 400, 20000000); /* beyond 10 s: only +Inf */
        metrics_rejection(0, metrics_reject_of("invalid_json"));
        metrics_rejection(0, metrics_reject_of(NULL));
        metrics_rate_limited(RL_CAPTURE);
        metrics_db_connect(true);
        metrics_db_connect(true); /* this process's second: a reconnect */
        metrics_db_connect(false);
        metrics_db_error(MDB_UNAVAILABLE);
        metrics_job(MJ_RETENTION, MO_SKIPPED);
        _exit(0);
    }
    int st = 0;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st));
    metrics_request(1, MM_GET, 404, 10);
    metrics_request(1, MM_GET, 99, 10);                    /* out of range: counted as 500 */
    metrics_request(METRICS_ROUTE_SLOTS, MM_GET, 200, 10); /* no such slot: ignored */

    char *t = render();
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK(has_line(t, "# TYPE backend_http_requests_total counter"));
    CHECK(has_line(t, "backend_http_requests_total{route=\"/v1/events\",method=\"POST\",status=\"202\"} 2"));
    CHECK(has_line(t, "backend_http_requests_total{route=\"/v1/events\",method=\"POST\",status=\"400\"} 1"));
    CHECK(has_line(t, "backend_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 1"));
    CHECK(has_line(t, "backend_http_requests_total{route=\"other\",method=\"GET\",status=\"500\"} 1"));
    CHECK(has_line(t, "# TYPE backend_http_request_duration_seconds histogram"));
    CHECK(has_line(t, "backend_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.001\"} 1"));
    CHECK(has_line(t, "backend_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"0.0025\"} 2"));
    CHECK(has_line(t, "backend_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"10\"} 2"));
    CHECK(has_line(t, "backend_http_request_duration_seconds_bucket{route=\"/v1/events\",le=\"+Inf\"} 3"));
    CHECK(has_line(t, "backend_http_request_duration_seconds_sum{route=\"/v1/events\"} 20.002001"));
    CHECK(has_line(t, "backend_http_request_duration_seconds_count{route=\"/v1/events\"} 3"));
    CHECK(strstr(t, "route=\"/metrics\"") == NULL); /* a route with no requests has no series */
    CHECK(has_line(t, "backend_ingest_rejections_total{route=\"/v1/events\",reason=\"invalid_json\"} 1"));
    CHECK(has_line(t, "backend_ingest_rejections_total{route=\"/v1/events\",reason=\"invalid_request\"} 1"));
    CHECK(has_line(t, "backend_rate_limited_total{class=\"capture\"} 1"));
    CHECK(has_line(t, "backend_rate_limited_total{class=\"events\"} 0"));
    CHECK(has_line(t, "backend_db_connects_total{result=\"ok\"} 2"));
    CHECK(has_line(t, "backend_db_connects_total{result=\"failed\"} 1"));
    CHECK(has_line(t, "backend_db_reconnects_total 1"));
    CHECK(has_line(t, "backend_db_errors_total{kind=\"unavailable\"} 1"));
    CHECK(has_line(t, "backend_rollup_lag_days 3"));
    /* the webhook outbox's gauges (issue 16 item 6) and the webhook job's counters */
    CHECK(has_line(t, "backend_webhook_outbox_rows{state=\"pending\"} 4"));
    CHECK(has_line(t, "backend_webhook_outbox_rows{state=\"delivered\"} 17"));
    CHECK(has_line(t, "backend_webhook_outbox_rows{state=\"failed\"} 1"));
    CHECK(has_line(t, "backend_webhook_oldest_pending_seconds 62"));
    CHECK(has_line(t, "# TYPE backend_webhook_outbox_rows gauge"));
    CHECK(has_line(t, "backend_scheduler_jobs_total{job=\"webhook\",outcome=\"ok\"} 0"));
    CHECK(has_line(t, "backend_scheduler_jobs_total{job=\"retention\",outcome=\"skipped\"} 1"));
    CHECK(t[strlen(t) - 1] == '\n');
    free(t);
}

static void test_label_escaping(void)
{
    struct buf b = BUF_INIT;
    metrics_label_value(&b, "a\"b\\c\nd");
    CHECK_STR(b.p, "a\\\"b\\\\c\\nd");
    free(b.p);
}

static void test_responders(void)
{
    int before = metrics_live_responders();
    metrics_responder_join();
    CHECK(metrics_live_responders() == before + 1);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        metrics_responder_leave(); /* the parent's slot is not the child's to free */
        metrics_responder_join();
        char c = 1;
        (void)!write(fds[1], &c, 1);
        pause(); /* killed below, never leaving: like a kill -9 */
        _exit(0);
    }
    char c = 0;
    CHECK(read(fds[0], &c, 1) == 1);
    CHECK(metrics_live_responders() == before + 2);
    kill(pid, SIGKILL);
    /* dead but not yet reaped (lighttpd reaps its children a moment later): not alive either */
    char stat_path[64], text[256] = "";
    snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 200 && !strstr(text, ") Z "); i++) {
        FILE *f = fopen(stat_path, "r");
        if (f) {
            if (!fgets(text, sizeof(text), f))
                text[0] = '\0';
            fclose(f);
        }
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    CHECK(strstr(text, ") Z ") != NULL);
    CHECK(metrics_live_responders() == before + 1);
    waitpid(pid, NULL, 0);
    CHECK(metrics_live_responders() == before + 1);
    metrics_responder_leave();
    CHECK(metrics_live_responders() == before);
    close(fds[0]);
    close(fds[1]);
}

static void test_refusals_and_fingerprint(void)
{
    char link_path[160];
    snprintf(link_path, sizeof(link_path), "%s/link.shm", dir);
    CHECK(symlink(path, link_path) == 0);
    metrics_close();
    errno = 0;
    CHECK(metrics_open(link_path, 1) == -1 && errno == ELOOP);
    unlink(link_path);

    CHECK(metrics_open(path, 1) == 0); /* the same fingerprint: the counts are kept */
    metrics_rate_limited(RL_EVENTS);
    char *t = render();
    CHECK(t && has_line(t, "backend_rate_limited_total{class=\"events\"} 1"));
    free(t);
    metrics_close();
    CHECK(metrics_open(path, 2) == 0); /* other route labels: a new table */
    t = render();
    CHECK(t && has_line(t, "backend_rate_limited_total{class=\"events\"} 0"));
    CHECK(t && strstr(t, "backend_http_requests_total{") == NULL);
    free(t);
    CHECK(metrics_fingerprint(LABELS, 3) != metrics_fingerprint(LABELS, 2));
    const char *ab[] = {"ab", "c"}, *abc[] = {"a", "bc"};
    CHECK(metrics_fingerprint(ab, 2) != metrics_fingerprint(abc, 2));
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/metrics.shm", dir);
    /* nothing mapped: counting is a no-op and the exposition is empty */
    metrics_rate_limited(RL_EVENTS);
    char *empty = render();
    CHECK(empty == NULL);
    free(empty);
    CHECK(metrics_open(path, 1) == 0);
    test_counts_from_another_process();
    test_label_escaping();
    test_responders();
    test_refusals_and_fingerprint();
    metrics_close();
    unlink(path);
    rmdir(dir);
    printf("%d passed, %d failed\n", t_passed, t_failed);
    return t_failed ? 1 : 0;
}
