"""The REPL, driven through a pseudo-terminal as a person would use it."""

import os
import sys

import pytest

pexpect = pytest.importorskip("pexpect", reason="pexpect drives the REPL (the test extra)")

PROMPT = "\r\n> "
MORE = "\r\n... "


@pytest.fixture
def repl(tmp_path):
    env = dict(os.environ, QJS_HISTORY=str(tmp_path / "history"), TERM="dumb", NO_COLOR="1",
               HOME=str(tmp_path))
    child = pexpect.spawn(sys.executable, ["-m", "qjs"], env=env, encoding="utf-8",
                          timeout=30, dimensions=(24, 200))
    child.expect("> ")
    yield child
    if child.isalive():
        child.terminate(force=True)


def run(child, line, prompt=PROMPT):
    """Send a line, return what was printed up to the next prompt."""
    child.sendline(line)
    child.expect_exact(prompt)
    out = child.before.replace("\r\n", "\n")
    assert out.startswith(line)
    return out[len(line):].strip("\n")


def test_results_are_shown_like_node(repl):
    assert run(repl, "1 + 1") == "2"
    assert run(repl, "'text'") == "'text'"
    assert run(repl, "[1, , 3]") == "[ 1, <1 empty item>, 3 ]"
    assert run(repl, "({d: undefined, f: 1n})") == "{ d: undefined, f: 1n }"
    assert run(repl, "null") == "null"
    assert run(repl, "new Map([['a', 1]])") == "Map(1) { 'a' => 1 }"
    assert run(repl, "{a: 1, b: [2]}") == "{ a: 1, b: [ 2 ] }"
    assert run(repl, "let x = 5") == "undefined"
    assert run(repl, "x * 2") == "10"


def test_multi_line_input(repl):
    assert run(repl, "function add(a, b) {", MORE) == ""
    assert run(repl, "  return a + b", MORE) == ""
    assert run(repl, "}") == "undefined"
    assert run(repl, "add(2, 3)") == "5"
    assert run(repl, "[1,", MORE) == ""
    assert run(repl, " 2]") == "[ 1, 2 ]"


def test_a_syntax_error_is_not_continued(repl):
    out = run(repl, "let = ;")
    assert out.startswith("Uncaught SyntaxError")
    assert run(repl, "1") == "1"


def test_underscore_is_the_last_result(repl):
    run(repl, "6 * 7")
    assert run(repl, "_ + 1") == "43"


def test_top_level_await(repl):
    assert run(repl, "await Promise.resolve(9)") == "9"


def test_uncaught_errors(repl):
    assert run(repl, "throw {code: 7}") == "Uncaught { code: 7 }"
    out = run(repl, "null.x")
    assert out.startswith("Uncaught TypeError: cannot read property 'x' of null\n    at ")
    assert run(repl, "1") == "1"


def test_unhandled_rejection_is_reported_cleanly(repl):
    out = run(repl, "Promise.reject(new Error('nope')); 1")
    assert out.splitlines()[0] == "1"
    assert "Uncaught (in promise) Error: nope" in out
    assert "asyncio" not in out and ".py" not in out


def test_tab_completes_properties_and_globals(repl):
    run(repl, "let obj = {price: 1, quantity: 2}")
    repl.send("obj.qu\t")
    repl.expect_exact("obj.quantity")
    repl.sendline("")
    repl.expect_exact(PROMPT)
    assert "2" in repl.before
    repl.send("Mat\t")
    repl.expect_exact("Math")
    repl.sendline(".PI")
    repl.expect_exact(PROMPT)
    assert "3.14159" in repl.before


def test_ctrl_c_stops_running_code_and_keeps_the_context(repl):
    run(repl, "let kept = 'still here'")
    repl.sendline("while (true) {}")
    repl.expect_exact("while (true) {}")
    import time
    time.sleep(0.5)
    repl.sendintr()
    repl.expect_exact(PROMPT)
    assert "Interrupted" in repl.before
    assert "Traceback" not in repl.before
    assert run(repl, "kept") == "'still here'"


def test_ctrl_c_at_the_prompt_then_again_exits(repl):
    repl.sendintr()
    repl.expect_exact("(To exit, press Ctrl+C again or Ctrl+D or type .exit)")
    repl.expect_exact("> ")
    repl.sendintr()
    repl.expect(pexpect.EOF)
    repl.wait()
    assert repl.exitstatus == 0


def test_ctrl_d_exits(repl):
    repl.sendeof()
    repl.expect(pexpect.EOF)
    repl.wait()
    assert repl.exitstatus == 0


def test_dot_commands(repl, tmp_path):
    script = tmp_path / "lib.js"
    script.write_text("function triple(n) {\n  return 3 * n\n}\n")
    assert "exit" in run(repl, ".help")
    run(repl, f".load {script}")
    assert run(repl, "triple(4)") == "12"
    repl.sendline(".exit")
    repl.expect(pexpect.EOF)


def test_history_is_kept_in_a_file(tmp_path):
    history = tmp_path / "history"
    env = dict(os.environ, QJS_HISTORY=str(history), TERM="dumb", NO_COLOR="1")
    child = pexpect.spawn(sys.executable, ["-m", "qjs"], env=env, encoding="utf-8", timeout=30)
    child.expect("> ")
    run(child, "40 + 2")
    child.sendline(".exit")
    child.expect(pexpect.EOF)
    assert "40 + 2" in history.read_text()
    child = pexpect.spawn(sys.executable, ["-m", "qjs"], env=env, encoding="utf-8", timeout=30)
    child.expect("> ")
    child.send("\x1b[A\x1b[A")      # up twice: .exit, then the line before it
    child.sendline("")
    child.expect_exact("42")
    child.sendline(".exit")
    child.expect(pexpect.EOF)


def test_history_can_be_turned_off(tmp_path):
    env = dict(os.environ, QJS_HISTORY="", TERM="dumb", HOME=str(tmp_path))
    child = pexpect.spawn(sys.executable, ["-m", "qjs"], env=env, encoding="utf-8", timeout=30)
    child.expect("> ")
    run(child, "1")
    child.sendline(".exit")
    child.expect(pexpect.EOF)
    assert not (tmp_path / ".qjs_history").exists()
