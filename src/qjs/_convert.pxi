# Exact conversion between JS values and Python objects, both directions, with
# no JSON in between. Bounded: nesting deeper than MAX_DEPTH or a cycle is a
# ValueError, more than MAX_NODES values is a ValueError raised before the
# Python containers are allocated, and the entry's deadline is checked as the
# conversion goes (it can run user getters and proxies).

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.exc cimport PyErr_Occurred

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
    void *path[_MAX_DEPTH]


cdef inline void _conv_init(_Conv *st, qjs_rt *q) noexcept:
    st.q = q
    st.depth = 0
    st.nodes = 0
    st.next_check = _DEADLINE_EVERY


cdef int _conv_push(_Conv *st, void *p) except -1:
    cdef int i
    if st.depth >= _MAX_DEPTH:
        raise ValueError(f"value nests deeper than {MAX_DEPTH} levels (or contains a cycle)")
    for i in range(st.depth):
        if st.path[i] == p:
            raise ValueError("value contains a cycle")
    st.path[st.depth] = p
    st.depth += 1
    return 0


cdef int _conv_count(_Conv *st, Py_ssize_t n) except -1:
    st.nodes += n
    if st.nodes > MAX_NODES:
        raise ValueError(f"value has more than {MAX_NODES} elements")
    if st.nodes >= st.next_check:
        st.next_check = st.nodes + _DEADLINE_EVERY
        if st.q.interrupt or (st.q.deadline > 0 and qjs_now() >= st.q.deadline):
            raise JSTimeoutError("conversion exceeded the time limit", name="InternalError")
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
    if tag == JS_TAG_INT:
        return PyLong_FromLong(JS_VALUE_GET_INT(v))
    elif tag == JS_TAG_STRING or tag == JS_TAG_STRING_ROPE:
        return qjs_string_to_py(jctx, v)
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
    return c._handle(JS_DupValue(jctx, v))


cdef object _object_to_py(Context c, JSContext *jctx, JSValueConst v, _Conv *st):
    cdef int kind = qjs_classify(jctx, v)
    cdef double ms
    cdef size_t size
    cdef uint8_t *buf
    if kind == QJS_KIND_ARRAY:
        return _array_to_py(c, jctx, v, st)
    if kind == QJS_KIND_PLAIN:
        return _plain_to_py(c, jctx, v, st)
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
        return PyBytes_FromStringAndSize(<char *>buf, size)
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
        lst = PyList_New(<Py_ssize_t>n)
        for i in range(n):
            # re-read every time: a getter run by the conversion may change the array
            if qjs_fast_array(v, &vals, &count) and i < count:
                el = JS_DupValue(jctx, vals[i])
            else:
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


DEF _FAST_PROPS = 32


cdef object _plain_to_py(Context c, JSContext *jctx, JSValueConst v, _Conv *st):
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
            return _plain_to_py_generic(c, jctx, v, st)
        _conv_push(st, JS_VALUE_GET_PTR(v))
        try:
            _conv_count(st, n)
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
            d = {}
            for i in range(length):
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
    _conv_init(&st, c.runtime.q)
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
    cdef long long n
    cdef int overflow = 0
    cdef JSValue v
    if o is None:
        return JS_NULL
    if t is str:
        v = qjs_string_from_py(jctx, o)
        if JS_IsException(v):
            _raise_pending(c, jctx)
        return v
    if t is int:
        n = PyLong_AsLongLongAndOverflow(o, &overflow)
        if overflow == 0 and -_MAX_SAFE_INTEGER <= n <= _MAX_SAFE_INTEGER:
            if -2147483648 <= n <= 2147483647:
                return JS_NewInt32(jctx, <int32_t>n)
            return JS_NewFloat64(jctx, <double>n)
        v = qjs_bigint_from_py(jctx, o)
        if JS_IsException(v):
            _raise_pending(c, jctx)
        return v
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


cdef JSValue _other_to_js(Context c, JSContext *jctx, object o, _Conv *st) except *:
    cdef Py_buffer view
    cdef JSValue v
    if isinstance(o, bool):
        return JS_TRUE if o else JS_FALSE
    if isinstance(o, int):
        return _from_py(c, jctx, int(o), st)
    if isinstance(o, float):
        return JS_NewFloat64(jctx, <double>o)
    if isinstance(o, str):
        return _from_py(c, jctx, str(o), st)
    if isinstance(o, (bytes, bytearray, memoryview)):
        if PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) < 0:
            o = bytes(o)
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
    if isinstance(o, (list, tuple)):
        return _seq_to_js(c, jctx, o, st)
    if isinstance(o, dict):
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


cdef JSValue _seq_to_js(Context c, JSContext *jctx, object seq, _Conv *st) except *:
    cdef Py_ssize_t n = len(seq), i, done = 0
    cdef JSValue *vals
    cdef JSValue arr
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
                    vals[i] = _from_py(c, jctx, seq[i], st)
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


cdef JSValue _dict_to_js(Context c, JSContext *jctx, dict d, _Conv *st) except *:
    cdef JSValue obj, key, val
    cdef JSAtom atom
    cdef int r
    _conv_push(st, <void *>d)
    try:
        _conv_count(st, len(d))
        obj = JS_NewObject(jctx)
        if JS_IsException(obj):
            raise c._js_error(jctx)
        try:
            for k, item in d.items():
                if not isinstance(k, str):
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


cdef JSValue _to_js(Context c, JSContext *jctx, object o) except *:
    """Python -> JS for one value (the entry point of the conversion)."""
    cdef _Conv st
    _conv_init(&st, c.runtime.q)
    return _from_py(c, jctx, o, &st)
