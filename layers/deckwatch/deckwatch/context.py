"""What a handler's domain function works with: settings, clients, ledger, state store, notifier and the policy.

A handler module builds its services once per Lambda container, on first use (never at import time):

    services = Services.lazy()          # module level, beside the Powertools Logger

    def lambda_handler(event, context):
        return handle(parse(event), services())

Nothing here is process-wide: two `Services` (two functions run in one process by the local runtime, or a test)
share no clients, caches or settings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from deckwatch.aws import Clients
from deckwatch.config import Settings
from deckwatch.ledger import Ledger
from deckwatch.notify import Notifier
from deckwatch.state import StateStore

if TYPE_CHECKING:  # the policy model is built when a policy is first read, not at import (cold start)
    from deckwatch.policy import LoadedPolicy


@dataclass
class Services:
    settings: Settings
    clients: Clients
    ledger: Ledger
    state: StateStore
    notifier: Notifier
    _policy: LoadedPolicy | None = field(default=None, repr=False)
    _policy_read: tuple[float, str] | None = field(default=None, repr=False)  # (when, text) of the last read
    _idempotency: Any = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings, clients: Clients | None = None) -> Services:
        clients = clients or Clients(region=settings.region)
        return cls(
            settings=settings,
            clients=clients,
            ledger=Ledger(settings.ledger_table, settings.ledger_retention_days, clients=clients),
            state=StateStore(settings.state_table, clients=clients),
            notifier=Notifier(settings.topic_arn, clients=clients),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, clients: Clients | None = None) -> Services:
        return cls.build(Settings.from_env(env), clients)

    @classmethod
    def lazy(cls) -> Callable[[], Services]:
        """Services from the process environment, built on the first call and kept (a handler's module global)."""
        lock = threading.Lock()
        built: list[Services] = []

        def get() -> Services:
            with lock:
                if not built:
                    built.append(cls.from_env())
                return built[0]

        return get

    def policy(self) -> LoadedPolicy:
        """The environment's policy. Invalid -> PolicyError: the caller fails loudly and acts on nothing."""
        if self._policy is not None:
            return self._policy
        from deckwatch import policy as policy_mod

        s = self.settings
        if s.policy_file:
            return policy_mod.load_file(s.policy_file)
        loaded = policy_mod.parse(self._policy_text(), f"ssm:{s.policy_parameter}")
        if loaded.policy.environment != s.environment:
            from deckwatch.errors import PolicyError, PolicyProblem

            raise PolicyError(
                loaded.source,
                [PolicyProblem("environment", f"is {loaded.policy.environment}, this stack is {s.environment}", None)],
            )
        return loaded

    def _policy_text(self) -> str:
        """The policy parameter's value, read again once it is `policy_cache_seconds` old: a changed policy takes
        effect within a minute, with no redeploy."""
        from deckwatch import clock

        now = clock.now_epoch()
        cached = self._policy_read
        if cached is None or now - cached[0] >= self.settings.policy_cache_seconds:
            found = self.clients("ssm").get_parameter(Name=self.settings.policy_parameter, WithDecryption=True)
            cached = self._policy_read = (now, str(found["Parameter"]["Value"]))
        return cached[1]

    def idempotency_store(self) -> Any:
        """Powertools' DynamoDB persistence layer on the idempotency table (built on first use)."""
        if self._idempotency is None:
            from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

            self._idempotency = DynamoDBPersistenceLayer(
                table_name=self.settings.idempotency_table, boto3_client=self.clients("dynamodb")
            )
        return self._idempotency
