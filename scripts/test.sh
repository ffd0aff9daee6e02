#!/usr/bin/env bash
# One command for the whole test suite on a fresh machine:
# services up, virtualenv with every extra, lint, type check, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-services.sh

VENV="${PALAVER_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[dev]"
export PATH="$PWD/$VENV/bin:$PATH"

ruff check palaver tests bench
mypy
# pytest exits 5 when it collected nothing: that is a failure here too.
pytest "$@"
