#!/usr/bin/env bash
# build-tracker.sh [--check] - `make tracker`: minifies the tracker's readable sources
# (tracker/NAME.src.js) into what lighttpd serves, lighttpd/www/NAME.js and NAME.js.gz (gzip -9 -n,
# so a rebuild is byte-identical). Serving needs none of this: the outputs are tracked. terser is
# pinned in tracker/package-lock.json and installed with `npm ci` when the lock changed.
# --check builds into a temporary directory and fails when a tracked output differs from it.
set -euo pipefail
cd "$(dirname "$0")/../.."

NAMES=(t t.vitals t.plus)
out=lighttpd/www
if [[ ${1:-} == --check ]]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi

lock_sum=$(sha256sum tracker/package-lock.json | cut -d' ' -f1)
stamp=tracker/node_modules/.lock-sha256
if [[ ! -f $stamp || $(cat "$stamp") != "$lock_sum" ]]; then
    echo "tracker: npm ci (package-lock.json changed or node_modules missing)"
    (cd tracker && npm ci --ignore-scripts --no-audit --no-fund)
    echo "$lock_sum" >"$stamp"
fi

for name in "${NAMES[@]}"; do
    # the core's budget is in bytes: terser's strongest settings that keep the sources' meaning
    # (unsafe_arrows leaves alone the functions that use `this` or `arguments`)
    tracker/node_modules/.bin/terser "tracker/$name.src.js" --ecma 2020 --mangle \
        --compress passes=3,unsafe_arrows=true,unsafe=true,pure_getters=true -o "$out/$name.js"
    gzip -9 -n -c "$out/$name.js" >"$out/$name.js.gz"
    printf 'tracker: %s.js %d bytes, %d gzipped\n' "$name" "$(wc -c <"$out/$name.js")" \
        "$(wc -c <"$out/$name.js.gz")"
done

if [[ ${1:-} == --check ]]; then
    for name in "${NAMES[@]}"; do
        for f in "$name.js" "$name.js.gz"; do
            if ! cmp -s "$out/$f" "lighttpd/www/$f"; then
                echo "tracker: lighttpd/www/$f is not the build of tracker/$name.src.js: run make tracker"
                exit 1
            fi
        done
    done
    echo "tracker: lighttpd/www matches the sources"
fi
