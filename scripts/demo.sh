#!/usr/bin/env bash
# One command: install Palaver, train the example bot and serve it on :5005.
# No external service needed (in-memory tracker store and lock store).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${PALAVER_VENV:-.venv}"
BOT="${1:-examples/moodbot}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -c constraints/ci.txt -e .
"$VENV/bin/palaver" train --project "$BOT" --out "$BOT/models"
echo "Try: curl -s localhost:${PORT:-5005}/webhooks/rest/webhook -d '{\"sender\":\"me\",\"message\":\"hi\"}'"
exec "$VENV/bin/palaver" run -m "$BOT/models" --endpoints "$BOT/endpoints.yml" \
  --credentials "$BOT/credentials.yml" --enable-api -p "${PORT:-5005}"
