"""Honest answers on the real stack: real Chroma, the shipped MiniLM, the offline router.

Each decision of issue 11 on real chunks (sentences, near-duplicates, support, citation
order, follow-up rewrite, meta and conversation questions), then the flow end to end.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from agents.citations import cited_numbers, renumber
from agents.evidence import (
    DISTINCT_K,
    DOC_K,
    DOC_SCORES_K,
    MIN_DISTINCTNESS,
    MIN_SIMILARITY,
    distinctness,
    gather_evidence,
)
from agents.extractive_answer import DECLINE, FALLBACK_NOTICE, NOTICE, RELATED
from agents.followup import leans_on_context, standalone_query
from agents.llm.router import LLMRouter
from agents.llm.settings import LLMSettings
from agents.memory import Memory
from agents.meta import is_about_conversation, is_meta
from agents.runner import ask
from agents.sentences import split_sentences

OWNER = "honest"
DEBIAN = (
    "# Debian packages\n\n"
    "## Package types\n\n"
    "There are two types of Debian packages:\n\n"
    "- binary packages, which contain executables, configuration files and "
    "documentation, and use the .deb file extension;\n"
    "- source packages, which contain the upstream source and a .dsc description file.\n\n"
    "Binary packages are installed with the Debian utility\ndpkg. The dpkg tool unpacks "
    "the archive and runs the maintainer scripts of the package.\n\n"
    "## MIME types\n\n"
    "The shared MIME database maps glob patterns such as *.txt and *.html to MIME types. "
    "Each glob extension is listed with its weight in the globs2 file.\n")
DOCS = {
    "debian-packages.md": DEBIAN,
    "debian-packages-2024.md": DEBIAN.replace("the archive", "the .deb archive"),
    "ferry-timetable.txt": (
        "Ferry timetable\n\n"
        "The ferry leaves Harbour Point at 07:15 and 09:45 on weekdays. On Sundays the "
        "first ferry leaves at 10:30 and the last one returns at 18:00. A single ticket "
        "costs four euros and bicycles travel free of charge.\n"),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A data dir holding DOCS for OWNER (indexed once, in this order)."""
    from rag.config import RagSettings
    from rag.models import Scope, TextDocument
    from rag.service import RagService

    data_dir = tmp_path_factory.mktemp("honest")

    async def index():
        service = await RagService.open(RagSettings(data_dir=data_dir))
        try:
            for name, text in DOCS.items():  # one at a time: a fixed insertion order
                [report] = await service.index_texts([TextDocument(name=name, text=text)],
                                                     Scope(owner=OWNER))
                assert report.status == "indexed", report
        finally:
            await service.close()

    asyncio.run(index())
    return data_dir


@pytest.fixture
async def service(store):
    from rag.config import RagSettings
    from rag.service import RagService

    opened = await RagService.open(RagSettings(data_dir=store))
    yield opened
    await opened.close()


@pytest.fixture
def owner_scope():
    from rag.models import Scope

    return Scope(owner=OWNER)


@pytest.fixture
def unreachable(clean_llm_env, tmp_path):
    """A router whose only model is OpenAI's SDK pointed at a closed port (a real
    connection refusal, no retries): every call falls through to the extractive link."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = LLMSettings(local_model_path=tmp_path / "none.gguf", openai_api_key="sk-test",
                           openai_base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    router = LLMRouter.from_settings(settings)
    assert router.chain("answer")[0].startswith("openai:")
    return router


# -- decisions on real chunks ------------------------------------------------------------

async def test_sentences_of_a_real_chunk_are_whole_and_keep_a_list_with_its_lead_in(
        service, owner_scope):
    [chunk, *_] = await service.search("two types of Debian packages", owner_scope, k=3)
    units = split_sentences(chunk.text)
    lead_in = next(u for u in units if u.startswith("There are two types of Debian packages:"))
    assert "binary packages" in lead_in and "source packages" in lead_in  # items kept
    assert "Binary packages are installed with the Debian utility dpkg." in units  # rejoined
    assert not any(u.strip() in ("Debian packages", "Package types") for u in units)
    assert not any(u.rstrip().endswith(":") for u in units)  # no lead-in alone


def test_a_sentence_cut_by_the_chunk_start_or_end_is_not_a_unit():
    units = split_sentences("leans on the previous chunk. A whole sentence stands here.\n\n"
                            "And this one is cut off by the chunk")
    assert units == ["A whole sentence stands here."]


async def test_support_decision_on_real_chunks(service, owner_scope):
    question = "Which utility installs binary Debian packages?"
    chunks = await service.search(question, owner_scope, k=5)
    evidence = await gather_evidence(question, chunks, service)
    assert evidence.supported, evidence.as_dict()
    assert evidence.best_similarity >= MIN_SIMILARITY
    assert "dpkg" in " ".join(s.text for s in evidence.selected)

    question = "What is the airspeed of an unladen swallow?"
    chunks = await service.search(question, owner_scope, k=5)
    assert chunks  # hybrid search always returns the nearest chunks...
    evidence = await gather_evidence(question, chunks, service)
    assert not evidence.supported, evidence.as_dict()  # ...which do not answer it


async def test_support_needs_a_distinct_best_chunk_on_real_chunks(service, owner_scope):
    question = "Which utility installs binary Debian packages?"
    chunks = await service.search(question, owner_scope, k=5)
    dense = [h.score for h in await service.search(question, owner_scope, k=DISTINCT_K,
                                                   mode="dense")]
    evidence = await gather_evidence(question, chunks, service, dense)
    assert evidence.distinctness is not None and evidence.supported, evidence.as_dict()
    # the same sentences when every chunk of the scope matched about as well: declined
    flat = [dense[0]] * DISTINCT_K
    evidence = await gather_evidence(question, chunks, service, flat)
    assert evidence.distinctness == 0.0 and not evidence.supported, evidence.as_dict()


def test_distinctness_is_best_minus_kth_and_missing_chunks_count_as_unrelated():
    assert distinctness([0.80, 0.79, 0.78, 0.77, 0.70]) == pytest.approx(0.10)
    assert distinctness([0.80, 0.79, 0.78, 0.77, 0.75]) < MIN_DISTINCTNESS
    assert distinctness([0.6]) == pytest.approx(0.6)   # a one-chunk scope
    assert distinctness([]) == 0.0


async def test_document_scores_are_whole_document_cosines_each_document_once(service):
    from rag.models import Scope, TextDocument

    owner = Scope(owner="honest-docs")
    for name, thread in (("ferry-timetable.txt", "a"), ("ferry-timetable.txt", "b"),
                         ("debian-packages.md", None)):
        [report] = await service.index_texts([TextDocument(name=name, text=DOCS[name])],
                                             Scope(owner="honest-docs", thread_id=thread))
        assert report.status == "indexed", report
    scores = await service.document_scores(DOCS["ferry-timetable.txt"], owner, DOC_SCORES_K)
    assert len(scores) == 2 == len({d for d, _ in scores})  # the two ferry copies are one
    [(ferry, cosine), (_, other)] = scores
    assert cosine > 0.9 > other and cosine > other  # its own text: nearly the same vector
    assert await service.document_scores("", owner) == []
    in_a = await service.document_scores("ferry", Scope(owner="honest-docs", thread_id="a"))
    assert [d for d, _ in in_a] == [ferry]  # a thread's scope sees its own documents


async def test_evidence_reports_the_document_cosines_without_deciding_on_them(
        service, owner_scope, offline_router):
    question = "Which utility installs binary Debian packages?"
    scores = await service.document_scores(question, owner_scope, DOC_SCORES_K)
    assert len(scores) == len(DOCS) < DOC_K  # missing ranks count as unrelated (0.0)
    result = await ask(question, scope=owner_scope, rag=service, router=offline_router)
    numbers = result.evidence
    assert numbers["doc_best"] == round(scores[0][1], 4)
    assert numbers["doc_distinctness"] == round(scores[0][1], 4)
    assert numbers["top_docs"] == [d for d, _ in scores]
    assert numbers["top_docs"][-1] != result.citations[0].doc_id  # the ferry is last
    assert result.citations[0].doc_id == numbers["top_docs"][0]  # [1]: the nearest one
    # the same chunks and dense cosines with every document as near: the decision holds
    chunks = await service.search(question, owner_scope, k=5)
    dense = [h.score for h in await service.search(question, owner_scope, k=DISTINCT_K,
                                                   mode="dense")]
    flat = [(d, scores[0][1]) for d, _ in scores] * 2
    evidence = await gather_evidence(question, chunks, service, dense, flat)
    assert evidence.doc_distinctness == 0.0 and evidence.supported is result.supported


async def test_the_nearest_documents_best_sentence_is_quoted_first(service, owner_scope):
    question = "Which utility installs binary Debian packages?"
    chunks = await service.search(question, owner_scope, k=5)
    ferry = next(c.doc_id for c in chunks if c.source == "ferry-timetable.txt")
    plain = await gather_evidence(question, chunks, service)
    assert "dpkg" in plain.selected[0].text and ferry not in plain.selected_docs
    # were the ferry timetable the nearest whole document, its best sentence leads...
    evidence = await gather_evidence(question, chunks, service, None, [(ferry, 0.9)])
    best_ferry = next(x for x in plain.sentences if chunks[x.chunk].doc_id == ferry)
    assert evidence.selected_docs[0] == ferry and evidence.selected[0] == best_ferry
    assert plain.selected[0] in evidence.selected  # ...and the best sentence stays quoted
    assert len(evidence.selected) <= len(plain.selected) + 1
    assert evidence.best_similarity == plain.best_similarity  # the decision is the same
    # with the real document cosines the nearest document is a Debian one: it leads
    real = await service.document_scores(question, owner_scope, DOC_SCORES_K)
    evidence = await gather_evidence(question, chunks, service, None, real)
    assert evidence.selected_docs[0] == real[0][0] != ferry


async def test_near_duplicate_sentences_from_two_files_collapse_to_the_first(
        service, owner_scope):
    question = "Which utility installs binary Debian packages?"
    chunks = await service.search(question, owner_scope, k=5)
    assert len({c.source for c in chunks if c.source.startswith("debian")}) == 2
    evidence = await gather_evidence(question, chunks, service)
    texts = [s.text for s in evidence.sentences]
    assert sum("installed with the Debian utility" in t for t in texts) == 1


def test_citations_are_renumbered_in_reading_order():
    text, order = renumber("Seals [4]. Pressure [2][4]. Kit [5].", 5)
    assert (text, order) == ("Seals [1]. Pressure [2][1]. Kit [3].", [4, 2, 5])
    assert renumber("Bad [9]. Good [2].", 3) == ("Bad [9]. Good [1].", [2])


def test_follow_up_rewrite_carries_the_subject_only_when_it_leans_on_it():
    memory = Memory().with_exchange("What are the two types of Debian packages?", "...")
    rewritten = standalone_query("What file extension does the first type use?", memory)
    assert "Debian" in rewritten and "packages" in rewritten
    assert leans_on_context("And in C++?") and leans_on_context("What does it cost?")
    alone = "How often is the compost heap behind the shed turned?"
    assert not leans_on_context(alone) and standalone_query(alone, memory) == alone
    assert standalone_query("What does it cost?", Memory()) == "What does it cost?"


def test_meta_and_conversation_questions_are_recognised():
    for q in ("What can you do?", "help", "Which documents do you have?",
              "What can you do and how do I add documents?"):
        assert is_meta(q), q
    for q in ("What was the last question I asked?", "what did I just ask?",
              "Summarize our conversation"):
        assert is_about_conversation(q), q
    assert not is_meta("What can the pump do at 41 bar?")
    assert not is_about_conversation("What was the last ferry of the day?")


# -- the flow on the real store ----------------------------------------------------------

async def test_supported_question_quotes_whole_sentences_cited_in_order(
        service, owner_scope, offline_router):
    result = await ask("Which utility installs binary Debian packages?", scope=owner_scope,
                       rag=service, router=offline_router)
    assert result.supported is True and result.route == "retrieve"
    assert "dpkg" in result.answer and DECLINE not in result.answer
    numbers = cited_numbers(result.answer)
    assert numbers == list(range(1, len(numbers) + 1))
    assert [c.n for c in result.citations] == numbers
    assert result.answer.count("installed with the Debian utility dpkg.") == 1
    assert result.evidence["supported"] is True


async def test_distinctness_reads_cosines_through_the_thread_preferring_retriever(
        service, offline_router):
    from chat.scope import ThreadPreferringRetriever
    from rag.models import Scope, TextDocument

    owner, thread = Scope(owner="honest-thread"), Scope(owner="honest-thread", thread_id="t1")
    for name, scope in (("debian-packages.md", thread), ("ferry-timetable.txt", owner)):
        [report] = await service.index_texts([TextDocument(name=name, text=DOCS[name])], scope)
        assert report.status == "indexed", report
    question = "Which utility installs binary Debian packages?"
    wrapped = ThreadPreferringRetriever(service, "t1")
    fused = await wrapped.search(question, owner, k=DISTINCT_K, mode="dense")
    assert max(h.score for h in fused) < 0.1   # the wrapper's scores are fused ranks...
    result = await ask(question, scope=owner, rag=wrapped, router=offline_router)
    dense = [h.score for h in await service.search(question, owner, k=DISTINCT_K,
                                                   mode="dense")]
    assert result.evidence["distinctness"] == round(distinctness(dense), 4)  # ...not read
    assert result.evidence["doc_best"] is not None  # document cosines: the same
    assert result.supported is True


async def test_unsupported_question_declines_with_related_passages(
        service, owner_scope, offline_router):
    result = await ask("What is the airspeed of an unladen swallow?", scope=owner_scope,
                       rag=service, router=offline_router)
    assert result.supported is False
    assert result.answer.startswith(f"{NOTICE}\n\n{DECLINE}\n\n{RELATED}\n")
    assert result.citations
    assert [c.n for c in result.citations] == list(range(1, len(result.citations) + 1))


async def test_when_every_model_fails_the_support_decision_still_declines(
        service, owner_scope, unreachable, new_recorder):
    """Models configured but unreachable: the answer is the evidence-based one (the
    decline here), its notice says the models failed, and none of the extractive
    provider's ungated quotes reached the stream."""
    recorder = new_recorder()
    result = await ask("What is the airspeed of an unladen swallow?", scope=owner_scope,
                       rag=service, router=unreachable, observer=recorder)
    assert result.supported is False
    assert result.answer.startswith(f"{FALLBACK_NOTICE}\n\n{DECLINE}\n\n{RELATED}\n")
    streamed = "".join(event.text for event in recorder.of("token"))
    assert NOTICE not in streamed


async def test_when_every_model_fails_a_supported_question_is_still_answered(
        service, owner_scope, unreachable):
    result = await ask("Which utility installs binary Debian packages?", scope=owner_scope,
                       rag=service, router=unreachable)
    assert result.supported is True
    assert result.answer.startswith(FALLBACK_NOTICE) and "dpkg" in result.answer


async def test_follow_up_retrieves_the_thread_subject(service, owner_scope, offline_router):
    first = await ask("What are the two types of Debian packages?", scope=owner_scope,
                      rag=service, router=offline_router)
    assert first.supported and "binary packages" in first.answer
    follow = await ask("What file extension does the first type use?", scope=owner_scope,
                       rag=service, router=offline_router, memory=first.memory)
    assert follow.supported, follow.answer
    assert ".deb" in follow.answer
    assert not any("globs2" in c.text and ".deb" not in c.text for c in follow.citations)


async def test_meta_question_lists_the_documents_in_scope(service, owner_scope, offline_router):
    result = await ask("What can you do?", scope=owner_scope, rag=service, router=offline_router)
    assert result.route == "direct" and result.supported is True
    for name in DOCS:
        assert name in result.answer
    assert "Upload a document about" not in result.answer


async def test_conversation_question_is_answered_from_memory(service, owner_scope, offline_router):
    first = await ask("When does the first ferry leave on Sundays?", scope=owner_scope,
                      rag=service, router=offline_router)
    assert "10:30" in first.answer
    result = await ask("What was the last question I asked?", scope=owner_scope, rag=service,
                       router=offline_router, memory=first.memory)
    assert result.route == "direct" and result.citations == []
    assert "When does the first ferry leave on Sundays?" in result.answer


def test_cli_ask_json_has_the_support_decision(store, clean_llm_env):
    env = dict(os.environ)  # without the machine's LLM variables (clean_llm_env)
    env["DOCCHAT_DATA_DIR"] = str(store)
    done = subprocess.run(
        [sys.executable, "-m", "agents", "ask", "--json", "--scope", OWNER,
         "What is the airspeed of an unladen swallow?"],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["supported"] is False and DECLINE in data["answer"]


# -- with a model (scripted at the router's interface) -------------------------------------

async def test_model_citations_are_renumbered_in_reading_order(rag, scope, flow, recorder):
    from bench.fake_llm import ScriptedLLM

    llm = ScriptedLLM({"route": [{"route": "retrieve"}],
                       "answer": ["Seal every 900 hours [2]. Rated 41 bar [1]."],
                       "review": [{"verdict": "approve"}]})
    result = await ask("Zorblat-9 seal interval and pressure?", scope=scope, rag=rag,
                       router=llm, observer=recorder, flow=flow)
    assert result.answer == "Seal every 900 hours [1]. Rated 41 bar [2]."
    assert [c.n for c in result.citations] == [1, 2] and result.supported is True
    assert recorder.text() == result.answer  # the UI shows the renumbered text


async def test_review_decline_replaces_the_draft_with_the_decline(rag, scope, flow, recorder):
    from bench.fake_llm import ScriptedLLM

    llm = ScriptedLLM({"route": [{"route": "retrieve"}],
                       "answer": ["The pump costs 300 euros [1]."],
                       "review": [{"verdict": "decline"}]})
    result = await ask("What does a Zorblat-9 support contract cost?", scope=scope, rag=rag,
                       router=llm, observer=recorder, flow=flow)
    assert result.supported is False and result.verdict == "decline"
    assert result.answer.startswith(DECLINE) and "300 euros" not in result.answer
    assert RELATED in result.answer and [c.n for c in result.citations][:1] == [1]
    assert recorder.text() == result.answer


async def test_model_that_says_the_sources_lack_the_answer_is_unsupported(rag, scope, flow):
    from bench.fake_llm import ScriptedLLM

    llm = ScriptedLLM({"route": [{"route": "retrieve"}],
                       "answer": ["The sources do not contain the answer to this question."],
                       "review": [{"verdict": "approve"}]})
    result = await ask("Who painted the pump?", scope=scope, rag=rag, router=llm, flow=flow)
    assert result.supported is False
