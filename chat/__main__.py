"""Command line: `python -m chat db ...` and `python -m chat users ...`.

    python -m chat db upgrade [REVISION]       migrate the schema (default: head)
    python -m chat db downgrade REVISION       e.g. base (drops every chat table)
    python -m chat db current                  the revision stored in the database
    python -m chat users add NAME --password-stdin [--role admin|user]
    python -m chat users passwd NAME --password-stdin
    python -m chat users list
    python -m chat users remove NAME           also deletes their threads and files
The database is DATABASE_URL (or the SQLite file in DOCCHAT_DATA_DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from chat.config import get_settings
from chat.db import (
    create_engine,
    current_revision_sync,
    downgrade_database_sync,
    upgrade_database_sync,
)
from chat.storage import make_storage_client
from chat.users import UserError, UserStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chat", description=__doc__.split("\n")[0])
    groups = parser.add_subparsers(dest="group", required=True)
    db = groups.add_parser("db", help="schema migrations").add_subparsers(dest="cmd", required=True)
    db.add_parser("upgrade").add_argument("revision", nargs="?", default="head")
    db.add_parser("downgrade").add_argument("revision")
    db.add_parser("current")
    users = groups.add_parser("users", help="password users").add_subparsers(
        dest="cmd", required=True
    )
    add = users.add_parser("add")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--role", choices=("user", "admin"), default="user")
    passwd = users.add_parser("passwd")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    users.add_parser("list")
    users.add_parser("remove").add_argument("name")
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat: "):
        raise UserError("the passwords differ")
    return first


async def _users(args: argparse.Namespace, url: str) -> str:
    engine = create_engine(url)
    store = UserStore(engine)
    try:
        if args.cmd == "add":
            info = await store.add(args.name, _read_password(args.password_stdin), args.role)
            return f"added {info.identifier} ({info.role})"
        if args.cmd == "passwd":
            await store.set_password(args.name, _read_password(args.password_stdin))
            return f"password changed for {args.name}"
        if args.cmd == "list":
            return "\n".join(
                f"{u.identifier}\t{u.role}\t{u.created_at}" for u in await store.list()
            )
        keys = await store.remove(args.name)
        storage = make_storage_client(get_settings())
        for key in keys:
            await storage.delete_file(key)
        return f"removed {args.name} ({len(keys)} stored files deleted)"
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 refused, 2 usage)."""
    args = _parser().parse_args(argv)
    url = get_settings().database_url
    try:
        if args.group == "db":
            if args.cmd == "upgrade":
                upgrade_database_sync(url, args.revision)
            elif args.cmd == "downgrade":
                downgrade_database_sync(url, args.revision)
            print(f"database at revision {current_revision_sync(url) or 'base (empty)'}")
            return 0
        upgrade_database_sync(url)
        output = asyncio.run(_users(args, url))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
