"""``python -m agents ask "question" [--scope S]`` and ``python -m agents bench [--json]``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from agents.bench import add_bench_parser, run_bench
from agents.cli import add_ask_parser, run_ask


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the subcommand; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m agents",
                                     description="The document chat's answering flow.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_ask_parser(commands)
    add_bench_parser(commands)
    args = parser.parse_args(argv)
    runner = run_ask if args.command == "ask" else run_bench
    try:
        return asyncio.run(runner(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
