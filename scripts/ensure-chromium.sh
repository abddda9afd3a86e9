#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the admin's browser tests
# (Playwright drives it; `playwright install` is never used). Installs the package when missing.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "ensure-chromium: /usr/bin/chromium is present"
  exit 0
fi
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
echo "ensure-chromium: installing chromium (Debian package)"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "ensure-chromium: /usr/bin/chromium still missing" >&2; exit 1; }
echo "ensure-chromium: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
