"""JS stack frames as Python values: :class:`Frame` and :func:`frames`."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: `import qjs` stays cheap
if TYPE_CHECKING:
    from typing import Any, Callable

__all__ = ["Frame", "frames"]


class Frame:
    """One JavaScript stack frame, as it was when an error was thrown.

    Attributes:
        function: the function's name (``""`` for top-level code and anonymous functions).
        filename: the ``filename`` the code was compiled with.
        line, column: 1-based position of the instruction that was running.
        locals: ``None`` unless the context captures locals; else a dict of the
            frame's arguments, variables and the closure variables it uses that
            held a value (converted as ``eval`` converts; what cannot be
            converted is a :class:`qjs.Handle`). Converted on first access.
    """

    __slots__ = ("function", "filename", "line", "column", "_locals", "_load")

    function: str
    filename: str
    line: int
    column: int

    def __init__(
        self,
        function: str = "",
        filename: str = "",
        line: int = 0,
        column: int = 0,
        locals: dict[str, Any] | None = None,
    ) -> None:
        self.function = function
        self.filename = filename
        self.line = line
        self.column = column
        self._locals = locals
        self._load: Callable[[], dict[str, Any]] | None = None

    @classmethod
    def _lazy(
        cls, function: str, filename: str, line: int, column: int,
        load: Callable[[], dict[str, Any]] | None,
    ) -> Frame:
        f = cls(function, filename, line, column)
        f._load = load
        return f

    @property
    def locals(self) -> dict[str, Any] | None:
        load = self._load
        if load is not None:
            self._load = None
            self._locals = load()
        return self._locals

    def __reduce__(self) -> tuple[Any, ...]:
        return (Frame, self._key())

    def _key(self) -> tuple[Any, ...]:
        return (self.function, self.filename, self.line, self.column, self.locals)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        where = f"{self.function or '<top>'} at {self.filename}:{self.line}:{self.column}"
        locals_ = self.locals
        if locals_ is None:
            return f"<Frame {where}>"
        return f"<Frame {where} locals={locals_!r}>"


def frames(exc: BaseException) -> list[Frame]:
    """The JS frames an exception passed through, innermost first.

    ``[]`` if it never passed through JS (or was made in Python).
    """
    if not isinstance(exc, BaseException):
        raise TypeError(f"frames() needs an exception, not {type(exc).__name__!r}")
    found = getattr(exc, "_qjs_frames", None)
    return list(found) if found else []
