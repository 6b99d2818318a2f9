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

#endif
