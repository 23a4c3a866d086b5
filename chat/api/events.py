"""Flow events as API events, and the JSON body of a finished run.

:func:`api_event` maps an ``agents.observer.FlowEvent`` to the ``(name, data)`` of a
Server-Sent Event / WebSocket message; :class:`RunTally` collects what the body needs
besides the ``RunResult`` (usage, the documents AskForDocs asked for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.observer import preview

EVENT_NAMES = {"run_start": "run_started", "node_start": "node_started",
               "node_end": "node_completed", "token": "token", "stream_reset": "stream_reset",
               "usage": "usage", "progress": "progress"}


def usage_data(usage: Any) -> dict:
    """An ``agents.llm`` Usage as JSON: provider, model, tokens, cost."""
    return {"provider": getattr(usage, "provider", ""), "model": getattr(usage, "model", ""),
            "input_tokens": int(getattr(usage, "input_tokens", 0) or 0),
            "output_tokens": int(getattr(usage, "output_tokens", 0) or 0),
            "cost_usd": getattr(usage, "cost_usd", None)}


def api_event(event: Any, thread_id: str) -> tuple[str, dict] | None:
    """``(event name, data)`` for a FlowEvent, or None for events not streamed (run_end:
    the API sends ``run_completed`` once the run is saved)."""
    name = EVENT_NAMES.get(event.kind)
    if name is None:
        return None
    node = {"node": event.node, "step_id": event.step_id, "parent_id": event.parent_id}
    data = event.data or {}
    if event.kind == "run_start":
        return name, {"run_id": event.run_id, "thread_id": thread_id,
                      "question": data.get("question", "")}
    if event.kind == "node_start":
        return name, {**node, "input": preview(data.get("input"))}
    if event.kind == "node_end":
        return name, {**node, "action": event.action,
                      "duration_ms": round(event.duration_ms or 0.0, 3),
                      "error": event.error, "output": preview(data.get("output"))}
    if event.kind == "token":
        return name, {"node": event.node, "text": event.text}
    if event.kind == "stream_reset":
        return name, {"node": event.node, "reason": event.text}
    if event.kind == "usage":
        return name, {"node": event.node, **usage_data(data.get("usage"))}
    return name, {"node": event.node, "message": event.text, "done": data.get("done", 0),
                  "total": data.get("total", 0)}


@dataclass
class RunTally:
    """What a run's body needs that its RunResult does not hold."""

    usages: list[dict] = field(default_factory=list)
    docs_request: dict | None = None

    def add(self, event: Any) -> None:
        """Take note of one FlowEvent."""
        if event.kind == "usage":
            self.usages.append(usage_data((event.data or {}).get("usage")))
        elif event.kind == "node_end" and event.node == "AskForDocs":
            output = (event.data or {}).get("output") or {}
            if isinstance(output.get("docs_request"), dict):
                self.docs_request = output["docs_request"]

    def usage(self) -> dict:
        """Summed usage: ``{"input_tokens", "output_tokens", "cost_usd", "models"}``."""
        costs = [u["cost_usd"] for u in self.usages if u["cost_usd"] is not None]
        models = []
        for u in self.usages:
            link = f"{u['provider']}:{u['model']}".strip(":")
            if link and link not in models:
                models.append(link)
        return {"input_tokens": sum(u["input_tokens"] for u in self.usages),
                "output_tokens": sum(u["output_tokens"] for u in self.usages),
                "cost_usd": round(sum(costs), 6) if costs else None, "models": models}


def pending_kinds(tally: RunTally, question: str, result: Any) -> list[str]:
    """The kinds of document that would help a ``need_docs`` run (AskForDocs' own list,
    else the heuristic one of ``agents.decisions``)."""
    kinds = (tally.docs_request or {}).get("document_kinds")
    if isinstance(kinds, list) and kinds:
        return [str(k) for k in kinds]
    from agents.decisions import default_docs_request

    return default_docs_request(question, []).document_kinds


def run_body(*, run_id: str, thread_id: str, question: str, result: Any,
             tally: RunTally) -> dict:
    """The JSON body of a finished run (``chat.api.models.RunResponse``)."""
    pending = result.route == "need_docs"
    citations = [{"n": c.n, "document": c.doc_id, "file": c.source, "page": c.page,
                  "heading": c.heading, "text": c.text} for c in result.citations]
    return {"run_id": run_id, "thread_id": thread_id,
            "answer": None if pending else result.answer,
            "supported": result.supported,
            "citations": citations, "route": result.route, "verdict": result.verdict,
            "trace": [{"node": t.get("node", ""), "action": t.get("action"),
                       "duration_ms": float(t.get("duration_ms") or 0.0),
                       "error": t.get("error")} for t in result.trace],
            "usage": tally.usage(),
            "pending_docs": pending_kinds(tally, question, result) if pending else None,
            "message": result.answer if pending else None}
