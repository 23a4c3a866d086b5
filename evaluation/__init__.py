"""Evaluation tooling: BEIR loading (``beir``), ranking metrics (``metrics``) and the
retrieval evaluation behind ``python -m rag eval`` (``retrieval``)."""
