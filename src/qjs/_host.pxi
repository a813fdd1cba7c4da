# Host functions: Python callables called from JS.
#
# A JS host function is a C closure whose opaque (qjs_hostref) names the
# callable by id in its context's table; the table owns the callable, so Python's
# GC sees every reference. When JS frees the function, its id is queued on the
# context state and the table entry is dropped at the next prune.


cdef JSValue _host_dispatch(JSContext *jctx, JSValueConst this_val, int argc,
                            JSValueConst *argv, qjs_hostref *h) noexcept:
    """Called by the C trampoline with the GIL held. Never raises."""
    cdef Context c = <Context>h.cs.context
    cdef _Conv st
    cdef int i
    cdef tuple args
    try:
        _conv_init(&st, h.q)
        args = PyTuple_New(argc)
        for i in range(argc):
            a = _to_py(c, jctx, argv[i], &st)
            Py_INCREF(a)
            PyTuple_SET_ITEM(args, i, a)
        result = (<object>h.callable)(*args)
        if h.flags & QJS_HOST_ASYNC:
            return _host_async_result(c, jctx, result)
        _conv_init(&st, h.q)
        return _from_py(c, jctx, result, &st)
    except BaseException as exc:
        return _throw_into_js(c, jctx, exc)
