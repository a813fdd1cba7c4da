# Runtime: one JSRuntime, its lock, limits, deadline and interrupt policy.

from cpython.exc cimport PyErr_CheckSignals


class _Default:
    """Marker for 'use the default' where None already means 'no limit'."""

    __slots__ = ()

    def __repr__(self):
        return "<default>"


cdef object _DEFAULT = _Default()

#: The timeout of entries that run no user JS (creating and closing contexts and
#: runtimes, defining globals, gc): no limit, and turn deadlines do not refuse them.
cdef double _UNTIMED = -2.0


cdef double _seconds(object timeout) except? -2:
    """A timeout argument as C seconds: None -> -1 (no limit)."""
    if timeout is None:
        return -1
    t = float(timeout)
    if t != t or t < 0:
        raise ValueError(f"timeout must be a non-negative number of seconds or None, not {timeout!r}")
    if t == float("inf"):
        return -1
    return t


cdef size_t _size(object value, str what) except? 0:
    if value is None:
        return 0
    n = int(value)
    if n <= 0:
        raise ValueError(f"{what} must be a positive number of bytes or None, not {value!r}")
    return n


# Entering a function compiled to Python bytecode runs the interpreter's periodic
# checks: a thread that has waited for the GIL longer than the switch interval gets
# it, pending signal handlers and asynchronous exceptions run. Cython functions do
# not, so this one is made from source.
_gil_yield = eval("lambda: None")


cdef int _py_interrupt(qjs_rt *q, int what) noexcept:
    """Called by the interrupt handler with the GIL held. 1 stops JS."""
    cdef Runtime rt = <Runtime>q.pyrt
    try:
        if what == 0:
            fn = rt._interrupt_handler
            if fn is not None and fn():
                return 1
        elif what == 1:
            if PyErr_CheckSignals() < 0:
                raise  # re-raise what the signal handler raised (KeyboardInterrupt)
        else:
            _gil_yield()
    except BaseException as exc:
        rt._abort = exc
        q.interrupt = q.last_interrupt = QJS_INT_ABORT
        return 1
    return 0


@cython.no_gc_clear
cdef class Runtime:
    """One QuickJS runtime: a heap, a job queue, limits. Contexts live in it.

    ``Runtime(*, memory_limit=None, stack_limit=None, timeout=None)``: sizes in
    bytes, ``timeout`` in seconds (the default for every entry into JS), ``None``
    for no limit. A runtime is used by one thread at a time (others wait); the
    GIL is released while JS runs.
    """

    def __cinit__(self, *args, **kwargs):
        self.q = qjs_rt_new()
        if self.q == NULL:
            raise MemoryError("could not create a JS runtime")
        self.q.pyrt = <PyObject *>self
        self._q_mem = self.q
        self._timeout = -1
        self._deferred = []
        self._py_errors = {}
        self._next_error = 1
        _install_rejection_tracker(self)

    def __init__(self, *, memory_limit=None, stack_limit=None, timeout=None):
        self.memory_limit = memory_limit
        self.stack_limit = stack_limit
        self.timeout = timeout

    def __dealloc__(self):
        # every context holds this runtime, so none is left; handles neither
        cdef qjs_entry e
        if self.q != NULL:
            if qjs_try_lock(self.q) == 1:
                if self.q.atom_private:
                    JS_FreeAtomRT(self.q.rt, self.q.atom_private)
                    self.q.atom_private = 0
                qjs_rt_close(self.q)
            self.q = NULL
        if self._q_mem != NULL:
            qjs_rt_decref(self._q_mem)
            self._q_mem = NULL

    # -- entries --------------------------------------------------------------

    cdef int _enter(self, qjs_entry *e, double timeout) except -1:
        if self.q == NULL:
            raise ClosedError("the runtime is closed")
        if self._turns and timeout != _UNTIMED and not (
                self.q.owner == _thread_ident() and self.q.depth > 0):
            return self._enter_turn(e, timeout)
        if qjs_enter(self.q, e, timeout) < 0:
            raise ClosedError("the runtime was closed")
        return 0

    cdef int _enter_turn(self, qjs_entry *e, double timeout) except -1:
        """An outermost entry while turn deadlines are open (see _turns.pxi)."""
        cdef double end = 0
        if qjs_enter(self.q, e, timeout) < 0:
            raise ClosedError("the runtime was closed")
        try:
            charged = _turn_charge(self, &end, True)
        except BaseException:
            self._leave(e)
            raise
        if charged is not None:
            self._turn_charged = charged
            if end > 0 and (self.q.deadline == 0 or end < self.q.deadline):
                self.q.deadline = end
        return 0

    cdef void _leave(self, qjs_entry *e):
        cdef JSContext *jctx
        if e.outer:
            if self._turn_charged is not None:
                _turn_end(self._turn_charged)
                self._turn_charged = None
            if self._deferred:
                self._free_deferred()
            if self.q.ndead_errors:
                self._prune_errors()
            self._abort = None
            if self._closing:
                self._close_now()
                return
        qjs_leave(self.q, e)

    cdef void _free_deferred(self):
        """Free the contexts closed while JS ran (lock held, nothing running)."""
        cdef Context c
        deferred = self._deferred
        self._deferred = []
        for obj in deferred:
            c = <Context>obj
            if c.ctx != NULL:
                c._drop_compiled()
                qjs_free_context(c.ctx, NULL)
                c.ctx = NULL

    cdef void _prune_errors(self):
        """Forget the host exceptions whose JS errors were freed."""
        cdef size_t i
        cdef qjs_rt *q = self.q
        for i in range(q.ndead_errors):
            self._py_errors.pop(q.dead_errors[i], None)
        q.ndead_errors = 0

    cdef void _close_now(self):
        """Close every context and free the runtime. The lock is held by this thread."""
        cdef qjs_rt *q = self.q
        cdef PyObject *c
        while self._contexts != NULL:
            # borrowed, never a new reference: on a free-threaded build another
            # thread may be in this context's __dealloc__, waiting for the lock we hold
            c = self._contexts
            (<Context>c)._free_js()
        self._free_deferred()
        self._py_errors.clear()
        if q.atom_private:
            JS_FreeAtomRT(q.rt, q.atom_private)
            q.atom_private = 0
        q.py_handler = NULL
        self.q = NULL
        qjs_rt_close(q)   # releases the lock; the memory stays until __dealloc__
        self._interrupt_handler = None
        for task, call in list(self._tasks.items()):
            _cancel_task(task, <_HostCall>call)
        self._tasks.clear()

    # -- public ---------------------------------------------------------------

    def close(self):
        """Close the runtime and everything in it. JS running in another thread is
        stopped first. Closing twice is a no-op."""
        cdef qjs_entry e
        cdef qjs_rt *q = self.q
        cdef Context c
        if q == NULL or self._closing:
            return
        if q.owner == _thread_ident() and q.depth > 0:
            # from inside a host function: stop JS, finish at the outermost exit
            self._closing = True
            q.closing = 1
            q.interrupt = QJS_INT_CLOSED
            while self._contexts != NULL:
                c = <Context>self._contexts
                c.close()
            return
        q.closing = 1
        self._enter(&e, _UNTIMED)
        self._closing = True
        self._close_now()

    @property
    def closed(self):
        """True once the runtime is closed."""
        return self.q == NULL

    def new_context(self, **options):
        """A new :class:`Context` in this runtime (``timeout=``, ``console=``,
        ``capture_locals=``)."""
        return Context(self, **options)

    @property
    def memory_limit(self):
        """The heap limit in bytes (``None``: no limit). Hitting it raises JSMemoryError."""
        return self._memory_limit

    @memory_limit.setter
    def memory_limit(self, value):
        cdef size_t n = _size(value, "memory_limit")
        self._check()
        JS_SetMemoryLimit(self.q.rt, n)
        self._memory_limit = None if n == 0 else n

    @property
    def stack_limit(self):
        """The JS stack budget in bytes (``None``: what the calling thread's stack allows).
        It is always capped by the real stack of the thread that enters JS."""
        return self._stack_limit

    @stack_limit.setter
    def stack_limit(self, value):
        cdef size_t n = _size(value, "stack_limit")
        self._check()
        qjs_rt_set_stack_limit(self.q, n)
        self._stack_limit = None if n == 0 else n

    @property
    def timeout(self):
        """Default wall-clock limit in seconds for every entry into JS (``None``: none)."""
        return None if self._timeout < 0 else self._timeout

    @timeout.setter
    def timeout(self, value):
        self._timeout = _seconds(value)

    def set_interrupt_handler(self, handler):
        """``handler()`` is called about every millisecond while JS runs; a truthy
        result stops JS with :class:`qjs.InterruptedError`. ``None`` removes it."""
        if handler is not None and not callable(handler):
            raise TypeError("the interrupt handler must be callable or None")
        self._check()
        self._interrupt_handler = handler
        self.q.py_handler = <PyObject *>handler if handler is not None else NULL

    def set_line_hook(self, hook):
        """``hook(filename, line)`` is called each time a JS frame starts a statement
        on a line other than the last one it reported. It sees code compiled while
        a hook is set (``eval`` recompiles; a :class:`Script` compiled before does
        not report). An exception from it stops the JS (which cannot catch it) and
        is re-raised by the call into JS. ``None`` removes it; with no hook, code
        runs as fast as if there never was one."""
        cdef qjs_entry e
        cdef Context c
        cdef PyObject *p
        if hook is not None and not callable(hook):
            raise TypeError("the line hook must be callable or None")
        self._check()
        self._enter(&e, -1)
        try:
            self._line_hook = hook
            qjs_set_line_hook(self.q, hook is not None)
            # evals cached before were compiled the other way
            p = self._contexts
            while p != NULL:
                c = <Context>p
                if c.ctx != NULL:
                    c._drop_compiled()
                p = c._next
        finally:
            self._leave(&e)

    def set_module_loader(self, loader, normalizer=None):
        """Decide what ``import`` may reach.

        ``loader(name) -> str`` returns a module's source (``None``: not found);
        ``normalizer(base, name) -> str`` turns an import specifier into a module
        name (default: the engine's, which resolves ``./`` and ``../`` against
        the importing module's name). ``loader=None``: every ``import`` and
        ``import()`` fails with a clear error (the default).
        """
        if loader is not None and not callable(loader):
            raise TypeError("the module loader must be callable or None")
        if normalizer is not None and not callable(normalizer):
            raise TypeError("the module normalizer must be callable or None")
        self._check()
        self._module_loader = loader
        self._module_normalizer = normalizer
        qjs_set_module_loader(self.q, normalizer is not None)

    def gc(self):
        """Run the JS cycle collector."""
        cdef qjs_entry e
        self._enter(&e, _UNTIMED)
        try:
            JS_RunGC(self.q.rt)
        finally:
            self._leave(&e)

    def memory_usage(self):
        """The engine's accounting (``JS_ComputeMemoryUsage``) as a dict of ints."""
        cdef qjs_entry e
        cdef JSMemoryUsage u
        self._enter(&e, _UNTIMED)
        try:
            JS_ComputeMemoryUsage(self.q.rt, &u)
        finally:
            self._leave(&e)
        return u

    @property
    def has_pending_jobs(self):
        """True if promise jobs are waiting to run."""
        self._check()
        return bool(JS_IsJobPending(self.q.rt))

    def run_jobs(self, max_jobs=None):
        """Run pending promise jobs (all, or at most ``max_jobs``); returns how many ran.
        The runtime's timeout bounds the whole call."""
        cdef qjs_entry e
        cdef JSContext *pctx = NULL
        cdef int r
        cdef Py_ssize_t limit = -1 if max_jobs is None else max_jobs
        cdef Py_ssize_t ran = 0
        self._enter(&e, self._timeout)
        try:
            while limit < 0 or ran < limit:
                r = qjs_execute_pending_job(self.q, &pctx)
                if r == 0:
                    break
                ran += 1
                if r < 0:
                    err = _job_error(self, pctx)
                    if err is not None:
                        raise err
        finally:
            self._leave(&e)
            if self._rejections or self._rejections_dropped:
                _report_rejections(self)
        return ran

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<qjs.Runtime {'closed' if self.q == NULL else 'open'}>"

    def __reduce__(self):
        raise TypeError("a qjs.Runtime cannot be pickled")

    cdef int _check(self) except -1:
        if self.q == NULL:
            raise ClosedError("the runtime is closed")
        return 0


cdef object _job_error(Runtime rt, JSContext *pctx):
    """The exception of a failed promise job, or None for a stale stop: an
    interrupt error that rejected a promise earlier and is rethrown now."""
    cdef qjs_ctxstate *cs = <qjs_ctxstate *>JS_GetContextOpaque(pctx)
    cdef JSValue exc
    if rt.q.interrupt == QJS_INT_NONE:
        exc = JS_GetException(pctx)
        if qjs_is_uncatchable(exc):
            JS_ClearUncatchableError(pctx, exc)
            JS_FreeValue(pctx, exc)
            return None
        JS_Throw(pctx, exc)
    if cs != NULL and cs.open:
        return (<Context>cs.context)._js_error(pctx)
    JS_FreeValue(pctx, JS_GetException(pctx))
    return JSError("a promise job of a closed context failed")


cdef unsigned long _thread_ident() noexcept:
    return PyThread_get_thread_ident()


cdef extern from "pythread.h":
    unsigned long PyThread_get_thread_ident() nogil
