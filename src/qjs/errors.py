"""The exception tree. Everything qjs raises on purpose derives from :class:`Error`."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: `import qjs` stays cheap
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Error",
    "JSError",
    "InterruptedError",
    "JSTimeoutError",
    "JSMemoryError",
    "JSStackOverflowError",
    "DeadlockError",
    "ClosedError",
    "UnhandledRejectionWarning",
]


class Error(Exception):
    """Base of every exception the library raises on purpose."""


class JSError(Error):
    """An uncaught JavaScript exception.

    Attributes:
        name: the error's ``name`` (``"TypeError"``, ...); ``""`` when the
            thrown value is not an Error (``throw 42``).
        message: the error's ``message`` (or ``String(value)`` for non-Errors).
        stack: the JS stack, lines carrying ``filename:line:column``.
        value: the thrown value, converted as ``eval`` results are (an Error
            object becomes a :class:`qjs.Handle`, ``throw 42`` gives ``42``).
    """

    name: str
    message: str
    stack: str
    value: Any

    def __init__(
        self, message: str = "", *, name: str = "Error", stack: str = "", value: Any = None
    ) -> None:
        super().__init__(f"{name}: {message}" if name and message else (message or name))
        self.name = name
        self.message = message
        self.stack = stack
        self.value = value

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), self.message, self.name, self.stack))


def _rebuild(cls: type[JSError], message: str, name: str, stack: str) -> JSError:
    return cls(message, name=name, stack=stack)


class InterruptedError(JSError):
    """JavaScript was stopped by the interrupt handler (or the host aborted it)."""


class JSTimeoutError(InterruptedError, TimeoutError):
    """The wall-clock deadline (``timeout``) passed while JavaScript ran."""


class JSMemoryError(JSError, MemoryError):
    """The runtime's ``memory_limit`` was reached."""


class JSStackOverflowError(JSError, RecursionError):
    """The JS stack budget (``stack_limit``, or the thread's real stack) ran out."""


class DeadlockError(Error):
    """An awaited promise can never settle: no job is queued, no host coroutine is running."""


class ClosedError(Error, RuntimeError):
    """A closed runtime or context, or a disposed handle, was used."""


class UnhandledRejectionWarning(RuntimeWarning):
    """A JS promise was rejected and nothing handled it."""


# Shown (tracebacks, reprs, the API reference) and pickled as what users import.
for _cls in (Error, JSError, InterruptedError, JSTimeoutError, JSMemoryError,
             JSStackOverflowError, DeadlockError, ClosedError, UnhandledRejectionWarning):
    _cls.__module__ = "qjs"
del _cls
