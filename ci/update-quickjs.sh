#!/usr/bin/env bash
# Refresh vendor/quickjs-ng from the upstream-quickjs/ folder of the quickjs-ng sdist on PyPI,
# then apply vendor/patches/NNNN-*.patch in order.
#
#   ci/update-quickjs.sh                 # the pinned version (vendor/quickjs-ng/VERSION)
#   ci/update-quickjs.sh 0.18.0.1        # another sdist release
#   ci/update-quickjs.sh --check         # verify the tree equals upstream + patches
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/vendor/quickjs-ng"
check=0
sdist_version=""
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    *) sdist_version="$arg" ;;
  esac
done
[ -n "$sdist_version" ] || sdist_version=$(cat "$dest/SDIST_VERSION")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: -d "$work" "quickjs-ng==$sdist_version"
tar -xzf "$work"/quickjs_ng-"$sdist_version".tar.gz -C "$work"
src="$work/quickjs_ng-$sdist_version/upstream-quickjs"

stage="$work/stage"
mkdir -p "$stage"
# Everything but the libc layer: the sandbox never links quickjs-libc.
for f in "$src"/*; do
  case "$(basename "$f")" in
    quickjs-libc.c) ;;
    *) cp "$f" "$stage/" ;;
  esac
done
for p in "$here"/vendor/patches/[0-9][0-9][0-9][0-9]-*.patch; do
  [ -e "$p" ] || continue
  (cd "$stage" && patch -p1 --quiet --no-backup-if-mismatch < "$p")
done

version=$(awk '/#define QJS_VERSION_(MAJOR|MINOR|PATCH)/ {v = v (v == "" ? "" : ".") $3} END {print v}' "$stage/quickjs.h")

if [ "$check" = 1 ]; then
  status=0
  for f in "$stage"/*; do
    cmp -s "$f" "$dest/$(basename "$f")" || { echo "differs: $(basename "$f")"; status=1; }
  done
  for f in "$dest"/*; do
    case "$(basename "$f")" in VERSION|SDIST_VERSION|LICENSE) continue ;; esac
    [ -e "$stage/$(basename "$f")" ] || { echo "not upstream: $(basename "$f")"; status=1; }
  done
  [ "$(cat "$dest/VERSION")" = "$version" ] || { echo "VERSION is not $version"; status=1; }
  [ "$status" = 0 ] && echo "vendor/quickjs-ng is upstream $version (sdist $sdist_version) + $(ls "$here"/vendor/patches/*.patch 2>/dev/null | wc -l) patches"
  exit $status
fi

find "$dest" -maxdepth 1 -type f ! -name LICENSE -delete 2>/dev/null || mkdir -p "$dest"
cp "$stage"/* "$dest/"
echo "$version" > "$dest/VERSION"
echo "$sdist_version" > "$dest/SDIST_VERSION"
echo "vendored QuickJS-ng $version from quickjs-ng==$sdist_version"
