"""The second baseline of the cold-start bench: minimal_handler.py validating what it reads with one pydantic model,
as a Powertools handler does with the parser utility (`event_parser`, pydantic models with a description per field,
the style Deckwatch's event, policy and record models follow). Same AWS calls, nothing else.

It answers one question with a figure of the same run: how much of a Deckwatch handler's cold start is the price of
validating through pydantic at all, and how much is Deckwatch's own code. Its calls repeat minimal_handler.py's on
purpose: a baseline is one self-contained file, loaded as Lambda loads app.py, importing nothing of the bench."""

from typing import Any

import boto3
import yaml
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

logger = Logger()


class Policy(BaseModel):
    """The one field this handler reads from the policy."""

    environment: str = Field(description="The environment the policy is for.")


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    text = boto3.client("ssm").get_parameter(Name="policy", WithDecryption=True)["Parameter"]["Value"]
    policy = Policy.model_validate(yaml.safe_load(text))
    ddb = boto3.client("dynamodb")
    ddb.query(
        TableName="ledger",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "chain#bench"}},
        Limit=1,
    )
    item = {"pk": {"S": "bench"}, "sk": {"S": "0"}, "decision": {"S": "bench"}}
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "ledger", "Item": item}}])
    return {"environment": policy.environment}
