"""rag tables in PostgreSQL: the document registry and the keyword index.

rag_documents: one row per (collection, owner, thread_id ('' = none), doc_id) with its
state (pending, indexing, indexed, failed, deleting); rag_chunks: chunk text and
context with a generated ``tsvector`` (context weighted B, text D, English
configuration: stemming and stopwords like FTS5's porter tokenizer) under a GIN index.

Revision ID: r0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "r0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE rag_documents (
        collection TEXT NOT NULL,
        owner TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        filename TEXT NOT NULL,
        chunks INTEGER NOT NULL DEFAULT 0,
        indexed_at TIMESTAMPTZ NOT NULL,
        state TEXT NOT NULL CHECK (state IN
            ('pending', 'indexing', 'indexed', 'failed', 'deleting')),
        updated_at TIMESTAMPTZ NOT NULL,
        error TEXT,
        PRIMARY KEY (collection, owner, thread_id, doc_id)
    )""")
    op.execute("CREATE INDEX rag_documents_doc ON rag_documents (collection, owner, doc_id)")
    op.execute("CREATE INDEX rag_documents_state ON rag_documents (collection, state)"
               " WHERE state <> 'indexed'")
    op.execute("""
    CREATE TABLE rag_chunks (
        id BIGSERIAL PRIMARY KEY,
        collection TEXT NOT NULL,
        chunk_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        thread_id TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        chunk_index INTEGER NOT NULL,
        text TEXT NOT NULL,
        context TEXT NOT NULL DEFAULT '',
        metadata JSONB NOT NULL,
        tsv TSVECTOR GENERATED ALWAYS AS (
            setweight(to_tsvector('english'::regconfig, context), 'B')
            || to_tsvector('english'::regconfig, text)) STORED,
        UNIQUE (collection, chunk_id)
    )""")
    op.execute("CREATE INDEX rag_chunks_scope ON rag_chunks"
               " (collection, owner, thread_id, doc_id)")
    op.execute("CREATE INDEX rag_chunks_tsv ON rag_chunks USING gin (tsv)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS rag_chunks")
    op.execute("DROP TABLE IF EXISTS rag_documents")
