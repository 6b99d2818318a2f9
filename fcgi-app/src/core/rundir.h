/* rundir.h - RUN_DIR holds the FastCGI socket and the shared rate-limit table: only this user may
 * enter it, or another local user could plant links or files there. */
#ifndef RUNDIR_H
#define RUNDIR_H

#include <stddef.h>

#include "core/common.h"

/* Checks that dir is a directory (not a symbolic link) owned by the effective uid with no group
 * or other permissions. Returns 0, or -1 with "RUN_DIR <dir>: reason" in err. When missing_ok,
 * a directory that does not exist yet passes (it is created later, mode 0700). */
int rundir_check(const char *dir, bool missing_ok, char *err, size_t errlen) ATTR_WUR;

/* Makes the table of a RUN_DIR file valid: called with the file lock held, so the first opener
 * initialises it while the others wait. fresh: the file was just created or had another size, so
 * its bytes mean nothing yet. Returns 0, or -1 with errno set. */
typedef int (*rundir_table_prepare)(void *table, bool fresh, void *ctx);

/* Maps path (created 0600, never through a symbolic link, refused with EPERM unless it is a
 * regular file of the effective uid) as a shared table of size bytes, sized and handed to prepare
 * under an exclusive file lock. Returns the mapping (the caller munmap()s it, size bytes), or NULL
 * with errno set. */
void *rundir_map_table(const char *path, size_t size, rundir_table_prepare prepare, void *ctx) ATTR_WUR;

#endif
