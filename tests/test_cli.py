"""The command line: python -m qjs."""

import pytest


def one_line(text):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return len(lines) == 1


def test_eval_prints_completion_value(run_cli):
    r = run_cli("-e", "[1,2,3].map(x => x * 2)")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[2, 4, 6]\n"


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


def test_module_syntax_rejected_without_flag(run_cli, tmp_path):
    script = tmp_path / "mod.js"
    script.write_text("export const x = 1;\n")
    r = run_cli(str(script))
    assert r.returncode != 0
    assert "SyntaxError" in r.stderr


def test_uncaught_exception(run_cli):
    r = run_cli("-e", "throw new TypeError('boom')")
    assert r.returncode != 0
    assert "TypeError: boom" in r.stderr
    assert one_line(r.stderr), r.stderr


def test_uncaught_exception_in_file(run_cli, tmp_path):
    script = tmp_path / "bad.js"
    script.write_text("console.log('before');\nnull.x;\n")
    r = run_cli(str(script))
    assert r.returncode != 0
    assert r.stdout == "before\n"
    assert "TypeError" in r.stderr
    assert one_line(r.stderr), r.stderr


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
