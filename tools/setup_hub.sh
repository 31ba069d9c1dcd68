#!/usr/bin/env bash
# The room's pieces outside the Python environment (make hub, tests/test_room.py): the proxy,
# configurable-http-proxy, pinned in tools/hub/package-lock.json and installed with `npm ci` from the npm
# registry into tools/hub/node_modules/; and Debian's acl package (setfacl), with which the room lets its
# learners through a folder that hides the course's Python (INSTRUCTORS.md, "The room").
# Idempotent: about 3 s the first time, nothing after. Never fails: where a piece cannot be installed it says
# so, `make hub` then says what is missing, and the room tests are skipped with one sentence.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HUB="$ROOT/tools/hub"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "note: Node.js and npm are missing, so the room's proxy is not installed (Debian: apt-get install nodejs npm, then run this again)."
  exit 0
fi
wanted=$(sha256sum "$HUB/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$HUB/node_modules/.installed" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing the room's proxy (configurable-http-proxy, npm ci)"
  if npm ci --prefix "$HUB" --no-audit --no-fund --loglevel=error >/dev/null \
      && "$HUB/node_modules/.bin/configurable-http-proxy" --version >/dev/null; then
    echo "$wanted" > "$HUB/node_modules/.installed"
  else
    echo "note: installing configurable-http-proxy with npm failed (no access to the npm registry?)"
  fi
fi

if ! command -v setfacl >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends acl >/dev/null; }
  install || { apt-get update -q >/dev/null && install; } || echo "note: installing Debian's acl package failed"
fi
