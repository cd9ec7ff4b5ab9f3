#!/usr/bin/env bash
# Labdeck's production layout on one machine (`make production`):
#   PostgreSQL   Debian's cluster; the role and database of DATABASE_URL
#   Redis        on loopback: the channel layer and the cache
#   web-0..N-1   uvicorn (python -m labdeck.serve), each on a loopback port
#   nginx        in front of them (round robin by fewest connections, no
#                sticky routing), websockets, /static/ from collectstatic
#   keeper       manage.py sandboxd: the warm pool and the reaper
#   checker      manage.py checkerd
# all under a supervisord of their own, which restarts what dies (no systemd
# needed). The sandbox engine is deploy/setup-host.sh's (deploy/engine/).
#
# The settings file, $LABDECK_ENV_FILE (default /etc/labdeck/production.env),
# is written on the first run (init-env.sh) and read by every program.
# Idempotent: a later run migrates, collects static files, applies changed
# settings and code, and restarts the programs one at a time, so that the
# site stays up. deploy/production/stop.sh stops it all.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export LABDECK_ENV_FILE=${LABDECK_ENV_FILE:-/etc/labdeck/production.env}
say() { echo "production: $*"; }
die() { echo "production: $*" >&2; exit 1; }

for tool in nginx supervisord supervisorctl redis-server pg_lsclusters; do
  command -v "$tool" >/dev/null || die "$tool is missing: run deploy/setup-host.sh --production"
done

[ -f "$LABDECK_ENV_FILE" ] || "$HERE/init-env.sh" "$LABDECK_ENV_FILE"
set -a
# shellcheck source=/dev/null
. "$LABDECK_ENV_FILE"
set +a
DIR=$LABDECK_PRODUCTION_DIR
PY=$LABDECK_PYTHON
N=$LABDECK_WEB_PROCESSES
[[ $N =~ ^[1-9][0-9]*$ ]] || die "LABDECK_WEB_PROCESSES must be a whole number above 0, not '$N'"
[[ $LABDECK_WEB_PORT =~ ^[0-9]+$ ]] || die "LABDECK_WEB_PORT must be a port number, not '$LABDECK_WEB_PORT'"
[ -x "$PY" ] || die "no Python at $PY (LABDECK_PYTHON): run make production, which makes .venv"

# nginx's workers (www-data) read the static files: the directories must be
# open to them; what is secret (redis.conf) is not readable.
mkdir -p "$DIR"/{run,log,redis,nginx} "$LABDECK_STATIC_ROOT"
chmod 755 "$DIR" "$LABDECK_STATIC_ROOT"
chmod 700 "$DIR/run" "$DIR/redis"
chown redis:redis "$DIR/redis"

"$HERE/postgres.sh" "$DATABASE_URL"

manage() { (cd "$ROOT" && "$PY" manage.py "$@"); }
manage migrate --noinput -v0
manage collectstatic --noinput -v0
manage hosts

sum() { cksum 2>/dev/null <"$DIR/$1" || true; }
redis_before=$(sum redis.conf) nginx_before=$(sum nginx.conf)
"$HERE/configs.sh"
nginx -t -q -c "$DIR/nginx.conf" -e stderr

ctl() { supervisorctl -c "$DIR/supervisord.conf" "$@"; }
show() { ctl status || true; }   # exits 3 while a program is not running
running() { [[ $(ctl pid 2>/dev/null) =~ ^[0-9]+$ ]]; }

# Wait until a URL answers below 500, or fail after $2 seconds.
answers() {
  python3 - "$1" "$2" <<'PY'
import sys, time, urllib.error, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        urllib.request.urlopen(url, timeout=5)
        sys.exit(0)
    except urllib.error.HTTPError as exc:
        if exc.code < 500:
            sys.exit(0)
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.2)
PY
}
web_url() { echo "http://127.0.0.1:$((LABDECK_WEB_PORT + $1))/"; }
wait_web() {
  answers "$(web_url "$1")" 60 || { show; tail -n 30 "$DIR/log/web-$1.log"; die "web-$1 does not answer"; }
}

if running; then
  say "running: applying the changes, restarting one program at a time"
  ctl reread >/dev/null
  ctl update
  [ "$(sum redis.conf)" = "$redis_before" ] || ctl restart redis
  [ "$(sum nginx.conf)" = "$nginx_before" ] || ctl signal HUP nginx
  for ((i = 0; i < N; i++)); do
    ctl restart "web-$i"
    wait_web "$i"
  done
  ctl restart keeper checker
else
  say "starting supervisord ($DIR/supervisord.conf)"
  # A clean environment: the programs get their settings from the file alone.
  env -i PATH="$PATH" HOME="${HOME:-/root}" LANG="${LANG:-C.UTF-8}" supervisord -c "$DIR/supervisord.conf"
fi

for ((i = 0; i < N; i++)); do wait_web "$i"; done
listen=$LABDECK_LISTEN
[[ $listen =~ ^[0-9]+$ ]] && listen=127.0.0.1:$listen
listen=${listen/#0.0.0.0:/127.0.0.1:}
listen=${listen/#\[::\]:/[::1]:}
answers "http://$listen/" 30 || { show; tail -n 30 "$DIR/log/nginx.log"; die "nginx does not answer on $listen"; }
# Every program up, the keeper and the checker too (2 s each to count as
# started). `supervisorctl status` exits 0 for STARTING and BACKOFF as well,
# so its output is read: every line must say RUNNING.
all_running() { ctl status 2>/dev/null | awk '$2 != "RUNNING" {bad = 1} END {exit bad || NR == 0}'; }
for _ in $(seq 1 150); do all_running && break; sleep 0.2; done
all_running || { show; die "not every program runs: see $DIR/log/"; }
ctl status
port=${LABDECK_LISTEN##*:}
say "Labdeck: http://$LABDECK_HOSTNAME$([ "$port" = 80 ] || echo ":$port")/ (settings: $LABDECK_ENV_FILE, logs: $DIR/log/)"
