"""Request and response bodies of the headless API (pydantic: validated and in OpenAPI)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chat.api.settings import get_api_settings


class ErrorDetail(BaseModel):
    """What went wrong."""

    code: str = Field(description="machine-readable code, e.g. `not_found`, "
                                  "`validation_error`, `rate_limited`, `internal_error`")
    message: str = Field(description="what went wrong and what to do, in plain words")
    field: str | None = Field(None, description="the request field at fault (422)")
    error_id: str | None = Field(None, description="500: id of the logged error, to quote")


class ErrorResponse(BaseModel):
    """Every error response of the API."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "missing, invalid or revoked credentials"},
    404: {"model": ErrorResponse, "description": "no such thing for this user"},
    413: {"model": ErrorResponse, "description": "request body over the limit"},
    422: {"model": ErrorResponse, "description": "invalid request, naming the field"},
    429: {"model": ErrorResponse, "description": "rate limited; see `Retry-After`"},
    500: {"model": ErrorResponse, "description": "internal error with a logged error id"},
}


# ---- runs ---------------------------------------------------------------------------
class RunRequest(BaseModel):
    """A question for the supervisor-agent flow."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(description="the question; 1 to DOCCHAT_API_MAX_QUESTION_CHARS "
                                      "characters (16000 by default)")
    thread_id: str | None = Field(
        None, description="append to this thread (its memory and documents); a new thread "
                          "when absent")
    scope: Literal["thread", "all"] | None = Field(
        None, description="`thread`: the thread's documents; `all`: every document of the "
                          "user. Default: the thread's own setting (the chat's `Search in`, "
                          "`thread` unless changed), `all` for a new thread")
    model: str | None = Field(
        None, description="`provider:model` to write the answer (see GET /v1/models); "
                          "default: the configured chain")
    k: int | None = Field(None, ge=1, le=20, description="chunks retrieved per search (1-20)")

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the question is empty")
        limit = get_api_settings().max_question_chars
        if len(value) > limit:
            raise ValueError(f"the question has {len(value)} characters; the limit is {limit}")
        return value


class CitationOut(BaseModel):
    """A source the answer cites as `[n]`."""

    n: int = Field(description="the number used as `[n]` in the answer")
    document: str = Field(description="document id (SHA-256 of the file's bytes)")
    file: str = Field(description="file name")
    page: int | None = Field(None, description="1-based PDF page")
    heading: str | None = Field(None, description="section heading path, `A > B`")
    text: str = Field(description="the cited chunk's text")


class TraceEntry(BaseModel):
    """One node execution of the run, in order."""

    node: str
    action: str | None = Field(None, description="the action the node returned")
    duration_ms: float
    error: str | None = None


class Usage(BaseModel):
    """Model tokens and cost of the run (zero for the extractive fallback)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = Field(None, description="estimated; None when no price is known")
    models: list[str] = Field(default_factory=list, description="`provider:model` used")


class RunResponse(BaseModel):
    """The result of a run (also the data of the SSE `run_completed` event)."""

    run_id: str
    thread_id: str
    answer: str | None = Field(None, description="the answer with `[n]` markers; None when "
                                                 "documents are pending")
    supported: bool | None = Field(
        None, description="true when the answer rests on cited passages, false when the "
                          "documents do not contain it (the answer then says so and offers related "
                          "passages), or the reply asks for documents or asks back")
    citations: list[CitationOut] = Field(default_factory=list)
    route: str = Field(description="`retrieve`, `direct`, `need_docs`, `clarify` or `error`")
    verdict: str | None = Field(None, description="review verdict `approve` / `escalate` / "
                                                  "`decline`")
    trace: list[TraceEntry] = Field(default_factory=list)
    usage: Usage = Field(default_factory=lambda: Usage.model_validate({}))
    pending_docs: list[str] | None = Field(
        None, description="when nothing in scope can answer: the kinds of document that "
                          "would help (then `answer` is None and `message` says so)")
    message: str | None = Field(None, description="with pending_docs: the reply shown in "
                                                 "the chat")


class RunStatus(BaseModel):
    """A run started by this user (kept in memory for the last runs of the process)."""

    run_id: str
    thread_id: str
    status: Literal["running", "completed", "failed", "cancelled"]
    result: RunResponse | None = None
    error: ErrorDetail | None = None


class RunEvent(BaseModel):
    """One Server-Sent Event / WebSocket message of a run (`event` is the SSE event name).

    Order: `run_started`, then per node `node_started`, (`token` | `stream_reset` |
    `usage` | `progress`)*, `node_completed`; finally `run_completed` (data: RunResponse)
    or `error` (data: ErrorDetail).
    """

    id: int = Field(description="1, 2, 3... within the run (SSE `id:`)")
    event: Literal["run_started", "node_started", "node_completed", "token", "stream_reset",
                   "usage", "progress", "run_completed", "error"]
    data: dict[str, Any]


# ---- documents ----------------------------------------------------------------------
DocumentState = Literal["pending", "indexing", "indexed", "failed"]


class DocumentProgress(BaseModel):
    """Where indexing is: `stage` (load, chunk, embed, store) and units done of total."""

    stage: str
    done: int
    total: int
    message: str = ""


class DocumentOut(BaseModel):
    """A document of the user: being indexed, indexed, or failed."""

    id: str = Field(description="document id: SHA-256 of the file's bytes")
    filename: str
    state: DocumentState
    error: str | None = Field(None, description="`failed`: why, and what to do")
    progress: DocumentProgress | None = None
    chunks: int = 0
    thread_ids: list[str] = Field(default_factory=list,
                                  description="threads it is indexed in (empty: none)")
    indexed_at: str | None = Field(None, description="ISO 8601 UTC")
    duplicate: bool = Field(False, description="the same content was already indexed")


class UploadResponse(BaseModel):
    """202: one job per uploaded file, in upload order; poll GET /api/v1/documents/{id}."""

    documents: list[DocumentOut]


class DocumentPage(BaseModel):
    """One page of documents, newest first."""

    data: list[DocumentOut]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page")


class DeletedResponse(BaseModel):
    """What a DELETE removed."""

    id: str
    deleted: bool = True
    chunks: int | None = Field(None, description="chunks removed from the index")


# ---- threads ------------------------------------------------------------------------
class ThreadSummary(BaseModel):
    """A conversation of the user."""

    id: str
    name: str | None = None
    created_at: str | None = Field(None, description="last activity, ISO 8601 UTC")


class ThreadPage(BaseModel):
    """One page of threads, most recently active first."""

    data: list[ThreadSummary]
    next_cursor: str | None = None


class StepOut(BaseModel):
    """A step of a message: a flow node (Supervisor, Retrieve...) or the run around them.

    ``name`` is what the chat shows ("Deciding how to answer"); ``node`` the flow node's
    class name ("Supervisor"), None for the run and its "Details" steps."""

    id: str
    name: str
    type: str
    node: str | None = None
    parent_id: str | None = None
    input: Any = None
    output: Any = None
    start: str | None = None
    end: str | None = None
    is_error: bool = False


class MessageOut(BaseModel):
    """A user question or an assistant answer, with its citations and flow steps."""

    id: str
    role: Literal["user", "assistant"]
    content: str
    created_at: str | None = None
    citations: list[dict[str, str]] = Field(
        default_factory=list, description="`[n]` side panels: {name, content}")
    steps: list[StepOut] = Field(default_factory=list)


class ThreadDetail(ThreadSummary):
    """A thread with its messages in order."""

    messages: list[MessageOut]


# ---- OpenAI-compatible ------------------------------------------------------------------
class ChatMessageIn(BaseModel):
    """An OpenAI chat message (text content, or a list of text parts)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The text of the message (text parts joined)."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content
                           if p.get("type") in ("text", "input_text"))
        return self.content or ""


class StreamOptions(BaseModel):
    """OpenAI `stream_options`."""

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI `POST /v1/chat/completions` (fields DocChat does not use are accepted)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field("docchat", description="`docchat` or a `provider:model` of GET /v1/models")
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None


class ModelCard(BaseModel):
    """OpenAI model object."""

    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "docchat"


class ModelList(BaseModel):
    """OpenAI `GET /v1/models`."""

    object: Literal["list"] = "list"
    data: list[ModelCard]
