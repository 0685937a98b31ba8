"""EventBridge rules and SNS subscriptions exactly as template.yaml declares them, matched with moto's own
event-pattern engine (moto's TestEventPattern API is a stub, its matcher is not)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from deckwatch.local.template import Template

MAX_EVENT_BYTES = 256 * 1024
MAX_RESOURCE_CHARS = 2048  # PutEventsRequestEntry.Resources: each at most 2048 characters


class BadInput(Exception):  # noqa: N818 - a user-facing condition, reported in one line with exit code 2
    """The input is not an event the runtime understands (exit 2, one line, no traceback)."""


@dataclass
class Target:
    logical_id: str  # the function, state machine or queue the rule delivers to
    dead_letter: str | None = None
    input: str | None = None  # a constant Input replaces the event (schedules use it)


@dataclass
class Rule:
    logical_id: str
    pattern: dict[str, Any] | None  # None for a schedule
    targets: list[Target] = field(default_factory=list)
    schedule: str | None = None

    def matches(self, event: dict[str, Any]) -> bool:
        from moto.events.models import EventPattern

        if self.pattern is None:
            return False
        return bool(EventPattern.load(json.dumps(self.pattern)).matches_event(event))  # type: ignore[arg-type]


def _logical(ref: Any) -> str | None:
    if isinstance(ref, dict):
        if "Ref" in ref:
            return str(ref["Ref"])
        if "Fn::GetAtt" in ref:
            att = ref["Fn::GetAtt"]
            return str(att[0] if isinstance(att, list) else att.split(".")[0])
    return None


def rules(template: Template, region: str = "us-east-1", account: str = "123456789012") -> list[Rule]:
    """The template's enabled rules; a pattern's Fn::Sub strings (e.g. a state machine's ARN) are resolved with
    the stack's parameters and pseudo parameters, as CloudFormation would."""
    names = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account, **template.parameters}
    out = []
    for logical_id, res in template.resources("AWS::Events::Rule").items():
        props = res["Properties"]
        if props.get("State", "ENABLED") != "ENABLED":
            continue
        targets = [
            Target(str(_logical(t["Arn"])), _logical(t.get("DeadLetterConfig", {}).get("Arn")), t.get("Input"))
            for t in props.get("Targets", [])
        ]
        pattern = _resolve(props.get("EventPattern"), names)
        out.append(Rule(logical_id, pattern, targets, props.get("ScheduleExpression")))
    return out


def _resolve(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for name in re.findall(r"\$\{([^}!]+)\}", text):
                if name not in names:
                    raise ValueError(f"event pattern: cannot resolve ${{{name}}} in {text!r}")
                text = text.replace("${" + name + "}", names[name])
            return text
        return {k: _resolve(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, names) for v in value]
    return value


@dataclass(frozen=True)
class Subscription:
    """A function subscribed to a topic: the stack's own topic (its logical id) or one named by ARN (a topic from
    outside the stack, CostAlertTopicArns). SNS invokes the function only if the function's resource policy (an
    AWS::Lambda::Permission for sns.amazonaws.com from that topic) lets it."""

    logical_id: str
    topic: str  # the topic's logical id, or its ARN
    function: str
    permitted: bool


def sns_subscriptions(template: Template) -> list[Subscription]:
    """Every lambda subscription of the template (whether its Condition holds is the deployment's to say)."""
    resources = template.cfn["Resources"]
    permissions = [
        (_logical(p["Properties"].get("FunctionName")), _topic_of(p["Properties"].get("SourceArn")))
        for p in template.resources("AWS::Lambda::Permission").values()
        if p["Properties"].get("Principal") == "sns.amazonaws.com"
        and p["Properties"].get("Action") == "lambda:InvokeFunction"
    ]
    out = []
    for logical_id, res in resources.items():
        if res["Type"] != "AWS::SNS::Subscription" or res["Properties"].get("Protocol") != "lambda":
            continue
        props = res["Properties"]
        topic, fn = _topic_of(props.get("TopicArn")), _logical(props.get("Endpoint"))
        if topic and fn:
            out.append(Subscription(logical_id, topic, fn, (fn, topic) in permissions))
    return out


def _topic_of(ref: Any) -> str | None:
    """A topic's logical id (Ref) or ARN (a literal)."""
    return ref if isinstance(ref, str) and ref.startswith("arn:") else _logical(ref)


def on_failure_destinations(template: Template) -> dict[str, str]:
    """function logical id -> logical id of its asynchronous on-failure destination (the DLQ)."""
    out = {}
    for res in template.resources("AWS::Lambda::EventInvokeConfig").values():
        props = res["Properties"]
        fn = _logical(props.get("FunctionName"))
        dest = _logical(props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"))
        if fn and dest:
            out[fn] = dest
    return out


def classify(raw: str | bytes) -> tuple[str, dict[str, Any]]:
    """('eventbridge' | 'sns', document) or BadInput naming the problem: what AWS would refuse to deliver at all
    (not JSON, NaN, nested beyond what Deckwatch reads, a resource longer than PutEvents accepts, an SNS delivery
    without its record). What AWS would deliver reaches the handlers, which reject what they cannot read."""
    from deckwatch.intake import MAX_DEPTH, screen

    size = len(raw.encode(errors="replace") if isinstance(raw, str) else raw)
    if size > MAX_EVENT_BYTES:
        raise BadInput(f"event is {size} bytes; EventBridge accepts at most {MAX_EVENT_BYTES}")
    try:
        doc = json.loads(raw, parse_constant=_not_json)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"not valid JSON: {exc}") from None
    except ValueError as exc:  # parse_constant: NaN, Infinity, -Infinity
        raise BadInput(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise BadInput(f"not an event: nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(doc, dict):
        raise BadInput(f"an event is a JSON object, got a JSON {type(doc).__name__}")
    problem = screen(doc).problem
    if problem:
        raise BadInput(f"not an event: {problem}")
    if doc.get("Type") == "Notification" and "TopicArn" in doc:
        if not isinstance(doc["TopicArn"], str) or not isinstance(doc.get("Message"), str):
            raise BadInput("not an SNS message: TopicArn and Message must be strings")
        return "sns", doc
    records = doc.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict) and "EventSource" in records[0]:
        if records[0].get("EventSource") != "aws:sns":
            raise BadInput(f"not an SNS delivery: EventSource is {str(records[0].get('EventSource'))[:64]!r}")
        if len(records) != 1:
            raise BadInput(f"not an SNS delivery: SNS invokes a function with one record, got {len(records)}")
        if not isinstance(records[0].get("Sns"), dict):
            raise BadInput("not an SNS delivery: Records[0] has no Sns object")
        return "sns", doc
    missing = [k for k in ("source", "detail-type") if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        raise BadInput(f"not an EventBridge event: missing {' and '.join(missing)}")
    if not isinstance(doc.get("detail", {}), dict):
        raise BadInput("not an EventBridge event: detail must be a JSON object")
    resources = doc.get("resources", [])
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise BadInput("not an EventBridge event: resources must be a list of strings")
    for i, arn in enumerate(resources):
        if len(arn) > MAX_RESOURCE_CHARS:
            raise BadInput(f"resources[{i}] is {len(arn)} characters; PutEvents accepts at most {MAX_RESOURCE_CHARS}")
    return "eventbridge", doc


def on_topic(doc: dict[str, Any], topic_arn: str) -> dict[str, Any]:
    """An SNS message (a Notification, or a Lambda event of SNS records) as delivered from `topic_arn`."""
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or not parts[5]:
        raise BadInput(f"{topic_arn!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
    out: dict[str, Any] = json.loads(json.dumps(doc))
    if "Records" in out:
        for record in out["Records"]:
            record["Sns"]["TopicArn"] = topic_arn
            subscription = str(record.get("EventSubscriptionArn", ""))
            record["EventSubscriptionArn"] = f"{topic_arn}:{subscription.rsplit(':', 1)[-1] or 'local'}"
    else:
        out["TopicArn"] = topic_arn
        out.pop("UnsubscribeURL", None)  # it names the subscription of the topic the message came from
    return out


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
