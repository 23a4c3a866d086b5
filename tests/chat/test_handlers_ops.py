"""The small pieces the handlers lean on: loop-lag probe, titles, settings, citations."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import httpx

from bench import loop_probe
from chat import citations, titles
from chat.session_state import ChatPrefs, thread_metadata


async def test_loop_probe_sees_a_blocked_loop_and_resets():
    stats = loop_probe.start()
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.15)  # noqa: ASYNC251 - block the loop as CPU work on it would
        await asyncio.sleep(0.05)
        blocked = loop_probe.summary()
        ended = loop_probe.reset()
        await asyncio.sleep(0.05)
        fresh = loop_probe.summary()
    finally:
        loop_probe._task.cancel()
        loop_probe._task = None
    assert blocked["max_ms"] >= 120 and blocked["count"] >= 3
    assert ended["max_ms"] == blocked["max_ms"]
    assert fresh["max_ms"] < 120
    assert len(stats.samples) == fresh["count"]


async def test_loop_probe_reset_is_not_counted_in_the_new_window(monkeypatch):
    """reset() reads every thread's clocks on the loop; in a process with many threads
    that took 125 ms once, and the probe's sleep across it was counted as the new
    window's worst lag."""
    real = loop_probe.thread_times

    def slow_thread_times():
        time.sleep(0.15)  # a slow /proc walk, on the loop as in reset()
        return real()

    loop_probe.start()
    try:
        await asyncio.sleep(0.05)
        monkeypatch.setattr(loop_probe, "thread_times", slow_thread_times)
        loop_probe.reset()
        await asyncio.sleep(0.05)
        fresh = loop_probe.summary()
    finally:
        loop_probe._task.cancel()
        loop_probe._task = None
    assert fresh["count"] >= 1 and fresh["max_ms"] < 120, fresh["max_ms"]


async def test_loop_probe_times_the_collectors_pauses():
    import gc

    loop_probe.start()
    try:
        loop_probe.reset()
        for _ in range(20_000):  # cycles only the collector frees
            a: list = []
            a.append(a)
        gc.collect()
        pauses = loop_probe.summary()["gc"]
    finally:
        loop_probe._task.cancel()
        loop_probe._task = None
    assert pauses["collections"] >= 1 and pauses["by_generation"][2] >= 1
    assert 0 < pauses["max_ms"] <= pauses["total_ms"]
    assert pauses["max_ms_by_generation"][2] > 0
    assert 0 < pauses["max_cpu_ms"] <= pauses["max_ms"] + 1  # one thread's CPU within wall
    assert pauses["tracked"] > 20_000  # this process's unfrozen objects
    longest = pauses["longest"]
    assert longest["wall_ms"] == pauses["max_ms"]
    if longest["generation"] == 2:  # a full one: the heap it walked is counted
        assert longest["heap"] > 20_000 and longest["collected"] >= 0
    else:
        assert longest["heap"] is None


def test_startup_heap_is_frozen_out_of_later_collections():
    """What start-up loaded is never walked again by a collection (chat.services)."""
    import gc

    from chat import services

    gc.unfreeze()
    try:
        frozen = services.freeze_startup_heap()
        assert frozen == gc.get_freeze_count() > 10_000  # this test process's modules
    finally:
        gc.unfreeze()


async def test_loop_probe_routes_sit_ahead_of_chainlit_catch_all(monkeypatch):
    from chainlit.server import app

    monkeypatch.setenv("DOCCHAT_LOOP_PROBE", "1")
    assert loop_probe.start_if_enabled() is True
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://test") as client:
            got = await client.get("/debug/loop-lag")
            reset = await client.post("/debug/loop-lag/reset")
    finally:
        loop_probe._task.cancel()
        loop_probe._task = None
    assert got.status_code == 200 and set(got.json()) >= {"max_ms", "p99_ms", "count"}
    assert reset.status_code == 200


async def test_titles_come_from_the_router_or_fall_back_to_first_words():
    class Router:
        """Records each call; make_title swallows any error, so assert on the record."""

        def __init__(self, result):
            self.result, self.calls = result, []

        async def complete(self, task, messages):
            self.calls.append((task, messages[-1].content))
            if isinstance(self.result, Exception):
                raise self.result
            return SimpleNamespace(text=self.result)

    question = "How often must the Heliotrope reactor be inspected by the engineers?"
    routers = [Router('"Reactor inspection schedule"\n'), Router(RuntimeError("down")),
               Router("   ")]
    assert await titles.make_title(question, routers[0]) == "Reactor inspection schedule"
    assert await titles.make_title(question, routers[1]) == (
        "How often must the Heliotrope reactor…")
    assert await titles.make_title(question, routers[2]) == (
        "How often must the Heliotrope reactor…")
    assert [r.calls for r in routers] == [[("title", question)]] * 3
    assert titles.files_title(["a.pdf", "b.md"]) == "Documents: a.pdf, b.md"
    assert len(titles.clean_title("x" * 300)) == titles.MAX_CHARS


def test_chat_prefs_read_settings_and_refuse_unknown_values():
    available = ["openai:gpt-4.1-mini", "extractive"]
    prefs = ChatPrefs.from_settings({"answer_model": "extractive", "k": 7.0, "scope": "all"},
                                    available)
    assert (prefs.answer_model, prefs.k, prefs.scope) == ("extractive", 7, "all")
    odd = ChatPrefs.from_settings({"answer_model": "evil:model", "k": 999, "scope": "x"},
                                  available, default_k=4)
    assert (odd.answer_model, odd.k, odd.scope) == (None, 20, "all")  # new chats: all docs
    assert ChatPrefs.from_settings(None, available, default_k=4).k == 4
    assert prefs.to_settings() == {"answer_model": "extractive", "k": 7, "scope": "all"}
    assert thread_metadata({"metadata": '{"a": 1}'}) == {"a": 1}
    assert thread_metadata({"metadata": "not json"}) == {}


def test_citation_side_text_names_file_page_and_heading():
    cite = SimpleNamespace(n=2, source="manual.pdf", page=4, heading="Safety > Valves",
                           text="Close the valve.\nThen log it.")
    assert citations.citation_text(cite) == (
        "**[2] manual.pdf, page 4 — Safety > Valves**\n\n> Close the valve.\n> Then log it.\n")
    other = SimpleNamespace(n=1, source="a.md", page=None, heading=None, text="t")
    assert citations.sources_footer([other, cite], "Only [2].") == (
        "\n\n**Sources:** [2] manual.pdf, page 4 — Safety > Valves")


def test_an_answer_the_run_marks_unsupported_carries_a_note():
    from chat.asking import UNSUPPORTED_NOTE, support_note

    assert support_note(SimpleNamespace(answer="x", supported=False)) == UNSUPPORTED_NOTE
    assert support_note(SimpleNamespace(answer="x", supported=True)) == ""
    assert support_note(SimpleNamespace(answer="x")) == ""  # runs without the flag
    # a reply that already declines says so itself: no second, contradicting note
    from agents.extractive_answer import DECLINE

    assert support_note(SimpleNamespace(answer=f"Intro.\n\n{DECLINE}\n\nRelated: ...",
                                        supported=False)) == ""


async def _one_spike(block) -> tuple[dict, dict]:
    """Run ``block`` (which keeps the loop from waking for ~150 ms) under the probe;
    the worst spike's attribution and the window's per-thread CPU."""
    loop_probe.start()
    try:
        await asyncio.sleep(0.05)
        loop_probe.reset()
        await asyncio.sleep(0.03)
        await block()
        await asyncio.sleep(0.05)
        summary = loop_probe.summary()
    finally:
        loop_probe._task.cancel()
        loop_probe._task = None
    assert summary["spikes"]["count"] >= 1
    return summary["spikes"]["worst"][0], summary["threads"]


async def test_a_spike_spent_running_on_the_loop_counts_as_loop_busy():
    async def spin():
        end = time.perf_counter() + 0.15
        while time.perf_counter() < end:  # CPU work on the loop thread
            pass

    worst, _ = await _one_spike(spin)
    assert worst["lag_ms"] >= 120
    assert worst["loop_run_ms"] >= 100  # at least two thirds ran on the loop's thread
    assert worst["loop_cpu_wait_ms"] is not None and worst["loop_off_cpu_ms"] < 60


async def test_a_spike_spent_waiting_for_the_gil_counts_as_held_off():
    import threading

    done, release = threading.Event(), threading.Event()

    def hold_gil():
        sum(range(8_000_000))  # one C call: the thread never offers the GIL meanwhile
        done.set()
        release.wait(10)  # alive until the summary: a thread that ended is not listed

    worker = threading.Thread(target=hold_gil, name="gil-holder")

    async def other_thread():
        worker.start()
        while not done.is_set():  # noqa: ASYNC110 - a thread sets it, not the loop
            await asyncio.sleep(0.001)  # the loop needs the GIL back to wake up

    try:
        worst, threads = await _one_spike(other_thread)
    finally:
        release.set()
        worker.join()
    assert worst["lag_ms"] >= 50
    assert worst["loop_run_ms"] < 20  # the loop thread itself hardly ran
    assert worst["other_threads_cpu_ms"] >= 40
    assert worst["loop_off_cpu_ms"] >= 40
    holder = [row for row in threads["busiest"] if row[0] == "gil-holder"]
    assert holder and holder[0][1] >= 40  # the per-thread CPU names who held it


async def test_a_collection_on_the_loop_thread_is_attributed_to_it():
    import gc

    async def collect():
        garbage = [[] for _ in range(300_000)]
        for each in garbage:
            each.append(each)  # cycles the collector has to walk
        del garbage
        gc.collect()

    worst, _ = await _one_spike(collect)
    assert worst["gc_on_loop_ms"] > 0 and worst["gc_other_thread_ms"] == 0
