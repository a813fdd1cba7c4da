"""qjs.inspect against node's util.inspect: every expected text below was
recorded by hand with node v20 on the same expressions (node is not called here)."""

import pytest

import qjs

# (JS expression, what node v20's util.inspect printed)
NODE = [
    ('1',
     '1'),
    ('-0',
     '-0'),
    ('1.5',
     '1.5'),
    ('NaN',
     'NaN'),
    ('-Infinity',
     '-Infinity'),
    ('123n',
     '123n'),
    ("'abc'",
     "'abc'"),
    ('"it\'s"',
     '"it\'s"'),
    ('\'both \\\' and "\'',
     '`both \' and "`'),
    ('\'both \\\' " and `\'',
     '\'both \\\' " and `\''),
    ("'tab\\there\\nnewline'",
     "'tab\\there\\nnewline'"),
    ("'\\u0001\\u007f'",
     "'\\x01\\x7F'"),
    ('true',
     'true'),
    ('null',
     'null'),
    ('undefined',
     'undefined'),
    ("Symbol('s')",
     'Symbol(s)'),
    ('Symbol.iterator',
     'Symbol(Symbol.iterator)'),
    ('Symbol()',
     'Symbol()'),
    ('[]',
     '[]'),
    ('[1, 2, 3]',
     '[ 1, 2, 3 ]'),
    ('[1, , 3]',
     '[ 1, <1 empty item>, 3 ]'),
    ('[, , 1, , , ]',
     '[ <2 empty items>, 1, <2 empty items> ]'),
    ('new Array(5)',
     '[ <5 empty items> ]'),
    ("['a', 'b']",
     "[ 'a', 'b' ]"),
    ('[[1, [2, [3, [4]]]]]',
     '[ [ 1, [ 2, [Array] ] ] ]'),
    ('({})',
     '{}'),
    ("({a: 1, b: 'two', c: [3]})",
     "{ a: 1, b: 'two', c: [ 3 ] }"),
    ('({d: undefined, f: 1n})',
     '{ d: undefined, f: 1n }'),
    ("({'a-b': 1, 'x y': 2, 3: 'n', _ok: 4, $no: 5})",
     "{ '3': 'n', 'a-b': 1, 'x y': 2, _ok: 4, '$no': 5 }"),
    ("({[Symbol('k')]: 1})",
     '{ [Symbol(k)]: 1 }'),
    ('({a: {b: {c: {d: {e: 1}}}}})',
     '{ a: { b: { c: [Object] } } }'),
    ('({__proto__: null, a: 1})',
     '[Object: null prototype] { a: 1 }'),
    ('Object.create(null)',
     '[Object: null prototype] {}'),
    ('({get g() { return 1 }, set s(v) {}, get gs() { return 1 }, set gs(v) {}})',
     '{ g: [Getter], s: [Setter], gs: [Getter/Setter] }'),
    ('(() => { const o = {a: 1}; o.self = o; return o })()',
     '<ref *1> { a: 1, self: [Circular *1] }'),
    ('(() => { const a = [1]; a.push(a); return a })()',
     '<ref *1> [ 1, [Circular *1] ]'),
    ('(() => { const o = {}; o.x = {y: o}; o.z = [o]; return o })()',
     '<ref *1> { x: { y: [Circular *1] }, z: [ [Circular *1] ] }'),
    ('function foo() {}',
     '[Function: foo]'),
    ('(function () {})',
     '[Function (anonymous)]'),
    ('() => 1',
     '[Function (anonymous)]'),
    ('async function af() {}',
     '[AsyncFunction: af]'),
    ('function* gf() {}',
     '[GeneratorFunction: gf]'),
    ('async function* agf() {}',
     '[AsyncGeneratorFunction: agf]'),
    ('(function f() {}).bind(null)',
     '[Function: bound f]'),
    ('class A {}',
     '[class A]'),
    ('class B extends Array {}',
     '[class B extends Array]'),
    ('(class {})',
     '[class (anonymous)]'),
    ('Object.assign(function fn() {}, {p: 1})',
     '[Function: fn] { p: 1 }'),
    ('new (class Foo { constructor() { this.a = 1; this.b = [1, 2] } })()',
     'Foo { a: 1, b: [ 1, 2 ] }'),
    ('new (class Empty {})()',
     'Empty {}'),
    ('new Map()',
     'Map(0) {}'),
    ("new Map([['a', 1], ['b', {c: 2}]])",
     "Map(2) { 'a' => 1, 'b' => { c: 2 } }"),
    ('new Map([[{k: 1}, [1, 2]]])',
     'Map(1) { { k: 1 } => [ 1, 2 ] }'),
    ('new Set()',
     'Set(0) {}'),
    ("new Set([1, 'two', [3]])",
     "Set(3) { 1, 'two', [ 3 ] }"),
    ('new WeakMap()',
     'WeakMap { <items unknown> }'),
    ('new WeakSet()',
     'WeakSet { <items unknown> }'),
    ('new Uint8Array([1, 2, 3])',
     'Uint8Array(3) [ 1, 2, 3 ]'),
    ('new Float64Array(2)',
     'Float64Array(2) [ 0, 0 ]'),
    ('new BigInt64Array([1n, -2n])',
     'BigInt64Array(2) [ 1n, -2n ]'),
    ('new Uint8Array(0)',
     'Uint8Array(0) []'),
    ('new ArrayBuffer(4)',
     'ArrayBuffer { [Uint8Contents]: <00 00 00 00>, byteLength: 4 }'),
    ('new DataView(new ArrayBuffer(2))',
     'DataView {\n  byteLength: 2,\n  byteOffset: 0,\n  buffer: ArrayBuffer { [Uint8Contents]: <00 00>, byteLength: 2 }\n}'),
    ('new Date(0)',
     '1970-01-01T00:00:00.000Z'),
    ('new Date(NaN)',
     'Invalid Date'),
    ('/ab+c/gi',
     '/ab+c/gi'),
    ('new Number(3)',
     '[Number: 3]'),
    ("new String('ab')",
     "[String: 'ab']"),
    ('new Boolean(false)',
     '[Boolean: false]'),
    ("Object(Symbol('b'))",
     '[Symbol: Symbol(b)]'),
    ('Object(5n)',
     '[BigInt: 5n]'),
    ('Promise.resolve(42)',
     'Promise { 42 }'),
    ('new Promise(() => {})',
     'Promise { <pending> }'),
    ('Promise.resolve({a: [1]})',
     'Promise { { a: [ 1 ] } }'),
    ('Array.from({length: 120}, (_, i) => i)',
     '[\n   0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11,\n  12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,\n  24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,\n  36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,\n  48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59,\n  60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71,\n  72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83,\n  84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,\n  96, 97, 98, 99,\n  ... 20 more items\n]'),
    ("Array.from({length: 30}, (_, i) => 'item' + i)",
     "[\n  'item0',  'item1',  'item2',\n  'item3',  'item4',  'item5',\n  'item6',  'item7',  'item8',\n  'item9',  'item10', 'item11',\n  'item12', 'item13', 'item14',\n  'item15', 'item16', 'item17',\n  'item18', 'item19', 'item20',\n  'item21', 'item22', 'item23',\n  'item24', 'item25', 'item26',\n  'item27', 'item28', 'item29'\n]"),
    ('Array.from({length: 8}, (_, i) => i * 1000)',
     '[\n     0, 1000, 2000,\n  3000, 4000, 5000,\n  6000, 7000\n]'),
    ('[1.5, 22, 333, 4444, 55555, 666666, 7777777]',
     '[ 1.5, 22, 333, 4444, 55555, 666666, 7777777 ]'),
    ("['a', 1, 'b', 2, 'c', 3, 'd', 4]",
     "[\n  'a', 1, 'b', 2,\n  'c', 3, 'd', 4\n]"),
    ("({a: 'x'.repeat(30), b: 'y'.repeat(30), c: 'z'.repeat(30)})",
     "{\n  a: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',\n  b: 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy',\n  c: 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz'\n}"),
    ('({aaaaaaaaaa: 1, bbbbbbbbbb: 2, cccccccccc: 3, dddddddddd: 4, eeeeeeeeee: 5, ffffffffff: 6})',
     '{\n  aaaaaaaaaa: 1,\n  bbbbbbbbbb: 2,\n  cccccccccc: 3,\n  dddddddddd: 4,\n  eeeeeeeeee: 5,\n  ffffffffff: 6\n}'),
    ("'line1\\nline2\\nline3 is a longer line of text'",
     "'line1\\nline2\\nline3 is a longer line of text'"),
    ('[new Map([[1, {a: [1, {b: 2}]}]])]',
     '[ Map(1) { 1 => { a: [Array] } } ]'),
    ('(function () { return arguments })(1, 2)',
     "[Arguments] { '0': 1, '1': 2 }"),
    ('new Set([new Set([new Set([new Set([1])])])])',
     'Set(1) { Set(1) { Set(1) { [Set] } } }'),
    ("({m: new Map([['k', new Map([['j', new Map([['i', 1]])]])]])})",
     "{ m: Map(1) { 'k' => Map(1) { 'j' => [Map] } } }"),
    ('[undefined, null, NaN, -0, 0]',
     '[ undefined, null, NaN, -0, 0 ]'),
    ("Object.defineProperty({}, 'hidden', {value: 1, enumerable: false})",
     '{}'),
    ("Object.defineProperty([1, 2], 'extra', {value: 3, enumerable: true})",
     '[ 1, 2, extra: 3 ]'),
]

# line breaking and grouping (node v20, recorded the same way)
NODE_LAYOUT = [
    ('({a: {b: {c: {}}}, x: [[[[]]]]})',
     '{ a: { b: { c: {} } }, x: [ [ [Array] ] ] }'),
    ("({users: [{name: 'alice', age: 30, tags: ['a', 'b']}, {name: 'bob', age: 25, tags: []}], total: 2})",
     "{\n  users: [\n    { name: 'alice', age: 30, tags: [Array] },\n    { name: 'bob', age: 25, tags: [] }\n  ],\n  total: 2\n}"),
    ('[{a: 1, b: 2}, {a: 3, b: 4}, {a: 5, b: 6}, {a: 7, b: 8}, {a: 9, b: 10}, {a: 11, b: 12}, {a: 13, b: 14}]',
     '[\n  { a: 1, b: 2 },\n  { a: 3, b: 4 },\n  { a: 5, b: 6 },\n  { a: 7, b: 8 },\n  { a: 9, b: 10 },\n  { a: 11, b: 12 },\n  { a: 13, b: 14 }\n]'),
    ("({text: 'first line\\nsecond line that is quite long and goes on and on and on'})",
     "{\n  text: 'first line\\nsecond line that is quite long and goes on and on and on'\n}"),
    ("['first line\\nsecond line', 'x']",
     "[ 'first line\\nsecond line', 'x' ]"),
    ("new Map([['config', {debug: true, level: 3, targets: ['console', 'file', 'network']}], ['other', null]])",
     "Map(2) {\n  'config' => { debug: true, level: 3, targets: [ 'console', 'file', 'network' ] },\n  'other' => null\n}"),
    ('({f: function named() {}, g: () => {}, h: class K {}})',
     '{ f: [Function: named], g: [Function: g], h: [class K] }'),
    ("[new Error('inner')].length",
     '1'),
    ('({nested: {deeper: {deepest: {gone: 1}}, arr: [1, [2, [3, [4]]]]}})',
     '{ nested: { deeper: { deepest: [Object] }, arr: [ 1, [Array] ] } }'),
    ('Array.from({length: 26}, (_, i) => String.fromCharCode(97 + i).repeat(i % 5 + 1))',
     "[\n  'a',     'bb',    'ccc',   'dddd',\n  'eeeee', 'f',     'gg',    'hhh',\n  'iiii',  'jjjjj', 'k',     'll',\n  'mmm',   'nnnn',  'ooooo', 'p',\n  'qq',    'rrr',   'ssss',  'ttttt',\n  'u',     'vv',    'www',   'xxxx',\n  'yyyyy', 'z'\n]"),
    ("[1, 2, 3, 4, 5, 6, 7, 'eight']",
     "[ 1, 2, 3, 4, 5, 6, 7, 'eight' ]"),
    ('[true, false, true, false, true, false, true]',
     '[\n  true, false,\n  true, false,\n  true, false,\n  true\n]'),
    ('[-1, 2.5, -300, 4e21, 5, 6, 7]',
     '[\n     -1, 2.5, -300,\n  4e+21,   5,    6,\n      7\n]'),
    ("({a: [], b: {}, c: '', d: 0, e: null})",
     "{ a: [], b: {}, c: '', d: 0, e: null }"),
    ('new Set(Array.from({length: 30}, (_, i) => i))',
     'Set(30) {\n  0,\n  1,\n  2,\n  3,\n  4,\n  5,\n  6,\n  7,\n  8,\n  9,\n  10,\n  11,\n  12,\n  13,\n  14,\n  15,\n  16,\n  17,\n  18,\n  19,\n  20,\n  21,\n  22,\n  23,\n  24,\n  25,\n  26,\n  27,\n  28,\n  29\n}'),
    ("new Map(Array.from({length: 5}, (_, i) => [i, 'v' + i]))",
     "Map(5) { 0 => 'v0', 1 => 'v1', 2 => 'v2', 3 => 'v3', 4 => 'v4' }"),
    ("({'key with spaces': {'another-key': [1, 2, 3]}, valid_id: true})",
     "{ 'key with spaces': { 'another-key': [ 1, 2, 3 ] }, valid_id: true }"),
    ('[[1, 2, [3, 4, [5, [6]]]], {x: {y: {z: {w: 1}}}}]',
     '[ [ 1, 2, [ 3, 4, [Array] ] ], { x: { y: [Object] } } ]'),
    ("({longKeyNumberOne: 'value number one', longKeyNumberTwo: 'value number two', k3: 3})",
     "{\n  longKeyNumberOne: 'value number one',\n  longKeyNumberTwo: 'value number two',\n  k3: 3\n}"),
    ('Object.assign(Object.create({inherited: 1}), {own: 2})',
     '{ own: 2 }'),
    ("Object.assign([1, 2, 3], {prop: 'x'})",
     "[ 1, 2, 3, prop: 'x' ]"),
    ('new Uint8Array(120)',
     'Uint8Array(120) [\n  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n  0, 0, 0, 0,\n  ... 20 more items\n]'),
    ("(() => { const a = {name: 'a'}; const b = {name: 'b', a}; a.b = b; return [a, b] })()",
     "[\n  <ref *1> { name: 'a', b: { name: 'b', a: [Circular *1] } },\n  <ref *2> { name: 'b', a: <ref *1> { name: 'a', b: [Circular *2] } }\n]"),
]

# (JS expression, options, what node printed with the same options)
NODE_OPTIONS = [
    ('({a: {b: {c: {d: 1}}}})', {'depth': 0},
     '{ a: [Object] }'),
    ('({a: {b: {c: {d: 1}}}})', {'depth': None},
     '{\n  a: { b: { c: { d: 1 } } }\n}'),
    ('[1, [2, [3]]]', {'depth': 1},
     '[ 1, [ 2, [Array] ] ]'),
    ('Array.from({length: 10}, (_, i) => i)', {'max_array_length': 3},
     '[ 0, 1, 2, ... 7 more items ]'),
    ("'abcdefghij'", {'max_string_length': 4},
     "'abcd'... 6 more characters"),
    ('({a: 1, b: 2, c: 3})', {'breakLength': 10},
     '{\n  a: 1,\n  b: 2,\n  c: 3\n}'),
    ("[1, 'a', null, undefined, true, 1n, Symbol('x')]", {'colors': True},
     "[ \x1b[33m1\x1b[39m, \x1b[32m'a'\x1b[39m, \x1b[1mnull\x1b[22m, \x1b[90mundefined\x1b[39m, \x1b[33mtrue\x1b[39m, \x1b[33m1n\x1b[39m, \x1b[32mSymbol(x)\x1b[39m ]"),
    ('({f() {}, d: new Date(0), r: /x/})', {'colors': True},
     '{ f: \x1b[36m[Function: f]\x1b[39m, d: \x1b[35m1970-01-01T00:00:00.000Z\x1b[39m, r: \x1b[31m/x/\x1b[39m }'),
]

# (console.log arguments, what node's console.log printed: util.format)
NODE_FORMAT = [
    ("'%s=%d', 'x', 5", 'x=5'),
    ("'%i %f', '42.9px', '1.5e3'", '42 1500'),
    ("'%j', {a: [1, 'x']}", '{"a":[1,"x"]}'),
    ("'%o', [1]", '[ 1, [length]: 1 ]'),
    ("'%O', {a: {b: {c: {d: 1}}}}", '{ a: { b: { c: [Object] } } }'),
    ("'%c styled', 'color: red'", ' styled'),
    ("'100%% %s', 'sure'", '100% sure'),
    ("'%s', null, undefined, 'extra'", 'null undefined extra'),
    ('null', 'null'),
    ('undefined, null', 'undefined null'),
    ("'a', 1, 'b', {c: 'd'}", "a 1 b { c: 'd' }"),
    ("'%s', {a: 1}", '{ a: 1 }'),
    ("'%s', 1n", '1n'),
    ("'%d', '0x10'", '16'),
    ("'no args %s'", 'no args %s'),
    ("1, '%s', 2", '1 %s 2'),
]


@pytest.fixture
def c():
    with qjs.Context() as ctx:
        yield ctx


@pytest.mark.parametrize("src,expected", NODE + NODE_LAYOUT,
                         ids=[s[:40] for s, _ in NODE + NODE_LAYOUT])
def test_like_node(c, src, expected):
    with c.eval_handle(f"({src})") as h:
        assert qjs.inspect(h) == expected


@pytest.mark.parametrize("src,options,expected", NODE_OPTIONS,
                         ids=[f"{s[:30]}-{sorted(o)}" for s, o, _ in NODE_OPTIONS])
def test_options_like_node(c, src, options, expected):
    with c.eval_handle(f"({src})") as h:
        assert qjs.inspect(h, **options) == expected


@pytest.mark.parametrize("args,expected", NODE_FORMAT, ids=[a[:30] for a, _ in NODE_FORMAT])
def test_console_log_like_node(c, capsys, args, expected):
    c.eval(f"console.log({args})")
    assert capsys.readouterr().out == expected + "\n"


def test_console_log_null_is_null(c, capsys):
    """console.log(null) printed 'undefined': arguments were converted before formatting."""
    c.eval("console.log(null); console.log([null, undefined])")
    assert capsys.readouterr().out == "null\n[ null, undefined ]\n"


def test_error_with_stack(c):
    h = c.eval_handle("function thrower() { return new TypeError('bad') }\nthrower()",
                      filename="err.js")
    text = qjs.inspect(h)
    assert text.splitlines()[0] == "TypeError: bad"
    assert text.splitlines()[1] == "    at thrower (err.js:1:33)"


def test_error_with_properties(c):
    h = c.eval_handle("const e = new Error('x'); e.code = 7; e", filename="p.js")
    text = qjs.inspect(h)
    assert text.startswith("Error: x\n    at ")
    assert text.endswith(" {\n  code: 7\n}")


def test_rejected_promise(c):
    h = c.eval_handle("const p = Promise.reject(new Error('no')); p.catch(() => {}); p",
                      filename="r.js")
    text = qjs.inspect(h)
    assert text.startswith("Promise {\n  <rejected> Error: no\n      at ")
    assert text.endswith("\n}")


def test_python_values(c):
    import datetime as dt

    assert qjs.inspect(None) == "null"
    assert qjs.inspect("a'b") == '"a\'b"'
    assert qjs.inspect({"a": [1, 2.5, None], "b": b"\x01"}) == \
        "{ a: [ 1, 2.5, null ], b: Uint8Array(1) [ 1 ] }"
    assert qjs.inspect(2**70) == "1180591620717411303424n"
    assert qjs.inspect(dt.datetime(2020, 1, 2, tzinfo=dt.timezone.utc)) == \
        "2020-01-02T00:00:00.000Z"


def test_python_values_with_handles_inside(c):
    m = c.eval_handle("new Map([[1, 2]])")
    assert qjs.inspect({"m": m, "xs": [m]}) == "{ m: Map(1) { 1 => 2 }, xs: [ Map(1) { 1 => 2 } ] }"
    m.dispose()


def test_patched_builtins_do_not_change_output(c):
    h = c.eval_handle("({a: [1, 2], m: new Map([['k', new Set([1])]])})")
    cyc = c.eval_handle("const o = {e: new RangeError('r')}; o.o = o; o")
    cyc_before = qjs.inspect(cyc)
    before = qjs.inspect(h)
    c.eval("""
        Array.prototype[Symbol.iterator] = function* () { yield 'patched' };
        Array.prototype.splice = () => { throw new Error('patched') };
        Map.prototype.get = () => 99;
        Map.prototype.set = () => { throw new Error('patched') };
        Error.prototype.toString = () => 'patched';
        Array.prototype.join = () => 'patched';
        Array.prototype.push = function () { throw new Error('patched') };
        Object.keys = () => ['nope'];
        Map.prototype.entries = function* () { yield ['fake', 1] };
        Set.prototype.values = function* () { yield 'fake' };
        String.prototype.slice = () => 'patched';
        Object.getOwnPropertyDescriptor = () => undefined;
    """)
    assert qjs.inspect(h) == before == "{ a: [ 1, 2 ], m: Map(1) { 'k' => Set(1) { 1 } } }"
    assert qjs.inspect(cyc) == cyc_before
    assert cyc_before.startswith("<ref *1> {\n  e: RangeError: r\n      at ")
    assert cyc_before.endswith("  o: [Circular *1]\n}")


def test_inspector_not_visible_from_js(c):
    qjs.inspect(c.eval_handle("({})"))
    names = c.eval("Reflect.ownKeys(globalThis).map(String)")
    assert not [n for n in names if "inspect" in n.lower()]


def test_proxy_traps_do_not_run(c):
    h = c.eval_handle("""globalThis.trapped = 0;
        new Proxy({a: 1}, {get() { trapped++; return 5 }, ownKeys() { trapped++; return [] },
                           getOwnPropertyDescriptor() { trapped++ }})""")
    assert qjs.inspect(h) == "{ a: 1 }"
    assert c.eval("trapped") == 0


def test_revoked_proxy(c):
    h = c.eval_handle("const r = Proxy.revocable({}, {}); r.revoke(); r.proxy")
    assert qjs.inspect(h) == "<Revoked Proxy>"


def test_getters_are_not_called(c):
    h = c.eval_handle("globalThis.calls = 0; ({get g() { calls++; return 1 }})")
    assert qjs.inspect(h) == "{ g: [Getter] }"
    assert c.eval("calls") == 0


def test_output_is_capped(c):
    h = c.eval_handle("Array.from({length: 50000}, (_, i) => 'x'.repeat(100))")
    text = qjs.inspect(h, max_array_length=float("inf"))
    assert len(text) < qjs.INSPECT_MAX_OUTPUT + 200
    assert text.endswith("more characters)")


def test_obeys_the_deadline():
    with qjs.Context(timeout=0.3) as ctx:
        h = ctx.eval_handle("({get [Symbol.toStringTag]() { for (;;) {} }})")
        with pytest.raises(qjs.JSTimeoutError):
            qjs.inspect(h)
        assert ctx.eval("1 + 1") == 2


def test_bad_options(c):
    h = c.eval_handle("({})")
    with pytest.raises(ValueError):
        qjs.inspect(h, depth=-1)
    with pytest.raises(ValueError):
        qjs.inspect(h, max_array_length="3")


def test_closed_handle(c):
    h = c.eval_handle("({})")
    h.dispose()
    with pytest.raises(qjs.ClosedError):
        qjs.inspect(h)


def test_handle_repr_is_a_preview(c):
    h = c.eval_handle("new Map([['a', 1], ['b', 2]])")
    assert repr(h) == "<qjs.Handle Map(2) { 'a' => 1, 'b' => 2 }>"
    big = c.eval_handle("Array.from({length: 1000}, (_, i) => ({i, s: 'x'.repeat(50)}))")
    r = repr(big)
    assert r.startswith("<qjs.Handle [ { i: 0, s: 'xxxx") and len(r) < 140 and "\n" not in r
    err = c.eval_handle("new Error('e')")
    assert repr(err).startswith("<qjs.Handle Error: e ...")
    h.dispose()
    assert repr(h) == "<qjs.Handle disposed>"


def test_repr_of_hostile_value_does_not_hang(c):
    h = c.eval_handle("({get [Symbol.toStringTag]() { for (;;) {} }})")
    assert repr(h) == "<qjs.Handle object>"
    assert c.eval("1 + 1") == 2
