#!/usr/bin/env bash
# Build a free-threaded CPython (--disable-gil, "3.13t") from Debian's source package, for
# testing qjs without the GIL on a machine that has no such interpreter.
#
# Usage: ci/build-freethreaded-python.sh [PREFIX]      (default /opt/python3.13t)
# Environment:
#   QJS_FT_PACKAGE  Debian source package (default python3.13)
#   QJS_FT_SUITE    Debian suite that ships it (default trixie)
#   QJS_FT_WORK     work directory (default /tmp/qjs-ft-build; removed on success)
#   QJS_FT_JOBS     make -j (default: number of CPUs)
#
# What it does: an apt configuration of its own (the system's sources are not touched)
# with a deb-src line for $QJS_FT_SUITE on the mirror the system already uses; `apt-get
# source --download-only` fetches the package; the upstream tarball in it (*.orig.tar.*,
# CPython as released, without Debian's patches) is configured with --disable-gil and
# built under `nice`, without PGO or LTO (about 10 minutes on 2 cores), then installed
# into PREFIX. Needs the usual CPython build dependencies (libssl-dev, zlib1g-dev,
# libffi-dev, ...), present on this project's machines.
#
# Then: PREFIX/bin/python3.13t -m venv /tmp/venv-ft && . /tmp/venv-ft/bin/activate &&
#       pip install cython 'setuptools>=77' pytest && pip install --no-build-isolation -e . &&
#       PYTHON_GIL=0 python -m pytest
set -euo pipefail

prefix="${1:-/opt/python3.13t}"
package="${QJS_FT_PACKAGE:-python3.13}"
suite="${QJS_FT_SUITE:-trixie}"
work="${QJS_FT_WORK:-/tmp/qjs-ft-build}"
jobs="${QJS_FT_JOBS:-$(nproc)}"

if [ -x "$prefix/bin/python3" ] && "$prefix/bin/python3" -c \
    'import sys, sysconfig; sys.exit(not sysconfig.get_config_var("Py_GIL_DISABLED"))'; then
    echo "free-threaded Python already at $prefix: $("$prefix/bin/python3" -VV)"
    exit 0
fi

# the mirror the system's own apt sources use (deb822 or one-line format)
mirror="$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '{print $2}' | grep -v security | head -1 || true)"
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror="$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
        /etc/apt/sources.list | grep -v security | head -1 || true)"
fi
[ -n "$mirror" ] || { echo "no Debian mirror found in the apt sources" >&2; exit 1; }

mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
    >"$work/apt/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=-"
          -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
          -o "Debug::NoLocking=1")
echo "=== fetching the $package source package from $suite"
apt-get "${apt_opts[@]}" -qq update
(cd "$work/src" && apt-get "${apt_opts[@]}" -qq source --download-only "$package")

orig="$(ls "$work"/src/*.orig.tar.* | head -1)"
echo "=== unpacking $orig"
rm -rf "$work/build" && mkdir -p "$work/build"
tar -xf "$orig" -C "$work/build" --strip-components=1

echo "=== configure --disable-gil (no PGO, no LTO) and build with $jobs jobs"
cd "$work/build"
nice -n 10 ./configure --prefix="$prefix" --disable-gil --with-ensurepip=install \
    --disable-test-modules >"$work/configure.log" 2>&1 \
    || { tail -30 "$work/configure.log"; exit 1; }
nice -n 10 make -j"$jobs" >"$work/make.log" 2>&1 || { tail -40 "$work/make.log"; exit 1; }
nice -n 10 make altinstall >"$work/install.log" 2>&1 || { tail -40 "$work/install.log"; exit 1; }

py="$(ls "$prefix"/bin/python3.*t | head -1)"
ln -sf "$(basename "$py")" "$prefix/bin/python3"
"$prefix/bin/python3" -c 'import sys, sysconfig
assert sysconfig.get_config_var("Py_GIL_DISABLED"), "not a free-threaded build"
print(sys.version, "GIL enabled:", sys._is_gil_enabled())'
rm -rf "$work"
echo "free-threaded Python installed at $prefix"
