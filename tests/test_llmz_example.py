"""examples/llmz_turn.py: run as a script (its output checked), and its run_turn used
directly."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys

import pytest

import qjs

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "examples", "llmz_turn.py")


def child_env() -> dict[str, str]:
    """The environment for a child interpreter that imports the same qjs as we do."""
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(qjs.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@pytest.fixture(scope="module")
def output() -> dict[str, list[str]]:
    """The script's output (run with warnings as errors), split by turn."""
    proc = subprocess.run(
        [sys.executable, "-W", "error", EXAMPLE],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    turns: dict[str, list[str]] = {}
    current = None
    for line in proc.stdout.splitlines():
        if line.startswith("== "):
            current = turns.setdefault(line[3:], [])
        elif line.startswith("sent: "):
            turns["sent"] = [line]
            current = None
        elif current is not None:
            current.append(line)
    return turns


@pytest.fixture(scope="module")
def llmz():
    name = "llmz_turn_example"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def test_good_turn(output):
    assert output["good"] == [
        "ui: {'type': 'text', 'text': 'Order A-17 ships Friday'}",
        "ui: {'type': 'choice', 'question': 'Notify the customer?', 'options': ['yes', 'no']}",
        "console: [log] found A-17 2 items",
        # sendMessage(...).then(...) was not awaited: drain finished it
        "console: [info] message delivered",
        "result: {'action': 'done', 'total': '$129.50'}",
        # line 8 is a lone "}", not a statement
        "lines: 1-7, 9",
    ]


def test_unawaited_message_was_sent_once(output):
    assert output["sent"] == ["sent: ['Your order ships Friday']"]


def test_bad_turn_report(output):
    lines = output["bad"]
    assert lines[0] == "ui: {'type': 'text', 'text': '2 items'}"
    assert lines[1] == "error: TypeError: cannot read property 'toFixed' of undefined"
    assert lines[2] == "  at line 5: const price = order.price.toFixed(2);"
    assert lines[3].startswith("  variables: order = {'id': 'A-17', 'items': ['lamp', 'desk']")
    assert lines[3].endswith(", count = 2")
    assert lines[4] == "  lines executed: 1-5"
    assert len(lines) == 5


def test_slow_turn_stopped_by_the_deadline(output):
    lines = output["slow"]
    assert lines[0] == "ui: {'type': 'text', 'text': 'thinking...'}"
    assert lines[1].startswith("error: JSTimeoutError: ")
    assert lines[-1] == "  lines executed: 1-4"


def test_hungry_turn_stopped_by_the_memory_limit(output):
    lines = output["hungry"]
    assert lines[0] == "error: JSMemoryError: out of memory"
    assert lines[-1] == "  lines executed: 1-3"


# -- run_turn used directly ----------------------------------------------------------


def test_tool_error_is_reported_at_the_calling_line(llmz):
    code = '\nconst id = "Z-1";\nconst order = await lookupOrder(id);\nreturn order;\n'
    turn = asyncio.run(llmz.run_turn(code))
    assert turn.error.splitlines() == [
        "LookupError: no order Z-1",
        "  at line 3: const order = await lookupOrder(id);",
        "  variables: id = 'Z-1'",
        "  lines executed: 1-3",
    ]


def test_error_in_a_callback_reports_the_callback_frame(llmz):
    code = (
        "\n"
        "const xs = [1, 2, 0];\n"
        "const r = xs.map((x, i) => {\n"
        "  const inv = 10 / x;\n"
        "  if (!isFinite(inv)) throw new RangeError('zero at ' + i);\n"
        "  return inv;\n"
        "});\n"
    )
    turn = asyncio.run(llmz.run_turn(code))
    report = turn.error.splitlines()
    assert report[0] == "RangeError: zero at 2"
    assert report[1] == "  at line 5: if (!isFinite(inv)) throw new RangeError('zero at ' + i);"
    assert report[2] == "  variables: x = 0, i = 2, inv = inf"
    assert turn.lines[-1] == 5


def test_replies_reach_the_code(llmz):
    code = (
        "const a = yield { type: 'ask', text: 'name?' };\n"
        "const b = yield { type: 'ask', text: 'again?' };\n"
        "return [a, b, formatMoney(3)];\n"
    )
    turn = asyncio.run(llmz.run_turn(code, {"ask": "Ada"}))
    assert turn.error is None
    assert turn.ui == [{"type": "ask", "text": "name?"}, {"type": "ask", "text": "again?"}]
    assert turn.result == ["Ada", "Ada", "$3.00"]


def test_the_deadline_covers_waiting_for_tools(llmz, monkeypatch):
    async def slow_lookup(order_id):
        await asyncio.sleep(30)

    monkeypatch.setitem(llmz.TOOLS, "lookupOrder", slow_lookup)
    turn = asyncio.run(llmz.run_turn("const o = await lookupOrder('A-17');\n", deadline=0.2))
    assert turn.error.startswith("JSTimeoutError: ")


def test_line_ranges(llmz):
    assert llmz.line_ranges([]) == ""
    assert llmz.line_ranges([3, 1, 2, 2, 7, 9, 8, 12]) == "1-3, 7-9, 12"


def test_run_turn_leaves_nothing_open(llmz):
    import gc

    before = dict(qjs.live_objects())
    asyncio.run(llmz.run_turn("return 1;\n"))
    asyncio.run(llmz.run_turn("null.x;\n"))
    gc.collect()
    assert dict(qjs.live_objects()) == before
