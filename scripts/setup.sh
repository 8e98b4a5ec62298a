#!/usr/bin/env bash
# Prepares a fresh machine (Node 20.19+ and npm) for this repository: pnpm at the pinned version,
# the system packages the tests need (QEMU, the micro:bit MicroPython firmware, socat, ser2net,
# PostgreSQL for the fleet tests, Chromium for the browser tests), the workspace's dependencies, and a build, so that `./node_modules/.bin/belay` runs at once (the
# command is a bundle that the build writes). Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

pnpm_version=$(node -p "require('./package.json').packageManager.split('@')[1]")
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version)" != "$pnpm_version" ]; then
  echo "setup: installing pnpm@$pnpm_version from the npm registry"
  npm install --global --no-fund --no-audit "pnpm@$pnpm_version" >/dev/null
fi

need_apt=()
command -v qemu-system-arm >/dev/null 2>&1 || need_apt+=(qemu-system-arm)
[ -f /usr/share/firmware-microbit-micropython/firmware.hex ] || need_apt+=(firmware-microbit-micropython)
command -v socat >/dev/null 2>&1 || need_apt+=(socat)
# The RFC 2217 tests talk to a real serial server fronting the virtual board's pseudo-terminal.
command -v ser2net >/dev/null 2>&1 || [ -x /usr/sbin/ser2net ] || need_apt+=(ser2net)
# The fleet tests (@belay/fleet) meet in a real PostgreSQL server that scripts/postgres.sh starts.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
# The browser tests (apps/web) drive Debian's Chromium headless through playwright-core.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need_apt[*]} with apt-get"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${need_apt[*]} (install them with apt-get as root)" >&2
    [ "${BELAY_SETUP_OPTIONAL_APT:-}" = "1" ] || exit 1
  fi
fi

pnpm install --frozen-lockfile --reporter=silent

# The libraries, and the belay command's bundle (turbo skips what is already built).
pnpm build --output-logs=errors-only
