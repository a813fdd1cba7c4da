# Frames: the JS stack captured when a value is thrown (see shim.h, "frames").
#
# The capture is a JS object holding references; the frames' positions are
# read when the Python exception is made, their locals when first asked for
# (through a Handle on the capture, so closing the context frees it).

from qjs._frames import Frame


@cython.final
cdef class _FrameLocals:
    """Loads the locals of frame `index` of a capture (the Frame's loader)."""
    cdef Handle cap
    cdef int index

    def __call__(self):
        return _load_locals(self.cap, self.index)


cdef dict _load_locals(Handle h, int index):
    cdef Context c = h.ctx
    cdef Runtime rt = c.runtime
    cdef qjs_entry e
    cdef JSAtom name
    cdef JSValue val
    cdef int i = 0, r
    cdef dict out = {}
    if not h._alive or c._closed or c.ctx == NULL or rt.q == NULL:
        return out
    rt._enter(&e, -1)
    try:
        if not h._alive or c._closed or c.ctx == NULL:
            return out
        while True:
            r = qjs_capture_local(rt.q, h.value, index, i, &name, &val)
            if r < 0:
                break
            i += 1
            if r == 0:
                continue
            key = qjs_atom_str(c.ctx, rt.q, name)
            if r == 2 and key in out:
                continue  # a local shadows the closure variable of the same name
            try:
                value = _convert(c, c.ctx, val)
            except Exception:
                value = c._handle(JS_DupValue(c.ctx, val))
            out[key] = value  # of two block-scoped variables of one name, the inner wins
    finally:
        rt._leave(&e)
    return out


cdef list _frames_of(Context c, JSContext *jctx, JSValueConst cap):
    """The Frames of a capture (positions now, locals on first access)."""
    cdef _FrameLocals load
    cdef Handle holder = None
    info = qjs_capture_info(jctx, c.runtime.q, cap)
    result = []
    for i, (function, filename, line, column, has_locals) in enumerate(info):
        loader = None
        if has_locals:
            if holder is None:
                holder = c._handle(JS_DupValue(jctx, cap))
            load = _FrameLocals.__new__(_FrameLocals)
            load.cap = holder
            load.index = i
            loader = load
        result.append(Frame._lazy(function, filename, line, column, loader))
    return result


cdef void _attach_frames(Context c, JSContext *jctx, JSValue cap, object err) noexcept:
    """Give `err` the frames of `cap` (owned) unless it already has some."""
    try:
        if isinstance(err, BaseException) and getattr(err, "_qjs_frames", None) is None \
                and not isinstance(err, ClosedError):
            err._qjs_frames = _frames_of(c, jctx, cap)
    except BaseException:
        pass
    JS_FreeValue(jctx, cap)


cdef list _stack_frames(Context c):
    cdef Runtime rt = c.runtime
    cdef qjs_entry e
    cdef JSValue cap
    rt._enter(&e, -1)
    try:
        c._check()
        cap = qjs_capture_now(c.ctx, rt.q)
        if JS_IsException(cap):
            raise c._js_error_raw(c.ctx)
        if not JS_IsObject(cap):
            return []
        try:
            return _frames_of(c, c.ctx, cap)
        finally:
            JS_FreeValue(c.ctx, cap)
    finally:
        rt._leave(&e)


# -- line hook -------------------------------------------------------------------

cdef int _line_callback(qjs_rt *q, JSContext *jctx, JSAtom filename, int line) noexcept:
    """The engine reached a statement on a new line (GIL held). -1 aborts the JS."""
    cdef Runtime rt = <Runtime>q.pyrt
    try:
        fn = rt._line_hook
        if fn is not None:
            fn(qjs_atom_str(jctx, q, filename) if filename != 0 else "", line)
        return 0
    except BaseException as exc:
        # re-raised unchanged by the entry: the JS cannot catch the stop
        rt._abort = exc
        q.interrupt = q.last_interrupt = QJS_INT_ABORT
        qjs_throw_interrupted(jctx)
        return -1


qjs_set_line_callback(_line_callback)
