"""`deckwatch report`: one self-contained HTML page from the ledger, to look at rather than read.

    deckwatch report --env prod --out report/            # a deployed environment (real AWS)
    deckwatch demo --report report/                      # every environment the demo ran, on the embedded AWS

Sections: cutovers (a timeline of their steps, the new colour's traffic weight over time, why a rollback happened,
the approvals behind it), incidents (time to mitigate), restore drills (RTO and RPO against their objectives over
time, one point per drill), cost savings actions and resumes, and production changes with their approvals.

The page needs nothing at view time: CSS and SVG are inline, there is no script and no external reference (no
CDN, no web font, no image), so it opens from a mail attachment or an artifact store offline. Only ledger records
go in; nothing is fetched from AWS beyond them.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

CAPABILITIES = ("cutover", "remediation", "drills", "cost", "core")
Records = list[dict[str, Any]]


# ---------------------------------------------------------------------------------------------- reading ---------
def from_ledger(ledger: Any, since: str = "") -> Records:
    """Every record of a ledger (deckwatch.ledger.Ledger), through its by_capability index."""
    out: dict[str, dict[str, Any]] = {}
    for capability in CAPABILITIES:
        for rec in ledger.by_capability(capability, since=since):
            out[rec["record_id"]] = {k: v for k, v in rec.items() if k not in ("pk", "sk", "day", "expires_at")}
    return sorted(out.values(), key=lambda r: (str(r["time"]), str(r["record_id"])))


@contextlib.contextmanager
def collecting() -> Iterator[dict[str, dict[str, dict[str, Any]]]]:
    """While active, every embedded AWS (LocalAWS) that stops first hands its ledger over: environment ->
    record id -> record. `deckwatch demo --report` uses it: the demo runs a new embedded AWS per scenario."""
    from deckwatch.ledger import Ledger
    from deckwatch.local.runtime import LocalAWS

    found: dict[str, dict[str, dict[str, Any]]] = {}
    original = LocalAWS.stop

    def stop(self: LocalAWS) -> None:
        try:
            self.settle()  # what the scenario left running finishes first, as stop() would
            ledger = Ledger(self.physical["LedgerTable"], client=self.client("dynamodb"))
            for rec in from_ledger(ledger):
                found.setdefault(self.environment, {})[rec["record_id"]] = rec
        finally:
            original(self)

    LocalAWS.stop = stop  # type: ignore[method-assign]
    try:
        yield found
    finally:
        LocalAWS.stop = original  # type: ignore[method-assign]


# ---------------------------------------------------------------------------------------------- the model -------
def _t(iso: str) -> float:
    return datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp()


def _name(arn: str | None) -> str:
    return str(arn or "").rsplit(":", 1)[-1]


@dataclass
class Cutover:
    execution: str
    environment: str
    subject: str
    records: Records
    approvals: Records = field(default_factory=list)

    @property
    def name(self) -> str:
        return _name(self.execution)

    @property
    def plan(self) -> dict[str, Any]:
        return next((r for r in self.records if r["decision"] == "planned"), {})

    @property
    def steps(self) -> list[int]:
        return [int(s) for s in self.plan.get("details", {}).get("steps", [])]

    @property
    def start(self) -> str:
        return str(self.records[0]["time"])

    @property
    def end(self) -> str:
        return str(self.records[-1]["time"])

    @property
    def outcome(self) -> str:
        decisions = [r["decision"] for r in self.records]
        for decision, label in (("rolled-back", "rolled back"), ("completed", "completed"), ("failed", "failed")):
            if decision in decisions:
                return label
        if "no-op" in decisions:
            return "nothing to do"
        if self.records[0].get("dry_run"):
            return "dry run"
        return "in progress"

    @property
    def rollback(self) -> dict[str, Any] | None:
        return next((r for r in self.records if r["decision"] == "rolled-back"), None)

    def weights(self) -> list[tuple[str, int]]:
        """(time, weight of the new colour) at each change: 0 at the start, each step shifted to, 0 at a rollback."""
        points = [(self.start, 0)]
        for rec in self.records:
            if rec["decision"] == "shifted":
                index = int(str(rec["record_id"]).rsplit(":", 1)[-1])
                if index < len(self.steps):
                    points.append((str(rec["time"]), self.steps[index]))
            elif rec["decision"] == "rolled-back":
                points.append((str(rec["time"]), 0))
        return points

    def timeline(self) -> Records:
        """The steps worth a mark on the timeline (decisions, not the API calls under them)."""
        return [r for r in self.records if r.get("kind") != "action"]


@dataclass
class Model:
    environments: list[str]
    cutovers: list[Cutover]
    incidents: list[dict[str, Any]]
    drills: dict[str, list[dict[str, Any]]]
    savings: Records
    approvals: dict[str, Records]  # approval id -> its records (requested, then the answer)
    changes: list[dict[str, Any]]  # production changes with the approvals behind them
    records: int
    first: str | None
    last: str | None


def build(records_by_env: dict[str, Records]) -> Model:
    from deckwatch.local.commands.drills import trends
    from deckwatch.remediation.incidents import summarize

    order = {"prod": 0, "staging": 1, "dev": 2}
    envs = sorted(records_by_env, key=lambda e: (order.get(e, 9), e))
    everything = sorted(
        (r for e in envs for r in records_by_env[e]), key=lambda r: (str(r["time"]), str(r["record_id"]))
    )
    approvals: dict[str, Records] = {}
    for rec in everything:
        if rec.get("kind") == "approval":
            approvals.setdefault(str(rec.get("details", {}).get("approval_id", rec["record_id"])), []).append(rec)
    by_execution: dict[str, Records] = {}
    for answers in approvals.values():
        execution = str(answers[0].get("execution_arn") or "")
        by_execution.setdefault(execution, []).extend(answers)

    cutovers: dict[str, Cutover] = {}
    for rec in everything:
        if rec["capability"] != "cutover" or rec.get("kind") == "approval" or not rec.get("execution_arn"):
            continue
        execution = str(rec["execution_arn"])
        c = cutovers.setdefault(execution, Cutover(execution, rec["environment"], rec["subject"], []))
        c.records.append(rec)
    for c in cutovers.values():
        c.approvals = by_execution.get(c.execution, [])

    incidents = summarize([r for r in everything if r["capability"] == "remediation"])
    drills = trends([r for r in everything if r["capability"] == "drills" and r.get("kind") == "report"])
    savings = [
        r
        for r in everything
        if r["capability"] == "cost" and (r.get("kind") == "action" or r["decision"] in ("skipped", "declined"))
    ]

    changes: list[dict[str, Any]] = []
    for c in cutovers.values():
        if c.environment == "prod" and c.outcome not in ("dry run", "nothing to do"):
            changes.append(
                {"what": f"cutover {c.name}", "subject": c.subject, "time": c.start, "approvals": c.approvals}
            )
    acted: dict[str, Records] = {}
    for rec in everything:
        prod_action = rec["environment"] == "prod" and rec.get("kind") == "action" and not rec.get("dry_run")
        if prod_action and rec["capability"] != "cutover":  # a cutover's actions are its own change, above
            acted.setdefault(str(rec.get("execution_arn") or rec["record_id"]), []).append(rec)
    for execution, actions in acted.items():
        changes.append(
            {
                "what": f"{actions[0]['capability']} "
                + (_name(execution) if execution.startswith("arn:") else actions[0]["decision"]),
                "subject": actions[0]["subject"],
                "time": actions[0]["time"],
                "approvals": by_execution.get(execution, []),
            }
        )
    changes.sort(key=lambda c: str(c["time"]))
    return Model(
        environments=envs,
        cutovers=sorted(cutovers.values(), key=lambda c: c.start),
        incidents=sorted(incidents, key=lambda i: str(i["opened_at"])),
        drills=drills,
        savings=savings,
        approvals=approvals,
        changes=changes,
        records=len(everything),
        first=str(everything[0]["time"]) if everything else None,
        last=str(everything[-1]["time"]) if everything else None,
    )


# ---------------------------------------------------------------------------------------------- rendering -------
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _when(iso: Any) -> str:
    return "" if not iso else str(iso).replace("T", " ")[:19]


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _badge(text: str, tone: str) -> str:
    return f'<span class="badge {tone}">{_e(text)}</span>'


TONES = {
    "completed": "good",
    "rolled back": "bad",
    "failed": "bad",
    "in progress": "info",
    "dry run": "muted",
    "nothing to do": "muted",
    "approved": "good",
    "rejected": "bad",
    "expired": "warn",
    "requested": "info",
    "passed": "good",
    "mitigated": "good",
}


def _approval_line(answers: Records) -> str:
    """'approved by X at T (reason)' for one approval's records."""
    asked = next((r for r in answers if r["decision"] == "requested"), answers[0])
    answer = next((r for r in answers if r["decision"] != "requested"), None)
    aid = _e(asked.get("details", {}).get("approval_id", ""))
    if answer is None:
        return f"approval <code>{aid}</code> requested {_e(_when(asked['time']))}, not answered"
    waited = _t(answer["time"]) - _t(asked["time"])
    who = "" if answer["decision"] == "expired" else f" by <b>{_e(answer.get('actor'))}</b>"
    reason = f" - {_e(answer['reason'])}" if answer.get("reason") else ""
    return (
        f"{_badge(answer['decision'], TONES.get(answer['decision'], 'info'))} approval <code>{aid}</code>{who} "
        f"at {_e(_when(answer['time']))} after {_e(_duration(waited))}{reason}"
    )


def _spread(times: list[float], left: float, width: float, gap: float) -> list[float]:
    """x of each (sorted) time on a time axis, moved apart so that marks at least `gap` apart stay readable: a
    cutover's API calls come milliseconds apart, its bakes minutes apart. Order is kept, spacing is not exact."""
    if not times:
        return []
    span = times[-1] - times[0]
    xs: list[float] = []
    for t in times:
        x = left + (t - times[0]) / span * width if span > 0 else left
        xs.append(max(x, xs[-1] + gap) if xs else x)
    if xs[-1] > left + width:  # squeeze back into the plot, keeping the order
        xs = [left + (x - left) * width / (xs[-1] - left) for x in xs]
    return xs


def _svg_weights(c: Cutover, width: int = 720, height: int = 200) -> str:
    """The new colour's weight (0-100%) over the cutover's time (a step line, a point at each change), with a
    mark for each step of its timeline below it."""
    left, right, top, bottom = 44, 70, 14, 62
    plot_w, plot_h = width - left - right, height - top - bottom
    marks = c.timeline()
    points = c.weights()
    # one time axis for marks and points: all their times, spread apart
    stamps = sorted({_t(str(r["time"])) for r in marks} | {_t(at) for at, _ in points} | {_t(c.end)})
    xs = dict(zip(stamps, _spread(stamps, left, plot_w, 14.0), strict=True))

    def x(iso: str) -> float:
        return xs[_t(iso)]

    def y(weight: float) -> float:
        return top + (1 - weight / 100) * plot_h

    new = c.plan.get("details", {}).get("new", "the new colour")
    parts = [
        f'<svg class="chart weights" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="traffic on {_e(new)} over time">'
    ]
    for w in (0, 50, 100):
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(w):.1f}" y2="{y(w):.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{y(w) + 4:.1f}" text-anchor="end">{w}%</text>')
    parts.append(f'<text class="axis" x="{width - right + 6}" y="{y(100) + 4:.1f}">on {_e(new)}</text>')
    path = [f"M{x(points[0][0]):.1f},{y(points[0][1]):.1f}"]  # a step line: flat until the next change
    path += [f"H{x(at):.1f} V{y(weight):.1f}" for at, weight in points[1:]]
    path.append(f"H{x(c.end):.1f}")
    parts.append(f'<path class="weight-line" d="{" ".join(path)}"/>')
    for at, weight in points:
        parts.append(
            f'<circle class="point weight" cx="{x(at):.1f}" cy="{y(weight):.1f}" r="4">'
            f"<title>{_e(_when(at))}: {weight}% on {_e(new)}</title></circle>"
        )
    last_label = -1e9
    row = 0
    for rec in marks:
        tone = "bad" if rec["decision"] in ("rolled-back", "failed") else "step"
        px = x(str(rec["time"]))
        row = row + 1 if px - last_label < 70 else 0
        last_label = px if row == 0 else last_label
        ty = top + plot_h + 20 + min(row, 3) * 11
        text = f'<text x="{px:.1f}" y="{ty:.1f}" text-anchor="middle">{_e(rec["decision"])}</text>'
        label = text if row < 3 or tone == "bad" else ""
        parts.append(
            f'<g class="mark {tone}"><line x1="{px:.1f}" x2="{px:.1f}" y1="{top + plot_h:.1f}" '
            f'y2="{top + plot_h + 8:.1f}"/>{label}<title>{_e(_when(rec["time"]))} '
            f"{_e(rec['decision'])}: {_e(rec.get('reason'))}</title></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _svg_metric(metric: str, drills: list[dict[str, Any]], width: int = 350, height: int = 200) -> str:
    """One drill metric (rto or rpo) in minutes over time, a point per drill, against its objective (dashed)."""
    left, right, top, bottom = 56, 12, 22, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [_t(d["time"]) for d in drills]
    xs = _spread(times, left + 10, plot_w - 20, 8.0) if len(times) > 1 else [left + plot_w / 2]
    objective = next(
        (d[f"{metric}_objective_minutes"] for d in reversed(drills) if d.get(f"{metric}_objective_minutes")), None
    )
    values = [d[f"{metric}_minutes"] for d in drills if isinstance(d[f"{metric}_minutes"], int | float)]
    if isinstance(objective, int | float):
        values.append(objective)
    ceiling = _nice(max([*values, 1]) * 1.15)

    def y(v: float) -> float:
        return top + (1 - v / ceiling) * plot_h

    name = metric.upper()
    parts = [
        f'<svg class="chart metric {metric}" viewBox="0 0 {width} {height}" role="img" aria-label="{name} per drill">'
        f'<text class="title" x="{left}" y="14">{name} (minutes)</text>'
    ]
    for v in (0, ceiling / 2, ceiling):
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>')
        parts.append(f'<text class="axis" x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    if isinstance(objective, int | float):
        parts.append(
            f'<line class="objective {metric}" x1="{left}" x2="{width - right}" y1="{y(objective):.1f}" '
            f'y2="{y(objective):.1f}"><title>{name} objective {objective} min</title></line>'
            f'<text class="objective-label {metric}" x="{width - right - 4}" y="{y(objective) - 5:.1f}" '
            f'text-anchor="end">objective {objective:g}</text>'
        )
    shape = "circle" if metric == "rto" else "rect"
    for d, px in zip(drills, xs, strict=True):
        value = d[f"{metric}_minutes"]
        if not isinstance(value, int | float):
            continue
        failed = " failed" if d.get("outcome") != "passed" else ""
        missed = " missed" if isinstance(objective, int | float) and value > objective else ""
        tip = (
            f"<title>{_e(_when(d['time']))} drill {_e(d.get('drill_id') or '')} {_e(d.get('outcome') or '')}: "
            f"{name} {value} min (objective {_e(d.get(f'{metric}_objective_minutes'))})</title>"
        )
        if shape == "circle":
            parts.append(f'<circle class="point {metric}{failed}{missed}" cx="{px:.1f}" cy="{y(value):.1f}" r="5">')
        else:
            parts.append(
                f'<rect class="point {metric}{failed}{missed}" x="{px - 4.5:.1f}" y="{y(value) - 4.5:.1f}" '
                'width="9" height="9">'
            )
        parts.append(f"{tip}</{shape}>")
    first, last = _when(drills[0]["time"])[:10], _when(drills[-1]["time"])[:10]
    parts.append(f'<text class="axis" x="{left}" y="{height - 10}">{_e(first)}</text>')
    if last != first:
        parts.append(f'<text class="axis" x="{width - right}" y="{height - 10}" text-anchor="end">{_e(last)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _nice(value: float) -> float:
    """A round axis ceiling at or above value (1, 2, 2.5 or 5 times a power of ten)."""
    import math

    power = 10.0 ** math.floor(math.log10(value))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value))


def _section(anchor: str, title: str, count: int, body: str, empty: str) -> str:
    content = body if count else f'<p class="empty">{_e(empty)}</p>'
    return f'<section id="{anchor}"><h2>{_e(title)} <span class="count">{count}</span></h2>{content}</section>'


def _cutovers(model: Model) -> str:
    cards = []
    for c in model.cutovers:
        plan = c.plan.get("details", {})
        rollback = c.rollback
        why = ""
        if rollback is not None:
            d = rollback.get("details", {})
            why = (
                f'<p class="why">Rolled back at {_e(d.get("weight_at_rollback"))}% because: <b>{_e(rollback["reason"])}'
                f"</b>; traffic restored {_e(_duration(d.get('time_to_rollback_seconds')))} after the trigger.</p>"
            )
        approvals = "".join(f"<li>{_approval_line(a)}</li>" for a in _grouped(c.approvals))
        steps = "".join(
            f"<tr><td>{_e(_when(r['time']))}</td><td>{_e(r['decision'])}</td><td>{_e(r.get('reason'))}</td></tr>"
            for r in c.timeline()
        )
        cards.append(
            f'<article class="card" data-env="{_e(c.environment)}">'
            f"<header><h3>{_e(c.subject)} <small>{_e(c.environment)}</small></h3>"
            f"{_badge(c.outcome, TONES.get(c.outcome, 'info'))}</header>"
            f'<p class="meta">{_e(c.name)} - {_e(plan.get("strategy", "?"))} {_e(plan.get("steps", ""))}, '
            f"{_e(plan.get('stable', '?'))} -> {_e(plan.get('new', '?'))}, {_e(_when(c.start))} to "
            f"{_e(_when(c.end))} ({_e(_duration(_t(c.end) - _t(c.start)))})</p>"
            f'<p class="summary">{_e(c.plan.get("reason", ""))}</p>{why}'
            f"{_svg_weights(c)}"
            + (f'<ul class="approvals">{approvals}</ul>' if approvals else "")
            + f"<details><summary>{len(c.timeline())} steps</summary><table><thead><tr><th>time</th><th>step</th>"
            f"<th>what</th></tr></thead><tbody>{steps}</tbody></table></details></article>"
        )
    return _section("cutovers", "Cutovers", len(model.cutovers), "".join(cards), "No cutovers in the ledger.")


def _incidents(model: Model) -> str:
    ttms = [
        i["time_to_mitigate_seconds"] for i in model.incidents if isinstance(i["time_to_mitigate_seconds"], int | float)
    ]
    longest = max([*ttms, 1.0])
    rows = []
    for inc in model.incidents:
        ttm = inc["time_to_mitigate_seconds"]
        bar = (
            f'<svg class="bar" viewBox="0 0 160 12" role="img" aria-label="time to mitigate"><rect class="ttm" '
            f'x="0" y="1" width="{max(2.0, 160 * ttm / longest):.1f}" height="10"><title>{_e(_duration(ttm))}'
            "</title></rect></svg>"
            if isinstance(ttm, int | float)
            else ""
        )
        outcome = inc["outcome"] or inc["state"]
        rows.append(
            f'<tr data-env="{_e(inc["environment"])}"><td>{_e(_when(inc["opened_at"]))}</td>'
            f"<td>{_e(inc['environment'])}</td>"
            f"<td><code>{_e(inc['incident_id'])}</code></td><td>{_e(inc['resource'])}</td><td>{_e(inc['runbook'])}</td>"
            f"<td>{_badge(outcome, TONES.get(outcome, 'warn' if inc['state'] == 'open' else 'info'))}</td>"
            f"<td>{inc['actions']}</td><td>{inc['joined_events']}</td><td>{_e(_duration(ttm))} {bar}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>opened</th><th>env</th><th>incident</th><th>resource</th><th>runbook</th>"
        "<th>outcome</th><th>actions</th><th>alarms joined</th><th>time to mitigate</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return _section("incidents", "Incidents", len(model.incidents), table, "No remediation incidents in the ledger.")


def _drills(model: Model) -> str:
    blocks = []
    for resource, drills in model.drills.items():
        passed = sum(d["outcome"] == "passed" for d in drills)
        rows = "".join(
            f"<tr><td>{_e(_when(d['time']))}</td>"
            f"<td>{_badge(d['outcome'] or '?', TONES.get(d['outcome'] or '', 'bad'))}</td>"
            f"<td>{_e(d['rto_minutes'])} / {_e(d['rto_objective_minutes'])}</td>"
            f"<td>{_e(d['rpo_minutes'])} / {_e(d['rpo_objective_minutes'])}</td><td>{_e(d['reason'])}</td></tr>"
            for d in drills
        )
        tally = _badge(f"{passed}/{len(drills)} passed", "good" if passed == len(drills) else "warn")
        blocks.append(
            f'<article class="card"><header><h3>{_e(resource)}</h3>{tally}</header>'
            f'<div class="pair">{_svg_metric("rto", drills)}{_svg_metric("rpo", drills)}</div>'
            f"<details><summary>{len(drills)} drills</summary><table><thead><tr><th>time</th><th>outcome</th>"
            f"<th>RTO / objective (min)</th><th>RPO / objective (min)</th><th>why it failed</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details></article>"
        )
    count = sum(len(d) for d in model.drills.values())
    return _section("drills", "Restore drills", count, "".join(blocks), "No restore drill reports in the ledger.")


def _savings(model: Model) -> str:
    rows = []
    for r in model.savings:
        change = r.get("details", {}).get("change", {})
        hourly = change.get("estimated_hourly_usd")
        rows.append(
            f'<tr data-env="{_e(r["environment"])}"><td>{_e(_when(r["time"]))}</td><td>{_e(r["environment"])}</td>'
            f"<td>{_badge(r['decision'], 'good' if r['decision'] == 'restored' else 'info')}</td>"
            f"<td>{_e(r['subject'])}</td>"
            f"<td>{'' if hourly is None else f'${hourly:.4f}/h'}</td><td>{_e(r.get('reason'))}</td>"
            f"<td>{_e(r.get('actor'))}</td><td><code>{_e(_name(r.get('execution_arn')))}</code></td></tr>"
        )
    table = (
        "<table><thead><tr><th>time</th><th>env</th><th>action</th><th>resource</th><th>saves</th><th>why</th>"
        f"<th>by</th><th>execution</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return _section("savings", "Savings actions and resumes", len(model.savings), table, "No cost savings actions.")


def _grouped(records: Records) -> list[Records]:
    groups: dict[str, Records] = {}
    for r in records:
        groups.setdefault(str(r.get("details", {}).get("approval_id", r["record_id"])), []).append(r)
    return list(groups.values())


def _changes(model: Model) -> str:
    rows = []
    for change in model.changes:
        approvals = "<br>".join(_approval_line(a) for a in _grouped(change["approvals"]))
        rows.append(
            f"<tr><td>{_e(_when(change['time']))}</td><td>{_e(change['what'])}</td><td>{_e(change['subject'])}</td>"
            f"<td>{approvals or _badge('no approval recorded', 'warn')}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>time</th><th>change</th><th>subject</th><th>approval behind it</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return _section(
        "approvals", "Production changes and their approvals", len(model.changes), table, "No production changes."
    )


def _tiles(model: Model) -> str:
    drills = [d for ds in model.drills.values() for d in ds]
    approved = sum(any(r["decision"] == "approved" for r in change["approvals"]) for change in model.changes)
    tiles = (
        ("cutovers", len(model.cutovers), f"{sum(c.outcome == 'rolled back' for c in model.cutovers)} rolled back"),
        ("incidents", len(model.incidents), f"{sum(i['state'] == 'open' for i in model.incidents)} open"),
        ("drills", len(drills), f"{sum(d['outcome'] == 'passed' for d in drills)} passed"),
        ("savings", len(model.savings), f"{sum(r['decision'] == 'restored' for r in model.savings)} resumed"),
        ("prod changes", len(model.changes), f"{approved} approved"),
    )
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><b>{n}</b><span>{_e(name)}</span><small>{_e(note)}</small></div>'
            for name, n, note in tiles
        )
        + "</div>"
    )


def render(model: Model, generated_at: str, title: str = "Deckwatch") -> str:
    envs = ", ".join(model.environments) or "no environment"
    span = f"{_when(model.first)} to {_when(model.last)}" if model.first else "no records"
    filters = "".join(
        f'<input type="radio" name="env" id="env-{_e(e)}"><label for="env-{_e(e)}">{_e(e)}</label>'
        for e in model.environments
    )
    hide = "".join(
        f"body:has(#env-{e}:checked) [data-env]:not([data-env='{e}']){{display:none}}" for e in model.environments
    )
    nav = "".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (("cutovers", "Cutovers"), ("incidents", "Incidents"), ("drills", "Drills"),
                     ("savings", "Savings"), ("approvals", "Approvals"))
    )  # fmt: skip
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)} report - {_e(envs)}</title><style>{STYLE}{hide}</style></head><body>"
        f"<header class=top><h1>{_e(title)} <small>{_e(envs)}</small></h1>"
        f'<p class="meta">{model.records} ledger records, {_e(span)} (UTC); generated {_e(_when(generated_at))}</p>'
        f'<nav>{nav}</nav><div class="filter"><input type="radio" name="env" id="env-all" checked>'
        f'<label for="env-all">all</label>{filters}</div></header><main>{_tiles(model)}'
        f"{_cutovers(model)}{_incidents(model)}{_drills(model)}{_savings(model)}{_changes(model)}"
        "</main></body></html>\n"
    )


def write(out_dir: Path, records_by_env: dict[str, Records], title: str = "Deckwatch") -> Path:
    """Write out_dir/index.html, and beside it ledger.json (the records it shows, by environment); returns the
    page's path."""
    import json

    from deckwatch import clock

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "index.html"
    target.write_text(render(build(records_by_env), clock.iso(), title), encoding="utf-8")
    data = json.dumps(records_by_env, indent=1, sort_keys=True, default=str)
    (out_dir / "ledger.json").write_text(data + "\n", encoding="utf-8")
    return target


STYLE = """
:root{--fg:#1d2330;--muted:#5f6b7a;--line:#d9dee5;--bg:#f4f5f7;--card:#fff;--good:#1a7f37;--bad:#c62828;
--warn:#b26a00;--info:#1f5fbf;--rto:#1f5fbf;--rpo:#8e44ad}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
background:var(--bg)}header.top{background:#111827;color:#fff;padding:1.2rem 2rem}
header.top h1{margin:0;font-size:1.5rem}
header.top small{font-weight:400;color:#aab4c3;margin-left:.4rem}header.top .meta{color:#c5cdd8;margin:.3rem 0}
nav a{color:#9cc3ff;margin-right:1rem;text-decoration:none}.filter{margin-top:.6rem}.filter input{display:none}
.filter label{display:inline-block;padding:.15rem .7rem;margin-right:.3rem;border:1px solid #4b5563;border-radius:99px;
cursor:pointer;color:#d1d5db}.filter input:checked+label{background:#fff;color:#111827}
main{max-width:1100px;margin:0 auto;padding:1rem 2rem 3rem}section{margin-top:2rem}
h2{font-size:1.2rem;border-bottom:2px solid var(--line);padding-bottom:.3rem}.count{color:var(--muted);font-weight:400}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem 1.2rem;margin:1rem 0}
.card header{display:flex;justify-content:space-between;align-items:center}.card h3{margin:0;font-size:1.05rem}
.card h3 small{color:var(--muted);font-weight:400}.meta{color:var(--muted);margin:.3rem 0}.summary{margin:.3rem 0}
.why{color:var(--bad)}.badge{display:inline-block;padding:.05rem .55rem;border-radius:99px;font-size:.8rem;
font-weight:600;color:#fff;background:var(--info)}.badge.good{background:var(--good)}.badge.bad{background:var(--bad)}
.badge.warn{background:var(--warn)}.badge.muted{background:#8a94a3}table{border-collapse:collapse;width:100%;
background:var(--card);margin:.5rem 0}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);
vertical-align:top}th{font-size:.8rem;color:var(--muted);font-weight:600}code{font-size:.85em}
details summary{cursor:pointer;color:var(--info);margin:.4rem 0}.empty{color:var(--muted)}
ul.approvals{padding-left:1.2rem}svg.chart{width:100%;height:auto;display:block;margin:.5rem 0}
svg .grid{stroke:var(--line);stroke-width:1}svg .axis{font-size:11px;fill:var(--muted)}
svg .weight-line{fill:none;stroke:var(--info);stroke-width:2.5}svg .point.weight{fill:var(--info)}
svg .mark line{stroke:var(--muted)}svg .mark text{font-size:10px;fill:var(--muted)}
svg .mark.bad line{stroke:var(--bad)}svg .mark.bad text{fill:var(--bad);font-weight:600}
svg .title{font-size:12px;font-weight:600;fill:var(--fg)}.pair{display:flex;gap:1rem;flex-wrap:wrap}
.pair svg.chart{width:calc(50% - .5rem);min-width:300px}svg .point.missed{stroke:var(--bad);stroke-width:2}
svg .point.rto{fill:var(--rto)}svg .point.rpo{fill:var(--rpo)}svg .point.failed{stroke:var(--bad);stroke-width:3}
svg .objective{stroke-dasharray:6 4;stroke-width:1.5}svg .objective.rto{stroke:var(--rto)}
svg .objective.rpo{stroke:var(--rpo)}svg .objective-label{font-size:10px}svg .objective-label.rto{fill:var(--rto)}
svg .objective-label.rpo{fill:var(--rpo)}svg.bar{width:160px;height:12px;vertical-align:middle}
svg.bar .ttm{fill:var(--warn)}.tiles{display:flex;gap:.8rem;flex-wrap:wrap;margin-top:1.2rem}
.tile{flex:1;min-width:150px;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.7rem 1rem}
.tile b{display:block;font-size:1.8rem;line-height:1.1}.tile span{display:block;font-weight:600}
.tile small{color:var(--muted)}
"""
