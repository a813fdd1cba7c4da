"""Recent short sources keep their compiled code; evaluating them again must
behave exactly as parsing them again would."""

import pytest

import qjs


def test_repeated_eval_runs_again(ctx):
    ctx.eval("var counter = 0")
    assert [ctx.eval("++counter") for _ in range(5)] == [1, 2, 3, 4, 5]


def test_global_lexical_redeclaration_still_fails(ctx):
    ctx.eval("let once = 1")
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("let once = 1")
    assert ei.value.name == "SyntaxError"


def test_syntax_errors_are_reported_every_time(ctx):
    for _ in range(3):
        with pytest.raises(qjs.JSError) as ei:
            ctx.eval("this is not js")
        assert ei.value.name == "SyntaxError"


def test_filename_is_part_of_the_key(ctx):
    for name in ("a.js", "b.js", "a.js"):
        with pytest.raises(qjs.JSError) as ei:
            ctx.eval("null.x", filename=name)
        assert f"{name}:1" in ei.value.stack


def test_more_sources_than_slots(ctx):
    for round_ in range(2):
        assert [ctx.eval(f"{i} * 2") for i in range(100)] == [i * 2 for i in range(100)]


def test_long_sources_are_not_kept(ctx):
    src = "1 + " * 1000 + "1"
    assert ctx.eval(src) == 1001
    assert ctx.eval(src) == 1001


def test_each_context_its_own_realm(rt):
    a, b = rt.new_context(), rt.new_context()
    a.eval("globalThis.x = 'a'")
    b.eval("globalThis.x = 'b'")
    assert a.eval("x") == "a" and b.eval("x") == "b"
    assert a.eval("x") == "a"
    a.close()
    b.close()


def test_cached_code_is_dropped_under_memory_pressure():
    with qjs.Context(memory_limit=8 << 20, timeout=5) as ctx:
        for i in range(40):
            ctx.eval(f"'warm {i}'")
        with pytest.raises(qjs.JSMemoryError):
            ctx.eval("globalThis.keep = []; for (;;) keep.push({a: 1})")
        # the heap is full of `keep`; what the cache held may be all there is to free
        try:
            ctx.eval("1 + 1")
        except qjs.JSMemoryError:
            pytest.fail("the compiled-code cache kept memory an eval needed")
        ctx.eval("keep = null")
        assert ctx.eval("[1, 2].map(x => x + 1)") == [2, 3]
