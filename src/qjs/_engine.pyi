"""Type stubs for qjs._engine, the compiled half of qjs.

Values crossing from JS are typed ``Any``: what comes back depends on the
script (see the conversion table in the docs). ``Handle`` is the one type that
stays in JS.
"""

from collections.abc import Callable, Coroutine, Generator
from types import TracebackType
from typing import Any, Literal, TypeAlias, TypeVar, final, overload

from typing_extensions import Self

from qjs._frames import Frame

_F = TypeVar("_F", bound=Callable[..., Any])

#: What ``new_context(console=...)`` accepts: ``True``/default (print to
#: stdout/stderr), ``False`` (no ``console`` object) or ``fn(level, *args)``.
_Console: TypeAlias = bool | Callable[..., object]
#: A property key: a string, an array index, or a Handle on a JS symbol/key.
_Key: TypeAlias = str | int | Handle
_Mode: TypeAlias = Literal["next", "throw", "return"]
_Bytes: TypeAlias = bytes | bytearray | memoryview
_Timeout: TypeAlias = float | None

QUICKJS_VERSION: str
DEBUG_BUILD: bool
MAX_DEPTH: int
MAX_NODES: int
#: Longest text one qjs.inspect call returns (characters); longer output is cut.
INSPECT_MAX_OUTPUT: int

def live_objects() -> dict[str, int]:
    """Runtimes, contexts and handles not yet closed or freed, for leak checks."""

@final
class Runtime:
    """One QuickJS runtime: a heap, a job queue, limits. Contexts live in it.

    Used by one thread at a time (others wait, with the GIL released); the GIL is
    released while JS runs. Closing it closes its contexts and their handles.

    Args:
        memory_limit: heap limit in bytes; reaching it raises ``JSMemoryError``.
        stack_limit: JS stack budget in bytes, always capped by the real stack of
            the thread that enters JS; exceeding it raises ``JSStackOverflowError``.
        timeout: default wall-clock limit in seconds for every entry into JS
            (``JSTimeoutError``).

    ``None`` means no limit.
    """

    def __init__(
        self,
        *,
        memory_limit: int | None = None,
        stack_limit: int | None = None,
        timeout: _Timeout = None,
    ) -> None: ...
    def close(self) -> None:
        """Close the runtime and everything in it. Closing twice is a no-op."""

    @property
    def closed(self) -> bool:
        """True once the runtime is closed."""

    def new_context(
        self,
        *,
        timeout: _Timeout = None,
        console: _Console = ...,
        conversion_limit: int | None = ...,
        capture_locals: bool = False,
    ) -> Context:
        """A new Context in this runtime."""

    @property
    def memory_limit(self) -> int | None:
        """The heap limit in bytes (None: no limit)."""

    @memory_limit.setter
    def memory_limit(self, value: int | None) -> None: ...
    @property
    def stack_limit(self) -> int | None:
        """The JS stack budget in bytes (None: what the calling thread's stack allows)."""

    @stack_limit.setter
    def stack_limit(self, value: int | None) -> None: ...
    @property
    def timeout(self) -> float | None:
        """Default wall-clock limit in seconds for every entry into JS (None: none)."""

    @timeout.setter
    def timeout(self, value: _Timeout) -> None: ...
    def set_interrupt_handler(self, handler: Callable[[], object] | None) -> None:
        """``handler()`` is called about every millisecond while JS runs; truthy stops JS."""

    def set_line_hook(self, hook: Callable[[str, int], object] | None) -> None:
        """``hook(filename, line)`` each time a JS frame starts a statement on a new line."""

    def set_module_loader(
        self,
        loader: Callable[[str], str | None] | None,
        normalizer: Callable[[str, str], str] | None = None,
    ) -> None:
        """Decide what ``import`` may reach.

        ``loader(name)`` returns a module's source (``None``: not found);
        ``normalizer(base, name)`` turns an import specifier into a module name
        (default: the engine's, resolving ``./`` and ``../`` against the importing
        module's name). ``loader=None`` (the default): every ``import`` fails.
        """

    def gc(self) -> None:
        """Run the JS cycle collector."""

    def memory_usage(self) -> dict[str, int]:
        """The engine's accounting (``JS_ComputeMemoryUsage``) as a dict of ints."""

    @property
    def has_pending_jobs(self) -> bool:
        """True if promise jobs are waiting to run."""

    def run_jobs(self, max_jobs: int | None = None) -> int:
        """Run pending promise jobs (all, or at most ``max_jobs``); returns how many ran."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
    def __reduce__(self) -> Any: ...

@final
class Context:
    """One JS realm: its own globals, in a Runtime.

    Args:
        runtime: the runtime to live in; without one the context owns a fresh
            runtime (configured by ``memory_limit``/``stack_limit``/``timeout``)
            and closes it with itself.
        memory_limit: the owned runtime's heap limit in bytes.
        stack_limit: the owned runtime's JS stack budget in bytes.
        timeout: this context's default timeout in seconds (over the runtime's).
        console: by default ``console.log`` & co. write to ``sys.stdout`` and
            ``sys.stderr``; a callable receives ``(level, *args)``; ``False``
            leaves ``console`` out.
        conversion_limit: the most bytes of Python objects one conversion of a
            JS value may build (default: 4 x the runtime's ``memory_limit``;
            ``None``: no limit); past it, JSMemoryError.
        capture_locals: errors thrown by this context's functions keep the
            values of their frames' variables (``qjs.Frame.locals``).
    """

    def __init__(
        self,
        runtime: Runtime | None = None,
        *,
        memory_limit: int | None = None,
        stack_limit: int | None = None,
        timeout: _Timeout = None,
        console: _Console = ...,
        conversion_limit: int | None = ...,
        capture_locals: bool = False,
    ) -> None: ...
    @property
    def conversion_limit(self) -> int | None:
        """The conversion budget in bytes (None: no limit)."""

    @conversion_limit.setter
    def conversion_limit(self, value: int | None) -> None: ...
    def close(self) -> None:
        """Close the context (and its runtime, if the context owns it)."""
    def stack_frames(self) -> list[Frame]:
        """Inside a host function, the JS frames that led to the call, innermost first."""

    @property
    def closed(self) -> bool:
        """True once the context is closed."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
    def __reduce__(self) -> Any: ...
    @property
    def runtime(self) -> Runtime:
        """The Runtime this context lives in."""

    @property
    def timeout(self) -> float | None:
        """This context's default timeout in seconds (None: the runtime's)."""

    @timeout.setter
    def timeout(self, value: _Timeout) -> None: ...
    def eval(
        self, code: str, *, filename: str = "<eval>", module: bool = False, timeout: _Timeout = ...
    ) -> Any:
        """Evaluate ``code`` and return its completion value converted to Python.

        ``module=True`` evaluates an ES module and returns its namespace as a dict.
        ``timeout`` (seconds, ``None`` for none) defaults to the context's, then
        the runtime's.
        """

    def eval_handle(
        self, code: str, *, filename: str = "<eval>", timeout: _Timeout = ...
    ) -> Handle:
        """Like eval, but return the completion value as a Handle."""

    async def eval_async(
        self, code: str, *, filename: str = "<eval>", module: bool = False, timeout: _Timeout = ...
    ) -> Any:
        """Evaluate ``code`` allowing top-level ``await``; a coroutine.

        Jobs and ``async def`` host functions are driven on the running asyncio
        loop until the result settles; ``timeout`` bounds the whole await. A
        completion value that is a promise or thenable is awaited too. A
        promise that can no longer settle raises ``DeadlockError``.
        """

    def add_module(self, name: str, source: str) -> None:
        """Register an ES module under ``name`` for ``import`` to find without the
        loader. Compiled now (syntax errors raise here), evaluated when first imported."""

    def compile(self, code: str, *, filename: str = "<script>", module: bool = False) -> Script:
        """Compile without running: a Script to ``run`` many times."""

    def dumps(self, value: Any) -> bytes:
        """A snapshot of a JS value (a Handle, or anything convertible) as bytes.

        Plain objects, arrays, Map, Set, Date, RegExp, Error, ArrayBuffer, typed
        arrays, DataView, BigInt, primitive wrappers and primitives, with shared
        references and cycles kept. Functions, symbols, accessors and proxies raise
        TypeError naming where they are. qjs's own format (docs/snapshot-format.md),
        independent of the engine version.
        """

    def loads(self, data: _Bytes) -> Handle:
        """Restore a ``dumps`` snapshot in this context, as a Handle.
        The decoder is built for untrusted data: malformed or hostile input raises
        ValueError (JSMemoryError / JSTimeoutError at the context's limits)."""

    @property
    def on_unhandled_rejection(self) -> Callable[[Any], object] | None:
        """Called with the reason of each unhandled rejection (None: warn)."""

    @on_unhandled_rejection.setter
    def on_unhandled_rejection(self, handler: Callable[[Any], object] | None) -> None: ...
    @property
    def globals(self) -> Handle:
        """A Handle on the global object."""

    @overload
    def function(self, fn: _F, *, name: str | None = None) -> _F:
        """Expose a Python callable as a global JS function (a decorator).

        ``@ctx.function`` uses ``fn.__name__``; ``@ctx.function(name="x")`` another
        name. ``async def`` functions return a Promise in JS. Returns ``fn``.
        """

    @overload
    def function(self, fn: None = None, *, name: str | None = None) -> Callable[[_F], _F]: ...

    # turns (added in 0.2)
    def deadline(self, seconds: _Timeout) -> Deadline:
        """A turn deadline: ``with ctx.deadline(2.0):`` bounds the wall time of every
        entry into JS inside the block together, and the waits of async operations
        for host coroutines; once spent, ``JSTimeoutError``. Per-entry timeouts
        still apply (the earlier wins); nested deadlines all apply."""

    async def drain(self, timeout: _Timeout = None) -> None:
        """Run jobs and await the host coroutines this context's code left in flight
        until none is left. On ``timeout`` they are cancelled and ``JSTimeoutError``
        is raised. A promise nothing can settle does not keep it waiting."""

@final
class Handle:
    """A live, owned reference to one JS value in one context.

    Made by the library (``Context.eval_handle``, ``Context.globals``, any value
    without a Python equivalent). Freed by ``dispose()``, by ``with``, when
    garbage collected, or when its context closes; using it afterwards raises
    ``ClosedError``.
    """

    def __init__(self) -> None: ...
    def dispose(self) -> None:
        """Free the JS value now. Disposing twice is a no-op."""

    @property
    def alive(self) -> bool:
        """False once disposed or once its context is closed."""

    @property
    def context(self) -> Context:
        """The Context the handle belongs to."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
    def __reduce__(self) -> Any: ...
    @property
    def typeof(self) -> str:
        """The JS ``typeof`` of the value."""

    def to_python(self) -> Any:
        """The value converted as ``eval`` results are."""

    # properties
    def get_handle(self, key: _Key) -> Handle:
        """``value[key]`` as a Handle."""

    def __getitem__(self, key: _Key, /) -> Any: ...
    def __setitem__(self, key: _Key, value: Any, /) -> None: ...
    def __delitem__(self, key: _Key, /) -> None: ...
    def __contains__(self, key: _Key, /) -> bool: ...
    def keys(self) -> list[str]:
        """The own enumerable string keys, as ``Object.keys`` gives them."""

    # calls
    def __call__(self, *args: Any) -> Any: ...
    def call(self, *args: Any, this: Any = None) -> Any:
        """Call with an explicit ``this``."""

    def call_handle(self, *args: Any, this: Any = None) -> Handle:
        """Like call, returning the result as a Handle."""

    def call_method(self, name: _Key, *args: Any) -> Any:
        """``value[name](...args)`` with ``this`` = the value."""

    # promises
    def __await__(self) -> Generator[Any, None, Any]: ...

    # generators and iterators
    def resume(
        self, value: Any = None, *, mode: _Mode = "next", timeout: _Timeout = ...
    ) -> tuple[bool, Any]:
        """One step of a JS generator or iterator: ``(done, value)``.

        ``mode`` is ``"next"``, ``"throw"`` (``value`` is thrown into the generator;
        a Python exception becomes a JS Error) or ``"return"``. On the last step
        ``value`` is the generator's return value. ``timeout`` bounds this step
        (default: the context's).
        """

    def resume_async(
        self, value: Any = None, *, mode: _Mode = "next", timeout: _Timeout = ...
    ) -> Coroutine[Any, Any, tuple[bool, Any]]:
        """One step of a JS async generator or async iterator: awaitable ``(done, value)``.
        ``timeout`` bounds the whole step, its waits for host coroutines included."""

    def __iter__(self) -> Handle: ...
    def __next__(self) -> Any: ...
    def send(self, value: Any, *, timeout: _Timeout = ...) -> Any:
        """Like ``generator.send``."""

    @overload
    def throw(
        self,
        typ: type[BaseException],
        val: BaseException | object = None,
        tb: TracebackType | None = None,
        *,
        timeout: _Timeout = ...,
    ) -> Any: ...
    @overload
    def throw(
        self,
        typ: BaseException,
        val: None = None,
        tb: TracebackType | None = None,
        *,
        timeout: _Timeout = ...,
    ) -> Any: ...
    def close(self, *, timeout: _Timeout = ...) -> None:
        """Like ``generator.close``: run the generator's ``finally`` blocks."""

    def __aiter__(self) -> Handle: ...
    def __anext__(self) -> Coroutine[Any, Any, Any]: ...
    def asend(self, value: Any, *, timeout: _Timeout = ...) -> Coroutine[Any, Any, Any]:
        """Like ``async_generator.asend``."""

    @overload
    def athrow(
        self,
        typ: type[BaseException],
        val: BaseException | object = None,
        tb: TracebackType | None = None,
        *,
        timeout: _Timeout = ...,
    ) -> Coroutine[Any, Any, Any]: ...
    @overload
    def athrow(
        self,
        typ: BaseException,
        val: None = None,
        tb: TracebackType | None = None,
        *,
        timeout: _Timeout = ...,
    ) -> Coroutine[Any, Any, Any]: ...
    def aclose(self, *, timeout: _Timeout = ...) -> Coroutine[Any, Any, None]:
        """Like ``async_generator.aclose``."""

@final
class Script:
    """Code compiled once (``Context.compile``), run many times without re-parsing.

    ``script.run(ctx)`` runs it in any context. ``to_bytes()`` and
    ``Script.from_bytes(rt, data)`` keep compiled code in a cache you trust (scripts
    pickle the same way). Bytecode must only ever come from your own ``to_bytes``:
    the engine does not defend against hostile bytecode. Data without qjs's header,
    from another engine version, or damaged raises ValueError.
    """

    def __init__(self) -> None: ...
    @property
    def filename(self) -> str:
        """The filename given to ``compile``."""

    @property
    def module(self) -> bool:
        """True for an ES module (``run`` returns its namespace)."""

    def to_bytes(self) -> bytes:
        """The compiled code with qjs's header (engine version, digest)."""

    @staticmethod
    def from_bytes(runtime: Runtime | None, data: _Bytes) -> Script:
        """A Script from ``to_bytes()`` output; ``runtime`` is where it will mostly run.
        Bytecode is trusted input only: load nothing but your own ``to_bytes`` output."""

    def run(self, ctx: Context, *, timeout: _Timeout = ...) -> Any:
        """Run in ``ctx``; returns the completion value (a module: its namespace dict)."""

    def __reduce__(self) -> Any: ...

@final
class Deadline:
    """A turn deadline, made by ``Context.deadline(seconds)``; a context manager
    (``with`` or ``async with``), entered once."""

    def __init__(self) -> None: ...
    @property
    def seconds(self) -> float | None:
        """The budget in seconds (None: no limit)."""

    @property
    def remaining(self) -> float | None:
        """Seconds of the budget not yet spent (None: no limit)."""

    @property
    def expired(self) -> bool:
        """True once the budget is spent."""

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
    def __reduce__(self) -> Any: ...
