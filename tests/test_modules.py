"""ES modules from the host, compiled scripts, value snapshots, pickling."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import pickle
import random
import subprocess
import sys

import pytest

import qjs

from conftest import child_env

MODULES = {
    "math2": "export const sq = x => x * x;\nexport default 7;\n",
    "app": "import { sq } from 'math2';\nexport const r = sq(5);\n",
    "broken": "export const ok = 1;\nexport const x = ;\n",
    "thrower": "export const a = 1;\nthrow new RangeError('at load');\n",
    "dir/a": "import { b } from './b';\nexport const a = 'a' + b;\n",
    "dir/b": "export const b = 'b';\n",
}


@pytest.fixture
def loaded(rt):
    seen = []

    def loader(name):
        seen.append(name)
        return MODULES.get(name)

    rt.set_module_loader(loader)
    ctx = rt.new_context()
    yield ctx, seen
    ctx.close()


# -- modules -------------------------------------------------------------------

def test_module_imports_another_through_the_loader(loaded):
    ctx, seen = loaded
    ns = ctx.eval("import { r } from 'app'; export const v = r + 1;", module=True)
    assert ns == {"v": 26}
    assert seen == ["app", "math2"]


def test_module_namespace_is_a_dict_with_default(loaded):
    ctx, _ = loaded
    assert ctx.eval("export * from 'math2'; export { default } from 'math2';", module=True)["default"] == 7


def test_dynamic_import_through_the_loader(loaded):
    ctx, _ = loaded
    assert asyncio.run(ctx.eval_async("const m = await import('math2'); m.sq(3) + m.default")) == 16


def test_relative_imports_are_normalised_against_the_importer(loaded):
    ctx, seen = loaded
    assert ctx.eval("import { a } from 'dir/a'; export const x = a;", module=True) == {"x": "ab"}
    assert "dir/b" in seen


def test_custom_normalizer(rt):
    rt.set_module_loader(MODULES.get, lambda base, name: name.upper().lower().replace("@", ""))
    ctx = rt.new_context()
    assert ctx.eval("import { sq } from '@math2'; export const n = sq(4);", module=True) == {"n": 16}
    ctx.close()


def test_import_without_a_loader_fails_clearly(ctx):
    with pytest.raises(ImportError, match="no module loader"):
        ctx.eval("import 'x';", module=True)
    msg = asyncio.run(ctx.eval_async(
        "try { await import('x'); 'loaded' } catch (e) { e.name + ': ' + e.message }"))
    assert msg.startswith("ImportError: cannot import 'x': no module loader")


def test_unknown_module(loaded):
    ctx, _ = loaded
    with pytest.raises(ImportError, match="'nope' not found"):
        ctx.eval("import 'nope';", module=True)
    assert ctx.eval("1 + 1") == 2


def test_module_syntax_error_names_the_module_and_line(loaded):
    ctx, _ = loaded
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("import { ok } from 'broken';", module=True)
    assert ei.value.name == "SyntaxError"
    assert "broken:2" in ei.value.stack


def test_module_throwing_at_load(loaded):
    ctx, _ = loaded
    with pytest.raises(qjs.JSError) as ei:
        ctx.eval("import { a } from 'thrower';", module=True)
    assert ei.value.name == "RangeError" and ei.value.message == "at load"
    assert "thrower:2" in ei.value.stack


def test_loader_returning_a_non_string(rt):
    rt.set_module_loader(lambda name: 42)
    ctx = rt.new_context()
    with pytest.raises(TypeError, match="must return the source as str"):
        ctx.eval("import 'x';", module=True)
    ctx.close()


def test_loader_can_be_removed(rt):
    rt.set_module_loader(MODULES.get)
    rt.set_module_loader(None)
    ctx = rt.new_context()
    with pytest.raises(ImportError):
        ctx.eval("import 'math2';", module=True)
    ctx.close()


def test_add_module_registers_up_front(ctx):
    ctx.add_module("lib", "export function hi(n) { return 'hi ' + n }")
    assert ctx.eval("import { hi } from 'lib'; export const g = hi('x');", module=True) == {"g": "hi x"}
    assert asyncio.run(ctx.eval_async("(await import('lib')).hi('y')")) == "hi y"


def test_add_module_syntax_error_raises_now(ctx):
    with pytest.raises(qjs.JSError) as ei:
        ctx.add_module("oops", "export const = 1")
    assert ei.value.name == "SyntaxError"


def test_module_top_level_await_needs_eval_async(rt):
    async def tick():
        await asyncio.sleep(0)
        return 5

    ctx = rt.new_context()
    ctx.globals["tick"] = tick
    assert asyncio.run(ctx.eval_async("export const t = await tick();", module=True)) == {"t": 5}
    ctx.close()


# -- compiled scripts -------------------------------------------------------------

SCRIPT = "let t = 0; for (let i = 0; i < 100; i++) t += i; [t, typeof globalThis.marker]"


def test_script_compiled_once_runs_1000_times_in_fresh_contexts(rt):
    compiler = rt.new_context()
    script = compiler.compile(SCRIPT, filename="count.js")
    assert script.filename == "count.js" and not script.module
    results = set()
    for i in range(1000):
        c = rt.new_context(console=False)
        if i % 2:
            c.eval("globalThis.marker = 1")
        results.add(tuple(script.run(c)))
        c.close()
    assert results == {(4950, "undefined"), (4950, "number")}
    compiler.close()


def test_script_runs_in_another_runtime(ctx):
    script = ctx.compile("6 * 7")
    with qjs.Context() as other:
        assert script.run(other) == 42
    assert script.run(ctx) == 42


def test_script_errors_keep_the_filename_and_line(ctx):
    script = ctx.compile("1;\nnull.x;", filename="boom.js")
    with pytest.raises(qjs.JSError) as ei:
        script.run(ctx)
    assert ei.value.name == "TypeError" and "boom.js:2" in ei.value.stack


def test_compile_syntax_error_raises_at_compile(ctx):
    with pytest.raises(qjs.JSError) as ei:
        ctx.compile("let = ;", filename="bad.js")
    assert ei.value.name == "SyntaxError"


def test_script_respects_timeout(ctx):
    script = ctx.compile("for (;;) {}")
    with pytest.raises(qjs.JSTimeoutError):
        script.run(ctx, timeout=0.2)
    assert ctx.eval("1 + 1") == 2


def test_module_script_runs_in_each_context(rt):
    c1, c2 = rt.new_context(), rt.new_context()
    script = c1.compile("export const z = 40 + 2;", module=True)
    assert script.module
    assert script.run(c1) == {"z": 42}
    assert script.run(c2) == {"z": 42}
    c1.close()
    c2.close()


def test_script_bytes_round_trip(ctx):
    script = ctx.compile("'from bytes'")
    data = script.to_bytes()
    assert data[:4] == b"QJS\x00"
    again = qjs.Script.from_bytes(ctx.runtime, data)
    assert again.run(ctx) == "from bytes"
    assert qjs.Script.from_bytes(None, data).run(ctx) == "from bytes"


@pytest.mark.parametrize("cut", [0, 3, 10, 30, -1])
def test_truncated_bytecode_is_refused(ctx, cut):
    data = ctx.compile("1 + 1").to_bytes()
    with pytest.raises(ValueError):
        qjs.Script.from_bytes(None, data[:cut])


def test_random_bytes_are_refused_as_bytecode():
    rnd = random.Random(7)
    for n in (0, 1, 16, 64, 1000):
        with pytest.raises(ValueError):
            qjs.Script.from_bytes(None, bytes(rnd.randrange(256) for _ in range(n)))
    with pytest.raises(TypeError):
        qjs.Script.from_bytes(None, "not bytes")


def test_bytecode_of_another_engine_version_is_refused(ctx):
    data = bytearray(ctx.compile("1").to_bytes())
    n = data[6]
    tag = bytes(data[7:7 + n]).replace(b"0.17.0", b"0.16.9")
    forged = bytes(data[:7]) + tag + bytes(data[7 + n:])
    with pytest.raises(ValueError, match="made by engine"):
        qjs.Script.from_bytes(None, forged)


def test_snapshot_is_not_accepted_as_bytecode(ctx):
    with pytest.raises(ValueError, match="another kind"):
        qjs.Script.from_bytes(None, ctx.dumps([1]))


def _run_pickled(script):
    with qjs.Context() as c:
        return script.run(c)


def test_scripts_pickle_and_travel_to_other_processes(ctx):
    script = ctx.compile("[1, 2, 3].map(x => x * 10)")
    again = pickle.loads(pickle.dumps(script))
    assert again.run(ctx) == [10, 20, 30]
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
        assert pool.submit(_run_pickled, script).result(timeout=60) == [10, 20, 30]


# -- snapshots --------------------------------------------------------------------

GRAPH = """
const a = {name: 'a', when: new Date(86400000), m: new Map([['k', 1], [2, 'two']]),
           s: new Set([1, 'x']), big: 2n ** 70n, re: /x+/gi, u8: new Uint8Array([1, 2, 3]),
           f64: new Float64Array([0.5, -0]), ab: new ArrayBuffer(4), nested: {deep: [[1], [2]]}};
a.self = a;
a.shared = [a.m, a.m];
a.m.set('back', a);
a
"""

CHECK = """
[x.self === x, x.shared[0] === x.shared[1], x.shared[0] === x.m, x.m.get('back') === x,
 x.m.get('k'), x.m.get(2), x.s.has('x'), x.big === 2n ** 70n, x.re.source + '/' + x.re.flags,
 x.when.getTime(), Array.from(x.u8), Object.is(x.f64[1], -0), x.ab.byteLength,
 JSON.stringify(x.nested)]
"""

EXPECTED = [True, True, True, True, 1, "two", True, True, "x+/gi", 86400000, [1, 2, 3], True, 4,
            '{"deep":[[1],[2]]}']


def test_snapshot_round_trip_in_another_context(ctx):
    data = ctx.dumps(ctx.eval_handle(GRAPH))
    with qjs.Context() as other:
        other.globals["x"] = other.loads(data)
        assert other.eval(CHECK) == EXPECTED


def test_snapshot_restored_in_a_new_process_is_identical(ctx):
    data = ctx.dumps(ctx.eval_handle(GRAPH))
    code = (
        "import sys, json, qjs\n"
        "c = qjs.Context()\n"
        "c.globals['x'] = c.loads(sys.stdin.buffer.read())\n"
        f"print(json.dumps(c.eval({CHECK!r})))\n"
        "c.close()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True,
                          env=child_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    import json
    assert json.loads(proc.stdout) == EXPECTED


def test_snapshot_of_python_values(ctx):
    value = {"a": [1, 2.5, None, "s", True], "b": {"c": 2**70}}
    assert ctx.loads(ctx.dumps(value)).to_python() == value


@pytest.mark.parametrize("source, what, where", [
    ("({a: {b: [1, 2, 3, function f() {}]}})", "a function", "value.a.b[3]"),
    ("({s: Symbol('x')})", "a symbol", "value.s"),
    ("({get g() { return 1 }})", "an accessor property", "value.g"),
    ("[new Proxy({}, {})]", "a Proxy", "value[0]"),
    ("({m: new Map([[1, () => 1]])})", "a function", "value.m<Map value 0>"),
    ("({'odd key': [new WeakMap()]})", "an object of an unsupported class", 'value["odd key"][0]'),
    ("(class A {})", "a function", "value"),
])
def test_unserialisable_values_name_their_path(ctx, source, what, where):
    with pytest.raises(TypeError) as ei:
        ctx.dumps(ctx.eval_handle(source))
    assert what in str(ei.value) and str(ei.value).endswith(f"at {where}")


@pytest.mark.parametrize("cut", [0, 4, 5, 12, 30, -1])
def test_truncated_snapshot_raises_value_error(ctx, cut):
    data = ctx.dumps({"a": [1, 2, 3]})
    with pytest.raises(ValueError):
        ctx.loads(data[:cut])


def test_random_bytes_raise_value_error(ctx):
    rnd = random.Random(11)
    for n in (0, 3, 8, 40, 500):
        with pytest.raises(ValueError):
            ctx.loads(bytes(rnd.randrange(256) for _ in range(n)))


def _rewrap(data: bytes, payload: bytes) -> bytes:
    return data[:6] + hashlib.blake2b(payload, digest_size=16).digest() + payload


def test_damaged_payloads_with_a_valid_header_never_crash(run_child):
    """Regression guard: the snapshot decoder must turn any damaged body into an
    exception, never a crash (checked in a child process)."""
    proc = run_child(
        """
        import hashlib, random, qjs
        c = qjs.Context()
        data = c.dumps(c.eval_handle("const o = {a: [1, 'x', 2n**80n, new Date(0), new Map([[1, {b: 2}]])], s: new Set([1])}; o.me = o; o"))
        head, payload = data[:6], data[22:]
        rnd = random.Random(3)
        bad = ok = 0
        for i in range(4000):
            p = bytearray(payload)
            for _ in range(rnd.randrange(1, 6)):
                op = rnd.randrange(3)
                if op == 0 and p:
                    p[rnd.randrange(len(p))] = rnd.randrange(256)
                elif op == 1 and p:
                    del p[rnd.randrange(len(p)):]
                else:
                    p.insert(rnd.randrange(len(p) + 1), rnd.randrange(256))
            blob = head + hashlib.blake2b(bytes(p), digest_size=16).digest() + bytes(p)
            try:
                h = c.loads(blob)
                h.dispose()
                ok += 1
            except ValueError:
                bad += 1
            except qjs.JSMemoryError:
                bad += 1
        assert c.eval("1 + 1") == 2
        c.close()
        print("survived", ok + bad)
        """,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert "survived 4000" in proc.stdout


def test_snapshots_are_bytes_and_pickle(ctx):
    data = ctx.dumps([1, 2])
    assert isinstance(data, bytes)
    assert pickle.loads(pickle.dumps(data)) == data


def test_live_handles_refuse_to_pickle(ctx):
    h = ctx.eval_handle("({})")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(h)
    with pytest.raises(TypeError):
        pickle.dumps(ctx)
    with pytest.raises(TypeError):
        pickle.dumps(ctx.runtime)
