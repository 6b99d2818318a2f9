/* migrate.c - a small migration runner in the manner of dbmate/Flyway: one row per applied file in
 * schema_migrations (version, SHA-256, time), one transaction per file, a session advisory lock for
 * the whole run, and a refusal to continue when an applied file was edited afterwards. */
#include "jobs/migrate.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/bounds.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include "store/pgjob.h"
#include "store/sql.h"
#include "core/xalloc.h"

/* Local bounds: <limits.h> is not used because -I src makes it resolve to the project's limits.h. */
#define MIGRATION_MAX_FILES 1000
#define MIGRATION_NAME_MAX 128 /* longer file names are refused rather than truncated */
#define MIGRATION_PATH_MAX 1024

enum { COL_VERSION = 0, COL_CHECKSUM, COL_APPLIED_AT };

/* `migrate up` (the release command, entrypoint.sh, make run) reports each step once, as a log line
 * (JSON on stderr); `migrate status` and a command line it refuses answer a person, in text. */
static bool g_log;

/* One step, warning or error: a log line, or text ("migrate: [warning: ]...", info on stdout). */
ATTR_PRINTF(2, 3) static void say(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (g_log) {
        log_vmsg(lvl, fmt, ap);
    } else {
        FILE *f = lvl == LOG_INFO ? stdout : stderr;
        fputs(lvl == LOG_WARN ? "migrate: warning: " : "migrate: ", f);
        vfprintf(f, fmt, ap);
        fputc('\n', f);
    }
    va_end(ap);
}

struct mfile {
    char name[MIGRATION_NAME_MAX + 1];    /* "0001_init.sql" */
    char version[MIGRATION_NAME_MAX + 1]; /* "0001_init" */
    char checksum[HASH_HEX_LEN + 1];      /* empty unless the set was scanned with hashing */
    int row;                              /* row in the applied result, -1 while pending */
};

struct mset {
    char dir[MIGRATION_PATH_MAX];
    struct mfile *files; /* sorted by version; freed by mset_free() */
    size_t n;
};

static void mset_free(struct mset *ms)
{
    free(ms->files);
    ms->files = NULL;
    ms->n = 0;
}

static bool is_alnum_us(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
}

/* ^[0-9]{4}_[A-Za-z0-9_]+\.sql$ */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 4 + 1 + 1 + 4 || strcmp(s + n - 4, ".sql") != 0 || s[4] != '_')
        return false;
    for (size_t i = 0; i < 4; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    for (size_t i = 5; i < n - 4; i++) {
        if (!is_alnum_us(s[i]))
            return false;
    }
    return true;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct mfile *)a)->version, ((const struct mfile *)b)->version);
}

static int cmp_key_file(const void *key, const void *elem)
{
    return strcmp(key, ((const struct mfile *)elem)->version);
}

static struct mfile *mset_find(const struct mset *ms, const char *version)
{
    if (ms->n == 0)
        return NULL;
    return bsearch(version, ms->files, ms->n, sizeof(ms->files[0]), cmp_key_file);
}

/* Reads <dir>/<name> whole into *out (NUL-terminated; caller frees) and *outlen. Refuses anything
 * but a regular file, more than MIGRATION_MAX_BYTES, and NUL bytes (PQexec would stop there while
 * the checksum covered the rest). */
static int read_migration(const char *dir, const char *name, char **out, size_t *outlen, char *err,
                          size_t errlen)
{
    char path[MIGRATION_PATH_MAX];
    char *buf = NULL;
    size_t len = 0, cap;
    struct stat st;
    int fd = -1, rc = -1;

    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        (void)snprintf(err, errlen, "path of %s is too long", name);
        goto out;
    }
    /* O_NONBLOCK: a FIFO under that name must not hang the release; it is refused below. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0) {
        (void)snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        (void)snprintf(err, errlen, "%s is not a regular file", path);
        goto out;
    }
    if (st.st_size > MIGRATION_MAX_BYTES) {
        (void)snprintf(err, errlen, "%s is larger than %d bytes", path, MIGRATION_MAX_BYTES);
        goto out;
    }
    cap = (size_t)st.st_size + 1; /* +1 notices growth while reading */
    buf = xmalloc(cap + 1);
    for (;;) {
        if (len == cap) {
            if (cap > MIGRATION_MAX_BYTES) {
                (void)snprintf(err, errlen, "%s is larger than %d bytes", path, MIGRATION_MAX_BYTES);
                goto out;
            }
            cap = cap * 2 > (size_t)MIGRATION_MAX_BYTES + 1 ? (size_t)MIGRATION_MAX_BYTES + 1 : cap * 2;
            buf = xrealloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            (void)snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > MIGRATION_MAX_BYTES) {
        (void)snprintf(err, errlen, "%s is larger than %d bytes", path, MIGRATION_MAX_BYTES);
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        (void)snprintf(err, errlen, "%s contains a NUL byte", path);
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Lists <app_home>/migrations/NNNN_*.sql into ms (sorted), hashing each file when hash is set.
 * With warn set, other *.sql names there are warned about (a misnamed file is otherwise silently
 * never applied). */
static int mset_scan(const char *app_home, struct mset *ms, bool hash, bool warn, char *err, size_t errlen)
{
    DIR *d = NULL;
    size_t cap = 0;
    int rc = -1;

    memset(ms, 0, sizeof(*ms));
    int n = snprintf(ms->dir, sizeof(ms->dir), "%s/migrations", app_home);
    if (n < 0 || (size_t)n >= sizeof(ms->dir)) {
        (void)snprintf(err, errlen, "APP_HOME is too long");
        goto out;
    }
    d = opendir(ms->dir);
    if (!d) {
        (void)snprintf(err, errlen, "cannot open %s: %s", ms->dir, strerror(errno));
        goto out;
    }
    for (;;) {
        errno = 0;
        const struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                (void)snprintf(err, errlen, "cannot list %s: %s", ms->dir, strerror(errno));
                goto out;
            }
            break;
        }
        size_t len = strlen(de->d_name);
        if (!name_ok(de->d_name)) {
            if (warn && len > 4 && strcmp(de->d_name + len - 4, ".sql") == 0)
                say(LOG_WARN, "ignoring %s/%s (names are NNNN_name.sql)", ms->dir, de->d_name);
            continue;
        }
        if (len > MIGRATION_NAME_MAX) {
            (void)snprintf(err, errlen, "migration file name longer than %d bytes in %s", MIGRATION_NAME_MAX,
                           ms->dir);
            goto out;
        }
        if (ms->n == MIGRATION_MAX_FILES) {
            (void)snprintf(err, errlen, "more than %d migration files in %s", MIGRATION_MAX_FILES, ms->dir);
            goto out;
        }
        if (ms->n == cap) {
            cap = cap ? cap * 2 : 16;
            ms->files = xrealloc(ms->files, cap * sizeof(ms->files[0]));
        }
        struct mfile *f = &ms->files[ms->n++];
        memset(f, 0, sizeof(*f));
        memcpy(f->name, de->d_name, len + 1);
        memcpy(f->version, de->d_name, len - 4);
        f->version[len - 4] = '\0';
        f->row = -1;
    }
    if (ms->n)
        qsort(ms->files, ms->n, sizeof(ms->files[0]), cmp_file);
    /* One file per number: the order then never depends on a collation, here or in the database. */
    for (size_t i = 1; i < ms->n; i++) {
        if (memcmp(ms->files[i - 1].name, ms->files[i].name, 4) == 0) {
            (void)snprintf(err, errlen, "%s and %s share a number", ms->files[i - 1].name, ms->files[i].name);
            goto out;
        }
    }
    for (size_t i = 0; hash && i < ms->n; i++) {
        char *buf;
        size_t len;
        if (read_migration(ms->dir, ms->files[i].name, &buf, &len, err, errlen) != 0)
            goto out;
        hash_sha256_hex((struct str){buf, len}, ms->files[i].checksum);
        free(buf);
    }
    rc = 0;
out:
    if (d)
        closedir(d);
    if (rc != 0)
        mset_free(ms);
    return rc;
}

static int has_tables(PGconn *c, bool *has_sm, bool *has_prisma, char *err, size_t errlen)
{
    PGresult *r;
    if (pgjob_exec(c, SQL_MIGRATE_HAS_TABLES, 0, NULL, &r, "cannot inspect the database", err, errlen) != 0)
        return -1;
    *has_sm = PQgetvalue(r, 0, 0)[0] == 't';
    *has_prisma = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    return 0;
}

/* Links each applied row to its file; rows without a file are warned about. Returns how many
 * applied files differ from their recorded checksum (each reported at changed_level). */
static int match_applied(struct mset *ms, const PGresult *applied, enum log_level changed_level)
{
    int changed = 0;
    for (int i = 0; i < PQntuples(applied); i++) {
        const char *v = PQgetvalue(applied, i, COL_VERSION);
        struct mfile *f = mset_find(ms, v);
        if (!f) {
            say(LOG_WARN, "%s is recorded as applied but %s/%s.sql is missing", v, ms->dir, v);
            continue;
        }
        f->row = i;
        if (strcmp(f->checksum, PQgetvalue(applied, i, COL_CHECKSUM)) != 0) {
            say(changed_level, "%s/%s was changed after it was applied (recorded sha256 %s, file %s)",
                ms->dir, f->name, PQgetvalue(applied, i, COL_CHECKSUM), f->checksum);
            changed++;
        }
    }
    return changed;
}

/* Applies one file in its own transaction and records it. On failure rolls back and writes the
 * server's reason into why. */
static int apply_one(PGconn *c, const struct mset *ms, const struct mfile *f, long *ms_out, char *why,
                     size_t whylen)
{
    char *sql = NULL;
    size_t len;
    char sum[HASH_HEX_LEN + 1], msbuf[24];
    const char *const params[] = {f->version, f->checksum, msbuf};
    PGresult *r = NULL;
    ExecStatusType st;
    struct timespec t0;
    int rc = -1;

    if (read_migration(ms->dir, f->name, &sql, &len, why, whylen) != 0)
        goto out;
    hash_sha256_hex((struct str){sql, len}, sum);
    if (strcmp(sum, f->checksum) != 0) {
        (void)snprintf(why, whylen, "the file changed while migrate was running");
        goto out;
    }
    if (pgjob_exec(c, SQL_BEGIN, 0, NULL, NULL, "BEGIN", why, whylen) != 0 ||
        pgjob_exec(c, SQL_MIGRATE_LOCK_TIMEOUT, 0, NULL, NULL, "SET LOCAL", why, whylen) != 0)
        goto out;

    t0 = clock_mono_now();
    r = PQexec(c, sql); /* simple protocol: the file may hold many statements */
    st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        pgjob_reason(r, c, why, whylen);
        goto out;
    }
    long exec_ms = (long)clock_since_ms(&t0);
    /* A COMMIT inside the file would have made everything before it permanent and unrecorded. */
    if (PQtransactionStatus(c) != PQTRANS_INTRANS) {
        (void)snprintf(why, whylen,
                       "the file ends the transaction itself (no BEGIN/COMMIT/ROLLBACK allowed)");
        goto out;
    }
    *ms_out = exec_ms;
    (void)snprintf(msbuf, sizeof(msbuf), "%ld", *ms_out);
    if (pgjob_exec(c, SQL_MIGRATE_RECORD, 3, params, NULL, "cannot record it", why, whylen) != 0 ||
        pgjob_exec(c, SQL_COMMIT, 0, NULL, NULL, "COMMIT", why, whylen) != 0)
        goto out;
    rc = 0;
out:
    PQclear(r);
    if (rc != 0 && PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, SQL_ROLLBACK));
    free(sql);
    return rc;
}

/* Creates the configured schema when it does not exist (Prisma did the same for ?schema=). */
static int ensure_schema(PGconn *c, const char *schema, char *err, size_t errlen)
{
    PGresult *r = NULL;
    char *ident = NULL;
    int rc = -1;
    const char *const params[] = {schema};

    if (pgjob_exec(c, SQL_MIGRATE_HAS_SCHEMA, 1, params, &r, "cannot inspect the database", err, errlen) != 0)
        goto out;
    if (PQntuples(r) == 0) {
        char sql[256];
        ident = PQescapeIdentifier(c, schema, strlen(schema));
        int n = ident ? snprintf(sql, sizeof(sql), SQL_MIGRATE_CREATE_SCHEMA_FMT, ident) : -1;
        if (n < 0 || (size_t)n >= sizeof(sql)) {
            (void)snprintf(err, errlen, "cannot quote the schema name");
            goto out;
        }
        if (pgjob_exec(c, sql, 0, NULL, NULL, "cannot create the schema", err, errlen) != 0)
            goto out;
        say(LOG_INFO, "created schema %s", ident);
    }
    rc = 0;
out:
    PQfreemem(ident);
    PQclear(r);
    return rc;
}

/* Says what the Node service had applied; a Prisma migration that never finished is worth a warning
 * since Prisma itself would refuse to go on (the idempotent 0001 fills what it left out). */
static void report_adoption(PGconn *c)
{
    PGresult *r = NULL;
    char err[MIGRATE_ERR_LEN];
    say(LOG_INFO, "adopting a database created by the Node service (_prisma_migrations present)");
    if (pgjob_exec(c, SQL_MIGRATE_PRISMA, 0, NULL, &r, "cannot read _prisma_migrations", err, sizeof(err)) !=
        0) {
        say(LOG_WARN, "%s", err);
        return;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        if (PQgetvalue(r, i, 1)[0] == 't')
            say(LOG_INFO, "node migration %s was applied", name);
        else if (PQgetvalue(r, i, 2)[0] != 't')
            say(LOG_WARN, "node migration %s never finished", name);
    }
    PQclear(r);
}

static int lock_run(PGconn *c, const char *key, char *err, size_t errlen)
{
    bool got = false;
    if (pgjob_try_lock(c, key, &got, "cannot take the migration lock", err, errlen) != 0)
        return -1;
    if (!got) {
        say(LOG_INFO, "another migrate is running; waiting for it");
        fflush(stdout);
        /* Bounded by the job's statement_timeout. */
        if (pgjob_lock(c, key, "cannot take the migration lock", err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int cmd_up(const struct config *cfg, PGconn *c, struct mset *ms)
{
    char err[MIGRATE_ERR_LEN], key[24];
    PGresult *applied = NULL;
    bool has_sm, has_prisma, locked = false;
    size_t pending = 0, done = 0;
    int rc = 1;

    (void)snprintf(key, sizeof(key), "%lld", (long long)MIGRATE_ADVISORY_LOCK_KEY);
    if (lock_run(c, key, err, sizeof(err)) != 0)
        goto fail;
    locked = true;
    if (ensure_schema(c, cfg->database_schema, err, sizeof(err)) != 0 ||
        has_tables(c, &has_sm, &has_prisma, err, sizeof(err)) != 0)
        goto fail;
    if (has_prisma && !has_sm)
        report_adoption(c);
    if (pgjob_exec(c, SQL_MIGRATE_CREATE_TABLE, 0, NULL, NULL, "cannot create schema_migrations", err,
                   sizeof(err)) != 0 ||
        pgjob_exec(c, SQL_MIGRATE_APPLIED, 0, NULL, &applied, "cannot read schema_migrations", err,
                   sizeof(err)) != 0)
        goto fail;
    /* Every applied file is checked before anything is applied. */
    if (match_applied(ms, applied, LOG_ERROR) > 0)
        goto out;

    for (size_t i = 0; i < ms->n; i++)
        pending += ms->files[i].row < 0;
    if (pending == 0) {
        int last = PQntuples(applied) - 1;
        say(LOG_INFO, "schema is up to date (%s)", last >= 0 ? PQgetvalue(applied, last, COL_VERSION) : "");
        rc = 0;
        goto out;
    }
    for (size_t i = 0; i < ms->n; i++) {
        const struct mfile *f = &ms->files[i];
        long took = 0;
        if (f->row >= 0)
            continue;
        if (apply_one(c, ms, f, &took, err, sizeof(err)) != 0) {
            say(LOG_ERROR, "%s failed: %s", f->version, err);
            goto out;
        }
        say(LOG_INFO, "applied %s (%ld ms)", f->version, took);
        done++;
    }
    say(LOG_INFO, "applied %zu migration%s; schema is at %s", done, done == 1 ? "" : "s",
        ms->files[ms->n - 1].version);
    rc = 0;
    goto out;
fail:
    say(LOG_ERROR, "%s", err);
out:
    PQclear(applied);
    if (locked && PQstatus(c) == CONNECTION_OK) {
        if (pgjob_unlock(c, key, "cannot release the lock", err, sizeof(err)) != 0)
            say(LOG_WARN, "%s", err);
    }
    return rc;
}

static int cmd_status(PGconn *c, struct mset *ms)
{
    char err[MIGRATE_ERR_LEN];
    PGresult *applied = NULL;
    bool has_sm, has_prisma;

    if (has_tables(c, &has_sm, &has_prisma, err, sizeof(err)) != 0 ||
        (has_sm && pgjob_exec(c, SQL_MIGRATE_APPLIED, 0, NULL, &applied, "cannot read schema_migrations", err,
                              sizeof(err)) != 0)) {
        say(LOG_ERROR, "%s", err);
        return 1;
    }
    if (!has_sm && has_prisma)
        fprintf(stderr,
                "migrate: note: created by the Node service and not adopted yet; `migrate` adopts it\n");
    if (has_sm)
        (void)match_applied(ms, applied, LOG_WARN);
    for (size_t i = 0; i < ms->n; i++) {
        const struct mfile *f = &ms->files[i];
        if (f->row >= 0)
            printf("applied %s %s\n", f->version, PQgetvalue(applied, f->row, COL_APPLIED_AT));
        else
            printf("pending %s\n", f->version);
    }
    PQclear(applied);
    return 0;
}

/* Server notices (e.g. "relation already exists, skipping" from the idempotent 0001) are noise for a
 * human reading the release log: debug level, warnings stay visible. */
static void on_notice(void *arg, const PGresult *r)
{
    (void)arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    if (sev && strcmp(sev, "WARNING") == 0)
        log_warn("server: %s", msg ? msg : "");
    else
        log_debug("server: %s", msg ? msg : "");
}

int migrate_main(const struct config *cfg, int argc, char **argv)
{
    char err[MIGRATE_ERR_LEN];
    struct mset ms = {0};
    PGconn *c = NULL;
    bool up;
    int rc = 1;

    log_set_component("migrate");
    up = argc <= 1 || strcmp(argv[1], "up") == 0;
    if (argc > 2 || (!up && strcmp(argv[1], "status") != 0)) {
        const char *bad = argc > 2 && (up || strcmp(argv[1], "status") == 0) ? argv[2] : argv[1];
        fprintf(stderr, "migrate: unexpected argument '%s' (usage: migrate [up|status])\n", bad);
        goto out;
    }
    g_log = up;
    if (hash_init() != 0) {
        say(LOG_ERROR, "libsodium failed to initialise");
        goto out;
    }
    if (mset_scan(cfg->app_home, &ms, true, true, err, sizeof(err)) != 0) {
        say(LOG_ERROR, "%s", err);
        goto out;
    }
    if (ms.n == 0) {
        say(LOG_ERROR, "no migration files in %s", ms.dir);
        goto out;
    }
    c = pgjob_connect(cfg, err, sizeof(err));
    if (!c) {
        say(LOG_ERROR, "%s", err);
        goto out;
    }
    PQsetNoticeReceiver(c, on_notice, NULL);
    rc = up ? cmd_up(cfg, c, &ms) : cmd_status(c, &ms);
out:
    fflush(stdout);
    if (c)
        PQfinish(c);
    mset_free(&ms);
    return rc;
}

int migrate_list_versions(const char *app_home, char ***out, size_t *n)
{
    char err[MIGRATE_ERR_LEN];
    struct mset ms;
    int rc = -1;

    *out = NULL;
    *n = 0;
    if (mset_scan(app_home, &ms, false, false, err, sizeof(err)) != 0) {
        log_error("%s", err);
        goto out;
    }
    *out = xcalloc(ms.n ? ms.n : 1, sizeof(char *));
    for (size_t i = 0; i < ms.n; i++)
        (*out)[i] = xstrndup(ms.files[i].version, strlen(ms.files[i].version));
    *n = ms.n;
    rc = 0;
out:
    mset_free(&ms);
    return rc;
}

void migrate_free_versions(char **versions, size_t n)
{
    for (size_t i = 0; versions && i < n; i++)
        free(versions[i]);
    free(versions);
}
