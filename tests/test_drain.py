"""eval_async awaiting a promise completion value, ``ctx.drain()``, and host callables
whose result is awaitable."""

from __future__ import annotations

import asyncio
import warnings

import pytest

import qjs


def run(coro):
    return asyncio.run(coro)


def only_current_task() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


# -- eval_async: a completion value that is a promise or a thenable ------------------------


@pytest.mark.parametrize(
    "code, expected",
    [
        ("(async () => 5)()", 5),
        ("Promise.resolve({a: [1, 2]})", {"a": [1, 2]}),
        ("Promise.resolve(Promise.resolve(6))", 6),
        ("(async () => (async () => 7)())()", 7),
        ("({then(resolve) { resolve(8) }})", 8),
        ("({then(r) { r({then(r2) { r2(Promise.resolve(9)) }}) }})", 9),
        ("let p = new Promise(r => r(10)); p", 10),
        ("await null; (async () => { await 1; return 11 })()", 11),
        ("({then: 12})", {"then": 12}),
        ("[Promise.resolve(1)].length", 1),
    ],
    ids=["async-fn", "resolved", "nested", "nested-async", "thenable", "nested-thenables",
         "declared-then-value", "after-await", "then-not-callable", "plain"],
)
def test_completion_promise_is_awaited(ctx, code, expected):
    assert run(ctx.eval_async(code)) == expected


@pytest.mark.parametrize(
    "code, name, message",
    [
        ("(async () => { throw new RangeError('far') })()", "RangeError", "far"),
        ("Promise.reject(new TypeError('no'))", "TypeError", "no"),
        ("({then(_, reject) { reject(new SyntaxError('thenable')) }})", "SyntaxError", "thenable"),
        ("({then() { throw new EvalError('in then') }})", "EvalError", "in then"),
        ("Promise.resolve({then(_, rej) { rej(new URIError('deep')) }})", "URIError", "deep"),
    ],
    ids=["async-throw", "rejected", "thenable-rejects", "then-throws", "nested"],
)
def test_completion_rejection_raises_and_is_not_reported_unhandled(ctx, code, name, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an UnhandledRejectionWarning would fail the test
        with pytest.raises(qjs.JSError) as info:
            run(ctx.eval_async(code))
    assert (info.value.name, info.value.message) == (name, message)


def test_completion_promise_waits_for_host_coroutines(ctx):
    async def fetch(x):
        await asyncio.sleep(0.01)
        return x * 2

    ctx.function(fetch)
    assert run(ctx.eval_async("fetch(21)")) == 42
    assert run(ctx.eval_async("fetch(1).then(x => fetch(x))")) == 4


def test_completion_promise_that_cannot_settle_is_a_deadlock(ctx):
    with pytest.raises(qjs.DeadlockError):
        run(ctx.eval_async("new Promise(() => {})"))


def test_timeout_covers_the_completion_promise(ctx):
    state = {}

    async def slow():
        try:
            await asyncio.sleep(30)
        finally:
            state["unwound"] = True

    ctx.function(slow)

    async def main():
        with pytest.raises(qjs.JSTimeoutError):
            await ctx.eval_async("slow()", timeout=0.1)
        await asyncio.sleep(0)
        assert state == {"unwound": True}

    run(main())


def test_module_eval_async_is_unchanged(ctx):
    assert run(ctx.eval_async("export const p = Promise.resolve(1); export const x = 2",
                              module=True))["x"] == 2


def test_eval_handle_keeps_the_promise(ctx):
    h = ctx.eval_handle("Promise.resolve(3)")
    assert h.typeof == "object"
    assert run(_await(h)) == 3
    h.dispose()


async def _await(h):
    return await h


# -- drain ------------------------------------------------------------------------------------


def test_drain_completes_an_unawaited_chain(ctx):
    marks = []

    async def send(x):
        await asyncio.sleep(0.01)
        return x

    ctx.function(send)
    ctx.function(lambda v: marks.append(v), name="mark")

    async def main():
        assert await ctx.eval_async("send('hi').then(mark); send('a').then(send).then(mark); 1") == 1
        assert marks == []  # left in flight by the code
        await ctx.drain()
        assert sorted(marks) == ["a", "hi"]
        assert only_current_task()

    run(main())


def test_drain_runs_jobs_left_by_a_sync_eval(ctx):
    marks = []
    ctx.function(lambda v: marks.append(v), name="mark")
    ctx.eval("Promise.resolve(1).then(mark).then(() => Promise.resolve(2)).then(mark); 0")
    assert marks == []
    run(ctx.drain())
    assert marks == [1, 2]


def test_drain_returns_when_nothing_can_settle(ctx):
    async def main():
        await ctx.eval_async("globalThis.p = new Promise(() => {}); 0")
        await asyncio.wait_for(ctx.drain(), 30)  # returns at once: nothing in flight
        await ctx.drain(timeout=30)

    run(main())


def test_drain_with_nothing_to_do(ctx):
    run(ctx.drain())


def test_drain_timeout_cancels_host_coroutines(ctx):
    state = {"cancelled": 0, "unwound": 0}

    async def slow():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            state["cancelled"] += 1
            raise
        finally:
            state["unwound"] += 1

    ctx.function(slow)

    async def main():
        await ctx.eval_async(
            "globalThis.seen = []; slow().catch(e => seen.push(e.name)); slow(); 0")
        with pytest.raises(qjs.JSTimeoutError):
            await ctx.drain(timeout=0.2)
        # both coroutines were cancelled and have finished unwinding
        assert state == {"cancelled": 2, "unwound": 2}
        assert only_current_task()
        # their JS promises were rejected: the handler runs at the next drain
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", qjs.UnhandledRejectionWarning)
            await ctx.drain()
        assert len(await ctx.eval_async("seen")) == 1

    run(main())


def test_drain_is_bounded_by_the_context_timeout_per_run_of_jobs(ctx):
    ctx.timeout = 0.1
    ctx.eval("Promise.resolve().then(() => { for (;;) {} }); 0")
    with pytest.raises(qjs.JSTimeoutError):
        run(ctx.drain())


def test_drain_inside_a_turn_deadline(ctx):
    async def slow():
        await asyncio.sleep(30)

    ctx.function(slow)

    async def main():
        await ctx.eval_async("slow(); 0")
        with ctx.deadline(0.2) as d:
            with pytest.raises(qjs.JSTimeoutError):
                await ctx.drain()
            assert d.expired
        assert only_current_task()

    run(main())


def test_drain_waits_only_for_its_own_context(rt):
    a, b = rt.new_context(), rt.new_context()

    async def slow():
        await asyncio.sleep(30)

    b.function(slow)

    async def main():
        await b.eval_async("slow(); 0")
        await asyncio.wait_for(a.drain(), 30)  # b's coroutine does not hold a back
        with pytest.raises(qjs.JSTimeoutError):
            await b.drain(timeout=0.05)

    run(main())


def test_drain_cancelled_from_outside_cancels_its_host_coroutines(ctx):
    state = {}

    async def slow():
        try:
            await asyncio.sleep(30)
        finally:
            state["unwound"] = True

    ctx.function(slow)

    async def main():
        await ctx.eval_async("slow(); 0")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ctx.drain(), 0.1)
        assert state == {"unwound": True}
        assert only_current_task()

    run(main())


def test_drain_on_a_closed_context():
    ctx = qjs.Context()
    ctx.close()
    with pytest.raises(qjs.ClosedError):
        run(ctx.drain())


# -- a host callable whose result is awaitable is async -------------------------------------


class Awaitable:
    """Not a coroutine, not a Future: only __await__."""

    def __init__(self, value):
        self.value = value

    def __await__(self):
        yield from asyncio.sleep(0.01).__await__()
        return self.value


def test_plain_callable_returning_a_coroutine(ctx):
    async def impl(x):
        await asyncio.sleep(0.01)
        return x + 1

    ctx.function(lambda x: impl(x), name="tool")
    assert run(ctx.eval_async("const p = tool(1); [p instanceof Promise, await p]")) == [True, 2]


def test_plain_callable_returning_a_finished_coroutine(ctx):
    async def impl():
        return "now"

    ctx.function(lambda: impl(), name="tool")
    assert run(ctx.eval_async("await tool()")) == "now"


def test_plain_callable_returning_a_future(ctx):
    async def main():
        loop = asyncio.get_running_loop()

        def tool(x):
            fut = loop.create_future()
            loop.call_later(0.01, fut.set_result, x * 3)
            return fut

        ctx.function(tool)
        return await ctx.eval_async("await tool(5)")

    assert run(main()) == 15


def test_plain_callable_returning_a_task(ctx):
    async def work():
        await asyncio.sleep(0.01)
        return "task"

    async def main():
        ctx.function(lambda: asyncio.ensure_future(work()), name="tool")
        return await ctx.eval_async("await tool()")

    assert run(main()) == "task"


def test_plain_callable_returning_a_custom_awaitable(ctx):
    ctx.function(lambda: Awaitable({"ok": True}), name="tool")
    assert run(ctx.eval_async("await tool()")) == {"ok": True}


def test_awaitable_result_rejection_is_a_js_error(ctx):
    async def impl():
        await asyncio.sleep(0)
        raise ValueError("tool failed")

    ctx.function(lambda: impl(), name="tool")
    code = "try { await tool() } catch (e) { [e.name, e.message] }"
    assert run(ctx.eval_async(code)) == ["ValueError", "tool failed"]


def test_awaitable_result_from_a_method_and_a_callable_object(ctx):
    class Tools:
        async def _search(self, q):
            return f"found {q}"

        def search(self, q):
            return self._search(q)

        def __call__(self, q):
            return self._search(q.upper())

    tools = Tools()
    ctx.globals["search"] = tools.search
    ctx.globals["shout"] = tools
    assert run(ctx.eval_async("[await search('x'), await shout('y')]")) == ["found x", "found Y"]


def test_awaitable_result_in_sync_eval_is_a_clear_error(ctx):
    async def impl():
        return 1

    ctx.function(lambda: impl(), name="tool")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(RuntimeError, match="running asyncio event loop"):
            ctx.eval("tool()")


def test_a_returned_handle_is_still_a_value(ctx):
    p = ctx.eval_handle("Promise.resolve(4)")
    ctx.function(lambda: p, name="get")
    assert ctx.eval("get() instanceof Promise") is True
    assert run(ctx.eval_async("await get()")) == 4
    p.dispose()
