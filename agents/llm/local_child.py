"""The local model's child process: CPU check, then llama-cpp-python's OpenAI server.

    python -m agents.llm.local_child <python -m llama_cpp.server arguments>

Started by ``agents.llm.local_supervisor.LocalModelSupervisor``, never by hand. Before it
loads the model it runs ``agents.llm.cpu_check`` and exits with code 3 and the reason on
stderr when the build may not run here. A watchdog thread exits the process when its
parent dies, so a killed chat server never leaves a model process behind.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from agents.llm.cpu_check import REFUSED_EXIT, UnsupportedBuildError, check


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(0)


def main(argv: list[str]) -> int:
    """Check the build, then run ``llama_cpp.server`` with ``argv`` (does not return)."""
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    try:
        info = check()
    except (UnsupportedBuildError, ImportError) as exc:
        print(f"docchat-local-model: {exc}", file=sys.stderr, flush=True)
        return REFUSED_EXIT
    print(f"docchat-local-model: build OK: {info.strip()}", file=sys.stderr, flush=True)
    from llama_cpp.server.__main__ import main as serve

    sys.argv = ["llama_cpp.server", *argv]
    serve()  # type: ignore[no-untyped-call]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
