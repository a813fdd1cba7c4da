# Generators and iterators: the resumption primitive.
#
# One step is one engine call (generator.next/throw/return invoked with cached
# atoms, no JS source evaluated) plus reading {done, value} off the result.

cdef dict _MODES = {"next": QJS_RESUME_NEXT, "throw": QJS_RESUME_THROW, "return": QJS_RESUME_RETURN}


cdef int _resume_mode(object mode) except -1:
    try:
        return _MODES[mode]
    except (KeyError, TypeError):
        raise ValueError(f"mode must be 'next', 'throw' or 'return', not {mode!r}") from None


def _make_exception(typ, val=None):
    """The exception generator.throw(typ, val) would raise, as Python builds it."""
    if isinstance(typ, BaseException):
        return typ
    if isinstance(typ, type) and issubclass(typ, BaseException):
        if isinstance(val, typ):
            return val
        if val is None:
            return typ()
        if isinstance(val, tuple):
            return typ(*val)
        return typ(val)
    raise TypeError("exceptions must be classes or instances deriving from BaseException, "
                    f"not {type(typ).__name__}")


cdef JSValue _resume_arg(Context c, JSContext *jctx, object value, int mode) except *:
    if mode == QJS_RESUME_THROW and isinstance(value, BaseException):
        return _error_value(c, jctx, value)
    return _to_js(c, jctx, value)


cdef tuple _step(Handle h, object value, int mode, object timeout=_DEFAULT):
    """One step of a sync generator/iterator: (done, value)."""
    cdef qjs_entry e
    cdef Context c = h.ctx
    cdef JSContext *jctx = c.ctx
    cdef JSValue arg, res, v, gen
    cdef int done
    h._check()
    c.runtime._enter(&e, c._entry_timeout(timeout))
    try:
        h._check()
        arg = _resume_arg(c, jctx, value, mode)
        gen = JS_DupValue(jctx, h.value)  # held across the step (see _call_value)
        res = qjs_resume(c.runtime.q, jctx, gen, mode, arg, &done)
        JS_FreeValue(jctx, gen)
        JS_FreeValue(jctx, arg)
        if JS_IsException(res):
            raise c._js_error(jctx)
        if done < 0:
            done = qjs_step_result(jctx, res, &v)
            if done < 0:
                raise c._js_error(jctx)
        else:
            v = res
        try:
            return (done == 1, _convert(c, jctx, v))
        finally:
            JS_FreeValue(jctx, v)
    finally:
        c.runtime._leave(&e)


cdef Handle _start_async_step(Handle h, object value, int mode, double t):
    """Start one step of an async generator/iterator: the promise of its result."""
    cdef qjs_entry e
    cdef Context c = h.ctx
    cdef JSContext *jctx = c.ctx
    cdef JSValue arg, res, gen
    cdef int done
    h._check()
    c.runtime._enter(&e, t)
    try:
        h._check()
        arg = _resume_arg(c, jctx, value, mode)
        gen = JS_DupValue(jctx, h.value)  # held across the step (see _call_value)
        res = qjs_resume(c.runtime.q, jctx, gen, mode, arg, &done)
        JS_FreeValue(jctx, gen)
        JS_FreeValue(jctx, arg)
        if JS_IsException(res):
            raise c._js_error(jctx)
        if done >= 0:
            # a sync generator stepped through resume_async: its {value, done}
            res = qjs_iterator_result(jctx, res, done)
            if JS_IsException(res):
                raise c._js_error(jctx)
        return _as_promise(c, c._handle(res))
    finally:
        c.runtime._leave(&e)


cdef tuple _split_result(Handle result):
    """(done, value) of an iterator result object."""
    cdef qjs_entry e
    cdef Context c = result.ctx
    cdef JSContext *jctx = c.ctx
    cdef JSValue v
    cdef int done
    result._check()
    c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
    try:
        done = qjs_step_result(jctx, JS_DupValue(jctx, result.value), &v)
        if done < 0:
            raise c._js_error(jctx)
        try:
            return (done == 1, _convert(c, jctx, v))
        finally:
            JS_FreeValue(jctx, v)
    finally:
        c.runtime._leave(&e)


async def _async_step(Handle h, object value, int mode, object timeout=_DEFAULT):
    cdef Context c = h.ctx
    cdef double t = c._entry_timeout(timeout)
    cdef double deadline = qjs_now() + t if t >= 0 else 0
    cdef unsigned long lost = _lost_jobs(c.runtime)
    cdef Handle promise = _start_async_step(h, value, mode, t)
    cdef Handle result
    try:
        try:
            await _drive(c.runtime, promise, deadline, lost)
        except BaseException:
            await _reap(_cancel_host_calls(c))
            raise
        result = _promise_handle_outcome(c, promise)
        try:
            return _split_result(result)
        finally:
            result._release()
    finally:
        promise._release()


cdef Handle _get_iterator(Handle h, bint is_async):
    cdef qjs_entry e
    cdef Context c = h.ctx
    cdef JSValue it, obj
    h._check()
    c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
    try:
        h._check()
        obj = JS_DupValue(c.ctx, h.value)
        it = qjs_get_iterator(c.runtime.q, c.ctx, obj, is_async)
        JS_FreeValue(c.ctx, obj)
        if JS_IsException(it):
            raise c._js_error(c.ctx)
        return c._handle(it)
    finally:
        c.runtime._leave(&e)


async def _anext(Handle h):
    done, value = await _async_step(h, None, QJS_RESUME_NEXT)
    if done:
        raise StopAsyncIteration
    return value


async def _asend(Handle h, value, int mode, object timeout=_DEFAULT):
    done, result = await _async_step(h, value, mode, timeout)
    if done:
        raise StopAsyncIteration
    return result


async def _aclose(Handle h, object timeout=_DEFAULT):
    await _async_step(h, None, QJS_RESUME_RETURN, timeout)
