"""The base of every node of the answering flow."""

from __future__ import annotations

from typing import Any

from pocketflow import AsyncNode

from agents.observer import Observed, note_error

DEFAULT_RETRIES = 2   # attempts of exec_async before exec_fallback_async
DEFAULT_WAIT = 0.25   # seconds between attempts


class FlowNode(Observed, AsyncNode):
    """An observed AsyncNode with retries and a graceful fallback.

    Subclasses implement ``prep_async`` / ``exec_async`` / ``post_async`` and
    ``fallback(prep_res, exc)``, the value ``exec_async`` would have returned had it
    succeeded. The error of the last attempt is reported in the step's ``node_end``.
    Instances hold no per-run state: pocketflow copies them per step and the flow
    objects are shared by every run.
    """

    def __init__(self, max_retries: int = DEFAULT_RETRIES, wait: float = DEFAULT_WAIT) -> None:
        super().__init__(max_retries=max_retries, wait=wait)

    async def exec_fallback_async(self, prep_res: Any, exc: Exception) -> Any:
        note_error(exc)
        return await self.fallback(prep_res, exc)

    async def fallback(self, prep_res: Any, exc: Exception) -> Any:
        """What exec returns when every attempt failed; default: re-raise."""
        raise exc
