/* pgjob.h - the database connection of a command-line job (migrate, rollups, retention). */
#ifndef PGJOB_H
#define PGJOB_H

#include <stddef.h>

#include <libpq-fe.h>

#include "config.h"

/* Connects to cfg->database_url (JOB_CONNECT_TIMEOUT_S) and sets, for the whole session,
 * TimeZone=UTC, search_path=cfg->database_schema and statement_timeout=JOB_STATEMENT_TIMEOUT_MS.
 * Returns a connection the caller closes with PQfinish(), or NULL with a one-line reason in err
 * that never contains the URL or the password. */
PGconn *pgjob_connect(const struct config *cfg, char *err, size_t errlen);

#endif
