"""How values are shown by the default console and the command line."""

from __future__ import annotations

import datetime
import json
import math
import sys
from typing import Any

__all__ = ["format_value", "default_console"]


def _number(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 and math.copysign(1.0, x) < 0:
        return "-0"
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    return repr(x)


_MAX_BYTES = 100


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return _Raw(_number(value))
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        # at most _MAX_BYTES shown, as Node does: a big buffer is not a big string
        shown = ", ".join(map(str, value[:_MAX_BYTES]))
        if len(value) > _MAX_BYTES:
            shown += f", ... {len(value) - _MAX_BYTES} more items"
        return _Raw(f"Uint8Array({len(value)}) [{shown}]")
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return _Raw(_handle_text(value))


class _Raw(str):
    """Text written as is inside the JSON-like rendering."""


def _handle_text(value: Any) -> str:
    kind = getattr(value, "typeof", None)
    if kind == "function":
        return "[Function]"
    if kind is not None:
        return f"[{kind}]"
    return repr(value)


def _render(value: Any) -> str:
    # json.dumps with _Raw markers replaced by their text
    markers: dict[str, str] = {}

    def default(o: Any) -> Any:
        return str(o)

    def walk(v: Any) -> Any:
        if isinstance(v, _Raw):
            key = f"\x00{len(markers)}\x00"
            markers[key] = str(v)
            return key
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    text = json.dumps(walk(value), ensure_ascii=False, default=default)
    for key, raw in markers.items():
        text = text.replace(json.dumps(key), raw)
    return text


def format_value(value: Any) -> str:
    """A JS-like rendering: strings as they are, numbers as JS prints them,
    arrays and objects as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    return _render(_jsonable(value))


def default_console(level: str, *args: Any) -> None:
    """The console used when none is given: log/info/debug to stdout, warn/error to stderr."""
    stream = sys.stderr if level in ("warn", "error") else sys.stdout
    stream.write(" ".join(format_value(a) for a in args) + "\n")
