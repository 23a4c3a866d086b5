#!/usr/bin/env bash
# Builds and installs llama-cpp-python (the [local] extra's inference engine) for a PORTABLE
# x86-64 baseline. This file is the ONE place the build flags live (README: "Local model").
#
# Why not the default build: llama-cpp-python compiles llama.cpp with -march=native.
#   - On an Intel Xeon with AMX that turns on AMX, and llama.cpp requests the kernel's AMX
#     permission (arch_prctl ARCH_REQ_XCOMP_PERM XTILEDATA) on the main thread only, so the
#     first `tileloadd` on any other thread dies with SIGILL ("Illegal instruction"; upstream
#     ggml-org/llama.cpp PR #26954, open).
#   - A native build is not portable: built on one CPU it dies on another, and our machines
#     alternate between an AVX2-only AMD EPYC and an AVX-512/AMX Xeon.
# So: no -march=native, the Haswell-era baseline both have (AVX, AVX2, FMA, F16C, BMI2), no
# AVX-512, no AMX. agents/llm/cpu_check.py refuses at start-up a build that needs more.
#
# pip caches wheels it built from an sdist and reuses them whatever CMAKE_ARGS says, so the
# wheel is built here (--no-cache-dir) into a directory keyed by a hash of the flags and
# installed from there with --no-index: another flag set can never be picked up by accident.
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_PYTHON_VERSION="0.3.36"
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"

if [ "${1:-}" = "--print-cmake-args" ]; then
    echo "$LLAMA_CMAKE_ARGS"
    exit 0
fi

key=$(printf '%s %s' "$LLAMA_CPP_PYTHON_VERSION" "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-16)
wheel_dir="${DOCCHAT_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/docchat/wheels}/llama-cpp-python-$key"

installed=$(python - <<'PY'
import importlib.metadata as m
try:
    print(m.version("llama_cpp_python"))
except m.PackageNotFoundError:
    print("")
PY
)
stamp="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/docchat_llama_build_key.txt"
if [ "$installed" = "$LLAMA_CPP_PYTHON_VERSION" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
    echo "llama-cpp-python $installed already installed with the portable flags ($key)"
    exec python -m agents.llm.cpu_check
fi

if ! ls "$wheel_dir"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION"-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python $LLAMA_CPP_PYTHON_VERSION (portable flags, ~15 min on 2 cores) into $wheel_dir"
    mkdir -p "$wheel_dir"
    CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
        nice -n 10 python -m pip wheel --no-cache-dir --no-deps --no-binary llama-cpp-python \
        -w "$wheel_dir" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
fi
python -m pip install -q --force-reinstall --no-deps --no-index --find-links "$wheel_dir" \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
echo "$key" > "$stamp"
# the server extra's dependencies from PyPI (pinned); 0.3.36 is installed, so pip builds nothing
python -m pip install -q -c requirements.lock "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
# refuse a build this CPU cannot run (or one that enables AMX), in a child process
python -m agents.llm.cpu_check
