/* pgjob.h - the database connection of a command-line job (migrate, rollups, retention). */
#ifndef PGJOB_H
#define PGJOB_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "core/config.h"

/* Connects to cfg->direct_database_url (DIRECT_DATABASE_URL, else DATABASE_URL: a session of its
 * own, never a transaction pooler's, for the advisory locks and long statements; JOB_CONNECT_TIMEOUT_S) and
 * sets, for the whole session, TimeZone=UTC, search_path=cfg->database_schema and
 * statement_timeout=JOB_STATEMENT_TIMEOUT_MS. Returns a connection the caller closes with PQfinish(), or NULL
 * with a one-line reason in err that never contains the URL or the password. */
PGconn *pgjob_connect(const struct config *cfg, char *err, size_t errlen);

/* The server's one-line reason for a failed result (primary message), else libpq's, into buf. */
const char *pgjob_reason(const PGresult *r, PGconn *c, char *buf, size_t buflen);

/* Runs one statement (parameters optional). On success returns 0 and, when out is given, the
 * result the caller PQclear()s; on failure writes "<what>: <reason>" into err and returns -1. */
int pgjob_exec(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **out,
               const char *what, char *err, size_t errlen);

/* Session-level advisory locks on a bigint key (decimal text), so two machines never run one
 * job at once. try_lock sets *got; lock waits (bounded by the statement timeout). 0, or -1 with
 * "<what>: <reason>" in err. */
int pgjob_try_lock(PGconn *c, const char *key, bool *got, const char *what, char *err, size_t errlen);
int pgjob_lock(PGconn *c, const char *key, const char *what, char *err, size_t errlen);
int pgjob_unlock(PGconn *c, const char *key, const char *what, char *err, size_t errlen);

/* Writes "<what>: <libpq message>" as one line into err, without the libpq part when it would
 * reveal the password of database_url (or when the URL does not parse). */
void pgjob_describe_error(char *err, size_t errlen, const char *what, const char *pqmsg,
                          const char *database_url);

#endif
