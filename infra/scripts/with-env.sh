#!/usr/bin/env bash
# with-env.sh CMD... - runs CMD with the local environment: the running stack's settings
# (.local/run.env: PORT, PGPORT_LOCAL, ...), .local/env, and DATABASE_URL pointing at the local
# cluster (.local/pg, started if stopped) when it is unset and that cluster exists. Variables
# given explicitly win. Used by `make migrate`, `make check-config`, `make rollups-*` and
# `make retention-purge`.
set -euo pipefail
# shellcheck source=infra/scripts/lib-env.sh
. "$(dirname "$0")/lib-env.sh"

(($# > 0)) || die "usage: with-env.sh CMD [ARGS...]"
load_run_env
load_local_env
resolve_database_url existing
exec "$@"
