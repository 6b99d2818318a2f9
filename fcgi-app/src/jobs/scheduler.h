/* scheduler.h - the `scheduler` command: rollups every ROLLUP_INTERVAL_MINUTES, today's refreshed
 * every ROLLUP_REFRESH_MINUTES, the retention purge once a day, and the webhook outbox's deliveries
 * every WEBHOOK_POLL_SECONDS (jobs/webhook.h), the months' partitions every PARTITION_JOB_INTERVAL_S
 * (jobs/partitions.h), each under an advisory lock so several machines never run a job twice. */
#ifndef SCHEDULER_H
#define SCHEDULER_H

#include "core/config.h"

/* Runs until SIGTERM or SIGINT; returns the exit code. */
int scheduler_main(const struct config *cfg, int argc, char **argv);

#endif
