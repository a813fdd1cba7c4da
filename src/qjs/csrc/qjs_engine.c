/*
 * qjs engine unit: the vendored QuickJS-ng compiled together with the C half of
 * the binding (declared in shim.h), so that conversions and classification can
 * read engine internals directly instead of going through property lookups.
 *
 * Nothing in this file calls into Python except where a comment says the GIL is
 * held; the interrupt handler and the host trampoline re-take the GIL themselves.
 */
#include <Python.h>
#include <pythread.h>

/* MSVC defines __STDC_NO_ATOMICS__ in C11 mode even when /experimental:c11atomics
   (VS 2022 17.5, _MSC_VER 1935, and later) provides <stdatomic.h>, and quickjs.c
   compiles Atomics only without it: setup.py asks for them with QJS_FORCE_ATOMICS. */
#if defined(QJS_FORCE_ATOMICS) && defined(_MSC_VER) && !defined(__clang__) && _MSC_VER >= 1935
#include "quickjs-c-atomics.h"
#define CONFIG_ATOMICS
#endif

#include "quickjs.c"

#include "shim.h"

#if defined(_WIN32)
#include <windows.h>
#elif defined(__APPLE__)
#include <pthread.h>
#include <time.h>
#else
#include <pthread.h>
#include <time.h>
#endif

/* ------------------------------------------------------------------ mutex */

/* A plain OS mutex: PyThread locks read the clock even for a non-blocking try,
   which is a measurable part of a Python -> JS call. */
#if defined(_WIN32)
struct qjs_mutex { SRWLOCK l; };
static struct qjs_mutex *qjs_mutex_new(void)
{
    struct qjs_mutex *m = PyMem_RawMalloc(sizeof(*m));
    if (m)
        InitializeSRWLock(&m->l);
    return m;
}
static void qjs_mutex_free(struct qjs_mutex *m) { PyMem_RawFree(m); }
static int qjs_mutex_trylock(struct qjs_mutex *m) { return TryAcquireSRWLockExclusive(&m->l) != 0; }
static void qjs_mutex_lock(struct qjs_mutex *m) { AcquireSRWLockExclusive(&m->l); }
static void qjs_mutex_unlock(struct qjs_mutex *m) { ReleaseSRWLockExclusive(&m->l); }
#else
struct qjs_mutex { pthread_mutex_t l; };
static struct qjs_mutex *qjs_mutex_new(void)
{
    struct qjs_mutex *m = PyMem_RawMalloc(sizeof(*m));
    if (m && pthread_mutex_init(&m->l, NULL) != 0) {
        PyMem_RawFree(m);
        m = NULL;
    }
    return m;
}
static void qjs_mutex_free(struct qjs_mutex *m)
{
    pthread_mutex_destroy(&m->l);
    PyMem_RawFree(m);
}
static int qjs_mutex_trylock(struct qjs_mutex *m) { return pthread_mutex_trylock(&m->l) == 0; }
static void qjs_mutex_lock(struct qjs_mutex *m) { pthread_mutex_lock(&m->l); }
static void qjs_mutex_unlock(struct qjs_mutex *m) { pthread_mutex_unlock(&m->l); }
#endif

/* Invariant checks of the debug build (QJS_DEBUG=1): a broken invariant is a
   bug in the binding, reported loudly rather than left to corrupt memory. */
#ifdef QJS_DEBUG
#define QJS_ASSERT(cond)                                                            \
    do {                                                                            \
        if (!(cond))                                                                \
            Py_FatalError("qjs invariant broken: " #cond " (" __FILE__ ":"          \
                          Py_STRINGIFY(__LINE__) ")");                              \
    } while (0)
#else
#define QJS_ASSERT(cond) ((void)0)
#endif

Py_ssize_t qjs_live_runtimes = 0, qjs_live_contexts = 0, qjs_live_handles = 0;

static qjs_host_dispatch_fn qjs_host_dispatch = NULL;
static qjs_py_interrupt_fn qjs_py_interrupt = NULL;
static qjs_rejection_fn qjs_rejection = NULL;
static qjs_module_loader_fn qjs_module_loader = NULL;
static qjs_module_normalize_fn qjs_module_normalize = NULL;
static unsigned long qjs_main_thread = 0;

void qjs_set_callbacks(qjs_host_dispatch_fn host, qjs_py_interrupt_fn interrupt,
                       qjs_rejection_fn rejection, qjs_module_loader_fn loader,
                       qjs_module_normalize_fn normalize)
{
    qjs_host_dispatch = host;
    qjs_py_interrupt = interrupt;
    qjs_rejection = rejection;
    qjs_module_loader = loader;
    qjs_module_normalize = normalize;
}

static PyObject *qjs_memory_error = NULL;  /* qjs.JSMemoryError, set at import */

void qjs_set_memory_error(PyObject *type)
{
    Py_XINCREF(type);
    qjs_memory_error = type;
}

void qjs_set_main_thread(unsigned long ident)
{
    qjs_main_thread = ident;
}

/* ------------------------------------------------------------------ clock */

double qjs_now(void)
{
#if defined(_WIN32)
    static LARGE_INTEGER freq;
    LARGE_INTEGER c;
    if (!freq.QuadPart)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&c);
    return (double)c.QuadPart / (double)freq.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
#endif
}

/* ------------------------------------------------------------ thread stack */

/* Bytes kept free below the JS budget for the host: Python frames of host
   functions called from the deepest JS frame (json.loads of 800 levels needs
   about 100 KiB), the engine's own C frames between two stack checks. Half of
   what the thread has left, between these bounds. */
#define QJS_STACK_MARGIN (96 * 1024)
#define QJS_STACK_MARGIN_MAX (256 * 1024)
#define QJS_STACK_MIN (16 * 1024)
/* Conversions and host calls stop (with a clean error) this close to the end
   of the real stack: enough to raise and unwind a Python exception. */
#define QJS_STACK_FLOOR (48 * 1024)

/* Lowest usable address of the calling thread's stack (stacks grow down on
   every platform wheels are built for), and its top. 0 if unknown. */
static uintptr_t qjs_thread_stack_low(uintptr_t *high)
{
    uintptr_t low = 0;
    *high = 0;
#if defined(_WIN32)
    {
        ULONG_PTR lo = 0, hi = 0;
        GetCurrentThreadStackLimits(&lo, &hi);
        /* keep clear of the guard pages */
        low = (uintptr_t)lo + 64 * 1024;
        *high = (uintptr_t)hi;
    }
#elif defined(__APPLE__)
    {
        pthread_t self = pthread_self();
        uintptr_t top = (uintptr_t)pthread_get_stackaddr_np(self);
        size_t size = pthread_get_stacksize_np(self);
        low = top - size;
        *high = top;
    }
#else
    {
        pthread_attr_t attr;
        void *addr = NULL;
        size_t size = 0;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
                low = (uintptr_t)addr;
                *high = low + size;
            }
            pthread_attr_destroy(&attr);
        }
    }
#endif
    return low;
}

/* Called at every outermost entry: the engine measures its stack from here,
   with a budget that fits in what is left of this thread's real stack. */
#if defined(_MSC_VER)
static __declspec(thread) uintptr_t qjs_tls_low, qjs_tls_high;
#else
static _Thread_local uintptr_t qjs_tls_low, qjs_tls_high;
#endif

static void qjs_update_stack(qjs_rt *q)
{
    uintptr_t sp = js_get_stack_pointer();
    uintptr_t low;
    if (sp <= q->stack_low || sp >= q->stack_high) {
        /* not on the stack this runtime saw last: this thread's cached bounds,
           looked up once per thread (pthread_getattr_np reads /proc on the main
           thread), and checked against sp in case a thread id was reused */
        if (sp <= qjs_tls_low || sp >= qjs_tls_high)
            qjs_tls_low = qjs_thread_stack_low(&qjs_tls_high);
        q->stack_low = qjs_tls_low;
        q->stack_high = qjs_tls_high;
    }
    low = q->stack_low;
    size_t budget = q->stack_limit ? q->stack_limit : (size_t)-1;
    if (low && sp > low) {
        size_t avail = sp - low;
        size_t margin = avail / 2;
        if (margin < QJS_STACK_MARGIN)
            margin = QJS_STACK_MARGIN;
        if (margin > QJS_STACK_MARGIN_MAX)
            margin = QJS_STACK_MARGIN_MAX;
        avail = avail > margin + QJS_STACK_MIN ? avail - margin : QJS_STACK_MIN / 2;
        if (budget > avail)
            budget = avail;
    } else if (budget == (size_t)-1) {
        budget = JS_DEFAULT_STACK_SIZE;
    }
    JS_UpdateStackTop(q->rt);
    if (budget != q->stack_effective) {
        JS_SetMaxStackSize(q->rt, budget);
        q->stack_effective = budget;
    }
}

int qjs_stack_exhausted(qjs_rt *q)
{
    uintptr_t sp = js_get_stack_pointer();
    return q->stack_low && sp > q->stack_low && sp - q->stack_low < QJS_STACK_FLOOR;
}

void qjs_rt_set_stack_limit(qjs_rt *q, size_t limit)
{
    q->stack_limit = limit;
    q->stack_effective = 0;
}

/* ---------------------------------------------------------------- interrupt */

static inline void qjs_hold_gil(qjs_rt *q)
{
    q->py_ran = 1;
    if (q->released) {
        PyThreadState *ts = q->released;
        q->released = NULL;
        PyEval_RestoreThread(ts);
    }
}

static int qjs_py_interrupt_call(qjs_rt *q, int what)
{
    int r, prev = q->may_release;
    q->may_release = 0;
    r = qjs_py_interrupt(q, what);
    q->may_release = prev;
    return r;
}

/* Whether a frame on the JS stack belongs to a context that another thread
   waits to close. */
static int qjs_running_closed_context(JSRuntime *rt)
{
    JSStackFrame *sf;
    for (sf = rt->current_stack_frame; sf; sf = sf->prev_frame) {
        JSObject *p;
        JSContext *realm = NULL;
        qjs_ctxstate *cs;
        if (JS_VALUE_GET_TAG(sf->cur_func) != JS_TAG_OBJECT)
            continue;
        p = JS_VALUE_GET_OBJ(sf->cur_func);
        switch (p->class_id) {
        case JS_CLASS_C_FUNCTION:
            realm = p->u.cfunc.realm;
            break;
        case JS_CLASS_BYTECODE_FUNCTION:
        case JS_CLASS_GENERATOR_FUNCTION:
        case JS_CLASS_ASYNC_FUNCTION:
        case JS_CLASS_ASYNC_GENERATOR_FUNCTION:
            realm = p->u.func.function_bytecode->realm;
            break;
        default:
            break;
        }
        if (!realm)
            continue;
        cs = JS_GetContextOpaque(realm);
        if (cs && cs->close_requested)
            return 1;
    }
    return 0;
}

static int qjs_interrupt_handler(JSRuntime *rt, void *opaque)
{
    qjs_rt *q = opaque;
    double now;
    /* whether the JS called Python (a host function, the line hook) since the last
       check; the calls this check makes itself below do not count */
    int py_ran = q->py_ran;

    (void)rt;
    if (q->interrupt)
        return 1;
    if (q->closing || (q->close_requests && qjs_running_closed_context(rt))) {
        q->interrupt = q->last_interrupt = QJS_INT_CLOSED;
        return 1;
    }
    if (q->deadline > 0 || q->py_handler || q->owner == qjs_main_thread) {
        now = qjs_now();
        if (q->deadline > 0 && now >= q->deadline) {
            q->interrupt = q->last_interrupt = QJS_INT_TIMEOUT;
            return 1;
        }
        if (q->py_handler && now >= q->handler_next) {
            q->handler_next = now + 0.001;
            qjs_hold_gil(q);
            if (qjs_py_interrupt_call(q, 0)) {
                if (!q->interrupt)
                    q->interrupt = QJS_INT_HANDLER;
                q->last_interrupt = q->interrupt;
                return 1;
            }
        }
        if (q->owner == qjs_main_thread && now >= q->signals_next) {
            /* Ctrl-C while JS runs: let Python's signal handlers run. */
            q->signals_next = now + 0.02;
            qjs_hold_gil(q);
            if (qjs_py_interrupt_call(q, 1)) {
                q->interrupt = q->last_interrupt = QJS_INT_ABORT;
                return 1;
            }
        }
    }
    q->py_ran = 0;
    if (q->may_release && !q->released) {
        if (!py_ran) {
            q->released = PyEval_SaveThread();
        } else {
            /* Python ran since the last check and will soon again: dropping the GIL
               now only to take it back at once would starve every waiting thread
               (each drop resets their wait). Keep it, and let the interpreter hand
               it over if one asked. */
            if (qjs_py_interrupt_call(q, 2)) {
                q->last_interrupt = q->interrupt;
                return 1;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------ host exception tokens */

static void qjs_token_finalizer(JSRuntime *rt, JSValueConst val)
{
    qjs_rt *q = JS_GetRuntimeOpaque(rt);
    uint64_t *id = JS_GetOpaque(val, q->token_class);
    if (!id)
        return;
    if (q->ndead_errors == q->capdead_errors) {
        size_t cap = q->capdead_errors ? q->capdead_errors * 2 : 16;
        uint64_t *p = PyMem_RawRealloc(q->dead_errors, cap * sizeof(uint64_t));
        if (p) {
            q->dead_errors = p;
            q->capdead_errors = cap;
        }
    }
    if (q->ndead_errors < q->capdead_errors)
        q->dead_errors[q->ndead_errors++] = *id;
    PyMem_RawFree(id);
}

JSValue qjs_new_error_token(JSContext *ctx, qjs_rt *q, uint64_t id)
{
    JSValue t = JS_NewObjectProtoClass(ctx, JS_NULL, q->token_class);
    uint64_t *p;
    if (JS_IsException(t))
        return t;
    p = PyMem_RawMalloc(sizeof(uint64_t));
    if (!p) {
        JS_FreeValue(ctx, t);
        return JS_ThrowOutOfMemory(ctx);
    }
    *p = id;
    JS_SetOpaque(t, p);
    JS_PreventExtensions(ctx, t);
    return t;
}

int qjs_error_token_id(qjs_rt *q, JSValueConst token, uint64_t *id)
{
    uint64_t *p = JS_GetOpaque(token, q->token_class);
    if (!p)
        return 0;
    *id = *p;
    return 1;
}

JSValue qjs_iterator_result(JSContext *ctx, JSValue value, int done)
{
    return js_create_iterator_result(ctx, value, done);
}

/* --------------------------------------------------------------- the runtime */

static void qjs_rt_free(qjs_rt *q);
static JSModuleDef *qjs_loader_trampoline(JSContext *ctx, const char *name, void *opaque);
static void qjs_capture_finalizer(JSRuntime *rt, JSValueConst val);
static void qjs_capture_mark(JSRuntime *rt, JSValueConst val, JS_MarkFunc *mark_func);

qjs_rt *qjs_rt_new(void)
{
    qjs_rt *q = PyMem_RawCalloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->lock = qjs_mutex_new();
    q->pending_lock = qjs_mutex_new();
    q->rt = JS_NewRuntime();
    if (!q->lock || !q->pending_lock || !q->rt) {
        qjs_rt_free(q);
        return NULL;
    }
    JS_SetRuntimeOpaque(q->rt, q);
    JS_SetInterruptHandler(q->rt, qjs_interrupt_handler, q);
    JS_SetModuleLoaderFunc(q->rt, NULL, qjs_loader_trampoline, q);
    {
        JSClassDef def = { .class_name = "HostErrorToken", .finalizer = qjs_token_finalizer };
        JS_NewClassID(q->rt, &q->token_class);
        if (JS_NewClass(q->rt, q->token_class, &def) < 0) {
            qjs_rt_free(q);
            return NULL;
        }
    }
    {
        JSClassDef def = { .class_name = "Frames", .finalizer = qjs_capture_finalizer,
                           .gc_mark = qjs_capture_mark };
        JS_NewClassID(q->rt, &q->capture_class);
        if (JS_NewClass(q->rt, q->capture_class, &def) < 0) {
            qjs_rt_free(q);
            return NULL;
        }
        q->last_thrown = JS_UNDEFINED;
        q->last_capture = JS_UNDEFINED;
    }
    JS_SetCanBlock(q->rt, false);
    q->refs = 1;
    qjs_atomic_add(&qjs_live_runtimes, 1);
    return q;
}

static void qjs_rt_free(qjs_rt *q)
{
    if (q->rt) {
        JS_FreeRuntime(q->rt);
        q->rt = NULL;
        qjs_atomic_add(&qjs_live_runtimes, -1);
    }
    if (q->lock)
        qjs_mutex_free(q->lock);
    if (q->pending_lock)
        qjs_mutex_free(q->pending_lock);
    PyMem_RawFree(q->pending);
    PyMem_RawFree(q->pending_ctx);
    PyMem_RawFree(q->dead_errors);
    PyMem_RawFree(q);
}

void qjs_rt_decref(qjs_rt *q)
{
    if (q && qjs_atomic_add_int(&q->refs, -1) == 0)
        qjs_rt_free(q);
}

/* GIL held. */
static void qjs_atom_cache_clear(qjs_rt *q)
{
    int i;
    for (i = 0; i < QJS_ATOM_CACHE; i++) {
        qjs_atom_slot *slot = &q->atom_cache[i];
        if (slot->str) {
            Py_CLEAR(slot->str);
            JS_FreeAtomRT(q->rt, slot->atom);
            slot->atom = JS_ATOM_NULL;
        }
    }
}

void qjs_rt_close(qjs_rt *q)
{
    QJS_ASSERT(q->owner == PyThread_get_thread_ident());
    QJS_ASSERT(q->released == NULL);
    qjs_drain_pending(q);
    qjs_atom_cache_clear(q);
    qjs_capture_clear_last(q);
    if (q->atom_frames != JS_ATOM_NULL) {
        JS_SetThrowHook(q->rt, NULL, NULL);
        JS_FreeAtomRT(q->rt, q->atom_frames);
        q->atom_frames = JS_ATOM_NULL;
    }
    JS_FreeRuntime(q->rt);
    q->rt = NULL;
    qjs_atomic_add(&qjs_live_runtimes, -1);
    q->owner = 0;
    q->depth = 0;
    qjs_mutex_unlock(q->lock);
}

/* Wait until no thread holds the runtime (GIL released while waiting). */
void qjs_wait_unlocked(qjs_rt *q)
{
    Py_BEGIN_ALLOW_THREADS
    qjs_mutex_lock(q->lock);
    qjs_mutex_unlock(q->lock);
    Py_END_ALLOW_THREADS
}

int qjs_try_lock(qjs_rt *q)
{
    unsigned long me = PyThread_get_thread_ident();
    if (q->owner == me)
        return 2;  /* already ours: re-entrant */
    if (qjs_mutex_trylock(q->lock)) {
        q->owner = me;
        return 1;
    }
    return 0;
}

void qjs_unlock(qjs_rt *q)
{
    q->owner = 0;
    qjs_mutex_unlock(q->lock);
}

int qjs_enter(qjs_rt *q, qjs_entry *e, double timeout)
{
    unsigned long me = PyThread_get_thread_ident();
    if (q->owner == me && q->depth > 0) {
        e->outer = 0;
        q->depth++;
    } else {
        if (!qjs_mutex_trylock(q->lock)) {
            qjs_atomic_add_int(&q->refs, 1);
            Py_BEGIN_ALLOW_THREADS
            qjs_mutex_lock(q->lock);
            Py_END_ALLOW_THREADS
            if (!q->rt) {
                /* closed while we waited */
                qjs_mutex_unlock(q->lock);
                qjs_rt_decref(q);
                return -1;
            }
            qjs_atomic_add_int(&q->refs, -1);
        } else if (!q->rt) {
            /* closed by another thread after the caller read q */
            qjs_mutex_unlock(q->lock);
            return -1;
        }
        q->owner = me;
        q->depth = 1;
        e->outer = 1;
        q->interrupt = q->closing ? QJS_INT_CLOSED : QJS_INT_NONE;
        q->deadline = 0;
        q->handler_next = 0;
        q->signals_next = 0;
        qjs_update_stack(q);
    }
    e->prev_deadline = q->deadline;
    e->prev_may_release = q->may_release;
    e->prev_interrupt = q->interrupt;
    q->may_release = 0;
    if (timeout > 0) {
        double d = qjs_now() + timeout;
        if (q->deadline == 0 || d < q->deadline)
            q->deadline = d;
    } else if (timeout == 0) {
        /* a zero timeout: already expired */
        q->deadline = qjs_now();
    }
    return 0;
}

void qjs_leave(qjs_rt *q, qjs_entry *e)
{
    QJS_ASSERT(q->owner == PyThread_get_thread_ident());
    QJS_ASSERT(q->depth >= 1);
    QJS_ASSERT(!e->outer == (q->depth > 1));
    QJS_ASSERT(q->released == NULL);
    q->may_release = e->prev_may_release;
    if (e->outer) {
        if (JS_VALUE_GET_TAG(q->last_capture) == JS_TAG_OBJECT)
            qjs_capture_clear_last(q);
        if (q->npending || q->npending_ctx)
            qjs_drain_pending(q);
        q->deadline = 0;
        q->interrupt = q->closing ? QJS_INT_CLOSED : QJS_INT_NONE;
        q->depth = 0;
        q->owner = 0;
        qjs_mutex_unlock(q->lock);
    } else {
        /* an inner deadline that passed does not stop the outer code,
           unless the outer deadline has passed too */
        if (q->interrupt == QJS_INT_TIMEOUT && e->prev_interrupt == QJS_INT_NONE &&
            (e->prev_deadline == 0 || qjs_now() < e->prev_deadline))
            q->interrupt = QJS_INT_NONE;
        q->deadline = e->prev_deadline;
        q->depth--;
    }
}

/* After queuing a free: the thread that held the runtime may have left between
   our failed try and the queuing (without a GIL nothing orders the two), so the
   queue is drained here if the runtime is free now. */
static void qjs_retry_drain(qjs_rt *q)
{
    if (qjs_try_lock(q) == 1) {
        if (q->rt)
            qjs_drain_pending(q);
        qjs_unlock(q);
    }
}

/* Free a JS value from any thread, with the GIL held. If another thread is
   using the runtime, the free is queued and done when that thread leaves. */
void qjs_free_value_any_thread(qjs_rt *q, JSValue v)
{
    int r;
    if (!JS_VALUE_HAS_REF_COUNT(v))
        return;
    r = qjs_try_lock(q);
    if (r == 1 && !q->rt) {
        qjs_unlock(q);  /* closed meanwhile: the value went with the runtime */
        return;
    }
    if (r) {
        JS_FreeValueRT(q->rt, v);
        if (r == 1) {
            if (q->npending || q->npending_ctx)
                qjs_drain_pending(q);
            qjs_unlock(q);
        }
        return;
    }
    qjs_mutex_lock(q->pending_lock);
    if (q->npending == q->cappending) {
        size_t cap = q->cappending ? q->cappending * 2 : 16;
        JSValue *p = PyMem_RawRealloc(q->pending, cap * sizeof(JSValue));
        if (!p) {
            /* cannot queue: leak rather than race */
            qjs_mutex_unlock(q->pending_lock);
            return;
        }
        q->pending = p;
        q->cappending = cap;
    }
    q->pending[q->npending++] = v;
    qjs_mutex_unlock(q->pending_lock);
    qjs_retry_drain(q);
}

void qjs_free_context(JSContext *ctx, qjs_ctxstate *cs)
{
    QJS_ASSERT(((qjs_rt *)JS_GetRuntimeOpaque(JS_GetRuntime(ctx)))->owner ==
               PyThread_get_thread_ident());
    JS_SetContextOpaque(ctx, NULL);
    if (cs)
        qjs_ctxstate_close(cs);
    /* functions of this context may outlive it: their realm's opaque must not
       point at the freed state */
    JS_SetContextOpaque(ctx, NULL);
    JS_FreeContext(ctx);
    qjs_atomic_add(&qjs_live_contexts, -1);
}

/* Free a context from any thread, with the GIL held (see qjs_free_value_any_thread). */
void qjs_free_context_any_thread(qjs_rt *q, JSContext *ctx, qjs_ctxstate *cs)
{
    int r = qjs_try_lock(q);
    if (r == 1 && !q->rt) {
        qjs_unlock(q);  /* closed meanwhile: the context went with the runtime */
        return;
    }
    if (r) {
        qjs_free_context(ctx, cs);
        if (r == 1) {
            qjs_drain_pending(q);
            qjs_unlock(q);
        }
        return;
    }
    qjs_mutex_lock(q->pending_lock);
    if (q->npending_ctx == q->cappending_ctx) {
        size_t cap = q->cappending_ctx ? q->cappending_ctx * 2 : 4;
        qjs_pending_ctx *p = PyMem_RawRealloc(q->pending_ctx, cap * sizeof(*p));
        if (!p) {
            qjs_mutex_unlock(q->pending_lock);
            return;
        }
        q->pending_ctx = p;
        q->cappending_ctx = cap;
    }
    q->pending_ctx[q->npending_ctx].ctx = ctx;
    q->pending_ctx[q->npending_ctx].cs = cs;
    q->npending_ctx++;
    qjs_mutex_unlock(q->pending_lock);
    qjs_retry_drain(q);
}

/* With the runtime lock held. Values first, then contexts. */
void qjs_drain_pending(qjs_rt *q)
{
    for (;;) {
        JSValue v;
        qjs_pending_ctx c;
        qjs_mutex_lock(q->pending_lock);
        if (q->npending) {
            v = q->pending[--q->npending];
            qjs_mutex_unlock(q->pending_lock);
            JS_FreeValueRT(q->rt, v);
            continue;
        }
        if (q->npending_ctx) {
            c = q->pending_ctx[--q->npending_ctx];
            qjs_mutex_unlock(q->pending_lock);
            qjs_free_context(c.ctx, c.cs);
            continue;
        }
        qjs_mutex_unlock(q->pending_lock);
        return;
    }
}

/* --------------------------------------------------------- running sections */

#define QJS_RUN_BEGIN(q) int qjs_prev_release_ = (q)->may_release; (q)->may_release = 1
#define QJS_RUN_END(q) (q)->may_release = qjs_prev_release_; qjs_hold_gil(q)

JSValue qjs_eval(qjs_rt *q, JSContext *ctx, const char *src, size_t len, const char *filename,
                 int flags)
{
    JSValue r;
    QJS_RUN_BEGIN(q);
    r = JS_Eval(ctx, src, len, filename, flags);
    QJS_RUN_END(q);
    return r;
}

JSValue qjs_call(qjs_rt *q, JSContext *ctx, JSValueConst f, JSValueConst this_val, int argc,
                 JSValueConst *argv)
{
    JSValue r;
    QJS_RUN_BEGIN(q);
    r = JS_Call(ctx, f, this_val, argc, argv);
    QJS_RUN_END(q);
    return r;
}

JSValue qjs_eval_function(qjs_rt *q, JSContext *ctx, JSValue fun)
{
    JSValue r;
    QJS_RUN_BEGIN(q);
    r = JS_EvalFunction(ctx, fun);
    QJS_RUN_END(q);
    return r;
}

int qjs_execute_pending_job(qjs_rt *q, JSContext **pctx)
{
    int r;
    QJS_RUN_BEGIN(q);
    r = JS_ExecutePendingJob(q->rt, pctx);
    QJS_RUN_END(q);
    return r;
}

static const JSAtom qjs_mode_atoms[3] = { JS_ATOM_next, JS_ATOM_throw, JS_ATOM_return };
static const int qjs_gen_magic[3] = { GEN_MAGIC_NEXT, GEN_MAGIC_THROW, GEN_MAGIC_RETURN };

JSValue qjs_resume(qjs_rt *q, JSContext *ctx, JSValueConst gen, int mode, JSValueConst arg,
                   int *pdone)
{
    JSValue r;
    QJS_RUN_BEGIN(q);
    if (JS_VALUE_GET_TAG(gen) == JS_TAG_OBJECT &&
        JS_VALUE_GET_OBJ(gen)->class_id == JS_CLASS_GENERATOR) {
        /* the generator's own step: no {value, done} object is made */
        *pdone = 0;
        r = js_generator_next(ctx, gen, 1, &arg, pdone, qjs_gen_magic[mode]);
        if (JS_IsException(r))
            *pdone = 0;
    } else {
        *pdone = -1;
        r = JS_Invoke(ctx, gen, qjs_mode_atoms[mode], 1, &arg);
    }
    QJS_RUN_END(q);
    return r;
}

JSValue qjs_get_iterator(qjs_rt *q, JSContext *ctx, JSValueConst obj, int is_async)
{
    JSValue r;
    QJS_RUN_BEGIN(q);
    r = JS_GetIterator(ctx, obj, is_async);
    QJS_RUN_END(q);
    return r;
}

/* Split an iterator result object {done, value}: returns done (0/1), -1 on
   exception. Frees res. Reads own data properties without running getters
   when it can (the common case: objects made by generators). */
int qjs_step_result(JSContext *ctx, JSValue res, JSValue *value)
{
    JSValue d;
    int done;
    *value = JS_UNDEFINED;
    if (!JS_IsObject(res)) {
        JS_FreeValue(ctx, res);
        JS_ThrowTypeError(ctx, "iterator result is not an object");
        return -1;
    }
    d = JS_GetProperty(ctx, res, JS_ATOM_done);
    if (JS_IsException(d)) {
        JS_FreeValue(ctx, res);
        return -1;
    }
    done = JS_ToBoolFree(ctx, d);
    if (done < 0) {
        JS_FreeValue(ctx, res);
        return -1;
    }
    *value = JS_GetProperty(ctx, res, JS_ATOM_value);
    JS_FreeValue(ctx, res);
    if (JS_IsException(*value))
        return -1;
    return done;
}

/* Unhandled rejections: reported to Python, which decides at the end of a
   job run whether they stayed unhandled. */
static void qjs_rejection_tracker(JSContext *ctx, JSValueConst promise, JSValueConst reason,
                                  bool is_handled, void *opaque)
{
    qjs_rt *q = opaque;
    int prev = q->may_release;
    qjs_hold_gil(q);
    q->may_release = 0;
    qjs_rejection(q, ctx, promise, reason, is_handled);
    q->may_release = prev;
}

void qjs_track_rejections(qjs_rt *q, int on)
{
    JS_SetHostPromiseRejectionTracker(q->rt, on ? qjs_rejection_tracker : NULL, q);
}

/* ------------------------------------------------------------------ modules */

static JSModuleDef *qjs_loader_trampoline(JSContext *ctx, const char *name, void *opaque)
{
    qjs_rt *q = opaque;
    JSModuleDef *m;
    int prev = q->may_release;
    qjs_hold_gil(q);
    q->may_release = 0;
    m = qjs_module_loader(ctx, name, q);
    q->may_release = prev;
    return m;
}

static char *qjs_normalize_trampoline(JSContext *ctx, const char *base, const char *name,
                                      void *opaque)
{
    qjs_rt *q = opaque;
    char *r;
    int prev = q->may_release;
    qjs_hold_gil(q);
    q->may_release = 0;
    r = qjs_module_normalize(ctx, base, name, q);
    q->may_release = prev;
    return r;
}

void qjs_set_module_loader(qjs_rt *q, int with_normalizer)
{
    JS_SetModuleLoaderFunc(q->rt, with_normalizer ? qjs_normalize_trampoline : NULL,
                           qjs_loader_trampoline, q);
}

/* ------------------------------------------------------------------- errors */

/* The engine's context setup (JS_AddIntrinsic*) does not check most of its
   allocations: a memory limit reached half way leaves prototypes set to
   JS_EXCEPTION, or a freed context on the GC list, and the process crashes
   later. So a context is built with the limit lifted (a fresh context takes
   55-75 KB), and refused at once if the heap is then past the limit. */
JSContext *qjs_new_context(JSRuntime *rt)
{
    JSMallocState *ms = &rt->malloc_state;
    size_t limit = ms->malloc_limit;
    JSContext *ctx;
    if (limit && ms->malloc_size >= limit)
        return NULL;
    ms->malloc_limit = 0;
    ctx = JS_NewContext(rt);
    ms->malloc_limit = limit;
    if (ctx && limit && ms->malloc_size > limit) {
        JS_FreeContext(ctx);
        JS_RunGC(rt);   /* its objects form cycles: give the memory back now */
        ctx = NULL;
    }
    return ctx;
}

/* Promise jobs the engine could not queue for lack of memory (patch 0009). */
unsigned long qjs_lost_jobs(JSRuntime *rt)
{
    return rt->lost_jobs;
}

int qjs_lockdown(JSContext *ctx)
{
    JSValue global = JS_GetGlobalObject(ctx);
    JSValue error = JS_GetPropertyStr(ctx, global, "Error");
    int r = -1;
    JS_FreeValue(ctx, global);
    if (JS_IsException(error))
        return -1;
    /* flags 0: not writable, not configurable, not enumerable */
    if (JS_DefinePropertyValueStr(ctx, error, "prepareStackTrace", JS_UNDEFINED,
                                  JS_PROP_THROW) >= 0)
        r = 0;
    JS_FreeValue(ctx, error);
    return r;
}

JSValue qjs_throw_interrupted(JSContext *ctx)
{
    JS_ThrowInterrupted(ctx);
    return JS_EXCEPTION;
}

JSValue qjs_throw_stack_overflow(JSContext *ctx)
{
    return JS_ThrowStackOverflow(ctx);
}

int qjs_is_uncatchable(JSValueConst v)
{
    return JS_IsUncatchableError(v);
}

static int qjs_error_is(JSContext *ctx, JSValueConst exc, JSAtom name, const char *message)
{
    JSObject *p;
    JSShapeProperty *prs;
    JSProperty *pr;
    const char *s;
    int r;
    if (JS_VALUE_GET_TAG(exc) != JS_TAG_OBJECT)
        return 0;
    p = JS_VALUE_GET_OBJ(exc);
    if (p->class_id != JS_CLASS_ERROR || !p->shape->proto)
        return 0;
    if (p->shape->proto != JS_VALUE_GET_OBJ(ctx->native_error_proto[name]))
        return 0;
    prs = find_own_property(&pr, p, JS_ATOM_message);
    if (!prs || (prs->flags & JS_PROP_TMASK) != JS_PROP_NORMAL ||
        JS_VALUE_GET_TAG(pr->u.value) != JS_TAG_STRING)
        return 0;
    s = JS_ToCString(ctx, pr->u.value);
    if (!s)
        return 0;
    r = strcmp(s, message) == 0;
    JS_FreeCString(ctx, s);
    return r;
}

int qjs_is_stack_overflow(JSContext *ctx, JSValueConst exc)
{
    return JS_IsStackOverflowError(ctx, exc);   /* patch 0004 */
}

int qjs_is_out_of_memory(JSContext *ctx, JSValueConst exc)
{
    if (JS_IsOutOfMemoryError(ctx, exc))        /* patch 0004 */
        return 1;
    /* a string past the engine's length cap is a memory limit too */
    return qjs_error_is(ctx, exc, JS_INTERNAL_ERROR, "string too long");
}

/* ------------------------------------------------------------ host functions */

qjs_ctxstate *qjs_ctxstate_new(PyObject *context)
{
    qjs_ctxstate *cs = PyMem_RawCalloc(1, sizeof(*cs));
    if (!cs)
        return NULL;
    cs->refs = 1;
    cs->open = 1;
    cs->context = context;
    return cs;
}

static void qjs_ctxstate_decref(qjs_ctxstate *cs)
{
    if (--cs->refs == 0) {
        PyMem_RawFree(cs->dead);
        PyMem_RawFree(cs);
    }
}

void qjs_ctxstate_close(qjs_ctxstate *cs)
{
    cs->open = 0;
    cs->context = NULL;
    cs->ndead = 0;
    qjs_ctxstate_decref(cs);
}

static void qjs_host_finalize(void *opaque)
{
    qjs_hostref *h = opaque;
    qjs_ctxstate *cs = h->cs;
    QJS_ASSERT(cs->refs >= 1);
    if (cs->open) {
        if (cs->ndead == cs->capdead) {
            size_t cap = cs->capdead ? cs->capdead * 2 : 16;
            uint64_t *p = PyMem_RawRealloc(cs->dead, cap * sizeof(uint64_t));
            if (p) {
                cs->dead = p;
                cs->capdead = cap;
            }
        }
        if (cs->ndead < cs->capdead)
            cs->dead[cs->ndead++] = h->id;
    }
    qjs_ctxstate_decref(cs);
    PyMem_RawFree(h);
}

static JSValue qjs_host_trampoline(JSContext *ctx, JSValueConst this_val, int argc,
                                   JSValueConst *argv, int magic, void *opaque)
{
    qjs_hostref *h = opaque;
    qjs_rt *q = h->q;
    (void)magic;
    QJS_ASSERT(q->owner == PyThread_get_thread_ident());
    qjs_hold_gil(q);
    QJS_ASSERT(PyGILState_Check());
    if (!q->interrupt && q->close_requests && qjs_running_closed_context(q->rt))
        q->interrupt = q->last_interrupt = QJS_INT_CLOSED;
    if (q->interrupt || q->closing) {
        /* closed by another thread before any interrupt check saw it: say so,
           or the error reads as a stop by an interrupt handler */
        if (!q->interrupt)
            q->interrupt = q->last_interrupt = QJS_INT_CLOSED;
        return qjs_throw_interrupted(ctx);
    }
    if (qjs_stack_exhausted(q))
        return JS_ThrowStackOverflow(ctx);
    if (!h->cs->open)
        return JS_ThrowTypeError(ctx, "host function called after its context was closed");
    if (h->max_args >= 0 && argc > h->max_args)
        argc = h->max_args;
    {
        /* Python runs now: JS it triggers (getters, promise resolution) must
           not drop the GIL under it. */
        JSValue r;
        int prev = q->may_release;
        q->may_release = 0;
        r = qjs_host_dispatch(ctx, this_val, argc, argv, h);
        q->may_release = prev;
        return r;
    }
}

JSValue qjs_new_host_function(JSContext *ctx, qjs_rt *q, qjs_ctxstate *cs, PyObject *callable,
                              const char *name, int length, int max_args, int flags,
                              uint64_t id)
{
    JSValue f;
    qjs_hostref *h = PyMem_RawMalloc(sizeof(*h));
    if (!h)
        return JS_ThrowOutOfMemory(ctx);
    h->q = q;
    h->cs = cs;
    h->callable = callable;
    h->id = id;
    h->flags = flags;
    h->max_args = max_args;
    cs->refs++;
    f = JS_NewCClosure(ctx, qjs_host_trampoline, name, qjs_host_finalize, length, 0, h);
    if (JS_IsException(f)) {
        qjs_ctxstate_decref(cs);
        PyMem_RawFree(h);
    }
    return f;
}

/* --------------------------------------------------------------- conversion */

int qjs_classify(JSContext *ctx, JSValueConst v)
{
    JSObject *p = JS_VALUE_GET_OBJ(v);
    switch (p->class_id) {
    case JS_CLASS_ARRAY:
        return QJS_KIND_ARRAY;
    case JS_CLASS_OBJECT: {
        JSObject *proto = p->shape->proto;
        if (p->is_exotic || p->is_HTMLDDA)
            return QJS_KIND_OTHER;
        if (!proto || proto == JS_VALUE_GET_OBJ(ctx->class_proto[JS_CLASS_OBJECT]))
            return QJS_KIND_PLAIN;
        return QJS_KIND_OTHER;
    }
    case JS_CLASS_DATE:
        return QJS_KIND_DATE;
    case JS_CLASS_ARRAY_BUFFER:
        return QJS_KIND_ARRAY_BUFFER;
    case JS_CLASS_UINT8_ARRAY:
        return QJS_KIND_UINT8_ARRAY;
    case JS_CLASS_ERROR:
        return QJS_KIND_ERROR;
    case JS_CLASS_PROMISE:
        return QJS_KIND_PROMISE;
    default:
        if (JS_IsFunction(ctx, v))
            return QJS_KIND_FUNCTION;
        return QJS_KIND_OTHER;
    }
}

int qjs_fast_array(JSValueConst v, JSValue **values, uint32_t *count)
{
    JSObject *p = JS_VALUE_GET_OBJ(v);
    if (p->class_id != JS_CLASS_ARRAY || !p->fast_array)
        return 0;
    *values = p->u.array.u.values;
    *count = p->u.array.count;
    return 1;
}

int qjs_array_length(JSContext *ctx, JSValueConst v, int64_t *len)
{
    JSObject *p = JS_VALUE_GET_OBJ(v);
    /* an Array's length is its first property; it may exceed the fast storage
       (trailing holes), so it is read, not the storage count */
    if (p->class_id == JS_CLASS_ARRAY && JS_VALUE_GET_TAG(p->prop[0].u.value) == JS_TAG_INT) {
        *len = (uint32_t)JS_VALUE_GET_INT(p->prop[0].u.value);
        return 0;
    }
    return js_get_length64(ctx, len, v);
}

static PyObject *qjs_jsstring_to_py(JSString *s)
{
    uint32_t len = s->len;
    if (!s->is_wide_char)
        return PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, str8(s), len);
    else {
        const uint16_t *w = str16(s);
        uint32_t i;
        for (i = 0; i < len; i++) {
            if ((w[i] & 0xf800) == 0xd800)
                break;
        }
        if (i == len)
            return PyUnicode_FromKindAndData(PyUnicode_2BYTE_KIND, w, len);
        /* surrogates: pairs combine, lone ones are kept as code points (what
           the "surrogatepass" UTF-16 decoder gives, in one linear pass) */
        {
            uint32_t npairs = 0, j, k;
            PyObject *r;
            Py_UCS4 *out;
            for (j = i; j < len; j++) {
                if ((w[j] & 0xfc00) == 0xd800 && j + 1 < len && (w[j + 1] & 0xfc00) == 0xdc00) {
                    npairs++;
                    j++;
                }
            }
            if (npairs == 0)
                return PyUnicode_FromKindAndData(PyUnicode_2BYTE_KIND, w, len);
            r = PyUnicode_New((Py_ssize_t)(len - npairs), 0x10ffff);
            if (!r)
                return NULL;
            out = PyUnicode_4BYTE_DATA(r);
            for (j = 0, k = 0; j < len; j++) {
                uint32_t c = w[j];
                if ((c & 0xfc00) == 0xd800 && j + 1 < len && (w[j + 1] & 0xfc00) == 0xdc00) {
                    c = 0x10000 + ((c - 0xd800) << 10) + (w[j + 1] - 0xdc00);
                    j++;
                }
                out[k++] = c;
            }
            return r;
        }
    }
}

/* Bytes a JS string takes as a Python str, about (for the conversion budget). */
size_t qjs_string_size(JSValueConst v)
{
    if (JS_VALUE_GET_TAG(v) == JS_TAG_STRING_ROPE) {
        JSStringRope *r = JS_VALUE_GET_STRING_ROPE(v);
        return (size_t)r->len << r->is_wide_char;
    }
    if (JS_VALUE_GET_TAG(v) == JS_TAG_STRING) {
        JSString *p = JS_VALUE_GET_STRING(v);
        return (size_t)p->len << p->is_wide_char;
    }
    return 0;
}

/* GIL held. Returns a new str, or NULL with a Python exception (JS errors while
   flattening a rope leave a JS exception pending and set MemoryError). */
PyObject *qjs_string_to_py(JSContext *ctx, JSValueConst v)
{
    PyObject *r;
    JSValue flat;
    if (JS_VALUE_GET_TAG(v) == JS_TAG_STRING)
        return qjs_jsstring_to_py(JS_VALUE_GET_STRING(v));
    flat = JS_ToString(ctx, v);
    if (JS_IsException(flat)) {
        /* flattening a rope needs memory past the runtime's limit */
        JS_FreeValue(ctx, JS_GetException(ctx));
        PyErr_SetString(qjs_memory_error ? qjs_memory_error : PyExc_MemoryError,
                        "out of memory reading a JS string");
        return NULL;
    }
    r = qjs_jsstring_to_py(JS_VALUE_GET_STRING(flat));
    JS_FreeValue(ctx, flat);
    return r;
}

/* GIL held. A new reference to the str of a string atom, cached per runtime. */
PyObject *qjs_atom_str(JSContext *ctx, qjs_rt *q, JSAtom atom)
{
    JSRuntime *rt = ctx->rt;
    qjs_atom_slot *slot;
    PyObject *str;
    if (__JS_AtomIsTaggedInt(atom))
        return PyUnicode_FromFormat("%u", (unsigned)__JS_AtomToUInt32(atom));
    slot = &q->atom_cache[(atom * 2654435761u) >> 24];
    if (slot->atom == atom && slot->str) {
        Py_INCREF(slot->str);
        return slot->str;
    }
    str = qjs_jsstring_to_py(rt->atom_array[atom]);
    if (!str)
        return NULL;
    if (slot->str) {
        Py_DECREF(slot->str);
        JS_FreeAtomRT(rt, slot->atom);
    }
    slot->atom = JS_DupAtomRT(rt, atom);
    slot->str = str;
    Py_INCREF(str);
    return str;
}

/* The own enumerable string-keyed properties of a plain object, read straight
   from its shape when they are all data properties and none is an array index
   (whose order JS defines differently). Atoms and values are duplicated into
   the arrays. Returns the count, -1 when the generic path is needed, or
   -2 - n when the arrays need room for n entries. Runs no JS. */
int qjs_plain_fast(JSContext *ctx, JSValueConst obj, JSAtom *atoms, JSValue *values,
                   uint32_t cap)
{
    JSObject *p = JS_VALUE_GET_OBJ(obj);
    JSShape *sh = p->shape;
    JSShapeProperty *prs = get_shape_prop(sh);
    uint32_t i, n = 0, idx;
    if ((uint32_t)sh->prop_count > cap)
        return -2 - sh->prop_count;
    for (i = 0; i < (uint32_t)sh->prop_count; i++, prs++) {
        JSAtom a = prs->atom;
        if (a == JS_ATOM_NULL || !(prs->flags & JS_PROP_ENUMERABLE))
            continue;
        if (__JS_AtomIsTaggedInt(a) || JS_AtomIsArrayIndex(ctx, &idx, a) ||
            (prs->flags & JS_PROP_TMASK) != JS_PROP_NORMAL) {
            while (n > 0) {
                n--;
                JS_FreeAtom(ctx, atoms[n]);
                JS_FreeValue(ctx, values[n]);
            }
            return -1;
        }
        if (JS_AtomGetKind(ctx, a) != JS_ATOM_KIND_STRING)
            continue;
        atoms[n] = JS_DupAtom(ctx, a);
        values[n] = js_dup(p->prop[i].u.value);
        n++;
    }
    return (int)n;
}

/* GIL held. JS_EXCEPTION with a Python exception set (encoding) or a JS
   exception pending (allocation): the caller tells them apart with
   PyErr_Occurred(). */
JSValue qjs_string_from_py(JSContext *ctx, PyObject *s)
{
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    if (len > JS_STRING_LEN_MAX) {
        PyErr_SetString(PyExc_ValueError, "string too long for JS");
        return JS_EXCEPTION;
    }
    if (kind == PyUnicode_1BYTE_KIND)
        return js_new_string8_len(ctx, (const char *)data, (int)len);
    if (kind == PyUnicode_2BYTE_KIND)
        return js_new_string16_len(ctx, (const uint16_t *)data, (int)len);
    {
        /* astral characters: UTF-16 with surrogate pairs */
        const Py_UCS4 *u = data;
        Py_ssize_t i, n = len;
        uint16_t *buf;
        JSValue r;
        for (i = 0; i < len; i++)
            n += u[i] > 0xffff;
        if (n > JS_STRING_LEN_MAX) {
            PyErr_SetString(PyExc_ValueError, "string too long for JS");
            return JS_EXCEPTION;
        }
        buf = PyMem_RawMalloc(n * 2);
        if (!buf) {
            PyErr_NoMemory();
            return JS_EXCEPTION;
        }
        for (i = 0, n = 0; i < len; i++) {
            Py_UCS4 c = u[i];
            if (c > 0xffff) {
                c -= 0x10000;
                buf[n++] = 0xd800 | (c >> 10);
                buf[n++] = 0xdc00 | (c & 0x3ff);
            } else {
                buf[n++] = c;
            }
        }
        r = js_new_string16_len(ctx, buf, (int)n);
        PyMem_RawFree(buf);
        return r;
    }
}

/* GIL held. */
PyObject *qjs_bigint_to_py(JSContext *ctx, JSValueConst v)
{
    JSBigInt *b;
    unsigned char *bytes;
    size_t n, i, k;
    PyObject *r;
    (void)ctx;
    if (JS_VALUE_GET_TAG(v) == JS_TAG_SHORT_BIG_INT)
        return PyLong_FromLongLong(JS_VALUE_GET_SHORT_BIG_INT(v));
    b = JS_VALUE_GET_PTR(v);
    n = (size_t)b->len * sizeof(js_limb_t);
    bytes = PyMem_Malloc(n);
    if (!bytes)
        return PyErr_NoMemory();
    for (i = 0; i < b->len; i++) {
        js_limb_t l = b->tab[i];
        for (k = 0; k < sizeof(js_limb_t); k++)
            bytes[i * sizeof(js_limb_t) + k] = (unsigned char)(l >> (8 * k));
    }
#if PY_VERSION_HEX >= 0x030D0000
    r = PyLong_FromNativeBytes(bytes, n, Py_ASNATIVEBYTES_LITTLE_ENDIAN);
#else
    r = _PyLong_FromByteArray(bytes, n, 1, 1);
#endif
    PyMem_Free(bytes);
    return r;
}

/* GIL held. JS_EXCEPTION with a Python exception or a pending JS one. */
JSValue qjs_bigint_from_py(JSContext *ctx, PyObject *n)
{
    size_t nbits = _PyLong_NumBits(n);
    size_t nlimbs, i, k, nbytes;
    unsigned char *bytes;
    JSBigInt *b;
    if (nbits == (size_t)-1 && PyErr_Occurred())
        return JS_EXCEPTION;
    nlimbs = (nbits + 1 + JS_LIMB_BITS - 1) / JS_LIMB_BITS;  /* +1: sign bit */
    if (nlimbs < 1)
        nlimbs = 1;
    if (nlimbs > JS_BIGINT_MAX_SIZE) {
        PyErr_Format(PyExc_OverflowError, "int too large for a JS BigInt (%zu bits, limit %d)",
                     nbits, JS_BIGINT_MAX_SIZE * JS_LIMB_BITS - 1);
        return JS_EXCEPTION;
    }
    nbytes = nlimbs * sizeof(js_limb_t);
    bytes = PyMem_Malloc(nbytes);
    if (!bytes) {
        PyErr_NoMemory();
        return JS_EXCEPTION;
    }
#if PY_VERSION_HEX >= 0x030D0000
    if (PyLong_AsNativeBytes(n, bytes, nbytes, Py_ASNATIVEBYTES_LITTLE_ENDIAN) < 0) {
#else
    if (_PyLong_AsByteArray((PyLongObject *)n, bytes, nbytes, 1, 1) < 0) {
#endif
        PyMem_Free(bytes);
        return JS_EXCEPTION;
    }
    b = js_bigint_new(ctx, (int)nlimbs);
    if (!b) {
        PyMem_Free(bytes);
        return JS_EXCEPTION;
    }
    for (i = 0; i < nlimbs; i++) {
        js_limb_t l = 0;
        for (k = 0; k < sizeof(js_limb_t); k++)
            l |= (js_limb_t)bytes[i * sizeof(js_limb_t) + k] << (8 * k);
        b->tab[i] = l;
    }
    PyMem_Free(bytes);
    b = js_bigint_normalize(ctx, b);
    return JS_CompactBigInt(ctx, b);
}

int qjs_date_value(JSContext *ctx, JSValueConst v, double *ms)
{
    return JS_ThisTimeValue(ctx, ms, v);
}

/* ------------------------------------------------------------ snapshot codec */

#include "qjs_snapshot.c"
/* ------------------------------------------------------------------- frames */

/* What the engine's stack held when a value was thrown: one entry per bytecode
   frame, innermost first. References only (dup'd values, converted to Python
   when asked for), so that a caught throw stays cheap. */
typedef struct qjs_cap_frame {
    JSValue func;             /* the frame's function object (has bytecode) */
    uint32_t pc;              /* offset after the current instruction, 0: unknown */
    uint32_t nvals;           /* values kept: arguments, variables, closure variables */
    int has_locals;           /* the frame's context captures locals */
    JSValue *vals;
} qjs_cap_frame;

typedef struct qjs_capture {
    uint32_t nframes;
    qjs_cap_frame frames[];   /* then the values of every frame */
} qjs_capture;

static JSFunctionBytecode *qjs_frame_bytecode(JSStackFrame *sf)
{
    JSObject *p;
    if (JS_VALUE_GET_TAG(sf->cur_func) != JS_TAG_OBJECT)
        return NULL;
    p = JS_VALUE_GET_OBJ(sf->cur_func);
    if (!js_class_has_bytecode(p->class_id))
        return NULL;
    return p->u.func.function_bytecode;
}

static int qjs_frame_captures_locals(JSFunctionBytecode *b)
{
    qjs_ctxstate *cs = b->realm ? JS_GetContextOpaque(b->realm) : NULL;
    return cs != NULL && cs->open && cs->capture_locals;
}

static uint32_t qjs_frame_nvals(JSFunctionBytecode *b)
{
    uint32_t n = (uint32_t)b->arg_count + b->var_count + b->closure_var_count;
    return n > QJS_CAPTURE_MAX_LOCALS ? QJS_CAPTURE_MAX_LOCALS : n;
}

static qjs_capture *qjs_capture_data(qjs_rt *q, JSValueConst cap)
{
    return JS_GetOpaque(cap, q->capture_class);
}

static void qjs_capture_finalizer(JSRuntime *rt, JSValueConst val)
{
    qjs_rt *q = JS_GetRuntimeOpaque(rt);
    qjs_capture *c = qjs_capture_data(q, val);
    uint32_t i, j;
    if (!c)
        return;
    for (i = 0; i < c->nframes; i++) {
        qjs_cap_frame *f = &c->frames[i];
        JS_FreeValueRT(rt, f->func);
        for (j = 0; j < f->nvals; j++)
            JS_FreeValueRT(rt, f->vals[j]);
    }
    js_free_rt(rt, c);
}

static void qjs_capture_mark(JSRuntime *rt, JSValueConst val, JS_MarkFunc *mark_func)
{
    qjs_rt *q = JS_GetRuntimeOpaque(rt);
    qjs_capture *c = qjs_capture_data(q, val);
    uint32_t i, j;
    if (!c)
        return;
    for (i = 0; i < c->nframes; i++) {
        qjs_cap_frame *f = &c->frames[i];
        JS_MarkValue(rt, f->func, mark_func);
        for (j = 0; j < f->nvals; j++)
            JS_MarkValue(rt, f->vals[j], mark_func);
    }
}

/* A capture of the frames from `top` outwards: JS_UNDEFINED if none is a
   bytecode frame, JS_EXCEPTION if the memory for it could not be had. */
static JSValue qjs_capture_build(JSContext *ctx, qjs_rt *q, JSStackFrame *top)
{
    JSRuntime *rt = q->rt;
    JSStackFrame *sf;
    JSFunctionBytecode *b;
    qjs_capture *c;
    JSValue obj, *vp;
    uint32_t nframes = 0, nvals = 0, i, k;

    for (sf = top; sf && nframes < QJS_CAPTURE_MAX_FRAMES; sf = sf->prev_frame) {
        if (!(b = qjs_frame_bytecode(sf)))
            continue;
        nframes++;
        if (qjs_frame_captures_locals(b))
            nvals += qjs_frame_nvals(b);
    }
    if (nframes == 0)
        return JS_UNDEFINED;
    c = js_malloc_rt(rt, sizeof(qjs_capture) + nframes * sizeof(qjs_cap_frame) +
                             nvals * sizeof(JSValue));
    if (!c)
        return JS_ThrowOutOfMemory(ctx);
    obj = JS_NewObjectProtoClass(ctx, JS_NULL, q->capture_class);
    if (JS_IsException(obj)) {
        js_free_rt(rt, c);
        return obj;
    }
    c->nframes = nframes;
    vp = (JSValue *)&c->frames[nframes];
    i = 0;
    for (sf = top; sf && i < nframes; sf = sf->prev_frame) {
        qjs_cap_frame *f;
        JSObject *p;
        uint32_t n, nargs, nvars;
        if (!(b = qjs_frame_bytecode(sf)))
            continue;
        p = JS_VALUE_GET_OBJ(sf->cur_func);
        f = &c->frames[i++];
        f->func = js_dup(sf->cur_func);
        f->pc = sf->cur_pc ? (uint32_t)(sf->cur_pc - b->byte_code_buf) : 0;
        f->has_locals = qjs_frame_captures_locals(b);
        f->nvals = 0;
        f->vals = vp;
        if (!f->has_locals)
            continue;
        n = qjs_frame_nvals(b);
        nargs = b->arg_count;
        nvars = b->var_count;
        for (k = 0; k < n; k++) {
            JSValue v;
            if (k < nargs) {
                v = sf->arg_buf ? sf->arg_buf[k] : JS_UNINITIALIZED;
            } else if (k < nargs + nvars) {
                v = sf->var_buf ? sf->var_buf[k - nargs] : JS_UNINITIALIZED;
            } else {
                JSVarRef *ref = p->u.func.var_refs ? p->u.func.var_refs[k - nargs - nvars] : NULL;
                v = ref && ref->pvalue ? *ref->pvalue : JS_UNINITIALIZED;
            }
            vp[k] = js_dup(v);
        }
        f->nvals = n;
        vp += n;
    }
    JS_SetOpaque(obj, c);
    return obj;
}

/* the capture attached to a thrown object, or NULL (runs no JS) */
static JSProperty *qjs_attached_capture(qjs_rt *q, JSValueConst exc, int *attachable)
{
    JSObject *p;
    JSProperty *pr;
    JSShapeProperty *prs;
    *attachable = 0;
    if (JS_VALUE_GET_TAG(exc) != JS_TAG_OBJECT || q->atom_frames == JS_ATOM_NULL)
        return NULL;
    p = JS_VALUE_GET_OBJ(exc);
    if ((p->class_id != JS_CLASS_ERROR && p->class_id != JS_CLASS_OBJECT) || p->is_exotic)
        return NULL;
    prs = find_own_property(&pr, p, q->atom_frames);
    if (prs && (prs->flags & JS_PROP_TMASK) == JS_PROP_NORMAL)
        return pr;
    *attachable = p->extensible;
    return NULL;
}

void qjs_capture_clear_last(qjs_rt *q)
{
    JSValue v = q->last_thrown, c = q->last_capture;
    q->last_thrown = JS_UNDEFINED;
    q->last_capture = JS_UNDEFINED;
    JS_FreeValueRT(q->rt, v);
    JS_FreeValueRT(q->rt, c);
}

/* Installed by JS_SetThrowHook (engine patch 0010): the pending exception has
   just left the bytecode frame rt->current_stack_frame. Runs no JS and leaves
   the pending exception as it was. */
static void qjs_throw_hook(JSContext *ctx, void *opaque)
{
    qjs_rt *q = opaque;
    JSRuntime *rt = q->rt;
    JSValue exc = rt->current_exception, cap;
    bool saved_oom = rt->null_exception_is_oom;
    int attachable;

    if (q->atom_frames == JS_ATOM_NULL || rt->in_out_of_memory ||
        JS_VALUE_GET_TAG(exc) == JS_TAG_UNINITIALIZED || JS_IsUncatchableError(exc) ||
        JS_IsOutOfMemoryError(ctx, exc))
        return;
    if (qjs_attached_capture(q, exc, &attachable))
        return;  /* a rethrow: the first capture stays */
    rt->current_exception = JS_UNINITIALIZED;
    cap = qjs_capture_build(ctx, q, rt->current_stack_frame);
    if (JS_VALUE_GET_TAG(cap) == JS_TAG_OBJECT) {
        if (attachable) {
            JS_DefinePropertyValue(ctx, exc, q->atom_frames, cap, 0);
        } else {
            qjs_capture_clear_last(q);
            q->last_thrown = js_dup(exc);
            q->last_capture = cap;
        }
    }
    JS_FreeValue(ctx, rt->current_exception);  /* a failure of the capture itself */
    rt->current_exception = exc;
    rt->null_exception_is_oom = saved_oom;
    rt->throw_hook_done = true;
}

int qjs_frames_init(JSContext *ctx, qjs_rt *q)
{
    JSValue sym;
    if (q->atom_frames != JS_ATOM_NULL)
        return 0;
    sym = JS_NewPrivateSymbol(ctx, "qjs.frames");
    if (JS_IsException(sym))
        return -1;
    q->atom_frames = JS_ValueToAtom(ctx, sym);
    JS_FreeValue(ctx, sym);
    JS_SetThrowHook(q->rt, qjs_throw_hook, q);
    return 0;
}

JSValue qjs_capture_of(JSContext *ctx, qjs_rt *q, JSValueConst exc)
{
    int attachable;
    JSProperty *pr = qjs_attached_capture(q, exc, &attachable);
    if (pr)
        return js_dup(pr->u.value);
    if (JS_VALUE_GET_TAG(q->last_capture) == JS_TAG_OBJECT &&
        js_same_value(ctx, exc, q->last_thrown))
        return js_dup(q->last_capture);
    return JS_UNDEFINED;
}

JSValue qjs_capture_now(JSContext *ctx, qjs_rt *q)
{
    return qjs_capture_build(ctx, q, q->rt->current_stack_frame);
}

PyObject *qjs_capture_info(JSContext *ctx, qjs_rt *q, JSValueConst cap)
{
    qjs_capture *c = qjs_capture_data(q, cap);
    PyObject *list, *item;
    uint32_t i;
    list = PyList_New(0);
    if (!list || !c)
        return list;
    for (i = 0; i < c->nframes; i++) {
        qjs_cap_frame *f = &c->frames[i];
        JSFunctionBytecode *b = JS_VALUE_GET_OBJ(f->func)->u.func.function_bytecode;
        const char *name = NULL;
        PyObject *pyname, *filename;
        int line, col;
        if (b->func_name != JS_ATOM__eval_)
            name = get_func_name(ctx, f->func);
        pyname = PyUnicode_DecodeUTF8(name ? name : "", name ? strlen(name) : 0, "replace");
        JS_FreeCString(ctx, name);
        if (JS_HasException(ctx))
            JS_FreeValue(ctx, JS_GetException(ctx));
        if (f->pc > 0) {
            line = find_line_num(ctx, b, f->pc - 1, &col);
        } else {
            line = b->line_num;
            col = b->col_num;
        }
        filename = b->filename != JS_ATOM_NULL ? qjs_atom_str(ctx, q, b->filename)
                                               : PyUnicode_FromString("");
        if (!pyname || !filename) {
            Py_XDECREF(pyname);
            Py_XDECREF(filename);
            Py_DECREF(list);
            return NULL;
        }
        item = Py_BuildValue("(NNiii)", pyname, filename, line, col, f->has_locals);
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    return list;
}

static int qjs_hidden_local(JSRuntime *rt, JSAtom name)
{
    const char *s;
    char buf[8];
    switch (name) {
    case JS_ATOM_NULL:
    case JS_ATOM_this:
    case JS_ATOM_new_target:
    case JS_ATOM_this_active_func:
    case JS_ATOM_home_object:
    case JS_ATOM_arguments:
        return 1;
    default:
        break;
    }
    if (__JS_AtomIsTaggedInt(name))
        return 1;
    s = JS_AtomGetStrRT(rt, buf, sizeof(buf), name);
    return s[0] == '<';  /* <ret>, <var>, <with>, ...: the compiler's own */
}

int qjs_capture_local(qjs_rt *q, JSValueConst cap, int fi, int i, JSAtom *name, JSValue *val)
{
    qjs_capture *c = qjs_capture_data(q, cap);
    qjs_cap_frame *f;
    JSFunctionBytecode *b;
    uint32_t k = (uint32_t)i;
    if (!c || fi < 0 || (uint32_t)fi >= c->nframes)
        return -1;
    f = &c->frames[fi];
    if (k >= f->nvals)
        return -1;
    b = JS_VALUE_GET_OBJ(f->func)->u.func.function_bytecode;
    if (k < (uint32_t)b->arg_count + b->var_count)
        *name = b->vardefs ? b->vardefs[k].var_name : JS_ATOM_NULL;
    else
        *name = b->closure_var ? b->closure_var[k - b->arg_count - b->var_count].var_name
                               : JS_ATOM_NULL;
    *val = f->vals[k];
    if (JS_VALUE_GET_TAG(*val) == JS_TAG_UNINITIALIZED || qjs_hidden_local(q->rt, *name))
        return 0;
    return k < (uint32_t)b->arg_count + b->var_count ? 1 : 2;
}

JSValueConst qjs_pending_exception(JSContext *ctx)
{
    return ctx->rt->current_exception;
}

/* ---------------------------------------------------------------- line hook */

static qjs_py_line_fn qjs_py_line = NULL;

void qjs_set_line_callback(qjs_py_line_fn fn)
{
    qjs_py_line = fn;
}

static int qjs_line_trampoline(JSContext *ctx, JSAtom filename, uint32_t line, void *opaque)
{
    qjs_rt *q = opaque;
    int r, prev;
    qjs_hold_gil(q);
    /* Python runs now: JS it triggers must not drop the GIL under it */
    prev = q->may_release;
    q->may_release = 0;
    r = qjs_py_line(q, ctx, filename, (int)line);
    q->may_release = prev;
    return r;
}

void qjs_set_line_hook(qjs_rt *q, int on)
{
    JS_SetLineHook(q->rt, on ? qjs_line_trampoline : NULL, q);
}
