"""The validator: real SQL against the restored PostgreSQL, one result per check with the observed value.

Connects with the credentials of the target's Secrets Manager secret ({"username", "password"}) to the
restored instance's endpoint, over TLS as the target's `tls` says (verify-full by default: certificate and host
name against the RDS CA bundle shipped in this package, rds-ca-bundle.pem, or the file DRILL_CA_BUNDLE names;
`require` encrypts without verifying; `disable` is plain TCP, only ever by explicit configuration, and the report
says so). Every query runs under statement_timeout and in read-only transactions (startup parameters).
"""

from __future__ import annotations

import json
import os
import re
import ssl
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from deckwatch import clock
from deckwatch.drills.errors import DrillInputError, ValidatorConfigError

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.drills.model import ValidationRequest
    from deckwatch.policy.model import DrillTarget

CONNECT_TIMEOUT = 10
CA_BUNDLE_FILE = "rds-ca-bundle.pem"  # package data of deckwatch.drills: /opt/python/deckwatch/drills/ in the layer
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def validate(req: ValidationRequest, deps: Services) -> dict[str, Any]:
    from deckwatch.drills.common import target_for
    from deckwatch.logging import bind
    from deckwatch.logging import task as log_task

    bind(drill_id=req.drill_id or None)
    log_task("validate", execution=None, resource=req.instance_id)  # never the credentials
    policy = deps.policy().policy
    if req.environment != deps.settings.environment:
        raise DrillInputError(f"validation for {req.environment} sent to the {deps.settings.environment} stack")
    target = target_for(policy.drills.targets, req.target)
    if target is None:
        raise DrillInputError(f"{req.target} is not a drill target")
    endpoint = (req.endpoint.address, req.endpoint.port) if req.endpoint else None
    return run_checks(deps, target, req.instance_id, endpoint)


def run_checks(
    deps: Services, target: DrillTarget, instance_id: str, endpoint: tuple[str, int] | None = None
) -> dict[str, Any]:
    """`endpoint`: where the drill found the restored database (any region, Aurora's writer endpoint); without
    it, the instance is looked up in this region (AWS Backup restore tests)."""
    started = clock.iso()
    checks: list[dict[str, Any]] = []
    conn = None
    try:
        conn, observed = _connect(deps, target, instance_id, endpoint)
        checks.append(_check("connection", "connection", True, observed, f"tls={target.tls}"))
    except (_ConnectFailed, ValidatorConfigError) as exc:
        checks.append(_check("connection", "connection", False, None, f"tls={target.tls}", error=str(exc)))
    if conn is not None:
        try:
            checks.extend(_data_checks(conn, target))
        finally:
            conn.close()
    newest = [c["observed"] for c in checks if c["kind"] == "freshness" and c["passed"] and c["observed"]]
    return {
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
        "newest_data": max(newest) if newest else None,
        "tls": target.tls,
        "started_at": started,
        "finished_at": clock.iso(),
        "instance_id": instance_id,
    }


class _ConnectFailed(Exception):  # noqa: N818 - internal signal, reported as the connection check's error
    pass


def _connect(
    deps: Services, target: DrillTarget, instance_id: str, endpoint: tuple[str, int] | None
) -> tuple[Any, str]:
    import pg8000.native  # type: ignore[import-untyped]
    from botocore.exceptions import ClientError

    try:
        if endpoint is None:
            found = deps.clients("rds").describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"]
            endpoint = (str(found[0]["Endpoint"]["Address"]), int(found[0]["Endpoint"]["Port"]))
        secret = json.loads(deps.clients("secretsmanager").get_secret_value(SecretId=target.secret)["SecretString"])
    except (ClientError, KeyError, IndexError, ValueError) as exc:
        raise _ConnectFailed(f"cannot find the endpoint or credentials: {exc}") from None
    try:
        conn = pg8000.native.Connection(
            user=secret["username"],
            password=secret.get("password"),
            host=endpoint[0],
            port=endpoint[1],
            database=target.database,
            ssl_context=_tls(target.tls, deps.settings.drill_ca_bundle),
            timeout=CONNECT_TIMEOUT,
            application_name="deckwatch-drill-validator",
            startup_params={
                "statement_timeout": str(target.checks.statement_timeout_ms),
                "default_transaction_read_only": "on",
            },
        )
        version = conn.run("select version()")[0][0]
    except (pg8000.exceptions.InterfaceError, pg8000.exceptions.DatabaseError, OSError, KeyError) as exc:
        raise _ConnectFailed(f"{type(exc).__name__}: {exc}") from None
    return conn, str(version).split(" on ")[0]


def ca_bundle(configured: str | None = None) -> str:
    """The CA file verify-full trusts: DRILL_CA_BUNDLE when set (a private CA, or a newer bundle), else the RDS
    bundle shipped with the package."""
    from importlib.resources import files

    return configured or str(files("deckwatch.drills") / CA_BUNDLE_FILE)


def _tls(mode: str, ca_file: str | None = None) -> ssl.SSLContext | bool:
    if mode == "disable":
        return False  # False, not None: pg8000 takes None as "try TLS, unverified"
    if mode == "require":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    bundle = ca_bundle(ca_file)
    if not os.path.exists(bundle):
        raise ValidatorConfigError(f"tls verify-full needs the RDS CA bundle at {bundle} (DRILL_CA_BUNDLE)")
    return ssl.create_default_context(cafile=bundle)


def _data_checks(conn: Any, target: DrillTarget) -> list[dict[str, Any]]:
    c = target.checks
    out: list[dict[str, Any]] = []
    tables = list(dict.fromkeys([*c.tables, *c.row_count_floors, *c.freshness]))
    for schema in sorted({_split(t)[0] for t in tables}):
        out.append(
            _query(
                conn,
                f"schema {schema}",
                "schema",
                "select count(*) = 1 from pg_namespace where nspname = :s",
                {"s": schema},
                expect="exists",
                judge=bool,
            )
        )
    for table in c.tables:
        schema, name = _split(table)
        out.append(
            _query(
                conn,
                f"table {table}",
                "table",
                "select count(*) = 1 from information_schema.tables where table_schema = :s and table_name = :t",
                {"s": schema, "t": name},
                expect="exists",
                judge=bool,
            )
        )
    for table, floor in c.row_count_floors.items():
        out.append(
            _query(
                conn,
                f"rows {table}",
                "row_count",
                f"select count(*) from {_quoted(table)}",  # noqa: S608 - checked, quoted identifiers
                {},
                expect=f">= {floor}",
                judge=lambda v, f=floor: v is not None and int(v) >= f,
            )
        )
    for table, column in c.freshness.items():
        result = _query(
            conn,
            f"freshness {table}.{column}",
            "freshness",
            f"select max({_quoted_ident(column)}) from {_quoted(table)}",  # noqa: S608 - checked, quoted identifiers
            {},
            expect="not null",
            judge=lambda v: v is not None,
        )
        result["observed"] = _as_iso(result["observed"])
        out.append(result)
    for assertion in c.assertions:
        out.append(
            _query(conn, assertion.name, "assertion", assertion.sql, {}, expect="true", judge=lambda v: v is True)
        )
    return out


def _query(
    conn: Any, name: str, kind: str, sql: str, params: dict[str, Any], *, expect: str, judge: Any
) -> dict[str, Any]:
    import pg8000.exceptions  # type: ignore[import-untyped]

    try:
        rows = conn.run(sql, **params)
        value = rows[0][0] if rows and rows[0] else None
    except pg8000.exceptions.DatabaseError as exc:
        return _check(name, kind, False, None, expect, error=_pg_error(exc))
    return _check(name, kind, bool(judge(value)), value, expect)


def _check(
    name: str, kind: str, passed: bool, observed: Any, expected: str, error: str | None = None
) -> dict[str, Any]:
    if isinstance(observed, datetime):
        observed = _as_iso(observed)
    elif observed is not None and not isinstance(observed, bool | int | float | str):
        observed = str(observed)
    out = {"name": name, "kind": kind, "passed": passed, "observed": observed, "expected": expected}
    if error:
        out["error"] = error
    return out


def _pg_error(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else exc
    if isinstance(arg, dict):
        return f"{arg.get('C', '')} {arg.get('M', '')}".strip()
    return str(arg)


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return (schema or "public", name)


def _quoted_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise DrillInputError(f"{name!r} is not a plain SQL identifier")
    return '"' + name + '"'


def _quoted(table: str) -> str:
    schema, name = _split(table)
    return f"{_quoted_ident(schema)}.{_quoted_ident(name)}"


def _as_iso(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # timestamp without time zone: read as UTC
        return clock.iso(value.timestamp())
    return value
