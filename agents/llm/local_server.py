"""Run llama-cpp-python's OpenAI-compatible server on 127.0.0.1 for the local model.

Used by the benchmark and the tests to exercise the ``compat`` (OpenAI by base URL)
path against a real server: ``python -m llama_cpp.server`` from the ``[local]`` extra.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from agents.llm.settings import LOCAL_MODEL_NAME


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``async with LlamaServer(path, threads=1) as server:`` -> ``server.base_url``.

    Args:
        model_path: the GGUF file.
        threads: llama.cpp threads (generation and batch).
        n_ctx: context window in tokens.
        start_timeout_s: how long to wait for ``/v1/models`` to answer.

    Raises:
        RuntimeError: the server exited or did not answer in time (its log is quoted).
    """

    def __init__(self, model_path: Path, threads: int = 1, n_ctx: int = 4096,
                 start_timeout_s: float = 120.0) -> None:
        self.model_path = model_path
        self.threads = threads
        self.n_ctx = n_ctx
        self.start_timeout_s = start_timeout_s
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None
        # the server's log goes to a file, not a pipe: a full pipe would block it
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in _stop)
        self.startup_s = 0.0

    def command(self) -> list[str]:
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path),
                "--model_alias", LOCAL_MODEL_NAME, "--host", "127.0.0.1",
                "--port", str(self.port), "--n_threads", str(self.threads),
                "--n_threads_batch", str(self.threads), "--n_ctx", str(self.n_ctx),
                # the server defaults to logits for every prompt token (a vocabulary-wide
                # matmul per token): off, it processes prompts as fast as in-process
                "--logits_all", "false"]

    async def __aenter__(self) -> Self:
        start = time.perf_counter()
        self.proc = await asyncio.to_thread(
            subprocess.Popen, self.command(), stdout=self._log, stderr=subprocess.STDOUT
        )
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.perf_counter() - start < self.start_timeout_s:
                if self.proc.poll() is not None:
                    break
                try:
                    if (await client.get(f"{self.base_url}/models")).status_code == 200:
                        self.startup_s = time.perf_counter() - start
                        return self
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.25)
        log = self._stop()
        raise RuntimeError(f"llama_cpp.server did not start: {log[-2000:]}")

    def _stop(self) -> str:
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self._log.seek(0)
        log = self._log.read().decode(errors="replace")
        self._log.close()
        return log

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await asyncio.to_thread(self._stop)
