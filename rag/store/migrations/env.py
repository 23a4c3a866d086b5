"""Alembic environment of the rag tables in PostgreSQL (``rag_documents``, ``rag_chunks``).

Why a migration directory and version table of their own (``rag_alembic_version``) rather
than revisions in chat/persistence/migrations: ``rag`` never imports ``chat`` (the arrows
point chat -> rag), and ``python -m rag``, the indexing worker and the bench must be able
to create and upgrade these tables on a database the chat app never migrated. Two
independent histories in one database are what Alembic's ``version_table`` is for; the
chat schema keeps ``alembic_version``. The embedded SQLite index keeps its own DDL
(rag.store.sqlite), it is a private file per store.

Synchronous engine (psycopg 3); concurrent upgrades (two processes starting at once)
serialise on a PostgreSQL advisory lock held for the session.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

VERSION_TABLE = "rag_alembic_version"
#: pg_advisory_lock key of rag migrations (any constant; distinct from others in use)
LOCK_KEY = 0x5241470001

config = context.config
url: str = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url") or ""

if context.is_offline_mode():
    context.configure(url=url, literal_binds=True, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
            connection.commit()
            context.configure(connection=connection, target_metadata=None,
                              version_table=VERSION_TABLE, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            connection.commit()
    finally:
        engine.dispose()
