"""The environment a Deckwatch function runs with, as one pydantic model: every variable template.yaml (or Lambda)
sets, read once when a handler builds its services (never at import time), and nowhere else.

Variables every function has are required; the ones only some functions have are optional here and asked for
with `require(...)`, which names the missing variable (a function wired wrongly fails loudly, never with "").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deckwatch.errors import ConfigError

Environment = Literal["dev", "staging", "prod"]


class Settings(BaseModel):
    """Names of the control plane's own resources, injected by template.yaml (Globals and per function)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    environment: Environment = Field(alias="ENVIRONMENT")
    ledger_table: str = Field(alias="LEDGER_TABLE")
    state_table: str = Field(alias="STATE_TABLE")
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE")
    topic_arn: str = Field(alias="TOPIC_ARN")
    dlq_url: str = Field(alias="DLQ_URL")
    policy_parameter: str = Field(alias="POLICY_PARAMETER")
    # A local file overrides the SSM parameter (local runtime, tests).
    policy_file: str | None = Field(default=None, alias="DECKWATCH_POLICY_FILE")
    ledger_retention_days: int = Field(default=400, alias="LEDGER_RETENTION_DAYS", ge=1)
    policy_cache_seconds: int = Field(default=60, alias="POLICY_CACHE_SECONDS", ge=0)
    region: str | None = Field(default=None, alias="AWS_REGION", description="Set by Lambda.")
    account: str | None = Field(
        default=None, alias="ACCOUNT_ID", description="The stack's account (template.yaml Globals: AWS::AccountId)."
    )
    metrics_namespace: str = Field(default="Deckwatch", alias="POWERTOOLS_METRICS_NAMESPACE")
    # Per function (see template.yaml); `require` them.
    cutover_state_machine_arn: str | None = Field(default=None, alias="CUTOVER_STATE_MACHINE_ARN")
    remediation_state_machine_arn: str | None = Field(default=None, alias="REMEDIATION_STATE_MACHINE_ARN")
    savings_state_machine_arn: str | None = Field(default=None, alias="COST_SAVINGS_STATE_MACHINE")
    drill_state_machine_arn: str | None = Field(default=None, alias="DRILL_STATE_MACHINE_ARN")
    drill_validator_function: str | None = Field(default=None, alias="DRILL_VALIDATOR_FUNCTION")
    drill_restore_role_arn: str | None = Field(default=None, alias="DRILL_RESTORE_ROLE_ARN")
    drill_reports_bucket: str | None = Field(default=None, alias="DRILL_REPORTS_BUCKET")
    drill_ca_bundle: str | None = Field(default=None, alias="DRILL_CA_BUNDLE", description="Another CA bundle.")
    report_bucket: str | None = Field(default=None, alias="REPORT_BUCKET")
    # Signed approval links (deckwatch.approval_links): the function URL that answers them, and the key's secret.
    approval_links_url: str | None = Field(default=None, alias="APPROVAL_LINKS_URL")
    approval_link_key_secret: str | None = Field(default=None, alias="APPROVAL_LINK_KEY_SECRET")
    # Local folders that receive reports as files (the local runtime, `deckwatch demo`); unset in AWS.
    drill_reports_dir: str | None = Field(default=None, alias="DECKWATCH_DRILL_REPORTS_DIR")
    report_dir: str | None = Field(default=None, alias="DECKWATCH_REPORT_DIR")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        known = {name: source[name] for name in _ALIASES if name in source}
        try:
            return cls.model_validate(known)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) + f" ({e['msg']})" for e in exc.errors())
            raise ConfigError(f"function environment is incomplete: {fields}") from exc

    def require(self, field: str) -> str:
        """An optional setting this code path needs; ConfigError naming its variable when it is not set."""
        value = getattr(self, field)
        if not value:
            alias = Settings.model_fields[field].alias
            raise ConfigError(f"this function's environment has no {alias} (template.yaml wires it per function)")
        return str(value)


_ALIASES = tuple(f.alias for f in Settings.model_fields.values() if f.alias)
