# What the command line and the REPL need from the engine beyond the public API.


async def _eval_async_handle(Context ctx, code, filename="<eval>", timeout=_DEFAULT):
    """Like ``ctx.eval_async(code)`` for a script, but the completion value comes
    back as a Handle, unconverted (undefined and null stay apart)."""
    cdef qjs_entry e
    cdef Handle result
    cdef JSValue v
    t = ctx._entry_timeout(timeout)
    deadline = qjs_now() + t if t >= 0 else 0.0
    promise, _ = ctx._start_async(code, filename, False, t)
    try:
        try:
            await _drive(ctx.runtime, promise, deadline)
        except BaseException:
            _cancel_host_calls(ctx)
            raise
        result = _promise_handle_outcome(ctx, promise)
        try:
            ctx.runtime._enter(&e, ctx._entry_timeout(_DEFAULT))
            try:
                if not JS_IsObject(result.value):
                    return ctx._handle(JS_DupValue(ctx.ctx, result.value))
                v = JS_GetPropertyStr(ctx.ctx, result.value, "value")
                if JS_IsException(v):
                    raise ctx._js_error(ctx.ctx)
                return ctx._handle(v)
            finally:
                ctx.runtime._leave(&e)
        finally:
            result._release()
    finally:
        (<Handle>promise)._release()
