"""`import qjs` stays cheap: the heavy standard modules are imported on first use."""

import subprocess
import sys

import pytest

HEAVY = ["asyncio", "inspect", "datetime", "hashlib", "json", "typing"]


def _modules_after(code):
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_qjs_imports_no_heavy_module():
    loaded = _modules_after("import qjs")
    assert "qjs._engine" in loaded
    assert not [m for m in HEAVY if m in loaded]


def test_everyday_use_without_async_does_not_import_asyncio():
    loaded = _modules_after(
        "import qjs\n"
        "with qjs.Context() as ctx:\n"
        "    ctx.eval('console.log([1, {a: 2}]); 1 + 1')\n"
        "    ctx.globals['f'] = lambda x: x\n"
        "    ctx.eval('f(new Date(0))')\n"
        "    qjs.inspect(ctx.eval_handle('new Map()'))\n")
    assert "asyncio" not in loaded


@pytest.mark.parametrize("code", [
    "import asyncio, qjs\n"
    "async def f(): return 5\n"
    "with qjs.Context() as ctx:\n"
    "    ctx.globals['f'] = f\n"
    "    assert asyncio.run(ctx.eval_async('await f()')) == 5\n",
    "import datetime, qjs\n"
    "d = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)\n"
    "with qjs.Context() as ctx:\n"
    "    ctx.globals['d'] = d\n"
    "    assert ctx.eval('d.getUTCFullYear()') == 2020\n"
    "    assert ctx.eval('d') == d\n",
    "import qjs\n"
    "with qjs.Context() as ctx:\n"
    "    assert ctx.eval('new Date(86400000)').day == 2\n",
])
def test_lazy_modules_still_work(code):
    subprocess.run([sys.executable, "-c", code], check=True)
