"""Command line: `python -m chat db ...` and `python -m chat users ...`.

    python -m chat db upgrade [REVISION]       migrate the schema (default: head)
    python -m chat db downgrade REVISION       e.g. base (drops every chat table)
    python -m chat db current                  the revision stored in the database
    python -m chat users add NAME --password-stdin [--role admin|user]
    python -m chat users passwd NAME --password-stdin
    python -m chat users list
    python -m chat users remove NAME [--transfer-to OTHER]
                                               deletes everything they owned: threads,
                                               steps, elements, files, indexed documents
                                               (with --transfer-to: documents go to OTHER)
    python -m chat users revoke NAME           log them out everywhere (tokens refused)
    python -m chat keys create NAME --user USER   a personal API key (printed once)
    python -m chat keys list [--user USER]
    python -m chat keys revoke KEY_ID
    python -m chat bench-api [--json]          API overhead to the first SSE token
The database is DATABASE_URL (or the SQLite file in DOCCHAT_DATA_DIR).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from chat.api.keys import ApiKeyError
from chat.config import get_settings
from chat.persistence.db import (
    create_engine,
    current_revision_sync,
    downgrade_database_sync,
    upgrade_database_sync,
)
from chat.persistence.storage import make_storage_client
from chat.persistence.users import UserError, UserStore


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
    remove = users.add_parser("remove")
    remove.add_argument("name")
    remove.add_argument("--transfer-to", metavar="OTHER", default=None,
                        help="give their indexed documents to this user instead of deleting")
    users.add_parser("revoke").add_argument("name")
    keys = groups.add_parser("keys", help="API keys").add_subparsers(dest="cmd", required=True)
    create = keys.add_parser("create")
    create.add_argument("name", help="what the key is for, e.g. 'ingest pipeline'")
    create.add_argument("--user", required=True, help="the user the key acts as")
    keys.add_parser("list").add_argument("--user", default=None)
    keys.add_parser("revoke").add_argument("key_id")
    bench = groups.add_parser("bench-api", help="API overhead to the first SSE token")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--runs", type=int, default=60, help="paired runs (default 60)")
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
        if args.cmd == "revoke":
            await store.revoke_tokens(args.name)
            return f"every login of {args.name} was revoked"
        return await _remove(store, args.name, args.transfer_to)
    finally:
        await engine.dispose()


async def _remove(store: UserStore, name: str, transfer_to: str | None) -> str:
    """Remove a user and what they owned; their documents (keyed by their stable id, or
    by their name if not migrated yet) are deleted, or moved to ``transfer_to``.

    Order: their tokens are revoked, the documents handled, then the user removed, so
    a failure half-way loses nothing and the command can be run again.
    Raises: UserError for an unknown user or transfer target.
    """
    from chat.owners import document_owner

    user_id = await store.user_id(name)
    if user_id is None:
        raise UserError(f"no user {name!r}")
    owner = document_owner(user_id)
    target = None
    if transfer_to is not None:
        target_id = await store.user_id(transfer_to)
        if target_id is None or transfer_to == name:
            raise UserError(f"cannot transfer documents to {transfer_to!r}: no such other "
                            "user (add them first)")
        target = document_owner(target_id)
    await store.revoke_tokens(name)
    documents = await _user_documents([owner, name], target)
    keys = await store.remove(name)
    storage = make_storage_client(get_settings())
    for key in keys:
        await storage.delete_file(key)
    fate = f"transferred to {transfer_to}" if target else "deleted"
    return f"removed {name} ({len(keys)} stored files, {documents} indexed documents {fate})"


async def _user_documents(owners: list[str], target: str | None) -> int:
    """Delete every document of ``owners`` (registry, keyword rows, vectors), or move
    them to ``target``. Returns the documents deleted or moved."""
    from rag.service import RagService

    rag = await RagService.open()
    try:
        if target is None:
            return sum([await rag.delete_owner(owner) for owner in owners])
        return sum([await rag.rename_owner(owner, target) for owner in owners])
    finally:
        await rag.close()


async def _keys(args: argparse.Namespace, url: str) -> str:
    from chat.api.keys import ApiKeyStore

    engine = create_engine(url)
    store = ApiKeyStore(engine)
    try:
        if args.cmd == "create":
            key, info = await store.create(args.name, args.user)
            return (f"{key}\n\nAPI key {info.id} ({info.name!r}) for {info.user}. It is shown "
                    "only this once: keep it secret.")
        if args.cmd == "list":
            return "\n".join(
                f"{k.id}\t{k.user}\t{k.name}\tcreated {k.created_at}\t"
                f"used {k.last_used_at or 'never'}\t"
                f"{'revoked ' + k.revoked_at if k.revoked_at else 'active'}"
                for k in await store.list(args.user))
        info = await store.revoke(args.key_id)
        return f"revoked {info.id} ({info.name!r}, {info.user})"
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 refused, 2 usage)."""
    args = _parser().parse_args(argv)
    if args.group == "bench-api":
        from bench.api_bench import main as bench_main

        return bench_main(args)
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
        output = asyncio.run((_keys if args.group == "keys" else _users)(args, url))
    except (UserError, ApiKeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
