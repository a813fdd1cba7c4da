/*
 * The C half of qjs._engine: the few things Cython cannot express well.
 *
 * Implemented in csrc/qjs_engine.c, which compiles the vendored quickjs.c in the
 * same translation unit so the hot conversions can read engine internals.
 * Everything here is prefixed qjs_.
 */
#ifndef QJS_SHIM_H
#define QJS_SHIM_H

#include <Python.h>
#include <pythread.h>
#include "quickjs.h"

/* Atomic adds for the counters and reference counts that threads touch without a
 * common lock (the live-object counters, qjs_rt.refs): with the GIL they were
 * serialized by it, on a free-threaded build they are not. Returns the new value. */
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static inline Py_ssize_t qjs_atomic_add(Py_ssize_t *p, Py_ssize_t d)
{
#if defined(_WIN64)
    return (Py_ssize_t)_InterlockedExchangeAdd64((volatile __int64 *)p, (__int64)d) + d;
#else
    return (Py_ssize_t)_InterlockedExchangeAdd((volatile long *)p, (long)d) + d;
#endif
}
static inline int qjs_atomic_add_int(int *p, int d)
{
    return (int)_InterlockedExchangeAdd((volatile long *)p, (long)d) + d;
}
#else
static inline Py_ssize_t qjs_atomic_add(Py_ssize_t *p, Py_ssize_t d)
{
    return __atomic_add_fetch(p, d, __ATOMIC_SEQ_CST);
}
static inline int qjs_atomic_add_int(int *p, int d)
{
    return __atomic_add_fetch(p, d, __ATOMIC_SEQ_CST);
}
#endif

/* Why JS was stopped. Sticky until the outermost entry leaves. */
enum {
    QJS_INT_NONE = 0,
    QJS_INT_TIMEOUT = 1,   /* the wall-clock deadline passed */
    QJS_INT_HANDLER = 2,   /* the Python interrupt handler returned true */
    QJS_INT_ABORT = 3,     /* a BaseException (KeyboardInterrupt, SystemExit, ...) from the host */
    QJS_INT_CLOSED = 4,    /* the context or runtime was closed while JS ran */
};

/* What a JS value is, for the JS -> Python conversion. */
enum {
    QJS_KIND_OTHER = 0,    /* becomes a Handle */
    QJS_KIND_ARRAY = 1,
    QJS_KIND_PLAIN = 2,    /* prototype Object.prototype or null, no exotic behaviour */
    QJS_KIND_DATE = 3,
    QJS_KIND_ARRAY_BUFFER = 4,
    QJS_KIND_UINT8_ARRAY = 5,
    QJS_KIND_FUNCTION = 6,
    QJS_KIND_PROMISE = 7,
    QJS_KIND_ERROR = 8,
};

/* Flags of a host function. */
enum {
    QJS_HOST_ASYNC = 1,    /* returns a Promise; the Python result is awaited */
    QJS_HOST_CONSOLE = 2,  /* console method: first argument is the level */
};

/* Per-context C state shared with the host functions created in it. Reference
 * counted: host functions may outlive the context object (a JS function can be
 * kept by another context of the runtime). Only touched under the runtime lock. */
typedef struct qjs_ctxstate {
    int refs;
    int open;                 /* 0 once the context is closed */
    PyObject *context;        /* borrowed qjs.Context; valid while open */
    uint64_t *dead;           /* ids of host functions JS has freed */
    size_t ndead, capdead;
    volatile int close_requested; /* another thread waits to close it: stop its JS */
    int capture_locals;       /* errors thrown in this context's functions keep their locals */
} qjs_ctxstate;

/* The opaque of one host function (a JS C closure). */
typedef struct qjs_hostref {
    struct qjs_rt *q;
    qjs_ctxstate *cs;         /* the context that created it (one reference) */
    PyObject *callable;       /* borrowed: owned by the context's host table */
    uint64_t id;              /* key in that table */
    int flags;                /* QJS_HOST_* */
    int max_args;             /* arguments beyond this are dropped, like JS does; -1: all */
} qjs_hostref;

/* A direct-mapped cache of property-name strings: keys come back to Python as
   the same str objects, hashes already computed. Each slot holds its atom. */
#define QJS_ATOM_CACHE 256
typedef struct qjs_atom_slot {
    JSAtom atom;
    PyObject *str;
} qjs_atom_slot;

/* Per-runtime state: serialisation, deadline, interrupt, lazy GIL release. */
typedef struct qjs_rt {
    JSRuntime *rt;
    struct qjs_mutex *lock;   /* held by the thread using the runtime */
    unsigned long owner;      /* ident of that thread, 0 if none */
    int depth;                /* nested entries by the owner */
    double deadline;          /* CLOCK_MONOTONIC seconds, 0: none */
    volatile int interrupt;   /* QJS_INT_* */
    int may_release;          /* inside a running section: the GIL may be dropped */
    PyThreadState *released;  /* set while the GIL is dropped inside JS */
    int py_ran;               /* Python ran since the last interrupt check */
    PyObject *pyrt;           /* borrowed: the qjs.Runtime that owns this state */
    PyObject *py_handler;     /* borrowed: owned by the Runtime object */
    double handler_next;      /* when the Python handler is due next */
    double signals_next;      /* when to look at pending signals next (main thread) */
    size_t stack_limit;       /* requested JS stack budget in bytes, 0: default */
    uintptr_t stack_low;      /* the stack bounds of the thread that entered last */
    uintptr_t stack_high;
    size_t stack_effective;   /* what the current entry uses */
    int refs;                 /* the Runtime object + threads waiting in qjs_enter */
    volatile int closing;     /* close() was called: stop running JS, refuse new entries */
    /* frees requested by other threads while this runtime was busy */
    struct qjs_mutex *pending_lock;
    JSValue *pending;
    size_t npending, cappending;
    struct qjs_pending_ctx *pending_ctx;
    size_t npending_ctx, cappending_ctx;
    int last_interrupt;       /* the reason of the most recent stop (for stale stop errors) */
    JSAtom atom_private;      /* private symbol tagging errors from host exceptions */
    JSClassID token_class;    /* class of the tokens naming a host exception by id */
    uint64_t *dead_errors;    /* ids of host exceptions whose JS error was freed */
    size_t ndead_errors, capdead_errors;
    qjs_atom_slot atom_cache[QJS_ATOM_CACHE];
    volatile int close_requests;  /* contexts with close_requested set */
    /* frames captured when a value is thrown (see qjs_frames_init) */
    JSClassID capture_class;  /* class of the objects holding one capture */
    JSAtom atom_frames;       /* private symbol: the capture attached to a thrown object */
    JSValue last_thrown;      /* a thrown value a capture could not be attached to... */
    JSValue last_capture;     /* ...and its capture; both freed at the outermost exit */
} qjs_rt;

/* A context whose free was requested while another thread used the runtime. */
typedef struct qjs_pending_ctx {
    JSContext *ctx;
    qjs_ctxstate *cs;
} qjs_pending_ctx;

/* One entry into the runtime from Python, on the C stack of the caller. */
typedef struct qjs_entry {
    double prev_deadline;
    int prev_may_release;
    int prev_interrupt;
    int outer;
} qjs_entry;

typedef JSValue (*qjs_host_dispatch_fn)(JSContext *ctx, JSValueConst this_val, int argc,
                                        JSValueConst *argv, qjs_hostref *h);
/* what: 0 = call the Python interrupt handler, 1 = run pending signal handlers,
   2 = let a thread waiting for the GIL have it */
typedef int (*qjs_py_interrupt_fn)(qjs_rt *q, int what);

typedef void (*qjs_rejection_fn)(qjs_rt *q, JSContext *ctx, JSValueConst promise,
                                 JSValueConst reason, int is_handled);

typedef JSModuleDef *(*qjs_module_loader_fn)(JSContext *ctx, const char *name, qjs_rt *q);
typedef char *(*qjs_module_normalize_fn)(JSContext *ctx, const char *base, const char *name,
                                         qjs_rt *q);

void qjs_set_callbacks(qjs_host_dispatch_fn host, qjs_py_interrupt_fn interrupt,
                       qjs_rejection_fn rejection, qjs_module_loader_fn loader,
                       qjs_module_normalize_fn normalize);
/* install the Python loader (always: without one, imports fail clearly) and
   optionally the Python normalizer (else the engine's default) */
void qjs_set_module_loader(qjs_rt *q, int with_normalizer);

/* snapshots: 0 if `v` can be saved; else -1 with *why and the path (a
   NUL-terminated string owned by the caller, free with PyMem_RawFree) */
int qjs_snapshot_encode(JSContext *ctx, JSValueConst v, uint8_t **out, size_t *out_len,
                        const char **why, char **path);
JSValue qjs_snapshot_decode(JSContext *ctx, const uint8_t *buf, size_t len, const char **why);
void qjs_track_rejections(qjs_rt *q, int on);
/* the exception class for engine memory failures seen by the C helpers */
void qjs_set_memory_error(PyObject *type);
/* the thread on which Python runs signal handlers (Ctrl-C while JS runs) */
void qjs_set_main_thread(unsigned long ident);

/* runtime */
qjs_rt *qjs_rt_new(void);
void qjs_rt_close(qjs_rt *q);    /* with the lock held: frees the JSRuntime, releases the lock */
void qjs_rt_decref(qjs_rt *q);
void qjs_wait_unlocked(qjs_rt *q);
void qjs_rt_set_stack_limit(qjs_rt *q, size_t limit);
double qjs_now(void);
/* 1 when the calling thread (inside an entry) is near the end of its real stack */
int qjs_stack_exhausted(qjs_rt *q);

/* entries; enter() may drop the GIL while it waits for another thread */
int qjs_enter(qjs_rt *q, qjs_entry *e, double timeout);   /* -1: the runtime was closed */
void qjs_leave(qjs_rt *q, qjs_entry *e);
int qjs_try_lock(qjs_rt *q);
void qjs_unlock(qjs_rt *q);
void qjs_free_value_any_thread(qjs_rt *q, JSValue v);
void qjs_free_context_any_thread(qjs_rt *q, JSContext *ctx, qjs_ctxstate *cs);
void qjs_free_context(JSContext *ctx, qjs_ctxstate *cs);
void qjs_drain_pending(qjs_rt *q);

/* running sections: JS may run long, the GIL may be dropped and is held again on return */
JSValue qjs_eval(qjs_rt *q, JSContext *ctx, const char *src, size_t len, const char *filename,
                 int flags);
JSValue qjs_call(qjs_rt *q, JSContext *ctx, JSValueConst f, JSValueConst this_val, int argc,
                 JSValueConst *argv);
JSValue qjs_eval_function(qjs_rt *q, JSContext *ctx, JSValue fun);
int qjs_execute_pending_job(qjs_rt *q, JSContext **pctx);

/* errors */
JSValue qjs_throw_interrupted(JSContext *ctx);
int qjs_is_uncatchable(JSValueConst v);
/* the engine's own stack-overflow RangeError (recognised by qjs_is_stack_overflow) */
JSValue qjs_throw_stack_overflow(JSContext *ctx);
int qjs_is_stack_overflow(JSContext *ctx, JSValueConst exc);
int qjs_is_out_of_memory(JSContext *ctx, JSValueConst exc);

/* At context creation, before any user code: Error.prepareStackTrace becomes a
   frozen undefined, so user JS never runs inside the engine's error paths and
   CallSite objects (getFunction) never reach it. -1 with a JS exception. */
JSContext *qjs_new_context(JSRuntime *rt);
unsigned long qjs_lost_jobs(JSRuntime *rt);
int qjs_lockdown(JSContext *ctx);

/* host exceptions: a token object naming one by id; freeing it queues the id */
JSValue qjs_new_error_token(JSContext *ctx, qjs_rt *q, uint64_t id);
int qjs_error_token_id(qjs_rt *q, JSValueConst token, uint64_t *id);
JSValue qjs_iterator_result(JSContext *ctx, JSValue value, int done);

/* host functions */
qjs_ctxstate *qjs_ctxstate_new(PyObject *context);
void qjs_ctxstate_close(qjs_ctxstate *cs);
JSValue qjs_new_host_function(JSContext *ctx, qjs_rt *q, qjs_ctxstate *cs, PyObject *callable,
                              const char *name, int length, int max_args, int flags,
                              uint64_t id);

/* conversion helpers */
int qjs_classify(JSContext *ctx, JSValueConst v);
PyObject *qjs_string_to_py(JSContext *ctx, JSValueConst v);
size_t qjs_string_size(JSValueConst v);
PyObject *qjs_atom_str(JSContext *ctx, qjs_rt *q, JSAtom atom);
int qjs_plain_fast(JSContext *ctx, JSValueConst obj, JSAtom *atoms, JSValue *values,
                   uint32_t cap);
JSValue qjs_string_from_py(JSContext *ctx, PyObject *s);
PyObject *qjs_bigint_to_py(JSContext *ctx, JSValueConst v);
JSValue qjs_bigint_from_py(JSContext *ctx, PyObject *n);
int qjs_date_value(JSContext *ctx, JSValueConst v, double *ms);
int qjs_fast_array(JSValueConst v, JSValue **values, uint32_t *count);
int qjs_array_length(JSContext *ctx, JSValueConst v, int64_t *len);

/* generators: one engine call per step; returns the step's result object */
enum { QJS_RESUME_NEXT = 0, QJS_RESUME_THROW = 1, QJS_RESUME_RETURN = 2 };
/* *pdone: 0/1 when the step's value is returned directly (generator objects),
   -1 when the result is the step's {value, done} object (any other iterator) */
JSValue qjs_resume(qjs_rt *q, JSContext *ctx, JSValueConst gen, int mode, JSValueConst arg,
                   int *pdone);
JSValue qjs_get_iterator(qjs_rt *q, JSContext *ctx, JSValueConst obj, int is_async);
int qjs_step_result(JSContext *ctx, JSValue res, JSValue *value);

/* frames: what the engine's stack held when a value was thrown. A capture is a
   JS object (class q->capture_class) owning dup'd references: each bytecode
   frame's function, pc and, when its context captures locals, its arguments,
   variables and closure variables. Attached to the thrown object under a
   private symbol, or kept in q->last_* for values that cannot carry it. */
#define QJS_CAPTURE_MAX_FRAMES 64
#define QJS_CAPTURE_MAX_LOCALS 256
int qjs_frames_init(JSContext *ctx, qjs_rt *q);
/* the capture of a thrown value (new reference), or JS_UNDEFINED */
JSValue qjs_capture_of(JSContext *ctx, qjs_rt *q, JSValueConst exc);
/* a capture of the current stack (new reference; JS_UNDEFINED when no JS runs) */
JSValue qjs_capture_now(JSContext *ctx, qjs_rt *q);
/* [(function, filename, line, column, has_locals), ...] innermost first; NULL on error */
PyObject *qjs_capture_info(JSContext *ctx, qjs_rt *q, JSValueConst cap);
/* local i of frame f: 1 (a local) or 2 (a closure variable) with its name and value
   (borrowed), 0 to skip it (uninitialised, or the compiler's own), -1 past the end */
int qjs_capture_local(qjs_rt *q, JSValueConst cap, int f, int i, JSAtom *name, JSValue *val);
void qjs_capture_clear_last(qjs_rt *q);
/* the pending exception, borrowed (JS_UNINITIALIZED if none) */
JSValueConst qjs_pending_exception(JSContext *ctx);

/* line hook: Runtime.set_line_hook. The engine reports statement lines of code
   compiled while it is on; the callback runs with the GIL held and returns -1
   (with the uncatchable stop thrown) to abort. */
typedef int (*qjs_py_line_fn)(qjs_rt *q, JSContext *ctx, JSAtom filename, int line);
void qjs_set_line_callback(qjs_py_line_fn fn);
void qjs_set_line_hook(qjs_rt *q, int on);

/* live-object counters (always on; cheap) */
extern Py_ssize_t qjs_live_runtimes, qjs_live_contexts, qjs_live_handles;

#endif /* QJS_SHIM_H */
