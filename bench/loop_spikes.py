"""Where a late wake-up of the event loop went: the loop thread's own clocks (for the
loop-lag probe, ``bench.loop_probe``).

A wake-up that comes ``lag`` ms late has one of three causes, and Linux tells them
apart per thread (``/proc/self/task/<tid>/schedstat``: time on a CPU, time runnable but
waiting in the run queue):

- **cpu wait**: the loop thread was runnable but every core was taken (a saturated
  host; nothing in the process can fix it);
- **loop busy**: the loop thread itself ran (a slow callback, or a garbage collection
  that the loop thread triggered);
- **held off**: the thread was neither running nor runnable beyond its own sleep:
  it waited for the GIL held by another thread of the process (or in a blocking
  system call).

Each window between two wake-ups is split into those three parts, and the other
threads' CPU time, the collector's pauses and the host's CPU pressure
(``/proc/pressure/cpu``) in the same window are attached. Without ``/proc`` (not Linux)
the run-queue figures are absent (None) and the rest still works.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

#: wake-ups at least this late are kept with their attribution (the scaled-out
#: target is 50 ms; 20 ms catches what adds up to it)
SPIKE_MS = 20.0
MAX_SPIKES = 5_000
WORST_KEPT = 10


#: kept-open ``/proc`` files (path -> fd): the probe reads two of them at every
#: wake-up (100 a second); ``pread`` on an open fd costs ~1-2 us where open, read and
#: close cost ~12 us each, and less of the measured loop's time is the probe's own
_proc_fds: dict[str, int] = {}


def _read_proc(path: str, keep: bool = True) -> bytes:
    """The current contents of a ``/proc`` file (first 4 KiB), through a kept fd
    (``keep``) or opened for this read only. Raises OSError when it cannot be read."""
    if not keep:
        with open(path, "rb") as f:
            return f.read(4096)
    fd = _proc_fds.get(path)
    if fd is None:
        fd = _proc_fds.setdefault(path, os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    try:
        return os.pread(fd, 4096, 0)
    except OSError:  # e.g. the thread ended: open it afresh next time
        _proc_fds.pop(path, None)
        os.close(fd)
        raise


def _schedstat(tid: int, keep: bool = True) -> tuple[int, int] | None:
    """(on-CPU ns, run-queue wait ns) of thread ``tid``; None without ``/proc``.
    ``keep``: read through a kept fd (the loop thread's, read at every wake-up)."""
    try:
        run_ns, wait_ns, _ = _read_proc(f"/proc/self/task/{tid}/schedstat", keep).split()
        return int(run_ns), int(wait_ns)
    except (OSError, ValueError):
        return None


def _psi_some_us() -> int | None:
    """The host's cumulative CPU pressure: microseconds in which at least one runnable
    task waited for a CPU (``/proc/pressure/cpu``, "some" line); None without it."""
    try:
        first = _read_proc("/proc/pressure/cpu").split(b"\n", 1)[0].split()
        return int(first[-1].split(b"=")[1])
    except (OSError, ValueError, IndexError):
        return None


def thread_times() -> dict[int, tuple[str, int, int]]:
    """Every thread of this process: native id -> (name, on-CPU ns, run-queue wait ns).

    The name is the Python thread's where there is one, else the kernel's (``comm``:
    threads of C libraries such as onnxruntime's pool). Empty without ``/proc``.
    """
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[int, tuple[str, int, int]] = {}
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return out
    for tid in tids:
        sched = _schedstat(tid, keep=False)
        if sched is None:
            continue
        name = names.get(tid)
        if name is None:
            try:
                with open(f"/proc/self/task/{tid}/comm") as f:
                    name = "native:" + f.read().strip()
            except OSError:
                name = "native:?"
        out[tid] = (name, *sched)
    return out


def thread_usage(before: dict[int, tuple[str, int, int]], top: int = 8) -> dict:
    """CPU and run-queue wait of each thread since ``before`` (``thread_times()``), in
    ms: ``{"threads", "cpu_ms", "cpu_wait_ms", "busiest": [[name, cpu, wait], ...]}``.
    Only threads alive now are counted (an ended thread's time is gone with it)."""
    rows = []
    for tid, (name, run, wait) in thread_times().items():
        _, run0, wait0 = before.get(tid, (name, 0, 0))
        rows.append([name, round((run - run0) / 1e6, 1), round((wait - wait0) / 1e6, 1)])
    rows.sort(key=lambda r: r[1], reverse=True)
    return {"threads": len(rows), "cpu_ms": round(sum(r[1] for r in rows), 1),
            "cpu_wait_ms": round(sum(r[2] for r in rows), 1), "busiest": rows[:top]}


@dataclass(frozen=True)
class Clocks:
    """One reading of the clocks at a wake-up (all nanoseconds except ``psi_us``)."""

    wall_ns: int
    loop_cpu_ns: int  # the loop thread's CPU time (CLOCK_THREAD_CPUTIME_ID)
    process_cpu_ns: int  # every thread of the process
    loop_wait_ns: int | None  # the loop thread's cumulative run-queue wait
    psi_us: int | None

    @classmethod
    def read(cls, tid: int) -> Clocks:
        """Read them now; must run on the loop thread (``tid``: its native id)."""
        sched = _schedstat(tid)
        return cls(time.perf_counter_ns(), time.thread_time_ns(), time.process_time_ns(),
                   sched[1] if sched else None, _psi_some_us())


@dataclass
class SpikeLog:
    """Late wake-ups (>= ``SPIKE_MS``) with what their windows were made of, and the
    collector's pauses to overlap with them."""

    loop_ident: int = field(default_factory=threading.get_ident)
    spikes: list[dict] = field(default_factory=list)
    # (start ns, end ns, generation, ran on the loop thread)
    collections: list[tuple[int, int, int, bool]] = field(default_factory=list)

    def add_collection(self, start_ns: int, end_ns: int, generation: int) -> None:
        """Record one collection (``perf_counter_ns`` bounds), from ``gc.callbacks``."""
        if len(self.collections) < MAX_SPIKES:
            self.collections.append((start_ns, end_ns, generation,
                                     threading.get_ident() == self.loop_ident))

    def add(self, lag_ms: float, before: Clocks, after: Clocks, started_ns: int) -> None:
        """Attribute the window ``before`` -> ``after`` (one sleep of the probe plus its
        lateness) when ``lag_ms`` >= ``SPIKE_MS``; ``started_ns``: the stats window's
        start, for the spike's time stamp."""
        if lag_ms < SPIKE_MS or len(self.spikes) >= MAX_SPIKES:
            return
        window = (after.wall_ns - before.wall_ns) / 1e6
        run = (after.loop_cpu_ns - before.loop_cpu_ns) / 1e6
        wait = (None if after.loop_wait_ns is None or before.loop_wait_ns is None
                else (after.loop_wait_ns - before.loop_wait_ns) / 1e6)
        gc_loop = gc_other = 0.0
        for start, end, _, on_loop in self.collections:
            overlap = (min(end, after.wall_ns) - max(start, before.wall_ns)) / 1e6
            if overlap > 0:
                if on_loop:
                    gc_loop += overlap
                else:
                    gc_other += overlap
        self.spikes.append({
            "at_s": round((after.wall_ns - started_ns) / 1e9, 2),
            "lag_ms": round(lag_ms, 1), "window_ms": round(window, 1),
            "loop_run_ms": round(run, 1),
            "loop_cpu_wait_ms": None if wait is None else round(wait, 1),
            # neither running nor runnable: its own sleep, then the GIL or a blocking call
            "loop_off_cpu_ms": None if wait is None else round(window - run - wait, 1),
            "other_threads_cpu_ms": round(
                (after.process_cpu_ns - before.process_cpu_ns) / 1e6 - run, 1),
            "gc_on_loop_ms": round(gc_loop, 1), "gc_other_thread_ms": round(gc_other, 1),
            "host_cpu_pressure_ms": (None if after.psi_us is None or before.psi_us is None
                                     else round((after.psi_us - before.psi_us) / 1e3, 1)),
        })

    def clear(self) -> None:
        """Forget the spikes and collections (a new measurement window)."""
        self.spikes, self.collections = [], []

    def summary(self, interval_ms: float) -> dict:
        """``{"threshold_ms", "count", "lag_ms", "cause_ms", "worst"}``: the spikes' summed
        lateness split by cause (``cpu_wait``, ``loop_busy`` of which ``gc_on_loop``,
        ``held_off``: off-CPU time beyond the probe's own ``interval_ms`` sleep), and the
        ``WORST_KEPT`` worst spikes with their full attribution."""
        cause = {"cpu_wait": 0.0, "loop_busy": 0.0, "gc_on_loop": 0.0, "held_off": 0.0,
                 "gc_other_thread": 0.0}
        for s in self.spikes:
            cause["loop_busy"] += s["loop_run_ms"]
            cause["gc_on_loop"] += s["gc_on_loop_ms"]
            cause["gc_other_thread"] += s["gc_other_thread_ms"]
            if s["loop_cpu_wait_ms"] is not None:
                cause["cpu_wait"] += s["loop_cpu_wait_ms"]
                cause["held_off"] += max(0.0, s["loop_off_cpu_ms"] - interval_ms)
        worst = sorted(self.spikes, key=lambda s: s["lag_ms"], reverse=True)[:WORST_KEPT]
        return {"threshold_ms": SPIKE_MS, "count": len(self.spikes),
                "lag_ms": round(sum(s["lag_ms"] for s in self.spikes), 1),
                "cause_ms": {k: round(v, 1) for k, v in cause.items()}, "worst": worst}
