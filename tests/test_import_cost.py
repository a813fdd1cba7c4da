"""`import qjs` stays cheap: asyncio and inspect load only when first needed."""


def test_import_and_a_plain_context_load_neither_asyncio_nor_inspect(run_child):
    """Importing asyncio and inspect eagerly took about 30 ms of `import qjs` (then ~50 ms)."""
    proc = run_child("""
        import sys
        before = {m for m in ("asyncio", "inspect") if m in sys.modules}
        import qjs
        with qjs.Context() as ctx:
            assert ctx.eval("[1, 2].map(x => x * 2)") == [2, 4]
        print(sorted({m for m in ("asyncio", "inspect") if m in sys.modules} - before))
        ctx2 = qjs.Context()
        ctx2.globals["f"] = lambda: 1      # a host function: inspect is needed now
        async def g():
            return 2
        ctx2.globals["g"] = g              # an async one: asyncio too when it runs
        print(ctx2.eval("f()"), "inspect" in sys.modules)
        ctx2.close()
    """)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "[]", proc.stdout
    assert lines[1] == "1 True", proc.stdout
