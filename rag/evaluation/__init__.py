"""Retrieval evaluation: BEIR loading, ranking metrics and the `python -m rag eval` runner."""
