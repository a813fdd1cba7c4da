"""The exception tree. Everything qjs raises on purpose derives from :class:`Error`."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: `import qjs` stays cheap
if TYPE_CHECKING:
    from typing import Any

    from ._frames import Frame

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
    "SandboxCrashedError",
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
        frames: the JS stack frames (:class:`qjs.Frame`) when it was thrown,
            innermost first; locals included if the context captures them.
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

    @property
    def frames(self) -> list[Frame]:
        """The JS frames this error was thrown from, innermost first (see :func:`qjs.frames`)."""
        found = self.__dict__.get("_qjs_frames")
        return list(found) if found else []

    @frames.setter
    def frames(self, value: list[Frame]) -> None:
        self.__dict__["_qjs_frames"] = list(value)


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


class SandboxCrashedError(Error):
    """A :class:`qjs.Sandbox` child process died (a signal, an abort, ``max_rss``
    exceeded) or sent a malformed message and was killed.

    Attributes:
        exitcode: the child's exit code; negative for a signal (``-6`` for SIGABRT),
            ``None`` when unknown.
    """

    exitcode: int | None

    def __init__(self, message: str = "", *, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode

    def __reduce__(self) -> Any:
        return (_rebuild_crash, (str(self), self.exitcode))


def _rebuild_crash(message: str, exitcode: int | None) -> SandboxCrashedError:
    return SandboxCrashedError(message, exitcode=exitcode)


# Shown (tracebacks, reprs, the API reference) and pickled as what users import.
for _cls in (Error, JSError, InterruptedError, JSTimeoutError, JSMemoryError,
             JSStackOverflowError, DeadlockError, ClosedError, UnhandledRejectionWarning,
             SandboxCrashedError):
    _cls.__module__ = "qjs"
del _cls
