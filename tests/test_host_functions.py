"""Python callables exposed to JS."""

import datetime as dt

import pytest

import qjs


def test_assign_lambda(ctx):
    ctx.globals["hostAdd"] = lambda a, b: a + b
    assert ctx.eval("hostAdd(10, 20)") == 30


def test_decorator_registers_and_returns_original(ctx):
    def greet(name):
        return f"hi {name}"

    decorated = ctx.function(greet)
    assert decorated is greet
    assert ctx.eval("greet('bob')") == "hi bob"


def test_decorator_syntax(ctx):
    @ctx.function
    def square(x):
        return x * x

    assert callable(square)
    assert square(3) == 9
    assert ctx.eval("square(12)") == 144


def test_decorator_with_name(ctx):
    @ctx.function(name="other")
    def original(x):
        return x + 1

    assert original(1) == 2
    assert ctx.eval("typeof other") == "function"
    assert ctx.eval("other(41)") == 42
    assert ctx.eval("typeof original") == "undefined"


def test_arguments_are_converted(ctx):
    seen = []

    def record(*args):
        seen.append(args)

    ctx.globals["record"] = record
    ctx.eval(
        "record(1, 1.5, 'two', true, null, undefined, [1, [2]], {a: {b: 1}}, 2n**64n,"
        " new Uint8Array([1]), new Date(0))"
    )
    assert seen == [
        (
            1,
            1.5,
            "two",
            True,
            None,
            None,
            [1, [2]],
            {"a": {"b": 1}},
            2**64,
            b"\x01",
            dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
        )
    ]


def test_argument_count_follows_js_call(ctx):
    counts = []
    ctx.globals["count"] = lambda *a: counts.append(len(a))
    ctx.eval("count(); count(1); count(1, 2, 3)")
    assert counts == [0, 1, 3]


def test_return_values_are_converted(ctx):
    ctx.globals["make"] = lambda: {"l": [1, 2.5, None, True], "s": "x", "big": 2**60, "b": b"\x02"}
    assert ctx.eval("const m = make(); JSON.stringify([m.l, m.s])") == '[[1,2.5,null,true],"x"]'
    assert ctx.eval("typeof make().big") == "bigint"
    assert ctx.eval("make().b instanceof Uint8Array") is True
    ctx.globals["nothing"] = lambda: None
    assert ctx.eval("nothing() === null") is True


def test_function_argument_arrives_as_callable_handle(ctx):
    def apply(fn, x):
        assert isinstance(fn, qjs.Handle)
        assert fn.typeof == "function"
        return fn(x)

    ctx.globals["apply"] = apply
    assert ctx.eval("apply(x => x * 2, 21)") == 42


def test_return_a_callable(ctx):
    ctx.globals["adder"] = lambda n: (lambda x: x + n)
    assert ctx.eval("adder(10)(5)") == 15


def test_return_a_handle(ctx):
    keep = ctx.eval_handle("globalThis.kept = {id: 7}; kept")
    ctx.globals["getKept"] = lambda: keep
    assert ctx.eval("getKept() === kept") is True
    keep.dispose()


def test_methods_and_builtin_callables(ctx):
    class Counter:
        def __init__(self):
            self.n = 0

        def incr(self, by=1):
            self.n += by
            return self.n

    c = Counter()
    ctx.globals["incr"] = c.incr
    ctx.globals["pylen"] = len
    assert ctx.eval("incr(); incr(5)") == 6
    assert c.n == 6
    assert ctx.eval("pylen([1, 2, 3])") == 3


def test_host_function_used_from_js_callbacks(ctx):
    ctx.globals["double"] = lambda x: x * 2
    assert ctx.eval("[1, 2, 3].map(x => double(x))") == [2, 4, 6]


def test_host_function_is_a_real_js_function(ctx):
    ctx.globals["f"] = lambda: 1
    assert ctx.eval("f instanceof Function") is True
    assert ctx.eval("f.call(null)") == 1
    assert ctx.eval("f.apply(null, [])") == 1


def test_reentrant_eval_from_host_function(ctx):
    ctx.globals["inner"] = lambda: ctx.eval("globalThis.depth = (globalThis.depth || 0) + 1; 20")
    assert ctx.eval("inner() + inner() + 2") == 42
    assert ctx.eval("depth") == 2


def test_reentrant_host_js_host(ctx):
    ctx.globals["py"] = lambda n: n if n == 0 else ctx.eval(f"js({n - 1})") + 1
    ctx.eval("function js(n) { return py(n) }")
    assert ctx.eval("js(10)") == 10


# --- exceptions --------------------------------------------------------------


def test_exception_becomes_catchable_js_error(ctx):
    def boom():
        raise ValueError("bad input")

    ctx.globals["boom"] = boom
    assert ctx.eval("try { boom() } catch (e) { e.name + ':' + e.message }") == "ValueError:bad input"
    assert ctx.eval("try { boom() } catch (e) { e instanceof Error }") is True
    assert ctx.eval("1 + 1") == 2


def test_exception_has_no_python_traceback_in_js(ctx):
    def boom():
        raise KeyError("k")

    ctx.globals["boom"] = boom
    stack = ctx.eval("try { boom() } catch (e) { String(e.stack) }")
    assert "Traceback" not in stack
    assert 'File "' not in stack
    msg = ctx.eval("try { boom() } catch (e) { e.message }")
    assert msg == str(KeyError("k"))
    assert ctx.eval("try { boom() } catch (e) { e.name }") == "KeyError"


def test_custom_exception_class_name(ctx):
    class QuotaExceeded(Exception):
        pass

    def f():
        raise QuotaExceeded("over")

    ctx.globals["f"] = f
    assert ctx.eval("try { f() } catch (e) { e.name + '/' + e.message }") == "QuotaExceeded/over"


def test_uncaught_reraises_same_exception_object(ctx):
    raised = []

    def boom():
        exc = ValueError("original")
        raised.append(exc)
        raise exc

    ctx.globals["boom"] = boom
    with pytest.raises(ValueError) as ei:
        ctx.eval("function outer() { return boom() }\nouter()", filename="host_test.js")
    assert ei.value is raised[0]
    notes = "\n".join(getattr(ei.value, "__notes__", []))
    assert "host_test.js" in notes
    assert ctx.eval("1 + 1") == 2


def test_exception_through_nested_js_and_host_calls(ctx):
    def inner():
        raise LookupError("deep")

    ctx.globals["inner"] = inner
    ctx.globals["outer"] = lambda: ctx.eval("inner()")
    with pytest.raises(LookupError, match="deep"):
        ctx.eval("outer()")


def test_exception_from_handle_call(ctx):
    ctx.globals["boom"] = lambda: 1 / 0
    with ctx.eval_handle("(() => boom())") as f:
        with pytest.raises(ZeroDivisionError):
            f()


def test_wrong_arity_is_type_error_in_js(ctx):
    ctx.globals["two"] = lambda a, b: a + b
    assert ctx.eval("try { two(1) } catch (e) { e.name }") == "TypeError"


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_abort_through_catch(exc_type):
    calls = []

    def stop():
        calls.append(1)
        raise exc_type()

    # The timeout only turns a would-be endless loop into a failure.
    with qjs.Context(timeout=5) as ctx:
        _check_abort(ctx, stop, exc_type, calls)


def _check_abort(ctx, stop, exc_type, calls):
    ctx.globals["stop"] = stop
    with pytest.raises(exc_type):
        ctx.eval("try { stop() } catch (e) { 'caught' }")
    with pytest.raises(exc_type):
        ctx.eval("try { stop() } finally { 'cleanup' }")
    with pytest.raises(exc_type):
        ctx.eval("for (;;) { try { stop() } catch (e) {} finally {} }")
    assert len(calls) == 3
    assert ctx.eval("1 + 1") == 2


def test_system_exit_code_preserved(ctx):
    def quit_():
        raise SystemExit(3)

    ctx.globals["quit"] = quit_
    with pytest.raises(SystemExit) as ei:
        ctx.eval("try { quit() } catch (e) {}")
    assert ei.value.code == 3


def test_unsupported_return_value_is_type_error(ctx):
    ctx.globals["bad"] = lambda: object()
    assert ctx.eval("try { bad(); 'no' } catch (e) { e.name }") == "TypeError"
    with pytest.raises(TypeError):
        ctx.eval("bad()")
    assert ctx.eval("1 + 1") == 2


def test_cyclic_return_value_is_value_error(ctx):
    def cyc():
        lst = []
        lst.append(lst)
        return lst

    ctx.globals["cyc"] = cyc
    assert ctx.eval("try { cyc(); 'no' } catch (e) { e.name }") == "ValueError"
    with pytest.raises(ValueError):
        ctx.eval("cyc()")
    assert ctx.eval("1 + 1") == 2
