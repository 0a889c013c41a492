#!/usr/bin/env bash
# Installs Debian's Chromium for the human-study browser tests (tests/study/test_browser.py),
# which drive /usr/bin/chromium through Playwright. Playwright's own browser download is never
# used. Does nothing if the browser is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present) at /usr/bin/chromium"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "install_browser.sh: /usr/bin/chromium is missing and this user cannot install it" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium
/usr/bin/chromium --version
