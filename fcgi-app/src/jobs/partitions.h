/* partitions.h - the scheduler's partitions job (issue 17 item 5, migrations/0017,
 * docs/partitioning.md): events and ingest_rejections are partitioned by UTC month; the job makes
 * the current month's partition and PARTITION_MONTHS_AHEAD next ones, finishes the adoption of a
 * large pre-partitioning table (its bound proven without blocking inserts). */
#ifndef PARTITIONS_H
#define PARTITIONS_H

#include <libpq-fe.h>

#include "core/config.h"

/* One pass on an open job connection. Returns 0, or -1 after logging why. */
int partitions_run(const struct config *cfg, PGconn *c);

#endif
