#!/usr/bin/env bash
# A PostgreSQL server for Belay fleets (@belay/fleet): tests, the fleet demo, a lab's first runner.
#
#   scripts/postgres.sh start   create the cluster if needed, start it if stopped, make the `belay`
#                               role and database; prints BELAY_FLEET_DATABASE_URL=<url>
#   scripts/postgres.sh url     prints the URL of a started server (fails if it is not running)
#   scripts/postgres.sh status  exit 0 when the server runs
#   scripts/postgres.sh stop    stop the server (the data stays for the next start)
#
# The server runs as the system user `postgres` (Debian's package creates it), never as root: as
# root the script switches to that user; as another user it uses `sudo -u postgres` when that works
# without a password, else runs the server as the calling (non-root) user. It listens on 127.0.0.1
# only, on a free port chosen at first start (kept while it stays free), with its socket in the state
# directory. The `belay` role has a random password kept in the state directory (mode 600) and may
# create databases (the tests make one per test file). Safe to run again: each step checks first.
#
# State directory: $BELAY_POSTGRES_DIR, default /tmp/belay-postgres (the postgres user must reach it).
set -euo pipefail

dir=${BELAY_POSTGRES_DIR:-/tmp/belay-postgres}
data="$dir/data"
run="$dir/run"
log="$dir/server.log"

say() { echo "postgres.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

bin=""
for candidate in /usr/lib/postgresql/*/bin; do
  [ -x "$candidate/initdb" ] && bin=$candidate
done
[ -n "$bin" ] || die "no PostgreSQL server found under /usr/lib/postgresql/*/bin (install the Debian package postgresql: scripts/setup.sh does it as root)"

# Run a command as the server's user.
as_pg() {
  if [ "$(id -u)" = "0" ]; then
    id postgres >/dev/null 2>&1 || die "there is no system user postgres (the Debian package postgresql creates it)"
    runuser -u postgres -- "$@"
  elif [ "$(id -un)" = "postgres" ]; then
    "$@"
  elif id postgres >/dev/null 2>&1 && sudo -n -u postgres true >/dev/null 2>&1; then
    sudo -n -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  node -e 'const s=require("node:net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

port_free() {
  node -e 'const s=require("node:net").createServer();s.once("error",()=>process.exit(1));s.listen(Number(process.argv[1]),"127.0.0.1",()=>s.close())' "$1"
}

running() {
  [ -f "$data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

port_of() { as_pg cat "$dir/port"; }

psql_admin() {
  as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$run" -p "$(port_of)" -U postgres -d postgres "$@"
}

url() {
  local password
  password=$(as_pg cat "$dir/password")
  echo "postgres://belay:${password}@127.0.0.1:$(port_of)/belay"
}

init_cluster() {
  say "creating a cluster in $data"
  mkdir -p "$dir"
  chmod 755 "$dir"
  [ "$(id -u)" = "0" ] && chown postgres:postgres "$dir"
  as_pg mkdir -p "$run"
  as_pg sh -c "umask 077; head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > '$dir/password'"
  as_pg "$bin/initdb" -D "$data" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    die "initdb failed"
  }
  free_port | as_pg sh -c "cat > '$dir/port'"
  # Settings the server reads at start: only the loopback interface, the socket in the state dir.
  as_pg sh -c "cat >> '$data/postgresql.conf'" <<EOF
# belay: written by scripts/postgres.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$run'
max_connections = 200
include_if_exists = 'belay-port.conf'
EOF
}

start() {
  [ -f "$data/PG_VERSION" ] || init_cluster
  if ! running; then
    local port
    port=$(port_of)
    if ! port_free "$port"; then
      port=$(free_port)
      echo "$port" | as_pg sh -c "cat > '$dir/port'"
      say "the port chosen before is taken; using $port"
    fi
    echo "port = $port" | as_pg sh -c "cat > '$data/belay-port.conf'"
    as_pg mkdir -p "$run"
    say "starting the server on 127.0.0.1:$port (log: $log)"
    as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null || {
      tail -n 20 "$log" >&2 || true
      die "the server did not start"
    }
  fi
  local password
  password=$(as_pg cat "$dir/password")
  psql_admin <<EOF
SELECT format('CREATE ROLE belay LOGIN CREATEDB PASSWORD %L', '$password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'belay') \gexec
SELECT 'CREATE DATABASE belay OWNER belay'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'belay') \gexec
EOF
  echo "BELAY_FLEET_DATABASE_URL=$(url)"
}

case "${1:-}" in
start) start ;;
stop)
  if running; then
    as_pg "$bin/pg_ctl" -D "$data" -w -t 60 -m fast stop >/dev/null
    say "stopped"
  else
    say "not running"
  fi
  ;;
url)
  running || die "the server is not running (scripts/postgres.sh start)"
  url
  ;;
status) running ;;
*)
  echo "usage: scripts/postgres.sh start|stop|url|status" >&2
  exit 2
  ;;
esac
