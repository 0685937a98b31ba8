"""DynamoDB at the cost AWS has, with moto's answers unchanged:

- Transactions: moto's TransactWriteItems deep-copies every table it touches (to roll back on failure), which makes
  each ledger write cost O(records in the ledger) and an alarm storm quadratic. Here a transaction snapshots only
  the items it touches, and restores exactly those when it is cancelled; the outcome (all or nothing,
  CancellationReasons) is moto's own.
- Item responses: the item operations' results (GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan,
  BatchGetItem...) are DynamoDB JSON already once moto has typed them (`dynamo_to_dict`); they are written as
  JSON directly, as DynamoDB's JSON protocol does, instead of through moto's generic serializer, which walks every
  attribute of every item against the service model and costs more than the query itself.
"""

from __future__ import annotations

import copy
import threading
import types
from typing import Any

_installed = False
_lock = threading.Lock()


def install() -> None:
    global _installed  # noqa: PLW0603 - moto's classes are process-wide, so is this flag
    with _lock:
        if _installed:
            return
        _patch()
        _installed = True


def _patch() -> None:
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        # the whole-table backup of TransactWriteItems: not needed, the touched items are saved below
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)  # type: ignore[assignment,attr-defined]
    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for item in transact_items:
            _, op = next(iter(item.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            key = _key(table, op.get("Item") or op.get("Key") or {})
            if key is not None:
                saved.append((table, *key, copy.deepcopy(_get(table, *key))))
        try:
            original(self, transact_items)
        except Exception:
            for table, hk, rk, old in reversed(saved):
                _set(table, hk, rk, old)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _patch_item_responses()


ITEM_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem"}
)


def _patch_item_responses() -> None:
    import json

    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        operation = context.operation_model
        if operation.name not in ITEM_OPERATIONS or not isinstance(self.result, dict):
            return original(self, context)
        members = operation.output_shape.members if operation.output_shape is not None else {}
        body = {k: v for k, v in self.result.items() if k in members}
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body, default=_wire)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


def _wire(value: Any) -> Any:
    """What DynamoDB's JSON protocol writes for the few non-JSON values of a result: binary attributes as base64."""
    import base64

    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"{type(value).__name__} in a DynamoDB item result")


def _key(table: Any, attrs: dict[str, Any]) -> tuple[Any, Any] | None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    if table.hash_key_attr not in attrs:
        return None
    rk = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr in attrs else None
    return DynamoType(attrs[table.hash_key_attr]), rk


def _get(table: Any, hk: Any, rk: Any) -> Any:
    if table.range_key_attr is not None:
        return table.items.get(hk, {}).get(rk)
    return table.items.get(hk)


def _set(table: Any, hk: Any, rk: Any, old: Any) -> None:
    if table.range_key_attr is not None:
        bucket = table.items.get(hk)
        if old is not None:
            table.items[hk][rk] = old
        elif bucket is not None:
            bucket.pop(rk, None)
            if not bucket:
                table.items.pop(hk, None)
    elif old is not None:
        table.items[hk] = old
    else:
        table.items.pop(hk, None)
