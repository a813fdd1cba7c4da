"""Every Python example in docs/*.md runs as written (as test_readme.py does for the README)."""

import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLES = [
    (page.name, index, block)
    for page in sorted(DOCS.glob("*.md"))
    for index, block in enumerate(
        re.findall(r"```python\n(.*?)```", page.read_text("utf-8"), re.DOTALL)
    )
]


@pytest.mark.skipif(not DOCS.is_dir(), reason="docs/ is not next to the tests")
def test_docs_have_examples():
    assert len(EXAMPLES) >= 20


@pytest.mark.parametrize(
    ("page", "index", "block"), EXAMPLES, ids=[f"{page}[{index}]" for page, index, _ in EXAMPLES]
)
def test_docs_example(page, index, block):
    if "qjs.Sandbox" in block and sys.platform == "win32":
        pytest.skip("process isolation needs fork (POSIX)")
    exec(compile(block, f"docs/{page}[python block {index}]", "exec"), {"__name__": "__docs__"})
