#!/usr/bin/env bash
# run-all.sh - `make test-smoke`: each smoke test in turn (cgi-fcgi.sh: the responder alone;
# make-run.sh: make run/stop and the targets that find the running stack), then the sum of their
# `N passed, N failed` lines. A test that exits non-zero without such a line counts as one failure.
#
#   BACKEND_BIN=fcgi-app/build/backend [SANITIZE=...] tests/smoke/run-all.sh
set -uo pipefail
cd "$(dirname "$0")" || exit 1

passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in cgi-fcgi.sh make-run.sh; do
    echo "---- $t"
    rc=0
    "./$t" | tee "$out" || rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
        ((rc == 0 || BASH_REMATCH[2] > 0)) || failed=$((failed + 1))
    elif ((rc != 0)); then
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
((failed == 0))
