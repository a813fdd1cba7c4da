"""qjs.Sandbox: a context in a child process. Crashes and hangs are contained, host
functions run here, errors arrive typed, and nothing leaks after close."""

from __future__ import annotations

import asyncio
import datetime
import math
import os
import struct
import subprocess
import sys
import sysconfig
import time

import pytest
from conftest import child_env

import qjs
from qjs import _wire

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="process isolation is tested on Linux (the tests count processes and descriptors in /proc)",
)


def _children_of(pid: int) -> set[int]:
    out = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.add(int(name))
    return out


def descendants() -> set[int]:
    """Every live process below this one (the fork server and its sandboxes)."""
    seen: set[int] = set()
    todo = [os.getpid()]
    while todo:
        for c in _children_of(todo.pop()):
            try:
                with open(f"/proc/{c}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        continue
            except OSError:
                continue
            if c not in seen:
                seen.add(c)
                todo.append(c)
    return seen


def open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


@pytest.fixture
def sb():
    s = qjs.Sandbox(timeout=5.0, _test_hooks=True)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def no_leaks():
    """Asserts the test leaves no sandbox process and no descriptor behind."""
    with qjs.Sandbox() as warm:  # the fork server lives for the whole run: start it first
        warm.eval("1")
    fds, procs = open_fds(), descendants()
    yield
    deadline = time.monotonic() + 5
    while descendants() != procs and time.monotonic() < deadline:
        time.sleep(0.02)
    assert descendants() == procs
    assert open_fds() == fds


# ------------------------------------------------------------------ values


def test_values_round_trip_exactly(sb):
    got = sb.eval(
        "[1, 2n ** 70n, -(2n ** 70n), -0, NaN, Infinity, 1.5, 'x\\ud800y', null, undefined,"
        " true, false, new Uint8Array([0, 255]), {a: [{}], 'b c': 'd'}, new Date(Date.UTC(2020, 1, 3, 4, 5, 6, 7))]"
    )
    assert got[:4] == [1, 2**70, -(2**70), 0.0]
    assert math.copysign(1, got[3]) == -1
    assert math.isnan(got[4]) and got[5] == math.inf and got[6] == 1.5
    assert got[7] == "x\ud800y"
    assert got[8:12] == [None, None, True, False]
    assert got[12] == b"\x00\xff"
    assert got[13] == {"a": [{}], "b c": "d"}
    assert got[14] == datetime.datetime(2020, 2, 3, 4, 5, 6, 7000, tzinfo=datetime.timezone.utc)


def test_globals_set_get_delete(sb):
    value = {"n": 2**64, "s": "\udfff", "b": b"ab", "l": [1.5, None, True], "t": (1, 2)}
    sb.globals["v"] = value
    assert sb.eval("[typeof v.n, v.s.length, v.b instanceof Uint8Array, v.l, v.t]") == [
        "bigint",
        1,
        True,
        [1.5, None, True],
        [1, 2],
    ]
    assert sb.globals["v"]["n"] == 2**64
    del sb.globals["v"]
    assert sb.eval("typeof v") == "undefined"


def test_unsendable_values_raise_type_error(sb):
    with pytest.raises(TypeError):
        sb.globals["x"] = object()
    with pytest.raises(TypeError):
        sb.globals["x"] = {1: 2}
    deep: list = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError):
        sb.globals["x"] = deep
    assert sb.eval("1 + 1") == 2


@pytest.mark.parametrize(
    "code, js_type",
    [
        ("(function f() {})", "function"),
        ("new Map()", "Map"),
        ("Symbol()", "symbol"),
        ("({m: new Set()})", "Set"),
        ("Promise.resolve(1)", "Promise"),
    ],
)
def test_a_handle_result_is_a_type_error_naming_the_js_type(sb, code, js_type):
    with pytest.raises(TypeError, match=f"JS {js_type}"):
        sb.eval(code)
    assert sb.eval("2") == 2


def test_module_namespace(sb):
    assert sb.eval("export const a = 1; export default 'x'", module=True) == {
        "a": 1,
        "default": "x",
    }


# ------------------------------------------------------------------ host functions


def test_sync_host_functions_run_in_the_parent(sb):
    seen = []

    def add(a, b):
        seen.append(os.getpid())
        return a + b

    sb.globals["add"] = add
    assert sb.eval("[add(2, 3), add(2n ** 64n, 1)]") == [5, 2**64 + 1]
    assert seen and set(seen) == {os.getpid()}

    @sb.function
    def greet(name):
        return f"hello, {name}"

    assert sb.eval("greet('js') + ' ' + greet.name") == "hello, js greet"


def test_host_exceptions_behave_as_in_process(sb):
    class Boom(Exception):
        pass

    def boom(msg):
        raise Boom(msg)

    sb.globals["boom"] = boom
    assert sb.eval("try { boom('x') } catch (e) { [e.name, e.message, e instanceof Error] }") == [
        "Boom",
        "x",
        True,
    ]
    with pytest.raises(Boom) as info:
        sb.eval("boom('uncaught')", filename="agent.js")
    assert str(info.value) == "uncaught"
    assert any("agent.js:1" in n for n in info.value.__notes__)


def test_host_function_results_that_cannot_convert(sb):
    sb.globals["bad"] = lambda: object()
    assert sb.eval("try { bad() } catch (e) { e.name }") == "TypeError"


def test_js_passing_a_function_to_the_host_is_a_type_error_in_js(sb):
    sb.globals["take"] = lambda f: 1
    assert sb.eval("try { take(() => 1) } catch (e) { e.name }") == "TypeError"


def test_host_function_calls_back_into_the_sandbox(sb):
    sb.globals["inner"] = lambda: sb.eval("6 * 7")
    assert sb.eval("inner() + 1") == 43


def test_async_host_functions_and_eval_async(sb):
    calls = []

    async def fetch(x):
        calls.append(x)
        await asyncio.sleep(0.01)
        return x * 2

    async def fails():
        await asyncio.sleep(0)
        raise LookupError("gone")

    def plain(x):
        return x + 1

    async def main():
        sb.globals["fetch"] = fetch
        sb.globals["fails"] = fails
        sb.globals["plain"] = plain
        got = await sb.eval_async(
            "const [a, b] = await Promise.all([fetch(1), fetch(2)]);"
            "a + b + plain(await fetch(10)) + (fetch(0) instanceof Promise ? 1000 : 0)"
        )
        assert got == 2 + 4 + 21 + 1000
        assert await sb.eval_async(
            "try { await fails() } catch (e) { e.name + ': ' + e.message }"
        ) == ("LookupError: gone")
        with pytest.raises(LookupError):
            await sb.eval_async("await fails()")
        assert await sb.eval_async("Promise.resolve(5)") == 5

    asyncio.run(main())
    assert sorted(calls) == [0, 1, 2, 10]


def test_async_host_function_in_sync_eval_raises_as_in_process(sb):
    async def f():
        return 1

    sb.globals["f"] = f
    with pytest.raises(RuntimeError, match="eval_async"):
        sb.eval("f()")
    assert sb.eval("1") == 1


def test_console_is_forwarded(capsys):
    seen = []
    with qjs.Sandbox(console=lambda level, *args: seen.append((level, args))) as s:
        s.eval("console.log('a', 1, [2]); console.error({x: 1})")
    assert seen == [("log", ("a", 1, [2])), ("error", ({"x": 1},))]
    with qjs.Sandbox() as s:
        s.eval("console.log('hello', {a: 1}); console.warn('careful')")
    out = capsys.readouterr()
    assert out.out == "hello { a: 1 }\n" and out.err == "careful\n"


# ------------------------------------------------------------------ errors


def test_js_errors_are_typed(sb):
    with pytest.raises(qjs.JSError) as info:
        sb.eval("null.x", filename="agent.js")
    e = info.value
    assert type(e) is qjs.JSError and e.name == "TypeError" and "null" in e.message
    assert "agent.js:1" in e.stack
    with pytest.raises(qjs.JSError) as info:
        sb.eval("throw 42")
    assert info.value.value == 42
    with pytest.raises(qjs.JSError) as info:
        sb.eval("let let = 1")
    assert info.value.name == "SyntaxError"
    with pytest.raises(qjs.JSStackOverflowError):
        sb.eval("function f() { return f() } f()")
    with pytest.raises(qjs.JSTimeoutError):
        sb.eval("for (;;) {}", timeout=0.1)
    assert sb.eval("'still here'") == "still here"


def test_memory_limit_is_a_js_memory_error():
    with qjs.Sandbox(memory_limit=8 << 20, timeout=5) as s:
        with pytest.raises(qjs.JSMemoryError):
            s.eval("(() => { let a = []; for (;;) a.push('x'.repeat(1000) + a.length) })()")
        assert s.eval("1 + 1") == 2


def test_frames_field_travels(sb):
    """The frames of an error thrown in the child reach the parent's exception."""
    with pytest.raises(qjs.JSError) as info:
        sb.eval("function g() { null.x }\ng()", filename="f.js")
    frames = info.value.frames
    assert [(f.function, f.filename, f.line) for f in frames][:2] == [("g", "f.js", 1), ("", "f.js", 2)]
    assert all(f.locals is None for f in frames)


def test_frames_carry_locals_when_the_context_captures_them():
    """Sandbox(capture_locals=True): the child's frame variables come back as values."""
    with qjs.Sandbox(capture_locals=True) as s:
        with pytest.raises(qjs.JSError) as info:
            s.eval("function f(a) {\n  let b = a * 2;\n  throw new Error('x' + b);\n}\nf(21)")
    assert info.value.message == "x42"
    assert info.value.frames[0].function == "f" and info.value.frames[0].line == 3
    assert info.value.frames[0].locals == {"a": 21, "b": 42}


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize("kind, code", [("abort", -6), ("segv", -11), ("exit", 3)])
def test_a_crashing_child_is_contained(sb, kind, code):
    sb.globals["keep"] = 7
    pid = sb.pid
    with pytest.raises(qjs.SandboxCrashedError) as info:
        sb.eval(f"__qjs_crash('{kind}')")
    assert info.value.exitcode == code
    assert isinstance(info.value, qjs.Error)
    assert sb.eval("keep * 6") == 42  # a fresh child, the globals set again
    assert sb.pid != pid and sb.restarts == 1


def test_a_crash_during_eval_async_is_contained(sb):
    async def main():
        with pytest.raises(qjs.SandboxCrashedError):
            await sb.eval_async("await 1; __qjs_crash('abort')")
        return await sb.eval_async("await 2")

    assert asyncio.run(main()) == 2


def test_a_child_that_does_not_answer_is_killed():
    with qjs.Sandbox(timeout=0.2, kill_after=0.3, _test_hooks=True) as s:
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            s.eval("__qjs_crash('hang')")
        assert time.monotonic() - t0 < 30  # bounded: the parent never hangs
        assert s.eval("1 + 1", timeout=10) == 2  # margins for a loaded machine

        async def main():
            with pytest.raises(qjs.JSTimeoutError):
                await s.eval_async("__qjs_crash('hang')")
            return await s.eval_async("3", timeout=10)

        assert asyncio.run(main()) == 3


def test_cancelling_eval_async_kills_the_child(sb):
    async def main():
        task = asyncio.ensure_future(sb.eval_async("__qjs_crash('hang')"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await sb.eval_async("4")

    assert asyncio.run(main()) == 4


def test_max_rss_exceeded_is_a_crash():
    with qjs.Sandbox(max_rss=160 << 20, timeout=30) as s:
        with pytest.raises(qjs.SandboxCrashedError, match="max_rss"):
            s.eval("(() => { let a = []; for (;;) a.push('x'.repeat(1 << 20) + a.length) })()")
        assert s.eval("1") == 1


def test_conversion_crash_at_the_stack_edge_is_contained():
    """Issue 10's first crash (conversion at the edge of the JS stack): SIGSEGV in-process
    on engines without the fix; inside a Sandbox it is contained either way."""
    with qjs.Sandbox(timeout=10) as s:
        try:
            s.eval(
                "let d = {}; for (let i = 0; i < 200; i++) d = {d};"
                "function f() { try { return f() } catch (e) { console.log(d) } } f()"
            )
        except (qjs.SandboxCrashedError, qjs.JSError, ValueError):
            pass
        assert s.eval("1 + 1") == 2


def test_oom_compile_crash_is_contained():
    """Issue 10's second crash (engine OOM during compilation): contained."""
    with qjs.Sandbox(memory_limit=1 << 20, timeout=20, console=False) as s:
        try:
            s.eval(
                "const keep = []; try { for (;;) keep.push([0]) } catch (e) { keep.length -= 300 }"
                "for (let i = 0; i < 400; i++) try { keep.push([0]);"
                " eval('{ let a = 1; try { a.b.c } catch (e) { a = [a, e] } }') } catch (e) {}"
            )
        except (qjs.SandboxCrashedError, qjs.JSError):
            pass
        assert s.eval("2") == 2


# a hostile child: frames and values the parent must refuse
HOSTILE = [
    b"\xff\xff\xff\x7f\x15",  # a frame far larger than max_message
    b"\x00\x00\x00\x00",  # an empty frame (no opcode)
    b"\x02\x00\x00\x00\x63\x00",  # an unknown opcode
    b"\x06\x00\x00\x00\x15\x08\x01\x00\x00\x00",  # a list whose item is missing
    b"\x06\x00\x00\x00\x15\x08\xff\xff\xff\xff",  # a count larger than the message
    b"\x07\x00\x00\x00\x15\x08\x01\x00\x00\x00\xee",  # an unknown value tag
    b"\x0c\x00\x00\x00\x15\x08\x01\x00\x00\x00\x06\x02\x00\x00\x00\xc3\x28",  # invalid UTF-8
    b"\x0b\x00\x00\x00\x15\x08\x01\x00\x00\x00\x0a"
    + struct.pack("<q", 2**62)
    + b"\x01"[:0],  # short date
    b"\x12\x00\x00\x00\x15\x08\x01\x00\x00\x00\x0a"
    + struct.pack("<q", 2**62)
    + b"\x01"
    + b"\x00" * 4,
    b"\x08\x00\x00\x00\x15\x08\x01\x00\x00\x00\x00\x00",  # trailing bytes
    b"\x0f\x00\x00\x00\x17\x08\x03\x00\x00\x00\x03"
    + b"\x01"
    + b"\x00" * 7,  # a call, fields missing
    b"\x05\x00\x00\x00\x15\x09\x00\x00\x00",  # the body is not a list
    b"\x06\x00\x00\x00\x15\x0b\x01\x00\x00\x00",  # the function tag, parent-bound
    _wire.frame(22, _wire.encode([1, 2, 3, 4, 5, 6, 7, 8])),  # an error with wrong field types
    _wire.frame(
        22, _wire.encode(["JSError", "", "", "", None, [[1]], None, []])
    ),  # a bad frame entry
    _wire.frame(21, _wire.encode([1, 2])),  # a result with two values
]


@pytest.mark.parametrize("frame", HOSTILE, ids=range(len(HOSTILE)))
def test_malformed_frames_from_the_child_kill_it(sb, frame):
    sb.globals["raw"] = frame
    pid = sb.pid
    with pytest.raises(qjs.SandboxCrashedError, match="malformed"):
        sb.eval("__qjs_send_raw(raw)")
    assert sb.pid is None and pid not in descendants()
    assert sb.eval("5") == 5


def test_a_call_of_an_unknown_host_function_is_refused(sb):
    body = _wire.encode([1, 999, []])
    sb.globals["raw"] = struct.pack("<IB", len(body) + 1, 23) + body
    with pytest.raises(qjs.SandboxCrashedError, match="unknown host function"):
        sb.eval("__qjs_send_raw(raw)")


def test_a_depth_bomb_is_refused(sb):
    body = b"\x08\x01\x00\x00\x00" + b"\x08\x01\x00\x00\x00" * 10000 + b"\x00"
    sb.globals["raw"] = struct.pack("<IB", len(body) + 1, 21) + body
    with pytest.raises(qjs.SandboxCrashedError, match="deeper"):
        sb.eval("__qjs_send_raw(raw)")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x06\x05\x00\x00\x00ab",
        b"\x04\xff\xff\xff\x7f",
        b"\x03\x00",
        b"\x05",
        b"\x09\x01\x00\x00\x00\x01",
        b"\x09\x02\x00\x00\x00\x01\x00\x00\x00a\x00\x01\x00\x00\x00a\x00",
        b"\x0a" + b"\x00" * 8 + b"\x07",
        b"\x0b\x01\x00\x00\x00\x00\x00\x00\x00\x00",
        b"\x07\x10\x00\x00\x00",
    ],
)
def test_decode_rejects_malformed_values(data):
    with pytest.raises(ValueError):
        _wire.decode(data)


def test_decode_bounds_the_number_of_values():
    data = _wire.encode([0] * 1000)
    assert len(_wire.decode(data)) == 1000
    with pytest.raises(ValueError, match="too many"):
        _wire.decode(data, max_nodes=500)


WIRE_VALUES = [
    None,
    True,
    -(2**63),
    2**63,
    -(2**200),
    -0.0,
    "a\ud800b",
    b"\x00\xff",
    [1, "two", None, True, False, 3.5, [], {}, 2**70, b"x", [[[]]]],
    {"k": 1, "s": "v", "n": None, "l": [False, {"": -1}], "big": -(2**64)},
    [{"a": [i, str(i), i % 2 == 0]} for i in range(50)],
]


@pytest.mark.parametrize("value", WIRE_VALUES, ids=range(len(WIRE_VALUES)))
def test_wire_round_trip_on_both_decoders(value):
    data = _wire.encode(value)
    assert repr(_wire.decode(data)) == repr(value)
    if len(data) > 1:  # max_nodes below the length: the decoder that counts values
        assert repr(_wire.decode(data, max_nodes=len(data) - 1)) == repr(value)
    framed = _wire.encode_frame(21, value)
    assert bytes(framed) == _wire.frame(21, data)
    assert repr(_wire.decode(bytes(framed), start=5)) == repr(value)


# ------------------------------------------------------------------ scripts, snapshots


def test_compile_and_run(sb):
    script = sb.compile("globalThis.n = (globalThis.n || 0) + 1; n", filename="count.js")
    assert [script.run(), script.run()] == [1, 2]
    with pytest.raises(qjs.JSError) as info:
        sb.compile("let let")
    assert info.value.name == "SyntaxError"
    with pytest.raises(qjs.SandboxCrashedError):
        sb.eval("__qjs_crash()")
    assert script.run() == 1  # compiled again in the fresh child
    assert asyncio.run(script.run_async()) == 2


def test_run_a_script_compiled_here(sb):
    with qjs.Context() as ctx:
        script = ctx.compile("[1 + 1, typeof globalThis.__qjs_crash]", filename="s.js")
    assert sb.run(script) == [2, "function"]
    with pytest.raises(TypeError):
        sb.run("1 + 1")


def test_dumps_and_loads(sb):
    snap = sb.dumps({"a": [1, 2], "n": 2**70})
    assert isinstance(snap, bytes)
    assert sb.loads(snap) == {"a": [1, 2], "n": 2**70}
    sb.loads(snap, name="restored")
    assert sb.eval("restored.a[1] + Number(restored.n > 0n)") == 3


# ------------------------------------------------------------------ lifecycle


def test_close_and_context_managers():
    s = qjs.Sandbox()
    assert s.eval("1") == 1
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(qjs.ClosedError):
        s.eval("1")

    async def main():
        async with qjs.Sandbox(timeout=2.0) as a:
            return await a.eval_async("await Promise.resolve(7)")

    assert asyncio.run(main()) == 7


def test_nothing_leaks(no_leaks):
    for i in range(3):
        with qjs.Sandbox(_test_hooks=True) as s:
            s.globals["f"] = lambda x: x
            assert s.eval("f(2)") == 2
            with pytest.raises(qjs.SandboxCrashedError):
                s.eval("__qjs_crash('segv')")
            assert s.eval("3") == 3
    s = qjs.Sandbox(timeout=0.1, kill_after=0.1, _test_hooks=True)
    with pytest.raises(qjs.JSTimeoutError):
        s.eval("__qjs_crash('hang')")
    s.eval("1", timeout=10)
    s.close()

    async def tool(x):
        await asyncio.sleep(0)
        return x

    async def main():
        async with qjs.Sandbox(timeout=5.0, _test_hooks=True) as a:
            a.globals["tool"] = tool
            assert await a.eval_async("await tool(1) + await tool(2)") == 3
            with pytest.raises(qjs.SandboxCrashedError):
                await a.eval_async("await tool(1); __qjs_crash('abort')")
            task = asyncio.ensure_future(a.eval_async("__qjs_crash('hang')"))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await a.eval_async("await tool(4)") == 4

    asyncio.run(main())


def test_large_values_and_the_message_bound():
    with qjs.Sandbox(timeout=10.0, max_message=4 << 20) as s:
        assert len(s.eval("'x'.repeat(1 << 20)")) == 1 << 20
        s.globals["big"] = b"\x01" * (3 << 20)  # toward the child: not bounded
        assert s.eval("big.length") == 3 << 20
        with pytest.raises(qjs.SandboxCrashedError, match="malformed"):
            s.eval("'x'.repeat(5 << 20)")
        assert s.eval("1") == 1


def test_hardening_options():
    with qjs.Sandbox(
        empty_env=True, rlimit_nofile=32, rlimit_nproc=64, max_rss=1 << 30, _test_hooks=True
    ) as s:
        assert s.eval("__qjs_probe('env')") == 0
        assert s.eval("__qjs_probe('nofile')") == [32, 32]
        assert s.eval("__qjs_probe('nproc')") == [64, 64]
        limit = s.eval("__qjs_probe('as')")
        if sysconfig.get_config_var("Py_GIL_DISABLED"):
            # the allocator arena a free-threaded child reserves at start-up is added
            assert limit[0] == limit[1] and 1 << 30 < limit[0] <= 3 << 30, limit
        else:
            assert limit == [1 << 30, 1 << 30]
        fds = s.eval("__qjs_probe('fds')")
    assert fds[:3] == [0, 1, 2] and len(fds) <= 5  # stdio, its socket (and the listing's own fd)


def test_importing_qjs_does_not_load_the_sandbox_machinery():
    code = "import sys, qjs; assert 'qjs.sandbox' not in sys.modules; print(qjs.Sandbox.__name__)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Sandbox"


def test_crashed_error_pickles():
    import pickle

    e = pickle.loads(pickle.dumps(qjs.SandboxCrashedError("gone", exitcode=-9)))
    assert e.exitcode == -9 and str(e) == "gone"


def test_descriptors_above_1023_work():
    """Regression: waiting with select() failed once the sandbox's socket was above FD_SETSIZE."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("cannot open 1200 descriptors here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    filler = []
    try:
        while not filler or filler[-1] < 1030:
            filler.append(os.open(os.devnull, os.O_RDONLY))
        with qjs.Sandbox(timeout=5.0) as s:
            assert s.eval("6 * 7") == 42
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
