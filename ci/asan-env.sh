# Sourced by ci/sanitize.sh and ci/oom-sweep.sh: build qjs with AddressSanitizer +
# UndefinedBehaviorSanitizer (QJS_SANITIZE=1, see setup.py) in a separate copy and
# venv, and export what running under it needs. Sets $tree and $venv, then the
# caller changes to /tmp (to import qjs from the sanitizer build, not from a source
# checkout) and runs its command with "$venv/bin/python".
#
# Environment:
#   QJS_SAN_TREE   the copy to build (default /tmp/qjs-asan; a git worktree of HEAD)
#   QJS_SAN_VENV   its venv (default /tmp/asan-venv)
#   QJS_SAN_DIRTY=1  copy the working tree (uncommitted changes included) instead of HEAD
#   QJS_SAN_NOBUILD=1  reuse the build already in QJS_SAN_TREE
#
# gcc is used on purpose: its libasan is preloaded into the (uninstrumented) python,
# which ASan requires to come first in the process. UBSan aborts on the first report
# (-fno-sanitize-recover=undefined), so a report shows up as a failed test or child.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tree=${QJS_SAN_TREE:-/tmp/qjs-asan}
venv=${QJS_SAN_VENV:-/tmp/asan-venv}

if [ "${QJS_SAN_NOBUILD:-0}" != 1 ]; then
  if [ "${QJS_SAN_DIRTY:-0}" = 1 ]; then
    rm -rf "$tree" && mkdir -p "$tree"
    tar -C "$here" --exclude ./.git --exclude ./build --exclude '*.so' --exclude ./src/qjs/_engine.c \
      -cf - . | tar -C "$tree" -xf -
  elif [ -e "$tree/.git" ]; then
    git -C "$tree" checkout --quiet --detach "$(git -C "$here" rev-parse HEAD)"
  else
    rm -rf "$tree"
    git -C "$here" worktree prune
    git -C "$here" worktree add --detach "$tree" HEAD
  fi
  if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet cython 'setuptools>=77' pytest
  # a fresh build: the sanitizer flags must reach every object file
  rm -rf "$tree/build" "$tree"/src/qjs/_engine.*.so "$tree/src/qjs/_engine.c"
  QJS_SANITIZE=1 CC=gcc "$venv/bin/pip" install --quiet --no-build-isolation -e "$tree"
fi

export LD_PRELOAD
LD_PRELOAD=$(gcc -print-file-name=libasan.so)
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
