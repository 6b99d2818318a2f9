/* sql.c - SQL text in one place. */
#include "sql.h"

const struct stmt_def SQL_STMTS[STMT_COUNT] = {
    /* $1: text[] of migration versions on disk. Newest applied, and how many of ours are applied. */
    [STMT_READY] = {"ready",
                    "SELECT max(version), count(*) FILTER (WHERE version = ANY($1::text[])) "
                    "FROM schema_migrations",
                    1, true},
};
