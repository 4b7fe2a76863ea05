#!/usr/bin/env bash
# Builds a minimal Backstage frontend with Backstage's own notifications and
# signals plugins, and drives it in headless Chromium against a freshly
# built Herald examples/server. See README.md.
#
#   bash compat/backstage-ui/run.sh
#
# HERALD_UI_SCREENSHOTS  folder for one PNG per step (default: a temporary
#                        folder, printed at the end)
# CHROMIUM               the browser (default /usr/bin/chromium, installed
#                        with apt-get when missing)
#
# Prints one line per check, then "N passed, N failed"; exits non-zero when
# any check fails, printing the server log.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
start=$(date +%s)
chromium=${CHROMIUM:-/usr/bin/chromium}

command -v node >/dev/null || { echo "run.sh: node is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "run.sh: npm is required" >&2; exit 1; }
command -v go >/dev/null || { echo "run.sh: go is required" >&2; exit 1; }
# vite 8 needs Node.js ^20.19 or >=22.12 (Debian 12's own nodejs is 18).
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a === 20 && b >= 19 || a === 22 && b >= 12 || a > 22 ? 0 : 1)' ||
  { echo "run.sh: vite 8 needs Node.js ^20.19 or >=22.12, this is $(node --version)" >&2; exit 1; }

# --- 1. The browser: Debian's Chromium (no browser download works here) ----
if [[ ! -x $chromium ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "run.sh: $chromium is missing; install Debian's chromium package (apt-get install chromium)" >&2
    exit 1
  fi
  echo "run.sh: installing Debian's chromium"
  t=$(date +%s)
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  echo "run.sh: apt-get took $(($(date +%s) - t))s"
fi

# --- 2. The app's packages, exactly as package-lock.json pins them ---------
# .npmrc sets legacy-peer-deps: @material-ui/core 4 declares React 16/17 as
# peers, and Backstage's packages run it on React 18. node_modules is
# reinstalled whenever package.json or package-lock.json change.
stamp=$(cat "$here/package.json" "$here/package-lock.json" "$here/.npmrc" | sha256sum | cut -d' ' -f1)
if [[ ! -f $here/node_modules/.herald-stamp || $(cat "$here/node_modules/.herald-stamp") != "$stamp" ]]; then
  echo "run.sh: npm ci"
  t=$(date +%s)
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$stamp" >"$here/node_modules/.herald-stamp"
  echo "run.sh: npm ci took $(($(date +%s) - t))s"
fi

# --- 3. The app and the server, built into a temporary folder -------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t=$(date +%s)
(cd "$here" && node_modules/.bin/vite build --outDir "$tmp/dist" --emptyOutDir)
(cd "$repo" && go build -o "$tmp/herald" ./examples/server)
echo "run.sh: app and server built in $(($(date +%s) - t))s"
t=$(date +%s)

# --- 4. The checks ------------------------------------------------------------
# ui_test.mjs serves the app, starts the server on a fresh SQLite file with
# -base-url set to the app's origin, and drives the browser.
status=0
HERALD_BIN=$tmp/herald HERALD_UI_DIST=$tmp/dist CHROMIUM=$chromium \
  node "$here/ui_test.mjs" || status=$?
echo "run.sh: checks took $(($(date +%s) - t))s; done in $(($(date +%s) - start))s"
exit "$status"
