"""Approvals people can click: signed, expiring, single-use approve and reject links.

An approval request (deckwatch.approvals.request) sends each approver of the policy (notifications.approvers) a
message of their own with two links to the stack's ApprovalLinksFunction (a Lambda function URL):

    https://<id>.lambda-url.<region>.on.aws/?env=prod&id=<approval id>&verdict=approve&approver=<who>
                                              &expires=<epoch>&sig=<HMAC>      (one line)

- signed: `sig` is an HMAC-SHA256, keyed by the stack's secret (template.yaml ApprovalLinkKey, KMS-encrypted with
  the stack's key), over the environment, approval id, verdict, approver and expiry; changing any of them breaks
  it. The URL needs no AWS credentials (AuthType NONE); without a valid signature nothing is read or answered.
- expiring: the link expires with its approval (the request's timeout);
- single use: answering goes through approvals.decide, which claims the pending approval exactly once: a second
  click, of the same link or of the other one, finds nothing to answer;
- who: the approver named in the link (the policy must still list them) is the ledger's actor of the answer.

GET shows a confirmation page and changes nothing (mail clients and link scanners open links by themselves);
only POST, the page's button, answers. Pages are self-contained HTML (no scripts, no external resources) sent
with a Content-Security-Policy that allows nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode

from deckwatch import clock
from deckwatch.errors import DeckwatchError

if TYPE_CHECKING:
    from deckwatch.context import Services

Verdict = Literal["approve", "reject"]
VERDICTS: tuple[Verdict, ...] = ("approve", "reject")
FIELDS = ("env", "id", "verdict", "approver", "expires", "sig")
MAX_LIFETIME_SECONDS = 7 * 86400 + 300  # the longest approval timeout (approvals.ApprovalRequest), and some slack
KEY_CACHE_SECONDS = 300
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class LinkError(DeckwatchError):
    """A link that answers nothing; `status` is the HTTP status of the page that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Link:
    environment: str
    approval_id: str
    verdict: Verdict
    approver: str
    expires: int

    def signed_text(self) -> bytes:
        fields = ["deckwatch-approval-link/1", self.environment, self.approval_id, self.verdict, self.approver]
        return "\n".join([*fields, str(self.expires)]).encode()

    def signature(self, key: bytes) -> str:
        digest = hmac.new(key, self.signed_text(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def params(self, key: bytes) -> dict[str, str]:
        return {
            "env": self.environment,
            "id": self.approval_id,
            "verdict": self.verdict,
            "approver": self.approver,
            "expires": str(self.expires),
            "sig": self.signature(key),
        }

    def url(self, base: str, key: bytes) -> str:
        return f"{base.rstrip('/')}/?{urlencode(self.params(key))}"


def links_for(base: str, key: bytes, environment: str, approval_id: str, approver: str, expires: int) -> dict[str, str]:
    """verdict -> URL, the two links of one approver."""
    return {v: Link(environment, approval_id, v, approver, expires).url(base, key) for v in VERDICTS}


def verify(params: Mapping[str, str], key: bytes, environment: str, approvers: list[str]) -> Link:
    """The link `params` (query string or form fields) carry, if it may answer now; LinkError saying why not.
    The signature is checked first: nothing about an unsigned link is looked at further."""
    missing = [f for f in FIELDS if not params.get(f)]
    if missing:
        raise LinkError(400, f"this is not a complete approval link (no {', '.join(missing)})")
    verdict = params["verdict"]
    if verdict not in VERDICTS or not params["expires"].isdigit():
        raise LinkError(400, "this is not an approval link")
    checked: Verdict = "approve" if verdict == "approve" else "reject"
    link = Link(params["env"], params["id"], checked, params["approver"], int(params["expires"]))
    if not hmac.compare_digest(link.signature(key), params["sig"]):
        raise LinkError(403, "this link's signature is not valid: it was changed, or it is not from this stack")
    if link.environment != environment:
        raise LinkError(403, f"this link is for {link.environment}, not {environment}")
    now = clock.now_epoch()
    if link.expires <= now:
        raise LinkError(410, "this link has expired, and with it the approval request (it counts as rejected)")
    if link.expires > now + MAX_LIFETIME_SECONDS:
        raise LinkError(403, "this link lives longer than any approval may")
    if link.approver not in approvers:
        raise LinkError(403, f"{link.approver} is no longer an approver in the {environment} policy")
    return link


# ---------------------------------------------------------------------------------------------- the key -------
_keys: dict[str, tuple[float, bytes]] = {}
_keys_lock = threading.Lock()


def key(deps: Services) -> bytes:
    """The stack's link key (Secrets Manager, APPROVAL_LINK_KEY_SECRET), read at most every five minutes."""
    secret = deps.settings.require("approval_link_key_secret")
    with _keys_lock:
        cached = _keys.get(secret)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
    value = str(deps.clients("secretsmanager").get_secret_value(SecretId=secret)["SecretString"])
    if len(value) < 32:
        raise DeckwatchError(f"the approval link key in {secret} is too short to sign with")
    with _keys_lock:
        _keys[secret] = (time.monotonic(), value.encode())
    return value.encode()


def approvers(deps: Services) -> list[str]:
    return list(deps.policy().policy.notifications.approvers)


# ---------------------------------------------------------------------------------------------- the pages -----
@dataclass(frozen=True)
class Page:
    status: int
    html: str


def show(params: Mapping[str, str], deps: Services) -> Page:
    """GET: what the link would do, and a button that does it. Changes nothing."""
    try:
        link = verify(params, key(deps), deps.settings.environment, approvers(deps))
    except LinkError as exc:
        return _page(exc.status, "This link cannot be used", str(exc))
    pending = deps.state.approvals.get(link.approval_id)
    if pending is None:
        return _page(409, "Nothing to answer", f"Approval {link.approval_id} was already answered or has expired.")
    verb = "Approve" if link.verdict == "approve" else "Reject"
    hidden = "".join(f'<input type="hidden" name="{k}" value="{html.escape(params[k])}">' for k in FIELDS)
    body = (
        f"<dl><dt>Environment</dt><dd>{_e(pending.get('environment'))}</dd>"
        f"<dt>Capability</dt><dd>{_e(pending.get('capability'))}</dd>"
        f"<dt>Subject</dt><dd>{_e(pending.get('subject'))}</dd>"
        f"<dt>Request</dt><dd>{_e(pending.get('summary'))}</dd>"
        f"<dt>Answering as</dt><dd>{_e(link.approver)}</dd>"
        f"<dt>Link valid until</dt><dd>{_e(clock.iso(link.expires))}</dd></dl>"
        f'<form method="post" action="/">{hidden}'
        f'<label for="reason">Reason (recorded in the ledger{", and required" if verb == "Reject" else ""})</label>'
        f'<textarea id="reason" name="reason" maxlength="1000"{" required" if verb == "Reject" else ""}></textarea>'
        f'<button type="submit" class="{link.verdict}">{verb}</button></form>'
    )
    return _page(200, f"{verb} approval {link.approval_id}?", body, raw=True)


def answer(form: Mapping[str, str], deps: Services) -> Page:
    """POST: answer the approval, once."""
    from deckwatch import approvals
    from deckwatch.errors import ApprovalNotFoundError

    try:
        link = verify(form, key(deps), deps.settings.environment, approvers(deps))
    except LinkError as exc:
        return _page(exc.status, "This link cannot be used", str(exc))
    approve = link.verdict == "approve"
    done = "approved" if approve else "rejected"
    reason = " ".join(form.get("reason", "").split())[:1000] or f"{done} through the signed link of {link.approver}"
    try:
        verdict = approvals.decide(deps, link.approval_id, approve=approve, actor=link.approver, reason=reason)
    except ApprovalNotFoundError:
        return _page(409, "Nothing to answer", f"Approval {link.approval_id} was already answered or has expired.")
    return _page(200, f"Approval {link.approval_id} {verdict}", f"Recorded in the ledger as {link.approver}: {reason}")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _page(status: int, title: str, body: str, raw: bool = False) -> Page:
    content = body if raw else f"<p>{_e(body)}</p>"
    return Page(
        status,
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} - Deckwatch</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{_e(title)}</h1>{content}</main></body></html>",
    )


_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}"
    "main{max-width:40rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;"
    "box-shadow:0 1px 3px #0002}h1{font-size:1.4rem;margin-top:0}dt{font-weight:600}dd{margin:0 0 .6rem}"
    "textarea{display:block;width:100%;min-height:4rem;margin:.3rem 0 1rem;box-sizing:border-box}"
    "button{font-size:1rem;padding:.6rem 1.4rem;border:0;border-radius:4px;color:#fff;cursor:pointer}"
    "button.approve{background:#1a7f37}button.reject{background:#c62828}"
)
