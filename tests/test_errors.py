"""The exception tree and what an uncaught JS exception carries."""

import pytest

import qjs


@pytest.mark.parametrize(
    "cls, bases",
    [
        (qjs.JSError, (qjs.Error,)),
        (qjs.InterruptedError, (qjs.JSError, qjs.Error)),
        (qjs.JSTimeoutError, (qjs.InterruptedError, qjs.JSError, qjs.Error, TimeoutError)),
        (qjs.JSMemoryError, (qjs.JSError, qjs.Error, MemoryError)),
        (qjs.JSStackOverflowError, (qjs.JSError, qjs.Error, RecursionError)),
        (qjs.DeadlockError, (qjs.Error,)),
        (qjs.ClosedError, (qjs.Error, RuntimeError)),
    ],
)
def test_hierarchy(cls, bases):
    for base in bases:
        assert issubclass(cls, base), (cls, base)
    assert issubclass(qjs.Error, Exception)


def test_unrelated_branches():
    assert not issubclass(qjs.ClosedError, qjs.JSError)
    assert not issubclass(qjs.DeadlockError, qjs.JSError)
    assert not issubclass(qjs.JSMemoryError, qjs.InterruptedError)
    assert not issubclass(qjs.InterruptedError, TimeoutError)


def test_thrown_type_error_attributes(ctx):
    src = "const x = 1;\nthrow new TypeError('boom');\n"
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval(src, filename="agent.js")
    e = ei.value
    assert e.name == "TypeError"
    assert e.message == "boom"
    assert isinstance(e.stack, str)
    assert "agent.js:2" in e.stack
    assert "boom" in str(e)


def test_stack_names_function_and_line(ctx):
    src = "function inner() {\n  throw new Error('deep');\n}\nfunction outer() { inner() }\nouter();"
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval(src, filename="lib.js")
    stack = ei.value.stack
    assert "inner" in stack
    assert "lib.js:2" in stack
    assert "lib.js:4" in stack


def test_error_value_is_the_thrown_object(ctx):
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("const err = new Error('x'); err.code = 17; throw err")
    v = ei.value.value
    if isinstance(v, qjs.Handle):
        assert v["code"] == 17
        assert v["message"] == "x"
    else:
        assert v["code"] == 17


def test_thrown_primitive(ctx):
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("throw 42")
    v = ei.value.value
    if isinstance(v, qjs.Handle):
        v = v.to_python()
    assert v == 42
    assert "42" in str(ei.value)


def test_thrown_plain_object(ctx):
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("throw {code: 'E1'}")
    v = ei.value.value
    if isinstance(v, qjs.Handle):
        v = v.to_python()
    assert v == {"code": "E1"}


def test_custom_error_subclass_name(ctx):
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval(
            "class AgentError extends Error {"
            "  constructor(m) { super(m); this.name = 'AgentError' } };"
            "throw new AgentError('custom')"
        )
    assert ei.value.name == "AgentError"
    assert ei.value.message == "custom"


@pytest.mark.parametrize(
    "src, name",
    [
        ("null.x", "TypeError"),
        ("undefinedVariable", "ReferenceError"),
        ("new Array(-1)", "RangeError"),
        ("JSON.parse('{')", "SyntaxError"),
        ("eval('1 +')", "SyntaxError"),
        ("decodeURIComponent('%')", "URIError"),
    ],
)
def test_builtin_error_names(ctx, src, name):
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval(src)
    assert ei.value.name == name
    assert isinstance(ei.value.message, str) and ei.value.message


def test_js_catches_its_own_errors(ctx):
    assert ctx.eval("try { null.x } catch (e) { e instanceof TypeError }") is True


def test_context_usable_after_error(ctx):
    for _ in range(3):
        with pytest.raises(qjs.JSError):
            ctx.eval("throw new Error('again')")
    assert ctx.eval("1 + 1") == 2


def test_jserror_is_catchable_as_qjs_error(ctx):
    with pytest.raises(qjs.Error):
        ctx.eval("throw new Error('x')")


def test_promise_rejection_is_a_value_not_an_exception(ctx):
    """A rejected promise is a value until someone awaits it."""
    h = ctx.eval(
        "globalThis.caught = null;"
        "const p = Promise.reject(new Error('later'));"
        "p.catch(e => { caught = e.message });"
        "p"
    )
    assert isinstance(h, qjs.Handle)
    ctx.runtime.run_jobs()
    assert ctx.eval("caught") == "later"
    h.dispose()
