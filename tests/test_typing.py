"""The typed surface: qjs ships its stubs (``_engine.pyi``, ``py.typed``), ``mypy --strict``
accepts typical use (tests/typing/check_api.py), rejects misuse, and stubtest finds the
stubs in line with the compiled module."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import qjs

pytest.importorskip("mypy", reason="mypy is not installed (it is in the 'test' extra)")

TYPING = Path(__file__).resolve().parent / "typing"
PACKAGE = Path(qjs.__file__).resolve().parent


def mypy(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run mypy from an empty directory (so no config or source tree is picked up):
    it sees qjs as installed, which needs the py.typed marker."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--config-file",
            os.devnull,
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )


def test_stubs_ship_with_the_package():
    assert (PACKAGE / "py.typed").is_file()
    assert (PACKAGE / "_engine.pyi").is_file()


def test_check_api_runs():
    """The typed example is real code: it runs against the extension."""
    subprocess.run(
        [sys.executable, str(TYPING / "check_api.py")], check=True, timeout=120, cwd=TYPING
    )


def test_mypy_strict_accepts_typical_use(tmp_path):
    r = mypy(tmp_path, "--strict", str(TYPING / "check_api.py"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_rejects_misuse(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        textwrap.dedent("""
        import qjs
        ctx = qjs.Context(memory_limit="64M")
        ctx.eval(b"1 + 1")
        h = ctx.eval_handle("1")
        h.resume(mode="nxt")
        rt: qjs.Runtime = ctx
        n: str = qjs.live_objects()
    """)
    )
    r = mypy(tmp_path, "--strict", str(bad))
    assert r.returncode == 1
    for line in (3, 4, 6, 7, 8):
        assert f"bad.py:{line}: error" in r.stdout, r.stdout


def test_stubtest(tmp_path):
    """The stub and the compiled module agree (names, signatures, kinds)."""
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "qjs._engine",
            "--allowlist",
            str(TYPING / "stubtest-allowlist.txt"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
