"""Hostile conversions: values crossing the JS/Python boundary at the edge of the C
stack, handles disposed while they are being converted, Python subclasses with
methods that loop, conversions that outlive the deadline or the memory budget,
errors whose reading loops, and closing from another thread.

Crash-class cases run in a child interpreter and assert it exits 0 and says "ok".
"""

from __future__ import annotations

import collections
import enum
import threading
import time

import pytest

import qjs

KiB = 1 << 10
MiB = 1 << 20

# "arrives promptly" on a noisy, shared 2-core machine (sanitizer builds included)
BOUND = 5.0


def child_ok(run_child, source, timeout=120.0):
    r = run_child(source, timeout=timeout)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])
    assert r.stdout.strip().endswith("ok"), (r.stdout[-2000:], r.stderr[-2000:])
    return r


# =====================================================================================
# the C stack: conversions and host calls from the deepest JS frame
# =====================================================================================

# Each case defines `ctx` globals and a JS source; the source recurses until the JS
# stack is exhausted and does its work in the deepest `catch`.
DEEP = "function f() { try { return f() } catch (e) { return WORK } }"

STACK_CASES = {
    # console formatting of a 200-deep object (the reported SIGSEGV)
    "console_log_deep_object": (
        "let d = {}; for (let i = 0; i < 200; i++) d = {d};",
        "(console.log(d), 1)",
        True,
    ),
    # a host function returning a 250-deep dict
    "host_returns_deep_dict": (
        "",
        "typeof deepDict()",
        True,
    ),
    # json.loads of 800-deep JSON inside a host function
    "host_json_loads_800": (
        "",
        "jsonDepth()",
        True,
    ),
    # a 250-deep array as a host argument
    "host_arg_deep_array": (
        "let d = []; for (let i = 0; i < 250; i++) d = [d];",
        "take(d)",
        False,
    ),
    # a 250-deep object with accessors (the generic, getter-running path)
    "host_arg_deep_getters": (
        "let d = {}; for (let i = 0; i < 250; i++) { const inner = d; "
        "d = { get d() { return inner } } }",
        "take(d)",
        False,
    ),
    # a host function handing a deep Python list back through a JS call
    "host_calls_js_with_deep_list": (
        "function echo(x) { return 1 }",
        "callEcho()",
        False,
    ),
    # Handle.to_python of a deep value, from the deepest frame
    "handle_to_python_deep": (
        "let d = {}; for (let i = 0; i < 250; i++) d = {d};",
        "handleDepth()",
        False,
    ),
    # a module namespace with a deep export, evaluated from the deepest frame
    "module_namespace_deep": (
        "",
        "moduleDepth()",
        False,
    ),
}

STACK_PRELUDE = """
import json, sys, threading
import qjs

def setup(ctx):
    def deep_dict():
        d = {}
        for _ in range(250):
            d = {"d": d}
        return d
    ctx.globals["deepDict"] = deep_dict
    ctx.globals["jsonDepth"] = lambda: len(json.loads("[" * 800 + "]" * 800))
    ctx.globals["take"] = lambda x: 1
    def call_echo():
        d = []
        for _ in range(250):
            d = [d]
        return ctx.globals["echo"](d)
    ctx.globals["callEcho"] = call_echo
    def handle_depth():
        return type(ctx.eval_handle("d").to_python()).__name__
    ctx.globals["handleDepth"] = handle_depth
    def module_depth():
        ns = ctx.eval("let m = {}; for (let i = 0; i < 250; i++) m = {m}; export { m }",
                      module=True)
        return len(ns)
    ctx.globals["moduleDepth"] = module_depth
"""


@pytest.mark.parametrize("stack", [0, 256 * KiB, 512 * KiB], ids=["main", "256k", "512k"])
@pytest.mark.parametrize("case", sorted(STACK_CASES))
def test_conversion_at_the_edge_of_the_stack(run_child, case, stack):
    """Regression: converting (or doing Python work) from the deepest JS frame segfaulted."""
    prep, work, must_work_on_main = STACK_CASES[case]
    src = prep + DEEP.replace("WORK", work) + " f()"
    child_ok(run_child, STACK_PRELUDE + f"""
out = {{}}

def run():
    with qjs.Context(timeout=30) as ctx:
        setup(ctx)
        try:
            out["value"] = ctx.eval({src!r})
        except (qjs.Error, RecursionError, ValueError) as e:
            out["exc"] = e
        except BaseException as e:
            out["bad"] = e
        out["after"] = ctx.eval("1 + 1")

if {stack}:
    threading.stack_size({stack})
    t = threading.Thread(target=run)
    t.start()
    t.join()
else:
    run()
assert "bad" not in out, repr(out.get("bad"))
assert out["after"] == 2, out
if {must_work_on_main!r} and not {stack}:
    assert "exc" not in out, repr(out.get("exc"))
print(repr(out.get("value", out.get("exc")))[:200])
print("ok")
""")


def test_host_function_gets_stack_for_python_work():
    """Regression: a host function called from the deepest frame had ~96 KiB left (json.loads crashed)."""
    with qjs.Context(timeout=30) as ctx:
        ctx.globals["work"] = lambda: len(json_loads_deep(800))
        assert ctx.eval(DEEP.replace("WORK", "work()") + " f()") == 1


def json_loads_deep(n):
    import json

    return json.loads("[" * n + "]" * n)


def test_python_to_js_deep_and_cyclic_stay_value_errors(ctx):
    deep = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError):
        ctx.globals["x"] = deep
    cyc = {}
    cyc["self"] = cyc
    with pytest.raises(ValueError):
        ctx.globals["x"] = cyc
    assert ctx.eval("1 + 1") == 2


# =====================================================================================
# handles disposed (or the context closed) while they are converted
# =====================================================================================

DISPOSE_CASES = {
    "keys_ownKeys_trap": (
        "new Proxy({a: 1, b: 2}, { ownKeys(t) { kill(); return Reflect.ownKeys(t) } })",
        "h.keys()",
    ),
    "to_python_getter": (
        "({ get a() { kill(); return [1, 2, 3] }, b: { c: 'x'.repeat(100) } })",
        "h.to_python()",
    ),
    "to_python_array_getter": (
        "(() => { const a = [1, 2, 3]; Object.defineProperty(a, 1, { get() { kill(); return 7 } });"
        " return a })()",
        "h.to_python()",
    ),
    "getitem_getter": ("({ get a() { kill(); return {x: 1} } })", "h['a']"),
    "get_handle_getter": ("({ get a() { kill(); return {x: 1} } })", "h.get_handle('a')"),
    "setitem_setter": ("({ set a(v) { kill() } })", "h.__setitem__('a', 1)"),
    "delitem_trap": (
        "new Proxy({a: 1}, { deleteProperty(t, k) { kill(); return delete t[k] } })",
        "h.__delitem__('a')",
    ),
    "contains_trap": (
        "new Proxy({a: 1}, { has(t, k) { kill(); return k in t } })",
        "'a' in h",
    ),
    "call_method_getter": (
        "({ get m() { kill(); return function () { return this === undefined } } })",
        "h.call_method('m')",
    ),
    "iterate_next": (
        "({ [Symbol.iterator]() { let i = 0; return { next() { kill(); return { done: i > 2,"
        " value: i++ } } } } })",
        "list(h)",
    ),
    "call_arg_conversion": (
        "(function (d) { return d })",
        "h(KillingDate(2020, 1, 1, tzinfo=datetime.timezone.utc))",
    ),
}

DISPOSE_PRELUDE = """
import datetime, gc
import qjs

class KillingDate(datetime.datetime):
    def utcoffset(self):
        kill()
        return super().utcoffset()
"""


@pytest.mark.parametrize("how", ["dispose", "close_context", "close_runtime"])
@pytest.mark.parametrize("case", sorted(DISPOSE_CASES))
def test_handle_disposed_during_conversion(run_child, case, how):
    """Regression: a handle disposed (or its context closed) by a getter/trap while in use was read after free."""
    js, op = DISPOSE_CASES[case]
    child_ok(run_child, DISPOSE_PRELUDE + f"""
rt = qjs.Runtime()
ctx = rt.new_context(timeout=10)
other = rt.new_context()
state = {{}}

def kill():
    if {how!r} == "dispose":
        state["h"].dispose()
    elif {how!r} == "close_context":
        ctx.close()
    else:
        rt.close()

ctx.globals["kill"] = kill
h = ctx.eval_handle({js!r})
state["h"] = h
for _ in range(3):
    try:
        r = {op}
        if hasattr(r, "alive"):
            r = r.alive
    except (qjs.Error, TypeError, ValueError) as e:
        r = e
    if ctx.closed or rt.closed:
        break
    h = ctx.eval_handle({js!r})
    state["h"] = h
print(repr(r)[:200])
gc.collect()
if not rt.closed:
    assert other.eval("1 + 1") == 2
    rt.close()
assert qjs.live_objects() == {{"runtimes": 0, "contexts": 0, "handles": 0}}, qjs.live_objects()
print("ok")
""")


def test_keys_after_dispose_by_trap_are_the_real_keys(ctx):
    """A trap that disposes the handle does not change what keys() returns."""
    state = {}
    ctx.globals["kill"] = lambda: state["h"].dispose()
    h = ctx.eval_handle(
        "new Proxy({a: 1, b: 2}, { ownKeys(t) { kill(); return Reflect.ownKeys(t) } })")
    state["h"] = h
    assert h.keys() == ["a", "b"]
    assert not h.alive


# =====================================================================================
# Python subclasses convert by their base type
# =====================================================================================


class LoopStr(str):
    def __str__(self):
        return self

    def __repr__(self):
        return self


class LoopInt(int):
    def __int__(self):
        return self

    def __index__(self):
        return self


class LoopFloat(float):
    def __float__(self):
        return self


class LyingList(list):
    def __len__(self):
        return 10**9

    def __getitem__(self, i):
        raise RuntimeError("must not be called")

    def __iter__(self):
        raise RuntimeError("must not be called")


class LyingTuple(tuple):
    def __len__(self):
        return 10**9

    def __getitem__(self, i):
        raise RuntimeError("must not be called")


class LyingDict(dict):
    def items(self):
        raise RuntimeError("must not be called")

    def keys(self):
        raise RuntimeError("must not be called")

    def __iter__(self):
        raise RuntimeError("must not be called")

    def __getitem__(self, k):
        raise RuntimeError("must not be called")


class LoopBytes(bytes):
    def __bytes__(self):
        return self


class Color(enum.IntEnum):
    RED = 7


def test_str_subclass_with_self_returning_str(run_child):
    """Regression: a str subclass whose __str__ returns itself recursed in C until SIGSEGV."""
    child_ok(run_child, """
import qjs
class S(str):
    def __str__(self):
        return self
with qjs.Context() as ctx:
    ctx.globals["s"] = S("hi")
    assert ctx.eval("s") == "hi"
    ctx.globals["o"] = {S("k"): S("v")}
    assert ctx.eval("JSON.stringify(o)") == '{"k":"v"}'
    ctx.globals["back"] = lambda: S("from host")
    assert ctx.eval("back()") == "from host"
    assert ctx.globals["o"][S("k")] == "v"
print("ok")
""")


@pytest.mark.parametrize("value,expected_json", [
    (LoopStr("hi"), '"hi"'),
    (LoopInt(5), "5"),
    (LoopInt(2**60), None),  # a BigInt
    (LoopFloat(1.5), "1.5"),
    (LyingList([1, 2]), "[1,2]"),
    (LyingTuple((3, 4)), "[3,4]"),
    (LyingDict(a=1), '{"a":1}'),
    (LoopBytes(b"ab"), '{"0":97,"1":98}'),
    (bytearray(b"a"), '{"0":97}'),
    (Color.RED, "7"),
    (collections.OrderedDict([("b", 1), ("a", 2)]), '{"b":1,"a":2}'),
    (collections.defaultdict(list, z=[1]), '{"z":[1]}'),
    (collections.Counter("aab"), '{"a":2,"b":1}'),
])
def test_subclasses_convert_by_base_type(ctx, value, expected_json):
    ctx.globals["x"] = value
    if expected_json is None:
        assert ctx.eval("typeof x") == "bigint"
        assert ctx.eval("x") == 2**60
    else:
        assert ctx.eval("JSON.stringify(x)") == expected_json
    # as a host-function return value and as a call argument, too
    ctx.globals["give"] = lambda: value
    assert ctx.eval("typeof give()") == ctx.eval("typeof x")
    echo = ctx.eval_handle("(v) => typeof v")
    assert echo(value) == ctx.eval("typeof x")


def test_ordered_dict_keeps_its_own_order(ctx):
    od = collections.OrderedDict(a=1, b=2, c=3)
    od.move_to_end("a")
    ctx.globals["o"] = od
    assert ctx.eval("Object.keys(o).join()") == "b,c,a"


def test_list_shrinking_while_converted(ctx):
    """An item whose conversion empties the list does not read past its end."""
    lst = []

    class Shrinker(int):
        pass

    class Clearing(collections.UserDict):
        pass

    def clearing_callable():
        return 1

    lst.extend([1, 2, 3])

    class D(str):
        pass

    # a datetime subclass runs Python (utcoffset) during conversion
    import datetime

    class ClearingDate(datetime.datetime):
        def utcoffset(self):
            lst.clear()
            return datetime.timedelta(0)

    lst[:] = [ClearingDate(2020, 1, 1, tzinfo=datetime.timezone.utc), "x" * 10, 3]
    ctx.globals["l"] = lst
    assert ctx.eval("l.length") == 3
    assert ctx.eval("l[1] === undefined && l[2] === undefined")


def test_dict_growing_while_converted(ctx):
    import datetime

    d = {}

    class GrowingDate(datetime.datetime):
        def utcoffset(self):
            for i in range(100):
                d[f"k{i}"] = i
            return datetime.timedelta(0)

    d["a"] = GrowingDate(2020, 1, 1, tzinfo=datetime.timezone.utc)
    ctx.globals["o"] = d
    assert ctx.eval("Object.keys(o).length") >= 1


def test_int_subclass_as_key(ctx):
    ctx.globals["a"] = [10, 20, 30]
    assert ctx.globals["a"][LoopInt(1)] == 20
    assert ctx.globals["a"][Color.RED - 6] == 20


# =====================================================================================
# the compiled-code cache keys on exact str
# =====================================================================================


def test_eval_cache_ignores_str_subclasses_with_changing_hash():
    """Regression: a str subclass with a changing __hash__ corrupted the compiled-code cache."""
    counter = iter(range(10**6))

    class Shifty(str):
        def __hash__(self):
            return next(counter)

        def __eq__(self, other):
            return False

    with qjs.Context() as ctx:
        for i in range(100):
            assert ctx.eval(Shifty("1 + 1")) == 2
            assert ctx.eval("1 + 1", filename=Shifty("f.js")) == 2
            assert ctx.eval(f"{i} + 1") == i + 1
    assert qjs.live_objects() == {"runtimes": 0, "contexts": 0, "handles": 0}


# =====================================================================================
# the deadline covers conversions
# =====================================================================================


def timed(fn):
    t0 = time.monotonic()
    try:
        return fn(), time.monotonic() - t0
    except BaseException as e:
        return e, time.monotonic() - t0


def test_deadline_covers_array_with_long_prototype_chain():
    """Regression: a 1e6-long holey array with a 2000-deep prototype chain converted for 22 s past a 0.5 s timeout."""
    with qjs.Context(timeout=0.5) as ctx:
        r, dt = timed(lambda: ctx.eval(
            "let p = Array.prototype; for (let i = 0; i < 2000; i++) p = Object.create(p);"
            "const a = []; Object.setPrototypeOf(a, p); a.length = 1e6; a"))
        assert isinstance(r, qjs.JSTimeoutError), r
        assert dt < BOUND
        assert ctx.eval("1 + 1") == 2


def test_deadline_covers_host_argument_conversion():
    with qjs.Context(timeout=0.5) as ctx:
        ctx.globals["take"] = lambda x: len(x)
        r, dt = timed(lambda: ctx.eval(
            "let p = Array.prototype; for (let i = 0; i < 2000; i++) p = Object.create(p);"
            "const a = []; Object.setPrototypeOf(a, p); a.length = 1e6; take(a)"))
        assert isinstance(r, qjs.JSTimeoutError), r
        assert dt < BOUND


def test_deadline_covers_getters_in_generic_objects():
    with qjs.Context(timeout=0.3) as ctx:
        r, dt = timed(lambda: ctx.eval(
            "const o = {}; for (let i = 0; i < 100000; i++)"
            " Object.defineProperty(o, 'k' + i, { get() { let s = 0;"
            " for (let j = 0; j < 1000; j++) s += j; return s }, enumerable: true }); o"))
        assert isinstance(r, qjs.JSTimeoutError), r
        assert dt < BOUND


def test_lone_surrogate_strings_convert_fast_and_exactly():
    """Regression: 40 copies of a 1 MiB lone-surrogate string took 28 s under a 0.3 s timeout."""
    with qjs.Context(timeout=0.3) as ctx:
        r, dt = timed(lambda: ctx.eval(
            "const s = '\\ud800'.repeat(1 << 20); const a = [];"
            " for (let i = 0; i < 40; i++) a.push(s + i); a"))
        assert isinstance(r, (list, qjs.JSTimeoutError)), r
        assert dt < BOUND
    with qjs.Context() as ctx:
        assert ctx.eval("'a\\ud800b\\udc00\\ud83d\\ude00\\udfff'") == \
            "a\ud800b\udc00\U0001F600\udfff"
        assert ctx.eval("'\\ud800'.repeat(3)") == "\ud800" * 3
        assert ctx.eval("'\\ud83d\\ude00'.repeat(2) + '\\ud800'") == "\U0001F600" * 2 + "\ud800"


def test_console_formats_big_typed_arrays_quickly():
    """Regression: console.log of a 40 MiB Uint8Array formatted for 17 s past a 1 s timeout."""
    lines = []
    with qjs.Context(timeout=1.0, console=lambda level, *args: lines.append(args)) as ctx:
        r, dt = timed(lambda: ctx.eval("console.log(new Uint8Array(40 << 20)); 1"))
        assert r == 1 or isinstance(r, qjs.JSTimeoutError), r
        assert dt < BOUND
    from qjs._format import format_value

    # node's layout: at most 100 items shown, then a count of the rest
    text = format_value(bytes(range(5)) * 100)
    assert text.startswith("Uint8Array(500) [\n  0, 1, 2, 3, 4, 0")
    assert text.endswith("  ... 400 more items\n]")
    assert text.count(",") == 100
    assert format_value(b"\x01\x02") == "Uint8Array(2) [ 1, 2 ]"


# =====================================================================================
# the conversion budget
# =====================================================================================


def test_conversion_budget_stops_shared_string_blowup():
    """Regression: 100 references to one 4 MiB string under a 16 MiB limit built 400 MiB of Python strings."""
    with qjs.Context(memory_limit=16 * MiB, timeout=10) as ctx:
        assert ctx.conversion_limit == 64 * MiB
        with pytest.raises(qjs.JSMemoryError) as ei:
            ctx.eval("new Array(100).fill('x'.repeat(4 << 20))")
        assert "conversion_limit" in str(ei.value)
        assert str(64 * MiB) in str(ei.value)
        assert ctx.eval("1 + 1") == 2
        # a value within the budget still converts
        assert len(ctx.eval("new Array(4).fill('x'.repeat(4 << 20))")) == 4


def test_conversion_budget_on_host_arguments_names_the_budget():
    """Arguments over the budget reached the caller as a bare 'out of memory'."""
    with qjs.Context(conversion_limit=1 * MiB) as ctx:
        calls = []
        ctx.globals["f"] = lambda x: calls.append(len(x))
        with pytest.raises(qjs.JSMemoryError, match="conversion_limit of 1048576 bytes"):
            ctx.eval("f('x'.repeat(2 << 20))")
        # JS sees an ordinary InternalError it can catch: the heap is not full
        assert ctx.eval("try { f('x'.repeat(2 << 20)) } catch (e) { e.name + ': ' + e.message }") \
            == "InternalError: the value is too large to convert to Python: it needs more " \
               "than the conversion_limit of 1048576 bytes"
        assert calls == []
        ctx.eval("f('x'.repeat(1000))")
        assert calls == [1000]


def test_conversion_limit_is_settable():
    with qjs.Context(conversion_limit=1 * MiB) as ctx:
        assert ctx.conversion_limit == 1 * MiB
        with pytest.raises(qjs.JSMemoryError, match="conversion_limit of 1048576 bytes"):
            ctx.eval("'x'.repeat(2 << 20)")
        with pytest.raises(qjs.JSMemoryError):
            ctx.eval("new Array(100000).fill(0)")
        with pytest.raises(qjs.JSMemoryError):
            ctx.eval("new Uint8Array(2 << 20)")
        h = ctx.eval_handle("'x'.repeat(2 << 20)")
        with pytest.raises(qjs.JSMemoryError):
            h.to_python()
        ctx.conversion_limit = None
        assert ctx.conversion_limit is None
        assert len(h.to_python()) == 2 << 20
        with pytest.raises(ValueError):
            ctx.conversion_limit = 0
    rt = qjs.Runtime(memory_limit=8 * MiB)
    try:
        c1 = rt.new_context(conversion_limit=2 * MiB)
        c2 = rt.new_context()
        assert c1.conversion_limit == 2 * MiB
        assert c2.conversion_limit == 32 * MiB
        rt.memory_limit = 4 * MiB
        assert c2.conversion_limit == 16 * MiB  # follows the memory limit
        with pytest.raises(qjs.JSMemoryError):
            c1.eval("'y'.repeat(3 << 20)")
        assert len(c2.eval("'y'.repeat(3 << 20)")) == 3 << 20
    finally:
        rt.close()
    with qjs.Context() as ctx:
        assert ctx.conversion_limit is None  # no memory limit: no budget


def test_conversion_budget_covers_host_arguments():
    with qjs.Context(memory_limit=16 * MiB, timeout=10) as ctx:
        seen = []
        ctx.globals["take"] = lambda x: seen.append(len(x))
        with pytest.raises(qjs.JSMemoryError):
            ctx.eval("take(new Array(100).fill('x'.repeat(4 << 20)))")
        assert seen == []
        assert ctx.eval(
            "try { take(new Array(100).fill('x'.repeat(4 << 20))); 'no' } catch (e) { 'caught' }"
        ) == "caught"


# =====================================================================================
# a deadline hit while the thrown error is read
# =====================================================================================

ERROR_READ_LOOPS = [
    "throw Object.defineProperty(new Error('x'), 'message', { get() { for (;;) {} } })",
    "throw Object.defineProperty(new Error('x'), 'name', { get() { for (;;) {} } })",
    "throw Object.defineProperty(new Error('x'), 'stack', { get() { for (;;) {} } })",
    "throw { get a() { for (;;) {} } }",
    "throw { toString() { for (;;) {} } }",
    "throw new Proxy({}, { get() { for (;;) {} } })",
    "throw [1, { get b() { for (;;) {} } }]",
]


@pytest.mark.parametrize("how", ["close_context", "close_runtime"])
def test_context_closed_while_converting_an_async_completion(run_child, how):
    """A getter that closes the context (or runtime) while the completion value of
    eval_async is converted: ClosedError, nothing read after it was freed."""
    child_ok(run_child, f"""
import asyncio, gc
import qjs

rt = qjs.Runtime()
ctx = rt.new_context(timeout=10)

def kill():
    ctx.close() if {how!r} == "close_context" else rt.close()

ctx.globals["kill"] = kill

async def main():
    try:
        return await ctx.eval_async(
            "await 0; ({{ a: [1, 2, 3], get b() {{ kill(); return {{ c: 'x'.repeat(100) }} }}, d: 4 }})")
    except qjs.Error as e:
        return e

r = asyncio.run(main())
assert isinstance(r, qjs.ClosedError), repr(r)
gc.collect()
assert ctx.closed
rt.close()
assert qjs.live_objects() == {{"runtimes": 0, "contexts": 0, "handles": 0}}, qjs.live_objects()
with qjs.Context() as c:
    assert c.eval("1 + 1") == 2
print("ok")
""")


@pytest.mark.parametrize("src", ERROR_READ_LOOPS)
def test_deadline_while_reading_the_thrown_error(src):
    """Regression: a deadline hit while converting a thrown error raised JSError, not JSTimeoutError."""
    with qjs.Context(timeout=0.3) as ctx:
        r, dt = timed(lambda: ctx.eval(src))
        assert isinstance(r, qjs.JSTimeoutError), repr(r)
        assert dt < BOUND
        assert ctx.eval("1 + 1") == 2


# =====================================================================================
# engine calls whose failure must raise at once
# =====================================================================================


def test_iter_over_proxy_of_revoked_array_raises_at_once(ctx):
    """Regression: iter() over a Proxy of a revoked array left a pending exception that surfaced later."""
    h = ctx.eval_handle(
        "(() => { const r = Proxy.revocable([], {}); r.revoke(); return new Proxy(r.proxy, {}) })()")
    with pytest.raises(qjs.JSError, match="revoked"):
        iter(h)
    assert ctx.eval("1 + 1") == 2
    assert ctx.eval("[1, 2].length") == 2
    h2 = ctx.eval_handle("(() => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy })()")
    with pytest.raises(qjs.JSError):
        iter(h2)
    with pytest.raises(qjs.JSError):
        h2.keys()
    with pytest.raises(qjs.JSError):
        "a" in h2
    assert ctx.eval("2 + 2") == 4


# =====================================================================================
# closing from another thread
# =====================================================================================


def _close_while_running(closer, ctx, src="while (true) {}"):
    out = {}

    def run():
        try:
            out["value"] = ctx.eval(src)
        except BaseException as e:
            out["exc"] = e

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    closer()
    elapsed = time.monotonic() - t0
    t.join(BOUND)
    assert not t.is_alive()
    assert elapsed < BOUND
    return out


def test_context_close_from_another_thread_stops_js():
    """Regression: Context.close() from another thread while JS ran (no timeout) never returned."""
    ctx = qjs.Context()
    out = _close_while_running(ctx.close, ctx)
    assert isinstance(out.get("exc"), qjs.ClosedError), out
    assert ctx.closed


def test_shared_runtime_context_close_from_another_thread():
    rt = qjs.Runtime()
    try:
        a = rt.new_context()
        b = rt.new_context()
        out = _close_while_running(a.close, a, "for (;;) { try { for (;;) {} } finally { continue } }")
        assert isinstance(out.get("exc"), qjs.ClosedError), out
        assert a.closed
        assert b.eval("1 + 1") == 2
        # a closed sibling does not stop later JS of the others
        assert b.eval("let n = 0; for (let i = 0; i < 1e6; i++) n++; n") == 1000000
    finally:
        rt.close()


def test_runtime_close_from_another_thread_stops_js():
    rt = qjs.Runtime()
    ctx = rt.new_context()
    out = _close_while_running(rt.close, ctx)
    assert isinstance(out.get("exc"), qjs.ClosedError), out
    assert rt.closed


def test_close_from_another_thread_while_host_function_runs():
    rt = qjs.Runtime()
    a = rt.new_context()
    started = threading.Event()

    def slow():
        started.set()
        time.sleep(0.3)
        return 1

    a.globals["slow"] = slow
    out = {}

    def run():
        try:
            out["value"] = a.eval("for (;;) slow()")
        except BaseException as e:
            out["exc"] = e

    t = threading.Thread(target=run)
    t.start()
    started.wait(BOUND)
    a.close()
    t.join(BOUND)
    assert not t.is_alive()
    assert isinstance(out.get("exc"), qjs.ClosedError), out
    rt.close()
