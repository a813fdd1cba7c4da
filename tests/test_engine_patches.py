"""The local engine patches (vendor/patches), each seen from Python."""

import os
import sys
import time

import pytest

import qjs


def test_0001_builtin_loops_poll_the_interrupt():
    """0001: Array.prototype.join on a huge array-like ran for minutes past its deadline."""
    with qjs.Context(timeout=0.3) as ctx:
        for src in ("Array.prototype.join.call({length: 2 ** 53 - 1})",
                    "Array.prototype.reverse.call({length: 2 ** 53 - 1})",
                    "Array.prototype.copyWithin.call({length: 2 ** 53 - 1}, 0, 1)"):
            t0 = time.monotonic()
            with pytest.raises(qjs.JSTimeoutError):
                ctx.eval(src)
            assert time.monotonic() - t0 < 3.0, src
        assert ctx.eval("1 + 1") == 2


def test_0002_heavy_builtins_charge_for_their_work():
    """0002: a loop of 16 MB replaceAll calls polled once per ~10 000 bytecode steps."""
    with qjs.Context(timeout=0.3) as ctx:
        ctx.eval("globalThis.s = 'x'.repeat(1 << 24)", timeout=5)
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("for (;;) s.replaceAll('x', 'y')")
        assert time.monotonic() - t0 < 3.0


def test_0003_failed_bigint_pow_gives_its_memory_back():
    """0003: each failed (2n ** 1000000n) ** 100n leaked ~125 KB of the runtime's memory."""
    with qjs.Context(memory_limit=64 << 20, timeout=10) as ctx:
        def attempt():
            with pytest.raises(qjs.JSError):
                ctx.eval("(2n ** 1000000n) ** 100n")
            ctx.runtime.gc()
            return ctx.runtime.memory_usage()["malloc_size"]

        first = attempt()
        for _ in range(20):
            last = attempt()
        assert last - first < 64 << 10, (first, last)


def test_0004_engine_limit_errors_are_told_from_user_errors(ctx):
    """0004: the binding tells engine stack-overflow and OOM errors apart without the text."""
    with pytest.raises(qjs.JSStackOverflowError):
        ctx.eval("function f() { return f() } f()")
    with pytest.raises(qjs.JSStackOverflowError):  # caught and rethrown by JS: still the engine's
        ctx.eval("function g() { return g() } try { g() } catch (e) { throw e }")
    for src, name in [("throw new RangeError('Maximum call stack size exceeded')", "RangeError"),
                      ("throw new InternalError('out of memory')", "InternalError")]:
        with pytest.raises(qjs.JSError) as ei:
            ctx.eval(src)
        assert type(ei.value) is qjs.JSError and ei.value.name == name
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("throw null")
    assert type(ei.value) is qjs.JSError and ei.value.value is None
    with qjs.Context(memory_limit=8 << 20) as small:
        with pytest.raises(qjs.JSMemoryError):
            small.eval("const a = []; for (;;) a.push({x: 1})")


def test_0012_inlined_interrupt_poll_still_stops_every_loop_shape():
    """0012: the interrupt poll, now always inlined, must still run at each backward jump and call."""
    with qjs.Context(timeout=0.2) as ctx:
        for src in ("for (;;) {}",
                    "while (true) ;",
                    "do {} while (1)",
                    "let i = 0; for (;;) i++",
                    "function f() {} for (;;) f()",
                    "function* g() { for (;;) yield 1 } for (const x of g()) ;",
                    "label: for (;;) { for (;;) continue label }"):
            t0 = time.monotonic()
            with pytest.raises(qjs.JSTimeoutError):
                ctx.eval(src)
            assert time.monotonic() - t0 < 3.0, src
        assert ctx.eval("let s = 0; for (let i = 0; i <= 3e4; i++)"
                        " if (i % 3 == 0 || i % 5 == 0 || i % 9 == 0) s += i; s") == 210015000


def test_0013_growing_arenas_keep_blocks_of_every_size_class_intact():
    """0013: arenas now start small and double; every size class must still allocate, keep and free."""
    with qjs.Context() as ctx:
        rt = ctx.runtime
        rt.gc()
        base = rt.memory_usage()["malloc_size"]
        # strings of 1..600 characters and objects of 0..40 properties hit each size class,
        # first in small arenas, then in ones that have grown
        got = ctx.eval("""(() => {
            const keep = [];
            for (let r = 0; r < 40; r++)
                for (let n = 1; n <= 600; n += 7) keep.push('x'.repeat(n) + r);
            const objs = [];
            for (let n = 0; n <= 40; n++) {
                const o = {}; for (let k = 0; k < n; k++) o['p' + k] = k; objs.push(o);
            }
            let ok = true;
            for (let r = 0; r < 40; r++)
                for (let n = 1, j = 0; n <= 600; n += 7, j++)
                    ok = ok && keep[r * 86 + j] === 'x'.repeat(n) + r;
            for (let n = 0; n <= 40; n++) ok = ok && Object.keys(objs[n]).length === n
                && (n === 0 || objs[n]['p' + (n - 1)] === n - 1);
            globalThis.keep = keep; globalThis.objs = objs;
            return [ok, keep.length];
        })()""")
        assert got == [True, 40 * 86]
        assert rt.memory_usage()["malloc_size"] > base + 40 * 86 * 16
        ctx.eval("delete globalThis.keep; delete globalThis.objs")
        rt.gc()
        assert rt.memory_usage()["malloc_size"] < base + (64 << 10)


def test_0013_idle_context_with_its_own_runtime_stays_small(run_child):
    """0013: each fresh runtime left ~60 KB of its 4 KB arenas unused (about 170 KB RSS per Context)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/self/statm")
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("RSS has no meaning under AddressSanitizer (no arenas, redzones)")
    proc = run_child("""
        import gc, os, qjs
        def rss():
            with open('/proc/self/statm') as f:
                return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
        warm = qjs.Context()
        gc.collect()
        r0 = rss()
        keep = [qjs.Context() for _ in range(100)]
        print((rss() - r0) / 100 / 1024)
        for c in keep + [warm]:
            c.close()
    """)
    assert proc.returncode == 0, proc.stderr
    kb = float(proc.stdout.split()[-1])
    assert 0 < kb < 150, kb
