"""The public classes present themselves as what users import (qjs.X)."""

import pickle

import pytest

import qjs


@pytest.mark.parametrize("name", ["Runtime", "Context", "Handle", "Script", "Error", "JSError",
                                  "JSTimeoutError", "ClosedError", "UnhandledRejectionWarning"])
def test_module_is_qjs(name):
    cls = getattr(qjs, name)
    assert cls.__module__ == "qjs"
    assert repr(cls) == f"<class 'qjs.{name}'>"


def test_reprs_and_messages(ctx):
    assert repr(ctx) == "<qjs.Context open>"
    with pytest.raises(TypeError) as ei:
        qjs.Context(runtime=42)
    assert "qjs.Runtime" in str(ei.value)


def test_errors_still_pickle(ctx):
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("throw new RangeError('far')")
    back = pickle.loads(pickle.dumps(ei.value))
    assert type(back) is qjs.JSError and back.name == "RangeError" and back.message == "far"
    t = pickle.loads(pickle.dumps(qjs.JSTimeoutError("slow")))
    assert isinstance(t, qjs.JSTimeoutError) and isinstance(t, TimeoutError)


def test_scripts_still_pickle(ctx):
    script = ctx.compile("6 * 7")
    assert pickle.loads(pickle.dumps(script)).run(ctx) == 42
