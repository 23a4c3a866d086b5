"""Observing a flow run: events, the observer of the current run, and the node mixin.

pocketflow 0.0.3 has no hooks, so :class:`Observed` (listed first in a node's or a
flow's bases) overrides ``_run_async``, calls ``super()`` and reports ``node_start`` /
``node_end`` to the observer of the current run. The observer and the run id live in a
ContextVar (:func:`bind_run`), the running step in a second one, so flow and node
objects stay free of per-run state and can be shared by every session.

Event order of one node execution::

    node_start -> (token | stream_reset | usage | progress)* -> node_end

``node_end`` is always sent, also when the node raised or was cancelled (``error`` is
then the exception text or ``"CancelledError"``). An observer that raises is logged and
ignored: it never breaks the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import logging
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pocketflow import Flow

log = logging.getLogger(__name__)

EventKind = Literal["run_start", "run_end", "node_start", "node_end", "token",
                    "stream_reset", "usage", "progress"]


@dataclass
class FlowEvent:
    """One thing that happened in a run, in the order it happened.

    Attributes:
        kind: what happened.
        run_id: the run (one call of ``agents.runner.ask``).
        node: node class name, e.g. ``"Supervisor"`` ("" for run events).
        step_id: unique per node execution ("" for run events).
        parent_id: step id of the enclosing (nested) flow's step, None at top level.
        action: ``node_end``: the action returned by ``post``.
        duration_ms: ``node_end`` / ``run_end``: wall time in milliseconds.
        error: ``node_end`` / ``run_end``: ``"CancelledError"`` or ``"Type: text"``.
        text: token delta / reset reason / progress message.
        data: ``node_start``: ``{"input": ...}``; ``node_end``: ``{"output": ...}``;
            ``usage``: ``{"usage": Usage}``; ``progress``: ``{"done": int, "total": int}``;
            ``run_start``: ``{"question": str, "scope": dict}``; ``run_end``: ``{"route",
            "verdict"}``.
    """

    kind: EventKind
    run_id: str
    node: str = ""
    step_id: str = ""
    parent_id: str | None = None
    action: str | None = None
    duration_ms: float | None = None
    error: str | None = None
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Observer(Protocol):
    """Receives every :class:`FlowEvent` of a run, awaited in order."""

    async def __call__(self, event: FlowEvent) -> None: ...


@dataclass
class RunContext:
    """What the current run reports to (held in a ContextVar, one per run)."""

    run_id: str
    observer: Observer | None = None


@dataclass
class StepContext:
    """The node execution in progress (held in a ContextVar, one per step)."""

    node: str
    step_id: str
    parent_id: str | None
    streamed: bool = False        # a token was emitted since the last reset of this step
    resets: int = 0               # stream_reset events emitted by this step
    error: str | None = None      # set by note_error (graceful fallbacks)


_run: ContextVar[RunContext | None] = ContextVar("docchat_run", default=None)
_step: ContextVar[StepContext | None] = ContextVar("docchat_step", default=None)
_flow_depth: ContextVar[int] = ContextVar("docchat_flow_depth", default=0)


def new_id() -> str:
    """A fresh 32-hex-digit id for runs and steps."""
    return uuid.uuid4().hex


@contextlib.contextmanager
def bind_run(observer: Observer | None, run_id: str | None = None) -> Iterator[RunContext]:
    """Make ``observer`` the observer of everything run in this context.

    Args:
        observer: receives the events; None keeps the run silent.
        run_id: id to report; a new one when None.
    Returns:
        (as the context value) the :class:`RunContext`.
    """
    ctx = RunContext(run_id=run_id or new_id(), observer=observer)
    run_token, step_token, depth_token = _run.set(ctx), _step.set(None), _flow_depth.set(0)
    try:
        yield ctx
    finally:
        _flow_depth.reset(depth_token)
        _step.reset(step_token)
        _run.reset(run_token)


async def emit(kind: EventKind, **fields: Any) -> None:
    """Send one event to the current run's observer (no-op outside a run).

    Node, step and parent ids are filled in from the step in progress unless given.
    """
    run = _run.get()
    if run is None or run.observer is None:
        return
    step = _step.get()
    if step is not None and kind not in ("run_start", "run_end"):
        fields.setdefault("node", step.node)
        fields.setdefault("step_id", step.step_id)
        fields.setdefault("parent_id", step.parent_id)
    await _deliver(run.observer, FlowEvent(kind=kind, run_id=run.run_id, **fields))


async def _deliver(observer: Observer, event: FlowEvent) -> None:
    try:
        result = observer(event)
        if inspect.isawaitable(result):
            await result
    except Exception:  # an observer must never break the run
        log.exception("observer failed on %s event of %s", event.kind, event.node or "run")


async def emit_token(text: str) -> None:
    """Report a delta of the answer text (every ``token`` is text shown to the user)."""
    step = _step.get()
    if step is not None:
        step.streamed = True
    await emit("token", text=text)


async def emit_reset(reason: str) -> None:
    """Report that the answer text streamed so far in this run must be discarded."""
    step = _step.get()
    if step is not None:
        step.streamed, step.resets = False, step.resets + 1
    await emit("stream_reset", text=reason)


async def reset_if_needed(reason: str, *, replacing_earlier: bool = False) -> None:
    """Emit one ``stream_reset`` before a node (re)starts its text.

    Args:
        reason: the reset's text.
        replacing_earlier: the text replaces text streamed by an earlier step (a review
            retry): reset once per step even if this step streamed nothing yet.
    """
    step = _step.get()
    if step is None:
        return
    if step.streamed or (replacing_earlier and step.resets == 0):
        await emit_reset(reason)


async def emit_usage(usage: Any) -> None:
    """Report the token usage and cost of one model call (an ``agents.llm`` Usage)."""
    await emit("usage", data={"usage": usage})


async def emit_progress(message: str, done: int = 0, total: int = 0) -> None:
    """Report progress of a long step, e.g. ``("searching", 1, 2)``."""
    await emit("progress", text=message, data={"done": done, "total": total})


def note_error(exc: BaseException) -> None:
    """Record an error a node recovered from; it is reported in the step's ``node_end``."""
    step = _step.get()
    if step is not None:
        step.error = describe_error(exc)
    log.warning("%s recovered from %s", step.node if step else "node", describe_error(exc))


def describe_error(exc: BaseException) -> str:
    """``"CancelledError"`` for a cancellation, else ``"TypeName: message"``."""
    text = str(exc)
    return type(exc).__name__ + (f": {text}" if text else "")


def preview(value: Any, limit: int = 400) -> Any:
    """A short JSON-friendly copy of ``value`` for step inputs and outputs."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return preview(dataclasses.asdict(value), limit)
    if isinstance(value, dict):
        return {str(k): preview(v, limit) for k, v in list(value.items())[:20]}
    if isinstance(value, (list, tuple)):
        return [preview(v, limit) for v in value[:10]]
    if hasattr(value, "model_dump"):
        return preview(value.model_dump(), limit)
    return preview(repr(value), limit)


class Observed:
    """Mixin that reports each execution of a node (or nested flow) as a step.

    List it first in the bases: ``class Answer(Observed, AsyncNode)``. Class attributes
    ``step_inputs`` / ``step_outputs`` name the shared keys shown as the step's input
    and output. A run's root flow is not a step (its nodes have ``parent_id`` None); a
    flow nested in it is, and its nodes name it as parent.

    The mixin also keeps the run's guards in the shared store (an
    ``agents.state.RunState``, or a dict with these keys): it appends to ``trace`` and
    counts ``steps`` against ``max_steps`` (raising :class:`StepBudgetExceeded` before a
    node that would exceed it).
    """

    step_inputs: tuple[str, ...] = ()
    step_outputs: tuple[str, ...] = ()

    async def _run_async(self, shared: Any) -> Any:
        is_flow = isinstance(self, Flow)
        depth = _flow_depth.get()
        if _run.get() is None or (is_flow and depth == 0):
            token = _flow_depth.set(depth + 1) if is_flow else None
            try:
                return await super()._run_async(shared)  # type: ignore[misc]
            finally:
                if token is not None:
                    _flow_depth.reset(token)
        return await self._run_observed(shared, is_flow, depth)

    async def _run_observed(self, shared: Any, is_flow: bool, depth: int) -> Any:
        parent = _step.get()
        step = StepContext(type(self).__name__, new_id(), parent.step_id if parent else None)
        if not is_flow:
            _charge_step(shared, step.node)
        await emit("node_start", node=step.node, step_id=step.step_id,
                   parent_id=step.parent_id, data={"input": _pick(shared, self.step_inputs)})
        step_token = _step.set(step)
        depth_token = _flow_depth.set(depth + 1) if is_flow else None
        started, action, error = time.perf_counter(), None, None
        try:
            action = await super()._run_async(shared)  # type: ignore[misc]
            return action
        except BaseException as exc:
            error = describe_error(exc)
            raise
        finally:
            if depth_token is not None:
                _flow_depth.reset(depth_token)
            _step.reset(step_token)
            await self._end_step(shared, step, action, error or step.error, started)

    async def _end_step(self, shared: Any, step: StepContext, action: Any,
                        error: str | None, started: float) -> None:
        duration_ms = (time.perf_counter() - started) * 1000.0
        trace = shared.get("trace") if isinstance(shared, dict) else getattr(shared, "trace", None)
        if isinstance(trace, list):
            trace.append({"node": step.node, "action": action,
                          "duration_ms": round(duration_ms, 3), "error": error})
        await emit("node_end", node=step.node, step_id=step.step_id,
                   parent_id=step.parent_id, action=action, duration_ms=duration_ms,
                   error=error, data={"output": _pick(shared, self.step_outputs)})


class StepBudgetExceeded(RuntimeError):
    """A run tried to execute more nodes than its ``max_steps`` allows."""


def _charge_step(shared: Any, node: str) -> None:
    if isinstance(shared, dict):
        if "max_steps" not in shared:
            return
        shared["steps"] = steps = shared.get("steps", 0) + 1
        limit = shared["max_steps"]
    elif hasattr(shared, "max_steps"):
        shared.steps = steps = shared.steps + 1
        limit = shared.max_steps
    else:
        return
    if steps > limit:
        raise StepBudgetExceeded(f"step budget of {limit} nodes exhausted before {node}")


def _pick(shared: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """The ``keys`` of the shared store that are set: dict keys present, or attributes
    (of an ``agents.state.RunState``) that are not None."""
    if isinstance(shared, dict):
        return {key: preview(shared.get(key)) for key in keys if key in shared}
    values = {key: getattr(shared, key, None) for key in keys}
    return {key: preview(value) for key, value in values.items() if value is not None}
