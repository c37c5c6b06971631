#!/usr/bin/env bash
# Install Debian's chromium (and nothing from browser-download tools, which cannot reach the
# network here) for tests/test_html_browser.py. Idempotent: does nothing when chromium is present.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "install-chromium: $(chromium --version 2>/dev/null || echo chromium) already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "install-chromium: chromium not on PATH after install" >&2; exit 1; }
echo "install-chromium: $(chromium --version)"
