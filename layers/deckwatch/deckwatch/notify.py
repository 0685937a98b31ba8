"""Notifications: one SNS topic per environment (KMS-encrypted, TLS-only). Subscribers (email, chat) filter on
the message attributes `capability`, `severity` and `environment`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from deckwatch.aws import Clients

Severity = Literal["info", "warning", "critical"]


class Notifier:
    def __init__(self, topic_arn: str, client: Any = None, clients: Clients | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client
        self._clients = clients

    @property
    def client(self) -> Any:
        if self._client is None:
            if self._clients is None:
                from deckwatch.aws import Clients

                self._clients = Clients()
            self._client = self._clients("sns")
        return self._client

    def publish(
        self,
        *,
        subject: str,
        text: str,
        capability: str,
        environment: str,
        severity: Severity = "info",
        data: dict[str, Any] | None = None,
        attributes: dict[str, str] | None = None,
    ) -> str:
        """Publish a readable message (with a JSON block for machines). Returns the SNS message id. `attributes`
        adds message attributes for subscription filter policies (e.g. `approver` on an approver's own links)."""
        body = text if data is None else f"{text}\n\n---\n{json.dumps(data, indent=2, sort_keys=True, default=str)}"
        extra = {k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()}
        response = self.client.publish(
            TopicArn=self.topic_arn,
            Subject=_subject(f"[deckwatch {environment}] {subject}"),
            Message=body,
            MessageAttributes={
                "capability": {"DataType": "String", "StringValue": capability},
                "severity": {"DataType": "String", "StringValue": severity},
                "environment": {"DataType": "String", "StringValue": environment},
                **extra,
            },
        )
        return str(response["MessageId"])


def _subject(text: str) -> str:
    # SNS subjects: at most 100 printable ASCII characters, no newlines.
    clean = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text.replace("\n", " "))
    return clean if len(clean) <= 100 else clean[:97] + "..."
