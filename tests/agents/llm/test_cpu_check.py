"""The start-up CPU check: a llama.cpp build this CPU cannot run, or one with AMX, is
refused with a clear message instead of dying with SIGILL."""

from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys

import pytest

from agents.llm.cpu_check import REFUSED_EXIT, UnsupportedBuildError, check, cpu_flags, problems

PORTABLE = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 "
            "| LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |")
NATIVE_XEON = PORTABLE + " AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 |"
EPYC_AVX2 = {"pni", "ssse3", "avx", "avx2", "fma", "f16c", "bmi2"}
XEON_AMX = EPYC_AVX2 | {"avx512f", "avx512vbmi", "avx512_vnni", "amx_int8", "amx_tile"}
has_llama = importlib.util.find_spec("llama_cpp") is not None


def test_portable_build_runs_on_both_machines() -> None:
    assert problems(PORTABLE, EPYC_AVX2) == []
    assert problems(PORTABLE, XEON_AMX) == []
    assert check(PORTABLE, EPYC_AVX2) == PORTABLE


def test_amx_build_is_refused_even_on_an_amx_cpu() -> None:
    found = problems(NATIVE_XEON, XEON_AMX)
    assert len(found) == 1 and "AMX_INT8" in found[0] and "26954" in found[0]


def test_native_xeon_build_on_the_avx2_epyc_names_what_is_missing() -> None:
    with pytest.raises(UnsupportedBuildError) as err:
        check(NATIVE_XEON, EPYC_AVX2)
    message = str(err.value)
    assert "AVX512, AVX512_VBMI, AVX512_VNNI" in message and "lacks" in message
    assert "scripts/install-local-llm.sh" in message


def test_zero_features_and_unknown_flags() -> None:
    assert problems("AVX512 = 0 | AMX_INT8 = 0 | AVX2 = 1", EPYC_AVX2) == []
    assert problems(PORTABLE, set()) == []  # flags unknown: only AMX is refused
    assert problems(NATIVE_XEON, set())


def test_flags_come_from_proc_cpuinfo_or_the_override(monkeypatch) -> None:
    monkeypatch.delenv("DOCCHAT_LLM_CPU_FLAGS", raising=False)
    if platform.machine() == "x86_64" and sys.platform == "linux":
        assert {"sse2", "avx"} <= cpu_flags()
    monkeypatch.setenv("DOCCHAT_LLM_CPU_FLAGS", "AVX, sse2")
    assert cpu_flags() == {"avx", "sse2"}


def _cli(**env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "agents.llm.cpu_check"], capture_output=True,
                          text=True, timeout=120, check=False, env={**os.environ, **env})


@pytest.mark.skipif(not has_llama, reason="llama-cpp-python missing: scripts/install-local-llm.sh")
def test_installed_build_passes_here_and_has_no_amx() -> None:
    proc = _cli()
    assert proc.returncode == 0, proc.stderr
    assert "AVX2 = 1" in proc.stdout and "AMX" not in proc.stdout.replace("AMX_INT8 = 0", "")


@pytest.mark.skipif(not has_llama, reason="llama-cpp-python missing: scripts/install-local-llm.sh")
def test_installed_build_is_refused_on_a_cpu_without_avx2() -> None:
    proc = _cli(DOCCHAT_LLM_CPU_FLAGS="sse2,pni,ssse3")
    assert proc.returncode == REFUSED_EXIT
    assert "AVX2" in proc.stderr and "lacks" in proc.stderr
    assert "scripts/install-local-llm.sh" in proc.stderr
