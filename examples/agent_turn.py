"""One agent turn, the way LLM hosts run generated code.

The model writes the body of an ``async function*``: it awaits tools (Python
``async def`` functions), yields UI components to the host, receives the user's
replies through ``resume_async``, and returns ``{action: 'exit', value}``.
The host drives it step by step from Python, captures ``console`` output, and
reports an error in the generated code with the line of the generated code
(not of the wrapper) and that line quoted.

    python examples/agent_turn.py
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import qjs

FILENAME = "generated.js"


# -- tools the host exposes ---------------------------------------------------

async def get_weather(city: str) -> dict[str, Any]:
    await asyncio.sleep(0.01)  # stands for an HTTP call
    return {"city": city, "temp": 21, "sky": "clear"}


async def search_flights(destination: str, day: str) -> list[dict[str, Any]]:
    await asyncio.sleep(0.01)
    return [{"flight": "QJ101", "to": destination, "day": day, "price": 129.0}]


TOOLS = {"getWeather": get_weather, "searchFlights": search_flights}


# -- the host side of a turn --------------------------------------------------

@dataclass
class Turn:
    components: list[Any] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    result: Any = None
    error: str | None = None


def wrap(code: str) -> str:
    # The header shares the first line with the generated code, so line numbers
    # in stacks are the generated code's own.
    return "(async function* agent() {" + code + "\n})()"


def describe_error(exc: qjs.JSError, code: str) -> str:
    """'<name>: <message> at line N' and the offending line, from the JS stack."""
    match = re.search(re.escape(FILENAME) + r":(\d+):(\d+)", exc.stack)
    head = f"{exc.name}: {exc.message}" if exc.name else exc.message
    if not match:
        return head
    line = int(match.group(1))
    lines = code.splitlines()
    quoted = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return f"{head} at line {line}\n    > {quoted}"


async def run_turn(code: str, replies: dict[str, Any], *, timeout: float = 5.0) -> Turn:
    turn = Turn()

    def console(level: str, *args: Any) -> None:
        turn.console.append(f"[{level}] " + " ".join(str(a) for a in args))

    with qjs.Context(timeout=timeout, memory_limit=64 << 20, console=console) as ctx:
        for name, fn in TOOLS.items():
            ctx.globals[name] = fn
        try:
            gen = ctx.eval_handle(wrap(code), filename=FILENAME)
            reply = None
            while True:
                done, value = await gen.resume_async(reply)
                if done:
                    turn.result = value
                    break
                turn.components.append(value)
                reply = replies.get(value.get("type")) if isinstance(value, dict) else None
        except qjs.JSError as exc:
            turn.error = describe_error(exc, code)
    return turn


GOOD = """
const weather = await getWeather("Lisbon");
console.log("weather", weather.temp);
yield { type: "text", text: `Lisbon is ${weather.sky} at ${weather.temp}°C` };
const answer = yield { type: "confirm", question: "Look for flights?" };
if (answer !== "yes") return { action: "exit", value: { booked: false } };
const [flight] = await searchFlights("Lisbon", "friday");
yield { type: "card", title: flight.flight, price: flight.price };
return { action: "exit", value: { booked: true, flight: flight.flight } };
"""

BAD = """
const weather = await getWeather("Lisbon");
yield { type: "text", text: "checking..." };
const total = weather.forecast.length;
return { action: "exit", value: total };
"""


async def main() -> None:
    turn = await run_turn(GOOD, {"confirm": "yes"})
    for c in turn.components:
        print("component:", c)
    for line in turn.console:
        print("console:", line)
    print("result:", turn.result)

    turn = await run_turn(BAD, {})
    print("components before the error:", turn.components)
    print("error:", turn.error)


if __name__ == "__main__":
    asyncio.run(main())
