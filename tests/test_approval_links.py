"""Signed approve/reject links (deckwatch.approval_links, template.yaml ApprovalLinksFunction) through the embedded
AWS: the approval state machine asks, the approver's own message carries two links, and the links are "clicked"
by invoking the function as its function URL does (payload 2.0 events), while the execution waits."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from deckwatch.approval_links import Link
from deckwatch.local.runtime import LocalAWS, Report
from support.samples import APPROVAL_INPUTS

APPROVER = "release-managers@example.com"  # the staging example policy's notifications.approvers
STRANGER = "someone@example.com"

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")


@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    # nobody answers on their own: the links (or the timeout) do
    with local_aws_factory("staging", approvals="timeout") as runtime:
        yield runtime


# ------------------------------------------------------------------ helpers -------------------------------------
def request_doc() -> dict[str, Any]:
    doc = json.loads((APPROVAL_INPUTS / "staging-remediation.json").read_text(encoding="utf-8"))
    return dict(doc) | {"timeoutSeconds": 900}


def published(rt: LocalAWS) -> list[dict[str, Any]]:
    from moto.sns.models import sns_backends

    topic = sns_backends["123456789012"]["us-east-1"].topics[rt.physical["NotificationsTopic"]]
    return [
        {"message": n[1], "subject": n[2], "attributes": {k: v["Value"] for k, v in (n[3] or {}).items()}}
        for n in topic.sent_notifications
    ]


def links_of(message: str) -> dict[str, str]:
    return {m[0].lower(): m[1] for m in re.findall(r"^(Approve|Reject):\s+(https://\S+)$", message, re.MULTILINE)}


def pending_ids(rt: LocalAWS) -> list[str]:
    items = rt.client("dynamodb").scan(TableName=rt.physical["StateTable"])["Items"]
    return [i["pk"]["S"].split("#", 1)[1] for i in items if i["pk"]["S"].startswith("approval#")]


class Browser:
    """Opens links as a browser does through the function URL: GET the link, POST the page's form."""

    def __init__(self, rt: LocalAWS) -> None:
        self.rt = rt
        self.function = rt.physical["ApprovalLinksFunction"]

    def _event(self, method: str, url: str, body: str = "") -> dict[str, Any]:
        parts = urlsplit(url)
        host = parts.netloc
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": parts.path or "/",
            "rawQueryString": parts.query,
            "headers": {"host": host, "user-agent": "pytest", "content-type": "application/x-www-form-urlencoded"},
            "requestContext": {
                "accountId": "anonymous",
                "apiId": host.split(".")[0],
                "domainName": host,
                "domainPrefix": host.split(".")[0],
                "http": {
                    "method": method,
                    "path": parts.path or "/",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.7",
                    "userAgent": "pytest",
                },
                "requestId": str(uuid.uuid4()),
                "routeKey": "$default",
                "stage": "$default",
                "time": "02/Dec/2026:10:00:00 +0000",
                "timeEpoch": int(time.time() * 1000),
            },
            "isBase64Encoded": False,
        }
        if parts.query:
            event["queryStringParameters"] = dict(parse_qsl(parts.query))
        if body:
            event["body"] = body
        return event

    def _call(self, event: dict[str, Any]) -> dict[str, Any]:
        outcome = self.rt.invoke(self.function, event)
        assert outcome.ok, outcome.error
        return dict(outcome.payload)

    def get(self, url: str) -> dict[str, Any]:
        return self._call(self._event("GET", url))

    def post(self, url: str, fields: dict[str, str]) -> dict[str, Any]:
        base = url.split("?", 1)[0]
        return self._call(self._event("POST", base, urlencode(fields)))

    def submit(self, url: str, reason: str = "") -> dict[str, Any]:
        """POST what the confirmation page's form of `url` posts: its hidden fields, and a reason."""
        page = self.get(url)
        fields = dict(re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)">', page["body"]))
        return self.post(url, fields | {"reason": reason})


def key(rt: LocalAWS) -> bytes:
    secret = rt.physical["ApprovalLinkKey"]
    return str(rt.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"]).encode()


def ask(rt: LocalAWS, clicks: Callable[[dict[str, str], str], None]) -> Report:
    """Start an approval and, while it waits, run `clicks(links of APPROVER, approval id)`."""
    before = len(published(rt))

    def links_arrived() -> bool:
        return any(m["attributes"].get("approver") == APPROVER for m in published(rt)[before:]) and bool(
            pending_ids(rt)
        )

    def click() -> None:
        mine = [m for m in published(rt)[before:] if m["attributes"].get("approver") == APPROVER]
        assert len(mine) == 1
        (aid,) = pending_ids(rt)
        clicks(links_of(mine[0]["message"]), aid)

    rt.when(links_arrived, click, "the approver clicks")
    return rt.start_execution("ApprovalStateMachine", request_doc(), name=f"links-{uuid.uuid4().hex[:8]}")


def approval_records(report: Report) -> list[dict[str, Any]]:
    return [r for r in report.ledger if r["kind"] == "approval"]


# ------------------------------------------------------------------ the tests -----------------------------------
def test_the_request_sends_each_approver_their_two_signed_links(rt: LocalAWS) -> None:
    seen: dict[str, Any] = {}

    def clicks(links: dict[str, str], aid: str) -> None:
        seen.update(links=links, aid=aid)
        Browser(rt).submit(links["approve"])

    before = len(published(rt))
    ask(rt, clicks)
    messages = published(rt)[before:]
    general = [m for m in messages if "approver" not in m["attributes"]]
    mine = [m for m in messages if m["attributes"].get("approver") == APPROVER]
    assert len(general) == 1 and len(mine) == 1
    assert f"Signed approve/reject links sent to: {APPROVER}." in general[0]["message"]
    assert links_of(general[0]["message"]) == {}  # the general message carries no links
    base = next(f["env"]["APPROVAL_LINKS_URL"] for f in rt.functions.values() if f["logical_id"] == "ApprovalFunction")
    assert set(seen["links"]) == {"approve", "reject"}
    for verdict, url in seen["links"].items():
        assert url.startswith(base + "?")
        query = dict(parse_qsl(urlsplit(url).query))
        assert query["verdict"] == verdict and query["approver"] == APPROVER and query["id"] == seen["aid"]
        assert query["env"] == "staging"
    assert mine[0]["attributes"]["environment"] == "staging"


def test_a_link_approves_once_and_a_replayed_link_is_refused(rt: LocalAWS) -> None:
    pages: dict[str, dict[str, Any]] = {}

    def clicks(links: dict[str, str], aid: str) -> None:
        browser = Browser(rt)
        pages["confirm"] = browser.get(links["approve"])
        pages["pending_after_get"] = {"ids": pending_ids(rt)}
        pages["answer"] = browser.submit(links["approve"], reason="looks good")
        pages["replay"] = browser.post(links["approve"], dict(parse_qsl(urlsplit(links["approve"]).query)))
        pages["other"] = browser.post(links["reject"], dict(parse_qsl(urlsplit(links["reject"]).query)))
        pages["confirm_again"] = browser.get(links["approve"])
        pages["aid"] = {"id": aid}

    report = ask(rt, clicks)
    (execution,) = report.executions
    assert execution["status"] == "SUCCEEDED"
    assert execution["path"] == ["RequestApproval", "Approved"]

    confirm = pages["confirm"]
    assert confirm["statusCode"] == 200
    assert "Grow storage of shop-staging-db" in confirm["body"]
    assert f"<dd>{APPROVER}</dd>" in confirm["body"].replace("&#x27;", "'")
    assert '<form method="post" action="/">' in confirm["body"]
    assert pages["pending_after_get"]["ids"] == [pages["aid"]["id"]]  # GET answered nothing

    assert pages["answer"]["statusCode"] == 200
    assert "approved" in pages["answer"]["body"]
    for name in ("replay", "other", "confirm_again"):
        assert pages[name]["statusCode"] == 409, name
        assert "already answered or has expired" in pages[name]["body"]

    records = approval_records(report)
    assert [r["decision"] for r in records] == ["requested", "approved"]
    assert records[1]["actor"] == APPROVER  # the ledger names who answered
    assert records[1]["reason"] == "looks good"


def test_a_reject_link_rejects_and_names_the_approver(rt: LocalAWS) -> None:
    answers: list[dict[str, Any]] = []
    report = ask(rt, lambda links, _: answers.append(Browser(rt).submit(links["reject"], reason="not during the sale")))
    assert answers[0]["statusCode"] == 200
    (execution,) = report.executions
    assert execution["status"] == "FAILED"
    assert execution["error"] == "ApprovalRejectedError"
    rejected = approval_records(report)[-1]
    assert (rejected["decision"], rejected["actor"], rejected["reason"]) == (
        "rejected",
        APPROVER,
        "not during the sale",
    )


def test_tampered_links_are_refused_and_answer_nothing(rt: LocalAWS) -> None:
    statuses: dict[str, int] = {}

    def clicks(links: dict[str, str], aid: str) -> None:
        browser = Browser(rt)
        good = dict(parse_qsl(urlsplit(links["approve"]).query))
        base = links["approve"].split("?", 1)[0]
        variants = {
            "verdict changed": good | {"verdict": "reject"},
            "approver changed": good | {"approver": STRANGER},
            "approval changed": good | {"id": "0" * 12},
            "expiry extended": good | {"expires": str(int(good["expires"]) + 3600)},
            "environment changed": good | {"env": "prod"},
            "signature changed": good | {"sig": good["sig"][:-2] + ("AA" if not good["sig"].endswith("AA") else "BB")},
            "no signature": {k: v for k, v in good.items() if k != "sig"},
            "signed with another key": good
            | Link("staging", aid, "approve", APPROVER, int(good["expires"])).params(b"x" * 64),
        }
        for name, fields in variants.items():
            statuses[f"GET {name}"] = browser.get(f"{base}?{urlencode(fields)}")["statusCode"]
            statuses[f"POST {name}"] = browser.post(base, fields)["statusCode"]
        statuses["still pending"] = len(pending_ids(rt))
        browser.submit(links["reject"], reason="clean up")  # let the execution finish

    report = ask(rt, clicks)
    assert statuses.pop("still pending") == 1
    assert statuses.pop("GET no signature") == statuses.pop("POST no signature") == 400
    assert set(statuses.values()) == {403}, statuses
    assert [r["decision"] for r in approval_records(report)] == ["requested", "rejected"]


def test_expired_and_foreign_links_are_refused(rt: LocalAWS) -> None:
    statuses: dict[str, int] = {}

    def clicks(links: dict[str, str], aid: str) -> None:
        browser, k = Browser(rt), key(rt)
        base = links["approve"].split("?", 1)[0]
        now = int(rt.clock.time())
        signed = {
            "expired": Link("staging", aid, "approve", APPROVER, now - 1),
            "lives too long": Link("staging", aid, "approve", APPROVER, now + 30 * 86400),
            "not an approver": Link("staging", aid, "approve", STRANGER, now + 600),
        }
        for name, link in signed.items():
            statuses[name] = browser.post(base, link.params(k))["statusCode"]
        statuses["still pending"] = len(pending_ids(rt))
        browser.submit(links["reject"], reason="clean up")

    ask(rt, clicks)
    assert statuses == {"expired": 410, "lives too long": 403, "not an approver": 403, "still pending": 1}


def test_a_link_of_an_approval_that_timed_out_is_refused(rt: LocalAWS) -> None:
    """Nobody clicks: the approval times out in simulated time, and its links with it."""
    before = len(published(rt))
    report = rt.start_execution("ApprovalStateMachine", request_doc(), name=f"timeout-{uuid.uuid4().hex[:8]}")
    (execution,) = report.executions
    assert execution["status"] == "FAILED" and execution["error"] == "ApprovalTimeoutError"
    (mine,) = [m for m in published(rt)[before:] if m["attributes"].get("approver") == APPROVER]
    link = links_of(mine["message"])["approve"]
    for page in (Browser(rt).get(link), Browser(rt).post(link, dict(parse_qsl(urlsplit(link).query)))):
        assert page["statusCode"] == 410
        assert "expired" in page["body"]


def test_pages_are_self_contained_and_locked_down(rt: LocalAWS) -> None:
    response = Browser(rt).get("https://example.lambda-url.us-east-1.on.aws/?id=1")  # not a whole link
    assert response["statusCode"] == 400
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert not re.search(r"<script|https?://|src=", response["body"])


def test_the_function_url_is_the_functions_only_public_entry() -> None:
    """AuthType NONE (approvers have no AWS credentials); the public permissions SAM adds are for the URL only."""
    from deckwatch.local.template import load
    from support.samples import REPO_ROOT

    cfn = load(REPO_ROOT, {"Environment": "staging"}).cfn["Resources"]
    urls = {k: v["Properties"] for k, v in cfn.items() if v["Type"] == "AWS::Lambda::Url"}
    assert urls == {
        "ApprovalLinksFunctionUrl": {
            "TargetFunctionArn": {"Fn::GetAtt": ["ApprovalLinksFunction", "Arn"]},
            "AuthType": "NONE",
        }
    }
    public = [v["Properties"] for v in cfn.values() if v["Type"] == "AWS::Lambda::Permission"]
    public = [p for p in public if p["Principal"] == "*"]
    assert len(public) == 2
    assert all(p["FunctionName"] == {"Ref": "ApprovalLinksFunction"} for p in public)
    assert all(p.get("FunctionUrlAuthType") == "NONE" or p.get("InvokedViaFunctionUrl") is True for p in public)
    role = cfn["ApprovalLinksFunctionRole"]["Properties"]
    actions = sorted(
        a
        for pol in role["Policies"]
        for st in pol["PolicyDocument"]["Statement"]
        for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
    )
    assert actions == sorted(
        [
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "secretsmanager:GetSecretValue",
            "sqs:SendMessage",  # SAM: the Globals' dead-letter queue and on-failure destination
            "sqs:SendMessage",
            "states:SendTaskFailure",
            "states:SendTaskSuccess",
        ]
    )
    key_secret = cfn["ApprovalLinkKey"]["Properties"]
    assert key_secret["KmsKeyId"] == {"Fn::GetAtt": ["Key", "Arn"]}
