"""``python -m agents ask "question" [--scope S]``, ``python -m agents bench [--json]`` and
``python -m agents eval BEIR_DIR [--n N] [--json]`` (evaluation.answers)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from agents.cli import add_ask_parser, run_ask
from bench.agents_bench import add_bench_parser, run_bench
from evaluation.answers import add_eval_parser, run_eval


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the subcommand; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m agents",
                                     description="The document chat's answering flow.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_ask_parser(commands)
    add_bench_parser(commands)
    add_eval_parser(commands)
    args = parser.parse_args(argv)
    runner = {"ask": run_ask, "bench": run_bench, "eval": run_eval}[args.command]
    try:
        return asyncio.run(runner(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
