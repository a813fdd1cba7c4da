"""Hostile input: whatever JS (or a host callback) does, the result is a clear Python
exception of the documented type within a bound, the process survives, the runtime
stays usable and memory comes back.

Crash-class cases (stack exhaustion on small threads, close from inside, interpreter
shutdown with live objects, ...) run in a child interpreter and assert it exits 0.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import sys
import threading
import time
import warnings

import pytest

import qjs

KiB = 1 << 10
MiB = 1 << 20

# A bound for "arrives promptly" on a noisy 2-core machine: timeouts below are 0.2-0.5 s.
BOUND = 3.0


def expect(ctx, code, exc, *, bound=BOUND, **kw):
    """Evaluate ``code``, assert it raises ``exc`` within ``bound`` seconds and that the
    context still works afterwards. Returns the exception."""
    t0 = time.monotonic()
    with pytest.raises(exc) as ei:
        ctx.eval(code, **kw)
    elapsed = time.monotonic() - t0
    assert elapsed < bound, f"{type(ei.value).__name__} after {elapsed:.2f} s"
    assert ctx.eval("1 + 1", timeout=5.0) == 2
    return ei.value


def rss_bytes() -> int:
    """This process's resident set size, or skip the test where it cannot be read."""
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.Process().memory_info().rss)
    if sys.platform.startswith("linux") and os.path.exists("/proc/self/statm"):
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    if sys.platform == "win32":
        import ctypes
        from ctypes import wintypes

        class Counters(ctypes.Structure):
            _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD)] + [
                (name, ctypes.c_size_t) for name in (
                    "PeakWorkingSetSize", "WorkingSetSize", "QuotaPeakPagedPoolUsage",
                    "QuotaPagedPoolUsage", "QuotaPeakNonPagedPoolUsage",
                    "QuotaNonPagedPoolUsage", "PagefileUsage", "PeakPagefileUsage")]

        counters = Counters()
        counters.cb = ctypes.sizeof(counters)
        k32 = ctypes.WinDLL("kernel32")
        k32.GetCurrentProcess.restype = wintypes.HANDLE
        psapi = ctypes.WinDLL("psapi")
        psapi.GetProcessMemoryInfo.argtypes = [wintypes.HANDLE, ctypes.c_void_p, wintypes.DWORD]
        if psapi.GetProcessMemoryInfo(k32.GetCurrentProcess(), ctypes.byref(counters),
                                      counters.cb):
            return int(counters.WorkingSetSize)
    pytest.skip(f"no way to read the resident set size on {sys.platform} without psutil")


def child_ok(run_child, source, timeout=60.0):
    r = run_child(source, timeout=timeout)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])
    assert r.stdout.strip().endswith("ok"), (r.stdout[-2000:], r.stderr[-2000:])
    return r


# =====================================================================================
# CPU: every loop ends at the deadline, wherever it runs
# =====================================================================================

CPU_HOGS = [
    "while (true) {}",
    "for (;;) { try { for (;;) {} } catch (e) {} finally { continue } }",
    "a: for (;;) { b: for (;;) { continue a } }",
    "{ const t = Date.now(); while (Date.now() - t < 1e9) {} }",
    "/(a+)+$/.test('a'.repeat(40) + 'b')",
    "/(a|a)*b/.test('a'.repeat(40))",
    "/(x+x+)+y/.test('x'.repeat(40))",
    "for (const x of (function* () { for (;;) yield 1 })()) {}",
    "Array.prototype.join.call({ length: 2 ** 53 - 1 })",
    "Array.prototype.reverse.call({ length: 2 ** 53 - 1 })",
    "[3, 2, 1].sort(() => { for (;;) {} })",
    "'aaaa'.replace(/a/g, () => { for (;;) {} })",
    "Object.keys(new Proxy({}, { ownKeys() { for (;;) {} } }))",
    "{ const s = 'x'.repeat(1 << 24); for (;;) s.replaceAll('x', 'y') }",
    "JSON.stringify({ toJSON() { for (;;) {} } })",
    "with (new Proxy({}, { has() { return true }, get() { for (;;) {} } })) { x }",
    "{ class A extends Array { static get [Symbol.species]() { for (;;) {} } } new A(1, 2).map(x => x) }",
    "(function f() { try { for (;;) {} } finally { f() } })()",
    "{ const e = new Error(); e.toString = () => { for (;;) {} }; String(e) }",
]


@pytest.mark.parametrize("src", CPU_HOGS)
def test_cpu_hog_times_out(src):
    with qjs.Context(timeout=0.3, memory_limit=256 * MiB) as ctx:
        expect(ctx, src, qjs.JSTimeoutError)


def test_getter_hit_during_conversion_times_out():
    with qjs.Context(timeout=0.3) as ctx:
        expect(ctx, "({ get x() { for (;;) {} } })", qjs.JSTimeoutError)
        expect(ctx, "[1, { get y() { for (;;) {} } }]", qjs.JSTimeoutError)
        expect(ctx, "[{ get y() { throw new Error('inside a getter') } }]", qjs.JSError)


def test_getter_in_host_argument_times_out():
    with qjs.Context(timeout=0.3) as ctx:
        calls = []
        ctx.globals["h"] = lambda x: calls.append(x)
        expect(ctx, "h({ get x() { for (;;) {} } })", qjs.JSTimeoutError)
        assert calls == []


def test_getter_hit_by_handle_to_python_times_out():
    with qjs.Context(timeout=0.3) as ctx:
        h = ctx.eval_handle("({ get x() { for (;;) {} } })")
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            h.to_python()
        assert time.monotonic() - t0 < BOUND
        h.dispose()


def test_loop_in_promise_job_times_out():
    rt = qjs.Runtime(timeout=0.3)
    try:
        ctx = rt.new_context()
        assert ctx.eval("Promise.resolve().then(() => { for (;;) {} }); 1") == 1
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            rt.run_jobs()
        assert time.monotonic() - t0 < BOUND
        assert ctx.eval("1 + 1") == 2
    finally:
        rt.close()


def test_microtask_explosion_run_jobs_times_out():
    rt = qjs.Runtime(timeout=0.3, memory_limit=64 * MiB)
    try:
        ctx = rt.new_context()
        ctx.eval("(function f() { Promise.resolve().then(f); Promise.resolve().then(f) })()")
        t0 = time.monotonic()
        with pytest.raises((qjs.JSTimeoutError, qjs.JSMemoryError)):
            rt.run_jobs()
        assert time.monotonic() - t0 < BOUND
    finally:
        rt.close()


def test_microtask_explosion_under_eval_async_times_out():
    async def main():
        with qjs.Context(timeout=0.3, memory_limit=64 * MiB) as ctx:
            t0 = time.monotonic()
            with pytest.raises((qjs.JSTimeoutError, qjs.JSMemoryError)):
                await ctx.eval_async(
                    "(function f() { Promise.resolve().then(f); Promise.resolve().then(f) })();"
                    "await new Promise(() => {})")
            assert time.monotonic() - t0 < BOUND

    asyncio.run(main())


def test_loop_in_generator_step_times_out():
    with qjs.Context(timeout=0.3) as ctx:
        with ctx.eval_handle("(function* () { yield 1; for (;;) {} })()") as gen:
            assert gen.resume() == (False, 1)
            t0 = time.monotonic()
            with pytest.raises(qjs.JSTimeoutError):
                gen.resume()
            assert time.monotonic() - t0 < BOUND
        assert ctx.eval("1 + 1") == 2


def test_loop_in_generator_finally_times_out_on_close():
    with qjs.Context(timeout=0.3) as ctx:
        with ctx.eval_handle("(function* () { try { yield 1 } finally { for (;;) {} } })()") as gen:
            assert next(gen) == 1
            t0 = time.monotonic()
            with pytest.raises(qjs.JSTimeoutError):
                gen.resume(mode="return")
            assert time.monotonic() - t0 < BOUND


def test_thenable_loop_times_out_under_await():
    async def main():
        with qjs.Context(timeout=0.3) as ctx:
            t0 = time.monotonic()
            with pytest.raises(qjs.JSTimeoutError):
                await ctx.eval_async("await ({ then() { for (;;) {} } })")
            assert time.monotonic() - t0 < BOUND
            with ctx.eval_handle("({ then(r) { for (;;) {} } })") as thenable:
                t0 = time.monotonic()
                with pytest.raises(qjs.JSTimeoutError):
                    await thenable
                assert time.monotonic() - t0 < BOUND
            assert ctx.eval("1 + 1") == 2

    asyncio.run(main())


def test_finalization_registry_callback_loop_times_out():
    rt = qjs.Runtime(timeout=0.3)
    try:
        ctx = rt.new_context()
        ctx.eval("globalThis.fr = new FinalizationRegistry(() => { for (;;) {} });"
                 "(() => { for (let i = 0; i < 10; i++) fr.register({}, i) })()")
        rt.gc()
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            rt.run_jobs()
        assert time.monotonic() - t0 < BOUND
        assert ctx.eval("1 + 1") == 2
    finally:
        rt.close()


def test_interrupt_handler_that_raises():
    rt = qjs.Runtime(timeout=5)
    try:
        ctx = rt.new_context()
        rt.set_interrupt_handler(lambda: 1 / 0)
        t0 = time.monotonic()
        with pytest.raises((ZeroDivisionError, qjs.InterruptedError)):
            ctx.eval("for (;;) {}")
        assert time.monotonic() - t0 < BOUND
        rt.set_interrupt_handler(None)
        assert ctx.eval("1 + 1") == 2
    finally:
        rt.close()


def test_atomics_wait_cannot_block():
    with qjs.Context(timeout=0.3) as ctx:
        expect(ctx, "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1e9)",
               (qjs.JSError, qjs.JSTimeoutError))


# =====================================================================================
# memory
# =====================================================================================

MEMORY_HOGS = [
    "let s = 'x'; for (;;) s += s",
    "{ const a = []; for (;;) a.push({ i: a.length }) }",
    "{ const a = []; for (;;) a.push(new Float64Array(1 << 16)) }",
    "new Float64Array(1 << 26)",
    "new ArrayBuffer(2 ** 31)",
    "'x'.repeat(2 ** 30)",
    "''.padEnd(2 ** 30, 'ab')",
    "'ab'.padStart(2 ** 29, 'cd')",
    "new Array(1e9).join(',')",
    "for (let i = 0; i < 1e8; i++) Promise.resolve().then(() => {})",
    "{ const m = new Map(); for (let i = 0; ; i++) m.set(i, [i]) }",
    "(2n ** 1000000n) ** 100n",
    "JSON.stringify(new Array(1 << 22).fill('xxxxxxxx'))",
    "{ let a = [1]; for (;;) a = a.concat(a) }",
]


@pytest.mark.parametrize("src", MEMORY_HOGS)
def test_memory_hog_fails_cleanly(src):
    # the engine's own caps (array buffer / string length) are RangeErrors; a timeout
    # is acceptable for builtins that burn time before memory
    with qjs.Context(memory_limit=16 * MiB, timeout=2.0) as ctx:
        e = expect(ctx, src, (qjs.JSMemoryError, qjs.JSError), bound=8.0)
        if not isinstance(e, (qjs.JSMemoryError, qjs.JSTimeoutError)):
            assert e.name == "RangeError", (e.name, e.message)
        # jobs queued before the failure still hold memory: drain them
        try:
            ctx.runtime.run_jobs()
        except qjs.Error:
            pass
        ctx.runtime.gc()
        assert ctx.eval("[1, 2, 3].map(x => x * 2)") == [2, 4, 6]


def test_failed_allocations_give_memory_back():
    rt = qjs.Runtime(memory_limit=32 * MiB, timeout=5)
    try:
        ctx = rt.new_context()
        ctx.eval("1")
        rt.gc()
        base = rt.memory_usage()["malloc_size"]
        for _ in range(10):
            for src in ("(2n ** 1000000n) ** 100n", "(2n ** 100000n) ** 1000n",
                        "let s = 'x'; for (;;) s += s",
                        "{ const a = []; for (;;) a.push([a.length]) }"):
                # "BigInt is too large to allocate" is the engine's RangeError cap
                with pytest.raises((qjs.JSMemoryError, qjs.JSError)):
                    ctx.eval(src)
        rt.gc()
        assert rt.memory_usage()["malloc_size"] - base < 512 * KiB
    finally:
        rt.close()


def test_huge_result_under_max_nodes_converts():
    n = 5_000_000
    assert n < qjs.MAX_NODES
    with qjs.Context(timeout=10) as ctx:
        got = ctx.eval(f"new Array({n}).fill(7)")
        assert len(got) == n and got[0] == 7 and got[-1] == 7
        del got


def test_result_over_max_nodes_raises_before_python_allocates():
    # tracemalloc is CPython's (PyPy has none)
    tracemalloc = pytest.importorskip("tracemalloc")
    with qjs.Context(timeout=10) as ctx:
        tracemalloc.start()
        try:
            for src in (f"{{ const a = []; a[{qjs.MAX_NODES}] = 1; a }}",
                        "{ const a = []; a[2 ** 32 - 2] = 1; a }",
                        f"{{ const a = []; a[{qjs.MAX_NODES - 1}] = 1; [[], a] }}",
                        f"new Uint8Array(1)"):
                tracemalloc.reset_peak()
                try:
                    ctx.eval(src)
                except ValueError:
                    pass
                else:
                    assert src == "new Uint8Array(1)", src
                _, peak = tracemalloc.get_traced_memory()
                assert peak < 2 * MiB, (src, peak)
        finally:
            tracemalloc.stop()
        assert ctx.eval("1 + 1") == 2


def test_many_references_to_one_big_array_are_bounded():
    # 25 references to one 1e6-element array: 25e6 values > MAX_NODES
    with qjs.Context(timeout=30) as ctx:
        with pytest.raises(ValueError):
            ctx.eval("{ const row = new Array(1e6).fill(0); new Array(25).fill(row) }")
        assert ctx.eval("1 + 1") == 2


def test_fast_array_with_longer_length_converts_every_index():
    """A fast array whose length was raised past its storage has holes at the end;
    they convert to None like any other hole (``[, , 1]``)."""
    with qjs.Context() as ctx:
        assert ctx.eval("[, , 1]") == [None, None, 1]
        assert ctx.eval("new Array(3)") == [None, None, None]
        assert ctx.eval("[1].concat(new Array(2))") == [1, None, None]
        assert ctx.eval("{ const b = [1, 2, 3]; b.length = 5; b }") == [1, 2, 3, None, None]
        with pytest.raises(ValueError):
            ctx.eval("{ const g = [1, 2, 3]; g.length = 2 ** 32 - 1; g }")


def test_string_result_that_cannot_be_flattened_is_a_js_memory_error():
    """Found by fuzz/fuzz_eval.py: the completion value is a rope string built up to the
    limit; reading it needs memory the runtime no longer has. That is the memory limit
    (qjs.JSMemoryError, a qjs.Error), not a bare MemoryError."""
    with qjs.Context(memory_limit=3 * MiB, timeout=5) as ctx:
        expect(ctx, "try { { let s = 'x'; for (;;) s += s } } catch (e) {}", qjs.JSMemoryError)
        with ctx.eval_handle("let s = 'x'; try { for (;;) s += s } catch (e) {} s") as h:
            with pytest.raises(qjs.JSMemoryError):
                h.to_python()


def test_oom_inside_host_call():
    with qjs.Context(memory_limit=16 * MiB, timeout=5) as ctx:
        def hog():
            return ctx.eval("'x'.repeat(1 << 20).repeat(64)")

        ctx.globals["hog"] = hog
        expect(ctx, "hog()", qjs.JSMemoryError)
        # the host sees the error, JS catches a plain error, the realm lives
        assert ctx.eval("try { hog() } catch (e) { 'caught' }") == "caught"


def test_host_returns_more_than_the_limit():
    with qjs.Context(memory_limit=8 * MiB, timeout=5) as ctx:
        ctx.globals["big"] = lambda: b"\x00" * (32 * MiB)
        ctx.globals["bigs"] = lambda: "y" * (32 * MiB)
        ctx.globals["many"] = lambda: list(range(2_000_000))
        for src in ("big()", "bigs().length", "many().length"):
            expect(ctx, src, qjs.JSMemoryError)


def test_abuse_close_new_runtime_200_times_memory_returns():
    snippets = [
        ("let s = 'x'; for (;;) s += s", qjs.JSMemoryError),
        ("for (;;) {}", qjs.JSTimeoutError),
        ("(function f() { return f() + 1 })()", qjs.JSStackOverflowError),
        ("{ const a = []; a.push(a); a }", ValueError),
    ]

    def cycle(i):
        rt = qjs.Runtime(memory_limit=8 * MiB, stack_limit=256 * KiB, timeout=0.05)
        try:
            ctx = rt.new_context()
            ctx.globals["host"] = lambda x: [x, {"k": x}]
            src, exc = snippets[i % len(snippets)]
            with pytest.raises(exc):
                ctx.eval(src)
            assert ctx.eval("host(2)[1].k") == 2
        finally:
            rt.close()

    for i in range(40):  # warm-up: allocator arenas, code caches
        cycle(i)
    gc.collect()
    before = rss_bytes()
    for i in range(200):
        cycle(i)
    gc.collect()
    grown = rss_bytes() - before
    assert grown < 24 * MiB, f"RSS grew by {grown / MiB:.1f} MiB over 200 cycles"


# =====================================================================================
# stack
# =====================================================================================

STACK_HOGS = [
    ("(function f() { return f() + 1 })()", qjs.JSStackOverflowError),
    ("(function r() { try { return r() } catch (e) { return r() } })()", (qjs.JSStackOverflowError, qjs.JSTimeoutError)),
    ("eval('['.repeat(1e5))", qjs.JSStackOverflowError),
    ("eval('('.repeat(1e5) + '1' + ')'.repeat(1e5))", qjs.JSStackOverflowError),
    ("JSON.parse('['.repeat(1e5) + ']'.repeat(1e5))", qjs.JSStackOverflowError),
    ("{ let p = {}; for (let i = 0; i < 1e5; i++) p = new Proxy(p, {}); p.x }", qjs.JSStackOverflowError),
    ("{ const o = {}; o.toString = () => String(o); String(o) }", qjs.JSStackOverflowError),
    ("{ const o = { valueOf() { return +o } }; +o }", qjs.JSStackOverflowError),
    ("{ const a = () => b(), b = () => a(); a() }", qjs.JSStackOverflowError),
    ("{ const o = {}; o.toJSON = () => ({ x: o }); JSON.stringify(o) }", (qjs.JSStackOverflowError, qjs.JSError)),
    ("{ let a = []; for (let i = 0; i < 1e5; i++) a = [a]; String(a) }", qjs.JSStackOverflowError),
    ("new RegExp('(?:'.repeat(1e5) + ')'.repeat(1e5))", (qjs.JSStackOverflowError, qjs.JSError)),
    ("(function f(n) { return new Proxy({}, { get: () => f(n + 1).x }) })(0).x", qjs.JSStackOverflowError),
]


@pytest.mark.parametrize("src,exc", STACK_HOGS)
def test_stack_exhaustion(src, exc):
    with qjs.Context(timeout=5.0) as ctx:
        expect(ctx, src, exc, bound=8.0)


def test_deeply_nested_source_as_a_plain_literal_is_fine():
    with qjs.Context(timeout=5.0) as ctx:
        assert ctx.eval("'['.repeat(1e5)").startswith("[[[")


def test_conversion_depth_bound():
    with qjs.Context(timeout=5.0) as ctx:
        with pytest.raises(ValueError):
            ctx.eval(f"{{ let a = []; for (let i = 0; i < {qjs.MAX_DEPTH + 10}; i++) a = [a]; a }}")
        with pytest.raises(ValueError):
            ctx.eval("{ let o = {}; for (let i = 0; i < 100000; i++) o = { o }; o }")
        nested = []
        for _ in range(100_000):
            nested = [nested]
        with ctx.eval_handle("(x) => 1") as f:
            with pytest.raises((ValueError, RecursionError)):
                f(nested)
        assert ctx.eval("1 + 1") == 2


def test_host_js_mutual_recursion(run_child):
    child_ok(run_child, """
        import qjs
        with qjs.Context(timeout=20) as ctx:
            ctx.globals["py"] = lambda n: ctx.eval(f"js({n} + 1)")
            ctx.eval("function js(n) { return py(n) }")
            try:
                ctx.eval("js(0)")
            except (RecursionError, qjs.JSError) as e:
                print(type(e).__name__)
            else:
                raise SystemExit("no error")
            assert ctx.eval("1 + 1") == 2
        print("ok")
    """)


SMALL_THREAD_CASES = [
    "(function f() { return f() + 1 })()",
    "eval('['.repeat(1e5))",
    "JSON.parse('['.repeat(1e5) + ']'.repeat(1e5))",
    "{ let p = {}; for (let i = 0; i < 1e5; i++) p = new Proxy(p, {}); p.x }",
    "{ const o = {}; o.toString = () => String(o); String(o) }",
    "new RegExp('(?:'.repeat(1e5) + ')'.repeat(1e5))",
    "py(0)",
    "{ let a = []; for (let i = 0; i < 250; i++) a = [a]; a }",
]


@pytest.mark.parametrize("src", SMALL_THREAD_CASES)
def test_stack_exhaustion_on_512k_thread(run_child, src):
    child_ok(run_child, f"""
        import threading
        import qjs
        threading.stack_size(512 << 10)
        out = {{}}

        def run():
            with qjs.Context(timeout=20) as ctx:
                ctx.globals["py"] = lambda n: ctx.eval(f"py({{n}} + 1)")
                try:
                    out["value"] = ctx.eval({src!r})
                except (qjs.Error, RecursionError, ValueError) as e:
                    out["exc"] = e
                except BaseException as e:
                    out["bad"] = e
                out["after"] = ctx.eval("1 + 1")

        t = threading.Thread(target=run)
        t.start()
        t.join()
        assert "bad" not in out, repr(out.get("bad"))
        assert out["after"] == 2, out
        print(type(out.get("exc")).__name__)
        print("ok")
    """)


# =====================================================================================
# the host boundary
# =====================================================================================


def test_disposed_handle_every_operation():
    with qjs.Context() as ctx:
        h = ctx.eval_handle("({ a: 1, f() { return 1 }, *[Symbol.iterator]() { yield 1 } })")
        h.dispose()
        h.dispose()  # twice is fine
        ops = [
            lambda: h.to_python(), lambda: h["a"], lambda: h.__setitem__("a", 2),
            lambda: h.__delitem__("a"), lambda: "a" in h, lambda: h.keys(), lambda: h(),
            lambda: h.call(1, this=None), lambda: h.call_method("f"), lambda: h.resume(),
            lambda: list(iter(h)), lambda: h.typeof, lambda: h.get_handle("a"),
        ]
        for op in ops:
            with pytest.raises(qjs.ClosedError):
                op()
        ctx.globals["x"] = 1
        with pytest.raises(qjs.ClosedError):
            ctx.globals["passed"] = h
        assert ctx.eval("1 + 1") == 2


def test_closed_runtime_every_operation():
    rt = qjs.Runtime()
    ctx = rt.new_context()
    h = ctx.eval_handle("[1, 2]")
    g = ctx.globals
    rt.close()
    rt.close()
    for op in (lambda: ctx.eval("1"), lambda: ctx.eval_handle("1"), lambda: rt.new_context(),
               lambda: rt.run_jobs(), lambda: h.to_python(), lambda: g["x"], lambda: rt.gc(),
               lambda: rt.memory_usage(), lambda: ctx.function(lambda: 1)):
        with pytest.raises(qjs.ClosedError):
            op()
    assert isinstance(qjs.ClosedError("x"), RuntimeError)


CLOSE_FROM_INSIDE = {
    "context_eval": """
        ctx = qjs.Context(timeout=5)
        ctx.globals["closeme"] = lambda: ctx.close()
        try:
            ctx.eval("closeme(); 1")
        except qjs.ClosedError:
            pass
        else:
            raise SystemExit("eval returned after its context was closed")
        assert ctx.closed
    """,
    "context_eval_then_loop": """
        ctx = qjs.Context(timeout=5)
        ctx.globals["closeme"] = lambda: ctx.close()
        try:
            ctx.eval("try { closeme() } catch (e) {} for (;;) {}")
        except qjs.ClosedError:
            pass
        else:
            raise SystemExit("no error")
    """,
    "shared_runtime_context": """
        rt = qjs.Runtime(timeout=5)
        ctx = rt.new_context()
        other = rt.new_context()
        ctx.globals["closeme"] = lambda: ctx.close()
        try:
            ctx.eval("closeme(); 1")
        except qjs.ClosedError:
            pass
        else:
            raise SystemExit("no error")
        assert other.eval("1 + 1") == 2
        rt.close()
    """,
    "runtime": """
        rt = qjs.Runtime(timeout=5)
        ctx = rt.new_context()
        ctx.globals["closeall"] = lambda: rt.close()
        try:
            ctx.eval("closeall(); for (;;) {}")
        except qjs.ClosedError:
            pass
        else:
            raise SystemExit("no error")
        assert rt.closed
    """,
    "handle_call": """
        ctx = qjs.Context(timeout=5)
        ctx.globals["closeme"] = lambda: ctx.close()
        f = ctx.eval_handle("() => { closeme(); for (;;) {} }")
        try:
            f()
        except qjs.ClosedError:
            pass
        else:
            raise SystemExit("no error")
        assert ctx.closed and not f.alive
    """,
    "generator_step": """
        ctx = qjs.Context(timeout=5)
        ctx.globals["closeme"] = lambda: ctx.close()
        g = ctx.eval_handle("(function* () { closeme(); for (;;) {} })()")
        try:
            g.resume()
        except qjs.ClosedError:
            pass
        else:
            raise SystemExit("no error")
        assert ctx.closed
    """,
    "eval_handle": """
        ctx = qjs.Context(timeout=5)
        ctx.globals["closeme"] = lambda: ctx.close()
        try:
            ctx.eval_handle("closeme(); ({})")
        except qjs.ClosedError:
            pass
        else:
            raise SystemExit("no error")
    """,
    "async": """
        import asyncio
        async def main():
            ctx = qjs.Context(timeout=5)
            async def closeme():
                ctx.close()
            ctx.globals["closeme"] = closeme
            try:
                await ctx.eval_async("await closeme(); 1")
            except qjs.ClosedError:
                pass
        asyncio.run(main())
    """,
}


@pytest.mark.parametrize("case", sorted(CLOSE_FROM_INSIDE))
def test_host_function_closes_its_own_context(run_child, case):
    child_ok(run_child, "import qjs\n" + __import__("textwrap").dedent(CLOSE_FROM_INSIDE[case])
             + "\nprint('ok')\n")


def test_reentrant_eval_under_outer_deadline_nested():
    with qjs.Context(timeout=0.3) as ctx:
        ctx.globals["inner"] = lambda depth: ctx.eval(
            "for (;;) {}" if depth == 0 else f"inner({depth - 1})", timeout=60)
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("try { inner(5) } catch (e) {} for (;;) {}")
        assert time.monotonic() - t0 < BOUND
        spin = ctx.eval_handle("() => inner(2)")
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            spin()
        assert time.monotonic() - t0 < BOUND
        spin.dispose()
        assert ctx.eval("1 + 1") == 2


class OddError(Exception):
    def __str__(self):
        raise RuntimeError("str() of this exception fails")


class HugeMessage(Exception):
    def __str__(self):
        return "m" * (64 * MiB)


@pytest.mark.parametrize("exc", [ValueError("v"), OddError(), HugeMessage(), type("Ω \u2028 weird", (Exception,), {})()])
def test_host_exceptions_become_js_errors(exc):
    with qjs.Context(memory_limit=16 * MiB, timeout=5) as ctx:
        def boom():
            raise exc

        ctx.globals["boom"] = boom
        got = ctx.eval("try { boom() } catch (e) { [typeof e.name, typeof e.message] }")
        assert got in (["string", "string"], None) or isinstance(got, list)
        with pytest.raises(BaseException) as ei:
            ctx.eval("boom()")
        assert ei.value is exc or isinstance(ei.value, qjs.Error)
        assert ctx.eval("1 + 1") == 2


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_abort_through_catch_finally_and_loops(exc_type):
    with qjs.Context(timeout=5) as ctx:
        def stop():
            raise exc_type()

        ctx.globals["stop"] = stop
        t0 = time.monotonic()
        with pytest.raises(exc_type):
            ctx.eval("for (;;) { try { stop() } catch (e) {} finally { try { stop() } catch (e) {} } }")
        assert time.monotonic() - t0 < BOUND
        assert ctx.eval("1 + 1") == 2


def test_cycles_both_ways():
    with qjs.Context() as ctx:
        a = [1]
        a.append(a)
        d = {}
        d["self"] = {"back": d}
        with ctx.eval_handle("(x) => x") as ident:
            for v in (a, d):
                with pytest.raises(ValueError):
                    ident(v)
        ctx.globals["cyc"] = lambda: a
        assert ctx.eval("try { cyc(); 'no' } catch (e) { e.name }") in ("ValueError", "TypeError")
        with pytest.raises(ValueError):
            ctx.eval("{ const o = {}; o.o = [o]; o }")
        # a DAG is not a cycle
        assert ctx.eval("{ const x = [1]; [x, x, { x }] }") == [[1], [1], {"x": [1]}]


def test_huge_ints():
    with qjs.Context(memory_limit=64 * MiB, timeout=5) as ctx:
        ctx.globals["big"] = lambda: 2 ** 100000
        assert ctx.eval("big() === 2n ** 100000n") is True
        assert ctx.eval("-(2n ** 100000n)") == -(2 ** 100000)
        with ctx.eval_handle("(x) => typeof x") as t:
            assert t(2 ** 100000) == "bigint"
            assert t(2 ** 53 - 1) == "number"
            assert t(2 ** 53) == "bigint"
            try:
                r = t(1 << (1 << 30))  # 128 MiB of digits against a 64 MiB limit
            except (OverflowError, MemoryError, qjs.Error):
                pass
            else:
                assert r == "bigint"
        assert ctx.eval("1 + 1") == 2


def test_nan_negative_zero_infinity_roundtrip():
    with qjs.Context() as ctx:
        with ctx.eval_handle("(x) => [x, Object.is(x, -0), Number.isNaN(x)]") as f:
            v, negz, isnan = f(-0.0)
            assert negz and math.copysign(1, v) == -1
            v, _, isnan = f(math.nan)
            assert isnan and math.isnan(v)
            assert f(math.inf)[0] == math.inf
        assert ctx.eval("[NaN, -0, -Infinity]")[2] == -math.inf


def test_bytes_like_values():
    with qjs.Context(memory_limit=16 * MiB) as ctx:
        with ctx.eval_handle("(x) => [x.constructor.name, x.length, Array.from(x)]") as f:
            assert f(b"") == ["Uint8Array", 0, []]
            assert f(bytearray(b"\x00\xff")) == ["Uint8Array", 2, [0, 255]]
            try:
                r = f(memoryview(b"abcdef")[::2])
            except (TypeError, ValueError, BufferError):
                pass
            else:
                assert r[2] == [97, 99, 101]
            assert f(memoryview(b"xyz"))[1] == 3
        assert ctx.eval("new Uint8Array([1, 2, 3]).subarray(1)") == b"\x02\x03"
        assert ctx.eval("new ArrayBuffer(8)") == bytes(8)
        assert ctx.eval("{ const b = new ArrayBuffer(8); b.transfer(); b }") == b""  # detached


def test_surrogates_everywhere():
    with qjs.Context() as ctx:
        assert ctx.eval("'\\ud800' + 'x' + '\\udfff'") == "\ud800x\udfff"
        assert ctx.eval("({ ['\\ud800']: 1 })") == {"\ud800": 1}
        with ctx.eval_handle("(s) => [s.length, s.charCodeAt(0)]") as f:
            assert f("\udc00") == [1, 0xDC00]
            assert f("\U0001F600") == [2, 0xD83D]
        try:
            r = ctx.eval("'\ud800'.length")
        except (UnicodeError, ValueError, qjs.JSError):
            pass
        else:
            assert r in (1, 3)
        ctx.globals["\ud800"] = 1  # a lone surrogate as a property name
        assert ctx.eval("1 + 1") == 2


def test_65536_arguments_both_ways():
    with qjs.Context(timeout=5) as ctx:
        ctx.globals["h"] = lambda *a: len(a)
        try:
            n = ctx.eval("h(...new Array(65536).fill(1))")
        except qjs.JSError as e:
            assert e.name == "RangeError"  # the engine caps a call at 65535 arguments
        else:
            assert n == 65536
        assert ctx.eval("h(...new Array(65535).fill(1))") == 65535
        expect(ctx, "h.apply(null, { length: 2 ** 32 - 1 })", qjs.JSError)
        with ctx.eval_handle("(...a) => a.length") as f:
            assert f(*range(65536)) == 65536
            try:
                f(*range(1_000_000))
            except (qjs.JSError, ValueError, OverflowError):
                pass


def test_hostile_this_and_construct():
    with qjs.Context(timeout=0.5) as ctx:
        seen = []
        ctx.globals["h"] = lambda *a: seen.append(a) or len(a)
        assert ctx.eval("h.call(new Proxy({}, { get() { for (;;) {} } }), 1)") == 1
        assert ctx.eval("h.apply(Object.create(null), [1, 2])") == 2
        assert ctx.eval("Reflect.apply(h, Symbol(), [])") == 0
        r = ctx.eval("try { new h(); 'constructed' } catch (e) { e.name }")
        assert r in ("constructed", "TypeError")
        with ctx.eval_handle("(function () { 'use strict'; return typeof this })") as f:
            with ctx.eval_handle("new Proxy({}, { get() { for (;;) {} } })") as p:
                assert f.call(this=p) == "object"
                assert f.call(this=1) == "number"
        assert ctx.eval("1 + 1") == 2


def test_calls_from_other_threads_are_serialised():
    with qjs.Context(timeout=0.5) as ctx:
        ctx.eval("globalThis.n = 0")
        errors = []
        with ctx.eval_handle("() => { for (let i = 0; i < 1000; i++) n++; return n }") as inc:
            def spin():
                try:
                    ctx.eval("for (;;) {}")
                except qjs.JSTimeoutError:
                    pass
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)

            def work():
                try:
                    for _ in range(50):
                        inc()
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)

            threads = [threading.Thread(target=spin)] + [threading.Thread(target=work) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert ctx.eval("n") == 4 * 50 * 1000


def test_runtime_closed_from_another_thread_while_js_runs(run_child):
    child_ok(run_child, """
        import threading, time
        import qjs
        rt = qjs.Runtime()
        ctx = rt.new_context()
        out = {}

        def run():
            try:
                ctx.eval("for (;;) {}")
            except BaseException as e:
                out["exc"] = e

        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.3)
        rt.close()
        t.join(10)
        assert not t.is_alive(), "JS kept running after close()"
        assert isinstance(out.get("exc"), (qjs.ClosedError, qjs.InterruptedError)), repr(out.get("exc"))
        print("ok")
    """)


def test_interpreter_shutdown_with_live_objects(run_child):
    r = child_ok(run_child, """
        import asyncio, gc, threading
        import qjs
        rt = qjs.Runtime(memory_limit=64 << 20)
        ctx = rt.new_context()
        other = qjs.Context()
        ctx.globals["py"] = lambda *a: a
        keep = [ctx.eval_handle("({ a: [1, 2] })"), ctx.eval_handle("(function* () { yield 1 })()"),
                ctx.eval_handle("new Promise(() => {})"), other.eval_handle("() => 1"),
                ctx.globals, other.globals]
        next(keep[1])
        ctx.eval("Promise.resolve().then(() => 1); new FinalizationRegistry(() => {}).register({}, 1)")
        cyc = {"ctx": ctx}
        cyc["self"] = cyc
        ctx.globals["cycle"] = lambda: cyc
        # a daemon thread still inside JS when the interpreter exits
        spin = qjs.Context()
        threading.Thread(target=lambda: spin.eval("for (;;) {}"), daemon=True).start()
        del cyc
        print("ok")
    """)
    assert "Traceback" not in r.stderr and "Fatal" not in r.stderr, r.stderr[-2000:]


def test_gc_with_live_handles_in_cycles(run_child):
    child_ok(run_child, """
        import gc
        import qjs
        for i in range(200):
            ctx = qjs.Context()
            h = ctx.eval_handle("({})")
            holder = {"h": h, "ctx": ctx}
            ctx.globals["get"] = lambda holder=holder: holder["h"]
            holder["self"] = holder
            del ctx, h, holder
            if i % 50 == 0:
                gc.collect()
        gc.collect()
        assert qjs.live_objects() == {"runtimes": 0, "contexts": 0, "handles": 0}, qjs.live_objects()
        print("ok")
    """)


def test_handles_from_other_contexts_and_runtimes():
    rt = qjs.Runtime()
    try:
        a = rt.new_context()
        b = rt.new_context()
        with qjs.Context() as far:
            hb = b.eval_handle("({ fromB: 1 })")
            hfar = far.eval_handle("({ far: 1 })")
            a.globals["getB"] = lambda: hb
            a.globals["getFar"] = lambda: hfar
            assert a.eval("getB().fromB") == 1
            assert a.eval("try { getFar(); 'no' } catch (e) { e.name }") in ("ValueError", "TypeError")
            with pytest.raises(ValueError):
                a.globals["far"] = hfar
            hfar.dispose()
            hb.dispose()
    finally:
        rt.close()


# =====================================================================================
# async
# =====================================================================================


def test_never_settling_promise_is_a_deadlock():
    async def main():
        with qjs.Context(timeout=5) as ctx:
            t0 = time.monotonic()
            with pytest.raises(qjs.DeadlockError):
                await ctx.eval_async("await new Promise(() => {})")
            with pytest.raises(qjs.DeadlockError):
                await ctx.eval_async("await (async () => { await new Promise(() => {}) })()")
            with ctx.eval_handle("new Promise(() => {})") as p:
                with pytest.raises(qjs.DeadlockError):
                    await p
            assert time.monotonic() - t0 < BOUND
            assert ctx.eval("1 + 1") == 2

    asyncio.run(main())


def test_100000_unhandled_rejections_are_reported_boundedly():
    with qjs.Context(timeout=10) as ctx, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ctx.eval("for (let i = 0; i < 100000; i++) Promise.reject(new Error('r' + i)); 1")
        ctx.runtime.run_jobs()
        assert ctx.eval("1 + 1") == 2
        assert 1 <= len(caught) <= 1000, len(caught)
        seen = []
        ctx.on_unhandled_rejection = seen.append
        ctx.eval("for (let i = 0; i < 100000; i++) Promise.reject(i)")
        ctx.runtime.run_jobs()
        assert 1 <= len(seen) <= 1000, len(seen)
        seen.clear()
        assert ctx.eval("1 + 1") == 2


def test_host_coroutine_that_never_finishes_is_cancelled_at_the_deadline():
    cancelled = []

    async def forever():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main():
        with qjs.Context(timeout=0.3) as ctx:
            ctx.globals["forever"] = forever
            t0 = time.monotonic()
            with pytest.raises(qjs.JSTimeoutError):
                await ctx.eval_async("await forever()")
            assert time.monotonic() - t0 < BOUND
            await asyncio.sleep(0)
            assert ctx.eval("1 + 1") == 2

    asyncio.run(main())
    assert cancelled == [True]


def test_host_coroutine_finishing_after_close():
    problems = []

    async def late():
        try:
            await asyncio.sleep(0.2)
        finally:
            pass
        return {"late": True}

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, c: problems.append(c))
        ctx = qjs.Context(timeout=5)
        ctx.globals["late"] = late
        task = asyncio.ensure_future(ctx.eval_async("await late()"))
        await asyncio.sleep(0.05)
        ctx.close()
        try:
            await asyncio.wait_for(task, 3)
        except (qjs.ClosedError, asyncio.CancelledError):
            pass
        await asyncio.sleep(0.3)

    asyncio.run(main())
    assert problems == []


def test_close_after_the_event_loop_is_gone(run_child):
    """Found by fuzz/fuzz_eval.py: a host coroutine still in flight when asyncio.run()
    ends (JS started it and did not await it); closing the runtime afterwards must not
    raise 'Event loop is closed' (close() never raises) nor leave anything open."""
    child_ok(run_child, """
        import asyncio, gc
        import qjs
        rt = qjs.Runtime(timeout=0.1)
        ctx = rt.new_context()

        async def never():
            await asyncio.Event().wait()

        ctx.globals["never"] = never

        async def main():
            assert await ctx.eval_async("never(); 1") == 1

        asyncio.run(main())
        rt.close()
        assert rt.closed
        gc.collect()
        assert qjs.live_objects() == {"runtimes": 0, "contexts": 0, "handles": 0}, qjs.live_objects()
        print("ok")
    """)


def test_coroutine_raising_base_exception():
    async def main():
        async def bad():
            raise KeyboardInterrupt

        with qjs.Context(timeout=5) as ctx:
            ctx.globals["bad"] = bad
            with pytest.raises((KeyboardInterrupt, qjs.Error)):
                await ctx.eval_async("try { await bad() } catch (e) {} for (;;) {}")
            assert ctx.eval("1 + 1") == 2

    asyncio.run(main())


# =====================================================================================
# escapes and capabilities
# =====================================================================================

STANDARD_GLOBALS = set("""
Object Function Error EvalError RangeError ReferenceError SyntaxError TypeError URIError
InternalError AggregateError SuppressedError Iterator Array parseInt parseFloat isNaN isFinite
queueMicrotask decodeURI decodeURIComponent encodeURI encodeURIComponent escape unescape
Infinity NaN undefined Number Boolean String Math Reflect Symbol eval globalThis Date RegExp JSON
Proxy Map Set WeakMap WeakSet ArrayBuffer SharedArrayBuffer Uint8ClampedArray Int8Array Uint8Array
Int16Array Uint16Array Int32Array Uint32Array BigInt64Array BigUint64Array Float16Array
Float32Array Float64Array DataView Atomics Promise BigInt WeakRef FinalizationRegistry
Performance performance structuredClone navigator DisposableStack AsyncDisposableStack
AsyncIterator Intl WebAssembly
console atob btoa DOMException
""".split())


def test_function_this_is_only_the_sandbox_global():
    with qjs.Context() as ctx:
        ctx.globals["tool"] = lambda: 1
        assert ctx.eval("Function('return this')() === globalThis") is True
        assert ctx.eval("(0, eval)('this') === globalThis") is True
        assert ctx.eval("tool.constructor('return this')() === globalThis") is True
        names = set(ctx.eval("Reflect.ownKeys(globalThis).filter(k => typeof k === 'string')"))
        extra = names - STANDARD_GLOBALS - {"tool"}
        assert not extra, f"unexpected globals: {sorted(extra)}"


CAPABILITIES = ["std", "os", "require", "process", "Deno", "Bun", "fetch", "XMLHttpRequest",
                "setTimeout", "setInterval", "print", "scriptArgs", "module", "exports",
                "__loadScript", "Worker", "importScripts", "WebSocket", "bjson", "__dirname"]


def test_capability_probes_are_undefined():
    with qjs.Context() as ctx:
        got = ctx.eval("[" + ", ".join(f"typeof {n}" for n in CAPABILITIES) + "]")
        assert dict(zip(CAPABILITIES, got)) == {n: "undefined" for n in CAPABILITIES}


def test_dynamic_import_fails_without_a_loader():
    async def main():
        with qjs.Context(timeout=5) as ctx:
            for spec in ("x", "os", "std", "qjs:os", "/etc/passwd", "./a.js", "data:text/javascript,1"):
                with pytest.raises((qjs.JSError, ImportError)):
                    await ctx.eval_async(f"await import({spec!r})")
            with pytest.raises((qjs.JSError, ImportError)):
                ctx.eval("import * as os from 'os'; os.exec(['true'])", module=True)
            got = await ctx.eval_async("await import('x').then(() => 'loaded', e => 'refused')")
            assert got == "refused"
            assert ctx.eval("1 + 1") == 2

    asyncio.run(main())


REACH = """
(root) => {
  const seen = new Set(); const todo = [root];
  while (todo.length) {
    const o = todo.pop();
    if ((typeof o !== 'object' && typeof o !== 'function') || o === null || seen.has(o)) continue;
    seen.add(o);
    todo.push(Object.getPrototypeOf(o));
    for (const k of Reflect.ownKeys(o)) {
      const d = Reflect.getOwnPropertyDescriptor(o, k);
      if (!d) continue;
      todo.push(d.value, d.get, d.set);
    }
  }
  return seen.size;
}
"""


def test_prototype_walks_of_host_functions_reach_nothing_new():
    with qjs.Context() as ctx:
        ctx.globals["hostFn"] = lambda *a: 1
        ctx.globals["converted"] = {"a": [1, {"b": b"x"}]}
        with ctx.eval_handle(REACH) as reach:
            baseline = reach(ctx.eval_handle("Math.max"))
            host = ctx.eval_handle("hostFn")
            assert reach(host) == baseline
            host.dispose()
        assert ctx.eval("Reflect.ownKeys(hostFn)") == ["length", "name"]
        assert ctx.eval("Object.getPrototypeOf(hostFn) === Function.prototype") is True
        assert ctx.eval("hostFn.constructor === Function") is True
        assert ctx.eval("hostFn.__proto__ === Function.prototype") is True
        assert "native code" in ctx.eval("String(hostFn)")
        assert ctx.eval("Object.getPrototypeOf(converted) === Object.prototype") is True
        assert ctx.eval("Object.getPrototypeOf(converted.a[1].b) === Uint8Array.prototype") is True
        assert ctx.eval("Object.getOwnPropertySymbols(hostFn).length") == 0
        r = ctx.eval("try { [typeof hostFn.caller, typeof hostFn.arguments] } catch (e) { e.name }")
        assert r in ("TypeError", ["undefined", "undefined"], ["object", "object"])


def test_host_errors_carry_nothing_python_specific():
    with qjs.Context() as ctx:
        def fails(x):
            raise LookupError(f"no such thing: {x}")

        class Secret:
            def __repr__(self):
                return "<Secret at 0xdeadbeef>"

        def leaks_repr():
            Secret().missing_attribute  # AttributeError mentions the type name only

        ctx.globals["fails"] = fails
        ctx.globals["leaksRepr"] = leaks_repr
        ctx.globals["badReturn"] = lambda: Secret()
        for call in ("fails(1)", "leaksRepr()", "badReturn()"):
            info = ctx.eval(f"""
                try {{ {call}; null }} catch (e) {{
                  ({{ name: e.name, message: e.message, stack: String(e.stack),
                     keys: Reflect.ownKeys(e).map(String), json: JSON.stringify(e),
                     protoKeys: Reflect.ownKeys(Object.getPrototypeOf(e)).map(String),
                     str: String(e) }})
                }}""")
            assert info is not None, call
            blob = repr(info)
            for bad in ("Traceback", ".py", "File \"", "0xdeadbeef", "<Secret", "line ", "__"):
                assert bad not in blob, (call, bad, blob)
            assert set(info["keys"]) <= {"stack", "message", "name", "cause"}, info["keys"]
        info = ctx.eval("try { fails('q') } catch (e) { [e.name, e.message] }")
        assert info == ["LookupError", "no such thing: q"]


@pytest.mark.parametrize("timeout", [None, 2.0])
def test_prepare_stack_trace_cannot_recover_hidden_functions(timeout):
    """Error.prepareStackTrace + CallSite.getFunction() must not hand JS the function
    object of a frame the host never exposed (same context or a sibling context)."""
    rt = qjs.Runtime(timeout=timeout)
    try:
        trusted = rt.new_context(console=False)
        tenant = rt.new_context(console=False)
        trusted.eval("globalThis.SECRET = 'secret'; globalThis.privileged = function privileged(cb) { return cb() }")
        with trusted.eval_handle("privileged") as priv, \
                tenant.eval_handle("(function hiddenInternal(cb) { return cb() })") as hidden:
            tenant.globals["tool"] = lambda cb: priv(cb)
            tenant.globals["api"] = lambda cb: hidden(cb)
            leaked = tenant.eval("""
                const leaked = [];
                try {
                  Error.prepareStackTrace = (e, cs) => {
                    for (const c of cs) { const f = c.getFunction && c.getFunction(); if (f) leaked.push(f) }
                    return 'x' };
                } catch (e) {}
                try { tool(() => { throw new Error('a') }) } catch (e) {}
                try { api(() => { throw new Error('b') }) } catch (e) {}
                try { Error.captureStackTrace({}) } catch (e) {}
                leaked.filter(f => f.name === 'privileged' || f.name === 'hiddenInternal').map(f => f.name)
            """)
            assert leaked == []
            assert tenant.eval("typeof SECRET") == "undefined"
    finally:
        rt.close()


def test_prepare_stack_trace_cannot_swallow_the_deadline(run_child):
    """A prepareStackTrace that loops runs inside the engine's error path; the deadline
    must still end the evaluation (regression: it used to hang forever)."""
    child_ok(run_child, """
        import time
        import qjs
        with qjs.Context(timeout=0.3) as ctx:
            for src in ("try { Error.prepareStackTrace = () => { for (;;) {} } } catch (e) {}"
                        " for (;;) { try { null.x } catch (e) {} }",
                        "try { Error.prepareStackTrace = () => { for (;;) {} } } catch (e) {}"
                        " let n = 0; for (;;) { try { null.x } catch (e) { n++ } finally { continue } }",
                        "try { Error.prepareStackTrace = () => { for (;;) {} } } catch (e) {} null.x"):
                t0 = time.monotonic()
                try:
                    ctx.eval(src)
                except (qjs.JSTimeoutError, qjs.JSError):
                    pass
                assert time.monotonic() - t0 < 3, time.monotonic() - t0
                assert ctx.eval("1 + 1") == 2
        print("ok")
    """, timeout=30)


def test_error_prepare_stack_trace_is_locked():
    with qjs.Context(timeout=1) as ctx:
        ctx.eval("try { Error.prepareStackTrace = () => 'hijacked' } catch (e) {}")
        stack = ctx.eval("new Error('x').stack")
        assert stack != "hijacked"
        assert ctx.eval("try { Object.defineProperty(Error, 'prepareStackTrace', { value: () => 1 }); 'redefined' }"
                        " catch (e) { e.name }") != "redefined"
