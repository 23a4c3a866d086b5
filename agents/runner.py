"""Run the answering flow for one question: ``await ask(question, scope=..., ...)``.

This is what the Chainlit UI and ``python -m agents ask`` call. Everything of one run
lives in its own :class:`agents.state.RunState` and in the ContextVars bound here, so concurrent runs
on the shared flow objects never see each other's state.
"""

from __future__ import annotations

import time
from dataclasses import asdict, is_dataclass

from agents.graph import AnswerFlow, get_flow
from agents.memory import Memory, RunResult
from agents.observer import (
    Observer,
    StepBudgetExceeded,
    bind_run,
    describe_error,
    emit,
    emit_token,
    preview,
)
from agents.protocols import Retriever, Router
from agents.state import RunState
from rag.models import Scope

BUDGET_EXHAUSTED = ("Sorry, I stopped before finishing: this question took more steps than "
                    "allowed. Please try asking it differently.")


def step_budget(max_rounds: int) -> int:
    """Nodes a run may execute: Supervisor, 3 per review round, Finish, plus slack."""
    return 3 * max(1, max_rounds) + 4


def new_state(question: str, *, scope: Scope, retriever: Retriever, router: Router,
              memory: Memory | None, k: int, answer_model: str | None,
              max_rounds: int) -> RunState:
    """The :class:`RunState` of one run (inputs, guards and an empty trace)."""
    return RunState(question=question, scope=scope, retriever=retriever, router=router,
                    memory=memory.copy() if memory else Memory(), k=k,
                    answer_model=answer_model, max_rounds=max(1, max_rounds),
                    max_steps=step_budget(max_rounds))


async def ask(question: str, *, scope: Scope, rag: Retriever, router: Router,
              memory: Memory | None = None, observer: Observer | None = None,
              k: int = 5, answer_model: str | None = None, max_rounds: int = 2,
              flow: AnswerFlow | None = None) -> RunResult:
    """Answer one question with the supervisor-agent flow.

    Args:
        question: the user's message.
        scope: ``rag.models.Scope``: whose documents (and which thread's) to search.
        rag: the :class:`agents.protocols.Retriever` searched (an open
            ``rag.service.RagService``).
        router: the :class:`agents.protocols.Router` (an ``agents.llm.LLMRouter``).
        memory: the thread's memory; not modified (the updated one is returned).
        observer: receives every FlowEvent of the run, in order (run_start, node_start,
            token, ..., node_end, run_end).
        k: chunks retrieved per search.
        answer_model: "provider:model" tried first for the answer, None for the chain.
        max_rounds: answer/review rounds before Review escalates (default 2).
        flow: the flow to run; the shared default flow when None.
    Returns:
        the RunResult (answer, route, cited sources, new memory, node trace, verdict).
    Raises:
        asyncio.CancelledError: the run was cancelled (after ``node_end`` and
        ``run_end`` carry ``error="CancelledError"``).
    """
    shared = new_state(question, scope=scope, retriever=rag, router=router, memory=memory,
                       k=k, answer_model=answer_model, max_rounds=max_rounds)
    with bind_run(observer):
        await emit("run_start", data={"question": question, "scope": preview(_plain(scope))})
        started, error = time.perf_counter(), None
        try:
            await (flow or get_flow()).run_async(shared)
        except StepBudgetExceeded as exc:
            error = describe_error(exc)
            await emit_token(BUDGET_EXHAUSTED)
            shared.answer, shared.supported = BUDGET_EXHAUSTED, False
        except BaseException as exc:
            error = describe_error(exc)
            raise
        finally:
            await _end_run(shared, started, error)
    return result_of(shared)


async def _end_run(shared: RunState, started: float, error: str | None) -> None:
    duration_ms = (time.perf_counter() - started) * 1000.0
    data = {"route": shared.route, "verdict": _verdict(shared), "steps": shared.steps,
            "supported": bool(shared.supported)}
    await emit("run_end", duration_ms=duration_ms, error=error, data=data)


def result_of(shared: RunState) -> RunResult:
    """The RunResult recorded in a finished run's state."""
    answer = shared.answer if shared.answer is not None else shared.draft
    return RunResult(answer=answer, route=shared.route or "error",
                     citations=list(shared.citations), memory=shared.memory,
                     trace=[dict(entry) for entry in shared.trace], verdict=_verdict(shared),
                     supported=bool(shared.supported) and shared.answer is not None,
                     evidence=shared.evidence)


def _verdict(shared: RunState) -> str | None:
    return shared.verdict if shared.verdict in ("approve", "escalate", "decline") else None


def _plain(value: object) -> object:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value
