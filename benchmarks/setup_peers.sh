#!/usr/bin/env bash
# Create one virtualenv per peer binding under benchmarks/.venvs/.
# quickjs (PetterS) and quickjs-ng share the import name `quickjs`, hence separate venvs.
# Usage: benchmarks/setup_peers.sh [PYTHON]   (default: python3)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${1:-${PYTHON:-python3}}"
VENVS="$HERE/.venvs"
mkdir -p "$VENVS"

# name  pip-spec
PEERS=(
  "quickjs quickjs"
  "quickjs-ng quickjs-ng"
  "mini-racer mini-racer"
)

for entry in "${PEERS[@]}"; do
  name="${entry%% *}"
  spec="${entry#* }"
  venv="$VENVS/$name"
  if [ ! -x "$venv/bin/python" ]; then
    echo ">> creating venv $venv"
    "$PY" -m venv "$venv"
  fi
  echo ">> installing $spec into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$spec"
  ver="$("$venv/bin/python" -m pip show "$spec" 2>/dev/null | awk '/^Version:/{print $2}')"
  echo "   $spec $ver"
done

echo ">> installed versions:"
for entry in "${PEERS[@]}"; do
  name="${entry%% *}"; spec="${entry#* }"
  printf '   %-12s %s\n' "$spec" "$("$VENVS/$name/bin/python" -m pip show "$spec" | awk '/^Version:/{print $2}')"
done
