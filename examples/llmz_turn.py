"""An LLMz-style agent turn, through qjs's public API only.

The model writes the body of an async function. The host runs it as the body of
an ``async function*`` so that it can ``yield`` UI values, steps it with
``resume_async``, exposes tools as globals (sync and async), captures ``console``,
bounds the whole turn with one deadline (``ctx.deadline``) and the heap with a
memory limit, finishes the work the code left in flight (``ctx.drain``), and, when
the code fails, reports to the model what it needs to fix it: the message, the
line of *its* code that failed, the values of the variables at that line
(``qjs.frames`` with ``capture_locals``) and the lines that ran
(``Runtime.set_line_hook``).

    python examples/llmz_turn.py
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import qjs

FILENAME = "turn.js"


# -- tools the host exposes -------------------------------------------------------

ORDERS = {"A-17": {"id": "A-17", "items": ["lamp", "desk"], "total": 129.5, "ships": "Friday"}}
SENT: list[str] = []


async def lookup_order(order_id: str) -> dict[str, Any]:
    await asyncio.sleep(0.01)  # stands for a database query
    if order_id not in ORDERS:
        raise LookupError(f"no order {order_id}")
    return ORDERS[order_id]


def format_money(amount: float) -> str:  # a sync tool
    return f"${amount:,.2f}"


async def _send_message(text: str) -> str:
    await asyncio.sleep(0.02)  # stands for an HTTP call
    SENT.append(text)
    return "delivered"


def send_message(text: str) -> Any:
    # a plain wrapper returning a coroutine: qjs treats it as async (a Promise in JS)
    return _send_message(text)


TOOLS = {"lookupOrder": lookup_order, "formatMoney": format_money, "sendMessage": send_message}


# -- the host side of a turn ----------------------------------------------------------

@dataclass
class Turn:
    ui: list[Any] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # lines of the code that ran, in order
    result: Any = None
    error: str | None = None  # the report for the model


def wrap(code: str) -> str:
    # The header shares the first line with the model's code: lines are its own.
    return "(async function* __turn() {" + code + "\n})()"


def line_ranges(lines: list[int]) -> str:
    """'1-4, 7' for the distinct lines that ran."""
    out: list[str] = []
    for n in sorted(set(lines)):
        if out and int(out[-1].rsplit("-", 1)[-1]) == n - 1:
            out[-1] = out[-1].split("-")[0] + f"-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def show(value: Any) -> str:
    text = "<function>" if isinstance(value, qjs.Handle) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def report(exc: BaseException, code: str, turn: Turn) -> str:
    """What the model is told about an error in its code."""
    if isinstance(exc, (qjs.JSTimeoutError, qjs.JSMemoryError)):
        head = f"{type(exc).__name__}: {exc.message}"  # a limit, not a bug in the code
    elif isinstance(exc, qjs.JSError) and exc.name:
        head = f"{exc.name}: {exc.message}"
    else:
        head = f"{type(exc).__name__}: {exc}"  # raised by a tool
    parts = [head]
    mine = [f for f in qjs.frames(exc) if f.filename == FILENAME]
    if mine:
        frame = mine[0]  # innermost frame in the model's code
        source = code.splitlines()
        quoted = source[frame.line - 1].strip() if 0 < frame.line <= len(source) else ""
        parts.append(f"  at line {frame.line}: {quoted}")
        if frame.locals:
            shown = ", ".join(f"{k} = {show(v)}" for k, v in frame.locals.items())
            parts.append(f"  variables: {shown}")
    if turn.lines:
        parts.append(f"  lines executed: {line_ranges(turn.lines)}")
    return "\n".join(parts)


async def run_turn(code: str, replies: dict[str, Any] | None = None, *,
                   deadline: float = 2.0, memory_limit: int = 32 << 20) -> Turn:
    turn = Turn()
    replies = replies or {}

    def console(level: str, *args: Any) -> None:
        turn.console.append(f"[{level}] " + " ".join(str(a) for a in args))

    def on_line(filename: str, line: int) -> None:
        if filename == FILENAME:
            turn.lines.append(line)

    rt = qjs.Runtime(memory_limit=memory_limit)
    rt.set_line_hook(on_line)  # before compiling: code compiled with a hook reports lines
    ctx = rt.new_context(capture_locals=True, console=console)
    try:
        for name, fn in TOOLS.items():
            ctx.globals[name] = fn
        with ctx.deadline(deadline):
            gen = ctx.eval_handle(wrap(code), filename=FILENAME)
            reply = None
            while True:
                done, value = await gen.resume_async(reply)
                if done:
                    turn.result = value
                    break
                turn.ui.append(value)
                reply = replies.get(value.get("type")) if isinstance(value, dict) else None
            # what the code started and did not await (sendMessage(...).then(...)) finishes
            await ctx.drain()
    except Exception as exc:
        turn.error = report(exc, code, turn)
    finally:
        rt.set_line_hook(None)
        rt.close()
    return turn


# -- turns a model could write --------------------------------------------------------

GOOD = """
const order = await lookupOrder("A-17");
console.log("found", order.id, order.items.length, "items");
yield { type: "text", text: `Order ${order.id} ships ${order.ships}` };
const answer = yield { type: "choice", question: "Notify the customer?", options: ["yes", "no"] };
if (answer === "yes") {
  sendMessage(`Your order ships ${order.ships}`).then(r => console.info("message", r));
}
return { action: "done", total: formatMoney(order.total) };
"""

BAD = """
const order = await lookupOrder("A-17");
let count = order.items.length;
yield { type: "text", text: `${count} items` };
const price = order.price.toFixed(2);
return { action: "done", price };
"""

SLOW = """
yield { type: "text", text: "thinking..." };
let n = 0;
while (true) { n++; }
"""

HUNGRY = """
const chunks = [];
while (true) chunks.push("x".repeat(1 << 16) + chunks.length);
"""


async def main() -> None:
    for name, code, replies, limit in [
        ("good", GOOD, {"choice": "yes"}, 2.0),
        ("bad", BAD, {}, 2.0),
        ("slow", SLOW, {}, 0.3),
        ("hungry", HUNGRY, {}, 5.0),
    ]:
        turn = await run_turn(code, replies, deadline=limit)
        print(f"== {name}")
        for value in turn.ui:
            print("ui:", value)
        for line in turn.console:
            print("console:", line)
        if turn.error is None:
            print("result:", turn.result)
            print("lines:", line_ranges(turn.lines))
        else:
            print("error:", turn.error)
    print("sent:", SENT)


if __name__ == "__main__":
    asyncio.run(main())
