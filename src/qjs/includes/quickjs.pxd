# Mirror of vendor/quickjs-ng/quickjs.h: the part the binding uses, in header
# order, upstream names. JSValue is opaque (a struct, or a NaN-boxed uint64_t on
# 32-bit builds): only the API's functions and macros touch it. JSValueConst is
# kept distinct because it records that the callee does not take ownership.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "quickjs.h" nogil:
    ctypedef struct JSRuntime:
        pass
    ctypedef struct JSContext:
        pass
    ctypedef uint32_t JSClassID
    ctypedef uint32_t JSAtom

    enum:
        JS_TAG_BIG_INT
        JS_TAG_SYMBOL
        JS_TAG_STRING
        JS_TAG_STRING_ROPE
        JS_TAG_OBJECT
        JS_TAG_INT
        JS_TAG_BOOL
        JS_TAG_NULL
        JS_TAG_UNDEFINED
        JS_TAG_UNINITIALIZED
        JS_TAG_EXCEPTION
        JS_TAG_SHORT_BIG_INT
        JS_TAG_FLOAT64

    ctypedef struct JSValue:
        pass
    ctypedef JSValue JSValueConst

    int JS_VALUE_GET_TAG(JSValueConst v)
    int JS_VALUE_GET_NORM_TAG(JSValueConst v)
    int JS_VALUE_GET_INT(JSValueConst v)
    int JS_VALUE_GET_BOOL(JSValueConst v)
    double JS_VALUE_GET_FLOAT64(JSValueConst v)
    void *JS_VALUE_GET_PTR(JSValueConst v)
    bint JS_VALUE_HAS_REF_COUNT(JSValueConst v)

    JSValue JS_NULL
    JSValue JS_UNDEFINED
    JSValue JS_FALSE
    JSValue JS_TRUE
    JSValue JS_EXCEPTION
    JSValue JS_UNINITIALIZED

    enum:
        JS_PROP_CONFIGURABLE
        JS_PROP_WRITABLE
        JS_PROP_ENUMERABLE
        JS_PROP_C_W_E
        JS_PROP_THROW

    enum:
        JS_EVAL_TYPE_GLOBAL
        JS_EVAL_TYPE_MODULE
        JS_EVAL_FLAG_STRICT
        JS_EVAL_FLAG_COMPILE_ONLY
        JS_EVAL_FLAG_BACKTRACE_BARRIER
        JS_EVAL_FLAG_ASYNC

    JSRuntime *JS_NewRuntime()
    void JS_SetMemoryLimit(JSRuntime *rt, size_t limit)
    size_t JS_GetGCThreshold(JSRuntime *rt)
    void JS_SetGCThreshold(JSRuntime *rt, size_t gc_threshold)
    void JS_SetMaxStackSize(JSRuntime *rt, size_t stack_size)
    void JS_UpdateStackTop(JSRuntime *rt)
    void JS_FreeRuntime(JSRuntime *rt)
    void *JS_GetRuntimeOpaque(JSRuntime *rt)
    void JS_SetRuntimeOpaque(JSRuntime *rt, void *opaque)
    void JS_RunGC(JSRuntime *rt)
    bint JS_IsLiveObject(JSRuntime *rt, JSValueConst obj)

    JSContext *JS_NewContext(JSRuntime *rt)
    void JS_FreeContext(JSContext *s)
    void *JS_GetContextOpaque(JSContext *ctx)
    void JS_SetContextOpaque(JSContext *ctx, void *opaque)
    JSRuntime *JS_GetRuntime(JSContext *ctx)

    bint JS_IsStrictEqual(JSContext *ctx, JSValueConst op1, JSValueConst op2)
    bint JS_IsSameValue(JSContext *ctx, JSValueConst op1, JSValueConst op2)

    ctypedef struct JSMemoryUsage:
        int64_t malloc_size, malloc_limit, memory_used_size
        int64_t malloc_count
        int64_t memory_used_count
        int64_t atom_count, atom_size
        int64_t str_count, str_size
        int64_t obj_count, obj_size
        int64_t prop_count, prop_size
        int64_t shape_count, shape_size
        int64_t js_func_count, js_func_size, js_func_code_size
        int64_t js_func_pc2line_count, js_func_pc2line_size
        int64_t c_func_count, array_count
        int64_t fast_array_count, fast_array_elements
        int64_t binary_object_count, binary_object_size
    void JS_ComputeMemoryUsage(JSRuntime *rt, JSMemoryUsage *s)

    JSAtom JS_ATOM_NULL
    JSAtom JS_NewAtomLen(JSContext *ctx, const char *str, size_t len)
    JSAtom JS_NewAtomUInt32(JSContext *ctx, uint32_t n)
    JSAtom JS_DupAtom(JSContext *ctx, JSAtom v)
    void JS_FreeAtom(JSContext *ctx, JSAtom v)
    void JS_FreeAtomRT(JSRuntime *rt, JSAtom v)
    JSValue JS_AtomToString(JSContext *ctx, JSAtom atom)
    JSAtom JS_ValueToAtom(JSContext *ctx, JSValueConst val)

    ctypedef struct JSPropertyEnum:
        bint is_enumerable
        JSAtom atom

    JSClassID JS_GetClassID(JSValueConst v)

    JSValue JS_NewBool(JSContext *ctx, bint val)
    JSValue JS_NewInt32(JSContext *ctx, int32_t val)
    JSValue JS_NewFloat64(JSContext *ctx, double val)
    JSValue JS_NewInt64(JSContext *ctx, int64_t val)
    JSValue JS_NewNumber(JSContext *ctx, double d)
    JSValue JS_NewBigInt64(JSContext *ctx, int64_t v)
    bint JS_IsNumber(JSValueConst v)
    bint JS_IsBigInt(JSValueConst v)
    bint JS_IsBool(JSValueConst v)
    bint JS_IsNull(JSValueConst v)
    bint JS_IsUndefined(JSValueConst v)
    bint JS_IsException(JSValueConst v)
    bint JS_IsUninitialized(JSValueConst v)
    bint JS_IsString(JSValueConst v)
    bint JS_IsSymbol(JSValueConst v)
    bint JS_IsObject(JSValueConst v)

    JSValue JS_Throw(JSContext *ctx, JSValue obj)
    JSValue JS_GetException(JSContext *ctx)
    bint JS_HasException(JSContext *ctx)
    bint JS_IsError(JSValueConst val)
    bint JS_IsUncatchableError(JSValueConst val)
    void JS_SetUncatchableError(JSContext *ctx, JSValueConst val)
    void JS_ClearUncatchableError(JSContext *ctx, JSValueConst val)
    JSValue JS_NewError(JSContext *ctx)
    JSValue JS_ThrowTypeError(JSContext *ctx, const char *fmt, ...)
    JSValue JS_ThrowRangeError(JSContext *ctx, const char *fmt, ...)
    JSValue JS_ThrowInternalError(JSContext *ctx, const char *fmt, ...)
    JSValue JS_ThrowOutOfMemory(JSContext *ctx)
    void js_free(JSContext *ctx, void *ptr)
    void JS_FreeValue(JSContext *ctx, JSValue v)
    void JS_FreeValueRT(JSRuntime *rt, JSValue v)
    JSValue JS_DupValue(JSContext *ctx, JSValueConst v)
    JSValue JS_DupValueRT(JSRuntime *rt, JSValueConst v)
    int JS_ToBool(JSContext *ctx, JSValueConst val)
    int JS_ToFloat64(JSContext *ctx, double *pres, JSValueConst val)
    JSValue JS_NewStringLen(JSContext *ctx, const char *str1, size_t len1)
    JSValue JS_ToString(JSContext *ctx, JSValueConst val)
    const char *JS_ToCStringLen(JSContext *ctx, size_t *plen, JSValueConst val1)
    void JS_FreeCString(JSContext *ctx, const char *ptr)

    JSValue JS_NewObjectProto(JSContext *ctx, JSValueConst proto)
    JSValue JS_NewObject(JSContext *ctx)
    bint JS_IsFunction(JSContext *ctx, JSValueConst val)
    bint JS_IsConstructor(JSContext *ctx, JSValueConst val)
    bint JS_IsRegExp(JSValueConst val)
    bint JS_IsMap(JSValueConst val)
    bint JS_IsSet(JSValueConst val)
    JSValue JS_NewArray(JSContext *ctx)
    JSValue JS_NewArrayFrom(JSContext *ctx, int count, const JSValue *values)
    bint JS_IsArray(JSValueConst val)
    bint JS_IsProxy(JSValueConst val)
    JSValue JS_GetProxyTarget(JSContext *ctx, JSValueConst proxy)
    JSValue JS_NewDate(JSContext *ctx, double epoch_ms)
    bint JS_IsDate(JSValueConst v)

    JSValue JS_GetProperty(JSContext *ctx, JSValueConst this_obj, JSAtom prop)
    JSValue JS_GetPropertyUint32(JSContext *ctx, JSValueConst this_obj, uint32_t idx)
    JSValue JS_GetPropertyInt64(JSContext *ctx, JSValueConst this_obj, int64_t idx)
    JSValue JS_GetPropertyStr(JSContext *ctx, JSValueConst this_obj, const char *prop)
    int JS_SetProperty(JSContext *ctx, JSValueConst this_obj, JSAtom prop, JSValue val)
    int JS_HasProperty(JSContext *ctx, JSValueConst this_obj, JSAtom prop)
    int JS_DeleteProperty(JSContext *ctx, JSValueConst obj, JSAtom prop, int flags)
    JSValue JS_GetPrototype(JSContext *ctx, JSValueConst val)

    enum:
        JS_GPN_STRING_MASK
        JS_GPN_SYMBOL_MASK
        JS_GPN_ENUM_ONLY
    int JS_GetOwnPropertyNames(JSContext *ctx, JSPropertyEnum **ptab, uint32_t *plen,
                               JSValueConst obj, int flags)
    void JS_FreePropertyEnum(JSContext *ctx, JSPropertyEnum *tab, uint32_t len)

    JSValue JS_Call(JSContext *ctx, JSValueConst func_obj, JSValueConst this_obj,
                    int argc, JSValueConst *argv)
    JSValue JS_Invoke(JSContext *ctx, JSValueConst this_val, JSAtom atom,
                      int argc, JSValueConst *argv)
    JSValue JS_Eval(JSContext *ctx, const char *input, size_t input_len,
                    const char *filename, int eval_flags)
    JSValue JS_GetGlobalObject(JSContext *ctx)
    int JS_DefinePropertyValue(JSContext *ctx, JSValueConst this_obj, JSAtom prop,
                               JSValue val, int flags)
    int JS_DefinePropertyValueStr(JSContext *ctx, JSValueConst this_obj, const char *prop,
                                  JSValue val, int flags)

    JSValue JS_NewArrayBufferCopy(JSContext *ctx, const uint8_t *buf, size_t len)
    uint8_t *JS_GetArrayBuffer(JSContext *ctx, size_t *psize, JSValueConst obj)
    uint8_t *JS_GetUint8Array(JSContext *ctx, size_t *psize, JSValueConst obj)
    JSValue JS_NewUint8ArrayCopy(JSContext *ctx, const uint8_t *buf, size_t len)

    ctypedef enum JSPromiseStateEnum:
        JS_PROMISE_NOT_A_PROMISE
        JS_PROMISE_PENDING
        JS_PROMISE_FULFILLED
        JS_PROMISE_REJECTED
    JSValue JS_NewPromiseCapability(JSContext *ctx, JSValue *resolving_funcs)
    JSValue JS_PromiseThen(JSContext *ctx, JSValueConst promise, JSValueConst on_fulfilled,
                           JSValueConst on_rejected)
    JSPromiseStateEnum JS_PromiseState(JSContext *ctx, JSValueConst promise)
    JSValue JS_PromiseResult(JSContext *ctx, JSValueConst promise)
    bint JS_IsPromise(JSValueConst val)
    void JS_PromiseMarkAsHandled(JSContext *ctx, JSValueConst promise)

    JSValue JS_NewPrivateSymbol(JSContext *ctx, const char *description)

    ctypedef JSValue JSCFunction(JSContext *ctx, JSValueConst this_val, int argc,
                                 JSValueConst *argv) noexcept
    JSValue JS_NewCFunction(JSContext *ctx, JSCFunction *func, const char *name, int length)

    ctypedef void JSHostPromiseRejectionTracker(JSContext *ctx, JSValueConst promise,
                                                JSValueConst reason, bint is_handled,
                                                void *opaque)
    void JS_SetHostPromiseRejectionTracker(JSRuntime *rt, JSHostPromiseRejectionTracker *cb,
                                           void *opaque)

    ctypedef struct JSModuleDef:
        pass
    JSValue JS_GetModuleNamespace(JSContext *ctx, JSModuleDef *m)
    void *js_malloc(JSContext *ctx, size_t size)

    bint JS_IsJobPending(JSRuntime *rt)
    int JS_ExecutePendingJob(JSRuntime *rt, JSContext **pctx)

    enum:
        JS_WRITE_OBJ_BYTECODE
        JS_WRITE_OBJ_REFERENCE
        JS_READ_OBJ_BYTECODE
        JS_READ_OBJ_REFERENCE
    uint8_t *JS_WriteObject(JSContext *ctx, size_t *psize, JSValueConst obj, int flags)
    JSValue JS_ReadObject(JSContext *ctx, const uint8_t *buf, size_t buf_len, int flags)
    JSValue JS_EvalFunction(JSContext *ctx, JSValue fun_obj)
    int JS_ResolveModule(JSContext *ctx, JSValueConst obj)

    ctypedef JSValue JSCFunction(JSContext *ctx, JSValueConst this_val, int argc,
                                 JSValueConst *argv) noexcept nogil
    JSValue JS_NewCFunction(JSContext *ctx, JSCFunction *func, const char *name, int length)

    const char *JS_GetVersion()
