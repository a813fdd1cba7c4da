"""Value conversion between JS and Python, in both directions."""

import datetime as dt
import math

import pytest

import qjs

UTC = dt.timezone.utc


def roundtrip(ctx, value):
    ctx.globals["v"] = value
    return ctx.eval("v")


# --- JS -> Python: primitives ------------------------------------------------


def test_undefined_and_null(ctx):
    assert ctx.eval("undefined") is None
    assert ctx.eval("null") is None


def test_booleans(ctx):
    assert ctx.eval("true") is True
    assert ctx.eval("1 < 0") is False


@pytest.mark.parametrize(
    "src, expected",
    [
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("2/2", 1),
        ("6.0", 6),
        ("Math.floor(3.9)", 3),
        ("2**31 - 1", 2**31 - 1),
        ("-(2**31)", -(2**31)),
    ],
)
def test_int32_numbers_are_int(ctx, src, expected):
    r = ctx.eval(src)
    assert type(r) is int
    assert r == expected


@pytest.mark.parametrize(
    "src, expected",
    [
        ("1.5", 1.5),
        ("2**31", 2147483648.0),
        ("-(2**31) - 1", -2147483649.0),
        ("2**40", 1099511627776.0),
        ("0.1 + 0.2", 0.1 + 0.2),
        ("1e300", 1e300),
    ],
)
def test_other_numbers_are_float(ctx, src, expected):
    r = ctx.eval(src)
    assert type(r) is float
    assert r == expected


def test_negative_zero(ctx):
    r = ctx.eval("-0")
    assert type(r) is float
    assert r == 0.0
    assert math.copysign(1, r) == -1


def test_nan_and_infinities(ctx):
    assert math.isnan(ctx.eval("NaN"))
    assert ctx.eval("Infinity") == math.inf
    assert ctx.eval("-Infinity") == -math.inf
    assert type(ctx.eval("1/0")) is float


@pytest.mark.parametrize(
    "src, expected",
    [
        ("5n", 5),
        ("0n", 0),
        ("-5n", -5),
        ("2n**100n", 2**100),
        ("-(2n**100n)", -(2**100)),
        ("2n**64n - 1n", 2**64 - 1),
    ],
)
def test_bigint_is_int(ctx, src, expected):
    r = ctx.eval(src)
    assert type(r) is int
    assert r == expected


def test_strings(ctx):
    assert ctx.eval("'hello'") == "hello"
    assert ctx.eval("''") == ""
    assert ctx.eval("'a\\0b'") == "a\x00b"
    assert ctx.eval("'\\ud800'") == "\ud800"
    assert ctx.eval("'x\\udc00y'") == "x\udc00y"
    assert ctx.eval("'\\u{1F600}'") == "\U0001F600"
    assert ctx.eval("'\U0001F600'.length") == 2
    assert ctx.eval("'é中'") == "é中"


# --- JS -> Python: containers --------------------------------------------------


def test_array_to_list(ctx):
    assert ctx.eval("[1, 'a', null, true, [2, [3]]]") == [1, "a", None, True, [2, [3]]]
    assert ctx.eval("[]") == []


def test_sparse_array_holes_are_none(ctx):
    assert ctx.eval("[1, , 3]") == [1, None, 3]


def test_plain_object_to_dict(ctx):
    r = ctx.eval("({a: 1, b: {c: [1, 2]}, 'with space': 's', 7: 'seven'})")
    assert r == {"a": 1, "b": {"c": [1, 2]}, "with space": "s", "7": "seven"}
    assert all(isinstance(k, str) for k in r)


def test_null_prototype_object_to_dict(ctx):
    assert ctx.eval("const o = Object.create(null); o.k = 'v'; o") == {"k": "v"}


def test_dict_has_only_own_enumerable_string_keys(ctx):
    r = ctx.eval(
        """
        const p = {own: 2};
        Object.defineProperty(p, 'hidden', {value: 3, enumerable: false});
        p[Symbol('s')] = 4;
        p
        """
    )
    assert r == {"own": 2}


def test_shared_subobject_is_not_a_cycle(ctx):
    assert ctx.eval("const s = [1]; [s, s, {a: s}]") == [[1], [1], {"a": [1]}]


def test_uint8array_and_arraybuffer_to_bytes(ctx):
    assert ctx.eval("new Uint8Array([1, 2, 255])") == b"\x01\x02\xff"
    assert ctx.eval("new Uint8Array([104, 105]).buffer") == b"hi"
    assert ctx.eval("new Uint8Array(0)") == b""
    r = ctx.eval("new Uint8Array([0, 1, 2, 3, 4, 5]).subarray(2, 5)")
    assert r == b"\x02\x03\x04"
    assert type(r) is bytes


def test_other_typed_arrays_are_handles(ctx):
    h = ctx.eval("new Int16Array([1, 2])")
    assert isinstance(h, qjs.Handle)
    assert h[1] == 2
    assert isinstance(ctx.eval("new Float64Array(2)"), qjs.Handle)


def test_date_to_aware_utc_datetime(ctx):
    r = ctx.eval("new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))")
    assert isinstance(r, dt.datetime)
    assert r.tzinfo is not None
    assert r.utcoffset() == dt.timedelta(0)
    assert r == dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert ctx.eval("new Date(0)") == dt.datetime(1970, 1, 1, tzinfo=UTC)


def test_pre_epoch_date(ctx):
    assert ctx.eval("new Date(-1)") == dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    ctx.globals["d"] = dt.datetime(1900, 3, 1, 12, 30, tzinfo=UTC)
    assert ctx.eval("d.toISOString()") == "1900-03-01T12:30:00.000Z"


@pytest.mark.parametrize(
    "src, typeof",
    [
        ("(function f() {})", "function"),
        ("(() => 1)", "function"),
        ("Promise.resolve(1)", "object"),
        ("new Map()", "object"),
        ("new Set([1])", "object"),
        ("Symbol('s')", "symbol"),
        ("(function* g() {})()", "object"),
        ("new (class A { constructor() { this.x = 1 } })()", "object"),
        ("/re/g", "object"),
        ("new Error('e')", "object"),
        ("Object.create({inherited: 1})", "object"),
    ],
)
def test_everything_else_is_a_handle(ctx, src, typeof):
    h = ctx.eval(src)
    assert isinstance(h, qjs.Handle)
    assert h.typeof == typeof


def test_handle_inside_container(ctx):
    r = ctx.eval("[1, () => 2, {f: () => 3}]")
    assert r[0] == 1
    assert isinstance(r[1], qjs.Handle) and r[1]() == 2
    assert isinstance(r[2]["f"], qjs.Handle) and r[2]["f"]() == 3


# --- Python -> JS ------------------------------------------------------------


def test_none_becomes_null(ctx):
    ctx.globals["v"] = None
    assert ctx.eval("v === null") is True


def test_bool_stays_boolean(ctx):
    ctx.globals["t"] = True
    ctx.globals["f"] = False
    assert ctx.eval("typeof t + typeof f") == "booleanboolean"
    assert ctx.eval("t === true && f === false") is True


@pytest.mark.parametrize(
    "n, typeof",
    [
        (0, "number"),
        (2**31, "number"),
        (2**53 - 1, "number"),
        (-(2**53 - 1), "number"),
        (2**53, "bigint"),
        (-(2**53), "bigint"),
        (2**100, "bigint"),
        (-(2**100), "bigint"),
    ],
)
def test_int_becomes_number_or_bigint(ctx, n, typeof):
    ctx.globals["n"] = n
    assert ctx.eval("typeof n") == typeof
    assert ctx.eval("String(n)") == str(n)


def test_bigint_roundtrip(ctx):
    assert roundtrip(ctx, 2**100) == 2**100
    assert roundtrip(ctx, -(2**70) + 1) == -(2**70) + 1


def test_safe_int_roundtrip_follows_number_rule(ctx):
    assert roundtrip(ctx, 7) == 7 and type(roundtrip(ctx, 7)) is int
    r = roundtrip(ctx, 2**40)
    assert r == 1099511627776.0 and type(r) is float


def test_floats(ctx):
    ctx.globals["x"] = 1.25
    assert ctx.eval("x * 2") == 2.5
    ctx.globals["nz"] = -0.0
    assert ctx.eval("Object.is(nz, -0)") is True
    ctx.globals["nan"] = math.nan
    assert ctx.eval("Number.isNaN(nan)") is True
    ctx.globals["inf"] = math.inf
    assert ctx.eval("inf === Infinity") is True
    assert math.copysign(1, roundtrip(ctx, -0.0)) == -1


def test_strings_into_js(ctx):
    ctx.globals["s"] = "a\x00b"
    assert ctx.eval("s.length") == 3
    assert ctx.eval("s.charCodeAt(1)") == 0
    ctx.globals["lone"] = "\udc00x"
    assert ctx.eval("lone.length") == 2
    assert ctx.eval("lone.charCodeAt(0)") == 0xDC00
    ctx.globals["astral"] = "\U0001F600"
    assert ctx.eval("astral.length") == 2
    assert ctx.eval("astral.codePointAt(0)") == 0x1F600


@pytest.mark.parametrize(
    "s", ["", "plain", "a\x00b\x00", "\ud800", "\udc00x", "\U0001F600", "é中\U0010FFFF", "x" * 10000]
)
def test_string_roundtrip(ctx, s):
    assert roundtrip(ctx, s) == s


@pytest.mark.parametrize("make", [bytes, bytearray, lambda b: memoryview(bytes(b))])
def test_bytes_like_become_uint8array(ctx, make):
    ctx.globals["b"] = make(b"\x00\x01\xfe")
    assert ctx.eval("b instanceof Uint8Array") is True
    assert ctx.eval("Array.from(b)") == [0, 1, 254]
    assert ctx.eval("b") == b"\x00\x01\xfe"


def test_bytes_are_copied(ctx):
    ba = bytearray(b"abc")
    ctx.globals["b"] = ba
    ba[0] = ord("z")
    assert ctx.eval("b[0]") == ord("a")
    ctx.eval("b[1] = 0")
    assert ba == bytearray(b"zbc")


def test_list_and_tuple_become_arrays(ctx):
    ctx.globals["l"] = [1, "a", [2.5, None]]
    ctx.globals["t"] = (1, 2)
    assert ctx.eval("Array.isArray(l) && Array.isArray(t) && Array.isArray(l[2])") is True
    assert ctx.eval("JSON.stringify([l, t])") == '[[1,"a",[2.5,null]],[1,2]]'


def test_dict_becomes_plain_object(ctx):
    ctx.globals["d"] = {"a": 1, "nested": {"b": [True]}}
    assert ctx.eval("Object.getPrototypeOf(d) === Object.prototype") is True
    assert ctx.eval("JSON.stringify(d)") == '{"a":1,"nested":{"b":[true]}}'


def test_nested_roundtrip(ctx):
    value = {"a": [1, 2.5, "s", None, True, {"b": [[], {}]}], "big": 2**80, "z": b"\x00"}
    assert roundtrip(ctx, value) == value


def test_naive_datetime_is_utc(ctx):
    ctx.globals["d"] = dt.datetime(2024, 1, 2, 3, 4, 5, 678000)
    assert ctx.eval("d instanceof Date") is True
    assert ctx.eval("d.toISOString()") == "2024-01-02T03:04:05.678Z"


def test_aware_datetime_is_converted(ctx):
    plus2 = dt.timezone(dt.timedelta(hours=2))
    ctx.globals["d"] = dt.datetime(2024, 6, 1, 12, 0, 0, tzinfo=plus2)
    assert ctx.eval("d.toISOString()") == "2024-06-01T10:00:00.000Z"


def test_datetime_roundtrip_millisecond_precision(ctx):
    d = dt.datetime(2030, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert roundtrip(ctx, d) == d
    r = roundtrip(ctx, dt.datetime(2000, 1, 1, 0, 0, 0, 123000))
    assert r == dt.datetime(2000, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)


def test_handle_passes_through_as_same_value(ctx):
    h = ctx.eval_handle("globalThis.orig = {k: 1}; orig")
    ctx.globals["same"] = h
    assert ctx.eval("same === orig") is True
    ctx.globals["inList"] = [h]
    assert ctx.eval("inList[0] === orig") is True


def test_callable_becomes_function(ctx):
    ctx.globals["double"] = lambda x: 2 * x
    assert ctx.eval("typeof double") == "function"
    assert ctx.eval("double(21)") == 42
    ctx.globals["ns"] = {"triple": lambda x: 3 * x}
    assert ctx.eval("ns.triple(5)") == 15


@pytest.mark.parametrize("bad", [object(), {1, 2}, frozenset(), 1j, Ellipsis])
def test_unsupported_python_value_is_type_error(ctx, bad):
    with pytest.raises(TypeError):
        ctx.globals["bad"] = bad
    with pytest.raises(TypeError):
        ctx.globals["bad"] = [1, {"deep": bad}]
    assert ctx.eval("typeof bad") == "undefined"


# --- depth and cycles --------------------------------------------------------


def test_js_cycle_is_value_error(ctx):
    with pytest.raises(ValueError):
        ctx.eval("a = []; a.push(a); a")
    with pytest.raises(ValueError):
        ctx.eval("o = {}; o.self = o; o")
    with pytest.raises(ValueError):
        ctx.eval("x = {l: []}; x.l.push({back: x}); x")
    assert ctx.eval("1 + 1") == 2


def test_handle_to_python_cycle_is_value_error(ctx):
    with ctx.eval_handle("const c = {n: 1}; c.me = c; c") as h:
        with pytest.raises(ValueError):
            h.to_python()
        assert h["n"] == 1
        with h.get_handle("me") as again:
            assert again["n"] == 1


def test_large_bytes_roundtrip(ctx):
    data = bytes(range(256)) * 4096
    assert roundtrip(ctx, data) == data
    assert ctx.eval("v.length") == len(data)


def test_python_cycle_is_value_error(ctx):
    lst = []
    lst.append(lst)
    with pytest.raises(ValueError):
        ctx.globals["l"] = lst
    d = {}
    d["self"] = d
    with pytest.raises(ValueError):
        ctx.globals["d"] = d
    mixed = {"l": []}
    mixed["l"].append(mixed)
    with pytest.raises(ValueError):
        ctx.globals["m"] = mixed
    assert ctx.eval("typeof l + typeof d + typeof m") == "undefinedundefinedundefined"


def test_python_shared_subobject_is_not_a_cycle(ctx):
    s = [1]
    assert roundtrip(ctx, [s, s, {"a": s}]) == [[1], [1], {"a": [1]}]


def test_moderate_depth_converts_both_ways(ctx):
    assert ctx.eval("let a = 0; for (let i = 0; i < 100; i++) a = [a]; a") is not None
    v = 0
    for _ in range(100):
        v = [v]
    assert roundtrip(ctx, v) == v


def test_js_too_deep_is_value_error(ctx):
    with pytest.raises(ValueError):
        ctx.eval("let a = []; for (let i = 0; i < 1000; i++) a = [a]; a")
    with pytest.raises(ValueError):
        ctx.eval("let o = {}; for (let i = 0; i < 1000; i++) o = {o}; o")
    assert ctx.eval("1 + 1") == 2


def test_python_too_deep_is_value_error(ctx):
    v = []
    for _ in range(1000):
        v = [v]
    with pytest.raises(ValueError):
        ctx.globals["deep"] = v
    d = {}
    for _ in range(1000):
        d = {"d": d}
    with pytest.raises(ValueError):
        ctx.globals["deep"] = d


def test_extremely_deep_nesting_does_not_crash(run_child):
    """Regression: converting 100k-deep nesting must raise ValueError, not overflow the C stack."""
    r = run_child(
        """
        import qjs
        with qjs.Context() as ctx:
            try:
                ctx.eval("let a = []; for (let i = 0; i < 100000; i++) a = [a]; a")
            except ValueError:
                pass
            else:
                raise SystemExit("js: no ValueError")
            v = []
            for _ in range(100000):
                v = [v]
            try:
                ctx.globals["v"] = v
            except ValueError:
                pass
            else:
                raise SystemExit("py: no ValueError")
            assert ctx.eval("2 + 2") == 4
        print("ok")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
