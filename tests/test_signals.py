"""Ctrl-C while JS runs: Python's signal handlers run and abort the JS."""

import signal
import subprocess
import sys
import time

import pytest

from conftest import child_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# The child installs Python's own SIGINT handler: started from a background job of a
# non-interactive shell (a CI script's `cmd &`), it inherits SIGINT ignored, and Python
# then leaves it ignored.
CHILD = """
import signal, sys, qjs
signal.signal(signal.SIGINT, signal.default_int_handler)
ctx = qjs.Context()
print("ready", flush=True)
try:
    ctx.eval("for (;;) {}")
except KeyboardInterrupt:
    print("interrupted", ctx.eval("1 + 1"), flush=True)
    sys.exit(0)
print("not interrupted", flush=True)
sys.exit(1)
"""


def test_sigint_aborts_an_infinite_loop_without_timeout():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert out.strip() == "interrupted 2"
