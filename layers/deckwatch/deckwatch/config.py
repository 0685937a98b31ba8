"""The environment a Deckwatch function runs with, as a pydantic model read lazily (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deckwatch.errors import ConfigError

Environment = Literal["dev", "staging", "prod"]


class Settings(BaseModel):
    """Names of the control plane's own resources, injected by template.yaml's Globals."""

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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        source = os.environ if env is None else env
        known = {name: source[name] for name in _ALIASES if name in source}
        try:
            return cls.model_validate(known)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) + f" ({e['msg']})" for e in exc.errors())
            raise ConfigError(f"function environment is incomplete: {fields}") from exc


_ALIASES = tuple(f.alias for f in Settings.model_fields.values() if f.alias)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this process; cached for the life of a Lambda container."""
    return Settings.from_env()
