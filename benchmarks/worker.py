"""Benchmark worker: runs one workload for one binding, in this process, and prints JSON.

    python benchmarks/worker.py --binding qjs --workload warm_eval --reps 3

Bindings: ``qjs`` (this project), ``quickjs`` (PetterS/quickjs on PyPI), ``quickjs-ng``
(PyPI ``quickjs-ng``, same API and import name as ``quickjs``), ``mini-racer`` (PyPI
``mini-racer``, import ``py_mini_racer``). Each must be importable by the interpreter
running this script; ``run.py`` picks the right interpreter (one venv per peer).

Output: one JSON object on the last line of stdout::

    {"binding": ..., "workload": ..., "metrics": {"us_per_op": [rep1, rep2, ...], ...},
     "primary": "us_per_op", "info": {...}}

or ``{"binding": ..., "workload": ..., "na": "reason"}`` when the binding cannot run the
workload (no such API, or the API raised). Only the standard library is used here.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import sys
import threading
import time
import traceback

# ---------------------------------------------------------------------------------------
# Shared JS snippets and sizes (the same for every binding).

SIMPLE = "(1+2)*3"
COMPUTE = "let s=0; for (let i=0;i<=3e6;i++) if (i%3==0||i%5==0||i%9==0) s+=i; s"
COMPUTE_RESULT = 2100001500000
# 1000 caught throws, two frames deep, with a few locals in each frame
THROWS_SRC = """(function () {
  function leaf(i) { const a = i * 2, b = 'x' + i, c = [i, a]; throw new Error('e' + b); }
  function mid(i) { let k = i + 1; return leaf(k); }
  let caught = 0;
  for (let i = 0; i < 1000; i++) { try { mid(i); } catch (e) { caught++; } }
  return caught;
})()"""
THROWS_RUNS = 20
JS_TO_PY_CALLS = 100_000
JS_TO_PY_SRC = (
    "(() => { let s = 0; for (let i = 0; i < %d; i++) s += add(i, 1); return s; })()"
    % JS_TO_PY_CALLS
)
JS_TO_PY_RESULT = JS_TO_PY_CALLS * (JS_TO_PY_CALLS + 1) // 2
GEN_SRC = "function* gen() { let i = 0; while (true) yield i++; }"
N_OBJECTS = 10_000
OBJECTS_SRC = (
    "globalThis.data = Array.from({length: %d}, (_, i) => "
    "({id: i, name: 'item' + i, tags: ['red' + i, 'green', 'blue'], v: i * 0.5 + 0.25}));"
    % N_OBJECTS
)
AWAITS = 5_000
AWAIT_SRC = "for (let i = 0; i < %d; i++) await tick();" % AWAITS
MEM_CONTEXTS = 1_000
# An LLM-sized snippet (functions, a class, loops, Map, template work) for script_vs_eval.
SCRIPT_SRC = """
function summarize(items) {
  const byTag = new Map();
  for (const it of items) {
    for (const t of it.tags) {
      const e = byTag.get(t) || {count: 0, total: 0};
      e.count += 1; e.total += it.v;
      byTag.set(t, e);
    }
  }
  return [...byTag.entries()].map(([t, e]) => ({tag: t, avg: e.total / e.count}));
}
const items = [];
for (let i = 0; i < 20; i++) items.push({id: i, tags: ['a', 'b', i % 2 ? 'odd' : 'even'], v: i * 1.5});
function fmt(x) { return x.tag + ':' + x.avg.toFixed(2); }
const out = summarize(items).map(fmt).join(', ');
class Agent { constructor(n) { this.n = n } step(x) { return this.n * x } }
const ag = new Agent(3);
let acc = 0;
for (let k = 0; k < 10; k++) acc += ag.step(k);
({out, acc})
"""
SCRIPT_RUNS = 200
RSS_CONTEXTS = 100
# Instruction counts (valgrind --tool=callgrind): the kernel runs once with N1 and once with
# N2 operations; (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost of one operation, start-up and
# set-up cancelling out.
INSTR_OPS = {"py_to_js_instr": (2_000, 6_000), "js_to_py_instr": (2_000, 6_000),
             "compute_instr": (100_000, 300_000)}
COMPUTE_N = "let s=0; for (let i=0;i<=%d;i++) if (i%%3==0||i%%5==0||i%%9==0) s+=i; s"
IMPORT_NAMES = {"qjs": "qjs", "quickjs": "quickjs", "quickjs-ng": "quickjs",
                "mini-racer": "py_mini_racer"}

# Per-binding operation counts per repetition (the unit is always per operation, so a
# slower binding may use fewer operations per repetition without changing its number).
COUNTS = {
    "new_context": {"default": 300, "mini-racer": 50},
    "warm_eval": {"default": 20_000, "mini-racer": 2_000},
    "py_to_js_call": {"default": 20_000, "mini-racer": 2_000},
    "generator_step": {"default": 20_000, "mini-racer": 2_000},
    "objects_to_py": {"default": 3},
    "idle_context_memory": {"default": MEM_CONTEXTS},
}


def count(workload: str, binding: str) -> int:
    c = COUNTS[workload]
    return c.get(binding, c["default"])


class NotAvailable(Exception):
    """The binding has no (usable) equivalent for this workload."""


def timed(fn, n: int) -> float:
    """Seconds per operation for fn() run n times."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def check(actual, expected, what: str) -> None:
    if isinstance(expected, float) or isinstance(actual, float):
        ok = isinstance(actual, (int, float)) and math.isclose(actual, expected)
    else:
        ok = actual == expected
    if not ok:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def gen_tuple_from_dict(d) -> tuple:
    return (d["done"], d["value"])


# ---------------------------------------------------------------------------------------
# Binding adapters. Each one implements `run_<workload>(reps) -> dict` returning
# {"metrics": {name: [per-rep values]}, "primary": name, "info": {...}}.
# Every repetition list excludes one untimed warm-up repetition where that makes sense.


class Base:
    name = "?"

    def __init__(self, binding: str):
        self.binding = binding

    # --- helpers to be provided by subclasses ---
    def version(self) -> str:
        return "?"

    def run_script_vs_eval(self, reps):
        raise NotAvailable("qjs-only measurement (Script.run against eval)")

    def run_capture_locals_cost(self, reps):
        raise NotAvailable("qjs-only measurement (capture_locals on against off)")
    # kernels for the instruction-count workloads: return a function running n operations
    def kernel_py_to_js_instr(self, n):
        raise NotAvailable("not measured")

    def kernel_js_to_py_instr(self, n):
        raise NotAvailable("no sync host functions")

    def kernel_compute_instr(self, n):
        src = COMPUTE_N % n
        # multiples of 9 are multiples of 3: sum of multiples of 3 or 5 up to n, closed form
        want = sum(sign * k * (n // k) * (n // k + 1) // 2 for k, sign in ((3, 1), (5, 1), (15, -1)))
        ctx = self.new_plain_context()
        return lambda: check(ctx.eval(src), want, "compute")

    def new_plain_context(self):
        raise NotAvailable("not measured")

    def _instr(self, workload):
        """Instructions per operation, from two callgrind runs of this worker's kernel."""
        import re  # noqa: PLC0415
        import subprocess  # noqa: PLC0415

        self.kernel_for(workload, 1)  # raises NotAvailable before valgrind is started
        n1, n2 = INSTR_OPS[workload]
        counts = []
        for n in (n1, n2):
            cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                   sys.executable, os.path.abspath(__file__), "--binding", self.binding,
                   "--workload", workload, "--kernel", str(n)]
            env = dict(os.environ, PYTHONHASHSEED="0")
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
            m = re.search(r"Collected : (\d+)", p.stderr)
            if p.returncode != 0 or not m:
                raise RuntimeError("callgrind run failed: " + p.stderr.strip()[-300:])
            counts.append(int(m.group(1)))
        per = (counts[1] - counts[0]) / (n2 - n1)
        return {"metrics": {"instr_per_op": [per]}, "primary": "instr_per_op",
                "info": {"n1": n1, "n2": n2, "tool": "callgrind"}}

    def kernel_for(self, workload, n):
        return getattr(self, "kernel_" + workload)(n)

    def run_py_to_js_instr(self, reps):
        return self._instr("py_to_js_instr")

    def run_js_to_py_instr(self, reps):
        return self._instr("js_to_py_instr")

    def run_compute_instr(self, reps):
        return self._instr("compute_instr")

    def run_import_time(self, reps):
        """Wall time of the first `import` of the binding in a fresh interpreter (ms),
        less the same interpreter doing nothing."""
        import subprocess  # noqa: PLC0415

        code = ("import time; t = time.perf_counter(); %s; "
                "print((time.perf_counter() - t) * 1e3)")
        name = IMPORT_NAMES[self.binding]

        def once(stmt):
            p = subprocess.run([sys.executable, "-c", code % stmt], capture_output=True,
                               text=True, timeout=120)
            if p.returncode != 0:
                raise RuntimeError(p.stderr.strip()[-300:])
            return float(p.stdout.strip().splitlines()[-1])

        once("import " + name)  # warm the file cache
        vals = []
        for _ in range(max(reps, 1) * 3):
            vals.append(once("import " + name))
        return {"metrics": {"ms": vals}, "primary": "ms", "info": {"module": name}}

    def run_context_rss(self, reps):
        """RSS per idle context, each with its own runtime, over RSS_CONTEXTS of them. One
        measurement per process (freed memory would be reused by a second one)."""
        make = self.rss_context_factory()
        warm = make()  # first-use allocations of the binding are not per context
        gc.collect()
        r0 = rss_bytes()
        keep = [make() for _ in range(RSS_CONTEXTS)]
        r1 = rss_bytes()
        self.rss_release(keep + [warm])
        return {"metrics": {"rss_kb": [(r1 - r0) / RSS_CONTEXTS / 1024]}, "primary": "rss_kb",
                "info": {"contexts": RSS_CONTEXTS}}

    def rss_release(self, objs):
        pass

    # --- common drivers built on the subclass primitives ---
    def per_op(self, reps: int, body, n: int, scale: float = 1e6, unit="us_per_op", info=None):
        body(1)  # warm-up
        vals = []
        for _ in range(reps):
            gc.collect()
            vals.append(body(n) * scale)
        return {"metrics": {unit: vals}, "primary": unit, "info": dict(info or {}, ops=n)}

    def run_threads(self, reps):
        """Speed-up = 2 * T(1 thread) / wall T(2 threads), each thread with its own context.
        Also measured, as a control for a busy machine: the same with 2 processes
        (`process_speedup`), i.e. the parallelism the machine offered at that moment."""
        make_runner = self.make_runner

        def single(m: int) -> float:
            setup, run = make_runner()
            state = setup()
            t0 = time.perf_counter()
            for _ in range(m):
                run(state)
            return time.perf_counter() - t0

        def dual(m: int) -> float:
            barrier = threading.Barrier(3)
            errors = []

            def work():
                try:
                    setup, run = make_runner()
                    state = setup()
                    barrier.wait()
                    for _ in range(m):
                        run(state)
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)
                    barrier.abort()

            ths = [threading.Thread(target=work) for _ in range(2)]
            for t in ths:
                t.start()
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
            t0 = time.perf_counter()
            for t in ths:
                t.join()
            wall = time.perf_counter() - t0
            if errors:
                raise errors[0]
            return wall

        def dual_procs(m: int):
            import multiprocessing as mp  # noqa: PLC0415

            mpc = mp.get_context("spawn")
            barrier = mpc.Barrier(3)
            procs = [mpc.Process(target=_proc_compute, args=(self.binding, m, barrier))
                     for _ in range(2)]
            for p in procs:
                p.start()
            try:
                barrier.wait(timeout=120)
            except threading.BrokenBarrierError:
                for p in procs:
                    p.kill()
                return None
            t0 = time.perf_counter()
            for p in procs:
                p.join()
            wall = time.perf_counter() - t0
            return wall if all(p.exitcode == 0 for p in procs) else None

        # calibrate: at least ~0.3 s of work per thread per measurement
        one = single(1)
        m = max(1, math.ceil(0.3 / max(one, 1e-6)))
        speedups, t1s, t2s, psp = [], [], [], []
        for _ in range(reps):
            gc.collect()
            t1 = single(m)
            t2 = dual(m)
            t1s.append(t1 / m * 1e3)
            t2s.append(t2 / m * 1e3)
            speedups.append(2 * t1 / t2)
            tp = dual_procs(m)
            if tp:
                psp.append(2 * t1 / tp)
        metrics = {"speedup": speedups, "single_ms": t1s, "dual_wall_ms": t2s}
        if psp:
            metrics["process_speedup"] = psp
        return {"metrics": metrics, "primary": "speedup", "info": {"computes_per_thread": m}}


def _proc_compute(binding, m, barrier):
    """Child process of the 2-process control in Base.run_threads."""
    adapter = ADAPTERS[binding](binding)
    setup, run = adapter.make_runner()
    state = setup()
    barrier.wait()
    for _ in range(m):
        run(state)


# ----------------------------------------------------------------------------- qjs ---


class QjsAdapter(Base):
    def __init__(self, binding):
        super().__init__(binding)
        import qjs  # noqa: PLC0415

        self.qjs = qjs

    def version(self):
        return getattr(self.qjs, "__version__", "?")

    def run_new_context(self, reps):
        qjs = self.qjs

        def body(n):
            t0 = time.perf_counter()
            for _ in range(n):
                ctx = qjs.Context()
                ctx.eval(SIMPLE)
                ctx.close()
            return (time.perf_counter() - t0) / n

        return self.per_op(reps, body, count("new_context", self.binding))

    def run_warm_eval(self, reps):
        ctx = self.qjs.Context()
        check(ctx.eval(SIMPLE), 9, "eval")
        ev = ctx.eval
        return self.per_op(reps, lambda n: timed(lambda: ev(SIMPLE), n), count("warm_eval", self.binding))

    def run_js_to_py_call(self, reps):
        ctx = self.qjs.Context()
        ctx.globals["add"] = lambda a, b: a + b

        def body(n):
            t0 = time.perf_counter()
            r = ctx.eval(JS_TO_PY_SRC)
            dt = time.perf_counter() - t0
            check(r, JS_TO_PY_RESULT, "js_to_py sum")
            return dt / JS_TO_PY_CALLS

        return self.per_op(reps, body, JS_TO_PY_CALLS)

    def run_py_to_js_call(self, reps):
        ctx = self.qjs.Context()
        add = ctx.eval_handle("(a,b)=>a+b")
        check(add(2, 1), 3, "add")

        def body(n):
            t0 = time.perf_counter()
            for i in range(n):
                add(i, 1)
            return (time.perf_counter() - t0) / n

        return self.per_op(reps, body, count("py_to_js_call", self.binding))

    def run_generator_step(self, reps):
        ctx = self.qjs.Context()
        ctx.eval(GEN_SRC)
        g = ctx.eval_handle("gen()")
        check(g.resume(), (False, 0), "resume")
        resume = g.resume

        def body(n):
            t0 = time.perf_counter()
            for _ in range(n):
                resume()
            return (time.perf_counter() - t0) / n

        return self.per_op(reps, body, count("generator_step", self.binding))

    def run_objects_to_py(self, reps):
        ctx = self.qjs.Context()
        ctx.eval(OBJECTS_SRC)
        first = ctx.eval("data")
        check(len(first), N_OBJECTS, "len")
        check(first[1], {"id": 1, "name": "item1", "tags": ["red1", "green", "blue"], "v": 0.75}, "obj")

        def body(n):
            t0 = time.perf_counter()
            for _ in range(n):
                ctx.eval("data")
            return (time.perf_counter() - t0) / n

        return self.per_op(reps, body, count("objects_to_py", self.binding), scale=1e3, unit="ms_per_op")

    def run_compute(self, reps):
        def body(n):
            tot = 0.0
            for _ in range(n):
                ctx = self.qjs.Context()
                t0 = time.perf_counter()
                r = ctx.eval(COMPUTE)
                tot += time.perf_counter() - t0
                ctx.close()
                check(r, COMPUTE_RESULT, "compute")
            return tot / n

        return self.per_op(reps, body, 1, scale=1e3, unit="ms_per_op")

    def make_runner(self):
        qjs = self.qjs

        def setup():
            return qjs.Context()

        def run(ctx):
            check(ctx.eval("{" + COMPUTE + "}"), COMPUTE_RESULT, "compute")

        return setup, run

    def run_await_py_coroutine(self, reps):
        ctx = self.qjs.Context()
        calls = 0

        async def tick():
            nonlocal calls
            calls += 1
            return 1

        ctx.globals["tick"] = tick

        async def main():
            await ctx.eval_async("await tick()")  # warm-up
            vals = []
            for _ in range(reps):
                gc.collect()
                before = calls
                t0 = time.perf_counter()
                await ctx.eval_async(AWAIT_SRC)
                dt = time.perf_counter() - t0
                check(calls - before, AWAITS, "awaits")
                vals.append(dt / AWAITS * 1e6)
            return vals

        vals = asyncio.run(main())
        return {"metrics": {"us_per_op": vals}, "primary": "us_per_op", "info": {"ops": AWAITS}}

    def run_script_vs_eval(self, reps):
        """Time of Script.run over time of eval, for the same code, each run in a fresh
        context of one runtime (context creation not timed)."""
        qjs = self.qjs
        rt = qjs.Runtime()
        compiler = rt.new_context(console=False)
        script = compiler.compile(SCRIPT_SRC, filename="agent.js")
        want = compiler.eval(SCRIPT_SRC)

        def body(n):
            fresh = [rt.new_context(console=False) for _ in range(2 * n)]
            t0 = time.perf_counter()
            for c in fresh[:n]:
                script.run(c)
            t1 = time.perf_counter()
            for c in fresh[n:]:
                c.eval(SCRIPT_SRC, filename="agent.js")
            t2 = time.perf_counter()
            for c in fresh:
                c.close()
            return (t1 - t0) / (t2 - t1)

        try:
            return self.per_op(reps, body, SCRIPT_RUNS, scale=1.0, unit="ratio")
        finally:
            compiler.close()
            rt.close()

    def run_capture_locals_cost(self, reps):
        """Time of a loop of 1000 caught throws in a capture_locals context over the
        same loop in a context without it (each throw keeps its frames either way)."""
        qjs = self.qjs
        on = qjs.Context(capture_locals=True, console=False)
        off = qjs.Context(console=False)

        def body(n):
            t_on = t_off = 0.0
            for _ in range(n):
                t0 = time.perf_counter()
                check(off.eval(THROWS_SRC), 1000, "capture_locals_cost")
                t1 = time.perf_counter()
                check(on.eval(THROWS_SRC), 1000, "capture_locals_cost")
                t2 = time.perf_counter()
                t_off += t1 - t0
                t_on += t2 - t1
            return t_on / t_off

        try:
            return self.per_op(reps, body, THROWS_RUNS, scale=1.0, unit="ratio")
        finally:
            on.close()
            off.close()
    def new_plain_context(self):
        return self.qjs.Context()

    def rss_context_factory(self):
        return self.qjs.Context

    def rss_release(self, objs):
        for c in objs:
            c.close()

    def kernel_py_to_js_instr(self, n):
        ctx = self.qjs.Context()
        add = ctx.eval_handle("(a,b)=>a+b")
        check(add(2, 1), 3, "add")

        def run():
            for i in range(n):
                add(i, 1)

        return run

    def kernel_js_to_py_instr(self, n):
        ctx = self.qjs.Context()
        ctx.globals["add"] = lambda a, b: a + b
        src = JS_TO_PY_SRC.replace(str(JS_TO_PY_CALLS), str(n))
        return lambda: check(ctx.eval(src), n * (n + 1) // 2, "js_to_py sum")

    def run_idle_context_memory(self, reps):
        qjs = self.qjs
        n = count("idle_context_memory", self.binding)
        info = {"contexts": n}
        metrics = {}
        # RSS first (own runtime per context), before anything else warms malloc arenas.
        gc.collect()
        r0 = rss_bytes()
        ctxs = [qjs.Context() for _ in range(n)]
        r1 = rss_bytes()
        metrics["rss_kb"] = [(r1 - r0) / n / 1024]
        for c in ctxs:
            c.close()
        del ctxs
        # Engine side: many contexts on one runtime.
        try:
            rt = qjs.Runtime()
            m0 = rt.memory_usage()["malloc_size"]
            ctxs = [rt.new_context() for _ in range(n)]
            m1 = rt.memory_usage()["malloc_size"]
            metrics["engine_kb"] = [(m1 - m0) / n / 1024]
            info["runtime_base_malloc_size"] = m0
        except Exception as e:  # noqa: BLE001
            info["engine_error"] = f"{type(e).__name__}: {e}"
        primary = "engine_kb" if "engine_kb" in metrics else "rss_kb"
        return {"metrics": metrics, "primary": primary, "info": info}


# ------------------------------------------------------- PetterS quickjs / quickjs-ng ---


class PetterSAdapter(Base):
    """PetterS/quickjs and quickjs-ng: identical `quickjs` / `_quickjs` APIs."""

    def __init__(self, binding):
        super().__init__(binding)
        import quickjs  # noqa: PLC0415

        self.q = quickjs

    def version(self):
        from importlib.metadata import version  # noqa: PLC0415

        return version(self.binding)

    def run_new_context(self, reps):
        Context = self.q.Context

        def body(n):
            t0 = time.perf_counter()
            for _ in range(n):
                ctx = Context()
                ctx.eval(SIMPLE)
                del ctx  # dealloc frees context and its runtime
            return (time.perf_counter() - t0) / n

        return self.per_op(reps, body, count("new_context", self.binding))

    def run_warm_eval(self, reps):
        ctx = self.q.Context()
        check(ctx.eval(SIMPLE), 9, "eval")
        ev = ctx.eval
        return self.per_op(reps, lambda n: timed(lambda: ev(SIMPLE), n), count("warm_eval", self.binding))

    def run_js_to_py_call(self, reps):
        ctx = self.q.Context()
        ctx.add_callable("add", lambda a, b: a + b)

        def body(n):
            t0 = time.perf_counter()
            r = ctx.eval(JS_TO_PY_SRC)
            dt = time.perf_counter() - t0
            check(r, JS_TO_PY_RESULT, "js_to_py sum")
            return dt / JS_TO_PY_CALLS

        return self.per_op(reps, body, JS_TO_PY_CALLS)

    def run_py_to_js_call(self, reps):
        ctx = self.q.Context()
        ctx.eval("var add = (a,b)=>a+b;")
        add = ctx.get("add")  # a _quickjs.Object, callable
        check(add(2, 1), 3, "add")

        def body(n):
            t0 = time.perf_counter()
            for i in range(n):
                add(i, 1)
            return (time.perf_counter() - t0) / n

        return self.per_op(reps, body, count("py_to_js_call", self.binding))

    def run_generator_step(self, reps):
        ctx = self.q.Context()
        ctx.eval(GEN_SRC)
        step = ctx.eval("(() => { const g = gen(); return () => g.next(); })()")
        loads = json.loads

        def resume():
            return gen_tuple_from_dict(loads(step().json()))

        check(resume(), (False, 0), "step")

        def body(n):
            t0 = time.perf_counter()
            for _ in range(n):
                resume()
            return (time.perf_counter() - t0) / n

        return self.per_op(reps, body, count("generator_step", self.binding))

    def run_objects_to_py(self, reps):
        ctx = self.q.Context()
        ctx.eval(OBJECTS_SRC)
        loads = json.loads
        first = loads(ctx.eval("JSON.stringify(data)"))
        check(first[1], {"id": 1, "name": "item1", "tags": ["red1", "green", "blue"], "v": 0.75}, "obj")

        def body(n):
            t0 = time.perf_counter()
            for _ in range(n):
                loads(ctx.eval("JSON.stringify(data)"))
            return (time.perf_counter() - t0) / n

        return self.per_op(reps, body, count("objects_to_py", self.binding), scale=1e3, unit="ms_per_op")

    def run_compute(self, reps):
        def body(n):
            tot = 0.0
            for _ in range(n):
                ctx = self.q.Context()
                t0 = time.perf_counter()
                r = ctx.eval(COMPUTE)
                tot += time.perf_counter() - t0
                del ctx
                check(r, COMPUTE_RESULT, "compute")
            return tot / n

        return self.per_op(reps, body, 1, scale=1e3, unit="ms_per_op")

    def make_runner(self):
        Context = self.q.Context

        def setup():
            return Context()

        def run(ctx):
            check(ctx.eval("{" + COMPUTE + "}"), COMPUTE_RESULT, "compute")

        return setup, run

    def run_await_py_coroutine(self, reps):
        raise NotAvailable("no async host functions")

    def new_plain_context(self):
        return self.q.Context()

    def rss_context_factory(self):
        return self.q.Context

    def kernel_py_to_js_instr(self, n):
        ctx = self.q.Context()
        ctx.eval("var add = (a,b)=>a+b;")
        add = ctx.get("add")
        check(add(2, 1), 3, "add")

        def run():
            for i in range(n):
                add(i, 1)

        return run

    def kernel_js_to_py_instr(self, n):
        ctx = self.q.Context()
        ctx.add_callable("add", lambda a, b: a + b)
        src = JS_TO_PY_SRC.replace(str(JS_TO_PY_CALLS), str(n))
        return lambda: check(ctx.eval(src), n * (n + 1) // 2, "js_to_py sum")

    def run_idle_context_memory(self, reps):
        n = count("idle_context_memory", self.binding)
        gc.collect()
        r0 = rss_bytes()
        ctxs = [self.q.Context() for _ in range(n)]
        r1 = rss_bytes()
        # Each Context owns its runtime; Context.memory() is JS_ComputeMemoryUsage of it.
        eng = sum(c.memory()["malloc_size"] for c in ctxs) / n
        return {
            "metrics": {"rss_kb": [(r1 - r0) / n / 1024], "runtime_plus_context_kb": [eng / 1024]},
            "primary": "rss_kb",
            "info": {"contexts": n},
        }


# ------------------------------------------------------------------------ mini-racer ---


class MiniRacerAdapter(Base):
    """mini-racer (V8). All work runs inside a running asyncio loop, so MiniRacer uses
    that loop and its synchronous API skips the cross-thread hop to a private loop
    thread (the fastest mode, measured ~10x faster per call than from plain threads)."""

    def __init__(self, binding):
        super().__init__(binding)
        import py_mini_racer  # noqa: PLC0415

        self.m = py_mini_racer

    def version(self):
        from importlib.metadata import version  # noqa: PLC0415

        return version("mini-racer")

    def _in_loop(self, fn):
        async def main():
            return fn()

        return asyncio.run(main())

    def run_new_context(self, reps):
        MiniRacer = self.m.MiniRacer

        def body(n):
            t0 = time.perf_counter()
            for _ in range(n):
                mr = MiniRacer()
                mr.eval(SIMPLE)
                mr.close()
            return (time.perf_counter() - t0) / n

        return self._in_loop(lambda: self.per_op(reps, body, count("new_context", self.binding)))

    def run_warm_eval(self, reps):
        def go():
            mr = self.m.MiniRacer()
            check(mr.eval(SIMPLE), 9, "eval")
            ev = mr.eval
            return self.per_op(reps, lambda n: timed(lambda: ev(SIMPLE), n), count("warm_eval", self.binding))

        return self._in_loop(go)

    def run_js_to_py_call(self, reps):
        raise NotAvailable("no sync host functions")

    def run_py_to_js_call(self, reps):
        def go():
            mr = self.m.MiniRacer()
            mr.eval("var add = (a,b)=>a+b;")
            check(mr.call("add", 2, 1), 3, "add")
            call = mr.call

            def body(n):
                t0 = time.perf_counter()
                for i in range(n):
                    call("add", i, 1)
                return (time.perf_counter() - t0) / n

            return self.per_op(reps, body, count("py_to_js_call", self.binding))

        return self._in_loop(go)

    def run_generator_step(self, reps):
        def go():
            mr = self.m.MiniRacer()
            mr.eval(GEN_SRC)
            # JSON string: one round trip instead of one per property of a JSObject
            step = mr.eval("(() => { const g = gen(); return () => JSON.stringify(g.next()); })()")
            loads = json.loads

            def resume():
                return gen_tuple_from_dict(loads(step()))

            check(resume(), (False, 0), "step")

            def body(n):
                t0 = time.perf_counter()
                for _ in range(n):
                    resume()
                return (time.perf_counter() - t0) / n

            return self.per_op(reps, body, count("generator_step", self.binding))

        return self._in_loop(go)

    def run_objects_to_py(self, reps):
        def go():
            mr = self.m.MiniRacer()
            mr.eval(OBJECTS_SRC)
            loads = json.loads
            first = loads(mr.eval("JSON.stringify(data)"))
            check(first[1], {"id": 1, "name": "item1", "tags": ["red1", "green", "blue"], "v": 0.75}, "obj")

            def body(n):
                t0 = time.perf_counter()
                for _ in range(n):
                    loads(mr.eval("JSON.stringify(data)"))
                return (time.perf_counter() - t0) / n

            return self.per_op(reps, body, count("objects_to_py", self.binding), scale=1e3, unit="ms_per_op")

        return self._in_loop(go)

    def run_compute(self, reps):
        def go():
            def body(n):
                tot = 0.0
                for _ in range(n):
                    mr = self.m.MiniRacer()
                    t0 = time.perf_counter()
                    r = mr.eval(COMPUTE)
                    tot += time.perf_counter() - t0
                    mr.close()
                    check(r, COMPUTE_RESULT, "compute")
                return tot / n

            return self.per_op(reps, body, 1, scale=1e3, unit="ms_per_op")

        return self._in_loop(go)

    def make_runner(self):
        MiniRacer = self.m.MiniRacer
        # each thread: its own MiniRacer on a private loop thread (the default mode)

        def setup():
            return MiniRacer()

        def run(mr):
            check(mr.eval("{" + COMPUTE + "}"), COMPUTE_RESULT, "compute")

        return setup, run

    def run_await_py_coroutine(self, reps):
        calls = 0

        async def tick(*_args):
            nonlocal calls
            calls += 1
            return 1

        async def main():
            mr = self.m.MiniRacer()
            async with mr.wrap_py_function(tick) as js_tick:
                mr.eval("globalThis")["tick"] = js_tick
                src = "(async () => { %s })()" % AWAIT_SRC
                await mr.eval("(async () => { await tick(); })()")  # warm-up
                vals = []
                for _ in range(reps):
                    gc.collect()
                    before = calls
                    t0 = time.perf_counter()
                    await mr.eval(src)
                    dt = time.perf_counter() - t0
                    check(calls - before, AWAITS, "awaits")
                    vals.append(dt / AWAITS * 1e6)
                return vals

        vals = asyncio.run(main())
        return {"metrics": {"us_per_op": vals}, "primary": "us_per_op",
                "info": {"ops": AWAITS, "api": "MiniRacer.wrap_py_function"}}

    def kernel_py_to_js_instr(self, n):
        raise NotAvailable("V8 is not measured under valgrind (see py_to_js_call)")

    def kernel_compute_instr(self, n):
        raise NotAvailable("V8 is not measured under valgrind (see compute)")

    def rss_context_factory(self):
        return self.m.MiniRacer

    def rss_release(self, objs):
        for m in objs:
            m.close()

    def run_context_rss(self, reps):
        return self._in_loop(lambda: Base.run_context_rss(self, reps))

    def run_idle_context_memory(self, reps):
        n = count("idle_context_memory", self.binding)

        def go():
            gc.collect()
            r0 = rss_bytes()
            mrs = [self.m.MiniRacer() for _ in range(n)]
            r1 = rss_bytes()
            heap = sum(m.heap_stats()["total_physical_size"] for m in mrs) / n
            return {
                "metrics": {"rss_kb": [(r1 - r0) / n / 1024], "v8_heap_physical_kb": [heap / 1024]},
                "primary": "rss_kb",
                "info": {"contexts": n},
            }

        return self._in_loop(go)


ADAPTERS = {
    "qjs": QjsAdapter,
    "quickjs": PetterSAdapter,
    "quickjs-ng": PetterSAdapter,
    "mini-racer": MiniRacerAdapter,
}
WORKLOADS = [
    "new_context",
    "warm_eval",
    "js_to_py_call",
    "py_to_js_call",
    "generator_step",
    "objects_to_py",
    "compute",
    "threads",
    "await_py_coroutine",
    "idle_context_memory",
    "script_vs_eval",
    "capture_locals_cost",
    "context_rss",
    "compute_instr",
    "py_to_js_instr",
    "js_to_py_instr",
    "import_time",
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binding", required=True, choices=sorted(ADAPTERS))
    ap.add_argument("--workload", required=True, choices=WORKLOADS)
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions (after one warm-up)")
    ap.add_argument("--version-only", action="store_true")
    ap.add_argument("--kernel", type=int, default=None,
                    help="(under callgrind) run the workload's kernel once with this many operations")
    args = ap.parse_args(argv)

    out = {"binding": args.binding, "workload": args.workload}
    try:
        adapter = ADAPTERS[args.binding](args.binding)
    except Exception as e:  # noqa: BLE001
        out["na"] = f"import failed: {type(e).__name__}: {e}"
        print(json.dumps(out))
        return 0
    out["version"] = adapter.version()
    if args.version_only:
        print(json.dumps(out))
        return 0
    if args.kernel is not None:
        run = adapter.kernel_for(args.workload, args.kernel)
        run()
        return 0
    try:
        res = getattr(adapter, "run_" + args.workload)(args.reps)
        out.update(res)
    except NotAvailable as e:
        out["na"] = str(e)
    except Exception as e:  # noqa: BLE001
        tb = traceback.format_exc()
        sys.stderr.write(tb)
        out["na"] = f"{type(e).__name__}: {e}"
        out["traceback"] = tb[-2000:]
    sys.stdout.flush()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
