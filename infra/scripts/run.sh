#!/usr/bin/env bash
# run.sh - `make run`: everything needed to serve the API locally, from a clean clone.
# Installs missing packages, resolves the environment (.local/env, a local Postgres in .local/pg
# when DATABASE_URL is unset, development secrets), checks the config, migrates, and starts
# lighttpd in the background. Running it again while lighttpd runs is a no-op. Stop: make stop.
set -euo pipefail
# shellcheck source=infra/scripts/lib-env.sh
. "$(dirname "$0")/lib-env.sh"

: "${BACKEND_BIN:?set BACKEND_BIN to the built binary (make run does)}"
export BACKEND_BIN

"$SCRIPTS_DIR/install-deps.sh"
mkdir -p "$LOCAL_DIR"
load_local_env
export PORT=${PORT:-3000}
url=http://127.0.0.1:$PORT

if pid=$(lighttpd_pid); then
    echo "already running: $url (lighttpd pid $pid); stop with: make stop"
    exit 0
fi

ensure_dev_secrets
resolve_database_url init
export BIND_ADDRESS=${BIND_ADDRESS:-127.0.0.1} # local only; the container binds 0.0.0.0
export FCGI_WORKERS=${FCGI_WORKERS:-2}
export RUN_DIR=${RUN_DIR:-$LOCAL_DIR/run}

"$BACKEND_BIN" check-config --offline >/dev/null || die "configuration rejected (see above; .local/env holds local settings)"
"$BACKEND_BIN" migrate || die "migrate failed"

mkdir -p "$RUN_DIR"
chmod 0700 "$RUN_DIR"
conf=$APP_HOME/lighttpd/lighttpd.conf
log=$LOCAL_DIR/lighttpd.log
[[ -f $conf ]] || die "missing $conf"
lighttpd -tt -f "$conf" 3>/dev/null || die "lighttpd rejects $conf"

# Every log line is one JSON object: `backend log-filter` passes the lines that are (responders,
# scheduler, access log) and wraps lighttpd's own text and anything else; it ends when its writers
# have all gone (it ignores ^C and hang-ups). lighttpd writes its access log to fd 3, its strftime
# time as local time (TZ=UTC: lighttpd.conf). setsid: lighttpd outlives this script and the
# terminal's ^C.
TZ=UTC setsid lighttpd -D -f "$conf" </dev/null \
    2> >(exec "$BACKEND_BIN" log-filter lighttpd >>"$log" 2>&1) >&2 \
    3> >(exec "$BACKEND_BIN" log-filter access >>"$LOCAL_DIR/access.log" 2>&1) &
pid=$!
echo "$pid" >"$LIGHTTPD_PID_FILE"

for ((i = 0; i < 50; i++)); do
    if curl -fsS -o /dev/null --max-time 1 "$url/v1/healthz" 2>/dev/null; then
        # the scheduler: rollups every ROLLUP_INTERVAL_MINUTES, retention purge daily
        if ! scheduler_pid >/dev/null; then
            setsid "$BACKEND_BIN" scheduler </dev/null \
                > >(exec "$BACKEND_BIN" log-filter scheduler >>"$LOCAL_DIR/scheduler.log" 2>&1) 2>&1 &
            echo "$!" >"$SCHEDULER_PID_FILE"
        fi
        echo "backend running: $url (lighttpd pid $pid, $FCGI_WORKERS responders, scheduler)"
        echo "logs: .local/lighttpd.log (lighttpd and responders), .local/access.log (requests)," \
            ".local/scheduler.log (jobs)"
        echo "stop with: make stop"
        exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
done

echo "lighttpd did not answer $url/v1/healthz within 10 s; last lines of $log:" >&2
tail -n 30 "$log" >&2
kill -TERM "$pid" 2>/dev/null || true
rm -f "$LIGHTTPD_PID_FILE"
exit 1
