"""Benchmarks, fakes and probes: tooling that measures the product, never run by the app.

``python -m rag bench``, ``python -m agents bench`` and ``python -m agents.llm bench``
dispatch here; ``fake_llm`` is the instant scripted LLM the benches and tests use;
``loop_probe`` measures event-loop lag when ``DOCCHAT_LOOP_PROBE=1``.
"""
