/* metrics.h - counters an operator scrapes (Prometheus text format 0.0.4), kept in a table in
 * shared memory (RUN_DIR/metrics.shm) that every responder and the scheduler of a machine map, so
 * one scrape sees the whole machine whichever responder answers it. Updates are single C11 atomic
 * additions (no lock); a process that has not opened the table counts nothing. */
#ifndef METRICS_H
#define METRICS_H

#include <stdint.h>
#include <sys/types.h>

#include "core/bounds.h"
#include "core/buf.h"
#include "core/common.h"
#include "core/config.h"

enum metrics_method { MM_GET = 0, MM_HEAD, MM_POST, MM_OPTIONS, MM_OTHER, MM_COUNT };

/* ingest_rejections reasons (the 400's error code) */
enum metrics_reject { MR_INVALID_REQUEST = 0, MR_INVALID_JSON, MR_OTHER, MR_COUNT };

enum metrics_job { MJ_ROLLUPS = 0, MJ_RETENTION, MJ_SALTS, MJ_REFRESH, MJ_WEBHOOK, MJ_PARTITIONS, MJ_COUNT };
/* ok: ran and succeeded; failed: ran and failed; error: the scheduler could not check, stamp or
 * record it (database); skipped: another scheduler holds its lock. A job not due counts nothing. */
enum metrics_outcome { MO_OK = 0, MO_FAILED, MO_ERROR, MO_SKIPPED, MO_COUNT };

enum metrics_db_error {
    MDB_UNAVAILABLE = 0, /* a statement answered DB_UNAVAILABLE (the caller's 503) */
    MDB_STATEMENT,       /* the server refused a statement (DB_ERROR) */
    MDB_COUNT
};

/* The latency histogram's upper bounds, in microseconds (le labels in seconds in metrics.c). */
#define METRICS_LATENCY_BUCKETS 13

/* Maps (creating when missing) the table at path, like ratelimit_open: a symbolic link is refused
 * (ELOOP), a file that is not a regular file of this user too (EPERM). fingerprint names the
 * layout's meaning (the route labels): a table made with another fingerprint or size is zeroed and
 * re-made. Returns 0, or -1 with errno set. */
int metrics_open(const char *path, uint64_t fingerprint) ATTR_WUR;
void metrics_close(void);

/* A 64-bit FNV-1a of the labels, for metrics_open. */
uint64_t metrics_fingerprint(const char *const *labels, size_t n);

/* This process is a responder until metrics_responder_leave (or its death, seen at scrape time). */
void metrics_responder_join(void);
void metrics_responder_leave(void);

/* One answered request: route slot (< METRICS_ROUTE_SLOTS), method, status, time taken in µs. */
void metrics_request(int route, enum metrics_method m, int status, uint64_t us);
void metrics_rejection(int route, enum metrics_reject reason);
enum metrics_reject metrics_reject_of(const char *reason);
void metrics_rate_limited(enum rl_class cls);
/* ok: a connection was made (reconnect: not this process's first); else an attempt failed. */
void metrics_db_connect(bool ok);
void metrics_db_error(enum metrics_db_error kind);
void metrics_job(enum metrics_job job, enum metrics_outcome outcome);

/* Gauges read at scrape time by the caller. */
struct metrics_gauges {
    bool rollup_lag_known; /* false: no day rolled up yet, or the database did not answer */
    long rollup_lag_days;
    /* webhook_outbox rows per state and the oldest pending row's age (issue 16 item 6); false: the
     * database did not answer */
    bool webhook_known;
    long webhook_pending, webhook_delivered, webhook_failed, webhook_oldest_pending_s;
};

/* Appends the whole exposition to out: route_labels[i] names route slot i (n of them, at most
 * METRICS_ROUTE_SLOTS), label values escaped as the format requires. */
void metrics_render(struct buf *out, const char *const *route_labels, size_t n,
                    const struct metrics_gauges *g);

/* Appends s as a label value: backslash, double quote and line feed escaped (exposition 0.0.4). */
void metrics_label_value(struct buf *out, const char *s);

/* Responders alive now (a slot whose process still runs with the start time it joined with). */
int metrics_live_responders(void);

#endif
