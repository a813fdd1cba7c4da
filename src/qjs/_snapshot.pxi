# Value snapshots (Context.dumps / Context.loads): qjs's own codec, format 2.
#
# A snapshot is b"QJS\0" b"S", the format version (one byte), a BLAKE2b-128
# digest of the body (to catch accidental damage; it is not a signature and the
# decoder does not rely on it), then the body written by qjs_snapshot_encode
# (src/qjs/csrc/qjs_snapshot.c). docs/snapshot-format.md specifies it. The body
# does not depend on the engine version, and its decoder is written for
# hostile input: anything malformed is ValueError.

cdef int _SNAP_FORMAT = 2
cdef int _SNAP_HEAD = 6 + 16


cdef bytes _snap_dump(Context c, JSValueConst v):
    cdef uint8_t *out = NULL
    cdef size_t n = 0
    cdef const char *why = NULL
    cdef char *path = NULL
    cdef int r = qjs_snapshot_encode(c.ctx, v, &out, &n, &why, &path)
    if r == -2:
        where = (<bytes>path).decode("utf-8", "replace") if path != NULL else "value"
        PyMem_RawFree(path)
        raise TypeError(f"cannot snapshot {why.decode() if why != NULL else 'this'} at {where}")
    if r < 0:
        raise c._js_error(c.ctx)
    try:
        body = PyBytes_FromStringAndSize(<char *>out, n)
    finally:
        js_free(c.ctx, out)
    return (_MAGIC + _KIND_SNAPSHOT + bytes([_SNAP_FORMAT])
            + _hashlib.blake2b(body, digest_size=16).digest() + body)


cdef bytes _snap_body(object data):
    """The body of a format-2 snapshot, or ValueError (TypeError: not bytes)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a qjs snapshot must be bytes, not {type(data).__name__!r}")
    data = bytes(data)
    if len(data) < 6 or data[:4] != _MAGIC:
        raise ValueError("not a qjs snapshot (bad header)")
    if data[4:5] != _KIND_SNAPSHOT:
        raise ValueError("not a qjs snapshot (this is qjs data of another kind)")
    if data[5] == 1:
        raise ValueError("this snapshot is in the format of qjs 0.1 (engine bytecode), which "
                         "is no longer read: make it again with Context.dumps")
    if data[5] != _SNAP_FORMAT:
        raise ValueError(f"a qjs snapshot of format {data[5]}; this qjs reads format "
                         f"{_SNAP_FORMAT}")
    digest = data[6:_SNAP_HEAD]
    body = data[_SNAP_HEAD:]
    if len(digest) != 16 or _hashlib.blake2b(body, digest_size=16).digest() != digest:
        raise ValueError("the snapshot is truncated or damaged (digest mismatch)")
    return body


cdef JSValue _snap_load(Context c, bytes body) except *:
    cdef const char *why = NULL
    cdef JSValue v = qjs_snapshot_decode(c.ctx, <const uint8_t *><char *>body, len(body), &why)
    cdef object err
    if JS_IsException(v):
        if why != NULL:
            raise ValueError(f"the snapshot is malformed: {why.decode()}")
        err = c._js_error(c.ctx)
        if isinstance(err, (JSMemoryError, InterruptedError)):
            raise err
        raise ValueError(f"the snapshot could not be read: {err}")
    return v
