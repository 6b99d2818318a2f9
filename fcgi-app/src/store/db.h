/* db.h - the responder's one Postgres connection: prepared statements, deadlines, reconnect. */
#ifndef DB_H
#define DB_H

#include <libpq-fe.h>

#include "core/config.h"
#include "store/sql.h"

enum db_rc {
    DB_OK = 0,
    DB_UNAVAILABLE, /* unreachable, timing out, restarting: answer 503 database_unavailable */
    DB_ERROR,       /* the statement failed (a bug or a constraint): the caller decides */
};

/* Remembers cfg (borrowed for the process life). Does not connect. */
void db_init(const struct config *cfg);
/* Every call made until the next db_begin_request() finishes within budget_ms from now. */
void db_begin_request(int budget_ms);
/* Connects (and prepares every statement) when not connected. Fast-fails while the breaker is open. */
enum db_rc db_ensure(void);
/* Runs a prepared statement. On DB_OK *out is a result the caller PQclear()s; on DB_ERROR
 * *out may hold the failed result (caller PQclear()s) for its SQLSTATE; else *out is NULL. */
enum db_rc db_exec(enum stmt_id id, const char *const *values, PGresult **out);
/* SQLSTATE of a result, "" when none. Borrowed from res. */
const char *db_sqlstate(const PGresult *res);
void db_close(void);

#endif
