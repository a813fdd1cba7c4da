"""Promises, jobs and host coroutines on asyncio.

Every test drives its own event loop with ``asyncio.run`` (no pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import time
import warnings

import pytest

import qjs


def run(coro):
    return asyncio.run(coro)


def only_current_task() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


# -- awaiting in JS -------------------------------------------------------------

@pytest.mark.parametrize(
    "code, expected",
    [
        ("async function f(){return 42}; await f()", 42),
        (
            "async function a(){return 10}"
            "async function b(){return (await a()) + 10}"
            "async function c(){return (await b()) + 10}"
            "await c()",
            30,
        ),
        ("let s = 0; for (let i = 1; i <= 5; i++) s += await Promise.resolve(i); s", 15),
        ("await Promise.all([1, 2, 3].map(async x => x * 2))", [2, 4, 6]),
        ("await new Promise(r => r({a: [1, 2]}))", {"a": [1, 2]}),
        ("await 7", 7),
        ("1 + 1", 2),
        (
            "async function f(){ throw new Error('nope') }"
            "let msg; try { await f() } catch (e) { msg = e.message } msg",
            "nope",
        ),
        ("await Promise.reject(new RangeError('r')).catch(e => e.name)", "RangeError"),
    ],
    ids=["async-fn", "chain", "loop", "all", "object", "await-value", "no-await",
         "caught", "catch-method"],
)
def test_eval_async_table(ctx, code, expected):
    assert run(ctx.eval_async(code)) == expected


@pytest.mark.parametrize(
    "code, name, message",
    [
        ("await Promise.reject(new TypeError('bad thing'))", "TypeError", "bad thing"),
        ("async function f(){ null.x } await f()", "TypeError", None),
        ("await (async () => { throw new RangeError('far') })()", "RangeError", "far"),
        ("await Promise.resolve(); throw new SyntaxError('late')", "SyntaxError", "late"),
    ],
)
def test_uncaught_rejection_raises_jserror(ctx, code, name, message):
    with pytest.raises(qjs.JSError) as ei:
        run(ctx.eval_async(code))
    assert ei.value.name == name
    if message is not None:
        assert ei.value.message == message


def test_rejection_with_non_error_value(ctx):
    with pytest.raises(qjs.JSError) as ei:
        run(ctx.eval_async("await Promise.reject(42)"))
    assert ei.value.value == 42


def test_await_promise_handle(ctx):
    async def main():
        h = ctx.eval_handle("Promise.resolve(42)")
        try:
            return await h
        finally:
            h.dispose()

    assert run(main()) == 42


def test_await_thenable_handle(ctx):
    async def main():
        h = ctx.eval_handle("({then(r) { r(7) }})")
        try:
            return await h
        finally:
            h.dispose()

    assert run(main()) == 7


def test_await_plain_value_handle(ctx):
    async def main():
        h = ctx.eval_handle("({x: 1})")
        n = ctx.eval_handle("'plain'")
        try:
            return await h, await n
        finally:
            h.dispose()
            n.dispose()

    assert run(main()) == ({"x": 1}, "plain")


def test_await_pending_promise_handle_settled_by_job(ctx):
    async def main():
        h = ctx.eval_handle("Promise.resolve(1).then(x => x + 1).then(x => x * 10)")
        try:
            return await h
        finally:
            h.dispose()

    assert run(main()) == 20


def test_await_rejected_promise_handle(ctx):
    async def main():
        h = ctx.eval_handle("Promise.reject(new TypeError('no'))")
        try:
            with pytest.raises(qjs.JSError) as ei:
                await h
            return ei.value.name
        finally:
            h.dispose()

    with warnings.catch_warnings():
        warnings.simplefilter("error", qjs.UnhandledRejectionWarning)
        assert run(main()) == "TypeError"


# -- async host functions -----------------------------------------------------------

def test_async_host_function_returns_promise(ctx):
    async def tool(x):
        await asyncio.sleep(0.01)
        return x * 2

    async def main():
        ctx.globals["tool"] = tool
        return await ctx.eval_async(
            "const p = tool(21); [p instanceof Promise, await p]"
        )

    assert run(main()) == [True, 42]


def test_async_host_function_via_decorator(ctx):
    @ctx.function
    async def get_weather(city):
        await asyncio.sleep(0.01)
        return {"city": city, "temp": 21}

    async def main():
        return await ctx.eval_async("const w = await get_weather('Paris'); `${w.city}: ${w.temp}`")

    assert run(main()) == "Paris: 21"


def test_async_host_functions_run_concurrently(ctx):
    async def tool(i):
        await asyncio.sleep(0.2)
        return i * i

    async def main():
        ctx.globals["tool"] = tool
        t0 = time.monotonic()
        result = await ctx.eval_async("await Promise.all([1, 2, 3, 4, 5].map(i => tool(i)))")
        return result, time.monotonic() - t0

    result, elapsed = run(main())
    assert result == [1, 4, 9, 16, 25]
    assert elapsed < 0.6, f"five 0.2 s tool calls took {elapsed:.2f} s: not concurrent"


def test_async_host_function_converts_args_and_result(ctx):
    seen = []

    async def tool(obj, items, n, flag, missing):
        seen.append((obj, items, n, flag, missing))
        await asyncio.sleep(0)
        return {"echo": obj, "items": items + [99], "n": n + 1, "nested": [{"k": "v"}]}

    async def main():
        ctx.globals["tool"] = tool
        return await ctx.eval_async(
            "const r = await tool({a: 1, b: [true, null]}, [1, 'two'], 2n ** 64n, false, undefined);"
            "[r.echo.b[0], r.items.length, typeof r.n, r.nested[0].k, r]"
        )

    result = run(main())
    assert seen == [({"a": 1, "b": [True, None]}, [1, "two"], 2**64, False, None)]
    assert result[:4] == [True, 3, "bigint", "v"]
    assert result[4] == {
        "echo": {"a": 1, "b": [True, None]},
        "items": [1, "two", 99],
        "n": 2**64 + 1,
        "nested": [{"k": "v"}],
    }


def test_async_host_function_without_suspending(ctx):
    async def quick(x):
        return [x, x]

    async def main():
        ctx.globals["quick"] = quick
        return await ctx.eval_async("await quick('a')")

    assert run(main()) == ["a", "a"]


def test_sync_and_async_host_functions_mixed(ctx):
    async def fetch(x):
        await asyncio.sleep(0.01)
        return x + 1

    async def main():
        ctx.globals["fetch"] = fetch
        ctx.globals["double"] = lambda x: x * 2
        return await ctx.eval_async("double(await fetch(double(await fetch(1))))")

    assert run(main()) == 10


def test_host_coroutine_error_is_catchable_in_js(ctx):
    async def bad():
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    async def main():
        ctx.globals["bad"] = bad
        return await ctx.eval_async(
            "try { await bad(); 'no error' } catch (e) {"
            " [e instanceof Error, e.name, e.message, e.name === 'ValueError'] }"
        )

    assert run(main()) == [True, "ValueError", "boom", True]


def test_host_coroutine_error_reraised_as_original(ctx):
    err = ValueError("original")

    async def bad():
        await asyncio.sleep(0.01)
        raise err

    async def main():
        ctx.globals["bad"] = bad
        await ctx.eval_async("await bad()")

    with pytest.raises(ValueError) as ei:
        run(main())
    assert ei.value is err


def test_host_coroutine_error_without_suspending_reraised_as_original(ctx):
    err = KeyError("k")

    async def bad():
        raise err

    async def main():
        ctx.globals["bad"] = bad
        await ctx.eval_async("await bad()")

    with pytest.raises(KeyError) as ei:
        run(main())
    assert ei.value is err


@pytest.mark.parametrize("suspend", ["bare-yield", "asyncio.sleep"])
def test_async_host_function_from_sync_eval_raises_clearly(ctx, suspend):
    """With no event loop running, an async host function cannot make progress:
    plain ``ctx.eval`` must fail with a clear error, not return a stuck promise
    or hang."""

    async def tool(x):
        if suspend == "bare-yield":
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(0.01)
        return x

    ctx.globals["tool"] = tool
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qjs.UnhandledRejectionWarning)
        with pytest.raises((RuntimeError, qjs.Error)) as ei:
            ctx.eval("tool(1)")
    assert time.monotonic() - t0 < 2
    text = str(ei.value)
    assert "eval_async" in text or "event loop" in text, text
    assert ctx.eval("1 + 1") == 2


# -- deadlocks, timeouts, cancellation --------------------------------------------------

def test_never_settling_promise_raises_deadlock(ctx):
    t0 = time.monotonic()
    with pytest.raises(qjs.DeadlockError):
        run(ctx.eval_async("await new Promise(() => {})"))
    assert time.monotonic() - t0 < 1.0
    assert ctx.eval("1 + 1") == 2


def test_deadlock_after_some_jobs(ctx):
    with pytest.raises(qjs.DeadlockError):
        run(ctx.eval_async("await Promise.resolve(1); await null; await new Promise(() => {})"))


def test_deadlock_on_pending_promise_handle(ctx):
    async def main():
        h = ctx.eval_handle("new Promise(() => {})")
        try:
            with pytest.raises(qjs.DeadlockError):
                await h
        finally:
            h.dispose()

    run(main())


def test_timeout_covers_host_coroutine_and_cancels_it(ctx):
    cancelled = []

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "finished?"

    async def main():
        ctx.globals["slow"] = slow
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            await ctx.eval_async("await slow()", timeout=0.3)
        elapsed = time.monotonic() - t0
        for _ in range(50):
            if cancelled:
                break
            await asyncio.sleep(0.01)
        return elapsed, only_current_task()

    elapsed, clean = run(main())
    assert elapsed < 1.5
    assert cancelled == [True]
    assert clean
    assert ctx.eval("1 + 1") == 2


def test_timeout_error_is_also_timeout_error(ctx):
    async def slow():
        await asyncio.sleep(10)

    async def main():
        ctx.globals["slow"] = slow
        await ctx.eval_async("await slow()", timeout=0.1)

    with pytest.raises(TimeoutError):
        run(main())


def test_timeout_on_infinite_loop_in_job(ctx):
    t0 = time.monotonic()
    with pytest.raises(qjs.JSTimeoutError):
        run(ctx.eval_async("await null; for (;;) {}", timeout=0.3))
    assert time.monotonic() - t0 < 1.5
    assert ctx.eval("1 + 1") == 2
    assert run(ctx.eval_async("await Promise.resolve(5)")) == 5


def test_timeout_on_infinite_loop_after_host_coroutine(ctx):
    async def tick():
        await asyncio.sleep(0.01)
        return 1

    async def main():
        ctx.globals["tick"] = tick
        await ctx.eval_async("await tick(); while (true) {}", timeout=0.3)

    t0 = time.monotonic()
    with pytest.raises(qjs.JSTimeoutError):
        run(main())
    assert time.monotonic() - t0 < 1.5
    assert ctx.eval("'ok'") == "ok"


def test_context_timeout_is_default_for_eval_async():
    ctx = qjs.Context(timeout=0.3)
    try:
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            run(ctx.eval_async("await null; for (;;) {}"))
        assert time.monotonic() - t0 < 1.5
    finally:
        ctx.close()


def test_cancelling_eval_async_task_cancels_host_coroutine(ctx):
    started = []
    cancelled = []

    async def slow():
        started.append(True)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main():
        ctx.globals["slow"] = slow
        task = asyncio.create_task(ctx.eval_async("await slow()"))
        await asyncio.sleep(0.1)
        assert started == [True]
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        elapsed = time.monotonic() - t0
        for _ in range(50):
            if cancelled:
                break
            await asyncio.sleep(0.01)
        return elapsed, only_current_task()

    elapsed, clean = run(main())
    assert elapsed < 1.0
    assert cancelled == [True]
    assert clean
    assert ctx.eval("1 + 1") == 2


def test_cancel_with_many_host_coroutines_in_flight(ctx):
    cancelled = []

    async def slow(i):
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise

    async def main():
        ctx.globals["slow"] = slow
        task = asyncio.create_task(ctx.eval_async("await Promise.all([0, 1, 2, 3].map(slow))"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(50):
            if len(cancelled) == 4:
                break
            await asyncio.sleep(0.01)
        return only_current_task()

    assert run(main())
    assert sorted(cancelled) == [0, 1, 2, 3]


def test_eval_async_with_asyncio_wait_for(ctx):
    async def slow():
        await asyncio.sleep(10)

    async def main():
        ctx.globals["slow"] = slow
        with pytest.raises((asyncio.TimeoutError, TimeoutError)):
            await asyncio.wait_for(ctx.eval_async("await slow()"), 0.1)
        return only_current_task()

    assert run(main())


def test_timeout_returns_after_the_host_coroutine_unwound(ctx):
    """A timeout left the cancelled host task running past eval_async (3.12+ wait_for failed)."""
    unwound = []

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # unwinding takes a step of the loop
            unwound.append(True)
            raise

    async def main():
        ctx.globals["slow"] = slow
        with pytest.raises(qjs.JSTimeoutError):
            await ctx.eval_async("await slow()", timeout=0.1)
        # no sleep: the cancellation has been delivered and finished before the raise
        return unwound == [True] and only_current_task()

    assert run(main())


def _close_while_in_flight(delay: float):
    errors = []
    outcome = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, c: errors.append(c))
        ctx = qjs.Context()
        started = asyncio.Event()
        go = asyncio.Event()

        async def tool():
            started.set()
            try:
                await go.wait()
            except asyncio.CancelledError:
                outcome.append("cancelled")
                await go.wait()  # a tool that keeps going after being cancelled
            outcome.append("finished")
            return {"late": True}

        ctx.globals["tool"] = tool
        task = asyncio.create_task(ctx.eval_async("await tool()"))
        await started.wait()
        if delay:
            await asyncio.sleep(delay)
        ctx.close()
        go.set()  # the coroutine now finishes, after the close
        with pytest.raises((qjs.ClosedError, asyncio.CancelledError)):
            await task
        for _ in range(100):
            if "finished" in outcome:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        return only_current_task()

    assert run(main())
    assert errors == []
    assert "finished" in outcome, outcome


def test_close_while_host_coroutine_in_flight():
    _close_while_in_flight(0.05)


def test_close_right_after_host_coroutine_started():
    """Close before the host coroutine's Task had its first step: the coroutine
    must still be cancelled (or allowed to run), never stranded half-way."""
    _close_while_in_flight(0)


def test_close_with_promise_from_sync_eval_in_loop():
    errors = []
    finished = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, c: errors.append(c))
        ctx = qjs.Context()

        async def tool():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass
            finished.append(True)
            return [1, 2]

        ctx.globals["tool"] = tool
        ctx.eval("globalThis.p = tool()")
        await asyncio.sleep(0.01)
        ctx.close()
        await asyncio.sleep(0.1)
        return only_current_task()

    assert run(main())
    assert errors == []


# -- modules ------------------------------------------------------------------------------

def test_module_top_level_await(ctx):
    assert run(ctx.eval_async("export const a = await Promise.resolve(1)", module=True)) == {"a": 1}


def test_module_top_level_await_host_coroutine(ctx):
    async def tool(x):
        await asyncio.sleep(0.01)
        return x + "!"

    async def main():
        ctx.globals["tool"] = tool
        return await ctx.eval_async(
            "export const a = await tool('hi'); export const b = [a, a.length]", module=True
        )

    assert run(main()) == {"a": "hi!", "b": ["hi!", 3]}


def test_module_top_level_await_rejection(ctx):
    with pytest.raises(qjs.JSError) as ei:
        run(ctx.eval_async("await Promise.reject(new TypeError('m')); export const a = 1",
                           module=True))
    assert ei.value.name == "TypeError"


# -- unhandled rejections ---------------------------------------------------------------

def test_unhandled_rejection_callback(ctx):
    got = []

    def on_rejection(reason):
        got.append((reason, reason["message"] if isinstance(reason, qjs.Handle) else reason))

    ctx.on_unhandled_rejection = on_rejection
    with warnings.catch_warnings():
        warnings.simplefilter("error", qjs.UnhandledRejectionWarning)
        ctx.eval("Promise.reject(new Error('x'))")
        ctx.runtime.run_jobs()
    assert len(got) == 1
    reason, message = got[0]
    assert isinstance(reason, qjs.Handle)
    assert message == "x"
    got.clear()


def test_unhandled_rejection_callback_converted_value(ctx):
    got = []
    ctx.on_unhandled_rejection = got.append
    ctx.eval("Promise.reject({code: 7, tags: ['a']})")
    ctx.runtime.run_jobs()
    assert got == [{"code": 7, "tags": ["a"]}]


def test_handled_rejection_not_reported(ctx):
    got = []
    ctx.on_unhandled_rejection = got.append
    ctx.eval("Promise.reject(new Error('x')).catch(() => {}); 0")
    ctx.runtime.run_jobs()
    assert got == []


def test_unhandled_rejection_warning_by_default(ctx):
    assert ctx.on_unhandled_rejection is None
    with pytest.warns(qjs.UnhandledRejectionWarning, match="x"):
        ctx.eval("Promise.reject(new Error('x'))")
        ctx.runtime.run_jobs()


def test_unhandled_rejection_in_eval_async_warns(ctx):
    async def main():
        return await ctx.eval_async("Promise.reject(new Error('side')); await null; 'done'")

    with pytest.warns(qjs.UnhandledRejectionWarning, match="side"):
        assert run(main()) == "done"


def test_unhandled_rejection_callback_errors_do_not_propagate(ctx):
    def broken(reason):
        raise RuntimeError("handler bug")

    ctx.on_unhandled_rejection = broken
    ctx.eval("Promise.reject(1)")
    ctx.runtime.run_jobs()
    assert ctx.eval("1 + 1") == 2


def test_many_rejections_callback_bounded(ctx):
    calls = []
    ctx.on_unhandled_rejection = calls.append
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ctx.eval("for (let i = 0; i < 1e5; i++) Promise.reject(i)")
        ctx.runtime.run_jobs()
    n_warn = sum(issubclass(x.category, qjs.UnhandledRejectionWarning) for x in w)
    assert 1 <= len(calls) + n_warn <= 100
    assert all(isinstance(c, int) for c in calls)
    assert ctx.eval("1 + 1") == 2


def test_many_rejections_warnings_bounded(ctx):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ctx.eval("for (let i = 0; i < 1e5; i++) Promise.reject(i)")
        ctx.runtime.run_jobs()
    n_warn = sum(issubclass(x.category, qjs.UnhandledRejectionWarning) for x in w)
    assert 1 <= n_warn <= 100
    assert ctx.eval("1 + 1") == 2


def test_many_rejections_kept_alive_bounded(ctx):
    """Rejected promises that stay reachable (no address reuse) are still bounded."""
    calls = []
    ctx.on_unhandled_rejection = calls.append
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ctx.eval("globalThis.keep = []; for (let i = 0; i < 1e4; i++) keep.push(Promise.reject(i))")
        ctx.runtime.run_jobs()
    n_warn = sum(issubclass(x.category, qjs.UnhandledRejectionWarning) for x in w)
    assert 1 <= len(calls) + n_warn <= 100
    ctx.eval("keep = null")


# -- volume ----------------------------------------------------------------------------------

def test_many_awaits_of_host_coroutine(run_child):
    # In a child interpreter: a crash here must not take the test session down.
    proc = run_child(
        """
        import asyncio, qjs

        async def tick():
            return 1

        async def main():
            with qjs.Context() as ctx:
                ctx.globals["tick"] = tick
                return await ctx.eval_async(
                    "let n = 0; for (let i = 0; i < 5000; i++) n += await tick(); n"
                )

        print("result", asyncio.run(main()))
        """
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip() == "result 5000"


def test_many_awaits_of_suspending_host_coroutine(ctx):
    async def tick():
        await asyncio.sleep(0)
        return 1

    async def main():
        ctx.globals["tick"] = tick
        result = await ctx.eval_async(
            "let n = 0; for (let i = 0; i < 2000; i++) n += await tick(); n"
        )
        return result, only_current_task()

    assert run(main()) == (2000, True)


def test_context_reusable_across_event_loops(ctx):
    async def tool(x):
        await asyncio.sleep(0)
        return x

    ctx.globals["tool"] = tool
    assert run(ctx.eval_async("await tool(1)")) == 1
    assert run(ctx.eval_async("await tool(2)")) == 2
