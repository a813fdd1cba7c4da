"""Running out of memory anywhere: a clean JSMemoryError, never a crash or a wrong type.

Crash-class cases run in a child interpreter. ci/oom-sweep.sh runs the long version
(every limit from 64 KiB to 2 MiB under ASan); test_short_sweep runs a few limits.
"""

from __future__ import annotations

import asyncio
import importlib.util
import pathlib
import sys
import warnings

import pytest

import qjs

from conftest import child_env

ROOT = pathlib.Path(__file__).resolve().parent.parent


def child_ok(run_child, source, timeout=240.0):
    r = run_child(source, timeout=timeout)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])
    assert r.stdout.strip().endswith("ok"), (r.stdout[-2000:], r.stderr[-2000:])
    return r


# -- compiling at the edge of the heap (patch 0007) ---------------------------------

def test_eval_at_the_edge_of_a_full_heap(run_child):
    """eval() near a full heap left bytecode with holes: resolve_variables read garbage, SIGSEGV."""
    child_ok(run_child, """
        import qjs
        ctx = qjs.Context(memory_limit=1 << 20, timeout=60, console=False)
        ctx.eval('''const keep = [];
          try { for (;;) keep.push([0]) } catch (e) { keep.length -= 300 }
          for (let i = 0; i < 400; i++) try { keep.push([0]); eval('{ let a = 1; try { a.b.c } catch (e) { a = [a, e] } }') } catch (e) {}''')
        ctx.runtime.memory_limit = None
        assert ctx.eval("1 + 1") == 2
        ctx.close()
        print("ok")
    """)


FILL_THEN_COMPILE = """
const keep = [];
try { for (;;) keep.push([0]) } catch (e) { keep.length = Math.max(0, keep.length - %d) }
let done = 0;
for (let i = 0; i < 200; i++) try { keep.push([0]); (0, eval)(%s); done++ } catch (e) {}
done
"""

COMPILED = [
    "class A { #p = 1; static s = 2; static { this.t = 3 } #m() {} get p() { return this.#p } }; new A().p",
    "switch (Math.random() > 2 ? 1 : 2) { case 1: 'a'; break; default: 'd'; case 3: 'c' }",
    "(function f(a, {b, c = [a]} = {}, ...r) { let x = `t${a}`; return () => x + b + c + r })(1)()",
    "async function* g() { for await (const x of [1]) yield x } g().next()",
]


@pytest.mark.parametrize("code", COMPILED, ids=["class", "switch", "closure", "async-generator"])
def test_compile_at_the_edge_of_a_full_heap(run_child, code):
    """Class fields, switch default and function parsing patched bytecode past a failed write."""
    import json
    src = FILL_THEN_COMPILE % (200, json.dumps(code))
    child_ok(run_child, f"""
        import qjs
        for limit in (256 << 10, 300 << 10, 1 << 20):
            ctx = qjs.Context(memory_limit=limit, timeout=60, console=False)
            try:
                ctx.eval({src!r})
            except qjs.JSMemoryError:
                pass
            ctx.runtime.memory_limit = None
            assert ctx.eval("[1, 2].map(x => x + 1).join()") == "2,3"
            ctx.close()
        print("ok")
    """)


def test_module_then_error_stack_under_small_limits(run_child):
    """A module compiled out of memory left state that made new Error().stack crash."""
    child_ok(run_child, """
        import qjs
        for limit in range(96000, 112000, 128):
            rt = qjs.Runtime(memory_limit=limit)
            try:
                ctx = rt.new_context(console=False)
            except MemoryError:
                rt.close()
                continue
            for src in ("export const x = 1", "new Error('x').stack"):
                try:
                    ctx.eval(src, module=src.startswith("export"))
                except qjs.JSMemoryError:
                    pass
            rt.memory_limit = None
            assert ctx.eval("new Error('y').stack").startswith("    at")
            rt.close()
        print("ok")
    """)


# -- creating contexts and host functions (patches 0005, 0008) -----------------------

def test_new_context_under_every_small_limit(run_child):
    """Runtime(memory_limit=99233).new_context(): free(): double free when a closure name failed."""
    child_ok(run_child, """
        import qjs
        made = refused = 0
        for limit in list(range(64 << 10, 160 << 10, 97)) + [99233]:
            rt = qjs.Runtime(memory_limit=limit)
            try:
                ctx = rt.new_context()
            except qjs.JSMemoryError:
                refused += 1
            else:
                made += 1
                for i in range(5):
                    try:
                        ctx.function(lambda x=0: x, name="f%d" % i)
                        ctx.eval("f%d(1)" % i)
                    except qjs.JSMemoryError:
                        pass
            rt.memory_limit = None
            assert rt.new_context(console=False).eval("1 + 1") == 2
            rt.close()
        assert made and refused, (made, refused)
        print("ok")
    """)


def test_tenant_filling_a_shared_runtime_then_a_sibling_context(run_child):
    """A tenant filling a shared runtime made a sibling's new_context() double free."""
    child_ok(run_child, """
        import qjs
        rt = qjs.Runtime(memory_limit=2 << 20)
        a = rt.new_context(console=False)
        a.eval("globalThis.keep = []; try { for (;;) keep.push([0]) } catch (e) { keep.length -= 100 }")
        for _ in range(20):
            try:
                b = rt.new_context()
            except MemoryError:
                pass
            else:
                b.close()
        a.eval("keep.length = 0")
        rt.gc()
        b = rt.new_context()
        b.function(lambda: 7, name="seven")
        assert b.eval("seven()") == 7
        assert a.eval("keep.push(1)") == 1
        rt.close()
        print("ok")
    """)


def test_host_function_creation_out_of_memory():
    """ctx.function() when the heap is full: JSMemoryError, the context stays usable."""
    with qjs.Context(memory_limit=1 << 20, console=False) as ctx:
        release = ctx.eval_handle("globalThis.keep = []; () => { keep.length = 0 }")
        ctx.eval("try { for (;;) keep.push([0]) } catch (e) {}")
        failures = 0
        for i in range(50):
            try:
                ctx.function(lambda: i, name="function_with_a_long_name_%d" % i)
            except qjs.JSMemoryError:
                failures += 1
        assert failures
        release()
        release.dispose()
        ctx.function(lambda: 3, name="three")
        assert ctx.eval("three()") == 3


# -- out of memory seen through promises, modules, generators (patch 0006) -----------

PROMISE_LOOP = "function l() { return Promise.resolve().then(l) } await l()"


def test_eval_async_out_of_memory_is_a_memory_error():
    """OOM in promise jobs raised JSError('null') and warned 'unhandled promise rejection: null'."""
    async def main():
        with qjs.Context(memory_limit=8 << 20, timeout=60) as ctx:
            with pytest.raises(qjs.JSMemoryError):
                await ctx.eval_async(PROMISE_LOOP)
            with pytest.raises(qjs.JSMemoryError):
                await ctx.eval_async(PROMISE_LOOP, module=True)
            ctx.runtime.gc()
            assert await ctx.eval_async("await Promise.resolve(5)") == 5

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(main())


def test_async_generator_out_of_memory_is_a_memory_error():
    """An async generator that runs out of memory rejects with a memory error, not null."""
    async def main():
        with qjs.Context(memory_limit=4 << 20, timeout=60) as ctx:
            with pytest.raises(qjs.JSMemoryError):
                await ctx.eval_async("""
                    async function* g() { const a = []; for (;;) { a.push([0]); yield a.length } }
                    for await (const n of g()) {}""")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(main())


def test_promise_jobs_lost_to_out_of_memory_are_a_memory_error():
    """A job the engine could not queue left its promise pending: DeadlockError, not OOM."""
    sweep = _load_sweep()
    outcomes = set()

    async def one(limit):
        rt = qjs.Runtime(memory_limit=limit)
        try:
            ctx = rt.new_context(console=False, timeout=60)
            await ctx.eval_async(sweep.ASYNC)
            outcomes.add("ok")
        except qjs.JSMemoryError:
            outcomes.add("oom")
        finally:
            rt.close()

    async def main():
        for limit in range(100000, 110000, 64):
            await one(limit)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        asyncio.run(main())
    assert "oom" in outcomes


def test_proxy_revocable_out_of_memory():
    """Proxy.revocable() out of memory returned an object without revoke: TypeError."""
    for limit in range(104000, 116000, 16):
        rt = qjs.Runtime(memory_limit=limit)
        try:
            ctx = rt.new_context(console=False)
            ctx.eval("const {proxy, revoke} = Proxy.revocable({}, {}); revoke(); typeof proxy")
        except qjs.JSMemoryError:
            pass
        finally:
            rt.close()


def test_json_and_templates_out_of_memory_leak_nothing():
    """JSON.stringify([{}]) and a tagged template out of memory leaked the realm."""
    tried = 0
    for limit in range(98000, 130000, 16):
        rt = qjs.Runtime(memory_limit=limit)
        try:
            ctx = rt.new_context(console=False)
        except qjs.JSMemoryError:
            rt.close()
            continue
        tried += 1
        try:
            ctx.eval("JSON.stringify([{}, [{a: [1]}]], null, 1) + String.raw`a${1}b`")
        except qjs.JSMemoryError:
            pass
        ctx.close()
        rt.gc()
        left = rt.memory_usage()["obj_count"]
        rt.close()
        assert left == 0, (limit, left)
    assert tried


def test_module_out_of_memory_while_compiling_is_a_memory_error():
    """A module compiled out of memory raised JSError('') with value None."""
    with qjs.Context(memory_limit=1 << 20, console=False) as ctx:
        release = ctx.eval_handle("globalThis.keep = []; (n) => { keep.length = Math.max(0, keep.length - n) }")
        ctx.eval("try { for (;;) keep.push([0]) } catch (e) { keep.length -= 50 }")
        src = "export const xs = [" + ", ".join(f"{{k{i}: {i}}}" for i in range(300)) + "]"
        kinds = set()
        for n in range(200):
            try:
                ctx.eval(src, module=True)
                kinds.add("ok")
            except qjs.JSError as e:
                kinds.add(type(e).__name__)
            release(10)
        release.dispose()
        assert kinds <= {"ok", "JSMemoryError"}, kinds
        assert "JSMemoryError" in kinds


def test_js_catches_an_error_not_null_when_out_of_memory():
    """JS code that caught an allocation failure got null instead of an error."""
    with qjs.Context(memory_limit=1 << 20, console=False) as ctx:
        seen = ctx.eval("""
            const a = [], seen = new Set();
            for (let i = 0; i < 30; i++) {
              try { for (;;) a.push([0]) } catch (e) { a.length -= 50; seen.add(e === null ? 'null' : e.name + ': ' + e.message) }
            }
            a.length = 0;
            [...seen]""")
        assert seen == ["InternalError: out of memory"]


# -- the sweep, briefly ---------------------------------------------------------------

def _load_sweep():
    spec = importlib.util.spec_from_file_location("oom_sweep", ROOT / "ci" / "oom_sweep.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not (ROOT / "ci" / "oom_sweep.py").exists(), reason="needs the source tree")
def test_short_sweep():
    """ci/oom_sweep.py over a few limits: every case succeeds or raises JSMemoryError."""
    sweep = _load_sweep()
    limits = [72 << 10, 100000, 104000, 110000, 150000, 400000, 1 << 20]
    log = []
    stats = sweep.sweep(sweep.ALL_PROGRAMS, limits, batch=400, python=sys.executable,
                        log=log.append, env=child_env())
    assert stats["cases"] == len(limits) * len(sweep.ALL_PROGRAMS)
    assert not stats["crashes"] and not stats["bad"], log
    assert stats["ok"] and stats["oom"]
