"""An opt-in probe of the server's event-loop lag (for the load benchmark).

With ``DOCCHAT_LOOP_PROBE=1`` the app starts a task that sleeps ``INTERVAL_S`` again
and again and records how late each wake-up is: that lateness is the time the loop was
blocked by something else (CPU work on the loop, a slow callback, a worker thread
holding the GIL). ``GET
/debug/loop-lag`` returns the worst and typical lag since the last reset, ``POST
/debug/loop-lag/reset`` starts a new measurement window. Without the variable nothing
runs and the routes answer 404.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from dataclasses import dataclass, field

from bench.loop_spikes import Clocks, SpikeLog, thread_times, thread_usage

ENV_VAR = "DOCCHAT_LOOP_PROBE"
INTERVAL_S = 0.01
SLOW_CALLBACK_S = 0.05
MAX_SAMPLES = 200_000


@dataclass
class LagStats:
    """Lateness of the probe's wake-ups, in milliseconds, since ``started``, and the
    pauses of Python's cyclic garbage collector in the same window (``gc.callbacks``:
    a collection stops every thread of the process, the loop's included)."""

    samples: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    # (generation, wall ms, CPU ms of the collecting thread)
    gc_pauses: list[tuple[int, float, float]] = field(default_factory=list)
    gc_longest: dict = field(default_factory=dict)  # the longest pause's details
    spikes: SpikeLog = field(default_factory=SpikeLog)  # build on the loop's thread
    started_ns: int = field(default_factory=time.perf_counter_ns)
    threads_at_start: dict = field(default_factory=thread_times)

    def add(self, lag_ms: float) -> None:
        """Record one wake-up's lateness."""
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(lag_ms)

    def add_gc(self, generation: int, pause_ms: float, cpu_ms: float = 0.0,
               collected: int = 0, heap: int | None = None) -> None:
        """Record one collection's pause (wall ms), the CPU time it used, the objects
        it freed and (full collections) the unfrozen objects it had to walk."""
        if len(self.gc_pauses) < MAX_SAMPLES:
            self.gc_pauses.append((generation, pause_ms, cpu_ms))
        if pause_ms > self.gc_longest.get("wall_ms", -1.0):
            self.gc_longest = {"generation": generation, "wall_ms": round(pause_ms, 2),
                               "cpu_ms": round(cpu_ms, 2), "collected": collected,
                               "heap": heap}

    def summary(self) -> dict:
        """``{"count", "max_ms", "p50_ms", "p99_ms", "mean_ms", "window_s", "gc",
        "spikes", "threads"}``; ``gc``: ``{"collections", "by_generation", "max_ms",
        "max_ms_by_generation", "max_cpu_ms", "total_ms", "frozen", "tracked"}`` (wall
        ms, and the CPU ms of the collecting thread; frozen: objects in the permanent
        generation, ``gc.get_freeze_count``; tracked: the objects a full collection
        walks now, ``len(gc.get_objects())``; longest: the longest collection's
        generation, wall and CPU ms, objects freed and, for a full one, walked);
        ``spikes``: the late wake-ups split by cause; ``threads``: each thread's CPU and
        run-queue wait in the window (``bench.loop_spikes``)."""
        pauses = [ms for _, ms, _ in self.gc_pauses]
        gc_summary = {"collections": len(pauses),
                      "by_generation": [sum(1 for g, _, _ in self.gc_pauses if g == n)
                                        for n in range(3)],
                      "max_ms": round(max(pauses, default=0.0), 2),
                      "max_ms_by_generation": [
                          round(max((ms for g, ms, _ in self.gc_pauses if g == n),
                                    default=0.0), 2) for n in range(3)],
                      "max_cpu_ms": round(max((c for _, _, c in self.gc_pauses),
                                              default=0.0), 2),
                      "total_ms": round(sum(pauses), 2), "frozen": gc.get_freeze_count(),
                      "tracked": len(gc.get_objects()), "longest": self.gc_longest}
        data = sorted(self.samples)
        spikes = self.spikes.summary(INTERVAL_S * 1000.0)
        threads = thread_usage(self.threads_at_start)
        if not data:
            return {"count": 0, "max_ms": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "mean_ms": 0.0,
                    "window_s": round(time.time() - self.started, 1), "gc": gc_summary,
                    "spikes": spikes, "threads": threads}

        def pct(p: float) -> float:
            return round(data[min(len(data) - 1, int(p * len(data)))], 2)

        return {"count": len(data), "max_ms": round(data[-1], 2), "p50_ms": pct(0.5),
                "p99_ms": pct(0.99), "mean_ms": round(sum(data) / len(data), 2),
                "window_s": round(time.time() - self.started, 1), "gc": gc_summary,
                "spikes": spikes, "threads": threads}


_stats: LagStats | None = None
_task: asyncio.Task | None = None


def _mode() -> str:
    """``DOCCHAT_LOOP_PROBE`` (environment or ``.env``), lower case."""
    from chat.config import AppSettings

    return AppSettings().loop_probe.strip().lower()


def enabled() -> bool:
    """True when ``DOCCHAT_LOOP_PROBE`` is set to a true value."""
    return _mode() in ("1", "true", "yes", "on", "debug")


async def _probe() -> None:
    loop = asyncio.get_running_loop()
    tid = threading.get_native_id()
    clocks = Clocks.read(tid)
    while True:
        before, window = loop.time(), _window[0]
        await asyncio.sleep(INTERVAL_S)
        lag_ms = max(0.0, (loop.time() - before - INTERVAL_S) * 1000.0)
        now = Clocks.read(tid)
        if _stats is not None and window == _window[0]:  # a sleep across a reset counts
            _stats.add(lag_ms)  # in neither window (it holds the reset's own /proc reads)
            _stats.spikes.add(lag_ms, clocks, now, _stats.started_ns)
        clocks = now


_gc_started: list = [0, 0, None]  # perf_counter_ns, thread_time_ns, heap (full only)


def _on_gc(phase: str, info: dict) -> None:
    """``gc.callbacks`` hook: time each collection into the live stats."""
    if phase == "start":
        # counting a full collection's heap costs ~1 ms per 100,000 objects, outside
        # the timed pause
        heap = len(gc.get_objects()) if info.get("generation") == 2 else None
        _gc_started[:] = time.perf_counter_ns(), time.thread_time_ns(), heap
    elif _stats is not None:
        end, generation = time.perf_counter_ns(), info.get("generation", 0)
        _stats.add_gc(generation, (end - _gc_started[0]) / 1e6,
                      (time.thread_time_ns() - _gc_started[1]) / 1e6,
                      info.get("collected", 0), _gc_started[2])
        _stats.spikes.add_collection(_gc_started[0], end, generation)


def start() -> LagStats:
    """Start the probe on the running loop (idempotent); returns the live stats."""
    global _stats, _task
    if _task is None or _task.done():
        _stats = LagStats()
        _task = asyncio.get_running_loop().create_task(_probe())
        if _on_gc not in gc.callbacks:
            gc.callbacks.append(_on_gc)
    assert _stats is not None
    return _stats


def start_if_enabled() -> bool:
    """Start the probe and its routes when ``DOCCHAT_LOOP_PROBE`` is set.

    ``DOCCHAT_LOOP_PROBE=debug`` also starts a watchdog thread that prints every
    thread's stack to stderr whenever the loop is more than ``SLOW_CALLBACK_S`` late:
    the way to find what blocks it (asyncio's own debug mode slows the loop too much
    to measure, and cannot see a worker thread holding the GIL).
    """
    if not enabled():
        return False
    start()
    install_routes()
    if _mode() == "debug":
        _start_watchdog()
    return True


def _start_watchdog() -> None:
    import sys
    import traceback

    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    beat = [time.monotonic()]

    def heartbeat() -> None:
        beat[0] = time.monotonic()
        loop.call_later(INTERVAL_S, heartbeat)

    def watchdog() -> None:  # dumps every thread's stack while the loop is late
        while True:
            time.sleep(0.02)
            late = time.monotonic() - beat[0]
            if late > SLOW_CALLBACK_S:
                frames = sys._current_frames()
                names = {t.ident: t.name for t in threading.enumerate()}
                lines = [f"loop late by {late * 1000:.0f} ms"]
                for ident, frame in frames.items():
                    mark = "LOOP " if ident == loop_thread else ""
                    lines.append(f"--- {mark}thread {ident} {names.get(ident, '?')}")
                    lines.extend(traceback.format_stack(frame, limit=6))
                print("\n".join(lines), file=sys.stderr, flush=True)
                beat[0] = time.monotonic()

    heartbeat()
    threading.Thread(target=watchdog, name="loop-watchdog", daemon=True).start()


_window = [0]  # bumped by reset(): the probe drops the one sample that spans it


def reset() -> dict:
    """Start a new measurement window; returns the summary of the one that ended.

    The summary and the new window's thread clocks read ``/proc`` for every thread, on
    the loop (slow in a process with many threads); the probe's sample that spans this
    call is dropped, so that cost lands in neither window."""
    previous = _stats.summary() if _stats else LagStats().summary()
    _window[0] += 1
    if _stats is not None:
        _stats.samples, _stats.gc_pauses, _stats.gc_longest = [], [], {}
        _stats.spikes.clear()
        _stats.threads_at_start = thread_times()
        _stats.started, _stats.started_ns = time.time(), time.perf_counter_ns()
    return previous


def summary() -> dict | None:
    """The current window's summary, None when the probe is not running."""
    return _stats.summary() if _stats is not None else None


def install_routes() -> None:
    """Add the probe's routes to Chainlit's app, ahead of its UI catch-all route."""
    from chainlit.server import app
    from starlette.responses import JSONResponse

    if any(getattr(r, "path", "") == "/debug/loop-lag" for r in app.router.routes):
        return

    async def get_lag() -> JSONResponse:
        stats = summary()
        if stats is not None:  # since start: how well step writes were batched
            from chat.auth import get_app_data_layer

            queue = get_app_data_layer().step_writes
            stats["step_writes"] = {"batches": queue.batches, "writes": queue.writes}
        return JSONResponse(stats if stats is not None else {"error": "probe off"},
                            status_code=200 if stats is not None else 404)

    async def reset_lag() -> JSONResponse:
        return JSONResponse(reset())

    from chat.routes import _move_ahead_of_catch_all

    app.add_api_route("/debug/loop-lag", get_lag, methods=["GET"])
    app.add_api_route("/debug/loop-lag/reset", reset_lag, methods=["POST"])
    _move_ahead_of_catch_all(app, {"/debug/loop-lag", "/debug/loop-lag/reset"})
