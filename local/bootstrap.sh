#!/usr/bin/env bash
# Creates .venv at the repository root and installs local/requirements.txt into it, only when the
# requirements or the Python running them changed since the last install (stamp: .venv/.local-cloud).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
requirements="$repo/local/requirements.txt"
python="${PYTHON:-python3}"

# Two stacks (dev and test) may start at once: one installs, the other waits for it.
mkdir -p "$repo/local/.state"
exec 9>"$repo/local/.state/bootstrap.lock"
flock 9

version="$("$python" -c 'import sys; print(sys.version.split()[0])')"
want="$(sha256sum <"$requirements" | cut -d' ' -f1) python-$version"
if [[ "$(cat "$venv/.local-cloud" 2>/dev/null)" == "$want" && -x "$venv/bin/python" ]]; then
  exit 0
fi

started=$SECONDS
if [[ "$("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)" != "$version" ]]; then
  echo "bootstrap: creating .venv with Python $version"
  rm -rf "$venv"
  "$python" -m venv "$venv" || { echo "bootstrap: '$python -m venv' failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
fi
echo "bootstrap: installing local/requirements.txt into .venv (about a minute on a fresh machine)"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
echo "$want" >"$venv/.local-cloud"
echo "bootstrap: done in $((SECONDS - started)) s"
