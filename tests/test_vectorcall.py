"""Handle.__call__ by vectorcall (PEP 590): the same results and errors as the tp_call path."""

import sys

import pytest

import qjs


def test_vectorcall_and_tp_call_give_the_same_results(ctx):
    """A handle call passes its arguments from a C array; Handle.__call__ still takes the tuple path."""
    f = ctx.eval_handle("(...a) => [a.length, ...a]")
    for args in [(), (1,), (1, "two", 3.5, None, True), tuple(range(9)), tuple(range(40))]:
        assert f(*args) == [len(args), *args]
        assert type(f).__call__(f, *args) == [len(args), *args]


def test_vectorcall_keyword_arguments_are_a_type_error(ctx):
    """Keyword arguments go to the tp_call path, which rejects them as before."""
    f = ctx.eval_handle("(a) => a")
    with pytest.raises(TypeError, match="keyword argument"):
        f(a=1)
    with pytest.raises(TypeError, match="keyword argument"):
        f(1, b=2)
    assert f(7) == 7


def test_vectorcall_errors_and_disposed_handles(ctx):
    """JS exceptions, unconvertible arguments and disposed handles raise as on the tuple path."""
    f = ctx.eval_handle("(x) => { if (x === 1) throw new TypeError('no ones'); return x }")
    with pytest.raises(qjs.JSError, match="no ones"):
        f(1)
    with pytest.raises(TypeError):
        f(object())
    assert f(2) == 2
    f.dispose()
    with pytest.raises(qjs.ClosedError):
        f(2)


def test_vectorcall_keeps_argument_references_balanced(ctx):
    """Converting arguments from the C array takes no reference it does not give back."""
    f = ctx.eval_handle("(a, b) => b")
    s = "a string that is not interned " * 3
    o = [1, 2, 3]
    before = (sys.getrefcount(s), sys.getrefcount(o))
    for _ in range(1000):
        assert f(s, 1) == 1
        assert f(o, 2) == 2
    assert (sys.getrefcount(s), sys.getrefcount(o)) == before


def test_vectorcall_survives_the_handle_disposed_while_it_runs(ctx):
    """The call holds its own reference to the function: a host function may dispose the handle."""
    holder = {}

    def drop():
        holder["f"].dispose()
        return 5

    ctx.globals["drop"] = drop
    holder["f"] = ctx.eval_handle("() => drop() + 1")
    assert holder["f"]() == 6
    assert not holder["f"].alive


def test_vectorcall_fast_argument_conversions_match_the_general_ones(ctx):
    """Exact ints in int32 range and floats skip the general conversion: same JS values."""
    import enum
    import math

    class Color(enum.IntEnum):
        RED = 1

    f = ctx.eval_handle("(x) => [typeof x, Object.is(x, -0), String(x)]")
    values = [0, 1, -1, 2**31 - 1, -2**31, 2**31, -2**31 - 1, 2**53, 2**53 + 1, -2**53 - 1,
              10**30, True, False, Color.RED, 0.0, -0.0, 1.5, 3.0, 1e300, math.inf, -math.inf,
              math.nan, 2.0**31]
    for v in values:
        assert f(v) == type(f).__call__(f, v), v
    assert f(2**31 - 1) == ["number", False, "2147483647"]
    assert f(2**53 + 1)[0] == "bigint"
    assert f(True)[0] == "boolean"
    assert f(-0.0) == ["number", True, "0"]
    ident = ctx.eval_handle("(x) => x")
    for v in [0, -2**31, 2**31 - 1, 2**31, 7.0, 0.5, -0.0]:
        r = ident(v)
        assert r == v and type(r) is type(type(ident).__call__(ident, v)), v
