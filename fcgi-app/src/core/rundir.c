/* rundir.c - the RUN_DIR ownership and mode check (see rundir.h). */
#include "core/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
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

void *rundir_map_table(const char *path, size_t size, rundir_table_prepare prepare, void *ctx)
{
    void *out = NULL;
    /* O_NOFOLLOW: a symbolic link planted at path is refused (ELOOP), never written through */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    /* the first opener sizes and initialises the table while holding the file lock */
    if (flock(fd, LOCK_EX) != 0)
        goto out;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto out_unlock;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        errno = EPERM; /* a table someone else made (or not a file) is not ours to trust */
        goto out_unlock;
    }
    bool fresh = (size_t)st.st_size != size;
    if (fresh && ftruncate(fd, (off_t)size) != 0)
        goto out_unlock;
    void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        goto out_unlock;
    if (prepare(m, fresh, ctx) != 0) {
        int e = errno;
        munmap(m, size);
        errno = e;
        goto out_unlock;
    }
    out = m;
out_unlock:
    (void)flock(fd, LOCK_UN);
out:
    close(fd);
    return out;
}
