#!/usr/bin/env bash
# Build qjs with AddressSanitizer + UndefinedBehaviorSanitizer (QJS_SANITIZE=1, see
# setup.py) in a separate copy and venv, then run the whole test suite under it.
#
#   ci/sanitize.sh                   # build from HEAD and run the tests
#   ci/sanitize.sh -k hostile        # extra arguments go to pytest
#
# Environment:
#   QJS_SAN_TREE   the copy to build (default /tmp/qjs-asan; a git worktree of HEAD)
#   QJS_SAN_VENV   its venv (default /tmp/asan-venv)
#   QJS_SAN_DIRTY=1  copy the working tree (uncommitted changes included) instead of HEAD
#   QJS_SAN_LEAKS=1  also run LeakSanitizer, with CPython's own allocations suppressed
#
# gcc is used on purpose: its libasan is preloaded into the (uninstrumented) python,
# which ASan requires to come first in the process. UBSan aborts on the first report
# (-fno-sanitize-recover=undefined), so a report shows up as a failed test or child.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tree=${QJS_SAN_TREE:-/tmp/qjs-asan}
venv=${QJS_SAN_VENV:-/tmp/asan-venv}
python=${PYTHON:-python3}

if [ "${QJS_SAN_DIRTY:-0}" = 1 ]; then
  mkdir -p "$tree"
  rsync -a --delete --exclude .git --exclude build --exclude '*.so' --exclude 'src/qjs/_engine.c' \
    "$here/" "$tree/"
elif [ -e "$tree/.git" ]; then
  git -C "$tree" checkout --quiet --detach "$(git -C "$here" rev-parse HEAD)"
else
  rm -rf "$tree"
  git -C "$here" worktree prune
  git -C "$here" worktree add --detach "$tree" HEAD
fi

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet cython 'setuptools>=77' pytest
# a fresh build: the sanitizer flags must reach every object file
rm -rf "$tree/build" "$tree"/src/qjs/_engine.*.so "$tree/src/qjs/_engine.c"
QJS_SANITIZE=1 CC=gcc "$venv/bin/pip" install --quiet --no-build-isolation -e "$tree"

export LD_PRELOAD
LD_PRELOAD=$(gcc -print-file-name=libasan.so)
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ "${QJS_SAN_LEAKS:-0}" = 1 ]; then
  supp=$(mktemp)
  # CPython keeps interned objects, type caches and arenas until exit by design
  printf 'leak:libpython3\nleak:_PyObject_\nleak:PyObject_Malloc\nleak:_PyMem_\nleak:_PyUnicode\nleak:_PyRuntime\n' > "$supp"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
  export LSAN_OPTIONS=suppressions=$supp:print_suppressions=0
else
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
fi

cd /tmp   # import qjs from the sanitizer build, not from a source checkout
"$venv/bin/python" -c 'import qjs, sys; print("qjs from", qjs.__file__, file=sys.stderr)'
exec "$venv/bin/python" -m pytest "$tree/tests" -p no:cacheprovider -q "$@"
