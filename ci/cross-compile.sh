#!/usr/bin/env bash
# Compile the extension's C for the platforms the wheels target but this machine cannot
# run: Windows (x86_64, aarch64; the GNU ABI), macOS (x86_64, aarch64) and musl Linux
# (x86_64, aarch64), with zig's clang (the `ziglang` package from PyPI). Objects only,
# nothing is linked: a compile check that catches a missing header, an API one
# platform lacks, or a warning in our own C, before a wheel job does.
#
# Usage: ci/cross-compile.sh [TARGET ...]       (default: the six below)
# Environment:
#   QJS_XC_WORK  work directory (default /tmp/qjs-xc): venv, generated C, headers, objects
#   PYTHON       interpreter for the venv (default python3)
#
# Compiled at -O0: a check of the sources, not of code generation, and several
# times faster on quickjs.c.
#
# What is compiled, per target:
#   _engine.c (Cython's output for src/qjs/_engine.pyx, generated once with the
#   directives of setup.py) and src/qjs/csrc/qjs_engine.c (our C; it #includes the
#   vendored quickjs.c) with -Wall -Werror; the vendored engine is on the -isystem path,
#   so its own warnings do not count. libregexp.c, libunicode.c and dtoa.c (vendored,
#   untouched) are compiled with warnings off: they must compile, not be warning-free.
#
# Python headers (pyconfig.h is the only platform-specific one):
#   *-windows-gnu  the real Windows configuration: Include/ and PC/pyconfig.h(.in) of the
#                  CPython source in Debian's python3.13 source package (fetched once,
#                  as ci/build-freethreaded-python.sh does; its pyconfig has a MinGW part)
#   *-linux-musl   the host's headers (a Linux pyconfig.h: glibc and musl agree on what
#                  an extension module sees)
#   *-macos        STAND-IN: the host's Linux pyconfig.h plus _DARWIN_C_SOURCE (which a
#                  real macOS pyconfig.h also defines, so Darwin's _np thread functions
#                  stay visible); no macOS Python headers are obtainable here
# MSVC is not covered (zig has no MSVC front end): setup.py's MSVC flags, and Atomics
# there (QJS_FORCE_ATOMICS), are checked by the Windows wheel jobs.
set -euo pipefail

src="$(cd "$(dirname "$0")/.." && pwd)"
work="${QJS_XC_WORK:-/tmp/qjs-xc}"
python="${PYTHON:-python3}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-windows-gnu aarch64-windows-gnu x86_64-macos
                                     aarch64-macos x86_64-linux-musl aarch64-linux-musl)
start=$SECONDS
mkdir -p "$work"

# --- tools: zig and Cython in a venv of their own
if [ ! -x "$work/venv/bin/python" ]; then
    "$python" -m venv "$work/venv"
fi
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check ziglang 'Cython>=3.1,<4'
zigcc=("$work/venv/bin/python" -m ziglang cc)
echo "zig $("$work/venv/bin/python" -m ziglang version), $("$work/venv/bin/cython" --version 2>&1)"

# --- the Cython output, with setup.py's directives (release build)
"$work/venv/bin/cython" -3 -X boundscheck=False,wraparound=False,cdivision=True \
    -X embedsignature=True,freethreading_compatible=True -E QJS_DEBUG=False \
    -I "$src/src/qjs" -I "$src/src/qjs/includes" "$src/src/qjs/_engine.pyx" -o "$work/_engine.c"

# --- headers
host_inc="$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
mkdir -p "$work/macos-include"
{ cat "$host_inc/pyconfig.h"; echo '#define _DARWIN_C_SOURCE 1'; } >"$work/macos-include/pyconfig.h"

windows_headers() {
    local cpy
    cpy="$(ls -d "$work"/cpython/Python-3.* 2>/dev/null | head -1 || true)"
    if [ -z "$cpy" ]; then
        local mirror apt
        mirror="$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null \
            | awk '{print $2}' | grep -v security | head -1 || true)"
        if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
            mirror="$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
                /etc/apt/sources.list | grep -v security | head -1 || true)"
        fi
        [ -n "$mirror" ] || { echo "no Debian mirror in the apt sources" >&2; return 1; }
        apt="$work/apt"
        mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$work/cpython"
        echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
            >"$apt/sources.list"
        local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=-"
                    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "Debug::NoLocking=1")
        apt-get "${opts[@]}" -qq update
        (cd "$work/cpython" && apt-get "${opts[@]}" -qq source --download-only python3.13 2>/dev/null)
        local orig
        orig="$(ls "$work"/cpython/python3.13_*.orig.tar.* | head -1)"
        local top
        top="$(tar -tf "$orig" | head -1 | cut -d/ -f1)"
        tar -xf "$orig" -C "$work/cpython" "$top/Include" "$top/PC"
        cpy="$work/cpython/$top"
    fi
    mkdir -p "$work/windows-include"
    if [ -f "$cpy/PC/pyconfig.h.in" ]; then
        cp "$cpy/PC/pyconfig.h.in" "$work/windows-include/pyconfig.h"
    else
        cp "$cpy/PC/pyconfig.h" "$work/windows-include/pyconfig.h"
    fi
    echo "-I$work/windows-include -I$cpy/Include"
}

common=(-std=gnu11 -O0 -fvisibility=hidden -fno-strict-aliasing -funsigned-char -fwrapv
        -DQUICKJS_NG_BUILD -D_GNU_SOURCE -DNDEBUG -Wno-unused-command-line-argument)
ours=(-Wall -Werror -Wno-unused-function -Wno-sign-compare -Wno-unused-parameter
      -Wno-implicit-fallthrough -Wno-missing-field-initializers
      -isystem "$src/vendor/quickjs-ng" -I"$src/src/qjs/includes" -I"$src/src/qjs/csrc")
vendored=(-w -I"$src/vendor/quickjs-ng")

failed=()
for t in "${targets[@]}"; do
    t0=$SECONDS
    out="$work/obj/$t"
    mkdir -p "$out"
    case "$t" in
        *-windows-*) pyinc=($(windows_headers)); plat=(-DWIN32_LEAN_AND_MEAN -U_WIN32_WINNT -D_WIN32_WINNT=0x0602) ;;
        *-macos*) pyinc=(-I"$work/macos-include" -I"$host_inc"); plat=() ;;
        *) pyinc=(-I"$host_inc"); plat=() ;;
    esac
    ok=1
    for f in "$work/_engine.c" "$src/src/qjs/csrc/qjs_engine.c"; do
        "${zigcc[@]}" -target "$t" "${common[@]}" "${plat[@]}" "${ours[@]}" "${pyinc[@]}" \
            -c "$f" -o "$out/$(basename "$f" .c).o" || ok=0
    done
    for f in libregexp.c libunicode.c dtoa.c; do
        "${zigcc[@]}" -target "$t" "${common[@]}" "${plat[@]}" "${vendored[@]}" \
            -c "$src/vendor/quickjs-ng/$f" -o "$out/${f%.c}.o" || ok=0
    done
    if [ $ok = 1 ]; then
        echo "$t: ok ($(ls "$out"/*.o | wc -l) objects, $((SECONDS - t0)) s)"
    else
        echo "$t: FAILED ($((SECONDS - t0)) s)"
        failed+=("$t")
    fi
done
echo "cross-compile: ${#targets[@]} targets, ${#failed[@]} failed, $((SECONDS - start)) s"
[ ${#failed[@]} -eq 0 ]
