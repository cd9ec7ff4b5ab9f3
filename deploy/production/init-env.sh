#!/usr/bin/env bash
# Write the production layout's settings file (start.sh calls this when the
# file is missing): a generated SECRET_KEY and passwords, the layout's own
# settings, and every LABDECK_* variable given to the first run. From then on
# the file is the configuration: every program of the layout reads it, and
# the environment of a later run changes nothing.
#   init-env.sh FILE
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
file=$1
secret() { python3 -c "import secrets; print(secrets.token_urlsafe(50))"; }
# Hex: nothing in a password then needs quoting in a URL.
password() { python3 -c "import secrets; print(secrets.token_hex(16))"; }
pg_port=$(pg_lsclusters -h 2>/dev/null | awk 'NR == 1 {print $3}')

host=${LABDECK_HOSTNAME:-$(hostname -f 2>/dev/null || hostname)}
dir=${LABDECK_PRODUCTION_DIR:-/var/lib/labdeck/production}
declare -A given=(
  [LABDECK_HOSTNAME]=$host
  [LABDECK_LISTEN]=${LABDECK_LISTEN:-80}
  [LABDECK_WEB_PROCESSES]=${LABDECK_WEB_PROCESSES:-2}
  [LABDECK_WEB_PORT]=${LABDECK_WEB_PORT:-8001}
  [LABDECK_PRODUCTION_DIR]=$dir
  [LABDECK_PYTHON]=${LABDECK_PYTHON:-$ROOT/.venv/bin/python}
  [DJANGO_SETTINGS_MODULE]=labdeck.settings
  [SECRET_KEY]=${SECRET_KEY:-$(secret)}
  [DEBUG]=False
  [ALLOWED_HOSTS]=${ALLOWED_HOSTS:-$host,127.0.0.1,localhost}
  [DATABASE_URL]=${DATABASE_URL:-postgres://labdeck:$(password)@127.0.0.1:${pg_port:-5432}/labdeck}
  # 6380: Debian's own redis-server service, where systemd runs it, and
  # `make test`'s Redis hold 6379.
  [REDIS_URL]=${REDIS_URL:-redis://:$(password)@127.0.0.1:6380/0}
  [LABDECK_SERVE_STATIC]=False
  [LABDECK_STATIC_ROOT]=${LABDECK_STATIC_ROOT:-$dir/static}
)
# Plain KEY=value where the value needs no quoting (the file then also suits
# docker --env-file or systemd); quoted for the shell otherwise.
line() {
  if [[ $2 =~ ^[A-Za-z0-9_./:,@%+=-]*$ ]]; then printf '%s=%s\n' "$1" "$2"; else printf '%s=%q\n' "$1" "$2"; fi
}

umask 077
mkdir -p "$(dirname "$file")"
{
  echo "# Labdeck's production layout, written by deploy/production/start.sh on its first run."
  echo "# Every program of the layout reads this file: edit it, then run make production again."
  for key in LABDECK_HOSTNAME LABDECK_LISTEN LABDECK_WEB_PROCESSES LABDECK_WEB_PORT LABDECK_PRODUCTION_DIR \
             LABDECK_PYTHON DJANGO_SETTINGS_MODULE SECRET_KEY DEBUG ALLOWED_HOSTS DATABASE_URL REDIS_URL \
             LABDECK_SERVE_STATIC LABDECK_STATIC_ROOT; do
    line "$key" "${given[$key]}"
  done
  echo "# Given to the first run:"
  for key in $(compgen -e | grep '^LABDECK_' | sort); do
    [ -n "${given[$key]+set}" ] || [ "$key" = LABDECK_ENV_FILE ] || line "$key" "${!key}"
  done
} >"$file.new"
mv "$file.new" "$file"
echo "production: wrote $file"
