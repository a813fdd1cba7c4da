"""The console object every context gets."""

import datetime as dt

import pytest

import qjs


def test_default_log_goes_to_stdout(ctx, capsys):
    ctx.eval("console.log('a', 1)")
    out, err = capsys.readouterr()
    assert out == "a 1\n"
    assert err == ""


@pytest.mark.parametrize("level", ["warn", "error"])
def test_default_warn_error_go_to_stderr(ctx, capsys, level):
    ctx.eval(f"console.{level}('oops', 2)")
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "oops 2\n"


@pytest.mark.parametrize("level", ["info", "debug"])
def test_default_info_debug_are_written(ctx, capsys, level):
    ctx.eval(f"console.{level}('note')")
    out, err = capsys.readouterr()
    assert "note\n" in out + err


def test_console_methods_exist(ctx):
    for name in ("log", "info", "warn", "error", "debug"):
        assert ctx.eval(f"typeof console.{name}") == "function", name


def test_console_callback(rt):
    calls = []
    ctx = rt.new_context(console=lambda level, *args: calls.append((level, args)))
    ctx.eval("console.log('a', 1)")
    assert calls == [("log", ("a", 1))]


def test_console_callback_levels_and_conversion(rt):
    calls = []
    ctx = rt.new_context(console=lambda level, *args: calls.append((level, *args)))
    ctx.eval(
        "console.info({k: [1, 2]}); console.warn(null, true); console.error(1.5);"
        " console.debug(new Date(0)); console.log()"
    )
    assert calls == [
        ("info", {"k": [1, 2]}),
        ("warn", None, True),
        ("error", 1.5),
        ("debug", dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)),
        ("log",),
    ]


def test_console_callback_on_context_shorthand():
    calls = []
    with qjs.Context(console=lambda *a: calls.append(a)) as ctx:
        ctx.eval("console.log('x')")
    assert calls == [("log", "x")]


def test_console_callback_receives_handles(rt):
    got = []
    ctx = rt.new_context(console=lambda level, *args: got.append(args[0]))
    ctx.eval("console.log(() => 7)")
    assert isinstance(got[0], qjs.Handle)
    assert got[0]() == 7


def test_console_callback_exception_is_js_error(rt):
    def bad(level, *args):
        raise RuntimeError("console broke")

    ctx = rt.new_context(console=bad)
    assert ctx.eval("try { console.log(1) } catch (e) { e.name + ':' + e.message }") == (
        "RuntimeError:console broke"
    )


def test_console_false(rt, capsys):
    ctx = rt.new_context(console=False)
    assert ctx.eval("typeof console") == "undefined"
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("console.log('x')")
    assert ei.value.name == "ReferenceError"
    assert capsys.readouterr() == ("", "")


def test_console_false_on_context_shorthand():
    with qjs.Context(console=False) as ctx:
        assert ctx.eval("typeof console") == "undefined"
