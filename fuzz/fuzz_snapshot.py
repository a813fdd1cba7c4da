"""Atheris harness for the snapshot decoder (``Context.loads``), structure-aware.

The first byte of an input picks how the rest becomes a snapshot:

* ``raw``: the rest is a snapshot body, given a valid header and digest (so the
  decoder itself, not the digest check, sees every byte libFuzzer makes up);
* ``mutate``: a valid body from ``SEEDS`` (real ``dumps`` output of values with
  every record type, cycles, shared references, views, errors...) mutated by a
  list of edits the rest of the input describes: byte flips, bytes set to a tag,
  varints replaced by huge or small numbers, inserted or deleted runs, spliced
  runs from another seed, truncation;
* ``whole``: the rest is the whole snapshot, header included (header checks).

``Context.loads`` must end in a Handle, ``ValueError``, ``qjs.JSMemoryError`` or
``qjs.JSTimeoutError``. A value that decodes is then used: walked by JS (keys,
Map/Set entries, typed array reads, RegExp ``test``/``exec``, Error fields),
converted to Python, dumped again and loaded again: what ``dumps`` writes,
``loads`` must read. Anything else, a crash or a sanitizer report is a finding.
(Byte-equality of successive dumps is not required: an array the decoder built
as a sparse array may be written back as a dense one.)

Run it with ``FUZZ_TARGET=fuzz_snapshot.py fuzz/run.sh`` (ASan + UBSan build with
native coverage; see fuzz/run.sh). Empty corpus directories named on the command
line get the seed snapshots written into them first.

Replay one input:  ... fuzz/fuzz_snapshot.py CRASH_FILE
"""

from __future__ import annotations

import hashlib
import os
import sys

import atheris

with atheris.instrument_imports():
    import qjs


class Finding(Exception):
    """An outcome the snapshot codec promises never to produce."""


SEED_SOURCES = [
    "1", "-0", "NaN", "'x'", "'\\ud800\\udfff\\udc00'", "2n ** 200n", "-(2n ** 64n)", "null",
    "[1, , 3, 'a', [], {}]",
    "(() => { const a = [1, 2]; a.length = 100; a.x = 'y'; a[50] = a; return a })()",
    "({a: {b: {c: [1, 2, {d: 'e'}]}}, 'odd key': 1, 7: 'seven', __proto__x: 0})",
    "(() => { const o = {}; o.self = o; o.list = [o, o]; return o })()",
    "new Map([[1, 'a'], ['k', {v: [1]}], [{}, new Set([1, 2])]])",
    "(() => { const m = new Map(); m.set(m, m); const s = new Set([m]); s.add(s); return [m, s] })()",
    "[new Date(0), new Date(NaN), new Date(8.64e15)]",
    "[/a+b/gi, /(?<n>x)|\\p{L}/uy, /[\\s\\S]{2,}/dsm, /x/v]",
    "(() => { const b = new ArrayBuffer(16); return [b, new Uint8Array(b, 4, 8), new Float64Array(b),"
    " new DataView(b, 2, 6), new Int16Array(b, 2, 3), new BigInt64Array(b)] })()",
    "[new Int8Array([1, -1]), new Uint8ClampedArray(3), new Uint32Array([4e9]), new Float32Array([0.5]),"
    " new Float16Array([1.5]), new BigUint64Array([2n ** 64n - 1n]), new Int32Array(0)]",
    "[new Error('e'), new TypeError('t'), new RangeError(), new SyntaxError('s'),"
    " new EvalError('v'), new URIError('u'), new ReferenceError('r'), new AggregateError([], 'a')]",
    "(() => { const e = new Error('x'); e.extra = {e}; return e })()",
    "[new Number(1.5), new String('s'), new Boolean(true), Object(3n)]",
    "(() => { let d = []; for (let i = 0; i < 300; i++) d = [d, {d}]; return d })()",
    "(() => { const o = {}; for (let i = 0; i < 200; i++) o['k' + i] = i % 3 ? i : 'v' + i; return o })()",
]

KINDS = ("raw", "mutate", "whole")
TAGS = b"_NFTidnsuroaMSDRBVEb"

WALK = r"""
(function walk(root) {
  const seen = new Set(), todo = [root];
  let steps = 0, out = 0;
  while (todo.length && steps++ < 2000) {
    const v = todo.pop();
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (v instanceof RegExp) {
      out += v.test('aab') + String(v.exec('xx aab \u00e9')).length + v.source.length;
      v.lastIndex = 0;
    } else if (v instanceof Map) {
      for (const [k, x] of v) todo.push(k, x);
    } else if (v instanceof Set) {
      for (const x of v) todo.push(x);
    } else if (ArrayBuffer.isView(v)) {
      out += v.byteLength;
      if (v.length) out += String(v[0]).length + String(v[v.length - 1]).length;
      if (v instanceof DataView && v.byteLength) out += v.getUint8(0);
    } else if (v instanceof ArrayBuffer) {
      out += v.byteLength + v.slice(0, 4).byteLength;
    } else if (v instanceof Error) {
      out += String(v.message).length + String(v.stack).length + String(v).length;
    } else if (v instanceof Date) {
      out += isNaN(v.getTime()) ? 1 : v.toISOString().length;
    }
    for (const k of Object.keys(v).slice(0, 50)) todo.push(v[k]);
  }
  return out;
})
"""


def _wrap(body: bytes) -> bytes:
    return b"QJS\x00S\x02" + hashlib.blake2b(body, digest_size=16).digest() + body


def _body(snapshot: bytes) -> bytes:
    return snapshot[22:]


_state: dict = {}


def _context():
    c = _state.get("ctx")
    if c is None or _state["uses"] >= 500:
        if c is not None:
            c.close()
        c = qjs.Context(memory_limit=64 << 20, timeout=3, console=False)
        _state["ctx"] = c
        _state["uses"] = 0
        _state["walk"] = c.eval_handle(WALK)
    _state["uses"] += 1
    return c


def _seeds() -> list[bytes]:
    if "seeds" not in _state:
        with qjs.Context() as c:
            _state["seeds"] = [_body(c.dumps(c.eval_handle(s))) for s in SEED_SOURCES]
    return _state["seeds"]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mutate(fdp: atheris.FuzzedDataProvider, seeds: list[bytes]) -> bytes:
    data = bytearray(seeds[fdp.ConsumeIntInRange(0, len(seeds) - 1)])
    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        if not data:
            data.append(fdp.ConsumeInt(1) & 0xFF)
        op = fdp.ConsumeIntInRange(0, 7)
        at = fdp.ConsumeIntInRange(0, len(data) - 1)
        if op == 0:      # flip a bit
            data[at] ^= 1 << fdp.ConsumeIntInRange(0, 7)
        elif op == 1:    # a tag where something else was
            data[at] = TAGS[fdp.ConsumeIntInRange(0, len(TAGS) - 1)]
        elif op == 2:    # a varint: huge, boundary or small
            n = fdp.PickValueInList([0, 1, 2, 7, 127, 128, 255, 256, 1 << 16, (1 << 31) - 1, 1 << 31,
                                     (1 << 32) - 1, 1 << 32, (1 << 63) - 1, (1 << 64) - 1,
                                     fdp.ConsumeIntInRange(0, 1 << 20)])
            del data[at:at + fdp.ConsumeIntInRange(0, 3)]
            data[at:at] = _varint(n)
        elif op == 3:    # insert bytes
            data[at:at] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 8))
        elif op == 4:    # delete a run
            del data[at:at + fdp.ConsumeIntInRange(1, 16)]
        elif op == 5:    # splice a run from another seed (records of other kinds)
            other = seeds[fdp.ConsumeIntInRange(0, len(seeds) - 1)]
            i = fdp.ConsumeIntInRange(0, len(other) - 1)
            data[at:at] = other[i:i + fdp.ConsumeIntInRange(1, 32)]
        elif op == 6:    # duplicate a run
            run = data[at:at + fdp.ConsumeIntInRange(1, 32)]
            data[at:at] = run * fdp.ConsumeIntInRange(1, 4)
        else:            # truncate
            del data[at:]
    return bytes(data)


def _use(c: qjs.Context, h) -> None:
    try:
        _state["walk"](h)
    except (qjs.Error, TypeError, ValueError, RecursionError, OverflowError):
        pass
    try:
        h.to_python()
    except (qjs.Error, TypeError, ValueError, RecursionError, OverflowError, MemoryError):
        pass
    try:
        again = c.dumps(h)
    except (TypeError, qjs.JSMemoryError, qjs.JSTimeoutError):
        return   # e.g. nesting the encoder refuses, or the memory limit
    try:
        h2 = c.loads(again)
    except (qjs.JSMemoryError, qjs.JSTimeoutError):
        return
    except ValueError as e:
        raise Finding(f"loads refused what dumps wrote: {e}") from e
    try:
        c.dumps(h2)
    except (TypeError, qjs.JSMemoryError, qjs.JSTimeoutError):
        pass
    finally:
        h2.dispose()


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    kind = KINDS[fdp.ConsumeIntInRange(0, len(KINDS) - 1)]
    if kind == "raw":
        blob = _wrap(fdp.ConsumeBytes(fdp.remaining_bytes()))
    elif kind == "mutate":
        blob = _wrap(_mutate(fdp, _seeds()))
    else:
        blob = fdp.ConsumeBytes(fdp.remaining_bytes())
    c = _context()
    try:
        h = c.loads(blob)
    except (ValueError, qjs.JSMemoryError, qjs.JSTimeoutError):
        return
    try:
        _use(c, h)
    finally:
        h.dispose()


def _write_seeds(argv: list[str]) -> None:
    for arg in argv[1:]:
        if os.path.isdir(arg) and not os.listdir(arg):
            for i, body in enumerate(_seeds()):
                with open(os.path.join(arg, f"seed-raw-{i}"), "wb") as f:
                    f.write(b"\x00" + body)   # first byte 0: raw


def main():
    _write_seeds(sys.argv)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
