"""CloudWatch alarm state changes: answer the tasks watching the alarm, then select a runbook."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from deckwatch.alarms import on_duplicate, on_state_change
from deckwatch.context import Services
from deckwatch.events.alarm import AlarmEvent
from deckwatch.intake import receive
from deckwatch.logging import observe

logger = Logger()
services = Services.lazy()  # from the function's environment, on the first invocation


@logger.inject_lambda_context(clear_state=True)
@observe(services)  # invalid input -> InvalidEventError without its values; expected errors counted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receive(
        event,
        context,
        services(),
        model=AlarmEvent,
        capability="remediation",
        handle=on_state_change,
        once=on_duplicate,  # a duplicate ALARM joins its open incident in one write, its own deduplication
    )
