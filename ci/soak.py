"""Soak: create -> abuse -> close, many times; process RSS must stay flat.

Each cycle makes a fresh Runtime (small limits) and Context, installs host
functions, runs one hostile snippet from a rotating set (each must end in its
documented exception), checks the context still works, and closes everything.
RSS is printed every 1000 cycles; the run fails (exit 1) if the final RSS differs
from the RSS after the first 1000 cycles (the warm-up) by more than 5 %, or if any
cycle ends in an unexpected outcome, or if objects are left open.

    python ci/soak.py                 # 10 000 cycles
    python ci/soak.py --cycles 3000   # shorter
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time

import qjs

KiB = 1 << 10
MiB = 1 << 20


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class HostBoom(Exception):
    pass


def _boom(*args):
    raise HostBoom("raised by the host")


def _cycle_list():
    a = [1]
    a.append(a)
    return a


# (JS source, the exceptions it may end in; None: it returns a value)
SNIPPETS = [
    ("for (;;) {}", qjs.JSTimeoutError),
    ("for (;;) { try { for (;;) {} } catch (e) {} finally { continue } }", qjs.JSTimeoutError),
    ("/(a+)+$/.test('a'.repeat(40) + 'b')", qjs.JSTimeoutError),
    ("let s = 'x'; for (;;) s += s", qjs.JSMemoryError),
    ("{ const a = []; for (;;) a.push({ i: a.length }) }", qjs.JSMemoryError),
    ("new Float64Array(1 << 24)", (qjs.JSMemoryError, qjs.JSError)),
    ("'x'.repeat(2 ** 30)", (qjs.JSMemoryError, qjs.JSError)),
    ("(2n ** 100000n) ** 1000n", (qjs.JSMemoryError, qjs.JSError)),
    ("(function f() { return f() + 1 })()", qjs.JSStackOverflowError),
    ("JSON.parse('['.repeat(1e5))", qjs.JSStackOverflowError),
    ("{ let p = {}; for (let i = 0; i < 1e5; i++) p = new Proxy(p, {}); p.x }", (qjs.JSStackOverflowError, qjs.JSMemoryError)),
    ("{ const a = [1]; a.push(a); a }", ValueError),
    ("({ get x() { for (;;) {} } })", qjs.JSTimeoutError),
    ("boom()", HostBoom),
    ("try { boom() } catch (e) { e.name }", None),
    ("again('again(\"1 + 1\")')", None),
    ("cyc()", (qjs.JSError, ValueError)),
    ("big() === 2n ** 4000n", None),
    ("for (let i = 0; i < 1000; i++) Promise.reject(new Error('r' + i)); 1", None),
    ("Promise.resolve().then(function f() { return Promise.resolve().then(f) }); 1", None),
    ("new Promise(() => {}).then(() => 1); [1, 2, 3].map(x => ({ x, y: [x, 'y'.repeat(x)] }))", None),
    ("(function* () { for (;;) yield 1 })()", None),
    ("throw new TypeError('hostile')", qjs.JSError),
    ("Error.prepareStackTrace = () => { for (;;) {} }; null.x", (qjs.JSError, qjs.JSTimeoutError)),
]

ASYNC_SNIPPETS = [
    ("await new Promise(() => {})", qjs.DeadlockError),
    ("await slow()", qjs.JSTimeoutError),
    ("await ({ then() { for (;;) {} } })", qjs.JSTimeoutError),
]


async def _slow():
    await asyncio.sleep(10)


def one_cycle(i: int, loop: asyncio.AbstractEventLoop) -> None:
    rt = qjs.Runtime(memory_limit=4 * MiB, stack_limit=256 * KiB, timeout=0.01)
    try:
        ctx = rt.new_context(console=False)
        ctx.globals["boom"] = _boom
        ctx.globals["again"] = lambda code: ctx.eval(code)
        ctx.globals["cyc"] = _cycle_list
        ctx.globals["big"] = lambda: 2 ** 4000
        ctx.globals["slow"] = _slow
        if i % 10 == 9:
            src, expected = ASYNC_SNIPPETS[(i // 10) % len(ASYNC_SNIPPETS)]
            # only the hogs get 10 ms: on a loaded machine, compiling can take longer
            t = 0.01 if expected is qjs.JSTimeoutError else 1.0
            run = lambda: loop.run_until_complete(ctx.eval_async(src, timeout=t))  # noqa: E731
        else:
            src, expected = SNIPPETS[i % len(SNIPPETS)]
            # CPU hogs get 10 ms; memory and stack hogs get time to hit their limit
            t = 0.01 if expected is qjs.JSTimeoutError else 1.0
            if i % 3 == 0:
                def run():
                    with ctx.eval_handle(src, timeout=t) as h:
                        return h.typeof
            else:
                run = lambda: ctx.eval(src, timeout=t)  # noqa: E731
        try:
            run()
        except BaseException as exc:  # noqa: BLE001 - checked below
            if expected is None or not isinstance(exc, expected):
                raise AssertionError(f"cycle {i}: {src!r} raised {type(exc).__name__}: {exc}") from exc
        try:
            rt.run_jobs(1000)
        except qjs.Error:
            pass
        got = ctx.eval("[1, 2, 3].reduce((a, b) => a + b)", timeout=1.0)
        if got != 6:
            raise AssertionError(f"cycle {i}: context unusable after {src!r}: {got!r}")
    finally:
        rt.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=10_000)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--tolerance", type=float, default=0.05)
    args = ap.parse_args()

    import warnings
    warnings.simplefilter("ignore", qjs.UnhandledRejectionWarning)

    loop = asyncio.new_event_loop()
    warm = None
    t0 = time.monotonic()
    print(f"start: rss {rss() / MiB:.1f} MiB", flush=True)
    for i in range(args.cycles):
        one_cycle(i, loop)
        if (i + 1) % args.every == 0:
            gc.collect()
            r = rss()
            if warm is None:
                warm = r
            print(f"cycle {i + 1:6d}: rss {r / MiB:7.1f} MiB  ({(r - warm) / warm * 100:+.2f} % vs warm-up)"
                  f"  {time.monotonic() - t0:7.1f} s  live {qjs.live_objects()}", flush=True)
    loop.close()
    gc.collect()
    final = rss()
    live = qjs.live_objects()
    elapsed = time.monotonic() - t0
    print(f"done: {args.cycles} cycles in {elapsed:.1f} s ({args.cycles / elapsed:.1f} cycles/s); "
          f"rss after warm-up {(warm or final) / MiB:.1f} MiB, final {final / MiB:.1f} MiB", flush=True)
    if any(live.values()):
        print(f"FAIL: objects left open: {live}")
        return 1
    if warm is not None and abs(final - warm) > args.tolerance * warm:
        print(f"FAIL: RSS changed by {(final - warm) / warm * 100:+.2f} % (limit ±{args.tolerance * 100:.0f} %)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
