#!/usr/bin/env bash
# Out-of-memory sweep: build qjs with AddressSanitizer + UndefinedBehaviorSanitizer
# (as ci/sanitize.sh does), then run ci/oom_sweep.py under it:
# a small set of programs, each under every memory limit of a range, each limit
# in a fresh Runtime. Every case must succeed or fail with a clean qjs exception;
# a crash, a sanitizer report, an assertion, a wrong exception type fails the sweep.
#
#   ci/oom-sweep.sh                      # the full sweep (64 KiB .. 2 MiB)
#   ci/oom-sweep.sh --quick              # a few hundred limits
#   ci/oom-sweep.sh --lo 90000 --hi 120000 --step 64   # extra arguments go to oom_sweep.py
#
# Environment:
#   QJS_SAN_TREE   the copy to build (default /tmp/qjs-asan; a git worktree of HEAD)
#   QJS_SAN_VENV   its venv (default /tmp/asan-venv)
#   QJS_SAN_DIRTY=1  copy the working tree (uncommitted changes included) instead of HEAD
#   QJS_SAN_NOBUILD=1  reuse the build already in QJS_SAN_TREE
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tree=${QJS_SAN_TREE:-/tmp/qjs-asan}
venv=${QJS_SAN_VENV:-/tmp/asan-venv}
python=${PYTHON:-python3}

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
    "$python" -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet cython 'setuptools>=77' pytest
  rm -rf "$tree/build" "$tree"/src/qjs/_engine.*.so "$tree/src/qjs/_engine.c"
  QJS_SANITIZE=1 CC=gcc "$venv/bin/pip" install --quiet --no-build-isolation -e "$tree"
fi

export LD_PRELOAD
LD_PRELOAD=$(gcc -print-file-name=libasan.so)
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
cd /tmp   # import qjs from the sanitizer build, not from a source checkout
exec "$venv/bin/python" "$tree/ci/oom_sweep.py" "$@"
