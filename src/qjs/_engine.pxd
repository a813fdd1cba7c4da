# The classes of qjs._engine and their fields. Ownership runs one way:
#   Handle -> Context -> Runtime   (strong references: a parent outlives its children)
# and back the other way only through borrowed pointers that the child removes
# when it dies (intrusive lists), so a parent can close what lives in it.

from cpython.object cimport PyObject
from libc.stdint cimport int64_t, uint32_t, uint64_t

from quickjs cimport *


cdef extern from "shim.h":
    enum:
        QJS_INT_NONE
        QJS_INT_TIMEOUT
        QJS_INT_HANDLER
        QJS_INT_ABORT
        QJS_INT_CLOSED

    enum:
        QJS_KIND_OTHER
        QJS_KIND_ARRAY
        QJS_KIND_PLAIN
        QJS_KIND_DATE
        QJS_KIND_ARRAY_BUFFER
        QJS_KIND_UINT8_ARRAY
        QJS_KIND_FUNCTION
        QJS_KIND_PROMISE
        QJS_KIND_ERROR

    enum:
        QJS_HOST_ASYNC
        QJS_HOST_CONSOLE

    ctypedef struct qjs_ctxstate:
        int refs
        int open
        PyObject *context
        uint64_t *dead
        size_t ndead
        int close_requested
        int capture_locals

    ctypedef struct qjs_rt:
        JSRuntime *rt
        unsigned long owner
        int depth
        double deadline
        int interrupt
        int closing
        PyObject *pyrt
        PyObject *py_handler
        size_t stack_limit
        int last_interrupt
        JSAtom atom_private
        uint64_t *dead_errors
        size_t ndead_errors
        int close_requests

    ctypedef struct qjs_hostref:
        qjs_rt *q
        qjs_ctxstate *cs
        PyObject *callable
        uint64_t id
        int flags
        int max_args

    ctypedef struct qjs_entry:
        double prev_deadline
        int outer

    ctypedef JSValue (*qjs_host_dispatch_fn)(JSContext *ctx, JSValueConst this_val, int argc,
                                             JSValueConst *argv, qjs_hostref *h) noexcept
    ctypedef int (*qjs_py_interrupt_fn)(qjs_rt *q, int what) noexcept

    ctypedef void (*qjs_rejection_fn)(qjs_rt *q, JSContext *ctx, JSValueConst promise,
                                      JSValueConst reason, int is_handled) noexcept
    ctypedef JSModuleDef *(*qjs_module_loader_fn)(JSContext *ctx, const char *name,
                                                  qjs_rt *q) noexcept
    ctypedef char *(*qjs_module_normalize_fn)(JSContext *ctx, const char *base, const char *name,
                                              qjs_rt *q) noexcept
    void qjs_set_callbacks(qjs_host_dispatch_fn host, qjs_py_interrupt_fn interrupt,
                           qjs_rejection_fn rejection, qjs_module_loader_fn loader,
                           qjs_module_normalize_fn normalize)
    void qjs_set_module_loader(qjs_rt *q, int with_normalizer)
    int qjs_snapshot_encode(JSContext *ctx, JSValueConst v, uint8_t **out, size_t *out_len,
                            const char **why, char **path)
    JSValue qjs_snapshot_decode(JSContext *ctx, const uint8_t *buf, size_t len, const char **why)
    void qjs_track_rejections(qjs_rt *q, int on)
    void qjs_set_main_thread(unsigned long ident)
    void qjs_set_memory_error(object type)

    qjs_rt *qjs_rt_new()
    void qjs_rt_close(qjs_rt *q)
    void qjs_rt_decref(qjs_rt *q)
    void qjs_rt_set_stack_limit(qjs_rt *q, size_t limit)
    double qjs_now()
    int qjs_stack_exhausted(qjs_rt *q)

    int qjs_enter(qjs_rt *q, qjs_entry *e, double timeout)
    void qjs_leave(qjs_rt *q, qjs_entry *e)
    int qjs_try_lock(qjs_rt *q)
    void qjs_unlock(qjs_rt *q)
    void qjs_free_value_any_thread(qjs_rt *q, JSValue v)
    void qjs_free_context_any_thread(qjs_rt *q, JSContext *ctx, qjs_ctxstate *cs)
    void qjs_free_context(JSContext *ctx, qjs_ctxstate *cs)
    void qjs_drain_pending(qjs_rt *q)

    JSValue qjs_eval(qjs_rt *q, JSContext *ctx, const char *src, size_t len,
                     const char *filename, int flags)
    JSValue qjs_call(qjs_rt *q, JSContext *ctx, JSValueConst f, JSValueConst this_val,
                     int argc, JSValueConst *argv)
    JSValue qjs_eval_function(qjs_rt *q, JSContext *ctx, JSValue fun)
    int qjs_execute_pending_job(qjs_rt *q, JSContext **pctx)

    JSContext *qjs_new_context(JSRuntime *rt)
    unsigned long qjs_lost_jobs(JSRuntime *rt)
    int qjs_lockdown(JSContext *ctx)
    JSValue qjs_throw_interrupted(JSContext *ctx)
    int qjs_is_uncatchable(JSValueConst v)
    JSValue qjs_throw_stack_overflow(JSContext *ctx)
    int qjs_is_stack_overflow(JSContext *ctx, JSValueConst exc)
    int qjs_is_out_of_memory(JSContext *ctx, JSValueConst exc)

    JSValue qjs_new_error_token(JSContext *ctx, qjs_rt *q, uint64_t id)
    int qjs_error_token_id(qjs_rt *q, JSValueConst token, uint64_t *id)
    JSValue qjs_iterator_result(JSContext *ctx, JSValue value, int done)

    qjs_ctxstate *qjs_ctxstate_new(PyObject *context)
    void qjs_ctxstate_close(qjs_ctxstate *cs)
    JSValue qjs_new_host_function(JSContext *ctx, qjs_rt *q, qjs_ctxstate *cs,
                                  PyObject *callable, const char *name, int length, int max_args,
                                  int flags, uint64_t id)

    int qjs_classify(JSContext *ctx, JSValueConst v)
    object qjs_string_to_py(JSContext *ctx, JSValueConst v)
    size_t qjs_string_size(JSValueConst v)
    object qjs_atom_str(JSContext *ctx, qjs_rt *q, JSAtom atom)
    int qjs_plain_fast(JSContext *ctx, JSValueConst obj, JSAtom *atoms, JSValue *values,
                       uint32_t cap)
    JSValue qjs_string_from_py(JSContext *ctx, object s)
    object qjs_bigint_to_py(JSContext *ctx, JSValueConst v)
    JSValue qjs_bigint_from_py(JSContext *ctx, object n)
    int qjs_date_value(JSContext *ctx, JSValueConst v, double *ms)
    int qjs_fast_array(JSValueConst v, JSValue **values, uint32_t *count)
    int qjs_array_length(JSContext *ctx, JSValueConst v, int64_t *len)

    JSValue qjs_resume(qjs_rt *q, JSContext *ctx, JSValueConst gen, int mode, JSValueConst arg,
                       int *pdone)
    JSValue qjs_get_iterator(qjs_rt *q, JSContext *ctx, JSValueConst obj, int is_async)
    int qjs_step_result(JSContext *ctx, JSValue res, JSValue *value)
    enum:
        QJS_RESUME_NEXT
        QJS_RESUME_THROW
        QJS_RESUME_RETURN

    Py_ssize_t qjs_live_runtimes, qjs_live_contexts, qjs_live_handles
    Py_ssize_t qjs_atomic_add(Py_ssize_t *p, Py_ssize_t d) nogil
    void qjs_wait_unlocked(qjs_rt *q)

    int qjs_frames_init(JSContext *ctx, qjs_rt *q)
    JSValue qjs_capture_of(JSContext *ctx, qjs_rt *q, JSValueConst exc)
    JSValue qjs_capture_now(JSContext *ctx, qjs_rt *q)
    object qjs_capture_info(JSContext *ctx, qjs_rt *q, JSValueConst cap)
    int qjs_capture_local(qjs_rt *q, JSValueConst cap, int f, int i, JSAtom *name, JSValue *val)
    JSValueConst qjs_pending_exception(JSContext *ctx)
    ctypedef int (*qjs_py_line_fn)(qjs_rt *q, JSContext *ctx, JSAtom filename, int line) noexcept
    void qjs_set_line_callback(qjs_py_line_fn fn)
    void qjs_set_line_hook(qjs_rt *q, int on)


cdef class Runtime:
    cdef qjs_rt *q                      # C state; NULL once closed
    cdef object __weakref__
    cdef object _interrupt_handler      # Python callable or None (q.py_handler borrows it)
    cdef object _abort                  # BaseException to re-raise when JS was aborted
    cdef double _timeout                # default timeout of every entry, < 0: none
    cdef object _memory_limit           # int or None
    cdef object _stack_limit            # int or None
    cdef PyObject *_contexts            # first open Context (borrowed; they unlink themselves)
    cdef list _deferred                 # Contexts closed while JS ran: freed at the outermost exit
    cdef dict _py_errors                # error id -> Python exception raised by a host function,
                                        # kept while the JS error carrying its token lives
    cdef uint64_t _next_error
    cdef bint _closing                  # close() called from inside JS: finish at the outermost exit
    cdef dict _tasks                    # in-flight host coroutines: Task -> _HostCall
    cdef dict _rejections               # promise address -> (context, reason Handle), not yet handled
    cdef Py_ssize_t _rejections_dropped # rejections beyond the cap, reported as a count
    cdef object _module_loader          # callable(name) -> source str, or None: imports fail
    cdef object _module_normalizer      # callable(base, name) -> name, or None: the engine's
    cdef qjs_rt *_q_mem                 # the C state's memory, freed at dealloc, not at close:
                                        # another thread may still hold q (free-threaded builds)
    cdef int _turns                     # open turn deadlines (ctx.deadline) on this runtime
    cdef list _turn_charged             # the Deadlines the current outermost entry charges
    cdef object _line_hook              # callable(filename, line) or None

    cdef int _check(self) except -1
    cdef int _enter(self, qjs_entry *e, double timeout) except -1
    cdef int _enter_turn(self, qjs_entry *e, double timeout) except -1
    cdef void _leave(self, qjs_entry *e)
    cdef void _close_now(self)
    cdef void _prune_errors(self)
    cdef void _free_deferred(self)


cdef class Context:
    cdef Runtime runtime
    cdef JSContext *ctx                 # NULL once freed
    cdef bint _closed                   # closed (ctx may stay valid until the outermost exit)
    cdef qjs_ctxstate *cs               # shared with this context's host functions
    cdef dict _host                     # host function id -> Python callable (the GC sees these)
    cdef uint64_t _next_id
    cdef double _timeout                # < 0: the runtime's
    cdef bint _owns_runtime
    cdef object __weakref__
    cdef PyObject *_prev                # neighbours in the runtime's list (borrowed)
    cdef PyObject *_next
    cdef PyObject *_handles             # first live Handle (borrowed; they unlink themselves)
    cdef dict _eval_cache               # (source, filename) -> slot in _compiled
    cdef JSValue _compiled[32]          # compiled global code of recent evals (owned)
    cdef list _compiled_keys            # the key held by each slot (None: empty)
    cdef int _compiled_next
    cdef JSValue _inspector            # qjs.inspect's JS function (owned), JS_UNDEFINED until used

    cdef int _check(self) except -1
    cdef double _entry_timeout(self, object timeout) except? -2
    cdef void _unlink(self)
    cdef void _close_handles(self)
    cdef void _free_js(self)
    cdef void _drop_compiled(self)
    cdef object _on_rejection           # callable(reason) or None: warn
    cdef object _js_error(self, JSContext *jctx)
    cdef object _js_error_of(self, JSContext *jctx, JSValueConst exc)
    cdef object _js_error_raw(self, JSContext *jctx)
    cdef object _run_result(self, JSContext *jctx, JSValue v)
    cdef Handle _handle(self, JSValue v)
    cdef JSValue _host_function(self, JSContext *jctx, object fn, object name, int flags) except *
    cdef void _prune_host(self)
    cdef _install_console(self, writer)
    cdef Py_ssize_t _conv_limit         # conversion budget in bytes; -1: none, -2: the default
    cdef Py_ssize_t _conversion_budget(self) except? -3
    cdef object _eval(self, object code, object filename, bint module, object timeout,
                      bint as_handle)
    cdef object _eval_module(self, bytes src, bytes fname)
    cdef object _settle_module(self, JSValue compiled, JSModuleDef *m)


cdef class Script:
    cdef void _release(self)
    cdef object _run_module(self, Context ctx)
    cdef bytes _data                    # the serialized bytecode, with the project's header
    cdef str filename
    cdef bint module
    cdef Runtime _rt                    # the runtime holding the live compiled value, if any
    cdef JSValue _value                 # compiled function (global scripts); JS_UNDEFINED if none
    cdef object _owner                  # weakref to the context (realm) _value belongs to
    cdef object __weakref__


cdef class Handle:
    cdef Context ctx
    cdef JSValue value                  # owned; JS_UNDEFINED once disposed
    cdef bint _alive
    cdef object __weakref__
    cdef PyObject *_prev                # neighbours in the context's list (borrowed)
    cdef PyObject *_next
    cdef void *_vectorcall              # Handle.__call__ by vectorcall (_vectorcall.pxi)

    cdef int _check(self) except -1
    cdef void _release(self)
    cdef JSValue _take(self) noexcept
    cdef object _call_this(self, object this, tuple args, bint as_handle)
    cdef object _call(self, JSValueConst this, tuple args, bint as_handle)
