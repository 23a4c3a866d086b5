"""The state of one run of the answering flow: :class:`RunState`.

pocketflow 0.0.3 hands its ``shared`` argument to every node untouched, so the flow's
shared store is this dataclass: each node's ``prep`` reads attributes of it and its
``post`` writes them (``exec`` never sees it). :func:`agents.runner.ask` builds one per
run, so concurrent runs on the shared flow objects never see each other's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from agents.memory import Citation, Memory
from agents.protocols import Retriever, Router
from rag.models import Scope, SearchResult


class TraceEntry(TypedDict):
    """One node execution in :attr:`RunState.trace`."""

    node: str
    action: str | None
    duration_ms: float
    error: str | None


@dataclass
class RunState:
    """Every value the answering flow reads and writes, with the node that writes it.

    The nodes' ``step_inputs`` / ``step_outputs`` name these attributes; the observer
    shows the ones that are set (not None) as a step's input and output.
    """

    # -- inputs, set by agents.runner.ask --------------------------------------------
    question: str                       # the user's message
    scope: Scope                        # whose documents (and which thread's) to search
    retriever: Retriever                # the search service (rag.service.RagService)
    router: Router                      # the language models (agents.llm.LLMRouter)
    memory: Memory                      # the thread's memory (a copy); Finish replaces it
    k: int = 5                          # chunks retrieved per search
    answer_model: str | None = None     # "provider:model" tried first by Answer
    max_rounds: int = 2                 # answer/review rounds before Review escalates
    # -- guards, kept by agents.observer.Observed ------------------------------------
    max_steps: int = 10                 # node executions allowed (runner: step_budget)
    steps: int = 0                      # node executions so far
    trace: list[TraceEntry] = field(default_factory=list)  # one entry per node run
    # -- Supervisor ------------------------------------------------------------------
    route: str | None = None            # "retrieve" | "direct" | "need_docs" | "clarify"
    route_reason: str | None = None     # why (the decision's reason)
    chunk_count: int | None = None      # chunks in scope (None: the store failed)
    documents: list[str] = field(default_factory=list)  # file names in scope
    # -- Retrieve --------------------------------------------------------------------
    query: str | None = None            # the standalone search query
    chunks: list[SearchResult] = field(default_factory=list)  # best first; [n] = chunks[n-1]
    # -- Review (on "retry"; Retrieve clears refined_query) --------------------------
    refined_query: str | None = None    # the next search query
    feedback: str | None = None         # what the next draft must fix
    # -- Answer (AskForDocs and Clarify write draft too) -----------------------------
    draft: str = ""                     # the reply text so far
    draft_failed: bool = False          # Answer fell back to its failure message
    round: int = 0                      # answer/review round (1 for the first draft)
    supported: bool | None = None       # the draft rests on cited passages (False: it
    #                                     declines); None: not decided (an LLM draft)
    evidence: dict[str, object] | None = None  # the extractive support decision's numbers
    # -- Review ----------------------------------------------------------------------
    verdict: str | None = None          # "approve" | "retry" | "escalate" | "decline"
    review: dict[str, object] | None = None   # the ReviewDecision as a dict
    # -- AskForDocs ------------------------------------------------------------------
    docs_request: dict[str, object] | None = None  # the DocsRequest as a dict
    # -- Finish (the runner sets answer when the step budget ran out) ----------------
    answer: str | None = None           # the final answer text
    citations: list[Citation] = field(default_factory=list)  # the sources answer cites
    # (Finish also writes supported: the run's final support decision)

    @property
    def context_chunks(self) -> list[SearchResult]:
        """The chunks the answer is grounded in: ``chunks`` on the retrieve route, else []."""
        return self.chunks if self.route == "retrieve" else []
