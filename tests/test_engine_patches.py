"""The local engine patches (vendor/patches), each seen from Python."""

import hashlib
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


def _child_ok(run_child, source):
    r = run_child(source, timeout=240.0)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), (
        r.returncode, r.stdout[-2000:], r.stderr[-4000:])


def test_0005_failed_closure_leaves_its_opaque_to_the_caller(run_child):
    """0005: Runtime(memory_limit=99233).new_context() aborted with free(): double free."""
    _child_ok(run_child, """
        import qjs
        for limit in [99233] + list(range(96000, 112000, 61)):
            rt = qjs.Runtime(memory_limit=limit)
            try:
                rt.new_context()
            except qjs.JSMemoryError:
                pass
            rt.close()
        print("ok")
    """)


def test_0006_out_of_memory_stored_in_a_promise_is_still_out_of_memory():
    """0006: OOM in a promise job surfaced as JSError('null') and an unhandled-rejection warning."""
    import asyncio
    import warnings

    async def main():
        with qjs.Context(memory_limit=8 << 20, timeout=60) as ctx:
            with pytest.raises(qjs.JSMemoryError):
                await ctx.eval_async("function l() { return Promise.resolve().then(l) } await l()")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(main())


def test_0007_compiling_at_the_edge_of_the_heap(run_child):
    """0007: eval() near a full 1 MiB heap left bytecode with holes: SIGSEGV in resolve_variables."""
    _child_ok(run_child, """
        import qjs
        ctx = qjs.Context(memory_limit=1 << 20, timeout=60, console=False)
        ctx.eval('''const keep = [];
          try { for (;;) keep.push([0]) } catch (e) { keep.length -= 300 }
          for (let i = 0; i < 400; i++) try { keep.push([0]); eval('{ let a = 1; try { a.b.c } catch (e) { a = [a, e] } }') } catch (e) {}''')
        ctx.close()
        print("ok")
    """)


def test_0008_context_setup_out_of_memory(run_child):
    """0008: a context that failed to allocate its prototypes stayed on the GC list (use after free)."""
    _child_ok(run_child, """
        import qjs
        for limit in range(64 << 10, 112 << 10, 256):
            rt = qjs.Runtime(memory_limit=limit)
            try:
                ctx = rt.new_context(console=False)
                ctx.eval("function f() { return 1 } f()")
            except qjs.JSMemoryError:
                pass
            rt.memory_limit = None
            assert rt.new_context(console=False).eval("(() => 2)()") == 2
            rt.close()
        print("ok")
    """)
def test_0010_throw_hook_reports_the_innermost_frame_once():
    """0010: a thrown primitive was reported again by the caller's frame (build_backtrace rethrew it)."""
    with qjs.Context(capture_locals=True) as ctx:
        with pytest.raises(qjs.JSError) as ei:
            ctx.eval("function f(v) {\n  throw v * 2;\n}\nf(21);\n")
        assert ei.value.value == 42
        assert [(f.function, f.line) for f in ei.value.frames] == [("f", 2), ("", 4)]
        assert ei.value.frames[0].locals == {"v": 21}
        # an engine TypeError has no pc of its own: the hook sees the faulting instruction
        with pytest.raises(qjs.JSError) as ei:
            ctx.eval("function g(o) {\n  let a = 1;\n  return o.x.y;\n}\ng({});\n")
        assert [(f.function, f.line) for f in ei.value.frames] == [("g", 3), ("", 5)]
        # iterator close after a throw inside for-of keeps the first report
        with pytest.raises(qjs.JSError) as ei:
            ctx.eval("function h() {\n  for (const x of [1, 2]) {\n    throw 'in loop ' + x;\n"
                     "  }\n}\nh();\n")
        assert [(f.function, f.line) for f in ei.value.frames] == [("h", 3), ("", 6)]
        assert ei.value.frames[0].locals == {"x": 1}


def test_0011_line_hook_only_in_code_compiled_with_it(ctx):
    """0011: statement lines reach the hook; bytecode of the unpatched engine is refused."""
    seen = []
    ctx.eval("globalThis.quiet = function () {\n  return 1;\n}")
    ctx.runtime.set_line_hook(lambda filename, line: seen.append(line))
    try:
        assert ctx.eval("let a = quiet();\nlet b = a +\n  1;\nb") == 2
    finally:
        ctx.runtime.set_line_hook(None)
    assert seen == [1, 2, 4]
    # the bytecode format version moved with the opcode numbers: data claiming the
    # unpatched engine's version (28) is refused, not misread
    data = ctx.compile("40 + 2").to_bytes()
    assert qjs.Script.from_bytes(ctx.runtime, data).run(ctx) == 42
    n = data[6]
    payload = bytearray(data[7 + n + 16:])
    assert payload[0] == 0x80 | 28
    payload[0] = 28
    forged = data[:7 + n] + hashlib.blake2b(bytes(payload), digest_size=16).digest() + payload
    with pytest.raises(ValueError, match="invalid version"):
        qjs.Script.from_bytes(ctx.runtime, bytes(forged)).run(ctx)
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
