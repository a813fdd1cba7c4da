# cython: freethreading_compatible = False
"""qjs._engine: QuickJS-ng bound to Python.

The public names are re-exported by ``qjs``; see ARCHITECTURE.md for the
ownership graph, the threading model and how errors flow.
"""

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.long cimport PyLong_FromLong, PyLong_AsLongLongAndOverflow
from cpython.float cimport PyFloat_FromDouble
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_DECREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport isnan, isinf, signbit
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

import datetime as _datetime
import sys as _sys
import threading as _threading

from qjs.errors import (
    ClosedError,
    DeadlockError,
    Error,
    InterruptedError,
    JSError,
    JSMemoryError,
    JSStackOverflowError,
    JSTimeoutError,
)



class _LazyModule:
    """A module imported on first attribute use: `import qjs` does not pay for
    asyncio and inspect (about 30 ms) until a context needs them."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        import importlib
        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)
        return value


_inspect = _LazyModule("inspect")

QUICKJS_VERSION = JS_GetVersion().decode()

#: Deepest nesting converted in either direction; deeper data (or a cycle) is a ValueError.
MAX_DEPTH = 256
#: Most values one conversion may produce (elements + properties), checked before allocating.
MAX_NODES = 20_000_000

#: True in a debug build (QJS_DEBUG=1 at build time): invariant checks are on.
DEBUG_BUILD = QJS_DEBUG

DEF _MAX_DEPTH = 256
DEF _DEADLINE_EVERY = 2048


def live_objects():
    """Runtimes, contexts and handles not yet closed or freed, for leak checks."""
    return {
        "runtimes": qjs_live_runtimes,
        "contexts": qjs_live_contexts,
        "handles": qjs_live_handles,
    }


include "_errors.pxi"
include "_convert.pxi"
include "_promise.pxi"
include "_generator.pxi"
include "_runtime.pxi"
include "_context.pxi"
include "_handle.pxi"
include "_host.pxi"
include "_script.pxi"
include "_vectorcall.pxi"

qjs_set_callbacks(_host_dispatch, _py_interrupt, _rejection_callback, _load_module,
                  _normalize_module)
qjs_set_main_thread(_threading.main_thread().ident)
qjs_set_memory_error(JSMemoryError)
