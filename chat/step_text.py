"""Steps in plain language: names, inputs and outputs a newcomer can read.

A node's step is named for what it does for the user ("Deciding how to answer",
"Searching your documents (5 passages from 2 files)", "Writing the answer", "Checking
the answer against the sources"); its input and output are short readable text (the
question, the search, each passage as file, page and first line, the verdict in words).
Ids (chunk and document hashes) and the raw values go only into a "Details" child step,
collapsed.
"""

from __future__ import annotations

import json
from typing import Any

RUN_NAME = "Working on your question"
STEP_NAMES: dict[str, str] = {
    "Supervisor": "Deciding how to answer",
    "Retrieve": "Searching your documents",
    "Answer": "Writing the answer",
    "Review": "Checking the answer against the sources",
    "Finish": "Putting the reply together",
    "AskForDocs": "Asking for documents",
    "Clarify": "Asking you to clarify",
}
ROUTE_WORDS = {"retrieve": "search your documents", "direct": "answer directly (no search needed)",
               "need_docs": "ask you for documents (nothing to search yet)",
               "clarify": "ask you what you mean"}
VERDICT_WORDS = {"approve": "every claim is supported by the cited passages",
                 "retry": "some claims are not supported: searching again",
                 "escalate": "still not fully supported: the reply says what is uncertain"}
#: the run's check line when the documents do not answer (``supported`` false): the
#: reply declines, so "every claim is supported" would read as an answer
DECLINED_WORDS = "your documents do not answer this question: the reply says so"
DETAILS_NAME = "Details"


def step_name(node: str) -> str:
    """The plain name of a node's step (flows: "Working", unknown nodes: their name)."""
    if node in STEP_NAMES:
        return STEP_NAMES[node]
    return "Working" if node.endswith("Flow") else node


def _short(text: Any, limit: int = 200) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= limit else value[:limit].rstrip() + "…"


def _quote(text: Any, limit: int = 600) -> str:
    body = str(text or "").strip()
    if len(body) > limit:
        body = body[:limit].rstrip() + "…"
    return "\n".join("> " + line if line else ">" for line in body.splitlines())


def passage_line(chunk: Any) -> str:
    """``"heliotrope-report.pdf, page 2 — “The reactor must be…”"``."""
    if not isinstance(chunk, dict):
        return _short(chunk, 120)
    where = str(chunk.get("source") or "a document")
    if chunk.get("page"):
        where += f", page {chunk['page']}"
    if chunk.get("heading"):
        where += f" ({_short(chunk['heading'], 60)})"
    first = next((ln for ln in str(chunk.get("text") or "").splitlines() if ln.strip()), "")
    return f"{where} — “{_short(first, 90)}”" if first else where


def retrieve_summary(output: dict) -> str:
    """``"5 passages from 2 files"`` for a Retrieve output."""
    chunks = [c for c in output.get("chunks") or [] if isinstance(c, dict)]
    files = {c.get("source") for c in chunks}
    if not chunks:
        return "nothing found"
    return (f"{len(chunks)} passage{'s' if len(chunks) != 1 else ''} from {len(files)} "
            f"file{'s' if len(files) != 1 else ''}")


def describe_input(node: str, data: dict | None) -> str:
    """A node's input as readable markdown (empty when there is nothing to say)."""
    data = data or {}
    lines = []
    if data.get("question"):
        lines.append(f"**Question:** {_short(data['question'], 400)}")
    if data.get("refined_query"):
        lines.append(f"**Searching again for:** {_short(data['refined_query'], 300)}")
    if data.get("query") and node != "Retrieve":
        lines.append(f"**Search:** {_short(data['query'], 300)}")
    if data.get("feedback"):
        lines.append(f"**What to fix:** {_short(data['feedback'], 300)}")
    if data.get("documents"):
        names = ", ".join(str(d) for d in list(data["documents"])[:10])
        lines.append(f"**Documents in scope:** {names}")
    if data.get("draft"):
        lines.append("**Draft answer:**\n" + _quote(data["draft"]))
    if data.get("round"):
        lines.append(f"_Check round {data['round']}_")
    return "\n\n".join(lines)


def describe_output(node: str, action: str | None, output: dict | None) -> str:
    """A node's output as readable markdown: what it decided or found, in words."""
    output = output or {}
    if node == "Supervisor":
        route = str(output.get("route") or action or "")
        text = f"**Decision:** {ROUTE_WORDS.get(route, route)}"
        if output.get("route_reason"):
            text += f"\n\n_Why:_ {_short(output['route_reason'], 300)}"
        if output.get("chunk_count") is not None:
            text += f"\n\n{output['chunk_count']} passages can be searched."
        return text
    if node == "Retrieve":
        chunks = [c for c in output.get("chunks") or [] if isinstance(c, dict)]
        lines = [f"**Searched for:** {_short(output.get('query'), 300)}"]
        lines += [f"{i}. {passage_line(c)}" for i, c in enumerate(chunks, start=1)]
        if not chunks:
            lines.append("No passage matched.")
        return "\n".join([lines[0], "", *lines[1:]])
    if node == "Review":
        verdict = str(output.get("verdict") or action or "")
        text = f"**Verdict:** {VERDICT_WORDS.get(verdict, verdict)}"
        raw = output.get("review")
        review: dict = raw if isinstance(raw, dict) else {}
        if review.get("unsupported"):
            text += "\n\nNot supported: " + ", ".join(f"[{n}]" for n in review["unsupported"])
        if review.get("feedback"):
            text += f"\n\n_Note:_ {_short(review['feedback'], 300)}"
        return text
    if output.get("draft") or output.get("answer"):
        return _quote(output.get("answer") or output.get("draft"))
    return ""


def details_json(data: dict) -> str:
    """The raw values with ids, for the collapsed "Details" step."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return f"```json\n{text}\n```"
