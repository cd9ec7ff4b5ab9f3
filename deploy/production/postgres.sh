#!/usr/bin/env bash
# PostgreSQL for the production layout: Debian's cluster on this machine,
# started if it is down (pg_ctlcluster, so no systemd is needed), and the role
# and database that a DATABASE_URL names, created if missing. The role's
# password is set to the URL's each time: the settings file stays the truth.
#   postgres.sh        make sure the cluster runs (deploy/setup-host.sh --test)
#   postgres.sh URL    and provide what URL names (deploy/production/start.sh)
# A URL whose host is another machine is left to that machine's operator.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
say() { echo "postgres: $*"; }
url=${1:-}
port=5432
if [ -n "$url" ]; then
  eval "$(python3 "$HERE/urlparts.py" DB "$url")"
  case "$DB_HOST" in
    127.0.0.1|localhost|::1) ;;
    *) say "$DB_HOST is another machine: nothing to set up here"; exit 0 ;;
  esac
  port=${DB_PORT:-5432}
fi

# Debian makes a cluster when the package installs; make one if there is none.
if [ -z "$(pg_lsclusters -h)" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  say "making cluster $version/main on port $port"
  pg_createcluster -p "$port" "$version" main >/dev/null
fi
read -r version name status < <(pg_lsclusters -h | awk -v port="$port" '$3 == port {print $1, $2, $4; exit}') || true
if [ -z "${version:-}" ]; then
  say "no cluster listens on port $port (see pg_lsclusters)" >&2
  exit 1
fi
if [[ $status != online* ]]; then
  say "starting cluster $version/$name"
  pg_ctlcluster "$version" "$name" start
fi
[ -n "$url" ] || exit 0

cd /   # the postgres user may not read the caller's directory
runuser -u postgres -- psql -X -q -p "$port" -v ON_ERROR_STOP=1 \
  -v user="$DB_USER" -v pass="$DB_PASSWORD" -v db="$DB_NAME" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') AS missing \gset
\if :missing
  CREATE ROLE :"user" LOGIN;
\endif
ALTER ROLE :"user" WITH LOGIN PASSWORD :'pass';
SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') AS missing \gset
\if :missing
  CREATE DATABASE :"db" OWNER :"user";
\endif
SQL
say "database $DB_NAME, role $DB_USER, port $port"
