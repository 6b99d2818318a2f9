#!/usr/bin/env bash
# with-env.sh CMD... - runs CMD with the local environment: .local/env, and DATABASE_URL pointing at
# the local cluster (.local/pg, started if stopped) when it is unset and that cluster exists.
# Used by `make migrate` and `make check-config`.
set -euo pipefail
# shellcheck source=infra/scripts/lib-env.sh
. "$(dirname "$0")/lib-env.sh"

(($# > 0)) || die "usage: with-env.sh CMD [ARGS...]"
load_local_env
resolve_database_url existing
exec "$@"
