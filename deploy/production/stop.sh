#!/usr/bin/env bash
# Stop the production layout (`make production-stop`): supervisord stops
# every program, then itself. PostgreSQL (a service of the machine), its data
# and the sandbox engine keep running; sandboxes stay, and the keeper of the
# next start takes them up again or reaps them.
set -euo pipefail
export LABDECK_ENV_FILE=${LABDECK_ENV_FILE:-/etc/labdeck/production.env}
if [ ! -f "$LABDECK_ENV_FILE" ]; then
  echo "production: no $LABDECK_ENV_FILE: nothing to stop"
  exit 0
fi
LABDECK_PRODUCTION_DIR=$(set -a; . "$LABDECK_ENV_FILE"; echo "$LABDECK_PRODUCTION_DIR")
conf=$LABDECK_PRODUCTION_DIR/supervisord.conf
pid=$(supervisorctl -c "$conf" pid 2>/dev/null) || pid=
if ! [[ $pid =~ ^[0-9]+$ ]]; then
  echo "production: not running"
  exit 0
fi
supervisorctl -c "$conf" shutdown >/dev/null
# shutdown returns at once; supervisord exits once its programs have stopped.
for _ in $(seq 1 600); do
  kill -0 "$pid" 2>/dev/null || { echo "production: stopped"; exit 0; }
  sleep 0.1
done
echo "production: supervisord ($pid) is still stopping its programs" >&2
exit 1
