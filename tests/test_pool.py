"""qjs.SandboxPool: warm sandboxes, a fresh context per run, back-pressure,
replacement of crashed workers, and a clean shutdown."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest
from test_sandbox_process import descendants, open_fds

import qjs
from qjs import _wire

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="process isolation is tested on Linux (the tests count processes and descriptors in /proc)",
)


def test_runs_in_a_fresh_context_each_time():
    async def main():
        async with qjs.SandboxPool(2, timeout=5.0) as pool:
            got = await asyncio.gather(
                *(
                    pool.run(
                        "globalThis.seen = (globalThis.seen || 0) + 1; [n * 2, seen]",
                        globals={"n": i},
                    )
                    for i in range(40)
                )
            )
            assert got == [[i * 2, 1] for i in range(40)]
            assert await pool.run("typeof seen") == "undefined"
            assert await pool.run("await Promise.resolve(n)", globals={"n": 5}) == 5
            assert await pool.run("export const x = 3", module=True) == {"x": 3}

    asyncio.run(main())


def test_scripts_compiled_here_run_in_the_pool():
    with qjs.Context() as ctx:
        script = ctx.compile("input.map(x => x * k)", filename="batch.js")

    async def main():
        async with qjs.SandboxPool(2, timeout=5.0) as pool:
            return await asyncio.gather(
                *(pool.run(script, globals={"input": [1, 2], "k": i}) for i in range(5))
            )

    assert asyncio.run(main()) == [[0, 0], [1, 2], [2, 4], [3, 6], [4, 8]]


def test_host_functions_in_globals():
    async def lookup(key):
        await asyncio.sleep(0)
        return key.upper()

    async def main():
        async with qjs.SandboxPool(2, timeout=5.0) as pool:
            return await asyncio.gather(
                *(
                    pool.run("await lookup(k)", globals={"lookup": lookup, "k": f"k{i}"})
                    for i in range(6)
                )
            )

    assert asyncio.run(main()) == [f"K{i}" for i in range(6)]


def test_back_pressure_waits_and_is_bounded():
    async def main():
        async with qjs.SandboxPool(1, timeout=10.0, max_waiting=2) as pool:
            running = 0
            peak = 0
            release = asyncio.Event()

            async def gate(i):
                nonlocal running, peak
                running += 1
                peak = max(peak, running)
                await release.wait()
                running -= 1
                return i

            first = [
                asyncio.ensure_future(pool.run("await gate(n)", globals={"gate": gate, "n": i}))
                for i in range(3)
            ]
            while running == 0:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            with pytest.raises(qjs.Error, match="waiting"):  # one running, two waiting: full
                await pool.run("1")
            release.set()
            assert await asyncio.gather(*first) == [0, 1, 2]
            assert peak == 1  # one worker: one run at a time

    asyncio.run(main())


def test_crashed_and_hung_workers_are_replaced():
    async def main():
        async with qjs.SandboxPool(2, timeout=0.5, kill_after=0.3, _test_hooks=True) as pool:
            results = await asyncio.gather(
                pool.run("__qjs_crash('abort')"),
                pool.run("__qjs_crash('hang')"),
                pool.run("for (;;) {}"),
                *(pool.run("n + 1", globals={"n": i}, timeout=10) for i in range(10)),
                return_exceptions=True,
            )
            assert isinstance(results[0], qjs.SandboxCrashedError) and results[0].exitcode == -6
            assert isinstance(results[1], qjs.JSTimeoutError)
            assert isinstance(results[2], qjs.JSTimeoutError)
            assert results[3:] == list(range(1, 11))
            assert await asyncio.gather(*(pool.run("7", timeout=10) for _ in range(4))) == [7] * 4

    asyncio.run(main())


def test_run_sync_from_threads():
    with qjs.SandboxPool(2, timeout=5.0) as pool:
        out: dict[int, object] = {}

        def work(i):
            out[i] = pool.run_sync("n * n", globals={"n": i})

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert out == {i: i * i for i in range(8)}
        with pytest.raises(qjs.JSError):
            pool.run_sync("null.x")
        assert pool.run_sync("1") == 1


def test_close_fails_waiters_and_leaks_nothing():
    with qjs.Sandbox() as warm:  # the fork server outlives the test
        warm.eval("1")
    fds, procs = open_fds(), descendants()

    async def main():
        pool = qjs.SandboxPool(1, timeout=5.0, _test_hooks=True)
        assert len(descendants() - procs) == 1
        busy = asyncio.ensure_future(pool.run("__qjs_crash('hang')", timeout=5.0))
        waiting = asyncio.ensure_future(pool.run("1"))
        await asyncio.sleep(0.1)
        pool.close()
        pool.close()
        with pytest.raises(qjs.ClosedError):
            await waiting
        with pytest.raises((qjs.ClosedError, qjs.SandboxCrashedError)):
            await busy
        with pytest.raises(qjs.ClosedError):
            await pool.run("1")

    asyncio.run(main())
    deadline = time.monotonic() + 5
    while descendants() != procs and time.monotonic() < deadline:
        time.sleep(0.02)
    assert descendants() == procs
    assert open_fds() == fds


def test_a_run_that_exhausts_memory_does_not_spoil_the_next():
    """Regression: after a run hit memory_limit, the reused runtime could not create
    the next context and the worker exited."""

    async def main():
        async with qjs.SandboxPool(1, memory_limit=8 << 20, timeout=10.0) as pool:
            for _ in range(3):
                with pytest.raises(qjs.JSMemoryError):
                    await pool.run("const a = []; for (;;) a.push('x'.repeat(1 << 16) + a.length)")
                assert await pool.run("[1, 2].length") == 2

    asyncio.run(main())


# ------------------------------------------------------------------ runs sent ahead
# A busy worker takes a second run on the same event loop: it waits for its turn, and
# its request goes to the child with the answer of the run before it.


def test_runs_sent_ahead_to_a_busy_worker_keep_their_own_globals():
    calls = []
    depth = []
    workers = []

    def tag(x):
        calls.append(x)
        depth.append(workers[0]._pool_jobs)
        return x * 10

    async def half(x):
        await asyncio.sleep(0)
        return x + 0.5

    async def main():
        async with qjs.SandboxPool(1, timeout=5.0) as pool:
            workers.extend(pool._workers)
            got = await asyncio.gather(
                *(
                    pool.run("[tag(n), await half(n)]", globals={"tag": tag, "half": half, "n": i})
                    for i in range(30)
                )
            )
            assert await pool.run("typeof n") == "undefined"
            return got

    assert asyncio.run(main()) == [[i * 10, i + 0.5] for i in range(30)]
    assert calls == list(range(30))  # one worker: in the order they came
    assert max(depth) == 2  # the next run was queued on the worker while one ran


def test_a_crash_or_a_kill_spares_the_run_queued_behind_it():
    async def main():
        async with qjs.SandboxPool(1, timeout=0.5, kill_after=0.3, _test_hooks=True) as pool:
            for bad, exc in (
                ("__qjs_crash('abort')", qjs.SandboxCrashedError),
                ("__qjs_crash('hang')", qjs.JSTimeoutError),
            ):
                first = asyncio.ensure_future(pool.run(bad))
                second = asyncio.ensure_future(pool.run("n + 1", globals={"n": 41}, timeout=10))
                with pytest.raises(exc):
                    await first
                assert await second == 42

    asyncio.run(main())


def test_cancelling_a_queued_run_before_it_is_sent_keeps_the_child():
    ran = []

    async def main():
        release = asyncio.Event()

        async def gate():
            await release.wait()
            return "first"

        async with qjs.SandboxPool(1, timeout=5.0) as pool:
            pid = pool._workers[0].pid
            first = asyncio.ensure_future(pool.run("await gate()", globals={"gate": gate}))
            second = asyncio.ensure_future(pool.run("mark(2)", globals={"mark": ran.append}))
            await asyncio.sleep(0.1)
            second.cancel()
            with pytest.raises(asyncio.CancelledError):
                await second
            release.set()
            assert await first == "first"
            assert await pool.run("3") == 3
            assert pool._workers[0].pid == pid

    asyncio.run(main())
    assert ran == []


def test_cancelling_a_run_already_sent_stops_its_child():
    ran = []

    async def main():
        async with qjs.SandboxPool(1, timeout=5.0) as pool:
            w = pool._workers[0]
            pid = w.pid
            first = asyncio.ensure_future(pool.run("1"))
            second = asyncio.ensure_future(
                pool.run("mark(2); for (;;) {}", globals={"mark": ran.append})
            )
            # cancelled once its request has gone to the child, before its turn comes
            while not (w._queued is not None and w._queued.sent):
                await asyncio.sleep(0)
            second.cancel()
            assert await first == 1
            with pytest.raises(asyncio.CancelledError):
                await second
            assert w.pid is None or w.pid != pid  # stopped, as a cancelled run is
            assert await pool.run("3") == 3

    asyncio.run(main())
    assert ran == []


def test_a_queued_run_that_crashes_its_child_is_reported_and_replaced():
    async def main():
        async with qjs.SandboxPool(1, timeout=5.0, _test_hooks=True) as pool:
            for _ in range(3):
                got = await asyncio.gather(
                    pool.run("1"),
                    pool.run("__qjs_crash('abort')"),
                    pool.run("3"),
                    return_exceptions=True,
                )
                assert got[0] == 1 and got[2] == 3
                assert isinstance(got[1], qjs.SandboxCrashedError)

    asyncio.run(main())


def test_the_event_loop_keeps_no_reader_after_a_burst():
    """The reader a worker keeps between runs sent ahead is gone once it is idle, so
    run_sync from another thread is the only reader of its socket."""

    async def burst(pool):
        loop = asyncio.get_running_loop()
        got = await asyncio.gather(*(pool.run("n", globals={"n": i}) for i in range(40)))
        assert got == list(range(40))
        fds = {w._sock.fileno() for w in pool._workers if w._sock is not None}
        assert not any(loop._selector.get_map().get(fd) for fd in fds)

    with qjs.SandboxPool(2, timeout=5.0) as pool:
        asyncio.run(burst(pool))
        out = []
        threads = [
            threading.Thread(target=lambda i=i: out.append(pool.run_sync("n * 2", globals={"n": i})))
            for i in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(out) == [i * 2 for i in range(6)]
        asyncio.run(burst(pool))


def test_a_queued_run_with_a_value_that_cannot_cross_raises_alone():
    async def main():
        async with qjs.SandboxPool(1, timeout=5.0) as pool:
            got = await asyncio.gather(
                pool.run("1"),
                pool.run("x", globals={"x": object()}),
                pool.run("3"),
                return_exceptions=True,
            )
            assert got[0] == 1 and got[2] == 3
            assert isinstance(got[1], TypeError)
            assert await pool.run("4") == 4

    asyncio.run(main())


def test_an_answer_sent_just_before_the_child_exits_is_delivered():
    answer = _wire.frame(21, _wire.encode([7]))

    async def main():
        async with qjs.SandboxPool(1, timeout=5.0, _test_hooks=True) as pool:
            for _ in range(5):
                got = await asyncio.gather(
                    pool.run("1"),
                    pool.run("__qjs_send_raw(answer, 'go on'); __qjs_crash('exit')",
                             globals={"answer": answer}),
                )
                assert got == [1, 7]
                with pytest.raises(qjs.SandboxCrashedError):  # the exit is seen next
                    await pool.run("2")
                assert await pool.run("3") == 3

    asyncio.run(main())
