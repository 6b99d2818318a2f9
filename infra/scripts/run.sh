#!/usr/bin/env bash
# run.sh - `make run`: everything needed to serve the API locally, from a clean clone.
# Installs missing packages, resolves the environment (.local/env, a local Postgres in .local/pg
# when DATABASE_URL is unset, development secrets), checks the config, migrates, and starts
# lighttpd in the background. Running it again while lighttpd runs only reports it (its port from
# .local/run.env); asking for another PORT then fails. A port some other process listens on stops
# it before anything starts. Once the stack answers, .local/run.env records its settings for the
# other targets. Every run prints where the admin key is. Stop: make stop.
set -euo pipefail
# shellcheck source=infra/scripts/lib-env.sh
. "$(dirname "$0")/lib-env.sh"

: "${BACKEND_BIN:?set BACKEND_BIN to the built binary (make run does)}"
export BACKEND_BIN

"$SCRIPTS_DIR/install-deps.sh"
mkdir -p "$LOCAL_DIR"

# Where the admin key comes from, decided before .local/env is read (the caller's variable wins).
admin_from=.local/env
if [[ -n ${ADMIN_API_KEY+set} ]]; then
    admin_from=environment
    [[ -n $ADMIN_API_KEY ]] || admin_from=none
fi
admin_key_line() { # $1 = admin_from of the running stack
    case $1 in
    environment) echo "admin key: the ADMIN_API_KEY of the environment make run was started with (not stored)" ;;
    none) echo "admin key: none (ADMIN_API_KEY was empty: the admin routes answer 503)" ;;
    *) echo "admin key: ADMIN_API_KEY in .local/env (header x-admin-key, for /v1/metrics/summary and /v1/leads/delete)" ;;
    esac
}

if pid=$(lighttpd_pid); then
    if ! running_port=$(run_env_value PORT); then
        echo "already running (lighttpd pid $pid), but .local/run.env is missing, so its port is unknown;" \
            "make stop, then make run"
        exit 0
    fi
    url=http://127.0.0.1:$running_port
    [[ -z ${PORT:-} || $PORT == "$running_port" ]] ||
        die "already running on $url (lighttpd pid $pid), not on PORT=$PORT; make stop first to move it"
    echo "already running: $url (lighttpd pid $pid); stop with: make stop"
    admin_key_line "$(run_env_value ADMIN_API_KEY_FROM)"
    exit 0
fi

load_local_env
export PORT=${PORT:-3000}
export METRICS_PORT=${METRICS_PORT:-9091} # the metrics listener (0: none); loopback by default
url=http://127.0.0.1:$PORT
# the unsubscribe links of `backend unsubscribe-url` and the lead export point at this stack unless
# the operator names a public host
export PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-$url}

# Another server on the port would answer our health probe while lighttpd fails to bind: refuse
# before anything starts.
if port_in_use "$PORT"; then
    die "port $PORT is taken by $(port_listeners "$PORT" | describe_pids); nothing started" \
        "(make run PORT=<another port>)"
fi
if [[ $METRICS_PORT != 0 ]] && port_in_use "$METRICS_PORT"; then
    die "metrics port $METRICS_PORT is taken by $(port_listeners "$METRICS_PORT" | describe_pids);" \
        "nothing started (make run METRICS_PORT=<another port>, or METRICS_PORT=0 for none)"
fi

ensure_dev_secrets
pg_started=
if [[ -z ${DATABASE_URL:-} ]] && ! "$SCRIPTS_DIR/pg-local.sh" status "$LOCAL_PG_DATA" >/dev/null 2>&1; then
    pg_started=1
fi
resolve_database_url init
export BIND_ADDRESS=${BIND_ADDRESS:-127.0.0.1} # local only; the container binds 0.0.0.0
export FCGI_WORKERS=${FCGI_WORKERS:-8}
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

# Ready when the answer comes from our lighttpd: it holds the listening socket on PORT (a server
# that took the port since the check above answers /v1/healthz just as well).
for ((i = 0; i < 50; i++)); do
    if listens_on "$pid" "$PORT" && curl -fsS -o /dev/null --max-time 1 "$url/v1/healthz" 2>/dev/null; then
        # the scheduler: rollups every ROLLUP_INTERVAL_MINUTES, retention purge daily
        if ! scheduler_pid >/dev/null; then
            setsid "$BACKEND_BIN" scheduler </dev/null \
                > >(exec "$BACKEND_BIN" log-filter scheduler >>"$LOCAL_DIR/scheduler.log" 2>&1) 2>&1 &
            echo "$!" >"$SCHEDULER_PID_FILE"
        fi
        write_run_env "$admin_from"
        echo "backend running: $url (lighttpd pid $pid, $FCGI_WORKERS responders, scheduler)"
        admin_key_line "$admin_from"
        echo "dashboard: $url/dashboard/ (sign in with the admin key)"
        if [[ $METRICS_PORT != 0 ]]; then
            mhost=${METRICS_BIND_ADDRESS:-127.0.0.1}
            [[ $mhost != *:* ]] || mhost="[$mhost]"
            echo "metrics: http://$mhost:$METRICS_PORT/metrics (Prometheus text)"
        fi
        echo "logs: .local/lighttpd.log (lighttpd and responders), .local/access.log (requests)," \
            ".local/scheduler.log (jobs)"
        echo "stop with: make stop"
        exit 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
done

if port_in_use "$PORT" && ! listens_on "$pid" "$PORT"; then
    echo "port $PORT was taken by $(port_listeners "$PORT" | describe_pids) while lighttpd started;" \
        "last lines of $log:" >&2
else
    echo "lighttpd did not answer $url/v1/healthz within 10 s; last lines of $log:" >&2
fi
tail -n 30 "$log" >&2
kill -TERM "$pid" 2>/dev/null || true
rm -f "$LIGHTTPD_PID_FILE"
# the cluster too, when this run started it: a failed run leaves nothing running
[[ -z $pg_started ]] || "$SCRIPTS_DIR/pg-local.sh" stop "$LOCAL_PG_DATA" || true
exit 1
