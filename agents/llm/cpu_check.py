"""Start-up check: may this llama.cpp build run on this CPU?

``llama_cpp.llama_print_system_info()`` lists the instruction sets the installed build was
COMPILED for (``"AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | ..."``); ``/proc/cpuinfo`` lists
what this CPU has. A build that needs an instruction the CPU lacks dies with SIGILL on its
first use of it; a build with AMX dies with SIGILL off the main thread even on an AMX CPU
(llama.cpp asks the kernel for AMX permission on the main thread only: upstream
ggml-org/llama.cpp PR #26954, open). So the check refuses both, with a message naming the
fix (``scripts/install-local-llm.sh``), instead of letting the process die.

Run in the model's child process before it loads anything (``agents.llm.local_child``), and
from the command line: ``python -m agents.llm.cpu_check`` (exit 0 ok, 3 refused).

``DOCCHAT_LLM_CPU_FLAGS`` (comma-separated) replaces the flags read from /proc/cpuinfo: it
lets a test ask "would this build run on an AVX-only CPU?" on any machine.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

REFUSED_EXIT = 3
FIX = ("rebuild it with the portable flags: scripts/install-local-llm.sh "
       "(README, 'Local model')")

# llama.cpp's feature name -> the /proc/cpuinfo flag that must be present
FEATURE_FLAGS = {
    "SSE3": "pni", "SSSE3": "ssse3", "AVX": "avx", "AVX2": "avx2", "AVX_VNNI": "avx_vnni",
    "FMA": "fma", "F16C": "f16c", "BMI2": "bmi2", "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi", "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16", "AMX_INT8": "amx_int8", "AMX_TILE": "amx_tile",
    "AMX_BF16": "amx_bf16",
}
AMX = ("AMX_INT8", "AMX_TILE", "AMX_BF16")


class UnsupportedBuildError(RuntimeError):
    """The installed llama.cpp build cannot run safely on this CPU (message says why)."""


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """This CPU's flags (lower case), from DOCCHAT_LLM_CPU_FLAGS or ``/proc/cpuinfo``.

    Returns an empty set when neither is readable (not Linux): the check then only
    refuses AMX.
    """
    override = os.environ.get("DOCCHAT_LLM_CPU_FLAGS")
    if override is not None:
        return {f.strip().lower() for f in override.split(",") if f.strip()}
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


def build_features(system_info: str) -> set[str]:
    """The features a build was compiled with: every ``NAME = 1`` of its system info."""
    return {name.upper() for name, on in re.findall(r"([A-Za-z0-9_]+)\s*=\s*(\d+)",
                                                    system_info) if on != "0"}


def problems(system_info: str, flags: set[str]) -> list[str]:
    """Why this build must not run here (empty: it may).

    Args:
        system_info: ``llama_print_system_info()`` text.
        flags: this CPU's flags (``cpu_flags()``); empty means unknown (only AMX refused).
    """
    features = build_features(system_info)
    found = []
    amx = sorted(f for f in features if f in AMX)
    if amx:
        found.append(f"the build enables {', '.join(amx)}: llama.cpp's AMX code dies with "
                     "SIGILL off the main thread (upstream ggml-org/llama.cpp PR #26954)")
    if flags:
        missing = sorted(f for f in features
                         if f in FEATURE_FLAGS and f not in AMX and FEATURE_FLAGS[f] not in flags)
        if missing:
            found.append(f"the build uses {', '.join(missing)}, which this CPU lacks")
    return found


def check(system_info: str | None = None, flags: set[str] | None = None) -> str:
    """Raise ``UnsupportedBuildError`` unless the build may run here; return its system info.

    Args:
        system_info: default: ask the installed ``llama_cpp`` (loads the library; should
            loading itself die of SIGILL, the supervisor reports a refused build).
        flags: default ``cpu_flags()``.
    """
    if system_info is None:
        import llama_cpp

        system_info = llama_cpp.llama_print_system_info().decode(errors="replace")
    found = problems(system_info, cpu_flags() if flags is None else flags)
    if found:
        raise UnsupportedBuildError(
            "refusing to run the local model: " + "; ".join(found) + f". Fix: {FIX}.")
    return system_info


def main() -> int:
    """CLI: print the build's features and the verdict; exit 0 (ok) or 3 (refused)."""
    try:
        info = check()
    except UnsupportedBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return REFUSED_EXIT
    except ImportError as exc:
        print(f"error: llama-cpp-python is not installed ({exc}); "
              "run scripts/install-local-llm.sh", file=sys.stderr)
        return REFUSED_EXIT
    print(f"llama.cpp build OK for this CPU: {info.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
