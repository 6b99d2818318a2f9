# shellcheck shell=bash
# lib-env.sh - sourced by run.sh, stop.sh, with-env.sh and db-backup.sh: where local state lives and
# how the environment is resolved (.local/run.env, .local/env, the project-local Postgres cluster,
# dev secrets), and who listens on a port.

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
APP_HOME=$(cd "$SCRIPTS_DIR/../.." && pwd -P)
LOCAL_DIR=$APP_HOME/.local
LOCAL_ENV=$LOCAL_DIR/env
LOCAL_PG=$LOCAL_DIR/pg
LOCAL_PG_DATA=$LOCAL_PG/data
LIGHTTPD_PID_FILE=$LOCAL_DIR/lighttpd.pid
SCHEDULER_PID_FILE=$LOCAL_DIR/scheduler.pid
# The settings the running stack was started with (run.sh writes it once the stack answers,
# stop.sh removes it), so the other targets find it without PORT=/PGPORT_LOCAL= on their line.
RUN_ENV=$LOCAL_DIR/run.env
RUN_ENV_KEYS=(PORT METRICS_PORT BIND_ADDRESS FCGI_WORKERS RUN_DIR PGPORT_LOCAL)
PGPORT_LOCAL_DEFAULT=54329
export APP_HOME
PATH=$PATH:/usr/sbin:/sbin # lighttpd and runuser live there; a user's PATH may lack them

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# Exports KEY=VALUE lines of file $1 (optionally quoted; comments and other lines ignored), only
# the keys $2... when given. The file is parsed, not sourced, and a variable already set in the
# environment wins over it.
load_env_file() {
    local file=$1 line key val
    shift
    [[ -f $file ]] || return 0
    while IFS= read -r line || [[ -n $line ]]; do
        [[ $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
        key=${BASH_REMATCH[2]}
        val=${BASH_REMATCH[3]}
        (($# == 0)) || [[ " $* " == *" $key "* ]] || continue
        if [[ $val =~ ^\"(.*)\"$ || $val =~ ^\'(.*)\'$ ]]; then
            val=${BASH_REMATCH[1]}
        fi
        [[ -n ${!key+set} ]] || export "$key=$val"
    done <"$file"
}

load_local_env() { load_env_file "$LOCAL_ENV"; }

# The running stack's settings (.local/run.env), before .local/env so they win over it; explicit
# variables (the environment, `make VAR=...`) win over both.
load_run_env() { load_env_file "$RUN_ENV" "${RUN_ENV_KEYS[@]}"; }

# Prints the value of KEY $1 in .local/run.env (any key, unquoted as written by write_run_env);
# fails when the file or the key is missing.
run_env_value() {
    [[ -f $RUN_ENV ]] || return 1
    sed -n "s/^$1=//p" "$RUN_ENV" | tail -n 1 | grep .
}

# Writes .local/run.env (mode 600, replaced whole): RUN_ENV_KEYS as they are now (PGPORT_LOCAL
# only when the local cluster is in use: LOCAL_PG_PORT) and ADMIN_API_KEY_FROM=$1, where the
# admin key came from (never the key itself).
write_run_env() {
    local tmp=$RUN_ENV.tmp
    (
        umask 077
        {
            echo "# written by make run for the running stack; make stop removes it. Values here are"
            echo "# what the other make targets use when the variable is not given."
            local key
            for key in "${RUN_ENV_KEYS[@]}"; do
                [[ $key == PGPORT_LOCAL ]] || printf '%s=%s\n' "$key" "${!key}"
            done
            [[ -z ${LOCAL_PG_PORT:-} ]] || printf 'PGPORT_LOCAL=%s\n' "$LOCAL_PG_PORT"
            printf 'ADMIN_API_KEY_FROM=%s\n' "$1"
        } >"$tmp"
    ) && mv -f "$tmp" "$RUN_ENV"
}

random_hex() { # $1 = bytes
    head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# Development secrets, generated once into .local/env (mode 600) unless already set.
ensure_dev_secrets() {
    local name bytes
    mkdir -p "$LOCAL_DIR"
    for name in IP_HASH_PEPPER:32 ADMIN_API_KEY:24 UNSUBSCRIBE_SECRET:32 ERASURE_LOG_SECRET:32; do
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

# When DATABASE_URL is unset, points it at the local cluster in .local/pg, starting it if stopped,
# and sets LOCAL_PG_PORT to its port: PGPORT_LOCAL when set (environment, run.env, .local/env),
# else the port the cluster already runs on, else 54329. A cluster running on another port than
# an explicit PGPORT_LOCAL is an error at once (pg-local.sh start).
# $1 = init: a missing cluster is created first; existing: a missing cluster leaves it unset.
resolve_database_url() {
    local port=${PGPORT_LOCAL:-}
    LOCAL_PG_PORT=
    [[ -z ${DATABASE_URL:-} ]] || return 0
    if [[ ! -f $LOCAL_PG_DATA/PG_VERSION ]]; then
        [[ $1 == init ]] || return 0
        link_local_pg_if_unreachable
        "$SCRIPTS_DIR/pg-local.sh" init "$LOCAL_PG_DATA" "${port:-$PGPORT_LOCAL_DEFAULT}"
    fi
    [[ -n $port ]] || port=$("$SCRIPTS_DIR/pg-local.sh" port "$LOCAL_PG_DATA" 2>/dev/null) ||
        port=$PGPORT_LOCAL_DEFAULT
    DATABASE_URL=$("$SCRIPTS_DIR/pg-local.sh" start "$LOCAL_PG_DATA" "$port")
    LOCAL_PG_PORT=$port
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

# Who listens on a TCP port, from the kernel's tables: an HTTP answer proves nothing (any server
# can answer /v1/healthz), a listening socket held by the lighttpd we started does. Linux /proc
# only, no extra package; the sockets of every address (IPv4 and IPv6) count.

# Prints the inodes of the listening TCP sockets on port $1.
listen_inodes() {
    local hex
    hex=$(printf '%04X' "$1")
    # fields: sl local_address rem_address st ... inode (10th); st 0A is LISTEN
    awk -v port="$hex" '$4 == "0A" && substr($2, index($2, ":") + 1) == port { print $10 }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Prints the pids holding a listening socket on port $1, one a line (none when nothing listens, or
# when the holder is not visible to us: another user's process without root).
port_listeners() {
    local inode
    for inode in $(listen_inodes "$1"); do
        find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\[$inode\]" 2>/dev/null
    done | cut -d/ -f3 | sort -un
}

# 0 when port $1 has a listening socket, whoever holds it.
port_in_use() { [[ -n $(listen_inodes "$1") ]]; }

# 0 when process $1 holds a listening socket on port $2.
listens_on() {
    local inode
    for inode in $(listen_inodes "$2"); do
        [[ -z $(find "/proc/$1/fd" -maxdepth 1 -lname "socket:\[$inode\]" 2>/dev/null) ]] || return 0
    done
    return 1
}

# "pid 123 (python3)" for each pid on stdin, comma-separated, for messages.
describe_pids() {
    local pid out=
    while read -r pid; do
        out+="${out:+, }pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null || echo '?'))"
    done
    echo "${out:-a process we cannot see}"
}
