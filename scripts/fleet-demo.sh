#!/usr/bin/env bash
# The fleet on one machine: three runners on 127.0.0.1 with four virtual boards each, meeting in
# PostgreSQL; calls across all twelve boards; one runner killed with SIGKILL and started again;
# calls again; then the counts, from the boards' own logs. The last line is
#
#   fleet: <boards> boards on <runners> runners, <calls> calls, <lost> lost, <duplicated> duplicated
#
# On a fresh clone it first runs scripts/setup.sh (PostgreSQL from Debian's packages, the
# workspace's dependencies, the build) when something it needs is missing; BELAY_DEMO_SETUP=1 runs
# it anyway. PostgreSQL runs as its own system user (scripts/postgres.sh); the demo uses a database
# of its own, dropped at the end, and stops the server only if it started it. Every process it
# starts is stopped when it ends, however it ends.
#
# Environment: BELAY_DEMO_ROUNDS (calls per board per phase, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { echo "fleet-demo: $*" >&2; }

rounds=${BELAY_DEMO_ROUNDS:-10}
belay=(node "$root/apps/example/bin/belay.cjs")
driver=(node "$root/scripts/fleet-demo-driver.mjs")

# 1. What it needs: PostgreSQL's server, the built libraries and the belay command.
if [ "${BELAY_DEMO_SETUP:-}" = "1" ] ||
  ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null ||
  [ ! -f apps/example/dist/bundle/belay-cli-fleet.cjs ] ||
  [ ! -f packages/fleet/dist/index.js ] ||
  [ ! -d node_modules ]; then
  say "setting the machine up (scripts/setup.sh)"
  scripts/setup.sh >&2
fi

# 2. PostgreSQL, and a database of the demo's own.
started_postgres=0
if ! scripts/postgres.sh status >/dev/null 2>&1; then started_postgres=1; fi
server=$(scripts/postgres.sh start | sed -n 's/^BELAY_FLEET_DATABASE_URL=//p')
database="belay_demo_$$_$RANDOM"
psql "$server" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $database" >&2
export BELAY_FLEET_DATABASE_URL="${server%/*}/$database"
unset BELAY_FLEET_RESERVATION BELAY_DEVICE

work=$(mktemp -d "${TMPDIR:-/tmp}/belay-fleet-demo.XXXXXX")
state="$work/state.json"
declare -A pids=()

cleanup() {
  local status=$?
  for name in "${!pids[@]}"; do
    kill -TERM "${pids[$name]}" 2>/dev/null || true
  done
  for name in "${!pids[@]}"; do
    # A runner leaves within a few seconds of SIGTERM; one that does not is killed.
    for _ in $(seq 1 100); do kill -0 "${pids[$name]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${pids[$name]}" 2>/dev/null || true
    wait "${pids[$name]}" 2>/dev/null || true
  done
  psql "$server" -X -q -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  if [ "$started_postgres" = "1" ]; then scripts/postgres.sh stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  node -e 'const s=require("node:net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

declare -A ports=()
start_runner() {
  local name=$1
  "${belay[@]}" fleet runner --name "$name" --port "${ports[$name]}" \
    --board b0=virtual --board b1=virtual --board b2=virtual --board b3=virtual \
    >"$work/$name.log" 2>&1 &
  pids[$name]=$!
}

wait_ready() {
  local name=$1
  for _ in $(seq 1 1200); do
    grep -q "Ctrl-C stops it" "$work/$name.log" 2>/dev/null && return 0
    kill -0 "${pids[$name]}" 2>/dev/null || { cat "$work/$name.log" >&2; say "runner $name exited"; exit 1; }
    sleep 0.1
  done
  cat "$work/$name.log" >&2
  say "runner $name not ready within 120 s"
  exit 1
}

# 3. Three runners, four virtual boards each.
for name in shelf1 shelf2 shelf3; do
  ports[$name]=$(free_port)
  start_runner "$name"
done
for name in shelf1 shelf2 shelf3; do wait_ready "$name"; done
echo "three runners on 127.0.0.1 (ports ${ports[shelf1]}, ${ports[shelf2]}, ${ports[shelf3]}):"
"${belay[@]}" fleet ls
"${belay[@]}" exec "import sys; print('hello from', sys.implementation.name)" --device fleet:shelf2/b3

# 4. Calls across all twelve boards.
"${driver[@]}" calls "$state" 1 "$rounds"
"${driver[@]}" snapshot "$state"

# 5. One runner killed outright, while calls to every board go on (the killed runner's calls are
#    refused as "did not run" and sent again until it is back), then started again.
"${driver[@]}" calls "$state" 2 "$rounds" >"$work/phase2.out" &
calls2=$!
now_ms() { node -p 'Date.now()'; }
killed=$(now_ms)
kill -KILL "${pids[shelf2]}"
wait "${pids[shelf2]}" 2>/dev/null || true
unset 'pids[shelf2]'
echo "killed runner shelf2 (SIGKILL)"
gone=$("${driver[@]}" wait shelf2 unreachable "$killed")
echo "its boards were reported unreachable $gone s after the kill"
restarted=$(now_ms)
start_runner shelf2
back=$("${driver[@]}" wait shelf2 alive "$restarted")
echo "started it again: its boards rejoined $back s after the start"
wait "$calls2"
cat "$work/phase2.out"

# 6. Calls again, on all twelve.
"${driver[@]}" calls "$state" 3 "$rounds"
"${driver[@]}" snapshot "$state"
"${belay[@]}" fleet ls
"${driver[@]}" report "$state"
