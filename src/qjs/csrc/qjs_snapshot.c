/*
 * qjs's own snapshot codec (Context.dumps / Context.loads): format 2.
 *
 * Included at the end of qjs_engine.c (it reads engine internals: shapes, map
 * records, typed arrays). The format is qjs's, not the engine's, and is
 * specified in docs/snapshot-format.md; it does not change with the engine.
 *
 * Both directions are iterative: an explicit work stack on the heap (allocated
 * through the context, so it counts against the memory limit), never recursion
 * on the C stack. Neither direction runs JS code or Python code: the encoder
 * reads object internals (no getters, no proxies), the decoder builds objects
 * through internal constructors that ignore anything JS may have changed on
 * the global object.
 *
 * The decoder is written for hostile input: every tag, length, count, index and
 * reference is checked before use, every count is bounded by the bytes left,
 * references resolve only to objects already created by this decoder (a slot
 * still being built resolves to an error), and every object created is owned by
 * the decoder's table until the end, so nothing a later record does can free
 * something still in use.
 */

#define QJS_SNAP_MAX_DEPTH 100000
#define QJS_SNAP_POLL_EVERY 4096

enum {
    QJS_SNAP_UNDEFINED = '_',
    QJS_SNAP_NULL = 'N',
    QJS_SNAP_FALSE = 'F',
    QJS_SNAP_TRUE = 'T',
    QJS_SNAP_INT = 'i',
    QJS_SNAP_FLOAT = 'd',
    QJS_SNAP_BIGINT = 'n',
    QJS_SNAP_STR8 = 's',
    QJS_SNAP_STR16 = 'u',
    QJS_SNAP_REF = 'r',
    QJS_SNAP_OBJECT = 'o',
    QJS_SNAP_ARRAY = 'a',
    QJS_SNAP_MAP = 'M',
    QJS_SNAP_SET = 'S',
    QJS_SNAP_DATE = 'D',
    QJS_SNAP_REGEXP = 'R',
    QJS_SNAP_BUFFER = 'B',
    QJS_SNAP_VIEW = 'V',
    QJS_SNAP_ERROR = 'E',
    QJS_SNAP_BOXED = 'b',
};

/* view kinds: qjs's numbering, independent of the engine's class ids */
static const uint16_t qjs_snap_view_class[] = {
    JS_CLASS_INT8_ARRAY, JS_CLASS_UINT8_ARRAY, JS_CLASS_UINT8C_ARRAY,
    JS_CLASS_INT16_ARRAY, JS_CLASS_UINT16_ARRAY, JS_CLASS_INT32_ARRAY,
    JS_CLASS_UINT32_ARRAY, JS_CLASS_FLOAT16_ARRAY, JS_CLASS_FLOAT32_ARRAY,
    JS_CLASS_FLOAT64_ARRAY, JS_CLASS_BIG_INT64_ARRAY, JS_CLASS_BIG_UINT64_ARRAY,
    JS_CLASS_DATAVIEW,
};
#define QJS_SNAP_VIEW_KINDS ((int)countof(qjs_snap_view_class))

/* error kinds: 0 is Error, then the native errors by name */
static const int8_t qjs_snap_error_native[] = {
    -1, JS_EVAL_ERROR, JS_RANGE_ERROR, JS_REFERENCE_ERROR, JS_SYNTAX_ERROR,
    JS_TYPE_ERROR, JS_URI_ERROR, JS_INTERNAL_ERROR, JS_AGGREGATE_ERROR,
    JS_SUPPRESSED_ERROR,
};
#define QJS_SNAP_ERROR_KINDS ((int)countof(qjs_snap_error_native))

/* The deadline (and a close) without running any Python or JS code: the
 * codec holds raw pointers into objects between steps. */
static int qjs_snap_poll(JSContext *ctx)
{
    qjs_rt *q = JS_GetRuntimeOpaque(JS_GetRuntime(ctx));
    if (q == NULL)
        return 0;
    if (!q->interrupt) {
        if (q->closing)
            q->interrupt = q->last_interrupt = QJS_INT_CLOSED;
        else if (q->deadline > 0 && qjs_now() >= q->deadline)
            q->interrupt = q->last_interrupt = QJS_INT_TIMEOUT;
    }
    if (q->interrupt) {
        JS_ThrowInterrupted(ctx);
        return -1;
    }
    return 0;
}

/* ================================================================ encoder */

enum { QJS_ENC_PROPS, QJS_ENC_DENSE, QJS_ENC_MAP, QJS_ENC_SET };

typedef struct {
    JSObject *p;
    uint8_t kind;
    uint8_t map_value;   /* QJS_ENC_MAP: the value of the current record is next */
    uint8_t is_array;    /* QJS_ENC_DENSE, then QJS_ENC_PROPS of an array */
    uint32_t i;          /* next shape property / dense element */
    uint32_t n;          /* records visited (Map/Set) */
    uint32_t nprops;     /* properties of an array, written after its elements */
    JSMapRecord *mr;     /* current record (holds a reference) */
    /* the child being visited, for error paths */
    int cur_kind;        /* 0 none, 1 atom, 2 index, 3 map key, 4 map value, 5 set item */
    JSAtom cur_atom;
    uint32_t cur_index;
} qjs_enc_frame;

typedef struct {
    JSContext *ctx;
    DynBuf out;
    JSObjectList seen;
    qjs_enc_frame *stack;
    int depth, size;
    const char *why;
    uint32_t steps;
} qjs_enc;

static void qjs_enc_varint(qjs_enc *e, uint64_t v)
{
    uint8_t b[10];
    int n = 0;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        b[n++] = c | (v ? 0x80 : 0);
    } while (v);
    dbuf_put(&e->out, b, n);
}

static void qjs_enc_float(qjs_enc *e, double d)
{
    uint64_t u;
    uint8_t b[8];
    int i;
    memcpy(&u, &d, 8);
    for (i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    dbuf_put(&e->out, b, 8);
}

static void qjs_enc_jsstring(qjs_enc *e, JSString *p)
{
    uint32_t i, n = p->len;
    if (!p->is_wide_char) {
        dbuf_putc(&e->out, QJS_SNAP_STR8);
        qjs_enc_varint(e, n);
        dbuf_put(&e->out, str8(p), n);
    } else {
        const uint16_t *s = str16(p);
        dbuf_putc(&e->out, QJS_SNAP_STR16);
        qjs_enc_varint(e, n);
        for (i = 0; i < n; i++) {
            uint8_t b[2] = { (uint8_t)s[i], (uint8_t)(s[i] >> 8) };
            dbuf_put(&e->out, b, 2);
        }
    }
}

/* a string value (flat or rope); -1 with a pending exception */
static int qjs_enc_string(qjs_enc *e, JSValueConst v)
{
    if (JS_VALUE_GET_TAG(v) == JS_TAG_STRING) {
        qjs_enc_jsstring(e, JS_VALUE_GET_STRING(v));
        return 0;
    } else {
        /* a rope: flatten it (JS_ToString builds a flat string, iteratively) */
        JSValue s = JS_ToString(e->ctx, v);
        if (JS_IsException(s))
            return -1;
        if (JS_VALUE_GET_TAG(s) != JS_TAG_STRING) {
            JS_FreeValue(e->ctx, s);
            JS_ThrowInternalError(e->ctx, "could not flatten a string");
            return -1;
        }
        qjs_enc_jsstring(e, JS_VALUE_GET_STRING(s));
        JS_FreeValue(e->ctx, s);
        return 0;
    }
}

static void qjs_enc_key(qjs_enc *e, JSAtom atom)
{
    if (__JS_AtomIsTaggedInt(atom)) {
        char buf[16];
        int n = snprintf(buf, sizeof(buf), "%u", (unsigned)__JS_AtomToUInt32(atom));
        dbuf_putc(&e->out, QJS_SNAP_STR8);
        qjs_enc_varint(e, n);
        dbuf_put(&e->out, (uint8_t *)buf, n);
    } else {
        qjs_enc_jsstring(e, e->ctx->rt->atom_array[atom]);
    }
}

static void qjs_enc_bigint(qjs_enc *e, JSValueConst v)
{
    js_limb_t small[2];
    const js_limb_t *tab;
    js_limb_t *mag;
    uint32_t len, i;
    int neg, nbytes;
    if (JS_VALUE_GET_TAG(v) == JS_TAG_SHORT_BIG_INT) {
        int64_t a = JS_VALUE_GET_SHORT_BIG_INT(v);
        small[0] = (js_limb_t)a;
        len = 1;
        tab = small;
    } else {
        JSBigInt *b = JS_VALUE_GET_PTR(v);
        len = b->len;
        tab = b->tab;
    }
    neg = (tab[len - 1] >> (JS_LIMB_BITS - 1)) & 1;
    mag = js_malloc(e->ctx, sizeof(js_limb_t) * len);
    if (!mag) {
        e->out.error = true;
        return;
    }
    if (neg) {
        /* two's complement negation */
        js_limb_t carry = 1;
        for (i = 0; i < len; i++) {
            js_limb_t x = ~tab[i] + carry;
            carry = carry && x == 0;
            mag[i] = x;
        }
    } else {
        memcpy(mag, tab, sizeof(js_limb_t) * len);
    }
    nbytes = len * (JS_LIMB_BITS / 8);
    while (nbytes > 0 && ((mag[(nbytes - 1) / (JS_LIMB_BITS / 8)] >>
                           (8 * ((nbytes - 1) % (JS_LIMB_BITS / 8)))) & 0xff) == 0)
        nbytes--;
    dbuf_putc(&e->out, QJS_SNAP_BIGINT);
    dbuf_putc(&e->out, neg && nbytes ? 1 : 0);
    qjs_enc_varint(e, nbytes);
    for (i = 0; i < (uint32_t)nbytes; i++)
        dbuf_putc(&e->out, (uint8_t)(mag[i / (JS_LIMB_BITS / 8)] >>
                                     (8 * (i % (JS_LIMB_BITS / 8)))));
    js_free(e->ctx, mag);
}

static double qjs_snap_number(JSValueConst v)
{
    if (JS_VALUE_GET_TAG(v) == JS_TAG_INT)
        return JS_VALUE_GET_INT(v);
    if (JS_VALUE_GET_TAG(v) == JS_TAG_FLOAT64)
        return JS_VALUE_GET_FLOAT64(v);
    return NAN;
}

/* an own data property of p holding a string, or NULL */
static JSValueConst *qjs_enc_own_string(JSObject *p, JSAtom atom)
{
    JSShapeProperty *prs;
    JSProperty *pr;
    prs = find_own_property(&pr, p, atom);
    if (!prs || (prs->flags & JS_PROP_TMASK) != JS_PROP_NORMAL)
        return NULL;
    if (!JS_IsString(pr->u.value))
        return NULL;
    return &pr->u.value;
}

static qjs_enc_frame *qjs_enc_push(qjs_enc *e, JSObject *p, int kind)
{
    qjs_enc_frame *f;
    if (e->depth >= QJS_SNAP_MAX_DEPTH) {
        e->why = "nesting deeper than 100000 levels";
        return NULL;
    }
    if (e->depth >= e->size) {
        int n = e->size ? e->size * 2 : 32;
        qjs_enc_frame *s = js_realloc(e->ctx, e->stack, sizeof(*s) * n);
        if (!s)
            return NULL;
        e->stack = s;
        e->size = n;
    }
    f = &e->stack[e->depth++];
    memset(f, 0, sizeof(*f));
    f->p = p;
    f->kind = kind;
    return f;
}

/* Count the enumerable own string-keyed data properties of p, or -1 (with
 * e->why and the key in the top frame's cur) for a symbol key or an accessor. */
static int64_t qjs_enc_count_props(qjs_enc *e, JSObject *p, qjs_enc_frame *f)
{
    JSShape *sh = p->shape;
    JSShapeProperty *prs = get_shape_prop(sh);
    int64_t n = 0;
    uint32_t i;
    for (i = 0; i < (uint32_t)sh->prop_count; i++, prs++) {
        JSAtom a = prs->atom;
        if (a == JS_ATOM_NULL || !(prs->flags & JS_PROP_ENUMERABLE))
            continue;
        if (p->class_id == JS_CLASS_ARRAY && a == JS_ATOM_length)
            continue;
        f->cur_kind = 1;
        f->cur_atom = a;
        if (JS_AtomGetKind(e->ctx, a) == JS_ATOM_KIND_SYMBOL) {
            e->why = "a symbol-keyed property";
            return -1;
        }
        if ((prs->flags & JS_PROP_TMASK) != JS_PROP_NORMAL) {
            e->why = "an accessor property";
            return -1;
        }
        n++;
    }
    f->cur_kind = 0;
    return n;
}

static int qjs_enc_error_kind(JSContext *ctx, JSObject *p)
{
    JSObject *proto = p->shape->proto;
    int i, steps;
    for (steps = 0; proto && steps < 64; steps++, proto = proto->shape->proto) {
        if (proto == JS_VALUE_GET_OBJ(ctx->class_proto[JS_CLASS_ERROR]))
            return 0;
        for (i = 1; i < QJS_SNAP_ERROR_KINDS; i++)
            if (proto == JS_VALUE_GET_OBJ(ctx->native_error_proto[qjs_snap_error_native[i]]))
                return i;
    }
    return 0;
}

/* Write one value. An object seen before is a reference; a new container
 * gets a frame (its contents follow). -1: e->why set (unsupported value) or
 * an exception pending (memory, deadline). */
static int qjs_enc_value(qjs_enc *e, JSValueConst v)
{
    JSContext *ctx = e->ctx;
    JSObject *p;
    qjs_enc_frame *f;
    int idx;
    int64_t n;

    switch (JS_VALUE_GET_TAG(v)) {
    case JS_TAG_UNDEFINED:
        dbuf_putc(&e->out, QJS_SNAP_UNDEFINED);
        return 0;
    case JS_TAG_NULL:
        dbuf_putc(&e->out, QJS_SNAP_NULL);
        return 0;
    case JS_TAG_BOOL:
        dbuf_putc(&e->out, JS_VALUE_GET_BOOL(v) ? QJS_SNAP_TRUE : QJS_SNAP_FALSE);
        return 0;
    case JS_TAG_INT: {
        int32_t i = JS_VALUE_GET_INT(v);
        dbuf_putc(&e->out, QJS_SNAP_INT);
        qjs_enc_varint(e, ((uint32_t)i << 1) ^ (uint32_t)(i >> 31));
        return 0;
    }
    case JS_TAG_FLOAT64:
        dbuf_putc(&e->out, QJS_SNAP_FLOAT);
        qjs_enc_float(e, JS_VALUE_GET_FLOAT64(v));
        return 0;
    case JS_TAG_SHORT_BIG_INT:
    case JS_TAG_BIG_INT:
        qjs_enc_bigint(e, v);
        return 0;
    case JS_TAG_STRING:
    case JS_TAG_STRING_ROPE:
        return qjs_enc_string(e, v);
    case JS_TAG_SYMBOL:
        e->why = "a symbol";
        return -1;
    case JS_TAG_OBJECT:
        break;
    default:
        e->why = "a value of an unsupported type";
        return -1;
    }

    p = JS_VALUE_GET_OBJ(v);
    idx = js_object_list_find(ctx, &e->seen, p);
    if (idx >= 0) {
        dbuf_putc(&e->out, QJS_SNAP_REF);
        qjs_enc_varint(e, (uint32_t)idx);
        return 0;
    }
    switch (p->class_id) {
    case JS_CLASS_OBJECT: case JS_CLASS_ARRAY: case JS_CLASS_ERROR:
    case JS_CLASS_MAP: case JS_CLASS_SET: case JS_CLASS_DATE: case JS_CLASS_REGEXP:
    case JS_CLASS_ARRAY_BUFFER: case JS_CLASS_NUMBER: case JS_CLASS_STRING:
    case JS_CLASS_BOOLEAN: case JS_CLASS_BIG_INT: case JS_CLASS_DATAVIEW:
        break;
    default:
        if (is_typed_array(p->class_id))
            break;
        if (JS_IsFunction(ctx, v))
            e->why = "a function";
        else if (p->class_id == JS_CLASS_PROXY)
            e->why = "a Proxy";
        else
            e->why = "an object of an unsupported class (only plain objects, arrays, Map, "
                     "Set, Date, RegExp, Error, ArrayBuffer, typed arrays, DataView and "
                     "primitive wrappers)";
        return -1;
    }
    if (js_object_list_add(ctx, &e->seen, p))
        return -1;

    switch (p->class_id) {
    case JS_CLASS_OBJECT:
        if (!(f = qjs_enc_push(e, p, QJS_ENC_PROPS)))
            return -1;
        if ((n = qjs_enc_count_props(e, p, f)) < 0)
            return -1;
        dbuf_putc(&e->out, QJS_SNAP_OBJECT);
        qjs_enc_varint(e, n);
        return 0;
    case JS_CLASS_ARRAY: {
        uint32_t len = 0, dense;
        JSValue lv = p->prop[0].u.value;   /* an array's first property is its length */
        if (JS_VALUE_GET_TAG(lv) == JS_TAG_INT)
            len = (uint32_t)JS_VALUE_GET_INT(lv);
        else if (JS_VALUE_GET_TAG(lv) == JS_TAG_FLOAT64)
            len = (uint32_t)JS_VALUE_GET_FLOAT64(lv);
        dense = p->fast_array ? p->u.array.count : 0;
        if (!(f = qjs_enc_push(e, p, QJS_ENC_DENSE)))
            return -1;
        f->is_array = 1;
        if ((n = qjs_enc_count_props(e, p, f)) < 0)
            return -1;
        f->nprops = (uint32_t)n;
        dbuf_putc(&e->out, QJS_SNAP_ARRAY);
        qjs_enc_varint(e, len);
        qjs_enc_varint(e, dense);
        return 0;
    }
    case JS_CLASS_ERROR: {
        JSValueConst *msg = qjs_enc_own_string(p, JS_ATOM_message);
        JSValueConst stack = p->u.object_data;
        int flags = (msg ? 1 : 0) | (JS_IsString(stack) ? 2 : 0);
        if (!(f = qjs_enc_push(e, p, QJS_ENC_PROPS)))
            return -1;
        if ((n = qjs_enc_count_props(e, p, f)) < 0)
            return -1;
        dbuf_putc(&e->out, QJS_SNAP_ERROR);
        dbuf_putc(&e->out, qjs_enc_error_kind(ctx, p));
        dbuf_putc(&e->out, flags);
        if (msg && qjs_enc_string(e, *msg))
            return -1;
        if ((flags & 2) && qjs_enc_string(e, stack))
            return -1;
        qjs_enc_varint(e, n);
        return 0;
    }
    case JS_CLASS_MAP:
    case JS_CLASS_SET: {
        JSMapState *s = p->u.map_state;
        if (!(f = qjs_enc_push(e, p, p->class_id == JS_CLASS_MAP ? QJS_ENC_MAP : QJS_ENC_SET)))
            return -1;
        dbuf_putc(&e->out, p->class_id == JS_CLASS_MAP ? QJS_SNAP_MAP : QJS_SNAP_SET);
        qjs_enc_varint(e, s->record_count);
        f->mr = NULL;   /* before the first record */
        return 0;
    }
    case JS_CLASS_DATE:
        dbuf_putc(&e->out, QJS_SNAP_DATE);
        qjs_enc_float(e, qjs_snap_number(p->u.object_data));
        return 0;
    case JS_CLASS_REGEXP: {
        JSRegExp *re = &p->u.regexp;
        int fl = lre_get_flags(str8(re->bytecode));
        char flags[16], *q = flags;
        if (fl & LRE_FLAG_INDICES) *q++ = 'd';
        if (fl & LRE_FLAG_GLOBAL) *q++ = 'g';
        if (fl & LRE_FLAG_IGNORECASE) *q++ = 'i';
        if (fl & LRE_FLAG_MULTILINE) *q++ = 'm';
        if (fl & LRE_FLAG_DOTALL) *q++ = 's';
        if (fl & LRE_FLAG_UNICODE) *q++ = 'u';
        if (fl & LRE_FLAG_UNICODE_SETS) *q++ = 'v';
        if (fl & LRE_FLAG_STICKY) *q++ = 'y';
        dbuf_putc(&e->out, QJS_SNAP_REGEXP);
        qjs_enc_jsstring(e, re->pattern);
        dbuf_putc(&e->out, QJS_SNAP_STR8);
        qjs_enc_varint(e, q - flags);
        dbuf_put(&e->out, (uint8_t *)flags, q - flags);
        return 0;
    }
    case JS_CLASS_ARRAY_BUFFER: {
        JSArrayBuffer *ab = p->u.array_buffer;
        size_t len = ab->detached ? 0 : (size_t)ab->byte_length;
        dbuf_putc(&e->out, QJS_SNAP_BUFFER);
        qjs_enc_varint(e, len);
        if (len)
            dbuf_put(&e->out, ab->data, len);
        return 0;
    }
    case JS_CLASS_NUMBER: case JS_CLASS_STRING: case JS_CLASS_BOOLEAN: case JS_CLASS_BIG_INT: {
        JSValueConst inner = p->u.object_data;
        int t = JS_VALUE_GET_TAG(inner);
        if (!(t == JS_TAG_INT || t == JS_TAG_FLOAT64 || t == JS_TAG_BOOL ||
              t == JS_TAG_STRING || t == JS_TAG_STRING_ROPE || t == JS_TAG_SHORT_BIG_INT ||
              t == JS_TAG_BIG_INT)) {
            e->why = "a primitive wrapper without its value";
            return -1;
        }
        dbuf_putc(&e->out, QJS_SNAP_BOXED);
        return qjs_enc_value(e, inner);   /* a primitive: no recursion past one level */
    }
    default: {
        /* typed array or DataView */
        JSTypedArray *ta = p->u.typed_array;
        JSObject *buf = ta->buffer;
        JSArrayBuffer *ab = buf->u.array_buffer;
        uint64_t off = ta->offset, blen;
        int k;
        for (k = 0; k < QJS_SNAP_VIEW_KINDS; k++)
            if (qjs_snap_view_class[k] == p->class_id)
                break;
        if (k == QJS_SNAP_VIEW_KINDS || buf->class_id != JS_CLASS_ARRAY_BUFFER) {
            e->why = "a view of a SharedArrayBuffer or of an unsupported kind";
            return -1;
        }
        if (p->class_id == JS_CLASS_DATAVIEW) {
            if (ab->detached || dataview_is_oob(p)) {
                off = 0;
                blen = 0;
            } else {
                blen = ta->track_rab ? (uint64_t)ab->byte_length - off : ta->length;
            }
        } else if (ab->detached || typed_array_is_oob(p)) {
            off = 0;
            blen = 0;
        } else {
            blen = (uint64_t)p->u.array.count << typed_array_size_log2(p->class_id);
        }
        dbuf_putc(&e->out, QJS_SNAP_VIEW);
        dbuf_putc(&e->out, k);
        qjs_enc_varint(e, off);
        qjs_enc_varint(e, blen);
        /* its buffer: inline the first time, else a reference */
        idx = js_object_list_find(ctx, &e->seen, buf);
        if (idx >= 0) {
            dbuf_putc(&e->out, QJS_SNAP_REF);
            qjs_enc_varint(e, (uint32_t)idx);
        } else {
            JSValue bv = JS_MKPTR(JS_TAG_OBJECT, buf);
            return qjs_enc_value(e, bv);   /* an ArrayBuffer: a leaf */
        }
        return 0;
    }
    }
}

static void qjs_enc_path(qjs_enc *e, DynBuf *path)
{
    int d;
    dbuf_printf(path, "value");
    for (d = 0; d < e->depth; d++) {
        qjs_enc_frame *f = &e->stack[d];
        if (path->size > 4096) {
            dbuf_printf(path, "...");
            break;
        }
        switch (f->cur_kind) {
        case 1: {
            const char *k;
            size_t i, n;
            int ident;
            if (__JS_AtomIsTaggedInt(f->cur_atom)) {
                dbuf_printf(path, "[%u]", (unsigned)__JS_AtomToUInt32(f->cur_atom));
                break;
            }
            k = JS_AtomToCStringLen(e->ctx, &n, f->cur_atom);
            if (!k) {
                JS_FreeValue(e->ctx, JS_GetException(e->ctx));
                dbuf_printf(path, "[?]");
                break;
            }
            if (JS_AtomGetKind(e->ctx, f->cur_atom) == JS_ATOM_KIND_SYMBOL) {
                dbuf_printf(path, "[Symbol(%s)]", k);
                JS_FreeCString(e->ctx, k);
                break;
            }
            ident = n > 0 && !(k[0] >= '0' && k[0] <= '9');
            for (i = 0; i < n && ident; i++) {
                char c = k[i];
                ident = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '$';
            }
            if (ident)
                dbuf_printf(path, ".%s", k);
            else
                dbuf_printf(path, "[\"%s\"]", k);
            JS_FreeCString(e->ctx, k);
            break;
        }
        case 2: dbuf_printf(path, "[%u]", f->cur_index); break;
        case 3: dbuf_printf(path, "<Map key %u>", f->cur_index); break;
        case 4: dbuf_printf(path, "<Map value %u>", f->cur_index); break;
        case 5: dbuf_printf(path, "<Set item %u>", f->cur_index); break;
        default: break;
        }
    }
}

static void qjs_enc_release(qjs_enc *e)
{
    int d;
    for (d = 0; d < e->depth; d++)
        if (e->stack[d].mr)
            map_decref_record(e->ctx->rt, e->stack[d].mr);
    js_free(e->ctx, e->stack);
    e->stack = NULL;
    e->depth = 0;
}

/* The next record of a Map/Set frame after f->mr (NULL: done). Holds a
 * reference on the record returned, as the engine's iterators do. */
static JSMapRecord *qjs_enc_next_record(qjs_enc *e, qjs_enc_frame *f)
{
    JSMapState *s = f->p->u.map_state;
    struct list_head *el = f->mr ? f->mr->link.next : s->records.next;
    JSMapRecord *mr = NULL;
    for (; el != &s->records; el = el->next) {
        JSMapRecord *r = list_entry(el, JSMapRecord, link);
        if (!r->empty) {
            mr = r;
            break;
        }
    }
    if (mr)
        mr->ref_count++;
    if (f->mr)
        map_decref_record(e->ctx->rt, f->mr);
    f->mr = mr;
    return mr;
}

/* The snapshot body of v. 0: *out (js_malloc'd, free with js_free) and *out_len.
 * -1: an exception is pending (memory, deadline). -2: v holds something that
 * cannot be snapshotted; *why says what and *path (PyMem_RawMalloc'd) where. */
int qjs_snapshot_encode(JSContext *ctx, JSValueConst v, uint8_t **out, size_t *out_len,
                        const char **why, char **path)
{
    qjs_enc e;
    int r = 0;
    memset(&e, 0, sizeof(e));
    e.ctx = ctx;
    js_dbuf_init(ctx, &e.out);
    js_object_list_init(&e.seen);
    *out = NULL;
    *out_len = 0;
    *why = NULL;
    *path = NULL;

    if (qjs_enc_value(&e, v))
        goto fail;
    while (e.depth > 0) {
        qjs_enc_frame *f = &e.stack[e.depth - 1];
        JSObject *p = f->p;
        if (e.out.error) {
            JS_ThrowOutOfMemory(ctx);
            goto fail;
        }
        if (++e.steps % QJS_SNAP_POLL_EVERY == 0 && qjs_snap_poll(ctx))
            goto fail;
        switch (f->kind) {
        case QJS_ENC_DENSE:
            if (p->fast_array && f->i < p->u.array.count) {
                f->cur_kind = 2;
                f->cur_index = f->i;
                if (qjs_enc_value(&e, p->u.array.u.values[f->i++]))
                    goto fail;
            } else {
                qjs_enc_varint(&e, f->nprops);
                f->kind = QJS_ENC_PROPS;
                f->i = 0;
                f->cur_kind = 0;
            }
            break;
        case QJS_ENC_PROPS: {
            JSShape *sh = p->shape;
            JSShapeProperty *prs;
            for (;;) {
                if (f->i >= (uint32_t)sh->prop_count) {
                    e.depth--;
                    break;
                }
                prs = get_shape_prop(sh) + f->i;
                if (prs->atom == JS_ATOM_NULL || !(prs->flags & JS_PROP_ENUMERABLE) ||
                    (p->class_id == JS_CLASS_ARRAY && prs->atom == JS_ATOM_length)) {
                    f->i++;
                    continue;
                }
                f->cur_kind = 1;
                f->cur_atom = prs->atom;
                if ((prs->flags & JS_PROP_TMASK) != JS_PROP_NORMAL ||
                    JS_AtomGetKind(ctx, prs->atom) == JS_ATOM_KIND_SYMBOL) {
                    /* counted before: only reachable if the object changed */
                    e.why = "an object that changed while it was written";
                    goto fail;
                }
                qjs_enc_key(&e, prs->atom);
                if (qjs_enc_value(&e, p->prop[f->i++].u.value))
                    goto fail;
                break;
            }
            break;
        }
        case QJS_ENC_MAP:
        case QJS_ENC_SET:
            if (f->kind == QJS_ENC_MAP && f->map_value) {
                f->map_value = 0;
                f->cur_kind = 4;
                f->cur_index = f->n++;
                if (qjs_enc_value(&e, f->mr->value))
                    goto fail;
                break;
            }
            if (!qjs_enc_next_record(&e, f)) {
                e.depth--;
                break;
            }
            f->cur_index = f->kind == QJS_ENC_MAP ? f->n : f->n++;
            f->cur_kind = f->kind == QJS_ENC_MAP ? 3 : 5;
            f->map_value = f->kind == QJS_ENC_MAP;
            if (qjs_enc_value(&e, f->mr->key))
                goto fail;
            break;
        }
    }
    if (e.out.error) {
        JS_ThrowOutOfMemory(ctx);
        goto fail;
    }
    *out = e.out.buf;
    *out_len = e.out.size;
    e.out.buf = NULL;
    goto done;
fail:
    if (e.why) {
        DynBuf pb;
        dbuf_init(&pb);
        qjs_enc_path(&e, &pb);
        if (!pb.error) {
            char *s = PyMem_RawMalloc(pb.size + 1);
            if (s) {
                memcpy(s, pb.buf, pb.size);
                s[pb.size] = '\0';
            }
            *path = s;
        }
        dbuf_free(&pb);
        *why = e.why;
        r = -2;
    } else {
        r = -1;
    }
done:
    qjs_enc_release(&e);
    dbuf_free(&e.out);
    js_object_list_end(ctx, &e.seen);
    return r;
}

/* ================================================================ decoder */

enum { QJS_DEC_PROPS, QJS_DEC_DENSE, QJS_DEC_MAP, QJS_DEC_SET };

typedef struct {
    JSValue obj;        /* borrowed: the table owns it */
    uint8_t kind;
    uint8_t is_array;
    uint8_t have_key;   /* QJS_DEC_MAP: key holds the current record's key */
    uint32_t left;      /* items still to read */
    uint32_t index;     /* next dense element */
    uint32_t length;    /* an array's length */
    JSValue key;        /* owned */
} qjs_dec_frame;

typedef struct {
    JSContext *ctx;
    const uint8_t *buf;
    size_t pos, len;
    JSValue *table;     /* every object made, owned; JS_UNINITIALIZED: being made */
    uint32_t count, size;
    qjs_dec_frame *stack;
    int depth, stack_size;
    const char *why;    /* set: malformed input */
    uint32_t steps;
} qjs_dec;

static int qjs_dec_bad(qjs_dec *d, const char *why)
{
    if (!d->why)
        d->why = why;
    return -1;
}

static int qjs_dec_byte(qjs_dec *d, uint8_t *b)
{
    if (d->pos >= d->len)
        return qjs_dec_bad(d, "truncated");
    *b = d->buf[d->pos++];
    return 0;
}

static int qjs_dec_varint(qjs_dec *d, uint64_t *v)
{
    uint64_t r = 0;
    int shift;
    for (shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (qjs_dec_byte(d, &b))
            return -1;
        if (shift == 63 && (b & 0x7e))
            return qjs_dec_bad(d, "integer out of range");
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return qjs_dec_bad(d, "integer out of range");
}

/* a count of items that each take at least `min_bytes` bytes */
static int qjs_dec_count(qjs_dec *d, uint32_t *n, size_t min_bytes)
{
    uint64_t v;
    if (qjs_dec_varint(d, &v))
        return -1;
    if (v > (d->len - d->pos) / min_bytes)
        return qjs_dec_bad(d, "a count larger than the data");
    *n = (uint32_t)v;
    return 0;
}

static JSValue qjs_dec_string_body(qjs_dec *d, uint8_t tag)
{
    uint64_t n;
    size_t bytes;
    if (qjs_dec_varint(d, &n))
        return JS_EXCEPTION;
    if (n > JS_STRING_LEN_MAX) {
        qjs_dec_bad(d, "a string longer than the engine allows");
        return JS_EXCEPTION;
    }
    bytes = tag == QJS_SNAP_STR8 ? (size_t)n : 2 * (size_t)n;
    if (bytes > d->len - d->pos) {
        qjs_dec_bad(d, "a string longer than the data");
        return JS_EXCEPTION;
    }
    d->pos += bytes;
    if (tag == QJS_SNAP_STR8)
        return js_new_string8_len(d->ctx, (const char *)d->buf + d->pos - bytes, (int)n);
    else {
        JSString *str = js_alloc_string(d->ctx, (int)n, 1);
        const uint8_t *s = d->buf + d->pos - bytes;
        uint32_t i;
        if (!str)
            return JS_EXCEPTION;
        for (i = 0; i < (uint32_t)n; i++)
            str16(str)[i] = s[2 * i] | (s[2 * i + 1] << 8);
        return JS_MKPTR(JS_TAG_STRING, str);
    }
}

/* a string written inline (a key, a message, a RegExp source) */
static JSValue qjs_dec_string(qjs_dec *d)
{
    uint8_t tag;
    if (qjs_dec_byte(d, &tag))
        return JS_EXCEPTION;
    if (tag != QJS_SNAP_STR8 && tag != QJS_SNAP_STR16) {
        qjs_dec_bad(d, "a string expected");
        return JS_EXCEPTION;
    }
    return qjs_dec_string_body(d, tag);
}

static int qjs_dec_float(qjs_dec *d, double *out)
{
    uint64_t u = 0;
    int i;
    if (d->len - d->pos < 8)
        return qjs_dec_bad(d, "truncated");
    for (i = 0; i < 8; i++)
        u |= (uint64_t)d->buf[d->pos + i] << (8 * i);
    d->pos += 8;
    memcpy(out, &u, 8);
    if (isnan(*out))
        *out = NAN;   /* one NaN: no payload reaches the engine */
    return 0;
}

static JSValue qjs_dec_bigint(qjs_dec *d)
{
    uint8_t sign;
    uint64_t n;
    uint32_t nlimbs, i;
    const int lb = JS_LIMB_BITS / 8;
    JSBigInt *r;
    const uint8_t *s;
    if (qjs_dec_byte(d, &sign))
        return JS_EXCEPTION;
    if (sign > 1) {
        qjs_dec_bad(d, "a bad BigInt sign");
        return JS_EXCEPTION;
    }
    if (qjs_dec_varint(d, &n))
        return JS_EXCEPTION;
    if (n > d->len - d->pos) {
        qjs_dec_bad(d, "a BigInt longer than the data");
        return JS_EXCEPTION;
    }
    if (n > (uint64_t)(JS_BIGINT_MAX_SIZE - 1) * lb) {
        qjs_dec_bad(d, "a BigInt larger than the engine allows");
        return JS_EXCEPTION;
    }
    s = d->buf + d->pos;
    d->pos += n;
    nlimbs = (uint32_t)(n / lb) + 1;   /* one more limb: room for the sign */
    r = js_bigint_new(d->ctx, nlimbs);
    if (!r)
        return JS_EXCEPTION;
    memset(r->tab, 0, sizeof(js_limb_t) * nlimbs);
    for (i = 0; i < (uint32_t)n; i++)
        r->tab[i / lb] |= (js_limb_t)s[i] << (8 * (i % lb));
    if (sign) {
        js_limb_t carry = 1;
        for (i = 0; i < nlimbs; i++) {
            js_limb_t x = ~r->tab[i] + carry;
            carry = carry && x == 0;
            r->tab[i] = x;
        }
    }
    r = js_bigint_normalize(d->ctx, r);
    if (!r)
        return JS_EXCEPTION;
    return JS_CompactBigInt(d->ctx, r);
}

/* a primitive tag read by the caller */
static JSValue qjs_dec_primitive(qjs_dec *d, uint8_t tag)
{
    uint64_t u;
    double f;
    switch (tag) {
    case QJS_SNAP_UNDEFINED: return JS_UNDEFINED;
    case QJS_SNAP_NULL: return JS_NULL;
    case QJS_SNAP_FALSE: return JS_FALSE;
    case QJS_SNAP_TRUE: return JS_TRUE;
    case QJS_SNAP_INT:
        if (qjs_dec_varint(d, &u))
            return JS_EXCEPTION;
        if (u > UINT32_MAX) {
            qjs_dec_bad(d, "an integer out of range");
            return JS_EXCEPTION;
        }
        return js_int32((int32_t)((uint32_t)(u >> 1) ^ -(uint32_t)(u & 1)));
    case QJS_SNAP_FLOAT:
        if (qjs_dec_float(d, &f))
            return JS_EXCEPTION;
        return js_float64(f);
    case QJS_SNAP_BIGINT:
        return qjs_dec_bigint(d);
    case QJS_SNAP_STR8:
    case QJS_SNAP_STR16:
        return qjs_dec_string_body(d, tag);
    default:
        qjs_dec_bad(d, "an unknown tag");
        return JS_EXCEPTION;
    }
}

static int qjs_dec_reserve(qjs_dec *d, uint32_t *slot)
{
    if (d->count >= d->size) {
        uint32_t n = d->size ? d->size * 2 : 64;
        JSValue *t = js_realloc(d->ctx, d->table, sizeof(*t) * n);
        if (!t)
            return -1;
        d->table = t;
        d->size = n;
    }
    *slot = d->count;
    d->table[d->count++] = JS_UNINITIALIZED;
    return 0;
}

static qjs_dec_frame *qjs_dec_push(qjs_dec *d, JSValueConst obj, int kind, uint32_t left)
{
    qjs_dec_frame *f;
    if (d->depth >= QJS_SNAP_MAX_DEPTH) {
        qjs_dec_bad(d, "nesting deeper than 100000 levels");
        return NULL;
    }
    if (d->depth >= d->stack_size) {
        int n = d->stack_size ? d->stack_size * 2 : 32;
        qjs_dec_frame *s = js_realloc(d->ctx, d->stack, sizeof(*s) * n);
        if (!s)
            return NULL;
        d->stack = s;
        d->stack_size = n;
    }
    f = &d->stack[d->depth++];
    memset(f, 0, sizeof(*f));
    f->obj = obj;
    f->kind = kind;
    f->left = left;
    f->key = JS_UNDEFINED;
    return f;
}

static JSValue qjs_dec_ref(qjs_dec *d)
{
    uint64_t i;
    if (qjs_dec_varint(d, &i))
        return JS_EXCEPTION;
    if (i >= d->count) {
        qjs_dec_bad(d, "a reference to an object not yet seen");
        return JS_EXCEPTION;
    }
    if (JS_VALUE_GET_TAG(d->table[i]) != JS_TAG_OBJECT) {
        qjs_dec_bad(d, "a reference to an object being read");
        return JS_EXCEPTION;
    }
    return js_dup(d->table[i]);
}

/* an ArrayBuffer record after its tag: a new object in the next slot */
static JSValue qjs_dec_buffer(qjs_dec *d)
{
    uint64_t len;
    uint32_t slot;
    JSValue obj;
    if (qjs_dec_reserve(d, &slot))
        return JS_EXCEPTION;
    if (qjs_dec_varint(d, &len))
        return JS_EXCEPTION;
    if (len > d->len - d->pos) {
        qjs_dec_bad(d, "an ArrayBuffer longer than the data");
        return JS_EXCEPTION;
    }
    if (len > INT32_MAX) {
        qjs_dec_bad(d, "an ArrayBuffer larger than the engine allows");
        return JS_EXCEPTION;
    }
    obj = JS_NewArrayBufferCopy(d->ctx, d->buf + d->pos, (size_t)len);
    if (JS_IsException(obj))
        return obj;
    d->pos += len;
    d->table[slot] = obj;
    return js_dup(obj);
}

/* Read one value: a primitive, a reference, or a new object (created empty and
 * recorded in the table; a container gets a frame for its contents, which
 * follow). Returns a new reference, or JS_EXCEPTION (d->why set: malformed;
 * else an exception is pending). */
static JSValue qjs_dec_value(qjs_dec *d)
{
    JSContext *ctx = d->ctx;
    uint8_t tag;
    uint32_t slot, n;
    JSValue obj = JS_UNDEFINED;

    if (qjs_dec_byte(d, &tag))
        return JS_EXCEPTION;
    switch (tag) {
    case QJS_SNAP_REF:
        return qjs_dec_ref(d);
    case QJS_SNAP_BUFFER:
        return qjs_dec_buffer(d);
    case QJS_SNAP_OBJECT: case QJS_SNAP_ARRAY: case QJS_SNAP_MAP: case QJS_SNAP_SET:
    case QJS_SNAP_DATE: case QJS_SNAP_REGEXP: case QJS_SNAP_VIEW:
    case QJS_SNAP_ERROR: case QJS_SNAP_BOXED:
        break;
    default:
        return qjs_dec_primitive(d, tag);
    }

    if (qjs_dec_reserve(d, &slot))
        return JS_EXCEPTION;
    switch (tag) {
    case QJS_SNAP_OBJECT:
        if (qjs_dec_count(d, &n, 2))
            return JS_EXCEPTION;
        obj = JS_NewObject(ctx);
        if (JS_IsException(obj))
            return obj;
        d->table[slot] = obj;
        if (!qjs_dec_push(d, obj, QJS_DEC_PROPS, n))
            return JS_EXCEPTION;
        break;
    case QJS_SNAP_ARRAY: {
        uint64_t len;
        qjs_dec_frame *f;
        if (qjs_dec_varint(d, &len))
            return JS_EXCEPTION;
        if (len > UINT32_MAX) {
            qjs_dec_bad(d, "an array length out of range");
            return JS_EXCEPTION;
        }
        if (qjs_dec_count(d, &n, 1))
            return JS_EXCEPTION;
        if (n > len) {
            qjs_dec_bad(d, "more array elements than its length");
            return JS_EXCEPTION;
        }
        obj = JS_NewArray(ctx);
        if (JS_IsException(obj))
            return obj;
        d->table[slot] = obj;
        if (!(f = qjs_dec_push(d, obj, QJS_DEC_DENSE, n)))
            return JS_EXCEPTION;
        f->is_array = 1;
        f->length = (uint32_t)len;
        break;
    }
    case QJS_SNAP_MAP:
    case QJS_SNAP_SET:
        if (qjs_dec_count(d, &n, tag == QJS_SNAP_MAP ? 2 : 1))
            return JS_EXCEPTION;
        obj = js_map_constructor(ctx, JS_UNDEFINED, 0, NULL, tag == QJS_SNAP_MAP ? 0 : MAGIC_SET);
        if (JS_IsException(obj))
            return obj;
        d->table[slot] = obj;
        if (!qjs_dec_push(d, obj, tag == QJS_SNAP_MAP ? QJS_DEC_MAP : QJS_DEC_SET, n))
            return JS_EXCEPTION;
        break;
    case QJS_SNAP_DATE: {
        double t;
        if (qjs_dec_float(d, &t))
            return JS_EXCEPTION;
        obj = JS_NewDate(ctx, t);
        if (JS_IsException(obj))
            return obj;
        break;
    }
    case QJS_SNAP_REGEXP: {
        JSValue src, flags, bc;
        src = qjs_dec_string(d);
        if (JS_IsException(src))
            return src;
        flags = qjs_dec_string(d);
        if (JS_IsException(flags)) {
            JS_FreeValue(ctx, src);
            return flags;
        }
        /* compiled here from its source: never bytecode from the data */
        bc = js_compile_regexp(ctx, src, flags);
        JS_FreeValue(ctx, flags);
        if (JS_IsException(bc)) {
            JS_FreeValue(ctx, src);
            return bc;
        }
        obj = js_regexp_constructor_internal(ctx, JS_UNDEFINED, src, bc);
        if (JS_IsException(obj))
            return obj;
        break;
    }
    case QJS_SNAP_VIEW: {
        uint8_t kind;
        uint64_t off, blen;
        JSValue buf;
        JSArrayBuffer *ab;
        JSValueConst args[3];
        int cid, shift;
        if (qjs_dec_byte(d, &kind) || qjs_dec_varint(d, &off) || qjs_dec_varint(d, &blen))
            return JS_EXCEPTION;
        if (kind >= QJS_SNAP_VIEW_KINDS) {
            qjs_dec_bad(d, "an unknown view kind");
            return JS_EXCEPTION;
        }
        cid = qjs_snap_view_class[kind];
        /* its buffer: a reference or an ArrayBuffer record, read here (no
           recursion: nothing else may follow a view's tag) */
        if (qjs_dec_byte(d, &tag))
            return JS_EXCEPTION;
        if (tag == QJS_SNAP_REF)
            buf = qjs_dec_ref(d);
        else if (tag == QJS_SNAP_BUFFER)
            buf = qjs_dec_buffer(d);
        else
            buf = JS_UNDEFINED;
        if (JS_IsException(buf))
            return buf;
        if (JS_VALUE_GET_TAG(buf) != JS_TAG_OBJECT ||
            JS_VALUE_GET_OBJ(buf)->class_id != JS_CLASS_ARRAY_BUFFER) {
            JS_FreeValue(ctx, buf);
            qjs_dec_bad(d, "a view of something other than an ArrayBuffer");
            return JS_EXCEPTION;
        }
        ab = JS_VALUE_GET_OBJ(buf)->u.array_buffer;
        shift = cid == JS_CLASS_DATAVIEW ? 0 : typed_array_size_log2(cid);
        if (off > (uint64_t)ab->byte_length || blen > (uint64_t)ab->byte_length - off ||
            (off & ((1 << shift) - 1)) || (blen & ((1 << shift) - 1))) {
            JS_FreeValue(ctx, buf);
            qjs_dec_bad(d, "a view outside its ArrayBuffer");
            return JS_EXCEPTION;
        }
        args[0] = buf;
        args[1] = js_int64(off);
        args[2] = js_int64(blen >> shift);
        if (cid == JS_CLASS_DATAVIEW)
            obj = js_dataview_constructor(ctx, JS_UNDEFINED, 3, args);
        else
            obj = js_typed_array_constructor(ctx, JS_UNDEFINED, 3, args, cid);
        JS_FreeValue(ctx, buf);
        if (JS_IsException(obj))
            return obj;
        break;
    }
    case QJS_SNAP_ERROR: {
        uint8_t kind, flags;
        JSValue msg = JS_UNDEFINED, stack = JS_UNDEFINED, proto;
        JSObject *p;
        if (qjs_dec_byte(d, &kind) || qjs_dec_byte(d, &flags))
            return JS_EXCEPTION;
        if (kind >= QJS_SNAP_ERROR_KINDS || (flags & ~3)) {
            qjs_dec_bad(d, "a bad Error record");
            return JS_EXCEPTION;
        }
        if (flags & 1) {
            msg = qjs_dec_string(d);
            if (JS_IsException(msg))
                return msg;
        }
        if (flags & 2) {
            stack = qjs_dec_string(d);
            if (JS_IsException(stack)) {
                JS_FreeValue(ctx, msg);
                return stack;
            }
        }
        if (qjs_dec_count(d, &n, 2)) {
            JS_FreeValue(ctx, msg);
            JS_FreeValue(ctx, stack);
            return JS_EXCEPTION;
        }
        proto = kind == 0 ? ctx->class_proto[JS_CLASS_ERROR]
                          : ctx->native_error_proto[qjs_snap_error_native[kind]];
        obj = JS_NewObjectProtoClass(ctx, proto, JS_CLASS_ERROR);
        if (JS_IsException(obj)) {
            JS_FreeValue(ctx, msg);
            JS_FreeValue(ctx, stack);
            return obj;
        }
        d->table[slot] = obj;
        p = JS_VALUE_GET_OBJ(obj);
        JS_FreeValue(ctx, p->u.object_data);
        p->u.object_data = stack;
        if ((flags & 1) &&
            JS_DefinePropertyValue(ctx, obj, JS_ATOM_message, msg,
                                   JS_PROP_WRITABLE | JS_PROP_CONFIGURABLE) < 0)
            return JS_EXCEPTION;
        if (!qjs_dec_push(d, obj, QJS_DEC_PROPS, n))
            return JS_EXCEPTION;
        break;
    }
    case QJS_SNAP_BOXED: {
        JSValue inner;
        uint8_t t;
        if (qjs_dec_byte(d, &t))
            return JS_EXCEPTION;
        if (!(t == QJS_SNAP_FALSE || t == QJS_SNAP_TRUE || t == QJS_SNAP_INT ||
              t == QJS_SNAP_FLOAT || t == QJS_SNAP_BIGINT || t == QJS_SNAP_STR8 ||
              t == QJS_SNAP_STR16)) {
            qjs_dec_bad(d, "a primitive wrapper of something not a primitive");
            return JS_EXCEPTION;
        }
        inner = qjs_dec_primitive(d, t);
        if (JS_IsException(inner))
            return inner;
        obj = JS_ToObject(ctx, inner);
        JS_FreeValue(ctx, inner);
        if (JS_IsException(obj))
            return obj;
        break;
    }
    }
    d->table[slot] = obj;
    return js_dup(obj);
}

/* a key (a string written inline) as an atom; JS_ATOM_NULL on failure */
static JSAtom qjs_dec_key(qjs_dec *d)
{
    JSValue key;
    JSAtom atom;
    uint64_t n;
    uint8_t tag;
    if (d->pos < d->len && d->buf[d->pos] == QJS_SNAP_STR8) {
        /* an ASCII key: looked up without making a string first */
        size_t save = d->pos;
        d->pos++;
        if (qjs_dec_varint(d, &n))
            return JS_ATOM_NULL;
        if (n <= 64 && n <= d->len - d->pos) {
            const char *k = (const char *)d->buf + d->pos;
            size_t i;
            for (i = 0; i < n && !(k[i] & 0x80); i++)
                ;
            if (i == n) {
                d->pos += n;
                return JS_NewAtomLen(d->ctx, k, n);
            }
        }
        d->pos = save;
    }
    if (qjs_dec_byte(d, &tag))
        return JS_ATOM_NULL;
    if (tag != QJS_SNAP_STR8 && tag != QJS_SNAP_STR16) {
        qjs_dec_bad(d, "a string expected");
        return JS_ATOM_NULL;
    }
    key = qjs_dec_string_body(d, tag);
    if (JS_IsException(key))
        return JS_ATOM_NULL;
    atom = JS_ValueToAtom(d->ctx, key);
    JS_FreeValue(d->ctx, key);
    return atom;
}

/* define (and free) atom: v on the frame's object */
static int qjs_dec_define(qjs_dec *d, qjs_dec_frame *f, JSAtom atom, JSValue v)
{
    int r;
    if (f->is_array && atom == JS_ATOM_length) {
        JS_FreeAtom(d->ctx, atom);
        JS_FreeValue(d->ctx, v);
        return qjs_dec_bad(d, "an array with a 'length' property");
    }
    r = JS_DefinePropertyValue(d->ctx, f->obj, atom, v, JS_PROP_C_W_E | JS_PROP_THROW);
    JS_FreeAtom(d->ctx, atom);
    return r < 0 ? -1 : 0;
}

static void qjs_dec_release(qjs_dec *d)
{
    uint32_t i;
    int k;
    for (k = 0; k < d->depth; k++)
        JS_FreeValue(d->ctx, d->stack[k].key);
    js_free(d->ctx, d->stack);
    for (i = 0; i < d->count; i++)
        JS_FreeValue(d->ctx, d->table[i]);
    js_free(d->ctx, d->table);
}

/* The value of a snapshot body. JS_EXCEPTION: *why says what is malformed (no
 * exception pending), or *why is NULL and an exception is pending (memory,
 * deadline, or the engine refusing a value: a RegExp that does not compile). */
JSValue qjs_snapshot_decode(JSContext *ctx, const uint8_t *buf, size_t len, const char **why)
{
    qjs_dec d;
    JSValue root, v;
    JSAtom atom;
    qjs_dec_frame *f;
    int fi;

    memset(&d, 0, sizeof(d));
    d.ctx = ctx;
    d.buf = buf;
    d.len = len;
    *why = NULL;

    root = qjs_dec_value(&d);
    if (JS_IsException(root))
        goto fail;
    while (d.depth > 0) {
        if (++d.steps % QJS_SNAP_POLL_EVERY == 0 && qjs_snap_poll(ctx))
            goto fail;
        fi = d.depth - 1;
        f = &d.stack[fi];
        switch (f->kind) {
        case QJS_DEC_DENSE:
            if (f->left == 0) {
                uint32_t n;
                if (qjs_dec_count(&d, &n, 2))
                    goto fail;
                f->kind = QJS_DEC_PROPS;
                f->left = n;
                break;
            }
            f->left--;
            v = qjs_dec_value(&d);   /* may push: f is stale after this */
            if (JS_IsException(v))
                goto fail;
            f = &d.stack[fi];
            if (JS_DefinePropertyValueUint32(ctx, f->obj, f->index++, v,
                                             JS_PROP_C_W_E | JS_PROP_THROW) < 0)
                goto fail;
            break;
        case QJS_DEC_PROPS:
            if (f->left == 0) {
                if (f->is_array) {
                    uint32_t cur;
                    JSValue lv = JS_GetProperty(ctx, f->obj, JS_ATOM_length);
                    if (JS_IsException(lv) || JS_ToUint32(ctx, &cur, lv)) {
                        JS_FreeValue(ctx, lv);
                        goto fail;
                    }
                    JS_FreeValue(ctx, lv);
                    if (cur != f->length &&
                        JS_SetProperty(ctx, f->obj, JS_ATOM_length, js_uint32(f->length)) < 0)
                        goto fail;
                }
                d.depth--;
                break;
            }
            f->left--;
            atom = qjs_dec_key(&d);
            if (atom == JS_ATOM_NULL)
                goto fail;
            v = qjs_dec_value(&d);
            if (JS_IsException(v)) {
                JS_FreeAtom(ctx, atom);
                goto fail;
            }
            if (qjs_dec_define(&d, &d.stack[fi], atom, v))
                goto fail;
            break;
        case QJS_DEC_MAP:
        case QJS_DEC_SET:
            if (f->kind == QJS_DEC_MAP && f->have_key) {
                JSValue args[2];
                f->have_key = 0;
                v = qjs_dec_value(&d);
                f = &d.stack[fi];
                if (JS_IsException(v))
                    goto fail;
                args[0] = f->key;
                args[1] = v;
                f->key = JS_UNDEFINED;
                v = js_map_set(ctx, f->obj, 2, vc(args), 0);
                JS_FreeValue(ctx, args[0]);
                JS_FreeValue(ctx, args[1]);
                if (JS_IsException(v))
                    goto fail;
                JS_FreeValue(ctx, v);
                break;
            }
            if (f->left == 0) {
                d.depth--;
                break;
            }
            f->left--;
            v = qjs_dec_value(&d);
            f = &d.stack[fi];
            if (JS_IsException(v))
                goto fail;
            if (f->kind == QJS_DEC_MAP) {
                f->key = v;
                f->have_key = 1;
            } else {
                JSValue r = js_map_set(ctx, f->obj, 1, vc(&v), MAGIC_SET);
                JS_FreeValue(ctx, v);
                if (JS_IsException(r))
                    goto fail;
                JS_FreeValue(ctx, r);
            }
            break;
        }
    }
    if (d.pos != d.len) {
        qjs_dec_bad(&d, "bytes left after the value");
        goto fail;
    }
    qjs_dec_release(&d);
    return root;
fail:
    JS_FreeValue(ctx, root);
    qjs_dec_release(&d);
    if (d.why) {
        /* malformed: nothing engine-side to report */
        JS_FreeValue(ctx, JS_GetException(ctx));
        *why = d.why;
    }
    return JS_EXCEPTION;
}
