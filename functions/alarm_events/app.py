"""CloudWatch alarm state changes: which runbook an alarm selects."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from deckwatch.events.alarm import AlarmEvent
from deckwatch.intake import receive
from deckwatch.remediation.triage import triage

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receive(event, context, model=AlarmEvent, capability="remediation", handle=triage)
