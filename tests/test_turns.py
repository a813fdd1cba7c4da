"""Turn deadlines (``ctx.deadline``) and ``timeout=`` on every generator step method.

Timing here only ever asserts that a budget was or was not exceeded with wide
margins (busy loops of whole tenths of a second against budgets of seconds, or
code that never ends): the machine is shared and noisy.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import qjs

#: A sync generator whose every step spins `ms` milliseconds of wall time.
SLOW_GEN = """(function* (ms) {
    for (let i = 0; ; i++) { const t = Date.now(); while (Date.now() - t < ms); yield i; }
})"""

#: An async generator whose every step awaits the host's `tick()` and then spins.
SLOW_AGEN = """(async function* (ms) {
    for (let i = 0; ; i++) {
        await tick(); const t = Date.now(); while (Date.now() - t < ms); yield i;
    }
})"""

FOREVER = "for (;;) {}"


def run(coro):
    return asyncio.run(coro)


# -- the budget is shared by the entries inside the block ---------------------------------


def test_generator_steps_share_one_budget(ctx):
    gen = ctx.eval_handle(SLOW_GEN).call_handle(300)
    done = []
    with pytest.raises(qjs.JSTimeoutError):
        with ctx.deadline(1.0):
            for _ in range(10):
                done.append(gen.resume())
    # 300 ms a step against 1 s: some steps ran, the budget stopped the rest
    assert 1 <= len(done) <= 3
    assert done[0] == (False, 0)
    gen.dispose()


def test_each_step_alone_fits_the_per_entry_timeout_but_not_the_turn(ctx):
    """The case that motivated deadlines: a per-entry timeout lets every step run."""
    gen = ctx.eval_handle(SLOW_GEN).call_handle(250)
    for _ in range(4):
        gen.resume(timeout=1.0)  # 4 x 250 ms, never an error
    with pytest.raises(qjs.JSTimeoutError):
        with ctx.deadline(0.6):
            for _ in range(4):
                gen.resume(timeout=1.0)
    gen.dispose()


def test_time_between_entries_is_not_charged(ctx):
    with ctx.deadline(0.5) as d:
        for _ in range(3):
            assert ctx.eval("1 + 1") == 2
            time.sleep(0.3)  # host work between entries
        assert ctx.eval("2 + 2") == 4
    assert d.remaining > 0


def test_a_spent_budget_refuses_every_later_entry(ctx):
    f = ctx.eval_handle("(x => x + 1)")
    with ctx.deadline(0.2) as d:
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval(FOREVER)
        assert d.expired and d.remaining == 0
        with pytest.raises(qjs.JSTimeoutError, match="turn deadline"):
            ctx.eval("1")  # short code too: refused before it runs
        with pytest.raises(qjs.JSTimeoutError):
            f(1)
        with pytest.raises(qjs.JSTimeoutError):
            ctx.globals["x"] = 1
    # outside the block, the context is as usable as before
    assert ctx.eval("1 + 1") == 2
    assert f(1) == 2
    f.dispose()


def test_closing_and_creating_contexts_is_never_refused():
    rt = qjs.Runtime()
    ctx = rt.new_context()
    with ctx.deadline(0.1):
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval(FOREVER)
        other = rt.new_context()
        ctx.function(lambda: 1, name="one")
        rt.gc()
        other.close()
        ctx.close()
    rt.close()


def test_entries_into_every_context_of_the_runtime_are_charged(rt):
    a, b = rt.new_context(), rt.new_context()
    with a.deadline(0.2):
        with pytest.raises(qjs.JSTimeoutError):
            b.eval(FOREVER)
        with pytest.raises(qjs.JSTimeoutError):
            a.eval("1")
    assert b.eval("1") == 1


def test_other_runtimes_are_not_charged(ctx):
    with qjs.Context() as other:
        with ctx.deadline(0.1):
            with pytest.raises(qjs.JSTimeoutError):
                ctx.eval(FOREVER)
            assert other.eval("1 + 2") == 3


def test_host_functions_run_inside_the_entry_that_called_them(ctx):
    seen = []

    def host():
        # a nested entry belongs to the outer one: bounded by the same deadline
        seen.append(ctx.eval("40 + 2"))
        return ctx.eval(FOREVER)

    ctx.function(host)
    with ctx.deadline(0.2):
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("host()")
    assert seen == [42]


def test_a_deadline_opened_inside_a_host_function_bounds_no_outer_entry(ctx):
    def host():
        with ctx.deadline(0.0):
            return ctx.eval("7")  # nested: charged to the entry already running

    ctx.function(host)
    assert ctx.eval("host()") == 7


# -- composition: per-entry timeouts and nesting ---------------------------------------


def test_per_entry_timeout_wins_when_earlier(ctx):
    with ctx.deadline(30.0) as d:
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval(FOREVER, timeout=0.1)
        assert d.remaining > 20  # the turn is not spent
        assert ctx.eval("1") == 1


def test_turn_wins_when_earlier(ctx):
    ctx.timeout = 30.0
    with ctx.deadline(0.2):
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval(FOREVER, timeout=30.0)


def test_runtime_timeout_and_turn_compose(rt):
    rt.timeout = 0.1
    ctx = rt.new_context()
    with ctx.deadline(30.0) as d:
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval(FOREVER)
        assert not d.expired


def test_nested_deadlines_all_apply(ctx):
    with ctx.deadline(30.0) as outer:
        with ctx.deadline(0.2) as inner:
            with pytest.raises(qjs.JSTimeoutError):
                ctx.eval(FOREVER)
            assert inner.expired
        # the inner entry was charged to the outer deadline too
        assert outer.remaining <= 30.0 - 0.2
        assert not outer.expired
        assert ctx.eval("3") == 3


def test_outer_deadline_bounds_a_longer_inner_one(ctx):
    with ctx.deadline(0.2) as outer:
        with ctx.deadline(30.0) as inner:
            with pytest.raises(qjs.JSTimeoutError):
                ctx.eval(FOREVER)
            assert not inner.expired
        assert outer.expired


def test_no_limit_deadline(ctx):
    with ctx.deadline(None) as d:
        assert d.seconds is None and d.remaining is None and not d.expired
        assert ctx.eval("1") == 1
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval(FOREVER, timeout=0.05)


def test_deadline_object(ctx):
    d = ctx.deadline(2.5)
    assert d.seconds == 2.5 and d.remaining == 2.5 and not d.expired
    assert "2.5" in repr(d)
    with d:
        pass
    with pytest.raises(RuntimeError):
        d.__enter__()
    with pytest.raises(ValueError):
        ctx.deadline(-1)
    with pytest.raises(TypeError):
        type(d)()


def test_deadline_on_a_closed_context():
    ctx = qjs.Context()
    ctx.close()
    with pytest.raises(qjs.ClosedError):
        ctx.deadline(1.0)


def test_threads_have_their_own_deadlines(ctx):
    rt = ctx.runtime
    other = rt.new_context()
    results = []
    with ctx.deadline(0.1):
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval(FOREVER)
        t = threading.Thread(target=lambda: results.append(other.eval("1 + 1")))
        t.start()
        t.join(30)
    assert results == [2]
    other.close()


# -- async: resume_async steps and the waits for host coroutines ----------------------------


def test_async_generator_steps_share_one_budget(ctx):
    async def tick():
        await asyncio.sleep(0)

    ctx.function(tick)

    async def main():
        gen = ctx.eval_handle(SLOW_AGEN).call_handle(300)
        done = []
        with pytest.raises(qjs.JSTimeoutError):
            with ctx.deadline(1.0):
                for _ in range(10):
                    done.append(await gen.resume_async())
        gen.dispose()
        return done

    done = run(main())
    assert 1 <= len(done) <= 3
    assert done[0] == (False, 0)


def test_waiting_for_host_coroutines_is_charged(ctx):
    state = {}

    async def tick():
        try:
            await asyncio.sleep(30)
        finally:
            state["unwound"] = True

    ctx.function(tick)

    async def main():
        gen = ctx.eval_handle(SLOW_AGEN).call_handle(0)
        with ctx.deadline(0.2) as d:
            with pytest.raises(qjs.JSTimeoutError):
                await gen.resume_async()
            assert d.expired
        # the host coroutine was cancelled and has unwound before the error arrived
        assert state == {"unwound": True}
        assert only_current_task()
        gen.dispose()

    run(main())


def test_async_with_and_eval_async(ctx):
    async def sleepy():
        await asyncio.sleep(30)

    ctx.function(sleepy)

    async def main():
        async with ctx.deadline(0.2):
            assert await ctx.eval_async("await 1") == 1
            with pytest.raises(qjs.JSTimeoutError):
                await ctx.eval_async("await sleepy()", timeout=30)
        assert await ctx.eval_async("await 2") == 2

    run(main())


def test_await_handle_is_charged(ctx):
    async def sleepy():
        await asyncio.sleep(30)

    ctx.function(sleepy)

    async def main():
        with ctx.deadline(0.2):
            p = ctx.eval_handle("sleepy()")
            with pytest.raises(qjs.JSTimeoutError):
                await p
        p.dispose()

    run(main())


def test_host_time_between_async_steps_is_not_charged(ctx):
    async def tick():
        await asyncio.sleep(0)

    ctx.function(tick)

    async def main():
        gen = ctx.eval_handle(SLOW_AGEN).call_handle(0)
        with ctx.deadline(0.5) as d:
            for _ in range(3):
                await gen.resume_async()
                await asyncio.sleep(0.3)  # the host's own awaits between steps
        assert not d.expired
        gen.dispose()

    run(main())


def test_concurrent_tasks_have_their_own_deadlines(rt):
    a, b = rt.new_context(), rt.new_context()

    async def tick():
        await asyncio.sleep(0.01)

    a.function(tick)
    b.function(tick)

    async def spent():
        with a.deadline(0.1):
            with pytest.raises(qjs.JSTimeoutError):
                await a.eval_async("for (;;) { await tick() }")

    async def free():
        n = 0
        for _ in range(20):
            n += await b.eval_async("await tick(); 1")
        return n

    async def main():
        return await asyncio.gather(spent(), free())

    assert run(main())[1] == 20


def only_current_task() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


# -- timeout= on each step method ---------------------------------------------------------

SYNC_STEPS = """(function* () {
    try { yield 1; } catch (e) { for (;;) {} }
    finally { for (;;) {} }
})"""


@pytest.mark.parametrize(
    "step",
    [
        lambda g: g.resume(timeout=0.1),
        lambda g: g.send(None, timeout=0.1),
        lambda g: g.resume(None, mode="throw", timeout=0.1),
        lambda g: g.throw(ValueError("x"), timeout=0.1),
        lambda g: g.resume(None, mode="return", timeout=0.1),
        lambda g: g.close(timeout=0.1),
    ],
    ids=["resume", "send", "resume-throw", "throw", "resume-return", "close"],
)
def test_sync_step_methods_take_timeout(ctx, step):
    gen = ctx.eval_handle(SYNC_STEPS).call_handle()
    assert gen.resume() == (False, 1)  # now suspended inside the try
    with pytest.raises(qjs.JSTimeoutError):
        step(gen)
    gen.dispose()


ASYNC_STEPS = """(async function* () {
    try { yield 1; } catch (e) { await never(); }
    finally { await never(); }
})"""


@pytest.mark.parametrize(
    "step",
    [
        lambda g: g.resume_async(timeout=0.1),
        lambda g: g.asend(None, timeout=0.1),
        lambda g: g.resume_async(None, mode="throw", timeout=0.1),
        lambda g: g.athrow(ValueError("x"), timeout=0.1),
        lambda g: g.resume_async(None, mode="return", timeout=0.1),
        lambda g: g.aclose(timeout=0.1),
    ],
    ids=["resume_async", "asend", "resume_async-throw", "athrow", "resume_async-return", "aclose"],
)
def test_async_step_methods_take_timeout(ctx, step):
    async def never():
        await asyncio.sleep(30)

    ctx.function(never)

    async def main():
        gen = ctx.eval_handle(ASYNC_STEPS).call_handle()
        assert await gen.resume_async() == (False, 1)
        with pytest.raises(qjs.JSTimeoutError):
            await step(gen)
        gen.dispose()

    run(main())


def test_step_timeout_overrides_the_context_default(ctx):
    ctx.timeout = 0.05
    make = ctx.eval_handle(SLOW_GEN)
    gen = make.call_handle(200)
    with pytest.raises(qjs.JSTimeoutError):
        gen.resume()
    gen.dispose()
    gen = make.call_handle(200)
    assert gen.resume(timeout=30) == (False, 0)
    assert gen.send(None, timeout=None) == 1
    with pytest.raises(ValueError):
        gen.resume(timeout=-1)
    gen.dispose()
    make.dispose()
