#!/usr/bin/env bash
# Serve Labdeck on the embedded defaults: the pool keeper in the background,
# the web process (labdeck.serve) in the foreground; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
$PY manage.py sandboxd &
keeper=$!
trap 'kill $keeper 2>/dev/null; wait $keeper 2>/dev/null' EXIT INT TERM
echo "Labdeck: http://${LABDECK_BIND:-127.0.0.1}:${LABDECK_PORT:-8000}/"
$PY -m labdeck.serve -b "${LABDECK_BIND:-127.0.0.1}" -p "${LABDECK_PORT:-8000}" labdeck.asgi:application
