# Host functions: Python callables called from JS.
#
# A JS host function is a C closure whose opaque (qjs_hostref) names the
# callable by id in its context's table; the table owns the callable, so Python's
# GC sees every reference. When JS frees the function, its id is queued on the
# context state and the table entry is dropped at the next prune.

from cpython.ref cimport Py_XDECREF

cdef extern from "Python.h":
    object PyObject_Vectorcall(object callable, PyObject **args, size_t nargsf, PyObject *kwnames)

DEF _STACK_ARGS = 8

cdef extern from *:
    """
    /* What `await` accepts: a type with an __await__ slot (coroutines, Futures,
       Tasks, classes defining __await__). */
    static inline int qjs_py_awaitable(PyObject *o)
    {
        PyAsyncMethods *am = Py_TYPE(o)->tp_as_async;
        return am != NULL && am->am_await != NULL;
    }
    """
    bint qjs_py_awaitable(object o)


cdef JSValue _host_dispatch(JSContext *jctx, JSValueConst this_val, int argc,
                            JSValueConst *argv, qjs_hostref *h) noexcept:
    """Called by the C trampoline with the GIL held. Never raises."""
    cdef Context c = <Context>h.cs.context
    cdef _Conv st
    cdef int i, done = 0
    cdef PyObject *stack[_STACK_ARGS]
    cdef PyObject **args = stack
    try:
        _conv_init_py(&st, c)
        if argc > _STACK_ARGS:
            args = <PyObject **>malloc(argc * sizeof(PyObject *))
            if args == NULL:
                raise MemoryError()
        try:
            if h.flags & _HOST_FORMAT:
                text = _console_text(c, jctx, argc, argv)
                Py_INCREF(text)
                args[0] = <PyObject *>text
                argc = done = 1
            for i in range(done, argc):
                a = _to_py(c, jctx, argv[i], &st)
                Py_INCREF(a)
                args[i] = <PyObject *>a
                done += 1
            result = PyObject_Vectorcall(<object>h.callable, args, <size_t>argc, NULL)
        finally:
            for i in range(done):
                Py_XDECREF(args[i])
            if args != stack:
                free(args)
        if h.q.interrupt:
            # the host stopped JS meanwhile (closed the context or runtime, or a
            # nested entry hit the deadline): unwind now, uncatchably
            return qjs_throw_interrupted(jctx)
        if h.flags & QJS_HOST_ASYNC or (qjs_py_awaitable(result)
                                          and not isinstance(result, Handle)):
            # a plain callable returning a coroutine, Future, Task, ... is async
            # too (a Handle is a JS value, returned as itself)
            return _host_async_result(c, jctx, result)
        if h.flags & QJS_HOST_CONSOLE:
            return JS_UNDEFINED  # console.log() is undefined, as in every JS host
        _conv_init(&st, h.q)
        return _from_py(c, jctx, result, &st)
    except BaseException as exc:
        return _throw_into_js(c, jctx, exc)
