#!/usr/bin/env bash
# Out-of-memory sweep: build qjs with AddressSanitizer + UndefinedBehaviorSanitizer
# (ci/asan-env.sh: the copy, the venv and the QJS_SAN_* variables), then run
# ci/oom_sweep.py under it: a small set of programs, each under every memory limit of
# a range, each limit in a fresh Runtime. Every case must succeed or fail with a clean
# qjs exception; a crash, a sanitizer report, an assertion, a wrong exception type
# fails the sweep.
#
#   ci/oom-sweep.sh                      # the full sweep (64 KiB .. 2 MiB)
#   ci/oom-sweep.sh --quick              # a few hundred limits
#   ci/oom-sweep.sh --lo 90000 --hi 120000 --step 64   # extra arguments go to oom_sweep.py
set -euo pipefail
# shellcheck source=ci/asan-env.sh
. "$(dirname "$0")/asan-env.sh"

cd /tmp   # import qjs from the sanitizer build, not from a source checkout
exec "$venv/bin/python" "$tree/ci/oom_sweep.py" "$@"
