"""The event loop's default executor at a lower CPU priority than the loop thread.

Everything CPU-heavy a web instance does for a question runs off the loop in the
default executor (``asyncio.to_thread``): the query and sentence embeddings (MiniLM in
onnxruntime, whose intra-op threads are created by, and inherit the priority of, the
executor thread that opens the embedder), the store's calls, password hashing. On a host
with few cores those threads and the loop thread queue for the same cores, and the loop,
which needs little CPU but needs it at once, waited 65-94 ms for a core in its worst
wake-ups (README, "The app under load"). Linux keeps a nice value per thread
(setpriority(2) with a thread id, a documented Linux deviation from POSIX); the
executor's threads take ``DOCCHAT_EXECUTOR_NICE`` more than the process, so a waking
loop thread is scheduled ahead of them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)


def lower_this_thread(nice: int) -> None:
    """Add ``nice`` (0-19) to the calling thread's nice value (Linux: only this thread;
    capped at 19). Raising niceness needs no privilege; a refusal is logged."""
    if nice <= 0:
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid,
                       min(os.getpriority(os.PRIO_PROCESS, tid) + nice, 19))
    except OSError as exc:  # e.g. a seccomp profile that forbids it
        log.warning("executor thread priority left unchanged: %s", exc)


def install_low_priority_executor(loop: asyncio.AbstractEventLoop, nice: int,
                                  max_workers: int | None = None) -> ThreadPoolExecutor | None:
    """Make ``loop``'s default executor a ``ThreadPoolExecutor`` (the same default size,
    ``min(32, cores + 4)``) whose threads run ``nice`` below the process. Call it before
    anything opens the embedder. Returns the executor, or None when ``nice`` is 0 (the
    loop's executor is left as it is)."""
    if nice <= 0:
        return None
    executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="docchat-executor",
                                  initializer=lower_this_thread, initargs=(nice,))
    loop.set_default_executor(executor)
    return executor
