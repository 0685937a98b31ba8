"""Restore drill tasks (statemachines/drill.asl.json) and the hourly janitor / schedule ticks."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from deckwatch.context import Services
from deckwatch.drills.model import DrillTask
from deckwatch.drills.tasks import handle, stopped_event
from deckwatch.logging import observe

logger = Logger()
services = Services.lazy()  # from the function's environment, on the first invocation


@logger.inject_lambda_context(clear_state=True)
@observe(services)  # invalid input -> InvalidEventError without its values; expected errors counted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    deps = services()
    return handle(stopped_event(event, deps) or DrillTask.model_validate({"task": event}).task, deps)
