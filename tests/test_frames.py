"""qjs.Frame, qjs.frames(), JSError.frames, ctx.stack_frames(), capture_locals."""

import asyncio
import gc
import re

import pytest

import qjs

NESTED = """\
function inner(a, b) {
  let x = a + 1;
  let y;
  const s = "str";
  throw new Error("boom " + x);
  let later = 5;
}
function outer(n) {
  const obj = {k: [1, 2]};
  return inner(n, obj);
}
outer(41);
"""


@pytest.fixture
def cctx():
    """A context that captures locals."""
    c = qjs.Context(capture_locals=True)
    try:
        yield c
    finally:
        c.close()


def _raise(ctx, code, exc_type=qjs.JSError, **kw):
    with pytest.raises(exc_type) as ei:
        ctx.eval(code, **kw)
    return ei.value


def _stack_positions(stack):
    return [(int(m.group(1)), int(m.group(2))) for m in re.finditer(r":(\d+):(\d+)\)", stack)]


def test_frames_innermost_first_with_positions_and_locals(cctx):
    err = _raise(cctx, NESTED, filename="agent.js")
    fr = err.frames
    assert [f.function for f in fr] == ["inner", "outer", ""]
    assert {f.filename for f in fr} == {"agent.js"}
    assert [f.line for f in fr] == [5, 10, 12]
    # the same positions as the engine's own stack trace
    assert [(f.line, f.column) for f in fr] == _stack_positions(err.stack)
    assert fr[0].locals == {"a": 41, "b": {"k": [1, 2]}, "x": 42, "y": None, "s": "str"}
    assert fr[1].locals == {"n": 41, "obj": {"k": [1, 2]}}
    assert fr[2].locals == {}
    assert qjs.frames(err) == fr


def test_temporal_dead_zone_variables_are_absent(cctx):
    err = _raise(cctx, "(function f() { let a = 1; if (a) throw new Error('e'); let b = 2; "
                       "const c = 3; })()")
    assert err.frames[0].locals == {"a": 1}


def test_capture_off_gives_frames_without_locals(ctx):
    err = _raise(ctx, NESTED, filename="agent.js")
    assert [f.function for f in err.frames] == ["inner", "outer", ""]
    assert [f.line for f in err.frames] == [5, 10, 12]
    assert all(f.locals is None for f in err.frames)


def test_new_context_capture_locals(rt):
    on = rt.new_context(capture_locals=True)
    off = rt.new_context()
    assert _raise(on, "(function f(v) { throw 1 })(5)").frames[0].locals == {"v": 5}
    assert _raise(off, "(function f(v) { throw 1 })(5)").frames[0].locals is None


def test_closure_variables_and_shadowing(cctx):
    code = """
    function make(a) {
      let captured = a * 2, shadowed = 'outer';
      return function use(z) {
        let shadowed = 'inner';
        throw new Error(String(captured + z + shadowed));
      };
    }
    make(4)(1);
    """
    err = _raise(cctx, code)
    assert err.frames[0].function == "use"
    assert err.frames[0].locals == {"z": 1, "shadowed": "inner", "captured": 8}


def test_block_scoped_inner_variable_wins(cctx):
    err = _raise(cctx, "(function f() { let v = 'outer'; { let v = 'inner'; throw 0; } })()")
    assert err.frames[0].locals["v"] == "inner"


def test_engine_errors_point_at_the_failing_instruction(cctx):
    code = "function f(o) {\n  let k = 1;\n  return o.missing.deeper;\n}\nf({});\n"
    err = _raise(cctx, code, filename="t.js")
    assert err.name == "TypeError"
    assert [(f.function, f.line) for f in err.frames] == [("f", 3), ("", 5)]
    assert err.frames[0].locals == {"o": {}, "k": 1}


@pytest.mark.parametrize("thrown, expected", [("42", 42), ("'text'", "text"), ("null", None),
                                              ("{code: 7}", {"code": 7}),
                                              ("Object.freeze({code: 8})", {"code": 8})])
def test_thrown_non_error_values_carry_frames(cctx, thrown, expected):
    err = _raise(cctx, f"function thrower(q) {{\n  throw {thrown};\n}}\nthrower(3);\n")
    assert err.value == expected
    assert [(f.function, f.line) for f in err.frames] == [("thrower", 2), ("", 4)]
    assert err.frames[0].locals == {"q": 3}


def test_a_rethrow_keeps_the_first_frames(cctx):
    code = """
    function deep(d) { throw new RangeError('deep ' + d); }
    function mid() {
      try { deep(1); } catch (e) { let seen = true; throw e; }
    }
    mid();
    """
    err = _raise(cctx, code)
    assert [f.function for f in err.frames] == ["deep", "mid", ""]
    assert err.frames[0].locals == {"d": 1}


def test_frames_after_await_in_an_async_function(cctx):
    async def later(x):
        await asyncio.sleep(0.001)
        return x * 2

    cctx.globals["later"] = later
    code = """
    async function work(n) {
      let before = n;
      const got = await later(n);
      let after = got + 1;
      throw new TypeError('late ' + after);
    }
    await work(5);
    """

    async def main():
        with pytest.raises(qjs.JSError) as ei:
            await cctx.eval_async(code, filename="a.js")
        return ei.value

    err = asyncio.run(main())
    assert err.frames[0].function == "work"
    assert err.frames[0].line == 6
    assert err.frames[0].locals == {"n": 5, "before": 5, "got": 10, "after": 11}


def test_frames_in_a_generator_after_yields(cctx):
    gen = cctx.eval("""
    (function* counter(step) {
      let i = 0;
      while (true) {
        yield i;
        i += step;
        if (i > 3) throw new Error('stop at ' + i);
      }
    })(2)
    """, filename="g.js")
    with pytest.raises(qjs.JSError) as ei:
        for _ in range(10):
            next(gen)
    fr = ei.value.frames
    assert fr[0].function == "counter" and fr[0].line == 7
    assert fr[0].locals == {"step": 2, "i": 4}
    gen.dispose()


def test_host_exception_carries_the_js_frames_that_called_it(cctx):
    def host(v):
        raise ValueError(f"bad {v}")

    cctx.globals["host"] = host
    code = "function caller(z) {\n  let w = z + 1;\n  return host(w);\n}\ncaller(7);\n"
    with pytest.raises(ValueError) as ei:
        cctx.eval(code, filename="h.js")
    fr = qjs.frames(ei.value)
    assert [(f.function, f.line) for f in fr] == [("caller", 3), ("", 5)]
    assert fr[0].locals == {"z": 7, "w": 8}


def test_host_exception_through_nested_eval_has_the_whole_stack(cctx):
    def fail():
        raise KeyError("k")

    def nested():
        return cctx.eval("function innerMost() { return fail(); }\ninnerMost()", filename="n.js")

    cctx.globals["fail"] = fail
    cctx.globals["nested"] = nested
    with pytest.raises(KeyError) as ei:
        cctx.eval("function top() { return nested(); }\ntop()", filename="o.js")
    fr = qjs.frames(ei.value)
    assert [(f.function, f.filename) for f in fr] == [
        ("innerMost", "n.js"), ("", "n.js"), ("top", "o.js"), ("", "o.js")]


def test_stack_frames_inside_a_host_function(cctx):
    seen = []

    def probe(x):
        seen.append(cctx.stack_frames())
        return x

    cctx.globals["probe"] = probe
    assert cctx.eval("function a(p) {\n  let q = p * 3;\n  return probe(q);\n}\na(2)",
                     filename="p.js") == 6
    fr = seen[0]
    assert [(f.function, f.line) for f in fr] == [("a", 3), ("", 5)]
    assert fr[0].locals == {"p": 2, "q": 6}
    assert cctx.stack_frames() == []


def test_stack_frames_without_capture_have_no_locals(ctx):
    seen = []
    ctx.globals["probe"] = lambda: seen.append(ctx.stack_frames())
    ctx.eval("(function f(a) { probe() })(1)")
    assert [f.function for f in seen[0]] == ["f", ""]
    assert seen[0][0].locals is None


def test_locals_that_cannot_be_converted_are_handles(cctx):
    err = _raise(cctx, """
    (function f() {
      const fn = () => 1;
      const cyc = {}; cyc.self = cyc;
      const sym = Symbol('s');
      throw new Error('x');
    })()""")
    loc = err.frames[0].locals
    assert set(loc) == {"fn", "cyc", "sym"}
    assert all(isinstance(v, qjs.Handle) for v in loc.values())
    assert loc["fn"]() == 1


def test_errors_that_never_passed_through_js_have_no_frames(ctx):
    assert qjs.frames(ValueError("x")) == []
    assert qjs.JSError("m").frames == []
    with pytest.raises(TypeError):
        qjs.frames("not an exception")  # type: ignore[arg-type]
    # a syntax error is thrown by the compiler, before any frame runs
    assert _raise(ctx, "let = ;").frames == []


def test_frame_equality_and_repr():
    a = qjs.Frame("f", "x.js", 3, 5, {"v": 1})
    assert a == qjs.Frame("f", "x.js", 3, 5, {"v": 1})
    assert a != qjs.Frame("f", "x.js", 4, 5, {"v": 1})
    assert a != qjs.Frame("f", "x.js", 3, 5)
    assert repr(a) == "<Frame f at x.js:3:5 locals={'v': 1}>"
    assert repr(qjs.Frame("", "x.js", 1, 1)) == "<Frame <top> at x.js:1:1>"


def test_frames_are_bounded(cctx):
    err = _raise(cctx, "function r(n) { if (n === 0) throw new Error('bottom'); return r(n - 1); }"
                       "r(200)")
    assert len(err.frames) == 64
    assert err.frames[0].locals == {"n": 0}


def test_locals_after_close_are_empty_not_a_crash():
    ctx = qjs.Context(capture_locals=True)
    err = _raise(ctx, NESTED)
    fr = err.frames
    ctx.close()
    assert fr[0].function == "inner"
    assert fr[0].locals == {}


def test_locals_read_after_close_in_a_child_process(run_child):
    """Reading captured locals after the context (or runtime) closed must not touch freed memory."""
    r = run_child("""
        import gc, qjs
        for close_runtime in (False, True):
            rt = qjs.Runtime()
            ctx = rt.new_context(capture_locals=True)
            try:
                ctx.eval("(function f(a) { let big = 'x'.repeat(1000); throw {a} })({n: 1})")
            except qjs.JSError as e:
                err = e
            (rt if close_runtime else ctx).close()
            del ctx, rt
            gc.collect()
            print(err.frames[0].function, err.frames[0].locals, repr(err.frames[0]))
        print("ok")
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "ok"
    assert "f {}" in r.stdout


def test_captured_values_are_freed_with_the_error(cctx):
    rt = cctx.runtime
    cctx.eval("globalThis.fail = function (i) { let payload = 'p'.repeat(10000) + i; "
              "throw new Error('e' + i); }")

    def churn():
        for i in range(200):
            try:
                cctx.eval(f"fail({i})")
            except qjs.JSError as e:
                assert e.frames[0].locals["payload"].endswith(str(i))
        gc.collect()
        rt.gc()
        return rt.memory_usage()["malloc_size"]

    first = churn()
    for _ in range(3):
        last = churn()
    assert last - first < 256 << 10, (first, last)


def test_caught_throws_inside_js_leave_nothing_behind(cctx):
    rt = cctx.runtime
    code = ("for (let i = 0; i < 2000; i++) { try { let big = 'q'.repeat(5000) + i; throw big; }"
            " catch (e) {} }")
    cctx.eval(code)
    rt.gc()
    first = rt.memory_usage()["malloc_size"]
    cctx.eval(code)
    rt.gc()
    assert rt.memory_usage()["malloc_size"] - first < 64 << 10


def test_a_cycle_through_the_capture_is_collected(cctx):
    rt = cctx.runtime
    code = ("for (let i = 0; i < 500; i++) { const o = {pad: 'z'.repeat(4000) + i}; "
            "try { throw o; } catch (e) {} }")
    cctx.eval(code)
    rt.gc()
    first = rt.memory_usage()["malloc_size"]
    cctx.eval(code)
    rt.gc()
    assert rt.memory_usage()["malloc_size"] - first < 64 << 10


def test_jserror_frames_can_be_set():
    e = qjs.JSError("m")
    e.frames = [qjs.Frame("f", "a.js", 1, 2)]
    assert qjs.frames(e) == [qjs.Frame("f", "a.js", 1, 2)]
