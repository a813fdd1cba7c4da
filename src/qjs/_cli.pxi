# What the command line and the REPL need from the engine beyond the public API.


async def _eval_async_handle(Context ctx, code, filename="<eval>", timeout=_DEFAULT):
    """Like ``ctx.eval_async(code)`` for a script, but the completion value comes
    back as a Handle, unconverted (undefined and null stay apart)."""
    t = ctx._entry_timeout(timeout)
    deadline = qjs_now() + t if t >= 0 else 0.0
    lost = _lost_jobs(ctx.runtime)
    promise, _ = ctx._start_async(code, filename, False, t)
    try:
        try:
            await _drive(ctx.runtime, promise, deadline, lost)
        except BaseException:
            await _reap(_cancel_host_calls(ctx))
            raise
        # the completion value, unwrapped from the script's {value} and awaited
        return _promise_handle_outcome(ctx, promise)
    finally:
        (<Handle>promise)._release()
