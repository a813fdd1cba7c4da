"""Atheris harness: hostile JS fragments x random limits x hostile host functions.

Every input is decoded into

* limits: memory 1-16 MiB, stack 64-512 KiB, timeout 20-200 ms;
* a JS program assembled from a grammar of hostile pieces (endless loops, catch and
  finally swallow attempts, recursion, getters, proxies, promises, generators, big
  strings, BigInt, typed arrays, JSON, regexps, errors, Error.prepareStackTrace, ...);
* a way to run it (eval, eval_handle + conversion / iteration, module, eval_async,
  a handle call from another thread, run_jobs);
* host functions the program may call: ones that raise, re-enter ``ctx.eval``,
  return exotic values (cycles, huge ints, bytes, NaN, -0, lone surrogates, handles
  from another context or runtime), call back into JS, or close the context.

Every call must end in a value or in an allowed exception (a ``qjs.Error``, or
TypeError/ValueError/OverflowError/RecursionError for conversion issues, or the
exception a host function raised). Anything else raises ``Finding`` (which atheris
reports as a crash with the reproducer input); a crash or sanitizer report is a
finding too. After each input everything is closed and ``qjs.live_objects()`` must
be back at zero.

Run it with fuzz/run.sh: it builds an ASan + UBSan copy with native coverage and a
python launcher with libFuzzer linked in (see there why), then fuzzes for 30 min.
By hand, with that setup in place:

    LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 \
        PYTHONPATH=/tmp/qjs-fuzz/src /tmp/asan-venv/bin/python-fuzz fuzz/fuzz_eval.py \
        -max_total_time=1800 -timeout=30 /tmp/qjs-fuzz-corpus

(plain ``python`` works too, but without coverage feedback.)

Replay one input:  ... fuzz/fuzz_eval.py CRASH_FILE
Print the program an input decodes to:  QJS_FUZZ_PRINT=1 ... fuzz/fuzz_eval.py FILE

QJS_FUZZ_AVOID=name,name leaves out grammar pieces / host behaviours by name
(used to keep a long run going past a known, already reported finding).
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import sys
import threading

import atheris

with atheris.instrument_imports():
    import qjs

AVOID = {x for x in os.environ.get("QJS_FUZZ_AVOID", "").split(",") if x}
PRINT = os.environ.get("QJS_FUZZ_PRINT") == "1"

KiB = 1 << 10
MiB = 1 << 20


class Finding(Exception):
    """An outcome the binding promises never to produce."""


class HostBoom(Exception):
    """Raised on purpose by a host function."""


ALLOWED = (qjs.Error, TypeError, ValueError, OverflowError, RecursionError, HostBoom)


# --- the grammar ----------------------------------------------------------------
# Each piece is (name, function(fdp) -> JS source of one statement or expression).


def _n(fdp, lo, hi):
    return fdp.ConsumeIntInRange(lo, hi)


def _pow2(fdp, lo, hi):
    return 1 << _n(fdp, lo, hi)


def _ident(fdp):
    return "v" + str(_n(fdp, 0, 5))


THROWN = ["null", "undefined", "1", "'s'", "Symbol()", "10n", "{}"]
REENTER = ["for(;;){}", "1+1", "h_reenter('2')", "null.x", "h_close()", "h_raise()"]
if "host_close" in AVOID:
    REENTER.remove("h_close()")

PIECES = [
    ("loop", lambda f: "for (;;) {}"),
    ("loop_catch", lambda f: "for (;;) { try { for (;;) {} } catch (e) {} }"),
    ("loop_finally", lambda f: "try { for (;;) {} } finally { for (;;) {} }"),
    ("loop_finally_continue", lambda f: "for (;;) { try { for (;;) {} } catch (e) {} finally { continue } }"),
    ("counted_loop", lambda f: f"{{ let i = 0; while (i < {_pow2(f, 4, 24)}) i++ }}"),
    ("redos", lambda f: f"/(a+)+$/.test('a'.repeat({_n(f, 5, 40)}) + 'b')"),
    ("redos2", lambda f: f"/^(\\w+\\s?)*$/.test('a '.repeat({_n(f, 5, 30)}) + '!')"),
    ("recursion", lambda f: "(function r(n) { return r(n + 1) + 1 })(0)"),
    ("recursion_catch", lambda f: "(function r() { try { return r() } catch (e) { return r() } })()"),
    ("mutual_recursion", lambda f: "{ const a = () => b(), b = () => a(); a() }"),
    ("getter_loop", lambda f: "({ get x() { for (;;) {} } })"),
    ("getter_throw", lambda f: "({ get x() { throw new Error('getter') } })"),
    ("tojson_loop", lambda f: "JSON.stringify({ toJSON() { for (;;) {} } })"),
    ("tojson_self", lambda f: "{ const o = {}; o.toJSON = () => o; JSON.stringify(o) }"),
    ("thenable", lambda f: "({ then(r) { for (;;) {} } })"),
    ("thenable_resolve", lambda f: "Promise.resolve({ then(r) { r(this) } })"),
    ("proxy_chain", lambda f: f"{{ let p = {{}}; for (let i = 0; i < {_pow2(f, 4, 17)}; i++) p = new Proxy(p, {{}}); p.x }}"),
    ("proxy_trap_loop", lambda f: "new Proxy({}, { ownKeys() { for (;;) {} }, get() { for (;;) {} } })"),
    ("proxy_revoked", lambda f: "{ const r = Proxy.revocable({}, {}); r.revoke(); r.proxy }"),
    ("tostring_recursion", lambda f: "{ const o = {}; o.toString = () => String(o); String(o) }"),
    ("valueof_recursion", lambda f: "{ const o = { valueOf() { return +o } }; +o }"),
    ("promise_chain", lambda f: "Promise.resolve().then(function f() { return Promise.resolve().then(f) })"),
    ("microtask_explosion", lambda f: "(function f() { Promise.resolve().then(f); Promise.resolve().then(f) })()"),
    ("promise_job_loop", lambda f: "Promise.resolve().then(() => { for (;;) {} })"),
    ("unhandled_rejections", lambda f: f"for (let i = 0; i < {_pow2(f, 1, 14)}; i++) Promise.reject(new Error('r' + i))"),
    ("never_settles", lambda f: "new Promise(() => {})"),
    ("async_fn", lambda f: "(async () => { await null; for (;;) {} })()"),
    ("generator", lambda f: "(function* () { for (;;) yield 1 })()"),
    ("generator_loop", lambda f: "(function* () { yield 1; for (;;) {} })()"),
    ("async_generator", lambda f: "(async function* () { for (;;) yield await null })()"),
    ("string_doubling", lambda f: "{ let s = 'x'; for (;;) s += s }"),
    ("repeat", lambda f: f"'x'.repeat({_pow2(f, 10, 31)})"),
    ("padend", lambda f: f"''.padEnd({_pow2(f, 10, 31)}, 'ab')"),
    ("string_replaceall", lambda f: f"{{ const s = 'x'.repeat({_pow2(f, 10, 24)}); for (;;) s.replaceAll('x', 'yy') }}"),
    ("array_push", lambda f: "{ const a = []; for (;;) a.push({ i: a.length }) }"),
    ("array_big", lambda f: f"new Array({_pow2(f, 4, 31)}).fill(1.5)"),
    ("array_join", lambda f: "Array.prototype.join.call({ length: 2 ** 53 - 1 })"),
    ("array_holes", lambda f: f"{{ const a = []; a[{_pow2(f, 4, 31)}] = 1; a }}"),
    ("arraybuffer", lambda f: f"new ArrayBuffer({_pow2(f, 4, 31)})"),
    ("typed_array", lambda f: f"new Float64Array({_pow2(f, 4, 27)}).fill(1).sort()"),
    ("typed_u8", lambda f: f"new Uint8Array({_pow2(f, 0, 20)}).fill(255)"),
    ("bigint_pow", lambda f: f"2n ** {_pow2(f, 4, 24)}n"),
    ("bigint_pow_pow", lambda f: f"(2n ** 10000n) ** {_pow2(f, 1, 10)}n"),
    ("bigint_small", lambda f: f"-(2n ** {_n(f, 0, 200)}n)"),
    ("json_deep", lambda f: f"JSON.parse('['.repeat({_pow2(f, 4, 17)}) + ']'.repeat({_pow2(f, 4, 17)}))"),
    ("json_big", lambda f: f"JSON.stringify(new Array({_pow2(f, 4, 22)}).fill('xx'))"),
    ("deep_source", lambda f: f"eval('['.repeat({_pow2(f, 4, 17)}) + ']'.repeat({_pow2(f, 4, 17)}))"),
    ("deep_source_paren", lambda f: f"eval('('.repeat({_pow2(f, 4, 16)}) + '1' + ')'.repeat({_pow2(f, 4, 16)}))"),
    ("deep_object", lambda f: f"{{ let o = {{}}; for (let i = 0; i < {_pow2(f, 4, 16)}; i++) o = {{ o }}; o }}"),
    ("deep_array", lambda f: f"{{ let a = []; for (let i = 0; i < {_pow2(f, 4, 16)}; i++) a = [a]; a }}"),
    ("cycle", lambda f: "{ const a = [1]; a.push(a); a }"),
    ("cycle_obj", lambda f: "{ const o = { k: 1 }; o.self = { back: o }; o }"),
    ("wide_object", lambda f: f"Object.fromEntries(Array.from({{ length: {_pow2(f, 4, 18)} }}, (_, i) => ['k' + i, i]))"),
    ("exotic_values", lambda f: "[NaN, -0, Infinity, 2n ** 70n, '\\ud800', new Date(8.64e15), new Uint8Array([1, 2]), Symbol('s'), new Map([[1, 2]])]"),
    ("bad_date", lambda f: "new Date(NaN)"),
    ("regexp_big", lambda f: f"new RegExp('(' + 'a|'.repeat({_pow2(f, 4, 18)}) + 'b)*').exec('a'.repeat(1000) + 'c')"),
    ("regexp_nested", lambda f: f"new RegExp('('.repeat({_pow2(f, 4, 16)}) + ')'.repeat({_pow2(f, 4, 16)}))"),
    ("throw_error", lambda f: "throw new TypeError('hostile')"),
    ("throw_primitive", lambda f: "throw " + f.PickValueInList(THROWN)),
    ("throw_error_getter", lambda f: "throw { get message() { for (;;) {} }, get name() { throw 1 }, get stack() { for (;;) {} } }"),
    ("error_toString", lambda f: "{ const e = new Error(); e.toString = () => { for (;;) {} }; throw e }"),
    ("prepare_stack", lambda f: "Error.prepareStackTrace = (e, cs) => cs.map(c => c.getFunction())"),
    ("prepare_loop", lambda f: "Error.prepareStackTrace = () => { for (;;) {} }"),
    ("prepare_throw", lambda f: "Error.prepareStackTrace = () => { throw new Error('p') }"),
    ("prepare_recurse", lambda f: "Error.prepareStackTrace = function p() { return new Error().stack }"),
    ("stack_limit", lambda f: f"Error.stackTraceLimit = {f.PickValueInList(['0', '1e9', 'NaN', '-1', 'Infinity'])}"),
    ("finalization", lambda f: "{ const fr = new FinalizationRegistry(() => { for (;;) {} }); for (let i = 0; i < 1000; i++) fr.register({}, i) }"),
    ("weakref", lambda f: "new WeakRef({})"),
    ("function_ctor", lambda f: "Function('return this')()"),
    ("global_walk", lambda f: "Object.getOwnPropertyNames(globalThis).map(k => typeof globalThis[k])"),
    ("proto_pollution", lambda f: "Object.prototype.x = 1; Array.prototype[0] = 'p'; Object.defineProperty(Object.prototype, 'then', { get() { for (;;) {} }, configurable: true })"),
    ("freeze_all", lambda f: "Object.freeze(Object.prototype); Object.freeze(Array.prototype); Object.freeze(Function.prototype)"),
    ("symbol_species", lambda f: "{ class A extends Array { static get [Symbol.species]() { for (;;) {} } } new A(1, 2).map(x => x) }"),
    ("import_dyn", lambda f: "import('x').catch(e => e)"),
    ("eval_syntax", lambda f: "eval('}{')"),
    ("atomics", lambda f: "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1e9)"),
    ("date_now_spin", lambda f: "{ const t = Date.now(); while (Date.now() - t < 1e9) {} }"),
    ("labels", lambda f: "a: for (;;) { b: for (;;) { continue a } }"),
    ("with_proxy", lambda f: "with (new Proxy({}, { has() { return true }, get() { for (;;) {} } })) { x }"),
    ("host_raise", lambda f: "h_raise()"),
    ("host_raise_caught", lambda f: "try { h_raise() } catch (e) { [e.name, e.message, e.stack] }"),
    ("host_reenter", lambda f: f"h_reenter({f.PickValueInList(REENTER)!r})"),
    ("host_recursion", lambda f: "(function r() { return h_call(r) })()"),
    ("host_exotic", lambda f: f"h_exotic({_n(f, 0, 12)})"),
    ("host_exotic_use", lambda f: f"{{ const x = h_exotic({_n(f, 0, 12)}); typeof x === 'object' && x !== null ? Object.keys(x).length : String(x) }}"),
    ("host_close", lambda f: "h_close()"),
    ("host_close_caught", lambda f: "try { h_close() } catch (e) {} for (;;) {}"),
    ("host_callback", lambda f: "h_call(() => { for (;;) {} })"),
    ("host_many_args", lambda f: f"h_args(...new Array({_n(f, 0, 70000)}).fill(1))"),
    ("host_this", lambda f: "h_args.call(new Proxy({}, { get() { for (;;) {} } }), 1)"),
    ("host_proto", lambda f: "[h_args.constructor === Function, Object.getPrototypeOf(h_args) === Function.prototype, Object.getOwnPropertyNames(h_args)]"),
    ("host_as_ctor", lambda f: "new h_args()"),
    ("host_getter_arg", lambda f: "h_args({ get x() { for (;;) {} } })"),
    ("host_cycle_arg", lambda f: "{ const a = []; a.push(a); h_args(a) }"),
    ("host_deep_arg", lambda f: f"{{ let a = []; for (let i = 0; i < {_pow2(f, 4, 12)}; i++) a = [a]; h_args(a) }}"),
    ("host_async", lambda f: "h_async()"),
    ("host_async_never", lambda f: "h_async_never()"),
]
PIECES = [p for p in PIECES if p[0] not in AVOID]
assert PIECES, "every grammar piece is avoided"


def wrap(fdp, stmt: str) -> str:
    """Put one piece in a random syntactic context."""
    k = _n(fdp, 0, 11)
    if k == 0:
        return f"try {{ {stmt} }} catch (e) {{}}"
    if k == 1:
        return f"try {{ {stmt} }} finally {{ 0 }}"
    if k == 2:
        return f"Promise.resolve().then(() => {{ {stmt} }})"
    if k == 3:
        return f"(function () {{ {stmt} }})()"
    if k == 4:
        return f"(function* () {{ yield 0; {stmt} }})().next()"
    if k == 5:
        return f"(async () => {{ await 0; {stmt} }})()"
    if k == 6:
        return f"({{ get g() {{ {stmt} }} }})"
    return stmt


def program(fdp) -> tuple[str, list[str]]:
    names = []
    parts = []
    for _ in range(_n(fdp, 1, 4)):
        name, make = PIECES[_n(fdp, 0, len(PIECES) - 1)]
        names.append(name)
        parts.append(wrap(fdp, make(fdp)))
    # the last part is the completion value
    return ";\n".join(parts), names


# --- host functions -------------------------------------------------------------


class Env:
    """Everything one input creates; closed in ``close()``."""

    def __init__(self, fdp):
        self.rt = qjs.Runtime(
            memory_limit=_n(fdp, 1, 16) * MiB,
            stack_limit=_n(fdp, 64, 512) * KiB,
            timeout=_n(fdp, 20, 200) / 1000.0,
        )
        self.ctx = self.rt.new_context(console=False)
        self.sibling = self.rt.new_context(console=False)   # same runtime
        self.other = qjs.Context(timeout=1.0)                 # another runtime
        self.extras: list = []
        self.depth = 0
        self.fdp_choice = _n(fdp, 0, 1 << 16)
        self.install()

    def install(self):
        ctx = self.ctx
        g = ctx.globals
        try:
            g["h_raise"] = self.h_raise
            g["h_reenter"] = self.h_reenter
            g["h_call"] = self.h_call
            g["h_exotic"] = self.h_exotic
            g["h_close"] = self.h_close
            g["h_args"] = self.h_args
            g["h_async"] = self.h_async
            g["h_async_never"] = self.h_async_never
        finally:
            g.dispose()

    def h_raise(self, *args):
        raise HostBoom("raised by the host")

    def h_reenter(self, code="1"):
        if not isinstance(code, str):
            code = "1"
        self.depth += 1
        try:
            if self.depth > 50:
                raise HostBoom("host depth")
            return self.ctx.eval(code, timeout=5.0)
        finally:
            self.depth -= 1

    def h_call(self, fn=None, *args):
        self.depth += 1
        try:
            if self.depth > 50:
                raise HostBoom("host depth")
            if isinstance(fn, qjs.Handle):
                return fn(*args)
            return fn
        finally:
            self.depth -= 1

    def h_exotic(self, k=0):
        if not isinstance(k, int):
            k = 0
        k %= 13
        if k == 0:
            a = [1]
            a.append(a)
            return a
        if k == 1:
            return 2 ** 100000
        if k == 2:
            return -(2 ** 64) - 1
        if k == 3:
            return b"\x00\xff" * 1000
        if k == 4:
            return [math.nan, -0.0, math.inf, -math.inf]
        if k == 5:
            return "\ud800x\udfff"
        if k == 6:
            h = self.sibling.eval_handle("({ fromSibling: 1, f() { return globalThis } })")
            self.extras.append(h)
            return h
        if k == 7:
            h = self.other.eval_handle("({ fromOtherRuntime: 1 })")
            self.extras.append(h)
            return h
        if k == 8:
            d = {}
            d["self"] = {"back": d}
            return d
        if k == 9:
            return {1: "non-str key"}
        if k == 10:
            return object()
        if k == 11:
            nested = []
            for _ in range(10000):
                nested = [nested]
            return nested
        h = self.ctx.eval_handle("({})")
        h.dispose()
        return h

    def h_close(self, *args):
        self.ctx.close()

    def h_args(self, *args):
        return len(args)

    async def h_async(self, *args):
        await asyncio.sleep(0)
        return 1

    async def h_async_never(self, *args):
        await asyncio.Event().wait()

    def close(self):
        for h in self.extras:
            try:
                h.dispose()
            except qjs.ClosedError:
                pass
        self.extras.clear()
        self.other.close()
        self.rt.close()


# --- running ----------------------------------------------------------------------


# Reported findings the harness steps over (QJS_FUZZ_STRICT=1 turns them back into
# findings), so that a long run keeps exploring instead of stopping at the same one.
KNOWN = [
    # a rope string that cannot be flattened under the memory limit converts to a
    # plain MemoryError instead of qjs.JSMemoryError (tests/test_hostile.py)
    (MemoryError, "JS string could not be read"),
    # Runtime.close() after asyncio.run() ended with a host coroutine in flight
    # raises from its task cancellation (tests/test_hostile.py)
    (RuntimeError, "Event loop is closed"),
]
STRICT = os.environ.get("QJS_FUZZ_STRICT") == "1"


def check(exc: BaseException, where: str):
    if isinstance(exc, ALLOWED):
        return
    # an async host function called from a synchronous eval: the host's own
    # RuntimeError, thrown into JS and re-raised as itself when JS does not catch it
    if isinstance(exc, RuntimeError) and "need a running asyncio event loop" in str(exc):
        return
    if not STRICT and any(isinstance(exc, t) and m in str(exc) for t, m in KNOWN):
        return
    raise Finding(f"{where}: {type(exc).__module__}.{type(exc).__name__}: {exc}") from exc


def convert_some(h: qjs.Handle, fdp):
    """Poke at a handle the way a host would."""
    k = _n(fdp, 0, 5)
    if k == 0:
        return h.to_python()
    if k == 1:
        return h.keys()
    if k == 2:
        out = []
        for i, x in enumerate(h):
            out.append(x)
            if i > 5:
                break
        return out
    if k == 3:
        return h.resume()
    if k == 4:
        return h("arg", 2 ** 80, b"x", [1, [2, [3]]])
    return h.typeof


def run(env: Env, fdp, src: str):
    ctx = env.ctx
    mode = _n(fdp, 0, 6)
    if mode <= 1:
        return ctx.eval(src)
    if mode == 2:
        with ctx.eval_handle(src) as h:
            return convert_some(h, fdp)
    if mode == 3:
        return ctx.eval(src, module=True)
    if mode == 4:
        async def go():
            return await ctx.eval_async(src)
        return asyncio.run(go())
    if mode == 5:
        result = {}

        def worker():
            try:
                result["v"] = ctx.eval(src)
            except BaseException as e:  # noqa: BLE001 - reported by the caller
                result["e"] = e

        t = threading.Thread(target=worker)
        t.start()
        t.join(30)
        if t.is_alive():
            raise Finding("eval on a thread did not end within 30 s")
        if "e" in result:
            raise result["e"]
        return result.get("v")
    ctx.eval(src)
    return env.rt.run_jobs(_n(fdp, 0, 1000))


iterations = 0


def TestOneInput(data: bytes):
    global iterations
    fdp = atheris.FuzzedDataProvider(data)
    env = Env(fdp)
    try:
        src, names = program(fdp)
        if PRINT:
            print(f"--- limits: memory={env.rt.memory_limit} stack={env.rt.stack_limit} "
                  f"timeout={env.rt.timeout}\n{src}\n---", file=sys.stderr)
        try:
            run(env, fdp, src)
        except BaseException as exc:  # noqa: BLE001 - classified by check()
            check(exc, "run " + "+".join(names))
        # afterwards the runtime must still work (unless the program closed it)
        if not env.ctx.closed:
            try:
                got = env.ctx.eval("1 + 1", timeout=5.0)
            except BaseException as exc:  # noqa: BLE001
                check(exc, "after " + "+".join(names))
            else:
                if got != 2:
                    raise Finding(f"after {'+'.join(names)}: 1 + 1 gave {got!r}")
            try:
                env.rt.run_jobs(100)
            except BaseException as exc:  # noqa: BLE001
                check(exc, "jobs " + "+".join(names))
    finally:
        try:
            env.close()
        except BaseException as exc:  # noqa: BLE001 - close() must never raise
            if STRICT or not any(isinstance(exc, t) and m in str(exc) for t, m in KNOWN):
                raise Finding(f"close raised {type(exc).__name__}: {exc}") from exc
            env.rt.close()
    iterations += 1
    if iterations % 50 == 0:
        gc.collect()
        live = qjs.live_objects()
        if any(live.values()):
            raise Finding(f"objects left open after close: {live}")


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
