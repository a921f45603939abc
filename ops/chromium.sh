#!/usr/bin/env bash
# Headless Chromium for the browser tests (tests/e2e/test_api_browser.py): Debian's chromium and
# chromium-driver, driven by Selenium. `install` is idempotent; there is no server to start.
source "$(dirname "$0")/lib.sh"

install() { apt_install chromium chromium-driver; }

status() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "chromium installed ($(chromium --version 2>/dev/null | head -1))"
  else
    echo "chromium not installed (ops/chromium.sh install)"
  fi
}

"${1:-status}"
