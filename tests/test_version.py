"""The package identifies itself and the engine it vendors."""

from pathlib import Path

import pytest

import qjs

VENDOR_VERSION = Path(__file__).resolve().parent.parent / "vendor" / "quickjs-ng" / "VERSION"


def test_quickjs_version_is_pinned():
    assert qjs.QUICKJS_VERSION == "0.17.0"


@pytest.mark.skipif(not VENDOR_VERSION.exists(), reason="not running from a source tree")
def test_quickjs_version_matches_vendored_tree():
    assert qjs.QUICKJS_VERSION == VENDOR_VERSION.read_text().strip()


def test_package_version_is_a_str():
    assert isinstance(qjs.__version__, str)
    assert qjs.__version__
    assert qjs.__version__[0].isdigit()


def test_max_depth_is_documented_bound():
    assert qjs.MAX_DEPTH == 256


@pytest.mark.parametrize(
    "name",
    [
        "Runtime",
        "Context",
        "Handle",
        "Error",
        "JSError",
        "InterruptedError",
        "JSTimeoutError",
        "JSMemoryError",
        "JSStackOverflowError",
        "DeadlockError",
        "ClosedError",
        "live_objects",
        "MAX_DEPTH",
        "QUICKJS_VERSION",
    ],
)
def test_public_name_exported(name):
    assert hasattr(qjs, name)


def test_live_objects_shape():
    live = qjs.live_objects()
    assert isinstance(live, dict)
    assert set(live) >= {"runtimes", "contexts", "handles"}
    assert all(isinstance(live[k], int) and live[k] >= 0 for k in ("runtimes", "contexts", "handles"))


def test_live_objects_counts_runtime_context_handle():
    base = qjs.live_objects()
    rt = qjs.Runtime()
    assert qjs.live_objects()["runtimes"] == base["runtimes"] + 1
    ctx = rt.new_context()
    assert qjs.live_objects()["contexts"] == base["contexts"] + 1
    h = ctx.eval_handle("({})")
    assert qjs.live_objects()["handles"] >= base["handles"] + 1
    handles_with_h = qjs.live_objects()["handles"]
    h.dispose()
    assert qjs.live_objects()["handles"] == handles_with_h - 1
    rt.close()
    after = qjs.live_objects()
    assert after["runtimes"] == base["runtimes"]
    assert after["contexts"] == base["contexts"]
    assert after["handles"] == base["handles"]


def test_distribution_version_matches_package_version():
    """The version is single-sourced: the installed distribution's metadata (what
    pyproject's dynamic version read from qjs/_version.py at build time) agrees with
    qjs.__version__."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        dist_version = version("qjs")
    except PackageNotFoundError:
        pytest.skip("qjs is imported from a source tree that is not installed")
    assert dist_version == qjs.__version__
