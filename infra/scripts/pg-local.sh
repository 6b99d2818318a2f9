#!/usr/bin/env bash
# pg-local.sh {init|start|stop|status|port} DATADIR [PORT]
#
# A project-local PostgreSQL 15 cluster for development and tests (`make run`, the integration
# harness). LOCAL DEV/TEST ONLY: it trusts every local connection (--auth=trust), so anyone on this
# machine can connect as any role without a password. Never point it at data you care about.
#
#   init    creates the cluster (skipped when DATADIR/PG_VERSION exists) and the database `backend`
#   start   starts it (no-op when running), waits until it accepts connections, prints its URL;
#           fails at once when it already runs on another port than PORT
#   stop    fast shutdown (no-op when stopped)
#   status  exit 0 when running, 3 when stopped, 4 when there is no cluster (pg_ctl's codes)
#   port    prints the port the running cluster listens on; exit 3 when it is not running
#
# It listens on 127.0.0.1:PORT (default 54329) and on a unix socket in DATADIR/../sock (mode 0755);
# its server log is DATADIR/../postgres.log. `start` prints only the URL on stdout
# (postgresql://postgres@127.0.0.1:PORT/backend); progress goes to stderr.
# As root, DATADIR belongs to the `postgres` user and every pg command runs as it (initdb refuses
# root), so every directory above DATADIR must be searchable by `postgres`.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

die() {
    echo "pg-local: $*" >&2
    exit 1
}
say() { echo "pg-local: $*" >&2; }

(($# >= 2)) || die "usage: pg-local.sh {init|start|stop|status|port} DATADIR [PORT]"
cmd=$1
port=${3:-54329}
[[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
datadir=$(realpath -m "$2")
base=$(dirname "$datadir")
sockdir=$base/sock
logfile=$base/postgres.log

# Runs a PostgreSQL binary, as `postgres` when we are root. `cd /` spares the warning postgres
# prints when it cannot read our working directory.
pg() {
    local tool=$PG_BIN/$1
    shift
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- "$tool" "$@")
    else
        "$tool" "$@"
    fi
}

# Creates the directories (owned by `postgres` when root) and checks that postgres can reach them.
prepare_dirs() {
    mkdir -p "$datadir" "$sockdir"
    touch "$logfile"
    chmod 0700 "$datadir"
    chmod 0755 "$sockdir"
    if ((EUID == 0)); then
        chown postgres:postgres "$datadir" "$sockdir" "$logfile"
        runuser -u postgres -- test -w "$datadir" ||
            die "user postgres cannot reach $datadir: make every directory above it searchable (chmod o+x)"
    fi
}

is_running() {
    [[ -f $datadir/PG_VERSION ]] && pg pg_ctl status -D "$datadir" >/dev/null 2>&1
}

do_init() {
    if [[ -f $datadir/PG_VERSION ]]; then
        say "cluster already initialized in $datadir"
        return
    fi
    prepare_dirs
    local locale=C
    if locale -a 2>/dev/null | grep -qixE 'c\.utf-?8'; then
        locale=C.UTF-8
    fi
    say "initializing $datadir (locale $locale, trust auth: local dev/test only)"
    pg initdb -D "$datadir" --username=postgres --auth=trust -E UTF8 --locale="$locale" >/dev/null
    # The database, created in single-user mode so init needs no running server.
    local out
    out=$(echo 'CREATE DATABASE backend;' |
        pg postgres --single -D "$datadir" -c exit_on_error=true template1 2>&1 >/dev/null) ||
        die "could not create database backend ($out); remove $datadir and retry"
}

# The port of the running cluster: line 4 of postmaster.pid (the server writes it; root and the
# cluster's owner may read it). Fails when it is not running.
running_port() {
    local p
    is_running || return 1
    p=$(sed -n 4p "$datadir/postmaster.pid" 2>/dev/null)
    [[ $p =~ ^[0-9]+$ ]] || return 1
    echo "$p"
}

do_start() {
    local running
    [[ -f $datadir/PG_VERSION ]] || die "no cluster in $datadir (run: pg-local.sh init $datadir)"
    if is_running; then
        # waiting for it on another port could only time out
        if running=$(running_port) && [[ $running != "$port" ]]; then
            die "the cluster in $datadir runs on port $running, not $port (PGPORT_LOCAL=$running, or make stop first)"
        fi
        say "already running ($datadir)"
    else
        prepare_dirs
        say "starting on 127.0.0.1:$port, socket in $sockdir, log $logfile"
        pg pg_ctl start -D "$datadir" -l "$logfile" -s -w -t 30 \
            -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$sockdir'" \
            -o "-c max_connections=50 -c shared_buffers=32MB" ||
            {
                tail -n 20 "$logfile" >&2
                die "start failed (log: $logfile)"
            }
    fi
    local i
    for ((i = 0; i < 60; i++)); do
        if "$PG_BIN/pg_isready" -q -h "$sockdir" -p "$port" -d backend -U postgres; then
            echo "postgresql://postgres@127.0.0.1:$port/backend"
            return
        fi
        sleep 0.5
    done
    die "not ready after 30 s on port $port (log: $logfile)"
}

do_stop() {
    if ! is_running; then
        say "not running ($datadir)"
        return
    fi
    pg pg_ctl stop -D "$datadir" -m fast -s -w
    say "stopped ($datadir)"
}

do_status() {
    [[ -f $datadir/PG_VERSION ]] || {
        say "no cluster in $datadir"
        exit 4
    }
    pg pg_ctl status -D "$datadir"
}

case $cmd in
init) do_init ;;
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
port) running_port || exit 3 ;;
*) die "unknown command '$cmd' (init|start|stop|status|port)" ;;
esac
