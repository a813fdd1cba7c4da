#!/usr/bin/env bash
# Build qjs with AddressSanitizer + UndefinedBehaviorSanitizer (ci/asan-env.sh: the
# copy, the venv and the QJS_SAN_* variables), then run the whole test suite under it.
#
#   ci/sanitize.sh                   # build from HEAD and run the tests
#   ci/sanitize.sh -k hostile        # extra arguments go to pytest
#
# Environment, besides ci/asan-env.sh's:
#   QJS_SAN_LEAKS=1  also run LeakSanitizer, with CPython's own allocations suppressed
set -euo pipefail
# shellcheck source=ci/asan-env.sh
. "$(dirname "$0")/asan-env.sh"

if [ "${QJS_SAN_LEAKS:-0}" = 1 ]; then
  supp=$(mktemp)
  # CPython keeps interned objects, type caches and arenas until exit by design
  printf 'leak:libpython3\nleak:_PyObject_\nleak:PyObject_Malloc\nleak:_PyMem_\nleak:_PyUnicode\nleak:_PyRuntime\n' > "$supp"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
  export LSAN_OPTIONS=suppressions=$supp:print_suppressions=0
fi

cd /tmp   # import qjs from the sanitizer build, not from a source checkout
"$venv/bin/python" -c 'import qjs, sys; print("qjs from", qjs.__file__, file=sys.stderr)'
exec "$venv/bin/python" -m pytest "$tree/tests" -p no:cacheprovider -q "$@"
