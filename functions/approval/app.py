"""Approval gate task (`.waitForTaskToken`): record and announce a pending approval, or its expiry."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from deckwatch.approvals import ApprovalTask, handle_task
from deckwatch.context import Services
from deckwatch.logging import observe

logger = Logger()
services = Services.lazy()  # from the function's environment, on the first invocation


@logger.inject_lambda_context(clear_state=True)
@observe(services)  # invalid input -> InvalidEventError without its values; expected errors counted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_task(ApprovalTask.model_validate({"task": event}).task, services())
