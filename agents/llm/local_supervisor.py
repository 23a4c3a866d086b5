"""One supervised child process serving the local model over HTTP on 127.0.0.1.

The chat server never loads llama.cpp itself: ``LocalModelSupervisor`` runs
``python -m agents.llm.local_child`` (CPU check, then ``llama_cpp.server``) on a free
loopback port and talks to it through the OpenAI-compatible provider. A crash, a SIGILL or
a kill -9 of that process costs the current answer only (the router falls back to the next
link); the supervisor restarts it with exponential backoff. A build the CPU check refuses
(exit 3), or one that dies with SIGILL while starting, is not restarted: the state becomes
``refused`` with the reason, and the provider turns unavailable.

States: ``stopped`` -> ``starting`` -> ``ready`` -> (exit) ``restarting`` -> ``ready`` ...;
``refused`` is final. ``status()`` reports the state for ``/ready`` and, through a JSON
state file, for ``python -m agents.llm status``.

Requests take one slot at a time (llama.cpp serves one sequence): at most ``queue_max``
wait behind it, each at most ``queue_timeout_s``, else ``LLMError`` with a clear message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from agents.llm.cpu_check import FIX, REFUSED_EXIT
from agents.llm.errors import LLMError

log = logging.getLogger("agents.llm.local")
STABLE_S = 30.0  # a process that ran this long resets the backoff


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def choose_threads(cores: int | None = None) -> int:
    """llama.cpp threads for the cores this process may use (``os.sched_getaffinity``).

    1 on two cores or fewer: measured here, 2 threads on a 2-core machine collapse as soon
    as the other core is busy (llama.cpp's threads spin-wait on each other), 1 holds
    (DESIGN.md, known traps). Above that, all but one core (left to the event loop and the
    embedder), at most 8 (generation is bound by memory bandwidth beyond that).
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    return 1 if cores <= 2 else min(8, cores - 1)


@dataclass
class LocalModelConfig:
    """How to run the model process.

    Attributes:
        model_path: the GGUF file.
        model_name: the alias the server answers to (``model`` in requests).
        threads: llama.cpp threads for generation and prompt processing.
        n_ctx: context window, tokens.
        start_timeout_s: how long a start may take until ``/v1/models`` answers.
        queue_max: requests that may wait for the model (beyond the one it serves).
        queue_timeout_s: how long one request may wait for it.
        backoff_base_s, backoff_max_s: restart delays (doubled per quick failure, capped).
        state_file: where ``status()`` is written for ``python -m agents.llm status``
            (None: nowhere).
    """

    model_path: Path
    model_name: str
    threads: int = 1
    n_ctx: int = 4096
    start_timeout_s: float = 120.0
    queue_max: int = 8
    queue_timeout_s: float = 120.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 30.0
    state_file: Path | None = None


class LocalModelSupervisor:
    """Starts, watches and restarts the model process; hands out request slots.

    Use from one event loop. ``slot()`` starts the process on first use.
    """

    def __init__(self, config: LocalModelConfig) -> None:
        self.config = config
        self.state = "stopped"
        self.last_error = ""
        self.restarts = 0
        self.port: int | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at: float | None = None
        self._runner: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._slot: asyncio.Semaphore | None = None
        self._waiting = 0
        self._closing = False

    # -- process life ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server's OpenAI base URL (valid while ``state == "ready"``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self, port: int) -> list[str]:
        """The child's command line."""
        c = self.config
        return [sys.executable, "-m", "agents.llm.local_child",
                "--model", str(c.model_path), "--model_alias", c.model_name,
                "--host", "127.0.0.1", "--port", str(port),
                "--n_threads", str(c.threads), "--n_threads_batch", str(c.threads),
                "--n_ctx", str(c.n_ctx),
                # logits for every prompt token would cost a vocabulary-wide matmul each
                "--logits_all", "false"]

    def start(self) -> None:
        """Start supervising (idempotent); returns at once."""
        if self._ready is None:
            self._ready = asyncio.Event()
            self._slot = asyncio.Semaphore(1)
        if self.state != "refused" and (self._runner is None or self._runner.done()):
            self._closing = False
            self._runner = asyncio.create_task(self._supervise(), name="local-model")

    async def _supervise(self) -> None:
        assert self._ready is not None
        quick_failures = 0
        while not self._closing:
            self.state = "starting" if self.restarts == 0 else "restarting"
            self._write_state()
            outcome = await self._run_once()
            self._ready.clear()
            if outcome == "refused" or self._closing:
                break
            ran = time.monotonic() - (self.started_at or time.monotonic())
            quick_failures = 0 if ran > STABLE_S else quick_failures + 1
            delay = min(self.config.backoff_max_s,
                        self.config.backoff_base_s * 2 ** max(0, quick_failures - 1))
            self.restarts += 1
            self.state = "restarting"
            self._write_state()
            log.warning("local model process: %s; restart %d in %.1f s",
                        self.last_error, self.restarts, delay)
            await asyncio.sleep(delay)
        if self.state != "refused":
            self.state = "stopped"
        self._ready.set()  # wake waiters: they see the state and fail at once
        self._write_state()

    async def _run_once(self) -> str:
        """Run one process to its end: "refused" (do not restart) or "exited"."""
        assert self._ready is not None
        self.port = free_port()
        with tempfile.TemporaryFile() as logf:  # a file, not a pipe: a full pipe blocks
            self.proc = await asyncio.create_subprocess_exec(
                *self.command(self.port), stdin=asyncio.subprocess.DEVNULL, stdout=logf,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True)
            self.started_at = time.monotonic()
            up = await self._wait_until_up()
            if up:
                self.state, self.last_error = "ready", ""
                self._write_state()
                self._ready.set()
                log.info("local model ready on port %d (pid %d)", self.port, self.proc.pid)
            code = await self.proc.wait()
            self.proc = None
            tail = _tail(logf)
        if not up and code == REFUSED_EXIT:
            self.state, self.last_error = "refused", _refusal(tail)
        elif not up and code == -signal.SIGILL:
            self.state = "refused"
            self.last_error = ("the local model process died with SIGILL (illegal instruction) "
                               f"while starting: the llama.cpp build uses instructions this "
                               f"CPU cannot run; {FIX}")
        else:
            how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            reason = f" ({self.last_error})" if self.last_error.startswith("killed:") else ""
            self.last_error = f"model process {how}{reason}" + (
                "" if up else f" before it was ready: {tail[-300:]}")
        return "refused" if self.state == "refused" else "exited"

    async def _wait_until_up(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + self.config.start_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline and self.proc.returncode is None:
                try:
                    if (await client.get(f"{self.base_url}/models")).status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.25)
        if self.proc.returncode is None:
            self.last_error = f"not answering after {self.config.start_timeout_s:.0f} s"
            self.kill("start timed out")
        return False

    def kill(self, reason: str) -> None:
        """Kill the process now (a hang); the supervisor restarts it."""
        if self.proc is not None and self.proc.returncode is None:
            log.warning("killing the local model process (pid %d): %s", self.proc.pid, reason)
            self.proc.kill()
            self.state, self.last_error = "restarting", f"killed: {reason}"
            if self._ready is not None:
                self._ready.clear()  # no request may reach the dying process

    async def aclose(self) -> None:
        """Stop the process and the supervision (terminate, then kill after 10 s)."""
        self._closing = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
        if self._runner is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._runner, 15)
        if self.config.state_file is not None and self._runner is not None:  # ours only
            self.config.state_file.unlink(missing_ok=True)

    # -- requests ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def slot(self, link: str) -> AsyncIterator[str]:
        """Wait (bounded) for the model, hold it for one request; yields the base URL.

        Raises:
            LLMError: refused build, queue full, or no slot/ready model in time.
        """
        self.start()
        assert self._slot is not None and self._ready is not None
        if self.state == "refused":
            raise LLMError(self.last_error, provider=link)
        if (self._slot.locked() or self._waiting) and self._waiting >= self.config.queue_max:
            raise LLMError(f"the local model is busy: {self._waiting} requests already wait "
                           "for it (DOCCHAT_LLM_LOCAL_QUEUE_MAX)", provider=link)
        self._waiting += 1
        deadline = time.monotonic() + self.config.queue_timeout_s
        acquired = False
        try:
            await asyncio.wait_for(self._slot.acquire(), self.config.queue_timeout_s)
            acquired = True
            while True:
                await asyncio.wait_for(self._ready.wait(), max(0.0, deadline - time.monotonic()))
                if self.state == "ready" or (self._runner is not None and self._runner.done()):
                    break
                await asyncio.sleep(0.05)  # a stale event: the supervisor is about to clear it
        except TimeoutError:
            if acquired:
                self._slot.release()
            raise LLMError(
                f"the local model did not take the request within "
                f"{self.config.queue_timeout_s:.0f} s (state: {self.state}"
                + (f", {self.last_error}" if self.last_error else "")
                + "; DOCCHAT_LLM_LOCAL_QUEUE_TIMEOUT_S)", provider=link) from None
        finally:
            self._waiting -= 1
        try:
            if self.state != "ready":
                raise LLMError(f"local model {self.state}: {self.last_error}", provider=link)
            yield self.base_url
        finally:
            self._slot.release()

    async def died(self, within_s: float = 2.0) -> bool:
        """True when the process turns out dead: the state leaves "ready" within
        ``within_s`` (the supervisor notices an exit within milliseconds)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.state != "ready":
                return True
            await asyncio.sleep(0.05)
        return False

    def status(self) -> dict[str, Any]:
        """State for /ready and the CLI (JSON-ready)."""
        return {
            "state": self.state, "model": self.config.model_name,
            "pid": self.proc.pid if self.proc is not None else None,
            "base_url": self.base_url if self.state == "ready" else None,
            "threads": self.config.threads, "restarts": self.restarts,
            "queued": self._waiting, "last_error": self.last_error or None,
            "supervisor_pid": os.getpid(),
        }

    def _write_state(self) -> None:
        path = self.config.state_file
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(self.status()))
            tmp.replace(path)
        except OSError as exc:  # the state file is a report, never a reason to fail
            log.warning("cannot write %s: %s", path, exc)


def _tail(logf: Any, size: int = 4000) -> str:
    logf.seek(0, os.SEEK_END)
    logf.seek(max(0, logf.tell() - size))
    data: bytes = logf.read()
    return data.decode(errors="replace")


def _refusal(tail: str) -> str:
    lines = [ln for ln in tail.splitlines() if ln.startswith("docchat-local-model:")]
    return lines[-1].removeprefix("docchat-local-model:").strip() if lines else tail[-500:]
