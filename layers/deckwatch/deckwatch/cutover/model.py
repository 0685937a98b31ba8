"""The documents a cutover passes between its state machine's steps.

`CutoverInput` is the documented console input (events/statemachines/cutover/*.json); pipeline triggers build the
same document. `Cutover` is the running cutover as the state machine carries it in `$.cutover`.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deckwatch.config import Environment


class EmergencyOverride(BaseModel):
    """Asks to release during a change freeze whose policy allows an emergency override: a person approves it,
    and the reason is in the approval request and the ledger."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: str = Field(min_length=3, max_length=500, description="Why this cannot wait for the end of the freeze.")


class CutoverInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    environment: Environment
    service: str = Field(min_length=1, max_length=63)
    image: str | None = Field(default=None, min_length=1, max_length=1024)
    task_definition: str | None = Field(default=None, alias="taskDefinition", min_length=1, max_length=1024)
    version: str | None = Field(default=None, pattern=r"^[0-9]+$", description="Lambda: a published version.")
    strategy: Literal["canary", "linear", "all_at_once"] | None = None
    dry_run: bool = Field(default=False, alias="dryRun")
    # set by the pipeline trigger, not by people
    pipeline_execution_id: str | None = Field(default=None, alias="pipelineExecutionId")
    approved_by_pipeline: bool = Field(default=False, alias="approvedByPipeline")
    requested_by: str = Field(default="console", alias="requestedBy", max_length=256)
    # set by a pipeline's Step Functions invoke action (workload/README.md): recorded, not acted on
    pipeline: str | None = Field(default=None, max_length=100, description="The pipeline that started this.")
    commit: str | None = Field(default=None, max_length=256, description="The source revision it built.")
    emergency_override: EmergencyOverride | None = Field(default=None, alias="emergencyOverride")

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        given = [x for x in (self.image, self.task_definition, self.version) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of image, taskDefinition, version")
        return self


class Cutover(BaseModel):
    """The running cutover. Every step returns an updated copy; nothing else is carried between steps."""

    model_config = ConfigDict(extra="forbid")

    id: str
    execution: str
    environment: str
    service: str
    subject: str
    kind: str
    target: dict[str, str]
    revision: str = ""
    image: str = ""
    stable: str = ""
    new: str = ""
    capacity: int = 0
    steps: list[int]
    step_index: int = 0
    weight: int = 0
    bake_seconds: int
    interval_seconds: int = 0  # one analysis interval (the bake, when analysis is off)
    baked_seconds: int = 0  # of this step's bake, with figures (intervals without data do not count)
    failed_intervals: int = 0  # consecutive
    no_data_intervals: int = 0  # consecutive
    wait_seconds: int = 0  # the next wait of the bake task
    window_seconds: int
    approval_timeout_seconds: int
    stable_timeout_seconds: int
    alarms: list[str]
    dry_run: bool = False
    approval_needed: bool = False
    pre_traffic_check: str | None = None
    pre_traffic_done: bool = False
    pipeline_execution_id: str | None = None
    requested_by: str = "console"
    started_at: float
    deploy_started_at: float | None = None
    action: Literal["proceed", "noop", "dry_run", "wait", "override"] = "proceed"
    next: Literal["shift", "window", "finish", "bake", "after_bake", "hold", "check_window"] = "shift"
    # release windows (cutover.gate): the request again after a wait or an override's approval, when the
    # release's window opens (Wait TimestampPath), whether each shift asks the window first, and a pause's end
    request: dict[str, Any] | None = None
    window_opens_at: str | None = None
    check_window: bool = False
    hold_until: str | None = None
    window: dict[str, Any] | None = None  # the verdict that allowed the last step (ledger)
    policy_version: str | None = None
    summary: str = ""

    def doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
