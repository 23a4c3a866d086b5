"""Real processes for the queue tests: a `chroma run` server and `python -m rag worker`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2e_support import free_port
from e2e_support import stop_process as stop

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"




def unique_queue() -> str:
    """A queue name of its own per test: job ids, upload keys and channels start with it."""
    return f"test-docchat-{uuid.uuid4().hex[:12]}"


def start_chroma(path: Path, timeout: float = 90.0) -> tuple[subprocess.Popen, int]:
    """`chroma run --path path` on a free loopback port, answering its heartbeat."""
    port = free_port()
    proc = subprocess.Popen(
        ["chroma", "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).is_success:
                return proc, port
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"chroma run did not start (exit {proc.poll()})")
        time.sleep(0.2)




@dataclass
class WorkerProcess:
    """``python -m rag worker`` with the given environment; its output in ``log_path``."""

    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None
    starts: int = field(default=0)

    def start(self, timeout: float = 120.0) -> WorkerProcess:
        """Start and wait for "worker ready" (printed after the start-up reconcile)."""
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "a")  # noqa: SIM115 - the worker writes it until stopped
        self.proc = subprocess.Popen([sys.executable, "-m", "rag", "worker"], cwd=ROOT,
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while "worker ready" not in self.log(offset):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log(offset)[-3000:]}")
            time.sleep(0.2)
        return self

    def log(self, offset: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[offset:]

    def kill9(self) -> None:
        """SIGKILL: no clean-up runs (a crashed host, an OOM kill)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        stop(self.proc)
