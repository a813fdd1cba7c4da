"""What user JS can reach: the sandbox's own surface."""

import qjs


def test_prepare_stack_trace_cannot_be_installed(ctx):
    """Regression: Error.prepareStackTrace ran user JS inside the engine's error
    paths and handed it CallSite.getFunction() for frames of hidden functions."""
    ctx.globals["secret"] = lambda: 1 / 0
    got = ctx.eval(
        """
        let frames = null;
        try { Error.prepareStackTrace = (e, cs) => { frames = cs.map(c => c.getFunction()); return 'x' } }
        catch (e) {}
        let stack;
        try { secret() } catch (e) { stack = e.stack }
        [Error.prepareStackTrace === undefined, frames, typeof stack, stack === 'x']
        """
    )
    assert got == [True, None, "string", False]


def test_prepare_stack_trace_is_frozen(ctx):
    assert ctx.eval("'use strict'; try { Error.prepareStackTrace = () => 1; 'set' } catch (e) { e.name }") == "TypeError"
    assert ctx.eval(
        "try { Object.defineProperty(Error, 'prepareStackTrace', {get() { return () => 1 }}); 'set' }"
        " catch (e) { e.name }"
    ) == "TypeError"
    desc = ctx.eval("const d = Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace'); [d.writable, d.configurable, d.value]")
    assert desc == [False, False, None]


def test_capture_stack_trace_still_works(ctx):
    assert ctx.eval("const o = {}; Error.captureStackTrace(o); typeof o.stack") == "string"


def test_no_host_capabilities_by_default(ctx):
    names = ["std", "os", "require", "process", "Deno", "Bun", "fetch", "XMLHttpRequest",
             "setTimeout", "setInterval", "WebAssembly"]
    kinds = ctx.eval("[" + ", ".join(f"typeof {n}" for n in names) + "]")
    assert dict(zip(names, kinds)) == {n: "undefined" for n in names}


def test_atomics_exist_on_every_platform(ctx):
    """MSVC builds lacked Atomics (quickjs.c read MSVC's __STDC_NO_ATOMICS__ as no atomics)."""
    assert ctx.eval("typeof Atomics") == "object"
    assert ctx.eval("const a = new Int32Array(new SharedArrayBuffer(8));"
                    " Atomics.add(a, 1, 5); Atomics.compareExchange(a, 1, 5, 7); [...a]") == [0, 7]


def test_atomics_wait_cannot_block(ctx):
    msg = ctx.eval("try { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10); 'waited' }"
                   " catch (e) { e.name }")
    assert msg == "TypeError"


def test_function_constructor_reaches_only_the_sandbox_global(ctx):
    assert ctx.eval("Function('return this')() === globalThis") is True
    assert ctx.eval("Object.keys(globalThis)") == ["performance"]  # console is not enumerable


def test_lockdown_in_every_context_of_a_runtime(rt):
    for _ in range(3):
        c = rt.new_context()
        assert c.eval("Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace').writable") is False
        c.close()
