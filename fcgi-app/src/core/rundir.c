/* rundir.c - the RUN_DIR ownership and mode check (see rundir.h). */
#include "core/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rundir_check(const char *dir, bool missing_ok, char *err, size_t errlen)
{
    /* O_NOFOLLOW: a link in its place could point anywhere, owned by anyone */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && missing_ok)
            return 0;
        struct stat lst; /* O_DIRECTORY reports a link as ENOTDIR: say what it is */
        if (e == ENOTDIR && lstat(dir, &lst) == 0 && S_ISLNK(lst.st_mode))
            e = ELOOP;
        snprintf(err, errlen, "RUN_DIR %s: %s", dir,
                 e == ELOOP     ? "is a symbolic link; give the directory itself"
                 : e == ENOTDIR ? "is not a directory"
                                : strerror(e));
        return -1;
    }
    struct stat st;
    int rc = fstat(fd, &st);
    int e = errno;
    close(fd);
    if (rc != 0) {
        snprintf(err, errlen, "RUN_DIR %s: %s", dir, strerror(e));
        return -1;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen, "RUN_DIR %s: owned by uid %u, not by this process's uid %u", dir,
                 (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen, "RUN_DIR %s: mode %04o gives group or others access; it must be 0700", dir,
                 (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}
