"""The steps of statemachines/cutover.asl.json, one function per task `op`. Each takes the running `Cutover`,
reads the observed state through the traffic router, acts only where the world differs from what is wanted,
records in the ledger and returns the updated `Cutover`."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from deckwatch import clock, locks, metrics, watches
from deckwatch.cutover import control
from deckwatch.cutover.errors import (
    AlarmFiringError,
    CanaryAnalysisFailedError,
    CanaryNoDataError,
    DeploymentFailedError,
    NotStableYetError,
    PreTrafficCheckFailedError,
    ReleaseRefusedError,
    RollbackRequestedError,
    TargetNotFoundError,
    UnhealthyTargetsError,
)
from deckwatch.cutover.model import Cutover, CutoverInput
from deckwatch.cutover.router import TrafficRouter, router_for
from deckwatch.errors import DeckwatchError, InvalidEventError, LockHeldError, LockLostError
from deckwatch.ledger import Action, Record

if TYPE_CHECKING:
    from deckwatch.context import Services
    from deckwatch.policy.model import Service


# ---------------------------------------------------------------------------------------------- helpers -------
def _service(deps: Services, name: str) -> Service:
    svc = deps.policy().policy.service(name)
    if svc is None:
        raise TargetNotFoundError(f"service {name} is not in the {deps.settings.environment} policy")
    return svc


def _router(deps: Services, c: Cutover) -> TrafficRouter:
    return router_for(_service(deps, c.service), deps.clients, c.environment, c.dry_run)


def _record(
    deps: Services,
    c: Cutover,
    key: str,
    decision: str,
    reason: str = "",
    *,
    kind: str = "decision",
    action: Action | None = None,
    outcome: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    deps.ledger.append(
        Record(
            record_id=f"{c.id}:{key}",
            environment=c.environment,
            capability="cutover",
            subject=c.subject,
            kind=kind,  # type: ignore[arg-type]
            decision=decision,
            reason=reason,
            execution_arn=c.execution,
            action=action,
            dry_run=c.dry_run,
            outcome=outcome,
            policy_version=c.policy_version,
            actor=c.requested_by,
            details=details or {},
        )
    )


def _record_actions(deps: Services, c: Cutover, key: str, router: TrafficRouter) -> list[Action]:
    """The router's calls since the last record, each with its outcome; returns their actions."""
    performed = router.executor.take()
    for i, done in enumerate(performed):
        _record(
            deps,
            c,
            f"{key}:{i}",
            "planned" if done.outcome == "planned" else done.action.operation,
            kind="action",
            action=done.action,
            outcome="dry-run" if done.outcome == "planned" else done.outcome,
            details={"error": done.error} if done.error else None,
        )
    return [done.action for done in performed]


def _notify(deps: Services, c: Cutover, subject: str, text: str, severity: str = "info", **data: Any) -> None:
    deps.notifier.publish(
        subject=f"cutover {c.service}: {subject}",
        text=text,
        capability="cutover",
        environment=c.environment,
        severity=severity,  # type: ignore[arg-type]
        data={"execution": c.execution, "revision": c.revision, "image": c.image, **data},
    )


def _check_abort(deps: Services, c: Cutover) -> None:
    item = control.read(deps, c.service)
    if item and item.get("execution") == c.execution and item.get("abort_reason"):
        raise RollbackRequestedError(f"{item.get('abort_source', 'manual')}: {item['abort_reason']}")


def _release(deps: Services, c: Cutover) -> None:
    """The end of every path: no watcher, no lease, no control record of this execution is left. Each part is
    tried even when another fails (a table refusing reads must not keep the leases); the first failure is raised
    once all were tried, so that the state machine's Retry tries the rest again."""
    failures: list[Exception] = []

    def attempt(part: Callable[[], object]) -> None:
        try:
            part()
        except LockLostError:
            pass  # taken over after expiry: not ours to release any more
        except Exception as exc:  # noqa: BLE001 - collected, the first one raised below
            failures.append(exc)

    for key in _router(deps, c).lock_keys():
        attempt(functools.partial(deps.state.leases.release, key, c.execution))
    attempt(functools.partial(control.close, deps, c.service, c.execution))
    for phase in ("bake", "window"):
        attempt(functools.partial(_stop_watching, deps, c, phase))
    if failures:
        raise failures[0]


def _lease_seconds(c: Cutover) -> int:
    return (
        c.stable_timeout_seconds
        + c.approval_timeout_seconds
        + len(c.steps) * (c.bake_seconds + 120)
        + c.window_seconds
        + 3600
    )


# ---------------------------------------------------------------------------------------------- begin ---------
def begin(raw: dict[str, Any], execution: str, deps: Services) -> dict[str, Any]:
    """Lock both slots, reconcile with what is observed, resolve the new revision and record the plan."""
    inp = CutoverInput.model_validate(raw)
    if inp.environment != deps.settings.environment:
        raise InvalidEventError(f"cutover for {inp.environment} sent to the {deps.settings.environment} stack")
    loaded = deps.policy()
    svc = _service(deps, inp.service)
    rollout = svc.rollout
    strategy = inp.strategy or rollout.strategy
    target = {
        k: v
        for k, v in (("image", inp.image), ("task_definition", inp.task_definition), ("version", inp.version))
        if v is not None
    }
    bake_seconds = max(1, rollout.bake_minutes * 60)
    interval = min(bake_seconds, rollout.analysis.interval_minutes * 60) if rollout.analysis.enabled else bake_seconds
    c = Cutover(
        id=execution.rsplit(":", 1)[-1],
        execution=execution,
        environment=inp.environment,
        service=svc.name,
        subject=f"service/{svc.name}",
        kind=svc.kind,
        target=target,
        image=inp.image or "",
        steps=[100] if strategy == "all_at_once" else list(rollout.steps),
        bake_seconds=bake_seconds,
        interval_seconds=interval,
        wait_seconds=interval,
        window_seconds=rollout.rollback_window_minutes * 60,
        approval_timeout_seconds=max(60, rollout.approval_timeout_minutes * 60),
        stable_timeout_seconds=rollout.stable_timeout_minutes * 60,
        alarms=list(svc.alarms),
        dry_run=inp.dry_run or loaded.policy.dry_run,
        approval_needed=svc.require_approval and not inp.approved_by_pipeline,
        pre_traffic_check=rollout.pre_traffic_check,
        pipeline_execution_id=inp.pipeline_execution_id,
        requested_by=inp.requested_by,
        started_at=clock.now_epoch(),
        policy_version=loaded.version,
    )
    held_back = _gate(deps, c, svc, inp, raw)  # windows and freezes, before anything is locked or changed
    if held_back is not None:
        return held_back.doc()
    router = router_for(svc, deps.clients, c.environment, c.dry_run)
    held: list[str] = []  # acquired in this call, for the reader: _let_go releases whatever is ours
    try:
        for key in router.lock_keys():
            locks.acquire_or_record(
                deps.state.leases,
                deps.ledger,
                resource=key,
                owner=execution,
                capability="cutover",
                environment=c.environment,
                lease_seconds=_lease_seconds(c),
                policy_version=c.policy_version,
            )
            held.append(key)
        c = _plan(deps, c, router, strategy)
    except BaseException as exc:
        # every key, not only those acquired: a lease whose write succeeded but whose answer was lost is ours too
        _let_go(deps, router.lock_keys(), svc.name, execution)
        if not isinstance(exc, LockHeldError):
            _record(deps, c, "begin-failed", "failed", f"{type(exc).__name__}: {exc}")
        raise
    del held
    return c.doc()


def _let_go(deps: Services, keys: list[str], service: str, execution: str) -> list[str]:
    """Release the leases `execution` holds among `keys` and close its control record; returns the released."""
    released = []
    for key in keys:
        with contextlib.suppress(LockLostError):  # another's: not ours to release
            if deps.state.leases.release(key, execution):
                released.append(key)
    control.close(deps, service, execution)
    return released


def abandon(raw: dict[str, Any], execution: str, cause: dict[str, Any] | None, deps: Services) -> dict[str, Any]:
    """Begin failed, and its own clean-up may not have run (the function timed out, a call's answer was lost):
    release what this execution holds, and record why it did not start (the same record Begin writes)."""
    name = raw.get("service") if isinstance(raw, dict) else None
    svc = deps.policy().policy.service(str(name)) if name else None
    if svc is None:
        return {"released": []}
    router = router_for(svc, deps.clients, deps.settings.environment, True)
    released = _let_go(deps, router.lock_keys(), svc.name, execution)
    reason, text, _ = classify(cause or {})
    deps.ledger.append(
        Record(
            record_id=f"{execution.rsplit(':', 1)[-1]}:begin-failed",
            environment=deps.settings.environment,
            capability="cutover",
            subject=f"service/{svc.name}",
            kind="decision",
            decision="failed",
            reason=text,
            execution_arn=execution,
            details={"released": released, "reason": reason},
        )
    )
    return {"released": released}


def _plan(deps: Services, c: Cutover, router: TrafficRouter, strategy: str) -> Cutover:
    observed = router.observe()
    live = observed.live
    wanted = c.target.get("image") or c.target.get("task_definition") or c.target.get("version") or ""
    runs_wanted = {s for s in observed.weights if wanted in (observed.images.get(s), observed.revisions.get(s))}
    if observed.weights.get(live) == 100 and live in runs_wanted:
        c.action = "noop"
        _record(deps, c, "plan", "no-op", f"{live} already serves {wanted} with 100% of traffic: nothing to do")
        return c
    resume_from = 0
    if observed.split:
        other = next(s for s in observed.weights if s != live and observed.weights[s] > 0)
        if other in runs_wanted:  # a crashed run of this same release: resume where the weights are
            weight = observed.weights[other]
            resume_from = next((i for i, s in enumerate(c.steps) if s > weight), len(c.steps) - 1)
            _record(deps, c, "reconcile", "resumed", f"traffic is split {observed.weights}: resuming this release")
        else:
            router.shift(live, other, 0)
            _record_actions(deps, c, "reconcile", router)
            _record(deps, c, "reconcile:restored", "restored", f"traffic was split {observed.weights}: {live} 100%")
            observed = router.observe()
    if not c.dry_run:  # before the first change (pinning the colours' revisions): no ledger, no change
        what = c.target.get("image") or c.target.get("task_definition") or c.target.get("version") or "the target"
        _record(deps, c, "prepare:intent", "intent", f"about to prepare the idle colour for {what}", kind="intent")
    try:
        prepared = router.prepare(observed, c.target)
    finally:  # what prepare changed is recorded even when it failed half-way
        prepare_actions = _record_actions(deps, c, "prepare", router)
    c.new, c.revision, c.image = prepared.slot, prepared.revision, prepared.image or c.image
    c.stable = next(s for s in observed.weights if s != c.new) if c.new in observed.weights else live
    c.capacity = max(1, observed.capacity.get(c.stable, 1))
    c.step_index = resume_from
    c.weight = observed.weights.get(c.new, 0)
    c.summary = (
        f"Shift {c.environment} traffic of {c.service} from {c.stable} to {c.new} ({c.image or c.revision}) "
        f"by {strategy} {c.steps}, baking {c.bake_seconds // 60} min per step while watching "
        f"{', '.join(c.alarms) or 'no alarms'}."
    )
    plan = {
        "strategy": strategy,
        "steps": c.steps,
        "stable": c.stable,
        "new": c.new,
        "revision": c.revision,
        "capacity": c.capacity,
        "bake_seconds": c.bake_seconds,
        "window_seconds": c.window_seconds,
        "approval": c.approval_needed,
        "pre_traffic_check": c.pre_traffic_check,
        "alarms": c.alarms,
        "pipeline_execution_id": c.pipeline_execution_id,
        "window": c.window,
    }
    if c.dry_run:
        c.action = "dry_run"
        router.deploy(c.new, c.revision, c.capacity)
        for weight in c.steps:
            router.shift(c.stable, c.new, weight, capacity=c.capacity)
        router.scale_down(c.stable)
        planned = _record_actions(deps, c, "plan:actions", router)
        plan["actions"] = [a.model_dump() for a in prepare_actions + planned]
        _record(deps, c, "plan", "planned", f"dry-run: {c.summary}", details=plan)
        return c
    control.open_(
        deps,
        c.service,
        execution=c.execution,
        cutover_id=c.id,
        pipeline_execution_id=c.pipeline_execution_id,
        revision=c.revision,
        ttl_seconds=_lease_seconds(c),
    )
    _record(deps, c, "plan", "planned", c.summary, details=plan)
    _notify(deps, c, "started", c.summary, plan=plan)
    return c


# ---------------------------------------------------------------------------------------------- windows -------
def _gate(deps: Services, c: Cutover, svc: Service, inp: CutoverInput, raw: dict[str, Any]) -> Cutover | None:
    """Release windows and change freezes (cutover.gate), before anything is locked or changed: None to go on
    now; the cutover to return when it waits for its window (nothing held meanwhile: other capabilities may act
    on the service) or asks for an emergency override; ReleaseRefusedError (recorded, notified) when refused.
    A dry run records what the gate would do and plans on."""
    from deckwatch import windows
    from deckwatch.cutover import gate

    r = gate.rules(deps.policy().policy, svc)
    now = clock.now()
    zone = r.windows[0].timezone if r.windows else None
    freeze = windows.active(r.freezes, now)
    if freeze is not None:
        label = freeze.label()
        c.window = {"freeze": label, "at": windows.iso(now)}
        if inp.emergency_override is None or freeze.emergency_override is None:
            how = (
                "its policy allows no emergency override"
                if freeze.emergency_override is None
                else "an emergency release names its reason (emergencyOverride.reason) and is approved"
            )
            return _refuse(deps, c, f"change freeze {label}: {how}")
        reason = inp.emergency_override.reason
        c.window |= {"override": reason}
        answer = gate.override_answer(deps, c.execution)
        if answer == "unanswered":  # the approval timed out: its expiry is recorded here, where it is read
            gate.expire_override(deps, c.execution, c.environment, c.subject, c.summary or label)
            answer = "expired"
        if answer is None and not c.dry_run:
            c.action, c.request = "override", raw
            c.summary = (
                f"EMERGENCY release of {c.service} in {c.environment} ({_what(c)}) during the {label}. Reason: {reason}"
            )
            _record(deps, c, "override-requested", "override-requested", c.summary, details={"window": c.window})
            return c
        if answer not in ("approved", None):
            return _refuse(deps, c, f"emergency override {answer}: {label} stands")
        c.window |= {"approval": answer or "dry-run"}
        _record(
            deps,
            c,
            "freeze-overridden",
            "freeze-overridden",
            f"{label} lifted for this release (approved emergency: {reason}); windows do not hold it either",
            details={"window": c.window},
        )
        return None
    verdict = windows.check(r.windows, now)
    c.window = verdict.doc()
    if verdict.open:
        c.check_window = bool(r.windows) and r.bake_crossing_end == "pause"
        return None
    if r.outside_window == "refuse":
        return _refuse(deps, c, f"triggered {windows.describe(verdict, zone)} (outside_window: refuse)")
    opening = windows.next_open(r.windows, r.freezes, now)
    if opening.opens_at is None:
        return _refuse(deps, c, "no release window opens within a year outside the freezes")
    c.window_opens_at = windows.iso(opening.opens_at)
    c.window = verdict.doc() | {"opens_at": c.window_opens_at, "window": opening.window, "outside_window": "wait"}
    local = windows.describe(opening, zone).split(" opens ", 1)[-1]
    text = (
        f"planned: {c.service} {_what(c)} was triggered outside its release windows; "
        f"it waits for {opening.window}, which opens {local}, and starts then"
    )
    _record(deps, c, f"waiting:{c.window_opens_at}", "waiting-for-window", text, details={"window": c.window})
    if c.dry_run:
        return None
    c.action, c.request = "wait", raw
    _notify(deps, c, f"waiting for its window ({local})", text, window=c.window)
    return c


def _what(c: Cutover) -> str:
    return c.image or next(iter(c.target.values()), "")


def _refuse(deps: Services, c: Cutover, why: str) -> Cutover | None:
    _record(deps, c, "refused", "refused", why, kind="refusal", details={"window": c.window})
    if c.dry_run:
        return None
    _notify(deps, c, "REFUSED", f"{c.service} {_what(c)}: not released: {why}", "warning", window=c.window)
    raise ReleaseRefusedError(why)


def check_window(c: Cutover, deps: Services) -> Cutover:
    """Before a shift (bake_crossing_end: pause): shift now if this step's bake ends before the window closes, or
    when the pause that waited for this window is over; otherwise hold the traffic where it is until the next
    window opens (still watched, and analysed, when the new colour has traffic already), the locks renewed."""
    from deckwatch import windows
    from deckwatch.cutover import gate

    _check_abort(deps, c)
    r = gate.rules(deps.policy().policy, _service(deps, c.service))
    zone = r.windows[0].timezone if r.windows else None
    now = clock.now()
    verdict = windows.check(r.windows, now)
    resumed = c.hold_until is not None and now >= windows.parse_instant(c.hold_until)
    fits = verdict.closes_at is None or now + timedelta(seconds=c.bake_seconds) <= verdict.closes_at
    if verdict.open and (fits or resumed):
        if c.hold_until is not None:
            _record(deps, c, f"resumed:{c.step_index}:{c.hold_until}", "resumed", windows.describe(verdict, zone))
        c.hold_until, c.next, c.window = None, "shift", verdict.doc()
        return c
    opening = windows.next_open(r.windows, [], verdict.closes_at if verdict.open and verdict.closes_at else now)
    if opening.opens_at is None:  # no window any more (the policy changed): nothing to wait for
        c.hold_until, c.next, c.window = None, "shift", verdict.doc()
        return c
    c.hold_until = windows.iso(opening.opens_at)
    c.window = verdict.doc() | {"resumes_at": c.hold_until, "window": opening.window}
    c.next = "hold"  # no traffic on the new colour yet: a Wait state until the window opens
    if c.weight > 0:  # traffic on it: bake on, watched and analysed, an hour at a time
        c.next = "bake"
        c.wait_seconds = max(1, min(3600, int((opening.opens_at - now).total_seconds())))
    _extend(deps, c, int((opening.opens_at - now).total_seconds()))
    local = windows.describe(opening, zone).split(" opens ", 1)[-1]
    why = (
        f"the {c.bake_seconds // 60}-min bake of step {c.step_index + 1} would end after the window closes"
        if verdict.open
        else "the release window is closed"
    )
    held = f"{c.weight}% on {c.new}" + (" (watched and analysed)" if c.weight else "")
    text = f"paused: {why}; {held} until {opening.window} opens {local}"
    _record(deps, c, f"paused:{c.step_index}:{c.hold_until}", "paused", text, details={"window": c.window})
    _notify(deps, c, f"paused until {local}", text, window=c.window)
    return c


def _extend(deps: Services, c: Cutover, seconds: int) -> None:
    """A pause outlasts the lease begin took: renew the locks and the control item for it."""
    lease = seconds + _lease_seconds(c)
    for key in _router(deps, c).lock_keys():
        deps.state.leases.acquire(key, c.execution, "cutover", lease)
    deps.state.cutovers.extend(c.service, c.execution, lease)


# ---------------------------------------------------------------------------------------------- deploy --------
def deploy(c: Cutover, deps: Services) -> Cutover:
    _check_abort(deps, c)
    router = _router(deps, c)
    router.deploy(c.new, c.revision, c.capacity)
    _record_actions(deps, c, "deploy", router)
    target = router.point_test(c.new)  # the test route reaches the colour being deployed, never the live one
    _record_actions(deps, c, "test-route", router)
    if target is not None:
        _record(deps, c, "test-route", "test-route", f"the test listener reaches {c.new} ({target})")
    c.deploy_started_at = clock.now_epoch()
    return c


def check_stable(c: Cutover, deps: Services) -> Cutover:
    _check_abort(deps, c)
    ok, detail = _router(deps, c).stable(c.new, c.revision, c.capacity)
    if ok:
        _record(deps, c, "stable", "stable", f"{c.new}: {detail}")
        return c
    waited = clock.now_epoch() - (c.deploy_started_at or c.started_at)
    if waited > c.stable_timeout_seconds:
        raise DeploymentFailedError(f"{c.new} not stable after {int(waited)} s: {detail}")
    raise NotStableYetError(f"{c.new}: {detail}")


def pre_traffic(c: Cutover, deps: Services) -> Cutover:
    _check_abort(deps, c)
    svc = _service(deps, c.service)
    router = _router(deps, c)
    target = router.point_test(c.new)  # already so since deploy; a resumed run makes sure
    _record_actions(deps, c, "pre-traffic:test-route", router)
    payload = {
        "service": c.service,
        "environment": c.environment,
        "slot": c.new,
        "revision": c.revision,
        "test_listener_port": svc.alb.test_listener_port if svc.alb else None,
        "test_target": target,
    }
    out = deps.clients("lambda").invoke(FunctionName=c.pre_traffic_check, Payload=json.dumps(payload).encode())
    body = out["Payload"].read()
    result = json.loads(body) if body else {}
    passed = "FunctionError" not in out and isinstance(result, dict) and result.get("ok", True) is not False
    _record(
        deps,
        c,
        "pre-traffic",
        "pre-traffic-passed" if passed else "pre-traffic-failed",
        str(result)[:500],
        kind="action",
        action=Action(service="lambda", operation="Invoke", parameters={"FunctionName": c.pre_traffic_check}),
        outcome="passed" if passed else "failed",
        details={"slot": c.new, "test_target": target},
    )
    if not passed:
        raise PreTrafficCheckFailedError(f"{c.pre_traffic_check}: {str(result)[:300]}")
    c.pre_traffic_done = True
    return c


# ---------------------------------------------------------------------------------------------- shift and bake -
def shift(c: Cutover, deps: Services) -> Cutover:
    _check_abort(deps, c)
    _check_alarms(deps, c, "before the shift")
    weight = c.steps[c.step_index]
    router = _router(deps, c)
    # the intent first: if this step dies between the listener change and its records, the ledger still says
    # what was being done (and the rollback records the weight it observes)
    _record(deps, c, f"shift-intent:{c.step_index}", "intent", f"{c.new} to {weight}%", kind="intent")
    try:
        changed = router.shift(c.stable, c.new, weight, capacity=c.capacity)
    finally:
        _record_actions(deps, c, f"shift:{c.step_index}", router)
    c.weight = weight
    c.baked_seconds = c.failed_intervals = c.no_data_intervals = 0
    c.wait_seconds = min(c.interval_seconds, c.bake_seconds)
    _record(
        deps,
        c,
        f"shifted:{c.step_index}",
        "shifted",
        f"{c.new} {weight}%, {c.stable} {100 - weight}%",
        details={"window": c.window} if c.window else None,
    )
    if changed:
        _notify(
            deps,
            c,
            f"{weight}% on {c.new}",
            f"Step {c.step_index + 1}/{len(c.steps)}: {weight}% of traffic on {c.new}. "
            f"Baking {c.bake_seconds // 60} min; an alarm in {', '.join(c.alarms) or '-'} rolls back at once.",
            step=c.step_index,
            weight=weight,
        )
    return c


def watch(c: Cutover, token: str, phase: str, deps: Services) -> dict[str, Any]:
    """Wait (the task's token) for the first of: a watched alarm going to ALARM, a rollback request."""
    item = control.wait_with(deps, c.service, c.execution, token)
    seconds = c.window_seconds if phase == "window" else (c.wait_seconds or c.bake_seconds)
    if item and item.get("abort_reason"):
        control.answer(
            deps.clients("stepfunctions"),
            token,
            {"rollback": item["abort_reason"], "source": item.get("abort_source", "manual")},
        )
        return {"watching": [], "answered": True}
    reflex = _reflex(deps, c) if c.alarms else None
    for alarm in c.alarms:
        out = watches.register(
            deps,
            alarm_name=alarm,
            states=["ALARM"],
            task_token=token,
            watch_id=_watch_id(c, phase),
            owner=c.execution,
            capability="cutover",
            ttl_seconds=seconds + 300,
            reflex=reflex,
        )
        if out["answered"]:
            return {"watching": [alarm], "answered": True}
    return {"watching": c.alarms, "answered": False, "seconds": seconds}


# Routers whose restore the alarm-events function may make (template.yaml RollbackReflex*: the listener, the
# alias, the traffic parameters). A queue worker's restore is task counts: left to the rollback step, whose
# function may change ECS services; its messages wait in the queue meanwhile, they are not served badly.
REFLEX_KINDS = frozenset({"ecs", "lambda"})


def _reflex(deps: Services, c: Cutover) -> dict[str, Any] | None:
    """The restore the alarm-events function makes itself when a watched alarm fires (cutover.reflex)."""
    from deckwatch.cutover import reflex

    if c.dry_run or not c.new or c.new == c.stable:
        return None
    if c.kind not in REFLEX_KINDS:
        return None
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        resolved = _router(deps, c).resolved()
    except (ClientError, BotoCoreError, DeckwatchError) as exc:  # the bake must not fail on a look-up it can skip
        logging.getLogger("deckwatch").warning("rollback reflex: ids not resolved", extra={"error": str(exc)[:300]})
        resolved = {}
    return reflex.for_watch(c, resolved)


def _watch_id(c: Cutover, phase: str) -> str:
    return f"{c.id}:{phase}:{c.step_index}"


def _stop_watching(deps: Services, c: Cutover, phase: str) -> None:
    control.wait_with(deps, c.service, c.execution, None)
    for alarm in c.alarms:
        watches.cancel(deps, alarm, _watch_id(c, phase))


def analyze(c: Cutover, deps: Services) -> Cutover:
    """The end of one bake interval: the watched alarms read (a lost event must not let a step pass), then the
    canary's figures against the stable colour's; the bake goes on, ends, or rolls back."""
    from deckwatch.cutover import analysis

    _stop_watching(deps, c, "bake")
    _check_abort(deps, c)
    _check_alarms(deps, c, "at the end of a bake interval")
    svc = _service(deps, c.service)
    policy = svc.rollout.analysis
    interval = c.wait_seconds or c.bake_seconds
    if not policy.enabled:
        c.baked_seconds += interval
    else:
        end = clock.now_epoch()
        canary, stable = analysis.measure(deps, svc, _router(deps, c), c.new, c.stable, end - interval, end)
        verdict = analysis.judge(policy, canary, stable)
        n = c.baked_seconds // max(1, c.interval_seconds) + c.no_data_intervals + c.failed_intervals
        step = f"{c.step_index}" if c.hold_until is None else f"{c.step_index}:paused"
        if verdict.outcome == "passed":
            c.baked_seconds += interval
            c.failed_intervals = c.no_data_intervals = 0
        elif verdict.outcome == "failed":
            c.failed_intervals += 1
            c.no_data_intervals = 0
        else:
            c.no_data_intervals += 1
        _record(
            deps,
            c,
            f"analysis:{step}:{n}",
            f"analysis-{verdict.outcome}",
            f"{c.weight}% on {c.new}: " + ("; ".join(verdict.failures) or "within the limits"),
            details={"interval_seconds": interval, "step": c.step_index, **verdict.doc()},
        )
        if c.failed_intervals >= policy.failed_intervals:
            raise CanaryAnalysisFailedError(
                f"{c.new} at {c.weight}%: {'; '.join(verdict.failures)} "
                f"({c.failed_intervals} failing interval(s) of {interval // 60} min)"
            )
        if c.no_data_intervals >= policy.no_data_intervals:
            raise CanaryNoDataError(
                f"{c.new} at {c.weight}% received too little traffic to judge in {c.no_data_intervals} "
                f"consecutive interval(s) ({verdict.failures[0]})"
            )
    if c.baked_seconds >= c.bake_seconds and c.hold_until is not None:  # a pause (check_window): bake on
        from deckwatch import windows

        left = (windows.parse_instant(c.hold_until) - clock.now()).total_seconds()
        c.next = "bake" if left > 0 else "check_window"
        c.wait_seconds = max(1, min(3600, int(left)))
    elif c.baked_seconds >= c.bake_seconds:
        c.next = "after_bake"
    else:
        c.next = "bake"
        c.wait_seconds = (
            min(c.interval_seconds, c.bake_seconds - c.baked_seconds)
            if c.failed_intervals == 0
            else (c.interval_seconds)
        )
    return c


def _check_alarms(deps: Services, c: Cutover, when: str) -> None:
    if not c.alarms or c.dry_run:
        return
    found = deps.clients("cloudwatch").describe_alarms(AlarmNames=c.alarms)
    firing = [
        a["AlarmName"]
        for a in found.get("MetricAlarms", []) + found.get("CompositeAlarms", [])
        if a["StateValue"] == "ALARM"
    ]
    if firing:
        raise AlarmFiringError(f"{', '.join(firing)} in ALARM {when}")


def after_bake(c: Cutover, deps: Services) -> Cutover:
    _stop_watching(deps, c, "bake")
    _check_abort(deps, c)
    bad = _router(deps, c).unhealthy(c.new)
    if bad:
        raise UnhealthyTargetsError(f"{c.new} has {len(bad)} unhealthy target(s): {'; '.join(bad[:5])}")
    _record(deps, c, f"baked:{c.step_index}", "baked", f"{c.weight}% on {c.new} for {c.bake_seconds // 60} min")
    c.step_index += 1
    if c.step_index < len(c.steps):
        c.next = "check_window" if c.check_window else "shift"
    else:
        c.next = "window" if c.window_seconds > 0 else "finish"
    return c


# ---------------------------------------------------------------------------------------------- endings -------
def finish(c: Cutover, deps: Services) -> Cutover:
    """100% on the new colour and the rollback window passed: scale the old colour down, record, release. Its
    failures are retried by the state machine, then reported by `cleanup_pending`: the cutover has succeeded."""
    _stop_watching(deps, c, "window")
    router = _router(deps, c)
    try:
        router.scale_down(c.stable)
    finally:
        _record_actions(deps, c, "scale-down", router)
    duration = clock.now_epoch() - c.started_at
    _record(
        deps,
        c,
        "completed",
        "completed",
        f"{c.new} serves 100% with {c.image or c.revision}; {c.stable} scaled down after the rollback window",
        details={"duration_seconds": round(duration, 3)},
    )
    metrics.emit(deps.settings, {"CutoverDuration": duration, "CutoverCompleted": 1}, Service=c.service)
    _release(deps, c)
    _notify(deps, c, "completed", f"{c.summary}\nCompleted in {duration / 60:.1f} min.", duration_seconds=duration)
    return c


def cleanup_pending(c: Cutover, cause: dict[str, Any], deps: Services) -> Cutover:
    """Finish failed after its retries: the new colour serves 100% and the window passed, so the cutover has
    succeeded; what was left (the old colour still running) is recorded and notified as a warning."""
    _, text, _ = classify(cause)
    duration = clock.now_epoch() - c.started_at
    _record(
        deps,
        c,
        "cleanup-failed",
        "cleanup-failed",
        f"{c.stable} could not be scaled down: {text}",
        details={"cause": cause, "left_running": c.stable},
    )
    _record(
        deps,
        c,
        "completed",
        "completed",
        f"{c.new} serves 100% with {c.image or c.revision}; clean-up pending: {c.stable} still runs",
        details={"duration_seconds": round(duration, 3), "cleanup_pending": True},
    )
    metrics.emit(deps.settings, {"CutoverDuration": duration, "CutoverCompleted": 1}, Service=c.service)
    _release(deps, c)
    _notify(
        deps,
        c,
        "completed, clean-up pending",
        f"{c.summary}\nCompleted in {duration / 60:.1f} min, but {c.stable} could not be scaled down ({text}). "
        "Traffic is not affected; scale it down when the cause is fixed.",
        severity="warning",
        duration_seconds=duration,
    )
    return c


def rollback(c: Cutover, cause: dict[str, Any], deps: Services) -> Cutover:
    """100% to the stable slot FIRST, then scale the new slot down, record why, run the hook, notify, release.
    Idempotent (the state machine retries it): each call observes before it acts."""
    router = _router(deps, c)
    started = clock.now_epoch()
    before = c.weight
    try:
        if c.dry_run:
            router.shift(c.stable, c.new, 0, capacity=c.capacity)  # planned, not made: the plan's weight is reported
        else:
            before = router.restore(c.stable, c.new, capacity=c.capacity)
    finally:
        _record_actions(deps, c, "rollback:restore", router)
    restored = clock.now_epoch()
    reflex = cause.get("reflex")
    fast: dict[str, Any] = reflex if isinstance(reflex, dict) else {}
    if fast.get("restored"):  # the alarm-events function restored first: what it saw, and when
        before = int(fast.get("weight_before", before))
        restored = _epoch(fast.get("restored_at")) or restored
    reason, text, at = classify(cause)
    if c.new != c.stable:
        try:
            router.scale_down(c.new)
        finally:
            _record_actions(deps, c, "rollback:scale-down", router)
    since = at if at is not None else started
    ttr = max(0.0, restored - since)
    details = {
        "reason": reason,
        "cause": cause,
        "weight_at_rollback": before,  # observed on the listener, not what the plan says the last step set
        "planned_weight": c.weight,
        "step": c.step_index,
        "time_to_rollback_seconds": round(ttr, 3),
        "restore_seconds": round(max(0.0, restored - started), 3),
        "restored_by": "alarm-events reflex" if fast.get("restored") else "rollback step",
    }
    if fast.get("error"):
        details["reflex_error"] = fast["error"]
    _record(deps, c, "rolled-back", "rolled-back", f"{reason}: {text}", details=details)
    metrics.emit(deps.settings, {"TimeToRollback": ttr, "Rollbacks": 1}, Service=c.service, Reason=reason)
    hook = _service(deps, c.service).rollout.on_rollback_hook
    if hook:
        payload = {"service": c.service, "environment": c.environment, "reason": reason, "detail": text}
        deps.clients("lambda").invoke(FunctionName=hook, InvocationType="Event", Payload=json.dumps(payload).encode())
        _record(
            deps,
            c,
            "rollback:hook",
            "hook-invoked",
            kind="action",
            action=Action(service="lambda", operation="Invoke", parameters={"FunctionName": hook}),
            outcome="done",
        )
    _release(deps, c)
    _notify(
        deps,
        c,
        f"ROLLED BACK ({reason})",
        f"{text}\n100% of traffic is back on {c.stable} ({ttr:.2f} s after the trigger); {c.new} scaled down.",
        severity="critical",
        reason=reason,
        time_to_rollback_seconds=ttr,
    )
    return c


def release(c: Cutover, cause: dict[str, Any] | None, deps: Services) -> Cutover:
    """The exit of paths that cannot restore anything more (early end, a failed rollback): release, record."""
    _release(deps, c)
    if cause:
        reason, text, _ = classify(cause)
        _record(deps, c, "released-after-failure", "failed", f"{reason}: {text}", details={"cause": cause})
        _notify(deps, c, f"FAILED ({reason})", f"{text}\nCheck the listener weights by hand.", severity="critical")
    return c


REASONS = {
    "CanaryAnalysisFailedError": "analysis",
    "CanaryNoDataError": "no-data",
    "AlarmFiringError": "alarm",
    "UnhealthyTargetsError": "unhealthy-targets",
    "ApprovalRejectedError": "approval-rejected",
    "States.Timeout": "approval-timeout",
    "TrafficShiftError": "shift-failed",
    "DeploymentFailedError": "deploy-failed",
    "NotStableYetError": "deploy-failed",
    "PreTrafficCheckFailedError": "pre-traffic-check",
}


def classify(cause: dict[str, Any]) -> tuple[str, str, float | None]:
    """(reason, readable text, epoch of the triggering event if known) from what ended the happy path."""
    if "alarm" in cause:
        return (
            "alarm",
            f"alarm {cause['alarm']} went to {cause.get('state')}: {cause.get('reason', '')}",
            _epoch(cause.get("at")),
        )
    if "rollback" in cause:
        source = str(cause.get("source", "manual"))
        return source, f"{source} rollback requested: {cause['rollback']}", _epoch(cause.get("at"))
    error = str(cause.get("Error", "step-failed"))
    text = str(cause.get("Cause", ""))
    with contextlib.suppress(ValueError, AttributeError):  # a Lambda task's failure carries its error document
        text = json.loads(text).get("errorMessage", text)
    if error == "RollbackRequestedError":
        source = text.split(":", 1)[0] if ":" in text else "manual"
        return source, f"{source} rollback requested: {text.split(':', 1)[-1].strip()}", None
    return REASONS.get(error, "step-failed"), f"{error}: {text}", None


def _epoch(at: Any) -> float | None:
    if not at:
        return None
    from datetime import datetime

    text = str(at).replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # CloudWatch's +0000
        text = text[:-2] + ":" + text[-2:]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
