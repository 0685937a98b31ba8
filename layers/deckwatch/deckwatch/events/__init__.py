"""Pydantic models of the AWS events Deckwatch consumes (see the field notes on AWS event schemas).

The envelope is strict about what Deckwatch relies on and tolerant of everything else: AWS adds fields over time,
and an unknown field must never break a handler. Numbers that AWS emits as strings stay strings.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# PutEvents' limits on an entry (EventBridge API reference, PutEventsRequestEntry): a resource ARN is at most 2048
# characters, a detail-type at most 128.
Resource = Annotated[str, Field(max_length=2048)]


class Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class Envelope(Lenient):
    """The EventBridge envelope common to every AWS service event."""

    version: str = "0"
    id: str = Field(min_length=1, max_length=256)
    detail_type: str = Field(alias="detail-type", min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=256)
    account: str = ""
    time: str = Field(min_length=1)
    region: str = ""
    resources: list[Resource] = Field(default_factory=list)
    detail: dict[str, Any]

    @property
    def origin(self) -> tuple[str, str, str]:
        """(source, account, region): where the event comes from (deckwatch.scope)."""
        return self.source, self.account, self.region

    @property
    def origin_subject(self) -> str:
        """What a record of the event is about, before a capability reads it: its first resource, or its kind."""
        return self.resources[0] if self.resources else f"{self.source}/{self.detail_type}"

    @field_validator("account", mode="before")
    @classmethod
    def _account_as_text(cls, value: Any) -> str:
        # AWS documentation samples sometimes show the account as a bare number.
        return str(value) if value is not None else ""
