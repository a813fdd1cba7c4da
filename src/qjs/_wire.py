"""The framing and value codec between a :class:`qjs.Sandbox` and its child process.

A frame is a 4-byte little-endian length followed by that many bytes: one opcode
byte, then one encoded value (the message's fields, as a list).

Values use an exact binary encoding of the converted values (never JSON, pickle or
marshal). One tag byte, then the payload:

====  ==========================================================
tag   payload
====  ==========================================================
0x00  None
0x01  False
0x02  True
0x03  int64, little-endian
0x04  big int: u32 length + signed little-endian bytes
0x05  float64 (-0.0, NaN and the infinities kept)
0x06  str: u32 length + UTF-8 (lone surrogates kept, ``surrogatepass``)
0x07  bytes: u32 length + bytes
0x08  list: u32 count + items
0x09  dict: u32 count + (u32 length + UTF-8 key, value) pairs
0x0A  datetime: int64 microseconds since the epoch + u8 (1: UTC-aware, 0: naive)
0x0B  host function (parent to child only): u32 id + u8 (1: async) + u32 length + name
====  ==========================================================

Everything the parent decodes comes from a process that may be compromised, so
:func:`decode` validates every tag and length, bounds the nesting depth and the
number of values, and raises ``ValueError`` on anything malformed.
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 256  # as qjs.MAX_DEPTH: the in-process conversion bound
MAX_BIGINT_BYTES = 1 << 20

_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_HEAD = struct.Struct("<IB")  # frame length, opcode

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_EPOCH_NAIVE = _dt.datetime(1970, 1, 1)
_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1

T_NONE, T_FALSE, T_TRUE, T_INT, T_BIGINT, T_FLOAT, T_STR, T_BYTES = range(8)
T_LIST, T_DICT, T_DATE, T_FUNC = 8, 9, 10, 11


class WireError(ValueError):
    """A malformed frame or value."""


# ---------------------------------------------------------------- encoding
#
# Both directions carry mostly small messages (a call's id and a few arguments, a
# result), so the encoder writes into one bytearray and handles the common scalar
# items of a list or dict inline, without a function call per item.

_TAG_LEN = struct.Struct("<BI").pack  # tag + u32
_TAG_I64 = struct.Struct("<Bq").pack
_TAG_F64 = struct.Struct("<Bd").pack
_pack_u32 = _U32.pack


def encode(
    value: Any,
    on_callable: Callable[[Any], tuple[int, str, bool]] | None = None,
    on_other: Callable[[Any, str], Any] | None = None,
) -> bytes:
    """Encode ``value``. ``on_callable(fn) -> (id, name, is_async)`` registers a host function
    (parent side); without it callables raise TypeError. ``on_other(value, path)``
    is called for values with no encoding (it raises TypeError, or returns a
    replacement value)."""
    out = bytearray()
    _enc(value, out, 0, on_callable, on_other)
    return bytes(out)


def encode_frame(
    op: int,
    value: Any,
    on_callable: Callable[[Any], tuple[int, str, bool]] | None = None,
    on_other: Callable[[Any, str], Any] | None = None,
) -> bytearray:
    """A whole frame (length, opcode, encoded ``value``) in one buffer."""
    out = bytearray(5)
    _enc(value, out, 0, on_callable, on_other)
    _HEAD.pack_into(out, 0, len(out) - 4, op)
    return out


def _enc(
    v: Any,
    out: bytearray,
    depth: int,
    on_callable: Callable[[Any], tuple[int, str, bool]] | None,
    on_other: Callable[[Any, str], Any] | None,
) -> None:
    t = type(v)
    if t is str:
        b = v.encode("utf-8", "surrogatepass")
        out += _TAG_LEN(T_STR, len(b))
        out += b
    elif t is int:
        if _I64_MIN <= v <= _I64_MAX:
            out += _TAG_I64(T_INT, v)
        else:
            n = (v.bit_length() + 8) // 8
            out += _TAG_LEN(T_BIGINT, n)
            out += v.to_bytes(n, "little", signed=True)
    elif v is None:
        out.append(T_NONE)
    elif v is True:
        out.append(T_TRUE)
    elif v is False:
        out.append(T_FALSE)
    elif t is float:
        out += _TAG_F64(T_FLOAT, v)
    elif t is list or t is tuple:
        if depth >= MAX_DEPTH:
            raise ValueError(f"value nested deeper than {MAX_DEPTH} levels (or cyclic)")
        out += _TAG_LEN(T_LIST, len(v))
        depth += 1
        for item in v:
            ti = type(item)
            if ti is int and _I64_MIN <= item <= _I64_MAX:
                out += _TAG_I64(T_INT, item)
            elif ti is str:
                b = item.encode("utf-8", "surrogatepass")
                out += _TAG_LEN(T_STR, len(b))
                out += b
            elif item is None:
                out.append(T_NONE)
            elif ti is bool:
                out.append(T_TRUE if item else T_FALSE)
            else:
                _enc(item, out, depth, on_callable, on_other)
    elif t is dict:
        _enc_dict(v, out, depth, on_callable, on_other)
    elif t is bytes:
        out += _TAG_LEN(T_BYTES, len(v))
        out += v
    else:
        _enc_slow(v, out, depth, on_callable, on_other)


def _enc_dict(
    v: Any,
    out: bytearray,
    depth: int,
    on_callable: Callable[[Any], tuple[int, str, bool]] | None,
    on_other: Callable[[Any, str], Any] | None,
) -> None:
    if depth >= MAX_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_DEPTH} levels (or cyclic)")
    out += _TAG_LEN(T_DICT, len(v))
    depth += 1
    for k, item in v.items():
        if type(k) is not str:
            if not isinstance(k, str):
                raise TypeError(f"dict keys must be str, not {type(k).__name__}")
        b = str.encode(k, "utf-8", "surrogatepass")
        out += _pack_u32(len(b))
        out += b
        ti = type(item)
        if ti is int and _I64_MIN <= item <= _I64_MAX:
            out += _TAG_I64(T_INT, item)
        elif ti is str:
            b = item.encode("utf-8", "surrogatepass")
            out += _TAG_LEN(T_STR, len(b))
            out += b
        else:
            _enc(item, out, depth, on_callable, on_other)


def _enc_slow(
    v: Any,
    out: bytearray,
    depth: int,
    on_callable: Callable[[Any], tuple[int, str, bool]] | None,
    on_other: Callable[[Any, str], Any] | None,
) -> None:
    # subclasses convert by their base type, as in-process conversion does
    if isinstance(v, bool):
        out.append(T_TRUE if v else T_FALSE)
    elif isinstance(v, int):
        _enc(int(v), out, depth, on_callable, on_other)
    elif isinstance(v, float):
        out += _TAG_F64(T_FLOAT, float(v))
    elif isinstance(v, str):
        _enc(str.__str__(v), out, depth, on_callable, on_other)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        out += _TAG_LEN(T_BYTES, len(b))
        out += b
    elif isinstance(v, _dt.datetime):
        if v.tzinfo is None or v.utcoffset() is None:
            us = (v - _EPOCH_NAIVE) // _dt.timedelta(microseconds=1)
            out += _TAG_I64(T_DATE, us)
            out.append(0)
        else:
            us = (v - _EPOCH) // _dt.timedelta(microseconds=1)
            out += _TAG_I64(T_DATE, us)
            out.append(1)
    elif isinstance(v, (list, tuple)):
        _enc(list(v), out, depth, on_callable, on_other)
    elif isinstance(v, dict):
        _enc_dict(v, out, depth, on_callable, on_other)
    elif callable(v) and on_callable is not None and type(v).__name__ != "Handle":
        fid, name, is_async = on_callable(v)
        b = name.encode("utf-8", "surrogatepass")
        out += _TAG_LEN(T_FUNC, fid)
        out.append(1 if is_async else 0)
        out += _pack_u32(len(b))
        out += b
    elif on_other is not None:
        _enc(on_other(v, ""), out, depth, on_callable, None)
    else:
        raise TypeError(f"cannot send a {type(v).__name__} to a Sandbox")


# ---------------------------------------------------------------- decoding
#
# Every value takes at least one byte, so a message of ``n`` bytes holds at most
# ``n`` values: below ``max_nodes`` bytes the count needs no checking, and the
# decoder that does not count (``_dec``) is used. Longer messages go through
# ``_dec_counted``, which bounds the count as it goes.


_u32 = _U32.unpack_from
_i64 = _I64.unpack_from
_f64 = _F64.unpack_from


def _dec(data: bytes, pos: int, depth: int, mf: Any) -> tuple[Any, int]:
    """Decode the value at ``pos``: ``(value, next position)``. ``mf`` builds
    host-function proxies (None: the tag is refused). Lengths are checked before
    every slice."""
    tag = data[pos]
    pos += 1
    if tag == T_LIST:
        if depth >= MAX_DEPTH:
            raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
        n = _u32(data, pos)[0]
        pos += 4
        # every item takes at least one byte: a count larger than what is left is a lie
        if n > len(data) - pos:
            raise WireError("container count larger than the message")
        depth += 1
        out: list[Any] = []
        append = out.append
        for _ in range(n):
            t = data[pos]
            if t == T_INT:
                append(_i64(data, pos + 1)[0])
                pos += 9
            elif t == T_STR:
                end = pos + 5 + _u32(data, pos + 1)[0]
                if end > len(data):
                    raise WireError("truncated string")
                append(data[pos + 5 : end].decode("utf-8", "surrogatepass"))
                pos = end
            elif t == T_NONE:
                append(None)
                pos += 1
            elif t == T_TRUE or t == T_FALSE:
                append(t == T_TRUE)
                pos += 1
            else:
                v, pos = _dec(data, pos, depth, mf)
                append(v)
        return out, pos
    if tag == T_STR:
        end = pos + 4 + _u32(data, pos)[0]
        if end > len(data):
            raise WireError("truncated string")
        return data[pos + 4 : end].decode("utf-8", "surrogatepass"), end
    if tag == T_INT:
        return _i64(data, pos)[0], pos + 8
    if tag == T_NONE:
        return None, pos
    if tag == T_TRUE:
        return True, pos
    if tag == T_FALSE:
        return False, pos
    if tag == T_FLOAT:
        return _f64(data, pos)[0], pos + 8
    if tag == T_DICT:
        if depth >= MAX_DEPTH:
            raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
        n = _u32(data, pos)[0]
        pos += 4
        if n > len(data) - pos:
            raise WireError("container count larger than the message")
        depth += 1
        d = {}
        for _ in range(n):
            end = pos + 4 + _u32(data, pos)[0]
            if end > len(data):
                raise WireError("truncated key")
            k = data[pos + 4 : end].decode("utf-8", "surrogatepass")
            d[k], pos = _dec(data, end, depth, mf)
        if len(d) != n:
            raise WireError("duplicate key in a dict")
        return d, pos
    return _dec_rare(data, tag, pos, mf)


def _dec_rare(data: bytes, tag: int, pos: int, mf: Any) -> tuple[Any, int]:
    if tag == T_BYTES:
        end = pos + 4 + _u32(data, pos)[0]
        if end > len(data):
            raise WireError("truncated bytes")
        return data[pos + 4 : end], end
    if tag == T_BIGINT:
        n = _u32(data, pos)[0]
        if n > MAX_BIGINT_BYTES:
            raise WireError("big int too large")
        end = pos + 4 + n
        if end > len(data):
            raise WireError("truncated big int")
        return int.from_bytes(data[pos + 4 : end], "little", signed=True), end
    if tag == T_DATE:
        us = _i64(data, pos)[0]
        aware = data[pos + 8]
        if aware > 1:
            raise WireError("invalid datetime flag")
        try:
            v = (_EPOCH if aware else _EPOCH_NAIVE) + _dt.timedelta(microseconds=us)
        except OverflowError:
            raise WireError("datetime out of range") from None
        return v, pos + 9
    if tag == T_FUNC and mf is not None:
        fid = _u32(data, pos)[0]
        is_async = data[pos + 4] == 1
        end = pos + 9 + _u32(data, pos + 5)[0]
        if end > len(data):
            raise WireError("truncated function name")
        return mf(fid, data[pos + 9 : end].decode("utf-8", "surrogatepass"), is_async), end
    raise WireError(f"unknown value tag 0x{tag:02x}")


def _dec_counted(data: bytes, pos: int, depth: int, st: list[Any]) -> tuple[Any, int]:
    """``_dec`` that also bounds the number of values: ``st`` is
    ``[nodes left, make_func]``."""
    st[0] -= 1
    if st[0] < 0:
        raise WireError("too many values in one message")
    tag = data[pos]
    if tag == T_LIST or tag == T_DICT:
        pos += 1
        if depth >= MAX_DEPTH:
            raise WireError(f"value nested deeper than {MAX_DEPTH} levels")
        n = _u32(data, pos)[0]
        pos += 4
        if n > len(data) - pos:
            raise WireError("container count larger than the message")
        depth += 1
        if tag == T_LIST:
            out: list[Any] = []
            append = out.append
            for _ in range(n):
                v, pos = _dec_counted(data, pos, depth, st)
                append(v)
            return out, pos
        d = {}
        for _ in range(n):
            end = pos + 4 + _u32(data, pos)[0]
            if end > len(data):
                raise WireError("truncated key")
            k = data[pos + 4 : end].decode("utf-8", "surrogatepass")
            d[k], pos = _dec_counted(data, end, depth, st)
        if len(d) != n:
            raise WireError("duplicate key in a dict")
        return d, pos
    return _dec(data, pos, depth, st[1])  # a scalar


def decode(
    data: bytes,
    *,
    max_nodes: int = 1 << 24,
    make_func: Callable[[int, str, bool], Any] | None = None,
    start: int = 0,
) -> Any:
    """Decode one value that must fill ``data[start:]`` exactly; ``WireError`` otherwise.

    ``make_func(id, name, is_async)`` builds host-function proxies (child side);
    without it the function tag is rejected.
    """
    try:
        if len(data) - start <= max_nodes:
            v, pos = _dec(data, start, 0, make_func)
        else:
            v, pos = _dec_counted(data, start, 0, [max_nodes, make_func])
    except WireError:
        raise
    except UnicodeDecodeError as exc:
        raise WireError(f"invalid UTF-8 in a string: {exc.reason}") from None
    except (struct.error, IndexError, OverflowError, MemoryError, RecursionError) as exc:
        raise WireError(f"malformed value: {type(exc).__name__}") from None
    if pos != len(data):
        raise WireError("trailing bytes after a value")
    return v


def frame(op: int, body: bytes) -> bytes:
    """A frame: length, opcode, body."""
    return _HEAD.pack(len(body) + 1, op) + body
