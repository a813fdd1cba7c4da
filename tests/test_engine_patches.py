"""The local engine patches (vendor/patches), each seen from Python."""

import hashlib
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
