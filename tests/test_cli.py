"""The command line: python -m qjs."""

import sys
from pathlib import Path

import pytest


def one_line(text):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return len(lines) == 1


def test_eval_prints_completion_value(run_cli):
    r = run_cli("-e", "[1,2,3].map(x => x * 2)")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[ 2, 4, 6 ]\n"   # as node prints arrays


def test_eval_number(run_cli):
    r = run_cli("-e", "(1 + 2) * 3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "9"


def test_string_completion_printed_raw(run_cli):
    r = run_cli("-e", "'hello' + ' world'")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello world\n"


def test_undefined_prints_nothing(run_cli):
    r = run_cli("-e", "undefined")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""


def test_console_log(run_cli):
    r = run_cli("-e", "console.log('hi')")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi\n"


def test_run_file(run_cli, tmp_path):
    script = tmp_path / "prog.js"
    script.write_text("function add(a, b) { return a + b }\nconsole.log('sum', add(2, 3));\n")
    r = run_cli(str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "sum 5\n"


def test_run_file_completion_value(run_cli, tmp_path):
    script = tmp_path / "value.js"
    script.write_text("const xs = [1, 2, 3];\nxs.length * 10\n")
    r = run_cli(str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "30"


def test_module_file(run_cli, tmp_path):
    script = tmp_path / "mod.js"
    script.write_text(
        "export const x = 1;\nconsole.log(typeof import.meta, this === undefined);\n"
    )
    r = run_cli("--module", str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "object true"


def test_module_syntax_detected_without_flag(run_cli, tmp_path):
    script = tmp_path / "mod.js"
    script.write_text("export const x = 1;\nconsole.log(typeof import.meta);\n")
    r = run_cli(str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "object\n"


def test_uncaught_exception(run_cli):
    r = run_cli("-e", "throw new TypeError('boom')")
    assert r.returncode == 1
    assert r.stderr == (
        "<eval>:1:11\n"
        "throw new TypeError('boom')\n"
        "          ^\n"
        "\n"
        "Uncaught TypeError: boom\n"
        "    at <eval> (<eval>:1:11)\n"
    )


def test_uncaught_exception_in_file(run_cli, tmp_path):
    script = tmp_path / "bad.js"
    script.write_text("console.log('before');\nfunction f() {\n  null.x;\n}\nf();\n")
    r = run_cli(str(script))
    assert r.returncode == 1
    assert r.stdout == "before\n"
    lines = r.stderr.splitlines()
    assert lines[:5] == [f"{script}:3:3", "  null.x;", "  ^", "",
                         "Uncaught TypeError: cannot read property 'x' of null"]
    assert lines[5:] == [f"    at f ({script}:3:3)", f"    at <eval> ({script}:5:1)"]


def test_timeout_option(run_cli):
    r = run_cli("--timeout", "0.5", "-e", "while (true) {}")
    assert r.returncode != 0
    assert "time" in r.stderr.lower()
    assert one_line(r.stderr), r.stderr


def test_timeout_option_allows_quick_code(run_cli):
    r = run_cli("--timeout", "2", "-e", "1 + 1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"


def test_memory_limit_option(run_cli):
    r = run_cli("--memory-limit", "16M", "--timeout", "20", "-e", "let s = 'x'; for (;;) s += s")
    assert r.returncode != 0
    assert "memory" in r.stderr.lower()
    assert one_line(r.stderr), r.stderr


def test_memory_limit_option_allows_small_code(run_cli):
    r = run_cli("--memory-limit", "64M", "-e", "'x'.repeat(1000).length")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1000"


def test_missing_file(run_cli, tmp_path):
    r = run_cli(str(tmp_path / "does-not-exist.js"))
    assert r.returncode != 0
    assert r.stderr.strip()


@pytest.mark.parametrize("name", ["require", "process", "std", "os"])
def test_no_host_modules(run_cli, name):
    r = run_cli("-e", f"typeof {name}")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "undefined\n"


# -- printing values ----------------------------------------------------------------


@pytest.mark.parametrize("code,out", [
    ("null", "null\n"),
    ("[1, , 3]", "[ 1, <1 empty item>, 3 ]\n"),
    ("({d: undefined, f: 1n})", "{ d: undefined, f: 1n }\n"),
    ("new Map([['a', 1]])", "Map(1) { 'a' => 1 }\n"),
    ("[1, '1']", "[ 1, '1' ]\n"),
])
def test_eval_prints_values_like_node(run_cli, code, out):
    r = run_cli("-e", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == out


@pytest.mark.parametrize("code,out", [
    ("undefined", "undefined\n"), ("'s'", "s\n"), ("null", "null\n"), ("[1]", "[ 1 ]\n"),
])
def test_print_option_like_node_p(run_cli, code, out):
    r = run_cli("-p", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout == out


def test_console_log_null_prints_null(run_cli):
    """console.log(null) printed undefined: the default console saw converted values."""
    r = run_cli("-e", "console.log(null, undefined, '%s!', 'x'); console.log({a: 'b'})")
    assert r.stdout == "null undefined %s! x\n{ a: 'b' }\n"


def test_long_array_is_cut(run_cli):
    r = run_cli("-e", "Array.from({length: 200}, (_, i) => i)")
    assert r.stdout.rstrip().endswith("... 100 more items\n]")


def test_thrown_non_error_is_inspected(run_cli):
    r = run_cli("-e", "throw {code: 7}")
    assert r.returncode == 1
    assert r.stderr.rstrip().endswith("Uncaught { code: 7 }")


def test_thrown_undefined(run_cli):
    r = run_cli("-e", "throw undefined")
    assert r.returncode == 1
    assert r.stderr.rstrip().endswith("Uncaught undefined")


def test_unhandled_rejection_fails_the_program(run_cli):
    r = run_cli("-e", "Promise.reject(new Error('late')); 1")
    assert r.returncode == 1
    assert "Uncaught (in promise) Error: late" in r.stderr
    assert ".py" not in r.stderr


# -- arguments, modules, files -------------------------------------------------------


def test_script_args(run_cli, tmp_path):
    script = tmp_path / "args.js"
    script.write_text("console.log(JSON.stringify(scriptArgs))\n")
    r = run_cli(str(script), "a", "--flag", "-e", "x")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f'["{script}","a","--flag","-e","x"]\n'


def test_mjs_runs_as_a_module_with_relative_imports(run_cli, tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "sq.js").write_text("export const sq = (x) => x * x;\n")
    (tmp_path / "lib" / "twice.mjs").write_text(
        "import { sq } from './sq.js';\nexport const twice = (x) => 2 * sq(x);\n")
    app = tmp_path / "app.mjs"
    app.write_text("import { twice } from './lib/twice.mjs';\n"
                   f"import {{ sq }} from '{tmp_path / 'lib' / 'sq.js'}';\n"
                   "console.log(twice(3), sq(4), await Promise.resolve('tla'));\n")
    r = run_cli(str(app))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "18 16 tla\n"


def test_imports_cannot_leave_the_script_folder(run_cli, tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (tmp_path / "secret.js").write_text("export const s = 1;\n")
    app = inner / "app.mjs"
    app.write_text("import { s } from '../secret.js';\nconsole.log(s);\n")
    r = run_cli(str(app))
    assert r.returncode == 1
    assert one_line(r.stderr), r.stderr
    assert "outside the allowed folders" in r.stderr and "--allow-read" in r.stderr
    r = run_cli("--allow-read", str(tmp_path), str(app))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "1\n"


def test_bare_specifiers_are_refused_clearly(run_cli, tmp_path):
    app = tmp_path / "app.mjs"
    app.write_text("import x from 'lodash';\n")
    r = run_cli(str(app))
    assert r.returncode == 1
    assert "only relative" in r.stderr


def test_dynamic_import_from_a_script(run_cli, tmp_path):
    (tmp_path / "m.js").write_text("export default 5;\n")
    script = tmp_path / "main.js"
    script.write_text("const m = await import('./m.js');\nconsole.log(m.default);\n")
    r = run_cli(str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "5\n"


def test_readme_example_file(run_cli):
    hello = Path(__file__).resolve().parent.parent / "examples" / "hello.js"
    if not hello.exists():
        pytest.skip("examples/ is not next to the tests")
    r = run_cli(str(hello))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "sum of 14..1078 divisible by 3, 9 or 5: 271575"


# -- usage errors, limits, Ctrl-C ------------------------------------------------------


@pytest.mark.parametrize("args,words", [
    (["--memory-limit", "100", "-e", "1"], "minimum of 1M"),
    (["--memory-limit", "lots", "-e", "1"], "not a size"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--timeout", "-1", "-e", "1"], "timeout"),
    (["-e", "1", "-p", "2"], "not both"),
])
def test_usage_errors_exit_2_with_one_line(run_cli, args, words):
    r = run_cli(*args)
    assert r.returncode == 2
    assert one_line(r.stderr), r.stderr
    assert words in r.stderr
    assert "could not create a JS context" not in r.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to send on Windows")
def test_ctrl_c_stops_running_js(tmp_path):
    """One Ctrl-C ends `while (true) {}`: exit 130, one line, no traceback."""
    import signal
    import subprocess
    import time

    from conftest import child_env

    proc = subprocess.Popen([sys.executable, "-m", "qjs", "-e", "console.log('go'); for (;;) {}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(), cwd=str(tmp_path))
    assert proc.stdout.readline() == "go\n"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == "qjs: interrupted\n"
