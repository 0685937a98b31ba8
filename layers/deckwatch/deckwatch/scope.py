"""Where the events a stack acts on may come from: its own account, and its regions.

EventBridge delivers whatever matches a rule's pattern, and a pattern that names no account or region matches
events forwarded from anywhere (an organisation's event bus, a cross-region rule). The policy's `account` and
`regions` say what is this stack's (default: the stack's own account, from template.yaml's ACCOUNT_ID, and its own
region plus the DR regions of `drills.dr_networks`, where cross-region copies live). An event from elsewhere is
recorded as ignored, with the reason, and never acts.

Names are resolved where the stack acts: an alarm, pipeline, ECS service or DB instance named in the policy is the
one in the stack's own region (a pipeline `shop-web` in the DR region is another pipeline), so events about them
count only from there. Cost Anomaly Detection is global: its events are checked for the account only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deckwatch.context import Services

# sources whose resources the policy names by name, acted on in the stack's own region
NAMED_IN_HOME_REGION = frozenset({"aws.cloudwatch", "aws.codepipeline", "aws.ecs", "aws.rds", "deckwatch"})
GLOBAL_SOURCES = frozenset({"aws.ce", "aws.sns"})  # no region of their own (Cost Explorer's, SNS alerts')


def home(deps: Services) -> tuple[str | None, list[str]]:
    """(account, regions) this stack acts on."""
    policy = deps.policy().policy
    account = policy.account or deps.settings.account
    if policy.regions:
        return account, list(policy.regions)
    own = [deps.settings.region] if deps.settings.region else []
    return account, own + [r for r in policy.drills.dr_networks if r not in own]


def foreign(deps: Services, source: str, account: str, region: str) -> str | None:
    """Why an event from `account`/`region` is not this stack's to act on; None when it is (a field the event does
    not carry is not held against it)."""
    home_account, regions = home(deps)
    if account and home_account and account != home_account:
        return f"event from account {account}: this stack acts on account {home_account} (policy account)"
    if not region or source in GLOBAL_SOURCES:
        return None
    if regions and region not in regions:
        return f"event from {region}: this stack acts on {', '.join(regions)} (policy regions)"
    own = deps.settings.region
    if source in NAMED_IN_HOME_REGION and own and region != own:
        return f"event from {region}: the policy names {source.removeprefix('aws.')} resources of {own}, not {region}"
    return None
