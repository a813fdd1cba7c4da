"""Evaluating source: scripts, modules, handles and the global object."""

import pytest

import qjs


def test_expression(ctx):
    assert ctx.eval("(1 + 2) * 3") == 9


def test_statements_completion_value(ctx):
    assert ctx.eval("var x = 1; x + 1") == 2


def test_undefined_completion_is_none(ctx):
    assert ctx.eval("undefined") is None
    assert ctx.eval("") is None
    assert ctx.eval("// only a comment") is None
    assert ctx.eval("function f() {}") is None


def test_globals_persist_between_evals(ctx):
    ctx.eval("var a = 5; let b = 7; const c = 11;")
    assert ctx.eval("a * b * c") == 385


def test_unicode_source(ctx):
    assert ctx.eval("'héllo' + ' ' + '\U0001F600'") == "héllo \U0001F600"
    assert ctx.eval("const ñ = 2; ñ * 21") == 42


def test_large_string_result(ctx):
    s = ctx.eval("'ab'.repeat(500000)")
    assert len(s) == 1_000_000
    assert s[:4] == "abab"


def test_options_are_keyword_only(ctx):
    with pytest.raises(TypeError):
        ctx.eval("1", "positional.js")


def test_code_must_be_str(ctx):
    with pytest.raises(TypeError):
        ctx.eval(123)


def test_syntax_error(ctx):
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("1 +")
    assert ei.value.name == "SyntaxError"
    assert ctx.eval("1 + 1") == 2


def test_eval_handle_returns_unconverted_handle(ctx):
    h = ctx.eval_handle("({a: 1, f() { return 2 }})")
    assert isinstance(h, qjs.Handle)
    assert h.typeof == "object"
    assert h.to_python()["a"] == 1
    assert h.call_method("f") == 2


def test_eval_handle_primitive(ctx):
    h = ctx.eval_handle("40 + 2")
    assert h.typeof == "number"
    assert h.to_python() == 42


def test_globals_is_handle_on_global_object(ctx):
    g = ctx.globals
    assert isinstance(g, qjs.Handle)
    assert g.typeof == "object"
    ctx.eval("globalThis.fromJs = 3")
    assert g["fromJs"] == 3
    g["fromPy"] = 4
    assert ctx.eval("fromPy + fromJs") == 7
    assert ctx.eval("globalThis.fromPy") == 4


def test_globals_contains_and_delete(ctx):
    ctx.globals["tmp"] = 1
    assert "tmp" in ctx.globals
    assert "never_defined_name" not in ctx.globals
    del ctx.globals["tmp"]
    assert ctx.eval("typeof tmp") == "undefined"


def test_module_returns_namespace_dict(ctx):
    ns = ctx.eval("export const x = 1; export const y = 'two'; export default [3];", module=True)
    assert isinstance(ns, dict)
    assert ns["x"] == 1
    assert ns["y"] == "two"
    assert ns["default"] == [3]


def test_module_semantics(ctx):
    ns = ctx.eval(
        "export const thisIsUndefined = this === undefined;"
        "export const meta = typeof import.meta;",
        module=True,
    )
    assert ns == {"thisIsUndefined": True, "meta": "object"}


def test_import_meta_is_a_syntax_error_in_scripts(ctx):
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("typeof import.meta")
    assert ei.value.name == "SyntaxError"


def test_module_exported_function_is_handle(ctx):
    ns = ctx.eval("export function twice(x) { return 2 * x }", module=True)
    f = ns["twice"]
    assert isinstance(f, qjs.Handle)
    assert f.typeof == "function"
    assert f(21) == 42


def test_contexts_of_one_runtime_are_separate_realms(rt):
    c1 = rt.new_context()
    c2 = rt.new_context()
    c1.eval("var onlyInC1 = 1")
    assert c2.eval("typeof onlyInC1") == "undefined"
    assert c1.eval("Array") is not None
    assert c1.eval("[] instanceof Array") is True
    assert c2.eval("[] instanceof Array") is True


def test_context_runtime_property(rt):
    c = rt.new_context()
    assert c.runtime is rt
    own = qjs.Context()
    try:
        assert isinstance(own.runtime, qjs.Runtime)
        assert own.runtime is not rt
    finally:
        own.close()


def test_context_on_existing_runtime(rt):
    c = qjs.Context(runtime=rt)
    assert c.runtime is rt
    assert c.eval("6 * 7") == 42
    c.close()


def test_no_host_capabilities_in_sandbox(ctx):
    for name in ("require", "process", "std", "os", "scriptArgs", "setTimeout", "fetch"):
        assert ctx.eval(f"typeof {name}") == "undefined", name


def test_standard_library_present(ctx):
    assert ctx.eval("JSON.stringify({a: [1, 2]})") == '{"a":[1,2]}'
    assert ctx.eval("Math.max(1, 5, 3)") == 5
    assert ctx.eval("/a(b+)c/.exec('xabbbc')[1]") == "bbb"
    assert ctx.eval("new Map([[1, 2]]).get(1)") == 2
    assert ctx.eval("[3, 1, 2].toSorted().join()") == "1,2,3"
