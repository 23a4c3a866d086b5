"""The nodes of the answering flow, one module each (see agents/graph.py for the wiring)."""

from agents.nodes.answer import Answer
from agents.nodes.ask_for_docs import AskForDocs
from agents.nodes.clarify import Clarify
from agents.nodes.finish import Finish
from agents.nodes.retrieve import Retrieve
from agents.nodes.review import Review
from agents.nodes.supervisor import Supervisor

__all__ = ["Answer", "AskForDocs", "Clarify", "Finish", "Retrieve", "Review", "Supervisor"]
