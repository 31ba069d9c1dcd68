#!/usr/bin/env bash
# The room's pieces outside the Python environment (make hub, tests/test_room.py): the proxy,
# configurable-http-proxy, pinned in tools/hub/package-lock.json and installed with `npm ci` from the npm
# registry into tools/hub/node_modules/; and Debian's acl package (setfacl), with which the room lets its
# learners through a folder that hides the course's Python (INSTRUCTORS.md, "The room").
# Idempotent: about 3 s the first time, nothing after.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HUB="$ROOT/tools/hub"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "Node.js and npm are missing: the room's proxy runs on Node.js. Install them (Debian: apt-get install nodejs npm), then run this again." >&2
  exit 1
fi
wanted=$(sha256sum "$HUB/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$HUB/node_modules/.installed" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing the room's proxy (configurable-http-proxy, npm ci)"
  npm ci --prefix "$HUB" --no-audit --no-fund --loglevel=error >/dev/null
  echo "$wanted" > "$HUB/node_modules/.installed"
fi
"$HUB/node_modules/.bin/configurable-http-proxy" --version >/dev/null

if ! command -v setfacl >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends acl >/dev/null; }
  install || { apt-get update -q >/dev/null && install; } || echo "note: installing Debian's acl package failed"
fi
