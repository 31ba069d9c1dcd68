#!/usr/bin/env bash
# The browser for tests/test_browser.py (JupyterLab driven by Playwright): Debian's chromium.
# Idempotent; never fails: where the browser cannot be installed, the browser test is skipped.
# Playwright itself is a pinned Python package (requirements.lock), installed by tools/setup.sh;
# it drives /usr/bin/chromium, so nothing is downloaded when the test runs (no `playwright install`).
# Not needed for `make lab`.
set -uo pipefail

BROWSER=/usr/bin/chromium
[ -x "$BROWSER" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: $BROWSER is missing and cannot be installed here (apt-get as root is needed), so the browser test will be skipped."
  exit 0
fi

install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null; }
echo "Installing Debian's chromium for the browser test (about 20 s, 113 MB)"
# a stale package list is the usual reason the install fails: refresh it once, then try again
install || { apt-get update -q >/dev/null && install; } || true

[ -x "$BROWSER" ] || echo "note: installing chromium with apt-get failed, so the browser test will be skipped."
exit 0
