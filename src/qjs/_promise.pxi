# Promises and jobs on asyncio.


cdef _install_rejection_tracker(Runtime rt):
    pass


cdef JSValue _host_async_result(Context c, JSContext *jctx, object result) except *:
    raise TypeError("async host functions need eval_async")
