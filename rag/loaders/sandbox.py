"""Parse untrusted files in a child process under CPU-time, memory and wall-clock limits.

Parsers are libraries written for well-formed files: python-docx spends ~2 ms per
paragraph (a 38 KB .docx of 200,000 empty paragraphs holds a core for minutes), a
whitespace bomb makes lxml allocate hundreds of MB, and a thread cannot be stopped. So
:class:`ParserPool` runs ``load_file`` in a process forked from a ``forkserver`` (a
small clean process with the loaders imported: a fork costs milliseconds, never copies
the app's threads, Chroma or the embedder), with

- ``RLIMIT_CPU`` (the kernel sends SIGXCPU, then SIGKILL, past the CPU budget),
- ``RLIMIT_AS`` (allocations past the memory budget fail: MemoryError),
- a wall-clock timeout after which the parent sends SIGKILL (a sleeping or blocked
  parser is stopped too), and the same when the awaiting task is cancelled (Stop).

The parent waits on the process's sentinel with ``loop.add_reader``: no thread of the
event loop's executor is held while a file is parsed. The result comes back through a
pickle file, so a large document never blocks a pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import tempfile
from dataclasses import dataclass, field
from multiprocessing import context, forkserver, popen_forkserver, reduction, spawn, util
from pathlib import Path
from typing import Any

from rag import errors
from rag.errors import DocumentError, ParseLimitError, UnreadableDocumentError
from rag.loaders.archive import ArchiveLimits
from rag.loaders.base import LoadedDocument

log = logging.getLogger(__name__)

#: Exit code of a child that ran out of memory (MemoryError under RLIMIT_AS).
EXIT_MEMORY = 70
_PRELOAD = ["rag.loaders.files", "rag.loaders.sandbox"]


@dataclass(frozen=True)
class ParseLimits:
    """Limits of one parse (defaults: ``RagSettings``).

    cpu_seconds: CPU time of the parsing process (RLIMIT_CPU).
    memory_bytes: its address space (RLIMIT_AS); 0 = no memory limit.
    timeout_s: wall-clock time before it is killed.
    archive: zip-bomb limits of a .docx, checked before parsing.
    """

    cpu_seconds: int = 60
    memory_bytes: int = 1024 * 1024 * 1024
    timeout_s: float = 120.0
    archive: ArchiveLimits = field(default_factory=ArchiveLimits)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent (the fork server, which exits with
    the app) dies, so a parse never outlives an app killed with ``kill -9``."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _apply_limits(limits: ParseLimits) -> None:
    _die_with_parent()
    cpu = max(1, int(limits.cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    if limits.memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))


def _child(path: str, filename: str, max_bytes: int | None, limits: ParseLimits,
           out_path: str) -> None:
    """Entry point of the parsing process: limits, then ``load_file``, result pickled."""
    from rag.loaders.files import load_file

    _apply_limits(limits)
    try:
        result: tuple[Any, ...] = ("ok", load_file(path, filename, max_bytes, limits.archive))
    except MemoryError:
        os._exit(EXIT_MEMORY)
    except DocumentError as exc:
        result = ("document_error", type(exc).__name__, exc.filename, str(exc))
    except Exception as exc:  # noqa: BLE001 - any parser failure becomes a clear message
        result = ("crash", type(exc).__name__, str(exc)[:300])
    try:
        with open(out_path, "wb") as out:
            pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        os._exit(EXIT_MEMORY)


class _LeanPopen(popen_forkserver.Popen):
    """``popen_forkserver.Popen`` (CPython 3.11) without re-importing ``__main__`` in
    the child: the app's main module is Chainlit's CLI (or pytest), whose imports would
    cost each parse a second and hundreds of MB. Same code as the stdlib's ``_launch``
    but for the two ``init_main_*`` keys."""

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(
            self._fds)  # type: ignore[attr-defined]
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(
            self, util.close_fds, (_parent_w, self.sentinel))  # type: ignore[attr-defined]
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _ParseProcess(context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _LeanPopen:
        return _LeanPopen(process_obj)


def _noop() -> None:
    """Target of the warm-up process."""


def _document_error(cls_name: str, filename: str, text: str) -> DocumentError:
    cls = getattr(errors, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, DocumentError)):
        cls = DocumentError
    exc = cls.__new__(cls)
    Exception.__init__(exc, text)
    exc.filename = filename
    return exc


class ParserPool:
    """Runs ``load_file`` for untrusted files in killable, limited child processes.

    The number of parses at once is bounded by the caller (the indexing slots of
    ``RagService``); ``running`` counts them. Safe to share between event loops.
    """

    @property
    def running(self) -> int:
        """Parses running now."""
        return len(self.pids)

    def __init__(self, limits: ParseLimits | None = None) -> None:
        self.limits = limits or ParseLimits()
        #: process ids of the parses running now
        self.pids: set[int] = set()
        multiprocessing.get_context("forkserver").set_forkserver_preload(_PRELOAD)

    def warm_up(self) -> None:
        """Start the fork server now (it imports the loaders: ~1 s) instead of in the
        first upload. Blocking: call it in a worker thread."""
        proc = _ParseProcess(target=_noop, daemon=True)
        proc.start()
        proc.join(30)
        proc.close()

    async def load(self, path: str | Path, filename: str, max_bytes: int | None = None
                   ) -> LoadedDocument:
        """Parse ``path`` as ``filename`` in a child process under ``self.limits``.

        Returns:
            The LoadedDocument (doc_id = SHA-256 of the bytes).
        Raises:
            DocumentError subclasses from the loaders (unsupported, empty, corrupt, zip
            bomb, ...); ParseLimitError when the CPU, memory or time limit stopped it;
            UnreadableDocumentError when the parser crashed.
            asyncio.CancelledError: the caller was cancelled (the child is killed).
        """
        fd, out_path = tempfile.mkstemp(prefix="docchat-parse-", suffix=".pickle")
        os.close(fd)
        proc = _ParseProcess(target=_child, daemon=True, args=(
            str(path), filename, max_bytes, self.limits, out_path))
        try:
            await asyncio.to_thread(proc.start)  # a few ms: a message to the fork server
            if proc.pid is not None:
                self.pids.add(proc.pid)
            if not await _wait_exit(proc, self.limits.timeout_s):
                _kill(proc)
                await _wait_exit(proc, 5.0)
                raise ParseLimitError(filename, self._timeout_message())
            return await asyncio.to_thread(self._result, proc.exitcode, filename, out_path)
        except BaseException:
            _kill(proc)
            raise
        finally:
            self.pids.discard(proc.pid)
            with contextlib.suppress(OSError):
                os.unlink(out_path)
            with contextlib.suppress(ValueError):
                if proc.exitcode is not None:
                    proc.close()

    def _timeout_message(self) -> str:
        return (f"took longer than {self.limits.timeout_s:g} s to read and was stopped "
                "(RAG_PARSE_TIMEOUT_S). It may be damaged or built to be slow to read: "
                "save it again from the program that made it, or split it, and upload it "
                "again.")

    def _result(self, code: int | None, filename: str, out_path: str) -> LoadedDocument:
        if code in (-signal.SIGXCPU, -signal.SIGKILL):
            raise ParseLimitError(
                filename, f"needed more than {self.limits.cpu_seconds} s of processing to "
                "read and was stopped (RAG_PARSE_CPU_S). It may be damaged or built to be "
                "slow to read (e.g. hundreds of thousands of empty paragraphs): save it "
                "again from the program that made it, or split it, and upload it again.")
        if code == EXIT_MEMORY:
            raise ParseLimitError(
                filename, f"needed more than {self.limits.memory_bytes / 1048576:.0f} MB of "
                "memory to read and was stopped (RAG_PARSE_MEMORY_MB). Split it into "
                "smaller files and upload them again.")
        try:
            with open(out_path, "rb") as src:
                result = pickle.load(src)
        except (OSError, EOFError, pickle.UnpicklingError):
            result = ("crash", f"exit code {code}", "")
        if result[0] == "ok" and isinstance(result[1], LoadedDocument):
            return result[1]
        if result[0] == "document_error":
            raise _document_error(*result[1:])
        log.warning("parser failed on %s: %s %s", filename, result[1], result[2])
        raise UnreadableDocumentError(
            filename, f"cannot be read: the parser failed ({result[1]}). The file may be "
            "damaged or not what its extension says: save it again from the program that "
            "made it and upload it again.")


async def _wait_exit(proc: multiprocessing.process.BaseProcess, timeout: float) -> bool:
    """Wait without a thread until ``proc`` exits; False if ``timeout`` s passed first."""
    if proc.exitcode is not None:
        return True
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    sentinel = proc.sentinel

    def on_exit() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(sentinel, on_exit)
    try:
        await asyncio.wait_for(asyncio.shield(done), timeout)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(sentinel)


def _kill(proc: multiprocessing.process.BaseProcess) -> None:
    with contextlib.suppress(ValueError, OSError, AttributeError):
        if proc.pid is not None and proc.exitcode is None:
            os.kill(proc.pid, signal.SIGKILL)
