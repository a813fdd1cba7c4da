#!/usr/bin/env bash
# Fuzz qjs with atheris on an ASan + UBSan build that has native coverage.
#
#   fuzz/run.sh                 # 1800 s, corpus in /tmp/qjs-fuzz-corpus
#   FUZZ_SECONDS=600 fuzz/run.sh
#   FUZZ_TARGET=fuzz_snapshot.py CORPUS=/tmp/qjs-snap-corpus fuzz/run.sh   # the snapshot decoder
#
# Why the extra steps:
# - gcc's libasan must be preloaded (the interpreter is not instrumented), and it
#   defines weak libFuzzer coverage callbacks that would shadow atheris's: the
#   fuzzer would see no coverage at all. fuzz/pyfuzz_launcher.c is a python
#   executable with libFuzzer linked in (its symbols come first), so atheris uses
#   it ("Using preloaded libfuzzer").
# - gcc cannot emit clang's inline-8bit-counters; the extension is built with
#   -fsanitize-coverage=trace-pc,trace-cmp and the launcher maps each edge's PC
#   onto counters it registers with libFuzzer. cov:/ft: then count native edges
#   of the engine and binding plus the Python lines atheris instruments.
# - libFuzzer stops at the first finding; the loop restarts it until the time is
#   up, keeping the corpus. Findings land in $ARTIFACTS.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tree=${QJS_FUZZ_TREE:-/tmp/qjs-fuzz}
venv=${QJS_SAN_VENV:-/tmp/asan-venv}
corpus=${CORPUS:-/tmp/qjs-fuzz-corpus}
artifacts=${ARTIFACTS:-/tmp/qjs-fuzz-artifacts}
seconds=${FUZZ_SECONDS:-1800}
target=${FUZZ_TARGET:-fuzz_eval.py}

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet cython 'setuptools>=77' atheris

if [ -e "$tree/.git" ]; then
  git -C "$tree" checkout --quiet --detach "$(git -C "$here" rev-parse HEAD)"
else
  rm -rf "$tree"; git -C "$here" worktree prune
  git -C "$here" worktree add --detach "$tree" HEAD
fi
rm -rf "$tree/build" "$tree"/src/qjs/_engine.*.so "$tree/src/qjs/_engine.c"
(cd "$tree" && QJS_SANITIZE=1 CC=gcc CFLAGS="-fsanitize-coverage=trace-pc,trace-cmp" \
   "$venv/bin/python" setup.py build_ext --inplace >/dev/null)

site=$("$venv/bin/python" -c 'import atheris, os; print(os.path.dirname(os.path.dirname(atheris.__file__)))')
work=$(mktemp -d)
objcopy --weaken-symbol=__sanitizer_cov_trace_pc "$site/libclang_rt.fuzzer_no_main.a" "$work/libfuzzer.a"
pyconf="$venv/bin/python3-config"; [ -x "$pyconf" ] || pyconf=python3-config
gcc -O1 "$here/fuzz/pyfuzz_launcher.c" -o "$venv/bin/python-fuzz" $($pyconf --includes) -rdynamic \
  -Wl,--whole-archive "$work/libfuzzer.a" -Wl,--no-whole-archive -lstdc++ -lpthread $($pyconf --ldflags --embed)
rm -rf "$work"

mkdir -p "$corpus" "$artifacts"
export LD_PRELOAD
LD_PRELOAD=$(gcc -print-file-name=libasan.so)
export ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=64:malloc_context_size=20
export UBSAN_OPTIONS=print_stacktrace=1:abort_on_error=1   # abort, so libFuzzer saves the input
export PYTHONPATH="$tree/src"
cd /tmp
start=$(date +%s); seg=0
while :; do
  left=$(( seconds - ($(date +%s) - start) ))
  [ "$left" -le 5 ] && break
  seg=$((seg + 1))
  echo "=== segment $seg, $left s left"
  "$venv/bin/python-fuzz" "$here/fuzz/$target" -max_total_time="$left" -timeout=30 -rss_limit_mb=6000 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" 2>&1 | grep --line-buffered -v Instrumenting || true
  echo "=== segment $seg ended"
done
