/* partitions.c - the partitions job: two statements, each its own transaction, so that the long
 * one (the proof of a legacy partition's bound, a full scan under SHARE UPDATE EXCLUSIVE) never
 * holds the short exclusive locks of the other. */
#include "jobs/partitions.h"

#include <stdio.h>

#include "core/bounds.h"
#include "core/log.h"
#include "store/pgjob.h"
#include "store/sql.h"

int partitions_run(const struct config *cfg, PGconn *c)
{
    (void)cfg;
    char err[JOB_ERR_LEN], ahead[16], lock_ms[16], validate_ms[16];
    PGresult *validated = NULL, *created = NULL;
    int rc = -1;
    (void)snprintf(ahead, sizeof(ahead), "%d", PARTITION_MONTHS_AHEAD);
    (void)snprintf(lock_ms, sizeof(lock_ms), "%d", PARTITION_LOCK_TIMEOUT_MS);
    (void)snprintf(validate_ms, sizeof(validate_ms), "%d", PARTITION_VALIDATE_TIMEOUT_MS);
    union partition_validate_legacy_args validate = {.statement_timeout_ms = validate_ms};
    union partitions_ensure_args ensure = {.ahead = ahead, .lock_timeout_ms = lock_ms};
    if (pgjob_exec(c, sql_call_text(SQLFN_PARTITION_VALIDATE_LEGACY), PARTITION_VALIDATE_LEGACY_NPARAMS,
                   validate.v, &validated, "legacy bound", err, sizeof(err)) != 0 ||
        pgjob_exec(c, sql_call_text(SQLFN_PARTITIONS_ENSURE), PARTITIONS_ENSURE_NPARAMS, ensure.v, &created,
                   "create", err, sizeof(err)) != 0) {
        log_warn("partitions: %s", err);
        goto out;
    }
    log_info("partitions: %s legacy bound(s) proven, %s partition(s) created (this month and %d ahead)",
             PQgetvalue(validated, 0, 0), PQgetvalue(created, 0, 0), PARTITION_MONTHS_AHEAD);
    rc = 0;
out:
    PQclear(validated);
    PQclear(created);
    return rc;
}
