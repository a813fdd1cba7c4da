"""Generators and iterators stepped from Python: the resumption primitive."""

from __future__ import annotations

import asyncio
import time

import pytest

import qjs


def run(coro):
    return asyncio.run(coro)


GEN3 = "(function*(){ yield 1; yield 2; yield 3 })()"


# -- iteration ------------------------------------------------------------------------------

def test_generator_to_list(ctx):
    assert list(ctx.eval_handle(GEN3)) == [1, 2, 3]


@pytest.mark.parametrize(
    "code, expected",
    [
        ("[1, 'two', {three: 3}, [4]]", [1, "two", {"three": 3}, [4]]),
        ("new Set([3, 1, 3, 2])", [3, 1, 2]),
        ("new Map([['a', 1], ['b', {x: 2}]])", [["a", 1], ["b", {"x": 2}]]),
        ("new Map([['a', 1], ['b', 2]]).keys()", ["a", "b"]),
        ("['x', 'y'].entries()", [[0, "x"], [1, "y"]]),
        ("'héllo'", ["h", "é", "l", "l", "o"]),
        ("[]", []),
        (
            "({[Symbol.iterator]() { let i = 0;"
            " return {next: () => ({done: i >= 3, value: i++ * 10})} }})",
            [0, 10, 20],
        ),
    ],
    ids=["array", "set", "map", "map-keys", "entries", "string", "empty", "custom-iterable"],
)
def test_iter_over_iterables(ctx, code, expected):
    h = ctx.eval_handle(code)
    assert list(iter(h)) == expected
    if ctx.eval_handle("(x) => typeof x.next !== 'function'")(h):
        # an iterable that is not itself an iterator can be iterated again
        assert list(h) == expected


def test_iter_over_non_iterable_raises(ctx):
    h = ctx.eval_handle("({a: 1})")
    with pytest.raises(qjs.JSError) as ei:
        iter(h)
    assert ei.value.name == "TypeError"


def test_generator_values_converted_or_handles(ctx):
    items = list(ctx.eval_handle("(function*(){ yield {a: [1]}; yield () => 1; yield 2n ** 70n })()"))
    assert items[0] == {"a": [1]}
    assert isinstance(items[1], qjs.Handle) and items[1].typeof == "function"
    assert items[2] == 2**70


def test_generator_handle_is_iterator(ctx):
    h = ctx.eval_handle(GEN3)
    assert iter(h) is h
    assert next(h) == 1
    assert next(h) == 2
    assert list(h) == [3]
    with pytest.raises(StopIteration):
        next(h)


def test_for_loop_and_partial_consumption(ctx):
    h = ctx.eval_handle("(function*(){ let i = 0; while (true) yield i++ })()")
    out = []
    for x in h:
        if x == 5:
            break
        out.append(x)
    assert out == [0, 1, 2, 3, 4]
    assert next(h) == 6


def test_return_value_is_stop_iteration_value(ctx):
    h = ctx.eval_handle("(function*(){ yield 1; return {final: [1, 2]} })()")
    assert next(h) == 1
    with pytest.raises(StopIteration) as ei:
        next(h)
    assert ei.value.value == {"final": [1, 2]}
    # afterwards it stays finished
    with pytest.raises(StopIteration) as ei:
        next(h)
    assert ei.value.value is None


def test_yield_from_python_generator_gets_return_value(ctx):
    h = ctx.eval_handle("(function*(){ const a = yield 1; const b = yield a + 1; return a * b })()")

    def delegate():
        result = yield from h
        return result

    d = delegate()
    assert next(d) == 1
    assert d.send(10) == 11
    with pytest.raises(StopIteration) as ei:
        d.send(3)
    assert ei.value.value == 30


def test_send(ctx):
    h = ctx.eval_handle("(function*(){ let total = 0; while (true) total += yield total })()")
    assert next(h) == 0
    assert h.send(5) == 5
    assert h.send(10) == 15
    assert h.send(-1) == 14


def test_send_converts_values(ctx):
    h = ctx.eval_handle(
        "(function*(){ const v = yield 'ready'; yield [typeof v, Array.isArray(v.list), v.n] })()"
    )
    assert next(h) == "ready"
    assert h.send({"list": [1, 2], "n": 2**60}) == ["object", True, 2**60]


def test_throw_python_exception_caught_in_generator(ctx):
    h = ctx.eval_handle(
        "(function*(){"
        "  while (true) {"
        "    try { yield 'waiting' }"
        "    catch (e) { yield [e instanceof Error, e.name, e.message] }"
        "  }"
        "})()"
    )
    assert next(h) == "waiting"
    assert h.throw(ValueError("oops")) == [True, "ValueError", "oops"]
    assert next(h) == "waiting"
    assert h.throw(RuntimeError, "legacy form") == [True, "RuntimeError", "legacy form"]


CATCHER = (
    "(function*(){"
    "  while (true) {"
    "    try { yield 'waiting' }"
    "    catch (e) { yield [e.name, e.message] }"
    "  }"
    "})()"
)


@pytest.mark.parametrize(
    "args, expected",
    [
        ((KeyError,), ["KeyError", ""]),           # like Python: KeyError()
        ((KeyError, None), ["KeyError", ""]),
        ((ValueError, "v"), ["ValueError", "v"]),
        ((ValueError, ValueError("inst")), ["ValueError", "inst"]),
    ],
    ids=["class", "class-none", "class-value", "class-instance"],
)
def test_throw_signatures_like_python(ctx, args, expected):
    h = ctx.eval_handle(CATCHER)
    assert next(h) == "waiting"
    assert h.throw(*args) == expected


def test_throw_uncaught_reraises_python_exception(ctx):
    err = ValueError("not caught")
    h = ctx.eval_handle(GEN3)
    assert next(h) == 1
    with pytest.raises(ValueError) as ei:
        h.throw(err)
    assert ei.value is err
    with pytest.raises(StopIteration):
        next(h)


def test_throw_then_generator_returns(ctx):
    h = ctx.eval_handle("(function*(){ try { yield 1 } catch (e) { return 'handled ' + e.message } })()")
    next(h)
    with pytest.raises(StopIteration) as ei:
        h.throw(ValueError("x"))
    assert ei.value.value == "handled x"


def test_close_runs_finally(ctx):
    h = ctx.eval_handle(
        "globalThis.log = [];"
        "(function*(){ try { yield 1; yield 2 } finally { log.push('finally') } })()"
    )
    assert next(h) == 1
    h.close()
    assert ctx.eval("log") == ["finally"]
    with pytest.raises(StopIteration):
        next(h)
    h.close()  # closing twice is fine
    assert ctx.eval("log") == ["finally"]


def test_close_unstarted_generator_skips_body(ctx):
    h = ctx.eval_handle("globalThis.ran = false; (function*(){ ran = true; yield 1 })()")
    h.close()
    assert ctx.eval("ran") is False
    with pytest.raises(StopIteration):
        next(h)


# -- resume ------------------------------------------------------------------------------------

def test_resume_steps(ctx):
    h = ctx.eval_handle(GEN3)
    assert h.resume() == (False, 1)
    assert h.resume() == (False, 2)
    assert h.resume() == (False, 3)
    assert h.resume() == (True, None)


def test_resume_value_is_result_of_yield(ctx):
    h = ctx.eval_handle("(function* () { const reply = yield 'question?'; return reply * 2 })()")
    assert h.resume() == (False, "question?")
    assert h.resume(21) == (True, 42)


def test_resume_first_value_is_ignored(ctx):
    h = ctx.eval_handle("(function* () { const r = yield 'a'; yield r })()")
    assert h.resume("ignored") == (False, "a")
    assert h.resume("used") == (False, "used")


def test_resume_return_runs_finally(ctx):
    h = ctx.eval_handle(
        "globalThis.fin = 0;"
        "(function* () { try { yield 1; yield 2 } finally { fin++ } })()"
    )
    assert h.resume() == (False, 1)
    assert h.resume(mode="return", value={"v": 1}) == (True, {"v": 1})
    assert ctx.eval("fin") == 1
    assert h.resume() == (True, None)


def test_resume_return_with_yield_in_finally(ctx):
    h = ctx.eval_handle("(function* () { try { yield 1 } finally { yield 'cleanup' } })()")
    assert h.resume() == (False, 1)
    assert h.resume(mode="return", value=9) == (False, "cleanup")
    assert h.resume() == (True, 9)


def test_resume_throw_caught(ctx):
    h = ctx.eval_handle(
        "(function* () { try { yield 1 } catch (e) { yield ['caught', typeof e, String(e)] } })()"
    )
    assert h.resume() == (False, 1)
    assert h.resume("plain value", mode="throw") == (False, ["caught", "string", "plain value"])


def test_resume_throw_python_exception_caught(ctx):
    h = ctx.eval_handle(
        "(function* () { try { yield 1 } catch (e) { yield e.name + ': ' + e.message } })()"
    )
    h.resume()
    assert h.resume(ValueError("bad"), mode="throw") == (False, "ValueError: bad")


def test_resume_throw_uncaught_is_jserror(ctx):
    h = ctx.eval_handle(GEN3)
    assert h.resume() == (False, 1)
    with pytest.raises(qjs.JSError) as ei:
        h.resume("boom", mode="throw")
    assert ei.value.value == "boom"
    assert h.resume() == (True, None)


def test_resume_throw_uncaught_js_error_value(ctx):
    h = ctx.eval_handle(GEN3)
    err = ctx.eval_handle("new TypeError('typed')")
    h.resume()
    with pytest.raises(qjs.JSError) as ei:
        h.resume(err, mode="throw")
    assert ei.value.name == "TypeError"
    assert ei.value.message == "typed"


def test_error_thrown_by_generator_body(ctx):
    h = ctx.eval_handle("(function* () { yield 1; null.x })()", filename="gen.js")
    assert h.resume() == (False, 1)
    with pytest.raises(qjs.JSError) as ei:
        h.resume()
    assert ei.value.name == "TypeError"
    assert "gen.js:1" in ei.value.stack
    assert h.resume() == (True, None)


def test_resume_finished_generator(ctx):
    h = ctx.eval_handle("(function* () { return 'r' })()")
    assert h.resume() == (True, "r")
    assert h.resume() == (True, None)
    assert h.resume(5) == (True, None)
    assert h.resume(mode="return", value=3) == (True, 3)


@pytest.mark.parametrize("mode", ["bogus", "NEXT", "", None, 1])
def test_resume_invalid_mode(ctx, mode):
    h = ctx.eval_handle(GEN3)
    with pytest.raises(ValueError):
        h.resume(mode=mode)
    # the generator was not touched
    assert h.resume() == (False, 1)


def test_resume_plain_iterator(ctx):
    h = ctx.eval_handle("[10, 20][Symbol.iterator]()")
    assert h.resume() == (False, 10)
    assert h.resume() == (False, 20)
    assert h.resume() == (True, None)


def test_resume_infinite_loop_times_out():
    ctx = qjs.Context(timeout=0.3)
    try:
        h = ctx.eval_handle("(function* () { yield 1; for (;;) {} })()")
        assert h.resume() == (False, 1)
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            h.resume()
        assert time.monotonic() - t0 < 1.5
        assert ctx.eval("1 + 1") == 2
        assert h.resume() == (True, None)
        g = ctx.eval_handle(GEN3)
        assert list(g) == [1, 2, 3]
    finally:
        ctx.close()


def test_resume_catch_cannot_swallow_timeout():
    ctx = qjs.Context(timeout=0.3)
    try:
        h = ctx.eval_handle(
            "(function* () { while (true) { try { for (;;) {} } catch (e) {} finally { yield 'x' } } })()"
        )
        with pytest.raises(qjs.JSTimeoutError):
            h.resume()
        assert ctx.eval("'alive'") == "alive"
    finally:
        ctx.close()


def test_many_resumes(ctx):
    h = ctx.eval_handle("(function* () { let i = 0; while (true) { const r = yield i; i += r } })()")
    h.resume()
    for _ in range(20000):
        done, value = h.resume(1)
    assert (done, value) == (False, 20000)


# -- async generators ---------------------------------------------------------------------

AGEN = "(async function* () { yield 10; yield 20; yield 30 })()"


def test_for_await_inside_js(ctx):
    code = (
        "const out = [];"
        "for await (const x of (async function* () { yield 1; await null; yield 2; yield 3 })())"
        "  out.push(x);"
        "out"
    )
    assert run(ctx.eval_async(code)) == [1, 2, 3]


def test_async_for_from_python(ctx):
    async def main():
        h = ctx.eval_handle(AGEN)
        return [x async for x in h]

    assert run(main()) == [10, 20, 30]


def test_async_for_with_host_coroutine(ctx):
    async def fetch(i):
        await asyncio.sleep(0.01)
        return {"i": i}

    async def main():
        ctx.globals["fetch"] = fetch
        h = ctx.eval_handle("(async function* () { for (let i = 0; i < 3; i++) yield await fetch(i) })()")
        return [x async for x in h]

    assert run(main()) == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_async_for_over_async_iterable_object(ctx):
    async def main():
        h = ctx.eval_handle(
            "({[Symbol.asyncIterator]() { let i = 0;"
            " return {next: async () => ({done: i >= 3, value: i++})} }})"
        )
        return [x async for x in h]

    assert run(main()) == [0, 1, 2]


def test_resume_async_steps(ctx):
    async def main():
        h = ctx.eval_handle("(async function* () { yield 1; const r = yield 2; return r + '!' })()")
        return [
            await h.resume_async(),
            await h.resume_async(),
            await h.resume_async("done"),
            await h.resume_async(),
        ]

    assert run(main()) == [(False, 1), (False, 2), (True, "done!"), (True, None)]


def test_resume_async_modes(ctx):
    async def main():
        h = ctx.eval_handle(
            "globalThis.alog = [];"
            "(async function* () {"
            "  try { yield 1 } catch (e) { alog.push(e.message); yield 'recovered' }"
            "  finally { alog.push('finally') }"
            "})()"
        )
        steps = [await h.resume_async()]
        steps.append(await h.resume_async(ValueError("bad"), mode="throw"))
        steps.append(await h.resume_async(mode="return", value="bye"))
        return steps

    assert run(main()) == [(False, 1), (False, "recovered"), (True, "bye")]
    assert ctx.eval("alog") == ["bad", "finally"]


def test_resume_async_invalid_mode(ctx):
    h = ctx.eval_handle(AGEN)
    with pytest.raises(ValueError):
        h.resume_async(mode="sideways")


def test_asend(ctx):
    async def main():
        h = ctx.eval_handle(
            "(async function* () { let total = 0; while (true) total += yield total })()"
        )
        return [await h.asend(None), await h.asend(5), await h.asend(7)]

    assert run(main()) == [0, 5, 12]


def test_asend_on_finished_raises_stop_async_iteration(ctx):
    async def main():
        h = ctx.eval_handle("(async function* () { yield 1; return 2 })()")
        assert await h.asend(None) == 1
        with pytest.raises(StopAsyncIteration):
            await h.asend(None)
        with pytest.raises(StopAsyncIteration):
            await h.__anext__()

    run(main())


def test_athrow_caught(ctx):
    async def main():
        h = ctx.eval_handle(
            "(async function* () { while (true) { try { yield 'ok' }"
            " catch (e) { yield e.name + ':' + e.message } } })()"
        )
        assert await h.__anext__() == "ok"
        assert await h.athrow(KeyError("k")) == "KeyError:'k'"
        assert await h.__anext__() == "ok"
        assert await h.athrow(ValueError("v")) == "ValueError:v"

    run(main())


@pytest.mark.parametrize(
    "args, expected",
    [
        ((KeyError,), ["KeyError", ""]),
        ((ValueError, "v"), ["ValueError", "v"]),
        ((ValueError, ValueError("inst")), ["ValueError", "inst"]),
    ],
    ids=["class", "class-value", "class-instance"],
)
def test_athrow_signatures_like_python(ctx, args, expected):
    async def main():
        h = ctx.eval_handle(
            "(async function* () { while (true) { try { yield 'ok' }"
            " catch (e) { yield [e.name, e.message] } } })()"
        )
        assert await h.__anext__() == "ok"
        return await h.athrow(*args)

    assert run(main()) == expected


def test_athrow_caught_then_return_stops(ctx):
    async def main():
        h = ctx.eval_handle("(async function* () { try { yield 1 } catch (e) { return 'r' } })()")
        await h.__anext__()
        with pytest.raises(StopAsyncIteration):
            await h.athrow(ValueError("v"))

    run(main())


def test_athrow_uncaught_reraises(ctx):
    err = ValueError("uncaught")

    async def main():
        h = ctx.eval_handle(AGEN)
        assert await h.__anext__() == 10
        with pytest.raises(ValueError) as ei:
            await h.athrow(err)
        assert ei.value is err
        with pytest.raises(StopAsyncIteration):
            await h.__anext__()

    run(main())


def test_aclose_runs_finally(ctx):
    async def main():
        h = ctx.eval_handle(
            "globalThis.closed = [];"
            "(async function* () { try { yield 1; yield 2 } finally { await null; closed.push('finally') } })()"
        )
        assert await h.__anext__() == 1
        assert await h.aclose() is None
        with pytest.raises(StopAsyncIteration):
            await h.__anext__()
        await h.aclose()  # twice is fine

    run(main())
    assert ctx.eval("closed") == ["finally"]


def test_async_for_break_then_aclose(ctx):
    async def main():
        h = ctx.eval_handle(
            "globalThis.fin = false;"
            "(async function* () { try { let i = 0; while (true) yield i++ } finally { fin = true } })()"
        )
        got = []
        async for x in h:
            got.append(x)
            if x == 2:
                break
        await h.aclose()
        return got

    assert run(main()) == [0, 1, 2]
    assert ctx.eval("fin") is True


def test_async_generator_error_propagates(ctx):
    async def main():
        h = ctx.eval_handle("(async function* () { yield 1; await null; throw new RangeError('r') })()")
        assert await h.resume_async() == (False, 1)
        with pytest.raises(qjs.JSError) as ei:
            await h.resume_async()
        assert ei.value.name == "RangeError"
        assert await h.resume_async() == (True, None)

    run(main())


def test_async_generator_deadlock(ctx):
    async def main():
        h = ctx.eval_handle("(async function* () { yield 1; await new Promise(() => {}) })()")
        assert await h.resume_async() == (False, 1)
        with pytest.raises(qjs.DeadlockError):
            await h.resume_async()

    run(main())


def test_resume_async_infinite_loop_times_out():
    ctx = qjs.Context(timeout=0.3)
    try:
        async def main():
            h = ctx.eval_handle("(async function* () { yield 1; await null; for (;;) {} })()")
            assert await h.resume_async() == (False, 1)
            t0 = time.monotonic()
            with pytest.raises(qjs.JSTimeoutError):
                await h.resume_async()
            return time.monotonic() - t0

        assert run(main()) < 1.5
        assert ctx.eval("1 + 1") == 2
    finally:
        ctx.close()


def test_resume_async_timeout_covers_host_coroutine():
    ctx = qjs.Context(timeout=0.3)
    cancelled = []

    async def slow():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    try:
        async def main():
            ctx.globals["slow"] = slow
            h = ctx.eval_handle("(async function* () { yield await slow() })()")
            t0 = time.monotonic()
            with pytest.raises(qjs.JSTimeoutError):
                await h.resume_async()
            for _ in range(50):
                if cancelled:
                    break
                await asyncio.sleep(0.01)
            return time.monotonic() - t0

        assert run(main()) < 1.5
        assert cancelled == [True]
    finally:
        ctx.close()


# -- the LLMz pattern ----------------------------------------------------------------------

AGENT = """
(async function* agent() {
  const weather = await getWeather('Paris');
  yield { type: 'text', text: `It is ${weather.temp}°C in ${weather.city}` };
  const reply = yield { type: 'confirm', question: 'Book a table?' };
  const booking = reply === 'yes' ? await book(weather.city, 2) : null;
  return { action: 'exit', value: { reply, booking } };
})()
"""


def test_llmz_pattern_driven_from_python(ctx):
    calls = []

    async def get_weather(city):
        calls.append(("getWeather", city))
        await asyncio.sleep(0.01)
        return {"city": city, "temp": 21}

    async def book(city, people):
        calls.append(("book", city, people))
        await asyncio.sleep(0.01)
        return {"ref": "B-1", "city": city, "people": people}

    async def main():
        ctx.globals["getWeather"] = get_weather
        ctx.globals["book"] = book
        gen = ctx.eval_handle(AGENT, filename="agent.js")
        steps = []
        replies = {"confirm": "yes"}
        reply = None
        while True:
            done, value = await gen.resume_async(reply)
            steps.append((done, value))
            if done:
                break
            reply = replies.get(value["type"])
        return steps

    steps = run(main())
    assert steps == [
        (False, {"type": "text", "text": "It is 21°C in Paris"}),
        (False, {"type": "confirm", "question": "Book a table?"}),
        (True, {"action": "exit",
                "value": {"reply": "yes", "booking": {"ref": "B-1", "city": "Paris", "people": 2}}}),
    ]
    assert calls == [("getWeather", "Paris"), ("book", "Paris", 2)]


def test_llmz_pattern_declined(ctx):
    async def get_weather(city):
        await asyncio.sleep(0)
        return {"city": city, "temp": 5}

    async def book(city, people):  # pragma: no cover - must not be called
        raise AssertionError("book must not be called")

    async def main():
        ctx.globals["getWeather"] = get_weather
        ctx.globals["book"] = book
        gen = ctx.eval_handle(AGENT)
        assert await gen.resume_async() == (False, {"type": "text", "text": "It is 5°C in Paris"})
        assert await gen.resume_async() == (False, {"type": "confirm", "question": "Book a table?"})
        return await gen.resume_async("no")

    assert run(main()) == (True, {"action": "exit", "value": {"reply": "no", "booking": None}})


def test_llmz_pattern_tool_error_reaches_python(ctx):
    async def get_weather(city):
        await asyncio.sleep(0)
        raise LookupError(f"unknown city {city}")

    async def main():
        ctx.globals["getWeather"] = get_weather
        ctx.globals["book"] = lambda *a: None
        gen = ctx.eval_handle(AGENT)
        with pytest.raises((LookupError, qjs.JSError)) as ei:
            await gen.resume_async()
        return ei.value

    exc = run(main())
    assert "unknown city Paris" in str(exc)
