# Turn deadlines and draining: what an agent host needs around many entries.
#
# A turn is a stretch of host code (`with ctx.deadline(s):`) whose entries into
# JS share one budget of wall time. The open deadlines of a task or thread are a
# chain in a ContextVar (innermost first), so concurrent asyncio tasks and other
# threads each see their own. Two things are charged to every open deadline of
# the runtime: each outermost entry (Runtime._enter_turn, for as long as the
# runtime is held), and each wait of an async operation for the host coroutines
# JS started (_turn_wait). Overlapping charges (two tasks under one deadline)
# count once: a deadline charges wall time while at least one charge is open.
# Nothing here runs unless a deadline is open on the runtime (Runtime._turns).

import contextvars as _contextvars

cdef object _turn_var = _contextvars.ContextVar("qjs.turn_deadline", default=None)


@cython.final
cdef class Deadline:
    """A turn deadline, made by :meth:`Context.deadline`; a context manager.

    Inside ``with ctx.deadline(seconds):`` (or ``async with``) every entry into
    the context's runtime made by this thread or asyncio task, and every wait
    of ``eval_async``/``resume_async``/``await handle``/``drain`` for the host
    coroutines JS started, is charged to one budget of wall time; once it is
    spent, JS is stopped and each further entry raises :class:`qjs.JSTimeoutError`.
    """

    cdef Runtime rt
    cdef double seconds         # the budget given; < 0: none
    cdef double budget          # what is left, not counting the charge in progress
    cdef double start           # when the charge in progress began
    cdef int charging           # open charges (entries and waits) in progress
    cdef int state              # 0 made, 1 entered, 2 exited
    cdef Deadline parent        # the enclosing open deadline of the same task
    cdef object token

    def __init__(self):
        raise TypeError("deadlines are made by Context.deadline(seconds)")

    @property
    def seconds(self):
        """The budget in seconds (``None``: no limit)."""
        return None if self.seconds < 0 else self.seconds

    @property
    def remaining(self):
        """Seconds of the budget not yet spent (``None``: no limit)."""
        cdef double left
        if self.seconds < 0:
            return None
        left = self.budget
        if self.charging:
            left -= qjs_now() - self.start
        return left if left > 0 else 0.0

    @property
    def expired(self):
        """True once the budget is spent."""
        return self.seconds >= 0 and self.remaining <= 0

    def __enter__(self):
        if self.state != 0:
            raise RuntimeError("a deadline can be entered only once")
        self.rt._check()
        self.parent = _turn_var.get()
        self.token = _turn_var.set(self)
        self.state = 1
        self.rt._turns += 1
        return self

    def __exit__(self, *exc):
        if self.state != 1:
            return None
        self.state = 2
        self.rt._turns -= 1
        try:
            _turn_var.reset(self.token)
        except ValueError:
            # left in another contextvars context (a generator resumed elsewhere)
            if _turn_var.get() is self:
                _turn_var.set(self.parent)
        self.token = None
        return None

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, *exc):
        return self.__exit__(*exc)

    def __reduce__(self):
        raise TypeError("a qjs.Deadline belongs to a live runtime and cannot be pickled")

    def __repr__(self):
        if self.seconds < 0:
            return "<qjs.Deadline none>"
        return f"<qjs.Deadline {self.remaining:.3f} of {self.seconds:.3f} s left>"


cdef Deadline _new_deadline(Context c, object seconds):
    cdef Deadline d = Deadline.__new__(Deadline)
    c._check()
    d.rt = c.runtime
    d.seconds = _seconds(seconds)
    d.budget = d.seconds
    return d


cdef list _turn_charge(Runtime rt, double *end, bint refuse_spent):
    """Start a charge on every open deadline of `rt` in this task's chain: the
    list of them (None: none), and in `end` the earliest time one runs out (0:
    none). With `refuse_spent`, a spent budget raises JSTimeoutError instead."""
    cdef double now = qjs_now(), d_end, earliest = 0
    cdef Deadline d
    cdef list found = None
    o = _turn_var.get()
    while o is not None:
        d = <Deadline>o
        if d.state == 1 and d.rt is rt and d.seconds >= 0:
            d_end = (d.start if d.charging else now) + d.budget
            if earliest == 0 or d_end < earliest:
                earliest = d_end
            if found is None:
                found = []
            found.append(d)
        o = d.parent
    if found is None:
        end[0] = 0
        return None
    if refuse_spent and earliest <= now:
        raise JSTimeoutError("JS execution exceeded its turn deadline", name="InternalError")
    for o in found:
        d = <Deadline>o
        if d.charging == 0:
            d.start = now
        d.charging += 1
    end[0] = earliest
    return found


cdef void _turn_end(list charged):
    """End a charge begun by _turn_charge."""
    cdef double now = qjs_now()
    cdef Deadline d
    for o in charged:
        d = <Deadline>o
        d.charging -= 1
        if d.charging == 0:
            d.budget -= now - d.start


async def _turn_wait(Runtime rt, list tasks, object timeout):
    """Wait for the first of `tasks` to finish, charged to the open deadlines and
    no longer than the earliest of them allows."""
    cdef double end = 0
    charged = _turn_charge(rt, &end, False)
    if charged is None:
        await _asyncio.wait(tasks, timeout=timeout, return_when=_asyncio.FIRST_COMPLETED)
        return
    try:
        left = end - qjs_now()
        if left <= 0:
            return  # the next entry refuses to run
        if timeout is None or left < timeout:
            timeout = left
        await _asyncio.wait(tasks, timeout=timeout, return_when=_asyncio.FIRST_COMPLETED)
    finally:
        _turn_end(charged)


async def _turn_cancel(Context c):
    """Cancel the host coroutines of `c` after its turn ran out, and wait until
    they have unwound. The deadlines are hidden meanwhile: the entry that rejects
    their promises must not be refused."""
    token = _turn_var.set(None)
    try:
        mine = _cancel_host_calls(c)
    finally:
        _turn_var.reset(token)
    await _reap(mine)


# -- eval_async: a completion value that is a promise or thenable ------------------

cdef JSValue _completion_value(JSContext *jctx, JSValueConst this_val, int argc,
                               JSValueConst *argv) noexcept nogil:
    """The fulfilment handler of an async script's promise: its {value} unwrapped,
    so that a promise or thenable completion value is adopted (awaited)."""
    if argc < 1 or not JS_IsObject(argv[0]):
        return JS_UNDEFINED
    return JS_GetPropertyStr(jctx, argv[0], "value")


cdef JSValue _await_completion(JSContext *jctx, JSValue script_promise) noexcept:
    """The promise of an async script's completion value, awaited (consumes the
    script's promise; JS_EXCEPTION with an exception pending on failure)."""
    cdef JSValue f = JS_NewCFunction(jctx, _completion_value, "", 1)
    cdef JSValue p
    if JS_IsException(f):
        JS_FreeValue(jctx, script_promise)
        return f
    p = JS_PromiseThen(jctx, script_promise, f, JS_UNDEFINED)
    JS_FreeValue(jctx, f)
    JS_FreeValue(jctx, script_promise)
    return p


# -- drain -----------------------------------------------------------------------------

async def _drain(Context c, object timeout):
    """Run jobs and await the host coroutines of `c` until none is left."""
    cdef Runtime rt = c.runtime
    cdef double t = _seconds(timeout)
    cdef double deadline = qjs_now() + t if t >= 0 else 0
    cdef double per_entry, now, bound
    c._check()
    try:
        while True:
            # each run of jobs is an entry: bounded by the context's timeout too
            per_entry = c._entry_timeout(_DEFAULT)
            bound = deadline
            if per_entry >= 0:
                now = qjs_now()
                if bound == 0 or now + per_entry < bound:
                    bound = now + per_entry
            _pump(rt, bound)
            c._check()
            mine = [task for task, call in rt._tasks.items()
                    if (<_HostCall>call).ctx is c and not task.done()] if rt._tasks else None
            if not mine:
                if JS_IsJobPending(rt.q.rt):
                    continue
                return None
            wait = None
            if deadline > 0:
                wait = deadline - qjs_now()
                if wait <= 0:
                    raise JSTimeoutError("drain exceeded its time limit", name="InternalError")
            if rt._turns:
                await _turn_wait(rt, mine, wait)
            else:
                await _asyncio.wait(mine, timeout=wait, return_when=_asyncio.FIRST_COMPLETED)
    except BaseException:
        if not c.closed:
            await _turn_cancel(c)
        raise
