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
    "inspect",
    "INSPECT_MAX_OUTPUT",
]
