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
