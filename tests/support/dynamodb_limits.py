"""DynamoDB's limits on an item, checked the way DynamoDB counts (Amazon DynamoDB developer guide, "Quotas" and
"Item sizes and formats"): a partition key of at most 2048 bytes, a sort key of at most 1024 bytes (also as the
key of a secondary index), an item of at most 400 KB counting attribute names and values, and attributes nested at
most 32 levels deep. Numbers are counted at their largest (21 bytes) so that the check errs on the safe side."""

from __future__ import annotations

from typing import Any

PARTITION_KEY_BYTES = 2048
SORT_KEY_BYTES = 1024
ITEM_BYTES = 400 * 1024
NESTING = 32


def item_problems(item: dict[str, dict[str, Any]], keys: dict[str, str]) -> list[str]:
    """What makes a typed item (boto3's low-level {"S": ...} form) unwritable; `keys` maps key attributes (of the
    table and its indexes) to "HASH" or "RANGE"."""
    problems = []
    for name, kind in keys.items():
        if name not in item:
            continue
        value = item[name].get("S")
        if not isinstance(value, str) or not value:
            problems.append(f"key {name} is not a non-empty string")
            continue
        size, limit = len(value.encode()), PARTITION_KEY_BYTES if kind == "HASH" else SORT_KEY_BYTES
        if size > limit:
            problems.append(f"key {name} is {size} bytes (limit {limit})")
    total = sum(len(name.encode()) + value_bytes(value) for name, value in item.items())
    if total > ITEM_BYTES:
        problems.append(f"item is {total} bytes (limit {ITEM_BYTES})")
    depth = max((nesting(value) for value in item.values()), default=0)
    if depth > NESTING:
        problems.append(f"attributes nest {depth} levels (limit {NESTING})")
    return problems


def value_bytes(typed: dict[str, Any]) -> int:
    ((kind, value),) = typed.items()
    if kind == "S":
        return len(value.encode())
    if kind == "N":
        return 21
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "B":
        return len(value)
    if kind == "L":
        return 3 + sum(1 + value_bytes(v) for v in value)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_bytes(v) for k, v in value.items())
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v).encode()) for v in value)
    raise AssertionError(f"unknown DynamoDB type {kind}")


def nesting(typed: dict[str, Any]) -> int:
    ((kind, value),) = typed.items()
    if kind == "L":
        return 1 + max((nesting(v) for v in value), default=0)
    if kind == "M":
        return 1 + max((nesting(v) for v in value.values()), default=0)
    return 0
