"""CodePipeline state changes: which service a pipeline event concerns, and what it asks for."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from deckwatch.cutover.triage import triage
from deckwatch.events.pipeline import PipelineEvent
from deckwatch.intake import receive

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receive(event, context, model=PipelineEvent, capability="cutover", handle=triage)
