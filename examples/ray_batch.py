"""A batch of sandboxed evaluations across a Ray cluster.

The program is compiled once here, as a ``qjs.Script``, and shipped to the actors
pickled (its compiled code travels, the source is not parsed again). Each input is a
snapshot (``Context.dumps``) restored in a fresh context. Every Ray actor holds a
``qjs.SandboxPool`` (``--mode pool``: each evaluation in a child process, crashes and
hangs contained) or runs in-process ``qjs.Context`` objects (``--mode context``).

    pip install "qjs[ray]"
    python examples/ray_batch.py --items 2000 --actors 2 --pool-size 2
    python examples/ray_batch.py --address auto      # an existing cluster

Prints the runs per second and the failures by exception type.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from typing import Any

import qjs

# the program every item runs: scores a list of orders; some inputs are hostile
PROGRAM = r"""
function total(order) {
  let sum = 0;
  for (const line of order.lines) sum += line.qty * line.price;
  return order.coupon ? sum * (1 - order.coupon) : sum;
}
if (order.kind === 'loop') for (;;) {}
if (order.kind === 'bad') null.lines;
if (order.kind === 'memory') { const a = []; for (;;) a.push('x'.repeat(1 << 16) + a.length) }
({id: order.id, total: total(order), lines: order.lines.length});
"""


def make_items(n: int, hostile: bool = True) -> list[dict[str, Any]]:
    """Ordinary orders, with (``hostile``) a few that loop, throw or exhaust memory."""
    items = []
    for i in range(n):
        kind = "ok"
        if not hostile:
            pass
        elif i % 97 == 13:
            kind = "bad"
        elif i % 211 == 7:
            kind = "loop"
        elif i % 307 == 11:
            kind = "memory"
        lines = [
            {"sku": f"s{j}", "qty": 1 + (i + j) % 4, "price": 2.5 * (j + 1)}
            for j in range(1 + i % 5)
        ]
        items.append({"id": i, "kind": kind, "coupon": 0.1 if i % 10 == 0 else 0, "lines": lines})
    return items


def snapshot_inputs(items: list[dict[str, Any]]) -> list[bytes]:
    """Inputs as snapshots: JS values saved to bytes once, restored per run."""
    with qjs.Context() as ctx:
        return [ctx.dumps(item) for item in items]


def summarize(outcomes: list[tuple[str, Any]]) -> dict[str, int]:
    return dict(collections.Counter(kind for kind, _ in outcomes))


class Evaluator:
    """A Ray actor: evaluates items with a warm SandboxPool or in-process Contexts."""

    def __init__(self, mode: str, pool_size: int, timeout: float, memory_limit: int) -> None:
        self.mode = mode
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.pool = (
            qjs.SandboxPool(pool_size, timeout=timeout, memory_limit=memory_limit, kill_after=1.0)
            if mode == "pool"
            else None
        )

    async def run_batch(self, script: qjs.Script, snapshots: list[bytes]) -> list[tuple[str, Any]]:
        if self.pool is not None:
            pool = self.pool

            async def one(snap: bytes) -> tuple[str, Any]:
                try:
                    return "ok", await pool.run(script, snapshots={"order": snap})
                except Exception as exc:
                    return type(exc).__name__, str(exc)

            return list(await asyncio.gather(*(one(s) for s in snapshots)))
        out: list[tuple[str, Any]] = []
        for snap in snapshots:
            try:
                with qjs.Context(timeout=self.timeout, memory_limit=self.memory_limit) as ctx:
                    with ctx.loads(snap) as order:
                        ctx.globals["order"] = order
                    out.append(("ok", script.run(ctx)))
            except Exception as exc:
                out.append((type(exc).__name__, str(exc)))
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--pool-size", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=250, help="items per actor call")
    ap.add_argument("--mode", choices=["pool", "context"], default="pool")
    ap.add_argument("--timeout", type=float, default=0.5)
    ap.add_argument("--memory-limit", type=int, default=32 << 20)
    ap.add_argument("--address", default=None, help="a Ray cluster to join (default: start one)")
    ap.add_argument("--num-cpus", type=int, default=None)
    ap.add_argument("--clean", action="store_true", help="no hostile items (throughput only)")
    ap.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    args = ap.parse_args(argv)

    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(
            address=args.address,
            num_cpus=args.num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        with qjs.Context() as ctx:
            script = ctx.compile(PROGRAM, filename="orders.js")  # compiled once, pickled to actors
        items = make_items(args.items, hostile=not args.clean)
        snaps = snapshot_inputs(items)

        Actor = ray.remote(num_cpus=1)(Evaluator)
        actors = [
            Actor.remote(args.mode, args.pool_size, args.timeout, args.memory_limit)
            for _ in range(args.actors)
        ]
        script_ref = ray.put(script)
        ray.get([a.run_batch.remote(script_ref, []) for a in actors])  # actors up and warm

        t0 = time.perf_counter()
        chunks = [snaps[i : i + args.chunk] for i in range(0, len(snaps), args.chunk)]
        refs = [
            actors[k % len(actors)].run_batch.remote(script_ref, chunk)
            for k, chunk in enumerate(chunks)
        ]
        outcomes = [o for part in ray.get(refs) for o in part]
        elapsed = time.perf_counter() - t0

        ray.get([a.close.remote() for a in actors])
        for a in actors:
            ray.kill(a)
    finally:
        if started:
            ray.shutdown()

    counts = summarize(outcomes)
    expected = sum(1 for it in items if it["kind"] == "ok")
    # outcomes come back in input order: check each against what its input should give
    want = {"ok": "ok", "bad": "JSError", "loop": "JSTimeoutError", "memory": "JSMemoryError"}
    unexpected = [
        (it["id"], kind, str(r)[:80])
        for it, (kind, r) in zip(items, outcomes)
        if kind != want[it["kind"]] or (kind == "ok" and r["id"] != it["id"])
    ]
    summary = {
        "mode": args.mode,
        "items": len(items),
        "actors": args.actors,
        "seconds": round(elapsed, 3),
        "runs_per_s": round(len(items) / elapsed, 1),
        "outcomes": counts,
        "expected_ok": expected,
        "unexpected": len(unexpected),
    }
    print(
        f"{len(items)} items on {args.actors} actors ({args.mode}): "
        f"{summary['runs_per_s']:.0f} runs/s in {elapsed:.2f} s"
    )
    for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:22} {n}")
    for item_id, kind, what in unexpected[:5]:
        print(f"  unexpected: item {item_id} gave {kind}: {what}")
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
