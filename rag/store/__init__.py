"""Storage: Chroma vectors (``chroma``); the keyword index (``keyword``: protocol + SQLite
FTS5, ``pg_keyword``: PostgreSQL) and the document registry (``registry``: protocol +
SQLite, ``pg_registry``: PostgreSQL), one pair picked by ``backend.open_index`` from
DATABASE_URL; and ``DocumentStore`` (``document_store``), the one place that writes to
all of them and keeps them consistent."""
