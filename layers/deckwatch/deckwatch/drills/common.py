"""Small helpers the drill modules share: the policy target of a resource, names, ledger records, settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deckwatch.errors import ConfigError
from deckwatch.ledger import Action, Record

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.drills.model import Drill
    from deckwatch.policy.model import DrillTarget

INSTANCE_PREFIX = "deckwatch-drill-"
DEFAULT_ROLE = "arn:aws:iam::{account}:role/service-role/AWSBackupDefaultServiceRole"


def target_for(targets: list[DrillTarget], resource: str) -> DrillTarget | None:
    """A target names a DB instance/cluster id or its ARN; an RDS ARN ends with ':db:<id>' or ':cluster:<id>'."""
    for t in targets:
        if resource in (t.resource, db_id(t.resource)) or resource.endswith(
            (f":db:{t.resource}", f":cluster:{t.resource}")
        ):
            return t
    return None


def db_id(resource: str) -> str:
    """arn:aws:rds:...:db:<id> -> <id>; a bare identifier stays as it is."""
    return resource.rsplit(":", 1)[-1] if resource.startswith("arn:") else resource


def source_arn(resource: str, region: str, account: str, engine: str = "postgres") -> str:
    if resource.startswith("arn:"):
        return resource
    kind = "cluster" if engine == "aurora-postgresql" else "db"
    return f"arn:aws:rds:{region}:{account}:{kind}:{resource}"


def instance_prefix(environment: str) -> str:
    return f"{INSTANCE_PREFIX}{environment}-"


def restore_role(deps: Services, account: str) -> str:
    """The role AWS Backup restores with (template parameter DrillRestoreRoleArn; default: Backup's own)."""
    return deps.settings.drill_restore_role_arn or DEFAULT_ROLE.format(account=account)


def state_machine_arn(deps: Services) -> str:
    return deps.settings.require("drill_state_machine_arn")


def home(deps: Services) -> tuple[str, str]:
    """(account, region) of the stack, from the drill state machine's ARN (its function's own region else)."""
    arn = (deps.settings.drill_state_machine_arn or "").split(":")
    if len(arn) > 4 and arn[4]:
        return arn[4], arn[3]
    raise ConfigError("this function's environment has no DRILL_STATE_MACHINE_ARN to tell its account")


def record(
    deps: Services,
    drill: Drill,
    step: str,
    *,
    kind: str = "action",
    decision: str,
    reason: str = "",
    action: Action | None = None,
    outcome: str | None = None,
    dry_run: bool | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    deps.ledger.append(
        Record(
            record_id=f"drill:{drill.drill_id}:{step}",
            environment=drill.environment,
            capability="drills",
            subject=drill.source_arn,
            kind=kind,  # type: ignore[arg-type]
            decision=decision,
            reason=reason,
            execution_arn=drill.execution,
            action=action,
            dry_run=drill.dry_run if dry_run is None else dry_run,
            outcome=outcome,
            policy_version=drill.policy_version,
            actor=drill.requested_by,
            details={"drill_id": drill.drill_id, "recovery_point": drill.recovery_point_arn} | (details or {}),
        )
    )
