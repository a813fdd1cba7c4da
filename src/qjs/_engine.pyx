# cython: freethreading_compatible = True
"""qjs._engine: QuickJS-ng bound to Python.

The public names are re-exported by ``qjs``; see ARCHITECTURE.md for the
ownership graph, the threading model and how errors flow.
"""

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.long cimport PyLong_FromLong, PyLong_AsLongLongAndOverflow
from cpython.float cimport PyFloat_FromDouble
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_DECREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.math cimport isnan, isinf, signbit
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

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




QUICKJS_VERSION = JS_GetVersion().decode()

#: Deepest nesting converted in either direction; deeper data (or a cycle) is a ValueError.
MAX_DEPTH = 256
#: Most values one conversion may produce (elements + properties), checked before allocating.
MAX_NODES = 20_000_000

#: True in a debug build (QJS_DEBUG=1 at build time): invariant checks are on.
DEBUG_BUILD = QJS_DEBUG

DEF _MAX_DEPTH = 256


class _LazyModule:
    """A module imported on first attribute access, so that ``import qjs`` stays
    cheap: asyncio, inspect and datetime cost more to import than the rest of
    qjs together. Write ``_asyncio = _LazyModule("asyncio")`` at module level and
    use ``_asyncio.x`` as usual (docs/development.md, "Import time")."""

    __slots__ = ("_name", "_module")

    def __init__(self, name):
        self._name = name
        self._module = None

    def __getattr__(self, attr):
        module = self._module
        if module is None:
            module = self._module = __import__(self._name)
        return getattr(module, attr)


_inspect = _LazyModule("inspect")
_asyncio = _LazyModule("asyncio")
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
include "_snapshot.pxi"
include "_turns.pxi"
include "_frames.pxi"
include "_inspector.pxi"
include "_cli.pxi"
include "_vectorcall.pxi"

qjs_set_callbacks(_host_dispatch, _py_interrupt, _rejection_callback, _load_module,
                  _normalize_module)
qjs_set_main_thread(_threading.main_thread().ident)
qjs_set_memory_error(JSMemoryError)


# The public classes present themselves as what users import (qjs.Context, not
# qjs._engine.Context): in reprs, error messages, help() and the API reference.
# Pickling is unaffected: no class here pickles by reference to its own name.
cdef _public_name(type cls, const char *name):
    (<PyTypeObject *>cls).tp_name = name

_public_name(Runtime, "qjs.Runtime")
_public_name(Context, "qjs.Context")
_public_name(Handle, "qjs.Handle")
_public_name(Script, "qjs.Script")
