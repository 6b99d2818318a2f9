#!/usr/bin/env bash
# fly-secrets.sh FILE CMD... - `make fly-secrets`: checks the dotenv FILE and runs CMD (fly secrets
# import ...) with its KEY=VALUE lines on stdin, each line byte for byte (a value keeps its `#`,
# quotes and spaces: fly takes everything after the first `=`). Blank lines and `#` comments are
# dropped. DATABASE_URL and DIRECT_DATABASE_URL are left out unless FLY_SECRETS_INCLUDE_DB=1: `fly
# postgres attach` / `fly mpg attach` set DATABASE_URL, and a copy in the file (often a local URL)
# would silently replace it. Any bad line stops everything before CMD runs; values are never printed.
set -euo pipefail

(($# >= 2)) || {
    echo "usage: fly-secrets.sh FILE CMD..." >&2
    exit 2
}
file=$1
shift
[[ -f $file ]] || {
    echo "fly-secrets: $file is missing (see infra/fly/README.md)" >&2
    exit 1
}

declare -A seen=()
pairs=()
skipped=()
errors=0
err() {
    echo "fly-secrets: $file:$1" >&2
    errors=$((errors + 1))
}
n=0
while IFS= read -r line || [[ -n $line ]]; do
    n=$((n + 1))
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    # A key as the entrypoint reads it from the environment; no `export`, no space around `=`.
    if [[ ! $line =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]]; then
        err "$n: not KEY=VALUE (KEY of A-Z, 0-9, _; no export, no space before =)"
        continue
    fi
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    if [[ $value == *$'\r'* ]]; then
        err "$n: $key: carriage return in the value (CRLF line ends?)"
    elif [[ -z $value ]]; then
        err "$n: $key has an empty value"
    elif [[ $value == '"""'* ]]; then
        err "$n: $key: multi-line values (\"\"\") are not supported"
    elif [[ -n ${seen[$key]:-} ]]; then
        err "$n: $key is set twice (first on line ${seen[$key]})"
    fi
    seen[$key]=$n
    if [[ ${FLY_SECRETS_INCLUDE_DB:-} != 1 && ($key == DATABASE_URL || $key == DIRECT_DATABASE_URL) ]]; then
        skipped+=("$key")
        continue
    fi
    pairs+=("$line")
done <"$file"

if ((errors > 0)); then
    echo "fly-secrets: $errors bad line(s) in $file; nothing imported" >&2
    exit 1
fi
if ((${#skipped[@]} > 0)); then
    echo "fly-secrets: skipping ${skipped[*]} (set by fly postgres attach / fly mpg attach;" \
        "FLY_SECRETS_INCLUDE_DB=1 imports them)" >&2
fi
if ((${#pairs[@]} == 0)); then
    echo "fly-secrets: nothing to import from $file" >&2
    exit 0
fi
echo "fly-secrets: importing ${#pairs[@]} secret(s) from $file" >&2
printf '%s\n' "${pairs[@]}" | "$@"
