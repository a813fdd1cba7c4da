# Modules from the host, compiled scripts, value snapshots.
#
# Serialized data (Script.to_bytes, Context.dumps) carries a header: the magic
# b"QJS\0", its kind, the format version, the engine version it was made with,
# the machine word size, and a BLAKE2b digest of the payload. Data without the
# header, from another engine version or damaged is refused with ValueError
# before the engine reads a byte of it. Bytecode is still only safe to load when
# it came from your own to_bytes: the engine's bytecode reader is not hardened
# against hostile input (upstream's threat model), and the digest is not a
# signature.

_hashlib = _LazyModule("hashlib")
import struct as _struct

from cpython.mem cimport PyMem_RawFree

cdef bytes _MAGIC = b"QJS\0"
cdef int _FORMAT = 1
cdef bytes _KIND_SCRIPT = b"B"
cdef bytes _KIND_MODULE = b"M"
cdef bytes _KIND_SNAPSHOT = b"S"


cdef bytes _engine_tag():
    return f"{QUICKJS_VERSION}/{8 * _struct.calcsize('P')}{_sys.byteorder[0]}".encode()


cdef bytes _wrap(bytes kind, bytes payload):
    tag = _engine_tag()
    digest = _hashlib.blake2b(payload, digest_size=16).digest()
    return _MAGIC + kind + bytes([_FORMAT, len(tag)]) + tag + digest + payload


cdef tuple _unwrap(object data, tuple kinds, str what):
    """(kind, payload) of data made by _wrap, or ValueError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, not {type(data).__name__!r}")
    data = bytes(data)
    if len(data) < 7 or data[:4] != _MAGIC:
        raise ValueError(f"not {what} made by qjs (bad header)")
    kind = data[4:5]
    if kind not in kinds:
        raise ValueError(f"not {what} (this is qjs data of another kind)")
    if data[5] != _FORMAT:
        raise ValueError(f"{what} has format {data[5]}, this qjs reads format {_FORMAT}")
    n = data[6]
    tag = data[7:7 + n]
    if tag != _engine_tag():
        raise ValueError(f"{what} was made by engine {tag.decode(errors='replace')!r}; "
                         f"this is {_engine_tag().decode()!r}")
    digest = data[7 + n:7 + n + 16]
    payload = data[7 + n + 16:]
    if len(digest) != 16 or _hashlib.blake2b(payload, digest_size=16).digest() != digest:
        raise ValueError(f"{what} is truncated or damaged (digest mismatch)")
    return kind, payload


cdef bytes _write_object(Context c, JSValueConst v, int flags):
    cdef size_t size = 0
    cdef uint8_t *buf = JS_WriteObject(c.ctx, &size, v, flags)
    if buf == NULL:
        raise c._js_error(c.ctx)
    try:
        return PyBytes_FromStringAndSize(<char *>buf, size)
    finally:
        js_free(c.ctx, buf)


cdef JSValue _read_object(Context c, bytes payload, int flags, str what) except *:
    cdef JSValue v = JS_ReadObject(c.ctx, <const uint8_t *><char *>payload, len(payload), flags)
    cdef object err
    if JS_IsException(v):
        err = c._js_error(c.ctx)
        if isinstance(err, (JSMemoryError, InterruptedError)):
            raise err
        raise ValueError(f"{what} could not be read: {err}")
    return v


@cython.no_gc_clear
cdef class Script:
    """Code compiled once (``Context.compile``), run many times without re-parsing.

    ``script.run(ctx)`` runs it in any context; in a context of the runtime it
    was compiled in, the compiled code itself is reused. ``to_bytes()`` /
    ``Script.from_bytes(rt, data)`` keep compiled code in a cache you trust, and
    scripts pickle the same way.

    Bytecode must only ever come from your own ``to_bytes``: the engine does not
    defend against hostile bytecode. Data without qjs's header, from another
    engine version, or damaged is refused with ``ValueError``.
    """

    def __cinit__(self):
        self._value = JS_UNDEFINED

    def __init__(self):
        raise TypeError("scripts are made by Context.compile or Script.from_bytes")

    def __dealloc__(self):
        self._release()

    cdef void _release(self):
        cdef JSValue v = self._value
        self._value = JS_UNDEFINED
        if self._rt is not None and self._rt.q != NULL and self._rt.q.rt != NULL:
            qjs_free_value_any_thread(self._rt.q, v)
        self._rt = None
        self._owner = None

    @property
    def filename(self):
        return self.filename

    @property
    def module(self):
        """True for an ES module (``run`` returns its namespace)."""
        return self.module

    def to_bytes(self):
        """The compiled code with qjs's header (engine version, digest)."""
        return self._data

    @staticmethod
    def from_bytes(runtime, data):
        """A Script from ``to_bytes()`` output. ``runtime`` is where it will mostly
        run (a ``qjs.Runtime`` or ``None``). Raises ValueError for data that is not
        qjs bytecode of this engine version, or is truncated or damaged.

        Bytecode is trusted input only: the engine does not defend against
        crafted bytecode, and the header's digest is not a signature. Load only
        what your own ``to_bytes`` wrote; for data from elsewhere use
        ``Context.dumps``/``Context.loads``, whose decoder is built for that."""
        if runtime is not None and not isinstance(runtime, Runtime):
            raise TypeError("runtime must be a qjs.Runtime or None")
        try:
            kind, payload = _unwrap(data, (_KIND_SCRIPT, _KIND_MODULE), "qjs bytecode")
        except ValueError as err:
            raise ValueError(f"{err} (bytecode is trusted input only: load nothing but "
                             f"your own to_bytes output)") from None
        return _new_script(bytes(data), kind == _KIND_MODULE)

    def __reduce__(self):
        return (_script_from_pickle, (self._data,))

    def __repr__(self):
        return f"<qjs.Script {self.filename!r}{' module' if self.module else ''}>"

    def run(self, Context ctx, *, timeout=_DEFAULT):
        """Run in ``ctx``; returns the completion value (a module: its namespace dict)."""
        cdef qjs_entry e
        cdef JSValue fun, r
        cdef Runtime rt = ctx.runtime
        ctx._check()
        rt._enter(&e, ctx._entry_timeout(timeout))
        try:
            ctx._check()
            if self.module:
                return self._run_module(ctx)
            owner = self._owner() if self._owner is not None else None
            if owner is ctx and self._rt is rt and not JS_IsUndefined(self._value):
                # compiled code belongs to its realm: reused in its own context
                fun = JS_DupValue(ctx.ctx, self._value)
            else:
                # any other context: a fresh copy from the bytecode (no parsing)
                _, payload = _unwrap(self._data, (_KIND_SCRIPT,), "qjs bytecode")
                fun = _read_object(ctx, payload, JS_READ_OBJ_BYTECODE, "qjs bytecode")
            r = qjs_eval_function(rt.q, ctx.ctx, fun)
            return ctx._run_result(ctx.ctx, r)
        finally:
            rt._leave(&e)

    cdef object _run_module(self, Context ctx):
        cdef JSValue m
        cdef JSModuleDef *mdef
        _, payload = _unwrap(self._data, (_KIND_MODULE,), "qjs bytecode")
        m = _read_object(ctx, payload, JS_READ_OBJ_BYTECODE, "qjs bytecode")
        mdef = <JSModuleDef *>JS_VALUE_GET_PTR(m)
        if JS_ResolveModule(ctx.ctx, m) < 0:
            JS_FreeValue(ctx.ctx, m)
            raise ctx._js_error(ctx.ctx)
        return ctx._settle_module(m, mdef)


def _script_from_pickle(data):
    kind, _ = _unwrap(data, (_KIND_SCRIPT, _KIND_MODULE), "qjs bytecode")
    return _new_script(data, kind == _KIND_MODULE)


cdef Script _new_script(bytes data, bint module):
    cdef Script s = Script.__new__(Script)
    s._data = data
    s.module = module
    s.filename = ""
    return s


# -- module loading ------------------------------------------------------------

cdef JSModuleDef *_load_module(JSContext *jctx, const char *name, qjs_rt *q) noexcept:
    """The engine's module loader (GIL held). NULL with a JS exception on failure."""
    cdef Runtime rt = <Runtime>q.pyrt
    cdef qjs_ctxstate *cs = <qjs_ctxstate *>JS_GetContextOpaque(jctx)
    cdef Context c
    cdef JSValue v
    cdef JSModuleDef *m
    if cs == NULL or not cs.open:
        JS_ThrowTypeError(jctx, "import in a closed context")
        return NULL
    c = <Context>cs.context
    try:
        modname = (<bytes>name).decode("utf-8", "surrogatepass")
        loader = rt._module_loader
        if loader is None:
            raise ImportError(f"cannot import {modname!r}: no module loader is set "
                              "(Runtime.set_module_loader)")
        source = loader(modname)
        if source is None:
            raise ImportError(f"module {modname!r} not found")
        if not isinstance(source, str):
            raise TypeError(f"the module loader returned {type(source).__name__!r} for "
                            f"{modname!r}; it must return the source as str")
        src = _utf8(source)
        v = JS_Eval(jctx, src, len(src), name, JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY)
        if JS_IsException(v):
            return NULL  # the SyntaxError, with the module's name and line
        m = <JSModuleDef *>JS_VALUE_GET_PTR(v)
        JS_FreeValue(jctx, v)
        return m
    except BaseException as exc:
        _throw_into_js(c, jctx, exc)
        return NULL


cdef char *_normalize_module(JSContext *jctx, const char *base, const char *name,
                             qjs_rt *q) noexcept:
    """The engine's module-name normalizer when the host set one (GIL held)."""
    cdef Runtime rt = <Runtime>q.pyrt
    cdef qjs_ctxstate *cs = <qjs_ctxstate *>JS_GetContextOpaque(jctx)
    cdef char *out
    cdef bytes b
    if cs == NULL or not cs.open:
        JS_ThrowTypeError(jctx, "import in a closed context")
        return NULL
    try:
        r = rt._module_normalizer((<bytes>base).decode("utf-8", "surrogatepass"),
                                  (<bytes>name).decode("utf-8", "surrogatepass"))
        if not isinstance(r, str):
            raise TypeError("the module normalizer must return a str")
        b = _utf8(r)
        out = <char *>js_malloc(jctx, len(b) + 1)
        if out == NULL:
            return NULL
        memcpy(out, <char *>b, len(b) + 1)
        return out
    except BaseException as exc:
        _throw_into_js(<Context>cs.context, jctx, exc)
        return NULL
