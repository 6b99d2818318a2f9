#!/usr/bin/env bash
# fly-probe.sh URL - the end of `make fly-deploy`: GET URL/v1/healthz (lighttpd is up) and
# URL/v1/readyz (the database is reachable and migrated) until each answers 200, at most
# FLY_PROBE_TRIES times FLY_PROBE_DELAY seconds apart. Exits non-zero naming the path that never did:
# `fly checks list` exits 0 even with a failing check, so this is the deploy's verdict.
set -euo pipefail

(($# == 1)) || {
    echo "usage: fly-probe.sh URL" >&2
    exit 2
}
url=${1%/}
tries=${FLY_PROBE_TRIES:-10}
delay=${FLY_PROBE_DELAY:-3}
[[ $tries =~ ^[1-9][0-9]*$ && $delay =~ ^[0-9]+$ ]] || {
    echo "fly-probe: FLY_PROBE_TRIES must be >= 1 and FLY_PROBE_DELAY >= 0 (whole numbers)" >&2
    exit 2
}

for path in /v1/healthz /v1/readyz; do
    for ((i = 1; ; i++)); do
        # 000 when nothing answered (connection refused, TLS error, timeout)
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$url$path" || true)
        echo "fly-probe: $url$path: $code (try $i/$tries)"
        [[ $code == 200 ]] && break
        if ((i >= tries)); then
            echo "fly-probe: FAILED: $url$path answered $code, not 200, $tries time(s); the deploy is not healthy" >&2
            exit 1
        fi
        sleep "$delay"
    done
done
echo "fly-probe: $url is live and ready"
