"""qjs: QuickJS-ng for Python hosts.

A fast, safe JavaScript sandbox: exact value conversion, host functions,
promises on asyncio, generators stepped from Python, memory/stack/time limits.
"""

from qjs._engine import (
    DEBUG_BUILD,
    MAX_DEPTH,
    MAX_NODES,
    QUICKJS_VERSION,
    Context,
    Handle,
    Runtime,
    Script,
    live_objects,
)
TYPE_CHECKING = False  # typing is not imported at run time: `import qjs` stays cheap

from qjs._version import __version__
from qjs._engine import INSPECT_MAX_OUTPUT
from qjs._format import inspect
from qjs.errors import (
    ClosedError,
    DeadlockError,
    Error,
    InterruptedError,
    JSError,
    JSMemoryError,
    JSStackOverflowError,
    JSTimeoutError,
    SandboxCrashedError,
    UnhandledRejectionWarning,
)

__all__ = [
    "__version__",
    "QUICKJS_VERSION",
    "DEBUG_BUILD",
    "MAX_DEPTH",
    "MAX_NODES",
    "Runtime",
    "Context",
    "Handle",
    "Script",
    "live_objects",
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
    "Sandbox",
    "SandboxPool",
    "inspect",
    "INSPECT_MAX_OUTPUT",
]

# Agent-host introspection: JS stack frames with their locals.
from qjs._frames import Frame, frames  # noqa: E402

__all__ += ["Frame", "frames"]

if TYPE_CHECKING:
    from qjs.sandbox import Sandbox, SandboxPool


def __getattr__(name: str) -> object:
    # the process-isolation machinery (asyncio, subprocess, socket) loads on first use
    if name in ("Sandbox", "SandboxPool"):
        from qjs import sandbox

        value = getattr(sandbox, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'qjs' has no attribute {name!r}")
