#!/usr/bin/env bash
# stop.sh - `make stop`: stops the lighttpd that run.sh started (SIGINT drains in-flight requests;
# SIGTERM after 10 s), the scheduler, then the local Postgres cluster in .local/pg if it runs, and
# forgets the running stack's settings (.local/run.env). Safe when nothing runs.
set -euo pipefail
# shellcheck source=infra/scripts/lib-env.sh
. "$(dirname "$0")/lib-env.sh"

# Waits up to $2 seconds for pid $1 to exit; fails when it is still alive.
wait_gone() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

if pid=$(lighttpd_pid); then
    kill -INT "$pid"
    if ! wait_gone "$pid" 10; then
        echo "lighttpd (pid $pid) still running after SIGINT; sending SIGTERM"
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || die "lighttpd (pid $pid) did not exit"
    fi
    echo "lighttpd stopped"
else
    echo "lighttpd not running"
fi
rm -f "$LIGHTTPD_PID_FILE"

if pid=$(scheduler_pid); then
    kill -TERM "$pid"
    wait_gone "$pid" 10 || die "scheduler (pid $pid) did not exit"
    echo "scheduler stopped"
fi
rm -f "$SCHEDULER_PID_FILE"

if [[ -f $LOCAL_PG_DATA/PG_VERSION ]]; then
    "$SCRIPTS_DIR/pg-local.sh" stop "$LOCAL_PG_DATA"
fi
rm -f "$RUN_ENV"
