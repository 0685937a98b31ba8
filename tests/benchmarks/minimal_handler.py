"""The baseline of the cold-start bench: the smallest Powertools handler that makes the same AWS calls as a
Deckwatch handler's first invocation (policy read from SSM and parsed, one ledger write: a Query and a
TransactWriteItems), with nothing else. Loaded by _probe.py as `app`, as Lambda loads functions/*/app.py."""

from typing import Any

import boto3
import yaml
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    policy = yaml.safe_load(boto3.client("ssm").get_parameter(Name="policy", WithDecryption=True)["Parameter"]["Value"])
    ddb = boto3.client("dynamodb")
    ddb.query(
        TableName="ledger",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "chain#bench"}},
        Limit=1,
    )
    item = {"pk": {"S": "bench"}, "sk": {"S": "0"}, "decision": {"S": "bench"}}
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "ledger", "Item": item}}])
    return {"environment": policy["environment"]}
