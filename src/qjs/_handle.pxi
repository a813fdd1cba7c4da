# Handle: an owned reference to one JS value in one context.


cdef JSAtom _key_atom(Context c, JSContext *jctx, object key) except? 0:
    """A new atom for a property key (str or int)."""
    cdef JSValue s
    cdef JSAtom atom
    if type(key) is int and 0 <= key < 0xFFFFFFFF:
        atom = JS_NewAtomUInt32(jctx, <uint32_t>key)
    elif isinstance(key, str):
        s = qjs_string_from_py(jctx, key)
        if JS_IsException(s):
            _raise_pending(c, jctx)
        atom = JS_ValueToAtom(jctx, s)
        JS_FreeValue(jctx, s)
    elif isinstance(key, int):
        return _key_atom(c, jctx, int.__repr__(key))  # the value, not a subclass's __int__
    elif isinstance(key, Handle) and (<Handle>key).ctx.runtime is c.runtime:
        (<Handle>key)._check()
        # our own reference: toString/toPrimitive may run JS that disposes the key
        s = JS_DupValue(jctx, (<Handle>key).value)
        atom = JS_ValueToAtom(jctx, s)
        JS_FreeValue(jctx, s)
    else:
        raise TypeError(f"property keys are str or int, not {type(key).__name__!r}")
    if atom == JS_ATOM_NULL:
        raise c._js_error(jctx)
    return atom


cdef str _typeof(JSContext *jctx, JSValueConst v):
    cdef int tag = JS_VALUE_GET_NORM_TAG(v)
    if tag == JS_TAG_OBJECT:
        return "function" if JS_IsFunction(jctx, v) else "object"
    if tag == JS_TAG_INT or tag == JS_TAG_FLOAT64:
        return "number"
    if tag == JS_TAG_STRING or tag == JS_TAG_STRING_ROPE:
        return "string"
    if tag == JS_TAG_BOOL:
        return "boolean"
    if tag == JS_TAG_NULL:
        return "object"
    if tag == JS_TAG_UNDEFINED:
        return "undefined"
    if tag == JS_TAG_SYMBOL:
        return "symbol"
    if tag == JS_TAG_BIG_INT or tag == JS_TAG_SHORT_BIG_INT:
        return "bigint"
    return "undefined"


@cython.no_gc_clear
@cython.freelist(32)
cdef class Handle:
    """A live, owned reference to one JS value in one context.

    Made by the library (``ctx.eval_handle``, ``ctx.globals``, conversions of
    functions, promises, class instances, ...). Freed by :meth:`dispose`, by
    ``with``, or when garbage collected; closing its context disposes it.
    """

    def __cinit__(self):
        self.value = JS_UNDEFINED
        self._vectorcall = <void *>_handle_vectorcall

    def __init__(self):
        raise TypeError("qjs.Handle objects are made by a Context")

    def __dealloc__(self):
        self._release()

    cdef void _release(self):
        """Free the value and leave the context's list. No Python is called."""
        cdef Context c = self.ctx
        cdef JSValue v = JS_UNDEFINED
        if not self._alive:
            return
        # the context's list is linked and unlinked only in its critical section
        # (a no-op with the GIL): __dealloc__ may run in any thread. The value is
        # freed (or queued) inside it too, so a Runtime.close() in another thread,
        # which takes every handle through the same section, cannot free the
        # runtime between the two.
        with cython.critical_section(c):
            if self._alive:
                v = self._take()
                if c.runtime is not None and c.runtime.q != NULL and c.runtime.q.rt != NULL:
                    qjs_free_value_any_thread(c.runtime.q, v)

    cdef JSValue _take(self) noexcept:
        """Leave the context's list and return the value to free (the caller holds
        the context's critical section and has seen the handle alive)."""
        cdef Context c = self.ctx
        cdef JSValue v
        self._alive = False
        if self._prev != NULL:
            (<Handle>self._prev)._next = self._next
        elif c._handles == <PyObject *>self:
            c._handles = self._next
        if self._next != NULL:
            (<Handle>self._next)._prev = self._prev
        self._prev = NULL
        self._next = NULL
        _live_handles_dec()
        v = self.value
        self.value = JS_UNDEFINED
        return v

    cdef int _check(self) except -1:
        if not self._alive:
            raise ClosedError("the handle is disposed (or its context closed)")
        return 0

    # -- lifetime -------------------------------------------------------------

    def dispose(self):
        """Free the JS value now. Disposing twice is a no-op."""
        self._release()

    @property
    def alive(self):
        """False once disposed or once its context is closed."""
        return self._alive

    @property
    def context(self):
        """The :class:`Context` the handle belongs to."""
        return self.ctx

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._release()

    def __reduce__(self):
        raise TypeError("a qjs.Handle is a live reference into a JS runtime and cannot be "
                        "pickled; convert it with to_python() first")

    def __repr__(self):
        if not self._alive:
            return "<qjs.Handle disposed>"
        preview = _handle_preview(self)
        if preview is not None:
            return f"<qjs.Handle {preview}>"
        return f"<qjs.Handle {_typeof(self.ctx.ctx, self.value)}>"

    # -- inspection -----------------------------------------------------------

    @property
    def typeof(self):
        """The JS ``typeof`` of the value."""
        self._check()
        return _typeof(self.ctx.ctx, self.value)

    def to_python(self):
        """The value converted as ``eval`` results are."""
        cdef qjs_entry e
        cdef Context c = self.ctx
        cdef JSValue v
        self._check()
        c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
        try:
            self._check()
            # our own reference: a getter may dispose this handle (or close the
            # context) while the value is converted
            v = JS_DupValue(c.ctx, self.value)
            try:
                return _convert(c, c.ctx, v)
            finally:
                JS_FreeValue(c.ctx, v)
        finally:
            c.runtime._leave(&e)

    # -- properties -----------------------------------------------------------

    def get_handle(self, key):
        """``value[key]`` as a Handle."""
        cdef qjs_entry e
        cdef Context c = self.ctx
        cdef JSAtom atom
        cdef JSValue v
        self._check()
        c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
        try:
            self._check()
            atom = _key_atom(c, c.ctx, key)
            v = _get_property(c.ctx, self.value, atom)
            JS_FreeAtom(c.ctx, atom)
            if JS_IsException(v):
                raise c._js_error(c.ctx)
            return c._handle(v)
        finally:
            c.runtime._leave(&e)

    def __getitem__(self, key):
        cdef qjs_entry e
        cdef Context c = self.ctx
        cdef JSAtom atom
        cdef JSValue v
        self._check()
        c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
        try:
            self._check()
            atom = _key_atom(c, c.ctx, key)
            v = _get_property(c.ctx, self.value, atom)
            JS_FreeAtom(c.ctx, atom)
            return c._run_result(c.ctx, v)
        finally:
            c.runtime._leave(&e)

    def __setitem__(self, key, value):
        cdef qjs_entry e
        cdef Context c = self.ctx
        cdef JSAtom atom
        cdef JSValue v, obj
        cdef int r
        self._check()
        c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
        try:
            self._check()
            atom = _key_atom(c, c.ctx, key)
            try:
                if callable(value) and not isinstance(value, Handle) and isinstance(key, str):
                    v = c._host_function(c.ctx, value, key, 0)
                else:
                    v = _to_js(c, c.ctx, value)
                obj = JS_DupValue(c.ctx, self.value)  # a setter may dispose the handle
                r = JS_SetProperty(c.ctx, obj, atom, v)
                JS_FreeValue(c.ctx, obj)
            finally:
                JS_FreeAtom(c.ctx, atom)
            if r < 0:
                raise c._js_error(c.ctx)
            if r == 0:
                raise TypeError(f"cannot set property {key!r}")
        finally:
            c.runtime._leave(&e)

    def __delitem__(self, key):
        cdef qjs_entry e
        cdef Context c = self.ctx
        cdef JSAtom atom
        cdef JSValue obj
        cdef int r
        self._check()
        c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
        try:
            self._check()
            atom = _key_atom(c, c.ctx, key)
            obj = JS_DupValue(c.ctx, self.value)  # a Proxy trap may dispose the handle
            r = JS_DeleteProperty(c.ctx, obj, atom, JS_PROP_THROW)
            JS_FreeValue(c.ctx, obj)
            JS_FreeAtom(c.ctx, atom)
            if r < 0:
                raise c._js_error(c.ctx)
        finally:
            c.runtime._leave(&e)

    def __contains__(self, key):
        cdef qjs_entry e
        cdef Context c = self.ctx
        cdef JSAtom atom
        cdef JSValue obj
        cdef int r
        self._check()
        if not JS_IsObject(self.value):
            raise TypeError(f"'in' needs a JS object, not a {self.typeof}")
        c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
        try:
            self._check()
            atom = _key_atom(c, c.ctx, key)
            obj = JS_DupValue(c.ctx, self.value)  # a Proxy trap may dispose the handle
            r = JS_HasProperty(c.ctx, obj, atom)
            JS_FreeValue(c.ctx, obj)
            JS_FreeAtom(c.ctx, atom)
            if r < 0:
                raise c._js_error(c.ctx)
            return r == 1
        finally:
            c.runtime._leave(&e)

    def keys(self):
        """The own enumerable string keys, as ``Object.keys`` gives them."""
        cdef qjs_entry e
        cdef Context c = self.ctx
        cdef JSPropertyEnum *tab = NULL
        cdef uint32_t length = 0, i
        cdef JSValue obj
        cdef int r
        self._check()
        if not JS_IsObject(self.value):
            return []
        c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
        try:
            self._check()
            obj = JS_DupValue(c.ctx, self.value)  # a Proxy trap may dispose the handle
            r = JS_GetOwnPropertyNames(c.ctx, &tab, &length, obj,
                                       JS_GPN_STRING_MASK | JS_GPN_ENUM_ONLY)
            JS_FreeValue(c.ctx, obj)
            if r < 0:
                raise c._js_error(c.ctx)
            try:
                return [qjs_atom_str(c.ctx, c.runtime.q, tab[i].atom) for i in range(length)]
            finally:
                JS_FreePropertyEnum(c.ctx, tab, length)
        finally:
            c.runtime._leave(&e)

    # -- calls ----------------------------------------------------------------

    def __call__(self, *args):
        return self._call(JS_UNDEFINED, args, False)

    def call(self, *args, this=None):
        """Call with an explicit ``this`` (a Handle or any convertible value)."""
        return self._call_this(this, args, False)

    def call_handle(self, *args, this=None):
        """Like :meth:`call`, returning the result as a Handle."""
        return self._call_this(this, args, True)

    def call_method(self, name, *args):
        """``value[name](...args)`` with ``this`` = the value."""
        cdef qjs_entry e
        cdef Context c = self.ctx
        cdef JSAtom atom
        cdef JSValue f, obj
        self._check()
        c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
        try:
            self._check()
            atom = _key_atom(c, c.ctx, name)
            obj = JS_DupValue(c.ctx, self.value)  # a getter may dispose the handle
            f = JS_GetProperty(c.ctx, obj, atom)
            JS_FreeAtom(c.ctx, atom)
            if JS_IsException(f):
                JS_FreeValue(c.ctx, obj)
                raise c._js_error(c.ctx)
            try:
                return _call_value(c, f, obj, args, False)
            finally:
                JS_FreeValue(c.ctx, f)
                JS_FreeValue(c.ctx, obj)
        finally:
            c.runtime._leave(&e)

    cdef object _call_this(self, object this, tuple args, bint as_handle):
        cdef qjs_entry e
        cdef Context c = self.ctx
        cdef JSValue t
        self._check()
        c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
        try:
            self._check()
            t = JS_UNDEFINED if this is None else _to_js(c, c.ctx, this)
            try:
                return _call_value(c, self.value, t, args, as_handle)
            finally:
                JS_FreeValue(c.ctx, t)
        finally:
            c.runtime._leave(&e)

    cdef object _call(self, JSValueConst this, tuple args, bint as_handle):
        cdef qjs_entry e
        cdef Context c = self.ctx
        self._check()
        c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
        try:
            self._check()
            return _call_value(c, self.value, this, args, as_handle)
        finally:
            c.runtime._leave(&e)


    # -- promises ---------------------------------------------------------------

    def __await__(self):
        """``await handle``: await a JS promise (or thenable) and return its value."""
        cdef Context c = self.ctx
        self._check()
        return _await_promise(c, _as_promise(c, self), c._entry_timeout(_DEFAULT)).__await__()

    # -- generators and iterators ---------------------------------------------

    def resume(self, value=None, *, mode="next", timeout=_DEFAULT):
        """One step of a JS generator or iterator: ``(done, value)``.

        ``mode`` is ``"next"``, ``"throw"`` (``value`` is thrown into the
        generator; a Python exception becomes a JS Error) or ``"return"``. On the
        last step ``value`` is the generator's return value. ``timeout`` bounds
        this step (default: the context's).
        """
        return _step(self, value, _resume_mode(mode), timeout)

    def resume_async(self, value=None, *, mode="next", timeout=_DEFAULT):
        """One step of a JS async generator or async iterator: awaitable ``(done, value)``.
        Its awaits, host coroutines included, run on the running asyncio loop;
        ``timeout`` bounds the whole step (default: the context's)."""
        return _async_step(self, value, _resume_mode(mode), timeout)

    def __iter__(self):
        if _is_iterator(self, False):
            return self
        return _get_iterator(self, False)

    def __next__(self):
        done, value = _step(self, None, QJS_RESUME_NEXT)
        if done:
            raise StopIteration(value)
        return value

    def send(self, value, *, timeout=_DEFAULT):
        """Like ``generator.send``: resume with ``value``."""
        done, result = _step(self, value, QJS_RESUME_NEXT, timeout)
        if done:
            raise StopIteration(result)
        return result

    def throw(self, typ, val=None, tb=None, *, timeout=_DEFAULT):
        """Like ``generator.throw``: throw into the generator (as a JS Error)."""
        done, result = _step(self, _make_exception(typ, val), QJS_RESUME_THROW, timeout)
        if done:
            raise StopIteration(result)
        return result

    def close(self, *, timeout=_DEFAULT):
        """Like ``generator.close``: run the generator's ``finally`` blocks."""
        _step(self, None, QJS_RESUME_RETURN, timeout)

    def __aiter__(self):
        if _is_iterator(self, True):
            return self
        return _get_iterator(self, True)

    def __anext__(self):
        return _anext(self)

    def asend(self, value, *, timeout=_DEFAULT):
        """Like ``async_generator.asend``."""
        return _asend(self, value, QJS_RESUME_NEXT, timeout)

    def athrow(self, typ, val=None, tb=None, *, timeout=_DEFAULT):
        """Like ``async_generator.athrow`` (the exception becomes a JS Error)."""
        return _asend(self, _make_exception(typ, val), QJS_RESUME_THROW, timeout)

    def aclose(self, *, timeout=_DEFAULT):
        """Like ``async_generator.aclose``."""
        return _aclose(self, timeout)


cdef object _call_value(Context c, JSValueConst f, JSValueConst this, tuple args, bint as_handle):
    """Call `f` with converted `args` (the runtime is entered)."""
    cdef Py_ssize_t n = len(args), i, done = 0
    cdef JSValue stackbuf[8]
    cdef JSValue *argv = stackbuf
    cdef JSValue r, fdup, tdup
    cdef _Conv st
    cdef JSContext *jctx = c.ctx
    if n > 8:
        if n > 65535 * 16:
            raise ValueError("too many arguments")
        argv = <JSValue *>malloc(n * sizeof(JSValue))
        if argv == NULL:
            raise MemoryError()
    # our own references for the call: converting the arguments (Python code)
    # or a host function may dispose the handles (or close the context) that
    # held them
    fdup = JS_DupValue(jctx, f)
    tdup = JS_DupValue(jctx, this)
    try:
        _conv_init(&st, c.runtime.q)
        for i in range(n):
            argv[i] = _from_py(c, jctx, args[i], &st)
            done += 1
        r = qjs_call(c.runtime.q, jctx, fdup, tdup, <int>n, argv)
    finally:
        JS_FreeValue(jctx, fdup)
        JS_FreeValue(jctx, tdup)
        for i in range(done):
            JS_FreeValue(jctx, argv[i])
        if argv != stackbuf:
            free(argv)
    if as_handle:
        if JS_IsException(r):
            raise c._js_error(jctx)
        return c._handle(r)
    return c._run_result(jctx, r)


cdef JSValue _get_property(JSContext *jctx, JSValueConst obj, JSAtom atom):
    """obj[atom] read through a reference of our own (a getter or a Proxy trap
    may dispose the handle that holds obj)."""
    cdef JSValue o = JS_DupValue(jctx, obj)
    cdef JSValue v = JS_GetProperty(jctx, o, atom)
    JS_FreeValue(jctx, o)
    return v


cdef bint _is_iterator(Handle h, bint is_async) except -1:
    """Whether the value is itself an iterator: it has `next` (and, for sync
    iteration, is not an array). A failing lookup (a revoked Proxy) raises now."""
    cdef qjs_entry e
    cdef Context c = h.ctx
    cdef JSValue obj
    cdef JSAtom atom
    cdef int r
    h._check()
    if not JS_IsObject(h.value):
        return False
    c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
    try:
        h._check()
        obj = JS_DupValue(c.ctx, h.value)
        try:
            atom = JS_NewAtomLen(c.ctx, "next", 4)
            if atom == JS_ATOM_NULL:
                raise c._js_error(c.ctx)
            r = JS_HasProperty(c.ctx, obj, atom)
            JS_FreeAtom(c.ctx, atom)
            if r < 0:
                raise c._js_error(c.ctx)
            if r == 0 or is_async:
                return r == 1
            return not JS_IsArray(obj)
        finally:
            JS_FreeValue(c.ctx, obj)
    finally:
        c.runtime._leave(&e)


cdef inline void _live_handles_dec() noexcept:
    qjs_atomic_add(&qjs_live_handles, -1)
