"""examples/agent_turn.py: run as a script, and its run_turn used directly."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys

import pytest

import qjs

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "examples", "agent_turn.py")


def child_env() -> dict[str, str]:
    """The environment for a child interpreter that imports the same qjs as we do."""
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(qjs.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@pytest.fixture(scope="module")
def script_output() -> str:
    proc = subprocess.run(
        [sys.executable, EXAMPLE],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def agent_turn():
    name = "agent_turn_example"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


def test_example_exists():
    assert os.path.isfile(EXAMPLE)


def test_script_components(script_output):
    components = [line for line in script_output.splitlines() if line.startswith("component:")]
    assert components == [
        "component: {'type': 'text', 'text': 'Lisbon is clear at 21°C'}",
        "component: {'type': 'confirm', 'question': 'Look for flights?'}",
        "component: {'type': 'card', 'title': 'QJ101', 'price': 129}",
    ]


def test_script_console_line(script_output):
    console = [line for line in script_output.splitlines() if line.startswith("console:")]
    assert console == ["console: [log] weather 21"]


def test_script_result(script_output):
    assert ("result: {'action': 'exit', 'value': {'booked': True, 'flight': 'QJ101'}}"
            in script_output.splitlines())


def test_script_bad_turn(script_output):
    lines = script_output.splitlines()
    assert "components before the error: [{'type': 'text', 'text': 'checking...'}]" in lines
    i = next(i for i, line in enumerate(lines) if line.startswith("error:"))
    assert lines[i].startswith("error: TypeError: ")
    assert "length" in lines[i]
    assert lines[i].endswith("at line 4")
    assert lines[i + 1].strip() == "> const total = weather.forecast.length;"


def test_script_no_stderr_noise():
    proc = subprocess.run(
        [sys.executable, "-W", "error", EXAMPLE],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


# -- run_turn used directly ------------------------------------------------------------------

def test_run_turn_good_snippet(agent_turn):
    code = (
        "\n"
        "const w = await getWeather('Oslo');\n"
        "console.info('temp', w.temp);\n"
        "const pick = yield { type: 'choice', options: ['a', 'b'] };\n"
        "console.warn('picked', pick);\n"
        "return { action: 'exit', value: { city: w.city, pick } };\n"
    )
    turn = asyncio.run(agent_turn.run_turn(code, {"choice": "b"}))
    assert turn.error is None
    assert turn.components == [{"type": "choice", "options": ["a", "b"]}]
    assert turn.console == ["[info] temp 21", "[warn] picked b"]
    assert turn.result == {"action": "exit", "value": {"city": "Oslo", "pick": "b"}}


def test_run_turn_uses_both_tools(agent_turn):
    code = (
        "const [w, flights] = await Promise.all([getWeather('Rome'), searchFlights('Rome', 'mon')]);\n"
        "yield { type: 'text', text: w.sky };\n"
        "return { action: 'exit', value: flights.map(f => f.flight) };\n"
    )
    turn = asyncio.run(agent_turn.run_turn(code, {}))
    assert turn.error is None
    assert turn.components == [{"type": "text", "text": "clear"}]
    assert turn.result == {"action": "exit", "value": ["QJ101"]}


def test_run_turn_error_line(agent_turn):
    code = (
        "\n"
        "yield { type: 'text', text: 'one' };\n"
        "let x = 1;\n"
        "x.foo.bar = 2;\n"
        "return { action: 'exit', value: x };\n"
    )
    turn = asyncio.run(agent_turn.run_turn(code, {}))
    assert turn.components == [{"type": "text", "text": "one"}]
    assert turn.result is None
    assert turn.error is not None
    head, quoted = turn.error.split("\n")
    assert head.startswith("TypeError: ")
    assert head.endswith("at line 4")
    assert quoted.strip() == "> x.foo.bar = 2;"


def test_run_turn_thrown_error_on_first_line(agent_turn):
    turn = asyncio.run(agent_turn.run_turn("throw new RangeError('nope');", {}))
    assert turn.components == []
    assert turn.error.startswith("RangeError: nope at line 1")
    assert turn.error.splitlines()[1].strip() == "> throw new RangeError('nope');"


def test_run_turn_timeout(agent_turn):
    turn = asyncio.run(agent_turn.run_turn("yield 1;\nwhile (true) {}\n", {}, timeout=0.3))
    assert turn.components == [1]
    assert turn.result is None
    # a timeout is a JSError too: the turn reports it instead of raising
    assert turn.error is not None
    assert "time" in turn.error.lower()


def test_run_turn_leaves_nothing_open(agent_turn):
    before = dict(qjs.live_objects())
    asyncio.run(agent_turn.run_turn("return { action: 'exit', value: 1 };", {}))
    import gc

    gc.collect()
    assert dict(qjs.live_objects()) == before
