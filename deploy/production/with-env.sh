#!/usr/bin/env bash
# Run a program of the production layout with its settings (supervisord
# starts every program through this): all read the one settings file, when
# they start, so a changed setting takes a restart of the program, no more.
set -euo pipefail
set -a
# shellcheck source=/dev/null
. "${LABDECK_ENV_FILE:-/etc/labdeck/production.env}"
set +a
exec "$@"
