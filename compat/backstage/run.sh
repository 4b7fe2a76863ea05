#!/usr/bin/env bash
# Runs Backstage's published notifications and signals clients against a
# freshly built Herald examples/server. See README.md.
#
#   bash compat/backstage/run.sh
#
# HERALD_COMPAT_CACHE  where the clients are installed (default
#                      ${XDG_CACHE_HOME:-$HOME/.cache}/herald-compat-backstage);
#                      outside the repository, reused while package.json and
#                      package-lock.json are unchanged.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${HERALD_COMPAT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/herald-compat-backstage}
start=$(date +%s)

command -v node >/dev/null || { echo "run.sh: node is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "run.sh: npm is required" >&2; exit 1; }
command -v go >/dev/null || { echo "run.sh: go is required" >&2; exit 1; }

# --- 1. The clients, into the cache ---------------------------------------
# npm ci installs the small runtime deps (@backstage/errors and its three);
# the client packages themselves are fetched with npm pack and unpacked, so
# that their React/MUI dependency trees are not installed. Their tarballs are
# checked against the integrity pinned in package.json.
stamp=$(cat "$here/package.json" "$here/package-lock.json" | node -e '
  const h = require("crypto").createHash("sha256");
  process.stdin.on("data", d => h.update(d)).on("end", () => console.log(h.digest("hex")));')
if [[ ! -f "$cache/.stamp" || $(cat "$cache/.stamp") != "$stamp" ]]; then
  echo "run.sh: installing the Backstage clients into $cache"
  rm -rf "$cache"
  mkdir -p "$cache/tarballs"
  cp "$here/package.json" "$here/package-lock.json" "$cache/"
  (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  node -e '
    const p = require(process.argv[1]);
    for (const [name, c] of Object.entries(p.backstageClients)) console.log(name, c.version, c.integrity);
  ' "$here/package.json" | while read -r name version integrity; do
    tgz=$(cd "$cache/tarballs" && npm pack "$name@$version" --silent --loglevel=error | tail -n1)
    got="sha512-$(node -e 'process.stdout.write(require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$cache/tarballs/$tgz")"
    if [[ $got != "$integrity" ]]; then
      echo "run.sh: $name@$version: integrity $got, want $integrity" >&2
      exit 1
    fi
    mkdir -p "$cache/node_modules/$name"
    tar -xzf "$cache/tarballs/$tgz" -C "$cache/node_modules/$name" --strip-components=1
  done
  echo "$stamp" >"$cache/.stamp"
fi

# --- 2. Herald, on a free port with a temporary SQLite file ----------------
tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

(cd "$repo" && go build -o "$tmp/herald" ./examples/server)
service_token=svc-$RANDOM$RANDOM
"$tmp/herald" -addr 127.0.0.1:0 -db "$tmp/herald.db" \
  -service-token "$service_token=plugin:compat" \
  -user-token u1=user:default/alice -user-token u2=user:default/bob \
  >"$tmp/stdout" 2>"$tmp/server.log" &
server_pid=$!

url=
for _ in $(seq 1 100); do
  url=$(sed -n 's/^Herald listening on \(http:\/\/[^ ]*\).*/\1/p' "$tmp/stdout")
  [[ -n $url ]] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $url ]]; then
  echo "run.sh: the server did not start" >&2
  cat "$tmp/server.log" >&2
  exit 1
fi
echo "run.sh: Herald at $url"

# --- 3. The clients against it ---------------------------------------------
status=0
HERALD_URL=$url BACKSTAGE_CLIENTS=$cache HERALD_SERVICE_TOKEN=$service_token \
  HERALD_ORIGIN=plugin:compat HERALD_USER_TOKEN=u1 HERALD_USER=user:default/alice HERALD_OTHER_TOKEN=u2 \
  node --experimental-websocket --experimental-detect-module --no-warnings --test-reporter=spec \
  "$here/client_test.mjs" || status=$?

if [[ $status -ne 0 ]]; then
  echo "run.sh: FAILED; server log:" >&2
  cat "$tmp/server.log" >&2
fi
echo "run.sh: done in $(($(date +%s) - start))s"
exit "$status"
