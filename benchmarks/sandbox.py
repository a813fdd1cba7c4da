"""Process isolation against in-process qjs, in one run: what a Sandbox costs.

    python benchmarks/sandbox.py            # 5 rounds, prints a Markdown table
    python benchmarks/sandbox.py --rounds 9 --json out.json

Each workload runs ``--rounds`` times; a figure is the median over rounds (each round
is itself an average over many repetitions). Goals (issue 13):

- a small ``eval`` round trip <= 50 us
- a JS -> host call over the pipe <= 30 us
- ``pool.run`` of a 20-line snippet >= 5000 runs/s (pool of 2, on 2 cores)
- a new Sandbox from the fork server <= 10 ms
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

import qjs

SNIPPET = """
function score(items) {
  let total = 0;
  for (const it of items) {
    if (it.kind === 'a') total += it.v * 2;
    else if (it.kind === 'b') total += it.v;
    else total -= 1;
  }
  return total;
}
const items = [];
for (let i = 0; i < 20; i++) {
  items.push({kind: i % 3 === 0 ? 'a' : i % 3 === 1 ? 'b' : 'c', v: i + n});
}
const words = 'the quick brown fox jumps over the lazy dog'
  .split(' ')
  .filter((w) => w.length > 0);
const counts = {};
for (const w of words) counts[w] = (counts[w] || 0) + 1;
const result = {score: score(items), top: Object.entries(counts).sort((x, y) => y[1] - x[1])[0][0], n};
result;
"""
assert len(SNIPPET.strip().splitlines()) == 20


CPU: dict[str, list[float]] = {}  # workload -> [parent us, child us] per op, last round


def _child_ns(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError):
            pass
    return total


class cpu_per_op:
    """CPU time of this process and of the given children, per operation."""

    def __init__(self, name: str, pids: list[int], n: int) -> None:
        self.name, self.pids, self.n = name, pids, n

    def __enter__(self) -> None:
        self.p0 = time.process_time()
        self.c0 = _child_ns(self.pids)

    def __exit__(self, *exc: object) -> None:
        parent = (time.process_time() - self.p0) / self.n * 1e6
        child = (_child_ns(self.pids) - self.c0) / self.n / 1e3
        CPU[self.name] = [parent, child]


def per_call(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


_ECHO = """
import os, sys
fd = int(sys.argv[1])
while True:
    data = os.read(fd, 65536)
    if not data:
        break
    os.write(fd, data)
"""


class _Echo:
    """A bare Python process that echoes what it reads: the floor of any round trip
    between two Python processes over a socket pair on this machine."""

    def __enter__(self) -> "_Echo":
        import socket
        import subprocess

        a, b = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _ECHO, str(b.fileno())], pass_fds=[b.fileno()]
        )
        b.close()
        self.sock = a
        self.fd = a.fileno()
        self.pid = self.proc.pid
        self.msg = b"\x0e\x00\x00\x00\x15" + b"\x00" * 14  # the size of a small answer
        self.ping()
        return self

    def ping(self) -> None:
        os.write(self.fd, self.msg)
        os.read(self.fd, 65536)

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self.proc.wait(5)


def eval_round_trip(rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"in-process": [], "sandbox": [], "bare socket pair round trip": []}
    with qjs.Context() as ctx, qjs.Sandbox(timeout=5.0) as sb, _Echo() as echo:
        for _ in range(rounds):
            out["in-process"].append(per_call(lambda: ctx.eval("1 + 2"), 20000) * 1e6)
            with cpu_per_op("eval round trip", [sb.pid], 4000):
                out["sandbox"].append(per_call(lambda: sb.eval("1 + 2"), 4000) * 1e6)
            with cpu_per_op("bare socket pair round trip", [echo.pid], 4000):
                out["bare socket pair round trip"].append(per_call(echo.ping, 4000) * 1e6)
    return out


def host_call(rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"in-process": [], "sandbox": []}
    n_local, n_remote = 20000, 2000
    with qjs.Context() as ctx, qjs.Sandbox(timeout=30.0) as sb:
        for target in (ctx, sb):
            target.globals["f"] = lambda x: x
            target.eval(
                "function loop(n) { let s = 0; for (let i = 0; i < n; i++) s += f(i); return s }"
            )
        for _ in range(rounds):
            t = time.perf_counter()
            ctx.eval(f"loop({n_local})")
            out["in-process"].append((time.perf_counter() - t) / n_local * 1e6)
            t = time.perf_counter()
            with cpu_per_op("JS -> host call", [sb.pid], n_remote):
                sb.eval(f"loop({n_remote})")
            out["sandbox"].append((time.perf_counter() - t) / n_remote * 1e6)
    return out


def pool_throughput(rounds: int, size: int = 2, batch: int = 4000) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        "in-process (fresh Context)": [],
        "in-process (one Runtime, Script, as a worker does)": [],
        "pool": [],
        "pool (Script)": [],
    }
    with qjs.Context() as c:
        script = c.compile(SNIPPET, filename="snippet.js")

    async def run_pool(pool: qjs.SandboxPool, code: object) -> float:
        sem = asyncio.Semaphore(size * 8)

        async def one(i: int) -> object:
            async with sem:
                return await pool.run(code, globals={"n": i})

        t = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(batch)))
        dt = time.perf_counter() - t
        assert results[3] == {"score": results[3]["score"], "top": "the", "n": 3}
        return batch / dt

    async def main() -> None:
        async with qjs.SandboxPool(size, timeout=5.0) as pool:
            await run_pool(pool, SNIPPET)  # warm-up
            pids = [w.pid for w in pool._workers]
            for _ in range(rounds):
                with cpu_per_op("pool.run, 20-line snippet", pids, batch):
                    out["pool"].append(await run_pool(pool, SNIPPET))
                out["pool (Script)"].append(await run_pool(pool, script))

    asyncio.run(main())
    for _ in range(rounds):
        t = time.perf_counter()
        for i in range(batch // 4):
            with qjs.Context(timeout=5.0) as ctx:
                ctx.globals["n"] = i
                ctx.eval(SNIPPET)
        out["in-process (fresh Context)"].append(batch / 4 / (time.perf_counter() - t))
        with qjs.Runtime(timeout=5.0) as rt:
            t = time.perf_counter()
            for i in range(batch // 4):
                ctx = rt.new_context()
                ctx.globals["n"] = i
                script.run(ctx)
                ctx.close()
            out["in-process (one Runtime, Script, as a worker does)"].append(
                batch / 4 / (time.perf_counter() - t)
            )
    return out


def sandbox_start(rounds: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        "in-process Context()": [],
        "in-process Runtime.new_context() + close": [],
        "Sandbox()": [],
        "Sandbox() + eval": [],
    }
    qjs.Sandbox().close()  # the fork server starts once per process
    for _ in range(rounds):
        n = 20
        t = time.perf_counter()
        for _ in range(n * 10):
            qjs.Context().close()
        out["in-process Context()"].append((time.perf_counter() - t) / (n * 10) * 1e3)
        with qjs.Runtime() as rt:
            t = time.perf_counter()
            for _ in range(n * 10):
                rt.new_context().close()
            out["in-process Runtime.new_context() + close"].append(
                (time.perf_counter() - t) / (n * 10) * 1e3
            )
        boxes = []
        t = time.perf_counter()
        for _ in range(n):
            boxes.append(qjs.Sandbox())
        out["Sandbox()"].append((time.perf_counter() - t) / n * 1e3)
        for b in boxes:
            b.close()
        t = time.perf_counter()
        for _ in range(n):
            with qjs.Sandbox() as b:
                b.eval("1")
        out["Sandbox() + eval"].append((time.perf_counter() - t) / n * 1e3)
    return out


def _num(v: float) -> str:
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


WORKLOADS = [
    ("eval round trip", "us", eval_round_trip, "sandbox", "le", 50.0),
    ("JS -> host call", "us", host_call, "sandbox", "le", 30.0),
    ("pool.run, 20-line snippet", "runs/s", pool_throughput, "pool", "ge", 5000.0),
    ("new Sandbox", "ms", sandbox_start, "Sandbox()", "le", 10.0),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    print(
        f"python {sys.version.split()[0]}, qjs {qjs.__version__}, {os.cpu_count()} cpus, "
        f"load {os.getloadavg()[0]:.1f}, {args.rounds} rounds (median)\n"
    )
    print("| workload | variant | median | min | max | goal |")
    print("| --- | --- | --- | --- | --- | --- |")
    results = {}
    for name, unit, fn, goal_key, kind, goal in WORKLOADS:
        if args.only and args.only not in name:
            continue
        got = fn(args.rounds)
        results[name] = got
        for variant, xs in got.items():
            med = statistics.median(xs)
            mark = ""
            if variant == goal_key:
                ok = med <= goal if kind == "le" else med >= goal
                mark = f"{'<=' if kind == 'le' else '>='} {goal:g} {'met' if ok else 'NOT met'}"
            print(
                f"| {name} | {variant} | {_num(med)} {unit} | {_num(min(xs))} | {_num(max(xs))} "
                f"| {mark} |"
            )
    print("\nCPU per operation (last round; what bounds each on an idle machine):\n")
    print("| workload | parent CPU | child CPU |")
    print("| --- | --- | --- |")
    for name, (parent, child) in CPU.items():
        print(f"| {name} | {parent:.1f} us | {child:.1f} us |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
