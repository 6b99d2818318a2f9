# shellcheck shell=bash
# lib-env.sh - sourced by run.sh, stop.sh and with-env.sh: where local state lives and how the
# environment is resolved (.local/env, the project-local Postgres cluster, dev secrets).

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
APP_HOME=$(cd "$SCRIPTS_DIR/../.." && pwd -P)
LOCAL_DIR=$APP_HOME/.local
LOCAL_ENV=$LOCAL_DIR/env
LOCAL_PG=$LOCAL_DIR/pg
LOCAL_PG_DATA=$LOCAL_PG/data
LIGHTTPD_PID_FILE=$LOCAL_DIR/lighttpd.pid
SCHEDULER_PID_FILE=$LOCAL_DIR/scheduler.pid
export APP_HOME
PATH=$PATH:/usr/sbin:/sbin # lighttpd and runuser live there; a user's PATH may lack them

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# Exports KEY=VALUE lines of .local/env (optionally quoted; comments and other lines ignored).
# The file is parsed, not sourced, and a variable already set in the environment wins over it.
load_local_env() {
    local line key val
    [[ -f $LOCAL_ENV ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        key=${BASH_REMATCH[2]}
        val=${BASH_REMATCH[3]}
        if [[ $val =~ ^\"(.*)\"$ || $val =~ ^\'(.*)\'$ ]]; then
            val=${BASH_REMATCH[1]}
        fi
        [[ -n ${!key+set} ]] || export "$key=$val"
    done <"$LOCAL_ENV"
}

random_hex() { # $1 = bytes
    head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# Development secrets, generated once into .local/env (mode 600) unless already set.
ensure_dev_secrets() {
    local name bytes
    mkdir -p "$LOCAL_DIR"
    for name in IP_HASH_PEPPER:32 ADMIN_API_KEY:24; do
        bytes=${name#*:}
        name=${name%:*}
        [[ -z ${!name:-} ]] || continue
        (umask 077 && echo "$name=$(random_hex "$bytes")" >>"$LOCAL_ENV")
        echo "generated a development $name into .local/env"
    done
    [[ ! -f $LOCAL_ENV ]] || chmod 600 "$LOCAL_ENV"
    load_local_env
}

# As root, postgres runs as user `postgres`, which must reach .local/pg. When the clone is in a
# directory it cannot search (e.g. /root), .local/pg becomes a link to a directory it can.
link_local_pg_if_unreachable() {
    local target
    if ((EUID != 0)) || [[ -e $LOCAL_PG ]]; then
        return 0
    fi
    mkdir -p "$LOCAL_DIR"
    runuser -u postgres -- test -x "$LOCAL_DIR" 2>/dev/null && return 0
    target=/var/lib/postgresql/backend-dev-$(printf '%s' "$APP_HOME" | cksum | cut -d' ' -f1)
    mkdir -p "$target"
    ln -s "$target" "$LOCAL_PG"
    echo "postgres cannot reach $LOCAL_DIR: the local cluster lives in $target"
}

# When DATABASE_URL is unset, points it at the local cluster in .local/pg, starting it if stopped.
# $1 = init: a missing cluster is created first; existing: a missing cluster leaves it unset.
resolve_database_url() {
    local port=${PGPORT_LOCAL:-54329}
    [[ -z ${DATABASE_URL:-} ]] || return 0
    if [[ ! -f $LOCAL_PG_DATA/PG_VERSION ]]; then
        [[ $1 == init ]] || return 0
        link_local_pg_if_unreachable
        "$SCRIPTS_DIR/pg-local.sh" init "$LOCAL_PG_DATA" "$port"
    fi
    DATABASE_URL=$("$SCRIPTS_DIR/pg-local.sh" start "$LOCAL_PG_DATA" "$port")
    export DATABASE_URL
}

# Prints the pid of the lighttpd that run.sh started, when it is still alive.
# Prints the pid recorded in file $1 when that process is alive and runs command $2.
pid_from_file() {
    local pid
    [[ -f $1 ]] || return 1
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ && $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
    echo "$pid"
}

lighttpd_pid() { pid_from_file "$LIGHTTPD_PID_FILE" lighttpd; }
scheduler_pid() { pid_from_file "$SCHEDULER_PID_FILE" backend; }
