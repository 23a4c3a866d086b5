"""``python -m agents ask "question" [--scope OWNER[/THREAD]]``: the UI's flow, headless.

Streams the answer to stdout as it arrives, then prints the node trace (node, action,
duration) and the cited sources.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any, TextIO

from agents.memory import RunResult
from agents.observer import FlowEvent

DEFAULT_OWNER = "cli"  # the same owner `python -m rag` indexes for


def parse_scope(text: str | None) -> Any:
    """``"owner"`` or ``"owner/thread"`` as a ``rag.models.Scope`` (owner "cli" when None)."""
    from rag.models import Scope

    owner, _, thread = (text or DEFAULT_OWNER).partition("/")
    return Scope(owner=owner or DEFAULT_OWNER, thread_id=thread or None)


class StdoutObserver:
    """Writes answer tokens as they arrive; a reset starts the text again on a new line."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out

    async def __call__(self, event: FlowEvent) -> None:
        if event.kind == "token":
            self.out.write(event.text)
            self.out.flush()
        elif event.kind == "stream_reset":
            self.out.write(f"\n[discarded: {event.text}]\n")


def format_report(result: RunResult) -> str:
    """The trace table and the sources, as printed after the answer."""
    lines = ["", "", f"route: {result.route}   verdict: {result.verdict or '-'}", "",
             f"{'node':<12} {'action':<10} {'ms':>9}  error"]
    for row in result.trace:
        lines.append(f"{row['node']:<12} {row['action']!s:<10} {row['duration_ms']:>9.1f}  "
                     f"{row['error'] or ''}")
    lines += ["", "sources:" if result.citations else "sources: none"]
    for c in result.citations:
        where = c.source + (f", page {c.page}" if c.page else "") + (
            f", {c.heading}" if c.heading else "")
        lines.append(f"  [{c.n}] {where}  (chunk {c.chunk_id})")
    return "\n".join(lines)


async def run_ask(args: argparse.Namespace) -> int:
    """Open the store and the router from settings, run one question, print it all."""
    from agents.llm.router import LLMRouter
    from agents.runner import ask
    from rag.service import RagService

    rag = await RagService.open()
    router = LLMRouter.from_settings()
    try:
        result = await ask(args.question, scope=parse_scope(args.scope), rag=rag, router=router,
                           observer=None if args.json else StdoutObserver(), k=args.k,
                           answer_model=args.model, max_rounds=args.max_rounds)
    finally:
        await router.aclose()
        await rag.close()
    if args.json:
        print(json.dumps(_as_json(result), indent=2, default=str))
    else:
        print(format_report(result))
    return 0


def _as_json(result: RunResult) -> dict[str, Any]:
    data = asdict(result)
    data["memory"] = result.memory.to_dict()
    return data


def add_ask_parser(commands: Any) -> None:
    """Register the ``ask`` subcommand."""
    parser = commands.add_parser("ask", help="answer one question from your indexed documents")
    parser.add_argument("question")
    parser.add_argument("--scope", default=None,
                        help=f"OWNER or OWNER/THREAD whose documents to search "
                             f"(default {DEFAULT_OWNER!r}, as `python -m rag`)")
    parser.add_argument("--k", type=int, default=5, help="chunks to retrieve (default 5)")
    parser.add_argument("--model", default=None, help='answer model first, e.g. "openai:gpt-4.1-mini"')
    parser.add_argument("--max-rounds", type=int, default=2, help="review rounds (default 2)")
    parser.add_argument("--json", action="store_true", help="print the RunResult as JSON")
