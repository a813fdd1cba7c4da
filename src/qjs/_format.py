"""How values are shown: ``qjs.inspect`` (node's ``util.inspect`` layout) and the
default console.

The layout itself is computed in JS inside the value's context (see
_inspect_js.py and _inspector.pxi). This module stays light: ``import qjs``
imports it.
"""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing is not imported at run time: `import qjs` stays cheap
if TYPE_CHECKING:
    from typing import Any

__all__ = ["inspect", "format_value", "default_console", "write_console"]

_MAX_SCAN = 10_000


def _find_handle(value: Any) -> Any:
    """The first qjs.Handle inside lists, tuples and dicts (a bounded walk), or None."""
    from qjs._engine import Handle

    stack = [value]
    seen = 0
    while stack and seen < _MAX_SCAN:
        v = stack.pop()
        seen += 1
        if isinstance(v, Handle):
            return v
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    return None


def inspect(
    value: Any,
    *,
    depth: int | float | None = 2,
    colors: bool = False,
    max_array_length: int = 100,
    max_string_length: int = 10000,
    breakLength: int = 80,  # noqa: N803 (node's name)
) -> str:
    """The text node's ``util.inspect`` shows for a JS value.

    ``value`` is a :class:`qjs.Handle`, or a Python value as JS would receive it
    (``None`` is ``null``, a ``dict`` a plain object, ``bytes`` a ``Uint8Array``,
    a ``datetime`` a ``Date``; Handles inside are shown as their JS values).
    ``depth=None`` shows every level. The work is bounded by the context's
    timeout (a Handle's) and the text by ``qjs.INSPECT_MAX_OUTPUT`` characters.
    """
    from qjs import _engine
    from qjs._engine import Context, Handle

    _inspect_handle = getattr(_engine, "_inspect_handle")  # private: not in the stub

    opts = dict(depth=depth, colors=colors, max_array_length=max_array_length,
                max_string_length=max_string_length, breakLength=breakLength)
    if isinstance(value, Handle):
        return _inspect_handle(value, **opts)  # type: ignore[no-any-return]
    inner = _find_handle(value)
    if inner is not None:
        ctx = inner.context
        with ctx.eval_handle("(x) => x", filename="<qjs.inspect>") as identity:
            with identity.call_handle(value) as h:
                return _inspect_handle(h, **opts)  # type: ignore[no-any-return]
    with Context(console=False) as ctx:
        h = ctx.eval_handle("(x) => x", filename="<qjs.inspect>").call_handle(value)
        return _inspect_handle(h, **opts)  # type: ignore[no-any-return]


def format_value(value: Any) -> str:
    """A string as it is; anything else as :func:`inspect` shows it."""
    if isinstance(value, str):
        return value
    return inspect(value)


def write_console(level: str, text: str) -> None:
    """The default console: log/info/debug/trace to stdout, warn/error to stderr.
    ``text`` is the call's arguments formatted the way node's console formats them."""
    stream = sys.stderr if level in ("warn", "error") else sys.stdout
    stream.write(text + "\n")


def default_console(level: str, *args: Any) -> None:
    """Like :func:`write_console`, for arguments already converted to Python."""
    write_console(level, " ".join(format_value(a) for a in args))
