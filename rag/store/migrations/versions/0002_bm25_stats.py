"""BM25 statistics of the PostgreSQL keyword index.

rag_chunks.dl: a chunk's length for BM25, the number of lexeme positions in its
``tsvector`` (words after stopwords, context and text together; generated, so it is
always that of the stored ``tsv``). rag_terms (collection, lexeme, df): the document
frequency of every lexeme per collection; rag_chunk_stats (collection, n, total_len):
the chunks and their summed length (avgdl = total_len / n). Both are kept by
statement-level triggers on rag_chunks (transition tables), so every insert, rewrite
and delete updates them in the same transaction as the chunk rows, whatever code path
wrote. Writers of one collection serialise their statistics on a transaction-level
advisory lock (no deadlocks between two documents sharing lexemes). The upgrade
backfills from the existing rows.

Revision ID: r0002
Revises: r0001
"""

from __future__ import annotations

from alembic import op

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None

#: the chunk length of a tsvector: its lexeme positions (a lexeme without positions, as
#: only a stripped tsvector has, counts once)
_LEN_FN = """
CREATE FUNCTION rag_tsv_len(v tsvector) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS
$$ SELECT coalesce(sum(coalesce(array_length(u.positions, 1), 1)), 0)::integer
   FROM unnest(v) AS u $$"""

#: the same expression as rag_chunks.tsv (a generated column cannot read another)
_TSV = ("setweight(to_tsvector('english'::regconfig, context), 'B')"
        " || to_tsvector('english'::regconfig, text)")


#: the old (side o) or new (side n) rows of an update whose tsvector changed
_CHANGED = ("(SELECT {side}.collection, {side}.tsv, {side}.dl FROM old_rows AS o"
            " JOIN new_rows AS n USING (id) WHERE o.tsv IS DISTINCT FROM n.tsv)")


def _apply(rows: str, sign: str) -> str:
    """SQL adding (sign '+') or subtracting ('-') the statistics of transition table
    ``rows``, under the collection's advisory lock."""
    return f"""
    PERFORM pg_advisory_xact_lock(hashtext('rag_terms:' || s.collection))
        FROM (SELECT DISTINCT x.collection FROM {rows} AS x ORDER BY 1) AS s;
    INSERT INTO rag_terms AS t (collection, lexeme, df)
        SELECT r.collection, l.lexeme, {sign}count(*)
        FROM {rows} AS r, unnest(tsvector_to_array(r.tsv)) AS l(lexeme)
        GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (collection, lexeme) DO UPDATE SET df = t.df + excluded.df;
    DELETE FROM rag_terms AS t USING
        (SELECT DISTINCT r.collection, l.lexeme
         FROM {rows} AS r, unnest(tsvector_to_array(r.tsv)) AS l(lexeme)) AS d
        WHERE t.collection = d.collection AND t.lexeme = d.lexeme AND t.df <= 0;
    INSERT INTO rag_chunk_stats AS s (collection, n, total_len)
        SELECT x.collection, {sign}count(*), {sign}sum(x.dl) FROM {rows} AS x
        GROUP BY 1 ORDER BY 1
    ON CONFLICT (collection) DO UPDATE SET n = s.n + excluded.n,
        total_len = s.total_len + excluded.total_len;"""


def upgrade() -> None:
    op.execute(_LEN_FN)
    op.execute(f"ALTER TABLE rag_chunks ADD COLUMN dl INTEGER"
               f" GENERATED ALWAYS AS (rag_tsv_len({_TSV})) STORED")
    op.execute("""
    CREATE TABLE rag_terms (
        collection TEXT NOT NULL,
        lexeme TEXT NOT NULL,
        df BIGINT NOT NULL,
        PRIMARY KEY (collection, lexeme)
    )""")
    op.execute("""
    CREATE TABLE rag_chunk_stats (
        collection TEXT PRIMARY KEY,
        n BIGINT NOT NULL,
        total_len BIGINT NOT NULL
    )""")
    op.execute(f"""
    CREATE FUNCTION rag_terms_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {_apply('new_rows', '')}
        RETURN NULL;
    END $$""")
    op.execute(f"""
    CREATE FUNCTION rag_terms_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {_apply('old_rows', '-')}
        RETURN NULL;
    END $$""")
    # an update (a rewrite of the same chunk id, an owner rename) moves the statistics
    # of the rows whose tsvector changed only
    op.execute(f"""
    CREATE FUNCTION rag_terms_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {_apply(_CHANGED.format(side='o'), '-')}
        {_apply(_CHANGED.format(side='n'), '')}
        RETURN NULL;
    END $$""")
    op.execute("CREATE TRIGGER rag_chunks_terms_insert AFTER INSERT ON rag_chunks"
               " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
               " EXECUTE FUNCTION rag_terms_insert()")
    op.execute("CREATE TRIGGER rag_chunks_terms_delete AFTER DELETE ON rag_chunks"
               " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT"
               " EXECUTE FUNCTION rag_terms_delete()")
    op.execute("CREATE TRIGGER rag_chunks_terms_update AFTER UPDATE ON rag_chunks"
               " REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
               " FOR EACH STATEMENT EXECUTE FUNCTION rag_terms_update()")
    # backfill
    op.execute("""
    INSERT INTO rag_terms (collection, lexeme, df)
        SELECT r.collection, l.lexeme, count(*)
        FROM rag_chunks AS r, unnest(tsvector_to_array(r.tsv)) AS l(lexeme)
        GROUP BY 1, 2""")
    op.execute("INSERT INTO rag_chunk_stats (collection, n, total_len)"
               " SELECT collection, count(*), sum(dl) FROM rag_chunks GROUP BY 1")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS rag_chunks_terms_insert ON rag_chunks")
    op.execute("DROP TRIGGER IF EXISTS rag_chunks_terms_delete ON rag_chunks")
    op.execute("DROP TRIGGER IF EXISTS rag_chunks_terms_update ON rag_chunks")
    op.execute("DROP FUNCTION IF EXISTS rag_terms_insert()")
    op.execute("DROP FUNCTION IF EXISTS rag_terms_delete()")
    op.execute("DROP FUNCTION IF EXISTS rag_terms_update()")
    op.execute("DROP TABLE IF EXISTS rag_chunk_stats")
    op.execute("DROP TABLE IF EXISTS rag_terms")
    op.execute("ALTER TABLE rag_chunks DROP COLUMN IF EXISTS dl")
    op.execute("DROP FUNCTION IF EXISTS rag_tsv_len(tsvector)")
