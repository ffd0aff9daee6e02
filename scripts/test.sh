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
"$VENV/bin/python" -m pip install -q -c constraints/ci.txt -e ".[dev]"
export PATH="$PWD/$VENV/bin:$PATH"

# A real rasa-sdk action server for the integration tests, in a virtualenv of its
# own as in a deployment (rasa-sdk pins most of its dependencies exactly).
SDK_VENV="${PALAVER_SDK_VENV:-.venv-rasa-sdk}"
if [ ! -x "$SDK_VENV/bin/python" ] || ! "$SDK_VENV/bin/python" -c "import rasa_sdk" 2>/dev/null; then
  python3 -m venv "$SDK_VENV"
  "$SDK_VENV/bin/python" -m pip install -q --upgrade pip
  "$SDK_VENV/bin/python" -m pip install -q -c constraints/ci.txt "rasa-sdk==3.21.1"
fi
export PALAVER_TEST_RASA_SDK_PYTHON="$PWD/$SDK_VENV/bin/python"

ruff check palaver tests bench
mypy
# pytest exits 5 when it collected nothing: that is a failure here too.
pytest "$@"
