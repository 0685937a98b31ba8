"""Policy: the pydantic model of what Deckwatch manages per environment, and how it is loaded."""

from deckwatch.policy.loader import LoadedPolicy, example, load_file, parse
from deckwatch.policy.model import Policy

__all__ = ["LoadedPolicy", "Policy", "example", "load_file", "parse"]
