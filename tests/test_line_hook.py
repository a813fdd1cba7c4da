"""Runtime.set_line_hook: statement lines as JS runs them."""

import asyncio

import pytest

import qjs

LOOP = """\
let s = 0;
for (let i = 0; i < 2; i++) {
  s += i;
  s *= 1;
}
function add(a,
             b) {
  return a +
    b;
}
add(1,
    2) + s;
"""


@pytest.fixture
def lines(ctx):
    seen = []
    ctx.runtime.set_line_hook(lambda filename, line: seen.append((filename, line)))
    yield seen
    ctx.runtime.set_line_hook(None)


def test_reports_each_new_statement_line(ctx, lines):
    assert ctx.eval(LOOP, filename="x.js") == 4
    assert lines == [("x.js", n) for n in (1, 2, 3, 4, 2, 3, 4, 11, 8)]


def test_a_frame_reports_a_line_once_until_it_moves(ctx, lines):
    ctx.eval("let a = 1; let b = 2;\nlet c = a + b; for (let i = 0; i < 5; i++) c++;\n"
             "function f() { return 1; }\nf(); f(); f();", filename="y.js")
    # line 3 is f's body, reported by each of f's three frames; f's frames are new each call
    assert lines == [("y.js", 1), ("y.js", 2), ("y.js", 4), ("y.js", 3), ("y.js", 3),
                     ("y.js", 3)]


def test_no_hook_no_reports_and_removal(ctx):
    seen = []
    ctx.eval("globalThis.before = function () {\n  return 1;\n}")
    ctx.runtime.set_line_hook(lambda f, n: seen.append(n))
    ctx.eval("globalThis.after = function () {\n  return 2;\n}\n")
    seen.clear()
    assert ctx.eval("before()") == 1   # compiled with no hook: its body is silent
    assert seen == [1]
    seen.clear()
    assert ctx.eval("after()") == 2
    assert seen == [1, 2]
    ctx.runtime.set_line_hook(None)
    seen.clear()
    assert ctx.eval("after() + before()") == 3
    assert seen == []


def test_the_same_source_is_recompiled_when_the_hook_changes(ctx):
    seen = []
    assert ctx.eval("1 +\n 1") == 2          # cached compiled code without the hook
    ctx.runtime.set_line_hook(lambda f, n: seen.append(n))
    assert ctx.eval("1 +\n 1") == 2
    assert seen == [1]
    ctx.runtime.set_line_hook(None)
    seen.clear()
    assert ctx.eval("1 +\n 1") == 2
    assert seen == []


class Stop(Exception):
    pass


def test_an_exception_from_the_hook_aborts_and_is_reraised_unchanged(ctx):
    err = Stop("enough")

    def hook(filename, line):
        if line == 3:
            raise err

    ctx.runtime.set_line_hook(hook)
    try:
        with pytest.raises(Stop) as ei:
            ctx.eval("var log = [];\ntry {\n  log.push(3);\n} catch (e) { log.push('caught'); }\n"
                     "finally { log.push('finally'); }\nlog.push(6);")
        assert ei.value is err
    finally:
        ctx.runtime.set_line_hook(None)
    # the JS could not catch it and did not go on; the context is still usable
    assert ctx.eval("log") == []
    assert ctx.eval("1 + 1") == 2


def test_hook_sees_nested_eval_and_host_calls(ctx, lines):
    ctx.globals["inner"] = lambda: ctx.eval("let q = 1;\nq + 1", filename="inner.js")
    assert ctx.eval("let r = 0;\nr = inner();\nr", filename="outer.js") == 2
    assert lines == [("outer.js", 1), ("outer.js", 2), ("inner.js", 1), ("inner.js", 2),
                     ("outer.js", 3)]


def test_hook_with_modules(ctx, lines):
    sources = {"lib": "export function twice(x) {\n  return x * 2;\n}\n"}
    ctx.runtime.set_module_loader(sources.get)
    ctx.eval("import {twice} from 'lib';\nglobalThis.out = twice(21);\n", module=True,
             filename="main.mjs")
    assert ctx.eval("out") == 42
    assert ("main.mjs", 2) in lines and ("lib", 2) in lines
    assert lines.index(("main.mjs", 2)) < lines.index(("lib", 2))


def test_hook_in_async_code_after_await(ctx, lines):
    async def tick():
        await asyncio.sleep(0.001)
        return 1

    ctx.globals["tick"] = tick

    async def main():
        return await ctx.eval_async("let t = 0;\nt += await tick();\nt += await tick();\nt",
                                    filename="a.js")

    assert asyncio.run(main()) == 2
    assert [n for f, n in lines if f == "a.js"] == [1, 2, 3, 4]


def test_generator_frames_keep_their_last_line(ctx, lines):
    gen = ctx.eval("(function* () {\n  for (let i = 0; i < 3; i++)\n    yield i;\n})()",
                   filename="g.js")
    lines.clear()
    assert list(gen) == [0, 1, 2]
    assert lines == [("g.js", 2), ("g.js", 3)]
    gen.dispose()


def test_hook_may_remove_itself(ctx):
    seen = []

    def hook(f, n):
        seen.append(n)
        if n == 2:
            ctx.runtime.set_line_hook(None)

    ctx.runtime.set_line_hook(hook)
    assert ctx.eval("let a = 1;\na++;\na++;\na") == 3
    assert seen == [1, 2]


def test_bad_hook_is_a_type_error(rt):
    with pytest.raises(TypeError):
        rt.set_line_hook(42)


def test_hook_does_not_see_frames_locals(ctx):
    """The hidden last-line variable must not appear among captured locals."""
    c = qjs.Context(ctx.runtime, capture_locals=True)
    seen = []
    ctx.runtime.set_line_hook(lambda f, n: seen.append(n))
    try:
        with pytest.raises(qjs.JSError) as ei:
            c.eval("function f(a) {\n  let b = 2;\n  throw a + b;\n}\nf(1)")
        assert ei.value.frames[0].locals == {"a": 1, "b": 2}
        assert seen == [5, 2, 3]  # a function declaration runs nothing: no report
    finally:
        ctx.runtime.set_line_hook(None)
        c.close()


def test_scripts_compiled_with_the_hook_report_lines(ctx, lines):
    script = ctx.compile("let z = 1;\nz + 1", filename="s.js")
    lines.clear()
    assert script.run(ctx) == 2
    assert lines == [("s.js", 1), ("s.js", 2)]
