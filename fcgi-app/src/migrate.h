/* migrate.h - the `migrate` job: applies migrations/NNNN_*.sql in order, once each, and adopts a
 * database created by the Node/Prisma service. */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stddef.h>

#include <libpq-fe.h>

#include "config.h"

/* Session advisory lock held for a whole `migrate up`, so that two machines never migrate at once. */
#define MIGRATE_ADVISORY_LOCK_KEY 7163019482257351201LL

/* The newest applied version (one row) or no row when none is recorded. Preparing it fails with
 * SQLSTATE 42P01 (undefined_table) while schema_migrations does not exist: treat that as "schema
 * outdated", not as a database failure. */
#define MIGRATE_SQL_LATEST "SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1"

/* `migrate [up]` or `migrate status`; argv[0] is "migrate". Returns the process exit code. */
int migrate_main(const struct config *cfg, int argc, char **argv);

/* Copies the newest applied version into out. Returns 0, 1 when none is recorded or
 * schema_migrations does not exist, -1 on a database error or when out is too small. */
int migrate_latest_applied(PGconn *c, char *out, size_t outlen);

/* Number of migration files under cfg->app_home that schema_migrations does not record, or -1 on
 * error (logged). */
int migrate_pending_count(const struct config *cfg, PGconn *c);

/* The versions of the migration files under app_home, sorted, into *out (an array of *n strings the
 * caller releases with migrate_free_versions()). Returns 0, or -1 (logged). */
int migrate_list_versions(const char *app_home, char ***out, size_t *n);
void migrate_free_versions(char **versions, size_t n);

#endif
