"""Snapshot codec timing: Context.dumps / Context.loads of a 10,000-object structure.

    python benchmarks/snapshots.py                          # the qjs this interpreter imports
    PYTHONPATH=/path/to/other/src python benchmarks/snapshots.py   # another build, to compare

Prints the snapshot size and the best CPU time (time.process_time, less sensitive
to a busy machine than wall time) of 15 runs of each direction.
"""

import time

import qjs

VALUE = """
const items = Array.from({length: 10000}, (_, i) => ({id: i, name: 'item' + i, tags: ['a', 'b'],
  score: i * 0.5, when: new Date(i), big: BigInt(i) ** 3n}));
({items, index: new Map(items.slice(0, 100).map(o => [o.id, o]))})
"""


def best_ms(fn, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times) * 1000


def main() -> None:
    with qjs.Context() as ctx:
        h = ctx.eval_handle(VALUE)
        data = ctx.dumps(h)
        dumps = best_ms(lambda: ctx.dumps(h))
        loads = best_ms(lambda: ctx.loads(data).dispose())
    print(f"{qjs.__file__}: snapshot {len(data)} bytes, dumps {dumps:.1f} ms, "
          f"loads {loads:.1f} ms (best CPU time of 15)")


if __name__ == "__main__":
    main()
