"""What a handler's domain function works with: settings, ledger, locks, notifier and the policy.

Built once per Lambda container on first use (never at import), injectable in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from deckwatch.config import Settings, settings
from deckwatch.ledger import Ledger
from deckwatch.locks import Locks
from deckwatch.notify import Notifier

if TYPE_CHECKING:  # the policy model is built when a policy is first read, not at import (cold start)
    from deckwatch.policy import LoadedPolicy


@dataclass
class Services:
    settings: Settings
    ledger: Ledger
    locks: Locks
    notifier: Notifier
    _policy: LoadedPolicy | None = field(default=None, repr=False)

    def policy(self) -> LoadedPolicy:
        """The environment's policy. Invalid -> PolicyError: the caller fails loudly and acts on nothing."""
        if self._policy is not None:
            return self._policy
        from deckwatch import policy as policy_mod

        s = self.settings
        if s.policy_file:
            return policy_mod.load_file(s.policy_file)
        loaded = policy_mod.load_parameter(s.policy_parameter, max_age=s.policy_cache_seconds)
        if loaded.policy.environment != s.environment:
            from deckwatch.errors import PolicyError, PolicyProblem

            raise PolicyError(
                loaded.source,
                [PolicyProblem("environment", f"is {loaded.policy.environment}, this stack is {s.environment}", None)],
            )
        return loaded


@lru_cache(maxsize=4)
def _build(s: Settings) -> Services:
    return Services(
        settings=s,
        ledger=Ledger(s.ledger_table, s.ledger_retention_days),
        locks=Locks(s.state_table),
        notifier=Notifier(s.topic_arn),
    )


def services() -> Services:
    return _build(settings())


def reset() -> None:
    """Forget cached settings and clients (the local runtime calls this for each new embedded AWS)."""
    _build.cache_clear()
    settings.cache_clear()
