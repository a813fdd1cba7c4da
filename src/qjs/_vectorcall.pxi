# Handle.__call__ by vectorcall (PEP 590): CPython passes the arguments as a C array,
# so a call makes no argument tuple and parses no *args. Handle.__call__ (tp_call) stays
# and is what calls with keyword arguments, and subclasses, still use.

cdef extern from "Python.h":
    Py_ssize_t PyVectorcall_NARGS(size_t nargsf)
    long PyLong_AsLongAndOverflow(object o, int *overflow) except? -1
    double PyFloat_AS_DOUBLE(object o)
    unsigned long Py_TPFLAGS_HAVE_VECTORCALL
    ctypedef struct _VecTypeObject "PyTypeObject":
        Py_ssize_t tp_vectorcall_offset
        unsigned long tp_flags
    void _vec_type_modified "PyType_Modified"(_VecTypeObject *tp)


cdef object _handle_vectorcall(PyObject *callable, PyObject **args, size_t nargsf,
                               PyObject *kwnames):
    """The vectorcall slot of Handle: ``handle(*args)``."""
    cdef Handle h = <Handle>callable
    cdef Py_ssize_t n = PyVectorcall_NARGS(nargsf)
    cdef Context c
    cdef qjs_entry e
    if kwnames != NULL and len(<object>kwnames):
        # the tp_call path raises its TypeError for keyword arguments
        return Handle.__call__(h, *[<object>args[i] for i in range(n)],
                               **{k: <object>args[n + i] for i, k in enumerate(<object>kwnames)})
    h._check()
    c = h.ctx
    c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
    try:
        h._check()
        return _call_value_array(c, h.value, args, n)
    finally:
        c.runtime._leave(&e)


cdef object _call_value_array(Context c, JSValueConst f, PyObject **args, Py_ssize_t n):
    """_call_value for ``this`` undefined and arguments in a C array (runtime entered)."""
    cdef Py_ssize_t i, done = 0
    cdef JSValue stackbuf[8]
    cdef JSValue *argv = stackbuf
    cdef JSValue r, fdup
    cdef _Conv st
    cdef JSContext *jctx = c.ctx
    if n > 8:
        if n > 65535 * 16:
            raise ValueError("too many arguments")
        argv = <JSValue *>malloc(n * sizeof(JSValue))
        if argv == NULL:
            raise MemoryError()
    # our own reference for the call: converting the arguments (Python code) or a
    # host function may dispose the handle (or close the context) that holds f
    fdup = JS_DupValue(jctx, f)
    try:
        _conv_init(&st, c.runtime.q)
        for i in range(n):
            argv[i] = _arg_to_js(c, jctx, <object>args[i], &st)
            done += 1
        r = qjs_call(c.runtime.q, jctx, fdup, JS_UNDEFINED, <int>n, argv)
    finally:
        JS_FreeValue(jctx, fdup)
        for i in range(done):
            JS_FreeValue(jctx, argv[i])
        if argv != stackbuf:
            free(argv)
    if JS_VALUE_GET_TAG(r) == JS_TAG_INT and not c._closed:
        return PyLong_FromLong(JS_VALUE_GET_INT(r))  # what _run_result gives, sooner
    return c._run_result(jctx, r)


cdef inline JSValue _arg_to_js(Context c, JSContext *jctx, object o, _Conv *st) except *:
    """_from_py with the commonest arguments first: exact ints in int32 range, floats."""
    cdef long n
    cdef int overflow = 0
    if type(o) is int:
        n = PyLong_AsLongAndOverflow(o, &overflow)
        if overflow == 0 and -2147483648 <= n <= 2147483647:
            return JS_NewInt32(jctx, <int32_t>n)
    elif type(o) is float:
        return JS_NewFloat64(jctx, PyFloat_AS_DOUBLE(o))
    return _from_py(c, jctx, o, st)


cdef void _handle_enable_vectorcall():
    cdef Handle probe = Handle.__new__(Handle)
    cdef _VecTypeObject *tp = <_VecTypeObject *>Handle
    tp.tp_vectorcall_offset = <Py_ssize_t>(<char *>&probe._vectorcall - <char *><PyObject *>probe)
    tp.tp_flags |= Py_TPFLAGS_HAVE_VECTORCALL
    _vec_type_modified(tp)


_handle_enable_vectorcall()
