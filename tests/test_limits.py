"""Time, memory and stack limits, and the interrupt handler."""

import time

import pytest

import qjs

MiB = 1 << 20
KiB = 1 << 10

ENDLESS = [
    "while (true) {}",
    "for (;;) { try { for (;;) {} } catch (e) {} }",
    "try { for (;;) {} } finally { for (;;) {} }",
    "for (;;) { try { for (;;) {} } catch (e) {} finally { continue } }",
    "function f() { for (;;) {} } for (;;) { try { f() } catch (e) {} }",
]


@pytest.mark.parametrize("src", ENDLESS)
def test_timeout_is_uncatchable(src):
    with qjs.Context(timeout=0.2) as ctx:
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval(src)
        assert time.monotonic() - t0 < 1.0
        assert ctx.eval("1 + 1") == 2


def test_timeout_error_types():
    with qjs.Context(timeout=0.1) as ctx:
        with pytest.raises(TimeoutError) as ei:
            ctx.eval("while (true) {}")
        e = ei.value
        assert isinstance(e, qjs.JSTimeoutError)
        assert isinstance(e, qjs.InterruptedError)
        assert isinstance(e, qjs.JSError)
        assert isinstance(e, qjs.Error)


def test_timeout_is_per_eval_not_cumulative():
    with qjs.Context(timeout=0.5) as ctx:
        # each eval gets its own deadline: four ~0.15 s evals exceed 0.5 s together
        for _ in range(4):
            assert ctx.eval("{ const t = Date.now(); while (Date.now() - t < 150) {} } 1") == 1
        assert ctx.eval("2 + 2") == 4


def test_eval_timeout_overrides_context():
    with qjs.Context(timeout=30) as ctx:
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("while (true) {}", timeout=0.2)
        assert time.monotonic() - t0 < 1.0
        assert ctx.eval("1 + 1") == 2


def test_context_timeout_overrides_runtime():
    rt = qjs.Runtime(timeout=30)
    try:
        ctx = rt.new_context(timeout=0.2)
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("while (true) {}")
        assert time.monotonic() - t0 < 1.0
    finally:
        rt.close()


def test_runtime_timeout_is_default():
    rt = qjs.Runtime(timeout=0.2)
    try:
        assert rt.timeout == pytest.approx(0.2)
        ctx = rt.new_context()
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("while (true) {}")
        assert time.monotonic() - t0 < 1.0
    finally:
        rt.close()


def test_runtime_timeout_property_is_writable():
    rt = qjs.Runtime()
    try:
        assert rt.timeout is None
        ctx = rt.new_context()
        rt.timeout = 0.2
        assert rt.timeout == pytest.approx(0.2)
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("while (true) {}")
        rt.timeout = None
        assert rt.timeout is None
        assert ctx.eval("let n = 0; for (let i = 0; i < 100000; i++) n += i; n") == 4999950000
        assert ctx.eval("1 + 1") == 2
    finally:
        rt.close()


def test_timeout_covers_handle_calls():
    with qjs.Context(timeout=0.2) as ctx:
        with ctx.eval_handle("(() => { for (;;) {} })") as spin:
            t0 = time.monotonic()
            with pytest.raises(qjs.JSTimeoutError):
                spin()
            assert time.monotonic() - t0 < 1.0


def test_reentrant_eval_stays_under_outer_deadline():
    with qjs.Context(timeout=0.3) as ctx:
        ctx.globals["spinInside"] = lambda: ctx.eval("while (true) {}", timeout=60)
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("spinInside()")
        assert time.monotonic() - t0 < 2.0
        assert ctx.eval("1 + 1") == 2


# --- memory -------------------------------------------------------------------


MEMORY_HOGS = [
    "let s = 'x'; for (;;) s += s",
    "{ const a = []; for (;;) a.push({i: a.length}) }",
    "{ const a = []; for (;;) a.push(new Array(1000).fill(1.5)) }",
    "new ArrayBuffer(64 * 1024 * 1024)",
    "'x'.repeat(64 * 1024 * 1024)",
]


@pytest.mark.parametrize("src", MEMORY_HOGS)
def test_memory_limit(src):
    with qjs.Context(memory_limit=16 * MiB, timeout=20) as ctx:
        with pytest.raises(qjs.JSMemoryError) as ei:
            ctx.eval(src)
        assert isinstance(ei.value, MemoryError)
        assert isinstance(ei.value, qjs.JSError)
        assert ctx.eval("1 + 1") == 2
        assert ctx.eval("[1, 2, 3].map(x => x * 2)") == [2, 4, 6]


def test_memory_limit_property():
    rt = qjs.Runtime(memory_limit=16 * MiB)
    try:
        assert rt.memory_limit == 16 * MiB
        rt.memory_limit = 32 * MiB
        assert rt.memory_limit == 32 * MiB
        rt.memory_limit = None
        assert rt.memory_limit is None
        ctx = rt.new_context()
        assert ctx.eval("'x'.repeat(20 * 1024 * 1024).length") == 20 * MiB
    finally:
        rt.close()


def test_memory_limit_set_later_applies():
    rt = qjs.Runtime()
    try:
        ctx = rt.new_context(timeout=20)
        rt.memory_limit = 16 * MiB
        with pytest.raises(qjs.JSMemoryError):
            ctx.eval("let s = 'x'; for (;;) s += s")
        assert ctx.eval("1 + 1") == 2
    finally:
        rt.close()


# --- stack ----------------------------------------------------------------------


RECURSION = "function f() { return f() + 1 } f()"


def test_stack_limit():
    with qjs.Context(stack_limit=256 * KiB, timeout=20) as ctx:
        with pytest.raises(qjs.JSStackOverflowError) as ei:
            ctx.eval(RECURSION)
        assert isinstance(ei.value, RecursionError)
        assert isinstance(ei.value, qjs.JSError)
        assert ctx.eval("1 + 1") == 2
        assert ctx.eval("function g(n) { return n ? g(n - 1) + 1 : 0 } g(100)") == 100


def test_stack_overflow_with_default_limits(ctx):
    with pytest.raises(qjs.JSStackOverflowError):
        ctx.eval(RECURSION)
    assert ctx.eval("1 + 1") == 2


def test_stack_overflow_is_catchable_in_js():
    with qjs.Context(stack_limit=256 * KiB, timeout=20) as ctx:
        r = ctx.eval("function f() { return f() + 1 } try { f() } catch (e) { 'caught ' + e.name }")
        assert r.startswith("caught ")


def test_stack_limit_property():
    rt = qjs.Runtime(stack_limit=256 * KiB)
    try:
        assert rt.stack_limit == 256 * KiB
        rt.stack_limit = 512 * KiB
        assert rt.stack_limit == 512 * KiB
        ctx = rt.new_context(timeout=20)
        with pytest.raises(qjs.JSStackOverflowError):
            ctx.eval(RECURSION)
    finally:
        rt.close()


def test_default_limits_are_none_or_int():
    rt = qjs.Runtime()
    try:
        assert rt.memory_limit is None
        assert rt.timeout is None
        assert rt.stack_limit is None or isinstance(rt.stack_limit, int)
    finally:
        rt.close()


def test_host_recursion_through_js_overflows_cleanly(run_child):
    """Regression: unbounded JS -> Python -> JS recursion must end in a clean error, not a crash."""
    source = """
import qjs

with qjs.Context(stack_limit=256 << 10, timeout=20) as ctx:
    ctx.globals["again"] = lambda: ctx.eval("again()")
    try:
        ctx.eval("again()")
    except (RecursionError, qjs.JSError):
        pass
    else:
        raise SystemExit("no error")
    assert ctx.eval("1 + 1") == 2
print("ok")
"""
    r = run_child(source)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.strip() == "ok"


def test_stack_overflow_on_small_thread_stack(run_child):
    """Regression: recursion on a 512 KiB thread stack must raise, not segfault."""
    source = """
import threading
import qjs

threading.stack_size(512 << 10)
result = {}

def run():
    ctx = qjs.Context(timeout=20)
    try:
        ctx.eval('function f() { return f() + 1 } f()')
    except BaseException as e:
        result["exc"] = e
    result["after"] = ctx.eval("1 + 1")
    ctx.close()

t = threading.Thread(target=run)
t.start()
t.join()
assert isinstance(result.get("exc"), qjs.JSStackOverflowError), repr(result.get("exc"))
assert result["after"] == 2
print("ok")
"""
    r = run_child(source)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stdout.strip() == "ok"


def test_stack_overflow_on_small_thread_stack_context_made_elsewhere(run_child):
    """Regression: a context created on the main thread, recursing on a small-stack thread, must not segfault."""
    source = """
import threading
import qjs

ctx = qjs.Context(timeout=20)
threading.stack_size(512 << 10)
result = {}

def run():
    try:
        ctx.eval('function f() { return f() + 1 } f()')
    except BaseException as e:
        result["exc"] = e

t = threading.Thread(target=run)
t.start()
t.join()
assert isinstance(result.get("exc"), qjs.JSStackOverflowError), repr(result.get("exc"))
assert ctx.eval("1 + 1") == 2
with qjs.Context(timeout=20) as main_ctx:
    try:
        main_ctx.eval('function f() { return f() + 1 } f()')
    except qjs.JSStackOverflowError:
        pass
ctx.close()
print("ok")
"""
    r = run_child(source)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stdout.strip() == "ok"


# --- interrupt handler ----------------------------------------------------------


def test_interrupt_handler_truthy_interrupts():
    rt = qjs.Runtime()
    try:
        calls = []

        def handler():
            calls.append(1)
            return len(calls) >= 3

        rt.set_interrupt_handler(handler)
        ctx = rt.new_context(timeout=20)
        with pytest.raises(qjs.InterruptedError) as ei:
            ctx.eval("for (;;) { try { for (;;) {} } catch (e) {} }")
        assert not isinstance(ei.value, qjs.JSTimeoutError)
        assert not isinstance(ei.value, TimeoutError)
        assert len(calls) >= 3
        rt.set_interrupt_handler(None)
        assert ctx.eval("let n = 0; for (let i = 0; i < 300000; i++) n++; n") == 300000
    finally:
        rt.close()


def test_interrupt_handler_falsy_lets_js_finish():
    rt = qjs.Runtime()
    try:
        calls = []
        rt.set_interrupt_handler(lambda: calls.append(1))
        ctx = rt.new_context(timeout=20)
        assert ctx.eval("let n = 0; for (let i = 0; i < 2000000; i++) n++; n") == 2000000
        assert calls, "the handler should have been polled during a long loop"
    finally:
        rt.close()


def test_interrupt_handler_and_timeout_coexist():
    rt = qjs.Runtime()
    try:
        rt.set_interrupt_handler(lambda: False)
        ctx = rt.new_context(timeout=0.2)
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("while (true) {}")
        assert time.monotonic() - t0 < 1.0
    finally:
        rt.close()
