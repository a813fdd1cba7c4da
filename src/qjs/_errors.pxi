# The one choke point between JS exceptions and Python exceptions, both ways.
#
# JS -> Python: Context._js_error() turns the pending JS exception (and the
#   runtime's interrupt reason) into the Python exception to raise.
# Python -> JS: _throw_into_js() turns an exception raised by a host function
#   into a sanitised JS Error (name = class name, message = str(exc)); the
#   original is kept by id so that, uncaught, it is re-raised as itself.


from cpython.exc cimport PyErr_Clear


cdef object _js_str_prop(JSContext *jctx, JSValueConst obj, const char *name):
    """String(obj[name]), or None if absent or if reading it throws."""
    cdef JSValue v = JS_GetPropertyStr(jctx, obj, name)
    cdef JSValue s
    if JS_IsException(v):
        JS_FreeValue(jctx, JS_GetException(jctx))
        return None
    if JS_IsUndefined(v):
        return None
    if JS_IsString(v):
        s = v
    else:
        s = JS_ToString(jctx, v)
        JS_FreeValue(jctx, v)
        if JS_IsException(s):
            JS_FreeValue(jctx, JS_GetException(jctx))
            return None
    try:
        return qjs_string_to_py(jctx, s)
    finally:
        JS_FreeValue(jctx, s)


cdef object _js_to_string(JSContext *jctx, JSValueConst v):
    cdef JSValue s = JS_ToString(jctx, v)
    if JS_IsException(s):
        JS_FreeValue(jctx, JS_GetException(jctx))
        return "<unprintable>"
    try:
        return qjs_string_to_py(jctx, s)
    finally:
        JS_FreeValue(jctx, s)


cdef _add_note(BaseException exc, str note):
    try:
        exc.add_note(note)
    except AttributeError:  # Python < 3.11
        notes = getattr(exc, "__notes__", None)
        if notes is None:
            notes = []
            exc.__notes__ = notes
        notes.append(note)


cdef object _host_exception(Runtime rt, JSContext *jctx, JSValueConst exc):
    """The Python exception behind a JS error made by _throw_into_js, or None."""
    cdef JSValue token
    cdef uint64_t ident
    cdef int found
    if not rt._py_errors:
        return None
    token = JS_GetProperty(jctx, exc, rt.q.atom_private)
    if JS_IsException(token):
        JS_FreeValue(jctx, JS_GetException(jctx))
        return None
    found = qjs_error_token_id(rt.q, token, &ident)
    JS_FreeValue(jctx, token)
    return rt._py_errors.get(ident) if found else None


cdef void _drop_failure(JSContext *jctx) noexcept:
    """Forget a failed string conversion: its Python error (a string too long
    for JS) or its pending JS exception (out of memory)."""
    PyErr_Clear()
    if JS_HasException(jctx):
        JS_FreeValue(jctx, JS_GetException(jctx))


cdef JSValue _throw_into_js(Context c, JSContext *jctx, BaseException exc) noexcept:
    """Throw `exc` (raised by host code) into JS; returns JS_EXCEPTION. Never raises."""
    cdef Runtime rt = c.runtime
    cdef qjs_rt *q = rt.q
    cdef JSValue err, v, token
    cdef uint64_t ident
    try:
        if not isinstance(exc, Exception):
            # KeyboardInterrupt, SystemExit, ...: abort; JS cannot catch it
            rt._abort = exc
            q.interrupt = q.last_interrupt = QJS_INT_ABORT
            return qjs_throw_interrupted(jctx)
        if q.interrupt:
            # a nested entry hit the deadline or was interrupted: stay stopped
            if isinstance(exc, InterruptedError) or q.interrupt == QJS_INT_ABORT:
                return qjs_throw_interrupted(jctx)
        if isinstance(exc, JSMemoryError) and not getattr(exc, "_qjs_budget", False):
            return JS_ThrowOutOfMemory(jctx)
        if isinstance(exc, JSStackOverflowError):
            return qjs_throw_stack_overflow(jctx)
        if isinstance(exc, JSError):
            name = exc.name
            message = exc.message
        else:
            name = type(exc).__name__
            try:
                message = str(exc)
            except BaseException:
                message = "<unprintable %s>" % name
        err = JS_NewError(jctx)
        if JS_IsException(err):
            return err
        v = qjs_string_from_py(jctx, str(name))
        if not JS_IsException(v):
            JS_DefinePropertyValueStr(jctx, err, "name", v, JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE)
        else:
            _drop_failure(jctx)
        v = qjs_string_from_py(jctx, str(message))
        if not JS_IsException(v):
            JS_DefinePropertyValueStr(jctx, err, "message", v, JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE)
        else:
            _drop_failure(jctx)
        # the original is kept as long as the JS error lives (its token's finalizer
        # queues the id; the entry is dropped at the next exit from the runtime)
        ident = rt._next_error
        rt._next_error += 1
        token = qjs_new_error_token(jctx, q, ident)
        if not JS_IsException(token):
            rt._py_errors[ident] = exc
            JS_DefinePropertyValue(jctx, err, q.atom_private, token, 0)
        else:
            JS_FreeValue(jctx, JS_GetException(jctx))
        return JS_Throw(jctx, err)
    except BaseException:
        return JS_ThrowInternalError(jctx, "host error could not be converted")

