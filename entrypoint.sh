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
# ADMIN_API_KEY shorter than 24, ...) stops here with the variable's name. Logs go to stdout/stderr.
set -euo pipefail

APP_HOME=${APP_HOME:-/app}
BACKEND_BIN=${BACKEND_BIN:-$APP_HOME/bin/backend}
RUN_DIR=${RUN_DIR:-/tmp/backend-run}
export APP_HOME BACKEND_BIN RUN_DIR

if ! "$BACKEND_BIN" check-config --offline >/dev/null; then
    echo "entrypoint: the configuration is invalid (the line above names the variable); not starting" >&2
    exit 1
fi

cmd=${1:-serve}
case $cmd in
migrate)
    exec "$BACKEND_BIN" migrate
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

# lighttpd writes its access log to /proc/self/fd/3 (it points its own stdout at /dev/null). It
# reopens that path, which a non-root user may not do on a stdout that belongs to root (Fly's
# init, a file), so fd 3 is a pipe of our own that cat copies to our stdout.
exec 3> >(exec cat)
lighttpd -D -f "$APP_HOME/lighttpd/lighttpd.conf" &
lighttpd=$!
exec 3>&-

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
    echo "entrypoint: lighttpd exited on its own (status $status)" >&2
    kill -TERM "$scheduler" 2>/dev/null || true
fi
wait "$scheduler" || true
exit "$status"
