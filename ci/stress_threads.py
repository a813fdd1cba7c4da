"""Thread stress test: many threads creating, using, sharing, closing and dropping
runtimes, contexts and handles at once. Meant for free-threaded builds
(PYTHON_GIL=0), where nothing but qjs's own locks orders the threads; it runs on
GIL builds too.

Usage: python ci/stress_threads.py [--seconds 300] [--threads 8] [--seed N]

Every thread loops over a mix of:
  * a context shared by all threads (replaced and closed under them every ~20 ms
    by a closer thread, so they also see ClosedError) and a runtime shared by all,
    in which threads make and close contexts of their own;
  * separate contexts made, used and closed by one thread;
  * handles made in one thread and disposed or dropped (deallocated) in another;
  * host functions (Python called from JS) and gc.collect() at random moments.
The only exception allowed is qjs.ClosedError (the shared context or runtime was
closed under the thread). At the end everything is closed and qjs.live_objects()
must be back to zero. Exit status 0 means: no crash, no unexpected exception,
counters back to zero. Prints the figures.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import threading
import time

import qjs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)

    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(f"python {sys.version.split()[0]}, GIL {'on' if gil else 'off'}, "
          f"{args.threads} threads, {args.seconds:g} s, seed {seed}", flush=True)

    lock = threading.Lock()
    state = {"ctx": qjs.Context(timeout=10), "rt": qjs.Runtime(timeout=10)}
    dropbox: list = []          # handles made in one thread, dropped in another
    counts = {"ops": 0, "closed": 0, "contexts": 0, "handles": 0, "gc": 0, "swaps": 0}
    errors: list[BaseException] = []
    stop = time.monotonic() + args.seconds

    def host_add(a, b):
        return a + b

    def use_context(ctx, rnd, n):
        ctx.globals["hostAdd"] = host_add
        assert ctx.eval(f"hostAdd({n}, 1)") == n + 1
        assert ctx.eval("[1, 2, 3].map(x => x * 2)") == [2, 4, 6]
        h = ctx.eval_handle("({a: [1, 2], f(x) { return x + 1 }})")
        assert h["a"] == [1, 2]
        if rnd.random() < 0.5:
            h.dispose()
        else:
            with lock:
                dropbox.append(h)
        counts["handles"] += 1

    def worker(idx):
        rnd = random.Random(seed + idx)
        n = 0
        try:
            while time.monotonic() < stop:
                n += 1
                what = rnd.random()
                try:
                    if what < 0.35:
                        use_context(state["ctx"], rnd, n)
                    elif what < 0.55:
                        with qjs.Context(timeout=10) as ctx:
                            use_context(ctx, rnd, n)
                        counts["contexts"] += 1
                    elif what < 0.75:
                        ctx = state["rt"].new_context()
                        try:
                            use_context(ctx, rnd, n)
                        finally:
                            if rnd.random() < 0.7:
                                ctx.close()
                            # else: dropped, freed by whichever thread drops it last
                        counts["contexts"] += 1
                    elif what < 0.95:
                        with lock:
                            taken = dropbox[: rnd.randrange(0, 8)]
                            del dropbox[: len(taken)]
                        for h in taken:
                            if rnd.random() < 0.5 and h.alive:
                                try:
                                    h.dispose()
                                except qjs.ClosedError:
                                    pass
                        del taken
                    else:
                        gc.collect()
                        counts["gc"] += 1
                    counts["ops"] += 1
                except qjs.ClosedError:
                    counts["closed"] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def closer():
        rnd = random.Random(seed - 1)
        try:
            while time.monotonic() < stop:
                time.sleep(0.02)
                new_ctx = qjs.Context(timeout=10)
                old, state["ctx"] = state["ctx"], new_ctx
                old.close()
                if rnd.random() < 0.1:
                    new_rt = qjs.Runtime(timeout=10)
                    old_rt, state["rt"] = state["rt"], new_rt
                    old_rt.close()
                counts["swaps"] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    threads.append(threading.Thread(target=closer))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0

    state["ctx"].close()
    state["rt"].close()
    dropbox.clear()
    state.clear()
    gc.collect()
    gc.collect()
    live = dict(qjs.live_objects())
    print(f"{elapsed:.1f} s: {counts['ops']} operations, {counts['contexts']} contexts made, "
          f"{counts['handles']} handles made, {counts['swaps']} shared context swaps, "
          f"{counts['closed']} ClosedError seen, {counts['gc']} gc.collect() calls")
    print(f"live objects at the end: {live}")
    for exc in errors[:5]:
        print(f"unexpected: {type(exc).__name__}: {exc}", file=sys.stderr)
    ok = not errors and all(v == 0 for v in live.values())
    print("ok" if ok else f"FAILED: {len(errors)} unexpected exceptions, live {live}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
