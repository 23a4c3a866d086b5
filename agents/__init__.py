"""The online answering flow: supervisor agent, nodes, observer and (in agents.llm) the LLM router.

Entry points: ``agents.runner.ask`` (UI and CLI), ``python -m agents ask|bench``.
"""
