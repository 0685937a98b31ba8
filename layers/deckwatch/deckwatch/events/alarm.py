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
    # a composite alarm whose actions a suppressor holds back: WaitPeriod, ExtensionPeriod or Alarm
    actionsSuppressedBy: str | None = None  # noqa: N815
    actionsSuppressedReason: str | None = None  # noqa: N815


class MuteDetail(Lenient):
    """An alarm mute rule muting the alarm's actions, in its window (CloudWatch alarm mute rules)."""

    mutedByArn: str = ""  # noqa: N815
    muteWindowStart: str | None = None  # noqa: N815
    muteWindowEnd: str | None = None  # noqa: N815


class AlarmDetail(Lenient):
    alarmName: str = Field(min_length=1, max_length=255)  # noqa: N815 - CloudWatch's limit on an alarm name
    state: AlarmState
    previousState: AlarmState | None = None  # noqa: N815
    configuration: dict[str, Any] = Field(default_factory=dict)
    muteDetail: MuteDetail | None = None  # noqa: N815

    @property
    def is_composite(self) -> bool:
        return "alarmRule" in self.configuration

    def silenced(self, at: str) -> str | None:
        """Why the actions of this state change are held back: a suppressor (composite alarms), or a mute rule
        whose window holds `at` (the state change's time); None when they are not."""
        from deckwatch.remediation.incidents import seconds_between

        s = self.state
        if s.actionsSuppressedBy:
            return f"actions suppressed by {s.actionsSuppressedBy}" + (
                f" ({s.actionsSuppressedReason})" if s.actionsSuppressedReason else ""
            )
        mute = self.muteDetail
        if mute is None:
            return None
        start, end = mute.muteWindowStart, mute.muteWindowEnd
        after_start = start is None or (seconds_between(start, at) or 0) >= 0
        before_end = end is None or (seconds_between(at, end) or 0) >= 0
        if after_start and before_end:
            return f"muted by {mute.mutedByArn or 'an alarm mute rule'} until {end or 'further notice'}"
        return None


class AlarmEvent(Envelope):
    source: Literal["aws.cloudwatch"]
    detail: AlarmDetail  # type: ignore[assignment]

    @property
    def alarm_arn(self) -> str:
        return self.resources[0] if self.resources else self.detail.alarmName
