"""Weekly cost report (schedule, or a console input {"weekEnding": "YYYY-MM-DD"})."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from deckwatch.context import Services
from deckwatch.cost.report import ReportRequest, weekly
from deckwatch.logging import observe

logger = Logger()
services = Services.lazy()  # from the function's environment, on the first invocation


@logger.inject_lambda_context(clear_state=True)
@observe(services)  # invalid input -> InvalidEventError without its values; expected errors counted
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return weekly(ReportRequest.model_validate(event), services())
