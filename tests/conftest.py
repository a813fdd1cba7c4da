"""Shared fixtures for the qjs core test suite.

Every test runs under ``_nothing_left_open``: after the test (and its fixtures)
finish, a full garbage collection must bring ``qjs.live_objects()`` back to the
counts seen before the test started.  A test that keeps a runtime, context or
handle alive past its end has leaked it.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import qjs

# A suite started in the background of a non-interactive shell inherits SIGINT as
# ignored, and every child process it starts would too (an ignored signal stays
# ignored across exec): the Ctrl-C tests need it delivered. A Python handler is
# reset to the default in the children instead.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _live() -> dict[str, int]:
    gc.collect()
    gc.collect()
    return dict(qjs.live_objects())


# the counts after the last full collection. Uncollected garbage only adds to the
# counts, so counts equal to a collected baseline need no collection to be trusted:
# most tests skip the two full collections (slow once ray or mypy is imported)
_clean: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _nothing_left_open():
    global _clean
    before = dict(qjs.live_objects())
    if before != _clean:
        before = _clean = _live()
    yield
    after = dict(qjs.live_objects())
    if after != before:
        after = _clean = _live()
    assert after == before, f"objects left open by the test: before={before} after={after}"


@pytest.fixture
def ctx():
    """A fresh context owning its own runtime, closed after the test."""
    c = qjs.Context()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def rt():
    """A fresh runtime, closed (with everything in it) after the test."""
    r = qjs.Runtime()
    try:
        yield r
    finally:
        r.close()


def child_env() -> dict[str, str]:
    """Environment for a child interpreter that imports the same qjs as we do."""
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(qjs.__file__)))
    parts = [pkg_parent]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    return env


@pytest.fixture
def run_child():
    """Run Python source in a child interpreter (for crash-class cases).

    Returns the CompletedProcess; a segfault or abort shows up as a non-zero
    (negative on POSIX) return code instead of killing the test run.
    """

    def run(source: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(source)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=child_env(),
        )

    return run


@pytest.fixture
def run_cli(tmp_path):
    """Run ``python -m qjs ARGS...`` and return the CompletedProcess."""

    def run(*args: str, stdin: str | None = None, timeout: float = 30.0):
        return subprocess.run(
            [sys.executable, "-m", "qjs", *args],
            capture_output=True,
            text=True,
            input=stdin if stdin is not None else "",
            timeout=timeout,
            env=child_env(),
            cwd=str(tmp_path),
        )

    return run
