"""qjs.Handle: a live reference to one JS value."""

import pytest

import qjs


@pytest.fixture
def obj(ctx):
    with ctx.eval_handle(
        """({
            a: 1,
            nested: {b: [1, 2]},
            add(x, y) { return x + y },
            who() { return this.a },
        })"""
    ) as h:
        yield h


def test_typeof(ctx):
    cases = {
        "({})": "object",
        "[]": "object",
        "null": "object",
        "(() => 0)": "function",
        "1": "number",
        "'s'": "string",
        "true": "boolean",
        "undefined": "undefined",
        "1n": "bigint",
        "Symbol()": "symbol",
    }
    for src, expected in cases.items():
        with ctx.eval_handle(src) as h:
            assert h.typeof == expected, src


def test_to_python(obj):
    d = obj.to_python()
    assert d["a"] == 1
    assert d["nested"] == {"b": [1, 2]}
    assert isinstance(d["add"], qjs.Handle)


def test_getitem_str_and_int(ctx, obj):
    assert obj["a"] == 1
    assert obj["nested"] == {"b": [1, 2]}
    assert obj["missing"] is None
    with ctx.eval_handle("[10, 20, 30]") as arr:
        assert arr[0] == 10
        assert arr[2] == 30
        assert arr["length"] == 3
        assert arr[5] is None


def test_setitem(ctx, obj):
    obj["c"] = [1, {"x": 2}]
    obj["a"] = "changed"
    assert obj.to_python()["c"] == [1, {"x": 2}]
    assert obj["a"] == "changed"
    with ctx.eval_handle("globalThis.arr = [0, 0]; arr") as arr:
        arr[1] = 5
        arr[3] = 7
        assert ctx.eval("arr") == [0, 5, None, 7]


def test_setitem_unsupported_value(obj):
    with pytest.raises(TypeError):
        obj["bad"] = object()
    assert "bad" not in obj


def test_delitem(ctx, obj):
    del obj["a"]
    assert "a" not in obj
    assert obj["a"] is None


def test_contains(obj):
    assert "a" in obj
    assert "add" in obj
    assert "nope" not in obj


def test_contains_int_key(ctx):
    with ctx.eval_handle("[5, 6]") as arr:
        assert 0 in arr
        assert 1 in arr
        assert 2 not in arr


def test_keys_own_enumerable(ctx):
    with ctx.eval_handle(
        """
        const o = Object.create({inherited: 1});
        o.x = 1; o.y = 2;
        Object.defineProperty(o, 'hidden', {value: 3, enumerable: false});
        o[Symbol('s')] = 4;
        o
        """
    ) as h:
        keys = h.keys()
    assert isinstance(keys, list)
    assert keys == ["x", "y"]


def test_keys_of_array_are_str(ctx):
    with ctx.eval_handle("['a', 'b']") as h:
        assert h.keys() == ["0", "1"]


def test_globals_keys(ctx):
    ctx.globals["zz_user_value"] = 1
    keys = ctx.globals.keys()
    assert "zz_user_value" in keys
    assert "Math" not in keys  # builtins are not enumerable


def test_call(ctx):
    with ctx.eval_handle("(function (a, b) { 'use strict'; return [a, b, this === undefined] })") as f:
        assert f(1, "x") == [1, "x", True]
        assert f() == [None, None, True]


def test_call_with_this_handle(ctx):
    with ctx.eval_handle("({a: 41})") as target, ctx.eval_handle(
        "(function (d) { return this.a + d })"
    ) as f:
        assert f.call(1, this=target) == 42


def test_call_with_this_python_value(ctx):
    with ctx.eval_handle("(function () { return this.a * 2 })") as f:
        assert f.call(this={"a": 21}) == 42


def test_call_method(obj):
    assert obj.call_method("add", 40, 2) == 42
    assert obj.call_method("who") == 1


def test_call_method_missing_raises_js_type_error(obj):
    with pytest.raises(qjs.JSError) as ei:
        obj.call_method("doesNotExist")
    assert ei.value.name == "TypeError"


def test_call_non_function_raises(ctx):
    with ctx.eval_handle("({})") as h:
        with pytest.raises(qjs.JSError) as ei:
            h()
        assert ei.value.name == "TypeError"


def test_call_handle_and_get_handle(ctx, obj):
    with obj.get_handle("nested") as nested:
        assert isinstance(nested, qjs.Handle)
        assert nested.typeof == "object"
        with nested.get_handle("b") as b:
            assert b.to_python() == [1, 2]
    with ctx.eval_handle("(() => ({made: [1]}))") as f:
        with f.call_handle() as r:
            assert isinstance(r, qjs.Handle)
            assert r["made"] == [1]


def test_handle_arguments_and_results_are_the_same_js_value(ctx):
    with ctx.eval_handle("globalThis.ident = {}; ident") as ident, ctx.eval_handle(
        "(x) => x === ident"
    ) as is_ident:
        assert is_ident(ident) is True
        assert is_ident({}) is False


def test_call_exception_becomes_jserror(ctx):
    with ctx.eval_handle("(() => { throw new RangeError('nope') })") as f:
        with pytest.raises(qjs.JSError) as ei:
            f()
    assert ei.value.name == "RangeError"
    assert ei.value.message == "nope"


def test_dispose(ctx):
    h = ctx.eval_handle("({a: 1})")
    assert h.alive is True
    h.dispose()
    assert h.alive is False
    h.dispose()  # second dispose is a no-op
    assert h.alive is False


@pytest.mark.parametrize(
    "use",
    [
        lambda h: h.typeof,
        lambda h: h.to_python(),
        lambda h: h["a"],
        lambda h: h.__setitem__("a", 2),
        lambda h: h.__delitem__("a"),
        lambda h: "a" in h,
        lambda h: h.keys(),
        lambda h: h(),
        lambda h: h.call(this=None),
        lambda h: h.call_method("f"),
        lambda h: h.call_handle(),
        lambda h: h.get_handle("a"),
    ],
)
def test_disposed_handle_raises_closed_error(ctx, use):
    h = ctx.eval_handle("(function f() { return 1 })")
    h.dispose()
    with pytest.raises(qjs.ClosedError):
        use(h)
    assert ctx.eval("1 + 1") == 2


def test_disposed_handle_cannot_be_passed_to_js(ctx):
    h = ctx.eval_handle("({})")
    h.dispose()
    with pytest.raises(qjs.ClosedError):
        ctx.globals["x"] = h


def test_with_disposes(ctx):
    with ctx.eval_handle("[1, 2]") as h:
        assert h.alive
        assert h.to_python() == [1, 2]
    assert not h.alive
    with pytest.raises(qjs.ClosedError):
        h.to_python()


def test_with_returns_the_handle(ctx):
    h = ctx.eval_handle("({})")
    with h as same:
        assert same is h


def test_handle_of_other_runtime_is_value_error():
    with qjs.Context() as a, qjs.Context() as b:
        with a.eval_handle("({x: 1})") as foreign:
            with pytest.raises(ValueError):
                b.globals["foreign"] = foreign
            with pytest.raises(ValueError):
                b.eval_handle("(x) => x")(foreign)
            assert b.eval("typeof foreign") == "undefined"


def test_handle_usable_from_other_context_of_same_runtime(rt):
    c1 = rt.new_context()
    c2 = rt.new_context()
    with c1.eval_handle("({v: 3})") as h:
        c2.globals["h"] = h
        assert c2.eval("h.v") == 3


def test_generator_handle_is_handle(ctx):
    with ctx.eval_handle("(function* () { yield 1; yield 2; return 3 })()") as g:
        assert g.typeof == "object"
        assert g.call_method("next") == {"value": 1, "done": False}
