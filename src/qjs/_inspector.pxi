# qjs.inspect: JS values shown the way node's util.inspect shows them.
#
# The layout is computed in JS, inside the value's own context, by a function
# compiled there on first use (qjs/_inspect_js.py) and kept in Context._inspector,
# where user code cannot reach it. One entry formats a whole value: no handle per
# property, and the entry's deadline bounds it like any other JS call. Three
# native functions give it what JS cannot see: an object's class id (brand checks
# that prototype tricks cannot fool), a promise's state and a proxy's target (so
# that no trap runs).

DEF _INSPECT_MODE_VALUE = 0
DEF _INSPECT_MODE_FORMAT = 1
DEF _INSPECT_MODE_PREVIEW = 2

# A host function flag (beyond shim.h's QJS_HOST_*): the arguments arrive
# formatted as console.log formats them, in one str.
cdef enum:
    _HOST_FORMAT = 0x100

#: Longest text one inspection returns (characters); longer output is cut.
INSPECT_MAX_OUTPUT = 1 << 20

#: Wall-time bound of Handle.__repr__ (seconds), inside any shorter deadline.
DEF _REPR_TIMEOUT = 0.25


cdef JSValue _native_class_id(JSContext *ctx, JSValueConst this_val, int argc,
                              JSValueConst *argv) noexcept nogil:
    if argc < 1:
        return JS_NewInt32(ctx, 0)
    return JS_NewInt32(ctx, <int32_t>JS_GetClassID(argv[0]))


cdef JSValue _native_promise_info(JSContext *ctx, JSValueConst this_val, int argc,
                                  JSValueConst *argv) noexcept nogil:
    """[0] pending (or not a promise), [1, value] fulfilled, [2, reason] rejected."""
    cdef JSValue items[2]
    cdef int n = 1
    cdef JSPromiseStateEnum state = JS_PROMISE_NOT_A_PROMISE
    if argc >= 1:
        state = JS_PromiseState(ctx, argv[0])
    if state == JS_PROMISE_FULFILLED or state == JS_PROMISE_REJECTED:
        items[0] = JS_NewInt32(ctx, 1 if state == JS_PROMISE_FULFILLED else 2)
        items[1] = JS_PromiseResult(ctx, argv[0])
        n = 2
    else:
        items[0] = JS_NewInt32(ctx, 0)
    return JS_NewArrayFrom(ctx, n, items)


cdef JSValue _native_proxy_target(JSContext *ctx, JSValueConst this_val, int argc,
                                  JSValueConst *argv) noexcept nogil:
    """The target of a proxy; null when it is revoked (or not a proxy)."""
    cdef JSValue v
    if argc < 1:
        return JS_NULL
    v = JS_GetProxyTarget(ctx, argv[0])
    if JS_IsException(v):
        JS_FreeValue(ctx, JS_GetException(ctx))
        return JS_NULL
    return v


cdef bytes _inspector_bytecode = None


cdef JSValue _inspector_of(Context c, JSContext *jctx) except *:
    """The context's inspector function (a new reference); the runtime is entered."""
    cdef JSValue factory, fn, compiled
    cdef JSValue natives[3]
    cdef int i
    cdef bytes src
    global _inspector_bytecode
    if not JS_IsUndefined(c._inspector):
        return JS_DupValue(jctx, c._inspector)
    if _inspector_bytecode is None:
        # parsed once per process; other contexts read the bytecode (several times faster)
        from qjs._inspect_js import SOURCE
        src = _utf8(SOURCE)
        compiled = qjs_eval(c.runtime.q, jctx, src, len(src), "<qjs.inspect>",
                            JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY)
        if JS_IsException(compiled):
            raise c._js_error(jctx)
        try:
            bytecode = _write_object(c, compiled, JS_WRITE_OBJ_BYTECODE)
        except BaseException:
            JS_FreeValue(jctx, compiled)
            raise
        _inspector_bytecode = bytecode
    else:
        compiled = _read_object(c, _inspector_bytecode, JS_READ_OBJ_BYTECODE, "the inspector")
    factory = qjs_eval_function(c.runtime.q, jctx, compiled)
    if JS_IsException(factory):
        raise c._js_error(jctx)
    natives[0] = JS_NewCFunction(jctx, _native_class_id, "classId", 1)
    natives[1] = JS_NewCFunction(jctx, _native_promise_info, "promiseInfo", 1)
    natives[2] = JS_NewCFunction(jctx, _native_proxy_target, "proxyTarget", 1)
    fn = qjs_call(c.runtime.q, jctx, factory, JS_UNDEFINED, 3, natives)
    JS_FreeValue(jctx, factory)
    for i in range(3):
        JS_FreeValue(jctx, natives[i])
    if JS_IsException(fn):
        raise c._js_error(jctx)
    if c.ctx == jctx and JS_IsUndefined(c._inspector):
        c._inspector = JS_DupValue(jctx, fn)
    return fn


cdef str _inspect_values(Context c, JSContext *jctx, int mode, tuple opts, int argc,
                         JSValueConst *argv):
    """Run the inspector on argv (the runtime is entered): the text, or raise."""
    cdef JSValue fn = _inspector_of(c, jctx)
    cdef JSValue r
    cdef JSValue *args = <JSValue *>malloc((7 + argc) * sizeof(JSValue))
    cdef int i
    cdef _Conv st
    if args == NULL:
        JS_FreeValue(jctx, fn)
        raise MemoryError()
    for i in range(7):
        args[i] = JS_UNDEFINED
    _conv_init(&st, c.runtime.q)
    try:
        args[0] = JS_NewInt32(jctx, mode)
        for i in range(6):
            args[1 + i] = _from_py(c, jctx, opts[i], &st)
        for i in range(argc):
            args[7 + i] = argv[i]
        r = qjs_call(c.runtime.q, jctx, fn, JS_UNDEFINED, 7 + argc, args)
    finally:
        for i in range(7):
            JS_FreeValue(jctx, args[i])
        free(args)
        JS_FreeValue(jctx, fn)
    if JS_IsException(r):
        raise c._js_error(jctx)
    try:
        if not JS_IsString(r):
            raise TypeError("the inspector did not return a string")
        return qjs_string_to_py(jctx, r)
    finally:
        JS_FreeValue(jctx, r)


cdef tuple _inspect_options(object depth, object colors, object max_array_length,
                            object max_string_length, object break_length, object max_output):
    if depth is not None:
        if isinstance(depth, bool) or not isinstance(depth, (int, float)) or depth < 0:
            raise ValueError(f"depth must be a number >= 0 or None, not {depth!r}")
        depth = float(depth) if depth == float("inf") else int(depth)
    for name, n in (("max_array_length", max_array_length),
                    ("max_string_length", max_string_length),
                    ("breakLength", break_length)):
        if isinstance(n, bool) or not isinstance(n, (int, float)) or n < 0 or n != n:
            raise ValueError(f"{name} must be a number >= 0, not {n!r}")
    return (depth, bool(colors), float(max_array_length), float(max_string_length),
            float(break_length), int(max_output))


def _inspect_handle(Handle h, *, depth=2, colors=False, max_array_length=100,
                    max_string_length=10000, breakLength=80, mode=_INSPECT_MODE_VALUE,
                    timeout=_DEFAULT, max_output=INSPECT_MAX_OUTPUT):
    """The text of `h` as node's util.inspect shows it (see qjs.inspect)."""
    cdef qjs_entry e
    cdef Context c
    cdef tuple opts = _inspect_options(depth, colors, max_array_length, max_string_length,
                                       breakLength, max_output)
    h._check()
    c = h.ctx
    c._check()
    c.runtime._enter(&e, c._entry_timeout(timeout))
    try:
        c._check()
        return _inspect_values(c, c.ctx, mode, opts, 1, &h.value)
    finally:
        c.runtime._leave(&e)


cdef tuple _CONSOLE_OPTIONS = (2, False, 100.0, 10000.0, 80.0, INSPECT_MAX_OUTPUT)


cdef str _console_text(Context c, JSContext *jctx, int argc, JSValueConst *argv):
    """console.log's arguments as one line of text, formatted like node's."""
    cdef list parts = []
    cdef int i, tag
    cdef JSValueConst v
    # The common case, strings and plain numbers with no format directive, is
    # joined here: no need to compile the inspector for it.
    for i in range(argc):
        v = argv[i]
        tag = JS_VALUE_GET_TAG(v)
        if JS_IsString(v):
            s = qjs_string_to_py(jctx, v)
            if i == 0 and argc > 1 and "%" in s:
                break
            parts.append(s)
        elif tag == JS_TAG_INT or JS_IsBool(v) or JS_IsNull(v) or JS_IsUndefined(v):
            parts.append(_js_to_string(jctx, v))
        else:
            break
    else:
        return " ".join(parts)
    return _inspect_values(c, jctx, _INSPECT_MODE_FORMAT, _CONSOLE_OPTIONS, argc, argv)


cdef str _handle_preview(Handle h):
    """A one-line preview of a live handle's value for repr(); None if JS cannot
    be entered now (another thread runs it, the context is closing)."""
    cdef qjs_entry e
    cdef Context c = h.ctx
    cdef Runtime rt
    cdef qjs_rt *q
    cdef double t
    if c is None or c.ctx == NULL or c._closed:
        return None
    rt = c.runtime
    q = rt.q
    if q == NULL or q.closing or (q.depth > 0 and q.owner != _thread_ident()):
        return None
    t = c._entry_timeout(_DEFAULT)
    if t < 0 or t > _REPR_TIMEOUT:
        t = _REPR_TIMEOUT
    try:
        rt._enter(&e, t)
    except Exception:
        return None
    try:
        if c._closed or not h._alive:
            return None
        return _inspect_values(c, c.ctx, _INSPECT_MODE_PREVIEW,
                               (1, False, 6.0, 40.0, float("inf"), 100), 1, &h.value)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        return None
    finally:
        rt._leave(&e)
