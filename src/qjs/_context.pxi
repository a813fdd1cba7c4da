# Context: one JSContext (a realm) in a Runtime; evaluation, globals, host functions.

import functools as _functools
import weakref as _weakref

from qjs._format import write_console as _default_console


DEF _COMPILED_SLOTS = 32
DEF _COMPILED_MAX_SOURCE = 2048


cdef bint _pending_oom(JSContext *jctx):
    """Whether the pending exception is the engine running out of memory (it is
    dropped if so)."""
    cdef JSValue exc = JS_GetException(jctx)
    if qjs_is_out_of_memory(jctx, exc):
        JS_FreeValue(jctx, exc)
        return True
    JS_Throw(jctx, exc)
    return False


cdef inline bytes _utf8(str s):
    return s.encode("utf-8", "surrogatepass")


cdef const char *_utf8_view(object s, Py_ssize_t *n, list keep) except NULL:
    """UTF-8 of a str without a copy when it has one cached (lone surrogates
    need a copy: it is appended to `keep` to live as long as the caller's)."""
    cdef bytes b
    if type(s) is not str:
        if not isinstance(s, str):
            raise TypeError(f"expected str, not {type(s).__name__!r}")
    try:
        return PyUnicode_AsUTF8AndSize(s, n)
    except UnicodeEncodeError:
        b = _utf8(s)
        keep.append(b)
        n[0] = len(b)
        return <const char *>b


@cython.no_gc_clear
cdef class Context:
    """One JS realm: its own globals, in a :class:`Runtime`.

    ``Context(runtime=None, *, memory_limit=None, stack_limit=None, timeout=None,
    console=<default>)``. Without ``runtime`` the context owns a fresh runtime
    (closed with it) configured by ``memory_limit``/``stack_limit``/``timeout``;
    with one, ``timeout`` overrides the runtime's for this context.
    ``console``: by default ``console.log`` & co. write to ``sys.stdout`` /
    ``sys.stderr``; a callable receives ``(level, *args)``; ``False`` leaves
    ``console`` out. ``conversion_limit``: the most bytes of Python objects one
    conversion of a JS value may build (default: 4 x the runtime's
    ``memory_limit``, none without one; ``None``: no limit); past it,
    :class:`qjs.JSMemoryError`.
    """

    def __cinit__(self, *args, **kwargs):
        cdef int i
        self._timeout = -1
        self._host = {}
        self._eval_cache = {}
        self._compiled_keys = [None] * _COMPILED_SLOTS
        for i in range(_COMPILED_SLOTS):
            self._compiled[i] = JS_UNDEFINED
        self._inspector = JS_UNDEFINED
        self._next_id = 1
        self._conv_limit = -2

    def __init__(self, runtime=None, *, memory_limit=None, stack_limit=None, timeout=None,
                 console=_DEFAULT, conversion_limit=_DEFAULT, capture_locals=False):
        cdef qjs_entry e
        cdef Runtime rt
        cdef JSContext *jctx
        cdef JSValue sym
        if self.runtime is not None:
            raise RuntimeError("Context.__init__ called twice")
        if runtime is None:
            rt = Runtime(memory_limit=memory_limit, stack_limit=stack_limit)
            self._owns_runtime = True
        else:
            if not isinstance(runtime, Runtime):
                raise TypeError(f"runtime must be a qjs.Runtime, not {type(runtime).__name__!r}")
            if memory_limit is not None or stack_limit is not None:
                raise TypeError("memory_limit and stack_limit are set on the runtime, not on a "
                                "context that shares it")
            rt = runtime
        if console is not _DEFAULT and console is not True and console is not False \
                and not callable(console):
            raise TypeError("console must be a callable, True, or False")
        self._timeout = _seconds(timeout)
        if conversion_limit is not _DEFAULT:
            self.conversion_limit = conversion_limit
        rt._enter(&e, _UNTIMED)
        try:
            jctx = qjs_new_context(rt.q.rt)
            if jctx == NULL:
                raise JSMemoryError("could not create a JS context", name="InternalError")
            qjs_live_contexts_inc()
            self.runtime = rt
            self.ctx = jctx
            self.cs = qjs_ctxstate_new(<PyObject *>self)
            if self.cs == NULL:
                qjs_free_context(jctx, NULL)
                self.ctx = NULL
                raise MemoryError()
            JS_SetContextOpaque(jctx, self.cs)
            self.cs.capture_locals = 1 if capture_locals else 0
            # link into the runtime's list
            with cython.critical_section(rt):
                self._next = rt._contexts
                if rt._contexts != NULL:
                    (<Context>rt._contexts)._prev = <PyObject *>self
                rt._contexts = <PyObject *>self
            if rt.q.atom_private == 0:
                sym = JS_NewPrivateSymbol(jctx, "qjs.host_error")
                if JS_IsException(sym):
                    raise self._js_error(jctx)
                rt.q.atom_private = JS_ValueToAtom(jctx, sym)
                JS_FreeValue(jctx, sym)
            if qjs_frames_init(jctx, rt.q) < 0:
                raise self._js_error(jctx)
            if qjs_lockdown(jctx) < 0:
                raise self._js_error(jctx)
            if console is not False:
                writer = _default_console if console is _DEFAULT or console is True else console
                self._install_console(writer)
        except BaseException:
            if self.ctx != NULL:
                self._free_js()
            raise
        finally:
            rt._leave(&e)

    cdef _install_console(self, writer):
        cdef JSValue obj = JS_NewObject(self.ctx)
        cdef JSValue f, g
        if JS_IsException(obj):
            raise self._js_error(self.ctx)
        try:
            for level in ("log", "info", "warn", "error", "debug", "trace"):
                f = self._host_function(self.ctx, _functools.partial(writer, level), level,
                                        QJS_HOST_CONSOLE | (_HOST_FORMAT if writer is
                                                            _default_console else 0))
                JS_DefinePropertyValueStr(self.ctx, obj, _utf8(level), f,
                                          JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE)
        except BaseException:
            JS_FreeValue(self.ctx, obj)
            raise
        g = JS_GetGlobalObject(self.ctx)
        JS_DefinePropertyValueStr(self.ctx, g, "console", obj,
                                  JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE)
        JS_FreeValue(self.ctx, g)

    def __dealloc__(self):
        # No Python here. No handle is alive (each holds this context).
        cdef qjs_rt *q
        cdef int i
        if self.ctx != NULL and self.runtime is not None and self.runtime.q != NULL:
            q = self.runtime.q
            if q.closing and q.owner != _thread_ident():
                # Runtime.close() in another thread may be freeing this context
                # now (free-threaded builds): let it finish, then look again
                qjs_wait_unlocked(q)
                if self.ctx == NULL or self.runtime.q == NULL:
                    return
            for i in range(_COMPILED_SLOTS):
                qjs_free_value_any_thread(q, self._compiled[i])
                self._compiled[i] = JS_UNDEFINED
            qjs_free_value_any_thread(q, self._inspector)
            self._inspector = JS_UNDEFINED
            if self.cs != NULL:
                self.cs.open = 0
                self.cs.context = NULL
            self._unlink()
            qjs_free_context_any_thread(q, self.ctx, self.cs)
            self.ctx = NULL
            self.cs = NULL

    cdef void _unlink(self):
        cdef Runtime rt = self.runtime
        if rt is None:
            return
        with cython.critical_section(rt):
            if self._prev != NULL:
                (<Context>self._prev)._next = self._next
            elif rt._contexts == <PyObject *>self:
                rt._contexts = self._next
            if self._next != NULL:
                (<Context>self._next)._prev = self._prev
            self._prev = NULL
            self._next = NULL

    cdef void _close_handles(self):
        cdef JSValue v
        cdef bint more = True
        while more:
            # a handle is taken off the list inside the critical section its own
            # __dealloc__ waits for, so it cannot be freed under us
            v = JS_UNDEFINED
            with cython.critical_section(self):
                more = self._handles != NULL
                if more:
                    v = (<Handle>self._handles)._take()
                    if self.runtime.q != NULL and self.runtime.q.rt != NULL:
                        qjs_free_value_any_thread(self.runtime.q, v)

    cdef void _drop_compiled(self):
        """Free the cached compiled code (the runtime lock is held)."""
        cdef int i
        for i in range(_COMPILED_SLOTS):
            JS_FreeValue(self.ctx, self._compiled[i])
            self._compiled[i] = JS_UNDEFINED
            self._compiled_keys[i] = None
        self._eval_cache.clear()
        JS_FreeValue(self.ctx, self._inspector)  # compiled again when next needed
        self._inspector = JS_UNDEFINED

    cdef void _free_js(self):
        """Free the JSContext now. The runtime lock is held by this thread."""
        if self.ctx == NULL:
            return
        self._drop_compiled()
        self._close_handles()
        self._unlink()
        qjs_free_context(self.ctx, self.cs)
        self.ctx = NULL
        self.cs = NULL
        self._closed = True
        self._host.clear()

    def close(self):
        """Close the context: its handles die, its host functions are released.
        If the context owns its runtime, the runtime is closed too."""
        cdef qjs_entry e
        cdef Runtime rt = self.runtime
        cdef qjs_rt *q
        if self.ctx != NULL and not self._closed and rt is not None and rt.q != NULL:
            q = rt.q
            if q.owner == _thread_ident() and q.depth > 0:
                # From inside JS (a host function): JS may still run in this realm
                # and the code that entered it still holds self.ctx, so the
                # JSContext stays valid until the outermost exit frees it. Until
                # then the context is closed to every use and JS is stopped.
                q.interrupt = q.last_interrupt = QJS_INT_CLOSED
                self._closed = True
                self._close_handles()
                self._unlink()
                JS_SetContextOpaque(self.ctx, NULL)
                qjs_ctxstate_close(self.cs)
                self.cs = NULL
                self._host.clear()
                rt._deferred.append(self)
            elif self._owns_runtime:
                # JS running on another thread is stopped by closing the runtime
                # (which closes this context)
                rt.close()
                return
            else:
                # JS of this context running on another thread is stopped at
                # its next interrupt check; then the lock is free
                self.cs.close_requested = 1
                q.close_requests += 1
                try:
                    rt._enter(&e, _UNTIMED)
                finally:
                    if rt.q != NULL:
                        rt.q.close_requests -= 1
                    if self.cs != NULL:
                        self.cs.close_requested = 0
                try:
                    self._free_js()
                finally:
                    rt._leave(&e)
        if self._owns_runtime and rt is not None:
            rt.close()

    @property
    def closed(self):
        """True once the context is closed."""
        return self.ctx == NULL or self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<qjs.Context {'closed' if self.ctx == NULL or self._closed else 'open'}>"

    def __reduce__(self):
        raise TypeError("a qjs.Context is a live JS realm and cannot be pickled")

    cdef int _check(self) except -1:
        if self.ctx == NULL or self._closed:
            raise ClosedError("the context is closed")
        return 0

    cdef double _entry_timeout(self, object timeout) except? -2:
        if timeout is _DEFAULT:
            return self._timeout if self._timeout >= 0 else self.runtime._timeout
        return _seconds(timeout)

    @property
    def runtime(self):
        """The :class:`Runtime` this context lives in."""
        return self.runtime

    @property
    def timeout(self):
        """This context's default timeout in seconds (``None``: the runtime's)."""
        return None if self._timeout < 0 else self._timeout

    @timeout.setter
    def timeout(self, value):
        self._timeout = _seconds(value)

    @property
    def conversion_limit(self):
        """The most bytes of Python objects that converting one JS value may build
        (estimated before they are allocated; ``None``: no limit). Past it the
        conversion raises :class:`qjs.JSMemoryError`. Default: 4 x the runtime's
        ``memory_limit``, following it when it changes (no limit without one)."""
        cdef Py_ssize_t n = self._conversion_budget()
        return None if n < 0 else n

    @conversion_limit.setter
    def conversion_limit(self, value):
        if value is None:
            self._conv_limit = -1
        else:
            self._conv_limit = _size(value, "conversion_limit")

    cdef Py_ssize_t _conversion_budget(self) except? -3:
        """The budget in bytes of one JS -> Python conversion, -1: none."""
        cdef object mem
        if self._conv_limit != -2:
            return self._conv_limit
        mem = self.runtime._memory_limit if self.runtime is not None else None
        if mem is None:
            return -1
        return min(mem * 4, _sys.maxsize)

    # -- evaluation -----------------------------------------------------------

    def eval(self, code, *, filename="<eval>", module=False, timeout=_DEFAULT):
        """Evaluate ``code`` and return its completion value converted to Python.

        ``module=True`` evaluates an ES module and returns its namespace as a dict.
        ``timeout`` (seconds, ``None`` for none) defaults to the context's, then
        the runtime's.
        """
        return self._eval(code, filename, module, timeout, False)

    def eval_handle(self, code, *, filename="<eval>", timeout=_DEFAULT):
        """Like :meth:`eval`, but return the completion value as a :class:`Handle`."""
        return self._eval(code, filename, False, timeout, True)

    cdef object _eval(self, object code, object filename, bint module, object timeout,
                      bint as_handle):
        cdef qjs_entry e
        cdef JSValue v
        cdef double t = self._entry_timeout(timeout)
        cdef Runtime rt = self.runtime
        cdef Py_ssize_t n, fn
        cdef list keep = []
        cdef const char *src = _utf8_view(code, &n, keep)
        cdef const char *fname = _utf8_view(filename, &fn, keep)
        cdef JSValue fun
        cdef int slot
        self._check()
        rt._enter(&e, t)
        try:
            self._check()
            if module:
                return self._eval_module(src[:n], fname)
            if n > _COMPILED_MAX_SOURCE or type(code) is not str or type(filename) is not str:
                # the cache keys on exact str only: a subclass may hash as it likes
                v = qjs_eval(rt.q, self.ctx, src, n, fname, JS_EVAL_TYPE_GLOBAL)
            else:
                # Recent short sources keep their compiled code: running it again
                # is what JS_Eval does after compiling, minus the parsing.
                key = (code, filename)
                cached = self._eval_cache.get(key)
                if cached is not None:
                    fun = JS_DupValue(self.ctx, self._compiled[<int>cached])
                else:
                    fun = qjs_eval(rt.q, self.ctx, src, n, fname,
                                   JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY)
                    if JS_IsException(fun) and self._eval_cache and _pending_oom(self.ctx):
                        # the cache's own code may be what fills the heap: drop it
                        self._drop_compiled()
                        fun = qjs_eval(rt.q, self.ctx, src, n, fname,
                                       JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY)
                    if JS_IsException(fun):
                        raise self._js_error(self.ctx)
                    slot = self._compiled_next
                    self._compiled_next = (slot + 1) % _COMPILED_SLOTS
                    old = self._compiled_keys[slot]
                    if old is not None:
                        del self._eval_cache[old]
                    JS_FreeValue(self.ctx, self._compiled[slot])
                    self._compiled[slot] = JS_DupValue(self.ctx, fun)
                    self._compiled_keys[slot] = key
                    self._eval_cache[key] = slot
                v = qjs_eval_function(rt.q, self.ctx, fun)
            if as_handle:
                if JS_IsException(v):
                    raise self._js_error(self.ctx)
                return self._handle(v)
            return self._run_result(self.ctx, v)
        finally:
            if self.cs != NULL and self.cs.ndead:
                self._prune_host()
            rt._leave(&e)

    async def eval_async(self, code, *, filename="<eval>", module=False, timeout=_DEFAULT):
        """Evaluate ``code`` allowing top-level ``await``; a coroutine.

        Jobs and ``async def`` host functions are driven on the running asyncio
        loop until the result settles; ``timeout`` bounds the whole await. A
        completion value that is a promise or thenable is awaited too. A
        promise that can no longer settle raises :class:`qjs.DeadlockError`.
        """
        t = self._entry_timeout(timeout)
        deadline = qjs_now() + t if t >= 0 else 0.0
        lost = _lost_jobs(self.runtime)
        promise, module_ptr = self._start_async(code, filename, module, t)
        try:
            try:
                await _drive(self.runtime, promise, deadline, lost)
            except BaseException:
                await _reap(_cancel_host_calls(self))
                raise
            if module:
                _promise_outcome(self, promise)
                return self._module_namespace(module_ptr)
            result = _promise_handle_outcome(self, promise)
            try:
                return _async_completion(self, result)
            finally:
                result._release()
        finally:
            (<Handle>promise)._release()

    def _start_async(self, code, filename, module, double t):
        cdef qjs_entry e
        cdef JSValue v, compiled
        cdef size_t m = 0
        cdef Runtime rt = self.runtime
        cdef bytes src = _utf8(code)
        cdef bytes fname = _utf8(filename)
        self._check()
        rt._enter(&e, t)
        try:
            self._check()
            if module:
                compiled = qjs_eval(rt.q, self.ctx, src, len(src), fname,
                                    JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY)
                if JS_IsException(compiled):
                    raise self._js_error(self.ctx)
                m = <size_t>JS_VALUE_GET_PTR(compiled)
                v = qjs_eval_function(rt.q, self.ctx, compiled)
            else:
                v = qjs_eval(rt.q, self.ctx, src, len(src), fname,
                             JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_ASYNC)
                if not JS_IsException(v):
                    # a promise or thenable completion value is awaited too
                    v = _await_completion(self.ctx, v)
            if JS_IsException(v):
                raise self._js_error(self.ctx)
            return _as_promise(self, self._handle(v)), m
        finally:
            rt._leave(&e)

    def _module_namespace(self, size_t m):
        cdef qjs_entry e
        cdef JSValue ns
        self._check()
        self.runtime._enter(&e, self._entry_timeout(_DEFAULT))
        try:
            ns = JS_GetModuleNamespace(self.ctx, <JSModuleDef *>m)
            if JS_IsException(ns):
                raise self._js_error(self.ctx)
            try:
                return _namespace_to_dict(self, self.ctx, ns)
            finally:
                JS_FreeValue(self.ctx, ns)
        finally:
            self.runtime._leave(&e)

    @property
    def on_unhandled_rejection(self):
        """Called with the reason of each promise rejected and left unhandled after
        a job run; ``None`` (the default) emits ``qjs.UnhandledRejectionWarning``."""
        return self._on_rejection

    @on_unhandled_rejection.setter
    def on_unhandled_rejection(self, handler):
        if handler is not None and not callable(handler):
            raise TypeError("on_unhandled_rejection must be callable or None")
        self._on_rejection = handler

    cdef object _eval_module(self, bytes src, bytes fname):
        """With the runtime entered: evaluate a module, settle its evaluation
        promise synchronously, return its namespace."""
        cdef Runtime rt = self.runtime
        cdef JSValue compiled
        compiled = qjs_eval(rt.q, self.ctx, src, len(src), fname,
                            JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY)
        if JS_IsException(compiled):
            raise self._js_error(self.ctx)
        return self._settle_module(compiled, <JSModuleDef *>JS_VALUE_GET_PTR(compiled))

    cdef object _settle_module(self, JSValue compiled, JSModuleDef *m):
        """Evaluate a compiled module (consumed), run jobs until its promise
        settles, return its namespace as a dict."""
        cdef Runtime rt = self.runtime
        cdef JSValue promise, ns
        cdef JSContext *pctx
        cdef int r
        cdef unsigned long lost = qjs_lost_jobs(rt.q.rt)
        promise = qjs_eval_function(rt.q, self.ctx, compiled)
        if JS_IsException(promise):
            raise self._js_error(self.ctx)
        try:
            while JS_PromiseState(self.ctx, promise) == JS_PROMISE_PENDING \
                    and JS_IsJobPending(rt.q.rt):
                r = qjs_execute_pending_job(rt.q, &pctx)
                if r < 0:
                    err = _job_error(rt, pctx)
                    if err is not None:
                        raise err
            state = JS_PromiseState(self.ctx, promise)
            if state == JS_PROMISE_REJECTED:
                JS_PromiseMarkAsHandled(self.ctx, promise)
                JS_Throw(self.ctx, JS_PromiseResult(self.ctx, promise))
                raise self._js_error(self.ctx)
            if state == JS_PROMISE_PENDING:
                if qjs_lost_jobs(rt.q.rt) != lost:
                    raise _lost_job_error()
                raise DeadlockError("the module awaits something that cannot settle "
                                    "synchronously; use eval_async")
        finally:
            JS_FreeValue(self.ctx, promise)
        ns = JS_GetModuleNamespace(self.ctx, m)
        if JS_IsException(ns):
            raise self._js_error(self.ctx)
        try:
            return _namespace_to_dict(self, self.ctx, ns)
        finally:
            JS_FreeValue(self.ctx, ns)

    # -- modules, scripts, snapshots -----------------------------------------------

    def add_module(self, name, source):
        """Register an ES module under ``name`` so that ``import ... from name``
        finds it without asking the loader. It is compiled now (syntax errors
        raise here) and evaluated when first imported."""
        cdef qjs_entry e
        cdef JSValue v
        cdef Runtime rt = self.runtime
        cdef bytes src = _utf8(source)
        cdef bytes fname = _utf8(name)
        self._check()
        rt._enter(&e, self._entry_timeout(_DEFAULT))
        try:
            self._check()
            v = qjs_eval(rt.q, self.ctx, src, len(src), fname,
                         JS_EVAL_TYPE_MODULE | JS_EVAL_FLAG_COMPILE_ONLY)
            if JS_IsException(v):
                raise self._js_error(self.ctx)
            JS_FreeValue(self.ctx, v)  # the context keeps the module by name
        finally:
            rt._leave(&e)

    def compile(self, code, *, filename="<script>", module=False):
        """Compile without running: a :class:`qjs.Script` to ``run`` many times."""
        cdef qjs_entry e
        cdef JSValue v
        cdef Runtime rt = self.runtime
        cdef bytes src = _utf8(code)
        cdef bytes fname = _utf8(filename)
        cdef Script script
        self._check()
        rt._enter(&e, self._entry_timeout(_DEFAULT))
        try:
            self._check()
            v = qjs_eval(rt.q, self.ctx, src, len(src), fname,
                         (JS_EVAL_TYPE_MODULE if module else JS_EVAL_TYPE_GLOBAL)
                         | JS_EVAL_FLAG_COMPILE_ONLY)
            if JS_IsException(v):
                raise self._js_error(self.ctx)
            try:
                payload = _write_object(self, v, JS_WRITE_OBJ_BYTECODE)
            except BaseException:
                JS_FreeValue(self.ctx, v)
                raise
            script = _new_script(_wrap(_KIND_MODULE if module else _KIND_SCRIPT, payload),
                                 bool(module))
            script.filename = str(filename)
            if module:
                JS_FreeValue(self.ctx, v)  # a module instance runs once; run() reads a fresh one
            else:
                script._value = v
                script._rt = rt
                script._owner = _weakref.ref(self)
            return script
        finally:
            rt._leave(&e)

    def dumps(self, value):
        """A snapshot of a JS value (a Handle, or anything convertible) as bytes:
        plain objects, arrays, Map, Set, Date, RegExp, Error, ArrayBuffer, typed
        arrays, DataView, BigInt, primitive wrappers and primitives, with shared
        references and cycles kept. Functions, symbols, accessors and proxies
        raise TypeError naming where they are (``value.a.b[3]``). The format is
        qjs's own (docs/snapshot-format.md), independent of the engine version."""
        cdef qjs_entry e
        cdef JSValue v
        cdef Runtime rt = self.runtime
        self._check()
        rt._enter(&e, self._entry_timeout(_DEFAULT))
        try:
            self._check()
            v = _to_js(self, self.ctx, value)
            try:
                return _snap_dump(self, v)
            finally:
                JS_FreeValue(self.ctx, v)
        finally:
            rt._leave(&e)

    def loads(self, data):
        """Restore a :meth:`dumps` snapshot in this context, as a :class:`Handle`
        (``.to_python()`` converts it). The decoder is built for untrusted data:
        malformed or hostile input raises ValueError."""
        cdef qjs_entry e
        cdef JSValue v
        cdef Runtime rt = self.runtime
        body = _snap_body(data)
        self._check()
        rt._enter(&e, self._entry_timeout(_DEFAULT))
        try:
            self._check()
            v = _snap_load(self, body)
            return self._handle(v)
        finally:
            rt._leave(&e)

    cdef object _run_result(self, JSContext *jctx, JSValue v):
        """Convert (and free) the result of a running section, or raise its exception."""
        if JS_IsException(v):
            raise self._js_error(jctx)
        if self._closed:
            JS_FreeValue(jctx, v)
            raise ClosedError("the context was closed while JS was running")
        try:
            return _convert(self, jctx, v)
        finally:
            JS_FreeValue(jctx, v)

    cdef Handle _handle(self, JSValue v):
        """A new Handle owning `v`."""
        cdef Handle h
        if self._closed:
            # closed from a host function while JS ran: no new handles
            JS_FreeValue(self.ctx, v)
            raise ClosedError("the context was closed while JS was running")
        h = Handle.__new__(Handle)
        h.ctx = self
        h.value = v
        h._alive = True
        with cython.critical_section(self):
            h._next = self._handles
            if self._handles != NULL:
                (<Handle>self._handles)._prev = <PyObject *>h
            self._handles = <PyObject *>h
        qjs_live_handles_inc()
        return h

    # -- errors ---------------------------------------------------------------

    cdef object _js_error(self, JSContext *jctx):
        """The Python exception for the pending JS exception (which is cleared),
        carrying the frames captured when the value was thrown."""
        cdef JSValue cap = JS_UNDEFINED
        if self.runtime.q != NULL and JS_HasException(jctx):
            cap = qjs_capture_of(jctx, self.runtime.q, qjs_pending_exception(jctx))
        err = self._js_error_raw(jctx)
        if JS_IsObject(cap):
            _attach_frames(self, jctx, cap, err)   # takes cap
        return err

    cdef object _js_error_raw(self, JSContext *jctx):
        """The Python exception for the pending JS exception (which is cleared)."""
        cdef Runtime rt = self.runtime
        cdef qjs_rt *q = rt.q
        cdef int why = q.interrupt if q != NULL else QJS_INT_CLOSED
        cdef JSValue exc = JS_GetException(jctx)
        if qjs_is_uncatchable(exc):
            # the stop is reported now; the same object seen again later (as the
            # reason of a promise it rejected) is an ordinary error
            JS_ClearUncatchableError(jctx, exc)
            if why == QJS_INT_NONE:
                why = q.last_interrupt if q != NULL and q.last_interrupt else QJS_INT_HANDLER
        try:
            if why == QJS_INT_ABORT or (why == QJS_INT_HANDLER and rt._abort is not None):
                err = rt._abort
                rt._abort = None
                if err is not None:
                    return err
                return InterruptedError("JS execution was aborted", name="InternalError")
            if why == QJS_INT_TIMEOUT:
                return JSTimeoutError("JS execution exceeded its time limit", name="InternalError",
                                      stack=_js_str_prop(jctx, exc, "stack") or ""
                                      if JS_IsObject(exc) else "")
            if why == QJS_INT_HANDLER:
                return InterruptedError("JS execution was interrupted by the interrupt handler",
                                        name="InternalError")
            if why == QJS_INT_CLOSED:
                return ClosedError("the context was closed while JS was running")
            err = self._js_error_of(jctx, exc)
            if q != NULL and q.interrupt != QJS_INT_NONE:
                # reading the error (a getter, a Proxy trap, toString) ran JS
                # that was stopped: report the stop, not the error
                JS_Throw(jctx, JS_DupValue(jctx, exc))
                return self._js_error(jctx)
            return err
        finally:
            JS_FreeValue(jctx, exc)

    cdef object _js_error_of(self, JSContext *jctx, JSValueConst exc):
        """The Python exception for a thrown value that is not a stop."""
        cdef Runtime rt = self.runtime
        if JS_IsObject(exc):
            pyexc = _host_exception(rt, jctx, exc)
            if pyexc is not None:
                stack = _js_str_prop(jctx, exc, "stack")
                if stack:
                    _add_note(pyexc, "JS stack:\n" + stack.rstrip())
                return pyexc
        if qjs_is_out_of_memory(jctx, exc):
            return JSMemoryError("out of memory", name="InternalError")
        if qjs_is_stack_overflow(jctx, exc):
            return JSStackOverflowError("Maximum call stack size exceeded", name="RangeError",
                                        stack=_js_str_prop(jctx, exc, "stack") or "")
        if JS_IsObject(exc) and JS_IsError(exc):
            name = _js_str_prop(jctx, exc, "name") or "Error"
            message = _js_str_prop(jctx, exc, "message") or ""
            stack = _js_str_prop(jctx, exc, "stack") or ""
            return JSError(message, name=name, stack=stack,
                           value=self._handle(JS_DupValue(jctx, exc)))
        try:
            value = _convert(self, jctx, exc)
        except Exception:
            value = None
        return JSError(_js_to_string(jctx, exc), name="", value=value)

    def stack_frames(self):
        """The JS frames that led to the running host function, innermost first
        (a list of :class:`qjs.Frame`, with locals when this context captures
        them). Outside any JS call: ``[]``."""
        self._check()
        return _stack_frames(self)

    # -- globals and host functions -------------------------------------------

    @property
    def globals(self):
        """A :class:`Handle` on the global object."""
        cdef qjs_entry e
        self._check()
        # inside an entry: another thread may be running JS in this runtime (or,
        # without the GIL, closing this context)
        self.runtime._enter(&e, _UNTIMED)
        try:
            self._check()
            return self._handle(JS_GetGlobalObject(self.ctx))
        finally:
            self.runtime._leave(&e)

    def function(self, fn=None, *, name=None):
        """Expose a Python callable as a global JS function (a decorator).

        ``@ctx.function`` uses ``fn.__name__``; ``@ctx.function(name="x")`` another
        name. ``async def`` functions return a Promise in JS. Returns ``fn``.
        """
        def register(f):
            if not callable(f):
                raise TypeError("ctx.function needs a callable")
            self._define_function(name if name is not None else f.__name__, f)
            return f
        if fn is None:
            return register
        return register(fn)

    def _define_function(self, name, fn):
        cdef qjs_entry e
        cdef JSValue f, g
        cdef int r
        cdef Runtime rt = self.runtime
        cdef bytes bname = _utf8(str(name))
        self._check()
        rt._enter(&e, _UNTIMED)
        try:
            self._check()
            f = self._host_function(self.ctx, fn, name, 0)
            g = JS_GetGlobalObject(self.ctx)
            r = JS_DefinePropertyValueStr(self.ctx, g, bname, f, JS_PROP_C_W_E)
            JS_FreeValue(self.ctx, g)
            if r < 0:
                raise self._js_error(self.ctx)
        finally:
            rt._leave(&e)

    cdef JSValue _host_function(self, JSContext *jctx, object fn, object name, int flags) except *:
        """A new JS function calling `fn`. The context's table owns `fn`."""
        cdef uint64_t ident
        cdef JSValue f
        if self.cs == NULL:
            raise ClosedError("the context is closed")
        if self.cs.ndead:
            self._prune_host()
        if name is None:
            name = getattr(fn, "__name__", None)
            if not isinstance(name, str):
                name = ""
        if flags & QJS_HOST_CONSOLE:
            length, max_args = 0, -1
        else:
            if _is_async_callable(fn):
                flags |= QJS_HOST_ASYNC
            length, max_args = _arity(fn)
        ident = self._next_id
        self._next_id += 1
        self._host[ident] = fn
        f = qjs_new_host_function(jctx, self.runtime.q, self.cs, <PyObject *>fn, _utf8(name),
                                  length, max_args, flags, ident)
        if JS_IsException(f):
            del self._host[ident]
            raise self._js_error(jctx)
        return f

    cdef void _prune_host(self):
        """Drop the table entries of host functions that JS has freed."""
        cdef size_t i
        cdef qjs_ctxstate *cs = self.cs
        for i in range(cs.ndead):
            self._host.pop(cs.dead[i], None)
        cs.ndead = 0

    # -- turns (see _turns.pxi) -------------------------------------------------

    def deadline(self, seconds):
        """A turn deadline: ``with ctx.deadline(2.0):`` bounds the wall time of
        every entry into JS inside the block together (``eval``, calls, generator
        steps, ``eval_async``/``resume_async`` including their waits for host
        coroutines). Once the sum is spent, JS is stopped and every further entry
        raises :class:`qjs.JSTimeoutError`. Each entry's own timeout still applies:
        the earlier of the two wins. Nested deadlines all apply. Also ``async with``.
        """
        return _new_deadline(self, seconds)

    async def drain(self, timeout=None):
        """Run jobs and await the host coroutines this context's code left in flight
        until none is left (a promise nothing can settle does not keep it waiting).
        On ``timeout`` (seconds for the whole drain) the host coroutines are cancelled
        and :class:`qjs.JSTimeoutError` is raised. Each run of jobs is bounded by the
        context's timeout, as any entry."""
        return await _drain(self, timeout)


cdef object _async_completion(Context c, Handle result):
    """The completion value of an async script, converted (_await_completion
    has unwrapped it from the script's {value} and awaited it)."""
    cdef qjs_entry e
    cdef JSValue v
    c.runtime._enter(&e, c._entry_timeout(_DEFAULT))
    try:
        result._check()
        # our own reference: a getter may close the context (disposing `result`)
        # while the value is converted
        v = JS_DupValue(c.ctx, result.value)
        try:
            return _convert(c, c.ctx, v)
        finally:
            JS_FreeValue(c.ctx, v)
    finally:
        c.runtime._leave(&e)


cdef object _namespace_to_dict(Context c, JSContext *jctx, JSValueConst ns):
    """A module namespace (an exotic object) as a dict of its exports."""
    cdef _Conv st
    _conv_init_py(&st, c)
    return _plain_to_py_generic(c, jctx, ns, &st)


cdef object _FunctionType = _types.FunctionType
cdef object _MethodType = _types.MethodType


cdef tuple _arity(object fn):
    """(JS .length, most positional arguments fn takes or -1) for a host function."""
    cdef int required = 0, most = 0, skip = 0
    cdef type t = type(fn)
    if t is _MethodType:
        fn = fn.__func__
        t = type(fn)
        skip = 1
    if t is _FunctionType:
        code = fn.__code__
        most = code.co_argcount - skip
        defaults = fn.__defaults__
        required = most - (len(defaults) if defaults else 0)
        if required < 0:
            required = 0
        return (min(required, 255), -1 if code.co_flags & 0x04 else max(most, 0))
    try:
        sig = _inspect.signature(fn)
    except (TypeError, ValueError):
        return (0, -1)
    for p in sig.parameters.values():
        if p.kind == p.VAR_POSITIONAL:
            return (required, -1)
        if p.kind == p.POSITIONAL_ONLY or p.kind == p.POSITIONAL_OR_KEYWORD:
            most += 1
            if p.default is p.empty:
                required += 1
    return (min(required, 255), most)


cdef bint _is_async_callable(object fn):
    if _inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)
    return call is not None and _inspect.iscoroutinefunction(call)


cdef inline void qjs_live_handles_inc() noexcept:
    qjs_atomic_add(&qjs_live_handles, 1)


cdef inline void qjs_live_contexts_inc() noexcept:
    qjs_atomic_add(&qjs_live_contexts, 1)
