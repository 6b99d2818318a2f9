/* migrate.h - the `migrate` job: applies migrations/NNNN_*.sql in order, once each, and adopts a
 * database created by the Node/Prisma service. */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stddef.h>

#include <libpq-fe.h>

#include "core/config.h"

/* Session advisory lock held for a whole `migrate up`, so that two machines never migrate at once. */
#define MIGRATE_ADVISORY_LOCK_KEY 7163019482257351201LL

/* `migrate [up]` or `migrate status`; argv[0] is "migrate". Returns the process exit code. */
int migrate_main(const struct config *cfg, int argc, char **argv);

/* The versions of the migration files under app_home, sorted, into *out (an array of *n strings the
 * caller releases with migrate_free_versions()). Returns 0, or -1 (logged). */
int migrate_list_versions(const char *app_home, char ***out, size_t *n);
void migrate_free_versions(char **versions, size_t n);

#endif
