#!/usr/bin/env bash
# check.sh - `make check`: the layer rule of fcgi-app/src (check-layers.py), the Makefile's .PHONY
# (check-phony.py), clang-format, cppcheck, shellcheck and python3 syntax. Each tool's findings are
# printed, then one `tool: ok|FAILED` line; exits non-zero when any tool failed.
set -euo pipefail
shopt -s nullglob globstar
cd "$(dirname "$0")/../.."

status=0
# Runs "$@" and prints the verdict line for tool $1.
run() {
    local name=$1
    shift
    if "$@"; then
        echo "$name: ok"
    else
        echo "$name: FAILED"
        status=1
    fi
}

c_files=(fcgi-app/src/*/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch])
c_dirs=(fcgi-app/src/*/)
unit_c=(tests/unit/*.c)
((${#unit_c[@]} == 0)) || c_dirs+=(tests/unit)
shell_files=(infra/scripts/*.sh tests/smoke/*.sh tests/image/*.sh tests/fly/*.sh tests/fuzz/*.sh)
for f in entrypoint.sh .ci/run; do
    [[ ! -f $f ]] || shell_files+=("$f")
done
py_files=(tests/**/*.py)

run layers python3 infra/scripts/check-layers.py fcgi-app/src
run phony python3 infra/scripts/check-phony.py Makefile
run clang-format clang-format --dry-run -Werror "${c_files[@]}"
run cppcheck cppcheck --enable=warning,portability,performance --error-exitcode=1 --inline-suppr -q \
    --std=c11 --suppress=missingIncludeSystem -I fcgi-app/src "${c_dirs[@]}"
run shellcheck shellcheck -x "${shell_files[@]}"
if ((${#py_files[@]} > 0)); then
    # Byte code goes to a throw-away prefix, not into __pycache__ next to the tests.
    PYTHONPYCACHEPREFIX=$(mktemp -d)
    export PYTHONPYCACHEPREFIX
    run python3 python3 -m py_compile "${py_files[@]}"
    rm -rf "$PYTHONPYCACHEPREFIX"
else
    echo "python3: ok (no files)"
fi
exit "$status"
