"""The local provider: a GGUF model run in-process by llama-cpp-python.

llama.cpp is CPU-bound and blocking, so every call runs in a worker thread; streamed
tokens cross to the event loop through an ``asyncio.Queue`` fed with
``loop.call_soon_threadsafe``. One model instance is loaded lazily on first use and
reused; a ``threading.Lock`` serialises calls (a llama context is not re-entrant).
If the consumer stops early, the worker stops at its next token.

Available when ``llama_cpp`` is importable (the ``[local]`` extra) and the model file
exists (``python -m agents.llm install-local-model``). Threads default to 1: on this
2-core machine llama.cpp with 2 threads collapses when the other core is busy.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from agents.llm.errors import LLMError
from agents.llm.providers.base import CallOptions, Provider, StreamItem, TokenCount
from agents.llm.settings import LOCAL_MODEL_NAME, LLMSettings
from agents.llm.types import Message

_DONE = object()


class LocalProvider(Provider):
    """llama-cpp-python in a worker thread.

    Args:
        model_path: the GGUF file.
        threads: llama.cpp threads for generation and prompt processing.
        n_ctx: context window in tokens.
    """

    name = "local"

    def __init__(self, model_path: Path, threads: int = 1, n_ctx: int = 4096) -> None:
        self.model_path = model_path
        self.threads = threads
        self.n_ctx = n_ctx
        self._llama: Any = None
        self._mutex = threading.Lock()
        has_lib = importlib.util.find_spec("llama_cpp") is not None
        self.available = has_lib and model_path.is_file()
        if not has_lib:
            self.unavailable_reason = "llama-cpp-python not installed (pip install '.[local]')"
        elif not self.available:
            self.unavailable_reason = (
                f"no model at {model_path} (python -m agents.llm install-local-model)"
            )

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> LocalProvider:
        return cls(settings.resolved_local_model_path(), settings.local_threads,
                   settings.local_n_ctx)

    def models(self) -> list[str]:
        return [LOCAL_MODEL_NAME]

    def _model(self) -> Any:
        """The loaded model (worker thread only; caller holds ``_mutex``)."""
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )
        return self._llama

    def _prompt_tokens(self, llm: Any, messages: list[dict]) -> int:
        text = "\n".join(m["content"] for m in messages)
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False)) + 4 * len(messages)

    async def stream(
        self, model: str, messages: list[Message], opts: CallOptions
    ) -> AsyncIterator[StreamItem]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        chat = [{"role": m.role, "content": m.content} for m in messages]
        counts = TokenCount()

        def put(item: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        def work() -> None:
            with self._mutex:
                try:
                    llm = self._model()
                    counts.input_tokens = self._prompt_tokens(llm, chat)
                    chunks = llm.create_chat_completion(
                        messages=chat, max_tokens=opts.max_tokens,
                        temperature=opts.temperature, stream=True,
                    )
                    for chunk in chunks:
                        if stop.is_set():
                            break
                        delta = chunk["choices"][0]["delta"].get("content")
                        if delta:
                            put(delta)
                    put(_DONE)
                except Exception as exc:  # noqa: BLE001  (re-raised on the loop side)
                    put(exc)

        worker = loop.run_in_executor(None, work)
        produced = 0
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, Exception):
                    raise LLMError(f"{type(item).__name__}: {item}", provider=f"local:{model}")
                produced += 1
                yield item
        finally:
            stop.set()
        await worker
        counts.output_tokens = produced
        yield counts

    async def structured(self, model: str, messages: list[Message], schema: dict[str, Any],
                         schema_name: str, opts: CallOptions) -> tuple[str, TokenCount]:
        chat = [{"role": m.role, "content": m.content} for m in messages]

        def work() -> dict:
            with self._mutex:
                return self._model().create_chat_completion(
                    messages=chat, max_tokens=opts.max_tokens, temperature=opts.temperature,
                    response_format={"type": "json_object", "schema": schema},
                )

        resp = await _in_thread(work, f"local:{model}")
        usage = resp.get("usage") or {}
        text = resp["choices"][0]["message"].get("content") or ""
        return text, TokenCount(usage.get("prompt_tokens"), usage.get("completion_tokens"))

    async def aclose(self) -> None:
        llama, self._llama = self._llama, None
        if llama is not None:
            await asyncio.to_thread(llama.close)


async def _in_thread(fn: Callable[[], Any], link: str) -> Any:
    try:
        return await asyncio.to_thread(fn)
    except Exception as exc:
        raise LLMError(f"{type(exc).__name__}: {exc}", provider=link) from exc
