/* sql.h - every statement the responders and the jobs run. */
#ifndef SQL_H
#define SQL_H

#include <stdbool.h>

#include "core/sqlfn.h"

enum stmt_id {
    STMT_READY = 0,
    STMT_INGEST_EVENT,
    STMT_REJECTION,
    STMT_CAPTURE,
    STMT_UNSUBSCRIBE,
    STMT_DELETE,
    STMT_SUMMARY,
    STMT_ROLLUP_LAG,
    STMT_DAILY_SALT,
    STMT_BOT_DROP,
    STMT_SITE,
    STMT_TIMESERIES,
    STMT_BREAKDOWN,
    STMT_REALTIME,
    STMT_EXPORT_DAILY,
    STMT_EXPORT_DIMENSION,
    STMT_UNSUBSCRIBE_ID,
    STMT_LEAD_ACCESS,
    STMT_LEAD_ERASURES,
    STMT_WORDING_REGISTER,
    STMT_WORDING_LIST,
    STMT_LEAD_LIST,
    STMT_WEBHOOK_DELIVERIES,
    STMT_WEBHOOK_STATES,
    STMT_COUNT
};

struct stmt_def {
    const char *name;
    const char *sql; /* NULL when the statement is a call of fn */
    const struct sqlfn *fn;
    int nparams;
    /* Safe to run again after a lost connection (read-only, or deduplicated by a key). */
    bool retry_safe;
};

extern const struct stmt_def SQL_STMTS[STMT_COUNT];

/* The text of a statement: its sql, or for a call "SELECT <columns> FROM fn($1::type, ...)" from
 * the function's list in core/sqlfn.h. Rendered once into static storage; never NULL. */
const char *sql_text(enum stmt_id id);
/* The call text of an SQL function (as above), for the jobs. */
const char *sql_call_text(enum sqlfn_id id);

/* Statements of the jobs (rollups, retention, scheduler); run with PQexecParams on a job
 * connection. Parameters are described beside each in sql.c. */
/* A job connection's session: $1 schema, $2 statement_timeout ms, $3 idle-in-transaction ms, $4 the
 * webhook options of a new lead (actx.webhook, migrations/0014; "" for none). */
#define SQL_SETTINGS_NPARAMS 4
extern const char SQL_SESSION_SETUP[];
/* A responder's settings, per transaction (same parameters). */
extern const char SQL_TX_SETTINGS[];
extern const char SQL_ROLLUP_STATUS[];
extern const char SQL_DISCREPANCY[];
extern const char SQL_JOB_TRY_LOCK[];
extern const char SQL_JOB_UNLOCK[];
extern const char SQL_JOB_DUE[];
extern const char SQL_JOB_START[];
extern const char SQL_JOB_FINISH[];
extern const char SQL_JOB_LOCK[];

/* Transactions of a job connection. */
extern const char SQL_BEGIN[];
extern const char SQL_COMMIT[];
extern const char SQL_ROLLBACK[];

/* Migrations (jobs/migrate.c). */
extern const char SQL_MIGRATE_HAS_TABLES[];
extern const char SQL_MIGRATE_CREATE_TABLE[];
extern const char SQL_MIGRATE_APPLIED[];
extern const char SQL_MIGRATE_RECORD[];
extern const char SQL_MIGRATE_LOCK_TIMEOUT[];
extern const char SQL_MIGRATE_HAS_SCHEMA[];
extern const char SQL_HAS_TIME_ZONE[];
/* `backend unsubscribe-url --email=`: $1 the normalised email; the lead's id, or no row. */
extern const char SQL_LEAD_ID_BY_EMAIL[];
extern const char SQL_MIGRATE_PRISMA[];
/* The webhook job (jobs/webhook.c, migrations/0011's webhook_outbox); parameters in sql.c. */
extern const char SQL_WEBHOOK_CLAIM[];
extern const char SQL_WEBHOOK_RESULT[];
extern const char SQL_WEBHOOK_PURGE[];
/* A printf format of one %s, the schema name already quoted with PQescapeIdentifier. */
#define SQL_MIGRATE_CREATE_SCHEMA_FMT "CREATE SCHEMA IF NOT EXISTS %s"

#endif
