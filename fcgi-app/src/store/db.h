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
/* A statement whose rows are read one at a time (libpq's single-row mode, in either
 * DATABASE_STATEMENTS mode), so memory does not grow with the row count. Only retry_safe reads.
 * db_stream_open sends it and waits for its first answer: DB_OK when rows (or none) are coming,
 * else the same codes as db_exec, nothing left open, and *failed as db_exec's *out on DB_ERROR.
 * While a stream is open no other statement may run. */
enum db_rc db_stream_open(enum stmt_id id, const char *const *values, PGresult **failed);
/* The next row: DB_OK with *row a one-row result the caller PQclear()s, or *row NULL at the end
 * (the stream is then closed); DB_UNAVAILABLE or DB_ERROR when the statement failed on the way
 * (the stream is closed, the connection dropped). */
enum db_rc db_stream_next(PGresult **row);
/* Abandons an open stream (a client that went away, a HEAD request): the connection is dropped,
 * so no unread rows are drained. Nothing when no stream is open. */
void db_stream_close(void);
/* SQLSTATE of a result, "" when none. Borrowed from res. */
const char *db_sqlstate(const PGresult *res);
void db_close(void);

#endif
