"""Run a small set of programs under every memory limit of a range; report what breaks.

Each case is one program under one memory limit, in a fresh ``qjs.Runtime``. A case
passes when the program returns or raises ``qjs.JSMemoryError`` (or ``MemoryError``);
it fails on any other exception (``JSError('null')`` where the engine ran out of
memory, for instance), on a warning (an unhandled rejection reported for an OOM), on
a runtime left unusable (after the limit is lifted, a small eval must work), and on a
crash: a signal, a sanitizer report, an engine assertion (run the sweep on a build
with the engine's assertions on to turn leaks at JS_FreeRuntime into crashes).

Many cases run in one child process, for speed. The child prints a line before and
after each case; when it dies, the parent reports the case it was in and starts a new
child at the next case. Run it on the sanitizer build: ``ci/oom-sweep.sh``.

    python ci/oom_sweep.py                     # 64 KiB .. 2 MiB, see DEFAULT_RANGES
    python ci/oom_sweep.py --quick             # a few hundred limits
    python ci/oom_sweep.py --lo 90000 --hi 130000 --step 16 --programs module,eval
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import warnings

# (start, stop, step) in bytes, stop excluded: fine where the context is being built
# and compiling first runs out of memory (clusters of crashes), coarser above.
DEFAULT_RANGES = [
    (64 << 10, 96 << 10, 1024),
    (96 << 10, 192 << 10, 128),
    (192 << 10, 512 << 10, 512),
    (512 << 10, (2 << 20) + 1, 2048),
]
QUICK_RANGES = [
    (64 << 10, 96 << 10, 4096),
    (96 << 10, 160 << 10, 512),
    (160 << 10, (2 << 20) + 1, 16 << 10),
]

# -- the programs -------------------------------------------------------------------

SCRIPT = r"""
function make(n) { const out = []; for (let i = 0; i < n; i++) out.push({i, s: 'k' + i, f: () => i}); return out }
let total = 0; for (const o of make(200)) total += o.f() + o.s.length;
const m = new Map(make(50).map(o => [o.s, o])); const st = new Set([1, 2, 3, 'a']);
total + m.size + st.size + [3, 1, 2].sort().join('-').length
"""

EVAL = r"""
let r = 0;
for (let i = 0; i < 30; i++) {
  r += eval('{ let a = ' + i + '; try { a.b.c } catch (e) { a = [a, e] } a.length }');
  r += (0, eval)('(function (x) { "use strict"; return x * ' + i + ' })')(2);
  r += new Function('a', 'b', 'return a + b + ' + i)(1, 2);
}
r
"""

CLASS = r"""
class A { #p = 1; static s = 2; static { this.t = 3 } get p() { return this.#p } m() { return this.#p + A.s } #q() { return 4 } q() { return this.#q() } }
class B extends A { constructor() { super(); this.x = [1, 2] } m() { return super.m() * 2 } static make() { return new B() } }
const bs = []; for (let i = 0; i < 100; i++) bs.push(B.make());
bs.reduce((s, b) => s + b.m() + b.p + b.q() + B.t, 0)
"""

ASYNC = r"""
async function step(i) { await null; return i * 2 }
async function* gen(n) { for (let i = 0; i < n; i++) yield await step(i) }
let acc = 0;
for await (const v of gen(20)) acc += v;
const all = await Promise.all([1, 2, 3].map(step));
const settled = await Promise.allSettled([Promise.reject(new Error('r')), step(5)]);
function l(n) { return n ? Promise.resolve(n - 1).then(l) : 'done' }
acc + all.length + settled.length + (await l(50)).length
"""

REGEXP = r"""
const re = /(?<y>\d{4})-(?<m>\d{2})-(?<d>\d{2})/gu;
const text = Array.from({length: 40}, (_, i) => `x 20${10 + i}-0${i % 9 + 1}-1${i % 10} y`).join(';');
let n = 0; for (const m of text.matchAll(re)) n += +m.groups.d;
const s = text.replace(/(?<=x )\d+/g, d => d.split('').reverse().join(''));
n + s.length + /^(?:a|b)*c$/i.test('abababC') + 'a,b,,c'.split(/,+/).length + new RegExp('[\\p{L}]+', 'v').exec('héllo')[0].length
"""

JSON_ = r"""
const v = {a: [1, 2.5, 'x', null, true], b: {c: {d: [{}, []]}}, s: 'é\u2028"\\'};
const big = Array.from({length: 100}, (_, i) => ({i, v}));
const t = JSON.stringify(big, null, 2);
const back = JSON.parse(t, (k, x) => typeof x === 'number' ? x + 1 : x);
t.length + back.length + JSON.stringify(back, ['i']).length
"""

ERRORS = r"""
function deep(n) { if (n === 0) throw new TypeError('bottom', {cause: 1}); return deep(n - 1) }
let len = 0;
for (let i = 0; i < 20; i++) { try { deep(10) } catch (e) { len += e.stack.length + String(e).length } }
const agg = new AggregateError([new Error('a'), new RangeError('b')], 'agg');
len += agg.errors.length + new Error('x').stack.length;
try { null.x } catch (e) { len += e.message.length }
try { undefinedName } catch (e) { len += e.stack.length }
len
"""

GENERATORS = r"""
function* inner(n) { for (let i = 0; i < n; i++) yield i }
function* outer() { yield* inner(30); const x = yield 'mid'; yield* [1, 2, 3] }
let s = 0; for (const v of outer()) s += typeof v === 'number' ? v : v.length;
const g = outer(); g.next(); g.return(5);
function* fib() { let [a, b] = [0, 1]; for (;;) { yield a; [a, b] = [b, a + b] } }
const f = fib(); for (let i = 0; i < 50; i++) s += f.next().value % 7;
s + [...inner(40)].length
"""

PROXY = r"""
const log = [];
const target = {a: 1, b: [1, 2], get c() { return 3 }};
const p = new Proxy(target, {
  get(t, k, r) { log.push(String(k)); return Reflect.get(t, k, r) },
  has(t, k) { return k !== 'hidden' && k in t },
  ownKeys(t) { return [...Reflect.ownKeys(t), 'extra'] },
  getOwnPropertyDescriptor(t, k) { return k === 'extra' ? {value: 0, enumerable: true, configurable: true} : Reflect.getOwnPropertyDescriptor(t, k) },
});
let n = 0; for (let i = 0; i < 50; i++) n += p.a + p.b.length + p.c + Object.keys(p).length + ('a' in p);
const { proxy, revoke } = Proxy.revocable({}, {}); revoke();
try { proxy.x } catch (e) { n++ }
n + log.length
"""

DESTRUCT = r"""
const data = Array.from({length: 60}, (_, i) => ({id: i, tags: ['t' + i, 'u'], meta: {w: i % 3}}));
let s = 0;
for (const {id, tags: [first, ...rest], meta: {w = 9, z = 1} = {}, ...others} of data) s += id + first.length + rest.length + w + z + Object.keys(others).length;
const [a = 1, , b, ...c] = [undefined, 2, 3, 4, 5];
const {x: {y: [q] = [7]} = {}} = {};
const merged = {...data[0], ...{extra: [...data.slice(0, 5)]}};
s + a + b + c.length + q + Object.keys(merged).length
"""

TEMPLATE = r"""
function tag(strings, ...vals) { return strings.raw.join('|') + vals.join(',') }
let out = '';
for (let i = 0; i < 60; i++) out += `row ${i}: ${i * 2} ${`nested ${i % 3}`}\n` + tag`a${i}b${[i]}c\u0041`;
out.length + String.raw`x\ny${1}`.length
"""

HOST = "host"      # Python-side: host functions, handles, conversions
MODULE = "module"  # Python-side: eval(module=True)
NEWCTX = "newctx"  # Python-side: a second context and host functions in a small runtime

JS_PROGRAMS = {
    "script": SCRIPT,
    "eval": EVAL,
    "class": CLASS,
    "regexp": REGEXP,
    "json": JSON_,
    "errors": ERRORS,
    "generators": GENERATORS,
    "proxy": PROXY,
    "destructuring": DESTRUCT,
    "template": TEMPLATE,
}
# self-calibrating variants: fill the heap to the limit, give a little back, then
# compile and run the program again and again right at the edge
FILL = r"""
const keep = [];
try { for (;;) keep.push([0]) } catch (e) { keep.length = Math.max(0, keep.length - %d) }
for (let i = 0; i < %d; i++) try { keep.push([0]); (0, eval)(%s) } catch (e) {}
keep.length
"""
ALL_PROGRAMS = [*JS_PROGRAMS, "async", MODULE, HOST, NEWCTX, "fill-script", "fill-eval",
                "fill-class", "fill-errors", "fill-regexp", "fill-json", "fill-module"]


def _js_string(s: str) -> str:
    import json
    return json.dumps(s)


def run_case(qjs, program: str, limit: int) -> str:
    """Run one case; return 'ok' or 'oom', raise on anything else."""
    rt = qjs.Runtime(memory_limit=limit)
    try:
        try:
            ctx = rt.new_context(console=False, timeout=30)
        except MemoryError:
            return "oom"
        status = "ok"
        try:
            _run_program(qjs, rt, ctx, program)
        except MemoryError:
            status = "oom"
        # the runtime must stay usable: at the limit, and once the limit is lifted
        try:
            ctx.eval("new Error('after').stack")
        except MemoryError:
            pass
        rt.memory_limit = None
        got = ctx.eval("[1, 2, 3].map(x => x * 2).join() + new Error('z').stack.length")
        if not isinstance(got, str) or not got.startswith("2,4,6"):
            raise AssertionError(f"runtime unusable after the case: {got!r}")
        rt.gc()
        return status
    finally:
        rt.close()


def _run_program(qjs, rt, ctx, program: str) -> None:
    if program in JS_PROGRAMS:
        ctx.eval(JS_PROGRAMS[program])
    elif program.startswith("fill-"):
        name = program[5:]
        if name == "module":
            src = "export const x = 1; export function f() { return x }"
            fill = FILL.replace("(0, eval)(%s)", "keep.push(%s)")
            ctx.eval(fill % (300, 1, "0"))
            for _ in range(60):
                try:
                    ctx.eval(src, module=True)
                    ctx.eval("new Error('x').stack")
                except MemoryError:
                    pass
        else:
            ctx.eval(FILL % (300, 60, _js_string(JS_PROGRAMS[name])))
    elif program == "async":
        async def main():
            await ctx.eval_async(ASYNC)
            await ctx.eval_async(ASYNC, module=True)
        asyncio.run(main())
    elif program == MODULE:
        ns = ctx.eval("export const x = 1; export function f() { return x }; export default class {}",
                      module=True)
        ctx.eval("new Error('x').stack")
        assert ns["x"] == 1
    elif program == HOST:
        calls = []

        @ctx.function
        def tool(a, b=None):
            calls.append(a)
            return {"a": a, "b": [b, "x" * 10], "n": 1.5}

        ctx.function(lambda *a: len(a), name="count")
        h = ctx.eval_handle("({f(x) { return tool(x, [1, 2]) }, g: [1, {a: 2}]})")
        with h:
            for i in range(20):
                h.call_method("f", i)
                h.get_handle("g").to_python()
            h["k"] = {"deep": [1, 2, {"z": "w" * 100}]}
            ctx.eval("count(1, 2, 3) + tool('q').b.length")
    elif program == NEWCTX:
        for _ in range(3):
            c2 = rt.new_context(console=False)
            try:
                c2.function(lambda x: x, name="ident")
                c2.eval("ident([1, 2, 3]).length")
            finally:
                c2.close()
    else:
        raise ValueError(f"unknown program {program!r}")


# -- child side ------------------------------------------------------------------

def child(cases: list[tuple[str, int]]) -> int:
    import qjs
    out = sys.stdout
    for program, limit in cases:
        print(f"START {program} {limit}", file=out, flush=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                status = run_case(qjs, program, limit)
            except BaseException as exc:  # noqa: BLE001 - reported, not handled
                status = "BAD " + _describe(exc)
            if caught and not status.startswith("BAD"):
                status = "BAD warning: " + str(caught[0].message)[:200]
        print(f"END {program} {limit} {status}", file=out, flush=True)
    return 0


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc!r}"
    return text.replace("\n", " ")[:300]


# -- parent side -----------------------------------------------------------------

def limits_of(ranges) -> list[int]:
    out: list[int] = []
    for start, stop, step in ranges:
        out.extend(range(start, stop, step))
    return sorted(set(out))


def sweep(programs: list[str], limits: list[int], batch: int, python: str,
          verbose: bool = False, log=print, env: dict | None = None, jobs: int = 1) -> dict:
    """Run every program under every limit; `jobs` child processes at a time."""
    cases = [(p, lim) for lim in limits for p in programs]
    if jobs <= 1:
        return _sweep_cases(cases, batch, python, verbose, log, env, len(cases))
    from concurrent.futures import ThreadPoolExecutor
    parts = [cases[k::jobs] for k in range(jobs)]
    with ThreadPoolExecutor(jobs) as pool:
        results = list(pool.map(
            lambda part: _sweep_cases(part, batch, python, verbose, log, env, len(cases)), parts))
    stats = {"cases": 0, "ok": 0, "oom": 0, "bad": [], "crashes": []}
    for r in results:
        for k in stats:
            stats[k] += r[k]
    return stats


def _sweep_cases(cases, batch, python, verbose, log, env, total) -> dict:
    stats = {"cases": 0, "ok": 0, "oom": 0, "bad": [], "crashes": []}
    i = 0
    t0 = time.monotonic()
    while i < len(cases):
        chunk = cases[i:i + batch]
        spec = ";".join(f"{p}:{lim}" for p, lim in chunk)
        try:
            proc = subprocess.run([python, os.path.abspath(__file__), "--child", spec],
                                  capture_output=True, text=True,
                                  timeout=max(600, 10 * len(chunk)), env=env)
        except subprocess.TimeoutExpired as exc:  # a hang is reported like a crash
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            proc = subprocess.CompletedProcess(exc.cmd, -999, out, "timed out (hang)")
        current = None
        done = 0
        for line in proc.stdout.splitlines():
            if line.startswith("START "):
                current = line.split()[1:3]
            elif line.startswith("END "):
                _, prog, lim, status = line.split(" ", 3)
                current = None
                done += 1
                stats["cases"] += 1
                if status == "ok":
                    stats["ok"] += 1
                elif status == "oom":
                    stats["oom"] += 1
                else:
                    stats["bad"].append((prog, int(lim), status))
                    log(f"FAIL {prog} @ {lim}: {status}")
        if proc.returncode != 0 or done < len(chunk):
            if current is None:  # died before the first START or between cases
                current = list(map(str, chunk[done])) if done < len(chunk) else ["?", "?"]
            prog, lim = current[0], current[1]
            report = _crash_summary(proc.stderr)
            stats["cases"] += 1
            stats["crashes"].append((prog, int(lim) if lim.isdigit() else lim, proc.returncode, report))
            log(f"CRASH {prog} @ {lim}: rc={proc.returncode} {report}")
            done += 1
        i += max(done, 1)
        if verbose:
            rate = stats["cases"] / max(time.monotonic() - t0, 1e-9)
            log(f"  {stats['cases']}/{len(cases)} cases of this part ({total} in all), {rate:.0f}/s")
    return stats


def _crash_summary(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    keys = ("ERROR: AddressSanitizer", "runtime error:", "Assertion", "free():", "double free",
            "Segmentation", "Fatal Python error", "SUMMARY:")
    picked = [ln.strip() for ln in lines if any(k in ln for k in keys)]
    frames = [ln.strip() for ln in lines if ln.strip().startswith("#") and " in " in ln][:6]
    return " | ".join(picked[:3] + frames)[:1200] or " | ".join(lines[-3:])[:600]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="a few hundred limits")
    ap.add_argument("--lo", type=int)
    ap.add_argument("--hi", type=int)
    ap.add_argument("--step", type=int, default=256)
    ap.add_argument("--programs", help="comma-separated subset of: " + ",".join(ALL_PROGRAMS))
    ap.add_argument("--batch", type=int, default=200, help="cases per child process")
    ap.add_argument("--jobs", type=int, default=1, help="child processes at a time")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.child is not None:
        cases = []
        for item in args.child.split(";"):
            prog, lim = item.rsplit(":", 1)
            cases.append((prog, int(lim)))
        return child(cases)
    if args.lo is not None or args.hi is not None:
        ranges = [(args.lo or (64 << 10), (args.hi or (2 << 20)) + 1, args.step)]
    else:
        ranges = QUICK_RANGES if args.quick else DEFAULT_RANGES
    programs = args.programs.split(",") if args.programs else ALL_PROGRAMS
    for p in programs:
        if p not in ALL_PROGRAMS:
            ap.error(f"unknown program {p!r}")
    limits = limits_of(ranges)
    print(f"oom sweep: {len(programs)} programs x {len(limits)} limits "
          f"({limits[0]}..{limits[-1]} bytes; ranges {ranges})", flush=True)
    t0 = time.monotonic()
    stats = sweep(programs, limits, args.batch, sys.executable, verbose=args.verbose,
                  log=lambda s: print(s, flush=True), jobs=args.jobs)
    took = time.monotonic() - t0
    print(f"oom sweep: {stats['cases']} cases in {took:.0f} s: {stats['ok']} ok, "
          f"{stats['oom']} out of memory, {len(stats['bad'])} wrong results, "
          f"{len(stats['crashes'])} crashes", flush=True)
    return 1 if stats["bad"] or stats["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
