"""The validator's TLS: the RDS CA bundle shipped in the package (verify-full in AWS), and each mode against the
real PostgreSQL, which serves TLS with a certificate from a throwaway CA (what DRILL_CA_BUNDLE names locally)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from deckwatch.drills import validate
from deckwatch.local.mock_services import backup
from deckwatch.local.mock_services._postgres import Cluster
from deckwatch.local.runtime import LocalAWS
from deckwatch.policy.model import Assertion, DrillTarget
from support.drills import Factory, assert_cleaned_up, drill, drill_report, drill_runtime

# a certificate's subject as ssl.SSLContext.get_ca_certs() gives it: RDNs of (attribute, value) pairs
_Name = tuple[tuple[tuple[str, str], ...], ...]
ENCRYPTED = Assertion(name="encrypted", sql="select ssl from pg_stat_ssl where pid = pg_backend_pid()")


@pytest.fixture(scope="module")
def rt(local_aws_factory: Factory, drill_policy: Path, reports_dir: Path) -> Iterator[LocalAWS]:
    with drill_runtime(local_aws_factory, drill_policy, reports_dir) as runtime:
        yield runtime


def staging_target(rt: LocalAWS, tls: str) -> DrillTarget:
    with rt.control_plane() as deps:
        target = deps.policy().policy.drills.targets[0]
    checks = target.checks.model_copy(update={"assertions": [ENCRYPTED]})
    return target.model_copy(update={"tls": tls, "checks": checks})


def test_the_rds_ca_bundle_ships_in_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRILL_CA_BUNDLE", raising=False)
    bundle = Path(validate.ca_bundle())
    assert bundle.name == "rds-ca-bundle.pem" and bundle.parent.name == "drills" and bundle.is_file()
    text = bundle.read_text(encoding="ascii")
    assert "PRIVATE KEY" not in text
    subjects = {
        dict(part[0] for part in cast(_Name, cert["subject"]))["commonName"]
        for cert in ssl.create_default_context(cafile=str(bundle)).get_ca_certs()
    }
    for region in ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"):
        for root in ("RSA2048 G1", "RSA4096 G1", "ECC384 G1"):
            assert f"Amazon RDS {region} Root CA {root}" in subjects


def test_verify_full_checks_certificate_and_host_name() -> None:
    context = validate._tls("verify-full")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_drill_verifies_the_server_certificate(rt: LocalAWS) -> None:
    report, execution = drill(rt)
    assert execution["status"] == "SUCCEEDED"
    assert drill_report(report)["outcome"] == "passed"


def test_a_certificate_the_ca_bundle_does_not_vouch_for_fails_the_drill(
    rt: LocalAWS, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no DRILL_CA_BUNDLE: back to the RDS bundle, which knows nothing of the local CA
    monkeypatch.setattr(rt.mocks.backup, "ca_file", None)
    report, execution = drill(rt)
    assert execution["status"] == "FAILED"
    details = drill_report(report)["details"]
    assert [(c["name"], c["passed"], c["observed"]) for c in details["checks"]] == [("connection", False, None)]
    assert details["rto_minutes"] is None  # never validated: no RTO
    assert_cleaned_up(rt, report)


@pytest.mark.parametrize(("tls", "encrypted"), [("verify-full", True), ("require", True), ("disable", False)])
def test_each_mode_against_the_real_server(rt: LocalAWS, postgres: Cluster, tls: str, encrypted: bool) -> None:
    target = staging_target(rt, tls)
    with rt.control_plane() as deps:
        result = validate.run_checks(deps, target, "unused", (postgres.host, postgres.port))
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["connection"]["passed"], checks["connection"]
    assert checks["encrypted"]["observed"] is encrypted and checks["encrypted"]["passed"] is encrypted
    assert result["tls"] == tls


def test_the_connection_error_names_the_certificate_problem(
    rt: LocalAWS, postgres: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rt.mocks.backup, "ca_file", None)
    with rt.control_plane() as deps:
        target = staging_target(rt, "verify-full")
        result = validate.run_checks(deps, target, "unused", (postgres.host, postgres.port))
    (connection,) = result["checks"]
    assert "CERTIFICATE_VERIFY_FAILED" in connection["error"]
    assert backup.controls().endpoint == (postgres.host, postgres.port)
