"""CodePipeline events (EventBridge)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from deckwatch.events import Envelope, Lenient


class S3Location(Lenient):
    bucket: str
    key: str


class Artifact(Lenient):
    name: str
    s3location: S3Location | None = None


class ActionType(Lenient):
    owner: str = ""
    category: str
    provider: str = ""
    version: str | int = "1"


class PipelineDetail(Lenient):
    pipeline: str = Field(min_length=1)
    execution_id: str = Field(alias="execution-id", min_length=1)
    state: str = Field(min_length=1)
    stage: str | None = None
    action: str | None = None
    type: ActionType | None = None
    output_artifacts: list[Artifact] = Field(default_factory=list, alias="output-artifacts")


class PipelineEvent(Envelope):
    source: Literal["aws.codepipeline"]
    detail: PipelineDetail  # type: ignore[assignment]
