"""CloudWatch alarms events (EventBridge)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from deckwatch.events import Envelope, Lenient


class AlarmState(Lenient):
    value: Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
    reason: str = ""
    reasonData: str | None = None  # noqa: N815 - AWS's spelling
    timestamp: str = ""


class AlarmDetail(Lenient):
    alarmName: str = Field(min_length=1, max_length=255)  # noqa: N815 - CloudWatch's limit on an alarm name
    state: AlarmState
    previousState: AlarmState | None = None  # noqa: N815
    configuration: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_composite(self) -> bool:
        return "alarmRule" in self.configuration


class AlarmEvent(Envelope):
    source: Literal["aws.cloudwatch"]
    detail: AlarmDetail  # type: ignore[assignment]

    @property
    def alarm_arn(self) -> str:
        return self.resources[0] if self.resources else self.detail.alarmName
