#!/usr/bin/env bash
# db-backup.sh dump [PATH] | restore PATH - `make db-dump` / `make db-restore`.
#
# The database is DIRECT_DATABASE_URL when set (on Fly: the direct, non-pooled connection, e.g.
# through `fly proxy`), else DATABASE_URL, else the project-local cluster of `make run` (.local/pg,
# started if stopped, on the port of .local/run.env). Values in .local/env count, as for the
# other targets; the URL is never printed (it holds the password).
#
#   dump     pg_dump in custom format (-Fc) without owners and privileges, so it restores into any
#            database as any role. PATH defaults to .local/backups/<UTC timestamp>.dump (git-ignored).
#            The file is created mode 0600 (it holds personal data), written under a temporary
#            name and renamed when complete; an existing file is never overwritten. Prints the path.
#   restore  pg_restore --clean --if-exists --no-owner --no-privileges in one transaction: either
#            the whole dump is restored or nothing changes. A target that already has tables is
#            only overwritten with CONFIRM=1, because --clean drops the dump's objects there first.
#            Tables of the target that the dump does not contain are left as they are.
#
# PG_BIN picks the client tools (default PostgreSQL 15's); pg_dump must be at least the server's
# major version.
set -euo pipefail
# shellcheck source=infra/scripts/lib-env.sh
. "$(dirname "$0")/lib-env.sh"

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
BACKUP_DIR=$LOCAL_DIR/backups

usage() { die "usage: db-backup.sh dump [PATH] | restore PATH (make db-dump [DUMP=path], make db-restore DUMP=path)"; }

# Sets DB_URL and DB_WHICH (a printable name of where it came from, never the URL itself).
resolve_target() {
    load_run_env
    load_local_env
    if [[ -n ${DIRECT_DATABASE_URL:-} ]]; then
        DB_URL=$DIRECT_DATABASE_URL
        DB_WHICH=DIRECT_DATABASE_URL
    elif [[ -n ${DATABASE_URL:-} ]]; then
        DB_URL=$DATABASE_URL
        DB_WHICH=DATABASE_URL
    else
        resolve_database_url existing
        [[ -n ${DATABASE_URL:-} ]] ||
            die "no database: set DIRECT_DATABASE_URL or DATABASE_URL, or create the local cluster (make run)"
        DB_URL=$DATABASE_URL
        DB_WHICH="the local cluster (.local/pg)"
    fi
}

do_dump() {
    local out=${1:-} tmp
    resolve_target
    if [[ -z $out ]]; then
        (umask 077 && mkdir -p "$BACKUP_DIR")
        out=$BACKUP_DIR/$(date -u +%Y%m%dT%H%M%SZ).dump
    fi
    [[ ! -e $out ]] || die "$out exists; not overwriting it (choose another DUMP=path)"
    [[ -d $(dirname "$out") ]] || die "directory $(dirname "$out") does not exist"
    tmp=$out.partial
    rm -f "$tmp"
    echo "db-dump: dumping $DB_WHICH" >&2
    # umask 077: the file is 0600 from its first byte, not chmod-ed afterwards.
    if ! (umask 077 && "$PG_BIN/pg_dump" --format=custom --no-owner --no-privileges --file="$tmp" \
        --dbname="$DB_URL"); then
        rm -f "$tmp"
        die "pg_dump failed; no dump written"
    fi
    chmod 600 "$tmp"
    mv "$tmp" "$out"
    echo "db-dump: wrote $(stat -c %s "$out") bytes (mode 0600)" >&2
    echo "$out"
}

do_restore() {
    local in=${1:-} tables
    [[ -n $in ]] || die "no dump given: make db-restore DUMP=path"
    [[ -f $in ]] || die "$in: no such file"
    [[ -r $in ]] || die "$in: not readable"
    # --list reads the archive's table of contents: a file that is not a pg_dump custom/tar archive
    # fails here, before anything touches the database.
    "$PG_BIN/pg_restore" --list "$in" >/dev/null 2>&1 ||
        die "$in is not a readable pg_dump archive (make db-dump writes them)"
    resolve_target
    tables=$("$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 --dbname="$DB_URL" -c \
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'") ||
        die "cannot connect to $DB_WHICH"
    if ((tables > 0)) && [[ ${CONFIRM:-} != 1 ]]; then
        die "$DB_WHICH is not empty ($tables tables): restoring drops and replaces the dump's tables and their data there. Run again with CONFIRM=1 to do it."
    fi
    echo "db-restore: restoring $in into $DB_WHICH ($tables tables there before)" >&2
    "$PG_BIN/pg_restore" --clean --if-exists --no-owner --no-privileges --single-transaction \
        --exit-on-error --dbname="$DB_URL" "$in" ||
        die "pg_restore failed; the transaction was rolled back, $DB_WHICH is unchanged"
    echo "db-restore: done" >&2
}

(($# >= 1)) || usage
case $1 in
dump)
    (($# <= 2)) || usage
    do_dump "${2:-}"
    ;;
restore)
    (($# <= 2)) || usage
    do_restore "${2:-}"
    ;;
*) usage ;;
esac
