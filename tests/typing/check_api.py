"""The public API used the way applications use it. ``mypy --strict`` must accept this
file (tests/test_typing.py checks that), and it runs as a plain script too."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

import qjs

if TYPE_CHECKING:
    from typing_extensions import assert_type
else:

    def assert_type(value, _type):
        return value


def limits_and_errors() -> None:
    rt = qjs.Runtime(memory_limit=32 << 20, stack_limit=1 << 20, timeout=2.0)
    assert_type(rt.memory_limit, "int | None")
    assert_type(rt.stack_limit, "int | None")
    assert_type(rt.timeout, "float | None")
    rt.timeout = None
    rt.memory_limit = 64 << 20
    ctx = rt.new_context(timeout=1.0, console=False)
    assert_type(ctx, qjs.Context)
    assert ctx.runtime is rt
    try:
        ctx.eval("while (true) {}", timeout=0.05)
    except qjs.JSTimeoutError as exc:
        assert_type(exc.stack, str)
    try:
        ctx.eval("null.x", filename="agent.js")
    except qjs.JSError as exc:
        name: str = exc.name
        message: str = exc.message
        value: Any = exc.value
        assert name == "TypeError" and message and value is not None
    usage: dict[str, int] = rt.memory_usage()
    assert usage["malloc_size"] > 0

    calls = 0

    def handler() -> bool:
        nonlocal calls
        calls += 1
        return calls > 3

    rt.set_interrupt_handler(handler)
    try:
        ctx.eval("for (;;) {}")
    except qjs.InterruptedError:
        pass
    rt.set_interrupt_handler(None)
    rt.gc()
    assert rt.run_jobs() == 0 and not rt.has_pending_jobs
    rt.close()
    assert rt.closed and ctx.closed


def values_and_handles() -> None:
    logged: list[tuple[str, tuple[object, ...]]] = []

    def console(level: str, *args: object) -> None:
        logged.append((level, args))

    with qjs.Context(memory_limit=64 << 20, console=console) as ctx:
        total: int = ctx.eval("1 + 2")
        assert total == 3
        ctx.eval("console.log('hi', 1)")
        assert logged == [("log", ("hi", 1))]

        ctx.globals["hostAdd"] = lambda a, b: a + b

        @ctx.function
        def greet(name: str) -> str:
            return f"hello, {name}"

        @ctx.function(name="twice")
        def double(x: int) -> int:
            return 2 * x

        # the decorator hands back the function itself, with its signature
        assert_type(greet("py"), str)
        assert_type(double(2), int)
        assert ctx.eval("greet('js') + twice(2)") == "hello, js4"

        with ctx.eval_handle("({a: 1, f(x) { return x + this.a }})") as obj:
            assert_type(obj, qjs.Handle)
            assert obj.typeof == "object" and obj.alive
            assert "a" in obj and obj.keys() == ["a", "f"]
            obj["b"] = [1, 2, {"c": None}]
            assert obj["b"] == [1, 2, {"c": None}]
            del obj["b"]
            assert obj.call_method("f", 41) == 42
            f = obj.get_handle("f")
            assert f.call(1, this=obj) == 2
            assert f.call_handle(1, this={"a": 2}).to_python() == 3
            f.dispose()
            assert obj.context is ctx
        assert not obj.alive

        add = ctx.eval_handle("(a, b) => a + b")
        assert add(5, 3) == 8

        gen = ctx.eval_handle("(function* () { const r = yield 1; return r * 2 })()")
        done, value = gen.resume()
        assert_type(done, bool)
        assert (done, value) == (False, 1)
        assert gen.resume(21, mode="next") == (True, 42)

        gen2 = ctx.eval_handle("(function* () { try { yield 1; yield 2 } finally { } })()")
        assert next(gen2) == 1
        assert gen2.send(None) == 2
        gen2.close()
        squares = [x for x in ctx.eval_handle("[1, 2, 3].map(x => x * x)")]
        assert squares == [1, 4, 9]
        gen3 = ctx.eval_handle("(function* () { try { yield 1 } catch (e) { yield e.name } })()")
        next(gen3)
        assert gen3.throw(ValueError("bad")) == "ValueError"
        gen4 = ctx.eval_handle("(function* () { try { yield 1 } catch (e) { yield e.message } })()")
        next(gen4)
        assert gen4.throw(KeyError, "k") == "'k'"
        gen5 = ctx.eval_handle("(function* () { yield 1; yield 2; yield 3 })()")
        assert gen5.resume(timeout=1.0) == (False, 1)
        assert gen5.send(None, timeout=None) == 2
        gen5.close(timeout=1.0)


def modules_and_scripts() -> None:
    sources = {"lib/util.js": "export const twice = x => 2 * x"}
    with qjs.Runtime() as rt:
        rt.set_module_loader(sources.get)
        rt.set_module_loader(lambda name: sources.get(name), lambda base, name: name)
        rt.set_module_loader(None)
        rt.set_module_loader(sources.get)
        ctx = rt.new_context()
        ctx.add_module("config", "export default 3")
        ns = ctx.eval(
            "import n from 'config'; import {twice} from 'lib/util.js'; export const r = twice(n)",
            module=True,
        )
        assert ns == {"r": 6}

        script = ctx.compile("40 + 2", filename="answer.js")
        assert_type(script, qjs.Script)
        assert (
            script.run(ctx, timeout=1.0) == 42
            and not script.module
            and script.filename == "answer.js"
        )
        cached: bytes = script.to_bytes()
        assert qjs.Script.from_bytes(rt, cached).run(ctx) == 42
        assert qjs.Script.from_bytes(None, bytearray(cached)).run(ctx) == 42

        snapshot: bytes = ctx.dumps({"a": [1, 2]})
        restored = ctx.loads(snapshot)
        assert_type(restored, qjs.Handle)
        assert restored.to_python() == {"a": [1, 2]}


async def asynchronous() -> None:
    ctx = qjs.Context(timeout=5.0)

    @ctx.function
    async def fetch(city: str) -> dict[str, object]:
        await asyncio.sleep(0)
        return {"city": city, "temp": 21}

    report = await ctx.eval_async("const w = await fetch('Paris'); `${w.city}: ${w.temp}`")
    assert report == "Paris: 21"
    promise = ctx.eval_handle("Promise.resolve(7)")
    assert await promise == 7

    agen = ctx.eval_handle("(async function* () { yield 10; yield 20; return 30 })()")
    step: tuple[bool, Any] = await agen.resume_async()
    assert step == (False, 10)
    assert [x async for x in agen] == [20]

    agen2 = ctx.eval_handle("(async function* () { const x = yield 1; yield x })()")
    assert await agen2.__anext__() == 1
    assert await agen2.asend(5) == 5
    await agen2.aclose()
    agen3 = ctx.eval_handle("(async function* () { try { yield 1 } catch (e) { yield 2 } })()")
    assert await agen3.__anext__() == 1
    assert await agen3.athrow(RuntimeError("x")) == 2

    seen: list[Any] = []
    ctx.on_unhandled_rejection = seen.append

    # turns: a deadline over many steps, step timeouts, awaited completions, drain
    marks: list[Any] = []
    ctx.function(marks.append, name="mark")
    ctx.function(lambda x: fetch(x), name="tool")  # returns a coroutine: async in JS
    with ctx.deadline(5.0) as turn:
        left: float | None = turn.remaining
        assert left is not None and not turn.expired and turn.seconds == 5.0
        agen4 = ctx.eval_handle("(async function* () { yield 1; yield 2 })()")
        assert await agen4.resume_async(timeout=1.0) == (False, 1)
        assert await agen4.asend(None, timeout=None) == 2
        await agen4.aclose(timeout=1.0)
        assert await ctx.eval_async("(async () => 5)()") == 5
        await ctx.eval_async("tool('Oslo').then(w => mark(w.city)); 0")
        await ctx.drain(timeout=2.0)
    async with ctx.deadline(None):
        await ctx.drain()
    assert marks == ["Oslo"]
    ctx.close()


def introspection() -> None:
    ctx = qjs.Context(capture_locals=True)
    lines: list[tuple[str, int]] = []

    def on_line(filename: str, line: int) -> None:
        lines.append((filename, line))

    ctx.runtime.set_line_hook(on_line)
    seen: list[list[qjs.Frame]] = []
    ctx.globals["probe"] = lambda: seen.append(ctx.stack_frames())
    try:
        ctx.eval("function f(a) {\n  probe();\n  throw new Error('x');\n}\nf(1)", filename="t.js")
    except qjs.JSError as exc:
        frames = exc.frames
        assert_type(frames, "list[qjs.Frame]")
        first = qjs.frames(exc)[0]
        assert_type(first.locals, "dict[str, Any] | None")
        assert (first.function, first.filename, first.line) == ("f", "t.js", 3)
        column: int = first.column
        assert column > 0 and first == frames[0]
    ctx.runtime.set_line_hook(None)
    assert lines and seen[0][0].locals == {"a": 1}
    assert qjs.Frame("g", "u.js", 1, 1) == qjs.Frame("g", "u.js", 1, 1, None)
    other = ctx.runtime.new_context(capture_locals=False)
    other.close()
    ctx.close()


def isolation() -> None:
    with qjs.Sandbox(memory_limit=64 << 20, timeout=2.0, max_rss=1 << 30) as sb:
        sb.globals["add"] = lambda a, b: a + b
        total: Any = sb.eval("add(1, 2)", filename="s.js", timeout=1.0)
        assert total == 3
        script = sb.compile("40 + 2")
        assert script.run() == 42
        try:
            sb.eval("1")
        except qjs.SandboxCrashedError as exc:
            code: int | None = exc.exitcode
            assert code is None or code != 0

    async def pooled() -> list[Any]:
        async with qjs.SandboxPool(2, timeout=2.0) as pool:
            return list(await asyncio.gather(*(pool.run("n * 2", globals={"n": i}) for i in range(4))))

    assert asyncio.run(pooled()) == [0, 2, 4, 6]
    with qjs.SandboxPool(1) as spool:
        assert spool.run_sync("1 + 1", timeout=1.0) == 2


def main() -> None:
    if sys.platform.startswith("linux"):  # process isolation is tested on Linux
        isolation()
    limits_and_errors()
    introspection()
    values_and_handles()
    modules_and_scripts()
    asyncio.run(asynchronous())
    counts: dict[str, int] = qjs.live_objects()
    assert counts["runtimes"] >= 0
    version: str = qjs.__version__
    engine: str = qjs.QUICKJS_VERSION
    assert version and engine and qjs.MAX_DEPTH > 0 and qjs.MAX_NODES > 0
    with qjs.Context() as ctx:
        shown: str = qjs.inspect(ctx.eval_handle("new Map([[1, 2]])"), depth=None, colors=False,
                                 max_array_length=10, max_string_length=100, breakLength=60)
        assert shown == "Map(1) { 1 => 2 }" and qjs.inspect([1, "a"]) == "[ 1, 'a' ]"
        assert qjs.INSPECT_MAX_OUTPUT > 0


if __name__ == "__main__":
    main()
