#!/usr/bin/env bash
# Build qjs and run the whole suite on each given Python interpreter, each in a fresh venv
# of its own, the way the README says to: `pip install ".[test]" && python -m pytest`.
#
# Usage: ci/test-interpreters.sh [PYTHON ...]
#   PYTHON is a path to an interpreter or a name on PATH (python3.12). With none given:
#   every CPython under $PYENV_ROOT/versions (default /root/.pyenv/versions).
# Environment:
#   QJS_INTERP_VENVS   where the venvs go (default /tmp/qjs-interp); each is recreated
#   QJS_PYTEST_ARGS    extra pytest arguments (default: -q -p no:cacheprovider)
#   QJS_NICE=1         run the builds and tests under `nice` (a shared machine)
#
# The build happens in a copy of the source tree (git-tracked files only), so a build
# for one interpreter never reuses another's objects or the generated _engine.c of an
# editable install in the checkout. Prints a summary line per interpreter and exits
# non-zero if any interpreter failed to build or to pass.
set -uo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
venvs="${QJS_INTERP_VENVS:-/tmp/qjs-interp}"
pytest_args="${QJS_PYTEST_ARGS:--q -p no:cacheprovider}"
nice_cmd=()
[ "${QJS_NICE:-0}" = 1 ] && nice_cmd=(nice -n 10)

pythons=("$@")
if [ ${#pythons[@]} -eq 0 ]; then
    for p in "${PYENV_ROOT:-/root/.pyenv}"/versions/*/bin/python3; do
        [ -x "$p" ] && pythons+=("$p")
    done
fi
if [ ${#pythons[@]} -eq 0 ]; then
    echo "test-interpreters: no interpreter given and none found under pyenv" >&2
    exit 2
fi

mkdir -p "$venvs"
summary=()
failed=0
for py in "${pythons[@]}"; do
    if ! command -v "$py" >/dev/null 2>&1; then
        summary+=("$py: not found")
        failed=1
        continue
    fi
    tag="$("$py" -c 'import sys, sysconfig; print("%s-%d.%d.%d%s" % (sys.implementation.name,
        *sys.version_info[:3], "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""))')"
    venv="$venvs/$tag"
    tree="$venvs/src-$tag"
    log="$venvs/$tag.log"
    echo "=== $tag ($py): venv $venv, log $log"
    start=$SECONDS
    rm -rf "$venv" "$tree"
    mkdir -p "$tree"
    (cd "$src" && git ls-files -z --cached --others --exclude-standard \
        | xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$tree"
    if ! "$py" -m venv "$venv" >"$log" 2>&1 \
        || ! "$venv/bin/python" -m pip install -q --upgrade pip >>"$log" 2>&1 \
        || ! (cd "$tree" && "${nice_cmd[@]}" "$venv/bin/python" -m pip install ".[test]") >>"$log" 2>&1; then
        summary+=("$tag: BUILD FAILED after $((SECONDS - start)) s (see $log)")
        failed=1
        tail -20 "$log"
        continue
    fi
    built=$((SECONDS - start))
    # the suite runs from the copy, against the installed package (src/ is not on sys.path)
    (cd "$tree" && "${nice_cmd[@]}" "$venv/bin/python" -m pytest $pytest_args) 2>&1 | tee -a "$log" | tail -5
    rc=${PIPESTATUS[0]}
    result="$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')"
    summary+=("$tag: built in $built s; tests: ${result:-no result} (exit $rc)")
    [ "$rc" = 0 ] || failed=1
    rm -rf "$tree"
done

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
exit $failed
