"""examples/ray_batch.py on a local Ray instance: a compiled Script shipped pickled,
inputs as snapshots, actors holding SandboxPools (or Contexts); failures counted by type."""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import child_env

EXAMPLE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "ray_batch.py"
)

_ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'qjs[ray]')")
if not hasattr(_ray, "init"):
    # a folder named ray on the path (Ray's own /tmp/ray, when run from /tmp) imports
    # as an empty namespace package
    pytest.skip("ray is not installed (pip install 'qjs[ray]')", allow_module_level=True)


def expected_outcomes(n: int) -> dict[str, int]:
    spec = importlib.util.spec_from_file_location("ray_batch", EXAMPLE)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    kinds = collections.Counter(item["kind"] for item in mod.make_items(n))
    names = {"ok": "ok", "bad": "JSError", "loop": "JSTimeoutError", "memory": "JSMemoryError"}
    return {names[k]: v for k, v in kinds.items()}


@pytest.mark.parametrize("mode", ["pool"])
def test_ray_batch(mode):
    n = 320
    proc = subprocess.run(
        [
            sys.executable,
            EXAMPLE,
            "--items",
            str(n),
            "--actors",
            "2",
            "--pool-size",
            "1",
            "--chunk",
            "80",
            "--num-cpus",
            "2",
            "--timeout",
            "2.0",
            "--mode",
            mode,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["items"] == n and summary["runs_per_s"] > 0
    assert summary["outcomes"] == expected_outcomes(n), proc.stdout
    assert summary["unexpected"] == 0
    assert "runs/s" in proc.stdout
