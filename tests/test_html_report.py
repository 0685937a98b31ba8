"""`deckwatch report` / `deckwatch demo --report`: one self-contained HTML page from the ledger, rendered in a real
headless Chromium started here with no network (DNS and proxy blackholed, and Chromium's own net log checked for
any request the page made). The screenshot is kept under pytest's tmp dir; its path is printed (-s to see it).

Chromium: Debian's `chromium` (.ci/run installs it). Without one that starts, the browser tests skip saying why,
unless DECKWATCH_REQUIRE_BROWSER=1 (set by .ci/run): then they fail, so CI always runs them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from deckwatch.local.html_report import build, render, write
from deckwatch.local.runtime import LocalAWS
from support.samples import EVENTS, REPO_ROOT, load_event

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS::")

REQUIRE_BROWSER = os.environ.get("DECKWATCH_REQUIRE_BROWSER") == "1"
PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------ a real browser, offline ---------------------
@dataclass
class Rendered:
    dom: str
    page_requests: list[str]  # URLs the page itself asked the network for (its own file:// loads excluded)


class Chromium:
    def __init__(self, binary: str, work: Path) -> None:
        self.binary = binary
        self.work = work

    def _run(self, url: str, *extra: str, profile: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                self.binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={self.work / profile}",  # a fresh profile every time
                "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves
                "--proxy-server=http://127.0.0.1:9",  # and nothing gets out through a proxy either
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    def render(self, page: Path, screenshot: Path | None = None) -> Rendered:
        name = f"{page.parent.name}-{page.stem}"
        net_log = self.work / f"{name}-net.json"
        run = self._run(page.as_uri(), "--dump-dom", f"--log-net-log={net_log}", profile=f"{name}-dom")
        assert run.returncode == 0, run.stderr[-2000:]
        if screenshot is not None:
            shot = self._run(
                page.as_uri(), f"--screenshot={screenshot}", "--window-size=1280,2400", profile=f"{name}-png"
            )
            assert shot.returncode == 0, shot.stderr[-2000:]
        return Rendered(run.stdout, _page_requests(net_log))


def _page_requests(net_log: Path) -> list[str]:
    """Network requests the page made: URL requests whose network isolation key is the page's own (file://).
    Chromium's own background requests (its initiator is "not an origin") are not the page's."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return sorted(
        {
            e["params"]["url"]
            for e in log["events"]
            if e["type"] == start
            and str(e["params"].get("network_isolation_key", "")).startswith("file://")
            and not str(e["params"]["url"]).startswith("file:")
        }
    )


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Chromium:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if binary is None:
        problem = "no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"
    else:
        work = tmp_path_factory.mktemp("chromium")
        probe = Chromium(binary, work)._run("about:blank", "--dump-dom", profile="probe")
        if probe.returncode != 0 or "<html" not in probe.stdout:
            problem = f"{binary} does not start headless: {(probe.stderr.strip().splitlines() or ['?'])[-1]}"
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"DECKWATCH_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)
    assert binary is not None
    return Chromium(binary, tmp_path_factory.mktemp("chromium-runs"))


def count(dom: str, pattern: str) -> int:
    return len(re.findall(pattern, dom))


RTO_POINT = r'<circle class="point rto[^"]*"'
RPO_POINT = r'<rect class="point rpo[^"]*"'
WEIGHT_POINT = r'<circle class="point weight"'


# ------------------------------------------------------------------ a ledger with known contents ----------------
def _rec(time: str, env: str, capability: str, subject: str, kind: str, decision: str, **more: Any) -> dict[str, Any]:
    rid = more.pop("record_id", f"{subject}:{decision}:{time}")
    return {"record_id": rid, "time": time, "environment": env, "capability": capability, "subject": subject,
            "kind": kind, "decision": decision, "reason": more.pop("reason", ""), "actor": more.pop("actor", "event"),
            "dry_run": False, "details": more.pop("details", {}), **more}  # fmt: skip


DB = "arn:aws:rds:us-east-1:123456789012:db:shop-prod-db"
EX = "arn:aws:states:us-east-1:123456789012:execution:deckwatch-prod-cutover:"


def known_ledger() -> dict[str, list[dict[str, Any]]]:
    """prod: a cutover approved by a person that completes; one rolled back at 25%; three drills (the last
    one failed, RPO not measured); an incident mitigated in 90 s; a savings action and its resume."""
    good, bad = EX + "release-1", EX + "release-2"
    plan = {"strategy": "linear", "steps": [25, 50, 100], "stable": "blue", "new": "green"}
    prod = [
        _rec("2026-11-01T10:00:00.000Z", "prod", "cutover", "service/web", "decision", "planned",
             record_id="release-1:plan", execution_arn=good, details=plan, reason="Shift prod traffic of web"),
        _rec("2026-11-01T10:00:01.000Z", "prod", "cutover", "service/web", "approval", "requested",
             record_id="approval:a1:requested", execution_arn=good, details={"approval_id": "a1"}),
        _rec("2026-11-01T10:04:00.000Z", "prod", "cutover", "service/web", "approval", "approved",
             record_id="approval:a1:approved", execution_arn=good, details={"approval_id": "a1"},
             actor="release-managers@example.com", reason="ship it"),
        *[
            _rec(f"2026-11-01T10:{10 * (i + 1):02d}:00.000Z", "prod", "cutover", "service/web", "decision", "shifted",
                 record_id=f"release-1:shifted:{i}", execution_arn=good)
            for i in range(3)
        ],
        _rec("2026-11-01T11:00:00.000Z", "prod", "cutover", "service/web", "decision", "completed",
             record_id="release-1:completed", execution_arn=good),
        _rec("2026-11-02T10:00:00.000Z", "prod", "cutover", "service/web", "decision", "planned",
             record_id="release-2:plan", execution_arn=bad, details=plan),
        _rec("2026-11-02T10:10:00.000Z", "prod", "cutover", "service/web", "decision", "shifted",
             record_id="release-2:shifted:0", execution_arn=bad),
        _rec("2026-11-02T10:12:00.000Z", "prod", "cutover", "service/web", "decision", "rolled-back",
             record_id="release-2:rolled-back", execution_arn=bad, reason="alarm: web-5xx went to ALARM",
             details={"weight_at_rollback": 25, "time_to_rollback_seconds": 1.5}),
        *[
            _rec(f"2026-11-0{day}T03:00:00.000Z", "prod", "drills", DB, "report", f"drill-{outcome}",
                 outcome=outcome, details={"drill_id": f"d{day}", "rto_minutes": rto, "rpo_minutes": rpo,
                                           "rto_objective_minutes": 60, "rpo_objective_minutes": 15})
            for day, outcome, rto, rpo in ((3, "passed", 22, 9), (5, "passed", 71, 12), (7, "failed", 30, None))
        ],
        _rec("2026-11-04T08:00:00.000Z", "prod", "remediation", "ecs:shop/web", "incident", "incident-mitigated",
             details={"incident_id": "inc-1", "resource": "ecs:shop/web", "runbook": "ecs_scale_out",
                      "outcome": "mitigated", "incident_state": "closed", "time_to_mitigate_seconds": 90}),
        _rec("2026-11-06T20:00:00.000Z", "prod", "cost", "rds:shop-prod-db", "action", "stopped",
             execution_arn="arn:aws:states:us-east-1:123456789012:execution:deckwatch-prod-cost-savings:night",
             details={"change": {"estimated_hourly_usd": 0.5}}),
        _rec("2026-11-07T06:00:00.000Z", "prod", "cost", "rds:shop-prod-db", "action", "restored",
             actor="ops@example.com", reason="resumed after 10.0 h"),
    ]  # fmt: skip
    return {"prod": prod}


def test_page_shows_the_known_ledger(tmp_path: Path) -> None:
    page = write(tmp_path, known_ledger()).read_text(encoding="utf-8")
    assert count(page, RTO_POINT) == 3  # one point per drill
    assert count(page, RPO_POINT) == 2  # the failed drill measured no RPO
    assert count(page, r'<circle class="point rto failed"') == 1
    assert count(page, r'class="point rto missed"') == 1  # 71 min against a 60 min objective
    assert count(page, r'<line class="objective (rto|rpo)"') == 2
    assert count(page, WEIGHT_POINT) == (1 + 3) + (1 + 1 + 1)  # start + each step; start, 25%, back to 0
    assert "Rolled back at 25% because: <b>alarm: web-5xx went to ALARM</b>" in page
    assert "by <b>release-managers@example.com</b>" in page and "ship it" in page
    assert "90.0 s" in page  # time to mitigate
    assert ">restored<" in page and "$0.5000/h" in page
    # production changes: both cutovers, the savings action and its resume; only the first has an approval
    changes = page[page.index('id="approvals"') :]
    assert count(changes, r"<tr><td>") == 4
    assert count(changes, "no approval recorded") == 3
    assert json.loads((tmp_path / "ledger.json").read_text(encoding="utf-8")) == known_ledger()


def test_page_needs_nothing_from_outside() -> None:
    page = render(build(known_ledger()), "2026-11-08T00:00:00.000Z")
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", page, re.IGNORECASE)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page, re.IGNORECASE)
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith("#") for h in hrefs)  # in-page anchors only


def test_empty_ledger_still_renders() -> None:
    page = render(build({"dev": []}), "2026-11-08T00:00:00.000Z")
    assert "No cutovers in the ledger." in page and "No restore drill reports in the ledger." in page


def test_known_ledger_in_chromium(chromium: Chromium, tmp_path: Path) -> None:
    page = write(tmp_path / "known", known_ledger())
    shot = tmp_path / "known.png"
    rendered = chromium.render(page, screenshot=shot)
    assert rendered.page_requests == []
    assert count(rendered.dom, RTO_POINT) == 3 and count(rendered.dom, RPO_POINT) == 2
    assert count(rendered.dom, WEIGHT_POINT) == 7
    assert count(rendered.dom, "<svg") >= 2 + 2  # a chart per cutover, two per drilled resource
    assert shot.read_bytes().startswith(PNG)
    print(f"\nscreenshot of the known ledger's page: {shot}")


def test_the_offline_check_sees_a_page_that_reaches_out(chromium: Chromium, tmp_path: Path) -> None:
    """The no-network check above can fail: a page with a CDN stylesheet and an image is caught."""
    page = tmp_path / "cdn" / "index.html"
    page.parent.mkdir()
    page.write_text(
        '<!doctype html><link rel=stylesheet href="https://cdn.example.com/a.css"><img src="http://img.example.org/'
        'x.png"><p>hello</p>',
        encoding="utf-8",
    )
    assert chromium.render(page).page_requests == ["http://img.example.org/x.png", "https://cdn.example.com/a.css"]


# ------------------------------------------------------------------ the demo, end to end --------------------------
@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`deckwatch demo --report DIR`: every scenario on the embedded AWS, then the page of their ledgers."""
    from deckwatch.local.cli import main

    out = tmp_path_factory.mktemp("demo-report")
    with contextlib.redirect_stdout(io.StringIO()) as narration:
        assert main(["demo", "--root", str(REPO_ROOT), "--report", str(out)]) == 0
    assert f"{out / 'index.html'}" in narration.getvalue()
    return out


def test_demo_report_renders_offline_with_a_point_per_drill(
    demo_report: Path, chromium: Chromium, tmp_path: Path
) -> None:
    ledgers = json.loads((demo_report / "ledger.json").read_text(encoding="utf-8"))
    records = [r for env in ledgers.values() for r in env]
    drills = [r for r in records if r["capability"] == "drills" and r["kind"] == "report"]
    rollbacks = [r for r in records if r["decision"] == "rolled-back"]
    approvals = [r for r in records if r["kind"] == "approval" and r["decision"] == "approved"]
    assert {"staging", "prod"} <= set(ledgers)
    assert drills and rollbacks and approvals  # what the demo does: it shows each of them

    shot = tmp_path / "demo-report.png"
    rendered = chromium.render(demo_report / "index.html", screenshot=shot)
    dom = rendered.dom
    assert rendered.page_requests == []
    assert "<title>Deckwatch demo report" in dom
    for section in ("cutovers", "incidents", "drills", "savings", "approvals"):
        assert f'<section id="{section}">' in dom
    assert count(dom, RTO_POINT) == sum(isinstance(d["details"].get("rto_minutes"), int | float) for d in drills)
    assert count(dom, RPO_POINT) == sum(isinstance(d["details"].get("rpo_minutes"), int | float) for d in drills)
    shifted = [r for r in records if r["capability"] == "cutover" and r["decision"] == "shifted"]
    cutovers = {r["execution_arn"] for r in records if r["capability"] == "cutover" and r["decision"] == "planned"}
    assert count(dom, WEIGHT_POINT) == len(cutovers) + len(shifted) + len(rollbacks)
    for rec in rollbacks:
        assert rec["reason"].split(":", 1)[0] in dom
    assert shot.read_bytes().startswith(PNG) and shot.stat().st_size > 20_000
    print(f"\nscreenshot of the demo's report: {shot}")


# ------------------------------------------------------------------ `deckwatch report` on an account ---------------
@pytest.fixture(scope="module")
def rt(local_aws_factory: Callable[..., AbstractContextManager[LocalAWS]]) -> Iterator[LocalAWS]:
    with local_aws_factory("staging") as runtime:
        yield runtime


def test_report_command_reads_the_environments_ledger(rt: LocalAWS, tmp_path: Path) -> None:
    """As against a deployed stack: the caller's AWS configuration (here, the embedded AWS), the stack's tables."""
    from deckwatch.local.cli import main

    rt.replay(load_event(EVENTS / "pipeline_events" / "action-build-succeeded.json"))
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["report", "--env", "staging", "--out", str(tmp_path)]) == 0
    assert str(tmp_path / "index.html") in out.getvalue()
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert 'data-env="staging"' in page and ">completed<" in page
    assert count(page, WEIGHT_POINT) >= 3  # start, 10%, 100%
