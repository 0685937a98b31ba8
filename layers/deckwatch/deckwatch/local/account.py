"""The control plane of a deployed environment, as the CLI's account commands reach it (`deckwatch ledger`,
`incidents`, `drills`, `approve`, `resume`...): the stack's tables and topic by their template names, through the
caller's own AWS configuration (profile, region, credentials), like any AWS tool."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deckwatch.aws import Clients
    from deckwatch.context import Services


def services(env: str, clients: Clients | None = None) -> Services:
    from deckwatch.aws import Clients
    from deckwatch.config import Settings
    from deckwatch.context import Services

    clients = clients or Clients()
    settings = Settings.model_validate(
        {
            "ENVIRONMENT": env,
            "LEDGER_TABLE": f"deckwatch-{env}-ledger",
            "STATE_TABLE": f"deckwatch-{env}-state",
            "IDEMPOTENCY_TABLE": f"deckwatch-{env}-idempotency",
            "TOPIC_ARN": "",
            "DLQ_URL": "",
            "POLICY_PARAMETER": f"/deckwatch/{env}/policy",
            "AWS_REGION": clients.region,
        }
    )
    deps = Services.build(settings, clients)
    deps.notifier.topic_arn = topic_arn(deps, env)
    return deps


def topic_arn(deps: Services, env: str) -> str:
    """The notifications topic's ARN (its name is the template's; the account is the caller's)."""
    account = deps.clients("sts").get_caller_identity()["Account"]
    return f"arn:aws:sns:{deps.clients.region}:{account}:deckwatch-{env}-notifications"


def caller(deps: Services) -> str:
    """Who is asking (the `actor` the ledger records): the caller's IAM identity."""
    return str(deps.clients("sts").get_caller_identity()["Arn"])
