# Exact conversion between JS values and Python objects, both directions, with
# no JSON in between. Bounded: nesting deeper than MAX_DEPTH or a cycle is a
# ValueError, more than MAX_NODES values is a ValueError raised before the
# Python containers are allocated, and the entry's deadline is checked as the
# conversion goes (it can run user getters and proxies).

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.exc cimport PyErr_Occurred
from cpython.bytes cimport PyBytes_Check, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.bytearray cimport PyByteArray_Check, PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.dict cimport PyDict_Check, PyDict_Next, PyDict_Size
from cpython.float cimport PyFloat_Check, PyFloat_AS_DOUBLE
from cpython.list cimport PyList_Check, PyList_GET_SIZE, PyList_GET_ITEM
from cpython.long cimport PyLong_Check
from cpython.tuple cimport PyTuple_Check, PyTuple_GET_SIZE, PyTuple_GET_ITEM
from cpython.unicode cimport PyUnicode_Check

from collections import OrderedDict as _OrderedDict

# datetime is imported at the first Date converted to Python; a Python object can
# only be a datetime once something imported the module (_datetime_loaded).
cdef object _EPOCH = None
cdef object _UTC = None
cdef object _timedelta = None
cdef object _datetime_type = None
cdef object _ONE_MS = None


cdef int _load_datetime() except -1:
    global _EPOCH, _UTC, _timedelta, _datetime_type, _ONE_MS
    import datetime
    _UTC = datetime.timezone.utc
    _EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
    _timedelta = datetime.timedelta
    _ONE_MS = datetime.timedelta(milliseconds=1)
    _datetime_type = datetime.datetime
    return 0


cdef inline bint _datetime_loaded() except -1:
    """Whether datetime objects can exist (loading our names if so)."""
    if _datetime_type is not None:
        return True
    if "datetime" not in _sys.modules and "_datetime" not in _sys.modules:
        return False
    _load_datetime()
    return True

cdef extern from *:
    """
    #define QJS_MAX_SAFE_INTEGER 9007199254740991LL
    """
    long long _MAX_SAFE_INTEGER "QJS_MAX_SAFE_INTEGER"


cdef struct _Conv:
    qjs_rt *q
    int depth
    Py_ssize_t nodes
    Py_ssize_t next_check
    Py_ssize_t steps            # elements and properties visited (deadline checks)
    Py_ssize_t bytes            # Python bytes built so far, about (JS -> Python)
    Py_ssize_t byte_limit       # the context's conversion budget, -1: none
    void *path[_MAX_DEPTH]


cdef inline void _conv_init(_Conv *st, qjs_rt *q) noexcept:
    st.q = q
    st.depth = 0
    st.nodes = 0
    st.next_check = _DEADLINE_EVERY
    st.steps = 0
    st.bytes = 0
    st.byte_limit = -1


cdef inline void _conv_init_py(_Conv *st, Context c) except *:
    """For a JS -> Python conversion: with the context's budget in bytes."""
    _conv_init(st, c.runtime.q)
    st.byte_limit = c._conversion_budget()


cdef int _conv_push(_Conv *st, void *p) except -1:
    cdef int i
    if st.depth >= _MAX_DEPTH:
        raise ValueError(f"value nests deeper than {MAX_DEPTH} levels (or contains a cycle)")
    for i in range(st.depth):
        if st.path[i] == p:
            raise ValueError("value contains a cycle")
    if qjs_stack_exhausted(st.q):
        raise JSStackOverflowError("not enough C stack left to convert a value nested this "
                                   "deep here", name="RangeError")
    st.path[st.depth] = p
    st.depth += 1
    return 0


cdef int _conv_stopped(_Conv *st) except -1:
    """Raise for the runtime's interrupt reason, or for the deadline that passed."""
    cdef qjs_rt *q = st.q
    cdef int why = q.interrupt
    cdef Runtime rt
    if why == QJS_INT_NONE:
        q.interrupt = q.last_interrupt = why = QJS_INT_TIMEOUT
    if why == QJS_INT_CLOSED:
        raise ClosedError("the context was closed while JS was running")
    if why == QJS_INT_ABORT:
        rt = <Runtime>q.pyrt
        err = rt._abort
        if err is not None:
            rt._abort = None
            raise err
        raise InterruptedError("JS execution was aborted", name="InternalError")
    if why == QJS_INT_HANDLER:
        raise InterruptedError("JS execution was interrupted by the interrupt handler",
                               name="InternalError")
    raise JSTimeoutError("conversion exceeded the time limit", name="InternalError")


cdef inline int _conv_check(_Conv *st) except -1:
    """The entry's deadline and interrupts, checked now."""
    if st.q.interrupt or (st.q.deadline > 0 and qjs_now() >= st.q.deadline):
        _conv_stopped(st)
    return 0


cdef inline int _conv_step(_Conv *st, int weight) except -1:
    """One element or property visited; `weight` more when reading it may run JS
    or walk a prototype chain. The deadline is checked every _DEADLINE_EVERY."""
    st.steps += weight
    if st.steps >= _DEADLINE_EVERY:
        st.steps = 0
        _conv_check(st)
    return 0


cdef int _conv_count(_Conv *st, Py_ssize_t n) except -1:
    st.nodes += n
    if st.nodes > MAX_NODES:
        raise ValueError(f"value has more than {MAX_NODES} elements")
    if st.nodes >= st.next_check:
        st.next_check = st.nodes + _DEADLINE_EVERY
        _conv_check(st)
    return 0


cdef int _conv_bytes(_Conv *st, Py_ssize_t n) except -1:
    """Account for `n` bytes of Python objects about to be built."""
    st.bytes += n
    if st.byte_limit >= 0 and st.bytes > st.byte_limit:
        err = JSMemoryError(
            f"the value is too large to convert to Python: it needs more than the "
            f"conversion_limit of {st.byte_limit} bytes", name="InternalError")
        err._qjs_budget = True   # the JS heap is not full: JS may see it as an error
        raise err
    return 0


cdef int _raise_pending(Context c, JSContext *jctx) except -1:
    """After a C helper returned JS_EXCEPTION: re-raise its Python error, or the JS one."""
    if PyErr_Occurred():
        return -1
    raise c._js_error(jctx)


# ----------------------------------------------------------------- JS -> Python

cdef object _to_py(Context c, JSContext *jctx, JSValueConst v, _Conv *st):
    cdef int tag = JS_VALUE_GET_NORM_TAG(v)
    cdef double d
    cdef int32_t i
    cdef size_t size
    if tag == JS_TAG_INT:
        return PyLong_FromLong(JS_VALUE_GET_INT(v))
    elif tag == JS_TAG_STRING or tag == JS_TAG_STRING_ROPE:
        size = qjs_string_size(v)
        if size >= 65536:
            # a big copy (a rope is flattened first): the deadline first
            _conv_check(st)
        if st.byte_limit >= 0:
            _conv_bytes(st, <Py_ssize_t>size + 64)
        if tag == JS_TAG_STRING:
            return qjs_string_to_py(jctx, v)
        try:
            return qjs_string_to_py(jctx, v)
        except MemoryError:
            if st.q.interrupt:  # the flattening was stopped, not out of memory
                _conv_stopped(st)
            raise
    elif tag == JS_TAG_FLOAT64:
        d = JS_VALUE_GET_FLOAT64(v)
        if -2147483648.0 <= d <= 2147483647.0:
            i = <int32_t>d
            if <double>i == d and not (d == 0.0 and signbit(d)):
                return PyLong_FromLong(i)
        return PyFloat_FromDouble(d)
    elif tag == JS_TAG_BOOL:
        return True if JS_VALUE_GET_BOOL(v) else False
    elif tag == JS_TAG_NULL or tag == JS_TAG_UNDEFINED:
        return None
    elif tag == JS_TAG_OBJECT:
        return _object_to_py(c, jctx, v, st)
    elif tag == JS_TAG_SHORT_BIG_INT or tag == JS_TAG_BIG_INT:
        return qjs_bigint_to_py(jctx, v)
    _conv_bytes(st, 64)
    return c._handle(JS_DupValue(jctx, v))


cdef object _object_to_py(Context c, JSContext *jctx, JSValueConst v, _Conv *st):
    cdef int kind = qjs_classify(jctx, v)
    cdef double ms
    cdef size_t size
    cdef uint8_t *buf
    if kind == QJS_KIND_ARRAY:
        return _array_to_py(c, jctx, v, st)
    if kind == QJS_KIND_PLAIN:
        r = _plain_to_py(c, jctx, v, st)
        if r is None:
            # not in this frame's caller: the fast path's buffers stay off the
            # C stack while the generic path recurses
            r = _plain_to_py_generic(c, jctx, v, st)
        return r
    if kind == QJS_KIND_DATE:
        if qjs_date_value(jctx, v, &ms) == 0 and not isnan(ms):
            try:
                if _EPOCH is None:
                    _load_datetime()
                return _EPOCH + _timedelta(milliseconds=ms)
            except OverflowError:
                pass  # outside datetime's years 1..9999: stays a Handle
        elif JS_HasException(jctx):
            JS_FreeValue(jctx, JS_GetException(jctx))
    elif kind == QJS_KIND_ARRAY_BUFFER or kind == QJS_KIND_UINT8_ARRAY:
        if kind == QJS_KIND_ARRAY_BUFFER:
            buf = JS_GetArrayBuffer(jctx, &size, v)
        else:
            buf = JS_GetUint8Array(jctx, &size, v)
        if buf == NULL:
            if JS_HasException(jctx):  # detached
                JS_FreeValue(jctx, JS_GetException(jctx))
            return b""
        _conv_count(st, <Py_ssize_t>(size >> 4))
        _conv_bytes(st, <Py_ssize_t>size + 64)
        return PyBytes_FromStringAndSize(<char *>buf, size)
    _conv_bytes(st, 64)
    return c._handle(JS_DupValue(jctx, v))


cdef object _array_to_py(Context c, JSContext *jctx, JSValueConst v, _Conv *st):
    cdef int64_t n, i
    cdef JSValue *vals
    cdef uint32_t count
    cdef JSValue el
    cdef list lst
    if qjs_array_length(jctx, v, &n) < 0:
        raise c._js_error(jctx)
    _conv_push(st, JS_VALUE_GET_PTR(v))
    try:
        _conv_count(st, <Py_ssize_t>n)
        _conv_bytes(st, 64 + 40 * <Py_ssize_t>n)
        lst = PyList_New(<Py_ssize_t>n)
        for i in range(n):
            # re-read every time: a getter run by the conversion may change the array
            if qjs_fast_array(v, &vals, &count) and i < count:
                _conv_step(st, 1)
                el = JS_DupValue(jctx, vals[i])
            else:
                # a hole or a slow array: the read may walk a long prototype chain
                _conv_step(st, 256)
                el = JS_GetPropertyInt64(jctx, v, i)
                if JS_IsException(el):
                    raise c._js_error(jctx)
            try:
                item = _to_py(c, jctx, el, st)
            finally:
                JS_FreeValue(jctx, el)
            Py_INCREF(item)
            PyList_SET_ITEM(lst, <Py_ssize_t>i, item)
        return lst
    finally:
        st.depth -= 1


# Properties read into buffers on the C stack (more: heap). Small, because
# nested objects recurse through this frame.
DEF _FAST_PROPS = 8


cdef object _plain_to_py(Context c, JSContext *jctx, JSValueConst v, _Conv *st):
    """A plain object's own data properties as a dict; None if it needs the
    generic path (accessors, index keys)."""
    cdef JSAtom atoms_buf[_FAST_PROPS]
    cdef JSValue values_buf[_FAST_PROPS]
    cdef JSAtom *atoms = atoms_buf
    cdef JSValue *values = values_buf
    cdef int n = qjs_plain_fast(jctx, v, atoms, values, _FAST_PROPS)
    cdef int i = 0, need
    cdef dict d
    if n < -1:
        need = -2 - n
        atoms = <JSAtom *>malloc(need * sizeof(JSAtom))
        values = <JSValue *>malloc(need * sizeof(JSValue))
        if atoms == NULL or values == NULL:
            free(atoms)
            free(values)
            raise MemoryError()
        n = qjs_plain_fast(jctx, v, atoms, values, need)
    try:
        if n < 0:
            return None  # the generic path, called by the caller
        _conv_push(st, JS_VALUE_GET_PTR(v))
        try:
            _conv_count(st, n)
            _conv_bytes(st, 64 + 80 * <Py_ssize_t>n)
            d = {}
            while i < n:
                key = qjs_atom_str(jctx, st.q, atoms[i])
                d[key] = _to_py(c, jctx, values[i], st)
                JS_FreeAtom(jctx, atoms[i])
                JS_FreeValue(jctx, values[i])
                i += 1
            return d
        finally:
            st.depth -= 1
    finally:
        while i < n:  # what an exception left
            JS_FreeAtom(jctx, atoms[i])
            JS_FreeValue(jctx, values[i])
            i += 1
        if atoms != atoms_buf:
            free(atoms)
            free(values)


cdef object _plain_to_py_generic(Context c, JSContext *jctx, JSValueConst v, _Conv *st):
    cdef JSPropertyEnum *tab = NULL
    cdef uint32_t length = 0, i
    cdef JSValue el
    cdef dict d
    if JS_GetOwnPropertyNames(jctx, &tab, &length, v, JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY) < 0:
        raise c._js_error(jctx)
    try:
        _conv_push(st, JS_VALUE_GET_PTR(v))
        try:
            _conv_count(st, length)
            _conv_bytes(st, 64 + 80 * <Py_ssize_t>length)
            d = {}
            for i in range(length):
                _conv_step(st, 256)
                key = qjs_atom_str(jctx, st.q, tab[i].atom)
                el = JS_GetProperty(jctx, v, tab[i].atom)
                if JS_IsException(el):
                    raise c._js_error(jctx)
                try:
                    d[key] = _to_py(c, jctx, el, st)
                finally:
                    JS_FreeValue(jctx, el)
            return d
        finally:
            st.depth -= 1
    finally:
        JS_FreePropertyEnum(jctx, tab, length)


cdef extern from "Python.h":
    int PyGC_Enable()
    int PyGC_Disable()


cdef object _convert(Context c, JSContext *jctx, JSValueConst v):
    """JS -> Python for one value (the entry point of the conversion)."""
    cdef _Conv st
    cdef int tag = JS_VALUE_GET_TAG(v)
    cdef int gc_was_on
    if tag == JS_TAG_INT:
        return PyLong_FromLong(JS_VALUE_GET_INT(v))
    _conv_init_py(&st, c)
    if tag != JS_TAG_OBJECT:
        return _to_py(c, jctx, v, &st)
    # Building many containers would trigger the cyclic GC over and over while
    # nothing it could collect exists yet: pause it for the conversion.
    gc_was_on = PyGC_Disable()
    try:
        return _to_py(c, jctx, v, &st)
    finally:
        if gc_was_on:
            PyGC_Enable()


# ----------------------------------------------------------------- Python -> JS

cdef JSValue _from_py(Context c, JSContext *jctx, object o, _Conv *st) except *:
    """A new JSValue for `o`; raises TypeError for what has no JS counterpart."""
    cdef type t = type(o)
    cdef JSValue v
    if o is None:
        return JS_NULL
    if t is str:
        v = qjs_string_from_py(jctx, o)
        if JS_IsException(v):
            _raise_pending(c, jctx)
        return v
    if t is int:
        return _int_to_js(c, jctx, o)
    if t is float:
        return JS_NewFloat64(jctx, <double>o)
    if t is bool:
        return JS_TRUE if o is True else JS_FALSE
    if t is list or t is tuple:
        return _seq_to_js(c, jctx, o, st)
    if t is dict:
        return _dict_to_js(c, jctx, o, st)
    if t is Handle:
        return _handle_to_js(c, <Handle>o)
    return _other_to_js(c, jctx, o, st)


cdef JSValue _int_to_js(Context c, JSContext *jctx, object o) except *:
    """An int (or an int subclass, read by its value: no method of it is called)."""
    cdef long long n
    cdef int overflow = 0
    cdef JSValue v
    n = PyLong_AsLongLongAndOverflow(o, &overflow)
    if overflow == 0 and -_MAX_SAFE_INTEGER <= n <= _MAX_SAFE_INTEGER:
        if -2147483648 <= n <= 2147483647:
            return JS_NewInt32(jctx, <int32_t>n)
        return JS_NewFloat64(jctx, <double>n)
    v = qjs_bigint_from_py(jctx, o)
    if JS_IsException(v):
        _raise_pending(c, jctx)
    return v


cdef JSValue _other_to_js(Context c, JSContext *jctx, object o, _Conv *st) except *:
    # Subclasses of the built-in types convert by their base type's value,
    # read at the C level: no method of the subclass (__str__, __len__,
    # __getitem__, items, ...) is called, so none can loop or change the value.
    cdef Py_buffer view
    cdef JSValue v
    if isinstance(o, bool):
        return JS_TRUE if o else JS_FALSE
    if PyLong_Check(o):
        return _int_to_js(c, jctx, o)
    if PyFloat_Check(o):
        return JS_NewFloat64(jctx, PyFloat_AS_DOUBLE(o))
    if PyUnicode_Check(o):
        v = qjs_string_from_py(jctx, o)
        if JS_IsException(v):
            _raise_pending(c, jctx)
        return v
    if PyBytes_Check(o):
        v = JS_NewUint8ArrayCopy(jctx, <const uint8_t *>PyBytes_AS_STRING(o),
                                 <size_t>PyBytes_GET_SIZE(o))
        if JS_IsException(v):
            raise c._js_error(jctx)
        return v
    if PyByteArray_Check(o):
        v = JS_NewUint8ArrayCopy(jctx, <const uint8_t *>PyByteArray_AS_STRING(o),
                                 <size_t>PyByteArray_GET_SIZE(o))
        if JS_IsException(v):
            raise c._js_error(jctx)
        return v
    if isinstance(o, memoryview):
        PyObject_GetBuffer(o, &view, PyBUF_SIMPLE)
        try:
            v = JS_NewUint8ArrayCopy(jctx, <const uint8_t *>view.buf, <size_t>view.len)
        finally:
            PyBuffer_Release(&view)
        if JS_IsException(v):
            raise c._js_error(jctx)
        return v
    if _datetime_loaded() and isinstance(o, _datetime_type):
        if o.tzinfo is None or o.utcoffset() is None:
            o = o.replace(tzinfo=_UTC)
        v = JS_NewDate(jctx, <double>((o - _EPOCH) / _ONE_MS))
        if JS_IsException(v):
            raise c._js_error(jctx)
        return v
    if PyList_Check(o) or PyTuple_Check(o):
        return _seq_to_js(c, jctx, o, st)
    if PyDict_Check(o):
        return _dict_to_js(c, jctx, o, st)
    if isinstance(o, Handle):
        return _handle_to_js(c, <Handle>o)
    if callable(o):
        return c._host_function(jctx, o, None, 0)
    raise TypeError(f"cannot convert {type(o).__name__!r} object to a JS value")


cdef JSValue _handle_to_js(Context c, Handle h) except *:
    h._check()
    if h.ctx.runtime is not c.runtime:
        raise ValueError("the handle belongs to a different runtime")
    return JS_DupValue(c.ctx, h.value)


cdef inline Py_ssize_t _seq_len(object seq, bint is_list) noexcept:
    return PyList_GET_SIZE(seq) if is_list else PyTuple_GET_SIZE(seq)


cdef JSValue _seq_to_js(Context c, JSContext *jctx, object seq, _Conv *st) except *:
    """A list or tuple (or a subclass: its items are read from the base storage)."""
    cdef bint is_list = PyList_Check(seq)
    cdef Py_ssize_t n = _seq_len(seq, is_list), i, done = 0
    cdef JSValue *vals
    cdef JSValue arr
    cdef PyObject *borrowed
    _conv_push(st, <void *>seq)
    try:
        _conv_count(st, n)
        if n == 0:
            arr = JS_NewArray(jctx)
        else:
            vals = <JSValue *>malloc(n * sizeof(JSValue))
            if vals == NULL:
                raise MemoryError()
            try:
                for i in range(n):
                    # converting an item may run Python that shrinks a list
                    if i >= _seq_len(seq, is_list):
                        vals[i] = JS_UNDEFINED
                    else:
                        borrowed = (PyList_GET_ITEM(seq, i) if is_list
                                    else PyTuple_GET_ITEM(seq, i))
                        item = <object>borrowed  # a reference of our own
                        vals[i] = _from_py(c, jctx, item, st)
                    done += 1
            except BaseException:
                for i in range(done):
                    JS_FreeValue(jctx, vals[i])
                free(vals)
                raise
            arr = JS_NewArrayFrom(jctx, <int>n, vals)  # takes the values, even on failure
            free(vals)
        if JS_IsException(arr):
            raise c._js_error(jctx)
        return arr
    finally:
        st.depth -= 1


cdef JSValue _dict_to_js(Context c, JSContext *jctx, object d, _Conv *st) except *:
    """A dict (or a subclass: OrderedDict, defaultdict, Counter, ... are read from
    the base storage, in insertion order, without calling their methods)."""
    cdef JSValue obj, key, val
    cdef JSAtom atom
    cdef int r
    cdef Py_ssize_t pos = 0, n = PyDict_Size(d), seen = 0
    cdef PyObject *pk
    cdef PyObject *pv
    _conv_push(st, <void *>d)
    try:
        _conv_count(st, n)
        obj = JS_NewObject(jctx)
        if JS_IsException(obj):
            raise c._js_error(jctx)
        try:
            if type(d) is not dict and isinstance(d, _OrderedDict):
                items = _odict_items(d)   # its own order (move_to_end), base methods only
            else:
                items = None
            while True:
                if items is not None:
                    if seen >= len(<list>items):
                        break
                    k, item = (<list>items)[seen]
                else:
                    # at most the size seen at the start: converting a value may
                    # run Python that grows the dict
                    if seen >= n or not PyDict_Next(d, &pos, &pk, &pv):
                        break
                    k = <object>pk      # references of our own for the conversion
                    item = <object>pv
                seen += 1
                if not PyUnicode_Check(k):
                    raise TypeError(f"dict keys must be str to convert to a JS object, not {type(k).__name__!r}")
                key = qjs_string_from_py(jctx, k)
                if JS_IsException(key):
                    _raise_pending(c, jctx)
                atom = JS_ValueToAtom(jctx, key)
                JS_FreeValue(jctx, key)
                if atom == JS_ATOM_NULL:
                    raise c._js_error(jctx)
                try:
                    val = _from_py(c, jctx, item, st)
                    r = JS_DefinePropertyValue(jctx, obj, atom, val, JS_PROP_C_W_E)
                finally:
                    JS_FreeAtom(jctx, atom)
                if r < 0:
                    raise c._js_error(jctx)
        except BaseException:
            JS_FreeValue(jctx, obj)
            raise
        return obj
    finally:
        st.depth -= 1


cdef list _odict_items(object d):
    """The items of an OrderedDict (subclass) in its order, by OrderedDict's own
    C methods (not the subclass's)."""
    return list(_OrderedDict.items(d))


cdef JSValue _to_js(Context c, JSContext *jctx, object o) except *:
    """Python -> JS for one value (the entry point of the conversion)."""
    cdef _Conv st
    _conv_init(&st, c.runtime.q)
    return _from_py(c, jctx, o, &st)
