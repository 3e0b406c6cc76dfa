#!/bin/sh
# Debian's Chromium for the browser tests (tests/browser.py): installed once,
# never downloaded by a test tool.
set -eu
if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  exit 0
fi
run_as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null ||
  { run_as_root apt-get update -q >/dev/null && run_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
