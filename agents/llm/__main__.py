"""Command line of the LLM router.

    python -m agents.llm status                 chains per task, unavailable providers,
                                                the local model's build check and the
                                                state of running chat servers' model process
    python -m agents.llm install-local-model    fetch, join and verify the local GGUF
    python -m agents.llm bench [--json]         local TTFT and tok/s, router overhead
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any
from pathlib import Path

from agents.llm.router import TASKS, LLMRouter
from agents.llm.settings import LLMSettings


def _status() -> int:
    router = LLMRouter.from_settings()
    for task in TASKS:
        print(f"{task:7} {' -> '.join(router.chain(task))}")
    for name, reason in router.unavailable().items():
        print(f"unavailable: {name}: {reason}")
    local = router.providers.get("local")
    if local is not None and local.available:
        print(f"local build: {_build_check()}")
        state_dir = local.config.state_file.parent  # type: ignore[attr-defined]
        running = _running_models(state_dir)
        for state in running:
            print(f"local model process: {state['state']} (pid {state['pid']}, chat server "
                  f"pid {state['supervisor_pid']}, {state['threads']} threads, "
                  f"{state['restarts']} restarts"
                  + (f", last error: {state['last_error']}" if state["last_error"] else "")
                  + ")")
        if not running:
            print(f"local model process: none running (no live chat server in {state_dir})")
    asyncio.run(router.aclose())
    return 0


def _build_check() -> str:
    """The CPU check's verdict, run in a child process (a bad build may die of SIGILL)."""
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "agents.llm.cpu_check"], check=False,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode < 0:
        return f"the check itself died with signal {-proc.returncode}: rebuild it"
    return (proc.stdout or proc.stderr).strip()


def _running_models(state_dir: Path) -> list[dict[str, Any]]:
    """The state files of live chat servers (stale ones, of dead servers, are skipped)."""
    import os

    found = []
    for path in sorted(state_dir.glob("local-model-*.json")):
        try:
            state = json.loads(path.read_text())
            os.kill(int(state["supervisor_pid"]), 0)
        except (OSError, ValueError, KeyError):
            continue
        found.append(state)
    return found


def _install(models_dir: Path | None) -> int:
    from agents.llm.install import ModelInstallError, install_local_model

    try:
        install_local_model(models_dir, progress=lambda line: print(line, flush=True))
    except ModelInstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    from bench.llm_bench import run_bench

    overrides = {"local_threads": args.threads} if args.threads else {}
    if args.prompt_budget:
        overrides["local_prompt_budget_tokens"] = args.prompt_budget
    settings = LLMSettings(**overrides)
    report = asyncio.run(run_bench(settings, args.model, args.runs, args.max_tokens))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    o = report["router_overhead"]
    print(f"router overhead per call: stream {o['stream_overhead_us']} µs, "
          f"complete {o['complete_overhead_us']} µs ({o['tokens_per_call']} tokens, "
          f"{o['calls']} calls)")
    if "local_skipped" in report:
        print(f"local model: skipped ({report['local_skipped']})")
        return 0
    print(f"local model on {report['cpu']} ({report['cores']} cores, {report['threads']} "
          f"threads, TTFT target {report['ttft_target_s']} s, start-up "
          f"{report['startup_s']} s)")
    for r in report["runs"]:
        print(f"  prompt={r['prompt_tokens']} tok TTFT={r['ttft_s']} s "
              f"{r['tokens_per_s']} tok/s ({r['output_tokens']} tokens)")
    print(f"ttft_p50_s={report['ttft_p50_s']} tokens_per_s={report['tokens_per_s']} "
          f"prompt_tokens={report['prompt_tokens']} (prompt processing "
          f"{report['prompt_tokens_per_s']} tokens/s)")
    print(f"load average (1 min) before/after: {report['load_avg_1m_before']} / "
          f"{report['load_avg_1m_after']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.llm")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="show chains and unavailable providers")
    install = sub.add_parser("install-local-model", help="install the local GGUF model")
    install.add_argument("--models-dir", type=Path, default=None)
    bench = sub.add_parser("bench", help="local model speed and router overhead")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--threads", type=int, default=None)
    bench.add_argument("--runs", type=int, default=5, help="5-passage questions (5)")
    bench.add_argument("--max-tokens", type=int, default=128)
    bench.add_argument("--prompt-budget", type=int, default=None,
                       help="local prompt budget in tokens (DOCCHAT_LLM_LOCAL_PROMPT_BUDGET_TOKENS)")
    bench.add_argument("--model", type=Path, default=None,
                       help="GGUF file (default: the test model, DOCCHAT_TEST_MODELS_DIR)")
    args = parser.parse_args(argv)
    if args.command == "status":
        return _status()
    if args.command == "install-local-model":
        return _install(args.models_dir)
    return _bench(args)


if __name__ == "__main__":
    sys.exit(main())
