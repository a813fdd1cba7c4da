"""The must-pass table from the issue: what an LLM agent's code runner relies on."""

import time

import pytest

import qjs

MiB = 1 << 20
KiB = 1 << 10


# --- must pass ----------------------------------------------------------------


def test_arithmetic(ctx):
    assert ctx.eval("(1 + 2) * 3") == 9


def test_js_function(ctx):
    assert ctx.eval("function add(a, b) { return a + b }\nadd(5, 3)") == 8


def test_loop_sum_of_evens(ctx):
    src = """
    let sum = 0;
    for (let i = 1; i <= 10; i++) {
        if (i % 2 === 0) sum += i;
    }
    sum
    """
    assert ctx.eval(src) == 30


def test_host_function(ctx):
    ctx.globals["hostAdd"] = lambda a, b: a + b
    assert ctx.eval("hostAdd(10, 20)") == 30


def test_host_object(ctx):
    ctx.globals["obj"] = {"value": 42}
    assert ctx.eval("obj.value * 2") == 84


def test_thrown_type_error(ctx):
    src = "const ok = 1;\nfunction fail() {\n  throw new TypeError('bad thing');\n}\nfail();\n"
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval(src, filename="agent.js")
    e = ei.value
    assert e.name == "TypeError"
    assert e.message == "bad thing"
    assert "agent.js" in e.stack
    assert "agent.js:3" in e.stack
    caught = ctx.eval(
        "try { fail() } catch (e) { e instanceof TypeError ? 'caught ' + e.message : 'wrong' }",
        filename="agent.js",
    )
    assert caught == "caught bad thing"


def test_exit_action_with_result(ctx):
    src = """
    let result = 0;
    for (let i = 14; i <= 1078; i++) {
        if (i % 3 === 0 || i % 9 === 0 || i % 5 === 0) result += i;
    }
    ({action: 'exit', value: {result}})
    """
    assert ctx.eval(src) == {"action": "exit", "value": {"result": 271575}}
    assert sum(i for i in range(14, 1079) if i % 3 == 0 or i % 9 == 0 or i % 5 == 0) == 271575


def test_promise_resolved_value(ctx):
    ctx.eval("globalThis.r = 0; Promise.resolve(42).then(v => r = v)")
    ctx.runtime.run_jobs()
    assert ctx.eval("r") == 42


# --- bad input: a clear exception and a usable context afterwards ---------------


def test_infinite_loop_times_out():
    with qjs.Context(timeout=0.2) as ctx:
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("while(true){}")
        assert time.monotonic() - t0 < 1.0
        assert ctx.eval("1+1") == 2


def test_infinite_loop_with_catch_times_out():
    with qjs.Context(timeout=0.2) as ctx:
        t0 = time.monotonic()
        with pytest.raises(qjs.JSTimeoutError):
            ctx.eval("for(;;){try{for(;;){}}catch(e){}}")
        assert time.monotonic() - t0 < 1.0
        assert ctx.eval("1+1") == 2


def test_string_doubling_hits_memory_limit():
    with qjs.Context(memory_limit=16 * MiB, timeout=20) as ctx:
        with pytest.raises(qjs.JSMemoryError):
            ctx.eval("let s='x'; for(;;) s+=s")
        assert ctx.eval("1+1") == 2


def test_array_growth_hits_memory_limit():
    with qjs.Context(memory_limit=16 * MiB, timeout=20) as ctx:
        with pytest.raises(qjs.JSMemoryError):
            ctx.eval("const a=[]; for(;;) a.push([1,2,3])")
        assert ctx.eval("1+1") == 2


def test_unbounded_recursion_hits_stack_limit():
    with qjs.Context(stack_limit=256 * KiB, timeout=20) as ctx:
        with pytest.raises(qjs.JSStackOverflowError):
            ctx.eval("function f(){return f()+1} f()")
        assert ctx.eval("1+1") == 2


def test_disposed_handle(ctx):
    h = ctx.eval_handle("({a: 1})")
    h.dispose()
    with pytest.raises(qjs.ClosedError):
        h["a"]
    assert ctx.eval("1+1") == 2


def test_closed_runtime():
    rt = qjs.Runtime()
    ctx = rt.new_context()
    rt.close()
    with pytest.raises(qjs.ClosedError):
        ctx.eval("1+1")
    with pytest.raises(qjs.ClosedError):
        rt.new_context()
    with qjs.Context() as fresh:
        assert fresh.eval("1+1") == 2


def test_host_function_raises(ctx):
    def tool():
        raise ValueError("tool failed")

    ctx.globals["tool"] = tool
    assert ctx.eval("try { tool() } catch (e) { e.name + ': ' + e.message }") == (
        "ValueError: tool failed"
    )
    with pytest.raises(ValueError, match="tool failed"):
        ctx.eval("tool()")
    assert ctx.eval("1+1") == 2


def test_host_function_returns_cycle(ctx):
    def cyclic():
        d = {}
        d["me"] = d
        return d

    ctx.globals["cyclic"] = cyclic
    with pytest.raises(ValueError):
        ctx.eval("cyclic()")
    assert ctx.eval("1+1") == 2


def test_host_function_returns_unsupported_object(ctx):
    ctx.globals["opaque"] = lambda: object()
    with pytest.raises(TypeError):
        ctx.eval("opaque()")
    assert ctx.eval("1+1") == 2
