"""Command line of the LLM router.

    python -m agents.llm status                 chains per task, unavailable providers
    python -m agents.llm install-local-model    fetch, join and verify the local GGUF
    python -m agents.llm bench [--json]         local TTFT and tok/s, router overhead
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from agents.llm.router import TASKS, LLMRouter
from agents.llm.settings import LLMSettings


def _status() -> int:
    router = LLMRouter.from_settings()
    for task in TASKS:
        print(f"{task:7} {' -> '.join(router.chain(task))}")
    for name, reason in router.unavailable().items():
        print(f"unavailable: {name}: {reason}")
    asyncio.run(router.aclose())
    return 0


def _install(models_dir: Path | None) -> int:
    from agents.llm.install import ModelInstallError, install_local_model

    try:
        install_local_model(models_dir, progress=lambda line: print(line, flush=True))
    except ModelInstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    from agents.llm.bench import run_bench

    overrides = {"local_threads": args.threads} if args.threads else {}
    settings = LLMSettings(**overrides)
    report = asyncio.run(run_bench(settings, args.prompt_tokens, args.max_tokens,
                                   server=not args.no_server))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    o = report["router_overhead"]
    print(f"router overhead per call: stream {o['stream_overhead_us']} µs, "
          f"complete {o['complete_overhead_us']} µs ({o['tokens_per_call']} tokens, "
          f"{o['calls']} calls)")
    if "local_skipped" in report:
        print(f"local model: skipped ({report['local_skipped']})")
    for key in ("in_process", "server"):
        if key in report:
            r = report[key]
            print(f"{key:10} threads={report['threads']} prompt={r['prompt_tokens']} tok "
                  f"TTFT={r['ttft_s']} s  {r['tokens_per_s']} tok/s "
                  f"({r['output_tokens']} tokens)")
    print(f"load average (1 min) before/after: {report['load_avg_1m_before']} / "
          f"{report.get('load_avg_1m_after', '-')}")
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
    bench.add_argument("--prompt-tokens", type=int, default=1500)
    bench.add_argument("--max-tokens", type=int, default=128)
    bench.add_argument("--no-server", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "status":
        return _status()
    if args.command == "install-local-model":
        return _install(args.models_dir)
    return _bench(args)


if __name__ == "__main__":
    sys.exit(main())
