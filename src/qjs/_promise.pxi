# Promises and jobs on asyncio.
#
# JS runs only in short synchronous sections (an entry into the runtime); the
# waiting happens in Python: _drive() alternates "run every queued job and
# settle the host coroutines that finished" with "await the next host coroutine
# to finish", until the awaited promise settles, the deadline passes, or nothing
# could ever settle it (DeadlockError).
#
# An async host function starts its coroutine at once, inside the JS call, the
# way a JS async function runs until its first await: a coroutine that finishes
# without suspending resolves its promise with no Task at all. One that suspends
# is handed to an asyncio Task, from the point where it suspended.

_asyncio = _LazyModule("asyncio")
import types as _types
import warnings as _warnings

from qjs.errors import UnhandledRejectionWarning

DEF _REJECTIONS_KEPT = 64


cdef class _HostCall:
    """A host coroutine in flight and the resolving functions of its JS promise."""
    cdef Context ctx
    cdef Handle resolve
    cdef Handle reject
    cdef object coro        # the host coroutine
    cdef bint waiting       # its Task has not taken its first step yet
    cdef bint cancel_first  # cancelled before that step: throw CancelledError in then


def _consume_outcome(task):
    if not task.cancelled():
        task.exception()


cdef void _cancel_task(object task, _HostCall call):
    """Cancel a host coroutine whose result nobody will read."""
    try:
        task.add_done_callback(_consume_outcome)
        if call.waiting:
            # Task.cancel() before the Task's first step would never reach the
            # coroutine (it is suspended inside, not started): deliver it then
            call.cancel_first = True
        else:
            task.cancel()
    except RuntimeError:
        # its event loop is closed: nothing will ever step it again
        try:
            call.coro.close()
        except BaseException:
            pass


@_types.coroutine
def _continue(coro, yielded, _HostCall call):
    """Drive `coro` on from the point where it first suspended (yielding `yielded`)."""
    call.waiting = False
    if call.cancel_first:
        call.cancel_first = False
        try:
            yielded = coro.throw(_asyncio.CancelledError())
        except StopIteration as stop:
            return stop.value
    while True:
        try:
            sent = yield yielded
        except BaseException as exc:
            try:
                yielded = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration as stop:
                return stop.value


cdef JSValue _settled_promise(Context c, JSContext *jctx, bint rejected, JSValue value) except *:
    """A new promise settled with `value` (which is consumed)."""
    cdef JSValue funcs[2]
    cdef JSValue p = JS_NewPromiseCapability(jctx, funcs)
    cdef JSValue r
    if JS_IsException(p):
        JS_FreeValue(jctx, value)
        raise c._js_error(jctx)
    r = JS_Call(jctx, funcs[1] if rejected else funcs[0], JS_UNDEFINED, 1, &value)
    JS_FreeValue(jctx, value)
    JS_FreeValue(jctx, funcs[0])
    JS_FreeValue(jctx, funcs[1])
    if JS_IsException(r):
        JS_FreeValue(jctx, p)
        raise c._js_error(jctx)
    JS_FreeValue(jctx, r)
    return p


cdef JSValue _error_value(Context c, JSContext *jctx, BaseException exc) noexcept:
    """The JS error value for a Python exception (as a host function would throw it)."""
    _throw_into_js(c, jctx, exc)
    return JS_GetException(jctx)


cdef JSValue _host_async_result(Context c, JSContext *jctx, object result) except *:
    """The JS promise for what an async host function returned (usually a coroutine)."""
    cdef JSValue funcs[2]
    cdef JSValue p
    cdef _HostCall call = _HostCall.__new__(_HostCall)
    if not _inspect.isawaitable(result):
        return _settled_promise(c, jctx, False, _to_js(c, jctx, result))
    try:
        _asyncio.get_running_loop()
    except RuntimeError:
        if _inspect.iscoroutine(result):
            result.close()
        raise RuntimeError("async host functions need a running asyncio event loop: "
                           "use eval_async (or await the handle) instead of eval") from None
    if _inspect.iscoroutine(result):
        try:
            yielded = result.send(None)
        except StopIteration as stop:
            return _settled_promise(c, jctx, False, _to_js(c, jctx, stop.value))
        except Exception as exc:
            return _settled_promise(c, jctx, True, _error_value(c, jctx, exc))
        call.waiting = True
        task = _asyncio.ensure_future(_continue(result, yielded, call))
    else:
        task = _asyncio.ensure_future(result)
    p = JS_NewPromiseCapability(jctx, funcs)
    if JS_IsException(p):
        task.cancel()
        raise c._js_error(jctx)
    call.ctx = c
    call.resolve = c._handle(funcs[0])
    call.reject = c._handle(funcs[1])
    call.coro = result
    c.runtime._tasks[task] = call
    return p


cdef int _settle(Runtime rt, object task, _HostCall call) except -1:
    """Resolve or reject the JS promise of a finished host coroutine (runtime entered)."""
    cdef Context c = call.ctx
    cdef JSValue v, r
    cdef JSContext *jctx
    if c.ctx == NULL or c._closed or not call.resolve._alive:
        return 0
    jctx = c.ctx
    try:
        if task.cancelled():
            v = _error_value(c, jctx, _asyncio.CancelledError("the host coroutine was cancelled"))
            f = call.reject
        elif task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, Exception):
                raise exc
            v = _error_value(c, jctx, exc)
            f = call.reject
        else:
            try:
                v = _to_js(c, jctx, task.result())
                f = call.resolve
            except Exception as exc:
                v = _error_value(c, jctx, exc)
                f = call.reject
        r = qjs_call(rt.q, jctx, (<Handle>f).value, JS_UNDEFINED, 1, &v)
        JS_FreeValue(jctx, v)
        if JS_IsException(r):
            raise c._js_error(jctx)
        JS_FreeValue(jctx, r)
    finally:
        call.resolve._release()
        call.reject._release()
    return 0


cdef int _pump(Runtime rt, double deadline) except -1:
    """Settle finished host coroutines and run every queued job, until neither is left."""
    cdef qjs_entry e
    cdef JSContext *pctx = NULL
    cdef int r
    cdef double t = -1
    if deadline > 0:
        t = deadline - qjs_now()
        if t <= 0:
            raise JSTimeoutError("JS execution exceeded its time limit", name="InternalError")
    rt._enter(&e, t)
    try:
        while True:
            finished = [task for task in rt._tasks if task.done()] if rt._tasks else None
            if finished:
                for task in finished:
                    _settle(rt, task, rt._tasks.pop(task))
            while True:
                r = qjs_execute_pending_job(rt.q, &pctx)
                if r == 0:
                    break
                if r < 0:
                    err = _job_error(rt, pctx)
                    if err is not None:
                        raise err
            if not finished:
                break
    finally:
        rt._leave(&e)
    if rt._rejections or rt._rejections_dropped:
        _report_rejections(rt)
    return 0


async def _drive(Runtime rt, Handle promise, double deadline):
    """Run jobs and host coroutines until `promise` settles."""
    cdef Context c = promise.ctx
    while True:
        _pump(rt, deadline)
        promise._check()
        if JS_PromiseState(c.ctx, promise.value) != JS_PROMISE_PENDING:
            return
        inflight = [task for task in rt._tasks if not task.done()]
        if not inflight:
            if JS_IsJobPending(rt.q.rt):
                continue
            raise DeadlockError("the awaited promise can never settle: no job is queued and "
                                "no host coroutine is running")
        timeout = None
        if deadline > 0:
            timeout = deadline - qjs_now()
            if timeout <= 0:
                raise JSTimeoutError("JS execution exceeded its time limit", name="InternalError")
        await _asyncio.wait(inflight, timeout=timeout, return_when=_asyncio.FIRST_COMPLETED)


cdef Handle _promise_handle_outcome(Context c, Handle promise):
    """The value of a settled promise as a Handle, or raise its rejection."""
    cdef qjs_entry e
    cdef JSContext *jctx = c.ctx
    c._check()
    c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
    try:
        if JS_PromiseState(jctx, promise.value) == JS_PROMISE_REJECTED:
            JS_PromiseMarkAsHandled(jctx, promise.value)
            JS_Throw(jctx, JS_PromiseResult(jctx, promise.value))
            raise c._js_error(jctx)
        return c._handle(JS_PromiseResult(jctx, promise.value))
    finally:
        c.runtime._leave(&e)


cdef object _promise_outcome(Context c, Handle promise):
    """The converted value of a settled promise, or raise its rejection reason."""
    cdef Handle value = _promise_handle_outcome(c, promise)
    try:
        return value.to_python()
    finally:
        value._release()


cdef void _cancel_host_calls(Context c):
    """Cancel the in-flight host coroutines of `c` and reject their promises."""
    cdef Runtime rt = c.runtime
    cdef _HostCall call
    cdef qjs_entry e
    if not rt._tasks or rt.q == NULL:
        return
    mine = [task for task, call in rt._tasks.items() if (<_HostCall>call).ctx is c]
    if not mine:
        return
    for task in mine:
        _cancel_task(task, <_HostCall>rt._tasks[task])
    try:
        rt._enter(&e, 0.1)
    except BaseException:
        return
    try:
        for task in mine:
            call = rt._tasks.pop(task)
            try:
                _settle_cancelled(rt, call)
            except BaseException:
                pass
    finally:
        rt._leave(&e)


cdef int _settle_cancelled(Runtime rt, _HostCall call) except -1:
    cdef Context c = call.ctx
    cdef JSValue v, r
    if c.ctx != NULL and not c._closed and call.reject._alive:
        v = _error_value(c, c.ctx, _asyncio.CancelledError("the host coroutine was cancelled"))
        r = JS_Call(c.ctx, call.reject.value, JS_UNDEFINED, 1, &v)
        JS_FreeValue(c.ctx, v)
        if JS_IsException(r):
            JS_FreeValue(c.ctx, JS_GetException(c.ctx))
        else:
            JS_FreeValue(c.ctx, r)
    call.resolve._release()
    call.reject._release()
    return 0


async def _await_promise(Context c, Handle promise, double timeout):
    """Await a JS promise handle: drive the runtime, return the converted value."""
    cdef double deadline = qjs_now() + timeout if timeout >= 0 else 0
    try:
        await _drive(c.runtime, promise, deadline)
    except BaseException:
        _cancel_host_calls(c)
        raise
    return _promise_outcome(c, promise)


cdef Handle _as_promise(Context c, Handle h):
    """`h` itself if it is a promise, else Promise.resolve(h) (adopting thenables)."""
    cdef qjs_entry e
    cdef JSValue funcs[2]
    cdef JSValue p, r
    if JS_IsPromise(h.value):
        # awaited from Python: its rejection is handled there
        JS_PromiseMarkAsHandled(c.ctx, h.value)
        return h
    c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
    try:
        p = JS_NewPromiseCapability(c.ctx, funcs)
        if JS_IsException(p):
            raise c._js_error(c.ctx)
        r = qjs_call(c.runtime.q, c.ctx, funcs[0], JS_UNDEFINED, 1, &h.value)
        JS_FreeValue(c.ctx, funcs[0])
        JS_FreeValue(c.ctx, funcs[1])
        if JS_IsException(r):
            JS_FreeValue(c.ctx, p)
            raise c._js_error(c.ctx)
        JS_FreeValue(c.ctx, r)
        JS_PromiseMarkAsHandled(c.ctx, p)
        return c._handle(p)
    finally:
        c.runtime._leave(&e)


# -- unhandled rejections -------------------------------------------------------

cdef void _rejection_callback(qjs_rt *q, JSContext *jctx, JSValueConst promise,
                              JSValueConst reason, int is_handled) noexcept:
    """The engine's rejection tracker (GIL held). Records; _report_rejections reports."""
    cdef Runtime rt = <Runtime>q.pyrt
    cdef qjs_ctxstate *cs = <qjs_ctxstate *>JS_GetContextOpaque(jctx)
    cdef size_t key = <size_t>JS_VALUE_GET_PTR(promise)
    cdef Context c
    try:
        if is_handled:
            entry = rt._rejections.pop(key, None)
            if entry is not None:
                (<Handle>entry[1])._release()
                (<Handle>entry[2])._release()
            return
        if cs == NULL or not cs.open:
            return
        if len(rt._rejections) >= _REJECTIONS_KEPT:
            rt._rejections_dropped += 1
            return
        c = <Context>cs.context
        # the promise is held so that its address (the key) is not reused meanwhile
        rt._rejections[key] = (c, c._handle(JS_DupValue(jctx, reason)),
                               c._handle(JS_DupValue(jctx, promise)))
    except BaseException:
        pass


cdef str _describe_reason(Handle reason):
    cdef JSContext *jctx = reason.ctx.ctx
    if JS_IsObject(reason.value) and JS_IsError(reason.value):
        name = _js_str_prop(jctx, reason.value, "name") or "Error"
        message = _js_str_prop(jctx, reason.value, "message") or ""
        return f"{name}: {message}" if message else name
    return _js_to_string(jctx, reason.value)


cdef void _report_rejections(Runtime rt):
    """Report the rejections still unhandled after a job run: the context's
    on_unhandled_rejection callback, or an UnhandledRejectionWarning."""
    cdef Context c
    cdef Handle reason
    cdef Py_ssize_t dropped = rt._rejections_dropped
    entries = list(rt._rejections.values())
    rt._rejections.clear()
    rt._rejections_dropped = 0
    for entry in entries:
        c = <Context>entry[0]
        reason = <Handle>entry[1]
        if not reason._alive:
            continue
        try:
            handler = c._on_rejection
            if handler is not None:
                handler(reason.to_python())
            else:
                _warnings.warn(f"unhandled promise rejection: {_describe_reason(reason)}",
                               UnhandledRejectionWarning, stacklevel=3)
        except Exception:
            pass
        finally:
            reason._release()
            (<Handle>entry[2])._release()
    if dropped:
        try:
            _warnings.warn(f"{dropped} more unhandled promise rejections were not reported",
                           UnhandledRejectionWarning, stacklevel=3)
        except Exception:
            pass


cdef _install_rejection_tracker(Runtime rt):
    rt._tasks = {}
    rt._rejections = {}
    qjs_track_rejections(rt.q, 1)
