"""The one factory of the keyword index and document registry: SQLite FTS5 in the data
directory (embedded default) or PostgreSQL when ``DATABASE_URL`` is a PostgreSQL URL.

Both pairs satisfy ``rag.store.keyword.KeywordIndex`` and
``rag.store.registry.Registry`` and share one database object with ``transaction()``,
so ``DocumentStore`` commits keyword rows and registry rows together on either.
"""

from __future__ import annotations

from typing import Any

from rag.config import RagSettings
from rag.store.keyword import Fts5KeywordIndex, KeywordIndex
from rag.store.postgres import is_postgres
from rag.store.registry import DocumentRegistry, Registry
from rag.store.sqlite import SqliteDB


def backend_name(settings: RagSettings) -> str:
    """"postgresql" when the settings' database is PostgreSQL, else "sqlite"."""
    return "postgresql" if is_postgres(settings.database_url) else "sqlite"


def open_index(settings: RagSettings, name: str) -> tuple[Any, KeywordIndex, Registry]:
    """(database, keyword index, registry) of the store ``name`` (its collection name).

    SQLite: the file ``<data_dir>/<name>.db``. PostgreSQL: the tables ``rag_chunks`` and
    ``rag_documents`` of ``DATABASE_URL`` (migrated first), rows of collection ``name``.

    Raises:
        psycopg.OperationalError, psycopg_pool.PoolTimeout: PostgreSQL is unreachable.
    """
    if backend_name(settings) == "postgresql":
        from rag.store.pg_keyword import PgKeywordIndex
        from rag.store.pg_registry import PgDocumentRegistry
        from rag.store.postgres import PostgresDB

        assert settings.database_url is not None
        pg = PostgresDB(settings.database_url, name)
        return pg, PgKeywordIndex(pg), PgDocumentRegistry(pg)
    db = SqliteDB(settings.data_dir / f"{name}.db")
    return db, Fts5KeywordIndex(db), DocumentRegistry(db)
