"""Closing, disposing, garbage collection and weak references."""

import gc
import weakref

import pytest

import qjs


def live():
    gc.collect()
    return qjs.live_objects()


# --- close ----------------------------------------------------------------------


def test_runtime_close_closes_contexts_and_handles():
    rt = qjs.Runtime()
    ctx = rt.new_context()
    h = ctx.eval_handle("({a: 1})")
    g = ctx.globals
    rt.close()
    assert not h.alive
    with pytest.raises(qjs.ClosedError):
        ctx.eval("1")
    with pytest.raises(qjs.ClosedError):
        ctx.eval_handle("1")
    with pytest.raises(qjs.ClosedError):
        h["a"]
    with pytest.raises(qjs.ClosedError):
        h.to_python()
    with pytest.raises(qjs.ClosedError):
        g["x"] = 1
    with pytest.raises(qjs.ClosedError):
        rt.new_context()
    with pytest.raises(qjs.ClosedError):
        rt.memory_usage()
    with pytest.raises(qjs.ClosedError):
        rt.run_jobs()
    with pytest.raises(qjs.ClosedError):
        rt.gc()
    h.dispose()  # disposing after close is harmless
    rt.close()  # closing twice is a no-op


def test_closed_error_is_runtime_error():
    rt = qjs.Runtime()
    rt.close()
    with pytest.raises(RuntimeError):
        rt.new_context()


def test_context_close():
    ctx = qjs.Context()
    h = ctx.eval_handle("[1]")
    ctx.close()
    assert not h.alive
    with pytest.raises(qjs.ClosedError):
        ctx.eval("1")
    with pytest.raises(qjs.ClosedError):
        ctx.globals["x"] = 1
    with pytest.raises(qjs.ClosedError):
        h.to_python()
    ctx.close()


def test_owned_runtime_closed_with_context():
    ctx = qjs.Context()
    rt = ctx.runtime
    assert isinstance(rt, qjs.Runtime)
    ctx.close()
    with pytest.raises(qjs.ClosedError):
        rt.new_context()


def test_shared_runtime_survives_context_close():
    rt = qjs.Runtime()
    try:
        ctx = qjs.Context(runtime=rt)
        ctx.close()
        other = rt.new_context()
        assert other.eval("1 + 1") == 2
        ctx2 = rt.new_context()
        ctx2.close()
        assert other.eval("2 + 2") == 4
    finally:
        rt.close()


def test_context_manager():
    with qjs.Context() as c:
        assert c.eval("1 + 1") == 2
    with pytest.raises(qjs.ClosedError):
        c.eval("1")


def test_context_manager_closes_on_exception():
    with pytest.raises(ZeroDivisionError):
        with qjs.Context() as c:
            1 / 0
    with pytest.raises(qjs.ClosedError):
        c.eval("1")


def test_live_objects_return_after_close():
    before = live()
    rt = qjs.Runtime()
    ctxs = [rt.new_context() for _ in range(3)]
    handles = [c.eval_handle("({})") for c in ctxs for _ in range(5)]
    during = qjs.live_objects()
    assert during["runtimes"] == before["runtimes"] + 1
    assert during["contexts"] == before["contexts"] + 3
    assert during["handles"] >= before["handles"] + 15
    rt.close()
    assert qjs.live_objects() == before
    del ctxs, handles


# --- handles and GC --------------------------------------------------------------


def test_unreferenced_handle_is_freed(ctx):
    before = live()
    h = ctx.eval_handle("({})")
    assert qjs.live_objects()["handles"] == before["handles"] + 1
    del h
    assert live()["handles"] == before["handles"]


def test_converted_results_do_not_leak_handles(ctx):
    before = live()
    for _ in range(50):
        ctx.eval("[() => 1, {f: () => 2}, new Map()]")
    assert live()["handles"] == before["handles"]


def test_handle_keeps_its_context_alive():
    h = qjs.Context().eval_handle("({a: 1})")
    gc.collect()
    assert h.alive
    assert h["a"] == 1
    del h


def test_context_keeps_its_runtime_alive():
    ctx = qjs.Runtime().new_context()
    gc.collect()
    assert ctx.eval("40 + 2") == 42
    del ctx


def test_weakrefs():
    rt = qjs.Runtime()
    ctx = rt.new_context()
    h = ctx.eval_handle("({})")
    refs = [weakref.ref(rt), weakref.ref(ctx), weakref.ref(h)]
    assert all(r() is not None for r in refs)
    del rt, ctx, h
    gc.collect()
    assert all(r() is None for r in refs)


def test_context_reachable_only_from_its_host_function_is_collected():
    before = live()
    ctx = qjs.Context()
    ctx.globals["f"] = lambda: ctx
    assert ctx.eval("typeof f") == "function"
    ref = weakref.ref(ctx)
    del ctx
    gc.collect()
    assert ref() is None
    assert live() == before


def test_cycle_through_handle_and_host_function_is_collected():
    before = live()
    ctx = qjs.Context()
    h = ctx.eval_handle("globalThis.store = {}; store")

    def keep():
        return h

    h["keep"] = keep
    ref = weakref.ref(ctx)
    del ctx, h, keep
    gc.collect()
    assert ref() is None
    assert live() == before


def test_host_function_freed_with_context():
    class Marker:
        def __call__(self):
            return 1

    m = Marker()
    mref = weakref.ref(m)
    ctx = qjs.Context()
    ctx.globals["m"] = m
    del m
    gc.collect()
    assert mref() is not None  # JS still references it
    ctx.close()
    gc.collect()
    assert mref() is None


def test_dealloc_order_does_not_crash(run_child):
    """Regression: handles and contexts outliving (or freed after) their runtime's close must not crash."""
    source = """
import gc
import qjs

# handles kept past runtime close, then dropped in various orders
rt = qjs.Runtime()
ctx = rt.new_context()
hs = [ctx.eval_handle("({i: %d})" % i) for i in range(10)]
g = ctx.globals
rt.close()
del rt
gc.collect()
del ctx
gc.collect()
hs[0].dispose()
del hs, g
gc.collect()

# runtime dropped first while handles and contexts still referenced
ctx = qjs.Runtime().new_context()
h = ctx.eval_handle("[1, 2, 3]")
del ctx
gc.collect()
assert h.to_python() == [1, 2, 3]
del h
gc.collect()

# JS value cycles and host functions at close
ctx = qjs.Context()
ctx.globals["f"] = lambda: 1
ctx.eval("const a = {}; const b = {a}; a.b = b; globalThis.keep = [a, b, f]; 0")
h = ctx.eval_handle("keep")
ctx.close()
del h, ctx
gc.collect()

# objects still alive at interpreter shutdown
leftover_rt = qjs.Runtime()
leftover_ctx = leftover_rt.new_context()
leftover_h = leftover_ctx.eval_handle("({x: [1, 2]})")
leftover_ctx.globals["cb"] = lambda: leftover_h
print("ok")
"""
    r = run_child(source)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.strip() == "ok"


# --- runtime utilities ------------------------------------------------------------


def test_memory_usage(rt):
    usage = rt.memory_usage()
    assert isinstance(usage, dict)
    for key in ("malloc_size", "memory_used_size", "obj_count"):
        assert isinstance(usage[key], int), key
    assert all(isinstance(v, int) for v in usage.values())
    ctx = rt.new_context()
    ctx.eval("globalThis.big = Array.from({length: 10000}, (_, i) => ({i}))")
    after = rt.memory_usage()
    assert after["obj_count"] > usage["obj_count"] + 5000
    assert after["memory_used_size"] > usage["memory_used_size"]


def test_gc_collects_js_cycles(rt):
    ctx = rt.new_context()
    rt.gc()
    after = rt.memory_usage()["obj_count"]
    ctx.eval(
        "globalThis.hold = Array.from({length: 5000}, () => { const a = {}; a.self = a; return a }); 0"
    )
    held = rt.memory_usage()["obj_count"]
    assert held >= after + 5000
    ctx.eval("hold = null")
    rt.gc()
    assert rt.memory_usage()["obj_count"] < held - 4000


def test_promise_jobs(ctx):
    rt = ctx.runtime
    ctx.eval("globalThis.r = 0; Promise.resolve(42).then(v => r = v)")
    pending = rt.has_pending_jobs
    assert isinstance(pending, bool)
    ran = rt.run_jobs()
    assert isinstance(ran, int)
    assert ran >= (1 if pending else 0)
    assert rt.has_pending_jobs is False
    assert ctx.eval("r") == 42
    assert rt.run_jobs() == 0


def test_run_jobs_max_jobs(ctx):
    rt = ctx.runtime
    ctx.eval(
        "globalThis.steps = [];"
        "Promise.resolve().then(() => steps.push(1)).then(() => steps.push(2)).then(() => steps.push(3))"
    )
    if rt.has_pending_jobs:
        assert rt.run_jobs(max_jobs=1) == 1
        assert ctx.eval("steps.length") == 1
        assert rt.has_pending_jobs is True
    rt.run_jobs()
    assert ctx.eval("steps") == [1, 2, 3]
    assert rt.has_pending_jobs is False


def test_run_jobs_reports_job_exception(ctx):
    rt = ctx.runtime
    ctx.eval("globalThis.after = false; queueMicrotask(() => { throw new Error('in job') });"
             "Promise.resolve().then(() => { after = true })")
    try:
        rt.run_jobs()
    except qjs.JSError as e:
        assert e.message == "in job"
        rt.run_jobs()
    assert ctx.eval("after") is True
