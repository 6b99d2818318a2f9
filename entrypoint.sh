#!/usr/bin/env bash
# entrypoint.sh - the container's entry (Fly.io), also runnable on a host with APP_HOME set.
#
#   entrypoint.sh migrate     apply pending migrations and exit (Fly release_command)
#   entrypoint.sh [serve]     start the scheduler and run lighttpd in the foreground; SIGINT or
#                             SIGTERM (Fly's kill_signal) drains in-flight requests, stops the
#                             responders and the scheduler, and exits
#   entrypoint.sh CMD...      run a backend command (rollups status, retention purge, ...)
#
# The configuration is checked first: a missing or bad value (IP_HASH_PEPPER shorter than 32,
# ADMIN_API_KEY shorter than 24, ...) stops here with the variable's name.
#
# serve and migrate write logs only: every line is one JSON object (ts in RFC 3339 UTC with
# milliseconds, level, component, msg). The backend's own lines are; `backend log-filter` sits
# behind stdout and stderr, passes them unchanged and wraps everything else (lighttpd's error log, a
# config error) into one. Other commands answer a person: their output is left as it is.
set -euo pipefail

APP_HOME=${APP_HOME:-/app}
BACKEND_BIN=${BACKEND_BIN:-$APP_HOME/bin/backend}
RUN_DIR=${RUN_DIR:-/tmp/backend-run}
export APP_HOME BACKEND_BIN RUN_DIR

cmd=${1:-serve}
filter=
if [[ $cmd == serve || $cmd == migrate ]]; then
    exec > >(exec "$BACKEND_BIN" log-filter entrypoint) 2>&1
    filter=$!
fi

# log LEVEL MESSAGE: one line of this script's own (MESSAGE: plain text without quotes).
log() {
    if [[ -n $filter ]]; then
        printf '{"ts":"%s","level":"%s","component":"entrypoint","msg":"%s"}\n' \
            "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$1" "$2"
    else
        echo "entrypoint: $2" >&2
    fi
}

# finish STATUS: lets the filter write the last lines (it ends when every writer has closed the
# pipe), then exits.
finish() {
    if [[ -n $filter ]]; then
        exec >&- 2>&-
        wait "$filter" 2>/dev/null || true
    fi
    exit "$1"
}

if ! "$BACKEND_BIN" check-config --offline >/dev/null; then
    log error "the configuration is invalid (the line above names the variable); not starting"
    finish 1
fi

case $cmd in
migrate)
    status=0
    "$BACKEND_BIN" migrate || status=$?
    finish "$status"
    ;;
serve) ;;
*)
    exec "$BACKEND_BIN" "$@"
    ;;
esac

mkdir -p "$RUN_DIR"
chmod 0700 "$RUN_DIR"

"$BACKEND_BIN" scheduler &
scheduler=$!

# lighttpd writes its access log to /proc/self/fd/3 (it points its own stdout at /dev/null) and
# reopens that path, which a non-root user may not do on a stdout that belongs to root (Fly's init,
# a file): fd 3 is our own pipe, the filter's. Its strftime time is local time: TZ=UTC
# (lighttpd.conf).
TZ=UTC lighttpd -D -f "$APP_HOME/lighttpd/lighttpd.conf" 3>&1 &
lighttpd=$!

stopping=0
# shellcheck disable=SC2317 # invoked by the trap
stop() {
    stopping=1
    # SIGINT is lighttpd's graceful shutdown: finish in-flight requests, then SIGTERM the responders
    kill -INT "$lighttpd" 2>/dev/null || true
    kill -TERM "$scheduler" 2>/dev/null || true
}
trap stop INT TERM

# wait returns early when a trapped signal arrives; keep waiting until lighttpd is gone, then
# collect its own exit status
while kill -0 "$lighttpd" 2>/dev/null; do
    wait "$lighttpd" || true
done
status=0
wait "$lighttpd" || status=$?
if ((stopping == 0)); then
    log error "lighttpd exited on its own (status $status)"
    kill -TERM "$scheduler" 2>/dev/null || true
fi
wait "$scheduler" || true
finish "$status"
